/*
 * HTTP/2 toward clients through the real binary: h2c by preface and h2 by
 * ALPN, HTTP/1.1 still served on the same binds, many streams of one
 * connection balanced per request, request bodies of several MiB checked by
 * hash in both backend modes (with and without content-length), a stalled
 * stream that holds back no other, 502/503/504 per stream, floods (rapid
 * reset, CONTINUATION, PING) answered with GOAWAY while other clients go on,
 * a client that never reads, graceful stop with GOAWAY, and `h2 = off`.
 * Every test ends with the fd baseline and the fd audit (h_proxy_finish).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/h2_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/limits_util.h"
#include "tests/integration/ops_util.h"
#include "tests/integration/tls_util.h"

TestSuite(h2, .init = h_setup, .fini = lu_teardown, .timeout = 90);

static int to(void)
{
	return 10000 * h_slow();
}

/* An http frontend (extra frontend keys fe_extra, may be NULL) whose
 * default backend `b` (mode be_mode) has the given servers; more sections
 * in extra (may be NULL). */
static struct h_proxy *proxy(const char *be_mode, int n, const int *ports, const char *fe_extra,
			     const char *timeouts, const char *extra)
{
	struct h_cbuf b = { .len = 0 };
	int port = h_free_port();

	h_cbuf_add(&b, "[global]\nworkers = 1\nlog = stderr\ngrace = 2s\n\n"
		   "[defaults]\ntimeout_connect = 500ms\ntimeout_client_fin = 300ms\n"
		   "timeout_server_fin = 300ms\ntimeout_http_request = 5s\n"
		   "timeout_http_keep_alive = 5s\n%s\n", timeouts ? timeouts :
		   "timeout_client = 10s\ntimeout_server = 10s\n");
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = http\nbackend = b\n%s\n",
		   port, fe_extra ? fe_extra : "");
	h_cbuf_add(&b, "[backend b]\nmode = %s\nbalance = roundrobin\n", be_mode);
	if (!strcmp(be_mode, "http-keep-alive"))
		h_cbuf_add(&b, "pool_idle_timeout = 300ms\n"); /* back to the fd baseline */
	for (int i = 0; i < n; i++)
		h_cbuf_add(&b, "server = s%d 127.0.0.1:%d\n", i + 1, ports[i]);
	if (extra)
		h_cbuf_add(&b, "\n%s", extra);
	return h_proxy_start_text(b.s, port);
}

/* One keep-alive origin (lu, tag 'A', answering after delay_ms) as the
 * only server of proxy()'s default backend. */
static struct h_proxy *origin_proxy(const char *be_mode, int delay_ms, const char *fe_extra,
				    struct lu_origin **o)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .delay_ms = delay_ms };
	int port;

	*o = lu_origin_start(&oo);
	port = lu_origin_port(*o);
	return proxy(be_mode, 1, &port, fe_extra, NULL, NULL);
}

/* The log lines of a request are written once its session is released. */
static bool log_has(struct h_proxy *p, const char *s)
{
	for (int i = 0; i < 40 * h_slow(); i++) {
		if (hu_log_has(p, s))
			return true;
		h_sleep_ms(50);
	}
	return false;
}

/* Runs a command, returns its stdout (malloc'd) and sets *status. */
static char *run(const char *cmd, int *status)
{
	FILE *f = popen(cmd, "r");
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);

	cr_assert(f && out, "popen %s", cmd);
	while (len < cap - 1) {
		size_t k = fread(out + len, 1, cap - 1 - len, f);

		if (!k)
			break;
		len += k;
	}
	*status = pclose(f);
	return out;
}

