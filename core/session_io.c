/*
 * Session data path (core/ layer): moving bytes between the two sides of a
 * session. Recv completions queue provided buffers on the side they came
 * from (sl_session_on_recv, with the per-session buffer quota and the
 * starved list for -ENOBUFS); sl_session_pump sends what waits toward a
 * side, protocol output (the out buffer) first, then received buffers,
 * several in one sendmsg, one send in flight per direction; send completions
 * recycle the buffers sent (sl_session_on_send); sl_session_shutdown sends a
 * FIN. For TLS clients it is the glue to proto/tls.c: ciphertext waits in
 * s->tls->cin for wolfSSL, decrypted bytes land in plaintext buffers
 * (w->pbuf), and what goes to the client is encrypted into s->tls->cout
 * first. Session lifecycle, teardown and the completion dispatch are in
 * core/session.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/session-i.h"
#include "core/session.h"
#include "core/session_pp.h"
#include "core/stats.h"
#include "proto/tls.h"
#include "ring/ring.h"

static int pbuf_get(struct sl_worker *w)
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

/* Buffers queued on a side, ciphertext waiting for TLS included. */
static uint32_t queued_bufs(const struct sl_session *s, int side)
{
	uint32_t n = s->side[side].q.count;

	if (side == SL_SIDE_CLI && s->tls)
		n += s->tls->cin.count;
	return n;
}

void sl_session_stash_server_bufs(struct sl_session *s)
{
	struct sl_side *sd = &s->side[SL_SIDE_SRV], *c = &s->side[SL_SIDE_CLI];
	struct sl_worker *w = s->w;

	if (c->tx_busy && c->tx_q && !s->tls) {
		/* a send toward the client reads these buffers: they stay out of
		 * the ring until it completes (DESIGN rule 2) */
		while (sd->q.count) {
			uint16_t bid = sd->q.head;

			sd->q.head = w->buf_next[bid];
			sd->q.count--;
			bufq_push(w, &s->tx_stash, bid, w->buf_len[bid]);
		}
		sd->q.off = 0;
	}
}

void sl_session_release_stash(struct sl_session *s)
{
	while (s->tx_stash.count)
		bufq_pop(s->w, &s->tx_stash);
}

/* Byte counters: received from (in) or sent to (!in) side. */
static void count_bytes(struct sl_session *s, int side, bool in, int n)
{
	struct sl_wstats *st = s->w->st;

	if (side == SL_SIDE_CLI) {
		if (in)
			SL_ST_ADD(st->fe[s->fe_idx].bytes_in, (uint64_t)n);
		else
			SL_ST_ADD(st->fe[s->fe_idx].bytes_out, (uint64_t)n);
		return;
	}
	if (in)
		SL_ST_ADD(st->be[s->be - s->w->px->backends].bytes_in, (uint64_t)n);
	else
		SL_ST_ADD(st->be[s->be - s->w->px->backends].bytes_out, (uint64_t)n);
	if (s->srv_held) {
		struct sl_srv_stats *v = &st->srv[srv_gidx(s->w, s->srv)];

		if (in)
			SL_ST_ADD(v->bytes_in, (uint64_t)n);
		else
			SL_ST_ADD(v->bytes_out, (uint64_t)n);
	}
}

void sl_session_arm_recv(struct sl_session *s, int side)
{
	struct sl_side *sd = &s->side[side];

	if (s->state == SL_SESS_ST_CLOSING || sd->fd < 0 || sd->rx != SL_RX_OFF ||
	    sd->rd_eof || sd->starved || queued_bufs(s, side) >= SL_BUF_QUOTA)
		return;
	sd->rx = SL_RX_ARMED;
	if (side == SL_SIDE_SRV && s->pconn) {
		sl_pool_arm_recv(s->w, s->pconn, sd->fd);
		return;
	}
	sl_ring_recv_multishot(&s->w->ring, sd->fd, ud(s, SL_OP_RECV, (unsigned)side));
	s->inflight++;
}

/* n bytes toward side `to` left their queue: the out buffer's (from_out) or
 * the other side's received buffers. */
