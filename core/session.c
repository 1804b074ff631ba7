/*
 * Sessions (core/ layer). Data path of one tcp session:
 *   accept -> sl_session_new -> proto start (pick server, connect)
 *   multishot recv on each side -> buffer queued on that side (on_recv)
 *   -> sl_session_pump sends the queue head to the other side (MSG_WAITALL)
 *   -> send CQE recycles the buffer and sends the next one (on_send)
 *   FIN (recv res 0) -> proto decides (drain, shutdown, close)
 *   teardown: cancel all requests on each fd, then close it (hard link);
 *   the slot is released when its in-flight count reaches zero.
 * Every request that produces a CQE increments s->inflight; its CQE
 * decrements it (a multishot recv counts once, until its last CQE). The one
 * exception is the recv of a pooled server connection (s->pconn): it belongs
 * to the pool entry, which counts it and hands its completions to the
 * session that uses the connection (sl_session_on_pool_recv).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "core/session.h"
#include "proto/http.h"
#include "proto/tcp.h"
#include "proto/tls.h"
#include "ring/udata.h"

static const char *const cause_names[] = {
	[SL_CLOSE_NORMAL] = "normal",
	[SL_CLOSE_CLIENT_ERR] = "client error",
	[SL_CLOSE_SERVER_ERR] = "server error",
	[SL_CLOSE_CONNECT_FAIL] = "connect failed",
	[SL_CLOSE_NO_SERVER] = "no server available",
	[SL_CLOSE_TIMEOUT] = "timeout",
	[SL_CLOSE_STOP] = "stopping",
	[SL_CLOSE_RESOURCE] = "out of resources",
	[SL_CLOSE_LIMIT] = "over maxconn_per_source",
};

/* dir carries the side in bit 0 and, for the server side, the connection
 * epoch (3 bits: completions of the last 7 server sockets are told apart)
 * in bits 1-3. */
#define EPOCH_MASK 7u
_Static_assert(SL_OP_COUNT <= SL_UD_OP_MAX + 1, "ops must fit the user_data op field");
static uint64_t ud(const struct sl_session *s, unsigned op, unsigned dir)
{
	if (dir == SL_SIDE_SRV)
		dir |= (unsigned)(s->side[SL_SIDE_SRV].epoch & EPOCH_MASK) << 1;
	return sl_ud_make(s->slot, s->gen, op, dir);
}

static struct sl_session *slot_alloc(struct sl_worker *w)
{
	struct sl_session *s = w->free;

	if (s) {
		w->free = s->next;
	} else if (w->hwm < w->nslots) {
		s = &w->sessions[w->hwm];
		s->slot = w->hwm++;
	} else {
		return NULL;
	}
	uint32_t slot = s->slot, gen = s->gen + 1;

	memset(s, 0, sizeof(*s));
	s->slot = slot;
	s->gen = gen ? gen : 1;
	s->w = w;
	for (int i = 0; i < 2; i++)
		s->side[i].fd = -1;
	w->nsessions++;
	return s;
}

/* Buffer ids below SL_BUF_COUNT are provided buffers (the kernel's ring);
 * the ones above are plaintext buffers of TLS connections (w->pbuf). */
static inline char *buf_ptr(struct sl_worker *w, uint16_t bid)
{
	if (bid < SL_BUF_COUNT)
		return (char *)sl_ring_buf(&w->ring, bid);
	return w->pbuf[bid - SL_BUF_COUNT];
}

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

static void buf_release(struct sl_worker *w, uint16_t bid)
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

static void bufq_push(struct sl_worker *w, struct sl_bufq *q, uint16_t bid, uint32_t len)
{
	w->buf_len[bid] = len;
	if (q->count)
		w->buf_next[q->tail] = bid;
	else
		q->head = bid;
	q->tail = bid;
	q->count++;
}

static void bufq_pop(struct sl_worker *w, struct sl_bufq *q)
{
	uint16_t bid = q->head;

	q->head = w->buf_next[bid];
	q->count--;
	q->off = 0;
	buf_release(w, bid);
}

static void release_stash(struct sl_session *s)
{
	while (s->tx_stash.count)
		bufq_pop(s->w, &s->tx_stash);
}

