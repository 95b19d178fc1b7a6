/*
 * JSON as the cloud stores exchange it, where a tree is worth its cost: an
 * answer that is one small object (an error, an item, a token) parsed
 * strictly, and a request body built from json-c objects and written
 * compactly. A page of a listing is read with json_pick.h instead.
 */
#ifndef CANDIDATES_JSON_WIRE_H
#define CANDIDATES_JSON_WIRE_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

/* Nesting of an answer: the clouds' go five deep at most. */
#define JSON_WIRE_DEPTH	16

/*
 * The whole of body as one JSON value of type want: nothing after it and
 * valid UTF-8 throughout. NULL with the reason in err otherwise.
 */
struct json_object *json_wire_parse(const char *body, size_t len,
		    enum json_type want, char *err, size_t errlen);
/*
 * The same with the caller's tokener, of its depth, for a caller that must
 * wipe what the tokener copied (a key file); len is at most INT_MAX, and err
 * names the text as what.
 */
struct json_object *json_wire_parse_with(struct json_tokener *tok,
		    const char *body, size_t len, enum json_type want,
		    const char *what, char *err, size_t errlen);

/*
 * Adds key: val to o. val is handed over either way: released if the add
 * fails, as when it is NULL (a value that could not be made) or o is.
 */
int		 json_wire_put(struct json_object *o, const char *key,
		    struct json_object *val);

/* Appends o's compact JSON (no escaped '/') to b, and releases o. */
int		 json_wire_emit(struct buf *b, struct json_object *o);

/* The first n bytes of src (cut to fit) into dst, NUL-terminated. */
void		 json_wire_copy(char *dst, size_t dstlen, const char *src,
		    size_t n);

#endif
