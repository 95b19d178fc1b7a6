/*
 * json_wire: the strict parse every cloud store's answers go through
 * (whole text, one value of the wanted type, valid UTF-8, bounded depth),
 * a put that never leaks what it is handed, an emit that writes compactly,
 * and a copy that always fits.
 */
#include "unit.h"

#include "cloud/json_wire.h"

static void
test_parse(void **state)
{
	static const struct {
		int		 line;
		const char	*text;
		enum json_type	 want;
		const char	*err;	/* NULL: accepted */
	} rows[] = {
		{ __LINE__, "{\"a\":\"b\"}", json_type_object, NULL },
		{ __LINE__, "[{\"a\":1}]", json_type_array, NULL },
		{ __LINE__, "", json_type_object, "no answer body" },
		{ __LINE__, "[]", json_type_object,
		    "answer is not a JSON object (wrong type" },
		{ __LINE__, "{}", json_type_array,
		    "answer is not a JSON array (wrong type" },
		{ __LINE__, "{} {}", json_type_object,
		    "answer is not a JSON object" },
		{ __LINE__, "{\"a\":1", json_type_object,
		    "answer is not a JSON object" },
		/*
		 * No row for '-quoted strings: json-c 0.16 takes them even
		 * when strict. No cloud writes them, and json_pick, which
		 * reads the listings' pages, refuses them.
		 */
		{ __LINE__, "{\"a\":\"\xff\"}", json_type_object,
		    "answer is not a JSON object" },
		{ __LINE__, "{\"a\":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}",
		    json_type_object, "answer is not a JSON object" },
		{ __LINE__, "{\"a\":[[[[[[[[[[[[[[]]]]]]]]]]]]]]}",
		    json_type_object, NULL },
	};
	char			 err[128];
	struct json_object	*o;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err[0] = '\0';
		o = json_wire_parse(rows[i].text, strlen(rows[i].text),
		    rows[i].want, err, sizeof(err));
		if (rows[i].err == NULL && (o == NULL ||
		    !json_object_is_type(o, rows[i].want)))
			ROW_FAIL(rows[i].line, "refused: %s", err);
		if (rows[i].err != NULL && (o != NULL ||
		    strncmp(err, rows[i].err, strlen(rows[i].err)) != 0))
			ROW_FAIL(rows[i].line, "got %s, want %s",
			    o != NULL ? "a value" : err, rows[i].err);
		json_object_put(o);
	}
	/* A NUL inside the text is not the end of it. */
	o = json_wire_parse("{}\0{}", 5, json_type_object, err, sizeof(err));
	assert_null(o);
	o = json_wire_parse(NULL, 0, json_type_object, err, sizeof(err));
	assert_null(o);
	assert_string_equal(err, "no answer body");
}

/* put and emit: what a request body is built with, failures included. */
static void
test_put_emit(void **state)
{
	struct json_object	*o;
	struct buf		 b;

	(void)state;
	buf_init(&b, 64);
	assert_non_null(o = json_object_new_object());
	assert_int_equal(json_wire_put(o, "id",
	    json_object_new_string("a/b\"c")), 0);
	assert_int_equal(json_wire_put(o, "n", json_object_new_int(1)), 0);
	/* A value that could not be made, or no object: -1, nothing leaked. */
	assert_int_equal(json_wire_put(o, "x", NULL), -1);
	assert_int_equal(json_wire_put(NULL, "x",
	    json_object_new_string("leaks unless released")), -1);
	assert_int_equal(json_wire_emit(&b, o), 0);
	assert_int_equal(b.len, strlen("{\"id\":\"a/b\\\"c\",\"n\":1}"));
	assert_memory_equal(b.data, "{\"id\":\"a/b\\\"c\",\"n\":1}", b.len);
	assert_int_equal(json_wire_emit(&b, NULL), -1);
	/* Past the buffer's cap: -1, and the object is still released. */
	assert_non_null(o = json_object_new_object());
	assert_int_equal(json_wire_put(o, "long", json_object_new_string(
	    "0123456789012345678901234567890123456789012345678901234")), 0);
	assert_int_equal(json_wire_emit(&b, o), -1);
	buf_free(&b);
}

static void
test_copy(void **state)
{
	char	 dst[4];

	(void)state;
	memset(dst, 'x', sizeof(dst));
	json_wire_copy(dst, sizeof(dst), "ab", 2);
	assert_string_equal(dst, "ab");
	json_wire_copy(dst, sizeof(dst), "abcdef", 6);
	assert_string_equal(dst, "abc");
	json_wire_copy(dst, sizeof(dst), "", 0);
	assert_string_equal(dst, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_put_emit),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
