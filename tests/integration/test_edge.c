/* Edge features of issue 17 through the real binary: the PROXY protocol in
 * (accept_proxy: v1, v2 TCP4/TCP6/LOCAL, split headers, malformed and late
 * ones refused and counted, over TLS too, maxconn_per_source by the PROXY
 * address) and out (send_proxy, send_proxy_v2, parsed by the test origin),
 * timeout_tunnel on upgraded connections, and request ids (generated,
 * kept, replaced, in the access log and on sluice's own error pages). Every
 * test ends with the fd baseline and the fd audit (h_proxy_finish). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/limits_util.h"
#include "tests/integration/tls_util.h"

static void fini(void)
{
	hu_teardown();
	h_teardown();
}

TestSuite(edge, .init = h_setup, .fini = fini, .timeout = 90);

struct ecfg {
	const char *global;   /* extra [global] lines */
	const char *defaults; /* extra [defaults] lines */
	const char *bind;     /* bind options */
	const char *mode;     /* frontend mode, NULL: http */
	const char *fe;       /* extra [frontend] lines */
	const char *be_mode;  /* NULL: http-server-close (tcp frontends: tcp) */
	const char *srv;      /* server options */
	int srv_port;
	const char *be;       /* extra [backend] lines */
};

static struct h_proxy *edge_proxy(const struct ecfg *e)
{
	char conf[4096];
	int port = h_free_port();
	bool tcp = e->mode && !strcmp(e->mode, "tcp");
	int n = snprintf(conf, sizeof(conf),
		"[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n%s\n"
		"[defaults]\ntimeout_connect = 500ms\ntimeout_client = 10s\n"
		"timeout_server = 10s\ntimeout_client_fin = 300ms\ntimeout_server_fin = 300ms\n"
		"timeout_http_request = 5s\ntimeout_http_keep_alive = 5s\n%s\n"
		"[frontend web]\nbind = 127.0.0.1:%d %s\nmode = %s\nbackend = app\n%s\n"
		"[backend app]\nmode = %s\nserver = s1 127.0.0.1:%d %s\n%s",
		e->global ? e->global : "", e->defaults ? e->defaults : "", port,
		e->bind ? e->bind : "", tcp ? "tcp" : "http", e->fe ? e->fe : "",
		e->be_mode ? e->be_mode : tcp ? "tcp" : "http-server-close", e->srv_port,
		e->srv ? e->srv : "", e->be ? e->be : "");

	cr_assert(n > 0 && (size_t)n < sizeof(conf));
	return h_proxy_start_text(conf, port);
}

#define REQ "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
#define V1_TCP4 "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n"

/* Sends pre (n bytes) then REQ on a new connection; returns the status. */
static int exchange(int port, const void *pre, size_t n, struct hu_rsp *r)
{
	struct hu_cli c;
	int rc;

	hu_cli_open(&c, port);
	if (n)
		cr_assert_eq(hu_cli_send_n(&c, pre, n), 0);
	cr_assert_eq(hu_cli_send(&c, REQ), 0);
	rc = hu_read_rsp(&c, r, false, hu_io_to());
	hu_cli_close(&c);
	return rc < 0 ? rc : r->status;
}

/* The request head the origin got on connection idx (after any PROXY
 * header) contains needle. */
static bool origin_saw(struct hu_origin *o, int idx, const char *needle)
{
	struct hu_conn_info ci;
	bool found;

	cr_assert(hu_conn_wait_request(o, idx, hu_io_to()));
	hu_conn_get(o, idx, &ci);
	found = ci.raw_len > ci.pp_len && strstr(ci.raw + ci.pp_len, needle);
	if (!found)
		fprintf(stderr, "origin conn %d got:\n%s\n", idx, ci.raw + ci.pp_len);
	hu_conn_info_free(&ci);
	return found;
}

static size_t v2_hdr(unsigned char *b, unsigned char cmd, unsigned char fam, const char *src,
		     const char *dst, unsigned sport, unsigned dport)
{
	static const unsigned char sig[12] = { 13, 10, 13, 10, 0, 13, 10, 'Q', 'U', 'I', 'T', 10 };
	size_t alen = fam == 0x11 ? 4 : fam == 0x21 ? 16 : 0, body = alen ? 2 * alen + 4 : 0;

	memcpy(b, sig, 12);
	b[12] = cmd;
	b[13] = fam;
	b[14] = 0;
	b[15] = (unsigned char)body;
	if (alen) {
		int af = alen == 4 ? AF_INET : AF_INET6;

		cr_assert_eq(inet_pton(af, src, b + 16), 1);
		cr_assert_eq(inet_pton(af, dst, b + 16 + alen), 1);
		b[16 + 2 * alen] = (unsigned char)(sport >> 8);
		b[17 + 2 * alen] = (unsigned char)sport;
		b[18 + 2 * alen] = (unsigned char)(dport >> 8);
		b[19 + 2 * alen] = (unsigned char)dport;
	}
	return 16 + body;
}

