/*
 * Unit tests of core/conn.c's flow control, through a real io_uring on
 * socketpairs (fixture: conn_fixture.h): relaying a connection's buffers
 * to its peer within a byte limit, the per-connection receive quota
 * (pause, resume, what the peer still sends counts), -ENOBUFS and the
 * starved list, and a relay to a slow reader that must lose nothing.
 */
#include "tests/unit/core/conn_fixture.h"

TestSuite(conn_flow, .init = setup, .fini = teardown, .timeout = 60);

/* ---- relaying (raw) ------------------------------------------------------------ */

static void pattern(char *p, uint32_t n, uint32_t from)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (char)('a' + (from + i) % 23);
}

/* A limit inside the only buffer: that many bytes go, the rest stays. */
Test(conn_flow, relay_limit_inside_a_buffer)
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
Test(conn_flow, relay_limit_across_buffers)
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

/* ---- the receive quota ----------------------------------------------------------- */

Test(conn_flow, recv_pauses_at_the_quota_and_resumes)
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

/* Fairness (issue 14, slow readers): sides that hold buffers nobody reads
 * stop receiving before the pool is empty, one buffer per recv and within
 * their hold limit, so a new (light) side is served at once from what is
 * left; once they are read, they receive the rest in order. Before, four
 * such sides took all 64 buffers and the fifth starved until one was read. */
Test(conn_flow, bulk_sides_leave_a_reserve_for_light_ones)
{
	static struct owner o[5];
	static char src[1000];
	struct sl_conn *c[5];
	int far[5];
	uint32_t held = 0;

	pattern(src, sizeof(src), 11);
	for (int i = 0; i < 5; i++)
		c[i] = pair(&o[i], &far[i]);
	for (int i = 0; i < 4; i++) {
		sl_conn_recv_start(c[i]);
		fcntl(far[i], F_SETFL, O_NONBLOCK);
		/* one buffer per write, nobody reads */
		for (unsigned k = 0; k < 2 * SL_BUF_QUOTA; k++) {
			far_write(far[i], src, sizeof(src));
			loop_once(5);
		}
	}
	run_for(100);
	for (int i = 0; i < 4; i++) {
		cr_assert_leq(c[i]->q.count, SL_BUF_QUOTA + 2, "side %d holds %u", i,
			      c[i]->q.count);
		held += c[i]->q.count;
	}
	cr_assert_geq(sl_ring_buf_free(&w->ring), NBUF / 8,
		      "bulk sides left %u of %u buffers (they hold %u)",
		      sl_ring_buf_free(&w->ring), NBUF, held);
	cr_assert_null(w->conns.starved);
	/* a light side is served at once */
	sl_conn_recv_start(c[4]);
	far_write(far[4], src, sizeof(src));
	RUN_UNTIL(o[4].recv_bytes == sizeof(src));
	cr_assert_not(c[4]->starved);
	/* the bulk sides are read: everything arrives, in order */
	for (int i = 0; i < 4; i++) {
		o[i].consume = true;
		drain(&o[i], c[i]);
	}
	for (int i = 0; i < 4; i++) {
		RUN_UNTIL(o[i].ngot == 2 * SL_BUF_QUOTA * sizeof(src));
		for (unsigned k = 0; k < 2 * SL_BUF_QUOTA; k++)
			cr_assert_arr_eq(o[i].got + k * sizeof(src), src, sizeof(src));
	}
	cr_assert_eq(o[4].errors + o[0].errors, 0);
	for (int i = 0; i < 5; i++)
		sl_conn_close(c[i], false);
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

Test(conn_flow, relay_to_a_slow_reader_pauses_and_loses_nothing)
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
