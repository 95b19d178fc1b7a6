/*
 * Candidate names from the raw path segment: decode once, then validate.
 * Beyond memory errors, each input checks the result against an oracle
 * written differently from name.c (UTF-8 by the byte-range table of the
 * Unicode standard, chapter 3, table 3-7, rather than by decoding code
 * points), and that a valid name survives being encoded and parsed again.
 */
#include <string.h>

#include "fuzz.h"
#include "name.h"

#define RAW_MAX (3 * NAME_MAX_BYTES + 64)

/* Length of the well-formed sequence at s by table 3-7, or 0. */
static size_t
table37(const unsigned char *s, size_t len)
{
	static const struct {
		unsigned char	 lo[4], hi[4];
		size_t		 n;
	} rows[] = {
		{ { 0x00 }, { 0x7f }, 1 },
		{ { 0xc2, 0x80 }, { 0xdf, 0xbf }, 2 },
		{ { 0xe0, 0xa0, 0x80 }, { 0xe0, 0xbf, 0xbf }, 3 },
		{ { 0xe1, 0x80, 0x80 }, { 0xec, 0xbf, 0xbf }, 3 },
		{ { 0xed, 0x80, 0x80 }, { 0xed, 0x9f, 0xbf }, 3 },
		{ { 0xee, 0x80, 0x80 }, { 0xef, 0xbf, 0xbf }, 3 },
		{ { 0xf0, 0x90, 0x80, 0x80 }, { 0xf0, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf1, 0x80, 0x80, 0x80 }, { 0xf3, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf4, 0x80, 0x80, 0x80 }, { 0xf4, 0x8f, 0xbf, 0xbf }, 4 },
	};
	size_t	 r, i;

	for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		if (len < rows[r].n)
			continue;
		for (i = 0; i < rows[r].n; i++)
			if (s[i] < rows[r].lo[i] || s[i] > rows[r].hi[i])
				break;
		if (i == rows[r].n)
			return rows[r].n;
	}
	return 0;
}

/* What name_validate should say, computed the other way round. */
static enum name_err
oracle(const unsigned char *s, size_t len)
{
	size_t	 i, n;

	if (len == 0)
		return NAME_EMPTY;
	if (len > NAME_MAX_BYTES)
		return NAME_TOO_LONG;
	for (i = 0; i < len; i += n) {
		if ((n = table37(s + i, len - i)) == 0)
			return NAME_BAD_UTF8;
		/* Every control character is one byte in UTF-8. */
		if (n == 1 && (s[i] < 0x20 || s[i] == 0x7f))
			return NAME_CONTROL;
		if (n == 1 && memchr("/\\?#", s[i], 4) != NULL)
			return NAME_RESERVED_CHAR;
	}
	if ((len == 1 || len == 2) && memcmp(s, "..", len) == 0)
		return NAME_DOT;
	if (len >= 4 && s[0] == '_' && s[1] == '_' && s[len - 2] == '_' &&
	    s[len - 1] == '_')
		return NAME_UNDERSCORES;
	return NAME_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	char		 dst[RAW_MAX], again[RAW_MAX], enc[3 * NAME_MAX_BYTES];
	size_t		 len, len2, i;
	enum name_err	 e, want;

	if (size > RAW_MAX)
		return 0;

	/* The decoded bytes judged alone, as a name stored by someone else. */
	e = name_validate((const char *)data, size);
	want = oracle(data, size);
	CHECK(e == want, "validate says %d, the oracle %d", e, want);
	CHECK(name_strerror(e) != NULL, "no sentence for %d", e);

	/* The raw segment as the API sees it. */
	memset(dst, 0, sizeof(dst));
	e = name_parse((const char *)data, size, dst, &len);
	if (e != NAME_OK) {
		CHECK(len == 0, "error %d left length %zu", e, len);
		return 0;
	}
	CHECK(len >= 1 && len <= NAME_MAX_BYTES && len <= size,
	    "length %zu from %zu raw bytes", len, size);
	CHECK(oracle((const unsigned char *)dst, len) == NAME_OK,
	    "accepted a name the oracle rejects");

	/* Every byte escaped decodes back to the same name. */
	for (i = 0; i < len; i++) {
		enc[3 * i] = '%';
		enc[3 * i + 1] = hex[(unsigned char)dst[i] >> 4];
		enc[3 * i + 2] = hex[(unsigned char)dst[i] & 0xf];
	}
	e = name_parse(enc, 3 * len, again, &len2);
	CHECK(e == NAME_OK && len2 == len && memcmp(again, dst, len) == 0,
	    "re-encoded name parsed as %d", e);
	return 0;
}
