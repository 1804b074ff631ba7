/*
 * Sessions (core/ layer): the stream between a client connection and a
 * server connection. Data path of one session:
 *   accept -> sl_session_new: the client connection (core/conn.c) ->
 *   [accept_proxy: the PROXY header is read first, core/session_pp.c] ->
 *   sl_session_begin -> [the transport's handshake: HANDSHAKE until
 *   on_ready] -> proto start (http: HEAD; tcp: pick a server, connect)
 *   connection events come back through sess_cb: on_data -> the protocol
 *   reads (sl_session_peek/consume) or relays (s->raw, s->relay) ->
 *   sl_session_pump moves protocol output (s->ob) and relayed buffers to
 *   the other connection and sends; on_sent -> pump again, on_drained
 *   FIN (on_eof) -> the protocol decides (drain, shutdown, close)
 *   sl_session_close: both connections given up (they close themselves),
 *   the deadline taken out of the worker's heap; the slot is released from
 *   the worker's run list (never in the middle of a callback chain).
 * A session submits no ring request of its own: its timeouts are a
 * deadline in the worker's heap (core/timerq.c) under the worker's one
 * io_uring timeout, which calls sl_session_on_timer when it is due.
 * Wakeups between sessions (a server slot freed for a queued session) are
 * deferred to the worker's run list as well.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
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
#include "core/session.h"
#include "core/session_pp.h"
#include "core/stats.h"
#include "proto/http.h"
#include "proto/tcp.h"

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

static const struct sl_conn_cb sess_cb;

/* srv's index in the worker's per-server arrays (the pool's global index). */
static inline uint32_t srv_gidx(const struct sl_worker *w, const struct sl_server *srv)
{
	return w->pool.base[srv->be - w->px->backends] + (uint32_t)(srv - srv->be->servers);
}

void sl_session_set_state(struct sl_session *s, enum sl_sess_state st)
{
	sl_sess_transition(&s->state, st);
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
	w->nsessions++;
	return s;
}

/* A slot taken by slot_alloc that no session came to use. */
static void slot_unused(struct sl_worker *w, struct sl_session *s)
{
	s->next = w->free;
	w->free = s;
	w->nsessions--;
}

/* ---- the run list ---------------------------------------------------------- */

static void run_later(struct sl_session *s)
{
	struct sl_worker *w = s->w;

	if (s->run_queued)
		return;
	s->run_queued = true;
	s->run_next = NULL;
	if (w->run_tail)
		w->run_tail->run_next = s;
	else
		w->run_head = s;
	w->run_tail = s;
}

/* ---- servers and the backend queue ------------------------------------------- */

static bool srv_has_slot(const struct sl_worker *w, const struct sl_server *srv)
{
	uint32_t share = sl_limits_share(srv->conf->maxconn, w->px->nworkers);

	return !share || w->srv_active[srv_gidx(w, srv)] < share;
}

static void dequeue(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	size_t b = (size_t)(s->be - w->px->backends);

	if (s->state != SL_SESS_QUEUED || (!s->qprev && w->q_head[b] != s))
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
	s->t_queue += w->now_ms - s->queue_ms;
	s->t_queue_us += w->now_us - s->queue_us;
	SL_ST_ADD(w->st->be[b].queued, (uint64_t)-1);
}

void sl_session_unqueue(struct sl_session *s)
{
	if (s->state == SL_SESS_QUEUED) {
		dequeue(s);
		sl_session_set_state(s, SL_SESS_FORWARD); /* answered by us */
	}
}

static bool backend_has_slot(const struct sl_worker *w, const struct sl_backend *be)
{
	for (int i = 0; i < be->nservers; i++)
		if (sl_server_usable(&be->servers[i]) && srv_has_slot(w, &be->servers[i]))
			return true;
	return false;
}

