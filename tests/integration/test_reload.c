/*
 * Reloads through the real binary (SIGHUP and POST /reload on the admin
 * socket): no request fails under churn, a bad file changes nothing, tcp
 * sessions and WebSocket tunnels outlive a reload, binds come and go,
 * health state, counters and idle pooled server connections carry over,
 * what needs a restart is refused, and a hundred reloads leave fds and
 * memory where they were.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/limits_util.h"
#include "tests/integration/ops_util.h"
#include "tests/integration/tls_util.h"

TestSuite(reload, .init = h_setup, .fini = lu_teardown, .timeout = 180);

static char sock_path[108];

static void new_sock_path(void)
{
	static int n;

	snprintf(sock_path, sizeof(sock_path), "/tmp/sluice-rl-%d-%d.sock", (int)getpid(), n++);
	unlink(sock_path);
}

/* [global] with the admin socket and `workers`, then body. */
static void conf_text(char *buf, size_t n, int workers, const char *body)
{
	snprintf(buf, n, "[global]\nworkers = %d\nadmin = %s\n\n%s", workers, sock_path, body);
}

static char *reload_ok(void)
{
	char *rsp = NULL;
	int st = ou_admin(sock_path, "POST", "/reload", NULL, &rsp);

	cr_assert_eq(st, 200, "POST /reload: %d %s", st, rsp ? rsp : "");
	cr_assert(rsp && strstr(rsp, "\"reloaded\":true"), "%s", rsp);
	return rsp;
}

/* ---- churn: a new connection per request, reloads meanwhile ---------- */

struct churn {
	pthread_t thr;
	int port;
	atomic_bool stop;
	int ok, failed, last_err;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		int st = h_http_get(c->port, "/", NULL, NULL, 10000 * h_slow());

		if (st == 200) {
			c->ok++;
		} else {
			c->failed++;
			c->last_err = st;
		}
	}
	return NULL;
}

static const char *churn_body(char *buf, size_t n, int fe, int s1, int s2, bool both,
			      const char *to)
{
	snprintf(buf, n, "[defaults]\ntimeout_server = %s\n\n[frontend web]\nbind = 127.0.0.1:%d\n"
		 "mode = http\nbackend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n%s%d\n", to, fe, s1, both ? "server = s2 127.0.0.1:" :
		 "# s2 removed: ", s2);
	return buf;
}

Test(reload, under_churn_no_request_fails)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	char body[1024], conf[2048];
	struct churn cl[2];
	struct h_proxy *p;
	int fe = h_free_port(), ok = 0, failed = 0;
	const int reloads = 20;

	new_sock_path();
	churn_body(body, sizeof(body), fe, hu_origin_port(a), hu_origin_port(b), true, "10s");
	conf_text(conf, sizeof(conf), 2, body);
	p = h_proxy_start_text(conf, fe);
	for (int i = 0; i < 2; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].port = fe;
		cr_assert_eq(pthread_create(&cl[i].thr, NULL, churn_main, &cl[i]), 0);
	}
	h_sleep_ms(200);
	for (int i = 0; i < reloads; i++) {
		/* the file changes every time: servers come and go, timeouts move */
		churn_body(body, sizeof(body), fe, hu_origin_port(a), hu_origin_port(b), i % 2,
			   i % 3 ? "9s" : "11s");
		conf_text(conf, sizeof(conf), 2, body);
		ou_rewrite(p, conf);
		if (i % 4 == 3) {
			int n = ou_file_count(p->log_path, "reloaded ");

			kill(p->pid, SIGHUP);
			cr_assert(ou_wait_file_count(p->log_path, "reloaded ", n + 1, hu_io_to()));
		} else {
			free(reload_ok());
		}
		h_sleep_ms(100);
	}
	h_sleep_ms(200);
	for (int i = 0; i < 2; i++) {
		atomic_store(&cl[i].stop, true);
		pthread_join(cl[i].thr, NULL);
		ok += cl[i].ok;
		failed += cl[i].failed;
		cr_assert_eq(cl[i].failed, 0, "client %d: %d of %d requests failed (last: %d %s)", i,
			     cl[i].failed, cl[i].ok + cl[i].failed, cl[i].last_err,
			     cl[i].last_err < 0 ? strerror(-cl[i].last_err) : "");
	}
	cr_assert(ok >= 100, "only %d requests in the run", ok);
	fprintf(stderr, "reload under churn: %d requests, %d failed, %d reloads\n", ok, failed,
		reloads);
	cr_assert(ou_wait_file_count(p->log_path, "last session ended, released", reloads,
				     hu_io_to()), "old configurations never released");
	h_proxy_finish(p);
}

