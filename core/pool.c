/*
 * Server connection pools (core/ layer). An entry is an idle server
 * connection (struct sl_conn) of an http-keep-alive backend: the pool is
 * its owner from its return until a session borrows it (sl_pool_get), it
 * closes, or a reload hands it to the next configuration. The connection
 * keeps its multishot recv armed the whole time, so a server that closes an
 * idle connection (or sends anything unasked) is seen at once: any event of
 * an idle connection retires it. Lending and taking back submit nothing.
 * pool_idle_timeout and pool_max_lifetime are enforced by the worker's
 * deadline heap (core/timerq.c), under its one io_uring timeout: each idle
 * entry is queued for its expiry when it becomes idle and taken out when it
 * is lent or closed, O(log n) and no ring request either way, and an entry
 * that comes due is closed by itself (no sweep over every entry). An
 * expired entry is never handed out.
 *
 * pool_max_idle = auto (the default) sizes each server's idle list by
 * demand, bounded. Sessions report every server slot they take
 * (sl_pool_busy_inc): peak is the most connections to the server busy at
 * once since the backend's last purge, need the same for the period
 * before, and the idle list keeps a returning connection while it is
 * shorter than the larger of the two. Every pool_purge_interval (a deadline
 * in the same heap, armed while the backend has idle connections or recent
 * demand) the connections to a server beyond the period's peak, busy and
 * idle together, are the surplus: half of it (rounded up) is closed, the
 * longest idle first, so a pool shrinks by halves after a burst while
 * pool_idle_timeout still closes whatever stays unused. The bound that does
 * not move: idle connections of auto pools plus server slots held stay
 * under the worker's share of maxconn (auto_max), so a worker's server
 * sockets stay within the fds maxconn already reserves for them (a socket
 * per client, one per server connection); a new connection opened past it
 * closes the worker's longest idle auto entry first.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/conn.h"
#include "core/stats.h"
#include "core/table.h"
#include "proto/proxy.h"
#include "core/world.h"
#include "ring/udata.h"

enum { ENT_FREE = 0, ENT_IDLE, ENT_HANDING };

#define POOL_ENTRIES_MAX 65536u

bool sl_pool_auto(const struct sl_backend_conf *bc)
{
	return !bc->pool_max_idle_set;
}

uint32_t sl_pool_max_idle(const struct sl_backend_conf *bc)
{
	return bc->pool_max_idle_set ? bc->pool_max_idle : 0;
}

uint64_t sl_pool_purge_interval(const struct sl_backend_conf *bc)
{
	return bc->pool_purge_interval_ms ? bc->pool_purge_interval_ms : 5000;
}

uint64_t sl_pool_idle_timeout(const struct sl_backend_conf *bc)
{
	return bc->pool_idle_timeout_ms ? bc->pool_idle_timeout_ms : 30000;
}

uint64_t sl_pool_max_lifetime(const struct sl_backend_conf *bc)
{
	return bc->pool_max_lifetime_ms ? bc->pool_max_lifetime_ms : 300000;
}

uint32_t sl_pool_max_requests(const struct sl_backend_conf *bc)
{
	return bc->pool_max_requests ? bc->pool_max_requests : 1000;
}

int sl_pool_init(struct sl_worker *w)
{
	const struct sl_config *c = w->px->conf;
	struct sl_pool *p = &w->pool;
	uint64_t want = 0;
	uint32_t nsrv = 0;
	bool any_auto = false;
	size_t ns;

	p->base = calloc((size_t)c->nbackends + 1, sizeof(*p->base));
	p->purge = calloc((size_t)c->nbackends + 1, sizeof(*p->purge));
	if (!p->base || !p->purge)
		return -ENOMEM;
	for (int i = 0; i < c->nbackends; i++) {
		p->base[i] = nsrv;
		p->purge[i].kind = SL_TQ_PURGE;
		nsrv += (uint32_t)c->backends[i].nservers;
		if (c->backends[i].mode != SL_BE_MODE_HTTP_KEEP_ALIVE)
			continue;
		if (sl_pool_auto(&c->backends[i]))
			any_auto = true;
		else
			want += (uint64_t)sl_pool_max_idle(&c->backends[i]) *
				(uint64_t)c->backends[i].nservers;
	}
	p->base[c->nbackends] = nsrv; /* the total: sizes per-server arrays */
	if (any_auto) {
		p->auto_max = sl_limits_share(c->maxconn, w->px->nworkers);
		want += p->auto_max;
	}
	p->nconns = want > POOL_ENTRIES_MAX ? POOL_ENTRIES_MAX : (uint32_t)want;
	ns = nsrv ? nsrv : 1;
	p->idle = calloc(ns, sizeof(*p->idle));
	p->tail = calloc(ns, sizeof(*p->tail));
	p->nidle = calloc(ns, sizeof(*p->nidle));
	p->peak = calloc(ns, sizeof(*p->peak));
	p->need = calloc(ns, sizeof(*p->need));
	/* used as load comes: pages are touched only up to the high-water mark */
	p->conns = p->nconns ? sl_table_alloc(p->nconns, sizeof(*p->conns)) : NULL;
	if (!p->idle || !p->tail || !p->nidle || !p->peak || !p->need ||
	    (p->nconns && !p->conns))
		return -ENOMEM;
	return 0;
}