static void server_release(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	struct sl_server *srv = s->srv;
	struct sl_session *head;

	if (!s->srv_held)
		return;
	s->srv_held = false;
	w->srv_active[srv_gidx(w, srv)]--;
	sl_pool_busy_dec(w);
	atomic_fetch_sub(&srv->sessions, 1);
	/* the oldest waiting session tries again after this batch */
	if ((head = w->q_head[srv->be - w->px->backends]))
		run_later(head);
}

/* A queued session's turn (from the run list). */
static void try_dequeue(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	size_t b = (size_t)(s->be - w->px->backends);

	if (s->state != SL_SESS_QUEUED || w->q_head[b] != s ||
	    !backend_has_slot(w, &w->px->backends[b]))
		return;
	dequeue(s);
	sl_session_set_state(s, SL_SESS_CONNECTING);
	s->ops->on_dequeued(s);
	/* it got its slot: the next one in line may get one too */
	if (s->state != SL_SESS_QUEUED && w->q_head[b])
		run_later(w->q_head[b]);
}

int sl_session_pick_server(struct sl_session *s, const struct sl_server *exclude,
			   struct sl_server **out)
{
	struct sl_worker *w = s->w;
	struct sl_backend *be = s->be;
	struct sl_server *srv = sl_backend_pick(be, s->peer.sa.sa_family ? &s->peer : NULL, exclude);
	size_t b = (size_t)(be - w->px->backends);
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
	SL_ST_INC(w->st->be[b].queued);
	sl_session_set_state(s, SL_SESS_QUEUED);
	s->queue_ms = w->now_ms;
	s->queue_us = w->now_us;
	s->qprev = w->q_tail[b];
	s->qnext = NULL;
	if (w->q_tail[b])
		w->q_tail[b]->qnext = s;
	else
		w->q_head[b] = s;
	w->q_tail[b] = s;
	sl_session_timer_kick(s);
	return -EAGAIN;
}

static void use_server(struct sl_session *s, struct sl_server *srv)
{
	server_release(s);
	s->srv = srv;
	s->srv_held = true;
	s->w->srv_active[srv_gidx(s->w, srv)]++;
	sl_pool_busy_inc(s->w, srv_gidx(s->w, srv));
	SL_ST_INC(s->w->st->srv[srv_gidx(s->w, srv)].sess_total);
	SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].sess_total);
	atomic_fetch_add(&srv->sessions, 1);
	atomic_fetch_add(&srv->total, 1);
}

int sl_session_connect(struct sl_session *s, struct sl_server *srv)
{
	struct sl_conn *c;
	int rc;

	rc = sl_conn_connect(s->w, &srv->conf->addr, s->be->conf->timeouts.ms[SL_TO_CONNECT],
			     &sess_cb, s, &c);
	if (rc < 0)
		return rc;
	s->c[SL_SIDE_SRV] = c;
	use_server(s, srv);
	s->t_conn_start = s->w->now_ms;
	s->conn_start_us = s->w->now_us;
	s->t_connected = 0;
	s->srv_created_ms = s->w->now_ms;
	sl_session_set_state(s, SL_SESS_CONNECTING);
	return 0;
}

/* The server side has no connection any more: whatever it received and
 * the relay toward the client go with it. */
static void forget_server(struct sl_session *s)
{
	s->c[SL_SIDE_SRV] = NULL;
	s->relay[SL_SIDE_CLI] = 0;
	server_release(s);
}

void sl_session_drop_server(struct sl_session *s)
{
	struct sl_conn *c = s->c[SL_SIDE_SRV];

	if (!c)
		return;
	forget_server(s);
	sl_conn_close(c, false);
}

bool sl_session_take_pooled(struct sl_session *s, struct sl_server *srv,
			    struct sl_pool_meta *meta)
{
	struct sl_conn *c = sl_pool_get(s->w, srv, &s->peer, meta);

