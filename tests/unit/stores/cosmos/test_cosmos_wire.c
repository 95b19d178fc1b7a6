/*
 * Cosmos DB's wire format: paths and links (an id encoded once in the
 * path, as it is in the signed link), bodies (names of every shape
 * survive byte for byte), the partition-key header (checked against
 * @azure/cosmos's own encoder, rows marked "SDK", printed by
 * tests/unit/stores/cosmos/cosmos_vectors.js), answers (garbage never
 * passes for one), the retry verdict on each kind of error, and Azure
 * IMDS's token and instance answers.
 */
#include "unit.h"

#include <stdlib.h>

#include <json-c/json.h>

#include "stores/cosmos/cosmos_wire.h"

static void
test_valid_id(void **state)
{
	static const struct {
		int		 line;
		const char	*s;
		size_t		 len;	/* 0: strlen */
		int		 ok;
	} rows[] = {
		{ __LINE__, "CandidateDatabase", 0, 1 },
		{ __LINE__, "Candidates", 0, 1 },
		{ __LINE__, "with space inside", 0, 1 },
		{ __LINE__, "\xc3\xa9t\xc3\xa9", 0, 1 },
		{ __LINE__, "", 0, 0 },
		{ __LINE__, "trailing ", 0, 0 },
		{ __LINE__, "a/b", 0, 0 },
		{ __LINE__, "a\\b", 0, 0 },
		{ __LINE__, "a?b", 0, 0 },
		{ __LINE__, "a#b", 0, 0 },
		{ __LINE__, "tab\there", 0, 0 },
		{ __LINE__, "del\x7f", 0, 0 },
		{ __LINE__, "nul\0inside", 10, 0 },
	};
	char	 big[COSMOS_ID_MAX + 1];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t	 n = rows[i].len ? rows[i].len : strlen(rows[i].s);

		if (cosmos_valid_id(rows[i].s, n) != rows[i].ok)
			ROW_FAIL(rows[i].line, "want %d", rows[i].ok);
	}
	memset(big, 'x', sizeof(big));
	assert_int_equal(cosmos_valid_id(big, COSMOS_ID_MAX), 1);
	assert_int_equal(cosmos_valid_id(big, COSMOS_ID_MAX + 1), 0);
	assert_int_equal(cosmos_valid_id(NULL, 3), 0);
}

static void
test_targets(void **state)
{
	static const struct {
		int		 line;
		const char	*db, *coll, *name;	/* name NULL: the docs */
		const char	*path, *link;		/* NULL: refused */
	} rows[] = {
		{ __LINE__, "CandidateDatabase", "Candidates", NULL,
		    "/dbs/CandidateDatabase/colls/Candidates/docs",
		    "dbs/CandidateDatabase/colls/Candidates" },
		{ __LINE__, "CandidateDatabase", "Candidates", "Ada Lovelace",
		    "/dbs/CandidateDatabase/colls/Candidates/docs/Ada%20Lovelace",
		    "dbs/CandidateDatabase/colls/Candidates/docs/Ada Lovelace" },
		/* Encoded once in the path, signed as it is. */
		{ __LINE__, "d", "c", "a%20b+c=d&e:f;g@h",
		    "/dbs/d/colls/c/docs/a%2520b%2Bc%3Dd%26e%3Af%3Bg%40h",
		    "dbs/d/colls/c/docs/a%20b+c=d&e:f;g@h" },
		{ __LINE__, "d", "c", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
		    "/dbs/d/colls/c/docs/%C3%A9t%C3%A9%20%F0%9F%98%80",
		    "dbs/d/colls/c/docs/\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80" },
		{ __LINE__, "d", "c", "..", "/dbs/d/colls/c/docs/..",
		    "dbs/d/colls/c/docs/.." },
		{ __LINE__, "my db", "my coll", "x",
		    "/dbs/my%20db/colls/my%20coll/docs/x",
		    "dbs/my db/colls/my coll/docs/x" },
		{ __LINE__, "", "c", "x", NULL, NULL },
		{ __LINE__, "d", "c/x", "x", NULL, NULL },
		{ __LINE__, "d?", "c", NULL, NULL, NULL },
		{ __LINE__, "d", "", NULL, NULL, NULL },
		{ __LINE__, "d", "c", "", NULL, NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 path, link;
		int		 rc;

		buf_init(&path, 4096);
		buf_init(&link, 4096);
		rc = rows[i].name == NULL ? cosmos_docs_target(&path, &link,
		    rows[i].db, rows[i].coll) : cosmos_item_target(&path, &link,
		    rows[i].db, rows[i].coll, rows[i].name,
		    strlen(rows[i].name));
		if (rows[i].path == NULL) {
			if (rc != -1)
				ROW_FAIL(rows[i].line, "accepted");
		} else if (rc != 0 || strcmp(path.data, rows[i].path) != 0 ||
		    strcmp(link.data, rows[i].link) != 0)
			ROW_FAIL(rows[i].line, "rc %d path %s link %s", rc,
			    path.data ? path.data : "-",
			    link.data ? link.data : "-");
		buf_free(&path);
		buf_free(&link);
	}
	/* The length decides: a NUL would cut the signed link short. */
	{
		struct buf	 path, link;
		char		 big[COSMOS_ID_MAX + 1];

		buf_init(&path, 4096);
		buf_init(&link, 4096);
		assert_int_equal(cosmos_item_target(&path, &link, "d", "c",
		    "a\0b", 3), -1);
		memset(big, 'n', sizeof(big));
		assert_int_equal(cosmos_item_target(&path, &link, "d", "c", big,
		    COSMOS_ID_MAX + 1), -1);
		buf_reset(&path);
		buf_reset(&link);
		assert_int_equal(cosmos_item_target(&path, &link, "d", "c", big,
		    COSMOS_ID_MAX), 0);
		assert_int_equal(link.len, strlen("dbs/d/colls/c/docs/") +
		    COSMOS_ID_MAX);
		buf_free(&path);
		buf_free(&link);
	}
}

/* The member key of the JSON object in body, copied, or NULL. */
static char *
member(const char *body, const char *key, size_t *len)
{
	struct json_object	*o, *v;
	char			*copy = NULL;

	if ((o = json_tokener_parse(body)) == NULL)
		return NULL;
	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string)) {
		*len = (size_t)json_object_get_string_len(v);
		if ((copy = malloc(*len + 1)) != NULL) {
			memcpy(copy, json_object_get_string(v), *len);
			copy[*len] = '\0';
		}
	}
	json_object_put(o);
	return copy;
}

