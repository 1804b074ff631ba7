/*
 * HTTP/1.1 mode, the response side (proto/ layer): a response head is
 * checked and rewritten (on_response_head), its body relayed as it is (a
 * known length) or copied through the parser (response_step), the server
 * connection pooled or closed when the response ends (finish_response),
 * and a reused connection that failed before any response byte retried on
 * a new one (retry_fresh). The request side and the session's ops are in
 * http.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/session.h"
#include "core/stats.h"
#include "proto/http.h"
#include "proto/http-i.h"
#include "proto/http_msg.h"
#include "proto/tcp.h"

/* May the server connection serve another request after this response? */
static bool server_reusable(const struct sl_session *s)
{
	const struct http_sess *hs = hs_of(s);
	const struct sl_http_parser *r = &hs->m->rsp;
	const struct sl_backend_conf *bc = s->be->conf;

	if (!hs->keep_srv || hs->rsp_early || hs->req_st != REQ_DONE ||
	    sl_session_rd_eof(s, SL_SIDE_SRV) || sl_session_tx_busy(s, SL_SIDE_SRV) ||
	    sl_session_queued(s, SL_SIDE_SRV) || sl_session_out_pending(s, SL_SIDE_SRV))
		return false;
	if (r->conn_close || (r->major == 1 && r->minor == 0 && !r->conn_keep_alive))
		return false;
	if (hs->srv_meta.requests + 1 >= sl_pool_max_requests(bc))
		return false;
	return s->w->now_ms - hs->srv_meta.created_ms < sl_pool_max_lifetime(bc);
}

static void finish_response(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	hs->rsp_st = RSP_DONE;
	if (hs->req_st == REQ_BODY && !hs->close_after) {
		/* answered before the end of the request body: the rest of it
		 * is read and discarded (never sent to another server ahead of
		 * the next request), then the connection goes on */
		hs->req_st = REQ_DRAIN;
		hs->drained = 0;
	} else if (hs->req_st != REQ_DONE || (hs->close_after &&
					       sl_session_out_pending(s, SL_SIDE_SRV))) {
		hs->close_after = true;
		hs->req_st = REQ_ERROR;
		hs->idle_since_ms = s->w->now_ms;
	}
	if (sl_session_has_conn(s, SL_SIDE_SRV)) {
		if (server_reusable(s)) {
			hs->srv_meta.requests++;
			sl_session_pool_server(s, &hs->srv_meta);
		} else {
			sl_session_drop_server(s);
		}
	}
	if (hs->rsp_early) {
		/* what the server was not sent dies with its connection */
		sl_session_out_discard(s, SL_SIDE_SRV);
	}
	free(hs->retry_head);
	hs->retry_head = NULL;
	if (!sl_session_out_pending(s, SL_SIDE_CLI))
		s->ops->on_drained(s, SL_SIDE_CLI);
	if (hs->req_st == REQ_DRAIN && !sl_session_closing(s)) {
		sl_session_timer_kick(s); /* timeout_client from now on */
		sl_http_feed_request(s);
	}
}

/* May the rest of the request body be discarded after an early response,
 * keeping the client connection? Not when the client waits for a 100
 * Continue it never got (it will not send the body), nor when more than
 * SL_HTTP_DRAIN_MAX bytes of it are known to be left. */
static bool can_drain(const struct sl_session *s)
{
	const struct http_sess *hs = hs_of(s);
	const struct sl_http_parser *q = &hs->m->req;

	if (q->expect_continue && !hs->got_100)
		return false;
	/* llhttp counts down the Content-Length left */
	return q->chunked || q->ll.content_length <= SL_HTTP_DRAIN_MAX;
}

