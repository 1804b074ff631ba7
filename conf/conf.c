/*
 * Configuration loader (conf/ layer): reads an INI file with inih into an
 * immutable struct sl_config, checking every key, section and cross-reference
 * and stopping at the first error with a one-line "FILE:LINE: ..." message.
 * Our own line reader feeds inih one physical line at a time: it counts lines
 * (inih's handler is not told the line number), strips indentation and
 * comments, and tracks section headers itself, so that empty sections,
 * repeated headers and names longer than inih's section buffer are all seen.
 * The keys and their setters live in conf/conf_keys.c, the value parsers in
 * conf/conf_value.c. Depends on nothing of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conf/conf.h"
#include "conf/conf_loader.h"
#include "conf/conf_value.h"

/* Records the first error only; later ones are consequences of it. */
int sl_conf_fail(struct loader *ld, int line, int rc, const char *fmt, ...)
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

int sl_conf_bad_value(struct loader *ld, const char *key, const char *expected,
		      const char *value)
{
	return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': expected %s, got '%s'", key,
			    expected, value);
}

/* A duration in the largest unit that writes it exactly ("7d", "1ms"), days
 * only beyond 24h ("24h" reads better than "1d"). */
static void fmt_duration(uint64_t ms, char *buf, size_t n)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "d", MS_24H }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms && ms % units[i].mult == 0 && (i || ms > MS_24H)) {
			snprintf(buf, n, "%llu%s", (unsigned long long)(ms / units[i].mult),
				 units[i].unit);
			return;
		}
	snprintf(buf, n, "%llums", (unsigned long long)ms);
}

int sl_conf_duration(struct loader *ld, const char *key, const char *value, uint64_t min,
		     uint64_t max, uint64_t *ms)
{
	char lo[32], hi[32], expected[128];
	uint64_t v;

	if (sl_conf_parse_duration(value, &v) == 0 && v >= min && v <= max) {
		*ms = v;
		return 0;
	}
	fmt_duration(min, lo, sizeof(lo));
	fmt_duration(max, hi, sizeof(hi));
	snprintf(expected, sizeof(expected), "a duration from %s to %s like " DURATION_LIKE,
		 lo, hi);
	return sl_conf_bad_value(ld, key, expected, value);
}

int sl_conf_no_memory(struct loader *ld)
{
	return sl_conf_fail(ld, ld->lineno, -ENOMEM, "out of memory");
}

/* Makes room for element N of the array *ARRP points to (any T **; copied
 * with memcpy to stay clear of aliasing rules). The capacity is implicit (the
 * next power of two above the count), so the structs need no capacity field. */
int sl_conf_grow(void *arrp, int n, size_t size)
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

/* The message lists the keys of the section, in the order of its table. */
static int unknown_key(struct loader *ld, const char *key)
{
	const char *names[K_COUNT + 1];
	const struct key_def *d;
	char expected[512];
	size_t n = 0, len = 0, i;

	for (d = sl_conf_keys(ld->sec); d->name; d++)
		names[n++] = d->name;
	if (ld->sec != SEC_GLOBAL)
		names[n++] = "timeout_*";
	expected[0] = '\0';
	for (i = 0; i < n && len < sizeof(expected); i++)
		len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
					i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': unknown key in %s; expected %s",
			    key, ld->sec_label, expected);
}

static int once(struct loader *ld, const char *key, int slot)
{
	if (ld->key_line[slot])
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': given twice in %s (first "
				    "at line %d); expected at most one", key, ld->sec_label,
				    ld->key_line[slot]);
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
	rc = sl_conf_duration(ld, key, value, 1, TIMEOUT_MAX, &ms);
	if (rc < 0)
		return rc;
	to->ms[k] = ms;
	to->set_mask |= 1u << k;
	return 0;
}

