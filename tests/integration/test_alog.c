/*
 * The access log through the real binary, with `log = FILE`: one line per
 * HTTP request (three keep-alive requests make three lines) and per TCP
 * session, in both log_format text and json, with plausible fields (client
 * address and port, frontend, backend/server, the five timers, status,
 * bytes, request line); and the termination state of every scenario the
 * suite can produce: normal, client abort, server reset, each timeout,
 * rejected request, no server, limit, shutdown. Every access line of a
 * json log goes through python3's json module (process events stay plain
 * lines in the same file, as the README says).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/checks_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_util.h"

static void al_fini(void)
{
	cu_teardown();
	hu_teardown();
}

TestSuite(alog, .init = h_setup, .fini = al_fini, .timeout = 60);

/* ---- helpers ---------------------------------------------------------------- */

static int io_to(void)
{
	return H_IO_TIMEOUT_MS * h_slow();
}

/* The access log of this test. */
struct alog {
	char path[1200];
	bool json;
};

/* [global] with log = a fresh file, and [defaults]; extra_defaults lines
 * replace the defaults' own keys or add to them. */
static void conf_head(struct h_cbuf *b, struct alog *al, bool json, const char *extra_global,
		      const char *extra_defaults)
{
	static const char *const dflt[] = {
		"timeout_connect = 500ms", "timeout_client = 10s", "timeout_server = 10s",
		"timeout_client_fin = 10s", "timeout_server_fin = 10s",
		"timeout_http_request = 5s", "timeout_http_keep_alive = 5s",
	};

	h_write_file(json ? "access-json.log" : "access.log", "", al->path, sizeof(al->path));
	al->json = json;
	b->len = 0;
	h_cbuf_add(b, "[global]\nworkers = 1\nlog = %s\nlog_format = %s\ngrace = 300ms\n%s\n"
	       "[defaults]\n", al->path, json ? "json" : "text", extra_global ? extra_global : "");
	for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
		size_t k = strcspn(dflt[i], " ");
		const char *x = extra_defaults;
		bool given = false;

		for (; x && *x; x = strchr(x, '\n'), x = x ? x + 1 : NULL)
			if (!strncmp(x, dflt[i], k) && x[k] == ' ')
				given = true;
		if (!given)
			h_cbuf_add(b, "%s\n", dflt[i]);
	}
	h_cbuf_add(b, "%s\n", extra_defaults ? extra_defaults : "");
}

struct rec {
	char time[48], client[80], fe[64], be[64], srv[64], term[8], req[400];
	long long th, tw, tc, tr, tt;
	int status;
	unsigned long long bin, bout;
	char line[1100];
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return calloc(1, 1);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	cr_assert(s);
	if (n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = 0;
	fclose(f);
	return s;
}

/* A text access line into r; false if the line is not one (a process log
 * line). */
static bool parse_text(const char *line, struct rec *r)
{
	char bs[160];
	int n = -1;
	const char *q, *slash;
	size_t len;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%47s %79s %63s %159s %lld/%lld/%lld/%lld/%lld %d %llu %llu %7s %n",
		   r->time, r->client, r->fe, bs, &r->th, &r->tw, &r->tc, &r->tr, &r->tt,
		   &r->status, &r->bin, &r->bout, r->term, &n) < 13 || n < 0)
		return false;
	q = line + n;
	len = strlen(q);
	if (len < 2 || q[0] != '"' || q[len - 1] != '"')
		return false;
	snprintf(r->req, sizeof(r->req), "%.*s", (int)(len - 2), q + 1);
	slash = strchr(bs, '/');
	if (!slash)
		return false;
	snprintf(r->be, sizeof(r->be), "%.*s", (int)(slash - bs), bs);
	snprintf(r->srv, sizeof(r->srv), "%s", slash + 1);
	snprintf(r->line, sizeof(r->line), "%s", line);
	return true;
}

/* Every line of a json log that starts with '{' goes through python3's
 * json.loads; its fields come back one line each, tab-separated. Lines that
 * do not start with '{' are counted in *other. */
