#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "config.h"

/* An attempt with less time than this left is not worth starting. */
#define ATTEMPT_MIN_MS	50

struct http_client {
	CURL			*curl;
	struct http_config	 cfg;
	char			 ca_bundle[1024];
};

/* What the curl callbacks of one exchange write into. */
struct exchange {
	struct http_response	*resp;
	int			 too_large;
};

int
http_config_from_env(struct http_config *cfg, char *err, size_t errlen)
{
	cfg->ca_bundle = NULL;
	return config_timeouts(&cfg->timeout_ms, &cfg->connect_timeout_ms, err,
	    errlen);
}

int
http_global_init(char *err, size_t errlen)
{
	CURLcode	 rc;

	/* Reference counted by libcurl, so several stores may call it. */
	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void
http_global_cleanup(void)
{
	curl_global_cleanup();
}

void
deadline_start(struct deadline *dl, long ms)
{
	if (clock_gettime(CLOCK_MONOTONIC, &dl->end) == -1) {
		/* Cannot happen on Linux; an expired deadline fails safe. */
		dl->end.tv_sec = 0;
		dl->end.tv_nsec = 0;
		return;
	}
	dl->end.tv_sec += ms / 1000;
	dl->end.tv_nsec += (ms % 1000) * 1000000L;
	if (dl->end.tv_nsec >= 1000000000L) {
		dl->end.tv_sec++;
		dl->end.tv_nsec -= 1000000000L;
	}
}

long
deadline_left_ms(const struct deadline *dl)
{
	struct timespec	 now;
	long long	 ms;

	if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
		return 0;
	ms = ((long long)dl->end.tv_sec - now.tv_sec) * 1000 +
	    (dl->end.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (long)ms : 0;
}

int
http_client_new(struct http_client **out, const struct http_config *cfg,
    char *err, size_t errlen)
{
	struct http_client	*c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "http client: out of memory");
		return -1;
	}
	c->cfg = *cfg;
	if (cfg->ca_bundle != NULL) {
		if (snprintf(c->ca_bundle, sizeof(c->ca_bundle), "%s",
		    cfg->ca_bundle) >= (int)sizeof(c->ca_bundle)) {
			snprintf(err, errlen, "CA bundle path too long");
			free(c);
			return -1;
		}
		c->cfg.ca_bundle = c->ca_bundle;
	}
	if ((c->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct exchange	*x = arg;

	/* size is 1 by libcurl's contract, so size * n cannot overflow. */
	if (buf_add(&x->resp->body, p, size * n) == -1) {
		x->too_large = 1;
		return 0;
	}
	return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct exchange		*x = arg;
	struct http_response	*resp = x->resp;
	size_t			 len = size * n, i, nl, vl;
	const char		*v, *end;

	/* A new status line (after a 100 Continue, say): forget the old. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		for (i = 0; i < resp->ncapture; i++)
			resp->capture[i].value[0] = '\0';
		return len;
	}
	for (i = 0; i < resp->ncapture; i++) {
		struct http_capture *cap = &resp->capture[i];

		nl = strlen(cap->name);
		if (len <= nl || p[nl] != ':' ||
		    strncasecmp(p, cap->name, nl) != 0)
			continue;
		for (v = p + nl + 1, end = p + len; v < end &&
		    (*v == ' ' || *v == '\t'); v++)
			continue;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
		    end[-1] == ' ' || end[-1] == '\t'))
			end--;
		vl = (size_t)(end - v);
		if (vl >= sizeof(cap->value))
			vl = sizeof(cap->value) - 1;
		memcpy(cap->value, v, vl);
		cap->value[vl] = '\0';
	}
	return len;
}

/* Sets every option of one exchange; -1 if libcurl refuses one. */
static int
prepare(struct http_client *c, const struct http_request *req,
    struct curl_slist *headers, struct exchange *x, char *curlerr, long left)
{
	CURL	*h = c->curl;
	long	 connect = c->cfg.connect_timeout_ms;
	int	 bad = 0;

	/*
	 * reset forgets the last request's options but keeps the live
	 * connections and TLS sessions, which is the point of one handle.
	 */
	curl_easy_reset(h);
	if (connect > left)
		connect = left;
	bad |= curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	/* Signals are the main thread's; libcurl must not use SIGALRM. */
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (c->cfg.ca_bundle != NULL)
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_bundle) !=
		    CURLE_OK;
	/*
	 * Trust the one CA file only (the bundle given, else libcurl's
	 * default): Debian's libcurl also sets a CA directory, which would
	 * add the system CAs to a test bundle and, worse, stops libcurl from
	 * caching the parsed file, so every new connection would parse all
	 * of ca-certificates.crt again inside its connect timeout.
	 */
	bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, x) != CURLE_OK;
	if (strcmp(req->method, "GET") == 0) {
		bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	} else {
		/* POSTFIELDS sends the body as is: no copy, no chunking. */
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "") != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? req->bodylen : 0)) !=
		    CURLE_OK;
		if (strcmp(req->method, "POST") != 0)
			bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
			    req->method) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

