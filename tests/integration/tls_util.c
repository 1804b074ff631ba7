/*
 * TLS helpers for the integration tests (tests/ layer): openssl-made test
 * certificates, a wolfSSL client whose every wait is a bounded poll, HTTP/1.1
 * over it, raw ClientHello bytes, the TLS frontend config, metric polling and
 * a bounded process runner. See tls_util.h for the contracts.
 *
 * The client does its own socket I/O (wolfSSL I/O callbacks) for two
 * reasons: the harness sockets are non-blocking and wolfSSL must report
 * WANT_READ/WANT_WRITE rather than block, and a close_notify must be told
 * apart from a bare FIN, which wolfSSL's error codes do not do reliably;
 * our callbacks record whether the socket itself reached EOF.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/http_util.h"
#include "tests/integration/tls_util.h"

#include <wolfssl/wolfcrypt/ecc.h>

#define TU_REC 16384       /* one TLS record of plaintext at most */
#define TU_RBUF (64 * 1024)

int tu_io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

/* ---- processes ------------------------------------------------------------ */

int tu_run(const char *const *argv, const char *out_path, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		/* the test's sockets must not stay open in the child */
		syscall(SYS_close_range, 3U, ~0U, 0U);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (h_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		h_sleep_ms(10);
	}
}

/* hu_proxy_log reads any file: a stand-in proxy carries the path. */
char *tu_slurp(const char *path)
{
	struct h_proxy fake = { 0 };

	snprintf(fake.log_path, sizeof(fake.log_path), "%s", path);
	return hu_proxy_log(&fake);
}

/* ---- certificates ----------------------------------------------------------- */

/* One shell script, so that a failure leaves its whole transcript in
 * gen.log. EC P-256 keeps generation fast (a few ms per key). */
static const char gen_script[] =
	"set -e\n"
	"cd \"$1\"\n"
	"key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }\n"
	"key ca.key\n"
	"openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj '/CN=sluice test CA' \\\n"
	"	-addext basicConstraints=critical,CA:TRUE \\\n"
	"	-addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem\n"
	"leaf() {\n"
	"	key \"$1.key\"\n"
	"	openssl req -new -key \"$1.key\" -subj \"/CN=$2\" -out \"$1.csr\"\n"
	"	{\n"
	"		echo basicConstraints=CA:FALSE\n"
	"		echo keyUsage=critical,digitalSignature\n"
	"		echo extendedKeyUsage=serverAuth\n"
	"		if [ -n \"$3\" ]; then echo \"subjectAltName=$3\"; fi\n"
	"	} > \"$1.ext\"\n"
	"	openssl x509 -req -in \"$1.csr\" -CA ca.pem -CAkey ca.key -set_serial \"$4\" \\\n"
	"		-days 3650 -sha256 -extfile \"$1.ext\" -out \"$1.crt\"\n"
	"	cat \"$1.crt\" \"$1.key\" > \"$1.pem\"\n"
	"}\n"
	"leaf a a.example.test DNS:a.example.test,DNS:a-alt.example.test 2\n"
	"leaf b b.example.test DNS:b.example.test 3\n"
	"leaf wild '*.wild.example.test' 'DNS:*.wild.example.test' 4\n"
	"leaf c c.example.test '' 5\n"
	/* client certificates: one from the test CA, one from a CA sluice
	 * is never told about */
	"client() {\n"
	"	key \"$1.key\"\n"
	"	openssl req -new -key \"$1.key\" -subj \"$2\" -out \"$1.csr\"\n"
	"	printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
	"extendedKeyUsage=clientAuth\\n' > \"$1.ext\"\n"
	"	openssl x509 -req -in \"$1.csr\" -CA \"$3.pem\" -CAkey \"$3.key\" -set_serial \"$4\" \\\n"
	"		-days 3650 -sha256 -extfile \"$1.ext\" -out \"$1.crt\"\n"
	"	cat \"$1.crt\" \"$1.key\" > \"$1.pem\"\n"
	"}\n"
	"key other.key\n"
	"openssl req -x509 -new -key other.key -sha256 -days 3650 -subj '/CN=other test CA' \\\n"
	"	-addext basicConstraints=critical,CA:TRUE \\\n"
	"	-addext keyUsage=critical,keyCertSign,cRLSign -out other.pem\n"
	"client client '/O=sluice tests/CN=alice' ca 10\n"
	"client rogue '/CN=mallory' other 11\n"
	"client tricky '/O=sluice tests/title=admin/CN=bob\\/CN=admin' ca 12\n"
	"touch done\n";

