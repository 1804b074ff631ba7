/*
 * Configuration loader (conf/ layer): reads an INI file with inih into an
 * immutable struct sl_config, checking every key, section and cross-reference
 * and stopping at the first error with a one-line "FILE:LINE: ..." message.
 * Our own line reader feeds inih one physical line at a time: it counts lines
 * (inih's handler is not told the line number), strips indentation and
 * comments, and tracks section headers itself, so that empty sections,
 * repeated headers and names longer than inih's section buffer are all seen.
 * Value parsers live in conf/conf_value.c. Depends on nothing of ours.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "conf/conf.h"
#include "conf/conf_value.h"

#define MAXCONN_MAX 10000000
#define WORKERS_MAX 256
#define WEIGHT_MAX 256
#define CHECK_COUNT_MAX 100
#define CHECK_INTERVAL_MAX (24ULL * 3600 * 1000)
#define VALUE_MAX 1024

#define DURATION_LIKE "500ms, 5s, 2m, 1h"
#define ADDR_LIKE "1.2.3.4:80, [::1]:80, :80 or host:80"
#define NAME_LIKE "1 to 63 characters from A-Z a-z 0-9 _ . -"
#define SERVER_LIKE "NAME HOST:PORT [weight=N] [backup] [disabled] " \
	"[check [check_port=N] [check_addr=IP]]"

enum sec_kind { SEC_NONE, SEC_GLOBAL, SEC_DEFAULTS, SEC_FRONTEND, SEC_BACKEND };

/* Keys that are not timeouts; each has a slot in loader.key_line. */
enum key_id {
	K_WORKERS, K_MAXCONN, K_STATS, K_LOG, K_GRACE,
	K_MODE, K_BACKEND, K_BIND, K_BALANCE, K_SERVER,
	K_CHECK, K_CHECK_EXPECT, K_CHECK_INTERVAL, K_CHECK_RISE, K_CHECK_FALL,
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

struct key_def {
	const char *name;
	enum key_id id;
	bool repeatable;
	int (*set)(struct loader *ld, const char *key, const char *value);
};

static int fail(struct loader *ld, int line, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records the first error only; later ones are consequences of it. */
static int fail(struct loader *ld, int line, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->rc)
		return ld->rc;
	ld->rc = rc;
	ld->err_line = line;
	if (!ld->err || ld->errlen == 0)
		return rc;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->file, line);
	if (n >= 0 && (size_t)n < ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int bad_value(struct loader *ld, const char *key, const char *expected,
		     const char *value)
{
	return fail(ld, ld->lineno, -EINVAL, "key '%s': expected %s, got '%s'", key,
		    expected, value);
}

static int no_memory(struct loader *ld)
{
	return fail(ld, ld->lineno, -ENOMEM, "out of memory");
}

/* Makes room for element N of the array *ARRP points to (any T **; copied
 * with memcpy to stay clear of aliasing rules). The capacity is implicit (the
 * next power of two above the count), so the structs need no capacity field. */
static int grow(void *arrp, int n, size_t size)
{
	void *arr, *p;

	if (n > 0 && (n & (n - 1)) != 0)
		return 0;
	memcpy(&arr, arrp, sizeof(arr));
	p = reallocarray(arr, n ? (size_t)n * 2 : 1, size);
	if (!p)
		return -ENOMEM;
	memcpy(arrp, &p, sizeof(p));
	return 0;
}

static struct sl_frontend_conf *cur_fe(struct loader *ld)
{
	return &ld->conf->frontends[ld->sec_idx];
}

static struct sl_backend_conf *cur_be(struct loader *ld)
{
	return &ld->conf->backends[ld->sec_idx];
}

static int parse_enum(struct loader *ld, const char *key, const char *value,
		      const char *const *names, const char *expected, int *out)
{
	int i;

	for (i = 0; names[i]; i++) {
		if (strcmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return bad_value(ld, key, expected, value);
}

static int parse_num(struct loader *ld, const char *key, const char *value,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	char expected[64];

	if (sl_conf_parse_uint(value, min, max, out) == 0)
		return 0;
	snprintf(expected, sizeof(expected), "a number from %llu to %llu",
		 (unsigned long long)min, (unsigned long long)max);
	return bad_value(ld, key, expected, value);
}

static int parse_addr(struct loader *ld, const char *key, const char *value,
		      struct sl_addr *addr)
{
	const char *why;

	if (sl_conf_parse_addr_why(value, addr, &why) == 0)
		return 0;
	return fail(ld, ld->lineno, -EINVAL, "key '%s': expected ADDR:PORT like %s (%s), got '%s'",
		    key, ADDR_LIKE, why, value);
}

/* ---- [global] ---- */

static int set_workers(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;
	long cpus;

	if (strcmp(value, "auto") == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		ld->conf->workers = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : (int)cpus;
		return 0;
	}
	if (sl_conf_parse_uint(value, 1, WORKERS_MAX, &n) < 0)
		return bad_value(ld, key, "auto or a number from 1 to 256", value);
	ld->conf->workers = (int)n;
	return 0;
}

static int set_global_maxconn(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;
	int rc = parse_num(ld, key, value, 1, MAXCONN_MAX, &n);

	if (rc == 0)
		ld->conf->maxconn = (uint32_t)n;
	return rc;
}

static int set_stats(struct loader *ld, const char *key, const char *value)
{
	int rc = parse_addr(ld, key, value, &ld->conf->stats);

	ld->conf->has_stats = rc == 0;
	return rc;
}

static int set_log(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "stdout", "stderr", "off" };
	struct sl_config *conf = ld->conf;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			conf->log = (enum sl_log_target)i;
			return 0;
		}
	}
	if (!value[0] || strlen(value) >= sizeof(conf->log_path))
		return bad_value(ld, key, "stdout, stderr, off or a file path shorter than "
				 "256 characters", value);
	conf->log = SL_LOG_FILE;
	strcpy(conf->log_path, value);
	return 0;
}

static int set_grace(struct loader *ld, const char *key, const char *value)
{
	/* 0 is allowed here: it means stop at once, without draining. */
	if (sl_conf_parse_duration(value, &ld->conf->grace_ms) < 0)
		return bad_value(ld, key, "a duration like " DURATION_LIKE, value);
	return 0;
}

/* ---- [frontend NAME] ---- */

static int set_fe_mode(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "tcp", "http", NULL };
	int v = 0;
	int rc = parse_enum(ld, key, value, names, "tcp or http", &v);

