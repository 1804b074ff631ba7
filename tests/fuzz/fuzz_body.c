/*
 * libFuzzer target: body framing (proto/http_msg.c: llhttp plus our own
 * strict chunked check). Input byte 0 picks the framing (0: Content-Length
 * request, 1: chunked request, 2: chunked response, 3: close-delimited
 * response), bytes 1-2 a Content-Length (0-65535), byte 3 seeds the split
 * points; the rest is the body stream. Properties:
 *  - fed in pieces, the body ends (or fails) where it does fed whole;
 *  - a Content-Length body ends exactly after that many bytes, and only
 *    when they are all there;
 *  - a chunked body without extensions, blanks or trailers ends exactly
 *    where a plain reference decoder (hex size CRLF data CRLF ... 0 CRLF
 *    CRLF) says, and fails where it fails;
 *  - a close-delimited body never ends before the close, and always then.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/http_msg.h"
#include "tests/fuzz/fuzz_util.h"

enum { REF_MORE, REF_DONE, REF_BAD, REF_SKIP };

/* Reference chunked decoder: REF_DONE with *end, REF_MORE (needs more),
 * REF_BAD (invalid), REF_SKIP (extensions, blanks or trailers: not
 * compared). */
static int ref_chunked(const char *d, size_t n, size_t *end)
{
	size_t i = 0;

	for (;;) {
		uint64_t size = 0;
		size_t digits = 0;

		while (i < n) {
			char c = d[i];
			int v = c >= '0' && c <= '9' ? c - '0' :
				(c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;

			if (v < 0)
				break;
			if (++digits > 15)
				return REF_BAD;
			size = size * 16 + (uint64_t)v;
			i++;
		}
		if (i >= n)
			return REF_MORE;
		if (d[i] == ';' || d[i] == ' ' || d[i] == '\t')
			return REF_SKIP;
		if (!digits || d[i] != '\r')
			return REF_BAD;
		if (++i >= n)
			return REF_MORE;
		if (d[i++] != '\n')
			return REF_BAD;
		if (size == 0) {
			if (i >= n)
				return REF_MORE;
			if (d[i] != '\r')
				return REF_SKIP; /* a trailer field */
			if (++i >= n)
				return REF_MORE;
			if (d[i++] != '\n')
				return REF_BAD;
			*end = i;
			return REF_DONE;
		}
		if (n - i < size)
			return REF_MORE;
		i += size;
		if (i >= n)
			return REF_MORE;
		if (d[i++] != '\r')
			return REF_BAD;
		if (i >= n)
			return REF_MORE;
		if (d[i++] != '\n')
			return REF_BAD;
	}
}

static void start(struct sl_http_parser *p, int kind, unsigned cl)
{
	char head[128];
	uint32_t used;
	int len;

	if (kind == 0)
		len = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: a\r\n"
			       "Content-Length: %u\r\n\r\n", cl);
	else if (kind == 1)
		len = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: a\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n");
	else if (kind == 2)
		len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n");
	else
		len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n\r\n");
	sl_http_parser_init(p, kind >= 2, 4096, 32);
	FZ_CHECK(sl_http_feed_head(p, head, (uint32_t)len, &used) == SL_HTTP_HEAD_DONE &&
		 used == (uint32_t)len, "head refused");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_http_parser p, s;
	const char *d = (const char *)data + 4;
	enum sl_http_res r, rs;
	uint32_t used, used_s;
	unsigned cl;
	size_t n, end = 0;
	int kind, ref;

	if (size < 4)
		return 0;
	kind = data[0] % 4;
	cl = (unsigned)data[1] << 8 | data[2];
	n = size - 4;
	start(&p, kind, cl);
	start(&s, kind, cl);
	r = fz_feed_body(&p, d, n, 0, &used);
	rs = fz_feed_body(&s, d, n, data[3] + 1u, &used_s);
	FZ_CHECK(r == rs, "whole %d, in pieces %d", r, rs);
	FZ_CHECK(r != SL_HTTP_MSG_DONE || used == used_s, "ended after %u whole, %u in pieces",
		 used, used_s);
	switch (kind) {
	case 0:
		FZ_CHECK(r == (n >= cl ? SL_HTTP_MSG_DONE : SL_HTTP_MORE), "%d with %zu of %u bytes",
			 r, n, cl);
		FZ_CHECK(r != SL_HTTP_MSG_DONE || used == cl, "ended after %u of %u", used, cl);
		break;
	case 1:
	case 2:
		ref = ref_chunked(d, n, &end);
		if (ref == REF_DONE)
			FZ_CHECK(r == SL_HTTP_MSG_DONE && used == end,
				 "reference ends at %zu, parser: %d after %u (%s)", end, r, used,
				 p.err_reason ? p.err_reason : "-");
		else if (ref == REF_BAD)
			FZ_CHECK(r == SL_HTTP_ERROR, "reference refuses, parser: %d after %u", r,
				 used);
		else if (ref == REF_MORE)
			FZ_CHECK(r == SL_HTTP_MORE, "reference needs more, parser: %d after %u", r,
				 used);
		if (r == SL_HTTP_MORE)
			FZ_CHECK(sl_http_finish(&p) == SL_HTTP_ERROR, "truncated chunked body accepted");
		break;
	default:
		FZ_CHECK(r == SL_HTTP_MORE, "close-delimited body ended early: %d", r);
		FZ_CHECK(sl_http_finish(&p) == SL_HTTP_MSG_DONE, "close-delimited body at close");
		break;
	}
	sl_http_parser_free(&p);
	sl_http_parser_free(&s);
	return 0;
}