/* The same with an http-keep-alive backend and two workers: every reload
 * hands the idle pooled connections to s1 (unchanged) to the new workers
 * while requests keep taking and returning connections; s2 comes and goes. */
Test(reload, under_churn_with_pooled_connections_no_request_fails)
{
	struct lu_origin_opts oa = { .kind = LU_HTTP, .tag = 'A' };
	struct lu_origin_opts ob = { .kind = LU_HTTP, .tag = 'B' };
	struct lu_origin *a = lu_origin_start(&oa), *b = lu_origin_start(&ob);
	char body[1024], conf[2048];
	struct churn cl[2];
	struct h_proxy *p = NULL;
	int fe = h_free_port(), ok = 0;
	const int reloads = 20;

	new_sock_path();
	for (int i = 0; i <= reloads; i++) {
		snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
			 "backend = app\n\n[backend app]\nmode = http-keep-alive\n"
			 "pool_idle_timeout = 1s\nserver = s1 127.0.0.1:%d\n%s%d\n", fe,
			 lu_origin_port(a), i % 2 ? "# s2 removed: " : "server = s2 127.0.0.1:",
			 lu_origin_port(b));
		conf_text(conf, sizeof(conf), 2, body);
		if (i == 0) {
			p = h_proxy_start_text(conf, fe);
			for (int k = 0; k < 2; k++) {
				memset(&cl[k], 0, sizeof(cl[k]));
				cl[k].port = fe;
				cr_assert_eq(pthread_create(&cl[k].thr, NULL, churn_main, &cl[k]), 0);
			}
			h_sleep_ms(200);
			continue;
		}
		ou_rewrite(p, conf);
		cr_assert_eq(kill(p->pid, SIGHUP), 0);
		cr_assert(ou_wait_file_count(p->log_path, "reloaded ", i, hu_io_to()));
		h_sleep_ms(100);
	}
	h_sleep_ms(200);
	for (int k = 0; k < 2; k++) {
		atomic_store(&cl[k].stop, true);
		pthread_join(cl[k].thr, NULL);
		ok += cl[k].ok;
		cr_assert_eq(cl[k].failed, 0, "client %d: %d of %d requests failed (last: %d %s)", k,
			     cl[k].failed, cl[k].ok + cl[k].failed, cl[k].last_err,
			     cl[k].last_err < 0 ? strerror(-cl[k].last_err) : "");
	}
	cr_assert(ok >= 100, "only %d requests in the run", ok);
	fprintf(stderr, "reload under churn, pooled: %d requests, %d + %d server connections, "
		"%d handover lines\n", ok, lu_origin_accepted(a), lu_origin_accepted(b),
		ou_file_count(p->log_path, "idle pooled server connections handed"));
	cr_assert(ou_file_count(p->log_path, "idle pooled server connections handed") > 0);
	cr_assert(ou_wait_file_count(p->log_path, "last session ended, released", reloads,
				     hu_io_to()), "old configurations never released");
	/* the pools empty themselves after pool_idle_timeout */
	cr_assert(lu_origin_wait_active_le(a, 0, 5000 * h_slow()));
	cr_assert(lu_origin_wait_active_le(b, 0, 5000 * h_slow()));
	h_proxy_finish(p);
}

/* ---- a bad file changes nothing --------------------------------------- */

