/*
 * HTTP helpers for the integration tests (tests/ layer): a scripted HTTP/1.1
 * origin that records exactly the bytes it received on each connection, an
 * HTTP client that reads responses (Content-Length, chunked, close-delimited,
 * 1xx) and hashes their bodies, and the config of an http frontend in front
 * of an http-server-close backend. Built on tests/integration/harness.h
 * (origins are harness origins with our own handler; h_teardown stops them;
 * suites use hu_teardown as their .fini to free what we recorded too).
 */
#ifndef SL_TESTS_INTEGRATION_HTTP_UTIL_H
#define SL_TESTS_INTEGRATION_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/integration/harness.h"

#define HU_RAW_CAP (256 * 1024) /* bytes of each origin connection recorded */
#define HU_MAX_CONNS 256         /* origin connections recorded per origin */

void hu_teardown(void);

/* ---- scripted origin ------------------------------------------------------ */

enum hu_act {
	/* 200 with a Content-Length body "METHOD TARGET BODYLEN BODYHASH\n"
	 * describing the request it received (hash: FNV-1a 64, hex). */
	HU_ACT_INFO = 0,
	HU_ACT_CL,       /* status + headers, Content-Length body: len bytes of seed */
	HU_ACT_CHUNKED,  /* same, chunked in chunks of `chunk` bytes (0: 4096) */
	HU_ACT_CLOSE,    /* same without framing: body, then close (FIN) */
	HU_ACT_RAW,      /* sends raw (raw_len bytes, 0: strlen) as it is */
	HU_ACT_CONTINUE, /* after the head: "100 Continue", reads the body, then
			  * raw (or INFO when raw is NULL) */
	HU_ACT_UPGRADE,  /* after the head: raw (a 101 head), then echoes every
			  * byte until EOF, then shutdown(SHUT_WR) */
	HU_ACT_NEVER,    /* reads the request, never answers */
	HU_ACT_CUT,      /* head announcing len body bytes (chunked if .chunked),
			  * then `cut` of them, then FIN (or RST if .rst) */
	HU_ACT_RST,      /* reads the request, then resets the connection */
};

struct hu_script {
	enum hu_act act;
	const char *raw;
	size_t raw_len;
	int status;          /* CL/CHUNKED/CLOSE/CUT: default 200 */
	const char *headers; /* extra header lines, each ending in CRLF */
	uint64_t len;        /* body length */
	uint32_t seed;       /* body pattern (harness h_pattern) */
	size_t chunk;        /* CHUNKED: chunk size */
	uint64_t cut;        /* CUT: body bytes sent before dying */
	bool chunked;        /* CUT: chunked framing */
	bool rst;            /* CUT: reset instead of FIN */
	bool close_after;    /* RAW: close (FIN) right after sending */
	bool no_read;        /* answer at accept, without reading a request */
	int delay_ms;        /* before answering */
	int pause_ms;        /* between body chunks of 64 KiB (CL/CHUNKED/CLOSE) */
	int hold_ms;         /* after answering, before reading on (a server
			      * that is slow to read the rest of a request) */
	bool stall;          /* CUT: after `cut` bytes, stay silent (no FIN) */
	const struct hu_script *odd; /* if set: the script of connections with
				      * an odd index (accept order) */
	bool proxy_hdr;      /* each connection starts with a PROXY v1 or v2
			      * header (send_proxy*): read, checked and recorded
			      * (hu_conn_info.pp_*) before the request */
};

struct hu_origin;

struct hu_origin *hu_origin_start(const struct hu_script *sc);
int hu_origin_port(const struct hu_origin *o);
int hu_origin_accepted(struct hu_origin *o);
/* Returns the count reached (compare with n). */
int hu_origin_wait_accepted(struct hu_origin *o, int n, int timeout_ms);
/* Bytes received over every connection so far. */
uint64_t hu_origin_bytes(struct hu_origin *o);

/* What one origin connection received and when. */
struct hu_conn_info {
	char *raw;          /* first HU_RAW_CAP bytes received, NUL-terminated
			     * (malloc'd: hu_conn_info_free) */
	size_t raw_len;
	uint64_t total;     /* bytes received */
	size_t head_len;    /* length of the first request head in raw, 0: none */
	bool req_complete;  /* the first request arrived whole (head + body) */
	uint64_t body_len;  /* its body, decoded (chunked) */
	uint64_t body_hash;
	size_t pre_101;     /* UPGRADE: bytes received before the 101 was sent */
	int end;            /* 0: the proxy closed (EOF); -errno; 1: not yet */
	bool done;          /* the handler finished (socket closed) */
	uint64_t t_accept, t_request, t_answered, t_end;
	/* proxy_hdr scripts: the PROXY header received (version 0: none or
	 * malformed; local: v1 UNKNOWN, v2 LOCAL or UNSPEC), its length at the
	 * start of raw, and its addresses as "IP:PORT" / "[IP6]:PORT" */
	int pp_version;
	bool pp_local;
	size_t pp_len;
	char pp_src[64], pp_dst[64];
};

