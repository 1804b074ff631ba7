/*
 * Connections (core/ layer): one socket, its requests in the ring, its
 * buffers, its transport. Data path of one connection:
 *   sl_conn_recv_start -> multishot recv into provided buffers
 *   -> on_recv (core/conn_rx.c): the transport's input (raw: the buffer joins c->q) tells
 *      the owner (on_data), which reads c->q or lets it go to the peer
 *      connection as it is (sl_conn_flush(peer, c, ...): the buffers move
 *      to the peer's txq, the peer releases them when its send completes)
 *   -> a side holding buffers receives one buffer per recv, within a
 *      hold limit and a pool reserve (see "Fairness" below); -ENOBUFS
 *      parks it on the starved list
 *   sl_conn_flush -> the transport builds the send (raw: out then txq in
 *   place, several pieces in one sendmsg; TLS: records in its own buffer)
 *   -> on_send: the transport's sent, the owner's on_sent
 *   sl_conn_close -> cancel what is in flight by user_data (a hashed lookup,
 *   where a cancel by fd scans every request of the ring), close, free at
 *   the last completion.
 * Every request that produces a CQE counts in c->inflight until its last
 * CQE (a multishot recv counts once). A connection is freed only at
 * inflight 0, so a completion never finds its slot reused: the generation
 * in user_data only guards against bugs.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/conn-i.h"
#include "core/table.h"
#include "core/stats.h"
#include "ring/ring.h"
#include "ring/udata.h"

#define OUT_KEEP        (64u << 10) /* largest out buffer kept once empty */

_Static_assert(SL_OP_COUNT <= SL_UD_OP_MAX + 1, "ops must fit the user_data op field");

const char *const sl_hs_fail_names[SL_HS_FAIL_COUNT] = {
	[SL_HS_FAIL_PROTOCOL] = "protocol",
	[SL_HS_FAIL_TIMEOUT] = "timeout",
	[SL_HS_FAIL_CLOSED] = "closed",
	[SL_HS_FAIL_CERTIFICATE] = "certificate",
};

int sl_conn_table_init(struct sl_worker *w, uint32_t n)
{
	struct sl_conn_table *t = &w->conns;

	if (n > SL_UD_SLOT_MAX)
		n = SL_UD_SLOT_MAX;
	t->v = sl_table_alloc(n, sizeof(*t->v));
	if (!t->v)
		return -ENOMEM;
	t->n = n;
	t->arm_budget = SL_CONN_ARM_BUDGET;
	return 0;
}

void sl_conn_table_free(struct sl_worker *w)
{
	struct sl_conn_table *t = &w->conns;

	/* the ring is gone: sockets still held (none after a clean stop: the
	 * worker's loop ends at conns.live 0) close here. A transport's state
	 * is not released: that would hand buffers back to a ring that no
	 * longer exists. */
	for (uint32_t i = 0; i < t->hwm; i++) {
		struct sl_conn *c = &t->v[i];

		/* direct descriptors go with the ring */
		if (c->st != SL_CONN_FREE && c->fd >= 0 && !sl_ring_is_direct(c->fd))
			close(c->fd);
		free(c->out.p);
		free(c->txv);
	}
	sl_table_free(t->v, t->n, sizeof(*t->v));
	memset(t, 0, sizeof(*t));
}

static struct sl_conn *conn_alloc(struct sl_worker *w)
{
	struct sl_conn_table *t = &w->conns;
	struct sl_conn *c = t->free;
	uint32_t slot, gen;

	if (c) {
		t->free = c->next;
	} else if (t->hwm < t->n) {
		c = &t->v[t->hwm];
		c->slot = t->hwm++;
	} else {
		return NULL;
	}
	slot = c->slot;
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->gen = gen ? gen : 1;
	c->w = w;
	c->fd = -1;
	c->spare = -1;
	c->xprt = &sl_xprt_raw;
	c->last_ms = w->now_ms;
	t->live++;
	return c;
}

