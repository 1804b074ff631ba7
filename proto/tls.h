/*
 * TLS termination (proto/ layer) with wolfSSL: a transport of the
 * connection layer (core/conn.h). wolfSSL never touches a socket here: its
 * I/O callbacks read ciphertext the connection received and append what it
 * writes to a buffer the connection sends. Plaintext goes into the
 * connection's queue, where http and tcp find it as if it had come from the
 * socket. Nothing here knows sessions.
 *
 * Contexts are built once per configuration, one per certificate, and
 * shared by every worker; SNI picks the context during the handshake.
 */
#ifndef SL_PROTO_TLS_H
#define SL_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

struct sl_xprt_bind;

/* Load the certificates of every ssl bind of c and build their contexts.
 * Errors name the bind's file:line. Returns 0 or -errno. Called once per
 * configuration before its workers start (a reload loads the new file's
 * next to the old one's); sl_tls_free() undoes every one. */
int sl_tls_init(const struct sl_config *c, char *err, size_t len);
/* Free the certificates loaded for c (a configuration replaced by a reload,
 * once its last session has ended). */
void sl_tls_release(const struct sl_config *c);
void sl_tls_free(void);
/* The transport of an ssl bind's connections (NULL for a plain bind). */
const struct sl_xprt_bind *sl_tls_xprt_of(const struct sl_bind_conf *b);
/* A worker thread ends: free what wolfSSL cached for it (the ECC
 * fixed-point cache of this build is per thread). */
void sl_tls_thread_exit(void);

#endif
