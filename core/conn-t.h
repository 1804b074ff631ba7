/*
 * Connection types (core/ layer). A connection (struct sl_conn) is one
 * socket and everything of it the kernel holds: its requests in flight,
 * its receive state (armed, being paused, starved of buffers), its send
 * state (what the send in flight reads), its shutdown state and the
 * transport that turns socket bytes into the owner's bytes (raw, TLS).
 * Its owner (a session, or the pool while the connection is idle) gets
 * events through a callback table and never submits a request on the
 * socket itself. See core/conn.h for the rules.
 */
#ifndef SL_CORE_CONN_T_H
#define SL_CORE_CONN_T_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "conf/conf-t.h"

struct sl_conn;
struct sl_worker;

/* FIFO of buffer ids, linked through the worker's buf_next[] array. */
struct sl_bufq {
	uint32_t count;
	uint16_t head, tail;
	uint32_t off;        /* bytes of the head buffer already used */
	uint32_t bytes;      /* the queued buffers' lengths (off not deducted) */
};

/* Bytes built in memory (rewritten heads, copied bodies, error pages,
 * ciphertext): p[off, len) waits to be sent. */
struct sl_obuf {
	char *p;
	uint32_t len, off, cap;
};

enum sl_conn_state {
	SL_CONN_FREE = 0,
	SL_CONN_CONNECTING,  /* connect in flight (server connections) */
	SL_CONN_OPEN,
	SL_CONN_CLOSING,     /* given up by its owner: cancel, close, then free */
};

enum sl_rx_state { SL_RX_OFF = 0, SL_RX_ARMED, SL_RX_CANCELING };

/* Why a transport's handshake did not complete (metric label and log). */
enum sl_hs_fail {
	SL_HS_FAIL_PROTOCOL = 0, /* garbage, plain text, bad or refused hello */
	SL_HS_FAIL_TIMEOUT,      /* not done within the handshake timeout */
	SL_HS_FAIL_CLOSED,       /* the peer closed or reset mid-handshake */
	SL_HS_FAIL_CERTIFICATE,  /* client certificate missing or not verified */
	SL_HS_FAIL_COUNT
};

/* Events for the owner (owner is the pointer given with the table). A
 * callback may close the connection or hand it to another owner. */
struct sl_conn_cb {
	void (*on_connect)(void *owner, struct sl_conn *c, int res);
	/* the transport's handshake is complete: data may flow */
	void (*on_ready)(void *owner, struct sl_conn *c);
	/* new bytes in c->q */
	void (*on_data)(void *owner, struct sl_conn *c);
	/* the peer's orderly end (after its last bytes) */
	void (*on_eof)(void *owner, struct sl_conn *c);
	/* a send of n socket bytes completed; tx_busy tells whether another left */
	void (*on_sent)(void *owner, struct sl_conn *c, uint32_t n);
	/* a recv or send failed (res < 0), or the transport failed after its
	 * handshake (-EPROTO, -ENOMEM) */
	void (*on_error)(void *owner, struct sl_conn *c, int res);
	/* the handshake failed: the owner logs it and closes */
	void (*on_hs_fail)(void *owner, struct sl_conn *c, enum sl_hs_fail why,
			   const char *detail);
	/* n socket bytes received (before the transport) */
	void (*on_recv_bytes)(void *owner, struct sl_conn *c, uint32_t n);
	/* after sl_conn_quiesce(): nothing of the connection is left in the ring */
	void (*on_quiet)(void *owner, struct sl_conn *c);
};

/* A transport between the socket and the owner's bytes. Raw is the
 * identity (core/conn.c); TLS is proto/tls.c. */
struct sl_xprt_ops {
	const char *name;
	bool secure;
	/* len socket bytes arrived in buffer bid (the transport owns it now):
	 * queue the owner's bytes in c->q and tell it (sl_conn_notify_*) */
	void (*input)(struct sl_conn *c, uint16_t bid, uint32_t len);
	/* the socket reached EOF */
	void (*input_eof)(struct sl_conn *c);
	/* has the handshake completed? */
	bool (*ready)(const struct sl_conn *c);
	/* the next send: fill up to max iovecs, return their count (0: nothing
	 * to send). Takes the owner's bytes with sl_conn_next_chunk() or reads
	 * them in place (raw). */
	int (*prep)(struct sl_conn *c, struct iovec *iov, int max);
	/* the send built by prep completed with n bytes */
	void (*sent)(struct sl_conn *c, uint32_t n);
	/* queue an orderly end of the stream before the FIN (close_notify);
	 * NULL when the transport has none */
	void (*notify_close)(struct sl_conn *c);
	/* received buffers the transport holds (counted in the quota) */
	uint32_t (*held)(const struct sl_conn *c);
	/* was the handshake a resumption? */
	bool (*resumed)(const struct sl_conn *c);
	/* did the client pick h2 by ALPN? (NULL: never) */
	bool (*alpn_h2)(const struct sl_conn *c);
	/* the client certificate (NULL: never asked for): -1 not asked for, 0
	 * none presented, 1 presented and verified, *dn then its subject */
	int (*client_cert)(const struct sl_conn *c, const char **dn);
	/* A transport with no socket (an HTTP/2 stream, proto/h2_stream.c):
	 * take the owner's bytes now (sl_conn_next_chunk/chunk_done) and
	 * return how many were taken (0: none, nothing is in flight). The
	 * "send" stays in flight until the transport calls sl_conn_push_done
	 * (from outside every callback of the owner). NULL: a socket. */
	uint32_t (*push)(struct sl_conn *c);
	/* socketless: the owner's end of stream (what sl_conn_shutdown asks) */
	void (*push_end)(struct sl_conn *c);
	/* socketless: the owner gave the connection up (sl_conn_close) */
	void (*detach)(struct sl_conn *c);
	/* socketless: c->q became empty (its bytes were read or sent on) */
	void (*q_empty)(struct sl_conn *c);
	/* the connection is being freed: release the transport's state */
	void (*free)(struct sl_conn *c);
};

