/*
 * Observability through the real binary (issue 19): /metrics parses with
 * prometheus_client's own parser, every family typed and documented and
 * every histogram well formed, with http, tcp and TLS frontends; the latency
 * histograms' _count agrees with the request counters and their buckets
 * move with a server that delays its answers by a known time (the p50 lands
 * in the right bucket), queue time shows a request waiting for a slot; the
 * per-worker series sum to the frontend totals; /stats.json has every field
 * the README documents and nothing else; /stats renders in headless
 * Chromium with the sparklines, the same percentiles and request counts as
 * /stats.json, the state changes and the fd audit; the history ring stays
 * at its fixed size. tests/integration/check_obs.py does the parsing (with
 * Debian's /usr/bin/python3, where python3-prometheus-client lives). Every
 * proxy ends with the harness's fd audit.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/checks_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

#define PY "/usr/bin/python3"
#define CHROMIUM "/usr/bin/chromium"

static void obs_fini(void)
{
	cu_teardown();
	hu_teardown();
}

TestSuite(obs, .init = h_setup, .fini = obs_fini, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------ */

static void conf_head(struct h_cbuf *b, int workers, const char *interval)
{
	b->len = 0;
	h_cbuf_add(b, "[global]\nworkers = %d\nlog = stderr\ngrace = 300ms\nstats_interval = %s\n\n"
	       "[defaults]\ntimeout_connect = 500ms\ntimeout_client = 10s\n"
	       "timeout_server = 10s\ntimeout_http_request = 5s\n"
	       "timeout_http_keep_alive = 5s\n\n", workers, interval);
}

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static char *get(const struct h_proxy *p, const char *path)
{
	char *body = NULL;
	int st = h_http_get(p->stats_port, path, &body, NULL, io_to());

	cr_assert_eq(st, 200, "GET %s: %s (%d)", path, st < 0 ? strerror(-st) : "status", st);
	return body;
}

static double mv(const char *text, const char *fmt, va_list ap)
{
	char series[512];
	double v = -1;

	vsnprintf(series, sizeof(series), fmt, ap);
	cr_assert(h_metric(text, series, &v), "no series %s in /metrics", series);
	return v;
}

