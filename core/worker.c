/*
 * Workers (core/ layer): one thread, one io_uring, its own SO_REUSEPORT
 * listeners (created by the main thread, owned by the worker once started)
 * and its own session table. The loop is: submit and wait in one
 * io_uring_enter, read the clock once, dispatch every CQE, publish recycled
 * buffers, feed starved recvs. Stopping: the main thread writes the worker's
 * eventfd; the worker closes its listeners, lets sessions finish for `grace`,
 * then closes what is left and returns once its last session is released.
 * Every deadline of the worker (sessions, pooled connections) waits in one
 * heap (core/timerq.c) under one io_uring timeout armed for the earliest.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alog.h"
#include "core/fdaudit.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/conn.h"
#include "core/session.h"
#include "core/table.h"
#include "core/conn.h"
#include "core/stats.h"
#include "ring/udata.h"

#define ACCEPT_RETRY_MS 100

static __thread struct sl_worker *self_worker;

struct sl_worker *sl_worker_current(void)
{
	return self_worker;
}

/* The worker's clock, read once per completion batch (vDSO, no syscall):
 * microseconds for the latency histograms, milliseconds for the rest. */
static void clock_tick(struct sl_worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	w->now_ms = w->now_us / 1000;
}

/* ---- deadlines: one io_uring timeout over the worker's heap -------------- */

#define UD_TQ     sl_ud_make(0, 0, SL_OP_TIMER, 0)
#define UD_TQ_CTL sl_ud_make(0, 0, SL_OP_TIMER_CTL, 0)

/* The timeout fires at `at` or earlier, never later: moved earlier with a
 * TIMEOUT_UPDATE, which finds it among the ring's few armed timeouts (this
 * one, the accept retries, the grace period), not among one per session. */
static void tq_arm(struct sl_worker *w, uint64_t at)
{
	if (w->tq_armed && w->tq_at <= at)
		return;
	sl_ring_ts(&w->ts_tq, at > w->now_ms ? at - w->now_ms : 1);
	if (w->tq_armed) {
		sl_ring_timeout_update(&w->ring, &w->ts_tq, UD_TQ, UD_TQ_CTL);
	} else {
		sl_ring_timeout(&w->ring, &w->ts_tq, UD_TQ);
		w->tq_armed = true;
	}
	w->tq_inflight++;
	w->tq_at = at;
}

void sl_worker_timer_set(struct sl_worker *w, struct sl_timerq_ent *e, uint64_t at)
{
	sl_timerq_set(&w->tq, e, at);
	tq_arm(w, at);
}

void sl_worker_timer_del(struct sl_worker *w, struct sl_timerq_ent *e)
{
	/* the timeout stays: if it fires for nothing, it re-arms or ends */
	sl_timerq_del(&w->tq, e);
}

/* The timeout fired: call the owner of every due entry, then re-arm for
 * the earliest left. An owner may queue its entry again; one due again at
 * once waits for the next millisecond rather than looping here. */
static void tq_fire(struct sl_worker *w)
{
	uint32_t budget = sl_timerq_count(&w->tq);
	struct sl_timerq_ent *e;

	while (budget-- && (e = sl_timerq_pop_due(&w->tq, w->now_ms))) {
		if (e->kind == SL_TQ_POOL)
			sl_pool_on_timer(w, e);
		else if (e->kind == SL_TQ_PURGE)
			sl_pool_on_purge(w, e);
		else
			sl_session_on_timer(e);
	}
	if (sl_timerq_count(&w->tq)) {
		uint64_t next = sl_timerq_next(&w->tq);

		tq_arm(w, next > w->now_ms ? next : w->now_ms + 1);
	}
}

static void tq_on_cqe(struct sl_worker *w, const struct io_uring_cqe *cqe)
{
	w->tq_inflight--;
	if (sl_ud_op(cqe->user_data) != SL_OP_TIMER)
		return; /* an update or the removal: -ENOENT when it had fired */
	w->tq_armed = false;
	if (cqe->res == -ETIME)
		tq_fire(w);
}

/* The worker is leaving and its heap is empty: no timeout may outlive it. */
static void tq_stop(struct sl_worker *w)
{
	if (!w->tq_armed)
		return;
	sl_ring_timeout_remove(&w->ring, UD_TQ, UD_TQ_CTL);
	w->tq_inflight++;
	w->tq_armed = false; /* once: this runs on every loop while leaving */
}

