/*
 * The provided-buffer pool's working set (ring/ layer). The kernel takes
 * buffers from the head of the buffer ring and we give them back at its
 * tail: a FIFO, so a ring holding every free buffer would walk through the
 * whole pool (64 MiB a worker) and leave all of it resident after any
 * large transfer. Instead only `target` free buffers are posted in the
 * ring; the others are parked on a stack, ours, where their pages can be
 * given back to the kernel (MADV_DONTNEED) without any risk of the kernel
 * writing into them. The target follows demand: it doubles when a recv
 * meets -ENOBUFS while buffers are parked, and a periodic tick (the
 * worker's io_uring timeout, never the data path) lowers it to twice what
 * the last period used. Buffers parked for a whole period are released at
 * that tick; when the ring itself holds more than the target (a burst has
 * ended and nothing consumes them), the ring is registered anew at a
 * quiescent point and the surplus released. No syscall is made per
 * request: posting and parking only write memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ring/ring.h"

static void post(struct sl_ring *r, uint16_t bid)
{
	io_uring_buf_ring_add(r->br, sl_ring_buf(r, bid), r->buf_size, bid,
			      io_uring_buf_ring_mask(r->buf_count), (int)r->br_pending);
	r->br_pending++;
	r->posted++;
	r->bstate[bid] = SL_RING_B_POSTED;
}

static void park(struct sl_ring *r, uint16_t bid)
{
	r->park[r->nparked++] = bid;
	r->bstate[bid] = SL_RING_B_PARKED;
	r->ndirty++;
}

static uint16_t unpark(struct sl_ring *r)
{
	uint16_t bid = r->park[--r->nparked];

	if (r->bstate[bid] == SL_RING_B_PARKED)
		r->ndirty--;
	if (r->nparked < r->park_low)
		r->park_low = r->nparked;
	return bid;
}

/* Mark the period's start: what the next tick judges it by. */
static void period_reset(struct sl_ring *r)
{
	r->posted_low = r->posted;
	r->park_low = r->nparked;
	r->nobufs = false;
}

int sl_ring_buf_pool_init(struct sl_ring *r)
{
	r->bstate = malloc(r->buf_count);
	r->park = malloc((size_t)r->buf_count * sizeof(*r->park));
	if (!r->bstate || !r->park)
		return -ENOMEM;
	/* never touched yet: parked clean, id 0 on top */
	for (uint32_t i = 0; i < r->buf_count; i++) {
		r->park[i] = (uint16_t)(r->buf_count - 1 - i);
		r->bstate[r->park[i]] = SL_RING_B_CLEAN;
	}
	r->nparked = r->buf_count;
	/* the minimum is in units: a few large incremental buffers hold as
	 * much as many small ones */
	r->target_min = SL_RING_WS_MIN / (r->buf_size / r->unit);
	if (r->target_min < 2)
		r->target_min = 2;
	if (r->target_min > r->buf_count)
		r->target_min = r->buf_count;
	r->target = r->target_min;
	sl_ring_buf_refill(r);
	sl_ring_buf_publish(r);
	period_reset(r);
	return 0;
}

void sl_ring_buf_refill(struct sl_ring *r)
{
	while (r->posted < r->target && r->nparked)
		post(r, unpark(r));
}

void sl_ring_buf_recycle(struct sl_ring *r, uint16_t bid)
{
	r->buf_out--;
	if (r->posted < r->target)
		post(r, bid);
	else
		park(r, bid);
}

void sl_ring_buf_publish(struct sl_ring *r)
{
	r->grown = false;
	if (r->br_pending) {
		io_uring_buf_ring_advance(r->br, (int)r->br_pending);
		r->br_pending = 0;
	}
}

