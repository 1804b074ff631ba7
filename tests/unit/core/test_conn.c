/*
 * Unit tests of core/conn.c, the connection layer, driven through a real
 * io_uring (a worker built by hand: its ring, buffers and connection table,
 * no sessions) on socketpairs. The far end of each pair is the test's.
 *
 * A fake transport, "caesar", stands where TLS would: its handshake is one
 * byte 'H' from the peer (anything else fails it), it adds 1 to every byte
 * received (through a private queue of received buffers into plaintext
 * buffers, as TLS does) and subtracts 1 from every byte sent (from its own
 * buffer, as TLS sends records). It shows that the layer routes bytes both
 * ways through the transport and gates output on its readiness.
 *
 * Every test ends with no connection left in the table and as many fds open
 * as before it (end_test()).
 */
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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int count_fds(void)
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

static void setup(void)
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
static int loop_once(unsigned ms)
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
static void run_for(unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (mono_ms() < end)
		loop_once(10);
}

static void close_all(void)
{
	for (uint32_t i = 0; i < w->conns.hwm; i++)
		if (w->conns.v[i].st != SL_CONN_FREE && w->conns.v[i].st != SL_CONN_CLOSING)
			sl_conn_close(&w->conns.v[i], false);
	RUN_UNTIL(w->conns.live == 0);
}

static void close_far(void)
{
	for (int i = 0; i < nfar; i++)
		if (far_fds[i] >= 0)
			close(far_fds[i]);
	nfar = 0;
}

/* The end of every test: no connection left, no fd leaked. (Here, not in
 * the fixture's fini: Criterion does not fail a test for an assertion
 * there.) */
static void end_test(void)
{
	cr_assert_eq(w->conns.live, 0, "%u connections left", w->conns.live);
	close_far();
	cr_assert_eq(count_fds(), fd_base, "fds leaked: %d before, %d after", fd_base,
		     count_fds());
}

/* After a failed test too. */
static void teardown(void)
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

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 60);

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

static void drain(struct owner *o, struct sl_conn *c)
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

static void on_connect(void *owner, struct sl_conn *c, int res)
{
	(void)owner;
	(void)c;
	cr_assert_fail("unexpected connect completion (%d)", res);
}

static void on_ready(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	o->ready++;
	if (o->flush_on_ready)
		sl_conn_flush(c, o->src, o->relay);
}

static void on_data(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	o->data++;
	if (o->consume)
		drain(o, c);
}

static void on_eof(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	(void)c;
	o->eof++;
}

static void on_sent(void *owner, struct sl_conn *c, uint32_t n)
{
	struct owner *o = owner;

	o->sends++;
	o->sent_bytes += n;
	sl_conn_flush(c, o->src, o->relay);
}

static void on_error(void *owner, struct sl_conn *c, int res)
{
	struct owner *o = owner;

	(void)c;
	o->errors++;
	o->last_error = res;
}

static void on_hs_fail(void *owner, struct sl_conn *c, enum sl_hs_fail why, const char *detail)
{
	struct owner *o = owner;

	(void)c;
	(void)detail;
	o->hs_fail++;
	o->hs_why = why;
}

static void on_recv_bytes(void *owner, struct sl_conn *c, uint32_t n)
{
	struct owner *o = owner;

	(void)c;
	o->recv_bytes += n;
}

static void on_quiet(void *owner, struct sl_conn *c)
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
static struct sl_conn *pair(struct owner *o, int *far)
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

