/*
 * Unit tests for the TLS keys of the configuration (conf/): the crt= list of
 * an ssl bind, ssl_min_version (refused on a frontend without an ssl bind,
 * where it would have no effect) and ssl_ticket_rotate. Certificates are not
 * read here (proto/tls.c does that at start-up; tests/integration covers it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf/conf.h"

static struct sl_config *conf;
static char err[512];

static void teardown(void)
{
	sl_conf_free(conf);
	conf = NULL;
}

TestSuite(conf_tls, .fini = teardown);

#define BE "[backend app]\nserver = s1 127.0.0.1:9000\n"

static int load(const char *text)
{
	sl_conf_free(conf);
	conf = NULL;
	return sl_conf_load_string("x.ini", text, &conf, err, sizeof(err));
}

static void expect_error(const char *text, const char *prefix, const char *needle)
{
	int rc = load(text);

	cr_assert_eq(rc, -EINVAL, "rc=%d err=%s\n--- text:\n%s", rc, err, text);
	cr_assert_null(conf);
	cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix '%s', got: %s",
		  prefix, err);
	cr_assert(strstr(err, needle) != NULL, "want '%s' in: %s", needle, err);
}

Test(conf_tls, crt_list_and_defaults)
{
	int rc = load("[frontend web]\nbind = :443 ssl crt=/a.pem,/b/c.pem\nmode = http\n"
		      "backend = app\n" BE "mode = http-server-close\n");

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(conf->frontends[0].binds[0].ssl);
	cr_assert_str_eq(conf->frontends[0].binds[0].crt, "/a.pem,/b/c.pem");
	/* 0 stands for the default, TLS 1.2 */
	cr_assert(conf->frontends[0].ssl_min_version == 0 ||
		  conf->frontends[0].ssl_min_version == 12);
	cr_assert_eq(conf->ssl_ticket_rotate_ms, 3600 * 1000);
}

