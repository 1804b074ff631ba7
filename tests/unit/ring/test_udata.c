/* user_data encoding: every field survives a round trip, fields never bleed
 * into each other, and distinct requests get distinct tags. */
#include <criterion/criterion.h>

#include "ring/udata.h"

Test(udata, round_trips_every_field)
{
	const uint32_t slots[] = { 0, 1, 12345, SL_UD_SLOT_MAX };
	const uint32_t gens[] = { 1, 2, 0x7fffffffu, 0xffffffffu };

	for (unsigned a = 0; a < 4; a++)
		for (unsigned b = 0; b < 4; b++)
			for (unsigned op = 0; op <= SL_UD_OP_MAX; op += 7)
				for (unsigned dir = 0; dir <= SL_UD_DIR_MAX; dir++) {
					uint64_t u = sl_ud_make(slots[a], gens[b], op, dir);

					cr_assert_eq(sl_ud_slot(u), slots[a]);
					cr_assert_eq(sl_ud_gen(u), gens[b]);
					cr_assert_eq(sl_ud_op(u), op);
					cr_assert_eq(sl_ud_dir(u), dir);
				}
}

Test(udata, distinguishes_direction_op_and_generation)
{
	uint64_t base = sl_ud_make(7, 3, 5, 0);

	cr_assert_neq(base, sl_ud_make(7, 3, 5, 1));
	cr_assert_neq(base, sl_ud_make(7, 3, 6, 0));
	cr_assert_neq(base, sl_ud_make(7, 4, 5, 0));
	cr_assert_neq(base, sl_ud_make(8, 3, 5, 0));
}

Test(udata, oversized_fields_are_masked_not_spilled)
{
	uint64_t u = sl_ud_make(SL_UD_SLOT_MAX + 1, 9, SL_UD_OP_MAX * 2 + 1, SL_UD_DIR_MAX * 2 + 1);

	cr_assert_eq(sl_ud_slot(u), 0);
	cr_assert_eq(sl_ud_gen(u), 9);
	cr_assert_eq(sl_ud_op(u), SL_UD_OP_MAX);
	cr_assert_eq(sl_ud_dir(u), SL_UD_DIR_MAX);
}

Test(udata, live_request_never_encodes_as_zero)
{
	/* user_data 0 is reserved for linked timeouts whose CQE is ignored */
	cr_assert_neq(sl_ud_make(0, 1, 1, 0), 0);
	cr_assert_neq(sl_ud_make(0, 0, 1, 0), 0);
}
