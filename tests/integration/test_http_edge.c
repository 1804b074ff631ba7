/*
 * http mode, edge semantics of issue 17 through the real binary:
 *  1. a response that comes before the end of its request body (401 to an
 *     upload) reaches a client that writes its whole body before reading
 *     (like Python's http.client); the rest of the body is read and
 *     discarded and the client connection serves the next request; the
 *     server connection is closed, never pooled; a body known to exceed
 *     SL_HTTP_DRAIN_MAX, a chunked one that does, a client waiting for a 100
 *     Continue, and a client that stalls (timeout_client) end with a close;
 *  2. an absolute-form target whose authority differs from Host is a 400
 *     that reaches no server; a matching one is routed by its authority;
 *  3. routing on the RFC 3986 normal form of the path (path_normalize,
 *     default on), the server is sent the path that was routed; %2F is
 *     never a separator; path_normalize = off routes the raw path;
 *  4. any token method is forwarded as sent (QUERY with a body, BREW,
 *     lowercase get); a method that is not a token is a 400;
 * and sluice -c names file:line for a bad path_normalize.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_edge, .init = h_setup, .fini = hu_teardown, .timeout = 90);

static int to(void)
{
	return hu_io_to();
}

/* An http frontend on backend "app" (mode be_mode, server app_port; pooled
 * connections idle 500 ms at most, so the fd baseline comes back) with
 * extra frontend lines fe_extra; with admin_port, a backend "admin" (its
 * routes are in fe_extra). */
static struct h_proxy *proxy(const char *be_mode, int app_port, int admin_port,
			     const char *fe_extra, const char *timeout_client)
{
	char conf[4096], admin[256] = "";
	int port = h_free_port();
	int n;

	if (admin_port)
		snprintf(admin, sizeof(admin), "\n[backend admin]\nmode = http-server-close\n"
			 "server = a1 127.0.0.1:%d\n", admin_port);
	n = snprintf(conf, sizeof(conf),
		     "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n\n"
		     "[defaults]\ntimeout_connect = 500ms\ntimeout_client = %s\n"
		     "timeout_server = 10s\ntimeout_client_fin = 300ms\n"
		     "timeout_server_fin = 300ms\ntimeout_http_request = 5s\n"
		     "timeout_http_keep_alive = 5s\n\n"
		     "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n%s\n"
		     "[backend app]\nmode = %s\nserver = s1 127.0.0.1:%d\n%s%s",
		     timeout_client ? timeout_client : "10s", port, fe_extra ? fe_extra : "",
		     be_mode, app_port,
		     strcmp(be_mode, "http-keep-alive") ? "" : "pool_idle_timeout = 500ms\n",
		     admin);
	cr_assert(n > 0 && (size_t)n < sizeof(conf));
	return h_proxy_start_text(conf, port);
}

static void expect_status(struct hu_cli *c, struct hu_rsp *r, int status)
{
	int rc = hu_read_rsp(c, r, false, to());

	cr_assert_eq(rc, 0, "no complete response: %s (%zu bytes: %s)", strerror(-rc),
		     r->head_len, r->head);
	cr_assert_eq(r->status, status, "status %d, expected %d:\n%s%s", r->status, status,
		     r->head, r->body);
}

/* ---- 1: early responses ------------------------------------------------------ */

/* The origin of the early-response cases: a request whose line starts with
 * "POST" or "PUT" is answered 401 as soon as its head is in, without
 * reading its body (the server then reads on only after hold_ms, until
 * EOF); a "PUT" gets a 100 Continue first. Any other request is answered
 * 200 "next", and the connection waits for the next one. */
static int g_hold_ms;

static bool read_head(int fd, int stopfd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap - 1) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN },
					{ .fd = stopfd, .events = POLLIN } };
		ssize_t n;

		if (poll(pf, 2, to()) <= 0 || pf[1].revents)
			return false;
		/* peek, then take only the head: the body stays unread */
		n = recv(fd, buf + len, cap - 1 - len, MSG_PEEK);
		if (n <= 0)
			return false;
		buf[len + (size_t)n] = 0;
		char *e = strstr(buf, "\r\n\r\n");
		size_t take = e ? (size_t)(e + 4 - buf) - len : (size_t)n;

		if (recv(fd, buf + len, take, 0) != (ssize_t)take)
			return false;
		len += take;
		buf[len] = 0;
		if (e)
			return true;
	}
	return false;
}

