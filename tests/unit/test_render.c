/*
 * The JSON bodies: byte for byte what render.c writes, and that a strict
 * parser reads back the very bytes that went in.
 */
#include "unit.h"

#include <json-c/json.h>

#include "render.h"

#define DETAILS(id) "{\"connected\":\"true\",\"instance-id\":\"" id "\"}\n"
#define ITEM(name) "{\"CandidateName\":\"" name "\"}"

/*
 * The escaping is json-c's: '"', '\' and U+0000-U+001F are escaped, '/' is
 * not, and every other byte passes through as it is. json-c does not check
 * UTF-8, so valid UTF-8 in is valid UTF-8 out and invalid stays invalid:
 * names are validated before they are stored, a listing drops invalid ones
 * (handler.c), and the rows with valid 0 show why those checks matter.
 */
static const struct row {
	int		 line;
	const char	*in;
	size_t		 len;
	const char	*out;		/* the JSON string literal */
	int		 valid;		/* a strict UTF-8 parser reads it back */
} rows[] = {
	/*
	 * A name, then "", then a longer one, on one scratch: json-c 0.16
	 * leaks there (render.c), which LeakSanitizer reports.
	 */
	{ __LINE__, "i-0abc123", 9, "i-0abc123", 1 },
	{ __LINE__, "", 0, "", 1 },
	{ __LINE__, "ip-10-0-1-2.ec2.internal", 24,
	  "ip-10-0-1-2.ec2.internal", 1 },
	{ __LINE__, "a\"b", 3, "a\\\"b", 1 },
	{ __LINE__, "a\\b", 3, "a\\\\b", 1 },
	{ __LINE__, "\"\\\"", 3, "\\\"\\\\\\\"", 1 },
	{ __LINE__, "a/b", 3, "a/b", 1 },		/* never "\/" */
	{ __LINE__, "\n\r\t\b\f", 5, "\\n\\r\\t\\b\\f", 1 },
	{ __LINE__, "\x01\x1f", 2, "\\u0001\\u001f", 1 },
	{ __LINE__, "\x7f", 1, "\x7f", 1 },		/* DEL needs none */
	{ __LINE__, "<>&'", 4, "<>&'", 1 },
	{ __LINE__, "h\xc3\xb4te", 5, "h\xc3\xb4te", 1 },
	{ __LINE__, "\xe4\xb8\xad", 3, "\xe4\xb8\xad", 1 },
	{ __LINE__, "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 1 },
	{ __LINE__, "\xe2\x80\xa8", 3, "\xe2\x80\xa8", 1 },	/* U+2028 */
	{ __LINE__, "\xc2\x80", 2, "\xc2\x80", 1 },		/* C1 */
	{ __LINE__, "\xff", 1, "\xff", 0 },
	{ __LINE__, "\xc0\xaf", 2, "\xc0\xaf", 0 },		/* overlong */
	{ __LINE__, "a\xed\xa0\x80", 4, "a\xed\xa0\x80", 0 },	/* surrogate */
};

/* RFC 3629 UTF-8: no overlong form, no surrogate, nothing past U+10FFFF. */
static int
utf8_ok(const unsigned char *s, size_t len)
{
	size_t		 i = 0, n, k;
	unsigned char	 lo, hi;

	while (i < len) {
		lo = 0x80, hi = 0xbf;
		if (s[i] < 0x80)
			n = 0;
		else if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 1;
		else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 2;
			if (s[i] == 0xe0)
				lo = 0xa0;
			else if (s[i] == 0xed)
				hi = 0x9f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3;
			if (s[i] == 0xf0)
				lo = 0x90;
			else if (s[i] == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++, lo = 0x80, hi = 0xbf)
			if (s[i + k] < lo || s[i + k] > hi)
				return 0;
		i += n + 1;
	}
	return 1;
}

/* Parses all of json as strict JSON; NULL when it is not. */
static struct json_object *
parse_strict(const char *json, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o != NULL && json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/*
 * Checks body against want, that a strict parser reads key's value back
 * as the bytes that went in, and that the body is UTF-8 just when valid.
 */
static void
check(int line, const struct buf *b, const char *want, const char *key,
    const char *in, size_t inlen, int valid)
{
	struct json_object	*o, *v;
	int			 same;

	if (b->data == NULL || b->len != strlen(want) ||
	    memcmp(b->data, want, b->len) != 0)
		ROW_FAIL(line, "got '%s', want '%s'", b->data, want);
	if (utf8_ok((const unsigned char *)b->data, b->len) != valid)
		ROW_FAIL(line, "the body is %svalid UTF-8", valid ? "in" : "");
	if ((o = parse_strict(b->data, b->len)) == NULL)
		ROW_FAIL(line, "the body is not JSON: '%s'", b->data);
	same = json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) == inlen &&
	    memcmp(json_object_get_string(v), in, inlen) == 0;
	json_object_put(o);
	if (!same)
		ROW_FAIL(line, "%s does not read back as it went in", key);
}

/*
 * The two one-member objects, each rendered from a C string (an instance
 * id, an error message): no row with a NUL reaches them.
 */
static const struct pair {
	const char	*what;
	int		(*render)(struct buf *, const char *);
	const char	*key;
	const char	*open;		/* the body before the value */
} pairs[] = {
	{ "render_details", render_details, "instance-id",
	    "{\"connected\":\"true\",\"instance-id\":\"" },
	{ "render_error", render_error, "error", "{\"error\":\"" },
};

static void
test_pairs(void **state)
{
	struct buf	 b;
	char		 want[128], in[64];
	size_t		 i, k;

	(void)state;
	for (k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		const struct pair *p = &pairs[k];

		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct row *r = &rows[i];

			memcpy(in, r->in, r->len);
			in[r->len] = '\0';
			snprintf(want, sizeof(want), "%s%s\"}\n", p->open,
			    r->out);
			buf_init(&b, 1024);
			if (p->render(&b, in) == -1)
				ROW_FAIL(r->line, "%s failed", p->what);
			check(r->line, &b, want, p->key, r->in, r->len,
			    r->valid);
			buf_free(&b);
		}
	}
}

