/* Balancing: every algorithm (roundrobin, leastconn, source, random), their
 * weights and distributions, server states (DOWN and MAINT are never picked,
 * backups only while no primary is UP) and the exclusion used when a connect
 * fails. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/backend.h"

#define MAXS 8

static struct sl_server_conf sc[MAXS];
static struct sl_backend_conf bc;
static struct sl_config cfg;
static struct sl_backend *bes;

static const enum sl_balance all_algos[] = {
	SL_BAL_ROUNDROBIN, SL_BAL_LEASTCONN, SL_BAL_SOURCE, SL_BAL_RANDOM,
};

static void setup_balance(enum sl_balance bal, const int *weights, const bool *backup,
			  const bool *disabled, int n)
{
	memset(sc, 0, sizeof(sc));
	memset(&bc, 0, sizeof(bc));
	memset(&cfg, 0, sizeof(cfg));
	for (int i = 0; i < n; i++) {
		snprintf(sc[i].name, sizeof(sc[i].name), "%c", 'A' + i);
		sc[i].weight = weights[i];
		sc[i].backup = backup ? backup[i] : false;
		sc[i].disabled = disabled ? disabled[i] : false;
	}
	bc.servers = sc;
	bc.nservers = n;
	bc.balance = bal;
	cfg.backends = &bc;
	cfg.nbackends = 1;
	cr_assert_eq(sl_backends_init(&cfg, &bes), 0);
}

static void setup_backend(const int *weights, const bool *backup, const bool *disabled, int n)
{
	setup_balance(SL_BAL_ROUNDROBIN, weights, backup, disabled, n);
}

static void teardown_backend(void)
{
	sl_backends_free(bes, 1);
	bes = NULL;
}

static void set_state(int i, enum sl_srv_state st)
{
	atomic_store(&bes[0].servers[i].state, st);
}

static void set_sessions(int i, unsigned n)
{
	atomic_store(&bes[0].servers[i].sessions, n);
}

static int idx(const struct sl_server *s)
{
	cr_assert_not_null(s);
	return s->conf->name[0] - 'A';
}

static void picks(char *out, int n)
{
	for (int i = 0; i < n; i++) {
		struct sl_server *s = sl_backend_pick(&bes[0], NULL, NULL);

		out[i] = s ? s->conf->name[0] : '-';
	}
	out[n] = 0;
}

/* n picks; with hold, each pick stays as a session (long-lived). */
static void count_picks(int *count, int n, bool hold)
{
	for (int i = 0; i < n; i++) {
		struct sl_server *s = sl_backend_pick(&bes[0], NULL, NULL);

		count[idx(s)]++;
		if (hold)
			atomic_fetch_add(&s->sessions, 1);
	}
}

static union sl_sockaddr v4(uint32_t host_order, uint16_t port)
{
	union sl_sockaddr ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(host_order);
	sin->sin_port = htons(port);
	return ss;
}

static int pick_for(uint32_t client)
{
	union sl_sockaddr ss = v4(client, 40000);

	return idx(sl_backend_pick(&bes[0], &ss, NULL));
}

/* ---- roundrobin ---- */

Test(backend, roundrobin_alternates_equal_weights, .fini = teardown_backend)
{
	char seq[16];

	setup_backend((int[]){ 1, 1 }, NULL, NULL, 2);
	picks(seq, 10);
	cr_assert_str_eq(seq, "ABABABABAB");
}

Test(backend, roundrobin_interleaves_weights, .fini = teardown_backend)
{
	char seq[16];

	setup_backend((int[]){ 5, 1, 1 }, NULL, NULL, 3);
	picks(seq, 7);
	cr_assert_str_eq(seq, "AABACAA");
}

Test(backend, roundrobin_follows_weights_over_many_picks, .fini = teardown_backend)
{
	int count[3] = { 0 };

	setup_backend((int[]){ 1, 2, 3 }, NULL, NULL, 3);
	count_picks(count, 600, false);
	cr_assert_eq(count[0], 100);
	cr_assert_eq(count[1], 200);
	cr_assert_eq(count[2], 300);
}

