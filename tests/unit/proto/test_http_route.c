/* Routing of http requests: routes are checked in order, host routes match
 * the Host header without its port and case-insensitively, path_prefix
 * routes match the start of the path (origin or absolute form), and the
 * frontend's backend is the fallback. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/http.h"
#include "proto/http_msg.h"

static struct sl_route_conf routes[3];
static struct sl_frontend_conf fe;
static struct sl_http_parser p;

static void setup(void)
{
	memset(routes, 0, sizeof(routes));
	memset(&fe, 0, sizeof(fe));
	routes[0].kind = SL_ROUTE_HOST;
	strcpy(routes[0].match, "api.example.com");
	routes[0].backend = 1;
	routes[1].kind = SL_ROUTE_PATH_PREFIX;
	strcpy(routes[1].match, "/static/");
	routes[1].backend = 2;
	routes[2].kind = SL_ROUTE_HOST;
	strcpy(routes[2].match, "[::1]");
	routes[2].backend = 3;
	fe.routes = routes;
	fe.nroutes = 3;
	fe.backend = 0;
}

static int route_of(const char *head)
{
	uint32_t used;
	int be;

	sl_http_parser_init(&p, false, 4096, 50);
	cr_assert_eq(sl_http_feed_head(&p, head, (uint32_t)strlen(head), &used),
		     SL_HTTP_HEAD_DONE, "head refused: %s", p.err_reason);
	be = sl_http_route(&fe, &p);
	sl_http_parser_free(&p);
	return be;
}

TestSuite(http_route, .init = setup);

Test(http_route, host_route_matches_without_port_and_case)
{
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: API.example.com:8080\r\n\r\n"), 1);
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), 1);
}

Test(http_route, host_route_needs_the_whole_name)
{
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: xapi.example.com\r\n\r\n"), 0);
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: api.example.com.evil\r\n\r\n"), 0);
}

Test(http_route, path_prefix_matches_origin_and_absolute_form)
{
	cr_assert_eq(route_of("GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n"), 2);
	cr_assert_eq(route_of("GET http://a/static/x HTTP/1.1\r\nHost: a\r\n\r\n"), 2);
	cr_assert_eq(route_of("GET /staticx HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

Test(http_route, first_matching_route_wins)
{
	cr_assert_eq(route_of("GET /static/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), 1);
}

Test(http_route, ipv6_literal_host_keeps_brackets)
{
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"), 3);
	cr_assert_eq(route_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 3);
}

Test(http_route, no_match_falls_back_to_default_backend)
{
	cr_assert_eq(route_of("GET /x HTTP/1.1\r\nHost: other\r\n\r\n"), 0);
}
