/*
 * HTTP/2 streams (proto/ layer): the transport of a stream session's
 * socketless client connection, and the translation both ways.
 *   request: HEADERS (fields collected by sl_h2s_field) -> an HTTP/1.1 head
 *   in st->req (sl_h2s_build_request), DATA -> body bytes (chunked when the
 *   client gave no content-length) -> sl_h2s_deliver puts them in the
 *   session's queue, where proto/http.c parses them like a client's bytes.
 *   response: the session's output (an HTTP/1.1 response, already checked
 *   and rewritten by proto/http_rsp.c) comes through push(), is parsed with
 *   llhttp, and becomes a HEADERS frame (sl_h2s_submit) and DATA frames read
 *   from st->body by the data source of proto/h2.c.
 * A push "completes" (sl_conn_push_done, from proto/h2.c's run) only while
 * the stream's unframed body is under SL_H2_BODY_HWM: a client that does not
 * read holds back its own streams' servers and nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/session.h"
#include "proto/h2-i.h"

static int append(struct sl_obuf *o, const void *p, size_t n)
{
	if (o->off == o->len)
		o->off = o->len = 0;
	if (n > UINT32_MAX / 2 || sl_obuf_grow(o, (uint32_t)n) < 0)
		return -ENOMEM;
	memcpy(o->p + o->len, p, n);
	o->len += (uint32_t)n;
	return 0;
}

static int append_str(struct sl_obuf *o, const char *s)
{
	return append(o, s, strlen(s));
}

/* ---- the response, parsed --------------------------------------------------- */

static struct h2_stream *st_of(llhttp_t *p)
{
	return p->data;
}

static int rsp_field(llhttp_t *p, const char *at, size_t n)
{
	struct h2_stream *st = st_of(p);

	if (st->rh_state == 2 && append(&st->rh, "", 1) < 0)
		return -1;
	if (st->rh_state != 1)
		st->rh_n++;
	st->rh_state = 1;
	return append(&st->rh, at, n);
}

static int rsp_value(llhttp_t *p, const char *at, size_t n)
{
	struct h2_stream *st = st_of(p);

	if (st->rh_state == 1 && append(&st->rh, "", 1) < 0)
		return -1;
	st->rh_state = 2;
	return append(&st->rh, at, n);
}

static int rsp_headers_done(llhttp_t *p)
{
	struct h2_stream *st = st_of(p);
	int code = llhttp_get_status_code(p);

	if (st->rh_state == 2 && append(&st->rh, "", 1) < 0)
		return -1;
	st->rh_state = 0;
	if (code >= 100 && code < 200) {
		/* interim (100 Continue, 103): not forwarded */
		st->rh.off = st->rh.len = 0;
		st->rh_n = 0;
		return 0;
	}
	st->status = code;
	st->rsp_head = true;
	return st->head_req ? 1 : 0; /* a response to HEAD has no body */
}

static int rsp_body(llhttp_t *p, const char *at, size_t n)
{
	return append(&st_of(p)->body, at, n);
}

static int rsp_done(llhttp_t *p)
{
	struct h2_stream *st = st_of(p);

	if (st->rsp_head)
		st->rsp_end = true;
	return 0;
}

static const llhttp_settings_t rsp_settings = {
	.on_header_field = rsp_field,
	.on_header_value = rsp_value,
	.on_headers_complete = rsp_headers_done,
	.on_body = rsp_body,
	.on_message_complete = rsp_done,
};

static void rsp_parse(struct h2_stream *st, const char *p, uint32_t n)
{
	llhttp_errno_t e;

	if (st->rsp_end || st->rsp_fail)
		return; /* nothing may follow a response */
	e = llhttp_execute(&st->rp, p, n);
	if (e != HPE_OK && !st->rsp_end)
		st->rsp_fail = true;
}

/* ---- the transport ----------------------------------------------------------- */

static uint32_t vs_push(struct sl_conn *c)
{
	struct h2_stream *st = c->xctx;
	const char *p;
	uint32_t n, total = 0;

	while (sl_conn_next_chunk(c, &p, &n)) {
		if (!st->closed)
			rsp_parse(st, p, n);
		sl_conn_chunk_done(c, n);
		total += n;
	}
	if (total) {
		st->push_held = true;
		sl_session_defer(st->h->s);
	}
	return total;
}

