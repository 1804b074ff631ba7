/*
 * http mode, the findings of the issue 14 fuzzing, through the real binary:
 * empty lines before a request or status line are never forwarded (a stray
 * CRLF after a POST body on a keep-alive connection included); a request
 * line that is not exactly method SP target SP version is a 400 that reaches
 * no server, and a valid one is routed on exactly the path forwarded; an
 * invalid status line is a 502 and its server connection is closed, never
 * pooled; error pages in answer to HEAD carry no body; in http-keep-alive
 * mode a server connection on which bytes arrived beyond the response, or
 * whose response came before its request was fully sent, is never reused.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_strict, .init = h_setup, .fini = hu_teardown, .timeout = 60);

static int to(void)
{
	return hu_io_to();
}

/* An http frontend on backend "app" (mode be_mode, server app_port); with
 * admin_port, "route = path_prefix /admin backend admin" to a second one. */
static struct h_proxy *proxy(const char *be_mode, int app_port, int admin_port)
{
	char conf[4096], admin[256] = "";
	int port = h_free_port();
	int n;

	if (admin_port)
		snprintf(admin, sizeof(admin), "\n[backend admin]\nmode = http-server-close\n"
			 "server = a1 127.0.0.1:%d\n", admin_port);
	n = snprintf(conf, sizeof(conf),
		     "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n\n"
		     "[defaults]\ntimeout_connect = 500ms\ntimeout_client = 10s\n"
		     "timeout_server = 10s\ntimeout_client_fin = 300ms\n"
		     "timeout_server_fin = 300ms\ntimeout_http_request = 5s\n"
		     "timeout_http_keep_alive = 5s\n\n"
		     "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n%s\n"
		     "[backend app]\nmode = %s\nserver = s1 127.0.0.1:%d\n%s",
		     port, admin_port ? "route = path_prefix /admin backend admin\n" : "",
		     be_mode, app_port, admin);
	cr_assert(n > 0 && (size_t)n < sizeof(conf));
	return h_proxy_start_text(conf, port);
}

static void expect_status(struct hu_cli *c, int status, bool head)
{
	struct hu_rsp r;
	int rc = hu_read_rsp(c, &r, head, to());

	cr_assert_eq(rc, 0, "no complete response: %s (%zu bytes: %s)", strerror(-rc), r.head_len,
		     r.head);
	cr_assert_eq(r.status, status, "status %d, expected %d:\n%s%s", r.status, status, r.head,
		     r.body);
}

/* The origin's connection idx received a head starting with prefix. */
static void expect_forwarded(struct hu_origin *o, int idx, const char *prefix)
{
	struct hu_conn_info ci;

	cr_assert(hu_conn_wait_request(o, idx, to()), "no request on server connection %d", idx);
	hu_conn_get(o, idx, &ci);
	cr_assert(!strncmp(ci.raw, prefix, strlen(prefix)), "server connection %d got:\n%s\n"
		  "expected it to start with:\n%s", idx, ci.raw, prefix);
	hu_conn_info_free(&ci);
}

/* ---- 1: empty lines before the start line ---------------------------------- */

Test(http_strict, leading_crlf_is_not_forwarded)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(o), 0);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(!strncmp(r.body, "GET /a ", 7), "the origin saw: %s", r.body);
	expect_forwarded(o, 0, "GET /a HTTP/1.1\r\n");
	hu_cli_close(&c);
	cr_assert(!hu_log_has(p, "\"\""), "an empty request line was logged");
	h_proxy_finish(p);
}

Test(http_strict, stray_crlf_after_a_post_body_keeps_the_next_request_whole)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(o), 0);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	/* the CRLF in the same write as the body, then idle, then the next */
	cr_assert_eq(hu_cli_send(&c, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
				 "abc\r\n"), 0);
	expect_status(&c, 200, false);
	h_sleep_ms(200);
	cr_assert_eq(hu_cli_send(&c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0);
	cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
	cr_assert(!strncmp(r.body, "GET /next ", 10), "the origin saw: %s", r.body);
	expect_forwarded(o, 1, "GET /next HTTP/1.1\r\n");
	/* and pipelined: body, CRLF and the next request in one write */
	cr_assert_eq(hu_cli_send(&c, "POST /q HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
				 "abc\r\nGET /last HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_status(&c, 200, false);
	cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0);
	cr_assert(!strncmp(r.body, "GET /last ", 10), "the origin saw: %s", r.body);
	expect_forwarded(o, 3, "GET /last HTTP/1.1\r\n");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_strict, leading_crlf_before_a_status_line_is_not_forwarded)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(o), 0);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0);
	cr_assert(!strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17), "client got:\n%s", r.head);
	cr_assert_str_eq(r.body, "ok");
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- 2: request lines; routed == forwarded ---------------------------------- */

