/*
 * http mode, http-server-close backends: the head each server receives
 * (hop-by-hop headers gone, X-Forwarded-For merged, X-Forwarded-Proto
 * replaced, Connection: close), per-request balancing over one client
 * connection, pipelining, bodiless responses (HEAD, 204, 304), 1xx and
 * 100-continue, close-delimited responses, HTTP/1.0 clients.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_basic, .init = h_setup, .fini = hu_teardown, .timeout = 60);

static int to(void)
{
	return hu_io_to();
}

static struct h_proxy *proxy_to(struct hu_origin *a, struct hu_origin *b)
{
	int ports[2] = { hu_origin_port(a), b ? hu_origin_port(b) : 0 };

	return hu_proxy_for(b ? 2 : 1, ports);
}

static void expect_rsp(struct hu_cli *c, struct hu_rsp *r, int status, bool head)
{
	int rc = hu_read_rsp(c, r, head, to());

	cr_assert_eq(rc, 0, "no complete response: %s; got %zu head bytes:\n%s", strerror(-rc),
		     r->head_len, r->head);
	cr_assert_eq(r->status, status, "status %d, expected %d:\n%s", r->status, status,
		     r->head);
}

/* The origin connection idx was closed by the proxy (not left open). */
static void expect_server_conn_closed(struct hu_origin *o, int idx)
{
	struct hu_conn_info ci;

	cr_assert(hu_conn_wait_end(o, idx, 3000 * h_slow()),
		  "server connection #%d left open after its response", idx);
	hu_conn_get(o, idx, &ci);
	cr_assert_eq(ci.end, 0, "server connection #%d ended with %d, expected the proxy's FIN",
		     idx, ci.end);
	hu_conn_info_free(&ci);
}

