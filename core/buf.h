/*
 * Buffers (core/ layer): a worker's received slices (ids below
 * SL_BUF_COUNT: slices of the kernel's provided buffers, ring/slice.c; with
 * fixed buffers a slice is a whole buffer) and plaintext buffers of transports
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
		return (char *)sl_ring_slice_ptr(&w->ring, bid);
	return w->pbuf[bid - SL_BUF_COUNT];
}

static inline void sl_buf_release(struct sl_worker *w, uint16_t bid)
{
	uint16_t i;

	if (bid < SL_BUF_COUNT) {
		sl_ring_slice_put(&w->ring, bid);
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
	q->bytes += len;
	if (q->count)
		w->buf_next[q->tail] = bid;
	else
		q->head = bid;
	q->tail = bid;
	q->count++;
}

/* Queue received slice id (len bytes) on q: when it continues the slice
 * at q's tail in the same incremental buffer, the tail grows over it and
 * the id goes back at once (one piece where there were two: fewer iovecs
 * per send). Nothing reads past a queued buffer's length, and a send
 * already built keeps its own lengths, so growing the tail is safe. */
static inline void sl_bufq_push_rx(struct sl_worker *w, struct sl_bufq *q, uint16_t id,
				   uint32_t len)
{
	if (q->count && q->tail < SL_BUF_COUNT &&
	    sl_ring_slice_follows(&w->ring, q->tail, w->buf_len[q->tail], id)) {
		w->buf_len[q->tail] += len;
		q->bytes += len;
		sl_ring_slice_put(&w->ring, id);
		return;
	}
	sl_bufq_push(w, q, id, len);
}

/* Unlink the head buffer without releasing it; returns its id. */
static inline uint16_t sl_bufq_unlink(struct sl_worker *w, struct sl_bufq *q)
{
	uint16_t bid = q->head;

	q->head = w->buf_next[bid];
	q->count--;
	q->bytes -= w->buf_len[bid];
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
