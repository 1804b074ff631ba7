/*
 * Helpers for the operations tests, see ops_util.h.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/ops_util.h"

int ou_admin(const char *path, const char *method, const char *target, const char *body,
	     char **rsp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char req[1024], *buf = NULL, *sep;
	size_t n = 0, cap = 0;
	uint64_t deadline = h_now_ms() + 10000u * (unsigned)h_slow();
	int fd, status = 0, rc = 0;

	if (rsp)
		*rsp = NULL;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: sluice\r\nContent-Length: %zu\r\n"
		 "\r\n%s", method, target, body ? strlen(body) : 0, body ? body : "");
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		rc = -errno;
	while (rc == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - h_now_ms());
		ssize_t r;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

			cr_assert(nb);
			buf = nb;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && errno != EINTR)
			rc = -errno;
		else if (r > 0)
			n += (size_t)r;
	}
	close(fd);
	if (rc == 0 && (!buf || sscanf(buf, "HTTP/1.1 %d", &status) != 1))
		rc = -EPROTO;
	if (rc == 0) {
		buf[n] = 0;
		sep = strstr(buf, "\r\n\r\n");
		if (!sep) {
			rc = -EPROTO;
		} else if (rsp) {
			memmove(buf, sep + 4, strlen(sep + 4) + 1);
			*rsp = buf;
			buf = NULL;
		}
	}
	free(buf);
	return rc < 0 ? rc : status;
}

void ou_rewrite(struct h_proxy *p, const char *text)
{
	const char *g = strstr(text, "[global]\n");
	char tmp[700];
	FILE *f;

	cr_assert(g, "ou_rewrite: the text must have a [global] section");
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->conf_path);
	f = fopen(tmp, "w");
	cr_assert(f, "%s: %s", tmp, strerror(errno));
	fprintf(f, "%.*s", (int)(g + 9 - text), text);
	if (p->stats_port)
		fprintf(f, "stats = 127.0.0.1:%d\n", p->stats_port);
	fprintf(f, "%s", g + 9);
	cr_assert_eq(fclose(f), 0);
	/* a rename: the proxy never reads a half-written file */
	cr_assert_eq(rename(tmp, p->conf_path), 0, "%s", strerror(errno));
}

int ou_file_count(const char *path, const char *s)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, n = 0;
	int count = 0;

	if (!f)
		return 0;
	for (;;) {
		size_t r;

		if (n + 65536 > cap) {
			char *nt = realloc(text, cap = cap ? cap * 2 : 262144);

			cr_assert(nt);
			text = nt;
		}
		r = fread(text + n, 1, cap - n - 1, f);
		if (!r)
			break;
		n += r;
	}
	fclose(f);
	text[n] = 0;
	for (const char *p = text; (p = strstr(p, s)); p += strlen(s))
		count++;
	free(text);
	return count;
}

bool ou_wait_file_count(const char *path, const char *s, int n, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	while (ou_file_count(path, s) < n) {
		if (h_now_ms() >= deadline)
			return false;
		h_sleep_ms(20);
	}
	return true;
}

long ou_pid_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	cr_assert(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

long ou_rss_kib(const struct h_proxy *p)
{
	return ou_pid_rss_kib(p->pid);
}

bool ou_get_ok(int port)
{
	return h_http_get(port, "/", NULL, NULL, 10000 * h_slow()) == 200;
}
