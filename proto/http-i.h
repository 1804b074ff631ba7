/*
 * HTTP mode, private to proto/http*.c (proto/ layer): the state of an http
 * session and the functions its files share. proto/http.c runs the
 * per-request state machine, proto/http_local.c answers requests the proxy
 * serves itself (the stats service) and proto/http_log.c writes the access
 * log of each request. Nothing outside proto/http*.c includes this file:
 * the rest of the process sees only proto/http.h.
 */
#ifndef SL_PROTO_HTTP_I_H
#define SL_PROTO_HTTP_I_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/pool.h"
#include "core/session-t.h"
#include "proto/http_msg.h"

#define SL_HTTP_REQID_MAX 128 /* longest incoming request id kept */

/* REQ_DRAIN: the response came before the request body ended and is
 * complete; the rest of the body is read and discarded (SL_HTTP_DRAIN_MAX
 * bytes at most) so the connection can serve the next request. */
enum { REQ_IDLE, REQ_HEAD, REQ_BODY, REQ_DRAIN, REQ_DONE, REQ_ERROR };
enum { RSP_NONE, RSP_HEAD, RSP_BODY, RSP_DONE };

/* What only a request in progress needs: allocated when its first byte
 * arrives, freed when the connection is idle again, so an idle keep-alive
 * client holds none of it (about 730 bytes). */
struct http_msgs {
	struct sl_http_parser req, rsp;
	uint32_t line_len;
	char line[256];     /* request line, for the access log */
	uint32_t rid_len;   /* request_id: the request's id (0: none yet) */
	char rid[SL_HTTP_REQID_MAX + 1];
};

struct http_sess {
	struct http_msgs *m; /* NULL while idle */
	uint8_t req_st, rsp_st;
	bool cli_keep;      /* the client connection may serve another request */
	bool close_after;   /* close the client once this response is delivered */
	bool cli_done;      /* the client asked for the close: it sends no more */
	bool rsp_started;   /* a final response head went to the client */
	bool rsp_relay;     /* the response body is relayed without parsing */
	bool lingering;     /* shut down toward the client, waiting for its FIN */
	bool upgrade_req;
	bool cli_eof_done, srv_eof_done;
	bool keep_srv;      /* http-keep-alive backend: pool server connections */
	bool srv_reused;    /* the server connection came from the pool */
	bool req_bodiless;  /* the request is its head alone */
	bool rsp_early;     /* the final response head came before the request
			     * was fully sent: the server connection is never
			     * pooled (what it makes of the rest is unknown) */
	bool rsp_delivered; /* the response of the current request went out */
	bool got_100;       /* a 100 Continue was relayed for this request */
	bool h2_checked;    /* the first bytes are not the HTTP/2 preface */
	uint64_t drained;   /* request body bytes discarded (REQ_DRAIN) */
	struct sl_pool_meta srv_meta;
	char *retry_head;   /* copy of a bodiless idempotent request, for one retry */
	uint32_t retry_len;
	/* access log of the current request */
	bool log_pending;   /* a request head started and is not logged yet */
	int status;         /* status sent to the client, 0 if none */
	char term[3];       /* set by an error response, else computed */
	uint64_t wall_ms, t_head, t_rsp; /* request start (epoch ms), head, response head */
	uint64_t us_head, us_rsp;        /* the same two in microseconds (histograms) */
	uint8_t counted;    /* the request is in its frontend's (1) and backend's (2)
			     * request counters: its latencies go to theirs */
	uint64_t in0, out0; /* client byte counts at the request start */
	uint32_t requests;
	uint64_t req_start_ms;
	uint64_t idle_since_ms;
	char client_ip[INET6_ADDRSTRLEN];
};

static inline struct http_sess *hs_of(const struct sl_session *s)
{
	return s->proto;
}

/* proto/http.c */

/* Answer the request with an error page (status, plain text) and close the
 * client after it; the server connection, if any, is dropped. When a response
 * already started, the client is closed at once instead (truncated). Nothing
 * more is forwarded either way; why goes to the process log. */
void sl_http_reply_error(struct sl_session *s, int status, const char *why);
/* Path of the request target of r: *path borrows r's buffer (set to "" with
 * *len 0 when the request line has none). */
void sl_http_get_path(const struct sl_http_parser *r, const char **path, uint32_t *len);

/* proto/http.c, for proto/http_rsp.c */

#define SL_HTTP_STAGE_MAX (64u * 1024) /* bytes copied ahead of the socket per direction */
#define SL_HTTP_RELAY_MIN 4096u        /* response bodies longer than this are relayed */
/* Room for want more copied body bytes toward `to` (at most STAGE_MAX
 * staged in all), and copying n <= that many there. */
uint32_t sl_http_stage_room(struct sl_session *s, int to, uint32_t want);
void sl_http_stage(struct sl_session *s, int to, const char *data, uint32_t n);
/* Pick a server (not exclude) and connect, or queue, or answer 503. */
void sl_http_connect_next(struct sl_session *s, const struct sl_server *exclude);
/* Read what the client sent, as far as the request state allows. */
void sl_http_feed_request(struct sl_session *s);

/* proto/http_rsp.c */

/* Read what the server sent: the head, then the body, then the end. */
void sl_http_feed_response(struct sl_session *s);
/* sl_proto_ops.on_error. */
int sl_http_on_error(struct sl_session *s, int side, int res);

/* proto/http_reqid.c */

/* Whether an incoming request id may be kept: 1 to SL_HTTP_REQID_MAX
 * characters of A-Z a-z 0-9 . _ : - */
bool sl_http_reqid_sane(const char *v, uint32_t len);
/* A new id: 32 lowercase hex characters (128 random bits) and a NUL.
 * Returns 0 or -EIO when the kernel gave no randomness. */
int sl_http_reqid_new(char out[33]);
/* The id of request r (head parsed, fe->request_id set): its own if it has
 * exactly one sane one, else a new one, in m->rid. */
void sl_http_reqid_take(const struct sl_frontend_conf *fe, struct http_msgs *m,
			const struct sl_http_parser *r);
/* Give m an id if it has none yet (an error before the head was complete). */
void sl_http_reqid_ensure(struct http_msgs *m);

/* proto/http_local.c */

/* Answer a request head of a stats frontend (hs->cli_keep already set) with
 * a page or an error; borrows r. Returns -1: nothing is ever forwarded. */
int sl_http_serve_stats(struct sl_session *s, const struct sl_http_parser *r);

/* proto/http_log.c */

/* Write the access log line of the current request, once (no-op unless
 * hs->log_pending); phase '-' means delivered in full. */
void sl_http_log_request(struct sl_session *s, char phase);
/* Copy the request line of buf (borrowed) into hs->m for the log. */
void sl_http_keep_line(struct http_sess *hs, const char *buf, uint32_t len);
/* Set the termination state of the request, unless one is set already. */
void sl_http_set_term(struct http_sess *hs, char who, char phase);
/* sl_proto_ops.on_log: the session ends, maybe under a request. */
void sl_http_on_log(struct sl_session *s);

#endif
