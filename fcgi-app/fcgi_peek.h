/*
 * Whether the bytes waiting on a FastCGI connection hold a whole request,
 * judged from a peek at them before libfcgi reads. libfcgi reads a
 * request with blocking reads, so a peer that sends half a request (or
 * nothing) would hold the worker that started reading it. A connection
 * whose request is not all there yet goes back to epoll instead, and no
 * thread waits on it. Pure: the bytes in, a verdict out.
 */
#ifndef CANDIDATES_FCGI_PEEK_H
#define CANDIDATES_FCGI_PEEK_H

#include <stddef.h>

/* How much a worker peeks at: a GET, or a POST with a small body. */
#define FCGI_PEEK_MAX	8192

enum fcgi_peek {
	FCGI_PEEK_WHOLE,	/* a whole request, or bytes libfcgi will
				 * refuse at once: read it now */
	FCGI_PEEK_PART,		/* the start of a request: wait for more */
	FCGI_PEEK_LARGE,	/* larger than the peek and not whole: read
				 * it now, bounded by the socket's timeout */
};

/*
 * Judges n bytes at p, all that was waiting (n < cap), or the first cap
 * bytes of more (n == cap).
 */
enum fcgi_peek fcgi_peek_request(const unsigned char *p, size_t n,
	    size_t cap);

#endif
