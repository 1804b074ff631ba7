/*
 * Health checks through the real binary: the socket-leak test (a tcp
 * backend with http checks on a separate port against seven kinds of
 * target, thousands of checks, a flat fd and socket count, the right state
 * and reason for each server), the HAProxy 2.9.1 incident configuration,
 * rise/fall transitions, tcp checks, backup activation and return, a DOWN
 * server getting no new sessions while its sessions finish, every server
 * down, and a stop with probes in flight.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/checks_util.h"
#include "tests/integration/harness.h"

TestSuite(checks, .init = h_setup, .fini = cu_fini, .timeout = 90);

/* [global], [defaults] and a tcp frontend on fe_port to backend b, whose
 * header and mode are written; the caller adds the rest of [backend b]. */
static void conf_head(struct h_cbuf *b, int fe_port, const char *timeout_check)
{
	b->len = 0;
	h_cbuf_add(b, "[global]\nworkers = 2\nlog = stderr\ngrace = 300ms\n\n"
	       "[defaults]\ntimeout_connect = 500ms\ntimeout_client = 10s\n"
	       "timeout_server = 10s\ntimeout_check = %s\n\n"
	       "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
	       "[backend b]\nmode = tcp\n", timeout_check, fe_port);
}

static int slow_ms(int ms)
{
	return ms * h_slow();
}

static void expect_log(const struct h_proxy *p, const char *needle, int timeout_ms)
{
	cr_assert(cu_log_wait(p, needle, slow_ms(timeout_ms)), "no log line with '%s' within "
		  "%d ms", needle, slow_ms(timeout_ms));
}

/* ---- the leak test ---- */

enum { T_REFUSE, T_BLACKHOLE, T_SILENT, T_SLOW, T_RST, T_500, T_OK, T_COUNT };

static const char *const leak_reason[T_COUNT] = {
	[T_REFUSE] = "is DOWN (L4 refused, ",
	[T_BLACKHOLE] = "is DOWN (L4 timeout, ",
	[T_SILENT] = "is DOWN (L7 timeout, ",
	[T_SLOW] = "is DOWN (L7 timeout, ",
	[T_RST] = "is DOWN (L4 reset, ",
	[T_500] = "is DOWN (L7 bad status 500, ",
};

struct leak_targets {
	int port[T_COUNT];
	struct cu_target *t[T_COUNT];
	struct h_blackhole hole;
};

static void leak_targets_start(struct leak_targets *lt)
{
	memset(lt, 0, sizeof(*lt));
	lt->port[T_REFUSE] = cu_reserve_port();
	h_blackhole_start(&lt->hole);
	lt->port[T_BLACKHOLE] = lt->hole.port;
	lt->t[T_SILENT] = cu_target_start(CU_SILENT, 0, 0);
	lt->t[T_SLOW] = cu_target_start(CU_HTTP, 200, 400); /* > timeout_check */
	lt->t[T_RST] = cu_target_start(CU_RST, 0, 0);
	lt->t[T_500] = cu_target_start(CU_HTTP, 500, 0);
	lt->t[T_OK] = cu_target_start(CU_HTTP, 200, 0);
	for (int i = T_SILENT; i < T_COUNT; i++)
		lt->port[i] = cu_target_port(lt->t[i]);
}

/* Sockets toward the check ports, all of them and in CLOSE_WAIT. */
static void check_sockets(const struct leak_targets *lt, int *open, int *close_wait)
{
	*open = *close_wait = 0;
	for (int i = 0; i < T_COUNT; i++) {
		int o, cw;

		cu_tcp_count("127.0.0.1", lt->port[i], &o, &cw);
		*open += o;
		*close_wait += cw;
	}
}

/* Sockets toward the two targets that answer at once and close. */
static int fast_target_sockets(const struct leak_targets *lt)
{
	int n = 0, o, cw;

	cu_tcp_count("127.0.0.1", lt->port[T_OK], &o, &cw);
	n += o;
	cu_tcp_count("127.0.0.1", lt->port[T_500], &o, &cw);
	return n + o;
}