/* Buffers queued on a side, ciphertext waiting for TLS included. */
static uint32_t queued_bufs(const struct sl_session *s, int side)
{
	uint32_t n = s->side[side].q.count;

	if (side == SL_SIDE_CLI && s->tls)
		n += s->tls->cin.count;
	return n;
}

static void starved_remove(struct sl_session *s)
{
	struct sl_session **pp = &s->w->starved;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	s->next = NULL;
}

static uint32_t srv_gidx(const struct sl_worker *w, const struct sl_server *srv)
{
	return w->pool.base[srv->be - w->px->backends] + (uint32_t)(srv - srv->be->servers);
}

static bool srv_has_slot(const struct sl_worker *w, const struct sl_server *srv)
{
	uint32_t share = sl_limits_share(srv->conf->maxconn, w->px->nworkers);

	return !share || w->srv_active[srv_gidx(w, srv)] < share;
}

static void dequeue(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	size_t b = (size_t)(s->be - w->px->backends);

	if (!s->queued)
		return;
	if (s->qprev)
		s->qprev->qnext = s->qnext;
	else
		w->q_head[b] = s->qnext;
	if (s->qnext)
		s->qnext->qprev = s->qprev;
	else
		w->q_tail[b] = s->qprev;
	s->qprev = s->qnext = NULL;
	s->queued = false;
	s->t_queue += w->now_ms - s->queue_ms;
	SL_ST_ADD(w->st->be[b].queued, (uint64_t)-1);
}

void sl_session_unqueue(struct sl_session *s)
{
	dequeue(s);
}

static bool backend_has_slot(const struct sl_worker *w, const struct sl_backend *be)
{
	for (int i = 0; i < be->nservers; i++)
		if (sl_server_state(&be->servers[i]) == SL_SRV_UP &&
		    !be->servers[i].conf->disabled && srv_has_slot(w, &be->servers[i]))
			return true;
	return false;
}

/* A slot of backend b freed: let the oldest waiting sessions try again. */
static void wake_queue(struct sl_worker *w, size_t b)
{
	struct sl_session *head;

	while ((head = w->q_head[b]) && backend_has_slot(w, &w->px->backends[b])) {
		dequeue(head);
		head->ops->on_dequeued(head);
		if (head->queued)
			break; /* could not get the slot after all: keep the order */
	}
}

static void server_release(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	struct sl_server *srv = s->srv;

	if (!s->srv_held)
		return;
	s->srv_held = false;
	w->srv_active[srv_gidx(w, srv)]--;
	atomic_fetch_sub(&srv->sessions, 1);
	if (w->q_head[srv->be - w->px->backends])
		wake_queue(w, (size_t)(srv->be - w->px->backends));
}

int sl_session_pick_server(struct sl_session *s, const struct sl_server *exclude,
			   struct sl_server **out)
{
	struct sl_worker *w = s->w;
	struct sl_backend *be = s->be;
	struct sl_server *srv = sl_backend_pick(be, s->peer.sa.sa_family ? &s->peer : NULL, exclude);
	int first;

	if (!srv)
		return -ENOENT;
	first = (int)(srv - be->servers);
	for (int i = 0; i < be->nservers; i++) {
		struct sl_server *c = &be->servers[(first + i) % be->nservers];

		if (c == exclude && be->nservers > 1)
			continue;
		if ((c == srv || (c->conf->backup == srv->conf->backup && !c->conf->disabled &&
				  sl_server_state(c) == SL_SRV_UP)) && srv_has_slot(w, c)) {
			*out = c;
			return 0;
		}
	}
	/* every usable server is at its maxconn: wait in the backend queue */
	SL_ST_INC(w->st->be[be - w->px->backends].queued);
	s->queued = true;
	s->queue_ms = w->now_ms;
	{
		size_t b = (size_t)(be - w->px->backends);

		s->qprev = w->q_tail[b];
		s->qnext = NULL;
		if (w->q_tail[b])
			w->q_tail[b]->qnext = s;
		else
			w->q_head[b] = s;
		w->q_tail[b] = s;
	}
	sl_session_timer_kick(s);
	return -EAGAIN;
}

