/*
 * The API's JSON bodies. Strings are escaped by json-c, so the output is
 * valid JSON whatever a name holds; bodies end in "\n" as Flask's do.
 */
#ifndef CANDIDATES_RENDER_H
#define CANDIDATES_RENDER_H

#include <stddef.h>

#include "buf.h"

struct json_object;

/*
 * before (unless '\0'), then {"CandidateName":"<name>"} with no newline:
 * an item of a listing ('[' or ',' before it), or of a list of one.
 */
int	render_candidate(struct buf *, struct json_object *scratch,
	    const char *name, size_t len, char before) WARN_UNUSED;
/*
 * Appends len bytes of s as a JSON string literal, quotes included,
 * escaped exactly as json-c escapes it: the one escaper of the app and of
 * the stores' request bodies.
 */
int	render_json_string(struct buf *, const char *s, size_t len)
	    WARN_UNUSED;
/* {"connected":"true","instance-id":"<id>"}\n */
int	render_details(struct buf *, const char *instance_id) WARN_UNUSED;
/* {"error":"<message>"}\n */
int	render_error(struct buf *, const char *message) WARN_UNUSED;
/* A reusable json-c string for render_candidate; NULL when out of memory. */
struct json_object *render_scratch(void);
void	render_scratch_free(struct json_object *);

#endif
