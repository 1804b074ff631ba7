/*
 * Helpers for the limits and pool integration tests (tests/ layer), see
 * limits_util.h. Origins are harness origins with our own handlers; they
 * find their state through a small registry keyed by the harness origin.
 * Every blocking call has a timeout and gives up when the origin stops.
 */
#include "tests/integration/limits_util.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define IO_MS 30000 /* origin inactivity bound; the origin's stop wakes it */
#define RBUF (64 * 1024)
#define MAX_ORIGINS 16
#define MAX_SPAWNED 8

struct lu_origin {
	struct h_origin *o;
	struct lu_origin_opts opts;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int active, max_active;
	int inflight, max_inflight;
	int requests;
	struct lu_conn conns[LU_MAX_CONNS];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lu_origin *g_reg[MAX_ORIGINS];
static int g_nreg;
static struct h_proxy *g_spawned[MAX_SPAWNED];
static int g_nspawned;

void lu_teardown(void)
{
	for (int i = 0; i < g_nspawned; i++) {
		struct h_proxy *p = g_spawned[i];

		if (p->pid > 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &p->status, 0);
		}
		free(p);
	}
	g_nspawned = 0;
	hu_teardown(); /* stops every origin: no handler of ours runs after */
	pthread_mutex_lock(&g_mu);
	for (int i = 0; i < g_nreg; i++) {
		pthread_mutex_destroy(&g_reg[i]->mu);
		pthread_cond_destroy(&g_reg[i]->cv);
		free(g_reg[i]);
	}
	g_nreg = 0;
	pthread_mutex_unlock(&g_mu);
}

/* ---- origins ------------------------------------------------------------------- */

static struct lu_origin *lookup(struct h_origin *o)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct lu_origin *lo = NULL;

		pthread_mutex_lock(&g_mu);
		for (int i = 0; i < g_nreg; i++)
			if (g_reg[i]->o == o)
				lo = g_reg[i];
		pthread_mutex_unlock(&g_mu);
		if (lo)
			return lo;
		h_sleep_ms(2);
	}
	return NULL;
}

/* Waits for POLLIN on fd: 0, -ETIMEDOUT, -ECANCELED (origin stopping). */
static int wait_in(int fd, int stopfd, int timeout_ms)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { stopfd, POLLIN, 0 } };
	int r;

	do {
		r = poll(p, 2, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return p[1].revents ? -ECANCELED : 0;
}

/* >0 bytes, 0 EOF, -errno. */
static ssize_t recv_some(struct h_conn *c, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = recv(c->fd, buf, n, MSG_DONTWAIT);
		int w;

		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		w = wait_in(c->fd, c->stopfd, IO_MS);
		if (w < 0)
			return w;
	}
}

static int pause_stop(struct h_conn *c, int ms)
{
	struct pollfd p = { c->stopfd, POLLIN, 0 };

	if (ms <= 0)
		return 0;
	return poll(&p, 1, ms) > 0 ? -ECANCELED : 0;
}

/* The connection ended (end: 0 EOF, -errno, 2 we close): once. */
static void conn_ended(struct lu_origin *lo, struct lu_conn *rec, int end)
{
	pthread_mutex_lock(&lo->mu);
	if (rec->end == 1) {
		rec->end = end;
		if (end == 2)
			rec->t_origin_close = h_now_ms();
		else
			rec->t_end = h_now_ms();
		lo->active--;
	}
	pthread_cond_broadcast(&lo->cv);
	pthread_mutex_unlock(&lo->mu);
}

static void echo_conn(struct lu_origin *lo, struct h_conn *c, struct lu_conn *rec)
{
	char *buf = malloc(RBUF);
	ssize_t n = -ENOMEM;

	while (buf && (n = recv_some(c, buf, RBUF)) > 0)
		if (h_send_all(c->fd, buf, (size_t)n, c->stopfd, IO_MS) < 0)
			break;
	conn_ended(lo, rec, n > 0 ? -EPIPE : (int)n);
	if (n == 0)
		shutdown(c->fd, SHUT_WR); /* after counting it: the proxy sees it later */
	free(buf);
}

struct rd {
	struct h_conn *c;
	char *buf;
	size_t off, len;
};

