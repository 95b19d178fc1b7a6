/*
 * Values picked out of a JSON text by their paths, in one validating pass
 * that builds no tree: how the cloud stores read a page of a listing. A
 * page holds a thousand items or more, and json-c builds two objects and
 * two hash tables for each: megabytes per page, per worker, left behind
 * in its malloc arena. This reads the page where it lies.
 *
 * A path names members, from the top object down, separated by dots; a
 * member's name followed by "[]" stands for each element of the array it
 * holds: "Items[].CandidateName.S" is the S of the CandidateName of every
 * element of Items. The whole text is checked against RFC 8259's grammar,
 * whatever is picked from it; strings are unescaped (\u escapes to UTF-8,
 * surrogate pairs joined, a lone surrogate refused) before they are
 * compared or handed on.
 */
#ifndef CANDIDATES_JSON_PICK_H
#define CANDIDATES_JSON_PICK_H

#include <stddef.h>

#include "buf.h"

#define JSON_PICK_DEPTH		32	/* nesting: more is refused */
#define JSON_PICK_STRING_MAX	4096	/* a picked string, unescaped */

enum json_kind {
	JSON_ANY,
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_NULL,
};

struct json_pick {
	const char	*path;
	/* What a value found there must be; another kind is refused. */
	enum json_kind	 kind;
	/*
	 * Optional, for strings: called with each one found, unescaped and
	 * not NUL-terminated; non-zero stops the walk (JSON_PICK_STOPPED).
	 */
	int		(*string)(void *ctx, const char *s, size_t len);
	void		*ctx;
	/* Set by json_pick: how many values matched, and the last one's text. */
	size_t		 found;
	const char	*raw;		/* points into the text */
	size_t		 rawlen;
};

enum json_pick_result {
	JSON_PICK_OK,		/* valid JSON; picks filled */
	JSON_PICK_BAD,		/* not JSON, too deep, or a value of the
				 * wrong kind where a path wants one */
	JSON_PICK_STOPPED,	/* a string callback asked to stop */
};

/*
 * Walks len bytes of text, a JSON object, filling picks. On JSON_PICK_BAD
 * err says what and where (as an offset, never quoting the text).
 */
enum json_pick_result json_pick(const char *text, size_t len,
	    struct json_pick *picks, size_t npicks, char *err, size_t errlen);

#endif
