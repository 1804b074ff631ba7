/*
 * Access log of HTTP mode (proto/ layer): one record per request, written
 * when its response was delivered or when the session ends under it, with
 * the request line, timers, status, byte counts and termination state taken
 * from the http session (proto/http-i.h). core/alog.c formats and writes the
 * record; this file only decides what goes into it.
 */
#include <stdint.h>
#include <string.h>

#include "core/alog.h"
#include "core/backend.h"
#include "core/stats.h"
#include "core/worker-t.h"
#include "proto/http-i.h"

/* The request ends: its latencies go to the histograms of the counters it
 * was counted in. The request was sent to the server when both its head was
 * in and the connection was up (a pooled one was up already). */
static void request_latencies(struct sl_session *s, struct http_sess *hs)
{
	uint64_t now = s->w->now_us, sent = hs->us_head, rsp = UINT64_MAX;

	if (s->conn_done_us > sent)
		sent = s->conn_done_us;
	if (hs->us_rsp && hs->counted == 2)
		rsp = hs->us_rsp > sent ? hs->us_rsp - sent : 0;
	sl_stats_request_end(s, hs->counted == 2, hs->status,
			     now > hs->us_head ? now - hs->us_head : 0, rsp, s->t_queue_us);
	hs->counted = 0;
}

/* One access log line for the current request. */
void sl_http_log_request(struct sl_session *s, char phase)
{
	struct http_sess *hs = hs_of(s);
	const struct sl_side_acct *c = &s->acct[SL_SIDE_CLI];
	uint64_t now = s->w->now_ms, start = hs->req_start_ms;
	struct sl_alog_rec r = {
		.wall_ms = hs->wall_ms, .client = &s->peer, .frontend = s->fe->name,
		.backend = s->fe->stats ? "<stats>" : s->be->conf->name,
		.server = s->srv ? s->srv->conf->name : "-",
		.th = hs->t_head ? (int64_t)(hs->t_head - start) : -1,
		.tw = (int64_t)s->t_queue,
		.tc = s->t_connected >= hs->t_head && s->t_connected && hs->t_head ?
		      (int64_t)(s->t_connected - s->t_conn_start) : -1,
		.tr = hs->t_rsp && hs->t_head ? (int64_t)(hs->t_rsp - hs->t_head) : -1,
		.tt = (int64_t)(now - start),
		.status = hs->status ? hs->status : -1,
		.bytes_in = c->bytes_in - hs->in0, .bytes_out = c->bytes_out - hs->out0,
		.request = hs->m ? hs->m->line : NULL,
		.request_len = hs->m ? hs->m->line_len : 0,
		/* with request_id set, every line has the field ("-": none) */
		.request_id = !s->fe->request_id[0] ? NULL : hs->m && hs->m->rid_len ?
			      hs->m->rid : "-",
	};

	if (!hs->log_pending)
		return;
	hs->log_pending = false;
	if (hs->counted)
		request_latencies(s, hs);
	if (hs->term[0])
		memcpy(r.term, hs->term, 3);
	else if (phase == '-')
		memcpy(r.term, "--", 3);
	else
		sl_alog_term(s, phase, r.term);
	sl_alog_write(s->w, &r);
}

/* Keep the request line (up to its end of line) for the access log. */
void sl_http_keep_line(struct http_sess *hs, const char *buf, uint32_t len)
{
	const char *eol = buf ? memchr(buf, '\n', len) : NULL;

	if (eol)
		len = (uint32_t)(eol - buf);
	if (len && buf && buf[len - 1] == '\r')
		len--;
	hs->m->line_len = len < sizeof(hs->m->line) ? len : sizeof(hs->m->line);
	if (hs->m->line_len)
		memcpy(hs->m->line, buf, hs->m->line_len);
}

void sl_http_set_term(struct http_sess *hs, char who, char phase)
{
	if (!hs->term[0]) {
		hs->term[0] = who;
		hs->term[1] = phase;
		hs->term[2] = 0;
	}
}

/* The session ends with a request in progress: log it with who ended it and
 * in which phase. */
void sl_http_on_log(struct sl_session *s)
{
	struct http_sess *hs = hs_of(s);
	char phase;

	if (!hs || !hs->log_pending)
		return;
	if (hs->req_st == REQ_IDLE || hs->req_st == REQ_HEAD)
		phase = 'R';
	else if (hs->req_st == REQ_BODY && !hs->m->req.msg_done)
		phase = 'D'; /* the request body was still coming */
	else if (hs->rsp_st == RSP_HEAD && !s->t_connected && s->t_conn_start)
		phase = 'C'; /* (a queue timeout set its own termination state) */
	else if (hs->rsp_st == RSP_HEAD)
		phase = 'H';
	else
		phase = 'D';
	if (s->cause == SL_CLOSE_NORMAL && !hs->term[0] && hs->rsp_st != RSP_DONE)
		sl_http_set_term(hs, 'C', phase); /* closed under a request: the client left */
	sl_http_log_request(s, phase);
}
