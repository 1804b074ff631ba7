/*
 * tcp mode: FIN propagation and the half-closed state. A FIN from one side
 * is propagated at once after the queued data, the other direction keeps
 * flowing, the still-open side is bounded by timeout_client_fin /
 * timeout_server_fin as an inactivity timeout, and when both sides have
 * sent FIN both are closed at once.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_fin, .init = h_setup, .fini = h_teardown, .timeout = 60);

#define MIB (1024ULL * 1024)
#define FIN_MS 300 /* the harness default for both FIN timeouts */

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static struct h_proxy *proxy_for(struct h_origin *o, const char *fin_to)
{
	struct h_tcp_conf c = { .nservers = 1 };

	c.server_port[0] = h_origin_port(o);
	c.timeout_client_fin = fin_to;
	c.timeout_server_fin = fin_to;
	return h_proxy_start_tcp(&c);
}

static int connect_ok(const struct h_proxy *p)
{
	int fd = h_connect(p->port, io_to());

	cr_assert(fd >= 0, "connect to sluice: %s", strerror(-fd));
	return fd;
}

/* Bounds on a FIN-timeout close, measured from the last activity. */
static void expect_fin_close_delay(uint64_t ms, const char *what)
{
	uint64_t lo = FIN_MS / 5, hi = (uint64_t)FIN_MS * 5 * h_slow();

	cr_assert(ms >= lo && ms <= hi,
		  "%s: closed %llu ms after the last activity, expected "
		  "%llu..%llu ms (timeout %d ms)",
		  what, (unsigned long long)ms, (unsigned long long)lo,
		  (unsigned long long)hi, FIN_MS);
}