	if (rc == 0)
		cur_fe(ld)->mode = (enum sl_fe_mode)v;
	return rc;
}

static int set_fe_backend(struct loader *ld, const char *key, const char *value)
{
	struct sl_frontend_conf *fe = cur_fe(ld);

	if (!sl_conf_valid_name(value))
		return bad_value(ld, key, "a backend name of " NAME_LIKE, value);
	strcpy(fe->backend_name, value);
	/* Holds the line of this key until resolve_frontend() stores the index. */
	fe->backend = ld->lineno;
	return 0;
}

static int set_fe_maxconn(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;
	int rc = parse_num(ld, key, value, 1, MAXCONN_MAX, &n);

	if (rc == 0)
		cur_fe(ld)->maxconn = (uint32_t)n;
	return rc;
}

/* Two listeners on one address would both get SO_REUSEPORT and silently share
 * its connections, so an exact duplicate is an error. */
static int check_bind_unique(struct loader *ld, const char *key, const struct sl_addr *addr)
{
	const struct sl_config *conf = ld->conf;
	char s[80];
	int f, b;

	for (f = 0; f < conf->nfrontends; f++) {
		for (b = 0; b < conf->frontends[f].nbinds; b++) {
			const struct sl_bind_conf *o = &conf->frontends[f].binds[b];

			if (o->addr.len == addr->len && memcmp(&o->addr.ss, &addr->ss, addr->len) == 0)
				return fail(ld, ld->lineno, -EINVAL,
					    "key '%s': address %s is already bound at line %d",
					    key, sl_conf_addr_str(addr, s, sizeof(s)), o->line);
		}
	}
	return 0;
}

static int bind_option(struct loader *ld, const char *key, const char *value,
		       const char *tok, struct sl_bind_conf *b)
{
	const char *crt = strncmp(tok, "crt=", 4) == 0 ? tok + 4 : NULL;

	if (strcmp(tok, "ssl") == 0 && !b->ssl) {
		b->ssl = true;
	} else if (crt && !b->crt[0] && crt[0] && strlen(crt) < sizeof(b->crt)) {
		strcpy(b->crt, crt);
	} else if (strcmp(tok, "ssl") == 0 || (crt && b->crt[0])) {
		return fail(ld, ld->lineno, -EINVAL, "key '%s': option '%s' given twice, got '%s'",
			    key, tok, value);
	} else if (crt) {
		return bad_value(ld, key, "crt=PATH with a path of 1 to 255 characters", value);
	} else {
		return fail(ld, ld->lineno, -EINVAL,
			    "key '%s': unknown option '%s'; expected ssl or crt=PATH, got '%s'",
			    key, tok, value);
	}
	return 0;
}