static char *json_to_tsv(const char *path, int *other)
{
	char cmd[4096], *out;
	size_t n = 0, cap = 1 << 20;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys\n"
		 "other=0\n"
		 "for l in open(sys.argv[1], encoding=\"utf-8\", errors=\"replace\"):\n"
		 "  l=l.rstrip(\"\\n\")\n"
		 "  if not l.startswith(\"{\"):\n"
		 "    other+=1\n"
		 "    continue\n"
		 "  try:\n"
		 "    d=json.loads(l)\n"
		 "  except Exception as e:\n"
		 "    print(\"BADJSON\\t%%s\\t%%s\" %% (e, l))\n"
		 "    continue\n"
		 "  k=[\"time\",\"client\",\"frontend\",\"backend\",\"server\",\"th\",\"tw\",\"tc\","
		 "\"tr\",\"tt\",\"status\",\"bytes_in\",\"bytes_out\",\"term\",\"request\"]\n"
		 "  miss=[x for x in k if x not in d]\n"
		 "  if miss:\n"
		 "    print(\"MISSING\\t%%s\\t%%s\" %% (miss, l))\n"
		 "    continue\n"
		 "  print(\"REC\\t\"+\"\\t\".join(str(d[x]) for x in k)+\"\\t\"+l)\n"
		 "print(\"OTHER\\t%%d\" %% other)\n' '%s' 2>&1", path);
	out = malloc(cap);
	cr_assert(out);
	f = popen(cmd, "r");
	cr_assert(f);
	while (n + 1 < cap) {
		size_t k = fread(out + n, 1, cap - n - 1, f);

		if (!k)
			break;
		n += k;
	}
	out[n] = 0;
	st = pclose(f);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 on %s:\n%s", path, out);
	*other = 0;
	if (strstr(out, "OTHER\t"))
		*other = atoi(strstr(out, "OTHER\t") + 6);
	return out;
}

static void cpy(char *d, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n)
		l = n - 1;
	memcpy(d, src, l);
	d[l] = 0;
}

static bool parse_tsv(const char *line, struct rec *r)
{
	char f[16][1100];
	int nf = 0;
	const char *p = line + 4, *tab;

	memset(r, 0, sizeof(*r));
	while (nf < 16) {
		tab = strchr(p, '\t');
		snprintf(f[nf++], sizeof(f[0]), "%.*s", (int)(tab ? tab - p : (long)strlen(p)), p);
		if (!tab)
			break;
		p = tab + 1;
	}
	if (nf < 16)
		return false;
	cpy(r->time, sizeof(r->time), f[0]);
	cpy(r->client, sizeof(r->client), f[1]);
	cpy(r->fe, sizeof(r->fe), f[2]);
	cpy(r->be, sizeof(r->be), f[3]);
	cpy(r->srv, sizeof(r->srv), f[4]);
	r->th = atoll(f[5]);
	r->tw = atoll(f[6]);
	r->tc = atoll(f[7]);
	r->tr = atoll(f[8]);
	r->tt = atoll(f[9]);
	r->status = atoi(f[10]);
	r->bin = strtoull(f[11], NULL, 10);
	r->bout = strtoull(f[12], NULL, 10);
	cpy(r->term, sizeof(r->term), f[13]);
	cpy(r->req, sizeof(r->req), f[14]);
	cpy(r->line, sizeof(r->line), f[15]);
	return true;
}

/* The access lines of frontend fe (NULL: every frontend but stats) into
 * out[max]; returns how many there are. Asserts every json line is valid
 * json with every field. */
static int read_recs(const struct alog *al, const char *fe, struct rec *out, int max)
{
	char *text = al->json ? NULL : slurp(al->path), *tsv = NULL, *l, *e;
	int n = 0, other = 0;

	if (al->json) {
		tsv = json_to_tsv(al->path, &other);
		l = tsv;
	} else {
		l = text;
	}
	for (; l && *l; l = e ? e + 1 : NULL) {
		struct rec r;

		e = strchr(l, '\n');
		if (e)
			*e = 0;
		cr_assert(strncmp(l, "BADJSON", 7) && strncmp(l, "MISSING", 7),
			  "json access log: %s", l);
		if (al->json ? strncmp(l, "REC\t", 4) || !parse_tsv(l, &r) : !parse_text(l, &r))
			continue;
		if (fe ? strcmp(r.fe, fe) : !strcmp(r.fe, "stats"))
			continue;
		if (n < max)
			out[n] = r;
		n++;
	}
	free(text);
	free(tsv);
	return n;
}

