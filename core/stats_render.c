/*
 * Statistics rendering (core/ layer): sums the per-worker counters and
 * writes them as Prometheus text (/metrics), JSON (/stats.json) or a small
 * self-refreshing HTML page (/stats). Runs in whichever worker serves the
 * request; other workers' counters are read with relaxed loads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "proto/tls.h"

extern const uint64_t sl_life_bounds_ms[SL_LIFE_BUCKETS];
extern const uint64_t sl_reqs_bounds[SL_REQS_BUCKETS];
extern const uint64_t sl_check_bounds_ms[SL_CHECK_BUCKETS];

static const char *const gauge_names[SL_GS_COUNT] = {
	"active", "idle", "client_half_closed", "server_half_closed", "connecting", "queued"
};
static const char *const cause_names[SL_CAUSES] = {
	"normal", "client_error", "server_error", "connect_failed", "no_server",
	"timeout", "stopping", "resource", "limit"
};
static const char *const req_err_names[6] = {
	"bad_request", "method_not_allowed", "request_timeout", "too_many_requests",
	"header_too_large", "other"
};
static const char *const rsp_names[6] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };
static const char *const check_names[SL_CHECK_REASONS] = {
	"L4_ok", "L7_ok", "L4_refused", "L4_reset", "L4_timeout", "L4_error", "L7_timeout",
	"L7_bad_response", "L7_bad_status"
};
static const char *const state_names[] = { "UP", "DOWN", "MAINT" };

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void __attribute__((format(printf, 2, 3))) out(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len)
			break;
		char *np = realloc(b->p, b->cap * 2);

		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap *= 2;
	}
	b->len += (size_t)n;
}

/* Totals over every worker. */
struct totals {
	struct sl_fe_stats *fe;
	struct sl_be_stats *be;
	struct sl_srv_stats *srv;
	uint64_t pause_maxconn, pause_emfile, log_lines, log_dropped;
	uint64_t *pool_idle;       /* by server global index */
	uint64_t open_fds, accounted_fds;
};

#define SUM(dst, src, n) \
	do { for (size_t k_ = 0; k_ < (n); k_++) (dst)[k_] += SL_ST_GET((src)[k_]); } while (0)

static int gather(struct sl_proxy *px, struct totals *t)
{
	const struct sl_config *c = px->conf;
	uint32_t nsrv = px->workers[0].pool.base[c->nbackends];

	t->fe = calloc((size_t)c->nfrontends + 1, sizeof(*t->fe));
	t->be = calloc((size_t)c->nbackends + 1, sizeof(*t->be));
	t->srv = calloc((size_t)nsrv + 1, sizeof(*t->srv));
	t->pool_idle = calloc((size_t)nsrv + 1, sizeof(*t->pool_idle));
	if (!t->fe || !t->be || !t->srv || !t->pool_idle)
		return -ENOMEM;
	for (int w = 0; w < px->nworkers; w++) {
		struct sl_wstats *st = px->workers[w].st;

		/* every field of these structs is a uint64_t counter */
		SUM((uint64_t *)t->fe, (uint64_t *)st->fe,
		    sizeof(*t->fe) / 8 * (size_t)c->nfrontends);
		SUM((uint64_t *)t->be, (uint64_t *)st->be,
		    sizeof(*t->be) / 8 * (size_t)c->nbackends);
		SUM((uint64_t *)t->srv, (uint64_t *)st->srv, sizeof(*t->srv) / 8 * nsrv);
		t->pause_maxconn += SL_ST_GET(st->pause_maxconn);
		t->pause_emfile += SL_ST_GET(st->pause_emfile);
		t->log_lines += SL_ST_GET(st->log_lines);
		t->log_dropped += SL_ST_GET(st->log_dropped);
		for (uint32_t i = 0; i < nsrv; i++)
			t->pool_idle[i] += __atomic_load_n(&px->workers[w].pool.nidle[i],
							   __ATOMIC_RELAXED);
	}
	sl_stats_fd_audit(px, &t->open_fds, &t->accounted_fds);
	return 0;
}

static void free_totals(struct totals *t)
{
	free(t->fe);
	free(t->be);
	free(t->srv);
	free(t->pool_idle);
}