/* Names as the handler may pass them: any valid UTF-8, 1..255 bytes. */
static void
test_item_body(void **state)
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
	size_t	 i, k;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t		 len = rows[i].len ? rows[i].len :
			    strlen(rows[i].name);
		struct buf	 b;

		buf_init(&b, 4096);
		if (cosmos_item_body(&b, rows[i].name, len) != 0)
			ROW_FAIL(rows[i].line, "body failed");
		for (k = 0; k < 2; k++) {
			const char	*key = k == 0 ? "id" : COSMOS_NAME_FIELD;
			size_t		 glen = 0;
			char		*got = member(b.data, key, &glen);

			if (got == NULL || glen != len ||
			    memcmp(got, rows[i].name, len) != 0)
				ROW_FAIL(rows[i].line, "%s lost: %s", key,
				    b.data);
			free(got);
		}
		if (memchr(b.data, '\n', b.len) != NULL)
			ROW_FAIL(rows[i].line, "raw newline in %s", b.data);
		buf_free(&b);
	}
	{
		struct buf	 b;

		buf_init(&b, 4096);
		assert_int_equal(cosmos_item_body(&b, "a\"b/c", 5), 0);
		assert_string_equal(b.data,
		    "{\"id\":\"a\\\"b/c\",\"CandidateName\":\"a\\\"b/c\"}");
		buf_reset(&b);
		assert_int_equal(cosmos_query_body(&b), 0);
		assert_string_equal(b.data,
		    "{\"query\":\"SELECT c.id FROM c\",\"parameters\":[]}");
		buf_reset(&b);
		assert_int_equal(cosmos_item_body(&b, "", 0), -1);
		buf_free(&b);
		/* A ceiling too low fails rather than truncates. */
		buf_init(&b, 10);
		assert_int_equal(cosmos_item_body(&b, "abc", 3), -1);
		assert_null(b.data);
		buf_free(&b);
	}
}

