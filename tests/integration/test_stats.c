/*
 * The stats listener through the real binary: /metrics is valid Prometheus
 * text with every family the README lists and no duplicate series; its
 * counters follow traffic exactly (sessions, bytes, requests, responses by
 * class, sessions ended by cause, timeouts by kind, request errors by
 * kind), the connection state gauges follow a session through idle,
 * active, half-closed, connecting and queued, histograms are cumulative
 * with _count equal to the +Inf bucket, health checks show as server
 * up/down/maint and results by reason, pooled idle connections and accept
 * pauses are counted; /stats.json is valid JSON agreeing with /metrics;
 * /stats renders in headless Chromium with every server, its state and the
 * fd audit. Every proxy here also ends with the harness's fd audit.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
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

static void st_fini(void)
{
	cu_teardown();
	hu_teardown();
}

TestSuite(stats, .init = h_setup, .fini = st_fini, .timeout = 60);

/* ---- helpers ---------------------------------------------------------------- */

/* [global] and [defaults]; extra_defaults: "key = value" lines that
 * replace the defaults' own or add to them. */
static void conf_head(struct h_cbuf *b, const char *extra_global, const char *extra_defaults)
{
	static const char *const dflt[] = {
		"timeout_connect = 500ms", "timeout_client = 10s", "timeout_server = 10s",
		"timeout_client_fin = 10s", "timeout_server_fin = 10s",
		"timeout_http_request = 5s", "timeout_http_keep_alive = 5s",
	};

	b->len = 0;
	h_cbuf_add(b, "[global]\nworkers = 1\nlog = stderr\ngrace = 300ms\n%s\n[defaults]\n",
	    extra_global ? extra_global : "");
	for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
		size_t k = strcspn(dflt[i], " ");
		const char *x = extra_defaults;
		bool given = false;

		for (; x && *x; x = strchr(x, '\n'), x = x ? x + 1 : NULL)
			if (!strncmp(x, dflt[i], k) && x[k] == ' ')
				given = true;
		if (!given)
			h_cbuf_add(b, "%s\n", dflt[i]);
	}
	h_cbuf_add(b, "%s\n", extra_defaults ? extra_defaults : "");
}

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

static char *metrics(const struct h_proxy *p)
{
	char *body = NULL;
	int st = h_http_get(p->stats_port, "/metrics", &body, NULL, io_to());

	cr_assert_eq(st, 200, "GET /metrics: %s (%d)", st < 0 ? strerror(-st) : "status", st);
	return body;
}

static double mget_v(const char *text, const char *fmt, va_list ap)
{
	char series[512];
	double v = 0;

	vsnprintf(series, sizeof(series), fmt, ap);
	cr_assert(h_metric(text, series, &v), "/metrics has no series %s", series);
	return v;
}

