/*
 * Unit tests for the configuration loader and its value parsers (conf/).
 * Most tests load in-memory text named "x.ini"; errors are checked for their
 * exact "x.ini:LINE: " prefix and for the key or section they name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/conf_value.h"

static struct sl_config *conf;
static char err[512];

static void teardown(void)
{
	sl_conf_free(conf);
	conf = NULL;
}

TestSuite(conf, .fini = teardown);

#define FE "[frontend web]\nbind = :8080\nbackend = app\n"
#define BE "[backend app]\nserver = s1 127.0.0.1:9000\n"
#define MINIMAL FE BE

static int load(const char *text)
{
	sl_conf_free(conf);
	conf = NULL;
	return sl_conf_load_string("x.ini", text, &conf, err, sizeof(err));
}

static void load_ok(const char *text)
{
	int rc = load(text);

	cr_assert_eq(rc, 0, "rc=%d err=%s\n--- text:\n%s", rc, err, text);
	cr_assert_not_null(conf);
	cr_assert_str_empty(err);
}

/* Loading TEXT fails with -EINVAL, no config, and one line starting with
 * PREFIX ("x.ini:LINE: ") that contains NEEDLE (the key or section). */
static void expect_error(const char *text, const char *prefix, const char *needle)
{
	int rc = load(text);

	cr_assert_eq(rc, -EINVAL, "rc=%d err=%s\n--- text:\n%s", rc, err, text);
	cr_assert_null(conf);
	cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix '%s', got: %s\n"
		  "--- text:\n%s", prefix, err, text);
	cr_assert(strstr(err, needle) != NULL, "want '%s' in: %s", needle, err);
	cr_assert(strchr(err, '\n') == NULL, "not one line: %s", err);
}

static const char *addr_str(const struct sl_addr *a)
{
	static char buf[80];

	return sl_conf_addr_str(a, buf, sizeof(buf));
}

/* ---- valid configurations ---- */

static const char full_config[] =
	"; full configuration\n"                                        /* 1 */
	"[global]\n"                                                    /* 2 */
	"workers = 3\n"
	"maxconn = 5000\n"
	"stats = 127.0.0.1:9100\n"
	"log = /var/log/sluice.log\n"
	"grace = 250ms\n"
	"\n"
	"[defaults]\n"                                                  /* 9 */
	"timeout_connect = 1s\n"
	"timeout_client = 2s\n"
	"timeout_server = 3s\n"
	"timeout_client_fin = 4s\n"
	"timeout_server_fin = 5s\n"
	"timeout_http_request = 6s\n"
	"timeout_http_keep_alive = 7s\n"
	"timeout_queue = 8s\n"
	"timeout_check = 9s\n"
	"\n"
	"[frontend web]\n"                                              /* 20 */
	"bind = 0.0.0.0:8080\n"
	"bind = [::]:8443 ssl crt=/etc/sluice/cert.pem\n"
	"mode = http\n"
	"backend = app\n"
	"maxconn = 50000\n"
	"timeout_client = 1m\n"
	"\n"
	"[frontend db]\n"                                               /* 28 */
	"bind = 127.0.0.1:5432\n"
	"backend = pg\n"
	"\n"
	"[backend app]\n"                                               /* 32 */
	"mode = http-keep-alive\n"
	"balance = leastconn\n"
	"server = s1 10.0.1.10:8080 weight=2\n"
	"server = s2 10.0.1.11:8080 backup\n"
	"server = s3 [::1]:8080 disabled weight=256 backup\n"
	"timeout_server = 1h\n"
	"\n"
	"[backend pg]\n"                                                /* 40 */
	"balance = source\n"
	"server = p1 127.0.0.1:5433\n";

Test(conf, loads_every_value_of_a_full_config)
{
	const struct sl_frontend_conf *web, *db;
	const struct sl_backend_conf *app, *pg;

	load_ok(full_config);
	cr_assert_str_eq(conf->path, "x.ini");
	cr_assert_eq(conf->workers, 3);
	cr_assert_eq(conf->maxconn, 5000);
	cr_assert(conf->has_stats);
	cr_assert_str_eq(addr_str(&conf->stats), "127.0.0.1:9100");
	cr_assert_eq(conf->log, SL_LOG_FILE);
	cr_assert_str_eq(conf->log_path, "/var/log/sluice.log");
	cr_assert_eq(conf->grace_ms, 250);
	for (int k = 0; k < SL_TO_TUNNEL; k++)
		cr_assert_eq(conf->defaults.ms[k], (uint64_t)(k + 1) * 1000, "kind %d", k);
	cr_assert_eq(conf->defaults.set_mask, (1u << SL_TO_TUNNEL) - 1);
	cr_assert_eq(conf->defaults.ms[SL_TO_TUNNEL], 3600000); /* not given: 1h */

	cr_assert_eq(conf->nfrontends, 2);
	web = &conf->frontends[0];
	cr_assert_str_eq(web->name, "web");
	cr_assert_eq(web->line, 20);
	cr_assert_eq(web->mode, SL_FE_MODE_HTTP);
	cr_assert_eq(web->nbinds, 2);
	cr_assert_str_eq(addr_str(&web->binds[0].addr), "0.0.0.0:8080");
	cr_assert_not(web->binds[0].ssl);
	cr_assert_str_empty(web->binds[0].crt);
	cr_assert_eq(web->binds[0].line, 21);
	cr_assert_str_eq(addr_str(&web->binds[1].addr), "[::]:8443");
	cr_assert(web->binds[1].ssl);
	cr_assert_str_eq(web->binds[1].crt, "/etc/sluice/cert.pem");
	cr_assert_eq(web->binds[1].line, 22);
	cr_assert_str_eq(web->backend_name, "app");
	cr_assert_eq(web->backend, 0);
	cr_assert_eq(web->maxconn, 50000);
	cr_assert_eq(web->timeouts.ms[SL_TO_CLIENT], 60000);
	cr_assert_eq(web->timeouts.ms[SL_TO_CONNECT], 1000);
	cr_assert_eq(web->timeouts.ms[SL_TO_CHECK], 9000);
	cr_assert_eq(web->timeouts.set_mask, 1u << SL_TO_CLIENT);

	db = &conf->frontends[1];
	cr_assert_str_eq(db->name, "db");
	cr_assert_eq(db->line, 28);
	cr_assert_eq(db->mode, SL_FE_MODE_TCP);
	cr_assert_eq(db->backend, 1);
	cr_assert_eq(db->maxconn, 0);

	cr_assert_eq(conf->nbackends, 2);
	app = &conf->backends[0];
	cr_assert_str_eq(app->name, "app");
	cr_assert_eq(app->line, 32);
	cr_assert_eq(app->mode, SL_BE_MODE_HTTP_KEEP_ALIVE);
	cr_assert_eq(app->balance, SL_BAL_LEASTCONN);
	cr_assert_eq(app->nservers, 3);
	cr_assert_str_eq(app->servers[0].name, "s1");
	cr_assert_str_eq(addr_str(&app->servers[0].addr), "10.0.1.10:8080");
	cr_assert_eq(app->servers[0].weight, 2);
	cr_assert_not(app->servers[0].backup);
	cr_assert_not(app->servers[0].disabled);
	cr_assert_eq(app->servers[0].line, 35);
	cr_assert_eq(app->servers[1].weight, 1);
	cr_assert(app->servers[1].backup);
	cr_assert_str_eq(addr_str(&app->servers[2].addr), "[::1]:8080");
	cr_assert_eq(app->servers[2].weight, 256);
	cr_assert(app->servers[2].backup);
	cr_assert(app->servers[2].disabled);
	cr_assert_eq(app->timeouts.ms[SL_TO_SERVER], 3600000);
	cr_assert_eq(app->timeouts.ms[SL_TO_QUEUE], 8000);

	pg = &conf->backends[1];
	cr_assert_eq(pg->mode, SL_BE_MODE_TCP);
	cr_assert_eq(pg->balance, SL_BAL_SOURCE);
	cr_assert_eq(pg->nservers, 1);
}

Test(conf, applies_builtin_defaults_when_nothing_is_set)
{
	static const uint64_t builtin[SL_TO_COUNT] = {
		[SL_TO_CONNECT] = 5000, [SL_TO_CLIENT] = 30000, [SL_TO_SERVER] = 30000,
		[SL_TO_CLIENT_FIN] = 1000, [SL_TO_SERVER_FIN] = 1000,
		[SL_TO_HTTP_REQUEST] = 10000, [SL_TO_HTTP_KEEP_ALIVE] = 10000,
		[SL_TO_QUEUE] = 5000, [SL_TO_CHECK] = 2000, [SL_TO_TUNNEL] = 3600000,
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	load_ok(MINIMAL);
	cr_assert_eq(conf->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
	cr_assert_eq(conf->maxconn, 100000);
	cr_assert_not(conf->has_stats);
	cr_assert_eq(conf->log, SL_LOG_STDOUT);
	cr_assert_eq(conf->grace_ms, 5000);
	cr_assert_eq(conf->frontends[0].mode, SL_FE_MODE_TCP);
	cr_assert_eq(conf->backends[0].mode, SL_BE_MODE_TCP);
	cr_assert_eq(conf->backends[0].balance, SL_BAL_ROUNDROBIN);
	cr_assert_eq(conf->backends[0].servers[0].weight, 1);
	for (int k = 0; k < SL_TO_COUNT; k++) {
		cr_assert_eq(conf->defaults.ms[k], builtin[k], "kind %d", k);
		cr_assert_eq(conf->frontends[0].timeouts.ms[k], builtin[k], "kind %d", k);
		cr_assert_eq(conf->backends[0].timeouts.ms[k], builtin[k], "kind %d", k);
	}
}

Test(conf, applies_defaults_section_placed_after_the_sections_it_serves)
{
	load_ok("[frontend web]\nbind = :8080\nbackend = app\ntimeout_client = 7s\n"
		BE
		"[defaults]\ntimeout_client = 3s\ntimeout_server = 4s\n");
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_CLIENT], 7000);
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_SERVER], 4000);
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_CONNECT], 5000);
	cr_assert_eq(conf->frontends[0].timeouts.set_mask, 1u << SL_TO_CLIENT);
	cr_assert_eq(conf->backends[0].timeouts.ms[SL_TO_CLIENT], 3000);
	cr_assert_eq(conf->backends[0].timeouts.ms[SL_TO_SERVER], 4000);
	cr_assert_eq(conf->backends[0].timeouts.set_mask, 0);
}

