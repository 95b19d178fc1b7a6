#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

size_t
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i, n = 0;

	if (dstlen == 0)
		return 0;
	/*
	 * Sizing and writing happen in this one loop: every byte checks that
	 * its whole escape fits, so the two can never disagree.
	 */
	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (n + 1 >= dstlen)
				break;
			dst[n++] = (char)c;
		} else {
			if (n + 4 >= dstlen)
				break;
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		}
	}
	dst[n] = '\0';
	return n;
}

void
log_line(const char *fmt, ...)
{
	char	 raw[LOG_LINE_MAX], line[LOG_LINE_MAX];
	va_list	 ap;
	int	 rawlen;
	size_t	 n;

	va_start(ap, fmt);
	rawlen = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (rawlen < 0)
		return;
	if ((size_t)rawlen >= sizeof(raw))
		rawlen = sizeof(raw) - 1;
	n = log_escape(line, sizeof(line) - 1, raw, (size_t)rawlen);
	line[n++] = '\n';
	/* One write per line, so threads never interleave within a line. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
