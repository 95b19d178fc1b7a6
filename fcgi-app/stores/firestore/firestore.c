/*
 * The GCP store: Firestore in native mode over its REST API v1, on the
 * Flask original's layout (collection `candidates`, document id = the
 * name, one string field `CandidateName`), so a database the original
 * wrote is served unchanged. A get is documents:batchGet and a put
 * documents:commit, the calls the official clients make for get() and
 * set(), with the name inside the JSON body; a listing is documents.list
 * (firestore_wire.h says why).
 *
 * Each worker keeps one HTTP client, hence one kept-alive connection (and
 * TLS session) to Firestore. What the workers share is read-only after
 * setup, except the token cache, which locks itself, and the retry quota
 * (atomic).
 *
 * Every operation is one logical call within the deadline the handler
 * gives it (CANDIDATES_TIMEOUT_MS), all attempts included; a listing is
 * one call per page, every page within the listing's one deadline
 * (CANDIDATES_LIST_TIMEOUT_MS). Retries follow the shared policy
 * (cloud/retry.h), on the codes Google's clients retry.
 *
 * Read-your-write needs nothing asked for: Firestore serves every read,
 * a document's and a listing's alike, strongly consistent from the latest
 * committed write, where DynamoDB must be asked for ConsistentRead (Google
 * lists strong consistency among the features of both of Firestore's
 * modes: https://cloud.google.com/firestore/docs/firestore-or-datastore).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/http_client.h"
#include "cloud/retry.h"
#include "config.h"
#include "firestore_wire.h"
#include "gce_metadata.h"
#include "google_config.h"
#include "google_creds.h"
#include "log.h"
#include "store.h"

/*
 * A list page is at most FIRESTORE_PAGE_SIZE documents, each cut to its
 * name and CandidateName by the mask below: well under 1 MB. Anything
 * larger is not such a page.
 */
#define ANSWER_MAX	(4u * 1024 * 1024)
/* A URL holds a page token percent-encoded: three bytes for each. */
#define URL_MAX		(GOOGLE_URL_MAX + 1024 + 3 * FIRESTORE_TOKEN_MAX)
#define REQUEST_MAX	(16u * 1024)
/* Metadata reads at start-up: short, so a laptop does not wait long. */
#define METADATA_START_MS	1000
/*
 * The listing needs the ids alone: the mask leaves every other field of
 * a document out of the answer, so a database the original shares with
 * other writers cannot blow a page up.
 */
#define LIST_MASK	"&mask.fieldPaths=" FIRESTORE_FIELD

static struct {
	char			 project[GOOGLE_PROJECT_MAX];
	char			 database[64];
	char			 base[GOOGLE_URL_MAX];	/* scheme://host[:port] */
	struct gce_metadata	 md;
	struct google_creds	 creds;
	struct retry_quota	 quota;
	int			 curl_ready, creds_ready;
} cfg;

struct store {
	struct http_client	*http;
	struct buf		 url;
	struct buf		 body;		/* a POST's JSON */
	struct http_response	 resp;
	struct buf		 page;		/* the token of the page asked */
	struct buf		 next;		/* the token of the next one */
};

/* Where requests go: the emulator, another endpoint, or Google's. */
static int
set_base(int *emulator, char *err, size_t errlen)
{
	const char	*emu = config_str("FIRESTORE_EMULATOR_HOST", NULL);
	const char	*ep = config_str("FIRESTORE_ENDPOINT", NULL);
	char		 host[GOOGLE_HOSTPORT_MAX], why[128];

	*emulator = emu != NULL;
	if (emu != NULL && ep != NULL) {
		snprintf(err, errlen, "FIRESTORE_ENDPOINT and "
		    "FIRESTORE_EMULATOR_HOST are both set: unset one");
		return -1;
	}
	if (emu != NULL) {
		/* Plain HTTP, as the clients talk to an emulator. */
		if (google_check_hostport(emu, strlen(emu), 1, host,
		    sizeof(host), why, sizeof(why)) == -1) {
			snprintf(err, errlen, "FIRESTORE_EMULATOR_HOST must be "
			    "host:port, like 127.0.0.1:8080: %s", why);
			return -1;
		}
		snprintf(cfg.base, sizeof(cfg.base), "http://%s", host);
		return 0;
	}
	if (ep == NULL) {
		snprintf(cfg.base, sizeof(cfg.base), "https://%s",
		    FIRESTORE_HOST);
		return 0;
	}
	/* Tokens never cross the network in clear: https only. */
	if (google_check_https_url(ep, strlen(ep), cfg.base, sizeof(cfg.base),
	    why, sizeof(why)) == -1) {
		snprintf(err, errlen, "FIRESTORE_ENDPOINT must be an https:// "
		    "URL like https://%s: %s", FIRESTORE_HOST, why);
		return -1;
	}
	return 0;
}