/* The value of a series in text (asserts it is there). */
static double mget(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static double mget(const char *text, const char *fmt, ...)
{
	va_list ap;
	double v;

	va_start(ap, fmt);
	v = mget_v(text, fmt, ap);
	va_end(ap);
	return v;
}

/* The value of a series now. */
static double mnow(const struct h_proxy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static double mnow(const struct h_proxy *p, const char *fmt, ...)
{
	char *t = metrics(p);
	va_list ap;
	double v;

	va_start(ap, fmt);
	v = mget_v(t, fmt, ap);
	va_end(ap);
	free(t);
	return v;
}

/* Polls until the series equals want; returns the last value seen. */
static double mwait(const struct h_proxy *p, double want, int timeout_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static double mwait(const struct h_proxy *p, double want, int timeout_ms, const char *fmt, ...)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms * (uint64_t)h_slow();
	double v;

	for (;;) {
		char *t = metrics(p);
		va_list ap;

		va_start(ap, fmt);
		v = mget_v(t, fmt, ap);
		va_end(ap);
		free(t);
		if (v == want || h_now_ms() >= deadline)
			return v;
		h_sleep_ms(20);
	}
}

#define EXPECT_M(p, want, ...)                                                        \
	do {                                                                           \
		char s_[512];                                                          \
		double v_ = mwait(p, want, 2000, __VA_ARGS__);                         \
		snprintf(s_, sizeof(s_), __VA_ARGS__);                                 \
		cr_assert(v_ == (want), "%s is %g, expected %g", s_, v_, (double)(want)); \
	} while (0)

static void get_ok(struct hu_cli *c, struct hu_rsp *r, const char *path)
{
	char req[256];
	int rc;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	cr_assert_eq(hu_cli_send(c, req), 0);
	rc = hu_read_rsp(c, r, false, io_to());
	cr_assert_eq(rc, 0, "GET %s: %s", path, strerror(-rc));
}

static int tcp_connect(const struct h_proxy *p)
{
	int fd = h_connect(p->port, io_to());

	cr_assert(fd >= 0, "connect to sluice: %s", strerror(-fd));
	return fd;
}

/* ---- Prometheus text format --------------------------------------------------- */

static bool name_char(int c, bool first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Checks one sample line; returns the length of its series key (name and
 * labels), or 0 with why set. */
static size_t prom_line(const char *l, size_t n, const char **why)
{
	size_t i = 0, key;
	char num[64], *end;

	if (!n || !name_char((unsigned char)l[0], true))
		return *why = "bad metric name start", 0;
	while (i < n && name_char((unsigned char)l[i], false))
		i++;
	if (i < n && l[i] == '{') {
		i++;
		while (i < n && l[i] != '}') {
			if (!name_char((unsigned char)l[i], true))
				return *why = "bad label name", 0;
			while (i < n && name_char((unsigned char)l[i], false))
				i++;
			if (i + 1 >= n || l[i] != '=' || l[i + 1] != '"')
				return *why = "label without =\"", 0;
			i += 2;
			while (i < n && l[i] != '"') {
				if (l[i] == '\\') {
					if (i + 1 >= n || !strchr("\\\"n", l[i + 1]))
						return *why = "bad escape in a label value", 0;
					i++;
				}
				i++;
			}
			if (i >= n)
				return *why = "unterminated label value", 0;
			i++;
			if (i < n && l[i] == ',')
				i++;
			else if (i < n && l[i] != '}')
				return *why = "labels not separated by ','", 0;
		}
		if (i >= n)
			return *why = "unterminated label set", 0;
		i++;
	}
	key = i;
	if (i >= n || l[i] != ' ')
		return *why = "no single space before the value", 0;
	i++;
	if (n - i >= sizeof(num) || i >= n)
		return *why = "bad value", 0;
	memcpy(num, l + i, n - i);
	num[n - i] = 0;
	end = strchr(num, ' ');
	if (end) { /* optional timestamp */
		char *e2;

		*end = 0;
		strtoll(end + 1, &e2, 10);
		if (*e2 || e2 == end + 1)
			return *why = "bad timestamp", 0;
	}
	if (strcmp(num, "+Inf") && strcmp(num, "-Inf") && strcmp(num, "NaN")) {
		strtod(num, &end);
		if (*end || end == num || isalpha((unsigned char)num[0]))
			return *why = "value is not a float", 0;
	}
	return key;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts text is valid Prometheus text without duplicate series; returns
 * the number of samples. */
static int prom_validate(const char *text)
{
	char **keys = NULL;
	size_t nkeys = 0, cap = 0;
	const char *l = text;
	int lineno = 0;

	cr_assert(text[0], "/metrics is empty");
	cr_assert(text[strlen(text) - 1] == '\n', "/metrics does not end with a newline");
	while (*l) {
		const char *e = strchr(l, '\n');
		size_t n = (size_t)(e - l), k;
		const char *why = NULL;

		lineno++;
		if (n && l[0] == '#') {
			cr_assert(!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7) ||
				  (n > 1 && l[1] == ' '),
				  "/metrics line %d: bad comment: %.*s", lineno, (int)n, l);
		} else {
			cr_assert(n, "/metrics line %d is empty", lineno);
			k = prom_line(l, n, &why);
			cr_assert(k, "/metrics line %d: %s: %.*s", lineno, why, (int)n, l);
			if (nkeys == cap) {
				cap = cap ? cap * 2 : 1024;
				keys = realloc(keys, cap * sizeof(*keys));
				cr_assert(keys);
			}
			keys[nkeys++] = strndup(l, k);
		}
		l = e + 1;
	}
	qsort(keys, nkeys, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < nkeys; i++)
		cr_assert(strcmp(keys[i - 1], keys[i]), "/metrics: series %s appears twice",
			  keys[i]);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	return (int)nkeys;
}

/* ---- histograms ------------------------------------------------------------- */

/* For every series NAME_bucket{labels,le="..."}: buckets in le order are
 * non-decreasing, the last is le="+Inf" and NAME_count{labels} equals it.
 * Returns the number of histograms checked. */
static int check_histograms(const char *text)
{
	char cur[512] = "", prev_le[64] = "";
	double prev = -1, prev_bound = -1;
	int nhist = 0;
	const char *l = text;

	while (*l) {
		const char *e = strchr(l, '\n'), *b = strstr(l, "_bucket{"), *le;
		char key[512], count[600];
		double v, bound;

		if (!b || b > e) {
			l = e + 1;
			continue;
		}
		le = strstr(l, "le=\"");
		cr_assert(le && le < e, "bucket without le: %.*s", (int)(e - l), l);
		/* the histogram: name and labels without le */
		snprintf(key, sizeof(key), "%.*s", (int)(le - l), l);
		v = strtod(strchr(le + 4, ' ') + 1, NULL);
		bound = !strncmp(le + 4, "+Inf\"", 5) ? INFINITY : strtod(le + 4, NULL);
		if (strcmp(key, cur)) {
			cr_assert(!cur[0] || !strcmp(prev_le, "+Inf"),
				  "histogram %s does not end with le=\"+Inf\"", cur);
			snprintf(cur, sizeof(cur), "%s", key);
			prev = -1;
			prev_bound = -INFINITY;
			nhist++;
		}
		cr_assert(bound > prev_bound, "%s: le bounds out of order at %.*s", cur,
			  (int)(e - l), l);
		cr_assert(v >= prev, "%s: bucket le=%g holds %g, less than the one before (%g)",
			  cur, bound, v, prev);
		prev = v;
		prev_bound = bound;
		snprintf(prev_le, sizeof(prev_le), "%s", isinf(bound) ? "+Inf" : "x");
		if (isinf(bound)) {
			/* NAME_count{labels}: key is "NAME_bucket{labels," */
			const char *br = strstr(key, "_bucket{");
			size_t kl = strlen(key);
			double c;

			snprintf(count, sizeof(count), "%.*s_count{%.*s}", (int)(br - key), key,
				 (int)(kl - (size_t)(br + 8 - key) - (key[kl - 1] == ',')), br + 8);
			if (!strcmp(count + strlen(count) - 2, "{}"))
				count[strlen(count) - 2] = 0;
			cr_assert(h_metric(text, count, &c), "no %s for its +Inf bucket", count);
			cr_assert(c == v, "%s = %g but its +Inf bucket holds %g", count, c, v);
		}
		l = e + 1;
	}
	cr_assert(!cur[0] || !strcmp(prev_le, "+Inf"), "histogram %s does not end with +Inf",
		  cur);
	return nhist;
}

/* ---- the tests ---------------------------------------------------------------- */

static const char *const kinds[] = { "connect", "client", "server", "client_fin",
				     "server_fin", "http_request", "http_keep_alive", "queue",
				     "check" };
static const char *const causes[] = { "normal", "client_error", "server_error",
				      "connect_failed", "no_server", "timeout", "stopping",
				      "resource", "limit" };
static const char *const states[] = { "active", "idle", "client_half_closed",
				      "server_half_closed", "connecting", "queued" };
static const char *const req_errs[] = { "bad_request", "method_not_allowed",
					"request_timeout", "too_many_requests",
					"header_too_large", "other" };
static const char *const reasons[] = { "L4_ok", "L7_ok", "L4_refused", "L4_reset",
				       "L4_timeout", "L4_error", "L7_timeout",
				       "L7_bad_response", "L7_bad_status" };

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every family of core/stats_render.c for frontend fe, backend be, server sv. */
static void expect_families(const char *t, const char *fe, const char *be, const char *sv)
{
	static const char *const fe_plain[] = {
		"sessions_current", "sessions_total", "bytes_in_total", "bytes_out_total",
		"http_requests_total", "refused_per_source_total" };
	static const char *const be_plain[] = {
		"sessions_total", "http_requests_total", "bytes_in_total", "bytes_out_total",
		"connect_failures_total", "queued" };
	static const char *const sv_plain[] = {
		"up", "maint", "sessions_current", "sessions_total", "bytes_in_total",
		"bytes_out_total", "connect_failures_total", "pool_idle_connections" };
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };

	mget(t, "sluice_process_open_fds");
	mget(t, "sluice_process_accounted_fds");
	mget(t, "sluice_process_sessions_current");
	mget(t, "sluice_accept_pauses_total{reason=\"maxconn\"}");
	mget(t, "sluice_accept_pauses_total{reason=\"emfile\"}");
	mget(t, "sluice_log_lines_total");
	mget(t, "sluice_log_dropped_total");
	for (int i = 0; i < N(fe_plain); i++)
		mget(t, "sluice_frontend_%s{frontend=\"%s\"}", fe_plain[i], fe);
	for (int i = 0; i < N(classes); i++)
		mget(t, "sluice_frontend_http_responses_total{frontend=\"%s\",class=\"%s\"}", fe,
		     classes[i]);
	for (int i = 0; i < N(states); i++)
		mget(t, "sluice_frontend_connections{frontend=\"%s\",state=\"%s\"}", fe, states[i]);
	for (int i = 0; i < N(kinds); i++) {
		mget(t, "sluice_frontend_timeouts_total{frontend=\"%s\",kind=\"%s\"}", fe, kinds[i]);
		mget(t, "sluice_backend_timeouts_total{backend=\"%s\",kind=\"%s\"}", be, kinds[i]);
	}
	for (int i = 0; i < N(causes); i++) {
		mget(t, "sluice_frontend_sessions_ended_total{frontend=\"%s\",cause=\"%s\"}", fe,
		     causes[i]);
		mget(t, "sluice_frontend_connection_lifetime_seconds_count{frontend=\"%s\","
		     "cause=\"%s\"}", fe, causes[i]);
		mget(t, "sluice_frontend_connection_lifetime_seconds_sum{frontend=\"%s\","
		     "cause=\"%s\"}", fe, causes[i]);
		mget(t, "sluice_frontend_connection_lifetime_seconds_bucket{frontend=\"%s\","
		     "cause=\"%s\",le=\"+Inf\"}", fe, causes[i]);
		mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"%s\","
		     "cause=\"%s\"}", fe, causes[i]);
		mget(t, "sluice_frontend_requests_per_connection_sum{frontend=\"%s\","
		     "cause=\"%s\"}", fe, causes[i]);
		mget(t, "sluice_frontend_requests_per_connection_bucket{frontend=\"%s\","
		     "cause=\"%s\",le=\"+Inf\"}", fe, causes[i]);
	}
	for (int i = 0; i < N(req_errs); i++)
		mget(t, "sluice_frontend_request_errors_total{frontend=\"%s\",kind=\"%s\"}", fe,
		     req_errs[i]);
	for (int i = 0; i < N(be_plain); i++)
		mget(t, "sluice_backend_%s{backend=\"%s\"}", be_plain[i], be);
	for (int st = 502; st <= 504; st++)
		mget(t, "sluice_backend_responses_generated_total{backend=\"%s\",status=\"%d\"}", be,
		     st);
	for (int i = 0; i < N(sv_plain); i++)
		mget(t, "sluice_server_%s{backend=\"%s\",server=\"%s\"}", sv_plain[i], be, sv);
	for (int i = 0; i < N(reasons); i++)
		mget(t, "sluice_server_check_results_total{backend=\"%s\",server=\"%s\","
		     "reason=\"%s\"}", be, sv, reasons[i]);
	mget(t, "sluice_server_check_duration_seconds_count{backend=\"%s\",server=\"%s\"}", be, sv);
	mget(t, "sluice_server_check_duration_seconds_sum{backend=\"%s\",server=\"%s\"}", be, sv);
	mget(t, "sluice_server_check_duration_seconds_bucket{backend=\"%s\",server=\"%s\","
	     "le=\"+Inf\"}", be, sv);
}

Test(stats, metrics_are_valid_prometheus_text_with_every_family)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int web = h_free_port(), tport = h_free_port(), n, fd;
	struct h_cbuf b;
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	struct h_rx rx;
	char *t;

	conf_head(&b, NULL, NULL);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[frontend tf]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = tb\n\n"
		"[backend app]\nmode = http-server-close\n"
		"server = s1 127.0.0.1:%d\nserver = s2 127.0.0.1:1 disabled\n\n"
		"[backend tb]\nmode = tcp\nserver = e1 127.0.0.1:%d\n",
	    web, tport, hu_origin_port(o), h_origin_port(echo));
	p = h_proxy_start_text(b.s, web);
	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/x");
	hu_cli_close(&c);
	fd = h_connect(tport, io_to());
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_all(fd, "hello", 5, -1, io_to()), 0);
	shutdown(fd, SHUT_WR);
	h_rx_init(&rx);
	h_recv_all(fd, &rx, UINT64_MAX, -1, io_to());
	close(fd);
	h_sleep_ms(100);

	t = metrics(p);
	n = prom_validate(t);
	cr_assert(n > 300, "only %d samples", n);
	expect_families(t, "web", "app", "s1");
	expect_families(t, "tf", "tb", "e1");
	cr_assert_eq(mget(t, "sluice_server_maint{backend=\"app\",server=\"s2\"}"), 1);
	cr_assert_eq(mget(t, "sluice_server_up{backend=\"app\",server=\"s2\"}"), 0);
	cr_assert_eq(mget(t, "sluice_server_up{backend=\"app\",server=\"s1\"}"), 1);
	cr_assert_eq(mget(t, "sluice_server_up{backend=\"tb\",server=\"e1\"}"), 1);
	free(t);
	h_proxy_finish(p);
}

