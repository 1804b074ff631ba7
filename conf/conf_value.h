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

/* Built-in default of a timeout (DESIGN.md "Timeouts"), in milliseconds. */
uint64_t sl_conf_timeout_default(enum sl_timeout_kind k);

/* The kind whose sl_conf_timeout_name() is NAME, or SL_TO_COUNT. */
enum sl_timeout_kind sl_conf_timeout_by_name(const char *name);

#endif
