/* Edge request semantics of proto/http_path.c and proto/http_msg.c: the
 * RFC 3986 normal form of paths (unreserved characters decoded, other
 * percent-encodings upper-cased and kept, %2F never a separator, dot
 * segments removed, slashes merged, the query untouched) and the rewrite of
 * a request line to it; any token method accepted and kept byte for byte,
 * whole or in pieces, and recorded as "other" when llhttp does not know it;
 * an absolute-form target whose authority differs from Host refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/http_msg.h"

static void norm(const char *in, const char *want)
{
	char buf[512];
	int n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = sl_http_path_normalize(buf, (uint32_t)strlen(buf));
	cr_assert(n >= 0, "'%s' refused", in);
	cr_assert(n <= (int)strlen(in), "'%s' grew", in);
	cr_assert(n == (int)strlen(want) && !memcmp(buf, want, (size_t)n),
		  "'%s' normalised to '%.*s', expected '%s'", in, n, buf, want);
	/* the normal form is a fixed point */
	n = sl_http_path_normalize(buf, (uint32_t)n);
	cr_assert(n == (int)strlen(want) && !memcmp(buf, want, (size_t)n),
		  "'%s' is not stable: '%.*s'", want, n, buf);
}

Test(http_path, merges_slashes)
{
	norm("//admin", "/admin");
	norm("/a//b///c", "/a/b/c");
	norm("///", "/");
	norm("/a/", "/a/");
	norm("/a//", "/a/");
}

Test(http_path, removes_dot_segments)
{
	norm("/./admin", "/admin");
	norm("/x/../admin", "/admin");
	norm("/a/b/../../admin/./x", "/admin/x");
	norm("/../../admin", "/admin");
	norm("/a/.", "/a/");
	norm("/a/..", "/");
	norm("/a/b/..", "/a/");
	norm("/.", "/");
	norm("/..", "/");
	norm("/...", "/...");
	norm("/a.b/..c/.d", "/a.b/..c/.d");
}

Test(http_path, decodes_unreserved_only)
{
	norm("/%61dmin", "/admin");
	norm("/%41%7a%30%2D%2e%5F%7E", "/Az0-._~");
	norm("/%2Fadmin", "/%2Fadmin");
	norm("/%2fadmin", "/%2Fadmin");
	norm("/a%3fb%20c", "/a%3Fb%20c");
	norm("/%00", "/%00");
	norm("/%ff", "/%FF");
}

Test(http_path, decoded_dots_are_dot_segments)
{
	norm("/%2e/admin", "/admin");
	norm("/x/%2E%2e/admin", "/admin");
	norm("/x/.%2e/admin", "/admin");
}

Test(http_path, encoded_slash_is_never_a_separator)
{
	norm("/x/..%2Fadmin", "/x/..%2Fadmin");
	norm("/x%2F..%2Fadmin", "/x%2F..%2Fadmin");
}

Test(http_path, query_is_left_as_it_is)
{
	norm("/a/../b?x=//./%61&y=%2f", "/b?x=//./%61&y=%2f");
	norm("/?a", "/?a");
	norm("//?a/../b", "/?a/../b");
}

Test(http_path, non_paths_are_left_as_they_are)
{
	norm("", "");
	norm("?q", "?q");
}

Test(http_path, bad_percent_encoding_is_refused)
{
	static const char *const bad[] = { "/%", "/%4", "/%zz", "/a%g1", "/%%41", "/x%2" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%s", bad[i]);
		cr_assert_eq(sl_http_path_normalize(buf, (uint32_t)strlen(buf)), -EINVAL,
			     "'%s' accepted", bad[i]);
	}
	/* a bad one in the query is not the path's business */
	norm("/a?%zz", "/a?%zz");
}

/* ---- heads ---------------------------------------------------------------- */

static enum sl_http_res feed(struct sl_http_parser *p, const char *s, bool bytewise)
{
	enum sl_http_res r = SL_HTTP_MORE;
	uint32_t used, n = (uint32_t)strlen(s);

	cr_assert_eq(sl_http_parser_init(p, false, 4096, 50), 0);
	if (!bytewise)
		return sl_http_feed_head(p, s, n, &used);
	for (uint32_t i = 0; i < n && r == SL_HTTP_MORE; i++)
		r = sl_http_feed_head(p, s + i, 1, &used);
	return r;
}

/* The head is accepted; once its target is normalised, the head built for
 * the next hop starts with line. */
static void forwarded_as(const char *req, const char *line, int method)
{
	static const struct sl_http_rewrite rw = { 0 };

	for (int b = 0; b < 2; b++) {
		struct sl_http_parser p;
		char out[4096];
		int n;
		enum sl_http_res r = feed(&p, req, b);

		cr_assert_eq(r, SL_HTTP_HEAD_DONE, "%s refused: %s", req, p.err_reason);
		cr_assert_eq(p.method, method, "%s: method %d, expected %d", req, p.method, method);
		cr_assert_geq(sl_http_normalize_target(&p), 0);
		n = sl_http_build_head(&p, &rw, out, sizeof(out));
		cr_assert_gt(n, 0);
		cr_assert(!strncmp(out, line, strlen(line)), "forwarded:\n%.*s\nexpected:\n%s", n,
			  out, line);
		/* headers survive the rewrite of the line */
		cr_assert(strstr(out, "\r\nHost: h\r\n") && strstr(out, "\r\nX-A: 1\r\n"),
			  "headers lost:\n%.*s", n, out);
		sl_http_parser_free(&p);
	}
}

