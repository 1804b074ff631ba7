/*
 * Sessions (core/ layer): the stream between a client connection and a
 * server connection (core/conn.h). The session picks servers (with the
 * backend queue), borrows pooled server connections and gives them back,
 * runs the inactivity timer, follows its lifecycle (core/session_state.c)
 * and closes at one point. Protocol modules (proto/) decide what to do
 * with data and FINs through struct sl_proto_ops and act only through this
 * API: they never touch a connection.
 */
#ifndef SL_CORE_SESSION_H
#define SL_CORE_SESSION_H

#include "core/conn.h"
#include "core/session-t.h"
#include "core/session_state.h"
#include "core/worker-t.h"

struct sl_pool_meta;
struct sl_listener;

/* Take ownership of accepted fd cfd and start a session for listener l.
 * On failure the fd is closed here and NULL returned. */
struct sl_session *sl_session_new(struct sl_worker *w, int cfd, const struct sl_listener *l);

/* Route one session completion (ops SL_OP_TIMER, SL_OP_TIMER_CTL). */
void sl_session_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe);

/* Run what completions deferred (queue wakeups, releases): the worker
 * calls it after each completion batch. */
void sl_session_run_deferred(struct sl_worker *w);

/* Start teardown: both connections are given up, the slot is released
 * once the timer is gone. Idempotent. */
void sl_session_close(struct sl_session *s, enum sl_close_cause cause);

/* The lifecycle: every change of s->state goes through here. */
void sl_session_set_state(struct sl_session *s, enum sl_sess_state st);
static inline bool sl_session_closing(const struct sl_session *s)
{
	return s->state == SL_SESS_CLOSING;
}

/* From now on every byte received on one side goes to the other as it is
 * (tcp mode, an http tunnel after 101); what waits is pumped both ways. */
void sl_session_set_raw(struct sl_session *s);
/* The backend the current request goes to (http routing). */
void sl_session_set_backend(struct sl_session *s, struct sl_backend *be);
/* Receive on side from now on (no-op without a connection there). */
void sl_session_recv(struct sl_session *s, int side);
/* Send what waits toward side `to`: protocol output first, then bytes of
 * the other side's queue (all of them when s->raw, else s->relay[to]). */
void sl_session_pump(struct sl_session *s, int to);
/* shutdown(SHUT_WR) toward side, once, after what waits. */
void sl_session_shutdown(struct sl_session *s, int side);
/* Re-evaluate the inactivity deadline after a state change shortened it. */
void sl_session_timer_kick(struct sl_session *s);
/* Open a server connection to srv, guarded by timeout_connect (the
 * protocol's on_connect reports it). Returns 0 or -errno. */
int sl_session_connect(struct sl_session *s, struct sl_server *srv);
/* Give the server connection up (closed), keeping the session. */
void sl_session_drop_server(struct sl_session *s);

/* Room for n more bytes at the end of the protocol output toward `to`
 * (grown as needed); NULL when out of memory. sl_session_out_commit()
 * makes n bytes written there sendable. */
char *sl_session_out_reserve(struct sl_session *s, int to, uint32_t n);
void sl_session_out_commit(struct sl_session *s, int to, uint32_t n);
/* Bytes of protocol output waiting toward `to` (not yet given to the
 * connection), and its buffer's capacity. */
uint32_t sl_session_out_waiting(const struct sl_session *s, int to);
/* Bytes of protocol output toward `to` not yet sent: waiting here and in
 * the connection's buffer (the staging bound of a copied body). */
uint32_t sl_session_out_backlog(const struct sl_session *s, int to);
/* Anything left to send toward `to`, or a send in flight? */
bool sl_session_out_pending(const struct sl_session *s, int to);
/* Drop what waits toward `to` and was not handed to the kernel. */
void sl_session_out_discard(struct sl_session *s, int to);
/* Free the output memory of an idle side. */
void sl_session_out_trim(struct sl_session *s, int to);

/* The first unconsumed bytes received from side (borrowed until consumed).
 * Returns 0 when nothing is queued. */
int sl_session_peek(struct sl_session *s, int side, const char **data, uint32_t *len);
/* Mark n bytes of the queue head as used. */
void sl_session_consume(struct sl_session *s, int side, uint32_t n);

/* Facts about a side's connection (false when there is none). */
bool sl_session_has_conn(const struct sl_session *s, int side);
bool sl_session_rd_eof(const struct sl_session *s, int side);
bool sl_session_tx_busy(const struct sl_session *s, int side);
bool sl_session_secure(const struct sl_session *s);
static inline int sl_session_queued(const struct sl_session *s, int side)
{
	return s->c[side] && s->c[side]->q.count != 0;
}

/* Choose a server for this session with a free slot (server maxconn,
 * divided between workers). Returns 0 with *out, -ENOENT when no server is
 * usable, or -EAGAIN when all are full: the session then waits in its
 * backend's queue until ops->on_dequeued or timeout_queue (SL_TO_QUEUE). */
int sl_session_pick_server(struct sl_session *s, const struct sl_server *exclude,
			   struct sl_server **out);
/* Leave the backend queue (the request was answered otherwise). */
void sl_session_unqueue(struct sl_session *s);

/* Borrow an idle pooled connection to srv as the server side: false when
 * the pool has none (meta is filled otherwise). */
bool sl_session_take_pooled(struct sl_session *s, struct sl_server *srv,
			    struct sl_pool_meta *meta);
/* Give the server connection to the pool (which closes it if it cannot keep
 * it); the session has no server side afterwards. */
void sl_session_pool_server(struct sl_session *s, const struct sl_pool_meta *meta);

/* HTTP/2 (proto/h2.c): */
/* A session for one stream of parent (an h2 connection): its client side is
 * a socketless connection with transport x (ctx), its protocol http. It
 * does not count as a client connection. NULL when the tables are full. */
struct sl_session *sl_session_new_stream(struct sl_session *parent, const struct sl_xprt_ops *x,
					 void *ctx);
/* Run ops->on_run from the worker's run list (after this batch). */
void sl_session_defer(struct sl_session *s);
/* Switch the protocol (http -> h2): the old one's state is freed, the new
 * one starts; bytes already received wait in the client connection. */
void sl_session_set_proto(struct sl_session *s, const struct sl_proto_ops *ops);
/* Did the client pick h2 by ALPN? */
bool sl_session_alpn_h2(const struct sl_session *s);

/* The worker stops or retires: tell every session's protocol (on_stop). */
void sl_session_stop_notify(struct sl_worker *w);
/* Close every session of the worker (grace period over). */
void sl_session_close_all(struct sl_worker *w);

/* core/session.c, for core/session_pp.c: the client is known (accepted, or
 * its PROXY header read): count it per source, then start the transport's
 * handshake (ssl binds) or the protocol. */
void sl_session_begin(struct sl_session *s);

#endif
