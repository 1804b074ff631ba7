/* HTTP/1.1 message heads (proto/http_msg.c, proto/http_rewrite.c): requests
 * and responses fed in one piece and byte by byte; what is consumed, the
 * facts found in a head, every framing / smuggling rejection (one Test per
 * behaviour), the limits (431), responses' 502, bodies (Content-Length,
 * chunked, close-delimited, none) and the heads rebuilt for the next hop. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_msg.h"

#define MAX_HEAD 16384u
#define MAX_HDRS 100u

enum mode { WHOLE, BYTEWISE };
static const char *const mode_name[] = { "in one piece", "byte by byte" };

/* What parsing one message did. */
struct outcome {
	enum sl_http_res head;  /* result of the head phase */
	enum sl_http_res body;  /* result of the body phase (MORE if not run) */
	uint32_t head_used;     /* bytes eaten by the head */
	uint32_t body_used;     /* bytes eaten by the body */
	int err_status;
	const char *err_reason;
};

/* Feeds s[0..n) as a head: in one piece or one byte at a time. Stops at the
 * first result other than MORE. */
static enum sl_http_res feed_head(struct sl_http_parser *p, const char *s, size_t n,
				  enum mode m, uint32_t *used)
{
	enum sl_http_res r = SL_HTTP_MORE;
	uint32_t u;

	*used = 0;
	if (m == WHOLE) {
		r = sl_http_feed_head(p, s, (uint32_t)n, &u);
		*used = u;
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = sl_http_feed_head(p, s + i, 1, &u);
		*used += u;
		if (r != SL_HTTP_MORE)
			break;
		cr_assert_eq(u, 1, "MORE must eat the byte it was given (offset %zu)", i);
	}
	return r;
}

static enum sl_http_res feed_body(struct sl_http_parser *p, const char *s, size_t n,
				  enum mode m, uint32_t *used)
{
	enum sl_http_res r;
	uint32_t u;

	*used = 0;
	if (m == WHOLE || n == 0) {
		r = sl_http_feed_body(p, s, (uint32_t)n, &u);
		*used = u;
		return r;
	}
	r = SL_HTTP_MORE;
	for (size_t i = 0; i < n; i++) {
		r = sl_http_feed_body(p, s + i, 1, &u);
		*used += u;
		if (r != SL_HTTP_MORE)
			break;
	}
	if (r == SL_HTTP_MORE) /* a message may complete without more bytes */
		r = sl_http_feed_body(p, "", 0, &u);
	return r;
}

/* Parses one message (head, then body) out of s. The parser is left as it
 * is for the caller to inspect; free it with sl_http_parser_free. */
static struct outcome parse(struct sl_http_parser *p, bool response, const char *s, size_t n,
			    enum mode m, bool request_was_head)
{
	struct outcome o = { .body = SL_HTTP_MORE };

	cr_assert_eq(sl_http_parser_init(p, response, MAX_HEAD, MAX_HDRS), 0);
	p->request_was_head = request_was_head;
	o.head = feed_head(p, s, n, m, &o.head_used);
	if (o.head == SL_HTTP_HEAD_DONE)
		o.body = feed_body(p, s + o.head_used, n - o.head_used, m, &o.body_used);
	o.err_status = p->err_status;
	o.err_reason = p->err_reason;
	return o;
}

#define REQ(s) (s), sizeof(s) - 1

/* The request must be refused with status, whether fed whole or bytewise,
 * in its head or in its body, and never reach MSG_DONE. */
static void expect_reject(const char *s, size_t n, bool response, int status)
{
	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, response, s, n, (enum mode)m, false);

		cr_assert(o.head == SL_HTTP_ERROR || o.body == SL_HTTP_ERROR,
			  "%s: accepted (head %d, body %d, head used %u, body used %u) "
			  "but must be refused with %d:\n%.*s", mode_name[m], o.head, o.body,
			  o.head_used, o.body_used, status, (int)n, s);
		cr_assert_eq(o.err_status, status, "%s: status %d (%s), expected %d",
			     mode_name[m], o.err_status, o.err_reason ? o.err_reason : "-",
			     status);
		cr_assert(o.err_reason != NULL, "%s: no err_reason", mode_name[m]);
		sl_http_parser_free(&p);
	}
}

/* The whole request must be accepted as one complete message (both modes). */
static void expect_accept(const char *s, size_t n, bool response)
{
	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, response, s, n, (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%s: head %d (%d %s):\n%.*s",
			     mode_name[m], o.head, o.err_status,
			     o.err_reason ? o.err_reason : "-", (int)n, s);
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s: body %d (%d %s)", mode_name[m],
			     o.body, o.err_status, o.err_reason ? o.err_reason : "-");
		cr_assert_eq(o.head_used + o.body_used, n, "%s: used %u + %u of %zu",
			     mode_name[m], o.head_used, o.body_used, n);
		sl_http_parser_free(&p);
	}
}

