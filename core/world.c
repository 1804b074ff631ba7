/*
 * Configurations at run time and reloads (core/ layer), see world.h.
 * Listening sockets: each worker has one SO_REUSEPORT socket per bind. A
 * reload gives worker i of the new world the socket of worker i of the old
 * one when the address is unchanged, so the socket, its accept queue and
 * every connection in it survive: both workers accept on it until the old
 * one cancels its accept. Only sockets of removed binds are closed. A worker
 * count change would leave sockets without a taker, so a reload refuses it
 * (main.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/check.h"
#include "conf/conf.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/stats.h"
#include "core/fdaudit.h"
#include "core/world.h"
#include "core/conn.h"

pthread_mutex_t sl_world_chain_lock = PTHREAD_MUTEX_INITIALIZER;

static int open_listener(const struct sl_config *c, const struct sl_bind_conf *b, char *why,
			 size_t whylen)
{
	int fd, one = 1;
	char addr[80];

	fd = socket(b->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&b->addr.ss, b->addr.len) < 0 ||
	    listen(fd, SOMAXCONN) < 0)
		goto err_close_fd;
	return fd;
err_close_fd:
	close(fd);
err:
	snprintf(why, whylen, "%s:%d: cannot listen on %s: %s", c->path, b->line,
		 sl_conf_addr_str(&b->addr, addr, sizeof(addr)), strerror(errno));
	return -1;
}

static bool same_addr(const struct sl_addr *a, const struct sl_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* The old worker's listener on the same address, not yet given away. */
static struct sl_listener *reusable(struct sl_worker *old, const struct sl_bind_conf *b)
{
	for (int i = 0; old && i < old->nlisteners; i++) {
		struct sl_listener *l = &old->listeners[i];

		if (l->fd >= 0 && !l->handed && !l->closing && same_addr(&l->bind->addr, &b->addr))
			return l;
	}
	return NULL;
}

/* Listeners of one worker: one SO_REUSEPORT socket per bind of every
 * frontend, the old worker's (marked handed only by sl_world_switch) when
 * it listens on the same address. */
static int make_listeners(struct sl_proxy *px, struct sl_worker *w, struct sl_worker *old,
			  char *why, size_t whylen)
{
	const struct sl_config *c = px->conf;
	int n = 0;

	for (int i = 0; i < c->nfrontends; i++)
		n += c->frontends[i].nbinds;
	w->listeners = calloc((size_t)n, sizeof(*w->listeners));
	if (!w->listeners)
		return -ENOMEM;
	for (int i = 0; i < c->nfrontends; i++) {
		for (int j = 0; j < c->frontends[i].nbinds; j++) {
			struct sl_listener *l = &w->listeners[w->nlisteners];
			struct sl_listener *ol;

			l->fe = &c->frontends[i];
			l->fe_idx = i;
			l->bind = &c->frontends[i].binds[j];
			l->xb = sl_xprt_ssl.bind_of(l->bind);
			ol = reusable(old, l->bind);
			if (ol) {
				l->fd = ol->fd;
				l->shared = true;
				l->deferred = true; /* until ol's accept has ended */
				ol->handed = true; /* claimed; undone if the reload fails */
			} else {
				l->fd = open_listener(c, l->bind, why, whylen);
			}
			if (l->fd < 0)
				return -EADDRNOTAVAIL;
			w->nlisteners++;
		}
	}
	return 0;
}

/* File descriptors maxconn can need: a client and a server socket per
 * connection, idle pooled server connections of fixed-size pools (auto
 * pools stay within the server sockets, core/pool.c), listeners, and the
 * process's own (ring, eventfds, log, checker). Server sockets are direct
 * descriptors unless `server_sockets = plain`, not process fds, but they
 * count all the same: the kernel caps a ring's table of direct descriptors
 * at this limit (sl_ring_direct_init). */
static rlim_t fds_needed(const struct sl_config *c)
{
	rlim_t need = (rlim_t)c->maxconn * 2 + 64;

	for (int i = 0; i < c->nfrontends; i++)
		need += (rlim_t)c->frontends[i].nbinds * (rlim_t)c->workers;
	for (int i = 0; i < c->nbackends; i++)
		if (c->backends[i].mode == SL_BE_MODE_HTTP_KEEP_ALIVE)
			need += (rlim_t)sl_pool_max_idle(&c->backends[i]) *
				(rlim_t)c->backends[i].nservers * (rlim_t)c->workers;
	return need;
}

