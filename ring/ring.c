/*
 * io_uring plumbing (ring/ layer). Ring setup probes for every kernel feature
 * sluice relies on and fails with a plain sentence when one is missing, rather
 * than misbehaving later. The provided-buffer pool is registered with
 * io_uring_register_buf_ring (liburing 2.3 has no io_uring_setup_buf_ring, so
 * the mmap + register + init sequence is done here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ring/ring.h"

static const struct sl_ring_op required_ops[] = {
	{ IORING_OP_ACCEPT, "ACCEPT" },
	{ IORING_OP_RECV, "RECV" },
	{ IORING_OP_SEND, "SEND" },
	{ IORING_OP_CONNECT, "CONNECT" },
	{ IORING_OP_CLOSE, "CLOSE" },
	{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
	{ IORING_OP_TIMEOUT, "TIMEOUT" },
	{ IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE" },
	{ IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT" },
	{ IORING_OP_READ, "READ" },
};

int sl_ring_probe_ops(struct sl_ring *r, const struct sl_ring_op *ops, size_t n,
		      const char *who, char *why, size_t whylen)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&r->uring);
	int ret = 0;

	if (!p) {
		snprintf(why, whylen, "io_uring opcode probe failed");
		return -ENOSYS;
	}
	for (size_t i = 0; i < n; i++) {
		if (!io_uring_opcode_supported(p, ops[i].op)) {
			snprintf(why, whylen, "kernel io_uring lacks IORING_OP_%s (%s)",
				 ops[i].name, who);
			ret = -ENOSYS;
			break;
		}
	}
	io_uring_free_probe(p);
	return ret;
}

static int map_bufs(struct sl_ring *r, uint32_t buf_size, uint32_t buf_count,
		    char *why, size_t whylen)
{
	r->buf_size = buf_size;
	r->buf_count = buf_count;
	r->br_bytes = (size_t)buf_count * sizeof(struct io_uring_buf);
	r->br = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->br == MAP_FAILED) {
		r->br = NULL;
		snprintf(why, whylen, "cannot map the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	r->bufs = mmap(NULL, (size_t)buf_size * buf_count, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->bufs == MAP_FAILED) {
		r->bufs = NULL;
		snprintf(why, whylen, "cannot map %u buffers: %s", buf_count, strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

static void unmap_bufs(struct sl_ring *r)
{
	if (r->br)
		munmap(r->br, r->br_bytes);
	if (r->bufs)
		munmap(r->bufs, (size_t)r->buf_size * r->buf_count);
	r->br = NULL;
	r->bufs = NULL;
}

int sl_ring_buf_register(struct sl_ring *r)
{
	struct io_uring_buf_reg reg;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)r->br;
	reg.ring_entries = r->buf_count;
	reg.bgid = SL_RING_BGID;
	reg.pad = r->inc ? IOU_PBUF_RING_INC : 0; /* the uapi's flags field */
	io_uring_buf_ring_init(r->br);
	return io_uring_register_buf_ring(&r->uring, &reg, 0);
}

/* Map and register the pool: incremental buffers of blk_size when asked
 * (blk_size != unit) and the kernel takes them, else fixed buffers of unit
 * bytes in the same memory, at most nslices of them. */
static int setup_bufs(struct sl_ring *r, uint32_t blk_size, uint32_t blk_count,
		      uint32_t nslices, uint32_t unit, char *why, size_t whylen)
{
	int ret;

	r->unit = unit;
	r->inc = blk_size != unit;
	if (r->inc) {
		ret = map_bufs(r, blk_size, blk_count, why, whylen);
		if (ret < 0)
			return ret;
		ret = sl_ring_buf_register(r);
		if (ret == -EINVAL) {
			/* before Linux 6.12: fixed buffers */
			unmap_bufs(r);
			r->inc = false;
		} else if (ret < 0) {
			goto fail;
		}
	}
	if (!r->inc) {
		uint64_t n = (uint64_t)blk_size * blk_count / unit;

		ret = map_bufs(r, unit, (uint32_t)(n < nslices ? n : nslices), why, whylen);
		if (ret < 0)
			return ret;
		ret = sl_ring_buf_register(r);
		if (ret < 0)
			goto fail;
	}
	ret = sl_ring_slice_init(r, nslices);
	if (ret == 0)
		ret = sl_ring_buf_pool_init(r);
	if (ret < 0)
		snprintf(why, whylen, "out of memory for the buffer pool");
	return ret;
fail:
	snprintf(why, whylen, "kernel lacks provided-buffer rings "
		 "(io_uring_register_buf_ring: %s; Linux 5.19+ needed)", strerror(-ret));
	return ret;
}