static void far_write(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* Read exactly n bytes from the far end, running the ring meanwhile. */
static void far_read(int fd, char *dst, size_t n)
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
static void far_expect_eof(int fd)
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
static void far_expect_nothing(int fd)
{
	char b;

	cr_assert_eq(recv(fd, &b, 1, MSG_DONTWAIT), -1, "far end: unexpected byte or EOF");
	cr_assert_eq(errno, EAGAIN);
}

static uint32_t q_bytes(struct sl_conn *c, char *dst, uint32_t cap)
{
	return sl_conn_gather(c, dst, cap);
}

static void put(struct sl_conn *c, const char *s, uint32_t n)
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

static void caesar_decode(struct sl_conn *c, struct caesar *x)
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

static void caesar_input(struct sl_conn *c, uint16_t bid, uint32_t len)
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

static void caesar_input_eof(struct sl_conn *c)
{
	struct caesar *x = c->xctx;

	if (!x->ready)
		sl_conn_hs_failed(c, SL_HS_FAIL_CLOSED, "eof in handshake");
	else
		sl_conn_notify_eof(c);
}

static bool caesar_ready(const struct sl_conn *c)
{
	const struct caesar *x = c->xctx;

	return x->ready;
}

static int caesar_prep(struct sl_conn *c, struct iovec *iov, int max)
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

static void caesar_sent(struct sl_conn *c, uint32_t n)
{
	struct caesar *x = c->xctx;

	x->out_off += n;
	cr_assert_leq(x->out_off, x->out_len);
}

static uint32_t caesar_held(const struct sl_conn *c)
{
	const struct caesar *x = c->xctx;

	return x->in.count;
}

static void caesar_free(struct sl_conn *c)
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
static void caesar_notify_close(struct sl_conn *c)
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

static struct sl_conn *caesar_pair(struct owner *o, int *far)
{
	struct sl_conn *c = pair(o, far);
	struct caesar *x = calloc(1, sizeof(*x));

	cr_assert_not_null(x);
	sl_conn_set_xprt(c, &caesar_ops, x);
	return c;
}

/* ---- through the fake transport ------------------------------------------- */

Test(conn, caesar_input_is_decoded_into_the_queue)
{
	static struct owner o;
	char buf[64];
	int far;
	struct sl_conn *c = caesar_pair(&o, &far);

	cr_assert_not(sl_conn_ready(c));
	sl_conn_recv_start(c);
	far_write(far, "Hhello", 6);
	RUN_UNTIL(o.data > 0);
	cr_assert_eq(o.ready, 1);
	cr_assert(sl_conn_ready(c));
	cr_assert_eq(o.recv_bytes, 6, "socket bytes, before the transport");
	cr_assert_eq(c->bytes_in, 6);
	cr_assert_eq(q_bytes(c, buf, sizeof(buf)), 5);
	cr_assert_arr_eq(buf, "ifmmp", 5);
	/* more, in pieces: packed behind the first in the plaintext buffer */
	far_write(far, "abc", 3);
	RUN_UNTIL(o.recv_bytes == 9);
	far_write(far, "xyz", 3);
	RUN_UNTIL(o.recv_bytes == 12);
	cr_assert_eq(q_bytes(c, buf, sizeof(buf)), 11);
	cr_assert_arr_eq(buf, "ifmmpbcdyz{", 11);
	cr_assert_eq(o.ready, 1, "ready once");
	/* the owner reads and consumes */
	drain(&o, c);
	cr_assert_eq(o.ngot, 11);
	cr_assert_not(sl_conn_has_data(c));
	cr_assert_eq(o.errors, 0);
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(caesar_frees, 1, "the transport is freed with the connection");
	far_expect_eof(far);
	end_test();
}

Test(conn, caesar_handshake_failure_is_reported)
{
	static struct owner o;
	int far;
	struct sl_conn *c = caesar_pair(&o, &far);

	sl_conn_recv_start(c);
	far_write(far, "GET /", 5);
	RUN_UNTIL(o.hs_fail > 0);
	cr_assert_eq(o.hs_why, SL_HS_FAIL_PROTOCOL);
	cr_assert_eq(o.ready, 0);
	cr_assert_eq(o.data, 0);
	cr_assert_not(sl_conn_ready(c));
	cr_assert_eq(c->q.count, 0);
	sl_conn_close(c, false);
	RUN_UNTIL(w->conns.live == 0);
	end_test();
}

Test(conn, caesar_output_is_encoded_and_counted)
{
	static struct owner o;
	char buf[64];
	int far;
	struct sl_conn *c = caesar_pair(&o, &far);

	sl_conn_recv_start(c);
	far_write(far, "H", 1);
	RUN_UNTIL(o.ready == 1);
	put(c, "ifmmp!xpsme", 11);
	cr_assert(sl_conn_out_pending(c));
	sl_conn_flush(c, NULL, NULL);
	far_read(far, buf, 11);
	cr_assert_arr_eq(buf, "hello world", 11);
	RUN_UNTIL(o.sent_bytes == 11);
	cr_assert_eq(c->bytes_out, 11);
	cr_assert_not(sl_conn_out_pending(c));
	/* a second message, put while nothing waits */
	put(c, "bcd", 3);
	sl_conn_flush(c, NULL, NULL);
	far_read(far, buf, 3);
	cr_assert_arr_eq(buf, "abc", 3);
	RUN_UNTIL(o.sent_bytes == 14);
	far_expect_nothing(far);
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	far_expect_eof(far);
	end_test();
}

/* Nothing is sent, and nothing taken from the peer, before the handshake. */
Test(conn, output_waits_for_the_handshake)
{
	static struct owner oa, ob;
	char buf[64];
	int fa, fb;
	struct sl_conn *a = caesar_pair(&oa, &fa);
	struct sl_conn *b = pair(&ob, &fb);

	sl_conn_link(a, b);
	sl_conn_recv_start(a);
	sl_conn_recv_start(b);
	/* b (raw) receives bytes meant for a */
	far_write(fb, "bcd", 3);
	RUN_UNTIL(b->q.count == 1);
	put(a, "opq", 3);
	sl_conn_flush(a, b, NULL);
	cr_assert_not(a->tx_busy, "a send before the handshake");
	cr_assert_eq(b->q.count, 1, "the peer's buffer was taken before the handshake");
	cr_assert_eq(a->txq.count, 0);
	run_for(100);
	far_expect_nothing(fa);
	/* the handshake: the owner flushes from b on ready */
	oa.flush_on_ready = true;
	oa.src = b;
	far_write(fa, "H", 1);
	far_read(fa, buf, 6);
	cr_assert_arr_eq(buf, "nopabc", 6, "out first, then the peer's bytes");
	RUN_UNTIL(oa.sent_bytes == 6);
	cr_assert_eq(b->q.count, 0);
	cr_assert_eq(a->txq.count, 0, "the peer's buffer is released after the send");
	sl_conn_close(a, true);
	sl_conn_close(b, true);
	RUN_UNTIL(w->conns.live == 0);
	far_expect_eof(fa);
	far_expect_eof(fb);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF, "every provided buffer is back");
	end_test();
}

