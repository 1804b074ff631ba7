/* Health check verdicts: the http check request, response parsing with
 * llhttp, and the judgement of a probe from its steps' results on every
 * path (refused, reset, timeouts, garbage, early close, bad status). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "checks/check_http.h"
#include "conf/conf.h"

static const struct sl_check_conf http_cc = {
	.kind = SL_CHECK_HTTP, .method = "GET", .path = "/health",
	.expect_lo = 200, .expect_hi = 399, .interval_ms = 2000, .rise = 2, .fall = 3,
};

static struct sl_check_verdict judge(int connect, int send, int recv, bool timed_out,
				     const char *data)
{
	struct sl_check_steps st = {
		.http = true, .socket = 0, .connect = connect, .send = send,
		.recv = recv, .recv_timed_out = timed_out, .data = data,
	};
	struct sl_check_verdict v;

	sl_check_judge(&st, &http_cc, &v);
	return v;
}

/* Judges a complete exchange: data received then EOF. */
static struct sl_check_verdict judge_data(const char *data, bool timed_out)
{
	return judge(0, 60, (int)strlen(data), timed_out, data);
}

static const char *str(struct sl_check_verdict v)
{
	static char buf[128];

	return sl_check_verdict_str(&v, buf, sizeof(buf));
}

Test(check_http, writes_a_request_with_host_and_connection_close)
{
	struct sl_addr host;
	char buf[256];
	int n;

	cr_assert_eq(sl_conf_parse_addr("10.0.0.7:443", &host), 0);
	n = sl_check_http_request(buf, sizeof(buf), &http_cc, &host);
	cr_assert_str_eq(buf, "GET /health HTTP/1.1\r\nHost: 10.0.0.7:443\r\n"
			      "User-Agent: sluice-check\r\nAccept: */*\r\n"
			      "Connection: close\r\n\r\n");
	cr_assert_eq(n, (int)strlen(buf));
	cr_assert_eq(sl_check_http_request(buf, 40, &http_cc, &host), -ENOSPC);
}

Test(check_http, parses_status_once_the_head_is_complete)
{
	int status;

	cr_assert_eq(sl_check_http_parse("HTTP/1.1 200 OK\r\n\r\n", 19, &status),
		     SL_CHK_PARSE_DONE);
	cr_assert_eq(status, 200);
	const char *r = "HTTP/1.0 503 Service Unavailable\r\nServer: x\r\n"
			"Content-Length: 100\r\n\r\npartial body";

	cr_assert_eq(sl_check_http_parse(r, strlen(r), &status), SL_CHK_PARSE_DONE);
	cr_assert_eq(status, 503);
	cr_assert_eq(sl_check_http_parse("HTTP/1.1 204\r\n\r\n", 16, &status),
		     SL_CHK_PARSE_DONE);
	cr_assert_eq(status, 204);
}

Test(check_http, asks_for_more_while_the_head_is_incomplete)
{
	static const char *const partial[] = {
		"", "H", "HTTP/1.1 2", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n",
	};
	int status;

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		cr_assert_eq(sl_check_http_parse(partial[i], strlen(partial[i]), &status),
			     SL_CHK_PARSE_MORE, "'%s'", partial[i]);
}

Test(check_http, rejects_what_is_not_an_http_response)
{
	static const char *const bad[] = {
		"SSH-2.0-OpenSSH_9.2p1\r\n", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 OK\r\n\r\n", "\x16\x03\x01\x02\x00", "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
	};
	int status;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(sl_check_http_parse(bad[i], strlen(bad[i]), &status),
			     SL_CHK_PARSE_BAD, "'%s'", bad[i]);
}

