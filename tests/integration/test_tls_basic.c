/*
 * TLS termination on http frontends (`bind = ... ssl crt=...`): curl over
 * HTTPS, certificate selection by SNI (exact name, SAN, CN, wildcard,
 * unknown or absent name -> the first certificate), TLS 1.2 and 1.3,
 * ssl_min_version, ALPN, session resumption by ticket, broken clients
 * (garbage, plain HTTP, truncated or stalled ClientHello) closed without
 * disturbing a good session, handshake failure metrics and log lines,
 * close_notify on orderly close, and keep-alive over one TLS connection.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

TestSuite(tls_basic, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define FE "web"
#define GET_KA "GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n"

static int to(void)
{
	return tu_io_to();
}

/* An INFO origin and a TLS http frontend in front of it; conf may be NULL
 * (defaults of tu_conf). */
static struct h_proxy *start(const struct tu_conf *conf, struct hu_origin **o)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct tu_conf c = { 0 };

	if (conf)
		c = *conf;
	*o = hu_origin_start(&sc);
	c.nservers = 1;
	c.server_port[0] = hu_origin_port(*o);
	return tu_proxy_start(&c);
}

static void connect_ok(struct tu_conn *c, int port, const struct tu_opts *o)
{
	int rc = tu_connect(c, port, o);

	cr_assert_eq(rc, 0, "TLS handshake (sni %s, versions %d..%d) failed: %s: %s",
		     o->sni ? o->sni : "none", o->min_ver, o->max_ver, strerror(-rc),
		     c->errstr);
}

/* One GET of path on c; asserts the INFO answer for it. */
static void get_ok(struct tu_conn *c, const char *path)
{
	char req[256], want[256];
	struct tu_rsp r;
	int rc;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a.example.test\r\n\r\n", path);
	rc = tu_http(c, req, &r);
	cr_assert_eq(rc, 0, "GET %s over TLS: %s (%s)", path, strerror(-rc), c->errstr);
	cr_assert_eq(r.status, 200, "GET %s: status %d:\n%s", path, r.status, r.head);
	snprintf(want, sizeof(want), "GET %s 0 ", path);
	cr_assert(!strncmp(r.body, want, strlen(want)), "GET %s: origin saw '%s'", path,
		  r.body);
}

static double metric(struct h_proxy *p, const char *name)
{
	char s[256];

	tu_series(s, sizeof(s), name, FE);
	return tu_metric(p, s);
}

/* Waits until the counter reaches min; asserts it does. */
static void expect_metric(struct h_proxy *p, const char *name, double min)
{
	char s[256];
	double v;

	tu_series(s, sizeof(s), name, FE);
	v = tu_metric_wait(p, s, min, 2000 * h_slow());
	cr_assert(v >= min, "%s = %g, expected >= %g", s, v, min);
}

static void expect_failures(struct h_proxy *p, const char *reason, double min)
{
	char s[256];
	double v;

	tu_series_fail(s, sizeof(s), FE, reason);
	v = tu_metric_wait(p, s, min, 2000 * h_slow());
	cr_assert(v >= min, "%s = %g, expected >= %g", s, v, min);
}

/* (with h2 on, the default, curl picks h2: tests/integration/test_h2.c) */
Test(tls_basic, curl_gets_origin_response_over_https_with_http11_alpn)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct tu_conf tc = { .h2 = "off" };
	struct h_proxy *p = start(&tc, &o);
	char url[128], resolve[128], out[700], *text;
	const char *argv[] = { "curl", "-sS", "--cacert", t->ca, "--resolve", resolve,
			       "--max-time", "10", "-w", "\n%{http_version}\n", url, NULL };
	int st;

	snprintf(url, sizeof(url), "https://a.example.test:%d/via-curl", p->port);
	snprintf(resolve, sizeof(resolve), "a.example.test:%d:127.0.0.1", p->port);
	h_write_file("curl.out", "", out, sizeof(out));
	st = tu_run(argv, out, 15000 * h_slow());
	text = tu_slurp(out);
	cr_assert(st == 0, "curl status %d:\n%s", st, text);
	/* the body the origin wrote, then -w's line: HTTP/1.1 chosen by ALPN
	 * although curl offers h2 first */
	cr_assert(!strncmp(text, "GET /via-curl 0 ", 16), "curl got:\n%s", text);
	cr_assert(strstr(text, "\n1.1\n"), "curl did not speak HTTP/1.1:\n%s", text);
	free(text);
	cr_assert_eq(hu_origin_accepted(o), 1);
	expect_metric(p, "sluice_frontend_tls_handshakes_total", 1);
	h_proxy_finish(p);
}