Test(stats, http_counters_follow_traffic_exactly)
{
	/* connections 0 and 2 get 200, connection 1 gets 503 from the server */
	static const struct hu_script odd = { .act = HU_ACT_CL, .status = 503, .len = 10 };
	struct hu_script sc = { .act = HU_ACT_CL, .len = 1000, .seed = 3, .odd = &odd };
	struct hu_origin *o = hu_origin_start(&sc);
	int web = h_free_port();
	uint64_t sent = 0, got = 0;
	struct h_cbuf b;
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	char *t;

	conf_head(&b, NULL, NULL);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n",
	    web, hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	/* fetches of /metrics must count for the stats frontend only */
	for (int i = 0; i < 3; i++)
		free(metrics(p));
	hu_cli_open(&c, p->port);
	for (int i = 0; i < 3; i++) {
		static const char *const reqs[] = { "GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
						    "GET /bb HTTP/1.1\r\nHost: a\r\n\r\n",
						    "GET /ccc HTTP/1.1\r\nHost: a\r\n\r\n" };

		cr_assert_eq(hu_cli_send(&c, reqs[i]), 0);
		sent += strlen(reqs[i]);
		cr_assert_eq(hu_read_rsp(&c, &r, false, io_to()), 0);
		cr_assert_eq(r.status, i == 1 ? 503 : 200);
		got += r.head_len + r.body_len;
	}
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"web\",state=\"idle\"}");
	hu_cli_close(&c);
	EXPECT_M(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"web\",cause=\"normal\"}");
	free(metrics(p));

	t = metrics(p);
	cr_assert_eq(mget(t, "sluice_frontend_sessions_total{frontend=\"web\"}"), 1);
	cr_assert_eq(mget(t, "sluice_frontend_sessions_current{frontend=\"web\"}"), 0);
	cr_assert_eq(mget(t, "sluice_frontend_http_requests_total{frontend=\"web\"}"), 3);
	cr_assert_eq(mget(t, "sluice_frontend_bytes_in_total{frontend=\"web\"}"), (double)sent,
		     "bytes_in %g, the client sent %llu",
		     mget(t, "sluice_frontend_bytes_in_total{frontend=\"web\"}"),
		     (unsigned long long)sent);
	cr_assert_eq(mget(t, "sluice_frontend_bytes_out_total{frontend=\"web\"}"), (double)got,
		     "bytes_out %g, the client received %llu",
		     mget(t, "sluice_frontend_bytes_out_total{frontend=\"web\"}"),
		     (unsigned long long)got);
	cr_assert_eq(mget(t, "sluice_frontend_http_responses_total{frontend=\"web\","
			  "class=\"2xx\"}"), 2);
	cr_assert_eq(mget(t, "sluice_frontend_http_responses_total{frontend=\"web\","
			  "class=\"5xx\"}"), 1);
	cr_assert_eq(mget(t, "sluice_frontend_http_responses_total{frontend=\"web\","
			  "class=\"4xx\"}"), 0);
	/* a server's 503 is not one the proxy generated */
	cr_assert_eq(mget(t, "sluice_backend_responses_generated_total{backend=\"app\","
			  "status=\"503\"}"), 0);
	cr_assert_eq(mget(t, "sluice_server_sessions_total{backend=\"app\",server=\"s1\"}"), 3);
	cr_assert_eq(mget(t, "sluice_backend_sessions_total{backend=\"app\"}"), 3);
	cr_assert_eq(mget(t, "sluice_server_bytes_out_total{backend=\"app\",server=\"s1\"}"),
		     (double)hu_origin_bytes(o));
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"web\","
			  "cause=\"normal\"}"), 1);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_sum{frontend=\"web\","
			  "cause=\"normal\"}"), 3);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_bucket{frontend=\"web\","
			  "cause=\"normal\",le=\"2\"}"), 0);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_bucket{frontend=\"web\","
			  "cause=\"normal\",le=\"5\"}"), 1);
	cr_assert_eq(mget(t, "sluice_frontend_connection_lifetime_seconds_count{frontend=\"web\","
			  "cause=\"normal\"}"), 1);
	/* the fetches of /metrics went to the stats frontend alone */
	cr_assert(mget(t, "sluice_frontend_http_requests_total{frontend=\"stats\"}") >= 6);
	cr_assert_eq(mget(t, "sluice_backend_http_requests_total{backend=\"app\"}"), 3,
		     "sluice_backend_http_requests_total{backend=\"app\"} is %g after 3 "
		     "proxied requests and %g /metrics fetches: stats requests are counted for "
		     "the first backend", mget(t, "sluice_backend_http_requests_total{backend=\"app\"}"),
		     mget(t, "sluice_frontend_http_requests_total{frontend=\"stats\"}"));
	free(t);
	h_proxy_finish(p);
}

Test(stats, tcp_counters_follow_traffic_exactly)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	struct h_tcp_conf tc = { .nservers = 1 };
	struct h_proxy *p;
	struct h_sender snd;
	struct h_rx rx;
	char *t;
	int fd;

	tc.server_port[0] = h_origin_port(echo);
	p = h_proxy_start_tcp(&tc);
	fd = tcp_connect(p);
	h_sender_start(&snd, fd, 300000, 7, true);
	h_rx_init(&rx);
	cr_assert_eq(h_recv_all(fd, &rx, UINT64_MAX, -1, io_to()), 0);
	cr_assert_eq(h_sender_join(&snd), 0);
	close(fd);
	cr_assert_eq(rx.bytes, 300000);
	EXPECT_M(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"f\",cause=\"normal\"}");
	t = metrics(p);
	cr_assert_eq(mget(t, "sluice_frontend_sessions_total{frontend=\"f\"}"), 1);
	cr_assert_eq(mget(t, "sluice_frontend_sessions_current{frontend=\"f\"}"), 0);
	cr_assert_eq(mget(t, "sluice_frontend_bytes_in_total{frontend=\"f\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_frontend_bytes_out_total{frontend=\"f\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_backend_bytes_in_total{backend=\"b\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_backend_bytes_out_total{backend=\"b\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_server_bytes_in_total{backend=\"b\",server=\"s1\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_server_bytes_out_total{backend=\"b\",server=\"s1\"}"), 300000);
	cr_assert_eq(mget(t, "sluice_server_sessions_total{backend=\"b\",server=\"s1\"}"), 1);
	cr_assert_eq(mget(t, "sluice_server_sessions_current{backend=\"b\",server=\"s1\"}"), 0);
	cr_assert_eq(mget(t, "sluice_frontend_http_requests_total{frontend=\"f\"}"), 0);
	cr_assert_eq(mget(t, "sluice_frontend_connection_lifetime_seconds_count{frontend=\"f\","
			  "cause=\"normal\"}"), 1);
	/* tcp sessions carry no requests-per-connection sample */
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"f\","
			  "cause=\"normal\"}"), 0);
	free(t);
	h_proxy_finish(p);
}

