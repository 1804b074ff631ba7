/*
 * Pool types (core/ layer): the idle server connections of a worker, per
 * server, for http-keep-alive backends (core/pool.c).
 */
#ifndef SL_CORE_POOL_T_H
#define SL_CORE_POOL_T_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>

#include "conf/conf-t.h"
#include "core/timerq.h"

struct sl_conn;
struct sl_server;

/* An idle server connection the pool owns (from its return to the pool
 * until a session borrows it, or it closes, or it is handed over). */
struct sl_pool_conn {
	struct sl_conn *conn;
	uint8_t state;       /* free, idle, handing */
	uint32_t requests;
	uint32_t sidx;       /* server index in the worker's idle lists */
	uint64_t created_ms;
	uint64_t idle_ms;    /* when it last became idle */
	uint64_t expire_ms;  /* idle: pool_idle_timeout or pool_max_lifetime */
	struct sl_timerq_ent tq; /* queued for expire_ms while idle */
	struct sl_server *srv;
	/* servers with send_proxy*: the client address its PROXY header named */
	union sl_sockaddr src;
	struct sl_pool_conn *prev, *next;
	/* auto pools (pool_max_idle = auto): the worker's list of every such
	 * idle entry, most recent first (evicted from the tail, core/pool.c) */
	struct sl_pool_conn *lprev, *lnext;
	bool autom;
	/* being handed to the successor worker after a reload: the matching
	 * server there; spoiled if its recv saw data, EOF or an error while
	 * it was cancelled (then it is closed instead) */
	struct sl_server *xsrv;
	bool spoiled;
};

/* An idle pooled connection on its way from a retired worker to its
 * successor (core/pool.c): no request on fd is left in the old ring. */
struct sl_pool_xfer {
	int fd;
	struct sl_server *srv;   /* in the successor's configuration */
	uint64_t created_ms, idle_ms;
	uint32_t requests;
};

struct sl_pool {
	struct sl_pool_conn *conns;
	uint32_t nconns, hwm;
	struct sl_pool_conn *free;
	struct sl_pool_conn **idle;  /* per server (global index): most recent first */
	struct sl_pool_conn **tail;  /* per server: the longest idle */
	uint32_t *nidle;
	/* Auto pools follow demand. Per server: the most of its connections
	 * busy at once since the last purge (peak) and in the period before
	 * (need); an idle list holds at most the larger. */
	uint32_t *peak, *need;
	struct sl_timerq_ent *purge; /* per backend: its next purge (auto only) */
	struct sl_pool_conn *lru, *lru_tail; /* auto idle entries, most recent first */
	uint32_t nauto;              /* idle entries of auto pools */
	uint32_t auto_max;           /* nauto + busy stays under this (fd budget) */
	uint32_t busy;               /* server slots held by the worker's sessions */
	uint32_t *base;              /* per backend: global index of its first server */
	uint32_t owned;              /* idle entries (they hold a connection) */
	uint32_t handing;            /* entries being handed to the successor */
	uint32_t handed, dropped;    /* at the reload: handed over, closed */
	/* Connections a predecessor handed to this worker, not yet adopted.
	 * Under sl_world_chain_lock: the fd audit counts them (nxfer) in the
	 * same critical section that moves them between workers' counts. */
	struct sl_pool_xfer *xfer;
	uint32_t nxfer, xfer_cap;
	bool xfer_closed;            /* the worker is gone: push nothing more */
};

#endif