/* SDK: jsonStringifyAndEscapeNonASCII([name]). */
static void
test_partition_key(void **state)
{
	static const struct {
		int		 line;
		const char	*name, *header;	/* header NULL: refused */
	} rows[] = {
		{ __LINE__, "alice", "[\"alice\"]" },
		{ __LINE__, "Ada Lovelace", "[\"Ada Lovelace\"]" },
		{ __LINE__, "\"quoted\"", "[\"\\\"quoted\\\"\"]" },
		{ __LINE__, "back\\slash", "[\"back\\\\slash\"]" },
		{ __LINE__, "\xc3\xa9t\xc3\xa9", "[\"\\u00e9t\\u00e9\"]" },
		{ __LINE__, "\xf0\x9f\x98\x80", "[\"\\ud83d\\ude00\"]" },
		{ __LINE__, "a\x7f" "b", "[\"a\\u007fb\"]" },
		{ __LINE__, "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf",
		    "[\"\\u0080\\u07ff\\u0800\\uffff\"]" },
		{ __LINE__, "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		    "[\"\\ud800\\udc00\\udbff\\udfff\"]" },
		{ __LINE__, "\xe2\x80\xa8\xe2\x80\xa9", "[\"\\u2028\\u2029\"]" },
		{ __LINE__, "tab\x09here", "[\"tab\\there\"]" },
		{ __LINE__, "\x08\x0c\x0a\x0d\x01\x1f",
		    "[\"\\b\\f\\n\\r\\u0001\\u001f\"]" },
		{ __LINE__, "</script>", "[\"</script>\"]" },
		/* Not UTF-8: refused, never guessed at. */
		{ __LINE__, "\xc0\xaf", NULL },		/* overlong '/' */
		{ __LINE__, "\xe0\x80\xaf", NULL },
		{ __LINE__, "\xed\xa0\x80", NULL },	/* a surrogate */
		{ __LINE__, "\xf4\x90\x80\x80", NULL },	/* past U+10FFFF */
		{ __LINE__, "\xe2\x82", NULL },		/* cut short */
		{ __LINE__, "\x80", NULL },
		{ __LINE__, "\xff", NULL },
		{ __LINE__, "", NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 b;
		int		 rc;

		buf_init(&b, 4096);
		rc = cosmos_partition_key(&b, rows[i].name,
		    strlen(rows[i].name));
		if (rows[i].header == NULL ? rc != -1 : rc != 0 ||
		    strcmp(b.data, rows[i].header) != 0)
			ROW_FAIL(rows[i].line, "rc %d: %s", rc,
			    b.data ? b.data : "-");
		/* Whatever it holds, a header is ASCII without a line break. */
		if (rc == 0) {
			size_t j;

			for (j = 0; j < b.len; j++)
				if ((unsigned char)b.data[j] < 0x20 ||
				    (unsigned char)b.data[j] > 0x7e)
					ROW_FAIL(rows[i].line, "byte %zu", j);
		}
		buf_free(&b);
	}
	/* The length decides, and a NUL is escaped, not an end. */
	{
		struct buf	 b;

		buf_init(&b, 64);
		assert_int_equal(cosmos_partition_key(&b, "a\0b", 3), 0);
		assert_string_equal(b.data, "[\"a\\u0000b\"]");
		buf_free(&b);
	}
}

static void
test_parse_item(void **state)
{
	static const struct {
		int			 line;
		const char		*body, *name;
		enum cosmos_parse	 want;
	} rows[] = {
		/* cosmosdb-server's and Cosmos DB's answer to a point read. */
		{ __LINE__, "{\"id\":\"c+d\",\"CandidateName\":\"c+d\",\"_etag\":"
		    "\"c7f4\",\"_rid\":\"gAABAIAAAAEDAAAAAAAAAA==\",\"_self\":"
		    "\"/dbs/gAABAA==/colls/gAABAIAAAAE=/docs/gAAB/\",\"_ts\":1}",
		    "c+d", COSMOS_PARSED },
		{ __LINE__, "{\"id\":\"\\u00e9\"}", "\xc3\xa9", COSMOS_PARSED },
		{ __LINE__, "{\"id\":\"a\"}", "A", COSMOS_GARBAGE },
		{ __LINE__, "{\"id\":\"ab\"}", "a", COSMOS_GARBAGE },
		{ __LINE__, "{\"id\":\"a\"}", "ab", COSMOS_GARBAGE },
		{ __LINE__, "{\"CandidateName\":\"a\"}", "a", COSMOS_GARBAGE },
		{ __LINE__, "{\"id\":1}", "1", COSMOS_GARBAGE },
		{ __LINE__, "[{\"id\":\"a\"}]", "a", COSMOS_GARBAGE },
		{ __LINE__, "{\"id\":\"a\"} x", "a", COSMOS_GARBAGE },
		{ __LINE__, "", "a", COSMOS_GARBAGE },
		{ __LINE__, "<html>", "a", COSMOS_GARBAGE },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 err[128] = "";

		if (cosmos_parse_item(rows[i].body, strlen(rows[i].body),
		    rows[i].name, strlen(rows[i].name), err, sizeof(err)) !=
		    rows[i].want)
			ROW_FAIL(rows[i].line, "(%s)", err);
		if (rows[i].want == COSMOS_GARBAGE && err[0] == '\0')
			ROW_FAIL(rows[i].line, "garbage without a reason");
	}
	/* An id with a NUL inside is not the name before the NUL. */
	{
		char	 err[128];

		assert_int_equal(cosmos_parse_item("{\"id\":\"a\\u0000b\"}", 17,
		    "a", 1, err, sizeof(err)), COSMOS_GARBAGE);
		assert_int_equal(cosmos_parse_item("{\"id\":\"a\\u0000b\"}", 17,
		    "a\0b", 3, err, sizeof(err)), COSMOS_PARSED);
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
test_parse_page(void **state)
{
	static const struct {
		int			 line;
		const char		*body;
		size_t			 stop_at;
		enum cosmos_parse	 want;
		const char		*names;
	} rows[] = {
		/* cosmosdb-server's page, then the service's own shape. */
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"},{\"id\":\"b b\"}],"
		    "\"_count\":2}", 0, COSMOS_PARSED, "a|b b|" },
		{ __LINE__, "{\"_rid\":\"gAABAIAAAAE=\",\"Documents\":[{\"id\":"
		    "\"\\u00e9\"},{\"id\":\"\\ud83d\\ude00\"}],\"_count\":2}", 0,
		    COSMOS_PARSED, "\xc3\xa9|\xf0\x9f\x98\x80|" },
		/* Short and empty pages are pages: only the header ends. */
		{ __LINE__, "{\"_rid\":\"x\",\"Documents\":[],\"_count\":0}", 0,
		    COSMOS_PARSED, "" },
		{ __LINE__, "{\"Documents\":[]}", 0, COSMOS_PARSED, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\",\"other\":[1,{}]}]}",
		    0, COSMOS_PARSED, "a|" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"},{\"id\":\"b\"}]}", 2,
		    COSMOS_STOPPED, "a|" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"},{\"id\":\"b\"}],"
		    "\"_count\":3}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"}],\"_count\":\"1\"}", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[],\"_count\":-1}", 0,
		    COSMOS_GARBAGE, "" },
		/*
		 * A bad document anywhere is garbage, whatever was handed on
		 * before it: the handler sends a listing only once whole.
		 */
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"},{\"CandidateName\":"
		    "\"b\"}]}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"},{\"id\":2}]}", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"\"}]}", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[\"a\"]}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":{}}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Items\":[]}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"a\"}]", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[]}{}", 0, COSMOS_GARBAGE, "" },
		{ __LINE__, "{\"Documents\":[{\"id\":\"\xff\"}]}", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "<html><body>502 Bad Gateway</body></html>", 0,
		    COSMOS_GARBAGE, "" },
		{ __LINE__, "", 0, COSMOS_GARBAGE, "" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct collected	 c;
		enum cosmos_parse	 got;
		char			 err[128] = "";

		memset(&c, 0, sizeof(c));
		c.stop_at = rows[i].stop_at;
		got = cosmos_parse_page(rows[i].body, strlen(rows[i].body),
		    collect, &c, err, sizeof(err));
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d (%s)", got,
			    rows[i].want, err);
		if (got != COSMOS_GARBAGE && strcmp(c.all, rows[i].names) != 0)
			ROW_FAIL(rows[i].line, "names '%s'", c.all);
		if (got != COSMOS_PARSED && err[0] == '\0')
			ROW_FAIL(rows[i].line, "no reason given");
	}
}

