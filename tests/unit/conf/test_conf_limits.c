/* Configuration limits of issue 14 (conf/): the d unit, a maximum for every
 * duration key (larger values refused at FILE:LINE with the key, instead of
 * wrapping when a deadline is computed), and sl_conf_check_log, which
 * sluice -c runs so that a log path that cannot be opened is caught with its
 * FILE:LINE. */
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

TestSuite(conf, .fini = teardown);

#define MINIMAL "[frontend web]\nbind = :8080\nbackend = app\n" \
		"[backend app]\nserver = s1 127.0.0.1:9000\n"

static void load_ok(const char *text)
{
	sl_conf_free(conf);
	conf = NULL;
	cr_assert_eq(sl_conf_load_string("x.ini", text, &conf, err, sizeof(err)), 0,
		     "err=%s\n--- text:\n%s", err, text);
}

/* Loading TEXT fails with one line starting with PREFIX, containing NEEDLE. */
static void expect_error(const char *text, const char *prefix, const char *needle)
{
	sl_conf_free(conf);
	conf = NULL;
	cr_assert_eq(sl_conf_load_string("x.ini", text, &conf, err, sizeof(err)), -EINVAL,
		     "accepted:\n%s", text);
	cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix '%s', got: %s", prefix,
		  err);
	cr_assert(strstr(err, needle) != NULL, "want '%s' in: %s", needle, err);
}

/* ---- duration maxima, the d unit, the log path (issue 14) ---- */

Test(conf, parses_days)
{
	uint64_t ms = 0;

	cr_assert_eq(sl_conf_parse_duration("1d", &ms), 0);
	cr_assert_eq(ms, 86400000ULL);
	cr_assert_eq(sl_conf_parse_duration("7d", &ms), 0);
	cr_assert_eq(ms, 7 * 86400000ULL);
	cr_assert_eq(sl_conf_parse_duration("213503982334601d", &ms), -EINVAL, "overflow");
}

Test(conf, every_duration_key_has_a_maximum)
{
	static const struct {
		const char *text, *prefix, *want;
	} bad[] = {
		{ MINIMAL "[defaults]\ntimeout_server = 18446744073709551615ms\n",
		  "x.ini:7: key 'timeout_server': ", "from 1ms to 24h" },
		{ MINIMAL "[defaults]\ntimeout_server = 25h\n", "x.ini:7: key 'timeout_server': ",
		  "got '25h'" },
		{ MINIMAL "[defaults]\ntimeout_client = 2d\n", "x.ini:7: key 'timeout_client': ",
		  "got '2d'" },
		{ "[global]\ngrace = 2d\n" MINIMAL, "x.ini:2: key 'grace': ", "from 0ms to 24h" },
		{ "[global]\nssl_ticket_rotate = 8d\n" MINIMAL, "x.ini:2: key 'ssl_ticket_rotate': ",
		  "from 1s to 7d" },
		{ "[global]\nssl_ticket_rotate = 999ms\n" MINIMAL,
		  "x.ini:2: key 'ssl_ticket_rotate': ", "got '999ms'" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, bad[i].prefix, bad[i].want);
}

Test(conf, duration_maxima_are_accepted)
{
	load_ok("[global]\ngrace = 24h\nssl_ticket_rotate = 7d\n"
		"[defaults]\ntimeout_server = 24h\ntimeout_client = 1d\n" MINIMAL);
	cr_assert_eq(conf->grace_ms, 86400000ULL);
	cr_assert_eq(conf->ssl_ticket_rotate_ms, 7 * 86400000ULL);
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_SERVER], 86400000ULL);
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_CLIENT], 86400000ULL);
}

Test(conf, check_log_names_file_line_of_an_unopenable_path)
{
	char e[512];

	load_ok("[global]\nworkers = 1\nlog = /nonexistent-sluice-dir/x/sluice.log\n" MINIMAL);
	cr_assert_lt(sl_conf_check_log(conf, e, sizeof(e)), 0);
	cr_assert(strstr(e, "x.ini:3: key 'log': cannot open '/nonexistent-sluice-dir/x/sluice.log'"),
		  "%s", e);
	sl_conf_free(conf);
	conf = NULL;
	load_ok("[global]\nlog = /proc/version/x.log\n" MINIMAL);
	cr_assert_lt(sl_conf_check_log(conf, e, sizeof(e)), 0);
	cr_assert(strstr(e, "x.ini:2: key 'log': "), "%s", e);
	sl_conf_free(conf);
	conf = NULL;
	load_ok("[global]\nlog = /\n" MINIMAL);
	cr_assert_lt(sl_conf_check_log(conf, e, sizeof(e)), 0, "a directory");
	sl_conf_free(conf);
	conf = NULL;
	load_ok("[global]\nlog = /tmp/sluice-check-log-does-not-exist.log\n" MINIMAL);
	cr_assert_eq(sl_conf_check_log(conf, e, sizeof(e)), 0, "%s", e);
	cr_assert_eq(access("/tmp/sluice-check-log-does-not-exist.log", F_OK), -1,
		     "the check must not create the file");
	sl_conf_free(conf);
	conf = NULL;
	load_ok("[global]\nlog = /dev/null\n" MINIMAL);
	cr_assert_eq(sl_conf_check_log(conf, e, sizeof(e)), 0, "%s", e);
	sl_conf_free(conf);
	conf = NULL;
	load_ok("[global]\nlog = stderr\n" MINIMAL);
	cr_assert_eq(sl_conf_check_log(conf, e, sizeof(e)), 0);
}
