/*
 * The configuration keys (conf/ layer): for each section kind, the table of
 * its keys and the setter that checks one value and stores it into the
 * struct sl_config being built, failing with "FILE:LINE: key 'K': expected
 * ..., got '...'". Also the end-of-section check of keys that only some
 * modes, or only frontends with an ssl bind, read. The reader, the dispatch
 * and the cross-references are in conf/conf.c; the pure value parsers in
 * conf/conf_value.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_loader.h"
#include "conf/conf_value.h"

#define MAXCONN_MAX 10000000
#define WORKERS_MAX 256
#define WEIGHT_MAX 256
#define SERVER_MAXCONN_MAX 1000000
#define CHECK_COUNT_MAX 100
#define KEEPALIVE_REQUESTS_MAX 100000000
#define HEADER_SIZE_MIN 1024
#define HEADER_SIZE_MAX (1024 * 1024)
#define HEADERS_MAX 1000
#define H2_STREAMS_MAX 10000
#define POOL_IDLE_MAX 100000
#define POOL_REQUESTS_MAX 100000000

#define ADDR_LIKE "1.2.3.4:80, [::1]:80, :80 or host:80"
#define SERVER_LIKE "NAME HOST:PORT [weight=N] [maxconn=N] [backup] [disabled] " \
	"[check [check_port=N] [check_addr=IP]] [send_proxy | send_proxy_v2]"
#define ROUTE_LIKE "host NAME backend B or path_prefix /PATH backend B"

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
	return sl_conf_bad_value(ld, key, expected, value);
}

static int parse_num(struct loader *ld, const char *key, const char *value,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	char expected[64];

	if (sl_conf_parse_uint(value, min, max, out) == 0)
		return 0;
	snprintf(expected, sizeof(expected), "a number from %llu to %llu",
		 (unsigned long long)min, (unsigned long long)max);
	return sl_conf_bad_value(ld, key, expected, value);
}

/* A number key stored into a uint32_t field (MAX fits). */
static int set_u32(struct loader *ld, const char *key, const char *value, uint64_t min,
		   uint64_t max, uint32_t *out)
{
	uint64_t n;
	int rc = parse_num(ld, key, value, min, max, &n);

	if (rc == 0)
		*out = (uint32_t)n;
	return rc;
}

static int parse_addr(struct loader *ld, const char *key, const char *value,
		      struct sl_addr *addr)
{
	const char *why;

	if (sl_conf_parse_addr_why(value, addr, &why) == 0)
		return 0;
	return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': expected ADDR:PORT like %s (%s), "
			    "got '%s'", key, ADDR_LIKE, why, value);
}

/* ---- [global] ---- */

int sl_conf_auto_workers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : (int)cpus;
}

static int set_workers(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;

	if (strcmp(value, "auto") == 0) {
		ld->conf->workers = sl_conf_auto_workers();
		return 0;
	}
	if (sl_conf_parse_uint(value, 1, WORKERS_MAX, &n) < 0)
		return sl_conf_bad_value(ld, key, "auto or a number from 1 to 256", value);
	ld->conf->workers = (int)n;
	return 0;
}

static int set_global_maxconn(struct loader *ld, const char *key, const char *value)
{
	ld->conf->maxconn_set = true;
	return set_u32(ld, key, value, 1, MAXCONN_MAX, &ld->conf->maxconn);
}

static int set_stats(struct loader *ld, const char *key, const char *value)
{
	int rc = parse_addr(ld, key, value, &ld->conf->stats);

	ld->conf->has_stats = rc == 0;
	return rc;
}

static int set_log_format(struct loader *ld, const char *key, const char *value)
{
	if (strcmp(value, "text") == 0)
		ld->conf->log_json = false;
	else if (strcmp(value, "json") == 0)
		ld->conf->log_json = true;
	else
		return sl_conf_bad_value(ld, key, "text or json", value);
	return 0;
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
		return sl_conf_bad_value(ld, key, "stdout, stderr, off or a file path shorter than "
					 "256 characters", value);
	conf->log = SL_LOG_FILE;
	conf->log_line = ld->lineno;
	strcpy(conf->log_path, value);
	return 0;
}