static int add_bind(struct loader *ld, const char *key, const char *value)
{
	struct sl_frontend_conf *fe = cur_fe(ld);
	struct sl_bind_conf b = { .line = ld->lineno };
	char tmp[VALUE_MAX], *save, *tok;
	int rc;

	if (strlen(value) >= sizeof(tmp) || !(tok = strtok_r(strcpy(tmp, value), " \t", &save)))
		return bad_value(ld, key, "ADDR:PORT [ssl crt=PATH]", value);
	if ((rc = parse_addr(ld, key, tok, &b.addr)) < 0)
		return rc;
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL)
		if ((rc = bind_option(ld, key, value, tok, &b)) < 0)
			return rc;
	if (b.ssl && !b.crt[0])
		return fail(ld, ld->lineno, -EINVAL,
			    "key '%s': option 'ssl' expects crt=PATH too, got '%s'", key, value);
	if (b.crt[0] && !b.ssl)
		return fail(ld, ld->lineno, -EINVAL,
			    "key '%s': option crt=PATH expects 'ssl' too, got '%s'", key, value);
	if ((rc = check_bind_unique(ld, key, &b.addr)) < 0)
		return rc;
	if (grow(&fe->binds, fe->nbinds, sizeof(*fe->binds)) < 0)
		return no_memory(ld);
	fe->binds[fe->nbinds++] = b;
	return 0;
}

/* ---- [backend NAME] ---- */

static int set_be_mode(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "tcp", "http-server-close", "http-keep-alive", NULL };
	int v = 0;
	int rc = parse_enum(ld, key, value, names, "tcp, http-server-close or http-keep-alive", &v);

	if (rc == 0)
		cur_be(ld)->mode = (enum sl_be_mode)v;
	return rc;
}

static int set_balance(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "roundrobin", "leastconn", "source", "random", NULL };
	int v = 0;
	int rc = parse_enum(ld, key, value, names, "roundrobin, leastconn, source or random", &v);

	if (rc == 0)
		cur_be(ld)->balance = (enum sl_balance)v;
	return rc;
}

/* Server options DESIGN.md plans for later issues: refused until implemented,
 * so that no configuration runs while a setting in it is ignored. */
static bool server_option_later(const char *tok)
{
	return strncmp(tok, "maxconn=", 8) == 0;
}

/* What add_server() tracks while reading the options of one server line. */
struct server_opts {
	bool weighted, port_set, ip_set;
	uint16_t port;
	struct sl_addr ip;
};

static bool option_given(const char *tok, const struct sl_server_conf *s,
			 const struct server_opts *o)
{
	return (strncmp(tok, "weight=", 7) == 0 && o->weighted) ||
	       (strcmp(tok, "backup") == 0 && s->backup) ||
	       (strcmp(tok, "disabled") == 0 && s->disabled) ||
	       (strcmp(tok, "check") == 0 && s->check) ||
	       (strncmp(tok, "check_port=", 11) == 0 && o->port_set) ||
	       (strncmp(tok, "check_addr=", 11) == 0 && o->ip_set);
}

static int server_option(struct loader *ld, const char *key, const char *value,
			 const char *tok, struct sl_server_conf *s, struct server_opts *o)
{
	uint64_t n;

	if (option_given(tok, s, o))
		return fail(ld, ld->lineno, -EINVAL, "key '%s': option '%s' given twice, got '%s'",
			    key, tok, value);
	if (strncmp(tok, "weight=", 7) == 0) {
		if (sl_conf_parse_uint(tok + 7, 1, WEIGHT_MAX, &n) < 0)
			return fail(ld, ld->lineno, -EINVAL, "key '%s': option weight= expects "
				    "a number from 1 to 256, got '%s'", key, tok);
		s->weight = (int)n;
		o->weighted = true;
	} else if (strcmp(tok, "backup") == 0) {
		s->backup = true;
	} else if (strcmp(tok, "disabled") == 0) {
		s->disabled = true;
	} else if (strcmp(tok, "check") == 0) {
		s->check = true;
	} else if (strncmp(tok, "check_port=", 11) == 0) {
		if (sl_conf_parse_uint(tok + 11, 1, 65535, &n) < 0)
			return fail(ld, ld->lineno, -EINVAL, "key '%s': option check_port= expects "
				    "a port from 1 to 65535, got '%s'", key, tok);
		o->port = (uint16_t)n;
		o->port_set = true;
	} else if (strncmp(tok, "check_addr=", 11) == 0) {
		if (sl_conf_parse_ip(tok + 11, &o->ip) < 0)
			return fail(ld, ld->lineno, -EINVAL, "key '%s': option check_addr= expects "
				    "an IP address like 10.0.0.1 or ::1, got '%s'", key, tok);
		o->ip_set = true;
	} else {
		return fail(ld, ld->lineno, -EINVAL, "key '%s': %s option '%s'; expected "
			    "weight=N, backup, disabled, check, check_port=N or check_addr=IP, "
			    "got '%s'", key, server_option_later(tok) ? "not yet supported" :
			    "unknown", tok, value);
	}
	return 0;
}

