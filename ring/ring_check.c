/*
 * io_uring for the health checker (ring/ layer): ring setup with a sparse
 * direct-descriptor table and the hard-linked probe chain (see
 * ring/ring_check.h). Direct descriptors keep check sockets out of the
 * process fd table, so a check can never collide with a worker's fd, and
 * the slot a probe uses is reused only after its close has completed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ring/ring_check.h"

static const struct sl_ring_op check_ops[] = {
	{ IORING_OP_SOCKET, "SOCKET" },
	{ IORING_OP_CONNECT, "CONNECT" },
	{ IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT" },
	{ IORING_OP_SEND, "SEND" },
	{ IORING_OP_RECV, "RECV" },
	{ IORING_OP_CLOSE, "CLOSE" },
	{ IORING_OP_SHUTDOWN, "SHUTDOWN" },
	{ IORING_OP_TIMEOUT, "TIMEOUT" },
	{ IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE" },
	{ IORING_OP_READ, "READ" },
};

int sl_ring_check_init(struct sl_ring *r, unsigned entries, unsigned cq_entries,
		       unsigned nfiles, char *why, size_t whylen)
{
	struct io_uring_params p;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = cq_entries;
	ret = io_uring_queue_init_params(entries, &r->uring, &p);
	if (ret < 0) {
		snprintf(why, whylen, "io_uring setup with SINGLE_ISSUER|DEFER_TASKRUN "
			 "failed: %s (Linux 6.1+ needed)", strerror(-ret));
		return ret;
	}
	r->ready = 1;
	if (!(p.features & IORING_FEAT_NODROP)) {
		snprintf(why, whylen, "kernel io_uring lacks NODROP");
		return -ENOSYS;
	}
	ret = sl_ring_probe_ops(r, check_ops, sizeof(check_ops) / sizeof(check_ops[0]),
				"health checks need Linux 5.19+", why, whylen);
	if (ret < 0)
		return ret;
	ret = io_uring_register_files_sparse(&r->uring, nfiles);
	if (ret < 0)
		snprintf(why, whylen, "cannot register %u direct descriptors: %s", nfiles,
			 strerror(-ret));
	return ret < 0 ? ret : 0;
}

static struct io_uring_sqe *link_sqe(struct sl_ring *r, uint64_t ud)
{
	struct io_uring_sqe *sqe = sl_ring_sqe(r);

	io_uring_sqe_set_data64(sqe, ud);
	return sqe;
}

/* The deadline of the request just queued; the chain goes on after it
 * whether it fired or not. */
static void link_timeout(struct sl_ring *r, struct __kernel_timespec *ts, uint64_t ud)
{
	struct io_uring_sqe *sqe = link_sqe(r, ud);

	io_uring_prep_link_timeout(sqe, ts, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
}

unsigned sl_ring_probe(struct sl_ring *r, const struct sl_probe *p)
{
	unsigned n = p->req ? SL_PROBE_NSTEPS : 4;
	struct io_uring_sqe *sqe;

	/* a chain split across two submissions would lose its links */
	if (io_uring_sq_space_left(&r->uring) < n)
		io_uring_submit(&r->uring);
	sqe = link_sqe(r, p->ud[SL_PROBE_SOCKET]);
	/* no SOCK_CLOEXEC: a direct descriptor is in no fd table (and the
	 * kernel refuses the flag for one) */
	io_uring_prep_socket_direct(sqe, p->sa->sa_family, SOCK_STREAM, 0, p->slot, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = link_sqe(r, p->ud[SL_PROBE_CONNECT]);
	io_uring_prep_connect(sqe, (int)p->slot, p->sa, p->salen);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	link_timeout(r, p->ts, p->ud[SL_PROBE_CONNECT_TO]);
	if (p->req) {
		/* a send after a timed-out connect would wait for the handshake
		 * forever: it needs its own deadline too */
		sqe = link_sqe(r, p->ud[SL_PROBE_SEND]);
		io_uring_prep_send(sqe, (int)p->slot, p->req, p->req_len,
				   MSG_WAITALL | MSG_NOSIGNAL);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		link_timeout(r, p->ts, p->ud[SL_PROBE_SEND_TO]);
		sqe = link_sqe(r, p->ud[SL_PROBE_RECV]);
		io_uring_prep_recv(sqe, (int)p->slot, p->resp, p->resp_len, MSG_WAITALL);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		link_timeout(r, p->ts, p->ud[SL_PROBE_RECV_TO]);
	}
	sqe = link_sqe(r, p->ud[SL_PROBE_CLOSE]);
	io_uring_prep_close_direct(sqe, p->slot);
	return n;
}

void sl_ring_shutdown_direct(struct sl_ring *r, unsigned slot, uint64_t ud)
{
	struct io_uring_sqe *sqe = link_sqe(r, ud);

	io_uring_prep_shutdown(sqe, (int)slot, SHUT_RDWR);
	sqe->flags |= IOSQE_FIXED_FILE;
}
