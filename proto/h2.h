/*
 * HTTP/2 toward clients (proto/ layer): the protocol of an h2 connection
 * (proto/h2.c). An http frontend's session switches to it when ALPN chose
 * h2 (ssl binds) or when the client's first bytes are the HTTP/2 preface
 * (plain binds, "prior knowledge"); `h2 = off` turns both off.
 */
#ifndef SL_PROTO_H2_H
#define SL_PROTO_H2_H

#include <stdint.h>

#include "core/session-t.h"

extern const struct sl_proto_ops sl_h2_ops;

/* Do the n bytes at p start the client preface? 1: the whole preface is
 * there, -1: a prefix of it (wait for more), 0: no. */
int sl_h2_preface(const char *p, uint32_t n);

#endif