static struct tu_certs g_certs;
static bool g_have_certs;

static void certs_fill(const char *dir)
{
	struct tu_certs *t = &g_certs;

#define CERT_PATH(f) snprintf(t->f, sizeof(t->f), "%s/" #f ".pem", dir)
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	CERT_PATH(ca), CERT_PATH(a), CERT_PATH(b), CERT_PATH(wild), CERT_PATH(c);
	CERT_PATH(client), CERT_PATH(rogue), CERT_PATH(tricky);
#undef CERT_PATH
}

static bool certs_done(const char *dir)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/done", dir);
	return access(path, F_OK) == 0;
}

/* Criterion runs every test in its own process: the certificates live in
 * the run directory (which the runner creates before the first test and
 * removes after the last) so that a suite generates them once. Built in a
 * private directory and renamed into place, so that concurrent test
 * processes never see a half-written set. */
const struct tu_certs *tu_certs(void)
{
	const char *run = getenv("SLUICE_IT_RUNDIR");
	char final[512], tmp[560], log[600];
	const char *argv[] = { "sh", "-c", gen_script, "gen", tmp, NULL };
	int st;

	if (g_have_certs)
		return &g_certs;
	snprintf(final, sizeof(final), "%s/tls-certs", run ? run : "/tmp");
	if (!run)
		snprintf(final, sizeof(final), "/tmp/sluice-tls-certs-%d", (int)getpid());
	if (!certs_done(final)) {
		snprintf(tmp, sizeof(tmp), "%s.XXXXXX", final);
		cr_assert(mkdtemp(tmp), "mkdtemp %s: %s", tmp, strerror(errno));
		snprintf(log, sizeof(log), "%s.log", tmp);
		st = tu_run(argv, log, 30000 * h_slow());
		if (st != 0) {
			char *out = tu_slurp(log);

			cr_assert_fail("openssl certificate generation failed (status %d):\n%s",
				       st, out);
		}
		unlink(log);
		if (rename(tmp, final) < 0) {
			const char *rm[] = { "rm", "-rf", tmp, NULL };

			/* another test process won the race: use its set */
			cr_assert(certs_done(final), "rename %s: %s", tmp, strerror(errno));
			tu_run(rm, "/dev/null", 10000);
		}
	}
	certs_fill(final);
	g_have_certs = true;
	return &g_certs;
}

/* ---- client ----------------------------------------------------------------- */

static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;

static void tls_init(void)
{
	wolfSSL_Init();
}

/* Maps the result of one recv/send to wolfSSL's I/O callback codes and
 * records what the socket said. */
static int io_result(struct tu_conn *c, ssize_t r, bool rx)
{
	if (r > 0 || (r == 0 && !rx))
		return (int)r;
	if (r == 0) {
		c->sock_eof = true;
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	}
	if (errno == EINTR)
		return WOLFSSL_CBIO_ERR_ISR; /* wolfSSL calls again */
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_READ; /* == WANT_WRITE */
	c->sock_err = -errno;
	if (errno == EPIPE)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
}

static int cb_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tu_conn *c = ctx;

	(void)ssl;
	return io_result(c, recv(c->fd, buf, (size_t)sz, MSG_DONTWAIT), true);
}

static int cb_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tu_conn *c = ctx;

	(void)ssl;
	return io_result(c, send(c->fd, buf, (size_t)sz, MSG_DONTWAIT | MSG_NOSIGNAL), false);
}