/* ---- timeouts by kind ------------------------------------------------------- */

/* Waits for timeout `kind` to be counted once on frontend fe, asserts the
 * session ended with `cause`, and that no other kind was counted. */
static void expect_one_timeout(const struct h_proxy *p, const char *fe, const char *be,
			       const char *kind, const char *cause)
{
	char *t;

	EXPECT_M(p, 1, "sluice_frontend_timeouts_total{frontend=\"%s\",kind=\"%s\"}", fe, kind);
	EXPECT_M(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"%s\",cause=\"%s\"}", fe,
		 cause);
	t = metrics(p);
	for (int i = 0; i < N(kinds); i++)
		if (strcmp(kinds[i], kind))
			cr_assert_eq(mget(t, "sluice_frontend_timeouts_total{frontend=\"%s\","
					  "kind=\"%s\"}", fe, kinds[i]), 0,
				     "timeout %s counted too", kinds[i]);
	/* the backend counts server-side kinds (and, as rendered, every kind
	 * of the sessions it served) */
	if (be)
		cr_assert_eq(mget(t, "sluice_backend_timeouts_total{backend=\"%s\",kind=\"%s\"}",
				  be, kind), 1);
	free(t);
}

static struct h_proxy *tcp_proxy(int port, const char *tcli, const char *tsrv,
				 const char *cfin, const char *sfin, const char *tconn)
{
	struct h_tcp_conf tc = { .nservers = 1, .timeout_client = tcli, .timeout_server = tsrv,
				 .timeout_client_fin = cfin, .timeout_server_fin = sfin,
				 .timeout_connect = tconn };

	tc.server_port[0] = port;
	return h_proxy_start_tcp(&tc);
}

Test(stats, timeout_client_counted)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = tcp_proxy(h_origin_port(o), "300ms", "10s", NULL, NULL, NULL);
	int fd = tcp_connect(p);

	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	expect_one_timeout(p, "f", "b", "client", "timeout");
	h_proxy_finish(p);
}

Test(stats, timeout_server_counted)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = tcp_proxy(h_origin_port(o), "10s", "300ms", NULL, NULL, NULL);
	int fd = tcp_connect(p);

	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	expect_one_timeout(p, "f", "b", "server", "timeout");
	h_proxy_finish(p);
}

Test(stats, timeout_connect_counted)
{
	struct h_blackhole bh;
	struct h_proxy *p;
	int fd, rc;

	h_blackhole_start(&bh);
	p = tcp_proxy(bh.port, NULL, NULL, NULL, NULL, "1s");
	fd = tcp_connect(p);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"f\",state=\"connecting\"}");
	rc = h_wait_closed(fd, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	close(fd);
	/* one server: the one retry goes to it again, then the session ends
	 * as connect_failed after two connect timeouts */
	EXPECT_M(p, 2, "sluice_frontend_timeouts_total{frontend=\"f\",kind=\"connect\"}");
	EXPECT_M(p, 2, "sluice_backend_timeouts_total{backend=\"b\",kind=\"connect\"}");
	EXPECT_M(p, 2, "sluice_backend_connect_failures_total{backend=\"b\"}");
	EXPECT_M(p, 2, "sluice_server_connect_failures_total{backend=\"b\",server=\"s1\"}");
	EXPECT_M(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"f\","
		 "cause=\"connect_failed\"}");
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"f\",state=\"connecting\"}");
	h_proxy_finish(p);
	h_blackhole_stop(&bh);
}

Test(stats, timeout_client_fin_counted)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = tcp_proxy(h_origin_port(o), "10s", "10s", "300ms", "10s", NULL);
	int fd = tcp_connect(p);

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	shutdown(fd, SHUT_WR);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"f\",state=\"client_half_closed\"}");
	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	expect_one_timeout(p, "f", "b", "client_fin", "timeout");
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"f\",state=\"client_half_closed\"}");
	h_proxy_finish(p);
}

static void fin_and_hold(struct h_conn *c)
{
	struct pollfd pfd = { c->stopfd, POLLIN, 0 };

	shutdown(c->fd, SHUT_WR);
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, -1);
	h_conn_publish(c);
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

Test(stats, timeout_server_fin_counted)
{
	struct h_origin_opts oo = { .handler = fin_and_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = tcp_proxy(h_origin_port(o), "10s", "10s", "10s", "300ms", NULL);
	int fd = tcp_connect(p);
	struct h_rx rx;

	h_rx_init(&rx);
	cr_assert_eq(h_recv_all(fd, &rx, UINT64_MAX, -1, io_to()), 0); /* the server's FIN */
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"f\",state=\"server_half_closed\"}");
	expect_one_timeout(p, "f", "b", "server_fin", "timeout");
	cr_assert(h_probe_closed(fd, 1000 * h_slow()), "the client side is still open");
	close(fd);
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"f\",state=\"server_half_closed\"}");
	h_proxy_finish(p);
}

static struct h_proxy *http_proxy(int origin_port, const char *defaults, const char *fe_extra,
				  const char *be_extra, const char *srv_opts)
{
	int web = h_free_port();
	struct h_cbuf b;

	conf_head(&b, NULL, defaults);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n%s\n"
		"[backend app]\nmode = http-server-close\n%sserver = s1 127.0.0.1:%d %s\n",
	    web, fe_extra ? fe_extra : "", be_extra ? be_extra : "", origin_port,
	    srv_opts ? srv_opts : "");
	return h_proxy_start_text(b.s, web);
}

Test(stats, timeout_http_request_counted_with_408)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), "timeout_http_request = 300ms\n",
				       NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, io_to()), 0);
	cr_assert_eq(r.status, 408);
	hu_cli_close(&c);
	/* the 408 is sent and the connection closed normally after it */
	EXPECT_M(p, 1, "sluice_frontend_timeouts_total{frontend=\"web\",kind=\"http_request\"}");
	EXPECT_M(p, 1, "sluice_frontend_request_errors_total{frontend=\"web\","
		 "kind=\"request_timeout\"}");
	EXPECT_M(p, 1, "sluice_frontend_http_responses_total{frontend=\"web\",class=\"4xx\"}");
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	h_proxy_finish(p);
}

Test(stats, timeout_http_keep_alive_counted)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), "timeout_http_keep_alive = 300ms\n",
				       NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;

	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(hu_cli_wait_eof(&c, io_to(), &extra), 0);
	cr_assert_eq(extra, 0);
	hu_cli_close(&c);
	expect_one_timeout(p, "web", NULL, "http_keep_alive", "timeout");
	h_proxy_finish(p);
}

Test(stats, timeout_client_during_upload_counted)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), "timeout_client = 300ms\n", NULL, NULL,
				       NULL);
	struct hu_cli c;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
				 "only part"), 0);
	rc = hu_cli_wait_eof(&c, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET, "%s", strerror(-rc));
	hu_cli_close(&c);
	expect_one_timeout(p, "web", "app", "client", "timeout");
	h_proxy_finish(p);
}

Test(stats, timeout_server_counted_with_504)
{
	struct hu_script sc = { .act = HU_ACT_NEVER };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), "timeout_server = 300ms\n", NULL, NULL,
				       NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/slow");
	cr_assert_eq(r.status, 504);
	hu_cli_close(&c);
	EXPECT_M(p, 1, "sluice_frontend_timeouts_total{frontend=\"web\",kind=\"server\"}");
	EXPECT_M(p, 1, "sluice_backend_timeouts_total{backend=\"app\",kind=\"server\"}");
	EXPECT_M(p, 1, "sluice_backend_responses_generated_total{backend=\"app\",status=\"504\"}");
	EXPECT_M(p, 1, "sluice_frontend_http_responses_total{frontend=\"web\",class=\"5xx\"}");
	h_proxy_finish(p);
}

