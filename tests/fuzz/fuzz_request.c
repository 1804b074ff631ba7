/*
 * libFuzzer target: client request streams (proto/http_msg.c parse and
 * checks, proto/http_rewrite.c, proto/http_route.c). The first input byte
 * seeds the split points; the rest is what a client sends on one connection,
 * parsed as up to four pipelined requests like proto/http.c does. For every
 * head accepted:
 *  - fed in pieces it gives the result it gives fed whole;
 *  - at most one framing (never Content-Length with Transfer-Encoding);
 *  - the head rebuilt for the server re-parses, whole, to the same request:
 *    same request line byte for byte, method, version, framing, Host;
 *    exactly the Connection header the proxy set, no hop-by-hop header left,
 *    none of the client's X-SSL-Client-* headers;
 *  - the target is normalised as path_normalize = on does, and the
 *    forwarded one is normal already (normalising is idempotent);
 *  - the routing decision and path are the same on both heads, and the
 *    routing path is the path in the forwarded request line;
 *  - a Content-Length body ends exactly after that many bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/conf-t.h"
#include "proto/http.h"
#include "proto/http-i.h"
#include "proto/http_msg.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_HEAD 4096u
#define MAX_HDRS 32u

static struct sl_route_conf routes[3] = {
	{ .kind = SL_ROUTE_HOST, .match = "a.example", .backend = 1 },
	{ .kind = SL_ROUTE_PATH_PREFIX, .match = "/admin", .backend = 2 },
	{ .kind = SL_ROUTE_PATH_PREFIX, .match = "/", .backend = 3 },
};
static const struct sl_frontend_conf fe = { .routes = routes, .nroutes = 3, .backend = 0 };

static const struct sl_http_rewrite rw = {
	.client_ip = "192.0.2.1", .proto = "http", .connection = "close",
};

/* The path in a request line as a server reads it: the target between the
 * two spaces, after the authority in absolute-form. */
static void line_path(const char *line, uint32_t len, const char **path, uint32_t *plen)
{
	const char *sp1 = memchr(line, ' ', len), *t, *e, *a;

	FZ_CHECK(sp1, "no SP in the forwarded request line");
	t = sp1 + 1;
	e = memchr(t, ' ', (size_t)(line + len - t));
	FZ_CHECK(e && memchr(e + 1, ' ', (size_t)(line + len - e - 1)) == NULL,
		 "the forwarded request line has not exactly two SP");
	*path = "";
	*plen = 0;
	if (t < e && *t == '/') {
		*path = t;
		*plen = (uint32_t)(e - t);
		return;
	}
	a = NULL;
	if (e - t > 7 && !strncasecmp(t, "http://", 7))
		a = t + 7;
	else if (e - t > 8 && !strncasecmp(t, "https://", 8))
		a = t + 8;
	if (!a)
		return;
	while (a < e && *a != '/' && *a != '?')
		a++;
	*path = a;
	*plen = (uint32_t)(e - a);
}