static double m(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static double m(const char *text, const char *fmt, ...)
{
	va_list ap;
	double v;

	va_start(ap, fmt);
	v = mv(text, fmt, ap);
	va_end(ap);
	return v;
}

/* Polls /metrics until the series equals want (or the time is up); returns
 * the last value. */
static double mwait(const struct h_proxy *p, double want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static double mwait(const struct h_proxy *p, double want, const char *fmt, ...)
{
	uint64_t end = h_now_ms() + 5000u * (unsigned)h_slow();
	double v;

	for (;;) {
		char *t = get(p, "/metrics");
		va_list ap;

		va_start(ap, fmt);
		v = mv(t, fmt, ap);
		va_end(ap);
		free(t);
		if (v == want || h_now_ms() > end)
			return v;
		h_sleep_ms(50);
	}
}

/* The source tree: tests/integration/check_obs.py and README.md, found
 * from the binary under test ($SLUICE_BIN is <tree>/<build dir>/sluice). */
static const char *tree(void)
{
	static char dir[PATH_MAX];
	char *s;

	if (dir[0])
		return dir;
	cr_assert(realpath(h_sluice_bin(), dir), "realpath %s: %s", h_sluice_bin(),
		  strerror(errno));
	for (int i = 0; i < 2 && (s = strrchr(dir, '/')); i++)
		*s = 0;
	return dir;
}

/* Runs cmd, returns its output (malloc'd); *st gets the wait status. */
static char *run(const char *cmd, int *st)
{
	char *out = calloc(1, 1 << 20);
	size_t n = 0, k;
	FILE *f = popen(cmd, "r");

	cr_assert(f && out, "popen %s: %s", cmd, strerror(errno));
	while (n + 1 < (1 << 20) && (k = fread(out + n, 1, (1 << 20) - n - 1, f)) > 0)
		n += k;
	out[n] = 0;
	*st = pclose(f);
	return out;
}

/* check_obs.py MODE on body (a /metrics or /stats.json text). */
static void checker(const char *mode, const char *body)
{
	char path[600], cmd[2 * PATH_MAX + 1024], *out;
	int st;

	cr_assert(access(PY, X_OK) == 0, "%s is missing (Debian python3)", PY);
	out = run(PY " -c 'import prometheus_client' 2>&1", &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s cannot import prometheus_client: install python3-prometheus-client "
		  "(the Makefile's TEST_PKGS; make deps does): %s", PY, out);
	free(out);
	h_write_file(mode, body, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), PY " '%s/tests/integration/check_obs.py' %s '%s' "
		 "'%s/README.md' 2>&1", tree(), mode, path, tree());
	out = run(cmd, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "check_obs.py %s failed:\n%s", mode,
		  out);
	free(out);
}

/* Python expr over the JSON document d (file path); its printed output. */
static char *json_py(const char *path, const char *expr)
{
	char cmd[4096], *out;
	int st;

	snprintf(cmd, sizeof(cmd), PY " -c 'import json,sys\nd=json.load(open(sys.argv[1]))\n"
		 "%s' '%s' 2>&1", expr, path);
	out = run(cmd, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python on /stats.json failed:\n%s",
		  out);
	return out;
}

static void get_ok(struct hu_cli *c, const char *req)
{
	struct hu_rsp r;

	cr_assert_eq(hu_cli_send(c, req), 0);
	cr_assert_eq(hu_read_rsp(c, &r, false, io_to()), 0, "no response");
	cr_assert_eq(r.status, 200, "status %d:\n%s", r.status, r.head);
}

#define GET "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define GET_CLOSE "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

/* Cumulative count of bucket le of a histogram series prefix (name and
 * labels up to the le, e.g. `x_bucket{backend="b",`). */
static double bucket(const char *t, const char *prefix, const char *le)
{
	return m(t, "%sle=\"%s\"}", prefix, le);
}

/* The upper bound of the bucket holding the q-quantile of the series. */
static const char *quantile_bucket(const char *t, const char *prefix, double q)
{
	static const char *const les[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01",
					   "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
					   "5", "10", "+Inf" };
	double total = bucket(t, prefix, "+Inf");

	for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++)
		if (bucket(t, prefix, les[i]) >= q * total)
			return les[i];
	return "+Inf";
}

/* ---- the exposition -------------------------------------------------------------- */

