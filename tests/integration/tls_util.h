/*
 * TLS helpers for the integration tests (tests/ layer): certificates made at
 * test time with the openssl CLI (a CA and leaf certificates signed by it,
 * cached for the whole run), a wolfSSL client over the harness's
 * non-blocking sockets where every wait is bounded by a poll timeout (TLS
 * version range, SNI, ALPN, CA verification, session resumption; close_notify
 * told apart from a bare EOF through our own I/O callbacks), a small HTTP/1.1
 * exchange over it, raw ClientHello bytes for the broken-client tests, the
 * config of a TLS frontend, metric polling and a bounded fork/exec runner for
 * curl. Built on tests/integration/harness.h; nothing from libsluice.
 */
#ifndef SL_TESTS_INTEGRATION_TLS_UTIL_H
#define SL_TESTS_INTEGRATION_TLS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tests/integration/harness.h"

/* ---- certificates --------------------------------------------------------- */

/* Every leaf is signed by the CA and is one PEM file: certificate, then its
 * key (what `crt=` takes). Names the tests rely on:
 *   a:    CN a.example.test,       SAN a.example.test, a-alt.example.test
 *   b:    CN b.example.test,       SAN b.example.test
 *   wild: CN *.wild.example.test,  SAN *.wild.example.test
 *   c:    CN c.example.test,       no SAN (matched by its CN) */
struct tu_certs {
	char dir[512];
	char ca[600];   /* the CA certificate, for clients */
	char a[600];
	char b[600];
	char wild[600];
	char c[600];
	char client[600]; /* a client certificate (CN=alice) from ca, and its key */
	char rogue[600];  /* one (CN=mallory) from a CA sluice is never given */
	char tricky[600]; /* one from ca: a title (wolfSSL's name API drops it),
			   * a CN "bob/CN=admin" */
};

/* Generates the set once per run (shared by the test processes of a run
 * through $SLUICE_IT_RUNDIR) and returns it; asserts on failure. */
const struct tu_certs *tu_certs(void);

/* ---- client ----------------------------------------------------------------- */

struct tu_opts {
	const char *sni;        /* NULL: no SNI extension */
	int min_ver, max_ver;   /* 12 or 13 (TLS 1.2 / 1.3); 0: 12 and 13 */
	const char *alpn;       /* "h2,http/1.1"; NULL: no ALPN extension */
	WOLFSSL_SESSION *resume; /* borrowed: offered for resumption */
	bool no_verify;         /* skip the CA check of the server chain */
	const char *cert;       /* PEM with a client certificate and its key to
				 * present; NULL: none */
	int timeout_ms;         /* inactivity bound; 0: tu_io_to() */
	const void *pre;        /* sent in clear before the handshake (a PROXY
				 * header), pre_len bytes; NULL: nothing */
	size_t pre_len;
};

struct tu_conn {
	int fd;
	WOLFSSL_CTX *ctx;
	WOLFSSL *ssl;
	int timeout_ms;
	/* after tu_connect */
	char version[16];       /* "TLSv1.2", "TLSv1.3" */
	char alpn[32];          /* negotiated protocol, "" when none */
	bool resumed;
	char peer_cn[256];      /* subject CN of the server certificate */
	int err;                /* wolfSSL error of the last failure, 0 */
	char errstr[128];
	/* what our I/O callbacks saw on the socket */
	bool sock_eof;          /* recv returned 0 */
	int sock_err;           /* -errno of a failed recv/send, 0 */
	/* plaintext read ahead by the HTTP helpers */
	char *rbuf;
	size_t roff, rlen;
};

int tu_io_to(void); /* H_IO_TIMEOUT_MS * h_slow() */

/* Connects to 127.0.0.1:port and completes the handshake. Returns 0, or
 * -errno from the socket (-ECONNRESET, -ETIMEDOUT...) or -EPROTO for a TLS
 * failure (c->err, c->errstr say which). c is usable for tu_close either
 * way. */
int tu_connect(struct tu_conn *c, int port, const struct tu_opts *o);
/* Threads other than the test's own call this before they exit once they
 * used a client: wolfSSL's per-thread ECC cache (FP_ECC) leaks otherwise. */
void tu_thread_exit(void);
/* Sends close_notify (unless the peer is gone) and frees everything. */
void tu_close(struct tu_conn *c);
/* Half-closes our side: close_notify, then shutdown(SHUT_WR); reading
 * goes on. 0 or -errno. */
int tu_shutdown(struct tu_conn *c);
/* Frees without close_notify: closes with an RST. */
void tu_abort(struct tu_conn *c);
/* The session to resume later (caller frees with wolfSSL_SESSION_free).
 * Under TLS 1.3 the ticket comes after the handshake: call it once
 * application data was read. */
