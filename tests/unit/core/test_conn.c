/*
 * Unit tests of core/conn.c, the connection layer, through a real io_uring
 * on socketpairs (fixture: conn_fixture.h): bytes both ways through a
 * transport (the fake "caesar") and its handshake gating output, end of
 * stream both ways, close, quiesce and take_fd, replay into a transport
 * put on late. Relaying and flow control: test_conn_flow.c.
 */
#include "tests/unit/core/conn_fixture.h"

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 60);

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

/* ---- closing, quiesce, replay ---------------------------------------------------- */

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

/* ---- building the output ----------------------------------------------------- */

/* A PROXY header goes before what was put; out_discard drops only what
 * was not handed to the kernel. */
Test(conn, prepend_goes_first_and_discard_keeps_the_send_in_flight)
{
	static struct owner o;
	char buf[16];
	int far;
	struct sl_conn *c = pair(&o, &far);

	cr_assert_eq(sl_conn_prepend(c, "PP ", 3), 0, "prepend to nothing");
	put(c, "body", 4);
	cr_assert_eq(sl_conn_prepend(c, "HDR ", 4), 0);
	cr_assert(sl_conn_out_pending(c));
	sl_conn_flush(c, NULL, NULL);
	cr_assert(c->tx_busy);
	/* in flight: put more, then discard: only the new bytes go */
	put(c, "dropped", 7);
	sl_conn_out_discard(c);
	far_read(far, buf, 11);
	cr_assert_arr_eq(buf, "HDR PP body", 11);
	RUN_UNTIL(!c->tx_busy);
	cr_assert_eq(o.sent_bytes, 11);
	cr_assert_not(sl_conn_out_pending(c));
	sl_conn_flush(c, NULL, NULL);
	run_for(30);
	far_expect_nothing(far);
	/* nothing waits: trimming frees the buffer */
	sl_conn_out_trim(c);
	cr_assert_null(c->out.p);
	sl_conn_close(c, true);
	RUN_UNTIL(w->conns.live == 0);
	far_expect_eof(far);
	end_test();
}
