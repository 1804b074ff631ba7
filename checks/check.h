/*
 * Health checks (checks/ layer): one checker thread for the whole process,
 * with its own io_uring, probes every server marked "check" every
 * check_interval and moves it between UP and DOWN after check_rise /
 * check_fall consecutive results. The state lives in struct sl_server
 * (core/backend.h) as an atomic, so every worker sees a change at once.
 */
#ifndef SL_CHECKS_CHECK_H
#define SL_CHECKS_CHECK_H

#include <stddef.h>

#include "core/backend.h"

struct sl_checker;

/*
 * Start checking the servers of bes (n backends) that have "check" and are
 * not disabled. Returns 0 with *out set (NULL when no server is checked:
 * then no thread runs), or -errno with a human reason in why (size whylen).
 * The backends must outlive the checker.
 */
int sl_check_start(struct sl_backend *bes, int n, struct sl_checker **out, char *why,
		   size_t whylen);

/* Stop the checker: in-flight probes are aborted, and this returns once
 * every check socket is closed and the thread has exited. Accepts NULL. */
void sl_check_stop(struct sl_checker *ck);

#endif
