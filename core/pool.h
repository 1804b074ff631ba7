/*
 * Server connection pools (core/ layer), for http-keep-alive backends: idle
 * server connections kept per server and per worker, reused across requests
 * and clients. A pooled connection keeps its multishot recv armed from its
 * first return to the pool until it closes: while idle, a server that closes
 * it (or sends anything unasked) is seen at once and the connection leaves
 * the pool. One io_uring timeout per worker enforces
 * pool_idle_timeout and pool_max_lifetime. pool_max_idle bounds each
 * server's idle list: a fixed number, or (auto, the default) the most
 * connections to the server that were busy at once lately, the surplus
 * closed progressively every pool_purge_interval; pool_max_requests is
 * checked by the caller on put.
 * A reload hands idle connections of unchanged servers to the next
 * configuration's worker (sl_pool_hand_over, sl_pool_adopt).
 */
#ifndef SL_CORE_POOL_H
#define SL_CORE_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include "conf/conf-t.h"
#include "core/pool-t.h"

struct io_uring_cqe;
struct sl_conn;
struct sl_worker;

struct sl_server;

/* Facts about a server connection that travel with it. */
struct sl_pool_meta {
	uint64_t created_ms;
	uint32_t requests;    /* requests already sent on it */
};

int sl_pool_init(struct sl_worker *w);
void sl_pool_free(struct sl_worker *w);

/* Lend an idle connection to srv to a session of the client at peer (on a
 * server with send_proxy*, only one opened for peer's IP address): the
 * caller owns it from now on (sl_conn_attach) and fills meta; NULL when
 * none is idle. Its recv stays armed. */
struct sl_conn *sl_pool_get(struct sl_worker *w, struct sl_server *srv,
			    const union sl_sockaddr *peer, struct sl_pool_meta *meta);
/* Give connection c to the pool, which owns it from now on (and closes it
 * if it cannot keep it). src is the address of the client the connection
 * serves: on servers with send_proxy* it went to the server in a PROXY
 * header, so sl_pool_get() lends the connection only to sessions of a
 * client with the same IP address. */
void sl_pool_put(struct sl_worker *w, struct sl_server *srv, struct sl_conn *c,
		 const struct sl_pool_meta *meta, const union sl_sockaddr *src);
/* An idle entry's expiry came due in the worker's heap: close it. */
void sl_pool_on_timer(struct sl_worker *w, struct sl_timerq_ent *t);
/* A backend's purge came due (auto pools): close part of each server's
 * idle surplus over recent demand, start the next period. */
void sl_pool_on_purge(struct sl_worker *w, struct sl_timerq_ent *t);

/* A session took a slot of server sidx (w->srv_active[sidx] counts it
 * already) or gave one back: the demand auto pools follow. O(1), except
 * that taking one past the fd budget closes idle auto connections. */
void sl_pool_busy_inc(struct sl_worker *w, uint32_t sidx);
void sl_pool_busy_dec(struct sl_worker *w);
/* Close every idle connection (worker stopping). */
void sl_pool_close_all(struct sl_worker *w);
/* Reload (the worker retires): each idle connection whose server is the
 * same in the successor's configuration (sl_world_same_server, backend
 * still http-keep-alive) has its recv cancelled and, once nothing of it is
 * left in our ring, is queued for the successor with its age and request
 * count; the others are closed. w->pool_told is set when all are done. */
void sl_pool_hand_over(struct sl_worker *w);
/* Successor side (the worker runs it when woken): adopt what was queued
 * into the idle lists, or close what the pool cannot keep (full, expired,
 * server drained, worker retiring). */
void sl_pool_adopt(struct sl_worker *w);
/* At worker exit (ring gone): close anything still queued and refuse
 * further handovers. */
void sl_pool_xfer_close(struct sl_worker *w);
/* Close the idle connections of servers the admin API put in drain or
 * maint (the worker runs it when woken after such a change). */
void sl_pool_drop_drained(struct sl_worker *w);
/* Connections the pool owns right now (idle or being closed). */
uint32_t sl_pool_count(const struct sl_worker *w);
/* Entries not yet free (idle or draining): a stopping worker waits for 0. */
uint32_t sl_pool_active(const struct sl_worker *w);

/* pool_max_idle = auto (the default): idle lists follow demand. */
bool sl_pool_auto(const struct sl_backend_conf *bc);
/* The fixed pool_max_idle (0 in auto mode). */
uint32_t sl_pool_max_idle(const struct sl_backend_conf *bc);
uint64_t sl_pool_purge_interval(const struct sl_backend_conf *bc);
uint64_t sl_pool_idle_timeout(const struct sl_backend_conf *bc);
uint64_t sl_pool_max_lifetime(const struct sl_backend_conf *bc);
uint32_t sl_pool_max_requests(const struct sl_backend_conf *bc);

#endif