static void early_handler(struct h_conn *c)
{
	static const char unauth[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nauth";
	static const char next[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char head[4096];

	/* bodiless requests are answered as long as they come (pooled) */
	while (read_head(c->fd, c->stopfd, head, sizeof(head))) {
		if (!strncmp(head, "POST ", 5) || !strncmp(head, "PUT ", 4)) {
			if (!strncmp(head, "PUT ", 4))
				h_send_all(c->fd, cont, sizeof(cont) - 1, c->stopfd, to());
			h_send_all(c->fd, unauth, sizeof(unauth) - 1, c->stopfd, to());
			h_sleep_ms((unsigned)g_hold_ms);
			break;
		}
		h_send_all(c->fd, next, sizeof(next) - 1, c->stopfd, to());
	}
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, to());
	h_conn_publish(c);
}

static struct h_origin *early_origin(int hold_ms)
{
	struct h_origin_opts oo = { .handler = early_handler };

	g_hold_ms = hold_ms;
	return h_origin_start(&oo);
}

/* The connection goes on: the next request is answered by a new server
 * connection (number idx), and the early-answered one (idx - 1) was closed
 * by the proxy, not pooled. */
static void next_request_works(struct hu_cli *c, struct h_origin *o, int idx)
{
	struct hu_rsp r;

	cr_assert_eq(hu_cli_send(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_status(c, &r, 200);
	cr_assert_str_eq(r.body, "next");
	cr_assert_eq(h_origin_accepted(o), idx + 1, "%d server connections, expected %d",
		     h_origin_accepted(o), idx + 1);
	cr_assert(h_origin_wait_rx_end(o, idx - 1, to()),
		  "the early-answered server connection stayed open (pooled?)");
	cr_assert_eq(h_origin_rec(o, idx - 1).rx.end, 0, "server connection %d ended with %d",
		     idx - 1, h_origin_rec(o, idx - 1).rx.end);
}

/* Python's http.client: the whole request, body included, is written before
 * the response is read. */
static void python_style_upload(const char *be_mode, bool chunked)
{
	const uint64_t len = 4 * 1024 * 1024;
	struct h_origin *o = early_origin(3000);
	struct h_proxy *p = proxy(be_mode, h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, chunked ? "POST /up HTTP/1.1\r\nHost: a\r\n"
					       "Transfer-Encoding: chunked\r\n\r\n" :
					       "POST /up HTTP/1.1\r\nHost: a\r\n"
					       "Content-Length: 4194304\r\n\r\n"), 0);
	rc = hu_send_body(&c, len, 7, chunked, 0);
	cr_assert_eq(rc, 0, "the upload failed: %s (the proxy must read the body on)",
		     strerror(-rc));
	expect_status(&c, &r, 401);
	cr_assert_str_eq(r.body, "auth");
	cr_assert(!hu_has_header(&r, "Connection: close"), "the client could have gone on:\n%s",
		  r.head);
	next_request_works(&c, o, 1);
	/* and once more: the connection is an ordinary keep-alive one again */
	if (!strcmp(be_mode, "http-server-close")) {
		next_request_works(&c, o, 2);
	} else {
		cr_assert_eq(hu_cli_send(&c, "GET /again HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		expect_status(&c, &r, 200);
		cr_assert_str_eq(r.body, "next"); /* (pooled or not: idle for 500 ms at most) */
	}
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, early_401_reaches_a_client_that_uploads_before_reading)
{
	python_style_upload("http-server-close", false);
}

Test(http_edge, early_401_to_a_chunked_upload_keeps_the_client_not_the_server)
{
	python_style_upload("http-keep-alive", true);
}

Test(http_edge, early_401_with_the_body_still_coming_is_drained)
{
	struct h_origin *o = early_origin(3000);
	struct h_proxy *p = proxy("http-keep-alive", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	/* the head and a little of the body, the response, then the rest,
	 * and a pipelined request right behind it */
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n"
				 "\r\n0123456789"), 0);
	expect_status(&c, &r, 401);
	cr_assert(!hu_has_header(&r, "Connection: close"), "%s", r.head);
	h_sleep_ms(100);
	cr_assert_eq(hu_send_body(&c, 200000 - 10, 3, false, 1000), 0);
	next_request_works(&c, o, 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, bad_request_after_a_drained_one_gets_400_and_the_close)
{
	struct h_origin *o = early_origin(0);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n"
				 "\r\n"), 0);
	cr_assert_eq(hu_send_body(&c, 100000, 5, false, 0), 0);
	expect_status(&c, &r, 401);
	next_request_works(&c, o, 1);
	cr_assert_eq(hu_cli_send(&c, "GET  /bad HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	expect_status(&c, &r, 400);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	cr_assert_eq(hu_cli_wait_eof(&c, 2000 * h_slow(), &extra), 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, early_401_to_a_body_over_the_bound_closes_after_it)
{
	struct h_origin *o = early_origin(0);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	/* 17 MiB left to come: more than the proxy discards */
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\n"
				 "Content-Length: 17825792\r\n\r\n"), 0);
	expect_status(&c, &r, 401);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	rc = hu_cli_wait_eof(&c, to(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET, "%s", strerror(-rc));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

struct upload {
	pthread_t thr;
	struct hu_cli *c;
	uint64_t len;
	int rc;
};

static void *upload_run(void *arg)
{
	struct upload *u = arg;

	u->rc = hu_send_body(u->c, u->len, 9, true, 0);
	return NULL;
}

Test(http_edge, early_401_to_an_endless_chunked_body_closes_past_the_bound)
{
	struct h_origin *o = early_origin(0);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	struct upload u = { .c = &c, .len = 64ull * 1024 * 1024 };
	uint64_t extra = 0;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"), 0);
	cr_assert_eq(pthread_create(&u.thr, NULL, upload_run, &u), 0);
	expect_status(&c, &r, 401);
	cr_assert_str_eq(r.body, "auth");
	/* the length is unknown at the response: the close comes when the
	 * discarded bytes pass the bound */
	rc = hu_cli_wait_eof(&c, to(), &extra);
	cr_assert(rc == 0 || rc == -ECONNRESET, "%s", strerror(-rc));
	shutdown(c.fd, SHUT_RDWR); /* the uploader stops if it still writes */
	pthread_join(u.thr, NULL);
	cr_assert_neq(u.rc, 0, "the whole 64 MiB body was accepted after the response");
	cr_assert(hu_log_has(p, "request body bytes after an early response"));
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, early_401_without_100_continue_closes_after_it)
{
	struct h_origin *o = early_origin(0);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;

	hu_cli_open(&c, p->port);
	/* the client waits for 100 Continue, which never comes: it will not
	 * send the body, the proxy cannot wait for it */
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
				 "Expect: 100-continue\r\n\r\n"), 0);
	expect_status(&c, &r, 401);
	cr_assert(hu_has_header(&r, "Connection: close"), "%s", r.head);
	cr_assert_eq(hu_cli_wait_eof(&c, to(), &extra), 0);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, early_401_after_100_continue_drains_the_body)
{
	struct h_origin *o = early_origin(3000);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n"
				 "Expect: 100-continue\r\n\r\n"), 0);
	expect_status(&c, &r, 100);
	expect_status(&c, &r, 401);
	cr_assert(!hu_has_header(&r, "Connection: close"), "%s", r.head);
	cr_assert_eq(hu_send_body(&c, 100000, 4, false, 0), 0);
	next_request_works(&c, o, 1);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, client_stalling_after_an_early_401_is_closed_at_timeout_client)
{
	struct h_origin *o = early_origin(0);
	struct h_proxy *p = proxy("http-server-close", h_origin_port(o), 0, NULL, "1s");
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0, t0, ms;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n"
				 "\r\nabc"), 0);
	expect_status(&c, &r, 401);
	t0 = h_now_ms();
	rc = hu_cli_wait_eof(&c, to(), &extra);
	ms = h_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET, "%s", strerror(-rc));
	cr_assert(ms >= 700 && ms <= 1000 + 2000u * (unsigned)h_slow(),
		  "closed %llu ms after the response, timeout_client 1s", (unsigned long long)ms);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- 2: absolute-form targets ------------------------------------------------ */

