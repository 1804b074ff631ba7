/*
 * Idle keep-alive clients are reclaimed at maxconn, through the real binary
 * (workers = 1, so limits are exact): with the limit filled by idle
 * keep-alive clients and one request in progress, a new client is served
 * at once (not after timeout_http_keep_alive), the oldest idle client is
 * the one closed, the request in progress is not cut, and
 * sluice_frontend_idle_reclaimed_total counts it. With a frontend's own
 * maxconn, only that frontend's idle clients are taken. With no idle client
 * the limit holds as before (the new client waits in the backlog).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(idle_reclaim, .init = h_setup, .fini = hu_teardown, .timeout = 60);

static void get_ok(struct hu_cli *c, const char *path)
{
	struct hu_rsp r;
	char req[128];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	cr_assert_eq(hu_cli_send(c, req), 0);
	cr_assert_eq(hu_read_rsp(c, &r, false, hu_io_to()), 0, "GET %s: no response", path);
	cr_assert_eq(r.status, 200);
}

/* The connection is still open and silent (no EOF within ms). */
static void expect_open(struct hu_cli *c, const char *who)
{
	uint64_t extra = 0;

	cr_assert_eq(hu_cli_wait_eof(c, 200, &extra), -ETIMEDOUT, "%s was closed", who);
}

static struct h_proxy *start(const char *global, const char *fe_extra, int fast, int slow,
			     int *port, int *other)
{
	char conf[1536];

	*port = h_free_port();
	*other = h_free_port();
	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nlog = stderr\ngrace = 300ms\n%s\n"
		 "[defaults]\ntimeout_http_keep_alive = 30s\ntimeout_client = 30s\n"
		 "timeout_server = 30s\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = fast\n"
		 "route = path_prefix /slow backend slow\n%s\n"
		 "[frontend other]\nbind = 127.0.0.1:%d\nmode = http\nbackend = fast\n\n"
		 "[backend fast]\nmode = http-server-close\nserver = f 127.0.0.1:%d\n\n"
		 "[backend slow]\nmode = http-server-close\nserver = s 127.0.0.1:%d\n",
		 global, *port, fe_extra, *other, fast, slow);
	return h_proxy_start_text(conf, *port);
}

Test(idle_reclaim, new_client_admitted_by_closing_the_oldest_idle_one)
{
	struct hu_script fs = { .act = HU_ACT_CL, .len = 100 };
	struct hu_script ss = { .act = HU_ACT_CL, .len = 100000, .delay_ms = 1500 };
	struct hu_origin *fast = hu_origin_start(&fs), *slow = hu_origin_start(&ss);
	struct hu_cli idle[3], busy, fresh, late;
	struct hu_rsp r;
	int port, other;
	struct h_proxy *p = start("maxconn = 4", "", hu_origin_port(fast),
				  hu_origin_port(slow), &port, &other);
	uint64_t t0, extra = 0;

	for (int i = 0; i < 3; i++) {
		hu_cli_open(&idle[i], i == 1 ? other : port);
		get_ok(&idle[i], "/");
		h_sleep_ms(20); /* a distinct idle age each */
	}
	hu_cli_open(&busy, port);
	cr_assert_eq(hu_cli_send(&busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_origin_wait_accepted(slow, 1, hu_io_to()), 1);
	/* 4 connections: the process limit; the next one is served at once */
	t0 = h_now_ms();
	hu_cli_open(&fresh, port);
	get_ok(&fresh, "/");
	cr_assert(h_now_ms() - t0 < 1000u * (unsigned)h_slow(),
		  "the new client waited %llu ms", (unsigned long long)(h_now_ms() - t0));
	/* the oldest idle client went, the others stay */
	cr_assert_eq(hu_cli_wait_eof(&idle[0], hu_io_to(), &extra), 0,
		     "the oldest idle client was not closed");
	cr_assert_eq(extra, 0, "the closed idle client received %llu bytes",
		     (unsigned long long)extra);
	expect_open(&idle[1], "the second idle client (another frontend)");
	expect_open(&idle[2], "the third idle client");
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"web\"}"), 1);
	/* the process limit takes the oldest of any frontend: idle[1] next */
	hu_cli_open(&late, port);
	get_ok(&late, "/");
	cr_assert_eq(hu_cli_wait_eof(&idle[1], hu_io_to(), &extra), 0);
	expect_open(&idle[2], "the third idle client");
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"other\"}"), 1);
	/* the request in progress all along is whole */
	cr_assert_eq(hu_read_rsp(&busy, &r, false, hu_io_to() + 3000), 0);
	cr_assert(r.status == 200 && r.complete && r.body_len == 100000,
		  "the request in progress was cut: status %d, %llu body bytes", r.status,
		  (unsigned long long)r.body_len);
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"web\"}"), 1);
	for (int i = 0; i < 3; i++)
		hu_cli_close(&idle[i]);
	hu_cli_close(&busy);
	hu_cli_close(&fresh);
	hu_cli_close(&late);
	h_proxy_finish(p);
}

