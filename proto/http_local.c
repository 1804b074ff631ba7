/*
 * Responses the proxy makes itself in HTTP mode (proto/ layer): the built-in
 * stats service (global `stats`: an http frontend of its own whose requests
 * never reach a backend) serving /metrics, /stats.json and /stats from
 * core/stats.c's counters. The page goes through the client's out buffer
 * like any response, inside proto/http.c's state machine, so keep-alive,
 * pipelining and the access log work as for a proxied request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"
#include "core/stats.h"
#include "proto/http-i.h"

/* The built-in stats service: /metrics, /stats.json, /stats. The response
 * is built here and sent like any other; no server is involved. */
int sl_http_serve_stats(struct sl_session *s, const struct sl_http_parser *r)
{
	struct http_sess *hs = hs_of(s);
	static const struct {
		const char *path, *type;
		enum sl_stats_format fmt;
	} pages[] = {
		{ "/metrics", "text/plain; version=0.0.4", SL_STATS_PROM },
		{ "/stats.json", "application/json", SL_STATS_JSON },
		{ "/stats", "text/html; charset=utf-8", SL_STATS_HTML },
		{ "/", "text/html; charset=utf-8", SL_STATS_HTML },
	};
	const char *path;
	uint32_t plen;
	char *body = NULL, *p;
	size_t blen = 0;
	int n;

	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		sl_http_reply_error(s, 405, "stats: only GET and HEAD");
		return -1;
	}
	sl_http_get_path(r, &path, &plen);
	if (memchr(path, '?', plen))
		plen = (uint32_t)((const char *)memchr(path, '?', plen) - path);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (plen != strlen(pages[i].path) || memcmp(path, pages[i].path, plen))
			continue;
		if (sl_stats_render(s->w->px, pages[i].fmt, &body, &blen) < 0) {
			sl_http_reply_error(s, 500, "stats: out of memory");
			return -1;
		}
		p = sl_session_out_reserve(s, SL_SIDE_CLI, (uint32_t)blen + 256);
		if (!p) {
			free(body);
			sl_http_reply_error(s, 500, "stats: out of memory");
			return -1;
		}
		n = snprintf(p, 256, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			     "Cache-Control: no-cache\r\n%s\r\n", pages[i].type, blen,
			     hs->cli_keep ? "" : "Connection: close\r\n");
		if (r->method == HTTP_GET)
			memcpy(p + n, body, blen);
		sl_session_out_commit(s, SL_SIDE_CLI, (uint32_t)n + (r->method == HTTP_GET ?
								     (uint32_t)blen : 0));
		free(body);
		sl_session_set_state(s, SL_SESS_FORWARD); /* answered by us */
		sl_stats_status(s, 200, false);
		hs->status = 200;
		hs->t_rsp = s->w->now_ms;
		hs->rsp_started = true;
		hs->close_after = !hs->cli_keep || !r->msg_done;
		hs->req_st = r->msg_done ? REQ_DONE : REQ_ERROR;
		hs->rsp_st = RSP_DONE;
		sl_session_pump(s, SL_SIDE_CLI);
		return -1; /* nothing to forward: the response is queued */
	}
	sl_http_reply_error(s, 404, "stats: no such page");
	return -1;
}
