/*
 * Statistics rendering (core/ layer): sums the per-worker counters and
 * writes them as Prometheus text (/metrics, core/stats_prom.c), JSON
 * (/stats.json, here) or a self-refreshing HTML page (/stats,
 * core/stats_html.c). Runs in whichever worker serves the request; other
 * workers' counters are read with relaxed loads. Rates, percentiles and
 * sparklines come from the history (core/stats_hist.c), never from the
 * time between two page views.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/pool.h"
#include "core/session_pp.h"
#include "core/stats-i.h"
#include "core/conn.h"

#define out sl_stats_out

const char *const sl_stats_gauge_names[SL_GS_COUNT] = {
	"active", "idle", "client_half_closed", "server_half_closed", "connecting", "queued"
};
const char *const sl_stats_cause_names[SL_CAUSES] = {
	"normal", "client_error", "server_error", "connect_failed", "no_server",
	"timeout", "stopping", "resource", "limit"
};
const char *const sl_stats_req_err_names[6] = {
	"bad_request", "method_not_allowed", "request_timeout", "too_many_requests",
	"header_too_large", "other"
};
const char *const sl_stats_rsp_names[6] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };
const char *const sl_stats_check_names[SL_CHECK_REASONS] = {
	"L4_ok", "L7_ok", "L4_refused", "L4_reset", "L4_timeout", "L4_error", "L7_timeout",
	"L7_bad_response", "L7_bad_status"
};
const char *const sl_stats_state_names[4] = { "UP", "DOWN", "MAINT", "DRAIN" };

void sl_stats_out(struct sbuf *b, const char *fmt, ...)
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

#define SUM(dst, src, n) \
	do { for (size_t k_ = 0; k_ < (n); k_++) (dst)[k_] += SL_ST_GET((src)[k_]); } while (0)

int sl_stats_gather(struct sl_proxy *px, struct totals *t, bool fd_audit)
{
	const struct sl_config *c = px->conf;
	uint32_t nsrv = px->workers[0].pool.base[c->nbackends];

	t->nsrv = nsrv;
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
	sl_stats_add_older(px, t->fe, t->be, t->srv); /* reloads reset nothing */
	if (fd_audit)
		sl_stats_fd_audit_all(px, &t->open_fds, &t->accounted_fds, &t->direct_fds,
				      &t->accounted_direct_fds);
	return 0;
}

void sl_stats_totals_free(struct totals *t)
{
	free(t->fe);
	free(t->be);
	free(t->srv);
	free(t->pool_idle);
}

static bool has_ssl(const struct sl_frontend_conf *fe)
{
	for (int i = 0; i < fe->nbinds; i++)
		if (fe->binds[i].ssl)
			return true;
	return false;
}

static bool has_accept_proxy(const struct sl_frontend_conf *fe)
{
	for (int i = 0; i < fe->nbinds; i++)
		if (fe->binds[i].accept_proxy)
			return true;
	return false;
}

/* ---- JSON ---- */

static void json_str(struct sbuf *b, const char *s)
{
	out(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			out(b, "\\%c", ch);
		else if (ch < 0x20)
			out(b, "\\u%04x", ch);
		else
			out(b, "%c", ch);
	}
	out(b, "\"");
}

static void json_num(struct sbuf *b, double v)
{
	if (v < 0)
		out(b, "null");
	else
		out(b, "%.3f", v);
}

static void json_pct(struct sbuf *b, const char *key, const uint64_t *h)
{
	out(b, ",\"%s\":{\"p50\":", key);
	json_num(b, sl_stats_quantile(h, 0.5));
	out(b, ",\"p99\":");
	json_num(b, sl_stats_quantile(h, 0.99));
	out(b, "}");
}

static void json_series(struct sbuf *b, bool first, const char *key, const double *v, int n)
{
	out(b, "%s\"%s\":[", first ? "" : ",", key);
	for (int i = 0; i < n; i++) {
		if (i)
			out(b, ",");
		json_num(b, v[i]);
	}
	out(b, "]");
}

/* "rates", percentiles and "sparklines" of one frontend or server. */
static void json_history(struct sbuf *b, int kind, uint32_t idx)
{
	struct sl_hist_view *v = malloc(sizeof(*v));
	double w;

	if (!v) {
		b->err = -ENOMEM;
		return;
	}
	sl_stats_hist_view(kind, idx, v);
	w = v->window_s;
	if (!v->valid) {
		out(b, ",\"rates\":null");
	} else {
		out(b, ",\"rates\":{\"window_s\":%.1f,\"requests\":%llu,\"sessions_per_s\":%.3f,"
		    "\"requests_per_s\":%.3f,\"2xx_per_s\":%.3f,\"4xx_per_s\":%.3f,"
		    "\"5xx_per_s\":%.3f}", w, U(v->req), (double)v->sess / w, (double)v->req / w,
		    (double)v->cls[0] / w, (double)v->cls[1] / w, (double)v->cls[2] / w);
	}
	json_pct(b, "request_duration_ms", v->dur);
	if (kind == SL_HIST_SRV)
		json_pct(b, "response_time_ms", v->rt);
	out(b, ",\"sparklines\":{");
	json_series(b, true, "requests_per_s", v->spark_req, v->nspark);
	if (kind == SL_HIST_FE)
		json_series(b, false, "sessions_per_s", v->spark_sess, v->nspark);
	json_series(b, false, "p99_ms", v->spark_p99, v->nspark);
	out(b, "}");
	free(v);
}