/* Reads more into the buffer: >0, 0 EOF, -errno. */
static ssize_t rd_fill(struct rd *r)
{
	ssize_t n;

	if (r->off == r->len)
		r->off = r->len = 0;
	if (r->len == RBUF) {
		if (!r->off)
			return -E2BIG;
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	n = recv_some(r->c, r->buf + r->len, RBUF - r->len);
	if (n > 0)
		r->len += (size_t)n;
	return n;
}

/* Reads one whole request (Content-Length bodies only). 0 or end code. */
static int read_request(struct rd *r, char *method, char *target)
{
	unsigned long long cl = 0;
	char *e, *v;
	ssize_t n;

	while (!(e = memmem(r->buf + r->off, r->len - r->off, "\r\n\r\n", 4)))
		if ((n = rd_fill(r)) <= 0)
			return n ? (int)n : 0;
	e[2] = 0; /* the head as a string, without its final CRLF */
	if (sscanf(r->buf + r->off, "%15s %255s", method, target) != 2)
		method[0] = target[0] = 0;
	v = strcasestr(r->buf + r->off, "\r\ncontent-length:");
	if (v)
		cl = strtoull(v + 17, NULL, 10);
	r->off = (size_t)(e + 4 - r->buf);
	while (cl) {
		size_t have = r->len - r->off, k = have < cl ? have : (size_t)cl;

		r->off += k;
		cl -= k;
		if (cl && (n = rd_fill(r)) <= 0)
			return n ? (int)n : -EPIPE;
	}
	return 1;
}

static int answer(struct lu_origin *lo, struct h_conn *c, int nreq, const char *method,
		  const char *target, const char *pp)
{
	char body[400], out[1400];
	int bl = snprintf(body, sizeof(body), "%c %d %d %s %s%s%s\n",
			  lo->opts.tag ? lo->opts.tag : 'A', c->idx, nreq, method, target,
			  pp[0] ? " pp=" : "", pp);
	int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s", bl,
			 lo->opts.headers ? lo->opts.headers : "", body);

	return h_send_all(c->fd, out, (size_t)n, c->stopfd, IO_MS);
}

static void http_conn(struct lu_origin *lo, struct h_conn *c, struct lu_conn *rec)
{
	struct rd r = { .c = c, .buf = malloc(RBUF) };
	char method[16], target[256], pp[64] = "";
	int rc = -ENOMEM, nreq;

	if (r.buf && lo->opts.proxy_v1) {
		/* "PROXY TCP4 SRC DST SPORT DPORT\r\n": keep SRC */
		char *e;
		ssize_t n = 1;

		while (!(e = memmem(r.buf + r.off, r.len - r.off, "\r\n", 2)) && n > 0)
			n = rd_fill(&r);
		if (!e || sscanf(r.buf + r.off, "PROXY %*s %63s", pp) != 1) {
			conn_ended(lo, rec, -EPROTO);
			free(r.buf);
			return;
		}
		r.off = (size_t)(e + 2 - r.buf);
	}
	while (r.buf && (rc = read_request(&r, method, target)) == 1) {
		pthread_mutex_lock(&lo->mu);
		nreq = ++rec->nreq;
		lo->requests++;
		rec->t_last_req = h_now_ms();
		if (nreq == 1)
			rec->t_first_req = rec->t_last_req;
		if (++lo->inflight > lo->max_inflight)
			lo->max_inflight = lo->inflight;
		pthread_cond_broadcast(&lo->cv);
		pthread_mutex_unlock(&lo->mu);
		if (lo->opts.drop_reused && nreq >= 2) {
			pthread_mutex_lock(&lo->mu);
			lo->inflight--;
			pthread_mutex_unlock(&lo->mu);
			rc = 2;
			break;
		}
		rc = pause_stop(c, lo->opts.delay_ms);
		/* out of flight before the answer's first byte: the proxy may send
		 * the next request as soon as it has the answer */
		pthread_mutex_lock(&lo->mu);
		lo->inflight--;
		pthread_mutex_unlock(&lo->mu);
		if (!rc)
			rc = answer(lo, c, nreq, method, target, pp);
		pthread_mutex_lock(&lo->mu);
		if (!rc) {
			rec->nanswered++;
			rec->t_last_answer = h_now_ms();
		}
		pthread_mutex_unlock(&lo->mu);
		if (rc)
			break;
		if (lo->opts.max_requests && nreq >= lo->opts.max_requests) {
			rc = pause_stop(c, lo->opts.close_delay_ms);
			if (!rc)
				rc = 2;
			break;
		}
	}
	conn_ended(lo, rec, rc);
	free(r.buf);
}