Test(backend, backup_only_when_no_primary_usable, .fini = teardown_backend)
{
	char seq[16];

	setup_backend((int[]){ 1, 1, 1 }, (bool[]){ false, false, true }, NULL, 3);
	picks(seq, 6);
	cr_assert_str_eq(seq, "ABABAB");
	teardown_backend();
	setup_backend((int[]){ 1, 1, 1 }, (bool[]){ false, false, true },
		      (bool[]){ true, true, false }, 3);
	picks(seq, 3);
	cr_assert_str_eq(seq, "CCC");
}

Test(backend, disabled_servers_never_picked, .fini = teardown_backend)
{
	char seq[16];

	setup_backend((int[]){ 1, 1, 1 }, NULL, (bool[]){ false, true, false }, 3);
	cr_assert_eq(sl_server_status(&bes[0].servers[1]), SL_SRV_MAINT);
	cr_assert_eq(sl_server_status(&bes[0].servers[0]), SL_SRV_UP);
	picks(seq, 6);
	cr_assert_str_eq(seq, "ACACAC");
}

Test(backend, none_usable_gives_null, .fini = teardown_backend)
{
	setup_backend((int[]){ 1 }, NULL, (bool[]){ true }, 1);
	cr_assert_null(sl_backend_pick(&bes[0], NULL, NULL));
}

Test(backend, exclude_moves_a_retry_to_another_server, .fini = teardown_backend)
{
	for (size_t a = 0; a < sizeof(all_algos) / sizeof(all_algos[0]); a++) {
		setup_balance(all_algos[a], (int[]){ 1, 1, 1 }, NULL, NULL, 3);
		for (uint32_t i = 0; i < 30; i++) {
			union sl_sockaddr ss = v4(0x0a000000 + i, 1);
			struct sl_server *first = sl_backend_pick(&bes[0], &ss, NULL);
			struct sl_server *retry = sl_backend_pick(&bes[0], &ss, first);

			cr_assert_neq(first, retry, "algorithm %d", all_algos[a]);
		}
		teardown_backend();
	}
}

Test(backend, exclude_of_the_only_server_still_returns_it, .fini = teardown_backend)
{
	setup_backend((int[]){ 1 }, NULL, NULL, 1);
	struct sl_server *s = sl_backend_pick(&bes[0], NULL, NULL);

	cr_assert_eq(sl_backend_pick(&bes[0], NULL, s), s);
}

/* ---- server states, every algorithm ---- */

Test(backend, down_servers_are_never_picked_by_any_algorithm, .fini = teardown_backend)
{
	for (size_t a = 0; a < sizeof(all_algos) / sizeof(all_algos[0]); a++) {
		int count[3] = { 0 };

		setup_balance(all_algos[a], (int[]){ 1, 5, 1 }, NULL, NULL, 3);
		set_state(1, SL_SRV_DOWN);
		for (uint32_t i = 0; i < 300; i++)
			count[pick_for(0x0a000000 + i)]++;
		cr_assert_eq(count[1], 0, "algorithm %d picked a DOWN server", all_algos[a]);
		cr_assert(count[0] > 0 && count[2] > 0, "algorithm %d", all_algos[a]);
		teardown_backend();
	}
}

Test(backend, backups_take_over_while_no_primary_is_up_then_hand_back,
     .fini = teardown_backend)
{
	for (size_t a = 0; a < sizeof(all_algos) / sizeof(all_algos[0]); a++) {
		int count[4] = { 0 };

		setup_balance(all_algos[a], (int[]){ 1, 1, 1, 1 },
			      (bool[]){ false, false, true, true }, NULL, 4);
		set_state(0, SL_SRV_DOWN);
		set_state(1, SL_SRV_DOWN);
		for (uint32_t i = 0; i < 200; i++)
			count[pick_for(0x0a000000 + i)]++;
		cr_assert_eq(count[0] + count[1], 0, "algorithm %d", all_algos[a]);
		cr_assert(count[2] > 0 && count[3] > 0, "algorithm %d", all_algos[a]);
		set_state(1, SL_SRV_UP);
		for (uint32_t i = 0; i < 50; i++)
			cr_assert_eq(pick_for(0x0a000000 + i), 1, "algorithm %d", all_algos[a]);
		teardown_backend();
	}
}

