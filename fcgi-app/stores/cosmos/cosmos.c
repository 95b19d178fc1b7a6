/*
 * The Azure store: Cosmos DB for NoSQL over its REST API, with the Flask
 * original's data layout (database CandidateDatabase, container
 * Candidates, partition key /CandidateName, each item {"id": name,
 * "CandidateName": name}), so a container the original wrote is served
 * unchanged. A get is a point read of the item whose id is the name, a put
 * an upsert, a listing the query SELECT c.id FROM c followed page by page.
 *
 * Requests are signed with the account key (COSMOS_KEY, for local runs)
 * or carry a Microsoft Entra token of the VM's managed identity from
 * Azure IMDS, held in the shared token cache (cloud/token_cache.h):
 * fetched once for every thread and refreshed early, never per request.
 *
 * Read-your-write across instances: the account's default consistency is
 * Strong (infra/azure/cosmos.tf) and no request sends
 * x-ms-consistency-level, so every read sees every write any instance had
 * acknowledged, as DynamoDB's ConsistentRead does. Session consistency
 * would not do: its token belongs to one client, so another instance (or
 * another worker here) could read a replica that has not seen the write.
 * A request can only weaken the account's level, never strengthen it, so
 * the header could do nothing but harm.
 *
 * Each worker keeps one HTTP client, hence one kept-alive TLS connection
 * to the account. What the workers share is read-only after setup, but
 * for the token cache (which locks itself), the retry quota and the clock
 * offset (atomics). Every operation is one logical call within the
 * deadline the handler gives it, all attempts included; a listing's pages
 * all fall within the listing's one deadline. Retries follow the shared
 * policy (cloud/retry.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure_imds.h"
#include "cloud/http_client.h"
#include "cloud/retry.h"
#include "cloud/token_cache.h"
#include "config.h"
#include "cosmos_auth.h"
#include "cosmos_config.h"
#include "cosmos_wire.h"
#include "log.h"
#include "store.h"

#define DATABASE_DEFAULT	"CandidateDatabase"
#define CONTAINER_DEFAULT	"Candidates"
/* The REST API version @azure/cosmos 4 speaks. */
#define API_VERSION		"2020-07-15"
/* A query page is at most 4 MB of documents; its JSON a little more. */
#define ANSWER_MAX		(8u * 1024 * 1024)
#define REQUEST_MAX		(64u * 1024)
/* An item's URL and link: the container's, and a name encoded 3 to 1. */
#define TARGET_MAX		(4u * 1024)
/*
 * Names per query page: many per round trip, while a page of the longest
 * names (some 300 KB) stays far below the 4 MB the service allows.
 */
#define PAGE_ITEMS		"1000"
/* Metadata reads at start-up: short, so a laptop does not wait long. */
#define IMDS_START_MS		1000
/*
 * Attempts after 429: the Cosmos DB SDKs retry throttling nine times
 * (waiting what the service asks), other failures as the shared policy
 * says. Either way, all within the call's deadline.
 */
#define THROTTLE_ATTEMPTS	10

static struct {
	char			 endpoint[COSMOS_URL_MAX];
	char			 database[COSMOS_ID_MAX + 1];
	char			 container[COSMOS_ID_MAX + 1];
	char			 docs_url[COSMOS_URL_MAX + TARGET_MAX];
	char			 docs_link[TARGET_MAX];
	int			 use_key;
	struct cosmos_key	 key;		/* when use_key */
	struct azure_imds	 imds;
	struct token_cache	 tokens;	/* else, from IMDS */
	struct retry_quota	 quota;
	int			 curl_ready, tokens_ready;
} cfg;

/*
 * Server time minus ours, in seconds, learnt from the Date of an answer
 * that found our x-ms-date out of its window; every later request is
 * dated with it.
 */
static atomic_long clock_offset;

enum {
	CAP_CONTINUATION,	/* x-ms-continuation: the next page's start */
	CAP_RETRY_AFTER,	/* x-ms-retry-after-ms: a 429's wait */
	CAP_SUBSTATUS,		/* x-ms-substatus: what a 4xx means */
	CAP_DATE,		/* Date: the service's clock */
	NCAP
};

