/* Slices of incrementally consumed buffers (ring/slice.c) on a real ring:
 * the kernel fills one large buffer with many receives (IORING_CQE_F_BUF_MORE
 * while it keeps it), every receive gets a slice of its own at the right
 * offset, and a buffer goes back to the pool exactly once, when the kernel
 * has moved on and every slice of it is released, in whatever order. On a
 * kernel without incremental buffers (before 6.12) or without the multishot
 * caps (before 6.17) the pool falls back to fixed buffers, and the tests
 * check that instead. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ring/ring.h"

#define BLK    (64u << 10)
#define NBLK   8u
#define UNIT   (16u << 10)
#define NSLICE 64u

static struct sl_ring R;
static int sv[2];

static void setup(void)
{
	char why[256];
	int big = 4 << 20;

	cr_assert_eq(sl_ring_init_inc(&R, 256, BLK, NBLK, NSLICE, UNIT, why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
	sl_ring_exit(&R);
}

TestSuite(slice, .init = setup, .fini = teardown, .timeout = 30);

/* The probes at start-up leave the head buffer partly filled: the pool is
 * consistent whatever they did. Returns the sum of live references. */
static uint32_t check_refs(void)
{
	uint32_t sum = 0, out = 0;

	for (uint32_t b = 0; b < R.buf_count; b++) {
		sum += R.refs[b];
		out += R.bstate[b] == SL_RING_B_OUT;
		cr_assert_eq(R.refs[b] != 0, R.bstate[b] == SL_RING_B_OUT,
			     "buffer %u: %u refs in state %u", b, R.refs[b], R.bstate[b]);
	}
	cr_assert_eq(out, R.buf_out);
	cr_assert_eq(R.posted + R.buf_out + R.nparked, R.buf_count);
	return sum;
}

static void write_pattern(uint32_t n, uint32_t seed)
{
	unsigned char b[4096];

	for (uint32_t done = 0; done < n;) {
		uint32_t k = n - done < sizeof(b) ? n - done : (uint32_t)sizeof(b);

		for (uint32_t i = 0; i < k; i++)
			b[i] = (unsigned char)(seed + done + i);
		cr_assert_eq(write(sv[1], b, k), (ssize_t)k);
		done += k;
	}
}

/* Receive n bytes with capped multishot recvs; the slices in ids[]. */
static uint32_t recv_slices(uint32_t n, int *ids, uint32_t *lens, uint32_t *flags, uint32_t max)
{
	uint32_t got = 0, k = 0;

	while (got < n && k < max) {
		struct io_uring_cqe *cqe;
		bool more = true;

		sl_ring_recv_multishot_cap(&R, sv[0], 4 * UNIT, 1);
		io_uring_submit(&R.uring);
		while (more && k < max) {
			cr_assert_eq(io_uring_wait_cqe(&R.uring, &cqe), 0);
			more = cqe->flags & IORING_CQE_F_MORE;
			if (cqe->res > 0) {
				ids[k] = sl_ring_slice_take(&R, cqe->flags, cqe->res);
				cr_assert_geq(ids[k], 0, "slice id for %d bytes", cqe->res);
				lens[k] = (uint32_t)cqe->res;
				flags[k] = cqe->flags;
				got += (uint32_t)cqe->res;
				k++;
			}
			io_uring_cqe_seen(&R.uring, cqe);
			if (got >= n && more) {
				/* the data is all in: end the recv */
				sl_ring_cancel_ud(&R, 1, 2);
				io_uring_submit(&R.uring);
				for (int e = 0; e < 2; e++) {
					cr_assert_eq(io_uring_wait_cqe(&R.uring, &cqe), 0);
					io_uring_cqe_seen(&R.uring, cqe);
				}
				more = false;
			}
		}
		sl_ring_buf_publish(&R);
	}
	return k;
}

Test(slice, a_buffer_serves_many_receives_and_returns_once_every_slice_is_released)
{
	int ids[64];
	uint32_t lens[64], fl[64], k = 0, off = 0, sharing = 0, base;

	if (!R.inc) {
		cr_log_info("kernel without incremental buffers: fixed ones");
		cr_assert_eq(R.buf_size, UNIT);
		return;
	}
	base = check_refs();
	/* small writes, one receive each (two where a buffer ends): they
	 * share buffers */
	for (int i = 0; i < 20; i++) {
		write_pattern(3000, (uint32_t)i * 3000);
		k += recv_slices(3000, ids + k, lens + k, fl + k, 2);
	}
	cr_assert_leq(k, 22u);
	for (uint32_t i = 0; i < k; i++) {
		const unsigned char *p = sl_ring_slice_ptr(&R, (uint16_t)ids[i]);

		for (uint32_t j = 0; j < lens[i]; j++)
			cr_assert_eq(p[j], (unsigned char)(off + j), "slice %u byte %u", i, j);
		off += lens[i];
		sharing += (fl[i] & IORING_CQE_F_BUF_MORE) != 0;
		if (i && R.sbuf[ids[i]] == R.sbuf[ids[i - 1]])
			cr_assert(sl_ring_slice_follows(&R, (uint16_t)ids[i - 1], lens[i - 1],
							(uint16_t)ids[i]));
	}
	cr_assert_eq(off, 60000u);
	cr_assert_geq(sharing, 15, "receives that left the buffer to the kernel: %u", sharing);
	cr_assert_geq(check_refs(), base + k);
	/* release in an order unrelated to the buffers: odd ones, then even */
	for (uint32_t pass = 2; pass-- > 0;) {
		for (uint32_t i = pass; i < k; i += 2) {
			uint16_t b = R.sbuf[ids[i]];
			uint32_t before = R.buf_out;

			sl_ring_slice_put(&R, (uint16_t)ids[i]);
			if (!R.refs[b])
				cr_assert_eq(R.buf_out, before - 1, "buffer %u back once", b);
			else
				cr_assert_eq(R.buf_out, before);
			check_refs();
		}
	}
	/* only the buffer the kernel is still filling stays out */
	cr_assert_eq(R.buf_out, R.kpart >= 0 ? 1u : 0u);
	cr_assert_eq(R.nsfree, NSLICE);
}