/* A unix socket path: sun_path holds 107 characters and the NUL. */
static int set_admin(struct loader *ld, const char *key, const char *value)
{
	struct sl_config *conf = ld->conf;

	if (!value[0] || strlen(value) >= sizeof(conf->admin))
		return sl_conf_bad_value(ld, key, "a unix socket path shorter than 108 characters",
					 value);
	strcpy(conf->admin, value);
	return 0;
}

static int set_ssl_ticket_rotate(struct loader *ld, const char *key, const char *value)
{
	uint64_t ms;

	int rc = sl_conf_duration(ld, key, value, TICKET_ROTATE_MIN, TICKET_ROTATE_MAX, &ms);

	if (rc == 0)
		ld->conf->ssl_ticket_rotate_ms = ms;
	return rc;
}

/* How often the stats history samples the counters (core/stats_hist.c). */
static int set_stats_interval(struct loader *ld, const char *key, const char *value)
{
	uint64_t ms;

	if (sl_conf_parse_duration(value, &ms) < 0 || ms < 100 || ms > 3600 * 1000)
		return sl_conf_bad_value(ld, key, "a duration from 100ms to 1h, like 10s", value);
	ld->conf->stats_interval_ms = ms;
	return 0;
}

/* recv_buffers = fixed | incremental: one 16 KiB provided buffer per
 * receive (the default), or large buffers the kernel fills with many
 * receives (Linux 6.17+; older kernels get fixed ones anyway; ring/slice.c
 * and the README say why it is not the default). */
static int set_recv_buffers(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "incremental", "fixed", NULL };
	int v = 1;
	int rc = parse_enum(ld, key, value, names, "fixed or incremental", &v);

	if (rc == 0)
		ld->conf->recv_buffers_inc = v == 0;
	return rc;
}

/* How often each worker reviews its receive-buffer pool and gives the
 * memory of buffers unused for that long back to the kernel (ring/bufpool.c). */
static int set_buffer_release(struct loader *ld, const char *key, const char *value)
{
	uint64_t ms;

	if (sl_conf_parse_duration(value, &ms) < 0 || ms < 100 || ms > 3600 * 1000)
		return sl_conf_bad_value(ld, key, "a duration from 100ms to 1h, like 10s", value);
	ld->conf->buffer_release_ms = ms;
	return 0;
}

/* How server sockets are opened (core/conn.c): direct descriptors through
 * the ring where the kernel allows it, or socket(2) always. */
static int set_server_sockets(struct loader *ld, const char *key, const char *value)
{
	if (strcmp(value, "direct") == 0)
		ld->conf->server_sockets_plain = false;
	else if (strcmp(value, "plain") == 0)
		ld->conf->server_sockets_plain = true;
	else
		return sl_conf_bad_value(ld, key, "direct or plain", value);
	return 0;
}

static int set_grace(struct loader *ld, const char *key, const char *value)
{
	/* 0 is allowed here: it means stop at once, without draining. */
	return sl_conf_duration(ld, key, value, 0, GRACE_MAX, &ld->conf->grace_ms);
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
		return sl_conf_bad_value(ld, key, "a backend name of " NAME_LIKE, value);
	strcpy(fe->backend_name, value);
	/* Holds the line of this key until resolve_frontend() stores the index. */
	fe->backend = ld->lineno;
	return 0;
}

static int set_fe_maxconn(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, MAXCONN_MAX, &cur_fe(ld)->maxconn);
}

static int set_maxconn_per_source(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, MAXCONN_MAX, &cur_fe(ld)->maxconn_per_source);
}

static int set_keepalive_requests(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, KEEPALIVE_REQUESTS_MAX,
		       &cur_fe(ld)->keepalive_requests);
}

/* A frontend switch of two values: *second is whether it was set to the
 * second of names (what: the values, for the error message). */
