/*
 * Integration test harness (tests/ layer), see harness.h: the process side.
 * Runs $SLUICE_BIN as a child process, watches its fds, stops it; origin
 * servers and socket I/O are in origin.c. Knows nothing of sluice's
 * internals. Logs and configs of a test live in
 * $SLUICE_IT_RUNDIR/<suite>.<test>/ (the runner creates the run directory);
 * a report hook in the runner prints them when the test failed and removes
 * them (set SLUICE_IT_KEEP=1 to keep them).
 */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REG 32

/* ---- time, environment ------------------------------------------------- */

uint64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void h_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *h_sluice_bin(void)
{
	static char path[4096];
	const char *env = getenv("SLUICE_BIN");

	if (path[0])
		return path;
	if (env && env[0]) {
		snprintf(path, sizeof(path), "%s", env);
	} else if (!realpath("build/sluice", path)) {
		snprintf(path, sizeof(path), "build/sluice");
	}
	return path;
}

void h_cbuf_add(struct h_cbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, sizeof(b->s) - b->len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(b->s) - b->len, "config too long");
	b->len += (size_t)n;
}

int h_slow(void)
{
	static int slow;
	const char *env = getenv("SLUICE_IT_SLOW");

	if (slow)
		return slow;
	if (env && atoi(env) > 0)
		slow = atoi(env);
	else if (strstr(h_sluice_bin(), "asan"))
		slow = 3;
	else
		slow = 1;
	return slow;
}

static int free_port_once(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	cr_assert(port > 0, "no free port: %s", strerror(errno));
	return port;
}

/* A port handed out a moment ago is not bound yet (the proxy binds it
 * later): the kernel may offer it again, and two listeners of one sluice on
 * the same port (SO_REUSEPORT) share its connections. Seen once: a
 * frontend and the stats listener on one port, the test's client served
 * by the stats service. So no port is handed out twice in a row of 64. */
int h_free_port(void)
{
	static int recent[64];
	static unsigned next;
	int port;

	for (int tries = 0;; tries++) {
		bool seen = false;

		port = free_port_once();
		for (unsigned i = 0; i < 64; i++)
			seen |= recent[i] == port;
		if (!seen || tries > 100)
			break;
	}
	recent[next++ % 64] = port;
	return port;
}

/* ---- registry of what a test started ----------------------------------- */

static struct h_proxy *g_proxies[MAX_REG];
static int g_nproxies;
static int g_nruns;
static char g_test_dir[1024];

void h_setup(void)
{
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void proxy_kill(struct h_proxy *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
		p->pid = 0;
	}
}

void h_teardown(void)
{
	int i;

	for (i = 0; i < g_nproxies; i++) {
		proxy_kill(g_proxies[i]);
		free(g_proxies[i]);
	}
	g_nproxies = 0;
	h_origins_teardown();
	g_nruns = 0;
	g_test_dir[0] = 0;
}

/* ---- per-test directory and the runner's report hooks ------------------ */