Test(tls_basic, sni_selects_the_certificate)
{
	static const struct {
		const char *sni;
		const char *cn;
	} cases[] = {
		{ "a.example.test", "a.example.test" },
		{ "a-alt.example.test", "a.example.test" },   /* second SAN entry */
		{ "b.example.test", "b.example.test" },
		{ "x.wild.example.test", "*.wild.example.test" },
		{ "c.example.test", "c.example.test" },       /* CN, no SAN */
		{ "unknown.example.test", "b.example.test" }, /* first in the list */
		{ "wild.example.test", "b.example.test" },    /* * needs a label */
		{ NULL, "b.example.test" },                   /* no SNI: first */
	};
	const struct tu_certs *t = tu_certs();
	struct tu_conf c = { 0 };
	struct hu_origin *o;
	struct h_proxy *p;
	char crt[2600];
	int n = 0;

	/* b first, so that "the first certificate" is not the a one that a
	 * proxy ignoring the list would serve */
	snprintf(crt, sizeof(crt), "%s,%s,%s,%s", t->b, t->a, t->wild, t->c);
	c.crt = crt;
	p = start(&c, &o);
	for (int v = 12; v <= 13; v++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct tu_opts oo = { .sni = cases[i].sni, .min_ver = v, .max_ver = v };
			struct tu_conn cn;

			connect_ok(&cn, p->port, &oo);
			cr_expect_str_eq(cn.peer_cn, cases[i].cn,
					 "TLS 1.%d, SNI %s: certificate %s, expected %s", v - 10,
					 cases[i].sni ? cases[i].sni : "(none)", cn.peer_cn,
					 cases[i].cn);
			if (i % 3 == 0)
				get_ok(&cn, "/sni");
			tu_close(&cn);
			n++;
		}
	}
	expect_metric(p, "sluice_frontend_tls_handshakes_total", n);
	h_proxy_finish(p);
}

Test(tls_basic, tls12_and_tls13_both_work)
{
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	static const struct {
		int min, max;
		const char *version;
	} cases[] = {
		{ 12, 12, "TLSv1.2" },
		{ 13, 13, "TLSv1.3" },
		{ 12, 13, "TLSv1.3" }, /* the best both sides have */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tu_opts oo = { .sni = "a.example.test", .min_ver = cases[i].min,
				      .max_ver = cases[i].max };
		struct tu_conn c;

		connect_ok(&c, p->port, &oo);
		cr_expect_str_eq(c.version, cases[i].version, "client %d..%d negotiated %s",
				 cases[i].min, cases[i].max, c.version);
		cr_expect_str_eq(c.peer_cn, "a.example.test");
		get_ok(&c, "/v");
		tu_close(&c);
	}
	expect_metric(p, "sluice_frontend_tls_handshakes_total", 3);
	h_proxy_finish(p);
}

