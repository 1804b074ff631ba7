/*
 * Connections, the receiving side (core/ layer; core/conn.c has the rest):
 * arming a connection's recv under the fairness rules of the provided-buffer
 * pool, its completions, the starved list and the FIFO of bulk sides, and
 * reading what a connection queued (peek, consume, gather).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/conn-i.h"
#include "core/stats.h"
#include "ring/ring.h"
#include "ring/udata.h"

/* The starved list is a FIFO (next, starved_tail): fed oldest first. */
static void starved_remove(struct sl_conn *c)
{
	struct sl_conn_table *t = &c->w->conns;
	struct sl_conn **pp = &t->starved, *prev = NULL;

	if (!c->starved)
		return;
	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp)
		*pp = c->next;
	if (t->starved_tail == c)
		t->starved_tail = prev;
	c->next = NULL;
	c->starved = false;
}

/* ---- receiving ---------------------------------------------------------- */

/*
 * Fairness of the provided-buffer pool (issue 14, slow readers). Every
 * multishot recv carries a cap on what it may take (Linux 6.17+: it ends
 * after that many bytes, LIGHT_CAP or the room under the hold limit in
 * buffers' worth), because an uncapped one posts up to ~32 completions
 * before a cancel lands: 1,000 responses starting together
 * then ask for 30,000 buffers of a pool of 4,096. A side holding none of
 * our buffers and whose last recv did not fill a whole buffer is light (a
 * new request, an idle keep-alive client, an idle pooled server): its recv
 * may take LIGHT_CAP buffers, at once. Every other side is bulk: one holding
 * buffers (queued, or being sent on its peer), or one whose last recv filled
 * a buffer (hot: more is waiting in its socket, a large body streaming). A
 * bulk side may hold up to SL_BUF_QUOTA buffers while the pool is at least
 * half free and BULK_HOLD_TIGHT below, and its recv may take at most
 * SL_CONN_ARM_MAX, and only what is free beyond a quarter of the pool and
 * beyond what the armed bulk recvs may still take. Above all, the recvs of
 * bulk sides armed in one loop iteration take SL_CONN_ARM_BUDGET units in
 * all; a side that finds no room waits in a FIFO, and nobody overtakes it.
 *
 * The budget is what bounds a loop iteration. The kernel copies a recv's
 * bytes while the worker is in io_uring_enter, and the worker forwards
 * them in the next one: without it, 1,000 slow readers' origins, each
 * re-armed as soon as its send completed into the reader's roomy socket
 * buffer (light again), moved 15-20 MB per iteration, 5-40 ms each, and a
 * small request, which needs 2-3 iterations, waited 45-110 ms (corrected
 * p99 of the bench's slow-readers ramp; 5.7-7.2 ms with the budget, README
 * "Slow readers"). Smaller caps per recv (1-4 units) bound it too but cost
 * CPU per byte on `large` (a recv issued into a full socket per 16-64 KiB).
 *
 * So a quarter of the pool stays for light sides, and slow readers of large
 * responses cannot take the buffers, nor the loop's time, everyone else
 * needs. A kernel without the cap gets single-shot recvs for bulk sides
 * instead. With incremental buffers every count here is in units of
 * SL_BUF_SIZE (a queue's bytes, at least one per slice; the pool's free
 * buffers times their units).
 */
#define LIGHT_CAP       2u
#define BULK_HOLD_TIGHT 2u

/* What a queue holds, in the pool's units: its buffers; with incremental
 * buffers its bytes in units (a slice grown over its successors holds
 * many), at least one per slice. */
static uint32_t q_units(const struct sl_worker *w, const struct sl_bufq *q)
{
	uint32_t u;

	if (!w->ring.inc)
		return q->count;
	u = (q->bytes + w->ring.unit - 1) / w->ring.unit;
	return u > q->count ? u : q->count;
}

/* Buffers of ours the kernel cannot have back yet, in units: what makes a
 * side bulk. */
static uint32_t held(const struct sl_conn *c)
{
	uint32_t n = q_units(c->w, &c->q) + (c->spare >= 0);

	if (c->xprt->held)
		n += c->xprt->held(c);
	if (c->peer && c->peer->peer == c)
		n += q_units(c->w, &c->peer->txq);
	return n;
}

/* How many buffers a bulk side may hold now. */
static uint32_t hold_limit(const struct sl_worker *w)
{
	return sl_ring_buf_free(&w->ring) >= sl_ring_units(&w->ring) / 2 ? SL_BUF_QUOTA :
	       BULK_HOLD_TIGHT;
}

/* Buffers bulk recvs may still be promised: what is free beyond a quarter of
 * the pool and beyond what armed bulk recvs may take; 0 when this loop
 * iteration's arm budget is spent. */