/* A response head passed its checks: forward it (rewritten). */
static int on_response_head(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	struct sl_http_parser *r = &hs->m->rsp;
	struct sl_http_rewrite rw = { 0 };
	uint32_t cap = r->len + 128;
	bool info = r->status / 100 == 1 && r->status != 101;
	char *p;
	int n;

	if (r->status == 101 && !hs->upgrade_req) {
		sl_http_reply_error(s, 502, "101 Switching Protocols without an upgrade request");
		return -1;
	}
	if (r->status == 101) {
		rw.connection = "upgrade";
		rw.keep_upgrade = true;
	} else if (!info) {
		hs->rsp_early = hs->req_st != REQ_DONE || sl_session_out_pending(s, SL_SIDE_SRV);
		hs->close_after = !hs->cli_keep || sl_http_body_until_close(r) ||
				  (hs->req_st != REQ_DONE && !hs->m->req.msg_done && !can_drain(s));
		rw.connection = hs->close_after ? "close" :
				hs->m->req.major == 1 && hs->m->req.minor == 0 ? "keep-alive" : NULL;
	}
	p = sl_session_out_reserve(s, SL_SIDE_CLI, cap);
	n = p ? sl_http_build_head(r, &rw, p, cap) : -ENOMEM;
	if (n < 0) {
		sl_http_reply_error(s, 502, "response head too large");
		return -1;
	}
	sl_session_out_commit(s, SL_SIDE_CLI, (uint32_t)n);
	sl_http_release_head(r);
	if (info) {
		bool was_head = r->request_was_head;

		if (r->status == 100)
			hs->got_100 = true;
		sl_http_next(r);
		r->request_was_head = was_head;
		return 0;
	}
	hs->rsp_started = true;
	hs->status = r->status;
	hs->t_rsp = s->w->now_ms;
	hs->us_rsp = s->w->now_us;
	sl_stats_status(s, r->status, false);
	if (r->status == 101) {
		/* a tunnel from now on: bytes relayed as in tcp mode */
		hs->rsp_st = RSP_DONE;
		hs->req_st = REQ_DONE;
		sl_session_set_raw(s);
		sl_session_timer_kick(s); /* timeout_tunnel may be nearer */
		return -1;
	}
	hs->rsp_st = RSP_BODY;
	if (r->has_cl && !r->chunked && !r->has_te && !r->no_body &&
	    r->content_length > SL_HTTP_RELAY_MIN) {
		/* A body of known length needs no parsing: the core sends it
		 * from the receive buffers as they are (no copy), exactly
		 * content_length bytes; whatever a server sends beyond is never
		 * forwarded. Small bodies are cheaper copied behind the head
		 * (one plain send). */
		hs->rsp_relay = true;
		s->relay[SL_SIDE_CLI] = r->content_length;
	}
	sl_session_timer_kick(s);
	return 0;
}

static int response_step(struct sl_session *s, const char *data, uint32_t len)
{
	struct http_sess *hs = hs_of(s);
	uint32_t used, room;
	enum sl_http_res r;

	if (hs->rsp_st == RSP_HEAD) {
		if (hs->req_bodiless && sl_session_out_pending(s, SL_SIDE_SRV) &&
		    sl_http_head_empty(&hs->m->rsp)) {
			/* the request is its head and the server has not been sent
			 * all of it: these bytes cannot answer it (left over from
			 * an earlier exchange on a pooled connection, or a server
			 * talking first). Never relayed, never pooled. */
			sl_http_reply_error(s, 502, "server sent bytes before the request was sent");
			return 0;
		}
		if (sl_session_out_pending(s, SL_SIDE_CLI))
			return 0; /* heads are built only onto an empty out buffer */
		r = sl_http_feed_head(&hs->m->rsp, data, len, &used);
		sl_session_consume(s, SL_SIDE_SRV, used);
		if (r == SL_HTTP_ERROR) {
			sl_http_reply_error(s, 502, hs->m->rsp.err_reason);
			return 0;
		}
		if (r != SL_HTTP_HEAD_DONE)
			return 1;
		/* a relayed body is the core's to send (feed_response waits) */
		return on_response_head(s) == 0 && !hs->rsp_relay;
	}
	room = sl_http_stage_room(s, SL_SIDE_CLI, len);
	if (!room)
		return 0; /* resume when the client side drains */
	if (len > room)
		len = room;
	r = sl_http_feed_body(&hs->m->rsp, data, len, &used);
	if (r == SL_HTTP_ERROR) {
		sl_log_req(s->w, "backend %s server %s: bad response body: %s", s->be->conf->name,
		                 s->srv ? s->srv->conf->name : "-", hs->m->rsp.err_reason);
		sl_session_close(s, SL_CLOSE_SERVER_ERR);
		return 0;
	}
	sl_http_stage(s, SL_SIDE_CLI, data, used);
	sl_session_consume(s, SL_SIDE_SRV, used);
	if (r == SL_HTTP_MSG_DONE) {
		finish_response(s);
		return 0;
	}
	return 1;
}

/* A reused connection failed before any response byte: the server closed it
 * as we sent. Send a bodiless idempotent request again on a new connection. */
