/*
 * Operating a running proxy through the real binary: the admin API on its
 * unix socket (every endpoint, the error cases, the socket's mode, a stale
 * socket file), signals that must not kill the process, and log reopening
 * for logrotate.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/limits_util.h"
#include "tests/integration/ops_util.h"

TestSuite(ops, .init = h_setup, .fini = lu_teardown, .timeout = 90);

static char sock_path[108];

static const char *new_sock_path(void)
{
	static int n;

	snprintf(sock_path, sizeof(sock_path), "/tmp/sluice-it-%d-%d.sock", (int)getpid(), n++);
	unlink(sock_path);
	return sock_path;
}

/* An http frontend, backend app (mode) with servers s1 (s1_opts appended)
 * and s2, extra backend lines; 2 workers; admin on sock_path. */
static struct h_proxy *start_full(int port1, int port2, const char *mode, const char *s1_opts,
				  const char *extra)
{
	char conf[2048];
	int fe = h_free_port();

	snprintf(conf, sizeof(conf), "[global]\nworkers = 2\nadmin = %s\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		 "[backend app]\nmode = %s\nserver = s1 127.0.0.1:%d %s\n"
		 "server = s2 127.0.0.1:%d\n%s", new_sock_path(), fe, mode, port1, s1_opts,
		 port2, extra);
	return h_proxy_start_text(conf, fe);
}

static struct h_proxy *start(int port1, int port2, const char *mode, const char *extra)
{
	return start_full(port1, port2, mode, "", extra);
}

static struct h_proxy *start_s1(int port1, int port2, const char *s1_opts, const char *extra)
{
	return start_full(port1, port2, "http-server-close", s1_opts, extra);
}

static char *admin_ok(const char *method, const char *target, const char *body)
{
	char *rsp = NULL;
	int st = ou_admin(sock_path, method, target, body, &rsp);

	cr_assert_eq(st, 200, "%s %s (%s): %d %s", method, target, body ? body : "", st,
		     rsp ? rsp : "");
	return rsp;
}

static void admin_expect(const char *method, const char *target, const char *body, int want,
			 const char *has)
{
	char *rsp = NULL;
	int st = ou_admin(sock_path, method, target, body, &rsp);

	cr_assert_eq(st, want, "%s %s (%s): %d, expected %d: %s", method, target,
		     body ? body : "", st, want, rsp ? rsp : "");
	if (has)
		cr_assert(rsp && strstr(rsp, has), "%s %s: %s lacks %s", method, target, rsp, has);
	free(rsp);
}

/* Requests sent to each origin by n GETs. */
static void spread(struct h_proxy *p, struct hu_origin *a, struct hu_origin *b, int n,
		   int *na, int *nb)
{
	int a0 = hu_origin_accepted(a), b0 = hu_origin_accepted(b);

	for (int i = 0; i < n; i++)
		cr_assert(ou_get_ok(p->port), "request %d failed", i);
	*na = hu_origin_accepted(a) - a0;
	*nb = hu_origin_accepted(b) - b0;
}

Test(ops, admin_socket_is_0600_lists_servers_and_goes_away_at_exit)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	struct h_proxy *p = start(hu_origin_port(a), hu_origin_port(b), "http-server-close",
				  "server = s3 127.0.0.1:1 weight=7 disabled\n");
	struct stat st;
	char *rsp, want[256];

	cr_assert_eq(stat(sock_path, &st), 0, "%s: %s", sock_path, strerror(errno));
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	rsp = admin_ok("GET", "/servers", NULL);
	snprintf(want, sizeof(want), "{\"backend\":\"app\",\"server\":\"s1\",\"address\":"
		 "\"127.0.0.1:%d\",\"state\":\"up\",\"weight\":1,\"check\":\"none\",\"active\":0,"
		 "\"queued\":0}", hu_origin_port(a));
	cr_assert(strstr(rsp, want), "%s\nlacks %s", rsp, want);
	cr_assert(strstr(rsp, "\"server\":\"s2\""), "%s", rsp);
	cr_assert(strstr(rsp, "\"server\":\"s3\",\"address\":\"127.0.0.1:1\",\"state\":\"maint\","
			      "\"weight\":7"), "%s", rsp);
	cr_assert_eq(rsp[0], '[', "%s", rsp);
	free(rsp);
	/* errors */
	admin_expect("GET", "/nothing", NULL, 404, "\"error\"");
	admin_expect("POST", "/servers", NULL, 405, NULL);
	admin_expect("GET", "/reload", NULL, 405, NULL);
	admin_expect("PUT", "/backends/nope/servers/s1/state", "drain", 404, NULL);
	admin_expect("PUT", "/backends/app/servers/nope/state", "drain", 404, NULL);
	admin_expect("PUT", "/backends/app/servers/s1/color", "red", 404, NULL);
	admin_expect("PUT", "/backends/app/servers/s1/state", "asleep", 400, "ready, drain or maint");
	admin_expect("PUT", "/backends/app/servers/s1/state", "", 400, NULL);
	admin_expect("GET", "/backends/app/servers/s1/state", NULL, 405, NULL);
	admin_expect("PUT", "/backends/app/servers/s1/weight", "257", 400, "0 to 256");
	admin_expect("PUT", "/backends/app/servers/s1/weight", "-1", 400, NULL);
	admin_expect("PUT", "/backends/app/servers/s1/weight", "2x", 400, NULL);
	cr_assert(ou_get_ok(p->port));
	h_proxy_finish(p);
	cr_assert_neq(stat(sock_path, &st), 0, "the socket is still there after exit");
}