static void advance(struct sl_session *s, int to, bool from_out, uint32_t n)
{
	struct sl_worker *w = s->w;
	struct sl_bufq *q = &s->side[!to].q;

	if (from_out) {
		s->side[to].out_off += n;
		return;
	}
	if (!s->raw)
		s->side[to].relay -= n;
	while (n && q->count) {
		uint32_t k = w->buf_len[q->head] - q->off;

		if (k > n)
			k = n;
		q->off += k;
		n -= k;
		if (q->off >= w->buf_len[q->head])
			bufq_pop(w, q);
	}
	if (q->count <= SL_BUF_QUOTA / 2)
		sl_session_arm_recv(s, !to);
}

/* Send what waits toward `to` in one go: the out buffer first (protocol
 * output: a rewritten head), then buffers of the other side's queue as they
 * are, all of them in tcp mode, up to dst->relay bytes otherwise. Several
 * buffers go in one sendmsg, so relaying a body costs no more sends than
 * copying it behind the head would. Returns false when nothing waits. */
static bool queue_send(struct sl_session *s, int to)
{
	struct sl_worker *w = s->w;
	struct sl_side *dst = &s->side[to];
	const struct sl_bufq *q = &s->side[!to].q;
	uint64_t limit = s->raw ? UINT64_MAX : dst->relay;
	struct iovec iov[SL_TXV_MAX];
	uint16_t bid = q->head;
	uint32_t off = q->off, n = 0;

	dst->tx_out = dst->out_off < dst->out_len;
	dst->tx_out_n = dst->out_len - dst->out_off;
	if (dst->tx_out) {
		iov[n].iov_base = dst->out + dst->out_off;
		iov[n++].iov_len = dst->tx_out_n;
	}
	dst->tx_q = false;
	for (uint32_t i = 0; i < q->count && n < SL_TXV_MAX && limit; i++) {
		uint32_t len = w->buf_len[bid] - off;

		if (len > limit)
			len = (uint32_t)limit;
		iov[n].iov_base = buf_ptr(w, bid) + off;
		iov[n++].iov_len = len;
		limit -= len;
		off = 0;
		bid = w->buf_next[bid];
		dst->tx_q = true;
	}
	if (!n)
		return false;
	if (n > 1 && !dst->txv)
		dst->txv = calloc(1, sizeof(*dst->txv));
	if (n > 1 && dst->txv) {
		memcpy(dst->txv->iov, iov, n * sizeof(iov[0]));
		dst->txv->mh.msg_iov = dst->txv->iov;
		dst->txv->mh.msg_iovlen = n;
		sl_ring_sendmsg(&w->ring, dst->fd, &dst->txv->mh, ud(s, SL_OP_SEND, (unsigned)to));
	} else {
		sl_ring_send(&w->ring, dst->fd, iov[0].iov_base, iov[0].iov_len,
			     ud(s, SL_OP_SEND, (unsigned)to));
		if (n > 1) { /* no memory for iovecs: the first part alone */
			dst->tx_q = !dst->tx_out;
		}
	}
	dst->tx_busy = true;
	s->inflight++;
	return true;
}

/* Toward a TLS client: once the previous ciphertext is sent, encrypt up to
 * four records of what waits (protocol output first, then relayed bytes)
 * and send them in one go. */
