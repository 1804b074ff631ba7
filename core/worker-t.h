/*
 * Worker types (core/ layer): a worker is one thread with one ring, its own
 * listeners, its session and connection tables, its buffers and its pool of
 * idle server connections. Also the completion kinds (the op field of
 * user_data) every module of the worker shares.
 */
#ifndef SL_CORE_WORKER_T_H
#define SL_CORE_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>

#include "conf/conf-t.h"
#include "core/conn-t.h"
#include "core/log.h"
#include "core/pool-t.h"
#include "core/timerq.h"
#include "ring/ring.h"

/* Provided buffers: per worker pool and per-connection quota. */
#define SL_BUF_SIZE      16384u
#define SL_BUF_COUNT     4096u
#define SL_BUF_QUOTA     16u
/* Incrementally consumed buffers (recv_buffers = incremental): the same
 * memory in fewer, larger buffers; SL_BUF_COUNT is then the number of
 * slice ids and SL_BUF_SIZE the unit of the fairness rules. */
#define SL_BUF_BLOCK     (128u << 10)
#define SL_BUF_BLOCKS    (SL_BUF_COUNT / (SL_BUF_BLOCK / SL_BUF_SIZE))
#define SL_RING_ENTRIES  4096u
/* Plaintext buffers of transports (TLS), per worker (SL_BUF_SIZE each,
 * allocated when first needed, at most this many). */
#define SL_PBUF_COUNT    8192u
#define SL_PBUF_CACHE    256u  /* free ones kept allocated */

/* Completion kinds, the "op" field of user_data. 0 is never used for a
 * request whose completion matters (linked timeouts carry 0). */
enum sl_op {
	SL_OP_NONE = 0,
	SL_OP_ACCEPT,        /* slot = listener index */
	SL_OP_ACCEPT_RETRY,  /* backoff timer after EMFILE and such */
	SL_OP_LISTENER_CLOSE,
	SL_OP_WAKE,          /* eventfd read: the main thread wants us to stop */
	SL_OP_GRACE,         /* grace period after stop */
	/* a connection's requests (core/conn.c): slot = connection */
	SL_OP_RECV,
	SL_OP_SEND,
	SL_OP_CONNECT,
	SL_OP_CANCEL,
	SL_OP_CLOSE,
	SL_OP_RECV_CANCEL,   /* pause of the multishot recv */
	SL_OP_TIMER,         /* the worker's deadline timer (w->tq) */
	SL_OP_TIMER_CTL,     /* update/remove of that timer */
	SL_OP_FD_CLOSED,     /* a close nobody waits for: only the fd count */
	SL_OP_ALOG,          /* access log buffer write */
	SL_OP_MEM_TIMER,     /* the worker's buffer pool review (buffer_release) */
	SL_OP_SOCKET,        /* a server socket opened into a direct descriptor */
	SL_OP_SOCKOPT,       /* its TCP_NODELAY: a CQE only if that failed */
	SL_OP_CLOSE_DIRECT,  /* close of a direct descriptor */
	SL_OP_FD_INSTALL,    /* a process fd for a direct descriptor (hand-over) */
	SL_OP_SHUTDOWN,      /* shutdown of a direct descriptor */
	SL_OP_COUNT          /* must stay within SL_UD_OP_BITS (6 bits) */
};

struct sl_session;
struct sl_proxy;

struct sl_listener {
	int fd;
	int fe_idx;
	const struct sl_frontend_conf *fe;
	const struct sl_bind_conf *bind;
	const struct sl_xprt_bind *xb; /* ssl binds: the transport (proto/tls.c) */
	bool armed;
	bool closing;
	bool paused;         /* a connection limit is reached: accept not re-armed */
	bool backoff;        /* out of fds: accept re-armed by a timer */
	/* Reload (core/world.c): the socket of an unchanged bind moves from the
	 * old configuration's worker to the new one's, never closed. shared: the
	 * fd still belongs to the old worker (the reload may yet fail); handed:
	 * it now belongs to the new one. Either way this worker only cancels its
	 * accept on it, never closes it. */
	bool shared;
	bool handed;
	/* A shared socket is not accepted on until the old worker's accept on
	 * it has ended (sl_worker.accept_go): two rings polling one listening
	 * socket can lose a wakeup when one of them cancels, leaving a
	 * connection in the queue with nobody woken for it. */
	bool deferred;
	struct __kernel_timespec ts_retry;
};

