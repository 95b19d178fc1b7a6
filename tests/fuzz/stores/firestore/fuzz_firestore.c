/*
 * What Google (or anything pretending to be it) hands the Firestore store:
 * a service-account key file, the token endpoint's and the metadata
 * server's answers, OAuth and Firestore error bodies, the answers to a
 * get (batchGet), a put (commit) and a list page, through the pure
 * parsers the store uses; and the names and page tokens it encodes into
 * queries and bodies. Beyond memory errors and leaks, each input checks
 * that a parser refuses rather than half-succeeds: a key that parses
 * signs a JWT of three base64url parts, a token that parses can go into a
 * header as it is and expires within a day, a list page hands over
 * exactly its documents' ids and stops when asked, a get is found or
 * missing only for the name asked, names and tokens come back from their
 * encodings byte for byte, and every error field stays terminated within
 * its array. The values the store reads at
 * start-up go through their checks too: host:port (FIRESTORE_EMULATOR_HOST,
 * GCE_METADATA_HOST), the https:// endpoint (FIRESTORE_ENDPOINT) and the
 * metadata server's plain answers (project id, instance id); what passes
 * is copied whole and holds nothing that could leave a URL or a JSON
 * string.
 *
 * Input: which parser, a parameter byte, a second one, then the body.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "stores/firestore/firestore_wire.h"
#include "stores/firestore/google_config.h"
#include "stores/firestore/google_jwt.h"

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

	CHECK(name != NULL && len > 0, "empty id");
	CHECK(memchr(name, '/', len) == NULL, "id with a '/'");
	for (i = 0; i < len; i++)
		s->sum += (unsigned char)name[i];
	return ++s->calls == s->stop_at;
}

/* The number of documents the body holds, read the loose way; -1 if none. */
static long
docs_in(const char *body, size_t len)
{
	struct json_object	*o, *d;
	long			 n = -1;

	if ((o = json_tokener_parse(body)) == NULL || strlen(body) != len)
		;
	else if (!json_object_object_get_ex(o, "documents", &d))
		n = 0;
	else if (json_object_is_type(d, json_type_array))
		n = (long)json_object_array_length(d);
	json_object_put(o);
	return n;
}

static int
b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
check_key(const char *body, size_t len, time_t now)
{
	struct google_key	 key;
	struct buf		 jwt, form;
	char			 err[256];
	size_t			 i, dots = 0;

	memset(err, 'Z', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (google_key_parse(body, len, &key, err, sizeof(err)) != 0) {
		CHECK(key.pkey == NULL && key.client_email[0] == '\0',
		    "a refused key is not empty");
		CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err");
		return;
	}
	CHECK(key.pkey != NULL && key.client_email[0] != '\0' &&
	    key.private_key_id[0] != '\0' && key.token_uri[0] != '\0',
	    "a parsed key lacks a field");
	buf_init(&jwt, 16384);
	if (google_jwt_grant(&jwt, &key, GOOGLE_SCOPE_DATASTORE, now, err,
	    sizeof(err)) == 0) {
		for (i = 0; i < jwt.len; i++) {
			if (jwt.data[i] == '.')
				dots++;
			else
				CHECK(b64url_char(jwt.data[i]), "JWT byte "
				    "0x%02x", (unsigned char)jwt.data[i]);
		}
		CHECK(dots == 2, "JWT of %zu parts", dots + 1);
		buf_init(&form, 32768);
		CHECK(google_grant_body(&form, jwt.data, jwt.len) == 0,
		    "no grant body for a JWT");
		google_buf_wipe(&form);
	}
	google_buf_wipe(&jwt);
	google_key_free(&key);
	CHECK(key.pkey == NULL, "key not freed");
}

static void
check_token(const char *body, size_t len, time_t now, int metadata)
{
	struct google_token	 t;
	char			 err[256];
	size_t			 i;
	int			 rc;

	memset(&t, 'Z', sizeof(t));
	rc = (metadata ? google_parse_metadata_token : google_parse_token)(
	    body, len, now, &t, err, sizeof(err));
	if (rc != 0) {
		CHECK(t.len == 0 && t.access_token[0] == '\0' &&
		    t.expires_at == 0, "a refused token is not wiped");
		return;
	}
	CHECK(t.len > 0 && t.len < sizeof(t.access_token) &&
	    strlen(t.access_token) == t.len, "token length %zu", t.len);
	for (i = 0; i < t.len; i++)
		CHECK((unsigned char)t.access_token[i] > 0x20 &&
		    (unsigned char)t.access_token[i] < 0x7f &&
		    t.access_token[i] != '"' && t.access_token[i] != '\\' &&
		    t.access_token[i] != ',', "token byte 0x%02x",
		    (unsigned char)t.access_token[i]);
	CHECK(t.expires_at > now && t.expires_at <= now +
	    GOOGLE_TOKEN_LIFETIME_MAX, "expiry %lld at %lld",
	    (long long)t.expires_at, (long long)now);
	google_token_wipe(&t);
}

/* The decoder of the encoder's own form. */
static size_t
unpct(const char *s, size_t n, char *out)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			CHECK(i + 2 < n, "cut %%XX");
			out[o++] = (char)(((s[i + 1] <= '9' ? s[i + 1] - '0' :
			    s[i + 1] - 'A' + 10) << 4) | (s[i + 2] <= '9' ?
			    s[i + 2] - '0' : s[i + 2] - 'A' + 10));
			i += 2;
		} else {
			CHECK(b64url_char(s[i]) || s[i] == '.' || s[i] == '~',
			    "raw byte 0x%02x in a path", (unsigned char)s[i]);
			out[o++] = s[i];
		}
	}
	return o;
}