static void leak_expect_states(const struct h_proxy *p)
{
	char needle[64], line[512];

	for (int i = 0; i < T_OK; i++) {
		snprintf(needle, sizeof(needle), "server s%d is DOWN", i + 1);
		cr_assert(cu_log_line(p, needle, line, sizeof(line)), "s%d never went DOWN", i + 1);
		cr_assert(strstr(line, leak_reason[i]), "s%d: want '%s' in: %s", i + 1,
			  leak_reason[i], line);
		cr_assert(strstr(line, "3/3 failures"), "%s", line);
		cr_assert_eq(cu_log_count(p, needle), 1, "s%d flapped", i + 1);
		snprintf(needle, sizeof(needle), "server s%d is UP", i + 1);
		cr_assert_eq(cu_log_count(p, needle), 0, "s%d came back UP", i + 1);
	}
	cr_assert_eq(cu_log_count(p, "server s7 is DOWN"), 0, "the healthy server went DOWN");
}

Test(checks, leak_test_seven_targets_keep_fd_and_socket_counts_flat, .timeout = 120)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *svc = h_origin_start(&oo);
	int fe = h_free_port(), max_open = 0, max_cw = 0, accepted = 0, samples = 0;
	int between = 0;
	struct leak_targets lt;
	struct h_proxy *p;
	struct h_cbuf cb;
	uint64_t end;

	leak_targets_start(&lt);
	conf_head(&cb, fe, "200ms");
	h_cbuf_add(&cb, "check = http GET /health\ncheck_interval = 50ms\ncheck_rise = 2\n"
		 "check_fall = 3\n");
	for (int i = 0; i < T_COUNT; i++)
		h_cbuf_add(&cb, "server = s%d 127.0.0.1:%d check check_port=%d\n", i + 1,
		    h_origin_port(svc), lt.port[i]);
	p = h_proxy_start_text(cb.s, fe);
	end = h_now_ms() + 20000;
	while (h_now_ms() < end) {
		int n = h_proxy_fd_count(p), o, cw;

		cr_assert(n >= p->fd_baseline - 2 && n <= p->fd_baseline + 2,
			  "fd count %d, baseline %d", n, p->fd_baseline);
		check_sockets(&lt, &o, &cw);
		max_open = o > max_open ? o : max_open;
		max_cw = cw > max_cw ? cw : max_cw;
		between += fast_target_sockets(&lt);
		samples++;
		h_sleep_ms(100);
	}
	for (int i = T_SILENT; i < T_COUNT; i++)
		accepted += cu_target_accepted(lt.t[i]);
	cr_log_info("leak test: %d checks accepted by the five listening targets, at most %d "
		    "check sockets open (%d in CLOSE_WAIT), %d samples, %d sockets seen toward "
		    "the fast targets", accepted, max_open, max_cw, samples, between);
	/* ~60/s from the fast targets, ~9/s from the slow ones, plus the
	 * refused and black-holed probes nobody counts */
	cr_assert(accepted >= 1000, "only %d checks in 20 s", accepted);
	/* one probe per server at most, plus the black hole's 3 own sockets
	 * and closes that are completing */
	cr_assert(max_open <= 24, "%d sockets toward the check ports", max_open);
	cr_assert(max_cw <= 7, "%d check sockets in CLOSE_WAIT", max_cw);
	/* A probe of a fast target lasts about a millisecond of its 50: a
	 * socket seen there at most samples was not closed after its probe
	 * (even though reusing the slot would close it at the next one). */
	cr_assert(between * 4 <= samples, "%d sockets toward the fast targets seen in %d "
		  "samples: probes leave their socket open", between, samples);
	leak_expect_states(p);
	/* the service still works through the one healthy server */
	int fd = h_connect(p->port, slow_ms(2000));
	char back[4];

	cr_assert(fd >= 0);
	cr_assert_eq(h_send_all(fd, "ping", 4, -1, slow_ms(2000)), 0);
	cr_assert_eq(h_recv_exact(fd, back, 4, slow_ms(2000)), 0);
	close(fd);
	h_proxy_finish(p);
}

/* The HAProxy 2.9.1 incident (issue #2395): mode tcp on port 443 with http
 * checks on port 8000, 4 primaries and 4 backups, every 10 s. Each server
 * gets its own loopback address so that all of them can use port 8000. */
