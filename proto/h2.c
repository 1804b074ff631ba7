/*
 * HTTP/2 toward clients (proto/ layer): the protocol of an h2 connection's
 * session. Data path:
 *   client bytes (c[CLI], through TLS when ALPN chose h2) -> h2_on_data ->
 *   nghttp2_session_mem_recv -> callbacks: a stream's HEADERS become a stream
 *   session (sl_session_new_stream, protocol http) fed with the request as
 *   HTTP/1.1 bytes (proto/h2_stream.c); DATA become its body.
 *   h2_run (from the worker's run list, outside every callback chain): hand
 *   request bytes to the stream sessions, give windows back for what they
 *   took, submit response heads parsed from their output, resume data
 *   sources, complete their sends while their body is under the mark, then
 *   nghttp2_session_mem_send into the client connection's output up to
 *   SL_H2_OUT_HWM (more when the client reads: on_drained).
 * Where h2 is spoken: ALPN h2 on ssl binds (http_start asks), the client
 * preface on plain binds (proto/http.c sees it first). `h2 = off` on the
 * frontend turns both off.
 * Defences: nghttp2 bounds CONTINUATION frames (Debian's 1.52.0-1+deb12u2
 * carries the CVE-2024-28182 fix), queued SETTINGS/PING acknowledgements
 * (max_outbound_ack) and SETTINGS entries; Debian's deb12u1 carries the
 * rapid-reset limit (CVE-2023-44487), set here too. On top of those, two
 * token buckets per connection: streams reset by the client before their
 * response ended (burst SL_H2_RESET_BURST, SL_H2_RESET_RATE per second), and
 * frames that carry no request progress (PING, SETTINGS, PRIORITY, empty
 * DATA, WINDOW_UPDATE to a closed stream; burst SL_H2_GLITCH_BURST,
 * SL_H2_GLITCH_RATE per second). Over either: GOAWAY ENHANCE_YOUR_CALM, the
 * connection closes, `sluice_frontend_h2_flood_closes_total` counts it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/session.h"
#include "core/stats.h"
#include "proto/h2-i.h"
#include "proto/h2.h"

#define SL_H2_RESET_BURST  100u
#define SL_H2_RESET_RATE   20u
#define SL_H2_GLITCH_BURST 1000u
#define SL_H2_GLITCH_RATE  200u

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int sl_h2_preface(const char *p, uint32_t n)
{
	uint32_t k = n < sizeof(preface) - 1 ? n : (uint32_t)sizeof(preface) - 1;

	if (memcmp(p, preface, k))
		return 0;
	return k == sizeof(preface) - 1 ? 1 : -1;
}

static struct h2_conn *h_of(const struct sl_session *s)
{
	return s->proto;
}

static struct sl_fe_stats *fst(const struct h2_conn *h)
{
	return &h->s->w->st->fe[h->s->fe_idx];
}

static int code_idx(uint32_t code)
{
	return code < SL_H2_CODES - 1 ? (int)code : SL_H2_CODES - 1;
}

/* ---- floods ------------------------------------------------------------------ */