static void arm_accept(struct sl_worker *w, int i)
{
	struct sl_listener *l = &w->listeners[i];

	if (l->armed || l->closing || l->paused || l->backoff || l->deferred || l->fd < 0)
		return;
	sl_ring_accept_multishot(&w->ring, l->fd, sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT, 0));
	l->armed = true;
	w->misc_inflight++;
}

static void arm_wake(struct sl_worker *w)
{
	sl_ring_read(&w->ring, w->wake_fd, &w->wake_val, sizeof(w->wake_val),
		     sl_ud_make(0, 0, SL_OP_WAKE, 0));
	w->misc_inflight++;
}

static uint32_t fe_share(const struct sl_worker *w, int fe_idx)
{
	return sl_limits_share(w->px->conf->frontends[fe_idx].maxconn, w->px->nworkers);
}

static bool at_limit(const struct sl_worker *w, int fe_idx)
{
	uint32_t g = sl_limits_share(w->px->conf->maxconn, w->px->nworkers);
	uint32_t f = fe_share(w, fe_idx);

	if (w->px->conf->frontends[fe_idx].stats)
		return false; /* the stats service stays reachable at every limit */
	return w->nconn >= g || (f && w->fe_conn[fe_idx] >= f);
}

/* The oldest idle keep-alive session of frontend fe_idx, or NULL. */
static struct sl_session *oldest_idle(const struct sl_worker *w, int fe_idx)
{
	struct sl_session *s = w->idle_head[fe_idx];

	/* only a session between requests, with nothing received or left to
	 * send (always the first: the gauge says so; checked all the same) */
	while (s && (s->state != SL_SESS_IDLE || sl_session_out_pending(s, SL_SIDE_CLI) ||
		     sl_session_queued(s, SL_SIDE_CLI)))
		s = s->inext;
	return s;
}

/* The idle keep-alive session to close so that a connection of frontend
 * fe_idx, over a limit, can start: the oldest idle one of that frontend when
 * its own maxconn is reached, else the oldest of any frontend (the process
 * limit). The stats service's sessions count toward no limit: never. */
static struct sl_session *reclaim_victim(const struct sl_worker *w, int fe_idx)
{
	const struct sl_config *c = w->px->conf;
	uint32_t f = fe_share(w, fe_idx);
	struct sl_session *best = NULL;

	if (f && w->fe_conn[fe_idx] >= f)
		return oldest_idle(w, fe_idx);
	for (int i = 0; i < c->nfrontends; i++) {
		struct sl_session *s = c->frontends[i].stats ? NULL : oldest_idle(w, i);

		if (s &&
		    (!best || s->acct[SL_SIDE_CLI].last_ms < best->acct[SL_SIDE_CLI].last_ms))
			best = s;
	}
	return best;
}

/* Close the oldest idle keep-alive client to admit a new connection of
 * fe_idx (like nginx's ngx_drain_connections): its slot frees when its
 * close completes, and the new connection, waiting in w->pending, starts
 * then. */
static void reclaim_idle(struct sl_worker *w, int fe_idx)
{
	struct sl_session *s = reclaim_victim(w, fe_idx);

	if (!s)
		return;
	SL_ST_INC(w->st->fe[s->fe_idx].idle_reclaimed);
	sl_log_req(w, "frontend %s: maxconn reached: closing an idle keep-alive connection "
		   "(idle %llu ms) to admit a new one", s->fe->name,
		   (unsigned long long)(w->now_ms - s->acct[SL_SIDE_CLI].last_ms));
	sl_session_close(s, SL_CLOSE_NORMAL);
}

void sl_worker_idle_enter(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	int fe = s->fe_idx;

	s->inext = NULL;
	s->iprev = w->idle_tail[fe];
	if (s->iprev)
		s->iprev->inext = s;
	else
		w->idle_head[fe] = s;
	w->idle_tail[fe] = s;
	/* a listener paused at a limit may admit again by reclaiming it */
	for (int i = 0; i < w->nlisteners; i++) {
		struct sl_listener *l = &w->listeners[i];

		if (l->paused && !w->stopping && reclaim_victim(w, l->fe_idx)) {
			l->paused = false;
			arm_accept(w, i);
		}
	}
}

void sl_worker_idle_leave(struct sl_session *s)
{
	struct sl_worker *w = s->w;
	int fe = s->fe_idx;

	if (s->iprev)
		s->iprev->inext = s->inext;
	else
		w->idle_head[fe] = s->inext;
	if (s->inext)
		s->inext->iprev = s->iprev;
	else
		w->idle_tail[fe] = s->iprev;
	s->iprev = s->inext = NULL;
}

