/*
 * The fixture of the connection layer's unit tests (test_conn.c,
 * test_conn_flow.c): a worker built by hand (its ring with NBUF provided
 * buffers, buffer arrays, connection table; no sessions), a loop that runs
 * the ring and routes connection completions to core/conn.c, socketpairs
 * whose far end is the test's, an owner that counts its events, and a fake
 * transport, "caesar", that stands where TLS would: its handshake is one
 * byte 'H' from the peer (anything else fails it), it adds 1 to every byte
 * received (through a private queue of received buffers into plaintext
 * buffers, as TLS does) and subtracts 1 from every byte sent (from its own
 * buffer, as TLS sends records); caesar_nc_ops adds an end-of-stream byte
 * 'Z' (TLS's close_notify).
 *
 * Every test ends with end_test(): no connection left in the table, as many
 * fds open as before it. Included by one test file each (static state).
 */
#ifndef SL_TESTS_UNIT_CONN_FIXTURE_H
#define SL_TESTS_UNIT_CONN_FIXTURE_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/stats.h"
#include "core/worker-t.h"
#include "ring/ring.h"
#include "ring/udata.h"

#define NBUF 64u /* provided buffers of the test ring */

static struct sl_worker W;
static struct sl_worker *const w = &W;
static int fd_base;
static int far_fds[8];
static int nfar;

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* ---- a worker of our own ------------------------------------------------ */

static inline void setup(void)
{
	char why[256] = "";

	memset(w, 0, sizeof(*w));
	cr_assert_eq(sl_ring_init(&w->ring, 256, SL_BUF_SIZE, NBUF, why, sizeof(why)), 0,
		     "ring: %s", why);
	/* plaintext ids start at SL_BUF_COUNT whatever the provided count */
	w->buf_next = calloc(SL_BUF_COUNT + SL_PBUF_COUNT, sizeof(*w->buf_next));
	w->buf_len = calloc(SL_BUF_COUNT + SL_PBUF_COUNT, sizeof(*w->buf_len));
	w->pbuf = calloc(SL_PBUF_COUNT, sizeof(*w->pbuf));
	w->pbuf_free = calloc(SL_PBUF_COUNT, sizeof(*w->pbuf_free));
	w->st = calloc(1, sizeof(*w->st));
	cr_assert(w->buf_next && w->buf_len && w->pbuf && w->pbuf_free && w->st);
	for (uint32_t i = 0; i < SL_PBUF_COUNT; i++)
		w->pbuf_free[i] = (uint16_t)(SL_PBUF_COUNT - 1 - i);
	w->npbuf_free = SL_PBUF_COUNT;
	cr_assert_eq(sl_conn_table_init(w, 16), 0);
	w->now_ms = mono_ms();
	nfar = 0;
	fd_base = count_fds(); /* with the ring's fd */
}