/* Reads one metadata word at start-up with a short deadline of its own. */
static int
metadata_word_now(const char *path, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct http_client	*c;
	struct deadline		 dl;
	struct buf		 body;
	int			 rc = -1;

	if (http_client_new(&c, err, errlen) == -1)
		return -1;
	buf_init(&body, GCE_METADATA_BODY_MAX);
	deadline_start(&dl, METADATA_START_MS);
	if (gce_metadata_get(&cfg.md, c, path, &body, &dl, err, errlen) == 0) {
		if (gce_metadata_word(body.data, body.len, out, outlen) == 0)
			rc = 0;
		else
			snprintf(err, errlen, "metadata server %s: malformed "
			    "answer", path);
	}
	buf_free(&body);
	http_client_free(c);
	return rc;
}

/*
 * The project as Google's clients find it: GOOGLE_CLOUD_PROJECT, else the
 * key file's, else the metadata server's.
 */
static int
set_project(char *err, size_t errlen)
{
	const char	*v = config_str("GOOGLE_CLOUD_PROJECT", NULL);
	char		 word[GCE_WORD_MAX], why[256];

	if (v != NULL) {
		if (firestore_check_project(v, strlen(v), why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "GOOGLE_CLOUD_PROJECT: %s", why);
			return -1;
		}
		memcpy(cfg.project, v, strlen(v) + 1);
		return 0;
	}
	if (cfg.creds.source == GOOGLE_CREDS_KEY_FILE &&
	    cfg.creds.key.project_id[0] != '\0') {
		snprintf(cfg.project, sizeof(cfg.project), "%s",
		    cfg.creds.key.project_id);
		return 0;
	}
	if (metadata_word_now("project/project-id", word, sizeof(word), why,
	    sizeof(why)) == -1 || firestore_check_project(word, strlen(word),
	    why, sizeof(why)) == -1) {
		snprintf(err, errlen, "GOOGLE_CLOUD_PROJECT is not set and the "
		    "metadata server gave no project id (%s)", why);
		return -1;
	}
	/* Checked: 30 bytes at most. */
	memcpy(cfg.project, word, strlen(word) + 1);
	return 0;
}

static void fs_teardown(void);

static int
fs_setup(const struct config *conf, char *err, size_t errlen)
{
	struct http_config	 hc;
	const char		*v;
	char			 why[256], from[GOOGLE_EMAIL_MAX + 64];
	int			 emulator;

	memset(&cfg, 0, sizeof(cfg));
	retry_quota_init(&cfg.quota, RETRY_QUOTA);
	hc.connect_timeout_ms = conf->connect_timeout_ms;
	hc.ca_bundle = NULL;		/* OpenSSL's, SSL_CERT_FILE's */
	if (http_global_init(&hc, err, errlen) == -1)
		return -1;
	cfg.curl_ready = 1;
	if (gce_metadata_init(&cfg.md, err, errlen) == -1 ||
	    set_base(&emulator, err, errlen) == -1)
		goto fail;
	if (google_creds_init(&cfg.creds, emulator, &cfg.md, err,
	    errlen) == -1)
		goto fail;
	cfg.creds_ready = 1;
	v = config_str("FIRESTORE_DATABASE", FIRESTORE_DEFAULT_DB);
	if (firestore_check_database(v, strlen(v), why, sizeof(why)) == -1) {
		snprintf(err, errlen, "FIRESTORE_DATABASE: %s", why);
		goto fail;
	}
	snprintf(cfg.database, sizeof(cfg.database), "%s", v);
	if (set_project(err, errlen) == -1)
		goto fail;
	google_creds_describe(&cfg.creds, from, sizeof(from));
	log_line("firestore: project %s, database %s at %s, credentials: %s",
	    cfg.project, cfg.database, cfg.base, from);
	return 0;
fail:
	fs_teardown();
	return -1;
}

