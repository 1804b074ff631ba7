/*
 * Statistics history (core/ layer): the rates, percentiles and sparklines of
 * /stats and /stats.json come from here, so every viewer sees the same
 * numbers whoever else is watching. A thread of its own wakes every
 * stats_interval (10 s by default), sums the workers' counters and pushes
 * the difference with the previous sample into a fixed ring of
 * SL_HIST_SAMPLES samples per frontend and per server: memory is bounded
 * by the configuration, never by traffic or viewers. The thread holds no fd
 * and touches no worker state but the relaxed counter loads every
 * rendering does. Also kept here: the last state changes of each server,
 * with their wall-clock time and reason. One mutex guards it all; it is
 * taken by the sampler, by page renderings and by state changes, never on
 * the data path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "checks/check_http.h"
#include "core/log.h"
#include "core/stats-i.h"

/* One sample: what happened during one interval. */
struct hsample {
	uint32_t sess, req, cls[3];         /* sessions, requests, 2xx/4xx/5xx */
	uint32_t dur[SL_LAT_BUCKETS + 1];   /* request duration buckets */
	uint32_t rt[SL_LAT_BUCKETS + 1];    /* server response time buckets */
};

/* One frontend or server: its ring and the counters at the last sample. */
struct hseries {
	struct hsample ring[SL_HIST_SAMPLES];
	uint64_t sess, req, cls[3], dur[SL_LAT_BUCKETS + 1], rt[SL_LAT_BUCKETS + 1];
};

struct hevents {
	struct sl_hist_event ev[SL_HIST_EVENTS]; /* ring, newest at (next - 1) */
	int next, n;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct sl_proxy *px;
	uint64_t interval_ms;
	uint32_t nfe, nsrv;
	uint32_t *base;              /* per backend: global index of its first server */
	struct hseries *fe, *srv;
	struct hevents *ev;          /* by server global index */
	int head, count;             /* next slot to write, samples held */
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t delta(uint64_t now, uint64_t *last)
{
	uint64_t d = now >= *last ? now - *last : 0;

	*last = now;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Push the interval's differences of one series into slot at. */
static void push(struct hseries *h, int at, uint64_t sess, uint64_t req, const uint64_t *rsp,
		 const struct sl_hist *lat)
{
	struct hsample *x = &h->ring[at];

	x->sess = delta(sess, &h->sess);
	x->req = delta(req, &h->req);
	x->cls[0] = delta(rsp[1], &h->cls[0]);
	x->cls[1] = delta(rsp[3], &h->cls[1]);
	x->cls[2] = delta(rsp[4], &h->cls[2]);
	for (int i = 0; i <= SL_LAT_BUCKETS; i++) {
		x->dur[i] = delta(lat[SL_LAT_REQUEST].b[i], &h->dur[i]);
		x->rt[i] = delta(lat[SL_LAT_RESPONSE].b[i], &h->rt[i]);
	}
}

/* One sample of every series from totals t; under H.lock. The first call
 * only records the starting counters. */
static void sample(const struct totals *t, bool first)
{
	int at = H.head;

	for (uint32_t i = 0; i < H.nfe; i++) {
		const struct sl_fe_stats *f = &t->fe[i];

		push(&H.fe[i], at, f->sess_total, f->req_total, f->rsp, f->lat);
	}
	for (uint32_t i = 0; i < H.nsrv; i++) {
		const struct sl_srv_stats *v = &t->srv[i];

		push(&H.srv[i], at, v->sess_total, v->req_total, v->done, v->lat);
	}
	if (first)
		return;
	H.head = (H.head + 1) % SL_HIST_SAMPLES;
	if (H.count < SL_HIST_SAMPLES)
		H.count++;
}

static void *sampler(void *arg)
{
	struct timespec next;
	bool first = true;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&H.lock);
	while (!H.stop) {
		struct totals t = { 0 };
		int rc;

		if (!first) {
			next.tv_sec += (time_t)(H.interval_ms / 1000);
			next.tv_nsec += (long)(H.interval_ms % 1000) * 1000000;
			if (next.tv_nsec >= 1000000000) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000;
			}
			rc = 0;
			while (!H.stop && rc != ETIMEDOUT)
				rc = pthread_cond_timedwait(&H.cond, &H.lock, &next);
			if (H.stop)
				break;
		}
		/* under H.lock: a reload rebinds H.px to its new configuration
		 * under the same lock, and the old one is freed only after */
		rc = sl_stats_gather(H.px, &t, false);
		if (rc == 0) {
			sample(&t, first);
			first = false;
		}
		sl_stats_totals_free(&t);
	}
	pthread_mutex_unlock(&H.lock);
	return NULL;
}

