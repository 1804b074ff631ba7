/*
 * Incrementally consumed receive buffers (recv_buffers = incremental,
 * ring/slice.c) through the real binary: one large provided buffer serves
 * many receives of many connections, each a slice with its own owner, and
 * the buffer goes back only when every slice is released. Large bodies
 * both ways (uploads and echoed downloads at once), many at a time, with
 * slow readers among them so that buffers stay partly consumed while
 * others fill the rest; every byte arrives in order, nothing is lost, the
 * fds and the memory come back. On a kernel without incremental buffers
 * (before 6.12, or without the multishot caps of 6.17) the pool falls back
 * to fixed buffers: the same checks then cover the fallback.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "ops_util.h"

#define NCLIENTS 24
#define NSLOW    6
#define XFER     (6ull << 20)

TestSuite(recv_inc, .init = h_setup, .fini = h_teardown, .timeout = 240);

struct client {
	pthread_t thr;
	int port;
	uint32_t seed;
	bool slow;
	struct h_rx rx;
	int send_rc;
};

/* A slow reader: a 64 KiB receive window (smaller ones make loopback TCP
 * wait for delayed ACKs), 8 KiB every 2 ms at most (under 4 MB/s), so
 * its side of the proxy keeps slices in flight for seconds. */
static void recv_slow(int fd, struct h_rx *rx)
{
	char buf[8192];
	uint64_t idle_since = h_now_ms();

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0) {
			rx->hash = h_fnv1a(rx->hash, buf, (size_t)n);
			rx->bytes += (uint64_t)n;
			idle_since = h_now_ms();
			h_sleep_ms(2);
			continue;
		}
		if (n == 0) {
			rx->end = 0;
			return;
		}
		if (h_now_ms() - idle_since > (uint64_t)H_IO_TIMEOUT_MS * h_slow()) {
			rx->end = -ETIMEDOUT;
			return;
		}
		h_sleep_ms(1);
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct h_sender s;
	int fd = h_connect(c->port, 5000), rcv = 65536;

	h_rx_init(&c->rx);
	if (fd < 0) {
		c->rx.end = fd;
		return NULL;
	}
	if (c->slow)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* the upload, in odd sizes (31 KiB chunks), while the echo comes back */
	h_sender_start_paced(&s, fd, XFER, c->seed, 31 * 1024, 0, true);
	if (c->slow)
		recv_slow(fd, &c->rx);
	else
		h_recv_all(fd, &c->rx, UINT64_MAX, -1, H_IO_TIMEOUT_MS * h_slow());
	c->send_rc = h_sender_join(&s);
	close(fd);
	return NULL;
}

static void transfers(int port, uint32_t seed0)
{
	struct client cl[NCLIENTS];

	for (int i = 0; i < NCLIENTS; i++) {
		cl[i].port = port;
		cl[i].seed = seed0 + (uint32_t)i;
		cl[i].slow = i < NSLOW;
		cr_assert_eq(pthread_create(&cl[i].thr, NULL, client_main, &cl[i]), 0);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		pthread_join(cl[i].thr, NULL);
		cr_assert_eq(cl[i].send_rc, 0, "client %d: upload %d", i, cl[i].send_rc);
		cr_assert_eq(cl[i].rx.end, 0, "client %d (%s): %d after %lu bytes", i,
			     cl[i].slow ? "slow" : "fast", cl[i].rx.end,
			     (unsigned long)cl[i].rx.bytes);
		cr_assert_eq(cl[i].rx.bytes, XFER, "client %d (%s): %lu bytes", i,
			     cl[i].slow ? "slow" : "fast", (unsigned long)cl[i].rx.bytes);
		cr_assert_eq(cl[i].rx.hash, h_pattern_hash(XFER, cl[i].seed),
			     "client %d: the echoed bytes differ (order or content)", i);
	}
}

Test(recv_inc, large_bodies_both_ways_with_slow_readers_share_buffers_and_give_them_back)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int port = h_free_port();
	uint64_t start, after = 0;
	double bytes, res = -1;
	char conf[1024];
	struct h_proxy *p;

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nlog = stderr\nbuffer_release = 200ms\n"
		 "recv_buffers = incremental\n\n"
		 "[defaults]\ntimeout_client = 60s\ntimeout_server = 60s\ntimeout_client_fin = 60s\n\n"
		 "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\n\n"
		 "[backend echo]\nmode = tcp\nserver = e 127.0.0.1:%d\n",
		 port, h_origin_port(echo));
	p = h_proxy_start_text(conf, port);
	bytes = h_proxy_metric(p, "sluice_worker_recv_buffer_bytes{worker=\"0\"}");
	cr_log_info("receive buffers of %g bytes%s", bytes,
		    bytes == 16384 ? " (this kernel: fixed ones, the fallback)" : "");
	cr_assert(bytes == 131072 || bytes == 16384, "%g", bytes);
	h_sleep_ms(300);
	start = (uint64_t)ou_pid_rss_kib(p->pid);
	for (int round = 0; round < 2; round++)
		transfers(port, 100 + 50 * (uint32_t)round);
	cr_assert_eq(h_proxy_metric(p, "sluice_worker_recv_slices_lost_total{worker=\"0\"}"), 0);
	/* every buffer came back: the pool settles to its working set and
	 * the memory goes back to the kernel */
	for (uint64_t t0 = h_now_ms(); h_now_ms() - t0 < 15000u * (unsigned)h_slow();) {
		res = h_proxy_metric(p, "sluice_worker_buffers_resident{worker=\"0\"}");
		after = (uint64_t)ou_pid_rss_kib(p->pid);
		if (res <= 128 && after <= start + 12 * 1024)
			break;
		h_sleep_ms(200);
	}
	cr_log_info("VmRSS %lu KiB at start, %lu after; %g units resident",
		    (unsigned long)start, (unsigned long)after, res);
	cr_assert_leq(res, 128, "%g units of buffers stay resident", res);
	cr_assert_leq(after, start + 12 * 1024, "VmRSS %lu KiB after, %lu at start",
		      (unsigned long)after, (unsigned long)start);
	h_proxy_finish(p);
}
