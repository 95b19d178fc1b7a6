#include "token_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Never refresh more often than this, even with odd expiries. */
#define REFRESH_MIN	1
/* After a failed refresh, wait between these while the old value lasts. */
#define RETRY_MIN	1
#define RETRY_MAX	60

int
token_cache_init(struct token_cache *c, const char *what, size_t size,
    token_fetch_fn fetch, void *arg, char *err, size_t errlen)
{
	pthread_condattr_t	 attr;

	memset(c, 0, sizeof(*c));
	c->what = what;
	c->fetch = fetch;
	c->arg = arg;
	c->size = size;
	if ((c->cur = calloc(1, size)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -1;
	}
	/* Waits are bounded by deadlines on the monotonic clock. */
	if (pthread_condattr_init(&attr) != 0)
		goto fail;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&c->done, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		goto fail;
	}
	pthread_condattr_destroy(&attr);
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		pthread_cond_destroy(&c->done);
		goto fail;
	}
	return 0;
fail:
	free(c->cur);
	c->cur = NULL;
	snprintf(err, errlen, "%s: cannot create a lock", what);
	return -1;
}

void
token_cache_destroy(struct token_cache *c)
{
	if (c->cur == NULL)
		return;
	explicit_bzero(c->cur, c->size);
	free(c->cur);
	c->cur = NULL;
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
}

time_t
token_refresh_at(time_t fetched, time_t expires)
{
	time_t	 life = expires - fetched, early;

	early = life / 2 < TOKEN_REFRESH_EARLY ? life / 2 : TOKEN_REFRESH_EARLY;
	if (life - early < REFRESH_MIN)
		return fetched + REFRESH_MIN;
	return expires - early;
}

time_t
token_next_try(time_t now, int have, time_t expires)
{
	time_t	 wait;

	/*
	 * A quarter of what the current value has left: a few tries before
	 * it runs out, but a service that is down is not asked by every
	 * request.
	 */
	wait = have && expires > now ? (expires - now) / 4 : RETRY_MIN;
	if (wait < RETRY_MIN)
		wait = RETRY_MIN;
	if (wait > RETRY_MAX)
		wait = RETRY_MAX;
	return now + wait;
}

enum token_step
token_plan(const struct token_cache *c, time_t now)
{
	int	 valid = c->have && now < c->expires;

	if (c->have && now < c->refresh_at)
		return TOKEN_USE;
	if (c->refreshing)
		return valid ? TOKEN_USE : TOKEN_WAIT;
	if (now < c->next_try)
		return valid ? TOKEN_USE : TOKEN_FAIL;
	return TOKEN_REFRESH;
}

/* Ends a refresh (lock held): keeps what came, or says why not. */
static int
refreshed(struct token_cache *c, int rc, unsigned char *fresh, time_t expires,
    const char *why)
{
	time_t	 now = time(NULL);

	c->refreshing = 0;
	if (rc == 0) {
		if (c->warned)
			log_line("%s: refreshed again", c->what);
		memcpy(c->cur, fresh, c->size);
		c->have = 1;
		c->expires = expires;
		c->refresh_at = token_refresh_at(now, expires);
		c->next_try = 0;
		c->warned = 0;
	} else {
		c->next_try = token_next_try(now, c->have, c->expires);
		if (c->have && now < c->expires) {
			/* The current one still works: keep it, say so once. */
			if (!c->warned)
				log_line("%s: refresh failed, keeping the "
				    "current one for %lds: %s", c->what,
				    (long)(c->expires - now), why);
			c->warned = 1;
			rc = 0;
		}
	}
	pthread_cond_broadcast(&c->done);
	return rc;
}

int
token_cache_get(struct token_cache *c, struct http_client *hc,
    const struct deadline *dl, void *out, char *err, size_t errlen)
{
	unsigned char	*fresh;
	struct deadline	 fetch_dl;
	char		 why[256];
	time_t		 expires = 0;
	long		 left;
	int		 rc;

	explicit_bzero(out, c->size);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		switch (token_plan(c, time(NULL))) {
		case TOKEN_USE:
			memcpy(out, c->cur, c->size);
			pthread_mutex_unlock(&c->lock);
			return 0;
		case TOKEN_FAIL:
			pthread_mutex_unlock(&c->lock);
			snprintf(err, errlen, "no valid %s: the last refresh "
			    "failed", c->what);
			return -1;
		case TOKEN_WAIT:
			if (pthread_cond_timedwait(&c->done, &c->lock,
			    &dl->end) == ETIMEDOUT) {
				pthread_mutex_unlock(&c->lock);
				snprintf(err, errlen, "timed out waiting for %s",
				    c->what);
				return -1;
			}
			continue;
		case TOKEN_REFRESH:
			break;
		}
		break;
	}
	/* Fetch without the lock, so the others can use the current one. */
	c->refreshing = 1;
	c->fetches++;
	pthread_mutex_unlock(&c->lock);
	if ((fresh = calloc(1, c->size)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		rc = -1;
	} else {
		/*
		 * A service that hangs must not eat the whole call: with the
		 * current value still good, the request can go on with it.
		 */
		left = deadline_left_ms(dl);
		deadline_start(&fetch_dl, left < TOKEN_FETCH_MS ? left :
		    TOKEN_FETCH_MS);
		rc = c->fetch(c->arg, hc, &fetch_dl, fresh, &expires, why,
		    sizeof(why));
	}
	pthread_mutex_lock(&c->lock);
	rc = refreshed(c, rc, fresh, expires, why);
	if (rc == 0)
		memcpy(out, c->cur, c->size);
	else
		snprintf(err, errlen, "%s: %s", c->what, why);
	pthread_mutex_unlock(&c->lock);
	if (fresh != NULL) {
		explicit_bzero(fresh, c->size);
		free(fresh);
	}
	return rc;
}

int
token_cache_rejected(struct token_cache *c, const void *used)
{
	pthread_mutex_lock(&c->lock);
	/* Only the first report about this value forces a refresh. */
	if (c->have && memcmp(used, c->cur, c->size) == 0) {
		c->refresh_at = 0;
		c->next_try = 0;
		c->expires = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return 1;
}
