/*
 * The process around tcp mode: SIGTERM stops accepting, lets sessions
 * finish within grace, closes the rest and exits 0; SIGINT stops too; the
 * fixed CLI (-c -f FILE checks a config and names file:line on errors,
 * -v prints the version, a bad config never starts a proxy).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_lifecycle, .init = h_setup, .fini = h_teardown, .timeout = 60);

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static void expect_exit_0(const struct h_proxy *p, const char *when)
{
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
		  "sluice %s: wait status 0x%x (exit %d, signal %d), "
		  "expected exit status 0", when, p->status,
		  WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1,
		  WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0);
}

Test(tcp_lifecycle, sigterm_refuses_new_connections_and_drains_session)
{
	/* 10 x 16 KiB, 100 ms apart: ~0.9 s of streaming, then FIN */
	struct h_origin_opts oo = { .handler = h_handle_source,
				    .len = 10 * 16384, .chunk = 16384,
				    .pause_ms = 100, .seed = 41 };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1, .grace = "10s" };
	struct h_proxy *p;
	struct h_rx rx;
	uint64_t deadline;
	bool refused = false;
	int fd, last = 0;

	c.server_port[0] = h_origin_port(o);
	p = h_proxy_start_tcp(&c);
	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	h_rx_init(&rx);
	h_recv_all(fd, &rx, 1, -1, io_to());
	cr_assert_eq(rx.bytes, 1, "stream never started: %s",
		     strerror(-rx.end));
	h_proxy_term(p);
	deadline = h_now_ms() + 2000u * (unsigned)h_slow();
	while (!refused && h_now_ms() < deadline) {
		int nfd = h_connect(p->port, 500);

		if (nfd == -ECONNREFUSED) {
			refused = true;
		} else {
			if (nfd >= 0)
				close(nfd);
			last = nfd;
			h_sleep_ms(20);
		}
	}
	cr_assert(refused, "new connections still %s after SIGTERM",
		  last >= 0 ? "accepted" : strerror(-last));
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	cr_assert_eq(rx.end, 0, "draining session ended with %s after %llu "
		     "bytes", strerror(-rx.end), (unsigned long long)rx.bytes);
	cr_assert_eq(rx.bytes, 10 * 16384,
		     "draining session cut after %llu of %d bytes",
		     (unsigned long long)rx.bytes, 10 * 16384);
	cr_assert_eq(rx.hash, h_pattern_hash(10 * 16384, 41));
	close(fd);
	cr_assert(h_proxy_wait_exit(p, 3000 * h_slow()),
		  "sluice still running %d ms after its last session ended "
		  "(grace is 10 s)", 3000 * h_slow());
	expect_exit_0(p, "after draining");
}

Test(tcp_lifecycle, sigterm_closes_sessions_left_after_grace)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1, .grace = "1s",
				.timeout_client = "30s",
				.timeout_server = "30s" };
	struct h_proxy *p;
	struct h_conn_rec r;
	uint64_t t0, ms, hi = 1000 + 2000u * (unsigned)h_slow();
	int fd, rc;

	c.server_port[0] = h_origin_port(o);
	p = h_proxy_start_tcp(&c);
	fd = h_connect(p->port, io_to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	cr_assert_eq(h_send_all(fd, "x", 1, -1, io_to()), 0);
	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	h_sleep_ms(50);
	t0 = h_now_ms();
	h_proxy_term(p);
	rc = h_wait_closed(fd, (int)hi + 3000, NULL);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		  "session not closed after grace: %s", strerror(-rc));
	cr_assert(ms >= 800 && ms <= hi,
		  "session closed %llu ms after SIGTERM, grace is 1 s "
		  "(expected 800..%llu)", (unsigned long long)ms,
		  (unsigned long long)hi);
	cr_assert(h_origin_wait_rx_end(o, 0, 2000 * h_slow()),
		  "server side not closed after grace");
	r = h_origin_rec(o, 0);
	cr_assert(r.rx.end == 0 || r.rx.end == -ECONNRESET,
		  "server saw %s", strerror(-r.rx.end));
	cr_assert(h_proxy_wait_exit(p, 1000 + 3000 * h_slow()),
		  "sluice still running %llu ms after SIGTERM with grace 1 s",
		  (unsigned long long)(h_now_ms() - t0));
	expect_exit_0(p, "after grace");
	close(fd);
}