static const char *test_dir(void)
{
	const char *run = getenv("SLUICE_IT_RUNDIR");
	const struct criterion_test *t = criterion_current_test;

	if (g_test_dir[0])
		return g_test_dir;
	if (!run) {
		char tmpl[] = "/tmp/sluice-it-XXXXXX";

		cr_assert(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
		setenv("SLUICE_IT_RUNDIR", tmpl, 1);
		run = getenv("SLUICE_IT_RUNDIR");
	}
	mkdir(run, 0700); /* normally there already; recreate if removed */
	snprintf(g_test_dir, sizeof(g_test_dir), "%s/%s.%s", run,
		 t ? t->category : "x", t ? t->name : "x");
	cr_assert(mkdir(g_test_dir, 0700) == 0 || errno == EEXIST,
		  "mkdir %s: %s", g_test_dir, strerror(errno));
	return g_test_dir;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_tail(const char *path, const char *what, size_t max)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fprintf(stderr, "---- %s %s (%ld bytes%s) ----\n", what, path, size,
		size > (long)max ? ", tail" : "");
	if (size > (long)max)
		fseek(f, size - (long)max, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of %s ----\n", what);
	fclose(f);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Prints every proxy log and command output of a test directory. */
static void print_test_logs(const char *dir)
{
	struct dirent **ents;
	char path[2048];
	int i, n = scandir(dir, &ents, NULL, name_cmp);

	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (ends_with(name, ".log"))
			print_tail(path, "sluice log", 24 * 1024);
		else if (ends_with(name, ".out"))
			print_tail(path, "sluice output", 8 * 1024);
		else if (ends_with(name, ".conf"))
			print_tail(path, "config", 4 * 1024);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

static bool g_own_rundir;

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char tmpl[] = "/tmp/sluice-it-XXXXXX";

	(void)set;
	if (getenv("SLUICE_IT_RUNDIR"))
		return;
	if (mkdtemp(tmpl)) {
		setenv("SLUICE_IT_RUNDIR", tmpl, 1);
		g_own_rundir = true;
	}
}

ReportHook(POST_FINI)(struct criterion_test_stats *st)
{
	const char *run = getenv("SLUICE_IT_RUNDIR");
	char dir[1024];

	if (!run || !st || !st->test)
		return;
	snprintf(dir, sizeof(dir), "%s/%s.%s", run, st->test->category,
		 st->test->name);
	if (st->test_status == CR_STATUS_FAILED || st->timed_out ||
	    st->crashed)
		print_test_logs(dir);
	if (!getenv("SLUICE_IT_KEEP"))
		rm_rf(dir);
}

ReportHook(POST_ALL)(struct criterion_global_stats *gs)
{
	const char *run = getenv("SLUICE_IT_RUNDIR");

	(void)gs;
	if (run && g_own_rundir && !getenv("SLUICE_IT_KEEP"))
		rm_rf(run);
}

void h_write_file(const char *name, const char *text, char *path,
		  size_t pathsz)
{
	FILE *f;

	snprintf(path, pathsz, "%s/%s", test_dir(), name);
	f = fopen(path, "w");
	cr_assert(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert(fclose(f) == 0, "write %s: %s", path, strerror(errno));
}

/* ---- the proxy ---------------------------------------------------------- */

void h_tcp_conf_render(const struct h_tcp_conf *c, int fe_port, char *buf,
		       size_t n)
{
	size_t off;
	int i;

	off = (size_t)snprintf(buf, n,
		"[global]\n"
		"workers = %d\n"
		"log = stderr\n"
		"grace = %s\n"
		"\n"
		"[defaults]\n"
		"timeout_connect = %s\n"
		"timeout_client = %s\n"
		"timeout_server = %s\n"
		"timeout_client_fin = %s\n"
		"timeout_server_fin = %s\n"
		"\n"
		"[frontend f]\n"
		"bind = 127.0.0.1:%d\n"
		"mode = tcp\n"
		"backend = b\n"
		"\n"
		"[backend b]\n"
		"mode = tcp\n"
		"balance = roundrobin\n",
		c->workers > 0 ? c->workers : 1,
		c->grace ? c->grace : "2s",
		c->timeout_connect ? c->timeout_connect : "500ms",
		c->timeout_client ? c->timeout_client : "10s",
		c->timeout_server ? c->timeout_server : "10s",
		c->timeout_client_fin ? c->timeout_client_fin : "300ms",
		c->timeout_server_fin ? c->timeout_server_fin : "300ms",
		fe_port);
	for (i = 0; i < c->nservers && off < n; i++) {
		off += (size_t)snprintf(buf + off, n - off,
					"server = s%d 127.0.0.1:%d", i + 1,
					c->server_port[i]);
		if (c->server_weight[i] > 0 && off < n)
			off += (size_t)snprintf(buf + off, n - off,
						" weight=%d",
						c->server_weight[i]);
		if (off < n)
			off += (size_t)snprintf(buf + off, n - off, "\n");
	}
	cr_assert(off < n, "config too long");
}

/* In the child: becomes the binary under test with output to out_path. */
static void exec_sluice(const char *out_path, const char *const *args)
{
	const char *argv[16];
	sigset_t none;
	int fd, i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(fd, 2);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	/* our listeners and sockets must not leak into the proxy */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (i = 3; i < 65536; i++)
			close(i);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	argv[0] = h_sluice_bin();
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static bool port_listening(int port)
{
	char line[512];
	FILE *f = fopen("/proc/net/tcp", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st;

		if (sscanf(line, " %*d: %x:%x %x:%x %x", &la, &lp, &ra, &rp,
			   &st) == 5 &&
		    (int)lp == port && st == 0x0A)
			found = true;
	}
	fclose(f);
	return found;
}

static void describe_status(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, n, "wait status 0x%x", status);
}

int h_proxy_fd_count(const struct h_proxy *p)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)p->pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int h_proxy_fd_count_settled(const struct h_proxy *p, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms, since = h_now_ms();
	int prev = -1;

	for (;;) {
		int n = h_proxy_fd_count(p);

		if (n < 0)
			return -1;
		if (n != prev) {
			prev = n;
			since = h_now_ms();
		} else if (h_now_ms() - since >= 300) {
			return n;
		}
		if (h_now_ms() >= deadline)
			return -1;
		h_sleep_ms(25);
	}
}

bool h_proxy_wait_exit(struct h_proxy *p, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	if (p->pid <= 0)
		return true;
	for (;;) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);

		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			p->pid = 0;
			return true;
		}
		if (h_now_ms() >= deadline)
			return false;
		h_sleep_ms(5);
	}
}

