/*
 * Health checker (checks/ layer): one thread, one io_uring created in that
 * thread, one direct-descriptor slot per checked server. Life of a check:
 *   timer (IORING_OP_TIMEOUT; the first ones staggered over the interval)
 *   -> probe chain (ring/ring_check.h: socket, connect, send, recv, close,
 *      every step hard-linked and guarded by timeout_check)
 *   -> one CQE per step; once the last one is in (the close included) the
 *      probe is judged (check_http.c), the rise/fall counters move, a state
 *      change is stored in the server's atomic and logged, and the next
 *      timer is armed.
 * A slot is reused only after every CQE of the probe that used it, so two
 * probes never share a socket or a buffer. Servers start UP so that a fresh
 * proxy serves at once; check_fall failures in a row take one DOWN.
 * Stopping: timers are removed and in-flight probes are shut down, which
 * ends a pending connect, send or recv at once; the thread exits when no
 * request is left in flight, every close included.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "checks/check.h"
#include "checks/check_http.h"
#include "core/log.h"
#include "core/stats.h"
#include "ring/ring_check.h"
#include "ring/udata.h"

#define REQ_MAX 768
#define RESP_MAX 4096   /* a response head larger than this is a bad response */
#define SQ_ENTRIES 128
#define CQ_MAX 65536

enum ck_op {
	CK_OP_NONE = 0,
	CK_OP_WAKE,        /* eventfd read: the main thread wants us to stop */
	CK_OP_TIMER,       /* time for the next probe */
	CK_OP_TIMER_DEL,   /* removal of that timer when stopping */
	CK_OP_SHUTDOWN,    /* abort of an in-flight probe when stopping */
	CK_OP_STEP,        /* + enum sl_probe_step */
};

struct check {
	struct sl_checker *ck;
	struct sl_server *srv;
	const struct sl_check_conf *cc;
	uint64_t timeout_ms;
	uint32_t idx;          /* direct descriptor slot, and user_data slot */
	uint32_t gen;          /* probe number: keeps every user_data unique */
	bool busy;             /* a probe is in flight */
	bool timer_armed;
	bool shutting;         /* a shutdown of the probe's socket is in flight */
	unsigned inflight;     /* CQEs still due for the current probe */
	uint64_t timer_ud;
	uint64_t start_ms;
	int res[SL_PROBE_NSTEPS];
	int succ, fails;       /* consecutive results, toward rise and fall */
	struct __kernel_timespec ts_timer, ts_step;
	int req_len;           /* 0: tcp check */
	char req[REQ_MAX];
	char resp[RESP_MAX];
};