/* Stop accepting on the listeners a reached limit covers, unless an idle
 * keep-alive session can be closed to make room: the multishot accept is
 * cancelled, the kernel's backlog holds new connections. */
static void pause_accepts(struct sl_worker *w)
{
	for (int i = 0; i < w->nlisteners; i++) {
		struct sl_listener *l = &w->listeners[i];

		if (l->paused || l->closing || !at_limit(w, l->fe_idx) ||
		    reclaim_victim(w, l->fe_idx))
			continue;
		l->paused = true;
		w->accept_pauses++;
		SL_ST_INC(w->st->pause_maxconn);
		if (l->armed)
			sl_ring_cancel_ud(&w->ring, sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT, 0),
					  sl_ud_make(0, 0, SL_OP_NONE, 0));
	}
}

static void start_session(struct sl_worker *w, int fd, int li)
{
	struct sl_listener *l = &w->listeners[li];

	w->fe_conn[l->fe_idx]++;
	if (!l->fe->stats) {
		/* stats connections count toward no limit */
		w->nconn++;
		atomic_fetch_add(&w->px->sessions, 1);
	}
	sl_session_new(w, fd, l);
}

static void close_now(struct sl_worker *w, int fd)
{
	close(fd);
	SL_ST_ADD(w->st->fds, (uint64_t)-1);
}

static void on_accepted(struct sl_worker *w, int li, int fd)
{
	struct sl_listener *l = &w->listeners[li];

	SL_ST_INC(w->st->fds);
	SL_ST_INC(w->st->fe[l->fe_idx].accepts);
	if (w->stopping) {
		close_now(w, fd);
	} else if (!at_limit(w, l->fe_idx)) {
		start_session(w, fd, li);
	} else if (w->npending < w->pending_cap) {
		/* over a limit (accepted before the pause took effect, or while an
		 * idle session can make room): started when a slot frees */
		w->pending[w->npending].fd = fd;
		w->pending[w->npending++].li = li;
		reclaim_idle(w, l->fe_idx);
	} else {
		close_now(w, fd);
	}
	pause_accepts(w);
}

static void accept_failed(struct sl_worker *w, int i, int res)
{
	struct sl_listener *l = &w->listeners[i];

	if (res == -ECANCELED || l->closing)
		return;
	SL_ST_INC(w->st->pause_emfile);
	if (w->now_ms - w->emfile_log_ms >= 1000 || !w->emfile_log_ms) {
		sl_log("frontend %s: accept failed: %s; pausing accepts for %d ms",
		       l->fe->name, strerror(-res), ACCEPT_RETRY_MS);
		w->emfile_log_ms = w->now_ms;
	}
}

static void handover_check(struct sl_worker *w);

static void on_accept(struct sl_worker *w, int i, const struct io_uring_cqe *cqe)
{
	struct sl_listener *l = &w->listeners[i];

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		l->armed = false;
		w->misc_inflight--;
		if (l->closing && (l->shared || l->handed)) {
			__atomic_store_n(&w->listeners_open, w->listeners_open - 1,
					 __ATOMIC_RELAXED);
			handover_check(w);
		}
	}
	if (cqe->res >= 0)
		on_accepted(w, i, cqe->res);
	else
		accept_failed(w, i, cqe->res);
	if (l->armed || l->closing || l->paused || l->backoff || w->stopping)
		return;
	if (cqe->res >= 0 || cqe->res == -ECANCELED) {
		arm_accept(w, i); /* ended by CQ overflow or similar: re-arm now */
	} else {
		/* EMFILE and friends: back off without spinning, then re-arm */
		l->backoff = true;
		sl_ring_ts(&l->ts_retry, ACCEPT_RETRY_MS);
		sl_ring_timeout(&w->ring, &l->ts_retry,
				sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT_RETRY, 0));
		w->misc_inflight++;
	}
}

void sl_worker_fd_exhausted(struct sl_worker *w, int err)
{
	if (w->now_ms - w->emfile_log_ms >= 1000 || !w->emfile_log_ms) {
		sl_log("worker %d: out of file descriptors (%s): pausing accepts for %d ms",
		       w->id, strerror(-err), ACCEPT_RETRY_MS);
		w->emfile_log_ms = w->now_ms;
	}
	for (int i = 0; i < w->nlisteners; i++) {
		struct sl_listener *l = &w->listeners[i];

		if (l->backoff || l->closing || l->fd < 0)
			continue;
		l->backoff = true;
		SL_ST_INC(w->st->pause_emfile);
		if (l->armed)
			sl_ring_cancel_ud(&w->ring, sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT, 0),
					  sl_ud_make(0, 0, SL_OP_NONE, 0));
		sl_ring_ts(&l->ts_retry, ACCEPT_RETRY_MS);
		sl_ring_timeout(&w->ring, &l->ts_retry,
				sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT_RETRY, 0));
		w->misc_inflight++;
	}
}

