/*
 * Small value parsers for the configuration (conf/ layer): durations, numbers,
 * sizes, names, socket addresses (resolved once, at load time), health checks,
 * http routes and the timeout name table. Pure functions over strings; the
 * loader (conf/conf.c, conf/conf_keys.c) turns their failures into
 * "FILE:LINE: key ..." messages. Depends on nothing of ours.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_value.h"

#define MS_PER_S 1000ULL
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define MS_PER_D (24 * MS_PER_H)

static const struct {
	const char *name;
	uint64_t def_ms;
} timeouts[SL_TO_COUNT] = {
	[SL_TO_CONNECT]         = { "timeout_connect", 5 * MS_PER_S },
	[SL_TO_CLIENT]          = { "timeout_client", 30 * MS_PER_S },
	[SL_TO_SERVER]          = { "timeout_server", 30 * MS_PER_S },
	[SL_TO_CLIENT_FIN]      = { "timeout_client_fin", 1 * MS_PER_S },
	[SL_TO_SERVER_FIN]      = { "timeout_server_fin", 1 * MS_PER_S },
	[SL_TO_HTTP_REQUEST]    = { "timeout_http_request", 10 * MS_PER_S },
	[SL_TO_HTTP_KEEP_ALIVE] = { "timeout_http_keep_alive", 10 * MS_PER_S },
	[SL_TO_QUEUE]           = { "timeout_queue", 5 * MS_PER_S },
	[SL_TO_CHECK]           = { "timeout_check", 2 * MS_PER_S },
	[SL_TO_TUNNEL]          = { "timeout_tunnel", 3600 * MS_PER_S },
};

const char *sl_conf_timeout_name(enum sl_timeout_kind k)
{
	if ((unsigned)k >= SL_TO_COUNT)
		return "timeout_unknown";
	return timeouts[k].name;
}

uint64_t sl_conf_timeout_default(enum sl_timeout_kind k)
{
	if ((unsigned)k >= SL_TO_COUNT)
		return 0;
	return timeouts[k].def_ms;
}

enum sl_timeout_kind sl_conf_timeout_by_name(const char *name)
{
	int k;

	for (k = 0; k < SL_TO_COUNT; k++)
		if (strcmp(name, timeouts[k].name) == 0)
			return (enum sl_timeout_kind)k;
	return SL_TO_COUNT;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Leading decimal digits of S into *v; returns the first non-digit, or NULL
 * when there is no digit or the value overflows 64 bits. */
static const char *scan_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;
	const char *p;

	for (p = s; is_digit(*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return NULL;
		n = n * 10 + d;
	}
	if (p == s)
		return NULL;
	*v = n;
	return p;
}

int sl_conf_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	uint64_t n;
	const char *end = scan_u64(s, &n);

	if (!end || *end || n < min || n > max)
		return -EINVAL;
	*v = n;
	return 0;
}

int sl_conf_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	uint64_t n;
	const char *end = scan_u64(s, &n);

	if (!end)
		return -EINVAL;
	if ((*end == 'k' || *end == 'K') && !end[1] && n <= UINT64_MAX / 1024)
		n *= 1024;
	else if (*end)
		return -EINVAL;
	if (n < min || n > max)
		return -EINVAL;
	*v = n;
	return 0;
}

int sl_conf_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", MS_PER_S }, { "m", MS_PER_M }, { "h", MS_PER_H },
		{ "d", MS_PER_D },
	};
	uint64_t n;
	const char *end = scan_u64(s, &n);
	size_t i;

	if (!end)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mult)
			return -EINVAL;
		*ms = n * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

/* The first N characters of S make a name (see sl_conf_valid_name()). */
static bool valid_name(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return n >= 1 && n < SL_CONF_NAME_MAX;
}

bool sl_conf_valid_name(const char *s)
{
	return valid_name(s, strlen(s));
}

/* Labels of [A-Za-z0-9_-] separated by single dots (a final dot is allowed).
 * A last label made of digits only is a malformed IPv4 address ("1.2.3",
 * "999.1.1.1"), which getaddrinfo() would otherwise accept in inet_aton()'s
 * legacy forms. */
static const char *check_hostname(const char *h)
{
	size_t n = strlen(h), i, label = 0;
	bool digits_only = true;

	if (n > 1 && h[n - 1] == '.')
		n--; /* fully qualified */
	for (i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (i == label)
				return "empty label in host name";
			label = i + 1;
			digits_only = true;
		} else if (is_alnum(h[i]) || h[i] == '-' || h[i] == '_') {
			digits_only = digits_only && is_digit(h[i]);
		} else {
			return "invalid character in host name";
		}
	}
	if (i == label)
		return "empty label in host name";
	if (digits_only)
		return "not a valid IPv4 address";
	return NULL;
}

