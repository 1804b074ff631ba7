/*
 * The fd audit is exact under load, through the real binary (two workers):
 * while many clients open short connections (keep-alive and close, some
 * ended with an RST, some refused at the source limit) through an http
 * frontend to a pooled and a server-close backend and a tcp frontend, and
 * while one origin is killed with SIGKILL mid-load and started again,
 * every sample of /metrics has sluice_process_open_fds ==
 * sluice_process_accounted_fds, and the server sockets held as direct
 * descriptors match too (sluice_process_direct_fds ==
 * sluice_process_accounted_direct_fds). The origin is a forked process serving
 * any number of keep-alive connections with poll(), so that killing it
 * resets everything it holds at once.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

static pid_t g_origins[4];
static int g_norigins;

static void fa_fini(void)
{
	for (int i = 0; i < g_norigins; i++)
		if (g_origins[i] > 0) {
			kill(g_origins[i], SIGKILL);
			waitpid(g_origins[i], NULL, 0);
		}
	g_norigins = 0;
	h_teardown();
}

TestSuite(fd_audit, .init = h_setup, .fini = fa_fini, .timeout = 90);

/* ---- a forked keep-alive origin ------------------------------------------ */

#define FO_MAX 1024

static void fo_serve(int lfd)
{
	static struct pollfd pf[FO_MAX];
	static char buf[FO_MAX][2048];
	static size_t len[FO_MAX];
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	int n = 1;

	pf[0].fd = lfd;
	pf[0].events = POLLIN;
	for (;;) {
		if (poll(pf, (nfds_t)n, -1) < 0)
			continue;
		if ((pf[0].revents & POLLIN) && n < FO_MAX) {
			int fd = accept(lfd, NULL, NULL);

			if (fd >= 0) {
				pf[n].fd = fd;
				pf[n].events = POLLIN;
				pf[n].revents = 0;
				len[n++] = 0;
			}
		}
		for (int i = 1; i < n; i++) {
			ssize_t r;
			char *e;

			if (!pf[i].revents)
				continue;
			r = read(pf[i].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
			if (r <= 0) {
				close(pf[i].fd);
				pf[i] = pf[--n];
				len[i] = len[n];
				memcpy(buf[i], buf[n], len[i]);
				i--;
				continue;
			}
			len[i] += (size_t)r;
			buf[i][len[i]] = 0;
			while ((e = strstr(buf[i], "\r\n\r\n"))) {
				size_t used = (size_t)(e + 4 - buf[i]);

				if (write(pf[i].fd, rsp, sizeof(rsp) - 1) < 0)
					break;
				memmove(buf[i], e + 4, len[i] - used + 1);
				len[i] -= used;
			}
			if (len[i] >= sizeof(buf[i]) - 1)
				len[i] = 0;
		}
	}
}

/* Starts (or restarts, on the same port) the origin; returns its pid. */
static pid_t fo_start(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	cr_assert(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)*port);
	cr_assert(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0, "origin bind :%d: %s", *port,
		  strerror(errno));
	cr_assert(listen(lfd, 1024) == 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	*port = ntohs(a.sin_port);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		fo_serve(lfd);
		_exit(0);
	}
	close(lfd);
	if (g_norigins < 4)
		g_origins[g_norigins++] = pid;
	return pid;
}

static void fo_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < g_norigins; i++)
		if (g_origins[i] == pid)
			g_origins[i] = 0;
}

/* ---- load ------------------------------------------------------------------ */

struct load {
	int http_port, tcp_port;
	atomic_int stop;
	atomic_long conns, rsp_ok, rsp_err;
};

static void linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* One short connection: 1 to 3 requests, the last one "Connection: close"
 * (or none: the client just goes), sometimes ended with an RST. */
static void one_http(struct load *ld, unsigned k)
{
	static const char *const paths[] = { "/pool", "/close" };
	int fd = h_connect(ld->http_port, 2000), nreq = 1 + (int)(k % 3);
	char req[160], rsp[4096];

	if (fd < 0)
		return;
	atomic_fetch_add(&ld->conns, 1);
	for (int i = 0; i < nreq; i++) {
		int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n",
				 paths[(k >> 2) & 1], i == nreq - 1 && (k & 8) ? "Connection: close\r\n" : "");
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (h_send_all(fd, req, (size_t)n, -1, 2000) < 0)
			break;
		if (poll(&p, 1, 3000) <= 0 || (r = recv(fd, rsp, sizeof(rsp) - 1, 0)) <= 0)
			break;
		rsp[r] = 0;
		atomic_fetch_add(!strncmp(rsp, "HTTP/1.1 200", 12) ? &ld->rsp_ok : &ld->rsp_err, 1);
	}
	if (k % 5 == 0)
		linger0(fd);
	close(fd);
}