static int set_key(struct loader *ld, const char *key, const char *value)
{
	const struct key_def *d;
	enum sl_timeout_kind k;
	int rc;

	if (ld->sec == SEC_NONE)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': outside any section; "
				    "expected a [global], [defaults], [frontend NAME] or "
				    "[backend NAME] line before it", key);
	for (d = sl_conf_keys(ld->sec); d->name; d++) {
		if (strcmp(key, d->name) != 0)
			continue;
		if (!d->repeatable && (rc = once(ld, key, d->id)) < 0)
			return rc;
		if (!ld->key_line[d->id])
			ld->key_line[d->id] = ld->lineno; /* first of a repeatable key */
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
		return sl_conf_fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'bind'; "
				    "expected at least one bind = ADDR:PORT", ld->sec_label);
	if (ld->sec == SEC_FRONTEND && !cur_fe(ld)->backend_name[0])
		return sl_conf_fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'backend'; "
				    "expected backend = NAME", ld->sec_label);
	if (ld->sec == SEC_BACKEND && cur_be(ld)->nservers == 0)
		return sl_conf_fail(ld, ld->sec_line, -EINVAL, "section %s: missing key 'server'; "
				    "expected at least one server = NAME HOST:PORT", ld->sec_label);
	/* A status range would be silently ignored by a tcp check. */
	if (ld->sec == SEC_BACKEND && ld->key_line[K_CHECK_EXPECT] &&
	    cur_be(ld)->check.kind != SL_CHECK_HTTP)
		return sl_conf_fail(ld, ld->key_line[K_CHECK_EXPECT], -EINVAL, "key "
				    "'check_expect': expected only with an http check (check = "
				    "http METHOD PATH) in %s", ld->sec_label);
	return sl_conf_check_ignored_keys(ld);
}

static int once_section(struct loader *ld, int *first_line)
{
	if (*first_line)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: given twice (first at "
				    "line %d); expected at most one", ld->sec_label, *first_line);
	*first_line = ld->lineno;
	return 0;
}

