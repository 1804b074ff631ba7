/*
 * Process log (core/ layer): one line per event to the target chosen by
 * `log =` in [global] (stdout, stderr, a file, or off). Each line is written
 * with a single write(2) so lines from several workers never interleave.
 * Used on error and lifecycle paths only, never per packet; the non-blocking
 * access log with timers is a later piece of work (see README).
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

#include "conf/conf-t.h"

/* Open the configured target. Returns 0 or -errno (file cannot be opened). */
int sl_log_open(const struct sl_config *conf);
void sl_log_close(void);
/* The log's own fd when it is a file we opened, else -1 (for the fd audit). */
int sl_log_fd(void);

/* Where lines go (1, 2, an opened file), or -1 when the log is off. */
int sl_log_target_fd(void);

void sl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