static uint32_t bulk_room(const struct sl_worker *w)
{
	const struct sl_conn_table *t = &w->conns;
	uint32_t free = sl_ring_buf_free(&w->ring), keep = sl_ring_units(&w->ring) / 4 + t->bulk_armed;

	if (free <= keep)
		return 0;
	return free - keep < t->arm_budget ? free - keep : t->arm_budget;
}

static void wait_push(struct sl_conn *c)
{
	struct sl_conn_table *t = &c->w->conns;

	SL_ST_INC(c->w->st->rx_deferred);
	c->waiting = true;
	c->wnext = NULL;
	c->wprev = t->wait_tail;
	if (t->wait_tail)
		t->wait_tail->wnext = c;
	else
		t->wait_head = c;
	t->wait_tail = c;
}

static void wait_remove(struct sl_conn *c)
{
	struct sl_conn_table *t = &c->w->conns;

	if (!c->waiting)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		t->wait_head = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else
		t->wait_tail = c->wprev;
	c->wprev = c->wnext = NULL;
	c->waiting = false;
}

void sl_conn_rx_arm(struct sl_conn *c)
{
	struct sl_worker *w = c->w;
	struct sl_conn_table *t = &w->conns;
	struct sl_ring *r = &w->ring;
	uint32_t h, cap = LIGHT_CAP;

	if (c->st != SL_CONN_OPEN || !c->want_rx || c->rx != SL_RX_OFF || c->rd_eof ||
	    c->starved || c->xprt->push)
		return; /* (socketless: its transport queues what arrives) */
	h = held(c);
	if (c->waiting) {
		if (h || c->hot)
			return; /* its turn comes in the FIFO */
		wait_remove(c); /* drained meanwhile: a light side again */
	}
	if (h || c->hot) {
		uint32_t lim = hold_limit(w);

		if (h >= lim)
			return; /* re-armed as it drains */
		cap = r->mshot_cap ? lim - h : 1;
		if (cap > SL_CONN_ARM_MAX)
			cap = SL_CONN_ARM_MAX;
		if (cap > bulk_room(w))
			cap = bulk_room(w);
		/* the FIFO's order holds: nobody overtakes a waiting side */
		if (!cap || (t->wait_head && !t->feeding)) {
			wait_push(c);
			return;
		}
		c->bulk_cap = (uint16_t)cap;
		t->bulk_armed += cap;
		t->arm_budget -= cap;
	}
	c->rx = SL_RX_ARMED;
	c->one = (h || c->hot) && !r->mshot_cap;
	if (r->mshot_cap)
		sl_ring_recv_multishot_cap(r, c->fd, cap * r->unit, cud(c, SL_OP_RECV));
	else if (c->one)
		sl_ring_recv_one(r, c->fd, cud(c, SL_OP_RECV));
	else
		sl_ring_recv_multishot(r, c->fd, cud(c, SL_OP_RECV));
	c->inflight++;
}

void sl_conn_recv_start(struct sl_conn *c)
{
	c->want_rx = true;
	sl_conn_rx_arm(c);
}

/* A multishot recv that holds what a bulk side may: pause it (the cancel's
 * -ECANCELED end re-arms it under the rules above). Its byte cap bounds a
 * burst of full buffers; this bounds a peer sending many small segments,
 * each of which takes a whole buffer. */
static void check_quota(struct sl_conn *c)
{
	if (c->rx == SL_RX_ARMED && !c->one && held(c) >= hold_limit(c->w) &&
	    c->st == SL_CONN_OPEN) {
		sl_ring_cancel_ud(&c->w->ring, cud(c, SL_OP_RECV), cud(c, SL_OP_RECV_CANCEL));
		c->inflight++;
		c->rx = SL_RX_CANCELING;
	}
}

/* Units of the pool a completion of res bytes took from a capped recv:
 * one buffer each with fixed buffers; with incremental ones the bytes, in
 * units, rounded up. */
static uint32_t units_of(const struct sl_ring *r, int res)
{
	if (!r->inc || res <= 0)
		return 1;
	return ((uint32_t)res + r->unit - 1) / r->unit;
}

/*
 * A recv completion. Its bytes arrive as a slice (ring/slice.c) that this
 * connection owns from here: its transport queues it (raw: c->q, possibly
 * grown into the slice before it), and whoever holds it last releases it
 * (sl_buf_release), which recycles the provided buffer with its last
 * slice. So a buffer shared by completions of several connections goes
 * back once, when every one of them is done with its part.
 */
