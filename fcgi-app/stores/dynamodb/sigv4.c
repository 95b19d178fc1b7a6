#include "sigv4.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "pct.h"

/* Longest secret key accepted; AWS's are 40 characters. */
#define SECRET_MAX	256
/* Scratch space for a canonical query; DynamoDB sends none. */
#define QUERY_MAX	(64 * 1024)

static const char hexdigits[] = "0123456789abcdef";

static void
hex_encode(char *out, const unsigned char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
sigv4_format_date(time_t t, char out[SIGV4_DATE_SIZE])
{
	struct tm	 tm;

	out[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 + 1000 ||
	    tm.tm_year > 9999 - 1900)
		return -1;
	if (strftime(out, SIGV4_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) !=
	    SIGV4_DATE_SIZE - 1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * SHA-256, fetched from OpenSSL's providers once: a fetch by name takes
 * locks and a hash table lookup, which SHA256() and HMAC() repeat on
 * every call, and a request makes seven digests.
 */
static EVP_MD		*sha256_md;
static pthread_once_t	 sha256_once = PTHREAD_ONCE_INIT;

static void
fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
sha256(unsigned char out[SHA256_DIGEST_LENGTH], const void *p, size_t n)
{
	unsigned int	 len = 0;

	if (pthread_once(&sha256_once, fetch_sha256) != 0 ||
	    sha256_md == NULL ||
	    EVP_Digest(p, n, out, &len, sha256_md, NULL) != 1 ||
	    len != SHA256_DIGEST_LENGTH)
		return -1;
	return 0;
}

int
sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HEX_SIZE])
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];

	out[0] = '\0';
	if (sha256(md, p, n) == -1)
		return -1;
	hex_encode(out, md, sizeof(md));
	return 0;
}

/* Compares header names as SigV4 sorts them: case folded to lower. */
static int
name_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb || ca == '\0')
			return (int)ca - (int)cb;
	}
}

/*
 * Fills order with the indexes of h sorted by name. Insertion sort is
 * stable, so repeated names keep the order they were given in, which is
 * the order their values are joined in.
 */
