/*
 * io_uring plumbing (ring/ layer): ring creation with the flags this design
 * depends on, feature probing, the per-worker provided-buffer pool, and small
 * submission helpers. It knows nothing of sessions or protocols; callers pass
 * the user_data (see ring/udata.h) and own the meaning of every completion.
 */
#ifndef SL_RING_RING_H
#define SL_RING_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

/* Constants newer than liburing 2.3's headers, from the kernel uapi. */
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
/* Incrementally consumed provided buffers (Linux 6.12): the registration
 * flag (enum io_uring_register_pbuf_ring_flags, the field liburing 2.3 calls
 * io_uring_buf_reg.pad) and the CQE flag saying the kernel goes on filling
 * the same buffer (include/uapi/linux/io_uring.h). */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

#ifndef IORING_OP_FIXED_FD_INSTALL
#define IORING_OP_FIXED_FD_INSTALL 54 /* Linux 6.8 */
#endif
#ifndef SOCKET_URING_OP_SETSOCKOPT
#define SOCKET_URING_OP_SETSOCKOPT 3  /* IORING_OP_URING_CMD on a socket, Linux 6.7 */
#endif

#define SL_RING_BGID 0

/*
 * Direct descriptors (slots of the ring's registered file table) travel
 * through the submission helpers below as fds with SL_RING_DIRECT set:
 * sl_ring_direct(slot). A helper given one sets IOSQE_FIXED_FILE (a close
 * becomes a close of the slot). Such a value is no process fd: never pass
 * it to a plain syscall.
 */
#define SL_RING_DIRECT (1 << 30)

static inline int sl_ring_direct(uint32_t slot)
{
	return SL_RING_DIRECT | (int)slot;
}

static inline bool sl_ring_is_direct(int fd)
{
	return fd >= 0 && (fd & SL_RING_DIRECT);
}

/* An opcode sluice depends on, for sl_ring_probe_ops(). */
struct sl_ring_op {
	int op;
	const char *name;
};

struct sl_ring {
	struct io_uring uring;
	/* provided-buffer pool: buf_count buffers of buf_size bytes */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *bufs;
	uint32_t buf_size;
	uint32_t buf_count;
	uint32_t buf_out;      /* buffers currently handed to us by the kernel */
	uint32_t br_pending;   /* recycled into the ring but not yet published */
	/* The working set (ring/bufpool.c). A free buffer is either posted (in
	 * the kernel's ring, which may write into it at any time) or parked
	 * (ours, outside the ring, its pages releasable). buf_count = posted +
	 * buf_out + nparked; sl_ring_buf_free() counts both kinds of free. */
	uint8_t *bstate;       /* by buffer id: SL_RING_B_* */
	uint16_t *park;        /* parked ids, a stack: the top is the most recent */
	uint32_t nparked;
	uint32_t ndirty;       /* parked buffers whose pages may be resident */
	uint32_t posted;       /* in the ring (published or pending) */
	uint32_t target;       /* posted buffers wanted: grows on -ENOBUFS */
	uint32_t target_min;
	uint32_t posted_low;   /* lowest posted count since the last tick */
	uint32_t park_low;     /* lowest stack depth since the last tick */
	bool nobufs;           /* a recv met -ENOBUFS since the last tick */
	bool grown;            /* the target grew since the last publish */
	bool shrink_wanted;    /* take posted buffers back (sl_ring_buf_shrink) */
	bool br_lost;          /* unregistered, not registered again yet */
	uint64_t released;     /* buffers whose pages went back to the kernel */
	uint64_t shrinks;
	int ready;
	bool mshot_cap;        /* a multishot recv can be capped (Linux 6.17+) */
	/* Slices (ring/slice.c). What a completion delivers is a slice: an id
	 * (below nslices) naming bytes at bufs + spos[id]. With fixed buffers
	 * the slice is the buffer (id = buffer id, one completion each). With
	 * incremental buffers (inc) the kernel fills one large buffer across
	 * many completions, of any socket; each completion gets a slice id of
	 * its own and the buffer counts its references in refs[]: one per live
	 * slice, plus one while the kernel may still write into its tail
	 * (kpart). The buffer is recycled when the count reaches zero, so it
	 * goes back exactly once, after its last slice is released. */
	bool inc;
	uint32_t unit;         /* bytes of one buffer's worth in the fairness rules */
	uint32_t nslices;
	uint32_t *spos;        /* by slice: byte offset from bufs */
	uint16_t *sbuf;        /* by slice: its buffer (inc) */
	uint16_t *sfree;       /* free slice ids, a stack (inc) */
	uint32_t nsfree;
	uint16_t *refs;        /* by buffer: live slices + the kernel's (inc) */
	uint32_t *koff;        /* by buffer: bytes the kernel filled (inc) */
	int32_t kpart;         /* the buffer the kernel has partly filled, or -1 */
	uint64_t slice_lost;   /* completions dropped: no slice id was free */
	bool ring_fd_registered; /* io_uring_enter goes by the registered index */
	/* server sockets as direct descriptors (sl_ring_direct_init): slots
	 * [0, direct_files) of the registered table; 0 when the kernel lacks
	 * one of IORING_OP_SOCKET, the setsockopt command, FIXED_FD_INSTALL */
	uint32_t direct_files;
};