static void
fs_teardown(void)
{
	if (cfg.creds_ready)
		google_creds_destroy(&cfg.creds);
	if (cfg.curl_ready)
		http_global_cleanup();
	cfg.creds_ready = cfg.curl_ready = 0;
}

static int
fs_instance_id(char *out, size_t outlen)
{
	char	 why[256];

	if (metadata_word_now("instance/id", out, outlen, why,
	    sizeof(why)) == -1) {
		log_line("firestore: no instance id, using the host name: %s",
		    why);
		return -1;
	}
	return 0;
}

static int
fs_open(struct store **out, char *err, size_t errlen)
{
	struct store	*s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "firestore: out of memory");
		return -1;
	}
	if (http_client_new(&s->http, err, errlen) == -1) {
		free(s);
		return -1;
	}
	buf_init(&s->url, URL_MAX);
	buf_init(&s->body, REQUEST_MAX);
	buf_init(&s->resp.body, ANSWER_MAX);
	buf_init(&s->page, FIRESTORE_TOKEN_MAX);
	buf_init(&s->next, FIRESTORE_TOKEN_MAX);
	*out = s;
	return 0;
}

static void
fs_close(struct store *s)
{
	if (s == NULL)
		return;
	http_client_free(s->http);
	buf_free(&s->url);
	buf_free(&s->body);
	buf_free(&s->resp.body);
	buf_free(&s->page);
	buf_free(&s->next);
	free(s);
}

/* One attempt: s->url (and s->body, for a POST) sent with the bearer. */
static enum http_result
attempt(struct store *s, const char *method, const struct google_token *tok,
    const struct deadline *dl, char *why, size_t whylen)
{
	static const char	 prefix[] = "Authorization: Bearer ";
	struct http_request	 hr;
	const char		*lines[2];
	char			 auth[sizeof(prefix) + GOOGLE_TOKEN_MAX];
	enum http_result	 r;
	size_t			 nl = 0;
	int			 post = strcmp(method, "GET") != 0;

	/* By hand, not snprintf: no copy of the token but this one. */
	memcpy(auth, prefix, sizeof(prefix) - 1);
	memcpy(auth + sizeof(prefix) - 1, tok->access_token, tok->len);
	auth[sizeof(prefix) - 1 + tok->len] = '\0';
	lines[nl++] = auth;
	if (post)
		lines[nl++] = "Content-Type: application/json";
	memset(&hr, 0, sizeof(hr));
	hr.method = method;
	hr.url = s->url.data;
	hr.headers = lines;
	hr.nheaders = nl;
	if (post) {
		hr.body = s->body.data;
		hr.bodylen = s->body.len;
	}
	r = http_perform(s->http, &hr, &s->resp, dl, why, whylen);
	explicit_bzero(auth, sizeof(auth));
	return r;
}

/*
 * One logical call: s->url (and s->body, for a POST) sent as method
 * until Firestore answers 200, the answer is final, or the attempts, the
 * retry quota or the deadline run out. STORE_OK leaves the answer in
 * s->resp.body.
 */