Test(h2, prior_knowledge_streams_are_balanced_and_http11_still_works)
{
	struct lu_origin_opts oa = { .kind = LU_HTTP, .tag = 'A' }, ob = oa;
	struct lu_origin *o[2];
	int ports[2], per[2] = { 0, 0 };
	struct h2c c;
	struct h_proxy *p;

	ob.tag = 'B';
	o[0] = lu_origin_start(&oa);
	o[1] = lu_origin_start(&ob);
	ports[0] = lu_origin_port(o[0]);
	ports[1] = lu_origin_port(o[1]);
	p = proxy("http-keep-alive", 2, ports, NULL, NULL, NULL);

	h2c_open(&c, p->port);
	for (int i = 0; i < 40; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/s%d", i);
		h2c_request(&c, "GET", path, 0, 0, false);
	}
	cr_assert_eq(h2c_run(&c, to()), 0, "streams did not all end");
	for (int i = 0; i < 40; i++) {
		struct h2c_stream *s = h2c_stream(&c, i);

		cr_assert_eq(s->status, 200, "stream %d: status %d (error %u)", s->id, s->status,
			     s->error);
		cr_assert(s->body[0] == 'A' || s->body[0] == 'B', "stream %d: %s", s->id, s->body);
		per[s->body[0] - 'A']++;
	}
	cr_assert(per[0] >= 15 && per[1] >= 15,
		  "one h2 connection's streams are balanced per request: A %d, B %d", per[0],
		  per[1]);
	h2c_close(&c);
	{
		/* HTTP/1.1 on the same bind */
		struct hu_cli cl;
		struct hu_rsp r;

		hu_cli_open(&cl, p->port);
		cr_assert_eq(lu_request(&cl, "GET", "/h1", 0, &r), 0);
		cr_assert_eq(r.status, 200);
		hu_cli_close(&cl);
	}
	cr_assert(log_has(p, "\"GET /s1 HTTP/2.0\""), "the access log says HTTP/2.0");
	cr_assert(log_has(p, "\"GET /h1 HTTP/1.1\""));
	cr_assert_geq(h_proxy_metric(p, "sluice_frontend_h2_streams_total{frontend=\"f\"}"), 40);
	cr_assert_geq(h_proxy_metric(p, "sluice_frontend_h2_connections_total{frontend=\"f\"}"), 1);
	h_proxy_finish(p);
}

Test(h2, curl_and_h2load_over_prior_knowledge)
{
	struct lu_origin *o;
	int st;
	struct h_proxy *p = origin_proxy("http-keep-alive", 0, NULL, &o);
	char cmd[512], *out;

	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 --http2-prior-knowledge "
		 "-w '\\n%%{http_version}\\n' http://127.0.0.1:%d/curl", p->port);
	out = run(cmd, &st);
	cr_assert_eq(st, 0, "curl: %s", out);
	cr_assert(out[0] == 'A' && strstr(out, "\n2\n"), "curl got: %s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "h2load -n 400 -c 2 -m 50 http://127.0.0.1:%d/load 2>&1",
		 p->port);
	out = run(cmd, &st);
	cr_assert_eq(st, 0, "h2load: %s", out);
	cr_assert(strstr(out, "400 succeeded, 0 failed"), "h2load: %s", out);
	free(out);
	cr_assert_geq(lu_origin_requests(o), 401);
	h_proxy_finish(p);
}

Test(h2, alpn_h2_over_tls_and_http11_on_the_same_bind)
{
	const struct tu_certs *t = tu_certs();
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct tu_conf tc = { .nservers = 1 };
	struct h_proxy *p;
	char cmd[1024], *out;
	int st;

	tc.server_port[0] = hu_origin_port(o);
	p = tu_proxy_start(&tc);
	{
		struct tu_opts oo = { .sni = "a.example.test", .alpn = "h2,http/1.1" };
		struct tu_conn c;

		cr_assert_eq(tu_connect(&c, p->port, &oo), 0, "handshake: %s", c.errstr);
		cr_assert_str_eq(c.alpn, "h2", "ALPN chose '%s'", c.alpn);
		tu_close(&c);
	}
	for (int v = 0; v < 2; v++) {
		snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 --cacert %s --resolve "
			 "a.example.test:%d:127.0.0.1 %s -w '\\n%%{http_version}\\n' "
			 "https://a.example.test:%d/tls%d", t->ca, p->port,
			 v ? "--http1.1" : "--http2", p->port, v);
		out = run(cmd, &st);
		cr_assert_eq(st, 0, "curl: %s", out);
		cr_assert(!strncmp(out, v ? "GET /tls1 0 " : "GET /tls0 0 ", 12), "got: %s", out);
		cr_assert(strstr(out, v ? "\n1.1\n" : "\n2\n"), "curl spoke: %s", out);
		free(out);
	}
	snprintf(cmd, sizeof(cmd), "h2load -n 100 -c 2 -m 10 https://127.0.0.1:%d/load 2>&1",
		 p->port);
	out = run(cmd, &st);
	cr_assert(strstr(out, "100 succeeded, 0 failed") && strstr(out, "protocol: h2"),
		  "h2load: %s", out);
	free(out);
	h_proxy_finish(p);
}