#define HOST_ROUTE "route = host admin.example backend admin\n"

Test(http_edge, absolute_form_with_another_host_is_400_and_reaches_no_server)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc), *admin = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app),
				  hu_origin_port(admin), HOST_ROUTE, NULL);
	static const char *const reqs[] = {
		"GET http://admin.example/ HTTP/1.1\r\nHost: public.example\r\n\r\n",
		"GET http://public.example/ HTTP/1.1\r\nHost: admin.example\r\n\r\n",
		"GET http://admin.example:8080/ HTTP/1.1\r\nHost: admin.example\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct hu_cli c;
		struct hu_rsp r;
		uint64_t extra = 0;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, reqs[i]), 0);
		expect_status(&c, &r, 400);
		cr_assert_eq(hu_cli_wait_eof(&c, to(), &extra), 0);
		hu_cli_close(&c);
	}
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(app) + hu_origin_accepted(admin), 0);
	cr_assert(hu_log_has(p, "Host differs from the authority"));
	h_proxy_finish(p);
}

Test(http_edge, absolute_form_is_routed_by_its_authority)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc), *admin = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app),
				  hu_origin_port(admin), HOST_ROUTE, NULL);
	struct hu_conn_info ci;
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET http://ADMIN.example:80/x HTTP/1.1\r\n"
				 "Host: admin.example\r\n\r\n"), 0);
	expect_status(&c, &r, 200);
	hu_cli_close(&c);
	cr_assert_eq(hu_origin_accepted(admin), 1);
	cr_assert_eq(hu_origin_accepted(app), 0);
	cr_assert(hu_conn_wait_request(admin, 0, to()));
	hu_conn_get(admin, 0, &ci);
	cr_assert(!strncmp(ci.raw, "GET http://ADMIN.example:80/x HTTP/1.1\r\n", 40), "%s",
		  ci.raw);
	cr_assert(strstr(ci.raw, "\r\nHost: admin.example\r\n"), "%s", ci.raw);
	hu_conn_info_free(&ci);
	h_proxy_finish(p);
}

