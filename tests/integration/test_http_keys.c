/*
 * http frontend keys through the real binary: keepalive_requests (the last
 * response says Connection: close and the connection ends), forwardfor
 * (off: nothing added, client values pass as sent; on: X-Forwarded-For and
 * X-Forwarded-Proto), max_header_size and max_headers (431, nothing
 * forwarded), and route (host / path_prefix, per request on one client
 * connection, Host with a port, first match wins, default backend).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_keys, .init = h_setup, .fini = hu_teardown, .timeout = 60);

static int to(void)
{
	return hu_io_to();
}

/* An http frontend with fe_keys (lines ending in \n) in front of backend
 * "app" (one http-server-close server on app_port); extra_backends is
 * appended as it is (whole [backend ...] sections, may be NULL). */
static struct h_proxy *proxy_with(const char *fe_keys, int app_port, const char *extra_backends)
{
	char conf[4096];
	int port = h_free_port();
	int n = snprintf(conf, sizeof(conf),
			 "[global]\n"
			 "workers = 1\n"
			 "maxconn = 4000\n"
			 "log = stderr\n"
			 "grace = 1s\n"
			 "\n"
			 "[defaults]\n"
			 "timeout_connect = 500ms\n"
			 "timeout_client = 10s\n"
			 "timeout_server = 10s\n"
			 "timeout_client_fin = 300ms\n"
			 "timeout_server_fin = 300ms\n"
			 "timeout_http_request = 5s\n"
			 "timeout_http_keep_alive = 5s\n"
			 "\n"
			 "[frontend web]\n"
			 "bind = 127.0.0.1:%d\n"
			 "mode = http\n"
			 "backend = app\n"
			 "%s"
			 "\n"
			 "[backend app]\n"
			 "mode = http-server-close\n"
			 "server = s1 127.0.0.1:%d\n"
			 "\n"
			 "%s",
			 port, fe_keys ? fe_keys : "", app_port,
			 extra_backends ? extra_backends : "");

	cr_assert(n > 0 && (size_t)n < sizeof(conf));
	return h_proxy_start_text(conf, port);
}

static void expect_rsp(struct hu_cli *c, struct hu_rsp *r, int status)
{
	int rc = hu_read_rsp(c, r, false, to());

	cr_assert_eq(rc, 0, "no complete response: %s; got %zu head bytes:\n%s", strerror(-rc),
		     r->head_len, r->head);
	cr_assert_eq(r->status, status, "status %d, expected %d:\n%s", r->status, status,
		     r->head);
}

/* The proxy closes the client connection with nothing more sent. */
static void expect_client_closed(struct hu_cli *c, const char *after)
{
	uint64_t extra = 0;
	int rc = hu_cli_wait_eof(c, 2000 * h_slow(), &extra);

	cr_assert_eq(rc, 0, "client connection not closed after %s: %s", after, strerror(-rc));
	cr_assert_eq(extra, 0, "%llu more bytes sent after %s", (unsigned long long)extra,
		     after);
}

static bool has_connection_header(const struct hu_rsp *r)
{
	char v[128];

	return hu_header(r, "Connection", v, sizeof(v));
}

/* ---- keepalive_requests --------------------------------------------------- */