static void refused_everywhere(const char *req)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc), *admin = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app), hu_origin_port(admin));
	struct hu_cli c;
	uint64_t extra = 0;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, req), 0);
	expect_status(&c, 400, false);
	cr_assert_eq(hu_cli_wait_eof(&c, 2000 * h_slow(), &extra), 0);
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(app) + hu_origin_accepted(admin), 0,
		     "a server was contacted for: %s", req);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_strict, double_space_in_request_line_is_400_and_reaches_no_server)
{
	refused_everywhere("GET  /admin/x HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http_strict, tab_in_target_is_400_and_reaches_no_server)
{
	refused_everywhere("GET /admin\t/x HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http_strict, relative_target_is_400_and_reaches_no_server)
{
	refused_everywhere("GET admin/x HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http_strict, routed_path_is_the_forwarded_path)
{
	static const struct {
		const char *req, *line;
		bool admin;
	} cases[] = {
		{ "GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET /admin/x HTTP/1.1\r\n", true },
		{ "\r\nGET /admin/y HTTP/1.1\r\nHost: a\r\n\r\n", "GET /admin/y HTTP/1.1\r\n", true },
		{ "GET http://a/admin/z HTTP/1.1\r\nHost: a\r\n\r\n",
		  "GET http://a/admin/z HTTP/1.1\r\n", true },
		{ "GET http://a?/admin HTTP/1.1\r\nHost: a\r\n\r\n",
		  "GET http://a?/admin HTTP/1.1\r\n", false },
		{ "GET /public HTTP/1.1\r\nHost: a\r\n\r\n", "GET /public HTTP/1.1\r\n", false },
	};
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc), *admin = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app), hu_origin_port(admin));
	int seen[2] = { 0, 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, cases[i].req), 0);
		expect_status(&c, 200, false);
		hu_cli_close(&c);
		expect_forwarded(cases[i].admin ? admin : app, seen[cases[i].admin]++, cases[i].line);
	}
	cr_assert_eq(hu_origin_accepted(admin), seen[1]);
	cr_assert_eq(hu_origin_accepted(app), seen[0]);
	h_proxy_finish(p);
}

/* ---- 3: status lines --------------------------------------------------------- */

/* The origin answers raw on an http-keep-alive backend: the client gets a
 * 502 and the server connection is closed by the proxy (never pooled). */
static void bad_status(const char *raw, size_t raw_len)
{
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = raw, .raw_len = raw_len };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-keep-alive", hu_origin_port(o), 0);
	struct hu_conn_info ci;
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_status(&c, 502, false);
	cr_assert(hu_conn_wait_end(o, 0, to()), "the server connection stayed open (pooled?)");
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.end, 0, "server connection ended with %d, expected the proxy's FIN",
		     ci.end);
	hu_conn_info_free(&ci);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

#define BAD_STATUS(s) bad_status((s), sizeof(s) - 1)

