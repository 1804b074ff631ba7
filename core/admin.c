/*
 * Admin API (core/ layer), see admin.h. Requests are small: the head and
 * body must fit in 8 KiB and arrive within 5 s, else the connection is
 * closed with 400 or 408. Every answer is JSON and ends the connection
 * (Connection: close), which keeps the thread a plain accept/read/write
 * loop. Stopping: shutdown(2) on the listening socket wakes the blocked
 * accept.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/admin.h"
#include "core/log.h"
#include "core/session-t.h"
#include "core/stats.h"
#include "core/world.h"
#include "core/conn.h"

#define REQ_MAX 8192
#define IO_TIMEOUT_MS 5000

struct sl_admin {
	int fd;
	pthread_t thread;
	char path[108];
	struct sl_admin_hooks hooks;
};

struct req {
	char buf[REQ_MAX + 1];
	size_t len;
	char method[16];
	char path[256];
	const char *body;
	size_t body_len;
};

/* A growing response body. */
struct out {
	char *p;
	size_t len, cap;
	bool err;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = true;
			return;
		}
		if (o->p && (size_t)n < o->cap - o->len)
			break;
		size_t cap = (o->cap ? o->cap : 1024) * 2 + (size_t)n;
		char *np = realloc(o->p, cap);

		if (!np) {
			o->err = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	o->len += (size_t)n;
}

/* A JSON string body (quotes and control characters escaped). */
static void out_json_str(struct out *o, const char *s)
{
	outf(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			outf(o, "\\%c", c);
		else if (c < 0x20)
			outf(o, "\\u%04x", c);
		else
			outf(o, "%c", c);
	}
	outf(o, "\"");
}

static const char *const check_names[] = {
	"none", "L4_ok", "L7_ok", "L4_refused", "L4_reset", "L4_timeout", "L4_error",
	"L7_timeout", "L7_bad_response", "L7_bad_status",
};

static const char *const status_names[] = { "up", "down", "maint", "drain" };

/* The backend's requests waiting for a server slot, over every worker. */
static uint64_t queued(struct sl_proxy *px, const struct sl_backend *be)
{
	size_t b = (size_t)(be - px->backends);
	uint64_t n = 0;

	for (int i = 0; i < px->nworkers; i++)
		n += SL_ST_GET(px->workers[i].st->be[b].queued);
	return n;
}

static void out_server(struct out *o, struct sl_proxy *px, const struct sl_server *s)
{
	int chk = atomic_load(&s->last_check);
	char addr[80];

	if (chk < 0 || chk >= (int)(sizeof(check_names) / sizeof(check_names[0])))
		chk = 0;
	outf(o, "{\"backend\":\"%s\",\"server\":\"%s\",\"address\":\"%s\",\"state\":\"%s\","
	     "\"weight\":%d,\"check\":\"%s\",\"active\":%u,\"queued\":%llu}",
	     s->be->conf->name, s->conf->name, sl_conf_addr_str(&s->conf->addr, addr, sizeof(addr)),
	     status_names[sl_server_status(s)], sl_server_weight(s),
	     s->conf->check ? check_names[chk] : "none", atomic_load(&s->sessions),
	     (unsigned long long)queued(px, s->be));
}

static int get_servers(struct sl_proxy *px, struct out *o)
{
	bool first = true;

	outf(o, "[");
	for (int i = 0; i < px->conf->nbackends; i++) {
		for (int j = 0; j < px->backends[i].nservers; j++) {
			outf(o, "%s\n", first ? "" : ",");
			out_server(o, px, &px->backends[i].servers[j]);
			first = false;
		}
	}
	outf(o, "\n]\n");
	return 200;
}

/* The body without surrounding white space (curl -d sends none, echo a
 * newline), copied into buf; false when it does not fit. */
static bool body_word(const struct req *r, char *buf, size_t n)
{
	const char *p = r->body, *e = r->body + r->body_len;

	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if ((size_t)(e - p) >= n)
		return false;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = 0;
	return true;
}