/* Waits until frontend fe has at least n lines (then a little more, to see
 * lines that should not be there); returns the count. */
static int wait_recs(const struct alog *al, const char *fe, struct rec *out, int max, int n)
{
	uint64_t deadline = h_now_ms() + 3000u * (unsigned)h_slow();
	int got;

	while ((got = read_recs(al, fe, out, max)) < n && h_now_ms() < deadline)
		h_sleep_ms(20);
	h_sleep_ms(100);
	return read_recs(al, fe, out, max);
}

/* Exactly one line for frontend fe (asserts), into r. */
static void one_rec(const struct alog *al, const char *fe, struct rec *r)
{
	struct rec recs[8];
	int n = wait_recs(al, fe, recs, 8, 1);

	cr_assert_eq(n, 1, "%d access lines for frontend %s, expected 1%s%s%s%s", n, fe,
		     n > 0 ? ":\n" : "", n > 0 ? recs[0].line : "", n > 1 ? "\n" : "",
		     n > 1 ? recs[1].line : "");
	*r = recs[0];
}

static void expect_term(const struct rec *r, const char *term, int status)
{
	cr_assert_str_eq(r->term, term, "termination state %s, expected %s, in:\n%s", r->term,
			 term, r->line);
	cr_assert_eq(r->status, status, "status %d, expected %d, in:\n%s", r->status, status,
		     r->line);
}

/* "127.0.0.1:PORT" of the client side of fd. */
static void local_addr(int fd, char *buf, size_t n)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(buf, n, "127.0.0.1:%u", ntohs(a.sin_port));
}

/* The time field: ISO 8601 UTC with milliseconds, within a minute of now. */
static void expect_time(const struct rec *r)
{
	struct tm tm = { 0 };
	int ms = -1;
	char z = 0;
	time_t t;

	cr_assert(sscanf(r->time, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z) == 8 &&
		  z == 'Z' && strlen(r->time) == 24, "bad time field '%s' in:\n%s", r->time,
		  r->line);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	cr_assert(llabs((long long)(t - time(NULL))) < 60, "time %s is not now, in:\n%s",
		  r->time, r->line);
}

static struct h_proxy *http_proxy(struct alog *al, bool json, int origin_port,
				  const char *defaults, const char *fe_extra, const char *be_extra,
				  const char *srv_opts)
{
	int web = h_free_port();
	struct h_cbuf b;

	conf_head(&b, al, json, NULL, defaults);
	h_cbuf_add(&b, "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n%s\n"
		"[backend app]\nmode = http-server-close\n%sserver = s1 127.0.0.1:%d %s\n",
	    web, fe_extra ? fe_extra : "", be_extra ? be_extra : "", origin_port,
	    srv_opts ? srv_opts : "");
	return h_proxy_start_text(b.s, web);
}

static struct h_proxy *tcp_proxy(struct alog *al, int origin_port, const char *defaults)
{
	int fe = h_free_port();
	struct h_cbuf b;

	conf_head(&b, al, false, NULL, defaults);
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
		"[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n", fe, origin_port);
	return h_proxy_start_text(b.s, fe);
}

static int tcp_connect(const struct h_proxy *p)
{
	int fd = h_connect(p->port, io_to());

	cr_assert(fd >= 0, "connect to sluice: %s", strerror(-fd));
	return fd;
}

/* ---- one line per request / session, fields -------------------------------- */

