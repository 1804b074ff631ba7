/*
 * Deadlines at scale: every session's timeout waits in its worker's heap
 * under one io_uring timeout (core/timerq.c). Many sessions of frontends
 * with different timeouts, opened interleaved, each close on time (none
 * early, none much late); sessions kept busy past their timeout stay open
 * and close a timeout after they fall silent; idle keep-alive clients of
 * two http frontends with different timeout_http_keep_alive close each at
 * their own. Bounds are generous: the machine is shared.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

TestSuite(timers, .init = h_setup, .fini = h_teardown, .timeout = 90);

#define NFE 3
#define PER_FE 60

static const unsigned fe_ms[NFE] = { 700, 1500, 2500 };

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

/* tcp frontends f0..f2 with timeout_client fe_ms[i] to one silent server
 * (timeout_server long). ports[] gets their ports. */
static struct h_proxy *tcp_proxy(int origin_port, int *ports)
{
	struct h_cbuf b = { .len = 0 };

	h_cbuf_add(&b, "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n\n"
		   "[defaults]\ntimeout_connect = 1s\ntimeout_server = 60s\n"
		   "timeout_client_fin = 300ms\ntimeout_server_fin = 300ms\n\n"
		   "[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n\n", origin_port);
	for (int i = 0; i < NFE; i++) {
		ports[i] = h_free_port();
		h_cbuf_add(&b, "[frontend f%d]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n"
			   "timeout_client = %ums\n\n", i, ports[i], fe_ms[i]);
	}
	return h_proxy_start_text(b.s, ports[NFE - 1]);
}

struct watched {
	int fd;
	unsigned to_ms;     /* the timeout that applies */
	uint64_t t_from;    /* when it started to count */
	uint64_t t_closed;  /* 0: still open */
};

/* Polls every socket until all are closed by the proxy (EOF or reset) or
 * limit_ms passes; t_closed records when each was seen closed. Whatever
 * a socket receives is discarded. Returns how many are still open. */
static int watch_closes(struct watched *v, int n, unsigned limit_ms)
{
	struct pollfd pfd[NFE * PER_FE];
	uint64_t end = h_now_ms() + limit_ms;
	int open = 0;

	cr_assert(n <= NFE * PER_FE);
	for (int i = 0; i < n; i++)
		open += !v[i].t_closed;
	while (open && h_now_ms() < end) {
		int k = 0, idx[NFE * PER_FE];

		for (int i = 0; i < n; i++) {
			if (v[i].t_closed)
				continue;
			pfd[k] = (struct pollfd){ .fd = v[i].fd, .events = POLLIN };
			idx[k++] = i;
		}
		if (poll(pfd, (nfds_t)k, 50) <= 0)
			continue;
		for (int j = 0; j < k; j++) {
			char buf[512];
			ssize_t r;

			if (!pfd[j].revents)
				continue;
			r = recv(pfd[j].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				v[idx[j]].t_closed = h_now_ms();
				open--;
			}
		}
	}
	return open;
}

/* Each closed at its timeout: not before 80% of it, not after it plus a
 * generous margin. */
static void expect_on_time(const struct watched *v, int n)
{
	uint64_t slack = 1500u * (unsigned)h_slow();

	for (int i = 0; i < n; i++) {
		uint64_t ms = v[i].t_closed - v[i].t_from;

		cr_assert(v[i].t_closed, "session %d (timeout %u ms) never closed", i, v[i].to_ms);
		cr_assert(ms >= v[i].to_ms * 8 / 10 && ms <= v[i].to_ms + slack,
			  "session %d with a %u ms timeout closed after %llu ms", i, v[i].to_ms,
			  (unsigned long long)ms);
	}
}

Test(timers, many_sessions_with_different_timeouts_each_close_on_time)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	static struct watched v[NFE * PER_FE];
	int ports[NFE], n = 0;
	struct h_proxy *p = tcp_proxy(h_origin_port(o), ports);

	/* interleaved: every frontend's sessions enter the heap mixed */
	for (int k = 0; k < PER_FE; k++) {
		for (int i = 0; i < NFE; i++) {
			int fd = h_connect(ports[i], io_to());

			cr_assert(fd >= 0, "connect: %s", strerror(-fd));
			v[n++] = (struct watched){ .fd = fd, .to_ms = fe_ms[i], .t_from = h_now_ms() };
		}
	}
	cr_assert_eq(h_origin_wait_accepted(o, n, io_to()), n, "not every session connected");
	cr_assert_eq(watch_closes(v, n, fe_ms[NFE - 1] + 5000u * (unsigned)h_slow()), 0,
		     "sessions left open");
	expect_on_time(v, n);
	for (int i = 0; i < n; i++)
		close(v[i].fd);
	h_origin_stop(o);
	h_proxy_finish(p);
}

