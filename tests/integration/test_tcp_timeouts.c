/*
 * tcp mode: inactivity timeouts (timeout_client, timeout_server) close an
 * idle session on time and never a session whose data keeps flowing;
 * timeout_connect against a server that never accepts fails over to the
 * next server, or closes the client when there is none.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_timeouts, .init = h_setup, .fini = h_teardown, .timeout = 60);

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static int connect_ok(const struct h_proxy *p)
{
	int fd = h_connect(p->port, io_to());

	cr_assert(fd >= 0, "connect to sluice: %s", strerror(-fd));
	return fd;
}

/* An idle session through a silent server closes after ~timeout_ms. */
static void idle_closes(const char *client_to, const char *server_to,
			unsigned timeout_ms)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;
	struct h_conn_rec r;
	uint64_t t0, ms, lo = timeout_ms * 8 / 10;
	uint64_t hi = timeout_ms + 2000u * (unsigned)h_slow();
	int fd, rc;

	c.server_port[0] = h_origin_port(o);
	c.timeout_client = client_to;
	c.timeout_server = server_to;
	p = h_proxy_start_tcp(&c);
	fd = connect_ok(p);
	t0 = h_now_ms();
	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1,
		     "sluice never connected to the server");
	rc = h_wait_closed(fd, (int)hi + 3000, NULL);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "idle client not closed: %s", strerror(-rc));
	cr_assert(ms >= lo && ms <= hi,
		  "idle session closed after %llu ms, expected %llu..%llu",
		  (unsigned long long)ms, (unsigned long long)lo,
		  (unsigned long long)hi);
	cr_assert(h_origin_wait_rx_end(o, 0, 2000 * h_slow()),
		  "server side of the idle session not closed");
	r = h_origin_rec(o, 0);
	cr_assert(r.rx.end == 0 || r.rx.end == -ECONNRESET,
		  "server saw %s", strerror(-r.rx.end));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_timeouts, idle_session_closed_after_timeout_client)
{
	idle_closes("500ms", "10s", 500);
}

Test(tcp_timeouts, idle_session_closed_after_timeout_server)
{
	idle_closes("10s", "500ms", 500);
}