/* An accepted connection beyond a limit (accepts already in flight when the
 * limit was reached), started when a slot frees. */
struct sl_pending_conn {
	int fd;
	int li;
};

struct sl_worker {
	int id;
	pthread_t thread;
	struct sl_proxy *px;
	struct sl_ring ring;
	struct sl_listener *listeners;
	int nlisteners;
	int listeners_open;
	struct sl_session *sessions;
	uint32_t nslots;
	uint32_t hwm;             /* slots below this have been used once */
	struct sl_session *free;  /* free list */
	uint32_t nsessions;
	uint32_t nstreams, stream_slots; /* h2 stream sessions; their share of nslots */
	struct sl_conn_table conns; /* client and server connections (core/conn.c) */
	/* sessions woken by another one (a server slot freed), run after the
	 * current completion batch, never nested in the waker (core/session.c) */
	struct sl_session *run_head, *run_tail;
	uint16_t *buf_next;       /* by buffer id: provided buffers, then plain ones */
	uint32_t *buf_len;
	/* plaintext buffers (TLS): ids SL_BUF_COUNT + i, allocated on demand */
	char **pbuf;
	uint16_t *pbuf_free;      /* stack of free indexes */
	uint32_t npbuf_free, npbuf_cached;
	uint64_t now_ms;
	uint64_t now_us;          /* the same instant (one clock read per batch) */
	int wake_fd;              /* owned by the main thread */
	uint64_t wake_val;
	bool stopping;
	bool retired;             /* replaced by a reload: serve what it has, then exit */
	atomic_bool done;         /* the thread is about to return (main joins it) */
	/* reload handover (core/world.c): the worker of the next configuration
	 * that took our sockets, told once our accepts on them have ended */
	struct sl_worker *successor;
	atomic_bool handover_told;
	atomic_bool accept_go;    /* set by the predecessor: arm deferred listeners */
	/* our idle pooled connections have all been handed to the successor or
	 * closed: we touch it no more (core/pool.c) */
	atomic_bool pool_told;
	bool grace_over;
	/* Every deadline of the worker's sessions and pooled connections, under
	 * one io_uring timeout armed for the earliest (sl_worker_timer_set) */
	struct sl_timerq tq;
	bool tq_armed;
	uint64_t tq_at;           /* when the armed timeout fires, ms */
	uint32_t tq_inflight;     /* its requests (timeout, update, removal) */
	struct __kernel_timespec ts_tq;
	uint32_t misc_inflight;   /* listener, wake and grace requests */
	struct sl_pool pool;
	struct sl_wstats *st;     /* counters (core/stats.h) */
	struct sl_log_limit log_limit; /* per-request log lines (core/log.h) */
	struct sl_alog {          /* access log buffers (core/alog.h) */
		int fd;
		char *buf[2];
		uint32_t len[2];
		int cur;
		bool busy;
	} alog;
	/* limits, this worker's share (see core/limits.h) */
	uint32_t nconn;           /* client connections */
	uint32_t *fe_conn;        /* per frontend */
	/* per frontend: idle keep-alive sessions, oldest first (their gauge is
	 * SL_GS_IDLE), closed to admit new clients at a maxconn limit */
	struct sl_session **idle_head, **idle_tail;
	uint32_t *srv_active;     /* per server (pool global index): connections in use */
	struct sl_session **q_head, **q_tail; /* per backend: sessions waiting for a slot */
	struct sl_pending_conn *pending;
	uint32_t npending, pending_cap;
	uint64_t emfile_log_ms;   /* last EMFILE log line (at most one a second) */
	uint64_t accept_pauses;   /* times accept was paused by a limit */
	/* fd audit (core/fdaudit.c) */
	uint64_t audit_gen;       /* last sample this worker paused for */
	bool audit_live;          /* takes part in samples (under the audit lock) */
	unsigned cq_next;         /* CQ index of the next completion to dispatch */
	struct __kernel_timespec ts_grace;
	struct __kernel_timespec ts_mem;
	bool mem_armed;           /* the buffer pool review timer is pending */
	struct __kernel_timespec ts_retry;
	/* start-up handshake with the main thread */
	int init_rc;
	char why[256];
};

#endif