/* Bodies of 3 MiB, with and without content-length, on one connection. */
static void post_bodies(const char *be_mode)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = proxy(be_mode, 1, &port, NULL, NULL, NULL);
	const uint64_t n = 3u << 20;
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request(&c, "POST", "/len", n, 11, false);
	h2c_request(&c, "POST", "/nolen", n, 12, true);
	h2c_request(&c, "PUT", "/small", 1000, 13, false);
	cr_assert_eq(h2c_run(&c, to() * 2), 0);
	for (int i = 0; i < 3; i++) {
		struct h2c_stream *s = h2c_stream(&c, i);
		char want[128];

		snprintf(want, sizeof(want), "%s %s %llu %016llx\n", i == 2 ? "PUT" : "POST",
			 i == 0 ? "/len" : i == 1 ? "/nolen" : "/small",
			 (unsigned long long)s->tx_len,
			 (unsigned long long)h_pattern_hash(s->tx_len, s->tx_seed));
		cr_assert_eq(s->status, 200, "stream %d: %d", s->id, s->status);
		cr_assert_str_eq(s->body, want, "the origin got the body whole");
	}
	h2c_close(&c);
	h_proxy_finish(p);
}

Test(h2, post_bodies_of_mebibytes_reach_the_server_whole_server_close)
{
	post_bodies("http-server-close");
}

Test(h2, post_bodies_of_mebibytes_reach_the_server_whole_keep_alive)
{
	post_bodies("http-keep-alive");
}

Test(h2, a_stalled_stream_holds_back_no_other_and_errors_are_per_stream)
{
	struct hu_script info = { .act = HU_ACT_INFO }, never = { .act = HU_ACT_NEVER },
			 rst = { .act = HU_ACT_RST };
	struct hu_origin *oi = hu_origin_start(&info), *on = hu_origin_start(&never),
			 *orst = hu_origin_start(&rst);
	int pi = hu_origin_port(oi), dead = h_free_port();
	char fe[256], extra[512];
	struct h_proxy *p;
	struct h2c c;
	uint64_t t0;

	snprintf(fe, sizeof(fe), "route = path_prefix /never backend nv\n"
		 "route = path_prefix /rst backend rs\nroute = path_prefix /dead backend dd\n");
	snprintf(extra, sizeof(extra), "[backend nv]\nmode = http-server-close\n"
		 "timeout_server = 1500ms\nserver = n 127.0.0.1:%d\n\n"
		 "[backend rs]\nmode = http-server-close\nserver = r 127.0.0.1:%d\n\n"
		 "[backend dd]\nmode = http-server-close\nserver = d 127.0.0.1:%d\n",
		 hu_origin_port(on), hu_origin_port(orst), dead);
	p = proxy("http-server-close", 1, &pi, fe, NULL, extra);
	h2c_open(&c, p->port);
	h2c_request(&c, "GET", "/never", 0, 0, false);
	for (int i = 0; i < 5; i++)
		h2c_request(&c, "GET", "/ok", 0, 0, false);
	h2c_request(&c, "GET", "/rst", 0, 0, false);
	h2c_request(&c, "GET", "/dead", 0, 0, false);
	t0 = h_now_ms();
	/* everything but the stalled stream ends well before its timeout */
	while (h_now_ms() - t0 < (uint64_t)to()) {
		bool others = true;

		for (int i = 1; i < c.n; i++)
			others &= h2c_stream(&c, i)->closed;
		if (others)
			break;
		h2c_pump(&c, 20);
	}
	cr_assert_not(h2c_stream(&c, 0)->closed, "the stalled stream waits for its server");
	for (int i = 1; i <= 5; i++)
		cr_assert_eq(h2c_stream(&c, i)->status, 200);
	cr_assert_eq(h2c_stream(&c, 6)->status, 502, "reset server: %d", h2c_stream(&c, 6)->status);
	cr_assert_eq(h2c_stream(&c, 7)->status, 503, "dead server: %d", h2c_stream(&c, 7)->status);
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert_eq(h2c_stream(&c, 0)->status, 504, "stalled: %d", h2c_stream(&c, 0)->status);
	/* the connection is still good */
	h2c_request(&c, "GET", "/after", 0, 0, false);
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert_eq(h2c_stream(&c, 8)->status, 200);
	h2c_close(&c);
	h_proxy_finish(p);
}

