/*
 * Value parsers shared inside the conf/ layer (conf/ layer, private header):
 * the public ones are in conf/conf.h; these variants also say why a value was
 * rejected so that the loader's messages can be precise. Not for other layers.
 */
#ifndef SL_CONF_CONF_VALUE_H
#define SL_CONF_CONF_VALUE_H

#include <stdbool.h>
#include <stdint.h>
#include "conf/conf-t.h"

/* Like sl_conf_parse_addr(); on -EINVAL *why (static text) says what was wrong. */
int sl_conf_parse_addr_why(const char *s, struct sl_addr *addr, const char **why);

/* Decimal digits only (no sign, no spaces), MIN <= value <= MAX.
 * Returns 0 and sets *v, or -EINVAL. */
int sl_conf_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* A frontend, backend or server name: 1..63 characters of [A-Za-z0-9_.-]. */
bool sl_conf_valid_name(const char *s);

/* "tcp" or "http METHOD PATH" into cc->kind, method and path (other fields
 * untouched). Returns 0, or -EINVAL with *why (static text) saying what. */
int sl_conf_parse_check(const char *s, struct sl_check_conf *cc, const char **why);

/* A size in bytes: decimal digits, optionally followed by k or K (times
 * 1024), MIN <= value <= MAX. Returns 0 and sets *v, or -EINVAL. */
int sl_conf_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* "host NAME backend B" or "path_prefix /PATH backend B" into rt->kind,
 * match (a host stored lowercase) and backend_name; other fields untouched.
 * Returns 0, or -EINVAL with *why (static text) saying what was wrong. */
int sl_conf_parse_route(const char *s, struct sl_route_conf *rt, const char **why);

/* An HTTP status "200" or a range "200-399", each 100..599, low <= high.
 * Returns 0 and sets *lo and *hi, or -EINVAL. */
int sl_conf_parse_status_range(const char *s, int *lo, int *hi);

/* An IP address literal without a port: "10.0.0.1", "::1" or "[::1]"
 * (never resolved). Returns 0 with the port left 0, or -EINVAL. */
int sl_conf_parse_ip(const char *s, struct sl_addr *addr);

/* The port of an address, and replacing it (IPv4 or IPv6). */
uint16_t sl_conf_addr_port(const struct sl_addr *addr);
void sl_conf_addr_set_port(struct sl_addr *addr, uint16_t port);

/* Built-in default of a timeout (DESIGN.md "Timeouts"), in milliseconds. */
uint64_t sl_conf_timeout_default(enum sl_timeout_kind k);

/* The kind whose sl_conf_timeout_name() is NAME, or SL_TO_COUNT. */
enum sl_timeout_kind sl_conf_timeout_by_name(const char *name);

#endif
