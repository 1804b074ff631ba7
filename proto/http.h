/*
 * HTTP/1.1 mode (proto/ layer): the policy of an http session. Every request
 * of a client keep-alive connection is parsed (proto/http_msg.c), validated,
 * rewritten and sent to a server chosen for that request; in
 * http-server-close mode each request gets its own server connection, closed
 * when the response ends. Bytes move through core/session_io.c.
 */
#ifndef SL_PROTO_HTTP_H
#define SL_PROTO_HTTP_H

#include "core/session-t.h"

extern const struct sl_proto_ops sl_http_ops;

/* Defaults of the frontend's HTTP limits (used when the config says 0). */
#define SL_HTTP_MAX_HEADER_SIZE 16384u
#define SL_HTTP_MAX_HEADERS     100u
/* Limits of server response heads (502 beyond them). */
#define SL_HTTP_RSP_MAX_HEADER_SIZE (64u * 1024)
#define SL_HTTP_RSP_MAX_HEADERS     256u

/* After a response that came before the end of its request's body (a 401
 * or 413 to an upload), at most this many more body bytes are read and
 * discarded to keep the client connection; beyond, it is closed. */
#define SL_HTTP_DRAIN_MAX (16ull * 1024 * 1024)

struct sl_http_parser;

/* Index of the backend for a parsed request head: the first `route` of fe
 * that matches (host: the Host header without port, case-insensitive;
 * path_prefix: the start of the request target's path), else fe->backend. */
int sl_http_route(const struct sl_frontend_conf *fe, const struct sl_http_parser *r);

#endif
