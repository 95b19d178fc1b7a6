/*
 * SigV4 against the official AWS test suite, byte for byte: for every
 * case folder in tests/testdata/aws-sigv4 (the copy of aws-c-auth's
 * tests/aws-signing-test-suite/v4), the canonical request, string to
 * sign, signature and whole signed request of header signing, and the
 * same four of query signing (the presigned URL). Each case is one
 * cmocka test named after its folder, so a failure says which case and
 * which step.
 *
 * The signer gives the Authorization value and the signature, not a
 * request: the signed request is rebuilt here from request.txt and what
 * the signer returned (see signed_request), and compared whole. Every
 * case of the suite is in scope; none is skipped.
 *
 * The suite is found at $SIGV4_TESTDATA, else tests/testdata/aws-sigv4
 * from the repository root, where `make unit` runs.
 */
#include "unit.h"

#include <dirent.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "buf.h"
#include "pct.h"
#include "stores/dynamodb/sigv4.h"

/*
 * sigv4.h promises that nothing the signer frees still holds a secret.
 * This program is linked with -Wl,--wrap=free, so every free() of the
 * signer's (and of buf.c's) comes here first: while `watched` is set,
 * each block about to be freed is searched for it, whole, before it goes.
 */
void	__wrap_free(void *);
void	__real_free(void *);

static const char	*watched;
static int		 leaked;

void
__wrap_free(void *p)
{
	size_t	 n, w;

	if (p != NULL && watched != NULL) {
		n = malloc_usable_size(p);
		w = strlen(watched);
		if (n >= w && memmem(p, n, watched, w) != NULL)
			leaked++;
	}
	__real_free(p);
}

#define CASE_FILE_MAX	(64 * 1024)
#define CASE_HEADERS	16
#define FIELD_MAX	2048

struct suite_case {
	char	 name[128];
	char	 dir[1024];
};

/* One case folder, read and parsed. */
struct parsed {
	char	 akid[64], secret[128], token[FIELD_MAX];
	char	 region[64], service[64];
	char	 amzdate[SIGV4_DATE_SIZE];
	long	 expires;
	int	 normalize, sign_body, omit_token;
	/* request.txt */
	char	 method[16], path[256], query[512];
	char	 hname[CASE_HEADERS][64], hvalue[CASE_HEADERS][256];
	size_t	 nheaders;
	char	*body;
	size_t	 bodylen;
	char	*text;		/* request.txt itself, which body points in */
};

static const char *testdata;

