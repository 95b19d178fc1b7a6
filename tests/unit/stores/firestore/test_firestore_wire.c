/*
 * Firestore's wire format: ids checked, page tokens encoded so that every
 * byte survives (exhaustively over single bytes), the get's and the put's
 * bodies (the name read back byte for byte), answers (the emulator's own,
 * and garbage that must never pass for one), and the verdict on each kind
 * of error.
 */
#include "unit.h"

#include <stdlib.h>

#include <json-c/json.h>

#include "stores/firestore/firestore_wire.h"

static void
test_check_ids(void **state)
{
	static const struct {
		int		 line;
		int		 database;	/* else a project */
		const char	*id;
		int		 rc;
	} rows[] = {
		{ __LINE__, 0, "demo-candidates", 0 },
		{ __LINE__, 0, "abcdef", 0 },
		{ __LINE__, 0, "a23456789012345678901234567890", 0 },
		{ __LINE__, 0, "a2345678901234567890123456789-1", -1 },
		{ __LINE__, 0, "abcde", -1 },
		{ __LINE__, 0, "", -1 },
		{ __LINE__, 0, "1abcdef", -1 },
		{ __LINE__, 0, "-abcdef", -1 },
		{ __LINE__, 0, "abcdef-", -1 },
		{ __LINE__, 0, "Abcdef", -1 },
		{ __LINE__, 0, "abc_def", -1 },
		{ __LINE__, 0, "abc def", -1 },
		{ __LINE__, 0, "abc.def", -1 },
		{ __LINE__, 0, "example.com:proj", -1 },
		{ __LINE__, 0, "abc/def", -1 },
		{ __LINE__, 0, "abc\xc3\xa9" "def", -1 },
		{ __LINE__, 1, "(default)", 0 },
		{ __LINE__, 1, "cand", 0 },
		{ __LINE__, 1, "candidates-db-2", 0 },
		{ __LINE__, 1, "a234567890234567890234567890234567890234"
		    "56789023456789023456789", 0 },
		{ __LINE__, 1, "a234567890234567890234567890234567890234"
		    "567890234567890234567890", -1 },
		{ __LINE__, 1, "abc", -1 },
		{ __LINE__, 1, "(Default)", -1 },
		{ __LINE__, 1, "(default", -1 },
		{ __LINE__, 1, "1abc", -1 },
		{ __LINE__, 1, "abc-", -1 },
		{ __LINE__, 1, "ab_c", -1 },
		{ __LINE__, 1, "ABCD", -1 },
		{ __LINE__, 1, "abcdef01-2345-6789-abcd-ef0123456789", -1 },
		{ __LINE__, 1, "abcdef01-2345-6789-abcd-ef012345678g", 0 },
		{ __LINE__, 1, "abcdef01-2345-6789-abcd-ef01234567890", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 err[128] = "";
		int	 rc;

		rc = rows[i].database ? firestore_check_database(rows[i].id,
		    strlen(rows[i].id), err, sizeof(err)) :
		    firestore_check_project(rows[i].id, strlen(rows[i].id), err,
		    sizeof(err));
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (rc == -1 && strstr(err, rows[i].database ? "database id" :
		    "project id") == NULL)
			ROW_FAIL(rows[i].line, "err '%s' names no rule", err);
	}
	/* The length decides, not a NUL. */
	{
		char	 err[128];

		assert_int_equal(firestore_check_project("abcdef\0gh", 9, err,
		    sizeof(err)), -1);
		assert_int_equal(firestore_check_database("(default)\0", 10,
		    err, sizeof(err)), -1);
	}
}

static int
unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ?
	    c - 'A' + 10 : -1;
}

/*
 * Decodes a percent-encoded token, insisting on the encoder's own form:
 * only unreserved bytes raw, every %XX in capitals. -1 otherwise.
 */
static int
decode_strict(const char *s, size_t n, char *out, size_t *outlen)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || unhex(s[i + 1]) < 0 ||
			    unhex(s[i + 2]) < 0)
				return -1;
			c = (unsigned char)(unhex(s[i + 1]) << 4 |
			    unhex(s[i + 2]));
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~')
				return -1;	/* encoded, needlessly */
			out[o++] = (char)c;
			i += 2;
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			out[o++] = (char)c;
		else
			return -1;
	}
	*outlen = o;
	return 0;
}

