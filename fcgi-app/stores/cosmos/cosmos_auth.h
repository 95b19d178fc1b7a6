/*
 * Cosmos DB's Authorization header, as pure functions: the master-key
 * signature (HMAC-SHA256 over the verb, the resource type, the resource
 * link and the date, as "Access control in the Azure Cosmos DB SQL API"
 * defines it) and the Microsoft Entra form that carries a token. Every
 * input, the time included, is an argument, so the documentation's
 * example and @azure/cosmos's own signer check each step byte for byte
 * (tests/unit/stores/cosmos/test_cosmos_auth.c). Nothing here does I/O or
 * logs, and no copy of the key outlives a call but the caller's own.
 */
#ifndef CANDIDATES_COSMOS_AUTH_H
#define CANDIDATES_COSMOS_AUTH_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* "Tue, 01 Nov 1994 08:12:31 GMT" and a NUL. */
#define COSMOS_DATE_SIZE	30
/* Account keys are 64 bytes; room for a longer one, never truncated. */
#define COSMOS_KEY_MAX		128
/*
 * A master-key signature is good this long after its x-ms-date; a date
 * minutes ahead of Cosmos DB's clock is refused as well (403), so a
 * skewed clock is corrected from the server's Date header.
 */
#define COSMOS_DATE_SKEW	(15 * 60)

/* An account key, decoded from its base64 once, at start-up. */
struct cosmos_key {
	unsigned char	 bytes[COSMOS_KEY_MAX];
	size_t		 len;
};

/*
 * Decodes b64 (n bytes of canonical base64, padded, nothing else: no
 * space, no line break) into *key. On failure *key is wiped and -1
 * returned; the caller names the variable.
 */
int	cosmos_key_decode(struct cosmos_key *key, const char *b64, size_t n)
	    WARN_UNUSED;
/* Wipes a key: at teardown, and for every copy on a stack. */
void	cosmos_key_wipe(struct cosmos_key *);

/*
 * t as the RFC 7231 IMF-fixdate the x-ms-date header carries ("Tue, 01
 * Nov 1994 08:12:31 GMT"), in the C locale whatever the process's; -1
 * if t has no such form (a year outside 1000..9999).
 */
int	cosmos_format_date(time_t t, char out[COSMOS_DATE_SIZE]) WARN_UNUSED;
/*
 * The inverse, strictly (the form above, no other): for the server's
 * Date header, whose distance from our clock corrects a skewed one.
 */
int	cosmos_parse_date(const char *s, size_t n, time_t *out) WARN_UNUSED;

/*
 * Appends the string to sign: the verb and the resource type in lower
 * case, the resource link as given (the ids decoded, their case kept),
 * the date in lower case, each followed by a line feed, then one more.
 */
int	cosmos_string_to_sign(struct buf *out, const char *verb,
	    const char *resource_type, const char *link, size_t linklen,
	    const char *date) WARN_UNUSED;

/*
 * Appends the Authorization value for the master key: "type=master&ver=
 * 1.0&sig=" and the base64 HMAC-SHA256 of the string to sign under key,
 * the whole percent-encoded. The MAC and the string to sign are wiped
 * before returning; out holds a credential good for 15 minutes, and the
 * caller wipes it once sent (and reuses one buffer, so that once grown it
 * never moves and leaves no copy behind in freed memory).
 */
int	cosmos_auth_master(struct buf *out, const struct cosmos_key *key,
	    const char *verb, const char *resource_type, const char *link,
	    size_t linklen, const char *date) WARN_UNUSED;

/*
 * Appends the Authorization value for a Microsoft Entra token: "type=aad&
 * ver=1.0&sig=" and the token, percent-encoded. A token must be printable
 * ASCII without spaces (a JWT is); anything else is refused, -1. The
 * token in out is the caller's to wipe, as above.
 */
int	cosmos_auth_aad(struct buf *out, const char *token, size_t len)
	    WARN_UNUSED;

#endif
