/*
 * http mode, the client connection's life: a client FIN when idle closes at
 * once; a request then FIN gets its response then the close (and the server
 * connection is not left open); after a Connection: close response the proxy
 * shuts its write side, discards what the client still sends and closes on
 * the client's FIN or after timeout_client_fin; timeout_http_keep_alive
 * closes idle keep-alive clients silently; timeout_http_request cuts
 * slowloris heads with a 408; Upgrade becomes a tunnel only after the 101.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_conn, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define FIN_PROMPT_MS 100 /* "well under 10 ms"; margin for sanitizer builds */

static struct h_proxy *proxy_conf(struct hu_origin *o, struct hu_conf *c)
{
	c->nservers = 1;
	c->server_port[0] = hu_origin_port(o);
	return hu_proxy_start(c);
}

static void get_ok(struct hu_cli *c, const char *path)
{
	struct hu_rsp r;
	char req[256];
	int rc;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	cr_assert_eq(hu_cli_send(c, req), 0);
	rc = hu_read_rsp(c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "GET %s: %s", path, strerror(-rc));
	cr_assert_eq(r.status, 200, "GET %s: %d", path, r.status);
}

/* Waits for EOF from the proxy; returns ms from t0. */
static uint64_t eof_after(struct hu_cli *c, uint64_t t0, int timeout_ms, const char *what)
{
	uint64_t extra = 0;
	int rc = hu_cli_wait_eof(c, timeout_ms, &extra);

	cr_assert(rc == 0 || rc == -ECONNRESET, "%s: not closed: %s", what, strerror(-rc));
	cr_assert_eq(extra, 0, "%s: %llu unexpected bytes before the close", what,
		     (unsigned long long)extra);
	return h_now_ms() - t0;
}

/* Waits until the proxy holds no more fds than at start; returns ms. */
static uint64_t fds_back_after(struct h_proxy *p, uint64_t t0, int timeout_ms)
{
	while (h_proxy_fd_count(p) != p->fd_baseline && h_now_ms() - t0 < (uint64_t)timeout_ms)
		h_sleep_ms(2);
	return h_now_ms() - t0;
}

/* ---- client FIN ------------------------------------------------------------ */

Test(http_conn, idle_new_client_fin_closes_at_once)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	h_sleep_ms(50);
	t0 = h_now_ms();
	shutdown(c.fd, SHUT_WR);
	ms = eof_after(&c, t0, 2000 * h_slow(), "idle client after its FIN");
	cr_assert(ms < FIN_PROMPT_MS, "idle client closed %llu ms after its FIN",
		  (unsigned long long)ms);
	ms = fds_back_after(p, t0, 2000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS, "its socket closed %llu ms after its FIN",
		  (unsigned long long)ms);
	cr_assert_eq(hu_origin_accepted(o), 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, idle_keep_alive_client_fin_closes_at_once)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	get_ok(&c, "/1");
	get_ok(&c, "/2");
	h_sleep_ms(50);
	t0 = h_now_ms();
	shutdown(c.fd, SHUT_WR);
	ms = eof_after(&c, t0, 2000 * h_slow(), "idle keep-alive client after its FIN");
	cr_assert(ms < FIN_PROMPT_MS, "idle keep-alive client closed %llu ms after its FIN",
		  (unsigned long long)ms);
	ms = fds_back_after(p, t0, 2000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS, "its socket closed %llu ms after its FIN",
		  (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, request_then_fin_gets_the_response_then_the_close)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 200 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;
	uint64_t t0, ms;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /last HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	shutdown(c.fd, SHUT_WR);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "no response after request + FIN: %s", strerror(-rc));
	cr_assert_eq(r.status, 200);
	cr_assert(strncmp(r.body, "GET /last 0 ", 12) == 0, "%s", r.body);
	cr_assert(hu_has_header(&r, "Connection: close"),
		  "the last response before the close should say so:\n%s", r.head);
	t0 = h_now_ms();
	ms = eof_after(&c, t0, 2000 * h_slow(), "client after its response");
	cr_assert(ms < FIN_PROMPT_MS, "closed %llu ms after the response", (unsigned long long)ms);
	cr_assert(hu_conn_wait_end(o, 0, 1000 * h_slow()), "server connection left open");
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.end, 0);
	cr_assert(ci.t_end - ci.t_answered < 500u * (unsigned)h_slow(),
		  "server connection closed %llu ms after its response",
		  (unsigned long long)(ci.t_end - ci.t_answered));
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, pipelined_requests_then_fin_are_all_answered)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 30 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
				     "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
				     "GET /c HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	shutdown(c.fd, SHUT_WR);
	for (int i = 0; i < 3; i++) {
		static const char *const want[] = { "GET /a 0 ", "POST /b 3 ", "GET /c 0 " };
		int rc = hu_read_rsp(&c, &r, false, hu_io_to());

		cr_assert_eq(rc, 0, "response %d: %s", i, strerror(-rc));
		cr_assert(strncmp(r.body, want[i], strlen(want[i])) == 0, "response %d: %s", i,
			  r.body);
	}
	eof_after(&c, h_now_ms(), 2000 * h_slow(), "client after its responses");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, fin_in_the_middle_of_a_head_closes)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /partial HTTP/1.1\r\nHost: a\r\n"), 0);
	h_sleep_ms(50);
	t0 = h_now_ms();
	shutdown(c.fd, SHUT_WR);
	ms = fds_back_after(p, t0, 2000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS, "closed %llu ms after a FIN in a head",
		  (unsigned long long)ms);
	eof_after(&c, t0, 2000 * h_slow(), "client after a FIN in its head");
	cr_assert_eq(hu_origin_bytes(o), 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, fin_in_the_middle_of_a_body_closes_both_sides)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_conn_info ci;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
				     "0123456789"), 0);
	cr_assert_eq(hu_origin_wait_accepted(o, 1, hu_io_to()), 1);
	h_sleep_ms(50);
	t0 = h_now_ms();
	shutdown(c.fd, SHUT_WR);
	ms = fds_back_after(p, t0, 2000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS * (unsigned)h_slow(),
		  "closed %llu ms after a FIN in a body", (unsigned long long)ms);
	cr_assert(hu_conn_wait_end(o, 0, 1000 * h_slow()), "server connection left open");
	hu_conn_get(o, 0, &ci);
	cr_assert(!ci.req_complete);
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- closing after a response ------------------------------------------------ */