static bool bucket_take(struct h2_bucket *b, uint64_t now, uint32_t burst, uint32_t rate)
{
	uint64_t add = (now - b->at_ms) * rate / 1000;

	if (add) {
		b->tokens = b->tokens + add > burst ? burst : (uint32_t)(b->tokens + add);
		b->at_ms = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

static void flood(struct h2_conn *h, const char *what)
{
	char addr[80];

	if (h->fatal)
		return;
	h->fatal = true;
	SL_ST_INC(fst(h)->h2.floods);
	sl_log_req(h->s->w, "frontend %s: HTTP/2 client %s: %s, closing the connection "
		   "(GOAWAY ENHANCE_YOUR_CALM)", h->s->fe->name,
		   sl_conf_sockaddr_str(&h->s->peer, addr, sizeof(addr)), what);
	nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

static void glitch(struct h2_conn *h, const char *what)
{
	if (!bucket_take(&h->glitches, h->s->w->now_ms, SL_H2_GLITCH_BURST, SL_H2_GLITCH_RATE))
		flood(h, what);
}

/* ---- nghttp2 callbacks ---------------------------------------------------------- */

static struct h2_stream *stream_of(struct h2_conn *h, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h->ng, id);
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: their fields are not forwarded */
	st = sl_h2s_new(h, f->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st);
	return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct h2_stream *st;

	(void)ng;
	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = stream_of(user, f->hd.stream_id);
	if (st)
		sl_h2s_field(st, name, nlen, value, vlen);
	return 0;
}

/* Answer a stream ourselves (no session: its head is over the limits). */
static void answer(struct h2_conn *h, struct h2_stream *st, int status, const char *why)
{
	char code[8];
	nghttp2_nv nv[] = {
		{ (uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE },
	};

	snprintf(code, sizeof(code), "%03d", status);
	sl_log_req(h->s->w, "frontend %s: HTTP/2 stream %d: %d: %s", h->s->fe->name, st->id,
		   status, why);
	if (status == 431)
		SL_ST_INC(fst(h)->req_err[4]);
	nghttp2_submit_response(h->ng, st->id, nv, 2, NULL);
	st->rsp_submitted = st->rsp_end = true;
}

static void refuse(struct h2_conn *h, struct h2_stream *st, uint32_t code)
{
	nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, code);
	st->rst_sent = true;
}

static void open_stream(struct h2_conn *h, struct h2_stream *st, bool end)
{
	struct sl_session *p = h->s;

	h->nreq++;
	SL_ST_INC(fst(h)->h2.streams);
	if (st->too_big) {
		answer(h, st, 431, "request header list over max_header_size or max_headers");
		return;
	}
	if (atomic_load(&p->w->px->stopping) || h->goaway || h->fatal) {
		refuse(h, st, NGHTTP2_REFUSED_STREAM);
		return;
	}
	if (sl_h2s_build_request(st, end) < 0 || (end && sl_h2s_end(st) < 0)) {
		refuse(h, st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	st->sess = sl_session_new_stream(p, sl_session_secure(p) ? &sl_h2s_xprt_tls :
					 &sl_h2s_xprt_plain, st);
	if (!st->sess) {
		SL_ST_INC(fst(h)->h2.refused);
		sl_log_req(p->w, "frontend %s: HTTP/2 stream refused: session table full",
			   p->fe->name);
		refuse(h, st, NGHTTP2_REFUSED_STREAM);
		return;
	}
	st->vc = st->sess->c[SL_SIDE_CLI];
	if (sl_session_closing(st->sess)) {
		st->vc = NULL;
		st->sess = NULL;
	}
	h->nstreams++;
	if (p->state != SL_SESS_FORWARD)
		sl_session_set_state(p, SL_SESS_FORWARD);
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = f->hd.stream_id ? stream_of(h, f->hd.stream_id) : NULL;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	(void)ng;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (st && f->headers.cat == NGHTTP2_HCAT_REQUEST)
			open_stream(h, st, end);
		else if (st && end && sl_h2s_end(st) < 0)
			refuse(h, st, NGHTTP2_INTERNAL_ERROR);
		break;
	case NGHTTP2_DATA:
		if (!f->hd.length && !end)
			glitch(h, "a flood of empty DATA frames");
		if (st && end && sl_h2s_end(st) < 0)
			refuse(h, st, NGHTTP2_INTERNAL_ERROR);
		break;
	case NGHTTP2_RST_STREAM:
		SL_ST_INC(fst(h)->h2.rst_rx[code_idx(f->rst_stream.error_code)]);
		if (st && !st->rsp_end &&
		    !bucket_take(&h->resets, h->s->w->now_ms, SL_H2_RESET_BURST, SL_H2_RESET_RATE))
			flood(h, "too many streams reset before their response (rapid reset)");
		break;
	case NGHTTP2_GOAWAY:
		SL_ST_INC(fst(h)->h2.goaway_rx);
		break;
	case NGHTTP2_PING:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			glitch(h, "a flood of PING frames");
		break;
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			glitch(h, "a flood of SETTINGS frames");
		break;
	case NGHTTP2_PRIORITY:
		glitch(h, "a flood of PRIORITY frames");
		break;
	case NGHTTP2_WINDOW_UPDATE:
		if (f->hd.stream_id && !st)
			glitch(h, "a flood of WINDOW_UPDATE frames");
		break;
	default:
		break;
	}
	sl_session_defer(h->s);
	return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p,
		   size_t n, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = stream_of(h, id);

	(void)flags;
	if (!st || !st->vc || st->req_end) {
		/* nobody takes it: the window comes back at once */
		nghttp2_session_consume(ng, id, n);
		return 0;
	}
	if (sl_h2s_body(st, p, n) < 0) {
		refuse(h, st, NGHTTP2_INTERNAL_ERROR);
		nghttp2_session_consume(ng, id, n);
		return 0;
	}
	st->unacked += n;
	return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = stream_of(h, id);

	(void)ng;
	if (!st)
		return 0;
	st->closed = true;
	if (st->vc && (!st->rsp_end || !st->req_end || code != NGHTTP2_NO_ERROR))
		st->reset_rx = true; /* the session ends: told from the run (a
				      * request body cut by our own reset too) */
	if (st->unacked) {
		nghttp2_session_consume_connection(h->ng, st->unacked);
		st->unacked = 0;
	}
	sl_session_defer(h->s);
	return 0;
}

static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st;

	if (f->hd.type == NGHTTP2_RST_STREAM)
		SL_ST_INC(fst(h)->h2.rst_tx[code_idx(f->rst_stream.error_code)]);
	else if (f->hd.type == NGHTTP2_GOAWAY)
		SL_ST_INC(fst(h)->h2.goaway_tx);
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (st = stream_of(h, f->hd.stream_id)) &&
	    !st->req_end && !st->rst_sent) {
		/* answered before the request ended (RFC 9113 8.1): stop it */
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
		st->rst_sent = true;
	}
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb))
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cb_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, cb_frame_send);
	return cb;
}

