/*
 * Integration test harness (tests/ layer), see harness.h: the network side.
 * Deterministic data and its hash, socket I/O with timeouts, origin servers
 * (one listener thread, one thread per connection) and never-accepting
 * listeners. Everything started is registered and released by
 * h_origins_teardown(), which h_teardown() calls.
 */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN_TIMEOUT_MS 30000 /* origin inactivity bound; stop wakes it */
#define ORIGIN_MAX_CONNS 2048
#define IOBUF (64 * 1024)
#define MAX_REG 32

static struct h_origin *g_origins[MAX_REG];
static int g_norigins;
static struct h_blackhole *g_holes[MAX_REG];
static int g_nholes;

static void origin_free(struct h_origin *o);

void h_origins_teardown(void)
{
	int i;

	for (i = 0; i < g_norigins; i++) {
		h_origin_stop(g_origins[i]);
		origin_free(g_origins[i]);
	}
	g_norigins = 0;
	for (i = 0; i < g_nholes; i++)
		h_blackhole_stop(g_holes[i]);
	g_nholes = 0;
}

/* ---- data ---------------------------------------------------------------- */

uint64_t h_fnv1a(uint64_t h, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void h_pattern(void *buf, size_t n, uint64_t off, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i = 0;

	while (i < n) {
		uint64_t pos = off + i;
		uint64_t v = mix64((pos >> 3) ^ ((uint64_t)seed << 40));
		unsigned k;

		for (k = pos & 7; k < 8 && i < n; k++, i++)
			b[i] = (uint8_t)(v >> (8 * k));
	}
}

uint64_t h_pattern_hash(uint64_t n, uint32_t seed)
{
	uint8_t *buf = malloc(IOBUF);
	uint64_t h = H_FNV_INIT, off = 0;

	cr_assert(buf);
	while (off < n) {
		size_t len = n - off > IOBUF ? IOBUF : (size_t)(n - off);

		h_pattern(buf, len, off, seed);
		h = h_fnv1a(h, buf, len);
		off += len;
	}
	free(buf);
	return h;
}

/* ---- socket I/O ---------------------------------------------------------- */

/* Waits for ev on fd: 0, -ECANCELED (stopfd readable), -ETIMEDOUT. */
static int wait_fd(int fd, short ev, int stopfd, int timeout_ms)
{
	struct pollfd p[2] = { { fd, ev, 0 }, { stopfd, POLLIN, 0 } };
	nfds_t n = stopfd >= 0 ? 2 : 1;
	int r;

	do {
		r = poll(p, n, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (n == 2 && p[1].revents)
		return -ECANCELED;
	return 0;
}

/* Sleeps ms unless stopfd turns readable: 0 or -ECANCELED. */
static int pause_stop(int stopfd, int ms)
{
	struct pollfd p = { stopfd, POLLIN, 0 };

	if (stopfd < 0) {
		h_sleep_ms((unsigned)ms);
		return 0;
	}
	return poll(&p, 1, ms) > 0 ? -ECANCELED : 0;
}

static void set_timeo(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int h_connect(int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd, err = 0, r;
	socklen_t len = sizeof(err);

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeo(fd, 30000);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			close(fd);
			return err;
		}
		r = wait_fd(fd, POLLOUT, -1, timeout_ms);
		if (r < 0) {
			close(fd);
			return r;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			close(fd);
			return -err;
		}
	}
	return fd;
}

int h_send_all(int fd, const void *buf, size_t n, int stopfd, int timeout_ms)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < n) {
		ssize_t r = send(fd, p + off, n - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r > 0) {
			off += (size_t)r;
		} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			int w = wait_fd(fd, POLLOUT, stopfd, timeout_ms);

			if (w < 0)
				return w;
		} else {
			return r < 0 ? -errno : -EIO;
		}
	}
	return 0;
}