Test(obs, exposition_is_typed_and_counts_agree_in_every_mode)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	const struct tu_certs *certs = tu_certs();
	int web = h_free_port(), raw = h_free_port(), sec = h_free_port(), fd;
	struct tu_opts to = { .sni = "a.example.test" };
	struct tu_conn tc;
	struct tu_rsp tr;
	struct hu_cli c;
	struct h_proxy *p;
	struct h_cbuf b;
	char buf[8], *t, *j, path[600], *out;

	conf_head(&b, 2, "10s");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[frontend sec]\nbind = 127.0.0.1:%d ssl crt=%s\nmode = http\nbackend = app\n\n"
		"[frontend raw]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = tb\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n\n"
		"[backend tb]\nmode = tcp\nserver = e1 127.0.0.1:%d\n",
	    web, sec, certs->a, raw, hu_origin_port(o), h_origin_port(echo));
	p = h_proxy_start_text(b.s, web);
	hu_cli_open(&c, p->port);
	for (int i = 0; i < 3; i++)
		get_ok(&c, GET);
	hu_cli_close(&c);
	fd = h_connect(raw, io_to());
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_all(fd, "ping", 4, -1, io_to()), 0);
	cr_assert_eq(h_recv_exact(fd, buf, 4, io_to()), 0);
	close(fd);
	cr_assert_eq(tu_connect(&tc, sec, &to), 0, "TLS handshake: %s", tc.errstr);
	cr_assert_eq(tu_http(&tc, GET, &tr), 0, "GET over TLS: %s", tc.errstr);
	cr_assert_eq(tr.status, 200);
	tu_close(&tc);
	mwait(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"raw\",cause=\"normal\"}");
	mwait(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	mwait(p, 0, "sluice_frontend_sessions_current{frontend=\"sec\"}");

	t = get(p, "/metrics");
	checker("metrics", t);
	/* the latency histograms' _count against the request counters */
	cr_assert_eq(m(t, "sluice_frontend_http_requests_total{frontend=\"web\"}"), 3);
	cr_assert_eq(m(t, "sluice_frontend_http_request_duration_seconds_count{frontend=\"web\"}"),
		     3);
	cr_assert_eq(m(t, "sluice_frontend_http_request_duration_seconds_count{frontend=\"sec\"}"),
		     m(t, "sluice_frontend_http_requests_total{frontend=\"sec\"}"));
	cr_assert_eq(m(t, "sluice_backend_http_requests_total{backend=\"app\"}"), 4);
	cr_assert_eq(m(t, "sluice_backend_http_request_duration_seconds_count{backend=\"app\"}"), 4);
	cr_assert_eq(m(t, "sluice_backend_http_response_time_seconds_count{backend=\"app\"}"), 4);
	cr_assert_eq(m(t, "sluice_backend_http_queue_time_seconds_count{backend=\"app\"}"), 4);
	cr_assert_eq(m(t, "sluice_server_http_requests_total{backend=\"app\",server=\"s1\"}"), 4);
	cr_assert_eq(m(t, "sluice_server_http_request_duration_seconds_count{backend=\"app\","
		     "server=\"s1\"}"), 4);
	cr_assert_eq(m(t, "sluice_server_http_responses_total{backend=\"app\",server=\"s1\","
		     "class=\"2xx\"}"), 4);
	/* http-server-close: one server connection per request */
	cr_assert_eq(m(t, "sluice_server_connect_time_seconds_count{backend=\"app\",server=\"s1\"}"),
		     m(t, "sluice_server_sessions_total{backend=\"app\",server=\"s1\"}"));
	cr_assert_eq(m(t, "sluice_frontend_tls_handshake_seconds_count{frontend=\"sec\"}"),
		     m(t, "sluice_frontend_tls_handshakes_total{frontend=\"sec\"}"));
	cr_assert_eq(m(t, "sluice_frontend_tls_handshakes_total{frontend=\"sec\"}"), 1);
	cr_assert_eq(m(t, "sluice_frontend_tcp_session_duration_seconds_count{frontend=\"raw\"}"),
		     1);
	cr_assert_eq(m(t, "sluice_server_tcp_session_duration_seconds_count{backend=\"tb\","
		     "server=\"e1\"}"), 1);
	cr_assert_eq(m(t, "sluice_server_connect_time_seconds_count{backend=\"tb\",server=\"e1\"}"),
		     1);
	cr_assert(!strstr(t, "sluice_frontend_tcp_session_duration_seconds_count{frontend=\"web\""),
		  "an http frontend has a tcp session histogram");
	free(t);

	j = get(p, "/stats.json");
	checker("json", j);
	h_write_file("stats.json", j, path, sizeof(path));
	out = json_py(path, "print(len(d[\"frontends\"][1][\"tls\"]), d[\"history\"][\"capacity\"])");
	cr_assert_str_eq(out, "3 90\n", "tls object or history capacity: %s", out);
	free(out);
	free(j);
	h_proxy_finish(p);
}

/* ---- latency ------------------------------------------------------------------------ */

#define SLOW_MS 30

