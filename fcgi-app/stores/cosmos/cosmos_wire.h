/*
 * Cosmos DB for NoSQL's REST wire format for the three calls the
 * candidates service makes (a point read, an upsert, a query that lists
 * every id), and the Azure instance metadata service's answers it reads
 * (a managed identity's token, the VM's id). Pure functions: bodies,
 * paths and header values out, answers in, and the verdict on an error
 * answer. The store does the I/O.
 *
 * The data layout is the Flask original's: database CandidateDatabase,
 * container Candidates with partition key /CandidateName, each item
 * {"id": <name>, "CandidateName": <name>}, so a container either wrote
 * is served unchanged.
 */
#ifndef CANDIDATES_COSMOS_WIRE_H
#define CANDIDATES_COSMOS_WIRE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "store.h"

#define COSMOS_NAME_FIELD	"CandidateName"	/* the partition key path */
/*
 * The listing reads the ids: every item has one, always a string, and a
 * point read finds an item by it, so every name listed is one a get finds.
 * Items written by the original or by us carry the same value in both.
 */
#define COSMOS_LIST_QUERY	"SELECT c.id FROM c"
#define COSMOS_QUERY_TYPE	"application/query+json"
#define COSMOS_RESOURCE_DOCS	"docs"
/* An id is 1..255 bytes; a continuation token is capped to 1 KB on ask. */
#define COSMOS_ID_MAX		255
#define COSMOS_CONTINUATION_MAX	(16 * 1024)

/* Azure IMDS: the token endpoint, for the Cosmos DB data plane. */
#define COSMOS_IMDS_TOKEN_PATH	"/metadata/identity/oauth2/token"
#define COSMOS_IMDS_TOKEN_API	"2018-02-01"
#define COSMOS_IMDS_RESOURCE	"https://cosmos.azure.com"
#define COSMOS_IMDS_COMPUTE_PATH \
	"/metadata/instance/compute?api-version=2021-02-01&format=json"

/*
 * Whether n bytes at s can be a database, container or item id: 1..255
 * bytes, no control character, none of / \ ? #, no trailing space. The
 * service checks names itself; this checks the configuration.
 */
int	cosmos_valid_id(const char *s, size_t n);

/*
 * The path of the container's documents ("/dbs/D/colls/C/docs", ids
 * encoded) into path and the resource link signed for a POST to it
 * ("dbs/D/colls/C", ids as they are). Both buffers are appended to.
 */
int	cosmos_docs_target(struct buf *path, struct buf *link, const char *db,
	    const char *coll) WARN_UNUSED;
/* The same for one item: ".../docs/<name encoded>" and ".../docs/<name>". */
int	cosmos_item_target(struct buf *path, struct buf *link, const char *db,
	    const char *coll, const char *name, size_t len) WARN_UNUSED;

/* An upsert's body: {"id":name,"CandidateName":name}, escaped by json-c. */
int	cosmos_item_body(struct buf *, const char *name, size_t len)
	    WARN_UNUSED;
/*
 * The x-ms-documentdb-partitionkey value, ["name"], as JSON with every
 * character from U+007F up escaped as \uXXXX (UTF-16 units), which is
 * what @azure/cosmos sends: a header stays ASCII. -1 on bytes that are
 * not UTF-8.
 */
int	cosmos_partition_key(struct buf *, const char *name, size_t len)
	    WARN_UNUSED;
/* The listing's body: {"query":COSMOS_LIST_QUERY,"parameters":[]}. */
int	cosmos_query_body(struct buf *) WARN_UNUSED;

/* What a 2xx answer held. */
enum cosmos_parse {
	COSMOS_PARSED,		/* as expected */
	COSMOS_GARBAGE,		/* not the JSON the call answers */
	COSMOS_STOPPED,		/* list: the callback asked to stop */
};

/*
 * A point read's or an upsert's answer: the item, whose id must be
 * exactly name (an answer about another item is garbage).
 */
