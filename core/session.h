/*
 * Sessions (core/ layer): allocation in the worker's slot table, the byte
 * pump between the two sides (multishot recv into provided buffers, one send
 * in flight per direction), the inactivity timer and teardown. Protocol
 * modules (proto/) decide what to do with data and FINs; core/session.c and
 * core/session_io.c do the io_uring mechanics and enforce the ownership
 * rules of DESIGN.md.
 */
#ifndef SL_CORE_SESSION_H
#define SL_CORE_SESSION_H

#include "core/session-t.h"

struct sl_pool_meta;

/* Take ownership of accepted fd cfd and start a session for listener l.
 * On failure the fd is closed here and NULL returned. */
struct sl_session *sl_session_new(struct sl_worker *w, int cfd, const struct sl_listener *l);

/* Route one session completion (ops SL_OP_RECV .. SL_OP_RECV_CANCEL). */
void sl_session_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe);

/* Start teardown: cancel, then close both sockets; the slot is released
 * after the last completion. Idempotent. */
void sl_session_close(struct sl_session *s, enum sl_close_cause cause);

/* Arm the multishot recv of a side (no-op if armed, at EOF or closing). */
void sl_session_arm_recv(struct sl_session *s, int side);
/* Send the next queued buffer toward side `to` if none is in flight. */
void sl_session_pump(struct sl_session *s, int to);
/* shutdown(SHUT_WR) toward side, once. */
void sl_session_shutdown(struct sl_session *s, int side);
/* Re-evaluate the inactivity deadline after a state change shortened it. */
void sl_session_timer_kick(struct sl_session *s);
/* Open a socket to srv and connect it, guarded by timeout_connect.
 * Returns 0 or -errno (no socket left open on failure). */
int sl_session_connect(struct sl_session *s, struct sl_server *srv);

/* Close the server socket after a failed connect, keeping the session. */
void sl_session_drop_server(struct sl_session *s);

/* Room for n more bytes at the end of the out buffer toward side `to`
 * (grown as needed); NULL when out of memory or while the kernel reads the
 * buffer. sl_session_out_commit() makes n bytes written there sendable. */
char *sl_session_out_reserve(struct sl_session *s, int to, uint32_t n);
void sl_session_out_commit(struct sl_session *s, int to, uint32_t n);
static inline bool sl_session_out_pending(const struct sl_session *s, int to)
{
	return s->side[to].out_off < s->side[to].out_len || s->side[to].tx_busy;
}

/* The first unconsumed bytes received from side (borrowed until consumed).
 * Returns 0 when nothing is queued. */
int sl_session_peek(struct sl_session *s, int side, const char **data, uint32_t *len);
/* Mark n bytes of the queue head as used; the buffer goes back to the pool
 * when fully used. */
void sl_session_consume(struct sl_session *s, int side, uint32_t n);

/* TLS client connections (proto/tls.c): copy up to n bytes of received
 * ciphertext to dst, releasing the buffers read; returns the count. */
uint32_t sl_session_cin_read(struct sl_session *s, char *dst, uint32_t n);
/* Room for plaintext at the end of the client queue (*room bytes, at least
 * one); NULL when no plaintext buffer is left. sl_session_plain_commit()
 * queues n bytes written there. */
char *sl_session_plain_room(struct sl_session *s, uint32_t *room);
void sl_session_plain_commit(struct sl_session *s, uint32_t n);
/* Give back a plaintext buffer taken for a read that produced nothing (a
 * connection waiting for its next record holds none). */
void sl_session_plain_unused(struct sl_session *s);

/* Choose a server for this session with a free slot (server maxconn,
 * divided between workers). Returns 0 with *out, -ENOENT when no server is
 * usable, or -EAGAIN when all are full: the session then waits in its
 * backend's queue until ops->on_dequeued or timeout_queue (SL_TO_QUEUE). */
int sl_session_pick_server(struct sl_session *s, const struct sl_server *exclude,
			   struct sl_server **out);

/* Leave the backend queue (the request was answered otherwise). */
void sl_session_unqueue(struct sl_session *s);

/* Use an idle pooled connection to srv as the server side: returns false
 * when the pool has none (meta is filled otherwise). */
bool sl_session_take_pooled(struct sl_session *s, struct sl_server *srv,
			    struct sl_pool_meta *meta);
/* Give the server connection to the pool (which closes it if it cannot keep
 * it); the session has no server side afterwards. */
void sl_session_pool_server(struct sl_session *s, const struct sl_pool_meta *meta);
/* A completion of the recv of the pooled connection s uses (core/pool.c,
 * which counts that recv in flight, not the session). */
void sl_session_on_pool_recv(struct sl_session *s, const struct io_uring_cqe *cqe);

/* Re-arm recvs that ran out of buffers, once enough are free again. */
void sl_session_feed_starved(struct sl_worker *w);

/* Close every session of the worker (grace period over). */
void sl_session_close_all(struct sl_worker *w);

static inline int sl_session_queued(const struct sl_session *s, int side)
{
	return s->side[side].q.count != 0;
}

#endif