static void three_keep_alive_requests(bool json)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = 700, .seed = 4, .delay_ms = 60 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, json, hu_origin_port(o), NULL, NULL, NULL, NULL);
	static const char *const reqs[] = {
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /bb?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n",
		"HEAD /ccc HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	static const char *const lines[] = { "GET /a HTTP/1.1", "GET /bb?x=1 HTTP/1.1",
					     "HEAD /ccc HTTP/1.1" };
	uint64_t out[3];
	struct rec recs[8];
	char cli[80];
	struct hu_cli c;
	struct hu_rsp r;
	int n;

	hu_cli_open(&c, p->port);
	local_addr(c.fd, cli, sizeof(cli));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(hu_cli_send(&c, reqs[i]), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, i == 2, io_to()), 0);
		cr_assert_eq(r.status, 200);
		out[i] = r.head_len + r.body_len;
		/* each request's line is written once it is answered */
		n = wait_recs(&al, "web", recs, 8, i + 1);
		cr_assert_eq(n, i + 1, "%d lines after %d requests", n, i + 1);
	}
	hu_cli_close(&c);
	n = wait_recs(&al, "web", recs, 8, 4);
	cr_assert_eq(n, 3, "%d access lines for 3 requests on one connection", n);
	for (int i = 0; i < 3; i++) {
		const struct rec *x = &recs[i];

		expect_time(x);
		cr_assert_str_eq(x->client, cli, "client %s, expected %s:\n%s", x->client, cli,
				 x->line);
		cr_assert_str_eq(x->fe, "web");
		cr_assert_str_eq(x->be, "app");
		cr_assert_str_eq(x->srv, "s1");
		cr_assert_str_eq(x->req, lines[i], "request '%s', expected '%s':\n%s", x->req,
				 lines[i], x->line);
		expect_term(x, "--", 200);
		cr_assert(x->th >= 0 && x->th < 1000 * h_slow(), "Th %lld:\n%s", x->th, x->line);
		cr_assert_eq(x->tw, 0, "Tw %lld:\n%s", x->tw, x->line);
		cr_assert(x->tc >= 0 && x->tc < 1000 * h_slow(), "Tc %lld:\n%s", x->tc, x->line);
		cr_assert(x->tr >= 50 && x->tr < 5000 * h_slow(),
			  "Tr %lld (the server answers after 60 ms):\n%s", x->tr, x->line);
		cr_assert(x->tt >= x->th + x->tr && x->tt < 5000 * h_slow(),
			  "Tt %lld < Th + Tr:\n%s", x->tt, x->line);
		cr_assert_eq(x->bin, strlen(reqs[i]), "bytes in %llu, the client sent %zu:\n%s",
			     x->bin, strlen(reqs[i]), x->line);
		cr_assert_eq(x->bout, out[i], "bytes out %llu, the client received %llu:\n%s",
			     x->bout, (unsigned long long)out[i], x->line);
	}
	h_proxy_finish(p);
	/* the audit's fetch of /metrics is logged for frontend stats */
	cr_assert(read_recs(&al, "stats", recs, 8) >= 1, "no line for the stats request");
	cr_assert_str_eq(recs[0].req, "GET /metrics HTTP/1.1", "%s", recs[0].line);
	expect_term(&recs[0], "--", 200);
}

Test(alog, text_one_line_per_keep_alive_request)
{
	three_keep_alive_requests(false);
}

Test(alog, json_one_line_per_keep_alive_request)
{
	three_keep_alive_requests(true);
}

static void tcp_session(bool json)
{
	struct h_origin_opts eo = { .handler = h_handle_echo };
	struct h_origin *echo = h_origin_start(&eo);
	int fe = h_free_port(), fd;
	struct alog al;
	struct h_cbuf b;
	struct h_proxy *p;
	struct h_sender snd;
	struct h_rx rx;
	struct rec r;
	char cli[80];

	conf_head(&b, &al, json, NULL, NULL);
	h_cbuf_add(&b, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n\n"
		"[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n", fe, h_origin_port(echo));
	p = h_proxy_start_text(b.s, fe);
	fd = tcp_connect(p);
	local_addr(fd, cli, sizeof(cli));
	h_sender_start_paced(&snd, fd, 50000, 9, 10000, 30, true);
	h_rx_init(&rx);
	cr_assert_eq(h_recv_all(fd, &rx, UINT64_MAX, -1, io_to()), 0);
	cr_assert_eq(h_sender_join(&snd), 0);
	close(fd);
	one_rec(&al, "f", &r);
	expect_time(&r);
	cr_assert_str_eq(r.client, cli, "%s", r.line);
	cr_assert_str_eq(r.be, "b");
	cr_assert_str_eq(r.srv, "s1");
	expect_term(&r, "--", -1);
	cr_assert_eq(r.th, -1, "%s", r.line);
	cr_assert_eq(r.tw, 0, "%s", r.line);
	cr_assert(r.tc >= 0 && r.tc < 1000 * h_slow(), "%s", r.line);
	cr_assert_eq(r.tr, -1, "%s", r.line);
	cr_assert(r.tt >= 100 && r.tt < 5000 * h_slow(), "Tt %lld for a 120 ms session:\n%s", r.tt,
		  r.line);
	cr_assert_eq(r.bin, 50000, "%s", r.line);
	cr_assert_eq(r.bout, 50000, "%s", r.line);
	cr_assert_str_eq(r.req, "", "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, text_one_line_per_tcp_session)
{
	tcp_session(false);
}

Test(alog, json_one_line_per_tcp_session)
{
	tcp_session(true);
}

Test(alog, json_escapes_odd_request_targets)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = 1 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, true, hu_origin_port(o), NULL, NULL, NULL, NULL);
	static const char *const targets[] = { "/a\\b", "/q\"uote", "/%22%5C", "/\xc3\xa9" };
	struct rec recs[8];
	int n, sent = 0;

	for (int i = 0; i < 4; i++) {
		char req[256];
		struct hu_cli c;
		struct hu_rsp r;

		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", targets[i]);
		hu_cli_open(&c, p->port);
		cr_assert_eq(hu_cli_send(&c, req), 0);
		cr_assert_eq(hu_read_rsp(&c, &r, false, io_to()), 0);
		hu_cli_close(&c);
		sent++;
	}
	/* read_recs asserts every line is valid json */
	n = wait_recs(&al, "web", recs, 8, sent);
	cr_assert_eq(n, sent);
	h_proxy_finish(p);
}

