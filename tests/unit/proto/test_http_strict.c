/* Start-line strictness of HTTP/1.1 heads (proto/http_msg.c): empty lines
 * before a request or status line are eaten and never part of the head
 * (RFC 9112 2.2), a request line is exactly method SP request-target SP
 * HTTP-version in a target form its method allows (RFC 9112 3), a status
 * line exactly HTTP-version SP 3DIGIT SP reason with a code from 100 to 599
 * (RFC 9112 4). Every case is fed in one piece and byte by byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/http_msg.h"

#define MAX_HEAD 16384u
#define MAX_HDRS 100u

/* Feeds s as a head, whole (bytewise false) or one byte at a time; returns
 * the result and the bytes eaten. */
static enum sl_http_res head(struct sl_http_parser *p, bool response, const char *s, size_t n,
			     bool bytewise, uint32_t *used)
{
	enum sl_http_res r = SL_HTTP_MORE;
	uint32_t u;

	cr_assert_eq(sl_http_parser_init(p, response, MAX_HEAD, MAX_HDRS), 0);
	*used = 0;
	if (!bytewise) {
		r = sl_http_feed_head(p, s, (uint32_t)n, used);
		return r;
	}
	for (size_t i = 0; i < n && r == SL_HTTP_MORE; i++) {
		r = sl_http_feed_head(p, s + i, 1, &u);
		*used += u;
	}
	return r;
}

static void refuse(const char *s, size_t n, bool response)
{
	for (int b = 0; b < 2; b++) {
		struct sl_http_parser p;
		uint32_t used;
		enum sl_http_res r = head(&p, response, s, n, b, &used);

		cr_assert_eq(r, SL_HTTP_ERROR, "%s: accepted (%d), must be refused:\n%.*s",
			     b ? "bytewise" : "whole", r, (int)n, s);
		cr_assert_eq(p.err_status, response ? 502 : 400, "status %d (%s)", p.err_status,
			     p.err_reason);
		sl_http_parser_free(&p);
	}
}

/* Accepted; the head built for the next hop starts with line + CRLF. */
static void accept_line(const char *s, size_t n, bool response, const char *line)
{
	static const struct sl_http_rewrite rw = { 0 };

	for (int b = 0; b < 2; b++) {
		struct sl_http_parser p;
		uint32_t used;
		char out[4096];
		enum sl_http_res r = head(&p, response, s, n, b, &used);
		int len;

		cr_assert_eq(r, SL_HTTP_HEAD_DONE, "%s: refused (%d %s):\n%.*s",
			     b ? "bytewise" : "whole", p.err_status, p.err_reason, (int)n, s);
		cr_assert_eq(used, n, "%s: used %u of %zu", b ? "bytewise" : "whole", used, n);
		len = sl_http_build_head(&p, &rw, out, sizeof(out) - 1);
		cr_assert(len > 0);
		out[len] = 0;
		cr_assert(!strncmp(out, line, strlen(line)) && !strncmp(out + strlen(line), "\r\n", 2),
			  "next hop's head starts:\n%.40s\nexpected %s", out, line);
		sl_http_parser_free(&p);
	}
}

#define REFUSE_REQ(s) refuse((s), sizeof(s) - 1, false)
#define REFUSE_RSP(s) refuse((s), sizeof(s) - 1, true)
#define ACCEPT_REQ(s, l) accept_line((s), sizeof(s) - 1, false, (l))
#define ACCEPT_RSP(s, l) accept_line((s), sizeof(s) - 1, true, (l))

/* ---- empty lines before the start line ------------------------------------ */