static void prom_fe_hist(struct sbuf *b, const char *fe, const struct sl_fe_stats *f)
{
	for (int c = 0; c < SL_CAUSES; c++) {
		uint64_t acc = 0;

		for (int i = 0; i <= SL_LIFE_BUCKETS; i++) {
			acc += f->life[c][i];
			if (i < SL_LIFE_BUCKETS)
				out(b, "sluice_frontend_connection_lifetime_seconds_bucket{frontend=\"%s\","
				    "cause=\"%s\",le=\"%g\"} %llu\n", fe, cause_names[c],
				    (double)sl_life_bounds_ms[i] / 1000, (unsigned long long)acc);
			else
				out(b, "sluice_frontend_connection_lifetime_seconds_bucket{frontend=\"%s\","
				    "cause=\"%s\",le=\"+Inf\"} %llu\n", fe, cause_names[c],
				    (unsigned long long)acc);
		}
		out(b, "sluice_frontend_connection_lifetime_seconds_sum{frontend=\"%s\",cause=\"%s\"} "
		    "%.3f\n", fe, cause_names[c], (double)f->life_ms[c] / 1000);
		out(b, "sluice_frontend_connection_lifetime_seconds_count{frontend=\"%s\",cause=\"%s\"} "
		    "%llu\n", fe, cause_names[c], (unsigned long long)acc);
		acc = 0;
		for (int i = 0; i <= SL_REQS_BUCKETS; i++) {
			acc += f->reqs[c][i];
			if (i < SL_REQS_BUCKETS)
				out(b, "sluice_frontend_requests_per_connection_bucket{frontend=\"%s\","
				    "cause=\"%s\",le=\"%llu\"} %llu\n", fe, cause_names[c],
				    (unsigned long long)sl_reqs_bounds[i], (unsigned long long)acc);
			else
				out(b, "sluice_frontend_requests_per_connection_bucket{frontend=\"%s\","
				    "cause=\"%s\",le=\"+Inf\"} %llu\n", fe, cause_names[c],
				    (unsigned long long)acc);
		}
		out(b, "sluice_frontend_requests_per_connection_sum{frontend=\"%s\",cause=\"%s\"} "
		    "%llu\n", fe, cause_names[c], (unsigned long long)f->reqs_sum[c]);
		out(b, "sluice_frontend_requests_per_connection_count{frontend=\"%s\",cause=\"%s\"} "
		    "%llu\n", fe, cause_names[c], (unsigned long long)acc);
	}
}

#define U(x) ((unsigned long long)(x))

static bool has_ssl(const struct sl_frontend_conf *fe)
{
	for (int i = 0; i < fe->nbinds; i++)
		if (fe->binds[i].ssl)
			return true;
	return false;
}

static void prom_frontends(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	for (int i = 0; i < px->conf->nfrontends; i++) {
		const struct sl_fe_stats *f = &t->fe[i];
		const char *n = px->conf->frontends[i].name;

		out(b, "sluice_frontend_sessions_current{frontend=\"%s\"} %llu\n", n, U(f->sess_cur));
		out(b, "sluice_frontend_sessions_total{frontend=\"%s\"} %llu\n", n, U(f->sess_total));
		out(b, "sluice_frontend_bytes_in_total{frontend=\"%s\"} %llu\n", n, U(f->bytes_in));
		out(b, "sluice_frontend_bytes_out_total{frontend=\"%s\"} %llu\n", n, U(f->bytes_out));
		out(b, "sluice_frontend_http_requests_total{frontend=\"%s\"} %llu\n", n,
		    U(f->req_total));
		for (int k = 0; k < 6; k++)
			out(b, "sluice_frontend_http_responses_total{frontend=\"%s\",class=\"%s\"} "
			    "%llu\n", n, rsp_names[k], U(f->rsp[k]));
		for (int k = 0; k < SL_GS_COUNT; k++)
			out(b, "sluice_frontend_connections{frontend=\"%s\",state=\"%s\"} %llu\n", n,
			    gauge_names[k], U(f->gauge[k]));
		for (int k = 0; k < SL_TO_COUNT; k++)
			out(b, "sluice_frontend_timeouts_total{frontend=\"%s\",kind=\"%s\"} %llu\n", n,
			    sl_conf_timeout_name((enum sl_timeout_kind)k) + 8, U(f->to[k]));
		for (int k = 0; k < SL_CAUSES; k++)
			out(b, "sluice_frontend_sessions_ended_total{frontend=\"%s\",cause=\"%s\"} "
			    "%llu\n", n, cause_names[k], U(f->cause[k]));
		for (int k = 0; k < 6; k++)
			out(b, "sluice_frontend_request_errors_total{frontend=\"%s\",kind=\"%s\"} "
			    "%llu\n", n, req_err_names[k], U(f->req_err[k]));
		out(b, "sluice_frontend_refused_per_source_total{frontend=\"%s\"} %llu\n", n,
		    U(f->refused_source));
		out(b, "sluice_frontend_idle_reclaimed_total{frontend=\"%s\"} %llu\n", n,
		    U(f->idle_reclaimed));
		if (has_ssl(&px->conf->frontends[i])) {
			out(b, "sluice_frontend_tls_handshakes_total{frontend=\"%s\"} %llu\n", n,
			    U(f->tls_hs));
			out(b, "sluice_frontend_tls_resumed_total{frontend=\"%s\"} %llu\n", n,
			    U(f->tls_resumed));
			for (int k = 0; k < SL_TLS_FAIL_COUNT; k++)
				out(b, "sluice_frontend_tls_handshake_failures_total{frontend=\"%s\","
				    "reason=\"%s\"} %llu\n", n, sl_tls_fail_names[k],
				    U(f->tls_fail[k]));
		}
		prom_fe_hist(b, n, f);
	}
}

