/*
 * HTTP helpers for the integration tests (tests/ layer), see http_util.h.
 * The origin is a harness origin whose handler is ours: it finds its script
 * and its records through a small registry keyed by the harness origin.
 * Every blocking call has a timeout and gives up when the origin stops.
 */
#include "tests/integration/http_util.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define ORIGIN_IO_MS 15000
#define RDBUF (128 * 1024)
#define MAX_ORIGINS 16

struct hu_rec {
	char *raw;
	size_t raw_len;
	uint64_t total;
	size_t head_len;
	bool req_complete;
	uint64_t body_len, body_hash;
	size_t pre_101;
	int end;
	bool done;
	bool used;
	uint64_t t_accept, t_request, t_answered, t_end;
	int pp_version;
	bool pp_local;
	size_t pp_len;
	char pp_src[64], pp_dst[64];
};

struct hu_origin {
	struct h_origin *o;
	struct hu_script sc;
	struct hu_script odd;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hu_rec recs[HU_MAX_CONNS];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hu_origin *g_reg[MAX_ORIGINS];
static int g_nreg;

/* Buffers handed to the test (client buffers, record copies): freed by
 * their owner, or by hu_teardown when an assertion ended the test first. */
#define MAX_TRACKED 1024
static void *g_tracked[MAX_TRACKED];

static void *track(void *ptr)
{
	pthread_mutex_lock(&g_mu);
	for (int i = 0; ptr && i < MAX_TRACKED; i++)
		if (!g_tracked[i]) {
			g_tracked[i] = ptr;
			break;
		}
	pthread_mutex_unlock(&g_mu);
	return ptr;
}

static void untrack_free(void *ptr)
{
	if (!ptr)
		return;
	pthread_mutex_lock(&g_mu);
	for (int i = 0; i < MAX_TRACKED; i++)
		if (g_tracked[i] == ptr) {
			g_tracked[i] = NULL;
			break;
		}
	pthread_mutex_unlock(&g_mu);
	free(ptr);
}

int hu_io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

void hu_teardown(void)
{
	h_teardown(); /* stops the origins: no handler runs after this */
	pthread_mutex_lock(&g_mu);
	for (int i = 0; i < g_nreg; i++) {
		struct hu_origin *ho = g_reg[i];

		for (int k = 0; k < HU_MAX_CONNS; k++)
			free(ho->recs[k].raw);
		pthread_mutex_destroy(&ho->mu);
		pthread_cond_destroy(&ho->cv);
		free(ho);
	}
	g_nreg = 0;
	for (int i = 0; i < MAX_TRACKED; i++) {
		free(g_tracked[i]);
		g_tracked[i] = NULL;
	}
	pthread_mutex_unlock(&g_mu);
}

static struct hu_origin *lookup(struct h_origin *o)
{
	for (int tries = 0; tries < 1000; tries++) {
		pthread_mutex_lock(&g_mu);
		for (int i = 0; i < g_nreg; i++)
			if (g_reg[i]->o == o) {
				struct hu_origin *ho = g_reg[i];

				pthread_mutex_unlock(&g_mu);
				return ho;
			}
		pthread_mutex_unlock(&g_mu);
		h_sleep_ms(2);
	}
	return NULL;
}

/* ---- origin connection I/O ------------------------------------------------ */

struct rd {
	struct h_conn *c;
	struct hu_origin *ho;
	struct hu_rec *rec;
	char *buf;
	size_t off, len;
};

static int wait_ev(int fd, short ev, int stopfd, int timeout_ms)
{
	struct pollfd p[2] = { { fd, ev, 0 }, { stopfd, POLLIN, 0 } };
	int r;

	do {
		r = poll(p, stopfd >= 0 ? 2 : 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (stopfd >= 0 && p[1].revents)
		return -ECANCELED;
	return 0;
}

static void rec_set_end(struct rd *r, int end)
{
	pthread_mutex_lock(&r->ho->mu);
	if (r->rec->end == 1) {
		r->rec->end = end;
		r->rec->t_end = h_now_ms();
	}
	pthread_cond_broadcast(&r->ho->cv);
	pthread_mutex_unlock(&r->ho->mu);
}

/* Receives more bytes into the buffer (recorded). >0, 0 on EOF, -errno. */
static int rd_fill(struct rd *r, int timeout_ms)
{
	ssize_t n;

	if (r->off == r->len)
		r->off = r->len = 0;
	if (r->len == RDBUF) {
		if (r->off == 0)
			return -ENOSPC;
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	for (;;) {
		int w;

		n = recv(r->c->fd, r->buf + r->len, RDBUF - r->len, MSG_DONTWAIT);
		if (n >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			n = -errno;
			break;
		}
		w = wait_ev(r->c->fd, POLLIN, r->c->stopfd, timeout_ms);
		if (w < 0)
			return w;
	}
	if (n <= 0) {
		rec_set_end(r, (int)n);
		return (int)n;
	}
	pthread_mutex_lock(&r->ho->mu);
	if (r->rec->raw_len < HU_RAW_CAP) {
		size_t k = (size_t)n;

		if (k > HU_RAW_CAP - r->rec->raw_len)
			k = HU_RAW_CAP - r->rec->raw_len;
		memcpy(r->rec->raw + r->rec->raw_len, r->buf + r->len, k);
		r->rec->raw_len += k;
	}
	r->rec->total += (uint64_t)n;
	pthread_cond_broadcast(&r->ho->cv);
	pthread_mutex_unlock(&r->ho->mu);
	r->len += (size_t)n;
	return (int)n;
}

static int send_all(struct rd *r, const void *p, size_t n)
{
	return h_send_all(r->c->fd, p, n, r->c->stopfd, ORIGIN_IO_MS);
}

/* A line ending in CRLF from the buffer (without it, NUL-terminated in out). */
static int rd_line(struct rd *r, char *out, size_t cap)
{
	for (;;) {
		char *s = r->buf + r->off;
		char *e = memmem(s, r->len - r->off, "\r\n", 2);

		if (e) {
			size_t l = (size_t)(e - s);

			if (l >= cap)
				return -E2BIG;
			memcpy(out, s, l);
			out[l] = 0;
			r->off += l + 2;
			return 0;
		}
		int n = rd_fill(r, ORIGIN_IO_MS);

		if (n <= 0)
			return n ? n : -EPIPE;
	}
}

/* Consumes n body bytes, hashing them. */
static int rd_body(struct rd *r, uint64_t n, uint64_t *len, uint64_t *hash)
{
	while (n) {
		size_t have = r->len - r->off, k;

		if (!have) {
			int f = rd_fill(r, ORIGIN_IO_MS);

			if (f <= 0)
				return f ? f : -EPIPE;
			continue;
		}
		k = have < n ? have : (size_t)n;
		*hash = h_fnv1a(*hash, r->buf + r->off, k);
		*len += k;
		r->off += k;
		n -= k;
	}
	return 0;
}

/* Value of header `name` in a head (NUL-terminated), copied to out. */
static bool head_value(const char *head, const char *name, char *out, size_t n)
{
	const char *line = strstr(head, "\r\n");
	size_t nl = strlen(name);

	while (line && line[2] && !(line[2] == '\r' && line[3] == '\n')) {
		const char *s = line + 2, *e = strstr(s, "\r\n");

		if (!e)
			break;
		if ((size_t)(e - s) > nl && s[nl] == ':' && !strncasecmp(s, name, nl)) {
			const char *v = s + nl + 1;
			size_t l;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			l = (size_t)(e - v);
			while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
				l--;
			if (l >= n)
				l = n - 1;
			memcpy(out, v, l);
			out[l] = 0;
			return true;
		}
		line = e;
	}
	return false;
}

struct req {
	char head[32768];
	size_t head_len;
	char method[32], target[1024];
	uint64_t body_len, body_hash;
};

/* Reads a request head into q (without its body). */
static int read_head(struct rd *r, struct req *q)
{
	for (;;) {
		char *s = r->buf + r->off;
		char *e = memmem(s, r->len - r->off, "\r\n\r\n", 4);

		if (e) {
			size_t l = (size_t)(e - s) + 4;

			if (l >= sizeof(q->head))
				return -E2BIG;
			memcpy(q->head, s, l);
			q->head[l] = 0;
			q->head_len = l;
			r->off += l;
			if (sscanf(q->head, "%31s %1023s", q->method, q->target) != 2)
				q->method[0] = q->target[0] = 0;
			pthread_mutex_lock(&r->ho->mu);
			if (!r->rec->head_len)
				r->rec->head_len = l;
			pthread_mutex_unlock(&r->ho->mu);
			return 0;
		}
		int n = rd_fill(r, ORIGIN_IO_MS);

		if (n <= 0)
			return n ? n : -EPIPE;
	}
}

static int read_body(struct rd *r, struct req *q)
{
	char v[128], line[4096];
	int rc = 0;

	q->body_len = 0;
	q->body_hash = H_FNV_INIT;
	if (head_value(q->head, "transfer-encoding", v, sizeof(v))) {
		for (;;) {
			unsigned long long sz;
			char *end;

			if ((rc = rd_line(r, line, sizeof(line))) < 0)
				return rc;
			sz = strtoull(line, &end, 16);
			if (end == line)
				return -EPROTO;
			if (sz == 0)
				break;
			if ((rc = rd_body(r, sz, &q->body_len, &q->body_hash)) < 0)
				return rc;
			if ((rc = rd_line(r, line, sizeof(line))) < 0)
				return rc;
			if (line[0])
				return -EPROTO;
		}
		do { /* trailers */
			if ((rc = rd_line(r, line, sizeof(line))) < 0)
				return rc;
		} while (line[0]);
	} else if (head_value(q->head, "content-length", v, sizeof(v))) {
		rc = rd_body(r, strtoull(v, NULL, 10), &q->body_len, &q->body_hash);
	}
	return rc;
}

static void note_request(struct rd *r, const struct req *q)
{
	pthread_mutex_lock(&r->ho->mu);
	if (!r->rec->req_complete) {
		r->rec->req_complete = true;
		r->rec->body_len = q->body_len;
		r->rec->body_hash = q->body_hash;
		r->rec->t_request = h_now_ms();
	}
	pthread_cond_broadcast(&r->ho->cv);
	pthread_mutex_unlock(&r->ho->mu);
}

static void note_answered(struct rd *r)
{
	pthread_mutex_lock(&r->ho->mu);
	r->rec->t_answered = h_now_ms();
	pthread_mutex_unlock(&r->ho->mu);
}

static int pause_or_stop(struct rd *r, int ms)
{
	struct pollfd p = { r->c->stopfd, POLLIN, 0 };

	if (ms <= 0)
		return 0;
	return poll(&p, 1, ms) > 0 ? -ECANCELED : 0;
}

/* Sends len bytes of pattern seed, raw or as chunks. */
static int send_pattern(struct rd *r, uint64_t len, uint32_t seed, bool chunked, size_t chunk,
			int pause_ms)
{
	size_t bufsz = 64 * 1024;
	char *buf = malloc(bufsz + 64);
	uint64_t off = 0;
	int rc = 0;

	if (!chunk)
		chunk = chunked ? 4096 : bufsz;
	if (chunk > bufsz)
		chunk = bufsz;
	while (rc == 0 && off < len) {
		size_t k = len - off > chunk ? chunk : (size_t)(len - off);
		char hd[32];

		h_pattern(buf, k, off, seed);
		if (chunked) {
			int hl = snprintf(hd, sizeof(hd), "%zx\r\n", k);

			rc = send_all(r, hd, (size_t)hl);
		}
		if (!rc)
			rc = send_all(r, buf, k);
		if (!rc && chunked)
			rc = send_all(r, "\r\n", 2);
		off += k;
		if (!rc && pause_ms && off % bufsz < k)
			rc = pause_or_stop(r, pause_ms);
	}
	free(buf);
	return rc;
}

static void rst_close(struct h_conn *c)
{
	h_close_rst(c->fd);
	c->fd = -1;
}

/* After the response: record everything until the proxy closes. */
static void drain_until_eof(struct rd *r)
{
	while (rd_fill(r, ORIGIN_IO_MS) > 0)
		r->off = r->len;
}

static int send_head(struct rd *r, const struct hu_script *sc, const char *framing)
{
	char head[8192];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d Status\r\n%s%s\r\n",
			 sc->status ? sc->status : 200, sc->headers ? sc->headers : "", framing);

	return send_all(r, head, (size_t)n);
}

static int answer_info(struct rd *r, const struct req *q)
{
	char body[1200], out[2048];
	int bl = snprintf(body, sizeof(body), "%s %s %llu %016llx\n", q->method, q->target,
			  (unsigned long long)q->body_len, (unsigned long long)q->body_hash);
	int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
			 "Connection: close\r\n\r\n%s", bl, body);

	return send_all(r, out, (size_t)n);
}

static void upgrade_echo(struct rd *r, const struct hu_script *sc)
{
	pthread_mutex_lock(&r->ho->mu);
	r->rec->pre_101 = r->rec->raw_len;
	pthread_mutex_unlock(&r->ho->mu);
	if (send_all(r, sc->raw, sc->raw_len ? sc->raw_len : strlen(sc->raw)) < 0)
		return;
	note_answered(r);
	for (;;) {
		if (r->off < r->len) {
			if (send_all(r, r->buf + r->off, r->len - r->off) < 0)
				return;
			r->off = r->len;
		}
		int n = rd_fill(r, ORIGIN_IO_MS);

		if (n == 0) {
			shutdown(r->c->fd, SHUT_WR);
			return;
		}
		if (n < 0)
			return;
	}
}

/* "IP:PORT" (or "[IP6]:PORT") of a PROXY v2 address block. */
static void pp_addr(int af, const unsigned char *ip, const unsigned char *port, char *out,
		    size_t n)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(af, ip, a, sizeof(a));
	snprintf(out, n, af == AF_INET6 ? "[%s]:%u" : "%s:%u", a, (unsigned)(port[0] << 8 | port[1]));
}

/* The PROXY header a send_proxy* server gets first, parsed here on its own
 * (not with sluice's parser, which is what is under test). 0 or -errno. */
static int read_proxy_hdr(struct rd *r)
{
	static const unsigned char sig[12] = { 13, 10, 13, 10, 0, 13, 10, 'Q', 'U', 'I', 'T', 10 };
	struct hu_rec *rec = r->rec;
	char line[128], a[64], b[64], fam[16];
	unsigned sp, dp;

	while (r->len - r->off < 16) {
		if (r->len - r->off >= 5 && !memcmp(r->buf + r->off, "PROXY", 5))
			break;
		if (rd_fill(r, ORIGIN_IO_MS) <= 0)
			return -EPIPE;
	}
	if (!memcmp(r->buf + r->off, "PROXY", 5)) {
		size_t start = r->off;

		if (rd_line(r, line, sizeof(line)) < 0)
			return -EPROTO;
		pthread_mutex_lock(&r->ho->mu);
		rec->pp_len = r->off - start;
		if (!strcmp(line, "PROXY UNKNOWN")) {
			rec->pp_version = 1;
			rec->pp_local = true;
		} else if (sscanf(line, "PROXY %15s %63s %63s %u %u", fam, a, b, &sp, &dp) == 5) {
			bool v6 = !strcmp(fam, "TCP6");

			rec->pp_version = 1;
			snprintf(rec->pp_src, sizeof(rec->pp_src), v6 ? "[%s]:%u" : "%s:%u", a, sp);
			snprintf(rec->pp_dst, sizeof(rec->pp_dst), v6 ? "[%s]:%u" : "%s:%u", b, dp);
		}
		pthread_mutex_unlock(&r->ho->mu);
		return rec->pp_version ? 0 : -EPROTO;
	}
	if (memcmp(r->buf + r->off, sig, 12))
		return -EPROTO;
	{
		const unsigned char *p = (const unsigned char *)r->buf + r->off;
		size_t len = 16u + (size_t)(p[14] << 8 | p[15]);

		while (r->len - r->off < len) {
			if (rd_fill(r, ORIGIN_IO_MS) <= 0)
				return -EPIPE;
			p = (const unsigned char *)r->buf + r->off;
		}
		pthread_mutex_lock(&r->ho->mu);
		rec->pp_version = p[12] >> 4 == 2 ? 2 : 0;
		rec->pp_len = len;
		if ((p[12] & 15) == 0 || p[13] == 0)
			rec->pp_local = true;
		else if (p[13] == 0x11 && len >= 28)
			pp_addr(AF_INET, p + 16, p + 24, rec->pp_src, sizeof(rec->pp_src)),
			pp_addr(AF_INET, p + 20, p + 26, rec->pp_dst, sizeof(rec->pp_dst));
		else if (p[13] == 0x21 && len >= 52)
			pp_addr(AF_INET6, p + 16, p + 48, rec->pp_src, sizeof(rec->pp_src)),
			pp_addr(AF_INET6, p + 32, p + 50, rec->pp_dst, sizeof(rec->pp_dst));
		else
			rec->pp_version = 0;
		pthread_mutex_unlock(&r->ho->mu);
		r->off += len;
		return rec->pp_version ? 0 : -EPROTO;
	}
}

static void run_script(struct rd *r, const struct hu_script *sc)
{
	struct req *q = calloc(1, sizeof(*q));
	int rc = 0;

	if (!q)
		return;
	if (sc->proxy_hdr && read_proxy_hdr(r) < 0)
		goto out;
	if (!sc->no_read) {
		rc = read_head(r, q);
		if (!rc && sc->act == HU_ACT_CONTINUE)
			rc = send_all(r, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		if (!rc && sc->act != HU_ACT_UPGRADE)
			rc = read_body(r, q);
		if (rc)
			goto out;
		note_request(r, q);
	}
	if (pause_or_stop(r, sc->delay_ms) < 0)
		goto out;
	switch (sc->act) {
	case HU_ACT_INFO:
		rc = answer_info(r, q);
		break;
	case HU_ACT_CL:
	case HU_ACT_CHUNKED:
	case HU_ACT_CLOSE: {
		char fr[64];

		if (sc->act == HU_ACT_CL)
			snprintf(fr, sizeof(fr), "Content-Length: %llu\r\n",
				 (unsigned long long)sc->len);
		else if (sc->act == HU_ACT_CHUNKED)
			snprintf(fr, sizeof(fr), "Transfer-Encoding: chunked\r\n");
		else
			fr[0] = 0;
		rc = send_head(r, sc, fr);
		if (!rc)
			rc = send_pattern(r, sc->len, sc->seed, sc->act == HU_ACT_CHUNKED, sc->chunk,
					  sc->pause_ms);
		if (!rc && sc->act == HU_ACT_CHUNKED)
			rc = send_all(r, "0\r\n\r\n", 5);
		if (sc->act == HU_ACT_CLOSE) {
			note_answered(r);
			goto out; /* the close ends the body */
		}
		break;
	}
	case HU_ACT_RAW:
		rc = send_all(r, sc->raw, sc->raw_len ? sc->raw_len : strlen(sc->raw));
		if (sc->close_after) {
			note_answered(r);
			goto out;
		}
		break;
	case HU_ACT_CONTINUE:
		rc = sc->raw ? send_all(r, sc->raw, sc->raw_len ? sc->raw_len : strlen(sc->raw)) :
			       answer_info(r, q);
		break;
	case HU_ACT_UPGRADE:
		upgrade_echo(r, sc);
		goto out;
	case HU_ACT_NEVER:
		drain_until_eof(r);
		goto out;
	case HU_ACT_CUT: {
		char fr[64];

		if (sc->chunked)
			snprintf(fr, sizeof(fr), "Transfer-Encoding: chunked\r\n");
		else
			snprintf(fr, sizeof(fr), "Content-Length: %llu\r\n",
				 (unsigned long long)sc->len);
		rc = send_head(r, sc, fr);
		if (!rc)
			rc = send_pattern(r, sc->cut, sc->seed, sc->chunked, sc->chunk, 0);
		note_answered(r);
		if (!rc && sc->stall) {
			drain_until_eof(r);
			goto out;
		}
		if (!rc)
			pause_or_stop(r, 50); /* let the proxy forward what it has */
		if (sc->rst)
			rst_close(r->c);
		goto out;
	}
	case HU_ACT_RST:
		rst_close(r->c);
		goto out;
	}
	if (rc == 0) {
		note_answered(r);
		if (pause_or_stop(r, sc->hold_ms) == 0)
			drain_until_eof(r); /* until the proxy closes its server connection */
	}
out:
	free(q);
}

static void hu_handler(struct h_conn *c)
{
	struct hu_origin *ho = lookup(c->o);
	struct rd r = { .c = c, .ho = ho };
	struct hu_rec *spare = NULL;

	if (!ho)
		return;
	if (c->idx < HU_MAX_CONNS) {
		r.rec = &ho->recs[c->idx];
	} else {
		/* past what we record: served all the same */
		spare = calloc(1, sizeof(*spare));
		if (!spare)
			return;
		r.rec = spare;
	}
	r.buf = malloc(RDBUF);
	pthread_mutex_lock(&ho->mu);
	r.rec->raw = malloc(HU_RAW_CAP + 1);
	r.rec->t_accept = h_now_ms();
	r.rec->end = 1;
	r.rec->used = true;
	pthread_cond_broadcast(&ho->cv);
	pthread_mutex_unlock(&ho->mu);
	if (r.buf && r.rec->raw)
		run_script(&r, (c->idx & 1) && ho->sc.odd ? ho->sc.odd : &ho->sc);
	free(r.buf);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	pthread_mutex_lock(&ho->mu);
	if (r.rec->end == 1) {
		r.rec->end = -ECANCELED; /* we closed first */
		r.rec->t_end = h_now_ms();
	}
	r.rec->done = true;
	pthread_cond_broadcast(&ho->cv);
	pthread_mutex_unlock(&ho->mu);
	if (spare) {
		free(spare->raw);
		free(spare);
	}
}

struct hu_origin *hu_origin_start(const struct hu_script *sc)
{
	struct h_origin_opts oo = { .handler = hu_handler };
	struct hu_origin *ho = calloc(1, sizeof(*ho));

	cr_assert(ho);
	ho->sc = *sc;
	if (sc->odd) {
		ho->odd = *sc->odd;
		ho->odd.odd = NULL;
		ho->sc.odd = &ho->odd;
	}
	pthread_mutex_init(&ho->mu, NULL);
	pthread_cond_init(&ho->cv, NULL);
	ho->o = h_origin_start(&oo);
	ho->port = h_origin_port(ho->o);
	pthread_mutex_lock(&g_mu);
	cr_assert(g_nreg < MAX_ORIGINS, "too many http origins");
	g_reg[g_nreg++] = ho;
	pthread_mutex_unlock(&g_mu);
	return ho;
}

int hu_origin_port(const struct hu_origin *o)
{
	return o->port;
}

int hu_origin_accepted(struct hu_origin *o)
{
	return h_origin_accepted(o->o);
}

int hu_origin_wait_accepted(struct hu_origin *o, int n, int timeout_ms)
{
	return h_origin_wait_accepted(o->o, n, timeout_ms);
}

uint64_t hu_origin_bytes(struct hu_origin *o)
{
	uint64_t t = 0;

	pthread_mutex_lock(&o->mu);
	for (int i = 0; i < HU_MAX_CONNS; i++)
		t += o->recs[i].total;
	pthread_mutex_unlock(&o->mu);
	return t;
}

void hu_conn_get(struct hu_origin *o, int idx, struct hu_conn_info *out)
{
	struct hu_rec *r;

	cr_assert(idx >= 0 && idx < HU_MAX_CONNS);
	cr_assert(hu_origin_wait_accepted(o, idx + 1, hu_io_to()) > idx,
		  "origin :%d: connection #%d never came", o->port, idx);
	/* the handler may not have set its record up yet */
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&o->mu);
		if (o->recs[idx].used)
			break;
		pthread_mutex_unlock(&o->mu);
		h_sleep_ms(2);
		if (i == 499)
			pthread_mutex_lock(&o->mu);
	}
	r = &o->recs[idx];
	memset(out, 0, sizeof(*out));
	out->raw = track(malloc(r->raw_len + 1));
	if (!out->raw)
		pthread_mutex_unlock(&o->mu);
	cr_assert(out->raw);
	if (r->raw_len)
		memcpy(out->raw, r->raw, r->raw_len);
	out->raw[r->raw_len] = 0;
	out->raw_len = r->raw_len;
	out->total = r->total;
	out->head_len = r->head_len;
	out->req_complete = r->req_complete;
	out->body_len = r->body_len;
	out->body_hash = r->body_hash;
	out->pre_101 = r->pre_101;
	out->end = r->used ? r->end : 1;
	out->done = r->done;
	out->t_accept = r->t_accept;
	out->t_request = r->t_request;
	out->t_answered = r->t_answered;
	out->t_end = r->t_end;
	out->pp_version = r->pp_version;
	out->pp_local = r->pp_local;
	out->pp_len = r->pp_len;
	memcpy(out->pp_src, r->pp_src, sizeof(out->pp_src));
	memcpy(out->pp_dst, r->pp_dst, sizeof(out->pp_dst));
	pthread_mutex_unlock(&o->mu);
}