/* A probe's recv took a buffer: straight back to the pool. */
static void probe_buf_back(struct sl_ring *r, const struct io_uring_cqe *cqe)
{
	int id = sl_ring_slice_take(r, cqe->flags, cqe->res);

	if (id >= 0)
		sl_ring_slice_put(r, (uint16_t)id);
}

/* Multishot recv (Linux 6.0) is not visible in the opcode probe: try it on a
 * socketpair and expect IORING_CQE_F_MORE on the first completion. */
static int probe_recv_multishot(struct sl_ring *r, char *why, size_t whylen)
{
	struct io_uring_cqe *cqe;
	int sv[2], ret = -ENOSYS, more = 0, done = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	sl_ring_recv_multishot(r, sv[0], 1);
	io_uring_submit(&r->uring);
	if (write(sv[1], "x", 1) != 1)
		goto out_close;
	shutdown(sv[1], SHUT_WR);
	while (!done && io_uring_wait_cqe(&r->uring, &cqe) == 0) {
		if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_MORE))
			more = 1;
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			probe_buf_back(r, cqe);
		}
		done = !(cqe->flags & IORING_CQE_F_MORE);
		io_uring_cqe_seen(&r->uring, cqe);
	}
	sl_ring_buf_publish(r);
	ret = more ? 0 : -ENOSYS;
out_close:
	close(sv[0]);
	close(sv[1]);
	if (ret)
		snprintf(why, whylen, "kernel lacks multishot recv (Linux 6.0+ needed)");
	return ret;
}

/* Does a multishot recv stop after the total it was given (sqe->optlen,
 * Linux 6.17+)? Three buffers' worth waits; a cap of one buffer must end
 * the recv after one completion. Sets r->mshot_cap; never fails. */
static void probe_mshot_cap(struct sl_ring *r)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int sv[2], n = 0;
	bool ended = false, data_ok = false;
	char *data;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	data = calloc(3, r->unit);
	if (data && write(sv[1], data, 3 * (size_t)r->unit) == (ssize_t)(3 * (size_t)r->unit)) {
		sqe = sl_ring_sqe(r);
		io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = SL_RING_BGID;
		sqe->file_index = r->unit; /* the optlen field: the total cap */
		if (r->inc)
			sqe->len = r->unit; /* and each receive's (the same kernel) */
		io_uring_sqe_set_data64(sqe, 1);
		io_uring_submit(&r->uring);
		while (!ended && n < 8) {
			struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

			if (io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts))
				break;
			n++;
			ended = !(cqe->flags & IORING_CQE_F_MORE);
			/* a kernel that refuses the per-receive cap ends the
			 * recv with -EINVAL: no cap then */
			data_ok = cqe->res > 0;
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				probe_buf_back(r, cqe);
			}
			io_uring_cqe_seen(&r->uring, cqe);
		}
		r->mshot_cap = ended && n == 1 && data_ok;
		if (!ended) {
			/* still armed: end it before the pair closes */
			sqe = sl_ring_sqe(r);
			io_uring_prep_cancel64(sqe, 1, 0);
			io_uring_sqe_set_data64(sqe, 2);
			io_uring_submit(&r->uring);
			for (int k = 0; k < 8; k++) {
				struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

				if (io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts))
					break;
				if (cqe->flags & IORING_CQE_F_BUFFER) {
					probe_buf_back(r, cqe);
				}
				ended = cqe->user_data == 1 && !(cqe->flags & IORING_CQE_F_MORE);
				io_uring_cqe_seen(&r->uring, cqe);
				if (ended)
					break;
			}
		}
		sl_ring_buf_publish(r);
	}
	free(data);
	close(sv[0]);
	close(sv[1]);
}

/* Register the ring's own fd with the ring (Linux 5.18+): io_uring_enter
 * then looks the ring up in the task's small table instead of taking and
 * dropping a reference on the file through the process fd table at every
 * call, an atomic on a table the workers share. Optional: without it (an
 * older kernel, or no room) the enter takes the plain fd. */
