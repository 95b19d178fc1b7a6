/*
 * DynamoDB's wire format: request bodies (names of every shape survive
 * byte for byte), answers (including garbage, which must never pass for
 * an answer), and the retry verdict on each kind of error.
 */
#include "unit.h"

#include <stdlib.h>

#include <json-c/json.h>

#include "stores/dynamodb/dynamo_wire.h"

/* The name in a body json-c can read back, or NULL. */
static char *
name_in(const char *body, const char *path1, const char *path2,
    size_t *len)
{
	struct json_object	*o, *a, *b, *s;
	char			*copy = NULL;

	if ((o = json_tokener_parse(body)) == NULL)
		return NULL;
	if (json_object_object_get_ex(o, path1, &a) &&
	    json_object_object_get_ex(a, path2, &b) &&
	    json_object_object_get_ex(b, "S", &s)) {
		*len = (size_t)json_object_get_string_len(s);
		if ((copy = malloc(*len + 1)) != NULL) {
			memcpy(copy, json_object_get_string(s), *len);
			copy[*len] = '\0';
		}
	}
	json_object_put(o);
	return copy;
}

/* Names as the handler may pass them: any valid UTF-8, 1..255 bytes. */
static void
test_bodies_round_trip(void **state)
{
	static const struct {
		int		 line;
		const char	*name;
		size_t		 len;	/* 0: strlen */
	} rows[] = {
		{ __LINE__, "alice", 0 },
		{ __LINE__, "a b", 0 },
		{ __LINE__, "\"quoted\"", 0 },
		{ __LINE__, "back\\slash", 0 },
		{ __LINE__, "sl/ash", 0 },
		{ __LINE__, "\xf0\x9f\x98\x80 emoji", 0 },
		{ __LINE__, "\xc3\xa9t\xc3\xa9", 0 },
		{ __LINE__, "</script>", 0 },
		{ __LINE__, "nul\0inside", 10 },
		{ __LINE__, "\x01\x1f\x7f", 0 },
	};
	char	 big[256];
	size_t	 i, k;

	(void)state;
	memset(big, 'n', 255);
	big[255] = '\0';
	for (i = 0; i <= sizeof(rows) / sizeof(rows[0]); i++) {
		const char	*name = i < sizeof(rows) / sizeof(rows[0]) ?
		    rows[i].name : big;
		size_t		 len = i < sizeof(rows) / sizeof(rows[0]) &&
		    rows[i].len ? rows[i].len : strlen(name);
		int		 line = i < sizeof(rows) / sizeof(rows[0]) ?
		    rows[i].line : __LINE__;

		for (k = 0; k < 2; k++) {
			struct buf	 b;
			char		*got;
			size_t		 glen = 0;

			buf_init(&b, 4096);
			if ((k == 0 ? dynamo_put_body(&b, "Candidates", name,
			    len) : dynamo_query_body(&b, "Candidates", name,
			    len)) == -1)
				ROW_FAIL(line, "%s body failed", k ? "query" :
				    "put");
			got = k == 0 ? name_in(b.data, "Item", DYNAMO_KEY,
			    &glen) : name_in(b.data, "ExpressionAttributeValues",
			    ":n", &glen);
			if (got == NULL || glen != len ||
			    memcmp(got, name, len) != 0)
				ROW_FAIL(line, "%s body lost the name: %s",
				    k ? "query" : "put", b.data);
			/* One line of JSON: nothing raw a log could split. */
			if (memchr(b.data, '\n', b.len) != NULL)
				ROW_FAIL(line, "raw newline in %s", b.data);
			free(got);
			buf_free(&b);
		}
	}
}