/* Where checks of S connect: its address unless check_addr= or check_port=
 * say otherwise. Those two only make sense with "check". */
static int server_check_addr(struct loader *ld, const char *key, const char *value,
			     struct sl_server_conf *s, const struct server_opts *o)
{
	if ((o->port_set || o->ip_set) && !s->check)
		return fail(ld, ld->lineno, -EINVAL, "key '%s': option %s expects 'check' too, "
			    "got '%s'", key, o->port_set ? "check_port=" : "check_addr=", value);
	s->check_addr = o->ip_set ? o->ip : s->addr;
	sl_conf_addr_set_port(&s->check_addr, o->port_set ? o->port : sl_conf_addr_port(&s->addr));
	return 0;
}

static int add_server(struct loader *ld, const char *key, const char *value)
{
	struct sl_backend_conf *be = cur_be(ld);
	struct sl_server_conf s = { .weight = 1, .line = ld->lineno };
	char tmp[VALUE_MAX], *save, *name, *tok;
	struct server_opts o = { 0 };
	int rc, i;

	name = strlen(value) < sizeof(tmp) ? strtok_r(strcpy(tmp, value), " \t", &save) : NULL;
	tok = name ? strtok_r(NULL, " \t", &save) : NULL;
	if (!tok)
		return bad_value(ld, key, SERVER_LIKE, value);
	if (!sl_conf_valid_name(name))
		return fail(ld, ld->lineno, -EINVAL, "key '%s': expected a server name of "
			    NAME_LIKE ", got '%s'", key, name);
	strcpy(s.name, name);
	if ((rc = parse_addr(ld, key, tok, &s.addr)) < 0)
		return rc;
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL)
		if ((rc = server_option(ld, key, value, tok, &s, &o)) < 0)
			return rc;
	if ((rc = server_check_addr(ld, key, value, &s, &o)) < 0)
		return rc;
	for (i = 0; i < be->nservers; i++)
		if (strcmp(be->servers[i].name, s.name) == 0)
			return fail(ld, ld->lineno, -EINVAL, "key '%s': duplicate server name "
				    "'%s' in %s (first at line %d)", key, s.name, ld->sec_label,
				    be->servers[i].line);
	if (grow(&be->servers, be->nservers, sizeof(*be->servers)) < 0)
		return no_memory(ld);
	be->servers[be->nservers++] = s;
	return 0;
}

/* check = tcp | http METHOD PATH */
static int set_check(struct loader *ld, const char *key, const char *value)
{
	const char *why;

	if (sl_conf_parse_check(value, &cur_be(ld)->check, &why) == 0)
		return 0;
	return fail(ld, ld->lineno, -EINVAL, "key '%s': expected tcp or http METHOD PATH like "
		    "'http GET /health' (%s), got '%s'", key, why, value);
}

static int set_check_expect(struct loader *ld, const char *key, const char *value)
{
	struct sl_check_conf *cc = &cur_be(ld)->check;

	if (sl_conf_parse_status_range(value, &cc->expect_lo, &cc->expect_hi) == 0)
		return 0;
	return bad_value(ld, key, "an HTTP status from 100 to 599, or a range LOW-HIGH "
			 "like 200-399", value);
}

static int set_check_interval(struct loader *ld, const char *key, const char *value)
{
	uint64_t ms;

	if (sl_conf_parse_duration(value, &ms) < 0 || ms == 0 || ms > CHECK_INTERVAL_MAX)
		return bad_value(ld, key, "a duration from 1ms to 24h like " DURATION_LIKE, value);
	cur_be(ld)->check.interval_ms = ms;
	return 0;
}

/* check_rise and check_fall: consecutive results before a state change. */
static int set_check_count(struct loader *ld, const char *key, const char *value)
{
	struct sl_check_conf *cc = &cur_be(ld)->check;
	uint64_t n;
	int rc = parse_num(ld, key, value, 1, CHECK_COUNT_MAX, &n);

	if (rc == 0 && strcmp(key, "check_rise") == 0)
		cc->rise = (int)n;
	else if (rc == 0)
		cc->fall = (int)n;
	return rc;
}

/* ---- key dispatch ---- */

static const struct key_def global_keys[] = {
	{ "workers", K_WORKERS, false, set_workers },
	{ "maxconn", K_MAXCONN, false, set_global_maxconn },
	{ "stats", K_STATS, false, set_stats },
	{ "log", K_LOG, false, set_log },
	{ "grace", K_GRACE, false, set_grace },
	{ NULL, K_COUNT, false, NULL },
};

static const struct key_def defaults_keys[] = {
	{ NULL, K_COUNT, false, NULL },
};