	if (!c)
		return false;
	sl_conn_attach(c, &sess_cb, s);
	s->c[SL_SIDE_SRV] = c;
	use_server(s, srv);
	s->acct[SL_SIDE_SRV].last_ms = s->w->now_ms;
	sl_conn_link(s->c[SL_SIDE_CLI], c);
	sl_conn_recv_start(c);
	sl_session_set_state(s, SL_SESS_FORWARD);
	return true;
}

void sl_session_pool_server(struct sl_session *s, const struct sl_pool_meta *meta)
{
	struct sl_conn *c = s->c[SL_SIDE_SRV];
	struct sl_server *srv = s->srv;

	if (!c)
		return;
	forget_server(s);
	sl_conn_link(c, NULL);
	sl_pool_put(s->w, srv, c, meta, &s->peer);
}

/* ---- output ------------------------------------------------------------------ */

char *sl_session_out_reserve(struct sl_session *s, int to, uint32_t n)
{
	struct sl_obuf *o = &s->ob[to];

	if (o->off == o->len)
		o->off = o->len = 0;
	return sl_obuf_grow(o, n) == 0 ? o->p + o->len : NULL;
}

void sl_session_out_commit(struct sl_session *s, int to, uint32_t n)
{
	s->ob[to].len += n;
}

uint32_t sl_session_out_waiting(const struct sl_session *s, int to)
{
	return s->ob[to].len - s->ob[to].off;
}

uint32_t sl_session_out_backlog(const struct sl_session *s, int to)
{
	const struct sl_conn *c = s->c[to];

	return sl_session_out_waiting(s, to) + (c ? c->out.len - c->out.off : 0);
}

bool sl_session_out_pending(const struct sl_session *s, int to)
{
	return sl_session_out_waiting(s, to) || (s->c[to] && sl_conn_out_pending(s->c[to]));
}

void sl_session_out_discard(struct sl_session *s, int to)
{
	s->ob[to].off = s->ob[to].len = 0;
	if (s->c[to])
		sl_conn_out_discard(s->c[to]);
}

void sl_session_out_trim(struct sl_session *s, int to)
{
	if (s->ob[to].off == s->ob[to].len) {
		free(s->ob[to].p);
		memset(&s->ob[to], 0, sizeof(s->ob[to]));
	}
	if (s->c[to])
		sl_conn_out_trim(s->c[to]);
}

void sl_session_pump(struct sl_session *s, int to)
{
	struct sl_conn *c = s->c[to];

	/* output waits here until the connection is open: a failed connect
	 * must not take the request with it */
	if (!c || c->st != SL_CONN_OPEN || sl_session_closing(s))
		return;
	if (s->ob[to].len > s->ob[to].off && !sl_conn_put(c, &s->ob[to]))
		return; /* the kernel reads its buffer: after that send */
	sl_conn_flush(c, s->c[!to], s->raw ? NULL : &s->relay[to]);
}

void sl_session_set_raw(struct sl_session *s)
{
	s->raw = true;
	sl_session_pump(s, SL_SIDE_CLI);
	sl_session_pump(s, SL_SIDE_SRV);
}

void sl_session_set_backend(struct sl_session *s, struct sl_backend *be)
{
	s->be = be;
}

void sl_session_shutdown(struct sl_session *s, int side)
{
	if (s->c[side] && !sl_session_closing(s))
		sl_conn_shutdown(s->c[side]);
}

void sl_session_recv(struct sl_session *s, int side)
{
	if (s->c[side] && !sl_session_closing(s))
		sl_conn_recv_start(s->c[side]);
}

int sl_session_peek(struct sl_session *s, int side, const char **data, uint32_t *len)
{
	return s->c[side] ? sl_conn_peek(s->c[side], data, len) : 0;
}

void sl_session_consume(struct sl_session *s, int side, uint32_t n)
{
	if (s->c[side])
		sl_conn_consume(s->c[side], n);
}

bool sl_session_has_conn(const struct sl_session *s, int side)
{
	return s->c[side] != NULL;
}

bool sl_session_rd_eof(const struct sl_session *s, int side)
{
	return s->c[side] && s->c[side]->rd_eof;
}

