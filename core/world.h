/*
 * Configurations at run time and reloads (core/ layer). A "world" is one
 * struct sl_proxy: a loaded configuration with its backends, health checker,
 * workers and listeners. Start-up builds the first one; a reload builds the
 * next one next to it, hands it the listening sockets of unchanged binds,
 * starts it, and retires the old one: its workers hand their idle pooled
 * connections of unchanged servers to their successors (core/pool.c),
 * accept nothing more and finish every session they have under the
 * configuration it started with; sl_world_reap() frees the old world once
 * its last worker has exited. Only the main thread calls these, one at a
 * time (main.c holds its reload lock).
 */
#ifndef SL_CORE_WORLD_H
#define SL_CORE_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf-t.h"
#include "core/proxy.h"

/* Raise RLIMIT_NOFILE to what conf needs (may lower an unset maxconn to fit
 * the hard limit). Returns 0 or -errno after printing why to stderr. */
int sl_world_raise_nofile(struct sl_config *conf);

/*
 * Build and start a world for conf (taken over: freed with the world, even
 * on failure; its certificates must be loaded already). prev (may be NULL)
 * is the running world: its listening sockets for the same addresses are
 * shared with the new workers, and servers with the same backend, name and
 * address take over its health state, admin state and weight (the runtime
 * ones, when the admin API changed them) and check counters. Returns the
 * running world, or NULL with why filled; prev is untouched on failure.
 */
struct sl_proxy *sl_world_start(struct sl_config *conf, struct sl_proxy *prev, char *why,
				size_t whylen);

/* Every worker of px accepts on all its listeners (after a reload: once
 * the previous workers' accepts on the shared sockets have ended). */
bool sl_world_accepting(const struct sl_proxy *px);

/* What a reload kept, added and removed. */
struct sl_world_diff {
	int binds_kept, binds_added, binds_removed;
	int servers_kept, servers_added, servers_removed;
};

/* Make next the running world and retire prev: the sockets of unchanged
 * binds now belong to next; prev stops its checker and accepts no more. */
void sl_world_switch(struct sl_proxy *next, struct sl_proxy *prev, struct sl_world_diff *d);

/* Free the retired worlds (next->older chain) whose workers have all exited,
 * folding their counters into cur. */
void sl_world_reap(struct sl_proxy *cur);

/* Number of retired worlds still draining. */
int sl_world_draining(const struct sl_proxy *cur);

/* Stop cur and every retired world (grace period), join and free them. */
void sl_world_stop_all(struct sl_proxy *cur);

/* The server named name in backend be of px, or NULL. */
struct sl_server *sl_world_server(struct sl_proxy *px, const char *be, const char *name);

/* The server of px that is the same as s (of another configuration) for a
 * reload: same backend, name and address; NULL if there is none. */
struct sl_server *sl_world_same_server(struct sl_proxy *px, const struct sl_server *s);

#endif