/* ---- termination states: http ------------------------------------------------- */

Test(alog, normal_request_then_close_is_dash_dash)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct rec r;

	cr_assert_eq(h_http_get(p->port, "/x", NULL, NULL, io_to()), 200);
	one_rec(&al, "web", &r);
	expect_term(&r, "--", 200);
	h_proxy_finish(p);
}

Test(alog, client_abort_mid_request_body_is_CD)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	static const char req[] = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
				  "0123456789";
	struct hu_cli c;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, req), 0);
	cr_assert_eq(hu_origin_wait_accepted(o, 1, io_to()), 1);
	h_sleep_ms(50);
	shutdown(c.fd, SHUT_WR); /* the client gives up mid-body */
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	cr_assert(!strcmp(r.term, "CD") || !strcmp(r.term, "CR"),
		  "a client abort in the middle of the request body is logged %s, expected CD "
		  "(or CR):\n%s", r.term, r.line);
	cr_assert_eq(r.status, -1, "%s", r.line);
	cr_assert_eq(r.bin, strlen(req), "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, client_abort_waiting_for_the_response_is_CH)
{
	struct hu_script sc = { .act = HU_ACT_NEVER };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert(hu_conn_wait_request(o, 0, io_to()));
	h_close_rst(c.fd);
	c.fd = -1;
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	expect_term(&r, "CH", -1);
	cr_assert(r.tc >= 0 && r.tr == -1, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, server_reset_mid_response_is_SD)
{
	struct hu_script sc = { .act = HU_ACT_CUT, .len = 100000, .cut = 3000, .rst = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp rsp;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_neq(hu_read_rsp(&c, &rsp, false, io_to()), 0);
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	expect_term(&r, "SD", 200);
	cr_assert(r.tr >= 0, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, server_garbage_response_is_SH_502)
{
	struct hu_script sc = { .act = HU_ACT_RAW, .raw = "garbage\r\n\r\n", .close_after = true };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct rec r;

	cr_assert_eq(h_http_get(p->port, "/g", NULL, NULL, io_to()), 502);
	one_rec(&al, "web", &r);
	expect_term(&r, "SH", 502);
	h_proxy_finish(p);
}

Test(alog, http_request_timeout_is_cR_408)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o),
				       "timeout_http_request = 300ms\n", NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp rsp;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /slowloris HTTP/1.1\r\nHost"), 0);
	cr_assert_eq(hu_read_rsp(&c, &rsp, false, io_to()), 0);
	cr_assert_eq(rsp.status, 408);
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	expect_term(&r, "cR", 408);
	cr_assert_eq(r.th, -1, "%s", r.line);
	cr_assert(r.tt >= 250, "Tt %lld for a 300 ms timeout:\n%s", r.tt, r.line);
	h_proxy_finish(p);
}

/* timeout_http_keep_alive closes an idle client silently: the request before
 * it has its "--" line, and the idle end adds none. A connection that never
 * sends a byte (timeout_http_request from the accept) has no line either. */
Test(alog, idle_timeouts_add_no_line)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o),
				       "timeout_http_keep_alive = 300ms\n"
				       "timeout_http_request = 300ms\n", NULL, NULL, NULL);
	struct hu_cli c, idle;
	struct hu_rsp rsp;
	struct rec recs[8];
	int n;

	hu_cli_open(&c, p->port);
	hu_cli_open(&idle, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &rsp, false, io_to()), 0);
	cr_assert_eq(hu_cli_wait_eof(&c, io_to(), NULL), 0);
	cr_assert_eq(hu_cli_wait_eof(&idle, io_to(), NULL), 0);
	hu_cli_close(&c);
	hu_cli_close(&idle);
	n = wait_recs(&al, "web", recs, 8, 2);
	cr_assert_eq(n, 1, "%d lines:\n%s\n%s", n, recs[0].line, n > 1 ? recs[1].line : "");
	expect_term(&recs[0], "--", 200);
	h_proxy_finish(p);
}

