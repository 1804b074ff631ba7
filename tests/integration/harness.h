/*
 * Integration test harness (tests/ layer): runs the real sluice binary
 * ($SLUICE_BIN) on loopback against origin servers that live as threads in
 * the test process. Self-contained: plain sockets, fork/exec and pthreads,
 * nothing from libsluice. Every blocking operation has a timeout so that a
 * proxy bug fails a test instead of hanging it. Everything a test starts
 * (proxies, origins, black holes) is registered and torn down by
 * h_teardown(), which test suites use as their .fini; h_setup() is .init.
 * A Criterion report hook prints the proxy logs of every failed test.
 * harness.c holds the process side, origin.c the network side.
 */
#ifndef SL_TESTS_INTEGRATION_HARNESS_H
#define SL_TESTS_INTEGRATION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

/* ---- time, environment ------------------------------------------------- */

uint64_t h_now_ms(void);
void h_sleep_ms(unsigned ms);
/* 3 when the binary is a sanitizer build (path contains "asan") or
 * $SLUICE_IT_SLOW says so, else 1: multiply upper bounds by it. */
int h_slow(void);

/* A configuration written piece by piece (printf-style); the test fails if it
 * outgrows the buffer. Reset with b->len = 0. */
struct h_cbuf {
	char s[8192];
	size_t len;
};
void h_cbuf_add(struct h_cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Suite .init / .fini: ignore SIGPIPE, raise RLIMIT_NOFILE; stop and free
 * everything the test started (origins, black holes, proxies). */
void h_setup(void);
void h_teardown(void);
/* Stops and frees the origins and black holes (h_teardown calls it). */
void h_origins_teardown(void);
/* A loopback port that was free a moment ago (bind :0, getsockname, close). */
int h_free_port(void);

/* ---- data: deterministic pattern and FNV-1a 64 ----------------------- */

#define H_FNV_INIT 0xcbf29ce484222325ULL
uint64_t h_fnv1a(uint64_t h, const void *buf, size_t n);
/* Fills buf with bytes [off, off+n) of the stream identified by seed. */
void h_pattern(void *buf, size_t n, uint64_t off, uint32_t seed);
/* FNV-1a 64 of the first n bytes of stream seed. */
uint64_t h_pattern_hash(uint64_t n, uint32_t seed);

/* ---- socket I/O with timeouts ---------------------------------------------
 * stopfd: -1, or an fd that turns readable when the caller must give up
 * (returns -ECANCELED). timeout_ms bounds inactivity (no progress), -1 none.
 * All return 0 or -errno (-ETIMEDOUT when the timeout expired). */

#define H_IO_TIMEOUT_MS 10000 /* default client inactivity bound (x h_slow) */

/* Connected TCP socket to 127.0.0.1:port (non-blocking, CLOEXEC, with
 * SO_RCVTIMEO/SO_SNDTIMEO as a backstop), or -errno (-ECONNREFUSED...). */
int h_connect(int port, int timeout_ms);
int h_send_all(int fd, const void *buf, size_t n, int stopfd, int timeout_ms);
/* Sends n bytes of stream seed in chunks of `chunk` (0: 64 KiB), pausing
 * pause_ms after each chunk but the last. *sent (may be NULL) counts. */
int h_send_pattern(int fd, uint64_t n, uint32_t seed, size_t chunk,
		   int pause_ms, int stopfd, int timeout_ms, uint64_t *sent);

struct h_rx {
	uint64_t bytes;
	uint64_t hash;   /* FNV-1a 64 of everything received */
	int end;         /* 0: EOF, -errno: error/timeout, 1: stopped at max */
	uint64_t t_end;  /* h_now_ms() when `end` was reached */
};
void h_rx_init(struct h_rx *rx);
/* Receives (hashing) until EOF, error, timeout or rx->bytes >= max
 * (UINT64_MAX: no limit). Returns rx->end. */
int h_recv_all(int fd, struct h_rx *rx, uint64_t max, int stopfd,
	       int timeout_ms);
/* Receives exactly n bytes into buf; 0, -EPIPE on early EOF, or -errno. */
int h_recv_exact(int fd, void *buf, size_t n, int timeout_ms);
/* Waits until the peer closes: returns 0 on EOF, -ECONNRESET (or another
 * -errno) on reset, -ETIMEDOUT. Discards data; *nbytes (may be NULL) counts
 * it. */
int h_wait_closed(int fd, int timeout_ms, uint64_t *nbytes);
/* For a socket whose peer may have closed silently (our side already saw
 * its FIN): sends one byte and waits up to timeout_ms for the RST a closed
 * socket answers with. true if the peer socket is gone. */
bool h_probe_closed(int fd, int timeout_ms);
/* close(2) with SO_LINGER {1,0}: the peer gets an RST. */
void h_close_rst(int fd);

/* Client-side background writer: sends len bytes of stream seed, then
 * shutdown(SHUT_WR) if shut. */
struct h_sender {
	pthread_t thr;
	int fd;
	uint64_t len;
	uint32_t seed;
	size_t chunk;
	int pause_ms;
	bool shut;
	int rc;
	uint64_t sent;
};
void h_sender_start(struct h_sender *s, int fd, uint64_t len, uint32_t seed,
		    bool shut);
/* Same with pacing. */
void h_sender_start_paced(struct h_sender *s, int fd, uint64_t len,
			  uint32_t seed, size_t chunk, int pause_ms, bool shut);
int h_sender_join(struct h_sender *s);

/* ---- origins: one listener thread, one thread per connection ----------- */

struct h_origin;

/* What one accepted connection did (copied out with h_origin_rec). */
struct h_conn_rec {
	uint64_t t_accept;
	uint64_t t_done;   /* handler returned, socket closed */
	struct h_rx rx;    /* what the origin received */
	uint64_t tx_bytes; /* what it sent */
	uint64_t t_tx_end; /* when it finished sending (source, after_eof) */
	int tx_err;        /* 0 or -errno of its sends */
	int fd;            /* hold handlers: still open while the origin runs */
	bool done;
};

struct h_conn {
	struct h_origin *o;
	int fd;      /* the handler may close it and set -1 */
	int idx;     /* accept order, from 0 */
	int stopfd;  /* readable when the origin stops */
	struct h_conn_rec *rec; /* written by the handler, under no lock: the
				   main thread reads it only through
				   h_origin_rec after `done`, or fields the
				   handler publishes with h_conn_publish */
};

typedef void (*h_handler_fn)(struct h_conn *c);

struct h_origin_opts {
	h_handler_fn handler;
	uint64_t len;   /* bytes to send (source, after_eof, rst) */
	uint32_t seed;  /* pattern stream */
	size_t chunk;   /* send chunk, 0: 64 KiB */
	int pause_ms;   /* pause between chunks */
	int delay_ms;   /* rst: wait before resetting */
	bool hold;      /* source/after_eof: stay open (no FIN) after sending */
	char tag;       /* tag: sends "<tag>\n" on accept */
};

/* Echo: sends back what it receives; on EOF shuts down its write side and
 * closes. */
void h_handle_echo(struct h_conn *c);
/* Source: sends len bytes (paced), then shutdown(SHUT_WR) unless hold,
 * then receives until EOF and closes. */
void h_handle_source(struct h_conn *c);
/* Sink: receives until EOF (hash + count), then closes. */
void h_handle_sink(struct h_conn *c);
/* Hold: receives until EOF or error (recorded, published), then keeps the
 * socket open and silent until the origin stops; rec.fd stays valid. */
void h_handle_hold(struct h_conn *c);
/* After EOF: receives until EOF, then sends len bytes (paced), then closes,
 * or with hold keeps the socket open and silent until the origin stops. */
void h_handle_after_eof(struct h_conn *c);
/* Rst: sends len bytes, waits delay_ms, then closes with an RST. */
void h_handle_rst(struct h_conn *c);
/* Tag: sends "<tag>\n", then receives until EOF and closes. */
void h_handle_tag(struct h_conn *c);

/* Starts an origin on an ephemeral loopback port (asserts on failure). */
struct h_origin *h_origin_start(const struct h_origin_opts *opts);
int h_origin_port(const struct h_origin *o);
/* Idempotent; also done by h_teardown. */
void h_origin_stop(struct h_origin *o);
int h_origin_accepted(struct h_origin *o);
int h_origin_max_active(struct h_origin *o);
/* Waits until at least n connections were accepted / finished; returns the
 * count reached (compare with n). */
int h_origin_wait_accepted(struct h_origin *o, int n, int timeout_ms);
int h_origin_wait_done(struct h_origin *o, int n, int timeout_ms);
/* Waits until connection idx published its receive end (rx.end set, see
 * h_handle_hold and h_handle_source) or finished; returns whether it did. */
bool h_origin_wait_rx_end(struct h_origin *o, int idx, int timeout_ms);
/* Copy of connection idx's record (asserts idx was accepted). */
struct h_conn_rec h_origin_rec(struct h_origin *o, int idx);
/* Handlers call this to make rec->rx visible before they return. */
void h_conn_publish(struct h_conn *c);

/* A listener that never accepts: backlog 0, filled with our own
 * connections so that further SYNs are dropped and connects time out. */
struct h_blackhole {
	int port;
	int lfd;
	int fill[3];
};
void h_blackhole_start(struct h_blackhole *b);
void h_blackhole_stop(struct h_blackhole *b);

/* ---- the proxy ---------------------------------------------------------- */

#define H_MAX_SERVERS 8

struct h_tcp_conf {
	int workers;                /* 0: 1 */
	const char *grace;          /* NULL: "2s" */
	const char *timeout_connect;    /* NULL: "500ms" */
	const char *timeout_client;     /* NULL: "10s" */
	const char *timeout_server;     /* NULL: "10s" */
	const char *timeout_client_fin; /* NULL: "300ms" */
	const char *timeout_server_fin; /* NULL: "300ms" */
	int nservers;
	int server_port[H_MAX_SERVERS];
	int server_weight[H_MAX_SERVERS]; /* 0: no weight= */
};

struct h_proxy {
	pid_t pid;            /* 0 once reaped */
	int port;             /* frontend port */
	int status;           /* wait status once reaped */
	int fd_baseline;
	int stats_port;       /* the stats listener ([global] stats), 0: none */
	char dir[512];        /* conf + log live here */
	char conf_path[600];
	char log_path[600];
};

/* Renders the config of a single tcp frontend on fe_port. */
void h_tcp_conf_render(const struct h_tcp_conf *c, int fe_port, char *buf,
		       size_t n);
/* Picks a port, writes the config, starts sluice -f, waits until the port
 * listens and the fd count is stable (baseline). Asserts on failure. */
struct h_proxy *h_proxy_start_tcp(const struct h_tcp_conf *c);
/* Same with a whole config text; fe_port is the port to wait for. Unless
 * the text sets `stats` itself (its port is then taken from it) or
 * $SLUICE_IT_NO_STATS is set, `stats = 127.0.0.1:PORT` on a free port is
 * added to [global] (p->stats_port), so that h_proxy_finish can run the fd
 * audit; the startup also waits for that port. */
struct h_proxy *h_proxy_start_text(const char *conf, int fe_port);
/* One worker, two tcp frontends on free ports: `big` (*big) to the origin
 * src, `small` (*small) to the origin echo; timeouts of 60 s; global_extra
 * (lines, may be "") goes into [global]. For the tests of the buffer pool
 * and its fairness (large transfers beside light round trips). */
struct h_proxy *h_proxy_start_big_small(struct h_origin *src, struct h_origin *echo,
					const char *global_extra, int *big, int *small);
int h_proxy_fd_count(const struct h_proxy *p);
/* The fd count once it has stayed the same for 300 ms, polled every 25 ms
 * for at most timeout_ms; -1 if it never settled or /proc cannot be read.
 * A count taken right after a request races with the proxy closing that
 * request's socket (a lingering close waits for the client's FIN, which
 * the worker handles after the client has already gone on). */
int h_proxy_fd_count_settled(const struct h_proxy *p, int timeout_ms);
/* Polls up to ~2 s (x h_slow) for the fd count to return to the baseline;
 * fails listing the extra fds (with socket addresses and states). */
void h_proxy_expect_fd_baseline(struct h_proxy *p);
/* Sends SIGTERM. */
void h_proxy_term(struct h_proxy *p);
/* Waits up to timeout_ms for the process to exit; true if it did (then
 * p->status is its wait status). */
bool h_proxy_wait_exit(struct h_proxy *p, int timeout_ms);
/* SIGTERM, wait (grace + margin), assert exit status 0; SIGKILL + fail if
 * it does not exit. */
void h_proxy_stop(struct h_proxy *p);
/* Fetches http://127.0.0.1:p->stats_port/metrics and asserts that
 * sluice_process_open_fds == sluice_process_accounted_fds (a few samples
 * 100 ms apart; the first equal one passes). No-op without stats_port. */
void h_proxy_expect_fd_audit(struct h_proxy *p);
/* h_proxy_expect_fd_baseline, h_proxy_expect_fd_audit, then h_proxy_stop:
 * the end of every test. */
void h_proxy_finish(struct h_proxy *p);

/* GET path from 127.0.0.1:port (HTTP/1.1, Connection: close), reading until
 * EOF. Returns the status (> 0), or -errno; *body (may be NULL: freed) gets
 * the body, malloc'd and NUL-terminated, *len its length. */
int h_http_get(int port, const char *path, char **body, size_t *len,
	       int timeout_ms);
/* Value of one Prometheus series in text: series is the whole name with its
 * labels as rendered ("name{a=\"x\"}"); true if a line "series value"
 * exists. */
bool h_metric(const char *text, const char *series, double *value);
/* Value of one series (as for h_metric) in the proxy's /metrics; asserts
 * that the page is served and that the series is there. */
double h_proxy_metric(const struct h_proxy *p, const char *series);
/* Prints the tail of the proxy log to stderr. */
void h_proxy_dump_log(const struct h_proxy *p);

/* Runs $SLUICE_BIN with args (NULL-terminated), stdout+stderr captured in
 * out (NUL-terminated, truncated). Returns the wait status, or -1 when it
 * did not exit within timeout_ms (it is then killed). */
int h_run_sluice(const char *const *args, char *out, size_t outsz,
		 int timeout_ms);
/* Writes text to file `name` in this test's directory; its path goes to
 * path (asserts on failure). */
void h_write_file(const char *name, const char *text, char *path,
		  size_t pathsz);
/* Path of the binary under test. */
const char *h_sluice_bin(void);

#endif
