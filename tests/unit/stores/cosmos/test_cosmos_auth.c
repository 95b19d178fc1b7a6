/*
 * Cosmos DB's master-key signature and Authorization values, checked
 * against two independent oracles: the example of the REST reference
 * ("Access control in the Azure Cosmos DB SQL API", section "Constructing
 * the hashed token signature for a master token"), and @azure/cosmos
 * 4.9.3's own signer (generateHeaders in dist/commonjs/utils/headers.js)
 * and Node's Date.toUTCString, which the SDK sends as x-ms-date. The rows
 * marked "SDK" were printed by tests/unit/stores/cosmos/cosmos_vectors.js.
 */
#include "unit.h"

#include <stdlib.h>
#include <strings.h>

#include "stores/cosmos/cosmos_auth.h"

/* The documentation's example key (not a real account's). */
#define DOCS_KEY "dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8" \
	"/ufDToSxLzR4y+O/0H/t4bQtVNw=="
/* SDK: bytes (i * 37 + 11) & 0xff for i in 0..63, base64. */
#define KEY_A "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJn" \
	"jLHW+yBFao+02f4jSG2St9wBJg=="
/* SDK: a key of the shape Azure hands out (64 random bytes). */
#define KEY_B "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mG" \
	"GyPMbIZnqyMsEcaGQy67XIw/Jw=="
#define LINK "dbs/CandidateDatabase/colls/Candidates"
#define MASTER "type%3Dmaster%26ver%3D1.0%26sig%3D"

static void
key_from(struct cosmos_key *k, const char *b64)
{
	assert_int_equal(cosmos_key_decode(k, b64, strlen(b64)), 0);
}

/*
 * The documentation's worked example, step by step. Its output uses
 * lower-case escapes (.NET's UrlEncode); the SDK's and ours are upper
 * case, which the service decodes alike.
 */
static void
test_docs_example(void **state)
{
	static const char want_sts[] =
	    "get\ndbs\ndbs/ToDoList\nthu, 27 apr 2017 00:51:12 gmt\n\n";
	static const char docs_auth[] = "type%3dmaster%26ver%3d1.0%26sig%3d"
	    "c09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2bc%2bc%3d";
	struct cosmos_key	 k;
	struct buf		 b;
	char			 date[COSMOS_DATE_SIZE];

	(void)state;
	assert_int_equal(cosmos_format_date(1493254272, date), 0);
	assert_string_equal(date, "Thu, 27 Apr 2017 00:51:12 GMT");
	buf_init(&b, 4096);
	assert_int_equal(cosmos_string_to_sign(&b, "GET", "dbs",
	    "dbs/ToDoList", 12, date), 0);
	assert_string_equal(b.data, want_sts);
	buf_reset(&b);
	key_from(&k, DOCS_KEY);
	assert_int_equal(k.len, 64);
	assert_int_equal(cosmos_auth_master(&b, &k, "GET", "dbs",
	    "dbs/ToDoList", 12, date), 0);
	assert_int_equal(b.len, strlen(docs_auth));
	assert_int_equal(strcasecmp(b.data, docs_auth), 0);
	/* Only the escapes differ in case: the signature's letters do not. */
	assert_non_null(strstr(b.data, "c09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHy"));
	cosmos_key_wipe(&k);
	buf_free(&b);
}