void sl_conn_rx_on_cqe(struct sl_conn *c, const struct io_uring_cqe *cqe)
{
	struct sl_worker *w = c->w;
	int res = cqe->res, id = -ENODATA;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		id = sl_ring_slice_take(&w->ring, cqe->flags, res);
		if (c->bulk_cap) {
			uint32_t k = units_of(&w->ring, res);

			k = k < c->bulk_cap ? k : c->bulk_cap;
			c->bulk_cap = (uint16_t)(c->bulk_cap - k);
			w->conns.bulk_armed -= k;
		}
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->rx = SL_RX_OFF;
		c->inflight--;
		c->one = false;
		w->conns.bulk_armed -= c->bulk_cap;
		c->bulk_cap = 0;
	}
	if (c->st != SL_CONN_OPEN || !c->cb) {
		if (id >= 0)
			sl_buf_release(w, (uint16_t)id);
		return;
	}
	if (id >= 0) {
		c->bytes_in += (uint64_t)res;
		c->hot = (uint32_t)res >= w->ring.unit;
		c->last_ms = w->now_ms;
		if (c->cb->on_recv_bytes)
			c->cb->on_recv_bytes(c->owner, c, (uint32_t)res);
		c->xprt->input(c, (uint16_t)id, (uint32_t)res);
		check_quota(c);
		sl_conn_rx_arm(c); /* the multishot ended (CQ overflow): re-arm */
		return;
	}
	if (id == -ENOBUFS) {
		/* bytes arrived with no slice id to name them: they are lost */
		sl_conn_notify_error(c, -ENOBUFS);
	} else if (res == 0) {
		c->rd_eof = true;
		c->xprt->input_eof(c);
	} else if (res == -ENOBUFS) {
		sl_ring_buf_starved(&w->ring); /* parked buffers go back to the ring */
		if (!c->starved) {
			c->starved = true;
			c->next = NULL;
			if (w->conns.starved_tail)
				w->conns.starved_tail->next = c;
			else
				w->conns.starved = c;
			w->conns.starved_tail = c;
		}
	} else if (res == -ECANCELED) {
		sl_conn_rx_arm(c); /* a pause ended: re-arm if drained */
	} else if (res < 0) {
		sl_conn_notify_error(c, res);
	}
}

void sl_conn_feed_starved(struct sl_worker *w)
{
	struct sl_conn_table *t = &w->conns;
	uint32_t n = sl_ring_buf_free(&w->ring);
	struct sl_conn *c;

	t->arm_budget = SL_CONN_ARM_BUDGET;
	/* starved sides, oldest first, as many as there are free buffers (each
	 * needs one to make progress) */
	while (n && (c = t->starved)) {
		t->starved = c->next;
		if (!t->starved)
			t->starved_tail = NULL;
		c->next = NULL;
		c->starved = false;
		sl_conn_rx_arm(c);
		n--;
	}
	/* bulk sides in their order; one that still cannot arm goes back to
	 * the end of the line, and the line waits for the next iteration */
	t->feeding = true;
	while ((c = t->wait_head) && bulk_room(w)) {
		wait_remove(c);
		sl_conn_rx_arm(c);
		if (c->waiting)
			break;
	}
	t->feeding = false;
}

int sl_conn_peek(struct sl_conn *c, const char **data, uint32_t *len)
{
	struct sl_worker *w = c->w;

	if (!c->q.count)
		return 0;
	*data = sl_buf_ptr(w, c->q.head) + c->q.off;
	*len = w->buf_len[c->q.head] - c->q.off;
	return 1;
}

void sl_conn_consume(struct sl_conn *c, uint32_t n)
{
	struct sl_worker *w = c->w;

	c->q.off += n;
	if (c->q.count && c->q.off >= w->buf_len[c->q.head])
		sl_bufq_pop(w, &c->q);
	if (!c->q.count && c->xprt->q_empty)
		c->xprt->q_empty(c);
	sl_conn_rx_arm(c);
}

uint32_t sl_conn_gather(struct sl_conn *c, char *dst, uint32_t cap)
{
	struct sl_worker *w = c->w;
	uint16_t bid = c->q.head;
	uint32_t off = c->q.off, n = 0;

	for (uint32_t i = 0; i < c->q.count && n < cap; i++) {
		uint32_t k = w->buf_len[bid] - off;

		if (k > cap - n)
			k = cap - n;
		memcpy(dst + n, sl_buf_ptr(w, bid) + off, k);
		n += k;
		off = 0;
		bid = w->buf_next[bid];
	}
	return n;
}

/* It leaves the starved list and the FIFO of bulk sides (closing, or
 * quiescing for a handover). */
void sl_conn_rx_forget(struct sl_conn *c)
{
	starved_remove(c);
	wait_remove(c);
}
