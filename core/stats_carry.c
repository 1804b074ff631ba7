/*
 * Counters across reloads (core/ layer). A reload gives every frontend,
 * backend and server new counter arrays (its workers are new). So that
 * /metrics never goes back, the stats pages add two things to the running
 * configuration's counters, matched by identity (frontend name, backend
 * name, backend + server name + address): the live counters of the retired
 * configurations still draining (their sessions are still counted in the
 * gauges too), and the final counters of those already freed, folded into
 * px->carry_* when they were. Counters of names that are gone are dropped.
 */
#include <string.h>

#include "core/proxy.h"
#include "core/stats.h"

static int fe_index(const struct sl_config *c, const char *name)
{
	for (int i = 0; i < c->nfrontends; i++)
		if (strcmp(c->frontends[i].name, name) == 0)
			return i;
	return -1;
}

static int be_index(const struct sl_config *c, const char *name)
{
	for (int i = 0; i < c->nbackends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return i;
	return -1;
}

/* Global server index of (backend b of src, server j) in dst, or -1. */
static int srv_index(const struct sl_config *dst, const struct sl_config *src, int b, int j)
{
	const struct sl_server_conf *s = &src->backends[b].servers[j];
	int db = be_index(dst, src->backends[b].name), g = 0;

	if (db < 0)
		return -1;
	for (int i = 0; i < db; i++)
		g += dst->backends[i].nservers;
	for (int k = 0; k < dst->backends[db].nservers; k++) {
		const struct sl_server_conf *d = &dst->backends[db].servers[k];

		if (strcmp(d->name, s->name) == 0 && d->addr.len == s->addr.len &&
		    memcmp(&d->addr.ss, &s->addr.ss, s->addr.len) == 0)
			return g + k;
	}
	return -1;
}

/* dst[k] += src[k] for n counters; atomic: dst is read by other threads. */
static void add(uint64_t *dst, const uint64_t *src, size_t n, bool atomic)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t v = __atomic_load_n(&src[k], __ATOMIC_RELAXED);

		if (atomic)
			__atomic_fetch_add(&dst[k], v, __ATOMIC_RELAXED);
		else
			dst[k] += v;
	}
}

#define N(type) (sizeof(type) / sizeof(uint64_t))

/* One set of src-indexed arrays added into dst-indexed ones. */
static void add_arrays(const struct sl_config *d, const struct sl_config *c,
		       const struct sl_fe_stats *sfe, const struct sl_be_stats *sbe,
		       const struct sl_srv_stats *ssrv, struct sl_fe_stats *fe,
		       struct sl_be_stats *be, struct sl_srv_stats *srv, bool atomic)
{
	int g = 0;

	for (int i = 0; i < c->nfrontends; i++) {
		int m = fe_index(d, c->frontends[i].name);

		if (m >= 0)
			add((uint64_t *)&fe[m], (const uint64_t *)&sfe[i], N(*fe), atomic);
	}
	for (int i = 0; i < c->nbackends; i++) {
		int m = be_index(d, c->backends[i].name);

		if (m >= 0)
			add((uint64_t *)&be[m], (const uint64_t *)&sbe[i], N(*be), atomic);
		for (int j = 0; j < c->backends[i].nservers; j++, g++) {
			int k = srv_index(d, c, i, j);

			if (k >= 0)
				add((uint64_t *)&srv[k], (const uint64_t *)&ssrv[g], N(*srv),
				    atomic);
		}
	}
}

/* Everything src counted (its workers and its own carry) into arrays
 * indexed like dst's configuration. */
static void add_world(const struct sl_proxy *dst, const struct sl_proxy *src,
		      struct sl_fe_stats *fe, struct sl_be_stats *be, struct sl_srv_stats *srv,
		      bool atomic)
{
	for (int w = 0; w < src->nworkers; w++) {
		const struct sl_wstats *st = src->workers[w].st;

		if (st)
			add_arrays(dst->conf, src->conf, st->fe, st->be, st->srv, fe, be, srv,
				   atomic);
	}
	add_arrays(dst->conf, src->conf, src->carry_fe, src->carry_be, src->carry_srv, fe, be,
		   srv, atomic);
}

void sl_stats_fold(struct sl_proxy *dst, const struct sl_proxy *src)
{
	add_world(dst, src, dst->carry_fe, dst->carry_be, dst->carry_srv, true);
}

void sl_stats_add_older(const struct sl_proxy *px, struct sl_fe_stats *fe,
			struct sl_be_stats *be, struct sl_srv_stats *srv)
{
	const struct sl_config *c = px->conf;
	int nsrv = 0;

	for (int i = 0; i < c->nbackends; i++)
		nsrv += c->backends[i].nservers;
	pthread_mutex_lock(&sl_world_chain_lock);
	add((uint64_t *)fe, (const uint64_t *)px->carry_fe, N(*fe) * (size_t)c->nfrontends, false);
	add((uint64_t *)be, (const uint64_t *)px->carry_be, N(*be) * (size_t)c->nbackends, false);
	add((uint64_t *)srv, (const uint64_t *)px->carry_srv, N(*srv) * (size_t)nsrv, false);
	for (const struct sl_proxy *o = px->older; o; o = o->older)
		add_world(px, o, fe, be, srv, false);
	pthread_mutex_unlock(&sl_world_chain_lock);
}
