/*
 * Process log (core/ layer). Formats a timestamped line into a stack buffer
 * and writes it with one write(2); a short or failed write drops the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static int log_fd = STDOUT_FILENO;
static int log_owned;
static char log_path[SL_CONF_PATH_MAX];

int sl_log_open(const struct sl_config *conf)
{
	int ret = 0;

	switch (conf->log) {
	case SL_LOG_STDOUT:
		log_fd = STDOUT_FILENO;
		break;
	case SL_LOG_STDERR:
		log_fd = STDERR_FILENO;
		break;
	case SL_LOG_OFF:
		log_fd = -1;
		break;
	case SL_LOG_FILE:
		log_fd = open(conf->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			ret = -errno;
		} else {
			log_owned = 1;
			snprintf(log_path, sizeof(log_path), "%s", conf->log_path);
		}
		break;
	}
	return ret;
}

/* dup2 puts the new file under the same fd number: workers and their
 * access log writes (queued on their rings with that number) move to the
 * new file without being told, and no thread ever sees a closed fd. */
int sl_log_reopen(void)
{
	int fd;

	if (!log_owned)
		return 0;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (dup3(fd, log_fd, O_CLOEXEC) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return 1;
}

void sl_log_close(void)
{
	if (log_owned && log_fd >= 0)
		close(log_fd);
	log_owned = 0;
	log_fd = STDOUT_FILENO;
}

int sl_log_target_fd(void)
{
	return log_fd;
}

int sl_log_fd(void)
{
	return log_owned ? log_fd : -1;
}

/* Format and write one line; suffix (may be NULL) goes after the message. */
static void vlog(const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ ", ts.tv_nsec / 1000000);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (suffix && n < (int)sizeof(line) - 2)
		n += snprintf(line + n, sizeof(line) - (size_t)n - 1, "%s", suffix);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) < 0)
		(void)errno;
}

void sl_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
}

void sl_log_limited(struct sl_log_limit *l, uint64_t now_ms, const char *fmt, ...)
{
	char suffix[96];
	va_list ap;

	if (log_fd < 0)
		return;
	if (now_ms / 1000 != l->sec) {
		l->sec = now_ms / 1000;
		l->lines = 0;
	}
	if (l->lines >= SL_LOG_LIMIT_PER_SEC) {
		l->dropped++;
		return;
	}
	l->lines++;
	suffix[0] = 0;
	if (l->dropped)
		snprintf(suffix, sizeof(suffix), " [log limit: %llu lines dropped before this one]",
			 (unsigned long long)l->dropped);
	l->dropped = 0;
	va_start(ap, fmt);
	vlog(suffix, fmt, ap);
	va_end(ap);
}