Test(conf_tls, ssl_min_version_values)
{
	cr_assert_eq(load("[frontend web]\nbind = :443 ssl crt=/a.pem\nssl_min_version = 1.3\n"
			  "backend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 13);
	cr_assert_eq(load("[frontend web]\nbind = :443 ssl crt=/a.pem\nssl_min_version = 1.2\n"
			  "backend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 12);
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem\nssl_min_version = 1.1\n"
		     "backend = app\n" BE, "x.ini:3: key 'ssl_min_version': ", "1.2 or 1.3");
}

Test(conf_tls, ssl_ticket_rotate_values)
{
	cr_assert_eq(load("[global]\nssl_ticket_rotate = 12h\n[frontend web]\nbind = :443 ssl "
			  "crt=/a.pem\nbackend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->ssl_ticket_rotate_ms, 12ull * 3600 * 1000);
	expect_error("[global]\nssl_ticket_rotate = 10ms\n[frontend web]\nbind = :443\n"
		     "backend = app\n" BE, "x.ini:2: key 'ssl_ticket_rotate': ", "1s to 7d");
	expect_error("[global]\nssl_ticket_rotate = 8d\n[frontend web]\nbind = :443\n"
		     "backend = app\n" BE, "x.ini:2: key 'ssl_ticket_rotate': ", "1s to 7d");
}

Test(conf_tls, rejects_bad_crt_lists)
{
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem,\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "crt=PATH");
	expect_error("[frontend web]\nbind = :443 ssl crt=,/a.pem\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "crt=PATH");
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem,,/b.pem\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "crt=PATH");
	/* (a path over 255 characters cannot occur: lines stop at 198) */
}

Test(conf_tls, client_certificate_options)
{
	const struct sl_bind_conf *b;

	cr_assert_eq(load("[frontend web]\nbind = :443 ssl crt=/a.pem ca=/ca.pem\n"
			  "bind = :444 ssl crt=/a.pem verify=optional ca=/ca.pem\n"
			  "bind = :445 ssl crt=/a.pem ca=/ca.pem verify=required\n"
			  "bind = :446 ssl crt=/a.pem\nbackend = app\n" BE), 0, "%s", err);
	b = conf->frontends[0].binds;
	/* a CA given is a CA enforced */
	cr_assert_str_eq(b[0].ca, "/ca.pem");
	cr_assert_eq(b[0].verify, SL_VERIFY_REQUIRED);
	cr_assert_eq(b[1].verify, SL_VERIFY_OPTIONAL);
	cr_assert_eq(b[2].verify, SL_VERIFY_REQUIRED);
	cr_assert_str_eq(b[3].ca, "");
	cr_assert_eq(b[3].verify, SL_VERIFY_NONE);
}

Test(conf_tls, rejects_bad_client_certificate_options)
{
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem verify=optional\n"
		     "backend = app\n" BE, "x.ini:2: key 'bind': ", "verify= expects ca=PATH");
	expect_error("[frontend web]\nbind = :443 ca=/ca.pem\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "expect 'ssl' too");
	expect_error("[frontend web]\nbind = :443 verify=required\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "expect 'ssl' too");
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem ca=/ca.pem verify=none\n"
		     "backend = app\n" BE, "x.ini:2: key 'bind': ",
		     "verify=required or verify=optional");
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem ca=\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "ca=PATH");
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem ca=/x ca=/y\nbackend = app\n"
		     BE, "x.ini:2: key 'bind': ", "given twice");
	expect_error("[frontend web]\nbind = :443 ssl crt=/a.pem ca=/x verify=optional "
		     "verify=required\nbackend = app\n" BE, "x.ini:2: key 'bind': ",
		     "given twice");
}

/* The frontend's binds are all read once its section ends, so the check is
 * made there, at the line of the key. */
Test(conf_tls, rejects_ssl_min_version_without_ssl_bind)
{
	expect_error("[frontend web]\nbind = :80\nssl_min_version = 1.3\nbackend = app\n" BE,
		     "x.ini:3: key 'ssl_min_version': ",
		     "has no effect: [frontend web] has no ssl bind");
	/* the key before the binds, several plain binds */
	expect_error("[frontend web]\nssl_min_version = 1.2\nbind = :80\nbind = :81\n"
		     "backend = app\n" BE, "x.ini:2: key 'ssl_min_version': ", "no ssl bind");
	/* a tcp frontend as well as an http one */
	expect_error("[frontend web]\nmode = http\nbind = :80\nbackend = app\n"
		     "ssl_min_version = 1.3\n" BE "mode = http-server-close\n",
		     "x.ini:5: key 'ssl_min_version': ", "no ssl bind");
}

Test(conf_tls, rejects_ssl_min_version_without_ssl_bind_in_the_last_section)
{
	expect_error(BE "[frontend web]\nbind = :80\nbackend = app\nssl_min_version = 1.3\n",
		     "x.ini:6: key 'ssl_min_version': ", "[frontend web] has no ssl bind");
}

Test(conf_tls, rejects_ssl_min_version_when_only_another_frontend_has_an_ssl_bind)
{
	expect_error("[frontend tls]\nbind = :443 ssl crt=/a.pem\nbackend = app\n"
		     "[frontend web]\nbind = :80\nssl_min_version = 1.3\nbackend = app\n" BE,
		     "x.ini:6: key 'ssl_min_version': ", "[frontend web] has no ssl bind");
}

/* sluice -c -f FILE prints this message: it starts with the file's own name. */
Test(conf_tls, reports_ssl_min_version_without_ssl_bind_at_file_and_line)
{
	char path[] = "/tmp/sluice-conf-tls-XXXXXX", want[64];
	int fd = mkstemp(path), rc;
	FILE *f;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs("; plain http only\n[frontend web]\nbind = 127.0.0.1:8080\n"
	      "ssl_min_version = 1.3\nbackend = app\n" BE, f);
	fclose(f);
	rc = sl_conf_load(path, &conf, err, sizeof(err));
	unlink(path);
	cr_assert_eq(rc, -EINVAL, "rc=%d err=%s", rc, err);
	cr_assert_null(conf);
	snprintf(want, sizeof(want), "%s:4: key 'ssl_min_version': ", path);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "want prefix '%s', got: %s", want, err);
	cr_assert(strstr(err, "has no effect: [frontend web] has no ssl bind") != NULL, "%s", err);
}

Test(conf_tls, accepts_ssl_min_version_with_ssl_bind_before_or_after_key)
{
	cr_assert_eq(load("[frontend web]\nbind = :443 ssl crt=/a.pem\nssl_min_version = 1.3\n"
			  "backend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 13);
	cr_assert_eq(load("[frontend web]\nssl_min_version = 1.3\nbind = :443 ssl crt=/a.pem\n"
			  "backend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 13);
	/* one ssl bind among plain ones is enough, wherever it is */
	cr_assert_eq(load("[frontend web]\nbind = :80\nssl_min_version = 1.2\nbind = :81\n"
			  "bind = :443 ssl crt=/a.pem\nbackend = app\n" BE), 0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 12);
	/* the last section of the file, and an http frontend */
	cr_assert_eq(load(BE "mode = http-server-close\n[frontend web]\nmode = http\n"
			  "ssl_min_version = 1.3\nbackend = app\nbind = :443 ssl crt=/a.pem\n"),
		     0, "%s", err);
	cr_assert_eq(conf->frontends[0].ssl_min_version, 13);
}

/* A frontend may ignore keys for several reasons: the first such key (by
 * line) is the one reported. */
Test(conf_tls, reports_the_first_ignored_key_of_a_frontend)
{
	expect_error("[frontend web]\nbind = :80\nssl_min_version = 1.3\n"
		     "keepalive_requests = 10\nbackend = app\n" BE,
		     "x.ini:3: key 'ssl_min_version': ", "no ssl bind");
	expect_error("[frontend web]\nbind = :80\nkeepalive_requests = 10\n"
		     "ssl_min_version = 1.3\nbackend = app\n" BE,
		     "x.ini:3: key 'keepalive_requests': ", "only for mode http");
}
