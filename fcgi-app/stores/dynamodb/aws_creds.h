/*
 * AWS credentials in the order the SDKs look for them: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else the
 * instance role from IMDSv2, kept in the shared token cache
 * (cloud/token_cache.h): fetched once for every thread and refreshed well
 * before it expires, never per request.
 */
#ifndef CANDIDATES_AWS_CREDS_H
#define CANDIDATES_AWS_CREDS_H

#include <stddef.h>
#include <time.h>

#include "aws_imds.h"
#include "cloud/http_client.h"
#include "cloud/token_cache.h"

#define AWS_KEY_MAX	128
#define AWS_TOKEN_MAX	4096	/* STS session tokens run to ~2 KB */

struct aws_creds {
	char	 access_key_id[AWS_KEY_MAX];
	char	 secret_access_key[AWS_KEY_MAX];
	char	 session_token[AWS_TOKEN_MAX];	/* "" when none */
	time_t	 expiration;			/* 0: never (environment) */
};

struct aws_creds_provider {
	struct aws_imds		*imds;		/* not owned */
	int			 from_env;
	struct aws_creds	 env;		/* when from_env */
	struct token_cache	 role;		/* else, from IMDS */
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
