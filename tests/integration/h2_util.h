/*
 * An HTTP/2 test client (tests/ layer): nghttp2's client session over a
 * plain loopback socket (h2c, prior knowledge), with every wait bounded, for
 * what curl and h2load cannot do: many streams on one connection with a
 * result per stream, resets, a client that stops reading, and raw frames
 * (floods) sent as bytes. Built on harness.h.
 */
#ifndef SL_TESTS_INTEGRATION_H2_UTIL_H
#define SL_TESTS_INTEGRATION_H2_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#define H2C_MAX_STREAMS 512

struct h2c_stream {
	int32_t id;
	int status;          /* :status, 0 until the head came */
	uint64_t body_len;
	uint64_t body_hash;  /* FNV-1a 64 of the body */
	char body[256];      /* its first bytes, NUL-terminated */
	bool closed;
	uint32_t error;      /* RST_STREAM code when reset */
	/* request body: len bytes of pattern seed (harness h_pattern) */
	uint64_t tx_len, tx_off;
	uint32_t tx_seed;
};

struct h2c {
	int fd;
	nghttp2_session *ng;
	struct h2c_stream st[H2C_MAX_STREAMS];
	int n;
	bool goaway;
	uint32_t goaway_code;
	int32_t goaway_last;
	bool eof;            /* the proxy closed the connection */
	bool no_read;        /* stop reading from the socket */
	uint64_t rx_bytes;
};

/* Connects to 127.0.0.1:port and sends the preface and SETTINGS (asserts). */
void h2c_open(struct h2c *c, int port);
void h2c_close(struct h2c *c);
/* Opens a stream: method path; with a body of body_len bytes of seed when
 * body_len > 0 (content-length given unless no_len). Returns its index. */
int h2c_request(struct h2c *c, const char *method, const char *path, uint64_t body_len,
		uint32_t seed, bool no_len);
/* A GET of path with nfields extra header fields x-fNNN of vlen bytes each
 * (a large header list, an HPACK bomb's effect). Returns its index. */
int h2c_request_fields(struct h2c *c, const char *path, int nfields, size_t vlen);
/* Runs the connection until every stream is closed, or the connection
 * ended, or timeout_ms passed. Returns 0, or -ETIMEDOUT. */
int h2c_run(struct h2c *c, int timeout_ms);
/* Runs for ms milliseconds whatever happens (to let frames flow); one
 * round at least (ms 0: send what is queued, read what is there). */
void h2c_pump(struct h2c *c, int ms);
/* The stream opened as index i. */
struct h2c_stream *h2c_stream(struct h2c *c, int i);

/* ---- raw frames (no client session: floods, malformed input) --------------- */

/* A connected socket that has sent the preface and an empty SETTINGS. */
int h2r_open(int port);
/* Appends a frame header + payload to buf at *len (asserts on room). */
void h2r_frame(uint8_t *buf, size_t cap, size_t *len, uint8_t type, uint8_t flags,
	       int32_t stream, const void *payload, size_t plen);
/* HPACK block of a GET for path (literal fields, no indexing). */
size_t h2r_get_block(uint8_t *out, size_t cap, const char *path);
/* Reads frames until EOF, error or timeout: GOAWAY's code goes to *code
 * (-1: none came). Returns 0 on EOF, -ETIMEDOUT, or -errno. */
int h2r_wait_goaway(int fd, int timeout_ms, int *code);

#endif