Test(reload, a_bad_file_changes_nothing_and_says_file_line)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	const char *args[] = { "-c", "-f", NULL, NULL };
	char body[1024], conf[2048], out[2048], *rsp = NULL, *nl, want[2100];
	struct h_proxy *p;
	int fe = h_free_port(), st;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", fe, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 1, body);
	p = h_proxy_start_text(conf, fe);
	/* line 14 of the file as written (stats line included) */
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\nbalance = fastest\n", fe, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 1, body);
	ou_rewrite(p, conf);
	args[2] = p->conf_path;
	st = h_run_sluice(args, out, sizeof(out), 10000 * h_slow());
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "sluice -c: %s", out);
	if ((nl = strchr(out, '\n')))
		*nl = 0;
	snprintf(want, sizeof(want), "%s:14:", p->conf_path);
	cr_assert(strstr(out, want), "sluice -c says %s, expected %s", out, want);
	/* SIGHUP: logged exactly as sluice -c prints it */
	kill(p->pid, SIGHUP);
	snprintf(want, sizeof(want), "reload failed, configuration unchanged: %s", out);
	cr_assert(ou_wait_file_count(p->log_path, want, 1, hu_io_to()), "no \"%s\" in the log",
		  want);
	cr_assert(ou_get_ok(p->port));
	/* POST /reload: 400 with the same file:line */
	st = ou_admin(sock_path, "POST", "/reload", NULL, &rsp);
	cr_assert_eq(st, 400, "%d %s", st, rsp);
	snprintf(want, sizeof(want), "%s:14:", p->conf_path);
	cr_assert(strstr(rsp, want) && strstr(rsp, "balance"), "%s", rsp);
	free(rsp);
	cr_assert(ou_get_ok(p->port));
	cr_assert_eq(ou_file_count(p->log_path, "reloaded "), 0);
	h_proxy_finish(p);
}

Test(reload, what_needs_a_restart_is_refused)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	char body[1024], conf[2048], *rsp = NULL;
	struct h_proxy *p;
	int fe = h_free_port(), st;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", fe, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 1, body);
	p = h_proxy_start_text(conf, fe);
	conf_text(conf, sizeof(conf), 2, body);
	ou_rewrite(p, conf);
	st = ou_admin(sock_path, "POST", "/reload", NULL, &rsp);
	cr_assert_eq(st, 400, "%d %s", st, rsp);
	cr_assert(strstr(rsp, "workers changed from 1 to 2") &&
		  strstr(rsp, "a restart is needed"), "%s", rsp);
	free(rsp);
	cr_assert(hu_log_has(p, "reload refused:"));
	cr_assert(ou_get_ok(p->port));
	h_proxy_finish(p);
}

/* ---- sessions in progress outlive a reload ---------------------------- */

#define UPGRADE_REQ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
#define SWITCH "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"

static void echo_ok(int fd, const char *msg)
{
	char buf[64];
	size_t n = strlen(msg);

	cr_assert_eq(h_send_all(fd, msg, n, -1, hu_io_to()), 0);
	cr_assert_eq(h_recv_exact(fd, buf, n, hu_io_to()), 0, "no echo of %s", msg);
	cr_assert_eq(memcmp(buf, msg, n), 0);
}

Test(reload, a_tcp_session_and_a_websocket_tunnel_outlive_reloads)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	struct hu_script sc = { .act = HU_ACT_UPGRADE, .raw = SWITCH };
	struct hu_origin *ws = hu_origin_start(&sc);
	char body[2048], conf[3072], *rsp;
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	int tport = h_free_port(), wport = h_free_port(), tfd, rc;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend t]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = ws\n\n"
		 "[backend echo]\nmode = tcp\nserver = e1 127.0.0.1:%d\n\n"
		 "[backend ws]\nmode = http-server-close\nserver = w1 127.0.0.1:%d\n", tport, wport,
		 h_origin_port(echo), hu_origin_port(ws));
	conf_text(conf, sizeof(conf), 2, body);
	p = h_proxy_start_text(conf, tport);
	tfd = h_connect(tport, hu_io_to());
	cr_assert(tfd >= 0);
	echo_ok(tfd, "tcp-before");
	hu_cli_open(&c, wport);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(r.status, 101, "%s", r.head);
	echo_ok(c.fd, "ws-before");
	/* three reloads, the last one changes the tcp backend's timeouts */
	for (int i = 0; i < 3; i++) {
		if (i == 2) {
			char more[2300];

			snprintf(more, sizeof(more), "[defaults]\ntimeout_client = 20s\n\n%s", body);
			conf_text(conf, sizeof(conf), 2, more);
			ou_rewrite(p, conf);
		}
		rsp = reload_ok();
		free(rsp);
		echo_ok(tfd, "tcp-after");
		echo_ok(c.fd, "ws-after");
	}
	cr_assert(hu_log_has(p, "3 older configuration(s) draining") ||
		  hu_log_has(p, "2 older configuration(s) draining"), "old ones not draining");
	/* new connections use the new configuration meanwhile */
	{
		int fd = h_connect(tport, hu_io_to());

		cr_assert(fd >= 0);
		echo_ok(fd, "new");
		close(fd);
	}
	/* the old configuration goes once its sessions end */
	cr_assert_eq(ou_file_count(p->log_path, "configuration 1: last session ended"), 0,
		     "configuration 1 was released with sessions open");
	close(tfd);
	hu_cli_close(&c);
	cr_assert(ou_wait_file_count(p->log_path, "configuration 1: last session ended", 1,
				     hu_io_to()), "configuration 1 never released");
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 3, hu_io_to()));
	h_proxy_finish(p);
}