Test(check_http, judges_connect_failures_as_layer_4)
{
	cr_assert_str_eq(str(judge(-ECONNREFUSED, -EPIPE, -ENOTCONN, false, "")), "L4 refused");
	cr_assert_str_eq(str(judge(-ECANCELED, -ECANCELED, -ENOTCONN, false, "")),
			 "L4 timeout");
	cr_assert_str_eq(str(judge(-ETIMEDOUT, -EPIPE, -ENOTCONN, false, "")), "L4 timeout");
	cr_assert_str_eq(str(judge(-ECONNRESET, -EPIPE, 0, false, "")), "L4 reset");
	cr_assert_str_eq(str(judge(-EHOSTUNREACH, -EPIPE, 0, false, "")),
			 "L4 error: No route to host");
	cr_assert_not(judge(-ECONNREFUSED, 0, 0, false, "").ok);
}

Test(check_http, judges_a_failed_socket_as_a_local_error)
{
	struct sl_check_steps st = { .http = false, .socket = -EMFILE, .connect = -EBADF };
	struct sl_check_verdict v;

	sl_check_judge(&st, &http_cc, &v);
	cr_assert_not(v.ok);
	cr_assert_str_eq(str(v), "L4 error: Too many open files");
}

Test(check_http, passes_a_tcp_check_on_connect)
{
	struct sl_check_steps st = { .http = false, .connect = 0 };
	struct sl_check_verdict v;

	sl_check_judge(&st, &http_cc, &v);
	cr_assert(v.ok);
	cr_assert_str_eq(str(v), "L4 OK");
}

Test(check_http, judges_statuses_against_check_expect)
{
	struct sl_check_verdict v = judge_data("HTTP/1.1 200 OK\r\n\r\n", false);

	cr_assert(v.ok);
	cr_assert_str_eq(str(v), "L7 OK 200");
	cr_assert(judge_data("HTTP/1.1 399 X\r\n\r\n", false).ok);
	v = judge_data("HTTP/1.1 500 Internal Server Error\r\n\r\n", false);
	cr_assert_not(v.ok);
	cr_assert_str_eq(str(v), "L7 bad status 500");
	cr_assert_not(judge_data("HTTP/1.1 199 X\r\n\r\n", false).ok);
	cr_assert_str_eq(str(judge_data("HTTP/1.1 400 X\r\n\r\n", false)), "L7 bad status 400");
}

Test(check_http, judges_garbage_and_early_close_as_bad_responses)
{
	cr_assert_str_eq(str(judge_data("SSH-2.0-OpenSSH\r\n", false)), "L7 bad response");
	/* closed before the end of the head, or before a word */
	cr_assert_str_eq(str(judge_data("HTTP/1.1 200 O", false)), "L7 bad response");
	cr_assert_str_eq(str(judge(0, 60, 0, false, "")), "L7 bad response");
}

Test(check_http, judges_silence_and_slowness_as_layer_7_timeouts)
{
	cr_assert_str_eq(str(judge(0, 60, -ECANCELED, true, "")), "L7 timeout");
	/* part of a head when time ran out */
	cr_assert_str_eq(str(judge_data("HTTP/1.1 200 OK\r\nSer", true)), "L7 timeout");
	/* the request could not even be sent in time */
	cr_assert_str_eq(str(judge(0, -ECANCELED, -ECANCELED, true, "")), "L7 timeout");
	/* a full answer that came just as the timer fired still counts */
	cr_assert(judge_data("HTTP/1.1 200 OK\r\n\r\n", true).ok);
}

Test(check_http, judges_resets_after_connect_as_layer_4_resets)
{
	cr_assert_str_eq(str(judge(0, 60, -ECONNRESET, false, "")), "L4 reset");
	cr_assert_str_eq(str(judge(0, -ECONNRESET, 0, false, "")), "L4 reset");
	cr_assert_str_eq(str(judge(0, -EPIPE, -ENOTCONN, false, "")), "L4 reset");
	/* data before the reset: judged by the data */
	cr_assert_str_eq(str(judge(0, 60, 19, false, "HTTP/1.1 503 X\r\n\r\n")),
			 "L7 bad status 503");
}