/*
 * Create the ring in the calling thread (it becomes the only submitter) and
 * register the buffer pool. Returns 0, or -errno with a human reason written
 * to why (size whylen) such as a kernel lacking a required feature.
 */
int sl_ring_init(struct sl_ring *r, unsigned entries, uint32_t buf_size,
		 uint32_t buf_count, char *why, size_t whylen);
/* The same with incrementally consumed buffers when the kernel has them
 * (Linux 6.12+): blk_count buffers of blk_size bytes, nslices slice ids, and
 * unit as the buffer size the fairness rules count in. A kernel without
 * them (the registration fails with -EINVAL) gets fixed buffers of unit
 * bytes, as many as fit in the same memory (at most nslices). r->inc tells
 * which. */
int sl_ring_init_inc(struct sl_ring *r, unsigned entries, uint32_t blk_size,
		     uint32_t blk_count, uint32_t nslices, uint32_t unit,
		     char *why, size_t whylen);
void sl_ring_exit(struct sl_ring *r);
/* 0 if the kernel supports every opcode of ops, else -ENOSYS and why names
 * the first missing one and who needs it. */
int sl_ring_probe_ops(struct sl_ring *r, const struct sl_ring_op *ops, size_t n,
		      const char *who, char *why, size_t whylen);

/* An SQE, submitting pending ones first when the SQ is full. Never NULL. */
struct io_uring_sqe *sl_ring_sqe(struct sl_ring *r);

static inline unsigned char *sl_ring_buf(struct sl_ring *r, uint16_t bid)
{
	return r->bufs + (size_t)bid * r->buf_size;
}

/* Buffer states (sl_ring.bstate). */
enum { SL_RING_B_POSTED = 0, SL_RING_B_OUT, SL_RING_B_PARKED, SL_RING_B_CLEAN };

/* Working-set bounds, in buffers. */
#define SL_RING_WS_MIN 64u

void sl_ring_buf_refill(struct sl_ring *r);
/* Register the (empty) buffer ring r->br with the kernel (ring.c). */
int sl_ring_buf_register(struct sl_ring *r);
/* Set up the working set of a registered, empty buffer ring (ring.c). */
int sl_ring_buf_pool_init(struct sl_ring *r);

/* Note buffer bid, which the kernel handed us in a completion. When the
 * ring runs low, parked buffers are posted again (no syscall: they reach
 * the kernel with the next sl_ring_buf_publish()). */
static inline void sl_ring_buf_taken(struct sl_ring *r, uint16_t bid)
{
	r->buf_out++;
	r->posted--;
	r->bstate[bid] = SL_RING_B_OUT;
	if (r->posted < r->posted_low)
		r->posted_low = r->posted;
	if (r->posted < r->target / 2 && r->nparked)
		sl_ring_buf_refill(r);
}