int h_send_pattern(int fd, uint64_t n, uint32_t seed, size_t chunk,
		   int pause_ms, int stopfd, int timeout_ms, uint64_t *sent)
{
	uint8_t *buf;
	uint64_t off = 0;
	int r = 0;

	if (!chunk || chunk > IOBUF)
		chunk = IOBUF;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	while (off < n) {
		size_t len = n - off > chunk ? chunk : (size_t)(n - off);

		h_pattern(buf, len, off, seed);
		r = h_send_all(fd, buf, len, stopfd, timeout_ms);
		if (r < 0)
			break;
		off += len;
		if (sent)
			*sent = off;
		if (pause_ms > 0 && off < n) {
			r = pause_stop(stopfd, pause_ms);
			if (r < 0)
				break;
		}
	}
	free(buf);
	return r;
}

/* One recv: >0 bytes, 0 EOF, -errno. */
static ssize_t recv_some(int fd, void *buf, size_t n, int stopfd,
			 int timeout_ms)
{
	for (;;) {
		ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
		int w;

		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		w = wait_fd(fd, POLLIN, stopfd, timeout_ms);
		if (w < 0)
			return w;
	}
}

void h_rx_init(struct h_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->hash = H_FNV_INIT;
	rx->end = 1;
}

int h_recv_all(int fd, struct h_rx *rx, uint64_t max, int stopfd,
	       int timeout_ms)
{
	uint8_t *buf = malloc(IOBUF);

	cr_assert(buf);
	rx->end = 1;
	while (rx->bytes < max) {
		size_t want = IOBUF;
		ssize_t r;

		if (max - rx->bytes < want)
			want = (size_t)(max - rx->bytes);
		r = recv_some(fd, buf, want, stopfd, timeout_ms);
		if (r <= 0) {
			rx->end = (int)r;
			break;
		}
		rx->hash = h_fnv1a(rx->hash, buf, (size_t)r);
		rx->bytes += (uint64_t)r;
	}
	rx->t_end = h_now_ms();
	free(buf);
	return rx->end;
}

int h_recv_exact(int fd, void *buf, size_t n, int timeout_ms)
{
	uint8_t *p = buf;
	size_t off = 0;

	while (off < n) {
		ssize_t r = recv_some(fd, p + off, n - off, -1, timeout_ms);

		if (r == 0)
			return -EPIPE;
		if (r < 0)
			return (int)r;
		off += (size_t)r;
	}
	return 0;
}

int h_wait_closed(int fd, int timeout_ms, uint64_t *nbytes)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	char buf[16384];

	for (;;) {
		uint64_t now = h_now_ms();
		ssize_t r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = recv_some(fd, buf, sizeof(buf), -1, (int)(deadline - now));
		if (r <= 0)
			return (int)r;
		if (nbytes)
			*nbytes += (uint64_t)r;
	}
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}