Test(backend, nothing_up_gives_null_for_every_algorithm, .fini = teardown_backend)
{
	for (size_t a = 0; a < sizeof(all_algos) / sizeof(all_algos[0]); a++) {
		setup_balance(all_algos[a], (int[]){ 1, 1, 1 }, (bool[]){ false, false, true },
			      NULL, 3);
		for (int i = 0; i < 3; i++)
			set_state(i, SL_SRV_DOWN);
		cr_assert_null(sl_backend_pick(&bes[0], NULL, NULL));
		teardown_backend();
	}
}

Test(backend, counts_up_servers_by_tier, .fini = teardown_backend)
{
	int p, b;

	setup_backend((int[]){ 1, 1, 1, 1 }, (bool[]){ false, false, true, true },
		      (bool[]){ false, false, false, true }, 4);
	set_state(0, SL_SRV_DOWN);
	sl_backend_count_up(&bes[0], &p, &b);
	cr_assert_eq(p, 1);
	cr_assert_eq(b, 1);
}

/* ---- leastconn ---- */

Test(backend, leastconn_picks_the_server_with_fewest_sessions, .fini = teardown_backend)
{
	setup_balance(SL_BAL_LEASTCONN, (int[]){ 1, 1, 1 }, NULL, NULL, 3);
	set_sessions(0, 3);
	set_sessions(1, 1);
	set_sessions(2, 2);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(idx(sl_backend_pick(&bes[0], NULL, NULL)), 1);
}

Test(backend, leastconn_breaks_ties_round_robin, .fini = teardown_backend)
{
	char seq[16];

	setup_balance(SL_BAL_LEASTCONN, (int[]){ 1, 1, 1 }, NULL, NULL, 3);
	picks(seq, 9);
	cr_assert_str_eq(seq, "ABCABCABC");
}

Test(backend, leastconn_fills_long_lived_sessions_by_weight, .fini = teardown_backend)
{
	int count[3] = { 0 };

	setup_balance(SL_BAL_LEASTCONN, (int[]){ 1, 2, 3 }, NULL, NULL, 3);
	count_picks(count, 60, true);
	cr_assert_eq(count[0], 10);
	cr_assert_eq(count[1], 20);
	cr_assert_eq(count[2], 30);
}

Test(backend, leastconn_sends_new_sessions_where_old_ones_ended, .fini = teardown_backend)
{
	int count[2] = { 0 };

	setup_balance(SL_BAL_LEASTCONN, (int[]){ 1, 1 }, NULL, NULL, 2);
	count_picks(count, 10, true);
	set_sessions(0, 0); /* every session on A ended */
	count_picks(count, 5, true);
	cr_assert_eq(count[0], 10);
	cr_assert_eq(count[1], 5);
}

/* ---- source ---- */

Test(backend, source_keeps_each_client_on_one_server, .fini = teardown_backend)
{
	setup_balance(SL_BAL_SOURCE, (int[]){ 1, 1, 1, 1 }, NULL, NULL, 4);
	for (uint32_t c = 0; c < 500; c++) {
		union sl_sockaddr a = v4(0xc0a80000 + c, 1000), b = v4(0xc0a80000 + c, 2000);
		struct sl_server *s = sl_backend_pick(&bes[0], &a, NULL);

		/* the port changes with every connection; it must not matter */
		for (int k = 0; k < 3; k++)
			cr_assert_eq(sl_backend_pick(&bes[0], &b, NULL), s);
	}
}

Test(backend, source_treats_ipv4_mapped_ipv6_as_ipv4, .fini = teardown_backend)
{
	setup_balance(SL_BAL_SOURCE, (int[]){ 1, 1, 1, 1 }, NULL, NULL, 4);
	for (uint32_t c = 0; c < 100; c++) {
		union sl_sockaddr a = v4(0x0a000000 + c * 7, 1), m;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&m;

		memset(&m, 0, sizeof(m));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &((struct sockaddr_in *)&a)->sin_addr, 4);
		cr_assert_eq(sl_backend_pick(&bes[0], &a, NULL), sl_backend_pick(&bes[0], &m, NULL));
	}
}