/* Release the slot once nothing of the kernel's refers to it any more. */
static void maybe_release(struct sl_session *s)
{
	struct sl_worker *w = s->w;

	if (s->state != SL_SESS_ST_CLOSING || s->inflight)
		return;
	for (int i = 0; i < 2; i++) {
		while (s->side[i].q.count)
			bufq_pop(w, &s->side[i].q);
		free(s->side[i].out);
		s->side[i].out = NULL;
		free(s->side[i].txv);
		s->side[i].txv = NULL;
	}
	release_stash(s);
	if (s->tls) {
		while (s->tls->cin.count)
			bufq_pop(w, &s->tls->cin);
		if (s->tls->spare >= 0)
			buf_release(w, (uint16_t)s->tls->spare);
	}
	sl_stats_session_end(s);
	/* a TLS session whose handshake failed never started its protocol */
	if (s->ops && s->ops->on_log && (!s->tls || s->tls->hs_done))
		s->ops->on_log(s);
	if (s->ops && s->ops->on_free && (!s->tls || s->tls->hs_done))
		s->ops->on_free(s);
	sl_tls_session_free(s);
	server_release(s);
	if (s->src_counted)
		sl_limits_source_put(s->fe_idx, &s->peer);
	if (!s->fe->stats)
		atomic_fetch_sub(&w->px->sessions, 1);
	s->state = SL_SESS_ST_FREE;
	s->next = w->free;
	w->free = s;
	w->nsessions--;
	if (s->conn_counted)
		sl_worker_conn_closed(w, s->fe_idx);
}

struct sl_session *sl_session_new(struct sl_worker *w, int cfd, const struct sl_listener *l)
{
	struct sl_session *s = slot_alloc(w);

	if (!s) {
		sl_log("frontend %s: session table full (%u), closing new connection",
		       l->fe->name, w->nslots);
		close(cfd);
		SL_ST_ADD(w->st->fds, (uint64_t)-1);
		if (!l->fe->stats)
			atomic_fetch_sub(&w->px->sessions, 1);
		sl_worker_conn_closed(w, l->fe_idx);
		return NULL;
	}
	s->fe = l->fe;
	s->fe_idx = l->fe_idx;
	s->gauge = SL_GS_NONE;
	SL_ST_INC(w->st->fe[l->fe_idx].sess_total);
	SL_ST_INC(w->st->fe[l->fe_idx].sess_cur);
	s->conn_counted = true;
	s->be = &w->px->backends[l->fe->backend];
	s->side[SL_SIDE_CLI].fd = cfd;
	s->side[SL_SIDE_CLI].last_ms = w->now_ms;
	s->side[SL_SIDE_SRV].last_ms = w->now_ms;
	s->side[SL_SIDE_CLI].connected = true;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s->wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	}
	{
		socklen_t len = sizeof(s->peer);

		if (getpeername(cfd, &s->peer.sa, &len) < 0)
			s->peer.sa.sa_family = 0;
	}
	if (l->fe->maxconn_per_source && s->peer.sa.sa_family) {
		s->src_counted = sl_limits_source_get(l->fe_idx, &s->peer,
						      l->fe->maxconn_per_source);
		s->over_source = !s->src_counted;
		if (s->over_source) {
			SL_ST_INC(w->st->fe[l->fe_idx].refused_source);
			sl_log("frontend %s: connection refused: over maxconn_per_source %u",
			       l->fe->name, l->fe->maxconn_per_source);
		}
	}
	s->start_ms = w->now_ms;
	s->state = SL_SESS_ST_CONNECTING;
	s->ops = l->fe->mode == SL_FE_MODE_HTTP ? &sl_http_ops : &sl_tcp_ops;
	if (l->tls && !(s->over_source && l->fe->mode != SL_FE_MODE_HTTP)) {
		/* the protocol starts once the handshake is done (sl_tls_input);
		 * a tcp client over its source limit is refused without one */
		if (sl_tls_session_new(s, l->tls) < 0) {
			sl_log("frontend %s: out of memory for a TLS connection", l->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
		} else {
			sl_session_arm_recv(s, SL_SIDE_CLI);
			sl_session_timer_kick(s);
		}
	} else {
		s->ops->start(s);
	}
	if (s->state != SL_SESS_ST_FREE)
		sl_stats_gauge(s);
	return s;
}

/* Cancel each request that may be pending on a side's socket, by its
 * user_data: a hashed lookup, where a cancel by fd scans every pending
 * request of the ring (quadratic when thousands of sessions close at once:
 * 9,500 idle clients closing together held their fds for 2.5 s). */