void hu_conn_info_free(struct hu_conn_info *ci)
{
	untrack_free(ci->raw);
	ci->raw = NULL;
}

static bool wait_rec(struct hu_origin *o, int idx, int timeout_ms, bool want_end)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	bool ok = false;

	if (hu_origin_wait_accepted(o, idx + 1, timeout_ms) <= idx)
		return false;
	pthread_mutex_lock(&o->mu);
	for (;;) {
		struct hu_rec *r = &o->recs[idx];
		struct timespec ts;
		uint64_t now = h_now_ms();

		ok = r->used && (want_end ? (r->end != 1 || r->done) :
				 (r->req_complete || r->done));
		if (ok || now >= deadline)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&o->cv, &o->mu, &ts);
	}
	pthread_mutex_unlock(&o->mu);
	return ok;
}

bool hu_conn_wait_request(struct hu_origin *o, int idx, int timeout_ms)
{
	return wait_rec(o, idx, timeout_ms, false);
}

bool hu_conn_wait_end(struct hu_origin *o, int idx, int timeout_ms)
{
	return wait_rec(o, idx, timeout_ms, true);
}

void hu_conn_expect_raw(struct hu_origin *o, int idx, const char *expected)
{
	struct hu_conn_info ci;

	hu_conn_wait_request(o, idx, hu_io_to());
	hu_conn_get(o, idx, &ci);
	cr_expect(ci.raw_len == strlen(expected) && memcmp(ci.raw, expected, ci.raw_len) == 0,
		  "origin connection #%d received (%zu bytes):\n%s\n---- expected (%zu bytes):\n%s",
		  idx, ci.raw_len, ci.raw, strlen(expected), expected);
	hu_conn_info_free(&ci);
}

