/*
 * One API request to one response, with no FastCGI in sight: server.c
 * fills a request from the web server's parameters and writes the
 * response back. Tests and fuzzers drive handle() directly with a store.
 */
#ifndef CANDIDATES_HANDLER_H
#define CANDIDATES_HANDLER_H

#include <stddef.h>

#include "buf.h"
#include "gate.h"
#include "store.h"

#define BODY_MAX	(16 * 1024)		/* bigger bodies: 413 */
/*
 * The ceiling of one answer, that is of one listing (about 8 million
 * names): memory stays bounded whatever the table holds. Past it the
 * listing is a 500 that says so.
 */
#define RESPONSE_MAX	(256u * 1024 * 1024)

struct request {
	const char	*method;	/* REQUEST_METHOD */
	const char	*target;	/* REQUEST_URI, raw */
	size_t		 target_len;
	/* Body bytes the web server sent; over BODY_MAX means too large. */
	size_t		 body_len;
};

struct response {
	int		 status;
	const char	*content_type;	/* NULL: no body */
	const char	*allow;		/* 405: the Allow header */
	int		 retry_after;	/* 503: seconds, else 0 */
	struct buf	 body;		/* init by the caller, reused */
	/* One line for the log when the request failed, else empty. */
	char		 error[512];
};

/*
 * A worker's last listing, with the store's version it was rendered
 * under: served again, as it is, while the store reports the same
 * version. Only listings up to LIST_CACHE_MAX are kept, so a worker
 * holds at most that much for it.
 */
#define LIST_CACHE_MAX	(64 * 1024)

struct list_cache {
	struct buf		 body;		/* ceiling LIST_CACHE_MAX */
	unsigned long long	 version;
	int			 valid;
};

struct handler_ctx {
	const struct store_ops	*ops;
	struct store		*store;
	const char		*instance_id;
	struct store_gate	*gate;		/* shared; NULL: no bound */
	long			 timeout_ms;	/* a get or a put */
	long			 list_timeout_ms; /* a whole listing */
	struct list_cache	*cache;		/* this worker's; NULL: none */
	/*
	 * Called before anything that may block (a wait for a store slot,
	 * a store call), so the server can put another worker on duty;
	 * NULL: nothing to tell.
	 */
	void			(*may_block)(void *);
	void			*may_block_arg;
};

/* Fills resp (its body buffer reset first) for req. */
void	handle(const struct handler_ctx *, const struct request *,
	    struct response *);

#endif
