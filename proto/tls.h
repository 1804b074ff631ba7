/*
 * TLS termination (proto/ layer) with wolfSSL. wolfSSL never touches a
 * socket here: its I/O callbacks read ciphertext the core queued from the
 * client's multishot recv (struct sl_tls_conn.cin) and append what it writes
 * to a buffer the core sends (cout). Plaintext goes into the client side's
 * queue, where http and tcp find it as if it had come from the socket.
 *
 * Contexts are built once at start-up, one per certificate, and shared by
 * every worker; SNI picks the context during the handshake.
 */
#ifndef SL_PROTO_TLS_H
#define SL_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

struct sl_session;
struct sl_tls_bind;

/* Why a handshake failed (metric label and log). */
enum sl_tls_fail {
	SL_TLS_FAIL_PROTOCOL = 0, /* garbage, plain text, bad or refused hello */
	SL_TLS_FAIL_TIMEOUT,      /* not done within the handshake timeout */
	SL_TLS_FAIL_CLOSED,       /* the client closed or reset mid-handshake */
	SL_TLS_FAIL_COUNT
};
extern const char *const sl_tls_fail_names[SL_TLS_FAIL_COUNT];

/* Load the certificates of every ssl bind of c and build their contexts.
 * Errors name the bind's file:line. Returns 0 or -errno. Called once per
 * configuration before its workers start (a reload loads the new file's
 * next to the old one's); sl_tls_free() undoes every one. */
int sl_tls_init(const struct sl_config *c, char *err, size_t len);
/* Free the certificates loaded for c (a configuration replaced by a reload,
 * once its last session has ended). */
void sl_tls_release(const struct sl_config *c);
void sl_tls_free(void);
/* The TLS setup of an ssl bind (NULL for a plain one). */
struct sl_tls_bind *sl_tls_bind_of(const struct sl_bind_conf *b);
/* A worker thread ends: free what wolfSSL cached for it (the ECC
 * fixed-point cache of this build is per thread). */
void sl_tls_thread_exit(void);

/* Session hooks, called by core/session.c and core/session_io.c for
 * sessions with s->tls. */
/* Create the connection state; -ENOMEM on failure (nothing to undo). */
int sl_tls_session_new(struct sl_session *s, struct sl_tls_bind *tb);
void sl_tls_session_free(struct sl_session *s);
/* Ciphertext was queued in cin, or the client sent FIN: advance the
 * handshake, decrypt into the client queue, hand plaintext to the protocol.
 * May close the session. */
void sl_tls_input(struct sl_session *s);
/* Encrypt n plaintext bytes into cout. false on a wolfSSL failure. */
bool sl_tls_encrypt(struct sl_session *s, const char *p, uint32_t n);
/* Append a close_notify alert to cout (once). */
void sl_tls_close_notify(struct sl_session *s);
/* The handshake did not complete: count and log it (once per session). */
void sl_tls_handshake_failed(struct sl_session *s, enum sl_tls_fail why, const char *detail);
/* Handshake timeout of the session's frontend: timeout_http_request on http
 * frontends, timeout_client on tcp ones. */
enum sl_timeout_kind sl_tls_handshake_timeout(const struct sl_session *s);

#endif