/* ---- client --------------------------------------------------------------- */

void hu_cli_open(struct hu_cli *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = h_connect(port, hu_io_to());
	cr_assert(c->fd >= 0, "connect to sluice :%d: %s", port, strerror(-c->fd));
	c->cap = RDBUF;
	c->buf = track(malloc(c->cap));
	cr_assert(c->buf);
}

void hu_cli_close(struct hu_cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	untrack_free(c->buf);
	c->buf = NULL;
}

int hu_cli_send_n(struct hu_cli *c, const void *p, size_t n)
{
	return h_send_all(c->fd, p, n, -1, hu_io_to());
}

int hu_cli_send(struct hu_cli *c, const char *s)
{
	return hu_cli_send_n(c, s, strlen(s));
}

/* >0 bytes added, 0 EOF, -errno */
static int cli_fill(struct hu_cli *c, uint64_t deadline)
{
	ssize_t n;

	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->len == c->cap) {
		if (!c->off)
			return -ENOSPC;
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	for (;;) {
		uint64_t now = h_now_ms();
		int w;

		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (now >= deadline)
			return -ETIMEDOUT;
		w = wait_ev(c->fd, POLLIN, -1, (int)(deadline - now));
		if (w < 0)
			return w;
	}
	c->len += (size_t)n;
	return (int)n;
}