Test(h2, a_header_list_over_the_limits_gets_431_and_reaches_no_server)
{
	struct lu_origin *o;
	struct h_proxy *p = origin_proxy("http-keep-alive", 0, NULL, &o);
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request_fields(&c, "/many", 150, 8);      /* over max_headers (100) */
	h2c_request_fields(&c, "/big", 20, 1000);     /* over max_header_size (16k) */
	h2c_request_fields(&c, "/fine", 20, 100);
	h2c_request_fields(&c, "/edge", 100, 8); /* at max_headers, plus host */
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert_eq(h2c_stream(&c, 0)->status, 431, "%d", h2c_stream(&c, 0)->status);
	cr_assert_eq(h2c_stream(&c, 1)->status, 431, "%d", h2c_stream(&c, 1)->status);
	cr_assert_eq(h2c_stream(&c, 2)->status, 200, "%d", h2c_stream(&c, 2)->status);
	cr_assert_eq(h2c_stream(&c, 3)->status, 200, "100 fields and :authority: %d",
		     h2c_stream(&c, 3)->status);
	cr_assert_eq(lu_origin_requests(o), 2, "only the requests within the limits went on");
	h2c_close(&c);
	h_proxy_finish(p);
}

/* fuzz_h2 found it: a method of 16 bytes or more was reset with
 * INTERNAL_ERROR, where HTTP/1.1 forwards any token. */
Test(h2, a_long_method_reaches_the_server)
{
	struct lu_origin *o;
	struct h_proxy *p = origin_proxy("http-server-close", 0, NULL, &o);
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request(&c, "BASELINE-CONTROL", "/dav/a", 0, 0, false);
	h2c_request(&c, "X-A-VERY-LONG-EXTENSION-METHOD", "/dav/b", 5, 7, false);
	cr_assert_eq(h2c_run(&c, to()), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(h2c_stream(&c, i)->error, 0, "stream %d reset: %u", i,
			     h2c_stream(&c, i)->error);
		cr_assert_eq(h2c_stream(&c, i)->status, 200, "stream %d: %d", i,
			     h2c_stream(&c, i)->status);
	}
	/* (the origin keeps the method's first 15 bytes) */
	cr_assert(strstr(h2c_stream(&c, 0)->body, " BASELINE-CONTRO"), "%s",
		  h2c_stream(&c, 0)->body);
	cr_assert(strstr(h2c_stream(&c, 1)->body, " X-A-VERY-LONG-E"), "%s",
		  h2c_stream(&c, 1)->body);
	cr_assert_eq(lu_origin_requests(o), 2);
	h2c_close(&c);
	h_proxy_finish(p);
}

/* Another client is served while (or after) a flood is refused. */
static void other_client_ok(struct h_proxy *p)
{
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request(&c, "GET", "/other", 0, 0, false);
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert_eq(h2c_stream(&c, 0)->status, 200, "another client: %d",
		     h2c_stream(&c, 0)->status);
	h2c_close(&c);
}

