/*
 * TLS termination (proto/ layer). Data path of one TLS client connection:
 *   recv CQE (ciphertext) -> core queues it in s->tls->cin -> sl_tls_input
 *   -> wolfSSL_accept / wolfSSL_read pull cin through tls_recv_cb
 *   -> plaintext lands in the client side's queue (sl_session_plain_*)
 *   -> http or tcp consume it exactly as plain bytes.
 *   Toward the client, sl_session_pump encrypts queued plaintext with
 *   sl_tls_encrypt: tls_send_cb appends records to s->tls->cout, which the
 *   core sends with one io_uring send.
 * wolfSSL never blocks and never sees a socket: when cin runs dry the read
 * callback says WANT_READ and we wait for the next recv CQE.
 *
 * Contexts: one WOLFSSL_CTX per certificate file of a bind, all with the
 * same settings. A connection starts on the first; the SNI callback moves
 * it to the certificate whose names match (exact, then wildcard). Session
 * tickets are sealed with ChaCha20-Poly1305 under a process-wide key that
 * rotates every ssl_ticket_rotate; the previous key still opens tickets, so
 * a ticket lives for up to two periods.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/proxy.h"
#include "core/session.h"
#include "core/stats.h"
#include "proto/tls.h"

const char *const sl_tls_fail_names[SL_TLS_FAIL_COUNT] = {
	[SL_TLS_FAIL_PROTOCOL] = "protocol",
	[SL_TLS_FAIL_TIMEOUT] = "timeout",
	[SL_TLS_FAIL_CLOSED] = "closed",
};

#define MAX_NAMES 64      /* DNS names kept per certificate */
#define CIPHERS "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:" \
	"TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

struct tls_cert {
	WOLFSSL_CTX *ctx;
	char *names[MAX_NAMES]; /* lower case; "*.x.y" for wildcards */
	int nnames;
};

struct sl_tls_bind {
	const struct sl_bind_conf *bind;
	const struct sl_frontend_conf *fe;
	struct tls_cert *certs;
	int ncerts;
};

/* The certificates of one configuration: a reload loads the new file's
 * next to those of the configuration still draining, and releases these
 * when that configuration is freed. Only the main thread (under the
 * reload lock) changes the list and looks binds up in it. */
struct tls_set {
	const struct sl_config *conf;
	struct sl_tls_bind *binds;
	int nbinds;
	struct tls_set *next;
};

static struct tls_set *sets;
static bool wolf_up;

/* ---- session tickets ------------------------------------------------------ */

struct ticket_key {
	unsigned char name[WOLFSSL_TICKET_NAME_SZ];
	unsigned char key[CHACHA20_POLY1305_AEAD_KEYSIZE];
	uint64_t born_ms;
	bool valid;
};

