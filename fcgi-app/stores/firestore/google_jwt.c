#include "google_jwt.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cloud/json_wire.h"

/* A key file and a token answer are flat objects; more is not Google. */
#define PARSE_DEPTH	8

/*
 * Secrets parsed by json-c. The tokener copies each string into its
 * scratch buffer, then into the string object; both copies of a secret
 * are wiped before they are released. The object's bytes are overwritten
 * in place. The scratch buffer is overwritten by parsing, with the same
 * tokener, one string exactly as long as the secret: it lands where the
 * secret was, and being no longer, makes the buffer neither grow nor move
 * (which would free the old bytes unwiped). When the parse itself failed
 * the secret's length is unknown, and the filler is as long as what was
 * read: a buffer that must grow for it is then released unwiped, a risk
 * left only for a file that is not even JSON.
 */
static void
scrub_tokener(struct json_tokener *tok, size_t n)
{
	struct json_object	*o;
	char			*filler;

	if (n == 0 || n > INT_MAX - 2 || (filler = malloc(n + 2)) == NULL)
		return;
	filler[0] = '"';
	memset(filler + 1, 'x', n);
	filler[n + 1] = '"';
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, filler, (int)(n + 2));
	json_object_put(o);
	free(filler);
}

static void
wipe_string(struct json_object *s)
{
	if (s != NULL && json_object_is_type(s, json_type_string))
		OPENSSL_cleanse((char *)(uintptr_t)json_object_get_string(s),
		    (size_t)json_object_get_string_len(s));
}

/*
 * The string member key of o: *s and *n when it is a string of 1 to max
 * bytes with no control character (but line breaks if multiline), else -1
 * with err naming it.
 */
static int
get_str(struct json_object *o, const char *key, size_t max, int multiline,
    const char *what, struct json_object **val, const char **s, size_t *n,
    char *err, size_t errlen)
{
	size_t	 i;

	*val = NULL;
	if (!json_object_object_get_ex(o, key, val) ||
	    !json_object_is_type(*val, json_type_string)) {
		snprintf(err, errlen, "%s has no string %s", what, key);
		return -1;
	}
	*s = json_object_get_string(*val);
	*n = (size_t)json_object_get_string_len(*val);
	if (*n == 0 || *n > max) {
		snprintf(err, errlen, "%s's %s is empty or longer than %zu "
		    "bytes", what, key, max);
		return -1;
	}
	for (i = 0; i < *n; i++)
		if (((unsigned char)(*s)[i] < 0x20 || (*s)[i] == 0x7f) &&
		    !(multiline && ((*s)[i] == '\n' || (*s)[i] == '\r'))) {
			snprintf(err, errlen, "%s's %s holds a control "
			    "character", what, key);
			return -1;
		}
	return 0;
}

