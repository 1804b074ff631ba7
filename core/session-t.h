/*
 * Session and worker types (core/ layer). A session joins a client socket and
 * a server socket; each side has a queue of received buffers waiting to be
 * sent to the other side. A worker is one thread with one ring, its own
 * listeners and its own session table.
 */
#ifndef SL_CORE_SESSION_T_H
#define SL_CORE_SESSION_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>
#include <sys/socket.h>

#include "conf/conf-t.h"
#include "core/log.h"
#include "ring/ring.h"

enum { SL_SIDE_CLI = 0, SL_SIDE_SRV = 1 };

/* Completion kinds, the "op" field of user_data. 0 is never used for a
 * request whose completion matters (linked timeouts carry 0). */
enum sl_op {
	SL_OP_NONE = 0,
	SL_OP_ACCEPT,        /* slot = listener index */
	SL_OP_ACCEPT_RETRY,  /* backoff timer after EMFILE and such */
	SL_OP_LISTENER_CLOSE,
	SL_OP_WAKE,          /* eventfd read: the main thread wants us to stop */
	SL_OP_GRACE,         /* grace period after stop */
	SL_OP_RECV,          /* dir = side */
	SL_OP_SEND,          /* dir = side sent to */
	SL_OP_CONNECT,
	SL_OP_TIMER,         /* the session's inactivity timer */
	SL_OP_TIMER_CTL,     /* update/remove of that timer */
	SL_OP_CANCEL,        /* dir = side */
	SL_OP_CLOSE,         /* dir = side */
	SL_OP_RECV_CANCEL,   /* pause of a side's multishot recv, dir = side */
	SL_OP_POOL_RECV,     /* slot = pool entry: its recv, idle or in use */
	SL_OP_POOL_TIMER,    /* the worker's pool sweep timer (dir 1: its control) */
	SL_OP_POOL_CTL,      /* pool entry recv cancel */
	SL_OP_POOL_CLOSE,    /* pool entry close */
	SL_OP_FD_CLOSED,     /* a close nobody waits for: only the fd count */
	SL_OP_ALOG,          /* access log buffer write */
	SL_OP_COUNT          /* must stay within SL_UD_OP_BITS (6 bits) */
};

struct sl_session;

/* A pooled server connection (core/pool.c). */
struct sl_pool_conn {
	int fd;              /* while idle; -1 while a session owns it */
	uint32_t gen;
	uint8_t state;       /* free, idle, draining, owned */
	bool rx_armed;       /* its multishot recv is in the ring */
	uint32_t inflight;
	uint32_t requests;
	uint32_t sidx;       /* server index in the worker's idle lists */
	uint64_t created_ms;
	uint64_t idle_ms;    /* when it last became idle */
	uint64_t expire_ms;  /* idle: pool_idle_timeout or pool_max_lifetime */
	struct sl_server *srv;
	struct sl_session *owner; /* the session using it (state owned) */
	/* servers with send_proxy*: the client address its PROXY header named */
	union sl_sockaddr src;
	struct sl_pool_conn *prev, *next;
	/* being handed to the successor worker after a reload: the matching
	 * server there; spoiled if its recv saw data, EOF or an error while
	 * it was cancelled (then it is closed instead) */
	struct sl_server *xsrv;
	bool spoiled;
};

/* An idle pooled connection on its way from a retired worker to its
 * successor (core/pool.c): no request on fd is left in the old ring. */
struct sl_pool_xfer {
	int fd;
	struct sl_server *srv;   /* in the successor's configuration */
	uint64_t created_ms, idle_ms;
	uint32_t requests;
};

struct sl_pool {
	struct sl_pool_conn *conns;
	uint32_t nconns, hwm;
	struct sl_pool_conn *free;
	struct sl_pool_conn **idle;  /* per server (global index): most recent first */
	uint32_t *nidle;
	uint32_t *base;              /* per backend: global index of its first server */
	uint32_t owned;              /* idle entries (they hold an fd) */
	bool timer_armed;            /* the sweep timer */
	uint32_t timer_inflight;     /* its requests (timeout, update, removal) */
	uint64_t timer_at;
	uint64_t slack;              /* ms: sweeps are at least this far apart */
	struct __kernel_timespec ts;
	uint32_t handing;            /* entries being handed to the successor */
	uint32_t handed, dropped;    /* at the reload: handed over, closed */
	/* Connections a predecessor handed to this worker, not yet adopted.
	 * Under sl_world_chain_lock: the fd audit counts them (nxfer) in the
	 * same critical section that moves them between workers' counts. */
	struct sl_pool_xfer *xfer;
	uint32_t nxfer, xfer_cap;
	bool xfer_closed;            /* the worker is gone: push nothing more */
};

