/*
 * HTTP/1.1 message heads (proto/ layer). llhttp runs in strict mode (no
 * lenient flag is ever set) and is paused at the end of each head and each
 * message so the caller knows exactly which bytes belong to what. On top of
 * llhttp we reject what it lets through or reports late: whitespace before a
 * colon, obs-fold and control characters in values, Content-Length lists and
 * duplicates, Transfer-Encoding not ending in a single chunked, TE in HTTP/1.0,
 * TE with CL, a missing or repeated Host, oversized chunk extensions. The
 * start line is checked to the letter of RFC 9112: a request line is exactly
 * `method SP request-target SP HTTP-version` (one target form the method
 * allows, no control, blank or non-ASCII byte in it), a status line exactly
 * `HTTP-version SP 3DIGIT SP reason` with a code from 100 to 599. Empty lines
 * before a start line are eaten here, never copied into the head.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http_msg.h"

static struct sl_http_parser *of(llhttp_t *ll)
{
	return ll->data;
}

static int on_field(llhttp_t *ll, const char *at, size_t len)
{
	struct sl_http_parser *p = of(ll);
	struct sl_http_hdr *h;

	if (!p->in_head) {
		/* a trailer field: relayed with the body, only counted, once per
		 * field whatever the number of pieces its name came in */
		if ((p->ntrailers == 0 || p->in_value) && ++p->ntrailers > p->max_hdrs) {
			p->err_reason = "too many trailer fields";
			return -1;
		}
		p->in_value = false;
		return 0;
	}
	if (p->nhdrs == 0 || p->in_value) {
		if (p->nhdrs >= p->max_hdrs) {
			p->err_status = p->response ? 502 : 431;
			p->err_reason = "too many headers";
			return -1;
		}
		if (p->nhdrs == p->hdrs_cap) {
			uint32_t cap = p->hdrs_cap ? p->hdrs_cap * 2 : 16;
			struct sl_http_hdr *nh;

			if (cap > p->max_hdrs)
				cap = p->max_hdrs;
			nh = realloc(p->hdrs, cap * sizeof(*nh));
			if (!nh) {
				p->err_status = 500;
				p->err_reason = "out of memory";
				return -1;
			}
			p->hdrs = nh;
			p->hdrs_cap = cap;
		}
		h = &p->hdrs[p->nhdrs++];
		memset(h, 0, sizeof(*h));
		h->name_off = (uint32_t)(at - p->buf);
		p->in_value = false;
	}
	p->hdrs[p->nhdrs - 1].name_len += (uint32_t)len;
	return 0;
}

static int on_value(llhttp_t *ll, const char *at, size_t len)
{
	struct sl_http_parser *p = of(ll);
	struct sl_http_hdr *h;

	if (!p->in_head || !p->nhdrs) {
		p->in_value = true;
		return 0;
	}
	h = &p->hdrs[p->nhdrs - 1];
	if (!p->in_value) {
		h->val_off = (uint32_t)(at - p->buf);
		p->in_value = true;
	}
	h->val_len += (uint32_t)len;
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct sl_http_parser *p = of(ll);
	unsigned st = ll->status_code;

	p->head_paused = true;
	if (p->response && (p->request_was_head || st / 100 == 1 || st == 204 || st == 304)) {
		p->no_body = true;
		return 1; /* no body: llhttp goes straight to message complete */
	}
	return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll)
{
	of(ll)->msg_done = true;
	return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *ll)
{
	of(ll)->chunk_ext = 0;
	return 0;
}

static int on_chunk_ext(llhttp_t *ll, const char *at, size_t len)
{
	struct sl_http_parser *p = of(ll);

	(void)at;
	p->chunk_ext += (uint32_t)len;
	if (p->chunk_ext > SL_HTTP_CHUNK_EXT_MAX) {
		p->err_reason = "chunk extensions too long";
		return -1;
	}
	return 0;
}

