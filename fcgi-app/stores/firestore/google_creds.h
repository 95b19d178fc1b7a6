/*
 * The bearer the Firestore store sends, found as Google's client
 * libraries find it:
 *
 *   - with an emulator, "owner", as the official clients send to one;
 *   - GOOGLE_APPLICATION_CREDENTIALS naming a service-account key file: an
 *     access token from the key's token_uri for an RS256 JWT (the JWT
 *     bearer grant, RFC 7523);
 *   - else the VM's service account's access token from the metadata
 *     server.
 *
 * Tokens live in the shared token cache (cloud/token_cache.h): fetched
 * once for every thread and refreshed well before they expire, never per
 * request; a token the store rejects is replaced once.
 */
#ifndef CANDIDATES_GOOGLE_CREDS_H
#define CANDIDATES_GOOGLE_CREDS_H

#include <stddef.h>

#include "cloud/http_client.h"
#include "cloud/token_cache.h"
#include "gce_metadata.h"
#include "google_jwt.h"

/* What the official clients send to an emulator, which checks nothing. */
#define GOOGLE_EMULATOR_BEARER	"owner"

enum google_creds_source {
	GOOGLE_CREDS_EMULATOR,	/* no credentials: "owner" */
	GOOGLE_CREDS_KEY_FILE,	/* GOOGLE_APPLICATION_CREDENTIALS */
	GOOGLE_CREDS_METADATA,	/* the VM's service account */
};

struct google_creds {
	enum google_creds_source	 source;
	struct google_key		 key;	/* GOOGLE_CREDS_KEY_FILE */
	const struct gce_metadata	*md;	/* GOOGLE_CREDS_METADATA */
	struct token_cache		 cache;	/* both of those */
};

/*
 * For an emulator, nothing to read. Otherwise reads and checks the key
 * file GOOGLE_APPLICATION_CREDENTIALS names, if any, else takes tokens
 * from md (which must outlive the provider). A bad key file fills err
 * naming the variable.
 */
int	google_creds_init(struct google_creds *, int emulator,
	    const struct gce_metadata *md, char *err, size_t errlen)
	    WARN_UNUSED;
void	google_creds_destroy(struct google_creds *);

/* "the key file of <email>", "the metadata server", "none (emulator)". */
void	google_creds_describe(const struct google_creds *, char *out,
	    size_t outlen);

/*
 * Copies the bearer to send into out, refreshing it through hc first when
 * it is due, all within dl. On failure out is wiped and err says why
 * (never quoting a token). The caller wipes out (google_token_wipe).
 */
int	google_creds_get(struct google_creds *, struct http_client *hc,
	    const struct deadline *dl, struct google_token *out, char *err,
	    size_t errlen) WARN_UNUSED;

/*
 * The store rejected used (401 UNAUTHENTICATED): if it is still the
 * cached token, the next get fetches another. Returns whether a new one
 * can come, so the caller knows whether one more attempt may help.
 */
int	google_creds_rejected(struct google_creds *,
	    const struct google_token *used);

#endif
