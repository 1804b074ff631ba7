/* The checker thread in process: no thread without checked servers, DOWN
 * after check_fall failures and UP again after check_rise successes, tcp
 * and http checks, and a prompt stop that closes probes still waiting on a
 * silent server or on a connect nobody answers. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "checks/check.h"
#include "conf/conf.h"

static struct sl_config *conf;
static struct sl_backend *bes;
static struct sl_checker *ck;

static void teardown(void)
{
	sl_check_stop(ck);
	ck = NULL;
	if (conf)
		sl_backends_free(bes, conf->nbackends);
	sl_conf_free(conf);
	conf = NULL;
}

TestSuite(check, .fini = teardown, .timeout = 30);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void start(const char *backend)
{
	char text[1024], err[256], why[256];

	snprintf(text, sizeof(text), "[global]\nlog = off\n[frontend f]\nbind = 127.0.0.1:1\n"
		 "backend = b\n[backend b]\n%s", backend);
	cr_assert_eq(sl_conf_load_string("t.ini", text, &conf, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sl_backends_init(conf, &bes), 0);
	cr_assert_eq(sl_check_start(bes, conf->nbackends, &ck, why, sizeof(why)), 0, "%s", why);
}

static bool wait_state(int srv, enum sl_srv_state st, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (sl_server_state(&bes[0].servers[srv]) != st)
		if (now_ms() > end)
			return false;
		else
			usleep(2000);
	return true;
}

/* A socket bound to 127.0.0.1 (port 0: any), its port in *port. Bound
 * without listening, it refuses connections and keeps the port from anyone
 * else, including our own connects (which could connect to themselves). */
static int bound(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int listener(int *port, int backlog)
{
	int fd = bound(port);

	cr_assert_eq(listen(fd, backlog), 0);
	return fd;
}

/* An http server answering every request with `status`, until stopped. */
struct answerer {
	pthread_t thr;
	int lfd, port;
	atomic_int status;
	atomic_bool stop;
	atomic_int served;
};

static void *answer_main(void *arg)
{
	struct answerer *a = arg;

	while (!atomic_load(&a->stop)) {
		struct pollfd p = { .fd = a->lfd, .events = POLLIN };
		char buf[2048], resp[128];
		int fd, n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (recv(fd, buf, sizeof(buf), 0) > 0) {
			n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
				     atomic_load(&a->status));
			if (send(fd, resp, (size_t)n, MSG_NOSIGNAL) == n)
				atomic_fetch_add(&a->served, 1);
		}
		close(fd);
	}
	return NULL;
}

static void answerer_start(struct answerer *a, int status)
{
	memset(a, 0, sizeof(*a));
	a->lfd = listener(&a->port, 64);
	atomic_store(&a->status, status);
	cr_assert_eq(pthread_create(&a->thr, NULL, answer_main, a), 0);
}

static void answerer_stop(struct answerer *a)
{
	atomic_store(&a->stop, true);
	pthread_join(a->thr, NULL);
	close(a->lfd);
}

Test(check, runs_no_thread_without_checked_servers)
{
	start("check = http GET /\nserver = s1 127.0.0.1:1\nserver = s2 127.0.0.1:2 "
	      "disabled\n");
	cr_assert_null(ck);
	cr_assert_eq(sl_server_status(&bes[0].servers[1]), SL_SRV_MAINT);
}

Test(check, tcp_check_moves_a_server_down_and_up)
{
	char text[256];
	int port = 0, fd = bound(&port);

	snprintf(text, sizeof(text), "check_interval = 20ms\ncheck_fall = 2\ncheck_rise = 2\n"
		 "server = s1 127.0.0.1:%d check\nserver = s2 127.0.0.1:%d\n", port, port);
	start(text);
	cr_assert_not_null(ck);
	cr_assert_eq(sl_server_state(&bes[0].servers[0]), SL_SRV_UP, "servers start UP");
	cr_assert(wait_state(0, SL_SRV_DOWN, 2000), "a refusing server stayed UP");
	cr_assert_eq(sl_server_state(&bes[0].servers[1]), SL_SRV_UP, "s2 is not checked");
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert(wait_state(0, SL_SRV_UP, 2000), "a listening server stayed DOWN");
	close(fd);
}

Test(check, http_check_follows_the_status)
{
	struct answerer a;
	char text[256];

	answerer_start(&a, 200);
	snprintf(text, sizeof(text), "check = http GET /ping\ncheck_interval = 20ms\n"
		 "check_fall = 2\ncheck_rise = 3\nserver = s1 10.1.2.3:80 check check_addr=127.0.0.1 "
		 "check_port=%d\n", a.port);
	start(text);
	while (atomic_load(&a.served) < 5)
		usleep(2000);
	cr_assert_eq(sl_server_state(&bes[0].servers[0]), SL_SRV_UP);
	atomic_store(&a.status, 503);
	cr_assert(wait_state(0, SL_SRV_DOWN, 2000));
	atomic_store(&a.status, 301);
	cr_assert(wait_state(0, SL_SRV_UP, 2000));
	teardown();
	answerer_stop(&a);
}

Test(check, stop_aborts_probes_waiting_on_a_silent_server_and_closes_them)
{
	int port = 0, lfd = listener(&port, 64), fd;
	char text[256], buf[16];
	uint64_t t0;

	/* the kernel completes the handshake; nobody ever answers */
	snprintf(text, sizeof(text), "timeout_check = 30s\ncheck = http GET /\n"
		 "server = s1 127.0.0.1:%d check\n", port);
	start(text);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert(recv(fd, buf, sizeof(buf), 0) > 0, "no request");
	t0 = now_ms();
	sl_check_stop(ck);
	ck = NULL;
	cr_assert(now_ms() - t0 < 1000, "stop took %llu ms",
		  (unsigned long long)(now_ms() - t0));
	/* the probe's socket was closed: its request, then EOF */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	close(lfd);
}

Test(check, stop_aborts_a_connect_nobody_answers)
{
	int port = 0, lfd = listener(&port, 0), fill, fill2;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char text[256];
	uint64_t t0;

	/* fill the accept queue: further SYNs are dropped */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fill = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fill, (struct sockaddr *)&a, sizeof(a)), 0);
	usleep(20000);
	fill2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	connect(fill2, (struct sockaddr *)&a, sizeof(a));
	snprintf(text, sizeof(text), "timeout_check = 30s\ncheck = http GET /\n"
		 "server = s1 127.0.0.1:%d check\n", port);
	start(text);
	usleep(100000);
	t0 = now_ms();
	sl_check_stop(ck);
	ck = NULL;
	cr_assert(now_ms() - t0 < 1000, "stop took %llu ms",
		  (unsigned long long)(now_ms() - t0));
	close(fill);
	close(fill2);
	close(lfd);
}