Test(ops, a_stale_admin_socket_is_replaced_and_a_live_one_refused)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *args[] = { "-f", NULL, NULL };
	char conf[1024], path[600], out[4096];
	struct h_proxy *p;
	int fd, st, fe = h_free_port();

	/* a socket file left by a process that died */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", new_sock_path());
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	snprintf(conf, sizeof(conf), "[global]\nadmin = %s\n\n[frontend web]\n"
		 "bind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n[backend app]\n"
		 "mode = http-server-close\nserver = s1 127.0.0.1:%d\n", sock_path, fe,
		 hu_origin_port(a));
	p = h_proxy_start_text(conf, fe);
	free(admin_ok("GET", "/servers", NULL));
	/* a second process on the same socket: refused, the first one unharmed */
	snprintf(conf, sizeof(conf), "[global]\nadmin = %s\n\n[frontend web]\n"
		 "bind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n[backend app]\n"
		 "mode = http-server-close\nserver = s1 127.0.0.1:%d\n", sock_path, h_free_port(),
		 hu_origin_port(a));
	h_write_file("second.conf", conf, path, sizeof(path));
	args[1] = path;
	st = h_run_sluice(args, out, sizeof(out), 10000 * h_slow());
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "second process: %d: %s", st, out);
	cr_assert(strstr(out, "another process serves this socket"), "%s", out);
	free(admin_ok("GET", "/servers", NULL));
	cr_assert(ou_get_ok(p->port));
	h_proxy_finish(p);
}

Test(ops, drain_and_maint_take_a_server_out_and_ready_brings_it_back)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	struct h_proxy *p = start(hu_origin_port(a), hu_origin_port(b), "http-server-close", "");
	char *rsp, *body = NULL;
	int na, nb;

	spread(p, a, b, 10, &na, &nb);
	cr_assert(na > 0 && nb > 0, "roundrobin: %d / %d", na, nb);
	rsp = admin_ok("PUT", "/backends/app/servers/s1/state", "drain\n");
	cr_assert(strstr(rsp, "\"server\":\"s1\"") && strstr(rsp, "\"state\":\"drain\""), "%s", rsp);
	free(rsp);
	spread(p, a, b, 10, &na, &nb);
	cr_assert(na == 0 && nb == 10, "drained s1 still got %d of 10", na);
	cr_assert_eq(h_proxy_metric(p, "sluice_server_drain{backend=\"app\",server=\"s1\"}"), 1);
	cr_assert_eq(h_http_get(p->stats_port, "/stats.json", &body, NULL, hu_io_to()), 200);
	cr_assert(strstr(body, "\"name\":\"s1\",\"state\":\"DRAIN\""), "%s", body);
	free(body);
	cr_assert_eq(h_http_get(p->stats_port, "/stats", &body, NULL, hu_io_to()), 200);
	cr_assert(strstr(body, "<td class=\"DRAIN\">DRAIN</td>"), "stats page lacks DRAIN");
	free(body);
	rsp = admin_ok("PUT", "/backends/app/servers/s1/state", "maint");
	cr_assert(strstr(rsp, "\"state\":\"maint\""), "%s", rsp);
	free(rsp);
	spread(p, a, b, 6, &na, &nb);
	cr_assert(na == 0 && nb == 6, "s1 in maint got %d of 6", na);
	cr_assert_eq(h_proxy_metric(p, "sluice_server_maint{backend=\"app\",server=\"s1\"}"), 1);
	/* both out: 503, and a log line */
	free(admin_ok("PUT", "/backends/app/servers/s2/state", "drain"));
	cr_assert_eq(h_http_get(p->port, "/", NULL, NULL, hu_io_to()), 503);
	rsp = admin_ok("PUT", "/backends/app/servers/s1/state", "ready");
	cr_assert(strstr(rsp, "\"state\":\"up\""), "%s", rsp);
	free(rsp);
	free(admin_ok("PUT", "/backends/app/servers/s2/state", "ready"));
	spread(p, a, b, 10, &na, &nb);
	cr_assert(na > 0 && nb > 0, "after ready: %d / %d", na, nb);
	cr_assert(hu_log_has(p, "admin: backend app server s1 set to drain"));
	cr_assert(hu_log_has(p, "admin: backend app server s1 set to maint"));
	h_proxy_finish(p);
}

