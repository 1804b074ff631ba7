/*
 * Bulk data and lifecycles through TLS termination: 100 MiB uploaded and
 * downloaded through an http frontend (checked by length and FNV-1a hash),
 * a tcp frontend with `ssl` in front of an echo origin (100 MiB both ways at
 * once), origin FIN -> close_notify then FIN to the client, broken and
 * stalled handshakes on a tcp frontend (timeout_client bounds them), a
 * client that resets in the middle of a download, and hundreds of
 * sequential and concurrent sessions (full and resumed) without leaking fds.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

TestSuite(tls_data, .init = h_setup, .fini = hu_teardown, .timeout = 90);

#define MIB (1024ULL * 1024)
#define BULK (100 * MIB)
#define FE "web"

static int to(void)
{
	return tu_io_to();
}

static struct h_proxy *http_proxy(const struct hu_script *sc, struct hu_origin **o)
{
	struct tu_conf c = { .nservers = 1 };

	*o = hu_origin_start(sc);
	c.server_port[0] = hu_origin_port(*o);
	return tu_proxy_start(&c);
}

/* A tcp frontend with ssl in front of a harness origin. */
static struct h_proxy *tcp_proxy(const struct h_origin_opts *oo, struct h_origin **o,
				 const char *timeout_client)
{
	struct tu_conf c = { .tcp = true, .nservers = 1, .timeout_client = timeout_client };

	*o = h_origin_start(oo);
	c.server_port[0] = h_origin_port(*o);
	return tu_proxy_start(&c);
}

static void connect_ok(struct tu_conn *c, int port, const struct tu_opts *o)
{
	int rc = tu_connect(c, port, o);

	cr_assert_eq(rc, 0, "TLS handshake failed: %s: %s", strerror(-rc), c->errstr);
}

static void expect_failures(struct h_proxy *p, const char *reason, double min)
{
	char s[256];
	double v;

	tu_series_fail(s, sizeof(s), FE, reason);
	v = tu_metric_wait(p, s, min, 2000 * h_slow());
	cr_assert(v >= min, "%s = %g, expected >= %g", s, v, min);
}

Test(tls_data, uploads_100mib_over_tls13)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct tu_opts oo = { .sni = "a.example.test", .min_ver = 13 };
	struct hu_origin *o;
	struct h_proxy *p = http_proxy(&sc, &o);
	struct tu_conn c;
	struct tu_rsp r;
	char head[256], want[128];
	int rc;

	connect_ok(&c, p->port, &oo);
	snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a.example.test\r\n"
		 "Content-Length: %llu\r\n\r\n", (unsigned long long)BULK);
	cr_assert_eq(tu_send_str(&c, head), 0);
	rc = tu_send_pattern(&c, BULK, 21);
	cr_assert_eq(rc, 0, "upload: %s (%s)", strerror(-rc), c.errstr);
	rc = tu_read_rsp(&c, &r);
	cr_assert_eq(rc, 0, "response to the upload: %s (%s)", strerror(-rc), c.errstr);
	cr_assert_eq(r.status, 200);
	snprintf(want, sizeof(want), "POST /up %llu %016llx\n", (unsigned long long)BULK,
		 (unsigned long long)h_pattern_hash(BULK, 21));
	cr_assert_str_eq(r.body, want, "the origin received something else");
	tu_close(&c);
	h_proxy_finish(p);
}

Test(tls_data, downloads_100mib_over_tls12)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = BULK, .seed = 22 };
	struct tu_opts oo = { .sni = "a.example.test", .max_ver = 12 };
	struct hu_origin *o;
	struct h_proxy *p = http_proxy(&sc, &o);
	struct tu_conn c;
	struct tu_rsp r;
	int rc;

	connect_ok(&c, p->port, &oo);
	cr_assert_str_eq(c.version, "TLSv1.2");
	rc = tu_http(&c, "GET /down HTTP/1.1\r\nHost: a.example.test\r\n\r\n", &r);
	cr_assert_eq(rc, 0, "download: %s (%s) after %llu bytes", strerror(-rc), c.errstr,
		     (unsigned long long)r.body_len);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, BULK);
	cr_assert_eq(r.body_hash, h_pattern_hash(BULK, 22), "downloaded body differs");
	/* the connection is still good for another request */
	rc = tu_http(&c, "GET /again HTTP/1.1\r\nHost: a.example.test\r\n"
			 "Connection: close\r\n\r\n", &r);
	cr_assert_eq(rc, 0, "%s", c.errstr);
	cr_assert_eq(r.body_len, BULK);
	tu_close(&c);
	h_proxy_finish(p);
}

