/*
 * Routing of the raw request target. route_match never fails; each input
 * checks what it promises: the segment lies inside the target, before the
 * query, holds no '/', and the route agrees with the path as a plain
 * string comparison would see it.
 */
#include <string.h>

#include "fuzz.h"
#include "route.h"

static int
path_is(const char *path, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(path, lit, len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *methods[] = { "GET", "HEAD", "POST", "PUT", "" };
	const char		*t = (const char *)data, *q, *allow;
	struct route_match	 m;
	size_t			 pathlen, i;
	enum method		 me;
	char			 method[16];

	route_match(t, size, &m);
	q = memchr(t, '?', size);
	pathlen = q != NULL ? (size_t)(q - t) : size;

	switch (m.route) {
	case ROUTE_ROOT:
		CHECK(path_is(t, pathlen, "/"), "root for another path");
		break;
	case ROUTE_GTG:
		CHECK(path_is(t, pathlen, "/gtg"), "gtg for another path");
		break;
	case ROUTE_CANDIDATES:
		CHECK(path_is(t, pathlen, "/candidates"), "wrong listing path");
		break;
	case ROUTE_CANDIDATE:
		CHECK(m.segment == t + 11 && m.segment_len == pathlen - 11 &&
		    memcmp(t, "/candidate/", 11) == 0, "segment misplaced");
		CHECK(memchr(m.segment, '/', m.segment_len) == NULL,
		    "segment holds a slash");
		break;
	case ROUTE_NONE:
		CHECK(!path_is(t, pathlen, "/") && !path_is(t, pathlen, "/gtg")
		    && !path_is(t, pathlen, "/candidates"), "missed a route");
		CHECK(!(pathlen >= 11 && memcmp(t, "/candidate/", 11) == 0 &&
		    memchr(t + 11, '/', pathlen - 11) == NULL),
		    "missed a candidate");
		break;
	}
	if (m.route != ROUTE_CANDIDATE)
		CHECK(m.segment == NULL && m.segment_len == 0, "stray segment");
	CHECK(m.details == 0 || (m.route == ROUTE_GTG && q != NULL),
	    "details outside /gtg?");

	/* The method: the same bytes, NUL-terminated as FastCGI gives them. */
	i = size < sizeof(method) - 1 ? size : sizeof(method) - 1;
	memcpy(method, data, i);
	method[i] = '\0';
	me = route_method(method);
	CHECK(me == METHOD_OTHER || strcmp(method, methods[me]) == 0,
	    "method '%s' read as %d", method, me);
	CHECK(route_method(NULL) == METHOD_OTHER, "NULL method");
	allow = route_allow(m.route);
	CHECK(allow != NULL && strpbrk(allow, "\r\n") == NULL, "bad Allow");
	/* HEAD is answered wherever GET is. */
	CHECK(route_allows(m.route, METHOD_GET) ==
	    route_allows(m.route, METHOD_HEAD), "HEAD differs from GET");
	return 0;
}