Test(tcp_lifecycle, sigint_stops_gracefully)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1 };
	struct h_proxy *p;

	c.server_port[0] = h_origin_port(o);
	p = h_proxy_start_tcp(&c);
	kill(p->pid, SIGINT);
	cr_assert(h_proxy_wait_exit(p, 3000 * h_slow()),
		  "sluice ignored SIGINT");
	expect_exit_0(p, "after SIGINT");
}

Test(tcp_lifecycle, version_flag_prints_version)
{
	static const char *const args[] = { "-v", NULL };
	char out[1024];
	int st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());

	cr_assert(st != -1, "sluice -v did not exit");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "sluice -v: wait status 0x%x", st);
	cr_assert(strlen(out) > 0, "sluice -v printed nothing");
}

Test(tcp_lifecycle, check_mode_accepts_good_config)
{
	struct h_tcp_conf c = { .nservers = 2 };
	const char *args[] = { "-c", "-f", NULL, NULL };
	char conf[4096], path[1200], out[4096];
	int st;

	c.server_port[0] = h_free_port();
	c.server_port[1] = h_free_port();
	c.server_weight[1] = 2;
	h_tcp_conf_render(&c, h_free_port(), conf, sizeof(conf));
	h_write_file("good.conf", conf, path, sizeof(path));
	args[2] = path;
	st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());
	cr_assert(st != -1, "sluice -c did not exit");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "sluice -c rejected a good config (wait status 0x%x):\n%s",
		  st, out);
}

/* A bad config: exit status 1 and "FILE:LINE" (and the key) in the output. */
static void check_rejects(const char *conf, int line, const char *key)
{
	const char *args[] = { "-c", "-f", NULL, NULL };
	char path[1200], out[4096], where[1300];
	int st;

	h_write_file("bad.conf", conf, path, sizeof(path));
	args[2] = path;
	st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());
	cr_assert(st != -1, "sluice -c did not exit");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		  "sluice -c on a bad config: wait status 0x%x, expected exit "
		  "status 1; output:\n%s", st, out);
	snprintf(where, sizeof(where), "%s:%d", path, line);
	cr_assert(strstr(out, where), "error does not name \"%s\":\n%s", where,
		  out);
	cr_assert(strstr(out, key), "error does not name the key \"%s\":\n%s",
		  key, out);
}

#define BAD_HEAD                                                            \
	"[global]\n"                 /* 1 */                                \
	"workers = 1\n"              /* 2 */                                \
	"log = stderr\n"             /* 3 */                                \
	"\n"                         /* 4 */                                \
	"[defaults]\n"               /* 5 */

Test(tcp_lifecycle, check_mode_rejects_bad_duration_naming_file_line)
{
	check_rejects(BAD_HEAD
		      "timeout_connect = 5parsecs\n" /* 6 */
		      "\n"
		      "[frontend f]\n"
		      "bind = 127.0.0.1:1\n"
		      "mode = tcp\n"
		      "backend = b\n"
		      "\n"
		      "[backend b]\n"
		      "mode = tcp\n"
		      "server = s1 127.0.0.1:2\n",
		      6, "timeout_connect");
}

Test(tcp_lifecycle, check_mode_rejects_unknown_key_naming_file_line)
{
	check_rejects(BAD_HEAD
		      "timeout_connect = 1s\n" /* 6 */
		      "\n"                     /* 7 */
		      "[frontend f]\n"         /* 8 */
		      "bind = 127.0.0.1:1\n"   /* 9 */
		      "frobnicate = yes\n"     /* 10 */
		      "mode = tcp\n"
		      "backend = b\n"
		      "\n"
		      "[backend b]\n"
		      "mode = tcp\n"
		      "server = s1 127.0.0.1:2\n",
		      10, "frobnicate");
}

Test(tcp_lifecycle, bad_config_never_starts)
{
	const char *args[] = { "-f", NULL, NULL };
	char conf[512], path[1200], out[4096];
	int port = h_free_port(), st, fd;

	snprintf(conf, sizeof(conf),
		 BAD_HEAD
		 "timeout_connect = 5parsecs\n"
		 "\n"
		 "[frontend f]\n"
		 "bind = 127.0.0.1:%d\n"
		 "mode = tcp\n"
		 "backend = b\n"
		 "\n"
		 "[backend b]\n"
		 "mode = tcp\n"
		 "server = s1 127.0.0.1:2\n", port);
	h_write_file("bad.conf", conf, path, sizeof(path));
	args[1] = path;
	st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());
	cr_assert(st != -1, "sluice -f with a bad config kept running");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0,
		  "sluice -f with a bad config: wait status 0x%x", st);
	fd = h_connect(port, 1000);
	cr_assert(fd < 0, "something listens on the bad config's port");
}
