/*
 * Backends and servers at run time (core/ layer): the state shared by all
 * workers and the health checker (server state, current session counts, the
 * balancer's position) next to the immutable configuration. A server's state
 * is an atomic written only by the checker and read by every worker without
 * a lock, so a state change is seen by the next pick in every thread.
 * Round robin and leastconn keep a little position state under one mutex per
 * backend, taken once per new server connection, never per packet; source
 * and random need no lock.
 */
#ifndef SL_CORE_BACKEND_H
#define SL_CORE_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include "conf/conf-t.h"

/* Server states. A server starts UP (a fresh proxy serves at once); the
 * checker moves a checked server to DOWN after check_fall failures in a row
 * and back after check_rise successes. MAINT and DRAIN are never health
 * states: they are what sl_server_status() reports from the admin state. */
enum sl_srv_state { SL_SRV_UP = 0, SL_SRV_DOWN, SL_SRV_MAINT, SL_SRV_DRAIN };

/* What the operator set through the admin API (core/admin.c); independent
 * of the health state, so that `ready` returns to whatever the checks say.
 * DRAIN: no new connection or request, checks go on. MAINT: the same and
 * checks stop. A server `disabled` in the file starts in MAINT. */
enum sl_srv_admin { SL_SRV_ADMIN_READY = 0, SL_SRV_ADMIN_DRAIN, SL_SRV_ADMIN_MAINT };

#define SL_SRV_WEIGHT_MAX 256

#define SL_CHECK_REASONS 9   /* enum sl_check_reason (checks/check_http.h) */
#define SL_CHECK_BUCKETS 6   /* check duration buckets, see core/stats.c */

struct sl_server {
	const struct sl_server_conf *conf;
	struct sl_backend *be;
	atomic_int state;            /* enum sl_srv_state: health, by the checker */
	atomic_int admin;            /* enum sl_srv_admin, by the admin thread */
	atomic_int weight;           /* 0..256: the file's, or the admin API's */
	atomic_int last_check;       /* enum sl_check_reason of the last probe + 1, 0: none */
	int cur_weight;              /* smooth weighted round robin, under be->lock */
	uint64_t name_hash;          /* source hashing: the server's identity */
	atomic_uint sessions;        /* current sessions using this server */
	atomic_ulong total;          /* sessions ever sent to this server */
	/* health check results, written by the checker thread only */
	atomic_ulong check_res[SL_CHECK_REASONS];  /* by enum sl_check_reason */
	atomic_ulong check_hist[SL_CHECK_BUCKETS + 1]; /* duration, ms buckets, +Inf */
	atomic_ulong check_ms_sum;
};

struct sl_backend {
	const struct sl_backend_conf *conf;
	pthread_mutex_t lock;
	struct sl_server *servers;
	int nservers;
	int lc_next;                 /* leastconn: where ties start, under lock */
};

/* Build runtime state for every backend of conf. Returns 0 or -ENOMEM. */
int sl_backends_init(const struct sl_config *conf, struct sl_backend **out);
void sl_backends_free(struct sl_backend *bes, int n);

/*
 * Choose a server for a new connection with the backend's balance
 * algorithm, among the UP primaries, or among the UP backups when no primary
 * is UP. DOWN and MAINT servers are never chosen. client (may be NULL) is
 * the client's address, used by balance source (without it, source falls
 * back to round robin). exclude (may be NULL) is skipped when another
 * candidate is available, so a retry after a failed connect goes elsewhere.
 * Returns NULL when no server is UP. Borrowed pointer, valid for the process
 * lifetime. The caller counts the new session in the server's `sessions`
 * (leastconn and random read it).
 */
struct sl_server *sl_backend_pick(struct sl_backend *be, const union sl_sockaddr *client,
				  const struct sl_server *exclude);

static inline enum sl_srv_state sl_server_state(const struct sl_server *s)
{
	return (enum sl_srv_state)atomic_load_explicit(&s->state, memory_order_relaxed);
}

/* The state an operator sees (admin API, stats): MAINT or DRAIN when the
 * admin state says so, else the health state. */
static inline enum sl_srv_state sl_server_status(const struct sl_server *s)
{
	int a = atomic_load_explicit(&s->admin, memory_order_relaxed);

	if (a == SL_SRV_ADMIN_MAINT)
		return SL_SRV_MAINT;
	if (a == SL_SRV_ADMIN_DRAIN)
		return SL_SRV_DRAIN;
	return sl_server_state(s) == SL_SRV_UP ? SL_SRV_UP : SL_SRV_DOWN;
}

static inline int sl_server_weight(const struct sl_server *s)
{
	return atomic_load_explicit(&s->weight, memory_order_relaxed);
}

/* May take a new connection or request: UP, not drained or in maintenance,
 * weight above 0. Every worker reads the atomics, so an admin change
 * applies to the next balancing decision everywhere. */
static inline bool sl_server_usable(const struct sl_server *s)
{
	return sl_server_status(s) == SL_SRV_UP && sl_server_weight(s) > 0;
}

/* Number of servers of be that are UP (and not drained or in maintenance),
 * primaries and backups. */
void sl_backend_count_up(const struct sl_backend *be, int *primaries, int *backups);

#endif
