/*
 * Google credentials: the key file read (every field checked, no value
 * ever quoted), the JWTs made from it checked by two oracles that share no
 * code with ours (OpenSSL's verification against the public key, and the
 * exact tokens google-auth-library makes from the same key and times, in
 * tests/testdata/google-jwt), and the token answers parsed (anything that
 * could not go into a header as it is, refused).
 *
 * The vectors are found at $GOOGLE_JWT_TESTDATA, else
 * tests/testdata/google-jwt from the working directory (the repository's
 * root, where make runs the tests).
 */
#include "unit.h"

#include <stdlib.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "stores/firestore/google_jwt.h"

static const char	*testdata;

/* A whole file, NUL-terminated; NULL if unreadable. */
static char *
slurp(const char *name, size_t *len)
{
	char	 path[512], *p = NULL;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%s/%s", testdata, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL) {
		if (fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else {
			p[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return p;
}

static struct json_object *
load_json(const char *name)
{
	struct json_object	*o;
	size_t			 len;
	char			*s;

	if ((s = slurp(name, &len)) == NULL)
		fail_msg("cannot read %s/%s (set GOOGLE_JWT_TESTDATA)",
		    testdata, name);
	o = json_tokener_parse(s);
	free(s);
	assert_non_null(o);
	return o;
}

static const char *
str_of(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

/* A PEM of pkey: private (PKCS#8, encrypted if pass), or public. */
static char *
pem_of(EVP_PKEY *pkey, int public, const char *pass)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*data, *copy;
	long	 n;

	assert_non_null(bio);
	if (public)
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	else
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pkey,
		    pass != NULL ? EVP_aes_256_cbc() : NULL, pass,
		    pass != NULL ? (int)strlen(pass) : 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	copy = malloc((size_t)n + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	BIO_free(bio);
	return copy;
}

/* The key file of the vectors with field set to val (NULL: removed). */
static char *
key_file_with(const char *field, struct json_object *val)
{
	struct json_object	*o = load_json("sa-key.json");
	char			*s;

	if (field != NULL) {
		json_object_object_del(o, field);
		if (val != NULL)
			json_object_object_add(o, field, val);
	} else
		json_object_put(val);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	assert_non_null(s);
	return s;
}

static void
test_key_parse(void **state)
{
	struct json_object	*o = load_json("sa-key.json");
	struct google_key	 key;
	char			 err[256] = "", *body;
	size_t			 len;

	(void)state;
	body = slurp("sa-key.json", &len);
	assert_non_null(body);
	if (google_key_parse(body, len, &key, err, sizeof(err)) != 0)
		fail_msg("the vectors' key file: %s", err);
	assert_string_equal(key.client_email, str_of(o, "client_email"));
	assert_string_equal(key.private_key_id, str_of(o, "private_key_id"));
	assert_string_equal(key.token_uri, str_of(o, "token_uri"));
	assert_string_equal(key.project_id, str_of(o, "project_id"));
	assert_non_null(key.pkey);
	assert_int_equal(EVP_PKEY_get_base_id(key.pkey), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(key.pkey), 2048);
	google_key_free(&key);
	/* Freed means wiped: nothing of the key's names is left either. */
	assert_null(key.pkey);
	assert_int_equal(key.client_email[0] | key.private_key_id[0] |
	    key.token_uri[0], 0);
	google_key_free(&key);		/* twice is harmless */
	free(body);
	json_object_put(o);
}

/*
 * Every field used is checked; the error names the field and quotes no
 * value (each bad value here holds SECRET, which no error may show), and
 * the key comes back empty.
 */
static void
test_key_parse_refused(void **state)
{
	EVP_PKEY	*ec, *rsa1024;
	char		*ec_pem, *small_pem, *locked_pem, *pub_pem, *pem, *cut;
	struct {
		int		 line;
		const char	*field;	/* NULL: body is the whole file */
		struct json_object *val;
		const char	*body;
		const char	*want;	/* in err */
	} rows[64];
	size_t		 n = 0, i;
	char		 big[GOOGLE_KEY_FILE_MAX + 16];
	struct json_object *o;

	(void)state;
	assert_non_null(ec = EVP_EC_gen("P-256"));
	assert_non_null(rsa1024 = EVP_RSA_gen(1024));
	ec_pem = pem_of(ec, 0, NULL);
	small_pem = pem_of(rsa1024, 0, NULL);
	locked_pem = pem_of(rsa1024, 0, "SECRET-pass");
	pub_pem = pem_of(rsa1024, 1, NULL);
	o = load_json("sa-key.json");
	pem = strdup(str_of(o, "private_key"));
	json_object_put(o);
	cut = strdup(pem);
	cut[strlen(cut) / 2] = '\0';
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';

#define ROW(f, v, b, w) do {						\
	rows[n].line = __LINE__;					\
	rows[n].field = (f);						\
	rows[n].val = (v);						\
	rows[n].body = (b);						\
	rows[n].want = (w);						\
	n++;								\
} while (0)
#define S(s) json_object_new_string(s)
	ROW(NULL, NULL, "", "empty");
	ROW(NULL, NULL, "{", "not a JSON object");
	ROW(NULL, NULL, "[]", "not a JSON object");
	ROW(NULL, NULL, "{\"type\":\"service_account\"} {}", "not a JSON object");
	ROW(NULL, NULL, "{\"type\":\"service_acc\xff\"}", "not a JSON object");
	ROW(NULL, NULL, big, "larger than");
	ROW("type", NULL, NULL, "no string type");
	ROW("type", S("authorized_user"), NULL, "type is not");
	ROW("type", json_object_new_int(1), NULL, "no string type");
	ROW("client_email", NULL, NULL, "client_email");
	ROW("client_email", S(""), NULL, "client_email is empty");
	ROW("client_email", S("SECRET-no-at-sign"), NULL,
	    "client_email is not an email");
	ROW("client_email", S("SECRET @x"), NULL, "client_email is not an email");
	ROW("client_email", S("SECRET\x01@x"), NULL,
	    "client_email holds a control");
	ROW("private_key_id", NULL, NULL, "private_key_id");
	ROW("private_key_id", S(""), NULL, "private_key_id is empty");
	ROW("private_key_id", S("SECRET\n"), NULL, "private_key_id holds");
	ROW("token_uri", NULL, NULL, "token_uri");
	ROW("token_uri", S("ftp://SECRET/token"), NULL, "token_uri is not");
	ROW("token_uri", S("https://"), NULL, "token_uri is not");
	ROW("token_uri", S("https:///SECRET"), NULL, "token_uri is not");
	ROW("token_uri", S("https://SECRET host/"), NULL, "token_uri is not");
	ROW("token_uri", S("oauth2.googleapis.com/SECRET"), NULL,
	    "token_uri is not");
	ROW("project_id", S("SECRET_project"), NULL, "project_id is not");
	ROW("project_id", S("short"), NULL, "project_id is not");
	ROW("project_id", S("1secret-project"), NULL, "project_id is not");
	ROW("project_id", S("secret-project-"), NULL, "project_id is not");
	ROW("project_id", S("secret-project-is-far-too-long0"), NULL,
	    "project_id is not");
	ROW("project_id", json_object_new_int(123456), NULL,
	    "project_id is not");
	ROW("universe_domain", S("SECRET.example.com"), NULL,
	    "universe_domain is not");
	ROW("universe_domain", json_object_new_int(7), NULL,
	    "universe_domain is not");
	ROW("private_key", NULL, NULL, "no string private_key");
	ROW("private_key", S(""), NULL, "private_key is empty");
	ROW("private_key", S("SECRET, not a PEM"), NULL,
	    "private_key is not an unencrypted PEM");
	ROW("private_key", S(ec_pem), NULL, "not an RSA key");
	ROW("private_key", S(small_pem), NULL, "2048 bits or more");
	ROW("private_key", S(locked_pem), NULL,
	    "private_key is not an unencrypted PEM");
	ROW("private_key", S(pub_pem), NULL,
	    "private_key is not an unencrypted PEM");
	ROW("private_key", S(cut), NULL, "private_key is not an unencrypted PEM");
	ROW("private_key", S("-----BEGIN PRIVATE KEY-----\nSECRET\x01\n"),
	    NULL, "private_key holds a control");
#undef S
#undef ROW
	assert_true(n <= sizeof(rows) / sizeof(rows[0]));

	for (i = 0; i < n; i++) {
		struct google_key	 key;
		char			 err[256] = "", *body;
		size_t			 k;
		int			 rc;

		body = rows[i].body != NULL ? strdup(rows[i].body) :
		    key_file_with(rows[i].field, rows[i].val);
		assert_non_null(body);
		memset(&key, 'Z', sizeof(key));
		rc = google_key_parse(body, strlen(body), &key, err,
		    sizeof(err));
		if (rc != -1)
			ROW_FAIL(rows[i].line, "accepted");
		if (strstr(err, rows[i].want) == NULL)
			ROW_FAIL(rows[i].line, "err '%s' lacks '%s'", err,
			    rows[i].want);
		if (rows[i].body == NULL && (strstr(err, "key file") == NULL ||
		    strstr(err, rows[i].field) == NULL))
			ROW_FAIL(rows[i].line, "err '%s' does not name the "
			    "file and %s", err, rows[i].field);
		if (strstr(err, "SECRET") != NULL ||
		    strstr(err, "-----") != NULL || strstr(err, "MII") != NULL)
			ROW_FAIL(rows[i].line, "err quotes a value: %s", err);
		for (k = 0; k < sizeof(key); k++)
			if (((unsigned char *)&key)[k] != 0)
				ROW_FAIL(rows[i].line, "key not left empty");
		free(body);
	}
	/* Other fields and their absence are fine. */
	{
		struct google_key	 key;
		char			 err[256], *body;

		body = key_file_with("project_id", NULL);
		assert_int_equal(google_key_parse(body, strlen(body), &key, err,
		    sizeof(err)), 0);
		assert_string_equal(key.project_id, "");
		google_key_free(&key);
		free(body);
		body = key_file_with("universe_domain", NULL);
		assert_int_equal(google_key_parse(body, strlen(body), &key, err,
		    sizeof(err)), 0);
		google_key_free(&key);
		free(body);
		/* A key with CRLF line breaks, as Windows may save it. */
		o = load_json("sa-key.json");
		free(pem);
		pem = malloc(4096);
		{
			const char	*p = str_of(o, "private_key");
			size_t		 w = 0;

			for (; *p != '\0' && w < 4000; p++) {
				if (*p == '\n')
					pem[w++] = '\r';
				pem[w++] = *p;
			}
			pem[w] = '\0';
		}
		json_object_put(o);
		body = key_file_with("private_key", json_object_new_string(pem));
		assert_int_equal(google_key_parse(body, strlen(body), &key, err,
		    sizeof(err)), 0);
		google_key_free(&key);
		free(body);
	}
	/* The length decides, not a NUL: a cut file, and bytes after one. */
	{
		struct google_key	 key;
		char			 err[256], *body, *end;
		size_t			 len;

		assert_non_null(body = slurp("sa-key.json", &len));
		assert_non_null(end = strrchr(body, '}'));
		assert_int_equal(google_key_parse(body, (size_t)(end - body),
		    &key, err, sizeof(err)), -1);
		end[1] = '\0';
		assert_int_equal(google_key_parse(body,
		    (size_t)(end - body) + 2, &key, err, sizeof(err)), -1);
		assert_int_equal(google_key_parse(body,
		    (size_t)(end - body) + 1, &key, err, sizeof(err)), 0);
		google_key_free(&key);
		free(body);
	}
	free(pem);
	free(cut);
	free(ec_pem);
	free(small_pem);
	free(locked_pem);
	free(pub_pem);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa1024);
}

/* The public half alone, as a verifier holds it. */
static EVP_PKEY *
public_of(EVP_PKEY *pkey)
{
	unsigned char		*der = NULL;
	const unsigned char	*p;
	EVP_PKEY		*pub;
	int			 n;

	assert_true((n = i2d_PUBKEY(pkey, &der)) > 0);
	p = der;
	pub = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	assert_non_null(pub);
	return pub;
}

static unsigned char *
unb64url(const char *s, size_t n, size_t *outlen)
{
	unsigned char	*out = malloc(n + 1);
	unsigned long	 acc = 0;
	size_t		 i, o = 0;
	int		 bits = 0;

	assert_non_null(out);
	for (i = 0; i < n; i++) {
		const char	*abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_";
		const char	*at = strchr(abc, s[i]);

		if (at == NULL || s[i] == '\0') {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned long)(at - abc);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/*
 * OpenSSL's verdict on jwt's RS256 signature under pub, and its header
 * and claims decoded.
 */
static int
verify(EVP_PKEY *pub, const char *jwt, struct json_object **hdr,
    struct json_object **claims)
{
	const char	*d1 = strchr(jwt, '.'), *d2;
	unsigned char	*sig, *h, *c;
	size_t		 siglen, hn, cn;
	EVP_MD_CTX	*ctx;
	int		 ok;

	*hdr = *claims = NULL;
	if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL ||
	    strchr(d2 + 1, '.') != NULL)
		return 0;
	if ((sig = unb64url(d2 + 1, strlen(d2 + 1), &siglen)) == NULL)
		return 0;
	assert_non_null(ctx = EVP_MD_CTX_new());
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jwt,
	    (size_t)(d2 - jwt)) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	free(sig);
	if ((h = unb64url(jwt, (size_t)(d1 - jwt), &hn)) != NULL)
		*hdr = json_tokener_parse((char *)h);
	if ((c = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &cn)) != NULL)
		*claims = json_tokener_parse((char *)c);
	free(h);
	free(c);
	return ok;
}

static long long
int_of(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return (long long)json_object_get_int64(v);
}

/* Checks jwt's shape and claims as the token endpoint will. */
static void
check_jwt(int line, EVP_PKEY *pub, const struct google_key *key,
    const char *jwt, int self_signed, const char *scope_or_aud, time_t iat)
{
	struct json_object	*h, *c;
	char			 tampered[4096];
	size_t			 n = strlen(jwt);

	if (!verify(pub, jwt, &h, &c))
		ROW_FAIL(line, "OpenSSL refuses the signature of %s", jwt);
	if (h == NULL || c == NULL)
		ROW_FAIL(line, "header or claims are not JSON");
	if (json_object_object_length(h) != 3 ||
	    strcmp(str_of(h, "alg"), "RS256") != 0 ||
	    strcmp(str_of(h, "typ"), "JWT") != 0 ||
	    strcmp(str_of(h, "kid"), key->private_key_id) != 0)
		ROW_FAIL(line, "header %s", json_object_to_json_string(h));
	if (json_object_object_length(c) != 5 ||
	    strcmp(str_of(c, "iss"), key->client_email) != 0 ||
	    int_of(c, "iat") != (long long)iat ||
	    int_of(c, "exp") != (long long)iat + 3600 ||
	    (self_signed ? strcmp(str_of(c, "sub"), key->client_email) != 0 ||
	    strcmp(str_of(c, "aud"), scope_or_aud) != 0 :
	    strcmp(str_of(c, "scope"), scope_or_aud) != 0 ||
	    strcmp(str_of(c, "aud"), key->token_uri) != 0))
		ROW_FAIL(line, "claims %s", json_object_to_json_string(c));
	json_object_put(h);
	json_object_put(c);
	/* The oracle can say no: one bit off anywhere and it does. */
	assert_true(n < sizeof(tampered));
	memcpy(tampered, jwt, n + 1);
	tampered[n - 3] = tampered[n - 3] == 'A' ? 'B' : 'A';
	if (verify(pub, tampered, &h, &c))
		ROW_FAIL(line, "a tampered signature verifies");
	json_object_put(h);
	json_object_put(c);
	memcpy(tampered, jwt, n + 1);
	*strchr(tampered, '.') = 'x';
	if (verify(pub, tampered, &h, &c))
		ROW_FAIL(line, "a tampered header verifies");
	json_object_put(h);
	json_object_put(c);
}

/* google-auth-library's tokens, byte for byte, and OpenSSL's nod. */
static void
test_jwt_vectors(void **state)
{
	struct json_object	*vec = load_json("vectors.json"), *rows;
	struct google_key	 key;
	EVP_PKEY		*pub;
	char			 err[256] = "", *body;
	size_t			 len, i, n;

	(void)state;
	body = slurp("sa-key.json", &len);
	assert_non_null(body);
	assert_int_equal(google_key_parse(body, len, &key, err, sizeof(err)),
	    0);
	pub = public_of(key.pkey);
	assert_true(json_object_object_get_ex(vec, "rows", &rows));
	assert_true((n = json_object_array_length(rows)) >= 4);
	for (i = 0; i < n; i++) {
		struct json_object	*row = json_object_array_get_idx(rows, i);
		const char		*form = str_of(row, "form");
		const char		*want = str_of(row, "jwt");
		time_t			 iat = (time_t)int_of(row, "iat");
		int			 self = strcmp(form, "self-signed") == 0;
		const char		*arg = str_of(row, self ? "audience" :
		    "scope");
		struct buf		 b;
		int			 line = __LINE__;	/* and i */

		buf_init(&b, 8192);
		if ((self ? google_jwt_self_signed(&b, &key, arg, iat, err,
		    sizeof(err)) : google_jwt_grant(&b, &key, arg, iat, err,
		    sizeof(err))) != 0)
			ROW_FAIL(line, "vector %zu (%s): %s", i, form, err);
		if (strcmp(b.data, want) != 0)
			ROW_FAIL(line, "vector %zu (%s at %lld):\n got  %s\n "
			    "want %s", i, form, (long long)iat, b.data, want);
		if (!self) {
			/* gtoken's own claims segment, to the byte. */
			const char	*g = str_of(row, "grant_gtoken");
			const char	*gc = strchr(g, '.') + 1;
			const char	*oc = strchr(b.data, '.') + 1;
			size_t		 gn = (size_t)(strchr(gc, '.') - gc);

			if (strncmp(gc, oc, gn) != 0 || oc[gn] != '.')
				ROW_FAIL(line, "vector %zu: claims differ from "
				    "gtoken's", i);
		}
		check_jwt(line, pub, &key, b.data, self, arg, iat);
		google_buf_wipe(&b);
		assert_null(b.data);
	}
	EVP_PKEY_free(pub);
	google_key_free(&key);
	free(body);
	json_object_put(vec);
}

/* Any key: a fresh one, in a key file of its own, signs and verifies. */
/*
 * Any key: a fresh one, in a key file of its own, signs what its public
 * half verifies and the vectors' key does not.
 */
static void
test_jwt_fresh_key(void **state)
{
	static const struct {
		int		 line;
		int		 bits;
		const char	*email;
	} rows[] = {
		{ __LINE__, 2048, "a@b.iam.gserviceaccount.com" },
		{ __LINE__, 3072, "x\"quote\\slash/@p.iam.gserviceaccount.com" },
	};
	struct google_key	 vkey;
	EVP_PKEY		*vpub;
	char			 err[256] = "", *vbody;
	size_t			 vlen, i;

	(void)state;
	assert_non_null(vbody = slurp("sa-key.json", &vlen));
	assert_int_equal(google_key_parse(vbody, vlen, &vkey, err,
	    sizeof(err)), 0);
	vpub = public_of(vkey.pkey);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object	*o = load_json("sa-key.json"), *h, *c;
		struct google_key	 key;
		EVP_PKEY		*pkey, *pub;
		struct buf		 b;
		char			*pem, *body;
		time_t			 now = 1767225600 + (time_t)i;

		assert_non_null(pkey = EVP_RSA_gen((unsigned)rows[i].bits));
		pem = pem_of(pkey, 0, NULL);
		json_object_object_add(o, "private_key",
		    json_object_new_string(pem));
		json_object_object_add(o, "client_email",
		    json_object_new_string(rows[i].email));
		body = strdup(json_object_to_json_string(o));
		if (google_key_parse(body, strlen(body), &key, err,
		    sizeof(err)) != 0)
			ROW_FAIL(rows[i].line, "%s", err);
		pub = public_of(pkey);
		buf_init(&b, 8192);
		if (google_jwt_grant(&b, &key, GOOGLE_SCOPE_DATASTORE, now, err,
		    sizeof(err)) != 0)
			ROW_FAIL(rows[i].line, "%s", err);
		check_jwt(rows[i].line, pub, &key, b.data, 0,
		    GOOGLE_SCOPE_DATASTORE, now);
		google_buf_wipe(&b);
		buf_init(&b, 8192);
		if (google_jwt_self_signed(&b, &key, GOOGLE_FIRESTORE_AUDIENCE,
		    now, err, sizeof(err)) != 0)
			ROW_FAIL(rows[i].line, "%s", err);
		check_jwt(rows[i].line, pub, &key, b.data, 1,
		    GOOGLE_FIRESTORE_AUDIENCE, now);
		if (verify(vpub, b.data, &h, &c))
			ROW_FAIL(rows[i].line, "another key verifies");
		json_object_put(h);
		json_object_put(c);
		google_buf_wipe(&b);
		google_key_free(&key);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(pkey);
		free(pem);
		free(body);
		json_object_put(o);
	}
	EVP_PKEY_free(vpub);
	google_key_free(&vkey);
	free(vbody);
}

