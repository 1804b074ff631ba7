/*
 * Slices of provided buffers (ring/ layer). A recv completion delivers its
 * bytes as a slice: an id the caller owns until it gives it back with
 * sl_ring_slice_put(), naming bytes at r->bufs + r->spos[id].
 *
 * With fixed buffers (the kernel takes a whole buffer per completion) a
 * slice is its buffer: same id, released by recycling the buffer.
 *
 * With incrementally consumed buffers (IOU_PBUF_RING_INC, Linux 6.12+) the
 * kernel fills one large buffer, the head of the ring, with as many
 * completions as fit, from any socket: each completion takes the bytes
 * after the previous one and carries IORING_CQE_F_BUF_MORE while the
 * kernel keeps the buffer for the next. So one buffer may be shared by
 * several completions held by several connections, and it may be reused
 * only when all of them are done with it. Ownership:
 *   - every completion with data gets a slice id of its own (one owner
 *     per slice, as one owner per buffer before: the connection's queue,
 *     or the peer's txq it moved to);
 *   - refs[buffer] counts the buffer's live slices, plus one for the
 *     kernel from the buffer's first completion until the first one
 *     without BUF_MORE (or until the buffer ring is unregistered);
 *   - sl_ring_slice_put() frees the slice id and drops one reference; the
 *     buffer is recycled (posted or parked, ring/bufpool.c) when the count
 *     reaches zero, which happens exactly once per use of the buffer.
 * Completions of one buffer reach us in the order the kernel filled it
 * (one issuer, one buffer list), so koff[] (bytes filled so far) gives
 * each slice its offset. A completion without data (EOF, error) consumed
 * nothing: the kernel commits exactly the bytes it reports.
 */
#include <errno.h>
#include <stdlib.h>

#include "ring/ring.h"

int sl_ring_slice_init(struct sl_ring *r, uint32_t nslices)
{
	r->kpart = -1;
	if (!r->inc) {
		r->nslices = r->buf_count;
		r->spos = malloc((size_t)r->buf_count * sizeof(*r->spos));
		if (!r->spos)
			return -ENOMEM;
		for (uint32_t i = 0; i < r->buf_count; i++)
			r->spos[i] = i * r->buf_size;
		return 0;
	}
	r->nslices = nslices;
	r->spos = calloc(nslices, sizeof(*r->spos));
	r->sbuf = calloc(nslices, sizeof(*r->sbuf));
	r->sfree = malloc((size_t)nslices * sizeof(*r->sfree));
	r->refs = calloc(r->buf_count, sizeof(*r->refs));
	r->koff = calloc(r->buf_count, sizeof(*r->koff));
	if (!r->spos || !r->sbuf || !r->sfree || !r->refs || !r->koff)
		return -ENOMEM;
	/* id 0 on top */
	for (uint32_t i = 0; i < nslices; i++)
		r->sfree[i] = (uint16_t)(nslices - 1 - i);
	r->nsfree = nslices;
	return 0;
}

void sl_ring_slice_exit(struct sl_ring *r)
{
	free(r->spos);
	free(r->sbuf);
	free(r->sfree);
	free(r->refs);
	free(r->koff);
	r->spos = NULL;
	r->sbuf = NULL;
	r->sfree = NULL;
	r->refs = NULL;
	r->koff = NULL;
}

static void unref(struct sl_ring *r, uint16_t bid)
{
	if (--r->refs[bid])
		return;
	r->koff[bid] = 0;
	sl_ring_buf_recycle(r, bid);
}

/* The kernel has moved past buffer bid: its reference goes. */
static void kernel_done(struct sl_ring *r, uint16_t bid)
{
	if (r->kpart == (int32_t)bid)
		r->kpart = -1;
	unref(r, bid);
}

int sl_ring_slice_take(struct sl_ring *r, uint32_t flags, int res)
{
	uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT), id;
	uint32_t pos;

	if (!r->inc) {
		sl_ring_buf_taken(r, bid);
		if (res > 0)
			return bid;
		sl_ring_buf_recycle(r, bid);
		return -ENODATA;
	}
	if (res <= 0)
		return -ENODATA;
	if (!r->refs[bid]) {
		/* its first bytes: the buffer leaves the ring for good */
		sl_ring_buf_taken(r, bid);
		r->refs[bid] = 1;
	}
	pos = r->koff[bid];
	r->koff[bid] += (uint32_t)res;
	if (!r->nsfree) {
		r->slice_lost++;
		if (!(flags & IORING_CQE_F_BUF_MORE))
			kernel_done(r, bid);
		else
			r->kpart = bid;
		return -ENOBUFS;
	}
	id = r->sfree[--r->nsfree];
	r->sbuf[id] = bid;
	r->spos[id] = (uint32_t)bid * r->buf_size + pos;
	r->refs[bid]++;
	if (flags & IORING_CQE_F_BUF_MORE)
		r->kpart = bid;
	else
		kernel_done(r, bid);
	return id;
}

void sl_ring_slice_put(struct sl_ring *r, uint16_t id)
{
	if (!r->inc) {
		sl_ring_buf_recycle(r, id);
		return;
	}
	r->sfree[r->nsfree++] = id;
	unref(r, r->sbuf[id]);
}

void sl_ring_slice_kernel_gone(struct sl_ring *r)
{
	if (r->inc && r->kpart >= 0)
		kernel_done(r, (uint16_t)r->kpart);
}