static const struct key_def frontend_keys[] = {
	{ "bind", K_BIND, true, add_bind },
	{ "mode", K_MODE, false, set_fe_mode },
	{ "backend", K_BACKEND, false, set_fe_backend },
	{ "maxconn", K_MAXCONN, false, set_fe_maxconn },
	{ NULL, K_COUNT, false, NULL },
};

static const struct key_def backend_keys[] = {
	{ "mode", K_MODE, false, set_be_mode },
	{ "balance", K_BALANCE, false, set_balance },
	{ "server", K_SERVER, true, add_server },
	{ "check", K_CHECK, false, set_check },
	{ "check_expect", K_CHECK_EXPECT, false, set_check_expect },
	{ "check_interval", K_CHECK_INTERVAL, false, set_check_interval },
	{ "check_rise", K_CHECK_RISE, false, set_check_count },
	{ "check_fall", K_CHECK_FALL, false, set_check_count },
	{ NULL, K_COUNT, false, NULL },
};

/* Keys DESIGN.md plans for later issues (see server_option_later()). */
static bool key_later(const char *key)
{
	static const char *const later[] = {
		"maxconn_per_source", "keepalive_requests", "route", NULL,
	};
	int i;

	for (i = 0; later[i]; i++)
		if (strcmp(key, later[i]) == 0)
			return true;
	return strncmp(key, "pool_", 5) == 0;
}

static int unknown_key(struct loader *ld, const char *key)
{
	static const char *const expected[] = {
		[SEC_GLOBAL] = "workers, maxconn, stats, log or grace",
		[SEC_DEFAULTS] = "timeout_*",
		[SEC_FRONTEND] = "bind, mode, backend, maxconn or timeout_*",
		[SEC_BACKEND] = "mode, balance, server, check, check_expect, check_interval, "
				"check_rise, check_fall or timeout_*",
	};

	return fail(ld, ld->lineno, -EINVAL, "key '%s': %s in %s; expected %s", key,
		    key_later(key) ? "not yet supported" : "unknown key", ld->sec_label,
		    expected[ld->sec]);
}

static int once(struct loader *ld, const char *key, int slot)
{
	if (ld->key_line[slot])
		return fail(ld, ld->lineno, -EINVAL, "key '%s': given twice in %s (first at "
			    "line %d); expected at most one", key, ld->sec_label, ld->key_line[slot]);
	ld->key_line[slot] = ld->lineno;
	return 0;
}

static int set_timeout(struct loader *ld, const char *key, const char *value,
		       enum sl_timeout_kind k)
{
	struct sl_timeouts *to = ld->sec == SEC_DEFAULTS ? &ld->conf->defaults :
				 ld->sec == SEC_FRONTEND ? &cur_fe(ld)->timeouts :
				 &cur_be(ld)->timeouts;
	uint64_t ms;
	int rc = once(ld, key, K_COUNT + (int)k);

	if (rc < 0)
		return rc;
	if (sl_conf_parse_duration(value, &ms) < 0)
		return bad_value(ld, key, "a duration like " DURATION_LIKE, value);
	if (ms == 0)
		return bad_value(ld, key, "a positive duration like " DURATION_LIKE, value);
	to->ms[k] = ms;
	to->set_mask |= 1u << k;
	return 0;
}

static int set_key(struct loader *ld, const char *key, const char *value)
{
	static const struct key_def *const tables[] = {
		[SEC_GLOBAL] = global_keys, [SEC_DEFAULTS] = defaults_keys,
		[SEC_FRONTEND] = frontend_keys, [SEC_BACKEND] = backend_keys,
	};
	const struct key_def *d;
	enum sl_timeout_kind k;
	int rc;

	if (ld->sec == SEC_NONE)
		return fail(ld, ld->lineno, -EINVAL, "key '%s': outside any section; expected a "
			    "[global], [defaults], [frontend NAME] or [backend NAME] line before it",
			    key);
	for (d = tables[ld->sec]; d->name; d++) {
		if (strcmp(key, d->name) != 0)
			continue;
		if (!d->repeatable && (rc = once(ld, key, d->id)) < 0)
			return rc;
		return d->set(ld, key, value);
	}
	k = sl_conf_timeout_by_name(key);
	if (ld->sec != SEC_GLOBAL && k != SL_TO_COUNT)
		return set_timeout(ld, key, value, k);
	return unknown_key(ld, key);
}

/* inih handler. SECTION is ignored: the reader tracks sections itself. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;

	(void)section;
	if (!ld->rc)
		set_key(ld, name, value);
	return 1; /* inih reports only its own syntax errors; ours are in ld */
}

/* ---- sections ---- */

/* Checks what only the end of a section can tell. The reader sees every
 * header, so an empty "[backend x]" is caught here too (inih itself never
 * calls the handler for a section without keys). */