struct store {
	struct http_client	*http;
	struct buf		 url;		/* an item's URL */
	struct buf		 link;		/* an item's resource link */
	struct buf		 pk;		/* the partition-key header */
	struct buf		 body;		/* the request's JSON */
	struct buf		 cont;		/* the continuation header sent */
	struct buf		 auth;		/* the Authorization header */
	struct azure_token	 tok;		/* the token of the call */
	struct http_response	 resp;
	struct http_capture	 cap[NCAP];
};

/* One logical call, as attempt() sends it. */
struct call {
	const char		*what;		/* "read": the log's word */
	const char		*verb;
	const char		*url;
	const char		*link;		/* signed with the key */
	size_t			 linklen;
	const char *const	*lines;		/* the call's own headers */
	size_t			 nlines;
	const struct buf	*body;		/* NULL: none */
	int			 read;		/* a point read: 404 answers */
};

static void cosmos_teardown(void);

/* A set variable that is not valid: one line naming it. */
static int
bad(char *err, size_t errlen, const char *var, const char *what)
{
	snprintf(err, errlen, "%s must be %s", var, what);
	return -1;
}

static int
read_id(const char *var, const char *def, char *out, size_t outlen,
    char *err, size_t errlen)
{
	const char	*v = config_str(var, def);

	if (!cosmos_valid_id(v, strlen(v)) || strlen(v) >= outlen)
		return bad(err, errlen, var, "1 to 255 bytes without / \\ ? # "
		    "or control characters, not ending in a space");
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* The environment, checked; nothing is set up yet. */
static int
read_settings(char *err, size_t errlen)
{
	const char	*v;

	if ((v = config_str("COSMOS_ENDPOINT", NULL)) == NULL) {
		snprintf(err, errlen, "COSMOS_ENDPOINT is not set: the "
		    "account's URI, such as https://ACCOUNT.documents.azure."
		    "com:443/");
		return -1;
	}
	if (cosmos_parse_endpoint(v, strlen(v), cfg.endpoint,
	    sizeof(cfg.endpoint)) == -1)
		return bad(err, errlen, "COSMOS_ENDPOINT", "an https:// URL "
		    "with no path, such as https://ACCOUNT.documents.azure."
		    "com:443/");
	if (read_id("COSMOS_DATABASE_NAME", DATABASE_DEFAULT, cfg.database,
	    sizeof(cfg.database), err, errlen) == -1 ||
	    read_id("COSMOS_CONTAINER_NAME", CONTAINER_DEFAULT, cfg.container,
	    sizeof(cfg.container), err, errlen) == -1)
		return -1;
	if ((v = config_str("COSMOS_KEY", NULL)) != NULL) {
		if (cosmos_key_decode(&cfg.key, v, strlen(v)) == -1)
			return bad(err, errlen, "COSMOS_KEY", "the account key "
			    "in base64, as the portal shows it");
		cfg.use_key = 1;
	}
	if ((v = config_str("AZURE_CLIENT_ID", NULL)) != NULL) {
		if (!cosmos_valid_client_id(v, strlen(v)))
			return bad(err, errlen, "AZURE_CLIENT_ID", "the "
			    "managed identity's client id, a GUID such as "
			    "00000000-0000-0000-0000-000000000000");
		memcpy(cfg.imds.client_id, v, COSMOS_CLIENT_ID_SIZE);
	}
	v = config_str("AZURE_POD_IDENTITY_AUTHORITY_HOST",
	    COSMOS_IMDS_DEFAULT);
	if (cosmos_parse_imds_host(v, strlen(v), cfg.imds.host,
	    sizeof(cfg.imds.host)) == -1)
		return bad(err, errlen, "AZURE_POD_IDENTITY_AUTHORITY_HOST",
		    "an http:// or https:// URL with no path, such as "
		    COSMOS_IMDS_DEFAULT);
	return 0;
}

static int
cosmos_setup(const struct config *conf, char *err, size_t errlen)
{
	struct http_config	 hc;
	struct buf		 path, link;
	int			 rc;

	memset(&cfg, 0, sizeof(cfg));
	atomic_store(&clock_offset, 0);
	retry_quota_init(&cfg.quota, RETRY_QUOTA);
	if (read_settings(err, errlen) == -1)
		goto fail;

	buf_init(&path, TARGET_MAX);
	buf_init(&link, sizeof(cfg.docs_link) - 1);
	rc = cosmos_docs_target(&path, &link, cfg.database, cfg.container);
	if (rc == 0 && snprintf(cfg.docs_url, sizeof(cfg.docs_url), "%s%s",
	    cfg.endpoint, path.data) >= (int)sizeof(cfg.docs_url))
		rc = -1;
	if (rc == 0)
		memcpy(cfg.docs_link, link.data, link.len + 1);
	buf_free(&path);
	buf_free(&link);
	if (rc == -1) {
		snprintf(err, errlen, "COSMOS_DATABASE_NAME and "
		    "COSMOS_CONTAINER_NAME make too long a URL");
		goto fail;
	}

	hc.connect_timeout_ms = conf->connect_timeout_ms;
	hc.ca_bundle = NULL;		/* OpenSSL's, SSL_CERT_FILE's */
	if (http_global_init(&hc, err, errlen) == -1)
		goto fail;
	cfg.curl_ready = 1;
	if (!cfg.use_key) {
		if (token_cache_init(&cfg.tokens, "Cosmos DB token from IMDS",
		    sizeof(struct azure_token), azure_imds_fetch_token,
		    &cfg.imds, err, errlen) == -1)
			goto fail;
		cfg.tokens_ready = 1;
	}
	log_line("cosmos: container %s of database %s at %s, %s", cfg.container,
	    cfg.database, cfg.endpoint, cfg.use_key ? "signed with the "
	    "account key" : cfg.imds.client_id[0] != '\0' ? "with a token of "
	    "the managed identity AZURE_CLIENT_ID from IMDS" : "with a token "
	    "of the VM's managed identity from IMDS");
	return 0;
fail:
	cosmos_teardown();
	return -1;
}

static void
cosmos_teardown(void)
{
	if (cfg.tokens_ready)
		token_cache_destroy(&cfg.tokens);
	if (cfg.curl_ready)
		http_global_cleanup();
	cosmos_key_wipe(&cfg.key);
	cfg.tokens_ready = cfg.curl_ready = cfg.use_key = 0;
}

static int
cosmos_instance_id(char *out, size_t outlen)
{
	struct cosmos_instance	 inst;
	struct http_client	*c;
	struct deadline		 dl;
	char			 why[256];
	int			 rc;

	if (!cfg.curl_ready)
		return -1;
	if ((rc = http_client_new(&c, why, sizeof(why))) == 0) {
		deadline_start(&dl, IMDS_START_MS);
		rc = azure_imds_instance(&cfg.imds, c, &dl, &inst, why,
		    sizeof(why));
		http_client_free(c);
	}
	if (rc == -1) {
		log_line("cosmos: no instance id, using the host name: %s", why);
		return -1;
	}
	snprintf(out, outlen, "%s", inst.vm_id[0] != '\0' ? inst.vm_id :
	    inst.name);
	return 0;
}

static int
cosmos_open(struct store **out, char *err, size_t errlen)
{
	static const char *const names[NCAP] = {
		[CAP_CONTINUATION] = "x-ms-continuation",
		[CAP_RETRY_AFTER] = "x-ms-retry-after-ms",
		[CAP_SUBSTATUS] = "x-ms-substatus",
		[CAP_DATE] = "Date",
	};
	struct store	*s;
	size_t		 i;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "cosmos: out of memory");
		return -1;
	}
	if (http_client_new(&s->http, err, errlen) == -1) {
		free(s);
		return -1;
	}
	buf_init(&s->url, COSMOS_URL_MAX + TARGET_MAX);
	buf_init(&s->link, TARGET_MAX);
	buf_init(&s->pk, TARGET_MAX);
	buf_init(&s->body, REQUEST_MAX);
	buf_init(&s->cont, 64 + COSMOS_CONTINUATION_MAX);
	/* A signature good for 15 minutes, or a token good for hours. */
	buf_init_secret(&s->auth, 64 + 3 * AZURE_TOKEN_MAX);
	buf_init(&s->resp.body, ANSWER_MAX);
	for (i = 0; i < NCAP; i++)
		s->cap[i].name = names[i];
	s->resp.capture = s->cap;
	s->resp.ncapture = NCAP;
	*out = s;
	return 0;
}

