/* Request ids (request_id): which incoming values are kept, what a new id
 * looks like, which one a parsed request gets, and how the head for the
 * server carries it (every incoming copy replaced by one). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "proto/http-i.h"
#include "proto/http_msg.h"

static struct sl_http_parser p;

static void parse(const char *head)
{
	uint32_t used;

	sl_http_parser_init(&p, false, 8192, 50);
	cr_assert_eq(sl_http_feed_head(&p, head, (uint32_t)strlen(head), &used),
		     SL_HTTP_HEAD_DONE, "head refused: %s", p.err_reason);
}

static void fini(void)
{
	sl_http_parser_free(&p);
}

TestSuite(reqid, .fini = fini);

static bool hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[32] == 0;
}

Test(reqid, sane_values_are_short_tokens)
{
	char big[SL_HTTP_REQID_MAX + 2];

	cr_assert(sl_http_reqid_sane("a", 1));
	cr_assert(sl_http_reqid_sane("Abc-123.def:4_5", 15));
	cr_assert(sl_http_reqid_sane("0f8fad5b-d9cb-469f-a165-70867728950e", 36));
	cr_assert_not(sl_http_reqid_sane("", 0));
	cr_assert_not(sl_http_reqid_sane("a b", 3));
	cr_assert_not(sl_http_reqid_sane("a\"b", 3));
	cr_assert_not(sl_http_reqid_sane("a/b", 3));
	cr_assert_not(sl_http_reqid_sane("a\x01", 2));
	memset(big, 'x', sizeof(big));
	cr_assert(sl_http_reqid_sane(big, SL_HTTP_REQID_MAX));
	cr_assert_not(sl_http_reqid_sane(big, SL_HTTP_REQID_MAX + 1));
}

Test(reqid, new_ids_are_32_hex_and_distinct)
{
	static char ids[1000][33];

	/* more than one 4 KiB draw of randomness */
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(sl_http_reqid_new(ids[i]), 0);
		cr_assert(hex32(ids[i]), "%s", ids[i]);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j]);
	}
}

Test(reqid, a_request_keeps_one_sane_id_else_gets_a_new_one)
{
	struct sl_frontend_conf fe = { .request_id = "X-Request-ID" };
	struct http_msgs m = { 0 };

	parse("GET / HTTP/1.1\r\nHost: a\r\nx-request-id: trace-1\r\n\r\n");
	sl_http_reqid_take(&fe, &m, &p);
	cr_assert_str_eq(m.rid, "trace-1");
	cr_assert_eq(m.rid_len, 7);
	sl_http_parser_free(&p);
	parse("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: a\r\nX-Request-ID: b\r\n\r\n");
	sl_http_reqid_take(&fe, &m, &p);
	cr_assert(hex32(m.rid), "%s", m.rid);
	sl_http_parser_free(&p);
	parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	sl_http_reqid_take(&fe, &m, &p);
	cr_assert(hex32(m.rid), "%s", m.rid);
	/* ensure keeps an id already there */
	{
		char before[33];

		memcpy(before, m.rid, 33);
		sl_http_reqid_ensure(&m);
		cr_assert_str_eq(m.rid, before);
	}
}

Test(reqid, head_for_the_server_carries_exactly_one_id)
{
	struct sl_http_rewrite rw = { .id_name = "X-Request-ID", .id_value = "new-1" };
	char out[1024];
	int n;

	parse("GET / HTTP/1.1\r\nHost: a\r\nx-request-id: bad id\r\nAccept: */*\r\n"
	      "X-REQUEST-ID: two\r\n\r\n");
	n = sl_http_build_head(&p, &rw, out, sizeof(out) - 1);
	cr_assert(n > 0);
	out[n] = 0;
	cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"
			 "X-Request-ID: new-1\r\n\r\n");
}