static void one_tcp(struct load *ld, unsigned k)
{
	int fd = h_connect(ld->tcp_port, 2000);
	static const char req[] = "GET /t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	char rsp[512];

	if (fd < 0)
		return;
	atomic_fetch_add(&ld->conns, 1);
	if (h_send_all(fd, req, sizeof(req) - 1, -1, 2000) == 0 && (k & 1)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 3000) > 0)
			(void)!recv(fd, rsp, sizeof(rsp), 0);
	}
	if (k % 3 == 0)
		linger0(fd);
	close(fd);
}

static void *load_main(void *arg)
{
	struct load *ld = arg;
	unsigned k = (unsigned)(uintptr_t)pthread_self() * 2654435761u;

	while (!atomic_load(&ld->stop)) {
		k++;
		if (k % 4 == 0)
			one_tcp(ld, k);
		else
			one_http(ld, k);
	}
	return NULL;
}

/* ---- the test ---------------------------------------------------------------- */

#define NLOAD 12

static void metrics_fds(struct h_proxy *p, double *open_fds, double *acc, double *sessions,
			double *dopen, double *dacc)
{
	char *body = NULL;
	int st = h_http_get(p->stats_port, "/metrics", &body, NULL, 10000 * h_slow());

	cr_assert_eq(st, 200, "GET /metrics: %d", st);
	cr_assert(h_metric(body, "sluice_process_open_fds", open_fds) &&
		  h_metric(body, "sluice_process_accounted_fds", acc));
	cr_assert(h_metric(body, "sluice_process_direct_fds", dopen) &&
		  h_metric(body, "sluice_process_accounted_direct_fds", dacc));
	if (!h_metric(body, "sluice_process_sessions_current", sessions))
		*sessions = -1;
	free(body);
}

Test(fd_audit, exact_in_every_sample_under_load_and_origin_death)
{
	int pa = 0, pb = 0, web = h_free_port(), tcp = h_free_port();
	pid_t oa = fo_start(&pa), ob = fo_start(&pb);
	struct load ld = { .http_port = web, .tcp_port = tcp };
	pthread_t th[NLOAD];
	char conf[2048];
	struct h_proxy *p;
	double open_fds, acc, sess, max_open = 0, dopen, dacc, max_direct = 0;
	int samples = 0, busy = 0;
	uint64_t t0;

	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 2\nlog = stderr\ngrace = 300ms\n\n"
		 "[defaults]\ntimeout_connect = 300ms\ntimeout_client = 5s\ntimeout_server = 5s\n"
		 "timeout_http_keep_alive = 2s\n\n"
		 "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = pool\n"
		 "route = path_prefix /close backend close\nmaxconn_per_source = 40\n\n"
		 "[frontend tcp]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = raw\n\n"
		 "[backend pool]\nmode = http-keep-alive\npool_idle_timeout = 500ms\n"
		 "server = a 127.0.0.1:%d\nserver = b 127.0.0.1:%d\n\n"
		 "[backend close]\nmode = http-server-close\nserver = a 127.0.0.1:%d\n"
		 "server = b 127.0.0.1:%d\n\n"
		 "[backend raw]\nmode = tcp\nserver = a 127.0.0.1:%d\n",
		 web, tcp, pa, pb, pa, pb, pa);
	p = h_proxy_start_text(conf, web);
	for (int i = 0; i < NLOAD; i++)
		pthread_create(&th[i], NULL, load_main, &ld);
	t0 = h_now_ms();
	for (int phase = 0; phase < 3; phase++) {
		/* 0: all up; 1: origin a killed mid-load; 2: a back */
		if (phase == 1)
			fo_kill(oa);
		if (phase == 2)
			oa = fo_start(&pa);
		for (uint64_t end = h_now_ms() + 1500; h_now_ms() < end; ) {
			metrics_fds(p, &open_fds, &acc, &sess, &dopen, &dacc);
			samples++;
			if (sess > 2)
				busy++;
			if (open_fds > max_open)
				max_open = open_fds;
			cr_assert_eq(open_fds, acc, "sample %d (phase %d, %llu ms into the load, "
				     "%g sessions): open fds %g != accounted %g", samples, phase,
				     (unsigned long long)(h_now_ms() - t0), sess, open_fds, acc);
			cr_assert_eq(dopen, dacc, "sample %d (phase %d, %llu ms into the load): "
				     "direct descriptors in use %g != accounted %g", samples, phase,
				     (unsigned long long)(h_now_ms() - t0), dopen, dacc);
			if (dopen > max_direct)
				max_direct = dopen;
		}
	}
	atomic_store(&ld.stop, 1);
	for (int i = 0; i < NLOAD; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "fd audit: %d samples equal (%d with sessions open, at most %g fds, "
		"%g direct); %ld connections, %ld ok, %ld other responses\n", samples, busy,
		max_open, max_direct,
		atomic_load(&ld.conns), atomic_load(&ld.rsp_ok), atomic_load(&ld.rsp_err));
	cr_assert(samples >= 20 && busy >= samples / 4, "the load must be running while sampled: "
		  "%d samples, %d busy", samples, busy);
	cr_assert(atomic_load(&ld.rsp_ok) > 100, "requests must succeed");
	h_proxy_finish(p);
	fo_kill(oa);
	fo_kill(ob);
}