static void
cosmos_close(struct store *s)
{
	if (s == NULL)
		return;
	http_client_free(s->http);
	buf_free(&s->url);
	buf_free(&s->link);
	buf_free(&s->pk);
	buf_free(&s->body);
	buf_free(&s->cont);
	buf_free(&s->auth);
	buf_free(&s->resp.body);
	azure_token_wipe(&s->tok);
	free(s);
}

/*
 * One attempt: c dated now (corrected), signed with the key or carrying
 * s->tok, and sent. The headers are those @azure/cosmos sends.
 */
static enum http_result
attempt(struct store *s, const struct call *c, const struct deadline *dl,
    char *why, size_t whylen)
{
	char			 date[COSMOS_DATE_SIZE], h_date[48];
	const char		*lines[16];
	struct http_request	 hr;
	enum http_result	 r;
	size_t			 n = 0, i;
	int			 rc;

	if (cosmos_format_date(time(NULL) + atomic_load(&clock_offset),
	    date) == -1) {
		snprintf(why, whylen, "cannot format the date");
		return HTTP_FAILED;
	}
	buf_reset(&s->auth);
	rc = buf_addstr(&s->auth, "Authorization: ");
	if (rc == 0 && cfg.use_key)
		rc = cosmos_auth_master(&s->auth, &cfg.key, c->verb,
		    COSMOS_RESOURCE_DOCS, c->link, c->linklen, date);
	else if (rc == 0)
		rc = cosmos_auth_aad(&s->auth, s->tok.value, s->tok.len);
	if (rc == -1 || c->nlines > sizeof(lines) / sizeof(lines[0]) - 4) {
		buf_reset(&s->auth);
		snprintf(why, whylen, "cannot sign the request");
		return HTTP_FAILED;
	}
	snprintf(h_date, sizeof(h_date), "x-ms-date: %s", date);
	lines[n++] = s->auth.data;
	lines[n++] = h_date;
	lines[n++] = "x-ms-version: " API_VERSION;
	lines[n++] = "Accept: application/json";
	for (i = 0; i < c->nlines; i++)
		lines[n++] = c->lines[i];
	memset(&hr, 0, sizeof(hr));
	hr.method = c->verb;
	hr.url = c->url;
	hr.headers = lines;
	hr.nheaders = n;
	if (c->body != NULL) {
		hr.body = c->body->data;
		hr.bodylen = c->body->len;
	}
	r = http_perform(s->http, &hr, &s->resp, dl, why, whylen);
	buf_reset(&s->auth);
	return r;
}

