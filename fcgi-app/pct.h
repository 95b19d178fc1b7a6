/*
 * Percent-encoding (RFC 3986, section 2.1), in one place: the API decodes
 * names with it, and the cloud stores encode what goes into a URL with it
 * (SigV4's canonical path, a Cosmos DB id, a Firestore page token).
 */
#ifndef CANDIDATES_PCT_H
#define CANDIDATES_PCT_H

#include <stddef.h>

#include "buf.h"

/* The value of one hex digit, either case; -1 if c is none. */
int	pct_hexval(int c);

/*
 * Appends the n bytes at p with every byte but the unreserved characters
 * (A-Z a-z 0-9 - . _ ~) encoded as %XX in upper case, and '/' kept as it
 * is when keep_slash.
 */
int	pct_encode(struct buf *out, const char *p, size_t n, int keep_slash)
	    WARN_UNUSED;

#endif
