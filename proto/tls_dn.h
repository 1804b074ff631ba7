/*
 * The subject of a client certificate as one header-safe line (proto/
 * layer), read from the certificate's DER by sluice itself: wolfSSL's name
 * API leaves out attributes it does not know (title, pseudonym,
 * organizationIdentifier, any private OID) and copies BMPString bytes as
 * they are, so two different subjects could read the same.
 */
#ifndef SL_PROTO_TLS_DN_H
#define SL_PROTO_TLS_DN_H

#include <stddef.h>
#include <stdint.h>

/* Writes the subject of the DER certificate cert (len bytes) to out (n
 * bytes, NUL-terminated) in OpenSSL's one-line form: "/O=Acme/CN=alice",
 * attributes in certificate order, those of one multi-valued RDN joined by
 * '+'. Names are OpenSSL's short names (CN, O, OU, C, ST, L, title,
 * emailAddress, ...), any other type its dotted OID. Values are UTF-8
 * (BMPString and UniversalString converted); every byte outside printable
 * ASCII, '/', '=', '+', '\', a leading '#' and a space that starts or ends a
 * value is written \HH (hex, as RFC 4514 escapes), so no value can pass for
 * another attribute; a value of any other ASN.1 type, or a BMP/Universal
 * string that holds no character, is written #HEX of its whole encoding
 * (RFC 4514). Returns the length, or -1 for a certificate that does not
 * parse as DER (padded OID arcs and long-form lengths that should be short
 * included) or a line that does not fit. */
int sl_tls_subject_line(const uint8_t *cert, size_t len, char *out, size_t n);

#endif