Test(http_basic, forwards_rewritten_request_head_exactly)
{
	struct hu_script sc = {
		.act = HU_ACT_RAW,
		.raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n"
		       "Keep-Alive: timeout=3\r\nServer: origin\r\n\r\nhello",
	};
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /a?b=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n"
				     "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
				     "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
				     "TE: trailers\r\nUpgrade: h2c\r\n"
				     "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n"
				     "X-Keep: yes\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert_str_eq(r.body, "hello");
	cr_expect_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: origin\r\n\r\n",
			 "response head to a keep-alive client:\n%s", r.head);
	hu_conn_expect_raw(o, 0, "GET /a?b=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n"
				 "X-Keep: yes\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	expect_server_conn_closed(o, 0);
	/* the client connection is kept: a second request is served */
	cr_assert_eq(hu_cli_send(&c, "GET /2 HTTP/1.1\r\nHost: example.org\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	hu_conn_expect_raw(o, 1, "GET /2 HTTP/1.1\r\nHost: example.org\r\n"
				 "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
				 "Connection: close\r\n\r\n");
	expect_server_conn_closed(o, 1);
	cr_assert_eq(hu_origin_accepted(o), 2);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, forwards_request_body_with_its_framing)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
				     "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
				     "3;x=y\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(strncmp(r.body, "POST /u 5 ", 10) == 0, "%s", r.body);
	expect_rsp(&c, &r, 200, false);
	cr_assert(strncmp(r.body, "PUT /c 3 ", 9) == 0, "%s", r.body);
	hu_conn_expect_raw(o, 0, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
				 "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
				 "Connection: close\r\n\r\nhello");
	hu_conn_expect_raw(o, 1, "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
				 "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
				 "Connection: close\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, balances_every_request_of_one_client_connection)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o[2] = { hu_origin_start(&sc), hu_origin_start(&sc) };
	struct h_proxy *p = proxy_to(o[0], o[1]);
	struct hu_cli c;
	struct hu_rsp r;
	int first = -1, seen[2] = { 0, 0 };

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 10; i++) {
		char req[128], want[64];
		int which;

		snprintf(req, sizeof(req), "GET /r%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
		cr_assert_eq(hu_cli_send(&c, req), 0);
		expect_rsp(&c, &r, 200, false);
		snprintf(want, sizeof(want), "GET /r%d 0 ", i);
		cr_assert(strncmp(r.body, want, strlen(want)) == 0, "request %d answered with %s",
			  i, r.body);
		/* which origin answered: the one whose connection count grew */
		which = hu_origin_accepted(o[0]) > seen[0] ? 0 : 1;
		if (first < 0)
			first = which;
		cr_assert_eq(which, (first + i) % 2, "request %d went to server %c again", i,
			     'A' + which);
		snprintf(req, sizeof(req), "GET /r%d HTTP/1.1\r\n", i);
		{
			struct hu_conn_info ci;

			hu_conn_get(o[which], seen[which], &ci);
			cr_assert(strncmp(ci.raw, req, strlen(req)) == 0,
				  "server %c connection %d got:\n%s", 'A' + which, seen[which],
				  ci.raw);
			cr_assert_eq(ci.raw_len, ci.head_len,
				     "more than one request on one server connection:\n%s", ci.raw);
			hu_conn_info_free(&ci);
		}
		expect_server_conn_closed(o[which], seen[which]);
		seen[which]++;
	}
	cr_assert_eq(hu_origin_accepted(o[0]), 5);
	cr_assert_eq(hu_origin_accepted(o[1]), 5);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, pipelined_requests_are_answered_in_order)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 20 };
	struct hu_origin *o[2] = { hu_origin_start(&sc), hu_origin_start(&sc) };
	struct h_proxy *p = proxy_to(o[0], o[1]);
	struct hu_cli c;
	struct hu_rsp r;
	char all[4096];
	size_t off = 0;

	for (int i = 0; i < 6; i++) {
		if (i == 3)
			off += (size_t)snprintf(all + off, sizeof(all) - off,
						"POST /p%d HTTP/1.1\r\nHost: a\r\n"
						"Content-Length: 4\r\n\r\nbody", i);
		else
			off += (size_t)snprintf(all + off, sizeof(all) - off,
						"GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
	}
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, all), 0);
	for (int i = 0; i < 6; i++) {
		char want[64];

		expect_rsp(&c, &r, 200, false);
		snprintf(want, sizeof(want), "%s /p%d %d ", i == 3 ? "POST" : "GET", i,
			 i == 3 ? 4 : 0);
		cr_assert(strncmp(r.body, want, strlen(want)) == 0,
			  "response %d is \"%s\", expected \"%s...\"", i, r.body, want);
	}
	cr_assert_eq(hu_origin_accepted(o[0]) + hu_origin_accepted(o[1]), 6);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, response_to_head_has_no_body)
{
	struct hu_script head = { .act = HU_ACT_RAW,
				  .raw = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" };
	struct hu_script info = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&head);
	struct hu_origin *b = hu_origin_start(&info);
	struct h_proxy *p = proxy_to(a, b);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, true);
	cr_assert(hu_has_header(&r, "Content-Length: 1000"), "%s", r.head);
	/* the next response must follow the HEAD response's head directly */
	cr_assert_eq(hu_cli_send(&c, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(strncmp(r.body, "GET /after 0 ", 13) == 0, "%s", r.body);
	expect_server_conn_closed(a, 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

static void no_body_status(const char *raw, int status)
{
	struct hu_script s1 = { .act = HU_ACT_RAW, .raw = raw };
	struct hu_script info = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&s1);
	struct hu_origin *b = hu_origin_start(&info);
	struct h_proxy *p = proxy_to(a, b);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /nb HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, status, false);
	cr_assert_eq(hu_cli_send(&c, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(strncmp(r.body, "GET /after 0 ", 13) == 0,
		  "the response after a %d is \"%s\"", status, r.body);
	expect_server_conn_closed(a, 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, response_204_has_no_body)
{
	no_body_status("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 204);
}

Test(http_basic, response_304_has_no_body)
{
	no_body_status("HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", 304);
}

Test(http_basic, response_with_content_length_0_completes)
{
	no_body_status("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200);
}

Test(http_basic, interim_responses_are_forwarded)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
				       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 103, false);
	cr_assert(hu_has_header(&r, "Link: </s.css>; rel=preload"), "%s", r.head);
	expect_rsp(&c, &r, 200, false);
	cr_assert_str_eq(r.body, "ok");
	/* still a keep-alive connection */
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 103, false);
	expect_rsp(&c, &r, 200, false);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, expect_100_continue_reaches_the_server)
{
	struct hu_script sc = { .act = HU_ACT_CONTINUE };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;
	char want[64];

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
				     "Expect: 100-continue\r\n\r\n"), 0);
	expect_rsp(&c, &r, 100, false);
	cr_assert_eq(hu_cli_send(&c, "0123456789"), 0);
	expect_rsp(&c, &r, 200, false);
	snprintf(want, sizeof(want), "POST /up 10 %016llx\n",
		 (unsigned long long)h_fnv1a(H_FNV_INIT, "0123456789", 10));
	cr_assert_str_eq(r.body, want);
	hu_conn_get(o, 0, &ci);
	cr_assert(strstr(ci.raw, "\r\nExpect: 100-continue\r\n"), "%s", ci.raw);
	cr_assert_eq(ci.body_len, 10);
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, close_delimited_response_then_client_closed)
{
	struct hu_script sc = { .act = HU_ACT_CLOSE, .len = 300000, .seed = 5 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /cd HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(r.close_delimited, "%s", r.head);
	cr_assert(r.eof);
	cr_assert(hu_has_header(&r, "Connection: close"),
		  "close-delimited response without Connection: close:\n%s", r.head);
	cr_assert_eq(r.body_len, 300000);
	cr_assert_eq(r.body_hash, h_pattern_hash(300000, 5));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, http10_client_is_closed_after_its_response)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /old HTTP/1.0\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	rc = hu_cli_wait_eof(&c, 2000 * h_slow(), &extra);
	cr_assert_eq(rc, 0, "HTTP/1.0 client not closed: %s", strerror(-rc));
	hu_conn_expect_raw(o, 0, "GET /old HTTP/1.0\r\nX-Forwarded-For: 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, http10_keep_alive_client_is_kept)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(hu_cli_send(&c, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
			     0);
		expect_rsp(&c, &r, 200, false);
		cr_assert(hu_has_header(&r, "Connection: keep-alive"), "%s", r.head);
	}
	cr_assert_eq(hu_origin_accepted(o), 2);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_basic, connection_close_request_ends_the_connection)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
				     "GET /ignored HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	rc = hu_cli_wait_eof(&c, 2000 * h_slow(), &extra);
	cr_assert_eq(rc, 0, "no EOF after a Connection: close response: %s", strerror(-rc));
	cr_assert_eq(extra, 0, "a request after Connection: close was answered");
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* RFC 9110 section 6.2: an intermediary sends its own HTTP version. A
 * forwarded "HTTP/1.0" status line makes a keep-alive HTTP/1.1 client treat
 * the connection as closing. */
Test(http_basic, http10_server_response_is_forwarded_as_http11)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_to(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200, false);
	cr_expect(strncmp(r.head, "HTTP/1.1 200", 12) == 0,
		  "status line forwarded with the server's version:\n%s", r.head);
	hu_cli_close(&c);
	h_proxy_finish(p);
}
