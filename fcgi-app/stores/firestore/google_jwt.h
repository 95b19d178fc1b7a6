/*
 * Google credentials as pure functions: a service-account key file read,
 * the RS256 JWTs made from it, and the token answers of Google's OAuth 2.0
 * endpoint and of the Compute Engine metadata server parsed. Nothing here
 * does I/O or reads the clock (the time is an argument), and nothing logs:
 * the I/O half reads the file, posts the grant, caches the token.
 *
 * Secrets: the private key lives only as an OpenSSL key object, which
 * google_key_free clears; every copy of the key's PEM text or of a token
 * this code makes (json-c's included) is wiped before it is released. The
 * caller wipes what it owns: the key file's bytes it read, the JWTs it is
 * handed (google_buf_wipe) and tokens (google_token_wipe). No error message
 * ever quotes a key, a JWT or a token.
 */
#ifndef CANDIDATES_GOOGLE_JWT_H
#define CANDIDATES_GOOGLE_JWT_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"

#define GOOGLE_TOKEN_URL	"https://oauth2.googleapis.com/token"
#define GOOGLE_SCOPE_DATASTORE	"https://www.googleapis.com/auth/datastore"
#define GOOGLE_SCOPE_CLOUD	"https://www.googleapis.com/auth/cloud-platform"
/* The audience of a self-signed JWT sent to Firestore as the bearer. */
#define GOOGLE_FIRESTORE_AUDIENCE "https://firestore.googleapis.com/"
#define GOOGLE_GRANT_TYPE	"urn:ietf:params:oauth:grant-type:jwt-bearer"
/* exp - iat of every JWT made here: the most Google accepts. */
#define GOOGLE_JWT_LIFETIME	3600

/* A key file is about 2.3 KB; anything near this is not one. */
#define GOOGLE_KEY_FILE_MAX	65536
#define GOOGLE_EMAIL_MAX	256
#define GOOGLE_KEY_ID_MAX	128
#define GOOGLE_URI_MAX		512
#define GOOGLE_PROJECT_MAX	31	/* 30 characters and a NUL */
/* Google's access tokens run to about 2 KB; room to spare. */
#define GOOGLE_TOKEN_MAX	4096
/* The longest token lifetime believed: a day. Google gives an hour. */
#define GOOGLE_TOKEN_LIFETIME_MAX 86400

/* What a service-account key file holds that the store uses. */
struct google_key {
	char		 client_email[GOOGLE_EMAIL_MAX];
	char		 private_key_id[GOOGLE_KEY_ID_MAX];
	char		 token_uri[GOOGLE_URI_MAX];
	char		 project_id[GOOGLE_PROJECT_MAX];	/* "" if none */
	EVP_PKEY	*pkey;		/* RSA, 2048 bits or more; owned */
};

/*
 * Reads the JSON of a key file (type "service_account") into key. Every
 * field used is checked; on failure key is left empty (pkey NULL) and err
 * names the field and what is wrong with it, never its value. The caller
 * still owns body and wipes it.
 */
int	google_key_parse(const char *body, size_t len, struct google_key *key,
	    char *err, size_t errlen) WARN_UNUSED;
/* Frees the key object and wipes the struct; safe on an empty one. */
void	google_key_free(struct google_key *);

/*
 * The assertion of the JWT bearer grant, for key->token_uri, signed RS256:
 *   header {"alg":"RS256","typ":"JWT","kid":private_key_id}
 *   claims {"iss":client_email,"scope":scope,"aud":token_uri,
 *           "exp":now+3600,"iat":now}
 * (the claims in the order google-auth-library writes them). out must be
 * empty: the JWT is written into it once, so no stale copy is left
 * behind, and the caller wipes it with google_buf_wipe.
 */
int	google_jwt_grant(struct buf *out, const struct google_key *,
	    const char *scope, time_t now, char *err, size_t errlen)
	    WARN_UNUSED;
/*
 * A self-signed JWT that Google accepts as the bearer itself, without a
 * token endpoint: the same header, and claims {"iss":client_email,
 * "sub":client_email,"aud":audience,"exp":now+3600,"iat":now}, audience
 * being GOOGLE_FIRESTORE_AUDIENCE for Firestore. Same rules for out.
 */
int	google_jwt_self_signed(struct buf *out, const struct google_key *,
	    const char *audience, time_t now, char *err, size_t errlen)
	    WARN_UNUSED;
/* The form body that posts jwt to the token endpoint. */
int	google_grant_body(struct buf *out, const char *jwt, size_t len)
	    WARN_UNUSED;
/* Wipes a buffer that held a JWT or a form with one, and frees it. */
void	google_buf_wipe(struct buf *);

/* An access token and the moment it expires. */
struct google_token {
	char	 access_token[GOOGLE_TOKEN_MAX];
	size_t	 len;
	time_t	 expires_at;		/* now + expires_in */
};

/*
 * The token endpoint's 200 answer, {"access_token":..,"expires_in":..,
 * "token_type":"Bearer"}, received at now: the token must be an RFC 6750
 * b64token (so it can go into a header as it is) and expires_in 1 to
 * GOOGLE_TOKEN_LIFETIME_MAX seconds. -1 with err saying why otherwise,
 * and out wiped.
 */
int	google_parse_token(const char *body, size_t len, time_t now,
	    struct google_token *out, char *err, size_t errlen) WARN_UNUSED;
/*
 * The metadata server's answer for .../service-accounts/default/token:
 * the same JSON and the same checks; err says it came from there.
 */
int	google_parse_metadata_token(const char *body, size_t len, time_t now,
	    struct google_token *out, char *err, size_t errlen) WARN_UNUSED;
void	google_token_wipe(struct google_token *);

/* A token endpoint's refusal: {"error":..,"error_description":..}. */
struct google_oauth_error {
	char	 error[64];		/* "invalid_grant"; "" if unreadable */
	char	 description[256];	/* maybe "" */
};

void	google_parse_oauth_error(const char *body, size_t len,
	    struct google_oauth_error *);

#endif