Test(checks, haproxy_2_9_1_incident_configuration_keeps_socket_count_flat, .timeout = 60)
{
	static const struct {
		enum cu_kind kind;
		int status;
	} beh[8] = {
		{ CU_HTTP, 200 }, { CU_HTTP, 500 }, { CU_SILENT, 0 }, { CU_RST, 0 },
		{ CU_HTTP, 200 }, { CU_CLOSE, 0 }, { CU_GARBAGE, 0 }, { CU_HTTP, 404 },
	};
	struct cu_target *t[8];
	int fe = h_free_port(), probes = 0;
	struct h_proxy *p;
	struct h_cbuf cb;
	char ip[32];
	uint64_t end;

	for (int i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "127.0.91.%d", i + 1);
		t[i] = cu_target_start_at(ip, 8000, beh[i].kind, beh[i].status, 0);
		if (!t[i])
			cr_skip_test("cannot bind %s:8000", ip);
	}
	conf_head(&cb, fe, "2s");
	h_cbuf_add(&cb, "balance = roundrobin\ncheck = http GET /health\ncheck_interval = 10s\n");
	for (int i = 0; i < 8; i++)
		h_cbuf_add(&cb, "server = s%d 127.0.91.%d:443 check check_port=8000 check_addr=127.0.91.%d%s\n",
		    i + 1, i + 1, i + 1, i >= 4 ? " backup" : "");
	p = h_proxy_start_text(cb.s, fe);
	/* the first round is spread over one interval: every server is probed */
	end = h_now_ms() + 11500;
	while (h_now_ms() < end) {
		int n = h_proxy_fd_count(p), open = 0, cw = 0;

		cr_assert(n >= p->fd_baseline - 2 && n <= p->fd_baseline + 2,
			  "fd count %d, baseline %d", n, p->fd_baseline);
		for (int i = 0; i < 8; i++) {
			int o, c;

			snprintf(ip, sizeof(ip), "127.0.91.%d", i + 1);
			cu_tcp_count(ip, 8000, &o, &c);
			open += o;
			cw += c;
		}
		cr_assert(open <= 8, "%d check sockets open", open);
		cr_assert(cw <= 1, "%d check sockets in CLOSE_WAIT", cw);
		h_sleep_ms(100);
	}
	for (int i = 0; i < 8; i++) {
		cr_assert(i == 0 || cu_target_accepted(t[i]) >= 1, "s%d never probed", i + 1);
		probes += cu_target_accepted(t[i]);
	}
	cr_assert(probes >= 8);
	h_proxy_finish(p);
}

/* ---- transitions ---- */

static struct h_proxy *one_checked_server(struct cu_target *t, const char *rise_fall)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *svc = h_origin_start(&oo);
	int fe = h_free_port();
	struct h_cbuf cb;

	conf_head(&cb, fe, "500ms");
	h_cbuf_add(&cb, "check = http GET /health\ncheck_expect = 200-299\ncheck_interval = 60ms\n%s"
		 "server = s1 127.0.0.1:%d check check_port=%d\n", rise_fall,
	    h_origin_port(svc), cu_target_port(t));
	return h_proxy_start_text(cb.s, fe);
}

Test(checks, fall_needs_consecutive_failures_and_rise_consecutive_successes)
{
	struct cu_target *t = cu_target_start(CU_HTTP, 200, 0);
	struct h_proxy *p = one_checked_server(t, "check_rise = 2\ncheck_fall = 3\n");
	char line[512];
	int base;

	/* two failures in a row, then success: not enough to fall */
	cu_target_wait_answered(t, 2, slow_ms(2000));
	cu_target_script(t, 503, 2);
	base = cu_target_answered(t);
	cr_assert_geq(cu_target_wait_answered(t, base + 4, slow_ms(2000)), base + 4);
	cr_assert_eq(cu_log_count(p, "server s1 is DOWN"), 0);
	/* the third failure in a row takes it down */
	cu_target_set(t, CU_HTTP, 302, 0);
	expect_log(p, "server s1 is DOWN", 2000);
	cr_assert(cu_log_line(p, "server s1 is DOWN", line, sizeof(line)));
	cr_assert(strstr(line, "(L7 bad status 302, ") && strstr(line, " ms, 3/3 failures)"),
		  "%s", line);
	expect_log(p, "backend b has no server available", 1000);
	/* one success, then a failure: not enough to rise */
	cu_target_script(t, 204, 1);
	base = cu_target_answered(t);
	cr_assert_geq(cu_target_wait_answered(t, base + 3, slow_ms(2000)), base + 3);
	cr_assert_eq(cu_log_count(p, "server s1 is UP"), 0);
	/* two in a row bring it back */
	cu_target_set(t, CU_HTTP, 200, 0);
	expect_log(p, "server s1 is UP", 2000);
	cr_assert(cu_log_line(p, "server s1 is UP", line, sizeof(line)));
	cr_assert(strstr(line, "(L7 OK 200, ") && strstr(line, " ms, 2/2 successes)"), "%s",
		  line);
	cr_assert_eq(cu_log_count(p, "server s1 is DOWN"), 1);
	h_proxy_finish(p);
}