int sl_world_raise_nofile(struct sl_config *c)
{
	rlim_t need = fds_needed(c);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		struct rlimit hard = { .rlim_cur = need, .rlim_max = need };

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return 0;
		if (!c->maxconn_set) {
			/* the default adapts to the limit, as HAProxy's does */
			rlim_t spare = need - (rlim_t)c->maxconn * 2;

			c->maxconn = rl.rlim_max > spare + 2 ? (uint32_t)((rl.rlim_max - spare) / 2) : 1;
			rl.rlim_cur = rl.rlim_max;
			sl_log("maxconn set to %u to fit RLIMIT_NOFILE %llu", c->maxconn,
			       (unsigned long long)rl.rlim_max);
			return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
		}
		fprintf(stderr, "sluice: %s: maxconn %u needs %llu file descriptors but "
			"RLIMIT_NOFILE allows %llu (hard limit, cannot raise it: %s); lower "
			"maxconn or raise the limit (ulimit -n)\n", c->path, c->maxconn,
			(unsigned long long)need, (unsigned long long)rl.rlim_max,
			strerror(errno));
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* The built-in stats service is an http frontend of its own, added to the
 * configuration before anything reads it; its requests never reach a
 * backend (proto/http_local.c serves them). */
static int add_stats_frontend(struct sl_config *c)
{
	struct sl_frontend_conf *fes, *fe;

	if (!c->has_stats)
		return 0;
	fes = realloc(c->frontends, sizeof(*fes) * (size_t)(c->nfrontends + 1));
	if (!fes)
		return -ENOMEM;
	c->frontends = fes;
	fe = &fes[c->nfrontends];
	memset(fe, 0, sizeof(*fe));
	fe->binds = calloc(1, sizeof(*fe->binds));
	if (!fe->binds)
		return -ENOMEM;
	c->nfrontends++;
	snprintf(fe->name, sizeof(fe->name), "stats");
	fe->mode = SL_FE_MODE_HTTP;
	fe->stats = true;
	fe->binds[0].addr = c->stats;
	fe->nbinds = 1;
	fe->backend = 0;
	fe->timeouts = c->frontends[0].timeouts;
	fe->timeouts.ms[SL_TO_HTTP_REQUEST] = 10000;
	fe->timeouts.ms[SL_TO_HTTP_KEEP_ALIVE] = 10000;
	fe->timeouts.ms[SL_TO_CLIENT] = 30000;
	fe->timeouts.ms[SL_TO_CLIENT_FIN] = 1000;
	return 0;
}

struct sl_server *sl_world_server(struct sl_proxy *px, const char *be, const char *name)
{
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *b = &px->backends[i];

		if (strcmp(b->conf->name, be) != 0)
			continue;
		for (int j = 0; j < b->nservers; j++)
			if (strcmp(b->servers[j].conf->name, name) == 0)
				return &b->servers[j];
	}
	return NULL;
}

struct sl_server *sl_world_same_server(struct sl_proxy *px, const struct sl_server *s)
{
	struct sl_server *o = sl_world_server(px, s->be->conf->name, s->conf->name);

	return o && same_addr(&o->conf->addr, &s->conf->addr) ? o : NULL;
}

/* Health and admin state, weight and check counters carry over. An admin
 * state or weight the admin API changed (it differs from what the old file
 * said) wins over the new file; otherwise the new file applies. */
static void carry_server(struct sl_server *s, const struct sl_server *o)
{
	int o_admin = atomic_load(&o->admin), o_weight = atomic_load(&o->weight);

	atomic_store(&s->state, atomic_load(&o->state));
	if (o_admin != (o->conf->disabled ? SL_SRV_ADMIN_MAINT : SL_SRV_ADMIN_READY))
		atomic_store(&s->admin, o_admin);
	if (o_weight != o->conf->weight)
		atomic_store(&s->weight, o_weight);
	atomic_store(&s->last_check, atomic_load(&o->last_check));
	for (int k = 0; k < SL_CHECK_REASONS; k++)
		atomic_store(&s->check_res[k], atomic_load(&o->check_res[k]));
	for (int k = 0; k <= SL_CHECK_BUCKETS; k++)
		atomic_store(&s->check_hist[k], atomic_load(&o->check_hist[k]));
	atomic_store(&s->check_ms_sum, atomic_load(&o->check_ms_sum));
	atomic_store(&s->total, atomic_load(&o->total));
}

static void carry_servers(struct sl_proxy *px, struct sl_proxy *prev)
{
	for (int i = 0; prev && i < px->conf->nbackends; i++) {
		for (int j = 0; j < px->backends[i].nservers; j++) {
			struct sl_server *s = &px->backends[i].servers[j];
			struct sl_server *o = sl_world_same_server(prev, s);

			if (o)
				carry_server(s, o);
		}
	}
}

/* Close what the world owns (its workers have exited or never started)
 * and free it. Sockets still shared with the previous world stay open. */
