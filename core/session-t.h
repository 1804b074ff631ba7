/*
 * Session and worker types (core/ layer). A session joins a client socket and
 * a server socket; each side has a queue of received buffers waiting to be
 * sent to the other side. A worker is one thread with one ring, its own
 * listeners and its own session table.
 */
#ifndef SL_CORE_SESSION_T_H
#define SL_CORE_SESSION_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>

#include "conf/conf-t.h"
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
	SL_OP_SHUTDOWN,      /* dir = side */
	SL_OP_CANCEL,        /* dir = side */
	SL_OP_CLOSE,         /* dir = side */
	SL_OP_RECV_CANCEL,   /* pause of a side's multishot recv, dir = side */
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
};

/* FIFO of buffer ids, linked through the worker's buf_next[] array. */
struct sl_bufq {
	uint32_t count;
	uint16_t head, tail;
	uint32_t off;        /* bytes of the head buffer already sent */
};

struct sl_side {
	int fd;              /* -1 when absent or closed */
	uint8_t rx;          /* enum sl_rx_state */
	bool starved;        /* recv ended with -ENOBUFS; waits for buffers */
	bool rd_eof;         /* peer sent FIN */
	bool wr_shut;        /* we shut down our write side toward the peer */
	bool tx_busy;        /* a send toward this side is in flight */
	struct sl_bufq q;    /* received from this side, to send to the other */
	uint64_t last_ms;    /* last recv from or send to this side */
	uint64_t bytes_in;
};

struct sl_worker;
struct sl_server;
struct sl_backend;

struct sl_session {
	uint32_t slot;
	uint32_t gen;
	uint8_t state;       /* enum sl_sess_state */
	uint8_t cause;       /* enum sl_close_cause */
	uint8_t to_kind;     /* enum sl_timeout_kind, when cause is TIMEOUT */
	uint8_t retries;
	bool timer_armed;
	uint32_t inflight;   /* requests whose CQE has not arrived yet */
	uint64_t timer_at;   /* when the armed timer fires, ms */
	uint64_t start_ms;
	struct sl_side side[2];
	struct sl_worker *w;
	const struct sl_frontend_conf *fe;
	struct sl_backend *be;
	struct sl_server *srv;
	struct sl_session *next; /* free list or starved list */
	struct __kernel_timespec ts_timer;
	struct __kernel_timespec ts_connect;
};

struct sl_listener {
	int fd;
	const struct sl_frontend_conf *fe;
	const struct sl_bind_conf *bind;
	bool armed;
	bool closing;
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
	uint16_t *buf_next;
	uint32_t *buf_len;
	uint64_t now_ms;
	int wake_fd;              /* owned by the main thread */
	uint64_t wake_val;
	bool stopping;
	bool grace_over;
	uint32_t misc_inflight;   /* listener, wake and grace requests */
	struct __kernel_timespec ts_grace;
	struct __kernel_timespec ts_retry;
	/* start-up handshake with the main thread */
	int init_rc;
	char why[256];
};

#endif
