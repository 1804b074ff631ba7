/*
 * HTTP/1.1 mode (proto/ layer). One request at a time per client connection:
 *   IDLE -> HEAD (bytes of a head arrive; timeout_http_request runs)
 *        -> head valid: rewrite it, pick a server, connect
 *        -> BODY (request body copied to the server as it streams)
 *        -> DONE (request complete; pipelined bytes wait in the queue)
 *   response: HEAD -> BODY -> DONE; then the server connection is closed
 *   (http-server-close) and the next request, maybe already queued, starts.
 * Nothing reaches a server before its request head passed every check, and
 * a server's bad response never reaches the client (502 instead). Closing a
 * client after a response is a lingering close: shutdown, drain its input
 * until its FIN or timeout_client_fin, then close, so a reset cannot destroy
 * the response in flight. The response side is in http_rsp.c, the stats
 * service in http_local.c, the access log in http_log.c; the state they
 * share with this file in http-i.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/session.h"
#include "core/stats.h"
#include "proto/h2.h"
#include "proto/http.h"
#include "proto/http-i.h"
#include "proto/http_msg.h"
#include "proto/tcp.h"


static const char *status_text(int st)
{
	switch (st) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static void log_and_next(struct sl_session *s);
static void drain_give_up(struct sl_session *s);

static int msgs_open(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	uint32_t mh = s->fe->max_header_size ? s->fe->max_header_size : SL_HTTP_MAX_HEADER_SIZE;
	uint32_t mn = s->fe->max_headers ? s->fe->max_headers : SL_HTTP_MAX_HEADERS;

	if (hs->m)
		return 0;
	if (s->stream) {
		/* proto/h2.c held the client's header list to these limits;
		 * the HTTP/1.1 form adds a request line, Host and maybe a
		 * Transfer-Encoding line, which must not tip it over */
		mh += 1024;
		mn += 2;
	}
	hs->m = malloc(sizeof(*hs->m));
	if (!hs->m)
		return -ENOMEM;
	sl_http_parser_init(&hs->m->req, false, mh, mn);
	/* the frontend's limits are for clients; server responses get their own */
	sl_http_parser_init(&hs->m->rsp, true, SL_HTTP_RSP_MAX_HEADER_SIZE, SL_HTTP_RSP_MAX_HEADERS);
	hs->m->line_len = 0;
	hs->m->rid_len = 0;
	return 0;
}

static void msgs_close(struct http_sess *hs)
{
	if (!hs->m)
		return;
	sl_http_parser_free(&hs->m->req);
	sl_http_parser_free(&hs->m->rsp);
	free(hs->m);
	hs->m = NULL;
}


/* Room left in the out buffer toward `to` for want more copied body bytes
 * (at most SL_HTTP_STAGE_MAX staged in all). */
uint32_t sl_http_stage_room(struct sl_session *s, int to, uint32_t want)
{
	uint32_t staged = sl_session_out_backlog(s, to);

	if (staged >= SL_HTTP_STAGE_MAX)
		return 0;
	if (!want)
		return 1; /* room for nothing: a bodiless message ends */
	if (want > SL_HTTP_STAGE_MAX - staged)
		want = SL_HTTP_STAGE_MAX - staged;
	/* grown to what the bytes at hand need (small messages keep a small
	 * buffer) */
	return sl_session_out_reserve(s, to, want) ? want : 0;
}

/* Copy n bytes toward side `to` (n <= sl_http_stage_room()). */
void sl_http_stage(struct sl_session *s, int to, const char *data, uint32_t n)
{
	char *p;

	if (n && (p = sl_session_out_reserve(s, to, n))) {
		memcpy(p, data, n);
		sl_session_out_commit(s, to, n);
	}
}

/* Was the request being answered a HEAD? Its method is known from the
 * request line kept for the log, or else from the head being parsed (a 408
 * or a 400 may come before the head is complete). */
static bool request_is_head(const struct http_sess *hs)
{
	const struct http_msgs *m = hs->m;

	if (!m)
		return false;
	if (m->line_len)
		return m->line_len >= 5 && !memcmp(m->line, "HEAD ", 5);
	return m->req.buf && m->req.len >= 5 && !memcmp(m->req.buf, "HEAD ", 5);
}

