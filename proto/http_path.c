/*
 * Request-target paths (proto/ layer): the RFC 3986 section 6 normal form
 * routing decides on, and the rewrite of a parsed head's request line to it,
 * so that the path a server is sent is the path that was routed. The path
 * part of an origin-form or absolute-form target is normalised: percent-
 * encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded, every
 * other percent-encoding keeps its byte and gets upper-case hex digits (so
 * %2F stays %2F and never becomes a separator), empty segments are merged
 * ("//" is "/") and dot segments removed (RFC 3986 5.2.4, never above the
 * root). The query is left as it is. A '%' not followed by two hex digits
 * makes the target invalid (400): servers would disagree on what it means.
 * Pure functions; no I/O.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "proto/http_msg.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Copy one segment (up to '/', '?' or the end) from p[*i] to p[*o],
 * decoding what is unreserved. Returns 0 or -EINVAL. Never writes ahead of
 * what it read, so it works in place. */
static int copy_segment(char *p, uint32_t len, uint32_t *i, uint32_t *o)
{
	static const char hex[] = "0123456789ABCDEF";

	while (*i < len && p[*i] != '/' && p[*i] != '?') {
		int hi, lo;

		if (p[*i] != '%') {
			p[(*o)++] = p[(*i)++];
			continue;
		}
		if (*i + 2 >= len || (hi = hexval(p[*i + 1])) < 0 ||
		    (lo = hexval(p[*i + 2])) < 0)
			return -EINVAL;
		*i += 3;
		if (unreserved((unsigned char)(hi * 16 + lo))) {
			p[(*o)++] = (char)(hi * 16 + lo);
		} else {
			p[(*o)++] = '%';
			p[(*o)++] = hex[hi];
			p[(*o)++] = hex[lo];
		}
	}
	return 0;
}

int sl_http_path_normalize(char *p, uint32_t len)
{
	uint32_t i = 0, o = 0, seg;
	bool trailing = false;

	if (!len || p[0] != '/')
		return (int)len; /* empty (absolute-form "http://a") or a query: as is */
	while (i < len && p[i] == '/') {
		i++;
		/* one segment: written as "/seg", then looked at */
		seg = o;
		p[o++] = '/';
		if (copy_segment(p, len, &i, &o) < 0)
			return -EINVAL;
		trailing = false;
		if (o - seg == 1) {
			o = seg;         /* empty: "//" merges, a last one is "/" */
			trailing = true;
		} else if (o - seg == 2 && p[seg + 1] == '.') {
			o = seg;         /* "." */
			trailing = true;
		} else if (o - seg == 3 && p[seg + 1] == '.' && p[seg + 2] == '.') {
			o = seg;         /* "..": drop the segment before too */
			while (o > 0 && p[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			trailing = true;
		}
	}
	if (trailing || o == 0)
		p[o++] = '/';
	/* the query (from '?'), untouched */
	memmove(p + o, p + i, len - i);
	return (int)(o + len - i);
}

/* The path of the target t (tl bytes): its offset in t and its length (up
 * to the end, query included). */
static void path_span(const char *t, uint32_t tl, uint32_t *off)
{
	uint32_t skip = 0, i;

	*off = 0;
	if (tl && t[0] == '/')
		return;
	if (tl > 7 && !strncasecmp(t, "http://", 7))
		skip = 7;
	else if (tl > 8 && !strncasecmp(t, "https://", 8))
		skip = 8;
	else {
		*off = tl; /* asterisk-form, authority-form: no path */
		return;
	}
	for (i = skip; i < tl && t[i] != '/' && t[i] != '?'; i++)
		;
	*off = i;
}

int sl_http_normalize_target(struct sl_http_parser *p)
{
	char *t = p->buf + p->target_off;
	uint32_t off, n, delta, end = p->target_off + p->target_len;
	int k;

	path_span(t, p->target_len, &off);
	k = sl_http_path_normalize(t + off, p->target_len - off);
	if (k < 0) {
		p->err_status = 400;
		p->err_reason = "invalid percent-encoding in the path";
		return -1;
	}
	n = off + (uint32_t)k;
	if (n == p->target_len)
		return 0;
	/* shorter: move the rest of the head down, headers follow */
	delta = p->target_len - n;
	memmove(p->buf + end - delta, p->buf + end, p->len - end);
	p->len -= delta;
	p->line_len -= delta;
	p->target_len = n;
	for (uint32_t h = 0; h < p->nhdrs; h++) {
		p->hdrs[h].name_off -= delta;
		p->hdrs[h].val_off -= delta;
	}
	return 1;
}