Test(http_strict, leading_crlfs_before_a_request_are_not_forwarded)
{
	ACCEPT_REQ("\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n", "GET /a HTTP/1.1");
	ACCEPT_REQ("\r\n\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		   "POST /b HTTP/1.1");
}

Test(http_strict, leading_crlfs_before_a_status_line_are_not_forwarded)
{
	ACCEPT_RSP("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK");
}

Test(http_strict, target_and_path_after_leading_crlfs)
{
	static const char s[] = "\r\n\r\nGET /admin/x?q HTTP/1.1\r\nHost: a\r\n\r\n";
	struct sl_http_parser p;
	const char *t;
	uint32_t used, tl;

	cr_assert_eq(head(&p, false, s, sizeof(s) - 1, false, &used), SL_HTTP_HEAD_DONE);
	sl_http_target(&p, &t, &tl);
	cr_assert_eq(tl, 10);
	cr_assert(!memcmp(t, "/admin/x?q", 10));
	cr_assert(!memcmp(p.buf, "GET ", 4), "the head copy starts at the method");
	sl_http_parser_free(&p);
}

Test(http_strict, only_empty_lines_leave_the_head_empty)
{
	struct sl_http_parser p;
	uint32_t used;

	cr_assert_eq(head(&p, false, "\r\n\r", 3, false, &used), SL_HTTP_MORE);
	cr_assert_eq(used, 3);
	cr_assert(!sl_http_head_empty(&p), "a CR is pending");
	cr_assert_eq(sl_http_feed_head(&p, "\n", 1, &used), SL_HTTP_MORE);
	cr_assert(sl_http_head_empty(&p));
	cr_assert_eq(sl_http_feed_head(&p, "G", 1, &used), SL_HTTP_MORE);
	cr_assert(!sl_http_head_empty(&p));
	sl_http_parser_free(&p);
}

Test(http_strict, bare_cr_or_lf_before_the_start_line_is_refused)
{
	REFUSE_REQ("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_RSP("\rHTTP/1.1 200 OK\r\n\r\n");
}

Test(http_strict, empty_lines_count_against_max_head)
{
	struct sl_http_parser p;
	uint32_t used;
	static char s[MAX_HEAD + 2];

	for (size_t i = 0; i + 1 < sizeof(s); i += 2)
		memcpy(s + i, "\r\n", 2);
	cr_assert_eq(head(&p, false, s, sizeof(s), false, &used), SL_HTTP_ERROR);
	cr_assert_eq(p.err_status, 400);
	sl_http_parser_free(&p);
}

/* ---- request lines ------------------------------------------------------------ */

Test(http_strict, request_line_with_two_spaces_is_refused)
{
	REFUSE_REQ("GET  /admin/x HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /admin/x  HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ(" GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /admin/x HTTP/1.1 \r\nHost: a\r\n\r\n");
}

Test(http_strict, blanks_and_controls_in_the_target_are_refused)
{
	REFUSE_REQ("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http_strict, tab_as_separator_is_refused)
{
	REFUSE_REQ("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http_strict, version_must_be_exact)
{
	REFUSE_REQ("GET / http/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET / HTTP/1.1x\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET /\r\nHost: a\r\n\r\n");
}

Test(http_strict, target_forms)
{
	ACCEPT_REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1");
	ACCEPT_REQ("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET http://a/x HTTP/1.1");
	ACCEPT_REQ("GET https://a HTTP/1.1\r\nHost: a\r\n\r\n", "GET https://a HTTP/1.1");
	ACCEPT_REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS * HTTP/1.1");
	REFUSE_REQ("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET admin/x HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET http://user@a/x HTTP/1.1\r\nHost: a\r\n\r\n");
	REFUSE_REQ("GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n");
}

/* ---- status lines ------------------------------------------------------------- */

Test(http_strict, invalid_status_codes_give_502)
{
	REFUSE_RSP("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 999 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, status_line_separators_must_be_single_spaces)
{
	REFUSE_RSP("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1\t200 OK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, controls_in_the_reason_give_502)
{
	REFUSE_RSP("HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 200 O\x1bK\r\nContent-Length: 0\r\n\r\n");
	REFUSE_RSP("HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, valid_status_lines)
{
	ACCEPT_RSP("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK");
	ACCEPT_RSP("HTTP/1.1 204 \r\n\r\n", "HTTP/1.1 204 ");
	ACCEPT_RSP("HTTP/1.0 599 x\ty \xe9t\xe9\r\nContent-Length: 0\r\n\r\n",
		   "HTTP/1.1 599 x\ty \xe9t\xe9");
	ACCEPT_RSP("HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 100 Continue");
}

/* ---- trailer fields: counted once each (found by tests/fuzz/fuzz_body) -------- */

static enum sl_http_res chunked_with_trailers(int ntrailers, size_t name_len, bool bytewise)
{
	static char s[65536];
	struct sl_http_parser p;
	uint32_t used, u;
	size_t n;
	enum sl_http_res r;

	n = (size_t)snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nHost: a\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n");
	for (int i = 0; i < ntrailers; i++) {
		memset(s + n, 'a' + i % 26, name_len);
		n += name_len;
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%d: v\r\n", i);
	}
	n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n");
	cr_assert_eq(sl_http_parser_init(&p, false, 4096, 32), 0);
	cr_assert_eq(sl_http_feed_head(&p, s, (uint32_t)n, &used), SL_HTTP_HEAD_DONE);
	r = SL_HTTP_MORE;
	for (size_t off = used; off < n && r == SL_HTTP_MORE; off += u)
		r = sl_http_feed_body(&p, s + off, bytewise ? 1 : (uint32_t)(n - off), &u);
	sl_http_parser_free(&p);
	return r;
}

Test(http_strict, many_trailer_fields_are_refused_whole_or_in_pieces)
{
	cr_assert_eq(chunked_with_trailers(33, 4, false), SL_HTTP_ERROR);
	cr_assert_eq(chunked_with_trailers(33, 4, true), SL_HTTP_ERROR);
	cr_assert_eq(chunked_with_trailers(32, 4, false), SL_HTTP_MSG_DONE);
}

Test(http_strict, a_long_trailer_name_in_pieces_counts_once)
{
	cr_assert_eq(chunked_with_trailers(1, 200, true), SL_HTTP_MSG_DONE);
	cr_assert_eq(chunked_with_trailers(2, 100, true), SL_HTTP_MSG_DONE);
}
