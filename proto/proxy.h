/*
 * PROXY protocol, versions 1 and 2 (proto/ layer): parsing the header an L4
 * load balancer puts in front of a client connection (bind option
 * accept_proxy) and building the one sluice puts in front of a server
 * connection (server options send_proxy, send_proxy_v2). Pure functions on
 * byte buffers: no I/O, no allocation, no session state. core/session_pp.c
 * feeds it the client's first bytes and applies the result.
 *
 * Not to be confused with core/proxy.h (the process): "proxy" here is the
 * protocol's name.
 */
#ifndef SL_PROTO_PROXY_H
#define SL_PROTO_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

/* v1: "PROXY ... \r\n", at most 107 bytes with the CRLF (the spec's bound). */
#define SL_PROXY_V1_MAX 107u
/* v2: a 16-byte fixed part and up to this many bytes of addresses and TLVs.
 * The spec allows 65535; real load balancers send well under 1 KiB (AWS and
 * GCP TLVs included), and the header must be buffered whole before anything
 * else of the connection is read, so sluice refuses longer ones. */
#define SL_PROXY_V2_BODY_MAX 2048u
#define SL_PROXY_HDR_MAX (16u + SL_PROXY_V2_BODY_MAX)
/* Room sl_proxy_encode() needs at most (v2 TCP6: 16 + 36). */
#define SL_PROXY_ENC_MAX 108u

struct sl_proxy_hdr {
	uint8_t version;     /* 1 or 2 */
	/* no addresses to take: v1 UNKNOWN, v2 LOCAL, v2 PROXY with family
	 * UNSPEC. The connection keeps its real peer address. */
	bool local;
	union sl_sockaddr src, dst; /* valid unless local */
};

/* Parse a PROXY header at the start of buf (len bytes, borrowed).
 * Returns the header's length (> 0) with *h filled; 0 when buf is a valid
 * start of a header that needs more bytes; -EINVAL when buf cannot start a
 * valid header (not PROXY at all, malformed, bad addresses or ports, a v2
 * header longer than SL_PROXY_HDR_MAX); -EPROTONOSUPPORT for a well-formed v2
 * header that is not TCP over IPv4 or IPv6 (UNIX sockets, datagrams). */
int sl_proxy_parse(const void *buf, size_t len, struct sl_proxy_hdr *h);

/* Write a header of version 1 or 2 announcing a connection from src to dst
 * into out (cap bytes, SL_PROXY_ENC_MAX is always enough). IPv4-mapped IPv6
 * addresses are written as IPv4; when one side is IPv4 and the other IPv6,
 * both are written as IPv6. A src of family 0 (unknown) gives "PROXY
 * UNKNOWN" (v1) or a PROXY command with family UNSPEC (v2). Returns the
 * length or -ENOSPC. */
int sl_proxy_encode(int version, const union sl_sockaddr *src, const union sl_sockaddr *dst,
		    char *out, size_t cap);

/* Same IP address (ports ignored; IPv4-mapped IPv6 equals its IPv4). */
bool sl_proxy_same_ip(const union sl_sockaddr *a, const union sl_sockaddr *b);

#endif
