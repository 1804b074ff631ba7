/*
 * A certificate's subject as one line (proto/layer, see proto/tls_dn.h).
 * DER walk: Certificate = SEQUENCE { tbsCertificate = SEQUENCE { [0]
 * version (optional), serialNumber, signature, issuer, validity, subject,
 * ... } ... }; a Name is a SEQUENCE of RDNs, each a SET of SEQUENCE { type
 * OID, value }. Every length is checked against what encloses it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/tls_dn.h"

struct tlv {
	uint8_t tag;
	const uint8_t *v;   /* the value */
	size_t len;
	const uint8_t *end; /* just past the value */
};

/* Reads the TLV at *p (before end) and moves *p past it. Definite lengths
 * of up to 4 bytes only (DER). */
static bool next(const uint8_t **p, const uint8_t *end, struct tlv *t)
{
	const uint8_t *q = *p;
	size_t len;

	if (end - q < 2)
		return false;
	t->tag = *q++;
	len = *q++;
	if (len & 0x80) {
		int k = (int)(len & 0x7f);

		if (k < 1 || k > 4 || end - q < k || *q == 0)
			return false; /* (a leading zero byte: not DER) */
		for (len = 0; k; k--)
			len = (len << 8) | *q++;
		if (len < 0x80)
			return false; /* the short form was due: not DER */
	}
	if ((size_t)(end - q) < len)
		return false;
	t->v = q;
	t->len = len;
	t->end = q + len;
	*p = t->end;
	return true;
}

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void put_hex(struct out *o, uint8_t b, bool escape)
{
	char h[4];

	snprintf(h, sizeof(h), escape ? "\\%02X" : "%02X", b);
	put(o, h, escape ? 3 : 2);
}

/* One UTF-8 byte of a value; first/last: it starts or ends the value. A
 * leading '#' is escaped too: unescaped it starts the #HEX form. */
static void put_vbyte(struct out *o, uint8_t b, bool first, bool last)
{
	bool plain = b >= 0x20 && b < 0x7f && b != '/' && b != '=' && b != '+' && b != '\\' &&
		     !(b == ' ' && (first || last)) && !(b == '#' && first);

	if (plain)
		put(o, (const char *)&b, 1);
	else
		put_hex(o, b, true);
}

/* The UTF-8 encoding of code point c into u (4 bytes); its length, or -1
 * for no character (a surrogate, past U+10FFFF): the value is then written
 * as its encoding, never as a replacement character another value could
 * hold. */
static int utf8(uint32_t c, uint8_t *u)
{
	if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	if (c < 0x80) {
		u[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (uint8_t)(0xc0 | c >> 6);
		u[1] = (uint8_t)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		u[0] = (uint8_t)(0xe0 | c >> 12);
		u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (c & 0x3f));
		return 3;
	}
	u[0] = (uint8_t)(0xf0 | c >> 18);
	u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
	u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
	u[3] = (uint8_t)(0x80 | (c & 0x3f));
	return 4;
}

/* A value, converted to UTF-8 (by the string type) and escaped. */
static void put_value(struct out *o, const struct tlv *v, const uint8_t *tlv_start)
{
	uint8_t u[4 * 256];
	size_t ulen = 0, w;

	switch (v->tag) {
	case 0x0c: /* UTF8String */
	case 0x12: /* NumericString */
	case 0x13: /* PrintableString */
	case 0x14: /* T61String, taken as bytes as OpenSSL does */
	case 0x16: /* IA5String */
	case 0x1a: /* VisibleString */
		for (size_t i = 0; i < v->len; i++)
			put_vbyte(o, v->v[i], i == 0, i + 1 == v->len);
		return;
	case 0x1e: /* BMPString: UCS-2, big endian */
	case 0x1c: /* UniversalString: UCS-4, big endian */
		w = v->tag == 0x1e ? 2 : 4;
		if (v->len % w)
			break;
		for (size_t i = 0; i < v->len; i += w) {
			uint32_t c = 0;
			int k;

			for (size_t j = 0; j < w; j++)
				c = c << 8 | v->v[i + j];
			k = utf8(c, u + ulen);
			if (k < 0) {
				ulen = sizeof(u); /* as an encoding */
				break;
			}
			ulen += (size_t)k;
			if (ulen > sizeof(u) - 4)
				break;
		}
		if (ulen > sizeof(u) - 4)
			break; /* too long to convert here, or no character: as an encoding */
		for (size_t i = 0; i < ulen; i++)
			put_vbyte(o, u[i], i == 0, i + 1 == ulen);
		return;
	default:
		break;
	}
	put(o, "#", 1);
	for (const uint8_t *b = tlv_start; b < v->end; b++)
		put_hex(o, *b, false);
}