bool h_probe_closed(int fd, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	char b = 'p';

	if (tcp_state(fd) == TCP_CLOSE)
		return true;
	if (send(fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN)
		return true;
	while (h_now_ms() < deadline) {
		if (tcp_state(fd) == TCP_CLOSE)
			return true;
		h_sleep_ms(10);
	}
	return false;
}

void h_close_rst(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void *sender_main(void *arg)
{
	struct h_sender *s = arg;

	s->rc = h_send_pattern(s->fd, s->len, s->seed, s->chunk, s->pause_ms,
			       -1, H_IO_TIMEOUT_MS * h_slow(), &s->sent);
	if (s->rc == 0 && s->shut && shutdown(s->fd, SHUT_WR) < 0)
		s->rc = -errno;
	return NULL;
}

void h_sender_start_paced(struct h_sender *s, int fd, uint64_t len,
			  uint32_t seed, size_t chunk, int pause_ms, bool shut)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->len = len;
	s->seed = seed;
	s->chunk = chunk;
	s->pause_ms = pause_ms;
	s->shut = shut;
	cr_assert(pthread_create(&s->thr, NULL, sender_main, s) == 0);
}

void h_sender_start(struct h_sender *s, int fd, uint64_t len, uint32_t seed,
		    bool shut)
{
	h_sender_start_paced(s, fd, len, seed, 0, 0, shut);
}

int h_sender_join(struct h_sender *s)
{
	pthread_join(s->thr, NULL);
	return s->rc;
}

/* ---- origins -------------------------------------------------------------- */

struct conn_slot {
	struct h_conn c;
	struct h_conn_rec work; /* the handler's own copy */
	struct h_conn_rec pub;  /* published copy, under o->mu */
	bool published;
	pthread_t thr;
	bool thr_started;
};

struct h_origin {
	struct h_origin_opts opts;
	int port;
	int lfd;
	int stop_pipe[2];
	pthread_t accept_thr;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int naccepted, nactive, max_active, ndone;
	struct conn_slot *slots;
};

static int io_to(void)
{
	return ORIGIN_TIMEOUT_MS;
}

void h_conn_publish(struct h_conn *c)
{
	struct h_origin *o = c->o;
	struct conn_slot *s = &o->slots[c->idx];

	pthread_mutex_lock(&o->mu);
	s->pub = s->work;
	s->published = true;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void *conn_main(void *arg)
{
	struct conn_slot *s = arg;
	struct h_origin *o = s->c.o;

	o->opts.handler(&s->c);
	if (s->c.fd >= 0) {
		close(s->c.fd);
		s->c.fd = -1;
	}
	pthread_mutex_lock(&o->mu);
	s->work.t_done = h_now_ms();
	s->work.done = true;
	s->work.fd = -1;
	s->pub = s->work;
	s->published = true;
	o->ndone++;
	o->nactive--;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct h_origin *o = arg;
	pthread_attr_t attr;
	int i;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (;;) {
		struct conn_slot *s;
		int fd, r;

		r = wait_fd(o->lfd, POLLIN, o->stop_pipe[0], -1);
		if (r == -ECANCELED)
			break;
		fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				h_sleep_ms(10);
			continue;
		}
		pthread_mutex_lock(&o->mu);
		if (o->naccepted >= ORIGIN_MAX_CONNS) {
			pthread_mutex_unlock(&o->mu);
			close(fd);
			continue;
		}
		s = &o->slots[o->naccepted];
		s->c.o = o;
		s->c.fd = fd;
		s->c.idx = o->naccepted;
		s->c.stopfd = o->stop_pipe[0];
		s->c.rec = &s->work;
		h_rx_init(&s->work.rx);
		s->work.t_accept = h_now_ms();
		s->work.fd = fd;
		s->pub = s->work;
		o->naccepted++;
		o->nactive++;
		if (o->nactive > o->max_active)
			o->max_active = o->nactive;
		pthread_cond_broadcast(&o->cv);
		pthread_mutex_unlock(&o->mu);
		if (pthread_create(&s->thr, &attr, conn_main, s) == 0) {
			s->thr_started = true;
		} else {
			/* run it inline rather than lose the connection */
			conn_main(s);
		}
	}
	for (i = 0; i < o->naccepted; i++)
		if (o->slots[i].thr_started)
			pthread_join(o->slots[i].thr, NULL);
	pthread_attr_destroy(&attr);
	return NULL;
}

struct h_origin *h_origin_start(const struct h_origin_opts *opts)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct h_origin *o = calloc(1, sizeof(*o));

	cr_assert(o && opts->handler);
	cr_assert(g_norigins < MAX_REG, "too many origins");
	o->opts = *opts;
	o->slots = calloc(ORIGIN_MAX_CONNS, sizeof(*o->slots));
	cr_assert(o->slots);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	cr_assert(pipe2(o->stop_pipe, O_CLOEXEC) == 0);
	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	cr_assert(o->lfd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)) == 0,
		  "bind: %s", strerror(errno));
	cr_assert(listen(o->lfd, 4096) == 0);
	cr_assert(getsockname(o->lfd, (struct sockaddr *)&a, &len) == 0);
	o->port = ntohs(a.sin_port);
	cr_assert(pthread_create(&o->accept_thr, NULL, accept_main, o) == 0);
	o->running = true;
	g_origins[g_norigins++] = o;
	return o;
}

int h_origin_port(const struct h_origin *o)
{
	return o->port;
}