struct sl_checker {
	pthread_t thread;
	struct sl_ring ring;
	struct check *checks;
	uint32_t nchecks;
	unsigned outstanding;  /* requests of any kind whose CQE is due */
	int wake_fd;           /* owned by the main thread */
	uint64_t wake_val;
	atomic_bool stop_req;
	bool stopping;
	/* start-up handshake with the main thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	int init_rc;
	char why[256];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void arm_wake(struct sl_checker *ck)
{
	sl_ring_read(&ck->ring, ck->wake_fd, &ck->wake_val, sizeof(ck->wake_val),
		     sl_ud_make(0, 0, CK_OP_WAKE, 0));
	ck->outstanding++;
}

static void arm_timer(struct check *c, uint64_t delay_ms)
{
	sl_ring_ts(&c->ts_timer, delay_ms);
	c->timer_ud = sl_ud_make(c->idx, c->gen, CK_OP_TIMER, 0);
	sl_ring_timeout(&c->ck->ring, &c->ts_timer, c->timer_ud);
	c->timer_armed = true;
	c->ck->outstanding++;
}

/* A check starts every interval; one that ran longer than half of it
 * (timeouts) is followed by half an interval of rest, so that a slow
 * server is not probed back to back. */
static uint64_t next_delay(uint64_t interval, uint64_t elapsed)
{
	uint64_t half = interval / 2 ? interval / 2 : 1;

	return elapsed + half < interval ? interval - elapsed : half;
}

static void start_probe(struct check *c)
{
	struct sl_probe p = {
		.slot = c->idx,
		.sa = (const struct sockaddr *)&c->srv->conf->check_addr.ss,
		.salen = c->srv->conf->check_addr.len,
		.req = c->req_len ? c->req : NULL,
		.req_len = (size_t)c->req_len,
		.resp = c->resp,
		.resp_len = sizeof(c->resp),
		.ts = &c->ts_step,
	};
	unsigned n;

	c->gen++;
	for (int k = 0; k < SL_PROBE_NSTEPS; k++)
		p.ud[k] = sl_ud_make(c->idx, c->gen, CK_OP_STEP + (unsigned)k, 0);
	memset(c->res, 0, sizeof(c->res));
	sl_ring_ts(&c->ts_step, c->timeout_ms);
	n = sl_ring_probe(&c->ck->ring, &p);
	c->inflight = n;
	c->ck->outstanding += n;
	c->busy = true;
	c->start_ms = mono_ms();
}

/* Wake whatever the probe waits for; its chain then runs to the close. */
static void shut(struct check *c)
{
	if (c->shutting || !c->busy)
		return;
	sl_ring_shutdown_direct(&c->ck->ring, c->idx,
				sl_ud_make(c->idx, c->gen, CK_OP_SHUTDOWN, 0));
	c->shutting = true;
	c->inflight++;
	c->ck->outstanding++;
}

static const char *tier(int primaries, int backups)
{
	return primaries ? "primary" : backups ? "backup" : "none";
}

static void log_tier_change(const struct sl_backend *be, int p0, int b0)
{
	const char *name = be->conf->name;
	int p1, b1;

	sl_backend_count_up(be, &p1, &b1);
	if (strcmp(tier(p0, b0), tier(p1, b1)) == 0)
		return;
	if (!p1 && !b1)
		sl_log("backend %s has no server available: new sessions are refused", name);
	else if (!p1)
		sl_log("backend %s: no primary server is UP, %d backup server(s) take new "
		       "sessions", name, b1);
	else if (b0 && !p0)
		sl_log("backend %s: a primary server is UP again, backup servers take no new "
		       "sessions", name);
	else
		sl_log("backend %s: servers available again", name);
}

static void transition(struct check *c, enum sl_srv_state to, const struct sl_check_verdict *v,
		       uint64_t ms, int count)
{
	struct sl_backend *be = c->srv->be;
	char why[160], ev[200];
	int p0, b0, from = sl_server_state(c->srv);

	sl_backend_count_up(be, &p0, &b0);
	atomic_store(&c->srv->state, to);
	snprintf(ev, sizeof(ev), "%s, %llu ms, %d/%d %s",
		 sl_check_verdict_str(v, why, sizeof(why)), (unsigned long long)ms, count, count,
		 to == SL_SRV_UP ? "successes" : "failures");
	sl_log("backend %s server %s is %s (%s)", be->conf->name, c->srv->conf->name,
	       to == SL_SRV_UP ? "UP" : "DOWN", ev);
	sl_stats_server_event(c->srv, from, to, ev);
	log_tier_change(be, p0, b0);
}

/* Consecutive results move the server after check_rise successes (while
 * DOWN) or check_fall failures (while UP); any other result resets the run. */
static void record(struct check *c, const struct sl_check_verdict *v, uint64_t ms)
{
	bool up = sl_server_state(c->srv) == SL_SRV_UP;

	sl_stats_check_result(c->srv, (int)v->reason, ms);
	atomic_store(&c->srv->last_check, (int)v->reason + 1);

	if (v->ok == up) {
		c->succ = c->fails = 0;
		return;
	}
	if (v->ok && ++c->succ >= c->cc->rise) {
		transition(c, SL_SRV_UP, v, ms, c->succ);
		c->succ = 0;
	} else if (!v->ok && ++c->fails >= c->cc->fall) {
		transition(c, SL_SRV_DOWN, v, ms, c->fails);
		c->fails = 0;
	}
}

static void probe_done(struct check *c)
{
	uint64_t ms = mono_ms() - c->start_ms;
	struct sl_check_steps st = {
		.http = c->req_len > 0,
		.socket = c->res[SL_PROBE_SOCKET],
		.connect = c->res[SL_PROBE_CONNECT],
		.send = c->res[SL_PROBE_SEND],
		.recv = c->res[SL_PROBE_RECV],
		.recv_timed_out = c->res[SL_PROBE_RECV_TO] == -ETIME,
		.data = c->resp,
	};
	struct sl_check_verdict v;

	c->busy = false;
	if (c->ck->stopping)
		return;
	if (c->res[SL_PROBE_SOCKET] >= 0 && c->res[SL_PROBE_CLOSE] < 0)
		sl_log("backend %s server %s: closing the check socket failed: %s",
		       c->srv->be->conf->name, c->srv->conf->name,
		       strerror(-c->res[SL_PROBE_CLOSE]));
	sl_check_judge(&st, c->cc, &v);
	record(c, &v, ms);
	arm_timer(c, next_delay(c->cc->interval_ms, ms));
}

static void on_wake(struct sl_checker *ck)
{
	if (!atomic_load(&ck->stop_req)) {
		arm_wake(ck);
		return;
	}
	ck->stopping = true;
	for (uint32_t i = 0; i < ck->nchecks; i++) {
		struct check *c = &ck->checks[i];

		if (c->timer_armed) {
			sl_ring_timeout_remove(&ck->ring, c->timer_ud,
					       sl_ud_make(c->idx, 0, CK_OP_TIMER_DEL, 0));
			ck->outstanding++;
		}
		shut(c);
	}
}

static void dispatch(struct sl_checker *ck, const struct io_uring_cqe *cqe)
{
	uint64_t u = cqe->user_data;
	unsigned op = sl_ud_op(u);
	struct check *c;

	ck->outstanding--;
	if (op == CK_OP_WAKE) {
		on_wake(ck);
		return;
	}
	if (sl_ud_slot(u) >= ck->nchecks)
		return;
	c = &ck->checks[sl_ud_slot(u)];
	switch (op) {
	case CK_OP_TIMER:
		c->timer_armed = false;
		if (cqe->res == -ECANCELED || ck->stopping)
			return;
		/* maint (admin API): no probe, the timer keeps ticking so that
		 * checks resume at once on `ready` */
		if (atomic_load(&c->srv->admin) == SL_SRV_ADMIN_MAINT)
			arm_timer(c, c->cc->interval_ms);
		else
			start_probe(c);
		return;
	case CK_OP_TIMER_DEL:
		return;
	case CK_OP_SHUTDOWN:
		c->shutting = false;
		break;
	default:
		if (op < CK_OP_STEP || op >= CK_OP_STEP + SL_PROBE_NSTEPS)
			return;
		c->res[op - CK_OP_STEP] = cqe->res;
		/* A connect that timed out leaves the socket in SYN_SENT, where the
		 * send and recv would each wait for their own deadline: abort it so
		 * that the chain runs to its close at once. Stopping: abort again
		 * whatever the chain went on to. */
		if ((op == CK_OP_STEP + SL_PROBE_CONNECT && cqe->res < 0 && c->req_len) ||
		    (ck->stopping && op != CK_OP_STEP + SL_PROBE_CLOSE))
			shut(c);
		break;
	}
	if (--c->inflight == 0)
		probe_done(c);
}

static void loop(struct sl_checker *ck)
{
	struct io_uring *ring = &ck->ring.uring;

	while (!ck->stopping || ck->outstanding) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret = io_uring_submit_and_wait(ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			/* sl_ring_exit() still closes every direct descriptor */
			sl_log("health checks: io_uring_enter failed: %s", strerror(-ret));
			break;
		}
		io_uring_for_each_cqe(ring, head, cqe) {
			dispatch(ck, cqe);
			n++;
		}
		io_uring_cq_advance(ring, n);
	}
}

