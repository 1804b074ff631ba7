/*
 * tcp mode (proto/ layer). FIN rules: when one side sends FIN, the bytes
 * already received from it are still delivered, then the other side gets
 * shutdown(SHUT_WR) and the session keeps forwarding the open direction,
 * bounded by timeout_client_fin (client closed first) or timeout_server_fin
 * (server closed first). Once both sides have sent FIN and everything is
 * delivered, both sockets are closed at once. Errors close both sides.
 */
#include <errno.h>
#include <string.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/alog.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/session.h"
#include "proto/tcp.h"

static void connect_next(struct sl_session *s, const struct sl_server *exclude)
{
	struct sl_server *srv = NULL;
	int ret = sl_session_pick_server(s, exclude, &srv);

	if (ret == -EAGAIN)
		return; /* queued until a server slot frees or timeout_queue */
	if (ret < 0) {
		sl_session_close(s, SL_CLOSE_NO_SERVER);
		return;
	}
	ret = sl_session_connect(s, srv);
	if (ret < 0) {
		if (ret == -EMFILE || ret == -ENFILE)
			sl_worker_fd_exhausted(s->w, ret);
		else
			sl_log("backend %s server %s: cannot create socket: %s",
			       s->be->conf->name, srv->conf->name, strerror(-ret));
		sl_session_close(s, SL_CLOSE_RESOURCE);
	}
}

void sl_tcp_start(struct sl_session *s)
{
	sl_session_set_raw(s); /* nothing to pump yet */
	if (s->over_source) {
		sl_session_close(s, SL_CLOSE_LIMIT);
		return;
	}
	sl_session_recv(s, SL_SIDE_CLI);
	sl_session_timer_kick(s);
	connect_next(s, NULL);
}

void sl_tcp_on_connect(struct sl_session *s, int res)
{
	struct sl_server *failed = s->srv;
	char addr[80];

	if (res == 0) {
		/* the core made the session FORWARD and receives on both sides */
		sl_session_timer_kick(s); /* timeout_server may be the nearer one now */
		sl_session_pump(s, SL_SIDE_SRV);
		if (!sl_session_tx_busy(s, SL_SIDE_SRV))
			sl_tcp_on_drained(s, SL_SIDE_SRV);
		return;
	}
	sl_log_req(s->w, "backend %s server %s (%s): connect failed: %s%s",
	                 s->be->conf->name, failed->conf->name,
	                 sl_conf_addr_str(&failed->conf->addr, addr, sizeof(addr)),
	                 res == -ECANCELED ? "timeout_connect expired" : strerror(-res),
	                 s->retries ? "" : ", trying another server");
	sl_session_drop_server(s);
	if (s->retries++ < 1)
		connect_next(s, failed);
	else
		sl_session_close(s, SL_CLOSE_CONNECT_FAIL);
}

void sl_tcp_on_eof(struct sl_session *s, int side)
{
	int other = !side;

	if (s->state == SL_SESS_FORWARD && !sl_session_tx_busy(s, other) &&
	    !sl_session_queued(s, side))
		sl_tcp_on_drained(s, other);
	sl_session_timer_kick(s);
}

