#include "cosmos_wire.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "cloud/json_pick.h"
#include "cloud/json_wire.h"
#include "name.h"
#include "pct.h"

/*
 * Seconds since the epoch or a lifetime, as Azure writes them: 12 digits
 * reach past the year 33000, and bound what is added to the clock.
 */
#define EPOCH_DIGITS	12
#define SECONDS_MAX	999999999999LL

static const char hexdigits[] = "0123456789abcdef";

int
cosmos_valid_id(const char *s, size_t n)
{
	size_t	 i;

	if (s == NULL || n == 0 || n > COSMOS_ID_MAX || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' ||
		    c == '?' || c == '#')
			return 0;
	}
	return 1;
}

/* "/dbs/D/colls/C" into path (encoded) and "dbs/D/colls/C" into link. */
static int
container(struct buf *path, struct buf *link, const char *db,
    const char *coll)
{
	size_t	 dn, cn;

	if (db == NULL || coll == NULL)
		return -1;
	dn = strlen(db);
	cn = strlen(coll);
	if (!cosmos_valid_id(db, dn) || !cosmos_valid_id(coll, cn))
		return -1;
	if (buf_addstr(path, "/dbs/") == -1 ||
	    pct_encode(path, db, dn, 0) == -1 ||
	    buf_addstr(path, "/colls/") == -1 ||
	    pct_encode(path, coll, cn, 0) == -1 ||
	    buf_addstr(link, "dbs/") == -1 || buf_add(link, db, dn) == -1 ||
	    buf_addstr(link, "/colls/") == -1 || buf_add(link, coll, cn) == -1)
		return -1;
	return 0;
}

int
cosmos_docs_target(struct buf *path, struct buf *link, const char *db,
    const char *coll)
{
	if (container(path, link, db, coll) == -1 ||
	    buf_addstr(path, "/" COSMOS_RESOURCE_DOCS) == -1)
		return -1;
	return 0;
}

int
cosmos_item_target(struct buf *path, struct buf *link, const char *db,
    const char *coll, const char *name, size_t len)
{
	/* The service checked the name; a NUL would cut the signed link. */
	if (name == NULL || len == 0 || len > COSMOS_ID_MAX ||
	    memchr(name, '\0', len) != NULL)
		return -1;
	if (container(path, link, db, coll) == -1 ||
	    buf_addstr(path, "/" COSMOS_RESOURCE_DOCS "/") == -1 ||
	    pct_encode(path, name, len, 0) == -1 ||
	    buf_addstr(link, "/" COSMOS_RESOURCE_DOCS "/") == -1 ||
	    buf_add(link, name, len) == -1)
		return -1;
	return 0;
}

int
cosmos_item_body(struct buf *b, const char *name, size_t len)
{
	struct json_object	*o;

	if (name == NULL || len == 0 || len > INT_MAX ||
	    (o = json_object_new_object()) == NULL)
		return -1;
	/* The original's item, field for field and in its order. */
	if (json_wire_put(o, "id", json_object_new_string_len(name,
	    (int)len)) == -1 || json_wire_put(o, COSMOS_NAME_FIELD,
	    json_object_new_string_len(name, (int)len)) == -1) {
		json_object_put(o);
		return -1;
	}
	return json_wire_emit(b, o);
}

int
cosmos_query_body(struct buf *b)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	if (json_wire_put(o, "query",
	    json_object_new_string(COSMOS_LIST_QUERY)) == -1 ||
	    json_wire_put(o, "parameters", json_object_new_array()) == -1) {
		json_object_put(o);
		return -1;
	}
	return json_wire_emit(b, o);
}

/*
 * The code point of the UTF-8 sequence at p (n bytes left) into *cp and
 * its length into *used; -1 if it is not well formed (overlong forms,
 * surrogates and values past U+10FFFF included).
 */
static int
utf8_next(const unsigned char *p, size_t n, unsigned long *cp, size_t *used)
{
	unsigned long	 c;
	size_t		 len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		*used = 1;
		return 0;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return -1;
	if (n < len)
		return -1;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return -1;
	*cp = c;
	*used = len;
	return 0;
}

