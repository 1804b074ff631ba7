/*
 * Process log (core/ layer): one line per event to the target chosen by
 * `log =` in [global] (stdout, stderr, a file, or off). Each line is written
 * with a single write(2) so lines from several workers never interleave.
 * Used on error and lifecycle paths only, never per packet; the non-blocking
 * access log with timers is a later piece of work (see README).
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

#include <stdint.h>

#include "conf/conf-t.h"

/* Open the configured target. Returns 0 or -errno (file cannot be opened). */
int sl_log_open(const struct sl_config *conf);
void sl_log_close(void);
/* Reopen the log file at its configured path (logrotate's postrotate:
 * SIGUSR1), keeping its fd number. Returns 1 when reopened, 0 when the log
 * is not a file, or -errno (the old file stays in use). */
int sl_log_reopen(void);
/* The log's own fd when it is a file we opened, else -1 (for the fd audit). */
int sl_log_fd(void);

/* Where lines go (1, 2, an opened file), or -1 when the log is off. */
int sl_log_target_fd(void);

void sl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Lines that a request can cause (an error page, a failed connect) go
 * through a per-worker budget of SL_LOG_LIMIT_PER_SEC lines a second, so a
 * flood (every request answered 503 while the servers are down) cannot turn
 * into one write(2) per request on the worker. Dropped lines are counted
 * and the next line written says how many (the metrics count every event). */
#define SL_LOG_LIMIT_PER_SEC 20

struct sl_log_limit {
	uint64_t sec;       /* the second being counted (monotonic) */
	uint32_t lines;     /* lines written in it */
	uint64_t dropped;   /* dropped since the last line written */
};

/* now_ms: monotonic milliseconds (the worker's clock). */
void sl_log_limited(struct sl_log_limit *l, uint64_t now_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The usual call, from a worker w (struct sl_worker *): its budget, its clock. */
#define sl_log_req(w, ...) sl_log_limited(&(w)->log_limit, (w)->now_ms, __VA_ARGS__)

#endif