/* SDK: generateHeaders(key, verb, type, link, new Date(t * 1000)). */
static void
test_master_vectors(void **state)
{
	static const struct {
		int		 line;
		const char	*verb, *type, *link, *key;
		long long	 t;
		const char	*date, *auth;
	} rows[] = {
		{ __LINE__, "GET", "dbs", "dbs/ToDoList", DOCS_KEY, 1493254272,
		    "Thu, 27 Apr 2017 00:51:12 GMT",
		    MASTER "c09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2Bc%2Bc%3D" },
		{ __LINE__, "GET", "docs", LINK "/docs/Ada Lovelace", KEY_A,
		    1700000000, "Tue, 14 Nov 2023 22:13:20 GMT",
		    MASTER "W2f6zhqFp0yWQrXg0Zu46QcadZOaIdqlZ%2BgS%2BJSZVhk%3D" },
		{ __LINE__, "POST", "docs", LINK, KEY_A, 1700000000,
		    "Tue, 14 Nov 2023 22:13:20 GMT",
		    MASTER "gXjvZKBqEcc6%2FsMqL19Sj8mb3x4QXBTgS6Xllu75za0%3D" },
		{ __LINE__, "POST", "docs", LINK, KEY_B, 1700000001,
		    "Tue, 14 Nov 2023 22:13:21 GMT",
		    MASTER "sRs9JX94hFLpgRDXOMphXU2ggZQoONWnR2YcK6UfV6s%3D" },
		/* The link holds the id as it is, UTF-8 and all. */
		{ __LINE__, "GET", "docs",
		    LINK "/docs/\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", KEY_B,
		    1735689599, "Tue, 31 Dec 2024 23:59:59 GMT",
		    MASTER "YAVh3W5rCHaOuSE%2BrbxaTSE9zDLPGQiYdtvzG9j0xmI%3D" },
		/* Signed decoded: "%20" here is three characters of the id. */
		{ __LINE__, "GET", "docs", LINK "/docs/a+b=c&d%20e", KEY_A,
		    946684800, "Sat, 01 Jan 2000 00:00:00 GMT",
		    MASTER "lm%2FUMoYUTecTq7NpV7p8RgRHYgHhTxtu55u6jv10ArE%3D" },
		{ __LINE__, "GET", "docs", LINK "/docs/\"quoted\" <x>", KEY_B,
		    2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT",
		    MASTER "juifCO7XN77IBgfmKsbkMsNuRGlSJCt0p4epaBIGmtE%3D" },
		/* NULL link: the id of 255 'n', built below. */
		{ __LINE__, "GET", "docs", NULL, KEY_A, 4102444800LL,
		    "Fri, 01 Jan 2100 00:00:00 GMT",
		    MASTER "kveExypBeXkZ34I9tXJwkQW%2BnOvC99d59FfgTwi4T0s%3D" },
		{ __LINE__, "GET", "colls", LINK, KEY_B, 1234567890,
		    "Fri, 13 Feb 2009 23:31:30 GMT",
		    MASTER "gMCoF%2Bfv%2Fhx%2F2I3Sq7A4GVpnIt1GJtjpDq%2Fskv9miME%3D" },
		{ __LINE__, "POST", "dbs", "", KEY_A, 1234567890,
		    "Fri, 13 Feb 2009 23:31:30 GMT",
		    MASTER "lD2ikQPKNoNE1Cmvf7vRWasWxgNfMzYKyeJjJmpzR3Y%3D" },
		{ __LINE__, "GET", "", "", KEY_B, 1234567890,
		    "Fri, 13 Feb 2009 23:31:30 GMT",
		    MASTER "vB37GvmShulI%2BQ1%2BBNl7O9oFnGRXmKArOJwwwgp08%2Bs%3D" },
		/* The verb is lowered for signing; the link keeps its case. */
		{ __LINE__, "PUT", "docs", LINK "/docs/MixedCase", KEY_A,
		    31622400, "Sat, 02 Jan 1971 00:00:00 GMT",
		    MASTER "EYsmLq6zSKMoRkpKkhRiXwv%2FNQy802mXHNsC%2FymKHFw%3D" },
	};
	char	 longlink[sizeof(LINK "/docs/") + 255];
	size_t	 i;

	(void)state;
	memcpy(longlink, LINK "/docs/", sizeof(LINK "/docs/") - 1);
	memset(longlink + sizeof(LINK "/docs/") - 1, 'n', 255);
	longlink[sizeof(longlink) - 1] = '\0';
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char		*link = rows[i].link ? rows[i].link :
			    longlink;
		struct cosmos_key	 k;
		struct buf		 b;
		char			 date[COSMOS_DATE_SIZE];

		if (cosmos_key_decode(&k, rows[i].key, strlen(rows[i].key)) != 0)
			ROW_FAIL(rows[i].line, "key does not decode");
		if (cosmos_format_date((time_t)rows[i].t, date) != 0 ||
		    strcmp(date, rows[i].date) != 0)
			ROW_FAIL(rows[i].line, "date '%s'", date);
		buf_init(&b, 4096);
		if (cosmos_auth_master(&b, &k, rows[i].verb, rows[i].type, link,
		    strlen(link), date) != 0)
			ROW_FAIL(rows[i].line, "signing failed");
		if (strcmp(b.data, rows[i].auth) != 0)
			ROW_FAIL(rows[i].line, "got %s", b.data);
		/* Appends: what was in the buffer stays in front. */
		buf_reset(&b);
		assert_int_equal(buf_addstr(&b, "x:"), 0);
		assert_int_equal(cosmos_auth_master(&b, &k, rows[i].verb,
		    rows[i].type, link, strlen(link), date), 0);
		if (strncmp(b.data, "x:", 2) != 0 ||
		    strcmp(b.data + 2, rows[i].auth) != 0)
			ROW_FAIL(rows[i].line, "did not append: %s", b.data);
		cosmos_key_wipe(&k);
		buf_free(&b);
	}
}