void sl_worker_conn_closed(struct sl_worker *w, int fe_idx)
{
	if (!w->px->conf->frontends[fe_idx].stats)
		w->nconn--;
	w->fe_conn[fe_idx]--;
	/* connections accepted past the limit go first, in order */
	for (uint32_t i = 0; i < w->npending; ) {
		struct sl_pending_conn pc = w->pending[i];

		if (at_limit(w, w->listeners[pc.li].fe_idx)) {
			i++;
			continue;
		}
		memmove(&w->pending[i], &w->pending[i + 1],
			(w->npending - i - 1) * sizeof(*w->pending));
		w->npending--;
		start_session(w, pc.fd, pc.li);
	}
	for (int i = 0; i < w->nlisteners; i++) {
		struct sl_listener *l = &w->listeners[i];

		if (l->paused && !at_limit(w, l->fe_idx)) {
			l->paused = false;
			arm_accept(w, i);
		}
	}
}

/* Our accepts on the sockets handed to the next configuration have all
 * ended: its worker may start accepting on them. */
static void handover_check(struct sl_worker *w)
{
	if (!w->successor || atomic_load(&w->handover_told))
		return;
	for (int i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].handed && w->listeners[i].armed)
			return;
	atomic_store(&w->successor->accept_go, true);
	sl_worker_wake(w->successor);
	atomic_store(&w->handover_told, true); /* after: main may free the successor then */
}

/* Arm the listeners deferred until the previous worker let go of them. */
static void take_over(struct sl_worker *w)
{
	bool any = false;

	for (int i = 0; i < w->nlisteners; i++) {
		if (!w->listeners[i].deferred)
			continue;
		w->listeners[i].deferred = false;
		arm_accept(w, i);
		any = true;
	}
	if (any)
		atomic_fetch_add(&w->px->accepting, 1);
}

/* Listeners stop accepting. A socket that moves to another configuration
 * (handed) or still belongs to the previous one (shared) only loses this
 * worker's accept: closing it would drop the connections in its queue. */
static void stop_listening(struct sl_worker *w)
{
	for (int i = 0; i < w->nlisteners; i++) {
		struct sl_listener *l = &w->listeners[i];
		int fd = l->fd;

		if (fd < 0)
			continue;
		l->fd = -1;
		l->closing = true;
		if (l->shared || l->handed) {
			/* counted until the accept has ended (on_accept) */
			if (l->armed)
				sl_ring_cancel_ud(&w->ring,
						  sl_ud_make((uint32_t)i, 0, SL_OP_ACCEPT, 0),
						  sl_ud_make(0, 0, SL_OP_NONE, 0));
			else
				__atomic_store_n(&w->listeners_open, w->listeners_open - 1,
						 __ATOMIC_RELAXED);
			continue;
		}
		sl_ring_cancel_close(&w->ring, fd, sl_ud_make((uint32_t)i, 0, SL_OP_NONE, 0),
				     sl_ud_make((uint32_t)i, 0, SL_OP_LISTENER_CLOSE, 0));
		w->misc_inflight++; /* only the close is waited for */
	}
}

/* A reload replaced this worker's configuration: stop accepting (sockets of
 * unchanged binds go on in the new workers), hand idle pooled connections
 * of unchanged servers to the successor, keep serving every session and
 * accepted connection to its end, without a deadline, then exit. */
static void retire(struct sl_worker *w)
{
	w->retired = true;
	stop_listening(w);
	sl_session_stop_notify(w); /* h2 connections say GOAWAY */
	sl_pool_hand_over(w); /* idle server connections go on in the successor */
	handover_check(w);
}

static void on_wake(struct sl_worker *w, int res)
{
	w->misc_inflight--;
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		sl_log("worker %d: wake read failed: %s", w->id, strerror(-res));
	/* the admin API may have drained a server: close its idle connections */
	sl_pool_drop_drained(w);
	/* the predecessor may have handed us idle server connections */
	sl_pool_adopt(w);
	if (atomic_load(&w->accept_go))
		take_over(w);
	/* armed while stopping too: an fd audit wakes the worker through it */
	arm_wake(w);
	if (!atomic_load(&w->px->stopping)) {
		if (atomic_load(&w->px->retiring) && !w->retired)
			retire(w);
		return;
	}
	if (w->stopping)
		return;
	w->stopping = true;
	stop_listening(w);
	sl_session_stop_notify(w);
	sl_pool_close_all(w);
	for (uint32_t j = 0; j < w->npending; j++)
		close_now(w, w->pending[j].fd); /* accepted, never served: like the backlog */
	w->npending = 0;
	sl_ring_ts(&w->ts_grace, w->px->conf->grace_ms);
	sl_ring_timeout(&w->ring, &w->ts_grace, sl_ud_make(0, 0, SL_OP_GRACE, 0));
	w->misc_inflight++;
}