/* The port of a `stats = ADDR:PORT` line of conf, 0 if none. */
static int conf_stats_port(const char *conf)
{
	const char *l = conf;

	for (; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *c;

		while (*l == ' ' || *l == '\t')
			l++;
		if (strncmp(l, "stats", 5) || (l[5] != ' ' && l[5] != '\t' && l[5] != '='))
			continue;
		c = strchr(l, '\n');
		for (const char *q = c ? c : l + strlen(l); q > l; q--)
			if (q[-1] == ':')
				return atoi(q);
	}
	return 0;
}

/* conf with `stats = 127.0.0.1:port` added to its [global] (malloc'd). */
static char *conf_with_stats(const char *conf, int port)
{
	const char *g = strstr(conf, "[global]");
	size_t n = strlen(conf) + 128;
	char *out = malloc(n);

	cr_assert(out);
	if (!g || (g != conf && g[-1] != '\n')) {
		snprintf(out, n, "[global]\nstats = 127.0.0.1:%d\n\n%s", port, conf);
	} else {
		const char *eol = strchr(g, '\n');
		size_t head = eol ? (size_t)(eol + 1 - conf) : strlen(conf);

		snprintf(out, n, "%.*s%sstats = 127.0.0.1:%d\n%s", (int)head, conf,
			 eol ? "" : "\n", port, conf + head);
	}
	return out;
}

struct h_proxy *h_proxy_start_text(const char *conf_in, int fe_port)
{
	struct h_proxy *p = calloc(1, sizeof(*p));
	const char *args[] = { "-f", NULL, NULL };
	uint64_t deadline;
	char name[32], st[128], *conf = NULL;
	int idx = g_nproxies;

	cr_assert(p && g_nproxies < MAX_REG);
	g_proxies[g_nproxies++] = p;
	h_setup(); /* rlimit: the proxy inherits it */
	p->stats_port = conf_stats_port(conf_in);
	if (!p->stats_port && !getenv("SLUICE_IT_NO_STATS")) {
		p->stats_port = h_free_port();
		conf = conf_with_stats(conf_in, p->stats_port);
	}
	snprintf(p->dir, sizeof(p->dir), "%s", test_dir());
	snprintf(name, sizeof(name), "p%d.conf", idx);
	h_write_file(name, conf ? conf : conf_in, p->conf_path, sizeof(p->conf_path));
	free(conf);
	snprintf(p->log_path, sizeof(p->log_path), "%s/p%d.log", p->dir, idx);
	p->port = fe_port;
	args[1] = p->conf_path;
	fflush(NULL);
	p->pid = fork();
	cr_assert(p->pid >= 0, "fork: %s", strerror(errno));
	if (p->pid == 0)
		exec_sluice(p->log_path, args);