static void cancel_side(struct sl_session *s, int side)
{
	struct sl_side *sd = &s->side[side];
	struct sl_ring *r = &s->w->ring;

	if (sd->rx == SL_RX_ARMED && side == SL_SIDE_SRV && s->pconn) {
		sl_pool_cancel_recv(s->w, s->pconn);
	} else if (sd->rx == SL_RX_ARMED) {
		sl_ring_cancel_ud(r, ud(s, SL_OP_RECV, (unsigned)side), ud(s, SL_OP_CANCEL,
									 (unsigned)side));
		s->inflight++;
	}
	if (sd->tx_busy) {
		sl_ring_cancel_ud(r, ud(s, SL_OP_SEND, (unsigned)side), ud(s, SL_OP_CANCEL,
									 (unsigned)side));
		s->inflight++;
	}
	if (side == SL_SIDE_SRV && !sd->connected) {
		sl_ring_cancel_ud(r, ud(s, SL_OP_CONNECT, SL_SIDE_SRV), ud(s, SL_OP_CANCEL,
									     SL_SIDE_SRV));
		s->inflight++;
	}
}

static void close_side(struct sl_session *s, int side)
{
	struct sl_side *sd = &s->side[side];
	int fd = sd->fd;

	if (fd < 0)
		return;
	cancel_side(s, side);
	if (side == SL_SIDE_CLI && s->tls && s->tls->hs_done && !sd->tx_busy && !sd->wr_shut &&
	    (s->cause == SL_CLOSE_NORMAL || (s->cause == SL_CLOSE_TIMEOUT && s->idle))) {
		/* an orderly end: tell the client with a close_notify (never on
		 * errors, where it would make a truncated response look whole).
		 * The send holds the socket until it completes. */
		struct sl_tls_conn *t = s->tls;

		sl_tls_close_notify(s);
		if (t->cout_off < t->cout_len) {
			/* best effort: a client that does not read gets no alert
			 * rather than a send that never completes */
			sl_ring_send_nowait(&s->w->ring, fd, t->cout + t->cout_off,
					    t->cout_len - t->cout_off, ud(s, SL_OP_SEND, SL_SIDE_CLI));
			t->cout_busy = true;
			s->inflight++;
		}
	}
	sd->fd = -1; /* ownership rule 1: the field goes first */
	if (side == SL_SIDE_SRV && s->pconn) {
		/* the entry lives on until its recv's last completion */
		sl_pool_disown(s->w, s->pconn);
		s->pconn = NULL;
	}
	/* after the cancels in submission order; a request that still holds the
	 * file keeps the socket alive until its own completion */
	sl_ring_close(&s->w->ring, fd, ud(s, SL_OP_CLOSE, (unsigned)side));
	s->inflight++;
}

/* The server side no longer has a socket (closed or handed to the pool):
 * forget what was received on it and start a new epoch. */
static void reset_server_side(struct sl_session *s)
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
	while (sd->q.count)
		bufq_pop(w, &sd->q);
	c->relay = 0;
	if (sd->starved) {
		sd->starved = false;
		if (!s->side[SL_SIDE_CLI].starved)
			starved_remove(s);
	}
	sd->rd_eof = sd->wr_shut = sd->tx_busy = sd->connected = false;
	sd->rx = SL_RX_OFF;
	sd->epoch = (uint8_t)((sd->epoch + 1) & EPOCH_MASK); /* old completions recognised */
	server_release(s);
}

void sl_session_drop_server(struct sl_session *s)
{
	close_side(s, SL_SIDE_SRV);
	reset_server_side(s);
}

static void use_server(struct sl_session *s, struct sl_server *srv)
{
	server_release(s);
	s->srv = srv;
	s->srv_held = true;
	s->w->srv_active[srv_gidx(s->w, srv)]++;
	SL_ST_INC(s->w->st->srv[srv_gidx(s->w, srv)].sess_total);
	SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].sess_total);
	atomic_fetch_add(&srv->sessions, 1);
	atomic_fetch_add(&srv->total, 1);
}

bool sl_session_take_pooled(struct sl_session *s, struct sl_server *srv,
			    struct sl_pool_meta *meta)
{
	struct sl_side *sd = &s->side[SL_SIDE_SRV];
	struct sl_pool_conn *pc;
	int fd = sl_pool_get(s->w, srv, s, &pc, meta);