static void maybe_free(struct sl_conn *c)
{
	struct sl_worker *w = c->w;

	if (c->st != SL_CONN_CLOSING || c->inflight)
		return;
	sl_bufq_clear(w, &c->q);
	sl_bufq_clear(w, &c->txq);
	if (c->spare >= 0)
		sl_buf_release(w, (uint16_t)c->spare);
	if (c->xprt->free)
		c->xprt->free(c);
	free(c->out.p);
	free(c->txv);
	c->out.p = NULL;
	c->txv = NULL;
	c->st = SL_CONN_FREE;
	c->next = w->conns.free;
	w->conns.free = c;
	w->conns.live--;
}

struct sl_conn *sl_conn_new(struct sl_worker *w, int fd, const struct sl_conn_cb *cb, void *owner)
{
	struct sl_conn *c = conn_alloc(w);

	if (!c)
		return NULL;
	c->fd = fd;
	c->st = SL_CONN_OPEN;
	c->cb = cb;
	c->owner = owner;
	return c;
}

struct sl_conn *sl_conn_new_socketless(struct sl_worker *w, const struct sl_conn_cb *cb,
				       void *owner, const struct sl_xprt_ops *x, void *ctx)
{
	struct sl_conn *c = sl_conn_new(w, -1, cb, owner);

	if (c)
		sl_conn_set_xprt(c, x, ctx);
	return c;
}

/*
 * Server sockets. Where the ring allows it (sl_ring_direct_init: Linux
 * 6.8+), a server socket is a direct descriptor in the slot of the ring's
 * file table that has the connection's own number, opened, given
 * TCP_NODELAY and connected by one linked chain: no syscall, no process fd
 * (no fd table lock shared by the workers, no file reference taken per
 * request). The slot is free again before the connection is: its close
 * counts in inflight. Otherwise (an older kernel, a slot beyond the table)
 * socket(2) and setsockopt(2) as before. A direct socket is shut with
 * IORING_OP_SHUTDOWN (an io-wq hop: only tcp mode and tunnels shut a
 * server side) and becomes a process fd when a reload hands it over
 * (check_quiet).
 */
static int connect_plain(struct sl_worker *w, struct sl_conn *c, const struct sl_addr *a)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	SL_ST_INC(w->st->fds);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	sl_ring_connect(&w->ring, fd, (const struct sockaddr *)&a->ss, a->len, &c->ts_connect,
			cud(c, SL_OP_CONNECT));
	c->inflight++;
	return 0;
}

