#include "route.h"

#include <string.h>

#define CANDIDATE_PREFIX "/candidate/"

static int
equals(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Whether the query string has a parameter whose key is "details". */
static int
has_details(const char *q, size_t len)
{
	size_t	 start = 0, i, key;

	for (i = 0; i <= len; i++) {
		if (i < len && q[i] != '&')
			continue;
		for (key = start; key < i && q[key] != '='; key++)
			continue;
		if (equals(q + start, key - start, "details"))
			return 1;
		start = i + 1;
	}
	return 0;
}

void
route_match(const char *target, size_t len, struct route_match *m)
{
	const char	*q;
	size_t		 pathlen, plen = strlen(CANDIDATE_PREFIX);

	memset(m, 0, sizeof(*m));
	m->route = ROUTE_NONE;
	q = memchr(target, '?', len);
	pathlen = q != NULL ? (size_t)(q - target) : len;

	if (equals(target, pathlen, "/"))
		m->route = ROUTE_ROOT;
	else if (equals(target, pathlen, "/gtg")) {
		m->route = ROUTE_GTG;
		if (q != NULL)
			m->details = has_details(q + 1, len - pathlen - 1);
	} else if (equals(target, pathlen, "/candidates"))
		m->route = ROUTE_CANDIDATES;
	else if (pathlen >= plen && memcmp(target, CANDIDATE_PREFIX, plen) == 0 &&
	    memchr(target + plen, '/', pathlen - plen) == NULL) {
		/* One segment only: an encoded %2F is the name's problem. */
		m->route = ROUTE_CANDIDATE;
		m->segment = target + plen;
		m->segment_len = pathlen - plen;
	}
}

enum method
route_method(const char *method)
{
	if (method == NULL)
		return METHOD_OTHER;
	if (strcmp(method, "GET") == 0)
		return METHOD_GET;
	if (strcmp(method, "HEAD") == 0)
		return METHOD_HEAD;
	if (strcmp(method, "POST") == 0)
		return METHOD_POST;
	return METHOD_OTHER;
}

int
route_allows(enum route r, enum method m)
{
	switch (r) {
	case ROUTE_NONE:
		return 1;
	case ROUTE_ROOT:
	case ROUTE_GTG:
	case ROUTE_CANDIDATES:
		return m == METHOD_GET || m == METHOD_HEAD;
	case ROUTE_CANDIDATE:
		return m != METHOD_OTHER;
	}
	return 0;
}

const char *
route_allow(enum route r)
{
	return r == ROUTE_CANDIDATE ? "GET, HEAD, POST" : "GET, HEAD";
}