Test(tcp_fin, client_fin_then_server_streams_8mib)
{
	struct h_origin_opts oo = { .handler = h_handle_after_eof,
				    .len = 8 * MIB, .seed = 5 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p), rc;

	rc = h_send_pattern(fd, 1000, 4, 0, 0, -1, io_to(), NULL);
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of EOF after %llu bytes",
		     strerror(-rx.end), (unsigned long long)rx.bytes);
	cr_assert_eq(rx.bytes, 8 * MIB, "client got %llu bytes of 8 MiB",
		     (unsigned long long)rx.bytes);
	cr_assert_eq(rx.hash, h_pattern_hash(8 * MIB, 5));
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "server saw %s, not the client's FIN",
		     strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 1000);
	cr_assert_eq(r.rx.hash, h_pattern_hash(1000, 4));
	cr_assert_eq(r.tx_err, 0, "server streaming after EOF: %s",
		     strerror(-r.tx_err));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, server_fin_then_client_streams_8mib)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = 1000,
				    .seed = 6 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p), rc;

	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of the server's FIN",
		     strerror(-rx.end));
	cr_assert_eq(rx.bytes, 1000);
	cr_assert_eq(rx.hash, h_pattern_hash(1000, 6));
	rc = h_send_pattern(fd, 8 * MIB, 7, 0, 0, -1, io_to(), NULL);
	cr_assert_eq(rc, 0, "client streaming after the server's FIN: %s",
		     strerror(-rc));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "server saw %s instead of EOF",
		     strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 8 * MIB, "server got %llu bytes of 8 MiB",
		     (unsigned long long)r.rx.bytes);
	cr_assert_eq(r.rx.hash, h_pattern_hash(8 * MIB, 7));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, client_fin_is_propagated_at_once)
{
	struct h_origin_opts oo = { .handler = h_handle_after_eof, .len = 4,
				    .seed = 8, .hold = true };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, "10s");
	struct h_conn_rec r;
	struct h_rx rx;
	uint64_t t0;
	int fd = connect_ok(p);

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	cr_assert_eq(h_send_all(fd, "hello", 5, -1, io_to()), 0);
	t0 = h_now_ms();
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert(h_origin_wait_rx_end(o, 0, 5000 * h_slow()),
		  "server never saw the client's FIN");
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "server saw %s", strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 5);
	cr_assert(r.rx.t_end - t0 <= 250u * (unsigned)h_slow(),
		  "FIN reached the server after %llu ms",
		  (unsigned long long)(r.rx.t_end - t0));
	/* the other direction still works */
	h_rx_init(&rx);
	h_recv_all(fd, &rx, 4, -1, io_to());
	cr_assert_eq(rx.bytes, 4, "server->client after the client's FIN: %s",
		     strerror(-rx.end));
	cr_assert_eq(rx.hash, h_pattern_hash(4, 8));
	/* both FIN timeouts are 10 s: end the session by closing both ends */
	h_origin_stop(o);
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, server_fin_is_propagated_at_once)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = 5,
				    .seed = 9 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, "10s");
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p), rc;

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, 5000 * h_slow());
	cr_assert_eq(rx.end, 0, "client saw %s instead of the server's FIN",
		     strerror(-rx.end));
	cr_assert_eq(rx.bytes, 5);
	r = h_origin_rec(o, 0);
	cr_assert(rx.t_end - r.t_accept <= 250u * (unsigned)h_slow(),
		  "server FIN reached the client %llu ms after accept",
		  (unsigned long long)(rx.t_end - r.t_accept));
	/* the other direction still works */
	rc = h_send_all(fd, "after", 5, -1, io_to());
	cr_assert_eq(rc, 0, "client->server after the server's FIN: %s",
		     strerror(-rc));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0);
	cr_assert_eq(r.rx.bytes, 5, "server got %llu bytes after its FIN",
		     (unsigned long long)r.rx.bytes);
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, client_half_close_closed_after_timeout_client_fin)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	uint64_t t0, t1;
	int fd = connect_ok(p), rc;

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	cr_assert_eq(h_send_all(fd, "hello", 5, -1, io_to()), 0);
	t0 = h_now_ms();
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	rc = h_wait_closed(fd, 5000 * h_slow(), NULL);
	t1 = h_now_ms();
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "client not closed after its FIN: %s", strerror(-rc));
	expect_fin_close_delay(t1 - t0, "client half-close");
	cr_assert(h_origin_wait_rx_end(o, 0, io_to()));
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "server saw %s, not a FIN",
		     strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 5);
	cr_assert(h_probe_closed(r.fd, 1000 * h_slow()),
		  "the server connection is still open in sluice");
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, server_half_close_closed_after_timeout_server_fin)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = 5,
				    .seed = 10 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p);

	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of the server's FIN",
		     strerror(-rx.end));
	cr_assert_eq(rx.bytes, 5);
	/* client stays open and silent: sluice must close the server side */
	cr_assert_eq(h_origin_wait_done(o, 1, 5000 * h_slow()), 1,
		     "server connection not closed after its FIN");
	r = h_origin_rec(o, 0);
	cr_assert(r.rx.end == 0 || r.rx.end == -ECONNRESET,
		  "server saw %s", strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 0);
	expect_fin_close_delay(r.rx.t_end - rx.t_end, "server half-close");
	cr_assert(h_probe_closed(fd, 1000 * h_slow()),
		  "the client connection is still open in sluice");
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, client_fin_timeout_spares_a_slow_server_stream)
{
	/* 16 x 4 KiB, 100 ms apart: 1.5 s of data, 5x timeout_client_fin */
	struct h_origin_opts oo = { .handler = h_handle_after_eof,
				    .len = 16 * 4096, .chunk = 4096,
				    .pause_ms = 100, .seed = 12, .hold = true };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p);

	cr_assert_eq(h_send_all(fd, "req", 3, -1, io_to()), 0);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert(rx.end == 0 || rx.end == -ECONNRESET,
		  "client saw %s", strerror(-rx.end));
	cr_assert_eq(rx.bytes, 16 * 4096,
		     "the half-closed session was cut after %llu of %d bytes "
		     "although data kept flowing",
		     (unsigned long long)rx.bytes, 16 * 4096);
	cr_assert_eq(rx.hash, h_pattern_hash(16 * 4096, 12));
	/* then the server went silent: closed by the FIN timeout */
	cr_assert(h_origin_wait_rx_end(o, 0, io_to()));
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.tx_bytes, 16 * 4096);
	expect_fin_close_delay(rx.t_end - r.t_tx_end, "client half-close");
	cr_assert(h_probe_closed(r.fd, 1000 * h_slow()),
		  "the server connection is still open in sluice");
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_fin, server_fin_timeout_spares_a_slow_client_stream)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = 3,
				    .seed = 13 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, NULL);
	struct h_conn_rec r;
	struct h_rx rx;
	uint64_t sent = 0, t_last;
	int fd = connect_ok(p), rc;

	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of the server's FIN",
		     strerror(-rx.end));
	cr_assert_eq(rx.bytes, 3);
	/* 16 x 4 KiB, 100 ms apart; the client never sends FIN */
	rc = h_send_pattern(fd, 16 * 4096, 14, 4096, 100, -1, io_to(), &sent);
	t_last = h_now_ms();
	cr_assert_eq(rc, 0, "client stream after the server's FIN: %s after "
		     "%llu bytes", strerror(-rc), (unsigned long long)sent);
	cr_assert_eq(h_origin_wait_done(o, 1, 5000 * h_slow()), 1,
		     "server connection not closed after the client went "
		     "silent");
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.bytes, 16 * 4096,
		     "the half-closed session was cut after %llu of %d bytes "
		     "although data kept flowing",
		     (unsigned long long)r.rx.bytes, 16 * 4096);
	cr_assert_eq(r.rx.hash, h_pattern_hash(16 * 4096, 14));
	cr_assert(r.rx.end == 0 || r.rx.end == -ECONNRESET,
		  "server saw %s", strerror(-r.rx.end));
	expect_fin_close_delay(r.rx.t_end - t_last, "server half-close");
	cr_assert(h_probe_closed(fd, 1000 * h_slow()),
		  "the client connection is still open in sluice");
	close(fd);
	h_proxy_finish(p);
}