static void lu_handler(struct h_conn *c)
{
	struct lu_origin *lo = lookup(c->o);
	struct lu_conn *rec;

	if (!lo || c->idx >= LU_MAX_CONNS)
		return;
	rec = &lo->conns[c->idx];
	pthread_mutex_lock(&lo->mu);
	rec->t_accept = h_now_ms();
	rec->end = 1;
	if (++lo->active > lo->max_active)
		lo->max_active = lo->active;
	pthread_cond_broadcast(&lo->cv);
	pthread_mutex_unlock(&lo->mu);
	if (lo->opts.kind == LU_ECHO)
		echo_conn(lo, c, rec);
	else
		http_conn(lo, c, rec);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	pthread_mutex_lock(&lo->mu);
	rec->done = true;
	pthread_cond_broadcast(&lo->cv);
	pthread_mutex_unlock(&lo->mu);
}

struct lu_origin *lu_origin_start(const struct lu_origin_opts *opts)
{
	struct h_origin_opts oo = { .handler = lu_handler };
	struct lu_origin *lo = calloc(1, sizeof(*lo));

	cr_assert(lo);
	lo->opts = *opts;
	pthread_mutex_init(&lo->mu, NULL);
	pthread_cond_init(&lo->cv, NULL);
	lo->o = h_origin_start(&oo);
	lo->port = h_origin_port(lo->o);
	pthread_mutex_lock(&g_mu);
	cr_assert(g_nreg < MAX_ORIGINS, "too many origins");
	g_reg[g_nreg++] = lo;
	pthread_mutex_unlock(&g_mu);
	return lo;
}

int lu_origin_port(const struct lu_origin *o)
{
	return o->port;
}

int lu_origin_accepted(struct lu_origin *o)
{
	return h_origin_accepted(o->o);
}

static int get_int(struct lu_origin *o, const int *field)
{
	int v;

	pthread_mutex_lock(&o->mu);
	v = *field;
	pthread_mutex_unlock(&o->mu);
	return v;
}

int lu_origin_max_active(struct lu_origin *o)
{
	return get_int(o, &o->max_active);
}

int lu_origin_active(struct lu_origin *o)
{
	return get_int(o, &o->active);
}

int lu_origin_max_inflight(struct lu_origin *o)
{
	return get_int(o, &o->max_inflight);
}

int lu_origin_requests(struct lu_origin *o)
{
	return get_int(o, &o->requests);
}

struct lu_conn lu_origin_conn(struct lu_origin *o, int idx)
{
	struct lu_conn c;

	cr_assert(idx >= 0 && idx < LU_MAX_CONNS && idx < lu_origin_accepted(o),
		  "origin :%d: no connection #%d", o->port, idx);
	/* accepted, but its handler may not have started yet */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&o->mu);
		c = o->conns[idx];
		pthread_mutex_unlock(&o->mu);
		if (c.t_accept)
			break;
		h_sleep_ms(2);
	}
	return c;
}

static void abs_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

bool lu_origin_wait_end(struct lu_origin *o, int idx, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	if (h_origin_wait_accepted(o->o, idx + 1, timeout_ms) <= idx)
		return false;
	abs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&o->mu);
	while (!(ok = o->conns[idx].t_accept && o->conns[idx].end != 1) &&
	       pthread_cond_timedwait(&o->cv, &o->mu, &ts) != ETIMEDOUT)
		;
	ok = o->conns[idx].t_accept && o->conns[idx].end != 1;
	pthread_mutex_unlock(&o->mu);
	return ok;
}

bool lu_origin_wait_active_le(struct lu_origin *o, int n, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	abs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&o->mu);
	while (o->active > n && pthread_cond_timedwait(&o->cv, &o->mu, &ts) != ETIMEDOUT)
		;
	ok = o->active <= n;
	pthread_mutex_unlock(&o->mu);
	return ok;
}