void sl_pool_free(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	/* the connections themselves are the connection table's */
	sl_table_free(p->conns, p->nconns, sizeof(*p->conns));
	free(p->idle);
	free(p->tail);
	free(p->nidle);
	free(p->peak);
	free(p->need);
	free(p->base);
	free(p->purge);
	p->conns = NULL;
	p->idle = p->tail = NULL;
	p->nidle = p->peak = p->need = NULL;
	p->base = NULL;
	p->purge = NULL;
}

static uint32_t server_index(struct sl_worker *w, const struct sl_server *srv)
{
	const struct sl_backend *be = srv->be;

	return w->pool.base[be - w->px->backends] + (uint32_t)(srv - be->servers);
}

/* Out of its server's idle list and out of the deadline heap. */
static void unlink_idle(struct sl_worker *w, struct sl_pool_conn *e)
{
	struct sl_pool *p = &w->pool;

	sl_worker_timer_del(w, &e->tq);
	if (e->prev)
		e->prev->next = e->next;
	else
		p->idle[e->sidx] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		p->tail[e->sidx] = e->prev;
	e->prev = e->next = NULL;
	if (e->autom) {
		if (e->lprev)
			e->lprev->lnext = e->lnext;
		else
			p->lru = e->lnext;
		if (e->lnext)
			e->lnext->lprev = e->lprev;
		else
			p->lru_tail = e->lprev;
		e->lprev = e->lnext = NULL;
		p->nauto--;
	}
	p->nidle[e->sidx]--;
	p->owned--;
}

static void release(struct sl_pool *p, struct sl_pool_conn *e)
{
	e->state = ENT_FREE;
	e->next = p->free;
	p->free = e;
}

/* Leave the pool because the connection is no longer reusable. */
static void retire(struct sl_worker *w, struct sl_pool_conn *e)
{
	unlink_idle(w, e);
	sl_conn_close(e->conn, false);
	e->conn = NULL;
	release(&w->pool, e);
}

void sl_pool_on_timer(struct sl_worker *w, struct sl_timerq_ent *t)
{
	struct sl_pool_conn *e =
		(struct sl_pool_conn *)((char *)t - offsetof(struct sl_pool_conn, tq));

	/* only idle entries are queued, for their expiry */
	if (e->state == ENT_IDLE)
		retire(w, e);
}

/* ---- auto pools: demand, purge, fd budget ------------------------------ */

static void arm_purge(struct sl_worker *w, const struct sl_server *srv)
{
	struct sl_timerq_ent *t = &w->pool.purge[srv->be - w->px->backends];

	if (!sl_timerq_queued(t))
		sl_worker_timer_set(w, t, w->now_ms + sl_pool_purge_interval(srv->be->conf));
}

/* No purge outlives the pool's connections (the worker leaves once its
 * heap is empty). */