static void refused(const char *req, const char *why)
{
	for (int b = 0; b < 2; b++) {
		struct sl_http_parser p;
		enum sl_http_res r = feed(&p, req, b);

		cr_assert_eq(r, SL_HTTP_ERROR, "%s accepted", req);
		cr_assert_eq(p.err_status, 400);
		cr_assert(strstr(p.err_reason, why), "%s: reason '%s', expected '%s'", req,
			  p.err_reason, why);
		sl_http_parser_free(&p);
	}
}

#define HDRS " HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"

Test(http_path, request_line_is_rewritten_to_the_normal_form)
{
	forwarded_as("GET //admin" HDRS, "GET /admin HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET /./admin" HDRS, "GET /admin HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET /%61dmin?q=%61" HDRS, "GET /admin?q=%61 HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET /x/../admin" HDRS, "GET /admin HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET /%2fadmin" HDRS, "GET /%2Fadmin HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET http://h/a/../b" HDRS, "GET http://h/b HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET http://h" HDRS, "GET http://h HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("OPTIONS *" HDRS, "OPTIONS * HTTP/1.1\r\n", HTTP_OPTIONS);
}

Test(http_path, bad_percent_encoding_in_a_target_is_400)
{
	struct sl_http_parser p;

	cr_assert_eq(feed(&p, "GET /a%zz" HDRS, false), SL_HTTP_HEAD_DONE);
	cr_assert_eq(sl_http_normalize_target(&p), -1);
	cr_assert_eq(p.err_status, 400);
	sl_http_parser_free(&p);
}

Test(http_path, any_token_method_is_kept)
{
	forwarded_as("QUERY /q" HDRS, "QUERY /q HTTP/1.1\r\n", SL_HTTP_METHOD_OTHER);
	forwarded_as("BREW /pot" HDRS, "BREW /pot HTTP/1.1\r\n", SL_HTTP_METHOD_OTHER);
	forwarded_as("get /" HDRS, "get / HTTP/1.1\r\n", SL_HTTP_METHOD_OTHER);
	forwarded_as("head /" HDRS, "head / HTTP/1.1\r\n", SL_HTTP_METHOD_OTHER);
	forwarded_as("X!#$%&'*+-.^_`|~1 /" HDRS, "X!#$%&'*+-.^_`|~1 / HTTP/1.1\r\n",
		     SL_HTTP_METHOD_OTHER);
	forwarded_as("GET /" HDRS, "GET / HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("M-SEARCH /" HDRS, "M-SEARCH / HTTP/1.1\r\n", HTTP_MSEARCH);
	forwarded_as("PATCH /" HDRS, "PATCH / HTTP/1.1\r\n", HTTP_PATCH);
}

Test(http_path, other_method_with_a_body_is_framed)
{
	struct sl_http_parser p;
	uint32_t used;
	const char *req = "QUERY /q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET";

	cr_assert_eq(sl_http_parser_init(&p, false, 4096, 50), 0);
	cr_assert_eq(sl_http_feed_head(&p, req, (uint32_t)strlen(req), &used), SL_HTTP_HEAD_DONE);
	cr_assert_eq(p.content_length, 3);
	cr_assert_eq(sl_http_feed_body(&p, req + used, (uint32_t)strlen(req + used), &used),
		     SL_HTTP_MSG_DONE);
	cr_assert_eq(used, 3);
	sl_http_parser_free(&p);
}

Test(http_path, method_that_is_not_a_token_is_400)
{
	refused("GE(T /" HDRS, "method");
	refused("GET@ /" HDRS, "method");
	refused("G\x80T /" HDRS, "method");
	refused(" GET /" HDRS, "method");
}

Test(http_path, authority_and_host_must_agree)
{
	forwarded_as("GET http://H/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n",
		     "GET http://H/x HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET http://h:80/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n",
		     "GET http://h:80/x HTTP/1.1\r\n", HTTP_GET);
	forwarded_as("GET https://h/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n",
		     "GET https://h/x HTTP/1.1\r\n", HTTP_GET);
	refused("GET http://admin.example/ HTTP/1.1\r\nHost: public.example\r\n\r\n",
		"Host differs");
	refused("GET http://h:8080/ HTTP/1.1\r\nHost: h\r\n\r\n", "Host differs");
	refused("GET https://h/ HTTP/1.1\r\nHost: h:80\r\n\r\n", "Host differs");
	refused("GET http://h/ HTTP/1.1\r\nHost: h.\r\n\r\n", "Host differs");
	refused("GET http://[::1]/ HTTP/1.1\r\nHost: [::2]\r\n\r\n", "Host differs");
	refused("GET http://h:x/ HTTP/1.1\r\nHost: h:x\r\n\r\n", "Host differs");
}