static int checker_init(struct sl_checker *ck)
{
	unsigned cq = 2 * SQ_ENTRIES;
	int ret;

	/* room for every probe's CQEs at once, plus timers and shutdowns (past
	 * the kernel's maximum, NODROP keeps the overflow) */
	while (cq < ck->nchecks * (SL_PROBE_NSTEPS + 3) + 16 && cq < CQ_MAX)
		cq *= 2;
	ret = sl_ring_check_init(&ck->ring, SQ_ENTRIES, cq, ck->nchecks, ck->why,
				 sizeof(ck->why));
	if (ret < 0)
		return ret;
	arm_wake(ck);
	for (uint32_t i = 0; i < ck->nchecks; i++) {
		struct check *c = &ck->checks[i];

		/* spread the first probes over the interval: no burst at start */
		arm_timer(c, c->cc->interval_ms * i / ck->nchecks);
	}
	ret = io_uring_submit(&ck->ring.uring);
	if (ret < 0)
		snprintf(ck->why, sizeof(ck->why), "first submit failed: %s", strerror(-ret));
	return ret < 0 ? ret : 0;
}

static void *checker_main(void *arg)
{
	struct sl_checker *ck = arg;
	int ret = checker_init(ck);

	pthread_mutex_lock(&ck->lock);
	ck->init_rc = ret;
	ck->started = true;
	pthread_cond_signal(&ck->cond);
	pthread_mutex_unlock(&ck->lock);
	if (ret == 0)
		loop(ck);
	sl_ring_exit(&ck->ring);
	return NULL;
}

