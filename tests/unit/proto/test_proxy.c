/* PROXY protocol parser and encoder: v1 and v2 headers accepted with their
 * addresses, partial headers asking for more bytes, malformed ones refused
 * early, and the encoder's output read back by the parser. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "proto/proxy.h"

static struct sl_proxy_hdr h;

static int parse_str(const char *s)
{
	return sl_proxy_parse(s, strlen(s), &h);
}

static void assert_v4(const union sl_sockaddr *a, const char *ip, unsigned port)
{
	char buf[INET_ADDRSTRLEN];

	cr_assert_eq(a->sa.sa_family, AF_INET);
	inet_ntop(AF_INET, &a->in4.sin_addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, ip);
	cr_assert_eq(ntohs(a->in4.sin_port), port);
}

static void assert_v6(const union sl_sockaddr *a, const char *ip, unsigned port)
{
	char buf[INET6_ADDRSTRLEN];

	cr_assert_eq(a->sa.sa_family, AF_INET6);
	inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, ip);
	cr_assert_eq(ntohs(a->in6.sin6_port), port);
}

Test(proxy, v1_tcp4_accepted_with_addresses)
{
	const char *s = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET /";

	cr_assert_eq(parse_str(s), (int)(strchr(s, '\n') - s + 1));
	cr_assert_eq(h.version, 1);
	cr_assert(!h.local);
	assert_v4(&h.src, "192.0.2.7", 40000);
	assert_v4(&h.dst, "198.51.100.1", 443);
}

Test(proxy, v1_tcp6_accepted)
{
	const char *s = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";

	cr_assert_eq(parse_str(s), (int)strlen(s));
	assert_v6(&h.src, "2001:db8::7", 65535);
	assert_v6(&h.dst, "2001:db8::1", 0);
}

Test(proxy, v1_unknown_keeps_the_real_peer)
{
	cr_assert_eq(parse_str("PROXY UNKNOWN\r\n"), 15);
	cr_assert(h.local);
	cr_assert_eq(parse_str("PROXY UNKNOWN ffff:: 1.2.3.4 1 2\r\n"), 34);
	cr_assert(h.local);
}

Test(proxy, v1_partial_asks_for_more)
{
	const char *s = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";

	for (size_t n = 1; n < strlen(s); n++)
		cr_assert_eq(sl_proxy_parse(s, n, &h), 0, "prefix of %zu bytes", n);
}

Test(proxy, v1_malformed_refused)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\n",      /* bare LF */
		"PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n",        /* a port missing */
		"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443 1\r\n",  /* a field too many */
		"PROXY TCP4 192.0.2.7  198.51.100.1 40000 443\r\n",   /* two spaces */
		"PROXY TCP4 192.0.2.777 198.51.100.1 40000 443\r\n",  /* bad address */
		"PROXY TCP4 2001:db8::7 198.51.100.1 40000 443\r\n",  /* v6 in TCP4 */
		"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",           /* v4 in TCP6 */
		"PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n",    /* port range */
		"PROXY TCP4 192.0.2.7 198.51.100.1 -1 443\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 4x 443\r\n",
		"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY \r\n",
		"PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n",         /* control byte */
		"proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n",
		"GET / HTTP/1.1\r\n",
		"\x16\x03\x01\x02\x00",                               /* a TLS hello */
		"P\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_str(bad[i]), -EINVAL, "accepted: %s", bad[i]);
}

Test(proxy, v1_longer_than_107_bytes_refused)
{
	char s[200];

	memset(s, 'a', sizeof(s));
	memcpy(s, "PROXY UNKNOWN ", 14);
	cr_assert_eq(sl_proxy_parse(s, 106, &h), 0);
	cr_assert_eq(sl_proxy_parse(s, 107, &h), -EINVAL);
	memcpy(s + 105, "\r\n", 2); /* 107 bytes with the CRLF: the limit */
	cr_assert_eq(sl_proxy_parse(s, 107, &h), 107);
}

static size_t v2(uint8_t *b, uint8_t ver_cmd, uint8_t fam, const void *addr, uint16_t len)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
					 0x55, 0x49, 0x54, 0x0a };

	memcpy(b, sig, 12);
	b[12] = ver_cmd;
	b[13] = fam;
	b[14] = (uint8_t)(len >> 8);
	b[15] = (uint8_t)len;
	if (addr)
		memcpy(b + 16, addr, len);
	return 16u + len;
}

