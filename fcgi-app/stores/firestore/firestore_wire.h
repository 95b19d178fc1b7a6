/*
 * Firestore's REST API v1 for the three calls the candidates service
 * makes, on the original's layout (collection `candidates`, document id =
 * the name, one string field `CandidateName`):
 *
 *   get   POST /v1/{database}/documents:batchGet   the document found, or
 *                                                 "missing"
 *   put   POST /v1/{database}/documents:commit     one update of the whole
 *                                                 document, no mask: set()
 *   list  GET  /v1/{collection}?pageSize=N[&pageToken=T], to the end
 *
 * where {database} is projects/{p}/databases/{d}, {collection} is
 * {database}/documents/candidates and a document's name is
 * {collection}/{id}. The get and the put are what the official clients
 * send for get() and set() (BatchGetDocuments, Commit), and they carry the
 * document's name in the JSON body, never in the URL: a name is the id
 * exactly, with no URL decoding in between (Google's emulator decodes a
 * path's "%25" twice and trims an id's spaces). Pure functions: paths,
 * bodies and queries out, answers and the verdict on an error in. The
 * store's I/O half sends them.
 */
#ifndef CANDIDATES_FIRESTORE_WIRE_H
#define CANDIDATES_FIRESTORE_WIRE_H

#include <stddef.h>

#include "buf.h"
#include "store.h"

#define FIRESTORE_HOST		"firestore.googleapis.com"
#define FIRESTORE_COLLECTION	"candidates"
#define FIRESTORE_FIELD		"CandidateName"
#define FIRESTORE_DEFAULT_DB	"(default)"
/* Documents per list page: about 150 bytes each as JSON, so ~45 KB. */
#define FIRESTORE_PAGE_SIZE	300
/* Google's page tokens run to ~100 bytes; longer is not Google. */
#define FIRESTORE_TOKEN_MAX	4096

/*
 * Whether a project id is one Google issues (6 to 30 of a-z 0-9 -, a
 * letter first, no '-' last) and a database id one Firestore accepts
 * ("(default)", or 4 to 63 of a-z 0-9 -, a letter first, a letter or
 * digit last, not shaped like a UUID). 0 when valid, else -1 with the
 * rule broken in err.
 */
int	firestore_check_project(const char *s, size_t len, char *err,
	    size_t errlen) WARN_UNUSED;
int	firestore_check_database(const char *s, size_t len, char *err,
	    size_t errlen) WARN_UNUSED;

/*
 * projects/{project}/databases/{database}, what the get and the put are
 * posted under; project and database already checked.
 */
int	firestore_database_path(struct buf *, const char *project,
	    const char *database) WARN_UNUSED;
/* The database path and /documents/candidates, the parent of a list. */
int	firestore_collection_path(struct buf *, const char *project,
	    const char *database) WARN_UNUSED;
/*
 * The put: {"writes":[{"update":{"name":{doc},"fields":{"CandidateName":
 * {"stringValue":name}}}}]}, the name escaped by json-c. No updateMask
 * and no precondition: the whole document is replaced or created, as
 * the original's set(). A name of 0 bytes is refused.
 */
int	firestore_commit_body(struct buf *, const char *project,
	    const char *database, const char *name, size_t len) WARN_UNUSED;
/*
 * The get: {"documents":[{doc}],"mask":{"fieldPaths":["CandidateName"]}}
 * (the mask keeps any other field a writer added out of the answer).
 */
int	firestore_batchget_body(struct buf *, const char *project,
	    const char *database, const char *name, size_t len) WARN_UNUSED;
/*
 * A list page's query: pageSize=page_size, and pageToken=token
 * percent-encoded when token is not NULL (Google's tokens are base64,
 * whose '+', '/' and '=' a query would misread).
 */
int	firestore_list_query(struct buf *, unsigned page_size,
	    const char *token, size_t toklen) WARN_UNUSED;

/* What a 200 answer held. */
enum firestore_parse {
	FIRESTORE_PARSED,	/* as expected */
	FIRESTORE_GARBAGE,	/* not the JSON the call answers */
	FIRESTORE_STOPPED,	/* list: the callback asked to stop */
};

/*
 * The answer to a get of name (len bytes): a JSON array of exactly one
 * object holding either "found", a document of the candidates collection
 * with the id name, or "missing", the name of that document. *found says
 * which; anything else is garbage.
 */
enum firestore_parse firestore_parse_batchget(const char *body, size_t len,
	    const char *name, size_t namelen, int *found, char *err,
	    size_t errlen);
/* The answer to a put: an object with "writeResults" of one result. */
enum firestore_parse firestore_parse_commit(const char *body, size_t len,
	    char *err, size_t errlen);
/*
 * A page of documents.list: fn is called with each document's id, the
 * text after the last '/' of its "name", in order. Firestore writes names
 * raw (a '%' in an id stays '%'), so nothing is decoded. The ids, not the
 * CandidateName fields, are the listing: they are what a get finds, and
 * the original wrote the same string into both. next receives
 * nextPageToken, or is left empty on the last page; a page may be empty,
 * `{}` even, and still not be the last.
 */
enum firestore_parse firestore_parse_list(const char *body, size_t len,
	    store_name_fn fn, void *ctx, struct buf *next, char *err,
	    size_t errlen);

/* Google's error answer: {"error":{"code":..,"message":..,"status":..}}. */
struct firestore_error {
	int	 google;	/* the body was Google's error JSON */
	long	 code;		/* error.code, an HTTP status */
	char	 status[48];	/* "RESOURCE_EXHAUSTED"; maybe "" */
	char	 message[256];	/* to the first line break; maybe "" */
};

void	firestore_parse_error(const char *body, size_t len,
	    struct firestore_error *);

/* What to do about an answer that is not 200, as the clients decide. */
enum firestore_verdict {
	FIRESTORE_RETRY,	/* 5xx, UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED,
				 * INTERNAL: back off, try again */
	FIRESTORE_THROTTLED,	/* RESOURCE_EXHAUSTED, 429: back off harder */
	FIRESTORE_TOKEN_REJECTED, /* 401 UNAUTHENTICATED: refresh, once */
	FIRESTORE_REFUSED,	/* the store said no: a retry cannot help */
	FIRESTORE_BROKEN,	/* not an answer Firestore gives: 503 */
};

/*
 * The verdict on an answer of HTTP status with error e. No call answers
 * a missing document with 404 (a get says "missing"), so a 404 is a
 * database or project that does not exist: refused, as a deployment's
 * fault to be seen, never taken for an empty store.
 */
enum firestore_verdict firestore_classify(long status,
	    const struct firestore_error *e);

#endif
