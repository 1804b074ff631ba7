/*
 * libFuzzer target: what an HTTP/2 client sends, turned into HTTP/1.1
 * requests (proto/h2_stream.c: sl_h2s_new, sl_h2s_field,
 * sl_h2s_build_request, sl_h2s_body, sl_h2s_end, sl_h2s_free). Input byte 0
 * seeds the split points (0: fed whole); the rest follows the client
 * preface and goes to an nghttp2 server session set up like proto/h2.c's
 * h2_start (same options, same SETTINGS, same connection window), in
 * pieces. The callbacks below do what proto/h2.c's do on the request side:
 * a request's fields are collected by sl_h2s_field, its head is built when
 * HEADERS ends (431 answered when too big), DATA goes to sl_h2s_body while
 * the stream has a request, END_STREAM (DATA or trailers) to sl_h2s_end;
 * windows are given back as if the stream session took every byte, and
 * what nghttp2 has to send is taken and dropped. Nothing here runs a
 * session: the stream sessions and the core functions h2_stream.c refers to
 * are fakes that abort if reached. Properties, for every request built:
 *  - its head re-parses with sluice's own request parser, at the
 *    frontend's default limits, whole and without error, to the same method
 *    and the same target (:path); or the parser refuses it, and the stream
 *    session answers, with 400 for something the client sent that HTTP/1.1
 *    refuses on its own, or with 431 (its HTTP/1.1 form is over the limits);
 *  - exactly one framing: Content-Length when the client gave one,
 *    chunked when it gave none and the request did not end with its
 *    HEADERS, none when it did;
 *  - no header line holds CR, LF or NUL (CRLF ends lines, nothing else);
 *  - the body the parser yields (llhttp's body callback inside it, chunked
 *    decoded) is exactly the DATA payload received, and the message ends
 *    exactly at the end of the bytes when the client ended the stream (and
 *    not before, unless its Content-Length is complete);
 *  - a head is refused only when nghttp2 let through no :path or no
 *    :method (CONNECT), never for a long method.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "conf/conf-t.h"
#include "core/conn.h"
#include "core/session.h"
#include "proto/h2-i.h"
#include "proto/http.h"
#include "proto/http_msg.h"
#include "ring/ring.h"
#include "tests/fuzz/fuzz_util.h"

/* ---- fakes of what proto/h2_stream.c links against -------------------------- */

/* Growth to the exact size asked (the product doubles): anything written
 * past what was asked for is then an ASan report. */
int sl_obuf_grow(struct sl_obuf *o, uint32_t n)
{
	char *p;

	if (o->len + n <= o->cap)
		return 0;
	p = realloc(o->p, o->len + n);
	if (!p)
		return -ENOMEM;
	o->p = p;
	o->cap = o->len + n;
	return 0;
}

#define NOT_HERE(what) \
	do { \
		fprintf(stderr, "fuzz_h2: %s reached without a session\n", what); \
		abort(); \
	} while (0)

void sl_session_defer(struct sl_session *s)
{
	(void)s;
	NOT_HERE("sl_session_defer");
}

bool sl_conn_next_chunk(struct sl_conn *c, const char **p, uint32_t *n)
{
	(void)c, (void)p, (void)n;
	NOT_HERE("sl_conn_next_chunk");
}

void sl_conn_chunk_done(struct sl_conn *c, uint32_t n)
{
	(void)c, (void)n;
	NOT_HERE("sl_conn_chunk_done");
}

char *sl_conn_plain_room(struct sl_conn *c, uint32_t *room)
{
	(void)c, (void)room;
	NOT_HERE("sl_conn_plain_room");
}

void sl_conn_plain_commit(struct sl_conn *c, uint32_t n)
{
	(void)c, (void)n;
	NOT_HERE("sl_conn_plain_commit");
}

void sl_conn_notify_data(struct sl_conn *c)
{
	(void)c;
	NOT_HERE("sl_conn_notify_data");
}

void sl_conn_notify_eof(struct sl_conn *c)
{
	(void)c;
	NOT_HERE("sl_conn_notify_eof");
}

void sl_conn_notify_error(struct sl_conn *c, int res)
{
	(void)c, (void)res;
	NOT_HERE("sl_conn_notify_error");
}

int sl_conn_client_cert(const struct sl_conn *c, const char **dn)
{
	(void)c, (void)dn;
	NOT_HERE("sl_conn_client_cert");
}

void sl_ring_slice_put(struct sl_ring *r, uint16_t id)
{
	(void)r, (void)id;
	NOT_HERE("sl_ring_slice_put");
}

