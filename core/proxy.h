/*
 * One configuration at run time (core/ layer): configuration, backends,
 * health checker and workers, shared by every thread. Built by the main
 * thread before its workers start; workers only read it, except for the
 * atomic counters. A reload builds a new one next to it (core/world.c): the
 * old one is retired and freed once its last session has ended.
 */
#ifndef SL_CORE_PROXY_H
#define SL_CORE_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include "conf/conf-t.h"
#include "core/backend.h"
#include "core/session-t.h"
#include "core/worker-t.h"

struct sl_checker;
struct sl_fe_stats;
struct sl_be_stats;
struct sl_srv_stats;

struct sl_proxy {
	const struct sl_config *conf;   /* owned: freed with the proxy */
	struct sl_backend *backends;
	struct sl_worker *workers;
	int nworkers;
	atomic_uint sessions;    /* client connections of this configuration */
	atomic_int stopping;
	atomic_int retiring;     /* replaced by a reload: accept no more, drain */
	struct sl_checker *checker;
	unsigned gen;            /* 1 at start, +1 per reload */
	atomic_int accepting;    /* workers accepting on every listener */
	int fixed_fds;           /* its rings and eventfds (fd audit) */
	/* Retired configurations still draining, newest first. Changed by the
	 * main thread under sl_world_chain_lock; the stats pages walk it under
	 * the same lock (their counters and fds still count). */
	struct sl_proxy *older;
	/* Counters of retired configurations, folded in by frontend, backend and
	 * server identity when they were freed, so that reloads reset nothing
	 * (added with atomics by the main thread, read by the stats pages). */
	struct sl_fe_stats *carry_fe;
	struct sl_be_stats *carry_be;
	struct sl_srv_stats *carry_srv;
};

extern pthread_mutex_t sl_world_chain_lock;

/* Worker lifecycle (core/worker.c). sl_worker_start returns 0 once the
 * worker's ring is up and its listeners are armed, or -errno with w->why. */
int sl_worker_start(struct sl_worker *w);
void sl_worker_wake(struct sl_worker *w);
void sl_worker_join(struct sl_worker *w);
/* socket()/accept ran out of fds (err): log at most once a second and back
 * off every listener of the worker for a while, without spinning. */
void sl_worker_fd_exhausted(struct sl_worker *w, int err);
/* A client connection of frontend fe_idx ended: start a pending one or
 * resume accepting if a limit had paused it. */
void sl_worker_conn_closed(struct sl_worker *w, int fe_idx);
/* Deadlines (core/timerq.h): queue or move e for `at`, ms on the worker's
 * clock; the worker's one io_uring timeout is moved earlier if `at` comes
 * first. When e is due, the worker calls its owner (e->kind) from its
 * completion batch: sl_session_on_timer or sl_pool_on_timer. Deleting
 * submits nothing: the timeout may then fire early and re-arm. O(log n). */
void sl_worker_timer_set(struct sl_worker *w, struct sl_timerq_ent *e, uint64_t at);
void sl_worker_timer_del(struct sl_worker *w, struct sl_timerq_ent *e);

/* A session enters or leaves the idle state (http keep-alive between
 * requests, gauge SL_GS_IDLE): keep the worker's idle lists, oldest first. */
void sl_worker_idle_enter(struct sl_session *s);
void sl_worker_idle_leave(struct sl_session *s);
/* The worker running on this thread, or NULL (main and checker threads). */
struct sl_worker *sl_worker_current(void);
/* What the completions this worker has not dispatched yet change in the fd
 * table relative to its counters (+1 per accepted socket, -1 per completed
 * close), in *delta. Returns -EOVERFLOW when completions wait in the
 * kernel's overflow list (then the sum is incomplete), 0 otherwise. Only
 * from the worker's own thread. */
int sl_worker_pending_fd_delta(struct sl_worker *w, int64_t *delta, int64_t *ddelta);

#endif
