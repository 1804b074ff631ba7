/*
 * Session types (core/ layer). A session is the stream between a client
 * connection and, while it has one, a server connection (core/conn-t.h):
 * it decides what goes where (through its protocol module, proto/), picks
 * servers, owns the inactivity timer and follows an explicit lifecycle
 * (enum sl_sess_state, transitions in core/session_state.c).
 */
#ifndef SL_CORE_SESSION_T_H
#define SL_CORE_SESSION_T_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>

#include "conf/conf-t.h"
#include "core/conn-t.h"

enum { SL_SIDE_CLI = 0, SL_SIDE_SRV = 1 };

/* The lifecycle. Transitions: core/session_state.c (sl_sess_may). */
enum sl_sess_state {
	SL_SESS_FREE = 0,
	SL_SESS_PROXY_HDR,   /* accept_proxy: waiting for the PROXY header */
	SL_SESS_HANDSHAKE,   /* the client transport's handshake (TLS) */
	SL_SESS_HEAD,        /* http: waiting for a request head */
	SL_SESS_IDLE,        /* http keep-alive: between requests */
	SL_SESS_QUEUED,      /* waiting in the backend queue for a server slot */
	SL_SESS_CONNECTING,  /* a server connection is being opened */
	SL_SESS_FORWARD,     /* exchanging with a server, or answering itself */
	SL_SESS_LINGER,      /* http: last response sent, draining the client */
	SL_SESS_CLOSING,     /* connections given up, waiting for the timer's end */
	SL_SESS_NSTATES
};

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

struct sl_session;

/* What a protocol module decides; core/session.c calls these. */
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
	/* work the protocol deferred with sl_session_defer (from the worker's
	 * run list, outside every callback chain). May be NULL. */
	void (*on_run)(struct sl_session *s);
	/* the process stops or reloads: finish what is in progress, take no
	 * more (h2: GOAWAY). May be NULL. */
	void (*on_stop)(struct sl_session *s);
};

struct sl_worker;
struct sl_server;
struct sl_backend;
struct sl_session_pp;

/* What a session counts of one side, across the connections it had. */
struct sl_side_acct {
	uint64_t last_ms;    /* last byte received from or sent to this side */
	uint64_t bytes_in;
	uint64_t bytes_out;  /* sent to this side */
	bool eof;            /* this side's end was seen */
};

struct sl_session {
	uint32_t slot;
	uint32_t gen;
	uint8_t state;       /* enum sl_sess_state: change it with sl_session_set_state */
	uint8_t cause;       /* enum sl_close_cause */
	uint8_t to_kind;     /* enum sl_timeout_kind, when cause is TIMEOUT */
	uint8_t retries;
	bool timer_armed;
	bool raw;            /* queued bytes are relayed as they are (tcp, tunnel) */
	bool srv_held;       /* s->srv counts this session in its slots */
	bool src_counted;    /* counted in the per-source limits */
	bool conn_counted;   /* counted in the worker's connection limits */
	bool over_source;    /* over maxconn_per_source: refuse (429 in http) */
	bool pp_failed;      /* a refused PROXY header was counted */
	bool hs_failed;      /* a failed handshake was counted */
	bool started;        /* the protocol started (its on_log/on_free apply) */
	bool run_queued;     /* in the worker's run list */
	bool stream;         /* an HTTP/2 stream (proto/h2.c): its client side is a
			      * socketless connection; not a client connection */
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
	struct sl_session *run_next; /* the worker's run list */
	uint32_t inflight;   /* timer requests whose CQE has not arrived yet */
	uint64_t timer_at;   /* when the armed timer fires, ms */
	uint64_t start_ms;
	/* the client connection, and the server one while there is one */
	struct sl_conn *c[2];
	/* protocol output for each side, moved to its connection when sent */
	struct sl_obuf ob[2];
	/* bytes of the other side's queue the protocol lets go to this side as
	 * they are (an http body of known length), counted down as they are
	 * handed to the connection (tcp mode relays everything: s->raw) */
	uint64_t relay[2];
	struct sl_side_acct acct[2];
	uint64_t srv_created_ms;  /* when the server connection was opened */
	struct sl_worker *w;
	const struct sl_frontend_conf *fe;
	int fe_idx;
	struct sl_backend *be;
	struct sl_server *srv;
	struct sl_session *next; /* free list */
	const struct sl_proto_ops *ops;
	union sl_sockaddr peer; /* client address (sa_family 0 if unknown) */
	void *proto;         /* protocol state, owned by the protocol module */
	const struct sl_xprt_bind *xb; /* the listener's transport (ssl binds), or NULL */
	struct sl_session_pp *pp; /* accept_proxy binds (core/session_pp.h), or NULL */
	struct __kernel_timespec ts_timer;
};

#endif