/* ---- the connection --------------------------------------------------------- */

/* an http frontend at its default limits */
static const struct sl_frontend_conf fe = { .name = "fuzz", .mode = SL_FE_MODE_HTTP };

/* What the target knows of a stream besides proto/h2_stream.c's state: the
 * request as nghttp2 gave it, and what became of it. */
struct rec {
	struct h2_stream *st;
	struct rec *next;
	char *method, *path;      /* :method and :path as received (NUL-free) */
	uint32_t method_len, path_len;
	int ncl;                  /* content-length fields */
	uint64_t cl;
	bool built;               /* the head was built: a stream session has it */
	bool h1_refused;          /* ... and answers 400: see client_refusable */
	bool end_hdrs;            /* END_STREAM on the request's HEADERS */
	bool closed;              /* nghttp2 closed the stream */
	uint32_t head_len;        /* bytes of st->req that are the head */
	struct sl_obuf data;      /* DATA payload given to sl_h2s_body */
	struct sl_obuf fields;    /* every field: u32 nlen, u32 vlen, name, value */
};

struct fz_conn {
	struct h2_conn h;
	struct sl_session s;
	struct rec *recs;
};

static void keep(char **dst, uint32_t *dlen, const uint8_t *v, size_t n)
{
	free(*dst);
	*dst = malloc(n + 1);
	FZ_CHECK(*dst, "out of memory");
	memcpy(*dst, v, n);
	(*dst)[n] = 0;
	*dlen = (uint32_t)n;
}

static void obuf_add(struct sl_obuf *o, const uint8_t *p, size_t n)
{
	FZ_CHECK(sl_obuf_grow(o, (uint32_t)n) == 0, "out of memory");
	memcpy(o->p + o->len, p, n);
	o->len += (uint32_t)n;
}

/* ---- the properties ------------------------------------------------------------ */

/* llhttp inside the re-parse calls this with decoded body bytes. */
static struct sl_obuf *body_sink;

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
	(void)ll;
	obuf_add(body_sink, (const uint8_t *)at, n);
	return 0;
}

/* Every CR is followed by LF, every LF preceded by CR, no NUL: CRLF ends
 * lines and nothing else can split one. */
static void clean_lines(const char *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		FZ_CHECK(p[i] != 0, "NUL at %u of the head", i);
		if (p[i] == '\r')
			FZ_CHECK(i + 1 < n && p[i + 1] == '\n', "bare CR at %u of the head", i);
		if (p[i] == '\n')
			FZ_CHECK(i > 0 && p[i - 1] == '\r', "bare LF at %u of the head", i);
	}
}

struct span {
	const char *p;
	uint32_t n;
};
#define LIT(s) ((struct span){ s, sizeof(s) - 1 })

/* Does sluice's parser refuse this head (given in pieces)? */
static bool refused(const struct span *part, int n)
{
	struct sl_http_parser q;
	struct sl_obuf o = { 0 };
	uint32_t used;
	bool bad;

	for (int i = 0; i < n; i++)
		obuf_add(&o, (const uint8_t *)part[i].p, part[i].n);
	sl_http_parser_init(&q, false, SL_HTTP_MAX_HEADER_SIZE, SL_HTTP_MAX_HEADERS);
	bad = sl_http_feed_head(&q, o.p, o.len, &used) == SL_HTTP_ERROR;
	sl_http_parser_free(&q);
	free(o.p);
	return bad;
}

/* A head that does not re-parse is fine only when what the client sent
 * would be refused (400) in HTTP/1.1 too: its method and :path in a request
 * line, or one of its fields alone in a head (GET /, host: x, the field).
 * nghttp2 lets through what HTTP/1.1 does not (obs-text or '#' in :path,
 * for one): the stream session answers 400 and nothing reaches a server. */
static bool client_refusable(const struct rec *r)
{
	const char *p = r->fields.p, *end = p + r->fields.len;

	if (r->method && r->path &&
	    refused((const struct span[]){ { r->method, r->method_len }, LIT(" "),
					   { r->path, r->path_len },
					   LIT(" HTTP/1.1\r\nhost: x\r\n\r\n") }, 4))
		return true;
	while (p < end) {
		uint32_t nl, vl;
		bool host;

		memcpy(&nl, p, 4);
		memcpy(&vl, p + 4, 4);
		p += 8;
		host = (nl == 10 && !memcmp(p, ":authority", 10)) ||
		       (nl == 4 && !memcmp(p, "host", 4));
		if (host && refused((const struct span[]){ LIT("GET / HTTP/1.1\r\nhost: "),
							   { p + nl, vl }, LIT("\r\n\r\n") }, 3))
			return true;
		if (!host && nl && p[0] != ':' &&
		    refused((const struct span[]){ LIT("GET / HTTP/1.1\r\nhost: x\r\n"), { p, nl },
						   LIT(": "), { p + nl, vl }, LIT("\r\n\r\n") }, 5))
			return true;
		p += nl + vl;
	}
	return false;
}