/* The header's number, 0 when absent; -1 when it is not one. */
static long
header_num(const struct store *s, int which)
{
	const char	*v = s->cap[which].value;
	long		 n;

	if (v[0] == '\0')
		return 0;
	return cosmos_parse_header_num(v, strlen(v), &n) == 0 ? n : -1;
}

/* "HTTP 429/3200 429: Message: ...", what the log says of an answer. */
static void
describe(long status, long substatus, const struct cosmos_error *e,
    char *why, size_t whylen)
{
	char	 sub[24] = "";

	if (substatus > 0)
		snprintf(sub, sizeof(sub), "/%ld", substatus);
	snprintf(why, whylen, "HTTP %ld%s %s%s%s", status, sub,
	    e->code[0] != '\0' ? e->code : "(no error code)",
	    e->message[0] != '\0' ? ": " : "", e->message);
}

/*
 * One logical call: c sent until Cosmos DB answers 2xx (or, for a point
 * read, 404), the answer is final, or the attempts, the retry quota or
 * the deadline run out. On STORE_OK the answer is in s->resp.body.
 */
static enum store_status
call(struct store *s, const struct call *c, const struct deadline *dl,
    char *err, size_t errlen)
{
	struct cosmos_error	 e;
	struct retry		 r;
	enum http_result	 res;
	enum retry_reason	 reason;
	enum store_status	 st;
	char			 why[400], whynot[128];
	long			 status, substatus, wait, offset;
	time_t			 server;
	int			 skew_fixed = 0, renewed = 0, counted = 1;

	retry_begin(&r, &cfg.quota, dl, RETRY_ATTEMPTS);
	for (;;) {
		wait = -1;
		if (!cfg.use_key && token_cache_get(&cfg.tokens, s->http, dl,
		    &s->tok, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "cosmos %s: %s", c->what, why);
			return STORE_UNAVAILABLE;
		}
		/* A clock corrected or a token renewed: that try is free. */
		if (counted)
			retry_attempt(&r);
		counted = 1;
		res = attempt(s, c, dl, why, sizeof(why));
		if (res != HTTP_DONE) {
			if (!http_result_retryable(res)) {
				st = STORE_UNAVAILABLE;
				goto done;
			}
			reason = res == HTTP_TIMEOUT ? RETRY_TIMEOUT :
			    RETRY_TRANSIENT;
			r.max_attempts = RETRY_ATTEMPTS;
			goto again;
		}
		status = s->resp.status;
		substatus = header_num(s, CAP_SUBSTATUS);
		if (status == 200 || (status == 201 && !c->read)) {
			retry_done(&r);
			azure_token_wipe(&s->tok);
			return STORE_OK;
		}
		cosmos_parse_error(s->resp.body.data, s->resp.body.len, &e);
		describe(status, substatus, &e, why, sizeof(why));
		/*
		 * Not found is Cosmos DB's own NotFound: a 404 from anything
		 * else in the way (a gateway, a proxy) is no answer at all,
		 * and an outage must never pass for a missing name.
		 */
		if (c->read && cosmos_item_missing(status, substatus)) {
			if (e.cosmos && strcmp(e.code, "NotFound") == 0) {
				retry_done(&r);
				azure_token_wipe(&s->tok);
				return STORE_NOT_FOUND;
			}
			snprintf(err, errlen, "cosmos %s: unexpected %s", c->what,
			    why);
			st = STORE_UNAVAILABLE;
			goto out;
		}
		switch (cosmos_classify(status, substatus < 0 ? 0 : substatus,
		    &e, !cfg.use_key)) {
		case COSMOS_THROTTLED:
			reason = RETRY_THROTTLED;
			r.max_attempts = THROTTLE_ATTEMPTS;
			if ((wait = header_num(s, CAP_RETRY_AFTER)) > 0 &&
			    wait > deadline_left_ms(dl) - RETRY_ATTEMPT_MIN_MS) {
				/* Sooner than asked would only be refused. */
				snprintf(err, errlen, "cosmos %s: asked to wait "
				    "%ld ms, more than the deadline leaves: %s",
				    c->what, wait, why);
				st = STORE_UNAVAILABLE;
				goto out;
			}
			if (s->cap[CAP_RETRY_AFTER].value[0] == '\0')
				wait = -1;
			goto again;
		case COSMOS_RETRY:
			reason = status == 408 ? RETRY_TIMEOUT : RETRY_TRANSIENT;
			r.max_attempts = RETRY_ATTEMPTS;
			goto again;
		case COSMOS_SKEWED:
			/* As the SDKs do: believe the service's clock, once. */
			if (!skew_fixed && cosmos_parse_date(s->cap[CAP_DATE].value,
			    strlen(s->cap[CAP_DATE].value), &server) == 0) {
				offset = (long)(server - time(NULL));
				atomic_store(&clock_offset, offset);
				log_line("cosmos: clock skew, dating requests "
				    "%lds %s from now on", labs(offset),
				    offset < 0 ? "behind" : "ahead");
				skew_fixed = 1;
				counted = 0;
				continue;
			}
			st = STORE_REFUSED;
			goto done;
		case COSMOS_TOKEN_REFRESH:
			/* Expired or revoked: a new token, once. */
			if (!renewed) {
				(void)token_cache_rejected(&cfg.tokens, &s->tok);
				azure_token_wipe(&s->tok);
				renewed = 1;
				counted = 0;
				continue;
			}
			snprintf(err, errlen, "cosmos %s: a new token was "
			    "refused too: %s", c->what, why);
			st = STORE_UNAVAILABLE;
			goto out;
		case COSMOS_REFUSED:
			st = STORE_REFUSED;
			goto done;
		case COSMOS_BROKEN:
			snprintf(err, errlen, "cosmos %s: unexpected %s", c->what,
			    why);
			st = STORE_UNAVAILABLE;
			goto out;
		}
		st = STORE_UNAVAILABLE;
		goto done;
again:
		/* Why it ends first: Cosmos DB's messages run long. */
		if (!retry_next(&r, reason, wait, whynot, sizeof(whynot))) {
			snprintf(err, errlen, "cosmos %s: %s: %s", c->what,
			    whynot, why);
			st = STORE_UNAVAILABLE;
			goto out;
		}
	}
done:
	snprintf(err, errlen, "cosmos %s: %s", c->what, why);
out:
	azure_token_wipe(&s->tok);
	return st;
}

