/*
 * Helpers for the health check and balancing integration tests (tests/
 * layer): see checks_util.h. A check target is one thread polling its
 * listener and every connection it holds, so that thousands of checks cost
 * no thread each; its behaviour can change while it runs.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/checks_util.h"

#define MAX_TARGETS 32
#define MAX_CONNS 256

struct cu_conn {
	int fd;
	bool head;          /* the request head is in */
	uint64_t t_answer;  /* when to answer (CU_HTTP, CU_GARBAGE) */
	enum cu_kind kind;
	int delay_ms;
	char tail[4];       /* last bytes read: "\r\n\r\n" may span reads */
};

struct cu_target {
	pthread_t thr;
	int lfd, stopfd, port;
	pthread_mutex_t lock;   /* guards everything below */
	enum cu_kind kind;
	int status, delay_ms;
	int script_status, script_left;
	int accepted, answered, open;
	struct cu_conn conns[MAX_CONNS];
	int nconns;
};

static struct cu_target *g_targets[MAX_TARGETS];
static int g_ntargets;
static struct {
	int fd, port;
} g_reserved[MAX_TARGETS];           /* reserved ports (fd -1: handed over) */
static int g_nreserved;

static void conn_drop(struct cu_target *t, int i)
{
	close(t->conns[i].fd);
	t->conns[i] = t->conns[--t->nconns];
	pthread_mutex_lock(&t->lock);
	t->open = t->nconns;
	pthread_mutex_unlock(&t->lock);
}