Test(ops, weight_applies_to_the_next_pick_in_every_worker)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	struct h_proxy *p = start(hu_origin_port(a), hu_origin_port(b), "http-server-close", "");
	char *rsp;
	int na, nb;

	rsp = admin_ok("PUT", "/backends/app/servers/s1/weight", "0");
	cr_assert(strstr(rsp, "\"weight\":0") && strstr(rsp, "\"state\":\"up\""), "%s", rsp);
	free(rsp);
	spread(p, a, b, 12, &na, &nb);
	cr_assert(na == 0 && nb == 12, "weight 0 still got %d of 12", na);
	free(admin_ok("PUT", "/backends/app/servers/s1/weight", "3"));
	spread(p, a, b, 40, &na, &nb);
	/* 3:1 over two workers' interleaved round robins: well above half */
	cr_assert(na >= 24 && nb >= 4, "weights 3:1 gave %d / %d", na, nb);
	cr_assert_eq(h_proxy_metric(p, "sluice_server_weight{backend=\"app\",server=\"s1\"}"), 3);
	rsp = admin_ok("GET", "/servers", NULL);
	cr_assert(strstr(rsp, "\"server\":\"s1\"") && strstr(rsp, "\"weight\":3"), "%s", rsp);
	free(rsp);
	free(admin_ok("PUT", "/backends/app/servers/s1/weight", "256"));
	cr_assert(hu_log_has(p, "admin: backend app server s1 weight set to 256"));
	h_proxy_finish(p);
}

Test(ops, drain_closes_the_servers_idle_pooled_connections)
{
	struct lu_origin_opts oa = { .kind = LU_HTTP, .tag = 'a' }, ob = { .kind = LU_HTTP,
									.tag = 'b' };
	struct lu_origin *a = lu_origin_start(&oa), *b = lu_origin_start(&ob);
	struct h_proxy *p = start(lu_origin_port(a), lu_origin_port(b), "http-keep-alive",
				  "pool_idle_timeout = 1m\n");
	const char *idle = "sluice_server_pool_idle_connections{backend=\"app\",server=\"s1\"}";
	uint64_t deadline;

	for (int i = 0; i < 8; i++)
		cr_assert(ou_get_ok(p->port), "request %d", i);
	cr_assert(h_proxy_metric(p, idle) >= 1, "no idle pooled connection to s1");
	cr_assert(lu_origin_active(a) >= 1);
	free(admin_ok("PUT", "/backends/app/servers/s1/state", "drain"));
	deadline = h_now_ms() + 3000u * (unsigned)h_slow();
	while (h_proxy_metric(p, idle) > 0 && h_now_ms() < deadline)
		h_sleep_ms(20);
	cr_assert_eq(h_proxy_metric(p, idle), 0, "drain left idle connections to s1 in the pool");
	cr_assert(lu_origin_wait_active_le(a, 0, hu_io_to()), "s1 connections still open: %d",
		  lu_origin_active(a));
	cr_assert(lu_origin_active(b) >= 1, "s2's pooled connections were closed too");
	cr_assert(ou_get_ok(p->port));
	/* maint closes them too: back to the fd baseline */
	free(admin_ok("PUT", "/backends/app/servers/s2/state", "maint"));
	cr_assert(lu_origin_wait_active_le(b, 0, hu_io_to()), "s2 connections still open");
	h_proxy_finish(p);
}

