/*
 * Session internals (core/ layer), shared by the two halves of the session
 * module and included by nothing else: core/session.c (lifecycle, teardown,
 * servers, timers, completion dispatch) and core/session_io.c (the data
 * path). It holds the user_data encoding of session requests and the
 * buffer-queue helpers both halves use; the API proto/ sees is
 * core/session.h.
 */
#ifndef SL_CORE_SESSION_I_H
#define SL_CORE_SESSION_I_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/proxy.h"
#include "core/session-t.h"
#include "ring/ring.h"
#include "ring/udata.h"

/* dir carries the side in bit 0 and, for the server side, the connection
 * epoch (3 bits: completions of the last 7 server sockets are told apart)
 * in bits 1-3. */
#define EPOCH_MASK 7u
_Static_assert(SL_OP_COUNT <= SL_UD_OP_MAX + 1, "ops must fit the user_data op field");
static inline uint64_t ud(const struct sl_session *s, unsigned op, unsigned dir)
{
	if (dir == SL_SIDE_SRV)
		dir |= (unsigned)(s->side[SL_SIDE_SRV].epoch & EPOCH_MASK) << 1;
	return sl_ud_make(s->slot, s->gen, op, dir);
}

/* srv's index in the worker's per-server arrays (the pool's global index). */
static inline uint32_t srv_gidx(const struct sl_worker *w, const struct sl_server *srv)
{
	return w->pool.base[srv->be - w->px->backends] + (uint32_t)(srv - srv->be->servers);
}

/* Buffer ids below SL_BUF_COUNT are provided buffers (the kernel's ring);
 * the ones above are plaintext buffers of TLS connections (w->pbuf). */
static inline char *buf_ptr(struct sl_worker *w, uint16_t bid)
{
	if (bid < SL_BUF_COUNT)
		return (char *)sl_ring_buf(&w->ring, bid);
	return w->pbuf[bid - SL_BUF_COUNT];
}

static inline void buf_release(struct sl_worker *w, uint16_t bid)
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

static inline void bufq_push(struct sl_worker *w, struct sl_bufq *q, uint16_t bid, uint32_t len)
{
	w->buf_len[bid] = len;
	if (q->count)
		w->buf_next[q->tail] = bid;
	else
		q->head = bid;
	q->tail = bid;
	q->count++;
}

static inline void bufq_pop(struct sl_worker *w, struct sl_bufq *q)
{
	uint16_t bid = q->head;

	q->head = w->buf_next[bid];
	q->count--;
	q->off = 0;
	buf_release(w, bid);
}

/* core/session.c: the client is known (accepted, or its PROXY header read):
 * count it per source, then start TLS (tb, an ssl bind) or the protocol. */
void sl_session_begin(struct sl_session *s, struct sl_tls_bind *tb);

/* core/session_io.c: a completion of side's recv, counted in s->inflight
 * when own (the pooled connection's recv is the pool entry's). */
void sl_session_on_recv(struct sl_session *s, int side, const struct io_uring_cqe *cqe,
			bool own);
/* core/session_io.c: the completion (res) of the send toward side `to`. */
void sl_session_on_send(struct sl_session *s, int to, int res);
/* The server side no longer has a socket (closed or pooled): move its
 * received buffers to s->tx_stash if a send toward the client reads them. */
void sl_session_stash_server_bufs(struct sl_session *s);
/* Recycle the stashed buffers (their send completed or the slot is freed). */
void sl_session_release_stash(struct sl_session *s);

#endif
