#include "dynamo_wire.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* DynamoDB's answers nest five deep; more is not DynamoDB. */
#define PARSE_DEPTH	16

/* Serialises obj (which it then releases) into b, compactly. */
static int
emit(struct buf *b, struct json_object *obj)
{
	const char	*s;
	size_t		 n = 0;
	int		 rc;

	if (obj == NULL)
		return -1;
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	rc = s == NULL ? -1 : buf_add(b, s, n);
	json_object_put(obj);
	return rc;
}

/* Adds key: val to o, releasing val if that fails. */
static int
put(struct json_object *o, const char *key, struct json_object *val)
{
	if (val == NULL)
		return -1;
	if (json_object_object_add(o, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

/* {"S": name}: json-c escapes whatever bytes the name holds. */
static struct json_object *
attr_s(const char *name, size_t len)
{
	struct json_object	*o;

	if (len > INT_MAX || (o = json_object_new_object()) == NULL)
		return NULL;
	if (put(o, "S", json_object_new_string_len(name, (int)len)) == -1) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* {key: {"S": name}} */
static struct json_object *
named(const char *key, const char *name, size_t len)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (put(o, key, attr_s(name, len)) == -1) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
dynamo_query_body(struct buf *b, const char *table, const char *name,
    size_t len)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	/*
	 * ConsistentRead: a client that POSTs and then GETs through the
	 * load balancer may reach another instance, and must see its write.
	 */
	if (put(o, "TableName", json_object_new_string(table)) == -1 ||
	    put(o, "KeyConditionExpression",
	    json_object_new_string(DYNAMO_KEY " = :n")) == -1 ||
	    put(o, "ExpressionAttributeValues", named(":n", name, len)) == -1 ||
	    put(o, "ConsistentRead", json_object_new_boolean(1)) == -1 ||
	    put(o, "Select", json_object_new_string("COUNT")) == -1) {
		json_object_put(o);
		return -1;
	}
	return emit(b, o);
}

int
dynamo_put_body(struct buf *b, const char *table, const char *name,
    size_t len)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	if (put(o, "TableName", json_object_new_string(table)) == -1 ||
	    put(o, "Item", named(DYNAMO_KEY, name, len)) == -1) {
		json_object_put(o);
		return -1;
	}
	return emit(b, o);
}

int
dynamo_scan_body(struct buf *b, const char *table, struct json_object *start)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	/* Consistent for the same reason as get; only the key is read. */
	if (put(o, "TableName", json_object_new_string(table)) == -1 ||
	    put(o, "ProjectionExpression",
	    json_object_new_string(DYNAMO_KEY)) == -1 ||
	    put(o, "ConsistentRead", json_object_new_boolean(1)) == -1 ||
	    (start != NULL && put(o, "ExclusiveStartKey",
	    json_object_get(start)) == -1)) {
		json_object_put(o);
		return -1;
	}
	return emit(b, o);
}

/*
 * The whole of body as one JSON object, strictly: nothing after it, valid
 * UTF-8 throughout. NULL with the reason in err otherwise.
 */
static struct json_object *
parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (body == NULL || len > INT_MAX) {
		snprintf(err, errlen, "no answer body");
		return NULL;
	}
	if ((tok = json_tokener_new_ex(PARSE_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "answer is not a JSON object (%s)",
		    o == NULL || json_tokener_get_error(tok) !=
		    json_tokener_success ? json_tokener_error_desc(
		    json_tokener_get_error(tok)) : "wrong type or trailing "
		    "bytes");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

enum dynamo_parse
dynamo_parse_count(const char *body, size_t len, int *found, char *err,
    size_t errlen)
{
	struct json_object	*o, *v;
	enum dynamo_parse	 rc = DYNAMO_GARBAGE;

	*found = 0;
	if ((o = parse_object(body, len, err, errlen)) == NULL)
		return DYNAMO_GARBAGE;
	if (!json_object_object_get_ex(o, "Count", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		snprintf(err, errlen, "Query answer has no Count");
	else {
		*found = json_object_get_int64(v) > 0;
		rc = DYNAMO_PARSED;
	}
	json_object_put(o);
	return rc;
}

enum dynamo_parse
dynamo_parse_put(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_object	*o;

	if ((o = parse_object(body, len, err, errlen)) == NULL)
		return DYNAMO_GARBAGE;
	json_object_put(o);
	return DYNAMO_PARSED;
}

enum dynamo_parse
dynamo_parse_scan(const char *body, size_t len, store_name_fn fn, void *ctx,
    struct json_object **next, char *err, size_t errlen)
{
	struct json_object	*o, *items, *lek = NULL;
	enum dynamo_parse	 rc = DYNAMO_GARBAGE;
	size_t			 i, n;

	*next = NULL;
	if ((o = parse_object(body, len, err, errlen)) == NULL)
		return DYNAMO_GARBAGE;
	if (!json_object_object_get_ex(o, "Items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		snprintf(err, errlen, "Scan answer has no Items");
		goto out;
	}
	if (json_object_object_get_ex(o, "LastEvaluatedKey", &lek) &&
	    !json_object_is_type(lek, json_type_object)) {
		snprintf(err, errlen, "Scan answer has a bad LastEvaluatedKey");
		goto out;
	}
	n = json_object_array_length(items);
	for (i = 0; i < n; i++) {
		struct json_object *item, *attr, *s;

		item = json_object_array_get_idx(items, i);
		if (!json_object_is_type(item, json_type_object) ||
		    !json_object_object_get_ex(item, DYNAMO_KEY, &attr) ||
		    !json_object_is_type(attr, json_type_object) ||
		    !json_object_object_get_ex(attr, "S", &s) ||
		    !json_object_is_type(s, json_type_string)) {
			snprintf(err, errlen, "Scan item %zu has no string "
			    DYNAMO_KEY, i);
			goto out;
		}
		if (fn(ctx, json_object_get_string(s),
		    (size_t)json_object_get_string_len(s)) != 0) {
			snprintf(err, errlen, "listing stopped by its reader");
			rc = DYNAMO_STOPPED;
			goto out;
		}
	}
	*next = lek != NULL ? json_object_get(lek) : NULL;
	rc = DYNAMO_PARSED;
out:
	json_object_put(o);
	return rc;
}

static void
copy_str(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
dynamo_parse_error(const char *body, size_t len, struct dynamo_error *e)
{
	struct json_object	*o, *v;
	char			 ignored[64];
	const char		*s, *hash;
	size_t			 n;

	e->type[0] = e->message[0] = '\0';
	if ((o = parse_object(body, len, ignored, sizeof(ignored))) == NULL)
		return;
	if (json_object_object_get_ex(o, "__type", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		/* "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" */
		if ((hash = memchr(s, '#', n)) != NULL) {
			n -= (size_t)(hash + 1 - s);
			s = hash + 1;
		}
		copy_str(e->type, sizeof(e->type), s, n);
	}
	if ((json_object_object_get_ex(o, "message", &v) ||
	    json_object_object_get_ex(o, "Message", &v)) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		/*
		 * AWS may append the canonical request it expected, security
		 * token included, after a blank line: the message is the log
		 * line, so it ends at the first line break.
		 */
		n = strcspn(s, "\r\n") < n ? strcspn(s, "\r\n") : n;
		if ((hash = strstr(s, "The Canonical String")) != NULL &&
		    (size_t)(hash - s) < n)
			n = (size_t)(hash - s);
		while (n > 0 && s[n - 1] == ' ')
			n--;
		copy_str(e->message, sizeof(e->message), s, n);
	}
	json_object_put(o);
}

static int
one_of(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

enum dynamo_verdict
dynamo_classify(long status, const struct dynamo_error *e)
{
	/* The SDKs' throttling and transient error codes. */
	static const char *const throttling[] = {
		"ThrottlingException", "Throttling",
		"ProvisionedThroughputExceededException",
		"RequestLimitExceeded", "RequestThrottled",
		"RequestThrottledException", "TooManyRequestsException",
		"ThrottledException", "SlowDown", "BandwidthLimitExceeded",
		"TransactionInProgressException", NULL,
	};
	static const char *const transient[] = {
		"RequestTimeout", "RequestTimeoutException",
		"PriorRequestNotComplete", "InternalServerError",
		"ServiceUnavailable", NULL,
	};
	static const char *const skew[] = {
		"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
		NULL,
	};

	if (one_of(e->type, throttling) || status == 429)
		return DYNAMO_THROTTLED;
	if (status >= 500 && status <= 599)
		return DYNAMO_RETRY;
	if (status < 400 || status > 499)
		return DYNAMO_BROKEN;
	if (one_of(e->type, transient))
		return DYNAMO_RETRY;
	/*
	 * DynamoDB says "Signature expired: 20240101T000000Z is now earlier
	 * than ..." or "Signature not yet current: ..." for a clock that is
	 * off by more than five minutes.
	 */
	if (one_of(e->type, skew) ||
	    (strcmp(e->type, "InvalidSignatureException") == 0 &&
	    (strstr(e->message, "Signature expired") != NULL ||
	    strstr(e->message, "Signature not yet current") != NULL)))
		return DYNAMO_SKEWED;
	if (strcmp(e->type, "ExpiredTokenException") == 0)
		return DYNAMO_EXPIRED_TOKEN;
	return DYNAMO_REFUSED;
}

int
dynamo_clock_offset(const char *date, time_t now, long *offset)
{
	struct tm	 tm;
	const char	*end;
	time_t		 t;

	*offset = 0;
	memset(&tm, 0, sizeof(tm));
	if (date == NULL ||
	    (end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL ||
	    *end != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	*offset = (long)(t - now);
	return 0;
}