enum sl_sess_state {
	SL_SESS_ST_FREE = 0,
	SL_SESS_ST_CONNECTING,
	SL_SESS_ST_FORWARD,
	SL_SESS_ST_CLOSING,
};

enum sl_rx_state { SL_RX_OFF = 0, SL_RX_ARMED, SL_RX_CANCELING };

/* Why a session ended; printed in its log line. */
enum sl_close_cause {
	SL_CLOSE_NORMAL = 0,
	SL_CLOSE_CLIENT_ERR,
	SL_CLOSE_SERVER_ERR,
	SL_CLOSE_CONNECT_FAIL,
	SL_CLOSE_NO_SERVER,
	SL_CLOSE_TIMEOUT,
	SL_CLOSE_STOP,
	SL_CLOSE_RESOURCE,
	SL_CLOSE_LIMIT,
};

/* FIFO of buffer ids, linked through the worker's buf_next[] array. */
struct sl_bufq {
	uint32_t count;
	uint16_t head, tail;
	uint32_t off;        /* bytes of the head buffer already sent */
};

struct sl_side {
	int fd;              /* -1 when absent or closed */
	uint8_t epoch;       /* server side: flips on each new connection, so
			      * completions of a previous socket are told apart */
	bool connected;      /* sends may go out */
	bool tx_out;         /* the send in flight reads out (first) */
	bool tx_q;           /* ... and/or buffers of the other side's queue */
	uint32_t tx_out_n;   /* bytes of out in the send in flight */
	/* bytes of the other side's queue the protocol lets go to this side as
	 * they are (an http body of known length), without copying or parsing;
	 * counted down as they are sent (tcp mode relays everything: s->raw) */
	uint64_t relay;
	struct sl_txv *txv;  /* iovecs of a send from several queued buffers */
	uint8_t rx;          /* enum sl_rx_state */
	bool starved;        /* recv ended with -ENOBUFS; waits for buffers */
	bool rd_eof;         /* peer sent FIN */
	bool wr_shut;        /* we shut down our write side toward the peer */
	bool tx_busy;        /* a send toward this side is in flight */
	struct sl_bufq q;    /* received from this side, to send to the other */
	uint64_t last_ms;    /* last recv from or send to this side */
	uint64_t bytes_in;
	uint64_t bytes_out;  /* sent to this side */
	/* bytes built by the protocol (rewritten heads, copied bodies, error
	 * pages) to send to this side before anything queued; session-owned */
	char *out;
	uint32_t out_len, out_off, out_cap;
};

/* TLS state of a client connection (proto/tls.c drives wolfSSL, the core
 * moves the bytes). */
struct sl_tls_conn {
	void *ssl;           /* WOLFSSL * */
	struct sl_bufq cin;  /* ciphertext received, not yet read by wolfSSL */
	char *cout;          /* ciphertext wolfSSL wrote, to send to the client */
	uint32_t cout_len, cout_off, cout_cap;
	bool cout_busy;      /* a send reads cout: it may not move */
	char *cout_old;      /* the buffer that send reads after cout had to grow
			      * under it (freed by its completion) */
	int32_t spare;       /* plaintext buffer id taken but not queued, -1 */
	bool hs_done;        /* handshake complete: the protocol has started */
	bool eof;            /* close_notify seen: no more plaintext */
	bool eof_told;       /* the protocol was told of the client's end */
	bool notify_sent;    /* our close_notify is in cout (or sent) */
	bool shut_wanted;    /* shutdown(SHUT_WR) once cout is sent */
	bool failed;         /* a handshake failure was counted */
	bool busy;           /* sl_tls_input is running (no re-entry) */
};

/* One send from up to SL_TXV_MAX queued buffers (allocated when first
 * needed, freed with the session). */
#define SL_TXV_MAX 8
struct sl_txv {
	struct msghdr mh;
	struct iovec iov[SL_TXV_MAX];
};

struct sl_session;

/* What a protocol module decides; core/session.c and core/session_io.c
 * call these. */