Test(obs, latency_histograms_follow_a_server_delay)
{
	struct hu_script slow_sc = { .act = HU_ACT_INFO, .delay_ms = SLOW_MS };
	struct hu_script fast_sc = { .act = HU_ACT_INFO };
	struct hu_origin *slow = hu_origin_start(&slow_sc), *fast = hu_origin_start(&fast_sc);
	int fs = h_free_port(), ff = h_free_port();
	const char *rt_slow = "sluice_server_http_response_time_seconds_bucket{backend=\"bs\","
			      "server=\"slow\",";
	const char *dur_slow = "sluice_server_http_request_duration_seconds_bucket{backend=\"bs\","
			       "server=\"slow\",";
	const char *rt_fast = "sluice_server_http_response_time_seconds_bucket{backend=\"bf\","
			      "server=\"fast\",";
	struct hu_cli c;
	struct h_proxy *p;
	struct h_cbuf b;
	char *t;

	conf_head(&b, 1, "10s");
	h_cbuf_add(&b, "[frontend fs]\nbind = 127.0.0.1:%d\nmode = http\nbackend = bs\n\n"
		"[frontend ff]\nbind = 127.0.0.1:%d\nmode = http\nbackend = bf\n\n"
		"[backend bs]\nmode = http-keep-alive\nserver = slow 127.0.0.1:%d\n\n"
		"[backend bf]\nmode = http-keep-alive\nserver = fast 127.0.0.1:%d\n",
	    fs, ff, hu_origin_port(slow), hu_origin_port(fast));
	p = h_proxy_start_text(b.s, fs);
	hu_cli_open(&c, fs);
	for (int i = 0; i < 10; i++)
		get_ok(&c, GET);
	hu_cli_close(&c);
	hu_cli_open(&c, ff);
	for (int i = 0; i < 10; i++)
		get_ok(&c, GET);
	hu_cli_close(&c);
	mwait(p, 0, "sluice_frontend_sessions_current{frontend=\"ff\"}");
	t = get(p, "/metrics");
	/* nothing can answer faster than the origin's delay */
	cr_assert_eq(bucket(t, rt_slow, "0.025"), 0, "a response faster than %d ms", SLOW_MS);
	cr_assert_eq(bucket(t, rt_slow, "+Inf"), 10);
	cr_assert_str_eq(quantile_bucket(t, rt_slow, 0.5), "0.05",
			 "p50 response time of a %d ms server is not in the 25..50 ms bucket",
			 SLOW_MS);
	cr_assert_str_eq(quantile_bucket(t, dur_slow, 0.5), "0.05",
			 "p50 request duration of a %d ms server is not in the 25..50 ms bucket",
			 SLOW_MS);
	cr_assert(m(t, "sluice_server_http_response_time_seconds_sum{backend=\"bs\","
		    "server=\"slow\"}") >= 10 * SLOW_MS / 1000.0 * 0.95);
	cr_assert(m(t, "sluice_server_http_request_duration_seconds_sum{backend=\"bs\","
		    "server=\"slow\"}") >=
		  m(t, "sluice_server_http_response_time_seconds_sum{backend=\"bs\","
		    "server=\"slow\"}"), "a request took less than its response");
	cr_assert_eq(bucket(t, rt_fast, "+Inf"), 10);
	cr_assert(bucket(t, rt_fast, "0.025") >= 5, "p50 of an immediate server above 25 ms:\n%s",
		  strstr(t, rt_fast));
	cr_assert(m(t, "sluice_server_connect_time_seconds_count{backend=\"bs\","
		    "server=\"slow\"}") >= 1);
	cr_assert_eq(m(t, "sluice_frontend_http_request_duration_seconds_count{frontend=\"fs\"}"),
		     m(t, "sluice_frontend_http_requests_total{frontend=\"fs\"}"));
	free(t);
	h_proxy_finish(p);
}

