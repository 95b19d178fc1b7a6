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

/*
 * Bytes json-c escapes (with NOSLASHESCAPE): control characters, the
 * quote and the backslash. Every other byte, UTF-8 included, it copies as
 * it is, and so may we.
 */
static const unsigned char needs_escape[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
	[0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
	[0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
	[0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
	[0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

static int
plain(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (needs_escape[(unsigned char)s[i]])
			return 0;
	return 1;
}

/* Appends s as a JSON string literal, quotes included, through json-c. */
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
render_json_string(struct buf *b, const char *s, size_t len)
{
	struct json_object	*scratch;
	char			*p;
	int			 rc;

	if (plain(s, len)) {
		if ((p = buf_extend(b, len + 2)) == NULL)
			return -1;
		p[0] = '"';
		memcpy(p + 1, s, len);
		p[len + 1] = '"';
		return 0;
	}
	if ((scratch = render_scratch()) == NULL)
		return -1;
	rc = add_json_string(b, scratch, s, len);
	render_scratch_free(scratch);
	return rc;
}

int
render_candidate(struct buf *b, struct json_object *scratch, const char *name,
    size_t len, char before)
{
	static const char	 head[] = "{\"CandidateName\":\"";
	size_t			 nb = before != '\0', nh = sizeof(head) - 1;
	char			*p;

	/*
	 * Names are almost always plain: one copy of what json-c would have
	 * written, the separator and the object's braces around it.
	 */
	if (plain(name, len)) {
		if ((p = buf_extend(b, nb + nh + len + 2)) == NULL)
			return -1;
		*p = before;
		memcpy(p + nb, head, nh);
		memcpy(p + nb + nh, name, len);
		memcpy(p + nb + nh + len, "\"}", 2);
		return 0;
	}
	if (buf_add(b, &before, nb) == -1 ||
	    buf_add(b, head, nh - 1) == -1 ||
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
