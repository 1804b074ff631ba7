/*
 * Statistics (core/ layer): counters kept per worker (one writer each, no
 * atomics on the data path: relaxed stores of a value only that worker
 * changes), summed when /metrics, /stats.json or /stats is served; server
 * state and check results come from struct sl_server. Also the fd audit:
 * open fds next to the fds the process accounts for, taken at one instant
 * (core/fdaudit.c); any difference is a leak.
 */
#ifndef SL_CORE_STATS_H
#define SL_CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "core/session-t.h"

struct sl_proxy;
struct sl_worker;

/* Connection states for the gauges. */
enum sl_gauge {
	SL_GS_ACTIVE = 0,   /* request or data in progress */
	SL_GS_IDLE,         /* http keep-alive, waiting for the next request */
	SL_GS_CLI_HALF,     /* client half-closed, server side open */
	SL_GS_SRV_HALF,     /* server half-closed, client side open */
	SL_GS_CONNECT,      /* connecting to a server */
	SL_GS_QUEUED,       /* waiting for a server slot */
	SL_GS_COUNT,
	SL_GS_NONE = 255,
};

#define SL_CAUSES (SL_CLOSE_LIMIT + 1)

/* Latency histograms: bounds from 0.5 ms to 10 s (sl_lat_bounds_us), the
 * last bucket is +Inf. Counts per bucket (not cumulative) and the sum. */
#define SL_LAT_BUCKETS 14
struct sl_hist {
	uint64_t b[SL_LAT_BUCKETS + 1];
	uint64_t sum_us;
};

/* What each latency histogram measures (README, "Observability"). */
enum sl_lat {
	SL_LAT_REQUEST = 0, /* http: request head received to last response byte sent */
	SL_LAT_RESPONSE,    /* http: request sent to the response head received */
	SL_LAT_CONNECT,     /* a server connect: started to established */
	SL_LAT_QUEUE,       /* http: time a request waited for a server slot */
	SL_LAT_HANDSHAKE,         /* accepted to the transport handshake done (ssl binds) */
	SL_LAT_SESSION,     /* tcp: accepted to session end */
	SL_LAT_COUNT,
};
#define SL_LIFE_BUCKETS 8     /* connection lifetime, seconds */
#define SL_REQS_BUCKETS 7     /* requests per connection */

/* HTTP/2 error codes 0..13 (RFC 9113 7), then "other". */
#define SL_H2_CODES 15
extern const char *const sl_stats_h2_code_names[SL_H2_CODES];

struct sl_fe_stats {
	uint64_t sess_total, bytes_in, bytes_out, req_total;
	uint64_t rsp[6];                  /* 1xx..5xx, other */
	uint64_t to[SL_TO_COUNT];         /* timeouts fired */
	uint64_t cause[SL_CAUSES];        /* sessions ended, by cause */
	uint64_t req_err[6];              /* 400, 405, 408, 429, 431, other 4xx from us */
	uint64_t gauge[SL_GS_COUNT];
	uint64_t sess_cur;
	uint64_t life[SL_CAUSES][SL_LIFE_BUCKETS + 1];
	uint64_t life_ms[SL_CAUSES];
	uint64_t reqs[SL_CAUSES][SL_REQS_BUCKETS + 1];
	uint64_t reqs_sum[SL_CAUSES];
	uint64_t refused_source;
	uint64_t hs_done, hs_resumed, hs_fail[4]; /* ssl binds; by enum sl_hs_fail */
	uint64_t pp_fail[3];              /* refused PROXY headers, by enum sl_pp_fail */
	uint64_t accepts;                 /* connections accepted on its binds */
	struct sl_hist lat[SL_LAT_COUNT];
	uint64_t idle_reclaimed;          /* idle keep-alive clients closed at maxconn */
	struct {                          /* HTTP/2 (proto/h2.c) */
		uint64_t conns, conns_cur, streams, refused;
		uint64_t rst_rx[SL_H2_CODES], rst_tx[SL_H2_CODES]; /* RST_STREAM, by code */
		uint64_t goaway_rx, goaway_tx;
		uint64_t floods;              /* connections closed for a flood */
	} h2;
};

struct sl_be_stats {
	uint64_t sess_total, req_total, bytes_in, bytes_out;
	uint64_t to[SL_TO_COUNT];
	uint64_t conn_fail, rsp_err[3];  /* 502, 503, 504 sent for this backend */
	uint64_t queued;                  /* gauge */
	uint64_t done[6];                 /* requests ended, by status class (1xx..5xx, none) */
	struct sl_hist lat[SL_LAT_COUNT];
};

struct sl_srv_stats {
	uint64_t sess_total, bytes_in, bytes_out, conn_fail;
	uint64_t req_total;               /* http requests ended on this server */
	uint64_t pool_purged;             /* closed by an auto pool as surplus */
	uint64_t done[6];                 /* ... by status class (1xx..5xx, none) */
	struct sl_hist lat[SL_LAT_COUNT];
};

