/*
 * Admin API (core/ layer): HTTP/1.1 on a unix socket (`admin =` in
 * [global]), created with mode 0600: file permissions are the access
 * control, it never listens on TCP. One thread with blocking I/O serves one
 * request per connection, so the workers' data path is untouched: it
 * changes servers through their atomics (core/backend.h) and wakes the
 * workers, which close the idle pooled connections of drained servers.
 *   GET  /servers                          JSON array of every server
 *   PUT  /backends/B/servers/S/state       body ready | drain | maint
 *   PUT  /backends/B/servers/S/weight      body 0..256
 *   POST /reload                           same as SIGHUP
 */
#ifndef SL_CORE_ADMIN_H
#define SL_CORE_ADMIN_H

#include <stddef.h>

#include "core/proxy.h"

/* What the admin thread needs from the process (main.c). */
struct sl_admin_hooks {
	/* The running configuration, locked against reloads until release. */
	struct sl_proxy *(*acquire)(void);
	void (*release)(void);
	/* Reload the configuration file. Returns 0 with a JSON summary in msg,
	 * or -errno with the reason (file:line for a bad file) in msg. */
	int (*reload)(char *msg, size_t len);
};

struct sl_admin;

/* Create the socket at path (a stale socket file of a dead process is
 * replaced; a live one or another kind of file is an error) and start the
 * thread. Returns 0 with *out, or -errno with why. */
int sl_admin_start(const char *path, const struct sl_admin_hooks *hooks,
		   struct sl_admin **out, char *why, size_t whylen);
/* Stop the thread, close and remove the socket. Accepts NULL. */
void sl_admin_stop(struct sl_admin *a);

#endif