/* Queue an error response and close after it. Nothing more is forwarded. */
void sl_http_reply_error(struct sl_session *s, int status, const char *why)
{
	struct http_sess *hs = hs_of(s);
	char body[256], *p;
	int blen, n;

	sl_log_req(s->w, "frontend %s backend %s server %s: %d %s (%s)", s->fe->name,
	                 s->be->conf->name, s->srv ? s->srv->conf->name : "-", status,
	                 status_text(status), why);
	sl_session_unqueue(s);
	sl_session_drop_server(s);
	if (s->state != SL_SESS_LINGER && !sl_session_closing(s))
		sl_session_set_state(s, SL_SESS_FORWARD); /* answering, by us */
	hs->req_st = REQ_ERROR;
	hs->idle_since_ms = s->w->now_ms;
	hs->rsp_st = RSP_DONE;
	hs->close_after = true;
	hs->cli_keep = false;
	if (hs->rsp_started || sl_session_out_pending(s, SL_SIDE_CLI)) {
		sl_session_close(s, SL_CLOSE_SERVER_ERR); /* mid-response: truncate */
		return;
	}
	hs->rsp_started = true;
	hs->status = status;
	if (!hs->log_pending) {
		/* refused before a request started (429): log it all the same */
		hs->log_pending = true;
		hs->wall_ms = s->wall_ms;
		hs->req_start_ms = s->w->now_ms;
		hs->in0 = s->acct[SL_SIDE_CLI].bytes_in;
		hs->out0 = s->acct[SL_SIDE_CLI].bytes_out;
	}
	switch (status) {
	case 408: sl_http_set_term(hs, 'c', 'R'); break;
	case 502: sl_http_set_term(hs, 'S', hs->t_rsp ? 'D' : 'H'); break;
	case 503: sl_http_set_term(hs, 'S', 'C'); break;
	case 504: sl_http_set_term(hs, 's', 'H'); break;
	case 500: sl_http_set_term(hs, 'R', 'R'); break;
	default: sl_http_set_term(hs, 'P', 'R'); break;
	}
	sl_stats_status(s, status, true);
	blen = snprintf(body, sizeof(body), "%d %s\n", status, status_text(status));
	if (s->fe->request_id[0] && msgs_open(s) == 0)
		sl_http_reqid_ensure(hs->m); /* the id of this request, or a new one */
	p = sl_session_out_reserve(s, SL_SIDE_CLI, 768);
	if (!p) {
		sl_session_close(s, SL_CLOSE_RESOURCE);
		return;
	}
	/* a response to HEAD has no body (RFC 9110 9.3.2); Content-Length
	 * states the length a GET would have got */
	n = snprintf(p, 768, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\nConnection: close\r\n%s%s%s%s\r\n%s",
		     status, status_text(status), blen,
		     hs->m && hs->m->rid_len ? s->fe->request_id : "",
		     hs->m && hs->m->rid_len ? ": " : "", hs->m && hs->m->rid_len ? hs->m->rid : "",
		     hs->m && hs->m->rid_len ? "\r\n" : "", request_is_head(hs) ? "" : body);
	sl_session_out_commit(s, SL_SIDE_CLI, (uint32_t)n);
	sl_session_pump(s, SL_SIDE_CLI);
	sl_session_timer_kick(s);
}

void sl_http_connect_next(struct sl_session *s, const struct sl_server *exclude)
{
	struct http_sess *hs = hs_of(s);
	struct sl_server *srv = NULL;
	int ret = sl_session_pick_server(s, exclude, &srv);

	if (ret == -EAGAIN)
		return; /* queued until a server slot frees or timeout_queue */
	if (ret < 0) {
		sl_http_reply_error(s, 503, "no server available");
		return;
	}
	hs->srv_eof_done = false;
	hs->srv_reused = false;
	if (hs->keep_srv && !exclude) {
		if (sl_session_take_pooled(s, srv, &hs->srv_meta)) {
			hs->srv_reused = true; /* the caller pumps */
			return;
		}
	}
	hs->srv_meta.created_ms = s->w->now_ms;
	hs->srv_meta.requests = 0;
	ret = sl_session_connect(s, srv);
	if (ret == -EMFILE || ret == -ENFILE)
		sl_worker_fd_exhausted(s->w, ret);
	if (ret < 0)
		sl_http_reply_error(s, 503, "cannot create a socket");
}

