/*
 * DynamoDB's JSON protocol (x-amz-json-1.0, API version 2012-08-10) for
 * the three operations the candidates service uses, which are exactly
 * those its IAM policy allows: Query, PutItem and Scan. Pure functions:
 * request bodies in, responses out, and the verdict on an error answer.
 * store_dynamodb.c does the I/O.
 */
#ifndef CANDIDATES_DYNAMO_WIRE_H
#define CANDIDATES_DYNAMO_WIRE_H

#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "store.h"

#define DYNAMO_TARGET_PREFIX	"DynamoDB_20120810."
#define DYNAMO_CONTENT_TYPE	"application/x-amz-json-1.0"
#define DYNAMO_KEY		"CandidateName"

/* A get: Query on the hash key, strongly consistent, counting only. */
int	dynamo_query_body(struct buf *, const char *table, const char *name,
	    size_t len) WARN_UNUSED;
/* A put: PutItem of {"CandidateName":{"S":name}}, the originals' item. */
int	dynamo_put_body(struct buf *, const char *table, const char *name,
	    size_t len) WARN_UNUSED;
/*
 * One page of a list: Scan of the key alone, from start, the text of the
 * last page's LastEvaluatedKey (NULL: the top).
 */
int	dynamo_scan_body(struct buf *, const char *table, const char *start,
	    size_t startlen) WARN_UNUSED;

/* What a 200 answer held. */
enum dynamo_parse {
	DYNAMO_PARSED,		/* as expected */
	DYNAMO_GARBAGE,		/* not the JSON the operation answers */
	DYNAMO_STOPPED,		/* list: the callback asked to stop */
};

/* Query with Select COUNT: *found is whether Count > 0. */
enum dynamo_parse dynamo_parse_count(const char *body, size_t len,
	    int *found, char *err, size_t errlen);
/* PutItem: any JSON object ({} unless asked for more). */
enum dynamo_parse dynamo_parse_put(const char *body, size_t len, char *err,
	    size_t errlen);
/*
 * A Scan page: fn is called with each item's name in order, as it is read
 * (a page found bad later is still bad); *next points at the text of
 * LastEvaluatedKey in body, *nextlen its length, or is NULL on the last
 * page. A page may be empty and still carry a key.
 */
enum dynamo_parse dynamo_parse_scan(const char *body, size_t len,
	    store_name_fn fn, void *ctx, const char **next, size_t *nextlen,
	    char *err, size_t errlen);

/* An error answer: {"__type":"com.amazonaws...#Type","message":"..."}. */
struct dynamo_error {
	char	 type[96];	/* after the '#'; "" if none could be read */
	char	 message[256];	/* "message" or "Message"; maybe "" */
};

void	dynamo_parse_error(const char *body, size_t len, struct dynamo_error *);

/* What to do about an answer that is not 200, as the SDKs decide. */
enum dynamo_verdict {
	DYNAMO_RETRY,		/* 5xx or transient: back off, try again */
	DYNAMO_THROTTLED,	/* throttling: back off harder, try again */
	DYNAMO_SKEWED,		/* our clock is off: correct it, once */
	DYNAMO_EXPIRED_TOKEN,	/* refresh role credentials, once */
	DYNAMO_REFUSED,		/* the store said no: a retry cannot help */
	DYNAMO_BROKEN,		/* not an answer DynamoDB gives: 503 */
};

enum dynamo_verdict dynamo_classify(long status, const struct dynamo_error *);

/*
 * The server's clock minus ours, in seconds, from its Date header (the
 * IMF-fixdate form "Sun, 06 Nov 1994 08:49:37 GMT"); -1 if unreadable.
 */
int	dynamo_clock_offset(const char *date, time_t now, long *offset)
	    WARN_UNUSED;

#endif