/* The exact bodies, as the originals' table and IAM policy expect. */
static void
test_bodies_exact(void **state)
{
	static const char	 key[] = "{\"CandidateName\":{\"S\":\"k\"}}";
	struct buf		 b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(dynamo_put_body(&b, "T", "a\"b", 3), 0);
	assert_string_equal(b.data,
	    "{\"TableName\":\"T\",\"Item\":{\"CandidateName\":{\"S\":\"a\\\"b\"}}}");
	buf_reset(&b);
	assert_int_equal(dynamo_query_body(&b, "T", "x/y", 3), 0);
	assert_string_equal(b.data, "{\"TableName\":\"T\","
	    "\"KeyConditionExpression\":\"CandidateName = :n\","
	    "\"ExpressionAttributeValues\":{\":n\":{\"S\":\"x/y\"}},"
	    "\"ConsistentRead\":true,\"Select\":\"COUNT\"}");
	buf_reset(&b);
	assert_int_equal(dynamo_scan_body(&b, "T", NULL, 0), 0);
	assert_string_equal(b.data, "{\"TableName\":\"T\","
	    "\"ProjectionExpression\":\"CandidateName\","
	    "\"ConsistentRead\":true}");
	buf_reset(&b);
	assert_int_equal(dynamo_scan_body(&b, "T", key, sizeof(key) - 1), 0);
	assert_string_equal(b.data, "{\"TableName\":\"T\","
	    "\"ProjectionExpression\":\"CandidateName\","
	    "\"ConsistentRead\":true,"
	    "\"ExclusiveStartKey\":{\"CandidateName\":{\"S\":\"k\"}}}");
	buf_free(&b);

	/* A ceiling too low fails rather than truncates. */
	buf_init(&b, 10);
	assert_int_equal(dynamo_put_body(&b, "T", "abc", 3), -1);
	buf_free(&b);
}

static void
test_parse_count(void **state)
{
	static const struct {
		int			 line;
		const char		*body;
		enum dynamo_parse	 want;
		int			 found;
	} rows[] = {
		{ __LINE__, "{\"Count\":1,\"ScannedCount\":1}", DYNAMO_PARSED, 1 },
		{ __LINE__, "{\"Count\":0,\"ScannedCount\":0}", DYNAMO_PARSED, 0 },
		{ __LINE__, " {\"Count\":3} \n", DYNAMO_PARSED, 1 },
		{ __LINE__, "", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "null", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "[]", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":\"1\"}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":-1}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":1.5}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":1} trailing", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":1}{}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"Count\":1,}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "{\"x\":\"\xff\",\"Count\":1}", DYNAMO_GARBAGE, 0 },
		{ __LINE__, "<html>502 Bad Gateway</html>", DYNAMO_GARBAGE, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 err[128] = "";
		int	 found = -1;

		if (dynamo_parse_count(rows[i].body, strlen(rows[i].body),
		    &found, err, sizeof(err)) != rows[i].want ||
		    found != rows[i].found)
			ROW_FAIL(rows[i].line, "found %d (%s)", found, err);
		if (rows[i].want == DYNAMO_GARBAGE && err[0] == '\0')
			ROW_FAIL(rows[i].line, "garbage without a reason");
	}
	/* A NUL inside: the length decides, not strlen. */
	{
		char	 err[128];
		int	 found;

		assert_int_equal(dynamo_parse_count("{\"Count\":1}\0x", 13,
		    &found, err, sizeof(err)), DYNAMO_GARBAGE);
	}
}

struct collected {
	char	 all[512];	/* names joined by '|' */
	size_t	 n, stop_at;
};

