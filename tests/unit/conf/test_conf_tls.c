/*
 * Unit tests for the TLS keys of the configuration (conf/): the crt= list of
 * an ssl bind, ssl_min_version and ssl_ticket_rotate. Certificates are not
 * read here (proto/tls.c does that at start-up; tests/integration covers it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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