static int end_section(struct loader *ld)
{
	if (ld->sec == SEC_FRONTEND && cur_fe(ld)->nbinds == 0)
		return fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'bind'; expected "
			    "at least one bind = ADDR:PORT", ld->sec_label);
	if (ld->sec == SEC_FRONTEND && !cur_fe(ld)->backend_name[0])
		return fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'backend'; "
			    "expected backend = NAME", ld->sec_label);
	if (ld->sec == SEC_BACKEND && cur_be(ld)->nservers == 0)
		return fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'server'; expected "
			    "at least one server = NAME HOST:PORT", ld->sec_label);
	/* A status range would be silently ignored by a tcp check. */
	if (ld->sec == SEC_BACKEND && ld->key_line[K_CHECK_EXPECT] &&
	    cur_be(ld)->check.kind != SL_CHECK_HTTP)
		return fail(ld, ld->key_line[K_CHECK_EXPECT], -EINVAL, "key 'check_expect': "
			    "expected only with an http check (check = http METHOD PATH) in %s",
			    ld->sec_label);
	return 0;
}

static int once_section(struct loader *ld, int *first_line)
{
	if (*first_line)
		return fail(ld, ld->lineno, -EINVAL, "section %s: given twice (first at line %d); "
			    "expected at most one", ld->sec_label, *first_line);
	*first_line = ld->lineno;
	return 0;
}

static int start_frontend(struct loader *ld, const char *name)
{
	struct sl_config *conf = ld->conf;
	int i;

	for (i = 0; i < conf->nfrontends; i++)
		if (strcmp(conf->frontends[i].name, name) == 0)
			return fail(ld, ld->lineno, -EINVAL, "section %s: duplicate frontend name "
				    "'%s' (first at line %d)", ld->sec_label, name,
				    conf->frontends[i].line);
	if (grow(&conf->frontends, conf->nfrontends, sizeof(*conf->frontends)) < 0)
		return no_memory(ld);
	ld->sec_idx = conf->nfrontends++;
	memset(cur_fe(ld), 0, sizeof(*cur_fe(ld)));
	strcpy(cur_fe(ld)->name, name);
	cur_fe(ld)->mode = SL_FE_MODE_TCP;
	cur_fe(ld)->line = ld->lineno;
	return 0;
}

static int start_backend(struct loader *ld, const char *name)
{
	struct sl_config *conf = ld->conf;
	int i;

	for (i = 0; i < conf->nbackends; i++)
		if (strcmp(conf->backends[i].name, name) == 0)
			return fail(ld, ld->lineno, -EINVAL, "section %s: duplicate backend name "
				    "'%s' (first at line %d)", ld->sec_label, name,
				    conf->backends[i].line);
	if (grow(&conf->backends, conf->nbackends, sizeof(*conf->backends)) < 0)
		return no_memory(ld);
	ld->sec_idx = conf->nbackends++;
	memset(cur_be(ld), 0, sizeof(*cur_be(ld)));
	strcpy(cur_be(ld)->name, name);
	cur_be(ld)->mode = SL_BE_MODE_TCP;
	cur_be(ld)->balance = SL_BAL_ROUNDROBIN;
	cur_be(ld)->check = (struct sl_check_conf){ .kind = SL_CHECK_TCP, .expect_lo = 200,
		.expect_hi = 399, .interval_ms = 2000, .rise = 2, .fall = 3 };
	cur_be(ld)->line = ld->lineno;
	return 0;
}

/* Splits "[ KIND NAME ]" in place: *kind and *name point into LINE. */
static void split_header(char *line, char **kind, char **name)
{
	char *p = line + 1 + strspn(line + 1, " \t");
	char *end = strchr(p, ']');

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	*kind = p;
	p += strcspn(p, " \t");
	if (*p)
		*p++ = '\0';
	*name = p + strspn(p, " \t");
}