static void world_free(struct sl_proxy *px)
{
	if (!px)
		return;
	sl_check_stop(px->checker);
	for (int i = 0; px->workers && i < px->nworkers; i++) {
		struct sl_worker *w = &px->workers[i];

		for (int j = 0; j < w->nlisteners; j++)
			if (w->listeners[j].fd >= 0 && !w->listeners[j].shared &&
			    !w->listeners[j].handed)
				close(w->listeners[j].fd);
		free(w->listeners);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		sl_stats_free(w);
	}
	free(px->workers);
	sl_backends_free(px->backends, px->conf->nbackends);
	free(px->carry_fe);
	free(px->carry_be);
	free(px->carry_srv);
	sl_xprt_ssl.release(px->conf);
	sl_conf_free((struct sl_config *)px->conf);
	free(px);
}

/* Give back the sockets a failed reload had claimed from prev. */
static void unclaim(struct sl_proxy *px, struct sl_proxy *prev)
{
	for (int i = 0; prev && i < px->nworkers && i < prev->nworkers; i++) {
		struct sl_worker *w = &px->workers[i], *o = &prev->workers[i];

		for (int j = 0; j < w->nlisteners; j++) {
			if (!w->listeners[j].shared)
				continue;
			for (int k = 0; k < o->nlisteners; k++)
				if (o->listeners[k].fd == w->listeners[j].fd)
					o->listeners[k].handed = false;
		}
	}
}

static int setup_workers(struct sl_proxy *px, struct sl_proxy *prev, char *why, size_t whylen)
{
	px->nworkers = px->conf->workers;
	px->workers = calloc((size_t)px->nworkers, sizeof(*px->workers));
	if (!px->workers)
		return -ENOMEM;
	for (int i = 0; i < px->nworkers; i++)
		px->workers[i].wake_fd = -1;
	for (int i = 0; i < px->nworkers; i++) {
		struct sl_worker *w = &px->workers[i];
		struct sl_worker *old = prev && i < prev->nworkers ? &prev->workers[i] : NULL;

		w->id = i;
		w->px = px;
		w->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (w->wake_fd < 0) {
			snprintf(why, whylen, "eventfd: %s", strerror(errno));
			return -errno;
		}
		if (make_listeners(px, w, old, why, whylen) < 0)
			return -EINVAL;
	}
	return 0;
}

static void stop_workers(struct sl_proxy *px, int started)
{
	atomic_store(&px->stopping, 1);
	for (int i = 0; i < started; i++)
		sl_worker_wake(&px->workers[i]);
	for (int i = 0; i < started; i++)
		sl_worker_join(&px->workers[i]);
}

static int alloc_carry(struct sl_proxy *px)
{
	const struct sl_config *c = px->conf;
	int nsrv = 0;

	for (int i = 0; i < c->nbackends; i++)
		nsrv += c->backends[i].nservers;
	px->carry_fe = calloc((size_t)c->nfrontends + 1, sizeof(*px->carry_fe));
	px->carry_be = calloc((size_t)c->nbackends + 1, sizeof(*px->carry_be));
	px->carry_srv = calloc((size_t)nsrv + 1, sizeof(*px->carry_srv));
	return px->carry_fe && px->carry_be && px->carry_srv ? 0 : -ENOMEM;
}

bool sl_world_accepting(const struct sl_proxy *px)
{
	return atomic_load(&px->accepting) == px->nworkers;
}