static enum store_status
call(struct store *s, const char *what, const char *method,
    const struct deadline *dl, char *err, size_t errlen)
{
	struct google_token	 tok;
	struct firestore_error	 e;
	struct retry		 r;
	enum http_result	 res;
	enum retry_reason	 reason;
	char			 why[512], whynot[128];
	int			 renewed = 0, counted = 1;

	retry_begin(&r, &cfg.quota, dl, RETRY_ATTEMPTS);
	for (;;) {
		if (google_creds_get(&cfg.creds, s->http, dl, &tok, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "firestore %s: %s", what, why);
			return STORE_UNAVAILABLE;
		}
		/* A rejected token replaced: that try is free. */
		if (counted)
			retry_attempt(&r);
		counted = 1;
		res = attempt(s, method, &tok, dl, why, sizeof(why));
		if (res == HTTP_DONE && s->resp.status == 200) {
			google_token_wipe(&tok);
			retry_done(&r);
			return STORE_OK;
		}
		if (res != HTTP_DONE) {
			google_token_wipe(&tok);
			if (!http_result_retryable(res)) {
				snprintf(err, errlen, "firestore %s: %s", what,
				    why);
				return STORE_UNAVAILABLE;
			}
			reason = res == HTTP_TIMEOUT ? RETRY_TIMEOUT :
			    RETRY_TRANSIENT;
			goto again;
		}
		firestore_parse_error(s->resp.body.data, s->resp.body.len, &e);
		snprintf(why, sizeof(why), "HTTP %ld %s%s%s", s->resp.status,
		    e.google ? e.status : "(not Google's error JSON)",
		    e.message[0] ? ": " : "", e.message);
		switch (firestore_classify(s->resp.status, &e)) {
		case FIRESTORE_THROTTLED:
			google_token_wipe(&tok);
			reason = RETRY_THROTTLED;
			goto again;
		case FIRESTORE_RETRY:
			google_token_wipe(&tok);
			reason = RETRY_TRANSIENT;
			goto again;
		case FIRESTORE_TOKEN_REJECTED:
			/* Expired or revoked early: a new one, once. */
			if (!renewed && google_creds_rejected(&cfg.creds,
			    &tok)) {
				google_token_wipe(&tok);
				renewed = 1;
				counted = 0;
				continue;
			}
			google_token_wipe(&tok);
			snprintf(err, errlen, "firestore %s: %s", what, why);
			return STORE_UNAVAILABLE;
		case FIRESTORE_REFUSED:
			google_token_wipe(&tok);
			snprintf(err, errlen, "firestore %s: %s", what, why);
			return STORE_REFUSED;
		case FIRESTORE_BROKEN:
			google_token_wipe(&tok);
			snprintf(err, errlen, "firestore %s: unexpected %s",
			    what, why);
			return STORE_UNAVAILABLE;
		}
		google_token_wipe(&tok);
		snprintf(err, errlen, "firestore %s: %s", what, why);
		return STORE_UNAVAILABLE;
again:
		if (!retry_next(&r, reason, -1, whynot, sizeof(whynot))) {
			snprintf(err, errlen, "firestore %s: %s (%s)", what, why,
			    whynot);
			return STORE_UNAVAILABLE;
		}
	}
}

/*
 * s->url = base/v1/projects/{p}/databases/{d}/documents:<method>, and
 * s->body the request for name made by body_fn.
 */
static int
prepare(struct store *s, const char *method, int (*body_fn)(struct buf *,
    const char *, const char *, const char *, size_t), const char *name,
    size_t len)
{
	buf_reset(&s->url);
	buf_reset(&s->body);
	return buf_printf(&s->url, "%s/v1/", cfg.base) == -1 ||
	    firestore_database_path(&s->url, cfg.project, cfg.database) == -1 ||
	    buf_printf(&s->url, "/documents:%s", method) == -1 ||
	    body_fn(&s->body, cfg.project, cfg.database, name, len) == -1 ?
	    -1 : 0;
}

/*
 * documents:batchGet of the one document, as the official clients' get()
 * asks for it: the answer says found or missing, so an absent name is
 * never mistaken for a database that does not exist.
 */
static enum store_status
fs_get(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st;
	char			 why[200];
	int			 found;

	if (prepare(s, "batchGet", firestore_batchget_body, name, len) == -1) {
		snprintf(err, errlen, "firestore documents.batchGet: cannot "
		    "build the request");
		return STORE_UNAVAILABLE;
	}
	if ((st = call(s, "documents.batchGet", "POST", dl, err, errlen)) !=
	    STORE_OK)
		return st;
	if (firestore_parse_batchget(s->resp.body.data, s->resp.body.len, name,
	    len, &found, why, sizeof(why)) != FIRESTORE_PARSED) {
		snprintf(err, errlen, "firestore documents.batchGet: %s", why);
		return STORE_UNAVAILABLE;
	}
	return found ? STORE_OK : STORE_NOT_FOUND;
}