/* A "[...]" line (LINE has no comment and no surrounding blanks). */
static int on_section(struct loader *ld, const char *line)
{
	char hdr[VALUE_MAX], *kind, *name;
	const char *close = strchr(line, ']');
	int rc;

	if (!close || close[1])
		return fail(ld, ld->lineno, -EINVAL, "section header '%s': expected [KIND] or "
			    "[KIND NAME] alone on its line", line);
	if ((rc = end_section(ld)) < 0)
		return rc;
	snprintf(ld->sec_label, sizeof(ld->sec_label), "%s", line);
	snprintf(hdr, sizeof(hdr), "%s", line);
	split_header(hdr, &kind, &name);
	memset(ld->key_line, 0, sizeof(ld->key_line));
	ld->sec = SEC_NONE;
	ld->sec_line = ld->lineno;
	if (strcmp(kind, "frontend") == 0 || strcmp(kind, "backend") == 0) {
		if (!sl_conf_valid_name(name))
			return fail(ld, ld->lineno, -EINVAL, "section %s: expected a %s name of "
				    NAME_LIKE ", got '%s'", line, kind, name);
		rc = kind[0] == 'f' ? start_frontend(ld, name) : start_backend(ld, name);
		if (rc == 0)
			ld->sec = kind[0] == 'f' ? SEC_FRONTEND : SEC_BACKEND;
		return rc;
	}
	if (strcmp(kind, "global") == 0 || strcmp(kind, "defaults") == 0) {
		if (*name)
			return fail(ld, ld->lineno, -EINVAL, "section %s: expected [%s] without a "
				    "name", line, kind);
		ld->sec = kind[0] == 'g' ? SEC_GLOBAL : SEC_DEFAULTS;
		return once_section(ld, ld->sec == SEC_GLOBAL ? &ld->global_line :
				    &ld->defaults_line);
	}
	return fail(ld, ld->lineno, -EINVAL, "section %s: unknown section; expected [global], "
		    "[defaults], [frontend NAME] or [backend NAME]", line);
}

/* ---- line reader ---- */

/* Next physical line into ld->buf without its '\n'; -1 at the end. */
static ssize_t next_line(struct loader *ld)
{
	ssize_t n;
	size_t len;

	if (ld->fp) {
		errno = 0;
		n = getline(&ld->buf, &ld->bufcap, ld->fp);
		if (n < 0 && ferror(ld->fp))
			fail(ld, ld->lineno + 1, errno ? -errno : -EIO, "cannot read: %s",
			     strerror(errno ? errno : EIO));
		if (n > 0 && ld->buf[n - 1] == '\n')
			ld->buf[--n] = '\0';
		return n;
	}
	if (!*ld->text)
		return -1;
	len = strcspn(ld->text, "\n");
	if (len + 1 > ld->bufcap) {
		char *p = realloc(ld->buf, len + 1);

		if (!p) {
			no_memory(ld);
			return -1;
		}
		ld->buf = p;
		ld->bufcap = len + 1;
	}
	memcpy(ld->buf, ld->text, len);
	ld->buf[len] = '\0';
	ld->text += len + (ld->text[len] == '\n');
	return (ssize_t)len;
}

/* Strips what inih would ignore anyway, so that its line buffer only has to
 * hold content: a UTF-8 BOM, indentation (which also keeps inih's multi-line
 * continuation from ever applying: an indented key is a key), comment lines,
 * inline "<blank>;" comments and trailing blanks. Returns NULL on error. */
static char *clean_line(struct loader *ld, ssize_t n)
{
	char *p = ld->buf, *c;
	ssize_t i;

	if (n > 0 && p[n - 1] == '\r')
		p[--n] = '\0'; /* CRLF line ends */
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x20 ? p[i] != '\t' : p[i] == 0x7f) {
			fail(ld, ld->lineno, -EINVAL, "expected text, got control character "
			     "0x%02x", (unsigned char)p[i]);
			return NULL;
		}
	}
	if (ld->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	p += strspn(p, " \t");
	if (*p == ';' || *p == '#')
		*p = '\0';
	for (c = p; (c = strchr(c, ';')) != NULL; c++) {
		if (c[-1] == ' ' || c[-1] == '\t') {
			*c = '\0';
			break;
		}
	}
	n = (ssize_t)strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	return p;
}

