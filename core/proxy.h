/*
 * The process (core/ layer): configuration, backends and workers, shared by
 * every thread. Built by the main thread before any worker starts; workers
 * only read it, except for the atomic counters.
 */
#ifndef SL_CORE_PROXY_H
#define SL_CORE_PROXY_H

#include <stdatomic.h>
#include "conf/conf-t.h"
#include "core/backend.h"
#include "core/session-t.h"

/* Provided buffers: per worker pool and per-session, per-direction quota. */
#define SL_BUF_SIZE      16384u
#define SL_BUF_COUNT     4096u
#define SL_BUF_QUOTA     16u
#define SL_RING_ENTRIES  4096u
/* Plaintext buffers of TLS connections, per worker (SL_BUF_SIZE each,
 * allocated when first needed, at most this many). */
#define SL_PBUF_COUNT    8192u
#define SL_PBUF_CACHE    256u  /* free ones kept allocated */

struct sl_proxy {
	const struct sl_config *conf;
	struct sl_backend *backends;
	struct sl_worker *workers;
	int nworkers;
	atomic_uint sessions;    /* process-wide client connections */
	atomic_int stopping;
};

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
int sl_worker_pending_fd_delta(struct sl_worker *w, int64_t *delta);

#endif