	if (fd < 0)
		return false;
	use_server(s, srv);
	sd->fd = fd;
	sd->connected = true;
	sd->last_ms = s->w->now_ms;
	s->pconn = pc;
	sd->rx = pc->rx_armed ? SL_RX_ARMED : SL_RX_OFF;
	s->state = SL_SESS_ST_FORWARD;
	sl_session_arm_recv(s, SL_SIDE_SRV);
	return true;
}

void sl_session_pool_server(struct sl_session *s, const struct sl_pool_meta *meta)
{
	struct sl_side *sd = &s->side[SL_SIDE_SRV];
	struct sl_server *srv = s->srv;
	struct sl_pool_conn *pc = s->pconn;
	int fd = sd->fd;

	if (fd < 0)
		return;
	/* a recv of the entry paused for quota (SL_RX_CANCELING) is re-armed by
	 * the pool when its cancel completes */
	if (!pc && sd->rx != SL_RX_OFF) {
		/* the session's own recv: the pool arms its own. Submitted
		 * before the pool's first request on fd. */
		sl_ring_cancel_ud(&s->w->ring, ud(s, SL_OP_RECV, SL_SIDE_SRV),
				  ud(s, SL_OP_CANCEL, SL_SIDE_SRV));
		s->inflight++;
	}
	sd->fd = -1;
	s->pconn = NULL;
	reset_server_side(s);
	sl_pool_put(s->w, srv, fd, pc, meta);
}

void sl_session_close(struct sl_session *s, enum sl_close_cause cause)
{
	if (s->state == SL_SESS_ST_CLOSING || s->state == SL_SESS_ST_FREE)
		return;
	s->state = SL_SESS_ST_CLOSING;
	s->cause = (uint8_t)cause;
	if (s->tls && !s->tls->hs_done) {
		/* the handshake's failure is the log line (sl_tls_handshake_failed) */
		if (cause == SL_CLOSE_CLIENT_ERR)
			sl_tls_handshake_failed(s, SL_TLS_FAIL_CLOSED, "connection error");
	} else if (cause != SL_CLOSE_NORMAL && cause != SL_CLOSE_RESOURCE) {
		const char *srv = s->srv ? s->srv->conf->name : "-";

		if (cause == SL_CLOSE_TIMEOUT)
			sl_log("frontend %s backend %s server %s: session closed: %s after %llu ms",
			       s->fe->name, s->be->conf->name, srv,
			       sl_conf_timeout_name((enum sl_timeout_kind)s->to_kind),
			       (unsigned long long)(s->w->now_ms - s->start_ms));
		else
			sl_log("frontend %s backend %s server %s: session closed: %s after %llu ms",
			       s->fe->name, s->be->conf->name, srv, cause_names[cause],
			       (unsigned long long)(s->w->now_ms - s->start_ms));
	}
	if (s->side[0].starved || s->side[1].starved)
		starved_remove(s);
	dequeue(s);
	sl_stats_gauge(s); /* out of every state gauge */
	close_side(s, SL_SIDE_CLI);
	close_side(s, SL_SIDE_SRV);
	if (s->timer_armed) {
		sl_ring_timeout_remove(&s->w->ring, ud(s, SL_OP_TIMER, 0),
				       ud(s, SL_OP_TIMER_CTL, 0));
		s->inflight++;
	}
	maybe_release(s);
}

