#include "firestore_wire.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cloud/json_pick.h"
#include "cloud/json_wire.h"
#include "name.h"
#include "pct.h"

static int
lower_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
firestore_check_project(const char *s, size_t len, char *err, size_t errlen)
{
	size_t	 i;

	if (len < 6 || len > 30) {
		snprintf(err, errlen, "a project id has 6 to 30 characters");
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!lower_digit(s[i]) && s[i] != '-') {
			snprintf(err, errlen, "a project id holds only a-z, "
			    "0-9 and -");
			return -1;
		}
	if (s[0] < 'a' || s[0] > 'z' || s[len - 1] == '-') {
		snprintf(err, errlen, "a project id starts with a letter and "
		    "does not end with -");
		return -1;
	}
	return 0;
}

/* 8-4-4-4-12 hexadecimal digits. */
static int
uuid_like(const char *s, size_t len)
{
	size_t	 i;

	if (len != 36)
		return 0;
	for (i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

int
firestore_check_database(const char *s, size_t len, char *err,
    size_t errlen)
{
	size_t	 i;

	if (len == strlen(FIRESTORE_DEFAULT_DB) &&
	    memcmp(s, FIRESTORE_DEFAULT_DB, len) == 0)
		return 0;
	if (len < 4 || len > 63) {
		snprintf(err, errlen, "a database id is (default) or has 4 to "
		    "63 characters");
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!lower_digit(s[i]) && s[i] != '-') {
			snprintf(err, errlen, "a database id holds only a-z, "
			    "0-9 and -");
			return -1;
		}
	if (s[0] < 'a' || s[0] > 'z' || !lower_digit(s[len - 1])) {
		snprintf(err, errlen, "a database id starts with a letter and "
		    "ends with a letter or digit");
		return -1;
	}
	if (uuid_like(s, len)) {
		snprintf(err, errlen, "a database id is not shaped like a "
		    "UUID");
		return -1;
	}
	return 0;
}

int
firestore_database_path(struct buf *b, const char *project,
    const char *database)
{
	return buf_printf(b, "projects/%s/databases/%s", project, database);
}

int
firestore_collection_path(struct buf *b, const char *project,
    const char *database)
{
	if (firestore_database_path(b, project, database) == -1)
		return -1;
	return buf_addstr(b, "/documents/" FIRESTORE_COLLECTION);
}

/* The document's full name as a JSON string; NULL if it cannot be made. */
static struct json_object *
doc_name(const char *project, const char *database, const char *name,
    size_t len)
{
	struct json_object	*o = NULL;
	struct buf		 b;

	buf_init(&b, 1024 + len);
	if (len > 0 && len < INT_MAX / 2 &&
	    firestore_collection_path(&b, project, database) == 0 &&
	    buf_add(&b, "/", 1) == 0 && buf_add(&b, name, len) == 0 &&
	    b.len <= INT_MAX)
		o = json_object_new_string_len(b.data, (int)b.len);
	buf_free(&b);
	return o;
}

/* {key: val}, taking val; NULL (val released) if it cannot be made. */
static struct json_object *
object1(const char *key, struct json_object *val)
{
	struct json_object	*o = json_object_new_object();

	if (json_wire_put(o, key, val) == -1) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* [val], taking val; NULL (val released) if it cannot be made. */
static struct json_object *
array1(struct json_object *val)
{
	struct json_object	*a = json_object_new_array_ext(1);

	if (a == NULL || val == NULL || json_object_array_add(a, val) != 0) {
		json_object_put(val);
		json_object_put(a);
		return NULL;
	}
	return a;
}

int
firestore_commit_body(struct buf *b, const char *project,
    const char *database, const char *name, size_t len)
{
	struct json_object	*fields, *update;

	if (len == 0 || len > INT_MAX)
		return -1;
	fields = object1(FIRESTORE_FIELD, object1("stringValue",
	    json_object_new_string_len(name, (int)len)));
	/* The name first, as the clients write it. */
	update = object1("name", doc_name(project, database, name, len));
	if (json_wire_put(update, "fields", fields) == -1) {
		json_object_put(update);
		update = NULL;
	}
	return json_wire_emit(b, object1("writes", array1(object1("update",
	    update))));
}

int
firestore_batchget_body(struct buf *b, const char *project,
    const char *database, const char *name, size_t len)
{
	struct json_object	*o, *mask;

	if (len == 0)
		return -1;
	o = object1("documents", array1(doc_name(project, database, name,
	    len)));
	mask = object1("fieldPaths", array1(json_object_new_string(
	    FIRESTORE_FIELD)));
	if (json_wire_put(o, "mask", mask) == -1) {
		json_object_put(o);
		return -1;
	}
	return json_wire_emit(b, o);
}

int
firestore_list_query(struct buf *b, unsigned page_size, const char *token,
    size_t toklen)
{
	if (page_size == 0 || buf_printf(b, "pageSize=%u", page_size) == -1)
		return -1;
	if (token == NULL)
		return 0;
	if (toklen == 0 || buf_addstr(b, "&pageToken=") == -1)
		return -1;
	return pct_encode(b, token, toklen, 0);
}

/* The length of the segment at s (up to '/' or the end). */
static size_t
segment(const char *s, size_t n)
{
	const char	*slash = memchr(s, '/', n);

	return slash == NULL ? n : (size_t)(slash - s);
}

/*
 * The id of a document name projects/{p}/databases/{d}/documents/
 * candidates/{id}: *id and *idlen, or -1 when name is not of that shape.
 */
static int
doc_id(const char *name, size_t n, const char **id, size_t *idlen)
{
	static const char	*const fixed[] = { "projects", NULL,
	    "databases", NULL, "documents", FIRESTORE_COLLECTION };
	size_t			 i, k;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		k = segment(name, n);
		if (k == 0 || k == n || (fixed[i] != NULL &&
		    (k != strlen(fixed[i]) || memcmp(name, fixed[i], k) != 0)))
			return -1;
		name += k + 1;
		n -= k + 1;
	}
	if (n == 0 || memchr(name, '/', n) != NULL)
		return -1;
	*id = name;
	*idlen = n;
	return 0;
}

/* The id in document name v (a JSON string), or -1. */
static int
id_of(struct json_object *v, const char **id, size_t *idlen)
{
	if (!json_object_is_type(v, json_type_string))
		return -1;
	return doc_id(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), id, idlen);
}

/* The id in the "name" of document o, or -1. */
static int
name_of(struct json_object *o, const char **id, size_t *idlen)
{
	struct json_object	*v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "name", &v))
		return -1;
	return id_of(v, id, idlen);
}