static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void on_accept(struct cu_target *t, int fd)
{
	struct cu_conn *c;

	pthread_mutex_lock(&t->lock);
	t->accepted++;
	enum cu_kind kind = t->kind;
	int delay = t->delay_ms;
	pthread_mutex_unlock(&t->lock);
	if (kind == CU_RST) {
		close_rst(fd);
		return;
	}
	if (t->nconns == MAX_CONNS) {
		close(fd);
		return;
	}
	c = &t->conns[t->nconns++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->kind = kind;
	c->delay_ms = delay;
	pthread_mutex_lock(&t->lock);
	t->open = t->nconns;
	pthread_mutex_unlock(&t->lock);
}

static void accept_all(struct cu_target *t)
{
	for (;;) {
		int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		on_accept(t, fd);
	}
}

/* Reads what is there; false when the connection is to be dropped. */
static bool conn_read(struct cu_conn *c)
{
	char buf[4096], win[4 + sizeof(buf)];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (n < 0 || c->head)
		return true;
	memcpy(win, c->tail, 4);
	memcpy(win + 4, buf, (size_t)n);
	if (memmem(win, 4 + (size_t)n, "\r\n\r\n", 4)) {
		c->head = true;
		c->t_answer = h_now_ms() + (uint64_t)c->delay_ms;
	}
	memcpy(c->tail, win + n, 4);
	return true;
}

static void conn_answer(struct cu_target *t, struct cu_conn *c)
{
	char resp[256];
	int status, len;

	pthread_mutex_lock(&t->lock);
	status = t->script_left > 0 ? t->script_status : t->status;
	if (t->script_left > 0)
		t->script_left--;
	t->answered++;
	pthread_mutex_unlock(&t->lock);
	if (c->kind == CU_CLOSE)
		return; /* the request was read: the close sends a FIN, not an RST */
	if (c->kind == CU_GARBAGE)
		len = snprintf(resp, sizeof(resp), "SSH-2.0-OpenSSH_9.2p1\r\n\r\n");
	else
		len = snprintf(resp, sizeof(resp), "HTTP/1.1 %d Check\r\nContent-Length: 0\r\n"
			       "Connection: close\r\n\r\n", status);
	if (send(c->fd, resp, (size_t)len, MSG_NOSIGNAL) < 0)
		(void)errno; /* the checker gave up already: fine */
}

/* Kinds that act once the request head is in (after delay_ms). */
static bool answers(const struct cu_conn *c)
{
	return c->kind == CU_HTTP || c->kind == CU_GARBAGE || c->kind == CU_CLOSE;
}

static int poll_timeout(const struct cu_target *t)
{
	uint64_t now = h_now_ms();
	int to = 100;

	for (int i = 0; i < t->nconns; i++) {
		const struct cu_conn *c = &t->conns[i];

		if (c->head && answers(c))
			to = c->t_answer <= now ? 0 : (int)(c->t_answer - now) < to ?
			     (int)(c->t_answer - now) : to;
	}
	return to;
}

static void *target_main(void *arg)
{
	struct cu_target *t = arg;
	struct pollfd pfd[MAX_CONNS + 2];

	for (;;) {
		int n = 2;

		pfd[0] = (struct pollfd){ .fd = t->stopfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
		for (int i = 0; i < t->nconns; i++)
			pfd[n++] = (struct pollfd){ .fd = t->conns[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, poll_timeout(t)) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		/* connections first: their indexes match pfd[] until one drops */
		for (int i = t->nconns - 1; i >= 0; i--)
			if (pfd[i + 2].revents && !conn_read(&t->conns[i]))
				conn_drop(t, i);
		for (int i = t->nconns - 1; i >= 0; i--) {
			struct cu_conn *c = &t->conns[i];

			if (c->head && answers(c) && h_now_ms() >= c->t_answer) {
				conn_answer(t, c);
				conn_drop(t, i);
			}
		}
		if (pfd[1].revents)
			accept_all(t);
	}
	while (t->nconns)
		conn_drop(t, t->nconns - 1);
	return NULL;
}

/* Takes the bound socket lfd, listens on it and serves it. NULL when it
 * cannot listen (lfd is closed then). */
static struct cu_target *target_on(int lfd, enum cu_kind kind, int status, int delay_ms)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct cu_target *t;

	cr_assert(g_ntargets < MAX_TARGETS);
	if (listen(lfd, 1024) < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0) {
		close(lfd);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	cr_assert_not_null(t);
	t->lfd = lfd;
	cr_assert(getsockname(t->lfd, (struct sockaddr *)&a, &len) == 0);
	t->port = ntohs(a.sin_port);
	t->stopfd = eventfd(0, EFD_CLOEXEC);
	cr_assert(t->stopfd >= 0);
	pthread_mutex_init(&t->lock, NULL);
	t->kind = kind;
	t->status = status;
	t->delay_ms = delay_ms;
	cr_assert(pthread_create(&t->thr, NULL, target_main, t) == 0);
	g_targets[g_ntargets++] = t;
	return t;
}

/* A TCP socket bound to ip:port, or -1. */
static int bound_socket(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	cr_assert(inet_pton(AF_INET, ip ? ip : "127.0.0.1", &a.sin_addr) == 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct cu_target *cu_target_start_at(const char *ip, int port, enum cu_kind kind, int status,
				     int delay_ms)
{
	int fd = bound_socket(ip, port);

	return fd < 0 ? NULL : target_on(fd, kind, status, delay_ms);
}

int cu_reserve_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = bound_socket(NULL, 0);

	cr_assert(fd >= 0 && g_nreserved < MAX_TARGETS);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	g_reserved[g_nreserved].fd = fd;
	g_reserved[g_nreserved].port = ntohs(a.sin_port);
	return g_reserved[g_nreserved++].port;
}

struct cu_target *cu_target_start_reserved(int port, enum cu_kind kind, int status,
					   int delay_ms)
{
	for (int i = 0; i < g_nreserved; i++) {
		int fd = g_reserved[i].fd;

		if (g_reserved[i].port != port || fd < 0)
			continue;
		g_reserved[i].fd = -1; /* the target owns it now */
		return target_on(fd, kind, status, delay_ms);
	}
	cr_assert_fail("port %d is not reserved", port);
	return NULL;
}

struct cu_target *cu_target_start(enum cu_kind kind, int status, int delay_ms)
{
	struct cu_target *t = cu_target_start_at(NULL, 0, kind, status, delay_ms);

	cr_assert_not_null(t, "cannot start a check target");
	return t;
}

int cu_target_port(const struct cu_target *t)
{
	return t->port;
}

void cu_target_set(struct cu_target *t, enum cu_kind kind, int status, int delay_ms)
{
	pthread_mutex_lock(&t->lock);
	t->kind = kind;
	t->status = status;
	t->delay_ms = delay_ms;
	t->script_left = 0;
	pthread_mutex_unlock(&t->lock);
}

void cu_target_script(struct cu_target *t, int status, int count)
{
	pthread_mutex_lock(&t->lock);
	t->script_status = status;
	t->script_left = count;
	pthread_mutex_unlock(&t->lock);
}

static int get_count(struct cu_target *t, const int *field)
{
	int v;

	pthread_mutex_lock(&t->lock);
	v = *field;
	pthread_mutex_unlock(&t->lock);
	return v;
}

int cu_target_accepted(struct cu_target *t)
{
	return get_count(t, &t->accepted);
}

int cu_target_answered(struct cu_target *t)
{
	return get_count(t, &t->answered);
}

int cu_target_open(struct cu_target *t)
{
	return get_count(t, &t->open);
}

int cu_target_wait_answered(struct cu_target *t, int n, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	int v;

	while ((v = cu_target_answered(t)) < n && h_now_ms() < deadline)
		h_sleep_ms(2);
	return v;
}

void cu_target_stop(struct cu_target *t)
{
	uint64_t one = 1;

	if (!t || t->lfd < 0)
		return;
	if (write(t->stopfd, &one, sizeof(one)) != sizeof(one))
		cr_log_warn("cannot stop a check target");
	pthread_join(t->thr, NULL);
	close(t->lfd);
	close(t->stopfd);
	t->lfd = -1;
}

void cu_teardown(void)
{
	for (int i = 0; i < g_ntargets; i++) {
		cu_target_stop(g_targets[i]);
		pthread_mutex_destroy(&g_targets[i]->lock);
		free(g_targets[i]);
	}
	g_ntargets = 0;
	for (int i = 0; i < g_nreserved; i++)
		if (g_reserved[i].fd >= 0)
			close(g_reserved[i].fd);
	g_nreserved = 0;
}

void cu_fini(void)
{
	cu_teardown();
	h_teardown();
}

/* ---- clients ---- */

int cu_connect_from(const char *src_ip, int port, int timeout_ms)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	dst.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	if (src_ip) {
		cr_assert(inet_pton(AF_INET, src_ip, &src.sin_addr) == 1, "bad ip %s", src_ip);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			goto err;
	}
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		goto err;
	return fd;
err:
	rc = -errno;
	close(fd);
	return rc;
}

int cu_read_tag(int fd, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	char buf[2];
	size_t got = 0;

	while (got < 2) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - h_now_ms());
		ssize_t n;

		if (h_now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, left) <= 0)
			continue;
		n = recv(fd, buf + got, 2 - got, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return buf[1] == '\n' ? buf[0] : -EPROTO;
}

int cu_tag_of_new_session(const char *src_ip, int port, int timeout_ms)
{
	int fd = cu_connect_from(src_ip, port, timeout_ms), tag;

	if (fd < 0)
		return fd;
	tag = cu_read_tag(fd, timeout_ms);
	close(fd);
	return tag;
}

/* ---- the proxy log ---- */

static char *read_log(const struct h_proxy *p)
{
	FILE *f = fopen(p->log_path, "r");
	char *buf = NULL;
	size_t cap = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &cap, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

/* Calls fn on each line containing needle until it returns false. */
static int each_line(const struct h_proxy *p, const char *needle, char *out, size_t n)
{
	char *log = read_log(p), *save = NULL, *line;
	int count = 0;

	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, needle))
			continue;
		if (out && count == 0)
			snprintf(out, n, "%s", line);
		count++;
	}
	free(log);
	return count;
}