static int
add_u(struct buf *b, unsigned long unit)
{
	char	 esc[6] = { '\\', 'u', hexdigits[unit >> 12 & 0xf],
		    hexdigits[unit >> 8 & 0xf], hexdigits[unit >> 4 & 0xf],
		    hexdigits[unit & 0xf] };

	return buf_add(b, esc, sizeof(esc));
}

int
cosmos_partition_key(struct buf *b, const char *name, size_t len)
{
	const unsigned char	*p = (const unsigned char *)name;
	unsigned long		 cp;
	size_t			 i, used;
	int			 rc = 0;

	if (name == NULL || len == 0 || buf_add(b, "[\"", 2) == -1)
		return -1;
	/*
	 * JSON.stringify's escapes, then every unit from U+007F up as \uXXXX
	 * (non-BMP as a surrogate pair), as @azure/cosmos's
	 * jsonStringifyAndEscapeNonASCII writes the header.
	 */
	for (i = 0; i < len && rc == 0; i += used) {
		if (utf8_next(p + i, len - i, &cp, &used) == -1)
			return -1;
		if (cp == '"' || cp == '\\') {
			char esc[2] = { '\\', (char)cp };

			rc = buf_add(b, esc, 2);
		} else if (cp == '\b')
			rc = buf_add(b, "\\b", 2);
		else if (cp == '\f')
			rc = buf_add(b, "\\f", 2);
		else if (cp == '\n')
			rc = buf_add(b, "\\n", 2);
		else if (cp == '\r')
			rc = buf_add(b, "\\r", 2);
		else if (cp == '\t')
			rc = buf_add(b, "\\t", 2);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xffff))
			rc = add_u(b, cp);
		else if (cp > 0xffff)
			rc = add_u(b, 0xd800 + ((cp - 0x10000) >> 10)) == -1 ||
			    add_u(b, 0xdc00 + ((cp - 0x10000) & 0x3ff)) == -1 ?
			    -1 : 0;
		else {
			char c = (char)cp;

			rc = buf_add(b, &c, 1);
		}
	}
	if (rc == -1 || buf_add(b, "\"]", 2) == -1)
		return -1;
	return 0;
}

/* o's member key if it is a string, with its length; NULL otherwise. */
static const char *
get_str(struct json_object *o, const char *key, size_t *len)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

enum cosmos_parse
cosmos_parse_item(const char *body, size_t len, const char *name,
    size_t namelen, char *err, size_t errlen)
{
	struct json_object	*o;
	enum cosmos_parse	 rc = COSMOS_GARBAGE;
	const char		*id;
	size_t			 idlen = 0;

	if ((o = json_wire_parse(body, len, json_type_object, err,
	    errlen)) == NULL)
		return COSMOS_GARBAGE;
	if ((id = get_str(o, "id", &idlen)) == NULL)
		snprintf(err, errlen, "item answer has no string id");
	else if (idlen != namelen || memcmp(id, name, namelen) != 0)
		snprintf(err, errlen, "item answer is about another id");
	else
		rc = COSMOS_PARSED;
	json_object_put(o);
	return rc;
}

/* What a page's id callback shares. */
struct page {
	store_name_fn	 fn;
	void		*ctx;
	int		 empty;		/* an empty id was seen */
};

static int
page_id(void *arg, const char *id, size_t n)
{
	struct page	*pg = arg;

	if (n == 0) {
		pg->empty = 1;
		return 1;
	}
	return pg->fn(pg->ctx, id, n);
}

