/*
 * Integration tests for relayed response bodies (tests/ layer): a body with
 * a Content-Length over 4 KiB goes to the client from the receive buffers,
 * without being parsed or copied. These check the edges of that path: bytes
 * a server sends past its Content-Length are never forwarded, a server that
 * sends the whole response and its FIN in one go (after a 1xx) gets a whole
 * response delivered and not a truncation, on plain and TLS frontends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

/* The scripted origin's thread may still be sending the response when a
 * test's assertions are done: the buffer is freed only after hu_teardown()
 * has stopped the origins. */
static char *g_raw;

static void relay_fini(void)
{
	hu_teardown();
	free(g_raw);
	g_raw = NULL;
}

TestSuite(relay, .init = h_setup, .fini = relay_fini, .timeout = 60);

/* head + len bytes of stream seed + tail, in one buffer freed by relay_fini
 * (one per test) */
static char *raw_response(const char *head, uint64_t len, uint32_t seed, const char *tail,
			  size_t *n)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *b = malloc(hl + len + tl);

	cr_assert_not_null(b);
	memcpy(b, head, hl);
	h_pattern(b + hl, len, 0, seed);
	memcpy(b + hl + len, tail, tl);
	*n = hl + len + tl;
	cr_assert_null(g_raw, "one raw response per test");
	g_raw = b;
	return b;
}

Test(relay, bytes_past_content_length_are_never_forwarded)
{
	size_t n;
	char *raw = raw_response("HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n", 20000, 7,
				 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", &n);
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = n };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(hu_cli_send(&c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0, "request %d", i);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(r.body_len, 20000);
		cr_assert_eq(r.body_hash, h_pattern_hash(20000, 7), "request %d: body differs", i);
		cr_assert_null(strstr(r.body, "EVIL"));
	}
	hu_cli_close(&c);
	h_proxy_finish(p);
}

#define EARLY "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" \
	      "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n"

Test(relay, whole_response_then_fin_after_1xx_is_delivered)
{
	size_t n;
	char *raw = raw_response(EARLY, 10000, 11, "", &n);
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = n,
				.close_after = true };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);

	for (int i = 0; i < 5; i++) {
		struct hu_cli c;
		struct hu_rsp r;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
		if (r.status == 103)
			cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
		cr_assert_eq(r.status, 200, "%s", r.head);
		cr_assert(r.complete);
		cr_assert_eq(r.body_len, 10000);
		cr_assert_eq(r.body_hash, h_pattern_hash(10000, 11));
		hu_cli_close(&c);
	}
	cr_assert_not(hu_log_has(p, "truncated"));
	h_proxy_finish(p);
}

Test(relay, whole_response_then_fin_after_1xx_over_tls)
{
	size_t n;
	char *raw = raw_response(EARLY, 10000, 12, "", &n);
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = n,
				.close_after = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct tu_conf tc = { .nservers = 1 };
	struct h_proxy *p;

	tc.server_port[0] = hu_origin_port(o);
	p = tu_proxy_start(&tc);
	for (int i = 0; i < 5; i++) {
		struct tu_opts opt = { .sni = "a.example.test" };
		struct tu_conn c;
		size_t got = 0, cap = 65536;
		char *buf = malloc(cap + 1);
		const char *head, *body;
		ssize_t k;

		cr_assert_not_null(buf);
		cr_assert_eq(tu_connect(&c, p->port, &opt), 0, "%s", c.errstr);
		cr_assert_eq(tu_send_str(&c, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
					  "\r\n"), 0);
		/* the 103, then the 200 and its body, then close_notify */
		while (got < cap && (k = tu_recv(&c, buf + got, cap - got)) > 0)
			got += (size_t)k;
		cr_assert_eq(k, 0, "the stream ended with %zd after %zu bytes, not close_notify",
			     k, got);
		buf[got] = '\0';
		head = strstr(buf, "HTTP/1.1 200 ");
		cr_assert_not_null(head, "%s", buf);
		body = strstr(head, "\r\n\r\n");
		cr_assert_not_null(body);
		body += 4;
		cr_assert_eq(buf + got - body, 10000, "body of %td bytes", buf + got - body);
		cr_assert_eq(h_fnv1a(H_FNV_INIT, body, 10000), h_pattern_hash(10000, 12));
		free(buf);
		tu_close(&c);
	}
	cr_assert_not(hu_log_has(p, "truncated"));
	h_proxy_finish(p);
}

Test(relay, short_of_content_length_is_a_truncation)
{
	size_t n;
	char *raw = raw_response("HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n", 30000, 13,
				 "", &n);
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = n,
				.close_after = true };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = hu_proxy_for(1, &port);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	hu_read_rsp(&c, &r, false, hu_io_to());
	cr_assert_eq(r.status, 200);
	cr_assert_not(r.complete, "a cut body was delivered as complete");
	cr_assert_eq(r.body_len, 30000);
	cr_assert(r.eof);
	hu_cli_close(&c);
	cr_assert(hu_log_has(p, "bytes short of its Content-Length"));
	h_proxy_finish(p);
}