#define FUZZ_COLL "projects/demo-candidates/databases/(default)/documents/" \
	"candidates/"

/* The string at o's path of keys (NULL: the array's first element). */
static struct json_object *
dig(struct json_object *o, const char *const *path, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && o != NULL; i++) {
		if (path[i] == NULL) {
			o = json_object_is_type(o, json_type_array) &&
			    json_object_array_length(o) == 1 ?
			    json_object_array_get_idx(o, 0) : NULL;
		} else if (!json_object_object_get_ex(o, path[i], &o))
			o = NULL;
	}
	return json_object_is_type(o, json_type_string) ? o : NULL;
}

/* Whether s is exactly the collection's prefix, then name. */
static int
is_doc(struct json_object *s, const char *name, size_t len)
{
	size_t	 plen = strlen(FUZZ_COLL);

	return s != NULL && (size_t)json_object_get_string_len(s) ==
	    plen + len && memcmp(json_object_get_string(s), FUZZ_COLL,
	    plen) == 0 && memcmp(json_object_get_string(s) + plen, name,
	    len) == 0;
}

static void
check_encoders(const char *body, size_t len)
{
	static const char *const doc[] = { "writes", NULL, "update", "name" };
	static const char *const field[] = { "writes", NULL, "update",
	    "fields", FIRESTORE_FIELD, "stringValue" };
	static const char *const asked[] = { "documents", NULL };
	struct json_object	*o;
	struct buf		 b;
	char			*back, err[128];
	size_t			 plen;
	int			 rc;

	buf_init(&b, 1 << 16);
	if (firestore_list_query(&b, FIRESTORE_PAGE_SIZE, body, len) == 0 &&
	    (back = malloc(b.len)) != NULL) {
		plen = strlen("pageSize=300&pageToken=");
		CHECK(unpct(b.data + plen, b.len - plen, back) == len &&
		    memcmp(back, body, len) == 0, "token changed");
		free(back);
	}
	buf_free(&b);
	/* The bodies read back to the name, byte for byte, in its place. */
	buf_init(&b, 1 << 18);
	rc = firestore_commit_body(&b, "demo-candidates", FIRESTORE_DEFAULT_DB,
	    body, len);
	CHECK(rc == 0 || len == 0, "commit body refused");
	if (rc == 0) {
		o = json_tokener_parse(b.data);
		CHECK(o != NULL && is_doc(dig(o, doc, 4), body, len),
		    "commit body lost the document's name");
		CHECK((size_t)json_object_get_string_len(dig(o, field, 6)) ==
		    len && memcmp(json_object_get_string(dig(o, field, 6)),
		    body, len) == 0, "commit body lost the field");
		json_object_put(o);
	}
	buf_reset(&b);
	rc = firestore_batchget_body(&b, "demo-candidates",
	    FIRESTORE_DEFAULT_DB, body, len);
	CHECK(rc == 0 || len == 0, "batchGet body refused");
	if (rc == 0) {
		o = json_tokener_parse(b.data);
		CHECK(o != NULL && is_doc(dig(o, asked, 2), body, len),
		    "batchGet body lost the document's name");
		json_object_put(o);
	}
	buf_free(&b);
	if (firestore_check_project(body, len, err, sizeof(err)) == 0)
		CHECK(len >= 6 && len <= 30 && body[0] >= 'a' &&
		    body[0] <= 'z', "a bad project id passed");
	if (firestore_check_database(body, len, err, sizeof(err)) == 0)
		CHECK(strspn(body, "abcdefghijklmnopqrstuvwxyz0123456789-") ==
		    len || (len == 9 && memcmp(body, "(default)", 9) == 0),
		    "a bad database id passed");
}

