/*
 * Helpers for the health check and balancing integration tests (tests/
 * layer), next to harness.h: check targets (one poll thread each, however
 * many connections: a check every 50 ms must not cost a thread per
 * connection), clients bound to a chosen source address, the proxy log, and
 * a count of TCP sockets by remote port from /proc/net/tcp (check sockets are
 * direct descriptors: they never show in /proc/PID/fd, but they do there).
 * Everything started here is stopped by cu_teardown().
 */
#ifndef SL_TESTS_INTEGRATION_CHECKS_UTIL_H
#define SL_TESTS_INTEGRATION_CHECKS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/integration/harness.h"

enum cu_kind {
	CU_HTTP,     /* reads the request head, answers `status` after delay_ms, closes */
	CU_SILENT,   /* reads and discards until EOF, never answers */
	CU_RST,      /* resets every connection at once */
	CU_CLOSE,    /* reads the request head, closes without answering (FIN) */
	CU_GARBAGE,  /* answers bytes that are not HTTP, then closes */
};

struct cu_target;

/* Starts a target on ip:port (NULL: 127.0.0.1; port 0: ephemeral). Returns
 * NULL when the address cannot be bound (asserts on other failures). */
struct cu_target *cu_target_start_at(const char *ip, int port, enum cu_kind kind, int status,
				     int delay_ms);
/* A port of 127.0.0.1 nobody listens on (connections are refused) and
 * nobody else can take, not even as the local port of an outgoing connect
 * (which could connect to itself): a socket bound to it, without listen,
 * kept until cu_teardown(). */
int cu_reserve_port(void);
/* Starts a target listening on a reserved port (the same socket: there is
 * no moment when another process could take the port). */
struct cu_target *cu_target_start_reserved(int port, enum cu_kind kind, int status,
					   int delay_ms);
/* Same on an ephemeral 127.0.0.1 port (asserts on failure). */
struct cu_target *cu_target_start(enum cu_kind kind, int status, int delay_ms);
int cu_target_port(const struct cu_target *t);
/* Change what the target does for connections accepted from now on. */
void cu_target_set(struct cu_target *t, enum cu_kind kind, int status, int delay_ms);
/* The next `count` CU_HTTP answers use `status`; then the set one again. */
void cu_target_script(struct cu_target *t, int status, int count);
/* Connections accepted so far; answers sent so far. */
int cu_target_accepted(struct cu_target *t);
int cu_target_answered(struct cu_target *t);
/* Waits until `answered` reaches n; returns the count reached. */
int cu_target_wait_answered(struct cu_target *t, int n, int timeout_ms);
/* Connections the target holds open right now. */
int cu_target_open(struct cu_target *t);
void cu_target_stop(struct cu_target *t);
/* Stops every target (suite .fini, before h_teardown). */
void cu_teardown(void);
/* cu_teardown + h_teardown. */
void cu_fini(void);

/* Connected socket from src_ip (any 127.x.y.z) to 127.0.0.1:port, or
 * -errno. Blocking with SO_RCVTIMEO/SO_SNDTIMEO of timeout_ms. */
int cu_connect_from(const char *src_ip, int port, int timeout_ms);
/* Reads the "<tag>\n" a tag origin (h_handle_tag) sends: the tag
 * character, or -errno (-EPIPE when closed first). */
int cu_read_tag(int fd, int timeout_ms);
/* Connects (from src_ip, NULL: the default), reads the tag and closes:
 * the tag, or -errno. */
int cu_tag_of_new_session(const char *src_ip, int port, int timeout_ms);

/* Lines of the proxy log containing needle. */
int cu_log_count(const struct h_proxy *p, const char *needle);
/* Waits until some log line contains needle; true if one did. */
bool cu_log_wait(const struct h_proxy *p, const char *needle, int timeout_ms);
/* Waits until at least n log lines contain needle; true if they did. */
bool cu_log_wait_n(const struct h_proxy *p, const char *needle, int n, int timeout_ms);
/* Copies the first log line containing needle into buf; false if none. */
bool cu_log_line(const struct h_proxy *p, const char *needle, char *buf, size_t n);

/* TCP sockets of the host whose remote end is ip:port (ip NULL: any
 * address), counted in two ways: all but TIME_WAIT, and CLOSE_WAIT alone. */
void cu_tcp_count(const char *ip, int port, int *open, int *close_wait);

#endif
