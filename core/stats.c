/*
 * Statistics (core/ layer): the per-worker counters, their classification
 * helpers, and the fd audit. Rendering to Prometheus text, JSON and HTML is
 * in core/stats_render.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/fdaudit.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"

/* Upper bounds of the histogram buckets (the last bucket is +Inf). */
const uint64_t sl_life_bounds_ms[SL_LIFE_BUCKETS] = {
	10, 100, 1000, 10000, 60000, 600000, 3600000, 86400000
};
const uint64_t sl_reqs_bounds[SL_REQS_BUCKETS] = { 0, 1, 2, 5, 10, 100, 1000 };
const uint64_t sl_check_bounds_ms[SL_CHECK_BUCKETS] = { 1, 5, 25, 100, 500, 2000 };
/* Latency: from a fast loopback answer to a request given up on (edge). */
const uint64_t sl_lat_bounds_us[SL_LAT_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

int sl_stats_init(struct sl_worker *w)
{
	const struct sl_config *c = w->px->conf;
	struct sl_wstats *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	w->st = st;
	st->fe = calloc((size_t)c->nfrontends + 1, sizeof(*st->fe));
	st->be = calloc((size_t)c->nbackends + 1, sizeof(*st->be));
	st->srv = calloc((size_t)w->pool.base[c->nbackends] + 1, sizeof(*st->srv));
	return st->fe && st->be && st->srv ? 0 : -ENOMEM;
}

void sl_stats_free(struct sl_worker *w)
{
	if (!w->st)
		return;
	free(w->st->fe);
	free(w->st->be);
	free(w->st->srv);
	free(w->st);
	w->st = NULL;
}

static enum sl_gauge classify(const struct sl_session *s)
{
	const struct sl_conn *c = s->c[SL_SIDE_CLI], *v = s->c[SL_SIDE_SRV];

	if (s->state == SL_SESS_CLOSING || s->state == SL_SESS_FREE)
		return SL_GS_NONE;
	if (s->state == SL_SESS_QUEUED)
		return SL_GS_QUEUED;
	if (v && v->st == SL_CONN_CONNECTING)
		return SL_GS_CONNECT;
	if (c && v && c->rd_eof && !v->rd_eof)
		return SL_GS_CLI_HALF;
	if (c && v && v->rd_eof && !c->rd_eof)
		return SL_GS_SRV_HALF;
	if (s->state == SL_SESS_IDLE)
		return SL_GS_IDLE;
	return SL_GS_ACTIVE;
}

void sl_stats_gauge(struct sl_session *s)
{
	struct sl_fe_stats *fe = &s->w->st->fe[s->fe_idx];
	enum sl_gauge g = classify(s);

	if (g == s->gauge)
		return;
	if (s->gauge != SL_GS_NONE)
		SL_ST_ADD(fe->gauge[s->gauge], (uint64_t)-1);
	if (s->gauge == SL_GS_IDLE)
		sl_worker_idle_leave(s);
	if (g != SL_GS_NONE)
		SL_ST_INC(fe->gauge[g]);
	s->gauge = (uint8_t)g;
	/* the idle lists follow the gauge: a session is in one exactly while it
	 * is counted as idle */
	if (g == SL_GS_IDLE)
		sl_worker_idle_enter(s);
}

static int bucket(const uint64_t *bounds, int n, uint64_t v)
{
	int i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

/* One observation; the worker is the only writer of h. */
static void hist_add(struct sl_hist *h, uint64_t us)
{
	int i = 0;

	while (i < SL_LAT_BUCKETS && us > sl_lat_bounds_us[i])
		i++;
	SL_ST_INC(h->b[i]);
	SL_ST_ADD(h->sum_us, us);
}

static uint64_t since(const struct sl_session *s, uint64_t t0_us)
{
	return s->w->now_us > t0_us ? s->w->now_us - t0_us : 0;
}

static struct sl_be_stats *be_st(const struct sl_session *s)
{
	return &s->w->st->be[s->be - s->w->px->backends];
}

static struct sl_srv_stats *srv_st(const struct sl_session *s)
{
	const struct sl_server *v = s->srv;

	return &s->w->st->srv[s->w->pool.base[v->be - s->w->px->backends] +
			      (uint32_t)(v - v->be->servers)];
}

void sl_stats_request_end(struct sl_session *s, bool be_counted, int status, uint64_t total_us,
			  uint64_t rsp_us, uint64_t queue_us)
{
	struct sl_hist *lat[3] = { s->w->st->fe[s->fe_idx].lat, NULL, NULL };
	int cls = status / 100;

	cls = cls >= 1 && cls <= 5 ? cls - 1 : 5;
	if (be_counted) {
		struct sl_be_stats *be = be_st(s);

		SL_ST_INC(be->done[cls]);
		lat[1] = be->lat;
		if (s->srv) {
			struct sl_srv_stats *v = srv_st(s);

			SL_ST_INC(v->req_total);
			SL_ST_INC(v->done[cls]);
			lat[2] = v->lat;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (!lat[i])
			continue;
		hist_add(&lat[i][SL_LAT_REQUEST], total_us);
		if (rsp_us != UINT64_MAX)
			hist_add(&lat[i][SL_LAT_RESPONSE], rsp_us);
		if (be_counted)
			hist_add(&lat[i][SL_LAT_QUEUE], queue_us);
	}
}

void sl_stats_connected(struct sl_session *s)
{
	uint64_t us = since(s, s->conn_start_us);

	hist_add(&s->w->st->fe[s->fe_idx].lat[SL_LAT_CONNECT], us);
	hist_add(&be_st(s)->lat[SL_LAT_CONNECT], us);
	if (s->srv)
		hist_add(&srv_st(s)->lat[SL_LAT_CONNECT], us);
}

void sl_stats_handshake_done(struct sl_session *s)
{
	hist_add(&s->w->st->fe[s->fe_idx].lat[SL_LAT_HANDSHAKE], since(s, s->start_us));
}

const char *const sl_stats_h2_code_names[SL_H2_CODES] = {
	"no_error", "protocol_error", "internal_error", "flow_control_error", "settings_timeout",
	"stream_closed", "frame_size_error", "refused_stream", "cancel", "compression_error",
	"connect_error", "enhance_your_calm", "inadequate_security", "http_1_1_required", "other",
};

void sl_stats_session_end(struct sl_session *s)
{
	struct sl_fe_stats *fe = &s->w->st->fe[s->fe_idx];
	uint64_t life = s->w->now_ms - s->start_ms;
	int c = s->cause < SL_CAUSES ? s->cause : 0;

	if (s->fe->mode != SL_FE_MODE_HTTP) {
		uint64_t us = since(s, s->start_us);

		hist_add(&fe->lat[SL_LAT_SESSION], us);
		if (s->srv) {
			hist_add(&be_st(s)->lat[SL_LAT_SESSION], us);
			hist_add(&srv_st(s)->lat[SL_LAT_SESSION], us);
		}
	}

	SL_ST_INC(fe->cause[c]);
	SL_ST_INC(fe->life[c][bucket(sl_life_bounds_ms, SL_LIFE_BUCKETS, life)]);
	SL_ST_ADD(fe->life_ms[c], life);
	if (s->fe->mode == SL_FE_MODE_HTTP) {
		SL_ST_INC(fe->reqs[c][bucket(sl_reqs_bounds, SL_REQS_BUCKETS, s->nreq)]);
		SL_ST_ADD(fe->reqs_sum[c], s->nreq);
	}
	SL_ST_ADD(fe->sess_cur, (uint64_t)-1);
}

void sl_stats_status(struct sl_session *s, int status, bool ours)
{
	struct sl_fe_stats *fe = &s->w->st->fe[s->fe_idx];
	struct sl_be_stats *be = &s->w->st->be[s->be - s->w->px->backends];
	int cls = status / 100;

	SL_ST_INC(fe->rsp[cls >= 1 && cls <= 5 ? cls - 1 : 5]);
	if (!ours)
		return;
	switch (status) {
	case 400: SL_ST_INC(fe->req_err[0]); break;
	case 405: SL_ST_INC(fe->req_err[1]); break;
	case 408: SL_ST_INC(fe->req_err[2]); break;
	case 429: SL_ST_INC(fe->req_err[3]); break;
	case 431: SL_ST_INC(fe->req_err[4]); break;
	case 502: SL_ST_INC(be->rsp_err[0]); break;
	case 503: SL_ST_INC(be->rsp_err[1]); break;
	case 504: SL_ST_INC(be->rsp_err[2]); break;
	default: SL_ST_INC(fe->req_err[5]); break;
	}
}

void sl_stats_check_result(struct sl_server *srv, int reason, uint64_t ms)
{
	if (reason >= 0 && reason < SL_CHECK_REASONS)
		atomic_fetch_add_explicit(&srv->check_res[reason], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&srv->check_hist[bucket(sl_check_bounds_ms, SL_CHECK_BUCKETS,
							  ms)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&srv->check_ms_sum, ms, memory_order_relaxed);
}

void sl_stats_set_fixed_fds(struct sl_proxy *px)
{
	sl_fdaudit_set_fixed(px);
}

void sl_stats_fd_audit(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted)
{
	sl_fdaudit_sample(px, open_fds, accounted);
}

void sl_stats_fd_audit_all(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted,
			   uint64_t *direct, uint64_t *direct_accounted)
{
	sl_fdaudit_sample_all(px, open_fds, accounted, direct, direct_accounted);
}