static void prom_server(struct sbuf *b, const char *bn, struct sl_server *s,
			const struct sl_srv_stats *st, uint64_t idle)
{
	const char *n = s->conf->name;
	int state = sl_server_state(s);
	uint64_t acc = 0;

	out(b, "sluice_server_up{backend=\"%s\",server=\"%s\"} %d\n", bn, n, state == SL_SRV_UP);
	out(b, "sluice_server_maint{backend=\"%s\",server=\"%s\"} %d\n", bn, n,
	    state == SL_SRV_MAINT);
	out(b, "sluice_server_sessions_current{backend=\"%s\",server=\"%s\"} %u\n", bn, n,
	    atomic_load(&s->sessions));
	out(b, "sluice_server_sessions_total{backend=\"%s\",server=\"%s\"} %llu\n", bn, n,
	    U(st->sess_total));
	out(b, "sluice_server_bytes_in_total{backend=\"%s\",server=\"%s\"} %llu\n", bn, n,
	    U(st->bytes_in));
	out(b, "sluice_server_bytes_out_total{backend=\"%s\",server=\"%s\"} %llu\n", bn, n,
	    U(st->bytes_out));
	out(b, "sluice_server_connect_failures_total{backend=\"%s\",server=\"%s\"} %llu\n", bn, n,
	    U(st->conn_fail));
	out(b, "sluice_server_pool_idle_connections{backend=\"%s\",server=\"%s\"} %llu\n", bn, n,
	    U(idle));
	for (int k = 0; k < SL_CHECK_REASONS; k++)
		out(b, "sluice_server_check_results_total{backend=\"%s\",server=\"%s\",reason=\"%s\"}"
		    " %lu\n", bn, n, check_names[k], atomic_load(&s->check_res[k]));
	for (int k = 0; k <= SL_CHECK_BUCKETS; k++) {
		acc += atomic_load(&s->check_hist[k]);
		if (k < SL_CHECK_BUCKETS)
			out(b, "sluice_server_check_duration_seconds_bucket{backend=\"%s\",server=\"%s\","
			    "le=\"%g\"} %llu\n", bn, n, (double)sl_check_bounds_ms[k] / 1000, U(acc));
		else
			out(b, "sluice_server_check_duration_seconds_bucket{backend=\"%s\",server=\"%s\","
			    "le=\"+Inf\"} %llu\n", bn, n, U(acc));
	}
	out(b, "sluice_server_check_duration_seconds_sum{backend=\"%s\",server=\"%s\"} %.3f\n",
	    bn, n, (double)atomic_load(&s->check_ms_sum) / 1000);
	out(b, "sluice_server_check_duration_seconds_count{backend=\"%s\",server=\"%s\"} %llu\n",
	    bn, n, U(acc));
}