enum cosmos_parse
cosmos_parse_page(const char *body, size_t len, store_name_fn fn, void *ctx,
    char *err, size_t errlen)
{
	/*
	 * Read where it lies (json_pick.h), no tree: a page holds a
	 * thousand documents. Every document must hold exactly one string
	 * id, so the counts of the two levels agree. Names handed on before
	 * a fault are harmless: the handler sends a listing only once whole.
	 */
	struct page		 pg = { fn, ctx, 0 };
	struct json_pick	 p[] = {
		{ .path = "Documents", .kind = JSON_ARRAY },
		{ .path = "Documents[]", .kind = JSON_OBJECT },
		{ .path = "Documents[].id", .kind = JSON_STRING,
		    .string = page_id, .ctx = &pg },
		{ .path = "_count", .kind = JSON_NUMBER },
	};
	size_t			 i, count = 0;

	if (body == NULL || len == 0 || !utf8_valid(body, len)) {
		snprintf(err, errlen, "query answer is not UTF-8 text");
		return COSMOS_GARBAGE;
	}
	switch (json_pick(body, len, p, sizeof(p) / sizeof(p[0]), err,
	    errlen)) {
	case JSON_PICK_OK:
		break;
	case JSON_PICK_STOPPED:
		if (pg.empty) {
			snprintf(err, errlen, "a query document has an empty "
			    "id");
			return COSMOS_GARBAGE;
		}
		snprintf(err, errlen, "listing stopped by its reader");
		return COSMOS_STOPPED;
	case JSON_PICK_BAD:
		return COSMOS_GARBAGE;
	}
	if (p[0].found != 1) {
		snprintf(err, errlen, "query answer has no Documents");
		return COSMOS_GARBAGE;
	}
	if (p[2].found != p[1].found) {
		snprintf(err, errlen, "a query document has no single string "
		    "id");
		return COSMOS_GARBAGE;
	}
	/* _count is the page's length: a page that disagrees is cut short. */
	if (p[3].found > 0) {
		for (i = 0; i < p[3].rawlen && i < 10 &&
		    p[3].raw[i] >= '0' && p[3].raw[i] <= '9'; i++)
			count = count * 10 + (size_t)(p[3].raw[i] - '0');
		if (p[3].found > 1 || i == 0 || i != p[3].rawlen ||
		    count != p[1].found) {
			snprintf(err, errlen, "query answer's _count is not its "
			    "length %zu", p[1].found);
			return COSMOS_GARBAGE;
		}
	}
	return COSMOS_PARSED;
}