static int cli_line(struct hu_cli *c, char *out, size_t cap, uint64_t deadline)
{
	for (;;) {
		char *s = c->buf + c->off;
		char *e = memmem(s, c->len - c->off, "\r\n", 2);
		int n;

		if (e) {
			size_t l = (size_t)(e - s);

			if (l >= cap)
				return -E2BIG;
			memcpy(out, s, l);
			out[l] = 0;
			c->off += l + 2;
			return 0;
		}
		n = cli_fill(c, deadline);
		if (n <= 0)
			return n ? n : -EPIPE;
	}
}

static void rsp_body(struct hu_rsp *r, const char *p, size_t n)
{
	r->body_hash = h_fnv1a(r->body_hash, p, n);
	r->body_len += n;
	if (r->body_saved < sizeof(r->body) - 1) {
		size_t k = sizeof(r->body) - 1 - r->body_saved;

		if (k > n)
			k = n;
		memcpy(r->body + r->body_saved, p, k);
		r->body_saved += k;
		r->body[r->body_saved] = 0;
	}
}

/* n body bytes (UINT64_MAX: until EOF). 0, or -EPROTO at an early end. */
static int cli_body(struct hu_cli *c, struct hu_rsp *r, uint64_t n, uint64_t deadline)
{
	while (n) {
		size_t have = c->len - c->off, k;

		if (!have) {
			int f = cli_fill(c, deadline);

			if (f == 0 && n == UINT64_MAX) {
				r->eof = true;
				return 0;
			}
			if (f <= 0) {
				r->eof = f == 0 || f == -ECONNRESET;
				return f == -ETIMEDOUT ? f : -EPROTO;
			}
			continue;
		}
		k = have < n ? have : (size_t)n;
		rsp_body(r, c->buf + c->off, k);
		c->off += k;
		if (n != UINT64_MAX)
			n -= k;
	}
	return 0;
}