static void
test_continuation_ok(void **state)
{
	static const struct {
		int		 line;
		const char	*v;
		int		 ok;
	} rows[] = {
		/* cosmosdb-server's; Cosmos DB's are of the same alphabet. */
		{ __LINE__, "{\"token\":\"+RID:gAABAIAAAAEEAAAAAAAAAA==#RT:1#TRC:3"
		    "\",\"range\":{\"min\":\"\",\"max\":\"FF\"}}", 1 },
		{ __LINE__, "-RID:~abc==#RT:1#TRC:2#ISV:2#IEO:65567#QCF:8", 1 },
		{ __LINE__, "x", 1 },
		{ __LINE__, "", 0 },
		{ __LINE__, " x", 0 },
		{ __LINE__, "x ", 0 },
		{ __LINE__, "a\r\nInjected: yes", 0 },
		{ __LINE__, "a\tb", 0 },
		{ __LINE__, "\xc3\xa9", 0 },
		{ __LINE__, "del\x7f", 0 },
	};
	char	*big;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cosmos_continuation_ok(rows[i].v, strlen(rows[i].v)) !=
		    rows[i].ok)
			ROW_FAIL(rows[i].line, "want %d", rows[i].ok);
	assert_int_equal(cosmos_continuation_ok("a\0b", 3), 0);
	big = malloc(COSMOS_CONTINUATION_MAX + 1);
	assert_non_null(big);
	memset(big, 'c', COSMOS_CONTINUATION_MAX + 1);
	assert_int_equal(cosmos_continuation_ok(big, COSMOS_CONTINUATION_MAX),
	    1);
	assert_int_equal(cosmos_continuation_ok(big,
	    COSMOS_CONTINUATION_MAX + 1), 0);
	free(big);
}