/* Resolves HOST with getaddrinfo(), preferring an IPv4 address. */
static int resolve(const char *host, bool numeric_v6, struct sl_addr *addr, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai, *pick = NULL;
	int rc;

	hints.ai_family = numeric_v6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_flags = numeric_v6 ? AI_NUMERICHOST : 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		*why = numeric_v6 ? "not a valid IPv6 address" : gai_strerror(rc);
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
		if (ai->ai_family == AF_INET6 && !pick)
			pick = ai;
	}
	if (!pick || pick->ai_addrlen > sizeof(addr->ss)) {
		freeaddrinfo(res);
		*why = "host has no IPv4 or IPv6 address";
		return -EINVAL;
	}
	memcpy(&addr->ss, pick->ai_addr, pick->ai_addrlen);
	addr->len = pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

uint16_t sl_conf_addr_port(const struct sl_addr *addr)
{
	if (addr->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
}

void sl_conf_addr_set_port(struct sl_addr *addr, uint16_t port)
{
	if (addr->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&addr->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&addr->ss)->sin6_port = htons(port);
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host (copied to HOST) and port. */
static int split_host_port(const char *s, char *host, size_t hostlen, bool *bracket,
			   uint64_t *port, const char **why)
{
	const char *h = s, *colon;
	size_t n;

	*bracket = s[0] == '[';
	if (*bracket) {
		const char *close = strchr(s, ']');

		if (!close) {
			*why = "missing ']' after an IPv6 address";
			return -EINVAL;
		}
		h = s + 1;
		n = (size_t)(close - h);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1]) {
			*why = "expected ':' after ']'";
			return -EINVAL;
		}
	} else {
		colon = strrchr(s, ':');
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (colon && memchr(s, ':', n)) {
			*why = "an IPv6 address needs brackets, as in [::1]:80";
			return -EINVAL;
		}
	}
	if (!colon || !colon[1]) {
		*why = "missing port";
		return -EINVAL;
	}
	if (sl_conf_parse_uint(colon + 1, 1, 65535, port) < 0) {
		*why = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	if (n >= hostlen || (*bracket && n == 0)) {
		*why = n ? "host name too long" : "empty IPv6 address";
		return -EINVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

int sl_conf_parse_addr_why(const char *s, struct sl_addr *addr, const char **why)
{
	char host[256];
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;
	uint64_t port;
	bool bracket;
	int rc;

	*why = "";
	memset(addr, 0, sizeof(*addr));
	rc = split_host_port(s, host, sizeof(host), &bracket, &port, why);
	if (rc < 0)
		return rc;
	if (bracket) {
		rc = resolve(host, true, addr, why);
	} else if (!host[0] || inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET; /* "" leaves INADDR_ANY from the memset */
		addr->len = sizeof(*sin);
	} else if ((*why = check_hostname(host)) != NULL) {
		rc = -EINVAL;
	} else {
		rc = resolve(host, false, addr, why);
	}
	if (rc < 0) {
		memset(addr, 0, sizeof(*addr));
		return rc;
	}
	sl_conf_addr_set_port(addr, (uint16_t)port);
	*why = "";
	return 0;
}

int sl_conf_parse_ip(const char *s, struct sl_addr *addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->ss;
	char host[INET6_ADDRSTRLEN + 2];
	bool bracket = s[0] == '[';
	size_t n = strlen(s);

	memset(addr, 0, sizeof(*addr));
	if (n >= sizeof(host) || (bracket && (n < 3 || s[n - 1] != ']')))
		return -EINVAL;
	memcpy(host, s + bracket, n - 2 * bracket);
	host[n - 2 * bracket] = '\0';
	if (!bracket && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		addr->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		addr->len = sizeof(*sin6);
		return 0;
	}
	memset(addr, 0, sizeof(*addr));
	return -EINVAL;
}

/* RFC 9110 token characters, the only ones a method may use. */
static bool is_tchar(char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *check_http(const char *method, size_t mlen, const char *path,
			      size_t plen, struct sl_check_conf *cc)
{
	size_t i;

	if (mlen >= sizeof(cc->method))
		return "method too long";
	for (i = 0; i < mlen; i++)
		if (!is_tchar(method[i]))
			return "invalid character in the method";
	if (path[0] != '/')
		return "the path must start with '/'";
	if (plen >= sizeof(cc->path))
		return "path too long";
	for (i = 0; i < plen; i++)
		if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
			return "invalid character in the path";
	memcpy(cc->method, method, mlen);
	cc->method[mlen] = '\0';
	memcpy(cc->path, path, plen);
	cc->path[plen] = '\0';
	return NULL;
}

/* The next blank-separated word of *s: its start, with its length in *n. */
static const char *word(const char **s, size_t *n)
{
	const char *w = *s + strspn(*s, " \t");

	*n = strcspn(w, " \t");
	*s = w + *n;
	return w;
}

int sl_conf_parse_check(const char *s, struct sl_check_conf *cc, const char **why)
{
	size_t n, mlen, plen;
	const char *kind = word(&s, &n), *method, *path;

	*why = "";
	if (n == 3 && strncmp(kind, "tcp", 3) == 0 && !*word(&s, &n)) {
		cc->kind = SL_CHECK_TCP;
		return 0;
	}
	if (n != 4 || strncmp(kind, "http", 4) != 0) {
		*why = "unknown check type";
		return -EINVAL;
	}
	method = word(&s, &mlen);
	path = word(&s, &plen);
	if (!mlen || !plen || *word(&s, &n)) {
		*why = "an http check takes exactly a method and a path";
		return -EINVAL;
	}
	if ((*why = check_http(method, mlen, path, plen, cc)) != NULL)
		return -EINVAL;
	cc->kind = SL_CHECK_HTTP;
	*why = "";
	return 0;
}

/* A route's host: what a Host header holds without its port, that is a
 * name or IPv4 address of [A-Za-z0-9.-], or an IPv6 address in brackets. */
static const char *check_route_host(const char *h, size_t n)
{
	struct sl_addr a;
	char v6[SL_CONF_PATH_MAX];
	size_t i;

	if (n >= SL_CONF_PATH_MAX)
		return "host longer than 255 characters";
	if (h[0] == '[') {
		const char *close = memchr(h, ']', n);

		if (close && close + 1 < h + n && close[1] == ':')
			return "a host takes no port";
		memcpy(v6, h, n);
		v6[n] = '\0';
		if (sl_conf_parse_ip(v6, &a) < 0)
			return "expected an IPv6 address inside [ ]";
		return NULL;
	}
	if (memchr(h, ':', n))
		return memchr(h, ':', n) == memrchr(h, ':', n) ? "a host takes no port" :
		       "an IPv6 address needs brackets, as in [::1]";
	for (i = 0; i < n; i++) {
		if (h[i] == '.' && (i == 0 || h[i - 1] == '.'))
			return "empty label in host name";
		if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '.')
			return "invalid character in host name";
	}
	return NULL;
}

static const char *check_path_prefix(const char *p, size_t n)
{
	size_t i;

	if (p[0] != '/')
		return "the path prefix must start with '/'";
	if (n >= SL_CONF_PATH_MAX)
		return "path prefix longer than 255 characters";
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return "invalid character in the path prefix";
	return NULL;
}

int sl_conf_parse_route(const char *s, struct sl_route_conf *rt, const char **why)
{
	size_t klen, mlen, blen, nlen, i;
	const char *kind = word(&s, &klen), *match = word(&s, &mlen);
	const char *be = word(&s, &blen), *name = word(&s, &nlen);
	bool host = klen == 4 && strncmp(kind, "host", 4) == 0;

	if (!host && (klen != 11 || strncmp(kind, "path_prefix", 11) != 0))
		*why = "unknown match kind; expected host or path_prefix";
	else if (!mlen)
		*why = host ? "missing host name" : "missing path prefix";
	else if (blen != 7 || strncmp(be, "backend", 7) != 0)
		*why = "expected the word 'backend' after the match";
	else if (!nlen || *word(&s, &i))
		*why = "expected exactly one backend name after 'backend'";
	else if (!valid_name(name, nlen))
		*why = "a backend name is 1 to 63 characters from A-Z a-z 0-9 _ . -";
	else
		*why = host ? check_route_host(match, mlen) : check_path_prefix(match, mlen);
	if (*why)
		return -EINVAL;
	rt->kind = host ? SL_ROUTE_HOST : SL_ROUTE_PATH_PREFIX;
	for (i = 0; i < mlen; i++)
		rt->match[i] = host ? (char)tolower((unsigned char)match[i]) : match[i];
	rt->match[mlen] = '\0';
	memcpy(rt->backend_name, name, nlen);
	rt->backend_name[nlen] = '\0';
	*why = "";
	return 0;
}

int sl_conf_parse_status_range(const char *s, int *lo, int *hi)
{
	char low[8];
	const char *dash = strchr(s, '-');
	uint64_t a, b;
	size_t n = dash ? (size_t)(dash - s) : strlen(s);

	if (n >= sizeof(low))
		return -EINVAL;
	memcpy(low, s, n);
	low[n] = '\0';
	if (sl_conf_parse_uint(low, 100, 599, &a) < 0)
		return -EINVAL;
	b = a;
	if (dash && (sl_conf_parse_uint(dash + 1, 100, 599, &b) < 0 || b < a))
		return -EINVAL;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

int sl_conf_parse_addr(const char *s, struct sl_addr *addr)
{
	const char *why;

	return sl_conf_parse_addr_why(s, addr, &why);
}

const char *sl_conf_addr_str(const struct sl_addr *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (!buf || len == 0)
		return buf;
	if (addr && addr->ss.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&addr->ss;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (addr && addr->ss.ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)&addr->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

const char *sl_conf_sockaddr_str(const union sl_sockaddr *sa, char *buf, size_t len)
{
	struct sl_addr a = { .len = sizeof(*sa) };

	memcpy(&a.ss, sa, sizeof(*sa));
	return sl_conf_addr_str(&a, buf, len);
}
