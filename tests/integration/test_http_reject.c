/*
 * http mode: requests that must be refused. Each bad request is sent with a
 * valid follow-up request in the same write; the client must get exactly one
 * error response (400, 405, 431) with Connection: close, then EOF, and the
 * origin must receive nothing at all (not the bad request, not the follow-up).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_reject, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define FOLLOW_UP "GET /follow-up HTTP/1.1\r\nHost: a\r\n\r\n"

static void expect_error_then_close(struct hu_cli *c, int status)
{
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc = hu_read_rsp(c, &r, false, hu_io_to());

	cr_assert_eq(rc, 0, "no complete %d response: %s; got %zu bytes:\n%s", status,
		     strerror(-rc), r.head_len, r.head);
	cr_assert_eq(r.status, status, "status %d, expected %d:\n%s%s", r.status, status, r.head,
		     r.body);
	cr_assert(hu_has_header(&r, "Connection: close"), "%d without Connection: close:\n%s",
		  status, r.head);
	rc = hu_cli_wait_eof(c, 2000 * h_slow(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET, "client not closed after the %d: %s", status,
		  strerror(-rc));
	cr_assert_eq(extra, 0, "%llu bytes after the %d response (follow-up answered?)",
		     (unsigned long long)extra, status);
}

static void expect_nothing_forwarded(struct hu_origin *o)
{
	h_sleep_ms(100);
	if (hu_origin_bytes(o)) {
		struct hu_conn_info ci;

		hu_conn_get(o, 0, &ci);
		cr_assert_fail("the origin received %llu bytes over %d connection(s); first:\n%s",
			       (unsigned long long)hu_origin_bytes(o), hu_origin_accepted(o),
			       ci.raw);
	}
}

/* Sends bad (bad_len bytes) + FOLLOW_UP in one write. */
static void reject_n(const char *bad, size_t bad_len, int status)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	static char buf[32 * 1024];

	cr_assert(bad_len + sizeof(FOLLOW_UP) <= sizeof(buf));
	memcpy(buf, bad, bad_len);
	memcpy(buf + bad_len, FOLLOW_UP, sizeof(FOLLOW_UP) - 1);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send_n(&c, buf, bad_len + sizeof(FOLLOW_UP) - 1), 0);
	expect_error_then_close(&c, status);
	expect_nothing_forwarded(o);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

#define REJECT(s, status) reject_n((s), sizeof(s) - 1, (status))

Test(http_reject, content_length_with_transfer_encoding)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

Test(http_reject, transfer_encoding_with_content_length)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	       "Content-Length: 5\r\n\r\n0\r\n\r\n", 400);
}

Test(http_reject, duplicate_content_length)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	       400);
}

Test(http_reject, content_length_list)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400);
}

Test(http_reject, non_digit_content_length)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc", 400);
}

Test(http_reject, overflowing_content_length)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 184467440737095516160\r\n\r\nabc",
	       400);
}

Test(http_reject, transfer_encoding_not_ending_in_chunked)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", 400);
}

Test(http_reject, transfer_encoding_gzip_only)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400);
}

Test(http_reject, chunked_twice)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

Test(http_reject, transfer_encoding_in_http10)
{
	REJECT("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

Test(http_reject, obs_fold)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n", 400);
}

Test(http_reject, obs_fold_after_empty_value)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 3\r\n\r\nabc", 400);
}

Test(http_reject, whitespace_before_colon)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", 400);
}

Test(http_reject, nul_in_value)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\0b\r\n\r\n", 400);
}

Test(http_reject, cr_in_value)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\rb\r\n\r\n", 400);
}

Test(http_reject, lf_in_value)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-V: a\nb: c\r\n\r\n", 400);
}

Test(http_reject, empty_header_name)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\n: no-name\r\n\r\n", 400);
}

Test(http_reject, invalid_chunk_size)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "zz\r\nabc\r\n0\r\n\r\n", 400);
}

Test(http_reject, chunk_data_not_followed_by_crlf)
{
	REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "3\r\nabcXX0\r\n\r\n", 400);
}

Test(http_reject, chunk_extensions_over_1_kib)
{
	char s[4096];
	size_t off = (size_t)snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nHost: a\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n3;ext=");

	memset(s + off, 'e', 1100);
	off += 1100;
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\nabc\r\n0\r\n\r\n");
	reject_n(s, off, 400);
}

Test(http_reject, missing_host)
{
	REJECT("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
}

Test(http_reject, two_host_headers)
{
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

Test(http_reject, connect_gets_405)
{
	REJECT("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 405);
}

Test(http_reject, head_over_16_kib_gets_431)
{
	static char s[17 * 1024];
	size_t n = sizeof(s);
	size_t off = (size_t)snprintf(s, n, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");

	memset(s + off, 'b', n - off - 4);
	memcpy(s + n - 4, "\r\n\r\n", 4);
	reject_n(s, n, 431);
}

Test(http_reject, over_100_headers_gets_431)
{
	char s[8192];
	size_t off = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");

	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "X-H%d: v\r\n", i);
	off += (size_t)snprintf(s + off, sizeof(s) - off, "\r\n");
	reject_n(s, off, 431);
}

Test(http_reject, invalid_request_line)
{
	REJECT("GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400);
}

/* A refused request after a served one on the same keep-alive connection
 * still gets its error response. */
Test(http_reject, bad_request_after_a_good_one_gets_400)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /good HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(hu_cli_send(&c, "POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				     "Content-Length: 1\r\n\r\nx" FOLLOW_UP), 0);
	expect_error_then_close(&c, 400);
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_reject, pipelined_bad_request_after_a_good_one_gets_400)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /good HTTP/1.1\r\nHost: a\r\n\r\n"
				     "GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" FOLLOW_UP), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	expect_error_then_close(&c, 400);
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* Connection may not strip the framing of a body that is relayed: the
 * server would read the body as a second request. */
Test(http_reject, connection_header_cannot_strip_content_length)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;
	static const char smuggled[] = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
	char req[512];
	int rc;

	snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n"
		 "Connection: Content-Length\r\n\r\n%s", sizeof(smuggled) - 1, smuggled);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, req), 0);
	rc = hu_read_rsp(&c, &r, false, 3000 * h_slow());
	cr_assert(hu_conn_wait_end(o, 0, 3000 * h_slow()));
	hu_conn_get(o, 0, &ci);
	if (rc == 0 && r.status == 400) {
		cr_assert_eq(ci.total, 0); /* refusing it is fine too */
	} else {
		cr_expect(strstr(ci.raw, "\r\nContent-Length: "),
			  "the server got a body without its Content-Length:\n%s", ci.raw);
		cr_expect(ci.head_len && ci.raw_len == ci.head_len + sizeof(smuggled) - 1 &&
			  ci.req_complete && ci.body_len == sizeof(smuggled) - 1,
			  "server saw body_len %llu:\n%s", (unsigned long long)ci.body_len, ci.raw);
	}
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_reject, connection_header_cannot_strip_host)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	if (r.status != 400) {
		hu_conn_get(o, 0, &ci);
		cr_expect(strstr(ci.raw, "\r\nHost: a\r\n"),
			  "HTTP/1.1 request forwarded without Host:\n%s", ci.raw);
		hu_conn_info_free(&ci);
	}
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* A request line ending in a bare LF: refused, or forwarded with a clean
 * request line; never glued to the first header. */
Test(http_reject, bare_lf_request_line_is_not_forwarded_as_is)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	if (r.status != 400)
		hu_conn_expect_raw(o, 0, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1\r\n"
					 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}
