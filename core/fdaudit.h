/*
 * The fd audit (core/ layer): the number of open fds of the process (the
 * kernel's count) next to the number of fds the process accounts for, taken
 * at one instant so that any difference is a leak, under load too.
 * Each worker changes the fd table only inside its own io_uring_enter (with
 * DEFER_TASKRUN, accepts and ring closes run there and post their
 * completion in the same call) or in its own socket()/close() calls, whose
 * accounting follows at once. So a worker that has dispatched every
 * completion and is not inside io_uring_enter has a table share that equals
 * its counters exactly. A sample therefore pauses every worker at that
 * point (sl_fdaudit_park from the worker loop), counts the fds, and lets
 * them go; the worker taking the sample is in the middle of a dispatch and
 * adds what its not yet dispatched completions will change
 * (sl_worker_pending_fd_delta).
 * Server sockets may be direct descriptors (core/conn.c), in no process fd
 * table: they are counted apart, slots in use in each worker ring's
 * registered table (the kernel's view, from the ring's fdinfo) against the
 * workers' count, under the same pause: the table too changes only inside
 * the worker's io_uring_enter.
 */
#ifndef SL_CORE_FDAUDIT_H
#define SL_CORE_FDAUDIT_H

#include <stdbool.h>
#include <stdint.h>

struct sl_proxy;
struct sl_worker;

/* Nonzero while a sample waits for workers to pause: the worker loop reads
 * it once per iteration (one relaxed load). */
extern uint64_t sl_fdaudit_want;

/* Called by a worker at a quiescent point (every completion dispatched, CQ
 * and overflow list empty, not in io_uring_enter) when sl_fdaudit_want
 * differs from w->audit_gen: pause until the sample is taken. */
void sl_fdaudit_park(struct sl_worker *w);

/* The worker starts or stops taking part in audits (around its loop). On
 * stop its ring is closed here, under the audit's lock, so that the fixed
 * fds stay exact while the other workers run on. */
void sl_fdaudit_worker_start(struct sl_worker *w);
void sl_fdaudit_worker_stop(struct sl_worker *w);

/* Measure the fds the process owns outside sessions, pools and listeners
 * (rings, eventfds, log, checker): once every worker has started. */
void sl_fdaudit_set_fixed(struct sl_proxy *px);

/* Close fd, one of px's fixed fds (a worker's eventfd), and stop counting
 * it, at one instant for the audit. */
void sl_fdaudit_close_fixed(struct sl_proxy *px, int fd);

/* Wait for a sample in progress to end: a configuration unlinked from the
 * chain (sl_world_chain_lock) may be freed after this, never before. */
void sl_fdaudit_barrier(void);

/* Take one sample, from a worker thread (serving the stats page) or from
 * another thread. Returns true when it is exact (every worker paused within
 * a second; a worker whose completion queue overflowed cannot be exact). */
bool sl_fdaudit_sample(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted);
/* The same sample, with the direct descriptors of the workers' rings:
 * slots holding a file in the kernel's tables (*direct, read from each
 * ring's fdinfo) and the ones the workers account for (*direct_accounted). */
bool sl_fdaudit_sample_all(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted,
			   uint64_t *direct, uint64_t *direct_accounted);

#endif
