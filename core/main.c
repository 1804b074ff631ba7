/*
 * Process entry (core/ layer): command line, configuration, signals, admin
 * API and reloads. The running configuration (core/world.c) is started here;
 * the main thread then takes every operator signal with sigtimedwait (they
 * are blocked in all threads, so none kills the process or runs a handler in
 * a worker): SIGTERM/SIGINT stop gracefully, SIGHUP reloads, SIGUSR1 reopens
 * the log, SIGUSR2 and SIGALRM are logged and ignored. Every 200 ms it frees
 * the configurations retired by reloads whose last session has ended. The
 * exit code is 0 after a clean drain.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/check.h"
#include "conf/conf.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "core/admin.h"
#include "core/world.h"
#include "core/conn.h"

#define SL_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice -f FILE      run with configuration FILE\n"
		   "       sluice -c -f FILE   check FILE and exit 0 (valid) or 1\n"
		   "       sluice -v           print the version\n");
}

/* The running configuration. Reloads (signal loop or admin thread), the
 * admin API and the reaping of retired configurations take this lock. */
static pthread_mutex_t world_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_proxy *world;
static const char *conf_file;

static struct sl_proxy *acquire(void)
{
	pthread_mutex_lock(&world_lock);
	return world;
}

static void release(void)
{
	pthread_mutex_unlock(&world_lock);
}

/* What a reload cannot apply in place; NULL when nothing. */
static const char *needs_restart(const struct sl_config *o, const struct sl_config *n,
				 char *buf, size_t len)
{
	if (o->workers != n->workers)
		snprintf(buf, len, "workers changed from %d to %d", o->workers, n->workers);
	else if (o->maxconn_set != n->maxconn_set || (n->maxconn_set && o->maxconn != n->maxconn))
		snprintf(buf, len, "global maxconn changed");
	else if (strcmp(o->admin, n->admin) != 0)
		snprintf(buf, len, "admin changed");
	else if (o->log != n->log || strcmp(o->log_path, n->log_path) != 0)
		snprintf(buf, len, "log changed");
	else
		return NULL;
	return buf;
}

/* Load, validate and apply the configuration file (world_lock held).
 * Returns 0 with a JSON summary in msg, or -errno with the reason. */
static int reload_locked(char *msg, size_t len)
{
	struct sl_config *conf = NULL;
	struct sl_proxy *next;
	struct sl_world_diff d;
	char err[1024], why[256];

	/* the previous reload's handover of listening sockets takes a few ms:
	 * one socket never has three owners */
	for (int i = 0; i < 2000 && !sl_world_accepting(world); i++)
		usleep(1000);
	if (sl_conf_load(conf_file, &conf, err, sizeof(err)) < 0 ||
	    sl_xprt_ssl.load(conf, err, sizeof(err)) < 0) {
		/* the same text as sluice -c prints */
		snprintf(msg, len, "sluice: %s", err);
		sl_log("reload failed, configuration unchanged: %s", msg);
		sl_xprt_ssl.release(conf);
		sl_conf_free(conf);
		return -EINVAL;
	}
	if (!conf->maxconn_set)
		conf->maxconn = world->conf->maxconn; /* as start-up adapted it */
	if (needs_restart(world->conf, conf, why, sizeof(why))) {
		snprintf(msg, len, "sluice: %s: %s: a restart is needed to apply it; "
			 "configuration unchanged", conf_file, why);
		sl_log("reload refused: %s", msg);
		sl_xprt_ssl.release(conf);
		sl_conf_free(conf);
		return -EPERM;
	}
	if (sl_world_raise_nofile(conf) < 0) {
		snprintf(msg, len, "sluice: %s: not enough file descriptors for it; "
			 "configuration unchanged", conf_file);
		sl_log("reload failed: %s", msg);
		sl_xprt_ssl.release(conf);
		sl_conf_free(conf);
		return -EMFILE;
	}
	next = sl_world_start(conf, world, why, sizeof(why)); /* owns conf now */
	if (!next) {
		snprintf(msg, len, "sluice: %s", why);
		sl_log("reload failed, configuration unchanged: %s", msg);
		return -EINVAL;
	}
	sl_world_switch(next, world, &d);
	if (sl_stats_history_rebind(next) < 0)
		sl_log("stats: out of memory for the history: rates stay empty");
	world = next;
	sl_log("reloaded %s: configuration %u; binds kept %d, added %d, removed %d; servers "
	       "kept %d, added %d, removed %d; %d older configuration(s) draining", conf_file,
	       next->gen, d.binds_kept, d.binds_added, d.binds_removed, d.servers_kept,
	       d.servers_added, d.servers_removed, sl_world_draining(next));
	snprintf(msg, len, "{\"reloaded\":true,\"configuration\":%u,\"binds_kept\":%d,"
		 "\"binds_added\":%d,\"binds_removed\":%d,\"servers_kept\":%d,"
		 "\"servers_added\":%d,\"servers_removed\":%d}", next->gen, d.binds_kept,
		 d.binds_added, d.binds_removed, d.servers_kept, d.servers_added,
		 d.servers_removed);
	return 0;
}

