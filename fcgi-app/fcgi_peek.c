#include "fcgi_peek.h"

#include <fastcgi.h>	/* libfcgi's record types and lengths */

enum fcgi_peek
fcgi_peek_request(const unsigned char *p, size_t n, size_t cap)
{
	size_t	 at = 0, len;

	/*
	 * A request is BEGIN_REQUEST, PARAMS records ending with an empty
	 * one, then STDIN records ending with an empty one; the web servers
	 * send all of it at once, the empty STDIN last.
	 */
	while (n - at >= FCGI_HEADER_LEN) {
		const unsigned char	*h = p + at;

		if (h[0] != FCGI_VERSION_1)
			return FCGI_PEEK_WHOLE;
		len = (size_t)h[4] << 8 | h[5];
		if (n - at - FCGI_HEADER_LEN < len + h[6])
			break;
		if ((h[1] == FCGI_STDIN && len == 0) ||
		    h[1] == FCGI_ABORT_REQUEST)
			return FCGI_PEEK_WHOLE;
		/* Anything else libfcgi either takes in its stride or refuses. */
		at += FCGI_HEADER_LEN + len + h[6];
	}
	return n >= cap ? FCGI_PEEK_LARGE : FCGI_PEEK_PART;
}