Test(backend, source_spreads_clients_by_weight, .fini = teardown_backend)
{
	int count[3] = { 0 }, n = 30000;

	setup_balance(SL_BAL_SOURCE, (int[]){ 1, 2, 3 }, NULL, NULL, 3);
	for (uint32_t c = 0; c < (uint32_t)n; c++)
		count[pick_for(0x0a000000 + c)]++;
	/* expected 5000, 10000, 15000; binomial sigma < 90 */
	cr_assert(count[0] > 4600 && count[0] < 5400, "A got %d", count[0]);
	cr_assert(count[1] > 9500 && count[1] < 10500, "B got %d", count[1]);
	cr_assert(count[2] > 14500 && count[2] < 15500, "C got %d", count[2]);
}

Test(backend, source_moves_only_the_clients_of_a_down_server, .fini = teardown_backend)
{
	enum { N = 4000 };
	static int before[N];
	int moved = 0, on_c = 0;

	setup_balance(SL_BAL_SOURCE, (int[]){ 1, 1, 1, 1 }, NULL, NULL, 4);
	for (uint32_t c = 0; c < N; c++)
		before[c] = pick_for(0xac100000 + c);
	set_state(2, SL_SRV_DOWN);
	for (uint32_t c = 0; c < N; c++) {
		int now = pick_for(0xac100000 + c);

		if (before[c] == 2) {
			on_c++;
			cr_assert_neq(now, 2);
		} else {
			moved += now != before[c];
		}
	}
	cr_assert_eq(moved, 0, "%d clients of UP servers moved", moved);
	cr_assert(on_c > N / 8, "C had only %d clients", on_c);
	set_state(2, SL_SRV_UP);
	for (uint32_t c = 0; c < N; c++)
		cr_assert_eq(pick_for(0xac100000 + c), before[c], "client %u did not come back", c);
}

Test(backend, source_without_client_address_falls_back_to_round_robin,
     .fini = teardown_backend)
{
	char seq[16];

	setup_balance(SL_BAL_SOURCE, (int[]){ 1, 1 }, NULL, NULL, 2);
	picks(seq, 4);
	cr_assert_str_eq(seq, "ABAB");
}

/* ---- random ---- */

Test(backend, random_spreads_by_weight, .fini = teardown_backend)
{
	int count[2] = { 0 };

	setup_balance(SL_BAL_RANDOM, (int[]){ 1, 3 }, NULL, NULL, 2);
	/* no session held: loads stay equal, so this is the weighted draw;
	 * expected 5000 / 15000, sigma about 61 */
	count_picks(count, 20000, false);
	cr_assert(count[0] > 4500 && count[0] < 5500, "A got %d", count[0]);
	cr_assert_eq(count[0] + count[1], 20000);
}

Test(backend, random_prefers_the_less_loaded_of_two_choices, .fini = teardown_backend)
{
	int count[2] = { 0 };

	setup_balance(SL_BAL_RANDOM, (int[]){ 1, 1 }, NULL, NULL, 2);
	set_sessions(0, 100);
	/* A only wins when both draws are A: one pick in four */
	count_picks(count, 8000, false);
	cr_assert(count[0] > 1700 && count[0] < 2300, "A got %d", count[0]);
}

Test(backend, random_keeps_long_lived_sessions_balanced, .fini = teardown_backend)
{
	int count[3] = { 0 };

	setup_balance(SL_BAL_RANDOM, (int[]){ 1, 1, 1 }, NULL, NULL, 3);
	/* pure random would be off by ~26 (one sigma) per server; two choices
	 * keep the spread within a few sessions */
	count_picks(count, 3000, true);
	for (int i = 0; i < 3; i++)
		cr_assert(count[i] >= 990 && count[i] <= 1010, "server %d got %d", i, count[i]);
}
