/*
 * http mode: what the client gets when servers misbehave. Refused twice or
 * none left: 503 after one retry elsewhere; timeout_server before any
 * response byte: 504; a bad response head (garbage, CL+TE, duplicate CL,
 * obs-fold, oversized, 101 out of the blue), a close or a reset before a
 * complete head: 502, and nothing of it forwarded; a server that dies in the
 * body: the client connection closes short of Content-Length or without the
 * final chunk.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_server, .init = h_setup, .fini = hu_teardown, .timeout = 60);

static struct h_proxy *proxy1(struct hu_origin *o, const char *timeout_server)
{
	struct hu_conf c = { .nservers = 1, .timeout_server = timeout_server };

	c.server_port[0] = hu_origin_port(o);
	return hu_proxy_start(&c);
}

/* The client gets status (a proxy-made error page), then EOF. */
static void expect_error(struct hu_cli *c, int status, int timeout_ms)
{
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc = hu_read_rsp(c, &r, false, timeout_ms);

	cr_assert_eq(rc, 0, "no complete %d response: %s; got %zu bytes:\n%s", status,
		     strerror(-rc), r.head_len, r.head);
	cr_assert_eq(r.status, status, "status %d, expected %d:\n%s%s", r.status, status,
		     r.head, r.body);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	rc = hu_cli_wait_eof(c, 2000 * h_slow(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET, "not closed after %d: %s", status, strerror(-rc));
	cr_assert_eq(extra, 0);
}

Test(http_server, refused_twice_gives_503)
{
	int ports[2] = { h_free_port(), h_free_port() };
	struct h_proxy *p = hu_proxy_for(2, ports);
	struct hu_cli c;
	uint64_t t0 = h_now_ms();

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 503, 3000 * h_slow());
	cr_assert(h_now_ms() - t0 < 1000u * (unsigned)h_slow());
	cr_assert(hu_log_has(p, "trying another server"), "no retry logged");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, refused_once_is_retried_on_another_server)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int ports[2] = { h_free_port(), hu_origin_port(o) };
	struct h_proxy *p = hu_proxy_for(2, ports);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(hu_cli_send(&c, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0, "request %d", i);
		cr_assert_eq(r.status, 200, "request %d: %d", i, r.status);
	}
	cr_assert_eq(hu_origin_accepted(o), 4);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, single_refusing_server_gives_503)
{
	int port = h_free_port();
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 503, 3000 * h_slow());
	hu_cli_close(&c);
	h_proxy_finish(p);
}

