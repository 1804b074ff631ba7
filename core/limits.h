/*
 * Connection limits shared by all workers (core/ layer): the count of
 * client connections per source address and frontend, behind one mutex,
 * taken once per accepted and once per closed connection of a frontend that
 * sets maxconn_per_source. Per-worker limits (maxconn, server maxconn) live
 * in the workers themselves and need no lock.
 */
#ifndef SL_CORE_LIMITS_H
#define SL_CORE_LIMITS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf-t.h"

/* Count one more connection from addr on frontend fe_idx unless it already
 * has limit; returns true when counted (the caller must call
 * sl_limits_source_put() later), false when over the limit. */
bool sl_limits_source_get(int fe_idx, const union sl_sockaddr *addr, uint32_t limit);
void sl_limits_source_put(int fe_idx, const union sl_sockaddr *addr);
/* Sources currently tracked (for tests and stats). */
uint32_t sl_limits_source_count(void);
void sl_limits_free(void);

/* A limit divided evenly between workers, rounded up (0 stays 0). */
static inline uint32_t sl_limits_share(uint32_t limit, int nworkers)
{
	return limit ? (limit + (uint32_t)nworkers - 1) / (uint32_t)nworkers : 0;
}

#endif
