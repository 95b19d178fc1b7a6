/*
 * What DynamoDB (or anything pretending to be it on the network) answers:
 * the bodies of Query, PutItem and Scan answers, error answers and the
 * Date header, through the pure parsers store_dynamodb.c uses. Beyond
 * memory errors and leaks, each input checks that a parser says GARBAGE
 * rather than half-succeeding, that a Scan hands over exactly the names
 * of its Items, each readable to its last byte, and stops when asked, and
 * that error fields stay terminated within their arrays.
 *
 * Input: which parser, a parameter byte, a second one, then the body.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "stores/dynamodb/dynamo_wire.h"
#include "fuzz.h"

struct seen {
	size_t		 calls;
	size_t		 stop_at;	/* ask to stop at this call */
	unsigned	 sum;		/* every byte read, for ASan */
};

static int
count_name(void *arg, const char *name, size_t len)
{
	struct seen	*s = arg;
	size_t		 i;

	CHECK(name != NULL, "NULL name");
	for (i = 0; i < len; i++)
		s->sum += (unsigned char)name[i];
	return ++s->calls == s->stop_at;
}

/* The number of Items the body holds, read the loose way; -1 if none. */
static long
items_in(const char *body, size_t len)
{
	struct json_object	*o, *items;
	long			 n = -1;

	if ((o = json_tokener_parse(body)) == NULL || strlen(body) != len)
		;
	else if (json_object_object_get_ex(o, "Items", &items) &&
	    json_object_is_type(items, json_type_array))
		n = (long)json_object_array_length(items);
	json_object_put(o);
	return n;
}

/* json-c on exactly n bytes, nothing after the value. */
static struct json_object *
json_tokener_parse_ex_len(const char *p, size_t n)
{
	struct json_tokener	*tok = json_tokener_new();
	struct json_object	*o = NULL;

	if (tok == NULL || n > 1 << 20)
		goto out;
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n)) {
		json_object_put(o);
		o = NULL;
	}
out:
	if (tok != NULL)
		json_tokener_free(tok);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dynamo_error	 e;
	const char		*next = NULL;
	size_t			 nextlen = 0;
	struct json_object	*key;
	struct seen		 s = { 0, 0, 0 };
	enum dynamo_parse	 p;
	enum dynamo_verdict	 v;
	char			 err[256], *body;
	size_t			 len;
	long			 off, items;
	int			 found = -1;

	if (size < 3)
		return 0;
	len = size - 3;
	/* A copy of exactly len bytes (plus a NUL for the loose oracle). */
	if ((body = malloc(len + 1)) == NULL)
		return 0;
	memcpy(body, data + 3, len);
	body[len] = '\0';
	memset(err, 'Z', sizeof(err));
	err[sizeof(err) - 1] = '\0';

	switch (data[0] % 5) {
	case 0:
		p = dynamo_parse_count(body, len, &found, err, sizeof(err));
		CHECK(p == DYNAMO_PARSED || p == DYNAMO_GARBAGE, "count %d", p);
		CHECK(found == 0 || (found == 1 && p == DYNAMO_PARSED),
		    "found %d with %d", found, p);
		break;
	case 1:
		p = dynamo_parse_put(body, len, err, sizeof(err));
		CHECK(p == DYNAMO_PARSED || p == DYNAMO_GARBAGE, "put %d", p);
		break;
	case 2:
		s.stop_at = data[1];	/* 0: never */
		p = dynamo_parse_scan(body, len, count_name, &s, &next,
		    &nextlen, err, sizeof(err));
		CHECK(next == NULL || p == DYNAMO_PARSED, "key with %d", p);
		/* The key's text, sent back as it is, is a JSON object. */
		if (next != NULL) {
			CHECK(next >= body && next + nextlen <= body + len,
			    "key outside the page");
			key = json_tokener_parse_ex_len(next, nextlen);
			CHECK(key != NULL && json_object_is_type(key,
			    json_type_object), "LastEvaluatedKey not an object");
			json_object_put(key);
		}
		CHECK((p == DYNAMO_STOPPED) == (s.stop_at != 0 &&
		    s.calls == s.stop_at), "stopped %d after %zu of %zu", p,
		    s.calls, s.stop_at);
		if (p == DYNAMO_PARSED) {
			items = items_in(body, len);
			CHECK(items < 0 || (size_t)items == s.calls,
			    "%zu names from %ld items", s.calls, items);
		}
		break;
	case 3:
		memset(&e, 'Z', sizeof(e));
		dynamo_parse_error(body, len, &e);
		CHECK(memchr(e.type, '\0', sizeof(e.type)) != NULL &&
		    memchr(e.message, '\0', sizeof(e.message)) != NULL,
		    "error fields not terminated");
		v = dynamo_classify((long)data[1] * 4 + data[2] % 4, &e);
		CHECK(v >= DYNAMO_RETRY && v <= DYNAMO_BROKEN, "verdict %d", v);
		break;
	default:
		/* The Date header is a C string: stop at its first NUL. */
		if (dynamo_clock_offset(body, (time_t)data[1] << 24, &off) != 0)
			CHECK(off == 0, "offset %ld on failure", off);
		break;
	}
	CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err not terminated");
	free(body);
	return 0;
}