/* How the connections of a listener get their transport (proto/tls.c makes
 * one per ssl bind): attach puts the transport on c. peer is the client's
 * address as the session knows it (it outlives c), for the transport's
 * log lines. 0 or -errno. */
struct sl_xprt_bind {
	int (*attach)(const struct sl_xprt_bind *xb, struct sl_conn *c,
		      const union sl_sockaddr *peer);
};

/* One send from up to SL_TXV_MAX pieces (allocated when first needed). */
#define SL_TXV_MAX 8
struct sl_txv {
	struct msghdr mh;
	struct iovec iov[SL_TXV_MAX];
};

struct sl_conn {
	uint32_t slot;
	uint32_t gen;
	uint8_t st;          /* enum sl_conn_state */
	uint8_t rx;          /* enum sl_rx_state */
	bool want_rx;        /* the owner reads: keep a recv armed */
	bool starved;        /* recv ended with -ENOBUFS; waits for buffers */
	bool rd_eof;         /* the peer sent FIN */
	bool wr_shut;        /* shutdown(SHUT_WR) asked for */
	bool shut_wanted;    /* ... sent once the output in flight is out */
	bool tx_busy;        /* a send is in flight */
	bool quiet_wanted;   /* sl_conn_quiesce(): tell the owner at inflight 0 */
	bool hs_failed;      /* the handshake failure was reported */
	bool installed_failed; /* no process fd for its direct descriptor (hand-over) */
	bool one;            /* the armed recv is single-shot (no capped multishot) */
	uint16_t bulk_cap;   /* buffers its armed recv may still take, as a bulk side */
	bool waiting;        /* in the table's FIFO of bulk sides waiting to receive */
	bool hot;            /* its last recv filled a whole buffer: more is waiting */
	int fd;              /* -1 once given up; may be a direct descriptor
			      * (sl_ring_direct: ring requests only) */
	int sock_err;        /* the direct socket could not be opened */
	uint32_t inflight;   /* requests whose last CQE has not arrived */
	struct sl_worker *w;
	struct sl_bufq q;    /* the owner's received bytes, after the transport */
	struct sl_bufq txq;  /* buffers taken from the peer, being sent */
	struct sl_obuf out;  /* bytes to send; the first out_pre go before txq */
	uint32_t out_pre;
	uint32_t tx_n;       /* bytes of the send in flight */
	uint32_t tx_out_n;   /* ... read from out (raw) */
	int32_t spare;       /* a buffer a transport took for plaintext, or -1 */
	struct sl_txv *txv;
	/* the connection our received bytes are sent on: its txq holds them,
	 * so they count in our quota */
	struct sl_conn *peer;
	struct sl_conn *next;  /* free list, starved list */
	struct sl_conn *wprev, *wnext; /* the bulk FIFO */
	uint64_t last_ms;      /* last byte received or sent */
	uint64_t bytes_in, bytes_out;
	const struct sl_xprt_ops *xprt;
	void *xctx;            /* the transport's state */
	const struct sl_conn_cb *cb;
	void *owner;
	struct __kernel_timespec ts_connect;
};

/* A worker's connection table. */
struct sl_conn_table {
	struct sl_conn *v;
	uint32_t n, hwm;
	uint32_t live;
	struct sl_conn *free;
	struct sl_conn *starved, *starved_tail; /* recvs that met -ENOBUFS, FIFO */
	struct sl_conn *wait_head, *wait_tail; /* bulk sides waiting for room */
	uint32_t bulk_armed;         /* buffers the armed recvs of bulk sides may take */
	uint32_t arm_budget;         /* units bulk recvs of this loop iteration may still take */
	bool feeding;                /* sl_conn_feed_starved arms the FIFO's head */
};

#endif