static double metric(struct h_proxy *p, const char *series)
{
	return tu_metric(p, series);
}

/* ---- accept_proxy ---------------------------------------------------------- */

Test(edge, proxy_v1_sets_the_client_address_split_or_whole)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_rsp r;
	struct hu_cli c;

	cr_assert_eq(exchange(p->port, V1_TCP4, strlen(V1_TCP4), &r), 200);
	cr_assert(origin_saw(o, 0, "\r\nX-Forwarded-For: 192.0.2.7\r\n"));
	/* the header in three pieces, the request in the last one's packet */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "PROXY TCP4 19"), 0);
	h_sleep_ms(100);
	cr_assert_eq(hu_cli_send(&c, "2.0.2.8 198.51.100.1 40001"), 0);
	h_sleep_ms(100);
	cr_assert_eq(hu_cli_send(&c, " 443\r\n" REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_cli_close(&c);
	cr_assert(origin_saw(o, 1, "\r\nX-Forwarded-For: 192.0.2.8\r\n"));
	/* the access log names the client the header named */
	for (int i = 0; i < 50 && !hu_log_has(p, "192.0.2.8:40001 web app/s1"); i++)
		h_sleep_ms(50);
	cr_assert(hu_log_has(p, "192.0.2.7:40000 web app/s1"));
	cr_assert(hu_log_has(p, "192.0.2.8:40001 web app/s1"));
	h_proxy_finish(p);
}

Test(edge, proxy_v2_tcp4_tcp6_and_local)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	unsigned char b[64];
	struct hu_rsp r;
	size_t n;

	n = v2_hdr(b, 0x21, 0x11, "203.0.113.9", "127.0.0.1", 5555, 80);
	cr_assert_eq(exchange(p->port, b, n, &r), 200);
	cr_assert(origin_saw(o, 0, "\r\nX-Forwarded-For: 203.0.113.9\r\n"));
	n = v2_hdr(b, 0x21, 0x21, "2001:db8::7", "2001:db8::1", 6666, 443);
	cr_assert_eq(exchange(p->port, b, n, &r), 200);
	cr_assert(origin_saw(o, 1, "\r\nX-Forwarded-For: 2001:db8::7\r\n"));
	/* LOCAL: the balancer's own connection keeps its real address */
	n = v2_hdr(b, 0x20, 0x00, NULL, NULL, 0, 0);
	cr_assert_eq(exchange(p->port, b, n, &r), 200);
	cr_assert(origin_saw(o, 2, "\r\nX-Forwarded-For: 127.0.0.1\r\n"));
	for (int i = 0; i < 50 && !hu_log_has(p, "[2001:db8::7]:6666 web"); i++)
		h_sleep_ms(50);
	cr_assert(hu_log_has(p, "203.0.113.9:5555 web app/s1"));
	cr_assert(hu_log_has(p, "[2001:db8::7]:6666 web app/s1"));
	h_proxy_finish(p);
}

Test(edge, malformed_or_missing_proxy_headers_are_refused_and_counted)
{
	static const char *const bad[] = {
		REQ,                                                 /* no header at all */
		"PROXY TCP4 192.0.2.777 198.51.100.1 1 2\r\n" REQ,   /* bad address */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n" REQ,       /* a field missing */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n" REQ,       /* bare LF */
		"\r\n\r\n\0\r\nQUIT\n\x11\x11\0\0",                  /* v2, version 1 */
	};
	static const size_t len[] = { 0, 0, 0, 0, 16 };
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	uint64_t extra = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send_n(&c, bad[i], len[i] ? len[i] : strlen(bad[i])), 0);
		cr_assert_eq(hu_cli_wait_eof(&c, hu_io_to(), &extra), 0, "case %zu", i);
		cr_assert_eq(extra, 0, "case %zu: %llu bytes answered", i,
			     (unsigned long long)extra);
		hu_cli_close(&c);
	}
	/* a client that closes mid-header */
	{
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, "PROXY TCP4 192.0.2.7 "), 0);
		shutdown(c.fd, SHUT_WR);
		cr_assert_eq(hu_cli_wait_eof(&c, hu_io_to(), &extra), 0);
		hu_cli_close(&c);
	}
	cr_assert_eq(hu_origin_accepted(o), 0, "nothing reaches a server");
	cr_assert_eq(metric(p, "sluice_frontend_proxy_header_failures_total{frontend=\"web\","
			    "reason=\"invalid\"}"), 5);
	cr_assert_eq(metric(p, "sluice_frontend_proxy_header_failures_total{frontend=\"web\","
			    "reason=\"closed\"}"), 1);
	cr_assert(hu_log_has(p, "frontend web: PROXY header refused (invalid) from 127.0.0.1:"));
	h_proxy_finish(p);
}