static int client_keeps(const struct sl_session *s, const struct sl_http_parser *r)
{
	const struct http_sess *hs = hs_of(s);
	uint32_t limit = s->fe->keepalive_requests;

	if (r->major == 1 && r->minor == 0 ? !r->conn_keep_alive : r->conn_close)
		return 0;
	if (s->stream)
		return 0; /* an HTTP/2 stream carries one request */
	if (limit && hs->requests >= limit)
		return 0;
	/* a stop or a reload: answer this one, then close */
	return !atomic_load(&s->w->px->stopping) && !atomic_load(&s->w->px->retiring);
}

static bool is_idempotent(uint8_t m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_PUT || m == HTTP_DELETE ||
	       m == HTTP_OPTIONS || m == HTTP_TRACE;
}

/* A request head passed its checks: rewrite it and open a server connection. */
static int on_request_head(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	struct sl_http_parser *r = &hs->m->req;
	struct sl_http_rewrite rw = { 0 };
	uint32_t cap = r->len + 512;
	char *p;
	int n;

	hs->requests++;
	hs->t_head = s->w->now_ms;
	hs->us_head = s->w->now_us;
	sl_http_keep_line(hs, r->buf, r->line_len);
	if (s->stream && hs->m->line_len >= 8 &&
	    !memcmp(hs->m->line + hs->m->line_len - 8, "HTTP/1.1", 8))
		memcpy(hs->m->line + hs->m->line_len - 3, "2.0", 3); /* as the client spoke */
	if (s->fe->request_id[0])
		sl_http_reqid_take(s->fe, hs->m, r); /* before any error page */
	if (r->method == HTTP_CONNECT) {
		sl_http_reply_error(s, 405, "CONNECT is not supported");
		return -1;
	}
	if (!s->fe->path_normalize_off && sl_http_normalize_target(r) < 0) {
		sl_http_reply_error(s, 400, r->err_reason);
		return -1;
	}
	s->nreq++;
	SL_ST_INC(s->w->st->fe[s->fe_idx].req_total);
	hs->counted = 1;
	hs->cli_keep = client_keeps(s, r); /* stats pages keep clients too */
	hs->cli_done = r->major == 1 && r->minor == 0 ? !r->conn_keep_alive : r->conn_close;
	if (s->fe->stats)
		return sl_http_serve_stats(s, r); /* no backend involved */
	sl_session_set_backend(s, &s->w->px->backends[sl_http_route(s->fe, r)]);
	SL_ST_INC(s->w->st->be[s->be - s->w->px->backends].req_total);
	hs->counted = 2;
	hs->keep_srv = s->be->conf->mode == SL_BE_MODE_HTTP_KEEP_ALIVE;
	hs->upgrade_req = r->upgrade && r->conn_upgrade;
	hs->req_bodiless = r->msg_done;
	hs->rsp_early = false;
	hs->close_after = false;
	hs->rsp_started = false;
	hs->rsp_delivered = false;
	hs->got_100 = false;
	hs->drained = 0;
	rw.client_ip = s->fe->forwardfor_off ? NULL : hs->client_ip;
	rw.proto = s->fe->forwardfor_off ? NULL : sl_session_secure(s) ? "https" : "http";
	if (hs->upgrade_req)
		rw.connection = "upgrade";
	else if (!hs->keep_srv)
		rw.connection = "close";
	else if (r->major == 1 && r->minor == 0)
		rw.connection = "keep-alive";
	rw.keep_upgrade = hs->upgrade_req;
	{
		int v = s->c[SL_SIDE_CLI] ? sl_conn_client_cert(s->c[SL_SIDE_CLI], &rw.cert_dn) : -1;

		rw.cert_verify = v < 0 ? NULL : v ? "SUCCESS" : "NONE";
		if (rw.cert_verify) /* the two headers' names, the verdict, the DN */
			cap += 64 + (rw.cert_dn ? (uint32_t)strlen(rw.cert_dn) : 0);
	}
	if (s->fe->request_id[0]) {
		rw.id_name = s->fe->request_id;
		rw.id_value = hs->m->rid_len ? hs->m->rid : NULL;
		cap += (uint32_t)sizeof(hs->m->rid) + SL_CONF_NAME_MAX;
	}
	p = sl_session_out_reserve(s, SL_SIDE_SRV, cap);
	n = p ? sl_http_build_head(r, &rw, p, cap) : -ENOMEM;
	if (n < 0) {
		sl_http_reply_error(s, 500, "cannot build the request head");
		return -1;
	}
	free(hs->retry_head);
	hs->retry_head = NULL;
	if (hs->keep_srv && r->msg_done && is_idempotent(r->method)) {
		hs->retry_head = malloc((size_t)n);
		if (hs->retry_head)
			memcpy(hs->retry_head, p, (size_t)n);
		hs->retry_len = (uint32_t)n;
	}
	sl_session_out_commit(s, SL_SIDE_SRV, (uint32_t)n);
	sl_http_release_head(r); /* an idle or streaming client holds no head copy */
	sl_http_next(&hs->m->rsp);
	hs->m->rsp.request_was_head = r->method == HTTP_HEAD;
	hs->rsp_st = RSP_HEAD;
	hs->req_st = REQ_BODY;
	s->retries = 0;
	sl_session_timer_kick(s); /* from timeout_http_request to the server's */
	sl_http_connect_next(s, NULL); /* queued, connecting, or a pooled connection */
	return sl_session_closing(s) || hs->req_st == REQ_ERROR ? -1 : 0;
}