/* What a completion changes in the fd table that its dispatch has still to
 * account for: a close done (-1; whatever its result, the fd is out of the
 * table) or a socket accepted (+1). dispatch() and the fd audit's look at
 * completions not yet dispatched both go by this. */
static int cqe_fd_delta(const struct io_uring_cqe *cqe)
{
	switch (sl_ud_op(cqe->user_data)) {
	case SL_OP_ACCEPT:
	case SL_OP_FD_INSTALL:
		return cqe->res >= 0;
	case SL_OP_LISTENER_CLOSE:
	case SL_OP_FD_CLOSED:
	case SL_OP_CLOSE:
		return -1;
	default:
		return 0;
	}
}

/* The same for the ring's table of direct descriptors: a socket opened
 * into a slot (+1), a slot closed (-1; a close of an empty slot, whose
 * socket failed, fails and changes nothing). */
static int cqe_dfd_delta(const struct io_uring_cqe *cqe)
{
	switch (sl_ud_op(cqe->user_data)) {
	case SL_OP_SOCKET:
		return cqe->res >= 0;
	case SL_OP_CLOSE_DIRECT:
		return -(cqe->res >= 0);
	default:
		return 0;
	}
}

int sl_worker_pending_fd_delta(struct sl_worker *w, int64_t *delta, int64_t *ddelta)
{
	struct io_uring *ring = &w->ring.uring;
	unsigned tail = io_uring_smp_load_acquire(ring->cq.ktail);
	int64_t d = 0, dd = 0;

	for (unsigned h = w->cq_next; h != tail; h++) {
		d += cqe_fd_delta(&ring->cq.cqes[h & ring->cq.ring_mask]);
		dd += cqe_dfd_delta(&ring->cq.cqes[h & ring->cq.ring_mask]);
	}
	*delta = d;
	*ddelta = dd;
	return io_uring_cq_has_overflow(ring) ? -EOVERFLOW : 0;
}

/* The pool's figures for /metrics (written here only, read by the stats). */
static void mem_publish(struct sl_worker *w)
{
	const struct sl_ring *r = &w->ring;
	uint32_t clean = 0, units = r->buf_size / r->unit; /* reported in 16 KiB units */

	for (uint32_t i = 0; i < r->nparked; i++)
		clean += r->bstate[r->park[i]] == SL_RING_B_CLEAN;
	__atomic_store_n(&w->st->buf_resident, (uint64_t)(r->buf_count - clean) * units,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&w->st->buf_released, r->released * units, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st->buf_renewals, r->shrinks, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st->buf_bytes, r->buf_size, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st->slices_lost, r->slice_lost, __ATOMIC_RELAXED);
}

/* The buffer pool review: armed only while the pool has something to give
 * back or adapt, so an idle worker is not woken for nothing. */
static void arm_mem(struct sl_worker *w)
{
	sl_ring_ts(&w->ts_mem, w->px->conf->buffer_release_ms);
	sl_ring_timeout(&w->ring, &w->ts_mem, sl_ud_make(0, 0, SL_OP_MEM_TIMER, 0));
	w->mem_armed = true;
}

static void on_mem_timer(struct sl_worker *w)
{
	struct sl_ring *r = &w->ring;

	w->mem_armed = false;
	sl_ring_buf_tick(r);
	mem_publish(w);
	/* little in flight: what the heap freed since can go back too (once a
	 * period at most, and only while the pool was still settling) */
	if (r->buf_out <= r->target_min)
		malloc_trim(0);
}

/* Shrink the ring at a quiescent point (no completion left unread: every
 * buffer the kernel took has been reported). */
static void mem_shrink(struct sl_worker *w)
{
	int ret = sl_ring_buf_shrink(&w->ring);

	mem_publish(w);
	if (ret < 0)
		sl_log("worker %d: cannot register the buffer ring again: %s", w->id,
		       strerror(-ret));
}