/* ---- end of stream ----------------------------------------------------------- */

Test(conn, far_eof_reaches_the_owner)
{
	static struct owner o, oc;
	int far, fc;
	struct sl_conn *raw = pair(&o, &far);
	struct sl_conn *cz = caesar_pair(&oc, &fc);

	o.consume = true;
	sl_conn_recv_start(raw);
	far_write(far, "last", 4);
	shutdown(far, SHUT_WR);
	RUN_UNTIL(o.eof == 1);
	cr_assert(raw->rd_eof);
	cr_assert_eq(o.ngot, 4, "the bytes before the FIN arrived first");
	cr_assert_arr_eq(o.got, "last", 4);
	cr_assert_eq(raw->rx, SL_RX_OFF, "no recv after EOF");
	run_for(50);
	cr_assert_eq(o.eof, 1, "EOF once");

	/* through the transport */
	oc.consume = true;
	sl_conn_recv_start(cz);
	far_write(fc, "Hz", 2);
	shutdown(fc, SHUT_WR);
	RUN_UNTIL(oc.eof == 1);
	cr_assert(cz->rd_eof);
	cr_assert_eq(oc.ngot, 1);
	cr_assert_eq(oc.got[0], '{');
	sl_conn_close(raw, true);
	sl_conn_close(cz, true);
	RUN_UNTIL(w->conns.live == 0);
	end_test();
}

Test(conn, shutdown_sends_fin_after_pending_output)
{
	static struct owner o, oc;
	char buf[16];
	int far, fc;
	struct sl_conn *c = pair(&o, &far);
	struct sl_conn *cz = caesar_pair(&oc, &fc);

	sl_conn_recv_start(c);
	put(c, "bye", 3);
	sl_conn_flush(c, NULL, NULL);
	sl_conn_shutdown(c);
	cr_assert(c->wr_shut);
	far_read(far, buf, 3);
	cr_assert_arr_eq(buf, "bye", 3);
	far_expect_eof(far);
	/* the other direction still works */
	far_write(far, "more", 4);
	RUN_UNTIL(c->q.count == 1);
	cr_assert_eq(sl_conn_gather(c, buf, sizeof(buf)), 4);

	sl_conn_recv_start(cz);
	far_write(fc, "H", 1);
	RUN_UNTIL(oc.ready == 1);
	put(cz, "cze", 3);
	sl_conn_flush(cz, NULL, NULL);
	sl_conn_shutdown(cz);
	far_read(fc, buf, 3);
	cr_assert_arr_eq(buf, "byd", 3);
	far_expect_eof(fc);
	sl_conn_close(c, true);
	sl_conn_close(cz, true);
	RUN_UNTIL(w->conns.live == 0);
	end_test();
}