/* ---- certificates: a reload loads the new ones, a draining TLS
 * connection keeps the old ones ------------------------------------------- */

static void tls_body(char *buf, size_t n, int fe, const char *crt, int origin)
{
	snprintf(buf, n, "[frontend web]\nbind = 127.0.0.1:%d ssl crt=%s\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", fe, crt, origin);
}

Test(reload, a_new_certificate_applies_to_new_tls_connections_only)
{
	const struct tu_certs *certs = tu_certs();
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	struct tu_opts o = { .sni = NULL };
	struct tu_conn c1, c2;
	struct tu_rsp r;
	char body[2048], conf[3072];
	const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct h_proxy *p;
	int fe = h_free_port(), rc;

	new_sock_path();
	tls_body(body, sizeof(body), fe, certs->a, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 1, body);
	p = h_proxy_start_text(conf, fe);
	rc = tu_connect(&c1, fe, &o);
	cr_assert_eq(rc, 0, "%s", c1.errstr);
	cr_assert_str_eq(c1.peer_cn, "a.example.test");
	cr_assert_eq(tu_http(&c1, req, &r), 0);
	cr_assert_eq(r.status, 200);
	tls_body(body, sizeof(body), fe, certs->b, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 1, body);
	ou_rewrite(p, conf);
	free(reload_ok());
	rc = tu_connect(&c2, fe, &o);
	cr_assert_eq(rc, 0, "%s", c2.errstr);
	cr_assert_str_eq(c2.peer_cn, "b.example.test", "the new certificate is not served");
	cr_assert_eq(tu_http(&c2, req, &r), 0);
	cr_assert_eq(r.status, 200);
	/* the keep-alive connection of the old configuration: its next
	 * request is answered, then it closes */
	cr_assert_eq(tu_http(&c1, req, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(r.conn_close, "%s", r.head);
	tu_close(&c1);
	tu_close(&c2);
	cr_assert(ou_wait_file_count(p->log_path, "configuration 1: last session ended", 1,
				     hu_io_to()));
	h_proxy_finish(p);
}

/* ---- binds ------------------------------------------------------------ */

static bool refused(int port)
{
	int st = h_http_get(port, "/", NULL, NULL, 2000);

	return st == -ECONNREFUSED;
}

Test(reload, added_binds_listen_and_removed_ones_stop)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	char body[1024], conf[2048];
	struct h_proxy *p;
	int pa = h_free_port(), pb = h_free_port();
	uint64_t deadline;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", pa, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 2, body);
	p = h_proxy_start_text(conf, pa);
	cr_assert(refused(pb));
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nbind = 127.0.0.1:%d\n"
		 "mode = http\nbackend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", pa, pb, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 2, body);
	ou_rewrite(p, conf);
	free(reload_ok());
	cr_assert(ou_get_ok(pb), "the added bind does not serve");
	cr_assert(ou_get_ok(pa));
	/* counted for one worker: web and stats kept */
	cr_assert(hu_log_has(p, "binds kept 2, added 1, removed 0"));
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\n"
		 "mode = http\nbackend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", pb, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 2, body);
	ou_rewrite(p, conf);
	free(reload_ok());
	cr_assert(ou_get_ok(pb));
	deadline = h_now_ms() + 3000u * (unsigned)h_slow();
	while (!refused(pa) && h_now_ms() < deadline)
		h_sleep_ms(20);
	cr_assert(refused(pa), "the removed bind still accepts");
	cr_assert(hu_log_has(p, "binds kept 2, added 0, removed 1"));
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 2, hu_io_to()));
	h_proxy_finish(p);
}

/* ---- state carried over ------------------------------------------------ */

