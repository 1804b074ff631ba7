/*
 * Process entry (core/ layer): command line, configuration, listeners, worker
 * threads and signals. The main thread owns the listeners until a worker has
 * started (then the worker owns them) and owns the workers' wake eventfds for
 * the whole run. It waits for SIGTERM/SIGINT with sigwait, asks every worker
 * to stop, and joins them; the exit code is 0 after a clean drain.
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
#include "proto/tls.h"

#define SL_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice -f FILE      run with configuration FILE\n"
		   "       sluice -c -f FILE   check FILE and exit 0 (valid) or 1\n"
		   "       sluice -v           print the version\n");
}

static int open_listener(const struct sl_config *c, const struct sl_bind_conf *b)
{
	int fd, one = 1;
	char addr[80];

	fd = socket(b->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&b->addr.ss, b->addr.len) < 0 ||
	    listen(fd, SOMAXCONN) < 0)
		goto err_close_fd;
	return fd;
err_close_fd:
	close(fd);
err:
	fprintf(stderr, "sluice: %s:%d: cannot listen on %s: %s\n", c->path, b->line,
		sl_conf_addr_str(&b->addr, addr, sizeof(addr)), strerror(errno));
	return -1;
}

/* Listeners of one worker: one SO_REUSEPORT socket per bind of every frontend. */
static int make_listeners(struct sl_proxy *px, struct sl_worker *w)
{
	const struct sl_config *c = px->conf;
	int n = 0;

	for (int i = 0; i < c->nfrontends; i++)
		n += c->frontends[i].nbinds;
	w->listeners = calloc((size_t)n, sizeof(*w->listeners));
	if (!w->listeners)
		return -ENOMEM;
	for (int i = 0; i < c->nfrontends; i++) {
		for (int j = 0; j < c->frontends[i].nbinds; j++) {
			struct sl_listener *l = &w->listeners[w->nlisteners];

			l->fe = &c->frontends[i];
			l->fe_idx = i;
			l->bind = &c->frontends[i].binds[j];
			l->tls = sl_tls_bind_of(l->bind);
			l->fd = open_listener(c, l->bind);
			if (l->fd < 0)
				return -EADDRNOTAVAIL;
			w->nlisteners++;
		}
	}
	return 0;
}

/* File descriptors maxconn can need: a client and a server socket per
 * connection, idle pooled server connections, listeners, and the process's
 * own (ring, eventfds, log, checker). */
static rlim_t fds_needed(const struct sl_config *c)
{
	rlim_t need = (rlim_t)c->maxconn * 2 + 64;

	for (int i = 0; i < c->nfrontends; i++)
		need += (rlim_t)c->frontends[i].nbinds * (rlim_t)c->workers;
	for (int i = 0; i < c->nbackends; i++)
		if (c->backends[i].mode == SL_BE_MODE_HTTP_KEEP_ALIVE)
			need += (rlim_t)sl_pool_max_idle(&c->backends[i]) *
				(rlim_t)c->backends[i].nservers * (rlim_t)c->workers;
	return need;
}

/* Raise RLIMIT_NOFILE to what the configuration needs (the hard limit too
 * when we may), or refuse to start: running out of fds under load is a
 * worse failure than a clear message now. */
