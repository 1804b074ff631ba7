/*
 * The fd audit (core/ layer): see core/fdaudit.h for why a sample pauses
 * the workers. The fds are counted by reading /proc/self/fd. Its stat()
 * size (a bitmap count, Linux 6.2+) would be cheaper but counts fd numbers
 * reserved and not yet installed: a thread blocked in accept4() (the admin
 * API's) holds one, so that count is one too many while it waits.
 * Protocol: the sampler bumps `gen` and publishes it in sl_fdaudit_want,
 * wakes every worker through its eventfd, waits until every live worker
 * other than itself has parked, counts, then releases them (done_gen).
 * Two samplers at once: the second parks for the first, then takes its
 * own sample.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fdaudit.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/stats.h"

#define PARK_WAIT_MS 1000

uint64_t sl_fdaudit_want;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_parked = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_release = PTHREAD_COND_INITIALIZER;
/* under mu */
static uint64_t gen, done_gen;
static bool busy;            /* a sample is being taken */
static int parked;           /* workers paused for gen */
static int64_t parked_adj;   /* what their undispatched completions change */
static uint64_t fixed_fds;
static bool fixed_set;

static uint64_t count_open_fds(void)
{
	DIR *d;
	struct dirent *e;
	uint64_t n = 0;

	d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* the directory's own fd */
}

/* The configurations a sample covers: the running one and those a reload
 * retired that are still draining (core/world.c). Taken under the chain
 * lock; none of them is freed before the sample ends (sl_fdaudit_barrier). */
#define MAX_WORLDS 64
struct worlds {
	struct sl_proxy *px[MAX_WORLDS];
	int n;
};

static void snapshot(struct sl_proxy *px, struct worlds *ws)
{
	ws->n = 0;
	pthread_mutex_lock(&sl_world_chain_lock);
	for (; px && ws->n < MAX_WORLDS; px = px->older)
		ws->px[ws->n++] = px;
	pthread_mutex_unlock(&sl_world_chain_lock);
}

/* fds owned by sessions, pools and listeners over all workers (all paused),
 * and each configuration's rings, eventfds and checker */
static uint64_t owned_fds(const struct worlds *ws)
{
	uint64_t n = 0;

	for (int k = 0; k < ws->n; k++) {
		struct sl_proxy *px = ws->px[k];

		n += (uint64_t)__atomic_load_n(&px->fixed_fds, __ATOMIC_RELAXED);
		for (int i = 0; i < px->nworkers; i++) {
			struct sl_worker *w = &px->workers[i];

			if (!w->st)
				continue;
			n += SL_ST_GET(w->st->fds);
			/* pooled connections a reload handed to w, not yet adopted */
			n += (uint64_t)__atomic_load_n(&w->pool.nxfer, __ATOMIC_RELAXED);
			n += (uint64_t)__atomic_load_n(&w->listeners_open, __ATOMIC_RELAXED);
		}
	}
	return n;
}

/* Direct descriptors in the live workers' tables, and accounted for (mu
 * held: a worker leaving closes its ring under mu). */
static void direct_fds(const struct worlds *ws, uint64_t *in_use, uint64_t *accounted)
{
	*in_use = *accounted = 0;
	for (int k = 0; k < ws->n; k++) {
		struct sl_proxy *px = ws->px[k];

		for (int i = 0; i < px->nworkers; i++) {
			struct sl_worker *w = &px->workers[i];
			int n;

			if (!w->st || !w->audit_live || !w->ring.direct_files)
				continue;
			*accounted += SL_ST_GET(w->st->dfds);
			n = sl_ring_direct_in_use(&w->ring);
			if (n > 0)
				*in_use += (uint64_t)n;
		}
	}
}

/* Pause for sample g until it is taken (mu held). */
static void park_locked(struct sl_worker *w, uint64_t g, int64_t adj)
{
	parked++;
	parked_adj += adj;
	pthread_cond_signal(&cv_parked);
	while (done_gen < g)
		pthread_cond_wait(&cv_release, &mu);
	w->audit_gen = g;
}

void sl_fdaudit_park(struct sl_worker *w)
{
	pthread_mutex_lock(&mu);
	if (busy && w->audit_gen != gen)
		park_locked(w, gen, 0);
	else
		w->audit_gen = gen;
	pthread_mutex_unlock(&mu);
}

void sl_fdaudit_worker_start(struct sl_worker *w)
{
	pthread_mutex_lock(&mu);
	w->audit_live = true;
	w->audit_gen = busy ? gen - 1 : gen; /* a sample in progress waits for it */
	pthread_mutex_unlock(&mu);
}