/*
 * documents:commit of one update without a mask or a precondition: the
 * whole document replaced or created, the original's set(). Writing the
 * same name twice changes nothing, so a write is retried like a read.
 */
static enum store_status
fs_put(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st;
	char			 why[200];

	if (prepare(s, "commit", firestore_commit_body, name, len) == -1) {
		snprintf(err, errlen, "firestore documents.commit: cannot build "
		    "the request");
		return STORE_UNAVAILABLE;
	}
	if ((st = call(s, "documents.commit", "POST", dl, err, errlen)) !=
	    STORE_OK)
		return st;
	if (firestore_parse_commit(s->resp.body.data, s->resp.body.len, why,
	    sizeof(why)) != FIRESTORE_PARSED) {
		snprintf(err, errlen, "firestore documents.commit: %s", why);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* s->url = the list page after the token in s->page (none: the first). */
static int
list_url(struct store *s)
{
	buf_reset(&s->url);
	return buf_printf(&s->url, "%s/v1/", cfg.base) == -1 ||
	    firestore_collection_path(&s->url, cfg.project,
	    cfg.database) == -1 || buf_addstr(&s->url, "?") == -1 ||
	    firestore_list_query(&s->url, FIRESTORE_PAGE_SIZE,
	    s->page.len > 0 ? s->page.data : NULL, s->page.len) == -1 ||
	    buf_addstr(&s->url, LIST_MASK) == -1 ? -1 : 0;
}

/*
 * documents.list to the end, page by page, handing each name on as it
 * comes: only one page is ever held. A page may be short or empty and
 * still not be the last; a token that does not move on would loop for
 * ever, so it ends the listing as an error. Every page is a call within
 * the listing's one deadline, so a large collection cannot outlive the
 * web server's patience page after page.
 */
static enum store_status
fs_list(struct store *s, store_name_fn fn, void *ctx,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st = STORE_OK;
	enum firestore_parse	 p;
	struct buf		 tmp;
	char			 why[200];
	unsigned long		 pages = 0;

	buf_reset(&s->page);
	for (;;) {
		if (list_url(s) == -1) {
			snprintf(err, errlen, "firestore documents.list: cannot "
			    "build the request");
			st = STORE_UNAVAILABLE;
			break;
		}
		if ((st = call(s, "documents.list", "GET", dl, err,
		    errlen)) != STORE_OK)
			break;
		pages++;
		p = firestore_parse_list(s->resp.body.data, s->resp.body.len,
		    fn, ctx, &s->next, why, sizeof(why));
		if (p != FIRESTORE_PARSED) {
			snprintf(err, errlen, "firestore documents.list page "
			    "%lu: %s", pages, why);
			st = STORE_UNAVAILABLE;
			break;
		}
		if (s->next.len == 0)
			break;
		if (s->next.len == s->page.len &&
		    memcmp(s->next.data, s->page.data, s->page.len) == 0) {
			snprintf(err, errlen, "firestore documents.list page "
			    "%lu: nextPageToken did not advance", pages);
			st = STORE_UNAVAILABLE;
			break;
		}
		tmp = s->page;
		s->page = s->next;
		s->next = tmp;
	}
	/* A listing may have grown the answer and URL buffers: give back. */
	if (s->resp.body.cap > REQUEST_MAX)
		buf_free(&s->resp.body);
	if (s->url.cap > REQUEST_MAX)
		buf_free(&s->url);
	return st;
}

const struct store_ops store_firestore = {
	.name = "firestore",
	.setup = fs_setup,
	.teardown = fs_teardown,
	.open = fs_open,
	.close = fs_close,
	.get = fs_get,
	.put = fs_put,
	.list = fs_list,
	.instance_id = fs_instance_id,
};
STORE_MODULE(firestore);
