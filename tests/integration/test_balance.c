/*
 * Balancing algorithms through the real binary, with tag origins (each
 * server says which one it is): roundrobin alternation and weights,
 * leastconn with long-lived sessions, source stability per client address
 * (clients bound to 127.0.0.x) including while a server is DOWN, and the
 * spread of random. Two workers: the balancer state is shared by both.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/checks_util.h"
#include "tests/integration/harness.h"

TestSuite(balance, .init = h_setup, .fini = cu_fini, .timeout = 60);

#define MAXS 4

struct farm {
	int n;
	struct h_origin *o[MAXS];
	struct cu_target *chk[MAXS];
	struct h_proxy *p;
};

static int slow_ms(int ms)
{
	return ms * h_slow();
}

/* n tag origins 'A'.. behind a tcp frontend with balance `algo`. With
 * checked, each server is http-checked through its own target, fast (every
 * 50 ms, one result moves it) but with a generous timeout_check: a loaded
 * test machine must not take a healthy server down. */
static void farm_start(struct farm *f, const char *algo, int n, const int *weights,
		       bool checked)
{
	char conf[4096];
	int fe = h_free_port();
	size_t off;

	memset(f, 0, sizeof(*f));
	f->n = n;
	off = (size_t)snprintf(conf, sizeof(conf),
		"[global]\nworkers = 2\nlog = stderr\ngrace = 300ms\n\n"
		"[defaults]\ntimeout_connect = 500ms\ntimeout_check = 2s\n\n"
		"[frontend f]\nbind = 127.0.0.1:%d\nbackend = b\n\n"
		"[backend b]\nbalance = %s\ncheck = http GET /\ncheck_interval = 50ms\n"
		"check_rise = 1\ncheck_fall = 1\n", fe, algo);
	for (int i = 0; i < n; i++) {
		struct h_origin_opts oo = { .handler = h_handle_tag, .tag = (char)('A' + i) };

		f->o[i] = h_origin_start(&oo);
		off += (size_t)snprintf(conf + off, sizeof(conf) - off,
					"server = %c 127.0.0.1:%d weight=%d", 'A' + i,
					h_origin_port(f->o[i]), weights ? weights[i] : 1);
		if (checked) {
			f->chk[i] = cu_target_start(CU_HTTP, 200, 0);
			off += (size_t)snprintf(conf + off, sizeof(conf) - off,
						" check check_port=%d", cu_target_port(f->chk[i]));
		}
		off += (size_t)snprintf(conf + off, sizeof(conf) - off, "\n");
		cr_assert(off < sizeof(conf));
	}
	f->p = h_proxy_start_text(conf, fe);
}

/* Tag of a new session from src (NULL: 127.0.0.1), closed at once. */
static char tag_from(const struct farm *f, const char *src)
{
	int tag = cu_tag_of_new_session(src, f->p->port, slow_ms(2000));

	cr_assert(tag >= 'A' && tag < 'A' + f->n, "session from %s not served: %d (%s)",
		  src ? src : "127.0.0.1", tag, tag < 0 ? strerror(-tag) : "bad tag");
	return (char)tag;
}

/* A session kept open: its fd, with its tag in *tag. */
static int held_session(const struct farm *f, char *tag)
{
	int fd = h_connect(f->p->port, slow_ms(2000)), t;

	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	t = cu_read_tag(fd, slow_ms(2000));
	cr_assert(t >= 'A' && t < 'A' + f->n, "held session not served: %d", t);
	*tag = (char)t;
	return fd;
}

/* Waits until the sessions of every origin but `held`'s have finished
 * (so that the proxy released them). */
static void wait_sessions_done(const struct farm *f, char held)
{
	for (int i = 0; i < f->n; i++) {
		int acc = h_origin_accepted(f->o[i]);

		if ('A' + i == held)
			continue;
		cr_assert_eq(h_origin_wait_done(f->o[i], acc, slow_ms(2000)), acc);
	}
	h_sleep_ms(50); /* the proxy's own close completions */
}

Test(balance, roundrobin_alternates_connections)
{
	struct farm f;
	char seq[16];

	farm_start(&f, "roundrobin", 3, NULL, false);
	for (int i = 0; i < 9; i++)
		seq[i] = tag_from(&f, NULL);
	seq[9] = '\0';
	cr_assert_str_eq(seq, "ABCABCABC");
	h_proxy_finish(f.p);
}

