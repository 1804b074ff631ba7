/*
 * HTTP/2 test client (see h2_util.h): an nghttp2 client session whose
 * frames go through a non-blocking socket, pumped with poll(2) under a
 * deadline; and helpers that write raw frames for flood tests.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/h2_util.h"
#include "tests/integration/harness.h"

static struct h2c_stream *find(struct h2c *c, int32_t id)
{
	for (int i = 0; i < c->n; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct h2c_stream *s = find(user, f->hd.stream_id);
	char v[8];

	(void)ng;
	(void)flags;
	if (s && nlen == 7 && !memcmp(name, ":status", 7) && vlen < sizeof(v)) {
		memcpy(v, value, vlen);
		v[vlen] = 0;
		s->status = atoi(v);
	}
	return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
		   void *user)
{
	struct h2c_stream *s = find(user, id);

	(void)ng;
	(void)flags;
	if (!s)
		return 0;
	if (s->body_len < sizeof(s->body) - 1) {
		size_t k = sizeof(s->body) - 1 - s->body_len;

		memcpy(s->body + s->body_len, p, n < k ? n : k);
	}
	s->body_hash = h_fnv1a(s->body_hash, p, n);
	s->body_len += n;
	return 0;
}

static int on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct h2c_stream *s = find(user, id);

	(void)ng;
	if (s) {
		s->closed = true;
		s->error = code;
	}
	return 0;
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2c *c = user;

	(void)ng;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		c->goaway_code = f->goaway.error_code;
		c->goaway_last = f->goaway.last_stream_id;
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct h2c_stream *s = src->ptr;
	uint64_t k = s->tx_len - s->tx_off;

	(void)ng;
	(void)id;
	(void)user;
	if (k > len)
		k = len;
	h_pattern(buf, (size_t)k, s->tx_off, s->tx_seed);
	s->tx_off += k;
	if (s->tx_off == s->tx_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)k;
}

void h2c_open(struct h2c *c, int port)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 } };

	memset(c, 0, sizeof(*c));
	c->fd = h_connect(port, 2000);
	cr_assert_geq(c->fd, 0, "connect: %s", strerror(-c->fd));
	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	cr_assert_eq(nghttp2_session_client_new(&c->ng, cb, c), 0);
	nghttp2_session_callbacks_del(cb);
	cr_assert_eq(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 1), 0);
}

void h2c_close(struct h2c *c)
{
	if (c->ng)
		nghttp2_session_del(c->ng);
	if (c->fd >= 0)
		close(c->fd);
	c->ng = NULL;
	c->fd = -1;
}

struct h2c_stream *h2c_stream(struct h2c *c, int i)
{
	cr_assert(i >= 0 && i < c->n);
	return &c->st[i];
}

int h2c_request(struct h2c *c, const char *method, const char *path, uint64_t body_len,
		uint32_t seed, bool no_len)
{
	char len[32];
	nghttp2_nv nv[5];
	int n = 0;
	struct h2c_stream *s;
	nghttp2_data_provider prd = { .read_callback = read_body };

#define NV(a, b) nv[n++] = (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), \
					 NGHTTP2_NV_FLAG_NONE }
	NV(":method", method);
	NV(":scheme", "http");
	NV(":authority", "test.local");
	NV(":path", path);
	snprintf(len, sizeof(len), "%llu", (unsigned long long)body_len);
	if (body_len && !no_len)
		NV("content-length", len);
#undef NV
	cr_assert_lt(c->n, H2C_MAX_STREAMS);
	s = &c->st[c->n];
	memset(s, 0, sizeof(*s));
	s->body_hash = H_FNV_INIT;
	s->tx_len = body_len;
	s->tx_seed = seed;
	prd.source.ptr = s;
	s->id = nghttp2_submit_request(c->ng, NULL, nv, (size_t)n, body_len ? &prd : NULL, NULL);
	cr_assert_gt(s->id, 0, "submit_request: %s", nghttp2_strerror(s->id));
	return c->n++;
}

int h2c_request_fields(struct h2c *c, const char *path, int nfields, size_t vlen)
{
	nghttp2_nv *nv = calloc((size_t)nfields + 4, sizeof(*nv));
	char (*names)[16] = calloc((size_t)nfields + 1, 16);
	char *value = malloc(vlen + 1);
	struct h2c_stream *s;
	int n = 0;

	cr_assert(nv && names && value);
	memset(value, 'v', vlen);
	value[vlen] = 0;
#define NV(a, b) nv[n++] = (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), \
					 NGHTTP2_NV_FLAG_NONE }
	NV(":method", "GET");
	NV(":scheme", "http");
	NV(":authority", "test.local");
	NV(":path", path);
	for (int i = 0; i < nfields; i++) {
		snprintf(names[i], 16, "x-f%03d", i);
		NV(names[i], value);
	}
#undef NV
	cr_assert_lt(c->n, H2C_MAX_STREAMS);
	s = &c->st[c->n];
	memset(s, 0, sizeof(*s));
	s->body_hash = H_FNV_INIT;
	s->id = nghttp2_submit_request(c->ng, NULL, nv, (size_t)n, NULL, NULL);
	cr_assert_gt(s->id, 0, "submit_request: %s", nghttp2_strerror(s->id));
	free(nv);
	free(names);
	free(value);
	return c->n++;
}

/* One round: send what nghttp2 has, then receive what came (waiting up to
 * wait_ms). Returns false once the connection is over. */