void sl_ring_buf_starved(struct sl_ring *r)
{
	if (!r->nparked)
		return; /* the whole pool is in use: the fairness rules decide */
	r->nobufs = true;
	/* once per batch of completions: the recvs that met the empty ring
	 * together are one shortage, not one each */
	if (!r->grown) {
		r->grown = true;
		r->target = r->target > r->buf_count / 2 ? r->buf_count : 2 * r->target;
	}
	sl_ring_buf_refill(r);
}

/* Give the pages of every buffer in state `from` back to the kernel, one
 * madvise per run of consecutive ids. Returns how many. */
static uint32_t release(struct sl_ring *r, uint8_t from)
{
	uint32_t n = 0, i = 0;

	while (i < r->buf_count) {
		uint32_t j = i;

		if (r->bstate[i] != from) {
			i++;
			continue;
		}
		while (j < r->buf_count && r->bstate[j] == from)
			r->bstate[j++] = SL_RING_B_CLEAN;
		/* cannot fail on a private anonymous mapping we own */
		(void)madvise(sl_ring_buf(r, (uint16_t)i), (size_t)(j - i) * r->buf_size,
			      MADV_DONTNEED);
		n += j - i;
		i = j;
	}
	return n;
}

/* A marker state for release(): parked and picked to be released now. */
#define B_RELEASING 0xff

uint32_t sl_ring_buf_tick(struct sl_ring *r)
{
	uint32_t used = r->target > r->posted_low ? r->target - r->posted_low : 0, n;

	if (!r->nobufs) {
		uint32_t want = 2 * used;

		if (want < r->target_min)
			want = r->target_min;
		if (want < r->target)
			r->target = want;
	}
	/* parked the whole period (below the stack's low mark): not needed */
	for (uint32_t i = 0; i < r->park_low; i++)
		if (r->bstate[r->park[i]] == SL_RING_B_PARKED)
			r->bstate[r->park[i]] = B_RELEASING;
	n = release(r, B_RELEASING);
	r->ndirty -= n;
	r->released += n;
	/* the ring holds more than the period needed and little of it was
	 * taken: renew it (two syscalls, at most once a period) */
	if (r->posted > r->target && r->posted_low + r->target_min >= r->posted)
		r->shrink_wanted = true;
	period_reset(r);
	return n;
}

bool sl_ring_buf_settled(const struct sl_ring *r)
{
	return !r->ndirty && r->target == r->target_min && r->posted <= r->target;
}

int sl_ring_buf_shrink(struct sl_ring *r)
{
	uint32_t k = 0, n;
	int ret;

	r->shrink_wanted = false;
	if (!r->br_lost) {
		ret = io_uring_unregister_buf_ring(&r->uring, SL_RING_BGID);
		if (ret < 0)
			return ret;
		r->br_lost = true;
		/* the buffer it was filling is given up too (incremental) */
		sl_ring_slice_kernel_gone(r);
		/* every posted buffer is ours again: the coldest, beneath the stack */
		memmove(r->park + r->posted, r->park, (size_t)r->nparked * sizeof(*r->park));
		for (uint32_t i = 0; i < r->buf_count; i++) {
			if (r->bstate[i] == SL_RING_B_POSTED) {
				r->park[k++] = (uint16_t)i;
				r->bstate[i] = SL_RING_B_PARKED;
			}
		}
		r->nparked += k;
		r->ndirty += k;
		r->posted = 0;
		r->br_pending = 0;
	}
	ret = sl_ring_buf_register(r);
	if (ret < 0) {
		r->shrink_wanted = true; /* no ring: try again at the next quiescent point */
		return ret;
	}
	r->br_lost = false;
	sl_ring_buf_refill(r);
	sl_ring_buf_publish(r);
	/* the ring has what the next burst needs; the rest goes */
	for (uint32_t i = 0; i < r->nparked; i++)
		if (r->bstate[r->park[i]] == SL_RING_B_PARKED)
			r->bstate[r->park[i]] = B_RELEASING;
	n = release(r, B_RELEASING);
	r->ndirty -= n;
	r->released += n;
	r->shrinks++;
	period_reset(r);
	return 0;
}