/* Parse the head r's stream built (and, with body, what followed it). */
static enum sl_http_res reparse(const struct rec *r, struct sl_http_parser *q, bool body,
				struct sl_obuf *got, uint32_t *bused)
{
	const struct h2_stream *st = r->st;
	static llhttp_settings_t with_body;
	enum sl_http_res res;
	uint32_t used;

	sl_http_parser_init(q, false, SL_HTTP_MAX_HEADER_SIZE, SL_HTTP_MAX_HEADERS);
	res = sl_http_feed_head(q, st->req.p, r->head_len, &used);
	/* 400: see client_refusable. 431: the stream session answers it, as
	 * the h2 check would have; sl_h2s_field counts the client's list, the
	 * parser its HTTP/1.1 form (host for :authority, plus the
	 * transfer-encoding line of a body without length), which can be over
	 * the limits when the list is not (README, HTTP/2) */
	if (res == SL_HTTP_ERROR &&
	    ((q->err_status == 400 && client_refusable(r)) || q->err_status == 431))
		return res;
	FZ_CHECK(res == SL_HTTP_HEAD_DONE, "the built head does not re-parse: %d %d %s\n%.*s", res,
		 q->err_status, q->err_reason ? q->err_reason : "", (int)r->head_len, st->req.p);
	FZ_CHECK(used == r->head_len, "head of %u bytes, re-parsed %u", r->head_len, used);
	if (!body)
		return res;
	/* the parser's own settings, plus a body callback */
	with_body = *(const llhttp_settings_t *)q->ll.settings;
	with_body.on_body = on_body;
	q->ll.settings = &with_body;
	body_sink = got;
	return fz_feed_body(q, st->req.p + r->head_len, st->req.len - r->head_len, 0, bused);
}

static void check_head(struct rec *r)
{
	const struct h2_stream *st = r->st;
	struct sl_http_parser q;
	const char *t;
	uint32_t tl;

	clean_lines(st->req.p, r->head_len);
	if (reparse(r, &q, false, NULL, NULL) == SL_HTTP_ERROR) {
		r->h1_refused = true;
		sl_http_parser_free(&q);
		return;
	}
	FZ_CHECK(q.method_len == r->method_len && !memcmp(q.buf, r->method, r->method_len),
		 "method '%s' became '%.*s'", r->method, (int)q.method_len, q.buf);
	sl_http_target(&q, &t, &tl);
	FZ_CHECK(tl == r->path_len && !memcmp(t, r->path, tl), ":path '%s' became '%.*s'",
		 r->path, (int)tl, t);
	FZ_CHECK(!(q.has_cl && q.has_te), "two framings");
	if (r->ncl) {
		FZ_CHECK(q.has_cl && q.content_length == r->cl && fz_count(&q, "content-length") == 1,
			 "content-length %llu sent, %d forwarded", (unsigned long long)r->cl,
			 fz_count(&q, "content-length"));
	} else if (!r->end_hdrs) {
		FZ_CHECK(q.chunked && fz_count(&q, "transfer-encoding") == 1 && !q.has_cl,
			 "a body without content-length is not chunked");
	} else {
		FZ_CHECK(!q.has_cl && !q.has_te, "a request ended with its HEADERS has a framing");
	}
	sl_http_parser_free(&q);
}

/* At its close (or the end of the input): what the stream session got
 * yields exactly the DATA received. */
static void check_body(const struct rec *r)
{
	struct sl_http_parser q;
	struct sl_obuf got = { 0 };
	enum sl_http_res res;
	uint32_t bused = 0, blen = r->st->req.len - r->head_len;

	res = reparse(r, &q, true, &got, &bused);
	if (r->st->req_end) {
		FZ_CHECK(res == SL_HTTP_MSG_DONE && bused == blen,
			 "an ended request: %d after %u of %u body bytes (%s)", res, bused, blen,
			 q.err_reason ? q.err_reason : "");
		FZ_CHECK(!r->ncl || r->data.len == r->cl, "content-length %llu, %u DATA bytes",
			 (unsigned long long)r->cl, r->data.len);
	} else {
		FZ_CHECK(res == SL_HTTP_MORE ||
			 (res == SL_HTTP_MSG_DONE && r->ncl && r->data.len == r->cl),
			 "an unended request: %d after %u of %u body bytes (%s)", res, bused, blen,
			 q.err_reason ? q.err_reason : "");
		FZ_CHECK(bused == blen, "%u of %u body bytes taken", bused, blen);
	}
	FZ_CHECK(got.len == r->data.len && (!got.len || !memcmp(got.p, r->data.p, got.len)),
		 "%u DATA bytes received, %u yielded", r->data.len, got.len);
	free(got.p);
	sl_http_parser_free(&q);
}

