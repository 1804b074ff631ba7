/* Balancing: smooth weighted round robin, backups, disabled servers and the
 * exclusion used when a connect fails. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/backend.h"

static struct sl_server_conf sc[4];
static struct sl_backend_conf bc;
static struct sl_config cfg;
static struct sl_backend *bes;

static void setup_backend(const int *weights, const bool *backup, const bool *disabled, int n)
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
	cfg.backends = &bc;
	cfg.nbackends = 1;
	cr_assert_eq(sl_backends_init(&cfg, &bes), 0);
}

static void teardown_backend(void)
{
	sl_backends_free(bes, 1);
	bes = NULL;
}

static void picks(char *out, int n)
{
	for (int i = 0; i < n; i++) {
		struct sl_server *s = sl_backend_pick(&bes[0], NULL);

		out[i] = s ? s->conf->name[0] : '-';
	}
	out[n] = 0;
}

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
	for (int i = 0; i < 600; i++)
		count[sl_backend_pick(&bes[0], NULL)->conf->name[0] - 'A']++;
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
	picks(seq, 6);
	cr_assert_str_eq(seq, "ACACAC");
}

Test(backend, none_usable_gives_null, .fini = teardown_backend)
{
	setup_backend((int[]){ 1 }, NULL, (bool[]){ true }, 1);
	cr_assert_null(sl_backend_pick(&bes[0], NULL));
}

Test(backend, exclude_moves_a_retry_to_another_server, .fini = teardown_backend)
{
	setup_backend((int[]){ 1, 1, 1 }, NULL, NULL, 3);
	for (int i = 0; i < 9; i++) {
		struct sl_server *first = sl_backend_pick(&bes[0], NULL);
		struct sl_server *retry = sl_backend_pick(&bes[0], first);

		cr_assert_neq(first, retry);
	}
}

Test(backend, exclude_of_the_only_server_still_returns_it, .fini = teardown_backend)
{
	setup_backend((int[]){ 1 }, NULL, NULL, 1);
	struct sl_server *s = sl_backend_pick(&bes[0], NULL);

	cr_assert_eq(sl_backend_pick(&bes[0], s), s);
}