static int
collect(void *ctx, const char *name, size_t len)
{
	struct collected *c = ctx;
	size_t used = strlen(c->all);

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

static void
test_parse_scan(void **state)
{
	static const struct {
		int			 line;
		const char		*body;
		size_t			 stop_at;
		enum dynamo_parse	 want;
		const char		*names;
		int			 more;
	} rows[] = {
		{ __LINE__, "{\"Items\":[],\"Count\":0,\"ScannedCount\":0}", 0,
		    DYNAMO_PARSED, "", 0 },
		{ __LINE__, "{\"Items\":[{\"CandidateName\":{\"S\":\"a\"}},"
		    "{\"CandidateName\":{\"S\":\"b \\\"c\\\"\"}}],\"Count\":2}", 0,
		    DYNAMO_PARSED, "a|b \"c\"|", 0 },
		/* An empty page that still carries a key: go on. */
		{ __LINE__, "{\"Items\":[],\"Count\":0,\"LastEvaluatedKey\":"
		    "{\"CandidateName\":{\"S\":\"m\"}}}", 0, DYNAMO_PARSED, "", 1 },
		{ __LINE__, "{\"Items\":[{\"CandidateName\":{\"S\":\"\\u00e9\"}}],"
		    "\"LastEvaluatedKey\":{\"CandidateName\":{\"S\":\"x\"}}}", 0,
		    DYNAMO_PARSED, "\xc3\xa9|", 1 },
		{ __LINE__, "{\"Items\":[{\"CandidateName\":{\"S\":\"a\"}},"
		    "{\"CandidateName\":{\"S\":\"b\"}}]}", 2, DYNAMO_STOPPED,
		    "a|", 0 },
		{ __LINE__, "{\"Count\":0}", 0, DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":{}}", 0, DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":[1]}", 0, DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":[{\"CandidateName\":{\"N\":\"1\"}}]}", 0,
		    DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":[{\"Other\":{\"S\":\"1\"}}]}", 0,
		    DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":[],\"LastEvaluatedKey\":\"k\"}", 0,
		    DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "{\"Items\":[{\"CandidateName\":{\"S\":\"a\"}}", 0,
		    DYNAMO_GARBAGE, "", 0 },
		{ __LINE__, "garbage", 0, DYNAMO_GARBAGE, "", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct collected	 c;
		const char		*next = "unset";
		size_t			 nextlen = 99;
		enum dynamo_parse	 got;
		char			 err[128] = "";

		memset(&c, 0, sizeof(c));
		c.stop_at = rows[i].stop_at;
		got = dynamo_parse_scan(rows[i].body, strlen(rows[i].body),
		    collect, &c, &next, &nextlen, err, sizeof(err));
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d (%s)", got,
			    rows[i].want, err);
		if (got == DYNAMO_PARSED && strcmp(c.all, rows[i].names) != 0)
			ROW_FAIL(rows[i].line, "names '%s'", c.all);
		if ((next != NULL) != (got == DYNAMO_PARSED && rows[i].more))
			ROW_FAIL(rows[i].line, "next %p", (void *)next);
		/* The key is its text in the page, braces and all. */
		if (next != NULL && (nextlen < 2 || next[0] != '{' ||
		    next[nextlen - 1] != '}'))
			ROW_FAIL(rows[i].line, "next '%.*s'", (int)nextlen, next);
	}
}

static void
test_parse_error(void **state)
{
	static const struct {
		int		 line;
		const char	*body, *type, *message;
	} rows[] = {
		{ __LINE__, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
		    "ResourceNotFoundException\",\"message\":\"Requested "
		    "resource not found\"}", "ResourceNotFoundException",
		    "Requested resource not found" },
		{ __LINE__, "{\"__type\":\"com.amazon.coral.service#"
		    "InvalidSignatureException\",\"Message\":\"bad\"}",
		    "InvalidSignatureException", "bad" },
		{ __LINE__, "{\"__type\":\"ThrottlingException\"}",
		    "ThrottlingException", "" },
		{ __LINE__, "{\"__type\":\"a#b#C\"}", "b#C", "" },
		/* What AWS appends after the message never reaches the log. */
		{ __LINE__, "{\"__type\":\"x#InvalidSignatureException\","
		    "\"message\":\"The request signature we calculated does "
		    "not match.\\n\\nThe Canonical String for this request "
		    "should have been\\n'POST\\n/\\n\\nx-amz-security-token:"
		    "SECRETTOKEN'\"}", "InvalidSignatureException",
		    "The request signature we calculated does not match." },
		{ __LINE__, "{\"__type\":\"x#T\",\"message\":\"Check it. The "
		    "Canonical String for this request should have been 'x-amz-"
		    "security-token:SECRET'\"}", "T", "Check it." },
		{ __LINE__, "{\"__type\":7,\"message\":[]}", "", "" },
		{ __LINE__, "<html>", "", "" },
		{ __LINE__, "", "", "" },
	};
	struct dynamo_error	 e;
	char			 longmsg[1200];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dynamo_parse_error(rows[i].body, strlen(rows[i].body), &e);
		if (strcmp(e.type, rows[i].type) != 0 ||
		    strcmp(e.message, rows[i].message) != 0)
			ROW_FAIL(rows[i].line, "got '%s' '%s'", e.type,
			    e.message);
	}
	/* A long message is cut to fit, never overflows. */
	snprintf(longmsg, sizeof(longmsg), "{\"__type\":\"x#T\",\"message\":"
	    "\"%0900d\"}", 0);
	dynamo_parse_error(longmsg, strlen(longmsg), &e);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
}

