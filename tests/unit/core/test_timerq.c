/*
 * Unit tests of core/timerq.c, the deadline heap under each worker's one
 * io_uring timeout: entries come out earliest first, only once due; moving
 * an entry earlier or later and deleting one from anywhere keep the order;
 * an entry is never queued twice; and a long random run of sets, deletes
 * and pops agrees with a plain array searched by brute force.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/timerq.h"

#define N 1000

static struct sl_timerq q;
static struct sl_timerq_ent ents[N];

static void setup(void)
{
	memset(ents, 0, sizeof(ents));
	cr_assert_eq(sl_timerq_init(&q, N), 0);
}

static void teardown(void)
{
	sl_timerq_free(&q);
}

TestSuite(timerq, .init = setup, .fini = teardown);

Test(timerq, empty_queue_has_nothing_due)
{
	cr_assert_eq(sl_timerq_count(&q), 0);
	cr_assert_eq(sl_timerq_next(&q), UINT64_MAX);
	cr_assert_null(sl_timerq_pop_due(&q, UINT64_MAX));
}

Test(timerq, pops_earliest_first_and_only_when_due)
{
	static const uint64_t at[] = { 50, 10, 40, 30, 20, 10 };

	for (int i = 0; i < 6; i++)
		sl_timerq_set(&q, &ents[i], at[i]);
	cr_assert_eq(sl_timerq_next(&q), 10);
	cr_assert_null(sl_timerq_pop_due(&q, 9), "nothing is due before its deadline");
	uint64_t last = 0;

	for (int i = 0; i < 6; i++) {
		struct sl_timerq_ent *e = sl_timerq_pop_due(&q, 100);

		cr_assert_not_null(e);
		cr_assert_geq(e->at, last, "out of order: %llu after %llu",
			      (unsigned long long)e->at, (unsigned long long)last);
		cr_assert_not(sl_timerq_queued(e), "a popped entry is not queued any more");
		last = e->at;
	}
	cr_assert_eq(sl_timerq_count(&q), 0);
}

Test(timerq, pop_due_stops_at_now)
{
	for (int i = 0; i < 10; i++)
		sl_timerq_set(&q, &ents[i], (uint64_t)(i + 1) * 100);
	int n = 0;

	while (sl_timerq_pop_due(&q, 550))
		n++;
	cr_assert_eq(n, 5, "deadlines 100..500 are due at 550, %d popped", n);
	cr_assert_eq(sl_timerq_next(&q), 600);
}

Test(timerq, set_again_moves_without_duplicating)
{
	sl_timerq_set(&q, &ents[0], 100);
	sl_timerq_set(&q, &ents[1], 200);
	sl_timerq_set(&q, &ents[2], 300);
	sl_timerq_set(&q, &ents[2], 50); /* earlier */
	cr_assert_eq(sl_timerq_count(&q), 3);
	cr_assert_eq(sl_timerq_next(&q), 50);
	sl_timerq_set(&q, &ents[2], 500); /* later */
	cr_assert_eq(sl_timerq_count(&q), 3);
	cr_assert_eq(sl_timerq_next(&q), 100);
	cr_assert_eq(sl_timerq_pop_due(&q, 1000), &ents[0]);
	cr_assert_eq(sl_timerq_pop_due(&q, 1000), &ents[1]);
	cr_assert_eq(sl_timerq_pop_due(&q, 1000), &ents[2]);
	cr_assert_null(sl_timerq_pop_due(&q, 1000));
}

Test(timerq, delete_from_the_middle_keeps_order)
{
	for (int i = 0; i < 100; i++)
		sl_timerq_set(&q, &ents[i], (uint64_t)((i * 37) % 100));
	for (int i = 0; i < 100; i += 3)
		sl_timerq_del(&q, &ents[i]);
	sl_timerq_del(&q, &ents[0]); /* not queued any more: nothing */
	cr_assert_eq(sl_timerq_count(&q), 66);
	uint64_t last = 0;
	struct sl_timerq_ent *e;

	while ((e = sl_timerq_pop_due(&q, 1000))) {
		cr_assert_neq((e - ents) % 3, 0, "a deleted entry came out");
		cr_assert_geq(e->at, last);
		last = e->at;
	}
}

Test(timerq, delete_of_an_entry_never_queued_does_nothing)
{
	sl_timerq_set(&q, &ents[0], 5);
	sl_timerq_del(&q, &ents[1]);
	cr_assert_eq(sl_timerq_count(&q), 1);
	cr_assert_eq(sl_timerq_pop_due(&q, 5), &ents[0]);
}

/* The reference: the earliest queued entry found by looking at all. */
static uint64_t ref_next(const bool *in, const uint64_t *at)
{
	uint64_t m = UINT64_MAX;

	for (int i = 0; i < N; i++)
		if (in[i] && at[i] < m)
			m = at[i];
	return m;
}

Test(timerq, random_operations_agree_with_brute_force)
{
	static bool in[N];
	static uint64_t at[N];
	unsigned seed = 12345;
	uint64_t now = 0;

	for (int step = 0; step < 50000; step++) {
		int i = (int)(rand_r(&seed) % N), op = (int)(rand_r(&seed) % 10);

		if (op < 5) {
			at[i] = now + (uint64_t)(rand_r(&seed) % 5000);
			in[i] = true;
			sl_timerq_set(&q, &ents[i], at[i]);
		} else if (op < 7) {
			in[i] = false;
			sl_timerq_del(&q, &ents[i]);
		} else {
			struct sl_timerq_ent *e;

			now += (uint64_t)(rand_r(&seed) % 50);
			while ((e = sl_timerq_pop_due(&q, now))) {
				int k = (int)(e - ents);

				cr_assert(in[k], "step %d: entry %d popped but not queued", step, k);
				cr_assert_leq(at[k], now, "step %d: entry %d popped early", step, k);
				cr_assert_eq(e->at, ref_next(in, at), "step %d: not the earliest", step);
				in[k] = false;
			}
			cr_assert(ref_next(in, at) > now, "step %d: a due entry stayed", step);
		}
		cr_assert_eq(sl_timerq_next(&q), ref_next(in, at), "step %d", step);
		cr_assert_eq(sl_timerq_queued(&ents[i]), in[i], "step %d: entry %d", step, i);
	}
}