static void record(uint32_t idx, int from, int to, const char *why)
{
	struct hevents *e = &H.ev[idx];
	struct sl_hist_event *x = &e->ev[e->next];

	x->wall_ms = wall_ms();
	x->from = (uint8_t)from;
	x->to = (uint8_t)to;
	snprintf(x->why, sizeof(x->why), "%s", why);
	e->next = (e->next + 1) % SL_HIST_EVENTS;
	if (e->n < SL_HIST_EVENTS)
		e->n++;
}

static void free_all(void)
{
	free(H.base);
	free(H.fe);
	free(H.srv);
	free(H.ev);
	H.base = NULL;
	H.fe = H.srv = NULL;
	H.ev = NULL;
	H.nfe = H.nsrv = 0;
	H.head = H.count = 0;
	H.px = NULL;
}

/* Allocate the rings and the event lists and note every server's state at
 * start, before the checker or any worker runs. */
static int history_alloc(struct sl_proxy *px)
{
	const struct sl_config *c = px->conf;
	uint32_t n = 0;

	H.base = calloc((size_t)c->nbackends + 1, sizeof(*H.base));
	if (!H.base)
		return -ENOMEM;
	for (int i = 0; i < c->nbackends; i++) {
		H.base[i] = n;
		n += (uint32_t)px->backends[i].nservers;
	}
	H.fe = calloc((size_t)c->nfrontends + 1, sizeof(*H.fe));
	H.srv = calloc((size_t)n + 1, sizeof(*H.srv));
	H.ev = calloc((size_t)n + 1, sizeof(*H.ev));
	if (!H.fe || !H.srv || !H.ev)
		return -ENOMEM;
	H.nfe = (uint32_t)c->nfrontends;
	H.nsrv = n;
	H.px = px;
	H.interval_ms = c->stats_interval_ms ? c->stats_interval_ms : 10000;
	for (int i = 0; i < c->nbackends; i++)
		for (int j = 0; j < px->backends[i].nservers; j++) {
			struct sl_server *s = &px->backends[i].servers[j];
			int st = sl_server_status(s), last = atomic_load(&s->last_check);
			char why[96] = "at start";

			if (st == SL_SRV_MAINT) {
				snprintf(why, sizeof(why), "disabled in the configuration");
			} else if (st == SL_SRV_DOWN && last > 0) {
				/* its checker got there first: say why (the
				 * transition itself came before the history) */
				struct sl_check_verdict v = { .reason = last - 1 };
				char r[64];

				snprintf(why, sizeof(why), "at start: %s",
					 sl_check_verdict_str(&v, r, sizeof(r)));
			}
			record(H.base[i] + (uint32_t)j, st, st, why);
		}
	return 0;
}

int sl_stats_history_init(struct sl_proxy *px)
{
	int ret;

	pthread_mutex_lock(&H.lock);
	ret = history_alloc(px);
	if (ret < 0)
		free_all();
	pthread_mutex_unlock(&H.lock);
	return ret;
}