static void
test_jwt_refused(void **state)
{
	struct google_key	 key, empty;
	struct buf		 b;
	char			 err[256], *body;
	size_t			 len;

	(void)state;
	body = slurp("sa-key.json", &len);
	assert_non_null(body);
	assert_int_equal(google_key_parse(body, len, &key, err, sizeof(err)),
	    0);
	buf_init(&b, 8192);
	/* Bad times, scopes and audiences. */
	assert_int_equal(google_jwt_grant(&b, &key, GOOGLE_SCOPE_DATASTORE,
	    -1, err, sizeof(err)), -1);
	assert_int_equal(google_jwt_grant(&b, &key, NULL, 1700000000, err,
	    sizeof(err)), -1);
	assert_int_equal(google_jwt_grant(&b, &key, "", 1700000000, err,
	    sizeof(err)), -1);
	assert_int_equal(google_jwt_self_signed(&b, &key, "", 1700000000, err,
	    sizeof(err)), -1);
	assert_int_equal(google_jwt_self_signed(&b, &key, NULL, 1700000000,
	    err, sizeof(err)), -1);
	assert_int_equal(b.len, 0);
	/* A buffer in use is not written into: the JWT goes in once. */
	assert_int_equal(buf_add(&b, "x", 1), 0);
	assert_int_equal(google_jwt_grant(&b, &key, GOOGLE_SCOPE_DATASTORE,
	    1700000000, err, sizeof(err)), -1);
	assert_string_equal(b.data, "x");
	google_buf_wipe(&b);
	/* Too small a ceiling fails, never truncates. */
	buf_init(&b, 100);
	assert_int_equal(google_jwt_grant(&b, &key, GOOGLE_SCOPE_DATASTORE,
	    1700000000, err, sizeof(err)), -1);
	assert_null(b.data);
	/* No key. */
	memset(&empty, 0, sizeof(empty));
	buf_init(&b, 8192);
	assert_int_equal(google_jwt_self_signed(&b, &empty,
	    GOOGLE_FIRESTORE_AUDIENCE, 1700000000, err, sizeof(err)), -1);
	buf_free(&b);
	google_key_free(&key);
	free(body);
}