Test(reload, check_state_runtime_changes_and_counters_carry_over)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc), *b = hu_origin_start(&sc);
	char body[1024], conf[2048], *rsp;
	const char *sess = "sluice_frontend_sessions_total{frontend=\"web\"}";
	struct h_proxy *p;
	int fe = h_free_port(), dead = h_free_port();
	uint64_t deadline;
	double before, v;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\ncheck_interval = 50ms\n"
		 "check_fall = 2\nserver = s1 127.0.0.1:%d check\nserver = s2 127.0.0.1:%d\n"
		 "server = s3 127.0.0.1:%d\n", fe, dead, hu_origin_port(a), hu_origin_port(b));
	conf_text(conf, sizeof(conf), 2, body);
	p = h_proxy_start_text(conf, fe);
	deadline = h_now_ms() + 5000u * (unsigned)h_slow();
	for (;;) {
		cr_assert_eq(ou_admin(sock_path, "GET", "/servers", NULL, &rsp), 200);
		if (strstr(rsp, "\"server\":\"s1\",\"address\":\"127.0.0.1:") &&
		    strstr(strstr(rsp, "\"server\":\"s1\""), "\"state\":\"down\""))
			break;
		free(rsp);
		cr_assert(h_now_ms() < deadline, "s1 never went down");
		h_sleep_ms(50);
	}
	free(rsp);
	free(NULL);
	cr_assert_eq(ou_admin(sock_path, "PUT", "/backends/app/servers/s2/weight", "5", NULL), 200);
	cr_assert_eq(ou_admin(sock_path, "PUT", "/backends/app/servers/s3/state", "drain", NULL),
		     200);
	for (int i = 0; i < 10; i++)
		cr_assert(ou_get_ok(p->port));
	before = h_proxy_metric(p, sess);
	cr_assert(before >= 10);
	/* checks every 5 s from now on: the state seen right after the reload
	 * is the carried one; s4 is new */
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\ncheck_interval = 5s\n"
		 "check_fall = 2\nserver = s1 127.0.0.1:%d check\nserver = s2 127.0.0.1:%d\n"
		 "server = s3 127.0.0.1:%d\nserver = s4 127.0.0.1:%d weight=2\n", fe, dead,
		 hu_origin_port(a), hu_origin_port(b), hu_origin_port(b));
	conf_text(conf, sizeof(conf), 2, body);
	ou_rewrite(p, conf);
	rsp = reload_ok();
	cr_assert(strstr(rsp, "\"servers_kept\":3,\"servers_added\":1"), "%s", rsp);
	free(rsp);
	cr_assert_eq(ou_admin(sock_path, "GET", "/servers", NULL, &rsp), 200);
	cr_assert(strstr(rsp, "\"server\":\"s1\",\"address\":\"127.0.0.1:") &&
		  strstr(strstr(rsp, "\"server\":\"s1\""), "\"state\":\"down\",\"weight\":1,"
			 "\"check\":\"L4_refused\""), "s1 did not stay down: %s", rsp);
	cr_assert(strstr(strstr(rsp, "\"server\":\"s2\""), "\"state\":\"up\",\"weight\":5"),
		  "s2's runtime weight was lost: %s", rsp);
	cr_assert(strstr(strstr(rsp, "\"server\":\"s3\""), "\"state\":\"drain\""),
		  "s3's drain was lost: %s", rsp);
	cr_assert(strstr(strstr(rsp, "\"server\":\"s4\""), "\"state\":\"up\",\"weight\":2"), "%s",
		  rsp);
	free(rsp);
	v = h_proxy_metric(p, sess);
	cr_assert(v >= before, "sessions_total went from %.0f to %.0f", before, v);
	for (int i = 0; i < 10; i++)
		cr_assert(ou_get_ok(p->port), "request %d after the reload", i);
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 1, hu_io_to()));
	v = h_proxy_metric(p, sess);
	cr_assert(v >= before + 10, "sessions_total %.0f after the old one was freed, %.0f before",
		  v, before);
	h_proxy_finish(p);
}

/* ---- pooled server connections carried over --------------------------- */

/* An http-keep-alive backend with server s1 at port srv (lu_conf: one
 * worker, so its pool goes to one successor), frontend on fe. */
