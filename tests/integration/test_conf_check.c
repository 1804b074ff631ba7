/*
 * sluice -c on the configuration gaps of issue 14, through the real binary:
 * a duration beyond its key's maximum (timeout_server = UINT64_MAX ms used to
 * pass and wrap into a 504 after 1 ms) and a log path that cannot be opened
 * (used to pass -c and fail at start-up without a line) exit 1 naming
 * FILE:LINE and the key; the d unit is accepted where the maxima allow it;
 * and a running proxy with the largest timeout_server answers normally.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(conf_check, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define FE_BE "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n\n" \
	      "[backend app]\nmode = http-server-close\nserver = s1 127.0.0.1:%d\n"

/* Runs sluice -c on text (a format with the frontend and server ports);
 * returns its exit status, its output in out. */
static int check(const char *global, char *out, size_t outsz)
{
	const char *args[] = { "-c", "-f", NULL, NULL };
	char conf[2048], path[1200];
	int st;

	snprintf(conf, sizeof(conf), "[global]\nworkers = 1\n%s\n" FE_BE, global, h_free_port(),
		 h_free_port());
	h_write_file("check.ini", conf, path, sizeof(path));
	args[2] = path;
	st = h_run_sluice(args, out, outsz, 5000 * h_slow());
	cr_assert(st != -1 && WIFEXITED(st), "sluice -c did not exit");
	return WEXITSTATUS(st);
}

static void refused(const char *global, const char *where)
{
	char out[4096];

	cr_assert_eq(check(global, out, sizeof(out)), 1, "sluice -c accepted:\n%s", global);
	cr_assert(strstr(out, where), "want '%s' in:\n%s", where, out);
}

Test(conf_check, duration_beyond_its_maximum_is_refused_with_file_line)
{
	refused("[defaults]\ntimeout_server = 18446744073709551615ms\n",
		"check.ini:4: key 'timeout_server': expected a duration from 1ms to 24h");
	refused("[defaults]\ntimeout_client = 25h\n", "check.ini:4: key 'timeout_client'");
	refused("ssl_ticket_rotate = 8d\n", "check.ini:3: key 'ssl_ticket_rotate'");
	refused("grace = 2d\n", "check.ini:3: key 'grace'");
}

Test(conf_check, day_unit_is_accepted_up_to_the_maxima)
{
	char out[4096];

	cr_assert_eq(check("ssl_ticket_rotate = 7d\n[defaults]\ntimeout_server = 1d\n", out,
			   sizeof(out)), 0, "%s", out);
}

Test(conf_check, server_sockets_takes_direct_or_plain)
{
	char out[4096];

	refused("server_sockets = ring\n", "check.ini:3: key 'server_sockets'");
	cr_assert_eq(check("server_sockets = plain\n", out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(check("server_sockets = direct\n", out, sizeof(out)), 0, "%s", out);
}

Test(conf_check, log_path_that_cannot_be_opened_is_refused_with_file_line)
{
	refused("log = /nonexistent-sluice-dir/sluice.log\n",
		"check.ini:3: key 'log': cannot open '/nonexistent-sluice-dir/sluice.log'");
	refused("log = /proc/version/sluice.log\n", "check.ini:3: key 'log'");
}

Test(conf_check, largest_timeout_server_does_not_wrap)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 50 };
	struct hu_origin *o = hu_origin_start(&sc);
	char conf[2048];
	int port = h_free_port();
	struct h_proxy *p;
	struct hu_cli c;
	struct hu_rsp r;

	snprintf(conf, sizeof(conf), "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n"
		 "[defaults]\ntimeout_server = 24h\ntimeout_client = 24h\n"
		 "timeout_http_request = 1d\n" FE_BE, port, hu_origin_port(o));
	p = h_proxy_start_text(conf, port);
	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.status, 200, "%s", r.head);
	hu_cli_close(&c);
	h_proxy_finish(p);
}
