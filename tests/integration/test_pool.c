/*
 * http-keep-alive server connection pools through the real binary: requests
 * are balanced per request while server connections are reused across
 * requests and clients, bounded by pool_max_idle, pool_max_requests,
 * pool_idle_timeout and pool_max_lifetime; a pooled connection the origin
 * closes leaves the pool at once and is never used; a bodiless GET that
 * meets a reused connection closing under it is retried once on a new one,
 * a POST with a body gets 502. The proxy's fds return to baseline after each
 * test. The origins answer "<tag> <conn> <request n on it> METHOD TARGET".
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"
#include "tests/integration/limits_util.h"

TestSuite(pool, .init = h_setup, .fini = lu_teardown, .timeout = 60);

static struct lu_origin *http_origin(char tag)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = tag };

	return lu_origin_start(&oo);
}

/* An http frontend, an http-keep-alive backend over the given origins. */
static struct h_proxy *ka_proxy(struct lu_conf *c, int n, struct lu_origin **o)
{
	c->fe_mode = "http";
	c->be_mode = "http-keep-alive";
	c->nservers = n;
	for (int i = 0; i < n; i++)
		c->server_port[i] = lu_origin_port(o[i]);
	return lu_proxy_start(c);
}

/* One request on c; asserts a 200 from an origin and returns its answer. */
static struct lu_ans req_ok(struct hu_cli *c, const char *method, const char *path,
			    uint64_t body_len)
{
	struct hu_rsp r;
	struct lu_ans a;
	int rc = lu_request(c, method, path, body_len, &r);

	cr_assert_eq(rc, 0, "%s %s: %s (%zu head bytes: %s)", method, path, strerror(-rc),
		     r.head_len, r.head);
	cr_assert(lu_parse_ans(&r, &a), "%s %s: %s%s", method, path, r.head, r.body);
	return a;
}

struct run {
	int n;       /* requests answered */
	char last;   /* tag of the previous answer */
	int per_tag[2];
};

/* nclients client connections in turn, per_client requests each; answers
 * must alternate between the two origins (roundrobin per request). */
static void run_requests(struct h_proxy *p, int nclients, int per_client, struct run *rn)
{
	char path[64];

	memset(rn, 0, sizeof(*rn));
	for (int i = 0; i < nclients; i++) {
		struct hu_cli c;

		hu_cli_open(&c, p->port);
		for (int j = 0; j < per_client; j++) {
			struct lu_ans a;

			snprintf(path, sizeof(path), "/c%d/r%d", i, j);
			a = req_ok(&c, "GET", path, 0);
			cr_assert(a.tag == 'A' || a.tag == 'B');
			cr_assert(rn->n == 0 || a.tag != rn->last,
				  "request %d went to %c like the one before: not balanced per "
				  "request", rn->n, a.tag);
			rn->last = a.tag;
			rn->per_tag[a.tag - 'A']++;
			rn->n++;
		}
		hu_cli_close(&c);
	}
}

/* Every connection of origin o carried at most max requests; returns the
 * largest count. */
static int max_requests_per_conn(struct lu_origin *o)
{
	int n = lu_origin_accepted(o), max = 0;

	for (int i = 0; i < n; i++) {
		struct lu_conn k = lu_origin_conn(o, i);

		if (k.nreq > max)
			max = k.nreq;
	}
	return max;
}

static void expect_reuse(struct h_proxy *p, struct lu_origin **o, int nclients, int per_client)
{
	struct run rn;

	run_requests(p, nclients, per_client, &rn);
	cr_assert_eq(rn.per_tag[0], nclients * per_client / 2);
	cr_assert_eq(rn.per_tag[1], nclients * per_client / 2);
	for (int i = 0; i < 2; i++) {
		int acc = lu_origin_accepted(o[i]);

		cr_assert(acc >= 1 && acc <= 4,
			  "origin %c accepted %d connections for %d requests (pool_max_idle 4)",
			  'A' + i, acc, rn.per_tag[i]);
		cr_assert_eq(lu_origin_requests(o[i]), rn.per_tag[i]);
	}
	h_proxy_finish(p); /* pooled connections expire after pool_idle_timeout */
}

Test(pool, one_client_1000_requests_reuse_a_handful_of_connections)
{
	struct lu_origin *o[2] = { http_origin('A'), http_origin('B') };
	struct lu_conf c = { .pool_max_idle = "4", .pool_idle_timeout = "300ms" };

	expect_reuse(ka_proxy(&c, 2, o), o, 1, 1000);
}

Test(pool, ten_clients_in_turn_share_pooled_connections)
{
	struct lu_origin *o[2] = { http_origin('A'), http_origin('B') };
	struct lu_conf c = { .pool_max_idle = "4", .pool_idle_timeout = "300ms" };

	expect_reuse(ka_proxy(&c, 2, o), o, 10, 100);
}