enum firestore_parse
firestore_parse_batchget(const char *body, size_t len, const char *name,
    size_t namelen, int *found, char *err, size_t errlen)
{
	struct json_object	*a, *r, *doc = NULL, *missing = NULL;
	const char		*id;
	size_t			 idlen;
	enum firestore_parse	 rc = FIRESTORE_GARBAGE;
	int			 n;

	*found = 0;
	if ((a = json_wire_parse(body, len, json_type_array, err,
	    errlen)) == NULL)
		return FIRESTORE_GARBAGE;
	/* One document asked for, one result: anything else is not ours. */
	r = json_object_array_get_idx(a, 0);
	n = json_object_is_type(r, json_type_object) ?
	    json_object_object_get_ex(r, "found", &doc) +
	    json_object_object_get_ex(r, "missing", &missing) : 0;
	if (json_object_array_length(a) != 1 || n != 1) {
		snprintf(err, errlen, "answer is not one result holding found "
		    "or missing");
		goto out;
	}
	if ((doc != NULL ? name_of(doc, &id, &idlen) : id_of(missing, &id,
	    &idlen)) == -1) {
		snprintf(err, errlen, "answer is not a document of the "
		    FIRESTORE_COLLECTION " collection");
		goto out;
	}
	if (idlen != namelen || memcmp(id, name, idlen) != 0) {
		snprintf(err, errlen, "answer is another document");
		goto out;
	}
	*found = doc != NULL;
	rc = FIRESTORE_PARSED;
out:
	json_object_put(a);
	return rc;
}

enum firestore_parse
firestore_parse_commit(const char *body, size_t len, char *err,
    size_t errlen)
{
	struct json_object	*o, *w;
	enum firestore_parse	 rc = FIRESTORE_GARBAGE;

	if ((o = json_wire_parse(body, len, json_type_object, err,
	    errlen)) == NULL)
		return FIRESTORE_GARBAGE;
	if (!json_object_object_get_ex(o, "writeResults", &w) ||
	    !json_object_is_type(w, json_type_array) ||
	    json_object_array_length(w) != 1 ||
	    !json_object_is_type(json_object_array_get_idx(w, 0),
	    json_type_object))
		snprintf(err, errlen, "answer has no writeResults of one "
		    "write");
	else
		rc = FIRESTORE_PARSED;
	json_object_put(o);
	return rc;
}

/* What a page's string callbacks share. */
struct page {
	store_name_fn	 fn;
	void		*ctx;
	struct buf	*next;
	const char	*bad;		/* why the page is not Firestore's */
	size_t		 docs;		/* names handed on */
};

static int
page_name(void *arg, const char *name, size_t n)
{
	struct page	*pg = arg;
	const char	*id;
	size_t		 idlen;

	if (doc_id(name, n, &id, &idlen) == -1) {
		pg->bad = "a document is not in the " FIRESTORE_COLLECTION
		    " collection";
		return 1;
	}
	pg->docs++;
	return pg->fn(pg->ctx, id, idlen);
}

static int
page_token(void *arg, const char *t, size_t n)
{
	struct page	*pg = arg;
	size_t		 i;

	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			break;
	if (i < n || n > FIRESTORE_TOKEN_MAX) {
		pg->bad = "nextPageToken is not a page token";
		return 1;
	}
	buf_reset(pg->next);
	if (buf_add(pg->next, t, n) == -1) {
		pg->bad = "nextPageToken larger than its buffer";
		return 1;
	}
	return 0;
}