enum http_result
http_perform(struct http_client *c, const struct http_request *req,
    struct http_response *resp, const struct deadline *dl, char *err,
    size_t errlen)
{
	struct curl_slist	*headers = NULL, *tmp;
	struct exchange		 x = { resp, 0 };
	char			 curlerr[CURL_ERROR_SIZE];
	enum http_result	 res;
	CURLcode		 rc;
	size_t			 i;
	long			 left;

	resp->status = 0;
	buf_reset(&resp->body);
	for (i = 0; i < resp->ncapture; i++)
		resp->capture[i].value[0] = '\0';
	/* A timeout of 0 would mean none to libcurl. */
	if ((left = deadline_left_ms(dl)) <= 0) {
		snprintf(err, errlen, "deadline passed before the request");
		return HTTP_TIMEOUT;
	}
	/* libcurl would add "Expect: 100-continue" and wait for it. */
	if ((headers = curl_slist_append(NULL, "Expect:")) == NULL)
		goto nomem;
	for (i = 0; i < req->nheaders; i++) {
		if ((tmp = curl_slist_append(headers, req->headers[i])) == NULL)
			goto nomem;
		headers = tmp;
	}
	curlerr[0] = '\0';
	if (prepare(c, req, headers, &x, curlerr, left) == -1) {
		curl_slist_free_all(headers);
		snprintf(err, errlen, "libcurl refused an option");
		return HTTP_FAILED;
	}
	rc = curl_easy_perform(c->curl);
	/* The handle must not keep pointers into this frame. */
	if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK)
		rc = rc != CURLE_OK ? rc : CURLE_FAILED_INIT;
	curl_slist_free_all(headers);
	if (rc == CURLE_OK) {
		if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &resp->status) != CURLE_OK || resp->status == 0) {
			snprintf(err, errlen, "no HTTP status");
			return HTTP_TRANSPORT;
		}
		/* An empty body still reads as "" for the parsers. */
		if (resp->body.data == NULL && buf_add(&resp->body, "", 0) == -1)
			goto nomem_noheaders;
		return HTTP_DONE;
	}
	if (x.too_large) {
		snprintf(err, errlen, "response larger than %zu bytes",
		    resp->body.max);
		return HTTP_TOO_LARGE;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		res = HTTP_TIMEOUT;
		break;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_FAILED_INIT:
	/* A peer we do not trust stays untrusted: no point retrying. */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		res = HTTP_FAILED;
		break;
	default:
		res = HTTP_TRANSPORT;
		break;
	}
	snprintf(err, errlen, "%s%s%s", curl_easy_strerror(rc),
	    curlerr[0] != '\0' ? ": " : "", curlerr);
	return res;
nomem:
	curl_slist_free_all(headers);
nomem_noheaders:
	snprintf(err, errlen, "http client: out of memory");
	return HTTP_FAILED;
}

int
http_result_retryable(enum http_result r)
{
	return r == HTTP_TIMEOUT || r == HTTP_TRANSPORT;
}

long
http_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd)
{
	long	 ceiling = base_ms;
	int	 i;

	if (attempt < 1 || base_ms <= 0 || cap_ms <= 0)
		return 0;
	for (i = 1; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	return (long)(rnd % ((uint32_t)ceiling + 1));
}

int
http_backoff_sleep(int attempt, long base_ms, const struct deadline *dl)
{
	struct timespec	 ts;
	uint32_t	 rnd;
	long		 wait, left;

	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)rand();
	wait = http_backoff_ms(attempt, base_ms, HTTP_RETRY_CAP_MS, rnd);
	left = deadline_left_ms(dl);
	if (wait + ATTEMPT_MIN_MS > left)
		return -1;
	ts.tv_sec = wait / 1000;
	ts.tv_nsec = (wait % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	return 0;
}
