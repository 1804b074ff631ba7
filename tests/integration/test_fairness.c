/*
 * Fairness of the provided-buffer pool (issue 14, item 8): clients that
 * never read what they asked for must not take the buffers every other
 * client needs. Each such session may hold at most SL_BUF_QUOTA buffers,
 * and 1,000 of them would want four times the worker's pool; before the
 * fix the pool ran dry and any other client's bytes waited (for as long as
 * the readers did not read). Now a side holding buffers arms its recv only
 * while a quarter of the pool stays free, so another client's round trips
 * go through at once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NREADERS 1000

TestSuite(fairness, .init = h_setup, .fini = h_teardown, .timeout = 240);

Test(fairness, clients_that_never_read_leave_buffers_for_others)
{
	struct h_origin_opts so = { .handler = h_handle_source, .len = 4u << 20, .seed = 5,
				    .hold = true };
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *src = h_origin_start(&so), *echo = h_origin_start(&eo);
	int big, small, fds[NREADERS], fd, rcv = 4096;
	char msg[100], back[100];
	struct h_proxy *p;

	p = h_proxy_start_big_small(src, echo, "", &big, &small);
	/* readers that never read, with a small receive window: what the
	 * origin sends piles up in sluice */
	for (int i = 0; i < NREADERS; i++) {
		fds[i] = h_connect(big, 5000);
		cr_assert(fds[i] >= 0, "reader %d: connect", i);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	}
	cr_assert_eq(h_origin_wait_accepted(src, NREADERS, 30000 * h_slow()), NREADERS);
	h_sleep_ms(2000); /* everything that fits is in flight */
	/* another client: every round trip within a second */
	fd = h_connect(small, 5000);
	cr_assert(fd >= 0);
	for (int k = 0; k < 50; k++) {
		uint64_t t0 = h_now_ms();

		memset(msg, 'a' + k % 26, sizeof(msg));
		cr_assert_eq(h_send_all(fd, msg, sizeof(msg), -1, 2000), 0, "round trip %d: send", k);
		cr_assert_eq(h_recv_exact(fd, back, sizeof(back), 1000 * h_slow()), 0,
			     "round trip %d: no answer within %d ms while %d readers hold their "
			     "responses (the pool ran dry?)", k, 1000 * h_slow(), NREADERS);
		cr_assert_arr_eq(back, msg, sizeof(msg));
		cr_assert_leq(h_now_ms() - t0, 1000u * (unsigned)h_slow());
	}
	close(fd);
	/* 1,000 sessions starting together queue far more deferred task work
	 * than the 20 items an io_uring_enter that waits runs: the worker ran
	 * what was left in extra passes (core/worker.c, drain_task_work) rather
	 * than leaving it for later iterations, where the round trips above
	 * would have waited behind it */
	cr_assert_gt(h_proxy_metric(p, "sluice_worker_task_work_passes_total{worker=\"0\"}"), 0,
		     "no left-over task work was run in an extra pass");
	for (int i = 0; i < NREADERS; i++)
		close(fds[i]);
	h_origin_stop(src);
	h_proxy_finish(p);
}

/*
 * Many large bodies streaming at once share each loop iteration (issue 14,
 * item 8, the loop's budget in core/conn_rx.c): a side whose last recv filled
 * a whole buffer is bulk even once its send has completed, and the bulk
 * recvs one iteration arms take a bounded number of buffers, the rest waiting
 * in a FIFO. Every stream must still arrive whole and in order, none may stall
 * in the FIFO, and a light client's round trips go through meanwhile. How
 * short the iterations get is measured by the bench (slow-readers), not here.
 */
#define NSTREAMS 256
#define STREAM_LEN (2u << 20)

Test(fairness, streams_share_each_loop_iteration_and_arrive_whole)
{
	struct h_origin_opts so = { .handler = h_handle_source, .len = STREAM_LEN, .seed = 7 };
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *src = h_origin_start(&so), *echo = h_origin_start(&eo);
	int big, small, efd, trips = 0, open_n = NSTREAMS;
	static struct pollfd pfd[NSTREAMS + 1];
	static uint64_t got[NSTREAMS], hash[NSTREAMS];
	static char buf[65536];
	uint64_t want = h_pattern_hash(STREAM_LEN, 7), deadline;
	char msg[64], back[64];
	struct h_proxy *p;

	p = h_proxy_start_big_small(src, echo, "", &big, &small);
	efd = h_connect(small, 5000);
	cr_assert(efd >= 0);
	for (int i = 0; i < NSTREAMS; i++) {
		pfd[i].fd = h_connect(big, 5000);
		cr_assert(pfd[i].fd >= 0, "stream %d: connect", i);
		pfd[i].events = POLLIN;
		hash[i] = H_FNV_INIT;
	}
	/* the light client: one 64-byte round trip at a time, all along */
	memset(msg, 'l', sizeof(msg));
	cr_assert_eq(h_send_all(efd, msg, sizeof(msg), -1, 2000), 0);
	pfd[NSTREAMS].fd = efd;
	pfd[NSTREAMS].events = POLLIN;
	deadline = h_now_ms() + 60000u * (unsigned)h_slow();
	while (open_n && h_now_ms() < deadline) {
		int n = poll(pfd, NSTREAMS + 1, 1000);

		cr_assert(n >= 0);
		for (int i = 0; i < NSTREAMS && n > 0; i++) {
			ssize_t k;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			k = read(pfd[i].fd, buf, sizeof(buf));
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			cr_assert(k >= 0, "stream %d: %s after %llu bytes", i, strerror(errno),
				  (unsigned long long)got[i]);
			if (k == 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_n--;
				continue;
			}
			hash[i] = h_fnv1a(hash[i], buf, (size_t)k);
			got[i] += (uint64_t)k;
		}
		if (pfd[NSTREAMS].revents && open_n) {
			cr_assert_eq(h_recv_exact(efd, back, sizeof(back), 5000 * h_slow()), 0,
				     "round trip %d: no answer", trips);
			cr_assert_arr_eq(back, msg, sizeof(msg));
			trips++;
			cr_assert_eq(h_send_all(efd, msg, sizeof(msg), -1, 2000), 0);
		}
	}
	cr_assert_eq(open_n, 0, "%d of %d streams still open after 60 s", open_n, NSTREAMS);
	for (int i = 0; i < NSTREAMS; i++) {
		cr_assert_eq(got[i], STREAM_LEN, "stream %d: %llu bytes", i,
			     (unsigned long long)got[i]);
		cr_assert_eq(hash[i], want, "stream %d: its bytes differ from the origin's", i);
	}
	cr_assert_gt(trips, 0, "the light client got no round trip through");
	/* the budget was spent: bulk recvs waited for a later iteration */
	cr_assert_gt(h_proxy_metric(p, "sluice_worker_recv_deferred_total{worker=\"0\"}"), 0,
		     "no bulk recv waited: the loop's budget never applied");
	close(efd);
	h_origin_stop(src);
	h_proxy_finish(p);
}