void sl_tcp_on_drained(struct sl_session *s, int to)
{
	if (!sl_session_rd_eof(s, !to) || s->state != SL_SESS_FORWARD)
		return;
	if (sl_session_rd_eof(s, to)) {
		/* both FINs seen: wait until the other direction is delivered too */
		if (!sl_session_tx_busy(s, !to) && !sl_session_queued(s, to))
			sl_session_close(s, SL_CLOSE_NORMAL);
		return;
	}
	sl_session_shutdown(s, to);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

uint64_t sl_tcp_deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	const struct sl_side_acct *c = &s->acct[SL_SIDE_CLI], *v = &s->acct[SL_SIDE_SRV];
	const uint64_t *fe = s->fe->timeouts.ms, *be = s->be->conf->timeouts.ms;
	uint64_t last = max_u64(c->last_ms, v->last_ms), dc, dv;
	bool ceof = sl_session_rd_eof(s, SL_SIDE_CLI), veof = sl_session_rd_eof(s, SL_SIDE_SRV);

	if (s->state == SL_SESS_FORWARD && ceof && !veof) {
		*kind = SL_TO_CLIENT_FIN;
		return last + fe[SL_TO_CLIENT_FIN];
	}
	if (s->state == SL_SESS_FORWARD && veof && !ceof) {
		*kind = SL_TO_SERVER_FIN;
		return last + be[SL_TO_SERVER_FIN];
	}
	dc = c->last_ms + fe[SL_TO_CLIENT];
	if (s->state != SL_SESS_FORWARD) {
		*kind = SL_TO_CLIENT;
		return dc;
	}
	dv = v->last_ms + be[SL_TO_SERVER];
	*kind = dc <= dv ? SL_TO_CLIENT : SL_TO_SERVER;
	return dc <= dv ? dc : dv;
}

uint64_t sl_tcp_tunnel_deadline(const struct sl_session *s, enum sl_timeout_kind *kind)
{
	const struct sl_timeouts *bt = &s->be->conf->timeouts;
	const struct sl_side_acct *c = &s->acct[SL_SIDE_CLI], *v = &s->acct[SL_SIDE_SRV];
	uint64_t at = sl_tcp_deadline(s, kind), t;

	if (*kind != SL_TO_CLIENT && *kind != SL_TO_SERVER)
		return at;
	/* the backend's when its section sets one, else the frontend's (which
	 * inherits [defaults]) */
	t = bt->set_mask & (1u << SL_TO_TUNNEL) ? bt->ms[SL_TO_TUNNEL] :
	    s->fe->timeouts.ms[SL_TO_TUNNEL];
	*kind = SL_TO_TUNNEL;
	return max_u64(c->last_ms, v->last_ms) + t;
}

static void tcp_on_data(struct sl_session *s, int side)
{
	sl_session_pump(s, !side);
}

static void tcp_on_timeout(struct sl_session *s, enum sl_timeout_kind kind)
{
	(void)kind; /* s->to_kind names it in the log line */
	sl_session_close(s, SL_CLOSE_TIMEOUT);
}

static void tcp_on_log(struct sl_session *s)
{
	const struct sl_side_acct *c = &s->acct[SL_SIDE_CLI], *v = &s->acct[SL_SIDE_SRV];
	struct sl_alog_rec r = {
		.wall_ms = s->wall_ms, .client = &s->peer, .frontend = s->fe->name,
		.backend = s->be->conf->name, .server = s->srv ? s->srv->conf->name : "-",
		.th = -1, .tr = -1, .status = -1,
		.tw = (int64_t)s->t_queue,
		.tc = s->t_connected ? (int64_t)(s->t_connected - s->t_conn_start) : -1,
		.tt = (int64_t)(s->w->now_ms - s->start_ms),
		.bytes_in = c->bytes_in, .bytes_out = c->bytes_out,
	};
	char phase = s->t_connected ? 'D' : s->t_conn_start ? 'C' : 'Q';

	if (s->t_connected && (c->eof || v->eof))
		phase = 'F';
	sl_alog_term(s, phase, r.term);
	sl_alog_write(s->w, &r);
}

static void tcp_on_dequeued(struct sl_session *s)
{
	connect_next(s, NULL);
}

const struct sl_proto_ops sl_tcp_ops = {
	.start = sl_tcp_start,
	.on_connect = sl_tcp_on_connect,
	.on_data = tcp_on_data,
	.on_eof = sl_tcp_on_eof,
	.on_drained = sl_tcp_on_drained,
	.deadline = sl_tcp_deadline,
	.on_timeout = tcp_on_timeout,
	.on_free = NULL,
	.on_dequeued = tcp_on_dequeued,
	.on_log = tcp_on_log,
};