/* ---- the callbacks, as proto/h2.c's on the request side --------------------------- */

static struct rec *rec_of(struct fz_conn *fc, int32_t id)
{
	(void)fc;
	return id ? nghttp2_session_get_stream_user_data(fc->h.ng, id) : NULL;
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct fz_conn *fc = user;
	struct rec *r;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	r = calloc(1, sizeof(*r));
	FZ_CHECK(r, "out of memory");
	r->st = sl_h2s_new(&fc->h, f->hd.stream_id);
	FZ_CHECK(r->st, "out of memory");
	r->next = fc->recs;
	fc->recs = r;
	nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, r);
	return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct rec *r;

	(void)ng;
	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	r = rec_of(user, f->hd.stream_id);
	if (!r)
		return 0;
	/* what the properties compare with */
	if (nlen == 7 && !memcmp(name, ":method", 7))
		keep(&r->method, &r->method_len, value, vlen);
	else if (nlen == 5 && !memcmp(name, ":path", 5))
		keep(&r->path, &r->path_len, value, vlen);
	else if (nlen == 14 && !memcmp(name, "content-length", 14)) {
		r->ncl++;
		r->cl = strtoull((const char *)value, NULL, 10); /* digits: nghttp2 checked */
	}
	obuf_add(&r->fields, (const uint8_t *)&(uint32_t){ (uint32_t)nlen }, 4);
	obuf_add(&r->fields, (const uint8_t *)&(uint32_t){ (uint32_t)vlen }, 4);
	obuf_add(&r->fields, name, nlen);
	obuf_add(&r->fields, value, vlen);
	sl_h2s_field(r->st, name, nlen, value, vlen);
	return 0;
}

static void answer_431(struct fz_conn *fc, struct rec *r)
{
	nghttp2_nv nv[] = {
		{ (uint8_t *)":status", (uint8_t *)"431", 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE },
	};

	nghttp2_submit_response(fc->h.ng, r->st->id, nv, 2, NULL);
	r->st->rsp_submitted = r->st->rsp_end = true;
}

static void refuse(struct fz_conn *fc, struct rec *r, uint32_t code)
{
	nghttp2_submit_rst_stream(fc->h.ng, NGHTTP2_FLAG_NONE, r->st->id, code);
	r->st->rst_sent = true;
}

static void open_stream(struct fz_conn *fc, struct rec *r, bool end)
{
	int rc;

	r->end_hdrs = end;
	if (r->st->too_big) {
		answer_431(fc, r);
		return;
	}
	rc = sl_h2s_build_request(r->st, end);
	FZ_CHECK(rc == 0 || (rc == -EINVAL && (!r->path || !r->method)),
		 "sl_h2s_build_request: %d (method '%s', path '%s')", rc,
		 r->method ? r->method : "", r->path ? r->path : "");
	if (rc < 0) {
		refuse(fc, r, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	r->head_len = r->st->req.len;
	r->built = true;
	check_head(r);
	if (end) {
		FZ_CHECK(sl_h2s_end(r->st) == 0, "sl_h2s_end failed");
		FZ_CHECK(r->st->req.len == r->head_len, "a request ended with its HEADERS has a body");
	}
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct fz_conn *fc = user;
	struct rec *r = rec_of(fc, f->hd.stream_id);
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	(void)ng;
	if (f->hd.type == NGHTTP2_HEADERS && r && f->headers.cat == NGHTTP2_HCAT_REQUEST)
		open_stream(fc, r, end);
	else if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && r && end)
		FZ_CHECK(sl_h2s_end(r->st) == 0, "sl_h2s_end failed");
	return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p,
		   size_t n, void *user)
{
	struct rec *r = rec_of(user, id);

	(void)flags;
	if (!r || !r->built || r->st->req_end) {
		nghttp2_session_consume(ng, id, n);
		return 0;
	}
	FZ_CHECK(sl_h2s_body(r->st, p, n) == 0, "sl_h2s_body failed");
	obuf_add(&r->data, p, n);
	r->st->unacked += n;
	return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct fz_conn *fc = user;
	struct rec *r = rec_of(fc, id);

	(void)code;
	if (!r)
		return 0;
	r->closed = r->st->closed = true;
	if (r->built && !r->h1_refused)
		check_body(r);
	if (r->st->unacked) {
		nghttp2_session_consume_connection(ng, r->st->unacked);
		r->st->unacked = 0;
	}
	return 0;
}

static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct rec *r;

	/* answered before the request ended (the 431): stop it, as h2.c does */
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (r = rec_of(user, f->hd.stream_id)) &&
	    !r->st->req_end && !r->st->rst_sent) {
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, r->st->id, NGHTTP2_NO_ERROR);
		r->st->rst_sent = true;
	}
	return 0;
}