Test(idle_reclaim, frontend_limit_takes_only_its_own_idle_clients)
{
	struct hu_script fs = { .act = HU_ACT_CL, .len = 10 };
	struct hu_origin *fast = hu_origin_start(&fs), *slow = hu_origin_start(&fs);
	struct hu_cli o, w[2], n;
	int port, other;
	struct h_proxy *p = start("", "maxconn = 2\n", hu_origin_port(fast), hu_origin_port(slow),
				  &port, &other);
	uint64_t extra = 0;

	hu_cli_open(&o, other); /* oldest idle, but of another frontend */
	get_ok(&o, "/");
	h_sleep_ms(20);
	for (int i = 0; i < 2; i++) {
		hu_cli_open(&w[i], port);
		get_ok(&w[i], "/");
		h_sleep_ms(20);
	}
	hu_cli_open(&n, port);
	get_ok(&n, "/");
	cr_assert_eq(hu_cli_wait_eof(&w[0], hu_io_to(), &extra), 0,
		     "web's oldest idle client was not closed");
	expect_open(&o, "the other frontend's idle client");
	expect_open(&w[1], "web's newer idle client");
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"web\"}"), 1);
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"other\"}"), 0);
	hu_cli_close(&o);
	hu_cli_close(&n);
	for (int i = 0; i < 2; i++)
		hu_cli_close(&w[i]);
	h_proxy_finish(p);
}

Test(idle_reclaim, no_idle_client_means_the_limit_holds)
{
	struct hu_script fs = { .act = HU_ACT_CL, .len = 10 };
	struct hu_script ss = { .act = HU_ACT_CL, .len = 10, .delay_ms = 1200 };
	struct hu_origin *fast = hu_origin_start(&fs), *slow = hu_origin_start(&ss);
	struct hu_cli b[2], n;
	struct hu_rsp r;
	int port, other;
	struct h_proxy *p = start("", "maxconn = 2\n", hu_origin_port(fast), hu_origin_port(slow),
				  &port, &other);
	uint64_t t0;

	for (int i = 0; i < 2; i++) {
		hu_cli_open(&b[i], port);
		cr_assert_eq(hu_cli_send(&b[i], "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	}
	cr_assert_eq(hu_origin_wait_accepted(slow, 2, hu_io_to()), 2);
	/* both requests in progress: the new client waits for a free slot */
	t0 = h_now_ms();
	hu_cli_open(&n, port);
	cr_assert_eq(hu_cli_send(&n, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	h_sleep_ms(300);
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_idle_reclaimed_total{frontend=\"web\"}"), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(hu_read_rsp(&b[i], &r, false, hu_io_to() + 3000), 0);
		cr_assert(r.status == 200 && r.complete, "a request in progress was cut");
	}
	cr_assert_eq(hu_read_rsp(&n, &r, false, hu_io_to() + 3000), 0);
	cr_assert_eq(r.status, 200);
	/* once a response is delivered its client is idle, and may be the one
	 * closed to admit n: never before */
	cr_assert(h_now_ms() - t0 >= 800, "served before a request finished (%llu ms)",
		  (unsigned long long)(h_now_ms() - t0));
	for (int i = 0; i < 2; i++)
		hu_cli_close(&b[i]);
	hu_cli_close(&n);
	h_proxy_finish(p);
}