static void ka_conf(char *buf, size_t n, int fe, int srv, const char *max_idle,
		    const char *max_requests)
{
	struct lu_conf c = {
		.fe_mode = "http", .be_mode = "http-keep-alive", .nservers = 1,
		.pool_max_idle = max_idle, .pool_idle_timeout = "30s",
		.pool_max_requests = max_requests,
	};

	c.server_port[0] = srv;
	lu_conf_render(&c, fe, buf, n);
}

/* Rewrites the file and sends SIGHUP; waits for reload number `nth`
 * (configuration nth + 1) to be logged. */
static void sighup_reload(struct h_proxy *p, const char *conf, int nth)
{
	ou_rewrite(p, conf);
	cr_assert_eq(kill(p->pid, SIGHUP), 0);
	cr_assert(ou_wait_file_count(p->log_path, "reloaded ", nth, hu_io_to()),
		  "reload %d not logged", nth);
}

/* n clients at once, one GET each, all answered by origin `tag`: with an
 * origin that holds each answer, each request holds a server connection of
 * its own while the others arrive. */
static void burst(int port, int n, char tag)
{
	struct hu_cli c[8];
	struct hu_rsp r;
	struct lu_ans a;

	cr_assert(n <= 8);
	for (int i = 0; i < n; i++) {
		hu_cli_open(&c[i], port);
		cr_assert_eq(hu_cli_send(&c[i], "GET /burst HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	}
	for (int i = 0; i < n; i++) {
		int rc = hu_read_rsp(&c[i], &r, false, hu_io_to());

		cr_assert_eq(rc, 0, "client %d: %s", i, strerror(-rc));
		cr_assert(lu_parse_ans(&r, &a) && a.tag == tag, "client %d: %s%s", i, r.head,
			  r.body);
		hu_cli_close(&c[i]);
	}
}

/* Waits until the running configuration shows n idle pooled connections
 * to s1 (the successor adopted what it was handed). */
static void wait_pool_idle(struct h_proxy *p, int n)
{
	const char *series = "sluice_server_pool_idle_connections{backend=\"b\",server=\"s1\"}";
	uint64_t deadline = h_now_ms() + 5000u * (unsigned)h_slow();
	double v;

	while ((v = h_proxy_metric(p, series)) != n && h_now_ms() < deadline)
		h_sleep_ms(20);
	cr_assert_eq(v, n, "%.0f idle pooled connections to s1, expected %d", v, n);
}

/* Closes the pool by a reload to pool_max_idle = 0 (the successor cannot
 * keep what it is handed), waits for origin o to see every connection
 * closed by the proxy, then checks fds and the audit. */
static void finish_closing_pool(struct h_proxy *p, struct lu_origin *o, int srv, int nth)
{
	char conf[4096];
	int acc = lu_origin_accepted(o);

	ka_conf(conf, sizeof(conf), p->port, srv, "0", NULL);
	sighup_reload(p, conf, nth);
	for (int i = 0; i < acc; i++) {
		cr_assert(lu_origin_wait_end(o, i, 5000 * h_slow()), "connection %d never closed", i);
		cr_assert_eq(lu_origin_conn(o, i).end, 0, "connection %d: not closed by the proxy", i);
	}
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", nth, hu_io_to()));
	h_proxy_finish(p);
}

Test(reload, idle_pooled_connections_of_an_unchanged_server_carry_over)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .delay_ms = 300 };
	struct lu_origin *o = lu_origin_start(&oo);
	int fe = h_free_port(), k;
	char conf[4096], line[128];
	struct h_proxy *p;

	ka_conf(conf, sizeof(conf), fe, lu_origin_port(o), "8", NULL);
	p = h_proxy_start_text(conf, fe);
	burst(fe, 4, 'A');
	k = lu_origin_accepted(o);
	cr_assert(k >= 2 && k <= 4, "4 requests at once made %d server connections", k);
	wait_pool_idle(p, k);
	/* unchanged file: same backend, server name and address */
	sighup_reload(p, conf, 1);
	snprintf(line, sizeof(line), "%d idle pooled server connections handed to configuration 2"
		 ", 0 closed", k);
	cr_assert(ou_wait_file_count(p->log_path, line, 1, hu_io_to()), "no '%s' in the log",
		  line);
	wait_pool_idle(p, k);
	h_proxy_expect_fd_audit(p);
	burst(fe, k, 'A');
	cr_assert_eq(lu_origin_accepted(o), k, "the origin accepted %d new connections after "
		     "the reload", lu_origin_accepted(o) - k);
	for (int i = 0; i < k; i++) {
		struct lu_conn c = lu_origin_conn(o, i);

		cr_assert_eq(c.end, 1, "connection %d was closed", i);
		cr_assert_eq(c.nreq, 2, "connection %d carried %d requests, expected one before "
			     "and one after the reload", i, c.nreq);
	}
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 1, hu_io_to()));
	h_proxy_expect_fd_audit(p);
	finish_closing_pool(p, o, lu_origin_port(o), 2);
}

