/*
 * HTTP head rewriting for the next hop (proto/ layer). Drops the hop-by-hop
 * headers of RFC 9110 section 7.6.1 (Connection and every header it names,
 * Proxy-Connection, Keep-Alive, TE, Upgrade unless a tunnel is being set up),
 * merges X-Forwarded-For with the client address appended, replaces any
 * X-Forwarded-Proto (a client must not choose it), drops any
 * X-SSL-Client-Verify and X-SSL-Client-DN of a request (sluice's own, set
 * from a verified client certificate), and states Connection.
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

/* a string literal: its length is known at compile time */
#define PUTL(o, lit) put(o, lit, sizeof(lit) - 1)

/* The header names the rewrite cares about, told apart by length first: one
 * comparison per header instead of one per name. */
enum hname {
	HN_OTHER = 0, HN_CONNECTION, HN_PROXY_CONNECTION, HN_KEEP_ALIVE, HN_TE, HN_UPGRADE,
	HN_XFF, HN_XFP, HN_CONTENT_LENGTH, HN_TRANSFER_ENCODING, HN_HOST, HN_CLIENT_CERT,
};

static enum hname classify(const char *n, uint32_t len)
{
#define IS(lit) (!strncasecmp(n, lit, sizeof(lit) - 1))
	switch (len) {
	case 2:
		return IS("te") ? HN_TE : HN_OTHER;
	case 4:
		return IS("host") ? HN_HOST : HN_OTHER;
	case 7:
		return IS("upgrade") ? HN_UPGRADE : HN_OTHER;
	case 10:
		return IS("connection") ? HN_CONNECTION : IS("keep-alive") ? HN_KEEP_ALIVE :
		       HN_OTHER;
	case 14:
		return IS("content-length") ? HN_CONTENT_LENGTH : HN_OTHER;
	case 15:
		return IS("x-forwarded-for") ? HN_XFF : IS("x-ssl-client-dn") ? HN_CLIENT_CERT :
		       HN_OTHER;
	case 16:
		return IS("proxy-connection") ? HN_PROXY_CONNECTION : HN_OTHER;
	case 17:
		return IS("transfer-encoding") ? HN_TRANSFER_ENCODING :
		       IS("x-forwarded-proto") ? HN_XFP : HN_OTHER;
	case 19:
		return IS("x-ssl-client-verify") ? HN_CLIENT_CERT : HN_OTHER;
	default:
		return HN_OTHER;
	}
#undef IS
}

#define MAX_CONN_HDRS 16 /* Connection headers collected once per head (with
			  * more, every header is looked at again) */