static int error(struct out *o, int status, const char *msg)
{
	outf(o, "{\"error\":");
	out_json_str(o, msg);
	outf(o, "}\n");
	return status;
}

static int put_state(struct sl_proxy *px, struct sl_server *s, const char *word,
		     struct out *o)
{
	static const char *const names[] = { "ready", "drain", "maint" };
	int st = -1;

	for (int k = 0; k < 3; k++)
		if (strcmp(word, names[k]) == 0)
			st = k;
	if (st < 0)
		return error(o, 400, "state must be ready, drain or maint");
	int from = sl_server_status(s);

	if (atomic_exchange(&s->admin, st) != st) {
		char why[48];

		sl_log("admin: backend %s server %s set to %s", s->be->conf->name,
		       s->conf->name, names[st]);
		snprintf(why, sizeof(why), "admin API: %s", names[st]);
		sl_stats_server_event(s, from, sl_server_status(s), why);
	}
	/* the workers close the server's idle pooled connections */
	for (int i = 0; i < px->nworkers; i++)
		sl_worker_wake(&px->workers[i]);
	out_server(o, px, s);
	outf(o, "\n");
	return 200;
}

static int put_weight(struct sl_proxy *px, struct sl_server *s, const char *word,
		      struct out *o)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(word, &end, 10);
	if (!word[0] || *end || errno || v < 0 || v > SL_SRV_WEIGHT_MAX)
		return error(o, 400, "weight must be an integer from 0 to 256");
	if (atomic_exchange(&s->weight, (int)v) != (int)v)
		sl_log("admin: backend %s server %s weight set to %ld", s->be->conf->name,
		       s->conf->name, v);
	out_server(o, px, s);
	outf(o, "\n");
	return 200;
}

/* /backends/B/servers/S/(state|weight) */
static int server_route(struct sl_admin *a, struct req *r, struct out *o)
{
	char be[SL_CONF_NAME_MAX], srv[SL_CONF_NAME_MAX], what[16], word[32];
	struct sl_proxy *px;
	struct sl_server *s;
	int n = 0, status;

	if (sscanf(r->path, "/backends/%63[^/]/servers/%63[^/]/%15[a-z]%n", be, srv, what,
		   &n) != 3 || r->path[n] || (strcmp(what, "state") && strcmp(what, "weight")))
		return error(o, 404, "no such resource");
	if (strcmp(r->method, "PUT") != 0)
		return error(o, 405, "use PUT");
	px = a->hooks.acquire();
	s = sl_world_server(px, be, srv);
	if (!s)
		status = error(o, 404, "no such backend or server");
	else if (!body_word(r, word, sizeof(word)))
		status = error(o, 400, "body too long");
	else if (what[0] == 's')
		status = put_state(px, s, word, o);
	else
		status = put_weight(px, s, word, o);
	a->hooks.release();
	return status;
}

static int route(struct sl_admin *a, struct req *r, struct out *o)
{
	char msg[2048];
	int status;

	if (strcmp(r->path, "/servers") == 0) {
		struct sl_proxy *px;

		if (strcmp(r->method, "GET") != 0)
			return error(o, 405, "use GET");
		px = a->hooks.acquire();
		status = get_servers(px, o);
		a->hooks.release();
		return status;
	}
	if (strcmp(r->path, "/reload") == 0) {
		if (strcmp(r->method, "POST") != 0)
			return error(o, 405, "use POST");
		if (a->hooks.reload(msg, sizeof(msg)) < 0)
			return error(o, 400, msg);
		outf(o, "%s\n", msg);
		return 200;
	}
	if (strncmp(r->path, "/backends/", 10) == 0)
		return server_route(a, r, o);
	return error(o, 404, "no such resource");
}

/* Wait for fd to be readable until deadline; false on timeout. */
static bool wait_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* Read the head and a Content-Length body. Returns 0, or an HTTP status
 * to answer with (400, 408, 413). */
