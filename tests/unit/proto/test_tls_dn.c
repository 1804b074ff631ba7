/*
 * The subject line of a client certificate (proto/tls_dn.c), from DER built
 * here: every attribute kept (ones wolfSSL's name API drops too), unknown
 * types as dotted OIDs, multi-valued RDNs joined by '+', BMPString and
 * UniversalString as UTF-8, escapes that keep values from passing for
 * attributes, other value types as #HEX, and malformed DER refused.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/tls_dn.h"

struct der {
	uint8_t b[8192];
	size_t n;
};

/* Appends tag + length + the bytes v (vlen). */
static void tlv(struct der *d, uint8_t tag, const void *v, size_t vlen)
{
	cr_assert(d->n + vlen + 4 < sizeof(d->b));
	d->b[d->n++] = tag;
	if (vlen < 128) {
		d->b[d->n++] = (uint8_t)vlen;
	} else if (vlen < 256) {
		d->b[d->n++] = 0x81;
		d->b[d->n++] = (uint8_t)vlen;
	} else {
		d->b[d->n++] = 0x82;
		d->b[d->n++] = (uint8_t)(vlen >> 8);
		d->b[d->n++] = (uint8_t)vlen;
	}
	memcpy(d->b + d->n, v, vlen);
	d->n += vlen;
}

/* An AttributeTypeAndValue: OID bytes, value tag and bytes. */
static void atv(struct der *rdn, const uint8_t *oid, size_t olen, uint8_t vtag, const void *v,
		size_t vlen)
{
	struct der a = { .n = 0 };

	tlv(&a, 0x06, oid, olen);
	tlv(&a, vtag, v, vlen);
	tlv(rdn, 0x30, a.b, a.n);
}

static const uint8_t CN[] = { 0x55, 0x04, 0x03 }, O[] = { 0x55, 0x04, 0x0a };
static const uint8_t TITLE[] = { 0x55, 0x04, 0x0c };

/* A certificate whose subject is the RDN SETs in subject (their contents
 * concatenated: each element of rdns is one SET's content). */