/* A response after which the proxy closes the client: asked for by the
 * client (Connection: close), or decided by the server (a body that runs
 * until it closes). With lingering_close = on the first is closed at once;
 * everything else lingers. */
static struct h_proxy *close_response(struct hu_origin **op, struct hu_cli *c, bool client_asks,
				      const char *fin, const char *lingering)
{
	struct hu_script sc = { .act = client_asks ? HU_ACT_INFO : HU_ACT_CLOSE, .len = 100,
				.seed = 3 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_client_fin = fin, .lingering_close = lingering };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_rsp r;
	int rc;

	*op = o;
	hu_cli_open(c, p->port);
	cr_assert_eq(hu_cli_send(c, client_asks ?
				 "GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" :
				 "GET /bye HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	/* the proxy shut its write side: EOF, while our side stays open */
	eof_after(c, h_now_ms(), 2000 * h_slow(), "client after its last response");
	return p;
}

/* The proxy still holds the client's socket (a lingering close), and lets
 * it go at once when the client's FIN comes. */
static void lingers_until_fin(struct h_proxy *p, struct hu_cli *c, const char *early)
{
	uint64_t t0, ms;

	cr_assert(h_proxy_fd_count(p) > p->fd_baseline, "%s", early);
	t0 = h_now_ms();
	shutdown(c->fd, SHUT_WR);
	ms = fds_back_after(p, t0, 2000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS, "closed %llu ms after the client's FIN",
		  (unsigned long long)ms);
}

Test(http_conn, lingering_close_on_closes_a_client_that_asked_for_it_at_once)
{
	struct hu_origin *o;
	struct hu_cli c;
	struct h_proxy *p = close_response(&o, &c, true, "10s", "on");
	uint64_t t0 = h_now_ms(), ms, extra = 0;

	/* it sends nothing more (RFC 9112, 9.6): no lingering close, which
	 * would hold the socket until our FIN or timeout_client_fin (10 s) */
	ms = fds_back_after(p, t0, 3000 * h_slow());
	cr_assert(ms < FIN_PROMPT_MS, "closed %llu ms after the response while the client "
		  "keeps its side open", (unsigned long long)ms);
	/* a FIN behind the response, not a reset */
	cr_assert_eq(hu_cli_wait_eof(&c, 1000, &extra), 0);
	cr_assert_eq(extra, 0);
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, by_default_a_client_that_asked_for_the_close_lingers_until_its_fin)
{
	struct hu_origin *o;
	struct hu_cli c;
	struct h_proxy *p = close_response(&o, &c, true, "10s", NULL);

	/* lingering_close = always: the socket stays ours until the client's
	 * FIN (no orphan whose tail a kernel short of memory would reset) */
	h_sleep_ms(200);
	lingers_until_fin(p, &c, "closed before the client's FIN");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, after_a_close_delimited_response_client_fin_closes_at_once)
{
	struct hu_origin *o;
	struct hu_cli c;
	struct h_proxy *p = close_response(&o, &c, false, "400ms", "on");

	/* what the client still sends is discarded, never forwarded */
	cr_assert_eq(hu_cli_send(&c, "GET /more HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	h_sleep_ms(50);
	lingers_until_fin(p, &c,
			  "closed before the client's FIN (an RST could destroy the response)");
	cr_assert_eq(hu_origin_accepted(o), 1);
	hu_conn_expect_raw(o, 0, "GET /bye HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, after_a_close_delimited_response_silent_client_closed_at_timeout_client_fin)
{
	struct hu_origin *o;
	struct hu_cli c;
	struct h_proxy *p = close_response(&o, &c, false, "400ms", "on");
	uint64_t t0 = h_now_ms(), ms;

	ms = fds_back_after(p, t0, 3000 * h_slow());
	cr_assert(ms >= 300 && ms <= 400 + 700u * (unsigned)h_slow(),
		  "lingering client closed after %llu ms, timeout_client_fin is 400ms",
		  (unsigned long long)ms);
	cr_assert(h_probe_closed(c.fd, 1000 * h_slow()), "the proxy's socket still answers");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- timeout_http_keep_alive, timeout_http_request ----------------------- */

Test(http_conn, idle_keep_alive_client_closed_silently_at_timeout)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_keep_alive = "300ms" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0, ms;

	hu_cli_open(&c, p->port);
	get_ok(&c, "/1");
	t0 = h_now_ms();
	ms = eof_after(&c, t0, 3000 * h_slow(), "idle keep-alive client");
	cr_assert(ms >= 250 && ms <= 300 + 700u * (unsigned)h_slow(),
		  "idle keep-alive client closed after %llu ms, timeout_http_keep_alive 300ms",
		  (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, busy_keep_alive_client_is_not_cut)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_keep_alive = "300ms" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 8; i++) {
		get_ok(&c, "/busy");
		h_sleep_ms(150);
	}
	cr_assert_eq(hu_origin_accepted(o), 8);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, keep_alive_timeout_does_not_cut_a_slow_response)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 600 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_keep_alive = "200ms",
				.timeout_http_request = "300ms" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	get_ok(&c, "/1");
	get_ok(&c, "/2");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, new_silent_client_closed_silently_at_timeout_http_request)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_request = "400ms" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0, ms;

	t0 = h_now_ms();
	hu_cli_open(&c, p->port);
	ms = eof_after(&c, t0, 3000 * h_slow(), "silent new client");
	cr_assert(ms >= 350 && ms <= 400 + 700u * (unsigned)h_slow(),
		  "silent client closed after %llu ms, timeout_http_request 400ms",
		  (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* Drips a head that never ends, one byte every 40 ms from t0 (activity must
 * not extend the deadline), until a response shows up; expects a 408 at
 * limit_ms after t0 and nothing forwarded. */
static void slowloris(struct hu_cli *c, uint64_t t0, struct hu_origin *o, unsigned limit_ms)
{
	static const char head[] = "GET /slowloris HTTP/1.1\r\nHost: a\r\nX-Drip: ";
	struct hu_rsp r;
	uint64_t ms, before = hu_origin_bytes(o);
	int rc;

	for (size_t i = 0; h_now_ms() - t0 < 3u * limit_ms * (unsigned)h_slow(); i++) {
		char b;

		if (hu_cli_send_n(c, i < sizeof(head) - 1 ? head + i : "x", 1) < 0)
			break;
		h_sleep_ms(40);
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			break;
	}
	rc = hu_read_rsp(c, &r, false, 3000 * h_slow());
	ms = h_now_ms() - t0;
	cr_assert_eq(rc, 0, "no 408: %s; got %zu bytes:\n%s", strerror(-rc), r.head_len, r.head);
	cr_assert_eq(r.status, 408, "%s", r.head);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	cr_assert(ms >= limit_ms - 50 && ms <= limit_ms + 40 + 700u * (unsigned)h_slow(),
		  "408 after %llu ms of dripping, timeout_http_request %u ms",
		  (unsigned long long)ms, limit_ms);
	eof_after(c, h_now_ms(), 2000 * h_slow(), "client after its 408");
	h_sleep_ms(50);
	cr_assert_eq(hu_origin_bytes(o), before, "the origin received part of a slowloris head");
}

Test(http_conn, slowloris_head_gets_408_at_timeout_http_request)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_request = "500ms" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	uint64_t t0 = h_now_ms();

	hu_cli_open(&c, p->port);
	slowloris(&c, t0, o, 500);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, slowloris_second_request_gets_408)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { .timeout_http_request = "500ms",
				.timeout_http_keep_alive = "2s" };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	get_ok(&c, "/first");
	slowloris(&c, h_now_ms(), o, 500);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- Upgrade -------------------------------------------------------------- */

#define UPGRADE_REQ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n" \
		    "Upgrade: echo\r\nSec-Test: 1\r\n\r\n"
#define SWITCH "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"

Test(http_conn, upgrade_becomes_a_tunnel_only_after_101)
{
	struct hu_script sc = { .act = HU_ACT_UPGRADE, .raw = SWITCH, .delay_ms = 200 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;
	char early[5];
	struct h_sender snd;
	struct h_rx rx;
	const uint64_t len = 2 * 1024 * 1024;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ "EARLY"), 0);
	rc = hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(r.status, 101, "%s", r.head);
	cr_assert(hu_has_header(&r, "Upgrade: echo"), "%s", r.head);
	cr_assert(hu_has_header(&r, "Connection: upgrade") || hu_has_header(&r,
		  "Connection: Upgrade"), "%s", r.head);
	/* bytes sent after the head reach the server only after its 101 */
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.pre_101, ci.head_len,
		     "%zu bytes reached the server before its 101, head is %zu:\n%s",
		     ci.pre_101, ci.head_len, ci.raw);
	cr_assert(strstr(ci.raw, "\r\nUpgrade: echo\r\n") && strstr(ci.raw, "\r\nSec-Test: 1\r\n"),
		  "%s", ci.raw);
	cr_assert(strcasestr(ci.raw, "\r\nConnection: upgrade\r\n"), "%s", ci.raw);
	hu_conn_info_free(&ci);
	/* the early bytes come back through the tunnel (maybe buffered) */
	{
		size_t have = c.len - c.off;

		if (have > sizeof(early))
			have = sizeof(early);
		memcpy(early, c.buf + c.off, have);
		c.off += have;
		if (have < sizeof(early))
			cr_assert_eq(h_recv_exact(c.fd, early + have, sizeof(early) - have,
						  hu_io_to()), 0);
		cr_assert(memcmp(early, "EARLY", 5) == 0);
	}
	/* then 2 MiB both ways, then the client's FIN travels to the server
	 * and the server's FIN back */
	h_sender_start(&snd, c.fd, len, 61, true);
	h_rx_init(&rx);
	h_recv_all(c.fd, &rx, UINT64_MAX, -1, hu_io_to());
	cr_assert_eq(h_sender_join(&snd), 0);
	cr_assert_eq(rx.end, 0, "tunnel not closed: %s", strerror(-rx.end));
	cr_assert_eq(rx.bytes, len);
	cr_assert_eq(rx.hash, h_pattern_hash(len, 61));
	cr_assert(hu_conn_wait_end(o, 0, 2000 * h_slow()));
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.end, 0, "the server did not get the client's FIN");
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, refused_upgrade_stays_http)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "no");
	/* the connection goes on as HTTP */
	cr_assert_eq(hu_cli_send(&c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_conn_expect_raw(o, 1, "GET /next HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_conn, upgrade_tunnel_server_fin_reaches_client)
{
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = SWITCH "bye", .close_after = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct hu_conf conf = { 0 };
	struct h_proxy *p = proxy_conf(o, &conf);
	struct hu_cli c;
	struct hu_rsp r;
	char bye[3];
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 101);
	{
		size_t have = c.len - c.off;

		if (have > 3)
			have = 3;
		memcpy(bye, c.buf + c.off, have);
		c.off += have;
		if (have < 3)
			cr_assert_eq(h_recv_exact(c.fd, bye + have, 3 - have, hu_io_to()), 0);
	}
	cr_assert(memcmp(bye, "bye", 3) == 0);
	rc = hu_cli_wait_eof(&c, 2000 * h_slow(), &extra);
	cr_assert_eq(rc, 0, "server FIN not propagated through the tunnel: %s", strerror(-rc));
	/* the client may still send (half-closed tunnel), then closes */
	shutdown(c.fd, SHUT_WR);
	hu_cli_close(&c);
	h_proxy_finish(p);
}