static int
sort_headers(size_t order[SIGV4_MAX_HEADERS], const struct sigv4_header *h,
    size_t n)
{
	size_t	 i, j;

	if (n > SIGV4_MAX_HEADERS)
		return -1;
	for (i = 0; i < n; i++) {
		if (h[i].name == NULL || h[i].name[0] == '\0' ||
		    h[i].value == NULL)
			return -1;
		for (j = i; j > 0 && name_cmp(h[order[j - 1]].name,
		    h[i].name) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	return 0;
}

static int
add_lower(struct buf *out, const char *s)
{
	size_t	 i, n = strlen(s);
	char	*p;

	if ((p = buf_extend(out, n)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		p[i] = s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i];
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A header value trimmed, with each run of white space made one space. */
static int
add_trimmed(struct buf *out, const char *s)
{
	size_t	 run;
	int	 started = 0;

	/* Runs of non-space bytes go in whole (a session token is one). */
	while (*s != '\0') {
		for (; is_space(*s); s++)
			continue;
		for (run = 0; s[run] != '\0' && !is_space(s[run]); run++)
			continue;
		if (run == 0)
			break;
		if ((started && buf_add(out, " ", 1) == -1) ||
		    buf_add(out, s, run) == -1)
			return -1;
		started = 1;
		s += run;
	}
	return 0;
}

int
sigv4_signed_headers(struct buf *out, const struct sigv4_header *h, size_t n)
{
	size_t	 order[SIGV4_MAX_HEADERS], i;

	if (sort_headers(order, h, n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		const char *name = h[order[i]].name;

		if (i > 0 && name_cmp(h[order[i - 1]].name, name) == 0)
			continue;
		if ((i > 0 && buf_add(out, ";", 1) == -1) ||
		    add_lower(out, name) == -1)
			return -1;
	}
	return 0;
}

static int
add_canonical_headers(struct buf *out, const struct sigv4_header *h, size_t n)
{
	size_t	 order[SIGV4_MAX_HEADERS], i;

	if (sort_headers(order, h, n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		const struct sigv4_header *cur = &h[order[i]];

		/* A repeated name adds its value to the line, after a comma. */
		if (i > 0 && name_cmp(h[order[i - 1]].name, cur->name) == 0) {
			if (buf_add(out, ",", 1) == -1)
				return -1;
		} else if ((i > 0 && buf_add(out, "\n", 1) == -1) ||
		    add_lower(out, cur->name) == -1 ||
		    buf_add(out, ":", 1) == -1)
			return -1;
		if (add_trimmed(out, cur->value) == -1)
			return -1;
	}
	return n > 0 ? buf_add(out, "\n", 1) : 0;
}

/*
 * The canonical URI. Normalising follows RFC 3986's removal of dot
 * segments and also drops empty ones, as the suite expects ("//a//" is
 * "/a/"); a path that ended in a directory keeps its final slash.
 */
static int
add_canonical_path(struct buf *out, const char *path, int normalize)
{
	struct { const char *p; size_t n; } seg[256];
	size_t	 nseg = 0, i, len;
	const char *s, *e;
	int	 dir = 0;

	if (path == NULL || path[0] == '\0')
		return buf_add(out, "/", 1);
	if (!normalize)
		return pct_encode(out, path, strlen(path), 1);
	for (s = path; *s != '\0'; s = *e == '/' ? e + 1 : e) {
		for (e = s; *e != '\0' && *e != '/'; e++)
			continue;
		len = (size_t)(e - s);
		dir = *e == '/' || (len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.');
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (nseg > 0)
				nseg--;
			continue;
		}
		if (nseg == sizeof(seg) / sizeof(seg[0]))
			return -1;
		seg[nseg].p = s;
		seg[nseg++].n = len;
	}
	if (path[strlen(path) - 1] == '/')
		dir = 1;
	for (i = 0; i < nseg; i++)
		if (buf_add(out, "/", 1) == -1 ||
		    pct_encode(out, seg[i].p, seg[i].n, 0) == -1)
			return -1;
	if ((nseg == 0 || dir) && buf_add(out, "/", 1) == -1)
		return -1;
	return 0;
}

/*
 * Appends n bytes of a query component decoded and then encoded again,
 * so that "%E1%88%B4" and the raw UTF-8 it stands for sign the same. A
 * '%' that starts no valid escape stands for itself.
 */
static int
add_requoted(struct buf *out, const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		char	 c = p[i];
		int	 hi, lo;

		if (c == '%' && i + 2 < n &&
		    (hi = pct_hexval((unsigned char)p[i + 1])) != -1 &&
		    (lo = pct_hexval((unsigned char)p[i + 2])) != -1) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (pct_encode(out, &c, 1, 0) == -1)
			return -1;
	}
	return 0;
}

struct param {
	size_t		 key, keylen, val, vallen;	/* offsets in scratch */
	const char	*base;
};

static int
param_cmp(const void *va, const void *vb)
{
	const struct param *a = va, *b = vb;
	size_t	 n;
	int	 c;

	n = a->keylen < b->keylen ? a->keylen : b->keylen;
	if ((c = memcmp(a->base + a->key, b->base + b->key, n)) != 0)
		return c;
	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	n = a->vallen < b->vallen ? a->vallen : b->vallen;
	if ((c = memcmp(a->base + a->val, b->base + b->val, n)) != 0)
		return c;
	if (a->vallen != b->vallen)
		return a->vallen < b->vallen ? -1 : 1;
	return 0;
}

/* Parameters encoded, sorted by key then value, joined by '&'. */
static int
add_canonical_query(struct buf *out, const char *query)
{
	struct param	 prm[SIGV4_MAX_PARAMS];
	struct buf	 scratch;
	size_t		 n = 0, i;
	const char	*s, *e, *eq;
	int		 rc = -1;

	if (query == NULL || query[0] == '\0')
		return 0;
	buf_init(&scratch, QUERY_MAX);
	for (s = query; *s != '\0'; s = *e == '&' ? e + 1 : e) {
		for (e = s; *e != '\0' && *e != '&'; e++)
			continue;
		if (e == s)
			continue;
		if (n == SIGV4_MAX_PARAMS)
			goto out;
		for (eq = s; eq < e && *eq != '='; eq++)
			continue;
		prm[n].key = scratch.len;
		if (add_requoted(&scratch, s, (size_t)(eq - s)) == -1)
			goto out;
		prm[n].keylen = scratch.len - prm[n].key;
		prm[n].val = scratch.len;
		if (eq < e && add_requoted(&scratch, eq + 1,
		    (size_t)(e - eq - 1)) == -1)
			goto out;
		prm[n].vallen = scratch.len - prm[n].val;
		n++;
	}
	/* Offsets until now, as the scratch buffer may have moved. */
	for (i = 0; i < n; i++)
		prm[i].base = scratch.data;
	qsort(prm, n, sizeof(prm[0]), param_cmp);
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_add(out, "&", 1) == -1) ||
		    buf_add(out, scratch.data + prm[i].key, prm[i].keylen) == -1 ||
		    buf_add(out, "=", 1) == -1 ||
		    buf_add(out, scratch.data + prm[i].val, prm[i].vallen) == -1)
			goto out;
	rc = 0;
out:
	buf_free(&scratch);
	return rc;
}

int
sigv4_canonical_request(struct buf *out, const struct sigv4_request *req)
{
	if (req->method == NULL || req->payload_hash == NULL ||
	    strlen(req->payload_hash) != SIGV4_HEX_SIZE - 1)
		return -1;
	if (buf_addstr(out, req->method) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    add_canonical_path(out, req->path, req->normalize_path) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    add_canonical_query(out, req->query) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    add_canonical_headers(out, req->headers, req->nheaders) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    sigv4_signed_headers(out, req->headers, req->nheaders) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    buf_addstr(out, req->payload_hash) == -1)
		return -1;
	return 0;
}

/* The credential scope: "YYYYMMDD/region/service/aws4_request". */
static int
add_scope(struct buf *out, const char *amzdate, const char *region,
    const char *service)
{
	if (strlen(amzdate) != SIGV4_DATE_SIZE - 1)
		return -1;
	return buf_printf(out, "%.8s/%s/%s/aws4_request", amzdate, region,
	    service);
}

int
sigv4_string_to_sign(struct buf *out, const char *amzdate, const char *region,
    const char *service, const char *creq, size_t creqlen)
{
	char	 hash[SIGV4_HEX_SIZE];

	if (sigv4_sha256_hex(creq, creqlen, hash) == -1)
		return -1;
	if (buf_printf(out, "%s\n%s\n", SIGV4_ALGORITHM, amzdate) == -1 ||
	    add_scope(out, amzdate, region, service) == -1 ||
	    buf_printf(out, "\n%s", hash) == -1)
		return -1;
	return 0;
}

/*
 * HMAC-SHA256 (RFC 2104) on the digest above: H((K ^ opad) | H((K ^ ipad)
 * | m)), the key first hashed when longer than a block. Every buffer that
 * held the key is cleansed.
 */
#define HMAC_BLOCK	64

static int
hmac(unsigned char out[SIGV4_KEY_LEN], const void *key, size_t keylen,
    const void *msg, size_t msglen)
{
	unsigned char	 k[HMAC_BLOCK], pad[HMAC_BLOCK + SHA256_DIGEST_LENGTH];
	unsigned char	*inner;
	size_t		 i;
	int		 rc = -1;

	memset(k, 0, sizeof(k));
	if (keylen > HMAC_BLOCK) {
		if (sha256(k, key, keylen) == -1)
			goto out;
	} else
		memcpy(k, key, keylen);
	if (msglen > SIZE_MAX - HMAC_BLOCK ||
	    (inner = malloc(HMAC_BLOCK + msglen)) == NULL)
		goto out;
	for (i = 0; i < HMAC_BLOCK; i++)
		inner[i] = k[i] ^ 0x36;
	memcpy(inner + HMAC_BLOCK, msg, msglen);
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	if (sha256(pad + HMAC_BLOCK, inner, HMAC_BLOCK + msglen) == 0 &&
	    sha256(out, pad, sizeof(pad)) == 0)
		rc = 0;
	OPENSSL_cleanse(inner, HMAC_BLOCK);
	free(inner);
out:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	return rc;
}

int
sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const char *secret,
    const char *amzdate, const char *region, const char *service)
{
	char		 ksecret[4 + SECRET_MAX + 1];
	size_t		 n = strlen(secret);
	int		 rc;

	if (n > SECRET_MAX || strlen(amzdate) != SIGV4_DATE_SIZE - 1)
		return -1;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, n);
	rc = hmac(key, ksecret, 4 + n, amzdate, 8) == -1 ||
	    hmac(key, key, SIGV4_KEY_LEN, region, strlen(region)) == -1 ||
	    hmac(key, key, SIGV4_KEY_LEN, service, strlen(service)) == -1 ||
	    hmac(key, key, SIGV4_KEY_LEN, "aws4_request", 12) == -1 ? -1 : 0;
	OPENSSL_cleanse(ksecret, sizeof(ksecret));
	if (rc == -1)
		OPENSSL_cleanse(key, SIGV4_KEY_LEN);
	return rc;
}

int
sigv4_signature(char out[SIGV4_HEX_SIZE], const unsigned char key[SIGV4_KEY_LEN],
    const char *sts, size_t stslen)
{
	unsigned char	 mac[SIGV4_KEY_LEN];

	out[0] = '\0';
	if (hmac(mac, key, SIGV4_KEY_LEN, sts, stslen) == -1)
		return -1;
	hex_encode(out, mac, sizeof(mac));
	return 0;
}

int
sigv4_authorization(struct buf *out, const char *access_key_id,
    const char *amzdate, const char *region, const char *service,
    const char *signed_headers, const char *signature)
{
	if (buf_printf(out, "%s Credential=%s/", SIGV4_ALGORITHM,
	    access_key_id) == -1 ||
	    add_scope(out, amzdate, region, service) == -1 ||
	    buf_printf(out, ", SignedHeaders=%s, Signature=%s", signed_headers,
	    signature) == -1)
		return -1;
	return 0;
}

int
sigv4_sign_with_key(struct buf *out, const struct sigv4_request *req,
    const char *access_key_id, const unsigned char key[SIGV4_KEY_LEN],
    const char *amzdate, const char *region, const char *service)
{
	struct buf	 creq, sts, signed_headers;
	char		 sig[SIGV4_HEX_SIZE];
	int		 rc = -1;

	if (req->nheaders == 0)
		return -1;
	/* The canonical request holds the session token: wiped when freed. */
	buf_init_secret(&creq, 64 * 1024);
	buf_init(&sts, 1024);
	buf_init(&signed_headers, 4096);
	if (sigv4_canonical_request(&creq, req) == 0 &&
	    sigv4_string_to_sign(&sts, amzdate, region, service,
	    creq.data, creq.len) == 0 &&
	    sigv4_signed_headers(&signed_headers, req->headers,
	    req->nheaders) == 0 &&
	    sigv4_signature(sig, key, sts.data, sts.len) == 0)
		rc = sigv4_authorization(out, access_key_id, amzdate, region,
		    service, signed_headers.data, sig);
	buf_free(&creq);
	buf_free(&sts);
	buf_free(&signed_headers);
	return rc;
}

int
sigv4_sign(struct buf *out, const struct sigv4_request *req,
    const char *access_key_id, const char *secret, const char *amzdate,
    const char *region, const char *service)
{
	unsigned char	 key[SIGV4_KEY_LEN];
	int		 rc;

	if (req->nheaders == 0 ||
	    sigv4_signing_key(key, secret, amzdate, region, service) == -1)
		return -1;
	rc = sigv4_sign_with_key(out, req, access_key_id, key, amzdate, region,
	    service);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}