enum cosmos_parse cosmos_parse_item(const char *body, size_t len,
	    const char *name, size_t namelen, char *err, size_t errlen);
/*
 * One page of the listing: fn is called with each document's id in
 * order. A page may be short or empty and still not be the last one:
 * the x-ms-continuation header says so, not the page.
 */
enum cosmos_parse cosmos_parse_page(const char *body, size_t len,
	    store_name_fn fn, void *ctx, char *err, size_t errlen);

/*
 * Whether an x-ms-continuation value can be sent back as it came:
 * 1..COSMOS_CONTINUATION_MAX bytes of printable ASCII, no space at
 * either end. The token is opaque; this only keeps it a header.
 */
int	cosmos_continuation_ok(const char *v, size_t n);

/*
 * A numeric header (x-ms-retry-after-ms, x-ms-substatus): 1..9 decimal
 * digits; -1 otherwise, with *out 0.
 */
int	cosmos_parse_header_num(const char *v, size_t n, long *out)
	    WARN_UNUSED;

/* An error answer: {"code":"NotFound","message":"..."}. */
struct cosmos_error {
	char	 code[64];	/* "" if none could be read */
	char	 message[256];	/* to the first line break; maybe "" */
	int	 cosmos;	/* a JSON object with a code or a message */
};

void	cosmos_parse_error(const char *body, size_t len, struct cosmos_error *);

/* Whether a point read's answer says the item is not there. */
int	cosmos_item_missing(long status, long substatus);

/* What to do about an answer that is not 2xx (nor a missing item). */
enum cosmos_verdict {
	COSMOS_RETRY,		/* 449, 408, 5xx: back off, try again */
	COSMOS_THROTTLED,	/* 429: wait x-ms-retry-after-ms, try again */
	COSMOS_SKEWED,		/* 403, the date is off: correct the clock, once */
	COSMOS_TOKEN_REFRESH,	/* the Entra token was refused: a new one, once */
	COSMOS_REFUSED,		/* the store said no: a retry cannot help */
	COSMOS_BROKEN,		/* not an answer Cosmos DB gives: 503 */
};

/*
 * with_token: the request carried an Entra token (else the master key
 * signed it). substatus is x-ms-substatus, 0 when absent.
 */
enum cosmos_verdict cosmos_classify(long status, long substatus,
	    const struct cosmos_error *, int with_token);

/*
 * Appends the IMDS token request's path and query for resource, with
 * client_id (a user-assigned identity) unless it is NULL or "".
 */
int	cosmos_imds_token_path(struct buf *, const char *resource,
	    const char *client_id) WARN_UNUSED;

/*
 * The IMDS token answer: access_token into token (reset first; its
 * ceiling is the caller's), and when it expires, as seconds since the
 * epoch: expires_on (a string of digits, as Azure sends it, or a number),
 * else now + expires_in. -1 with the reason in err (never the token) if
 * anything is missing or malformed, or the token is expired on arrival;
 * token is then wiped and empty.
 */
int	cosmos_parse_imds_token(const char *body, size_t len, time_t now,
	    struct buf *token, time_t *expires_on, char *err, size_t errlen)
	    WARN_UNUSED;
/*
 * An IMDS error answer ({"error":"...","error_description":"..."}) as
 * "error: description" into out, truncated to fit; "" if unreadable.
 */
void	cosmos_parse_imds_error(const char *body, size_t len, char *out,
	    size_t outlen);

/* What /gtg?details shows of the VM. */
struct cosmos_instance {
	char	 vm_id[40];	/* a GUID, 36 characters; "" if none */
	char	 name[96];	/* [A-Za-z0-9._-]; "" if none */
};

/*
 * The instance metadata's compute document, or the whole instance
 * document holding one under "compute": 0 if it names the VM by a
 * well-formed vmId or name (the other may be ""), else -1.
 */
int	cosmos_parse_instance(const char *body, size_t len,
	    struct cosmos_instance *) WARN_UNUSED;

#endif
