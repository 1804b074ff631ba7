/*
 * pool_max_idle = auto through the real binary: after a burst of N > 64
 * requests in flight at once, a server's idle list keeps all N connections
 * (the most that were busy at once), then, with no traffic at all, the
 * purge closes the surplus by halves every pool_purge_interval (counted in
 * sluice_server_pool_purged_total, the origin sees them close) while
 * pool_idle_timeout is far away; a fixed pool_max_idle still caps the list
 * and is never purged; idle auto connections plus busy server slots stay
 * within the worker's share of maxconn, another backend's burst closing
 * the longest idle ones; `auto` and bad values of both keys are checked by
 * `sluice -c` with file:line. The origin holds each request 1 s so that
 * the burst's requests overlap. The proxy's fds return to baseline and the
 * fd audit balances after each test.
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
#include "tests/integration/limits_util.h"

TestSuite(pool_auto, .init = h_setup, .fini = lu_teardown, .timeout = 90);

#define BURST 120

static struct lu_origin *slow_origin(void)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .delay_ms = 1000 };

	return lu_origin_start(&oo);
}

static struct h_proxy *proxy(struct lu_conf *c, struct lu_origin *o)
{
	c->fe_mode = "http";
	c->be_mode = "http-keep-alive";
	c->nservers = 1;
	c->server_port[0] = lu_origin_port(o);
	return lu_proxy_start(c);
}

/* One series of /metrics for server s1 of backend be. */
static double metric_of(const struct h_proxy *p, const char *name, const char *be)
{
	char series[256], *body = NULL;
	double v = -1;
	int st = h_http_get(p->stats_port, "/metrics", &body, NULL, hu_io_to());

	cr_assert_eq(st, 200, "GET /metrics: %d", st);
	snprintf(series, sizeof(series), "%s{backend=\"%s\",server=\"s1\"}", name, be);
	cr_assert(h_metric(body, series, &v), "/metrics has no %s", series);
	free(body);
	return v;
}

/* An unlabelled series of /metrics, e.g. "sluice_process_direct_fds". */
static double metric_plain(const struct h_proxy *p, const char *name)
{
	char *body = NULL;
	double v = -1;
	int st = h_http_get(p->stats_port, "/metrics", &body, NULL, hu_io_to());

	cr_assert_eq(st, 200, "GET /metrics: %d", st);
	cr_assert(h_metric(body, name, &v), "/metrics has no %s", name);
	free(body);
	return v;
}

/* The same for backend b (lu_conf's), e.g.
 * "sluice_server_pool_idle_connections". */
static double metric(const struct h_proxy *p, const char *name)
{
	return metric_of(p, name, "b");
}

static double idle_now(const struct h_proxy *p)
{
	return metric(p, "sluice_server_pool_idle_connections");
}

/* n clients send one request for path/i each before any answer comes: n
 * requests in flight at once (the origin holds each 1 s); every one gets
 * its 200. */
static void burst_to(struct h_proxy *p, int n, const char *path)
{
	struct hu_cli *c = calloc((size_t)n, sizeof(*c));
	char req[128];

	cr_assert(c);
	for (int i = 0; i < n; i++) {
		hu_cli_open(&c[i], p->port);
		snprintf(req, sizeof(req), "GET %s/%d HTTP/1.1\r\nHost: x\r\n\r\n", path, i);
		cr_assert_eq(hu_cli_send(&c[i], req), 0);
	}
	for (int i = 0; i < n; i++) {
		struct hu_rsp r;
		int rc = hu_read_rsp(&c[i], &r, false, hu_io_to());

		cr_assert_eq(rc, 0, "client %d: %s", i, strerror(-rc));
		cr_assert_eq(r.status, 200, "client %d: %s", i, r.head);
	}
	for (int i = 0; i < n; i++)
		hu_cli_close(&c[i]);
	free(c);
}

static void burst(struct h_proxy *p, int n)
{
	burst_to(p, n, "/b");
}