#define DB	"projects/demo-candidates/databases/(default)"
#define COLL	DB "/documents/candidates"

static void
test_paths(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(firestore_database_path(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB), 0);
	assert_string_equal(b.data, DB);
	buf_reset(&b);
	assert_int_equal(firestore_collection_path(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB), 0);
	assert_string_equal(b.data, COLL);
	buf_reset(&b);
	assert_int_equal(firestore_collection_path(&b, "p-123456", "db-two"),
	    0);
	assert_string_equal(b.data,
	    "projects/p-123456/databases/db-two/documents/candidates");
	buf_free(&b);
	/* A ceiling too low fails rather than truncates. */
	buf_init(&b, 20);
	assert_int_equal(firestore_collection_path(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB), -1);
	assert_null(b.data);
}

/* Every byte in a page token, alone and in a long run: encoded once. */
static void
test_token_exhaustive(void **state)
{
	char		 tok[255], back[255];
	struct buf	 b;
	size_t		 backlen, plen = strlen("pageSize=300&pageToken=");
	int		 c;

	(void)state;
	buf_init(&b, 4096);
	for (c = 0; c < 256; c++) {
		size_t	 n;

		for (n = 1; n <= 255; n += 254) {
			memset(tok, c, n);
			buf_reset(&b);
			assert_int_equal(firestore_list_query(&b, 300, tok, n),
			    0);
			if (decode_strict(b.data + plen, b.len - plen, back,
			    &backlen) != 0 || backlen != n ||
			    memcmp(back, tok, n) != 0)
				fail_msg("byte 0x%02x x %zu: %s", c, n, b.data);
		}
	}
	buf_free(&b);
}

/*
 * What json-c reads back from a request body: the document's full name
 * and, for a commit, the CandidateName field's value; each malloc'd, or
 * NULL when the body is not exactly of the call's shape.
 */
struct body {
	char	*doc, *field;
	size_t	 doclen, fieldlen;
};

