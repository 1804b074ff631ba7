/*
 * tcp mode (proto/ layer): the policy of an L4 session. core/session_io.c
 * moves the bytes; this module picks the server, handles connect failures
 * with one retry elsewhere, propagates FINs and tells which timeout guards
 * the session in its current state.
 */
#ifndef SL_PROTO_TCP_H
#define SL_PROTO_TCP_H

#include "core/session-t.h"

extern const struct sl_proto_ops sl_tcp_ops;

/* A client was accepted: start reading it and connect to a server. */
void sl_tcp_start(struct sl_session *s);
/* The connect finished with res (0 or -errno; -ECANCELED: timeout_connect). */
void sl_tcp_on_connect(struct sl_session *s, int res);
/* side sent FIN. */
void sl_tcp_on_eof(struct sl_session *s, int side);
/* Nothing is queued or in flight toward side `to` any more. */
void sl_tcp_on_drained(struct sl_session *s, int to);
/* Absolute deadline (ms) of the session in its current state, and which
 * timeout it is. Deadlines are inactivity-based: see README "tcp mode". */
uint64_t sl_tcp_deadline(const struct sl_session *s, enum sl_timeout_kind *kind);
/* The same for an upgraded http connection (a tunnel after a 101): the FIN
 * timeouts as above, else timeout_tunnel after the last activity on either
 * side, in place of timeout_client and timeout_server. */
uint64_t sl_tcp_tunnel_deadline(const struct sl_session *s, enum sl_timeout_kind *kind);

#endif