Test(tls_data, client_reset_mid_download_releases_everything)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = BULK, .seed = 23 };
	struct tu_opts oo = { .sni = "a.example.test" };
	struct hu_origin *o;
	struct h_proxy *p = http_proxy(&sc, &o);
	struct tu_conn c;
	struct h_rx rx;

	connect_ok(&c, p->port, &oo);
	cr_assert_eq(tu_send_str(&c, "GET /big HTTP/1.1\r\nHost: a.example.test\r\n\r\n"), 0);
	h_rx_init(&rx);
	cr_assert_eq(tu_recv_all(&c, &rx, 2 * MIB), 1, "%s", c.errstr);
	tu_abort(&c);
	/* the proxy drops the server side too instead of draining 100 MiB */
	cr_assert(hu_conn_wait_end(o, 0, 5000 * h_slow()),
		  "origin connection left open after the client reset");
	h_proxy_finish(p);
}

Test(tls_data, tcp_echo_100mib_both_ways)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct tu_opts co = { .sni = "a.example.test", .alpn = "h2,http/1.1" };
	struct h_origin *o;
	struct h_proxy *p = tcp_proxy(&oo, &o, NULL);
	struct h_conn_rec rec;
	struct tu_conn c;
	struct h_rx rx;
	char b[8];
	ssize_t got;
	int rc;

	connect_ok(&c, p->port, &co);
	cr_expect_str_eq(c.alpn, "", "a tcp frontend negotiated ALPN '%s'", c.alpn);
	h_rx_init(&rx);
	/* writes and reads interleaved: the echo sends back while we send */
	rc = tu_pump(&c, BULK, 31, &rx, BULK);
	cr_assert_eq(rc, 0, "echo through TLS: %s (%s) after %llu bytes back", strerror(-rc),
		     c.errstr, (unsigned long long)rx.bytes);
	cr_assert_eq(rx.bytes, BULK);
	cr_assert_eq(rx.hash, h_pattern_hash(BULK, 31), "echoed data differs");

	/* our close_notify + FIN reach the origin as a FIN; the echo's FIN
	 * comes back as close_notify + FIN */
	cr_assert_eq(tu_shutdown(&c), 0, "%s", c.errstr);
	got = tu_recv(&c, b, sizeof(b));
	cr_assert_eq(got, 0, "expected a close_notify, got %zd (%s)", got, c.errstr);
	cr_assert_eq(tu_wait_fin(&c, 3000 * h_slow()), 0);
	tu_close(&c);
	cr_assert_eq(h_origin_wait_done(o, 1, to()), 1);
	rec = h_origin_rec(o, 0);
	cr_assert_eq(rec.rx.end, 0, "the origin saw %s instead of a FIN",
		     strerror(-rec.rx.end));
	cr_assert_eq(rec.rx.bytes, BULK);
	h_proxy_finish(p);
}