Test(obs, queue_time_counts_the_wait_for_a_slot)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 200 };
	struct hu_origin *o = hu_origin_start(&sc);
	const char *q = "sluice_backend_http_queue_time_seconds_bucket{backend=\"app\",";
	int web = h_free_port();
	struct hu_cli a, c;
	struct h_proxy *p;
	struct h_cbuf b;
	struct hu_rsp r;
	char *t;

	conf_head(&b, 1, "10s");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d maxconn=1\n",
	    web, hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	hu_cli_open(&a, p->port);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&a, GET), 0);
	mwait(p, 1, "sluice_server_sessions_current{backend=\"app\",server=\"s1\"}");
	cr_assert_eq(hu_cli_send(&c, GET), 0);
	cr_assert_eq(hu_read_rsp(&a, &r, false, io_to()), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_cli_close(&a);
	hu_cli_close(&c);
	mwait(p, 2, "%sle=\"+Inf\"}", q);
	t = get(p, "/metrics");
	cr_assert_eq(bucket(t, q, "0.0005"), 1, "the first request waited");
	cr_assert_eq(bucket(t, q, "0.05"), 1, "the second request did not wait for the first");
	cr_assert_eq(m(t, "sluice_server_http_queue_time_seconds_count{backend=\"app\","
		     "server=\"s1\"}"), 2);
	free(t);
	h_proxy_finish(p);
}

/* ---- per-worker series ---------------------------------------------------------------- */

Test(obs, per_worker_series_sum_to_the_totals)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int web = h_free_port();
	double acc[2], ses[2], req[2], cur[2];
	struct hu_cli c;
	struct h_proxy *p;
	struct h_cbuf b;
	char *t, *j, path[600], *out, want[128];

	conf_head(&b, 2, "10s");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n",
	    web, hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	for (int i = 0; i < 40; i++) {
		hu_cli_open(&c, web);
		get_ok(&c, GET_CLOSE);
		hu_cli_close(&c);
	}
	mwait(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	t = get(p, "/metrics");
	for (int w = 0; w < 2; w++) {
		acc[w] = m(t, "sluice_worker_accepts_total{worker=\"%d\",frontend=\"web\"}", w);
		ses[w] = m(t, "sluice_worker_sessions_total{worker=\"%d\",frontend=\"web\"}", w);
		req[w] = m(t, "sluice_worker_http_requests_total{worker=\"%d\",frontend=\"web\"}", w);
		cur[w] = m(t, "sluice_worker_sessions_current{worker=\"%d\",frontend=\"web\"}", w);
	}
	cr_assert_eq(ses[0] + ses[1], m(t, "sluice_frontend_sessions_total{frontend=\"web\"}"));
	cr_assert_eq(ses[0] + ses[1], 40);
	cr_assert_eq(acc[0] + acc[1], 40, "accepts %g + %g", acc[0], acc[1]);
	cr_assert_eq(req[0] + req[1], m(t, "sluice_frontend_http_requests_total{frontend=\"web\"}"));
	cr_assert_eq(cur[0] + cur[1], 0);
	/* SO_REUSEPORT hashes 40 different source ports over both workers */
	cr_assert(acc[0] > 0 && acc[1] > 0, "one worker took every connection: %g / %g", acc[0],
		  acc[1]);
	free(t);
	j = get(p, "/stats.json");
	h_write_file("stats.json", j, path, sizeof(path));
	out = json_py(path, "w=d[\"workers\"]\nprint(len(w), sum(x[\"sessions_total\"] for x in w "
			    "if True) - sum(f[\"sessions_total\"] for f in d[\"frontends\"]))");
	snprintf(want, sizeof(want), "2 0\n");
	cr_assert_str_eq(out, want, "workers in /stats.json do not sum to the frontends: %s", out);
	free(out);
	free(j);
	h_proxy_finish(p);
}

/* ---- the history ---------------------------------------------------------------------- */

