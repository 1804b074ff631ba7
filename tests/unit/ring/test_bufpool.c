/* The provided-buffer pool's working set (ring/bufpool.c) on a real ring:
 * it posts only its target, grows on -ENOBUFS, and after an idle review
 * gives the memory of parked buffers back (they read as zeros) and takes
 * the ring's surplus back by registering it anew, while a recv armed
 * across that renewal still receives. Every buffer is in exactly one place
 * throughout. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ring/ring.h"

#define NBUF  1024u
#define BSIZE 4096u

static struct sl_ring R;
static int sv[2];
static uint16_t held[NBUF];
static uint32_t nheld;
static bool armed;

static void setup(void)
{
	char why[256];

	cr_assert_eq(sl_ring_init(&R, 256, BSIZE, NBUF, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	{
		int big = 4 << 20;

		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	nheld = 0;
	armed = false;
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
	sl_ring_exit(&R);
}

TestSuite(bufpool, .init = setup, .fini = teardown, .timeout = 30);

/* Each buffer is posted, out or parked, once; the counts agree. */
static void check_places(void)
{
	uint32_t posted = 0, out = 0, parked = 0, dirty = 0;
	uint8_t seen[NBUF] = { 0 };

	for (uint32_t i = 0; i < R.nparked; i++) {
		uint16_t b = R.park[i];

		cr_assert(!seen[b], "buffer %u parked twice", b);
		seen[b] = 1;
		cr_assert(R.bstate[b] == SL_RING_B_PARKED || R.bstate[b] == SL_RING_B_CLEAN);
	}
	for (uint32_t b = 0; b < NBUF; b++) {
		switch (R.bstate[b]) {
		case SL_RING_B_POSTED: posted++; break;
		case SL_RING_B_OUT: out++; break;
		case SL_RING_B_PARKED: parked++; dirty++; break;
		case SL_RING_B_CLEAN: parked++; break;
		default: cr_assert_fail("buffer %u in state %u", b, R.bstate[b]);
		}
		if (R.bstate[b] >= SL_RING_B_PARKED)
			cr_assert(seen[b], "buffer %u parked but not on the stack", b);
	}
	cr_assert_eq(posted, R.posted);
	cr_assert_eq(out, R.buf_out);
	cr_assert_eq(parked, R.nparked);
	cr_assert_eq(dirty, R.ndirty);
	cr_assert_eq(posted + out + parked, NBUF);
}

static void arm(void)
{
	if (!armed) {
		sl_ring_recv_multishot(&R, sv[0], 1);
		armed = true;
	}
	io_uring_submit(&R.uring);
}

/* Receives at least `want` buffers' worth, written in bursts larger than
 * the ring's working set; the ring's shortages are answered as the proxy
 * does (sl_ring_buf_starved, then the recv is armed again). */
static void take(uint32_t want)
{
	static char data[64 * BSIZE];
	uint64_t left = (uint64_t)(want > nheld ? want - nheld : 0) * BSIZE, unread = 0;

	memset(data, 'x', sizeof(data));
	while (left || unread) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		while (left) {
			ssize_t k = write(sv[1], data, left < sizeof(data) ? left : sizeof(data));

			if (k <= 0)
				break;
			left -= (uint64_t)k;
			unread += (uint64_t)k;
		}
		arm();
		cr_assert_geq(io_uring_submit_and_wait(&R.uring, 1), 0);
		io_uring_for_each_cqe(&R.uring, head, cqe) {
			n++;
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

				sl_ring_buf_taken(&R, bid);
				held[nheld++] = bid;
				unread -= (uint64_t)cqe->res;
			}
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				armed = false;
				cr_assert(cqe->res == -ENOBUFS || cqe->res > 0, "recv: %d", cqe->res);
				if (cqe->res == -ENOBUFS)
					sl_ring_buf_starved(&R);
			}
		}
		io_uring_cq_advance(&R.uring, n);
		sl_ring_buf_publish(&R);
		check_places();
	}
}