Test(conf, accepts_log_targets_and_workers_auto)
{
	load_ok("[global]\nlog = stderr\nworkers = auto\n" MINIMAL);
	cr_assert_eq(conf->log, SL_LOG_STDERR);
	cr_assert_geq(conf->workers, 1);
	load_ok("[global]\nlog = off\nworkers = 256\n" MINIMAL);
	cr_assert_eq(conf->log, SL_LOG_OFF);
	cr_assert_eq(conf->workers, 256);
	load_ok("[global]\nlog = logs/sluice.log\ngrace = 0\n" MINIMAL);
	cr_assert_eq(conf->log, SL_LOG_FILE);
	cr_assert_str_eq(conf->log_path, "logs/sluice.log");
	cr_assert_eq(conf->grace_ms, 0);
}

Test(conf, accepts_indentation_comments_crlf_and_bom)
{
	load_ok("\xEF\xBB\xBF# comment\r\n"
		"  [frontend web]   ; the web side\r\n"
		"\tbind = :8080 ; public\r\n"
		"    backend = app\r\n"
		"\n"
		"[backend app]\n"
		"    server = s1 127.0.0.1:9000 weight=3\n"
		"    server = s2 127.0.0.1:9001\n"
		"  ; indented comment\n");
	cr_assert_eq(conf->backends[0].nservers, 2);
	cr_assert_eq(conf->backends[0].servers[0].weight, 3);
	cr_assert_eq(conf->backends[0].servers[1].line, 8);
}

Test(conf, keeps_section_names_longer_than_inih_buffers)
{
	char text[512];
	const char *n63 = "a123456789b123456789c123456789d123456789e123456789f123456789xyz";

	snprintf(text, sizeof(text), "[frontend %s]\nbind = :80\nbackend = %s\n"
		 "[backend %s]\nserver = s 127.0.0.1:1\n", n63, n63, n63);
	load_ok(text);
	cr_assert_str_eq(conf->frontends[0].name, n63);
	cr_assert_str_eq(conf->backends[0].name, n63);
}

Test(conf, loads_from_a_file)
{
	char path[] = "/tmp/sluice-conf-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	int rc;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(MINIMAL "[global]\nmaxconn = 7\n", f);
	fclose(f);
	rc = sl_conf_load(path, &conf, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(conf->maxconn, 7);
	cr_assert_str_eq(conf->path, path);
	sl_conf_free(conf);
	conf = NULL;

	f = fopen(path, "w");
	fputs(MINIMAL "[global]\nmaxconn = 0\n", f);
	fclose(f);
	rc = sl_conf_load(path, &conf, err, sizeof(err));
	unlink(path);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(conf);
	cr_assert(strncmp(err, path, strlen(path)) == 0 && strncmp(err + strlen(path), ":7: ", 4) == 0,
		  "%s", err);
}

Test(conf, reports_missing_file_with_enoent)
{
	int rc = sl_conf_load("/nonexistent/sluice.ini", &conf, err, sizeof(err));

	cr_assert_eq(rc, -ENOENT);
	cr_assert_null(conf);
	cr_assert_str_eq(err, "/nonexistent/sluice.ini:0: cannot open: No such file or directory");
}

Test(conf, truncates_messages_to_the_error_buffer)
{
	char small[12];
	int rc = sl_conf_load_string("x.ini", "[nope]\n", &conf, small, sizeof(small));

	cr_assert_eq(rc, -EINVAL);
	cr_assert_str_eq(small, "x.ini:1: se");
	cr_assert_eq(sl_conf_load_string("x.ini", "[nope]\n", &conf, NULL, 0), -EINVAL);
}

/* ---- errors ---- */

Test(conf, reports_bad_duration_with_file_line_and_key)
{
	expect_error(MINIMAL "[defaults]\ntimeout_client = 5x\n", "x.ini:7: ", "timeout_client");
	cr_assert_str_eq(err, "x.ini:7: key 'timeout_client': expected a duration from 1ms to "
			 "24h like 500ms, 5s, 2m, 1h, 1d, got '5x'");
	expect_error(MINIMAL "[global]\ngrace = soon\n", "x.ini:7: key 'grace': ", "got 'soon'");
	expect_error(FE "timeout_server = -1s\n" BE, "x.ini:4: key 'timeout_server': ", "'-1s'");
}

Test(conf, rejects_zero_timeouts)
{
	expect_error(BE "timeout_connect = 0\n" FE, "x.ini:3: key 'timeout_connect': ",
		     "expected a duration from 1ms to 24h");
	expect_error("[defaults]\ntimeout_check = 0ms\n" MINIMAL, "x.ini:2: ", "timeout_check");
}

Test(conf, rejects_unknown_section_with_line)
{
	expect_error(MINIMAL "[listen web]\n", "x.ini:6: section [listen web]: ", "unknown");
	expect_error("[Global]\n" MINIMAL, "x.ini:1: section [Global]", "unknown section");
	expect_error("[global x]\n" MINIMAL, "x.ini:1: section [global x]", "without a name");
	expect_error("[frontend]\n", "x.ini:1: section [frontend]", "name");
	expect_error("[frontend a b]\n", "x.ini:1: section [frontend a b]", "got 'a b'");
	expect_error("[backend a/b]\n", "x.ini:1: section [backend a/b]", "got 'a/b'");
	expect_error("[frontend a123456789b123456789c123456789d123456789e123456789f123456789wxyz]\n",
		     "x.ini:1: section [frontend a1", "1 to 63 characters");
}

Test(conf, rejects_malformed_section_headers)
{
	expect_error(MINIMAL "\n[backend x\n", "x.ini:7: section header '[backend x'",
		     "expected [KIND] or [KIND NAME]");
	expect_error(MINIMAL "[global] junk\n", "x.ini:6: section header '[global] junk'", "alone");
}

Test(conf, rejects_unknown_key_in_every_section)
{
	expect_error("[global]\nthreads = 4\n" MINIMAL, "x.ini:2: key 'threads': ",
		     "unknown key in [global]");
	expect_error("[defaults]\nmode = http\n" MINIMAL, "x.ini:2: key 'mode': ", "[defaults]");
	expect_error(FE "balance = random\n" BE, "x.ini:4: key 'balance': ", "[frontend web]");
	expect_error(MINIMAL "bind = :80\n", "x.ini:6: key 'bind': ", "[backend app]");
	expect_error("[global]\ntimeout_client = 5s\n" MINIMAL, "x.ini:2: key 'timeout_client': ",
		     "[global]");
	expect_error(FE "timeout_forever = 5s\n" BE, "x.ini:4: key 'timeout_forever': ", "unknown");
	expect_error(FE "Bind = :81\n" BE, "x.ini:4: key 'Bind': ", "unknown");
}

Test(conf, lists_every_key_of_the_section_when_a_key_is_unknown)
{
	expect_error(FE "keepalive = 1\n" BE, "x.ini:4: key 'keepalive': ",
		     "unknown key in [frontend web]; expected bind, mode, backend, maxconn, "
		     "maxconn_per_source, keepalive_requests, forwardfor, max_header_size, "
		     "max_headers, route, request_id, path_normalize, ssl_min_version, h2, "
		     "h2_max_concurrent_streams, h2_initial_window_size, "
		     "h2_connection_window_size, lingering_close or timeout_*");
	expect_error(MINIMAL "pool_size = 1\n", "x.ini:6: key 'pool_size': ",
		     "unknown key in [backend app]; expected mode, balance, server, check, "
		     "check_expect, check_interval, check_rise, check_fall, pool_max_idle, "
		     "pool_idle_timeout, pool_max_lifetime, pool_max_requests, pool_purge_interval "
		     "or timeout_*");
	expect_error("[global]\nthreads = 4\n" MINIMAL, "x.ini:2: key 'threads': ",
		     "expected workers, maxconn, stats, log, log_format, grace, ssl_ticket_rotate, "
		     "admin, stats_interval, buffer_release, recv_buffers or server_sockets");
	cr_assert(strstr(err, "timeout_*") == NULL, "%s", err);
	expect_error("[defaults]\nmode = http\n" MINIMAL, "x.ini:2: key 'mode': ",
		     "unknown key in [defaults]; expected timeout_*");
	/* each key belongs to its section only */
	expect_error(MINIMAL "route = host a backend app\n", "x.ini:6: key 'route': ",
		     "unknown key in [backend app]");
	expect_error(FE "pool_max_idle = 1\n" BE, "x.ini:4: key 'pool_max_idle': ",
		     "unknown key in [frontend web]");
	expect_error("[defaults]\nmax_headers = 10\n" MINIMAL, "x.ini:2: key 'max_headers': ",
		     "unknown key in [defaults]");
}

Test(conf, buffer_release_default_and_bounds)
{
	load_ok(MINIMAL);
	cr_assert_eq(conf->buffer_release_ms, 10000);
	load_ok("[global]\nbuffer_release = 200ms\n" MINIMAL);
	cr_assert_eq(conf->buffer_release_ms, 200);
	expect_error("[global]\nbuffer_release = 50ms\n" MINIMAL, "x.ini:2: key 'buffer_release': ",
		     "a duration from 100ms to 1h");
	expect_error("[global]\nbuffer_release = 2h\n" MINIMAL, "x.ini:2: key 'buffer_release': ",
		     "a duration from 100ms to 1h");
}

Test(conf, recv_buffers_default_values_and_bad_value)
{
	load_ok(MINIMAL);
	cr_assert(!conf->recv_buffers_inc);
	load_ok("[global]\nrecv_buffers = incremental\n" MINIMAL);
	cr_assert(conf->recv_buffers_inc);
	load_ok("[global]\nrecv_buffers = fixed\n" MINIMAL);
	cr_assert(!conf->recv_buffers_inc);
	expect_error("[global]\nrecv_buffers = large\n" MINIMAL, "x.ini:2: key 'recv_buffers': ",
		     "fixed or incremental");
}

Test(conf, stats_interval_default_and_bounds)
{
	load_ok(MINIMAL);
	cr_assert_eq(conf->stats_interval_ms, 10000);
	load_ok("[global]\nstats_interval = 250ms\n" MINIMAL);
	cr_assert_eq(conf->stats_interval_ms, 250);
	expect_error("[global]\nstats_interval = 50ms\n" MINIMAL, "x.ini:2: key 'stats_interval': ",
		     "a duration from 100ms to 1h");
	expect_error("[global]\nstats_interval = 2h\n" MINIMAL, "x.ini:2: key 'stats_interval': ",
		     "a duration from 100ms to 1h");
	expect_error("[global]\nstats_interval = soon\n" MINIMAL,
		     "x.ini:2: key 'stats_interval': ", "a duration from 100ms to 1h");
}

Test(conf, rejects_unknown_server_options)
{
	static const char *const opts[] = { "slowstart=5s", "weight=2 maxconn=5 slowstart=5s",
					    "maxconn", "Maxconn=5" };
	char text[512];

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "server = s2 127.0.0.1:9001 %s\n", opts[i]);
		expect_error(text, "x.ini:6: key 'server': ", "unknown option");
		cr_assert(strstr(err, "expected weight=N, maxconn=N, backup, disabled, check, "
				 "check_port=N, check_addr=IP, send_proxy or send_proxy_v2"), "%s", err);
	}
}