/* The session's end of the response (a body delimited by the server's
 * close ends here). */
static void vs_push_end(struct sl_conn *c)
{
	struct h2_stream *st = c->xctx;

	if (!st->rsp_end && !st->rsp_fail) {
		if (llhttp_finish(&st->rp) != HPE_OK || !st->rsp_end)
			st->rsp_fail = true;
	}
	sl_session_defer(st->h->s);
}

static void vs_detach(struct sl_conn *c)
{
	struct h2_stream *st = c->xctx;

	st->vc = NULL;
	st->sess = NULL;
	st->push_held = false;
	if (!st->rsp_end)
		st->rsp_fail = true;
	sl_session_defer(st->h->s);
}

static void vs_q_empty(struct sl_conn *c)
{
	struct h2_stream *st = c->xctx;

	if (st->unacked)
		sl_session_defer(st->h->s); /* give the window back */
}

static void vs_sent(struct sl_conn *c, uint32_t n)
{
	(void)c;
	(void)n; /* taken by push already */
}

static void vs_input(struct sl_conn *c, uint16_t bid, uint32_t len)
{
	(void)len;
	sl_buf_release(c->w, bid); /* never called: no socket, no recv */
}

static void vs_input_eof(struct sl_conn *c)
{
	(void)c;
}

static int vs_prep(struct sl_conn *c, struct iovec *iov, int max)
{
	(void)c;
	(void)iov;
	(void)max;
	return 0;
}

/* A stream's client certificate is its connection's. */
static int vs_client_cert(const struct sl_conn *c, const char **dn)
{
	const struct h2_stream *st = c->xctx;
	const struct sl_conn *pc = st && st->h->s ? st->h->s->c[SL_SIDE_CLI] : NULL;

	return pc ? sl_conn_client_cert(pc, dn) : -1;
}

#define VS_OPS(nm, sec) { \
	.name = nm, .secure = sec, .input = vs_input, .input_eof = vs_input_eof, \
	.prep = vs_prep, .sent = vs_sent, .push = vs_push, .push_end = vs_push_end, \
	.detach = vs_detach, .q_empty = vs_q_empty, .client_cert = vs_client_cert }

const struct sl_xprt_ops sl_h2s_xprt_plain = VS_OPS("h2c stream", false);
const struct sl_xprt_ops sl_h2s_xprt_tls = VS_OPS("h2 stream", true);

/* ---- the request --------------------------------------------------------------- */

struct h2_stream *sl_h2s_new(struct h2_conn *h, int32_t id)
{
	struct h2_stream *st;

	if (h->nspare) {
		/* a spare: its buffers are kept, emptied */
		struct sl_obuf keep[4];

		st = h->spare[--h->nspare];
		keep[0] = st->hdr;
		keep[1] = st->req;
		keep[2] = st->rh;
		keep[3] = st->body;
		memset(st, 0, sizeof(*st));
		st->hdr = keep[0];
		st->req = keep[1];
		st->rh = keep[2];
		st->body = keep[3];
		st->hdr.len = st->hdr.off = st->req.len = st->req.off = 0;
		st->rh.len = st->rh.off = st->body.len = st->body.off = 0;
	} else if (!(st = calloc(1, sizeof(*st)))) {
		return NULL;
	}
	st->id = id;
	st->h = h;
	llhttp_init(&st->rp, HTTP_RESPONSE, &rsp_settings);
	st->rp.data = st;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	return st;
}

static void stream_release(struct h2_stream *st)
{
	free(st->hdr.p);
	free(st->req.p);
	free(st->rh.p);
	free(st->body.p);
	free(st);
}

void sl_h2s_free(struct h2_stream *st)
{
	struct h2_conn *h = st->h;

	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	/* kept unless a buffer grew (a body or a large head) */
	if (h->nspare < SL_H2_SPARE && st->body.cap <= 8192 && st->req.cap <= 8192 &&
	    st->hdr.cap <= 8192 && st->rh.cap <= 8192)
		h->spare[h->nspare++] = st;
	else
		stream_release(st);
}