static void
test_grant_body(void **state)
{
	static const struct {
		int		 line;
		const char	*jwt;
		int		 rc;
	} rows[] = {
		{ __LINE__, "aGVhZA.Y2xhaW1z.c2ln-_", 0 },
		{ __LINE__, "a", 0 },
		{ __LINE__, "", -1 },
		{ __LINE__, "a&b=c", -1 },
		{ __LINE__, "a b", -1 },
		{ __LINE__, "a+b/c=", -1 },
		{ __LINE__, "a\nb", -1 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf	 b;
		char		 want[256];

		buf_init(&b, 4096);
		if (google_grant_body(&b, rows[i].jwt, strlen(rows[i].jwt)) !=
		    rows[i].rc)
			ROW_FAIL(rows[i].line, "rc");
		snprintf(want, sizeof(want), "grant_type=urn%%3Aietf%%3Aparams"
		    "%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
		    rows[i].jwt);
		if (rows[i].rc == 0 && strcmp(b.data, want) != 0)
			ROW_FAIL(rows[i].line, "body %s", b.data);
		if (rows[i].rc == -1 && b.len != 0)
			ROW_FAIL(rows[i].line, "wrote on failure");
		google_buf_wipe(&b);
	}
}

static void
test_parse_token(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		int		 rc;
		const char	*token;
		long		 expires_in;
	} rows[] = {
		{ __LINE__, "{\"access_token\":\"ya29.c.b0Aaek-_~+/x==\","
		    "\"expires_in\":3599,\"token_type\":\"Bearer\"}", 0,
		    "ya29.c.b0Aaek-_~+/x==", 3599 },
		/* The metadata server's, and other members, are fine. */
		{ __LINE__, "{\n  \"access_token\": \"ya29.m\",\n  "
		    "\"expires_in\": 1,\n  \"token_type\": \"bearer\", "
		    "\"scope\": \"x\", \"id_token\": \"y\"}\n", 0, "ya29.m", 1 },
		{ __LINE__, "{\"access_token\":\"t\",\"expires_in\":86400,"
		    "\"token_type\":\"BEARER\"}", 0, "t", 86400 },
		{ __LINE__, "", -1, "", 0 },
		{ __LINE__, "{", -1, "", 0 },
		{ __LINE__, "[]", -1, "", 0 },
		{ __LINE__, "{} {}", -1, "", 0 },
		{ __LINE__, "<html>502</html>", -1, "", 0 },
		{ __LINE__, "{\"expires_in\":3599,\"token_type\":\"Bearer\"}",
		    -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"\",\"expires_in\":3599,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":7,\"expires_in\":3599,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"ya29 SECRET\",\"expires_in\":"
		    "3599,\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"ya29.SECRET\\r\\nX-Evil: 1\","
		    "\"expires_in\":3599,\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"ya29.SECRET\\\"\",\"expires_in\":"
		    "3599,\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"ya29.SECRET\\u00e9\","
		    "\"expires_in\":3599,\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"=SECRET\",\"expires_in\":3599,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET=x\",\"expires_in\":3599,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\\u0000x\",\"expires_in\":"
		    "3599,\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"token_type\":"
		    "\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":0,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":-5,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":86401,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":"
		    "\"3599\",\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":3599.5,"
		    "\"token_type\":\"Bearer\"}", -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":3599}",
		    -1, "", 0 },
		{ __LINE__, "{\"access_token\":\"SECRET\",\"expires_in\":3599,"
		    "\"token_type\":\"MAC\"}", -1, "", 0 },
	};
	size_t	 i, k;
	time_t	 now = 1767225600;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (k = 0; k < 2; k++) {
			struct google_token	 t;
			char			 err[256] = "";
			int			 rc;

			memset(&t, 'Z', sizeof(t));
			rc = (k == 0 ? google_parse_token :
			    google_parse_metadata_token)(rows[i].body,
			    strlen(rows[i].body), now, &t, err, sizeof(err));
			if (rc != rows[i].rc)
				ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
			if (rc == 0 && (strcmp(t.access_token,
			    rows[i].token) != 0 ||
			    t.len != strlen(rows[i].token) ||
			    t.expires_at != now + rows[i].expires_in))
				ROW_FAIL(rows[i].line, "token '%s' expires %lld",
				    t.access_token, (long long)t.expires_at);
			if (rc == -1 && (t.len != 0 ||
			    t.access_token[0] != '\0' || t.expires_at != 0))
				ROW_FAIL(rows[i].line, "token not wiped");
			if (rc == -1 && strstr(err, k == 0 ? "token endpoint" :
			    "metadata server") == NULL)
				ROW_FAIL(rows[i].line, "err '%s' names no "
				    "source", err);
			if (strstr(err, "SECRET") != NULL)
				ROW_FAIL(rows[i].line, "err quotes the token");
			google_token_wipe(&t);
		}
	/* Long tokens: the longest that fits, and one byte more. */
	{
		static char		 body[GOOGLE_TOKEN_MAX + 128];
		struct google_token	 t;
		char			 tok[GOOGLE_TOKEN_MAX + 1], err[256];

		memset(tok, 'a', sizeof(tok) - 1);
		tok[sizeof(tok) - 1] = '\0';
		snprintf(body, sizeof(body), "{\"access_token\":\"%s\","
		    "\"expires_in\":60,\"token_type\":\"Bearer\"}", tok);
		assert_int_equal(google_parse_token(body, strlen(body), now, &t,
		    err, sizeof(err)), -1);
		tok[sizeof(tok) - 2] = '\0';
		snprintf(body, sizeof(body), "{\"access_token\":\"%s\","
		    "\"expires_in\":60,\"token_type\":\"Bearer\"}", tok);
		assert_int_equal(google_parse_token(body, strlen(body), now, &t,
		    err, sizeof(err)), 0);
		assert_int_equal(t.len, GOOGLE_TOKEN_MAX - 1);
		google_token_wipe(&t);
		/* A clock that cannot be added to. */
		assert_int_equal(google_parse_token(body, strlen(body), -1, &t,
		    err, sizeof(err)), -1);
	}
}