/*
 * One scratch object for every row, as a listing uses it: each name is
 * rendered on its own, nothing of the one before stays behind.
 */
static void
test_candidate(void **state)
{
	static const struct row nul[] = {
		/* Lengths, not NULs, end a name: a NUL is escaped. */
		{ __LINE__, "a\0b", 3, "a\\u0000b", 1 },
		{ __LINE__, "\0", 1, "\\u0000", 1 },
	};
	struct json_object	*scratch;
	struct buf		 b;
	char			 want[128];
	size_t			 i, n = sizeof(rows) / sizeof(rows[0]);

	(void)state;
	assert_non_null(scratch = render_scratch());
	for (i = 0; i < n + 2; i++) {
		const struct row *r = i < n ? &rows[i] : &nul[i - n];

		snprintf(want, sizeof(want), ITEM("%s"), r->out);
		buf_init(&b, 1024);
		if (render_candidate(&b, scratch, r->in, r->len, '\0') == -1)
			ROW_FAIL(r->line, "render_candidate failed");
		check(r->line, &b, want, "CandidateName", r->in, r->len,
		    r->valid);
		buf_free(&b);
	}
	render_scratch_free(scratch);
}

/* The longest name: 255 bytes, each escaped as six. */
static void
test_candidate_longest(void **state)
{
	struct json_object	*scratch;
	struct buf		 b;
	char			 name[255], want[32 + 6 * 255];
	size_t			 i, n;

	(void)state;
	memset(name, 0x01, sizeof(name));
	n = (size_t)snprintf(want, sizeof(want), "{\"CandidateName\":\"");
	for (i = 0; i < sizeof(name); i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "\\u0001");
	snprintf(want + n, sizeof(want) - n, "\"}");
	assert_non_null(scratch = render_scratch());
	buf_init(&b, 4096);
	assert_int_equal(render_candidate(&b, scratch, name, sizeof(name),
	    '\0'), 0);
	check(__LINE__, &b, want, "CandidateName", name, sizeof(name), 1);
	buf_free(&b);
	render_scratch_free(scratch);
}