/* Feed request bytes of a head; returns 1 to go on, 0 to stop. */
static int request_head_step(struct sl_session *s, const char *data, uint32_t len)
{
	struct http_sess *hs = hs_of(s);
	uint32_t used;
	enum sl_http_res r;

	if (hs->req_st == REQ_IDLE) {
		struct timespec ts;

		if (msgs_open(s) < 0) {
			sl_log("frontend %s: out of memory for a request", s->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return 0;
		}
		hs->req_st = REQ_HEAD;
		sl_session_set_state(s, SL_SESS_HEAD);
		hs->log_pending = true;
		hs->status = 0;
		hs->term[0] = 0;
		hs->t_head = hs->t_rsp = 0;
		hs->us_head = hs->us_rsp = 0;
		hs->counted = 0;
		hs->m->line_len = 0;
		s->t_queue = 0;
		s->t_queue_us = 0;
		clock_gettime(CLOCK_REALTIME, &ts);
		hs->wall_ms = hs->requests ? (uint64_t)ts.tv_sec * 1000 +
			      (uint64_t)ts.tv_nsec / 1000000 : s->wall_ms;
		if (hs->requests)
			hs->req_start_ms = s->w->now_ms;
		sl_session_timer_kick(s);
	}
	r = sl_http_feed_head(&hs->m->req, data, len, &used);
	sl_session_consume(s, SL_SIDE_CLI, used);
	if (r == SL_HTTP_ERROR) {
		sl_http_keep_line(hs, hs->m->req.buf, hs->m->req.len);
		sl_http_reply_error(s, hs->m->req.err_status, hs->m->req.err_reason);
		return 0;
	}
	if (r == SL_HTTP_HEAD_DONE)
		return on_request_head(s) == 0;
	if (sl_http_head_empty(&hs->m->req)) {
		/* only empty lines so far (a stray CRLF after a body, RFC 9112
		 * 2.2): they were eaten and the connection is as idle as before;
		 * its timers (keep-alive, or the first request's) run on */
		hs->req_st = REQ_IDLE;
		hs->log_pending = false;
		if (hs->requests)
			sl_session_set_state(s, SL_SESS_IDLE);
		msgs_close(hs);
		sl_session_timer_kick(s);
	}
	return 1;
}

/* Copy request body bytes; returns 1 to go on, 0 to stop. */
static int request_body_step(struct sl_session *s, const char *data, uint32_t len)
{
	struct http_sess *hs = hs_of(s);
	uint32_t used, room = sl_http_stage_room(s, SL_SIDE_SRV, len);
	enum sl_http_res r;

	if (len && !room)
		return 0; /* staging full: resume when the server side drains */
	if (len > room)
		len = room;
	r = sl_http_feed_body(&hs->m->req, data, len, &used);
	if (r == SL_HTTP_ERROR) {
		sl_http_reply_error(s, 400, hs->m->req.err_reason);
		return 0;
	}
	sl_http_stage(s, SL_SIDE_SRV, data, used);
	sl_session_consume(s, SL_SIDE_CLI, used);
	if (r == SL_HTTP_MSG_DONE) {
		hs->req_st = REQ_DONE;
		return 0;
	}
	return 1;
}

/* Read and discard body bytes after an early response; returns 1 to go on,
 * 0 to stop. The body's end is found by the same parser, so the bytes after
 * it are the next request. */
static int request_drain_step(struct sl_session *s, const char *data, uint32_t len)
{
	struct http_sess *hs = hs_of(s);
	uint32_t used;
	enum sl_http_res r = sl_http_feed_body(&hs->m->req, data, len, &used);

	if (r == SL_HTTP_ERROR) {
		sl_log_req(s->w, "frontend %s: request body after an early response: %s, closing",
			   s->fe->name, hs->m->req.err_reason);
		drain_give_up(s);
		return 0;
	}
	sl_session_consume(s, SL_SIDE_CLI, used);
	hs->drained += used;
	if (r == SL_HTTP_MSG_DONE) {
		hs->req_st = REQ_DONE;
		return 0;
	}
	if (hs->drained > SL_HTTP_DRAIN_MAX) {
		sl_log_req(s->w, "frontend %s: more than %llu request body bytes after an early "
			   "response, closing", s->fe->name,
			   (unsigned long long)SL_HTTP_DRAIN_MAX);
		drain_give_up(s);
		return 0;
	}
	return 1;
}

static void client_eof(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	if (hs->cli_eof_done)
		return;
	hs->cli_eof_done = true;
	if (hs->req_st == REQ_DRAIN) {
		/* the rest of the body will never come: deliver what was
		 * answered (if not done yet), then close */
		hs->req_st = REQ_ERROR;
		hs->cli_keep = false;
		hs->close_after = true;
		if (hs->rsp_delivered)
			sl_session_close(s, SL_CLOSE_NORMAL);
		else
			sl_session_timer_kick(s);
		return;
	}
	if (hs->lingering || hs->req_st == REQ_IDLE || hs->req_st == REQ_HEAD ||
	    hs->req_st == REQ_BODY) {
		/* idle, or a request that can never complete: close at once */
		sl_session_close(s, hs->req_st == REQ_IDLE || hs->lingering ?
				 SL_CLOSE_NORMAL : SL_CLOSE_CLIENT_ERR);
		return;
	}
	hs->cli_keep = false; /* answer what was asked, then close */
	hs->close_after = true;
	sl_session_timer_kick(s);
}

/* A plain bind's client may speak HTTP/2 from its first byte (prior
 * knowledge): 1 when it does (the session is h2 now), -1 while its first
 * bytes could still be the preface, 0 when it speaks HTTP/1. */
static int h2_preface(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	char first[24];
	uint32_t n;
	int m;

	if (hs->h2_checked)
		return 0;
	if (hs->requests || s->stream || s->fe->h2_off || s->fe->stats ||
	    hs->req_st != REQ_IDLE || !s->c[SL_SIDE_CLI]) {
		hs->h2_checked = true;
		return 0;
	}
	n = sl_conn_gather(s->c[SL_SIDE_CLI], first, sizeof(first));
	m = n ? sl_h2_preface(first, n) : -1;
	if (m < 0 && !sl_session_rd_eof(s, SL_SIDE_CLI))
		return -1;
	hs->h2_checked = true;
	if (m <= 0)
		return 0;
	sl_session_set_proto(s, &sl_h2_ops); /* hs is freed */
	return 1;
}

void sl_http_feed_request(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	const char *data;
	uint32_t len;

	if (!hs->h2_checked && h2_preface(s))
		return; /* h2 now, or not yet known */

	if (hs->lingering || hs->req_st == REQ_ERROR) {
		while (sl_session_peek(s, SL_SIDE_CLI, &data, &len))
			sl_session_consume(s, SL_SIDE_CLI, len); /* discarded */
	}
	while (!sl_session_closing(s) &&
	       (hs->req_st == REQ_IDLE || hs->req_st == REQ_HEAD || hs->req_st == REQ_BODY ||
		hs->req_st == REQ_DRAIN)) {
		int go;

		if (hs->req_st == REQ_DRAIN) {
			if (hs->m->req.msg_done)
				go = request_drain_step(s, "", 0);
			else if (sl_session_peek(s, SL_SIDE_CLI, &data, &len))
				go = request_drain_step(s, data, len);
			else
				break;
		} else if (hs->req_st == REQ_BODY && !hs->m->req.msg_done) {
			if (!sl_session_peek(s, SL_SIDE_CLI, &data, &len))
				break;
			go = request_body_step(s, data, len);
		} else if (hs->req_st == REQ_BODY) {
			go = request_body_step(s, "", 0);
		} else {
			if (!sl_session_peek(s, SL_SIDE_CLI, &data, &len))
				break;
			go = request_head_step(s, data, len);
		}
		if (!go)
			break;
	}
	if (sl_session_closing(s))
		return;
	if (hs->req_st == REQ_DONE && hs->rsp_st == RSP_DONE && hs->rsp_delivered &&
	    !hs->close_after) {
		log_and_next(s); /* drained after its response went out */
		return;
	}
	sl_session_pump(s, SL_SIDE_SRV);
	if (sl_session_rd_eof(s, SL_SIDE_CLI) && !sl_session_queued(s, SL_SIDE_CLI))
		client_eof(s);
}

/*
 * Whether the client can be closed at once after its response rather than
 * with a lingering close (lingering_close = on; the default, always, never
 * does). A client that asked for the close (Connection: close, or HTTP/1.0
 * without keep-alive) sends nothing after that request (RFC 9112, section
 * 9.6): once the request was read in full and no byte of it waits unread,
 * close() sends a FIN behind the response. That is nginx's rule
 * (lingering_close on, its default). The cost: the socket is orphaned with
 * the response's tail still in its send buffer, and a kernel out of TCP
 * memory resets orphans (tcp_check_oom), so the client loses that tail; a
 * /metrics page fetched with Connection: close while 1,000 readers held
 * their responses (test_fairness under the sanitizers) was reset, most
 * likely so. A lingering close keeps the socket ours until the client's
 * FIN. Any other close (the server's body runs until it closes,
 * keepalive_requests, a stop, a body left unread, bytes queued) lingers,
 * and so do TLS (which says close_notify first) and HTTP/2 streams (not
 * sockets). In the bench's
 * churn scenario (one client connection per request) this took the
 * proxy's CPU per request from 29.4 to 23.8 us: no shutdown(2), no wait
 * for the client's FIN.
 */
static bool close_at_once(const struct sl_session *s)
{
	const struct http_sess *hs = hs_of(s);

	return s->fe->linger_on && hs->cli_done && hs->req_st == REQ_DONE &&
	       !sl_session_queued(s, SL_SIDE_CLI) && !s->stream && !sl_session_secure(s);
}

/* The response went out and the request was read in full (or will never
 * be): close, linger, or start the next request. */
static void exchange_done(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	if (hs->close_after) {
		if (sl_session_rd_eof(s, SL_SIDE_CLI) || close_at_once(s)) {
			sl_session_close(s, SL_CLOSE_NORMAL);
			return;
		}
		hs->lingering = true;
		sl_session_set_state(s, SL_SESS_LINGER);
		hs->idle_since_ms = s->w->now_ms;
		sl_session_shutdown(s, SL_SIDE_CLI);
		sl_http_feed_request(s); /* discards whatever the client still sends */
		sl_session_timer_kick(s);
		return;
	}
	msgs_close(hs); /* the next request starts afresh */
	for (int i = 0; i < 2; i++)
		if (!sl_session_out_pending(s, i))
			sl_session_out_trim(s, i); /* an idle connection keeps no staging memory */
	hs->req_st = REQ_IDLE;
	hs->rsp_st = RSP_NONE;
	hs->rsp_started = false;
	hs->rsp_delivered = false; /* (an error page may come before a head) */
	hs->idle_since_ms = s->w->now_ms;
	sl_session_set_state(s, SL_SESS_IDLE);
	sl_session_timer_kick(s);
	sl_http_feed_request(s); /* a pipelined request may be waiting */
}

/* The exchange is over: log it, then close, linger or go on. */
static void log_and_next(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	sl_http_log_request(s, '-');
	/* the next request's bytes count from here (pipelined ones included) */
	hs->in0 = s->acct[SL_SIDE_CLI].bytes_in;
	hs->out0 = s->acct[SL_SIDE_CLI].bytes_out;
	exchange_done(s);
}

/* The response went out in full. */
static void response_delivered(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	hs->rsp_delivered = true;
	if (hs->req_st == REQ_DRAIN && !hs->close_after)
		return; /* logged and done once its body was read */
	log_and_next(s);
}

/* The rest of a request body cannot be discarded (bad framing, over
 * SL_HTTP_DRAIN_MAX): close the client once the response is out. */
static void drain_give_up(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	hs->req_st = REQ_ERROR;
	hs->cli_keep = false;
	hs->close_after = true;
	hs->idle_since_ms = s->w->now_ms;
	if (hs->rsp_delivered)
		log_and_next(s);
	else
		sl_session_timer_kick(s);
}

static void http_on_drained(struct sl_session *s, int to)
{
	struct http_sess *hs = hs_of(s);

	if (s->raw) {
		sl_tcp_on_drained(s, to);
		return;
	}
	if (to == SL_SIDE_SRV) {
		sl_http_feed_request(s);
		return;
	}
	if (hs->rsp_st == RSP_DONE && !sl_session_out_pending(s, SL_SIDE_CLI) && !hs->lingering) {
		if (!hs->rsp_delivered)
			response_delivered(s);
	} else {
		sl_http_feed_response(s);
	}
}

static void http_on_data(struct sl_session *s, int side)
{
	if (side == SL_SIDE_CLI)
		sl_http_feed_request(s);
	else
		sl_http_feed_response(s);
}

static void http_on_eof(struct sl_session *s, int side)
{
	if (s->raw) {
		sl_tcp_on_eof(s, side);
		return;
	}
	if (side == SL_SIDE_CLI)
		sl_http_feed_request(s);
	else
		sl_http_feed_response(s);
}

static void http_on_connect(struct sl_session *s, int res)
{
	struct sl_server *failed = s->srv;
	char addr[80];

	if (res == 0) {
		/* the core made the session FORWARD and receives from the server */
		sl_session_timer_kick(s);
		sl_http_feed_request(s);
		return;
	}
	sl_log_req(s->w, "backend %s server %s (%s): connect failed: %s%s", s->be->conf->name,
		   failed->conf->name, sl_conf_addr_str(&failed->conf->addr, addr, sizeof(addr)),
		   res == -ECANCELED ? "timeout_connect expired" : strerror(-res),
		   s->retries ? "" : ", trying another server");
	sl_session_drop_server(s);
	if (s->retries++ < 1)
		sl_http_connect_next(s, failed);
	else
		sl_http_reply_error(s, 503, "no server reachable");
}

static void client_ip(const struct sl_session *s, char *buf, size_t len)
{
	const union sl_sockaddr *a = &s->peer;

	snprintf(buf, len, "unknown");
	if (a->sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->in4.sin_addr, buf, (socklen_t)len);
	else if (a->sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, (socklen_t)len);
}

static void http_start(struct sl_session *s)
{
	struct http_sess *hs;

	if (!s->stream && !s->fe->h2_off && sl_session_alpn_h2(s)) {
		if (s->over_source) {
			/* (an HTTP/1.1 429 would mean nothing to an h2 client) */
			sl_session_close(s, SL_CLOSE_LIMIT);
			return;
		}
		s->ops = &sl_h2_ops; /* the client chose h2 in its TLS handshake */
		s->ops->start(s);
		return;
	}
	hs = calloc(1, sizeof(*hs));
	if (!hs) {
		sl_session_close(s, SL_CLOSE_RESOURCE);
		return;
	}
	s->proto = hs;
	hs->keep_srv = s->be->conf->mode == SL_BE_MODE_HTTP_KEEP_ALIVE;
	hs->req_start_ms = s->w->now_ms;
	client_ip(s, hs->client_ip, sizeof(hs->client_ip));
	sl_session_set_state(s, SL_SESS_HEAD);
	if (s->over_source) {
		hs->requests = 1;
		sl_http_reply_error(s, 429, "over maxconn_per_source");
		sl_session_recv(s, SL_SIDE_CLI); /* to see the client's FIN */
		return;
	}
	sl_session_recv(s, SL_SIDE_CLI);
	sl_session_timer_kick(s);
}

static void http_on_dequeued(struct sl_session *s)
{
	sl_http_connect_next(s, NULL);
	/* a pooled connection is ready at once: send what waits (a new one
	 * sends from its connect completion) */
	if (!sl_session_closing(s))
		sl_http_feed_request(s);
}

static void http_free(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);

	if (!hs)
		return;
	msgs_close(hs);
	free(hs->retry_head);
	free(hs);
	s->proto = NULL;
}