/* A different key, verb, type, link or date is a different signature. */
static void
test_every_input_signed(void **state)
{
	static const struct {
		int		 line;
		const char	*verb, *type, *link, *date, *key;
	} rows[] = {
		{ __LINE__, "GET", "docs", LINK "/docs/a",
		    "Tue, 14 Nov 2023 22:13:20 GMT", KEY_A },
		{ __LINE__, "GET", "docs", LINK "/docs/a",
		    "Tue, 14 Nov 2023 22:13:20 GMT", KEY_B },
		{ __LINE__, "POST", "docs", LINK "/docs/a",
		    "Tue, 14 Nov 2023 22:13:20 GMT", KEY_A },
		{ __LINE__, "GET", "colls", LINK "/docs/a",
		    "Tue, 14 Nov 2023 22:13:20 GMT", KEY_A },
		{ __LINE__, "GET", "docs", LINK "/docs/A",
		    "Tue, 14 Nov 2023 22:13:20 GMT", KEY_A },
		{ __LINE__, "GET", "docs", LINK "/docs/a",
		    "Tue, 14 Nov 2023 22:13:21 GMT", KEY_A },
	};
	char	 seen[sizeof(rows) / sizeof(rows[0])][128];
	size_t	 i, j;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cosmos_key	 k;
		struct buf		 b;

		key_from(&k, rows[i].key);
		buf_init(&b, 128);
		if (cosmos_auth_master(&b, &k, rows[i].verb, rows[i].type,
		    rows[i].link, strlen(rows[i].link), rows[i].date) != 0)
			ROW_FAIL(rows[i].line, "signing failed");
		snprintf(seen[i], sizeof(seen[i]), "%s", b.data);
		for (j = 0; j < i; j++)
			if (strcmp(seen[i], seen[j]) == 0)
				ROW_FAIL(rows[i].line, "same as row %d",
				    rows[j].line);
		cosmos_key_wipe(&k);
		buf_free(&b);
	}
	/* Case does not matter where the signature lowers it. */
	{
		struct cosmos_key	 k;
		struct buf		 a, b;

		key_from(&k, KEY_A);
		buf_init(&a, 128);
		buf_init(&b, 128);
		assert_int_equal(cosmos_auth_master(&a, &k, "get", "DOCS",
		    "x", 1, "TUE, 14 NOV 2023 22:13:20 GMT"), 0);
		assert_int_equal(cosmos_auth_master(&b, &k, "GET", "docs",
		    "x", 1, "Tue, 14 Nov 2023 22:13:20 GMT"), 0);
		assert_string_equal(a.data, b.data);
		cosmos_key_wipe(&k);
		buf_free(&a);
		buf_free(&b);
	}
}

