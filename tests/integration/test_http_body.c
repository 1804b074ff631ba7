/*
 * http mode: bodies of 0 B, 1 B, 64 KiB and 100 MiB stream up (request) and
 * down (response), with Content-Length and chunked, checked by length and
 * FNV-1a hash at the other end; close-delimited downloads; several bodies
 * in a row over one keep-alive client connection.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

TestSuite(http_body, .init = h_setup, .fini = hu_teardown, .timeout = 60);

#define KIB 1024ULL
#define MIB (1024ULL * 1024)

static struct h_proxy *proxy1(struct hu_origin *o)
{
	int port = hu_origin_port(o);

	return hu_proxy_for(1, &port);
}

/* Sends one upload over c and checks both ends' view of it. */
static void upload_on(struct hu_cli *c, struct hu_origin *o, int idx, uint64_t len,
		      uint32_t seed, bool chunked)
{
	struct hu_rsp r;
	struct hu_conn_info ci;
	char head[256], want[128];
	uint64_t hash = h_pattern_hash(len, seed);
	int rc;

	if (chunked)
		snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n");
	else
		snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a\r\n"
			 "Content-Length: %" PRIu64 "\r\n\r\n", len);
	cr_assert_eq(hu_cli_send(c, head), 0);
	rc = hu_send_body(c, len, seed, chunked, 0);
	cr_assert_eq(rc, 0, "upload of %" PRIu64 " bytes: %s", len, strerror(-rc));
	rc = hu_read_rsp(c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "no response to an upload of %" PRIu64 " bytes: %s", len,
		     strerror(-rc));
	cr_assert_eq(r.status, 200, "%s", r.head);
	snprintf(want, sizeof(want), "POST /up %" PRIu64 " %016" PRIx64 "\n", len, hash);
	cr_assert_str_eq(r.body, want, "the server got another body (%s chunked)",
			 chunked ? "" : "not");
	hu_conn_get(o, idx, &ci);
	cr_assert(ci.req_complete);
	cr_assert_eq(ci.body_len, len);
	cr_assert_eq(ci.body_hash, hash);
	cr_assert(strstr(ci.raw, chunked ? "\r\nTransfer-Encoding: chunked\r\n" :
			 "\r\nContent-Length: "), "%.*s", (int)ci.head_len, ci.raw);
	hu_conn_info_free(&ci);
}

static void upload(uint64_t len, bool chunked)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	upload_on(&c, o, 0, len, 1000u + (uint32_t)(len & 0xffff), chunked);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

static void download_on(struct hu_cli *c, uint64_t len, uint32_t seed, const char *what)
{
	struct hu_rsp r;
	int rc;

	cr_assert_eq(hu_cli_send(c, "GET /down HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	rc = hu_read_rsp(c, &r, false, hu_io_to());
	cr_assert_eq(rc, 0, "%s download of %" PRIu64 " bytes: %s after %" PRIu64 " body bytes",
		     what, len, strerror(-rc), r.body_len);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, len, "%s download: %" PRIu64 " of %" PRIu64 " bytes", what,
		     r.body_len, len);
	cr_assert_eq(r.body_hash, h_pattern_hash(len, seed), "%s download: body differs", what);
}

static void download(uint64_t len, enum hu_act act)
{
	uint32_t seed = 2000u + (uint32_t)(len & 0xffff);
	struct hu_script sc = { .act = act, .len = len, .seed = seed, .chunk = 10000 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o);
	struct hu_cli c;
	const char *what = act == HU_ACT_CL ? "Content-Length" :
			   act == HU_ACT_CHUNKED ? "chunked" : "close-delimited";

	hu_cli_open(&c, p->port);
	download_on(&c, len, seed, what);
	if (act != HU_ACT_CLOSE) {
		/* the connection is still usable */
		download_on(&c, len, seed, what);
	}
	hu_cli_close(&c);
	h_proxy_finish(p);
}

Test(http_body, upload_0_bytes_content_length) { upload(0, false); }
Test(http_body, upload_1_byte_content_length) { upload(1, false); }
Test(http_body, upload_64_kib_content_length) { upload(64 * KIB, false); }
Test(http_body, upload_100_mib_content_length) { upload(100 * MIB, false); }
Test(http_body, upload_0_bytes_chunked) { upload(0, true); }
Test(http_body, upload_1_byte_chunked) { upload(1, true); }
Test(http_body, upload_64_kib_chunked) { upload(64 * KIB, true); }
Test(http_body, upload_100_mib_chunked) { upload(100 * MIB, true); }

Test(http_body, download_0_bytes_content_length) { download(0, HU_ACT_CL); }
Test(http_body, download_1_byte_content_length) { download(1, HU_ACT_CL); }
Test(http_body, download_64_kib_content_length) { download(64 * KIB, HU_ACT_CL); }
Test(http_body, download_100_mib_content_length) { download(100 * MIB, HU_ACT_CL); }
Test(http_body, download_0_bytes_chunked) { download(0, HU_ACT_CHUNKED); }
Test(http_body, download_1_byte_chunked) { download(1, HU_ACT_CHUNKED); }
Test(http_body, download_64_kib_chunked) { download(64 * KIB, HU_ACT_CHUNKED); }
Test(http_body, download_100_mib_chunked) { download(100 * MIB, HU_ACT_CHUNKED); }
Test(http_body, download_0_bytes_close_delimited) { download(0, HU_ACT_CLOSE); }
Test(http_body, download_100_mib_close_delimited) { download(100 * MIB, HU_ACT_CLOSE); }

Test(http_body, uploads_of_every_size_on_one_connection)
{
	static const uint64_t sizes[] = { 1, 64 * KIB, 3 * MIB, 64 * KIB - 1, 64 * KIB + 1, 17 };
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o);
	struct hu_cli c;

	hu_cli_open(&c, p->port);
	for (int i = 0; i < (int)(sizeof(sizes) / sizeof(sizes[0])); i++)
		upload_on(&c, o, i, sizes[i], 77u + (uint32_t)i, i % 2);
	hu_cli_close(&c);
	h_proxy_finish(p);
}

/* A download paced by the server, read by a client that pauses: the body
 * streams through the staging buffer in both cases. */
Test(http_body, slow_server_and_slow_client)
{
	const uint64_t len = 4 * MIB;
	struct hu_script sc = { .act = HU_ACT_CHUNKED, .len = len, .seed = 42, .chunk = 30000,
				.pause_ms = 5 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct h_proxy *p = proxy1(o);
	struct hu_cli c;
	struct hu_rsp r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /paced HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	h_sleep_ms(300); /* let the proxy's buffers toward us fill */
	cr_assert_eq(hu_read_rsp(&c, &r, false, hu_io_to()), 0);
	cr_assert_eq(r.body_len, len);
	cr_assert_eq(r.body_hash, h_pattern_hash(len, 42));
	hu_cli_close(&c);
	h_proxy_finish(p);
}