int sl_conn_connect(struct sl_worker *w, const struct sl_addr *a, uint64_t timeout_ms,
		    const struct sl_conn_cb *cb, void *owner, struct sl_conn **out)
{
	struct sl_conn *c = conn_alloc(w);
	int rc;

	if (!c)
		return -ENOBUFS;
	c->st = SL_CONN_CONNECTING;
	c->cb = cb;
	c->owner = owner;
	sl_ring_ts(&c->ts_connect, timeout_ms);
	if (c->slot < w->ring.direct_files) {
		c->fd = sl_ring_direct(c->slot);
		sl_ring_socket_connect(&w->ring, c->slot, (const struct sockaddr *)&a->ss, a->len,
				       &c->ts_connect, cud(c, SL_OP_SOCKET), cud(c, SL_OP_SOCKOPT),
				       cud(c, SL_OP_CONNECT));
		c->inflight += 2; /* the socket's CQE and the connect's */
	} else if ((rc = connect_plain(w, c, a)) < 0) {
		c->st = SL_CONN_CLOSING;
		maybe_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void sl_conn_attach(struct sl_conn *c, const struct sl_conn_cb *cb, void *owner)
{
	c->hot = false; /* a new owner's exchange starts light */
	c->cb = cb;
	c->owner = owner;
}

void sl_conn_set_xprt(struct sl_conn *c, const struct sl_xprt_ops *x, void *ctx)
{
	c->xprt = x;
	c->xctx = ctx;
}

void sl_conn_link(struct sl_conn *a, struct sl_conn *b)
{
	if (a->peer && a->peer->peer == a)
		a->peer->peer = NULL;
	a->peer = b;
	if (b)
		b->peer = a;
}

bool sl_conn_ready(const struct sl_conn *c)
{
	return !c->xprt->ready || c->xprt->ready(c);
}

bool sl_conn_secure(const struct sl_conn *c)
{
	return c->xprt->secure;
}

bool sl_conn_resumed(const struct sl_conn *c)
{
	return c->xprt->resumed && c->xprt->resumed(c);
}

int sl_conn_client_cert(const struct sl_conn *c, const char **dn)
{
	*dn = NULL;
	return c->xprt->client_cert ? c->xprt->client_cert(c, dn) : -1;
}

uint64_t sl_conn_now_ms(const struct sl_conn *c)
{
	return c->w->now_ms;
}

/* ---- for transports -------------------------------------------------------- */

void sl_conn_q_push(struct sl_conn *c, struct sl_bufq *q, uint16_t bid, uint32_t len)
{
	sl_bufq_push(c->w, q, bid, len);
}

uint32_t sl_conn_q_read(struct sl_conn *c, struct sl_bufq *q, char *dst, uint32_t n)
{
	struct sl_worker *w = c->w;
	uint32_t done = 0;

	while (done < n && q->count) {
		uint32_t k = w->buf_len[q->head] - q->off;

		if (k > n - done)
			k = n - done;
		memcpy(dst + done, sl_buf_ptr(w, q->head) + q->off, k);
		done += k;
		q->off += k;
		if (q->off >= w->buf_len[q->head])
			sl_bufq_pop(w, q);
	}
	return done;
}

void sl_conn_q_clear(struct sl_conn *c, struct sl_bufq *q)
{
	sl_bufq_clear(c->w, q);
}

/* Plaintext goes at the end of the queue's last buffer when that is a
 * plaintext buffer with room (small records are packed), else into a new
 * one. Nothing reads past a buffer's length, so appending there is safe
 * even while a send reads the bytes before it. */
static bool plain_tail(const struct sl_conn *c)
{
	const struct sl_bufq *q = &c->q;

	return q->count && q->tail >= SL_BUF_COUNT && c->w->buf_len[q->tail] < SL_BUF_SIZE;
}

char *sl_conn_plain_room(struct sl_conn *c, uint32_t *room)
{
	struct sl_worker *w = c->w;
	int id;

	if (plain_tail(c)) {
		*room = SL_BUF_SIZE - w->buf_len[c->q.tail];
		return sl_buf_ptr(w, c->q.tail) + w->buf_len[c->q.tail];
	}
	if (c->spare < 0) {
		if ((id = sl_buf_plain_get(w)) < 0)
			return NULL;
		c->spare = id;
	}
	*room = SL_BUF_SIZE;
	return sl_buf_ptr(w, (uint16_t)c->spare);
}

void sl_conn_plain_commit(struct sl_conn *c, uint32_t n)
{
	struct sl_worker *w = c->w;

	if (!n)
		return;
	if (plain_tail(c)) {
		w->buf_len[c->q.tail] += n;
		c->q.bytes += n;
		return;
	}
	sl_bufq_push(w, &c->q, (uint16_t)c->spare, n);
	c->spare = -1;
}

void sl_conn_plain_unused(struct sl_conn *c)
{
	if (c->spare >= 0) {
		sl_buf_release(c->w, (uint16_t)c->spare);
		c->spare = -1;
	}
}

void sl_conn_replay(struct sl_conn *c)
{
	struct sl_worker *w = c->w;
	struct sl_bufq q = c->q;

	memset(&c->q, 0, sizeof(c->q));
	while (q.count && c->st == SL_CONN_OPEN) {
		uint32_t off = q.off;
		uint16_t bid = sl_bufq_unlink(w, &q);
		uint32_t len = w->buf_len[bid] - off;
		char *p = sl_buf_ptr(w, bid);

		if (off)
			memmove(p, p + off, len);
		c->xprt->input(c, bid, len);
	}
	sl_bufq_clear(w, &q);
	if (c->rd_eof && c->st == SL_CONN_OPEN)
		c->xprt->input_eof(c);
}

void sl_conn_notify_ready(struct sl_conn *c)
{
	if (c->cb && c->st == SL_CONN_OPEN && c->cb->on_ready)
		c->cb->on_ready(c->owner, c);
}

void sl_conn_notify_data(struct sl_conn *c)
{
	if (c->cb && c->st == SL_CONN_OPEN)
		c->cb->on_data(c->owner, c);
}

void sl_conn_notify_eof(struct sl_conn *c)
{
	if (c->cb && c->st == SL_CONN_OPEN)
		c->cb->on_eof(c->owner, c);
}

void sl_conn_notify_error(struct sl_conn *c, int res)
{
	if (c->cb && c->st == SL_CONN_OPEN)
		c->cb->on_error(c->owner, c, res);
}

void sl_conn_hs_failed(struct sl_conn *c, enum sl_hs_fail why, const char *detail)
{
	if (c->hs_failed || !c->cb || c->st != SL_CONN_OPEN)
		return;
	c->hs_failed = true;
	c->cb->on_hs_fail(c->owner, c, why, detail);
}

/* ---- sending ------------------------------------------------------------------ */

bool sl_conn_next_chunk(struct sl_conn *c, const char **p, uint32_t *n)
{
	struct sl_worker *w = c->w;
	uint32_t o = c->out.len - c->out.off;

	if (o && (!c->txq.count || c->out_pre)) {
		if (c->txq.count && o > c->out_pre)
			o = c->out_pre;
		*p = c->out.p + c->out.off;
		*n = o;
		return true;
	}
	if (!c->txq.count)
		return false;
	*p = sl_buf_ptr(w, c->txq.head) + c->txq.off;
	*n = w->buf_len[c->txq.head] - c->txq.off;
	return true;
}

/* n bytes of txq left it (sent, or encrypted): release what is done and let
 * the peer receive into the room. */
static void txq_advance(struct sl_conn *c, uint32_t n)
{
	struct sl_worker *w = c->w;
	uint32_t before = c->txq.count;

	while (n && c->txq.count) {
		uint32_t k = w->buf_len[c->txq.head] - c->txq.off;

		if (k > n)
			k = n;
		c->txq.off += k;
		n -= k;
		if (c->txq.off >= w->buf_len[c->txq.head])
			sl_bufq_pop(w, &c->txq);
	}
	if (c->txq.count != before && c->peer && c->peer->peer == c)
		sl_conn_rx_arm(c->peer);
}

/* n bytes of out left it. */
static void out_advance(struct sl_conn *c, uint32_t n)
{
	c->out.off += n;
	if (c->txq.count)
		c->out_pre = n < c->out_pre ? c->out_pre - n : 0;
	if (c->out.off >= c->out.len && !(c->tx_busy && c->tx_out_n)) {
		c->out.off = c->out.len = 0;
		/* grown for a burst (copied bodies, many heads): a connection
		 * that goes on does not keep it */
		if (c->out.cap > OUT_KEEP) {
			free(c->out.p);
			memset(&c->out, 0, sizeof(c->out));
		}
	}
}

void sl_conn_chunk_done(struct sl_conn *c, uint32_t n)
{
	uint32_t o = c->out.len - c->out.off;

	if (o && (!c->txq.count || c->out_pre))
		out_advance(c, n);
	else
		txq_advance(c, n);
}

/* Room for n more bytes at the end of out; false when out of memory or the
 * kernel reads out (it may not move). */
static bool out_room(struct sl_conn *c, uint32_t n)
{
	struct sl_obuf *o = &c->out;

	if (o->off == o->len && !(c->tx_busy && c->tx_out_n))
		o->off = o->len = 0;
	if (o->len + n <= o->cap)
		return true;
	if (c->tx_busy && c->tx_out_n)
		return false;
	return sl_obuf_grow(o, n) == 0;
}

int sl_obuf_grow(struct sl_obuf *o, uint32_t n)
{
	uint32_t cap = o->cap ? o->cap : 1024;
	char *p;

	if (o->len + n <= o->cap)
		return 0;
	while (cap < o->len + n)
		cap *= 2;
	p = realloc(o->p, cap);
	if (!p)
		return -ENOMEM;
	o->p = p;
	o->cap = cap;
	return 0;
}

bool sl_conn_put(struct sl_conn *c, struct sl_obuf *ob)
{
	uint32_t n = ob->len - ob->off;

	if (!n)
		return true;
	if (c->out.off == c->out.len && !(c->tx_busy && c->tx_out_n)) {
		/* nothing of ours waits: take the whole buffer (behind txq) */
		struct sl_obuf t = c->out;

		c->out = *ob;
		c->out_pre = 0;
		t.off = t.len = 0;
		*ob = t;
		return true;
	}
	if (!out_room(c, n))
		return false;
	memcpy(c->out.p + c->out.len, ob->p + ob->off, n);
	c->out.len += n;
	ob->off = ob->len = 0;
	return true;
}

int sl_conn_prepend(struct sl_conn *c, const char *p, uint32_t n)
{
	struct sl_obuf *o = &c->out;

	if (!out_room(c, n))
		return -ENOMEM;
	memmove(o->p + o->off + n, o->p + o->off, o->len - o->off);
	memcpy(o->p + o->off, p, n);
	o->len += n;
	return 0;
}

/* Move buffers of src's queue to our txq, at most *relay bytes (NULL: no
 * limit). A buffer that holds more than what may go is copied in part
 * behind out, and only when txq is empty (out goes first). */
static void take(struct sl_conn *c, struct sl_conn *src, uint64_t *relay)
{
	struct sl_worker *w = c->w;
	uint64_t lim = relay ? *relay : UINT64_MAX;

	if (!c->txq.count)
		c->out_pre = c->out.len - c->out.off;
	while (lim && src->q.count && c->txq.count < SL_TXV_MAX - 1) {
		uint16_t bid = src->q.head;
		uint32_t off = src->q.off, avail = w->buf_len[bid] - off;

		if (avail > lim) {
			if (c->txq.count || !out_room(c, (uint32_t)lim))
				break;
			memcpy(c->out.p + c->out.len, sl_buf_ptr(w, bid) + off, (size_t)lim);
			c->out.len += (uint32_t)lim;
			sl_conn_consume(src, (uint32_t)lim);
			lim = 0;
			break;
		}
		if (off && c->txq.count)
			break; /* only the head of txq may start inside its buffer */
		sl_bufq_unlink(w, &src->q);
		if (!c->txq.count)
			c->txq.off = off;
		sl_bufq_push(w, &c->txq, bid, w->buf_len[bid]);
		lim -= avail;
	}
	if (relay)
		*relay = lim;
	if (!src->q.count && src->xprt->q_empty)
		src->xprt->q_empty(src);
}

static void shut_now(struct sl_conn *c)
{
	c->shut_wanted = false;
	if (c->xprt->push_end) {
		c->xprt->push_end(c);
		return;
	}
	/* A plain syscall: IORING_OP_SHUTDOWN always runs on an io-wq thread
	 * (a wakeup and two context switches for one FIN), which was 16% of
	 * the proxy's CPU in the churn bench, where every client gets one.
	 * Errors (the peer is gone) show on the next recv or send. A direct
	 * descriptor (a server socket) has no other way. */
	if (sl_ring_is_direct(c->fd)) {
		sl_ring_shutdown(&c->w->ring, c->fd, SHUT_WR, cud(c, SL_OP_SHUTDOWN));
		c->inflight++;
		return;
	}
	shutdown(c->fd, SHUT_WR);
}

void sl_conn_flush(struct sl_conn *c, struct sl_conn *src, uint64_t *relay)
{
	struct sl_worker *w = c->w;
	struct iovec iov[SL_TXV_MAX];
	uint32_t total = 0;
	int n;

	if (c->tx_busy || c->st != SL_CONN_OPEN)
		return;
	if (src && sl_conn_ready(c))
		take(c, src, relay);
	c->tx_out_n = 0;
	if (c->xprt->push) {
		/* socketless: the transport takes the bytes; the "send"
		 * completes with sl_conn_push_done */
		uint32_t k = c->xprt->push(c);

		if (k) {
			c->tx_n = k;
			c->tx_busy = true;
			c->inflight++;
		}
		return;
	}
	n = c->xprt->prep(c, iov, SL_TXV_MAX);
	if (n < 0) {
		sl_conn_notify_error(c, -ENOMEM);
		return;
	}
	if (n == 0)
		return;
	if (n > 1 && !c->txv)
		c->txv = calloc(1, sizeof(*c->txv));
	if (n > 1 && c->txv) {
		for (int i = 0; i < n; i++)
			total += (uint32_t)iov[i].iov_len;
		memcpy(c->txv->iov, iov, (size_t)n * sizeof(iov[0]));
		c->txv->mh.msg_iov = c->txv->iov;
		c->txv->mh.msg_iovlen = (size_t)n;
		sl_ring_sendmsg(&w->ring, c->fd, &c->txv->mh, cud(c, SL_OP_SEND));
	} else {
		/* one piece (or no memory for iovecs: the first alone) */
		total = (uint32_t)iov[0].iov_len;
		sl_ring_send(&w->ring, c->fd, iov[0].iov_base, iov[0].iov_len, cud(c, SL_OP_SEND));
	}
	c->tx_n = total;
	c->tx_busy = true;
	c->inflight++;
}

bool sl_conn_out_pending(const struct sl_conn *c)
{
	return c->out.off < c->out.len || c->txq.count || c->tx_busy;
}

void sl_conn_out_discard(struct sl_conn *c)
{
	if (c->tx_busy && c->tx_out_n)
		c->out.len = c->out.off + c->tx_out_n; /* the kernel reads these */
	else
		c->out.off = c->out.len = 0;
	c->out_pre = 0;
	if (!c->tx_busy)
		txq_advance(c, UINT32_MAX);
}

void sl_conn_out_trim(struct sl_conn *c)
{
	if (!c->tx_busy && c->out.off == c->out.len) {
		free(c->out.p);
		memset(&c->out, 0, sizeof(c->out));
	}
}

/* The FIN, once everything put before it is sent: the transport's end of
 * stream first (TLS close_notify), then shutdown(SHUT_WR). Runs again after
 * each send completion until done. */
static void shut_step(struct sl_conn *c)
{
	if (!c->shut_wanted || c->tx_busy || c->st != SL_CONN_OPEN)
		return;
	if (c->out.off < c->out.len || c->txq.count) {
		sl_conn_flush(c, NULL, NULL);
		return;
	}
	if (c->xprt->notify_close && sl_conn_ready(c)) {
		c->xprt->notify_close(c); /* once: the transport keeps track */
		sl_conn_flush(c, NULL, NULL);
		if (c->tx_busy)
			return;
	}
	shut_now(c);
}

void sl_conn_shutdown(struct sl_conn *c)
{
	if (c->wr_shut || c->st != SL_CONN_OPEN)
		return;
	c->wr_shut = true;
	c->shut_wanted = true;
	shut_step(c);
}

static void on_send(struct sl_conn *c, int res)
{
	uint32_t n = res > 0 ? (uint32_t)res : 0;

	c->tx_busy = false;
	if (c->st != SL_CONN_OPEN || !c->cb) {
		c->tx_out_n = 0;
		return;
	}
	if (res < 0) {
		c->tx_out_n = 0;
		sl_conn_notify_error(c, res);
		return;
	}
	c->bytes_out += n;
	c->last_ms = c->w->now_ms;
	c->xprt->sent(c, n);
	c->tx_out_n = 0;
	if (c->out.off >= c->out.len)
		c->out.off = c->out.len = 0;
	c->cb->on_sent(c->owner, c, n);
	shut_step(c);
}

static void check_quiet(struct sl_conn *c);

void sl_conn_push_done(struct sl_conn *c)
{
	if (!c->tx_busy)
		return;
	c->inflight--;
	on_send(c, (int)c->tx_n);
	check_quiet(c);
	maybe_free(c);
}

/* ---- the raw transport ---------------------------------------------------------- */

static void raw_input(struct sl_conn *c, uint16_t bid, uint32_t len)
{
	sl_bufq_push_rx(c->w, &c->q, bid, len);
	sl_conn_notify_data(c);
}

static void raw_input_eof(struct sl_conn *c)
{
	sl_conn_notify_eof(c);
}

/* out (the part before txq), then txq's buffers, read in place. */
static int raw_prep(struct sl_conn *c, struct iovec *iov, int max)
{
	struct sl_worker *w = c->w;
	uint32_t o = c->out.len - c->out.off, off = c->txq.off;
	uint16_t bid = c->txq.head;
	int k = 0;

	if (c->txq.count && o > c->out_pre)
		o = c->out_pre;
	c->tx_out_n = o;
	if (o) {
		iov[k].iov_base = c->out.p + c->out.off;
		iov[k++].iov_len = o;
	}
	for (uint32_t i = 0; i < c->txq.count && k < max; i++) {
		iov[k].iov_base = sl_buf_ptr(w, bid) + off;
		iov[k++].iov_len = w->buf_len[bid] - off;
		off = 0;
		bid = w->buf_next[bid];
	}
	return k;
}

static void raw_sent(struct sl_conn *c, uint32_t n)
{
	uint32_t k = n < c->tx_out_n ? n : c->tx_out_n;

	c->tx_out_n = 0; /* out may move again */
	if (k)
		out_advance(c, k);
	if (n > k)
		txq_advance(c, n - k);
}

const struct sl_xprt_ops sl_xprt_raw = {
	.name = "raw",
	.input = raw_input,
	.input_eof = raw_input_eof,
	.prep = raw_prep,
	.sent = raw_sent,
};

/* ---- closing -------------------------------------------------------------------- */

void sl_conn_close(struct sl_conn *c, bool orderly)
{
	struct sl_ring *r;
	int fd;

	if (!c || c->st == SL_CONN_CLOSING || c->st == SL_CONN_FREE)
		return;
	r = &c->w->ring;
	fd = c->fd;
	c->cb = NULL;
	c->owner = NULL;
	c->want_rx = false;
	if (c->peer)
		sl_conn_link(c, NULL);
	sl_conn_rx_forget(c);
	if (c->xprt->detach) {
		/* socketless: nothing of it is in the ring; a "send" the
		 * transport holds is dropped with it */
		c->xprt->detach(c);
		if (c->tx_busy) {
			c->tx_busy = false;
			c->inflight--;
		}
		c->st = SL_CONN_CLOSING;
		maybe_free(c);
		return;
	}
	if (c->rx == SL_RX_ARMED) {
		sl_ring_cancel_ud(r, cud(c, SL_OP_RECV), cud(c, SL_OP_CANCEL));
		c->inflight++;
	}
	if (c->tx_busy) {
		sl_ring_cancel_ud(r, cud(c, SL_OP_SEND), cud(c, SL_OP_CANCEL));
		c->inflight++;
	}
	if (c->st == SL_CONN_CONNECTING) {
		sl_ring_cancel_ud(r, cud(c, SL_OP_CONNECT), cud(c, SL_OP_CANCEL));
		c->inflight++;
	}
	if (orderly && c->st == SL_CONN_OPEN && c->xprt->notify_close && sl_conn_ready(c) &&
	    !c->tx_busy && !c->wr_shut) {
		/* an orderly end: tell the peer (close_notify), best effort: a
		 * peer that does not read gets nothing rather than a send that
		 * never completes. The send holds the socket until it completes. */
		struct iovec iov[SL_TXV_MAX];

		c->xprt->notify_close(c);
		if (c->xprt->prep(c, iov, SL_TXV_MAX) > 0) {
			sl_ring_send_nowait(r, fd, iov[0].iov_base, iov[0].iov_len,
					    cud(c, SL_OP_SEND));
			c->tx_busy = true;
			c->inflight++;
		}
	}
	c->st = SL_CONN_CLOSING;
	if (fd >= 0) {
		c->fd = -1; /* ownership rule 1: the field goes first */
		/* after the cancels in submission order; a request that still
		 * holds the file keeps the socket alive until its completion */
		sl_ring_close(r, fd, cud(c, sl_ring_is_direct(fd) ? SL_OP_CLOSE_DIRECT :
					 SL_OP_CLOSE));
		c->inflight++;
	}
	maybe_free(c);
}

/* Nothing of c is left in the ring, but its socket is a direct
 * descriptor, which no other ring can use: first a process fd for it, then
 * the slot closed (on_fd_installed). */
static void install_fd(struct sl_conn *c)
{
	sl_ring_fd_install(&c->w->ring, (uint32_t)(c->fd & ~SL_RING_DIRECT),
			   cud(c, SL_OP_FD_INSTALL));
	c->inflight++;
}

static void on_fd_installed(struct sl_conn *c, int res)
{
	int slot = c->fd;

	if (res < 0) {
		/* no fd to hand over (EMFILE): the owner hears of an error
		 * and, at on_quiet, closes the connection */
		c->installed_failed = true;
		if (c->cb && c->cb->on_error)
			c->cb->on_error(c->owner, c, res);
		return;
	}
	c->fd = res; /* accounted in dispatch (SL_OP_FD_INSTALL) */
	sl_ring_close(&c->w->ring, slot, cud(c, SL_OP_CLOSE_DIRECT));
	c->inflight++;
}

static void check_quiet(struct sl_conn *c)
{
	if (c->quiet_wanted && !c->inflight && c->st == SL_CONN_OPEN &&
	    sl_ring_is_direct(c->fd) && !c->installed_failed) {
		install_fd(c);
		return;
	}
	if (c->quiet_wanted && !c->inflight && c->st == SL_CONN_OPEN) {
		c->quiet_wanted = false;
		if (c->cb && c->cb->on_quiet)
			c->cb->on_quiet(c->owner, c);
	}
}

void sl_conn_quiesce(struct sl_conn *c)
{
	c->want_rx = false;
	c->quiet_wanted = true;
	sl_conn_rx_forget(c);
	if (c->rx == SL_RX_ARMED) {
		sl_ring_cancel_ud(&c->w->ring, cud(c, SL_OP_RECV), cud(c, SL_OP_CANCEL));
		c->inflight++;
		c->rx = SL_RX_CANCELING;
	}
	check_quiet(c);
}

int sl_conn_take_fd(struct sl_conn *c)
{
	int fd = c->fd;

	c->fd = -1;
	c->cb = NULL;
	if (c->peer)
		sl_conn_link(c, NULL);
	c->st = SL_CONN_CLOSING;
	maybe_free(c);
	return fd;
}

void sl_conn_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t u = cqe->user_data;
	uint32_t slot = sl_ud_slot(u);
	struct sl_conn *c;

	if (slot >= w->conns.hwm || w->conns.v[slot].gen != sl_ud_gen(u) ||
	    w->conns.v[slot].st == SL_CONN_FREE) {
		/* cannot happen (freed at inflight 0), but a buffer must go back */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			int id = sl_ring_slice_take(&w->ring, cqe->flags, cqe->res);

			if (id >= 0)
				sl_buf_release(w, (uint16_t)id);
		}
		return;
	}
	c = &w->conns.v[slot];
	switch (sl_ud_op(u)) {
	case SL_OP_RECV:
		sl_conn_rx_on_cqe(c, cqe); /* counts its own end (multishot) */
		break;
	case SL_OP_SEND:
		c->inflight--;
		on_send(c, cqe->res);
		break;
	case SL_OP_CONNECT:
		c->inflight--;
		if (c->st == SL_CONN_CONNECTING) {
			/* a failed socket cancelled the connect: say why */
			int res = cqe->res == -ECANCELED && c->sock_err ? c->sock_err : cqe->res;

			c->st = SL_CONN_OPEN;
			c->last_ms = w->now_ms;
			if (c->cb)
				c->cb->on_connect(c->owner, c, res);
		}
		break;
	case SL_OP_SOCKET:
		c->inflight--;
		if (cqe->res < 0) {
			/* nothing in the slot: nothing to close */
			c->sock_err = cqe->res;
			if (sl_ring_is_direct(c->fd))
				c->fd = -1;
		}
		break;
	case SL_OP_SOCKOPT:
		/* only on failure, and not counted in inflight: the socket
		 * works on without TCP_NODELAY */
		break;
	case SL_OP_FD_INSTALL:
		c->inflight--;
		on_fd_installed(c, cqe->res);
		break;
	default: /* cancel, close, pause: nothing to decide */
		c->inflight--;
		break;
	}
	check_quiet(c);
	maybe_free(c);
}
