/*
 * Health check verdicts (checks/ layer): the http check request, response
 * parsing with llhttp and the judgement of one probe (see check_http.h).
 * A probe's steps are hard-linked, so each of them ran and reported a
 * result even after an earlier one failed: the first failure that explains
 * the others decides the reason (a refused connect makes the send and recv
 * fail too, and it is the connect that is reported).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <llhttp.h>

#include "checks/check_http.h"
#include "conf/conf.h"

int sl_check_http_request(char *buf, size_t n, const struct sl_check_conf *cc,
			  const struct sl_addr *host)
{
	char h[80];
	int len;

	len = snprintf(buf, n, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-check\r\n"
		       "Accept: */*\r\nConnection: close\r\n\r\n", cc->method, cc->path,
		       sl_conf_addr_str(host, h, sizeof(h)));
	if (len < 0 || (size_t)len >= n)
		return -ENOSPC;
	return len;
}

/* The head is all a check needs: stop there, whatever the body is. */
static int on_headers_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

enum sl_check_parse sl_check_http_parse(const char *buf, size_t len, int *status)
{
	static const llhttp_settings_t settings = {
		.on_headers_complete = on_headers_complete,
	};
	llhttp_t parser;
	llhttp_errno_t rc;

	*status = 0;
	llhttp_init(&parser, HTTP_RESPONSE, &settings);
	rc = llhttp_execute(&parser, buf, len);
	if (rc == HPE_PAUSED) {
		*status = llhttp_get_status_code(&parser);
		return SL_CHK_PARSE_DONE;
	}
	return rc == HPE_OK ? SL_CHK_PARSE_MORE : SL_CHK_PARSE_BAD;
}

/* A failed socket step. timeout_reason: which timeout this step means. */
static void socket_error(int res, enum sl_check_reason timeout_reason,
			 struct sl_check_verdict *v)
{
	switch (-res) {
	case ECONNREFUSED:
		v->reason = SL_CHK_L4_REFUSED;
		break;
	case ECONNRESET:
	case EPIPE:
		v->reason = SL_CHK_L4_RESET;
		break;
	case ECANCELED: /* its link timeout fired */
	case ETIMEDOUT:
	case ETIME:
		v->reason = timeout_reason;
		break;
	default:
		v->reason = SL_CHK_L4_ERROR;
		v->err = -res;
		break;
	}
}

static void judge_response(const struct sl_check_steps *st, const struct sl_check_conf *cc,
			   struct sl_check_verdict *v)
{
	switch (sl_check_http_parse(st->data, (size_t)st->recv, &v->status)) {
	case SL_CHK_PARSE_DONE:
		v->ok = v->status >= cc->expect_lo && v->status <= cc->expect_hi;
		v->reason = v->ok ? SL_CHK_L7_OK : SL_CHK_L7_BAD_STATUS;
		break;
	case SL_CHK_PARSE_MORE:
		/* an incomplete head: slow if time ran out, else the server
		 * closed early or sent a head larger than we read */
		v->reason = st->recv_timed_out ? SL_CHK_L7_TIMEOUT : SL_CHK_L7_BAD_RESPONSE;
		v->status = 0;
		break;
	case SL_CHK_PARSE_BAD:
		v->reason = SL_CHK_L7_BAD_RESPONSE;
		v->status = 0;
		break;
	}
}

void sl_check_judge(const struct sl_check_steps *st, const struct sl_check_conf *cc,
		    struct sl_check_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (st->socket < 0) {
		v->reason = SL_CHK_L4_ERROR;
		v->err = -st->socket;
	} else if (st->connect < 0) {
		socket_error(st->connect, SL_CHK_L4_TIMEOUT, v);
	} else if (!st->http) {
		v->ok = true;
		v->reason = SL_CHK_L4_OK;
	} else if (st->recv > 0) {
		judge_response(st, cc, v);
	} else if (st->send < 0) {
		socket_error(st->send, SL_CHK_L7_TIMEOUT, v);
	} else if (st->recv == 0) {
		v->reason = SL_CHK_L7_BAD_RESPONSE; /* closed without a word */
	} else {
		socket_error(st->recv, SL_CHK_L7_TIMEOUT, v);
	}
}

const char *sl_check_verdict_str(const struct sl_check_verdict *v, char *buf, size_t n)
{
	static const char *const names[] = {
		[SL_CHK_L4_OK] = "L4 OK",
		[SL_CHK_L7_OK] = "L7 OK",
		[SL_CHK_L4_REFUSED] = "L4 refused",
		[SL_CHK_L4_RESET] = "L4 reset",
		[SL_CHK_L4_TIMEOUT] = "L4 timeout",
		[SL_CHK_L4_ERROR] = "L4 error",
		[SL_CHK_L7_TIMEOUT] = "L7 timeout",
		[SL_CHK_L7_BAD_RESPONSE] = "L7 bad response",
		[SL_CHK_L7_BAD_STATUS] = "L7 bad status",
	};

	if (v->reason == SL_CHK_L4_ERROR)
		snprintf(buf, n, "%s: %s", names[v->reason], strerror(v->err));
	else if (v->status)
		snprintf(buf, n, "%s %d", names[v->reason], v->status);
	else
		snprintf(buf, n, "%s", names[v->reason]);
	return buf;
}
