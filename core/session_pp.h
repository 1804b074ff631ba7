/*
 * PROXY protocol on sessions (core/ layer). On a bind with accept_proxy a
 * session starts in state SL_SESS_PROXY_HDR: the client's first bytes
 * are queued as usual but nothing else sees them until proto/proxy.c has
 * parsed a PROXY header out of them. The header's source address becomes
 * s->peer, then the session begins as any other (per-source limit, the
 * transport's handshake or the protocol's start) with the bytes after the
 * header. On
 * servers with send_proxy or send_proxy_v2, a header goes in front of
 * everything sent on each new server connection.
 */
#ifndef SL_CORE_SESSION_PP_H
#define SL_CORE_SESSION_PP_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "core/session-t.h"

/* Why a client's PROXY header was refused (metric label and log). */
enum sl_pp_fail {
	SL_PP_FAIL_INVALID = 0, /* not a PROXY header, malformed, unsupported */
	SL_PP_FAIL_TIMEOUT,     /* not complete within the frontend's timeout */
	SL_PP_FAIL_CLOSED,      /* the client closed or reset before it was complete */
	SL_PP_FAIL_COUNT
};
extern const char *const sl_pp_fail_names[SL_PP_FAIL_COUNT];

/* What an accept_proxy session keeps (allocated at accept, freed with the
 * session): the destination address the header announced. */
struct sl_session_pp {
	union sl_sockaddr dst; /* sa_family 0: none (LOCAL, UNKNOWN) */
};

/* Accept on an accept_proxy bind: wait for the header (recv armed, timer
 * running). Returns 0 or -ENOMEM (the caller closes the session). */
int sl_session_pp_wait(struct sl_session *s);
/* Bytes or the client's FIN arrived in SL_SESS_PROXY_HDR: parse, then begin the
 * session or refuse the connection. */
void sl_session_pp_input(struct sl_session *s);
/* Count and log a refused header (once per session). */
void sl_session_pp_failed(struct sl_session *s, enum sl_pp_fail why, const char *detail);
/* A connect to a server with send_proxy* succeeded: put the header in
 * front of what waits to be sent to it. Returns 0 or -ENOMEM. */
int sl_session_pp_send(struct sl_session *s);
void sl_session_pp_free(struct sl_session *s);

#endif
