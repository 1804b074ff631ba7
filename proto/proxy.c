/*
 * PROXY protocol v1 and v2 (proto/ layer): the parser for headers received
 * from a load balancer and the encoder for headers sent to servers. Only
 * byte buffers in and out, so the parser can be unit-tested and fuzzed
 * alone. The parser is strict where the spec is: v1 is one line of at most
 * 107 bytes ending in CRLF with addresses inet_pton accepts and ports
 * 0..65535; v2 has the 12-byte signature, version 2, command LOCAL or PROXY,
 * and an address block as long as its family needs. Anything else is
 * refused rather than guessed at: a connection whose first bytes are not a
 * valid header is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/proxy.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[6] = "PROXY ";

/* Whether the first n bytes of buf agree with the first n of sig. */
static bool prefix_of(const void *buf, size_t n, const void *sig, size_t siglen)
{
	return !memcmp(buf, sig, n < siglen ? n : siglen);
}

/* A port: 1 to 5 digits, at most 65535. */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_ip(int af, const char *s, size_t n, union sl_sockaddr *a)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	memset(a, 0, sizeof(*a));
	if (af == AF_INET) {
		a->in4.sin_family = AF_INET;
		return inet_pton(AF_INET, tmp, &a->in4.sin_addr) == 1 ? 0 : -EINVAL;
	}
	a->in6.sin6_family = AF_INET6;
	return inet_pton(AF_INET6, tmp, &a->in6.sin6_addr) == 1 ? 0 : -EINVAL;
}

static void set_port(union sl_sockaddr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET)
		a->in4.sin_port = htons(port);
	else
		a->in6.sin6_port = htons(port);
}

/* v1, once the line (without its CRLF, n bytes) is complete. */
static int parse_v1_line(const char *p, size_t n, struct sl_proxy_hdr *h)
{
	const char *f[6];
	size_t fl[6];
	int nf = 0, af;
	uint16_t sport, dport;
	size_t i = 0;

	/* fields separated by single spaces; "PROXY" is the first */
	while (i <= n && nf < 6) {
		size_t j = i;

		while (j < n && p[j] != ' ')
			j++;
		f[nf] = p + i;
		fl[nf++] = j - i;
		i = j + 1;
		if (j == n)
			break;
	}
	if (nf < 2)
		return -EINVAL;
	if (fl[1] == 7 && !memcmp(f[1], "UNKNOWN", 7)) {
		/* the rest of the line is to be ignored (the spec) */
		h->local = true;
		return 0;
	}
	if (nf != 6 || i <= n)
		return -EINVAL; /* fewer or more than 6 fields */
	if (fl[1] == 4 && !memcmp(f[1], "TCP4", 4))
		af = AF_INET;
	else if (fl[1] == 4 && !memcmp(f[1], "TCP6", 4))
		af = AF_INET6;
	else
		return -EINVAL;
	if (parse_ip(af, f[2], fl[2], &h->src) < 0 || parse_ip(af, f[3], fl[3], &h->dst) < 0 ||
	    parse_port(f[4], fl[4], &sport) < 0 || parse_port(f[5], fl[5], &dport) < 0)
		return -EINVAL;
	set_port(&h->src, sport);
	set_port(&h->dst, dport);
	return 0;
}

static int parse_v1(const char *p, size_t len, struct sl_proxy_hdr *h)
{
	size_t scan = len < SL_PROXY_V1_MAX ? len : SL_PROXY_V1_MAX;
	const char *lf = memchr(p, '\n', scan);
	int rc;

	if (!lf)
		return len >= SL_PROXY_V1_MAX ? -EINVAL : 0;
	if (lf == p || lf[-1] != '\r')
		return -EINVAL;
	/* no control bytes inside the line (a CR only right before the LF) */
	for (const char *c = p; c < lf - 1; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			return -EINVAL;
	h->version = 1;
	rc = parse_v1_line(p, (size_t)(lf - 1 - p), h);
	return rc < 0 ? rc : (int)(lf + 1 - p);
}

static int parse_v2(const uint8_t *p, size_t len, struct sl_proxy_hdr *h)
{
	uint8_t ver_cmd, fam;
	size_t body;

	if (len < 16)
		return 0;
	ver_cmd = p[12];
	fam = p[13];
	body = (size_t)p[14] << 8 | p[15];
	if ((ver_cmd >> 4) != 2 || (ver_cmd & 0xf) > 1)
		return -EINVAL;
	if (body > SL_PROXY_V2_BODY_MAX)
		return -EINVAL;
	if (len < 16 + body)
		return 0;
	h->version = 2;
	if ((ver_cmd & 0xf) == 0 || fam == 0x00) {
		/* LOCAL (the balancer's own connection, a health check) or
		 * UNSPEC: the addresses, if any, are to be ignored */
		h->local = true;
		return (int)(16 + body);
	}
	if (fam == 0x11) { /* TCP over IPv4 */
		if (body < 12)
			return -EINVAL;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
		h->src.in4.sin_family = h->dst.in4.sin_family = AF_INET;
		memcpy(&h->src.in4.sin_addr, p + 16, 4);
		memcpy(&h->dst.in4.sin_addr, p + 20, 4);
		memcpy(&h->src.in4.sin_port, p + 24, 2);
		memcpy(&h->dst.in4.sin_port, p + 26, 2);
	} else if (fam == 0x21) { /* TCP over IPv6 */
		if (body < 36)
			return -EINVAL;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
		h->src.in6.sin6_family = h->dst.in6.sin6_family = AF_INET6;
		memcpy(&h->src.in6.sin6_addr, p + 16, 16);
		memcpy(&h->dst.in6.sin6_addr, p + 32, 16);
		memcpy(&h->src.in6.sin6_port, p + 48, 2);
		memcpy(&h->dst.in6.sin6_port, p + 50, 2);
	} else if ((fam >> 4) <= 3 && (fam & 0xf) <= 2) {
		return -EPROTONOSUPPORT; /* UNIX sockets, datagrams */
	} else {
		return -EINVAL;
	}
	return (int)(16 + body);
}

int sl_proxy_parse(const void *buf, size_t len, struct sl_proxy_hdr *h)
{
	const uint8_t *p = buf;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (prefix_of(p, len, v2_sig, sizeof(v2_sig)))
		return len < sizeof(v2_sig) ? 0 : parse_v2(p, len, h);
	if (prefix_of(p, len, v1_sig, sizeof(v1_sig)))
		return len < sizeof(v1_sig) ? 0 : parse_v1(buf, len, h);
	return -EINVAL;
}

/* IPv4-mapped IPv6 as IPv4; anything else as it is. */
static void unmap(const union sl_sockaddr *in, union sl_sockaddr *out)
{
	*out = *in;
	if (in->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in->in6.sin6_addr)) {
		memset(out, 0, sizeof(*out));
		out->in4.sin_family = AF_INET;
		out->in4.sin_port = in->in6.sin6_port;
		memcpy(&out->in4.sin_addr, &in->in6.sin6_addr.s6_addr[12], 4);
	}
}