Test(pool, max_requests_retires_connections)
{
	struct lu_origin *o[2] = { http_origin('A'), http_origin('B') };
	struct lu_conf c = { .pool_max_idle = "4", .pool_idle_timeout = "300ms",
			     .pool_max_requests = "100" };
	struct h_proxy *p = ka_proxy(&c, 2, o);
	struct run rn;
	int total = 0;

	run_requests(p, 1, 1000, &rn);
	for (int i = 0; i < 2; i++) {
		int acc = lu_origin_accepted(o[i]), max = max_requests_per_conn(o[i]);

		total += acc;
		cr_assert(max <= 100, "an origin %c connection carried %d requests, "
			  "pool_max_requests 100", 'A' + i, max);
		cr_assert(acc >= 5 && acc <= 5 + 4, "origin %c accepted %d connections for %d "
			  "requests at 100 per connection", 'A' + i, acc, rn.per_tag[i]);
	}
	cr_assert(total >= 1000 / 100);
	h_proxy_finish(p);
}

Test(pool, max_idle_zero_opens_a_connection_per_request)
{
	struct lu_origin *o[2] = { http_origin('A'), http_origin('B') };
	struct lu_conf c = { .pool_max_idle = "0" };
	struct h_proxy *p = ka_proxy(&c, 2, o);
	struct run rn;

	run_requests(p, 2, 100, &rn);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(lu_origin_accepted(o[i]), rn.per_tag[i],
			     "origin %c: %d connections for %d requests with pool_max_idle 0",
			     'A' + i, lu_origin_accepted(o[i]), rn.per_tag[i]);
		cr_assert_eq(max_requests_per_conn(o[i]), 1);
	}
	h_proxy_finish(p); /* nothing pooled: no wait for an idle timeout */
}

/* The origin answers one request per connection with keep-alive headers,
 * then closes 50 ms later. The proxy must drop the pooled connection at once
 * (fd count back to baseline + the client's) and never send the next
 * request on it: a GET would be retried (logged), a POST would get 502. */
Test(pool, connection_closed_by_origin_leaves_pool_at_once)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .max_requests = 1,
				     .close_delay_ms = 50,
				     .headers = "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n" };
	struct lu_origin *o = lu_origin_start(&oo);
	struct lu_conf c = { .pool_idle_timeout = "10s" };
	struct h_proxy *p = ka_proxy(&c, 1, &o);
	struct hu_cli cli;
	const int rounds = 6;

	hu_cli_open(&cli, p->port);
	for (int k = 0; k < rounds; k++) {
		bool post = k & 1;
		struct lu_ans a = req_ok(&cli, post ? "POST" : "GET", "/x", post ? 1000 : 0);
		struct lu_conn oc;
		uint64_t t_drop = 0;
		int n = -1;

		cr_assert_eq(a.conn, k, "request %d answered on origin connection %d", k, a.conn);
		cr_assert(lu_origin_wait_end(o, k, 2000 * h_slow()));
		oc = lu_origin_conn(o, k);
		cr_assert_eq(oc.end, 2, "origin connection %d: the proxy closed it first", k);
		for (uint64_t dl = h_now_ms() + 1000u * (unsigned)h_slow(); h_now_ms() < dl;) {
			n = h_proxy_fd_count(p);
			if (n == p->fd_baseline + 1) {
				t_drop = h_now_ms();
				break;
			}
			h_sleep_ms(2);
		}
		cr_expect(t_drop && t_drop - oc.t_origin_close <= 100u * (unsigned)h_slow(),
			  "round %d: %d fds (baseline %d + 1 client) %llu ms after the origin "
			  "closed its pooled connection", k, n, p->fd_baseline,
			  (unsigned long long)(h_now_ms() - oc.t_origin_close));
		h_sleep_ms(50);
	}
	cr_assert_eq(lu_origin_accepted(o), rounds);
	cr_assert_eq(lu_log_count(p, "retrying"), 0, "a request went to a stale pooled connection");
	hu_cli_close(&cli);
	h_proxy_finish(p);
}

Test(pool, idle_timeout_closes_pooled_connection)
{
	struct lu_origin *o = http_origin('A');
	struct lu_conf c = { .pool_idle_timeout = "200ms" };
	struct h_proxy *p = ka_proxy(&c, 1, &o);
	struct hu_cli cli;
	struct lu_conn oc;
	struct lu_ans a;
	uint64_t idle;

	hu_cli_open(&cli, p->port);
	a = req_ok(&cli, "GET", "/1", 0);
	cr_assert_eq(a.conn, 0);
	cr_assert(lu_origin_wait_end(o, 0, 3000 * h_slow()), "pooled connection never closed");
	oc = lu_origin_conn(o, 0);
	cr_assert_eq(oc.end, 0, "origin connection ended with %d, expected the proxy's FIN", oc.end);
	idle = oc.t_end - oc.t_last_answer;
	cr_assert(idle >= 150 && idle <= 200u + 300u * (unsigned)h_slow(),
		  "pooled connection closed after %llu ms idle, pool_idle_timeout 200ms",
		  (unsigned long long)idle);
	/* the next request needs a new connection */
	a = req_ok(&cli, "GET", "/2", 0);
	cr_assert_eq(a.conn, 1);
	hu_cli_close(&cli);
	h_proxy_finish(p);
}