/* Builds the next hop's head for a request s with the usual proxy rewrite. */
static void build(const char *s, size_t n, bool response, const struct sl_http_rewrite *rw,
		  char *out, size_t cap)
{
	struct sl_http_parser p;
	uint32_t used;
	int len;

	cr_assert_eq(sl_http_parser_init(&p, response, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, s, (uint32_t)n, &used), SL_HTTP_HEAD_DONE,
		     "head refused: %d %s", p.err_status, p.err_reason ? p.err_reason : "-");
	len = sl_http_build_head(&p, rw, out, (uint32_t)cap - 1);
	cr_assert(len > 0, "sl_http_build_head: %d", len);
	out[len] = 0;
	sl_http_parser_free(&p);
}

static const struct sl_http_rewrite proxy_rw = {
	.client_ip = "192.0.2.7", .proto = "http", .connection = "close",
};

/* ---- strictness, init ---------------------------------------------------- */

Test(http, llhttp_runs_strict)
{
	struct sl_http_parser p;

	cr_assert_eq(sl_http_parser_init(&p, false, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(p.ll.lenient_flags, 0, "lenient flags 0x%x on a request parser",
		     p.ll.lenient_flags);
	sl_http_parser_free(&p);
	cr_assert_eq(sl_http_parser_init(&p, true, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(p.ll.lenient_flags, 0, "lenient flags 0x%x on a response parser",
		     p.ll.lenient_flags);
	sl_http_parser_free(&p);
}

Test(http, stays_strict_across_messages)
{
	struct sl_http_parser p;
	uint32_t used;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

	cr_assert_eq(sl_http_parser_init(&p, false, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, s, (uint32_t)strlen(s), &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(sl_http_feed_body(&p, "", 0, &used), SL_HTTP_MSG_DONE);
	sl_http_next(&p);
	cr_assert_eq(p.ll.lenient_flags, 0);
	sl_http_parser_free(&p);
}

Test(http, free_accepts_null)
{
	sl_http_parser_free(NULL);
}

/* ---- requests: what is consumed, facts ----------------------------------- */

Test(http, get_in_one_piece_and_bytewise)
{
	static const char s[] = "GET /x?y=1 HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n";

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, false, REQ(s), (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%s", mode_name[m]);
		cr_assert_eq(o.head_used, sizeof(s) - 1, "%s", mode_name[m]);
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s", mode_name[m]);
		cr_assert_eq(o.body_used, 0);
		cr_assert_eq(p.method, HTTP_GET);
		cr_assert_eq(p.major, 1);
		cr_assert_eq(p.minor, 1);
		cr_assert_eq(p.nhdrs, 2);
		cr_assert_eq(p.line_len, strlen("GET /x?y=1 HTTP/1.1"));
		cr_assert(!p.has_cl && !p.chunked && !p.has_te);
		cr_assert(!p.conn_close && !p.upgrade && !p.expect_continue && !p.no_body);
		cr_assert_eq(sl_http_find(&p, "host", 0), 0);
		cr_assert_eq(sl_http_find(&p, "ACCEPT", 0), 1);
		cr_assert_eq(sl_http_find(&p, "accept", 2), -1);
		cr_assert_eq(sl_http_find(&p, "cookie", 0), -1);
		sl_http_parser_free(&p);
	}
}

Test(http, partial_head_wants_more)
{
	struct sl_http_parser p;
	uint32_t used;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n";

	cr_assert_eq(sl_http_parser_init(&p, false, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, s, (uint32_t)strlen(s), &used), SL_HTTP_MORE);
	cr_assert_eq(used, strlen(s));
	cr_assert_eq(sl_http_feed_head(&p, "\r", 1, &used), SL_HTTP_MORE);
	cr_assert_eq(sl_http_feed_head(&p, "\n", 1, &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(used, 1);
	sl_http_parser_free(&p);
}

/* The body behind a head in the same receive is not copied into the head
 * buffer: only the head's bytes are (its blank line found even when split
 * across receives). */
Test(http, only_the_head_is_copied_not_the_body_after_it)
{
	static char big[40000];
	const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n";
	size_t hl = strlen(h);
	struct sl_http_parser p;
	uint32_t used;

	memcpy(big, h, hl);
	memset(big + hl, 'b', sizeof(big) - hl);
	cr_assert_eq(sl_http_parser_init(&p, true, 65536, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, big, sizeof(big), &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(used, hl);
	cr_assert_eq(p.len, hl);
	cr_assert_leq(p.buf_cap, 1024u, "the head buffer grew to %u for a %zu-byte head",
		      p.buf_cap, hl);
	sl_http_parser_free(&p);
	/* the blank line split: "\r\n\r" then "\n" and the body */
	cr_assert_eq(sl_http_parser_init(&p, true, 65536, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, big, (uint32_t)hl - 1, &used), SL_HTTP_MORE);
	cr_assert_eq(used, hl - 1);
	cr_assert_eq(sl_http_feed_head(&p, big + hl - 1, 20000, &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(used, 1);
	cr_assert_eq(p.len, hl);
	sl_http_parser_free(&p);
	/* a pipelined request behind a head stays in the queue */
	cr_assert_eq(sl_http_parser_init(&p, false, 65536, MAX_HDRS), 0);
	{
		const char *r = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n";

		cr_assert_eq(sl_http_feed_head(&p, r, (uint32_t)strlen(r), &used),
			     SL_HTTP_HEAD_DONE);
		cr_assert_eq(used, strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
	}
	sl_http_parser_free(&p);
}

Test(http, content_length_body_stops_at_its_end)
{
	static const char s[] = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
				"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	const size_t first = sizeof("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello") - 1;

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, false, REQ(s), (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert(p.has_cl);
		cr_assert_eq(p.content_length, 5);
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s", mode_name[m]);
		cr_assert_eq(o.head_used + o.body_used, first, "%s: used %u + %u", mode_name[m],
			     o.head_used, o.body_used);
		/* the pipelined request parses after sl_http_next */
		sl_http_next(&p);
		uint32_t used;
		enum sl_http_res r = feed_head(&p, s + first, sizeof(s) - 1 - first,
					       (enum mode)m, &used);

		cr_assert_eq(r, SL_HTTP_HEAD_DONE, "%s: second request %d %s", mode_name[m], r,
			     p.err_reason ? p.err_reason : "-");
		cr_assert_eq(used, sizeof(s) - 1 - first);
		cr_assert(!p.has_cl);
		cr_assert_eq(p.method, HTTP_GET);
		cr_assert_eq(sl_http_feed_body(&p, "", 0, &used), SL_HTTP_MSG_DONE);
		sl_http_parser_free(&p);
	}
}

Test(http, chunked_body_stops_at_its_end)
{
	static const char msg[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				  "0\r\n\r\n";
	char s[sizeof(msg) + 8];

	snprintf(s, sizeof(s), "%sXYZ", msg);
	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, false, s, strlen(s), (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert(p.chunked && p.has_te && !p.has_cl);
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s: %d %s", mode_name[m], o.err_status,
			     o.err_reason ? o.err_reason : "-");
		cr_assert_eq(o.head_used + o.body_used, sizeof(msg) - 1, "%s", mode_name[m]);
		sl_http_parser_free(&p);
	}
}

Test(http, chunked_body_with_trailers_completes)
{
	expect_accept(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n"), false);
}

/* Trailer fields arrive through the same llhttp callbacks as head fields:
 * they must not be counted against (or appended to) the head's headers. */
Test(http, trailers_do_not_count_toward_max_headers)
{
	char s[8192];
	size_t off = 0;
	struct sl_http_parser p;
	struct outcome o;

	off += (size_t)snprintf(s + off, sizeof(s) - off,
				"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n");
	for (int i = 0; i < (int)MAX_HDRS - 2; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "X-H%d: v\r\n", i);
	off += (size_t)snprintf(s + off, sizeof(s) - off,
				"\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n");
	o = parse(&p, false, s, off, WHOLE, false);
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "head with exactly max_headers: %d %s",
		     o.err_status, o.err_reason ? o.err_reason : "-");
	cr_assert_eq(p.nhdrs, MAX_HDRS);
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE,
		     "a trailer after a head of max_headers headers refused: %d %s",
		     o.err_status, o.err_reason ? o.err_reason : "-");
	cr_assert_eq(p.nhdrs, MAX_HDRS, "trailers were appended to the head's headers");
	sl_http_parser_free(&p);
}

Test(http, zero_content_length_has_no_body)
{
	static const char s[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert(p.has_cl);
	cr_assert_eq(p.content_length, 0);
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	sl_http_parser_free(&p);
}

Test(http, request_facts_connection_tokens)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Upgrade\r\n"
				"connection: CLOSE\r\nUpgrade: websocket\r\n"
				"Expect: 100-Continue\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert(p.conn_close);
	cr_assert(p.conn_keep_alive);
	cr_assert(p.conn_upgrade);
	cr_assert(p.upgrade);
	cr_assert(p.expect_continue);
	sl_http_parser_free(&p);
}

Test(http, http10_request_needs_no_host)
{
	static const char s[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(p.major, 1);
	cr_assert_eq(p.minor, 0);
	cr_assert(p.conn_keep_alive && !p.conn_close);
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	sl_http_parser_free(&p);
}

Test(http, expect_other_than_100_continue_is_not_a_fact)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-ish\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert(!p.expect_continue);
	sl_http_parser_free(&p);
}

Test(http, header_with_empty_value_keeps_the_next_header)
{
	static const char s[] = "GET / HTTP/1.1\r\nX-Empty:\r\nHost: a\r\nX-Sp: \r\nX-B: 2\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), BYTEWISE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert_eq(p.nhdrs, 4);
	cr_assert_eq(sl_http_find(&p, "host", 0), 1);
	cr_assert_eq(sl_http_find(&p, "x-b", 0), 3);
	cr_assert_eq(p.hdrs[0].val_len, 0);
	cr_assert_eq(p.hdrs[2].val_len, 0);
	sl_http_parser_free(&p);
}

Test(http, value_whitespace_is_trimmed)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-V: \t  inner  value \t \r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);
	const struct sl_http_hdr *h;

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	h = &p.hdrs[sl_http_find(&p, "x-v", 0)];
	cr_assert_eq(h->val_len, strlen("inner  value"));
	cr_assert(memcmp(p.buf + h->val_off, "inner  value", h->val_len) == 0);
	sl_http_parser_free(&p);
}

Test(http, obs_text_in_value_is_allowed)
{
	expect_accept(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n"), false);
}

Test(http, head_exactly_max_header_size_is_accepted)
{
	char *s = malloc(MAX_HEAD + 1);
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	size_t n = strlen(pre);
	struct sl_http_parser p;
	struct outcome o;

	memcpy(s, pre, n);
	memset(s + n, 'p', MAX_HEAD - n - 4);
	memcpy(s + MAX_HEAD - 4, "\r\n\r\n", 4);
	o = parse(&p, false, s, MAX_HEAD, WHOLE, false);
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert_eq(o.head_used, MAX_HEAD);
	sl_http_parser_free(&p);
	o = parse(&p, false, s, MAX_HEAD, BYTEWISE, false);
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	sl_http_parser_free(&p);
	free(s);
}

Test(http, exactly_max_headers_is_accepted)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");
	struct sl_http_parser p;
	struct outcome o;

	for (int i = 1; i < (int)MAX_HDRS; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "X-%d: v\r\n", i);
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\n");
	o = parse(&p, false, s, off, WHOLE, false);
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert_eq(p.nhdrs, MAX_HDRS);
	sl_http_parser_free(&p);
}

/* ---- limits: 431 ---------------------------------------------------------- */

Test(http, rejects_head_over_max_header_size_with_431)
{
	size_t n = MAX_HEAD + 1;
	char *s = malloc(n);
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";

	memcpy(s, pre, strlen(pre));
	memset(s + strlen(pre), 'p', n - strlen(pre) - 4);
	memcpy(s + n - 4, "\r\n\r\n", 4);
	expect_reject(s, n, false, 431);
	free(s);
}

Test(http, rejects_endless_head_with_431)
{
	/* 60 headers of 400 bytes: over the size limit, under the count one */
	size_t n = 0, cap = 64 * 1024;
	char *s = malloc(cap);

	n += (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 60; i++) {
		n += (size_t)snprintf(s + n, cap - n, "X-A%02d: ", i);
		memset(s + n, 'b', 391);
		n += 391;
		memcpy(s + n, "\r\n", 2);
		n += 2;
	}
	expect_reject(s, n, false, 431);
	free(s);
}

Test(http, rejects_too_many_headers_with_431)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");

	for (int i = 0; i < (int)MAX_HDRS; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "X-%d: v\r\n", i);
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\n");
	expect_reject(s, off, false, 431);
}

Test(http, response_over_limits_gives_502)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), "HTTP/1.1 200 OK\r\n");

	for (int i = 0; i <= (int)MAX_HDRS; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "X-%d: v\r\n", i);
	off += (size_t)snprintf(s + off, sizeof(s) - off, "Content-Length: 0\r\n\r\n");
	expect_reject(s, off, true, 502);
}

/* ---- request smuggling and bad input: 400 --------------------------------- */

Test(http, rejects_content_length_with_transfer_encoding)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_transfer_encoding_with_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			  "Content-Length: 5\r\n\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_content_length_with_non_chunked_transfer_encoding)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			  "Transfer-Encoding: gzip\r\n\r\nhello"), false, 400);
}

Test(http, rejects_duplicate_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			  "Content-Length: 3\r\n\r\nabc"), false, 400);
}

Test(http, rejects_duplicate_content_length_with_different_values)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			  "Content-Length: 10\r\n\r\nabc"), false, 400);
}

