#include "dynamo_wire.h"

#include <stdio.h>
#include <string.h>

#include "cloud/json_pick.h"
#include "cloud/json_wire.h"
#include "name.h"
#include "render.h"

/*
 * The bodies of the calls on one name are written straight, in the order
 * json-c would have serialised them, with the name escaped as json-c
 * escapes it (render.h): no tree of objects built and freed per request.
 */
int
dynamo_query_body(struct buf *b, const char *table, const char *name,
    size_t len)
{
	/*
	 * ConsistentRead: a client that POSTs and then GETs through the
	 * load balancer may reach another instance, and must see its write.
	 */
	if (buf_addstr(b, "{\"TableName\":") == -1 ||
	    render_json_string(b, table, strlen(table)) == -1 ||
	    buf_addstr(b, ",\"KeyConditionExpression\":\"" DYNAMO_KEY
	    " = :n\",\"ExpressionAttributeValues\":{\":n\":{\"S\":") == -1 ||
	    render_json_string(b, name, len) == -1)
		return -1;
	return buf_addstr(b, "}},\"ConsistentRead\":true,"
	    "\"Select\":\"COUNT\"}");
}

int
dynamo_put_body(struct buf *b, const char *table, const char *name,
    size_t len)
{
	if (buf_addstr(b, "{\"TableName\":") == -1 ||
	    render_json_string(b, table, strlen(table)) == -1 ||
	    buf_addstr(b, ",\"Item\":{\"" DYNAMO_KEY "\":{\"S\":") == -1 ||
	    render_json_string(b, name, len) == -1)
		return -1;
	return buf_addstr(b, "}}}");
}

int
dynamo_scan_body(struct buf *b, const char *table, const char *start,
    size_t startlen)
{
	/* Consistent for the same reason as get; only the key is read. */
	if (buf_addstr(b, "{\"TableName\":") == -1 ||
	    render_json_string(b, table, strlen(table)) == -1 ||
	    buf_addstr(b, ",\"ProjectionExpression\":\"" DYNAMO_KEY "\","
	    "\"ConsistentRead\":true") == -1)
		return -1;
	/* The key as DynamoDB wrote it: valid JSON, json_pick made sure. */
	if (start != NULL && (buf_addstr(b, ",\"ExclusiveStartKey\":") == -1 ||
	    buf_add(b, start, startlen) == -1))
		return -1;
	return buf_add(b, "}", 1);
}

enum dynamo_parse
dynamo_parse_count(const char *body, size_t len, int *found, char *err,
    size_t errlen)
{
	struct json_object	*o, *v;
	enum dynamo_parse	 rc = DYNAMO_GARBAGE;

	*found = 0;
	if ((o = json_wire_parse(body, len, json_type_object, err,
	    errlen)) == NULL)
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

	if ((o = json_wire_parse(body, len, json_type_object, err,
	    errlen)) == NULL)
		return DYNAMO_GARBAGE;
	json_object_put(o);
	return DYNAMO_PARSED;
}

enum dynamo_parse
dynamo_parse_scan(const char *body, size_t len, store_name_fn fn, void *ctx,
    const char **next, size_t *nextlen, char *err, size_t errlen)
{
	/*
	 * Read where it lies (json_pick.h): a page holds a thousand items,
	 * and a tree of them costs megabytes. Every item must hold exactly
	 * one string CandidateName: the counts of the three levels agree.
	 */
	struct json_pick	 p[] = {
		{ .path = "Items", .kind = JSON_ARRAY },
		{ .path = "Items[]", .kind = JSON_OBJECT },
		{ .path = "Items[]." DYNAMO_KEY, .kind = JSON_OBJECT },
		{ .path = "Items[]." DYNAMO_KEY ".S", .kind = JSON_STRING,
		    .string = fn, .ctx = ctx },
		{ .path = "LastEvaluatedKey", .kind = JSON_OBJECT },
	};

	*next = NULL;
	*nextlen = 0;
	if (!utf8_valid(body, len)) {
		snprintf(err, errlen, "Scan answer is not UTF-8");
		return DYNAMO_GARBAGE;
	}
	switch (json_pick(body, len, p, sizeof(p) / sizeof(p[0]), err,
	    errlen)) {
	case JSON_PICK_OK:
		break;
	case JSON_PICK_STOPPED:
		snprintf(err, errlen, "listing stopped by its reader");
		return DYNAMO_STOPPED;
	case JSON_PICK_BAD:
		return DYNAMO_GARBAGE;
	}
	if (p[0].found != 1) {
		snprintf(err, errlen, "Scan answer has no Items");
		return DYNAMO_GARBAGE;
	}
	if (p[2].found != p[1].found || p[3].found != p[1].found) {
		snprintf(err, errlen, "a Scan item has no single string "
		    DYNAMO_KEY);
		return DYNAMO_GARBAGE;
	}
	if (p[4].found > 1) {
		snprintf(err, errlen, "Scan answer has two LastEvaluatedKeys");
		return DYNAMO_GARBAGE;
	}
	*next = p[4].raw;
	*nextlen = p[4].rawlen;
	return DYNAMO_PARSED;
}

void
dynamo_parse_error(const char *body, size_t len, struct dynamo_error *e)
{
	struct json_object	*o, *v;
	char			 ignored[64];
	const char		*s, *hash;
	size_t			 n;

	e->type[0] = e->message[0] = '\0';
	if ((o = json_wire_parse(body, len, json_type_object, ignored,
	    sizeof(ignored))) == NULL)
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
		json_wire_copy(e->type, sizeof(e->type), s, n);
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
		json_wire_copy(e->message, sizeof(e->message), s, n);
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