Test(tls_data, tcp_origin_fin_gives_close_notify_then_fin)
{
	struct h_origin_opts oo = { .handler = h_handle_source, .len = 3 * MIB + 17,
				    .seed = 32 };
	struct h_origin *o;
	struct h_proxy *p = tcp_proxy(&oo, &o, NULL);

	for (int v = 12; v <= 13; v++) {
		struct tu_opts co = { .sni = "a.example.test", .min_ver = v, .max_ver = v };
		struct tu_conn c;
		struct h_rx rx;
		int rc;

		connect_ok(&c, p->port, &co);
		h_rx_init(&rx);
		rc = tu_recv_all(&c, &rx, UINT64_MAX);
		cr_assert_eq(rc, 0, "TLS 1.%d: the stream ended with %s (%s) after %llu bytes, "
			     "expected a close_notify", v - 10, strerror(-rc), c.errstr,
			     (unsigned long long)rx.bytes);
		cr_assert_eq(rx.bytes, oo.len);
		cr_assert_eq(rx.hash, h_pattern_hash(oo.len, 32));
		rc = tu_wait_fin(&c, 3000 * h_slow());
		cr_assert_eq(rc, 0, "TLS 1.%d: no FIN after the close_notify: %s", v - 10,
			     strerror(-rc));
		tu_close(&c);
	}
	cr_assert_eq(h_origin_wait_done(o, 2, to()), 2, "origin connections left open");
	h_proxy_finish(p);
}

/* Sends bytes raw, waits for the proxy to close; returns the ms it took. */
static uint64_t raw_until_closed(int port, const void *bytes, size_t n, int limit_ms)
{
	int fd = h_connect(port, to()), rc;
	uint64_t t0 = h_now_ms();

	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	cr_assert_eq(h_send_all(fd, bytes, n, -1, to()), 0);
	rc = h_wait_closed(fd, limit_ms, NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET, "the proxy did not close: %s",
		  strerror(-rc));
	close(fd);
	return h_now_ms() - t0;
}

/* No plaintext reaches the origin: whatever the proxy may have opened is
 * closed and got nothing. */
static void expect_origin_untouched(struct h_origin *o)
{
	int n = h_origin_accepted(o);

	cr_assert_eq(h_origin_wait_done(o, n, 3000 * h_slow()), n,
		     "origin connections left open");
	for (int i = 0; i < n; i++) {
		struct h_conn_rec rec = h_origin_rec(o, i);

		cr_assert_eq(rec.rx.bytes, 0, "the origin received %llu bytes",
			     (unsigned long long)rec.rx.bytes);
	}
}

Test(tls_data, tcp_stalled_handshake_closed_at_timeout_client)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o;
	struct h_proxy *p = tcp_proxy(&oo, &o, "1s");
	uint8_t hello[4096];
	uint64_t ms;

	tu_client_hello(hello, sizeof(hello), "a.example.test");
	ms = raw_until_closed(p->port, hello, 40, 10000 * h_slow());
	cr_expect(ms >= 900 && ms <= 1000 + 1500u * (unsigned)h_slow(),
		  "stalled handshake closed after %llu ms, expected ~1000 (timeout_client)",
		  (unsigned long long)ms);
	expect_failures(p, "timeout", 1);
	cr_assert(hu_log_has(p, "TLS handshake failed"), "no 'TLS handshake failed' log line");
	expect_origin_untouched(o);
	h_proxy_finish(p);
}

Test(tls_data, tcp_plaintext_is_refused_not_forwarded)
{
	static const char plain[] = "hello origin, this is not TLS\r\n\r\n";
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct tu_opts co = { .sni = "a.example.test" };
	struct h_origin *o;
	struct h_proxy *p = tcp_proxy(&oo, &o, "10s");
	struct tu_conn good;
	struct h_rx rx;
	uint64_t ms;

	ms = raw_until_closed(p->port, plain, sizeof(plain) - 1, 5000 * h_slow());
	cr_expect(ms < 3000u * (unsigned)h_slow(), "plaintext client closed after %llu ms",
		  (unsigned long long)ms);
	expect_failures(p, "protocol", 1);
	expect_origin_untouched(o);

	/* a real client still gets through */
	connect_ok(&good, p->port, &co);
	h_rx_init(&rx);
	cr_assert_eq(tu_pump(&good, 1000, 33, &rx, 1000), 0, "%s", good.errstr);
	cr_assert_eq(rx.hash, h_pattern_hash(1000, 33));
	tu_close(&good);
	h_proxy_finish(p);
}

/* ---- many sessions -------------------------------------------------------- */