Test(pool_auto, keeps_a_burst_then_purges_the_surplus_by_halves)
{
	struct lu_origin *o = slow_origin();
	/* the idle timeout is far: only the purge can shrink the pool here */
	struct lu_conf c = { .pool_idle_timeout = "60s", .extra = "pool_purge_interval = 1s\n" };
	struct h_proxy *p = proxy(&c, o);
	int acc, seen_mid = 0;
	uint64_t t0;
	double idle, last, direct;

	burst(p, BURST);
	acc = lu_origin_accepted(o);
	cr_assert(acc >= 100, "%d connections for %d requests (%d in flight at most)", acc, BURST,
		  lu_origin_max_inflight(o));
	/* well over the former fixed default of 64: every connection of the
	 * burst stays (none was opened while as many were not busy, and the
	 * first purge after it sees the burst's peak) */
	idle = idle_now(p);
	cr_assert_eq(idle, acc, "%.0f idle after %d connections", idle, acc);
	cr_assert_eq(lu_origin_active(o), (int)idle, "origin has %d open, proxy %.0f idle",
		     lu_origin_active(o), idle);
	/* each idle connection holds a socket: a process fd, or a direct
	 * descriptor of the ring (server_sockets = direct, the default) */
	direct = metric_plain(p, "sluice_process_direct_fds");
	cr_assert(h_proxy_fd_count(p) + direct >= p->fd_baseline + acc,
		  "%d fds + %.0f direct descriptors, baseline %d + %d idle", h_proxy_fd_count(p),
		  direct, p->fd_baseline, acc);
	cr_assert_eq(metric(p, "sluice_server_pool_purged_total"), 0);
	/* no traffic now: by halves, not all at once, down to none */
	t0 = h_now_ms();
	last = idle;
	while ((idle = idle_now(p)) > 0 && h_now_ms() - t0 < 20000u * (unsigned)h_slow()) {
		cr_assert(idle <= last, "idle went up from %.0f to %.0f", last, idle);
		if (idle > 5 && idle < acc * 0.75)
			seen_mid++;
		last = idle;
		usleep(100 * 1000);
	}
	cr_assert_eq(idle, 0, "%.0f idle connections left after 20 s of purges", idle);
	cr_assert(h_now_ms() - t0 >= 2500, "emptied in %llu ms: not by halves every 1 s",
		  (unsigned long long)(h_now_ms() - t0));
	cr_assert(seen_mid > 0, "never saw the pool part way down");
	cr_assert_eq(metric(p, "sluice_server_pool_purged_total"), acc, "purged %.0f of %d",
		     metric(p, "sluice_server_pool_purged_total"), acc);
	cr_assert(lu_origin_wait_active_le(o, 0, 3000 * h_slow()), "origin still has %d open",
		  lu_origin_active(o));
	h_proxy_finish(p); /* fds back at the baseline taken before the burst, audit */
}

/* Demand that continues at a lower level keeps what it uses: one client in
 * turn after the burst keeps a connection or two, the rest are purged. */
Test(pool_auto, shrinks_to_what_continuing_traffic_uses)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .delay_ms = 150 };
	struct lu_origin *o = lu_origin_start(&oo);
	struct lu_conf c = { .pool_idle_timeout = "60s", .extra = "pool_purge_interval = 300ms\n" };
	struct h_proxy *p = proxy(&c, o);
	struct hu_cli cli;
	uint64_t t0;
	double idle;

	burst(p, 80);
	cr_assert(idle_now(p) > 64);
	hu_cli_open(&cli, p->port);
	t0 = h_now_ms();
	do {
		struct hu_rsp r;

		cr_assert_eq(lu_request(&cli, "GET", "/steady", 0, &r), 0);
		cr_assert_eq(r.status, 200);
		idle = idle_now(p);
	} while (idle > 2 && h_now_ms() - t0 < 20000u * (unsigned)h_slow());
	cr_assert(idle <= 2, "%.0f idle with one client in turn", idle);
	cr_assert(metric(p, "sluice_server_pool_purged_total") >= lu_origin_accepted(o) - 2);
	hu_cli_close(&cli);
	/* and with no traffic at all, none */
	t0 = h_now_ms();
	while ((idle = idle_now(p)) > 0 && h_now_ms() - t0 < 10000u * (unsigned)h_slow())
		usleep(100 * 1000);
	cr_assert_eq(idle, 0);
	h_proxy_finish(p);
}

Test(pool_auto, fixed_pool_max_idle_still_caps_and_is_not_purged)
{
	struct lu_origin *o = slow_origin();
	struct lu_conf c = { .pool_max_idle = "10", .pool_idle_timeout = "3s",
			     .extra = "pool_purge_interval = 100ms\n" };
	struct h_proxy *p = proxy(&c, o);

	burst(p, 80);
	cr_assert_eq(idle_now(p), 10);
	cr_assert(lu_origin_wait_active_le(o, 10, 3000 * h_slow()), "origin has %d open",
		  lu_origin_active(o));
	usleep(600 * 1000); /* six purge intervals: nothing purged in a fixed pool */
	cr_assert_eq(idle_now(p), 10);
	cr_assert_eq(metric(p, "sluice_server_pool_purged_total"), 0);
	/* pool_idle_timeout still closes them */
	cr_assert(lu_origin_wait_active_le(o, 0, 6000 * h_slow()), "origin has %d open",
		  lu_origin_active(o));
	cr_assert_eq(idle_now(p), 0);
	h_proxy_finish(p);
}