static int start_frontend(struct loader *ld, const char *name)
{
	struct sl_config *conf = ld->conf;
	int i;

	for (i = 0; i < conf->nfrontends; i++)
		if (strcmp(conf->frontends[i].name, name) == 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: duplicate "
					    "frontend name '%s' (first at line %d)", ld->sec_label,
					    name, conf->frontends[i].line);
	if (sl_conf_grow(&conf->frontends, conf->nfrontends, sizeof(*conf->frontends)) < 0)
		return sl_conf_no_memory(ld);
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
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: duplicate "
					    "backend name '%s' (first at line %d)", ld->sec_label,
					    name, conf->backends[i].line);
	if (sl_conf_grow(&conf->backends, conf->nbackends, sizeof(*conf->backends)) < 0)
		return sl_conf_no_memory(ld);
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
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "section header '%s': expected "
				    "[KIND] or [KIND NAME] alone on its line", line);
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
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: expected a %s "
					    "name of " NAME_LIKE ", got '%s'", line, kind, name);
		rc = kind[0] == 'f' ? start_frontend(ld, name) : start_backend(ld, name);
		if (rc == 0)
			ld->sec = kind[0] == 'f' ? SEC_FRONTEND : SEC_BACKEND;
		return rc;
	}
	if (strcmp(kind, "global") == 0 || strcmp(kind, "defaults") == 0) {
		if (*name)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: expected [%s] "
					    "without a name", line, kind);
		ld->sec = kind[0] == 'g' ? SEC_GLOBAL : SEC_DEFAULTS;
		return once_section(ld, ld->sec == SEC_GLOBAL ? &ld->global_line :
				    &ld->defaults_line);
	}
	return sl_conf_fail(ld, ld->lineno, -EINVAL, "section %s: unknown section; expected "
			    "[global], [defaults], [frontend NAME] or [backend NAME]", line);
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
			sl_conf_fail(ld, ld->lineno + 1, errno ? -errno : -EIO, "cannot read: %s",
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
			sl_conf_no_memory(ld);
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
			sl_conf_fail(ld, ld->lineno, -EINVAL, "expected text, got control "
				     "character 0x%02x", (unsigned char)p[i]);
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
		sl_conf_fail(ld, ld->lineno, -EINVAL, "line too long: expected at most %d "
			     "characters without indentation and comments, got %zd", num - 2, n);
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

/* The index of backend NAME for frontend FE's KEY at LINE: the backend must
 * exist, and have an http mode exactly when FE has. Returns it or -EINVAL. */
static int find_backend(struct loader *ld, const struct sl_frontend_conf *fe, const char *key,
			const char *name, int line)
{
	static const char *const be_modes[] = { "tcp", "http-server-close", "http-keep-alive" };
	const struct sl_config *conf = ld->conf;
	const struct sl_backend_conf *be;
	int i;

	for (i = 0; i < conf->nbackends; i++)
		if (strcmp(conf->backends[i].name, name) == 0)
			break;
	if (i == conf->nbackends)
		return sl_conf_fail(ld, line, -EINVAL, "key '%s': expected the name of a [backend "
				    "NAME] section, got '%s' (no such backend)", key, name);
	be = &conf->backends[i];
	if ((fe->mode == SL_FE_MODE_HTTP) != (be->mode != SL_BE_MODE_TCP))
		return sl_conf_fail(ld, line, -EINVAL, "key '%s': frontend '%s' has mode %s, so "
				    "expected a%s backend, got '%s' with mode %s (line %d)", key,
				    fe->name, fe->mode == SL_FE_MODE_HTTP ? "http" : "tcp",
				    fe->mode == SL_FE_MODE_HTTP ?
				    "n http-server-close or http-keep-alive" : " tcp",
				    be->name, be_modes[be->mode], be->line);
	return i;
}

/* Backend names become indexes: the default backend's, then each route's. */
static int resolve_frontend(struct loader *ld, struct sl_frontend_conf *fe)
{
	struct sl_route_conf *rt;
	int i, rc;

	/* Until now fe->backend holds the line of the backend key. */
	if ((rc = find_backend(ld, fe, "backend", fe->backend_name, fe->backend)) < 0)
		return rc;
	fe->backend = rc;
	for (i = 0; i < fe->nroutes; i++) {
		rt = &fe->routes[i];
		if ((rc = find_backend(ld, fe, "route", rt->backend_name, rt->line)) < 0)
			return rc;
		rt->backend = rc;
	}
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
		return sl_conf_fail(ld, 0, -EINVAL, "section [frontend NAME]: expected at least "
				    "one in the file, found none (line 0: the whole file)");
	for (i = 0; i < conf->nfrontends; i++) {
		if ((rc = resolve_frontend(ld, &conf->frontends[i])) < 0)
			return rc;
		if (conf->has_stats && strcmp(conf->frontends[i].name, "stats") == 0)
			return sl_conf_fail(ld, conf->frontends[i].line, -EINVAL, "section "
					    "[frontend stats]: the name 'stats' is reserved for the "
					    "built-in stats service while [global] sets 'stats'; "
					    "expected another frontend name");
	}
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
		return sl_conf_no_memory(ld);
	ld->conf = conf;
	snprintf(conf->path, sizeof(conf->path), "%s", name);
	conf->workers = sl_conf_auto_workers();
	conf->maxconn = 100000;
	conf->log = SL_LOG_STDOUT;
	conf->grace_ms = 5000;
	conf->ssl_ticket_rotate_ms = 3600 * 1000;
	conf->stats_interval_ms = 10000;
	conf->buffer_release_ms = 10000;
	line = ini_parse_stream(read_line, ld, on_key, ld);
	/* inih keeps going after its own syntax errors and returns the first one's
	 * line: it wins when it comes before ours. */
	if (line > 0 && (!ld->rc || line < ld->err_line)) {
		ld->rc = 0;
		sl_conf_fail(ld, line, -EINVAL, "syntax error: expected 'key = value', '[section]' "
			     "or a comment");
	} else if (line < 0) {
		sl_conf_no_memory(ld);
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
		return sl_conf_fail(&ld, 0, -EINVAL, "no file or no output given");
	ld.fp = fopen(file, "re");
	if (!ld.fp) {
		rc = -errno;
		return sl_conf_fail(&ld, 0, rc, "cannot open: %s", strerror(-rc));
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
		return sl_conf_fail(&ld, 0, -EINVAL, "no text or no output given");
	ld.text = text;
	return load(&ld, ld.file, out);
}

void sl_conf_free(struct sl_config *conf)
{
	int i;

	if (!conf)
		return;
	for (i = 0; i < conf->nfrontends; i++) {
		free(conf->frontends[i].binds);
		free(conf->frontends[i].routes);
	}
	for (i = 0; i < conf->nbackends; i++)
		free(conf->backends[i].servers);
	free(conf->frontends);
	free(conf->backends);
	free(conf);
}

int sl_conf_check_log(const struct sl_config *conf, char *err, size_t errlen)
{
	char dir[SL_CONF_PATH_MAX];
	struct stat st;
	char *slash;
	int fd, e;

	if (conf->log != SL_LOG_FILE)
		return 0;
	/* O_NONBLOCK: a FIFO without a reader must not hang sluice -c */
	fd = open(conf->log_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	e = errno;
	if (e == ENOENT) {
		/* not there yet: start-up creates it, in a directory that must be
		 * there and writable */
		snprintf(dir, sizeof(dir), "%s", conf->log_path);
		slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
			errno = ENOTDIR;
		else if (access(dir, W_OK | X_OK) == 0)
			return 0;
		e = errno;
	}
	snprintf(err, errlen, "%s:%d: key 'log': cannot open '%s' for appending: %s", conf->path,
		 conf->log_line, conf->log_path, strerror(e));
	return -e;
}