void sl_session_close_all(struct sl_worker *w)
{
	for (uint32_t i = 0; i < w->hwm; i++) {
		struct sl_session *s = &w->sessions[i];

		if (s->state != SL_SESS_ST_FREE && s->state != SL_SESS_ST_CLOSING)
			sl_session_close(s, SL_CLOSE_STOP);
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

/* The protocol's deadline, or the queue's when that comes first. */
static uint64_t deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	uint64_t at, q;

	if (s->tls && !s->tls->hs_done) {
		/* the whole handshake, from accept, is bounded */
		*kind = sl_tls_handshake_timeout(s);
		return s->start_ms + s->fe->timeouts.ms[*kind];
	}
	at = s->ops->deadline(s, kind);

	if (s->queued) {
		q = s->queue_ms + s->be->conf->timeouts.ms[SL_TO_QUEUE];
		if (q < at) {
			*kind = SL_TO_QUEUE;
			at = q;
		}
	}
	return at;
}

/* The shortest inactivity timeout the session may switch to while it lives
 * (FIN and queue timeouts aside: they are entered rarely). */
static uint64_t timer_horizon(const struct sl_session *s)
{
	const uint64_t *fe = s->fe->timeouts.ms, *be = s->be->conf->timeouts.ms;
	uint64_t h = fe[SL_TO_CLIENT] < be[SL_TO_SERVER] ? fe[SL_TO_CLIENT] : be[SL_TO_SERVER];

	if (s->fe->mode == SL_FE_MODE_HTTP) {
		if (fe[SL_TO_HTTP_REQUEST] < h)
			h = fe[SL_TO_HTTP_REQUEST];
		if (fe[SL_TO_HTTP_KEEP_ALIVE] < h)
			h = fe[SL_TO_HTTP_KEEP_ALIVE];
	}
	return h;
}

/* The timer never waits longer than the horizon, even when the deadline is
 * further away. A deadline that moves earlier (keep-alive idle -> awaiting a
 * response) then almost never finds the timer too late, so it is not updated
 * on every request: the timer fires early now and then and re-arms instead.
 * Measured (reuse, wrk -c50): one TIMEOUT_REMOVE per request was ~5% of the
 * proxy's CPU. */
static void timer_arm(struct sl_session *s, uint64_t at)
{
	uint64_t now = s->w->now_ms, horizon = now + timer_horizon(s);

	if (at > horizon)
		at = horizon;
	sl_ring_ts(&s->ts_timer, at > now ? at - now : 1);
	if (s->timer_armed) {
		sl_ring_timeout_update(&s->w->ring, &s->ts_timer, ud(s, SL_OP_TIMER, 0),
				       ud(s, SL_OP_TIMER_CTL, 0));
	} else {
		sl_ring_timeout(&s->w->ring, &s->ts_timer, ud(s, SL_OP_TIMER, 0));
		s->timer_armed = true;
	}
	s->inflight++;
	s->timer_at = at;
}

void sl_session_timer_kick(struct sl_session *s)
{
	enum sl_timeout_kind kind;
	uint64_t at;

	if (s->state == SL_SESS_ST_CLOSING)
		return;
	at = deadline(s, &kind);
	/* A later deadline needs nothing: the timer fires early and re-arms. */
	if (!s->timer_armed || at < s->timer_at)
		timer_arm(s, at);
}

static void on_timer(struct sl_session *s, int res)
{
	enum sl_timeout_kind kind;
	uint64_t at;

	s->timer_armed = false;
	if (s->state == SL_SESS_ST_CLOSING || res == -ECANCELED)
		return;
	at = deadline(s, &kind);
	if (s->w->now_ms >= at) {
		s->to_kind = (uint8_t)kind;
		SL_ST_INC(s->w->st->fe[s->fe_idx].to[kind]);
		if (!s->fe->stats && !(s->tls && !s->tls->hs_done))
			SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].to[kind]);
		if (kind == SL_TO_QUEUE)
			dequeue(s);
		if (s->tls && !s->tls->hs_done) {
			char why[64];

			snprintf(why, sizeof(why), "not done within %s",
				 sl_conf_timeout_name(kind));
			sl_tls_handshake_failed(s, SL_TLS_FAIL_TIMEOUT, why);
			sl_session_close(s, SL_CLOSE_TIMEOUT);
		} else {
			s->ops->on_timeout(s, kind);
		}
		if (s->state != SL_SESS_ST_CLOSING && !s->timer_armed)
			timer_arm(s, deadline(s, &kind));
	} else {
		timer_arm(s, at);
	}
}

