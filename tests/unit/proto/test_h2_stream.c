/* HTTP/2 request translation (proto/h2_stream.c) without a connection: the
 * fields of a HEADERS frame become an HTTP/1.1 head (:authority as host,
 * cookies joined, chunked when the body has no length), DATA become the
 * body, END_STREAM its end. The stream only needs its connection's session
 * for the frontend's limits. Regressions from fuzz_h2 are here too. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "conf/conf-t.h"
#include "proto/h2-i.h"

static const struct sl_frontend_conf fe = { .name = "t", .mode = SL_FE_MODE_HTTP };
static struct sl_session sess = { .fe = &fe };
static struct h2_conn conn = { .s = &sess };

static void field(struct h2_stream *st, const char *n, const char *v)
{
	sl_h2s_field(st, (const uint8_t *)n, strlen(n), (const uint8_t *)v, strlen(v));
}

static void assert_req(const struct h2_stream *st, const char *want)
{
	cr_assert_eq(st->req.len - st->req.off, strlen(want), "got '%.*s'",
		     (int)(st->req.len - st->req.off), st->req.p + st->req.off);
	cr_assert(!memcmp(st->req.p + st->req.off, want, strlen(want)), "got '%.*s'",
		  (int)(st->req.len - st->req.off), st->req.p + st->req.off);
}

Test(h2_stream, get_ends_with_its_headers_without_framing)
{
	struct h2_stream *st = sl_h2s_new(&conn, 1);

	field(st, ":method", "GET");
	field(st, ":scheme", "http");
	field(st, ":path", "/a?b=1");
	field(st, ":authority", "a.example");
	field(st, "host", "ignored.example");
	field(st, "cookie", "x=1");
	field(st, "accept", "*/*");
	field(st, "cookie", "y=2");
	cr_assert_eq(sl_h2s_build_request(st, true), 0);
	cr_assert_eq(sl_h2s_end(st), 0);
	assert_req(st, "GET /a?b=1 HTTP/1.1\r\nhost: a.example\r\naccept: */*\r\n"
		       "cookie: x=1; y=2\r\n\r\n");
	cr_assert(!st->head_req && !st->chunked);
	sl_h2s_free(st);
	cr_assert_null(conn.streams);
}

Test(h2_stream, a_body_without_length_goes_chunked)
{
	struct h2_stream *st = sl_h2s_new(&conn, 3);

	field(st, ":method", "POST");
	field(st, ":scheme", "http");
	field(st, ":path", "/up");
	cr_assert_eq(sl_h2s_build_request(st, false), 0);
	cr_assert_eq(sl_h2s_body(st, (const uint8_t *)"hello", 5), 0);
	cr_assert_eq(sl_h2s_body(st, (const uint8_t *)"", 0), 0);
	cr_assert_eq(sl_h2s_body(st, (const uint8_t *)"0123456789abcdefg", 17), 0);
	cr_assert_eq(sl_h2s_end(st), 0);
	cr_assert_eq(sl_h2s_end(st), 0); /* once only */
	assert_req(st, "POST /up HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
		       "5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n");
	sl_h2s_free(st);
}

Test(h2_stream, a_body_with_content_length_goes_as_it_is)
{
	struct h2_stream *st = sl_h2s_new(&conn, 5);

	field(st, ":method", "PUT");
	field(st, ":path", "/x");
	field(st, "content-length", "3");
	cr_assert_eq(sl_h2s_build_request(st, false), 0);
	cr_assert_eq(sl_h2s_body(st, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(sl_h2s_end(st), 0);
	assert_req(st, "PUT /x HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc");
	sl_h2s_free(st);
}

/* fuzz_h2: a method of 16 bytes or more (BASELINE-CONTROL, RFC 3253) was not
 * kept, and the stream was reset with INTERNAL_ERROR where HTTP/1.1
 * forwards any token. */
Test(h2_stream, a_long_method_is_forwarded)
{
	static const char m[] = "BASELINE-CONTROL-AND-A-VERY-LONG-EXTENSION-METHOD";
	struct h2_stream *st = sl_h2s_new(&conn, 7);

	field(st, ":method", m);
	field(st, ":scheme", "https");
	field(st, ":path", "/r");
	field(st, ":authority", "b");
	cr_assert_eq(sl_h2s_build_request(st, true), 0);
	assert_req(st, "BASELINE-CONTROL-AND-A-VERY-LONG-EXTENSION-METHOD /r HTTP/1.1\r\n"
		       "host: b\r\n\r\n");
	sl_h2s_free(st);
}

Test(h2_stream, head_is_known_and_no_path_is_refused)
{
	struct h2_stream *st = sl_h2s_new(&conn, 9);

	field(st, ":method", "HEAD");
	field(st, ":authority", "c");
	cr_assert(st->head_req);
	cr_assert_eq(sl_h2s_build_request(st, true), -EINVAL);
	sl_h2s_free(st);
}

Test(h2_stream, a_list_over_max_headers_is_too_big)
{
	struct h2_stream *st = sl_h2s_new(&conn, 11);

	field(st, ":method", "GET");
	field(st, ":path", "/");
	for (int i = 0; i < 103 && !st->too_big; i++)
		field(st, "x", "y");
	cr_assert(st->too_big);
	sl_h2s_free(st);
}