/* What a checked address may hold: a host, brackets, a port, a scheme. */
static int
address_byte(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || memchr(".-:[]", c, 5) != NULL;
}

static void
check_address(const char *body, size_t len, unsigned param)
{
	char	 out[GOOGLE_URL_MAX], err[128];
	size_t	 i, n, skip = 0;
	int	 need_port = param & 1, url = param & 2;

	memset(out, 'Z', sizeof(out));
	memset(err, 'Z', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if ((url ? google_check_https_url(body, len, out, sizeof(out), err,
	    sizeof(err)) : google_check_hostport(body, len, need_port, out,
	    GOOGLE_HOSTPORT_MAX, err, sizeof(err))) != 0) {
		CHECK(out[0] == '\0', "a refused value half-copied");
		CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0',
		    "no reason");
		return;
	}
	n = strlen(out);
	if (url) {
		CHECK(n >= 9 && memcmp(out, "https://", 8) == 0, "scheme");
		CHECK(n == len || (n + 1 == len && body[n] == '/'),
		    "url of %zu bytes from %zu", n, len);
		skip = 8;
	} else
		CHECK(n == len, "copied %zu of %zu bytes", n, len);
	CHECK(memcmp(out, body, n) == 0, "changed in the copy");
	for (i = skip; i < n; i++)
		CHECK(address_byte(out[i]), "byte 0x%02x in an address",
		    (unsigned char)out[i]);
	if (need_port && !url)
		CHECK(memchr(out, ':', n) != NULL && out[n - 1] >= '0' &&
		    out[n - 1] <= '9', "no port");
}

