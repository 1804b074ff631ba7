/*
 * Server sockets opened through the ring into direct descriptors (issue
 * 16), through the real binary, each test run with `server_sockets =
 * direct` (the default) and `plain` (socket(2), the path of kernels before
 * 6.8): while many server connections are held open, a direct one takes no
 * process fd and shows in sluice_process_direct_fds, equal to what the
 * process accounts for; all of them are released when the clients go; a
 * refused server gets its 503 and a log line on both paths; a connect that
 * times out ends by the linked timeout of the socket chain. The reload
 * hand-over of pooled direct connections is covered by test_reload
 * (idle_pooled_connections_of_an_unchanged_server_carry_over).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

#define NHELD 40

TestSuite(direct, .init = h_setup, .fini = hu_teardown, .timeout = 120);

/* Does this kernel give direct server sockets (Linux 6.8+: socket
 * commands and FIXED_FD_INSTALL)? */
static bool kernel_direct(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return false;
	return maj > 6 || (maj == 6 && min >= 8);
}

struct fds {
	double open, acc, direct, dacc;
};

static struct fds sample(struct h_proxy *p)
{
	struct fds f = { -1, -1, -1, -1 };
	char *body = NULL;

	cr_assert_eq(h_http_get(p->stats_port, "/metrics", &body, NULL, hu_io_to()), 200);
	cr_assert(h_metric(body, "sluice_process_open_fds", &f.open) &&
		  h_metric(body, "sluice_process_accounted_fds", &f.acc) &&
		  h_metric(body, "sluice_process_direct_fds", &f.direct) &&
		  h_metric(body, "sluice_process_accounted_direct_fds", &f.dacc));
	free(body);
	return f;
}

/* Waits until the audit shows `direct` direct descriptors and the process
 * `extra` fds above its baseline; asserts with what it saw last. */
static void wait_fds(struct h_proxy *p, double direct, int extra, const char *when)
{
	uint64_t deadline = h_now_ms() + 5000u * (unsigned)h_slow();
	struct fds f;
	int n;

	for (;;) {
		/* counted before the sample: the stats connection of the last
		 * sample has had time to close (it would be one fd too many) */
		h_sleep_ms(50);
		n = h_proxy_fd_count(p) - p->fd_baseline;
		f = sample(p);
		if ((f.direct == direct && n == extra && f.open == f.acc && f.direct == f.dacc) ||
		    h_now_ms() > deadline)
			break;
	}
	cr_assert_eq(f.direct, f.dacc, "%s: direct descriptors in use %.0f, accounted %.0f", when,
		     f.direct, f.dacc);
	cr_assert_eq(f.open, f.acc, "%s: open fds %.0f, accounted %.0f", when, f.open, f.acc);
	cr_assert_eq(f.direct, direct, "%s: %.0f direct descriptors, expected %.0f", when,
		     f.direct, direct);
	cr_assert_eq(n, extra, "%s: %d fds above the baseline, expected %d", when, n, extra);
}

static struct h_proxy *start(const char *sockets, int server_port, const char *tconnect)
{
	char conf[1024];
	int fe = h_free_port();

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nlog = stderr\nserver_sockets = %s\n\n"
		 "[defaults]\ntimeout_connect = %s\ntimeout_server = 20s\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = b\n\n"
		 "[backend b]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n",
		 sockets, tconnect, fe, server_port);
	return h_proxy_start_text(conf, fe);
}

/* NHELD requests to a server that never answers: NHELD server connections
 * held open, then released when the clients close. */
static void held_connections(const char *sockets, bool direct)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = start(sockets, h_origin_port(o), "2s");
	static struct hu_cli c[NHELD];

	for (int i = 0; i < NHELD; i++) {
		hu_cli_open(&c[i], p->port);
		cr_assert_eq(hu_cli_send(&c[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	}
	cr_assert_eq(h_origin_wait_accepted(o, NHELD, hu_io_to()), NHELD);
	/* a direct server socket is in no fd table: only the clients' count */
	wait_fds(p, direct ? NHELD : 0, direct ? NHELD : 2 * NHELD, "held");
	/* reset: a client that only half-closes may still read a response */
	for (int i = 0; i < NHELD; i++) {
		h_close_rst(c[i].fd);
		c[i].fd = -1;
		hu_cli_close(&c[i]);
	}
	wait_fds(p, 0, 0, "released");
	for (int i = 0; i < NHELD; i++)
		cr_assert(h_origin_wait_rx_end(o, i, hu_io_to()),
			  "server connection %d was not closed by the proxy", i);
	h_proxy_finish(p);
	h_origin_stop(o);
}

Test(direct, held_server_connections_are_direct_descriptors)
{
	held_connections("direct", kernel_direct());
}

Test(direct, held_server_connections_plain)
{
	held_connections("plain", false);
}

/* A refused server: 503 and a log line, nothing left behind, request
 * after request (each one opens and closes a socket). */
static void refused(const char *sockets)
{
	struct h_proxy *p = start(sockets, h_free_port(), "2s");

	for (int i = 0; i < 20; i++) {
		struct hu_cli c;
		struct hu_rsp r;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
		cr_assert_eq(r.status, 503, "status %d:\n%s", r.status, r.head);
		hu_cli_close(&c);
	}
	cr_assert(hu_log_has(p, "connect failed"), "no 'connect failed' in the log");
	wait_fds(p, 0, 0, "after 20 refused connects");
	h_proxy_finish(p);
}

Test(direct, refused_server_gives_503)
{
	refused("direct");
}

Test(direct, refused_server_gives_503_plain)
{
	refused("plain");
}

/* An unreachable server: the connect's linked timeout (last link of the
 * socket chain) ends it at timeout_connect, the client gets its 503 and the
 * descriptor is closed. */
static void unreachable(const char *sockets)
{
	struct h_blackhole b;
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t t0;

	h_blackhole_start(&b);
	p = start(sockets, b.port, "300ms");
	t0 = h_now_ms();
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, 5000 * h_slow()), 0);
	cr_assert_eq(r.status, 503, "status %d:\n%s", r.status, r.head);
	cr_assert(h_now_ms() - t0 >= 250, "503 after %llu ms, before timeout_connect",
		  (unsigned long long)(h_now_ms() - t0));
	hu_cli_close(&c);
	wait_fds(p, 0, 0, "after the timed-out connect");
	h_proxy_finish(p);
	h_blackhole_stop(&b);
}

Test(direct, unreachable_server_times_out)
{
	unreachable("direct");
}

Test(direct, unreachable_server_times_out_plain)
{
	unreachable("plain");
}