/* Rendering appends to what the buffer holds, as a listing needs. */
static void
test_append(void **state)
{
	static const char	 want[] = "[" ITEM("a") "," ITEM("b\\\"") "]";
	struct json_object	*scratch;
	struct buf		 b;

	(void)state;
	assert_non_null(scratch = render_scratch());
	buf_init(&b, 1024);
	assert_int_equal(render_candidate(&b, scratch, "a", 1, '['), 0);
	assert_int_equal(render_candidate(&b, scratch, "b\"", 2, ','), 0);
	assert_int_equal(buf_add(&b, "]", 1), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
	render_scratch_free(scratch);
}

/*
 * Plain names are copied, not given to json-c: for every byte alone and
 * between others, the copy is what json-c writes, byte for byte. The two
 * paths must never disagree, or one name would list two ways.
 */
static void
test_same_as_json_c(void **state)
{
	struct json_object	*scratch, *o;
	struct buf		 b;
	char			 in[4], want[64];
	int			 c, shape;

	(void)state;
	assert_non_null(scratch = render_scratch());
	for (shape = 0; shape < 3; shape++)
		for (c = 0; c < 256; c++) {
			size_t	 n = 0;

			if (shape > 0)
				in[n++] = 'a';
			in[n++] = (char)c;
			if (shape > 1)
				in[n++] = 'z';
			assert_non_null(o = json_object_new_string_len(in,
			    (int)n));
			snprintf(want, sizeof(want), ",{\"CandidateName\":%s}",
			    json_object_to_json_string_ext(o,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(o);
			buf_init(&b, 1024);
			assert_int_equal(render_candidate(&b, scratch, in, n, ','),
			    0);
			if (b.len != strlen(want) ||
			    memcmp(b.data, want, b.len) != 0)
				fail_msg("byte 0x%02x, shape %d: '%s', json-c '%s'",
				    c, shape, b.data, want);
			buf_free(&b);
		}
	render_scratch_free(scratch);
}

/*
 * A body that does not fit under the buffer's ceiling fails and leaves the
 * buffer empty (buf.h); one that just fits succeeds.
 */
static void
test_ceiling(void **state)
{
	static const struct {
		int	 line;
		int	 what;		/* 0 candidate, 1 details, 2 error */
		size_t	 max;
		int	 rc;
	} rows_max[] = {
		{ __LINE__, 0, sizeof(ITEM("ab")) - 1, 0 },
		{ __LINE__, 0, sizeof(ITEM("ab")) - 2, -1 },
		{ __LINE__, 0, 1, -1 },
		{ __LINE__, 1, sizeof(DETAILS("ab")) - 1, 0 },
		{ __LINE__, 1, sizeof(DETAILS("ab")) - 2, -1 },
		{ __LINE__, 2, sizeof("{\"error\":\"ab\"}\n") - 1, 0 },
		{ __LINE__, 2, sizeof("{\"error\":\"ab\"}\n") - 2, -1 },
	};
	struct json_object	*scratch;
	struct buf		 b;
	size_t			 i;
	int			 rc;

	(void)state;
	assert_non_null(scratch = render_scratch());
	for (i = 0; i < sizeof(rows_max) / sizeof(rows_max[0]); i++) {
		buf_init(&b, rows_max[i].max);
		if (rows_max[i].what == 0)
			rc = render_candidate(&b, scratch, "ab", 2, '\0');
		else if (rows_max[i].what == 1)
			rc = render_details(&b, "ab");
		else
			rc = render_error(&b, "ab");
		if (rc != rows_max[i].rc)
			ROW_FAIL(rows_max[i].line, "returned %d", rc);
		if (rc == -1 && (b.data != NULL || b.len != 0))
			ROW_FAIL(rows_max[i].line, "left %zu bytes", b.len);
		if (rc == 0 && b.len != rows_max[i].max)
			ROW_FAIL(rows_max[i].line, "wrote %zu bytes", b.len);
		buf_free(&b);
	}
	render_scratch_free(scratch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_candidate),
		cmocka_unit_test(test_candidate_longest),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_same_as_json_c),
		cmocka_unit_test(test_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