static void purge_stop(struct sl_worker *w)
{
	for (int b = 0; b < w->px->conf->nbackends; b++)
		sl_worker_timer_del(w, &w->pool.purge[b]);
}

/* Auto pools give way to server connections: keep idle auto entries plus
 * server slots held within the worker's share of maxconn. */
static void make_room(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	while (p->lru_tail && p->nauto + p->busy > p->auto_max) {
		SL_ST_INC(w->st->srv[p->lru_tail->sidx].pool_purged);
		retire(w, p->lru_tail);
	}
}

void sl_pool_busy_inc(struct sl_worker *w, uint32_t sidx)
{
	struct sl_pool *p = &w->pool;

	p->busy++;
	if (w->srv_active[sidx] > p->peak[sidx])
		p->peak[sidx] = w->srv_active[sidx];
	if (p->nauto && p->nauto + p->busy > p->auto_max)
		make_room(w);
}

void sl_pool_busy_dec(struct sl_worker *w)
{
	w->pool.busy--;
}

void sl_pool_on_purge(struct sl_worker *w, struct sl_timerq_ent *t)
{
	struct sl_pool *p = &w->pool;
	uint32_t b = (uint32_t)(t - p->purge);
	const struct sl_backend *be = &w->px->backends[b];
	bool again = false;

	for (uint32_t sidx = p->base[b]; sidx < p->base[b + 1]; sidx++) {
		uint32_t recent = p->peak[sidx], now = w->srv_active[sidx];
		uint32_t keep = recent > now ? recent - now : 0, n = 0;

		/* connections beyond the period's peak, busy and idle together:
		 * half of them go, the longest idle first */
		if (p->nidle[sidx] > keep)
			n = (p->nidle[sidx] - keep + 1) / 2;
		for (uint32_t i = 0; i < n && p->tail[sidx]; i++)
			retire(w, p->tail[sidx]);
		if (n)
			SL_ST_ADD(w->st->srv[sidx].pool_purged, n);
		p->need[sidx] = recent;
		p->peak[sidx] = now;
		again |= p->nidle[sidx] || recent;
	}
	if (again && !w->stopping && !w->retired)
		arm_purge(w, &be->servers[0]);
}

/* May a connection to srv (index sidx) returning to the pool stay? */
static bool has_room(const struct sl_worker *w, const struct sl_server *srv, uint32_t sidx)
{
	const struct sl_backend_conf *bc = srv->be->conf;
	const struct sl_pool *p = &w->pool;
	uint32_t want = p->peak[sidx] > p->need[sidx] ? p->peak[sidx] : p->need[sidx];

	if (!sl_pool_auto(bc))
		return p->nidle[sidx] < sl_pool_max_idle(bc);
	return p->nidle[sidx] < want && p->nauto + p->busy < p->auto_max;
}

void sl_pool_drop_drained(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	for (uint32_t i = 0; i < p->hwm; i++) {
		struct sl_pool_conn *e = &p->conns[i];

		if (e->state == ENT_IDLE &&
		    atomic_load_explicit(&e->srv->admin, memory_order_relaxed) != SL_SRV_ADMIN_READY)
			retire(w, e);
	}
}

struct sl_conn *sl_pool_get(struct sl_worker *w, struct sl_server *srv,
			    const union sl_sockaddr *peer, struct sl_pool_meta *meta)
{
	struct sl_pool *p = &w->pool;
	struct sl_pool_conn *e;
	struct sl_conn *c;

	if (!p->nconns)
		return NULL;
	while ((e = p->idle[server_index(w, srv)]) && e->expire_ms <= w->now_ms)
		retire(w, e); /* due in this very millisecond: the timer is coming */
	if (srv->conf->send_proxy) {
		/* the server was told who the client is when the connection
		 * opened: only the same client address may use it. At most
		 * pool_max_idle entries are looked at. */
		while (e && !sl_proxy_same_ip(&e->src, peer))
			e = e->next;
		if (e && e->expire_ms <= w->now_ms)
			e = NULL; /* expired: its deadline closes it */
	}
	if (!e)
		return NULL;
	unlink_idle(w, e);
	c = e->conn;
	meta->created_ms = e->created_ms;
	meta->requests = e->requests;
	e->conn = NULL;
	release(p, e);
	return c;
}