/* ---- the run ------------------------------------------------------------------- */

static void stream_step(struct h2_conn *h, struct h2_stream *st)
{
	sl_h2s_deliver(st); /* may end the stream's session (st->vc NULL) */
	if (st->unacked && sl_h2s_taken(st)) {
		nghttp2_session_consume(h->ng, st->id, st->unacked);
		st->unacked = 0;
	}
	if (st->closed) {
		if (st->push_held && st->vc) {
			st->push_held = false;
			sl_conn_push_done(st->vc); /* nobody will read it */
		}
		return;
	}
	if (!st->rsp_submitted && st->rsp_head && sl_h2s_submit(st) != 0)
		refuse(h, st, NGHTTP2_INTERNAL_ERROR);
	else if (!st->rsp_submitted && st->rsp_fail && !st->rst_sent)
		refuse(h, st, NGHTTP2_INTERNAL_ERROR);
	if (st->rsp_submitted && st->deferred &&
	    (st->body.len > st->body.off || st->rsp_end || st->rsp_fail)) {
		st->deferred = false;
		nghttp2_session_resume_data(h->ng, st->id);
	}
	if (st->push_held && st->vc && st->body.len - st->body.off < SL_H2_BODY_HWM) {
		st->push_held = false;
		sl_conn_push_done(st->vc);
	}
}

/* Frames into the client connection's output while it takes them. */
static void send_frames(struct h2_conn *h)
{
	struct sl_session *s = h->s;

	while (sl_session_out_backlog(s, SL_SIDE_CLI) < SL_H2_OUT_HWM) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(h->ng, &p);
		char *dst;

		if (n <= 0) {
			if (n < 0)
				h->fatal = true;
			break;
		}
		dst = sl_session_out_reserve(s, SL_SIDE_CLI, (uint32_t)n);
		if (!dst) {
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return;
		}
		memcpy(dst, p, (size_t)n);
		sl_session_out_commit(s, SL_SIDE_CLI, (uint32_t)n);
	}
	sl_session_pump(s, SL_SIDE_CLI);
}

/* Free what is over: streams nghttp2 closed whose session is gone. */
static void sweep(struct h2_conn *h)
{
	struct h2_stream *st, *nx;

	for (st = h->streams; st; st = nx) {
		nx = st->next;
		if (st->closed && !st->vc)
			sl_h2s_free(st);
	}
	h->nstreams = 0;
	for (st = h->streams; st; st = st->next)
		h->nstreams += st->vc != NULL || !st->closed;
}

