/*
 * Routing of http requests (proto/ layer): the backend of a parsed request
 * head, from the frontend's routes in order (host: the target's authority
 * in absolute-form, else the Host header, without port and
 * case-insensitively; path_prefix: the start of the target's path), else the
 * frontend's backend. The path is taken from the request-target the parser
 * checked, after proto/http.c normalised it (path_normalize, on by default:
 * proto/http_path.c rewrites the head), so it is byte for byte the path the
 * server is sent: what is routed is what is forwarded
 * (tests/fuzz/fuzz_request.c checks it). A Host differing from the
 * absolute-form authority was refused by the parser. Pure functions over a
 * parsed head; no I/O, no session.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "conf/conf-t.h"
#include "proto/http.h"
#include "proto/http-i.h"
#include "proto/http_msg.h"

/* Host (the target's authority in absolute-form, else the Host header)
 * without its port, compared case-insensitively with name. */
static bool host_matches(const struct sl_http_parser *r, const char *name)
{
	int i;
	uint32_t len, n = (uint32_t)strlen(name);
	const char *v = sl_http_authority(r, &len);

	if (!v) {
		i = sl_http_find(r, "host", 0);
		if (i < 0)
			return false;
		v = r->buf + r->hdrs[i].val_off;
		len = r->hdrs[i].val_len;
	}
	if (len && v[0] == '[') {
		const char *rb = memchr(v, ']', len);

		if (rb)
			len = (uint32_t)(rb - v) + 1;
	} else if (len) {
		const char *colon = memchr(v, ':', len);

		if (colon)
			len = (uint32_t)(colon - v);
	}
	return len == n && !strncasecmp(v, name, n);
}

/* The request target's path (query included): origin-form as is,
 * absolute-form from the end of the authority, "" for the other forms. The
 * request line was checked (one SP each side of the target), so this is
 * byte for byte the path the server is sent. */
void sl_http_get_path(const struct sl_http_parser *r, const char **path, uint32_t *len)
{
	const char *t, *a;
	uint32_t tl, al;

	sl_http_target(r, &t, &tl);
	*path = "";
	*len = 0;
	if (tl && t[0] == '/') {
		*path = t;
		*len = tl;
	} else if ((a = sl_http_authority(r, &al)) != NULL) {
		*path = a + al;
		*len = (uint32_t)(t + tl - (a + al));
	}
}

/* The backend for this request: the first matching route, else the
 * frontend's default. */
int sl_http_route(const struct sl_frontend_conf *fe, const struct sl_http_parser *r)
{
	const char *path;
	uint32_t plen;

	sl_http_get_path(r, &path, &plen);
	for (int i = 0; i < fe->nroutes; i++) {
		const struct sl_route_conf *rt = &fe->routes[i];
		size_t n = strlen(rt->match);

		if (rt->kind == SL_ROUTE_HOST ? host_matches(r, rt->match) :
		    plen >= n && !memcmp(path, rt->match, n))
			return rt->backend;
	}
	return fe->backend;
}