/* The named file of a case, NUL-terminated, or NULL when absent. */
static char *
slurp(const struct suite_case *c, const char *file, size_t *lenp)
{
	char	 path[1200];
	FILE	*f;
	char	*p;
	size_t	 n;

	snprintf(path, sizeof(path), "%s/%s", c->dir, file);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((p = malloc(CASE_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(p, 1, CASE_FILE_MAX + 1, f);
	fclose(f);
	if (n > CASE_FILE_MAX) {
		free(p);
		fail_msg("%s: %s is larger than %d bytes", c->name, file,
		    CASE_FILE_MAX);
	}
	p[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return p;
}

static void
copy_field(const char *casename, char *dst, size_t dstlen, const char *src)
{
	if (snprintf(dst, dstlen, "%s", src) >= (int)dstlen)
		fail_msg("%s: field '%.40s...' too long for the test", casename,
		    src);
}

static const char *
json_str(const struct suite_case *c, struct json_object *o, const char *key,
    int required)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		if (required)
			fail_msg("%s: context.json has no string '%s'", c->name,
			    key);
		return NULL;
	}
	return json_object_get_string(v);
}

static int
json_flag(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_get_boolean(v);
}

static void
parse_context(const struct suite_case *c, struct parsed *p)
{
	struct json_object	*ctx, *creds = NULL, *v;
	struct tm		 tm;
	const char		*ts, *tok, *end;
	char			*text;
	time_t			 t = 0;

	if ((text = slurp(c, "context.json", NULL)) == NULL)
		fail_msg("%s: no context.json", c->name);
	ctx = json_tokener_parse(text);
	free(text);
	if (ctx == NULL || !json_object_object_get_ex(ctx, "credentials",
	    &creds))
		fail_msg("%s: context.json is not the suite's format", c->name);
	copy_field(c->name, p->akid, sizeof(p->akid),
	    json_str(c, creds, "access_key_id", 1));
	copy_field(c->name, p->secret, sizeof(p->secret),
	    json_str(c, creds, "secret_access_key", 1));
	tok = json_str(c, creds, "token", 0);
	copy_field(c->name, p->token, sizeof(p->token), tok ? tok : "");
	copy_field(c->name, p->region, sizeof(p->region),
	    json_str(c, ctx, "region", 1));
	copy_field(c->name, p->service, sizeof(p->service),
	    json_str(c, ctx, "service", 1));
	p->normalize = json_flag(ctx, "normalize");
	p->sign_body = json_flag(ctx, "sign_body");
	p->omit_token = json_flag(ctx, "omit_session_token");
	p->expires = json_object_object_get_ex(ctx, "expiration_in_seconds",
	    &v) ? (long)json_object_get_int64(v) : 0;

	ts = json_str(c, ctx, "timestamp", 1);
	memset(&tm, 0, sizeof(tm));
	end = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0' || (t = timegm(&tm)) == (time_t)-1)
		fail_msg("%s: bad timestamp '%s'", c->name, ts);
	assert_int_equal(sigv4_format_date(t, p->amzdate), 0);
	json_object_put(ctx);
}

/*
 * request.txt is "METHOD target HTTP/1.1", header lines, and after a blank
 * line the body. The target may hold spaces (get-space-*), so it ends at
 * the last space. A line that starts with white space continues the
 * header before it (get-header-value-multiline).
 */
static void
parse_request(const struct suite_case *c, struct parsed *p)
{
	char	*line, *next, *sp, *last = NULL, *q;
	size_t	 len;

	if ((p->text = slurp(c, "request.txt", &len)) == NULL)
		fail_msg("%s: no request.txt", c->name);
	line = p->text;
	if ((next = strchr(line, '\n')) == NULL)
		fail_msg("%s: request.txt has one line", c->name);
	*next++ = '\0';
	if ((sp = strchr(line, ' ')) == NULL ||
	    (last = strrchr(line, ' ')) == sp || strcmp(last, " HTTP/1.1") != 0)
		fail_msg("%s: bad request line '%s'", c->name, line);
	*sp = *last = '\0';
	copy_field(c->name, p->method, sizeof(p->method), line);
	if ((q = strchr(sp + 1, '?')) != NULL)
		*q++ = '\0';
	copy_field(c->name, p->path, sizeof(p->path), sp + 1);
	copy_field(c->name, p->query, sizeof(p->query), q ? q : "");

	p->body = p->text + len;
	for (line = next; *line != '\0'; line = next) {
		char *colon;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (*line == '\0') {
			p->body = next;
			break;
		}
		if (*line == ' ' || *line == '\t') {
			size_t	 used;

			if (p->nheaders == 0)
				fail_msg("%s: continuation first", c->name);
			used = strlen(p->hvalue[p->nheaders - 1]);
			if (snprintf(p->hvalue[p->nheaders - 1] + used,
			    sizeof(p->hvalue[0]) - used, " %s", line) >=
			    (int)(sizeof(p->hvalue[0]) - used))
				fail_msg("%s: header too long", c->name);
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL ||
		    p->nheaders == CASE_HEADERS)
			fail_msg("%s: bad header line '%s'", c->name, line);
		*colon = '\0';
		copy_field(c->name, p->hname[p->nheaders],
		    sizeof(p->hname[0]), line);
		copy_field(c->name, p->hvalue[p->nheaders],
		    sizeof(p->hvalue[0]), colon + 1);
		p->nheaders++;
	}
	p->bodylen = (size_t)(p->text + len - p->body);
}

/* Fails, naming the case and step, unless got is exactly want. */
static void
same(const struct suite_case *c, const char *step, const char *got,
    size_t gotlen, const char *want)
{
	if (want == NULL)
		fail_msg("%s: no expected %s", c->name, step);
	if (got != NULL && gotlen == strlen(want) &&
	    memcmp(got, want, gotlen) == 0)
		return;
	fail_msg("%s: %s differs\n--- got\n%.*s\n--- want\n%s\n---", c->name,
	    step, (int)gotlen, got ? got : "", want);
}

/* The same against a file of the case; how says how got was made. */
static void
same_file_by(const struct suite_case *c, const char *file, const char *how,
    const char *got, size_t gotlen)
{
	char	*want = slurp(c, file, NULL), step[128];

	snprintf(step, sizeof(step), "%s%s", file, how);
	same(c, step, got, gotlen, want);
	free(want);
}

static void
same_file(const struct suite_case *c, const char *file, const char *got,
    size_t gotlen)
{
	same_file_by(c, file, "", got, gotlen);
}

/*
 * The signed request as the suite writes it, into out: request.txt's
 * request line, with "?" or "&" and query_tail after its target when
 * query signing; its header lines as they are (a folded line stays
 * folded); the lines the signer adds, "Name:value" each; a blank line;
 * the body.
 */
static void
signed_request(const struct suite_case *c, struct buf *out,
    const char *query_tail, const struct sigv4_header *added, size_t nadded)
{
	char	*text, *line, *next, *last, *body;
	size_t	 len, i;
	int	 bad = 0;

	if ((text = slurp(c, "request.txt", &len)) == NULL)
		fail_msg("%s: no request.txt", c->name);
	body = text + len;
	if ((next = strchr(text, '\n')) == NULL)
		fail_msg("%s: request.txt has one line", c->name);
	*next++ = '\0';
	/* The target may hold spaces, so it ends at the last one. */
	if ((last = strrchr(text, ' ')) == NULL)
		fail_msg("%s: bad request line", c->name);
	*last = '\0';
	bad |= buf_addstr(out, text) == -1;
	if (query_tail != NULL)
		bad |= buf_printf(out, "%s%s", strchr(text, '?') != NULL ?
		    "&" : "?", query_tail) == -1;
	bad |= buf_addstr(out, " HTTP/1.1\n") == -1;
	for (line = next; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (*line == '\0') {
			body = next;
			break;
		}
		bad |= buf_printf(out, "%s\n", line) == -1;
	}
	for (i = 0; i < nadded; i++)
		bad |= buf_printf(out, "%s:%s\n", added[i].name,
		    added[i].value) == -1;
	bad |= buf_add(out, "\n", 1) == -1;
	bad |= buf_add(out, body, (size_t)(text + len - body)) == -1;
	free(text);
	if (bad)
		fail_msg("%s: signed request too large for the test", c->name);
}

/* Signs creq's string to sign and checks every later step. */
static void
check_steps(const struct suite_case *c, const struct parsed *p,
    const char *prefix, const struct buf *creq, char sig[SIGV4_HEX_SIZE])
{
	unsigned char	 key[SIGV4_KEY_LEN];
	struct buf	 sts;
	char		 file[64];

	snprintf(file, sizeof(file), "%s-canonical-request.txt", prefix);
	same_file(c, file, creq->data, creq->len);

	buf_init(&sts, 4096);
	assert_int_equal(sigv4_string_to_sign(&sts, p->amzdate, p->region,
	    p->service, creq->data, creq->len), 0);
	snprintf(file, sizeof(file), "%s-string-to-sign.txt", prefix);
	same_file(c, file, sts.data, sts.len);

	assert_int_equal(sigv4_signing_key(key, p->secret, p->amzdate,
	    p->region, p->service), 0);
	assert_int_equal(sigv4_signature(sig, key, sts.data, sts.len), 0);
	snprintf(file, sizeof(file), "%s-signature.txt", prefix);
	same_file(c, file, sig, strlen(sig));
	buf_free(&sts);
}

static void
load(const struct suite_case *c, struct parsed *p, char hash[SIGV4_HEX_SIZE],
    struct sigv4_header *h)
{
	size_t	 i;

	memset(p, 0, sizeof(*p));
	parse_context(c, p);
	parse_request(c, p);
	assert_int_equal(sigv4_sha256_hex(p->body, p->bodylen, hash), 0);
	for (i = 0; i < p->nheaders; i++) {
		h[i].name = p->hname[i];
		h[i].value = p->hvalue[i];
	}
}

/*
 * Header signing: the suite's signer adds the session token (signed
 * unless the case omits it from the signature, when it is added after
 * signing), X-Amz-Date, x-amz-content-sha256 when the case signs the
 * body, and Authorization, in that order on the wire.
 */
static void
test_header_case(void **state)
{
	const struct suite_case *c = *state;
	struct sigv4_header	 h[CASE_HEADERS + 3], wire[4];
	struct sigv4_request	 req;
	struct parsed		*p;
	struct buf		 creq, auth, sh, sreq;
	char			 hash[SIGV4_HEX_SIZE], sig[SIGV4_HEX_SIZE];
	size_t			 n, nw = 0;

	assert_non_null(p = calloc(1, sizeof(*p)));
	load(c, p, hash, h);
	n = p->nheaders;
	if (p->token[0] != '\0') {
		wire[nw].name = "X-Amz-Security-Token";
		wire[nw++].value = p->token;
		if (!p->omit_token)
			h[n++] = wire[nw - 1];
	}
	h[n].name = "X-Amz-Date";
	h[n++].value = p->amzdate;
	wire[nw++] = h[n - 1];
	if (p->sign_body) {
		h[n].name = "x-amz-content-sha256";
		h[n++].value = hash;
		wire[nw++] = h[n - 1];
	}
	memset(&req, 0, sizeof(req));
	req.method = p->method;
	req.path = p->path;
	req.query = p->query;
	req.headers = h;
	req.nheaders = n;
	req.payload_hash = hash;
	req.normalize_path = p->normalize;

	buf_init(&creq, CASE_FILE_MAX);
	assert_int_equal(sigv4_canonical_request(&creq, &req), 0);
	check_steps(c, p, "header", &creq, sig);

	/*
	 * The whole signed request, with the Authorization value made by
	 * steps, and again by sigv4_sign at once.
	 */
	buf_init(&sh, 4096);
	buf_init(&auth, 4096);
	buf_init(&sreq, CASE_FILE_MAX);
	assert_int_equal(sigv4_signed_headers(&sh, h, n), 0);
	assert_int_equal(sigv4_authorization(&auth, p->akid, p->amzdate,
	    p->region, p->service, sh.data, sig), 0);
	wire[nw].name = "Authorization";
	wire[nw].value = auth.data;
	signed_request(c, &sreq, NULL, wire, nw + 1);
	same_file_by(c, "header-signed-request.txt", " (by steps)", sreq.data,
	    sreq.len);
	buf_reset(&auth);
	buf_reset(&sreq);
	/* The session token, the one secret a request carries in clear. */
	leaked = 0;
	watched = p->token[0] != '\0' ? p->token : NULL;
	assert_int_equal(sigv4_sign(&auth, &req, p->akid, p->secret,
	    p->amzdate, p->region, p->service), 0);
	watched = NULL;
	if (leaked > 0)
		fail_msg("%s: %d freed block%s still held the session token",
		    c->name, leaked, leaked == 1 ? "" : "s");
	wire[nw].value = auth.data;
	signed_request(c, &sreq, NULL, wire, nw + 1);
	same_file_by(c, "header-signed-request.txt", " (sigv4_sign)",
	    sreq.data, sreq.len);

	buf_free(&sreq);
	buf_free(&sh);
	buf_free(&auth);
	buf_free(&creq);
	free(p->text);
	free(p);
}

/*
 * Query signing (presigned URLs): the same functions, with the X-Amz-*
 * parameters in the query and only the request's own headers signed. The
 * parameters are written in the order the suite's URLs carry them, which
 * is not the canonical order: the signer sorts them. A session token the
 * case leaves unsigned joins the URL after signing, before the signature.
 */
static void
test_query_case(void **state)
{
	const struct suite_case *c = *state;
	struct sigv4_header	 h[CASE_HEADERS];
	struct sigv4_request	 req;
	struct parsed		*p;
	struct buf		 params, q, sh, scope, creq, sreq;
	char			 hash[SIGV4_HEX_SIZE], sig[SIGV4_HEX_SIZE];

	assert_non_null(p = calloc(1, sizeof(*p)));
	load(c, p, hash, h);
	buf_init(&sh, 4096);
	buf_init(&scope, 4096);
	buf_init(&params, CASE_FILE_MAX);
	buf_init(&q, CASE_FILE_MAX);
	assert_int_equal(sigv4_signed_headers(&sh, h, p->nheaders), 0);
	assert_int_not_equal(buf_printf(&scope, "%s/%.8s/%s/%s/aws4_request",
	    p->akid, p->amzdate, p->region, p->service), -1);
	assert_int_not_equal(buf_printf(&params, "X-Amz-Algorithm=%s"
	    "&X-Amz-Credential=", SIGV4_ALGORITHM), -1);
	assert_int_equal(pct_encode(&params, scope.data, scope.len, 0),
	    0);
	assert_int_not_equal(buf_printf(&params, "&X-Amz-Date=%s"
	    "&X-Amz-SignedHeaders=", p->amzdate), -1);
	assert_int_equal(pct_encode(&params, sh.data, sh.len, 0), 0);
	assert_int_not_equal(buf_printf(&params, "&X-Amz-Expires=%ld",
	    p->expires), -1);
	if (p->token[0] != '\0' && !p->omit_token) {
		assert_int_not_equal(buf_addstr(&params,
		    "&X-Amz-Security-Token="), -1);
		assert_int_equal(pct_encode(&params, p->token,
		    strlen(p->token), 0), 0);
	}
	assert_int_not_equal(buf_printf(&q, "%s%s%s", p->query,
	    p->query[0] ? "&" : "", params.data), -1);
	memset(&req, 0, sizeof(req));
	req.method = p->method;
	req.path = p->path;
	req.query = q.data;
	req.headers = h;
	req.nheaders = p->nheaders;
	req.payload_hash = hash;
	req.normalize_path = p->normalize;

	buf_init(&creq, CASE_FILE_MAX);
	assert_int_equal(sigv4_canonical_request(&creq, &req), 0);
	check_steps(c, p, "query", &creq, sig);

	/* The presigned request: the parameters, then the signature. */
	if (p->token[0] != '\0' && p->omit_token) {
		assert_int_not_equal(buf_addstr(&params,
		    "&X-Amz-Security-Token="), -1);
		assert_int_equal(pct_encode(&params, p->token,
		    strlen(p->token), 0), 0);
	}
	assert_int_not_equal(buf_printf(&params, "&X-Amz-Signature=%s", sig),
	    -1);
	buf_init(&sreq, CASE_FILE_MAX);
	signed_request(c, &sreq, params.data, NULL, 0);
	same_file(c, "query-signed-request.txt", sreq.data, sreq.len);

	buf_free(&sreq);
	buf_free(&creq);
	buf_free(&params);
	buf_free(&q);
	buf_free(&sh);
	buf_free(&scope);
	free(p->text);
	free(p);
}

/* Canonical paths and queries beyond the suite's rows. */
static void
test_canonical_edges(void **state)
{
	static const struct {
		int		 line;
		const char	*path, *query;
		int		 normalize;
		const char	*want;	/* lines 2 and 3 of the request */
	} rows[] = {
		{ __LINE__, "/a/b/..", NULL, 1, "/a/\n" },
		{ __LINE__, "/a/b/.", NULL, 1, "/a/b/\n" },
		{ __LINE__, "/../..", NULL, 1, "/\n" },
		{ __LINE__, "", NULL, 1, "/\n" },
		{ __LINE__, "", NULL, 0, "/\n" },
		{ __LINE__, "/a%20b", NULL, 0, "/a%2520b\n" },
		{ __LINE__, "/", "b=2&a=1&a=0", 1, "/\na=0&a=1&b=2" },
		{ __LINE__, "/", "a&&b=", 1, "/\na=&b=" },
		{ __LINE__, "/", "k=%zz%4", 1, "/\nk=%25zz%254" },
		{ __LINE__, "/", "k=a+b%2fc", 1, "/\nk=a%2Bb%2Fc" },
	};
	static const struct sigv4_header h = { "Host", "h" };
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sigv4_request req = { "GET", rows[i].path,
		    rows[i].query, &h, 1, "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855", rows[i].normalize };
		struct buf	 b;
		size_t		 wl = strlen(rows[i].want);

		buf_init(&b, 4096);
		if (sigv4_canonical_request(&b, &req) == -1)
			fail_msg("row at line %d: failed", rows[i].line);
		if (b.len < 4 + wl || memcmp(b.data + 4, rows[i].want, wl) != 0 ||
		    b.data[4 + wl] != '\n')
			fail_msg("row at line %d: got\n%s", rows[i].line,
			    b.data);
		buf_free(&b);
	}
}

/* What the signer refuses rather than signs wrongly. */
static void
test_refusals(void **state)
{
	struct sigv4_header	 many[SIGV4_MAX_HEADERS + 1];
	struct sigv4_request	 req;
	struct buf		 b;
	unsigned char		 key[SIGV4_KEY_LEN];
	char			 longsecret[300], date[SIGV4_DATE_SIZE];
	size_t			 i;

	(void)state;
	for (i = 0; i < SIGV4_MAX_HEADERS + 1; i++) {
		many[i].name = "x-a";
		many[i].value = "v";
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/";
	req.headers = many;
	req.nheaders = SIGV4_MAX_HEADERS + 1;
	req.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	    "a495991b7852b855";
	buf_init(&b, 1 << 20);
	assert_int_equal(sigv4_canonical_request(&b, &req), -1);
	req.nheaders = 0;
	assert_int_equal(sigv4_sign(&b, &req, "a", "s", "20150830T123600Z",
	    "r", "s"), -1);
	req.nheaders = 1;
	req.payload_hash = "abc";
	buf_free(&b);
	assert_int_equal(sigv4_canonical_request(&b, &req), -1);
	buf_free(&b);

	memset(longsecret, 'k', sizeof(longsecret) - 1);
	longsecret[sizeof(longsecret) - 1] = '\0';
	assert_int_equal(sigv4_signing_key(key, longsecret,
	    "20150830T123600Z", "r", "s"), -1);
	assert_int_equal(sigv4_signing_key(key, "s", "20150830", "r", "s"),
	    -1);

	assert_int_equal(sigv4_format_date(0, date), 0);
	assert_string_equal(date, "19700101T000000Z");
	assert_int_equal(sigv4_format_date(1440938160, date), 0);
	assert_string_equal(date, "20150830T123600Z");
}

static int
case_cmp(const void *a, const void *b)
{
	return strcmp(((const struct suite_case *)a)->name,
	    ((const struct suite_case *)b)->name);
}

/* The case folders of the suite, sorted; *n is 0 if there is none. */
static struct suite_case *
find_cases(size_t *n)
{
	struct suite_case	*cases = NULL, *tmp;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	size_t			 cap = 0;

	*n = 0;
	if ((d = opendir(testdata)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		struct suite_case c;

		if (de->d_name[0] == '.' ||
		    snprintf(c.name, sizeof(c.name), "%s", de->d_name) >=
		    (int)sizeof(c.name) ||
		    snprintf(c.dir, sizeof(c.dir), "%s/%s", testdata,
		    de->d_name) >= (int)sizeof(c.dir) ||
		    stat(c.dir, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((tmp = realloc(cases, cap * sizeof(*cases))) == NULL)
				break;
			cases = tmp;
		}
		cases[(*n)++] = c;
	}
	closedir(d);
	if (*n > 0)
		qsort(cases, *n, sizeof(*cases), case_cmp);
	return cases;
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_canonical_edges),
		cmocka_unit_test(test_refusals),
	};
	struct CMUnitTest	*tests;
	struct suite_case	*cases;
	char			(*names)[160];
	size_t			 n, i, nt = 0, nfixed;
	int			 rc;

	if ((testdata = getenv("SIGV4_TESTDATA")) == NULL || *testdata == '\0')
		testdata = "tests/testdata/aws-sigv4";
	cases = find_cases(&n);
	if (n == 0) {
		fprintf(stderr, "test_sigv4: no AWS SigV4 suite at %s (set "
		    "SIGV4_TESTDATA to its folder)\n", testdata);
		free(cases);
		return 1;
	}
	nfixed = sizeof(fixed) / sizeof(fixed[0]);
	tests = calloc(2 * n + nfixed, sizeof(*tests));
	names = calloc(2 * n, sizeof(*names));
	if (tests == NULL || names == NULL)
		return 1;
	for (i = 0; i < nfixed; i++)
		tests[nt++] = fixed[i];
	for (i = 0; i < n; i++) {
		snprintf(names[2 * i], sizeof(names[0]), "header %s",
		    cases[i].name);
		snprintf(names[2 * i + 1], sizeof(names[0]), "query %s",
		    cases[i].name);
		tests[nt].name = names[2 * i];
		tests[nt].test_func = test_header_case;
		tests[nt++].initial_state = &cases[i];
		tests[nt].name = names[2 * i + 1];
		tests[nt].test_func = test_query_case;
		tests[nt++].initial_state = &cases[i];
	}
	rc = _cmocka_run_group_tests("sigv4", tests, nt, NULL, NULL);
	free(tests);
	free(names);
	free(cases);
	return rc;
}
