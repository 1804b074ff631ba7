/*
 * HTTP head rewriting for the next hop (proto/ layer). Drops the hop-by-hop
 * headers of RFC 9110 section 7.6.1 (Connection and every header it names,
 * Proxy-Connection, Keep-Alive, TE, Upgrade unless a tunnel is being set up),
 * merges X-Forwarded-For with the client address appended, replaces any
 * X-Forwarded-Proto (a client must not choose it), and states Connection.
 * Framing headers (Content-Length, Transfer-Encoding) pass unchanged: they
 * were validated and the body is relayed as received.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/http_msg.h"

struct out {
	char *p;
	uint32_t len, cap;
	int err;
};

static void put(struct out *o, const char *s, uint32_t n)
{
	if (o->err || o->len + n > o->cap) {
		o->err = -ENOSPC;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts0(struct out *o, const char *s)
{
	put(o, s, (uint32_t)strlen(s));
}

static bool hdr_is(const struct sl_http_parser *p, const struct sl_http_hdr *h, const char *n)
{
	return h->name_len == strlen(n) && !strncasecmp(p->buf + h->name_off, n, h->name_len);
}

/* Is header h named by a token of any Connection header? */
static bool named_by_connection(const struct sl_http_parser *p, const struct sl_http_hdr *h)
{
	/* framing and routing headers are never dropped, whatever Connection
	 * says: dropping them would let a client change how the next hop frames
	 * the message (a smuggling vector) */
	if (hdr_is(p, h, "content-length") || hdr_is(p, h, "transfer-encoding") ||
	    hdr_is(p, h, "host"))
		return false;
	for (int i = sl_http_find(p, "connection", 0); i >= 0;
	     i = sl_http_find(p, "connection", i + 1)) {
		const struct sl_http_hdr *c = &p->hdrs[i];
		const char *s = p->buf + c->val_off, *end = s + c->val_len;

		while (s < end) {
			const char *e;

			while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
				s++;
			e = s;
			while (e < end && *e != ',' && *e != ' ' && *e != '\t')
				e++;
			if (e > s && (uint32_t)(e - s) == h->name_len &&
			    !strncasecmp(s, p->buf + h->name_off, h->name_len))
				return true;
			s = e;
		}
	}
	return false;
}

static bool hop_by_hop(const struct sl_http_parser *p, const struct sl_http_hdr *h,
		       const struct sl_http_rewrite *rw)
{
	if (hdr_is(p, h, "connection") || hdr_is(p, h, "proxy-connection") ||
	    hdr_is(p, h, "keep-alive") || hdr_is(p, h, "te"))
		return true;
	if (hdr_is(p, h, "upgrade"))
		return !rw->keep_upgrade;
	return named_by_connection(p, h);
}

static void put_xff(struct out *o, const struct sl_http_parser *p, const char *client_ip)
{
	bool first = true;

	puts0(o, "X-Forwarded-For: ");
	for (int i = sl_http_find(p, "x-forwarded-for", 0); i >= 0;
	     i = sl_http_find(p, "x-forwarded-for", i + 1)) {
		if (!p->hdrs[i].val_len)
			continue;
		if (!first)
			puts0(o, ", ");
		put(o, p->buf + p->hdrs[i].val_off, p->hdrs[i].val_len);
		first = false;
	}
	if (!first)
		puts0(o, ", ");
	puts0(o, client_ip);
	puts0(o, "\r\n");
}

int sl_http_build_head(const struct sl_http_parser *p, const struct sl_http_rewrite *rw,
		       char *outbuf, uint32_t cap)
{
	struct out o = { .p = outbuf, .cap = cap };

	if (p->response) {
		/* an intermediary sends its own version (RFC 9110 6.2) */
		const char *sp = memchr(p->buf, ' ', p->line_len);
		uint32_t skip = sp ? (uint32_t)(sp - p->buf) : 0;

		puts0(&o, "HTTP/1.1");
		put(&o, p->buf + skip, p->line_len - skip);
	} else {
		put(&o, p->buf, p->line_len);
	}
	puts0(&o, "\r\n");
	for (uint32_t i = 0; i < p->nhdrs; i++) {
		const struct sl_http_hdr *h = &p->hdrs[i];

		if (hop_by_hop(p, h, rw))
			continue;
		if (rw->client_ip && hdr_is(p, h, "x-forwarded-for"))
			continue;
		if (rw->proto && hdr_is(p, h, "x-forwarded-proto"))
			continue;
		put(&o, p->buf + h->name_off, h->name_len);
		puts0(&o, ": ");
		put(&o, p->buf + h->val_off, h->val_len);
		puts0(&o, "\r\n");
	}
	if (rw->client_ip)
		put_xff(&o, p, rw->client_ip);
	if (rw->proto) {
		puts0(&o, "X-Forwarded-Proto: ");
		puts0(&o, rw->proto);
		puts0(&o, "\r\n");
	}
	if (rw->connection) {
		puts0(&o, "Connection: ");
		puts0(&o, rw->connection);
		puts0(&o, "\r\n");
	}
	puts0(&o, "\r\n");
	return o.err ? o.err : (int)o.len;
}