static void tls_pump(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	struct sl_side *dst = &s->side[SL_SIDE_CLI];
	struct sl_bufq *q = &s->side[SL_SIDE_SRV].q;
	struct sl_tls_conn *t = s->tls;
	uint32_t budget = 4 * SL_BUF_SIZE;

	/* cout may not move while a send reads it: encrypt only into an empty one */
	while (t->cout_off == t->cout_len || budget < 4 * SL_BUF_SIZE) {
		bool from_out = dst->out_off < dst->out_len;
		const char *p;
		uint32_t n;

		if (!budget || !t->hs_done || t->notify_sent)
			break;
		if (from_out) {
			p = dst->out + dst->out_off;
			n = dst->out_len - dst->out_off;
		} else if ((s->raw || dst->relay) && q->count) {
			p = buf_ptr(w, q->head) + q->off;
			n = w->buf_len[q->head] - q->off;
			if (!s->raw && n > dst->relay)
				n = (uint32_t)dst->relay;
		} else {
			break;
		}
		if (n > budget)
			n = budget;
		if (n > SL_BUF_SIZE)
			n = SL_BUF_SIZE;
		if (!sl_tls_encrypt(s, p, n)) {
			sl_log("frontend %s: TLS encryption failed, closing the connection",
			       s->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return;
		}
		budget -= n;
		advance(s, SL_SIDE_CLI, from_out, n);
	}
	if (t->cout_off < t->cout_len) {
		sl_ring_send(&w->ring, dst->fd, t->cout + t->cout_off, t->cout_len - t->cout_off,
			     ud(s, SL_OP_SEND, SL_SIDE_CLI));
		dst->tx_out = dst->tx_q = false; /* it reads cout */
		t->cout_busy = true;
		dst->tx_busy = true;
		s->inflight++;
	}
}

void sl_session_pump(struct sl_session *s, int to)
{
	struct sl_side *dst = &s->side[to];

	if (dst->tx_busy || dst->fd < 0 || !dst->connected || s->state == SL_SESS_ST_CLOSING)
		return;
	if (to == SL_SIDE_CLI && s->tls) {
		tls_pump(s);
		return;
	}
	queue_send(s, to);
}

char *sl_session_out_reserve(struct sl_session *s, int to, uint32_t n)
{
	struct sl_side *d = &s->side[to];

	if (d->out_off == d->out_len)
		d->out_off = d->out_len = 0;
	if (d->out_len + n > d->out_cap) {
		uint32_t cap = d->out_cap ? d->out_cap : 1024;
		char *p;

		if (d->tx_busy && d->tx_out)
			return NULL; /* the kernel reads out: it may not move */
		while (cap < d->out_len + n)
			cap *= 2;
		p = realloc(d->out, cap);
		if (!p)
			return NULL;
		d->out = p;
		d->out_cap = cap;
	}
	return d->out + d->out_len;
}

void sl_session_out_commit(struct sl_session *s, int to, uint32_t n)
{
	s->side[to].out_len += n;
}

int sl_session_peek(struct sl_session *s, int side, const char **data, uint32_t *len)
{
	struct sl_bufq *q = &s->side[side].q;
	struct sl_worker *w = s->w;

	if (!q->count)
		return 0;
	*data = buf_ptr(w, q->head) + q->off;
	*len = w->buf_len[q->head] - q->off;
	return 1;
}

void sl_session_consume(struct sl_session *s, int side, uint32_t n)
{
	struct sl_side *sd = &s->side[side];
	struct sl_bufq *q = &sd->q;
	struct sl_worker *w = s->w;

	q->off += n;
	if (q->count && q->off >= w->buf_len[q->head])
		bufq_pop(w, q);
	if (q->count <= SL_BUF_QUOTA / 2)
		sl_session_arm_recv(s, side);
}

static void shutdown_now(struct sl_session *s, int side)
{
	struct sl_side *sd = &s->side[side];

	if (sd->fd < 0 || s->state == SL_SESS_ST_CLOSING)
		return;
	/* A plain syscall: IORING_OP_SHUTDOWN always runs on an io-wq thread
	 * (a wakeup and two context switches for one FIN), which was 16% of
	 * the proxy's CPU in the churn bench, where every client gets one.
	 * Errors (the peer is gone) show on the next recv or send. */
	shutdown(sd->fd, SHUT_WR);
}

uint32_t sl_session_cin_read(struct sl_session *s, char *dst, uint32_t n)
{
	struct sl_worker *w = s->w;
	struct sl_bufq *q = &s->tls->cin;
	uint32_t done = 0;

	while (done < n && q->count) {
		uint32_t k = w->buf_len[q->head] - q->off;

		if (k > n - done)
			k = n - done;
		memcpy(dst + done, buf_ptr(w, q->head) + q->off, k);
		done += k;
		q->off += k;
		if (q->off >= w->buf_len[q->head])
			bufq_pop(w, q);
	}
	return done;
}

/* Plaintext goes at the end of the client queue's last buffer when that is
 * a plaintext buffer with room (small records are packed), else into a new
 * one. Nothing reads past a buffer's length, so appending there is safe even
 * while a send reads the bytes before it. */
static bool plain_tail(struct sl_session *s)
{
	const struct sl_bufq *q = &s->side[SL_SIDE_CLI].q;

	return q->count && q->tail >= SL_BUF_COUNT && s->w->buf_len[q->tail] < SL_BUF_SIZE;
}

char *sl_session_plain_room(struct sl_session *s, uint32_t *room)
{
	struct sl_worker *w = s->w;
	struct sl_bufq *q = &s->side[SL_SIDE_CLI].q;
	struct sl_tls_conn *t = s->tls;
	int id;

	if (plain_tail(s)) {
		*room = SL_BUF_SIZE - w->buf_len[q->tail];
		return buf_ptr(w, q->tail) + w->buf_len[q->tail];
	}
	if (t->spare < 0) {
		if ((id = pbuf_get(w)) < 0)
			return NULL;
		t->spare = id;
	}
	*room = SL_BUF_SIZE;
	return buf_ptr(w, (uint16_t)t->spare);
}

void sl_session_plain_unused(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;

	if (t->spare >= 0) {
		buf_release(s->w, (uint16_t)t->spare);
		t->spare = -1;
	}
}

void sl_session_plain_commit(struct sl_session *s, uint32_t n)
{
	struct sl_worker *w = s->w;
	struct sl_bufq *q = &s->side[SL_SIDE_CLI].q;
	struct sl_tls_conn *t = s->tls;

	if (!n)
		return;
	if (plain_tail(s)) {
		w->buf_len[q->tail] += n;
		return;
	}
	bufq_push(w, q, (uint16_t)t->spare, n);
	t->spare = -1;
}

void sl_session_shutdown(struct sl_session *s, int side)
{
	struct sl_side *sd = &s->side[side];

	if (sd->wr_shut || sd->fd < 0 || s->state == SL_SESS_ST_CLOSING)
		return;
	sd->wr_shut = true;
	if (side == SL_SIDE_CLI && s->tls && s->tls->hs_done) {
		/* TLS: close_notify first, then the FIN once it is sent */
		sl_tls_close_notify(s);
		sl_session_pump(s, side);
		if (sd->tx_busy) {
			s->tls->shut_wanted = true;
			return;
		}
	}
	shutdown_now(s, side);
}

/* own: the recv is counted in s->inflight (not a pool entry's). */
void sl_session_on_recv(struct sl_session *s, int side, const struct io_uring_cqe *cqe,
			bool own)
{
	struct sl_worker *w = s->w;
	struct sl_side *sd = &s->side[side];
	struct sl_tls_conn *tls = side == SL_SIDE_CLI ? s->tls : NULL;
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

		sl_ring_buf_taken(&w->ring);
		if (res > 0 && s->state != SL_SESS_ST_CLOSING && !(tls && tls->eof))
			bufq_push(w, tls ? &tls->cin : &sd->q, bid, (uint32_t)res);
		else
			sl_ring_buf_recycle(&w->ring, bid); /* after close_notify: ignored */
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		sd->rx = SL_RX_OFF;
		if (own)
			s->inflight--;
	}
	if (s->state == SL_SESS_ST_CLOSING)
		return;
	if (res > 0) {
		count_bytes(s, side, true, res);
		sd->bytes_in += (uint64_t)res;
		sd->last_ms = w->now_ms;
		if (queued_bufs(s, side) >= SL_BUF_QUOTA && sd->rx == SL_RX_ARMED) {
			/* over quota: pause this side until the queue drains */
			if (!own) {
				sl_pool_cancel_recv(w, s->pconn);
			} else {
				sl_ring_cancel_ud(&w->ring, ud(s, SL_OP_RECV, (unsigned)side),
						  ud(s, SL_OP_RECV_CANCEL, (unsigned)side));
				s->inflight++;
			}
			sd->rx = SL_RX_CANCELING;
		}
		if (s->pp_wait)
			sl_session_pp_input(s); /* the PROXY header, then all the rest */
		else if (tls)
			sl_tls_input(s); /* handshake, decryption, then the protocol */
		else if (s->raw)
			sl_session_pump(s, !side);
		else
			s->ops->on_data(s, side);
		sl_session_arm_recv(s, side); /* multishot ended (CQ overflow): re-arm */
	} else if (res == 0) {
		sd->rd_eof = true;
		if (s->pp_wait)
			sl_session_pp_input(s); /* a header cut short, or none at all */
		else if (tls)
			sl_tls_input(s); /* tells the protocol after the last plaintext */
		else
			s->ops->on_eof(s, side);
	} else if (res == -ENOBUFS) {
		bool listed = s->side[0].starved || s->side[1].starved;

		sd->starved = true;
		if (!listed) { /* once in the list, whichever sides starve */
			s->next = w->starved;
			w->starved = s;
		}
	} else if (res != -ECANCELED) {
		if ((s->tls && !s->tls->hs_done) || s->pp_wait)
			sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		else if (!s->ops->on_error || !s->ops->on_error(s, side, res))
			sl_session_close(s, side == SL_SIDE_CLI ? SL_CLOSE_CLIENT_ERR :
					 SL_CLOSE_SERVER_ERR);
	} else {
		sl_session_arm_recv(s, side); /* a pause ended; re-arm if drained */
	}
}

