/*
 * TLS termination (proto/ layer): a transport (struct sl_xprt_ops) under a
 * client connection. Data path of one TLS connection:
 *   recv CQE (ciphertext) -> core/conn.c hands the buffer to tls_input,
 *   which queues it in the private cin -> wolfSSL_accept / wolfSSL_read
 *   pull cin through tls_recv_cb -> plaintext lands in the connection's
 *   queue (sl_conn_plain_*) -> the owner (http, tcp) reads it as plain
 *   bytes. Toward the client, the connection asks tls_prep for its next
 *   send: the owner's bytes (sl_conn_next_chunk) are encrypted with
 *   wolfSSL_write, tls_send_cb appends the records to cout, and cout is
 *   what the connection sends.
 * wolfSSL never blocks and never sees a socket: when cin runs dry the read
 * callback says WANT_READ and we wait for the next recv CQE. This file
 * knows connections (core/conn.h), never sessions.
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
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/worker-t.h"
#include "core/conn.h"
#include "proto/tls.h"
#include "proto/tls_dn.h"

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
	struct sl_xprt_bind xb;  /* first: the listener's view of this bind */
	const struct sl_bind_conf *bind;
	/* only while loading: the frontends array may move after (the stats
	 * frontend is appended), so what connections need is copied */
	const struct sl_frontend_conf *fe;
	char fe_name[SL_CONF_NAME_MAX];
	bool http;               /* an http frontend: ALPN http/1.1 */
	bool h2;                 /* ... and h2 is on: ALPN h2 first */
	enum sl_verify verify;   /* client certificates (ca=, verify=) */
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

static bool verifies(WOLFSSL *ssl);

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

	(void)arg;
	if (in_len <= 0)
		return WOLFSSL_TICKET_RET_FATAL;
	/* a bind that verifies client certificates resumes nothing: the key is
	 * the process's, so a ticket could come from any bind (load_cert) */
	if (!enc && verifies(ssl))
		return WOLFSSL_TICKET_RET_REJECT;
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

/* The state of one TLS connection. */
struct tls_conn {
	WOLFSSL *ssl;
	struct sl_conn *c;
	const struct sl_tls_bind *tb;
	const union sl_sockaddr *peer; /* the client, as its session knows it */
	struct sl_bufq cin;   /* ciphertext received, not yet read by wolfSSL */
	struct sl_obuf cout;  /* ciphertext wolfSSL wrote, to send */
	bool cout_busy;       /* a send reads cout: it may not move */
	char *cout_old;       /* the buffer that send reads after cout had to grow
			       * under it (freed by its completion) */
	bool hs_done;         /* handshake complete: data may flow */
	bool eof;             /* close_notify seen: no more plaintext */
	bool eof_told;        /* the owner was told of the client's end */
	bool notify_sent;     /* our close_notify is in cout (or sent) */
	bool busy;            /* tls_run is running (no re-entry) */
	bool cert_ok;         /* a client certificate was presented and verified */
	char *dn;             /* ... its subject (malloc'd), for the server */
};

static bool verifies(WOLFSSL *ssl)
{
	const struct tls_conn *t = wolfSSL_GetIOReadCtx(ssl);

	return t && t->tb->verify != SL_VERIFY_NONE;
}

static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *t = ctx;
	uint32_t n;

	(void)ssl;
	if (sz <= 0)
		return 0;
	n = sl_conn_q_read(t->c, &t->cin, buf, (uint32_t)sz);
	return n ? (int)n : WOLFSSL_CBIO_ERR_WANT_READ;
}

