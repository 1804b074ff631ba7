/*
 * libFuzzer target: the PROXY protocol header parser and encoder
 * (proto/proxy.c, bind option accept_proxy, server options send_proxy*).
 * Input byte 0 seeds the split points; the rest is the start of a client
 * connection. Properties:
 *  - the result never depends on how the bytes arrive: fed as a growing
 *    prefix, the parser says "need more" until the prefix holds the whole
 *    header, then the same length and addresses as fed whole; a refusal
 *    comes at the same byte or earlier, never after "need more" on the
 *    whole input;
 *  - a header's length is within the input and within the spec's bounds;
 *  - an accepted address re-encodes (v1 and v2) to a header that parses
 *    back to the same addresses and ports, and exactly to its own length.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proxy.h"
#include "tests/fuzz/fuzz_util.h"

static bool same_addr(const union sl_sockaddr *a, const union sl_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
	return true;
}

/* The encoder writes a mixed pair as IPv6 and mapped IPv6 as IPv4: compare
 * what it promises (same IP, same port). */
static uint16_t port_of(const union sl_sockaddr *a)
{
	return a->sa.sa_family == AF_INET ? a->in4.sin_port : a->in6.sin6_port;
}

static void check_roundtrip(const struct sl_proxy_hdr *h)
{
	for (int v = 1; v <= 2; v++) {
		char out[SL_PROXY_ENC_MAX];
		struct sl_proxy_hdr back;
		int n = sl_proxy_encode(v, &h->src, &h->dst, out, sizeof(out));

		FZ_CHECK(n > 0 && (size_t)n <= sizeof(out), "encode v%d gave %d", v, n);
		FZ_CHECK(sl_proxy_parse(out, (size_t)n, &back) == n,
			 "our own v%d header does not parse to its length", v);
		FZ_CHECK(!back.local && back.version == v, "v%d header came back local", v);
		FZ_CHECK(sl_proxy_same_ip(&back.src, &h->src) && sl_proxy_same_ip(&back.dst, &h->dst),
			 "v%d addresses changed in a round trip", v);
		FZ_CHECK(port_of(&back.src) == port_of(&h->src) &&
			 port_of(&back.dst) == port_of(&h->dst), "v%d ports changed", v);
		if (back.src.sa.sa_family == h->src.sa.sa_family &&
		    back.dst.sa.sa_family == h->dst.sa.sa_family)
			FZ_CHECK(same_addr(&back.src, &h->src) && same_addr(&back.dst, &h->dst),
				 "v%d same families, different addresses", v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_proxy_hdr whole, part;
	uint32_t seed;
	size_t off = 0;
	int r, rp = 0;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	memset(&whole, 0, sizeof(whole));
	r = sl_proxy_parse(data, size, &whole);
	FZ_CHECK(r == 0 || r == -EINVAL || r == -EPROTONOSUPPORT || r > 0, "result %d", r);
	if (r > 0) {
		FZ_CHECK((size_t)r <= size && (size_t)r <= SL_PROXY_HDR_MAX, "length %d of %zu", r, size);
		FZ_CHECK(whole.version == 1 ? (size_t)r <= SL_PROXY_V1_MAX : whole.version == 2,
			 "version %d, length %d", whole.version, r);
		if (!whole.local)
			check_roundtrip(&whole);
	}
	/* as it would arrive: growing prefixes */
	while (off < size) {
		off += 1 + fz_next(&seed) % 32;
		if (off > size)
			off = size;
		memset(&part, 0, sizeof(part));
		rp = sl_proxy_parse(data, off, &part);
		if (rp != 0)
			break;
	}
	if (r == 0) {
		FZ_CHECK(rp == 0, "a prefix gave %d where the whole needs more", rp);
	} else if (r > 0) {
		FZ_CHECK(rp == r, "in pieces %d, whole %d", rp, r);
		FZ_CHECK(part.version == whole.version && part.local == whole.local &&
			 (whole.local || (same_addr(&part.src, &whole.src) &&
					  same_addr(&part.dst, &whole.dst))),
			 "in pieces, different addresses");
	} else {
		FZ_CHECK(rp == r, "in pieces %d, whole %d", rp, r);
	}
	return 0;
}
