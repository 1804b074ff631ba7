/*
 * Server connection pools (core/ layer), for http-keep-alive backends: idle
 * server connections kept per server and per worker, reused across requests
 * and clients. An idle connection keeps a multishot recv armed, so a server
 * that closes it (or sends anything unasked) is seen at once and the
 * connection leaves the pool; one io_uring timeout per connection enforces
 * pool_idle_timeout and pool_max_lifetime. pool_max_idle bounds each
 * server's idle list; pool_max_requests is checked by the caller on put.
 */
#ifndef SL_CORE_POOL_H
#define SL_CORE_POOL_H

#include <stdint.h>
#include "core/session-t.h"

struct sl_server;

/* Facts about a server connection that travel with it. */
struct sl_pool_meta {
	uint64_t created_ms;
	uint32_t requests;    /* requests already sent on it */
};

int sl_pool_init(struct sl_worker *w);
void sl_pool_free(struct sl_worker *w);

/* Take an idle connection to srv: returns its fd (the caller owns it from
 * now on) and fills meta, or -1 when none is idle. */
int sl_pool_get(struct sl_worker *w, struct sl_server *srv, struct sl_pool_meta *meta);
/* Give a connection to the pool (the pool owns fd from now on, and closes
 * it if it cannot keep it). The caller must have cancelled its own requests
 * on fd in an SQE before this call. */
void sl_pool_put(struct sl_worker *w, struct sl_server *srv, int fd,
		 const struct sl_pool_meta *meta);
/* Route a pool completion (ops SL_OP_POOL_*). */
void sl_pool_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe);
/* Close every idle connection (worker stopping). */
void sl_pool_close_all(struct sl_worker *w);
/* Connections the pool owns right now (idle or being closed). */
uint32_t sl_pool_count(const struct sl_worker *w);
/* Entries not yet free (idle or draining): a stopping worker waits for 0. */
uint32_t sl_pool_active(const struct sl_worker *w);

uint32_t sl_pool_max_idle(const struct sl_backend_conf *bc);
uint64_t sl_pool_idle_timeout(const struct sl_backend_conf *bc);
uint64_t sl_pool_max_lifetime(const struct sl_backend_conf *bc);
uint32_t sl_pool_max_requests(const struct sl_backend_conf *bc);

#endif
