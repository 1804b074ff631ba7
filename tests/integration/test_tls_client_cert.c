/*
 * Client certificates on ssl binds (`ca=PATH [verify=required|optional]`):
 * a client without a certificate, or with one from a CA the bind was not
 * given, never reaches a server when one is required (counted and logged
 * as reason "certificate"); a verified certificate's subject goes to the
 * server in X-SSL-Client-DN with X-SSL-Client-Verify, over HTTP/1.1 and
 * HTTP/2, escaped so that no value passes for another attribute, and a
 * client cannot write either header itself; no session resumes on such a
 * bind (one from a bind without ca= would skip the check); verify=optional
 * lets a client without one in ("NONE"); a tcp frontend verifies too; a CA
 * file that does not load stops `sluice -c` at the bind's file:line.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

TestSuite(tls_client_cert, .init = h_setup, .fini = hu_teardown, .timeout = 90);

#define FE "web"
#define SPOOF "GET /who HTTP/1.1\r\nHost: a.example.test\r\nX-SSL-Client-DN: /CN=admin\r\n" \
	"X-SSL-Client-Verify: SUCCESS\r\n\r\n"
#define ALICE "X-SSL-Client-DN: /O=sluice tests/CN=alice\r\n"

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static struct h_proxy *start(const char *verify, struct hu_origin **o)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	char extra[700];
	struct tu_conf c = { .bind_extra = extra, .nservers = 1 };

	snprintf(extra, sizeof(extra), "ca=%s%s%s", tu_certs()->ca, verify ? " verify=" : "",
		 verify ? verify : "");
	*o = hu_origin_start(&sc);
	c.server_port[0] = hu_origin_port(*o);
	return tu_proxy_start(&c);
}

static double failures(struct h_proxy *p, double min)
{
	char s[256];

	tu_series_fail(s, sizeof(s), FE, "certificate");
	return tu_metric_wait(p, s, min, 2000 * h_slow());
}

/* The origin's head of connection idx, into out. */
static void origin_head(struct hu_origin *o, int idx, char *out, size_t n)
{
	struct hu_conn_info ci;

	cr_assert(hu_conn_wait_request(o, idx, tu_io_to()), "no request on connection %d", idx);
	hu_conn_get(o, idx, &ci);
	snprintf(out, n, "%.*s", (int)ci.head_len, ci.raw);
	hu_conn_info_free(&ci);
}

/* A client presenting cert (NULL: none) is refused: under TLS 1.3 the
 * client's side of the handshake ends before the server has read its
 * certificate, so the refusal may come as the first read failing. Nothing
 * reaches the origin o, and the failure is counted as "certificate". */
static void refused(struct h_proxy *p, struct hu_origin *o, const char *cert, double *nfail)
{
	struct tu_opts oo = { .sni = "a.example.test", .cert = cert };
	int before = hu_origin_accepted(o);
	struct tu_conn c;
	struct tu_rsp r;
	double v;

	if (tu_connect(&c, p->port, &oo) == 0) {
		int rc = tu_http(&c, SPOOF, &r);

		cr_assert(rc < 0, "a client with %s got an answer: %d", cert ? cert : "no certificate",
			  r.status);
		tu_close(&c);
	} else {
		tu_close(&c);
	}
	*nfail += 1;
	v = failures(p, *nfail);
	cr_assert(v >= *nfail, "certificate failures: %g, expected %g (%s)", v, *nfail,
		  cert ? cert : "no certificate");
	cr_assert_eq(hu_origin_accepted(o), before, "a refused client reached the server");
}

/* One request with spoofed headers on a new connection presenting cert
 * (NULL: none): answered, and the head the origin got (connection index
 * idx) is returned in out. */
static void served(struct h_proxy *p, struct hu_origin *o, const char *cert, int idx,
		   char *out, size_t n)
{
	struct tu_opts oo = { .sni = "a.example.test", .cert = cert };
	struct tu_conn c;
	struct tu_rsp r;
	int rc;

	rc = tu_connect(&c, p->port, &oo);
	cr_assert_eq(rc, 0, "handshake with %s: %s", cert ? cert : "no certificate", c.errstr);
	rc = tu_http(&c, SPOOF, &r);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(r.status, 200, "%s", r.head);
	tu_close(&c);
	origin_head(o, idx, out, n);
	cr_assert(!strstr(out, "/CN=admin"), "the client's own X-SSL-Client-DN passed:\n%s", out);
	cr_assert_eq(count(out, "X-SSL-Client-Verify:"), 1, "%s", out);
}