/* ---- config -------------------------------------------------------------------- */

#define ADD(...)                                                                         \
	do {                                                                             \
		if (off < n)                                                             \
			off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__);       \
	} while (0)

void lu_conf_render(const struct lu_conf *c, int fe_port, char *buf, size_t n)
{
	const char *fe_mode = c->fe_mode ? c->fe_mode : "tcp";
	bool http = strcmp(fe_mode, "http") == 0;
	const char *be_mode = c->be_mode ? c->be_mode : http ? "http-server-close" : "tcp";
	size_t off = 0;

	ADD("[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n");
	if (c->global_maxconn)
		ADD("maxconn = %d\n", c->global_maxconn);
	if (c->global_extra)
		ADD("%s", c->global_extra);
	ADD("\n[defaults]\ntimeout_connect = 500ms\ntimeout_client = %s\ntimeout_server = %s\n"
	    "timeout_client_fin = 300ms\ntimeout_server_fin = 300ms\n",
	    c->timeout_client ? c->timeout_client : "10s",
	    c->timeout_server ? c->timeout_server : "10s");
	if (c->timeout_queue)
		ADD("timeout_queue = %s\n", c->timeout_queue);
	if (http)
		ADD("timeout_http_request = 5s\ntimeout_http_keep_alive = %s\n",
		    c->timeout_http_keep_alive ? c->timeout_http_keep_alive : "5s");
	ADD("\n[frontend f]\nbind = 127.0.0.1:%d\nmode = %s\nbackend = b\n", fe_port, fe_mode);
	if (c->fe_maxconn)
		ADD("maxconn = %d\n", c->fe_maxconn);
	if (c->fe_maxconn_per_source)
		ADD("maxconn_per_source = %d\n", c->fe_maxconn_per_source);
	ADD("\n[backend b]\nmode = %s\nbalance = roundrobin\n", be_mode);
	if (c->pool_max_idle)
		ADD("pool_max_idle = %s\n", c->pool_max_idle);
	if (c->pool_idle_timeout)
		ADD("pool_idle_timeout = %s\n", c->pool_idle_timeout);
	if (c->pool_max_lifetime)
		ADD("pool_max_lifetime = %s\n", c->pool_max_lifetime);
	if (c->pool_max_requests)
		ADD("pool_max_requests = %s\n", c->pool_max_requests);
	for (int i = 0; i < c->nservers; i++) {
		ADD("server = s%d 127.0.0.1:%d", i + 1, c->server_port[i]);
		if (c->server_maxconn[i])
			ADD(" maxconn=%d", c->server_maxconn[i]);
		ADD("\n");
	}
	if (c->extra)
		ADD("\n%s", c->extra);
	cr_assert(off < n, "config too long");
}

struct h_proxy *lu_proxy_start(const struct lu_conf *c)
{
	char conf[8192];
	int port = h_free_port();

	lu_conf_render(c, port, conf, sizeof(conf));
	return h_proxy_start_text(conf, port);
}

/* ---- clients ------------------------------------------------------------------- */

int lu_connect_from(const char *src, int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, s = { .sin_family = AF_INET };
	struct pollfd p;
	int fd, err = 0, r;
	socklen_t len = sizeof(err);

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(inet_pton(AF_INET, src, &s.sin_addr) == 1, "bad address %s", src);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0)
		goto err;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno != EINPROGRESS)
			goto err;
		p.fd = fd;
		p.events = POLLOUT;
		do {
			r = poll(&p, 1, timeout_ms);
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			close(fd);
			return r == 0 ? -ETIMEDOUT : -errno;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			close(fd);
			return -err;
		}
	}
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

int lu_ping(int fd, int timeout_ms)
{
	char buf[4];
	int rc = h_send_all(fd, "ping", 4, -1, timeout_ms);

	if (!rc)
		rc = h_recv_exact(fd, buf, 4, timeout_ms);
	if (!rc && memcmp(buf, "ping", 4))
		rc = -EBADMSG;
	return rc;
}

bool lu_readable_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r > 0;
}

int lu_request(struct hu_cli *c, const char *method, const char *path, uint64_t body_len,
	       struct hu_rsp *r)
{
	char head[512];
	int rc;