struct sl_proto_ops {
	void (*start)(struct sl_session *s);
	void (*on_connect)(struct sl_session *s, int res);
	void (*on_data)(struct sl_session *s, int side);   /* new bytes queued */
	void (*on_eof)(struct sl_session *s, int side);
	void (*on_drained)(struct sl_session *s, int to); /* nothing left to send to `to` */
	uint64_t (*deadline)(const struct sl_session *s, enum sl_timeout_kind *kind);
	void (*on_timeout)(struct sl_session *s, enum sl_timeout_kind kind);
	void (*on_free)(struct sl_session *s);
	/* a recv or send on side failed with res; returns 1 if handled (the
	 * session is not closed by the core), 0 to close it. May be NULL. */
	int (*on_error)(struct sl_session *s, int side, int res);
	/* a server slot freed while the session waited in its backend queue:
	 * pick a server and connect now */
	void (*on_dequeued)(struct sl_session *s);
	/* the session is being released: write its access log line(s) */
	void (*on_log)(struct sl_session *s);
};

struct sl_worker;
struct sl_server;
struct sl_tls_bind;
struct sl_backend;

struct sl_session {
	uint32_t slot;
	uint32_t gen;
	uint8_t state;       /* enum sl_sess_state */
	uint8_t cause;       /* enum sl_close_cause */
	uint8_t to_kind;     /* enum sl_timeout_kind, when cause is TIMEOUT */
	uint8_t retries;
	bool timer_armed;
	bool raw;            /* queued bytes are relayed as they are (tcp, tunnel) */
	bool srv_held;       /* s->srv counts this session in its slots */
	bool queued;         /* waiting in the backend queue for a server slot */
	bool src_counted;    /* counted in the per-source limits */
	bool conn_counted;   /* counted in the worker's connection limits */
	bool over_source;    /* over maxconn_per_source: refuse (429 in http) */
	bool idle;           /* http: between requests */
	bool pp_wait;        /* accept_proxy: waiting for the PROXY header */
	bool pp_failed;      /* a refused PROXY header was counted */
	uint8_t gauge;       /* enum sl_gauge this session is counted in */
	uint32_t nreq;       /* http requests received */
	uint64_t wall_ms;    /* accept time, epoch ms (for the access log) */
	uint64_t t_queue;    /* ms spent queued (current request or session) */
	uint64_t t_conn_start, t_connected; /* last server connect, ms (0: none) */
	uint64_t queue_ms;   /* when it entered the queue */
	/* the same instants in microseconds, for the latency histograms */
	uint64_t start_us, conn_start_us, conn_done_us, queue_us, t_queue_us;
	struct sl_session *qprev, *qnext;
	/* the worker's list of idle keep-alive sessions of this frontend, oldest
	 * first (core/worker.c: reclaimed at maxconn) */
	struct sl_session *iprev, *inext;
	uint32_t inflight;   /* requests whose CQE has not arrived yet */
	uint64_t timer_at;   /* when the armed timer fires, ms */
	uint64_t start_ms;
	struct sl_side side[2];
	struct sl_worker *w;
	const struct sl_frontend_conf *fe;
	int fe_idx;
	struct sl_backend *be;
	struct sl_server *srv;
	/* the pooled connection the server side uses: its recv is the entry's */
	struct sl_pool_conn *pconn;
	struct sl_session *next; /* free list or starved list */
	const struct sl_proto_ops *ops;
	union sl_sockaddr peer; /* client address (sa_family 0 if unknown) */
	void *proto;         /* protocol state, owned by the protocol module */
	struct sl_tls_conn *tls; /* TLS client connection (ssl binds), or NULL */
	struct sl_session_pp *pp; /* accept_proxy binds (core/session_pp.h), or NULL */
	/* server-side buffers an in-flight send toward the client still reads
	 * when the server side was reset (DESIGN rule 2): released by that
	 * send's completion */
	struct sl_bufq tx_stash;
	struct __kernel_timespec ts_timer;
	struct __kernel_timespec ts_connect;
};

struct sl_listener {
	int fd;
	int fe_idx;
	const struct sl_frontend_conf *fe;
	const struct sl_bind_conf *bind;
	struct sl_tls_bind *tls;  /* ssl binds: certificates and settings */
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

struct sl_proxy;

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
	struct sl_session *starved;
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
	struct __kernel_timespec ts_retry;
	/* start-up handshake with the main thread */
	int init_rc;
	char why[256];
};

#endif