void h_origin_stop(struct h_origin *o)
{
	if (!o || !o->running)
		return;
	o->running = false;
	if (write(o->stop_pipe[1], "x", 1) < 0)
		cr_log_error("origin stop: %s", strerror(errno));
	pthread_join(o->accept_thr, NULL);
	close(o->lfd);
	close(o->stop_pipe[0]);
	close(o->stop_pipe[1]);
}

static void origin_free(struct h_origin *o)
{
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o->slots);
	free(o);
}

static int get_locked(struct h_origin *o, const int *field)
{
	int v;

	pthread_mutex_lock(&o->mu);
	v = *field;
	pthread_mutex_unlock(&o->mu);
	return v;
}

int h_origin_accepted(struct h_origin *o)
{
	return get_locked(o, &o->naccepted);
}

int h_origin_max_active(struct h_origin *o)
{
	return get_locked(o, &o->max_active);
}

static void deadline_ts(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int wait_count(struct h_origin *o, const int *field, int n,
		      int timeout_ms)
{
	struct timespec ts;
	int v;

	deadline_ts(&ts, timeout_ms);
	pthread_mutex_lock(&o->mu);
	while (*field < n &&
	       pthread_cond_timedwait(&o->cv, &o->mu, &ts) != ETIMEDOUT)
		;
	v = *field;
	pthread_mutex_unlock(&o->mu);
	return v;
}

int h_origin_wait_accepted(struct h_origin *o, int n, int timeout_ms)
{
	return wait_count(o, &o->naccepted, n, timeout_ms);
}

int h_origin_wait_done(struct h_origin *o, int n, int timeout_ms)
{
	return wait_count(o, &o->ndone, n, timeout_ms);
}

bool h_origin_wait_rx_end(struct h_origin *o, int idx, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	cr_assert(idx >= 0 && idx < ORIGIN_MAX_CONNS);
	deadline_ts(&ts, timeout_ms);
	pthread_mutex_lock(&o->mu);
	while (!(idx < o->naccepted && o->slots[idx].published &&
		 (o->slots[idx].pub.rx.end != 1 || o->slots[idx].pub.done)) &&
	       pthread_cond_timedwait(&o->cv, &o->mu, &ts) != ETIMEDOUT)
		;
	ok = idx < o->naccepted && o->slots[idx].published &&
	     (o->slots[idx].pub.rx.end != 1 || o->slots[idx].pub.done);
	pthread_mutex_unlock(&o->mu);
	return ok;
}

struct h_conn_rec h_origin_rec(struct h_origin *o, int idx)
{
	struct h_conn_rec r;
	int n;

	pthread_mutex_lock(&o->mu);
	n = o->naccepted;
	if (idx >= 0 && idx < n)
		r = o->slots[idx].pub;
	pthread_mutex_unlock(&o->mu);
	cr_assert(idx >= 0 && idx < n,
		  "origin :%d accepted %d connections, wanted #%d", o->port,
		  n, idx);
	return r;
}

/* Waits until the origin stops (for handlers that hold a socket open). */
static void hold_until_stop(struct h_conn *c)
{
	struct pollfd p = { c->stopfd, POLLIN, 0 };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

void h_handle_echo(struct h_conn *c)
{
	struct h_conn_rec *rec = c->rec;
	uint8_t *buf = malloc(IOBUF);

	if (!buf)
		return;
	for (;;) {
		ssize_t r = recv_some(c->fd, buf, IOBUF, c->stopfd, io_to());
		int s;

		if (r <= 0) {
			rec->rx.end = (int)r;
			rec->rx.t_end = h_now_ms();
			break;
		}
		rec->rx.bytes += (uint64_t)r;
		rec->rx.hash = h_fnv1a(rec->rx.hash, buf, (size_t)r);
		s = h_send_all(c->fd, buf, (size_t)r, c->stopfd, io_to());
		if (s < 0) {
			rec->tx_err = s;
			break;
		}
		rec->tx_bytes += (uint64_t)r;
	}
	if (rec->rx.end == 0)
		shutdown(c->fd, SHUT_WR);
	free(buf);
}

void h_handle_source(struct h_conn *c)
{
	const struct h_origin_opts *op = &c->o->opts;
	struct h_conn_rec *rec = c->rec;

	rec->tx_err = h_send_pattern(c->fd, op->len, op->seed, op->chunk,
				     op->pause_ms, c->stopfd, io_to(),
				     &rec->tx_bytes);
	rec->t_tx_end = h_now_ms();
	if (rec->tx_err == 0 && !op->hold)
		shutdown(c->fd, SHUT_WR);
	h_recv_all(c->fd, &rec->rx, UINT64_MAX, c->stopfd, io_to());
	h_conn_publish(c);
}

void h_handle_sink(struct h_conn *c)
{
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, io_to());
	h_conn_publish(c);
}

void h_handle_hold(struct h_conn *c)
{
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, -1);
	h_conn_publish(c);
	hold_until_stop(c);
}