static int cli_chunked(struct hu_cli *c, struct hu_rsp *r, uint64_t deadline)
{
	char line[4096];
	int rc;

	for (;;) {
		unsigned long long sz;
		char *end;

		rc = cli_line(c, line, sizeof(line), deadline);
		if (rc < 0)
			goto early;
		sz = strtoull(line, &end, 16);
		if (end == line)
			return -EBADMSG;
		if (sz == 0)
			break;
		rc = cli_body(c, r, sz, deadline);
		if (rc < 0)
			return rc;
		rc = cli_line(c, line, sizeof(line), deadline);
		if (rc < 0)
			goto early;
		if (line[0])
			return -EBADMSG;
	}
	do {
		rc = cli_line(c, line, sizeof(line), deadline);
		if (rc < 0)
			goto early;
	} while (line[0]);
	return 0;
early:
	if (rc == -ETIMEDOUT)
		return rc;
	r->eof = true;
	return -EPROTO;
}

int hu_read_rsp(struct hu_cli *c, struct hu_rsp *r, bool req_was_head, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	char v[128];
	int rc;

	memset(r, 0, sizeof(*r));
	r->body_hash = H_FNV_INIT;
	for (;;) {
		char *s = c->buf + c->off;
		char *e = memmem(s, c->len - c->off, "\r\n\r\n", 4);
		int n;

		if (e) {
			size_t l = (size_t)(e - s) + 4;

			if (l >= sizeof(r->head))
				return -E2BIG;
			memcpy(r->head, s, l);
			r->head[l] = 0;
			r->head_len = l;
			c->off += l;
			break;
		}
		n = cli_fill(c, deadline);
		if (n <= 0) {
			size_t l = c->len - c->off;

			if (l >= sizeof(r->head))
				l = sizeof(r->head) - 1;
			memcpy(r->head, c->buf + c->off, l);
			r->head[l] = 0;
			r->head_len = l;
			r->eof = n == 0 || n == -ECONNRESET;
			return n ? n : -EPIPE;
		}
	}
	if (sscanf(r->head, "HTTP/%*d.%*d %d", &r->status) != 1)
		return -EBADMSG;
	if (r->status / 100 == 1 || r->status == 204 || r->status == 304 || req_was_head) {
		r->complete = true;
		return 0;
	}
	if (hu_header(r, "transfer-encoding", v, sizeof(v)) && strcasestr(v, "chunked")) {
		r->chunked = true;
		rc = cli_chunked(c, r, deadline);
	} else if (hu_header(r, "content-length", v, sizeof(v))) {
		r->has_cl = true;
		r->cl = strtoull(v, NULL, 10);
		rc = cli_body(c, r, r->cl, deadline);
	} else {
		r->close_delimited = true;
		rc = cli_body(c, r, UINT64_MAX, deadline);
	}
	r->complete = rc == 0;
	return rc;
}

