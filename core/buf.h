/*
 * Buffers (core/ layer): a worker's provided buffers (ids below
 * SL_BUF_COUNT, the kernel's ring) and plaintext buffers of transports
 * (ids above, w->pbuf, allocated on demand), and FIFOs of buffer ids linked
 * through w->buf_next. Used by core/conn.c only; transports reach buffers
 * through the connection API.
 */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stdint.h>
#include <stdlib.h>

#include "core/conn-t.h"
#include "core/worker-t.h"
#include "ring/ring.h"

static inline char *sl_buf_ptr(struct sl_worker *w, uint16_t bid)
{
	if (bid < SL_BUF_COUNT)
		return (char *)sl_ring_buf(&w->ring, bid);
	return w->pbuf[bid - SL_BUF_COUNT];
}

static inline void sl_buf_release(struct sl_worker *w, uint16_t bid)
{
	uint16_t i;

	if (bid < SL_BUF_COUNT) {
		sl_ring_buf_recycle(&w->ring, bid);
		return;
	}
	i = (uint16_t)(bid - SL_BUF_COUNT);
	if (w->npbuf_cached >= SL_PBUF_CACHE) {
		free(w->pbuf[i]); /* an idle worker keeps only a few */
		w->pbuf[i] = NULL;
	} else {
		w->npbuf_cached++;
	}
	w->pbuf_free[w->npbuf_free++] = i;
}

/* A plaintext buffer id, or -1 when none is left. */
static inline int sl_buf_plain_get(struct sl_worker *w)
{
	uint16_t i;

	if (!w->npbuf_free)
		return -1;
	i = w->pbuf_free[--w->npbuf_free];
	if (w->pbuf[i]) {
		w->npbuf_cached--;
	} else if (!(w->pbuf[i] = malloc(SL_BUF_SIZE))) {
		w->npbuf_free++;
		return -1;
	}
	return (int)(SL_BUF_COUNT + i);
}

static inline void sl_bufq_push(struct sl_worker *w, struct sl_bufq *q, uint16_t bid,
				uint32_t len)
{
	w->buf_len[bid] = len;
	if (q->count)
		w->buf_next[q->tail] = bid;
	else
		q->head = bid;
	q->tail = bid;
	q->count++;
}

/* Unlink the head buffer without releasing it; returns its id. */
static inline uint16_t sl_bufq_unlink(struct sl_worker *w, struct sl_bufq *q)
{
	uint16_t bid = q->head;

	q->head = w->buf_next[bid];
	q->count--;
	q->off = 0;
	return bid;
}

static inline void sl_bufq_pop(struct sl_worker *w, struct sl_bufq *q)
{
	sl_buf_release(w, sl_bufq_unlink(w, q));
}

static inline void sl_bufq_clear(struct sl_worker *w, struct sl_bufq *q)
{
	while (q->count)
		sl_bufq_pop(w, q);
}

#endif
