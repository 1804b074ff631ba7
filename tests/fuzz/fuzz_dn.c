/*
 * libFuzzer target: the subject line of a client certificate
 * (proto/tls_dn.c), from arbitrary bytes taken as a certificate's DER.
 * Properties:
 *  - a line is returned NUL-terminated, of the length returned, and only of
 *    printable ASCII (it goes into a header field as it is);
 *  - it starts with '/', and every attribute has a type and '=';
 *  - the same bytes give the same line; into a buffer one byte shorter than
 *    the line needs, it is refused rather than cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/tls_dn.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char a[8192], b[8192];
	int n = sl_tls_subject_line(data, size, a, sizeof(a)), m;

	if (n < 0)
		return 0;
	FZ_CHECK((size_t)n == strlen(a), "length %d, string %zu", n, strlen(a));
	for (int i = 0; i < n; i++)
		FZ_CHECK(a[i] >= 0x20 && a[i] < 0x7f, "byte %02x at %d", (unsigned char)a[i], i);
	FZ_CHECK(n == 0 || a[0] == '/', "starts with '%c'", a[0]);
	for (const char *p = a; p && *p; p = strpbrk(p + 1, "/+")) {
		const char *eq = strchr(p + 1, '=');
		const char *nx = strpbrk(p + 1, "/+");

		FZ_CHECK(eq && eq > p + 1 && (!nx || eq < nx), "an attribute without type= at %d",
			 (int)(p - a));
	}
	m = sl_tls_subject_line(data, size, b, sizeof(b));
	FZ_CHECK(m == n && !memcmp(a, b, (size_t)n + 1), "not the same line twice");
	FZ_CHECK(sl_tls_subject_line(data, size, b, (size_t)n) == -1, "cut instead of refused");
	return 0;
}