Test(tls_client_cert, required_refuses_clients_without_a_good_one_and_names_the_verified_one)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o); /* ca= alone: required */
	char head[4096];
	double nfail = 0;

	refused(p, o, NULL, &nfail);
	refused(p, o, t->rogue, &nfail);
	cr_assert(hu_log_has(p, "TLS handshake failed (certificate)"), "no log line");
	served(p, o, t->client, 0, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	cr_assert_eq(count(head, "X-SSL-Client-"), 2, "%s", head);
	h_proxy_finish(p);
}

Test(tls_client_cert, optional_lets_a_client_without_one_in_and_says_none)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start("optional", &o);
	char head[4096];
	double nfail = 0;

	served(p, o, NULL, 0, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-Verify: NONE\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, "X-SSL-Client-DN"), 0, "%s", head);
	/* one that does not verify is refused all the same */
	refused(p, o, t->rogue, &nfail);
	served(p, o, t->client, 1, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	h_proxy_finish(p);
}

/* A frontend with two binds in one process (tickets are sealed under the
 * process's key): port *plain without ca=, port *mtls with it. */
static struct h_proxy *two_binds(struct hu_origin *o, int *plain, int *mtls)
{
	const struct tu_certs *t = tu_certs();
	char conf[4096];

	*plain = h_free_port();
	*mtls = h_free_port();
	snprintf(conf, sizeof(conf), "[global]\nlog = stderr\n\n[frontend web]\nmode = http\n"
		 "bind = 127.0.0.1:%d ssl crt=%s\nbind = 127.0.0.1:%d ssl crt=%s ca=%s\n"
		 "backend = app\n\n[backend app]\nmode = http-server-close\n"
		 "server = s1 127.0.0.1:%d\n", *plain, t->a, *mtls, t->a, t->ca,
		 hu_origin_port(o));
	return h_proxy_start_text(conf, *plain);
}

/* No session resumes on a bind that verifies client certificates: a
 * resumed session shows no certificate, and tickets and wolfSSL's session
 * cache are the process's, so a session from a bind without ca= would walk
 * past the check. Offered such a session, or one of its own, a client gets
 * a full handshake: refused without a certificate, verified with one.
 * TLS 1.3 with the tests' wolfSSL client. */
Test(tls_client_cert, no_session_resumes_past_the_check_tls13)
{
	const struct tu_certs *t = tu_certs();
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct tu_opts oo = { .sni = "a.example.test", .min_ver = 13, .max_ver = 13 };
	int plain, mtls, n = 0;
	struct h_proxy *p = two_binds(o, &plain, &mtls);
	WOLFSSL_SESSION *s, *own = NULL;
	char head[4096];
	struct tu_conn c;
	struct tu_rsp r;
	bool resumed;

	/* a session of the bind without ca= */
	cr_assert_eq(tu_connect(&c, plain, &oo), 0, "%s", c.errstr);
	cr_assert_eq(tu_http(&c, SPOOF, &r), 0);
	s = tu_session(&c);
	tu_close(&c);
	cr_assert(s, "no session from the plain bind");
	n++;
	/* ... offered to the bind with ca=, without a certificate: refused */
	oo.resume = s;
	if (tu_connect(&c, mtls, &oo) == 0) {
		cr_assert(!c.resumed, "a plain bind's session resumed where client certificates "
			  "are verified");
		cr_assert(tu_http(&c, SPOOF, &r) < 0, "answered: %d", r.status);
	}
	tu_close(&c);
	cr_assert(failures(p, 1) >= 1, "the refusal was not counted as \"certificate\"");
	/* ... with a certificate: a full handshake, verified; and its own
	 * session (if it handed one out) does not resume either */
	oo.cert = t->client;
	for (int i = 0; i < 2; i++) {
		oo.resume = own ? own : s;
		cr_assert_eq(tu_connect(&c, mtls, &oo), 0, "%s", c.errstr);
		resumed = c.resumed;
		cr_assert_eq(tu_http(&c, SPOOF, &r), 0);
		cr_assert_eq(r.status, 200);
		if (!own)
			own = tu_session(&c);
		tu_close(&c);
		cr_assert(!resumed, "connection %d resumed", i + 1);
		origin_head(o, n++, head, sizeof(head));
		cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
		cr_assert_eq(count(head, ALICE), 1, "%s", head);
	}
	wolfSSL_SESSION_free(s);
	if (own)
		wolfSSL_SESSION_free(own);
	h_proxy_finish(p);
}