static void prom_backends(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	uint32_t g = 0;

	for (int i = 0; i < px->conf->nbackends; i++) {
		const struct sl_be_stats *e = &t->be[i];
		struct sl_backend *be = &px->backends[i];
		const char *n = be->conf->name;

		out(b, "sluice_backend_sessions_total{backend=\"%s\"} %llu\n", n, U(e->sess_total));
		out(b, "sluice_backend_http_requests_total{backend=\"%s\"} %llu\n", n,
		    U(e->req_total));
		out(b, "sluice_backend_bytes_in_total{backend=\"%s\"} %llu\n", n, U(e->bytes_in));
		out(b, "sluice_backend_bytes_out_total{backend=\"%s\"} %llu\n", n, U(e->bytes_out));
		out(b, "sluice_backend_connect_failures_total{backend=\"%s\"} %llu\n", n,
		    U(e->conn_fail));
		out(b, "sluice_backend_queued{backend=\"%s\"} %llu\n", n, U(e->queued));
		for (int k = 0; k < 3; k++)
			out(b, "sluice_backend_responses_generated_total{backend=\"%s\",status=\"%d\"} "
			    "%llu\n", n, 502 + k, U(e->rsp_err[k]));
		for (int k = 0; k < SL_TO_COUNT; k++)
			out(b, "sluice_backend_timeouts_total{backend=\"%s\",kind=\"%s\"} %llu\n", n,
			    sl_conf_timeout_name((enum sl_timeout_kind)k) + 8, U(e->to[k]));
		for (int j = 0; j < be->nservers; j++, g++)
			prom_server(b, n, &be->servers[j], &t->srv[g], t->pool_idle[g]);
	}
}

static void render_prom(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	out(b, "sluice_process_open_fds %llu\n", U(t->open_fds));
	out(b, "sluice_process_accounted_fds %llu\n", U(t->accounted_fds));
	out(b, "sluice_process_sessions_current %u\n", atomic_load(&px->sessions));
	out(b, "sluice_accept_pauses_total{reason=\"maxconn\"} %llu\n", U(t->pause_maxconn));
	out(b, "sluice_accept_pauses_total{reason=\"emfile\"} %llu\n", U(t->pause_emfile));
	out(b, "sluice_log_lines_total %llu\n", U(t->log_lines));
	out(b, "sluice_log_dropped_total %llu\n", U(t->log_dropped));
	prom_frontends(b, px, t);
	prom_backends(b, px, t);
}

