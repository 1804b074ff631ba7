/*
 * The configuration loader's state, shared by the files of the conf/ layer
 * (private header): conf/conf.c reads lines, tracks sections, dispatches keys
 * and resolves references; conf/conf_keys.c holds the key tables and the
 * setter of every key. Not for other layers: they use conf/conf.h.
 */
#ifndef SL_CONF_CONF_LOADER_H
#define SL_CONF_CONF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf-t.h"

#define VALUE_MAX 1024
#define DURATION_LIKE "500ms, 5s, 2m, 1h, 1d"

/* Duration maxima (issue 14): a deadline is now + duration, so a value near
 * UINT64_MAX would wrap; every duration key has a documented ceiling. */
#define MS_1S 1000ULL
#define MS_24H (24ULL * 3600 * 1000)
#define MS_7D (7 * MS_24H)
#define TIMEOUT_MAX MS_24H          /* timeout_* */
#define GRACE_MAX MS_24H
#define CHECK_INTERVAL_MAX MS_24H
#define POOL_IDLE_TIMEOUT_MAX MS_24H
#define POOL_MAX_LIFETIME_MAX MS_7D
#define POOL_PURGE_INTERVAL_MIN 10
#define POOL_PURGE_INTERVAL_MAX MS_24H
#define TICKET_ROTATE_MIN MS_1S
#define TICKET_ROTATE_MAX MS_7D
#define NAME_LIKE "1 to 63 characters from A-Z a-z 0-9 _ . -"

enum sec_kind { SEC_NONE, SEC_GLOBAL, SEC_DEFAULTS, SEC_FRONTEND, SEC_BACKEND };

/* Keys that are not timeouts; each has a slot in loader.key_line. */
enum key_id {
	K_WORKERS, K_MAXCONN, K_STATS, K_LOG, K_LOG_FORMAT, K_GRACE,
	K_MODE, K_BACKEND, K_BIND, K_BALANCE, K_SERVER,
	K_CHECK, K_CHECK_EXPECT, K_CHECK_INTERVAL, K_CHECK_RISE, K_CHECK_FALL,
	K_MAXCONN_PER_SOURCE, K_KEEPALIVE_REQUESTS, K_FORWARDFOR, K_MAX_HEADER_SIZE,
	K_MAX_HEADERS, K_ROUTE, K_PATH_NORMALIZE, K_SSL_MIN_VERSION, K_SSL_TICKET_ROTATE,
	K_STATS_INTERVAL, K_BUFFER_RELEASE, K_RECV_BUFFERS, K_SERVER_SOCKETS,
	K_POOL_MAX_IDLE, K_POOL_IDLE_TIMEOUT, K_POOL_MAX_LIFETIME, K_POOL_MAX_REQUESTS,
	K_POOL_PURGE_INTERVAL,
	K_ADMIN, K_REQUEST_ID, K_H2, K_H2_MAX_STREAMS, K_H2_WINDOW, K_H2_CONN_WINDOW,
	K_LINGERING_CLOSE,
	K_COUNT
};

struct loader {
	const char *file;      /* name used in messages */
	char *err;
	size_t errlen;
	int rc;                /* first error (negative errno), 0 while none */
	int err_line;
	int lineno;            /* physical line last handed to inih */
	FILE *fp;              /* input: a file ... */
	const char *text;      /* ... or the rest of a string */
	char *buf;             /* current raw line (getline-managed) */
	size_t bufcap;
	struct sl_config *conf;
	enum sec_kind sec;     /* section being read */
	int sec_idx;           /* its index in frontends[] or backends[] */
	int sec_line;
	char sec_label[SL_CONF_NAME_MAX + 16]; /* "[frontend web]" */
	int key_line[K_COUNT + SL_TO_COUNT]; /* first line of each key in the section */
	int global_line, defaults_line;
};

/* A key only some sections read (a mode, an ssl bind): elsewhere it would be
 * silently ignored, so the end of its section refuses it (the mode or the
 * bind may come after the key; a section cannot be reopened). */
enum key_need { NEED_ANY, NEED_HTTP_FRONTEND, NEED_KEEP_ALIVE_BACKEND, NEED_SSL_BIND };

struct key_def {
	const char *name;
	enum key_id id;
	bool repeatable;
	enum key_need need;
	int (*set)(struct loader *ld, const char *key, const char *value);
};

static inline struct sl_frontend_conf *cur_fe(struct loader *ld)
{
	return &ld->conf->frontends[ld->sec_idx];
}

static inline struct sl_backend_conf *cur_be(struct loader *ld)
{
	return &ld->conf->backends[ld->sec_idx];
}

/* ---- conf/conf.c ---- */

/* Records the first error, "FILE:LINE: " then FMT, and returns ld->rc: later
 * errors are consequences of the first and are dropped. */
int sl_conf_fail(struct loader *ld, int line, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "key 'K': expected EXPECTED, got 'VALUE'" at the current line; -EINVAL. */
int sl_conf_bad_value(struct loader *ld, const char *key, const char *expected,
		      const char *value);

/* A duration from MIN to MAX ms into *ms, else "key 'K': expected a
 * duration from MIN to MAX like ..." at the current line; -EINVAL. */
int sl_conf_duration(struct loader *ld, const char *key, const char *value, uint64_t min,
		     uint64_t max, uint64_t *ms);

/* "out of memory" at the current line; -ENOMEM. */
int sl_conf_no_memory(struct loader *ld);

/* Makes room for element N of the array *ARRP points to (any T **); the
 * capacity is the next power of two above N. Returns 0 or -ENOMEM. */
int sl_conf_grow(void *arrp, int n, size_t size);

/* ---- conf/conf_keys.c ---- */

/* The keys of section kind SEC (never SEC_NONE), ended by a NULL name. */
const struct key_def *sl_conf_keys(enum sec_kind sec);

/* What "workers = auto" means: the online CPUs, 1 to 256. */
int sl_conf_auto_workers(void);

/* End of a section: refuses the keys it would ignore (for its mode, or for
 * a frontend without an ssl bind), at the first such key's line. Returns 0
 * or -EINVAL. */
int sl_conf_check_ignored_keys(struct loader *ld);

#endif