static struct {
	pthread_mutex_t mu;
	uint64_t period_ms;
	struct ticket_key cur, prev;
} tk = { .mu = PTHREAD_MUTEX_INITIALIZER };

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fill_random(void *p, size_t n)
{
	unsigned char *b = p;

	while (n) {
		ssize_t r = getrandom(b, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Under tk.mu: start a new key when the current one is a period old. */
static int rotate_keys(uint64_t now)
{
	struct ticket_key k = { .born_ms = now, .valid = true };

	if (tk.cur.valid && now - tk.cur.born_ms < tk.period_ms)
		return 0;
	if (fill_random(k.name, sizeof(k.name)) < 0 || fill_random(k.key, sizeof(k.key)) < 0)
		return -1;
	tk.prev = tk.cur;
	tk.cur = k;
	return 0;
}

/* wolfSSL's ticket callback. The ticket body is sealed in place; the
 * associated data binds it to the key name and nonce. */
static int ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
		     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
		     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
		     int in_len, int *out_len, void *arg)
{
	unsigned char aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ];
	struct ticket_key k;
	uint64_t now = mono_ms();
	bool old = false;

	(void)ssl;
	(void)arg;
	if (in_len <= 0)
		return WOLFSSL_TICKET_RET_FATAL;
	pthread_mutex_lock(&tk.mu);
	if (rotate_keys(now) < 0) {
		pthread_mutex_unlock(&tk.mu);
		return WOLFSSL_TICKET_RET_FATAL;
	}
	if (enc) {
		k = tk.cur;
	} else if (memcmp(key_name, tk.cur.name, sizeof(tk.cur.name)) == 0) {
		k = tk.cur;
	} else if (tk.prev.valid && memcmp(key_name, tk.prev.name, sizeof(tk.prev.name)) == 0 &&
		   now - tk.prev.born_ms < 2 * tk.period_ms) {
		k = tk.prev;
		old = true;
	} else {
		pthread_mutex_unlock(&tk.mu);
		return WOLFSSL_TICKET_RET_REJECT; /* unknown or expired key: full handshake */
	}
	pthread_mutex_unlock(&tk.mu);
	if (enc) {
		memcpy(key_name, k.name, WOLFSSL_TICKET_NAME_SZ);
		memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
		if (fill_random(iv, CHACHA20_POLY1305_AEAD_IV_SIZE) < 0)
			return WOLFSSL_TICKET_RET_FATAL;
	}
	memcpy(aad, key_name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
	if (enc) {
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		if (wc_ChaCha20Poly1305_Encrypt(k.key, iv, aad, sizeof(aad), ticket,
						(word32)in_len, ticket, mac) != 0)
			return WOLFSSL_TICKET_RET_FATAL;
		*out_len = in_len;
		return WOLFSSL_TICKET_RET_OK;
	}
	if (wc_ChaCha20Poly1305_Decrypt(k.key, iv, aad, sizeof(aad), ticket, (word32)in_len,
					mac, ticket) != 0)
		return WOLFSSL_TICKET_RET_REJECT;
	*out_len = in_len;
	/* opened with the previous key: resume, and hand out a fresh ticket */
	return old ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
}

/* ---- I/O callbacks: memory only ------------------------------------------ */

static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct sl_session *s = ctx;
	uint32_t n;

	(void)ssl;
	if (sz <= 0)
		return 0;
	n = sl_session_cin_read(s, buf, (uint32_t)sz);
	return n ? (int)n : WOLFSSL_CBIO_ERR_WANT_READ;
}

static int tls_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct sl_tls_conn *t = ((struct sl_session *)ctx)->tls;

	(void)ssl;
	if (sz <= 0)
		return 0;
	if (t->cout_off == t->cout_len)
		t->cout_off = t->cout_len = 0;
	if (t->cout_len + (uint32_t)sz > t->cout_cap) {
		uint32_t cap = t->cout_cap ? t->cout_cap : 4096;
		char *p;

		while (cap < t->cout_len + (uint32_t)sz)
			cap *= 2;
		if (t->cout_busy && !t->cout_old) {
			/* a send reads cout (wolfSSL_read can write a record, an
			 * alert or a key update reply, at any time): it keeps the old
			 * buffer until its completion, we go on in a copy */
			p = malloc(cap);
			if (!p)
				return WOLFSSL_CBIO_ERR_GENERAL;
			memcpy(p, t->cout, t->cout_len);
			t->cout_old = t->cout;
			t->cout_busy = false;
		} else {
			p = realloc(t->cout, cap);
			if (!p)
				return WOLFSSL_CBIO_ERR_GENERAL;
		}
		t->cout = p;
		t->cout_cap = cap;
	}
	memcpy(t->cout + t->cout_len, buf, (size_t)sz);
	t->cout_len += (uint32_t)sz;
	return sz;
}

/* ---- SNI ------------------------------------------------------------------- */

static bool cert_has_name(const struct tls_cert *c, const char *name, bool wildcard)
{
	const char *dot = strchr(name, '.');

	for (int i = 0; i < c->nnames; i++) {
		const char *n = c->names[i];

		if (!wildcard && strcasecmp(n, name) == 0)
			return true;
		/* "*.example.test" covers one label: a.example.test, not
		 * example.test nor a.b.example.test */
		if (wildcard && n[0] == '*' && n[1] == '.' && dot && dot != name &&
		    strcasecmp(n + 1, dot) == 0)
			return true;
	}
	return false;
}