void sl_h2s_spares_free(struct h2_conn *h)
{
	while (h->nspare)
		stream_release(h->spare[--h->nspare]);
}

void sl_h2s_field(struct h2_stream *st, const uint8_t *name, size_t nlen,
		  const uint8_t *value, size_t vlen)
{
	const struct sl_frontend_conf *fe = st->h->s->fe;
	uint32_t max_size = fe->max_header_size ? fe->max_header_size : 16384u;
	uint32_t max_n = fe->max_headers ? fe->max_headers : 100u;

	if (st->too_big)
		return;
	st->hbytes += (uint32_t)(nlen + vlen + 4);
	if (++st->nfields > max_n + 4 || st->hbytes > max_size) {
		st->too_big = true; /* (+4: the pseudo-header fields) */
		return;
	}
	/* the method goes to the request line from the list, whatever its
	 * length: any token is a method (RFC 9110 9.1), as over HTTP/1.1 */
	if (nlen == 7 && !memcmp(name, ":method", 7))
		st->head_req = vlen == 4 && !memcmp(value, "HEAD", 4);
	if (append(&st->hdr, name, nlen) < 0 || append(&st->hdr, "", 1) < 0 ||
	    append(&st->hdr, value, vlen) < 0 || append(&st->hdr, "", 1) < 0)
		st->too_big = true;
}

/* The next name\0value\0 pair of a collected list at *off, or false. */
static bool next_pair(const struct sl_obuf *o, uint32_t *off, const char **n, const char **v)
{
	if (*off >= o->len)
		return false;
	*n = o->p + *off;
	*v = *n + strlen(*n) + 1;
	*off = (uint32_t)(*v + strlen(*v) + 1 - o->p);
	return true;
}

static const char *pseudo(const struct sl_obuf *o, const char *name)
{
	uint32_t off = 0;
	const char *n, *v;

	while (next_pair(o, &off, &n, &v))
		if (!strcmp(n, name))
			return v;
	return NULL;
}

int sl_h2s_build_request(struct h2_stream *st, bool end_stream)
{
	struct sl_obuf *r = &st->req;
	const char *path = pseudo(&st->hdr, ":path"), *auth = pseudo(&st->hdr, ":authority");
	const char *method = pseudo(&st->hdr, ":method");
	uint32_t off = 0;
	const char *n, *v;
	bool has_len = false, cookie = false;
	int rc = 0;

	if (!path || !method || !method[0])
		return -EINVAL; /* (nghttp2 checks them: CONNECT has no :path) */
	rc |= append_str(r, method);
	rc |= append(r, " ", 1);
	rc |= append_str(r, path);
	rc |= append_str(r, " HTTP/1.1\r\n");
	if (auth) {
		rc |= append_str(r, "host: ");
		rc |= append_str(r, auth);
		rc |= append(r, "\r\n", 2);
	}
	while (next_pair(&st->hdr, &off, &n, &v)) {
		if (n[0] == ':' || (auth && !strcmp(n, "host")))
			continue;
		if (!strcmp(n, "cookie")) {
			cookie = true; /* joined below (RFC 9113 8.2.3) */
			continue;
		}
		if (!strcmp(n, "content-length"))
			has_len = true;
		rc |= append_str(r, n);
		rc |= append(r, ": ", 2);
		rc |= append_str(r, v);
		rc |= append(r, "\r\n", 2);
	}
	if (cookie) {
		bool first = true;

		off = 0;
		rc |= append_str(r, "cookie: ");
		while (next_pair(&st->hdr, &off, &n, &v)) {
			if (strcmp(n, "cookie"))
				continue;
			if (!first)
				rc |= append(r, "; ", 2);
			rc |= append_str(r, v);
			first = false;
		}
		rc |= append(r, "\r\n", 2);
	}
	st->chunked = !end_stream && !has_len;
	if (st->chunked)
		rc |= append_str(r, "transfer-encoding: chunked\r\n");
	rc |= append(r, "\r\n", 2);
	st->hdr.len = st->hdr.off = 0; /* (its memory serves the next stream) */
	return rc ? -ENOMEM : 0;
}