static bool retry_fresh(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	struct sl_server *srv = s->srv;
	uint32_t room;

	if (!hs->srv_reused || !hs->retry_head || hs->m->rsp.len || hs->rsp_started ||
	    sl_session_tx_busy(s, SL_SIDE_SRV) || hs->rsp_st != RSP_HEAD)
		return false;
	sl_log_req(s->w, "backend %s server %s: reused connection closed before a response, "
	                 "retrying on a new one", s->be->conf->name, srv->conf->name);
	sl_session_drop_server(s);
	sl_session_out_discard(s, SL_SIDE_SRV);
	room = sl_http_stage_room(s, SL_SIDE_SRV, hs->retry_len);
	if (room < hs->retry_len)
		return false;
	sl_http_stage(s, SL_SIDE_SRV, hs->retry_head, hs->retry_len);
	free(hs->retry_head);
	hs->retry_head = NULL;
	/* a new connection (exclude keeps the pool out), through the balancer
	 * and the server slots like any request */
	sl_http_connect_next(s, srv);
	return true;
}

int sl_http_on_error(struct sl_session *s, int side, int res)
{
	struct http_sess *hs = hs_of(s);

	if (side != SL_SIDE_SRV || s->raw || hs->rsp_started)
		return 0;
	if (retry_fresh(s))
		return 1;
	sl_http_reply_error(s, 502, res == -ECONNRESET ? "connection reset by server" :
			    strerror(-res));
	return 1;
}

/* Every relayed body byte left the server queue (sent, or encrypted into the
 * TLS output): the response is complete. */
static void relay_done(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	hs->rsp_relay = false;
	sl_http_body_relayed(&hs->m->rsp);
	finish_response(s);
}

static void server_eof(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	if (hs->srv_eof_done)
		return;
	hs->srv_eof_done = true;
	if (hs->rsp_st == RSP_HEAD && retry_fresh(s))
		return;
	if (hs->rsp_st == RSP_HEAD) {
		sl_http_reply_error(s, 502, "server closed before a complete response head");
	} else if (hs->rsp_st == RSP_BODY && hs->rsp_relay) {
		if (!s->relay[SL_SIDE_CLI]) {
			relay_done(s);
		} else {
			sl_log_req(s->w, "backend %s server %s: response truncated: closed "
				   "%llu bytes short of its Content-Length", s->be->conf->name,
				   s->srv ? s->srv->conf->name : "-",
				   (unsigned long long)s->relay[SL_SIDE_CLI]);
			sl_session_close(s, SL_CLOSE_SERVER_ERR);
		}
	} else if (hs->rsp_st == RSP_BODY) {
		if (sl_http_finish(&hs->m->rsp) == SL_HTTP_MSG_DONE) {
			finish_response(s);
		} else {
			sl_log_req(s->w, "backend %s server %s: response truncated: %s",
				   s->be->conf->name, s->srv ? s->srv->conf->name : "-",
				   hs->m->rsp.err_reason);
			sl_session_close(s, SL_CLOSE_SERVER_ERR);
		}
	}
}

void sl_http_feed_response(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	const char *data;
	uint32_t len;

	if (hs->rsp_relay && !sl_session_closing(s)) {
		/* a TLS pump encrypts at once: the relay may end right here */
		sl_session_pump(s, SL_SIDE_CLI);
		if (s->relay[SL_SIDE_CLI]) {
			if (sl_session_rd_eof(s, SL_SIDE_SRV) && !sl_session_queued(s, SL_SIDE_SRV))
				server_eof(s); /* short of content_length: truncated */
			return;
		}
		relay_done(s);
	}
	while (!sl_session_closing(s) && !s->raw &&
	       (hs->rsp_st == RSP_HEAD || hs->rsp_st == RSP_BODY)) {
		if (hs->rsp_st == RSP_BODY && hs->m->rsp.msg_done) {
			data = "";
			len = 0; /* a bodiless response completes without more bytes */
		} else if (!sl_session_peek(s, SL_SIDE_SRV, &data, &len)) {
			break;
		}
		if (!response_step(s, data, len))
			break;
	}
	if (sl_session_closing(s) || s->raw)
		return;
	if (hs->rsp_st == RSP_DONE || hs->rsp_st == RSP_NONE) {
		while (sl_session_peek(s, SL_SIDE_SRV, &data, &len))
			sl_session_consume(s, SL_SIDE_SRV, len); /* after the response */
	}
	sl_session_pump(s, SL_SIDE_CLI);
	if (sl_session_rd_eof(s, SL_SIDE_SRV) && !sl_session_queued(s, SL_SIDE_SRV))
		server_eof(s);
}