Test(edge, proxy_header_must_arrive_within_timeout_http_request)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv_port = hu_origin_port(o),
			  .fe = "timeout_http_request = 1s\n" };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_cli c;
	uint64_t t0, dt;

	hu_cli_open(&c, p->port);
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_send(&c, "PROXY TCP4 192.0.2.7 198."), 0);
	cr_assert_eq(hu_cli_wait_eof(&c, 6000 * h_slow(), NULL), 0);
	dt = h_now_ms() - t0;
	cr_assert(dt >= 900 && dt < 1000 + 3000u * (unsigned)h_slow(), "closed after %llu ms",
		  (unsigned long long)dt);
	hu_cli_close(&c);
	cr_assert_eq(metric(p, "sluice_frontend_proxy_header_failures_total{frontend=\"web\","
			    "reason=\"timeout\"}"), 1);
	cr_assert(hu_log_has(p, "PROXY header refused (timeout)"));
	h_proxy_finish(p);
}

Test(edge, maxconn_per_source_counts_the_proxy_address)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv_port = hu_origin_port(o),
			  .fe = "maxconn_per_source = 1\n" };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_cli a, b, c;
	struct hu_rsp r;

	/* every connection comes from 127.0.0.1; the header tells them apart */
	hu_cli_open(&a, p->port);
	cr_assert_eq(hu_cli_send(&a, V1_TCP4), 0); /* holds the slot of 192.0.2.7 */
	h_sleep_ms(200);
	hu_cli_open(&b, p->port);
	cr_assert_eq(hu_cli_send(&b, "PROXY TCP4 192.0.2.7 198.51.100.1 40002 443\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&b, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 429);
	hu_cli_close(&b);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "PROXY TCP4 192.0.2.8 198.51.100.1 40003 443\r\n" REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_cli_close(&c);
	cr_assert_eq(hu_cli_send(&a, REQ), 0);
	cr_assert_eq(hu_read_rsp(&a, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200);
	hu_cli_close(&a);
	h_proxy_finish(p);
}

Test(edge, proxy_header_before_the_tls_client_hello)
{
	const struct tu_certs *certs = tu_certs();
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	char bind[800];
	struct ecfg e = { .bind = bind, .srv_port = hu_origin_port(o) };
	struct h_proxy *p;
	struct tu_conn c;
	struct tu_rsp r;
	struct tu_opts to = { .sni = "a.example.test", .pre = V1_TCP4, .pre_len = strlen(V1_TCP4) };

	snprintf(bind, sizeof(bind), "accept_proxy ssl crt=%s", certs->a);
	p = edge_proxy(&e);
	cr_assert_eq(tu_connect(&c, p->port, &to), 0, "%s", c.errstr);
	cr_assert_eq(tu_http(&c, REQ, &r), 0);
	cr_assert_eq(r.status, 200);
	tu_close(&c);
	cr_assert(origin_saw(o, 0, "\r\nX-Forwarded-For: 192.0.2.7\r\n"));
	cr_assert(origin_saw(o, 0, "\r\nX-Forwarded-Proto: https\r\n"));
	/* without the header, the ClientHello itself is refused as a header */
	to.pre = NULL;
	to.pre_len = 0;
	cr_assert_neq(tu_connect(&c, p->port, &to), 0);
	tu_abort(&c);
	cr_assert_eq(metric(p, "sluice_frontend_proxy_header_failures_total{frontend=\"web\","
			    "reason=\"invalid\"}"), 1);
	cr_assert_eq(hu_origin_accepted(o), 1);
	h_proxy_finish(p);
}

/* ---- send_proxy ------------------------------------------------------------- */

Test(edge, send_proxy_v1_in_http_mode_names_the_real_client)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .proxy_hdr = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .srv = "send_proxy", .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_conn_info ci;
	struct hu_rsp r;
	char dst[64];

	cr_assert_eq(exchange(p->port, NULL, 0, &r), 200);
	cr_assert_eq(exchange(p->port, NULL, 0, &r), 200);
	snprintf(dst, sizeof(dst), "127.0.0.1:%d", p->port);
	for (int i = 0; i < 2; i++) { /* one header per server connection */
		cr_assert(hu_conn_wait_request(o, i, hu_io_to()));
		hu_conn_get(o, i, &ci);
		cr_assert_eq(ci.pp_version, 1);
		cr_assert(!strncmp(ci.pp_src, "127.0.0.1:", 10), "%s", ci.pp_src);
		cr_assert_str_eq(ci.pp_dst, dst);
		cr_assert(ci.req_complete);
		cr_assert(!strncmp(ci.raw + ci.pp_len, "GET /x HTTP/1.1\r\n", 17));
		hu_conn_info_free(&ci);
	}
	h_proxy_finish(p);
}

Test(edge, send_proxy_v2_carries_the_accepted_proxy_address)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .proxy_hdr = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .bind = "accept_proxy", .srv = "send_proxy_v2",
			  .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_conn_info ci;
	struct hu_rsp r;

	cr_assert_eq(exchange(p->port, V1_TCP4, strlen(V1_TCP4), &r), 200);
	cr_assert(hu_conn_wait_request(o, 0, hu_io_to()));
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.pp_version, 2);
	cr_assert_str_eq(ci.pp_src, "192.0.2.7:40000");
	cr_assert_str_eq(ci.pp_dst, "198.51.100.1:443");
	cr_assert(strstr(ci.raw + ci.pp_len, "\r\nX-Forwarded-For: 192.0.2.7\r\n"));
	hu_conn_info_free(&ci);
	h_proxy_finish(p);
}