int sl_h2s_body(struct h2_stream *st, const uint8_t *p, size_t n)
{
	char size[24];
	int rc = 0;

	if (!n)
		return 0;
	if (st->chunked) {
		snprintf(size, sizeof(size), "%zx\r\n", n);
		rc |= append_str(&st->req, size);
	}
	rc |= append(&st->req, p, n);
	if (st->chunked)
		rc |= append(&st->req, "\r\n", 2);
	return rc ? -ENOMEM : 0;
}

int sl_h2s_end(struct h2_stream *st)
{
	if (st->req_end)
		return 0;
	st->req_end = true;
	return st->chunked ? append_str(&st->req, "0\r\n\r\n") : 0;
}

bool sl_h2s_taken(const struct h2_stream *st)
{
	return st->req.off == st->req.len && (!st->vc || !st->vc->q.count);
}

void sl_h2s_deliver(struct h2_stream *st)
{
	bool moved = false;

	while (st->vc && st->req.off < st->req.len) {
		uint32_t room, k = st->req.len - st->req.off;
		char *p = sl_conn_plain_room(st->vc, &room);

		if (!p)
			break; /* no buffer left: again on the next run */
		if (k > room)
			k = room;
		memcpy(p, st->req.p + st->req.off, k);
		sl_conn_plain_commit(st->vc, k);
		if (st->vc->cb && st->vc->cb->on_recv_bytes)
			st->vc->cb->on_recv_bytes(st->vc->owner, st->vc, k);
		st->req.off += k;
		moved = true;
	}
	if (st->req.off == st->req.len)
		st->req.off = st->req.len = 0;
	if (moved && st->vc)
		sl_conn_notify_data(st->vc);
	if (st->vc && st->req_end && !st->req.len && !st->eof_told) {
		st->eof_told = true;
		st->vc->rd_eof = true;
		sl_conn_notify_eof(st->vc);
	}
	if (st->vc && st->reset_rx) {
		st->reset_rx = false;
		sl_conn_notify_error(st->vc, -ECONNRESET);
	}
}

/* ---- the response head ---------------------------------------------------------- */

static bool hop_by_hop(const char *n)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "transfer-encoding", "upgrade", "te", NULL };

	for (int i = 0; names[i]; i++)
		if (!strcasecmp(n, names[i]))
			return true;
	return false;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct h2_stream *st = src->ptr;
	uint32_t k = st->body.len - st->body.off;

	(void)ng;
	(void)id;
	(void)user;
	if (k > len)
		k = (uint32_t)len;
	if (k) {
		memcpy(buf, st->body.p + st->body.off, k);
		st->body.off += k;
		if (st->body.off == st->body.len)
			st->body.off = st->body.len = 0;
		sl_session_defer(st->h->s); /* room: the session may send more */
	}
	if (st->body.len == st->body.off) {
		if (st->rsp_end)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		else if (st->rsp_fail)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* reset: cut short */
		else if (!k) {
			st->deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return k;
}

int sl_h2s_submit(struct h2_stream *st)
{
	nghttp2_nv *nv = calloc(st->rh_n + 1, sizeof(*nv));
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = read_body };
	char status[8];
	uint32_t off = 0, n = 0;
	const char *name, *value;
	int rc;

	if (!nv)
		return NGHTTP2_ERR_NOMEM;
	snprintf(status, sizeof(status), "%03d", st->status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
				NGHTTP2_NV_FLAG_NONE };
	while (next_pair(&st->rh, &off, &name, &value) && n <= st->rh_n) {
		if (hop_by_hop(name))
			continue;
		for (char *q = (char *)name; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		nv[n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, strlen(name),
					strlen(value), NGHTTP2_NV_FLAG_NONE };
	}
	rc = nghttp2_submit_response(st->h->ng, st->id, nv, n,
				     st->rsp_end && st->body.len == st->body.off ? NULL : &prd);
	free(nv);
	st->rh.len = st->rh.off = 0;
	st->rsp_submitted = rc == 0;
	return rc;
}
