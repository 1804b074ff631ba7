/*
 * Backends and servers at run time (core/ layer): the state shared by all
 * workers (current session counts, the balancer's position) next to the
 * immutable configuration. Balancing state is protected by one mutex per
 * backend, taken once per new server connection, never per packet.
 */
#ifndef SL_CORE_BACKEND_H
#define SL_CORE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include "conf/conf-t.h"

struct sl_server {
	const struct sl_server_conf *conf;
	struct sl_backend *be;
	int cur_weight;              /* smooth weighted round robin, under be->lock */
	atomic_uint sessions;        /* current sessions using this server */
	atomic_ulong total;          /* sessions ever sent to this server */
};

struct sl_backend {
	const struct sl_backend_conf *conf;
	pthread_mutex_t lock;
	struct sl_server *servers;
	int nservers;
};

/* Build runtime state for every backend of conf. Returns 0 or -ENOMEM. */
int sl_backends_init(const struct sl_config *conf, struct sl_backend **out);
void sl_backends_free(struct sl_backend *bes, int n);

/*
 * Choose a server for a new connection: smooth weighted round robin over the
 * usable primaries (not disabled), or over the usable backups when no primary
 * is usable. exclude (may be NULL) is skipped when another server is usable,
 * so a retry after a failed connect goes elsewhere. Returns NULL when no
 * server is usable. Borrowed pointer, valid for the process lifetime.
 */
struct sl_server *sl_backend_pick(struct sl_backend *be, const struct sl_server *exclude);

#endif