Test(checks, garbage_and_early_close_are_bad_responses)
{
	struct cu_target *t = cu_target_start(CU_GARBAGE, 0, 0);
	struct h_proxy *p = one_checked_server(t, "check_rise = 1\ncheck_fall = 1\n");

	expect_log(p, "server s1 is DOWN (L7 bad response, ", 2000);
	cu_target_set(t, CU_HTTP, 200, 0);
	expect_log(p, "server s1 is UP (L7 OK 200, ", 2000);
	cu_target_set(t, CU_CLOSE, 0, 0);
	cr_assert(cu_log_wait_n(p, "server s1 is DOWN (L7 bad response, ", 2, slow_ms(2000)),
		  "a close without an answer is not a bad response");
	h_proxy_finish(p);
}

Test(checks, tcp_check_is_the_default_and_follows_the_port)
{
	int port = cu_reserve_port(), fe = h_free_port();
	struct cu_target *t;
	struct h_proxy *p;
	struct h_cbuf cb;

	conf_head(&cb, fe, "300ms");
	h_cbuf_add(&cb, "check_interval = 50ms\ncheck_rise = 2\ncheck_fall = 2\n"
		 "server = s1 127.0.0.1:%d check\n", port);
	p = h_proxy_start_text(cb.s, fe);
	expect_log(p, "server s1 is DOWN (L4 refused, ", 2000);
	t = cu_target_start_reserved(port, CU_SILENT, 0, 0);
	cr_assert_not_null(t);
	expect_log(p, "server s1 is UP (L4 OK, ", 2000);
	/* a tcp check sends nothing and closes right after the connect */
	h_sleep_ms(200);
	cr_assert(cu_target_accepted(t) >= 2);
	cr_assert(cu_target_open(t) <= 1, "%d check connections left open", cu_target_open(t));
	h_proxy_finish(p);
}

/* ---- what the state changes do to traffic ---- */

struct two_tier {
	struct h_origin *svc[2];
	struct cu_target *chk[2];
	struct h_proxy *p;
};

/* s1 (tag 'P') and s2 (tag 'Q' or a backup 'B'), checked through chk[]. */
static void two_servers(struct two_tier *tt, bool backup, const char *extra)
{
	int fe = h_free_port();
	struct h_cbuf cb;

	for (int i = 0; i < 2; i++) {
		struct h_origin_opts oo = { .handler = h_handle_tag,
					    .tag = i ? (backup ? 'B' : 'Q') : 'P' };

		tt->svc[i] = h_origin_start(&oo);
		tt->chk[i] = cu_target_start(CU_HTTP, 200, 0);
	}
	conf_head(&cb, fe, "300ms");
	h_cbuf_add(&cb, "check = http GET /\ncheck_interval = 50ms\ncheck_rise = 2\ncheck_fall = 2\n%s",
	    extra);
	for (int i = 0; i < 2; i++)
		h_cbuf_add(&cb, "server = s%d 127.0.0.1:%d check check_port=%d%s\n", i + 1,
		    h_origin_port(tt->svc[i]), cu_target_port(tt->chk[i]),
		    i && backup ? " backup" : "");
	tt->p = h_proxy_start_text(cb.s, fe);
}

static void expect_tags(const struct h_proxy *p, int n, char want)
{
	for (int i = 0; i < n; i++) {
		int tag = cu_tag_of_new_session(NULL, p->port, slow_ms(2000));

		cr_assert_eq(tag, want, "session %d went to '%c' (%d), want '%c'", i,
			     tag > 0 ? tag : '?', tag, want);
	}
}

Test(checks, backup_takes_over_while_the_primary_is_down_and_hands_back)
{
	struct two_tier tt;

	two_servers(&tt, true, "");
	expect_tags(tt.p, 4, 'P');
	cr_assert_eq(h_origin_accepted(tt.svc[1]), 0);
	cu_target_set(tt.chk[0], CU_HTTP, 503, 0);
	expect_log(tt.p, "server s1 is DOWN (L7 bad status 503, ", 2000);
	expect_log(tt.p, "backend b: no primary server is UP, 1 backup server(s) take new "
		   "sessions", 1000);
	expect_tags(tt.p, 4, 'B');
	cu_target_set(tt.chk[0], CU_HTTP, 200, 0);
	expect_log(tt.p, "server s1 is UP", 2000);
	expect_log(tt.p, "a primary server is UP again", 1000);
	expect_tags(tt.p, 4, 'P');
	cr_assert_eq(h_origin_accepted(tt.svc[1]), 4);
	h_proxy_finish(tt.p);
}