/* ---- relaying (raw) ------------------------------------------------------------ */

static void pattern(char *p, uint32_t n, uint32_t from)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (char)('a' + (from + i) % 23);
}

/* A limit inside the only buffer: that many bytes go, the rest stays. */
Test(conn, relay_limit_inside_a_buffer)
{
	static struct owner oa, ob;
	static char src[3000], buf[3000];
	int fa, fb;
	struct sl_conn *a = pair(&oa, &fa);
	struct sl_conn *b = pair(&ob, &fb);
	uint64_t relay = 1000;

	sl_conn_link(a, b);
	sl_conn_recv_start(a);
	pattern(src, sizeof(src), 0);
	far_write(fa, src, sizeof(src));
	RUN_UNTIL(oa.recv_bytes == sizeof(src));
	cr_assert_eq(a->q.count, 1);
	ob.src = a;
	ob.relay = &relay;
	sl_conn_flush(b, a, &relay);
	cr_assert_eq(relay, 0);
	far_read(fb, buf, 1000);
	cr_assert_arr_eq(buf, src, 1000);
	RUN_UNTIL(ob.sent_bytes == 1000);
	run_for(50);
	far_expect_nothing(fb);
	cr_assert_eq(sl_conn_gather(a, buf, sizeof(buf)), 2000, "the rest stays queued");
	cr_assert_arr_eq(buf, src + 1000, 2000);
	/* then without a limit */
	ob.relay = NULL;
	sl_conn_flush(b, a, NULL);
	far_read(fb, buf, 2000);
	cr_assert_arr_eq(buf, src + 1000, 2000);
	RUN_UNTIL(ob.sent_bytes == 3000);
	cr_assert_eq(a->q.count, 0);
	sl_conn_close(a, true);
	sl_conn_close(b, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* A limit inside the second of several buffers: the first buffer goes as
 * it is, the part of the second after the first send. */
Test(conn, relay_limit_across_buffers)
{
	static struct owner oa, ob;
	static char src[3000], buf[3000];
	int fa, fb;
	struct sl_conn *a = pair(&oa, &fa);
	struct sl_conn *b = pair(&ob, &fb);
	uint64_t relay = 1500;

	sl_conn_link(a, b);
	sl_conn_recv_start(a);
	pattern(src, sizeof(src), 0);
	for (int i = 0; i < 3; i++) {
		far_write(fa, src + 1000 * i, 1000);
		RUN_UNTIL(oa.recv_bytes == 1000u * (unsigned)(i + 1));
	}
	cr_assert_eq(a->q.count, 3, "one buffer per write");
	ob.src = a;
	ob.relay = &relay;
	sl_conn_flush(b, a, &relay);
	far_read(fb, buf, 1500);
	cr_assert_arr_eq(buf, src, 1500);
	RUN_UNTIL(relay == 0 && !b->tx_busy);
	cr_assert_eq(ob.sent_bytes, 1500);
	run_for(50);
	far_expect_nothing(fb);
	cr_assert_eq(sl_conn_gather(a, buf, sizeof(buf)), 1500);
	cr_assert_arr_eq(buf, src + 1500, 1500);
	sl_conn_close(a, true);
	sl_conn_close(b, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* ---- closing ------------------------------------------------------------------- */

Test(conn, close_frees_after_the_last_completion)
{
	static struct owner o;
	int far;
	struct sl_conn *c = pair(&o, &far);
	uint32_t gen = c->gen;

	sl_conn_recv_start(c);
	loop_once(10); /* the recv is in the kernel */
	cr_assert_eq(c->rx, SL_RX_ARMED);
	cr_assert_eq(w->conns.live, 1);
	sl_conn_close(c, true);
	cr_assert_eq(c->st, SL_CONN_CLOSING, "freed only after its completions");
	cr_assert_eq(c->fd, -1);
	cr_assert_gt(c->inflight, 0);
	cr_assert_eq(w->conns.live, 1);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(c->st, SL_CONN_FREE);
	far_expect_eof(far);
	/* bytes written after the close find no one and no callback fires */
	cr_assert_eq(o.data + o.eof + o.errors, 0);
	/* the slot is reused with a new generation */
	c = pair(&o, &far);
	cr_assert_neq(c->gen, gen);
	sl_conn_close(c, false);
	cr_assert_eq(c->inflight, 1, "nothing in flight but the close");
	RUN_UNTIL(w->conns.live == 0);
	far_expect_eof(far);
	end_test();
}

Test(conn, close_with_a_send_in_flight)
{
	static struct owner o;
	static char big[512 * 1024];
	int far;
	struct sl_conn *c = pair(&o, &far);

	/* more than the socket takes: the send stays in flight */
	put(c, big, sizeof(big));
	sl_conn_flush(c, NULL, NULL);
	loop_once(10);
	cr_assert(c->tx_busy);
	sl_conn_close(c, false);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(o.sends + o.errors, 0, "no callback after the close");
	end_test();
}

/* ---- the receive quota ----------------------------------------------------------- */

Test(conn, recv_pauses_at_the_quota_and_resumes)
{
	static struct owner o;
	static char src[40 * 1000];
	int far, i;
	struct sl_conn *c = pair(&o, &far);

	pattern(src, sizeof(src), 7);
	sl_conn_recv_start(c);
	fcntl(far, F_SETFL, O_NONBLOCK);
	/* one buffer per write, nobody consumes */
	for (i = 0; i < 40; i++) {
		far_write(far, src + 1000 * i, 1000);
		loop_once(5);
		cr_assert_leq(c->q.count, SL_BUF_QUOTA + 2, "q.count %u over the quota",
			      c->q.count);
	}
	run_for(100);
	cr_assert_geq(c->q.count, SL_BUF_QUOTA, "paused before the quota (%u)", c->q.count);
	cr_assert_leq(c->q.count, SL_BUF_QUOTA + 2);
	cr_assert_neq(c->rx, SL_RX_ARMED, "still receiving over the quota");
	cr_assert_lt(o.recv_bytes, sizeof(src), "everything was received");
	/* the owner reads: the recv comes back, everything arrives in order */
	o.consume = true;
	drain(&o, c);
	cr_assert_eq(c->rx, SL_RX_ARMED, "not re-armed after draining");
	RUN_UNTIL(o.ngot == sizeof(src));
	cr_assert_arr_eq(o.got, src, sizeof(src));
	cr_assert_eq(o.recv_bytes, sizeof(src));
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* Out of provided buffers: a recv ends with -ENOBUFS, the connection waits
 * on the starved list and is re-armed once buffers come back; one closed
 * while starved leaves the list. */
Test(conn, starved_recv_is_rearmed_when_buffers_return)
{
	static struct owner o[6];
	static char src[1000];
	struct sl_conn *c[6];
	int far[6];

	pattern(src, sizeof(src), 11);
	for (int i = 0; i < 6; i++)
		c[i] = pair(&o[i], &far[i]);
	/* four connections at their quota hold every buffer of the ring */
	cr_assert_eq(NBUF, 4 * SL_BUF_QUOTA);
	for (int i = 0; i < 4; i++) {
		sl_conn_recv_start(c[i]);
		for (unsigned k = 0; k < SL_BUF_QUOTA; k++) {
			far_write(far[i], src, sizeof(src));
			RUN_UNTIL(o[i].recv_bytes == sizeof(src) * (k + 1));
		}
		RUN_UNTIL(c[i]->rx == SL_RX_OFF);
		cr_assert_eq(c[i]->q.count, SL_BUF_QUOTA);
	}
	cr_assert_eq(sl_ring_buf_free(&w->ring), 0);
	for (int i = 4; i < 6; i++) {
		sl_conn_recv_start(c[i]);
		far_write(far[i], src, sizeof(src));
		RUN_UNTIL(c[i]->starved);
		cr_assert_eq(c[i]->rx, SL_RX_OFF);
		cr_assert_eq(o[i].recv_bytes, 0);
	}
	cr_assert_eq(w->conns.starved, c[5]);
	cr_assert_eq(c[5]->next, c[4]);
	/* closed while starved: off the list */
	sl_conn_close(c[5], false);
	cr_assert_eq(w->conns.starved, c[4]);
	cr_assert_null(c[4]->next);
	/* one connection's owner reads: its buffers feed the starved one */
	o[0].consume = true;
	o[4].consume = true;
	drain(&o[0], c[0]);
	RUN_UNTIL(o[4].ngot == sizeof(src));
	cr_assert_not(c[4]->starved);
	cr_assert_null(w->conns.starved);
	cr_assert_arr_eq(o[4].got, src, sizeof(src));
	cr_assert_eq(o[4].errors + o[5].errors + o[5].data, 0);
	for (int i = 0; i < 5; i++)
		sl_conn_close(c[i], false);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* "shutdown(SHUT_WR) once what waits is sent": bytes put but not flushed
 * yet wait too. */
Test(conn, shutdown_waits_for_unflushed_output)
{
	static struct owner o;
	char buf[16];
	int far;
	struct sl_conn *c = pair(&o, &far);

	put(c, "bye", 3);
	sl_conn_shutdown(c);
	sl_conn_flush(c, NULL, NULL); /* an owner's later flush changes nothing */
	far_read(far, buf, 3);
	cr_assert_arr_eq(buf, "bye", 3);
	far_expect_eof(far);
	cr_assert_eq(o.errors, 0, "error %d", o.last_error);
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	end_test();
}

/* The pool's handover: quiesce, wait for on_quiet, take the socket. */
Test(conn, quiesce_then_take_fd)
{
	static struct owner o;
	char buf[16];
	int far, fd;
	struct sl_conn *c = pair(&o, &far);

	sl_conn_recv_start(c);
	loop_once(10);
	cr_assert_eq(c->rx, SL_RX_ARMED);
	sl_conn_quiesce(c);
	cr_assert_eq(o.quiet, 0, "a recv is still in the kernel");
	RUN_UNTIL(o.quiet == 1);
	cr_assert_eq(c->inflight, 0);
	cr_assert_eq(c->rx, SL_RX_OFF);
	fd = sl_conn_take_fd(c);
	cr_assert_geq(fd, 0);
	cr_assert_eq(w->conns.live, 0);
	/* the socket is still open and ours */
	far_write(far, "ok", 2);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 2);
	run_for(30);
	cr_assert_eq(o.data, 0, "nothing reached the old owner");
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	close(fd);
	end_test();
}

/* A transport put on after bytes arrived (a PROXY header read first):
 * sl_conn_replay hands it what waits, from where the owner stopped. */
Test(conn, replay_into_a_new_transport)
{
	static struct owner o;
	struct caesar *x = calloc(1, sizeof(*x));
	char buf[16];
	int far;
	struct sl_conn *c = pair(&o, &far);

	cr_assert_not_null(x);
	sl_conn_recv_start(c);
	far_write(far, "PHab", 4);
	RUN_UNTIL(o.recv_bytes == 4);
	far_write(far, "yz", 2);
	RUN_UNTIL(o.recv_bytes == 6);
	cr_assert_eq(c->q.count, 2);
	sl_conn_consume(c, 1); /* the "header" */
	sl_conn_set_xprt(c, &caesar_ops, x);
	sl_conn_replay(c);
	cr_assert_eq(o.ready, 1);
	cr_assert_eq(sl_conn_gather(c, buf, sizeof(buf)), 4);
	cr_assert_arr_eq(buf, "bcz{", 4);
	/* and what comes next goes through it too */
	far_write(far, "0", 1);
	RUN_UNTIL(o.recv_bytes == 7);
	cr_assert_eq(sl_conn_gather(c, buf, sizeof(buf)), 5);
	cr_assert_arr_eq(buf, "bcz{1", 5);
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* tcp's relay: a forwards to b as bytes come, b's reader is slow. a's recv
 * pauses (its buffers wait in b's txq) and nothing is lost or reordered. */
static void relay_on_data(void *owner, struct sl_conn *c)
{
	struct owner *o = owner;

	o->data++;
	sl_conn_flush(c->peer, c, NULL);
}

static const struct sl_conn_cb relay_cb = {
	.on_connect = on_connect,
	.on_data = relay_on_data,
	.on_eof = on_eof,
	.on_sent = on_sent,
	.on_error = on_error,
	.on_hs_fail = on_hs_fail,
	.on_recv_bytes = on_recv_bytes,
};

Test(conn, relay_to_a_slow_reader_pauses_and_loses_nothing)
{
	static struct owner oa, ob;
	static char src[1 << 20], dst[1 << 20];
	size_t wr = 0, rd = 0;
	int fa, fb;
	struct sl_conn *a = pair(&oa, &fa);
	struct sl_conn *b = pair(&ob, &fb);
	uint64_t end;
	bool paused = false;

	sl_conn_attach(a, &relay_cb, &oa);
	sl_conn_link(a, b);
	ob.src = a;
	pattern(src, sizeof(src), 5);
	fcntl(fa, F_SETFL, O_NONBLOCK);
	sl_conn_recv_start(a);
	/* nobody reads b's far end: fill everything up */
	end = mono_ms() + 5000;
	while (mono_ms() < end && !paused) {
		ssize_t k = write(fa, src + wr, sizeof(src) - wr < 4096 ? sizeof(src) - wr : 4096);

		if (k > 0)
			wr += (size_t)k;
		loop_once(2);
		cr_assert_leq(a->q.count + b->txq.count, SL_BUF_QUOTA + 2);
		paused = k < 0 && a->rx == SL_RX_OFF && b->tx_busy;
	}
	cr_assert(paused, "a's recv never paused");
	cr_assert_lt(wr, sizeof(src));
	/* the reader wakes up */
	end = mono_ms() + 10000;
	while (rd < sizeof(src) && mono_ms() < end) {
		ssize_t k;

		if (wr < sizeof(src)) {
			k = write(fa, src + wr, sizeof(src) - wr < 4096 ? sizeof(src) - wr : 4096);
			if (k > 0)
				wr += (size_t)k;
		}
		k = recv(fb, dst + rd, sizeof(dst) - rd, MSG_DONTWAIT);
		if (k > 0)
			rd += (size_t)k;
		loop_once(1);
	}
	cr_assert_eq(rd, sizeof(src));
	cr_assert(memcmp(dst, src, sizeof(src)) == 0, "bytes lost or reordered");
	cr_assert_eq(oa.errors + ob.errors, 0);
	cr_assert_eq(ob.sent_bytes, sizeof(src));
	sl_conn_close(a, true);
	sl_conn_close(b, true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(sl_ring_buf_free(&w->ring), NBUF);
	end_test();
}

/* A transport with an end of stream (TLS's close_notify): an orderly close
 * sends it (when the handshake is done), a shutdown sends it after what
 * waits and before the FIN. */
Test(conn, transport_end_of_stream)
{
	static struct owner o[3];
	char buf[16];
	int far[3];
	struct sl_conn *c[3];

	for (int i = 0; i < 3; i++) {
		c[i] = caesar_pair(&o[i], &far[i]);
		sl_conn_set_xprt(c[i], &caesar_nc_ops, c[i]->xctx);
		sl_conn_recv_start(c[i]);
	}
	for (int i = 0; i < 2; i++)
		far_write(far[i], "H", 1);
	RUN_UNTIL(o[0].ready && o[1].ready);
	/* orderly close, ready: the marker, then EOF */
	sl_conn_close(c[0], true);
	far_read(far[0], buf, 1);
	cr_assert_eq(buf[0], 'Z');
	far_expect_eof(far[0]);
	/* shutdown: the owner's bytes, the marker, the FIN */
	put(c[1], "cze", 3);
	sl_conn_flush(c[1], NULL, NULL);
	sl_conn_shutdown(c[1]);
	far_read(far[1], buf, 4);
	cr_assert_arr_eq(buf, "bydZ", 4);
	far_expect_eof(far[1]);
	cr_assert_eq(o[1].errors, 0);
	/* before the handshake: nothing but EOF */
	sl_conn_close(c[2], true);
	far_expect_eof(far[2]);
	sl_conn_close(c[1], true);
	RUN_UNTIL(w->conns.live == 0);
	cr_assert_eq(caesar_frees, 3);
	end_test();
}