static void
check_word(const char *body, size_t len)
{
	char	 out[GCE_WORD_MAX];
	size_t	 i, n;

	memset(out, 'Z', sizeof(out));
	if (gce_metadata_word(body, len, out, sizeof(out)) != 0) {
		CHECK(out[0] == '\0', "a refused word half-copied");
		return;
	}
	n = strlen(out);
	CHECK(n > 0 && n < sizeof(out) && n <= len && len - n <= 2,
	    "word of %zu from %zu bytes", n, len);
	CHECK(memcmp(out, body, n) == 0, "changed in the copy");
	for (i = 0; i < n; i++)
		CHECK(address_byte(out[i]) || out[i] == '_', "byte 0x%02x",
		    (unsigned char)out[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct firestore_error		 fe;
	struct google_oauth_error	 oe;
	struct seen			 s = { 0, 0, 0 };
	struct buf			 next;
	enum firestore_parse		 p;
	enum firestore_verdict		 v;
	char				 err[256], *body;
	size_t				 len, k;
	long				 docs;
	time_t				 now;
	int				 found;

	if (size < 3)
		return 0;
	len = size - 3;
	/* A copy of exactly len bytes (plus a NUL for the loose oracles). */
	if ((body = malloc(len + 1)) == NULL)
		return 0;
	memcpy(body, data + 3, len);
	body[len] = '\0';
	memset(err, 'Z', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	now = (time_t)1700000000 + ((time_t)data[1] << 16);

	switch (data[0] % 10) {
	case 0:
		check_key(body, len, now);
		break;
	case 1:
	case 2:
		check_token(body, len, now, data[0] % 8 == 2);
		break;
	case 3:
		memset(&oe, 'Z', sizeof(oe));
		google_parse_oauth_error(body, len, &oe);
		CHECK(memchr(oe.error, '\0', sizeof(oe.error)) != NULL &&
		    memchr(oe.description, '\0', sizeof(oe.description)) !=
		    NULL, "OAuth error fields not terminated");
		break;
	case 4:
		s.stop_at = data[1];	/* 0: never */
		buf_init(&next, FIRESTORE_TOKEN_MAX + 1);
		p = firestore_parse_list(body, len, count_name, &s, &next, err,
		    sizeof(err));
		CHECK(next.len == 0 || p == FIRESTORE_PARSED, "token with %d",
		    p);
		CHECK(next.len <= FIRESTORE_TOKEN_MAX, "token of %zu",
		    next.len);
		for (k = 0; k < next.len; k++)
			CHECK((unsigned char)next.data[k] > 0x20 &&
			    (unsigned char)next.data[k] < 0x7f, "token byte");
		CHECK((p == FIRESTORE_STOPPED) == (s.stop_at != 0 &&
		    s.calls == s.stop_at), "stopped %d after %zu of %zu", p,
		    s.calls, s.stop_at);
		if (p == FIRESTORE_PARSED) {
			docs = docs_in(body, len);
			CHECK(docs < 0 || (size_t)docs == s.calls,
			    "%zu ids from %ld documents", s.calls, docs);
		}
		buf_free(&next);
		break;
	case 5:
		/* The name asked for is the body's first data[1] % 32 bytes. */
		k = (size_t)data[1] % 32 < len ? (size_t)data[1] % 32 : len;
		found = 7;
		p = firestore_parse_batchget(body + k, len - k, body, k, &found,
		    err, sizeof(err));
		CHECK(p == FIRESTORE_PARSED || p == FIRESTORE_GARBAGE,
		    "batchGet %d", p);
		CHECK(p == FIRESTORE_GARBAGE || k > 0, "an empty id matched");
		CHECK(p == FIRESTORE_PARSED ? found == 0 || found == 1 :
		    found == 0, "found %d with %d", found, p);
		p = firestore_parse_commit(body, len, err, sizeof(err));
		CHECK(p == FIRESTORE_PARSED || p == FIRESTORE_GARBAGE,
		    "commit %d", p);
		break;
	case 6:
		memset(&fe, 'Z', sizeof(fe));
		firestore_parse_error(body, len, &fe);
		CHECK(memchr(fe.status, '\0', sizeof(fe.status)) != NULL &&
		    memchr(fe.message, '\0', sizeof(fe.message)) != NULL,
		    "error fields not terminated");
		CHECK(fe.google || (fe.code == 0 && fe.status[0] == '\0'),
		    "fields from a body that is not Google's");
		v = firestore_classify((long)data[1] * 4 + data[2] / 64, &fe);
		CHECK(v >= FIRESTORE_RETRY && v <= FIRESTORE_BROKEN,
		    "verdict %d", v);
		CHECK(v == FIRESTORE_BROKEN || fe.google ||
		    (long)data[1] * 4 + data[2] / 64 == 429 ||
		    (long)data[1] * 4 + data[2] / 64 >= 500,
		    "a verdict other than broken on a body not Google's");
		break;
	case 7:
		check_encoders(body, len);
		break;
	case 8:
		check_address(body, len, data[1]);
		break;
	default:
		check_word(body, len);
		break;
	}
	CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err not terminated");
	free(body);
	return 0;
}
