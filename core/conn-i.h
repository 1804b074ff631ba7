/*
 * What core/conn.c and core/conn_rx.c share, and nobody else: the user_data
 * of a connection's requests and the receiving side's entry points.
 */
#ifndef SL_CORE_CONN_I_H
#define SL_CORE_CONN_I_H

#include <liburing.h>

#include "core/conn.h"
#include "ring/udata.h"

/* Units (buffers' worth) the recvs of bulk sides armed in one loop
 * iteration may take at most, and one of them at most (see "Fairness" in
 * core/conn_rx.c). */
#define SL_CONN_ARM_BUDGET 64u
#define SL_CONN_ARM_MAX    8u

static inline uint64_t cud(const struct sl_conn *c, unsigned op)
{
	return sl_ud_make(c->slot, c->gen, op, 0);
}

/* Arm c's recv if it wants one and the fairness rules allow it now. */
void sl_conn_rx_arm(struct sl_conn *c);
/* A completion of c's recv. */
void sl_conn_rx_on_cqe(struct sl_conn *c, const struct io_uring_cqe *cqe);
/* c leaves the starved list and the FIFO of bulk sides. */
void sl_conn_rx_forget(struct sl_conn *c);

#endif