	deadline = h_now_ms() + 5000u * (unsigned)h_slow();
	while (!port_listening(fe_port) ||
	       (p->stats_port && !port_listening(p->stats_port))) {
		if (h_proxy_wait_exit(p, 0)) {
			describe_status(p->status, st, sizeof(st));
			cr_assert_fail("sluice (%s) exited during startup: %s",
				       h_sluice_bin(), st);
		}
		cr_assert(h_now_ms() < deadline,
			  "sluice did not listen on 127.0.0.1:%d (stats :%d) "
			  "within %d ms", fe_port, p->stats_port,
			  5000 * h_slow());
		h_sleep_ms(10);
	}
	/* baseline: the fd count once it has been stable for 300 ms */
	p->fd_baseline = h_proxy_fd_count_settled(p, 3000 * h_slow());
	cr_assert(p->fd_baseline > 0, "the fd count of /proc/%d/fd never settled",
		  (int)p->pid);
	return p;
}

struct h_proxy *h_proxy_start_big_small(struct h_origin *src, struct h_origin *echo,
					const char *global_extra, int *big, int *small)
{
	char conf[1024];

	*big = h_free_port();
	*small = h_free_port();
	snprintf(conf, sizeof(conf),
		 "[global]\nworkers = 1\nlog = stderr\n%s\n"
		 "[defaults]\ntimeout_client = 60s\ntimeout_server = 60s\n\n"
		 "[frontend big]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = src\n\n"
		 "[frontend small]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = echo\n\n"
		 "[backend src]\nmode = tcp\nserver = s 127.0.0.1:%d\n\n"
		 "[backend echo]\nmode = tcp\nserver = e 127.0.0.1:%d\n",
		 global_extra, *big, *small, h_origin_port(src), h_origin_port(echo));
	return h_proxy_start_text(conf, *big);
}

struct h_proxy *h_proxy_start_tcp(const struct h_tcp_conf *c)
{
	char conf[4096];
	int port = h_free_port();

	h_tcp_conf_render(c, port, conf, sizeof(conf));
	return h_proxy_start_text(conf, port);
}

static const char *tcp_state_name(unsigned st)
{
	static const char *const names[] = {
		"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
		"FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
		"LISTEN", "CLOSING", "NEW_SYN_RECV"
	};

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/* Appends "local -> remote STATE" of a socket inode, from /proc/PID/net. */
static void describe_socket(pid_t pid, unsigned long ino, char *buf, size_t n)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st;
		unsigned long inode;

		if (sscanf(line,
			   " %*d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &la, &lp, &ra, &rp, &st, &inode) == 6 &&
		    inode == ino) {
			snprintf(buf, n, " tcp :%u -> :%u %s", lp, rp,
				 tcp_state_name(st));
			break;
		}
	}
	fclose(f);
}

/* Lists the proxy's fds into buf (for failure messages). */
static void list_fds(const struct h_proxy *p, char *buf, size_t n)
{
	char path[64], link[256], lpath[384], sock[128];
	struct dirent **ents;
	size_t off = 0;
	int i, cnt;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)p->pid);
	cnt = scandir(path, &ents, NULL, alphasort);
	for (i = 0; i < cnt; i++) {
		unsigned long ino;
		ssize_t l;

		if (ents[i]->d_name[0] == '.' || off >= n) {
			free(ents[i]);
			continue;
		}
		snprintf(lpath, sizeof(lpath), "%s/%s", path, ents[i]->d_name);
		l = readlink(lpath, link, sizeof(link) - 1);
		link[l > 0 ? l : 0] = 0;
		sock[0] = 0;
		if (sscanf(link, "socket:[%lu]", &ino) == 1)
			describe_socket(p->pid, ino, sock, sizeof(sock));
		off += (size_t)snprintf(buf + off, n - off, "  fd %s -> %s%s\n",
					ents[i]->d_name, link, sock);
		free(ents[i]);
	}
	if (cnt >= 0)
		free(ents);
}