Test(edge, tcp_mode_accept_proxy_then_send_proxy_v2)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .proxy_hdr = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .mode = "tcp", .bind = "accept_proxy", .srv = "send_proxy_v2",
			  .srv_port = hu_origin_port(o) };
	struct h_proxy *p = edge_proxy(&e);
	unsigned char b[64];
	struct hu_conn_info ci;
	struct hu_rsp r;
	size_t n = v2_hdr(b, 0x21, 0x21, "2001:db8::7", "2001:db8::1", 1234, 443);

	/* the request is relayed as bytes: the origin sees our header, then it */
	cr_assert_eq(exchange(p->port, b, n, &r), 200);
	cr_assert(hu_conn_wait_request(o, 0, hu_io_to()));
	hu_conn_get(o, 0, &ci);
	cr_assert_eq(ci.pp_version, 2);
	cr_assert_str_eq(ci.pp_src, "[2001:db8::7]:1234");
	cr_assert_str_eq(ci.pp_dst, "[2001:db8::1]:443");
	cr_assert(!strncmp(ci.raw + ci.pp_len, REQ, strlen(REQ)));
	hu_conn_info_free(&ci);
	for (int i = 0; i < 50 && !hu_log_has(p, "[2001:db8::7]:1234 web app/s1"); i++)
		h_sleep_ms(50);
	cr_assert(hu_log_has(p, "[2001:db8::7]:1234 web app/s1"));
	h_proxy_finish(p);
}

/* One keep-alive request on a new client connection that starts with a
 * PROXY header from src; returns the origin's answer. */
static struct lu_ans pooled_req(int port, const char *src, int sport, char *body, size_t n)
{
	char pre[128];
	struct hu_cli c;
	struct hu_rsp r;
	struct lu_ans a;

	snprintf(pre, sizeof(pre), "PROXY TCP4 %s 198.51.100.1 %d 443\r\n", src, sport);
	hu_cli_open(&c, port);
	cr_assert_eq(hu_cli_send(&c, pre), 0);
	cr_assert_eq(lu_request(&c, "GET", "/p", 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(lu_parse_ans(&r, &a), "%s", r.body);
	snprintf(body, n, "%.200s", r.body);
	hu_cli_close(&c);
	return a;
}

Test(edge, send_proxy_pool_reuses_a_connection_only_for_the_same_client)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'P', .proxy_v1 = true };
	struct lu_origin *o = lu_origin_start(&oo);
	struct ecfg e = { .bind = "accept_proxy", .be_mode = "http-keep-alive",
			  .srv = "send_proxy", .srv_port = lu_origin_port(o),
			  .be = "pool_idle_timeout = 1s\n" };
	struct h_proxy *p = edge_proxy(&e);
	struct lu_ans a;
	char body[256];