/* Google's rule: 6 to 30 of a-z 0-9 -, a letter first, no '-' last. */
static int
project_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n < 6 || n > 30 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* http(s)://host..., no space: where the grant is posted. */
static int
uri_ok(const char *s, size_t n)
{
	size_t	 i, skip;

	if (n > 8 && strncmp(s, "https://", 8) == 0)
		skip = 8;
	else if (n > 7 && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	if (s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* An encrypted PEM is refused, never prompted for on a terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

void
google_key_free(struct google_key *key)
{
	EVP_PKEY_free(key->pkey);
	OPENSSL_cleanse(key, sizeof(*key));
	key->pkey = NULL;
}

int
google_key_parse(const char *body, size_t len, struct google_key *key,
    char *err, size_t errlen)
{
	static const char	 what[] = "service-account key file";
	struct json_tokener	*tok;
	struct json_object	*o = NULL, *v, *pemv = NULL;
	const char		*s;
	size_t			 n, pemlen = 0;
	BIO			*bio = NULL;
	int			 rc = -1;

	memset(key, 0, sizeof(*key));
	if (body == NULL || len == 0 || len > GOOGLE_KEY_FILE_MAX) {
		snprintf(err, errlen, "%s is empty or larger than %d bytes",
		    what, GOOGLE_KEY_FILE_MAX);
		return -1;
	}
	if ((tok = json_tokener_new_ex(PARSE_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((o = json_wire_parse_with(tok, body, len,
	    json_type_object, what, err, errlen)) == NULL) {
		scrub_tokener(tok, json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return -1;
	}
	/*
	 * The key's text is in json-c's hands whichever check fails below:
	 * note its length now, so that both copies are wiped at the end.
	 */
	if (json_object_object_get_ex(o, "private_key", &pemv) &&
	    json_object_is_type(pemv, json_type_string))
		pemlen = (size_t)json_object_get_string_len(pemv);
	else
		pemv = NULL;
	if (get_str(o, "type", 64, 0, what, &v, &s, &n, err, errlen) == -1)
		goto out;
	if (n != strlen("service_account") ||
	    memcmp(s, "service_account", n) != 0) {
		/* Another kind of credential: name the field, not its value. */
		snprintf(err, errlen, "%s's type is not \"service_account\"",
		    what);
		goto out;
	}
	if (get_str(o, "client_email", GOOGLE_EMAIL_MAX - 1, 0, what, &v, &s,
	    &n, err, errlen) == -1)
		goto out;
	if (memchr(s, '@', n) == NULL || memchr(s, ' ', n) != NULL) {
		snprintf(err, errlen, "%s's client_email is not an email "
		    "address", what);
		goto out;
	}
	json_wire_copy(key->client_email, sizeof(key->client_email), s, n);
	if (get_str(o, "private_key_id", GOOGLE_KEY_ID_MAX - 1, 0, what, &v,
	    &s, &n, err, errlen) == -1)
		goto out;
	json_wire_copy(key->private_key_id, sizeof(key->private_key_id), s, n);
	if (get_str(o, "token_uri", GOOGLE_URI_MAX - 1, 0, what, &v, &s, &n,
	    err, errlen) == -1)
		goto out;
	if (!uri_ok(s, n)) {
		snprintf(err, errlen, "%s's token_uri is not an http(s) URL",
		    what);
		goto out;
	}
	json_wire_copy(key->token_uri, sizeof(key->token_uri), s, n);
	/* Optional (GOOGLE_CLOUD_PROJECT may name it), but valid if given. */
	if (json_object_object_get_ex(o, "project_id", &v)) {
		if (get_str(o, "project_id", GOOGLE_PROJECT_MAX - 1, 0, what,
		    &v, &s, &n, err, errlen) == -1 || !project_ok(s, n)) {
			snprintf(err, errlen, "%s's project_id is not a "
			    "project id (6 to 30 of a-z, 0-9 and -, a letter "
			    "first)", what);
			goto out;
		}
		json_wire_copy(key->project_id, sizeof(key->project_id), s, n);
	}
	/* A key of another universe would be refused by googleapis.com. */
	if (json_object_object_get_ex(o, "universe_domain", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "googleapis.com") != 0)) {
		snprintf(err, errlen, "%s's universe_domain is not "
		    "googleapis.com", what);
		goto out;
	}
	if (get_str(o, "private_key", GOOGLE_KEY_FILE_MAX, 1, what, &v, &s,
	    &n, err, errlen) == -1)
		goto out;
	if (n > INT_MAX || (bio = BIO_new_mem_buf(s, (int)n)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	key->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	/* What OpenSSL queued about a bad key must not surface elsewhere. */
	ERR_clear_error();
	if (key->pkey == NULL) {
		snprintf(err, errlen, "%s's private_key is not an unencrypted "
		    "PEM private key", what);
		goto out;
	}
	if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(key->pkey) < 2048) {
		snprintf(err, errlen, "%s's private_key is not an RSA key of "
		    "2048 bits or more", what);
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	wipe_string(pemv);
	json_object_put(o);
	scrub_tokener(tok, pemlen);
	json_tokener_free(tok);
	if (rc == -1)
		google_key_free(key);
	return rc;
}

/* base64url without padding, as JWS wants it (RFC 7515, section 2). */
static size_t
b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

static size_t
b64url(char *dst, const unsigned char *src, size_t n)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			 i, o = 0;
	unsigned long		 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)src[i] << 16 | (unsigned long)src[i + 1] <<
		    8 | src[i + 2];
		dst[o++] = abc[v >> 18 & 63];
		dst[o++] = abc[v >> 12 & 63];
		dst[o++] = abc[v >> 6 & 63];
		dst[o++] = abc[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)src[i] << 16;
		dst[o++] = abc[v >> 18 & 63];
		dst[o++] = abc[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (unsigned long)src[i] << 16 |
		    (unsigned long)src[i + 1] << 8;
		dst[o++] = abc[v >> 18 & 63];
		dst[o++] = abc[v >> 12 & 63];
		dst[o++] = abc[v >> 6 & 63];
	}
	return o;
}

/*
 * header.claims.signature into out. The header and claims are json-c's
 * compact JSON (no escaped '/', as JavaScript writes it), so a JWT made
 * here from the same values is byte for byte the one google-auth-library
 * makes.
 */
static int
sign(struct buf *out, const struct google_key *key, struct json_object *hdr,
    struct json_object *claims, char *err, size_t errlen)
{
	const char	*h, *c;
	size_t		 hn = 0, cn = 0, in_len, siglen = 0, total, o;
	unsigned char	*sig = NULL;
	char		*jwt = NULL;
	EVP_MD_CTX	*ctx = NULL;
	int		 rc = -1;

	if (out->len != 0 || key->pkey == NULL) {
		snprintf(err, errlen, "JWT: no key, or the buffer is in use");
		return -1;
	}
	h = json_object_to_json_string_length(hdr, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &hn);
	c = json_object_to_json_string_length(claims, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &cn);
	if (h == NULL || c == NULL || hn > 4096 || cn > 4096) {
		snprintf(err, errlen, "JWT: header or claims too large");
		return -1;
	}
	/* RSA's signature is as long as its modulus; 16384 bits at most. */
	if ((siglen = (size_t)EVP_PKEY_get_size(key->pkey)) == 0 ||
	    siglen > 2048 || (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1) {
		snprintf(err, errlen, "JWT: cannot sign with the key");
		goto out;
	}
	in_len = b64url_len(hn) + 1 + b64url_len(cn);
	total = in_len + 1 + b64url_len(siglen);
	if ((jwt = malloc(total + 1)) == NULL ||
	    (sig = malloc(siglen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	o = b64url(jwt, (const unsigned char *)h, hn);
	jwt[o++] = '.';
	o += b64url(jwt + o, (const unsigned char *)c, cn);
	if (EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)jwt, o) != 1) {
		snprintf(err, errlen, "JWT: signing failed");
		goto out;
	}
	jwt[o++] = '.';
	o += b64url(jwt + o, sig, siglen);
	jwt[o] = '\0';
	/* Once, into an empty buffer: one allocation, no stale copy. */
	if (o > total || buf_add(out, jwt, o) == -1) {
		snprintf(err, errlen, "JWT: larger than its buffer");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	if (jwt != NULL)
		OPENSSL_clear_free(jwt, total + 1);
	free(sig);
	return rc;
}

static struct json_object *
header_of(const struct google_key *key)
{
	struct json_object	*h;

	if ((h = json_object_new_object()) == NULL)
		return NULL;
	if (json_wire_put(h, "alg", json_object_new_string("RS256")) == -1 ||
	    json_wire_put(h, "typ", json_object_new_string("JWT")) == -1 ||
	    json_wire_put(h, "kid",
	    json_object_new_string(key->private_key_id)) == -1) {
		json_object_put(h);
		return NULL;
	}
	return h;
}

/* Both forms: sub or scope, then aud, exp, iat. */
static int
make_jwt(struct buf *out, const struct google_key *key, const char *scope,
    const char *aud, int self_signed, time_t now, char *err, size_t errlen)
{
	struct json_object	*h, *c;
	int			 rc = -1;

	if (now < 0 || (int64_t)now > INT64_MAX - GOOGLE_JWT_LIFETIME ||
	    aud == NULL || *aud == '\0' || (!self_signed &&
	    (scope == NULL || *scope == '\0'))) {
		snprintf(err, errlen, "JWT: bad time, audience or scope");
		return -1;
	}
	h = header_of(key);
	if ((c = json_object_new_object()) == NULL || h == NULL ||
	    json_wire_put(c, "iss",
	    json_object_new_string(key->client_email)) == -1 ||
	    (self_signed ? json_wire_put(c, "sub",
	    json_object_new_string(key->client_email)) :
	    json_wire_put(c, "scope", json_object_new_string(scope))) == -1 ||
	    json_wire_put(c, "aud", json_object_new_string(aud)) == -1 ||
	    json_wire_put(c, "exp", json_object_new_int64((int64_t)now +
	    GOOGLE_JWT_LIFETIME)) == -1 ||
	    json_wire_put(c, "iat", json_object_new_int64((int64_t)now)) == -1)
		snprintf(err, errlen, "out of memory");
	else
		rc = sign(out, key, h, c, err, errlen);
	json_object_put(h);
	json_object_put(c);
	return rc;
}

int
google_jwt_grant(struct buf *out, const struct google_key *key,
    const char *scope, time_t now, char *err, size_t errlen)
{
	return make_jwt(out, key, scope, key->token_uri, 0, now, err, errlen);
}

int
google_jwt_self_signed(struct buf *out, const struct google_key *key,
    const char *audience, time_t now, char *err, size_t errlen)
{
	return make_jwt(out, key, NULL, audience, 1, now, err, errlen);
}

int
google_grant_body(struct buf *out, const char *jwt, size_t len)
{
	size_t	 i;

	/* base64url and dots need no form encoding; anything else is wrong. */
	for (i = 0; i < len; i++)
		if (!((jwt[i] >= 'A' && jwt[i] <= 'Z') ||
		    (jwt[i] >= 'a' && jwt[i] <= 'z') ||
		    (jwt[i] >= '0' && jwt[i] <= '9') || jwt[i] == '-' ||
		    jwt[i] == '_' || jwt[i] == '.'))
			return -1;
	if (len == 0 || out->len != 0)
		return -1;
	/* Not buf_printf: it formats into a stack buffer first, unwiped. */
	if (buf_addstr(out, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
	    "grant-type%3Ajwt-bearer&assertion=") == -1)
		return -1;
	return buf_add(out, jwt, len);
}

void
google_buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	buf_free(b);
}

void
google_token_wipe(struct google_token *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}

/* RFC 6750's b64token: what a bearer may be, and safe in a header. */
static int
b64token_ok(const char *s, size_t n)
{
	size_t	 i = 0;

	/* memchr, not strchr, which would take a NUL for its terminator. */
	while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
	    memchr("-._~+/", s[i], 6) != NULL))
		i++;
	if (i == 0)
		return 0;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

static int
parse_token(const char *body, size_t len, time_t now, struct google_token *t,
    const char *what, char *err, size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*o, *tokv = NULL, *v;
	const char		*s;
	size_t			 n = 0;
	int64_t			 exp;
	int			 rc = -1;

	google_token_wipe(t);
	if (body == NULL || len == 0 || len > GOOGLE_KEY_FILE_MAX) {
		snprintf(err, errlen, "%s is empty or too large", what);
		return -1;
	}
	if ((tok = json_tokener_new_ex(PARSE_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((o = json_wire_parse_with(tok, body, len,
	    json_type_object, what, err, errlen)) == NULL) {
		scrub_tokener(tok, json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return -1;
	}
	if (json_object_object_get_ex(o, "access_token", &tokv) &&
	    json_object_is_type(tokv, json_type_string))
		n = (size_t)json_object_get_string_len(tokv);
	else
		tokv = NULL;
	if (tokv == NULL || n == 0 || n >= sizeof(t->access_token) ||
	    !b64token_ok(s = json_object_get_string(tokv), n)) {
		snprintf(err, errlen, "%s has no access_token of 1 to %zu "
		    "token characters", what, sizeof(t->access_token) - 1);
		goto out;
	}
	if (!json_object_object_get_ex(o, "expires_in", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (exp = json_object_get_int64(v)) < 1 ||
	    exp > GOOGLE_TOKEN_LIFETIME_MAX || now < 0 ||
	    (int64_t)now > INT64_MAX - exp) {
		snprintf(err, errlen, "%s has no expires_in of 1 to %d seconds",
		    what, GOOGLE_TOKEN_LIFETIME_MAX);
		goto out;
	}
	if (!json_object_object_get_ex(o, "token_type", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcasecmp(json_object_get_string(v), "Bearer") != 0) {
		snprintf(err, errlen, "%s's token_type is not Bearer", what);
		goto out;
	}
	memcpy(t->access_token, s, n);
	t->access_token[n] = '\0';
	t->len = n;
	t->expires_at = (time_t)((int64_t)now + exp);
	rc = 0;
out:
	wipe_string(tokv);
	json_object_put(o);
	scrub_tokener(tok, n);
	json_tokener_free(tok);
	if (rc == -1)
		google_token_wipe(t);
	return rc;
}

int
google_parse_token(const char *body, size_t len, time_t now,
    struct google_token *out, char *err, size_t errlen)
{
	return parse_token(body, len, now, out, "token endpoint's answer", err,
	    errlen);
}

int
google_parse_metadata_token(const char *body, size_t len, time_t now,
    struct google_token *out, char *err, size_t errlen)
{
	return parse_token(body, len, now, out, "metadata server's token", err,
	    errlen);
}

void
google_parse_oauth_error(const char *body, size_t len,
    struct google_oauth_error *e)
{
	struct json_tokener	*tok;
	struct json_object	*o, *v;
	char			 ignored[64];
	const char		*s;
	size_t			 n;

	e->error[0] = e->description[0] = '\0';
	if (body == NULL || len > GOOGLE_KEY_FILE_MAX ||
	    (tok = json_tokener_new_ex(PARSE_DEPTH)) == NULL)
		return;
	o = json_wire_parse_with(tok, body, len, json_type_object, "error",
	    ignored, sizeof(ignored));
	json_tokener_free(tok);
	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &v) &&
	    json_object_is_type(v, json_type_string))
		json_wire_copy(e->error, sizeof(e->error),
		    json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
	if (json_object_object_get_ex(o, "error_description", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		/* The log line's text: up to the first line break. */
		n = strcspn(s, "\r\n") < n ? strcspn(s, "\r\n") : n;
		json_wire_copy(e->description, sizeof(e->description), s, n);
	}
	json_object_put(o);
}