static int set_switch(struct loader *ld, const char *key, const char *value,
		      const char *const names[3], const char *what, bool *second)
{
	int v = 0;
	int rc = parse_enum(ld, key, value, names, what, &v);

	if (rc == 0)
		*second = v == 1;
	return rc;
}

static const char *const on_off[] = { "on", "off", NULL };

static int set_forwardfor(struct loader *ld, const char *key, const char *value)
{
	return set_switch(ld, key, value, on_off, "on or off", &cur_fe(ld)->forwardfor_off);
}

/* request_id = HEADER-NAME: a field name (RFC 9110 token), at most 63 bytes. */
static int set_request_id(struct loader *ld, const char *key, const char *value)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t n = strlen(value);

	for (size_t i = 0; i < n; i++)
		if (!((value[i] >= 'a' && value[i] <= 'z') || (value[i] >= 'A' && value[i] <= 'Z') ||
		      (value[i] >= '0' && value[i] <= '9') || strchr(tchar, value[i])))
			n = 0;
	if (n == 0 || n >= sizeof(cur_fe(ld)->request_id))
		return sl_conf_bad_value(ld, key, "a header name like X-Request-ID (1 to 63 "
					 "token characters)", value);
	memcpy(cur_fe(ld)->request_id, value, n + 1);
	return 0;
}

static int set_path_normalize(struct loader *ld, const char *key, const char *value)
{
	return set_switch(ld, key, value, on_off, "on or off", &cur_fe(ld)->path_normalize_off);
}

static int set_h2(struct loader *ld, const char *key, const char *value)
{
	return set_switch(ld, key, value, on_off, "on or off", &cur_fe(ld)->h2_off);
}

/* lingering_close = always (the default: every close after a response
 * lingers) or on (nginx's rule: a client that asked for the close is closed
 * at once; proto/http.c, close_at_once). */
static int set_lingering_close(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "always", "on", NULL };

	return set_switch(ld, key, value, names, "always or on", &cur_fe(ld)->linger_on);
}

static int set_h2_max_streams(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, H2_STREAMS_MAX, &cur_fe(ld)->h2_max_streams);
}

/* HTTP/2 receive windows: 1 KiB to 16 MiB (the protocol's limit is 2^31-1;
 * what a window lets in, sluice buffers: keep it bounded). */
static int set_h2_window(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;

	if (sl_conf_parse_size(value, 1024, 16u << 20, &n) < 0)
		return sl_conf_bad_value(ld, key, "a size from 1k to 16384k (bytes, or k suffix)",
					 value);
	if (!strcmp(key, "h2_initial_window_size"))
		cur_fe(ld)->h2_window = (uint32_t)n;
	else
		cur_fe(ld)->h2_conn_window = (uint32_t)n;
	return 0;
}

static int set_max_header_size(struct loader *ld, const char *key, const char *value)
{
	uint64_t n;

	if (sl_conf_parse_size(value, HEADER_SIZE_MIN, HEADER_SIZE_MAX, &n) < 0)
		return sl_conf_bad_value(ld, key, "a size in bytes from 1024 to 1048576, or in "
					 "KiB from 1k to 1024k", value);
	cur_fe(ld)->max_header_size = (uint32_t)n;
	return 0;
}

static int set_max_headers(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, HEADERS_MAX, &cur_fe(ld)->max_headers);
}

static int set_ssl_min_version(struct loader *ld, const char *key, const char *value)
{
	static const char *const names[] = { "1.2", "1.3", NULL };
	int v = 0;
	int rc = parse_enum(ld, key, value, names, "1.2 or 1.3", &v);

	if (rc == 0)
		cur_fe(ld)->ssl_min_version = (uint8_t)(12 + v);
	return rc;
}

/* route = host NAME backend B | path_prefix /PATH backend B. Routes are
 * tried in file order, so the same match twice could never be reached. The
 * backend is resolved by name once the whole file is read. */
