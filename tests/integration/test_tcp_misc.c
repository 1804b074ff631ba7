/*
 * tcp mode: failover from a refusing server, resets on either side close
 * the whole session promptly, and weighted round robin picks servers in
 * the smooth WRR order.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_misc, .init = h_setup, .fini = h_teardown, .timeout = 60);

#define MIB (1024ULL * 1024)

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

static struct h_proxy *proxy_for_ports(const int *ports, const int *weights,
				       int n)
{
	struct h_tcp_conf c = { .nservers = n };
	int i;

	for (i = 0; i < n; i++) {
		c.server_port[i] = ports[i];
		c.server_weight[i] = weights ? weights[i] : 0;
	}
	return h_proxy_start_tcp(&c);
}

Test(tcp_misc, refused_server_falls_over_to_next)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	int ports[2] = { h_free_port(), h_origin_port(o) };
	struct h_proxy *p = proxy_for_ports(ports, NULL, 2);
	int i;

	for (i = 0; i < 6; i++) {
		char msg[32], back[32];
		int fd = connect_ok(p), rc;

		snprintf(msg, sizeof(msg), "ping %02d", i);
		rc = h_send_all(fd, msg, 7, -1, io_to());
		cr_assert_eq(rc, 0, "connection %d: send: %s", i,
			     strerror(-rc));
		rc = h_recv_exact(fd, back, 7, 2000 * h_slow());
		cr_assert_eq(rc, 0, "connection %d not served: %s", i,
			     strerror(-rc));
		cr_assert(memcmp(msg, back, 7) == 0);
		close(fd);
	}
	cr_assert_eq(h_origin_accepted(o), 6);
	h_proxy_finish(p);
}

Test(tcp_misc, refused_only_server_closes_client_promptly)
{
	int ports[1] = { h_free_port() };
	struct h_proxy *p = proxy_for_ports(ports, NULL, 1);
	uint64_t t0 = h_now_ms(), ms;
	int fd = connect_ok(p), rc;

	rc = h_wait_closed(fd, 5000 * h_slow(), NULL);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "client not closed when every server refused: %s",
		  strerror(-rc));
	cr_assert(ms <= 1000u * (unsigned)h_slow(),
		  "client closed only after %llu ms", (unsigned long long)ms);
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_misc, server_rst_mid_stream_closes_client)
{
	struct h_origin_opts oo = { .handler = h_handle_rst,
				    .len = 256 * 1024, .seed = 31,
				    .delay_ms = 100 };
	struct h_origin *o = h_origin_start(&oo);
	int ports[1] = { h_origin_port(o) };
	struct h_proxy *p = proxy_for_ports(ports, NULL, 1);
	struct h_conn_rec r;
	struct h_rx rx;
	int fd = connect_ok(p);

	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, 5000 * h_slow());
	cr_assert(rx.end == 0 || rx.end == -ECONNRESET,
		  "client not closed after the server's RST: %s after %llu "
		  "bytes", strerror(-rx.end), (unsigned long long)rx.bytes);
	cr_assert(rx.bytes <= 256 * 1024);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert(rx.t_end <= r.t_done + 1000u * (unsigned)h_slow(),
		  "client closed %llu ms after the server's RST",
		  (unsigned long long)(rx.t_end - r.t_done));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_misc, server_rst_during_upload_closes_client)
{
	struct h_origin_opts oo = { .handler = h_handle_rst, .len = 0,
				    .delay_ms = 200 };
	struct h_origin *o = h_origin_start(&oo);
	int ports[1] = { h_origin_port(o) };
	struct h_proxy *p = proxy_for_ports(ports, NULL, 1);
	struct h_conn_rec r;
	uint64_t sent = 0, t_end;
	int fd = connect_ok(p), rc;

	rc = h_send_pattern(fd, 100 * MIB, 32, 0, 0, -1, 3000 * h_slow(),
			    &sent);
	t_end = h_now_ms();
	cr_assert(rc != 0, "the whole 100 MiB upload was accepted although "
		  "the server reset the connection");
	cr_assert(rc != -ETIMEDOUT,
		  "upload stalled after %llu bytes instead of failing after "
		  "the server's RST", (unsigned long long)sent);
	cr_assert_eq(h_origin_wait_done(o, 1, io_to()), 1);
	r = h_origin_rec(o, 0);
	cr_assert(t_end <= r.t_done + 1000u * (unsigned)h_slow(),
		  "client's upload failed %llu ms after the server's RST",
		  (unsigned long long)(t_end - r.t_done));
	close(fd);
	h_proxy_finish(p);
}

Test(tcp_misc, client_rst_closes_server_side)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	int ports[1] = { h_origin_port(o) };
	struct h_proxy *p = proxy_for_ports(ports, NULL, 1);
	struct h_conn_rec r;
	uint64_t t0;
	int fd = connect_ok(p), rc;

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	rc = h_send_pattern(fd, 64 * 1024, 33, 0, 0, -1, io_to(), NULL);
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
	h_sleep_ms(100);
	t0 = h_now_ms();
	h_close_rst(fd);
	cr_assert(h_origin_wait_rx_end(o, 0, 3000 * h_slow()),
		  "server connection not closed after the client's RST");
	r = h_origin_rec(o, 0);
	cr_assert(r.rx.end == 0 || r.rx.end == -ECONNRESET,
		  "server saw %s", strerror(-r.rx.end));
	cr_assert(r.rx.t_end - t0 <= 1000u * (unsigned)h_slow(),
		  "server side closed %llu ms after the client's RST",
		  (unsigned long long)(r.rx.t_end - t0));
	h_proxy_finish(p);
}

/* Connects, reads the server's tag line, closes. */
static char server_tag(const struct h_proxy *p, int i)
{
	char line[2];
	int fd = connect_ok(p), rc;

	rc = h_recv_exact(fd, line, 2, 3000 * h_slow());
	cr_assert_eq(rc, 0, "connection %d: no tag: %s", i, strerror(-rc));
	cr_assert(line[1] == '\n' && (line[0] == 'A' || line[0] == 'B'),
		  "connection %d: bad tag", i);
	shutdown(fd, SHUT_WR);
	h_wait_closed(fd, io_to(), NULL);
	close(fd);
	return line[0];
}