void sl_fdaudit_worker_stop(struct sl_worker *w)
{
	pthread_mutex_lock(&mu);
	if (w->audit_live) {
		w->audit_live = false;
		if (w->ring.ready)
			__atomic_fetch_sub(&w->px->fixed_fds, 1, __ATOMIC_RELAXED); /* its ring */
		sl_ring_exit(&w->ring);
		pthread_cond_signal(&cv_parked);
	}
	pthread_mutex_unlock(&mu);
}

static int live_others(const struct worlds *ws, const struct sl_worker *self)
{
	int n = 0;

	for (int k = 0; k < ws->n; k++)
		for (int i = 0; i < ws->px[k]->nworkers; i++)
			n += &ws->px[k]->workers[i] != self && ws->px[k]->workers[i].audit_live;
	return n;
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Become the sampler (mu held): park for a sample in progress first. */
static void begin(struct sl_worker *self, int64_t self_adj)
{
	while (busy) {
		if (self && self->audit_live && self->audit_gen != gen)
			park_locked(self, gen, self_adj);
		else
			pthread_cond_wait(&cv_release, &mu);
	}
	busy = true;
	gen++;
	parked = 0;
	parked_adj = 0;
	if (self)
		self->audit_gen = gen;
	__atomic_store_n(&sl_fdaudit_want, gen, __ATOMIC_RELEASE);
}

/* Wake every live worker but self out of io_uring_enter (mu not held: a
 * write to an eventfd never blocks). */
static void wake_others(const struct worlds *ws, const struct sl_worker *self)
{
	uint64_t one = 1;

	for (int k = 0; k < ws->n; k++)
		for (int i = 0; i < ws->px[k]->nworkers; i++) {
			struct sl_worker *w = &ws->px[k]->workers[i];

			if (w != self && __atomic_load_n(&w->audit_live, __ATOMIC_RELAXED) &&
			    write(w->wake_fd, &one, sizeof(one)) < 0)
				sl_log("fd audit: cannot wake worker %d: %s", w->id,
				       strerror(errno));
		}
}

static bool sample(struct sl_proxy *px, struct sl_worker *self, uint64_t *open_fds,
		   uint64_t *accounted, uint64_t *dopen, uint64_t *dacc, bool fixing)
{
	int64_t self_adj = 0, self_dadj = 0;
	bool exact = true;
	struct timespec dl;
	struct worlds ws;

	if (self && sl_worker_pending_fd_delta(self, &self_adj, &self_dadj) < 0)
		exact = false; /* its completion queue overflowed */
	pthread_mutex_lock(&mu);
	begin(self, self_adj);
	pthread_mutex_unlock(&mu);
	snapshot(px, &ws); /* after begin: a reap now waits for the sample */
	wake_others(&ws, self);
	pthread_mutex_lock(&mu);
	deadline_in(&dl, PARK_WAIT_MS);
	while (parked < live_others(&ws, self))
		if (pthread_cond_timedwait(&cv_parked, &mu, &dl) == ETIMEDOUT) {
			if (parked < live_others(&ws, self)) {
				sl_log("fd audit: %d worker(s) did not pause within %d ms: "
				       "this sample is not exact", live_others(&ws, self) - parked,
				       PARK_WAIT_MS);
				exact = false;
			}
			break;
		}
	*open_fds = count_open_fds();
	if (fixing) {
		fixed_fds = *open_fds - owned_fds(&ws) - (uint64_t)(parked_adj + self_adj);
		fixed_set = true;
	}
	*accounted = fixed_fds + owned_fds(&ws) + (uint64_t)(parked_adj + self_adj);
	if (dopen) {
		direct_fds(&ws, dopen, dacc);
		*dacc += (uint64_t)self_dadj;
	}
	done_gen = gen;
	busy = false;
	__atomic_store_n(&sl_fdaudit_want, 0, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cv_release);
	pthread_mutex_unlock(&mu);
	return exact;
}

void sl_fdaudit_set_fixed(struct sl_proxy *px)
{
	uint64_t o, a;

	sample(px, NULL, &o, &a, NULL, NULL, true);
}

void sl_fdaudit_close_fixed(struct sl_proxy *px, int fd)
{
	pthread_mutex_lock(&mu);
	close(fd);
	__atomic_fetch_sub(&px->fixed_fds, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mu);
}

void sl_fdaudit_barrier(void)
{
	pthread_mutex_lock(&mu);
	while (busy)
		pthread_cond_wait(&cv_release, &mu);
	pthread_mutex_unlock(&mu);
}

bool sl_fdaudit_sample(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted)
{
	return sample(px, sl_worker_current(), open_fds, accounted, NULL, NULL, false);
}

bool sl_fdaudit_sample_all(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted,
			   uint64_t *direct, uint64_t *direct_accounted)
{
	return sample(px, sl_worker_current(), open_fds, accounted, direct, direct_accounted,
		      false);
}
