/*
 * Connections (core/ layer): the only code that submits a recv, send,
 * connect, shutdown, cancel or close for a client or server socket.
 *
 * Rules:
 * - A connection has one owner at a time (a session, or the pool while it
 *   is idle), which gets events through its callback table and changes
 *   owner with sl_conn_attach(). sl_conn_close() gives it up for good: the
 *   connection cancels what it has in flight, closes the socket and frees
 *   itself after its last completion, whoever owned it.
 * - Buffers: a buffer is released only by the connection that handed it to
 *   the kernel, after its completion. Received buffers wait in c->q; the
 *   owner reads them (sl_conn_peek/consume) or lets them go to the peer
 *   connection as they are (sl_conn_flush with src): they then move to the
 *   sender's txq and are released by the sender when its send completes.
 *   With incremental buffers (recv_buffers = incremental) what a recv
 *   delivers is a slice of a shared buffer, owned the same way; the buffer
 *   goes back with its last slice (ring/slice.c).
 * - Receiving is automatic once the owner asked for it (sl_conn_recv_start):
 *   a multishot recv while the connection holds none of our buffers, one
 *   buffer per recv while it holds some (its queue, its transport's, what
 *   its peer is sending of it), up to a hold limit and only while the pool
 *   keeps a reserve for light sides (core/conn.c, "Fairness").
 * - One send in flight: out first (bytes built in memory), then txq.
 * - The transport (raw or TLS) sits between the socket and c->q / c->out.
 */
#ifndef SL_CORE_CONN_H
#define SL_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "core/conn-t.h"

struct io_uring_cqe;

extern const struct sl_xprt_ops sl_xprt_raw;
/* Metric labels of enum sl_hs_fail. */
extern const char *const sl_hs_fail_names[SL_HS_FAIL_COUNT];

/* Secure transports for ssl binds, implemented by proto/tls.c: the core
 * loads and releases them with each configuration and asks each ssl bind
 * for its struct sl_xprt_bind; it calls nothing else of TLS. */
struct sl_xprt_provider {
	/* load the certificates of every ssl bind of c; errors name file:line */
	int (*load)(const struct sl_config *c, char *err, size_t len);
	/* free what was loaded for c (its last session has ended) */
	void (*release)(const struct sl_config *c);
	/* at exit: everything */
	void (*cleanup)(void);
	/* the transport of an ssl bind's connections (NULL: a plain bind) */
	const struct sl_xprt_bind *(*bind_of)(const struct sl_bind_conf *b);
	/* a thread that ran connections ends */
	void (*thread_exit)(void);
};
extern const struct sl_xprt_provider sl_xprt_ssl;

int sl_conn_table_init(struct sl_worker *w, uint32_t n);
void sl_conn_table_free(struct sl_worker *w);

/* A connection for an accepted (or adopted) socket fd, open, raw, owned by
 * cb/owner. NULL when the table is full (fd is left to the caller). */
struct sl_conn *sl_conn_new(struct sl_worker *w, int fd, const struct sl_conn_cb *cb,
			    void *owner);
/* A connection with no socket: its transport x (with push) carries the
 * bytes to and from another layer (an HTTP/2 stream). Open, owned by
 * cb/owner; NULL when the table is full. */
struct sl_conn *sl_conn_new_socketless(struct sl_worker *w, const struct sl_conn_cb *cb,
				       void *owner, const struct sl_xprt_ops *x, void *ctx);
/* Socketless: the bytes taken by x->push are gone; the owner hears of the
 * send's completion now. Called from outside every callback of the owner. */
void sl_conn_push_done(struct sl_conn *c);
/* Open a socket to a and connect it within timeout_ms; cb->on_connect
 * reports the result. -errno when no socket could be made (nothing left). */
int sl_conn_connect(struct sl_worker *w, const struct sl_addr *a, uint64_t timeout_ms,
		    const struct sl_conn_cb *cb, void *owner, struct sl_conn **out);
/* Change owner (the pool lends and takes back idle connections). */
void sl_conn_attach(struct sl_conn *c, const struct sl_conn_cb *cb, void *owner);
/* Put a transport on c (before any byte moved). */
void sl_conn_set_xprt(struct sl_conn *c, const struct sl_xprt_ops *x, void *ctx);
/* a's received bytes are sent on b and b's on a (NULL: unlink a). */
void sl_conn_link(struct sl_conn *a, struct sl_conn *b);

/* A transport was put on c after bytes arrived (a PROXY header came
 * first): hand what waits in c->q, and the EOF if seen, to it. */