static struct sl_pool_conn *entry_alloc(struct sl_pool *p)
{
	struct sl_pool_conn *e = p->free;

	if (e)
		p->free = e->next;
	else if (p->hwm < p->nconns)
		e = &p->conns[p->hwm++];
	if (e) {
		memset(e, 0, sizeof(*e));
		e->tq.kind = SL_TQ_POOL;
	}
	return e;
}

static const struct sl_conn_cb pool_cb;

/* Put e (holding connection c, to srv) at the head of its server's idle
 * list; the pool owns c from now on. */
static void link_idle(struct sl_worker *w, struct sl_pool_conn *e, struct sl_server *srv,
		      uint32_t sidx, struct sl_conn *c)
{
	struct sl_pool *p = &w->pool;

	e->state = ENT_IDLE;
	e->conn = c;
	sl_conn_attach(c, &pool_cb, e);
	e->srv = srv;
	e->sidx = sidx;
	e->idle_ms = w->now_ms;
	e->next = p->idle[sidx];
	if (e->next)
		e->next->prev = e;
	else
		p->tail[sidx] = e;
	p->idle[sidx] = e;
	p->nidle[sidx]++;
	p->owned++;
	e->autom = sl_pool_auto(srv->be->conf);
	if (e->autom) {
		e->lnext = p->lru;
		if (e->lnext)
			e->lnext->lprev = e;
		else
			p->lru_tail = e;
		p->lru = e;
		p->nauto++;
	}
}

/* When an idle entry stops being reusable: pool_idle_timeout after it
 * became idle or pool_max_lifetime after its creation, the earlier. */
static uint64_t expiry(const struct sl_backend_conf *bc, uint64_t idle_ms, uint64_t created_ms)
{
	uint64_t at = idle_ms + sl_pool_idle_timeout(bc), end = created_ms + sl_pool_max_lifetime(bc);

	return end < at ? end : at;
}

static void hand_done(struct sl_worker *w, struct sl_pool_conn *e);

void sl_pool_put(struct sl_worker *w, struct sl_server *srv, struct sl_conn *c,
		 const struct sl_pool_meta *meta, const union sl_sockaddr *src)
{
	const struct sl_backend_conf *bc = srv->be->conf;
	struct sl_pool *p = &w->pool;
	uint32_t sidx = server_index(w, srv);
	struct sl_pool_conn *e = NULL;
	bool room = has_room(w, srv, sidx);

	if (!w->stopping && !w->retired && room &&
	    atomic_load_explicit(&srv->admin, memory_order_relaxed) == SL_SRV_ADMIN_READY)
		e = entry_alloc(p);
	if (!e) {
		/* an auto pool's list is as long as recent demand: surplus */
		if (!room && sl_pool_auto(bc) && !w->stopping && !w->retired)
			SL_ST_INC(w->st->srv[sidx].pool_purged);
		sl_conn_close(c, false);
		return;
	}
	e->created_ms = meta->created_ms;
	e->requests = meta->requests;
	e->src = *src;
	link_idle(w, e, srv, sidx, c);
	e->expire_ms = expiry(bc, e->idle_ms, e->created_ms);
	sl_conn_recv_start(c);
	sl_worker_timer_set(w, &e->tq, e->expire_ms);
	if (e->autom)
		arm_purge(w, srv);
}

/* Any event of an idle connection: the server closed it, failed, or spoke
 * unasked. It is not reusable; one being handed over is spoiled. */
static void pool_event(struct sl_pool_conn *e, struct sl_conn *c)
{
	if (e->state == ENT_HANDING)
		e->spoiled = true;
	else if (e->state == ENT_IDLE)
		retire(c->w, e);
}

static void ev_data(void *o, struct sl_conn *c)
{
	pool_event(o, c);
}

static void ev_error(void *o, struct sl_conn *c, int res)
{
	(void)res;
	pool_event(o, c);
}