static int add_route(struct loader *ld, const char *key, const char *value)
{
	struct sl_frontend_conf *fe = cur_fe(ld);
	struct sl_route_conf rt = { .backend = -1, .line = ld->lineno };
	const char *why;
	int i;

	if (sl_conf_parse_route(value, &rt, &why) < 0)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': expected " ROUTE_LIKE
				    " (%s), got '%s'", key, why, value);
	for (i = 0; i < fe->nroutes; i++)
		if (fe->routes[i].kind == rt.kind && strcmp(fe->routes[i].match, rt.match) == 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': %s '%s' is "
					    "already routed at line %d; expected each match "
					    "once, got '%s'", key, rt.kind == SL_ROUTE_HOST ?
					    "host" : "path_prefix", rt.match,
					    fe->routes[i].line, value);
	if (sl_conf_grow(&fe->routes, fe->nroutes, sizeof(*fe->routes)) < 0)
		return sl_conf_no_memory(ld);
	fe->routes[fe->nroutes++] = rt;
	return 0;
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

			if (o->addr.len != addr->len || memcmp(&o->addr.ss, &addr->ss, addr->len))
				continue;
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': address %s is "
					    "already bound at line %d", key,
					    sl_conf_addr_str(addr, s, sizeof(s)), o->line);
		}
	}
	return 0;
}

/* crt=a.pem,b.pem: no empty path, none longer than a path may be. */
static bool crt_list_ok(const char *list)
{
	const char *p = list;

	for (;;) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= SL_CONF_PATH_MAX)
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

static int bind_option(struct loader *ld, const char *key, const char *value,
		       const char *tok, struct sl_bind_conf *b)
{
	const char *crt = strncmp(tok, "crt=", 4) == 0 ? tok + 4 : NULL;
	const char *ca = strncmp(tok, "ca=", 3) == 0 ? tok + 3 : NULL;
	const char *vf = strncmp(tok, "verify=", 7) == 0 ? tok + 7 : NULL;

	if ((strcmp(tok, "ssl") == 0 && b->ssl) || (strcmp(tok, "accept_proxy") == 0 &&
	    b->accept_proxy) || (crt && b->crt[0]) || (ca && b->ca[0]) || (vf && b->verify))
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option '%s' given twice, "
				    "got '%s'", key, tok, value);
	if (strcmp(tok, "ssl") == 0) {
		b->ssl = true;
	} else if (strcmp(tok, "accept_proxy") == 0) {
		b->accept_proxy = true;
	} else if (crt) {
		if (!crt_list_ok(crt) || strlen(crt) >= sizeof(b->crt))
			return sl_conf_bad_value(ld, key, "crt=PATH[,PATH...] with no empty path",
						 value);
		strcpy(b->crt, crt);
	} else if (ca) {
		if (!*ca || strlen(ca) >= sizeof(b->ca))
			return sl_conf_bad_value(ld, key, "ca=PATH (a PEM file of CA certificates)",
						 value);
		strcpy(b->ca, ca);
	} else if (vf) {
		if (strcmp(vf, "required") && strcmp(vf, "optional"))
			return sl_conf_bad_value(ld, key, "verify=required or verify=optional",
						 value);
		b->verify = strcmp(vf, "required") ? SL_VERIFY_OPTIONAL : SL_VERIFY_REQUIRED;
	} else {
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': unknown option '%s'; "
				    "expected ssl, crt=PATH, ca=PATH, verify=required|optional or "
				    "accept_proxy, got '%s'", key, tok, value);
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
		return sl_conf_bad_value(ld, key, "ADDR:PORT [ssl crt=PATH [ca=PATH "
					 "[verify=required|optional]]] [accept_proxy]", value);
	if ((rc = parse_addr(ld, key, tok, &b.addr)) < 0)
		return rc;
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL)
		if ((rc = bind_option(ld, key, value, tok, &b)) < 0)
			return rc;
	if (b.ssl && !b.crt[0])
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option 'ssl' expects "
				    "crt=PATH too, got '%s'", key, value);
	if (b.crt[0] && !b.ssl)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option crt=PATH expects "
				    "'ssl' too, got '%s'", key, value);
	/* (verify= takes no "none": verify is set exactly when it was given) */
	if ((b.ca[0] || b.verify) && !b.ssl)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': options ca= and verify= "
				    "are for client certificates, which expect 'ssl' too, got '%s'",
				    key, value);
	if (b.verify && !b.ca[0])
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option verify= expects "
				    "ca=PATH too (the CAs a client certificate must chain to), "
				    "got '%s'", key, value);
	if (b.ca[0] && !b.verify)
		b.verify = SL_VERIFY_REQUIRED; /* a CA given is a CA enforced */
	if ((rc = check_bind_unique(ld, key, &b.addr)) < 0)
		return rc;
	if (sl_conf_grow(&fe->binds, fe->nbinds, sizeof(*fe->binds)) < 0)
		return sl_conf_no_memory(ld);
	fe->binds[fe->nbinds++] = b;
	return 0;
}