bool sl_session_tx_busy(const struct sl_session *s, int side)
{
	return s->c[side] && s->c[side]->tx_busy;
}

bool sl_session_secure(const struct sl_session *s)
{
	return s->c[SL_SIDE_CLI] && sl_conn_secure(s->c[SL_SIDE_CLI]);
}

/* ---- timer ------------------------------------------------------------------ */

/* The handshake timeout of the session's frontend (the PROXY header's and
 * the transport's, from accept): timeout_http_request on http frontends,
 * timeout_client on tcp ones. */
static enum sl_timeout_kind handshake_timeout(const struct sl_session *s)
{
	return s->fe->mode == SL_FE_MODE_HTTP ? SL_TO_HTTP_REQUEST : SL_TO_CLIENT;
}

/* The protocol's deadline, or the queue's when that comes first. */
static uint64_t deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	uint64_t at, q;

	if (s->state == SL_SESS_PROXY_HDR || s->state == SL_SESS_HANDSHAKE) {
		/* the PROXY header and the handshake, from accept, are bounded */
		*kind = handshake_timeout(s);
		return s->start_ms + s->fe->timeouts.ms[*kind];
	}
	at = s->ops->deadline(s, kind);
	if (s->state == SL_SESS_QUEUED) {
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

/* The entry in the worker's heap never waits longer than the horizon, even
 * when the deadline is further away. A deadline that moves earlier
 * (keep-alive idle -> awaiting a response) then almost never finds the
 * entry too late, so it is not moved on every request: it comes due early
 * now and then and is queued again instead. (When each session had its own
 * io_uring timeout, one TIMEOUT_REMOVE per request was ~5% of the proxy's
 * CPU in reuse, wrk -c50; a heap move costs far less, no move less still.) */
static void timer_arm(struct sl_session *s, uint64_t at)
{
	uint64_t horizon = s->w->now_ms + timer_horizon(s);

	sl_worker_timer_set(s->w, &s->tq, at > horizon ? horizon : at);
}

void sl_session_timer_kick(struct sl_session *s)
{
	enum sl_timeout_kind kind;
	uint64_t at;

	if (sl_session_closing(s))
		return;
	at = deadline(s, &kind);
	/* A later deadline needs nothing: the entry comes due early and is
	 * queued again. */
	if (!sl_timerq_queued(&s->tq) || at < s->tq.at)
		timer_arm(s, at);
}

/* Count and log a failed handshake, once. */
static void hs_log(struct sl_session *s, enum sl_hs_fail why, const char *detail)
{
	char peer[80];

	if (s->hs_failed)
		return;
	s->hs_failed = true;
	SL_ST_INC(s->w->st->fe[s->fe_idx].hs_fail[why]);
	sl_conf_sockaddr_str(&s->peer, peer, sizeof(peer));
	sl_log_req(s->w, "frontend %s: %s handshake failed (%s) from %s after %llu ms: %s",
		   s->fe->name, s->c[SL_SIDE_CLI] ? s->c[SL_SIDE_CLI]->xprt->name : "-",
		   sl_hs_fail_names[why], peer,
		   (unsigned long long)(s->w->now_ms - s->start_ms), detail);
}

static void hs_fail(struct sl_session *s, enum sl_hs_fail why, const char *detail)
{
	hs_log(s, why, detail);
	sl_session_close(s, why == SL_HS_FAIL_TIMEOUT ? SL_CLOSE_TIMEOUT : SL_CLOSE_CLIENT_ERR);
}

void sl_session_on_timer(struct sl_timerq_ent *e)
{
	struct sl_session *s =
		(struct sl_session *)((char *)e - offsetof(struct sl_session, tq));
	enum sl_timeout_kind kind;
	uint64_t at;
	char why[64];

	if (sl_session_closing(s))
		return; /* cannot happen: a closing session is out of the heap */
	at = deadline(s, &kind);
	if (s->w->now_ms < at) {
		timer_arm(s, at);
		return;
	}
	s->to_kind = (uint8_t)kind;
	SL_ST_INC(s->w->st->fe[s->fe_idx].to[kind]);
	if (s->state == SL_SESS_PROXY_HDR) {
		snprintf(why, sizeof(why), "not complete within %s", sl_conf_timeout_name(kind));
		sl_session_pp_failed(s, SL_PP_FAIL_TIMEOUT, why);
		sl_session_close(s, SL_CLOSE_TIMEOUT);
	} else if (s->state == SL_SESS_HANDSHAKE) {
		snprintf(why, sizeof(why), "not done within %s", sl_conf_timeout_name(kind));
		hs_fail(s, SL_HS_FAIL_TIMEOUT, why);
	} else {
		if (!s->fe->stats)
			SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].to[kind]);
		if (kind == SL_TO_QUEUE)
			sl_session_unqueue(s);
		s->ops->on_timeout(s, kind);
	}
	if (!sl_session_closing(s) && !sl_timerq_queued(&s->tq))
		timer_arm(s, deadline(s, &kind));
	if (!sl_session_closing(s))
		sl_stats_gauge(s);
}

