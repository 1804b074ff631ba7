/*
 * tcp mode: payloads of every awkward size are forwarded intact, checked by
 * length and FNV-1a hash, client->server (sink), server->client (source) and
 * both at once (echo with a concurrent writer); plus many small round trips
 * and many sequential sessions without leaking fds.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_data, .init = h_setup, .fini = h_teardown, .timeout = 60);

#define MIB (1024ULL * 1024)

static struct h_proxy *proxy_for(struct h_origin *o)
{
	struct h_tcp_conf c = { .nservers = 1 };

	c.server_port[0] = h_origin_port(o);
	return h_proxy_start_tcp(&c);
}

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static void client_to_server(uint64_t len)
{
	struct h_origin_opts oo = { .handler = h_handle_sink };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o);
	struct h_conn_rec r;
	uint64_t sent = 0, back = 0;
	int fd, rc;

	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	rc = h_send_pattern(fd, len, 11, 0, 0, -1, io_to(), &sent);
	cr_assert_eq(rc, 0, "sending %llu bytes: %s after %llu",
		     (unsigned long long)len, strerror(-rc),
		     (unsigned long long)sent);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	rc = h_wait_closed(fd, io_to(), &back);
	cr_assert_eq(rc, 0, "client expected EOF once the sink closed: %s",
		     strerror(-rc));
	cr_assert_eq(back, 0, "client received %llu unexpected bytes",
		     (unsigned long long)back);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.end, 0, "sink saw %s instead of EOF",
		     strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, len, "sink got %llu bytes of %llu",
		     (unsigned long long)r.rx.bytes, (unsigned long long)len);
	cr_assert_eq(r.rx.hash, h_pattern_hash(len, 11), "sink hash differs");
	close(fd);
	h_proxy_finish(p);
}

static void server_to_client(uint64_t len)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = len,
				    .seed = 22 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd;

	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "client saw %s instead of EOF after %llu bytes",
		     strerror(-rx.end), (unsigned long long)rx.bytes);
	cr_assert_eq(rx.bytes, len, "client got %llu bytes of %llu",
		     (unsigned long long)rx.bytes, (unsigned long long)len);
	cr_assert_eq(rx.hash, h_pattern_hash(len, 22), "client hash differs");
	close(fd);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1,
		     "source never saw the client's close");
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.tx_err, 0, "source send: %s", strerror(-r.tx_err));
	cr_assert_eq(r.rx.end, 0, "source saw %s instead of EOF",
		     strerror(-r.rx.end));
	cr_assert_eq(r.rx.bytes, 0);
	h_proxy_finish(p);
}

static void both_ways(uint64_t len)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o);
	struct h_sender s;
	struct h_conn_rec r;
	struct h_rx rx;
	uint64_t want = h_pattern_hash(len, 33);
	int fd, rc;

	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	h_rx_init(&rx);
	h_sender_start(&s, fd, len, 33, true);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	rc = h_sender_join(&s);
	cr_assert_eq(rc, 0, "client send: %s after %llu bytes", strerror(-rc),
		     (unsigned long long)s.sent);
	cr_assert_eq(rx.end, 0, "client saw %s instead of EOF after %llu bytes",
		     strerror(-rx.end), (unsigned long long)rx.bytes);
	cr_assert_eq(rx.bytes, len, "client got %llu bytes back of %llu",
		     (unsigned long long)rx.bytes, (unsigned long long)len);
	cr_assert_eq(rx.hash, want, "echoed data differs");
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert_eq(r.rx.bytes, len);
	cr_assert_eq(r.rx.hash, want, "data reaching the server differs");
	close(fd);
	h_proxy_finish(p);
}

#define DATA_TESTS(name, len)                                               \
	Test(tcp_data, client_to_server_##name##_by_hash)                   \
	{                                                                   \
		client_to_server(len);                                      \
	}                                                                   \
	Test(tcp_data, server_to_client_##name##_by_hash)                   \
	{                                                                   \
		server_to_client(len);                                      \
	}                                                                   \
	Test(tcp_data, both_ways_##name##_by_hash)                          \
	{                                                                   \
		both_ways(len);                                             \
	}

DATA_TESTS(0_bytes, 0)
DATA_TESTS(1_byte, 1)
DATA_TESTS(65535_bytes, 65535)
DATA_TESTS(65536_bytes, 65536)
DATA_TESTS(65537_bytes, 65537)
DATA_TESTS(100mib, 100 * MIB)

Test(tcp_data, ping_pong_500_small_round_trips)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o);
	char out[64], in[64];
	int fd, i, rc;

	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	for (i = 0; i < 500; i++) {
		size_t n = 1 + (size_t)(i % 40);

		h_pattern(out, n, (uint64_t)i * 64, 44);
		rc = h_send_all(fd, out, n, -1, io_to());
		cr_assert_eq(rc, 0, "round trip %d: send: %s", i,
			     strerror(-rc));
		rc = h_recv_exact(fd, in, n, 2000 * h_slow());
		cr_assert_eq(rc, 0, "round trip %d: recv: %s", i,
			     strerror(-rc));
		cr_assert(memcmp(in, out, n) == 0, "round trip %d differs", i);
	}
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	rc = h_wait_closed(fd, io_to(), NULL);
	cr_assert_eq(rc, 0, "expected EOF: %s", strerror(-rc));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_data, sequential_300_sessions_leave_no_fds)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = proxy_for(o);
	char out[1024], in[1024];
	int i, fd, rc;

	for (i = 0; i < 300; i++) {
		fd = h_connect(p->port, io_to());
		cr_assert(fd >= 0, "session %d: connect: %s", i, strerror(-fd));
		h_pattern(out, sizeof(out), (uint64_t)i << 10, 55);
		rc = h_send_all(fd, out, sizeof(out), -1, io_to());
		cr_assert_eq(rc, 0, "session %d: send: %s", i, strerror(-rc));
		rc = h_recv_exact(fd, in, sizeof(in), 2000 * h_slow());
		cr_assert_eq(rc, 0, "session %d: recv: %s", i, strerror(-rc));
		cr_assert(memcmp(in, out, sizeof(in)) == 0,
			  "session %d: data differs", i);
		/* alternate who closes first: client FIN, or client RST */
		if (i % 2 == 0) {
			shutdown(fd, SHUT_WR);
			rc = h_wait_closed(fd, io_to(), NULL);
			cr_assert_eq(rc, 0, "session %d: expected EOF: %s", i,
				     strerror(-rc));
			close(fd);
		} else {
			h_close_rst(fd);
		}
	}
	cr_assert_eq(h_origin_wait_done(o, 300, io_to()), 300,
		     "origin connections still open");
	h_proxy_finish(p);
}