/* ---- [backend NAME] ---- */

static const char *const be_modes[] = { "tcp", "http-server-close", "http-keep-alive", NULL };

static int set_be_mode(struct loader *ld, const char *key, const char *value)
{
	int v = 0;
	int rc = parse_enum(ld, key, value, be_modes, "tcp, http-server-close or http-keep-alive",
			    &v);

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
	       (strncmp(tok, "maxconn=", 8) == 0 && s->maxconn) ||
	       (strcmp(tok, "backup") == 0 && s->backup) ||
	       (strcmp(tok, "disabled") == 0 && s->disabled) ||
	       (strcmp(tok, "check") == 0 && s->check) ||
	       ((strcmp(tok, "send_proxy") == 0 || strcmp(tok, "send_proxy_v2") == 0) &&
		s->send_proxy) ||
	       (strncmp(tok, "check_port=", 11) == 0 && o->port_set) ||
	       (strncmp(tok, "check_addr=", 11) == 0 && o->ip_set);
}

static int server_option(struct loader *ld, const char *key, const char *value,
			 const char *tok, struct sl_server_conf *s, struct server_opts *o)
{
	uint64_t n;

	if (option_given(tok, s, o))
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option '%s' given twice, "
				    "got '%s'", key, tok, value);
	if (strncmp(tok, "weight=", 7) == 0) {
		if (sl_conf_parse_uint(tok + 7, 1, WEIGHT_MAX, &n) < 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option weight= "
					    "expects a number from 1 to 256, got '%s'", key, tok);
		s->weight = (int)n;
		o->weighted = true;
	} else if (strncmp(tok, "maxconn=", 8) == 0) {
		if (sl_conf_parse_uint(tok + 8, 1, SERVER_MAXCONN_MAX, &n) < 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option maxconn= "
					    "expects a number from 1 to 1000000, got '%s'",
					    key, tok);
		s->maxconn = (uint32_t)n;
	} else if (strcmp(tok, "backup") == 0) {
		s->backup = true;
	} else if (strcmp(tok, "disabled") == 0) {
		s->disabled = true;
	} else if (strcmp(tok, "check") == 0) {
		s->check = true;
	} else if (strcmp(tok, "send_proxy") == 0) {
		s->send_proxy = 1;
	} else if (strcmp(tok, "send_proxy_v2") == 0) {
		s->send_proxy = 2;
	} else if (strncmp(tok, "check_port=", 11) == 0) {
		if (sl_conf_parse_uint(tok + 11, 1, 65535, &n) < 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option check_port= "
					    "expects a port from 1 to 65535, got '%s'", key, tok);
		o->port = (uint16_t)n;
		o->port_set = true;
	} else if (strncmp(tok, "check_addr=", 11) == 0) {
		if (sl_conf_parse_ip(tok + 11, &o->ip) < 0)
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option check_addr= "
					    "expects an IP address like 10.0.0.1 or ::1, got '%s'",
					    key, tok);
		o->ip_set = true;
	} else {
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': unknown option '%s'; "
				    "expected weight=N, maxconn=N, backup, disabled, check, "
				    "check_port=N, check_addr=IP, send_proxy or send_proxy_v2, "
				    "got '%s'", key, tok, value);
	}
	return 0;
}