/* ---- lifecycle ------------------------------------------------------------- */

/* Release the slot (from the run list: nothing of the session is on the
 * stack any more, and the kernel holds nothing of it: its connections
 * were given up, its deadline left the heap at the close). */
static void maybe_release(struct sl_session *s)
{
	struct sl_worker *w = s->w;

	if (s->state != SL_SESS_CLOSING)
		return;
	if (!s->stream)
		sl_stats_session_end(s);
	if (s->started && s->ops->on_log)
		s->ops->on_log(s);
	if (s->started && s->ops->on_free)
		s->ops->on_free(s);
	for (int i = 0; i < 2; i++) {
		free(s->ob[i].p);
		s->ob[i].p = NULL;
	}
	sl_session_pp_free(s);
	server_release(s);
	if (s->src_counted)
		sl_limits_source_put(s->fe_idx, &s->peer);
	if (!s->fe->stats && !s->stream)
		atomic_fetch_sub(&w->px->sessions, 1);
	if (s->stream)
		w->nstreams--;
	sl_session_set_state(s, SL_SESS_FREE);
	s->next = w->free;
	w->free = s;
	w->nsessions--;
	if (s->conn_counted)
		sl_worker_conn_closed(w, s->fe_idx);
}

void sl_session_close(struct sl_session *s, enum sl_close_cause cause)
{
	struct sl_conn *c = s->c[SL_SIDE_CLI];
	bool was_idle = s->state == SL_SESS_IDLE;
	enum sl_sess_state from = (enum sl_sess_state)s->state;

	if (sl_session_closing(s))
		return;
	if (from == SL_SESS_QUEUED)
		dequeue(s);
	sl_session_set_state(s, SL_SESS_CLOSING);
	s->cause = (uint8_t)cause;
	if (from == SL_SESS_PROXY_HDR) {
		/* the refused header is the log line (sl_session_pp_failed) */
		if (cause == SL_CLOSE_CLIENT_ERR)
			sl_session_pp_failed(s, SL_PP_FAIL_CLOSED, "connection error");
	} else if (from == SL_SESS_HANDSHAKE) {
		/* the handshake's failure is the log line */
		if (cause == SL_CLOSE_CLIENT_ERR)
			hs_log(s, SL_HS_FAIL_CLOSED, "connection error");
	} else if (cause != SL_CLOSE_NORMAL && cause != SL_CLOSE_RESOURCE &&
		   !(s->stream && cause == SL_CLOSE_CLIENT_ERR)) {
		/* (an h2 stream the client reset: its access log line says so) */
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
	sl_stats_gauge(s); /* out of every state gauge */
	/* an orderly end tells the client (TLS close_notify), never an error,
	 * where it would make a truncated response look whole */
	sl_conn_close(c, s->started && (cause == SL_CLOSE_NORMAL ||
					(cause == SL_CLOSE_TIMEOUT && was_idle)));
	sl_session_drop_server(s);
	s->c[SL_SIDE_CLI] = NULL;
	sl_worker_timer_del(s->w, &s->tq); /* no ring request: O(log n) */
	run_later(s); /* released from the run list, outside every callback */
}

void sl_session_close_all(struct sl_worker *w)
{
	for (uint32_t i = 0; i < w->hwm; i++) {
		struct sl_session *s = &w->sessions[i];

		if (s->state != SL_SESS_FREE && !sl_session_closing(s))
			sl_session_close(s, SL_CLOSE_STOP);
	}
}

void sl_session_stop_notify(struct sl_worker *w)
{
	for (uint32_t i = 0; i < w->hwm; i++) {
		struct sl_session *s = &w->sessions[i];

		if (s->state != SL_SESS_FREE && !sl_session_closing(s) && s->started &&
		    s->ops->on_stop)
			s->ops->on_stop(s);
	}
}

void sl_session_run_deferred(struct sl_worker *w)
{
	struct sl_session *s;

	while ((s = w->run_head)) {
		w->run_head = s->run_next;
		if (!w->run_head)
			w->run_tail = NULL;
		s->run_queued = false;
		if (s->state == SL_SESS_CLOSING)
			maybe_release(s);
		else if (s->state == SL_SESS_QUEUED)
			try_dequeue(s);
		else if (s->started && s->ops->on_run)
			s->ops->on_run(s);
		if (s->state != SL_SESS_FREE && !sl_session_closing(s))
			sl_stats_gauge(s);
	}
}

void sl_session_defer(struct sl_session *s)
{
	if (!sl_session_closing(s))
		run_later(s);
}

void sl_session_set_proto(struct sl_session *s, const struct sl_proto_ops *ops)
{
	if (s->ops->on_free)
		s->ops->on_free(s);
	s->ops = ops;
	ops->start(s);
}

bool sl_session_alpn_h2(const struct sl_session *s)
{
	const struct sl_conn *c = s->c[SL_SIDE_CLI];

	return c && c->xprt->alpn_h2 && c->xprt->alpn_h2(c);
}

/* ---- connection events --------------------------------------------------------- */

static int side_of(const struct sl_session *s, const struct sl_conn *c)
{
	return c == s->c[SL_SIDE_CLI] ? SL_SIDE_CLI : SL_SIDE_SRV;
}

static void after_event(struct sl_session *s)
{
	if (!sl_session_closing(s))
		sl_stats_gauge(s);
}

static void count_bytes(struct sl_session *s, int side, bool in, uint32_t n)
{
	struct sl_wstats *st = s->w->st;
	struct sl_side_acct *a = &s->acct[side];

	a->last_ms = s->w->now_ms;
	if (in)
		a->bytes_in += n;
	else
		a->bytes_out += n;
	if (side == SL_SIDE_CLI) {
		if (s->stream)
			return; /* the h2 connection counts the frontend's bytes */
		if (in)
			SL_ST_ADD(st->fe[s->fe_idx].bytes_in, n);
		else
			SL_ST_ADD(st->fe[s->fe_idx].bytes_out, n);
		return;
	}
	if (in)
		SL_ST_ADD(st->be[s->be - s->w->px->backends].bytes_in, n);
	else
		SL_ST_ADD(st->be[s->be - s->w->px->backends].bytes_out, n);
	if (s->srv_held) {
		struct sl_srv_stats *v = &st->srv[srv_gidx(s->w, s->srv)];

		if (in)
			SL_ST_ADD(v->bytes_in, n);
		else
			SL_ST_ADD(v->bytes_out, n);
	}
}

static void ev_recv_bytes(void *o, struct sl_conn *c, uint32_t n)
{
	struct sl_session *s = o;

	count_bytes(s, side_of(s, c), true, n);
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

static void ev_connect(void *o, struct sl_conn *c, int res)
{
	struct sl_session *s = o;

	(void)c;
	if (res < 0) {
		count_connect_failure(s, res);
	} else {
		s->t_connected = s->w->now_ms;
		s->conn_done_us = s->w->now_us;
		s->acct[SL_SIDE_SRV].last_ms = s->w->now_ms;
		sl_stats_connected(s);
		if (s->srv->conf->send_proxy && sl_session_pp_send(s) < 0) {
			sl_log("backend %s: out of memory for a PROXY header", s->be->conf->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return;
		}
		sl_conn_link(s->c[SL_SIDE_CLI], c);
		sl_conn_recv_start(c);
		sl_session_set_state(s, SL_SESS_FORWARD);
	}
	s->ops->on_connect(s, res);
	after_event(s);
}

static void ev_ready(void *o, struct sl_conn *c)
{
	struct sl_session *s = o;

	SL_ST_INC(s->w->st->fe[s->fe_idx].hs_done);
	if (sl_conn_resumed(c))
		SL_ST_INC(s->w->st->fe[s->fe_idx].hs_resumed);
	sl_stats_handshake_done(s);
	/* the timer measured the handshake; the protocol sets its own now */
	s->acct[SL_SIDE_CLI].last_ms = s->w->now_ms;
	s->started = true;
	s->ops->start(s);
	after_event(s);
}

static void ev_data(void *o, struct sl_conn *c)
{
	struct sl_session *s = o;
	int side = side_of(s, c);

	if (s->state == SL_SESS_PROXY_HDR)
		sl_session_pp_input(s); /* the PROXY header, then all the rest */
	else if (s->raw)
		sl_session_pump(s, !side);
	else
		s->ops->on_data(s, side);
	after_event(s);
}

static void ev_eof(void *o, struct sl_conn *c)
{
	struct sl_session *s = o;

	s->acct[side_of(s, c)].eof = true;
	if (s->state == SL_SESS_PROXY_HDR)
		sl_session_pp_input(s); /* a header cut short, or none at all */
	else
		s->ops->on_eof(s, side_of(s, c));
	after_event(s);
}

static void ev_sent(void *o, struct sl_conn *c, uint32_t n)
{
	struct sl_session *s = o;
	int to = side_of(s, c);

	count_bytes(s, to, false, n);
	sl_session_pump(s, to);
	if (!c->tx_busy && s->started && !sl_session_closing(s) && s->c[to] == c)
		s->ops->on_drained(s, to);
	after_event(s);
}

static void ev_error(void *o, struct sl_conn *c, int res)
{
	struct sl_session *s = o;
	int side = side_of(s, c);

	if (res == -ENOMEM || res == -ENOBUFS) {
		/* the transport ran out of memory (and said so in the log) */
		sl_session_close(s, SL_CLOSE_RESOURCE);
	} else if (!s->started) {
		sl_session_close(s, SL_CLOSE_CLIENT_ERR);
	} else if (!s->ops->on_error || !s->ops->on_error(s, side, res)) {
		sl_session_close(s, side == SL_SIDE_CLI ? SL_CLOSE_CLIENT_ERR :
				 SL_CLOSE_SERVER_ERR);
	}
	after_event(s);
}

static void ev_hs_fail(void *o, struct sl_conn *c, enum sl_hs_fail why, const char *detail)
{
	(void)c;
	hs_fail(o, why, detail);
}

static const struct sl_conn_cb sess_cb = {
	.on_connect = ev_connect,
	.on_ready = ev_ready,
	.on_data = ev_data,
	.on_eof = ev_eof,
	.on_sent = ev_sent,
	.on_error = ev_error,
	.on_hs_fail = ev_hs_fail,
	.on_recv_bytes = ev_recv_bytes,
};

/* ---- start -------------------------------------------------------------------- */

/* What every session starts with: its frontend, default backend, client
 * connection c, the times of its start. */
static void init_client_side(struct sl_session *s, const struct sl_frontend_conf *fe, int fe_idx,
			     struct sl_conn *c)
{
	struct sl_worker *w = s->w;
	struct timespec ts;

	s->fe = fe;
	s->fe_idx = fe_idx;
	s->gauge = SL_GS_NONE;
	s->be = &w->px->backends[fe->backend];
	s->c[SL_SIDE_CLI] = c;
	s->acct[SL_SIDE_CLI].last_ms = w->now_ms;
	s->acct[SL_SIDE_SRV].last_ms = w->now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	s->start_ms = w->now_ms;
	s->start_us = w->now_us;
}

struct sl_session *sl_session_new(struct sl_worker *w, int cfd, const struct sl_listener *l)
{
	struct sl_session *s = slot_alloc(w);
	struct sl_conn *c = s ? sl_conn_new(w, cfd, &sess_cb, s) : NULL;

	if (!c) {
		sl_log_req(w, "frontend %s: session table full (%u), closing new connection",
			   l->fe->name, w->nslots);
		close(cfd);
		SL_ST_ADD(w->st->fds, (uint64_t)-1);
		if (!l->fe->stats)
			atomic_fetch_sub(&w->px->sessions, 1);
		sl_worker_conn_closed(w, l->fe_idx);
		if (s)
			slot_unused(w, s);
		return NULL;
	}
	init_client_side(s, l->fe, l->fe_idx, c);
	SL_ST_INC(w->st->fe[l->fe_idx].sess_total);
	SL_ST_INC(w->st->fe[l->fe_idx].sess_cur);
	s->conn_counted = true;
	{
		socklen_t len = sizeof(s->peer);

		if (getpeername(cfd, &s->peer.sa, &len) < 0)
			s->peer.sa.sa_family = 0;
	}
	s->ops = l->fe->mode == SL_FE_MODE_HTTP ? &sl_http_ops : &sl_tcp_ops;
	s->xb = l->xb;
	if (l->bind && l->bind->accept_proxy) {
		/* the client is who the PROXY header says: begin once it is read */
		sl_session_set_state(s, SL_SESS_PROXY_HDR);
		if (sl_session_pp_wait(s) < 0) {
			sl_log("frontend %s: out of memory for a connection", l->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
		}
	} else {
		sl_session_begin(s);
	}
	if (!sl_session_closing(s))
		sl_stats_gauge(s);
	return s;
}

struct sl_session *sl_session_new_stream(struct sl_session *parent, const struct sl_xprt_ops *x,
					 void *ctx)
{
	struct sl_worker *w = parent->w;
	struct sl_session *s = w->nstreams < w->stream_slots ? slot_alloc(w) : NULL;
	struct sl_conn *c = s ? sl_conn_new_socketless(w, &sess_cb, s, x, ctx) : NULL;

	if (!c) {
		if (s)
			slot_unused(w, s);
		return NULL;
	}
	s->stream = true;
	w->nstreams++;
	init_client_side(s, parent->fe, parent->fe_idx, c);
	s->peer = parent->peer;
	s->ops = &sl_http_ops;
	s->started = true;
	s->ops->start(s);
	if (!sl_session_closing(s))
		sl_stats_gauge(s);
	return s;
}

void sl_session_begin(struct sl_session *s)
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
	if (s->xb && !(s->over_source && fe->mode != SL_FE_MODE_HTTP)) {
		/* the protocol starts once the handshake is done (ev_ready); a
		 * tcp client over its source limit is refused without one */
		sl_session_set_state(s, SL_SESS_HANDSHAKE);
		if (s->xb->attach(s->xb, s->c[SL_SIDE_CLI], &s->peer) < 0) {
			sl_log("frontend %s: out of memory for a connection's transport", fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return;
		}
		sl_conn_recv_start(s->c[SL_SIDE_CLI]);
		sl_session_timer_kick(s);
		return;
	}
	s->started = true;
	s->ops->start(s);
}
