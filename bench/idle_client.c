/* idle_client: opens N keep-alive HTTP/1.1 client connections to HOST:PORT,
 * sends one GET on each and reads its response, then holds them all idle
 * until standard input reaches EOF (or a line is read), closes them and exits.
 * bench/run.py uses it to measure a proxy's memory and fds per idle client
 * connection. Prints "READY n" once n connections are open and idle, and
 * "CLOSED" at the end; errors go to stderr and end the run with status 1.
 *
 * usage: idle_client HOST PORT N [PATH]
 * Every socket has a 5 s send/receive timeout, so the run is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RESP_MAX 65536

/* Reads one response with a Content-Length body (or none). 0 or -1. */
static int read_response(int fd)
{
	char buf[RESP_MAX + 1];
	size_t have = 0, need = 0;
	char *end = NULL;

	while (!end) {
		ssize_t n = recv(fd, buf + have, RESP_MAX - have, 0);
		if (n <= 0 || have + (size_t)n >= RESP_MAX)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (strncmp(buf, "HTTP/1.1 2", 10) != 0 && strncmp(buf, "HTTP/1.0 2", 10) != 0) {
		fprintf(stderr, "idle_client: non-2xx response: %.40s\n", buf);
		return -1;
	}
	for (char *p = buf; p < end; p++) {
		if (strncasecmp(p, "\r\ncontent-length:", 17) == 0) {
			need = strtoul(p + 17, NULL, 10);
			break;
		}
	}
	need += (size_t)(end + 4 - buf);
	while (have < need) {
		ssize_t n = recv(fd, buf, need - have < RESP_MAX ? need - have : RESP_MAX, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

static int open_one(const struct sockaddr_in *sa, const char *req, size_t req_len)
{
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len ||
	    read_response(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct rlimit rl;
	char req[512], line[64];
	int *fds, n, i, rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: idle_client HOST PORT N [PATH]\n");
		return 2;
	}
	n = atoi(argv[3]);
	if (n <= 0 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "idle_client: bad address or count\n");
		return 2;
	}
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle_client\r\n\r\n",
		 argc > 4 ? argv[4] : "/");
	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		return 1;
	for (i = 0; i < n; i++) {
		fds[i] = open_one(&sa, req, strlen(req));
		if (fds[i] < 0) {
			fprintf(stderr, "idle_client: connection %d of %d: %s\n", i + 1, n, strerror(errno));
			rc = 1;
			break;
		}
	}
	printf("READY %d\n", i);
	fflush(stdout);
	if (rc == 0 && !fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	while (i-- > 0)
		close(fds[i]);
	free(fds);
	printf("CLOSED\n");
	return rc;
}
