/*
 * The values the Firestore store is told at start-up, checked before
 * anything is sent: the addresses in its environment and the words the
 * metadata server answers. Pure: no I/O, no environment read here.
 *
 *   FIRESTORE_EMULATOR_HOST  host:port, as Google's clients read it
 *   GCE_METADATA_HOST        host or host:port, as google-auth-library
 *                            reads it
 *   FIRESTORE_ENDPOINT       https://host[:port], a regional or Private
 *                            Service Connect endpoint
 */
#ifndef CANDIDATES_GOOGLE_CONFIG_H
#define CANDIDATES_GOOGLE_CONFIG_H

#include <stddef.h>

#include "buf.h"

/* A host name is at most 253 bytes; with "[", "]" and ":65535", 262. */
#define GOOGLE_HOSTPORT_MAX	264
/* "https://" and a host:port. */
#define GOOGLE_URL_MAX		(8 + GOOGLE_HOSTPORT_MAX)
/* What the metadata server's plain answers may hold: an id, a project. */
#define GCE_WORD_MAX		128

/*
 * s (len bytes) as host[:port]: host a DNS name (letters, digits, '-'
 * and '.'), an IPv4 address, or an IPv6 address in brackets; port 1 to
 * 65535 without leading zeros, required when need_port. Copied into out
 * as it is. 0, or -1 with err saying what is wrong (never quoting s).
 */
int	google_check_hostport(const char *s, size_t len, int need_port,
	    char *out, size_t outlen, char *err, size_t errlen) WARN_UNUSED;

/*
 * s as https://host[:port] with at most a '/' after it, nothing else (no
 * path, query, user or fragment): out receives it without the '/'.
 */
int	google_check_https_url(const char *s, size_t len, char *out,
	    size_t outlen, char *err, size_t errlen) WARN_UNUSED;

/*
 * A plain-text answer of the metadata server (instance/id,
 * project/project-id) as one word: 1 to outlen - 1 of A-Z a-z 0-9 and
 * "-._:", then at most one line break. -1 with out empty otherwise.
 */
int	gce_metadata_word(const char *body, size_t len, char *out,
	    size_t outlen) WARN_UNUSED;

#endif