Test(tls_basic, min_version_13_refuses_a_tls12_client)
{
	struct tu_conf cf = { .ssl_min_version = "1.3" };
	struct tu_opts o12 = { .sni = "a.example.test", .min_ver = 12, .max_ver = 12 };
	struct tu_opts any = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	struct tu_conn c;
	int rc;

	rc = tu_connect(&c, p->port, &o12);
	cr_assert_neq(rc, 0, "a TLS 1.2-only client completed a handshake (%s) with "
		      "ssl_min_version = 1.3", c.version);
	tu_close(&c);
	expect_failures(p, "protocol", 1);
	cr_assert(hu_log_has(p, "TLS handshake failed"), "no 'TLS handshake failed' log line");

	connect_ok(&c, p->port, &any);
	cr_expect_str_eq(c.version, "TLSv1.3");
	get_ok(&c, "/13");
	tu_close(&c);
	cr_assert_eq(hu_origin_accepted(o), 1);
	h_proxy_finish(p);
}

Test(tls_basic, alpn_offers_http11_only_with_h2_off)
{
	static const struct {
		const char *offer;
		const char *chosen;
	} cases[] = {
		{ "h2,http/1.1", "http/1.1" },
		{ "http/1.1", "http/1.1" },
		{ "h2", "" },   /* no overlap: no ALPN, the handshake still works */
		{ NULL, "" },
	};
	struct hu_origin *o;
	struct tu_conf tc = { .h2 = "off" };
	struct h_proxy *p = start(&tc, &o);

	for (int v = 12; v <= 13; v++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct tu_opts oo = { .sni = "a.example.test", .alpn = cases[i].offer,
					      .min_ver = v, .max_ver = v };
			struct tu_conn c;

			connect_ok(&c, p->port, &oo);
			cr_expect_str_eq(c.alpn, cases[i].chosen,
					 "TLS 1.%d, offer %s: ALPN '%s', expected '%s'", v - 10,
					 cases[i].offer ? cases[i].offer : "(none)", c.alpn,
					 cases[i].chosen);
			get_ok(&c, "/alpn");
			tu_close(&c);
		}
	}
	h_proxy_finish(p);
}

/* openssl s_client -tls1_2 on port with sess_flag (-sess_out/-sess_in);
 * returns its output (malloc'd) after asserting it verified the chain. */
static char *s_client(int port, const char *sess_flag, const char *sess_path)
{
	const struct tu_certs *t = tu_certs();
	char addr[32], out[700], *text;
	const char *argv[] = { "openssl", "s_client", "-connect", addr, "-tls1_2",
			       "-servername", "a.example.test", "-CAfile", t->ca,
			       "-verify_return_error", sess_flag, sess_path, NULL };
	int st;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	h_write_file("s_client.out", "", out, sizeof(out));
	st = tu_run(argv, out, 15000 * h_slow());
	text = tu_slurp(out);
	cr_assert(st == 0, "openssl s_client (status %d):\n%s", st, text);
	cr_assert(strstr(text, "Verify return code: 0 (ok)"), "s_client:\n%s", text);
	return text;
}

/* A TLS 1.2 ticket issued by port a: resumed there, refused by port b
 * (other ticket keys) with a full handshake rather than a failure. */
static void openssl_resume_elsewhere(int a, int b)
{
	char sess[700], *text;

	h_write_file("s_client.sess", "", sess, sizeof(sess));
	text = s_client(a, "-sess_out", sess);
	cr_assert(strstr(text, "New, TLSv1.2"), "first s_client:\n%s", text);
	free(text);
	text = s_client(a, "-sess_in", sess);
	cr_expect(strstr(text, "Reused, TLSv1.2"), "s_client did not resume:\n%s", text);
	free(text);
	text = s_client(b, "-sess_in", sess);
	cr_expect(strstr(text, "New, TLSv1.2"), "another proxy with a foreign ticket:\n%s",
		  text);
	free(text);
}

/* A full handshake, a request (under TLS 1.3 the ticket follows the
 * handshake), then a second connection offering the session: resumed, and
 * counted as such. A ticket from another proxy cannot be decrypted there:
 * a full handshake instead, not a failure. */
