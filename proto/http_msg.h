/*
 * HTTP/1.1 message heads (proto/ layer): incremental parsing with llhttp in
 * strict mode, the framing and smuggling checks llhttp leaves to us, and the
 * rewriting of heads for the next hop (hop-by-hop headers, X-Forwarded-*,
 * Connection). No I/O here: callers feed bytes and send what is built.
 *
 * One struct sl_http_parser follows one direction of one connection across
 * messages. A head is copied into memory the parser owns (rule 4: parsers
 * borrow, what is kept is copied) so header spans stay contiguous whatever
 * the packet boundaries were; bodies are only scanned, never copied here.
 */
#ifndef SL_PROTO_HTTP_MSG_H
#define SL_PROTO_HTTP_MSG_H

#include <stdbool.h>
#include <stdint.h>
#include <llhttp.h>

#define SL_HTTP_CHUNK_EXT_MAX 1024
/* p->method of a request whose method is a valid token llhttp does not know
 * (QUERY, BREW, lowercase get...): forwarded as sent, never treated as any
 * known method (not idempotent, not HEAD, not CONNECT) */
#define SL_HTTP_METHOD_OTHER 255

enum sl_http_res {
	SL_HTTP_MORE = 0,     /* all input consumed, message not finished */
	SL_HTTP_HEAD_DONE,    /* a head is complete and valid; *used bytes eaten */
	SL_HTTP_MSG_DONE,     /* the message is complete; *used bytes eaten */
	SL_HTTP_ERROR,        /* see p->err_status / p->err_reason */
};

struct sl_http_hdr {
	uint32_t name_off, name_len;
	uint32_t val_off, val_len;
};

struct sl_http_parser {
	llhttp_t ll;
	bool response;
	bool in_head;
	bool head_paused;     /* paused in on_headers_complete */
	bool msg_done;
	/* limits */
	uint32_t max_head, max_hdrs;
	/* the head being parsed or just parsed */
	char *buf;            /* the head, while it is parsed (grows to max_head) */
	uint32_t len, buf_cap;
	uint32_t hdrs_cap;
	uint32_t line_len;    /* request or status line, without CRLF */
	uint32_t target_off, target_len; /* request-target in the request line */
	uint32_t method_len;  /* requests: the method, once llhttp was fed it */
	bool method_other;    /* ... a token llhttp does not know: it was fed a
			       * stand-in, the head keeps the original bytes */
	struct sl_http_hdr *hdrs;
	uint32_t nhdrs;
	bool in_value;
	bool skip_cr;         /* a CR of an empty line before the head was skipped */
	uint32_t skipped;     /* bytes of empty lines skipped before heads */
	uint32_t chunk_ext;   /* bytes of chunk extensions of the current chunk */
	uint32_t ntrailers;
	struct {              /* our own chunked framing check (llhttp 8 is lax
			       * about the CRLF after chunk data) */
		uint8_t st;
		uint8_t digits;
		uint64_t left;
	} ck;
	/* facts about the head, valid after SL_HTTP_HEAD_DONE */
	uint8_t major, minor;
	uint8_t method;       /* llhttp_method_t or SL_HTTP_METHOD_OTHER, requests */
	uint16_t status;      /* responses */
	bool has_cl, chunked, has_te;
	uint64_t content_length;
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool upgrade;         /* an Upgrade header is present */
	bool expect_continue;
	bool no_body;         /* response to HEAD, 204, 304, 1xx */
	bool request_was_head; /* set by the caller before a response head */
	/* error, valid after SL_HTTP_ERROR */
	int err_status;       /* 400, 431, 502 ... */
	const char *err_reason;
};

/* Start parsing requests (response = false) or responses. Returns 0 or
 * -ENOMEM. */
int sl_http_parser_init(struct sl_http_parser *p, bool response, uint32_t max_head,
			uint32_t max_hdrs);
void sl_http_parser_free(struct sl_http_parser *p);

