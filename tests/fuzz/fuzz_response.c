/*
 * libFuzzer target: server response streams (proto/http_msg.c status line,
 * head checks and framing, proto/http_rewrite.c). The first input byte
 * holds flags (bit 0: the request was HEAD; bit 1: the proxy adds
 * Connection: close) and seeds the split points; the rest is what a server
 * sends, parsed like proto/http.c does: interim (1xx) heads, then a final
 * head and its body. For every head accepted:
 *  - fed in pieces it gives the result it gives fed whole;
 *  - the status line is HTTP-version SP 3DIGIT SP reason, code 100-599, no
 *    control character but HTAB in the reason;
 *  - at most one framing;
 *  - the head rebuilt for the client re-parses to the same status, reason
 *    and framing, with HTTP/1.1 as its version;
 *  - a Content-Length body ends exactly after that many bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/http_msg.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_HEAD 4096u
#define MAX_HDRS 32u

static void status_line_ok(const struct sl_http_parser *p)
{
	const char *l = p->buf;

	FZ_CHECK(p->line_len >= 13 && !memcmp(l, "HTTP/1.", 7) && l[8] == ' ' && l[12] == ' ',
		 "status line '%.*s'", (int)p->line_len, l);
	FZ_CHECK(p->status >= 100 && p->status <= 599, "status %u", p->status);
	FZ_CHECK((unsigned)(l[9] - '0') * 100 + (unsigned)(l[10] - '0') * 10 +
		 (unsigned)(l[11] - '0') == p->status, "status %u vs line '%.12s'", p->status, l);
	for (uint32_t i = 13; i < p->line_len; i++)
		FZ_CHECK(((unsigned char)l[i] >= 0x20 && l[i] != 0x7f) || l[i] == '\t',
			 "control 0x%02x in the reason", (unsigned char)l[i]);
}

static void same_response(const struct sl_http_parser *p, const char *out, uint32_t n)
{
	struct sl_http_parser q;
	uint32_t used;
	enum sl_http_res r;

	sl_http_parser_init(&q, true, n + 1, 4 * MAX_HDRS);
	q.request_was_head = p->request_was_head;
	r = sl_http_feed_head(&q, out, n, &used);
	FZ_CHECK(r == SL_HTTP_HEAD_DONE, "the forwarded head does not re-parse: %d %s\n%.*s", r,
		 q.err_reason, (int)n, out);
	FZ_CHECK(used == n, "the forwarded head is %u bytes, re-parsed %u", n, used);
	FZ_CHECK(!memcmp(q.buf, "HTTP/1.1 ", 9), "version not HTTP/1.1");
	FZ_CHECK(q.line_len == p->line_len && !memcmp(q.buf + 8, p->buf + 8, p->line_len - 8),
		 "status line changed: '%.*s' -> '%.*s'", (int)p->line_len, p->buf,
		 (int)q.line_len, q.buf);
	FZ_CHECK(q.status == p->status && q.no_body == p->no_body, "status or bodiless changed");
	FZ_CHECK(q.has_cl == p->has_cl && q.content_length == p->content_length &&
		 q.chunked == p->chunked && q.has_te == p->has_te, "framing changed");
	FZ_CHECK(sl_http_body_until_close(&q) == sl_http_body_until_close(p),
		 "close-delimited changed");
	sl_http_parser_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_http_parser p, s;
	struct sl_http_rewrite rw = { 0 };
	const char *d = (const char *)data + 1;
	static char out[MAX_HEAD + 256];
	bool was_head;
	size_t n, off = 0;

	if (size < 1)
		return 0;
	was_head = data[0] & 1;
	rw.connection = data[0] & 2 ? "close" : NULL;
	n = size - 1;
	sl_http_parser_init(&p, true, MAX_HEAD, MAX_HDRS);
	for (int i = 0; i < 4 && off < n; i++) {
		enum sl_http_res r, rs;
		uint32_t used, used_s, bused;
		int len;

		p.request_was_head = was_head;
		sl_http_parser_init(&s, true, MAX_HEAD, MAX_HDRS);
		s.request_was_head = was_head;
		r = fz_feed_head(&p, d + off, n - off, 0, &used);
		rs = fz_feed_head(&s, d + off, n - off, data[0] + 1u, &used_s);
		FZ_CHECK(r == rs, "whole %d, in pieces %d", r, rs);
		FZ_CHECK(r != SL_HTTP_HEAD_DONE || used == used_s, "used %u whole, %u in pieces",
			 used, used_s);
		FZ_CHECK(r != SL_HTTP_ERROR || p.err_status == 502, "response error %d",
			 p.err_status);
		sl_http_parser_free(&s);
		if (r != SL_HTTP_HEAD_DONE)
			break;
		status_line_ok(&p);
		FZ_CHECK(!(p.has_cl && p.has_te), "two framings accepted");
		len = sl_http_build_head(&p, &rw, out, p.len + 128);
		FZ_CHECK(len > 0, "sl_http_build_head: %d", len);
		same_response(&p, out, (uint32_t)len);
		off += used;
		if (p.status / 100 == 1 && p.status != 101) {
			sl_http_next(&p); /* interim: the final response follows */
			continue;
		}
		if (p.status == 101)
			break; /* a tunnel */
		r = fz_feed_body(&p, d + off, n - off, data[0], &bused);
		if (r == SL_HTTP_MORE && sl_http_body_until_close(&p))
			FZ_CHECK(sl_http_finish(&p) == SL_HTTP_MSG_DONE, "close-delimited body");
		FZ_CHECK(r != SL_HTTP_MSG_DONE || p.no_body || !p.has_cl ||
			 bused == p.content_length, "Content-Length %llu, body ended after %u",
			 (unsigned long long)p.content_length, bused);
		FZ_CHECK(r != SL_HTTP_MSG_DONE || !p.no_body || bused == 0,
			 "a bodiless response took %u body bytes", bused);
		break;
	}
	sl_http_parser_free(&p);
	return 0;
}