/* Give buffer bid back: posted when the ring holds fewer than its target,
 * else parked; the kernel sees it after sl_ring_buf_publish(). */
void sl_ring_buf_recycle(struct sl_ring *r, uint16_t bid);
void sl_ring_buf_publish(struct sl_ring *r);
/* A recv met -ENOBUFS: if buffers are parked, the working set was too
 * small: double it and post them now. */
void sl_ring_buf_starved(struct sl_ring *r);
/* The periodic look at the pool (every buffer_release, from a worker's
 * io_uring timeout, never from the data path): adapt the target to what
 * the last period used, release the pages of buffers parked the whole
 * period, and ask for a shrink (shrink_wanted) when the ring holds more
 * than the target. Returns the buffers released. */
uint32_t sl_ring_buf_tick(struct sl_ring *r);
/* Does the pool have anything a tick could release or adapt? */
bool sl_ring_buf_settled(const struct sl_ring *r);
/* Take back every posted buffer and post `target` again, by registering
 * the buffer ring anew, then release the pages of the rest. Only at a
 * quiescent point: no completion waiting in the CQ (a buffer the kernel
 * consumed must have been reported, sl_ring_buf_taken()). 0 or -errno. */
int sl_ring_buf_shrink(struct sl_ring *r);

/* Free capacity in units (fixed buffers: free buffers; incremental: the
 * free buffers' units, at most the free slice ids). */
static inline uint32_t sl_ring_buf_free(const struct sl_ring *r)
{
	uint32_t n;

	if (!r->inc)
		return r->buf_count - r->buf_out;
	n = (r->buf_count - r->buf_out) * (r->buf_size / r->unit);
	return n < r->nsfree ? n : r->nsfree;
}

/* The pool's capacity in units. */
static inline uint32_t sl_ring_units(const struct sl_ring *r)
{
	return r->inc ? r->buf_count * (r->buf_size / r->unit) : r->buf_count;
}

/* ---- slices (ring/slice.c) ---- */
int sl_ring_slice_init(struct sl_ring *r, uint32_t nslices);
void sl_ring_slice_exit(struct sl_ring *r);
/* A recv completion that carries a buffer (IORING_CQE_F_BUFFER): the slice
 * id of its res bytes (res > 0), which the caller owns and gives back with
 * sl_ring_slice_put(); -ENODATA when res <= 0 (the buffer went back, or
 * the kernel keeps it); -ENOBUFS when no slice id was free (the bytes are
 * lost: the caller fails the connection). */
int sl_ring_slice_take(struct sl_ring *r, uint32_t flags, int res);
/* Release a slice; its buffer is recycled with its last slice. */
void sl_ring_slice_put(struct sl_ring *r, uint16_t id);
/* Is slice b (len_b bytes at its start) the continuation of slice a
 * (len_a bytes) in the same buffer? Then a may grow over it. */
static inline bool sl_ring_slice_follows(const struct sl_ring *r, uint16_t a, uint32_t len_a,
					 uint16_t b)
{
	return r->inc && r->sbuf[a] == r->sbuf[b] && r->spos[a] + len_a == r->spos[b];
}
/* The buffer ring was unregistered (sl_ring_buf_shrink): the kernel gives
 * up the buffer it had partly filled. */
void sl_ring_slice_kernel_gone(struct sl_ring *r);

static inline unsigned char *sl_ring_slice_ptr(struct sl_ring *r, uint16_t id)
{
	return r->bufs + r->spos[id];
}

/* Register a sparse table of n direct descriptors (at most RLIMIT_NOFILE)
 * if the kernel can open, configure and hand over sockets through the ring:
 * IORING_OP_SOCKET into a slot, SOCKET_URING_OP_SETSOCKOPT (Linux 6.7) and
 * IORING_OP_FIXED_FD_INSTALL (6.8), the latter two tried for real. Sets
 * r->direct_files (0: the plain path). Never fails. */
void sl_ring_direct_init(struct sl_ring *r, uint32_t n);
/* Slots of the registered table holding a file now, read from the ring's
 * /proc/self/fdinfo (the kernel's own view); -errno if unreadable. Only
 * while no other thread submits to r. */