static int read_req(int fd, struct req *r)
{
	char *eoh = NULL, *cl;
	size_t need = 0;

	for (;;) {
		ssize_t n;

		if (eoh && r->len >= need)
			break;
		if (r->len >= REQ_MAX)
			return 413;
		if (!wait_in(fd, IO_TIMEOUT_MS))
			return 408;
		n = read(fd, r->buf + r->len, REQ_MAX - r->len);
		if (n <= 0)
			return n == 0 ? 400 : 408;
		r->len += (size_t)n;
		r->buf[r->len] = 0;
		if (!eoh && (eoh = strstr(r->buf, "\r\n\r\n"))) {
			long v = 0;

			cl = strcasestr(r->buf, "\r\ncontent-length:");
			if (cl && cl < eoh)
				v = strtol(cl + 17, NULL, 10);
			if (v < 0 || v > REQ_MAX)
				return 413;
			need = (size_t)(eoh + 4 - r->buf) + (size_t)v;
			r->body = eoh + 4;
			r->body_len = (size_t)v;
		}
	}
	if (sscanf(r->buf, "%15s %255s HTTP/1.%*c", r->method, r->path) != 2)
		return 400;
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	default: return "Internal Server Error";
	}
}

static void serve(struct sl_admin *a, int fd)
{
	struct req *r = calloc(1, sizeof(*r));
	struct out o = { 0 };
	char head[256];
	int status, n;

	if (!r)
		return;
	status = read_req(fd, r);
	if (status)
		status = error(&o, status, "bad request");
	else
		status = route(a, r, &o);
	if (o.err) {
		free(o.p);
		o = (struct out){ 0 };
		status = error(&o, 500, "out of memory");
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, reason(status),
		     o.len);
	write_all(fd, head, (size_t)n);
	write_all(fd, o.p ? o.p : "", o.len);
	free(o.p);
	free(r);
}

static void *admin_main(void *arg)
{
	struct sl_admin *a = arg;

	for (;;) {
		int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* EINVAL after shutdown: stopping */
		}
		serve(a, fd);
		close(fd);
	}
	/* POST /reload loaded certificates in this thread: wolfSSL's
	 * per-thread ECC cache goes with it */
	sl_xprt_ssl.thread_exit();
	return NULL;
}

/* A socket file nobody listens on is left by a process that died: remove
 * it. Anything else at the path is an error. */
static int clear_stale(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whylen, "admin %s: exists and is not a socket", path);
		return -EEXIST;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(why, whylen, "admin %s: another process serves this socket", path);
		return -EADDRINUSE;
	}
	return unlink(path) < 0 ? -errno : 0;
}

int sl_admin_start(const char *path, const struct sl_admin_hooks *hooks,
		   struct sl_admin **out, char *why, size_t whylen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sl_admin *a = calloc(1, sizeof(*a));
	mode_t old;
	int rc;

	if (!a)
		return -ENOMEM;
	a->hooks = *hooks;
	snprintf(a->path, sizeof(a->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(why, whylen, "admin %s: %s", path, "cannot create the socket");
	rc = clear_stale(path, why, whylen);
	if (rc < 0)
		goto err_free;
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* created 0600 from the start: no moment where others could connect */
	old = umask(0177);
	rc = bind(a->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(a->fd, 16) < 0) {
		rc = -errno;
		snprintf(why, whylen, "admin %s: %s", path, strerror(-rc));
		goto err_close;
	}
	rc = -pthread_create(&a->thread, NULL, admin_main, a);
	if (rc < 0)
		goto err_unlink;
	*out = a;
	return 0;
err_unlink:
	unlink(path);
err_close:
	close(a->fd);
err_free:
	if (rc != -EEXIST && rc != -EADDRINUSE && strstr(why, "cannot create"))
		snprintf(why, whylen, "admin %s: %s", path, strerror(-rc));
	free(a);
	return rc;
}

void sl_admin_stop(struct sl_admin *a)
{
	if (!a)
		return;
	shutdown(a->fd, SHUT_RDWR);
	pthread_join(a->thread, NULL);
	close(a->fd);
	unlink(a->path);
	free(a);
}
