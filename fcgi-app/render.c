#include "render.h"

#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct json_object *
render_scratch(void)
{
	return json_object_new_string("");
}

void
render_scratch_free(struct json_object *scratch)
{
	json_object_put(scratch);
}

/* Appends s as a JSON string literal, quotes included. */
static int
add_json_string(struct buf *b, struct json_object *scratch, const char *s,
    size_t len)
{
	const char	*out;
	size_t		 outlen;

	/*
	 * json-c before 0.17 loses a scratch's heap buffer when it is set to
	 * "" and then to a longer string again (json-c issue #780).
	 */
	if (len == 0)
		return buf_add(b, "\"\"", 2);
	if (len > (size_t)INT_MAX ||
	    json_object_set_string_len(scratch, s, (int)len) == 0)
		return -1;
	out = json_object_to_json_string_length(scratch, JSON_FLAGS, &outlen);
	if (out == NULL)
		return -1;
	return buf_add(b, out, outlen);
}

int
render_candidate(struct buf *b, struct json_object *scratch, const char *name,
    size_t len)
{
	if (buf_addstr(b, "{\"CandidateName\":") == -1 ||
	    add_json_string(b, scratch, name, len) == -1)
		return -1;
	return buf_add(b, "}", 1);
}

/* One object with one string member and a newline. */
static int
render_pair(struct buf *b, const char *prefix, const char *key,
    const char *value)
{
	struct json_object	*scratch;
	int			 rc = -1;

	if ((scratch = render_scratch()) == NULL)
		return -1;
	if (buf_addstr(b, prefix) == 0 && buf_addstr(b, key) == 0 &&
	    add_json_string(b, scratch, value, strlen(value)) == 0 &&
	    buf_add(b, "}\n", 2) == 0)
		rc = 0;
	render_scratch_free(scratch);
	return rc;
}

int
render_details(struct buf *b, const char *instance_id)
{
	return render_pair(b, "{\"connected\":\"true\",", "\"instance-id\":",
	    instance_id);
}

int
render_error(struct buf *b, const char *message)
{
	return render_pair(b, "{", "\"error\":", message);
}