Test(h2, rapid_reset_is_bounded_and_answered_with_goaway)
{
	struct lu_origin *o;
	struct h_proxy *p = origin_proxy("http-keep-alive", 300, NULL, &o);
	struct h2c c;
	int sent = 0;

	h2c_open(&c, p->port);
	for (int i = 0; i < 1000 && !c.eof && !c.goaway; i++) {
		int k = h2c_request(&c, "GET", "/rr", 0, 0, false);

		h2c_pump(&c, 0);
		nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, h2c_stream(&c, k)->id,
					  NGHTTP2_CANCEL);
		h2c_pump(&c, 0);
		sent++;
		if (c.n == H2C_MAX_STREAMS)
			c.n = 0; /* results are not needed */
	}
	h2c_pump(&c, 500);
	cr_assert(c.goaway, "no GOAWAY after %d reset streams", sent);
	cr_assert_eq(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM, "GOAWAY code %u", c.goaway_code);
	cr_assert_leq(lu_origin_requests(o) + 0, 150,
		      "%d reset streams made %d server requests", sent, lu_origin_requests(o));
	h2c_close(&c);
	other_client_ok(p);
	cr_assert_geq(h_proxy_metric(p, "sluice_frontend_h2_flood_closes_total{frontend=\"f\"}"), 1);
	cr_assert(log_has(p, "rapid reset"), "no log line for the flood");
	h_proxy_finish(p);
}

Test(h2, continuation_flood_closes_the_connection)
{
	struct lu_origin *o;
	int fd, code, rc;
	struct h_proxy *p = origin_proxy("http-keep-alive", 0, NULL, &o);
	static uint8_t buf[1 << 20];
	uint8_t block[512], field[64];
	size_t len = 0, bl = h2r_get_block(block, sizeof(block), "/cont");
	size_t fl = 0;

	field[fl++] = 0x00;
	field[fl++] = 5;
	memcpy(field + fl, "x-pad", 5);
	fl += 5;
	field[fl++] = 40;
	memset(field + fl, 'a', 40);
	fl += 40;
	fd = h2r_open(p->port);
	h2r_frame(buf, sizeof(buf), &len, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block, bl);
	for (int i = 0; i < 2000; i++)
		h2r_frame(buf, sizeof(buf), &len, NGHTTP2_CONTINUATION, 0, 1, field, fl);
	rc = h_send_all(fd, buf, len, -1, 3000);
	(void)rc; /* the proxy may close before it took everything */
	rc = h2r_wait_goaway(fd, to(), &code);
	cr_assert(rc == 0 || rc == -ECONNRESET, "the connection was not closed: %s",
		  strerror(-rc));
	close(fd);
	cr_assert_eq(lu_origin_requests(o), 0, "a head that never ended reached the server");
	other_client_ok(p);
	h_proxy_finish(p);
}

Test(h2, ping_flood_gets_enhance_your_calm)
{
	struct lu_origin *o;
	int fd, code = -1, rc;
	struct h_proxy *p = origin_proxy("http-keep-alive", 0, NULL, &o);
	static uint8_t buf[1 << 20];
	size_t len = 0;

	fd = h2r_open(p->port);
	for (int i = 0; i < 5000; i++)
		h2r_frame(buf, sizeof(buf), &len, NGHTTP2_PING, 0, 0, "12345678", 8);
	(void)h_send_all(fd, buf, len, -1, 3000);
	rc = h2r_wait_goaway(fd, to(), &code);
	cr_assert(rc == 0 || rc == -ECONNRESET, "not closed: %s", strerror(-rc));
	cr_assert_eq(code, NGHTTP2_ENHANCE_YOUR_CALM, "GOAWAY code %d", code);
	close(fd);
	other_client_ok(p);
	cr_assert_geq(h_proxy_metric(p, "sluice_frontend_h2_flood_closes_total{frontend=\"f\"}"), 1);
	h_proxy_finish(p);
}

