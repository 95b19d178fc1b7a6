/*
 * The AWS store: DynamoDB over HTTPS, signed with SigV4, with the table
 * layout of the Flask original (table Candidates, hash key CandidateName
 * of type S), so the service can be swapped in over an existing table.
 *
 * Each worker keeps one HTTP client, hence one kept-alive connection to
 * DynamoDB. What the workers share is read-only after setup, except the
 * credentials cache (which locks itself) and the clock offset (atomic).
 *
 * Every operation is one logical call within the deadline the handler
 * gives it (CANDIDATES_TIMEOUT_MS), all attempts included; a listing is
 * one call per Scan page, every page within the listing's one deadline
 * (CANDIDATES_LIST_TIMEOUT_MS). Retries follow the shared policy
 * (cloud/retry.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws_creds.h"
#include "aws_imds.h"
#include "cloud/http_client.h"
#include "cloud/retry.h"
#include "config.h"
#include "dynamo_wire.h"
#include "log.h"
#include "sigv4.h"
#include "store.h"

#define TABLE_DEFAULT	"Candidates"
#define SERVICE		"dynamodb"
/* A Scan page is at most 1 MB of items; its JSON a few times that. */
#define ANSWER_MAX	(8u * 1024 * 1024)
#define REQUEST_MAX	(64u * 1024)
/* Metadata reads at start-up: short, so a laptop does not wait long. */
#define IMDS_START_MS	1000

static struct {
	char			 table[256];
	char			 region[64];
	char			 url[512];	/* endpoint and path */
	char			 host[300];	/* the Host header, signed */
	char			 path[256];	/* the path, signed */
	long			 connect_timeout_ms;
	struct aws_imds		 imds;
	struct aws_creds_provider creds;
	struct retry_quota	 quota;
	int			 imds_ready, creds_ready, curl_ready;
} cfg;

/*
 * Server time minus ours, in seconds, learnt from the Date of a response
 * that rejected our clock; every later request is signed with it.
 */
static atomic_long clock_offset;

/*
 * The signing key of one day, derived from one secret: it holds until the
 * date or the credentials change, and deriving it is four HMACs.
 */
struct signing_key {
	char		 day[9];		/* YYYYMMDD; "" when none */
	char		 secret[AWS_KEY_MAX];
	unsigned char	 key[SIGV4_KEY_LEN];
};

struct store {
	struct http_client	*http;
	struct buf		 body;		/* the request's JSON */
	struct buf		 auth;		/* its Authorization line */
	struct buf		 start;		/* a listing's next key */
	struct http_response	 resp;
	struct http_capture	 date;		/* the response's Date */
	struct signing_key	 signing;
};

