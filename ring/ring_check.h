/*
 * io_uring for the health checker (ring/ layer): a ring without a buffer
 * pool but with a sparse table of direct descriptors, and the probe chain
 * that DESIGN.md records as closing its socket on every path: socket
 * (direct), connect, link timeout, send, link timeout, recv, link timeout,
 * close, every request hard-linked so that a failed or timed-out step never
 * cancels the close. Knows nothing of HTTP: the caller gives the bytes to
 * send and the buffer to receive into, and reads the steps' results.
 */
#ifndef SL_RING_RING_CHECK_H
#define SL_RING_RING_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ring/ring.h"

/* Steps of a probe chain, in submission order. */
enum sl_probe_step {
	SL_PROBE_SOCKET = 0,
	SL_PROBE_CONNECT,
	SL_PROBE_CONNECT_TO,   /* link timeout of the connect */
	SL_PROBE_SEND,
	SL_PROBE_SEND_TO,
	SL_PROBE_RECV,
	SL_PROBE_RECV_TO,
	SL_PROBE_CLOSE,
	SL_PROBE_NSTEPS
};

struct sl_probe {
	unsigned slot;                  /* direct descriptor slot, owned by the caller */
	const struct sockaddr *sa;      /* where to connect; read at submission */
	socklen_t salen;
	const void *req;                /* NULL: connect only (no send/recv steps) */
	size_t req_len;
	void *resp;                     /* receives until full, EOF, error or timeout */
	size_t resp_len;
	struct __kernel_timespec *ts;   /* deadline of each step; read at submission */
	uint64_t ud[SL_PROBE_NSTEPS];   /* user_data of each step (unique) */
};

/*
 * Create, in the calling thread, a ring for nfiles direct descriptors whose
 * completion queue holds cq_entries. Returns 0, or -errno with a human
 * reason in why (a kernel lacking IORING_OP_SOCKET, for instance).
 * Released with sl_ring_exit(), which also closes any direct descriptor.
 */
int sl_ring_check_init(struct sl_ring *r, unsigned entries, unsigned cq_entries,
		       unsigned nfiles, char *why, size_t whylen);

/*
 * Queue one probe chain (never split across submissions). The recv uses
 * MSG_WAITALL: it ends when the buffer is full, at EOF, on an error, or when
 * its timeout fires (then with the bytes received so far, if any). Every
 * step posts exactly one CQE, the close last; returns how many (8 with a
 * request, 4 without: socket, connect, its timeout, close).
 */
unsigned sl_ring_probe(struct sl_ring *r, const struct sl_probe *p);

/* shutdown(SHUT_RDWR) of a direct descriptor: wakes every request waiting
 * on it (a connect still in SYN_SENT is aborted). One CQE. */
void sl_ring_shutdown_direct(struct sl_ring *r, unsigned slot, uint64_t ud);

#endif