struct sl_wstats {
	struct sl_fe_stats *fe;
	struct sl_be_stats *be;
	struct sl_srv_stats *srv;         /* by server global index */
	uint64_t pause_maxconn, pause_emfile;
	uint64_t log_lines, log_dropped;
	uint64_t fds;                     /* sockets owned by sessions, pool, pending */
	uint64_t dfds;                    /* direct descriptors of server sockets */
	/* the receive-buffer pool (ring/bufpool.c), as of its last review */
	uint64_t buf_resident;            /* buffers whose pages may be resident */
	uint64_t buf_released;            /* buffers whose pages went back */
	uint64_t buf_renewals;            /* buffer ring registered anew */
	uint64_t buf_bytes;               /* size of each buffer the kernel fills */
	uint64_t slices_lost;             /* receives dropped: no slice id free */
	uint64_t tw_passes;               /* extra enters for left-over task work */
	uint64_t rx_deferred;             /* bulk recvs sent to the FIFO to wait */
};

/* Single-writer counter update, readable from other threads. */
#define SL_ST_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define SL_ST_INC(field) SL_ST_ADD(field, 1)
#define SL_ST_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

int sl_stats_init(struct sl_worker *w);
void sl_stats_free(struct sl_worker *w);

/* Re-classify a session for the state gauges (after any event). */
void sl_stats_gauge(struct sl_session *s);
/* The session ended: lifetime and requests histograms by cause. */
void sl_stats_session_end(struct sl_session *s);
/* A response status sent to the client of frontend fe_idx. */
void sl_stats_status(struct sl_session *s, int status, bool ours);
/* An http request counted in its frontend's requests ended (its log line is
 * written): request, response and queue times, and the status class, into
 * the frontend's, backend's (be_counted) and server's (s->srv) histograms.
 * rsp_us is UINT64_MAX when no response came from a server. */
void sl_stats_request_end(struct sl_session *s, bool be_counted, int status, uint64_t total_us,
			  uint64_t rsp_us, uint64_t queue_us);
/* A server connect completed (s->conn_start_us to now). */
void sl_stats_connected(struct sl_session *s);
/* The client transport's handshake completed (s->start_us to now). */
void sl_stats_handshake_done(struct sl_session *s);
/* Health check result for srv (called by the checker thread). */
void sl_stats_check_result(struct sl_server *srv, int reason, uint64_t ms);

/* The fds the process owns that belong to no session (ring, eventfds, log,
 * std streams, checker), measured once everything has started. */
void sl_stats_set_fixed_fds(struct sl_proxy *px);

/* Reloads (core/stats_carry.c): fold the final counters of retired
 * configuration src into px's carry, by identity; add px's carry and the
 * live counters of its retired configurations still draining to totals
 * indexed like px's configuration. */
void sl_stats_fold(struct sl_proxy *dst, const struct sl_proxy *src);
void sl_stats_add_older(const struct sl_proxy *px, struct sl_fe_stats *fe,
			struct sl_be_stats *be, struct sl_srv_stats *srv);

enum sl_stats_format { SL_STATS_PROM, SL_STATS_JSON, SL_STATS_HTML };

/* Render every counter in format fmt into a malloc'd buffer (*out, *len).
 * Returns 0 or -ENOMEM. */
int sl_stats_render(struct sl_proxy *px, enum sl_stats_format fmt, char **out, size_t *len);

/* The history behind the rates, percentiles and sparklines of /stats and
 * /stats.json (core/stats_hist.c): a thread samples the counters every
 * conf->stats_interval_ms into a fixed ring per frontend and server.
 * init allocates it and notes each server's state (before the checker
 * starts); start runs the sampler (once every worker runs); both return 0
 * or -errno. stop joins the sampler and frees everything; it must run
 * before the workers' counters go away, and may run when init or start
 * did not. */
int sl_stats_history_init(struct sl_proxy *px);
int sl_stats_history_start(void);
void sl_stats_history_stop(void);
/* A reload switched to px (the configuration it replaced must still be
 * allocated): the history follows px from now on, keeping the series of
 * frontends and servers whose names are unchanged and the state changes of
 * those servers. Returns 0 or -ENOMEM (the history is then empty). */
int sl_stats_history_rebind(struct sl_proxy *px);

/* A server changed state (any thread): kept in a short list per server with
 * the wall-clock time and why, shown on /stats and in /stats.json. */
void sl_stats_server_event(struct sl_server *srv, int from, int to, const char *why);

/* Open fds now (from /proc/self/fd) and the fds accounted for. */
void sl_stats_fd_audit(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted);
/* The same with the direct descriptors (core/fdaudit.h). */
void sl_stats_fd_audit_all(struct sl_proxy *px, uint64_t *open_fds, uint64_t *accounted,
			   uint64_t *direct, uint64_t *direct_accounted);

#endif
