/*
 * Statistics (core/ layer): the per-worker counters, their classification
 * helpers, and the fd audit. Rendering to Prometheus text, JSON and HTML is
 * in core/stats_render.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"

/* Upper bounds of the histogram buckets (the last bucket is +Inf). */
const uint64_t sl_life_bounds_ms[SL_LIFE_BUCKETS] = {
	10, 100, 1000, 10000, 60000, 600000, 3600000, 86400000
};
const uint64_t sl_reqs_bounds[SL_REQS_BUCKETS] = { 0, 1, 2, 5, 10, 100, 1000 };
const uint64_t sl_check_bounds_ms[SL_CHECK_BUCKETS] = { 1, 5, 25, 100, 500, 2000 };

static uint64_t fixed_fds;

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
	const struct sl_side *c = &s->side[SL_SIDE_CLI], *v = &s->side[SL_SIDE_SRV];

	if (s->state == SL_SESS_ST_CLOSING || s->state == SL_SESS_ST_FREE)
		return SL_GS_NONE;
	if (s->queued)
		return SL_GS_QUEUED;
	if (v->fd >= 0 && !v->connected)
		return SL_GS_CONNECT;
	if (c->rd_eof && v->fd >= 0 && !v->rd_eof)
		return SL_GS_CLI_HALF;
	if (v->rd_eof && !c->rd_eof && v->fd >= 0)
		return SL_GS_SRV_HALF;
	if (s->idle)
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
	if (g != SL_GS_NONE)
		SL_ST_INC(fe->gauge[g]);
	s->gauge = (uint8_t)g;
}

static int bucket(const uint64_t *bounds, int n, uint64_t v)
{
	int i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

void sl_stats_session_end(struct sl_session *s)
{
	struct sl_fe_stats *fe = &s->w->st->fe[s->fe_idx];
	uint64_t life = s->w->now_ms - s->start_ms;
	int c = s->cause < SL_CAUSES ? s->cause : 0;

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

static uint64_t count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* the directory's own fd */
}

/* fds owned by sessions, pools and listeners over all workers, pooled
 * connections in transit from a retired worker to its successor, and the
 * rings and eventfds of each configuration, the running one and those a
 * reload retired that are still draining */
static uint64_t owned_fds(struct sl_proxy *px)
{
	uint64_t n = 0;

	pthread_mutex_lock(&sl_world_chain_lock);
	for (; px; px = px->older) {
		n += (uint64_t)px->fixed_fds;
		for (int i = 0; i < px->nworkers; i++) {
			struct sl_worker *w = &px->workers[i];

			if (w->st)
				n += SL_ST_GET(w->st->fds);
			/* pooled connections a reload handed over, not yet adopted */
			n += w->pool.nxfer;
			n += (uint64_t)__atomic_load_n(&w->listeners_open, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&sl_world_chain_lock);
	return n;
}

void sl_stats_set_fixed_fds(struct sl_proxy *px)
{
	fixed_fds = count_open_fds() - owned_fds(px);
}

void sl_stats_fd_audit(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted)
{
	*open_fds = count_open_fds();
	*accounted = fixed_fds + owned_fds(px);
}