static uint64_t http_deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	const struct http_sess *hs = hs_of(s);
	const uint64_t *fe = s->fe->timeouts.ms, *be = s->be->conf->timeouts.ms;
	const struct sl_side_acct *c = &s->acct[SL_SIDE_CLI], *v = &s->acct[SL_SIDE_SRV];
	uint64_t dc, dv;

	if (s->raw)
		return sl_tcp_tunnel_deadline(s, kind);
	*kind = SL_TO_CLIENT_FIN;
	if (hs->lingering)
		return hs->idle_since_ms + fe[SL_TO_CLIENT_FIN];
	*kind = SL_TO_CLIENT;
	if (hs->req_st == REQ_DRAIN)
		return c->last_ms + fe[SL_TO_CLIENT]; /* discarding a body */
	if (hs->req_st == REQ_ERROR)
		return hs->idle_since_ms + fe[SL_TO_CLIENT]; /* delivering an error page */
	*kind = SL_TO_HTTP_KEEP_ALIVE;
	if (hs->req_st == REQ_IDLE && hs->requests)
		return hs->idle_since_ms + fe[SL_TO_HTTP_KEEP_ALIVE];
	*kind = SL_TO_HTTP_REQUEST;
	if (hs->req_st == REQ_IDLE || hs->req_st == REQ_HEAD)
		return hs->req_start_ms + fe[SL_TO_HTTP_REQUEST];
	dc = c->last_ms + fe[SL_TO_CLIENT];
	dv = (v->last_ms > c->last_ms ? v->last_ms : c->last_ms) + be[SL_TO_SERVER];
	if (hs->req_st != REQ_BODY && hs->rsp_st != RSP_BODY)
		dc = UINT64_MAX; /* the client only waits: timeout_server alone applies */
	*kind = dc <= dv ? SL_TO_CLIENT : SL_TO_SERVER;
	return dc <= dv ? dc : dv;
}