	a = pooled_req(p->port, "192.0.2.7", 1000, body, sizeof(body));
	cr_assert(a.conn == 0 && a.req == 1 && strstr(body, " pp=192.0.2.7\n"), "%s", body);
	h_sleep_ms(100); /* the connection is back in the pool */
	/* another client: the pooled connection speaks for 192.0.2.7, not it */
	a = pooled_req(p->port, "192.0.2.8", 1001, body, sizeof(body));
	cr_assert(a.conn == 1 && a.req == 1 && strstr(body, " pp=192.0.2.8\n"), "%s", body);
	h_sleep_ms(100);
	/* the first client again (another port): its own connection is reused */
	a = pooled_req(p->port, "192.0.2.7", 1002, body, sizeof(body));
	cr_assert(a.conn == 0 && a.req == 2 && strstr(body, " pp=192.0.2.7\n"), "%s", body);
	h_proxy_finish(p); /* pooled connections expire after pool_idle_timeout */
}

/* ---- timeout_tunnel --------------------------------------------------------- */

#define UPGRADE_REQ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
#define SWITCH "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"

Test(edge, idle_tunnel_outlives_timeout_client_until_timeout_tunnel)
{
	struct hu_script sc = { .act = HU_ACT_UPGRADE, .raw = SWITCH };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .srv_port = hu_origin_port(o),
			  .defaults = "timeout_tunnel = 4s\n",
			  .fe = "timeout_client = 1s\ntimeout_http_keep_alive = 1s\n" };
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	char echo[5] = { 0 };
	uint64_t t0, dt;

	p = edge_proxy(&e);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 101);
	h_sleep_ms(2500); /* idle: past timeout_client (1s), within timeout_tunnel */
	cr_assert_eq(hu_cli_send(&c, "ping"), 0);
	cr_assert_eq(h_recv_exact(c.fd, echo, 4, hu_io_to()), 0);
	cr_assert_str_eq(echo, "ping");
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_wait_eof(&c, 12000 * h_slow(), NULL), 0);
	dt = h_now_ms() - t0;
	cr_assert(dt >= 3800 && dt < 4000 + 3000u * (unsigned)h_slow(),
		  "idle tunnel closed after %llu ms", (unsigned long long)dt);
	hu_cli_close(&c);
	cr_assert_eq(metric(p, "sluice_frontend_timeouts_total{frontend=\"web\","
			    "kind=\"tunnel\"}"), 1);
	h_proxy_finish(p);
}

Test(edge, backend_timeout_tunnel_wins_over_the_frontend)
{
	struct hu_script sc = { .act = HU_ACT_UPGRADE, .raw = SWITCH };
	struct hu_origin *o = hu_origin_start(&sc);
	char conf[2048];
	int port = h_free_port();
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;
	uint64_t t0, dt;

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n"
		 "timeout_tunnel = 30s\n"
		 "[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n"
		 "timeout_tunnel = 1s\n", port, hu_origin_port(o));
	p = h_proxy_start_text(conf, port);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, UPGRADE_REQ), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 101);
	t0 = h_now_ms();
	cr_assert_eq(hu_cli_wait_eof(&c, 10000 * h_slow(), NULL), 0);
	dt = h_now_ms() - t0;
	cr_assert(dt >= 800 && dt < 1000 + 3000u * (unsigned)h_slow(), "closed after %llu ms",
		  (unsigned long long)dt);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* ---- request ids -------------------------------------------------------------- */

static bool is_hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return !isxdigit((unsigned char)s[32]);
}

/* The value of the (only) X-Request-ID header the origin got on idx. */
static void origin_id(struct hu_origin *o, int idx, char *out, size_t n)
{
	struct hu_conn_info ci;
	const char *h, *e;

	cr_assert(hu_conn_wait_request(o, idx, hu_io_to()));
	hu_conn_get(o, idx, &ci);
	h = strcasestr(ci.raw, "\r\nX-Request-ID: ");
	cr_assert(h, "%s", ci.raw);
	cr_assert_null(strcasestr(h + 2, "\r\nX-Request-ID:"), "two ids: %s", ci.raw);
	h += 16;
	e = strstr(h, "\r\n");
	cr_assert(e && (size_t)(e - h) < n);
	memcpy(out, h, (size_t)(e - h));
	out[e - h] = 0;
	hu_conn_info_free(&ci);
}

