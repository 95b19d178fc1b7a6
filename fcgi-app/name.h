/*
 * Candidate names: the one path segment after /candidate/, percent-decoded
 * exactly once and then checked against what DynamoDB, Cosmos DB ids and
 * Firestore document ids all accept, so a name behaves alike everywhere.
 */
#ifndef CANDIDATES_NAME_H
#define CANDIDATES_NAME_H

#include <stddef.h>

#define NAME_MAX_BYTES 255

enum name_err {
	NAME_OK,
	NAME_EMPTY,		/* no bytes at all */
	NAME_TOO_LONG,		/* over NAME_MAX_BYTES once decoded */
	NAME_BAD_ESCAPE,	/* '%' not followed by two hex digits */
	NAME_BAD_UTF8,		/* malformed, overlong, surrogate, > U+10FFFF */
	NAME_CONTROL,		/* U+0000..U+001F or U+007F */
	NAME_RESERVED_CHAR,	/* one of / \ ? # */
	NAME_DOT,		/* "." or ".." */
	NAME_UNDERSCORES,	/* of the form __...__ */
};

/*
 * Decodes src[0..len) once into dst, which has room for len bytes (a
 * decoded name is never longer). '+' stays '+': this is a path, not a
 * form. On error *dstlen is 0.
 */
enum name_err	name_decode(const char *src, size_t len, char *dst,
		    size_t *dstlen);
/* Checks a decoded name. */
enum name_err	name_validate(const char *name, size_t len);
/*
 * Whether s[0..len) is well-formed UTF-8: what a listing asks of a name
 * another writer stored, so runs of ASCII are checked eight bytes a time.
 */
int		utf8_valid(const char *s, size_t len);
/*
 * Replaces each byte of s[0..len) that is not part of well-formed UTF-8
 * with '?', so text from outside (a host name) renders as valid JSON.
 * Returns how many bytes it replaced.
 */
size_t		utf8_scrub(char *s, size_t len);
/* Both steps: what the API does with a raw segment. */
enum name_err	name_parse(const char *raw, size_t rawlen, char *dst,
		    size_t *dstlen);
/* A sentence for the 400 body, e.g. "name is not valid UTF-8". */
const char	*name_strerror(enum name_err);

#endif