static void same_request(const struct sl_http_parser *p, const char *out, uint32_t n)
{
	struct sl_http_parser q;
	const char *pp, *qp, *fp, *hv, *qv;
	uint32_t used, pl, ql, fl, hl = 0, ql2 = 0;
	enum sl_http_res r;

	sl_http_parser_init(&q, false, n + 1, 4 * MAX_HDRS);
	r = sl_http_feed_head(&q, out, n, &used);
	FZ_CHECK(r == SL_HTTP_HEAD_DONE, "the forwarded head does not re-parse: %d %s\n%.*s", r,
		 q.err_reason, (int)n, out);
	FZ_CHECK(used == n, "the forwarded head is %u bytes, re-parsed %u", n, used);
	FZ_CHECK(q.line_len == p->line_len && !memcmp(q.buf, p->buf, p->line_len),
		 "request line changed: '%.*s' -> '%.*s'", (int)p->line_len, p->buf,
		 (int)q.line_len, q.buf);
	FZ_CHECK(q.method == p->method && q.major == p->major && q.minor == p->minor,
		 "method or version changed");
	FZ_CHECK(sl_http_normalize_target(&q) == 0, "the forwarded target is not normal: '%.*s'",
		 (int)q.line_len, q.buf);
	FZ_CHECK(q.has_cl == p->has_cl && q.content_length == p->content_length &&
		 q.chunked == p->chunked && q.has_te == p->has_te, "framing changed");
	FZ_CHECK(!(q.has_cl && q.has_te), "two framings forwarded");
	hv = fz_header(p, "host", &hl);
	qv = fz_header(&q, "host", &ql2);
	FZ_CHECK((!hv && !qv) || (hv && qv && hl == ql2 && !memcmp(hv, qv, hl)), "Host changed");
	FZ_CHECK(fz_count(&q, "connection") == 1, "%d Connection headers forwarded",
		 fz_count(&q, "connection"));
	FZ_CHECK(fz_count(&q, "te") == 0 && fz_count(&q, "keep-alive") == 0 &&
		 fz_count(&q, "proxy-connection") == 0 && fz_count(&q, "upgrade") == 0,
		 "a hop-by-hop header was forwarded");
	FZ_CHECK(fz_count(&q, "x-ssl-client-dn") == 0 && fz_count(&q, "x-ssl-client-verify") == 0,
		 "a client's own X-SSL-Client-* header was forwarded");
	FZ_CHECK(sl_http_route(&fe, p) == sl_http_route(&fe, &q), "routing changed");
	sl_http_get_path(p, &pp, &pl);
	sl_http_get_path(&q, &qp, &ql);
	line_path(out, q.line_len, &fp, &fl);
	FZ_CHECK(pl == ql && !memcmp(pp, qp, pl), "routing path changed");
	FZ_CHECK(pl == fl && !memcmp(pp, fp, pl), "routed on '%.*s', forwarded '%.*s'", (int)pl,
		 pp, (int)fl, fp);
	sl_http_parser_free(&q);
}

/* One request at d; returns the bytes it took, 0 to stop. */
static size_t one_request(struct sl_http_parser *p, const char *d, size_t n, uint32_t seed)
{
	struct sl_http_parser s;
	enum sl_http_res r, rs;
	uint32_t used, used_s, bused;
	static char out[MAX_HEAD + 1024];
	int len;

	sl_http_parser_init(&s, false, MAX_HEAD, MAX_HDRS);
	r = fz_feed_head(p, d, n, 0, &used);
	rs = fz_feed_head(&s, d, n, seed | 1, &used_s);
	FZ_CHECK(r == rs, "whole %d, in pieces %d", r, rs);
	FZ_CHECK(r != SL_HTTP_HEAD_DONE || used == used_s, "head used %u whole, %u in pieces",
		 used, used_s);
	/* (which error is seen first may depend on the pieces: a header
	 * counted over max_headers (431) before the bad byte after it (400)) */
	sl_http_parser_free(&s);
	if (r != SL_HTTP_HEAD_DONE)
		return 0;
	FZ_CHECK(!(p->has_cl && p->has_te), "two framings accepted");
	FZ_CHECK(p->line_len > 0 && p->buf[0] != '\r', "empty request line");
	/* path_normalize = on (the default): routed and forwarded normalised */
	if (sl_http_normalize_target(p) < 0)
		return 0; /* 400 */
	len = sl_http_build_head(p, &rw, out, p->len + 512);
	FZ_CHECK(len > 0, "sl_http_build_head: %d", len);
	same_request(p, out, (uint32_t)len);
	if (p->method == HTTP_CONNECT || p->upgrade)
		return 0; /* refused (405) or a tunnel: no next message */
	r = fz_feed_body(p, d + used, n - used, seed, &bused);
	if (r != SL_HTTP_MSG_DONE)
		return 0;
	FZ_CHECK(!p->has_cl || p->chunked || bused == p->content_length,
		 "Content-Length %llu, body ended after %u", (unsigned long long)p->content_length,
		 bused);
	return used + bused;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_http_parser p;
	const char *d = (const char *)data + 1;
	size_t n, off = 0;

	if (size < 1)
		return 0;
	n = size - 1;
	sl_http_parser_init(&p, false, MAX_HEAD, MAX_HDRS);
	for (int i = 0; i < 4 && off < n; i++) {
		size_t k = one_request(&p, d + off, n - off, data[0] + 1u);

		if (!k)
			break;
		off += k;
		sl_http_next(&p);
	}
	sl_http_parser_free(&p);
	return 0;
}