Test(http, rejects_content_length_list)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_content_length_list_without_space)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,3\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_non_digit_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_signed_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"),
		      false, 400);
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_hex_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_empty_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\nabc"), false,
		      400);
}

Test(http, rejects_overflowing_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\n"
			  "Content-Length: 18446744073709551616\r\n\r\nabc"), false, 400);
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\n"
			  "Content-Length: 99999999999999999999999999\r\n\r\nabc"), false, 400);
}

Test(http, rejects_transfer_encoding_not_ending_in_chunked)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_chunked_followed_by_another_coding)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n"
			  "\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunked_then_identity_in_two_headers)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			  "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_look_alike_chunked_coding)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"
			  "0\r\n\r\n"), false, 400);
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"
			  "0\r\n\r\n"), false, 400);
}

Test(http, rejects_empty_transfer_encoding)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n"),
		      false, 400);
}

Test(http, rejects_chunked_twice)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n"
			  "\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunked_twice_in_two_headers)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), false, 400);
}

Test(http, accepts_codings_ending_in_chunked)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
						"Transfer-Encoding: gzip, Chunked\r\n\r\n"
						"0\r\n\r\n"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert(p.chunked);
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	sl_http_parser_free(&p);
}

Test(http, rejects_transfer_encoding_in_http10)
{
	expect_reject(REQ("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "0\r\n\r\n"), false, 400);
}

Test(http, rejects_obs_fold)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"), false,
		      400);
}