WOLFSSL_SESSION *tu_session(struct tu_conn *c);

int tu_send_all(struct tu_conn *c, const void *buf, size_t n);
int tu_send_str(struct tu_conn *c, const char *s);
/* n bytes of stream seed (harness h_pattern). */
int tu_send_pattern(struct tu_conn *c, uint64_t n, uint32_t seed);
/* Reads some plaintext: > 0 bytes, 0 when a close_notify arrived, -EPIPE on
 * a bare EOF (no close_notify), -ECONNRESET, -ETIMEDOUT, -EPROTO. */
ssize_t tu_recv(struct tu_conn *c, void *buf, size_t n);
/* Receives (hashing) until close, error, timeout or max bytes; rx->end is
 * 0 after a close_notify, -EPIPE after a bare EOF, 1 at max, else -errno. */
int tu_recv_all(struct tu_conn *c, struct h_rx *rx, uint64_t max);
/* Sends tx_len bytes of stream seed while receiving into rx (until close or
 * rx_max): one thread, so a peer that echoes cannot deadlock us. Returns 0
 * or the first error; rx->end as tu_recv_all. */
int tu_pump(struct tu_conn *c, uint64_t tx_len, uint32_t seed,
	    struct h_rx *rx, uint64_t rx_max);
/* After a close_notify: waits for the TCP FIN. 0 on EOF, -EBADMSG if bytes
 * came, -ECONNRESET, -ETIMEDOUT. */
int tu_wait_fin(struct tu_conn *c, int timeout_ms);

/* ---- HTTP/1.1 over the client ----------------------------------------------- */

struct tu_rsp {
	int status;
	char head[8192];      /* NUL-terminated */
	uint64_t cl;          /* Content-Length (required by these helpers) */
	uint64_t body_len;
	uint64_t body_hash;   /* FNV-1a 64 */
	char body[4096];      /* first bytes, NUL-terminated */
	bool conn_close;      /* "Connection: close" in the head */
};

/* Reads one response with a Content-Length body. 0, or -errno as tu_recv
 * (0 -> -EPIPE: the stream ended before the response did). */
int tu_read_rsp(struct tu_conn *c, struct tu_rsp *r);
/* Sends req (a whole request head), reads the response. */
int tu_http(struct tu_conn *c, const char *req, struct tu_rsp *r);

/* ---- raw handshake bytes ----------------------------------------------------- */

/* A real ClientHello (TLS record bytes) as our client would send it, with
 * SNI name (NULL: none). Returns its length (> 0); asserts. */
size_t tu_client_hello(uint8_t *buf, size_t cap, const char *sni);

/* ---- the proxy ----------------------------------------------------------------- */

struct tu_conf {
	bool tcp;                    /* tcp frontend + tcp backend, else http +
					http-server-close */
	const char *fe_name;         /* NULL: "web" */
	const char *crt;             /* crt= list; NULL: the a certificate */
	const char *bind_extra;      /* more bind options ("ca=... verify=..."); NULL */
	const char *ssl_min_version; /* NULL: not set */
	const char *h2;              /* "off": h2 = off (http); NULL: not set */
	const char *ssl_ticket_rotate; /* NULL: not set */
	const char *timeout_client;  /* NULL: 10s */
	const char *timeout_http_request; /* NULL: 5s */
	const char *timeout_server_fin;   /* NULL: 300ms */
	const char *timeout_http_keep_alive; /* NULL: 5s */
	int workers;                 /* 0: 1 */
	int nservers;
	int server_port[H_MAX_SERVERS];
};

struct h_proxy *tu_proxy_start(const struct tu_conf *c);

/* Value of series (rendered with its labels) on p's /metrics, polled until
 * it is >= min or timeout_ms passed; returns the last value read (-1: the
 * series never showed up). */
double tu_metric_wait(struct h_proxy *p, const char *series, double min,
		      int timeout_ms);
/* Current value (0 when absent, so that a counter not yet rendered reads
 * as zero). */
double tu_metric(struct h_proxy *p, const char *series);
/* sluice_frontend_tls_*{frontend="fe"...}: the series names the tests use. */
void tu_series_fail(char *buf, size_t n, const char *fe, const char *reason);
void tu_series(char *buf, size_t n, const char *name, const char *fe);

/* ---- processes ------------------------------------------------------------------ */

/* Runs argv (argv[0] looked up in PATH) with stdout to out_path and stderr
 * appended to it, killing it after timeout_ms. Returns the wait status, or
 * -1 on timeout. */
int tu_run(const char *const *argv, const char *out_path, int timeout_ms);
/* Reads a whole small file (malloc'd, NUL-terminated; "" if missing). */
char *tu_slurp(const char *path);

#endif