/* ---- the connection, as h2_start sets it up ----------------------------------------- */

static int conn_open(struct fz_conn *fc)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SL_HTTP_MAX_HEADER_SIZE },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535 }, /* h2_initial_window_size */
	};
	int rc;

	memset(fc, 0, sizeof(*fc));
	fc->s.fe = &fe;
	fc->h.s = &fc->s;
	FZ_CHECK(nghttp2_session_callbacks_new(&cb) == 0 && nghttp2_option_new(&opt) == 0,
		 "out of memory");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cb_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, cb_frame_send);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
	rc = nghttp2_session_server_new2(&fc->h.ng, cb, fc, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rc == 0)
		rc = nghttp2_submit_settings(fc->h.ng, NGHTTP2_FLAG_NONE, iv, 4);
	if (rc == 0)
		rc = nghttp2_session_set_local_window_size(fc->h.ng, NGHTTP2_FLAG_NONE, 0,
							   SL_H2_CONN_WINDOW);
	return rc;
}

/* After each piece, as h2_run does: windows back for what the stream
 * sessions took (all of it here), frames out (dropped), closed streams
 * freed. */
static void conn_run(struct fz_conn *fc)
{
	const uint8_t *out;
	struct rec **pr = &fc->recs;

	for (struct rec *r = fc->recs; r; r = r->next) {
		if (r->st->unacked && !r->closed) {
			nghttp2_session_consume(fc->h.ng, r->st->id, r->st->unacked);
			r->st->unacked = 0;
		}
	}
	while (nghttp2_session_mem_send(fc->h.ng, &out) > 0)
		;
	while (*pr) {
		struct rec *r = *pr;

		if (!r->closed) {
			pr = &r->next;
			continue;
		}
		*pr = r->next;
		sl_h2s_free(r->st);
		free(r->method);
		free(r->path);
		free(r->data.p);
		free(r->fields.p);
		free(r);
	}
}

static void conn_close(struct fz_conn *fc)
{
	while (fc->recs) {
		struct rec *r = fc->recs;

		if (r->built && !r->h1_refused && !r->closed)
			check_body(r); /* what was received by the end */
		r->closed = true;
		fc->recs = r->next;
		r->next = NULL;
		sl_h2s_free(r->st);
		free(r->method);
		free(r->path);
		free(r->data.p);
		free(r->fields.p);
		free(r);
	}
	FZ_CHECK(!fc->h.streams, "streams left after every one was freed");
	sl_h2s_spares_free(&fc->h); /* freed streams are kept for reuse */
	nghttp2_session_del(fc->h.ng);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = NGHTTP2_CLIENT_MAGIC;
	static struct fz_conn fc;
	uint32_t seed;
	size_t off = 0;
	ssize_t rv;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	FZ_CHECK(conn_open(&fc) == 0, "nghttp2 session setup failed");
	rv = nghttp2_session_mem_recv(fc.h.ng, (const uint8_t *)preface, sizeof(preface) - 1);
	FZ_CHECK(rv == (ssize_t)sizeof(preface) - 1, "the preface: %zd", rv);
	conn_run(&fc);
	while (off < size) {
		size_t piece = seed ? 1 + fz_next(&seed) % 256 : size;

		if (piece > size - off)
			piece = size - off;
		rv = nghttp2_session_mem_recv(fc.h.ng, data + off, piece);
		if (rv < 0) {
			/* as h2_on_data: the connection is over */
			nghttp2_session_terminate_session(fc.h.ng, NGHTTP2_PROTOCOL_ERROR);
			conn_run(&fc);
			break;
		}
		FZ_CHECK((size_t)rv == piece, "mem_recv took %zd of %zu", rv, piece);
		off += piece;
		conn_run(&fc);
	}
	conn_close(&fc);
	return 0;
}