Test(conf, rejects_key_outside_any_section)
{
	expect_error("; comment\nworkers = 2\n" MINIMAL, "x.ini:2: key 'workers': ",
		     "outside any section");
}

Test(conf, rejects_bad_enum_values)
{
	expect_error(FE "mode = https\n" BE, "x.ini:4: key 'mode': ", "expected tcp or http, got 'https'");
	expect_error(MINIMAL "mode = http\n", "x.ini:6: key 'mode': ",
		     "expected tcp, http-server-close or http-keep-alive, got 'http'");
	expect_error(MINIMAL "balance = rr\n", "x.ini:6: key 'balance': ", "got 'rr'");
	expect_error("[global]\nlog =\n" MINIMAL, "x.ini:2: key 'log': ", "got ''");
	expect_error("[global]\nworkers = many\n" MINIMAL, "x.ini:2: key 'workers': ", "auto");
}

Test(conf, rejects_bad_numbers)
{
	static const char *const bad[] = { "0", "-1", "10000001", "12k", "", " ", "1e3",
					   "99999999999999999999999" };
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[global]\nmaxconn = %s\n" MINIMAL, bad[i]);
		expect_error(text, "x.ini:2: key 'maxconn': ", "expected a number from 1 to 10000000");
		snprintf(text, sizeof(text), FE "maxconn = %s\n" BE, bad[i]);
		expect_error(text, "x.ini:4: key 'maxconn': ", "expected a number");
	}
	expect_error("[global]\nworkers = 257\n" MINIMAL, "x.ini:2: key 'workers': ", "256");
	expect_error("[global]\nworkers = 0\n" MINIMAL, "x.ini:2: key 'workers': ", "256");
	expect_error(MINIMAL "server = s2 127.0.0.1:1 weight=0\n", "x.ini:6: key 'server': ",
		     "weight=");
	expect_error(MINIMAL "server = s2 127.0.0.1:1 weight=257\n", "x.ini:6: key 'server': ",
		     "from 1 to 256");
}

Test(conf, rejects_bad_addresses_in_every_key)
{
	expect_error("[global]\nstats = 127.0.0.1\n" MINIMAL, "x.ini:2: key 'stats': ",
		     "missing port");
	expect_error("[frontend web]\nbind = :0\nbackend = app\n" BE, "x.ini:2: key 'bind': ",
		     "(port must be a number from 1 to 65535), got ':0'");
	expect_error(MINIMAL "server = s2 10.0.0.1:65536\n", "x.ini:6: key 'server': ",
		     "'10.0.0.1:65536'");
	expect_error(MINIMAL "server = s2\n", "x.ini:6: key 'server': ",
		     "expected NAME HOST:PORT");
	expect_error(MINIMAL "server = bad/name 10.0.0.1:80\n", "x.ini:6: key 'server': ",
		     "got 'bad/name'");
	expect_error("[frontend web]\nbind =\nbackend = app\n" BE, "x.ini:2: key 'bind': ", "got ''");
}

Test(conf, rejects_non_repeatable_key_given_twice)
{
	expect_error(FE "mode = http\nmode = http\n" BE, "x.ini:5: key 'mode': ",
		     "given twice in [frontend web] (first at line 4)");
	expect_error(FE "backend = other\n" BE, "x.ini:4: key 'backend': ", "given twice");
	expect_error(MINIMAL "timeout_server = 1s\ntimeout_server = 2s\n",
		     "x.ini:7: key 'timeout_server': ", "first at line 6");
	expect_error("[global]\nmaxconn = 1\nmaxconn = 1\n" MINIMAL, "x.ini:3: key 'maxconn': ",
		     "given twice in [global]");
}

Test(conf, rejects_global_or_defaults_section_given_twice)
{
	expect_error("[global]\n" MINIMAL "[global]\n", "x.ini:7: section [global]: ",
		     "first at line 1");
	expect_error("[defaults]\n" MINIMAL "[defaults]\n", "x.ini:7: section [defaults]: ",
		     "given twice");
}

Test(conf, rejects_duplicate_frontend_backend_and_server_names)
{
	expect_error(MINIMAL "[frontend web]\nbind = :81\nbackend = app\n",
		     "x.ini:6: section [frontend web]: ", "duplicate frontend name 'web' "
		     "(first at line 1)");
	expect_error(MINIMAL "[backend app]\nserver = s1 127.0.0.1:9000\n",
		     "x.ini:6: section [backend app]: ", "duplicate backend name 'app'");
	expect_error(MINIMAL "server = s1 127.0.0.1:9001\n", "x.ini:6: key 'server': ",
		     "duplicate server name 's1' in [backend app] (first at line 5)");
}

Test(conf, accepts_a_frontend_and_a_backend_with_the_same_name)
{
	load_ok("[frontend app]\nbind = :80\nbackend = app\n" BE);
}

Test(conf, rejects_frontend_without_bind_at_its_section_line)
{
	expect_error(BE "\n[frontend web]\nbackend = app\n[global]\n",
		     "x.ini:4: section [frontend web]: ", "missing key 'bind'");
	/* An empty section at the very end is seen too. */
	expect_error(MINIMAL "[frontend other]\n", "x.ini:6: section [frontend other]: ",
		     "'bind'");
}

Test(conf, rejects_frontend_without_backend)
{
	expect_error("[frontend web]\nbind = :8080\n" BE, "x.ini:1: section [frontend web]: ",
		     "missing key 'backend'");
}

Test(conf, rejects_frontend_naming_a_missing_backend_at_its_line)
{
	expect_error("[frontend web]\nmode = tcp\nbind = :8080\nbackend = nope\n" BE,
		     "x.ini:4: key 'backend': ", "got 'nope'");
	expect_error("[frontend web]\nbind = :8080\nbackend = bad!\n" BE,
		     "x.ini:3: key 'backend': ", "got 'bad!'");
}

Test(conf, rejects_frontend_and_backend_with_different_modes)
{
	expect_error(FE "[backend app]\nmode = http-server-close\nserver = s 127.0.0.1:1\n",
		     "x.ini:3: key 'backend': ", "frontend 'web' has mode tcp");
	expect_error(FE "[backend app]\nmode = http-keep-alive\nserver = s 127.0.0.1:1\n",
		     "x.ini:3: key 'backend': ", "mode http-keep-alive");
	expect_error("[frontend web]\nmode = http\nbind = :8080\nbackend = app\n" BE,
		     "x.ini:4: key 'backend': ", "frontend 'web' has mode http");
	load_ok("[frontend web]\nmode = http\nbind = :8080\nbackend = app\n"
		"[backend app]\nmode = http-server-close\nserver = s 127.0.0.1:1\n");
}

Test(conf, rejects_backend_without_servers_at_its_section_line)
{
	expect_error(FE "[backend app]\nbalance = random\n[global]\n",
		     "x.ini:4: section [backend app]: ", "missing key 'server'");
	expect_error(FE "[backend app]\n", "x.ini:4: section [backend app]: ", "'server'");
	expect_error("[backend app]\n" FE, "x.ini:1: section [backend app]: ", "'server'");
}

Test(conf, rejects_configuration_without_any_frontend)
{
	expect_error(BE, "x.ini:0: ", "[frontend NAME]");
	cr_assert(strstr(err, "whole file"), "%s", err);
	expect_error("", "x.ini:0: ", "[frontend NAME]");
}

