/*
 * tcp mode under load: 1,000 sessions open at the same time through an
 * echo server (and 400 through two workers), 4 KiB each way per session,
 * every byte checked, every session concurrently open at the origin, and
 * no fd left behind.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(tcp_load, .init = h_setup, .fini = h_teardown, .timeout = 120);

#define LEN 4096

enum { ST_CONNECTING, ST_SENDING, ST_READING, ST_DONE };

struct sess {
	int fd;
	int state;
	size_t sent, got;
	uint64_t hash;
	int err;
};

static int start_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		cr_assert(errno == EINPROGRESS, "connect: %s", strerror(errno));
	return fd;
}

/* Advances one session on poll events; sets s->err on failure. */
static void step(struct sess *s, int i, short revents)
{
	uint8_t buf[LEN];
	ssize_t r;

	if (s->state == ST_CONNECTING && (revents & (POLLOUT | POLLERR |
						      POLLHUP))) {
		socklen_t len = sizeof(s->err);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &s->err, &len);
		if (s->err)
			return;
		s->state = ST_SENDING;
	}
	if (s->state == ST_SENDING) {
		h_pattern(buf, LEN - s->sent, s->sent, 1000u + (unsigned)i);
		r = send(s->fd, buf, LEN - s->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno != EAGAIN) {
			s->err = errno;
			return;
		}
		if (r > 0)
			s->sent += (size_t)r;
		if (s->sent == LEN)
			s->state = ST_READING;
	}
	if (s->state == ST_READING && (revents & (POLLIN | POLLERR | POLLHUP))) {
		r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0) {
			s->err = EPIPE;
		} else if (r < 0 && errno != EAGAIN) {
			s->err = errno;
		} else if (r > 0) {
			s->hash = h_fnv1a(s->hash, buf, (size_t)r);
			s->got += (size_t)r;
			if (s->got > LEN)
				s->err = E2BIG;
			else if (s->got == LEN)
				s->state = ST_DONE;
		}
	}
}

/* nsess sessions open at once through `workers` workers, 4 KiB echoed each. */
static void concurrent_echo(int workers, int nsess)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	struct h_tcp_conf c = { .nservers = 1, .workers = workers };
	struct h_proxy *p;
	struct sess *ss = calloc((size_t)nsess, sizeof(*ss));
	struct pollfd *pfd = calloc((size_t)nsess, sizeof(*pfd));
	int *idx = calloc((size_t)nsess, sizeof(*idx));
	uint64_t deadline;
	int i, done = 0;

	cr_assert(ss && pfd && idx);
	c.server_port[0] = h_origin_port(o);
	p = h_proxy_start_tcp(&c);
	for (i = 0; i < nsess; i++) {
		ss[i].fd = start_connect(p->port);
		ss[i].hash = H_FNV_INIT;
	}
	deadline = h_now_ms() + 30000u * (unsigned)h_slow();
	if (deadline > h_now_ms() + 100000)
		deadline = h_now_ms() + 100000;
	while (done < nsess) {
		int n = 0, r;

		for (i = 0; i < nsess; i++) {
			if (ss[i].state == ST_DONE)
				continue;
			pfd[n].fd = ss[i].fd;
			pfd[n].events = ss[i].state == ST_READING ? POLLIN
								  : POLLOUT;
			pfd[n].revents = 0;
			idx[n++] = i;
		}
		cr_assert(h_now_ms() < deadline,
			  "%d of %d sessions done when time ran out "
			  "(origin accepted %d)", done, nsess,
			  h_origin_accepted(o));
		r = poll(pfd, (nfds_t)n, 200);
		cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		for (i = 0; i < n && r > 0; i++) {
			struct sess *s = &ss[idx[i]];

			if (!pfd[i].revents)
				continue;
			step(s, idx[i], pfd[i].revents);
			cr_assert(!s->err, "session %d failed (%s) after "
				  "sending %zu and receiving %zu bytes", idx[i],
				  strerror(s->err), s->sent, s->got);
			if (s->state == ST_DONE)
				done++;
		}
	}
	for (i = 0; i < nsess; i++)
		cr_assert_eq(ss[i].hash, h_pattern_hash(LEN, 1000u + (unsigned)i),
			     "session %d: echoed data differs", i);
	cr_assert_eq(h_origin_max_active(o), nsess,
		     "only %d sessions were open at the origin at once",
		     h_origin_max_active(o));
	for (i = 0; i < nsess; i++)
		close(ss[i].fd);
	cr_assert_eq(h_origin_wait_done(o, nsess, 20000 * h_slow()), nsess,
		     "origin connections still open after the clients closed");
	free(ss);
	free(pfd);
	free(idx);
	h_proxy_finish(p);
}

Test(tcp_load, thousand_concurrent_sessions_echo_4kib_each)
{
	concurrent_echo(1, 1000);
}

Test(tcp_load, two_workers_serve_400_concurrent_sessions)
{
	concurrent_echo(2, 400);
}