Test(alog, client_timeout_during_upload_is_cD)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), "timeout_client = 300ms\n",
				       NULL, NULL, NULL);
	struct hu_cli c;
	struct rec r;
	int rc;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
				 "only part"), 0);
	rc = hu_cli_wait_eof(&c, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	cr_assert_str_eq(r.term, "cD", "a client that stalls its upload is logged %s, expected "
			 "cD:\n%s", r.term, r.line);
	h_proxy_finish(p);
}

Test(alog, server_timeout_is_sH_504)
{
	struct hu_script sc = { .act = HU_ACT_NEVER };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), "timeout_server = 300ms\n",
				       NULL, NULL, NULL);
	struct rec r;

	cr_assert_eq(h_http_get(p->port, "/never", NULL, NULL, io_to()), 504);
	one_rec(&al, "web", &r);
	expect_term(&r, "sH", 504);
	cr_assert_eq(r.tr, -1, "%s", r.line);
	cr_assert(r.tt >= 250, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, queue_timeout_is_sQ_503)
{
	struct hu_script sc = { .act = HU_ACT_INFO, .delay_ms = 1500 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), "timeout_queue = 400ms\n",
				       NULL, NULL, "maxconn=1");
	struct hu_cli a, b;
	struct hu_rsp rsp;
	struct rec recs[8];
	int n;

	hu_cli_open(&a, p->port);
	cr_assert_eq(hu_cli_send(&a, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_origin_wait_accepted(o, 1, io_to()), 1);
	hu_cli_open(&b, p->port);
	cr_assert_eq(hu_cli_send(&b, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&b, &rsp, false, io_to()), 0);
	cr_assert_eq(rsp.status, 503);
	hu_cli_close(&b);
	n = wait_recs(&al, "web", recs, 8, 1);
	cr_assert_eq(n, 1, "%d lines", n);
	expect_term(&recs[0], "sQ", 503);
	cr_assert_str_eq(recs[0].req, "GET /second HTTP/1.1", "%s", recs[0].line);
	cr_assert(recs[0].tw >= 350 && recs[0].tw < 2000 * h_slow(),
		  "Tw %lld for a 400 ms queue timeout:\n%s", recs[0].tw, recs[0].line);
	cr_assert_eq(recs[0].tc, -1, "%s", recs[0].line);
	cr_assert_eq(hu_read_rsp(&a, &rsp, false, io_to()), 0);
	hu_cli_close(&a);
	n = wait_recs(&al, "web", recs, 8, 2);
	cr_assert_eq(n, 2);
	expect_term(&recs[1], "--", 200);
	h_proxy_finish(p);
}

Test(alog, rejected_request_is_PR_400)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp rsp;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				 "Content-Length: 2\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &rsp, false, io_to()), 0);
	cr_assert_eq(rsp.status, 400);
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	expect_term(&r, "PR", 400);
	cr_assert_str_eq(r.srv, "-", "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, rejected_request_keeps_its_request_line)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct hu_rsp rsp;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /nohost HTTP/1.1\r\n\r\n"), 0);
	cr_assert_eq(hu_read_rsp(&c, &rsp, false, io_to()), 0);
	cr_assert_eq(rsp.status, 400);
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	expect_term(&r, "PR", 400);
	cr_assert(strstr(r.req, "GET /nohost"), "the line of a rejected request does not say "
		  "which request it was (request \"%s\", Th %lld):\n%s", r.req, r.th, r.line);
	h_proxy_finish(p);
}