static char *
copy_str(struct json_object *s, size_t *len)
{
	char	*p;

	if (!json_object_is_type(s, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(s);
	if ((p = malloc(*len + 1)) != NULL)
		memcpy(p, json_object_get_string(s), *len + 1);
	return p;
}

/* The one value of a one-key object o, if its key is key. */
static struct json_object *
only(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 1 ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static void
read_commit(const char *text, struct body *out)
{
	struct json_object	*o, *w, *u, *n, *f;

	memset(out, 0, sizeof(*out));
	if ((o = json_tokener_parse(text)) == NULL)
		return;
	w = only(o, "writes");
	if (json_object_is_type(w, json_type_array) &&
	    json_object_array_length(w) == 1 &&
	    (u = only(json_object_array_get_idx(w, 0), "update")) != NULL &&
	    json_object_object_length(u) == 2 &&
	    json_object_object_get_ex(u, "name", &n) &&
	    json_object_object_get_ex(u, "fields", &f) &&
	    (f = only(only(f, FIRESTORE_FIELD), "stringValue")) != NULL) {
		out->doc = copy_str(n, &out->doclen);
		out->field = copy_str(f, &out->fieldlen);
	}
	json_object_put(o);
}

static void
read_batchget(const char *text, struct body *out)
{
	struct json_object	*o, *d, *m, *p;

	memset(out, 0, sizeof(*out));
	if ((o = json_tokener_parse(text)) == NULL)
		return;
	if (json_object_object_length(o) == 2 &&
	    json_object_object_get_ex(o, "documents", &d) &&
	    json_object_is_type(d, json_type_array) &&
	    json_object_array_length(d) == 1 &&
	    json_object_object_get_ex(o, "mask", &m) &&
	    (p = only(m, "fieldPaths")) != NULL &&
	    json_object_is_type(p, json_type_array) &&
	    json_object_array_length(p) == 1 &&
	    strcmp(json_object_get_string(json_object_array_get_idx(p, 0)),
	    FIRESTORE_FIELD) == 0)
		out->doc = copy_str(json_object_array_get_idx(d, 0),
		    &out->doclen);
	json_object_put(o);
}

static void
test_bodies(void **state)
{
	static const struct {
		int		 line;
		const char	*name;
		size_t		 len;
	} rows[] = {
		{ __LINE__, "alice", 0 },
		{ __LINE__, " padded ", 0 },
		{ __LINE__, "%25 per%cent %2F", 0 },
		{ __LINE__, "\"quoted\" \\ back", 0 },
		{ __LINE__, "sl/ash</script>", 0 },
		{ __LINE__, "\xf0\x9f\x98\x80 \xc3\xa9", 0 },
		{ __LINE__, "nul\0inside", 10 },
		{ __LINE__, "\x01\x1f\x7f", 0 },
		{ __LINE__, "\xe2\x80\xa8 line separator", 0 },
	};
	char		 want[512];
	struct buf	 b;
	struct body	 got;
	size_t		 i, plen = strlen(COLL "/");

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(firestore_commit_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "a\"b/c", 5), 0);
	assert_string_equal(b.data, "{\"writes\":[{\"update\":{\"name\":\""
	    COLL "/a\\\"b/c\",\"fields\":{\"CandidateName\":{\"stringValue\":"
	    "\"a\\\"b/c\"}}}}]}");
	buf_reset(&b);
	assert_int_equal(firestore_batchget_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "a b", 3), 0);
	assert_string_equal(b.data, "{\"documents\":[\"" COLL "/a b\"],"
	    "\"mask\":{\"fieldPaths\":[\"CandidateName\"]}}");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t	 len = rows[i].len ? rows[i].len :
		    strlen(rows[i].name);

		memcpy(want, COLL "/", plen);
		memcpy(want + plen, rows[i].name, len);
		buf_reset(&b);
		if (firestore_commit_body(&b, "demo-candidates",
		    FIRESTORE_DEFAULT_DB, rows[i].name, len) != 0)
			ROW_FAIL(rows[i].line, "commit failed");
		read_commit(b.data, &got);
		if (got.doc == NULL || got.doclen != plen + len ||
		    memcmp(got.doc, want, plen + len) != 0 ||
		    got.field == NULL || got.fieldlen != len ||
		    memcmp(got.field, rows[i].name, len) != 0)
			ROW_FAIL(rows[i].line, "commit lost the name: %s",
			    b.data);
		if (memchr(b.data, '\n', b.len) != NULL)
			ROW_FAIL(rows[i].line, "raw newline in %s", b.data);
		free(got.doc);
		free(got.field);
		buf_reset(&b);
		if (firestore_batchget_body(&b, "demo-candidates",
		    FIRESTORE_DEFAULT_DB, rows[i].name, len) != 0)
			ROW_FAIL(rows[i].line, "batchGet failed");
		read_batchget(b.data, &got);
		if (got.doc == NULL || got.doclen != plen + len ||
		    memcmp(got.doc, want, plen + len) != 0)
			ROW_FAIL(rows[i].line, "batchGet lost the name: %s",
			    b.data);
		free(got.doc);
	}
	/* An empty name is no document. */
	buf_reset(&b);
	assert_int_equal(firestore_commit_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "", 0), -1);
	assert_int_equal(firestore_batchget_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "", 0), -1);
	buf_free(&b);
	/* A ceiling too low fails rather than truncates. */
	buf_init(&b, 60);
	assert_int_equal(firestore_commit_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "abc", 3), -1);
	assert_null(b.data);
	assert_int_equal(firestore_batchget_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, "abc", 3), -1);
	assert_null(b.data);
}