static void dispatch(struct sl_worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t u = cqe->user_data;
	int i = (int)sl_ud_slot(u);

	/* an accept is counted once started, a listener's close is not ours */
	if (sl_ud_op(u) != SL_OP_ACCEPT && sl_ud_op(u) != SL_OP_LISTENER_CLOSE &&
	    cqe_fd_delta(cqe))
		SL_ST_ADD(w->st->fds, (uint64_t)(int64_t)cqe_fd_delta(cqe));
	if (cqe_dfd_delta(cqe))
		SL_ST_ADD(w->st->dfds, (uint64_t)(int64_t)cqe_dfd_delta(cqe));
	switch (sl_ud_op(u)) {
	case SL_OP_NONE:
		break;
	case SL_OP_ACCEPT:
		on_accept(w, i, cqe);
		break;
	case SL_OP_ACCEPT_RETRY:
		w->misc_inflight--;
		w->listeners[i].backoff = false;
		if (!w->listeners[i].paused)
			arm_accept(w, i);
		break;
	case SL_OP_LISTENER_CLOSE:
		w->misc_inflight--;
		__atomic_store_n(&w->listeners_open, w->listeners_open - 1, __ATOMIC_RELAXED);
		break;
	case SL_OP_WAKE:
		on_wake(w, cqe->res);
		break;
	case SL_OP_GRACE:
		w->misc_inflight--;
		w->grace_over = true;
		if (w->nsessions)
			sl_log("worker %d: grace period over, closing %u sessions", w->id,
			       w->nsessions);
		sl_session_close_all(w);
		break;
	case SL_OP_ALOG:
		sl_alog_on_cqe(w, cqe->res);
		break;
	case SL_OP_FD_CLOSED: /* counted above */
		break;
	case SL_OP_MEM_TIMER:
		on_mem_timer(w);
		break;
	case SL_OP_TIMER:
	case SL_OP_TIMER_CTL:
		tq_on_cqe(w, cqe);
		break;
	default: /* a connection's (SL_OP_RECV .. SL_OP_RECV_CANCEL) */
		sl_conn_on_cqe(w, cqe);
		break;
	}
}

/*
 * The ring's deferred task work (DEFER_TASKRUN: data arrived on a socket, a
 * send can go on) runs only inside io_uring_enter, in arrival order, and an
 * enter that waits for one completion runs at most 20 items of it (the
 * kernel's IO_LOCAL_TW_DEFAULT_MAX) once a completion is there. When 1,000
 * large responses start together, thousands of items queue up, and a light
 * connection's receive waited behind them one 20-item slice per loop
 * iteration: 200-330 ms for a probe request at the ramp of the bench's
 * slow-readers scenario (README, "Slow readers"). The kernel flags
 * IORING_SQ_TASKRUN (IORING_SETUP_TASKRUN_FLAG) while items are left, so
 * run them now, before the completions are dispatched, and every iteration
 * sees all that has arrived: the probe's corrected p99 over that ramp fell
 * from 146-262 ms to 44-112 ms (max 218-334 ms to 68-176 ms). Bounded
 * by passes and by the room left in the CQ (a multishot recv may post many
 * completions per item); what is left waits for the next iteration.
 */
#define TW_DRAIN_PASSES 64u

static void drain_task_work(struct sl_worker *w)
{
	struct io_uring *ring = &w->ring.uring;

	for (unsigned k = 0; k < TW_DRAIN_PASSES &&
	     (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN) &&
	     io_uring_cq_ready(ring) < ring->cq.ring_entries / 2; k++) {
		SL_ST_ADD(w->st->tw_passes, 1);
		if (io_uring_get_events(ring) < 0)
			break;
	}
}

static void loop(struct sl_worker *w)
{
	struct io_uring *ring = &w->ring.uring;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret;

		if ((w->stopping || w->retired) && !w->nsessions && !w->listeners_open &&
		    !w->npending) {
			sl_pool_close_all(w); /* connections pooled during the grace period */
			sl_alog_flush(w);
			if (!sl_timerq_count(&w->tq))
				tq_stop(w);
			if (!sl_pool_active(w) && !w->conns.live && sl_alog_idle(w) &&
			    !w->tq_inflight)
				break;
		}
		/* a quiescent point: every completion dispatched, none waiting */
		if (w->ring.shrink_wanted && !io_uring_cq_ready(ring) &&
		    !io_uring_cq_has_overflow(ring))
			mem_shrink(w);
		if (!w->mem_armed && !w->stopping && !w->retired &&
		    !sl_ring_buf_settled(&w->ring))
			arm_mem(w);
		if (__atomic_load_n(&sl_fdaudit_want, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&sl_fdaudit_want, __ATOMIC_RELAXED) != w->audit_gen &&
		    !io_uring_cq_ready(ring) && !io_uring_cq_has_overflow(ring))
			sl_fdaudit_park(w);
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			sl_log("worker %d: io_uring_enter failed: %s", w->id, strerror(-ret));
			break;
		}
		drain_task_work(w);
		clock_tick(w);
		io_uring_for_each_cqe(ring, head, cqe) {
			w->cq_next = head + 1;
			dispatch(w, cqe);
			n++;
		}
		io_uring_cq_advance(ring, n);
		w->cq_next = *ring->cq.khead;
		sl_session_run_deferred(w); /* queue wakeups, releases */
		sl_alog_flush(w);
		sl_ring_buf_publish(&w->ring);
		sl_conn_feed_starved(w);
	}
}