int hu_cli_wait_eof(struct hu_cli *c, int timeout_ms, uint64_t *extra)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int n;

		if (c->off < c->len) {
			if (extra)
				*extra += c->len - c->off;
			c->off = c->len;
		}
		n = cli_fill(c, deadline);
		if (n <= 0)
			return n;
	}
}

bool hu_header(const struct hu_rsp *r, const char *name, char *out, size_t n)
{
	return head_value(r->head, name, out, n);
}

bool hu_has_header(const struct hu_rsp *r, const char *line)
{
	const char *colon = strchr(line, ':');
	const char *p = r->head;
	size_t nl, ll = strlen(line);

	if (!colon)
		return false;
	nl = (size_t)(colon - line);
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (!strncasecmp(p, line, nl) && !strncmp(p + nl, line + nl, ll - nl) &&
		    p[ll] == '\r' && p[ll + 1] == '\n')
			return true;
	}
	return false;
}

int hu_send_body(struct hu_cli *c, uint64_t len, uint32_t seed, bool chunked, size_t chunk)
{
	size_t bufsz = 64 * 1024;
	char *buf = malloc(bufsz);
	uint64_t off = 0;
	int rc = 0;

	cr_assert(buf);
	if (!chunk || chunk > bufsz)
		chunk = chunked ? 8000 : bufsz;
	while (rc == 0 && off < len) {
		size_t k = len - off > chunk ? chunk : (size_t)(len - off);

		h_pattern(buf, k, off, seed);
		if (chunked) {
			char hd[32];

			snprintf(hd, sizeof(hd), "%zx\r\n", k);
			rc = hu_cli_send(c, hd);
		}
		if (!rc)
			rc = hu_cli_send_n(c, buf, k);
		if (!rc && chunked)
			rc = hu_cli_send(c, "\r\n");
		off += k;
	}
	if (!rc && chunked)
		rc = hu_cli_send(c, "0\r\n\r\n");
	free(buf);
	return rc;
}