Test(stats, timeout_queue_counted_with_503_and_queued_gauge)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 1500 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), "timeout_queue = 600ms\n", NULL, NULL,
				       "maxconn=1");
	struct hu_cli a, b;
	struct hu_rsp r;

	hu_cli_open(&a, p->port);
	cr_assert_eq(hu_cli_send(&a, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_origin_wait_accepted(o, 1, io_to()), 1);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"web\",state=\"active\"}");
	hu_cli_open(&b, p->port);
	cr_assert_eq(hu_cli_send(&b, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"web\",state=\"queued\"}");
	EXPECT_M(p, 1, "sluice_backend_queued{backend=\"app\"}");
	cr_assert_eq(hu_read_rsp(&b, &r, false, io_to()), 0);
	cr_assert_eq(r.status, 503);
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"web\",state=\"queued\"}");
	EXPECT_M(p, 0, "sluice_backend_queued{backend=\"app\"}");
	EXPECT_M(p, 1, "sluice_frontend_timeouts_total{frontend=\"web\",kind=\"queue\"}");
	EXPECT_M(p, 1, "sluice_backend_timeouts_total{backend=\"app\",kind=\"queue\"}");
	EXPECT_M(p, 1, "sluice_backend_responses_generated_total{backend=\"app\",status=\"503\"}");
	cr_assert_eq(hu_read_rsp(&a, &r, false, io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_cli_close(&a);
	hu_cli_close(&b);
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"web\",state=\"active\"}");
	h_proxy_finish(p);
}

/* ---- request errors by kind -------------------------------------------------- */

static int one_request(const struct h_proxy *p, const char *req)
{
	struct hu_cli c;
	struct hu_rsp r;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, req), 0);
	rc = hu_read_rsp(&c, &r, false, io_to());
	cr_assert_eq(rc, 0, "%s: %s", req, strerror(-rc));
	hu_cli_close(&c);
	/* gone before the next one (maxconn_per_source = 1) */
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	return r.status;
}

Test(stats, request_errors_counted_by_kind)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), NULL,
				       "maxconn_per_source = 1\nmax_header_size = 1k\n", NULL,
				       NULL);
	char big[2048];
	struct hu_cli hold;
	struct hu_rsp r;
	int rc;

	cr_assert_eq(one_request(p, "GET / HTTP/1.1\r\n\r\n"), 400); /* no Host */
	cr_assert_eq(one_request(p, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"), 400);
	cr_assert_eq(one_request(p, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 405);
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %01500d\r\n\r\n", 0);
	cr_assert_eq(one_request(p, big), 431);
	/* 429: a second connection from 127.0.0.1 while one is open */
	hu_cli_open(&hold, p->port);
	EXPECT_M(p, 1, "sluice_frontend_sessions_current{frontend=\"web\"}");
	{
		struct hu_cli c2;

		hu_cli_open(&c2, p->port);
		rc = hu_read_rsp(&c2, &r, false, io_to());
		cr_assert_eq(rc, 0, "over maxconn_per_source: %s", strerror(-rc));
		cr_assert_eq(r.status, 429);
		hu_cli_close(&c2);
	}
	hu_cli_close(&hold);
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	EXPECT_M(p, 2, "sluice_frontend_request_errors_total{frontend=\"web\",kind=\"bad_request\"}");
	EXPECT_M(p, 1, "sluice_frontend_request_errors_total{frontend=\"web\","
		 "kind=\"method_not_allowed\"}");
	EXPECT_M(p, 1, "sluice_frontend_request_errors_total{frontend=\"web\","
		 "kind=\"header_too_large\"}");
	EXPECT_M(p, 1, "sluice_frontend_request_errors_total{frontend=\"web\","
		 "kind=\"too_many_requests\"}");
	EXPECT_M(p, 1, "sluice_frontend_refused_per_source_total{frontend=\"web\"}");
	EXPECT_M(p, 0, "sluice_frontend_request_errors_total{frontend=\"web\","
		 "kind=\"request_timeout\"}");
	EXPECT_M(p, 5, "sluice_frontend_http_responses_total{frontend=\"web\",class=\"4xx\"}");
	EXPECT_M(p, 0, "sluice_server_sessions_total{backend=\"app\",server=\"s1\"}");
	cr_assert_eq(hu_origin_accepted(o), 0);
	/* the stats service's own 404 is an "other" error of frontend stats */
	cr_assert_eq(h_http_get(p->stats_port, "/nope", NULL, NULL, io_to()), 404);
	EXPECT_M(p, 1, "sluice_frontend_request_errors_total{frontend=\"stats\",kind=\"other\"}");
	h_proxy_finish(p);
}

/* ---- connection state gauges -------------------------------------------------- */

Test(stats, gauges_follow_a_keep_alive_client)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 600 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = http_proxy(hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	EXPECT_M(p, 1, "sluice_frontend_sessions_current{frontend=\"web\"}");
	EXPECT_M(p, 1, "sluice_process_sessions_current"); /* the client; stats fetches count toward no limit */
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_origin_wait_accepted(o, 1, io_to()), 1);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"web\",state=\"active\"}");
	EXPECT_M(p, 1, "sluice_server_sessions_current{backend=\"app\",server=\"s1\"}");
	cr_assert_eq(hu_read_rsp(&c, &r, false, io_to()), 0);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"web\",state=\"idle\"}");
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"web\",state=\"active\"}");
	EXPECT_M(p, 0, "sluice_server_sessions_current{backend=\"app\",server=\"s1\"}");
	hu_cli_close(&c);
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"web\",state=\"idle\"}");
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	h_proxy_finish(p);
}

Test(stats, gauge_server_half_closed_in_tcp)
{
	struct h_origin_opts oo = { .handler = fin_and_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct h_proxy *p = tcp_proxy(h_origin_port(o), "10s", "10s", "10s", "10s", NULL);
	int fd = tcp_connect(p);
	struct h_rx rx;

	h_rx_init(&rx);
	cr_assert_eq(h_recv_all(fd, &rx, UINT64_MAX, -1, io_to()), 0);
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"f\",state=\"server_half_closed\"}");
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"f\",state=\"active\"}");
	shutdown(fd, SHUT_WR);
	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	EXPECT_M(p, 0, "sluice_frontend_connections{frontend=\"f\",state=\"server_half_closed\"}");
	EXPECT_M(p, 1, "sluice_frontend_sessions_ended_total{frontend=\"f\",cause=\"normal\"}");
	h_proxy_finish(p);
}

/* ---- histograms ---------------------------------------------------------------- */

Test(stats, histograms_are_cumulative_and_count_matches_inf)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct cu_target *ok = cu_target_start(CU_HTTP, 200, 0);
	int web = h_free_port();
	struct h_proxy *p;
	struct h_cbuf b;
	char *t;
	int n;

	conf_head(&b, NULL, "timeout_http_keep_alive = 200ms\n");
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\ncheck = http GET /health\n"
		"check_interval = 50ms\nserver = s1 127.0.0.1:%d check check_port=%d\n",
	    web, hu_origin_port(o), cu_target_port(ok));
	p = h_proxy_start_text(b.s, web);
	/* connections with 1, 2, 4 and 12 requests; some end by timeout */
	for (int k = 0; k < 4; k++) {
		static const int reqs[] = { 1, 2, 4, 12 };
		struct hu_cli c;
		struct hu_rsp r;

		hu_cli_open(&c, p->port);
		for (int i = 0; i < reqs[k]; i++)
			get_ok(&c, &r, "/");
		if (k & 1)
			hu_cli_wait_eof(&c, io_to(), NULL);
		hu_cli_close(&c);
	}
	EXPECT_M(p, 4, "sluice_frontend_sessions_total{frontend=\"web\"}");
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	cr_assert(cu_target_wait_answered(ok, 5, io_to()) >= 5);
	t = metrics(p);
	n = check_histograms(t);
	/* 9 causes x 2 histograms x (web + stats) + 1 check histogram */
	cr_assert(n >= 9 * 2 * 2 + 1, "only %d histograms", n);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"web\","
			  "cause=\"normal\"}") +
		     mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"web\","
			  "cause=\"timeout\"}"), 4);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_sum{frontend=\"web\","
			  "cause=\"normal\"}") +
		     mget(t, "sluice_frontend_requests_per_connection_sum{frontend=\"web\","
			  "cause=\"timeout\"}"), 19);
	cr_assert_eq(mget(t, "sluice_frontend_requests_per_connection_count{frontend=\"web\","
			  "cause=\"timeout\"}"), 2);
	cr_assert(mget(t, "sluice_server_check_duration_seconds_count{backend=\"app\","
		       "server=\"s1\"}") >= 5);
	free(t);
	h_proxy_finish(p);
}