int sl_ring_direct_in_use(const struct sl_ring *r);

/* Submission helpers: each prepares one SQE tagged with ud. fd may be a
 * direct descriptor (sl_ring_direct) except where a helper says not. */
void sl_ring_accept_multishot(struct sl_ring *r, int lfd, uint64_t ud);
void sl_ring_recv_multishot(struct sl_ring *r, int fd, uint64_t ud);
/* A multishot recv that ends after `total` bytes (r->mshot_cap only). */
void sl_ring_recv_multishot_cap(struct sl_ring *r, int fd, uint32_t total, uint64_t ud);
/* One recv into one provided buffer (a single completion, at most one unit). */
void sl_ring_recv_one(struct sl_ring *r, int fd, uint64_t ud);
void sl_ring_send(struct sl_ring *r, int fd, const void *buf, size_t len, uint64_t ud);
/* A send that fails with -EAGAIN rather than wait for the peer to read. */
void sl_ring_send_nowait(struct sl_ring *r, int fd, const void *buf, size_t len, uint64_t ud);
/* The same with several buffers (msg and what it points to stay valid until
 * the completion). */
void sl_ring_sendmsg(struct sl_ring *r, int fd, const struct msghdr *msg, uint64_t ud);
/* connect with a LINK_TIMEOUT whose own CQE is suppressed: on expiry the
 * connect completes with -ECANCELED. ts must live until submission. */
void sl_ring_connect(struct sl_ring *r, int fd, const struct sockaddr *sa, socklen_t len,
		     struct __kernel_timespec *ts, uint64_t ud);
/* Cancel every request on fd, then close it (hard-linked: the close runs
 * whatever the cancel returns). Two CQEs: ud_cancel, then ud_close. */
/* A TCP socket in direct slot `slot`, TCP_NODELAY set, connected to sa
 * within ts, hard-wired as one chain: socket -> setsockopt -> connect ->
 * link timeout (r->direct_files only). CQEs: ud_socket always (res: 0 or
 * -errno), ud_opt only if the setsockopt fails, ud_connect always (-ECANCELED
 * when the socket failed or the timer won). ts and sa must live until
 * submission. */
void sl_ring_socket_connect(struct sl_ring *r, uint32_t slot, const struct sockaddr *sa,
			    socklen_t len, struct __kernel_timespec *ts, uint64_t ud_socket,
			    uint64_t ud_opt, uint64_t ud_connect);
/* A process fd (O_CLOEXEC) for direct descriptor `slot`, in cqe->res; the
 * slot keeps its file until closed. */
void sl_ring_fd_install(struct sl_ring *r, uint32_t slot, uint64_t ud);
/* shutdown(2) through the ring, for direct descriptors: always runs on an
 * io-wq thread (see DESIGN.md), so plain fds use the syscall. */
void sl_ring_shutdown(struct sl_ring *r, int fd, int how, uint64_t ud);
/* fd must be a process fd: */
void sl_ring_cancel_close(struct sl_ring *r, int fd, uint64_t ud_cancel, uint64_t ud_close);
void sl_ring_close(struct sl_ring *r, int fd, uint64_t ud);
/* Cancel every request on fd, a process fd (one CQE, ud). */
void sl_ring_cancel_fd(struct sl_ring *r, int fd, uint64_t ud);
/* Cancel the one request tagged target. */
void sl_ring_cancel_ud(struct sl_ring *r, uint64_t target, uint64_t ud);
void sl_ring_timeout(struct sl_ring *r, struct __kernel_timespec *ts, uint64_t ud);
void sl_ring_timeout_update(struct sl_ring *r, struct __kernel_timespec *ts,
			    uint64_t target, uint64_t ud);
void sl_ring_timeout_remove(struct sl_ring *r, uint64_t target, uint64_t ud);
void sl_ring_read(struct sl_ring *r, int fd, void *buf, unsigned len, uint64_t ud);

static inline void sl_ring_ts(struct __kernel_timespec *ts, uint64_t ms)
{
	ts->tv_sec = (long long)(ms / 1000);
	ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

#endif