static bool round_trip(struct h2c *c, int wait_ms)
{
	const uint8_t *p;
	ssize_t n;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	uint8_t buf[65536];

	while ((n = nghttp2_session_mem_send(c->ng, &p)) > 0) {
		int rc = h_send_all(c->fd, p, (size_t)n, -1, 2000);

		if (rc < 0) {
			c->eof = true;
			return false;
		}
	}
	if (c->no_read) {
		poll(NULL, 0, wait_ms);
		return true;
	}
	if (poll(&pfd, 1, wait_ms) <= 0)
		return true;
	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		c->eof = true;
		return false;
	}
	c->rx_bytes += (uint64_t)n;
	if (nghttp2_session_mem_recv(c->ng, buf, (size_t)n) < 0) {
		c->eof = true;
		return false;
	}
	return true;
}

static bool all_closed(const struct h2c *c)
{
	for (int i = 0; i < c->n; i++)
		if (!c->st[i].closed)
			return false;
	return true;
}

int h2c_run(struct h2c *c, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	while (!all_closed(c)) {
		if (c->eof || !round_trip(c, 20))
			return 0;
		if (h_now_ms() > end)
			return -ETIMEDOUT;
	}
	round_trip(c, 0); /* the last WINDOW_UPDATEs and acks */
	return 0;
}

void h2c_pump(struct h2c *c, int ms)
{
	uint64_t end = h_now_ms() + (uint64_t)ms;

	do
		round_trip(c, ms ? 10 : 0);
	while (h_now_ms() < end && !c->eof);
}

/* ---- raw frames ---------------------------------------------------------------- */

void h2r_frame(uint8_t *buf, size_t cap, size_t *len, uint8_t type, uint8_t flags,
	       int32_t stream, const void *payload, size_t plen)
{
	uint8_t *p = buf + *len;

	cr_assert_leq(*len + 9 + plen, cap, "raw frame buffer too small");
	p[0] = (uint8_t)(plen >> 16);
	p[1] = (uint8_t)(plen >> 8);
	p[2] = (uint8_t)plen;
	p[3] = type;
	p[4] = flags;
	p[5] = (uint8_t)((uint32_t)stream >> 24) & 0x7f;
	p[6] = (uint8_t)((uint32_t)stream >> 16);
	p[7] = (uint8_t)((uint32_t)stream >> 8);
	p[8] = (uint8_t)stream;
	if (plen)
		memcpy(p + 9, payload, plen);
	*len += 9 + plen;
}

static size_t literal(uint8_t *out, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), k = 0;

	out[k++] = 0x00; /* literal without indexing, new name */
	out[k++] = (uint8_t)nl;
	memcpy(out + k, name, nl);
	k += nl;
	out[k++] = (uint8_t)vl;
	memcpy(out + k, value, vl);
	return k + vl;
}

size_t h2r_get_block(uint8_t *out, size_t cap, const char *path)
{
	size_t k = 0;

	cr_assert_gt(cap, 200 + strlen(path));
	k += literal(out + k, ":method", "GET");
	k += literal(out + k, ":scheme", "http");
	k += literal(out + k, ":authority", "test.local");
	k += literal(out + k, ":path", path);
	return k;
}

int h2r_open(int port)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	uint8_t buf[64];
	size_t len = sizeof(preface) - 1;
	int fd = h_connect(port, 2000);

	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	memcpy(buf, preface, len);
	h2r_frame(buf, sizeof(buf), &len, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	cr_assert_eq(h_send_all(fd, buf, len, -1, 2000), 0);
	return fd;
}

int h2r_wait_goaway(int fd, int timeout_ms, int *code)
{
	static uint8_t buf[1 << 20];
	size_t have = 0;
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	*code = -1;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		size_t off = 0;

		if (h_now_ms() > end)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		have += (size_t)n;
		while (have - off >= 9) {
			size_t plen = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) |
				      buf[off + 2];

			if (have - off < 9 + plen)
				break;
			if (buf[off + 3] == NGHTTP2_GOAWAY && plen >= 8)
				*code = (int)(((uint32_t)buf[off + 13] << 24) |
					      ((uint32_t)buf[off + 14] << 16) |
					      ((uint32_t)buf[off + 15] << 8) | buf[off + 16]);
			off += 9 + plen;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (have == sizeof(buf))
			have = 0;
	}
}
