/*
 * Helpers shared by the libFuzzer targets (tests/ layer, tests/fuzz/): a
 * property check that aborts with a message (libFuzzer then saves the input
 * as a crash), a small deterministic generator for split points, and the
 * feeding of a head or a body to a parser in pieces. Each target checks
 * properties, not only the absence of crashes: feeding in pieces gives the
 * same result as feeding whole, what is forwarded re-parses to the same
 * message, one framing only, the routing path is the forwarded path.
 */
#ifndef SL_TESTS_FUZZ_UTIL_H
#define SL_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_msg.h"

#define FZ_CHECK(cond, ...)                                                          \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "property failed at %s:%d: %s: ", __FILE__,  \
				__LINE__, #cond);                                    \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* xorshift32: piece sizes from one seed byte, the same on every run */
static inline uint32_t fz_next(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Feeds d[0..n) as a head, whole (seed 0) or in pieces of 1 to 64 bytes.
 * MORE must eat every byte it was given. */
static inline enum sl_http_res fz_feed_head(struct sl_http_parser *p, const char *d, size_t n,
					    uint32_t seed, uint32_t *used)
{
	enum sl_http_res r = SL_HTTP_MORE;
	size_t off = 0;
	uint32_t u;

	*used = 0;
	if (!seed)
		return sl_http_feed_head(p, d, (uint32_t)n, used);
	while (off < n && r == SL_HTTP_MORE) {
		uint32_t piece = 1 + fz_next(&seed) % 64;

		if (piece > n - off)
			piece = (uint32_t)(n - off);
		r = sl_http_feed_head(p, d + off, piece, &u);
		FZ_CHECK(r != SL_HTTP_MORE || u == piece, "MORE ate %u of %u bytes", u, piece);
		off += u;
		*used += u;
	}
	return r;
}

/* Feeds d[0..n) as body bytes, whole (seed 0) or in pieces; a final empty
 * feed lets a message complete without more bytes. */
static inline enum sl_http_res fz_feed_body(struct sl_http_parser *p, const char *d, size_t n,
					    uint32_t seed, uint32_t *used)
{
	enum sl_http_res r = SL_HTTP_MORE;
	size_t off = 0;
	uint32_t u;

	*used = 0;
	while (off < n && r == SL_HTTP_MORE) {
		uint32_t piece = seed ? 1 + fz_next(&seed) % 64 : (uint32_t)(n - off);

		if (piece > n - off)
			piece = (uint32_t)(n - off);
		r = sl_http_feed_body(p, d + off, piece, &u);
		FZ_CHECK(r != SL_HTTP_MORE || u == piece, "body MORE ate %u of %u bytes", u, piece);
		off += u;
		*used += u;
	}
	if (r == SL_HTTP_MORE) {
		r = sl_http_feed_body(p, "", 0, &u);
		*used += u;
	}
	return r;
}

/* The value of the first header named name, or NULL. */
static inline const char *fz_header(const struct sl_http_parser *p, const char *name,
				    uint32_t *len)
{
	int i = sl_http_find(p, name, 0);

	if (i < 0)
		return NULL;
	*len = p->hdrs[i].val_len;
	return p->buf + p->hdrs[i].val_off;
}

static inline int fz_count(const struct sl_http_parser *p, const char *name)
{
	int n = 0;

	for (int i = sl_http_find(p, name, 0); i >= 0; i = sl_http_find(p, name, i + 1))
		n++;
	return n;
}

#endif