static int reload(char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&world_lock);
	rc = reload_locked(msg, len);
	pthread_mutex_unlock(&world_lock);
	return rc;
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGUSR1: return "SIGUSR1";
	case SIGUSR2: return "SIGUSR2";
	case SIGALRM: return "SIGALRM";
	default: return "a signal";
	}
}

/* One line per signal. Returns 1 when the process should stop. */
static int on_signal(int sig)
{
	char msg[2048];
	int rc;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		sl_log("received %s: stopping, grace %llu ms", sig_name(sig),
		       (unsigned long long)world->conf->grace_ms);
		return 1;
	case SIGHUP:
		sl_log("received SIGHUP: reloading %s", conf_file);
		reload(msg, sizeof(msg));
		return 0;
	case SIGUSR1:
		rc = sl_log_reopen();
		if (rc < 0)
			sl_log("received SIGUSR1: cannot reopen the log file: %s; still writing "
			       "to the old one", strerror(-rc));
		else
			sl_log("received SIGUSR1: %s", rc ? "log file reopened"
							  : "log is not a file, nothing to reopen");
		return 0;
	default:
		sl_log("received %s: ignored (SIGHUP reloads, SIGUSR1 reopens the log, "
		       "SIGTERM stops)", sig_name(sig));
		return 0;
	}
}

static int run(struct sl_config *conf)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM };
	const struct sl_admin_hooks hooks = { acquire, release, reload };
	struct sl_admin *admin = NULL;
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 200 * 1000000 };
	char why[512], st[80] = "";
	sigset_t set;
	int ret = 1;

	if (sl_log_open(conf) < 0) {
		fprintf(stderr, "sluice: %s: cannot open log file %s: %s\n", conf->path,
			conf->log_path, strerror(errno));
		goto err_conf;
	}
	if (sl_world_raise_nofile(conf) < 0)
		goto err_log;
	/* blocked in every thread (inherited), taken with sigtimedwait below:
	 * no handler runs in a worker, and none of these kills the process */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	world = sl_world_start(conf, NULL, why, sizeof(why)); /* owns conf now */
	if (!world) {
		fprintf(stderr, "sluice: %s\n", why);
		goto err_log;
	}
	if (world->conf->admin[0] &&
	    sl_admin_start(world->conf->admin, &hooks, &admin, why, sizeof(why)) < 0) {
		fprintf(stderr, "sluice: %s: %s\n", world->conf->path, why);
		goto out;
	}
	sl_stats_set_fixed_fds(world);
	if (sl_stats_history_init(world) < 0 || sl_stats_history_start() < 0)
		sl_log("stats: cannot start the history sampler: rates stay empty");
	if (world->conf->has_stats)
		sl_conf_addr_str(&world->conf->stats, st, sizeof(st));
	sl_log("sluice %s started: %d worker(s), %d frontend(s), %d backend(s)%s%s%s%s",
	       SL_VERSION, world->nworkers, world->conf->nfrontends - world->conf->has_stats,
	       world->conf->nbackends, world->conf->has_stats ? "; stats on http://" : "", st,
	       admin ? "; admin on " : "", admin ? world->conf->admin : "");
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig > 0 && on_signal(sig))
			break;
		pthread_mutex_lock(&world_lock);
		sl_world_reap(world);
		pthread_mutex_unlock(&world_lock);
	}
	ret = 0;
out:
	sl_admin_stop(admin); /* first: no reload runs during the stop */
	sl_stats_history_stop(); /* it reads the workers' counters */
	sl_world_stop_all(world);
	world = NULL;
	if (ret == 0)
		sl_log("stopped");
	sl_limits_free();
	sl_log_close();
	return ret;
err_log:
	sl_log_close();
	return ret;
err_conf:
	sl_xprt_ssl.release(conf);
	sl_conf_free(conf);
	return ret;
}

int main(int argc, char **argv)
{
	struct sl_config *conf = NULL;
	const char *file = NULL;
	char err[1024];
	int opt, check = 0, ret;

	while ((opt = getopt(argc, argv, "cf:vh")) != -1) {
		switch (opt) {
		case 'c':
			check = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'v':
			printf("sluice %s\n", SL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!file || optind != argc) {
		usage(stderr);
		return 1;
	}
	/* certificates are loaded here, so that -c checks them too */
	if (sl_conf_load(file, &conf, err, sizeof(err)) < 0 ||
	    sl_conf_check_log(conf, err, sizeof(err)) < 0 ||
	    sl_xprt_ssl.load(conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		sl_xprt_ssl.cleanup();
		sl_conf_free(conf);
		return 1;
	}
	if (check) {
		printf("sluice: configuration %s is valid\n", file);
		sl_conf_free(conf);
		ret = 0;
	} else {
		conf_file = file;
		ret = run(conf); /* takes conf */
	}
	sl_xprt_ssl.cleanup();
	return ret;
}