static void checker_free(struct sl_checker *ck)
{
	if (ck->wake_fd >= 0)
		close(ck->wake_fd);
	pthread_cond_destroy(&ck->cond);
	pthread_mutex_destroy(&ck->lock);
	free(ck->checks);
	free(ck);
}

/* One struct check per server with "check"; a disabled one (maint) is
 * probed once the admin API sets it ready. */
static int fill_checks(struct sl_checker *ck, struct sl_backend *bes, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < bes[i].nservers; j++) {
			struct sl_server *s = &bes[i].servers[j];
			struct check *c;

			if (!s->conf->check)
				continue;
			c = &ck->checks[ck->nchecks];
			c->ck = ck;
			c->srv = s;
			c->cc = &bes[i].conf->check;
			c->timeout_ms = bes[i].conf->timeouts.ms[SL_TO_CHECK];
			c->idx = ck->nchecks++;
			if (c->cc->kind != SL_CHECK_HTTP)
				continue;
			c->req_len = sl_check_http_request(c->req, sizeof(c->req), c->cc,
							   &s->conf->addr);
			if (c->req_len < 0) {
				snprintf(ck->why, sizeof(ck->why), "backend %s: the http check "
					 "request is longer than %d bytes", bes[i].conf->name,
					 REQ_MAX);
				return -ENOSPC;
			}
		}
	}
	return 0;
}

static int count_checked(const struct sl_backend *bes, int n)
{
	int count = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < bes[i].nservers; j++)
			count += bes[i].servers[j].conf->check;
	return count;
}

static int run_thread(struct sl_checker *ck)
{
	int ret = -pthread_create(&ck->thread, NULL, checker_main, ck);

	if (ret < 0) {
		snprintf(ck->why, sizeof(ck->why), "cannot start thread: %s", strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&ck->lock);
	while (!ck->started)
		pthread_cond_wait(&ck->cond, &ck->lock);
	pthread_mutex_unlock(&ck->lock);
	if (ck->init_rc < 0)
		pthread_join(ck->thread, NULL);
	else
		pthread_setname_np(ck->thread, "sluice-check");
	return ck->init_rc;
}

int sl_check_start(struct sl_backend *bes, int n, struct sl_checker **out, char *why,
		   size_t whylen)
{
	int count = count_checked(bes, n), ret;
	struct sl_checker *ck;

	*out = NULL;
	if (!count)
		return 0;
	ck = calloc(1, sizeof(*ck));
	if (!ck || !(ck->checks = calloc((size_t)count, sizeof(*ck->checks)))) {
		free(ck);
		snprintf(why, whylen, "out of memory for %d checks", count);
		return -ENOMEM;
	}
	pthread_mutex_init(&ck->lock, NULL);
	pthread_cond_init(&ck->cond, NULL);
	ck->wake_fd = eventfd(0, EFD_CLOEXEC);
	ret = ck->wake_fd < 0 ? -errno : fill_checks(ck, bes, n);
	if (ck->wake_fd < 0)
		snprintf(ck->why, sizeof(ck->why), "eventfd: %s", strerror(-ret));
	if (ret == 0)
		ret = run_thread(ck);
	if (ret < 0) {
		snprintf(why, whylen, "%s", ck->why);
		checker_free(ck);
		return ret;
	}
	sl_log("health checks: %d server(s), one checker thread", count);
	*out = ck;
	return 0;
}

void sl_check_stop(struct sl_checker *ck)
{
	uint64_t one = 1;

	if (!ck)
		return;
	atomic_store(&ck->stop_req, true);
	if (write(ck->wake_fd, &one, sizeof(one)) < 0)
		sl_log("health checks: cannot wake the checker: %s", strerror(errno));
	pthread_join(ck->thread, NULL);
	checker_free(ck);
}
