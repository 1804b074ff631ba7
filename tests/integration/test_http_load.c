/*
 * http mode under concurrency: many keep-alive clients at once, each sending
 * a mix of bodiless, Content-Length and chunked requests (some pipelined),
 * over two workers and two servers; every answer is checked against what
 * was sent, and the proxy's fds come back to their baseline.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_load, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define NCLIENTS 24
#define NREQ 25

struct client {
	pthread_t thr;
	int port, id;
	int done;
	char err[256];
};

static uint64_t body_size(int id, int i)
{
	static const uint64_t sizes[] = { 0, 1, 100, 4095, 16384, 65536, 65537, 200000 };

	return sizes[(unsigned)(id * 7 + i * 3) % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct hu_cli c = { .fd = -1 };
	int rc = 0;

	c.fd = h_connect(cl->port, hu_io_to());
	if (c.fd < 0) {
		snprintf(cl->err, sizeof(cl->err), "connect: %s", strerror(-c.fd));
		return NULL;
	}
	c.cap = 128 * 1024;
	c.buf = malloc(c.cap);
	for (int i = 0; i < NREQ && !rc; i++) {
		uint64_t len = body_size(cl->id, i);
		uint32_t seed = (uint32_t)(cl->id * 1000 + i);
		int kind = (cl->id + i) % 3; /* 0: GET, 1: CL, 2: chunked */
		bool pipe2 = i % 5 == 4;   /* a GET pipelined behind it */
		char head[256], want[160];
		struct hu_rsp r;

		if (kind == 0)
			snprintf(head, sizeof(head), "GET /c%d/%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 cl->id, i);
		else if (kind == 1)
			snprintf(head, sizeof(head), "POST /c%d/%d HTTP/1.1\r\nHost: a\r\n"
				 "Content-Length: %" PRIu64 "\r\n\r\n", cl->id, i, len);
		else
			snprintf(head, sizeof(head), "POST /c%d/%d HTTP/1.1\r\nHost: a\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n", cl->id, i);
		rc = hu_cli_send(&c, head);
		if (!rc && kind)
			rc = hu_send_body(&c, len, seed, kind == 2, kind == 2 ? 3000 : 0);
		if (!rc && pipe2)
			rc = hu_cli_send(&c, "GET /pipelined HTTP/1.1\r\nHost: a\r\n\r\n");
		if (rc) {
			snprintf(cl->err, sizeof(cl->err), "request %d: send: %s", i, strerror(-rc));
			break;
		}
		rc = hu_read_rsp(&c, &r, false, hu_io_to());
		if (kind)
			snprintf(want, sizeof(want), "POST /c%d/%d %" PRIu64 " %016" PRIx64 "\n",
				 cl->id, i, len, h_pattern_hash(len, seed));
		else
			snprintf(want, sizeof(want), "GET /c%d/%d 0 %016" PRIx64 "\n", cl->id, i,
				 (uint64_t)H_FNV_INIT);
		if (rc || r.status != 200 || strcmp(r.body, want)) {
			snprintf(cl->err, sizeof(cl->err), "request %d: rc %d status %d body %.60s, "
				 "wanted %.60s", i, rc, r.status, r.body, want);
			rc = -1;
			break;
		}
		if (pipe2) {
			rc = hu_read_rsp(&c, &r, false, hu_io_to());
			if (rc || strncmp(r.body, "GET /pipelined 0 ", 17)) {
				snprintf(cl->err, sizeof(cl->err), "pipelined after %d: rc %d %.60s",
					 i, rc, r.body);
				rc = -1;
			}
		}
	}
	if (!rc)
		cl->done = 1;
	close(c.fd);
	free(c.buf);
	return NULL;
}

Test(http_load, concurrent_keep_alive_clients_get_their_own_answers)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *a = hu_origin_start(&sc);
	struct hu_origin *b = hu_origin_start(&sc);
	struct hu_conf conf = { .workers = 2, .nservers = 2 };
	struct h_proxy *p;
	static struct client cl[NCLIENTS];
	int ok = 0, total;

	conf.server_port[0] = hu_origin_port(a);
	conf.server_port[1] = hu_origin_port(b);
	p = hu_proxy_start(&conf);
	for (int i = 0; i < NCLIENTS; i++) {
		cl[i].port = p->port;
		cl[i].id = i;
		cr_assert(pthread_create(&cl[i].thr, NULL, client_main, &cl[i]) == 0);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		pthread_join(cl[i].thr, NULL);
		ok += cl[i].done;
		if (!cl[i].done)
			cr_log_error("client %d: %s", i, cl[i].err);
	}
	cr_assert_eq(ok, NCLIENTS, "%d of %d clients failed (see above)", NCLIENTS - ok,
		     NCLIENTS);
	total = hu_origin_accepted(a) + hu_origin_accepted(b);
	cr_assert_eq(total, NCLIENTS * (NREQ + NREQ / 5),
		     "%d server connections for %d requests", total, NCLIENTS * (NREQ + NREQ / 5));
	cr_assert(abs(hu_origin_accepted(a) - hu_origin_accepted(b)) <= 2,
		  "unbalanced: %d and %d", hu_origin_accepted(a), hu_origin_accepted(b));
	h_proxy_finish(p);
}