static void json_events(struct sbuf *b, uint32_t g)
{
	struct sl_hist_event ev[SL_HIST_EVENTS];
	int n = sl_stats_hist_events(g, ev);
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	out(b, ",\"events\":[");
	for (int i = 0; i < n; i++) {
		out(b, "%s{\"time_ms\":%llu,\"age_s\":%.1f,\"from\":\"%s\",\"to\":\"%s\","
		    "\"reason\":", i ? "," : "", U(ev[i].wall_ms),
		    now > ev[i].wall_ms ? (double)(now - ev[i].wall_ms) / 1000 : 0.0,
		    sl_stats_state_names[ev[i].from % 4], sl_stats_state_names[ev[i].to % 4]);
		json_str(b, ev[i].why);
		out(b, "}");
	}
	out(b, "]");
}

static void json_workers(struct sbuf *b, struct sl_proxy *px)
{
	out(b, "\"workers\":[");
	for (int w = 0; w < px->nworkers; w++) {
		const struct sl_wstats *st = px->workers[w].st;
		uint64_t a = 0, s = 0, cur = 0, r = 0;

		for (int i = 0; i < px->conf->nfrontends; i++) {
			a += SL_ST_GET(st->fe[i].accepts);
			s += SL_ST_GET(st->fe[i].sess_total);
			cur += SL_ST_GET(st->fe[i].sess_cur);
			r += SL_ST_GET(st->fe[i].req_total);
		}
		out(b, "%s{\"id\":%d,\"accepts\":%llu,\"sessions_total\":%llu,"
		    "\"sessions_current\":%llu,\"http_requests\":%llu}", w ? "," : "", w, U(a), U(s),
		    U(cur), U(r));
	}
	out(b, "],");
}

