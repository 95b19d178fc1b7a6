/*
 * json_pick against json-c as the oracle, on bytes from anywhere (a
 * store's page, a token endpoint's answer):
 *
 * - what json_pick accepts, json-c (strict) parses as an object too, and
 *   the raw text it picked for "a" is the same value as json-c's "a";
 *   the strings it picked from "a[]" are json-c's, byte for byte;
 * - what json-c parses, once json-c writes it out again (json-c's strict
 *   mode still takes raw control bytes in strings and numbers like -03,
 *   which RFC 8259 does not; what it writes is RFC 8259's), json_pick
 *   accepts, and picks the same from.
 */
#include <string.h>

#include <json-c/json.h>

#include "cloud/json_pick.h"
#include "fuzz.h"
#include "name.h"

struct strings {
	char	 all[4096];
	size_t	 len;
};

static int
collect(void *ctx, const char *s, size_t len)
{
	struct strings	*g = ctx;

	if (g->len + len + 1 < sizeof(g->all)) {
		memcpy(g->all + g->len, s, len);
		g->all[g->len + len] = '|';
		g->len += len + 1;
	}
	return 0;
}

/*
 * json-c writes a number back as it read it (-0.e35 stays so): every
 * double is set again so that json-c formats it. 0 if one is not finite,
 * which has no JSON form at all.
 */
static int
renumber(struct json_object *o)
{
	struct json_object_iterator	 it, end;
	size_t				 i;
	double				 d;

	switch (json_object_get_type(o)) {
	case json_type_double:
		d = json_object_get_double(o);
		if (d != d || d - d != 0)
			return 0;
		return json_object_set_double(o, d);
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			if (!renumber(json_object_array_get_idx(o, i)))
				return 0;
		return 1;
	case json_type_object:
		it = json_object_iter_begin(o);
		end = json_object_iter_end(o);
		for (; !json_object_iter_equal(&it, &end);
		    json_object_iter_next(&it))
			if (!renumber(json_object_iter_peek_value(&it)))
				return 0;
		return 1;
	default:
		return 1;
	}
}

static struct json_object *
json_c(const char *p, size_t n, int *depth_hit)
{
	struct json_tokener	*tok = json_tokener_new_ex(JSON_PICK_DEPTH + 1);
	struct json_object	*o;

	*depth_hit = 0;
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (json_tokener_get_error(tok) == json_tokener_error_depth)
		*depth_hit = 1;
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strings		 got = { "", 0 }, want = { "", 0 };
	struct json_pick	 p[] = {
		{ .path = "a", .kind = JSON_ANY },
		{ .path = "a[]", .kind = JSON_ANY, .string = collect,
		    .ctx = &got },
	};
	struct json_object	*o, *a = NULL, *raw, *e;
	enum json_pick_result	 r;
	const char		*text = (const char *)data;
	char			 err[128];
	size_t			 i;
	int			 depth_hit, has_a;

	if (size > 1 << 16)
		return 0;
	r = json_pick(text, size, p, 2, err, sizeof(err));
	CHECK(r != JSON_PICK_STOPPED, "stopped with a callback that never stops");
	o = json_c(text, size, &depth_hit);
	if (r == JSON_PICK_OK && utf8_valid(text, size))
		CHECK(o != NULL, "json-c refuses what json_pick accepts");
	if (o != NULL && !depth_hit && renumber(o)) {
		struct strings	 again = { "", 0 };
		struct json_pick p2[] = {
			{ .path = "a[]", .kind = JSON_ANY, .string = collect,
			    .ctx = &again },
		};
		size_t		 n;
		const char	*out = json_object_to_json_string_length(o,
				    JSON_C_TO_STRING_PLAIN, &n);

		CHECK(json_pick(out, n, p2, 1, err, sizeof(err)) ==
		    JSON_PICK_OK, "json_pick refuses json-c's own output: %s",
		    err);
		if (r == JSON_PICK_OK && p[0].found == 1)
			CHECK(again.len == got.len && memcmp(again.all,
			    got.all, got.len) == 0, "a[] read two ways");
	}
	if (r == JSON_PICK_OK && o != NULL) {
		/* A null member is there, as a NULL object. */
		has_a = json_object_object_get_ex(o, "a", &a);
		CHECK((p[0].found > 0) == has_a, "found %zu", p[0].found);
		/* json-c keeps the last of repeated names, as p[0].raw does. */
		if (has_a && p[0].found == 1) {
			/* Any value alone, ended by the NUL json-c needs. */
			char	*copy = strndup(p[0].raw, p[0].rawlen);

			CHECK(copy != NULL, "out of memory");
			raw = json_tokener_parse(copy);
			free(copy);
			CHECK(json_object_equal(raw, a), "raw 'a' differs");
			json_object_put(raw);
		}
		if (a != NULL && p[0].found == 1 &&
		    json_object_is_type(a, json_type_array)) {
			for (i = 0; i < json_object_array_length(a); i++) {
				e = json_object_array_get_idx(a, i);
				if (json_object_is_type(e, json_type_string))
					collect(&want, json_object_get_string(e),
					    (size_t)json_object_get_string_len(e));
			}
			CHECK(got.len == want.len &&
			    memcmp(got.all, want.all, got.len) == 0,
			    "strings of a[] differ");
		}
	}
	json_object_put(o);
	return 0;
}
