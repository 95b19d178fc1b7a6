#include "json_wire.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

struct json_object *
json_wire_parse(const char *body, size_t len, enum json_type want, char *err,
    size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (body == NULL || len == 0 || len > INT_MAX) {
		snprintf(err, errlen, "no answer body");
		return NULL;
	}
	if ((tok = json_tokener_new_ex(JSON_WIRE_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o = json_wire_parse_with(tok, body, len, want, "answer", err, errlen);
	json_tokener_free(tok);
	return o;
}

struct json_object *
json_wire_parse_with(struct json_tokener *tok, const char *body, size_t len,
    enum json_type want, const char *what, char *err, size_t errlen)
{
	struct json_object	*o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, want)) {
		snprintf(err, errlen, "%s is not a JSON %s (%s)", what,
		    json_type_to_name(want), o == NULL ||
		    json_tokener_get_error(tok) != json_tokener_success ?
		    json_tokener_error_desc(json_tokener_get_error(tok)) :
		    "wrong type or trailing bytes");
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
json_wire_put(struct json_object *o, const char *key, struct json_object *val)
{
	if (o == NULL || val == NULL || json_object_object_add(o, key,
	    val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

int
json_wire_emit(struct buf *b, struct json_object *o)
{
	const char	*s;
	size_t		 n = 0;
	int		 rc;

	if (o == NULL)
		return -1;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	rc = s == NULL ? -1 : buf_add(b, s, n);
	json_object_put(o);
	return rc;
}

void
json_wire_copy(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}