struct sl_proxy *sl_world_start(struct sl_config *conf, struct sl_proxy *prev, char *why,
				size_t whylen)
{
	struct sl_proxy *px = calloc(1, sizeof(*px));
	int started = 0;

	if (!px) {
		sl_xprt_ssl.release(conf);
		sl_conf_free(conf);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	px->conf = conf;
	px->gen = prev ? prev->gen + 1 : 1;
	snprintf(why, whylen, "out of memory");
	if (add_stats_frontend(conf) < 0 || alloc_carry(px) < 0 ||
	    sl_backends_init(conf, &px->backends) < 0 ||
	    setup_workers(px, prev, why, whylen) < 0)
		goto err;
	carry_servers(px, prev);
	if (sl_check_start(px->backends, conf->nbackends, &px->checker, why, whylen) < 0)
		goto err;
	for (started = 0; started < px->nworkers; started++) {
		struct sl_worker *w = &px->workers[started];

		if (sl_worker_start(w) < 0) {
			snprintf(why, whylen, "worker %d: %s", started, w->why);
			goto err;
		}
	}
	/* a ring and a wake eventfd per worker, and the checker's */
	px->fixed_fds = 2 * px->nworkers + (px->checker ? 2 : 0);
	return px;
err:
	unclaim(px, prev); /* before the stop: it finds the sockets by fd */
	stop_workers(px, started);
	world_free(px);
	return NULL;
}

void sl_world_switch(struct sl_proxy *next, struct sl_proxy *prev, struct sl_world_diff *d)
{
	memset(d, 0, sizeof(*d));
	for (int i = 0; i < next->nworkers; i++) {
		struct sl_worker *w = &next->workers[i];

		for (int j = 0; j < w->nlisteners; j++) {
			if (i == 0)
				w->listeners[j].shared ? d->binds_kept++ : d->binds_added++;
			/* the eventfd write below orders this for the worker */
			w->listeners[j].shared = false;
		}
	}
	for (int j = 0; j < prev->workers[0].nlisteners; j++)
		d->binds_removed += !prev->workers[0].listeners[j].handed;
	for (int i = 0; i < next->conf->nbackends; i++)
		for (int j = 0; j < next->backends[i].nservers; j++)
			sl_world_same_server(prev, &next->backends[i].servers[j]) ?
				d->servers_kept++ : d->servers_added++;
	for (int i = 0; i < prev->conf->nbackends; i++)
		for (int j = 0; j < prev->backends[i].nservers; j++)
			d->servers_removed +=
				!sl_world_same_server(next, &prev->backends[i].servers[j]);
	for (int i = 0; i < prev->nworkers && i < next->nworkers; i++)
		prev->workers[i].successor = &next->workers[i]; /* ordered by the wake */
	/* the old checker stops: its servers' states freeze, which only the
	 * retries of its draining sessions read; the new checker took over */
	sl_check_stop(prev->checker);
	pthread_mutex_lock(&sl_world_chain_lock);
	prev->checker = NULL;
	prev->fixed_fds = 2 * prev->nworkers; /* its checker's ring and eventfd are gone */
	next->older = prev;
	pthread_mutex_unlock(&sl_world_chain_lock);
	atomic_store(&prev->retiring, 1);
	for (int i = 0; i < prev->nworkers; i++)
		sl_worker_wake(&prev->workers[i]);
}

/* Every worker of px has exited, and none of the configuration px replaced
 * will still tell one of them about the socket handover or hand it pooled
 * connections. */
static bool finished(const struct sl_proxy *px)
{
	for (int i = 0; i < px->nworkers; i++)
		if (!atomic_load(&px->workers[i].done))
			return false;
	for (int i = 0; px->older && i < px->older->nworkers; i++)
		if (px->older->workers[i].successor && !atomic_load(&px->older->workers[i].done) &&
		    (!atomic_load(&px->older->workers[i].handover_told) ||
		     !atomic_load(&px->older->workers[i].pool_told)))
			return false;
	return true;
}

void sl_world_reap(struct sl_proxy *cur)
{
	struct sl_proxy **pp = &cur->older;

	while (*pp) {
		struct sl_proxy *o = *pp;

		if (!finished(o)) {
			pp = &o->older;
			continue;
		}
		for (int i = 0; i < o->nworkers; i++) {
			sl_worker_join(&o->workers[i]);
			/* its ring is closed (sl_fdaudit_worker_stop); its eventfd
			 * goes now, so the audit never counts an fd o no longer has */
			if (o->workers[i].wake_fd >= 0)
				sl_fdaudit_close_fixed(o, o->workers[i].wake_fd);
			o->workers[i].wake_fd = -1;
		}
		pthread_mutex_lock(&sl_world_chain_lock);
		*pp = o->older;
		o->older = NULL;
		/* under the lock: a stats page sees o or its counters, not both */
		sl_stats_fold(cur, o);
		pthread_mutex_unlock(&sl_world_chain_lock);
		sl_fdaudit_barrier(); /* a sample that still walks o ends first */
		sl_log("configuration %u: last session ended, released", o->gen);
		world_free(o);
	}
}

int sl_world_draining(const struct sl_proxy *cur)
{
	int n = 0;

	for (const struct sl_proxy *o = cur->older; o; o = o->older)
		n++;
	return n;
}

void sl_world_stop_all(struct sl_proxy *cur)
{
	struct sl_proxy *o;

	for (o = cur; o; o = o->older) {
		atomic_store(&o->stopping, 1);
		for (int i = 0; i < o->nworkers; i++)
			sl_worker_wake(&o->workers[i]);
	}
	for (o = cur; o; o = o->older)
		for (int i = 0; i < o->nworkers; i++)
			sl_worker_join(&o->workers[i]);
	/* after the drain: states stay current during it */
	sl_check_stop(cur->checker);
	cur->checker = NULL;
	while (cur) {
		o = cur->older;
		world_free(cur);
		cur = o;
	}
}