static void ev_connect(void *o, struct sl_conn *c, int res)
{
	(void)res;
	pool_event(o, c);
}

static void ev_sent(void *o, struct sl_conn *c, uint32_t n)
{
	(void)o;
	(void)c;
	(void)n;
}

static void ev_quiet(void *o, struct sl_conn *c)
{
	hand_done(c->w, o);
}

static const struct sl_conn_cb pool_cb = {
	.on_connect = ev_connect,
	.on_data = ev_data,
	.on_eof = ev_data,
	.on_sent = ev_sent,
	.on_error = ev_error,
	.on_quiet = ev_quiet,
};

void sl_pool_close_all(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	for (uint32_t i = 0; i < p->hwm; i++)
		if (p->conns[i].state == ENT_IDLE)
			retire(w, &p->conns[i]);
	purge_stop(w);
}

uint32_t sl_pool_count(const struct sl_worker *w)
{
	return w->pool.owned;
}

uint32_t sl_pool_active(const struct sl_worker *w)
{
	return w->pool.owned + w->pool.handing;
}

/* ---- reload: idle connections move to the successor's pool ----------- */

/* The server of the successor's configuration an idle connection to srv
 * can serve: the same server (backend, name, address) in a backend that
 * still pools. Anything that changes what a connection is (the address
 * today; a PROXY header sent on connect, once servers can have one) must
 * be part of this identity. */
static struct sl_server *successor_server(struct sl_worker *w, const struct sl_server *srv)
{
	struct sl_server *ns;

	if (!w->successor)
		return NULL;
	/* a send_proxy* connection began with the PROXY header of the client
	 * that opened it (e->src): it is closed rather than carried, so that no
	 * configuration ever reuses it for another client by mistake */
	if (srv->conf->send_proxy)
		return NULL;
	ns = sl_world_same_server(w->successor->px, srv);
	return ns && ns->be->conf->mode == SL_BE_MODE_HTTP_KEEP_ALIVE && !ns->conf->send_proxy ?
	       ns : NULL;
}

/* Queue e's connection for the successor. The fd moves from our fd count
 * to its queue's in one critical section of the lock the fd audit sums
 * under, so the audit never sees it twice or not at all. false if the
 * successor is gone or out of memory (the fd stays ours). */
static bool push(struct sl_worker *w, struct sl_pool_conn *e)
{
	struct sl_pool *q = &w->successor->pool;
	bool ok = false;

	pthread_mutex_lock(&sl_world_chain_lock);
	if (!q->xfer_closed && q->nxfer == q->xfer_cap) {
		uint32_t cap = q->xfer_cap ? q->xfer_cap * 2 : 64;
		struct sl_pool_xfer *x = realloc(q->xfer, cap * sizeof(*x));

		if (x) {
			q->xfer = x;
			q->xfer_cap = cap;
		}
	}
	if (!q->xfer_closed && q->nxfer < q->xfer_cap) {
		q->xfer[q->nxfer++] = (struct sl_pool_xfer){
			.fd = e->conn->fd, .srv = e->xsrv, .created_ms = e->created_ms,
			.idle_ms = e->idle_ms, .requests = e->requests,
		};
		SL_ST_ADD(w->st->fds, (uint64_t)-1);
		ok = true;
	}
	pthread_mutex_unlock(&sl_world_chain_lock);
	return ok;
}

/* Every idle connection was handed over or closed: wake the successor to
 * adopt them, then let it go (the main thread may free it after this). */
static void tell(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	if (p->handed || p->dropped)
		sl_log("worker %d: %u idle pooled server connections handed to configuration %u, "
		       "%u closed", w->id, p->handed, w->successor ? w->successor->px->gen : 0,
		       p->dropped);
	if (p->handed)
		sl_worker_wake(w->successor);
	atomic_store(&w->pool_told, true);
}

/* e's recv has ended and nothing of it is left in our ring: hand its fd
 * over, or close it if it is spoiled or the successor cannot take it. */