/* One callback table for every parser (llhttp keeps a pointer to it). */
static const llhttp_settings_t settings = {
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
	.on_chunk_header = on_chunk_header,
	.on_chunk_extension_name = on_chunk_ext,
	.on_chunk_extension_value = on_chunk_ext,
};

void sl_http_release_head(struct sl_http_parser *p)
{
	free(p->buf);
	free(p->hdrs);
	p->buf = NULL;
	p->hdrs = NULL;
	p->buf_cap = p->hdrs_cap = 0;
}

int sl_http_parser_init(struct sl_http_parser *p, bool response, uint32_t max_head,
			uint32_t max_hdrs)
{
	memset(p, 0, sizeof(*p));
	p->response = response;
	p->max_head = max_head;
	p->max_hdrs = max_hdrs;
	llhttp_init(&p->ll, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
	p->ll.data = p;
	p->in_head = true;
	return 0;
}

void sl_http_parser_free(struct sl_http_parser *p)
{
	if (!p)
		return;
	sl_http_release_head(p);
}

static bool name_is(const struct sl_http_parser *p, const struct sl_http_hdr *h, const char *n)
{
	return h->name_len == strlen(n) && !strncasecmp(p->buf + h->name_off, n, h->name_len);
}

int sl_http_find(const struct sl_http_parser *p, const char *name, int from)
{
	for (uint32_t i = (uint32_t)from; i < p->nhdrs; i++)
		if (name_is(p, &p->hdrs[i], name))
			return (int)i;
	return -1;
}

/* Iterate over the comma-separated tokens of a header value: returns the
 * next token (trimmed) in tok and tlen, false when none is left. */
static bool next_token(const char **cur, const char *end, const char **tok, uint32_t *tlen)
{
	const char *s = *cur, *e;

	while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
		s++;
	if (s >= end)
		return false;
	e = s;
	while (e < end && *e != ',')
		e++;
	*cur = e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*tok = s;
	*tlen = (uint32_t)(e - s);
	return true;
}

static bool tok_is(const char *t, uint32_t len, const char *s)
{
	return len == strlen(s) && !strncasecmp(t, s, len);
}

/* Byte classes as tables: one load per byte on the hot path of every head. */
static const bool tchar[256] = {
	['a' ... 'z'] = true, ['A' ... 'Z'] = true, ['0' ... '9'] = true,
	['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true, ['\''] = true,
	['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true, ['^'] = true, ['_'] = true,
	['`'] = true, ['|'] = true, ['~'] = true,
};

/* not allowed in a field value: controls but HTAB (CR and LF included), DEL */
static const bool bad_value_char[256] = {
	[0x00 ... 0x08] = true, [0x0a ... 0x1f] = true, [0x7f] = true,
};

static bool is_tchar(unsigned char c)
{
	return tchar[c];
}

static int fail(struct sl_http_parser *p, const char *why)
{
	p->err_status = p->response ? 502 : 400;
	p->err_reason = why;
	return -1;
}

static int check_content_length(struct sl_http_parser *p, const struct sl_http_hdr *h)
{
	const char *v = p->buf + h->val_off;
	uint64_t n = 0;

	if (p->has_cl)
		return fail(p, "duplicate Content-Length");
	if (h->val_len == 0 || h->val_len > 18)
		return fail(p, "invalid Content-Length");
	for (uint32_t i = 0; i < h->val_len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(p, "invalid Content-Length");
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	p->has_cl = true;
	p->content_length = n;
	return 0;
}

static int check_transfer_encoding(struct sl_http_parser *p, const struct sl_http_hdr *h)
{
	const char *cur = p->buf + h->val_off, *end = cur + h->val_len, *t;
	uint32_t tl;

	p->has_te = true;
	while (next_token(&cur, end, &t, &tl)) {
		if (p->chunked)
			return fail(p, "Transfer-Encoding after chunked");
		if (tok_is(t, tl, "chunked"))
			p->chunked = true;
	}
	return 0;
}

static void note_connection(struct sl_http_parser *p, const struct sl_http_hdr *h)
{
	const char *cur = p->buf + h->val_off, *end = cur + h->val_len, *t;
	uint32_t tl;

	while (next_token(&cur, end, &t, &tl)) {
		if (tok_is(t, tl, "close"))
			p->conn_close = true;
		else if (tok_is(t, tl, "keep-alive"))
			p->conn_keep_alive = true;
		else if (tok_is(t, tl, "upgrade"))
			p->conn_upgrade = true;
	}
}

static int check_header(struct sl_http_parser *p, const struct sl_http_hdr *h, int *hosts)
{
	const unsigned char *n = (const unsigned char *)p->buf + h->name_off;
	const unsigned char *v = (const unsigned char *)p->buf + h->val_off;

	if (!h->name_len)
		return fail(p, "empty header name");
	for (uint32_t i = 0; i < h->name_len; i++)
		if (!is_tchar(n[i]))
			return fail(p, "invalid character in header name");
	for (uint32_t i = 0; i < h->val_len; i++)
		if (bad_value_char[v[i]])
			return fail(p, "invalid character in header value (obs-fold?)");
	if (name_is(p, h, "content-length"))
		return check_content_length(p, h);
	if (name_is(p, h, "transfer-encoding"))
		return check_transfer_encoding(p, h);
	if (name_is(p, h, "connection"))
		note_connection(p, h);
	else if (name_is(p, h, "host"))
		(*hosts)++;
	else if (name_is(p, h, "upgrade"))
		p->upgrade = true;
	else if (name_is(p, h, "expect") && h->val_len == 12 &&
		 !strncasecmp((const char *)v, "100-continue", 12))
		p->expect_continue = true;
	return 0;
}

/* Every line ends in CRLF, no bare CR or LF, no obs-fold (a line starting
 * with a blank), whatever llhttp let through. */
static int check_line_endings(struct sl_http_parser *p)
{
	const char *b = p->buf, *end = b + p->len, *c;

	/* memchr from line end to line end rather than a test of every byte */
	for (c = b; (c = memchr(c, '\n', (size_t)(end - c))) != NULL; c++) {
		if (c == b || c[-1] != '\r')
			return fail(p, "bare LF in head");
		if (c + 1 < end && (c[1] == ' ' || c[1] == '\t'))
			return fail(p, "obs-fold in head");
	}
	for (c = b; (c = memchr(c, '\r', (size_t)(end - c))) != NULL; c++)
		if (c + 1 >= end || c[1] != '\n')
			return fail(p, "bare CR in head");
	return 0;
}

/* A request-target byte: VCHAR but '#' (no blank, control or obs-text). */
static const bool target_char[256] = {
	[0x21 ... 0x22] = true, [0x24 ... 0x7e] = true,
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/" DIGIT "." DIGIT at v (8 bytes available). */
static bool is_version(const char *v)
{
	return !memcmp(v, "HTTP/", 5) && is_digit(v[5]) && v[6] == '.' && is_digit(v[7]);
}

/* The target is in a form the method allows (RFC 9112 3.2): origin-form,
 * absolute-form with an authority and no userinfo, asterisk-form for
 * OPTIONS, authority-form for CONNECT (which is refused later, with 405). */
static bool target_form_ok(const struct sl_http_parser *p, const char *t, uint32_t len)
{
	uint32_t skip, i;

	if (t[0] == '/')
		return true;
	if (p->method == HTTP_OPTIONS && len == 1 && t[0] == '*')
		return true;
	if (p->method == HTTP_CONNECT)
		return true;
	if (len > 7 && !strncasecmp(t, "http://", 7))
		skip = 7;
	else if (len > 8 && !strncasecmp(t, "https://", 8))
		skip = 8;
	else
		return false;
	for (i = skip; i < len && t[i] != '/' && t[i] != '?'; i++)
		if (t[i] == '@')
			return false;
	return i > skip;
}

/* method SP request-target SP HTTP-version, and nothing else. */
static int check_request_line(struct sl_http_parser *p)
{
	const char *l = p->buf, *end = l + p->line_len, *t, *e;

	for (t = l; t < end && is_tchar((unsigned char)*t); t++)
		;
	if (t == l || t == end || *t != ' ')
		return fail(p, "invalid request line: method");
	for (e = ++t; e < end && target_char[(unsigned char)*e]; e++)
		;
	if (e == t || e == end || *e != ' ')
		return fail(p, "invalid request line: request-target");
	if (end - e != 9 || !is_version(e + 1))
		return fail(p, "invalid request line: HTTP-version");
	if (!target_form_ok(p, t, (uint32_t)(e - t)))
		return fail(p, "invalid request-target form");
	p->target_off = (uint32_t)(t - l);
	p->target_len = (uint32_t)(e - t);
	return 0;
}

/* HTTP-version SP 3DIGIT SP reason-phrase, code 100 to 599, the reason of
 * HTAB, SP, VCHAR and obs-text only. */
static int check_status_line(struct sl_http_parser *p)
{
	const char *l = p->buf;
	unsigned code;

	if (p->line_len < 13 || !is_version(l) || l[8] != ' ' || !is_digit(l[9]) ||
	    !is_digit(l[10]) || !is_digit(l[11]) || l[12] != ' ')
		return fail(p, "invalid status line");
	code = (unsigned)(l[9] - '0') * 100 + (unsigned)(l[10] - '0') * 10 +
	       (unsigned)(l[11] - '0');
	if (code < 100 || code > 599 || code != p->status)
		return fail(p, "status code out of range");
	for (uint32_t i = 13; i < p->line_len; i++)
		if (bad_value_char[(unsigned char)l[i]])
			return fail(p, "invalid character in reason phrase");
	return 0;
}

const char *sl_http_authority(const struct sl_http_parser *p, uint32_t *len)
{
	const char *t = p->buf + p->target_off, *a, *e;
	uint32_t tl = p->target_len;

	if (tl > 7 && !strncasecmp(t, "http://", 7))
		a = t + 7;
	else if (tl > 8 && !strncasecmp(t, "https://", 8))
		a = t + 8;
	else
		return NULL;
	for (e = a; e < t + tl && *e != '/' && *e != '?'; e++)
		;
	*len = (uint32_t)(e - a);
	return a;
}

/* Split host[:port] (IPv6 literals in brackets): the host's length, and the
 * port as a number (dflt when absent or empty; -1 when not digits). */
static uint32_t split_port(const char *v, uint32_t len, long dflt, long *port)
{
	const char *rb = len && v[0] == '[' ? memchr(v, ']', len) : NULL;
	const char *c = memchr(rb ? rb : v, ':', len - (uint32_t)((rb ? rb : v) - v));
	uint32_t hl = c ? (uint32_t)(c - v) : len;

	*port = dflt;
	if (c && c + 1 < v + len) {
		*port = 0;
		for (const char *d = c + 1; d < v + len; d++) {
			if (!is_digit(*d) || *port > 65535) {
				*port = -1;
				break;
			}
			*port = *port * 10 + (*d - '0');
		}
	}
	return hl;
}

/* An absolute-form target names the host (RFC 9112 3.2.2), and the Host
 * header must then say the same: a head that names two hosts is refused, as
 * HAProxy does, rather than forwarded for a server to pick either. Same
 * host case-insensitively, same port once the scheme's default is applied. */
static bool host_is_authority(const struct sl_http_parser *p)
{
	uint32_t al, hl, an, hn;
	const char *a = sl_http_authority(p, &al), *h;
	long dflt, ap, hp;
	int i;

	if (!a)
		return true;
	i = sl_http_find(p, "host", 0);
	if (i < 0)
		return true;
	h = p->buf + p->hdrs[i].val_off;
	hl = p->hdrs[i].val_len;
	dflt = (p->buf[p->target_off + 4] | 0x20) == 's' ? 443 : 80;
	an = split_port(a, al, dflt, &ap);
	hn = split_port(h, hl, dflt, &hp);
	return an == hn && !strncasecmp(a, h, an) && ap == hp && ap >= 0;
}

/* The checks llhttp does not make, or makes only after the head. */
static int check_head(struct sl_http_parser *p)
{
	int hosts = 0;

	p->major = p->ll.http_major;
	p->minor = p->ll.http_minor;
	p->method = p->method_other ? SL_HTTP_METHOD_OTHER : (uint8_t)p->ll.method;
	p->status = p->ll.status_code;
	if (check_line_endings(p) < 0)
		return -1;
	if (p->major != 1 || p->minor > 1)
		return fail(p, "unsupported HTTP version");
	for (uint32_t i = 0; i < p->len - 1; i++)
		if (p->buf[i] == '\r' && p->buf[i + 1] == '\n') {
			p->line_len = i;
			break;
		}
	if ((p->response ? check_status_line(p) : check_request_line(p)) < 0)
		return -1;
	for (uint32_t i = 0; i < p->nhdrs; i++) {
		struct sl_http_hdr *h = &p->hdrs[i];

		/* values are trimmed of trailing blanks (leading ones llhttp skips) */
		while (h->val_len && (p->buf[h->val_off + h->val_len - 1] == ' ' ||
				      p->buf[h->val_off + h->val_len - 1] == '\t'))
			h->val_len--;
		if (check_header(p, h, &hosts) < 0)
			return -1;
	}
	if (p->has_te && p->has_cl)
		return fail(p, "Content-Length with Transfer-Encoding");
	if (p->has_te && !p->response && !p->chunked)
		return fail(p, "Transfer-Encoding not ending in chunked");
	if (p->has_te && !p->response && p->major == 1 && p->minor == 0)
		return fail(p, "Transfer-Encoding in HTTP/1.0");
	if (!p->response && p->major == 1 && p->minor == 1 && hosts != 1)
		return fail(p, hosts ? "more than one Host" : "missing Host");
	if (!p->response && hosts && !host_is_authority(p))
		return fail(p, "Host differs from the authority of the absolute-form target");
	return 0;
}

static int map_error(struct sl_http_parser *p, llhttp_errno_t e)
{
	if (!p->err_status)
		p->err_status = p->response ? 502 : 400;
	if (!p->err_reason)
		p->err_reason = llhttp_get_error_reason(&p->ll);
	if (!p->err_reason)
		p->err_reason = llhttp_errno_name(e);
	return SL_HTTP_ERROR;
}

/* Room for `need` head bytes: the copy grows with the head (offsets, not
 * pointers, are kept, so moving it is safe between llhttp calls). */
static int grow_head(struct sl_http_parser *p, uint32_t need)
{
	uint32_t cap = p->buf_cap ? p->buf_cap : 1024;
	char *nb;

	if (need > p->max_head)
		need = p->max_head;
	if (p->buf && p->buf_cap >= need)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > p->max_head)
		cap = p->max_head;
	nb = realloc(p->buf, cap);
	if (!nb) {
		p->err_status = 500;
		p->err_reason = "out of memory";
		return -1;
	}
	p->buf = nb;
	p->buf_cap = cap;
	return 0;
}

/* Eat the empty lines (CRLF) that may come before a start line: RFC 9112
 * 2.2 lets a recipient ignore them, and forwarding them would put an empty
 * line where the next hop expects the start line. Returns the bytes eaten,
 * or -1: a CR without its LF, or more than max_head bytes of them. */
static int skip_empty_lines(struct sl_http_parser *p, const char *data, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++) {
		if (p->skip_cr) {
			if (data[i] != '\n')
				return fail(p, "bare CR before the start line");
			p->skip_cr = false;
		} else if (data[i] != '\r') {
			break;
		} else {
			p->skip_cr = true;
		}
		if (++p->skipped > p->max_head)
			return fail(p, "too many empty lines before the start line");
	}
	return (int)i;
}

bool sl_http_head_empty(const struct sl_http_parser *p)
{
	return p->in_head && p->len == 0 && !p->skip_cr;
}

void sl_http_target(const struct sl_http_parser *p, const char **t, uint32_t *len)
{
	*t = p->buf + p->target_off;
	*len = p->target_len;
}

/* The methods llhttp knows, spelled as it matches them (case-sensitive). */
static const char *const known_methods[] = {
#define XX(num, name, string) #string,
	HTTP_METHOD_MAP(XX)
#undef XX
};

static bool method_known(const char *m, uint32_t len)
{
	for (size_t i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++)
		if (strlen(known_methods[i]) == len && !memcmp(known_methods[i], m, len))
			return true;
	return false;
}

/* llhttp 8 knows a fixed list of methods and refuses any other, where RFC
 * 9110 9.1 allows any token. The method is held back from llhttp until its
 * SP arrived: a known one is fed as it is, any other token as the stand-in
 * "POST" (no semantics of its own in a request: not HEAD, not CONNECT), the
 * head copy keeping the original bytes. *from is the first byte added to
 * p->buf by this feed. Returns 1 with *from the first byte of p->buf llhttp
 * has not seen, 0 while the method is incomplete, -1 if it is not a token. */
static int feed_method(struct sl_http_parser *p, const char **from)
{
	const char *b = p->buf;
	uint32_t i;

	/* from the new bytes on (*from): those before were all tchar, and a
	 * method sent byte by byte costs one pass, not one per byte */
	for (i = (uint32_t)(*from - b); i < p->len && is_tchar((unsigned char)b[i]); i++)
		;
	if (i == p->len)
		return 0;
	if (i == 0 || b[i] != ' ')
		return fail(p, "invalid request line: method");
	p->method_len = i;
	*from = b;
	if (method_known(b, i))
		return 1;
	p->method_other = true;
	if (llhttp_execute(&p->ll, "POST", 4) != HPE_OK)
		return fail(p, "invalid request line: method");
	*from = b + i;
	return 1;
}

/* How many bytes of data go into the head: up to and including the blank
 * line that ends it ("\n\r\n" or "\n\n", maybe begun in the bytes held
 * already), or all of them when it is not there yet. The body after it is
 * not copied: a response's first receive holds its head and up to a
 * buffer of body, which used to be copied along (16 KiB per response with
 * fixed buffers, up to max_header_size with incremental ones). */
static uint32_t head_end(const struct sl_http_parser *p, const char *data, uint32_t len)
{
	const char *q = data, *end = data + len;

	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		long i = q - data;
		char b1 = i >= 1 ? data[i - 1] : p->len >= 1 ? p->buf[p->len - 1] : 0;
		char b2 = i >= 2 ? data[i - 2] : p->len + (uint32_t)i >= 2 ?
			  p->buf[p->len + (uint32_t)i - 2] : 0;

		if (b1 == '\n' || (b1 == '\r' && b2 == '\n'))
			return (uint32_t)i + 1;
		q++;
	}
	return len;
}

static enum sl_http_res feed_part(struct sl_http_parser *p, const char *data, uint32_t len,
				  uint32_t *used);

enum sl_http_res sl_http_feed_head(struct sl_http_parser *p, const char *data, uint32_t len,
				   uint32_t *used)
{
	*used = 0;
	if (p->len == 0) {
		int k = skip_empty_lines(p, data, len);

		if (k < 0)
			return SL_HTTP_ERROR;
		*used = (uint32_t)k;
		data += k;
		len -= (uint32_t)k;
		if (!len)
			return SL_HTTP_MORE;
	}
	/* up to the blank line that ends the head; an earlier "blank line"
	 * that does not end it (empty lines held before the start line) ends a
	 * part, and the next part goes on: MORE always means all of data was
	 * taken */
	for (;;) {
		uint32_t part = head_end(p, data, len);
		enum sl_http_res r = feed_part(p, data, part, used);

		if (r != SL_HTTP_MORE || part == len)
			return r;
		data += part;
		len -= part;
	}
}

/* sl_http_feed_head for bytes that end at the head's end at most. */
static enum sl_http_res feed_part(struct sl_http_parser *p, const char *data, uint32_t len,
				  uint32_t *used)
{
	uint32_t room, n;
	const char *start, *from;
	llhttp_errno_t e;

	if (grow_head(p, p->len + len) < 0)
		return SL_HTTP_ERROR;
	room = p->buf_cap - p->len;
	n = len < room ? len : room;
	memcpy(p->buf + p->len, data, n);
	start = from = p->buf + p->len;
	p->len += n;
	if (!p->response && !p->method_len) {
		int k = feed_method(p, &from);

		if (k < 0)
			return SL_HTTP_ERROR;
		e = k ? llhttp_execute(&p->ll, from, (size_t)(p->buf + p->len - from)) : HPE_OK;
	} else {
		e = llhttp_execute(&p->ll, start, n);
	}
	if (e == HPE_OK) {
		*used += n;
		if (n < len || p->len == p->max_head) {
			p->err_status = p->response ? 502 : 431;
			p->err_reason = "head larger than max_header_size";
			return SL_HTTP_ERROR;
		}
		return SL_HTTP_MORE;
	}
	if ((e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) || !p->head_paused)
		return map_error(p, e);
	*used += (uint32_t)(llhttp_get_error_pos(&p->ll) - start);
	p->len = (uint32_t)(llhttp_get_error_pos(&p->ll) - p->buf);
	p->in_head = false;
	if (check_head(p) < 0)
		return SL_HTTP_ERROR;
	if (!p->msg_done) {
		/* run llhttp's own post-head checks (some TE errors surface only now) */
		llhttp_resume(&p->ll);
		e = llhttp_execute(&p->ll, p->buf + p->len, 0);
		if (e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE)
			return map_error(p, e);
	}
	return SL_HTTP_HEAD_DONE;
}

enum { CK_SIZE, CK_SIZE_WS, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF,
       CK_TRAILER_START, CK_TRAILER_LINE, CK_TRAILER_LF, CK_END_LF, CK_DONE };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One byte of chunked framing; returns 0 or -1. */
static int chunk_byte(struct sl_http_parser *p, char c)
{
	int v;

	switch (p->ck.st) {
	case CK_SIZE:
		v = hexval(c);
		if (v >= 0 && p->ck.digits < 15) {
			p->ck.left = p->ck.left * 16 + (uint64_t)v;
			p->ck.digits++;
		} else if (p->ck.digits && (c == ' ' || c == '\t')) {
			p->ck.st = CK_SIZE_WS;
		} else if (p->ck.digits && c == ';') {
			p->ck.st = CK_EXT;
		} else if (p->ck.digits && c == '\r') {
			p->ck.st = CK_SIZE_LF;
		} else {
			return -1;
		}
		return 0;
	case CK_SIZE_WS:
		if (c == ';')
			p->ck.st = CK_EXT;
		else if (c == '\r')
			p->ck.st = CK_SIZE_LF;
		else if (c != ' ' && c != '\t')
			return -1;
		return 0;
	case CK_EXT:
		if (c == '\r')
			p->ck.st = CK_SIZE_LF;
		return c == '\n' ? -1 : 0;
	case CK_SIZE_LF:
		if (c != '\n')
			return -1;
		p->ck.st = p->ck.left ? CK_DATA : CK_TRAILER_START;
		return 0;
	case CK_DATA_CR:
		p->ck.st = CK_DATA_LF;
		return c == '\r' ? 0 : -1;
	case CK_DATA_LF:
		p->ck.st = CK_SIZE;
		p->ck.digits = 0;
		p->ck.left = 0;
		return c == '\n' ? 0 : -1;
	case CK_TRAILER_START:
		p->ck.st = c == '\r' ? CK_END_LF : CK_TRAILER_LINE;
		return c == '\n' ? -1 : 0;
	case CK_TRAILER_LINE:
		if (c == '\r')
			p->ck.st = CK_TRAILER_LF;
		return c == '\n' ? -1 : 0;
	case CK_TRAILER_LF:
		p->ck.st = CK_TRAILER_START;
		return c == '\n' ? 0 : -1;
	case CK_END_LF:
		p->ck.st = CK_DONE;
		return c == '\n' ? 0 : -1;
	default:
		return -1; /* bytes after the last chunk belong to no message */
	}
}

/* Check the chunked framing of body bytes, strictly (CRLF everywhere). */
static int check_chunks(struct sl_http_parser *p, const char *data, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		if (p->ck.st == CK_DATA) {
			uint64_t n = len - i < p->ck.left ? len - i : p->ck.left;

			i += (uint32_t)n;
			p->ck.left -= n;
			if (!p->ck.left)
				p->ck.st = CK_DATA_CR;
			continue;
		}
		if (chunk_byte(p, data[i++]) < 0) {
			p->err_status = p->response ? 502 : 400;
			p->err_reason = "invalid chunked framing";
			return -1;
		}
	}
	return 0;
}

