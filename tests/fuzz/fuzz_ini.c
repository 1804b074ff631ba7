/*
 * libFuzzer target: the configuration loader from a buffer
 * (sl_conf_load_string: conf/conf.c, conf_keys.c, conf_value.c over inih).
 * Host names are never resolved here (getaddrinfo is limited to numeric
 * addresses and "localhost" below): a fuzzer must not query DNS. Properties:
 *  - an error is one line "fuzz.ini:LINE: ..." and no config;
 *  - a config accepted holds its invariants: every duration within its
 *    documented range (no value that would wrap a deadline), every backend
 *    reference in range, every frontend with a bind, every backend with a
 *    server;
 *  - loading the same text twice gives the same result.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "tests/fuzz/fuzz_util.h"

#define H24 (24ULL * 3600 * 1000)

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res);

/* Overrides libc's (and the sanitizers' weak interceptor): numeric hosts and
 * "localhost" only, which /etc/hosts answers without the network. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
			      struct addrinfo **);
	static gai_fn real;
	struct addrinfo h = { 0 };

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	if (!node || strcmp(node, "localhost") != 0)
		h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

static void timeouts_ok(const struct sl_timeouts *t, const char *who)
{
	for (int k = 0; k < SL_TO_COUNT; k++)
		FZ_CHECK(t->ms[k] >= 1 && t->ms[k] <= H24, "%s %s = %llu ms", who,
			 sl_conf_timeout_name((enum sl_timeout_kind)k),
			 (unsigned long long)t->ms[k]);
}

static void config_ok(const struct sl_config *c)
{
	FZ_CHECK(c->grace_ms <= H24, "grace %llu", (unsigned long long)c->grace_ms);
	FZ_CHECK(c->ssl_ticket_rotate_ms >= 1000 && c->ssl_ticket_rotate_ms <= 7 * H24,
		 "ssl_ticket_rotate %llu", (unsigned long long)c->ssl_ticket_rotate_ms);
	FZ_CHECK(c->nfrontends >= 1 && c->nbackends >= 1, "%d frontends, %d backends",
		 c->nfrontends, c->nbackends);
	for (int i = 0; i < c->nfrontends; i++) {
		const struct sl_frontend_conf *fe = &c->frontends[i];

		FZ_CHECK(fe->nbinds >= 1, "frontend %s without bind", fe->name);
		FZ_CHECK(fe->backend >= 0 && fe->backend < c->nbackends, "frontend %s backend %d",
			 fe->name, fe->backend);
		for (int r = 0; r < fe->nroutes; r++)
			FZ_CHECK(fe->routes[r].backend >= 0 && fe->routes[r].backend < c->nbackends,
				 "route backend %d", fe->routes[r].backend);
		timeouts_ok(&fe->timeouts, fe->name);
	}
	for (int i = 0; i < c->nbackends; i++) {
		const struct sl_backend_conf *be = &c->backends[i];

		FZ_CHECK(be->nservers >= 1, "backend %s without server", be->name);
		FZ_CHECK(be->pool_idle_timeout_ms <= H24 && be->pool_max_lifetime_ms <= 7 * H24 &&
			 be->pool_purge_interval_ms <= H24 &&
			 (be->pool_purge_interval_ms == 0 || be->pool_purge_interval_ms >= 10),
			 "pool durations of %s", be->name);
		FZ_CHECK(be->pool_max_idle_set || be->pool_max_idle == 0, "pool_max_idle auto of %s",
			 be->name);
		FZ_CHECK(be->check.interval_ms <= H24, "check_interval of %s", be->name);
		timeouts_ok(&be->timeouts, be->name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_config *c = NULL, *c2 = NULL;
	char err[512] = "", err2[512] = "";
	char *text = malloc(size + 1);
	int rc, rc2;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	rc = sl_conf_load_string("fuzz.ini", text, &c, err, sizeof(err));
	if (rc == 0) {
		FZ_CHECK(c != NULL, "no config");
		config_ok(c);
	} else {
		FZ_CHECK(c == NULL, "a config with an error");
		FZ_CHECK(!strncmp(err, "fuzz.ini:", 9) && !strchr(err, '\n'), "error '%s'", err);
	}
	rc2 = sl_conf_load_string("fuzz.ini", text, &c2, err2, sizeof(err2));
	FZ_CHECK(rc == rc2 && !strcmp(err, err2), "second load: %d '%s' vs %d '%s'", rc, err, rc2,
		 err2);
	sl_conf_free(c);
	sl_conf_free(c2);
	free(text);
	return 0;
}