static void resumption(int v)
{
	struct tu_opts oo = { .sni = "a.example.test", .min_ver = v, .max_ver = v };
	struct hu_origin *o, *o2;
	struct h_proxy *p = start(NULL, &o), *p2 = start(NULL, &o2);
	WOLFSSL_SESSION *s;
	struct tu_conn c;
	double h0 = metric(p, "sluice_frontend_tls_handshakes_total");
	double r0 = metric(p, "sluice_frontend_tls_resumed_total");

	connect_ok(&c, p->port, &oo);
	cr_assert(!c.resumed);
	get_ok(&c, "/first");
	s = tu_session(&c);
	cr_assert(s, "no session to resume");
	tu_close(&c);

	for (int i = 0; i < 2; i++) {
		oo.resume = s;
		connect_ok(&c, p->port, &oo);
		cr_expect(c.resumed, "TLS 1.%d: connection %d with the ticket of the first "
			  "was not resumed", v - 10, i + 2);
		cr_expect_str_eq(c.version, v == 12 ? "TLSv1.2" : "TLSv1.3");
		get_ok(&c, "/resumed");
		if (i == 0) {
			/* keep the freshest session: TLS 1.3 tickets may be
			 * single-use */
			WOLFSSL_SESSION *n = tu_session(&c);

			if (n) {
				wolfSSL_SESSION_free(s);
				s = n;
			}
		}
		tu_close(&c);
	}
	expect_metric(p, "sluice_frontend_tls_resumed_total", r0 + 2);
	expect_metric(p, "sluice_frontend_tls_handshakes_total", h0 + 3);
	cr_expect_eq(metric(p, "sluice_frontend_tls_handshakes_total"), h0 + 3,
		     "a resumed handshake counted twice?");

	if (v == 13) {
		connect_ok(&c, p2->port, &oo);
		cr_expect(!c.resumed, "another proxy resumed a session it never issued");
		get_ok(&c, "/elsewhere");
		tu_close(&c);
	} else {
		/* wolfSSL 5.5.4's client aborts a TLS 1.2 handshake whose
		 * ticket was refused ("out of order message", with any server,
		 * OpenSSL's too): OpenSSL's client shows the fallback instead */
		openssl_resume_elsewhere(p->port, p2->port);
	}
	wolfSSL_SESSION_free(s);
	cr_expect_eq(metric(p2, "sluice_frontend_tls_resumed_total"), 0);
	h_proxy_finish(p2);
	h_proxy_finish(p);
}

Test(tls_basic, resumes_tls12_sessions_by_ticket)
{
	resumption(12);
}

Test(tls_basic, resumes_tls13_sessions_by_ticket)
{
	resumption(13);
}

/* Waits for the proxy to close a raw connection; returns the ms it took
 * (asserts it did close within limit_ms). */
static uint64_t expect_raw_closed(int fd, uint64_t t0, int limit_ms, const char *what)
{
	int rc = h_wait_closed(fd, limit_ms, NULL);

	cr_assert(rc == 0 || rc == -ECONNRESET || rc == -EPIPE,
		  "%s: the proxy did not close the connection: %s", what, strerror(-rc));
	return h_now_ms() - t0;
}

/* A good TLS session stays up while a bad client is thrown out: the bad
 * client is closed at once (well before timeout_http_request), its failure
 * is counted under reason and logged, and the good one still works. */