static void
test_header_num(void **state)
{
	static const struct {
		int		 line;
		const char	*v;
		int		 rc;
		long		 n;
	} rows[] = {
		{ __LINE__, "0", 0, 0 },
		{ __LINE__, "123", 0, 123 },
		{ __LINE__, "1002", 0, 1002 },
		{ __LINE__, "999999999", 0, 999999999 },
		{ __LINE__, "1000000000", -1, 0 },
		{ __LINE__, "", -1, 0 },
		{ __LINE__, "-1", -1, 0 },
		{ __LINE__, "+1", -1, 0 },
		{ __LINE__, " 1", -1, 0 },
		{ __LINE__, "1.5", -1, 0 },
		{ __LINE__, "12a", -1, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long	 n = 77;

		if (cosmos_parse_header_num(rows[i].v, strlen(rows[i].v), &n) !=
		    rows[i].rc || n != rows[i].n)
			ROW_FAIL(rows[i].line, "got %ld", n);
	}
}

static void
test_parse_error(void **state)
{
	static const struct {
		int		 line;
		const char	*body, *code, *message;
		int		 cosmos;
	} rows[] = {
		/* Cosmos DB's own bodies, as its SDKs' issues quote them. */
		{ __LINE__, "{\"code\":\"Unauthorized\",\"message\":\"The input "
		    "authorization token can't serve the request. Server used "
		    "the following payload to sign: 'get\\ndocs\\ndbs/d/colls/c"
		    "/docs/a\\nfri, 15 may 2020 08:50:26 gmt\\n\\n'\\r\\n"
		    "ActivityId: e83fd72c, Microsoft.Azure.Documents.Common/"
		    "2.11.0\"}", "Unauthorized", "The input authorization token "
		    "can't serve the request. Server used the following payload "
		    "to sign: 'get\ndocs\ndbs/d/colls/c/docs/a\nfri, 15 may 2020 "
		    "08:50:26 gmt\n\n'", 1 },
		{ __LINE__, "{\"code\":\"Forbidden\",\"message\":\"The "
		    "authorization token is not valid at the current time. "
		    "Please create another token and retry (token start time: "
		    "Tue, 02 Oct 2018 12:00:46 GMT).\\r\\nActivityId: f5\"}",
		    "Forbidden", "The authorization token is not valid at the "
		    "current time. Please create another token and retry (token "
		    "start time: Tue, 02 Oct 2018 12:00:46 GMT).", 1 },
		{ __LINE__, "{\"code\":\"NotFound\",\"message\":\"Entity with the "
		    "specified id does not exist in the system.,\"}", "NotFound",
		    "Entity with the specified id does not exist in the system.,",
		    1 },
		/* cosmosdb-server's code-less bodies are its JSON all the same. */
		{ __LINE__, "{\"message\":\"\"}", "", "", 1 },
		{ __LINE__, "{\"message\":\"missing partition keys\"}", "",
		    "missing partition keys", 1 },
		{ __LINE__, "{\"code\":\"429\"}", "429", "", 1 },
		{ __LINE__, "{}", "", "", 0 },
		{ __LINE__, "{\"code\":7,\"message\":[]}", "", "", 0 },
		{ __LINE__, "[\"code\"]", "", "", 0 },
		{ __LINE__, "<html>401</html>", "", "", 0 },
		{ __LINE__, "", "", "", 0 },
	};
	struct cosmos_error	 e;
	char			 longmsg[1200];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&e, 'Z', sizeof(e));
		cosmos_parse_error(rows[i].body, strlen(rows[i].body), &e);
		if (strcmp(e.code, rows[i].code) != 0 ||
		    strcmp(e.message, rows[i].message) != 0 ||
		    e.cosmos != rows[i].cosmos)
			ROW_FAIL(rows[i].line, "got '%s' '%s' %d", e.code,
			    e.message, e.cosmos);
	}
	/* A long message is cut to fit, never overflows. */
	snprintf(longmsg, sizeof(longmsg), "{\"code\":\"X\",\"message\":"
	    "\"%0900d\"}", 0);
	cosmos_parse_error(longmsg, strlen(longmsg), &e);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
}