Test(checks, down_server_gets_no_new_sessions_while_its_sessions_finish)
{
	struct two_tier tt;
	struct h_conn_rec r;
	int held, tag;

	two_servers(&tt, false, "");
	/* round robin: the first session goes to s1, the second to s2 */
	cr_assert_eq(cu_tag_of_new_session(NULL, tt.p->port, slow_ms(2000)), 'P');
	held = h_connect(tt.p->port, slow_ms(2000));
	cr_assert(held >= 0);
	tag = cu_read_tag(held, slow_ms(2000));
	cr_assert_eq(tag, 'Q', "second session went to %d", tag);
	cu_target_set(tt.chk[1], CU_RST, 0, 0);
	expect_log(tt.p, "server s2 is DOWN (L4 reset, ", 2000);
	expect_tags(tt.p, 10, 'P');
	cr_assert_eq(h_origin_accepted(tt.svc[1]), 1);
	/* the session on s2 was left alone: it still carries data */
	cr_assert_eq(h_send_all(held, "still here", 10, -1, slow_ms(2000)), 0);
	shutdown(held, SHUT_WR);
	cr_assert_eq(h_wait_closed(held, slow_ms(3000), NULL), 0);
	close(held);
	cr_assert_eq(h_origin_wait_done(tt.svc[1], 1, slow_ms(2000)), 1);
	r = h_origin_rec(tt.svc[1], 0);
	cr_assert_eq(r.rx.bytes, 10);
	h_proxy_finish(tt.p);
}

Test(checks, every_server_down_closes_new_sessions_at_once)
{
	struct two_tier tt;
	uint64_t t0, ms;
	int fd, rc;

	two_servers(&tt, true, "");
	cu_target_set(tt.chk[0], CU_HTTP, 500, 0);
	cu_target_set(tt.chk[1], CU_SILENT, 0, 0);
	expect_log(tt.p, "backend b has no server available", 3000);
	t0 = h_now_ms();
	fd = h_connect(tt.p->port, slow_ms(2000));
	cr_assert(fd >= 0);
	rc = h_wait_closed(fd, slow_ms(2000), NULL);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET, "not closed: %s", strerror(-rc));
	cr_assert(ms <= (uint64_t)slow_ms(500), "closed after %llu ms", (unsigned long long)ms);
	close(fd);
	expect_log(tt.p, "no server available after", 1000);
	cr_assert_eq(h_origin_accepted(tt.svc[0]) + h_origin_accepted(tt.svc[1]), 0);
	h_proxy_finish(tt.p);
}

/* ---- stopping ---- */

Test(checks, stop_with_probes_in_flight_is_prompt_and_closes_them)
{
	struct cu_target *silent = cu_target_start(CU_SILENT, 0, 0);
	struct h_blackhole hole;
	int fe = h_free_port(), o, cw;
	struct h_proxy *p;
	struct h_cbuf cb;
	uint64_t t0;

	h_blackhole_start(&hole);
	conf_head(&cb, fe, "20s"); /* the probes would hang for 20 s each */
	h_cbuf_add(&cb, "check = http GET /\ncheck_interval = 100ms\n"
		 "server = s1 127.0.0.1:1 check check_port=%d\n"
		 "server = s2 127.0.0.1:1 check check_port=%d\n",
	    cu_target_port(silent), hole.port);
	p = h_proxy_start_text(cb.s, fe);
	h_sleep_ms(300);
	cr_assert_eq(cu_target_open(silent), 1, "the probe is not waiting on the target");
	cu_tcp_count("127.0.0.1", hole.port, &o, &cw);
	cr_assert(o >= 4, "no probe connecting to the black hole (%d sockets)", o);
	t0 = h_now_ms();
	h_proxy_term(p);
	cr_assert(h_proxy_wait_exit(p, slow_ms(3000)), "sluice did not exit within %d ms",
		  slow_ms(3000));
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0);
	cr_log_info("stopped in %llu ms", (unsigned long long)(h_now_ms() - t0));
	/* the silent target saw the probe's FIN (not the end of the process):
	 * the log says the checker finished before the process stopped */
	h_sleep_ms(100);
	cr_assert_eq(cu_target_open(silent), 0);
	cr_assert(cu_log_count(p, "stopped") == 1);
}