static void
test_classify(void **state)
{
	static const struct {
		int			 line;
		long			 status;
		const char		*type, *message;
		enum dynamo_verdict	 want;
	} rows[] = {
		{ __LINE__, 400, "ThrottlingException", "", DYNAMO_THROTTLED },
		{ __LINE__, 400, "ProvisionedThroughputExceededException", "",
		    DYNAMO_THROTTLED },
		{ __LINE__, 400, "RequestLimitExceeded", "", DYNAMO_THROTTLED },
		{ __LINE__, 429, "", "", DYNAMO_THROTTLED },
		{ __LINE__, 500, "InternalServerError", "", DYNAMO_RETRY },
		{ __LINE__, 503, "", "", DYNAMO_RETRY },
		{ __LINE__, 502, "", "", DYNAMO_RETRY },
		{ __LINE__, 400, "RequestTimeout", "", DYNAMO_RETRY },
		{ __LINE__, 400, "InvalidSignatureException",
		    "Signature expired: 20240101T000000Z is now earlier than "
		    "20240101T000500Z", DYNAMO_SKEWED },
		{ __LINE__, 400, "InvalidSignatureException",
		    "Signature not yet current: 20240101T010000Z is still later "
		    "than 20240101T000500Z", DYNAMO_SKEWED },
		{ __LINE__, 403, "RequestTimeTooSkewed", "", DYNAMO_SKEWED },
		{ __LINE__, 400, "InvalidSignatureException",
		    "The request signature we calculated does not match",
		    DYNAMO_REFUSED },
		{ __LINE__, 400, "UnrecognizedClientException",
		    "The security token included in the request is invalid.",
		    DYNAMO_REFUSED },
		{ __LINE__, 400, "ExpiredTokenException", "",
		    DYNAMO_EXPIRED_TOKEN },
		{ __LINE__, 400, "ResourceNotFoundException", "", DYNAMO_REFUSED },
		{ __LINE__, 400, "ValidationException", "", DYNAMO_REFUSED },
		{ __LINE__, 400, "AccessDeniedException", "", DYNAMO_REFUSED },
		{ __LINE__, 413, "", "", DYNAMO_REFUSED },
		{ __LINE__, 400, "", "", DYNAMO_REFUSED },
		{ __LINE__, 301, "", "", DYNAMO_BROKEN },
		{ __LINE__, 200, "", "", DYNAMO_BROKEN },
		{ __LINE__, 0, "", "", DYNAMO_BROKEN },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dynamo_error	 e;
		enum dynamo_verdict	 got;

		snprintf(e.type, sizeof(e.type), "%s", rows[i].type);
		snprintf(e.message, sizeof(e.message), "%s", rows[i].message);
		if ((got = dynamo_classify(rows[i].status, &e)) != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d", got,
			    rows[i].want);
	}
}

static void
test_clock_offset(void **state)
{
	static const struct {
		int		 line;
		const char	*date;
		time_t		 now;
		int		 rc;
		long		 offset;
	} rows[] = {
		{ __LINE__, "Sun, 30 Aug 2015 12:36:00 GMT", 1440938160, 0, 0 },
		{ __LINE__, "Sun, 30 Aug 2015 13:36:00 GMT", 1440938160, 0, 3600 },
		{ __LINE__, "Sun, 30 Aug 2015 12:26:00 GMT", 1440938160, 0, -600 },
		{ __LINE__, "", 1440938160, -1, 0 },
		{ __LINE__, "yesterday", 1440938160, -1, 0 },
		{ __LINE__, "Sun, 30 Aug 2015 12:36:00 GMT junk", 1440938160, -1,
		    0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long	 off = 99;
		int	 rc = dynamo_clock_offset(rows[i].date, rows[i].now, &off);

		if (rc != rows[i].rc || (rc == 0 && off != rows[i].offset))
			ROW_FAIL(rows[i].line, "rc %d offset %ld", rc, off);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies_round_trip),
		cmocka_unit_test(test_bodies_exact),
		cmocka_unit_test(test_parse_count),
		cmocka_unit_test(test_parse_scan),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_clock_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