/* Table names: 3 to 255 of [A-Za-z0-9_.-]. */
static int
valid_table(const char *s)
{
	size_t	 n = strlen(s);

	return n >= 3 && n <= 255 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int
valid_region(const char *s)
{
	size_t	 n = strlen(s);

	return n >= 1 && n < sizeof(cfg.region) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/*
 * Splits an endpoint URL into what is sent and what is signed: the Host
 * header (the authority as written) and the path ("/" when none).
 * Plain http:// is allowed, for local stand-ins such as dynalite.
 */
static int
set_endpoint(const char *var, const char *url, char *err, size_t errlen)
{
	const char	*auth, *slash;
	size_t		 alen;

	if (strncmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		goto bad;
	slash = strchr(auth, '/');
	alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
	if (alen == 0 || alen >= sizeof(cfg.host) ||
	    strcspn(auth, "@?# \t\r\n") < strlen(auth) ||
	    snprintf(cfg.path, sizeof(cfg.path), "%s", slash != NULL ? slash :
	    "/") >= (int)sizeof(cfg.path) ||
	    snprintf(cfg.url, sizeof(cfg.url), "%.*s%s", (int)(auth - url +
	    alen), url, cfg.path) >= (int)sizeof(cfg.url))
		goto bad;
	memcpy(cfg.host, auth, alen);
	cfg.host[alen] = '\0';
	return 0;
bad:
	snprintf(err, errlen, "%s must be an http:// or https:// URL like "
	    "https://dynamodb.us-east-1.amazonaws.com", var);
	return -1;
}

/* Reads one IMDS word at start-up with a short deadline of its own. */
static int
imds_word_now(const char *path, const char *extra, char *out, size_t outlen,
    char *err, size_t errlen)
{
	struct http_client	*c;
	struct deadline		 dl;
	struct buf		 body;
	int			 rc = -1;

	if (http_client_new(&c, err, errlen) == -1)
		return -1;
	buf_init(&body, AWS_IMDS_BODY_MAX);
	deadline_start(&dl, IMDS_START_MS);
	if (aws_imds_get(&cfg.imds, c, path, &body, &dl, err, errlen) == 0) {
		if (aws_imds_word(body.data, body.len, extra, out, outlen) == 0)
			rc = 0;
		else
			snprintf(err, errlen, "IMDS %s: malformed answer", path);
	}
	buf_free(&body);
	http_client_free(c);
	return rc;
}

static void dynamo_teardown(void);

static int
dynamo_setup(const struct config *conf, char *err, size_t errlen)
{
	struct http_config	 hc;
	const char		*v;
	char			 why[256], url[300];

	memset(&cfg, 0, sizeof(cfg));
	atomic_store(&clock_offset, 0);
	retry_quota_init(&cfg.quota, RETRY_QUOTA);
	/* The SDKs' name; without it, OpenSSL's defaults (SSL_CERT_FILE). */
	hc.connect_timeout_ms = conf->connect_timeout_ms;
	hc.ca_bundle = config_str("AWS_CA_BUNDLE", NULL);
	if (hc.ca_bundle != NULL && access(hc.ca_bundle, R_OK) == -1) {
		snprintf(err, errlen, "AWS_CA_BUNDLE: cannot read %s",
		    hc.ca_bundle);
		return -1;
	}
	if (http_global_init(&hc, err, errlen) == -1) {
		if (hc.ca_bundle != NULL)
			snprintf(err, errlen, "AWS_CA_BUNDLE: no PEM "
			    "certificate in %s", hc.ca_bundle);
		return -1;
	}
	cfg.curl_ready = 1;
	v = config_str("TC_DYNAMO_TABLE", TABLE_DEFAULT);
	if (!valid_table(v)) {
		snprintf(err, errlen, "TC_DYNAMO_TABLE must be 3 to 255 of "
		    "A-Z a-z 0-9 _ . -");
		goto fail;
	}
	snprintf(cfg.table, sizeof(cfg.table), "%s", v);

	if (aws_imds_init(&cfg.imds, err, errlen) == -1)
		goto fail;
	cfg.imds_ready = 1;
	if (aws_creds_provider_init(&cfg.creds, &cfg.imds, err, errlen) == -1)
		goto fail;
	cfg.creds_ready = 1;

	if ((v = config_str("AWS_REGION", NULL)) != NULL ||
	    (v = config_str("AWS_DEFAULT_REGION", NULL)) != NULL) {
		if (!valid_region(v)) {
			snprintf(err, errlen, "%s must be a region such as "
			    "us-east-1", getenv("AWS_REGION") != NULL &&
			    *getenv("AWS_REGION") != '\0' ? "AWS_REGION" :
			    "AWS_DEFAULT_REGION");
			goto fail;
		}
		snprintf(cfg.region, sizeof(cfg.region), "%s", v);
	} else if (imds_word_now("/latest/meta-data/placement/region", "-",
	    cfg.region, sizeof(cfg.region), why, sizeof(why)) == -1 ||
	    !valid_region(cfg.region)) {
		snprintf(err, errlen, "AWS_REGION is not set and IMDS gave no "
		    "region (%s)", why);
		goto fail;
	}

	/* The SDKs' order: the service's own variable, then the global. */
	if ((v = config_str("AWS_ENDPOINT_URL_DYNAMODB", NULL)) != NULL) {
		if (set_endpoint("AWS_ENDPOINT_URL_DYNAMODB", v, err,
		    errlen) == -1)
			goto fail;
	} else if ((v = config_str("AWS_ENDPOINT_URL", NULL)) != NULL) {
		if (set_endpoint("AWS_ENDPOINT_URL", v, err, errlen) == -1)
			goto fail;
	} else {
		snprintf(url, sizeof(url), "https://dynamodb.%s.amazonaws.com",
		    cfg.region);
		if (set_endpoint("AWS_REGION", url, err, errlen) == -1)
			goto fail;
	}
	log_line("dynamodb: table %s in %s at %s, credentials from %s",
	    cfg.table, cfg.region, cfg.url, cfg.creds.from_env ?
	    "the environment" : "IMDS");
	return 0;
fail:
	dynamo_teardown();
	return -1;
}

static void
dynamo_teardown(void)
{
	if (cfg.creds_ready)
		aws_creds_provider_destroy(&cfg.creds);
	if (cfg.imds_ready)
		aws_imds_destroy(&cfg.imds);
	if (cfg.curl_ready)
		http_global_cleanup();
	cfg.creds_ready = cfg.imds_ready = cfg.curl_ready = 0;
}

static int
dynamo_instance_id(char *out, size_t outlen)
{
	char	 why[256];

	if (!cfg.imds_ready || cfg.imds.disabled)
		return -1;
	if (imds_word_now("/latest/meta-data/instance-id", "-", out, outlen,
	    why, sizeof(why)) == -1) {
		log_line("dynamodb: no instance id, using the host name: %s",
		    why);
		return -1;
	}
	return 0;
}

static int
dynamo_open(struct store **out, char *err, size_t errlen)
{
	struct store	*s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "dynamodb: out of memory");
		return -1;
	}
	if (http_client_new(&s->http, err, errlen) == -1) {
		free(s);
		return -1;
	}
	buf_init(&s->body, REQUEST_MAX);
	buf_init(&s->auth, 8192);
	buf_init(&s->start, REQUEST_MAX);
	buf_init(&s->resp.body, ANSWER_MAX);
	s->date.name = "Date";
	s->resp.capture = &s->date;
	s->resp.ncapture = 1;
	*out = s;
	return 0;
}

static void
dynamo_close(struct store *s)
{
	if (s == NULL)
		return;
	http_client_free(s->http);
	buf_free(&s->body);
	buf_free(&s->auth);
	buf_free(&s->start);
	buf_free(&s->resp.body);
	explicit_bzero(&s->signing, sizeof(s->signing));
	free(s);
}

/* The signing key for amzdate's day and c's secret, derived if it is new. */
static const unsigned char *
signing_key(struct store *s, const struct aws_creds *c, const char *amzdate)
{
	struct signing_key	*k = &s->signing;

	if (strncmp(k->day, amzdate, 8) != 0 ||
	    strcmp(k->secret, c->secret_access_key) != 0) {
		explicit_bzero(k, sizeof(*k));
		if (sigv4_signing_key(k->key, c->secret_access_key, amzdate,
		    cfg.region, SERVICE) == -1)
			return NULL;
		memcpy(k->day, amzdate, 8);
		snprintf(k->secret, sizeof(k->secret), "%s",
		    c->secret_access_key);
	}
	return k->key;
}

/*
 * One attempt: sign s->body for op with creds at the corrected time and
 * send it. The headers are those the AWS SDKs sign for DynamoDB.
 */
static enum http_result
attempt(struct store *s, const char *op, const struct aws_creds *c,
    const struct deadline *dl, char *why, size_t whylen)
{
	char			 amzdate[SIGV4_DATE_SIZE], hash[SIGV4_HEX_SIZE];
	char			 target[64], h_host[320], h_date[32],
				 h_target[80], h_token[AWS_TOKEN_MAX + 32];
	struct sigv4_header	 sh[5];
	struct sigv4_request	 req;
	struct http_request	 hr;
	const char		*lines[6];
	const unsigned char	*key;
	size_t			 n = 0, nl = 0;
	enum http_result	 r;

	snprintf(target, sizeof(target), DYNAMO_TARGET_PREFIX "%s", op);
	if (sigv4_format_date(time(NULL) + atomic_load(&clock_offset),
	    amzdate) == -1 ||
	    sigv4_sha256_hex(s->body.data, s->body.len, hash) == -1) {
		snprintf(why, whylen, "cannot sign (clock or OpenSSL)");
		return HTTP_FAILED;
	}
	/*
	 * Signed: what the AWS SDKs sign for DynamoDB. The payload hash is
	 * in the canonical request; DynamoDB needs no x-amz-content-sha256.
	 */
	sh[n++] = (struct sigv4_header){ "content-type", DYNAMO_CONTENT_TYPE };
	sh[n++] = (struct sigv4_header){ "host", cfg.host };
	sh[n++] = (struct sigv4_header){ "x-amz-date", amzdate };
	if (c->session_token[0] != '\0')
		sh[n++] = (struct sigv4_header){ "x-amz-security-token",
		    c->session_token };
	sh[n++] = (struct sigv4_header){ "x-amz-target", target };
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = cfg.path;
	req.headers = sh;
	req.nheaders = n;
	req.payload_hash = hash;
	req.normalize_path = 1;
	buf_reset(&s->auth);
	if ((key = signing_key(s, c, amzdate)) == NULL ||
	    buf_addstr(&s->auth, "Authorization: ") == -1 ||
	    sigv4_sign_with_key(&s->auth, &req, c->access_key_id, key, amzdate,
	    cfg.region, SERVICE) == -1) {
		snprintf(why, whylen, "cannot sign the request");
		return HTTP_FAILED;
	}

	/* Sent: the same values, so what is signed is what arrives. */
	snprintf(h_host, sizeof(h_host), "Host: %s", cfg.host);
	snprintf(h_date, sizeof(h_date), "X-Amz-Date: %s", amzdate);
	snprintf(h_target, sizeof(h_target), "X-Amz-Target: %s", target);
	h_token[0] = '\0';
	lines[nl++] = "Content-Type: " DYNAMO_CONTENT_TYPE;
	lines[nl++] = h_host;
	lines[nl++] = h_date;
	lines[nl++] = h_target;
	if (c->session_token[0] != '\0') {
		snprintf(h_token, sizeof(h_token), "X-Amz-Security-Token: %s",
		    c->session_token);
		lines[nl++] = h_token;
	}
	lines[nl++] = s->auth.data;
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = cfg.url;
	hr.headers = lines;
	hr.nheaders = nl;
	hr.body = s->body.data;
	hr.bodylen = s->body.len;
	r = http_perform(s->http, &hr, &s->resp, dl, why, whylen);
	explicit_bzero(h_token, sizeof(h_token));
	return r;
}

/*
 * One logical call: s->body sent as op until DynamoDB answers 200, the
 * answer is final, or the attempts, the retry quota or the deadline run
 * out. On STORE_OK the answer is in s->resp.body.
 */
static enum store_status
call(struct store *s, const char *op, const struct deadline *dl, char *err,
    size_t errlen)
{
	struct aws_creds	 c;
	struct dynamo_error	 e;
	struct retry		 r;
	enum http_result	 res;
	enum retry_reason	 reason;
	char			 why[512], whynot[128];
	int			 skew_fixed = 0, renewed = 0, counted = 1;
	long			 offset;

	retry_begin(&r, &cfg.quota, dl, RETRY_ATTEMPTS);
	for (;;) {
		if (aws_creds_get(&cfg.creds, s->http, dl, &c, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "dynamodb %s: %s", op, why);
			return STORE_UNAVAILABLE;
		}
		/* A clock fixed or credentials renewed: that try is free. */
		if (counted)
			retry_attempt(&r);
		counted = 1;
		res = attempt(s, op, &c, dl, why, sizeof(why));
		if (res == HTTP_DONE && s->resp.status == 200) {
			aws_creds_wipe(&c);
			retry_done(&r);
			return STORE_OK;
		}
		if (res != HTTP_DONE) {
			aws_creds_wipe(&c);
			if (!http_result_retryable(res)) {
				snprintf(err, errlen, "dynamodb %s: %s", op, why);
				return STORE_UNAVAILABLE;
			}
			reason = res == HTTP_TIMEOUT ? RETRY_TIMEOUT :
			    RETRY_TRANSIENT;
			goto again;
		}
		dynamo_parse_error(s->resp.body.data, s->resp.body.len, &e);
		snprintf(why, sizeof(why), "HTTP %ld %s%s%s", s->resp.status,
		    e.type[0] ? e.type : "(no error type)",
		    e.message[0] ? ": " : "", e.message);
		switch (dynamo_classify(s->resp.status, &e)) {
		case DYNAMO_THROTTLED:
			aws_creds_wipe(&c);
			reason = RETRY_THROTTLED;
			goto again;
		case DYNAMO_RETRY:
			aws_creds_wipe(&c);
			reason = RETRY_TRANSIENT;
			goto again;
		case DYNAMO_SKEWED:
			aws_creds_wipe(&c);
			/* As the SDKs do: believe the server's clock, once. */
			if (!skew_fixed && dynamo_clock_offset(s->date.value,
			    time(NULL), &offset) == 0) {
				atomic_store(&clock_offset, offset);
				log_line("dynamodb: clock skew, signing %lds "
				    "%s from now on", labs(offset),
				    offset < 0 ? "behind" : "ahead");
				skew_fixed = 1;
				counted = 0;
				continue;
			}
			break;
		case DYNAMO_EXPIRED_TOKEN:
			if (!renewed && aws_creds_expired(&cfg.creds, &c)) {
				aws_creds_wipe(&c);
				renewed = 1;
				counted = 0;
				continue;
			}
			aws_creds_wipe(&c);
			break;
		case DYNAMO_REFUSED:
			aws_creds_wipe(&c);
			break;
		case DYNAMO_BROKEN:
			aws_creds_wipe(&c);
			snprintf(err, errlen, "dynamodb %s: unexpected %s", op,
			    why);
			return STORE_UNAVAILABLE;
		}
		snprintf(err, errlen, "dynamodb %s: %s", op, why);
		return STORE_REFUSED;
again:
		if (!retry_next(&r, reason, -1, whynot, sizeof(whynot))) {
			snprintf(err, errlen, "dynamodb %s: %s (%s)", op, why,
			    whynot);
			return STORE_UNAVAILABLE;
		}
	}
}

static enum store_status
dynamo_get(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st;
	char			 why[200];
	int			 found;

	buf_reset(&s->body);
	if (dynamo_query_body(&s->body, cfg.table, name, len) == -1) {
		snprintf(err, errlen, "dynamodb Query: cannot build request");
		return STORE_UNAVAILABLE;
	}
	if ((st = call(s, "Query", dl, err, errlen)) != STORE_OK)
		return st;
	if (dynamo_parse_count(s->resp.body.data, s->resp.body.len, &found,
	    why, sizeof(why)) != DYNAMO_PARSED) {
		snprintf(err, errlen, "dynamodb Query: %s", why);
		return STORE_UNAVAILABLE;
	}
	return found ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_status
dynamo_put(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st;
	char			 why[200];

	buf_reset(&s->body);
	if (dynamo_put_body(&s->body, cfg.table, name, len) == -1) {
		snprintf(err, errlen, "dynamodb PutItem: cannot build request");
		return STORE_UNAVAILABLE;
	}
	if ((st = call(s, "PutItem", dl, err, errlen)) != STORE_OK)
		return st;
	if (dynamo_parse_put(s->resp.body.data, s->resp.body.len, why,
	    sizeof(why)) != DYNAMO_PARSED) {
		snprintf(err, errlen, "dynamodb PutItem: %s", why);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/*
 * Scan to the end, page by page, handing each name on as it comes: only
 * one page is ever held. DynamoDB cuts pages at 1 MB and may send an
 * empty page that still carries a key; a key that does not move on would
 * loop for ever, so it ends the listing as an error. Every page is a call
 * within the listing's one deadline, so a large table cannot outlive the
 * web server's patience page after page.
 */
static enum store_status
dynamo_list(struct store *s, store_name_fn fn, void *ctx,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st = STORE_OK;
	enum dynamo_parse	 p;
	const char		*next;
	size_t			 nextlen;
	char			 why[200];
	unsigned long		 pages = 0;

	buf_reset(&s->start);
	for (;;) {
		buf_reset(&s->body);
		if (dynamo_scan_body(&s->body, cfg.table, pages > 0 ?
		    s->start.data : NULL, s->start.len) == -1) {
			snprintf(err, errlen, "dynamodb Scan: cannot build "
			    "request");
			st = STORE_UNAVAILABLE;
			break;
		}
		if ((st = call(s, "Scan", dl, err, errlen)) != STORE_OK)
			break;
		pages++;
		p = dynamo_parse_scan(s->resp.body.data, s->resp.body.len, fn,
		    ctx, &next, &nextlen, why, sizeof(why));
		if (p != DYNAMO_PARSED) {
			snprintf(err, errlen, "dynamodb Scan page %lu: %s", pages,
			    why);
			st = STORE_UNAVAILABLE;
			break;
		}
		if (next == NULL)
			break;
		if (pages > 1 && nextlen == s->start.len &&
		    memcmp(next, s->start.data, nextlen) == 0) {
			snprintf(err, errlen, "dynamodb Scan page %lu: "
			    "LastEvaluatedKey did not advance", pages);
			st = STORE_UNAVAILABLE;
			break;
		}
		/* The key outlives the answer it came in: the next one. */
		buf_reset(&s->start);
		if (buf_add(&s->start, next, nextlen) == -1) {
			snprintf(err, errlen, "dynamodb Scan page %lu: "
			    "LastEvaluatedKey too large", pages);
			st = STORE_UNAVAILABLE;
			break;
		}
	}
	/* A listing grew the answer buffer to a page: give that back. */
	if (s->resp.body.cap > REQUEST_MAX)
		buf_free(&s->resp.body);
	return st;
}

const struct store_ops store_dynamodb = {
	.name = "dynamodb",
	.setup = dynamo_setup,
	.teardown = dynamo_teardown,
	.open = dynamo_open,
	.close = dynamo_close,
	.get = dynamo_get,
	.put = dynamo_put,
	.list = dynamo_list,
	.instance_id = dynamo_instance_id,
};
STORE_MODULE(dynamodb);
