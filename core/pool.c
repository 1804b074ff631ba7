/*
 * Server connection pools (core/ layer). Entries live in a per-worker table;
 * each idle entry has two requests in the ring: a multishot recv (any
 * completion means the connection is no longer reusable) and a timeout at
 * min(idle since + pool_idle_timeout, created + pool_max_lifetime). Handing
 * an entry out cancels both (the cancel is submitted before the new owner's
 * first request on the fd, so the two never overlap) and the entry drains
 * until its last completion. Ownership rule 1 holds: the fd belongs to the
 * entry while idle, to the session after sl_pool_get().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "ring/udata.h"

enum { ENT_FREE = 0, ENT_IDLE, ENT_DRAINING };

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

	/* the ring is gone: fds still held (none after a clean stop) close here */
	for (uint32_t i = 0; i < p->hwm; i++)
		if (p->conns[i].fd >= 0 && p->conns[i].state != ENT_FREE)
			close(p->conns[i].fd);
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

static uint64_t ud(const struct sl_pool *p, const struct sl_pool_conn *e, unsigned op)
{
	return sl_ud_make((uint32_t)(e - p->conns), e->gen, op, 0);
}

static void unlink_idle(struct sl_pool *p, struct sl_pool_conn *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->idle[e->sidx] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
	p->nidle[e->sidx]--;
}

static void maybe_release(struct sl_pool *p, struct sl_pool_conn *e)
{
	if (e->state != ENT_DRAINING || e->inflight)
		return;
	e->state = ENT_FREE;
	e->next = p->free;
	p->free = e;
}

/* Leave the pool because the connection is no longer reusable. */
static void retire(struct sl_worker *w, struct sl_pool_conn *e, const char *why)
{
	struct sl_pool *p = &w->pool;
	int fd = e->fd;

	(void)why;
	unlink_idle(p, e);
	e->state = ENT_DRAINING;
	e->fd = -1;
	sl_ring_cancel_close(&w->ring, fd, ud(p, e, SL_OP_POOL_CTL), ud(p, e, SL_OP_POOL_CLOSE));
	sl_ring_timeout_remove(&w->ring, ud(p, e, SL_OP_POOL_TIMER), ud(p, e, SL_OP_POOL_CTL));
	e->inflight += 3;
	p->owned--;
}

int sl_pool_get(struct sl_worker *w, struct sl_server *srv, struct sl_pool_meta *meta)
{
	struct sl_pool *p = &w->pool;
	struct sl_pool_conn *e;
	int fd;

	if (!p->nconns)
		return -1;
	e = p->idle[server_index(w, srv)];
	if (!e)
		return -1;
	unlink_idle(p, e);
	fd = e->fd;
	e->fd = -1;
	e->state = ENT_DRAINING;
	sl_ring_cancel_ud(&w->ring, ud(p, e, SL_OP_POOL_RECV), ud(p, e, SL_OP_POOL_CTL));
	sl_ring_timeout_remove(&w->ring, ud(p, e, SL_OP_POOL_TIMER), ud(p, e, SL_OP_POOL_CTL));
	e->inflight += 2;
	p->owned--;
	meta->created_ms = e->created_ms;
	meta->requests = e->requests;
	return fd;
}

static struct sl_pool_conn *entry_alloc(struct sl_pool *p)
{
	struct sl_pool_conn *e = p->free;

	if (e)
		p->free = e->next;
	else if (p->hwm < p->nconns)
		e = &p->conns[p->hwm++];
	if (e) {
		uint32_t gen = e->gen + 1;

		memset(e, 0, sizeof(*e));
		e->gen = gen ? gen : 1;
		e->fd = -1;
	}
	return e;
}

void sl_pool_put(struct sl_worker *w, struct sl_server *srv, int fd,
		 const struct sl_pool_meta *meta)
{
	const struct sl_backend_conf *bc = srv->be->conf;
	struct sl_pool *p = &w->pool;
	uint32_t sidx = server_index(w, srv);
	struct sl_pool_conn *e = NULL;
	uint64_t at, end;

	if (!w->stopping && p->nidle[sidx] < sl_pool_max_idle(bc))
		e = entry_alloc(p);
	if (!e) {
		sl_ring_close(&w->ring, fd, sl_ud_make(0, 0, SL_OP_FD_CLOSED, 0));
		return;
	}
	e->state = ENT_IDLE;
	e->fd = fd;
	e->srv = srv;
	e->sidx = sidx;
	e->created_ms = meta->created_ms;
	e->requests = meta->requests;
	e->next = p->idle[sidx];
	if (e->next)
		e->next->prev = e;
	p->idle[sidx] = e;
	p->nidle[sidx]++;
	p->owned++;
	at = w->now_ms + sl_pool_idle_timeout(bc);
	end = meta->created_ms + sl_pool_max_lifetime(bc);
	if (end < at)
		at = end;
	sl_ring_ts(&e->ts, at > w->now_ms ? at - w->now_ms : 1);
	sl_ring_recv_multishot(&w->ring, fd, ud(p, e, SL_OP_POOL_RECV));
	sl_ring_timeout(&w->ring, &e->ts, ud(p, e, SL_OP_POOL_TIMER));
	e->inflight += 2;
}

void sl_pool_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe)
{
	struct sl_pool *p = &w->pool;
	uint32_t slot = sl_ud_slot(cqe->user_data);
	unsigned op = sl_ud_op(cqe->user_data);
	struct sl_pool_conn *e;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		sl_ring_buf_taken(&w->ring);
		sl_ring_buf_recycle(&w->ring, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
	}
	if (op == SL_OP_POOL_CLOSE)
		SL_ST_ADD(w->st->fds, (uint64_t)-1);
	if (slot >= p->hwm || p->conns[slot].gen != sl_ud_gen(cqe->user_data))
		return;
	e = &p->conns[slot];
	if (op != SL_OP_POOL_RECV || !(cqe->flags & IORING_CQE_F_MORE))
		e->inflight--;
	if (e->state == ENT_IDLE) {
		if (op == SL_OP_POOL_RECV)
			retire(w, e, cqe->res == 0 ? "closed by server" : "unexpected data");
		else if (op == SL_OP_POOL_TIMER && cqe->res == -ETIME)
			retire(w, e, "idle timeout or lifetime");
	}
	maybe_release(p, e);
}

void sl_pool_close_all(struct sl_worker *w)
{
	struct sl_pool *p = &w->pool;

	for (uint32_t i = 0; i < p->hwm; i++)
		if (p->conns[i].state == ENT_IDLE)
			retire(w, &p->conns[i], "stopping");
}

uint32_t sl_pool_count(const struct sl_worker *w)
{
	return w->pool.owned;
}

uint32_t sl_pool_active(const struct sl_worker *w)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < w->pool.hwm; i++)
		n += w->pool.conns[i].state != ENT_FREE;
	return n;
}
