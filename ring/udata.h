/*
 * user_data encoding (ring/ layer). Every SQE carries a unique 64-bit tag so
 * that a completion can be routed to its owner and a stale completion (one
 * whose slot was reused since) can be recognised and dropped, and so that a
 * linked timeout, which cancels its head by user_data, never hits another
 * request. Layout, low to high bits:
 *   op (6) | dir (4) | slot (22) | generation (32)
 * Slot numbers index a worker's session table, or its listener table for
 * listener operations. Generation 0 is never given to a live session.
 */
#ifndef SL_RING_UDATA_H
#define SL_RING_UDATA_H

#include <stdint.h>

#define SL_UD_OP_BITS   6
#define SL_UD_DIR_BITS  4
#define SL_UD_OP_MAX    ((1u << SL_UD_OP_BITS) - 1)
#define SL_UD_DIR_MAX   ((1u << SL_UD_DIR_BITS) - 1)
#define SL_UD_SLOT_BITS 22
#define SL_UD_SLOT_MAX  ((1u << SL_UD_SLOT_BITS) - 1)

static inline uint64_t sl_ud_make(uint32_t slot, uint32_t gen, unsigned op, unsigned dir)
{
	return (uint64_t)(op & SL_UD_OP_MAX) |
	       ((uint64_t)(dir & SL_UD_DIR_MAX) << SL_UD_OP_BITS) |
	       ((uint64_t)(slot & SL_UD_SLOT_MAX) << (SL_UD_OP_BITS + SL_UD_DIR_BITS)) |
	       ((uint64_t)gen << 32);
}

static inline unsigned sl_ud_op(uint64_t ud)
{
	return (unsigned)(ud & SL_UD_OP_MAX);
}

static inline unsigned sl_ud_dir(uint64_t ud)
{
	return (unsigned)((ud >> SL_UD_OP_BITS) & SL_UD_DIR_MAX);
}

static inline uint32_t sl_ud_slot(uint64_t ud)
{
	return (uint32_t)((ud >> (SL_UD_OP_BITS + SL_UD_DIR_BITS)) & SL_UD_SLOT_MAX);
}

static inline uint32_t sl_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

#endif
