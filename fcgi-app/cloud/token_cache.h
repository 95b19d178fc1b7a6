/*
 * A secret with an expiry that every thread of a store shares: AWS role
 * credentials, an Azure managed-identity token, a Google access token.
 * It is fetched once and refreshed well before it expires, by one thread
 * while the others keep using the current one; nobody asks the metadata
 * service or the token endpoint per request. A refresh that fails keeps
 * the current secret while it lasts, says so once in the log, and is
 * tried again at a pace that leaves a failing service alone.
 *
 * The value is opaque to the cache: a fixed-size struct of the store's,
 * copied out to each caller and wiped whenever the cache lets go of one.
 */
#ifndef CANDIDATES_TOKEN_CACHE_H
#define CANDIDATES_TOKEN_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "cloud/http_client.h"
#include "deadline.h"

/* Refresh at most this long before expiry; sooner for short lifetimes. */
#define TOKEN_REFRESH_EARLY	300
/* Time one refresh may take out of the deadline of the call it serves. */
#define TOKEN_FETCH_MS		2000

/*
 * Fetches a fresh value into out (size bytes) through hc within dl and
 * sets *expires (wall clock, seconds); -1 with the reason in err, which
 * must never quote the secret.
 */
typedef int (*token_fetch_fn)(void *arg, struct http_client *hc,
	    const struct deadline *dl, void *out, time_t *expires, char *err,
	    size_t errlen);

struct token_cache {
	const char	*what;		/* "AWS credentials", for the log */
	token_fetch_fn	 fetch;
	void		*arg;
	size_t		 size;
	pthread_mutex_t	 lock;		/* guards everything below */
	pthread_cond_t	 done;		/* a refresh has ended */
	unsigned char	*cur;		/* size bytes, valid when have */
	int		 have;
	int		 refreshing;	/* a thread is fetching */
	int		 warned;	/* a failure logged this outage */
	time_t		 expires;
	time_t		 refresh_at;	/* start refreshing from here */
	time_t		 next_try;	/* after a failed refresh */
	unsigned long	 fetches;	/* refreshes attempted */
};

int	token_cache_init(struct token_cache *, const char *what, size_t size,
	    token_fetch_fn, void *arg, char *err, size_t errlen) WARN_UNUSED;
void	token_cache_destroy(struct token_cache *);

/*
 * Copies a usable value into out (size bytes), refreshing it through hc
 * first when it is due, all within dl. On failure out is wiped and err
 * says why.
 */
int	token_cache_get(struct token_cache *, struct http_client *hc,
	    const struct deadline *dl, void *out, char *err, size_t errlen)
	    WARN_UNUSED;

/*
 * The service rejected used as expired or invalid: if it is still the
 * cached value, the next get refreshes it. Returns 1, so a caller may
 * retry once.
 */
int	token_cache_rejected(struct token_cache *, const void *used);

/* The pure parts, for tests. */

/*
 * What a thread does with the cache at time now: use the value, refresh
 * it, wait for another thread's refresh, or fail.
 */
enum token_step {
	TOKEN_USE,
	TOKEN_REFRESH,
	TOKEN_WAIT,
	TOKEN_FAIL,
};
enum token_step token_plan(const struct token_cache *, time_t now);

/*
 * When a value fetched at fetched and expiring at expires is refreshed:
 * min(TOKEN_REFRESH_EARLY, lifetime / 2) before it expires, so six-hour
 * credentials refresh five minutes early and ten-second test tokens at
 * five seconds.
 */
time_t	token_refresh_at(time_t fetched, time_t expires);

/* After a failed refresh at now, when the next may start. */
time_t	token_next_try(time_t now, int have, time_t expires);

#endif