Test(http, rejects_obs_fold_with_tab)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n"), false,
		      400);
}

Test(http, rejects_obs_fold_of_content_length)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 3\r\n\r\nabc"),
		      false, 400);
}

Test(http, rejects_whitespace_before_colon)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), false, 400);
}

Test(http, rejects_tab_before_colon)
{
	expect_reject(REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"
			  "0\r\n\r\n"), false, 400);
}

Test(http, rejects_whitespace_before_first_header)
{
	expect_reject(REQ("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), false, 400);
}

Test(http, rejects_empty_header_name)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\n: no-name\r\n\r\n"), false, 400);
}

Test(http, rejects_nul_in_value)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\0b\r\n\r\n"), false, 400);
}

Test(http, rejects_cr_in_value)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\rb\r\n\r\n"), false, 400);
}

Test(http, rejects_lf_in_value)
{
	/* a bare LF inside a value (not a line end: the line goes on) */
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\nb: c\r\n\r\n"), false, 400);
}

Test(http, rejects_control_characters_in_value)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\x01z\r\n\r\n"), false, 400);
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\x7fz\r\n\r\n"), false, 400);
}

/* A bare LF ending the request line: the head must be refused, or rebuilt
 * with a clean request line. Rebuilding it from the bytes up to the first
 * CRLF glues the first header into the request line and sends it twice. */
