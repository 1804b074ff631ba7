/*
 * Helpers for the limits and pool integration tests (tests/ layer): a
 * counting tcp echo origin and a keep-alive HTTP/1.1 origin that serves
 * many requests per connection and records each connection (requests,
 * answers, when the proxy closed it); a config renderer for one frontend
 * and one backend with every limit and pool key; client sockets bound to a
 * chosen source address; the proxy's CPU time and fds from /proc; and a
 * runner that starts sluice under a lowered RLIMIT_NOFILE. Built on
 * harness.h and http_util.h; suites use lu_teardown as their .fini.
 */
#ifndef SL_TESTS_INTEGRATION_LIMITS_UTIL_H
#define SL_TESTS_INTEGRATION_LIMITS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

#define LU_MAX_CONNS 2048 /* origin connections recorded (the harness cap) */

/* Stops what lu_ started (spawned proxies, origins), then hu_teardown. */
void lu_teardown(void);

/* ---- origins ---------------------------------------------------------------- */

enum lu_kind {
	LU_ECHO = 0, /* tcp echo; "active" ends when the proxy's FIN arrives */
	LU_HTTP,     /* HTTP/1.1 keep-alive, Content-Length requests only */
};

struct lu_origin_opts {
	enum lu_kind kind;
	char tag;            /* HTTP: first field of every response body */
	int delay_ms;        /* HTTP: wait before each answer */
	int max_requests;    /* HTTP: after answering this many requests on a
			      * connection, wait close_delay_ms and close it
			      * (FIN); 0: no limit */
	int close_delay_ms;
	bool drop_reused;    /* HTTP: the 2nd and later request of a connection
			      * is read whole, then the connection is closed
			      * without an answer */
	const char *headers; /* HTTP: extra response header lines (CRLF each) */
	bool proxy_v1;       /* HTTP: each connection starts with a PROXY v1
			      * line (send_proxy); its source address is added
			      * to every answer as " pp=IP" */
};

/* One origin connection. Times are h_now_ms(). */
struct lu_conn {
	uint64_t t_accept;
	uint64_t t_first_req, t_last_req;  /* complete requests received */
	uint64_t t_last_answer;            /* last answer sent */
	uint64_t t_end;                    /* the proxy closed (EOF/error) */
	uint64_t t_origin_close;           /* we closed it (max_requests...) */
	int nreq;                          /* complete requests received */
	int nanswered;
	int end;       /* 1: open; 0: EOF from the proxy; -errno; 2: we closed */
	bool done;     /* handler finished */
};

struct lu_origin;

struct lu_origin *lu_origin_start(const struct lu_origin_opts *opts);
int lu_origin_port(const struct lu_origin *o);
int lu_origin_accepted(struct lu_origin *o);
/* Connections open at once at most (echo: accept .. proxy's FIN; http:
 * accept .. EOF or our close). */
int lu_origin_max_active(struct lu_origin *o);
int lu_origin_active(struct lu_origin *o);
/* HTTP: requests held at once at most (request complete .. just before its
 * answer is sent), and complete requests over every connection. */
int lu_origin_max_inflight(struct lu_origin *o);
int lu_origin_requests(struct lu_origin *o);
struct lu_conn lu_origin_conn(struct lu_origin *o, int idx);
/* Waits until connection idx ended (proxy closed it or we did). */
bool lu_origin_wait_end(struct lu_origin *o, int idx, int timeout_ms);
/* Waits until at least n connections are open at once / at most n are. */
bool lu_origin_wait_active_le(struct lu_origin *o, int n, int timeout_ms);

/* ---- config ------------------------------------------------------------------ */

#define LU_MAX_SERVERS 4

struct lu_conf {
	const char *fe_mode;        /* NULL: tcp */
	const char *be_mode;        /* NULL: tcp, or http-server-close when
				     * fe_mode is http */
	int global_maxconn;         /* 0: no key */
	const char *global_extra;   /* NULL, or lines appended to [global] */
	int fe_maxconn;             /* 0: no key */
	int fe_maxconn_per_source;  /* 0: no key */
	const char *timeout_queue;  /* NULL: no key */
	const char *timeout_server; /* NULL: 10s */
	const char *timeout_client; /* NULL: 10s */
	const char *timeout_http_keep_alive; /* NULL: 5s (http only) */
	const char *pool_max_idle;      /* NULL: no key (keep-alive only) */
	const char *pool_idle_timeout;
	const char *pool_max_lifetime;
	const char *pool_max_requests;
	int nservers;
	int server_port[LU_MAX_SERVERS];
	int server_maxconn[LU_MAX_SERVERS]; /* 0: none */
	const char *extra;          /* appended verbatim (more sections) */
};

/* Renders the whole config (workers = 1, log = stderr). */
void lu_conf_render(const struct lu_conf *c, int fe_port, char *buf, size_t n);
/* Renders, starts it (h_proxy_start_text) and returns the proxy. */
struct h_proxy *lu_proxy_start(const struct lu_conf *c);

/* ---- clients ------------------------------------------------------------------ */

/* Like h_connect, from source address src ("127.0.0.2"). */
int lu_connect_from(const char *src, int port, int timeout_ms);
/* Sends 4 bytes and expects them echoed within timeout_ms: 0 or -errno. */
int lu_ping(int fd, int timeout_ms);
/* Does anything (data, EOF, error) arrive on fd within ms? */
bool lu_readable_within(int fd, int ms);

/* GET (or POST with a body of body_len bytes) on a keep-alive client
 * connection; fills r. Returns hu_read_rsp's result. */
int lu_request(struct hu_cli *c, const char *method, const char *path,
	       uint64_t body_len, struct hu_rsp *r);

/* An LU_HTTP origin's answer: "<tag> <conn idx> <request n on it> ..." */
struct lu_ans {
	char tag;
	int conn;
	int req;
};
bool lu_parse_ans(const struct hu_rsp *r, struct lu_ans *a);

/* ---- the proxy process --------------------------------------------------------- */

/* utime + stime of process pid, in ms (from /proc/PID/stat). */
uint64_t lu_cpu_ms(pid_t pid);
/* Highest open fd number of process pid, -1 on error. */
int lu_max_fd(pid_t pid);
/* Lowest fd number process pid does not have open (below 4096). */
int lu_lowest_free_fd(pid_t pid);
/* Occurrences of needle in the proxy's log. */
int lu_log_count(const struct h_proxy *p, const char *needle);

/* Starts $SLUICE_BIN -f CONF (conf text written to the test directory)
 * with RLIMIT_NOFILE = nofile:nofile and without CAP_SYS_RESOURCE, so it
 * cannot raise the limit. Output goes to p->log_path. If fe_port > 0, waits
 * (up to 5 s x h_slow) until the port listens or the process exits. The
 * returned proxy is killed by lu_teardown; h_proxy_stop works on it; its
 * fd_baseline is taken when it listens. */
struct h_proxy *lu_spawn_limited(const char *conf, int fe_port, rlim_t nofile);

#endif