Test(alog, refused_server_is_SC_503)
{
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, cu_reserve_port(), NULL, NULL, NULL, NULL);
	struct rec r;

	cr_assert_eq(h_http_get(p->port, "/x", NULL, NULL, io_to()), 503);
	one_rec(&al, "web", &r);
	expect_term(&r, "SC", 503);
	cr_assert_str_eq(r.req, "GET /x HTTP/1.1", "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, all_servers_down_is_SC_503)
{
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, cu_reserve_port(), NULL, NULL,
				       "check_interval = 50ms\ncheck_fall = 1\n", "check");
	struct rec r;
	char *body = NULL;

	/* wait for the check to take s1 DOWN */
	for (int i = 0; i < 100; i++) {
		int st = h_http_get(p->stats_port, "/metrics", &body, NULL, io_to());
		double up = 1;

		cr_assert_eq(st, 200);
		h_metric(body, "sluice_server_up{backend=\"app\",server=\"s1\"}", &up);
		free(body);
		if (up == 0)
			break;
		h_sleep_ms(30);
	}
	cr_assert_eq(h_http_get(p->port, "/x", NULL, NULL, io_to()), 503);
	one_rec(&al, "web", &r);
	expect_term(&r, "SC", 503);
	cr_assert_eq(r.tc, -1, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, over_maxconn_per_source_is_PR_429)
{
	struct hu_script sc = { .act = HU_ACT_INFO };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL,
				       "maxconn_per_source = 1\n", NULL, NULL);
	struct hu_cli a, b;
	struct hu_rsp rsp;
	struct rec r;
	char cli[80];

	hu_cli_open(&a, p->port);
	h_sleep_ms(100);
	hu_cli_open(&b, p->port);
	local_addr(b.fd, cli, sizeof(cli));
	cr_assert_eq(hu_read_rsp(&b, &rsp, false, io_to()), 0);
	cr_assert_eq(rsp.status, 429);
	hu_cli_close(&b);
	hu_cli_close(&a);
	one_rec(&al, "web", &r);
	expect_term(&r, "PR", 429);
	cr_assert_str_eq(r.client, cli, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, stop_during_a_request_is_K)
{
	struct hu_script sc = { .act = HU_ACT_NEVER };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct hu_cli c;
	struct rec r;

	hu_cli_open(&c, p->port);
	cr_assert_eq(hu_cli_send(&c, "GET /long HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert(hu_conn_wait_request(o, 0, io_to()));
	h_proxy_stop(p); /* grace 300 ms, then the session is closed */
	hu_cli_close(&c);
	one_rec(&al, "web", &r);
	cr_assert_eq(r.term[0], 'K', "a request cut by the stop is logged %s:\n%s", r.term,
		     r.line);
	cr_assert_str_eq(r.term, "KH", "%s", r.line);
}

/* ---- termination states: tcp ------------------------------------------------- */

static void fin_and_hold(struct h_conn *c)
{
	struct pollfd pfd = { c->stopfd, POLLIN, 0 };

	shutdown(c->fd, SHUT_WR);
	h_recv_all(c->fd, &c->rec->rx, UINT64_MAX, c->stopfd, -1);
	h_conn_publish(c);
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

Test(alog, tcp_client_fin_timeout_is_cF)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), "timeout_client_fin = 300ms\n");
	int fd = tcp_connect(p);
	struct rec r;

	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	shutdown(fd, SHUT_WR);
	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "cF", -1);
	h_proxy_finish(p);
}

Test(alog, tcp_server_fin_timeout_is_sF)
{
	struct h_origin_opts oo = { .handler = fin_and_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), "timeout_server_fin = 300ms\n");
	int fd = tcp_connect(p);
	struct rec r;

	one_rec(&al, "f", &r);
	expect_term(&r, "sF", -1);
	close(fd);
	h_proxy_finish(p);
}