void h_handle_after_eof(struct h_conn *c)
{
	const struct h_origin_opts *op = &c->o->opts;
	struct h_conn_rec *rec = c->rec;

	if (h_recv_all(c->fd, &rec->rx, UINT64_MAX, c->stopfd, io_to()) != 0)
		return;
	h_conn_publish(c);
	rec->tx_err = h_send_pattern(c->fd, op->len, op->seed, op->chunk,
				     op->pause_ms, c->stopfd, io_to(),
				     &rec->tx_bytes);
	rec->t_tx_end = h_now_ms();
	h_conn_publish(c);
	if (op->hold)
		hold_until_stop(c);
}

void h_handle_rst(struct h_conn *c)
{
	const struct h_origin_opts *op = &c->o->opts;
	struct h_conn_rec *rec = c->rec;

	rec->tx_err = h_send_pattern(c->fd, op->len, op->seed, op->chunk, 0,
				     c->stopfd, io_to(), &rec->tx_bytes);
	if (op->delay_ms > 0 && pause_stop(c->stopfd, op->delay_ms) < 0)
		return;
	h_close_rst(c->fd);
	c->fd = -1;
}

void h_handle_tag(struct h_conn *c)
{
	struct h_conn_rec *rec = c->rec;
	char tag[2] = { c->o->opts.tag, '\n' };

	rec->tx_err = h_send_all(c->fd, tag, 2, c->stopfd, io_to());
	if (rec->tx_err == 0)
		rec->tx_bytes = 2;
	h_recv_all(c->fd, &rec->rx, UINT64_MAX, c->stopfd, io_to());
}

/* ---- never-accepting listener -------------------------------------------- */

void h_blackhole_start(struct h_blackhole *b)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int i;

	cr_assert(g_nholes < MAX_REG);
	memset(b, 0, sizeof(*b));
	for (i = 0; i < 3; i++)
		b->fill[i] = -1;
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(b->lfd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(b->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(b->lfd, 0) == 0);
	cr_assert(getsockname(b->lfd, (struct sockaddr *)&a, &len) == 0);
	b->port = ntohs(a.sin_port);
	g_holes[g_nholes++] = b;
	/* The first connection completes and fills the accept queue (backlog
	 * 0 holds one); later SYNs are dropped. Let it settle before adding
	 * the others, whose SYNs must already meet a full queue. */
	b->fill[0] = h_connect(b->port, 2000);
	cr_assert(b->fill[0] >= 0, "black hole: first connect: %s",
		  strerror(-b->fill[0]));
	h_sleep_ms(20);
	for (i = 1; i < 3; i++) {
		b->fill[i] = socket(AF_INET,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0);
		a.sin_port = htons((uint16_t)b->port);
		if (b->fill[i] >= 0 &&
		    connect(b->fill[i], (struct sockaddr *)&a, sizeof(a)) < 0 &&
		    errno != EINPROGRESS)
			cr_log_warn("black hole fill connect: %s",
				    strerror(errno));
	}
}

void h_blackhole_stop(struct h_blackhole *b)
{
	int i;

	for (i = 0; i < 3; i++)
		if (b->fill[i] >= 0) {
			close(b->fill[i]);
			b->fill[i] = -1;
		}
	if (b->lfd >= 0) {
		close(b->lfd);
		b->lfd = -1;
	}
}