Test(http_strict, two_digit_status_is_502)
{
	BAD_STATUS("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, four_digit_status_is_502)
{
	BAD_STATUS("HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, status_out_of_range_is_502)
{
	BAD_STATUS("HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n");
	BAD_STATUS("HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n");
	BAD_STATUS("HTTP/1.1 999 High\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, status_line_spacing_is_502)
{
	BAD_STATUS("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
	BAD_STATUS("HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n");
}

Test(http_strict, control_characters_in_reason_are_502)
{
	BAD_STATUS("HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n");
	BAD_STATUS("HTTP/1.1 200 O\x1bK\r\nContent-Length: 0\r\n\r\n");
}

/* ---- 4: error pages in answer to HEAD ------------------------------------------ */

static void head_error_has_no_body(int port, const char *req, int status)
{
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	char cl[32];

	hu_cli_open(&c, port);
	cr_assert_eq(hu_cli_send(&c, req), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, true, to()), 0);
	cr_assert_eq(r.status, status, "%s", r.head);
	cr_assert(hu_header(&r, "Content-Length", cl, sizeof(cl)) && atoi(cl) > 0,
		  "Content-Length states the GET's length:\n%s", r.head);
	cr_assert_eq(hu_cli_wait_eof(&c, 2000 * h_slow(), &extra), 0);
	cr_assert_eq(extra, 0, "%llu body bytes after a response to HEAD",
		     (unsigned long long)extra);
	hu_cli_close(&c);
}

Test(http_strict, error_pages_to_head_have_no_body)
{
	int dead = h_free_port();
	struct h_proxy *p = proxy("http-server-close", dead, 0);

	head_error_has_no_body(p->port, "HEAD / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400);
	head_error_has_no_body(p->port, "HEAD  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	head_error_has_no_body(p->port, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", 503);
	head_error_has_no_body(p->stats_port, "HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404);
	h_proxy_finish(p);
}

/* ---- 5: nothing beyond a response reaches another request ------------------------ */

#define STRAY "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY"

/* Two requests on two client connections; both must get "ok" from a server
 * connection of their own. */
static void two_clients_get_ok(struct h_proxy *p, int gap_ms)
{
	for (int i = 0; i < 2; i++) {
		struct hu_cli c;
		struct hu_rsp r;

		if (i)
			h_sleep_ms((unsigned)gap_ms);
		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0, "request %d", i);
		cr_assert_eq(r.status, 200, "request %d: %s", i, r.head);
		cr_assert_str_eq(r.body, "ok", "request %d got another response's bytes", i);
		hu_cli_close(&c);
	}
}

Test(http_strict, bytes_beyond_the_response_retire_the_connection)
{
	struct hu_script sc = { .act = HU_ACT_RAW,
				.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" STRAY };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-keep-alive", hu_origin_port(o), 0);
	struct hu_conn_info ci;

	two_clients_get_ok(p, 0);
	cr_assert_eq(hu_origin_accepted(o), 2, "the connection with stray bytes was reused");
	cr_assert(hu_conn_wait_end(o, 0, to()));
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.end, 0, "connection 0 ended with %d, expected the proxy's FIN", ci.end);
	hu_conn_info_free(&ci);
	h_proxy_finish(p);
}

/* A keep-alive origin for the timing cases: mode 0 answers each request, then
 * sends STRAY 100 ms later; mode 1 sends the response head as soon as the
 * request head is in, the body 300 ms later (the request body arrives in
 * between). Then it reads until EOF. */
static int g_mode;

static bool read_head(int fd, int stopfd)
{
	char buf[4096];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN },
					{ .fd = stopfd, .events = POLLIN } };
		ssize_t n;

		if (poll(pf, 2, to()) <= 0 || pf[1].revents)
			return false;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return true;
	}
	return false;
}

static void timing_handler(struct h_conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	if (!read_head(c->fd, c->stopfd))
		return;
	if (g_mode == 0) {
		h_send_all(c->fd, ok, sizeof(ok) - 1, c->stopfd, to());
		h_sleep_ms(100);
		h_send_all(c->fd, STRAY, sizeof(STRAY) - 1, c->stopfd, to());
	} else {
		h_send_all(c->fd, ok, sizeof(ok) - 3, c->stopfd, to());
		h_sleep_ms(300);
		h_send_all(c->fd, "ok", 2, c->stopfd, to());
	}
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, to());
	h_conn_publish(c);
}

Test(http_strict, late_stray_bytes_on_an_idle_pooled_connection_retire_it)
{
	struct h_origin_opts oo = { .handler = timing_handler };
	struct h_origin *o;
	struct h_proxy *p;

	g_mode = 0;
	o = h_origin_start(&oo);
	p = proxy("http-keep-alive", h_origin_port(o), 0);
	two_clients_get_ok(p, 400);
	cr_assert_eq(h_origin_accepted(o), 2, "the connection with stray bytes was reused");
	cr_assert(h_origin_wait_rx_end(o, 0, to()));
	cr_assert_eq(h_origin_rec(o, 0).rx.end, 0, "connection 0 not closed by the proxy");
	h_proxy_finish(p);
}

Test(http_strict, response_before_the_request_was_sent_is_never_pooled)
{
	struct h_origin_opts oo = { .handler = timing_handler };
	struct h_origin *o;
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;

	g_mode = 1;
	o = h_origin_start(&oo);
	p = proxy("http-keep-alive", h_origin_port(o), 0);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"), 0);
	h_sleep_ms(100);
	cr_assert_eq(hu_cli_send(&c, "abc"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, to()), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok");
	hu_cli_close(&c);
	/* the server answered before it had the whole request: what it made of
	 * the rest is unknown, so its connection must be closed, not pooled */
	cr_assert(h_origin_wait_rx_end(o, 0, 2000 * h_slow()),
		  "the early-answered connection stayed open (pooled)");
	cr_assert_eq(h_origin_rec(o, 0).rx.end, 0);
	h_proxy_finish(p);
}