Test(http, bare_lf_after_request_line_is_not_forwarded_as_is)
{
	static const char s[] = "GET / HTTP/1.1\nHost: a\r\nX-B: 1\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), WHOLE, false);
	char out[1024];
	int n;

	if (o.head == SL_HTTP_ERROR) {
		cr_assert_eq(o.err_status, 400);
		sl_http_parser_free(&p);
		return;
	}
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	n = sl_http_build_head(&p, &proxy_rw, out, sizeof(out) - 1);
	cr_assert(n > 0);
	out[n] = 0;
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-B: 1\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n",
			 "request line rebuilt from a bare-LF head:\n%s", out);
	sl_http_parser_free(&p);
}

Test(http, rejects_missing_host_in_http11)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), false, 400);
}

Test(http, rejects_two_host_headers)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), false, 400);
}

Test(http, rejects_two_identical_host_headers)
{
	expect_reject(REQ("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), false, 400);
}

Test(http, rejects_invalid_method)
{
	expect_reject(REQ("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), false, 400);
}

Test(http, rejects_invalid_version)
{
	expect_reject(REQ("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), false, 400);
	expect_reject(REQ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), false, 400);
}

/* An HTTP/2.0 request line is not HTTP/1.x; forwarding it as it is hands the
 * server a message the proxy did not frame as the server will. */
Test(http, rejects_http2_version_in_request_line)
{
	expect_reject(REQ("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), false, 400);
}

/* ---- chunk framing -------------------------------------------------------- */

#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

Test(http, rejects_invalid_chunk_size)
{
	expect_reject(REQ(CHUNKED_HEAD "zz\r\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_negative_chunk_size)
{
	expect_reject(REQ(CHUNKED_HEAD "-3\r\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_hex_prefixed_chunk_size)
{
	expect_reject(REQ(CHUNKED_HEAD "0x3\r\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_overflowing_chunk_size)
{
	expect_reject(REQ(CHUNKED_HEAD "10000000000000000\r\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_whitespace_after_chunk_size)
{
	expect_reject(REQ(CHUNKED_HEAD "3 \r\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunk_size_line_ending_in_bare_lf)
{
	expect_reject(REQ(CHUNKED_HEAD "3\nabc\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunk_data_not_followed_by_crlf)
{
	/* "abc" is 3 bytes; "XX" stands where CRLF must be */
	expect_reject(REQ(CHUNKED_HEAD "3\r\nabcXX0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunk_data_longer_than_its_size)
{
	expect_reject(REQ(CHUNKED_HEAD "3\r\nabcdef\r\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunk_data_followed_by_bare_lf)
{
	expect_reject(REQ(CHUNKED_HEAD "3\r\nabc\n0\r\n\r\n"), false, 400);
}

Test(http, rejects_chunk_extensions_over_1_kib)
{
	char s[4096];
	size_t off = (size_t)snprintf(s, sizeof(s), CHUNKED_HEAD "3;e=");

	memset(s + off, 'v', SL_HTTP_CHUNK_EXT_MAX + 1);
	off += SL_HTTP_CHUNK_EXT_MAX + 1;
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\nabc\r\n0\r\n\r\n");
	expect_reject(s, off, false, 400);
}

Test(http, rejects_many_chunk_extensions_over_1_kib)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), CHUNKED_HEAD "3");

	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, ";a=b");
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\nabc\r\n0\r\n\r\n");
	expect_reject(s, off, false, 400);
}

Test(http, accepts_short_chunk_extensions)
{
	char s[4096];
	size_t off = (size_t)snprintf(s, sizeof(s), CHUNKED_HEAD "3;e=");

	memset(s + off, 'v', 1000);
	off += 1000;
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\nabc\r\n0;last=1\r\n\r\n");
	expect_accept(s, off, false);
}

Test(http, chunk_extension_limit_is_per_chunk)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), CHUNKED_HEAD);

	for (int c = 0; c < 4; c++) {
		off += (size_t)snprintf(s + off, sizeof(s) - off, "1;e=");
		memset(s + off, 'v', 900);
		off += 900;
		off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\nx\r\n");
	}
	off += (size_t)snprintf(s + off, sizeof(s) - off, "0\r\n\r\n");
	expect_accept(s, off, false);
}

Test(http, rejects_truncated_chunked_body_at_finish)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(CHUNKED_HEAD "3\r\nabc\r\n"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(o.body, SL_HTTP_MORE);
	cr_assert_eq(sl_http_finish(&p), SL_HTTP_ERROR);
	sl_http_parser_free(&p);
}

/* ---- methods --------------------------------------------------------------- */

Test(http, connect_request_parses_for_a_405)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ("CONNECT a.example:443 HTTP/1.1\r\n"
						"Host: a.example:443\r\n\r\n"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%d %s", o.err_status,
		     o.err_reason ? o.err_reason : "-");
	cr_assert_eq(p.method, HTTP_CONNECT);
	sl_http_parser_free(&p);
}

Test(http, upgrade_request_completes_after_its_head)
{
	static const char s[] = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
				"Upgrade: websocket\r\n\r\n";
	char buf[sizeof(s) + 16];
	struct sl_http_parser p;
	struct outcome o;

	snprintf(buf, sizeof(buf), "%sFRAMEDATA", s);
	o = parse(&p, false, buf, strlen(buf), WHOLE, false);
	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(o.head_used, sizeof(s) - 1, "tunnel bytes eaten by the head");
	cr_assert(p.upgrade && p.conn_upgrade);
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	cr_assert_eq(o.body_used, 0, "tunnel bytes eaten as a body: %u", o.body_used);
	sl_http_parser_free(&p);
}

/* ---- responses ------------------------------------------------------------- */

Test(http, response_with_content_length)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, true, REQ(s), (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert_eq(p.status, 200);
		cr_assert(p.has_cl && !p.no_body);
		cr_assert(!sl_http_body_until_close(&p));
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s", mode_name[m]);
		cr_assert_eq(o.head_used + o.body_used, sizeof(s) - 1 - 5, "%s", mode_name[m]);
		sl_http_parser_free(&p);
	}
}

Test(http, response_chunked)
{
	expect_accept(REQ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"), true);
}

Test(http, response_close_delimited_ends_at_finish)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody until close";

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, true, REQ(s), (enum mode)m, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert(sl_http_body_until_close(&p));
		cr_assert_eq(o.body, SL_HTTP_MORE, "%s", mode_name[m]);
		cr_assert_eq(o.head_used + o.body_used, sizeof(s) - 1);
		cr_assert_eq(sl_http_finish(&p), SL_HTTP_MSG_DONE);
		sl_http_parser_free(&p);
	}
}

Test(http, response_http10_without_length_is_close_delimited)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, true, REQ("HTTP/1.0 200 OK\r\n\r\nabc"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert(sl_http_body_until_close(&p));
	cr_assert_eq(sl_http_finish(&p), SL_HTTP_MSG_DONE);
	sl_http_parser_free(&p);
}

Test(http, response_truncated_content_length_fails_at_finish)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, true, REQ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
					       "abc"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(o.body, SL_HTTP_MORE);
	cr_assert_eq(sl_http_finish(&p), SL_HTTP_ERROR);
	cr_assert_eq(p.err_status, 502);
	sl_http_parser_free(&p);
}

Test(http, response_truncated_chunked_fails_at_finish)
{
	struct sl_http_parser p;
	struct outcome o = parse(&p, true, REQ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
					       "\r\n3\r\nabc\r\n"), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(o.body, SL_HTTP_MORE);
	cr_assert_eq(sl_http_finish(&p), SL_HTTP_ERROR);
	sl_http_parser_free(&p);
}

Test(http, response_to_head_has_no_body)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, true, REQ(s), (enum mode)m, true);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert(p.no_body);
		cr_assert(!sl_http_body_until_close(&p));
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s", mode_name[m]);
		cr_assert_eq(o.head_used, sizeof(s) - 1);
		sl_http_parser_free(&p);
	}
}

Test(http, response_204_and_304_have_no_body)
{
	static const char *const rs[] = {
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, true, rs[i], strlen(rs[i]), WHOLE, false);

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE, "%s", rs[i]);
		cr_assert(p.no_body, "%s", rs[i]);
		cr_assert(!sl_http_body_until_close(&p));
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE, "%s", rs[i]);
		cr_assert_eq(o.head_used, strlen(rs[i]));
		sl_http_parser_free(&p);
	}
}

Test(http, interim_response_then_final)
{
	static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	const size_t first = strlen("HTTP/1.1 100 Continue\r\n\r\n");

	for (int m = WHOLE; m <= BYTEWISE; m++) {
		struct sl_http_parser p;
		struct outcome o = parse(&p, true, REQ(s), (enum mode)m, false);
		uint32_t used;

		cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
		cr_assert_eq(p.status, 100);
		cr_assert(p.no_body);
		cr_assert_eq(o.head_used, first, "%s: 1xx head used %u", mode_name[m], o.head_used);
		cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
		cr_assert_eq(o.body_used, 0, "%s: the final response eaten as a 1xx body",
			     mode_name[m]);
		sl_http_next(&p);
		cr_assert_eq(feed_head(&p, s + first, sizeof(s) - 1 - first, (enum mode)m, &used),
			     SL_HTTP_HEAD_DONE);
		cr_assert_eq(p.status, 200);
		cr_assert(!p.no_body);
		sl_http_parser_free(&p);
	}
}

Test(http, response_101_completes_after_its_head)
{
	static const char s[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				"Upgrade: websocket\r\n\r\ntunnel-bytes";
	struct sl_http_parser p;
	struct outcome o = parse(&p, true, REQ(s), WHOLE, false);

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert_eq(p.status, 101);
	cr_assert(p.upgrade && p.conn_upgrade && p.no_body);
	cr_assert_eq(o.head_used, sizeof(s) - 1 - strlen("tunnel-bytes"));
	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	cr_assert_eq(o.body_used, 0);
	sl_http_parser_free(&p);
}

Test(http, response_garbage_gives_502)
{
	expect_reject(REQ("garbage\r\n\r\n"), true, 502);
	expect_reject(REQ("HTTP/1.1 2000 OK\r\n\r\n"), true, 502);
	expect_reject(REQ("HTTP/9.9 200 OK\r\n\r\n"), true, 502);
}

Test(http, response_content_length_with_transfer_encoding_gives_502)
{
	expect_reject(REQ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
			  "\r\n0\r\n\r\n"), true, 502);
}

Test(http, response_duplicate_content_length_gives_502)
{
	expect_reject(REQ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
		      true, 502);
}

Test(http, response_obs_fold_gives_502)
{
	expect_reject(REQ("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"), true, 502);
}

Test(http, response_invalid_chunk_gives_502)
{
	expect_reject(REQ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), true,
		      502);
}

Test(http, response_chunked_twice_gives_502)
{
	expect_reject(REQ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
			  "0\r\n\r\n"), true, 502);
}

/* ---- heads for the next hop ----------------------------------------------- */

Test(http, build_request_head_plain)
{
	char out[2048];

	build(REQ("GET /p?q=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t/1\r\n\r\n"), false,
	      &proxy_rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET /p?q=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t/1\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n");
}

Test(http, build_request_head_drops_hop_by_hop_headers)
{
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, x-other\r\n"
		  "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nProxy-Connection: keep-alive\r\n"
		  "TE: trailers\r\nUpgrade: h2c\r\nX-Other: 2\r\nX-Keep: 3\r\n"
		  "connection: X-Late\r\nX-Late: 4\r\n\r\n"), false, &proxy_rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Keep: 3\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n");
}

Test(http, build_request_head_merges_x_forwarded_for)
{
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nHost: a\r\n"
		  "x-forwarded-for: 10.0.0.3\r\nX-Forwarded-For:\r\nAccept: */*\r\n\r\n"), false,
	      &proxy_rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"
			      "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"
			      "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
}

Test(http, build_request_head_replaces_x_forwarded_proto)
{
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n"
		  "X-Forwarded-Proto: http\r\n\r\n"), false, &proxy_rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\n"
			      "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
}

/* X-SSL-Client-* of a request never reach the server as the client wrote
 * them: dropped, and set only from a verified client certificate; a
 * response's pass. */
Test(http, build_head_owns_the_client_certificate_headers)
{
	struct sl_http_rewrite rw = { .connection = "close" };
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-SSL-Client-DN: /CN=admin\r\n"
		  "x-ssl-client-verify: SUCCESS\r\n\r\n"), false, &rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	rw.cert_verify = "SUCCESS";
	rw.cert_dn = "/O=t/CN=alice";
	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-SSL-Client-DN: /CN=admin\r\n\r\n"), false,
	      &rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: SUCCESS\r\n"
			      "X-SSL-Client-DN: /O=t/CN=alice\r\nConnection: close\r\n\r\n");
	rw.cert_verify = "NONE";
	rw.cert_dn = NULL;
	build(REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false, &rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: NONE\r\n"
			      "Connection: close\r\n\r\n");
	rw.cert_verify = NULL;
	build(REQ("HTTP/1.1 200 OK\r\nX-SSL-Client-DN: x\r\nContent-Length: 0\r\n\r\n"), true,
	      &rw, out, sizeof(out));
	cr_assert(strstr(out, "\r\nX-SSL-Client-DN: x\r\n"), "%s", out);
}

Test(http, build_request_head_without_forwardfor)
{
	const struct sl_http_rewrite rw = { .connection = "close" };
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n"
		  "X-Forwarded-Proto: https\r\n\r\n"), false, &rw, out, sizeof(out));
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n"
			      "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
}

Test(http, build_request_head_keeps_framing_headers_and_body_length)
{
	char out[2048];

	build(REQ("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), false, &proxy_rw,
	      out, sizeof(out));
	cr_assert_str_eq(out, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n");
	build(REQ("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), false,
	      &proxy_rw, out, sizeof(out));
	cr_assert_str_eq(out, "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n");
}

/* A Connection header naming Content-Length, Transfer-Encoding or Host must
 * not strip them: the body is relayed as framed by them, so a server seeing
 * the head without them reads the body as the next request (smuggling). */
Test(http, connection_naming_content_length_keeps_it)
{
	char out[2048];

	build(REQ("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		  "Connection: Content-Length\r\n\r\n"), false, &proxy_rw, out, sizeof(out));
	cr_assert(strstr(out, "\r\nContent-Length: 5\r\n"),
		  "Content-Length stripped from a request whose body is relayed:\n%s", out);
}

Test(http, connection_naming_transfer_encoding_keeps_it)
{
	char out[2048];

	build(REQ("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Connection: close, Transfer-Encoding\r\n\r\n"), false, &proxy_rw, out,
	      sizeof(out));
	cr_assert(strstr(out, "\r\nTransfer-Encoding: chunked\r\n"),
		  "Transfer-Encoding stripped from a chunked request:\n%s", out);
}

Test(http, connection_naming_host_keeps_it)
{
	char out[2048];

	build(REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n"), false, &proxy_rw,
	      out, sizeof(out));
	cr_assert(strstr(out, "\r\nHost: a\r\n"), "Host stripped:\n%s", out);
}

Test(http, response_connection_naming_content_length_keeps_it)
{
	const struct sl_http_rewrite rw = { 0 };
	char out[2048];

	build(REQ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: Content-Length\r\n\r\n"),
	      true, &rw, out, sizeof(out));
	cr_assert(strstr(out, "\r\nContent-Length: 3\r\n"),
		  "Content-Length stripped from a response whose body is relayed:\n%s", out);
}

Test(http, build_upgrade_request_keeps_upgrade)
{
	const struct sl_http_rewrite rw = { .client_ip = "192.0.2.7", .proto = "http",
					    .connection = "upgrade", .keep_upgrade = true };
	char out[2048];

	build(REQ("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
		  "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n"), false, &rw, out,
	      sizeof(out));
	cr_assert_str_eq(out, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Key: k\r\nX-Forwarded-For: 192.0.2.7\r\n"
			      "X-Forwarded-Proto: http\r\nConnection: upgrade\r\n\r\n");
}

Test(http, build_response_head)
{
	const struct sl_http_rewrite rw = { 0 };
	char out[2048];

	build(REQ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n"
		  "Keep-Alive: timeout=1\r\nServer: o\r\n\r\n"), true, &rw, out, sizeof(out));
	cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: o\r\n\r\n");
}

Test(http, build_response_head_with_connection)
{
	const struct sl_http_rewrite rw = { .connection = "close" };
	char out[2048];

	build(REQ("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"), true, &rw,
	      out, sizeof(out));
	cr_assert_str_eq(out, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n"
			      "Connection: close\r\n\r\n");
}

Test(http, build_head_reports_enospc)
{
	struct sl_http_parser p;
	uint32_t used;
	char out[32];
	const char *s = "GET /a-rather-long-path HTTP/1.1\r\nHost: example.org\r\n\r\n";

	cr_assert_eq(sl_http_parser_init(&p, false, MAX_HEAD, MAX_HDRS), 0);
	cr_assert_eq(sl_http_feed_head(&p, s, (uint32_t)strlen(s), &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(sl_http_build_head(&p, &proxy_rw, out, sizeof(out)), -ENOSPC);
	sl_http_parser_free(&p);
}

Test(http, build_head_after_bytewise_feed)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long-Name: some value here\r\n"
				"Connection: close\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s), BYTEWISE, false);
	char out[1024];
	int n;

	cr_assert_eq(o.head, SL_HTTP_HEAD_DONE);
	cr_assert(p.conn_close);
	n = sl_http_build_head(&p, &proxy_rw, out, sizeof(out) - 1);
	cr_assert(n > 0);
	out[n] = 0;
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Long-Name: some value here\r\n"
			      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
			      "Connection: close\r\n\r\n");
	sl_http_parser_free(&p);
}

Test(http, next_resets_facts)
{
	static const char s1[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				 "Connection: close\r\nExpect: 100-continue\r\n\r\nx";
	static const char s2[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct sl_http_parser p;
	struct outcome o = parse(&p, false, REQ(s1), WHOLE, false);
	uint32_t used;

	cr_assert_eq(o.body, SL_HTTP_MSG_DONE);
	sl_http_next(&p);
	cr_assert_eq(sl_http_feed_head(&p, s2, sizeof(s2) - 1, &used), SL_HTTP_HEAD_DONE);
	cr_assert(!p.has_cl && !p.conn_close && !p.expect_continue && !p.chunked);
	cr_assert_eq(p.nhdrs, 1);
	cr_assert_eq(p.content_length, 0);
	cr_assert_eq(sl_http_feed_body(&p, "", 0, &used), SL_HTTP_MSG_DONE);
	sl_http_parser_free(&p);
}