static void give_back(void)
{
	while (nheld)
		sl_ring_buf_recycle(&R, held[--nheld]);
	sl_ring_buf_publish(&R);
	check_places();
}

Test(bufpool, posts_only_its_target_at_start)
{
	cr_assert_eq(R.posted, SL_RING_WS_MIN);
	cr_assert_eq(R.nparked, NBUF - SL_RING_WS_MIN);
	cr_assert_eq(R.ndirty, 0);
	cr_assert_eq(sl_ring_buf_free(&R), NBUF, "parked buffers count as free");
	cr_assert(sl_ring_buf_settled(&R));
	check_places();
}

Test(bufpool, grows_on_shortage_then_gives_memory_and_ring_back)
{
	struct io_uring_cqe *cqe;
	uint32_t zero = 0;
	char msg[] = "after the renewal";

	take(400);
	cr_assert_geq(R.target, 2 * SL_RING_WS_MIN, "the target grew with the shortage: %u",
		      R.target);
	/* two more shortages, in two batches: 512 */
	for (int i = 0; i < 2; i++) {
		sl_ring_buf_starved(&R);
		sl_ring_buf_publish(&R);
	}
	cr_assert_geq(R.target, 512u);
	cr_assert_eq(sl_ring_buf_free(&R), NBUF - nheld);
	give_back();
	cr_assert_gt(R.posted, 2 * SL_RING_WS_MIN, "the ring keeps the grown working set");
	cr_assert(!sl_ring_buf_settled(&R));
	/* a recv stays armed on the ring from here on */
	arm();
	/* two idle reviews: the target falls back, the buffers parked for a
	 * whole period are released, and the ring's surplus is wanted back */
	sl_ring_buf_tick(&R);
	sl_ring_buf_tick(&R);
	cr_assert_eq(R.target, SL_RING_WS_MIN);
	cr_assert(R.shrink_wanted);
	check_places();
	cr_assert_eq(sl_ring_buf_shrink(&R), 0);
	cr_assert_eq(R.shrinks, 1u);
	cr_assert_eq(R.posted, SL_RING_WS_MIN);
	cr_assert_eq(R.ndirty, 0, "every parked buffer was released");
	cr_assert(sl_ring_buf_settled(&R));
	check_places();
	/* released pages read back as zeros (they held 'x') */
	for (uint32_t i = 0; i < R.nparked; i++) {
		const unsigned char *p = sl_ring_buf(&R, R.park[i]);

		for (uint32_t k = 0; k < BSIZE; k += 512)
			zero += p[k] == 0;
	}
	cr_assert_eq(zero, R.nparked * (BSIZE / 512), "parked buffers still hold data");
	/* the recv armed before the renewal gets a buffer of the new ring */
	cr_assert_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	io_uring_submit(&R.uring);
	cr_assert_eq(io_uring_wait_cqe(&R.uring, &cqe), 0);
	cr_assert_eq(cqe->res, (int)sizeof(msg), "recv after the renewal: %d", cqe->res);
	cr_assert(cqe->flags & IORING_CQE_F_BUFFER);
	{
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

		cr_assert_eq(R.bstate[bid], SL_RING_B_POSTED);
		cr_assert_str_eq((const char *)sl_ring_buf(&R, bid), msg);
		sl_ring_buf_taken(&R, bid);
		sl_ring_buf_recycle(&R, bid);
	}
	io_uring_cqe_seen(&R.uring, cqe);
	check_places();
	/* and demand grows the working set again from the parked buffers */
	take(300);
	give_back();
}

Test(bufpool, a_busy_period_keeps_the_target)
{
	take(300);
	give_back();
	take(200);
	give_back();
	{
		uint32_t t = R.target;

		R.nobufs = true; /* the period met a shortage */
		sl_ring_buf_tick(&R);
		cr_assert_eq(R.target, t, "a period with a shortage lowered the target");
	}
	check_places();
}