static void hand_done(struct sl_worker *w, struct sl_pool_conn *e)
{
	struct sl_pool *p = &w->pool;

	if (!e->spoiled && push(w, e)) {
		sl_conn_take_fd(e->conn); /* the successor's now: not closed */
		p->handed++;
	} else {
		sl_conn_close(e->conn, false);
		p->dropped++;
	}
	e->conn = NULL;
	release(p, e);
	if (--p->handing == 0)
		tell(w);
}

void sl_pool_hand_over(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	p->handing++; /* held until every entry is started: tell() once */
	purge_stop(w);
	for (uint32_t i = 0; i < p->hwm; i++) {
		struct sl_pool_conn *e = &p->conns[i];

		if (e->state != ENT_IDLE)
			continue;
		e->xsrv = successor_server(w, e->srv);
		if (!e->xsrv) {
			retire(w, e);
			p->dropped++;
			continue;
		}
		unlink_idle(w, e);
		e->state = ENT_HANDING;
		e->spoiled = false;
		p->handing++;
		sl_conn_quiesce(e->conn); /* hand_done once nothing of it is in our ring */
	}
	if (--p->handing == 0)
		tell(w);
}

/* Take a handed-over connection into our pool, its recv armed, if its
 * server's pool has room and it is still reusable under our limits. */
static bool adopt(struct sl_worker *w, const struct sl_pool_xfer *x)
{
	const struct sl_backend_conf *bc = x->srv->be->conf;
	struct sl_pool *p = &w->pool;
	uint32_t sidx = server_index(w, x->srv);
	uint64_t at = expiry(bc, x->idle_ms, x->created_ms);
	struct sl_pool_conn *e;
	struct sl_conn *c;

	/* auto: what the predecessor kept, within the fd budget; the purge
	 * trims what our traffic does not use */
	if (w->stopping || w->retired ||
	    (sl_pool_auto(bc) ? p->nauto + p->busy >= p->auto_max :
	     p->nidle[sidx] >= sl_pool_max_idle(bc)) ||
	    x->requests >= sl_pool_max_requests(bc) || at <= w->now_ms ||
	    atomic_load_explicit(&x->srv->admin, memory_order_relaxed) != SL_SRV_ADMIN_READY)
		return false;
	e = entry_alloc(p);
	if (!e)
		return false;
	c = sl_conn_new(w, x->fd, &pool_cb, e);
	if (!c) {
		release(p, e);
		return false;
	}
	e->created_ms = x->created_ms;
	e->requests = x->requests;
	link_idle(w, e, x->srv, sidx, c);
	e->idle_ms = x->idle_ms;
	e->expire_ms = at;
	sl_conn_recv_start(c);
	sl_worker_timer_set(w, &e->tq, at);
	if (e->autom) {
		/* counted as demand of this period: kept for one, like a burst */
		if (p->peak[sidx] < p->nidle[sidx])
			p->peak[sidx] = p->nidle[sidx];
		arm_purge(w, x->srv);
	}
	return true;
}

void sl_pool_adopt(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;
	struct sl_pool_xfer *x;
	uint32_t n;

	pthread_mutex_lock(&sl_world_chain_lock);
	x = p->xfer;
	n = p->nxfer;
	p->xfer = NULL;
	p->nxfer = p->xfer_cap = 0;
	SL_ST_ADD(w->st->fds, n); /* ours from now on, in the audit's section */
	pthread_mutex_unlock(&sl_world_chain_lock);
	for (uint32_t i = 0; i < n; i++)
		if (!adopt(w, &x[i]))
			sl_ring_close(&w->ring, x[i].fd, sl_ud_make(0, 0, SL_OP_FD_CLOSED, 0));
	free(x);
}

void sl_pool_xfer_close(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	pthread_mutex_lock(&sl_world_chain_lock);
	p->xfer_closed = true;
	for (uint32_t i = 0; i < p->nxfer; i++)
		close(p->xfer[i].fd);
	free(p->xfer);
	p->xfer = NULL;
	p->nxfer = p->xfer_cap = 0;
	pthread_mutex_unlock(&sl_world_chain_lock);
}