Test(proxy, v2_tcp4_accepted_tlvs_skipped)
{
	uint8_t b[64], a[20] = { 192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0x40, 0x01, 0xbb,
				 0x04, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o' }; /* a TLV */
	size_t n = v2(b, 0x21, 0x11, a, sizeof(a));

	cr_assert_eq(sl_proxy_parse(b, n + 3, &h), (int)n);
	cr_assert_eq(h.version, 2);
	cr_assert(!h.local);
	assert_v4(&h.src, "192.0.2.7", 40000);
	assert_v4(&h.dst, "198.51.100.1", 443);
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(sl_proxy_parse(b, k, &h), 0, "prefix of %zu bytes", k);
}

Test(proxy, v2_tcp6_accepted)
{
	uint8_t b[64], a[36] = { 0 };
	size_t n;

	inet_pton(AF_INET6, "2001:db8::7", a);
	inet_pton(AF_INET6, "2001:db8::1", a + 16);
	a[32] = 0x1f; a[33] = 0x90; a[34] = 0x00; a[35] = 0x50;
	n = v2(b, 0x21, 0x21, a, sizeof(a));
	cr_assert_eq(sl_proxy_parse(b, n, &h), (int)n);
	assert_v6(&h.src, "2001:db8::7", 8080);
	assert_v6(&h.dst, "2001:db8::1", 80);
}

Test(proxy, v2_local_and_unspec_keep_the_real_peer)
{
	uint8_t b[64], a[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2 };
	size_t n = v2(b, 0x20, 0x00, NULL, 0);

	cr_assert_eq(sl_proxy_parse(b, n, &h), 16);
	cr_assert(h.local);
	n = v2(b, 0x20, 0x11, a, sizeof(a)); /* LOCAL with addresses: ignored */
	cr_assert_eq(sl_proxy_parse(b, n, &h), (int)n);
	cr_assert(h.local);
	n = v2(b, 0x21, 0x00, NULL, 0); /* PROXY, UNSPEC */
	cr_assert_eq(sl_proxy_parse(b, n, &h), 16);
	cr_assert(h.local);
}

Test(proxy, v2_malformed_refused)
{
	uint8_t b[4096], a[36] = { 0 };

	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x11, 0x11, a, 12), &h), -EINVAL); /* version 1 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x22, 0x11, a, 12), &h), -EINVAL); /* command 2 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x11, a, 8), &h), -EINVAL);  /* short v4 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x21, a, 12), &h), -EINVAL); /* short v6 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x41, a, 12), &h), -EINVAL); /* family 4 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x13, a, 12), &h), -EINVAL); /* transport 3 */
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x12, a, 12), &h), -EPROTONOSUPPORT);
	cr_assert_eq(sl_proxy_parse(b, v2(b, 0x21, 0x31, a, 36), &h), -EPROTONOSUPPORT);
	v2(b, 0x21, 0x11, NULL, SL_PROXY_V2_BODY_MAX + 1);
	cr_assert_eq(sl_proxy_parse(b, 16, &h), -EINVAL); /* refused before the body */
	b[5] = 0x0e; /* a broken signature */
	cr_assert_eq(sl_proxy_parse(b, 6, &h), -EINVAL);
}

Test(proxy, encode_v1_and_v2_read_back)
{
	union sl_sockaddr s = { 0 }, d = { 0 };
	char out[SL_PROXY_ENC_MAX];
	int n;

	s.in4.sin_family = d.in4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &s.in4.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &d.in4.sin_addr);
	s.in4.sin_port = htons(40000);
	d.in4.sin_port = htons(8080);
	n = sl_proxy_encode(1, &s, &d, out, sizeof(out));
	cr_assert_eq(n, (int)strlen("PROXY TCP4 192.0.2.7 127.0.0.1 40000 8080\r\n"));
	cr_assert(!memcmp(out, "PROXY TCP4 192.0.2.7 127.0.0.1 40000 8080\r\n", (size_t)n));
	n = sl_proxy_encode(2, &s, &d, out, sizeof(out));
	cr_assert_eq(n, 28);
	cr_assert_eq(sl_proxy_parse(out, (size_t)n, &h), 28);
	assert_v4(&h.src, "192.0.2.7", 40000);
	assert_v4(&h.dst, "127.0.0.1", 8080);
}

Test(proxy, encode_mixed_families_as_v6_and_unknown)
{
	union sl_sockaddr s = { 0 }, d = { 0 }, none = { 0 };
	char out[SL_PROXY_ENC_MAX];
	int n;

	s.in4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &s.in4.sin_addr);
	d.in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &d.in6.sin6_addr);
	n = sl_proxy_encode(1, &s, &d, out, sizeof(out));
	cr_assert_eq(sl_proxy_parse(out, (size_t)n, &h), n);
	assert_v6(&h.src, "::ffff:192.0.2.7", 0);
	n = sl_proxy_encode(1, &none, &d, out, sizeof(out));
	cr_assert_eq(n, 15);
	cr_assert(!memcmp(out, "PROXY UNKNOWN\r\n", 15));
	n = sl_proxy_encode(2, &none, &d, out, sizeof(out));
	cr_assert_eq(sl_proxy_parse(out, (size_t)n, &h), 16);
	cr_assert(h.local);
	cr_assert_eq(sl_proxy_encode(1, &s, &d, out, 10), -ENOSPC);
}

Test(proxy, same_ip_ignores_ports_and_v4_mapping)
{
	union sl_sockaddr a = { 0 }, b = { 0 };

	a.in4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a.in4.sin_addr);
	a.in4.sin_port = htons(1);
	b.in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &b.in6.sin6_addr);
	b.in6.sin6_port = htons(2);
	cr_assert(sl_proxy_same_ip(&a, &b));
	inet_pton(AF_INET6, "::ffff:192.0.2.8", &b.in6.sin6_addr);
	cr_assert(!sl_proxy_same_ip(&a, &b));
}

/* Every prefix of every byte string either asks for more, is refused, or
 * parses within its length: never reads past len (run under asan). */
Test(proxy, any_bytes_are_safe)
{
	uint8_t b[300];
	unsigned x = 12345;

	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 300);

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		if (round & 1)
			memcpy(b, "PROXY TCP4 ", n < 11 ? n : 11);
		else if (n >= 16)
			v2(b, 0x21, b[13], NULL, (uint16_t)(n - 16));
		int r = sl_proxy_parse(b, n, &h);

		cr_assert(r <= (int)n && (r >= 0 || r == -EINVAL || r == -EPROTONOSUPPORT));
	}
}
