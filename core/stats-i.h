/*
 * Statistics, private to core/stats*.c (core/ layer): the output buffer,
 * the totals summed over every worker, the label names shared by the three
 * renderings, and the read side of the history (core/stats_hist.c) that
 * the JSON and HTML pages draw their rates, percentiles and sparklines
 * from. Nothing outside core/stats*.c includes this file.
 */
#ifndef SL_CORE_STATS_I_H
#define SL_CORE_STATS_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/proxy.h"
#include "core/stats.h"

#define U(x) ((unsigned long long)(x))

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

/* printf into b, growing it; on failure b->err is set and later calls do
 * nothing. */
void sl_stats_out(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Totals over every worker. */
struct totals {
	struct sl_fe_stats *fe;
	struct sl_be_stats *be;
	struct sl_srv_stats *srv;
	uint64_t pause_maxconn, pause_emfile, log_lines, log_dropped;
	uint64_t *pool_idle;       /* by server global index */
	uint64_t open_fds, accounted_fds;
	uint64_t direct_fds, accounted_direct_fds; /* server sockets in the rings' tables */
	uint32_t nsrv;
};

/* Sum every worker's counters into t (allocated; free with
 * sl_stats_totals_free even on failure). Returns 0 or -ENOMEM. */
int sl_stats_gather(struct sl_proxy *px, struct totals *t, bool fd_audit);
void sl_stats_totals_free(struct totals *t);

extern const uint64_t sl_lat_bounds_us[SL_LAT_BUCKETS];
extern const uint64_t sl_life_bounds_ms[SL_LIFE_BUCKETS];
extern const uint64_t sl_reqs_bounds[SL_REQS_BUCKETS];
extern const uint64_t sl_check_bounds_ms[SL_CHECK_BUCKETS];
extern const char *const sl_stats_gauge_names[SL_GS_COUNT];
extern const char *const sl_stats_cause_names[SL_CAUSES];
extern const char *const sl_stats_req_err_names[6];
extern const char *const sl_stats_rsp_names[6];
extern const char *const sl_stats_check_names[SL_CHECK_REASONS];
extern const char *const sl_stats_state_names[4];

/* The q-quantile (0..1) of histogram buckets b (per-bucket counts, the last
 * one +Inf), in ms, interpolated linearly inside its bucket; -1 when b is
 * empty. A quantile in the +Inf bucket is reported as the last bound. */
double sl_stats_quantile(const uint64_t *b, double q);

/* ---- history (core/stats_hist.c) ---- */

#define SL_HIST_SAMPLES 90      /* 15 minutes at the default 10 s interval */
#define SL_HIST_EVENTS 5        /* state changes kept per server */
#define SL_HIST_WINDOW_MS 60000 /* rates and percentiles: the last minute */

enum { SL_HIST_FE = 0, SL_HIST_SRV = 1 };

/* What the pages show of one frontend or server, taken from the history
 * under its lock so that every viewer sees the same numbers. */
struct sl_hist_view {
	bool valid;                 /* at least one sample exists */
	double window_s;            /* the span the rates and percentiles cover */
	uint64_t sess, req, cls[3]; /* in the window: sessions, requests, 2xx/4xx/5xx */
	uint64_t dur[SL_LAT_BUCKETS + 1], rt[SL_LAT_BUCKETS + 1]; /* request duration,
								   * response time */
	double interval_s;
	int nspark;                 /* samples in the sparklines, oldest first */
	double spark_req[SL_HIST_SAMPLES];   /* requests per second */
	double spark_sess[SL_HIST_SAMPLES];  /* sessions per second */
	double spark_p99[SL_HIST_SAMPLES];   /* request duration p99 ms, -1: no request */
};

struct sl_hist_event {
	uint64_t wall_ms;
	uint8_t from, to;           /* enum sl_srv_state; from == to: the state at start */
	char why[120];
};

/* Fill v for frontend or server idx (kind SL_HIST_FE or SL_HIST_SRV). */
void sl_stats_hist_view(int kind, uint32_t idx, struct sl_hist_view *v);
/* Copy up to SL_HIST_EVENTS state changes of server idx (global index),
 * newest first; returns how many. */
int sl_stats_hist_events(uint32_t idx, struct sl_hist_event *ev);
/* Sampling interval in ms, samples held (0 before the first one) and the
 * span in seconds the rates and percentiles cover now (0 without samples). */
void sl_stats_hist_info(uint64_t *interval_ms, int *nsamples, double *window_s);

/* ---- renderings ---- */

void sl_stats_render_prom(struct sbuf *b, struct sl_proxy *px, const struct totals *t);
void sl_stats_render_html(struct sbuf *b, struct sl_proxy *px, const struct totals *t);

#endif