static int worker_init(struct sl_worker *w)
{
	int ret;

	if (!w->px->conf->recv_buffers_inc)
		ret = sl_ring_init(&w->ring, SL_RING_ENTRIES, SL_BUF_SIZE, SL_BUF_COUNT, w->why,
				   sizeof(w->why));
	else
		ret = sl_ring_init_inc(&w->ring, SL_RING_ENTRIES, SL_BUF_BLOCK, SL_BUF_BLOCKS,
				       SL_BUF_COUNT, SL_BUF_SIZE, w->why, sizeof(w->why));
	if (ret < 0)
		return ret;
	/* every session slot a worker may need: its share of maxconn plus room
	 * for stats connections, which count toward no limit (slots are only
	 * touched when used) */
	w->nslots = sl_limits_share(w->px->conf->maxconn, w->px->nworkers) + 256;
	/* HTTP/2 streams are sessions too: they get as many slots again, of
	 * their own, so that streams never take a client connection's slot */
	w->stream_slots = w->nslots - 256;
	w->nslots += w->stream_slots;
	if (w->nslots > SL_UD_SLOT_MAX)
		w->nslots = SL_UD_SLOT_MAX;
	w->sessions = sl_table_alloc(w->nslots, sizeof(*w->sessions));
	w->buf_next = calloc(SL_BUF_COUNT + SL_PBUF_COUNT, sizeof(*w->buf_next));
	w->buf_len = calloc(SL_BUF_COUNT + SL_PBUF_COUNT, sizeof(*w->buf_len));
	w->pbuf = calloc(SL_PBUF_COUNT, sizeof(*w->pbuf));
	w->pbuf_free = calloc(SL_PBUF_COUNT, sizeof(*w->pbuf_free));
	if (w->pbuf_free) {
		for (uint32_t i = 0; i < SL_PBUF_COUNT; i++)
			w->pbuf_free[i] = (uint16_t)(SL_PBUF_COUNT - 1 - i);
		w->npbuf_free = SL_PBUF_COUNT;
	}
	w->fe_conn = calloc((size_t)w->px->conf->nfrontends, sizeof(*w->fe_conn));
	w->idle_head = calloc((size_t)w->px->conf->nfrontends, sizeof(*w->idle_head));
	w->idle_tail = calloc((size_t)w->px->conf->nfrontends, sizeof(*w->idle_tail));
	w->q_head = calloc((size_t)w->px->conf->nbackends, sizeof(*w->q_head));
	w->q_tail = calloc((size_t)w->px->conf->nbackends, sizeof(*w->q_tail));
	w->pending_cap = 1024;
	w->pending = calloc(w->pending_cap, sizeof(*w->pending));
	if (!w->sessions || !w->buf_next || !w->buf_len || !w->pbuf || !w->pbuf_free ||
	    sl_pool_init(w) < 0 || sl_timerq_init(&w->tq, w->nslots + w->pool.nconns +
						 (uint32_t)w->px->conf->nbackends) < 0 ||
	    sl_conn_table_init(w, 2 * w->nslots + w->pool.nconns) < 0 ||
	    sl_stats_init(w) < 0 || sl_alog_init(w) < 0 ||
	    !w->fe_conn || !w->idle_head || !w->idle_tail ||
	    !w->q_head || !w->q_tail || !w->pending ||
	    !(w->srv_active = calloc(w->pool.base[w->px->conf->nbackends] + 1,
				     sizeof(*w->srv_active)))) {
		snprintf(w->why, sizeof(w->why), "out of memory for %u sessions", w->nslots);
		return -ENOMEM;
	}
	/* a direct descriptor per connection slot (server sockets use theirs) */
	if (!w->px->conf->server_sockets_plain)
		sl_ring_direct_init(&w->ring, w->conns.n);
	clock_tick(w);
	mem_publish(w);
	arm_wake(w);
	for (int i = 0; i < w->nlisteners; i++)
		arm_accept(w, i);
	w->listeners_open = w->nlisteners;
	{
		bool deferred = false;

		for (int i = 0; i < w->nlisteners; i++)
			deferred |= w->listeners[i].deferred;
		if (!deferred)
			atomic_fetch_add(&w->px->accepting, 1);
	}
	ret = io_uring_submit(&w->ring.uring);
	if (ret < 0)
		snprintf(w->why, sizeof(w->why), "first submit failed: %s", strerror(-ret));
	return ret < 0 ? ret : 0;
}