static void
test_parse_oauth_error(void **state)
{
	static const struct {
		int		 line;
		const char	*body, *error, *description;
	} rows[] = {
		{ __LINE__, "{\"error\":\"invalid_grant\",\"error_description\":"
		    "\"Invalid JWT Signature.\"}", "invalid_grant",
		    "Invalid JWT Signature." },
		{ __LINE__, "{\n  \"error\": \"invalid_scope\"\n}\n",
		    "invalid_scope", "" },
		{ __LINE__, "{\"error\":\"invalid_grant\",\"error_description\":"
		    "\"Invalid JWT: Token must be a short-lived token\\nsecond "
		    "line\"}", "invalid_grant",
		    "Invalid JWT: Token must be a short-lived token" },
		{ __LINE__, "{\"error\":{\"code\":400}}", "", "" },
		{ __LINE__, "<html>", "", "" },
		{ __LINE__, "", "", "" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct google_oauth_error	 e;

		memset(&e, 'Z', sizeof(e));
		google_parse_oauth_error(rows[i].body, strlen(rows[i].body), &e);
		if (strcmp(e.error, rows[i].error) != 0 ||
		    strcmp(e.description, rows[i].description) != 0)
			ROW_FAIL(rows[i].line, "got '%s' '%s'", e.error,
			    e.description);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_parse_refused),
		cmocka_unit_test(test_jwt_vectors),
		cmocka_unit_test(test_jwt_fresh_key),
		cmocka_unit_test(test_jwt_refused),
		cmocka_unit_test(test_grant_body),
		cmocka_unit_test(test_parse_token),
		cmocka_unit_test(test_parse_oauth_error),
	};

	if ((testdata = getenv("GOOGLE_JWT_TESTDATA")) == NULL ||
	    *testdata == '\0')
		testdata = "tests/testdata/google-jwt";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