int sl_stats_history_start(void)
{
	pthread_condattr_t ca;
	int ret;

	if (!H.px)
		return -EINVAL;
	H.stop = false;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = -pthread_cond_init(&H.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret < 0)
		return ret;
	ret = -pthread_create(&H.thread, NULL, sampler, NULL);
	if (ret < 0)
		goto err_cond;
	H.running = true;
	return 0;
err_cond:
	pthread_cond_destroy(&H.cond);
	return ret;
}

void sl_stats_history_stop(void)
{
	if (H.running) {
		pthread_mutex_lock(&H.lock);
		H.stop = true;
		pthread_cond_signal(&H.cond);
		pthread_mutex_unlock(&H.lock);
		pthread_join(H.thread, NULL);
		pthread_cond_destroy(&H.cond);
		H.running = false;
	}
	pthread_mutex_lock(&H.lock);
	free_all();
	pthread_mutex_unlock(&H.lock);
}

/* srv's global index in the history, or -1 when srv is not a server of the
 * configuration the history follows (a checker of a configuration being
 * started by a reload, before the switch). */
static int64_t srv_index(const struct sl_server *srv)
{
	const struct sl_backend *be = srv->be;

	if (!H.px || !H.ev || be < H.px->backends || be >= H.px->backends + H.px->conf->nbackends)
		return -1;
	return (int64_t)H.base[be - H.px->backends] + (srv - be->servers);
}

void sl_stats_server_event(struct sl_server *srv, int from, int to, const char *why)
{
	int64_t g;

	pthread_mutex_lock(&H.lock);
	g = srv_index(srv);
	if (g >= 0)
		record((uint32_t)g, from, to, why);
	pthread_mutex_unlock(&H.lock);
}

/* Index of the series named name in c (frontends), or -1. */
static int fe_named(const struct sl_config *c, const char *name)
{
	for (int i = 0; i < c->nfrontends; i++)
		if (strcmp(c->frontends[i].name, name) == 0)
			return i;
	return -1;
}

int sl_stats_history_rebind(struct sl_proxy *px)
{
	struct hseries *ofe, *osrv;
	struct hevents *oev;
	uint32_t *obase, onfe;
	struct sl_proxy *old;
	int ret;

	pthread_mutex_lock(&H.lock);
	old = H.px;
	ofe = H.fe;
	osrv = H.srv;
	oev = H.ev;
	obase = H.base;
	onfe = H.nfe;
	H.fe = H.srv = NULL;
	H.ev = NULL;
	H.base = NULL;
	ret = history_alloc(px); /* notes every server "at start" */
	if (ret < 0) {
		free_all();
		goto out;
	}
	/* what carries over: the series of a frontend or server of the same
	 * name, and a server's state changes; the samples stay aligned because
	 * every series shares H.head and H.count */
	for (uint32_t i = 0; old && i < H.nfe; i++) {
		int o = fe_named(old->conf, px->conf->frontends[i].name);

		if (o >= 0 && (uint32_t)o < onfe)
			H.fe[i] = ofe[o];
	}
	for (int i = 0; old && i < px->conf->nbackends; i++)
		for (int j = 0; j < px->backends[i].nservers; j++) {
			struct sl_backend *nb = &px->backends[i];
			uint32_t g = H.base[i] + (uint32_t)j;

			for (int b = 0; b < old->conf->nbackends; b++) {
				struct sl_backend *ob = &old->backends[b];

				if (strcmp(ob->conf->name, nb->conf->name) != 0)
					continue;
				for (int k = 0; k < ob->nservers; k++)
					if (!strcmp(ob->servers[k].conf->name, nb->servers[j].conf->name)) {
						H.srv[g] = osrv[obase[b] + (uint32_t)k];
						H.ev[g] = oev[obase[b] + (uint32_t)k];
					}
			}
		}
	if (!old)
		H.head = H.count = 0;
out:
	free(ofe);
	free(osrv);
	free(oev);
	free(obase);
	pthread_mutex_unlock(&H.lock);
	return ret;
}