static void
test_classify(void **state)
{
	static const struct {
		int			 line;
		long			 status, substatus;
		int			 cosmos, token;
		const char		*message;
		enum cosmos_verdict	 want;
	} rows[] = {
		{ __LINE__, 429, 3200, 1, 0, "Request rate is large",
		    COSMOS_THROTTLED },
		{ __LINE__, 429, 0, 0, 1, "", COSMOS_THROTTLED },
		{ __LINE__, 449, 0, 1, 0, "", COSMOS_RETRY },
		{ __LINE__, 408, 0, 1, 0, "", COSMOS_RETRY },
		{ __LINE__, 500, 0, 1, 0, "", COSMOS_RETRY },
		{ __LINE__, 503, 0, 0, 0, "", COSMOS_RETRY },	/* HTML */
		{ __LINE__, 502, 0, 0, 0, "", COSMOS_RETRY },
		{ __LINE__, 404, 1002, 1, 0, "", COSMOS_RETRY },
		{ __LINE__, 403, 0, 1, 0, "The authorization token is not valid "
		    "at the current time. Please create another token",
		    COSMOS_SKEWED },
		{ __LINE__, 403, 0, 1, 1, "The authorization token is not valid "
		    "at the current time.", COSMOS_SKEWED },
		{ __LINE__, 401, 0, 1, 1, "Request blocked by Auth acct : "
		    "Provided AAD token has been expired since [7/17/2022]",
		    COSMOS_TOKEN_REFRESH },
		{ __LINE__, 401, 5013, 1, 1, "", COSMOS_TOKEN_REFRESH },
		{ __LINE__, 403, 5300, 1, 1, "Request blocked by Auth acct : "
		    "Provided AAD token has been expired since [x]",
		    COSMOS_TOKEN_REFRESH },
		/* A principal without a role: a new token cannot help. */
		{ __LINE__, 403, 5301, 1, 1, "Request blocked by Auth acct : "
		    "principal does not have required RBAC permissions",
		    COSMOS_REFUSED },
		{ __LINE__, 401, 0, 1, 0, "The input authorization token can't "
		    "serve the request.", COSMOS_REFUSED },
		{ __LINE__, 403, 0, 1, 0, "Local Authorization is disabled.",
		    COSMOS_REFUSED },
		{ __LINE__, 404, 1003, 1, 0, "Owner resource does not exist",
		    COSMOS_REFUSED },
		{ __LINE__, 404, 0, 1, 0, "", COSMOS_REFUSED },
		{ __LINE__, 400, 0, 1, 0, "PartitionKey extracted from document "
		    "doesn't match", COSMOS_REFUSED },
		{ __LINE__, 409, 0, 1, 0, "", COSMOS_REFUSED },
		{ __LINE__, 413, 0, 1, 0, "", COSMOS_REFUSED },
		{ __LINE__, 400, 0, 0, 0, "", COSMOS_BROKEN },
		{ __LINE__, 401, 0, 0, 1, "", COSMOS_BROKEN },
		{ __LINE__, 301, 0, 1, 0, "", COSMOS_BROKEN },
		{ __LINE__, 200, 0, 1, 0, "", COSMOS_BROKEN },
		{ __LINE__, 0, 0, 0, 0, "", COSMOS_BROKEN },
		{ __LINE__, 600, 0, 1, 0, "", COSMOS_BROKEN },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cosmos_error	 e;
		enum cosmos_verdict	 got;

		memset(&e, 0, sizeof(e));
		e.cosmos = rows[i].cosmos;
		snprintf(e.message, sizeof(e.message), "%s", rows[i].message);
		got = cosmos_classify(rows[i].status, rows[i].substatus, &e,
		    rows[i].token);
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d", got,
			    rows[i].want);
	}
}

