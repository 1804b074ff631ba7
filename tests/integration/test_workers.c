/*
 * Connections spread over the workers (issue 16, item 5). Each worker has
 * its own SO_REUSEPORT listener per bind and the kernel hashes every new
 * connection to one of them; the per-worker series in /metrics
 * (sluice_worker_accepts_total) are how an operator checks the spread.
 * With 2 workers and 200 connections from distinct source ports, each
 * worker must take a fair share (at least a quarter: a fair coin falls
 * below that with a probability of about 1e-12), and the series must sum
 * to the connections made.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NCONN 200

TestSuite(workers, .init = h_setup, .fini = h_teardown, .timeout = 120);

static double metric(const char *body, const char *series)
{
	double v = -1;

	cr_assert(h_metric(body, series, &v), "no %s in /metrics", series);
	return v;
}

Test(workers, connections_spread_evenly_over_two_workers)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int port = h_free_port();
	double acc[2], ses[2];
	char conf[512], *body = NULL, series[128];
	size_t len = 0;
	struct h_proxy *p;

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 2\nlog = stderr\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\n\n"
		 "[backend echo]\nmode = tcp\nserver = e 127.0.0.1:%d\n",
		 port, h_origin_port(echo));
	p = h_proxy_start_text(conf, port);
	for (int i = 0; i < NCONN; i++) {
		char msg[16], back[16];
		int fd = h_connect(port, 5000);

		cr_assert(fd >= 0, "connection %d", i);
		snprintf(msg, sizeof(msg), "hello %08d", i);
		cr_assert_eq(h_send_all(fd, msg, sizeof(msg), -1, 2000), 0);
		cr_assert_eq(h_recv_exact(fd, back, sizeof(back), 5000 * h_slow()), 0,
			     "connection %d: no echo", i);
		cr_assert_arr_eq(back, msg, sizeof(msg));
		close(fd);
	}
	cr_assert_eq(h_http_get(p->stats_port, "/metrics", &body, &len, 5000), 200);
	for (int w = 0; w < 2; w++) {
		snprintf(series, sizeof(series),
			 "sluice_worker_accepts_total{worker=\"%d\",frontend=\"web\"}", w);
		acc[w] = metric(body, series);
		snprintf(series, sizeof(series),
			 "sluice_worker_sessions_total{worker=\"%d\",frontend=\"web\"}", w);
		ses[w] = metric(body, series);
	}
	free(body);
	cr_log_info("accepts per worker: %g / %g", acc[0], acc[1]);
	cr_assert_eq(acc[0] + acc[1], NCONN, "accepts %g + %g", acc[0], acc[1]);
	cr_assert_eq(ses[0] + ses[1], NCONN, "sessions %g + %g", ses[0], ses[1]);
	for (int w = 0; w < 2; w++)
		cr_assert_geq(acc[w], NCONN / 4, "worker %d took %g of %d connections: SO_REUSEPORT "
			      "did not spread them", w, acc[w], NCONN);
	h_proxy_finish(p);
}