/* ---- health checks ---------------------------------------------------------------- */

Test(stats, server_states_and_check_results_by_reason)
{
	enum { OK, REFUSED, RST, HOLE, SILENT, GARBAGE, BAD, NSRV };
	static const char *const want[NSRV] = {
		[OK] = "L7_ok", [REFUSED] = "L4_refused", [RST] = "L4_reset",
		[HOLE] = "L4_timeout", [SILENT] = "L7_timeout", [GARBAGE] = "L7_bad_response",
		[BAD] = "L7_bad_status",
	};
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	struct h_blackhole bh;
	int port[NSRV], fe = h_free_port();
	struct h_proxy *p;
	struct h_cbuf b;
	char *t;

	h_blackhole_start(&bh);
	port[OK] = cu_target_port(cu_target_start(CU_HTTP, 200, 0));
	port[REFUSED] = cu_reserve_port();
	port[RST] = cu_target_port(cu_target_start(CU_RST, 0, 0));
	port[HOLE] = bh.port;
	port[SILENT] = cu_target_port(cu_target_start(CU_SILENT, 0, 0));
	port[GARBAGE] = cu_target_port(cu_target_start(CU_GARBAGE, 0, 0));
	port[BAD] = cu_target_port(cu_target_start(CU_HTTP, 500, 0));
	conf_head(&b, NULL, "timeout_check = 200ms\n");
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
		"[backend b]\nmode = tcp\ncheck = http GET /health\ncheck_interval = 100ms\n"
		"check_fall = 2\ncheck_rise = 2\n", fe);
	for (int i = 0; i < NSRV; i++)
		h_cbuf_add(&b, "server = s%d 127.0.0.1:%d check check_port=%d\n", i, h_origin_port(echo),
		    port[i]);
	h_cbuf_add(&b, "server = m 127.0.0.1:%d disabled\n", h_origin_port(echo));
	p = h_proxy_start_text(b.s, fe);
	for (int i = 1; i < NSRV; i++)
		EXPECT_M(p, 0, "sluice_server_up{backend=\"b\",server=\"s%d\"}", i);
	t = metrics(p);
	cr_assert_eq(mget(t, "sluice_server_up{backend=\"b\",server=\"s0\"}"), 1);
	cr_assert_eq(mget(t, "sluice_server_maint{backend=\"b\",server=\"m\"}"), 1);
	cr_assert_eq(mget(t, "sluice_server_up{backend=\"b\",server=\"m\"}"), 0);
	for (int i = 0; i < NSRV; i++) {
		double total = 0;

		cr_assert(mget(t, "sluice_server_check_results_total{backend=\"b\",server=\"s%d\","
			       "reason=\"%s\"}", i, want[i]) >= (i == OK ? 1 : 2),
			  "server s%d: no %s check result counted", i, want[i]);
		for (int k = 0; k < N(reasons); k++)
			total += mget(t, "sluice_server_check_results_total{backend=\"b\","
				      "server=\"s%d\",reason=\"%s\"}", i, reasons[k]);
		cr_assert_eq(total, mget(t, "sluice_server_check_results_total{backend=\"b\","
					 "server=\"s%d\",reason=\"%s\"}", i, want[i]),
			     "server s%d: results of other reasons than %s", i, want[i]);
		/* every check is one duration sample (a check in flight may be
		 * counted in one and not yet the other: allow one) */
		cr_assert(fabs(mget(t, "sluice_server_check_duration_seconds_count{backend=\"b\","
				    "server=\"s%d\"}", i) - total) <= 1,
			  "server s%d: %g check durations for %g results", i,
			  mget(t, "sluice_server_check_duration_seconds_count{backend=\"b\","
			       "server=\"s%d\"}", i), total);
	}
	cr_assert_eq(mget(t, "sluice_server_check_results_total{backend=\"b\",server=\"m\","
			  "reason=\"L4_refused\"}"), 0);
	/* timeouts of checks: counted where? (kind "check" exists per backend) */
	free(t);
	h_proxy_finish(p);
	h_blackhole_stop(&bh);
}

/* ---- pools, accept pauses ------------------------------------------------------ */

Test(stats, pool_idle_connections_per_server)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = 5 };
	struct hu_origin *o1 = hu_origin_start(&sc), *o2 = hu_origin_start(&sc);
	int web = h_free_port();
	struct h_proxy *p;
	struct h_cbuf b;
	struct hu_cli c;
	struct hu_rsp r;

	conf_head(&b, NULL, NULL);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-keep-alive\npool_idle_timeout = 1s\n"
		"server = s1 127.0.0.1:%d\nserver = s2 127.0.0.1:%d\n",
	    web, hu_origin_port(o1), hu_origin_port(o2));
	p = h_proxy_start_text(b.s, web);
	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/1"); /* s1 */
	cr_assert_eq(r.status, 200);
	EXPECT_M(p, 1, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s1\"}");
	EXPECT_M(p, 0, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s2\"}");
	get_ok(&c, &r, "/2"); /* s2 */
	EXPECT_M(p, 1, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s2\"}");
	EXPECT_M(p, 1, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s1\"}");
	hu_cli_close(&c);
	/* pool_idle_timeout empties the pool */
	EXPECT_M(p, 0, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s1\"}");
	EXPECT_M(p, 0, "sluice_server_pool_idle_connections{backend=\"app\",server=\"s2\"}");
	h_proxy_finish(p);
}

Test(stats, accept_pauses_counted_at_global_maxconn)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int fe = h_free_port(), a, c2;
	struct h_proxy *p;
	struct h_cbuf b;
	char buf[8];
	double before;

	conf_head(&b, "maxconn = 1\n", NULL);
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
		"[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n", fe, h_origin_port(echo));
	p = h_proxy_start_text(b.s, fe);
	before = mnow(p, "sluice_accept_pauses_total{reason=\"maxconn\"}");
	a = h_connect(fe, io_to());
	cr_assert(a >= 0);
	cr_assert_eq(h_send_all(a, "a", 1, -1, io_to()), 0);
	cr_assert_eq(h_recv_exact(a, buf, 1, io_to()), 0);
	c2 = h_connect(fe, io_to()); /* waits in the backlog */
	cr_assert(c2 >= 0);
	cr_assert_eq(h_send_all(c2, "b", 1, -1, io_to()), 0);
	cr_assert_eq(h_recv_exact(c2, buf, 1, 300), -ETIMEDOUT,
		     "a second client was served at maxconn = 1");
	close(a);
	cr_assert_eq(h_recv_exact(c2, buf, 1, io_to()), 0, "the second client was never served");
	close(c2);
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"f\"}");
	/* (every fetch of /metrics is a connection too, and pauses as well) */
	cr_assert(mnow(p, "sluice_accept_pauses_total{reason=\"maxconn\"}") >= before + 1,
		  "no accept pause counted at maxconn");
	h_proxy_finish(p);
}