static void wait_log(struct h_proxy *p, const char *needle)
{
	for (int i = 0; i < 60 && !hu_log_has(p, needle); i++)
		h_sleep_ms(50);
	cr_assert(hu_log_has(p, needle), "not in the log: %s", needle);
}

Test(edge, request_ids_generated_kept_and_replaced)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct ecfg e = { .srv_port = hu_origin_port(o), .fe = "request_id = X-Request-ID\n" };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_cli c;
	struct hu_rsp r;
	char id[200], id2[200], line[300];

	/* none: a new one, 32 hex characters */
	cr_assert_eq(exchange(p->port, NULL, 0, &r), 200);
	origin_id(o, 0, id, sizeof(id));
	cr_assert(is_hex32(id), "%s", id);
	snprintf(line, sizeof(line), "\"GET /x HTTP/1.1\" %s\n", id);
	wait_log(p, line);
	/* a sane one is kept */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /k HTTP/1.1\r\nHost: a\r\nx-request-id: "
				 "Abc-123.def:4_5\r\nConnection: close\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	hu_cli_close(&c);
	origin_id(o, 1, id2, sizeof(id2));
	cr_assert_str_eq(id2, "Abc-123.def:4_5");
	wait_log(p, "\"GET /k HTTP/1.1\" Abc-123.def:4_5\n");
	/* insane ones (a space, a quote, two of them, too long) are replaced */
	{
		static const char *const bad[] = {
			"X-Request-ID: a b\r\n", "X-Request-ID: a\"b\r\n",
			"X-Request-ID: one\r\nX-Request-ID: two\r\n", "X-Request-ID: \r\n",
		};
		char req[512];

		for (int i = 0; i < 4; i++) {
			snprintf(req, sizeof(req), "GET /b%d HTTP/1.1\r\nHost: a\r\n%s"
				 "Connection: close\r\n\r\n", i, bad[i]);
			hu_cli_open(&c, p->port);
			cr_assert_eq(hu_cli_send(&c, req), 0);
			cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
			cr_assert_eq(r.status, 200);
			hu_cli_close(&c);
			origin_id(o, 2 + i, id2, sizeof(id2));
			cr_assert(is_hex32(id2), "case %d: %s", i, id2);
			cr_assert_str_neq(id2, id);
		}
	}
	/* 129 characters: one too many */
	{
		char req[512], big[130];

		memset(big, 'a', 129);
		big[129] = 0;
		snprintf(req, sizeof(req), "GET /long HTTP/1.1\r\nHost: a\r\nX-Request-ID: %s\r\n"
			 "Connection: close\r\n\r\n", big);
		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, req), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
		hu_cli_close(&c);
		origin_id(o, 6, id2, sizeof(id2));
		cr_assert(is_hex32(id2), "%s", id2);
	}
	h_proxy_finish(p);
}

Test(edge, request_id_on_error_pages_and_in_json_logs)
{
	int dead = h_free_port(); /* nothing listens there: 503 */
	struct ecfg e = { .srv_port = dead, .fe = "request_id = X-Request-ID\n",
			  .global = "log_format = json\n" };
	struct h_proxy *p = edge_proxy(&e);
	struct hu_cli c;
	struct hu_rsp r;
	char v[200];

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: trace-42\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 503);
	cr_assert(hu_header(&r, "X-Request-ID", v, sizeof(v)), "%s", r.head);
	cr_assert_str_eq(v, "trace-42");
	hu_cli_close(&c);
	wait_log(p, "\"status\":503,");
	wait_log(p, ",\"request_id\":\"trace-42\"}");
	/* an error after the head keeps the client's id (405) */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n"
				 "X-Request-ID: conn-7\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 405);
	cr_assert(hu_header(&r, "X-Request-ID", v, sizeof(v)), "%s", r.head);
	cr_assert_str_eq(v, "conn-7");
	hu_cli_close(&c);
	/* a malformed request gets a new id on its 400 */
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 400);
	cr_assert(hu_header(&r, "X-Request-ID", v, sizeof(v)), "%s", r.head);
	cr_assert(is_hex32(v), "%s", v);
	hu_cli_close(&c);
	{
		char needle[300];

		snprintf(needle, sizeof(needle), ",\"request_id\":\"%s\"}", v);
		wait_log(p, needle);
	}
	h_proxy_finish(p);
}