void sl_session_on_send(struct sl_session *s, int to, int res)
{
	struct sl_worker *w = s->w;
	struct sl_side *dst = &s->side[to];

	dst->tx_busy = false;
	if (s->state == SL_SESS_ST_CLOSING)
		return;
	if (res < 0) {
		if (s->tls && !s->tls->hs_done)
			sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		else if (!s->ops->on_error || !s->ops->on_error(s, to, res))
			sl_session_close(s, to == SL_SIDE_CLI ? SL_CLOSE_CLIENT_ERR :
					 SL_CLOSE_SERVER_ERR);
		return;
	}
	dst->last_ms = w->now_ms;
	dst->bytes_out += (uint64_t)res;
	count_bytes(s, to, false, res);
	if (to == SL_SIDE_CLI && s->tls) {
		struct sl_tls_conn *t = s->tls;

		t->cout_off += (uint32_t)res; /* the plaintext left its queue when encrypted */
		t->cout_busy = false;
		free(t->cout_old);
		t->cout_old = NULL;
		sl_session_pump(s, to);
		if (dst->tx_busy)
			return;
		if (t->cout_cap > 4096) {
			/* idle: keep no ciphertext memory (records of a stream refill
			 * it before we get here) */
			free(t->cout);
			t->cout = NULL;
			t->cout_cap = t->cout_len = t->cout_off = 0;
		}
		if (t->shut_wanted) {
			t->shut_wanted = false;
			shutdown_now(s, to);
		}
		if (t->hs_done)
			s->ops->on_drained(s, to);
		return;
	}
	if (dst->tx_out) {
		uint32_t k = dst->tx_out_n; /* what was in out when the send left */

		if (k > (uint32_t)res)
			k = (uint32_t)res;
		dst->out_off += k;
		res -= (int)k;
	}
	if (dst->tx_q && to == SL_SIDE_CLI && s->tx_stash.count)
		sl_session_release_stash(s); /* the server side was reset meanwhile */
	else if (dst->tx_q && res)
		advance(s, to, false, (uint32_t)res);
	sl_session_pump(s, to);
	if (!dst->tx_busy)
		s->ops->on_drained(s, to);
}

void sl_session_feed_starved(struct sl_worker *w)
{
	struct sl_session *s;

	if (!w->starved || sl_ring_buf_free(&w->ring) < w->ring.buf_count / 8)
		return;
	while ((s = w->starved)) {
		w->starved = s->next;
		s->next = NULL;
		for (int i = 0; i < 2; i++) {
			if (s->side[i].starved) {
				s->side[i].starved = false;
				sl_session_arm_recv(s, i);
			}
		}
	}
}