Test(obs, history_ring_keeps_a_fixed_number_of_samples)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int web = h_free_port();
	uint64_t end;
	struct h_proxy *p;
	struct h_cbuf b;
	char *j, path[600], *out = NULL;

	conf_head(&b, 1, "100ms");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n",
	    web, hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	/* 90 samples at 100 ms: 9 s, then the ring stays full */
	end = h_now_ms() + 40000u * (unsigned)h_slow();
	do {
		free(out);
		h_sleep_ms(500);
		j = get(p, "/stats.json");
		h_write_file("stats.json", j, path, sizeof(path));
		free(j);
		out = json_py(path, "print(d[\"history\"][\"samples\"])");
	} while (strcmp(out, "90\n") && h_now_ms() < end);
	cr_assert_str_eq(out, "90\n", "the history never filled its 90 samples");
	free(out);
	h_sleep_ms(500);
	j = get(p, "/stats.json");
	h_write_file("stats.json", j, path, sizeof(path));
	free(j);
	out = json_py(path, "s=d[\"backends\"][0][\"servers\"][0][\"sparklines\"]\n"
			    "print(d[\"history\"][\"samples\"], len(s[\"requests_per_s\"]), "
			    "len(s[\"p99_ms\"]), d[\"history\"][\"window_s\"])");
	cr_assert_str_eq(out, "90 90 90 9.0\n", "after the ring filled: %s", out);
	free(out);
	h_proxy_finish(p);
}

/* ---- the page ------------------------------------------------------------------------- */

/* The DOM of url after Chromium loaded it (malloc'd). */
static char *chromium_dom(const char *url)
{
	char cmd[2048], prof[] = "/tmp/sluice-chromium-XXXXXX", *out;
	int st;

	cr_assert(mkdtemp(prof), "mkdtemp: %s", strerror(errno));
	snprintf(cmd, sizeof(cmd),
		 "timeout -k 5 60 " CHROMIUM " --headless --no-sandbox --disable-gpu "
		 "--disable-quic --no-first-run --disable-background-networking "
		 "--disable-component-update --disable-sync --user-data-dir=%s "
		 "--dump-dom '%s' 2>/dev/null; rm -rf '%s'", prof, url, prof);
	out = run(cmd, &st);
	cr_assert(WIFEXITED(st), "chromium did not exit");
	cr_assert(strstr(out, "<html") && strstr(out, "</html>"),
		  "chromium rendered no page from %s:\n%.2000s", url, out);
	return out;
}

/* The row of server name in dom (a copy, malloc'd). */
static char *server_row(const char *dom, const char *name)
{
	char key[128];
	const char *s, *e;

	snprintf(key, sizeof(key), "<tr class=\"server\" data-server=\"%s\">", name);
	s = strstr(dom, key);
	cr_assert(s, "no row for server %s in:\n%.6000s", name, dom);
	e = strstr(s, "</tr>");
	cr_assert(e);
	return strndup(s, (size_t)(e - s));
}

/* data-v of the span of class cls ("dur p50") in row. */
static void span_v(const char *row, const char *cls, char *v, size_t n)
{
	char key[64];
	const char *s, *e;

	snprintf(key, sizeof(key), "class=\"%s\" data-v=\"", cls);
	s = strstr(row, key);
	cr_assert(s, "no %s in row:\n%s", cls, row);
	s += strlen(key);
	e = strchr(s, '"');
	snprintf(v, n, "%.*s", (int)(e - s), s);
}

/* Server i (name) of the page's DOM: the same percentiles as /stats.json
 * (file json), a p50 that fits the origin's delay, the window's request
 * count and two sparklines with points. */