Test(timers, busy_sessions_outlive_their_timeout_then_close)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	static struct watched v[2 * PER_FE];
	int ports[NFE], n = 0;
	struct h_proxy *p = tcp_proxy(h_origin_port(o), ports);
	uint64_t t_end;

	/* half of them talk every 200 ms for 2 s on the 700 ms frontend, the
	 * other half stay silent there: those close first */
	for (int i = 0; i < 2 * PER_FE; i++) {
		int fd = h_connect(ports[0], io_to());

		cr_assert(fd >= 0, "connect: %s", strerror(-fd));
		v[n++] = (struct watched){ .fd = fd, .to_ms = fe_ms[0], .t_from = h_now_ms() };
	}
	cr_assert_eq(h_origin_wait_accepted(o, n, io_to()), n, "not every session connected");
	t_end = h_now_ms() + 2000;
	while (h_now_ms() < t_end) {
		for (int i = 0; i < n; i += 2) {
			int rc = h_send_all(v[i].fd, "x", 1, -1, io_to());

			cr_assert(rc == 0 && !v[i].t_closed, "busy session %d closed while it talked: %s",
				  i, strerror(-rc));
			v[i].t_from = h_now_ms();
		}
		watch_closes(v, n, 200); /* the silent ones close meanwhile */
	}
	cr_assert_eq(watch_closes(v, n, fe_ms[0] + 5000u * (unsigned)h_slow()), 0,
		     "sessions left open");
	for (int i = 1; i < n; i += 2)
		cr_assert(v[i].t_closed < t_end, "silent session %d outlived the busy period", i);
	expect_on_time(v, n);
	for (int i = 0; i < n; i++)
		close(v[i].fd);
	h_origin_stop(o);
	h_proxy_finish(p);
}

/* An origin that answers every request on a kept-alive connection (its
 * sockets are non-blocking), until the client closes or the origin stops. */
static void handle_http(struct h_conn *c)
{
	char buf[4096];
	size_t have = 0;
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	for (;;) {
		struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
					 { .fd = c->stopfd, .events = POLLIN } };
		ssize_t r;

		if (poll(pfd, 2, 1000) < 0 || pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		r = recv(c->fd, buf + have, sizeof(buf) - have - 1, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = 0;
		while (strstr(buf, "\r\n\r\n")) {
			char *end = strstr(buf, "\r\n\r\n") + 4;

			if (h_send_all(c->fd, rsp, sizeof(rsp) - 1, c->stopfd, 5000) < 0)
				goto out;
			have -= (size_t)(end - buf);
			memmove(buf, end, have + 1);
		}
	}
out:
	close(c->fd);
	c->fd = -1;
}

/* Reads one response with a 2-byte body (whatever headers the proxy put
 * in front of it); returns 0 or -errno. */
static int read_response(int fd, char *buf, size_t n)
{
	size_t have = 0;
	uint64_t end = h_now_ms() + (uint64_t)io_to();

	while (h_now_ms() < end && have + 1 < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char *eoh;
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf + have, n - have - 1, MSG_DONTWAIT);
		if (r == 0)
			return -EPIPE;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (r > 0)
			have += (size_t)r;
		buf[have] = 0;
		eoh = strstr(buf, "\r\n\r\n");
		if (eoh && (size_t)(eoh + 4 - buf) + 2 <= have)
			return 0;
	}
	return -ETIMEDOUT;
}

Test(timers, keep_alive_clients_close_at_their_frontends_timeout)
{
	struct h_origin_opts oo = { .handler = handle_http };
	struct h_origin *o = h_origin_start(&oo);
	static struct watched v[2 * PER_FE];
	static const unsigned ka[2] = { 800, 2000 };
	struct h_cbuf b = { .len = 0 };
	int ports[2], n = 0;
	struct h_proxy *p;

	h_cbuf_add(&b, "[global]\nworkers = 1\nlog = stderr\ngrace = 1s\n\n"
		   "[defaults]\ntimeout_client = 30s\ntimeout_server = 30s\n"
		   "timeout_http_request = 30s\n\n"
		   "[backend app]\nmode = http-keep-alive\nserver = s1 127.0.0.1:%d\n\n",
		   h_origin_port(o));
	for (int i = 0; i < 2; i++) {
		ports[i] = h_free_port();
		h_cbuf_add(&b, "[frontend w%d]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n"
			   "timeout_http_keep_alive = %ums\n\n", i, ports[i], ka[i]);
	}
	p = h_proxy_start_text(b.s, ports[1]);
	for (int k = 0; k < PER_FE; k++) {
		for (int i = 0; i < 2; i++) {
			static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
			char rsp[1024];
			int fd = h_connect(ports[i], io_to()), rc;

			cr_assert(fd >= 0, "connect: %s", strerror(-fd));
			cr_assert_eq(h_send_all(fd, req, sizeof(req) - 1, -1, io_to()), 0);
			rc = read_response(fd, rsp, sizeof(rsp));
			cr_assert_eq(rc, 0, "response on frontend w%d: %s", i, strerror(-rc));
			cr_assert(strncmp(rsp, "HTTP/1.1 200", 12) == 0, "got %.60s", rsp);
			v[n++] = (struct watched){ .fd = fd, .to_ms = ka[i], .t_from = h_now_ms() };
		}
	}
	cr_assert_eq(watch_closes(v, n, ka[1] + 5000u * (unsigned)h_slow()), 0,
		     "keep-alive clients left open");
	expect_on_time(v, n);
	for (int i = 0; i < n; i++)
		close(v[i].fd);
	h_origin_stop(o);
	h_proxy_finish(p);
}