int sl_session_connect(struct sl_session *s, struct sl_server *srv)
{
	const struct sl_addr *a = &srv->conf->addr;
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	SL_ST_INC(s->w->st->fds);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->side[SL_SIDE_SRV].fd = fd;
	use_server(s, srv);
	sl_ring_ts(&s->ts_connect, s->be->conf->timeouts.ms[SL_TO_CONNECT]);
	s->t_conn_start = s->w->now_ms;
	s->t_connected = 0;
	sl_ring_connect(&s->w->ring, fd, (const struct sockaddr *)&a->ss, a->len,
			&s->ts_connect, ud(s, SL_OP_CONNECT, SL_SIDE_SRV));
	s->inflight++;
	return 0;
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

/* own: the recv is counted in s->inflight (not a pool entry's). */
static void on_recv(struct sl_session *s, int side, const struct io_uring_cqe *cqe, bool own)
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
		if (tls)
			sl_tls_input(s); /* handshake, decryption, then the protocol */
		else if (s->raw)
			sl_session_pump(s, !side);
		else
			s->ops->on_data(s, side);
		sl_session_arm_recv(s, side); /* multishot ended (CQ overflow): re-arm */
	} else if (res == 0) {
		sd->rd_eof = true;
		if (tls)
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
		if (s->tls && !s->tls->hs_done)
			sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		else if (!s->ops->on_error || !s->ops->on_error(s, side, res))
			sl_session_close(s, side == SL_SIDE_CLI ? SL_CLOSE_CLIENT_ERR :
					 SL_CLOSE_SERVER_ERR);
	} else {
		sl_session_arm_recv(s, side); /* a pause ended; re-arm if drained */
	}
}

static void on_send(struct sl_session *s, int to, int res)
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
		release_stash(s); /* the server side was reset meanwhile */
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

static void count_connect_failure(struct sl_session *s, int res)
{
	struct sl_wstats *st = s->w->st;

	SL_ST_INC(st->be[s->be - s->w->px->backends].conn_fail);
	if (s->srv_held)
		SL_ST_INC(st->srv[srv_gidx(s->w, s->srv)].conn_fail);
	if (res == -ECANCELED) {
		SL_ST_INC(st->fe[s->fe_idx].to[SL_TO_CONNECT]);
		SL_ST_INC(st->be[s->be - s->w->px->backends].to[SL_TO_CONNECT]);
	}
}

void sl_session_on_pool_recv(struct sl_session *s, const struct io_uring_cqe *cqe)
{
	on_recv(s, SL_SIDE_SRV, cqe, false);
	if (s->state != SL_SESS_ST_CLOSING)
		sl_stats_gauge(s);
	maybe_release(s);
}

void sl_session_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t u = cqe->user_data;
	uint32_t slot = sl_ud_slot(u);
	unsigned op = sl_ud_op(u);
	int dir = (int)sl_ud_dir(u) & 1;
	struct sl_session *s;

	if (slot >= w->hwm || w->sessions[slot].gen != sl_ud_gen(u) ||
	    w->sessions[slot].state == SL_SESS_ST_FREE) {
		/* stale: nothing may refer to it, but a buffer must go back */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			sl_ring_buf_taken(&w->ring);
			sl_ring_buf_recycle(&w->ring, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
		}
		return;
	}
	s = &w->sessions[slot];
	if (op == SL_OP_CLOSE)
		SL_ST_ADD(w->st->fds, (uint64_t)-1);
	if (dir == SL_SIDE_SRV &&
	    ((sl_ud_dir(u) >> 1) & EPOCH_MASK) != (s->side[SL_SIDE_SRV].epoch & EPOCH_MASK)) {
		/* a completion of a server socket this session already dropped */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			sl_ring_buf_taken(&w->ring);
			sl_ring_buf_recycle(&w->ring, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
		}
		if (op != SL_OP_RECV || !(cqe->flags & IORING_CQE_F_MORE))
			s->inflight--;
		maybe_release(s);
		return;
	}
	if (op == SL_OP_RECV) {
		on_recv(s, dir, cqe, true); /* decrements inflight itself (multishot) */
		if (s->state != SL_SESS_ST_CLOSING)
			sl_stats_gauge(s);
		maybe_release(s);
		return;
	}
	s->inflight--;
	switch (op) {
	case SL_OP_SEND:
		on_send(s, dir, cqe->res);
		break;
	case SL_OP_CONNECT:
		if (s->state != SL_SESS_ST_CLOSING) {
			if (cqe->res < 0)
				count_connect_failure(s, cqe->res);
			else
				s->t_connected = w->now_ms;
			s->ops->on_connect(s, cqe->res);
		}
		break;
	case SL_OP_TIMER:
		on_timer(s, cqe->res);
		break;
	default: /* cancel, close, timer control: nothing to decide */
		break;
	}
	if (s->state != SL_SESS_ST_CLOSING && s->state != SL_SESS_ST_FREE)
		sl_stats_gauge(s);
	maybe_release(s);
}