/* openssl s_client -tls1_2 on port, one GET, with -sess_out or -sess_in
 * sess and the client certificate cert (NULL: none); returns its exit
 * status, its output in *text (malloc'd). (The tests' wolfSSL client fails
 * a TLS 1.2 handshake whose ticket the server refuses with "out of order
 * message", on any bind; OpenSSL does the full handshake.) */
static int s_client12(int port, const char *sess_flag, const char *sess, const char *cert,
		      char **text)
{
	const struct tu_certs *t = tu_certs();
	char cmd[4096], out[700], certs[1400] = "";
	int st;

	if (cert)
		snprintf(certs, sizeof(certs), "-cert %s -key %s", cert, cert);
	h_write_file("s_client.out", "", out, sizeof(out));
	snprintf(cmd, sizeof(cmd), "printf 'GET /s HTTP/1.1\\r\\nHost: a\\r\\nConnection: close"
		 "\\r\\n\\r\\n' | timeout 15 openssl s_client -connect 127.0.0.1:%d -tls1_2 "
		 "-servername a.example.test -CAfile %s -verify_return_error -ign_eof %s %s %s "
		 "> %s 2>&1", port, t->ca, sess_flag, sess, certs, out);
	st = system(cmd);
	*text = tu_slurp(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The same under TLS 1.2 (tickets and session ids) with OpenSSL. */
Test(tls_client_cert, no_session_resumes_past_the_check_tls12)
{
	const struct tu_certs *t = tu_certs();
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	int plain, mtls, st;
	struct h_proxy *p = two_binds(o, &plain, &mtls);
	char sess[700], own[700], head[4096], *text;

	h_write_file("plain.sess", "", sess, sizeof(sess));
	h_write_file("own.sess", "", own, sizeof(own));
	st = s_client12(plain, "-sess_out", sess, NULL, &text);
	cr_assert(st == 0 && strstr(text, "New, TLSv1.2") && strstr(text, "HTTP/1.1 200"),
		  "plain bind: %s", text);
	free(text);
	/* the plain bind's session, no certificate: refused */
	st = s_client12(mtls, "-sess_in", sess, NULL, &text);
	cr_assert(!strstr(text, "HTTP/1.1 200") && !strstr(text, "Reused,"),
		  "no certificate, a plain bind's session: %s", text);
	free(text);
	cr_assert(failures(p, 1) >= 1, "the refusal was not counted as \"certificate\"");
	/* with a certificate: a full handshake, verified, then its own session
	 * offered back: a full handshake again */
	st = s_client12(mtls, "-sess_in", sess, t->client, &text);
	cr_assert(st == 0 && strstr(text, "New, TLSv1.2") && strstr(text, "HTTP/1.1 200"),
		  "with a certificate, a plain bind's session: %s", text);
	free(text);
	snprintf(head, sizeof(head), "%s", "");
	origin_head(o, 1, head, sizeof(head));
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	st = s_client12(mtls, "-sess_out", own, t->client, &text);
	cr_assert(st == 0 && strstr(text, "HTTP/1.1 200"), "%s", text);
	free(text);
	/* OpenSSL writes no session the server did not make resumable (no
	 * ticket, no session id): then there is nothing to offer */
	{
		char *saved = tu_slurp(own);
		bool have = saved && strstr(saved, "BEGIN SSL SESSION");

		free(saved);
		st = s_client12(mtls, have ? "-sess_in" : "-sess_out", own, t->client, &text);
	}
	cr_assert(st == 0 && strstr(text, "New, TLSv1.2") && strstr(text, "HTTP/1.1 200"),
		  "its own session: %s", text);
	free(text);
	origin_head(o, 3, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	h_proxy_finish(p);
}

/* A subject cannot pass for another: every attribute is kept (a title,
 * which wolfSSL's name API would drop) and '/' and '=' in a value are
 * escaped. */
Test(tls_client_cert, a_subject_value_cannot_pass_for_another_attribute)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	char head[4096];

	served(p, o, t->tricky, 0, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-DN: /O=sluice tests/title=admin/CN=bob\\2FCN\\3Dadmin\r\n"), 1,
		     "%s", head);
	h_proxy_finish(p);
}

/* HTTP/2 streams carry their connection's certificate (curl, ALPN h2). */
Test(tls_client_cert, h2_streams_carry_the_connections_certificate)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	char cmd[2048], out[600], head[4096], *text;
	int st;

	snprintf(out, sizeof(out), "%s/curl.out", t->dir);
	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 --http2 --cacert %s --cert %s "
		 "--resolve a.example.test:%d:127.0.0.1 -H 'X-SSL-Client-DN: /CN=admin' "
		 "-w '\\n%%{http_version}\\n' https://a.example.test:%d/h2 > %s 2>&1", t->ca,
		 t->client, p->port, p->port, out);
	st = system(cmd);
	text = tu_slurp(out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "curl: %s", text);
	cr_assert(strstr(text, "\n2\n"), "curl did not speak h2: %s", text);
	free(text);
	origin_head(o, 0, head, sizeof(head));
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	cr_assert(!strstr(head, "/CN=admin"), "%s", head);
	h_proxy_finish(p);
}