/* The partition-key header of a name, into s->pk. */
static int
partition_key(struct store *s, const char *name, size_t len)
{
	buf_reset(&s->pk);
	return buf_addstr(&s->pk, "x-ms-documentdb-partitionkey: ") == -1 ||
	    cosmos_partition_key(&s->pk, name, len) == -1 ? -1 : 0;
}

static enum store_status
cosmos_get(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	const char		*lines[3];
	struct call		 c;
	enum store_status	 st;
	char			 why[200];

	buf_reset(&s->url);
	buf_reset(&s->link);
	if (buf_addstr(&s->url, cfg.endpoint) == -1 ||
	    cosmos_item_target(&s->url, &s->link, cfg.database, cfg.container,
	    name, len) == -1 || partition_key(s, name, len) == -1) {
		snprintf(err, errlen, "cosmos read: cannot build the request");
		return STORE_UNAVAILABLE;
	}
	lines[0] = s->pk.data;
	lines[1] = "x-ms-documentdb-query-enablecrosspartition: True";
	lines[2] = "x-ms-documentdb-responsecontinuationtokenlimitinkb: 1";
	memset(&c, 0, sizeof(c));
	c.what = "read";
	c.verb = "GET";
	c.url = s->url.data;
	c.link = s->link.data;
	c.linklen = s->link.len;
	c.lines = lines;
	c.nlines = 3;
	c.read = 1;
	if ((st = call(s, &c, dl, err, errlen)) != STORE_OK)
		return st;
	if (cosmos_parse_item(s->resp.body.data, s->resp.body.len, name, len,
	    why, sizeof(why)) != COSMOS_PARSED) {
		snprintf(err, errlen, "cosmos read: %s", why);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

static enum store_status
cosmos_put(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	const char		*lines[3];
	struct call		 c;
	enum store_status	 st;
	char			 why[200];

	buf_reset(&s->body);
	if (cosmos_item_body(&s->body, name, len) == -1 ||
	    partition_key(s, name, len) == -1) {
		snprintf(err, errlen, "cosmos upsert: cannot build the "
		    "request");
		return STORE_UNAVAILABLE;
	}
	lines[0] = "Content-Type: application/json";
	lines[1] = "x-ms-documentdb-is-upsert: True";
	lines[2] = s->pk.data;
	memset(&c, 0, sizeof(c));
	c.what = "upsert";
	c.verb = "POST";
	c.url = cfg.docs_url;
	c.link = cfg.docs_link;
	c.linklen = strlen(cfg.docs_link);
	c.lines = lines;
	c.nlines = 3;
	c.body = &s->body;
	if ((st = call(s, &c, dl, err, errlen)) != STORE_OK)
		return st;
	/* The item as stored: an answer about another is not an answer. */
	if (cosmos_parse_item(s->resp.body.data, s->resp.body.len, name, len,
	    why, sizeof(why)) != COSMOS_PARSED) {
		snprintf(err, errlen, "cosmos upsert: %s", why);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/*
 * Takes the page's x-ms-continuation as the next page's header: 1 when
 * there is a next page, 0 at the end, -1 (with err) when the token cannot
 * be sent back or has not moved, which would loop for ever.
 */
static int
next_page(struct store *s, unsigned long page, char *err, size_t errlen)
{
	static const char prefix[] = "x-ms-continuation: ";
	const char	*v = s->cap[CAP_CONTINUATION].value;
	size_t		 n = strlen(v);

	if (n == 0)
		return 0;
	/* The client keeps HTTP_CAPTURE_VALUE - 1 bytes: a longer one is cut. */
	if (n >= sizeof(s->cap[CAP_CONTINUATION].value) - 1 ||
	    !cosmos_continuation_ok(v, n)) {
		snprintf(err, errlen, "cosmos query page %lu: x-ms-continuation "
		    "of %zu bytes is not one to send back", page, n);
		return -1;
	}
	if (s->cont.len == sizeof(prefix) - 1 + n &&
	    memcmp(s->cont.data + sizeof(prefix) - 1, v, n) == 0) {
		snprintf(err, errlen, "cosmos query page %lu: x-ms-continuation "
		    "did not advance", page);
		return -1;
	}
	buf_reset(&s->cont);
	if (buf_addstr(&s->cont, prefix) == -1 || buf_add(&s->cont, v, n) == -1) {
		snprintf(err, errlen, "cosmos query page %lu: out of memory",
		    page);
		return -1;
	}
	return 1;
}

/*
 * The query to the end, page by page, handing each id on as it comes:
 * only one page is ever held. Pages may be short, or empty and still not
 * the last: only a missing x-ms-continuation ends the listing. Every page
 * is a call within the listing's one deadline, so a large container
 * cannot outlive the web server's patience page after page.
 */
static enum store_status
cosmos_list(struct store *s, store_name_fn fn, void *ctx,
    const struct deadline *dl, char *err, size_t errlen)
{
	const char		*lines[6];
	struct call		 c;
	enum store_status	 st = STORE_OK;
	enum cosmos_parse	 p;
	char			 why[200];
	unsigned long		 page;
	int			 more;

	buf_reset(&s->body);
	buf_reset(&s->cont);
	if (cosmos_query_body(&s->body) == -1) {
		snprintf(err, errlen, "cosmos query: cannot build the request");
		return STORE_UNAVAILABLE;
	}
	lines[0] = "Content-Type: " COSMOS_QUERY_TYPE;
	lines[1] = "x-ms-documentdb-isquery: True";
	lines[2] = "x-ms-documentdb-query-enablecrosspartition: True";
	lines[3] = "x-ms-documentdb-responsecontinuationtokenlimitinkb: 1";
	lines[4] = "x-ms-max-item-count: " PAGE_ITEMS;
	memset(&c, 0, sizeof(c));
	c.what = "query";
	c.verb = "POST";
	c.url = cfg.docs_url;
	c.link = cfg.docs_link;
	c.linklen = strlen(cfg.docs_link);
	c.lines = lines;
	c.body = &s->body;
	for (page = 1;; page++) {
		/* The first page goes without a continuation. */
		lines[5] = s->cont.data;
		c.nlines = s->cont.len > 0 ? 6 : 5;
		if ((st = call(s, &c, dl, err, errlen)) != STORE_OK)
			break;
		p = cosmos_parse_page(s->resp.body.data, s->resp.body.len, fn,
		    ctx, why, sizeof(why));
		if (p != COSMOS_PARSED) {
			snprintf(err, errlen, "cosmos query page %lu: %s", page,
			    why);
			st = STORE_UNAVAILABLE;
			break;
		}
		if ((more = next_page(s, page, err, errlen)) <= 0) {
			st = more == 0 ? STORE_OK : STORE_UNAVAILABLE;
			break;
		}
	}
	buf_reset(&s->cont);
	/* A listing grew the answer buffer to a page: give that back. */
	if (s->resp.body.cap > REQUEST_MAX)
		buf_free(&s->resp.body);
	return st;
}

const struct store_ops store_cosmos = {
	.name = "cosmos",
	.setup = cosmos_setup,
	.teardown = cosmos_teardown,
	.open = cosmos_open,
	.close = cosmos_close,
	.get = cosmos_get,
	.put = cosmos_put,
	.list = cosmos_list,
	.instance_id = cosmos_instance_id,
};
STORE_MODULE(cosmos);