Test(balance, roundrobin_follows_weights)
{
	struct farm f;
	int count[2] = { 0 };

	farm_start(&f, "roundrobin", 2, (int[]){ 3, 1 }, false);
	for (int i = 0; i < 12; i++)
		count[tag_from(&f, NULL) - 'A']++;
	cr_assert_eq(count[0], 9);
	cr_assert_eq(count[1], 3);
	h_proxy_finish(f.p);
}

Test(balance, leastconn_avoids_the_server_with_long_lived_sessions)
{
	struct farm f;
	char held_tag, seq[8];
	int held;

	farm_start(&f, "leastconn", 2, NULL, false);
	held = held_session(&f, &held_tag);
	/* every short session goes to the other server while one is held;
	 * roundrobin would alternate */
	for (int i = 0; i < 6; i++) {
		seq[i] = tag_from(&f, NULL);
		wait_sessions_done(&f, held_tag);
	}
	seq[6] = '\0';
	for (int i = 0; i < 6; i++)
		cr_assert_neq(seq[i], held_tag, "short sessions went %s, one held on %c", seq,
			      held_tag);
	close(held);
	h_proxy_finish(f.p);
}

Test(balance, leastconn_spreads_long_lived_sessions_by_weight)
{
	struct farm f;
	int fds[12], count[2] = { 0 };
	char tag;

	farm_start(&f, "leastconn", 2, (int[]){ 1, 2 }, false);
	for (int i = 0; i < 12; i++) {
		fds[i] = held_session(&f, &tag);
		count[tag - 'A']++;
	}
	cr_assert_eq(count[0], 4, "A got %d of 12 held sessions", count[0]);
	cr_assert_eq(count[1], 8, "B got %d of 12 held sessions", count[1]);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	h_proxy_finish(f.p);
}

Test(balance, source_keeps_a_client_address_on_its_server_and_moves_only_a_down_servers)
{
	enum { NCLI = 24 };
	char first[NCLI], src[32], now;
	int used[3] = { 0 }, victim, moved = 0;
	struct farm f;

	farm_start(&f, "source", 3, NULL, true);
	for (int c = 0; c < NCLI; c++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 10 + c);
		first[c] = tag_from(&f, src);
		used[first[c] - 'A']++;
		for (int k = 0; k < 2; k++)
			cr_assert_eq(tag_from(&f, src), first[c], "client %s moved", src);
	}
	cr_assert(!!used[0] + !!used[1] + !!used[2] >= 2, "every client on one server");
	victim = used[1] ? 1 : used[0] ? 0 : 2;
	cu_target_set(f.chk[victim], CU_HTTP, 500, 0);
	cr_assert(cu_log_wait(f.p, "is DOWN (L7 bad status 500", slow_ms(2000)));
	for (int c = 0; c < NCLI; c++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 10 + c);
		now = tag_from(&f, src);
		if (first[c] - 'A' == victim)
			cr_assert_neq(now, first[c], "client %s still sent to a DOWN server", src);
		else
			moved += now != first[c];
	}
	cr_assert_eq(moved, 0, "%d clients of UP servers moved", moved);
	cu_target_set(f.chk[victim], CU_HTTP, 200, 0);
	cr_assert(cu_log_wait(f.p, "is UP (L7 OK 200", slow_ms(2000)));
	for (int c = 0; c < NCLI; c++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 10 + c);
		cr_assert_eq(tag_from(&f, src), first[c], "client %s did not come back", src);
	}
	h_proxy_finish(f.p);
}

Test(balance, random_spreads_connections_over_every_server)
{
	struct farm f;
	int count[3] = { 0 };

	farm_start(&f, "random", 3, NULL, false);
	/* expected 20 each (sigma 3.7): under 5 is a 4-sigma event */
	for (int i = 0; i < 60; i++)
		count[tag_from(&f, NULL) - 'A']++;
	for (int i = 0; i < 3; i++)
		cr_assert(count[i] >= 5, "server %c got %d of 60", 'A' + i, count[i]);
	h_proxy_finish(f.p);
}

Test(balance, random_keeps_long_lived_sessions_even)
{
	struct farm f;
	int fds[30], count[3] = { 0 };
	char tag;

	farm_start(&f, "random", 3, NULL, false);
	/* two choices on the current load: within a couple of sessions of
	 * 10 each, where a plain random draw is off by 2.6 (one sigma) */
	for (int i = 0; i < 30; i++) {
		fds[i] = held_session(&f, &tag);
		count[tag - 'A']++;
	}
	for (int i = 0; i < 3; i++)
		cr_assert(count[i] >= 7 && count[i] <= 13, "server %c holds %d of 30", 'A' + i,
			  count[i]);
	for (int i = 0; i < 30; i++)
		close(fds[i]);
	h_proxy_finish(f.p);
}
