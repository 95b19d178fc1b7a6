/*
 * json_pick: what it accepts and refuses (RFC 8259's grammar, row by
 * row), what it picks and how it unescapes, the counts and raw texts the
 * stores' listings rely on, and json-c as the oracle for every text a row
 * accepts.
 */
#include "unit.h"

#include <json-c/json.h>

#include "cloud/json_pick.h"

/* Strings a pick received, joined by '|'. */
struct got {
	char	 all[512];
	size_t	 n;
	int	 stop_at;	/* 1-based; 0: never */
};

static int
collect(void *ctx, const char *s, size_t len)
{
	struct got	*g = ctx;
	size_t		 used = strlen(g->all);

	if (used + len + 2 < sizeof(g->all)) {
		memcpy(g->all + used, s, len);
		memcpy(g->all + used + len, "|", 2);
	}
	return ++g->n == (size_t)g->stop_at;
}

/* json-c's verdict on the same text: strict, and nothing after it. */
static int
json_c_accepts(const char *text)
{
	struct json_tokener	*tok = json_tokener_new_ex(JSON_PICK_DEPTH + 1);
	struct json_object	*o;
	int			 ok;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == strlen(text) &&
	    json_object_is_type(o, json_type_object);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* The grammar: each text accepted or refused, with "a.b" picked. */
static void
test_grammar(void **state)
{
	static const struct {
		int		 line;
		const char	*text;
		int		 ok;
		const char	*picked;	/* strings at "a", '|'-joined */
	} rows[] = {
		{ __LINE__, "{}", 1, "" },
		{ __LINE__, " {\n\t\"a\" : \"x\" } \r\n", 1, "x|" },
		{ __LINE__, "{\"a\":\"\"}", 1, "|" },
		{ __LINE__, "{\"n\":1,\"b\":[true,false,null,-0,0.5,1e9,2E-3,"
		    "-1.0e+2],\"c\":{\"d\":[]}}", 1, "" },
		{ __LINE__, "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 1,
		    "\"\\/\b\f\n\r\t|" },
		{ __LINE__, "{\"a\":\"\\u00e9\\u20AC\"}", 1,
		    "\xc3\xa9\xe2\x82\xac|" },
		{ __LINE__, "{\"a\":\"\\ud83d\\ude00\"}", 1, "\xf0\x9f\x98\x80|" },
		{ __LINE__, "{\"a\":\"\\u0000z\"}", 1, "" },	/* checked below */
		{ __LINE__, "{\"a\":\"\xc3\xa9\"}", 1, "\xc3\xa9|" },
		/* Refused. */
		{ __LINE__, "", 0, NULL },
		{ __LINE__, "[]", 0, NULL },
		{ __LINE__, "\"a\"", 0, NULL },
		{ __LINE__, "{", 0, NULL },
		{ __LINE__, "{\"a\":}", 0, NULL },
		{ __LINE__, "{\"a\":1,}", 0, NULL },
		{ __LINE__, "{,}", 0, NULL },
		{ __LINE__, "{\"a\" 1}", 0, NULL },
		{ __LINE__, "{a:1}", 0, NULL },
		{ __LINE__, "{'a':1}", 0, NULL },
		{ __LINE__, "{\"a\":[1,]}", 0, NULL },
		{ __LINE__, "{\"a\":[,1]}", 0, NULL },
		{ __LINE__, "{\"a\":01}", 0, NULL },
		{ __LINE__, "{\"a\":1.}", 0, NULL },
		{ __LINE__, "{\"a\":.5}", 0, NULL },
		{ __LINE__, "{\"a\":1e}", 0, NULL },
		{ __LINE__, "{\"a\":-}", 0, NULL },
		{ __LINE__, "{\"a\":+1}", 0, NULL },
		{ __LINE__, "{\"a\":tru}", 0, NULL },
		{ __LINE__, "{\"a\":nul}", 0, NULL },
		{ __LINE__, "{\"a\":True}", 0, NULL },
		{ __LINE__, "{\"a\":\"x}", 0, NULL },
		{ __LINE__, "{\"a\":\"\x01\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\x\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\u12\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\u12g4\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\ud83d\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\ud83dx\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\ude00\"}", 0, NULL },
		{ __LINE__, "{\"a\":\"\\ud83d\\u0041\"}", 0, NULL },
		{ __LINE__, "{} {}", 0, NULL },
		{ __LINE__, "{}x", 0, NULL },
		/* A picked string must be a string. */
		{ __LINE__, "{\"a\":1}", 0, NULL },
		{ __LINE__, "{\"a\":{}}", 0, NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct got		 g = { "", 0, 0 };
		struct json_pick	 p = { .path = "a", .kind = JSON_STRING,
					    .string = collect, .ctx = &g };
		char			 err[128] = "";
		enum json_pick_result	 r;

		r = json_pick(rows[i].text, strlen(rows[i].text), &p, 1, err,
		    sizeof(err));
		if ((r == JSON_PICK_OK) != rows[i].ok)
			ROW_FAIL(rows[i].line, "result %d (%s)", r, err);
		if (r == JSON_PICK_OK && rows[i].picked[0] != '\0' &&
		    strcmp(g.all, rows[i].picked) != 0)
			ROW_FAIL(rows[i].line, "picked '%s'", g.all);
		if (r != JSON_PICK_OK && strstr(err, "JSON: ") != err)
			ROW_FAIL(rows[i].line, "err '%s'", err);
		/* Where the kinds allow, json-c agrees on the verdict. */
		if (rows[i].ok && !json_c_accepts(rows[i].text))
			ROW_FAIL(rows[i].line, "json-c refuses what we accept");
	}
}

/* A NUL inside a string comes through, with its length. */
static void
test_nul(void **state)
{
	struct got		 g = { "", 0, 0 };
	struct json_pick	 p = { .path = "a", .kind = JSON_STRING,
				    .string = collect, .ctx = &g };
	char			 err[128];

	(void)state;
	assert_int_equal(json_pick("{\"a\":\"\\u0000z\"}",
	    strlen("{\"a\":\"\\u0000z\"}"), &p, 1, err, sizeof(err)),
	    JSON_PICK_OK);
	assert_int_equal(g.all[0], '\0');
	assert_int_equal(g.all[1], 'z');
}

/*
 * Paths through arrays, counts at each level, the raw text of an object
 * value, and a member name whose escapes spell a path's name.
 */
static void
test_paths(void **state)
{
	static const char text[] =
	    "{\"Count\":3,\"Items\":[{\"K\":{\"S\":\"a\"}},{\"K\":{\"S\":\"b\"},"
	    "\"X\":1},{\"\\u004B\":{\"S\":\"c\"}}],\"Last\":{\"K\":{\"S\":\"c\"}},"
	    "\"Deep\":[[{\"K\":{\"S\":\"no\"}}]]}";
	struct got		 g = { "", 0, 0 };
	struct json_pick	 p[] = {
		{ .path = "Items", .kind = JSON_ARRAY },
		{ .path = "Items[]", .kind = JSON_OBJECT },
		{ .path = "Items[].K.S", .kind = JSON_STRING, .string = collect,
		    .ctx = &g },
		{ .path = "Last", .kind = JSON_OBJECT },
		{ .path = "Missing", .kind = JSON_ANY },
		{ .path = "Count", .kind = JSON_NUMBER },
	};
	char			 err[128];

	(void)state;
	assert_int_equal(json_pick(text, sizeof(text) - 1, p, 6, err,
	    sizeof(err)), JSON_PICK_OK);
	assert_int_equal(p[0].found, 1);
	assert_int_equal(p[1].found, 3);
	assert_int_equal(p[2].found, 3);
	assert_string_equal(g.all, "a|b|c|");
	assert_int_equal(p[3].found, 1);
	assert_int_equal(p[3].rawlen, strlen("{\"K\":{\"S\":\"c\"}}"));
	assert_memory_equal(p[3].raw, "{\"K\":{\"S\":\"c\"}}", p[3].rawlen);
	assert_int_equal(p[4].found, 0);
	assert_null(p[4].raw);
	assert_int_equal(p[5].rawlen, 1);
	assert_int_equal(p[5].raw[0], '3');
}

/* A callback that stops the walk; nesting past the limit; long names. */
static void
test_limits(void **state)
{
	char			 deep[2 * JSON_PICK_DEPTH + 16], err[128];
	char			 longname[600];
	struct got		 g = { "", 0, 2 };
	struct json_pick	 p = { .path = "a[]", .kind = JSON_STRING,
				    .string = collect, .ctx = &g };
	size_t			 i, n = 0;

	(void)state;
	assert_int_equal(json_pick("{\"a\":[\"x\",\"y\",\"z\"]}", 19, &p, 1,
	    err, sizeof(err)), JSON_PICK_STOPPED);
	assert_string_equal(g.all, "x|y|");
	/* JSON_PICK_DEPTH levels are fine, one more is not. */
	for (i = 0; i < 2; i++) {
		size_t	 levels = JSON_PICK_DEPTH + i, k;

		n = 0;
		deep[n++] = '{';
		deep[n++] = '"';
		deep[n++] = 'a';
		deep[n++] = '"';
		deep[n++] = ':';
		for (k = 1; k < levels; k++)
			deep[n++] = '[';
		deep[n++] = '1';
		for (k = 1; k < levels; k++)
			deep[n++] = ']';
		deep[n++] = '}';
		assert_int_equal(json_pick(deep, n, NULL, 0, err, sizeof(err)),
		    i == 0 ? JSON_PICK_OK : JSON_PICK_BAD);
	}
	/* A name too long to match any path is still checked, and passed. */
	n = (size_t)snprintf(longname, sizeof(longname), "{\"");
	memset(longname + n, 'n', 400);
	n += 400;
	n += (size_t)snprintf(longname + n, sizeof(longname) - n,
	    "\":1,\"a\":[\"ok\"]}");
	g = (struct got){ "", 0, 0 };
	assert_int_equal(json_pick(longname, n, &p, 1, err, sizeof(err)),
	    JSON_PICK_OK);
	assert_string_equal(g.all, "ok|");
	longname[10] = '\x02';
	assert_int_equal(json_pick(longname, n, &p, 1, err, sizeof(err)),
	    JSON_PICK_BAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