static void check_server_row(const char *dom, const char *json, int i, const char *name)
{
	char *row = server_row(dom, name), v[4][32], expr[1024], want[256], *out;
	double p50;

	span_v(row, "dur p50", v[0], sizeof(v[0]));
	span_v(row, "dur p99", v[1], sizeof(v[1]));
	span_v(row, "rsp p50", v[2], sizeof(v[2]));
	span_v(row, "rsp p99", v[3], sizeof(v[3]));
	snprintf(expr, sizeof(expr),
		 "s=d[\"backends\"][0][\"servers\"][%d]\nf=lambda x: \"%%.3f\" %% x\n"
		 "print(f(s[\"request_duration_ms\"][\"p50\"]), f(s[\"request_duration_ms\"]"
		 "[\"p99\"]), f(s[\"response_time_ms\"][\"p50\"]), "
		 "f(s[\"response_time_ms\"][\"p99\"]))", i);
	out = json_py(json, expr);
	snprintf(want, sizeof(want), "%s %s %s %s\n", v[0], v[1], v[2], v[3]);
	cr_assert_str_eq(want, out, "server %s: the page shows %s/stats.json says %s", name,
			 want, out);
	free(out);
	p50 = strtod(v[0], NULL);
	if (i == 0)
		cr_assert(p50 >= SLOW_MS && p50 <= 50, "p50 of a %d ms server shown as %g ms",
			  SLOW_MS, p50);
	else
		cr_assert(p50 < 25, "p50 of an immediate server shown as %g ms", p50);
	cr_assert(strstr(row, "title=\"10 in "), "no '10 in' rate title in:\n%s", row);
	cr_assert(strstr(row, "<svg class=\"spark req\""), "no rate sparkline:\n%s", row);
	cr_assert(strstr(row, "<svg class=\"spark p99\""), "no p99 sparkline:\n%s", row);
	cr_assert(strstr(strstr(row, "spark p99"), "<path d=\"M"),
		  "the p99 sparkline has no point:\n%s", row);
	cr_assert(strstr(row, "<td class=\"UP\">UP</td>"), "not UP:\n%s", row);
	free(row);
}

Test(obs, stats_page_shows_the_history_in_chromium)
{
	struct hu_script slow_sc = { .act = HU_ACT_INFO, .delay_ms = SLOW_MS };
	struct hu_script fast_sc = { .act = HU_ACT_INFO };
	struct hu_origin *slow = hu_origin_start(&slow_sc), *fast = hu_origin_start(&fast_sc);
	int web = h_free_port(), refused = cu_reserve_port();
	const char *const names[2] = { "slow", "fast" };
	uint64_t end;
	struct hu_cli c;
	struct h_proxy *p;
	struct h_cbuf b;
	char url[128], *dom, *j = NULL, *out = NULL, path[600];
	const char *fds;
	unsigned long op = 0, acc = 1;

	cr_assert(access(CHROMIUM, X_OK) == 0, "%s is not installed (Debian chromium, in the "
		  "Makefile's DEB_PKGS)", CHROMIUM);
	conf_head(&b, 1, "250ms");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nbalance = roundrobin\n"
		"check = http GET /\ncheck_interval = 100ms\ncheck_fall = 2\n"
		"server = slow 127.0.0.1:%d\nserver = fast 127.0.0.1:%d\n"
		"server = dead 127.0.0.1:%d check\n",
	    web, hu_origin_port(slow), hu_origin_port(fast), refused);
	p = h_proxy_start_text(b.s, web);
	mwait(p, 0, "sluice_server_up{backend=\"app\",server=\"dead\"}");
	hu_cli_open(&c, web);
	for (int i = 0; i < 20; i++)
		get_ok(&c, GET);
	hu_cli_close(&c);
	/* the sampler moves the 20 requests into the history */
	end = h_now_ms() + 10000u * (unsigned)h_slow();
	do {
		free(j);
		free(out);
		h_sleep_ms(200);
		j = get(p, "/stats.json");
		h_write_file("stats.json", j, path, sizeof(path));
		out = json_py(path, "s=d[\"backends\"][0][\"servers\"]\n"
				    "print([x[\"rates\"] and x[\"rates\"][\"requests\"] for x in s])");
	} while (strcmp(out, "[10, 10, 0]\n") && h_now_ms() < end);
	cr_assert_str_eq(out, "[10, 10, 0]\n", "the history never showed 10 requests per server");
	free(out);
	checker("json", j);
	free(j);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats", p->stats_port);
	dom = chromium_dom(url);

	/* the same numbers as /stats.json, from the same history */
	for (int i = 0; i < 2; i++)
		check_server_row(dom, path, i, names[i]);
	cr_assert(strstr(dom, "http-equiv=\"refresh\""), "the page does not refresh itself");
	cr_assert(strstr(dom, "<td class=\"DOWN\">DOWN</td>"), "dead is not DOWN");
	cr_assert(strstr(dom, "app/dead"), "no state change of app/dead:\n%s", strstr(dom, "events"));
	cr_assert(strstr(dom, "L4 refused"), "the DOWN reason is not shown:\n%s",
		  strstr(dom, "events"));
	cr_assert(strstr(dom, "id=\"workers\""), "no workers table");
	fds = strstr(dom, "id=\"fds\"");
	cr_assert(fds, "no fd audit (id=fds)");
	fds = strstr(fds, ">open ");
	cr_assert(fds && sscanf(fds, ">open %lu, accounted %lu", &op, &acc) == 2,
		  "fd audit not readable");
	cr_assert_eq(op, acc, "the page shows open %lu, accounted %lu fds", op, acc);
	cr_assert(strstr(dom, "class=\"audit ok\""), "the fd audit is not shown as OK");
	free(dom);
	h_proxy_finish(p);
}