/* ---- 3: normalised routing paths ----------------------------------------------- */

#define PATH_ROUTE "route = path_prefix /admin backend admin\n"

/* Each request is sent on its own connection; admin says which origin must
 * get it, line what its request line must be. */
struct path_case {
	const char *req, *line;
	bool admin;
};

static void route_paths(const char *fe_extra, const struct path_case *cases, size_t n)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc), *admin = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app),
				  hu_origin_port(admin), fe_extra, NULL);
	int seen[2] = { 0, 0 };

	for (size_t i = 0; i < n; i++) {
		struct hu_origin *o = cases[i].admin ? admin : app;
		int idx = seen[cases[i].admin]++;
		struct hu_conn_info ci;
		struct hu_cli c;
		struct hu_rsp r;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, cases[i].req), 0);
		expect_status(&c, &r, 200);
		hu_cli_close(&c);
		cr_assert_eq(hu_origin_accepted(o), idx + 1, "%s went to the %s backend",
			     cases[i].req, cases[i].admin ? "app" : "admin");
		cr_assert(hu_conn_wait_request(o, idx, to()));
		hu_conn_get(o, idx, &ci);
		cr_assert(!strncmp(ci.raw, cases[i].line, strlen(cases[i].line)),
			  "for %s the server got:\n%s\nexpected:\n%s", cases[i].req, ci.raw,
			  cases[i].line);
		hu_conn_info_free(&ci);
	}
	cr_assert_eq(hu_origin_accepted(app), seen[0]);
	cr_assert_eq(hu_origin_accepted(admin), seen[1]);
	h_proxy_finish(p);
}

#define REQ(t) "GET " t " HTTP/1.1\r\nHost: a\r\n\r\n"
#define LINE(t) "GET " t " HTTP/1.1\r\n"

Test(http_edge, path_bypasses_are_routed_normalised)
{
	static const struct path_case cases[] = {
		{ REQ("//admin"), LINE("/admin"), true },
		{ REQ("/./admin"), LINE("/admin"), true },
		{ REQ("/%61dmin/x"), LINE("/admin/x"), true },
		{ REQ("/x/../admin"), LINE("/admin"), true },
		{ REQ("/%2e%2E/admin?q=/../%61"), LINE("/admin?q=/../%61"), true },
		{ REQ("http://a//admin"), LINE("http://a/admin"), true },
		{ REQ("/%2Fadmin"), LINE("/%2Fadmin"), false },
		{ REQ("/%2fadmin"), LINE("/%2Fadmin"), false },
		{ REQ("/x/..%2Fadmin"), LINE("/x/..%2Fadmin"), false },
		{ REQ("/public/./x"), LINE("/public/x"), false },
	};

	route_paths(PATH_ROUTE, cases, sizeof(cases) / sizeof(cases[0]));
}