/* Node's Date.toUTCString, which @azure/cosmos sends as x-ms-date. */
static void
test_dates(void **state)
{
	static const struct {
		int		 line;
		long long	 t;
		const char	*date;
	} rows[] = {
		{ __LINE__, 0LL, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ __LINE__, 1LL, "Thu, 01 Jan 1970 00:00:01 GMT" },
		{ __LINE__, 59LL, "Thu, 01 Jan 1970 00:00:59 GMT" },
		{ __LINE__, 86399LL, "Thu, 01 Jan 1970 23:59:59 GMT" },
		{ __LINE__, 951782400LL, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ __LINE__, 951868799LL, "Tue, 29 Feb 2000 23:59:59 GMT" },
		{ __LINE__, 1234567890LL, "Fri, 13 Feb 2009 23:31:30 GMT" },
		{ __LINE__, 1493254272LL, "Thu, 27 Apr 2017 00:51:12 GMT" },
		{ __LINE__, 1700000000LL, "Tue, 14 Nov 2023 22:13:20 GMT" },
		{ __LINE__, 2147483647LL, "Tue, 19 Jan 2038 03:14:07 GMT" },
		{ __LINE__, 2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT" },
		{ __LINE__, 4102444799LL, "Thu, 31 Dec 2099 23:59:59 GMT" },
		{ __LINE__, 253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
		{ __LINE__, -1LL, "Wed, 31 Dec 1969 23:59:59 GMT" },
		{ __LINE__, -86400LL, "Wed, 31 Dec 1969 00:00:00 GMT" },
		{ __LINE__, -2208988800LL, "Mon, 01 Jan 1900 00:00:00 GMT" },
		{ __LINE__, -30610224000LL, "Wed, 01 Jan 1000 00:00:00 GMT" },
	};
	char	 date[COSMOS_DATE_SIZE];
	time_t	 back;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (cosmos_format_date((time_t)rows[i].t, date) != 0 ||
		    strcmp(date, rows[i].date) != 0)
			ROW_FAIL(rows[i].line, "formatted '%s'", date);
		if (cosmos_parse_date(rows[i].date, strlen(rows[i].date),
		    &back) != 0 || back != (time_t)rows[i].t)
			ROW_FAIL(rows[i].line, "parsed back as %lld",
			    (long long)back);
	}
	/* Outside four-digit years there is no such date: refused. */
	assert_int_equal(cosmos_format_date((time_t)253402300800LL, date), -1);
	assert_string_equal(date, "");
	assert_int_equal(cosmos_format_date((time_t)-30610224001LL, date), -1);
}

/* Every day of 1900..2200 at a changing second survives the round trip. */
static void
test_dates_round_trip(void **state)
{
	char	 date[COSMOS_DATE_SIZE];
	time_t	 t, back;

	(void)state;
	for (t = (time_t)-2208988800LL; t < (time_t)7258118400LL;
	    t += 86400 + 3607) {
		assert_int_equal(cosmos_format_date(t, date), 0);
		assert_int_equal(cosmos_parse_date(date, strlen(date), &back), 0);
		if (back != t)
			fail_msg("%s parsed as %lld, not %lld", date,
			    (long long)back, (long long)t);
	}
}

static void
test_parse_date_refuses(void **state)
{
	static const struct {
		int		 line;
		const char	*s;
	} rows[] = {
		{ __LINE__, "" },
		{ __LINE__, "Thu, 27 Apr 2017 00:51:12 GM" },
		{ __LINE__, "Thu, 27 Apr 2017 00:51:12 GMT " },
		{ __LINE__, "thu, 27 apr 2017 00:51:12 gmt" },
		{ __LINE__, "Thu, 27 Apr 2017 00:51:12 UTC" },
		{ __LINE__, "Thu 27 Apr 2017 00:51:12 GMT " },
		{ __LINE__, "Thu, 27-Apr-2017 00:51:12 GMT" },
		{ __LINE__, "Fri, 27 Apr 2017 00:51:12 GMT" },	/* a Thursday */
		{ __LINE__, "Thu, 27 Avr 2017 00:51:12 GMT" },
		{ __LINE__, "Thu, 00 Apr 2017 00:51:12 GMT" },
		{ __LINE__, "Sat, 31 Apr 2017 00:51:12 GMT" },	/* 1 May */
		{ __LINE__, "Thu, 29 Feb 2001 00:51:12 GMT" },
		{ __LINE__, "Thu, 27 Apr 2017 24:00:00 GMT" },
		{ __LINE__, "Thu, 27 Apr 2017 00:60:00 GMT" },
		{ __LINE__, "Thu, 27 Apr 2017 00:51:60 GMT" },
		{ __LINE__, "Thu, 27 Apr 2017 0x:51:12 GMT" },
		{ __LINE__, "Thu, 27 Apr 0999 00:51:12 GMT" },
		{ __LINE__, "Thursday, 27-Apr-17 00:51:12 GMT" },
		{ __LINE__, "Thu Apr 27 00:51:12 2017" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t	 t = 12345;

		if (cosmos_parse_date(rows[i].s, strlen(rows[i].s), &t) != -1 ||
		    t != 0)
			ROW_FAIL(rows[i].line, "accepted as %lld", (long long)t);
	}
	/* The length decides: a NUL inside is not the end. */
	{
		time_t	 t;

		assert_int_equal(cosmos_parse_date("Thu, 27 Apr 2017 00:51:12 "
		    "G\0T", 29, &t), -1);
	}
}

static void
test_key_decode(void **state)
{
	static const struct {
		int		 line;
		const char	*b64;
		int		 rc;
		const char	*bytes;
		size_t		 len;
	} rows[] = {
		{ __LINE__, "TWFu", 0, "Man", 3 },
		{ __LINE__, "TWE=", 0, "Ma", 2 },
		{ __LINE__, "TQ==", 0, "M", 1 },
		{ __LINE__, "AAAA", 0, "\0\0\0", 3 },
		{ __LINE__, "+/+/", 0, "\xfb\xff\xbf", 3 },
		{ __LINE__, "", -1, NULL, 0 },
		{ __LINE__, "TWF", -1, NULL, 0 },
		{ __LINE__, "TWFuT", -1, NULL, 0 },
		{ __LINE__, "TW=u", -1, NULL, 0 },
		{ __LINE__, "T===", -1, NULL, 0 },
		{ __LINE__, "====", -1, NULL, 0 },
		{ __LINE__, "TWFu\n", -1, NULL, 0 },
		{ __LINE__, " TWFu", -1, NULL, 0 },
		{ __LINE__, "TW Fu", -1, NULL, 0 },
		{ __LINE__, "TWF-", -1, NULL, 0 },	/* base64url */
		{ __LINE__, "TWF_", -1, NULL, 0 },
		{ __LINE__, "TWFu=", -1, NULL, 0 },
	};
	struct cosmos_key	 k;
	char			 big[4 * (COSMOS_KEY_MAX / 3 + 2) + 1];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&k, 0xaa, sizeof(k));
		if (cosmos_key_decode(&k, rows[i].b64, strlen(rows[i].b64)) !=
		    rows[i].rc)
			ROW_FAIL(rows[i].line, "rc");
		if (rows[i].rc == 0 && (k.len != rows[i].len ||
		    memcmp(k.bytes, rows[i].bytes, k.len) != 0))
			ROW_FAIL(rows[i].line, "decoded %zu bytes wrong", k.len);
		if (rows[i].rc == -1) {
			size_t j;

			/* A refused key leaves nothing behind. */
			for (j = 0; j < sizeof(k.bytes); j++)
				if (k.bytes[j] != 0)
					ROW_FAIL(rows[i].line, "byte %zu left", j);
			if (k.len != 0)
				ROW_FAIL(rows[i].line, "len %zu left", k.len);
		}
	}
	/* The documentation's and Azure's keys: 88 characters, 64 bytes. */
	key_from(&k, KEY_B);
	assert_int_equal(k.len, 64);
	assert_int_equal(k.bytes[0], 0x0b);
	assert_int_equal(k.bytes[63], 0x27);
	cosmos_key_wipe(&k);
	for (i = 0; i < sizeof(k.bytes); i++)
		assert_int_equal(k.bytes[i], 0);
	assert_int_equal(k.len, 0);
	/* The longest key fits; one group more is refused, not truncated. */
	memset(big, 'A', sizeof(big));
	assert_int_equal(cosmos_key_decode(&k, big, COSMOS_KEY_MAX / 3 * 4), 0);
	assert_int_equal(k.len, COSMOS_KEY_MAX / 3 * 3);
	assert_int_equal(cosmos_key_decode(&k, big, (COSMOS_KEY_MAX / 3 + 2) *
	    4), -1);
	assert_int_equal(cosmos_key_decode(&k, NULL, 4), -1);
}