Test(pool, max_lifetime_stops_reuse)
{
	struct lu_origin *o = http_origin('A');
	struct lu_conf c = { .pool_max_lifetime = "300ms", .pool_idle_timeout = "10s" };
	struct h_proxy *p = ka_proxy(&c, 1, &o);
	struct hu_cli cli;
	uint64_t t0 = h_now_ms();
	int n = 0, acc;

	hu_cli_open(&cli, p->port);
	while (h_now_ms() - t0 < 1200) {
		req_ok(&cli, "GET", "/", 0);
		n++;
		h_sleep_ms(30);
	}
	acc = lu_origin_accepted(o);
	cr_assert(acc >= 3, "%d connections for %d requests over 1.2 s, pool_max_lifetime 300ms",
		  acc, n);
	for (int i = 0; i < acc; i++) {
		struct lu_conn k = lu_origin_conn(o, i);

		cr_assert(k.nreq >= 1);
		cr_assert(k.t_last_req - k.t_accept <= 300u + 60u * (unsigned)h_slow(),
			  "connection %d reused %llu ms after it was opened (%d requests), "
			  "pool_max_lifetime 300ms", i,
			  (unsigned long long)(k.t_last_req - k.t_accept), k.nreq);
	}
	hu_cli_close(&cli);
	h_proxy_finish(p); /* the last pooled connection expires at its lifetime */
}

/* The origin reads the 2nd request of a connection, then closes it without
 * answering. */
static struct h_proxy *dropping_proxy(struct lu_origin **o)
{
	struct lu_origin_opts oo = { .kind = LU_HTTP, .tag = 'A', .drop_reused = true };
	struct lu_conf c = { .pool_idle_timeout = "300ms" };

	*o = lu_origin_start(&oo);
	return ka_proxy(&c, 1, o);
}

Test(pool, get_on_reused_connection_closed_is_retried_once)
{
	struct lu_origin *o;
	struct h_proxy *p = dropping_proxy(&o);
	struct hu_cli cli;
	struct lu_ans a;

	hu_cli_open(&cli, p->port);
	a = req_ok(&cli, "GET", "/1", 0);
	cr_assert(a.conn == 0 && a.req == 1);
	a = req_ok(&cli, "GET", "/2", 0);
	cr_assert(a.conn == 1 && a.req == 1,
		  "GET after the reused connection closed: answered on connection %d as "
		  "request %d, expected a new connection", a.conn, a.req);
	cr_assert_eq(lu_origin_conn(o, 0).nreq, 2, "the GET never reached the reused connection");
	cr_assert_eq(lu_origin_accepted(o), 2);
	cr_assert(lu_log_count(p, "retrying on a new one") == 1, "retry not logged");
	hu_cli_close(&cli);
	h_proxy_finish(p);
}

/* Several rounds, each on a new client connection right after the previous
 * one got its 502 and closed: the 502's lingering close must not disturb
 * the next client or its new server connection. */
Test(pool, post_on_reused_connection_closed_gets_502)
{
	struct lu_origin *o;
	struct h_proxy *p = dropping_proxy(&o);
	const int rounds = 10;

	for (int k = 0; k < rounds; k++) {
		struct hu_cli cli;
		struct hu_rsp r;
		struct lu_ans a;
		char path[32];
		int rc;

		hu_cli_open(&cli, p->port);
		snprintf(path, sizeof(path), "/%d/1", k);
		a = req_ok(&cli, "POST", path, 1000);
		cr_assert(a.conn == k && a.req == 1, "round %d: first POST answered on connection "
			  "%d as request %d", k, a.conn, a.req);
		snprintf(path, sizeof(path), "/%d/2", k);
		rc = lu_request(&cli, "POST", path, 1000, &r);
		cr_assert_eq(rc, 0, "round %d: POST on a dropped reused connection: %s (%zu bytes: "
			     "%s)", k, strerror(-rc), r.head_len, r.head);
		cr_assert_eq(r.status, 502, "round %d: POST with a body retried or answered:\n%s%s",
			     k, r.head, r.body);
		cr_assert_eq(lu_origin_conn(o, k).nreq, 2,
			     "round %d: the POST never reached the reused connection", k);
		cr_assert_eq(lu_origin_accepted(o), k + 1,
			     "round %d: the POST was sent again on a new connection", k);
		hu_cli_close(&cli);
	}
	cr_assert_eq(lu_log_count(p, "retrying"), 0);
	h_proxy_finish(p);
}