Test(http_edge, path_normalize_off_routes_and_forwards_the_raw_path)
{
	static const struct path_case cases[] = {
		{ REQ("//admin"), LINE("//admin"), false },
		{ REQ("/%61dmin"), LINE("/%61dmin"), false },
		{ REQ("/admin/../x"), LINE("/admin/../x"), true },
	};

	route_paths(PATH_ROUTE "path_normalize = off\n", cases,
		    sizeof(cases) / sizeof(cases[0]));
}

Test(http_edge, bad_percent_encoding_in_the_path_is_400)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app), 0, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t extra = 0;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, REQ("/a%zz")), 0);
	expect_status(&c, &r, 400);
	cr_assert_eq(hu_cli_wait_eof(&c, to(), &extra), 0);
	hu_cli_close(&c);
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(app), 0);
	h_proxy_finish(p);
}

/* ---- 4: methods ---------------------------------------------------------------- */

Test(http_edge, any_token_method_is_forwarded_as_sent)
{
	static const struct {
		const char *req, *line, *info;
	} cases[] = {
		{ "QUERY /q HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
		  "Content-Length: 5\r\n\r\nhello", "QUERY /q HTTP/1.1\r\n", "QUERY /q 5 " },
		{ "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", "BREW /pot HTTP/1.1\r\n", "BREW /pot 0 " },
		{ "get /low HTTP/1.1\r\nHost: a\r\n\r\n", "get /low HTTP/1.1\r\n", "get /low 0 " },
		{ "PATCH /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		  "PATCH /p HTTP/1.1\r\n", "PATCH /p 1 " },
	};
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-keep-alive", hu_origin_port(app), 0, NULL, NULL);
	struct hu_cli c;

	/* one client connection, every method in turn */
	hu_cli_open(&c, p->port);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hu_rsp r;

		cr_assert_eq(hu_cli_send(&c, cases[i].req), 0);
		expect_status(&c, &r, 200);
		cr_assert(!strncmp(r.body, cases[i].info, strlen(cases[i].info)),
			  "the origin saw: %s, expected %s", r.body, cases[i].info);
	}
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_edge, method_that_is_not_a_token_is_400_and_reaches_no_server)
{
	static const char *const reqs[] = {
		"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET\x7f / HTTP/1.1\r\nHost: a\r\n\r\n",
		"QUE\"RY / HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *app = hu_origin_start(&sc);
	struct h_proxy *p = proxy("http-server-close", hu_origin_port(app), 0, NULL, NULL);

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct hu_cli c;
		struct hu_rsp r;
		uint64_t extra = 0;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, reqs[i]), 0);
		expect_status(&c, &r, 400);
		cr_assert_eq(hu_cli_wait_eof(&c, to(), &extra), 0);
		hu_cli_close(&c);
	}
	h_sleep_ms(100);
	cr_assert_eq(hu_origin_accepted(app), 0);
	h_proxy_finish(p);
}

/* ---- configuration ----------------------------------------------------------- */

Test(http_edge, bad_path_normalize_is_refused_with_file_line)
{
	static const char conf[] =
		"[frontend web]\nbind = 127.0.0.1:1\nmode = http\nbackend = app\n"
		"path_normalize = yes\n[backend app]\nmode = http-server-close\n"
		"server = s1 127.0.0.1:2\n";
	char path[600], out[4096];
	const char *args[] = { "-c", "-f", path, NULL };
	int st;

	h_write_file("edge.ini", conf, path, sizeof(path));
	st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, out);
	cr_assert(strstr(out, "edge.ini:5: key 'path_normalize': expected on or off, got 'yes'"),
		  "%s", out);
	/* and accepted with on or off */
	h_write_file("edge2.ini", "[frontend web]\nbind = 127.0.0.1:1\nmode = http\n"
		     "backend = app\npath_normalize = off\n[backend app]\n"
		     "mode = http-server-close\nserver = s1 127.0.0.1:2\n", path, sizeof(path));
	st = h_run_sluice(args, out, sizeof(out), 5000 * h_slow());
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, out);
}