static void bad_client(const void *bytes, size_t n, bool fin, bool rst, const char *reason)
{
	struct tu_conf cf = { .timeout_http_request = "20s" };
	struct tu_opts oo = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	struct tu_conn good;
	uint64_t t0, ms;
	int fd;

	connect_ok(&good, p->port, &oo);
	get_ok(&good, "/before");

	fd = h_connect(p->port, to());
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	t0 = h_now_ms();
	cr_assert_eq(h_send_all(fd, bytes, n, -1, to()), 0);
	if (rst) {
		/* let the proxy read the bytes first, then vanish */
		h_sleep_ms(100);
		h_close_rst(fd);
		fd = -1;
	} else {
		if (fin)
			cr_assert_eq(shutdown(fd, SHUT_WR), 0);
		ms = expect_raw_closed(fd, t0, 5000 * h_slow(), reason);
		cr_expect(ms < 3000u * (unsigned)h_slow(),
			  "bad client (%s) closed only after %llu ms", reason,
			  (unsigned long long)ms);
		close(fd);
	}
	expect_failures(p, reason, 1);
	cr_assert(hu_log_has(p, "TLS handshake failed"), "no 'TLS handshake failed' log line");

	get_ok(&good, "/after");
	tu_close(&good);
	/* nothing but the good session's two requests reached the origin */
	cr_assert_eq(hu_origin_accepted(o), 2, "the origin saw %d connections",
		     hu_origin_accepted(o));
	expect_metric(p, "sluice_frontend_tls_handshakes_total", 1);
	h_proxy_finish(p);
}

Test(tls_basic, garbage_is_closed_and_counted)
{
	uint8_t junk[512];

	h_pattern(junk, sizeof(junk), 0, 77);
	/* neither a TLS record (type 0x5a) nor an SSLv2 hello (high bit) */
	junk[0] = 0x5a;
	junk[1] = 0x5a;
	bad_client(junk, sizeof(junk), false, false, "protocol");
}

Test(tls_basic, plain_http_request_is_closed_and_never_forwarded)
{
	static const char req[] = "GET /plain HTTP/1.1\r\nHost: a.example.test\r\n\r\n";

	bad_client(req, sizeof(req) - 1, false, false, "protocol");
}

Test(tls_basic, truncated_client_hello_then_fin_is_closed)
{
	uint8_t hello[4096];
	size_t n = tu_client_hello(hello, sizeof(hello), "a.example.test");

	bad_client(hello, n / 2, true, false, "closed");
}

Test(tls_basic, reset_mid_handshake_is_counted_as_closed)
{
	uint8_t hello[4096];
	size_t n = tu_client_hello(hello, sizeof(hello), "a.example.test");

	bad_client(hello, n / 2, false, true, "closed");
}

/* Sends hello one byte every step_ms until the proxy closes; returns the
 * ms from connect to the close, or asserts after limit_ms. */
static uint64_t trickle_until_closed(int port, const uint8_t *hello, size_t n, int step_ms,
				     int limit_ms)
{
	int fd = h_connect(port, to());
	uint64_t t0 = h_now_ms();
	size_t i = 0;

	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char b[64];

		if (i < n - 1 && send(fd, hello + i, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
			i++;
		if (poll(&pfd, 1, step_ms) > 0) {
			ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);

			cr_assert(r <= 0, "the proxy answered %zd bytes to a partial hello", r);
			if (r == 0 || (errno != EAGAIN && errno != EINTR))
				break;
		}
		cr_assert(h_now_ms() - t0 < (uint64_t)limit_ms,
			  "stalled handshake still open after %d ms (%zu bytes sent)",
			  limit_ms, i);
	}
	close(fd);
	return h_now_ms() - t0;
}