static int raise_nofile(struct sl_config *c)
{
	rlim_t need = fds_needed(c);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		struct rlimit hard = { .rlim_cur = need, .rlim_max = need };

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return 0;
		if (!c->maxconn_set) {
			/* the default adapts to the limit, as HAProxy's does */
			rlim_t spare = need - (rlim_t)c->maxconn * 2;

			c->maxconn = rl.rlim_max > spare + 2 ? (uint32_t)((rl.rlim_max - spare) / 2) : 1;
			rl.rlim_cur = rl.rlim_max;
			sl_log("maxconn set to %u to fit RLIMIT_NOFILE %llu", c->maxconn,
			       (unsigned long long)rl.rlim_max);
			return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
		}
		fprintf(stderr, "sluice: %s: maxconn %u needs %llu file descriptors but "
			"RLIMIT_NOFILE allows %llu (hard limit, cannot raise it: %s); lower "
			"maxconn or raise the limit (ulimit -n)\n", c->path, c->maxconn,
			(unsigned long long)need, (unsigned long long)rl.rlim_max,
			strerror(errno));
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static void free_workers(struct sl_proxy *px)
{
	for (int i = 0; i < px->nworkers; i++) {
		struct sl_worker *w = &px->workers[i];

		for (int j = 0; j < w->nlisteners; j++)
			if (w->listeners[j].fd >= 0)
				close(w->listeners[j].fd);
		free(w->listeners);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
	}
	free(px->workers);
}

/* Start every worker; on failure stop those already running. Returns the
 * number started (== px->nworkers on success). */
static int start_workers(struct sl_proxy *px)
{
	int i;

	for (i = 0; i < px->nworkers; i++) {
		struct sl_worker *w = &px->workers[i];

		if (sl_worker_start(w) < 0) {
			fprintf(stderr, "sluice: worker %d: %s\n", i, w->why);
			break;
		}
	}
	return i;
}

static void stop_workers(struct sl_proxy *px, int started)
{
	atomic_store(&px->stopping, 1);
	for (int i = 0; i < started; i++)
		sl_worker_wake(&px->workers[i]);
	for (int i = 0; i < started; i++)
		sl_worker_join(&px->workers[i]);
}

static int setup_workers(struct sl_proxy *px)
{
	px->nworkers = px->conf->workers;
	px->workers = calloc((size_t)px->nworkers, sizeof(*px->workers));
	if (!px->workers)
		return -ENOMEM;
	for (int i = 0; i < px->nworkers; i++)
		px->workers[i].wake_fd = -1;
	for (int i = 0; i < px->nworkers; i++) {
		struct sl_worker *w = &px->workers[i];

		w->id = i;
		w->px = px;
		w->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (w->wake_fd < 0 || make_listeners(px, w) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The built-in stats service is an http frontend of its own, added to the
 * configuration before anything reads it; its requests never reach a
 * backend (proto/http_local.c serves them). */
static int add_stats_frontend(struct sl_config *c)
{
	struct sl_frontend_conf *fes, *fe;

	if (!c->has_stats)
		return 0;
	fes = realloc(c->frontends, sizeof(*fes) * (size_t)(c->nfrontends + 1));
	if (!fes)
		return -ENOMEM;
	c->frontends = fes;
	fe = &fes[c->nfrontends];
	memset(fe, 0, sizeof(*fe));
	fe->binds = calloc(1, sizeof(*fe->binds));
	if (!fe->binds)
		return -ENOMEM;
	c->nfrontends++;
	snprintf(fe->name, sizeof(fe->name), "stats");
	fe->mode = SL_FE_MODE_HTTP;
	fe->stats = true;
	fe->binds[0].addr = c->stats;
	fe->nbinds = 1;
	fe->backend = 0;
	fe->timeouts = c->frontends[0].timeouts;
	fe->timeouts.ms[SL_TO_HTTP_REQUEST] = 10000;
	fe->timeouts.ms[SL_TO_HTTP_KEEP_ALIVE] = 10000;
	fe->timeouts.ms[SL_TO_CLIENT] = 30000;
	fe->timeouts.ms[SL_TO_CLIENT_FIN] = 1000;
	return 0;
}

static int run(struct sl_config *conf)
{
	struct sl_proxy px = { .conf = conf };
	struct sl_checker *checker = NULL;
	char why[256];
	sigset_t set;
	int sig = 0, started = 0, ret = 1;

	if (sl_log_open(conf) < 0) {
		fprintf(stderr, "sluice: %s: cannot open log file %s: %s\n", conf->path,
			conf->log_path, strerror(errno));
		return 1;
	}
	if (raise_nofile(conf) < 0) {
		sl_log_close();
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the workers */
	signal(SIGPIPE, SIG_IGN);
	if (add_stats_frontend(conf) < 0 || sl_backends_init(conf, &px.backends) < 0 ||
	    setup_workers(&px) < 0)
		goto out;
	if (sl_stats_history_init(&px) < 0) {
		fprintf(stderr, "sluice: out of memory for the stats history\n");
		goto out;
	}
	if (sl_check_start(px.backends, conf->nbackends, &checker, why, sizeof(why)) < 0) {
		fprintf(stderr, "sluice: health checks: %s\n", why);
		goto out;
	}
	started = start_workers(&px);
	if (started == px.nworkers) {
		char st[80] = "";

		sl_stats_set_fixed_fds(&px);
		if (sl_stats_history_start() < 0)
			sl_log("stats: cannot start the history sampler: rates stay empty");
		if (conf->has_stats)
			sl_conf_addr_str(&conf->stats, st, sizeof(st));
		sl_log("sluice %s started: %d worker(s), %d frontend(s), %d backend(s)%s%s",
		       SL_VERSION, px.nworkers, conf->nfrontends - conf->has_stats, conf->nbackends,
		       conf->has_stats ? "; stats on http://" : "", st);
		sigwait(&set, &sig);
		sl_log("received %s: stopping, grace %llu ms", strsignal(sig),
		       (unsigned long long)conf->grace_ms);
		ret = 0;
	}
	sl_stats_history_stop(); /* it reads the workers' counters */
	stop_workers(&px, started);
	sl_check_stop(checker); /* after the drain: states stay current during it */
	checker = NULL;
	if (ret == 0)
		sl_log("stopped");
out:
	sl_check_stop(checker);
	free_workers(&px);
	sl_backends_free(px.backends, conf->nbackends);
	sl_limits_free();
	sl_stats_history_stop();
	sl_log_close();
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
	    sl_tls_init(conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		sl_tls_free();
		sl_conf_free(conf);
		return 1;
	}
	if (check) {
		printf("sluice: configuration %s is valid\n", file);
		ret = 0;
	} else {
		ret = run(conf);
	}
	sl_tls_free();
	sl_conf_free(conf);
	return ret;
}
