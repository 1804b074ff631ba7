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
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/conn.h"
#include "core/stats.h"
#include "proto/proxy.h"
#include "core/world.h"
#include "ring/udata.h"

enum { ENT_FREE = 0, ENT_IDLE, ENT_HANDING };

#define POOL_ENTRIES_MAX 65536u

uint32_t sl_pool_max_idle(const struct sl_backend_conf *bc)
{
	return bc->pool_max_idle_set ? bc->pool_max_idle : 64;
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

	p->base = calloc((size_t)c->nbackends + 1, sizeof(*p->base));
	if (!p->base)
		return -ENOMEM;
	for (int i = 0; i < c->nbackends; i++) {
		p->base[i] = nsrv;
		nsrv += (uint32_t)c->backends[i].nservers;
		if (c->backends[i].mode == SL_BE_MODE_HTTP_KEEP_ALIVE)
			want += (uint64_t)sl_pool_max_idle(&c->backends[i]) *
				(uint64_t)c->backends[i].nservers;
	}
	p->base[c->nbackends] = nsrv; /* the total: sizes per-server arrays */
	p->nconns = want > POOL_ENTRIES_MAX ? POOL_ENTRIES_MAX : (uint32_t)want;
	p->idle = calloc(nsrv ? nsrv : 1, sizeof(*p->idle));
	p->nidle = calloc(nsrv ? nsrv : 1, sizeof(*p->nidle));
	p->conns = p->nconns ? calloc(p->nconns, sizeof(*p->conns)) : NULL;
	if (!p->idle || !p->nidle || (p->nconns && !p->conns))
		return -ENOMEM;
	return 0;
}

void sl_pool_free(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	/* the connections themselves are the connection table's */
	free(p->conns);
	free(p->idle);
	free(p->nidle);
	free(p->base);
	p->conns = NULL;
	p->idle = NULL;
	p->nidle = NULL;
	p->base = NULL;
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
	e->prev = e->next = NULL;
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
	p->idle[sidx] = e;
	p->nidle[sidx]++;
	p->owned++;
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

	if (!w->stopping && !w->retired && p->nidle[sidx] < sl_pool_max_idle(bc) &&
	    atomic_load_explicit(&srv->admin, memory_order_relaxed) == SL_SRV_ADMIN_READY)
		e = entry_alloc(p);
	if (!e) {
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

	if (w->stopping || w->retired || p->nidle[sidx] >= sl_pool_max_idle(bc) ||
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