void h_proxy_expect_fd_baseline(struct h_proxy *p)
{
	uint64_t deadline = h_now_ms() + 2000u * (unsigned)h_slow();
	static char fds[16384];
	int n;

	cr_assert(p->pid > 0, "sluice is not running");
	for (;;) {
		n = h_proxy_fd_count(p);
		if (n == p->fd_baseline || h_now_ms() >= deadline)
			break;
		h_sleep_ms(20);
	}
	if (n != p->fd_baseline) {
		list_fds(p, fds, sizeof(fds));
		cr_assert_fail("sluice has %d open fds, %d at startup "
			       "(waited %d ms); its fds now:\n%s",
			       n, p->fd_baseline, 2000 * h_slow(), fds);
	}
}

void h_proxy_term(struct h_proxy *p)
{
	cr_assert(p->pid > 0, "sluice is not running");
	kill(p->pid, SIGTERM);
}

void h_proxy_stop(struct h_proxy *p)
{
	int timeout = 8000 * h_slow();
	char st[128];

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		if (!h_proxy_wait_exit(p, timeout)) {
			proxy_kill(p);
			cr_assert_fail("sluice did not exit within %d ms of "
				       "SIGTERM (killed)", timeout);
		}
	}
	describe_status(p->status, st, sizeof(st));
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
		  "sluice ended with %s, expected exit status 0", st);
}

int h_http_get(int port, const char *path, char **body, size_t *len,
	       int timeout_ms)
{
	char req[512], *buf = NULL, *sep;
	size_t cap = 0, n = 0;
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	int fd, rc = 0, status = 0;

	if (body)
		*body = NULL;
	if (len)
		*len = 0;
	fd = h_connect(port, timeout_ms);
	if (fd < 0)
		return fd;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "Connection: close\r\n\r\n", path, port);
	rc = h_send_all(fd, req, strlen(req), -1, timeout_ms);
	while (rc == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - h_now_ms());
		ssize_t r;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (n + 65536 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 262144);

			cr_assert(nb);
			buf = nb;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			rc = -errno;
		else if (r > 0)
			n += (size_t)r;
	}
	close(fd);
	if (rc == 0 && (!buf || sscanf(buf, "HTTP/1.%*d %d", &status) != 1))
		rc = -EPROTO;
	if (rc == 0) {
		buf[n] = 0;
		sep = strstr(buf, "\r\n\r\n");
		if (!sep) {
			rc = -EPROTO;
		} else {
			size_t off = (size_t)(sep + 4 - buf);

			memmove(buf, buf + off, n - off + 1);
			if (len)
				*len = n - off;
			if (body) {
				*body = buf;
				buf = NULL;
			}
		}
	}
	free(buf);
	return rc < 0 ? rc : status;
}

bool h_metric(const char *text, const char *series, double *value)
{
	size_t k = strlen(series);
	const char *l;

	for (l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (!strncmp(l, series, k) && l[k] == ' ') {
			if (value)
				*value = strtod(l + k + 1, NULL);
			return true;
		}
	}
	return false;
}

double h_proxy_metric(const struct h_proxy *p, const char *series)
{
	char *body = NULL;
	double v = -1;
	int st;

	cr_assert(p->stats_port, "no stats listener to read %s from", series);
	st = h_http_get(p->stats_port, "/metrics", &body, NULL, H_IO_TIMEOUT_MS * h_slow());
	cr_assert_eq(st, 200, "GET /metrics: %d", st);
	cr_assert(h_metric(body, series, &v), "no %s in /metrics", series);
	free(body);
	return v;
}