/* pool_max_idle = auto: the successor keeps what it adopts for a purge
 * period (its own demand is nothing yet), then its purge closes them by
 * halves; the purge counter carries over the reload. */
Test(reload, auto_pool_carries_over_then_its_purge_trims_it)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .delay_ms = 300 };
	struct lu_origin *o = lu_origin_start(&oo);
	struct lu_conf c = {
		.fe_mode = "http", .be_mode = "http-keep-alive", .nservers = 1,
		.pool_idle_timeout = "60s", .extra = "pool_purge_interval = 1s\n",
	};
	const char *purged = "sluice_server_pool_purged_total{backend=\"b\",server=\"s1\"}";
	int fe = h_free_port(), k;
	char conf[4096], line[128];
	struct h_proxy *p;
	uint64_t t0;

	c.server_port[0] = lu_origin_port(o);
	lu_conf_render(&c, fe, conf, sizeof(conf));
	p = h_proxy_start_text(conf, fe);
	burst(fe, 6, 'A');
	k = lu_origin_accepted(o);
	cr_assert(k >= 2 && k <= 6, "6 requests at once made %d server connections", k);
	wait_pool_idle(p, k);
	sighup_reload(p, conf, 1);
	snprintf(line, sizeof(line), "%d idle pooled server connections handed to configuration 2"
		 ", 0 closed", k);
	cr_assert(ou_wait_file_count(p->log_path, line, 1, hu_io_to()), "no '%s' in the log",
		  line);
	wait_pool_idle(p, k);
	t0 = h_now_ms();
	cr_assert(lu_origin_wait_active_le(o, 0, 15000 * h_slow()), "%d still open",
		  lu_origin_active(o));
	cr_assert(h_now_ms() - t0 >= 900, "closed %llu ms after the adoption: not kept for a "
		  "purge period", (unsigned long long)(h_now_ms() - t0));
	wait_pool_idle(p, 0);
	cr_assert_eq(h_proxy_metric(p, purged), k);
	for (int i = 0; i < k; i++)
		cr_assert_eq(lu_origin_conn(o, i).end, 0, "connection %d: not closed by the proxy", i);
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 1, hu_io_to()));
	h_proxy_finish(p);
}

Test(reload, pooled_connections_to_a_moved_server_are_closed)
{
	struct lu_origin_opts oa = { .kind = LU_HTTP, .tag = 'A', .delay_ms = 300 };
	struct lu_origin_opts ob = { .kind = LU_HTTP, .tag = 'B', .delay_ms = 300 };
	struct lu_origin *a = lu_origin_start(&oa), *b = lu_origin_start(&ob);
	int fe = h_free_port(), k;
	char conf[4096], line[128];
	struct h_proxy *p;

	ka_conf(conf, sizeof(conf), fe, lu_origin_port(a), "8", NULL);
	p = h_proxy_start_text(conf, fe);
	burst(fe, 4, 'A');
	k = lu_origin_accepted(a);
	cr_assert(k >= 2 && k <= 4, "4 requests at once made %d server connections", k);
	wait_pool_idle(p, k);
	/* s1 keeps its name and moves to another address: not the same server */
	ka_conf(conf, sizeof(conf), fe, lu_origin_port(b), "8", NULL);
	sighup_reload(p, conf, 1);
	snprintf(line, sizeof(line), "0 idle pooled server connections handed to configuration 2"
		 ", %d closed", k);
	cr_assert(ou_wait_file_count(p->log_path, line, 1, hu_io_to()), "no '%s' in the log",
		  line);
	for (int i = 0; i < k; i++) {
		cr_assert(lu_origin_wait_end(a, i, 5000 * h_slow()), "connection %d to the old "
			  "address stays open", i);
		cr_assert_eq(lu_origin_conn(a, i).end, 0, "connection %d: not closed by the proxy",
			     i);
	}
	burst(fe, k, 'B');
	cr_assert_eq(lu_origin_accepted(b), k);
	cr_assert_eq(lu_origin_accepted(a), k, "the old address got new connections");
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 1, hu_io_to()));
	h_proxy_expect_fd_audit(p);
	finish_closing_pool(p, b, lu_origin_port(b), 2);
}

