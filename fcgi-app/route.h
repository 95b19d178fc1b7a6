/*
 * Maps a request method and the raw request target (REQUEST_URI, never
 * the web server's decoded copy) to one of the API's routes.
 */
#ifndef CANDIDATES_ROUTE_H
#define CANDIDATES_ROUTE_H

#include <stddef.h>

enum route {
	ROUTE_NONE,		/* no such path: 404 */
	ROUTE_ROOT,		/* / */
	ROUTE_GTG,		/* /gtg */
	ROUTE_CANDIDATE,	/* /candidate/<segment> */
	ROUTE_CANDIDATES,	/* /candidates */
};

enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_OTHER,
};

struct route_match {
	enum route	 route;
	int		 details;	/* the query has a "details" key */
	const char	*segment;	/* ROUTE_CANDIDATE: raw, undecoded */
	size_t		 segment_len;
};

/* Never fails: whatever does not match is ROUTE_NONE. */
void		route_match(const char *target, size_t len,
		    struct route_match *m);
enum method	route_method(const char *method);
/* Whether the route answers the method (HEAD wherever GET is). */
int		route_allows(enum route, enum method);
/* The Allow header's value for a route, e.g. "GET, HEAD, POST". */
const char	*route_allow(enum route);

#endif