Test(stats, stats_served_while_at_global_maxconn)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int fe = h_free_port(), a, st;
	struct h_proxy *p;
	struct h_cbuf b;
	char buf[8], *body = NULL;

	conf_head(&b, "maxconn = 1\n", NULL);
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
		"[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n", fe, h_origin_port(echo));
	p = h_proxy_start_text(b.s, fe);
	a = h_connect(fe, io_to());
	cr_assert(a >= 0);
	cr_assert_eq(h_send_all(a, "a", 1, -1, io_to()), 0);
	cr_assert_eq(h_recv_exact(a, buf, 1, io_to()), 0);
	/* the proxy is full: the stats page is what an operator opens now */
	st = h_http_get(p->stats_port, "/metrics", &body, NULL, 2000 * h_slow());
	close(a);
	cr_assert_eq(st, 200, "GET /metrics while at global maxconn: %s (%d): the stats "
		     "listener is paused with the traffic listeners", st < 0 ? strerror(-st) :
		     "status", st);
	cr_assert_eq(mget(body, "sluice_frontend_sessions_current{frontend=\"f\"}"), 1);
	free(body);
	h_proxy_finish(p);
}

/* ---- /stats.json ------------------------------------------------------------------ */

/* Runs python3 on the JSON in file path with a script printing one value per
 * line; returns its output (malloc'd). */
static char *py_json(const char *path, const char *expr)
{
	char cmd[4096], *out = calloc(1, 8192);
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys\nd=json.load(open(sys.argv[1]))\n"
		 "%s' '%s' 2>&1", expr, path);
	f = popen(cmd, "r");
	cr_assert(f && out);
	n = fread(out, 1, 8191, f);
	out[n] = 0;
	st = pclose(f);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 on /stats.json failed:\n%s",
		  out);
	return out;
}

Test(stats, stats_json_is_valid_and_agrees_with_metrics)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int web = h_free_port(), st;
	struct h_proxy *p;
	struct h_cbuf b;
	struct hu_cli c;
	struct hu_rsp r;
	char *json = NULL, *t, path[1200], *out, want[2048];
	size_t len;

	conf_head(&b, NULL, NULL);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n"
		"server = s2 127.0.0.1:1 disabled\nserver = s3 127.0.0.1:%d backup\n",
	    web, hu_origin_port(o), hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/1");
	get_ok(&c, &r, "/2");
	hu_cli_close(&c);
	EXPECT_M(p, 0, "sluice_frontend_sessions_current{frontend=\"web\"}");
	st = h_http_get(p->stats_port, "/stats.json", &json, &len, io_to());
	cr_assert_eq(st, 200);
	t = metrics(p);
	h_write_file("stats.json", json, path, sizeof(path));
	out = py_json(path,
		      "f=[x for x in d[\"frontends\"] if x[\"name\"]==\"web\"][0]\n"
		      "b=[x for x in d[\"backends\"] if x[\"name\"]==\"app\"][0]\n"
		      "s={x[\"name\"]:x for x in b[\"servers\"]}\n"
		      "print(f[\"sessions_total\"],f[\"http_requests\"],f[\"bytes_in\"],"
		      "f[\"bytes_out\"],f[\"responses\"][\"2xx\"],f[\"ended\"][\"normal\"],"
		      "f[\"connections\"][\"idle\"],f[\"timeouts\"][\"client\"])\n"
		      "print(b[\"sessions_total\"],s[\"s1\"][\"state\"],s[\"s2\"][\"state\"],"
		      "s[\"s3\"][\"state\"],s[\"s3\"][\"backup\"],s[\"s1\"][\"sessions_total\"])\n"
		      "print(d[\"process\"][\"open_fds\"]==d[\"process\"][\"accounted_fds\"])");
	snprintf(want, sizeof(want), "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n"
		 "%.0f UP MAINT UP True %.0f\nTrue\n",
		 mget(t, "sluice_frontend_sessions_total{frontend=\"web\"}"),
		 mget(t, "sluice_frontend_http_requests_total{frontend=\"web\"}"),
		 mget(t, "sluice_frontend_bytes_in_total{frontend=\"web\"}"),
		 mget(t, "sluice_frontend_bytes_out_total{frontend=\"web\"}"),
		 mget(t, "sluice_frontend_http_responses_total{frontend=\"web\",class=\"2xx\"}"),
		 mget(t, "sluice_frontend_sessions_ended_total{frontend=\"web\",cause=\"normal\"}"),
		 mget(t, "sluice_frontend_connections{frontend=\"web\",state=\"idle\"}"),
		 mget(t, "sluice_frontend_timeouts_total{frontend=\"web\",kind=\"client\"}"),
		 mget(t, "sluice_backend_sessions_total{backend=\"app\"}"),
		 mget(t, "sluice_server_sessions_total{backend=\"app\",server=\"s1\"}"));
	cr_assert_str_eq(out, want, "/stats.json says:\n%s/metrics says:\n%s", out, want);
	cr_assert_eq(mget(t, "sluice_frontend_http_requests_total{frontend=\"web\"}"), 2);
	free(out);
	free(t);
	free(json);
	h_proxy_finish(p);
}

/* ---- /stats in Chromium ------------------------------------------------------------ */

#define CHROMIUM "/usr/bin/chromium"

/* The DOM of url after Chromium ran its page (malloc'd). */
static char *chromium_dom(const char *url)
{
	char cmd[2048], prof[] = "/tmp/sluice-chromium-XXXXXX", *out;
	size_t n = 0, cap = 1 << 20;
	FILE *f;
	int st;

	cr_assert(mkdtemp(prof), "mkdtemp: %s", strerror(errno));
	snprintf(cmd, sizeof(cmd),
		 "timeout -k 5 40 " CHROMIUM " --headless --no-sandbox --disable-gpu "
		 "--disable-quic --no-first-run --disable-background-networking "
		 "--disable-component-update --disable-sync --user-data-dir=%s "
		 "--dump-dom '%s' 2>/dev/null; rm -rf '%s'", prof, url, prof);
	out = malloc(cap);
	cr_assert(out);
	f = popen(cmd, "r");
	cr_assert(f, "popen chromium: %s", strerror(errno));
	while (n + 1 < cap) {
		size_t k = fread(out + n, 1, cap - n - 1, f);

		if (!k)
			break;
		n += k;
	}
	out[n] = 0;
	st = pclose(f);
	cr_assert(WIFEXITED(st), "chromium did not exit");
	return out;
}

Test(stats, stats_page_renders_in_chromium, .timeout = 90)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct cu_target *ok = cu_target_start(CU_HTTP, 200, 0);
	int web = h_free_port(), refused = cu_reserve_port();
	struct h_proxy *p;
	struct h_cbuf b;
	struct hu_cli c;
	struct hu_rsp r;
	char url[128], *dom, cell[256];
	const char *fds;
	unsigned long op = 0, acc = 1;

	if (access(CHROMIUM, X_OK) != 0)
		cr_skip_test("%s is not installed (Debian package chromium, in the Makefile's "
			     "DEB_PKGS): the /stats page was not rendered", CHROMIUM);
	conf_head(&b, NULL, NULL);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n"
		"[backend app]\nmode = http-server-close\ncheck = http GET /health\n"
		"check_interval = 100ms\ncheck_fall = 2\n"
		"server = alpha 127.0.0.1:%d check check_port=%d\n"
		"server = bravo 127.0.0.1:%d check\n"
		"server = charlie 127.0.0.1:%d disabled\n",
	    web, hu_origin_port(o), cu_target_port(ok), refused, hu_origin_port(o));
	p = h_proxy_start_text(b.s, web);
	EXPECT_M(p, 0, "sluice_server_up{backend=\"app\",server=\"bravo\"}");
	hu_cli_open(&c, p->port);
	get_ok(&c, &r, "/");
	hu_cli_close(&c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats", p->stats_port);
	dom = chromium_dom(url);
	cr_assert(strstr(dom, "<html") && strstr(dom, "</html>"),
		  "chromium rendered no page from %s:\n%.2000s", url, dom);
	cr_assert(strstr(dom, "http-equiv=\"refresh\""), "the page does not refresh itself");
	cr_assert(strstr(dom, ">web<"), "frontend web not shown:\n%.4000s", dom);
	cr_assert(strstr(dom, ">app"), "backend app not shown:\n%.4000s", dom);
	snprintf(cell, sizeof(cell), "<td>alpha</td><td class=\"UP\">UP</td>");
	cr_assert(strstr(dom, cell), "no '%s' in:\n%.6000s", cell, dom);
	snprintf(cell, sizeof(cell), "<td>bravo</td><td class=\"DOWN\">DOWN</td>");
	cr_assert(strstr(dom, cell), "no '%s' in:\n%.6000s", cell, dom);
	snprintf(cell, sizeof(cell), "<td>charlie</td><td class=\"MAINT\">MAINT</td>");
	cr_assert(strstr(dom, cell), "no '%s' in:\n%.6000s", cell, dom);
	fds = strstr(dom, "id=\"fds\"");
	cr_assert(fds, "no fd audit (id=fds) in:\n%.4000s", dom);
	fds = strstr(fds, ">open ");
	cr_assert(fds && sscanf(fds, ">open %lu, accounted %lu", &op, &acc) == 2,
		  "fd audit not readable in:\n%.4000s", dom);
	cr_assert_eq(op, acc, "the page shows open %lu, accounted %lu fds", op, acc);
	free(dom);
	h_proxy_finish(p);
}