/* A connection's request count travels with it: pool_max_requests = 3
 * counts the requests it carried before the reload. */
Test(reload, pool_max_requests_counts_requests_from_before_the_reload)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A' };
	struct lu_origin *o = lu_origin_start(&oo);
	int fe = h_free_port();
	char conf[4096];
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	struct lu_ans a;

	ka_conf(conf, sizeof(conf), fe, lu_origin_port(o), "8", "3");
	p = h_proxy_start_text(conf, fe);
	hu_cli_open(&c, fe);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(lu_request(&c, "GET", "/before", 0, &r), 0);
		cr_assert(lu_parse_ans(&r, &a) && a.conn == 0 && a.req == i + 1, "%s", r.body);
	}
	hu_cli_close(&c);
	wait_pool_idle(p, 1);
	sighup_reload(p, conf, 1);
	cr_assert(ou_wait_file_count(p->log_path, "1 idle pooled server connections handed", 1,
				     hu_io_to()));
	wait_pool_idle(p, 1);
	hu_cli_open(&c, fe);
	cr_assert_eq(lu_request(&c, "GET", "/after", 0, &r), 0);
	cr_assert(lu_parse_ans(&r, &a) && a.conn == 0 && a.req == 3,
		  "the carried connection was not reused: %s", r.body);
	cr_assert_eq(lu_request(&c, "GET", "/after", 0, &r), 0);
	cr_assert(lu_parse_ans(&r, &a) && a.conn == 1 && a.req == 1,
		  "a connection carried more than pool_max_requests: %s", r.body);
	hu_cli_close(&c);
	cr_assert(lu_origin_wait_end(o, 0, 5000 * h_slow()));
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 1, hu_io_to()));
	finish_closing_pool(p, o, lu_origin_port(o), 2);
}

/* ---- no leak ------------------------------------------------------------ */

Test(reload, a_hundred_reloads_leave_fds_and_memory_flat)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	char body[1024], conf[2048];
	struct h_proxy *p;
	int fe = h_free_port(), fds0, fds1;
	long rss0, rss1;

	new_sock_path();
	snprintf(body, sizeof(body), "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d check\n", fe, hu_origin_port(a));
	conf_text(conf, sizeof(conf), 2, body);
	p = h_proxy_start_text(conf, fe);
	/* warm up: allocator arenas and the like settle */
	for (int i = 0; i < 10; i++) {
		free(reload_ok());
		cr_assert(ou_get_ok(p->port));
	}
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 10, hu_io_to()));
	/* settled: right after a request the proxy may still hold its socket
	 * (the lingering close ends at the client's FIN); under the sanitizers
	 * a count taken at once sees it more often than not */
	fds0 = h_proxy_fd_count_settled(p, 3000 * h_slow());
	rss0 = ou_rss_kib(p);
	for (int i = 0; i < 100; i++) {
		free(reload_ok());
		cr_assert(ou_get_ok(p->port), "request after reload %d", i);
	}
	cr_assert(ou_wait_file_count(p->log_path, "last session ended", 110, 20000 * h_slow()));
	fds1 = h_proxy_fd_count_settled(p, 3000 * h_slow());
	rss1 = ou_rss_kib(p);
	fprintf(stderr, "100 reloads: fds %d -> %d, RSS %ld -> %ld KiB\n", fds0, fds1, rss0, rss1);
	cr_assert(fds0 > 0 && fds1 > 0, "the fd count never settled: %d, %d", fds0, fds1);
	cr_assert_eq(fds1, fds0, "fds went from %d to %d over 100 reloads", fds0, fds1);
	/* a sanitizer build keeps freed memory in quarantine: LeakSanitizer
	 * checks leaks there, RSS says nothing */
	if (h_slow() == 1)
		cr_assert(rss1 - rss0 < 16 * 1024, "RSS grew by %ld KiB over 100 reloads",
			  rss1 - rss0);
	h_proxy_finish(p);
}