int cu_log_count(const struct h_proxy *p, const char *needle)
{
	return each_line(p, needle, NULL, 0);
}

bool cu_log_wait(const struct h_proxy *p, const char *needle, int timeout_ms)
{
	return cu_log_wait_n(p, needle, 1, timeout_ms);
}

bool cu_log_wait_n(const struct h_proxy *p, const char *needle, int n, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	while (cu_log_count(p, needle) < n) {
		if (h_now_ms() >= deadline)
			return false;
		h_sleep_ms(10);
	}
	return true;
}

bool cu_log_line(const struct h_proxy *p, const char *needle, char *buf, size_t n)
{
	buf[0] = '\0';
	return each_line(p, needle, buf, n) > 0;
}

/* ---- sockets ---- */

void cu_tcp_count(const char *ip, int port, int *open, int *close_wait)
{
	struct in_addr want = { 0 };
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];

	*open = *close_wait = 0;
	if (ip)
		cr_assert(inet_pton(AF_INET, ip, &want) == 1);
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st;

		if (sscanf(line, " %*d: %x:%x %x:%x %x", &la, &lp, &ra, &rp, &st) != 5)
			continue;
		if ((int)rp != port || (ip && ra != want.s_addr))
			continue;
		*open += st != 0x06;        /* TIME_WAIT: closed by us, fine */
		*close_wait += st == 0x08;  /* the state HAProxy 2.9.1 leaked in */
	}
	fclose(f);
}