Test(conf, reports_inih_syntax_errors_with_their_line)
{
	expect_error(FE "maxconn\n" BE, "x.ini:4: syntax error", "key = value");
	/* The earlier of a syntax error and a later key error wins. */
	expect_error(FE "junk line\nmode = bogus\n" BE, "x.ini:4: syntax error", "[section]");
	expect_error(FE "mode = bogus\njunk line\n" BE, "x.ini:4: key 'mode': ", "bogus");
}

Test(conf, rejects_ssl_and_crt_without_each_other)
{
	expect_error("[frontend web]\nbind = :443 ssl\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "crt=PATH");
	expect_error("[frontend web]\nbind = :443 crt=/c.pem\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "'ssl'");
	expect_error("[frontend web]\nbind = :443 ssl crt=\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "crt=PATH");
	expect_error("[frontend web]\nbind = :443 ssl ssl crt=/c\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "given twice");
	expect_error("[frontend web]\nbind = :443 tls\nbackend = app\n" BE,
		     "x.ini:2: key 'bind': ", "unknown option 'tls'");
}

Test(conf, rejects_the_same_bind_address_twice)
{
	expect_error(MINIMAL "[frontend b]\nbind = 0.0.0.0:8080\nbackend = app\n",
		     "x.ini:7: key 'bind': ", "already bound at line 2");
}

Test(conf, rejects_overlong_lines_and_control_characters)
{
	char text[1024];

	snprintf(text, sizeof(text), FE "; %0600d\n" BE "log = %0300d\n", 0, 0);
	expect_error(text, "x.ini:7: line too long", "198");
	expect_error(FE "mode = t\x01p\n" BE, "x.ini:4: ", "control character 0x01");
}

Test(conf, frees_a_partly_built_config_on_late_errors)
{
	char text[4096];

	/* Run under LSan (make asan): every array built so far must be freed. */
	snprintf(text, sizeof(text), "%s[frontend x]\nbind = :1\nbackend = pg\nmode = http\n",
		 full_config);
	expect_error(text,
		     "x.ini:45: key 'backend': ", "frontend 'x' has mode http");
}

/* ---- value parsers ---- */

Test(conf, parses_valid_durations)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
		{ "0", 0 }, { "250", 250 }, { "250ms", 250 }, { "5s", 5000 }, { "2m", 120000 },
		{ "1h", 3600000 }, { "007s", 7000 }, { "18446744073709551615", UINT64_MAX },
		{ "18446744073709551ms", 18446744073709551ULL },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ms = 42;

		cr_assert_eq(sl_conf_parse_duration(ok[i].s, &ms), 0, "%s", ok[i].s);
		cr_assert_eq(ms, ok[i].ms, "%s", ok[i].s);
	}
}

Test(conf, rejects_invalid_durations)
{
	static const char *const bad[] = {
		"", "-5s", "+5s", " 5s", "5s ", "5 s", "5x", "5S", "1.5s", "ms", "s", "5sec",
		"5ms5", "1w", "1D", "0x10", "18446744073709551616", "18446744073709551615s",
		"5124095576030432h",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 42;

		cr_assert_eq(sl_conf_parse_duration(bad[i], &ms), -EINVAL, "'%s'", bad[i]);
		cr_assert_eq(ms, 42, "'%s' wrote a value", bad[i]);
	}
}

Test(conf, parses_ipv4_ipv6_port_only_and_hostnames)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "1.2.3.4:80", "1.2.3.4:80" }, { "0.0.0.0:65535", "0.0.0.0:65535" },
		{ ":80", "0.0.0.0:80" }, { "[::1]:80", "[::1]:80" }, { "[::]:1", "[::]:1" },
		{ "[2001:db8::1]:443", "[2001:db8::1]:443" }, { "localhost:8080", "127.0.0.1:8080" },
		{ "127.0.0.1:0080", "127.0.0.1:80" },
	};
	struct sl_addr a;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(sl_conf_parse_addr(ok[i].in, &a), 0, "%s", ok[i].in);
		cr_assert_str_eq(addr_str(&a), ok[i].out);
	}
	cr_assert_eq(sl_conf_parse_addr("1.2.3.4:80", &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	cr_assert_eq(sl_conf_parse_addr("[::1]:80", &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET6);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	cr_assert_eq(sl_conf_parse_addr("localhost:1", &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET, "localhost resolves to IPv4 first");
}

Test(conf, rejects_invalid_addresses)
{
	static const char *const bad[] = {
		"", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:8o",
		"1.2.3.4:-1", "1.2.3.4: 80", "::1:80", "::1", "[::1]", "[::1]80", "[::1]:",
		"[zz::1]:80", "[]:80", "[1.2.3.4]:80", "[::1:80", "1.2.3:80", "999.1.1.1:80",
		"127.1:80", "bad host:80", "a..b:80", ".a:80", "a/b:80", "1.2.3.4:99999999999999999999",
	};
	struct sl_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(sl_conf_parse_addr(bad[i], &a), -EINVAL, "'%s'", bad[i]);
}

Test(conf, formats_unknown_and_tiny_buffers_safely)
{
	struct sl_addr a = { .len = 0 };
	char buf[6];

	a.ss.ss_family = AF_UNIX;
	cr_assert_str_eq(sl_conf_addr_str(&a, buf, sizeof(buf)), "?");
	cr_assert_eq(sl_conf_parse_addr("10.20.30.40:8080", &a), 0);
	cr_assert_str_eq(sl_conf_addr_str(&a, buf, sizeof(buf)), "10.20");
}

Test(conf, names_every_timeout)
{
	static const char *const names[SL_TO_COUNT] = {
		"timeout_connect", "timeout_client", "timeout_server", "timeout_client_fin",
		"timeout_server_fin", "timeout_http_request", "timeout_http_keep_alive",
		"timeout_queue", "timeout_check", "timeout_tunnel",
	};

	for (int k = 0; k < SL_TO_COUNT; k++)
		cr_assert_str_eq(sl_conf_timeout_name((enum sl_timeout_kind)k), names[k]);
}

/* ---- health checks ---- */

Test(conf, loads_check_settings_and_server_check_options)
{
	const struct sl_backend_conf *be;

	load_ok(FE "[backend app]\n"                                          /* 4 */
		"check = http  HEAD\t/health?full=1\n"
		"check_expect = 200-204\n"
		"check_interval = 250ms\n"
		"check_rise = 5\n"
		"check_fall = 1\n"
		"timeout_check = 700ms\n"
		"server = s1 10.0.0.1:443 check check_port=8000\n"
		"server = s2 10.0.0.2:443 check_addr=10.9.9.9 check\n"
		"server = s3 10.0.0.3:443 check check_addr=[::1] check_port=81 backup\n"
		"server = s4 10.0.0.4:443 weight=3\n");
	be = &conf->backends[0];
	cr_assert_eq(be->check.kind, SL_CHECK_HTTP);
	cr_assert_str_eq(be->check.method, "HEAD");
	cr_assert_str_eq(be->check.path, "/health?full=1");
	cr_assert_eq(be->check.expect_lo, 200);
	cr_assert_eq(be->check.expect_hi, 204);
	cr_assert_eq(be->check.interval_ms, 250);
	cr_assert_eq(be->check.rise, 5);
	cr_assert_eq(be->check.fall, 1);
	cr_assert_eq(be->timeouts.ms[SL_TO_CHECK], 700);
	cr_assert(be->servers[0].check);
	cr_assert_str_eq(addr_str(&be->servers[0].check_addr), "10.0.0.1:8000");
	cr_assert(be->servers[1].check);
	cr_assert_str_eq(addr_str(&be->servers[1].check_addr), "10.9.9.9:443");
	cr_assert_str_eq(addr_str(&be->servers[2].check_addr), "[::1]:81");
	cr_assert(be->servers[2].backup);
	cr_assert_not(be->servers[3].check);
	cr_assert_str_eq(addr_str(&be->servers[3].check_addr), "10.0.0.4:443");
}

Test(conf, applies_check_defaults)
{
	const struct sl_check_conf *cc;

	load_ok(MINIMAL "server = s2 127.0.0.1:9001 check\n");
	cc = &conf->backends[0].check;
	cr_assert_eq(cc->kind, SL_CHECK_TCP);
	cr_assert_eq(cc->expect_lo, 200);
	cr_assert_eq(cc->expect_hi, 399);
	cr_assert_eq(cc->interval_ms, 2000);
	cr_assert_eq(cc->rise, 2);
	cr_assert_eq(cc->fall, 3);
	cr_assert_eq(conf->backends[0].timeouts.ms[SL_TO_CHECK], 2000);
	cr_assert_not(conf->backends[0].servers[0].check);
	cr_assert(conf->backends[0].servers[1].check);
	cr_assert_str_eq(addr_str(&conf->backends[0].servers[1].check_addr), "127.0.0.1:9001");
	load_ok(MINIMAL "check = tcp\n");
	cr_assert_eq(conf->backends[0].check.kind, SL_CHECK_TCP);
}

Test(conf, rejects_bad_check_values_with_file_line_and_key)
{
	static const struct {
		const char *line, *needle;
	} bad[] = {
		{ "check = udp", "(unknown check type), got 'udp'" },
		{ "check =", "got ''" },
		{ "check = tcp now", "got 'tcp now'" },
		{ "check = http", "exactly a method and a path" },
		{ "check = http GET", "exactly a method and a path" },
		{ "check = http GET /a b", "exactly a method and a path" },
		{ "check = http GET health", "must start with '/'" },
		{ "check = http G(T /", "invalid character in the method" },
		{ "check = http GETGETGETGETGETGETGETGETGETGETGET /", "method too long" },
		{ "check = HTTP GET /", "unknown check type" },
		{ "check_expect = 99", "expected an HTTP status from 100 to 599" },
		{ "check_expect = 600", "got '600'" },
		{ "check_expect = 300-200", "got '300-200'" },
		{ "check_expect = 200-", "got '200-'" },
		{ "check_expect = 2xx", "got '2xx'" },
		{ "check_interval = 0", "from 1ms to 24h" },
		{ "check_interval = 25h", "got '25h'" },
		{ "check_interval = 5x", "got '5x'" },
		{ "check_rise = 0", "from 1 to 100" },
		{ "check_rise = 101", "got '101'" },
		{ "check_fall = -1", "got '-1'" },
	};
	char text[512], prefix[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* every one of them is a backend key of line 6 */
		snprintf(text, sizeof(text), MINIMAL "check = http GET /\n%s\n", bad[i].line);
		if (strncmp(bad[i].line, "check =", 7) == 0)
			snprintf(text, sizeof(text), MINIMAL "%s\n", bad[i].line);
		snprintf(prefix, sizeof(prefix), "x.ini:%d: key '%.*s': ",
			 strncmp(bad[i].line, "check =", 7) == 0 ? 6 : 7,
			 (int)strcspn(bad[i].line, " "), bad[i].line);
		expect_error(text, prefix, bad[i].needle);
	}
}

Test(conf, rejects_bad_server_check_options)
{
	static const struct {
		const char *opts, *needle;
	} bad[] = {
		{ "check check_port=0", "check_port= expects a port from 1 to 65535, got 'check_port=0'" },
		{ "check check_port=65536", "got 'check_port=65536'" },
		{ "check check_port=", "got 'check_port='" },
		{ "check check_addr=db.local", "expects an IP address" },
		{ "check check_addr=1.2.3", "got 'check_addr=1.2.3'" },
		{ "check check_addr=[1.2.3.4]", "got 'check_addr=[1.2.3.4]'" },
		{ "check check_addr=10.0.0.1:80", "got 'check_addr=10.0.0.1:80'" },
		{ "check_port=8000", "option check_port= expects 'check' too" },
		{ "check_addr=10.0.0.1", "option check_addr= expects 'check' too" },
		{ "check check", "option 'check' given twice" },
		{ "check check_port=1 check_port=2", "option 'check_port=2' given twice" },
		{ "check check_addr=::1 check_addr=::2", "given twice" },
		{ "checks", "unknown option 'checks'" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "server = s2 127.0.0.1:9001 %s\n", bad[i].opts);
		expect_error(text, "x.ini:6: key 'server': ", bad[i].needle);
	}
}

Test(conf, rejects_check_keys_given_twice_or_in_other_sections)
{
	expect_error(MINIMAL "check = tcp\ncheck = tcp\n", "x.ini:7: key 'check': ",
		     "given twice in [backend app] (first at line 6)");
	expect_error(MINIMAL "check_rise = 1\ncheck_fall = 1\ncheck_rise = 2\n",
		     "x.ini:8: key 'check_rise': ", "given twice");
	expect_error(FE "check = tcp\n" BE, "x.ini:4: key 'check': ", "unknown key in [frontend web]");
	expect_error("[defaults]\ncheck_interval = 1s\n" MINIMAL, "x.ini:2: key 'check_interval': ",
		     "unknown key in [defaults]");
}

Test(conf, rejects_check_expect_without_an_http_check)
{
	/* reported at the check_expect line, whatever the order of the keys */
	expect_error(MINIMAL "check_expect = 200\ncheck_interval = 1s\n",
		     "x.ini:6: key 'check_expect': ", "only with an http check");
	expect_error(MINIMAL "check_expect = 200\ncheck = tcp\n[backend other]\n"
		     "server = o 127.0.0.1:1\n", "x.ini:6: key 'check_expect': ", "[backend app]");
	load_ok(MINIMAL "check_expect = 204\ncheck = http OPTIONS /\n");
	cr_assert_eq(conf->backends[0].check.expect_lo, 204);
	cr_assert_eq(conf->backends[0].check.expect_hi, 204);
}

Test(conf, parses_check_specs_status_ranges_and_ip_literals)
{
	struct sl_check_conf cc = { 0 };
	struct sl_addr a;
	const char *why;
	int lo, hi;

	cr_assert_eq(sl_conf_parse_check("http PUT /x", &cc, &why), 0);
	cr_assert_eq(cc.kind, SL_CHECK_HTTP);
	cr_assert_str_eq(cc.method, "PUT");
	cr_assert_str_eq(cc.path, "/x");
	cr_assert_eq(sl_conf_parse_check("tcp", &cc, &why), 0);
	cr_assert_eq(cc.kind, SL_CHECK_TCP);
	cr_assert_eq(sl_conf_parse_check("http GET /\x7f", &cc, &why), -EINVAL);
	cr_assert_str_eq(why, "invalid character in the path");
	cr_assert_eq(sl_conf_parse_status_range("100-599", &lo, &hi), 0);
	cr_assert(lo == 100 && hi == 599);
	cr_assert_eq(sl_conf_parse_status_range("404", &lo, &hi), 0);
	cr_assert(lo == 404 && hi == 404);
	cr_assert_eq(sl_conf_parse_status_range("-200", &lo, &hi), -EINVAL);
	cr_assert_eq(sl_conf_parse_status_range("200-300-400", &lo, &hi), -EINVAL);
	cr_assert_eq(sl_conf_parse_ip("192.168.1.1", &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET);
	cr_assert_eq(sl_conf_parse_ip("fe80::1", &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET6);
	cr_assert_eq(sl_conf_parse_ip("[2001:db8::5]", &a), 0);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	cr_assert_eq(sl_conf_parse_ip("", &a), -EINVAL);
	cr_assert_eq(sl_conf_parse_ip("[]", &a), -EINVAL);
	cr_assert_eq(sl_conf_parse_ip("localhost", &a), -EINVAL);
}

/* ---- http frontends, routes, connection pools and limits ---- */

#define HFE "[frontend web]\nbind = :8080\nmode = http\nbackend = app\n"
#define HBE "[backend app]\nmode = http-keep-alive\nserver = s1 127.0.0.1:9000\n"

Test(conf, loads_http_frontend_limits_and_pool_settings)
{
	const struct sl_frontend_conf *fe;
	const struct sl_backend_conf *be;

	load_ok(HFE
		"maxconn_per_source = 200\n"
		"keepalive_requests = 1000\n"
		"forwardfor = off\n"
		"max_header_size = 32k\n"
		"max_headers = 50\n"
		"[backend app]\n"
		"pool_max_idle = 8\n"
		"pool_idle_timeout = 15s\n"
		"pool_max_lifetime = 2m\n"
		"pool_max_requests = 500\n"
		"mode = http-keep-alive\n"
		"server = s1 10.0.1.10:8080 weight=2 maxconn=500 check check_port=8000\n"
		"server = s2 10.0.1.11:8080 maxconn=1000000\n"
		"server = s3 10.0.1.12:8080\n");
	fe = &conf->frontends[0];
	cr_assert_eq(fe->maxconn_per_source, 200);
	cr_assert_eq(fe->keepalive_requests, 1000);
	cr_assert(fe->forwardfor_off);
	cr_assert_eq(fe->max_header_size, 32768);
	cr_assert_eq(fe->max_headers, 50);
	cr_assert_eq(fe->nroutes, 0);
	be = &conf->backends[0];
	cr_assert_eq(be->pool_max_idle, 8);
	cr_assert(be->pool_max_idle_set);
	cr_assert_eq(be->pool_idle_timeout_ms, 15000);
	cr_assert_eq(be->pool_max_lifetime_ms, 120000);
	cr_assert_eq(be->pool_max_requests, 500);
	cr_assert_eq(be->servers[0].maxconn, 500);
	cr_assert_eq(be->servers[0].weight, 2);
	cr_assert(be->servers[0].check);
	cr_assert_str_eq(addr_str(&be->servers[0].check_addr), "10.0.1.10:8000");
	cr_assert_eq(be->servers[1].maxconn, 1000000);
	cr_assert_eq(be->servers[2].maxconn, 0);

	load_ok(HFE "forwardfor = on\n" HBE);
	cr_assert_not(conf->frontends[0].forwardfor_off);
	load_ok(HFE "path_normalize = off\n" HBE);
	cr_assert(conf->frontends[0].path_normalize_off);
	load_ok(HFE "path_normalize = on\n" HBE);
	cr_assert_not(conf->frontends[0].path_normalize_off);
}

Test(conf, leaves_limits_and_pool_settings_at_zero_when_absent)
{
	const struct sl_frontend_conf *fe;
	const struct sl_backend_conf *be;

	load_ok(HFE HBE);
	fe = &conf->frontends[0];
	cr_assert_eq(fe->maxconn_per_source, 0);
	cr_assert_eq(fe->keepalive_requests, 0);
	cr_assert_not(fe->forwardfor_off);
	cr_assert_not(fe->path_normalize_off);
	cr_assert_eq(fe->max_header_size, 0);
	cr_assert_eq(fe->max_headers, 0);
	cr_assert_eq(fe->nroutes, 0);
	cr_assert_null(fe->routes);
	be = &conf->backends[0];
	cr_assert_eq(be->pool_max_idle, 0);
	cr_assert_not(be->pool_max_idle_set);
	cr_assert_eq(be->pool_idle_timeout_ms, 0);
	cr_assert_eq(be->pool_max_lifetime_ms, 0);
	cr_assert_eq(be->pool_max_requests, 0);
	cr_assert_eq(be->servers[0].maxconn, 0);
}

Test(conf, pool_max_idle_auto_is_the_default_and_a_setting)
{
	load_ok(HFE HBE "pool_max_idle = auto\npool_purge_interval = 250ms\n");
	cr_assert_not(conf->backends[0].pool_max_idle_set);
	cr_assert_eq(conf->backends[0].pool_max_idle, 0);
	cr_assert_eq(conf->backends[0].pool_purge_interval_ms, 250);
	load_ok(HFE HBE);
	cr_assert_eq(conf->backends[0].pool_purge_interval_ms, 0); /* 5s */
	expect_error(HFE HBE "pool_max_idle = -1\n", "x.ini:8: key 'pool_max_idle': ",
		     "expected auto or a number from 0 to 100000, got '-1'");
	expect_error(HFE HBE "pool_purge_interval = 1ms\n", "x.ini:8: key 'pool_purge_interval': ",
		     "");
	expect_error(HFE HBE "pool_purge_interval = 2d\n", "x.ini:8: key 'pool_purge_interval': ",
		     "");
}

Test(conf, accepts_pool_max_idle_zero_as_a_setting)
{
	load_ok(HFE HBE "pool_max_idle = 0\n");
	cr_assert_eq(conf->backends[0].pool_max_idle, 0);
	cr_assert(conf->backends[0].pool_max_idle_set);
	load_ok(HFE HBE "pool_max_idle = 100000\npool_max_requests = 100000000\n");
	cr_assert_eq(conf->backends[0].pool_max_idle, 100000);
	cr_assert_eq(conf->backends[0].pool_max_requests, 100000000);
}

Test(conf, accepts_limit_bounds)
{
	load_ok(HFE "maxconn_per_source = 10000000\nkeepalive_requests = 100000000\n"
		"max_headers = 1000\nmax_header_size = 1048576\n" HBE);
	cr_assert_eq(conf->frontends[0].maxconn_per_source, 10000000);
	cr_assert_eq(conf->frontends[0].keepalive_requests, 100000000);
	cr_assert_eq(conf->frontends[0].max_headers, 1000);
	cr_assert_eq(conf->frontends[0].max_header_size, 1048576);
	load_ok(HFE "maxconn_per_source = 1\nkeepalive_requests = 1\nmax_headers = 1\n"
		"max_header_size = 1K\n" HBE "pool_max_requests = 1\npool_idle_timeout = 1\n"
		"pool_max_lifetime = 1ms\nserver = s2 127.0.0.1:9001 maxconn=1\n");
	cr_assert_eq(conf->frontends[0].max_header_size, 1024);
	cr_assert_eq(conf->backends[0].pool_idle_timeout_ms, 1);
	cr_assert_eq(conf->backends[0].servers[1].maxconn, 1);
}

Test(conf, accepts_maxconn_per_source_in_a_tcp_frontend)
{
	load_ok(FE "maxconn_per_source = 20\n" BE);
	cr_assert_eq(conf->frontends[0].maxconn_per_source, 20);
}

Test(conf, rejects_bad_limit_and_pool_values_with_file_line_and_key)
{
	static const struct {
		const char *line, *needle;
	} bad[] = {
		{ "maxconn_per_source = 0", "expected a number from 1 to 10000000, got '0'" },
		{ "maxconn_per_source = 10000001", "got '10000001'" },
		{ "maxconn_per_source = 1k", "got '1k'" },
		{ "keepalive_requests = 0", "expected a number from 1 to 100000000, got '0'" },
		{ "keepalive_requests = 100000001", "got '100000001'" },
		{ "keepalive_requests = -1", "got '-1'" },
		{ "forwardfor = yes", "expected on or off, got 'yes'" },
		{ "forwardfor = OFF", "got 'OFF'" },
		{ "forwardfor =", "got ''" },
		{ "path_normalize = yes", "expected on or off, got 'yes'" },
		{ "path_normalize = 1", "got '1'" },
		{ "max_header_size = 1023", "expected a size in bytes from 1024 to 1048576, or in "
					    "KiB from 1k to 1024k, got '1023'" },
		{ "max_header_size = 1048577", "got '1048577'" },
		{ "max_header_size = 1025k", "got '1025k'" },
		{ "max_header_size = 0k", "got '0k'" },
		{ "max_header_size = 1m", "got '1m'" },
		{ "max_header_size = 16kb", "got '16kb'" },
		{ "max_header_size = 16 k", "got '16 k'" },
		{ "max_header_size = k", "got 'k'" },
		{ "max_header_size = 99999999999999999999k", "got '99999999999999999999k'" },
		{ "max_headers = 0", "expected a number from 1 to 1000, got '0'" },
		{ "max_headers = 1001", "got '1001'" },
		{ "pool_max_idle = 100001", "expected auto or a number from 0 to 100000, got '100001'" },
		{ "pool_max_idle = -1", "got '-1'" },
		{ "pool_max_idle = many", "got 'many'" },
		{ "pool_idle_timeout = 0", "expected a duration from 1ms to 24h like 500ms, 5s, "
					   "2m, 1h, 1d, got '0'" },
		{ "pool_idle_timeout = 25h", "got '25h'" },
		{ "pool_idle_timeout = 5x", "got '5x'" },
		{ "pool_max_lifetime = 0s", "expected a duration from 1ms to 7d" },
		{ "pool_max_lifetime = 8d", "got '8d'" },
		{ "pool_max_requests = 0", "expected a number from 1 to 100000000, got '0'" },
		{ "pool_max_requests = 100000001", "got '100000001'" },
	};
	char text[512], prefix[80];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool be_key = strncmp(bad[i].line, "pool_", 5) == 0;

		/* frontend keys are line 5, backend keys line 8 */
		snprintf(text, sizeof(text), be_key ? HFE HBE "%s\n" : HFE "%s\n" HBE, bad[i].line);
		snprintf(prefix, sizeof(prefix), "x.ini:%d: key '%.*s': ", be_key ? 8 : 5,
			 (int)strcspn(bad[i].line, " "), bad[i].line);
		expect_error(text, prefix, bad[i].needle);
	}
}

Test(conf, rejects_bad_server_maxconn)
{
	static const struct {
		const char *opts, *needle;
	} bad[] = {
		{ "maxconn=0", "option maxconn= expects a number from 1 to 1000000, got 'maxconn=0'" },
		{ "maxconn=1000001", "got 'maxconn=1000001'" },
		{ "maxconn=", "got 'maxconn='" },
		{ "maxconn=5k", "got 'maxconn=5k'" },
		{ "maxconn=5 maxconn=6", "option 'maxconn=6' given twice" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "server = s2 127.0.0.1:9001 %s\n", bad[i].opts);
		expect_error(text, "x.ini:6: key 'server': ", bad[i].needle);
	}
}

Test(conf, rejects_limit_and_pool_keys_given_twice)
{
	static const char *const fe_keys[] = {
		"maxconn_per_source = 1", "keepalive_requests = 1", "forwardfor = on",
		"max_header_size = 2k", "max_headers = 9", "path_normalize = off",
	};
	static const char *const be_keys[] = {
		"pool_max_idle = 0", "pool_idle_timeout = 1s", "pool_max_lifetime = 1s",
		"pool_max_requests = 1",
	};
	char text[512], prefix[80];

	for (size_t i = 0; i < sizeof(fe_keys) / sizeof(fe_keys[0]); i++) {
		snprintf(text, sizeof(text), HFE "%s\n%s\n" HBE, fe_keys[i], fe_keys[i]);
		snprintf(prefix, sizeof(prefix), "x.ini:6: key '%.*s': ",
			 (int)strcspn(fe_keys[i], " "), fe_keys[i]);
		expect_error(text, prefix, "given twice in [frontend web] (first at line 5)");
	}
	for (size_t i = 0; i < sizeof(be_keys) / sizeof(be_keys[0]); i++) {
		snprintf(text, sizeof(text), HFE HBE "%s\n%s\n", be_keys[i], be_keys[i]);
		snprintf(prefix, sizeof(prefix), "x.ini:9: key '%.*s': ",
			 (int)strcspn(be_keys[i], " "), be_keys[i]);
		expect_error(text, prefix, "given twice in [backend app] (first at line 8)");
	}
}

Test(conf, rejects_http_only_keys_in_a_tcp_frontend_at_their_line)
{
	static const char *const keys[] = {
		"keepalive_requests = 10", "forwardfor = off", "max_header_size = 8k",
		"max_headers = 20", "path_normalize = off",
	};
	char text[512], prefix[80];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(prefix, sizeof(prefix), "x.ini:4: key '%.*s': ",
			 (int)strcspn(keys[i], " "), keys[i]);
		/* tcp by default */
		snprintf(text, sizeof(text), FE "%s\n" BE, keys[i]);
		expect_error(text, prefix, "only for mode http frontends; [frontend web] has "
			     "mode tcp (expected mode = http)");
		/* or given after the key */
		snprintf(text, sizeof(text), FE "%s\nmode = tcp\n" BE, keys[i]);
		expect_error(text, prefix, "only for mode http frontends");
		/* mode = http after the key is fine */
		snprintf(text, sizeof(text), FE "%s\nmode = http\n" HBE, keys[i]);
		load_ok(text);
	}
	/* the first such key is reported, whatever the order of the checks */
	expect_error(FE "max_headers = 5\nkeepalive_requests = 5\n" BE,
		     "x.ini:4: key 'max_headers': ", "only for mode http frontends");
	/* reported when its section ends, before later sections are read */
	expect_error(FE "forwardfor = on\n" BE "[frontend x]\nbind = :1\nbackend = nope\n",
		     "x.ini:4: key 'forwardfor': ", "only for mode http");
}

Test(conf, rejects_pool_keys_outside_http_keep_alive_backends_at_their_line)
{
	static const char *const keys[] = {
		"pool_max_idle = 4", "pool_idle_timeout = 5s", "pool_max_lifetime = 1m",
		"pool_max_requests = 100",
	};
	char text[512], prefix[80];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(prefix, sizeof(prefix), "x.ini:6: key '%.*s': ",
			 (int)strcspn(keys[i], " "), keys[i]);
		/* a tcp backend (the default mode) */
		snprintf(text, sizeof(text), MINIMAL "%s\n", keys[i]);
		expect_error(text, prefix, "only for mode http-keep-alive backends; [backend app] "
			     "has mode tcp (expected mode = http-keep-alive)");
		/* an http-server-close backend, mode given after the key */
		snprintf(text, sizeof(text), HFE "[backend app]\nserver = s1 127.0.0.1:9000\n%s\n"
			 "mode = http-server-close\n", keys[i]);
		snprintf(prefix, sizeof(prefix), "x.ini:7: key '%.*s': ",
			 (int)strcspn(keys[i], " "), keys[i]);
		expect_error(text, prefix, "has mode http-server-close");
		/* http-keep-alive given after the key is fine */
		snprintf(text, sizeof(text), HFE "[backend app]\nserver = s1 127.0.0.1:9000\n%s\n"
			 "mode = http-keep-alive\n", keys[i]);
		load_ok(text);
	}
	expect_error(MINIMAL "pool_max_requests = 5\npool_max_idle = 0\n",
		     "x.ini:6: key 'pool_max_requests': ", "only for mode http-keep-alive");
}

Test(conf, loads_routes_in_order_with_resolved_backends)
{
	const struct sl_frontend_conf *fe;

	load_ok(HFE                                                      /* 1-4 */
		"route = host Example.COM backend api\n"                  /* 5 */
		"route = path_prefix /static/ backend files\n"
		"route =   host\t[2001:DB8::1]   backend  files\n"
		"route = host 10.0.0.1 backend app\n"
		"route = path_prefix / backend api\n"                     /* 9 */
		"route = host www.example.com. backend app\n"
		"route = path_prefix /Static/A%20b?x=1 backend files\n"
		HBE                                                       /* 12-14 */
		"[backend files]\nmode = http-server-close\nserver = f 127.0.0.1:9001\n"
		"[backend api]\nmode = http-keep-alive\nserver = a 127.0.0.1:9002\n"
		"[frontend other]\nbind = :8081\nmode = http\nbackend = files\n"  /* 21-24 */
		"route = path_prefix /x backend app\n");
	fe = &conf->frontends[0];
	cr_assert_eq(fe->backend, 0);
	cr_assert_eq(fe->nroutes, 7);
	cr_assert_eq(fe->routes[0].kind, SL_ROUTE_HOST);
	cr_assert_str_eq(fe->routes[0].match, "example.com");
	cr_assert_str_eq(fe->routes[0].backend_name, "api");
	cr_assert_eq(fe->routes[0].backend, 2);
	cr_assert_eq(fe->routes[0].line, 5);
	cr_assert_eq(fe->routes[1].kind, SL_ROUTE_PATH_PREFIX);
	cr_assert_str_eq(fe->routes[1].match, "/static/");
	cr_assert_eq(fe->routes[1].backend, 1);
	cr_assert_eq(fe->routes[1].line, 6);
	cr_assert_eq(fe->routes[2].kind, SL_ROUTE_HOST);
	cr_assert_str_eq(fe->routes[2].match, "[2001:db8::1]");
	cr_assert_eq(fe->routes[2].backend, 1);
	cr_assert_str_eq(fe->routes[3].match, "10.0.0.1");
	cr_assert_eq(fe->routes[3].backend, 0);
	cr_assert_str_eq(fe->routes[4].match, "/");
	cr_assert_eq(fe->routes[4].backend, 2);
	cr_assert_eq(fe->routes[4].line, 9);
	cr_assert_str_eq(fe->routes[5].match, "www.example.com.");
	/* a path keeps its case */
	cr_assert_str_eq(fe->routes[6].match, "/Static/A%20b?x=1");
	cr_assert_eq(fe->routes[6].backend, 1);

	fe = &conf->frontends[1];
	cr_assert_eq(fe->backend, 1);
	cr_assert_eq(fe->nroutes, 1);
	cr_assert_eq(fe->routes[0].backend, 0);
	cr_assert_eq(fe->routes[0].line, 25);
}

Test(conf, accepts_routes_before_mode_and_many_routes)
{
	char text[8192];
	int n;

	n = snprintf(text, sizeof(text), "[frontend web]\nbind = :8080\nbackend = app\n");
	for (int i = 0; i < 100; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "route = path_prefix /p%d backend app\n", i);
	snprintf(text + n, sizeof(text) - (size_t)n, "mode = http\n" HBE);
	load_ok(text);
	cr_assert_eq(conf->frontends[0].nroutes, 100);
	cr_assert_str_eq(conf->frontends[0].routes[99].match, "/p99");
	cr_assert_eq(conf->frontends[0].routes[99].line, 103);
}

Test(conf, rejects_malformed_routes_with_file_line_and_key)
{
	static const struct {
		const char *value, *needle;
	} bad[] = {
		{ "", "(unknown match kind; expected host or path_prefix), got ''" },
		{ "hostname a.com backend app", "unknown match kind" },
		{ "Host a.com backend app", "unknown match kind" },
		{ "path a.com backend app", "unknown match kind" },
		{ "host", "(missing host name)" },
		{ "path_prefix", "(missing path prefix)" },
		{ "host a.com", "expected the word 'backend' after the match" },
		{ "host a.com app", "expected the word 'backend'" },
		{ "host a.com to app", "expected the word 'backend'" },
		{ "host a.com Backend app", "expected the word 'backend'" },
		{ "path_prefix /a b backend app", "expected the word 'backend'" },
		{ "host a.com backend", "expected exactly one backend name after 'backend'" },
		{ "host a.com backend app extra", "exactly one backend name" },
		{ "host a.com backend bad!", "a backend name is 1 to 63 characters" },
		{ "host a.com:80 backend app", "(a host takes no port)" },
		{ "host [::1]:80 backend app", "(a host takes no port)" },
		{ "host ::1 backend app", "an IPv6 address needs brackets, as in [::1]" },
		{ "host [zz::1] backend app", "expected an IPv6 address inside [ ]" },
		{ "host [1.2.3.4] backend app", "expected an IPv6 address inside [ ]" },
		{ "host [::1 backend app", "expected an IPv6 address inside [ ]" },
		{ "host [::1]x backend app", "expected an IPv6 address inside [ ]" },
		{ "host [] backend app", "expected an IPv6 address inside [ ]" },
		{ "host a_b.com backend app", "invalid character in host name" },
		{ "host a/b backend app", "invalid character in host name" },
		{ "host *.example.com backend app", "invalid character in host name" },
		{ "host a..b backend app", "empty label in host name" },
		{ "host .a backend app", "empty label in host name" },
		{ "path_prefix static/ backend app", "the path prefix must start with '/'" },
		{ "path_prefix * backend app", "must start with '/'" },
		{ "path_prefix /caf\xc3\xa9 backend app", "invalid character in the path prefix" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), HFE "route = %s\n" HBE, bad[i].value);
		expect_error(text, "x.ini:5: key 'route': expected host NAME backend B or "
			     "path_prefix /PATH backend B (", bad[i].needle);
	}
}

/* Lines stop at 198 characters (inih's buffer) before matches reach the
 * 255 that sl_route_conf holds, so the parser's own limits are tested alone. */
Test(conf, rejects_route_matches_over_255_characters)
{
	struct sl_route_conf rt = { 0 };
	char value[400], match[300];
	const char *why;

	memset(match, 'a', 256);
	match[256] = '\0';
	snprintf(value, sizeof(value), "host %s backend app", match);
	cr_assert_eq(sl_conf_parse_route(value, &rt, &why), -EINVAL);
	cr_assert_str_eq(why, "host longer than 255 characters");
	match[0] = '/';
	snprintf(value, sizeof(value), "path_prefix %s backend app", match);
	cr_assert_eq(sl_conf_parse_route(value, &rt, &why), -EINVAL);
	cr_assert_str_eq(why, "path prefix longer than 255 characters");
	match[255] = '\0';
	snprintf(value, sizeof(value), "path_prefix %s backend app", match);
	cr_assert_eq(sl_conf_parse_route(value, &rt, &why), 0);
	cr_assert_eq(strlen(rt.match), 255);
	match[0] = 'a';
	snprintf(value, sizeof(value), "host %s backend app", match);
	cr_assert_eq(sl_conf_parse_route(value, &rt, &why), 0);
	cr_assert_eq(strlen(rt.match), 255);
	/* in a file, the line limit comes first */
	snprintf(value, sizeof(value), HFE "route = host %s backend app\n" HBE, match + 50);
	expect_error(value, "x.ini:5: line too long", "198");
}

Test(conf, rejects_the_same_route_match_twice)
{
	expect_error(HFE "route = host a.com backend app\nroute = path_prefix /a backend app\n"
		     "route = host A.COM backend app\n" HBE, "x.ini:7: key 'route': ",
		     "host 'a.com' is already routed at line 5");
	expect_error(HFE "route = path_prefix /a backend app\nroute = path_prefix /a backend x\n"
		     HBE, "x.ini:6: key 'route': ", "path_prefix '/a' is already routed at line 5");
	/* the same text as a host and as a path is two different routes */
	load_ok(HFE "route = path_prefix /a backend app\nroute = path_prefix /A backend app\n"
		HBE);
	cr_assert_eq(conf->frontends[0].nroutes, 2);
}

Test(conf, rejects_a_route_to_a_missing_backend_at_its_line)
{
	expect_error(HFE "route = host a.com backend app\nroute = host b.com backend nope\n" HBE,
		     "x.ini:6: key 'route': ", "expected the name of a [backend NAME] section, "
		     "got 'nope' (no such backend)");
}

Test(conf, rejects_a_route_to_a_tcp_backend_at_its_line)
{
	expect_error(HFE "route = path_prefix /db backend pg\n" HBE
		     "[backend pg]\nserver = p 127.0.0.1:5432\n",
		     "x.ini:5: key 'route': ", "frontend 'web' has mode http, so expected an "
		     "http-server-close or http-keep-alive backend, got 'pg' with mode tcp (line 9)");
}

Test(conf, rejects_route_in_a_tcp_frontend)
{
	expect_error(FE "route = host a.com backend app\n" BE, "x.ini:4: key 'route': ",
		     "route needs mode http; [frontend web] has mode tcp (expected mode = http)");
	expect_error("[frontend web]\nbind = :8080\nbackend = app\nroute = host a backend app\n"
		     "mode = tcp\n" BE, "x.ini:4: key 'route': ", "route needs mode http");
	/* the earliest of route and the other http keys is reported */
	expect_error(FE "max_headers = 5\nroute = host a backend app\n" BE,
		     "x.ini:4: key 'max_headers': ", "only for mode http frontends");
	expect_error(FE "route = host a backend app\nmax_headers = 5\n" BE,
		     "x.ini:4: key 'route': ", "route needs mode http");
}

Test(conf, frees_routes_on_late_errors)
{
	/* Run under LSan: routes built before the error must be freed. */
	expect_error(HFE "route = host a.com backend app\nroute = host b.com backend app\n"
		     "route = host c.com backend app\n" HBE "[frontend x]\nbind = :1\n"
		     "mode = http\nbackend = app\nroute = path_prefix / backend nope\n",
		     "x.ini:15: key 'route': ", "got 'nope'");
}

Test(conf, parses_sizes_in_bytes_and_kib)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 }, { "1024", 1024 }, { "1k", 1024 }, { "1K", 1024 }, { "16k", 16384 },
		{ "007k", 7168 }, { "1048576", 1048576 },
	};
	static const char *const bad[] = {
		"", "k", "-1", "1kb", "1 k", "1M", "1.5k", " 1", "1k ", "18014398509481984k",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 42;

		cr_assert_eq(sl_conf_parse_size(ok[i].s, 0, UINT64_MAX, &v), 0, "%s", ok[i].s);
		cr_assert_eq(v, ok[i].v, "%s", ok[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 42;

		cr_assert_eq(sl_conf_parse_size(bad[i], 0, UINT64_MAX, &v), -EINVAL, "'%s'", bad[i]);
		cr_assert_eq(v, 42, "'%s' wrote a value", bad[i]);
	}
	{
		uint64_t v = 42;

		cr_assert_eq(sl_conf_parse_size("2k", 1, 2047, &v), -EINVAL);
		cr_assert_eq(sl_conf_parse_size("2k", 2048, 2048, &v), 0);
		cr_assert_eq(v, 2048);
	}
}

Test(conf, parses_route_values)
{
	struct sl_route_conf rt = { .backend = 7, .line = 3 };
	const char *why;

	cr_assert_eq(sl_conf_parse_route("host API.Example.com backend b1", &rt, &why), 0);
	cr_assert_eq(rt.kind, SL_ROUTE_HOST);
	cr_assert_str_eq(rt.match, "api.example.com");
	cr_assert_str_eq(rt.backend_name, "b1");
	cr_assert_eq(rt.backend, 7, "untouched");
	cr_assert_eq(rt.line, 3, "untouched");
	cr_assert_str_empty(why);
	cr_assert_eq(sl_conf_parse_route("path_prefix /API backend b2", &rt, &why), 0);
	cr_assert_eq(rt.kind, SL_ROUTE_PATH_PREFIX);
	cr_assert_str_eq(rt.match, "/API");
	cr_assert_str_eq(rt.backend_name, "b2");
	cr_assert_eq(sl_conf_parse_route("host [::FFFF:1.2.3.4] backend b", &rt, &why), 0);
	cr_assert_str_eq(rt.match, "[::ffff:1.2.3.4]");
	cr_assert_eq(sl_conf_parse_route("host a.com backend b c", &rt, &why), -EINVAL);
	cr_assert_str_eq(why, "expected exactly one backend name after 'backend'");
	cr_assert_str_eq(rt.match, "[::ffff:1.2.3.4]", "untouched on error");
}

Test(conf, log_format_takes_text_or_json)
{
	struct sl_config *c = NULL;

	cr_assert_eq(sl_conf_load_string("x.ini", "[global]\nlog_format = json\n"
					 "[frontend f]\nbind = :8080\nbackend = b\n"
					 "[backend b]\nserver = s 127.0.0.1:9000\n", &c, err,
					 sizeof(err)), 0, "%s", err);
	cr_assert(c->log_json);
	sl_conf_free(c);
	cr_assert_lt(sl_conf_load_string("x.ini", "[global]\nlog_format = xml\n", &c, err,
					 sizeof(err)), 0);
	cr_assert(strstr(err, "x.ini:2: key 'log_format': expected text or json"), "%s", err);
}

/* ---- issue 17: PROXY protocol, timeout_tunnel, request_id ---- */

Test(conf, reads_accept_proxy_send_proxy_and_request_id)
{
	load_ok("[frontend web]\nmode = http\nbind = :8080 accept_proxy\n"
		"bind = :8443 accept_proxy ssl crt=/x.pem\nbind = :8081\n"
		"request_id = X-Request-ID\nbackend = app\n"
		"[backend app]\nmode = http-keep-alive\nserver = a 127.0.0.1:9000 send_proxy\n"
		"server = b 127.0.0.1:9001 weight=2 send_proxy_v2 check\n"
		"server = c 127.0.0.1:9002\n");
	cr_assert(conf->frontends[0].binds[0].accept_proxy);
	cr_assert(conf->frontends[0].binds[1].accept_proxy);
	cr_assert(conf->frontends[0].binds[1].ssl);
	cr_assert_not(conf->frontends[0].binds[2].accept_proxy);
	cr_assert_str_eq(conf->frontends[0].request_id, "X-Request-ID");
	cr_assert_eq(conf->backends[0].servers[0].send_proxy, 1);
	cr_assert_eq(conf->backends[0].servers[1].send_proxy, 2);
	cr_assert_eq(conf->backends[0].servers[2].send_proxy, 0);
}

Test(conf, rejects_bad_proxy_and_request_id_settings)
{
	expect_error("[frontend web]\nbackend = app\nbind = :81 accept_proxy accept_proxy\n" BE,
		     "x.ini:3: key 'bind': ", "given twice");
	expect_error(MINIMAL "server = s2 127.0.0.1:9001 send_proxy send_proxy_v2\n",
		     "x.ini:6: key 'server': ", "given twice");
	expect_error(MINIMAL "server = s2 127.0.0.1:9001 send_proxy_v3\n",
		     "x.ini:6: key 'server': ", "unknown option 'send_proxy_v3'");
	expect_error("[frontend web]\nmode = http\nbind = :80\nrequest_id = X Id\nbackend = app\n" BE,
		     "x.ini:4: key 'request_id': ", "a header name");
	expect_error("[frontend web]\nmode = http\nbind = :80\nrequest_id = X-Id:\nbackend = app\n"
		     BE, "x.ini:4: key 'request_id': ", "a header name");
	expect_error("[frontend web]\nbind = :80\nrequest_id = X-Id\nbackend = app\n" BE,
		     "x.ini:3: key 'request_id': ", "only for mode http");
}

Test(conf, timeout_tunnel_is_a_timeout_like_the_others)
{
	load_ok("[defaults]\ntimeout_tunnel = 2m\n" FE "timeout_tunnel = 5s\n"
		"[backend app]\nserver = s1 127.0.0.1:9000\ntimeout_tunnel = 1h\n");
	cr_assert_eq(conf->defaults.ms[SL_TO_TUNNEL], 120000);
	cr_assert_eq(conf->frontends[0].timeouts.ms[SL_TO_TUNNEL], 5000);
	cr_assert_eq(conf->backends[0].timeouts.ms[SL_TO_TUNNEL], 3600000);
	expect_error("[defaults]\ntimeout_tunnel = 0\n" MINIMAL, "x.ini:2: ", "timeout_tunnel");
}

Test(conf, loads_and_checks_the_h2_keys)
{
	const struct sl_frontend_conf *fe;

	load_ok(HFE "h2 = off\nh2_max_concurrent_streams = 250\nh2_initial_window_size = 256k\n"
		"h2_connection_window_size = 4096k\n" HBE);
	fe = &conf->frontends[0];
	cr_assert(fe->h2_off);
	cr_assert_eq(fe->h2_max_streams, 250);
	cr_assert_eq(fe->h2_window, 256 * 1024);
	cr_assert_eq(fe->h2_conn_window, 4096 * 1024);
	expect_error(HFE "h2 = maybe\n" HBE, "x.ini:5: key 'h2': ", "on or off");
	expect_error(HFE "h2_max_concurrent_streams = 0\n" HBE,
		     "x.ini:5: key 'h2_max_concurrent_streams': ", "");
	expect_error(HFE "h2_initial_window_size = 32m\n" HBE,
		     "x.ini:5: key 'h2_initial_window_size': ", "1k to 16384k");
	expect_error(FE "h2 = on\n" BE, "x.ini:4: key 'h2': ", "");
}

Test(conf, loads_and_checks_lingering_close)
{
	load_ok(HFE HBE);
	cr_assert(!conf->frontends[0].linger_on, "the default is always");
	load_ok(HFE "lingering_close = on\n" HBE);
	cr_assert(conf->frontends[0].linger_on);
	load_ok(HFE "lingering_close = always\n" HBE);
	cr_assert(!conf->frontends[0].linger_on);
	expect_error(HFE "lingering_close = off\n" HBE, "x.ini:5: key 'lingering_close': ",
		     "always or on");
	expect_error(FE "lingering_close = on\n" BE, "x.ini:4: key 'lingering_close': ", "");
}