Test(http_keys, keepalive_requests_closes_after_the_last_request)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with("keepalive_requests = 3\n", hu_origin_port(o), NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	for (int i = 1; i <= 2; i++) {
		char req[128], want[64];

		snprintf(req, sizeof(req), "GET /k%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
		cr_assert_eq(hu_cli_send(&c, req), 0);
		expect_rsp(&c, &r, 200);
		snprintf(want, sizeof(want), "GET /k%d 0 ", i);
		cr_assert(strncmp(r.body, want, strlen(want)) == 0, "response %d: %s", i, r.body);
		cr_assert(!has_connection_header(&r),
			  "response %d of 3 carries a Connection header:\n%s", i, r.head);
	}
	/* the 3rd request with a 4th pipelined behind it: the 3rd is the last
	 * one this connection serves, the 4th is discarded */
	cr_assert_eq(hu_cli_send(&c, "GET /k3 HTTP/1.1\r\nHost: a\r\n\r\n"
				     "GET /k4 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	cr_assert(strncmp(r.body, "GET /k3 0 ", 10) == 0, "response 3: %s", r.body);
	cr_assert(hu_has_header(&r, "Connection: close"),
		  "response 3 of keepalive_requests = 3 without Connection: close:\n%s", r.head);
	expect_client_closed(&c, "the 3rd response");
	h_sleep_ms(100 * (unsigned)h_slow());
	cr_assert_eq(hu_origin_accepted(o), 3, "the origin saw %d requests, expected 3",
		     hu_origin_accepted(o));
	hu_cli_close(&c);

	/* the count is per client connection: a new one starts over */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /n1 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	cr_assert(strncmp(r.body, "GET /n1 0 ", 10) == 0, "%s", r.body);
	cr_assert(!has_connection_header(&r), "first response of a new connection:\n%s",
		  r.head);
	cr_assert_eq(hu_origin_accepted(o), 4);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_keys, keepalive_requests_request_after_the_close_is_not_forwarded)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with("keepalive_requests = 3\n", hu_origin_port(o), NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(hu_cli_send(&c, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		expect_rsp(&c, &r, 200);
		cr_assert_eq(hu_has_header(&r, "Connection: close"), i == 3,
			     "response %d:\n%s", i, r.head);
	}
	/* a 4th request sent after the 3rd response, in sequence: the proxy
	 * may discard it or reset, but never answer or forward it */
	(void)hu_cli_send(&c, "GET /k4 HTTP/1.1\r\nHost: a\r\n\r\n");
	rc = hu_cli_wait_eof(&c, 2000 * h_slow(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET || rc == -EPIPE,
		  "client connection not closed after the 3rd response: %s", strerror(-rc));
	cr_assert_eq(extra, 0, "%llu bytes answered a 4th request",
		     (unsigned long long)extra);
	h_sleep_ms(100 * (unsigned)h_slow());
	cr_assert_eq(hu_origin_accepted(o), 3, "the origin saw %d requests, expected 3",
		     hu_origin_accepted(o));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- forwardfor ----------------------------------------------------------- */

Test(http_keys, forwardfor_off_adds_nothing_and_keeps_client_values)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with("forwardfor = off\n", hu_origin_port(o), NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	hu_conn_expect_raw(o, 0, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(hu_cli_send(&c, "GET /xff HTTP/1.1\r\nHost: a\r\n"
				     "X-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\n"
				     "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n"
				     "X-Forwarded-Proto: https\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	hu_conn_expect_raw(o, 1, "GET /xff HTTP/1.1\r\nHost: a\r\n"
				 "X-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\n"
				 "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n"
				 "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

static void forwardfor_on(const char *fe_keys)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with(fe_keys, hu_origin_port(o), NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	hu_conn_expect_raw(o, 0, "GET /plain HTTP/1.1\r\nHost: a\r\n"
				 "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
				 "Connection: close\r\n\r\n");
	cr_assert_eq(hu_cli_send(&c, "GET /xff HTTP/1.1\r\nHost: a\r\n"
				     "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n\r\n"),
		     0);
	expect_rsp(&c, &r, 200);
	hu_conn_expect_raw(o, 1, "GET /xff HTTP/1.1\r\nHost: a\r\n"
				 "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
				 "Connection: close\r\n\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_keys, forwardfor_default_is_on)
{
	forwardfor_on(NULL);
}

Test(http_keys, forwardfor_on_explicitly)
{
	forwardfor_on("forwardfor = on\n");
}

/* ---- max_header_size, max_headers ------------------------------------------ */

/* "GET /PATH HTTP/1.1\r\nHost: a\r\nX-Pad: xxx...\r\n\r\n", total bytes long. */
static char *padded_request(const char *path, size_t total)
{
	char *s = malloc(total + 1);
	int n;

	cr_assert(s);
	n = snprintf(s, total + 1, "GET %s HTTP/1.1\r\nHost: a\r\nX-Pad: ", path);
	cr_assert(n > 0 && (size_t)n + 4 < total);
	memset(s + n, 'x', total - (size_t)n - 4);
	memcpy(s + total - 4, "\r\n\r\n", 5);
	cr_assert_eq(strlen(s), total);
	return s;
}

Test(http_keys, max_header_size_2k)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with("max_header_size = 2k\n", hu_origin_port(o), NULL);
	char *small = padded_request("/small", 1536);
	char *big = padded_request("/big", 3072);
	struct hu_cli c;
	struct hu_rsp r;
	struct hu_conn_info ci;

	/* 1.5 KiB is served, on a keep-alive connection */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, small), 0);
	expect_rsp(&c, &r, 200);
	cr_assert(strncmp(r.body, "GET /small 0 ", 13) == 0, "%s", r.body);
	hu_conn_get(o, 0, &ci);
	cr_assert(ci.head_len > 1536 && strncmp(ci.raw, small, 1536 - 2) == 0,
		  "the origin got a %zu-byte head:\n%.200s", ci.head_len, ci.raw);
	hu_conn_info_free(&ci);
	/* 3 KiB on the same connection: 431, closed, nothing forwarded */
	cr_assert_eq(hu_cli_send(&c, big), 0);
	expect_rsp(&c, &r, 431);
	expect_client_closed(&c, "the 431");
	h_sleep_ms(100 * (unsigned)h_slow());
	cr_assert_eq(hu_origin_accepted(o), 1, "a 3 KiB head reached the origin");
	hu_cli_close(&c);
	/* and as the first request of a connection */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, big), 0);
	expect_rsp(&c, &r, 431);
	expect_client_closed(&c, "the 431");
	hu_cli_close(&c);
	h_sleep_ms(100 * (unsigned)h_slow());
	cr_assert_eq(hu_origin_accepted(o), 1, "a 3 KiB head reached the origin");
	cr_assert(hu_log_has(p, "431"), "no log line for the 431");
	free(small);
	free(big);
	h_proxy_finish(p);
}

Test(http_keys, max_headers_5_counts_host)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy_with("max_headers = 5\n", hu_origin_port(o), NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /five HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
				     "D: 4\r\n\r\n"), 0);
	expect_rsp(&c, &r, 200);
	cr_assert(strncmp(r.body, "GET /five 0 ", 12) == 0, "%s", r.body);
	hu_conn_expect_raw(o, 0, "GET /five HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
				 "D: 4\r\nX-Forwarded-For: 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n");
	cr_assert_eq(hu_cli_send(&c, "GET /six HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
				     "D: 4\r\nE: 5\r\n\r\n"), 0);
	expect_rsp(&c, &r, 431);
	expect_client_closed(&c, "the 431");
	hu_cli_close(&c);
	/* Host counts: Host + 5 others is 6 too */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /six HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: a\r\nC: 3\r\n"
				     "D: 4\r\nE: 5\r\n\r\n"), 0);
	expect_rsp(&c, &r, 431);
	expect_client_closed(&c, "the 431");
	hu_cli_close(&c);
	h_sleep_ms(100 * (unsigned)h_slow());
	cr_assert_eq(hu_origin_accepted(o), 1, "a head of 6 fields reached the origin");
	h_proxy_finish(p);
}

/* ---- route ------------------------------------------------------------------ */

struct routed {
	struct hu_origin *def, *api, *stat;
	int n_def, n_api, n_stat;
};

static void start_route_origins(struct routed *rt)
{
	static const struct hu_script def = {
		.act = HU_ACT_RAW, .raw = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef" };
	static const struct hu_script api = {
		.act = HU_ACT_RAW, .raw = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\napi" };
	static const struct hu_script stat = {
		.act = HU_ACT_RAW, .raw = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstatic" };

	memset(rt, 0, sizeof(*rt));
	rt->def = hu_origin_start(&def);
	rt->api = hu_origin_start(&api);
	rt->stat = hu_origin_start(&stat);
}

static const char *route_backends(const struct routed *rt, char *buf, size_t n)
{
	int k = snprintf(buf, n,
			 "[backend api]\n"
			 "mode = http-server-close\n"
			 "server = a1 127.0.0.1:%d\n"
			 "\n"
			 "[backend static]\n"
			 "mode = http-server-close\n"
			 "server = st1 127.0.0.1:%d\n",
			 hu_origin_port(rt->api), hu_origin_port(rt->stat));

	cr_assert(k > 0 && (size_t)k < n);
	return buf;
}

/* Sends one request for target with this Host on c and checks that the
 * origin `want` ("def", "api", "static") answered it and received it. */
static void expect_routed(struct hu_cli *c, struct routed *rt, const char *target,
			  const char *host, const char *want)
{
	struct hu_origin *o;
	int *n;
	char req[512], line[300];
	struct hu_rsp r;
	struct hu_conn_info ci;

	if (!strcmp(want, "api")) {
		o = rt->api;
		n = &rt->n_api;
	} else if (!strcmp(want, "static")) {
		o = rt->stat;
		n = &rt->n_stat;
	} else {
		o = rt->def;
		n = &rt->n_def;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host);
	cr_assert_eq(hu_cli_send(c, req), 0);
	expect_rsp(c, &r, 200);
	cr_assert_str_eq(r.body, want, "GET %s with Host: %s went to \"%s\", expected \"%s\"",
			 target, host, r.body, want);
	cr_assert(!has_connection_header(&r), "%s", r.head);
	(*n)++;
	cr_assert_eq(hu_origin_accepted(rt->api), rt->n_api, "GET %s Host: %s", target, host);
	cr_assert_eq(hu_origin_accepted(rt->stat), rt->n_stat, "GET %s Host: %s", target, host);
	cr_assert_eq(hu_origin_accepted(rt->def), rt->n_def, "GET %s Host: %s", target, host);
	cr_assert(hu_conn_wait_request(o, *n - 1, 2000 * h_slow()));
	hu_conn_get(o, *n - 1, &ci);
	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host);
	cr_assert(strncmp(ci.raw, line, strlen(line)) == 0, "%s connection %d got:\n%s", want,
		  *n - 1, ci.raw);
	hu_conn_info_free(&ci);
}

Test(http_keys, route_by_host_and_path_prefix_per_request)
{
	struct routed rt;
	char be[1024];
	struct h_proxy *p;
	struct hu_cli c;

	start_route_origins(&rt);
	p = proxy_with("route = host api.example.com backend api\n"
		       "route = path_prefix /static/ backend static\n",
		       hu_origin_port(rt.def), route_backends(&rt, be, sizeof(be)));
	/* every request on one client keep-alive connection */
	hu_cli_open(&c, p->port);
	expect_routed(&c, &rt, "/", "api.example.com", "api");
	expect_routed(&c, &rt, "/static/app.css", "www.example.com", "static");
	expect_routed(&c, &rt, "/index.html", "www.example.com", "def");
	expect_routed(&c, &rt, "/v1/users", "api.example.com:8080", "api");
	expect_routed(&c, &rt, "/static/x", "www.example.com:80", "static");
	/* first matching route wins: the host route is listed first */
	expect_routed(&c, &rt, "/static/logo.png", "api.example.com", "api");
	expect_routed(&c, &rt, "/static/logo.png", "api.example.com:443", "api");
	/* Host is compared case-insensitively, the name exactly */
	expect_routed(&c, &rt, "/", "API.Example.COM", "api");
	expect_routed(&c, &rt, "/", "api.example.com.evil", "def");
	expect_routed(&c, &rt, "/", "xapi.example.com", "def");
	/* the prefix includes its trailing slash */
	expect_routed(&c, &rt, "/static", "www.example.com", "def");
	expect_routed(&c, &rt, "/staticfoo/a", "www.example.com", "def");
	expect_routed(&c, &rt, "/static/?q=1", "www.example.com", "static");
	/* back to the default, then the others again */
	expect_routed(&c, &rt, "/", "www.example.com", "def");
	expect_routed(&c, &rt, "/static/y", "localhost", "static");
	expect_routed(&c, &rt, "/", "api.example.com", "api");
	cr_assert_eq(rt.n_api, 6);
	cr_assert_eq(rt.n_stat, 4);
	cr_assert_eq(rt.n_def, 6);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_keys, route_first_match_wins_in_file_order)
{
	struct routed rt;
	char be[1024];
	struct h_proxy *p;
	struct hu_cli c;

	start_route_origins(&rt);
	/* the same two routes, path_prefix listed first */
	p = proxy_with("route = path_prefix /static/ backend static\n"
		       "route = host api.example.com backend api\n",
		       hu_origin_port(rt.def), route_backends(&rt, be, sizeof(be)));
	hu_cli_open(&c, p->port);
	expect_routed(&c, &rt, "/static/logo.png", "api.example.com", "static");
	expect_routed(&c, &rt, "/logo.png", "api.example.com:8443", "api");
	expect_routed(&c, &rt, "/static/logo.png", "api.example.com:8443", "static");
	expect_routed(&c, &rt, "/logo.png", "www.example.com", "def");
	cr_assert_eq(rt.n_api, 1);
	cr_assert_eq(rt.n_stat, 2);
	cr_assert_eq(rt.n_def, 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}