/* Where checks of S connect: its address unless check_addr= or check_port=
 * say otherwise. Those two only make sense with "check". */
static int server_check_addr(struct loader *ld, const char *key, const char *value,
			     struct sl_server_conf *s, const struct server_opts *o)
{
	if ((o->port_set || o->ip_set) && !s->check)
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': option %s expects "
				    "'check' too, got '%s'", key,
				    o->port_set ? "check_port=" : "check_addr=", value);
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
		return sl_conf_bad_value(ld, key, SERVER_LIKE, value);
	if (!sl_conf_valid_name(name))
		return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': expected a server name of "
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
			return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': duplicate server "
					    "name '%s' in %s (first at line %d)", key, s.name,
					    ld->sec_label, be->servers[i].line);
	if (sl_conf_grow(&be->servers, be->nservers, sizeof(*be->servers)) < 0)
		return sl_conf_no_memory(ld);
	be->servers[be->nservers++] = s;
	return 0;
}

/* check = tcp | http METHOD PATH */
static int set_check(struct loader *ld, const char *key, const char *value)
{
	const char *why;

	if (sl_conf_parse_check(value, &cur_be(ld)->check, &why) == 0)
		return 0;
	return sl_conf_fail(ld, ld->lineno, -EINVAL, "key '%s': expected tcp or http METHOD PATH "
			    "like 'http GET /health' (%s), got '%s'", key, why, value);
}

static int set_check_expect(struct loader *ld, const char *key, const char *value)
{
	struct sl_check_conf *cc = &cur_be(ld)->check;

	if (sl_conf_parse_status_range(value, &cc->expect_lo, &cc->expect_hi) == 0)
		return 0;
	return sl_conf_bad_value(ld, key, "an HTTP status from 100 to 599, or a range LOW-HIGH "
				 "like 200-399", value);
}