void h_proxy_expect_fd_audit(struct h_proxy *p)
{
	double open_fds = -1, acc = -1, dopen = 0, dacc = 0;
	char samples[512];
	size_t off = 0;
	int i;

	if (!p->stats_port)
		return;
	cr_assert(p->pid > 0, "sluice is not running");
	samples[0] = 0;
	for (i = 0; i < 4; i++) {
		char *body = NULL;
		int st = h_http_get(p->stats_port, "/metrics", &body, NULL,
				    5000 * h_slow());

		cr_assert(st == 200, "fd audit: GET /metrics on :%d: %s %d",
			  p->stats_port, st < 0 ? strerror(-st) : "status",
			  st);
		cr_assert(h_metric(body, "sluice_process_open_fds", &open_fds) &&
			  h_metric(body, "sluice_process_accounted_fds", &acc),
			  "fd audit: /metrics lacks sluice_process_open_fds or "
			  "sluice_process_accounted_fds");
		/* server sockets held as direct descriptors (no /proc entry) */
		cr_assert(h_metric(body, "sluice_process_direct_fds", &dopen) &&
			  h_metric(body, "sluice_process_accounted_direct_fds", &dacc),
			  "fd audit: /metrics lacks sluice_process_direct_fds or "
			  "sluice_process_accounted_direct_fds");
		free(body);
		if (off < sizeof(samples))
			off += (size_t)snprintf(samples + off, sizeof(samples) - off,
						"%s%.0f/%.0f d%.0f/%.0f", i ? ", " : "",
						open_fds, acc, dopen, dacc);
		if (open_fds == acc && dopen == dacc)
			break;
		h_sleep_ms(100);
	}
	if (i > 0 && open_fds == acc && dopen == dacc)
		fprintf(stderr, "fd audit: equal only after %d samples "
			"(open/accounted: %s)\n", i + 1, samples);
	cr_assert(dopen == dacc,
		  "fd audit: sluice_process_direct_fds %.0f != "
		  "sluice_process_accounted_direct_fds %.0f (samples open/accounted, "
		  "100 ms apart: %s)", dopen, dacc, samples);
	cr_assert(open_fds == acc,
		  "fd audit: sluice_process_open_fds %.0f != "
		  "sluice_process_accounted_fds %.0f (samples open/accounted, "
		  "100 ms apart: %s; fds at /proc: %d, baseline %d)",
		  open_fds, acc, samples, h_proxy_fd_count(p), p->fd_baseline);
}

/* sluice logs "internal: ..." for what must never happen (a session
 * transition its table does not allow): any such line fails the test. */
static void expect_no_internal_errors(const struct h_proxy *p)
{
	FILE *f = fopen(p->log_path, "r");
	char line[1024];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, " internal: ")) {
			fclose(f);
			cr_assert_fail("sluice logged an internal error: %s", line);
		}
	}
	fclose(f);
}

void h_proxy_finish(struct h_proxy *p)
{
	h_proxy_expect_fd_baseline(p);
	h_proxy_expect_fd_audit(p);
	expect_no_internal_errors(p);
	h_proxy_stop(p);
}

void h_proxy_dump_log(const struct h_proxy *p)
{
	print_tail(p->log_path, "sluice log", 24 * 1024);
}

int h_run_sluice(const char *const *args, char *out, size_t outsz,
		 int timeout_ms)
{
	struct h_proxy p;
	char path[1200];
	FILE *f;
	size_t n = 0;

	memset(&p, 0, sizeof(p));
	snprintf(path, sizeof(path), "%s/run%d.out", test_dir(), g_nruns++);
	fflush(NULL);
	p.pid = fork();
	cr_assert(p.pid >= 0, "fork: %s", strerror(errno));
	if (p.pid == 0)
		exec_sluice(path, args);
	if (!h_proxy_wait_exit(&p, timeout_ms)) {
		proxy_kill(&p);
		p.status = -1;
	}
	f = fopen(path, "r");
	if (f && outsz) {
		n = fread(out, 1, outsz - 1, f);
		fclose(f);
	} else if (f) {
		fclose(f);
	}
	if (outsz)
		out[n] = 0;
	return p.status;
}