/* The bound that does not follow demand: idle auto connections plus server
 * slots held stay within the worker's share of maxconn (100 here). Backend
 * a keeps 80 idle after a burst; a burst of 50 to backend b then closes
 * a's longest idle ones to make room instead of exceeding the share. */
Test(pool_auto, idle_plus_busy_stays_within_the_maxconn_share)
{
	struct lu_origin *oa = slow_origin(), *ob = slow_origin();
	char conf[2048];
	int port = h_free_port();
	struct h_proxy *p;
	double ia, ib;

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nmaxconn = 100\nlog = stderr\ngrace = 1s\n"
		 "[defaults]\ntimeout_connect = 1s\ntimeout_client = 10s\n"
		 "timeout_server = 10s\ntimeout_http_keep_alive = 5s\n"
		 "[frontend f]\nbind = 127.0.0.1:%d\nmode = http\nbackend = a\n"
		 "route = path_prefix /b backend b\n"
		 "[backend a]\nmode = http-keep-alive\npool_idle_timeout = 60s\n"
		 "pool_purge_interval = 60s\nserver = s1 127.0.0.1:%d\n"
		 "[backend b]\nmode = http-keep-alive\npool_idle_timeout = 60s\n"
		 "pool_purge_interval = 60s\nserver = s1 127.0.0.1:%d\n",
		 port, lu_origin_port(oa), lu_origin_port(ob));
	p = h_proxy_start_text(conf, port);
	burst_to(p, 80, "/a");
	ia = metric_of(p, "sluice_server_pool_idle_connections", "a");
	cr_assert(ia > 64 && ia <= 80, "%.0f idle in a", ia);
	burst_to(p, 50, "/b");
	cr_assert(lu_origin_max_inflight(ob) > 20, "b's requests did not overlap (%d)",
		  lu_origin_max_inflight(ob));
	ia = metric_of(p, "sluice_server_pool_idle_connections", "a");
	ib = metric_of(p, "sluice_server_pool_idle_connections", "b");
	cr_assert(ia + ib <= 100, "%.0f + %.0f idle over a share of 100", ia, ib);
	cr_assert(ia <= 100 - lu_origin_max_inflight(ob), "%.0f idle in a while %d were busy in b",
		  ia, lu_origin_max_inflight(ob));
	cr_assert(ib > 0);
	/* what a gave up is closed, not lost: the origin sees it */
	cr_assert(lu_origin_wait_active_le(oa, (int)ia, 3000 * h_slow()), "a's origin has %d open, "
		  "%.0f idle", lu_origin_active(oa), ia);
	/* the idle connections stay (60 s): the audit, then a clean stop */
	h_proxy_expect_fd_audit(p);
	h_proxy_stop(p);
}

/* `sluice -c` on a backend with these pool lines: exit status, output. */
static int check(const char *lines, char *out, size_t outsz)
{
	char conf[1024], path[600];
	const char *args[] = { "-c", "-f", path, NULL };
	int st;

	snprintf(conf, sizeof(conf),
		 "[frontend web]\nbind = 127.0.0.1:1\nmode = http\nbackend = app\n"
		 "[backend app]\nmode = http-keep-alive\nserver = s1 127.0.0.1:2\n%s", lines);
	h_write_file("pool.ini", conf, path, sizeof(path));
	st = h_run_sluice(args, out, outsz, 5000 * h_slow());
	cr_assert(st != -1 && WIFEXITED(st), "sluice -c did not exit");
	return WEXITSTATUS(st);
}

Test(pool_auto, config_accepts_auto_and_refuses_bad_values_with_file_line)
{
	char out[4096];

	cr_assert_eq(check("pool_max_idle = auto\npool_purge_interval = 2s\n", out, sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(check("pool_max_idle = 0\n", out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(check("pool_max_idle = many\n", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "pool.ini:8: key 'pool_max_idle': expected auto or a number "
			 "from 0 to 100000, got 'many'"), "%s", out);
	cr_assert_eq(check("pool_max_idle = 100001\n", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "pool.ini:8: key 'pool_max_idle'"), "%s", out);
	cr_assert_eq(check("pool_max_idle = Auto\n", out, sizeof(out)), 1, "%s", out);
	cr_assert_eq(check("pool_purge_interval = 5ms\n", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "pool.ini:8: key 'pool_purge_interval'"), "%s", out);
	cr_assert_eq(check("pool_purge_interval = soon\n", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "pool.ini:8: key 'pool_purge_interval'"), "%s", out);
}