/* ---- the checker itself ------------------------------------------------------------- */

/* check_obs.py must refuse what Prometheus would mistype or misread, so that
 * the tests above can fail. */
Test(obs, checker_rejects_untyped_and_malformed_expositions)
{
	static const char *const bad[] = {
		/* no TYPE */
		"# HELP sluice_process_open_fds x\nsluice_process_open_fds 1\n",
		/* buckets not cumulative */
		"# HELP sluice_server_check_duration_seconds x\n"
		"# TYPE sluice_server_check_duration_seconds histogram\n"
		"sluice_server_check_duration_seconds_bucket{le=\"1\"} 5\n"
		"sluice_server_check_duration_seconds_bucket{le=\"+Inf\"} 3\n"
		"sluice_server_check_duration_seconds_sum 1\n"
		"sluice_server_check_duration_seconds_count 3\n",
		/* _count differs from +Inf */
		"# HELP sluice_server_check_duration_seconds x\n"
		"# TYPE sluice_server_check_duration_seconds histogram\n"
		"sluice_server_check_duration_seconds_bucket{le=\"1\"} 2\n"
		"sluice_server_check_duration_seconds_bucket{le=\"+Inf\"} 3\n"
		"sluice_server_check_duration_seconds_sum 1\n"
		"sluice_server_check_duration_seconds_count 4\n",
		/* a family the README does not list */
		"# HELP sluice_nowhere_total x\n# TYPE sluice_nowhere_total counter\n"
		"sluice_nowhere_total 1\n",
	};
	char path[600], cmd[2 * PATH_MAX + 1024], *out;
	int st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h_write_file("bad.txt", bad[i], path, sizeof(path));
		snprintf(cmd, sizeof(cmd), PY " '%s/tests/integration/check_obs.py' metrics '%s' "
			 "'%s/README.md' 2>&1", tree(), path, tree());
		out = run(cmd, &st);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1,
			  "check_obs.py accepted bad exposition %zu:\n%s\nit said: %s", i, bad[i],
			  out);
		free(out);
	}
	h_write_file("bad.json", "{\"process\":{\"open_fds\":1}}", path, sizeof(path));
	snprintf(cmd, sizeof(cmd), PY " '%s/tests/integration/check_obs.py' json '%s' "
		 "'%s/README.md' 2>&1", tree(), path, tree());
	out = run(cmd, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "check_obs.py accepted a bare "
		  "/stats.json: %s", out);
	free(out);
}