/* ---- the fd audit with sessions in every state ---------------------------------- */

Test(stats, fd_audit_holds_with_sessions_in_every_state)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	struct h_origin_opts ho = { .handler = h_handle_hold };
	struct h_origin *hold = h_origin_start(&ho);
	struct hu_script ka = { .act = HU_ACT_CL, .len = 10 };
	struct hu_origin *pooled[3] = { hu_origin_start(&ka), hu_origin_start(&ka),
					hu_origin_start(&ka) };
	struct hu_script never = { .act = HU_ACT_NEVER };
	struct hu_origin *slow = hu_origin_start(&never);
	struct h_blackhole bh;
	int pt = h_free_port(), pc = h_free_port(), pw = h_free_port(), pq = h_free_port();
	int pm = h_free_port(), ph = h_free_port(), tfd[5], cfd[2], mfd[3], hf;
	struct hu_cli w[3], q[3];
	struct hu_rsp r;
	struct h_proxy *p;
	struct h_cbuf b;
	char buf[4], *t;
	double op, acc;

	h_blackhole_start(&bh);
	b.len = 0;
	h_cbuf_add(&b, "[global]\nworkers = 2\nlog = stderr\ngrace = 300ms\n\n"
		"[defaults]\ntimeout_connect = 2s\ntimeout_client_fin = 2s\n"
		"timeout_server_fin = 2s\ntimeout_server = 2s\ntimeout_queue = 10s\n\n"
		"[frontend t]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\n\n"
		"[frontend c]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = hole\n\n"
		"[frontend w]\nbind = 127.0.0.1:%d\nmode = http\nbackend = pool\n\n"
		"[frontend q]\nbind = 127.0.0.1:%d\nmode = http\nbackend = one\n\n"
		"[frontend m]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\nmaxconn = 2\n\n"
		"[frontend hf]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = hold\n\n"
		"[backend echo]\nmode = tcp\nserver = e 127.0.0.1:%d\n\n"
		"[backend hold]\nmode = tcp\nserver = o 127.0.0.1:%d\n\n"
		"[backend hole]\nmode = tcp\nserver = h 127.0.0.1:%d\n\n"
		"[backend pool]\nmode = http-keep-alive\npool_idle_timeout = 2s\n"
		"server = k1 127.0.0.1:%d\nserver = k2 127.0.0.1:%d\nserver = k3 127.0.0.1:%d\n\n"
		"[backend one]\nmode = http-server-close\nserver = n 127.0.0.1:%d maxconn=1\n",
	    pt, pc, pw, pq, pm, ph, h_origin_port(echo), h_origin_port(hold), bh.port,
	    hu_origin_port(pooled[0]), hu_origin_port(pooled[1]), hu_origin_port(pooled[2]),
	    hu_origin_port(slow));
	p = h_proxy_start_text(b.s, pt);
	for (int i = 0; i < 5; i++) {
		tfd[i] = tcp_connect(p);
		cr_assert_eq(h_send_all(tfd[i], "x", 1, -1, io_to()), 0);
		cr_assert_eq(h_recv_exact(tfd[i], buf, 1, io_to()), 0);
	}
	hf = h_connect(ph, io_to());
	cr_assert(hf >= 0);
	cr_assert_eq(h_origin_wait_accepted(hold, 1, io_to()), 1);
	shutdown(hf, SHUT_WR); /* a client half-closed, its server silent */
	for (int i = 0; i < 2; i++) {
		cfd[i] = h_connect(pc, io_to());
		cr_assert(cfd[i] >= 0);
	}
	for (int i = 0; i < 3; i++) {
		hu_cli_open(&w[i], pw);
		get_ok(&w[i], &r, "/"); /* idle client; a pooled connection to k1, k2, k3 */
	}
	/* server maxconn=1 is enforced per worker (2 here): of 3 requests at
	 * least one waits in a queue */
	for (int i = 0; i < 3; i++) {
		hu_cli_open(&q[i], pq);
		cr_assert_eq(hu_cli_send(&q[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	}
	for (int i = 0; i < 3; i++) {
		mfd[i] = h_connect(pm, io_to());
		cr_assert(mfd[i] >= 0);
	}
	EXPECT_M(p, 2, "sluice_frontend_connections{frontend=\"c\",state=\"connecting\"}");
	for (int i = 0; i < 100 && mnow(p, "sluice_frontend_connections{frontend=\"q\","
					"state=\"queued\"}") < 1; i++)
		h_sleep_ms(20);
	cr_assert(mnow(p, "sluice_frontend_connections{frontend=\"q\",state=\"queued\"}") >= 1);
	EXPECT_M(p, 3, "sluice_frontend_connections{frontend=\"w\",state=\"idle\"}");
	EXPECT_M(p, 1, "sluice_frontend_connections{frontend=\"hf\",state=\"client_half_closed\"}");
	h_sleep_ms(200);
	t = metrics(p);
	op = mget(t, "sluice_process_open_fds");
	acc = mget(t, "sluice_process_accounted_fds");
	cr_assert_eq(op, acc, "with sessions open, connecting, queued, idle, half-closed, "
		     "pooled and at maxconn: open fds %g, accounted %g (/proc says %d)", op, acc,
		     h_proxy_fd_count(p));
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(mget(t, "sluice_server_pool_idle_connections{backend=\"pool\","
				  "server=\"k%d\"}", i), 1);
	free(t);
	for (int i = 0; i < 5; i++)
		close(tfd[i]);
	close(hf);
	for (int i = 0; i < 2; i++)
		close(cfd[i]);
	for (int i = 0; i < 3; i++) {
		hu_cli_close(&q[i]);
		hu_cli_close(&w[i]);
		close(mfd[i]);
	}
	/* what is left ends within the 2 s timeouts (a client that closed after
	 * its request still waits for the response) */
	cr_assert_eq(mwait(p, 0, 8000, "sluice_process_sessions_current"), 0); /* stats fetches are not counted */
	/* the pool keeps its connections for pool_idle_timeout: long enough that
	 * a loaded (sanitizer) run still sees them above, gone before the fd
	 * baseline is checked */
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(mwait(p, 0, 8000, "sluice_server_pool_idle_connections{backend=\"pool\","
				   "server=\"k%d\"}", i), 0);
	h_proxy_finish(p);
	h_blackhole_stop(&bh);
}

/* The stats service is rendered as frontend "stats": while it is on, a
 * configured frontend of that name is refused with file:line (two series of
 * every metric, two frontends in the log, otherwise). */
Test(stats, a_frontend_named_stats_is_refused_while_stats_is_on)
{
	char path[] = "/tmp/sluice-stats-name-XXXXXX";
	char cmd[512], out[1024] = "";
	int fd = mkstemp(path), rc;
	FILE *f;

	cr_assert(fd >= 0);
	dprintf(fd, "[global]\nstats = 127.0.0.1:%d\n[frontend stats]\nbind = 127.0.0.1:%d\n"
		"mode = http\nbackend = app\n[backend app]\nmode = http-server-close\n"
		"server = s1 127.0.0.1:9\n", h_free_port(), h_free_port());
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s -c -f %s 2>&1", getenv("SLUICE_BIN"), path);
	f = popen(cmd, "r");
	cr_assert(f);
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	rc = pclose(f);
	unlink(path);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "sluice -c accepted it: %s", out);
	cr_assert(strstr(out, ":3: section [frontend stats]") && strstr(out, "reserved"),
		  "message: %s", out);
}
