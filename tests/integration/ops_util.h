/*
 * Helpers for the operations tests (tests/integration/test_ops.c,
 * test_reload.c): an HTTP/1.1 client for the admin unix socket, rewriting
 * the proxy's configuration file in place, and reading the proxy's log and
 * memory.
 */
#ifndef SL_TESTS_INTEGRATION_OPS_UTIL_H
#define SL_TESTS_INTEGRATION_OPS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/integration/harness.h"

/* One request on the admin socket at path; body may be NULL. Returns the
 * status (> 0) or -errno; *rsp (may be NULL) gets the response body,
 * malloc'd and NUL-terminated. */
int ou_admin(const char *path, const char *method, const char *target, const char *body,
	     char **rsp);

/* Replace p's configuration file with text (the stats line p started with
 * is put back into [global], which text must open). */
void ou_rewrite(struct h_proxy *p, const char *text);

/* Occurrences of s in the file at path (0 if it cannot be read). */
int ou_file_count(const char *path, const char *s);
/* Waits until the file at path holds at least n occurrences of s. */
bool ou_wait_file_count(const char *path, const char *s, int n, int timeout_ms);

/* VmRSS of the proxy in KiB. */
long ou_rss_kib(const struct h_proxy *p);
/* VmRSS of process pid in KiB (fails the test if it cannot be read). */
long ou_pid_rss_kib(pid_t pid);

/* GET / through the proxy on a new connection: true on a 200. */
bool ou_get_ok(int port);

#endif