static void register_ring_fd(struct sl_ring *r)
{
	r->ring_fd_registered = io_uring_register_ring_fd(&r->uring) == 1;
}

static int ring_init(struct sl_ring *r, unsigned entries, uint32_t blk_size,
		     uint32_t blk_count, uint32_t nslices, uint32_t unit, char *why, size_t whylen)
{
	struct io_uring_params p;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	r->kpart = -1;
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = entries * 8;
	ret = io_uring_queue_init_params(entries, &r->uring, &p);
	if (ret < 0) {
		snprintf(why, whylen, "io_uring setup with SINGLE_ISSUER|DEFER_TASKRUN "
			 "failed: %s (Linux 6.1+ needed)", strerror(-ret));
		return ret;
	}
	r->ready = 1;
	if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_CQE_SKIP) ||
	    !(p.features & IORING_FEAT_FAST_POLL)) {
		snprintf(why, whylen, "kernel io_uring lacks NODROP, CQE_SKIP or FAST_POLL");
		return -ENOSYS;
	}
	ret = sl_ring_probe_ops(r, required_ops, sizeof(required_ops) / sizeof(required_ops[0]),
				"the proxy needs Linux 6.1+", why, whylen);
	if (ret == 0)
		ret = setup_bufs(r, blk_size, blk_count, nslices, unit, why, whylen);
	if (ret == 0)
		ret = probe_recv_multishot(r, why, whylen);
	if (ret == 0)
		probe_mshot_cap(r);
	if (ret == 0)
		register_ring_fd(r);
	return ret;
}

int sl_ring_init(struct sl_ring *r, unsigned entries, uint32_t buf_size,
		 uint32_t buf_count, char *why, size_t whylen)
{
	return ring_init(r, entries, buf_size, buf_count, buf_count, buf_size, why, whylen);
}

int sl_ring_init_inc(struct sl_ring *r, unsigned entries, uint32_t blk_size,
		     uint32_t blk_count, uint32_t nslices, uint32_t unit,
		     char *why, size_t whylen)
{
	int ret = ring_init(r, entries, blk_size, blk_count, nslices, unit, why, whylen);

	if (ret == 0 && r->inc && !r->mshot_cap) {
		/* the fairness rules bound what a recv takes with the
		 * multishot caps (Linux 6.17+), which incremental buffers need
		 * per receive: without them, fixed buffers */
		uint32_t n = (uint32_t)((uint64_t)blk_size * blk_count / unit);

		sl_ring_exit(r); /* the whole ring: a new one is made */
		ret = ring_init(r, entries, unit, n < nslices ? n : nslices, nslices, unit,
				why, whylen);
	}
	return ret;
}

void sl_ring_exit(struct sl_ring *r)
{
	if (!r)
		return;
	if (r->ready && r->br)
		io_uring_unregister_buf_ring(&r->uring, SL_RING_BGID);
	if (r->ready)
		io_uring_queue_exit(&r->uring);
	unmap_bufs(r);
	free(r->bstate);
	free(r->park);
	sl_ring_slice_exit(r);
	memset(r, 0, sizeof(*r));
}

struct io_uring_sqe *sl_ring_sqe(struct sl_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

	while (!sqe) {
		io_uring_submit(&r->uring);
		sqe = io_uring_get_sqe(&r->uring);
	}
	return sqe;
}

/* Linked pairs must not be split by a submission in the middle. */
static void reserve(struct sl_ring *r, unsigned n)
{
	if (io_uring_sq_space_left(&r->uring) < n)
		io_uring_submit(&r->uring);
}

