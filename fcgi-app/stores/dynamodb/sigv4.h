/*
 * AWS Signature Version 4, as pure functions: every input, the time
 * included, is an argument, so the official test suite can check each
 * step byte for byte (tests/unit/test_sigv4.c). Nothing here does I/O or
 * logs, and nothing keeps a secret beyond the call.
 *
 * We sign ourselves rather than use libcurl's CURLOPT_AWS_SIGV4 because
 * libcurl reads the clock itself (so neither the suite nor a clock-skew
 * correction can feed it a time) and exposes none of the intermediate
 * strings that the suite checks.
 */
#ifndef CANDIDATES_SIGV4_H
#define CANDIDATES_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define SIGV4_ALGORITHM	"AWS4-HMAC-SHA256"
#define SIGV4_HEX_SIZE	65	/* 64 lowercase hex digits and a NUL */
#define SIGV4_DATE_SIZE	17	/* "YYYYMMDDTHHMMSSZ" and a NUL */
#define SIGV4_KEY_LEN	32	/* an HMAC-SHA256 key */
#define SIGV4_MAX_HEADERS 32	/* more is refused, never truncated */
#define SIGV4_MAX_PARAMS 64	/* query parameters, likewise */

/* One header as the request sends it; every one given is signed. */
struct sigv4_header {
	const char	*name;
	const char	*value;
};

struct sigv4_request {
	const char	*method;
	/*
	 * The path exactly as it goes on the wire. Its bytes are encoded once
	 * more for the canonical form, which is the double encoding SigV4
	 * asks of every service but S3.
	 */
	const char	*path;
	const char	*query;		/* after the '?', or NULL */
	const struct sigv4_header *headers;
	size_t		 nheaders;
	const char	*payload_hash;	/* sigv4_sha256_hex of the body */
	/* Drop empty and dot segments, as the suite's "normalize" asks. */
	int		 normalize_path;
};

/* t as "YYYYMMDDTHHMMSSZ" (UTC); -1 if it has no such form. */
int	sigv4_format_date(time_t t, char out[SIGV4_DATE_SIZE]) WARN_UNUSED;

/* The lowercase hex SHA-256 of n bytes at p; -1 if OpenSSL fails. */
int	sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HEX_SIZE])
	    WARN_UNUSED;

/* Appends the SignedHeaders value: lowercase names, sorted, ';'-joined. */
int	sigv4_signed_headers(struct buf *out, const struct sigv4_header *h,
	    size_t n) WARN_UNUSED;

/* Appends the canonical request (task 1 of the specification). */
int	sigv4_canonical_request(struct buf *out, const struct sigv4_request *)
	    WARN_UNUSED;

/*
 * Appends the string to sign (task 2) for a canonical request made at
 * amzdate (as sigv4_format_date writes it) in region for service.
 */
int	sigv4_string_to_sign(struct buf *out, const char *amzdate,
	    const char *region, const char *service, const char *creq,
	    size_t creqlen) WARN_UNUSED;

/* Derives the signing key (task 3) for the day of amzdate. */
int	sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const char *secret,
	    const char *amzdate, const char *region, const char *service)
	    WARN_UNUSED;

/* The hex HMAC of the string to sign under key (task 4). */
int	sigv4_signature(char out[SIGV4_HEX_SIZE],
	    const unsigned char key[SIGV4_KEY_LEN], const char *sts,
	    size_t stslen) WARN_UNUSED;

/* Appends the Authorization header's value. */
int	sigv4_authorization(struct buf *out, const char *access_key_id,
	    const char *amzdate, const char *region, const char *service,
	    const char *signed_headers, const char *signature) WARN_UNUSED;

/*
 * All four tasks for a request signed in its headers: appends the
 * Authorization value to out. req's headers must already hold every
 * header to sign, host and x-amz-date (= amzdate) among them. The
 * derived key and intermediate strings are wiped before returning.
 */
int	sigv4_sign(struct buf *out, const struct sigv4_request *req,
	    const char *access_key_id, const char *secret, const char *amzdate,
	    const char *region, const char *service) WARN_UNUSED;
/*
 * The same with the signing key of amzdate's day already derived: the
 * key holds for a day, and deriving it is four HMACs out of the five a
 * request costs.
 */
int	sigv4_sign_with_key(struct buf *out, const struct sigv4_request *req,
	    const char *access_key_id, const unsigned char key[SIGV4_KEY_LEN],
	    const char *amzdate, const char *region, const char *service)
	    WARN_UNUSED;

#endif