enum sl_http_res sl_http_feed_body(struct sl_http_parser *p, const char *data, uint32_t len,
				   uint32_t *used)
{
	llhttp_errno_t e;

	*used = 0;
	if (p->msg_done)
		return SL_HTTP_MSG_DONE;
	if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
		llhttp_resume(&p->ll);
	e = llhttp_execute(&p->ll, data, len);
	if (e == HPE_OK) {
		*used = len;
		if (p->chunked && check_chunks(p, data, len) < 0)
			return SL_HTTP_ERROR;
		return SL_HTTP_MORE;
	}
	if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && p->msg_done) {
		*used = (uint32_t)(llhttp_get_error_pos(&p->ll) - data);
		if (p->chunked && !p->no_body &&
		    (check_chunks(p, data, *used) < 0 || p->ck.st != CK_DONE)) {
			p->err_status = p->response ? 502 : 400;
			p->err_reason = "invalid chunked framing";
			return SL_HTTP_ERROR;
		}
		return SL_HTTP_MSG_DONE;
	}
	return map_error(p, e);
}

enum sl_http_res sl_http_finish(struct sl_http_parser *p)
{
	llhttp_errno_t e;

	if (p->msg_done)
		return SL_HTTP_MSG_DONE;
	if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
		llhttp_resume(&p->ll);
	e = llhttp_finish(&p->ll);
	if (p->msg_done && (e == HPE_OK || e == HPE_PAUSED))
		return SL_HTTP_MSG_DONE;
	p->err_reason = "connection closed before the end of the message";
	return map_error(p, e == HPE_OK ? HPE_INVALID_EOF_STATE : e);
}

bool sl_http_body_until_close(const struct sl_http_parser *p)
{
	return p->response && !p->no_body && !p->has_cl && !p->chunked;
}

void sl_http_body_relayed(struct sl_http_parser *p)
{
	p->msg_done = true;
}

void sl_http_next(struct sl_http_parser *p)
{
	/* A fresh llhttp state per message: what came before (a Connection:
	 * close, a pause) must not leak into the next message's parse. */
	llhttp_reset(&p->ll);
	sl_http_release_head(p);
	p->len = p->line_len = p->nhdrs = p->chunk_ext = p->ntrailers = 0;
	p->target_off = p->target_len = p->skipped = p->method_len = 0;
	p->skip_cr = p->method_other = false;
	memset(&p->ck, 0, sizeof(p->ck));
	p->in_head = true;
	p->head_paused = p->msg_done = p->in_value = false;
	p->has_cl = p->chunked = p->has_te = false;
	p->content_length = 0;
	p->conn_close = p->conn_keep_alive = p->conn_upgrade = false;
	p->upgrade = p->expect_continue = p->no_body = p->request_was_head = false;
	p->err_status = 0;
	p->err_reason = NULL;
}