/* Is header h named by a token of one of the Connection headers conn[]? */
static bool named_by_connection(const struct sl_http_parser *p, const struct sl_http_hdr *h,
				const uint32_t *conn, int nconn)
{
	for (int k = 0; k < nconn; k++) {
		const struct sl_http_hdr *c = &p->hdrs[conn[k]];
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

/* Should header h (named kind) be left out of the next hop's head? */
static bool dropped(const struct sl_http_parser *p, const struct sl_http_hdr *h,
		    enum hname kind, const struct sl_http_rewrite *rw, const uint32_t *conn,
		    int nconn)
{
	switch (kind) {
	case HN_CONNECTION:
	case HN_PROXY_CONNECTION:
	case HN_KEEP_ALIVE:
	case HN_TE:
		return true; /* hop-by-hop */
	case HN_UPGRADE:
		return !rw->keep_upgrade;
	case HN_XFF:
		if (rw->client_ip)
			return true; /* merged into ours */
		break;
	case HN_XFP:
		if (rw->proto)
			return true; /* a client must not choose it */
		break;
	case HN_CLIENT_CERT:
		if (!p->response)
			return true; /* only a verified certificate says that */
		break;
	case HN_CONTENT_LENGTH:
	case HN_TRANSFER_ENCODING:
	case HN_HOST:
		/* framing and routing headers are never dropped, whatever
		 * Connection says: dropping them would let a client change how
		 * the next hop frames the message (a smuggling vector) */
		return false;
	case HN_OTHER:
		break;
	}
	if (nconn == MAX_CONN_HDRS) {
		/* more Connection headers than collected: look at all of them */
		for (uint32_t i = 0; i < p->nhdrs; i++)
			if (classify(p->buf + p->hdrs[i].name_off, p->hdrs[i].name_len) ==
			    HN_CONNECTION && named_by_connection(p, h, &i, 1))
				return true;
		return false;
	}
	return nconn && named_by_connection(p, h, conn, nconn);
}

/* "name: value" and its CRLF; nothing when value is NULL. */
static void put_field(struct out *o, const char *name, const char *value)
{
	if (!value)
		return;
	puts0(o, name);
	PUTL(o, ": ");
	puts0(o, value);
	PUTL(o, "\r\n");
}

static void put_xff(struct out *o, const struct sl_http_parser *p, const char *client_ip)
{
	bool first = true;

	PUTL(o, "X-Forwarded-For: ");
	for (int i = sl_http_find(p, "x-forwarded-for", 0); i >= 0;
	     i = sl_http_find(p, "x-forwarded-for", i + 1)) {
		if (!p->hdrs[i].val_len)
			continue;
		if (!first)
			PUTL(o, ", ");
		put(o, p->buf + p->hdrs[i].val_off, p->hdrs[i].val_len);
		first = false;
	}
	if (!first)
		PUTL(o, ", ");
	puts0(o, client_ip);
	PUTL(o, "\r\n");
}

int sl_http_build_head(const struct sl_http_parser *p, const struct sl_http_rewrite *rw,
		       char *outbuf, uint32_t cap)
{
	struct out o = { .p = outbuf, .cap = cap };
	uint32_t conn[MAX_CONN_HDRS];
	uint32_t idn = rw->id_name ? (uint32_t)strlen(rw->id_name) : 0;
	int nconn = 0;

	if (p->response) {
		/* an intermediary sends its own version (RFC 9110 6.2) */
		const char *sp = memchr(p->buf, ' ', p->line_len);
		uint32_t skip = sp ? (uint32_t)(sp - p->buf) : 0;

		PUTL(&o, "HTTP/1.1");
		put(&o, p->buf + skip, p->line_len - skip);
	} else {
		put(&o, p->buf, p->line_len);
	}
	PUTL(&o, "\r\n");
	for (uint32_t i = 0; i < p->nhdrs && nconn < MAX_CONN_HDRS; i++)
		if (p->hdrs[i].name_len == 10 &&
		    classify(p->buf + p->hdrs[i].name_off, 10) == HN_CONNECTION)
			conn[nconn++] = i;
	for (uint32_t i = 0; i < p->nhdrs; i++) {
		const struct sl_http_hdr *h = &p->hdrs[i];

		if (dropped(p, h, classify(p->buf + h->name_off, h->name_len), rw, conn, nconn))
			continue;
		if (idn && h->name_len == idn && !strncasecmp(p->buf + h->name_off, rw->id_name, idn))
			continue; /* replaced by ours below */
		put(&o, p->buf + h->name_off, h->name_len);
		PUTL(&o, ": ");
		put(&o, p->buf + h->val_off, h->val_len);
		PUTL(&o, "\r\n");
	}
	if (rw->client_ip)
		put_xff(&o, p, rw->client_ip);
	put_field(&o, "X-Forwarded-Proto", rw->proto);
	put_field(&o, "X-SSL-Client-Verify", rw->cert_verify);
	put_field(&o, "X-SSL-Client-DN", rw->cert_dn);
	if (idn)
		put_field(&o, rw->id_name, rw->id_value);
	put_field(&o, "Connection", rw->connection);
	PUTL(&o, "\r\n");
	return o.err ? o.err : (int)o.len;
}