static void
test_item_missing(void **state)
{
	static const struct {
		int	 line;
		long	 status, substatus;
		int	 missing;
	} rows[] = {
		{ __LINE__, 404, 0, 1 },
		{ __LINE__, 404, 1003, 0 },	/* the container is gone */
		{ __LINE__, 404, 1002, 0 },	/* a lagging replica */
		{ __LINE__, 200, 0, 0 },
		{ __LINE__, 410, 0, 0 },
		{ __LINE__, 400, 0, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cosmos_item_missing(rows[i].status, rows[i].substatus) !=
		    rows[i].missing)
			ROW_FAIL(rows[i].line, "want %d", rows[i].missing);
}

static void
test_imds_token_path(void **state)
{
	static const struct {
		int		 line;
		const char	*resource, *client_id, *path;
	} rows[] = {
		{ __LINE__, COSMOS_IMDS_RESOURCE, NULL,
		    "/metadata/identity/oauth2/token?api-version=2018-02-01&"
		    "resource=https%3A%2F%2Fcosmos.azure.com" },
		{ __LINE__, COSMOS_IMDS_RESOURCE, "",
		    "/metadata/identity/oauth2/token?api-version=2018-02-01&"
		    "resource=https%3A%2F%2Fcosmos.azure.com" },
		{ __LINE__, COSMOS_IMDS_RESOURCE,
		    "7d4a1f2e-0b3c-4d5e-8f90-a1b2c3d4e5f6",
		    "/metadata/identity/oauth2/token?api-version=2018-02-01&"
		    "resource=https%3A%2F%2Fcosmos.azure.com&client_id="
		    "7d4a1f2e-0b3c-4d5e-8f90-a1b2c3d4e5f6" },
		{ __LINE__, COSMOS_IMDS_RESOURCE, "a&b=c",
		    "/metadata/identity/oauth2/token?api-version=2018-02-01&"
		    "resource=https%3A%2F%2Fcosmos.azure.com&client_id=a%26b%3Dc" },
		{ __LINE__, "", NULL, NULL },
		{ __LINE__, NULL, NULL, NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 b;
		int		 rc;

		buf_init(&b, 1024);
		rc = cosmos_imds_token_path(&b, rows[i].resource,
		    rows[i].client_id);
		if (rows[i].path == NULL ? rc != -1 : rc != 0 ||
		    strcmp(b.data, rows[i].path) != 0)
			ROW_FAIL(rows[i].line, "rc %d: %s", rc,
			    b.data ? b.data : "-");
		buf_free(&b);
	}
}

#define NOW	1700000000

static void
test_parse_imds_token(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		int		 rc;
		const char	*token;
		long long	 expires;
	} rows[] = {
		/* As Azure IMDS answers (api-version 2018-02-01): strings. */
		{ __LINE__, "{\"access_token\":\"eyJ0eXAi.eyJhdWQi.c2ln\","
		    "\"client_id\":\"7d4a1f2e-0b3c-4d5e-8f90-a1b2c3d4e5f6\","
		    "\"expires_in\":\"86399\",\"expires_on\":\"1700086399\","
		    "\"ext_expires_in\":\"86399\",\"not_before\":\"1699999700\","
		    "\"resource\":\"https://cosmos.azure.com\",\"token_type\":"
		    "\"Bearer\"}", 0, "eyJ0eXAi.eyJhdWQi.c2ln", 1700086399 },
		/* expires_on decides over expires_in when both are there. */
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":\"5\","
		    "\"expires_on\":\"1700000100\"}", 0, "t", 1700000100 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_on\":1700000100}",
		    0, "t", 1700000100 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":\"3600\"}", 0,
		    "t", NOW + 3600 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":60,"
		    "\"token_type\":\"bearer\"}", 0, "t", NOW + 60 },
		/* A malformed expires_on falls back on expires_in. */
		{ __LINE__, "{\"access_token\":\"t\",\"expires_on\":\"soon\","
		    "\"expires_in\":\"10\"}", 0, "t", NOW + 10 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_on\":"
		    "\"11/17/2023 22:13:20 +00:00\",\"expires_in\":\"10\"}", 0, "t",
		    NOW + 10 },
		{ __LINE__, "{\"access_token\":\"t\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_on\":\"1700000000\"}",
		    -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":\"0\"}", -1, "",
		    0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":-5}", -1, "",
		    0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":"
		    "\"1234567890123\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":\"1e3\"}", -1,
		    "", 0 },
		/* Found by fuzz_cosmos: a number json-c saturates, then added. */
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":"
		    "99999999999999999999999}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":"
		    "1000000000000}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_on\":"
		    "9223372036854775807}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":"
		    "999999999999}", 0, "t", NOW + 999999999999LL },
		{ __LINE__, "{\"access_token\":\"\",\"expires_in\":\"60\"}", -1, "",
		    0 },
		{ __LINE__, "{\"access_token\":\"a b\",\"expires_in\":\"60\"}", -1,
		    "", 0 },
		{ __LINE__, "{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":"
		    "\"60\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":7,\"expires_in\":\"60\"}", -1, "",
		    0 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":\"60\","
		    "\"token_type\":\"pop\"}", -1, "", 0 },
		{ __LINE__, "{\"error\":\"invalid_request\",\"error_description\":"
		    "\"Identity not found\"}", -1, "", 0 },
		{ __LINE__, "", -1, "", 0 },
		{ __LINE__, "<html>", -1, "", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 tok;
		time_t		 exp = 99;
		char		 err[160] = "";
		int		 rc;

		buf_init(&tok, 4096);
		/* What was there before is replaced, success or not. */
		assert_int_equal(buf_addstr(&tok, "stale"), 0);
		rc = cosmos_parse_imds_token(rows[i].body, strlen(rows[i].body),
		    NOW, &tok, &exp, err, sizeof(err));
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (strcmp(tok.data != NULL ? tok.data : "", rows[i].token) != 0 ||
		    (long long)exp != rows[i].expires)
			ROW_FAIL(rows[i].line, "token '%s' expires %lld",
			    tok.data, (long long)exp);
		if (rc == -1 && err[0] == '\0')
			ROW_FAIL(rows[i].line, "no reason given");
		/* The reason never quotes the token. */
		if (rc == -1 && strstr(err, "eyJ") != NULL)
			ROW_FAIL(rows[i].line, "token in reason: %s", err);
		buf_free(&tok);
	}
	/* A token past the caller's ceiling is refused, not truncated. */
	{
		struct buf	 tok;
		time_t		 exp;
		char		 err[160];
		static const char body[] = "{\"access_token\":\"0123456789abcdef"
		    "\",\"expires_in\":\"60\"}";

		buf_init(&tok, 8);
		assert_int_equal(cosmos_parse_imds_token(body, strlen(body), NOW,
		    &tok, &exp, err, sizeof(err)), -1);
		assert_int_equal(tok.len, 0);
		assert_int_equal(exp, 0);
		buf_free(&tok);
	}
}