Test(h2, a_client_that_never_reads_is_bounded_and_timed_out)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = 64u << 20, .seed = 5 };
	struct hu_origin *o = hu_origin_start(&sc);
	int port = hu_origin_port(o);
	struct h_proxy *p = proxy("http-server-close", 1, &port, NULL,
				  "timeout_client = 1s\ntimeout_server = 10s\n", NULL);
	long before = ou_pid_rss_kib(p->pid), during;
	struct h2c c;
	uint64_t t0;

	h2c_open(&c, p->port);
	for (int i = 0; i < 4; i++)
		h2c_request(&c, "GET", "/big", 0, 0, false);
	h2c_pump(&c, 200);
	c.no_read = true;
	h_sleep_ms(1500);
	during = ou_pid_rss_kib(p->pid);
	cr_assert_lt(during - before, 48 * 1024,
		     "4 streams of a client that does not read grew the proxy by %ld KiB",
		     during - before);
	/* timeout_client: the connection is closed */
	c.no_read = false;
	t0 = h_now_ms();
	while (!c.eof && h_now_ms() - t0 < (uint64_t)to())
		h2c_pump(&c, 50);
	cr_assert(c.eof, "the connection of a client that stopped reading was not closed");
	for (int i = 0; i < 4; i++)
		cr_assert_lt(h2c_stream(&c, i)->body_len, 64u << 20);
	h2c_close(&c);
	h_proxy_finish(p);
}

Test(h2, graceful_stop_sends_goaway_and_finishes_the_streams)
{
	struct lu_origin *o;
	struct h_proxy *p = origin_proxy("http-keep-alive", 700, NULL, &o);
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request(&c, "GET", "/slow1", 0, 0, false);
	h2c_request(&c, "GET", "/slow2", 0, 0, false);
	h2c_pump(&c, 200);
	h_proxy_term(p);
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert(c.goaway, "no GOAWAY on stop");
	cr_assert_eq(c.goaway_code, NGHTTP2_NO_ERROR);
	cr_assert_eq(h2c_stream(&c, 0)->status, 200, "a stream in progress is finished");
	cr_assert_eq(h2c_stream(&c, 1)->status, 200);
	h2c_pump(&c, 500);
	cr_assert(c.eof, "the connection is closed once its streams are done");
	h2c_close(&c);
	cr_assert(h_proxy_wait_exit(p, to()), "sluice did not exit");
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0);
}

Test(h2, reload_sends_goaway_and_the_next_connection_is_served)
{
	struct lu_origin *o;
	struct h_proxy *p = origin_proxy("http-keep-alive", 700, NULL, &o);
	struct h2c c;

	h2c_open(&c, p->port);
	h2c_request(&c, "GET", "/before", 0, 0, false);
	h2c_pump(&c, 200);
	cr_assert_eq(kill(p->pid, SIGHUP), 0);
	cr_assert_eq(h2c_run(&c, to()), 0);
	cr_assert(c.goaway, "no GOAWAY from the old generation");
	cr_assert_eq(c.goaway_code, NGHTTP2_NO_ERROR);
	cr_assert_eq(h2c_stream(&c, 0)->status, 200, "the stream in progress is finished");
	h2c_pump(&c, 500);
	cr_assert(c.eof, "the old generation's connection is closed once its stream is done");
	h2c_close(&c);
	cr_assert(log_has(p, "reloaded "), "no reload logged");
	other_client_ok(p);
	h_proxy_finish(p);
}

Test(h2, h2_off_speaks_http11_only)
{
	struct lu_origin *o;
	int st;
	struct h_proxy *p = origin_proxy("http-keep-alive", 0, "h2 = off\n", &o);
	char cmd[256], *out;

	snprintf(cmd, sizeof(cmd), "curl -s --max-time 5 --http2-prior-knowledge "
		 "-w '%%{http_code}' http://127.0.0.1:%d/x", p->port);
	out = run(cmd, &st);
	cr_assert(st != 0 || strstr(out, "400"), "h2 = off still spoke h2: %s", out);
	free(out);
	cr_assert_eq(lu_origin_requests(o), 0);
	cr_assert_eq(h_proxy_metric(p, "sluice_frontend_h2_connections_total{frontend=\"f\"}"), 0);
	h_proxy_finish(p);
}