static int count_in(const char *s, const char *needle)
{
	int n = 0;

	for (; s && (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* Every request of a flood gets its 503, but the process log gets at most
 * SL_LOG_LIMIT_PER_SEC (20) per-request lines a second per worker, and the
 * first line after a dropped run says how many were dropped. */
Test(http_server, flood_of_503_is_answered_in_full_and_logged_within_the_limit)
{
	int port = h_free_port();
	struct h_proxy *p = hu_proxy_for(1, &port);
	uint64_t t0 = h_now_ms(), secs;
	int n503, lines;
	char *log;

	for (int i = 0; i < 300; i++) {
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		expect_error(&c, 503, 3000 * h_slow());
		hu_cli_close(&c);
	}
	secs = (h_now_ms() - t0) / 1000 + 1;
	/* one more in a later second: it carries the count of dropped lines */
	h_sleep_ms(1100);
	{
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		expect_error(&c, 503, 3000 * h_slow());
		hu_cli_close(&c);
	}
	h_sleep_ms(100);
	log = hu_proxy_log(p);
	cr_assert(log);
	n503 = count_in(log, "503 Service Unavailable");
	lines = count_in(log, "503 Service Unavailable") + count_in(log, "connect failed");
	cr_assert(n503 >= 1, "no 503 logged:\n%s", log);
	cr_assert(lines <= 20 * (int)(secs + 2),
		  "%d per-request lines for 301 requests in %llu s (limit 20 a second):\n%s",
		  lines, (unsigned long long)secs + 2, log);
	cr_assert(strstr(log, " lines dropped before this one]"), "no dropped count:\n%s", log);
	free(log);
	h_proxy_finish(p);
}

Test(http_server, unreachable_server_gives_503_after_timeout_connect)
{
	struct h_blackhole bh;
	struct hu_conf conf = { .nservers = 1, .timeout_connect = "300ms" };
	struct h_proxy *p;
	struct hu_cli c;
	uint64_t t0, ms;

	h_blackhole_start(&bh);
	conf.server_port[0] = bh.port;
	p = hu_proxy_start(&conf);
	hu_cli_open(&c, p->port);
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 503, 5000 * h_slow());
	ms = h_now_ms() - t0;
	cr_assert(ms >= 250 && ms < 600 + 1500u * (unsigned)h_slow(),
		  "503 after %llu ms with timeout_connect 300ms (and one retry)",
		  (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* timeout_server is shorter than timeout_http_request here: the 504 must
 * come at timeout_server, not when the request timer would have fired. */
Test(http_server, silent_server_gives_504_at_timeout_server)
{
	struct hu_script sc = { .act = HU_ACT_NEVER };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, "300ms");
	struct hu_cli c;
	struct hu_conn_info ci;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_send(&c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 504, 10000 * h_slow());
	ms = h_now_ms() - t0;
	cr_expect(ms >= 250 && ms <= 300 + 700u * (unsigned)h_slow(),
		  "504 after %llu ms, timeout_server is 300ms (timeout_http_request 5s)",
		  (unsigned long long)ms);
	cr_assert(hu_conn_wait_end(o, 0, 2000 * h_slow()), "server connection left open");
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.end, 0);
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, silent_server_on_second_request_gives_504)
{
	struct hu_script ok = { .act = HU_ACT_INFO };
	struct hu_script never = { .act = HU_ACT_NEVER };
	struct hu_origin *a = hu_origin_start(&ok);
	struct hu_origin *b = hu_origin_start(&never);
	struct hu_conf conf = { .nservers = 2, .timeout_server = "300ms",
				.timeout_http_request = "2s", .timeout_http_keep_alive = "2s" };
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t t0, ms;

	conf.server_port[0] = hu_origin_port(a);
	conf.server_port[1] = hu_origin_port(b);
	p = hu_proxy_start(&conf);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_send(&c, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 504, 10000 * h_slow());
	ms = h_now_ms() - t0;
	cr_expect(ms >= 250 && ms <= 300 + 700u * (unsigned)h_slow(),
		  "504 after %llu ms, timeout_server is 300ms", (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

static void bad_response(const char *raw, size_t raw_len, bool close_after)
{
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = raw_len,
				.close_after = close_after };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "no complete response: %s; got:\n%s", strerror(-rc), r.head);
	cr_assert_eq(r.status, 502, "status %d (bad response forwarded?):\n%s%s", r.status,
		     r.head, r.body);
	cr_assert(!strstr(r.head, "Smuggled") && !strstr(r.body, "smuggled"),
		  "parts of the bad response reached the client:\n%s%s", r.head, r.body);
	rc = hu_cli_wait_eof(&c, 2000 * h_slow(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	cr_assert_eq(extra, 0, "bytes after the 502");
	cr_assert(hu_conn_wait_end(o, 0, 2000 * h_slow()), "server connection left open");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

#define BAD(s) bad_response((s), sizeof(s) - 1, false)

Test(http_server, garbage_response_gives_502)
{
	BAD("Smuggled garbage, not HTTP at all\r\n\r\nsmuggled");
}

Test(http_server, binary_garbage_response_gives_502)
{
	BAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03Smuggled");
}

Test(http_server, content_length_with_transfer_encoding_response_gives_502)
{
	BAD("HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nsmuggled");
}

Test(http_server, duplicate_content_length_response_gives_502)
{
	BAD("HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 8\r\nContent-Length: 3\r\n\r\n"
	    "smuggled");
}

Test(http_server, obs_fold_response_gives_502)
{
	BAD("HTTP/1.1 200 OK\r\nX-Smuggled: a\r\n b\r\nContent-Length: 8\r\n\r\nsmuggled");
}

Test(http_server, invalid_status_response_gives_502)
{
	BAD("HTTP/1.1 20x Smuggled\r\nContent-Length: 8\r\n\r\nsmuggled");
}

Test(http_server, unsolicited_101_gives_502)
{
	BAD("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: Smuggled\r\n\r\n"
	    "smuggled");
}

Test(http_server, oversized_response_head_gives_502)
{
	static char s[80 * 1024 + 1]; /* over the 64 KiB allowed to response heads */
	size_t n = sizeof(s) - 1;
	size_t off = (size_t)snprintf(s, n, "HTTP/1.1 200 OK\r\nX-Smuggled: ");

	memset(s + off, 's', n - off - 4);
	memcpy(s + n - 4, "\r\n\r\n", 4);
	bad_response(s, n, false);
}

Test(http_server, close_before_response_gives_502)
{
	bad_response("", 0, true);
}

Test(http_server, partial_head_then_close_gives_502)
{
	bad_response("HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\n", 0, true);
}

Test(http_server, reset_before_response_gives_502)
{
	struct hu_script sc = { .act = HU_ACT_RST };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, NULL);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_error(&c, 502, hu_io_to());
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* Dies in the body: the client must be able to tell (EOF before the end). */
static void dies_mid_body(bool chunked, bool rst)
{
	struct hu_script sc = { .act = HU_ACT_CUT, .len = 1000000, .cut = 200000, .seed = 9,
				.chunked = chunked, .rst = rst, .chunk = 10000 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t t0 = h_now_ms();
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(r.status, 200, "%s", r.head);
	cr_assert_eq(rc, -EPROTO, "the client could not tell the body was cut: rc %d (%s), "
		     "%llu body bytes, complete %d", rc, strerror(-rc),
		     (unsigned long long)r.body_len, r.complete);
	cr_assert(r.eof);
	cr_assert(r.body_len <= 200000, "%llu body bytes", (unsigned long long)r.body_len);
	cr_assert(h_now_ms() - t0 < 2000u * (unsigned)h_slow(), "closed only after %llu ms",
		  (unsigned long long)(h_now_ms() - t0));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, fin_mid_content_length_body_closes_client_short)
{
	dies_mid_body(false, false);
}

Test(http_server, rst_mid_content_length_body_closes_client_short)
{
	dies_mid_body(false, true);
}

Test(http_server, fin_mid_chunked_body_closes_client_without_last_chunk)
{
	dies_mid_body(true, false);
}

Test(http_server, rst_mid_chunked_body_closes_client_without_last_chunk)
{
	dies_mid_body(true, true);
}

Test(http_server, invalid_chunk_mid_body_closes_client)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				       "5\r\nhello\r\nzz\r\nsmuggled\r\n0\r\n\r\n" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	/* cut short (whatever of it was relayed), or never started, or a 502 */
	cr_assert(rc == -EPROTO || rc == -EPIPE || rc == -ECONNRESET ||
		  (rc == 0 && r.status == 502),
		  "rc %d status %d complete %d body \"%s\"", rc, r.status, r.complete, r.body);
	cr_assert(!strstr(r.body, "smuggled"));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* A server may answer before it has read the whole request. The request
 * bytes it never read must not be sent to the next server, ahead of the
 * next request of the same client connection. Racy by nature (the proxy's
 * send must still be in flight when the response completes), so tried on
 * 60 client connections. */
Test(http_server, early_response_does_not_replay_the_request_elsewhere)
{
	static const struct hu_script info = { .act = HU_ACT_INFO };
	struct hu_script early = { .act = HU_ACT_RAW, .no_read = true, .hold_ms = 300,
				   .raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
				   .odd = &info };
	struct hu_origin *o = hu_origin_start(&early);
	struct h_proxy *p = proxy1(o, NULL);
	const uint64_t len = 60000;
	int idx = 0;

	/* Either the proxy had sent the whole request when the answer ended (then
	 * the client may go on, and its next request must reach a fresh server
	 * connection first, without the unread bytes of the first), or it had
	 * not (then it announces Connection: close and closes after the answer).
	 * Even origin connections answer "ok" at once without reading; odd ones
	 * record what they get and describe it. */
	for (int i = 0; i < 20 && idx + 2 < HU_MAX_CONNS; i++) {
		struct hu_cli c;
		struct hu_rsp r;
		struct hu_conn_info ci;
		char want[] = "GET /next HTTP/1.1\r\n";
		int rc;

		if (idx % 2) {
			/* the next origin connection is an odd one: use it up */
			hu_cli_open(&c, p->port);
			cr_assert_eq(hu_cli_send(&c, "GET /skip HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
			rc = hu_read_rsp(&c, &r, false, hu_io_to());
			cr_assert_eq(rc, 0, "parity request: %s", strerror(-rc));
			hu_cli_close(&c);
			idx++;
		}
		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\n"
					     "Content-Length: 60000\r\n\r\n"), 0);
		rc = hu_send_body(&c, len, 5, false, 0);
		if (rc == 0)
			rc = hu_read_rsp(&c, &r, false, hu_io_to());
		idx++;
		if (rc != 0 || hu_has_header(&r, "Connection: close")) {
			/* closed after the answer (our upload may then see a reset) */
			hu_cli_close(&c);
			cr_assert(hu_origin_wait_accepted(o, idx, hu_io_to()) >= idx);
			continue;
		}
		cr_assert_str_eq(r.body, "ok");
		cr_assert_eq(hu_cli_send(&c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		rc = hu_read_rsp(&c, &r, false, hu_io_to());
		cr_assert_eq(rc, 0, "next request: %s", strerror(-rc));
		hu_conn_get(o, idx, &ci);
		cr_assert(strncmp(ci.raw, want, strlen(want)) == 0,
			  "try %d: the next server connection got %zu bytes for GET /next, "
			  "starting with:\n%.200s", i, ci.raw_len, ci.raw);
		hu_conn_info_free(&ci);
		idx++;
		hu_cli_close(&c);
	}
	h_proxy_finish(p);
}

Test(http_server, early_response_during_upload_closes_client_after_it)
{
	struct hu_script sc = { .act = HU_ACT_RAW, .no_read = true,
				.raw = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	struct h_sender snd;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /big HTTP/1.1\r\nHost: a\r\n"
				     "Content-Length: 20971520\r\n\r\n"), 0);
	h_sender_start_paced(&snd, c.fd, 20 * 1024 * 1024, 3, 64 * 1024, 1, true);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.body, "big!");
	cr_assert(hu_has_header(&r, "Connection: close"),
		  "answered before the end of its request: the connection cannot go on:\n%s",
		  r.head);
	rc = hu_cli_wait_eof(&c, hu_io_to(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET, "%s", strerror(-rc));
	h_sender_join(&snd);
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, server_stalling_mid_body_closes_client_at_timeout_server)
{
	struct hu_script sc = { .act = HU_ACT_CUT, .len = 100000, .cut = 30000, .seed = 4,
				.stall = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o, "300ms");
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;
	uint64_t ms;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /stall HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(r.status, 200);
	cr_assert_eq(rc, -EPROTO, "rc %d (%s), %llu body bytes", rc, strerror(-rc),
		     (unsigned long long)r.body_len);
	cr_assert_eq(r.body_len, 30000);
	hu_conn_get(o, 0, &ci);
	ms = h_now_ms() - ci.t_answered;
	cr_assert(ms >= 250 && ms <= 300 + 700u * (unsigned)h_slow(),
		  "client closed %llu ms after the server stalled, timeout_server 300ms",
		  (unsigned long long)ms);
	hu_conn_info_free(&ci);
	cr_assert(hu_conn_wait_end(o, 0, 2000 * h_slow()), "server connection left open");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, client_stalling_mid_upload_is_closed_at_timeout_client)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .nservers = 1, .timeout_client = "400ms" };
	struct h_proxy *p;
	struct hu_cli c;
	uint64_t t0, ms, extra = 0;
	int rc;

	conf.server_port[0] = hu_origin_port(o);
	p = hu_proxy_start(&conf);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
				     "0123456789"), 0);
	t0 = h_now_ms();
	rc = hu_cli_wait_eof(&c, 5000 * h_slow(), &extra);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET, "stalled uploader not closed: %s", strerror(-rc));
	cr_assert(ms >= 350 && ms <= 400 + 700u * (unsigned)h_slow(),
		  "stalled uploader closed after %llu ms, timeout_client 400ms (timeout_server "
		  "and timeout_http_request are longer)", (unsigned long long)ms);
	cr_assert(hu_conn_wait_end(o, 0, 2000 * h_slow()), "server connection left open");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_server, retry_after_refusal_keeps_the_request_body)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int ports[2] = { h_free_port(), hu_origin_port(o) };
	struct h_proxy *p = hu_proxy_for(2, ports);
	struct hu_cli c;
	const uint64_t len = 1024 * 1024;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 4; i++) {
		struct hu_rsp r;
		char want[128];

		cr_assert_eq(hu_cli_send(&c, "POST /r HTTP/1.1\r\nHost: a\r\n"
					     "Content-Length: 1048576\r\n\r\n"), 0);
		cr_assert_eq(hu_send_body(&c, len, 50u + (uint32_t)i, false, 0), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0, "request %d", i);
		snprintf(want, sizeof(want), "POST /r %llu %016llx\n", (unsigned long long)len,
			 (unsigned long long)h_pattern_hash(len, 50u + (uint32_t)i));
		cr_assert_str_eq(r.body, want, "request %d", i);
	}
	cr_assert_eq(hu_origin_accepted(o), 4);
	hu_cli_close(&c);
	h_proxy_finish(p);
}