static void render_json(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	uint32_t g = 0;

	out(b, "{\"process\":{\"open_fds\":%llu,\"accounted_fds\":%llu,\"sessions_current\":%u,"
	    "\"accept_pauses_maxconn\":%llu,\"accept_pauses_emfile\":%llu,\"log_dropped\":%llu},"
	    "\"frontends\":[", U(t->open_fds), U(t->accounted_fds), atomic_load(&px->sessions),
	    U(t->pause_maxconn), U(t->pause_emfile), U(t->log_dropped));
	for (int i = 0; i < px->conf->nfrontends; i++) {
		const struct sl_fe_stats *f = &t->fe[i];

		out(b, "%s{\"name\":\"%s\",\"mode\":\"%s\",\"sessions_current\":%llu,"
		    "\"sessions_total\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
		    "\"http_requests\":%llu,\"responses\":{", i ? "," : "", px->conf->frontends[i].name,
		    px->conf->frontends[i].mode == SL_FE_MODE_HTTP ? "http" : "tcp", U(f->sess_cur),
		    U(f->sess_total), U(f->bytes_in), U(f->bytes_out), U(f->req_total));
		for (int k = 0; k < 6; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", rsp_names[k], U(f->rsp[k]));
		out(b, "},\"connections\":{");
		for (int k = 0; k < SL_GS_COUNT; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", gauge_names[k], U(f->gauge[k]));
		out(b, "},\"timeouts\":{");
		for (int k = 0; k < SL_TO_COUNT; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "",
			    sl_conf_timeout_name((enum sl_timeout_kind)k) + 8, U(f->to[k]));
		out(b, "},\"ended\":{");
		for (int k = 0; k < SL_CAUSES; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", cause_names[k], U(f->cause[k]));
		out(b, "},\"request_errors\":{");
		for (int k = 0; k < 6; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", req_err_names[k], U(f->req_err[k]));
		out(b, "},\"refused_per_source\":%llu,\"idle_reclaimed\":%llu", U(f->refused_source),
		    U(f->idle_reclaimed));
		if (has_ssl(&px->conf->frontends[i])) {
			out(b, ",\"tls\":{\"handshakes\":%llu,\"resumed\":%llu,\"failures\":{",
			    U(f->tls_hs), U(f->tls_resumed));
			for (int k = 0; k < SL_TLS_FAIL_COUNT; k++)
				out(b, "%s\"%s\":%llu", k ? "," : "", sl_tls_fail_names[k],
				    U(f->tls_fail[k]));
			out(b, "}}");
		}
		out(b, "}");
	}
	out(b, "],\"backends\":[");
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *be = &px->backends[i];
		const struct sl_be_stats *e = &t->be[i];

		out(b, "%s{\"name\":\"%s\",\"sessions_total\":%llu,\"http_requests\":%llu,"
		    "\"connect_failures\":%llu,\"queued\":%llu,\"servers\":[", i ? "," : "",
		    be->conf->name, U(e->sess_total), U(e->req_total), U(e->conn_fail), U(e->queued));
		for (int j = 0; j < be->nservers; j++, g++) {
			struct sl_server *s = &be->servers[j];

			out(b, "%s{\"name\":\"%s\",\"state\":\"%s\",\"backup\":%s,"
			    "\"sessions_current\":%u,\"sessions_total\":%llu,\"connect_failures\":%llu,"
			    "\"pool_idle\":%llu}", j ? "," : "", s->conf->name,
			    state_names[sl_server_state(s)], s->conf->backup ? "true" : "false",
			    atomic_load(&s->sessions), U(t->srv[g].sess_total), U(t->srv[g].conn_fail),
			    U(t->pool_idle[g]));
		}
		out(b, "]}");
	}
	out(b, "]}\n");
}

/* Rates for the HTML page: per second since the page was last rendered
 * (the page refreshes itself every 2 s), from one process-wide snapshot. */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rate_ms;
static uint64_t *rate_sess, *rate_req;
static int rate_n;

static void rates(const struct sl_proxy *px, const struct totals *t, double *sess, double *req)
{
	struct timespec ts;
	uint64_t now;
	int n = px->conf->nfrontends;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&rate_lock);
	if (rate_n != n) {
		free(rate_sess);
		free(rate_req);
		rate_sess = calloc((size_t)n, sizeof(*rate_sess));
		rate_req = calloc((size_t)n, sizeof(*rate_req));
		rate_n = rate_sess && rate_req ? n : 0;
		rate_ms = 0;
	}
	for (int i = 0; i < rate_n; i++) {
		double dt = rate_ms && now > rate_ms ? (double)(now - rate_ms) / 1000 : 0;

		sess[i] = dt > 0 ? (double)(t->fe[i].sess_total - rate_sess[i]) / dt : -1;
		req[i] = dt > 0 ? (double)(t->fe[i].req_total - rate_req[i]) / dt : -1;
		rate_sess[i] = t->fe[i].sess_total;
		rate_req[i] = t->fe[i].req_total;
	}
	rate_ms = now;
	pthread_mutex_unlock(&rate_lock);
}

void sl_stats_render_free(void)
{
	pthread_mutex_lock(&rate_lock);
	free(rate_sess);
	free(rate_req);
	rate_sess = rate_req = NULL;
	rate_n = 0;
	pthread_mutex_unlock(&rate_lock);
}

static void rate_cell(struct sbuf *b, double v)
{
	if (v < 0)
		out(b, "<td>-</td>");
	else
		out(b, "<td>%.1f</td>", v);
}

static void render_html(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	int nfe = px->conf->nfrontends;
	double *sr = calloc((size_t)nfe + 1, sizeof(double)), *rr = calloc((size_t)nfe + 1,
									   sizeof(double));
	uint32_t g = 0;

	if (!sr || !rr) {
		free(sr);
		free(rr);
		b->err = -ENOMEM;
		return;
	}
	for (int i = 0; i < nfe; i++)
		sr[i] = rr[i] = -1;
	rates(px, t, sr, rr);

	out(b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"2\"><title>sluice stats</title><style>"
	    "body{font:14px sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
	    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
	    "td:first-child{text-align:left}.UP{background:#cfc}.DOWN{background:#fcc}"
	    ".MAINT{background:#ddd}.leak{background:#fcc}</style></head><body>"
	    "<h1>sluice</h1><p>fd audit: <span id=\"fds\" class=\"%s\">open %llu, accounted %llu"
	    "</span>; sessions %u; accept pauses: maxconn %llu, EMFILE %llu; log lines dropped "
	    "%llu</p><h2>Frontends</h2><table><tr><th>frontend</th><th>mode</th><th>current</th>"
	    "<th>total</th><th>sessions/s</th><th>requests</th><th>requests/s</th><th>bytes in</th>"
	    "<th>bytes out</th><th>5xx</th><th>errors</th><th>timeouts</th></tr>", t->open_fds == t->accounted_fds ? "" : "leak",
	    U(t->open_fds), U(t->accounted_fds), atomic_load(&px->sessions), U(t->pause_maxconn),
	    U(t->pause_emfile), U(t->log_dropped));
	for (int i = 0; i < px->conf->nfrontends; i++) {
		const struct sl_fe_stats *f = &t->fe[i];
		uint64_t to = 0, err = 0;

		for (int k = 0; k < SL_TO_COUNT; k++)
			to += f->to[k];
		for (int k = 0; k < 6; k++)
			err += f->req_err[k];
		out(b, "<tr><td>%s</td><td>%s</td><td>%llu</td><td>%llu</td>",
		    px->conf->frontends[i].name,
		    px->conf->frontends[i].mode == SL_FE_MODE_HTTP ? "http" : "tcp", U(f->sess_cur),
		    U(f->sess_total));
		rate_cell(b, sr[i]);
		out(b, "<td>%llu</td>", U(f->req_total));
		rate_cell(b, rr[i]);
		out(b, "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>",
		    U(f->bytes_in), U(f->bytes_out), U(f->rsp[4]), U(err), U(to));
	}
	out(b, "</table><h2>Backends and servers</h2><table><tr><th>backend / server</th>"
	    "<th>state</th><th>current</th><th>total</th><th>connect failures</th>"
	    "<th>pool idle</th><th>last checks (ok / failed)</th></tr>");
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *be = &px->backends[i];

		out(b, "<tr><th style=\"text-align:left\" colspan=\"7\">%s (queued %llu)</th></tr>",
		    be->conf->name, U(t->be[i].queued));
		for (int j = 0; j < be->nservers; j++, g++) {
			struct sl_server *s = &be->servers[j];
			const char *st = state_names[sl_server_state(s)];
			uint64_t ok = atomic_load(&s->check_res[0]) + atomic_load(&s->check_res[1]);
			uint64_t bad = 0;

			for (int k = 2; k < SL_CHECK_REASONS; k++)
				bad += atomic_load(&s->check_res[k]);
			out(b, "<tr class=\"server\"><td>%s%s</td><td class=\"%s\">%s</td><td>%u</td>"
			    "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu / %llu</td></tr>",
			    s->conf->name, s->conf->backup ? " (backup)" : "", st, st,
			    atomic_load(&s->sessions), U(t->srv[g].sess_total), U(t->srv[g].conn_fail),
			    U(t->pool_idle[g]), U(ok), U(bad));
		}
	}
	out(b, "</table><p>Refreshes every 2 s; rates are per second since the page was last "
	    "served. Also: <a href=\"/metrics\">/metrics</a>, "
	    "<a href=\"/stats.json\">/stats.json</a>.</p></body></html>\n");
	free(sr);
	free(rr);
}

int sl_stats_render(struct sl_proxy *px, enum sl_stats_format fmt, char **res, size_t *len)
{
	struct totals t = { 0 };
	struct sbuf b = { .cap = 16384 };
	int ret = gather(px, &t);

	b.p = malloc(b.cap);
	if (ret == 0 && b.p) {
		b.p[0] = 0;
		if (fmt == SL_STATS_PROM)
			render_prom(&b, px, &t);
		else if (fmt == SL_STATS_JSON)
			render_json(&b, px, &t);
		else
			render_html(&b, px, &t);
		ret = b.err;
	} else {
		ret = -ENOMEM;
	}
	free_totals(&t);
	if (ret < 0) {
		free(b.p);
		return ret;
	}
	*res = b.p;
	*len = b.len;
	return 0;
}
