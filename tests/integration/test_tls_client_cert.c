/*
 * Client certificates on ssl binds (`ca=PATH [verify=required|optional]`):
 * a client without a certificate, or with one from a CA the bind was not
 * given, never reaches a server when one is required (counted and logged
 * as reason "certificate"); a verified certificate's subject goes to the
 * server in X-SSL-Client-DN with X-SSL-Client-Verify, over HTTP/1.1 and
 * HTTP/2 and on resumed sessions, and a client cannot write either header
 * itself; verify=optional lets a client without one in ("NONE"); a CA file
 * that does not load stops `sluice -c` at the bind's file:line.
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
		   char *out, size_t n, bool *resumed, WOLFSSL_SESSION **keep)
{
	struct tu_opts oo = { .sni = "a.example.test", .cert = cert };
	struct hu_conn_info ci;
	struct tu_conn c;
	struct tu_rsp r;
	int rc;

	if (keep && *keep)
		oo.resume = *keep;
	rc = tu_connect(&c, p->port, &oo);
	cr_assert_eq(rc, 0, "handshake with %s: %s", cert ? cert : "no certificate", c.errstr);
	rc = tu_http(&c, SPOOF, &r);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(r.status, 200, "%s", r.head);
	if (resumed)
		*resumed = c.resumed;
	if (keep) {
		WOLFSSL_SESSION *s = tu_session(&c);

		if (s) {
			if (*keep)
				wolfSSL_SESSION_free(*keep);
			*keep = s;
		}
	}
	tu_close(&c);
	cr_assert(hu_conn_wait_request(o, idx, tu_io_to()));
	hu_conn_get(o, idx, &ci);
	snprintf(out, n, "%.*s", (int)ci.head_len, ci.raw);
	hu_conn_info_free(&ci);
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
	served(p, o, t->client, 0, head, sizeof(head), NULL, NULL);
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

	served(p, o, NULL, 0, head, sizeof(head), NULL, NULL);
	cr_assert_eq(count(head, "X-SSL-Client-Verify: NONE\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, "X-SSL-Client-DN"), 0, "%s", head);
	/* one that does not verify is refused all the same */
	refused(p, o, t->rogue, &nfail);
	served(p, o, t->client, 1, head, sizeof(head), NULL, NULL);
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	h_proxy_finish(p);
}

/* A resumed session skips the certificate exchange: the subject verified
 * by the full handshake still reaches the server. */
Test(tls_client_cert, a_resumed_session_keeps_its_certificate)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	WOLFSSL_SESSION *s = NULL;
	char head[4096];
	bool resumed = false;

	served(p, o, t->client, 0, head, sizeof(head), &resumed, &s);
	cr_assert(!resumed);
	cr_assert(s, "no session to resume");
	served(p, o, t->client, 1, head, sizeof(head), &resumed, &s);
	cr_assert(resumed, "the second connection was not resumed");
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	if (s)
		wolfSSL_SESSION_free(s);
	h_proxy_finish(p);
}

/* HTTP/2 streams carry their connection's certificate (curl, ALPN h2). */
Test(tls_client_cert, h2_streams_carry_the_connections_certificate)
{
	const struct tu_certs *t = tu_certs();
	struct hu_origin *o;
	struct h_proxy *p = start(NULL, &o);
	struct hu_conn_info ci;
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
	cr_assert(hu_conn_wait_request(o, 0, tu_io_to()));
	hu_conn_get(o, 0, &ci);
	snprintf(head, sizeof(head), "%.*s", (int)ci.head_len, ci.raw);
	hu_conn_info_free(&ci);
	cr_assert_eq(count(head, "X-SSL-Client-Verify: SUCCESS\r\n"), 1, "%s", head);
	cr_assert_eq(count(head, ALICE), 1, "%s", head);
	cr_assert(!strstr(head, "/CN=admin"), "%s", head);
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