static void
test_list_query(void **state)
{
	static const struct {
		int		 line;
		unsigned	 size;
		const char	*token;
		int		 rc;
		const char	*want;
	} rows[] = {
		{ __LINE__, 300, NULL, 0, "pageSize=300" },
		{ __LINE__, 7, "Cj5wcm9q+ZWN0/cy9k==", 0,
		    "pageSize=7&pageToken=Cj5wcm9q%2BZWN0%2Fcy9k%3D%3D" },
		{ __LINE__, 1, "a&b c", 0, "pageSize=1&pageToken=a%26b%20c" },
		{ __LINE__, 0, NULL, -1, "" },
		{ __LINE__, 300, "", -1, "" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 b;
		int		 rc;

		buf_init(&b, 4096);
		rc = firestore_list_query(&b, rows[i].size, rows[i].token,
		    rows[i].token != NULL ? strlen(rows[i].token) : 0);
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d", rc);
		if (rc == 0 && strcmp(b.data, rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "got %s", b.data);
		buf_free(&b);
	}
}

/* A document as the emulator writes one, and its answers around it. */
#define DOC(id) "{\n    \"name\": \"" COLL "/" id "\",\n    \"fields\": {\n" \
	"      \"CandidateName\": {\n        \"stringValue\": \"x\"\n      }\n" \
	"    },\n    \"createTime\": \"2026-12-04T18:25:01.427059Z\",\n" \
	"    \"updateTime\": \"2026-12-04T18:25:01.427059Z\"\n  }"
#define FOUND(id) "[ {\n  \"found\": " DOC(id) ",\n  \"readTime\": " \
	"\"2026-12-04T18:25:01.568929Z\"\n} ]\n"
#define MISSING(id) "[ {\n  \"missing\": \"" COLL "/" id "\",\n  " \
	"\"readTime\": \"2026-12-04T18:25:01.864347Z\"\n} ]\n"

static void
test_parse_batchget(void **state)
{
	static const struct {
		int			 line;
		const char		*body, *name;
		enum firestore_parse	 want;
		int			 found;
	} rows[] = {
		{ __LINE__, FOUND(" padded "), " padded ", FIRESTORE_PARSED, 1 },
		{ __LINE__, FOUND("%25"), "%25", FIRESTORE_PARSED, 1 },
		{ __LINE__, FOUND("\\\"q\\\"\\\\"), "\"q\"\\", FIRESTORE_PARSED,
		    1 },
		{ __LINE__, FOUND("\\u00e9t\\u00e9"), "\xc3\xa9t\xc3\xa9",
		    FIRESTORE_PARSED, 1 },
		{ __LINE__, MISSING("nobody"), "nobody", FIRESTORE_PARSED, 0 },
		{ __LINE__, MISSING("a b"), "a b", FIRESTORE_PARSED, 0 },
		{ __LINE__, "[{\"found\":{\"name\":\"projects/p/databases/d/"
		    "documents/candidates/x\"}}]", "x", FIRESTORE_PARSED, 1 },
		/* Not the document asked for, or not one of the collection. */
		{ __LINE__, FOUND("a b"), "a", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, MISSING("a"), "a b", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, FOUND("%2525"), "%25", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, FOUND("x/sub/y"), "y", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, MISSING("x/sub/y"), "y", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, FOUND(""), "", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"found\":{\"name\":\"projects/p/databases/d/"
		    "documents/others/x\"}}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"missing\":\"candidates/x\"}]", "x",
		    FIRESTORE_GARBAGE, 0 },
		/* Not one result holding exactly one of found and missing. */
		{ __LINE__, "[]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"readTime\":\"2026-12-04T18:25:01Z\"}]", "x",
		    FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"found\":" DOC("x") ",\"missing\":\"" COLL
		    "/x\"}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"missing\":\"" COLL "/x\"},{\"missing\":\"" COLL
		    "/x\"}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"found\":7}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"missing\":7}]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"found\":{\"fields\":{}}}]", "x",
		    FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[7]", "x", FIRESTORE_GARBAGE, 0 },
		/* The answer to a GET of the document: an object, not ours. */
		{ __LINE__, DOC("x"), "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "{}", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, MISSING("x") "[]", "x", FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "[{\"missing\":\"" COLL "/x\"}", "x",
		    FIRESTORE_GARBAGE, 0 },
		{ __LINE__, "<html>502</html>", "x", FIRESTORE_GARBAGE, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char			 err[128] = "";
		enum firestore_parse	 got;
		int			 found = 7;

		got = firestore_parse_batchget(rows[i].body,
		    strlen(rows[i].body), rows[i].name, strlen(rows[i].name),
		    &found, err, sizeof(err));
		if (got != rows[i].want || found != rows[i].found)
			ROW_FAIL(rows[i].line, "got %d, found %d (%s)", got,
			    found, err);
		if (got == FIRESTORE_GARBAGE && err[0] == '\0')
			ROW_FAIL(rows[i].line, "garbage without a reason");
	}
}

static void
test_parse_commit(void **state)
{
	static const struct {
		int			 line;
		const char		*body;
		enum firestore_parse	 want;
	} rows[] = {
		/* The emulator's. */
		{ __LINE__, "{\n  \"writeResults\": [{\n    \"updateTime\": "
		    "\"2026-12-04T18:25:01.427059Z\"\n  }],\n  \"commitTime\": "
		    "\"2026-12-04T18:25:01.427059Z\"\n}\n", FIRESTORE_PARSED },
		{ __LINE__, "{\"writeResults\":[{}]}", FIRESTORE_PARSED },
		{ __LINE__, "{\"writeResults\":[]}", FIRESTORE_GARBAGE },
		{ __LINE__, "{\"writeResults\":[{},{}]}", FIRESTORE_GARBAGE },
		{ __LINE__, "{\"writeResults\":[7]}", FIRESTORE_GARBAGE },
		{ __LINE__, "{\"writeResults\":{}}", FIRESTORE_GARBAGE },
		{ __LINE__, "{\"commitTime\":\"2026-12-04T18:25:01Z\"}",
		    FIRESTORE_GARBAGE },
		{ __LINE__, "[{\"writeResults\":[{}]}]", FIRESTORE_GARBAGE },
		{ __LINE__, "{\"writeResults\":[{}]} x", FIRESTORE_GARBAGE },
		{ __LINE__, "", FIRESTORE_GARBAGE },
		{ __LINE__, "Internal Server Error", FIRESTORE_GARBAGE },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char			 err[128] = "";
		enum firestore_parse	 got;

		got = firestore_parse_commit(rows[i].body, strlen(rows[i].body),
		    err, sizeof(err));
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d (%s)", got, err);
		if (got == FIRESTORE_GARBAGE && err[0] == '\0')
			ROW_FAIL(rows[i].line, "garbage without a reason");
	}
}

struct collected {
	char	 all[512];	/* names joined by '|' */
	size_t	 n, stop_at;
};

static int
collect(void *ctx, const char *name, size_t len)
{
	struct collected	*c = ctx;
	size_t			 used = strlen(c->all);

	if (c->stop_at != 0 && c->n + 1 == c->stop_at)
		return 1;
	if (used + len + 2 > sizeof(c->all))
		return 1;
	memcpy(c->all + used, name, len);
	c->all[used + len] = '|';
	c->all[used + len + 1] = '\0';
	c->n++;
	return 0;
}

#define D(id) "{\"name\":\"projects/demo-candidates/databases/(default)/" \
	"documents/candidates/" id "\",\"fields\":{\"CandidateName\":" \
	"{\"stringValue\":\"ignored\"}},\"createTime\":\"2026-12-04T17:35:06Z\"," \
	"\"updateTime\":\"2026-12-04T17:35:06Z\"}"

static void
test_parse_list(void **state)
{
	static const struct {
		int			 line;
		const char		*body;
		size_t			 stop_at;
		enum firestore_parse	 want;
		const char		*names, *next;
	} rows[] = {
		/* The emulator's last page when the one before was full. */
		{ __LINE__, "{\n}\n", 0, FIRESTORE_PARSED, "", "" },
		{ __LINE__, "{\"documents\":[]}", 0, FIRESTORE_PARSED, "", "" },
		{ __LINE__, "{\"documents\":[" D("a b") "," D("per%cent") ","
		    D("\\u00e9t\\u00e9") "," D("\\\"q\\\"") "]}", 0,
		    FIRESTORE_PARSED, "a b|per%cent|\xc3\xa9t\xc3\xa9|\"q\"|",
		    "" },
		{ __LINE__, "{\"documents\":[" D("a") "],\"nextPageToken\":"
		    "\"Cj5wcm9q+/=\"}", 0, FIRESTORE_PARSED, "a|", "Cj5wcm9q+/=" },
		/* An empty page that is not the last. */
		{ __LINE__, "{\"nextPageToken\":\"abc\"}", 0, FIRESTORE_PARSED,
		    "", "abc" },
		{ __LINE__, "{\"nextPageToken\":\"t\"}", 0, FIRESTORE_PARSED,
		    "", "t" },
		/* An empty token is none. */
		{ __LINE__, "{\"documents\":[" D("a") "],\"nextPageToken\":\"\"}",
		    0, FIRESTORE_PARSED, "a|", "" },
		/* Ids are the listing, whatever the field says or lacks. */
		{ __LINE__, "{\"documents\":[{\"name\":\"projects/p/databases/"
		    "(default)/documents/candidates/bare\"}]}", 0,
		    FIRESTORE_PARSED, "bare|", "" },
		{ __LINE__, "{\"documents\":[" D("ctl\\u0001x") "]}", 0,
		    FIRESTORE_PARSED, "ctl\x01x|", "" },
		{ __LINE__, "{\"documents\":[" D("a") "," D("b") "," D("c") "],"
		    "\"nextPageToken\":\"t\"}", 2, FIRESTORE_STOPPED, "a|", "" },
		/*
		 * Garbage, whatever was handed on before it was seen: the
		 * handler sends a listing only once it is whole.
		 */
		{ __LINE__, "{\"documents\":[" D("a") "," D("b") ",{}]}", 0,
		    FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"documents\":[" D("a") "," D("x/sub/y") "]}", 0,
		    FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"documents\":[" D("") "]}", 0, FIRESTORE_GARBAGE,
		    "", "" },
		{ __LINE__, "{\"documents\":[7]}", 0, FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"documents\":{}}", 0, FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"documents\":\"x\"}", 0, FIRESTORE_GARBAGE, "",
		    "" },
		{ __LINE__, "{\"nextPageToken\":7}", 0, FIRESTORE_GARBAGE, "",
		    "" },
		{ __LINE__, "{\"nextPageToken\":\"a b\"}", 0, FIRESTORE_GARBAGE,
		    "", "" },
		{ __LINE__, "{\"nextPageToken\":\"a\\u0000b\"}", 0,
		    FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"nextPageToken\":\"\\u00e9\"}", 0,
		    FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "{\"documents\":[" D("a") "]", 0, FIRESTORE_GARBAGE,
		    "", "" },
		{ __LINE__, "{} []", 0, FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "[]", 0, FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "", 0, FIRESTORE_GARBAGE, "", "" },
		{ __LINE__, "<html>Error 502</html>", 0, FIRESTORE_GARBAGE, "",
		    "" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct collected	 c;
		struct buf		 next;
		enum firestore_parse	 got;
		char			 err[128] = "";

		memset(&c, 0, sizeof(c));
		c.stop_at = rows[i].stop_at;
		buf_init(&next, FIRESTORE_TOKEN_MAX + 1);
		/* A token left from the page before must not survive. */
		assert_int_equal(buf_addstr(&next, "stale"), 0);
		got = firestore_parse_list(rows[i].body, strlen(rows[i].body),
		    collect, &c, &next, err, sizeof(err));
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d (%s)", got,
			    rows[i].want, err);
		if (got == FIRESTORE_PARSED && strcmp(c.all, rows[i].names) != 0)
			ROW_FAIL(rows[i].line, "names '%s'", c.all);
		if (got == FIRESTORE_STOPPED && strcmp(c.all, rows[i].names) != 0)
			ROW_FAIL(rows[i].line, "names before the stop '%s'",
			    c.all);
		if (strcmp(next.len ? next.data : "", got == FIRESTORE_PARSED ?
		    rows[i].next : "") != 0)
			ROW_FAIL(rows[i].line, "next '%s'", next.data);
		if (got != FIRESTORE_PARSED && err[0] == '\0')
			ROW_FAIL(rows[i].line, "no reason");
		buf_free(&next);
	}
	/* A token too long for its buffer, or for Google, is garbage. */
	{
		static char		 body[FIRESTORE_TOKEN_MAX + 64];
		char			 tok[FIRESTORE_TOKEN_MAX + 2], err[128];
		struct collected	 c;
		struct buf		 next;

		memset(&c, 0, sizeof(c));
		memset(tok, 'a', sizeof(tok) - 1);
		tok[sizeof(tok) - 1] = '\0';
		snprintf(body, sizeof(body), "{\"nextPageToken\":\"%s\"}", tok);
		buf_init(&next, 1 << 20);
		assert_int_equal(firestore_parse_list(body, strlen(body),
		    collect, &c, &next, err, sizeof(err)), FIRESTORE_GARBAGE);
		buf_free(&next);
		snprintf(body, sizeof(body), "{\"nextPageToken\":\"%.*s\"}",
		    FIRESTORE_TOKEN_MAX, tok);
		buf_init(&next, FIRESTORE_TOKEN_MAX + 1);
		assert_int_equal(firestore_parse_list(body, strlen(body),
		    collect, &c, &next, err, sizeof(err)), FIRESTORE_PARSED);
		assert_int_equal(next.len, FIRESTORE_TOKEN_MAX);
		buf_free(&next);
		buf_init(&next, 16);
		assert_int_equal(firestore_parse_list(body, strlen(body),
		    collect, &c, &next, err, sizeof(err)), FIRESTORE_GARBAGE);
		buf_free(&next);
	}
}

static void
test_parse_error(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		int		 google;
		long		 code;
		const char	*status, *message;
	} rows[] = {
		/* The emulator's, '/' escaped as it writes it. */
		{ __LINE__, "{\"error\":{\"code\":404,\"message\":\"Document "
		    "(projects\\/p\\/databases\\/(default)\\/documents\\/"
		    "candidates\\/x) not found.\",\"status\":\"NOT_FOUND\"}}", 1,
		    404, "NOT_FOUND", "Document (projects/p/databases/(default)/"
		    "documents/candidates/x) not found." },
		{ __LINE__, "{\"error\":{\"code\":500,\"status\":\"UNKNOWN\"}}", 1,
		    500, "UNKNOWN", "" },
		/* Google's, with details. */
		{ __LINE__, "{\n  \"error\": {\n    \"code\": 429,\n    "
		    "\"message\": \"Quota exceeded.\",\n    \"status\": "
		    "\"RESOURCE_EXHAUSTED\",\n    \"details\": [{\"@type\": "
		    "\"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": "
		    "\"RATE_LIMIT_EXCEEDED\"}]\n  }\n}\n", 1, 429,
		    "RESOURCE_EXHAUSTED", "Quota exceeded." },
		{ __LINE__, "{\"error\":{\"code\":401,\"message\":\"Request had "
		    "invalid authentication credentials.\\nMore.\",\"status\":"
		    "\"UNAUTHENTICATED\"}}", 1, 401, "UNAUTHENTICATED",
		    "Request had invalid authentication credentials." },
		{ __LINE__, "{\"error\":{\"code\":403}}", 1, 403, "", "" },
		/* Not Google's. */
		{ __LINE__, "{\"error\":{\"code\":\"403\",\"status\":\"X\"}}",
		    0, 0, "", "" },
		{ __LINE__, "{\"error\":\"invalid_grant\"}", 0, 0, "", "" },
		{ __LINE__, "{\"error\":{\"status\":\"UNAVAILABLE\"}}", 0, 0, "",
		    "" },
		{ __LINE__, "<!DOCTYPE html><title>Error 502 (Server Error)!!1"
		    "</title>", 0, 0, "", "" },
		{ __LINE__, "", 0, 0, "", "" },
		{ __LINE__, "[{\"error\":{\"code\":400}}]", 0, 0, "", "" },
	};
	struct firestore_error	 e;
	char			 longmsg[1200];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&e, 'Z', sizeof(e));
		firestore_parse_error(rows[i].body, strlen(rows[i].body), &e);
		if (e.google != rows[i].google || e.code != rows[i].code ||
		    strcmp(e.status, rows[i].status) != 0 ||
		    strcmp(e.message, rows[i].message) != 0)
			ROW_FAIL(rows[i].line, "got %d %ld '%s' '%s'", e.google,
			    e.code, e.status, e.message);
	}
	snprintf(longmsg, sizeof(longmsg), "{\"error\":{\"code\":400,\"status\":"
	    "\"%0100d\",\"message\":\"%0900d\"}}", 0, 0);
	firestore_parse_error(longmsg, strlen(longmsg), &e);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
	assert_int_equal(strlen(e.status), sizeof(e.status) - 1);
}

static void
test_classify(void **state)
{
	static const struct {
		int			 line;
		long			 http;
		int			 google;
		const char		*status, *message;
		enum firestore_verdict	 want;
	} rows[] = {
		{ __LINE__, 429, 1, "RESOURCE_EXHAUSTED", "",
		    FIRESTORE_THROTTLED },
		{ __LINE__, 429, 0, "", "", FIRESTORE_THROTTLED },
		{ __LINE__, 400, 1, "RESOURCE_EXHAUSTED", "",
		    FIRESTORE_THROTTLED },
		{ __LINE__, 503, 1, "UNAVAILABLE", "",
		    FIRESTORE_RETRY },
		{ __LINE__, 409, 1, "ABORTED", "Too much "
		    "contention on these documents.", FIRESTORE_RETRY },
		{ __LINE__, 504, 1, "DEADLINE_EXCEEDED", "",
		    FIRESTORE_RETRY },
		{ __LINE__, 500, 1, "INTERNAL", "",
		    FIRESTORE_RETRY },
		{ __LINE__, 500, 1, "UNKNOWN", "",
		    FIRESTORE_RETRY },
		{ __LINE__, 502, 0, "", "", FIRESTORE_RETRY },
		{ __LINE__, 503, 0, "", "", FIRESTORE_RETRY },
		{ __LINE__, 501, 1, "UNIMPLEMENTED", "",
		    FIRESTORE_REFUSED },
		{ __LINE__, 401, 1, "UNAUTHENTICATED", "",
		    FIRESTORE_TOKEN_REJECTED },
		{ __LINE__, 401, 1, "", "",
		    FIRESTORE_TOKEN_REJECTED },
		/* No call answers 404 for a document: a database missing. */
		{ __LINE__, 404, 1, "NOT_FOUND", "The database (default) does "
		    "not exist for project p", FIRESTORE_REFUSED },
		{ __LINE__, 404, 1, "NOT_FOUND", "Document \"projects/p/"
		    "databases/(default)/documents/candidates/x\" not found.",
		    FIRESTORE_REFUSED },
		{ __LINE__, 404, 1, "", "", FIRESTORE_REFUSED },
		/* A 404 that is not Google's is a wrong endpoint, not absence. */
		{ __LINE__, 404, 0, "", "", FIRESTORE_BROKEN },
		{ __LINE__, 403, 1, "PERMISSION_DENIED",
		    "Missing or insufficient permissions.", FIRESTORE_REFUSED },
		{ __LINE__, 400, 1, "INVALID_ARGUMENT", "",
		    FIRESTORE_REFUSED },
		{ __LINE__, 409, 1, "ALREADY_EXISTS", "",
		    FIRESTORE_REFUSED },
		{ __LINE__, 400, 1, "FAILED_PRECONDITION", "",
		    FIRESTORE_REFUSED },
		{ __LINE__, 400, 0, "", "", FIRESTORE_BROKEN },
		{ __LINE__, 301, 0, "", "", FIRESTORE_BROKEN },
		{ __LINE__, 200, 0, "", "", FIRESTORE_BROKEN },
		{ __LINE__, 0, 0, "", "", FIRESTORE_BROKEN },
		{ __LINE__, 302, 1, "NOT_FOUND", "",
		    FIRESTORE_BROKEN },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct firestore_error	 e;
		enum firestore_verdict	 got;

		memset(&e, 0, sizeof(e));
		e.google = rows[i].google;
		e.code = rows[i].http;
		snprintf(e.status, sizeof(e.status), "%s", rows[i].status);
		snprintf(e.message, sizeof(e.message), "%s", rows[i].message);
		if ((got = firestore_classify(rows[i].http, &e)) !=
		    rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d", got,
			    rows[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_ids),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_token_exhaustive),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_list_query),
		cmocka_unit_test(test_parse_batchget),
		cmocka_unit_test(test_parse_commit),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