/* The attribute type: OpenSSL's short name for the usual ones, else the
 * dotted OID. */
static void put_type(struct out *o, const struct tlv *oid)
{
	static const struct {
		uint8_t der[10];
		uint8_t len;
		const char *name;
	} names[] = {
#define X520(n, s) { { 0x55, 0x04, n }, 3, s }
		X520(3, "CN"), X520(4, "SN"), X520(5, "serialNumber"), X520(6, "C"),
		X520(7, "L"), X520(8, "ST"), X520(9, "street"), X520(10, "O"), X520(11, "OU"),
		X520(12, "title"), X520(17, "postalCode"), X520(42, "GN"), X520(43, "initials"),
		X520(44, "generationQualifier"), X520(46, "dnQualifier"), X520(65, "pseudonym"),
		X520(97, "organizationIdentifier"),
#undef X520
		{ { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01 }, 9, "emailAddress" },
		{ { 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19 }, 10, "DC" },
		{ { 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01 }, 10, "UID" },
	};
	uint64_t arc = 0;
	char buf[24];
	bool first = true;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (oid->len == names[i].len && !memcmp(oid->v, names[i].der, oid->len)) {
			put(o, names[i].name, strlen(names[i].name));
			return;
		}
	for (size_t i = 0; i < oid->len; i++) {
		if (oid->v[i] == 0x80 && (i == 0 || !(oid->v[i - 1] & 0x80))) {
			o->full = true; /* a padded arc: not DER, and it would print
					 * like the unpadded one */
			return;
		}
		if (arc >> 56) {
			o->full = true; /* an arc over 2^63: not a real type */
			return;
		}
		arc = arc << 7 | (oid->v[i] & 0x7f);
		if (oid->v[i] & 0x80)
			continue;
		if (first) {
			int a = arc < 40 ? 0 : arc < 80 ? 1 : 2;

			snprintf(buf, sizeof(buf), "%d.%llu", a, (unsigned long long)(arc - 40u * a));
			first = false;
		} else {
			snprintf(buf, sizeof(buf), ".%llu", (unsigned long long)arc);
		}
		put(o, buf, strlen(buf));
		arc = 0;
	}
	if (first || (oid->len && (oid->v[oid->len - 1] & 0x80)))
		o->full = true; /* empty, or a last arc left open */
}

int sl_tls_subject_line(const uint8_t *cert, size_t len, char *out, size_t n)
{
	struct out o = { .p = out, .cap = n };
	const uint8_t *p = cert, *end = cert + len;
	struct tlv c, tbs, f, name;

	if (!n)
		return -1;
	out[0] = 0;
	if (!next(&p, end, &c) || c.tag != 0x30)
		return -1;
	p = c.v;
	if (!next(&p, c.end, &tbs) || tbs.tag != 0x30)
		return -1;
	p = tbs.v;
	/* [0] version (optional), serialNumber, signature, issuer, validity */
	if (!next(&p, tbs.end, &f))
		return -1;
	if (f.tag == 0xa0 && !next(&p, tbs.end, &f))
		return -1;
	for (int i = 0; i < 3; i++)
		if (!next(&p, tbs.end, &f))
			return -1;
	if (!next(&p, tbs.end, &name) || name.tag != 0x30)
		return -1;
	for (p = name.v; p < name.end;) {
		const uint8_t *q;
		struct tlv rdn;
		bool first = true;

		if (!next(&p, name.end, &rdn) || rdn.tag != 0x31 || !rdn.len)
			return -1;
		for (q = rdn.v; q < rdn.end;) {
			struct tlv atv, oid, val;
			const uint8_t *r, *vstart;

			if (!next(&q, rdn.end, &atv) || atv.tag != 0x30)
				return -1;
			r = atv.v;
			if (!next(&r, atv.end, &oid) || oid.tag != 0x06)
				return -1;
			vstart = r;
			if (!next(&r, atv.end, &val) || r != atv.end)
				return -1;
			put(&o, first ? "/" : "+", 1);
			put_type(&o, &oid);
			put(&o, "=", 1);
			put_value(&o, &val, vstart);
			first = false;
		}
	}
	return o.full ? -1 : (int)o.len;
}