/* One connection, one GET, an orderly or abrupt end; the session of the
 * connection is kept in *sess (for the next resumption) when asked. */
static int one_session(int port, int v, WOLFSSL_SESSION **sess, bool rst, char *err,
		       size_t errsz, bool *resumed)
{
	struct tu_opts oo = { .sni = "a.example.test", .min_ver = v, .max_ver = v,
			      .resume = sess ? *sess : NULL };
	struct tu_conn c;
	struct tu_rsp r;
	int rc = tu_connect(&c, port, &oo);

	if (!rc)
		rc = tu_http(&c, "GET /many HTTP/1.1\r\nHost: a.example.test\r\n\r\n", &r);
	if (!rc && (r.status != 200 || strncmp(r.body, "GET /many 0 ", 12)))
		rc = -EBADMSG;
	if (rc) {
		snprintf(err, errsz, "%s: %s", strerror(-rc), c.errstr);
	} else {
		if (resumed)
			*resumed = c.resumed;
		if (sess) {
			WOLFSSL_SESSION *n = tu_session(&c);

			if (n) {
				wolfSSL_SESSION_free(*sess);
				*sess = n;
			}
		}
	}
	if (rst)
		tu_abort(&c);
	else
		tu_close(&c);
	return rc;
}

struct worker {
	pthread_t thr;
	int port, v, rc;
	char err[200];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = one_session(w->port, w->v, NULL, false, w->err, sizeof(w->err), NULL);
	tu_thread_exit();
	return NULL;
}

Test(tls_data, many_sequential_and_concurrent_sessions)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o;
	struct h_proxy *p = http_proxy(&sc, &o);
	WOLFSSL_SESSION *sess[2] = { NULL, NULL };
	struct worker w[50];
	char err[200], s[128];
	int resumes = 0, want_resumes = 0;
	double v;

	/* 200 in a row: both versions, every other one resumed, every fourth
	 * reset instead of closed */
	for (int i = 0; i < 200; i++) {
		int ver = i % 2 ? 13 : 12;
		bool resume = (i / 2) % 2, resumed = false;
		WOLFSSL_SESSION **sp = &sess[ver - 12];
		int rc;

		if (!resume && *sp) {
			/* a fresh full handshake whose session the next
			 * resumption uses */
			wolfSSL_SESSION_free(*sp);
			*sp = NULL;
		}
		rc = one_session(p->port, ver, sp, i % 4 == 3, err, sizeof(err), &resumed);
		cr_assert_eq(rc, 0, "session %d (TLS 1.%d): %s", i, ver - 10, err);
		if (resume) {
			want_resumes++;
			resumes += resumed;
		}
	}
	cr_expect_eq(resumes, want_resumes, "%d of %d resumptions worked", resumes,
		     want_resumes);
	wolfSSL_SESSION_free(sess[0]);
	wolfSSL_SESSION_free(sess[1]);

	/* 50 at once */
	tu_certs(); /* generated here, not raced by the threads */
	for (int i = 0; i < 50; i++) {
		w[i] = (struct worker){ .port = p->port, .v = i % 2 ? 13 : 12 };
		cr_assert_eq(pthread_create(&w[i].thr, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 50; i++)
		pthread_join(w[i].thr, NULL);
	for (int i = 0; i < 50; i++)
		cr_expect_eq(w[i].rc, 0, "concurrent session %d: %s", i, w[i].err);

	tu_series(s, sizeof(s), "sluice_frontend_tls_handshakes_total", FE);
	v = tu_metric_wait(p, s, 250, 2000 * h_slow());
	cr_expect_eq(v, 250, "%s = %g, expected 250", s, v);
	tu_series(s, sizeof(s), "sluice_frontend_tls_resumed_total", FE);
	v = tu_metric_wait(p, s, resumes, 2000 * h_slow());
	cr_expect_eq(v, resumes, "%s = %g, expected %d", s, v, resumes);
	cr_assert_eq(hu_origin_accepted(o), 250);
	h_proxy_finish(p);
}