double sl_stats_quantile(const uint64_t *b, double q)
{
	uint64_t total = 0, acc = 0;
	double rank;

	for (int i = 0; i <= SL_LAT_BUCKETS; i++)
		total += b[i];
	if (!total)
		return -1;
	rank = q * (double)total;
	for (int i = 0; i < SL_LAT_BUCKETS; i++) {
		double lo = i ? (double)sl_lat_bounds_us[i - 1] : 0, hi = (double)sl_lat_bounds_us[i];

		if ((double)(acc + b[i]) >= rank && b[i]) {
			double frac = (rank - (double)acc) / (double)b[i];

			return (lo + (hi - lo) * (frac < 0 ? 0 : frac)) / 1000;
		}
		acc += b[i];
	}
	return (double)sl_lat_bounds_us[SL_LAT_BUCKETS - 1] / 1000;
}

/* Sample k back from the newest (0: newest). */
static const struct hsample *nth(const struct hseries *h, int k)
{
	return &h->ring[(H.head - 1 - k + 2 * SL_HIST_SAMPLES) % SL_HIST_SAMPLES];
}

/* Samples the rates and percentiles cover: a minute's worth, or what there
 * is; under H.lock. */
static int window(void)
{
	int win = H.interval_ms ? (int)(SL_HIST_WINDOW_MS / H.interval_ms) : 1;

	if (win < 1)
		win = 1;
	return win < H.count ? win : H.count;
}

static void fill_view(const struct hseries *h, struct sl_hist_view *v)
{
	int win = window();

	v->valid = true;
	v->window_s = (double)win * v->interval_s;
	for (int k = 0; k < win; k++) {
		const struct hsample *x = nth(h, k);

		v->sess += x->sess;
		v->req += x->req;
		for (int i = 0; i < 3; i++)
			v->cls[i] += x->cls[i];
		for (int i = 0; i <= SL_LAT_BUCKETS; i++) {
			v->dur[i] += x->dur[i];
			v->rt[i] += x->rt[i];
		}
	}
	v->nspark = H.count;
	for (int k = 0; k < H.count; k++) {
		const struct hsample *x = nth(h, H.count - 1 - k);
		uint64_t d[SL_LAT_BUCKETS + 1];

		for (int i = 0; i <= SL_LAT_BUCKETS; i++)
			d[i] = x->dur[i];
		v->spark_req[k] = (double)x->req / v->interval_s;
		v->spark_sess[k] = (double)x->sess / v->interval_s;
		v->spark_p99[k] = sl_stats_quantile(d, 0.99);
	}
}

void sl_stats_hist_view(int kind, uint32_t idx, struct sl_hist_view *v)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&H.lock);
	v->interval_s = (double)H.interval_ms / 1000;
	if (H.count && kind == SL_HIST_FE && idx < H.nfe)
		fill_view(&H.fe[idx], v);
	else if (H.count && kind == SL_HIST_SRV && idx < H.nsrv)
		fill_view(&H.srv[idx], v);
	pthread_mutex_unlock(&H.lock);
}

int sl_stats_hist_events(uint32_t idx, struct sl_hist_event *ev)
{
	int n = 0;

	pthread_mutex_lock(&H.lock);
	if (H.ev && idx < H.nsrv) {
		const struct hevents *e = &H.ev[idx];

		for (n = 0; n < e->n; n++)
			ev[n] = e->ev[(e->next - 1 - n + 2 * SL_HIST_EVENTS) % SL_HIST_EVENTS];
	}
	pthread_mutex_unlock(&H.lock);
	return n;
}

void sl_stats_hist_info(uint64_t *interval_ms, int *nsamples, double *window_s)
{
	pthread_mutex_lock(&H.lock);
	*interval_ms = H.interval_ms ? H.interval_ms : 10000;
	*nsamples = H.count;
	*window_s = (double)window() * (double)*interval_ms / 1000;
	pthread_mutex_unlock(&H.lock);
}