/* SDK: encodeURIComponent("type=aad&ver=1.0&sig=" + token). */
static void
test_aad(void **state)
{
	static const struct {
		int		 line;
		const char	*token, *auth;
	} rows[] = {
		{ __LINE__, "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2Nvc21vcy5"
		    "henVyZS5jb20ifQ.c2ln-_",
		    "type%3Daad%26ver%3D1.0%26sig%3DeyJ0eXAiOiJKV1QifQ.eyJhdWQi"
		    "OiJodHRwczovL2Nvc21vcy5henVyZS5jb20ifQ.c2ln-_" },
		{ __LINE__, "a=b&c+d/e",
		    "type%3Daad%26ver%3D1.0%26sig%3Da%3Db%26c%2Bd%2Fe" },
		{ __LINE__, "~tok.en_-", "type%3Daad%26ver%3D1.0%26sig%3D~tok.en_-" },
		/* Refused: what cannot go into a header as one token. */
		{ __LINE__, "", NULL },
		{ __LINE__, "has space", NULL },
		{ __LINE__, "line\r\nInjected: yes", NULL },
		{ __LINE__, "tab\tbed", NULL },
		{ __LINE__, "\xc3\xa9", NULL },
		{ __LINE__, "del\x7f", NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 b;
		int		 rc;

		buf_init(&b, 4096);
		rc = cosmos_auth_aad(&b, rows[i].token, strlen(rows[i].token));
		if (rows[i].auth == NULL ? rc != -1 : rc != 0 ||
		    strcmp(b.data, rows[i].auth) != 0)
			ROW_FAIL(rows[i].line, "rc %d: %s", rc,
			    b.data ? b.data : "(null)");
		buf_free(&b);
	}
	/* The length decides: a NUL inside is refused, not a cut. */
	{
		struct buf	 b;

		buf_init(&b, 4096);
		assert_int_equal(cosmos_auth_aad(&b, "ab\0cd", 5), -1);
		buf_free(&b);
	}
}

/* Bad arguments and ceilings fail; they never truncate or crash. */
static void
test_limits(void **state)
{
	struct cosmos_key	 k, none;
	struct buf		 b;
	char			 date[COSMOS_DATE_SIZE];

	(void)state;
	key_from(&k, KEY_A);
	memset(&none, 0, sizeof(none));
	assert_int_equal(cosmos_format_date(1700000000, date), 0);
	/* 30 + 44 + escapes: 87 bytes do not fit in 80. */
	buf_init(&b, 80);
	assert_int_equal(cosmos_auth_master(&b, &k, "GET", "docs", "x", 1,
	    date), -1);
	assert_null(b.data);
	buf_init(&b, 4096);
	assert_int_equal(cosmos_auth_master(&b, &none, "GET", "docs", "x", 1,
	    date), -1);
	assert_int_equal(cosmos_auth_master(&b, NULL, "GET", "docs", "x", 1,
	    date), -1);
	assert_int_equal(cosmos_auth_master(&b, &k, NULL, "docs", "x", 1,
	    date), -1);
	assert_int_equal(cosmos_auth_master(&b, &k, "GET", "docs", NULL, 1,
	    date), -1);
	assert_int_equal(cosmos_auth_master(&b, &k, "GET", "docs", "x", 1,
	    NULL), -1);
	assert_int_equal(b.len, 0);
	/* A link longer than any three ids of 255 bytes is refused. */
	{
		char *huge = malloc(8192);

		assert_non_null(huge);
		memset(huge, 'x', 8192);
		assert_int_equal(cosmos_auth_master(&b, &k, "GET", "docs", huge,
		    8192, date), -1);
		free(huge);
	}
	buf_free(&b);
	cosmos_key_wipe(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_example),
		cmocka_unit_test(test_master_vectors),
		cmocka_unit_test(test_every_input_signed),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_dates_round_trip),
		cmocka_unit_test(test_parse_date_refuses),
		cmocka_unit_test(test_key_decode),
		cmocka_unit_test(test_aad),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
