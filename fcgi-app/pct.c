#include "pct.h"

int
pct_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
pct_encode(struct buf *out, const char *p, size_t n, int keep_slash)
{
	static const char upper[] = "0123456789ABCDEF";
	size_t	 i, run;

	for (i = 0; i < n; i += run) {
		unsigned char	 c = (unsigned char)p[i];
		char		 esc[3];

		/* Runs that need no escape go in with one copy. */
		for (run = 0; i + run < n && (unreserved((unsigned char)
		    p[i + run]) || (keep_slash && p[i + run] == '/')); run++)
			continue;
		if (run > 0) {
			if (buf_add(out, p + i, run) == -1)
				return -1;
			continue;
		}
		esc[0] = '%';
		esc[1] = upper[c >> 4];
		esc[2] = upper[c & 0xf];
		if (buf_add(out, esc, sizeof(esc)) == -1)
			return -1;
		run = 1;
	}
	return 0;
}
