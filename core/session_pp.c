/*
 * PROXY protocol on sessions (core/ layer): the glue between the client
 * connection's byte queue and proto/proxy.c. In SL_SESS_PROXY_HDR, received
 * bytes wait in the client connection's queue (no transport yet on ssl
 * binds: the header comes before the TLS ClientHello) and only this file
 * reads them.
 * Once a header is complete, it is consumed, its source address replaces
 * s->peer (so X-Forwarded-For, source balancing, maxconn_per_source, the
 * logs all see the client the load balancer saw), and the session begins:
 * sl_session_begin() counts the source, puts the transport on the
 * connection (which takes the bytes that followed the header) or starts
 * the protocol (which gets them as if just received). Errors
 * count in sluice_frontend_proxy_header_failures_total and are logged with
 * the per-worker line budget; the connection is closed. The header for
 * servers (send_proxy, send_proxy_v2) is written here too, in front of the
 * first bytes of each new server connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "core/backend.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/session.h"
#include "core/session_pp.h"
#include "core/stats.h"
#include "proto/proxy.h"

const char *const sl_pp_fail_names[SL_PP_FAIL_COUNT] = {
	[SL_PP_FAIL_INVALID] = "invalid",
	[SL_PP_FAIL_TIMEOUT] = "timeout",
	[SL_PP_FAIL_CLOSED] = "closed",
};

int sl_session_pp_wait(struct sl_session *s)
{
	s->pp = calloc(1, sizeof(*s->pp));
	if (!s->pp)
		return -ENOMEM;
	sl_session_recv(s, SL_SIDE_CLI);
	sl_session_timer_kick(s);
	return 0;
}

void sl_session_pp_free(struct sl_session *s)
{
	free(s->pp);
	s->pp = NULL;
}

void sl_session_pp_failed(struct sl_session *s, enum sl_pp_fail why, const char *detail)
{
	char peer[80];

	if (s->pp_failed)
		return;
	s->pp_failed = true;
	SL_ST_INC(s->w->st->fe[s->fe_idx].pp_fail[why]);
	sl_conf_sockaddr_str(&s->peer, peer, sizeof(peer));
	sl_log_req(s->w, "frontend %s: PROXY header refused (%s) from %s after %llu ms: %s",
		   s->fe->name, sl_pp_fail_names[why], peer,
		   (unsigned long long)(s->w->now_ms - s->start_ms), detail);
}

/* Parse what is queued: > 0 header length, 0 more needed, < 0 refused. */
static int parse_queued(struct sl_session *s, struct sl_proxy_hdr *h)
{
	char tmp[SL_PROXY_HDR_MAX];
	const char *data;
	uint32_t len;
	int n;

	if (!sl_session_peek(s, SL_SIDE_CLI, &data, &len))
		return 0;
	n = sl_proxy_parse(data, len, h);
	if (n == 0 && s->c[SL_SIDE_CLI]->q.count > 1) /* split across receives */
		n = sl_proxy_parse(tmp, sl_conn_gather(s->c[SL_SIDE_CLI], tmp, sizeof(tmp)), h);
	return n;
}

/* The bytes after the header go where fresh bytes would have gone (a
 * transport put on the connection by sl_session_begin took them already). */
static void hand_on(struct sl_session *s)
{
	struct sl_conn *c = s->c[SL_SIDE_CLI];

	if (sl_session_closing(s) || s->state == SL_SESS_HANDSHAKE)
		return;
	if (c->q.count) {
		if (s->raw)
			sl_session_pump(s, SL_SIDE_SRV);
		else
			s->ops->on_data(s, SL_SIDE_CLI);
	}
	if (c->rd_eof && !sl_session_closing(s))
		s->ops->on_eof(s, SL_SIDE_CLI);
}

void sl_session_pp_input(struct sl_session *s)
{
	struct sl_conn *c = s->c[SL_SIDE_CLI];
	struct sl_proxy_hdr h;
	int n = parse_queued(s, &h);

	if (n == 0 && !c->rd_eof)
		return; /* more bytes to come, within the timeout */
	if (n <= 0) {
		sl_session_pp_failed(s, n == 0 ? SL_PP_FAIL_CLOSED : SL_PP_FAIL_INVALID,
				     n == 0 ? "the client closed the connection" :
				     n == -EPROTONOSUPPORT ? "not TCP over IPv4 or IPv6" :
				     "not a valid PROXY v1 or v2 header");
		sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		return;
	}
	for (uint32_t left = (uint32_t)n; left;) {
		const char *data;
		uint32_t len;

		sl_session_peek(s, SL_SIDE_CLI, &data, &len);
		if (len > left)
			len = left;
		sl_session_consume(s, SL_SIDE_CLI, len);
		left -= len;
	}
	if (!h.local) {
		s->peer = h.src;
		s->pp->dst = h.dst;
	}
	s->acct[SL_SIDE_CLI].last_ms = s->w->now_ms;
	sl_session_begin(s);
	hand_on(s);
}

int sl_session_pp_send(struct sl_session *s)
{
	union sl_sockaddr dst = { 0 };
	char hdr[SL_PROXY_ENC_MAX];
	int n;

	if (s->pp && s->pp->dst.sa.sa_family) {
		dst = s->pp->dst;
	} else {
		socklen_t len = sizeof(dst);

		if (getsockname(s->c[SL_SIDE_CLI]->fd, &dst.sa, &len) < 0)
			dst.sa.sa_family = 0;
	}
	n = sl_proxy_encode(s->srv->conf->send_proxy, &s->peer, &dst, hdr, sizeof(hdr));
	if (n < 0)
		return n;
	/* nothing was sent on this connection yet: the header goes first */
	return sl_conn_prepend(s->c[SL_SIDE_SRV], hdr, (uint32_t)n);
}