static void http_on_timeout(struct sl_session *s, enum sl_timeout_kind kind)
{
	struct http_sess *hs = hs_of(s);

	if (s->raw || hs->lingering || kind == SL_TO_HTTP_KEEP_ALIVE || kind == SL_TO_CLIENT ||
	    (kind == SL_TO_HTTP_REQUEST && hs->req_st == REQ_IDLE))
		sl_session_close(s, SL_CLOSE_TIMEOUT);
	else if (kind == SL_TO_HTTP_REQUEST)
		sl_http_reply_error(s, 408, "timeout_http_request expired");
	else if (kind == SL_TO_QUEUE) {
		sl_http_set_term(hs, 's', 'Q');
		sl_http_reply_error(s, 503, "timeout_queue expired (all servers at maxconn)");
	}
	else if (!hs->rsp_started)
		sl_http_reply_error(s, 504, "timeout_server expired");
	else
		sl_session_close(s, SL_CLOSE_TIMEOUT);
}

const struct sl_proto_ops sl_http_ops = {
	.start = http_start,
	.on_connect = http_on_connect,
	.on_data = http_on_data,
	.on_eof = http_on_eof,
	.on_drained = http_on_drained,
	.deadline = http_deadline,
	.on_timeout = http_on_timeout,
	.on_free = http_free,
	.on_error = sl_http_on_error,
	.on_dequeued = http_on_dequeued,
	.on_log = sl_http_on_log,
};
