/*
 * Sessions (core/ layer): the lifecycle half. This file allocates sessions
 * in the worker's slot table, picks and connects servers (with the backend
 * queue), hands server connections to and from the pool, runs the
 * inactivity timer, tears sessions down and dispatches their completions;
 * core/session_io.c moves the bytes (recv, send, the TLS glue).
 * Data path of one tcp session:
 *   accept -> sl_session_new -> [accept_proxy: the PROXY header is read
 *   first, core/session_pp.c] -> sl_session_begin -> [TLS handshake] ->
 *   proto start (pick server, connect)
 *   multishot recv on each side -> buffer queued on that side
 *   (sl_session_on_recv, session_io.c)
 *   -> sl_session_pump (session_io.c) sends the queue head to the other
 *   side (MSG_WAITALL)
 *   -> send CQE recycles the buffer and sends the next one
 *   (sl_session_on_send, session_io.c)
 *   FIN (recv res 0) -> proto decides (drain, shutdown, close)
 *   teardown: cancel all requests on each fd, then close it (hard link);
 *   the slot is released when its in-flight count reaches zero (this file).
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
#include "core/session-i.h"
#include "core/session.h"
#include "core/session_pp.h"
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

static void starved_remove(struct sl_session *s)
{
	struct sl_session **pp = &s->w->starved;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	s->next = NULL;
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
	s->t_queue_us += w->now_us - s->queue_us;
	SL_ST_ADD(w->st->be[b].queued, (uint64_t)-1);
}

void sl_session_unqueue(struct sl_session *s)
{
	dequeue(s);
}

static bool backend_has_slot(const struct sl_worker *w, const struct sl_backend *be)
{
	for (int i = 0; i < be->nservers; i++)
		if (sl_server_usable(&be->servers[i]) && srv_has_slot(w, &be->servers[i]))
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
		if ((c == srv || (c->conf->backup == srv->conf->backup && sl_server_usable(c))) &&
		    srv_has_slot(w, c)) {
			*out = c;
			return 0;
		}
	}
	/* every usable server is at its maxconn: wait in the backend queue */
	SL_ST_INC(w->st->be[be - w->px->backends].queued);
	s->queued = true;
	s->queue_ms = w->now_ms;
	s->queue_us = w->now_us;
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
	sl_session_release_stash(s);
	if (s->tls) {
		while (s->tls->cin.count)
			bufq_pop(w, &s->tls->cin);
		if (s->tls->spare >= 0)
			buf_release(w, (uint16_t)s->tls->spare);
	}
	sl_stats_session_end(s);
	/* a TLS session whose handshake failed, or one refused for its PROXY
	 * header, never started its protocol */
	if (s->ops && s->ops->on_log && (!s->tls || s->tls->hs_done) && !s->pp_wait)
		s->ops->on_log(s);
	if (s->ops && s->ops->on_free && (!s->tls || s->tls->hs_done) && !s->pp_wait)
		s->ops->on_free(s);
	sl_tls_session_free(s);
	sl_session_pp_free(s);
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
		sl_log_req(w, "frontend %s: session table full (%u), closing new connection",
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
	s->start_ms = w->now_ms;
	s->start_us = w->now_us;
	s->state = SL_SESS_ST_CONNECTING;
	s->ops = l->fe->mode == SL_FE_MODE_HTTP ? &sl_http_ops : &sl_tcp_ops;
	if (l->bind && l->bind->accept_proxy) {
		/* the client is who the PROXY header says: begin once it is read */
		if (sl_session_pp_wait(s, l->tls) < 0) {
			sl_log("frontend %s: out of memory for a connection", l->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
		}
	} else {
		sl_session_begin(s, l->tls);
	}
	if (s->state != SL_SESS_ST_FREE)
		sl_stats_gauge(s);
	return s;
}

void sl_session_begin(struct sl_session *s, struct sl_tls_bind *tb)
{
	struct sl_worker *w = s->w;
	const struct sl_frontend_conf *fe = s->fe;

	if (fe->maxconn_per_source && s->peer.sa.sa_family) {
		s->src_counted = sl_limits_source_get(s->fe_idx, &s->peer, fe->maxconn_per_source);
		s->over_source = !s->src_counted;
		if (s->over_source) {
			SL_ST_INC(w->st->fe[s->fe_idx].refused_source);
			sl_log_req(w, "frontend %s: connection refused: over maxconn_per_source %u",
			              fe->name, fe->maxconn_per_source);
		}
	}
	if (tb && !(s->over_source && fe->mode != SL_FE_MODE_HTTP)) {
		/* the protocol starts once the handshake is done (sl_tls_input);
		 * a tcp client over its source limit is refused without one */
		if (sl_tls_session_new(s, tb) < 0) {
			sl_log("frontend %s: out of memory for a TLS connection", fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
		} else {
			sl_session_arm_recv(s, SL_SIDE_CLI);
			sl_session_timer_kick(s);
		}
	} else {
		s->ops->start(s);
	}
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

	sl_session_stash_server_bufs(s);
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
	sl_pool_put(s->w, srv, fd, pc, meta, &s->peer);
}

void sl_session_close(struct sl_session *s, enum sl_close_cause cause)
{
	if (s->state == SL_SESS_ST_CLOSING || s->state == SL_SESS_ST_FREE)
		return;
	s->state = SL_SESS_ST_CLOSING;
	s->cause = (uint8_t)cause;
	if (s->pp_wait) {
		/* the refused header is the log line (sl_session_pp_failed) */
		if (cause == SL_CLOSE_CLIENT_ERR)
			sl_session_pp_failed(s, SL_PP_FAIL_CLOSED, "connection error");
	} else if (s->tls && !s->tls->hs_done) {
		/* the handshake's failure is the log line (sl_tls_handshake_failed) */
		if (cause == SL_CLOSE_CLIENT_ERR)
			sl_tls_handshake_failed(s, SL_TLS_FAIL_CLOSED, "connection error");
	} else if (cause != SL_CLOSE_NORMAL && cause != SL_CLOSE_RESOURCE) {
		const char *srv = s->srv ? s->srv->conf->name : "-";

		if (cause == SL_CLOSE_TIMEOUT)
			sl_log_req(s->w, "frontend %s backend %s server %s: session closed: "
				   "%s after %llu ms", s->fe->name, s->be->conf->name, srv,
				   sl_conf_timeout_name((enum sl_timeout_kind)s->to_kind),
				   (unsigned long long)(s->w->now_ms - s->start_ms));
		else
			sl_log_req(s->w, "frontend %s backend %s server %s: session closed: "
				   "%s after %llu ms", s->fe->name, s->be->conf->name, srv,
				   cause_names[cause],
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

/* The protocol's deadline, or the queue's when that comes first. */
static uint64_t deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	uint64_t at, q;

	if (s->pp_wait) {
		/* the PROXY header, from accept (then the TLS handshake, if any,
		 * within the same time) */
		*kind = sl_session_pp_timeout(s);
		return s->start_ms + s->fe->timeouts.ms[*kind];
	}
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
		if (!s->fe->stats && !(s->tls && !s->tls->hs_done) && !s->pp_wait)
			SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].to[kind]);
		if (kind == SL_TO_QUEUE)
			dequeue(s);
		if (s->pp_wait) {
			char why[64];

			snprintf(why, sizeof(why), "not complete within %s",
				 sl_conf_timeout_name(kind));
			sl_session_pp_failed(s, SL_PP_FAIL_TIMEOUT, why);
			sl_session_close(s, SL_CLOSE_TIMEOUT);
		} else if (s->tls && !s->tls->hs_done) {
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
	s->conn_start_us = s->w->now_us;
	s->t_connected = 0;
	sl_ring_connect(&s->w->ring, fd, (const struct sockaddr *)&a->ss, a->len,
			&s->ts_connect, ud(s, SL_OP_CONNECT, SL_SIDE_SRV));
	s->inflight++;
	return 0;
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
	sl_session_on_recv(s, SL_SIDE_SRV, cqe, false);
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
		sl_session_on_recv(s, dir, cqe, true); /* decrements inflight itself (multishot) */
		if (s->state != SL_SESS_ST_CLOSING)
			sl_stats_gauge(s);
		maybe_release(s);
		return;
	}
	s->inflight--;
	switch (op) {
	case SL_OP_SEND:
		sl_session_on_send(s, dir, cqe->res);
		break;
	case SL_OP_CONNECT:
		if (s->state != SL_SESS_ST_CLOSING) {
			if (cqe->res < 0) {
				count_connect_failure(s, cqe->res);
			} else {
				s->t_connected = w->now_ms;
				s->conn_done_us = w->now_us;
				sl_stats_connected(s);
			}
			if (cqe->res >= 0 && s->srv->conf->send_proxy && sl_session_pp_send(s) < 0) {
				sl_log("backend %s: out of memory for a PROXY header",
				       s->be->conf->name);
				sl_session_close(s, SL_CLOSE_RESOURCE);
				break;
			}
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