void sl_conn_replay(struct sl_conn *c);
/* Keep a recv armed from now on (see the rules). */
void sl_conn_recv_start(struct sl_conn *c);
/* The handshake of c's transport has completed (raw: always). */
bool sl_conn_ready(const struct sl_conn *c);
bool sl_conn_secure(const struct sl_conn *c);
bool sl_conn_resumed(const struct sl_conn *c);
/* The client certificate behind c: -1 when its bind asks for none (no
 * ca=), 0 when none was presented (verify=optional), 1 when one was
 * presented and verified, *dn (borrowed, while c lives) its subject. */
int sl_conn_client_cert(const struct sl_conn *c, const char **dn);

/* The first unconsumed received bytes (borrowed until consumed); 0 when
 * none. */
int sl_conn_peek(struct sl_conn *c, const char **data, uint32_t *len);
void sl_conn_consume(struct sl_conn *c, uint32_t n);
/* Copy up to cap queued bytes without consuming them. */
uint32_t sl_conn_gather(struct sl_conn *c, char *dst, uint32_t cap);

/* Room for n more bytes at the end of o (doubling from 1 KiB); -ENOMEM. */
int sl_obuf_grow(struct sl_obuf *o, uint32_t n);
/* Append n bytes of ob (consumed) to what c sends, behind what waits. */
bool sl_conn_put(struct sl_conn *c, struct sl_obuf *ob);
/* Prepend n bytes (a PROXY header) to what c sends; nothing may have been
 * sent yet. -ENOMEM. */
int sl_conn_prepend(struct sl_conn *c, const char *p, uint32_t n);
/* Send what waits: out, then (src) buffers of src's queue as they are, at
 * most *relay bytes (counted down; NULL: all of them). Nothing while a
 * send is in flight or the connection is not open. */
void sl_conn_flush(struct sl_conn *c, struct sl_conn *src, uint64_t *relay);
/* Does anything wait to be sent, or is a send in flight? */
bool sl_conn_out_pending(const struct sl_conn *c);
/* Drop what waits to be sent and was not handed to the kernel. */
void sl_conn_out_discard(struct sl_conn *c);
/* Free the out buffer when empty (idle connections keep no memory). */
void sl_conn_out_trim(struct sl_conn *c);
/* shutdown(SHUT_WR) once what waits is sent (TLS: close_notify first). */
void sl_conn_shutdown(struct sl_conn *c);

/* Give c up: cancel, close (orderly: the transport's end of stream first,
 * best effort), free after the last completion. Safe on NULL. */
void sl_conn_close(struct sl_conn *c, bool orderly);
/* Cancel the recv; cb->on_quiet once nothing of c is left in the ring
 * (events before that still reach the owner). */
void sl_conn_quiesce(struct sl_conn *c);
/* After on_quiet: take the socket away (c is freed, the fd is not closed). */
int sl_conn_take_fd(struct sl_conn *c);

/* Route a connection completion (ops SL_OP_RECV .. SL_OP_RECV_CANCEL). */
void sl_conn_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe);
/* Re-arm recvs that ran out of buffers, once enough are free again. */
void sl_conn_feed_starved(struct sl_worker *w);

/* For transports: */
/* room for plaintext at the end of c->q (*room bytes); NULL when no buffer
 * is left. sl_conn_plain_commit() queues n bytes written there. */
char *sl_conn_plain_room(struct sl_conn *c, uint32_t *room);
void sl_conn_plain_commit(struct sl_conn *c, uint32_t n);
void sl_conn_plain_unused(struct sl_conn *c);
/* A private queue of received buffers (ciphertext). */
void sl_conn_q_push(struct sl_conn *c, struct sl_bufq *q, uint16_t bid, uint32_t len);
uint32_t sl_conn_q_read(struct sl_conn *c, struct sl_bufq *q, char *dst, uint32_t n);
void sl_conn_q_clear(struct sl_conn *c, struct sl_bufq *q);
/* The next piece of the owner's output in order (out before txq, ...);
 * false when none. sl_conn_chunk_done() consumes n bytes of it. */
bool sl_conn_next_chunk(struct sl_conn *c, const char **p, uint32_t *n);
void sl_conn_chunk_done(struct sl_conn *c, uint32_t n);
/* Tell the owner. */
void sl_conn_notify_ready(struct sl_conn *c);
void sl_conn_notify_data(struct sl_conn *c);
void sl_conn_notify_eof(struct sl_conn *c);
void sl_conn_notify_error(struct sl_conn *c, int res);
void sl_conn_hs_failed(struct sl_conn *c, enum sl_hs_fail why, const char *detail);
/* Log context of the connection's owner, for transports' own lines. */
uint64_t sl_conn_now_ms(const struct sl_conn *c);

static inline bool sl_conn_has_data(const struct sl_conn *c)
{
	return c->q.count != 0;
}

#endif