Test(tls_basic, stalled_handshake_closed_at_timeout_http_request)
{
	struct tu_conf cf = { .timeout_http_request = "1s", .timeout_client = "10s" };
	struct tu_opts oo = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	uint8_t hello[4096];
	size_t n = tu_client_hello(hello, sizeof(hello), "a.example.test");
	unsigned hi = 1000 + 1500u * (unsigned)h_slow();
	struct tu_conn good;
	uint64_t t0, ms;
	int fd;

	/* part of a hello, then silence */
	fd = h_connect(p->port, to());
	cr_assert(fd >= 0);
	t0 = h_now_ms();
	cr_assert_eq(h_send_all(fd, hello, 40, -1, to()), 0);
	ms = expect_raw_closed(fd, t0, 10000 * h_slow(), "stalled hello");
	close(fd);
	cr_expect(ms >= 900 && ms <= hi, "stalled handshake closed after %llu ms, "
		  "expected ~1000 (timeout_http_request = 1s)", (unsigned long long)ms);

	/* a byte every 150 ms: the deadline counts from accept, not from the
	 * last byte (slowloris) */
	ms = trickle_until_closed(p->port, hello, n, 150, 10000 * h_slow());
	cr_expect(ms >= 900 && ms <= hi, "trickled handshake closed after %llu ms, "
		  "expected ~1000", (unsigned long long)ms);

	expect_failures(p, "timeout", 2);
	cr_assert(hu_log_has(p, "TLS handshake failed"), "no 'TLS handshake failed' log line");
	/* a handshake that completes in time is unaffected */
	connect_ok(&good, p->port, &oo);
	get_ok(&good, "/ok");
	tu_close(&good);
	h_proxy_finish(p);
}

Test(tls_basic, close_notify_before_closing_after_connection_close)
{
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);

	for (int v = 12; v <= 13; v++) {
		struct tu_opts oo = { .sni = "a.example.test", .min_ver = v, .max_ver = v };
		struct tu_conn c;
		struct tu_rsp r;
		char b[16];
		ssize_t got;
		int rc;

		connect_ok(&c, p->port, &oo);
		rc = tu_http(&c, "GET /last HTTP/1.1\r\nHost: a.example.test\r\n"
				 "Connection: close\r\n\r\n", &r);
		cr_assert_eq(rc, 0, "GET: %s (%s)", strerror(-rc), c.errstr);
		cr_assert_eq(r.status, 200);
		got = tu_recv(&c, b, sizeof(b));
		cr_assert_eq(got, 0, "TLS 1.%d: after a Connection: close response the client "
			     "read %zd (%s: %s) instead of a close_notify", v - 10, got,
			     got < 0 ? strerror((int)-got) : "data", c.errstr);
		rc = tu_wait_fin(&c, 3000 * h_slow());
		cr_assert_eq(rc, 0, "TLS 1.%d: no FIN after the close_notify: %s", v - 10,
			     strerror(-rc));
		tu_close(&c);
	}
	h_proxy_finish(p);
}

Test(tls_basic, keep_alive_serves_many_requests_on_one_connection)
{
	struct tu_opts oo = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	struct tu_conn c;
	struct tu_rsp r;
	char path[32], want[96];
	int rc;

	connect_ok(&c, p->port, &oo);
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/k%d", i);
		get_ok(&c, path);
	}
	/* a request with a body in the middle of the stream */
	rc = tu_send_str(&c, "POST /body HTTP/1.1\r\nHost: a.example.test\r\n"
			     "Content-Length: 100000\r\n\r\n");
	cr_assert_eq(rc, 0);
	cr_assert_eq(tu_send_pattern(&c, 100000, 5), 0);
	cr_assert_eq(tu_read_rsp(&c, &r), 0, "%s", c.errstr);
	snprintf(want, sizeof(want), "POST /body 100000 %016llx\n",
		 (unsigned long long)h_pattern_hash(100000, 5));
	cr_assert_str_eq(r.body, want);
	get_ok(&c, "/tail");
	cr_assert_eq(hu_origin_accepted(o), 22);
	/* the client ends it: close_notify + FIN; the proxy closes its side */
	tu_close(&c);
	expect_metric(p, "sluice_frontend_tls_handshakes_total", 1);
	h_proxy_finish(p);
}

