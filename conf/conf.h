/*
 * Configuration loading and the small value parsers it is built from
 * (conf/ layer). Exported so the unit tests can check each parser alone.
 */
#ifndef SL_CONF_CONF_H
#define SL_CONF_CONF_H

#include <stddef.h>
#include "conf/conf-t.h"

/*
 * Load and validate FILE. On success returns 0 and *out owns a config to be
 * released with sl_conf_free(). On failure returns -EINVAL (or -errno when the
 * file cannot be read), *out is NULL, and err (size errlen) holds one message
 * of the form "FILE:LINE: key 'K': expected ..., got '...'" (for errors that
 * have no single line, such as a missing section, LINE is the line of the
 * section that is incomplete).
 */
int sl_conf_load(const char *file, struct sl_config **out, char *err, size_t errlen);

/* Same as sl_conf_load(), from an in-memory text; NAME is used in messages. */
int sl_conf_load_string(const char *name, const char *text, struct sl_config **out,
			char *err, size_t errlen);

void sl_conf_free(struct sl_config *conf);

/* "250ms", "5s", "2m", "1h", "1d", and a bare number meaning milliseconds.
 * Returns 0 and sets *ms, or -EINVAL (bad syntax, unknown unit, overflow). */
int sl_conf_parse_duration(const char *s, uint64_t *ms);

/* "1.2.3.4:80", "[::1]:80", ":80" (all IPv4 addresses), "localhost:80"
 * (resolved once, at load time). Port 1..65535. Returns 0 or -EINVAL. */
int sl_conf_parse_addr(const char *s, struct sl_addr *addr);

/* Whether the log file of CONF (log = PATH) can be opened for appending,
 * without creating it: 0, or -errno with err holding "FILE:LINE: key 'log':
 * cannot open ...". A path that does not exist yet passes when its directory
 * is writable (start-up creates the file). sluice -c runs it. */
int sl_conf_check_log(const struct sl_config *conf, char *err, size_t errlen);

/* Human name of a timeout kind, e.g. "timeout_client". */
const char *sl_conf_timeout_name(enum sl_timeout_kind k);

/* Format an address as "1.2.3.4:80" / "[::1]:80" into buf; returns buf. */
const char *sl_conf_addr_str(const struct sl_addr *addr, char *buf, size_t len);
/* The same for a socket address (a client's, as accept or a PROXY header
 * gave it). */
const char *sl_conf_sockaddr_str(const union sl_sockaddr *sa, char *buf, size_t len);

#endif