/* fd was given as a direct descriptor (sl_ring_direct): the slot, fixed. */
static void use_fd(struct io_uring_sqe *sqe)
{
	if (sl_ring_is_direct(sqe->fd)) {
		sqe->fd &= ~SL_RING_DIRECT;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

void sl_ring_accept_multishot(struct sl_ring *r, int lfd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_recv_multishot(struct sl_ring *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SL_RING_BGID;
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

/* With incremental buffers one receive may fill what is left of a large
 * buffer, and the total cap only ends the recv once reached: each receive
 * is capped too (sqe->len, Linux 6.17 like the total), at half the total
 * rounded up to a unit, and the total lowered to the same, so that what
 * the recv takes stays within the total asked plus one unit. */
void sl_ring_recv_multishot_cap(struct sl_ring *r, int fd, uint32_t total, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);
	uint32_t each = 0;

	if (r->inc) {
		each = (total / 2 + r->unit - 1) / r->unit * r->unit;
		total = each;
	}
	io_uring_prep_recv_multishot(sqe, fd, NULL, each, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SL_RING_BGID;
	sqe->file_index = total; /* optlen: liburing 2.3 has no name for it */
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_recv_one(struct sl_ring *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_recv(sqe, fd, NULL, r->unit, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SL_RING_BGID;
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_send(struct sl_ring *r, int fd, const void *buf, size_t len, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_send(sqe, fd, buf, len, MSG_WAITALL | MSG_NOSIGNAL);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_send_nowait(struct sl_ring *r, int fd, const void *buf, size_t len, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_send(sqe, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_sendmsg(struct sl_ring *r, int fd, const struct msghdr *msg, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_sendmsg(sqe, fd, msg, MSG_WAITALL | MSG_NOSIGNAL);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_connect(struct sl_ring *r, int fd, const struct sockaddr *sa, socklen_t len,
		     struct __kernel_timespec *ts, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	reserve(r, 2);
	sqe = sl_ring_sqe(r);
	io_uring_prep_connect(sqe, fd, sa, len);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sl_ring_sqe(r);
	io_uring_prep_link_timeout(sqe, ts, 0);
	io_uring_sqe_set_data64(sqe, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void sl_ring_cancel_close(struct sl_ring *r, int fd, uint64_t ud_cancel, uint64_t ud_close)
{
	struct io_uring_sqe *sqe;

	reserve(r, 2);
	sqe = sl_ring_sqe(r);
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud_cancel);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = sl_ring_sqe(r);
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud_close);
}

void sl_ring_cancel_fd(struct sl_ring *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_close(struct sl_ring *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	if (sl_ring_is_direct(fd))
		io_uring_prep_close_direct(sqe, (unsigned)(fd & ~SL_RING_DIRECT));
	else
		io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud);
}

/* liburing 2.3 has no helper for the socket commands (Linux 6.7): the SQE
 * is filled by hand after the uapi layout, where level and optname share
 * the addr field, optval is addr3 and optlen the file_index field. */
static void prep_nodelay(struct io_uring_sqe *sqe, int fd)
{
	static const int one = 1; /* read when the command runs */

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = SOCKET_URING_OP_SETSOCKOPT;
	sqe->addr = (uint64_t)IPPROTO_TCP | (uint64_t)TCP_NODELAY << 32;
	sqe->addr3 = (uint64_t)(uintptr_t)&one;
	sqe->file_index = sizeof(one);
	use_fd(sqe);
}

/* Likewise IORING_OP_FIXED_FD_INSTALL (Linux 6.8): the slot in fd with
 * IOSQE_FIXED_FILE, no flags (the new fd is O_CLOEXEC). */
static void prep_fd_install(struct io_uring_sqe *sqe, uint32_t slot)
{
	io_uring_prep_rw(IORING_OP_FIXED_FD_INSTALL, sqe, (int)slot, NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
}

void sl_ring_socket_connect(struct sl_ring *r, uint32_t slot, const struct sockaddr *sa,
			    socklen_t len, struct __kernel_timespec *ts, uint64_t ud_socket,
			    uint64_t ud_opt, uint64_t ud_connect)
{
	struct io_uring_sqe *sqe;

	reserve(r, 4);
	sqe = sl_ring_sqe(r);
	/* no SOCK_CLOEXEC: a direct descriptor is in no fd table */
	io_uring_prep_socket_direct(sqe, sa->sa_family, SOCK_STREAM, IPPROTO_TCP, slot, 0);
	io_uring_sqe_set_data64(sqe, ud_socket);
	sqe->flags |= IOSQE_IO_LINK; /* no socket: the rest is cancelled */
	sqe = sl_ring_sqe(r);
	prep_nodelay(sqe, sl_ring_direct(slot));
	io_uring_sqe_set_data64(sqe, ud_opt);
	/* a failed option must not stop the connect: hard link, and no CQE
	 * on success */
	sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
	sqe = sl_ring_sqe(r);
	io_uring_prep_connect(sqe, (int)slot, sa, len);
	io_uring_sqe_set_data64(sqe, ud_connect);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
	sqe = sl_ring_sqe(r);
	io_uring_prep_link_timeout(sqe, ts, 0);
	io_uring_sqe_set_data64(sqe, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void sl_ring_fd_install(struct sl_ring *r, uint32_t slot, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	prep_fd_install(sqe, slot);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_shutdown(struct sl_ring *r, int fd, int how, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_shutdown(sqe, fd, how);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}

/* The request just prepared, alone on the ring before it serves anyone:
 * its result. */
static int run_one(struct sl_ring *r, struct io_uring_sqe *sqe)
{
	struct io_uring_cqe *cqe;
	int res = -ETIME;

	io_uring_sqe_set_data64(sqe, 1);
	io_uring_submit(&r->uring);
	while (io_uring_wait_cqe(&r->uring, &cqe) == 0) {
		bool mine = cqe->user_data == 1;

		if (mine)
			res = cqe->res;
		io_uring_cqe_seen(&r->uring, cqe);
		if (mine)
			break;
	}
	return res;
}

/* Each step of the server socket path, for real, in slot 0: the socket,
 * the option (read back), a process fd for it (the reload hand-over). */
static bool probe_direct(struct sl_ring *r)
{
	struct io_uring_sqe *sqe;
	int fd, val = 0;
	socklen_t vl = sizeof(val);
	bool ok = false;

	sqe = sl_ring_sqe(r);
	io_uring_prep_socket_direct(sqe, AF_INET, SOCK_STREAM, IPPROTO_TCP, 0, 0);
	if (run_one(r, sqe) < 0)
		return false;
	sqe = sl_ring_sqe(r);
	prep_nodelay(sqe, sl_ring_direct(0));
	if (run_one(r, sqe) == 0) {
		sqe = sl_ring_sqe(r);
		prep_fd_install(sqe, 0);
		fd = run_one(r, sqe);
		if (fd >= 0) {
			ok = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &val, &vl) == 0 && val;
			close(fd);
		}
	}
	sqe = sl_ring_sqe(r);
	io_uring_prep_close_direct(sqe, 0);
	run_one(r, sqe);
	return ok;
}

void sl_ring_direct_init(struct sl_ring *r, uint32_t n)
{
	static const struct sl_ring_op ops[] = {
		{ IORING_OP_SOCKET, "SOCKET" },
		{ IORING_OP_URING_CMD, "URING_CMD" },
		{ IORING_OP_FIXED_FD_INSTALL, "FIXED_FD_INSTALL" },
	};
	struct rlimit rl;
	char why[128];

	r->direct_files = 0;
	if (sl_ring_probe_ops(r, ops, sizeof(ops) / sizeof(ops[0]), "direct", why,
			      sizeof(why)) < 0)
		return;
	/* the kernel refuses a table larger than the fd limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n)
		n = (uint32_t)rl.rlim_cur;
	if (n > (1u << 20))
		n = 1u << 20;
	if (!n || io_uring_register_files_sparse(&r->uring, n) < 0)
		return;
	if (!probe_direct(r)) {
		io_uring_unregister_files(&r->uring);
		return;
	}
	r->direct_files = n;
}

int sl_ring_direct_in_use(const struct sl_ring *r)
{
	char path[64], line[256];
	bool files = false;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", r->uring.ring_fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* "UserFiles:\t<size>", then one "<slot>: <path>" line per slot in
	 * use, then "UserBufs:" */
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "UserFiles:", 10)) {
			files = true;
		} else if (files) {
			const char *p = line;

			while (*p == ' ')
				p++;
			if (*p < '0' || *p > '9')
				break;
			n++;
		}
		/* a long path goes on in the next read: skip to its end */
		while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
			;
	}
	fclose(f);
	return n;
}


void sl_ring_cancel_ud(struct sl_ring *r, uint64_t target, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_timeout(struct sl_ring *r, struct __kernel_timespec *ts, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_timeout_update(struct sl_ring *r, struct __kernel_timespec *ts,
			    uint64_t target, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_timeout_update(sqe, ts, target, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_timeout_remove(struct sl_ring *r, uint64_t target, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_timeout_remove(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

void sl_ring_read(struct sl_ring *r, int fd, void *buf, unsigned len, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_prep_read(sqe, fd, buf, len, 0);
	use_fd(sqe);
	io_uring_sqe_set_data64(sqe, ud);
}