/* inih's reader: one physical line per call, so its line numbers are ours. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	ssize_t n;
	char *line;

	if (ld->rc)
		return NULL; /* stop inih at the first error */
	n = next_line(ld);
	if (n < 0)
		return NULL;
	ld->lineno++;
	line = clean_line(ld, n);
	if (!line)
		return NULL;
	n = (ssize_t)strlen(line);
	if (n + 2 > num) {
		fail(ld, ld->lineno, -EINVAL, "line too long: expected at most %d characters "
		     "without indentation and comments, got %zd", num - 2, n);
		return NULL;
	}
	if (line[0] == '[' && on_section(ld, line) < 0)
		return NULL;
	memcpy(str, line, (size_t)n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* ---- after the whole file ---- */

static int resolve_frontend(struct loader *ld, struct sl_frontend_conf *fe)
{
	static const char *const be_modes[] = { "tcp", "http-server-close", "http-keep-alive" };
	const struct sl_config *conf = ld->conf;
	int line = fe->backend, i;
	const struct sl_backend_conf *be;

	for (i = 0; i < conf->nbackends; i++)
		if (strcmp(conf->backends[i].name, fe->backend_name) == 0)
			break;
	if (i == conf->nbackends)
		return fail(ld, line, -EINVAL, "key 'backend': expected the name of a [backend "
			    "NAME] section, got '%s' (no such backend)", fe->backend_name);
	be = &conf->backends[i];
	if ((fe->mode == SL_FE_MODE_HTTP) != (be->mode != SL_BE_MODE_TCP))
		return fail(ld, line, -EINVAL, "key 'backend': frontend '%s' has mode %s, so "
			    "expected a%s backend, got '%s' with mode %s (line %d)", fe->name,
			    fe->mode == SL_FE_MODE_HTTP ? "http" : "tcp",
			    fe->mode == SL_FE_MODE_HTTP ? "n http-server-close or http-keep-alive" :
			    " tcp", be->name, be_modes[be->mode], be->line);
	fe->backend = i;
	return 0;
}

static void fill_timeouts(struct sl_timeouts *to, const struct sl_timeouts *from)
{
	int k;

	for (k = 0; k < SL_TO_COUNT; k++)
		if (!(to->set_mask & (1u << k)))
			to->ms[k] = from ? from->ms[k] : sl_conf_timeout_default((enum sl_timeout_kind)k);
}

static int finish(struct loader *ld)
{
	struct sl_config *conf = ld->conf;
	int i, rc;

	if ((rc = end_section(ld)) < 0)
		return rc;
	if (conf->nfrontends == 0)
		return fail(ld, 0, -EINVAL, "section [frontend NAME]: expected at least one in "
			    "the file, found none (line 0: the whole file)");
	for (i = 0; i < conf->nfrontends; i++)
		if ((rc = resolve_frontend(ld, &conf->frontends[i])) < 0)
			return rc;
	/* Only now: [defaults] may come after the sections it applies to. */
	fill_timeouts(&conf->defaults, NULL);
	for (i = 0; i < conf->nfrontends; i++)
		fill_timeouts(&conf->frontends[i].timeouts, &conf->defaults);
	for (i = 0; i < conf->nbackends; i++)
		fill_timeouts(&conf->backends[i].timeouts, &conf->defaults);
	return 0;
}

static int load(struct loader *ld, const char *name, struct sl_config **out)
{
	struct sl_config *conf = calloc(1, sizeof(*conf));
	int line;

	if (!conf)
		return no_memory(ld);
	ld->conf = conf;
	snprintf(conf->path, sizeof(conf->path), "%s", name);
	set_workers(ld, "workers", "auto");
	conf->maxconn = 100000;
	conf->log = SL_LOG_STDOUT;
	conf->grace_ms = 5000;
	line = ini_parse_stream(read_line, ld, on_key, ld);
	/* inih keeps going after its own syntax errors and returns the first one's
	 * line: it wins when it comes before ours. */
	if (line > 0 && (!ld->rc || line < ld->err_line)) {
		ld->rc = 0;
		fail(ld, line, -EINVAL, "syntax error: expected 'key = value', '[section]' or "
		     "a comment");
	} else if (line < 0) {
		no_memory(ld);
	}
	if (!ld->rc)
		finish(ld);
	free(ld->buf);
	if (ld->rc) {
		sl_conf_free(conf);
		return ld->rc;
	}
	*out = conf;
	return 0;
}

static void loader_init(struct loader *ld, const char *name, struct sl_config **out,
			char *err, size_t errlen)
{
	memset(ld, 0, sizeof(*ld));
	ld->file = name ? name : "(null)";
	ld->err = err;
	ld->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (out)
		*out = NULL;
}

int sl_conf_load(const char *file, struct sl_config **out, char *err, size_t errlen)
{
	struct loader ld;
	int rc;

	loader_init(&ld, file, out, err, errlen);
	if (!file || !out)
		return fail(&ld, 0, -EINVAL, "no file or no output given");
	ld.fp = fopen(file, "re");
	if (!ld.fp) {
		rc = -errno;
		return fail(&ld, 0, rc, "cannot open: %s", strerror(-rc));
	}
	rc = load(&ld, file, out);
	fclose(ld.fp);
	return rc;
}

int sl_conf_load_string(const char *name, const char *text, struct sl_config **out,
			char *err, size_t errlen)
{
	struct loader ld;

	loader_init(&ld, name, out, err, errlen);
	if (!text || !out)
		return fail(&ld, 0, -EINVAL, "no text or no output given");
	ld.text = text;
	return load(&ld, ld.file, out);
}

void sl_conf_free(struct sl_config *conf)
{
	int i;

	if (!conf)
		return;
	for (i = 0; i < conf->nfrontends; i++)
		free(conf->frontends[i].binds);
	for (i = 0; i < conf->nbackends; i++)
		free(conf->backends[i].servers);
	free(conf->frontends);
	free(conf->backends);
	free(conf);
}
