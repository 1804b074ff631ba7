/*
 * HTTP/2, private to proto/h2*.c (proto/ layer). An h2 connection is a
 * session whose protocol is proto/h2.c: it owns the client connection and an
 * nghttp2 server session driven from memory (nghttp2 never sees a socket).
 * Each stream is a session of its own whose protocol is http (proto/http.c)
 * and whose client side is a socketless connection with the transport of
 * proto/h2_stream.c: the stream's request is handed to it as HTTP/1.1 bytes,
 * and what it sends back (an HTTP/1.1 response) is parsed here into HEADERS
 * and DATA frames. So every rule of http mode (limits, routing, rewrites,
 * queue, retries, timeouts, error pages, the access log) applies per stream.
 */
#ifndef SL_PROTO_H2_I_H
#define SL_PROTO_H2_I_H

#include <stdbool.h>
#include <stdint.h>
#include <llhttp.h>
#include <nghttp2/nghttp2.h>

#include "core/conn-t.h"
#include "core/session-t.h"

/* A stream's response body waiting to be framed: above this, the stream
 * session's send stays in flight (it sends no more, its server connection
 * stops receiving). */
#define SL_H2_BODY_HWM (64u * 1024)
/* Frames we have built and the client has not taken yet: above this, no
 * more are built until it reads. */
#define SL_H2_OUT_HWM (128u * 1024)
/* The connection's receive window (the streams' is the default 64 KiB). */
#define SL_H2_CONN_WINDOW (1u << 20)

struct h2_conn;

struct h2_stream {
	int32_t id;
	struct h2_conn *h;
	struct h2_stream *next, *prev;
	struct sl_session *sess;  /* the stream's session, while it has one */
	struct sl_conn *vc;       /* its client side; NULL once given up */
	/* the request */
	struct sl_obuf hdr;       /* header fields as they arrive: name\0value\0 */
	uint32_t nfields, hbytes;
	char method[16];
	bool too_big;             /* over max_header_size or max_headers */
	bool chunked;             /* the body goes chunked (no content-length) */
	bool req_end;             /* END_STREAM received */
	bool eof_told;            /* ... and told to the session */
	bool reset_rx;            /* the client reset it: tell the session */
	bool head_req;
	struct sl_obuf req;       /* request bytes not yet in vc's queue */
	uint64_t unacked;         /* DATA bytes not yet given back to the window */
	/* the response, parsed from what the session sends */
	llhttp_t rp;
	struct sl_obuf rh;        /* its header fields: name\0value\0 */
	uint8_t rh_state;         /* 0: none, 1: in a name, 2: in a value */
	uint32_t rh_n;
	int status;
	struct sl_obuf body;      /* body bytes not framed yet */
	bool rsp_head;            /* the head is parsed */
	bool rsp_submitted;       /* ... and given to nghttp2 */
	bool rsp_end;             /* the whole response is parsed */
	bool rsp_fail;            /* it will never be complete: reset the stream */
	bool deferred;            /* the data source waits for body bytes */
	bool push_held;           /* the session's send waits for room */
	bool closed;              /* nghttp2 closed the stream */
	bool rst_sent;
};

/* Token buckets against floods (proto/h2.c). */
struct h2_bucket {
	uint32_t tokens;
	uint64_t at_ms;
};

struct h2_conn {
	struct sl_session *s;     /* the connection's session */
	nghttp2_session *ng;
	struct h2_stream *streams;
	uint32_t nstreams;        /* with a session or a response in progress */
	uint32_t nreq;            /* streams opened */
	uint64_t idle_since_ms;
	struct h2_bucket resets, glitches;
	bool goaway;              /* GOAWAY submitted: finish, then close */
	bool fatal;               /* the session failed: flush, then close */
	uint64_t close_at;        /* fatal/goaway with no streams: close by then */
	int32_t last_rst_id;
};

/* proto/h2_stream.c */
extern const struct sl_xprt_ops sl_h2s_xprt_plain, sl_h2s_xprt_tls;
struct h2_stream *sl_h2s_new(struct h2_conn *h, int32_t id);
void sl_h2s_free(struct h2_stream *st);
/* Collect one request header field; false when it was not kept. */
void sl_h2s_field(struct h2_stream *st, const uint8_t *name, size_t nlen,
		  const uint8_t *value, size_t vlen);
/* The request head is complete: build its HTTP/1.1 form in st->req. */
int sl_h2s_build_request(struct h2_stream *st, bool end_stream);
/* A piece of request body (DATA), and its end. */
int sl_h2s_body(struct h2_stream *st, const uint8_t *p, size_t n);
int sl_h2s_end(struct h2_stream *st);
/* Move request bytes into the session's queue and tell it; from the run. */
void sl_h2s_deliver(struct h2_stream *st);
/* Give the response head to nghttp2; 0 or an nghttp2 error. */
int sl_h2s_submit(struct h2_stream *st);
/* Has the session taken everything of the request body it was given? */
bool sl_h2s_taken(const struct h2_stream *st);

#endif