int
cosmos_continuation_ok(const char *v, size_t n)
{
	size_t	 i;

	if (v == NULL || n == 0 || n > COSMOS_CONTINUATION_MAX ||
	    v[0] == ' ' || v[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

int
cosmos_parse_header_num(const char *v, size_t n, long *out)
{
	size_t	 i;
	long	 x = 0;

	*out = 0;
	if (v == NULL || n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

void
cosmos_parse_error(const char *body, size_t len, struct cosmos_error *e)
{
	struct json_object	*o;
	char			 ignored[64];
	const char		*s;
	size_t			 n = 0;

	e->code[0] = e->message[0] = '\0';
	e->cosmos = 0;
	if ((o = json_wire_parse(body, len, json_type_object, ignored,
	    sizeof(ignored))) == NULL)
		return;
	if ((s = get_str(o, "code", &n)) != NULL) {
		json_wire_copy(e->code, sizeof(e->code), s, n);
		e->cosmos = 1;
	}
	if ((s = get_str(o, "message", &n)) != NULL) {
		/*
		 * "...\r\nActivityId: ..., Request URI: ..." follows the
		 * message proper: the log line is the part before. A message
		 * may hold line feeds of its own (the payload a 401 says it
		 * signed), which the log escapes.
		 */
		if (strcspn(s, "\r") < n)
			n = strcspn(s, "\r");
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n'))
			n--;
		json_wire_copy(e->message, sizeof(e->message), s, n);
		e->cosmos = 1;
	}
	json_object_put(o);
}

int
cosmos_item_missing(long status, long substatus)
{
	/*
	 * 404 with a substatus is about something else: 1003, the database
	 * or container is gone (a misconfiguration, not an absent name);
	 * 1002, a replica has not caught up with a session.
	 */
	return status == 404 && substatus == 0;
}

enum cosmos_verdict
cosmos_classify(long status, long substatus, const struct cosmos_error *e,
    int with_token)
{
	if (status == 429)
		return COSMOS_THROTTLED;
	/*
	 * 449 (retry with), 408 and 5xx are transient whatever the body says:
	 * a gateway in front of Cosmos DB may answer 502 or 503 in HTML.
	 */
	if (status == 449 || status == 408 || (status >= 500 && status <= 599))
		return COSMOS_RETRY;
	if (status < 400 || status > 499 || !e->cosmos)
		return COSMOS_BROKEN;
	/* The SDKs retry a read whose session a replica has not reached. */
	if (status == 404 && substatus == 1002)
		return COSMOS_RETRY;
	/*
	 * "The authorization token is not valid at the current time. Please
	 * create another token and retry (token start time: ..., token
	 * expiry time: ..., current server time: ...)": our clock is off by
	 * more than COSMOS_DATE_SKEW.
	 */
	if (status == 403 && strstr(e->message, "not valid at the current "
	    "time") != NULL)
		return COSMOS_SKEWED;
	/*
	 * An Entra token is refused with 401 when it has expired or cannot
	 * be validated ("Request blocked by Auth ...: Provided AAD token has
	 * been expired since ..."); some accounts say 403 for expiry. A new
	 * token once is cheap and bounded; a second refusal stands.
	 */
	if (with_token && (status == 401 || (status == 403 &&
	    strstr(e->message, "AAD token") != NULL &&
	    strstr(e->message, "expired") != NULL)))
		return COSMOS_TOKEN_REFRESH;
	return COSMOS_REFUSED;
}

int
cosmos_imds_token_path(struct buf *b, const char *resource,
    const char *client_id)
{
	if (resource == NULL || resource[0] == '\0')
		return -1;
	if (buf_printf(b, "%s?api-version=%s&resource=", COSMOS_IMDS_TOKEN_PATH,
	    COSMOS_IMDS_TOKEN_API) == -1 ||
	    pct_encode(b, resource, strlen(resource), 0) == -1)
		return -1;
	if (client_id != NULL && client_id[0] != '\0' &&
	    (buf_addstr(b, "&client_id=") == -1 ||
	    pct_encode(b, client_id, strlen(client_id), 0) == -1))
		return -1;
	return 0;
}

/*
 * Seconds since the epoch from a member that Azure sends as a string of
 * digits ("1506484173") and others as a number; -1 if it is neither.
 */
static int
get_seconds(struct json_object *o, const char *key, long long *out)
{
	struct json_object	*v;
	const char		*s;
	size_t			 i, n;
	long long		 x = 0;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		/* json-c saturates a larger number at INT64_MAX: refused too. */
		x = (long long)json_object_get_int64(v);
		if (x < 0 || x > SECONDS_MAX)
			return -1;
		*out = x;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > EPOCH_DIGITS)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*out = x;
	return 0;
}

int
cosmos_parse_imds_token(const char *body, size_t len, time_t now,
    struct buf *token, time_t *expires_on, char *err, size_t errlen)
{
	struct json_object	*o;
	const char		*tok = NULL, *type;
	size_t			 toklen = 0, typelen = 0, i;
	long long		 secs;
	int			 rc = -1;

	*expires_on = 0;
	if (token->data != NULL)
		explicit_bzero(token->data, token->len);
	buf_reset(token);
	if ((o = json_wire_parse(body, len, json_type_object, err,
	    errlen)) == NULL)
		return -1;
	if ((tok = get_str(o, "access_token", &toklen)) == NULL ||
	    toklen == 0) {
		snprintf(err, errlen, "IMDS token answer has no access_token");
		goto out;
	}
	/* It goes into a header: printable ASCII, no space. */
	for (i = 0; i < toklen; i++)
		if ((unsigned char)tok[i] <= 0x20 ||
		    (unsigned char)tok[i] >= 0x7f) {
			snprintf(err, errlen, "IMDS access_token is not a "
			    "header-safe token");
			goto out;
		}
	if ((type = get_str(o, "token_type", &typelen)) != NULL &&
	    (typelen != 6 || strncasecmp(type, "Bearer", 6) != 0)) {
		snprintf(err, errlen, "IMDS token_type is not Bearer");
		goto out;
	}
	if (get_seconds(o, "expires_on", &secs) == 0)
		*expires_on = (time_t)secs;
	else if (get_seconds(o, "expires_in", &secs) == 0 &&
	    (long long)now <= LLONG_MAX - secs)
		*expires_on = (time_t)((long long)now + secs);
	else {
		snprintf(err, errlen, "IMDS token answer has no usable "
		    "expires_on or expires_in");
		goto out;
	}
	if (*expires_on <= now) {
		snprintf(err, errlen, "IMDS token expired on arrival "
		    "(expires_on %lld, now %lld)", (long long)*expires_on,
		    (long long)now);
		goto out;
	}
	if (buf_add(token, tok, toklen) == -1) {
		snprintf(err, errlen, "IMDS access_token longer than %zu bytes",
		    token->max);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		*expires_on = 0;
		if (token->data != NULL)
			explicit_bzero(token->data, token->len);
		buf_reset(token);
	}
	/*
	 * json-c's copy of the token is ours to wipe before it is freed (its
	 * tokener's scratch copy is not reachable, nor are libcurl's
	 * buffers: the caller wipes the body it holds).
	 */
	if (tok != NULL)
		explicit_bzero((char *)(uintptr_t)tok, toklen);
	json_object_put(o);
	return rc;
}

/* A length as printf's precision: more than a log line holds is cut. */
static int
precision(size_t n)
{
	return n > 1024 ? 1024 : (int)n;
}

void
cosmos_parse_imds_error(const char *body, size_t len, char *out,
    size_t outlen)
{
	struct json_object	*o;
	char			 ignored[64];
	const char		*e, *d;
	size_t			 en = 0, dn = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if ((o = json_wire_parse(body, len, json_type_object, ignored,
	    sizeof(ignored))) == NULL)
		return;
	e = get_str(o, "error", &en);
	d = get_str(o, "error_description", &dn);
	if (e != NULL && d != NULL)
		snprintf(out, outlen, "%.*s: %.*s", precision(en), e,
		    precision(dn), d);
	else if (e != NULL)
		snprintf(out, outlen, "%.*s", precision(en), e);
	else if (d != NULL)
		snprintf(out, outlen, "%.*s", precision(dn), d);
	json_object_put(o);
}

static int
valid_vm_id(const char *s, size_t n)
{
	size_t	 i;

	if (n != 36)
		return 0;
	for (i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : strchr("0123456789abcdefABCDEF",
		    s[i]) == NULL || s[i] == '\0')
			return 0;
	}
	return 1;
}

static int
valid_vm_name(const char *s, size_t n, size_t max)
{
	return n > 0 && n < max && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int
cosmos_parse_instance(const char *body, size_t len,
    struct cosmos_instance *inst)
{
	struct json_object	*o, *doc, *compute;
	char			 ignored[64];
	const char		*s;
	size_t			 n = 0;

	inst->vm_id[0] = inst->name[0] = '\0';
	if ((o = json_wire_parse(body, len, json_type_object, ignored,
	    sizeof(ignored))) == NULL)
		return -1;
	doc = o;
	if (json_object_object_get_ex(o, "compute", &compute)) {
		if (!json_object_is_type(compute, json_type_object)) {
			json_object_put(o);
			return -1;
		}
		doc = compute;
	}
	if ((s = get_str(doc, "vmId", &n)) != NULL && valid_vm_id(s, n))
		json_wire_copy(inst->vm_id, sizeof(inst->vm_id), s, n);
	if ((s = get_str(doc, "name", &n)) != NULL &&
	    valid_vm_name(s, n, sizeof(inst->name)))
		json_wire_copy(inst->name, sizeof(inst->name), s, n);
	json_object_put(o);
	return inst->vm_id[0] != '\0' || inst->name[0] != '\0' ? 0 : -1;
}