static void h2_run(struct sl_session *s)
{
	struct h2_conn *h = h_of(s);

	if (!h || sl_session_closing(s))
		return;
	if (h->fatal) {
		/* the connection is over: its streams with it */
		for (struct h2_stream *st = h->streams; st; st = st->next)
			if (st->sess)
				sl_session_close(st->sess, SL_CLOSE_CLIENT_ERR);
	}
	for (struct h2_stream *st = h->streams; st && !sl_session_closing(s); st = st->next)
		stream_step(h, st);
	if (sl_session_closing(s))
		return;
	send_frames(h);
	if (sl_session_closing(s))
		return;
	sweep(h);
	if (!h->nstreams && s->state == SL_SESS_FORWARD) {
		h->idle_since_ms = s->w->now_ms;
		sl_session_set_state(s, SL_SESS_IDLE);
		sl_session_timer_kick(s);
	}
	if ((h->fatal || (h->goaway && !h->nstreams)) && !h->close_at) {
		h->close_at = s->w->now_ms + s->fe->timeouts.ms[SL_TO_CLIENT_FIN];
		sl_session_timer_kick(s);
	}
	if ((h->fatal || (!h->nstreams && (h->goaway || (!nghttp2_session_want_read(h->ng) &&
							  !nghttp2_session_want_write(h->ng))))) &&
	    !sl_session_out_pending(s, SL_SIDE_CLI))
		sl_session_close(s, h->fatal ? SL_CLOSE_CLIENT_ERR : SL_CLOSE_NORMAL);
}

/* ---- the protocol ops -------------------------------------------------------------- */

static void h2_goaway(struct h2_conn *h)
{
	if (h->goaway || h->fatal)
		return;
	h->goaway = true;
	nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
			      NULL, 0);
	sl_session_defer(h->s);
}

static void h2_on_data(struct sl_session *s, int side)
{
	struct h2_conn *h = h_of(s);
	const char *p;
	uint32_t n;

	if (side != SL_SIDE_CLI)
		return;
	while (!h->fatal && sl_session_peek(s, SL_SIDE_CLI, &p, &n)) {
		ssize_t rv = nghttp2_session_mem_recv(h->ng, (const uint8_t *)p, n);

		sl_session_consume(s, SL_SIDE_CLI, n);
		if (rv < 0) {
			char addr[80];

			if (rv == NGHTTP2_ERR_FLOODED)
				SL_ST_INC(fst(h)->h2.floods);
			sl_log_req(s->w, "frontend %s: HTTP/2 client %s: %s, closing the connection",
				   s->fe->name, sl_conf_sockaddr_str(&s->peer, addr, sizeof(addr)),
				   nghttp2_strerror((int)rv));
			nghttp2_session_terminate_session(h->ng, rv == NGHTTP2_ERR_FLOODED ?
							  NGHTTP2_ENHANCE_YOUR_CALM :
							  NGHTTP2_PROTOCOL_ERROR);
			h->fatal = true;
		}
	}
	/* everything read is consumed: keep reading (the client's frames are
	 * bounded by its windows and the flood limits) */
	while (sl_session_peek(s, SL_SIDE_CLI, &p, &n))
		sl_session_consume(s, SL_SIDE_CLI, n);
	sl_session_defer(s);
}

static void h2_on_eof(struct sl_session *s, int side)
{
	struct h2_conn *h = h_of(s);

	if (side == SL_SIDE_CLI)
		sl_session_close(s, h->nstreams ? SL_CLOSE_CLIENT_ERR : SL_CLOSE_NORMAL);
}

static void h2_on_drained(struct sl_session *s, int to)
{
	if (to == SL_SIDE_CLI)
		sl_session_defer(s); /* room for more frames */
}

static uint64_t h2_deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	const struct h2_conn *h = h_of(s);
	const uint64_t *fe = s->fe->timeouts.ms;

	*kind = SL_TO_CLIENT_FIN;
	if (h->close_at)
		return h->close_at;
	*kind = SL_TO_CLIENT;
	if (atomic_load(&s->w->px->stopping) && !h->goaway)
		return s->w->now_ms; /* GOAWAY now */
	if (h->nstreams)
		return sl_session_out_pending(s, SL_SIDE_CLI) ?
		       s->acct[SL_SIDE_CLI].last_ms + fe[SL_TO_CLIENT] : UINT64_MAX;
	if (!h->nreq) {
		*kind = SL_TO_HTTP_REQUEST;
		return s->start_ms + fe[SL_TO_HTTP_REQUEST];
	}
	*kind = SL_TO_HTTP_KEEP_ALIVE;
	return h->idle_since_ms + fe[SL_TO_HTTP_KEEP_ALIVE];
}