Test(ops, maint_stops_health_checks_and_drain_does_not)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	struct h_proxy *p = start_s1(hu_origin_port(a), hu_origin_port(b), "check",
				     "check_interval = 50ms\n");
	char *rsp;
	int n0;

	/* tcp checks connect to s1 every 50 ms */
	n0 = hu_origin_accepted(a);
	cr_assert(hu_origin_wait_accepted(a, n0 + 3, hu_io_to()) >= n0 + 3, "no checks");
	rsp = admin_ok("GET", "/servers", NULL);
	cr_assert(strstr(rsp, "\"check\":\"L4_ok\""), "%s", rsp);
	free(rsp);
	free(admin_ok("PUT", "/backends/app/servers/s1/state", "maint"));
	h_sleep_ms(200); /* a probe in flight may still land */
	n0 = hu_origin_accepted(a);
	h_sleep_ms(600);
	cr_assert_eq(hu_origin_accepted(a), n0, "checks went on in maint");
	free(admin_ok("PUT", "/backends/app/servers/s1/state", "drain"));
	n0 = hu_origin_accepted(a);
	cr_assert(hu_origin_wait_accepted(a, n0 + 3, hu_io_to()) >= n0 + 3,
		  "checks did not resume in drain");
	free(admin_ok("PUT", "/backends/app/servers/s1/state", "ready"));
	cr_assert(ou_get_ok(p->port));
	h_proxy_finish(p);
}

Test(ops, operator_signals_never_kill_and_each_logs_one_line)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	struct h_proxy *p = start(hu_origin_port(a), hu_origin_port(b), "http-server-close", "");
	static const struct {
		int sig;
		const char *line;
	} sigs[] = {
		{ SIGUSR2, "received SIGUSR2: ignored" },
		{ SIGALRM, "received SIGALRM: ignored" },
		{ SIGUSR1, "received SIGUSR1: log is not a file, nothing to reopen" },
		{ SIGHUP, "received SIGHUP: reloading" },
		{ SIGPIPE, NULL },
	};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		kill(p->pid, sigs[i].sig);
		if (sigs[i].line)
			cr_assert(ou_wait_file_count(p->log_path, sigs[i].line, 1, hu_io_to()),
				  "no \"%s\" in the log", sigs[i].line);
		h_sleep_ms(50);
		cr_assert(!h_proxy_wait_exit(p, 0), "signal %d killed sluice", sigs[i].sig);
		cr_assert(ou_get_ok(p->port), "not serving after signal %d", sigs[i].sig);
	}
	cr_assert_eq(ou_file_count(p->log_path, "received SIGUSR2"), 1);
	cr_assert(ou_wait_file_count(p->log_path, "reloaded ", 1, hu_io_to()));
	h_proxy_finish(p);
	cr_assert(ou_wait_file_count(p->log_path, "received SIGTERM: stopping", 1, 1000));
}

Test(ops, sigusr1_reopens_the_log_file_for_logrotate)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	char conf[1024], dummy[600], log[700], rotated[720];
	struct h_proxy *p;
	int fe = h_free_port(), before;

	h_write_file("dummy", "", dummy, sizeof(dummy));
	snprintf(log, sizeof(log), "%.*s/sluice.log", (int)(strrchr(dummy, '/') - dummy), dummy);
	snprintf(rotated, sizeof(rotated), "%s.1", log);
	snprintf(conf, sizeof(conf), "[global]\nlog = %s\n\n[frontend web]\n"
		 "bind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n[backend app]\n"
		 "mode = http-server-close\nserver = s1 127.0.0.1:%d\n", log, fe, hu_origin_port(a));
	p = h_proxy_start_text(conf, fe);
	cr_assert(ou_get_ok(p->port));
	cr_assert(ou_wait_file_count(log, "\"GET / HTTP/1.1\"", 1, hu_io_to()));
	/* logrotate: rename, then the postrotate signal */
	cr_assert_eq(rename(log, rotated), 0);
	cr_assert(ou_get_ok(p->port)); /* still written to the renamed file */
	cr_assert(ou_wait_file_count(rotated, "\"GET / HTTP/1.1\"", 2, hu_io_to()));
	kill(p->pid, SIGUSR1);
	cr_assert(ou_wait_file_count(log, "received SIGUSR1: log file reopened", 1, hu_io_to()),
		  "no new log file with the reopen line");
	before = ou_file_count(rotated, "\"GET / HTTP/1.1\"");
	for (int i = 0; i < 3; i++)
		cr_assert(ou_get_ok(p->port));
	cr_assert(ou_wait_file_count(log, "\"GET / HTTP/1.1\"", 3, hu_io_to()),
		  "access log lines did not go to the new file");
	cr_assert_eq(ou_file_count(rotated, "\"GET / HTTP/1.1\""), before);
	h_proxy_finish(p);
	cr_assert(ou_wait_file_count(log, "stopped", 1, 1000));
}