/* IPv4 as IPv4-mapped IPv6. */
static void map6(union sl_sockaddr *a)
{
	struct sockaddr_in6 m = { .sin6_family = AF_INET6 };

	if (a->sa.sa_family != AF_INET)
		return;
	m.sin6_port = a->in4.sin_port;
	m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&m.sin6_addr.s6_addr[12], &a->in4.sin_addr, 4);
	a->in6 = m;
}

static bool is_ip(const union sl_sockaddr *a)
{
	return a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6;
}

static int encode_v1(const union sl_sockaddr *s, const union sl_sockaddr *d, char *out,
		     size_t cap)
{
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	bool v4 = s->sa.sa_family == AF_INET;
	int n;

	if (!is_ip(s))
		n = snprintf(out, cap, "PROXY UNKNOWN\r\n");
	else if (v4)
		n = snprintf(out, cap, "PROXY TCP4 %s %s %u %u\r\n",
			     inet_ntop(AF_INET, &s->in4.sin_addr, sa, sizeof(sa)),
			     inet_ntop(AF_INET, &d->in4.sin_addr, da, sizeof(da)),
			     ntohs(s->in4.sin_port), ntohs(d->in4.sin_port));
	else
		n = snprintf(out, cap, "PROXY TCP6 %s %s %u %u\r\n",
			     inet_ntop(AF_INET6, &s->in6.sin6_addr, sa, sizeof(sa)),
			     inet_ntop(AF_INET6, &d->in6.sin6_addr, da, sizeof(da)),
			     ntohs(s->in6.sin6_port), ntohs(d->in6.sin6_port));
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static int encode_v2(const union sl_sockaddr *s, const union sl_sockaddr *d, uint8_t *out,
		     size_t cap)
{
	size_t body = !is_ip(s) ? 0 : s->sa.sa_family == AF_INET ? 12 : 36;

	if (cap < 16 + body)
		return -ENOSPC;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = 0x21; /* version 2, PROXY */
	out[13] = !is_ip(s) ? 0x00 : s->sa.sa_family == AF_INET ? 0x11 : 0x21;
	out[14] = 0;
	out[15] = (uint8_t)body;
	if (body == 12) {
		memcpy(out + 16, &s->in4.sin_addr, 4);
		memcpy(out + 20, &d->in4.sin_addr, 4);
		memcpy(out + 24, &s->in4.sin_port, 2);
		memcpy(out + 26, &d->in4.sin_port, 2);
	} else if (body == 36) {
		memcpy(out + 16, &s->in6.sin6_addr, 16);
		memcpy(out + 32, &d->in6.sin6_addr, 16);
		memcpy(out + 48, &s->in6.sin6_port, 2);
		memcpy(out + 50, &d->in6.sin6_port, 2);
	}
	return (int)(16 + body);
}

int sl_proxy_encode(int version, const union sl_sockaddr *src, const union sl_sockaddr *dst,
		    char *out, size_t cap)
{
	union sl_sockaddr s, d;

	unmap(src, &s);
	unmap(dst, &d);
	if (is_ip(&s) && !is_ip(&d)) {
		/* no destination known: the unspecified address of src's family */
		memset(&d, 0, sizeof(d));
		d.sa.sa_family = s.sa.sa_family;
	}
	if (is_ip(&s) && s.sa.sa_family != d.sa.sa_family) {
		map6(&s);
		map6(&d);
	}
	return version == 2 ? encode_v2(&s, &d, (uint8_t *)out, cap) : encode_v1(&s, &d, out, cap);
}

bool sl_proxy_same_ip(const union sl_sockaddr *a, const union sl_sockaddr *b)
{
	union sl_sockaddr x, y;

	unmap(a, &x);
	unmap(b, &y);
	if (x.sa.sa_family != y.sa.sa_family)
		return false;
	if (x.sa.sa_family == AF_INET)
		return !memcmp(&x.in4.sin_addr, &y.in4.sin_addr, 4);
	if (x.sa.sa_family == AF_INET6)
		return !memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, 16);
	return x.sa.sa_family == 0;
}
