/*
 * Deadline queue (core/ layer): the binary min-heap behind a worker's one
 * io_uring timeout (see core/timerq.h). Each entry knows its position, so
 * that moving or deleting it is a sift from there, O(log n), with no search.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/table.h"
#include "core/timerq.h"

int sl_timerq_init(struct sl_timerq *q, uint32_t cap)
{
	q->n = 0;
	q->cap = cap;
	/* pages of the table are only touched as the heap grows */
	q->h = cap ? sl_table_alloc(cap, sizeof(*q->h)) : NULL;
	return cap && !q->h ? -ENOMEM : 0;
}

void sl_timerq_free(struct sl_timerq *q)
{
	sl_table_free(q->h, q->cap, sizeof(*q->h));
	q->h = NULL;
	q->n = q->cap = 0;
}

static inline void place(struct sl_timerq *q, uint32_t i, struct sl_timerq_node nd)
{
	q->h[i] = nd;
	nd.e->idx = i + 1;
}

static void sift_up(struct sl_timerq *q, uint32_t i, struct sl_timerq_node nd)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (q->h[parent].at <= nd.at)
			break;
		place(q, i, q->h[parent]);
		i = parent;
	}
	place(q, i, nd);
}

static void sift_down(struct sl_timerq *q, uint32_t i, struct sl_timerq_node nd)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= q->n)
			break;
		if (c + 1 < q->n && q->h[c + 1].at < q->h[c].at)
			c++;
		if (nd.at <= q->h[c].at)
			break;
		place(q, i, q->h[c]);
		i = c;
	}
	place(q, i, nd);
}

/* Put nd at position i, where the heap order may be broken either way. */
static void resettle(struct sl_timerq *q, uint32_t i, struct sl_timerq_node nd)
{
	if (i > 0 && q->h[(i - 1) / 2].at > nd.at)
		sift_up(q, i, nd);
	else
		sift_down(q, i, nd);
}

void sl_timerq_set(struct sl_timerq *q, struct sl_timerq_ent *e, uint64_t at)
{
	struct sl_timerq_node nd = { .at = at, .e = e };

	e->at = at;
	if (e->idx) {
		resettle(q, e->idx - 1, nd);
		return;
	}
	/* the table holds every possible owner: it cannot be full */
	if (q->n >= q->cap)
		abort();
	sift_up(q, q->n++, nd);
}

void sl_timerq_del(struct sl_timerq *q, struct sl_timerq_ent *e)
{
	uint32_t i;

	if (!e->idx)
		return;
	i = e->idx - 1;
	e->idx = 0;
	if (i == --q->n)
		return;
	resettle(q, i, q->h[q->n]);
}

struct sl_timerq_ent *sl_timerq_pop_due(struct sl_timerq *q, uint64_t now)
{
	struct sl_timerq_ent *e;

	if (!q->n || q->h[0].at > now)
		return NULL;
	e = q->h[0].e;
	sl_timerq_del(q, e);
	return e;
}