/* One batch: submit, wait up to ms for a completion, dispatch what came. */
static inline int loop_once(unsigned ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	int n = 0;

	sl_ring_ts(&ts, ms);
	io_uring_submit_and_wait_timeout(&w->ring.uring, &cqe, 1, &ts, NULL);
	w->now_ms = mono_ms();
	while (io_uring_peek_cqe(&w->ring.uring, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;
		unsigned op = sl_ud_op(copy.user_data);

		io_uring_cqe_seen(&w->ring.uring, cqe);
		if (op >= SL_OP_RECV && op <= SL_OP_RECV_CANCEL)
			sl_conn_on_cqe(w, &copy);
		n++;
	}
	sl_ring_buf_publish(&w->ring);
	sl_conn_feed_starved(w);
	io_uring_submit(&w->ring.uring);
	return n;
}

/* Run the ring until cond holds (at most 5 s: a test cannot hang). */
#define RUN_UNTIL(cond)                                                           \
	do {                                                                      \
		uint64_t end_ = mono_ms() + 5000;                                 \
		while (!(cond) && mono_ms() < end_)                               \
			loop_once(20);                                            \
		cr_assert((cond), "timed out waiting for: %s", #cond);           \
	} while (0)

/* Run the ring for ms whatever happens (to see that nothing more does). */
static inline void run_for(unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (mono_ms() < end)
		loop_once(10);
}

static inline void close_all(void)
{
	for (uint32_t i = 0; i < w->conns.hwm; i++)
		if (w->conns.v[i].st != SL_CONN_FREE && w->conns.v[i].st != SL_CONN_CLOSING)
			sl_conn_close(&w->conns.v[i], false);
	RUN_UNTIL(w->conns.live == 0);
}

static inline void close_far(void)
{
	for (int i = 0; i < nfar; i++)
		if (far_fds[i] >= 0)
			close(far_fds[i]);
	nfar = 0;
}

/* The end of every test: no connection left, no fd leaked. (Here, not in
 * the fixture's fini: Criterion does not fail a test for an assertion
 * there.) */
static inline void end_test(void)
{
	cr_assert_eq(w->conns.live, 0, "%u connections left", w->conns.live);
	close_far();
	cr_assert_eq(count_fds(), fd_base, "fds leaked: %d before, %d after", fd_base,
		     count_fds());
}

/* After a failed test too. */
static inline void teardown(void)
{
	close_all();
	close_far();
	sl_conn_table_free(w);
	sl_ring_exit(&w->ring);
	for (uint32_t i = 0; i < SL_PBUF_COUNT; i++)
		free(w->pbuf[i]);
	free(w->pbuf);
	free(w->pbuf_free);
	free(w->buf_next);
	free(w->buf_len);
	free(w->st);
}

/* ---- the owner ------------------------------------------------------------- */

struct owner {
	int ready, data, eof, errors, hs_fail, quiet;
	int last_error;
	enum sl_hs_fail hs_why;
	uint64_t recv_bytes, sent_bytes;
	int sends;
	bool consume;            /* on_data reads everything into got */
	char got[256 * 1024];
	uint32_t ngot;
	/* relaying: on_sent flushes again from src within *relay */
	struct sl_conn *src;
	uint64_t *relay;
	/* on_ready: flush from src (the readiness gate test) */
	bool flush_on_ready;
};

static inline void drain(struct owner *o, struct sl_conn *c)
{
	const char *p;
	uint32_t n;

	while (sl_conn_peek(c, &p, &n)) {
		cr_assert_leq(o->ngot + n, sizeof(o->got));
		memcpy(o->got + o->ngot, p, n);
		o->ngot += n;
		sl_conn_consume(c, n);
	}
}

static inline void on_connect(void *owner, struct sl_conn *c, int res)
{
	(void)owner;
	(void)c;
	cr_assert_fail("unexpected connect completion (%d)", res);
}

static inline void on_ready(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	o->ready++;
	if (o->flush_on_ready)
		sl_conn_flush(c, o->src, o->relay);
}

static inline void on_data(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	o->data++;
	if (o->consume)
		drain(o, c);
}

static inline void on_eof(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	(void)c;
	o->eof++;
}

static inline void on_sent(void *owner, struct sl_conn *c, uint32_t n)
{
	struct owner *o = owner;

	o->sends++;
	o->sent_bytes += n;
	sl_conn_flush(c, o->src, o->relay);
}

static inline void on_error(void *owner, struct sl_conn *c, int res)
{
	struct owner *o = owner;

	(void)c;
	o->errors++;
	o->last_error = res;
}

static inline void on_hs_fail(void *owner, struct sl_conn *c, enum sl_hs_fail why,
			      const char *detail)
{
	struct owner *o = owner;

	(void)c;
	(void)detail;
	o->hs_fail++;
	o->hs_why = why;
}

static inline void on_recv_bytes(void *owner, struct sl_conn *c, uint32_t n)
{
	struct owner *o = owner;

	(void)c;
	o->recv_bytes += n;
}

static inline void on_quiet(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	(void)c;
	o->quiet++;
}

static const struct sl_conn_cb owner_cb = {
	.on_connect = on_connect,
	.on_ready = on_ready,
	.on_data = on_data,
	.on_eof = on_eof,
	.on_sent = on_sent,
	.on_error = on_error,
	.on_hs_fail = on_hs_fail,
	.on_recv_bytes = on_recv_bytes,
	.on_quiet = on_quiet,
};

/* A connection on one end of a socketpair; *far gets the other end. */
static inline struct sl_conn *pair(struct owner *o, int *far)
{
	int sv[2];
	struct sl_conn *c;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c = sl_conn_new(w, sv[0], &owner_cb, o);
	cr_assert_not_null(c);
	cr_assert_eq(c->st, SL_CONN_OPEN);
	cr_assert_lt(nfar, 8);
	far_fds[nfar++] = sv[1];
	*far = sv[1];
	return c;
}

static inline void far_write(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* Read exactly n bytes from the far end, running the ring meanwhile. */
static inline void far_read(int fd, char *dst, size_t n)
{
	uint64_t end = mono_ms() + 5000;
	size_t got = 0;

	while (got < n && mono_ms() < end) {
		ssize_t k = recv(fd, dst + got, n - got, MSG_DONTWAIT);

		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		cr_assert(k < 0 && errno == EAGAIN, "far end: %s after %zu of %zu bytes",
			  k == 0 ? "EOF" : strerror(errno), got, n);
		loop_once(10);
	}
	cr_assert_eq(got, n, "far end got %zu of %zu bytes", got, n);
}

/* The far end reads EOF (and nothing before it). */
static inline void far_expect_eof(int fd)
{
	uint64_t end = mono_ms() + 5000;
	char b;

	for (;;) {
		ssize_t k = recv(fd, &b, 1, MSG_DONTWAIT);

		cr_assert_leq(k, 0, "far end: a byte where EOF was expected");
		if (k == 0)
			return;
		cr_assert_eq(errno, EAGAIN, "far end: %s", strerror(errno));
		cr_assert_lt(mono_ms(), end, "far end: no EOF");
		loop_once(10);
	}
}

/* Nothing (more) to read at the far end right now. */
static inline void far_expect_nothing(int fd)
{
	char b;

	cr_assert_eq(recv(fd, &b, 1, MSG_DONTWAIT), -1, "far end: unexpected byte or EOF");
	cr_assert_eq(errno, EAGAIN);
}

static inline uint32_t q_bytes(struct sl_conn *c, char *dst, uint32_t cap)
{
	return sl_conn_gather(c, dst, cap);
}

static inline void put(struct sl_conn *c, const char *s, uint32_t n)
{
	struct sl_obuf ob = { 0 };

	ob.p = malloc(n);
	cr_assert_not_null(ob.p);
	memcpy(ob.p, s, n);
	ob.len = ob.cap = n;
	cr_assert(sl_conn_put(c, &ob));
	free(ob.p); /* what put gave back (it may have taken ours) */
}

/* ---- the caesar transport -------------------------------------------------- */

struct caesar {
	bool ready;
	bool closed;             /* our end-of-stream marker is queued */
	struct sl_bufq in;       /* received buffers not yet decoded */
	char out[4096];          /* encoded bytes of the send being built */
	uint32_t out_len, out_off;
	int frees;
};

static int caesar_frees; /* a freed context cannot count itself */

static inline void caesar_decode(struct sl_conn *c, struct caesar *x)
{
	bool any = false;

	while (x->in.count) {
		uint32_t room, n;
		char *p = sl_conn_plain_room(c, &room);

		if (!p)
			break; /* no plaintext buffer: stays held */
		n = sl_conn_q_read(c, &x->in, p, room);
		for (uint32_t i = 0; i < n; i++)
			p[i] = (char)(p[i] + 1);
		sl_conn_plain_commit(c, n);
		any = any || n;
	}
	if (any)
		sl_conn_notify_data(c);
}

static inline void caesar_input(struct sl_conn *c, uint16_t bid, uint32_t len)
{
	struct caesar *x = c->xctx;

	sl_conn_q_push(c, &x->in, bid, len);
	if (!x->ready) {
		char h;

		sl_conn_q_read(c, &x->in, &h, 1);
		if (h != 'H') {
			sl_conn_q_clear(c, &x->in);
			sl_conn_hs_failed(c, SL_HS_FAIL_PROTOCOL, "no H");
			return;
		}
		x->ready = true;
		sl_conn_notify_ready(c);
	}
	caesar_decode(c, x);
}

static inline void caesar_input_eof(struct sl_conn *c)
{
	struct caesar *x = c->xctx;

	if (!x->ready)
		sl_conn_hs_failed(c, SL_HS_FAIL_CLOSED, "eof in handshake");
	else
		sl_conn_notify_eof(c);
}

static inline bool caesar_ready(const struct sl_conn *c)
{
	const struct caesar *x = c->xctx;

	return x->ready;
}

static inline int caesar_prep(struct sl_conn *c, struct iovec *iov, int max)
{
	struct caesar *x = c->xctx;
	const char *p;
	uint32_t n;

	(void)max;
	if (!x->ready)
		return 0;
	if (x->out_off == x->out_len && !x->closed) {
		x->out_off = x->out_len = 0;
		while (x->out_len < sizeof(x->out) && sl_conn_next_chunk(c, &p, &n)) {
			if (n > sizeof(x->out) - x->out_len)
				n = (uint32_t)sizeof(x->out) - x->out_len;
			for (uint32_t i = 0; i < n; i++)
				x->out[x->out_len + i] = (char)(p[i] - 1);
			x->out_len += n;
			sl_conn_chunk_done(c, n);
		}
	}
	if (x->out_off == x->out_len)
		return 0;
	iov[0].iov_base = x->out + x->out_off;
	iov[0].iov_len = x->out_len - x->out_off;
	return 1;
}

static inline void caesar_sent(struct sl_conn *c, uint32_t n)
{
	struct caesar *x = c->xctx;

	x->out_off += n;
	cr_assert_leq(x->out_off, x->out_len);
}

static inline uint32_t caesar_held(const struct sl_conn *c)
{
	const struct caesar *x = c->xctx;

	return x->in.count;
}

static inline void caesar_free(struct sl_conn *c)
{
	struct caesar *x = c->xctx;

	sl_conn_q_clear(c, &x->in);
	caesar_frees++;
	free(x);
	c->xctx = NULL;
}

static const struct sl_xprt_ops caesar_ops = {
	.name = "caesar",
	.input = caesar_input,
	.input_eof = caesar_input_eof,
	.ready = caesar_ready,
	.prep = caesar_prep,
	.sent = caesar_sent,
	.held = caesar_held,
	.free = caesar_free,
};

/* The end of stream ('Z', like TLS's close_notify): behind what is being
 * sent (out does not move: appending is safe during a send). */
static inline void caesar_notify_close(struct sl_conn *c)
{
	struct caesar *x = c->xctx;

	if (x->closed)
		return;
	x->closed = true;
	if (x->out_off == x->out_len)
		x->out_off = x->out_len = 0;
	cr_assert_lt(x->out_len, sizeof(x->out));
	x->out[x->out_len++] = 'Z';
}

static const struct sl_xprt_ops caesar_nc_ops = {
	.name = "caesar-nc",
	.input = caesar_input,
	.input_eof = caesar_input_eof,
	.ready = caesar_ready,
	.prep = caesar_prep,
	.sent = caesar_sent,
	.notify_close = caesar_notify_close,
	.held = caesar_held,
	.free = caesar_free,
};

static inline struct sl_conn *caesar_pair(struct owner *o, int *far)
{
	struct sl_conn *c = pair(o, far);
	struct caesar *x = calloc(1, sizeof(*x));

	cr_assert_not_null(x);
	sl_conn_set_xprt(c, &caesar_ops, x);
	return c;
}

#endif