/* Sends FIN first, then holds the socket open without closing it. */
static void fin_and_hold(struct h_conn *c)
{
	struct pollfd pfd = { c->stopfd, POLLIN, 0 };

	shutdown(c->fd, SHUT_WR);
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, -1);
	h_conn_publish(c);
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

Test(tcp_fin, both_fins_close_both_sides_at_once)
{
	struct h_origin_opts oo = { .handler = fin_and_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o, "10s");
	struct h_conn_rec r;
	struct h_rx rx;
	uint64_t t0, deadline;
	int fd = connect_ok(p), n;

	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of the server's FIN",
		     strerror(-rx.end));
	t0 = h_now_ms();
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert(h_origin_wait_rx_end(o, 0, io_to()));
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "server saw %s", strerror(-r.rx.end));
	/* neither test socket is closed: only sluice can release its fds,
	 * and it must not wait for the 10 s FIN timeouts */
	deadline = t0 + 1000u * (unsigned)h_slow();
	while ((n = h_proxy_fd_count(p)) != p->fd_baseline &&
	       h_now_ms() < deadline)
		h_sleep_ms(10);
	cr_assert_eq(n, p->fd_baseline,
		     "both sides sent FIN %llu ms ago and sluice still has %d "
		     "fds (baseline %d)",
		     (unsigned long long)(h_now_ms() - t0), n, p->fd_baseline);
	cr_assert(h_probe_closed(fd, 1000 * h_slow()),
		  "client connection still open in sluice");
	cr_assert(h_probe_closed(r.fd, 1000 * h_slow()),
		  "server connection still open in sluice");
	close(fd);
	h_proxy_finish(p);
}