	if (body_len)
		snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %llu\r\n\r\n",
			 method, path, (unsigned long long)body_len);
	else
		snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
	rc = hu_cli_send(c, head);
	if (!rc && body_len)
		rc = hu_send_body(c, body_len, 7, false, 0);
	if (rc) {
		memset(r, 0, sizeof(*r));
		return rc;
	}
	return hu_read_rsp(c, r, strcmp(method, "HEAD") == 0, hu_io_to());
}

bool lu_parse_ans(const struct hu_rsp *r, struct lu_ans *a)
{
	return r->status == 200 && sscanf(r->body, "%c %d %d", &a->tag, &a->conn, &a->req) == 3;
}

/* ---- the proxy process ----------------------------------------------------------- */

uint64_t lu_cpu_ms(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			      &ut, &st) == 2, "cannot parse %s", path);
	return (uint64_t)(ut + st) * 1000u / (uint64_t)sysconf(_SC_CLK_TCK);
}

int lu_max_fd(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int max = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) > max)
			max = atoi(e->d_name);
	closedir(d);
	return max;
}

int lu_lowest_free_fd(pid_t pid)
{
	char path[64];
	bool used[4096] = { false };
	struct dirent *e;
	DIR *d;
	int i = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) < 4096)
			used[atoi(e->d_name)] = true;
	closedir(d);
	while (i < 4096 && used[i])
		i++;
	return i;
}

int lu_log_count(const struct h_proxy *p, const char *needle)
{
	char *s = hu_proxy_log(p), *q = s;
	int n = 0;

	while (q && (q = strstr(q, needle))) {
		n++;
		q += strlen(needle);
	}
	free(s);
	return n;
}

static bool port_listening(int port)
{
	char line[512];
	FILE *f = fopen("/proc/net/tcp", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned lp, st;

		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lp, &st) == 2 && (int)lp == port &&
		    st == 0x0A)
			found = true;
	}
	fclose(f);
	return found;
}

static void exec_limited(const char *out_path, const char *conf_path, rlim_t nofile)
{
	struct rlimit rl = { nofile, nofile };
	const char *argv[] = { h_sluice_bin(), "-f", conf_path, NULL };
	sigset_t none;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(fd, 2);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	/* as root, the proxy could raise its hard limit again: not with this */
	prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		dprintf(2, "setrlimit: %s\n", strerror(errno));
		_exit(125);
	}
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

struct h_proxy *lu_spawn_limited(const char *conf, int fe_port, rlim_t nofile)
{
	struct h_proxy *p = calloc(1, sizeof(*p));
	char name[32], *slash;
	uint64_t deadline;

	cr_assert(p && g_nspawned < MAX_SPAWNED);
	g_spawned[g_nspawned] = p;
	snprintf(name, sizeof(name), "l%d.conf", g_nspawned++);
	h_write_file(name, conf, p->conf_path, sizeof(p->conf_path));
	slash = strrchr(p->conf_path, '/');
	cr_assert(slash && (size_t)(slash - p->conf_path) < sizeof(p->dir));
	memcpy(p->dir, p->conf_path, (size_t)(slash - p->conf_path));
	p->dir[slash - p->conf_path] = 0;
	snprintf(p->log_path, sizeof(p->log_path), "%s/l%d.log", p->dir, g_nspawned - 1);
	p->port = fe_port;
	fflush(NULL);
	p->pid = fork();
	cr_assert(p->pid >= 0, "fork: %s", strerror(errno));
	if (p->pid == 0)
		exec_limited(p->log_path, p->conf_path, nofile);
	if (fe_port <= 0)
		return p;
	deadline = h_now_ms() + 5000u * (unsigned)h_slow();
	while (!port_listening(fe_port) && !h_proxy_wait_exit(p, 0) && h_now_ms() < deadline)
		h_sleep_ms(10);
	if (p->pid <= 0 || !port_listening(fe_port))
		return p; /* the caller looks at pid/status */
	/* a count that never settles: the last one (the test's checks say more) */
	p->fd_baseline = h_proxy_fd_count_settled(p, 3000 * h_slow());
	if (p->fd_baseline < 0)
		p->fd_baseline = h_proxy_fd_count(p);
	return p;
}
