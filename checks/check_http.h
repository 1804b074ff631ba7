/*
 * Health check verdicts (checks/ layer): the HTTP request an http check
 * sends, the parsing of its response with llhttp, and the judgement of one
 * probe from the results of its steps (connect, send, recv) into a verdict
 * and a reason such as "L4 refused" or "L7 bad status". Pure functions over
 * memory: no I/O, no clock, so that every path is unit-tested.
 */
#ifndef SL_CHECKS_CHECK_HTTP_H
#define SL_CHECKS_CHECK_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf-t.h"

enum sl_check_reason {
	SL_CHK_L4_OK = 0,        /* tcp check: connected */
	SL_CHK_L7_OK,            /* http check: a full response head, good status */
	SL_CHK_L4_REFUSED,
	SL_CHK_L4_RESET,
	SL_CHK_L4_TIMEOUT,       /* no connection within timeout_check */
	SL_CHK_L4_ERROR,         /* any other socket error, see err */
	SL_CHK_L7_TIMEOUT,       /* connected, no full response head in time */
	SL_CHK_L7_BAD_RESPONSE,  /* not HTTP, or closed before a full head */
	SL_CHK_L7_BAD_STATUS,    /* a status outside check_expect */
};

struct sl_check_verdict {
	bool ok;
	enum sl_check_reason reason;
	int status;    /* the response status when one was parsed, else 0 */
	int err;       /* SL_CHK_L4_ERROR: the errno */
};

/* The results (CQE res) of one probe's steps and what it received. */
struct sl_check_steps {
	bool http;           /* a request was sent (http check) */
	int socket;
	int connect;
	int send;
	int recv;            /* bytes received, or -errno */
	bool recv_timed_out; /* the recv's deadline fired */
	const char *data;    /* the bytes received (recv of them) */
};

enum sl_check_parse { SL_CHK_PARSE_DONE, SL_CHK_PARSE_MORE, SL_CHK_PARSE_BAD };

/* Write the request of an http check into buf (size n): METHOD PATH
 * HTTP/1.1 with Host (the server's address), User-Agent and Connection:
 * close. Returns its length, or -ENOSPC. */
int sl_check_http_request(char *buf, size_t n, const struct sl_check_conf *cc,
			  const struct sl_addr *host);

/* Parse the start of a response: DONE with *status once the status line and
 * every header are in (the body does not matter), MORE when the bytes end
 * before that, BAD when they are not an HTTP/1.x response. */
enum sl_check_parse sl_check_http_parse(const char *buf, size_t len, int *status);

/* Judge one probe. cc gives the expected statuses of an http check. */
void sl_check_judge(const struct sl_check_steps *st, const struct sl_check_conf *cc,
		    struct sl_check_verdict *v);

/* "L4 refused", "L7 bad status 500", "L4 error: No route to host" into buf
 * (size n); returns buf. */
const char *sl_check_verdict_str(const struct sl_check_verdict *v, char *buf, size_t n);

#endif
