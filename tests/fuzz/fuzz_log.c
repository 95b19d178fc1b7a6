/*
 * The log-line escaper, which quotes names and store messages from
 * outside. Each input is escaped into a heap buffer of exactly the size
 * the input chooses, so ASan sees a write one byte too far, and checked
 * against the whole escaping made one byte at a time: the output is a
 * prefix of it that never splits an escape and holds only printable
 * ASCII.
 */
#include <string.h>

#include "fuzz.h"
#include "log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 full[4 * 4096 + 1];
	/* unit[i]: the length of the escape starting at full[i], else 0. */
	static unsigned char unit[4 * 4096 + 1];
	const char	*src;
	char		*out;
	size_t		 dstlen, srclen, n, i, fl = 0;

	if (size < 2 || size > 4096 + 2)
		return 0;
	/* The first two bytes choose the room, 0 to 4095 bytes. */
	dstlen = ((size_t)data[0] << 8 | data[1]) % 4096;
	src = (const char *)data + 2;
	srclen = size - 2;

	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			unit[fl] = 1;
			full[fl++] = (char)c;
		} else {
			memset(unit + fl, 0, 4);
			unit[fl] = 4;
			fl += (size_t)snprintf(full + fl, 5, "\\x%02x", c);
		}
	}

	if ((out = malloc(dstlen)) == NULL)
		return 0;
	n = log_escape(out, dstlen, src, srclen);
	if (dstlen == 0) {
		CHECK(n == 0, "returned %zu for no room", n);
		free(out);
		return 0;
	}
	CHECK(n < dstlen && out[n] == '\0', "length %zu in %zu", n, dstlen);
	CHECK(n <= fl && memcmp(out, full, n) == 0, "not a prefix");
	/* A cut lands between escapes, and only when the next one didn't fit. */
	if (n < fl) {
		CHECK(unit[n] != 0, "cut inside an escape at %zu", n);
		CHECK(n + unit[n] >= dstlen, "stopped at %zu with room for more",
		    n);
	}
	for (i = 0; i < n; i++)
		CHECK(out[i] >= 0x20 && out[i] < 0x7f, "byte 0x%02x at %zu",
		    (unsigned char)out[i], i);
	free(out);
	return 0;
}