static void worker_cleanup(struct sl_worker *w)
{
	/* listeners not yet handed over (start-up failure) are closed here */
	for (int i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].fd >= 0 && !w->listeners[i].shared &&
		    !w->listeners[i].handed)
			close(w->listeners[i].fd);
		w->listeners[i].fd = -1;
	}
	for (uint32_t i = 0; i < w->npending; i++)
		close(w->pending[i].fd);
	w->npending = 0;
	if (w->ring.ready) {
		sl_ring_exit(&w->ring);
		/* a worker whose loop never ran (sl_fdaudit_worker_stop closes
		 * the ring otherwise): the audit stops counting it now */
		__atomic_fetch_sub(&w->px->fixed_fds, 1, __ATOMIC_RELAXED);
	}
	sl_pool_xfer_close(w); /* handed to us too late: closed, none accepted after */
	sl_pool_free(w);
	sl_timerq_free(&w->tq);
	sl_conn_table_free(w);
	/* w->st stays: a reload folds and the stats pages read it until the
	 * world is freed (core/world.c) */
	sl_alog_free(w);
	free(w->fe_conn);
	free(w->idle_head);
	free(w->idle_tail);
	free(w->q_head);
	free(w->q_tail);
	free(w->pending);
	free(w->srv_active);
	sl_table_free(w->sessions, w->nslots, sizeof(*w->sessions));
	free(w->buf_next);
	free(w->buf_len);
	if (w->pbuf)
		for (uint32_t i = 0; i < SL_PBUF_COUNT; i++)
			free(w->pbuf[i]);
	free(w->pbuf);
	free(w->pbuf_free);
	w->pbuf = NULL;
	w->pbuf_free = NULL;
	w->sessions = NULL;
	w->buf_next = NULL;
	w->buf_len = NULL;
}

struct start_ctx {
	struct sl_worker *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void *worker_main(void *arg)
{
	struct start_ctx *ctx = arg;
	struct sl_worker *w = ctx->w;
	int ret = worker_init(w);

	if (ret == 0) {
		/* taking part in fd audits before the main thread measures the
		 * fixed fds, which pauses every worker */
		self_worker = w;
		w->cq_next = *w->ring.uring.cq.khead;
		sl_fdaudit_worker_start(w);
	}
	pthread_mutex_lock(&ctx->lock);
	w->init_rc = ret;
	ctx->done = 1;
	pthread_cond_signal(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock); /* ctx is gone after this */
	if (ret == 0) {
		loop(w);
		sl_fdaudit_worker_stop(w);
		self_worker = NULL;
	}
	worker_cleanup(w);
	sl_xprt_ssl.thread_exit();
	atomic_store(&w->done, true);
	return NULL;
}

int sl_worker_start(struct sl_worker *w)
{
	struct start_ctx ctx = { .w = w, .done = 0 };
	int ret;

	pthread_mutex_init(&ctx.lock, NULL);
	pthread_cond_init(&ctx.cond, NULL);
	ret = -pthread_create(&w->thread, NULL, worker_main, &ctx);
	if (ret == 0) {
		pthread_mutex_lock(&ctx.lock);
		while (!ctx.done)
			pthread_cond_wait(&ctx.cond, &ctx.lock);
		pthread_mutex_unlock(&ctx.lock);
		ret = w->init_rc;
		if (ret < 0)
			pthread_join(w->thread, NULL);
	} else {
		snprintf(w->why, sizeof(w->why), "cannot start thread: %s", strerror(-ret));
	}
	pthread_cond_destroy(&ctx.cond);
	pthread_mutex_destroy(&ctx.lock);
	return ret;
}

void sl_worker_wake(struct sl_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		sl_log("worker %d: cannot wake: %s", w->id, strerror(errno));
}

void sl_worker_join(struct sl_worker *w)
{
	pthread_join(w->thread, NULL);
}