/* A tcp frontend verifies the same way (no headers there): a client
 * without a certificate never reaches the server, one with it gets its
 * bytes echoed. */
Test(tls_client_cert, a_tcp_frontend_verifies_too)
{
	const struct tu_certs *t = tu_certs();
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&eo);
	char extra[700], buf[16];
	struct tu_conf tc = { .tcp = true, .bind_extra = extra, .nservers = 1 };
	struct tu_opts oo = { .sni = "a.example.test" };
	struct h_proxy *p;
	struct tu_conn c;
	ssize_t n;

	snprintf(extra, sizeof(extra), "ca=%s", t->ca);
	tc.server_port[0] = h_origin_port(o);
	p = tu_proxy_start(&tc);
	if (tu_connect(&c, p->port, &oo) == 0) {
		/* TLS 1.3: refused at the first read */
		(void)tu_send_str(&c, "ping");
		n = tu_recv(&c, buf, sizeof(buf));
		cr_assert(n < 0, "a client without a certificate got %zd bytes back", n);
	}
	tu_close(&c);
	cr_assert(failures(p, 1) >= 1, "the refusal was not counted as \"certificate\"");
	cr_assert_eq(h_origin_accepted(o), 0, "a refused client reached the server");
	oo.cert = t->client;
	cr_assert_eq(tu_connect(&c, p->port, &oo), 0, "%s", c.errstr);
	cr_assert_eq(tu_send_str(&c, "ping"), 0);
	n = tu_recv(&c, buf, sizeof(buf));
	cr_assert(n == 4 && !memcmp(buf, "ping", 4), "echo: %zd", n);
	tu_close(&c);
	h_proxy_finish(p);
}

/* A CA file that does not load stops the start at the bind's line. */
Test(tls_client_cert, a_ca_file_that_does_not_load_names_the_bind)
{
	const struct tu_certs *t = tu_certs();
	const char *args[] = { "-c", "-f", NULL, NULL };
	char conf[2048], path[1100], out[2048], want[2400];
	int st;

	snprintf(conf, sizeof(conf), "[frontend web]\nmode = http\n"
		 "bind = 127.0.0.1:1 ssl crt=%s ca=%s/missing-ca.pem\nbackend = app\n\n"
		 "[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:2\n", t->a, t->dir);
	h_write_file("ca.ini", conf, path, sizeof(path));
	args[2] = path;
	st = h_run_sluice(args, out, sizeof(out), 10000 * h_slow());
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "sluice -c: %s", out);
	snprintf(want, sizeof(want), "%s:3: key 'bind': ca=%s/missing-ca.pem: no usable CA "
		 "certificate", path, t->dir);
	cr_assert(strstr(out, want), "sluice -c says: %s\nexpected: %s", out, want);
}