/* Waits for what wolfSSL asked for (e: WANT_READ or WANT_WRITE). */
static int wait_io(struct tu_conn *c, int e)
{
	struct pollfd pfd = {
		.fd = c->fd,
		.events = e == WOLFSSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
	};

	for (;;) {
		int r = poll(&pfd, 1, c->timeout_ms);

		if (r > 0)
			return 0; /* errors and hangups show on the next call */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* The -errno of a failed wolfSSL call whose error e is not WANT_*: what
 * the socket saw first, else a TLS-level failure. */
static int tls_fail(struct tu_conn *c, int e)
{
	char why[80];

	c->err = e;
	wolfSSL_ERR_error_string_n((unsigned long)e, why, sizeof(why));
	snprintf(c->errstr, sizeof(c->errstr), "wolfSSL error %d (%s)", e, why);
	if (c->sock_err)
		return c->sock_err;
	if (c->sock_eof)
		return -EPIPE;
	return -EPROTO;
}

static bool want(int e)
{
	return e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE;
}

static WOLFSSL_METHOD *method_for(int min, int max)
{
	if (min == 13)
		return wolfTLSv1_3_client_method();
	if (max == 12)
		return wolfTLSv1_2_client_method();
	return wolfSSLv23_client_method();
}

static void after_handshake(struct tu_conn *c)
{
	WOLFSSL_X509 *x;
	char *proto = NULL;
	unsigned short plen = 0;

	snprintf(c->version, sizeof(c->version), "%s", wolfSSL_get_version(c->ssl));
	c->resumed = wolfSSL_session_reused(c->ssl) == 1;
	if (wolfSSL_ALPN_GetProtocol(c->ssl, &proto, &plen) == WOLFSSL_SUCCESS && proto)
		snprintf(c->alpn, sizeof(c->alpn), "%.*s", (int)plen, proto);
	x = wolfSSL_get_peer_certificate(c->ssl);
	if (x) {
		const char *cn = wolfSSL_X509_get_subjectCN(x);

		snprintf(c->peer_cn, sizeof(c->peer_cn), "%s", cn ? cn : "");
		wolfSSL_X509_free(x);
	}
}

/* Builds ctx + ssl for options o (no socket yet). */
static int client_new(struct tu_conn *c, const struct tu_opts *o)
{
	int min = o->min_ver ? o->min_ver : 12, max = o->max_ver ? o->max_ver : 13;

	pthread_once(&g_tls_once, tls_init);
	c->ctx = wolfSSL_CTX_new(method_for(min, max));
	if (!c->ctx)
		return -ENOMEM;
	if (min == 12 && max == 13)
		wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2);
	if (o->no_verify) {
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
	} else {
		if (wolfSSL_CTX_load_verify_locations(c->ctx, tu_certs()->ca, NULL) !=
		    WOLFSSL_SUCCESS)
			return -EINVAL;
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
	}
	if (o->cert && (wolfSSL_CTX_use_certificate_chain_file(c->ctx, o->cert) !=
			WOLFSSL_SUCCESS || wolfSSL_CTX_use_PrivateKey_file(c->ctx, o->cert,
									   WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS))
		return -EINVAL;
	wolfSSL_CTX_SetIORecv(c->ctx, cb_recv);
	wolfSSL_CTX_SetIOSend(c->ctx, cb_send);
	c->ssl = wolfSSL_new(c->ctx);
	if (!c->ssl)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	if (o->sni && wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, o->sni,
				     (unsigned short)strlen(o->sni)) != WOLFSSL_SUCCESS)
		return -EINVAL;
	if (o->alpn) {
		char list[128];

		snprintf(list, sizeof(list), "%s", o->alpn);
		if (wolfSSL_UseALPN(c->ssl, list, (unsigned)strlen(list),
				    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
			return -EINVAL;
	}
	/* TLS 1.2 resumes by ticket only when the client asks for one */
	if (max == 12 || min == 12)
		wolfSSL_UseSessionTicket(c->ssl);
	if (o->resume && wolfSSL_set_session(c->ssl, o->resume) != WOLFSSL_SUCCESS)
		return -EINVAL;
	return 0;
}

int tu_connect(struct tu_conn *c, int port, const struct tu_opts *o)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : tu_io_to();
	rc = client_new(c, o);
	if (rc < 0) {
		snprintf(c->errstr, sizeof(c->errstr), "client setup: %s", strerror(-rc));
		return rc;
	}
	c->fd = h_connect(port, c->timeout_ms);
	if (c->fd < 0) {
		rc = c->fd;
		c->fd = -1;
		snprintf(c->errstr, sizeof(c->errstr), "connect: %s", strerror(-rc));
		return rc;
	}
	if (o->pre_len && (rc = h_send_all(c->fd, o->pre, o->pre_len, -1, c->timeout_ms)) < 0) {
		snprintf(c->errstr, sizeof(c->errstr), "send before the handshake: %s",
			 strerror(-rc));
		return rc;
	}
	for (;;) {
		int r = wolfSSL_connect(c->ssl), e;

		if (r == WOLFSSL_SUCCESS)
			break;
		e = wolfSSL_get_error(c->ssl, r);
		if (!want(e))
			return tls_fail(c, e);
		rc = wait_io(c, e);
		if (rc < 0) {
			snprintf(c->errstr, sizeof(c->errstr), "handshake: %s",
				 strerror(-rc));
			return rc;
		}
	}
	after_handshake(c);
	return 0;
}

void tu_thread_exit(void)
{
	wc_ecc_fp_free();
}

static void conn_free(struct tu_conn *c)
{
	if (c->ssl)
		wolfSSL_free(c->ssl);
	if (c->ctx)
		wolfSSL_CTX_free(c->ctx);
	free(c->rbuf);
	c->ssl = NULL;
	c->ctx = NULL;
	c->rbuf = NULL;
}

void tu_close(struct tu_conn *c)
{
	/* one attempt: the alert fits in the socket buffer, and a peer that
	 * is gone does not need it */
	if (c->ssl && c->fd >= 0 && !c->sock_err && wolfSSL_is_init_finished(c->ssl))
		wolfSSL_shutdown(c->ssl);
	conn_free(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int tu_shutdown(struct tu_conn *c)
{
	int r = wolfSSL_shutdown(c->ssl), e;

	/* WOLFSSL_SHUTDOWN_NOT_DONE: ours went out, the peer's is to come */
	if (r != WOLFSSL_SUCCESS && r != WOLFSSL_SHUTDOWN_NOT_DONE) {
		e = wolfSSL_get_error(c->ssl, r);
		if (!want(e))
			return tls_fail(c, e);
		return -EAGAIN;
	}
	if (shutdown(c->fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

void tu_abort(struct tu_conn *c)
{
	conn_free(c);
	if (c->fd >= 0)
		h_close_rst(c->fd);
	c->fd = -1;
}

WOLFSSL_SESSION *tu_session(struct tu_conn *c)
{
	return wolfSSL_get1_session(c->ssl);
}

int tu_send_all(struct tu_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	size_t off = 0;

	while (off < n) {
		int len = n - off > TU_REC ? TU_REC : (int)(n - off);
		/* after WANT_WRITE wolfSSL wants the same arguments again */
		int r = wolfSSL_write(c->ssl, p + off, len), e, rc;

		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		e = wolfSSL_get_error(c->ssl, r);
		if (!want(e))
			return tls_fail(c, e);
		rc = wait_io(c, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tu_send_str(struct tu_conn *c, const char *s)
{
	return tu_send_all(c, s, strlen(s));
}

int tu_send_pattern(struct tu_conn *c, uint64_t n, uint32_t seed)
{
	static __thread uint8_t buf[64 * 1024];
	uint64_t off = 0;

	while (off < n) {
		size_t len = n - off > sizeof(buf) ? sizeof(buf) : (size_t)(n - off);
		int rc;

		h_pattern(buf, len, off, seed);
		rc = tu_send_all(c, buf, len);
		if (rc < 0)
			return rc;
		off += len;
	}
	return 0;
}

/* What a wolfSSL_read that returned r <= 0 means: 1 to retry (nothing
 * yet), 0 for a close_notify, else -errno. A close_notify is only believed
 * when the socket itself had not ended first. */
static int read_end(struct tu_conn *c, int r)
{
	int e = wolfSSL_get_error(c->ssl, r);

	if (want(e))
		return 1;
	if (!c->sock_eof && !c->sock_err &&
	    (e == WOLFSSL_ERROR_ZERO_RETURN ||
	     (wolfSSL_get_shutdown(c->ssl) & WOLFSSL_RECEIVED_SHUTDOWN)))
		return 0;
	return tls_fail(c, e);
}

ssize_t tu_recv(struct tu_conn *c, void *buf, size_t n)
{
	int len = n > INT_MAX ? INT_MAX : (int)n;

	for (;;) {
		int r = wolfSSL_read(c->ssl, buf, len), rc;

		if (r > 0)
			return r;
		rc = read_end(c, r);
		if (rc <= 0)
			return rc;
		rc = wait_io(c, wolfSSL_get_error(c->ssl, r));
		if (rc < 0)
			return rc;
	}
}

int tu_recv_all(struct tu_conn *c, struct h_rx *rx, uint64_t max)
{
	static __thread uint8_t buf[64 * 1024];

	for (;;) {
		size_t want_n = sizeof(buf);
		ssize_t r;

		if (rx->bytes >= max) {
			rx->end = 1;
			break;
		}
		if (max - rx->bytes < want_n)
			want_n = (size_t)(max - rx->bytes);
		r = tu_recv(c, buf, want_n);
		if (r <= 0) {
			rx->end = (int)r;
			break;
		}
		rx->hash = h_fnv1a(rx->hash, buf, (size_t)r);
		rx->bytes += (uint64_t)r;
	}
	rx->t_end = h_now_ms();
	return rx->end;
}

/* One non-blocking write attempt of the pending chunk; 1 on progress, 0
 * when it must wait (*wout: for POLLOUT), -errno. */
static int pump_write(struct tu_conn *c, uint8_t *tx, size_t *txlen,
		      uint64_t *sent, uint64_t tx_len, uint32_t seed, bool *wout)
{
	int r, e;

	if (!*txlen) {
		*txlen = tx_len - *sent > TU_REC ? TU_REC : (size_t)(tx_len - *sent);
		h_pattern(tx, *txlen, *sent, seed);
	}
	r = wolfSSL_write(c->ssl, tx, (int)*txlen);
	if (r > 0) {
		*sent += (uint64_t)r;
		*txlen = 0;
		*wout = false;
		return 1;
	}
	e = wolfSSL_get_error(c->ssl, r);
	if (!want(e))
		return tls_fail(c, e);
	*wout = e == WOLFSSL_ERROR_WANT_WRITE;
	return 0;
}

int tu_pump(struct tu_conn *c, uint64_t tx_len, uint32_t seed,
	    struct h_rx *rx, uint64_t rx_max)
{
	static __thread uint8_t tx[TU_REC], buf[64 * 1024];
	uint64_t sent = 0;
	size_t txlen = 0;
	bool wout = false, rx_done = false;
	int rc = 0;

	while (sent < tx_len || !rx_done) {
		bool progress = false;

		if (sent < tx_len) {
			rc = pump_write(c, tx, &txlen, &sent, tx_len, seed, &wout);
			if (rc < 0)
				break;
			progress = rc > 0;
			rc = 0;
		}
		if (!rx_done) {
			int r = wolfSSL_read(c->ssl, buf, sizeof(buf));

			if (r > 0) {
				rx->hash = h_fnv1a(rx->hash, buf, (size_t)r);
				rx->bytes += (uint64_t)r;
				progress = true;
				if (rx->bytes >= rx_max) {
					rx->end = 1;
					rx_done = true;
				}
			} else if ((rc = read_end(c, r)) <= 0) {
				rx->end = rc;
				rx_done = true;
				if (rc < 0)
					break;
				/* the stream ended with data still to send */
				if (sent < tx_len) {
					rc = -EPIPE;
					break;
				}
			}
			rc = 0;
		}
		if (!progress) {
			struct pollfd pfd = {
				.fd = c->fd,
				.events = (short)((rx_done ? 0 : POLLIN) | (wout ? POLLOUT : 0)),
			};
			int pr;

			if (!pfd.events)
				pfd.events = POLLOUT;
			pr = poll(&pfd, 1, c->timeout_ms);
			if (pr == 0) {
				rc = -ETIMEDOUT;
				break;
			}
			if (pr < 0 && errno != EINTR) {
				rc = -errno;
				break;
			}
		}
	}
	if (!rx_done)
		rx->end = rc;
	rx->t_end = h_now_ms();
	return rc;
}

int tu_wait_fin(struct tu_conn *c, int timeout_ms)
{
	uint64_t extra = 0;
	int rc = c->sock_eof ? 0 : c->sock_err ? c->sock_err :
		 h_wait_closed(c->fd, timeout_ms, &extra);

	return rc == 0 && extra ? -EBADMSG : rc;
}

/* ---- HTTP/1.1 ------------------------------------------------------------------ */

/* Refills c->rbuf (keeping what is unread): > 0, or tu_recv's result. */
static ssize_t fill(struct tu_conn *c)
{
	ssize_t r;

	if (!c->rbuf) {
		c->rbuf = malloc(TU_RBUF);
		cr_assert(c->rbuf);
	}
	if (c->roff == c->rlen) {
		c->roff = 0;
		c->rlen = 0;
	} else if (c->roff > 0 && c->rlen == TU_RBUF) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rlen == TU_RBUF)
		return -E2BIG;
	r = tu_recv(c, c->rbuf + c->rlen, TU_RBUF - c->rlen);
	if (r > 0)
		c->rlen += (size_t)r;
	return r;
}

static const char *find_header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			l += n + 1;
			while (*l == ' ' || *l == '\t')
				l++;
			return l;
		}
	}
	return NULL;
}

static int read_head(struct tu_conn *c, struct tu_rsp *r)
{
	for (;;) {
		char *start = c->rbuf ? c->rbuf + c->roff : NULL;
		char *end = start ? memmem(start, c->rlen - c->roff, "\r\n\r\n", 4) : NULL;
		ssize_t n;

		if (end) {
			size_t len = (size_t)(end + 4 - start);

			if (len >= sizeof(r->head))
				return -E2BIG;
			memcpy(r->head, start, len);
			r->head[len] = 0;
			c->roff += len;
			return 0;
		}
		n = fill(c);
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
	}
}

int tu_read_rsp(struct tu_conn *c, struct tu_rsp *r)
{
	const char *v;
	int rc;

	memset(r, 0, sizeof(*r));
	r->body_hash = H_FNV_INIT;
	rc = read_head(c, r);
	if (rc < 0)
		return rc;
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -EBADMSG;
	v = find_header(r->head, "Content-Length");
	if (!v)
		return -EBADMSG;
	r->cl = strtoull(v, NULL, 10);
	v = find_header(r->head, "Connection");
	r->conn_close = v && !strncasecmp(v, "close", 5);
	while (r->body_len < r->cl) {
		size_t avail = c->rlen - c->roff, take;

		if (!avail) {
			ssize_t n = fill(c);

			if (n <= 0)
				return n == 0 ? -EPIPE : (int)n;
			continue;
		}
		take = r->cl - r->body_len < avail ? (size_t)(r->cl - r->body_len) : avail;
		if (r->body_len < sizeof(r->body) - 1) {
			size_t keep = sizeof(r->body) - 1 - (size_t)r->body_len;

			memcpy(r->body + r->body_len, c->rbuf + c->roff,
			       keep < take ? keep : take);
		}
		r->body_hash = h_fnv1a(r->body_hash, c->rbuf + c->roff, take);
		r->body_len += take;
		c->roff += take;
	}
	return 0;
}

int tu_http(struct tu_conn *c, const char *req, struct tu_rsp *r)
{
	int rc = tu_send_str(c, req);

	memset(r, 0, sizeof(*r));
	return rc < 0 ? rc : tu_read_rsp(c, r);
}

/* ---- raw ClientHello --------------------------------------------------------- */

struct capture {
	uint8_t *buf;
	size_t cap, len;
};

static int cap_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct capture *k = ctx;
	size_t n = (size_t)sz;

	(void)ssl;
	if (n > k->cap - k->len)
		n = k->cap - k->len;
	memcpy(k->buf + k->len, buf, n);
	k->len += n;
	return sz;
}

static int cap_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl, (void)buf, (void)sz, (void)ctx;
	return WOLFSSL_CBIO_ERR_WANT_READ;
}

size_t tu_client_hello(uint8_t *buf, size_t cap, const char *sni)
{
	struct capture k = { .buf = buf, .cap = cap };
	WOLFSSL_CTX *ctx;
	WOLFSSL *ssl;

	pthread_once(&g_tls_once, tls_init);
	ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	cr_assert(ctx);
	wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	ssl = wolfSSL_new(ctx);
	cr_assert(ssl);
	wolfSSL_SSLSetIORecv(ssl, cap_recv);
	wolfSSL_SSLSetIOSend(ssl, cap_send);
	wolfSSL_SetIOReadCtx(ssl, &k);
	wolfSSL_SetIOWriteCtx(ssl, &k);
	if (sni)
		wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni, (unsigned short)strlen(sni));
	/* sends the hello, then wants to read the answer that never comes */
	wolfSSL_connect(ssl);
	wolfSSL_free(ssl);
	wolfSSL_CTX_free(ctx);
	cr_assert(k.len > 5 && buf[0] == 0x16, "no ClientHello captured (%zu bytes)", k.len);
	return k.len;
}

/* ---- the proxy ------------------------------------------------------------------- */

#define OR(v, d) ((v) ? (v) : (d))

struct h_proxy *tu_proxy_start(const struct tu_conf *c)
{
	char conf[8192], rot[64] = "", minv[64] = "", http[128] = "";
	int port = h_free_port();
	size_t off;

	if (c->ssl_ticket_rotate)
		snprintf(rot, sizeof(rot), "ssl_ticket_rotate = %s\n", c->ssl_ticket_rotate);
	if (c->ssl_min_version || c->h2)
		snprintf(minv, sizeof(minv), "%s%s%s%s%s", c->ssl_min_version ? "ssl_min_version = " : "",
			 c->ssl_min_version ? c->ssl_min_version : "", c->ssl_min_version ? "\n" : "",
			 c->h2 ? "h2 = " : "", c->h2 ? c->h2 : "");
	if (c->h2)
		strncat(minv, "\n", sizeof(minv) - strlen(minv) - 1);
	/* the http keys are not for tcp-only configs */
	if (!c->tcp)
		snprintf(http, sizeof(http), "timeout_http_request = %s\n"
			 "timeout_http_keep_alive = %s\n", OR(c->timeout_http_request, "5s"),
			 OR(c->timeout_http_keep_alive, "5s"));
	off = (size_t)snprintf(conf, sizeof(conf),
		"[global]\nworkers = %d\nmaxconn = 4000\nlog = stderr\ngrace = 1s\n%s\n"
		"[defaults]\ntimeout_connect = 500ms\ntimeout_client = %s\n"
		"timeout_server = 10s\ntimeout_client_fin = 300ms\n"
		"timeout_server_fin = %s\n%s\n"
		"[frontend %s]\nbind = 127.0.0.1:%d ssl crt=%s%s%s\nmode = %s\nbackend = app\n%s\n"
		"[backend app]\nmode = %s\nbalance = roundrobin\n",
		c->workers > 0 ? c->workers : 1, rot, OR(c->timeout_client, "10s"),
		OR(c->timeout_server_fin, "300ms"), http, OR(c->fe_name, "web"), port,
		OR(c->crt, tu_certs()->a), c->bind_extra ? " " : "", OR(c->bind_extra, ""),
		c->tcp ? "tcp" : "http", minv,
		c->tcp ? "tcp" : "http-server-close");
	for (int i = 0; i < c->nservers && off < sizeof(conf); i++)
		off += (size_t)snprintf(conf + off, sizeof(conf) - off,
					"server = s%d 127.0.0.1:%d\n", i + 1, c->server_port[i]);
	cr_assert(off < sizeof(conf), "config too long");
	return h_proxy_start_text(conf, port);
}

void tu_series(char *buf, size_t n, const char *name, const char *fe)
{
	snprintf(buf, n, "%s{frontend=\"%s\"}", name, fe);
}

void tu_series_fail(char *buf, size_t n, const char *fe, const char *reason)
{
	snprintf(buf, n, "sluice_frontend_tls_handshake_failures_total{frontend=\"%s\","
		 "reason=\"%s\"}", fe, reason);
}

/* One scrape; true if the series is there. */
static bool scrape(struct h_proxy *p, const char *series, double *v)
{
	char *body = NULL;
	size_t len = 0;
	int st;
	bool found;

	cr_assert(p->stats_port, "no stats listener");
	st = h_http_get(p->stats_port, "/metrics", &body, &len, tu_io_to());
	cr_assert_eq(st, 200, "GET /metrics: %d", st);
	found = h_metric(body, series, v);
	free(body);
	return found;
}

double tu_metric_wait(struct h_proxy *p, const char *series, double min,
		      int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	double v = -1;

	for (;;) {
		double cur;

		if (scrape(p, series, &cur)) {
			v = cur;
			if (v >= min)
				return v;
		}
		if (h_now_ms() >= deadline)
			return v;
		h_sleep_ms(50);
	}
}

double tu_metric(struct h_proxy *p, const char *series)
{
	double v = tu_metric_wait(p, series, 0, 0);

	return v < 0 ? 0 : v;
}
