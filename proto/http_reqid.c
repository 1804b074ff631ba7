/*
 * Request ids of HTTP mode (proto/ layer), frontend key request_id =
 * HEADER-NAME. A request that carries exactly one such header with a sane
 * value (1 to 128 characters of A-Z a-z 0-9 . _ : -, so it can go into logs
 * and headers unescaped) keeps it; any other request gets a new id: 128
 * random bits as 32 lowercase hex characters. The id goes to the server in
 * that header (replacing whatever the client sent), into the access log,
 * and onto sluice's own error pages.
 *
 * Randomness: the kernel's CSPRNG (getrandom), drawn 4 KiB at a time into a
 * per-thread buffer, so a worker makes one getrandom call per 256 ids and
 * no id is ever derived from another. Each byte is used once.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "proto/http-i.h"
#include "proto/http_msg.h"

#define RAND_POOL 4096u

static __thread struct {
	uint8_t buf[RAND_POOL];
	uint32_t used;
	bool filled;
} rnd;

/* 16 bytes from the per-thread pool; false if getrandom failed (no id is
 * better than a predictable one). */
static bool take16(uint8_t out[16])
{
	if (!rnd.filled || rnd.used + 16 > RAND_POOL) {
		size_t got = 0;

		while (got < RAND_POOL) {
			ssize_t r = getrandom(rnd.buf + got, RAND_POOL - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return false;
			got += (size_t)r;
		}
		rnd.filled = true;
		rnd.used = 0;
	}
	memcpy(out, rnd.buf + rnd.used, 16);
	memset(rnd.buf + rnd.used, 0, 16); /* used once */
	rnd.used += 16;
	return true;
}

bool sl_http_reqid_sane(const char *v, uint32_t len)
{
	if (len == 0 || len > SL_HTTP_REQID_MAX)
		return false;
	for (uint32_t i = 0; i < len; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

int sl_http_reqid_new(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];

	if (!take16(b))
		return -EIO;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
	return 0;
}

void sl_http_reqid_ensure(struct http_msgs *m)
{
	if (!m->rid_len && sl_http_reqid_new(m->rid) == 0)
		m->rid_len = 32;
}

void sl_http_reqid_take(const struct sl_frontend_conf *fe, struct http_msgs *m,
			const struct sl_http_parser *r)
{
	int i = sl_http_find(r, fe->request_id, 0);

	m->rid_len = 0;
	if (i >= 0 && sl_http_find(r, fe->request_id, i + 1) < 0 &&
	    sl_http_reqid_sane(r->buf + r->hdrs[i].val_off, r->hdrs[i].val_len)) {
		m->rid_len = r->hdrs[i].val_len;
		memcpy(m->rid, r->buf + r->hdrs[i].val_off, m->rid_len);
		m->rid[m->rid_len] = 0;
		return;
	}
	sl_http_reqid_ensure(m);
}