static void h2_on_timeout(struct sl_session *s, enum sl_timeout_kind kind)
{
	struct h2_conn *h = h_of(s);

	if (kind == SL_TO_CLIENT && atomic_load(&s->w->px->stopping) && !h->goaway) {
		h2_goaway(h);
		return;
	}
	if (kind == SL_TO_CLIENT_FIN) {
		sl_session_close(s, SL_CLOSE_NORMAL); /* its GOAWAY had its time */
		return;
	}
	if (kind == SL_TO_CLIENT) {
		sl_session_close(s, SL_CLOSE_TIMEOUT);
		return;
	}
	h2_goaway(h); /* idle: say goodbye, then close */
}

static void h2_on_stop(struct sl_session *s)
{
	h2_goaway(h_of(s));
}

static void h2_free(struct sl_session *s)
{
	struct h2_conn *h = h_of(s);
	struct h2_stream *st;

	if (!h)
		return;
	for (st = h->streams; st; st = st->next)
		if (st->sess)
			sl_session_close(st->sess, SL_CLOSE_CLIENT_ERR); /* detaches it */
	nghttp2_session_del(h->ng);
	while (h->streams)
		sl_h2s_free(h->streams);
	SL_ST_ADD(fst(h)->h2.conns_cur, (uint64_t)-1);
	free(h);
	s->proto = NULL;
}

static void h2_start(struct sl_session *s)
{
	struct h2_conn *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cb = callbacks();
	nghttp2_option *opt = NULL;
	uint32_t max = s->fe->h2_max_streams ? s->fe->h2_max_streams : 100;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		  s->fe->max_header_size ? s->fe->max_header_size : 16384u },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
		  s->fe->h2_window ? s->fe->h2_window : 65535u },
	};
	int rc = -1;

	if (h && cb && nghttp2_option_new(&opt) == 0) {
		nghttp2_option_set_no_auto_window_update(opt, 1);
		nghttp2_option_set_max_outbound_ack(opt, 1000);
		nghttp2_option_set_max_settings(opt, 32);
		nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
		rc = nghttp2_session_server_new2(&h->ng, cb, h, opt);
	}
	if (opt)
		nghttp2_option_del(opt);
	if (cb)
		nghttp2_session_callbacks_del(cb);
	if (rc == 0)
		rc = nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 4);
	if (rc == 0)
		rc = nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
							   s->fe->h2_conn_window ?
							   (int32_t)s->fe->h2_conn_window :
							   (int32_t)SL_H2_CONN_WINDOW);
	if (rc != 0) {
		if (h && h->ng)
			nghttp2_session_del(h->ng);
		free(h);
		sl_log("frontend %s: out of memory for an HTTP/2 connection", s->fe->name);
		sl_session_close(s, SL_CLOSE_RESOURCE);
		return;
	}
	h->s = s;
	h->resets.tokens = SL_H2_RESET_BURST;
	h->glitches.tokens = SL_H2_GLITCH_BURST;
	h->resets.at_ms = h->glitches.at_ms = s->w->now_ms;
	s->proto = h;
	SL_ST_INC(fst(h)->h2.conns);
	SL_ST_INC(fst(h)->h2.conns_cur);
	if (s->state != SL_SESS_HEAD)
		sl_session_set_state(s, SL_SESS_HEAD);
	sl_session_recv(s, SL_SIDE_CLI);
	sl_session_timer_kick(s);
	h2_on_data(s, SL_SIDE_CLI); /* the preface, maybe more, already came */
}

static void h2_on_connect(struct sl_session *s, int res)
{
	(void)s;
	(void)res; /* an h2 connection has no server side */
}

static void h2_on_dequeued(struct sl_session *s)
{
	(void)s;
}

const struct sl_proto_ops sl_h2_ops = {
	.start = h2_start,
	.on_connect = h2_on_connect,
	.on_data = h2_on_data,
	.on_eof = h2_on_eof,
	.on_drained = h2_on_drained,
	.deadline = h2_deadline,
	.on_timeout = h2_on_timeout,
	.on_free = h2_free,
	.on_dequeued = h2_on_dequeued,
	.on_run = h2_run,
	.on_stop = h2_on_stop,
};