/* ---- the proxy ------------------------------------------------------------ */

struct h_proxy *hu_proxy_start(const struct hu_conf *c)
{
	char conf[4096];
	int port = h_free_port();
	size_t off;

	off = (size_t)snprintf(conf, sizeof(conf),
		"[global]\n"
		"workers = %d\n"
		"maxconn = 4000\n"
		"log = stderr\n"
		"grace = 1s\n"
		"\n"
		"[defaults]\n"
		"timeout_connect = %s\n"
		"timeout_client = %s\n"
		"timeout_server = %s\n"
		"timeout_client_fin = %s\n"
		"timeout_server_fin = %s\n"
		"timeout_http_request = %s\n"
		"timeout_http_keep_alive = %s\n"
		"\n"
		"[frontend web]\n"
		"bind = 127.0.0.1:%d\n"
		"mode = http\n"
		"backend = app\n"
		"lingering_close = %s\n"
		"\n"
		"[backend app]\n"
		"mode = http-server-close\n"
		"balance = roundrobin\n",
		c->workers > 0 ? c->workers : 1,
		c->timeout_connect ? c->timeout_connect : "500ms",
		c->timeout_client ? c->timeout_client : "10s",
		c->timeout_server ? c->timeout_server : "10s",
		c->timeout_client_fin ? c->timeout_client_fin : "300ms",
		c->timeout_server_fin ? c->timeout_server_fin : "300ms",
		c->timeout_http_request ? c->timeout_http_request : "5s",
		c->timeout_http_keep_alive ? c->timeout_http_keep_alive : "5s",
		port, c->lingering_close ? c->lingering_close : "always");
	for (int i = 0; i < c->nservers && off < sizeof(conf); i++)
		off += (size_t)snprintf(conf + off, sizeof(conf) - off,
					"server = s%d 127.0.0.1:%d\n", i + 1, c->server_port[i]);
	cr_assert(off < sizeof(conf));
	return h_proxy_start_text(conf, port);
}

struct h_proxy *hu_proxy_for(int nservers, const int *ports)
{
	struct hu_conf c = { .nservers = nservers };

	for (int i = 0; i < nservers; i++)
		c.server_port[i] = ports[i];
	return hu_proxy_start(&c);
}

char *hu_proxy_log(const struct h_proxy *p)
{
	FILE *f = fopen(p->log_path, "r");
	char *s;
	long n;

	if (!f)
		return calloc(1, 1);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (s && n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = 0;
	fclose(f);
	return s;
}

bool hu_log_has(const struct h_proxy *p, const char *needle)
{
	char *s = hu_proxy_log(p);
	bool found = s && strstr(s, needle);

	free(s);
	return found;
}