static const struct tls_cert *pick_cert(const struct sl_tls_bind *tb, const char *name)
{
	if (name && name[0]) {
		for (int w = 0; w < 2; w++)
			for (int i = 0; i < tb->ncerts; i++)
				if (cert_has_name(&tb->certs[i], name, w == 1))
					return &tb->certs[i];
	}
	return &tb->certs[0];
}

static int sni_cb(WOLFSSL *ssl, int *alert, void *arg)
{
	const struct sl_tls_bind *tb = arg;
	const char *name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
	const struct tls_cert *c = pick_cert(tb, name);

	(void)alert;
	if (c != &tb->certs[0] && !wolfSSL_set_SSL_CTX(ssl, c->ctx))
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK; /* unknown names get the first certificate */
}

/* ---- start-up ------------------------------------------------------------- */

static void add_name(struct tls_cert *c, const char *name)
{
	char *n;

	if (!name || !name[0] || c->nnames >= MAX_NAMES)
		return;
	for (int i = 0; i < c->nnames; i++)
		if (strcasecmp(c->names[i], name) == 0)
			return;
	n = strdup(name);
	if (!n)
		return;
	for (char *p = n; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	c->names[c->nnames++] = n;
}

/* The DNS names the leaf certificate of path answers to: its
 * subjectAltName entries, or its common name when it has none. */
static void load_names(struct tls_cert *c, const char *path)
{
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
	char *alt;

	if (!x)
		return;
	while ((alt = wolfSSL_X509_get_next_altname(x)) != NULL)
		add_name(c, alt);
	if (c->nnames == 0) {
		char cn[256];
		WOLFSSL_X509_NAME *subj = wolfSSL_X509_get_subject_name(x);

		if (subj && wolfSSL_X509_NAME_get_text_by_NID(subj, NID_commonName, cn,
							      sizeof(cn)) > 0)
			add_name(c, cn);
	}
	wolfSSL_X509_free(x);
}

static const char *wolf_reason(int code, char *buf, size_t len)
{
	wolfSSL_ERR_error_string_n((unsigned long)code, buf, len);
	return buf;
}

static int load_cert(const struct sl_config *conf, struct sl_tls_bind *tb, const char *path,
		     struct tls_cert *c, char *err, size_t len)
{
	const struct sl_frontend_conf *fe = tb->fe;
	char why[160];
	int rc;

	c->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	if (!c->ctx) {
		snprintf(err, len, "%s:%d: key 'bind': cannot create a TLS context", conf->path,
			 tb->bind->line);
		return -ENOMEM;
	}
	rc = wolfSSL_CTX_use_certificate_chain_file(c->ctx, path);
	if (rc != WOLFSSL_SUCCESS) {
		snprintf(err, len, "%s:%d: key 'bind': crt=%s: no usable certificate chain (%s); "
			 "expected a PEM file with the certificate chain and its private key",
			 conf->path, tb->bind->line, path, wolf_reason(rc, why, sizeof(why)));
		return -EINVAL;
	}
	rc = wolfSSL_CTX_use_PrivateKey_file(c->ctx, path, WOLFSSL_FILETYPE_PEM);
	if (rc != WOLFSSL_SUCCESS || wolfSSL_CTX_check_private_key(c->ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, len, "%s:%d: key 'bind': crt=%s: %s; expected the certificate's "
			 "private key (unencrypted PEM) in the same file", conf->path,
			 tb->bind->line, path, rc != WOLFSSL_SUCCESS ? "no usable private key" :
			 "the private key does not match the certificate");
		return -EINVAL;
	}
	if (wolfSSL_CTX_SetMinVersion(c->ctx, fe->ssl_min_version == 13 ? WOLFSSL_TLSV1_3 :
				      WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, len, "%s:%d: key 'ssl_min_version': not supported by this wolfSSL",
			 conf->path, fe->line);
		return -EINVAL;
	}
	/* Debian's wolfSSL has no AES-NI code: its AES-GCM runs in portable C
	 * and costs several times what ChaCha20-Poly1305 does, so that comes
	 * first and the server's order wins. Only AEAD suites with forward
	 * secrecy. */
	if (wolfSSL_CTX_set_cipher_list(c->ctx, CIPHERS) != WOLFSSL_SUCCESS) {
		snprintf(err, len, "%s:%d: key 'bind': cannot set the cipher list", conf->path,
			 tb->bind->line);
		return -EINVAL;
	}
	wolfSSL_CTX_set_options(c->ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
	wolfSSL_CTX_SetIORecv(c->ctx, tls_recv_cb);
	wolfSSL_CTX_SetIOSend(c->ctx, tls_send_cb);
	wolfSSL_CTX_set_TicketEncCb(c->ctx, ticket_cb);
	/* what a client may keep a ticket for: two key periods, at most the 7
	 * days RFC 8446 allows; wolfSSL's own session lifetime follows */
	{
		uint64_t life = 2 * conf->ssl_ticket_rotate_ms / 1000;

		if (life > 7 * 24 * 3600)
			life = 7 * 24 * 3600;
		wolfSSL_CTX_set_TicketHint(c->ctx, (int)life);
		wolfSSL_CTX_set_timeout(c->ctx, (unsigned)life);
	}
	load_names(c, path);
	return 0;
}

static int load_bind(const struct sl_config *conf, const struct sl_frontend_conf *fe,
		     const struct sl_bind_conf *b, struct sl_tls_bind *tb, char *err, size_t len)
{
	char list[SL_CONF_CRT_MAX], *save, *path;
	int n = 1, rc;

	tb->bind = b;
	tb->fe = fe;
	for (const char *p = b->crt; *p; p++)
		n += *p == ',';
	tb->certs = calloc((size_t)n, sizeof(*tb->certs));
	if (!tb->certs)
		return -ENOMEM;
	snprintf(list, sizeof(list), "%s", b->crt);
	for (path = strtok_r(list, ",", &save); path; path = strtok_r(NULL, ",", &save)) {
		rc = load_cert(conf, tb, path, &tb->certs[tb->ncerts++], err, len);
		if (rc < 0)
			return rc;
	}
	wolfSSL_CTX_set_servername_callback(tb->certs[0].ctx, sni_cb);
	wolfSSL_CTX_set_servername_arg(tb->certs[0].ctx, tb);
	return 0;
}

static void free_set(struct tls_set *set)
{
	if (!set)
		return;
	for (int i = 0; i < set->nbinds; i++) {
		for (int j = 0; j < set->binds[i].ncerts; j++) {
			struct tls_cert *c = &set->binds[i].certs[j];

			if (c->ctx)
				wolfSSL_CTX_free(c->ctx);
			for (int k = 0; k < c->nnames; k++)
				free(c->names[k]);
		}
		free(set->binds[i].certs);
	}
	free(set->binds);
	free(set);
}

int sl_tls_init(const struct sl_config *c, char *err, size_t len)
{
	struct tls_set *set;
	int n = 0, rc = 0;

	for (int i = 0; i < c->nfrontends; i++)
		for (int j = 0; j < c->frontends[i].nbinds; j++)
			n += c->frontends[i].binds[j].ssl;
	if (!n)
		return 0;
	if (!wolf_up && wolfSSL_Init() != WOLFSSL_SUCCESS) {
		snprintf(err, len, "cannot initialise wolfSSL");
		return -EIO;
	}
	wolf_up = true;
	tk.period_ms = c->ssl_ticket_rotate_ms ? c->ssl_ticket_rotate_ms : 3600 * 1000;
	set = calloc(1, sizeof(*set));
	if (!set || !(set->binds = calloc((size_t)n, sizeof(*set->binds)))) {
		free(set);
		return -ENOMEM;
	}
	set->conf = c;
	for (int i = 0; i < c->nfrontends && rc == 0; i++) {
		for (int j = 0; j < c->frontends[i].nbinds && rc == 0; j++) {
			if (!c->frontends[i].binds[j].ssl)
				continue;
			rc = load_bind(c, &c->frontends[i], &c->frontends[i].binds[j],
				       &set->binds[set->nbinds++], err, len);
			if (rc == -ENOMEM)
				snprintf(err, len, "out of memory loading certificates");
		}
	}
	if (rc < 0) {
		free_set(set);
		return rc;
	}
	set->next = sets;
	sets = set;
	return 0;
}

void sl_tls_release(const struct sl_config *c)
{
	for (struct tls_set **pp = &sets; *pp; pp = &(*pp)->next) {
		struct tls_set *set = *pp;

		if (set->conf == c) {
			*pp = set->next;
			free_set(set);
			return;
		}
	}
}

void sl_tls_free(void)
{
	while (sets) {
		struct tls_set *set = sets;

		sets = set->next;
		free_set(set);
	}
	if (wolf_up)
		wolfSSL_Cleanup();
	wolf_up = false;
}

void sl_tls_thread_exit(void)
{
#ifdef FP_ECC
	if (wolf_up)
		wc_ecc_fp_free();
#endif
}

struct sl_tls_bind *sl_tls_bind_of(const struct sl_bind_conf *b)
{
	for (const struct tls_set *set = sets; set; set = set->next)
		for (int i = 0; i < set->nbinds; i++)
			if (set->binds[i].bind == b)
				return &set->binds[i];
	return NULL;
}

/* ---- sessions --------------------------------------------------------------- */

enum sl_timeout_kind sl_tls_handshake_timeout(const struct sl_session *s)
{
	return s->fe->mode == SL_FE_MODE_HTTP ? SL_TO_HTTP_REQUEST : SL_TO_CLIENT;
}

int sl_tls_session_new(struct sl_session *s, struct sl_tls_bind *tb)
{
	static char alpn[] = "http/1.1";
	struct sl_tls_conn *t = calloc(1, sizeof(*t));
	WOLFSSL *ssl;

	if (!t)
		return -ENOMEM;
	ssl = wolfSSL_new(tb->certs[0].ctx);
	if (!ssl) {
		free(t);
		return -ENOMEM;
	}
	t->ssl = ssl;
	t->spare = -1;
	wolfSSL_SetIOReadCtx(ssl, s);
	wolfSSL_SetIOWriteCtx(ssl, s);
	if (s->fe->mode == SL_FE_MODE_HTTP &&
	    wolfSSL_UseALPN(ssl, alpn, sizeof(alpn) - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) !=
	    WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		free(t);
		return -ENOMEM;
	}
	s->tls = t;
	return 0;
}

void sl_tls_session_free(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;

	if (!t)
		return;
	wolfSSL_free(t->ssl);
	free(t->cout);
	free(t->cout_old);
	free(t);
	s->tls = NULL;
}

static void peer_str(const struct sl_session *s, char *buf, size_t len)
{
	struct sl_addr a = { .len = sizeof(s->peer) };

	memcpy(&a.ss, &s->peer, sizeof(s->peer));

	sl_conf_addr_str(&a, buf, len);
}

void sl_tls_handshake_failed(struct sl_session *s, enum sl_tls_fail why, const char *detail)
{
	struct sl_tls_conn *t = s->tls;
	char peer[80];

	if (!t || t->hs_done || t->failed)
		return;
	t->failed = true;
	SL_ST_INC(s->w->st->fe[s->fe_idx].tls_fail[why]);
	peer_str(s, peer, sizeof(peer));
	sl_log_req(s->w, "frontend %s: TLS handshake failed (%s) from %s after %llu ms: %s",
		   s->fe->name, sl_tls_fail_names[why], peer,
		   (unsigned long long)(s->w->now_ms - s->start_ms), detail);
}

static void fail_protocol(struct sl_session *s, int err)
{
	char why[160];

	sl_tls_handshake_failed(s, SL_TLS_FAIL_PROTOCOL, wolf_reason(err, why, sizeof(why)));
	sl_session_close(s, SL_CLOSE_CLIENT_ERR);
}

/* Drive the handshake; true once it is complete. */
static bool handshake(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;
	WOLFSSL *ssl = t->ssl;
	int r = wolfSSL_accept(ssl), e;

	if (r != WOLFSSL_SUCCESS) {
		e = wolfSSL_get_error(ssl, r);
		sl_session_pump(s, SL_SIDE_CLI); /* our flight, or an alert */
		if (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE) {
			fail_protocol(s, e);
		} else if (s->side[SL_SIDE_CLI].rd_eof) {
			sl_tls_handshake_failed(s, SL_TLS_FAIL_CLOSED,
						"the client closed the connection");
			sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		}
		return false;
	}
	t->hs_done = true;
	SL_ST_INC(s->w->st->fe[s->fe_idx].tls_hs);
	sl_stats_tls_done(s);
	if (wolfSSL_session_reused(ssl))
		SL_ST_INC(s->w->st->fe[s->fe_idx].tls_resumed);
	sl_session_pump(s, SL_SIDE_CLI); /* the last flight, tickets */
	/* the timer measured the handshake; the protocol sets its own now */
	s->side[SL_SIDE_CLI].last_ms = s->w->now_ms;
	s->ops->start(s);
	return s->state != SL_SESS_ST_CLOSING;
}

/* Decrypt everything wolfSSL can give into the client queue. Returns -1 if
 * the session was closed, else whether plaintext arrived. */
static int decrypt(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;
	bool got = false;

	while (!t->eof) {
		uint32_t room;
		char *p = sl_session_plain_room(s, &room);
		int n, e;

		if (!p) {
			sl_log("frontend %s: out of TLS plaintext buffers, closing a connection",
			       s->fe->name);
			sl_session_close(s, SL_CLOSE_RESOURCE);
			return -1;
		}
		n = wolfSSL_read(t->ssl, p, (int)room);
		if (n > 0) {
			sl_session_plain_commit(s, (uint32_t)n);
			got = true;
			continue;
		}
		e = wolfSSL_get_error(t->ssl, n);
		if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
			break;
		if (e == WOLFSSL_ERROR_ZERO_RETURN) {
			t->eof = true; /* close_notify: the client's orderly end */
			break;
		}
		{
			char why[160], peer[80];

			peer_str(s, peer, sizeof(peer));
			sl_log_req(s->w, "frontend %s: TLS error from %s: %s", s->fe->name,
				   peer, wolf_reason(e, why, sizeof(why)));
		}
		sl_session_pump(s, SL_SIDE_CLI); /* the alert */
		sl_session_close(s, SL_CLOSE_CLIENT_ERR);
		return -1;
	}
	sl_session_plain_unused(s); /* no buffer held while waiting for a record */
	return got;
}

void sl_tls_input(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;
	struct sl_side *c = &s->side[SL_SIDE_CLI];
	int got;

	if (t->busy || s->state == SL_SESS_ST_CLOSING)
		return;
	t->busy = true;
	if (!t->hs_done && !handshake(s))
		goto out;
	got = decrypt(s);
	if (got < 0)
		goto out;
	sl_session_pump(s, SL_SIDE_CLI); /* key updates and the like */
	if (got) {
		if (s->raw)
			sl_session_pump(s, SL_SIDE_SRV);
		else
			s->ops->on_data(s, SL_SIDE_CLI);
	}
	if (s->state != SL_SESS_ST_CLOSING && (t->eof || c->rd_eof) && !t->eof_told) {
		/* close_notify, or a FIN: the protocol sees the client's end once */
		c->rd_eof = true;
		t->eof_told = true;
		s->ops->on_eof(s, SL_SIDE_CLI);
	}
out:
	t->busy = false;
}

bool sl_tls_encrypt(struct sl_session *s, const char *p, uint32_t n)
{
	int r = wolfSSL_write(s->tls->ssl, p, (int)n);

	return r == (int)n;
}

void sl_tls_close_notify(struct sl_session *s)
{
	struct sl_tls_conn *t = s->tls;

	if (!t->hs_done || t->notify_sent)
		return;
	t->notify_sent = true;
	wolfSSL_shutdown(t->ssl); /* writes the alert; we do not wait for the peer's */
}