Test(tls_basic, idle_keep_alive_timeout_sends_close_notify)
{
	struct tu_conf cf = { .timeout_http_keep_alive = "1s" };
	struct tu_opts oo = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	struct tu_conn c;
	uint64_t t0, ms;
	char b[16];
	ssize_t got;

	connect_ok(&c, p->port, &oo);
	get_ok(&c, "/idle");
	t0 = h_now_ms();
	got = tu_recv(&c, b, sizeof(b));
	ms = h_now_ms() - t0;
	cr_assert_eq(got, 0, "an idle keep-alive connection ended with %zd (%s: %s) instead "
		     "of a close_notify", got, got < 0 ? strerror((int)-got) : "data",
		     c.errstr);
	cr_expect(ms >= 800 && ms <= 1000 + 2000u * (unsigned)h_slow(),
		  "closed after %llu ms idle, timeout_http_keep_alive = 1s",
		  (unsigned long long)ms);
	cr_assert_eq(tu_wait_fin(&c, 3000 * h_slow()), 0);
	tu_close(&c);
	h_proxy_finish(p);
}

/* With two workers, SO_REUSEPORT spreads the connections: a ticket issued
 * by one worker must be accepted by the other (shared ticket keys), and the
 * counters add up over both. */
Test(tls_basic, resumption_works_across_workers)
{
	struct tu_conf cf = { .workers = 2 };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	int resumed = 0, tries = 0;

	for (int v = 12; v <= 13; v++) {
		struct tu_opts oo = { .sni = "a.example.test", .min_ver = v, .max_ver = v };
		struct tu_conn c;
		WOLFSSL_SESSION *s;

		connect_ok(&c, p->port, &oo);
		get_ok(&c, "/full");
		s = tu_session(&c);
		tu_close(&c);
		for (int i = 0; i < 8; i++) {
			WOLFSSL_SESSION *n;
			int rc;

			oo.resume = s;
			rc = tu_connect(&c, p->port, &oo);
			tries++;
			/* wolfSSL's client fails a TLS 1.2 handshake whose
			 * ticket is refused instead of falling back */
			cr_expect(rc == 0 && c.resumed, "TLS 1.%d resumption %d: rc %d (%s), "
				  "resumed %d", v - 10, i, rc, c.errstr, c.resumed);
			if (rc) {
				tu_close(&c);
				continue;
			}
			resumed += c.resumed;
			get_ok(&c, "/again");
			n = tu_session(&c);
			if (n) {
				wolfSSL_SESSION_free(s);
				s = n;
			}
			tu_close(&c);
		}
		wolfSSL_SESSION_free(s);
	}
	cr_assert_eq(resumed, tries);
	expect_metric(p, "sluice_frontend_tls_resumed_total", tries);
	expect_metric(p, "sluice_frontend_tls_handshakes_total", tries + 2);
	h_proxy_finish(p);
}

/* ssl_ticket_rotate = 1s: a ticket is good at once, and no longer after two
 * periods (plus slack); the client then gets a full handshake. */
Test(tls_basic, ticket_rotation_expires_old_tickets)
{
	struct tu_conf cf = { .ssl_ticket_rotate = "1s" };
	struct tu_opts oo = { .sni = "a.example.test", .min_ver = 13 };
	struct hu_origin *o;
	struct h_proxy *p = start(&cf, &o);
	WOLFSSL_SESSION *s;
	struct tu_conn c;
	uint64_t t_issue;

	connect_ok(&c, p->port, &oo);
	get_ok(&c, "/full");
	s = tu_session(&c);
	t_issue = h_now_ms();
	tu_close(&c);

	oo.resume = s;
	connect_ok(&c, p->port, &oo);
	cr_expect(c.resumed, "a fresh ticket was refused (ssl_ticket_rotate = 1s)");
	get_ok(&c, "/fresh");
	tu_close(&c);

	h_sleep_ms((unsigned)(t_issue + 3500 - h_now_ms()));
	connect_ok(&c, p->port, &oo);
	cr_expect(!c.resumed, "a ticket 3.5 s old was accepted with ssl_ticket_rotate = 1s");
	get_ok(&c, "/expired");
	tu_close(&c);
	wolfSSL_SESSION_free(s);
	h_proxy_finish(p);
}