static void
test_parse_imds_error(void **state)
{
	static const struct {
		int		 line;
		const char	*body, *want;
	} rows[] = {
		{ __LINE__, "{\"error\":\"invalid_request\",\"error_description\":"
		    "\"Required metadata header not specified\"}",
		    "invalid_request: Required metadata header not specified" },
		{ __LINE__, "{\"error\":\"invalid_resource\",\"error_description\":"
		    "\"AADSTS500011: The resource principal named x was not "
		    "found\"}", "invalid_resource: AADSTS500011: The resource "
		    "principal named x was not found" },
		{ __LINE__, "{\"error\":\"invalid_request\"}", "invalid_request" },
		{ __LINE__, "{\"error_description\":\"Identity not found\"}",
		    "Identity not found" },
		{ __LINE__, "{\"error\":7}", "" },
		{ __LINE__, "Bad Request", "" },
		{ __LINE__, "", "" },
	};
	char	 out[128], tiny[8];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(out, 'Z', sizeof(out));
		cosmos_parse_imds_error(rows[i].body, strlen(rows[i].body), out,
		    sizeof(out));
		if (strcmp(out, rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "got '%s'", out);
	}
	cosmos_parse_imds_error(rows[0].body, strlen(rows[0].body), tiny,
	    sizeof(tiny));
	assert_string_equal(tiny, "invalid");
}

static void
test_parse_instance(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		int		 rc;
		const char	*vm_id, *name;
	} rows[] = {
		/* /metadata/instance/compute, trimmed. */
		{ __LINE__, "{\"azEnvironment\":\"AzurePublicCloud\",\"location\":"
		    "\"westeurope\",\"name\":\"candidates-vmss_3\",\"vmId\":"
		    "\"02aab8a4-74ef-476e-8182-f6d2ba4166a6\",\"zone\":\"2\"}", 0,
		    "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "candidates-vmss_3" },
		/* /metadata/instance: the same under "compute". */
		{ __LINE__, "{\"compute\":{\"name\":\"vm0\",\"vmId\":"
		    "\"02AAB8A4-74EF-476E-8182-F6D2BA4166A6\"},\"network\":{}}", 0,
		    "02AAB8A4-74EF-476E-8182-F6D2BA4166A6", "vm0" },
		{ __LINE__, "{\"name\":\"only.name\"}", 0, "", "only.name" },
		{ __LINE__, "{\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166a6\","
		    "\"name\":\"bad name\"}", 0,
		    "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "" },
		{ __LINE__, "{\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166a\","
		    "\"name\":\"n\"}", 0, "", "n" },
		{ __LINE__, "{\"vmId\":\"02aab8a4x74ef-476e-8182-f6d2ba4166a6\"}",
		    -1, "", "" },
		{ __LINE__, "{\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166g6\"}",
		    -1, "", "" },
		{ __LINE__, "{\"name\":\"\\u0000x\"}", -1, "", "" },
		{ __LINE__, "{\"name\":\"a\\nb\"}", -1, "", "" },
		{ __LINE__, "{\"compute\":\"vm0\",\"name\":\"vm0\"}", -1, "", "" },
		{ __LINE__, "{\"name\":5}", -1, "", "" },
		{ __LINE__, "{}", -1, "", "" },
		{ __LINE__, "not json", -1, "", "" },
	};
	char	 body[256];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cosmos_instance	 inst;

		memset(&inst, 'Z', sizeof(inst));
		if (cosmos_parse_instance(rows[i].body, strlen(rows[i].body),
		    &inst) != rows[i].rc ||
		    strcmp(inst.vm_id, rows[i].vm_id) != 0 ||
		    strcmp(inst.name, rows[i].name) != 0)
			ROW_FAIL(rows[i].line, "got '%s' '%s'", inst.vm_id,
			    inst.name);
	}
	/* A name longer than the field is refused, not cut. */
	{
		struct cosmos_instance	 inst;
		char			 name[sizeof(inst.name) + 1];

		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
		assert_int_equal(cosmos_parse_instance(body, strlen(body), &inst),
		    -1);
		name[sizeof(inst.name) - 1] = '\0';
		snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
		assert_int_equal(cosmos_parse_instance(body, strlen(body), &inst),
		    0);
		assert_int_equal(strlen(inst.name), sizeof(inst.name) - 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_item_body),
		cmocka_unit_test(test_partition_key),
		cmocka_unit_test(test_parse_item),
		cmocka_unit_test(test_parse_page),
		cmocka_unit_test(test_continuation_ok),
		cmocka_unit_test(test_header_num),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_item_missing),
		cmocka_unit_test(test_imds_token_path),
		cmocka_unit_test(test_parse_imds_token),
		cmocka_unit_test(test_parse_imds_error),
		cmocka_unit_test(test_parse_instance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