static void json_frontend(struct sbuf *b, struct sl_proxy *px, const struct totals *t, int i)
{
	const struct sl_fe_stats *f = &t->fe[i];

	out(b, "%s{\"name\":\"%s\",\"mode\":\"%s\",\"sessions_current\":%llu,"
	    "\"sessions_total\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
	    "\"http_requests\":%llu,\"responses\":{", i ? "," : "", px->conf->frontends[i].name,
	    px->conf->frontends[i].mode == SL_FE_MODE_HTTP ? "http" : "tcp", U(f->sess_cur),
	    U(f->sess_total), U(f->bytes_in), U(f->bytes_out), U(f->req_total));
	for (int k = 0; k < 6; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_rsp_names[k], U(f->rsp[k]));
	out(b, "},\"connections\":{");
	for (int k = 0; k < SL_GS_COUNT; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_gauge_names[k], U(f->gauge[k]));
	out(b, "},\"timeouts\":{");
	for (int k = 0; k < SL_TO_COUNT; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "",
		    sl_conf_timeout_name((enum sl_timeout_kind)k) + 8, U(f->to[k]));
	out(b, "},\"ended\":{");
	for (int k = 0; k < SL_CAUSES; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_cause_names[k], U(f->cause[k]));
	out(b, "},\"request_errors\":{");
	for (int k = 0; k < 6; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_req_err_names[k], U(f->req_err[k]));
	out(b, "},\"refused_per_source\":%llu,\"idle_reclaimed\":%llu", U(f->refused_source),
	    U(f->idle_reclaimed));
	if (px->conf->frontends[i].mode == SL_FE_MODE_HTTP) {
		out(b, ",\"h2\":{\"connections\":%llu,\"connections_total\":%llu,"
		    "\"streams\":%llu,\"refused\":%llu,\"goaways_received\":%llu,"
		    "\"goaways_sent\":%llu,\"flood_closes\":%llu,\"resets_received\":{",
		    U(f->h2.conns_cur), U(f->h2.conns), U(f->h2.streams), U(f->h2.refused),
		    U(f->h2.goaway_rx), U(f->h2.goaway_tx), U(f->h2.floods));
		for (int k = 0; k < SL_H2_CODES; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_h2_code_names[k],
			    U(f->h2.rst_rx[k]));
		out(b, "},\"resets_sent\":{");
		for (int k = 0; k < SL_H2_CODES; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_h2_code_names[k],
			    U(f->h2.rst_tx[k]));
		out(b, "}}");
	}
	if (has_ssl(&px->conf->frontends[i])) {
		out(b, ",\"tls\":{\"handshakes\":%llu,\"resumed\":%llu,\"failures\":{",
		    U(f->hs_done), U(f->hs_resumed));
		for (int k = 0; k < SL_HS_FAIL_COUNT; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", sl_hs_fail_names[k], U(f->hs_fail[k]));
		out(b, "}}");
	}
	if (has_accept_proxy(&px->conf->frontends[i])) {
		out(b, ",\"proxy_header_failures\":{");
		for (int k = 0; k < SL_PP_FAIL_COUNT; k++)
			out(b, "%s\"%s\":%llu", k ? "," : "", sl_pp_fail_names[k], U(f->pp_fail[k]));
		out(b, "}");
	}
	json_history(b, SL_HIST_FE, (uint32_t)i);
	out(b, "}");
}

static void json_server(struct sbuf *b, struct sl_server *s, const struct totals *t, uint32_t g)
{
	const struct sl_srv_stats *v = &t->srv[g];

	out(b, "{\"name\":\"%s\",\"state\":\"%s\",\"weight\":%d,\"backup\":%s,"
	    "\"sessions_current\":%u,\"sessions_total\":%llu,\"connect_failures\":%llu,"
	    "\"pool_idle\":%llu,\"pool_purged\":%llu,\"http_requests\":%llu,\"responses\":{", s->conf->name,
	    sl_stats_state_names[sl_server_status(s)], sl_server_weight(s),
	    s->conf->backup ? "true" : "false",
	    atomic_load(&s->sessions), U(v->sess_total), U(v->conn_fail), U(t->pool_idle[g]),
	    U(v->pool_purged), U(v->req_total));
	for (int k = 0; k < 6; k++)
		out(b, "%s\"%s\":%llu", k ? "," : "", sl_stats_rsp_names[k], U(v->done[k]));
	out(b, "}");
	json_history(b, SL_HIST_SRV, g);
	json_events(b, g);
	out(b, "}");
}

static void render_json(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	uint64_t interval;
	uint32_t g = 0;
	double win;
	int nsamples;

	sl_stats_hist_info(&interval, &nsamples, &win);
	out(b, "{\"process\":{\"open_fds\":%llu,\"accounted_fds\":%llu,\"fd_leak\":%s,"
	    "\"direct_fds\":%llu,\"accounted_direct_fds\":%llu,"
	    "\"sessions_current\":%u,\"accept_pauses_maxconn\":%llu,\"accept_pauses_emfile\":%llu,"
	    "\"log_dropped\":%llu},\"history\":{\"interval_s\":%.3f,\"samples\":%d,"
	    "\"capacity\":%d,\"window_s\":%.3f},", U(t->open_fds), U(t->accounted_fds),
	    t->open_fds != t->accounted_fds || t->direct_fds != t->accounted_direct_fds ?
	    "true" : "false", U(t->direct_fds), U(t->accounted_direct_fds),
	    atomic_load(&px->sessions),
	    U(t->pause_maxconn), U(t->pause_emfile), U(t->log_dropped), (double)interval / 1000,
	    nsamples, SL_HIST_SAMPLES, win);
	json_workers(b, px);
	out(b, "\"frontends\":[");
	for (int i = 0; i < px->conf->nfrontends; i++)
		json_frontend(b, px, t, i);
	out(b, "],\"backends\":[");
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *be = &px->backends[i];
		const struct sl_be_stats *e = &t->be[i];

		out(b, "%s{\"name\":\"%s\",\"mode\":\"%s\",\"sessions_total\":%llu,"
		    "\"http_requests\":%llu,\"connect_failures\":%llu,\"queued\":%llu,\"servers\":[",
		    i ? "," : "", be->conf->name, be->conf->mode == SL_BE_MODE_TCP ? "tcp" : "http",
		    U(e->sess_total), U(e->req_total), U(e->conn_fail), U(e->queued));
		for (int j = 0; j < be->nservers; j++, g++) {
			if (j)
				out(b, ",");
			json_server(b, &be->servers[j], t, g);
		}
		out(b, "]}");
	}
	out(b, "]}\n");
}

int sl_stats_render(struct sl_proxy *px, enum sl_stats_format fmt, char **res, size_t *len)
{
	struct totals t = { 0 };
	struct sbuf b = { .cap = 65536 };
	int ret = sl_stats_gather(px, &t, true);

	b.p = malloc(b.cap);
	if (ret == 0 && b.p) {
		b.p[0] = 0;
		if (fmt == SL_STATS_PROM)
			sl_stats_render_prom(&b, px, &t);
		else if (fmt == SL_STATS_JSON)
			render_json(&b, px, &t);
		else
			sl_stats_render_html(&b, px, &t);
		ret = b.err;
	} else {
		ret = -ENOMEM;
	}
	sl_stats_totals_free(&t);
	if (ret < 0) {
		free(b.p);
		return ret;
	}
	*res = b.p;
	*len = b.len;
	return 0;
}