static int set_check_interval(struct loader *ld, const char *key, const char *value)
{
	uint64_t ms;

	int rc = sl_conf_duration(ld, key, value, 1, CHECK_INTERVAL_MAX, &ms);

	if (rc == 0)
		cur_be(ld)->check.interval_ms = ms;
	return rc;
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

/* ---- http-keep-alive connection pool ---- */

/* "auto" (the default) lets each idle list follow recent demand; a number
 * is a fixed cap, and 0 is a setting of its own (keep no idle connection),
 * hence _set. */
static int set_pool_max_idle(struct loader *ld, const char *key, const char *value)
{
	struct sl_backend_conf *be = cur_be(ld);
	uint64_t n;

	if (strcmp(value, "auto") == 0) {
		be->pool_max_idle = 0;
		be->pool_max_idle_set = false;
		return 0;
	}
	if (sl_conf_parse_uint(value, 0, POOL_IDLE_MAX, &n) < 0)
		return sl_conf_bad_value(ld, key, "auto or a number from 0 to 100000", value);
	be->pool_max_idle = (uint32_t)n;
	be->pool_max_idle_set = true;
	return 0;
}

static int set_pool_purge_interval(struct loader *ld, const char *key, const char *value)
{
	return sl_conf_duration(ld, key, value, POOL_PURGE_INTERVAL_MIN, POOL_PURGE_INTERVAL_MAX,
				&cur_be(ld)->pool_purge_interval_ms);
}

/* pool_idle_timeout and pool_max_lifetime */
static int set_pool_duration(struct loader *ld, const char *key, const char *value)
{
	struct sl_backend_conf *be = cur_be(ld);
	bool idle = strcmp(key, "pool_idle_timeout") == 0;
	uint64_t ms;
	int rc = sl_conf_duration(ld, key, value, 1,
				  idle ? POOL_IDLE_TIMEOUT_MAX : POOL_MAX_LIFETIME_MAX, &ms);

	if (rc < 0)
		return rc;
	if (idle)
		be->pool_idle_timeout_ms = ms;
	else
		be->pool_max_lifetime_ms = ms;
	return 0;
}

static int set_pool_max_requests(struct loader *ld, const char *key, const char *value)
{
	return set_u32(ld, key, value, 1, POOL_REQUESTS_MAX, &cur_be(ld)->pool_max_requests);
}

/* ---- key tables ---- */

/* Unknown-key messages list the keys in table order. */
static const struct key_def global_keys[] = {
	{ "workers", K_WORKERS, false, NEED_ANY, set_workers },
	{ "maxconn", K_MAXCONN, false, NEED_ANY, set_global_maxconn },
	{ "stats", K_STATS, false, NEED_ANY, set_stats },
	{ "log", K_LOG, false, NEED_ANY, set_log },
	{ "log_format", K_LOG_FORMAT, false, NEED_ANY, set_log_format },
	{ "grace", K_GRACE, false, NEED_ANY, set_grace },
	{ "ssl_ticket_rotate", K_SSL_TICKET_ROTATE, false, NEED_ANY, set_ssl_ticket_rotate },
	{ "admin", K_ADMIN, false, NEED_ANY, set_admin },
	{ "stats_interval", K_STATS_INTERVAL, false, NEED_ANY, set_stats_interval },
	{ "buffer_release", K_BUFFER_RELEASE, false, NEED_ANY, set_buffer_release },
	{ "recv_buffers", K_RECV_BUFFERS, false, NEED_ANY, set_recv_buffers },
	{ "server_sockets", K_SERVER_SOCKETS, false, NEED_ANY, set_server_sockets },
	{ NULL, K_COUNT, false, NEED_ANY, NULL },
};

static const struct key_def defaults_keys[] = {
	{ NULL, K_COUNT, false, NEED_ANY, NULL },
};

static const struct key_def frontend_keys[] = {
	{ "bind", K_BIND, true, NEED_ANY, add_bind },
	{ "mode", K_MODE, false, NEED_ANY, set_fe_mode },
	{ "backend", K_BACKEND, false, NEED_ANY, set_fe_backend },
	{ "maxconn", K_MAXCONN, false, NEED_ANY, set_fe_maxconn },
	{ "maxconn_per_source", K_MAXCONN_PER_SOURCE, false, NEED_ANY, set_maxconn_per_source },
	{ "keepalive_requests", K_KEEPALIVE_REQUESTS, false, NEED_HTTP_FRONTEND,
	  set_keepalive_requests },
	{ "forwardfor", K_FORWARDFOR, false, NEED_HTTP_FRONTEND, set_forwardfor },
	{ "max_header_size", K_MAX_HEADER_SIZE, false, NEED_HTTP_FRONTEND, set_max_header_size },
	{ "max_headers", K_MAX_HEADERS, false, NEED_HTTP_FRONTEND, set_max_headers },
	{ "route", K_ROUTE, true, NEED_HTTP_FRONTEND, add_route },
	{ "request_id", K_REQUEST_ID, false, NEED_HTTP_FRONTEND, set_request_id },
	{ "path_normalize", K_PATH_NORMALIZE, false, NEED_HTTP_FRONTEND, set_path_normalize },
	{ "ssl_min_version", K_SSL_MIN_VERSION, false, NEED_SSL_BIND, set_ssl_min_version },
	{ "h2", K_H2, false, NEED_HTTP_FRONTEND, set_h2 },
	{ "h2_max_concurrent_streams", K_H2_MAX_STREAMS, false, NEED_HTTP_FRONTEND,
	  set_h2_max_streams },
	{ "h2_initial_window_size", K_H2_WINDOW, false, NEED_HTTP_FRONTEND, set_h2_window },
	{ "h2_connection_window_size", K_H2_CONN_WINDOW, false, NEED_HTTP_FRONTEND,
	  set_h2_window },
	{ "lingering_close", K_LINGERING_CLOSE, false, NEED_HTTP_FRONTEND, set_lingering_close },
	{ NULL, K_COUNT, false, NEED_ANY, NULL },
};

static const struct key_def backend_keys[] = {
	{ "mode", K_MODE, false, NEED_ANY, set_be_mode },
	{ "balance", K_BALANCE, false, NEED_ANY, set_balance },
	{ "server", K_SERVER, true, NEED_ANY, add_server },
	{ "check", K_CHECK, false, NEED_ANY, set_check },
	{ "check_expect", K_CHECK_EXPECT, false, NEED_ANY, set_check_expect },
	{ "check_interval", K_CHECK_INTERVAL, false, NEED_ANY, set_check_interval },
	{ "check_rise", K_CHECK_RISE, false, NEED_ANY, set_check_count },
	{ "check_fall", K_CHECK_FALL, false, NEED_ANY, set_check_count },
	{ "pool_max_idle", K_POOL_MAX_IDLE, false, NEED_KEEP_ALIVE_BACKEND, set_pool_max_idle },
	{ "pool_idle_timeout", K_POOL_IDLE_TIMEOUT, false, NEED_KEEP_ALIVE_BACKEND,
	  set_pool_duration },
	{ "pool_max_lifetime", K_POOL_MAX_LIFETIME, false, NEED_KEEP_ALIVE_BACKEND,
	  set_pool_duration },
	{ "pool_max_requests", K_POOL_MAX_REQUESTS, false, NEED_KEEP_ALIVE_BACKEND,
	  set_pool_max_requests },
	{ "pool_purge_interval", K_POOL_PURGE_INTERVAL, false, NEED_KEEP_ALIVE_BACKEND,
	  set_pool_purge_interval },
	{ NULL, K_COUNT, false, NEED_ANY, NULL },
};

const struct key_def *sl_conf_keys(enum sec_kind sec)
{
	static const struct key_def *const tables[] = {
		[SEC_NONE] = defaults_keys, [SEC_GLOBAL] = global_keys,
		[SEC_DEFAULTS] = defaults_keys, [SEC_FRONTEND] = frontend_keys,
		[SEC_BACKEND] = backend_keys,
	};

	return tables[sec];
}

/* Whether the current section reads the keys that have NEED. Each need
 * belongs to keys of one section kind, so cur_fe()/cur_be() is the right one. */
static bool need_met(struct loader *ld, enum key_need need)
{
	const struct sl_frontend_conf *fe;
	int i;

	if (need == NEED_HTTP_FRONTEND)
		return cur_fe(ld)->mode == SL_FE_MODE_HTTP;
	if (need == NEED_KEEP_ALIVE_BACKEND)
		return cur_be(ld)->mode == SL_BE_MODE_HTTP_KEEP_ALIVE;
	if (need == NEED_SSL_BIND) {
		fe = cur_fe(ld);
		for (i = 0; i < fe->nbinds && !fe->binds[i].ssl; i++)
			;
		return i < fe->nbinds;
	}
	return true;
}

int sl_conf_check_ignored_keys(struct loader *ld)
{
	const struct key_def *d, *first = NULL;

	for (d = sl_conf_keys(ld->sec); d->name; d++)
		if (ld->key_line[d->id] && !need_met(ld, d->need) &&
		    (!first || ld->key_line[d->id] < ld->key_line[first->id]))
			first = d;
	if (!first)
		return 0;
	if (first->need == NEED_SSL_BIND)
		return sl_conf_fail(ld, ld->key_line[first->id], -EINVAL, "key '%s': has no effect: "
				    "%s has no ssl bind (expected bind = ADDR:PORT ssl crt=PEM in "
				    "the section, or no %s)", first->name, ld->sec_label,
				    first->name);
	if (first->need == NEED_KEEP_ALIVE_BACKEND)
		return sl_conf_fail(ld, ld->key_line[first->id], -EINVAL, "key '%s': only for mode "
				    "http-keep-alive backends; %s has mode %s (expected mode = "
				    "http-keep-alive)", first->name, ld->sec_label,
				    be_modes[cur_be(ld)->mode]);
	return sl_conf_fail(ld, ld->key_line[first->id], -EINVAL, "key '%s': %s; %s has mode "
			    "tcp (expected mode = http)", first->name, first->id == K_ROUTE ?
			    "route needs mode http" : "only for mode http frontends",
			    ld->sec_label);
}