static void cert(struct der *out, const struct der *rdns, int nrdn)
{
	static const uint8_t one = 1, oid[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	struct der tbs = { .n = 0 }, name = { .n = 0 }, tmp = { .n = 0 }, c = { .n = 0 };
	uint8_t two = 2;

	tlv(&tmp, 0x02, &two, 1);
	tlv(&tbs, 0xa0, tmp.b, tmp.n);      /* version */
	tlv(&tbs, 0x02, &one, 1);            /* serial */
	tmp.n = 0;
	tlv(&tmp, 0x06, oid, sizeof(oid));
	tlv(&tbs, 0x30, tmp.b, tmp.n);       /* signature */
	tlv(&tbs, 0x30, "", 0);              /* issuer (empty) */
	tlv(&tbs, 0x30, "", 0);              /* validity (not read) */
	for (int i = 0; i < nrdn; i++)
		tlv(&name, 0x31, rdns[i].b, rdns[i].n);
	tlv(&tbs, 0x30, name.b, name.n);     /* subject */
	tlv(&c, 0x30, tbs.b, tbs.n);
	out->n = 0;
	tlv(out, 0x30, c.b, c.n);
}

static const char *line(const struct der *d)
{
	static char buf[4096];
	int n = sl_tls_subject_line(d->b, d->n, buf, sizeof(buf));

	cr_assert(n >= 0, "refused");
	cr_assert_eq((size_t)n, strlen(buf));
	return buf;
}

Test(tls_dn, every_attribute_in_order_known_names_and_dotted_oids)
{
	static const uint8_t priv[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01 };
	static const uint8_t big[] = { 0x88, 0x37, 0x03 }; /* 2.999.3 */
	struct der r[4] = { { .n = 0 } }, c;

	atv(&r[0], TITLE, sizeof(TITLE), 0x0c, "admin", 5);
	atv(&r[1], priv, sizeof(priv), 0x0c, "x", 1);
	atv(&r[2], big, sizeof(big), 0x13, "y", 1);
	atv(&r[3], CN, sizeof(CN), 0x0c, "alice", 5);
	cert(&c, r, 4);
	cr_assert_str_eq(line(&c), "/title=admin/1.3.6.1.4.1.99999.1=x/2.999.3=y/CN=alice");
}

Test(tls_dn, a_multi_valued_rdn_is_joined_by_plus)
{
	struct der r[1] = { { .n = 0 } }, c;

	atv(&r[0], CN, sizeof(CN), 0x0c, "alice", 5);
	atv(&r[0], O, sizeof(O), 0x13, "o", 1);
	cert(&c, r, 1);
	cr_assert_str_eq(line(&c), "/CN=alice+O=o");
}

Test(tls_dn, bmp_and_universal_strings_become_utf8)
{
	static const uint8_t bmp[] = { 0x00, 'b', 0x00, 'm', 0x00, 0xe9 };
	static const uint8_t uni[] = { 0, 0, 0, 'u', 0, 1, 0xf6, 0x00 };
	struct der r[2] = { { .n = 0 } }, c;

	atv(&r[0], CN, sizeof(CN), 0x1e, bmp, sizeof(bmp));
	atv(&r[1], O, sizeof(O), 0x1c, uni, sizeof(uni));
	cert(&c, r, 2);
	/* e-acute is C3 A9; U+1F600 is F0 9F 98 80 */
	cr_assert_str_eq(line(&c), "/CN=bm\\C3\\A9/O=u\\F0\\9F\\98\\80");
}

Test(tls_dn, values_cannot_pass_for_attributes_nor_break_the_line)
{
	struct der r[1] = { { .n = 0 } }, c;
	static const char v[] = " a/CN=b+c\\d\0e\r\nf ";

	atv(&r[0], CN, sizeof(CN), 0x0c, v, sizeof(v) - 1);
	cert(&c, r, 1);
	cr_assert_str_eq(line(&c), "/CN=\\20a\\2FCN\\3Db\\2Bc\\5Cd\\00e\\0D\\0Af\\20");
}

Test(tls_dn, another_value_type_is_written_as_its_encoding)
{
	static const uint8_t five = 5;
	struct der r[2] = { { .n = 0 } }, c;

	atv(&r[0], CN, sizeof(CN), 0x02, &five, 1);
	/* a string that looks like that form has its '#' escaped */
	atv(&r[1], CN, sizeof(CN), 0x0c, "#020105", 7);
	cert(&c, r, 2);
	cr_assert_str_eq(line(&c), "/CN=#020105/CN=\\23020105");
}

/* No replacement character: a BMPString surrogate or a UniversalString
 * past U+10FFFF is written as its encoding, so it cannot read like a
 * value that holds U+FFFD. */
Test(tls_dn, no_character_is_written_as_its_encoding)
{
	static const uint8_t sur[] = { 0xd8, 0x00 }, far[] = { 0x00, 0x11, 0x00, 0x00 };
	static const uint8_t fffd[] = { 0xef, 0xbf, 0xbd };
	struct der r[3] = { { .n = 0 } }, c;

	atv(&r[0], CN, sizeof(CN), 0x1e, sur, sizeof(sur));
	atv(&r[1], CN, sizeof(CN), 0x1c, far, sizeof(far));
	atv(&r[2], CN, sizeof(CN), 0x0c, fffd, sizeof(fffd));
	cert(&c, r, 3);
	cr_assert_str_eq(line(&c), "/CN=#1E02D800/CN=#1C0400110000/CN=\\EF\\BF\\BD");
}

/* What DER forbids and would print like something else is refused: an OID
 * arc padded with 0x80, a length in the long form where the short one was
 * due. */
Test(tls_dn, non_der_encodings_are_refused)
{
	static const uint8_t padded[] = { 0x55, 0x04, 0x80, 0x03 };
	struct der r[1] = { { .n = 0 } }, c;
	char buf[256];

	atv(&r[0], padded, sizeof(padded), 0x0c, "x", 1);
	cert(&c, r, 1);
	cr_assert_eq(sl_tls_subject_line(c.b, c.n, buf, sizeof(buf)), -1);
	{
		/* 0c 81 01 78: "x" with a long-form length */
		static const uint8_t val[] = { 0x81, 0x01, 'x' };
		struct der a = { .n = 0 }, rr[1] = { { .n = 0 } };

		tlv(&a, 0x06, CN, sizeof(CN));
		a.b[a.n++] = 0x0c;
		memcpy(a.b + a.n, val, sizeof(val));
		a.n += sizeof(val);
		tlv(&rr[0], 0x30, a.b, a.n);
		cert(&c, rr, 1);
		cr_assert_eq(sl_tls_subject_line(c.b, c.n, buf, sizeof(buf)), -1);
	}
}

Test(tls_dn, malformed_der_and_a_full_buffer_are_refused)
{
	struct der r[1] = { { .n = 0 } }, c;
	char small[8];

	atv(&r[0], CN, sizeof(CN), 0x0c, "alice", 5);
	cert(&c, r, 1);
	for (size_t cut = 0; cut < c.n; cut++)
		cr_assert_eq(sl_tls_subject_line(c.b, cut, small, sizeof(small)), -1,
			     "a certificate cut at %zu bytes was read", cut);
	cr_assert_eq(sl_tls_subject_line(c.b, c.n, small, sizeof(small)), -1);
	cr_assert_eq(sl_tls_subject_line(c.b, c.n, small, 0), -1);
	/* a length past the end of what encloses it */
	c.b[1] = 0x7f;
	cr_assert_eq(sl_tls_subject_line(c.b, c.n, small, sizeof(small)), -1);
}