static void start_tagged(struct h_origin **a, struct h_origin **b)
{
	struct h_origin_opts oa = { .handler = h_handle_tag, .tag = 'A' };
	struct h_origin_opts ob = { .handler = h_handle_tag, .tag = 'B' };

	*a = h_origin_start(&oa);
	*b = h_origin_start(&ob);
}

Test(tcp_misc, roundrobin_equal_weights_alternate)
{
	struct h_origin *a, *b;
	struct h_proxy *p;
	char seq[11];
	int ports[2], i;

	start_tagged(&a, &b);
	ports[0] = h_origin_port(a);
	ports[1] = h_origin_port(b);
	p = proxy_for_ports(ports, NULL, 2);
	for (i = 0; i < 10; i++)
		seq[i] = server_tag(p, i);
	seq[10] = 0;
	for (i = 1; i < 10; i++)
		cr_assert(seq[i] != seq[i - 1],
			  "weights 1,1: servers in order %s, expected "
			  "alternating", seq);
	h_proxy_finish(p);
}

Test(tcp_misc, roundrobin_weights_1_2_give_one_a_per_three)
{
	static const int weights[2] = { 1, 2 };
	struct h_origin *a, *b;
	struct h_proxy *p;
	char seq[13];
	int ports[2], i;

	start_tagged(&a, &b);
	ports[0] = h_origin_port(a);
	ports[1] = h_origin_port(b);
	p = proxy_for_ports(ports, weights, 2);
	for (i = 0; i < 12; i++)
		seq[i] = server_tag(p, i);
	seq[12] = 0;
	/* smooth WRR repeats B,A,B: every window of 3 holds exactly one A */
	for (i = 0; i + 3 <= 12; i++) {
		int as = (seq[i] == 'A') + (seq[i + 1] == 'A') +
			 (seq[i + 2] == 'A');

		cr_assert_eq(as, 1,
			     "weights 1,2: servers in order %s; window at %d "
			     "has %d A", seq, i, as);
	}
	h_proxy_finish(p);
}
