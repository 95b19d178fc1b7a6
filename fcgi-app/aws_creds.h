/*
 * AWS credentials in the order the SDKs look for them: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else the
 * instance role from IMDSv2. Role credentials are cached for every thread
 * and refreshed well before they expire, by one thread while the others
 * keep signing with the old ones; the metadata service is never asked
 * per request.
 */
#ifndef CANDIDATES_AWS_CREDS_H
#define CANDIDATES_AWS_CREDS_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "aws_imds.h"
#include "http_client.h"

#define AWS_KEY_MAX	128
#define AWS_TOKEN_MAX	4096	/* STS session tokens run to ~2 KB */
/* Refresh at most this long before expiry; sooner for short ones. */
#define AWS_REFRESH_EARLY	300

struct aws_creds {
	char	 access_key_id[AWS_KEY_MAX];
	char	 secret_access_key[AWS_KEY_MAX];
	char	 session_token[AWS_TOKEN_MAX];	/* "" when none */
	time_t	 expiration;			/* 0: never (environment) */
};

struct aws_creds_provider {
	struct aws_imds		*imds;		/* not owned */
	int			 from_env;
	pthread_mutex_t		 lock;		/* guards everything below */
	pthread_cond_t		 done;		/* a refresh has ended */
	struct aws_creds	 cur;
	int			 have;
	int			 refreshing;	/* a thread is asking IMDS */
	time_t			 refresh_at;	/* start refreshing from here */
	time_t			 next_try;	/* after a failed refresh */
	int			 warned;	/* failure logged this outage */
	unsigned long		 fetches;	/* IMDS refreshes attempted */
};

/*
 * Reads the environment; without AWS_ACCESS_KEY_ID the provider asks
 * imds (which must outlive it). A half-set or malformed pair fills err
 * naming the variable.
 */
int	aws_creds_provider_init(struct aws_creds_provider *,
	    struct aws_imds *imds, char *err, size_t errlen) WARN_UNUSED;
void	aws_creds_provider_destroy(struct aws_creds_provider *);

/*
 * Copies usable credentials into out, refreshing them through hc first
 * when they are due, all within dl. On failure out is wiped and err says
 * why (never with a secret).
 */
int	aws_creds_get(struct aws_creds_provider *, struct http_client *hc,
	    const struct deadline *dl, struct aws_creds *out, char *err,
	    size_t errlen) WARN_UNUSED;

/*
 * The store said the token of used expired (ExpiredTokenException): if
 * used is still the cached set, refresh on the next get. Only role
 * credentials can be refreshed; returns whether they can, so the caller
 * knows whether a retry may help.
 */
int	aws_creds_expired(struct aws_creds_provider *,
	    const struct aws_creds *used);

/* Wipes secrets: for copies on the stack once a request is signed. */
void	aws_creds_wipe(struct aws_creds *);

/* The pure parts, for tests. */

/*
 * What a thread does with the cache at time now: use what is there,
 * refresh it, wait for another thread's refresh, or fail.
 */
enum aws_creds_step {
	AWS_CREDS_USE,
	AWS_CREDS_REFRESH,
	AWS_CREDS_WAIT,
	AWS_CREDS_FAIL,
};
enum aws_creds_step aws_creds_plan(const struct aws_creds_provider *,
	    time_t now);

/*
 * When credentials fetched at fetched and expiring at expiration are
 * refreshed: min(AWS_REFRESH_EARLY, lifetime / 2) before they expire, so
 * six-hour role credentials refresh five minutes early and ten-second
 * test credentials at five seconds.
 */
time_t	aws_creds_refresh_at(time_t fetched, time_t expiration);

/* After a failed refresh at now, when the next may start. */
time_t	aws_creds_next_try(time_t now, int have, time_t expiration);

/* "2024-01-02T03:04:05Z" (fraction of seconds allowed) as UTC. */
int	aws_parse_time(const char *s, size_t len, time_t *out) WARN_UNUSED;

/*
 * The JSON document of iam/security-credentials/<role> into out; -1 with
 * the reason in err unless Code is "Success" and the keys, token and
 * Expiration are present and well formed.
 */
int	aws_parse_role_creds(const char *body, size_t len,
	    struct aws_creds *out, char *err, size_t errlen) WARN_UNUSED;

#endif
