/*
 * Deadline queue (core/ layer): a binary min-heap of deadlines in
 * milliseconds, one per worker, under the worker's one io_uring timeout
 * (core/worker.c arms that for the earliest entry). Owners embed a struct
 * sl_timerq_ent; setting, moving and deleting an entry is O(log n) and
 * needs no ring request, so the cost of a session's timer does not grow
 * with the number of live sessions the way a TIMEOUT_UPDATE or
 * TIMEOUT_REMOVE does (the kernel finds those by walking every armed
 * timeout). No I/O here.
 */
#ifndef SL_CORE_TIMERQ_H
#define SL_CORE_TIMERQ_H

#include <stdbool.h>
#include <stdint.h>

/* Who an entry belongs to: the worker's timer calls that module. */
enum sl_timerq_kind {
	SL_TQ_SESSION = 0,   /* struct sl_session.tq (core/session.c) */
	SL_TQ_POOL,          /* struct sl_pool_conn.tq (core/pool.c) */
	SL_TQ_PURGE,         /* struct sl_pool.purge[backend] (core/pool.c) */
};

struct sl_timerq_ent {
	uint64_t at;         /* the deadline, ms (valid while queued) */
	uint32_t idx;        /* position in the heap + 1; 0: not queued */
	uint8_t kind;        /* enum sl_timerq_kind, set by the owner */
};

/* The heap keeps the key next to the pointer, so that sifting compares
 * without touching the owners' memory. */
struct sl_timerq_node {
	uint64_t at;
	struct sl_timerq_ent *e;
};

struct sl_timerq {
	struct sl_timerq_node *h;
	uint32_t n, cap;
};

/* Room for cap entries, allocated once (the owners' tables are fixed too):
 * setting an entry never fails. Returns 0 or -ENOMEM. */
int sl_timerq_init(struct sl_timerq *q, uint32_t cap);
/* Accepts a queue never initialised (zeroed). */
void sl_timerq_free(struct sl_timerq *q);
/* Queue e for `at`, or move it there if it is queued already. */
void sl_timerq_set(struct sl_timerq *q, struct sl_timerq_ent *e, uint64_t at);
/* Take e out of the queue; nothing if it is not queued. */
void sl_timerq_del(struct sl_timerq *q, struct sl_timerq_ent *e);
/* Take out and return the earliest entry if its deadline is at or before
 * now, else NULL. */
struct sl_timerq_ent *sl_timerq_pop_due(struct sl_timerq *q, uint64_t now);

static inline bool sl_timerq_queued(const struct sl_timerq_ent *e)
{
	return e->idx != 0;
}

/* The earliest deadline, or UINT64_MAX when the queue is empty. */
static inline uint64_t sl_timerq_next(const struct sl_timerq *q)
{
	return q->n ? q->h[0].at : UINT64_MAX;
}

static inline uint32_t sl_timerq_count(const struct sl_timerq *q)
{
	return q->n;
}

#endif