Test(slice, a_large_transfer_fills_buffers_to_the_end)
{
	static int ids[256];
	static uint32_t lens[256], fl[256];
	uint32_t k, total = 0, blocks_done = 0;

	if (!R.inc)
		return;
	write_pattern(5 * BLK / 2, 7);
	k = recv_slices(5 * BLK / 2, ids, lens, fl, 256);
	for (uint32_t i = 0; i < k; i++) {
		const unsigned char *p = sl_ring_slice_ptr(&R, (uint16_t)ids[i]);

		cr_assert_leq(lens[i], 2 * UNIT, "a receive larger than its cap allows");
		for (uint32_t j = 0; j < lens[i]; j += 997)
			cr_assert_eq(p[j], (unsigned char)(7 + total + j));
		total += lens[i];
		/* a receive without BUF_MORE ended its buffer exactly at its end */
		if (!(fl[i] & IORING_CQE_F_BUF_MORE)) {
			cr_assert_eq((R.spos[ids[i]] + lens[i]) % BLK, 0u);
			blocks_done++;
		}
	}
	cr_assert_eq(total, 5 * BLK / 2);
	cr_assert_geq(blocks_done, 2u);
	for (uint32_t i = 0; i < k; i++)
		sl_ring_slice_put(&R, (uint16_t)ids[i]);
	check_refs();
	cr_assert_leq(R.buf_out, 1u);
	cr_assert_eq(R.nsfree, NSLICE);
}

/* Crafted completions (no recv in flight): a receive with no bytes
 * commits nothing, and a lack of slice ids loses the bytes but not the
 * buffer. */
Test(slice, no_data_takes_nothing_and_running_out_of_ids_loses_no_buffer)
{
	int ids[NSLICE];
	uint32_t n = 0, f;
	uint16_t b;

	if (!R.inc)
		return;
	/* a fresh posted buffer the probes did not touch */
	for (b = 0; b < R.buf_count; b++)
		if (R.bstate[b] == SL_RING_B_POSTED && !R.refs[b])
			break;
	cr_assert_lt(b, R.buf_count);
	f = ((uint32_t)b << IORING_CQE_BUFFER_SHIFT) | IORING_CQE_F_BUFFER;
	cr_assert_eq(sl_ring_slice_take(&R, f, 0), -ENODATA);
	cr_assert_eq(sl_ring_slice_take(&R, f, -ECONNRESET), -ENODATA);
	cr_assert_eq(R.refs[b], 0);
	cr_assert_eq(R.bstate[b], SL_RING_B_POSTED);
	while (R.nsfree) {
		ids[n] = sl_ring_slice_take(&R, f | IORING_CQE_F_BUF_MORE, 10);
		cr_assert_geq(ids[n], 0);
		n++;
	}
	cr_assert_eq(sl_ring_slice_take(&R, f, 10), -ENOBUFS);
	cr_assert_eq(R.slice_lost, 1u);
	cr_assert_eq(R.refs[b], n, "the kernel's reference went with the lost receive");
	for (uint32_t i = 0; i < n; i++)
		sl_ring_slice_put(&R, (uint16_t)ids[i]);
	cr_assert_eq(R.refs[b], 0);
	cr_assert_neq(R.bstate[b], SL_RING_B_OUT);
	cr_assert_eq(R.koff[b], 0u);
}

/* Renewing the buffer ring (ring/bufpool.c) takes the partly filled buffer
 * from the kernel: it goes back with its last slice, and nothing leaks. */
Test(slice, renewing_the_ring_gives_the_partly_filled_buffer_back)
{
	int ids[4];
	uint32_t lens[4], fl[4];
	int32_t kb;

	if (!R.inc)
		return;
	write_pattern(1000, 0);
	cr_assert_eq(recv_slices(1000, ids, lens, fl, 1), 1u);
	kb = R.kpart;
	cr_assert_geq(kb, 0, "the kernel keeps the buffer after 1000 bytes");
	cr_assert_eq(R.sbuf[ids[0]], (uint16_t)kb);
	cr_assert_eq(sl_ring_buf_shrink(&R), 0);
	cr_assert_eq(R.kpart, -1);
	cr_assert_eq(R.refs[kb], 1u, "only the slice holds it now");
	sl_ring_slice_put(&R, (uint16_t)ids[0]);
	cr_assert_eq(R.refs[kb], 0u);
	cr_assert_eq(R.buf_out, 0u);
	check_refs();
	/* and the renewed ring receives from a fresh buffer */
	write_pattern(500, 3);
	cr_assert_eq(recv_slices(500, ids, lens, fl, 1), 1u);
	cr_assert_eq(R.spos[ids[0]] % BLK, 0u);
	sl_ring_slice_put(&R, (uint16_t)ids[0]);
}