static int tls_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *t = ctx;
	struct sl_obuf *o = &t->cout;

	(void)ssl;
	if (sz <= 0)
		return 0;
	if (o->off == o->len && !t->cout_busy)
		o->off = o->len = 0;
	if (o->len + (uint32_t)sz > o->cap) {
		uint32_t cap = o->cap ? o->cap : 4096;
		char *p;

		while (cap < o->len + (uint32_t)sz)
			cap *= 2;
		if (t->cout_busy && !t->cout_old) {
			/* a send reads cout (wolfSSL_read can write a record, an
			 * alert or a key update reply, at any time): it keeps the old
			 * buffer until its completion, we go on in a copy */
			p = malloc(cap);
			if (!p)
				return WOLFSSL_CBIO_ERR_GENERAL;
			memcpy(p, o->p, o->len);
			t->cout_old = o->p;
			t->cout_busy = false;
		} else {
			p = realloc(o->p, cap);
			if (!p)
				return WOLFSSL_CBIO_ERR_GENERAL;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, (size_t)sz);
	o->len += (uint32_t)sz;
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
	if (tb->verify != SL_VERIFY_NONE) {
		/* client certificates: they must chain to a CA of ca= (and be
		 * within their dates); required: a client without one fails */
		rc = wolfSSL_CTX_load_verify_locations(c->ctx, tb->bind->ca, NULL);
		if (rc != WOLFSSL_SUCCESS) {
			snprintf(err, len, "%s:%d: key 'bind': ca=%s: no usable CA certificate (%s); "
				 "expected a PEM file of the CA certificates client certificates "
				 "must chain to", conf->path, tb->bind->line, tb->bind->ca,
				 wolf_reason(rc, why, sizeof(why)));
			return -EINVAL;
		}
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER |
				       (tb->verify == SL_VERIFY_REQUIRED ?
					WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
		/* No resumption here: a resumed session presents no certificate,
		 * and tickets (sealed under the process's key) and wolfSSL's
		 * session cache (process-wide) do not say which bind, under
		 * which CA, verified what. Every connection shows its
		 * certificate; ticket_cb refuses a foreign ticket too. */
		wolfSSL_CTX_NoTicketTLSv12(c->ctx);
		wolfSSL_CTX_no_ticket_TLSv13(c->ctx);
		wolfSSL_CTX_set_session_cache_mode(c->ctx, WOLFSSL_SESS_CACHE_OFF);
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

static int tls_attach(const struct sl_xprt_bind *xb, struct sl_conn *c,
		      const union sl_sockaddr *peer);

static int load_bind(const struct sl_config *conf, const struct sl_frontend_conf *fe,
		     const struct sl_bind_conf *b, struct sl_tls_bind *tb, char *err, size_t len)
{
	char list[SL_CONF_CRT_MAX], *save, *path;
	int n = 1, rc;

	tb->xb.attach = tls_attach;
	tb->bind = b;
	tb->fe = fe;
	snprintf(tb->fe_name, sizeof(tb->fe_name), "%s", fe->name);
	tb->http = fe->mode == SL_FE_MODE_HTTP;
	tb->h2 = tb->http && !fe->h2_off && !fe->stats;
	tb->verify = b->verify;
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

const struct sl_xprt_bind *sl_tls_xprt_of(const struct sl_bind_conf *b)
{
	for (const struct tls_set *set = sets; set; set = set->next)
		for (int i = 0; i < set->nbinds; i++)
			if (set->binds[i].bind == b)
				return &set->binds[i].xb;
	return NULL;
}

/* ---- the transport ------------------------------------------------------------ */

static const struct sl_xprt_ops tls_xprt;

/* Did the handshake fail on the client's certificate: none where one is
 * required, or one that does not verify (unknown issuer, bad signature,
 * out of its dates: wolfSSL's ASN errors)? */
static bool cert_failure(const struct tls_conn *t, int err)
{
	if (t->tb->verify == SL_VERIFY_NONE)
		return false;
	switch (err) {
	case NO_PEER_CERT: case NO_PEER_VERIFY: case VERIFY_CERT_ERROR: case NOT_CA_ERROR:
	case ASN_PARSE_E: case ASN_NO_SIGNER_E: case ASN_BEFORE_DATE_E: case ASN_AFTER_DATE_E:
	case ASN_SIG_CONFIRM_E: case ASN_SIG_OID_E: case ASN_SIG_HASH_E: case ASN_SIG_KEY_E:
	case ASN_CRIT_EXT_E: case ASN_NAME_INVALID_E:
		return true;
	default:
		return wolfSSL_get_verify_result(t->ssl) != X509_V_OK;
	}
}

static void fail_protocol(struct tls_conn *t, int err)
{
	char why[160];

	sl_conn_hs_failed(t->c, cert_failure(t, err) ? SL_HS_FAIL_CERTIFICATE :
			  SL_HS_FAIL_PROTOCOL, wolf_reason(err, why, sizeof(why)));
}

/* The handshake is complete on a bind that verifies client certificates:
 * keep the verified certificate's subject for the server (X-SSL-Client-DN).
 * False (the handshake fails, reason "certificate") for what must not
 * pass: a resumed session (there are none here, load_cert), no certificate
 * where one is required, a subject that does not fit 8 KiB written out
 * (proto/tls_dn.c: wolfSSL's own name API drops attributes it does not
 * know, so the subject is read from the DER). */
static bool keep_client_cert(struct tls_conn *t)
{
	char buf[8192];
	const unsigned char *der;
	WOLFSSL_X509 *x;
	int n, dlen = 0;

	if (t->tb->verify == SL_VERIFY_NONE)
		return true;
	if (wolfSSL_session_reused(t->ssl)) {
		sl_conn_hs_failed(t->c, SL_HS_FAIL_CERTIFICATE, "a resumed session where client "
				  "certificates are verified");
		return false;
	}
	x = wolfSSL_get_peer_certificate(t->ssl);
	if (!x) {
		if (t->tb->verify == SL_VERIFY_OPTIONAL)
			return true;
		sl_conn_hs_failed(t->c, SL_HS_FAIL_CERTIFICATE, "no client certificate");
		return false;
	}
	der = wolfSSL_X509_get_der(x, &dlen);
	n = der && dlen > 0 ? sl_tls_subject_line(der, (size_t)dlen, buf, sizeof(buf)) : -1;
	wolfSSL_X509_free(x);
	if (n < 0 || (n > 0 && !(t->dn = strdup(buf)))) {
		sl_conn_hs_failed(t->c, SL_HS_FAIL_CERTIFICATE, n < 0 ? "the client certificate's "
				  "subject does not parse or is over 8 KiB written out" :
				  "out of memory");
		return false;
	}
	t->cert_ok = true;
	return true;
}

/* Drive the handshake; true once it is complete. */
static bool handshake(struct tls_conn *t)
{
	struct sl_conn *c = t->c;
	int r = wolfSSL_accept(t->ssl), e;

	if (r != WOLFSSL_SUCCESS) {
		e = wolfSSL_get_error(t->ssl, r);
		sl_conn_flush(c, NULL, NULL); /* our flight, or an alert */
		if (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE)
			fail_protocol(t, e);
		else if (c->rd_eof)
			sl_conn_hs_failed(c, SL_HS_FAIL_CLOSED, "the client closed the connection");
		return false;
	}
	if (!keep_client_cert(t))
		return false;
	t->hs_done = true;
	sl_conn_flush(c, NULL, NULL); /* the last flight, tickets */
	sl_conn_notify_ready(c);      /* the owner starts its protocol */
	return c->st == SL_CONN_OPEN;
}

/* Decrypt everything wolfSSL can give into the connection's queue.
 * Returns -1 if the connection failed, else whether plaintext arrived. */
static int decrypt(struct tls_conn *t)
{
	struct sl_conn *c = t->c;
	bool got = false;

	while (!t->eof) {
		uint32_t room;
		char *p = sl_conn_plain_room(c, &room);
		int n, e;

		if (!p) {
			sl_log("frontend %s: out of TLS plaintext buffers, closing a connection",
			       t->tb->fe_name);
			sl_conn_notify_error(c, -ENOBUFS);
			return -1;
		}
		n = wolfSSL_read(t->ssl, p, (int)room);
		if (n > 0) {
			sl_conn_plain_commit(c, (uint32_t)n);
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

			sl_conf_sockaddr_str(t->peer, peer, sizeof(peer));
			sl_log_req(c->w, "frontend %s: TLS error from %s: %s", t->tb->fe_name,
				   peer, wolf_reason(e, why, sizeof(why)));
		}
		sl_conn_flush(c, NULL, NULL); /* the alert */
		sl_conn_notify_error(c, -EPROTO);
		return -1;
	}
	sl_conn_plain_unused(c); /* no buffer held while waiting for a record */
	return got;
}

/* Ciphertext arrived (or the client's FIN): advance the handshake, decrypt,
 * tell the owner. */
static void tls_run(struct tls_conn *t)
{
	struct sl_conn *c = t->c;
	int got;

	if (t->busy || c->st != SL_CONN_OPEN)
		return;
	t->busy = true;
	if (!t->hs_done && !handshake(t))
		goto out;
	got = decrypt(t);
	if (got < 0)
		goto out;
	sl_conn_flush(c, NULL, NULL); /* key updates and the like */
	if (got)
		sl_conn_notify_data(c);
	if (c->st == SL_CONN_OPEN && (t->eof || c->rd_eof) && !t->eof_told) {
		/* close_notify, or a FIN: the owner sees the client's end once */
		c->rd_eof = true;
		t->eof_told = true;
		sl_conn_notify_eof(c);
	}
out:
	t->busy = false;
}

static void tls_input(struct sl_conn *c, uint16_t bid, uint32_t len)
{
	struct tls_conn *t = c->xctx;

	sl_conn_q_push(c, &t->cin, bid, len);
	if (t->eof) {
		sl_conn_q_clear(c, &t->cin); /* after close_notify: ignored */
		return;
	}
	tls_run(t);
}

static void tls_input_eof(struct sl_conn *c)
{
	tls_run(c->xctx);
}

static bool tls_ready(const struct sl_conn *c)
{
	return ((const struct tls_conn *)c->xctx)->hs_done;
}

/* Once the previous ciphertext is sent, encrypt up to four records of what
 * waits and send them in one go. */
static int tls_prep(struct sl_conn *c, struct iovec *iov, int max)
{
	struct tls_conn *t = c->xctx;
	uint32_t budget = 4 * SL_BUF_SIZE;
	const char *p;
	uint32_t n;

	(void)max;
	/* cout may not move while a send reads it: encrypt only into an empty one */
	while (t->cout.off == t->cout.len || budget < 4 * SL_BUF_SIZE) {
		if (!budget || !t->hs_done || t->notify_sent || !sl_conn_next_chunk(c, &p, &n))
			break;
		if (n > budget)
			n = budget;
		if (n > SL_BUF_SIZE)
			n = SL_BUF_SIZE;
		if (wolfSSL_write(t->ssl, p, (int)n) != (int)n) {
			sl_log("frontend %s: TLS encryption failed, closing the connection",
			       t->tb->fe_name);
			return -1;
		}
		budget -= n;
		sl_conn_chunk_done(c, n);
	}
	if (t->cout.off == t->cout.len) {
		if (t->cout.cap > 4096) {
			/* idle: keep no ciphertext memory (records of a stream refill
			 * it before we get here) */
			free(t->cout.p);
			memset(&t->cout, 0, sizeof(t->cout));
		}
		return 0;
	}
	iov[0].iov_base = t->cout.p + t->cout.off;
	iov[0].iov_len = t->cout.len - t->cout.off;
	t->cout_busy = true;
	return 1;
}

static void tls_sent(struct sl_conn *c, uint32_t n)
{
	struct tls_conn *t = c->xctx;

	t->cout.off += n; /* the plaintext left its queue when encrypted */
	t->cout_busy = false;
	free(t->cout_old);
	t->cout_old = NULL;
}

static void tls_notify_close(struct sl_conn *c)
{
	struct tls_conn *t = c->xctx;

	if (!t->hs_done || t->notify_sent)
		return;
	t->notify_sent = true;
	wolfSSL_shutdown(t->ssl); /* writes the alert; we do not wait for the peer's */
}

static uint32_t tls_held(const struct sl_conn *c)
{
	return ((const struct tls_conn *)c->xctx)->cin.count;
}

static bool tls_resumed(const struct sl_conn *c)
{
	return wolfSSL_session_reused(((const struct tls_conn *)c->xctx)->ssl);
}

static void tls_free(struct sl_conn *c)
{
	struct tls_conn *t = c->xctx;

	if (!t)
		return;
	sl_conn_q_clear(c, &t->cin);
	free(t->dn);
	wolfSSL_free(t->ssl);
	free(t->cout.p);
	free(t->cout_old);
	free(t);
	c->xctx = NULL;
}

/* Did the client pick h2 by ALPN? */
static bool tls_alpn_h2(const struct sl_conn *c)
{
	const struct tls_conn *t = c->xctx;
	char *name = NULL;
	unsigned short n = 0;

	if (!t->tb->h2 || wolfSSL_ALPN_GetProtocol(t->ssl, &name, &n) != WOLFSSL_SUCCESS)
		return false;
	return n == 2 && name && memcmp(name, "h2", 2) == 0;
}

static int tls_client_cert(const struct sl_conn *c, const char **dn)
{
	const struct tls_conn *t = c->xctx;

	if (t->tb->verify == SL_VERIFY_NONE)
		return -1;
	*dn = t->dn;
	return t->cert_ok;
}

static const struct sl_xprt_ops tls_xprt = {
	.name = "TLS",
	.secure = true,
	.input = tls_input,
	.input_eof = tls_input_eof,
	.ready = tls_ready,
	.prep = tls_prep,
	.sent = tls_sent,
	.notify_close = tls_notify_close,
	.held = tls_held,
	.resumed = tls_resumed,
	.alpn_h2 = tls_alpn_h2,
	.client_cert = tls_client_cert,
	.free = tls_free,
};

static int tls_attach(const struct sl_xprt_bind *xb, struct sl_conn *c,
		      const union sl_sockaddr *peer)
{
	static char alpn[] = "http/1.1", alpn2[] = "h2,http/1.1";
	const struct sl_tls_bind *tb = (const struct sl_tls_bind *)xb;
	struct tls_conn *t = calloc(1, sizeof(*t));
	WOLFSSL *ssl;

	if (!t)
		return -ENOMEM;
	ssl = wolfSSL_new(tb->certs[0].ctx);
	if (!ssl) {
		free(t);
		return -ENOMEM;
	}
	t->ssl = ssl;
	t->c = c;
	t->tb = tb;
	t->peer = peer;
	wolfSSL_SetIOReadCtx(ssl, t);
	wolfSSL_SetIOWriteCtx(ssl, t);
	if (tb->http &&
	    wolfSSL_UseALPN(ssl, tb->h2 ? alpn2 : alpn, tb->h2 ? sizeof(alpn2) - 1 :
			    sizeof(alpn) - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		free(t);
		return -ENOMEM;
	}
	sl_conn_set_xprt(c, &tls_xprt, t);
	/* bytes that came with a PROXY header go through us now */
	if (c->q.count || c->rd_eof)
		sl_conn_replay(c);
	return 0;
}

const struct sl_xprt_provider sl_xprt_ssl = {
	.load = sl_tls_init,
	.release = sl_tls_release,
	.cleanup = sl_tls_free,
	.bind_of = sl_tls_xprt_of,
	.thread_exit = sl_tls_thread_exit,
};
