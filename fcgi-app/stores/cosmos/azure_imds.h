/*
 * Azure's instance metadata service as the Cosmos DB store uses it: the
 * managed identity's Microsoft Entra token for Cosmos DB (the fetch
 * function of the shared token cache, cloud/token_cache.h), and the VM's
 * compute metadata for /gtg?details. Every request carries "Metadata:
 * true" and goes direct, never through a proxy: IMDS refuses relayed
 * requests, and the VM's tokens must pass through no one.
 */
#ifndef CANDIDATES_AZURE_IMDS_H
#define CANDIDATES_AZURE_IMDS_H

#include <stddef.h>
#include <time.h>

#include "cloud/http_client.h"
#include "cosmos_config.h"
#include "cosmos_wire.h"

/* Entra access tokens run to 2 or 3 KB; a managed identity's has no groups. */
#define AZURE_TOKEN_MAX		8192
#define AZURE_IMDS_BODY_MAX	(64 * 1024)

/* The cached value: fixed-size, zero past len, so copies compare whole. */
struct azure_token {
	size_t	 len;
	char	 value[AZURE_TOKEN_MAX];
};

struct azure_imds {
	char	 host[COSMOS_URL_MAX];		/* no trailing slash */
	/* A user-assigned identity; "": the VM's only one. */
	char	 client_id[COSMOS_CLIENT_ID_SIZE];
};

/*
 * A token_fetch_fn (arg: a struct azure_imds, value: a struct
 * azure_token): a token for COSMOS_IMDS_RESOURCE. IMDS's own refusal
 * ("invalid_request: Identity not found") or a malformed answer goes in
 * err, never the token.
 */
int	azure_imds_fetch_token(void *arg, struct http_client *hc,
	    const struct deadline *dl, void *value, time_t *expires, char *err,
	    size_t errlen);

/* The VM's vmId and name from its compute metadata; -1 with err. */
int	azure_imds_instance(const struct azure_imds *, struct http_client *hc,
	    const struct deadline *dl, struct cosmos_instance *out, char *err,
	    size_t errlen);

void	azure_token_wipe(struct azure_token *);

#endif