Test(alog, tcp_client_timeout_is_cD)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), "timeout_client = 300ms\n");
	int fd = tcp_connect(p);
	struct rec r;

	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "cD", -1);
	h_proxy_finish(p);
}

Test(alog, tcp_server_timeout_is_sD)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), "timeout_server = 300ms\n");
	int fd = tcp_connect(p);
	struct rec r;

	cr_assert_eq(h_wait_closed(fd, io_to(), NULL), 0);
	close(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "sD", -1);
	h_proxy_finish(p);
}

Test(alog, tcp_client_reset_is_CD)
{
	struct h_origin_opts oo = { .handler = h_handle_hold };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), NULL);
	int fd = tcp_connect(p);
	struct rec r;

	cr_assert_eq(h_send_all(fd, "abc", 3, -1, io_to()), 0);
	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	h_sleep_ms(50);
	h_close_rst(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "CD", -1);
	cr_assert_eq(r.bin, 3, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, tcp_server_reset_is_SD)
{
	struct h_origin_opts oo = { .handler = h_handle_rst, .len = 1000, .delay_ms = 50 };
	struct h_origin *o = h_origin_start(&oo);
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, h_origin_port(o), NULL);
	int fd = tcp_connect(p), rc;
	struct rec r;

	rc = h_wait_closed(fd, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	close(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "SD", -1);
	h_proxy_finish(p);
}

Test(alog, tcp_connect_refused_is_SC)
{
	struct alog al;
	struct h_proxy *p = tcp_proxy(&al, cu_reserve_port(), NULL);
	int fd = tcp_connect(p), rc;
	struct rec r;

	rc = h_wait_closed(fd, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	close(fd);
	one_rec(&al, "f", &r);
	expect_term(&r, "SC", -1);
	cr_assert_eq(r.tc, -1, "%s", r.line);
	h_proxy_finish(p);
}

Test(alog, tcp_over_maxconn_per_source_is_PR)
{
	struct h_origin_opts oo = { .handler = h_handle_echo };
	struct h_origin *o = h_origin_start(&oo);
	int fe = h_free_port(), a, b, rc;
	struct alog al;
	struct h_cbuf cb;
	struct h_proxy *p;
	struct rec r;

	conf_head(&cb, &al, false, NULL, NULL);
	h_cbuf_add(&cb, "[frontend f]\nbind = 127.0.0.1:%d\nmode = tcp\nbackend = b\n"
		 "maxconn_per_source = 1\n\n"
		 "[backend b]\nmode = tcp\nserver = s1 127.0.0.1:%d\n", fe, h_origin_port(o));
	p = h_proxy_start_text(cb.s, fe);
	a = tcp_connect(p);
	cr_assert_eq(h_origin_wait_accepted(o, 1, io_to()), 1);
	b = tcp_connect(p);
	rc = h_wait_closed(b, io_to(), NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET);
	close(b);
	one_rec(&al, "f", &r);
	expect_term(&r, "PR", -1);
	close(a);
	h_proxy_finish(p);
}

/* ---- counters ------------------------------------------------------------------- */

Test(alog, log_lines_are_counted_and_none_dropped)
{
	struct hu_script sc = { .act = HU_ACT_CL, .len = 1 };
	struct hu_origin *o = hu_origin_start(&sc);
	struct alog al;
	struct h_proxy *p = http_proxy(&al, false, hu_origin_port(o), NULL, NULL, NULL, NULL);
	struct rec recs[64];
	char *body = NULL;
	double lines = -1, dropped = -1;
	int n;

	for (int i = 0; i < 20; i++)
		cr_assert_eq(h_http_get(p->port, "/", NULL, NULL, io_to()), 200);
	n = wait_recs(&al, "web", recs, 64, 20);
	cr_assert_eq(n, 20);
	cr_assert_eq(h_http_get(p->stats_port, "/metrics", &body, NULL, io_to()), 200);
	cr_assert(h_metric(body, "sluice_log_lines_total", &lines));
	cr_assert(h_metric(body, "sluice_log_dropped_total", &dropped));
	free(body);
	/* 20 requests, and the fetch itself once it is answered: not yet */
	cr_assert_eq(lines, 20, "sluice_log_lines_total %g after 20 lines", lines);
	cr_assert_eq(dropped, 0);
	h_proxy_finish(p);
}