/* Copy of connection idx (asserts it was accepted). */
void hu_conn_get(struct hu_origin *o, int idx, struct hu_conn_info *out);
void hu_conn_info_free(struct hu_conn_info *ci);
/* Wait until connection idx has a complete request / ended (EOF or error
 * seen, or the handler finished). */
bool hu_conn_wait_request(struct hu_origin *o, int idx, int timeout_ms);
bool hu_conn_wait_end(struct hu_origin *o, int idx, int timeout_ms);
/* Asserts that connection idx received exactly `expected` (whole bytes). */
void hu_conn_expect_raw(struct hu_origin *o, int idx, const char *expected);

/* ---- client --------------------------------------------------------------- */

struct hu_cli {
	int fd;
	char *buf;
	size_t off, len, cap;
};

struct hu_rsp {
	int status;
	char head[16384];   /* NUL-terminated, with the final CRLFCRLF */
	size_t head_len;
	bool has_cl, chunked, close_delimited;
	uint64_t cl;
	uint64_t body_len;  /* decoded */
	uint64_t body_hash; /* FNV-1a 64 of the decoded body */
	char body[4096];    /* its first bytes, NUL-terminated */
	size_t body_saved;
	bool complete;      /* the body ended as its framing says */
	bool eof;           /* the connection was closed after (close-delimited
			     * or truncated) */
};

/* Connects to the proxy (asserts). */
void hu_cli_open(struct hu_cli *c, int port);
void hu_cli_close(struct hu_cli *c);
int hu_cli_send(struct hu_cli *c, const char *s);
int hu_cli_send_n(struct hu_cli *c, const void *p, size_t n);
/* Reads one response (a 1xx counts as one). Returns 0 with a complete
 * response; -EPIPE: EOF before a complete head (r->head_len says how much
 * came); -EPROTO: EOF or reset in the body (r->complete false); -ETIMEDOUT,
 * -ECONNRESET... */
int hu_read_rsp(struct hu_cli *c, struct hu_rsp *r, bool req_was_head, int timeout_ms);
/* Waits for the proxy to close: 0 on EOF, -ECONNRESET, -ETIMEDOUT. Bytes
 * that arrive first (buffered ones included) are counted in *extra. */
int hu_cli_wait_eof(struct hu_cli *c, int timeout_ms, uint64_t *extra);
/* Does the response head carry this exact header line ("Name: value",
 * name case-insensitive)? */
bool hu_has_header(const struct hu_rsp *r, const char *line);
/* Value of header name in the response head (copied to out), or false. */
bool hu_header(const struct hu_rsp *r, const char *name, char *out, size_t n);

/* Sends head, then a body of len bytes of seed: as it is (Content-Length
 * must be in head) or chunked in chunks of `chunk` bytes. */
int hu_send_body(struct hu_cli *c, uint64_t len, uint32_t seed, bool chunked, size_t chunk);

/* ---- the proxy ------------------------------------------------------------ */

struct hu_conf {
	int workers;                        /* 0: 1 */
	const char *timeout_connect;        /* NULL: 500ms */
	const char *timeout_client;         /* NULL: 10s */
	const char *timeout_server;         /* NULL: 10s */
	const char *timeout_client_fin;     /* NULL: 300ms */
	const char *timeout_server_fin;     /* NULL: 300ms */
	const char *timeout_http_request;   /* NULL: 5s */
	const char *timeout_http_keep_alive; /* NULL: 5s */
	const char *lingering_close;        /* NULL: always */
	int nservers;
	int server_port[H_MAX_SERVERS];
};

/* An http frontend in front of an http-server-close backend (roundrobin). */
struct h_proxy *hu_proxy_start(const struct hu_conf *c);
/* Shortcut: one server per port given, default timeouts. */
struct h_proxy *hu_proxy_for(int nservers, const int *ports);

/* Proxy log text (malloc'd, NUL-terminated), and whether it contains s. */
char *hu_proxy_log(const struct h_proxy *p);
bool hu_log_has(const struct h_proxy *p, const char *s);

int hu_io_to(void); /* H_IO_TIMEOUT_MS * h_slow() */

#endif
