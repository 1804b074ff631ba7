/*
 * Access log (core/ layer). Lines are formatted on the stack and appended to
 * the worker's current buffer; sl_alog_flush() hands a buffer to the kernel
 * (IORING_OP_WRITE at the file position, so O_APPEND files and pipes work)
 * and switches to the other. Rule 2 of DESIGN.md holds: a buffer in flight
 * is not touched until its completion.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alog.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "ring/udata.h"

int sl_alog_init(struct sl_worker *w)
{
	w->alog.fd = sl_log_target_fd();
	if (w->alog.fd < 0)
		return 0;
	w->alog.buf[0] = malloc(SL_ALOG_BUF);
	w->alog.buf[1] = malloc(SL_ALOG_BUF);
	return w->alog.buf[0] && w->alog.buf[1] ? 0 : -1;
}

void sl_alog_free(struct sl_worker *w)
{
	free(w->alog.buf[0]);
	free(w->alog.buf[1]);
	w->alog.buf[0] = w->alog.buf[1] = NULL;
}

static void addr_str(const union sl_sockaddr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "-";
	unsigned port = 0;

	if (a && a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in4.sin_addr, ip, sizeof(ip));
		port = ntohs(a->in4.sin_port);
		snprintf(buf, len, "%s:%u", ip, port);
	} else if (a && a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof(ip));
		port = ntohs(a->in6.sin6_port);
		snprintf(buf, len, "[%s]:%u", ip, port);
	} else {
		snprintf(buf, len, "-");
	}
}

/* Copy a request line safely: quotes, backslashes, control and non-ASCII
 * bytes escaped, as \xHH in text lines and \", \\, \u00HH in JSON. */
static void safe_copy(char *dst, size_t cap, const char *src, uint32_t len, bool json)
{
	size_t n = 0;

	for (uint32_t i = 0; src && i < len && n + 7 < cap; i++) {
		unsigned char c = (unsigned char)src[i];

		if (json && (c == '"' || c == '\\'))
			n += (size_t)snprintf(dst + n, cap - n, "\\%c", c);
		else if (json && (c < 0x20 || c >= 0x7f))
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
		else
			dst[n++] = (char)c;
	}
	dst[n] = 0;
}

static int format(const struct sl_worker *w, const struct sl_alog_rec *r, char *line, size_t cap)
{
	char t[40], cli[64], req[800];
	time_t sec = (time_t)(r->wall_ms / 1000);
	struct tm tm;
	int n;

	gmtime_r(&sec, &tm);
	n = (int)strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - (size_t)n, ".%03dZ", (int)(r->wall_ms % 1000));
	addr_str(r->client, cli, sizeof(cli));
	safe_copy(req, sizeof(req), r->request, r->request_len, w->px->conf->log_json);
	/* a request id is a token (proto/http_reqid.c): nothing to escape */
	if (w->px->conf->log_json)
		return snprintf(line, cap, "{\"time\":\"%s\",\"client\":\"%s\",\"frontend\":\"%s\","
				"\"backend\":\"%s\",\"server\":\"%s\",\"th\":%lld,\"tw\":%lld,"
				"\"tc\":%lld,\"tr\":%lld,\"tt\":%lld,\"status\":%d,\"bytes_in\":%llu,"
				"\"bytes_out\":%llu,\"term\":\"%s\",\"request\":\"%s\"%s%s%s}\n", t,
				cli, r->frontend, r->backend, r->server, (long long)r->th,
				(long long)r->tw, (long long)r->tc, (long long)r->tr, (long long)r->tt,
				r->status, (unsigned long long)r->bytes_in,
				(unsigned long long)r->bytes_out, r->term, req,
				r->request_id ? ",\"request_id\":\"" : "",
				r->request_id ? r->request_id : "", r->request_id ? "\"" : "");
	return snprintf(line, cap, "%s %s %s %s/%s %lld/%lld/%lld/%lld/%lld %d %llu %llu %s "
			"\"%s\"%s%s\n", t, cli, r->frontend, r->backend, r->server, (long long)r->th,
			(long long)r->tw, (long long)r->tc, (long long)r->tr, (long long)r->tt,
			r->status, (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
			r->term, req, r->request_id ? " " : "", r->request_id ? r->request_id : "");
}

void sl_alog_write(struct sl_worker *w, const struct sl_alog_rec *r)
{
	struct sl_alog *a = &w->alog;
	char line[2048];
	int n;

	if (a->fd < 0)
		return;
	n = format(w, r, line, sizeof(line));
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1, line[n - 1] = '\n';
	if (a->len[a->cur] + (uint32_t)n > SL_ALOG_BUF) {
		SL_ST_INC(w->st->log_dropped); /* both buffers busy: never stall traffic */
		return;
	}
	memcpy(a->buf[a->cur] + a->len[a->cur], line, (size_t)n);
	a->len[a->cur] += (uint32_t)n;
	SL_ST_INC(w->st->log_lines);
}

void sl_alog_flush(struct sl_worker *w)
{
	struct sl_alog *a = &w->alog;
	struct io_uring_sqe *sqe;

	if (a->fd < 0 || a->busy || !a->len[a->cur])
		return;
	sqe = sl_ring_sqe(&w->ring);
	io_uring_prep_write(sqe, a->fd, a->buf[a->cur], a->len[a->cur], (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, sl_ud_make(0, 0, SL_OP_ALOG, 0));
	a->busy = true;
	a->cur ^= 1;
	a->len[a->cur] = 0;
}

void sl_alog_on_cqe(struct sl_worker *w, int res)
{
	w->alog.busy = false;
	if (res < 0)
		SL_ST_INC(w->st->log_dropped);
}

bool sl_alog_idle(const struct sl_worker *w)
{
	return !w->alog.busy && !w->alog.len[w->alog.cur];
}

void sl_alog_term(const struct sl_session *s, char phase, char term[3])
{
	char who;

	switch (s->cause) {
	case SL_CLOSE_NORMAL: who = '-'; phase = '-'; break;
	case SL_CLOSE_CLIENT_ERR: who = 'C'; break;
	case SL_CLOSE_SERVER_ERR: who = 'S'; break;
	case SL_CLOSE_CONNECT_FAIL:
	case SL_CLOSE_NO_SERVER: who = 'S'; phase = 'C'; break;
	case SL_CLOSE_TIMEOUT:
		switch (s->to_kind) {
		case SL_TO_CLIENT: case SL_TO_HTTP_REQUEST: case SL_TO_HTTP_KEEP_ALIVE:
		case SL_TO_TUNNEL: /* both sides idle: as HAProxy, the client's */
			who = 'c'; break;
		case SL_TO_CLIENT_FIN: who = 'c'; phase = 'F'; break;
		case SL_TO_SERVER_FIN: who = 's'; phase = 'F'; break;
		case SL_TO_QUEUE: who = 's'; phase = 'Q'; break;
		default: who = 's'; break;
		}
		break;
	case SL_CLOSE_STOP: who = 'K'; break;
	case SL_CLOSE_LIMIT: who = 'P'; phase = 'R'; break;
	default: who = 'R'; break;
	}
	term[0] = who;
	term[1] = phase;
	term[2] = 0;
}