Test(tcp_timeouts, echoing_session_outlives_idle_timeouts_then_closes)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;
	uint64_t t_last, ms, hi = 500 + 2000u * (unsigned)h_slow();
	char b, back;
	int fd, i, rc;

	c.server_port[0] = h_origin_port(o);
	c.timeout_client = "500ms";
	c.timeout_server = "500ms";
	p = h_proxy_start_tcp(&c);
	fd = connect_ok(p);
	/* 2 s of one byte every 100 ms: 4x the timeouts */
	for (i = 0; i < 20; i++) {
		b = (char)('a' + i % 26);
		rc = h_send_all(fd, &b, 1, -1, io_to());
		cr_assert_eq(rc, 0, "byte %d: send: %s", i, strerror(-rc));
		rc = h_recv_exact(fd, &back, 1, 2000 * h_slow());
		cr_assert_eq(rc, 0, "active session cut at byte %d (%d ms): %s",
			     i, i * 100, strerror(-rc));
		cr_assert_eq(back, b);
		h_sleep_ms(100);
	}
	t_last = h_now_ms();
	rc = h_wait_closed(fd, (int)hi + 3000, NULL);
	ms = h_now_ms() - t_last;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "session not closed once idle: %s", strerror(-rc));
	cr_assert(ms >= 300 && ms <= hi,
		  "closed %llu ms after the last activity, expected "
		  "400..%llu (minus the 100 ms already idle)",
		  (unsigned long long)ms, (unsigned long long)hi);
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_timeouts, one_way_download_outlives_idle_timeouts)
{
	/* 20 x 2 KiB, 100 ms apart: 2 s, the client never sends */
	struct h_origin_opts oo = { .handler = h_handle_source,
				    .len = 20 * 2048, .chunk = 2048,
				    .pause_ms = 100, .seed = 21 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;
	struct h_rx rx;
	int fd;

	c.server_port[0] = h_origin_port(o);
	c.timeout_client = "700ms";
	c.timeout_server = "700ms";
	p = h_proxy_start_tcp(&c);
	fd = connect_ok(p);
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s", strerror(-rx.end));
	cr_assert_eq(rx.bytes, 20 * 2048,
		     "download cut after %llu of %d bytes by an idle timeout "
		     "although data kept flowing",
		     (unsigned long long)rx.bytes, 20 * 2048);
	cr_assert_eq(rx.hash, h_pattern_hash(20 * 2048, 21));
	close(fd);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	h_proxy_finish(p);
}

Test(tcp_timeouts, one_way_upload_outlives_idle_timeouts)
{
	struct h_origin_opts oo = { .handler = h_handle_sink };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;
	struct h_conn_rec r;
	uint64_t sent = 0;
	int fd, rc;

	c.server_port[0] = h_origin_port(o);
	c.timeout_client = "700ms";
	c.timeout_server = "700ms";
	p = h_proxy_start_tcp(&c);
	fd = connect_ok(p);
	rc = h_send_pattern(fd, 20 * 2048, 23, 2048, 100, -1, io_to(), &sent);
	cr_assert_eq(rc, 0, "upload failed after %llu bytes: %s",
		     (unsigned long long)sent, strerror(-rc));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	rc = h_wait_closed(fd, io_to(), NULL);
	cr_assert_eq(rc, 0, "expected EOF after the sink closed: %s",
		     strerror(-rc));
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.bytes, 20 * 2048,
		     "upload cut after %llu of %d bytes by an idle timeout "
		     "although data kept flowing",
		     (unsigned long long)r.rx.bytes, 20 * 2048);
	cr_assert_eq(r.rx.hash, h_pattern_hash(20 * 2048, 23));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_timeouts, connect_timeout_fails_over_to_next_server)
{
	struct h_blackhole bh;
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o;
	struct h_tcp_conf c = { .nservers = 2 };
	struct h_proxy *p;
	uint64_t slowest = 0;
	int i;

	h_blackhole_start(&bh);
	o = h_origin_start(&oo);
	c.server_port[0] = bh.port;
	c.server_port[1] = h_origin_port(o);
	c.timeout_connect = "500ms";
	p = h_proxy_start_tcp(&c);
	for (i = 0; i < 4; i++) {
		char msg[32], back[32];
		uint64_t t0 = h_now_ms(), ms;
		int fd = connect_ok(p), rc;

		snprintf(msg, sizeof(msg), "ping %02d", i);
		rc = h_send_all(fd, msg, 7, -1, io_to());
		cr_assert_eq(rc, 0, "connection %d: send: %s", i,
			     strerror(-rc));
		rc = h_recv_exact(fd, back, 7, 5000 * h_slow());
		cr_assert_eq(rc, 0, "connection %d not served: %s", i,
			     strerror(-rc));
		cr_assert(memcmp(msg, back, 7) == 0);
		ms = h_now_ms() - t0;
		if (ms > slowest)
			slowest = ms;
		close(fd);
	}
	cr_assert(slowest >= 400,
		  "no connection waited for timeout_connect (slowest %llu ms): "
		  "was the black hole ever tried?",
		  (unsigned long long)slowest);
	cr_assert_eq(h_origin_accepted(o), 4);
	h_proxy_finish(p);
}

Test(tcp_timeouts, connect_timeout_on_only_server_closes_client)
{
	struct h_blackhole bh;
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;
	uint64_t t0, ms, lo = 800, hi = 1000 + 2000u * (unsigned)h_slow();
	int fd, rc;

	h_blackhole_start(&bh);
	c.server_port[0] = bh.port;
	c.timeout_connect = "500ms";
	p = h_proxy_start_tcp(&c);
	fd = connect_ok(p);
	t0 = h_now_ms();
	cr_assert_eq(h_send_all(fd, "x", 1, -1, io_to()), 0);
	rc = h_wait_closed(fd, (int)hi + 3000, NULL);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "client not closed after the connect timed out: %s",
		  strerror(-rc));
	cr_assert(ms >= lo && ms <= hi,
		  "client closed after %llu ms, expected %llu..%llu "
		  "(2 x timeout_connect 500ms: one retry)",
		  (unsigned long long)ms, (unsigned long long)lo,
		  (unsigned long long)hi);
	close(fd);
	h_proxy_finish(p);
}