/* Feed bytes of a head. Returns SL_HTTP_MORE, SL_HTTP_HEAD_DONE (head checked,
 * *used bytes of data belong to it), or SL_HTTP_ERROR. Empty lines (CRLF)
 * before a request or status line are eaten and never become part of the
 * head (RFC 9112 2.2); they count against max_head. */
enum sl_http_res sl_http_feed_head(struct sl_http_parser *p, const char *data, uint32_t len,
				   uint32_t *used);
/* Feed body bytes (after HEAD_DONE, len may be 0 to complete bodiless
 * messages). Returns SL_HTTP_MORE, SL_HTTP_MSG_DONE (*used bytes are the
 * end of this message), or SL_HTTP_ERROR. */
enum sl_http_res sl_http_feed_body(struct sl_http_parser *p, const char *data, uint32_t len,
				   uint32_t *used);
/* The body of known length (Content-Length) went through without being fed
 * here: the message is complete. */
void sl_http_body_relayed(struct sl_http_parser *p);
/* The peer closed: a close-delimited body ends here. SL_HTTP_MSG_DONE or
 * SL_HTTP_ERROR (truncated message). */
enum sl_http_res sl_http_finish(struct sl_http_parser *p);
/* The head was used (rewritten): free its copy. The facts stay valid;
 * header lookups do not. */
void sl_http_release_head(struct sl_http_parser *p);
/* After SL_HTTP_MSG_DONE: get ready for the next message on the connection. */
void sl_http_next(struct sl_http_parser *p);
/* Whether the body of the current message runs until the connection closes. */
bool sl_http_body_until_close(const struct sl_http_parser *p);

/* Whether nothing of a head arrived yet: only empty lines were eaten (and
 * no CR of one is pending). */
bool sl_http_head_empty(const struct sl_http_parser *p);

/* The request target in the request line of a parsed head (borrowed). */
void sl_http_target(const struct sl_http_parser *p, const char **t, uint32_t *len);

/* The authority of an absolute-form target ("http://HOST[:port]/..."),
 * borrowed, or NULL for the other forms. */
const char *sl_http_authority(const struct sl_http_parser *p, uint32_t *len);

/* Normalise the path of a request-target in place (RFC 3986 6: unreserved
 * characters decoded, other percent-encodings in upper case, dot segments
 * removed, slashes merged; the query as it is). p points at the path ('/'
 * first; anything else is left as it is). Returns the new length (never
 * longer), or -EINVAL for a '%' without two hex digits. */
int sl_http_path_normalize(char *p, uint32_t len);
/* Rewrite the request line of a parsed request head to its normalised
 * target. Returns 1 if it changed, 0 if it was normal already, -1 on an
 * invalid percent-encoding (err_status 400, err_reason set). */
int sl_http_normalize_target(struct sl_http_parser *p);

/* Header lookup in the parsed head: index of the first header named name at
 * or after index from, or -1. */
int sl_http_find(const struct sl_http_parser *p, const char *name, int from);

/* What the next hop must see. */
struct sl_http_rewrite {
	const char *client_ip;    /* X-Forwarded-For value to append, or NULL */
	const char *proto;        /* X-Forwarded-Proto value, or NULL */
	const char *connection;   /* Connection value to add ("close",
				   * "keep-alive", "upgrade") or NULL */
	bool keep_upgrade;        /* keep the Upgrade header (tunnel requested) */
	/* request_id: every header named id_name is replaced by one with
	 * id_value (both NULL: untouched) */
	const char *id_name, *id_value;
	/* client certificates (a bind with ca=): X-SSL-Client-Verify
	 * ("SUCCESS" or "NONE") and X-SSL-Client-DN (its subject), or NULL */
	const char *cert_verify, *cert_dn;
};

/* Write the head for the next hop into out (cap bytes). Returns its length,
 * or -ENOSPC. */
int sl_http_build_head(const struct sl_http_parser *p, const struct sl_http_rewrite *rw,
		       char *out, uint32_t cap);

#endif