enum firestore_parse
firestore_parse_list(const char *body, size_t len, store_name_fn fn,
    void *ctx, struct buf *next, char *err, size_t errlen)
{
	/*
	 * Read where it lies (json_pick.h), no tree: a page holds hundreds
	 * of documents. Every document must hold exactly one string name,
	 * so the counts of the two levels agree. Names handed on before a
	 * fault are harmless: the handler sends a listing only once whole.
	 */
	struct page		 pg = { fn, ctx, next, NULL, 0 };
	struct json_pick	 p[] = {
		{ .path = "documents", .kind = JSON_ARRAY },
		{ .path = "documents[]", .kind = JSON_OBJECT },
		{ .path = "documents[].name", .kind = JSON_STRING,
		    .string = page_name, .ctx = &pg },
		{ .path = "nextPageToken", .kind = JSON_STRING,
		    .string = page_token, .ctx = &pg },
	};

	buf_reset(next);
	if (body == NULL || !utf8_valid(body, len)) {
		snprintf(err, errlen, "list answer is not UTF-8");
		return FIRESTORE_GARBAGE;
	}
	switch (json_pick(body, len, p, sizeof(p) / sizeof(p[0]), err,
	    errlen)) {
	case JSON_PICK_OK:
		break;
	case JSON_PICK_STOPPED:
		if (pg.bad != NULL)
			break;
		snprintf(err, errlen, "listing stopped by its reader");
		return FIRESTORE_STOPPED;
	case JSON_PICK_BAD:
		buf_reset(next);
		return FIRESTORE_GARBAGE;
	}
	if (pg.bad == NULL && (p[0].found > 1 || p[3].found > 1))
		pg.bad = "a member twice";
	if (pg.bad == NULL && p[2].found != p[1].found)
		pg.bad = "a document has no single string name";
	if (pg.bad != NULL) {
		snprintf(err, errlen, "list answer: %s", pg.bad);
		buf_reset(next);
		return FIRESTORE_GARBAGE;
	}
	return FIRESTORE_PARSED;
}

void
firestore_parse_error(const char *body, size_t len,
    struct firestore_error *e)
{
	struct json_object	*o, *err, *v;
	char			 ignored[64];
	const char		*s;
	size_t			 n;

	memset(e, 0, sizeof(*e));
	if ((o = json_wire_parse(body, len, json_type_object, ignored,
	    sizeof(ignored))) == NULL)
		return;
	if (!json_object_object_get_ex(o, "error", &err) ||
	    !json_object_is_type(err, json_type_object) ||
	    !json_object_object_get_ex(err, "code", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		json_object_put(o);
		return;
	}
	e->google = 1;
	e->code = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(err, "status", &v) &&
	    json_object_is_type(v, json_type_string))
		json_wire_copy(e->status, sizeof(e->status),
		    json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
	if (json_object_object_get_ex(err, "message", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		/* The message is the log line: it ends at its first break. */
		n = strcspn(s, "\r\n") < n ? strcspn(s, "\r\n") : n;
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

enum firestore_verdict
firestore_classify(long status, const struct firestore_error *e)
{
	/*
	 * What the official clients retry (google-cloud-firestore's
	 * firestore_client_config.json: DEADLINE_EXCEEDED, INTERNAL and
	 * UNAVAILABLE for reads, ABORTED for commits), whatever HTTP status
	 * carries them. A commit of one whole document without a
	 * precondition is idempotent, so a write is retried on the same
	 * codes as a read.
	 */
	static const char *const transient[] = {
		"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED", "INTERNAL",
		NULL,
	};

	if (status == 429 || (e->google &&
	    strcmp(e->status, "RESOURCE_EXHAUSTED") == 0))
		return FIRESTORE_THROTTLED;
	if (e->google && one_of(e->status, transient))
		return FIRESTORE_RETRY;
	/*
	 * Google's front ends answer 502 and 503 with HTML of their own: a
	 * 5xx is transient whatever its body says, but for a method that
	 * will never exist.
	 */
	if (status >= 500 && status <= 599)
		return e->google && strcmp(e->status, "UNIMPLEMENTED") == 0 ?
		    FIRESTORE_REFUSED : FIRESTORE_RETRY;
	if (status < 400 || status > 499 || !e->google)
		return FIRESTORE_BROKEN;
	if (status == 401 || strcmp(e->status, "UNAUTHENTICATED") == 0)
		return FIRESTORE_TOKEN_REJECTED;
	/*
	 * Every other refusal, 404 included: no call answers a missing
	 * document with one (a get says "missing"), so a 404 is a database
	 * that does not exist ("The database (default) does not exist for
	 * project ..."), a deployment's fault to be seen as one, not an
	 * empty store.
	 */
	return FIRESTORE_REFUSED;
}
