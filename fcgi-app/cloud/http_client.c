#include "http_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"

struct http_client {
	CURL		*curl;
};

/* What the curl callbacks of one exchange write into. */
struct exchange {
	struct http_response	*resp;
	int			 too_large;
};

/* What every client of the process shares, set up by http_global_init. */
static struct {
	CURLSH		*share;
	pthread_mutex_t	 locks[CURL_LOCK_DATA_LAST];
	X509_STORE	*cas;
	long		 connect_timeout_ms;
	int		 curl_ready;
	int		 locks_ready;
} g;

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	(void)h;
	(void)access;
	(void)arg;
	pthread_mutex_lock(&g.locks[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	(void)h;
	(void)arg;
	pthread_mutex_unlock(&g.locks[data]);
}

/*
 * Every new TLS connection verifies its peer against the one CA store
 * parsed at start-up. Left to itself libcurl would parse the CA file into
 * each connection's context (a CA cache lives only as long as one easy
 * handle's connection cache), at about 1.5 MB and a millisecond of CPU
 * per worker.
 */
static CURLcode
on_ssl_ctx(CURL *h, void *ssl_ctx, void *arg)
{
	(void)h;
	(void)arg;
	SSL_CTX_set1_cert_store(ssl_ctx, g.cas);
	/*
	 * A kept connection waits idle between requests, in every worker:
	 * its 34 KB of TLS record buffers go back until it is used again.
	 */
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

/*
 * An SSL_CERT_FILE that cannot be read or holds no certificate would
 * leave every TLS peer unverifiable (OpenSSL skips it silently): refused
 * at start-up, naming the variable.
 */
static int
check_cert_file(char *err, size_t errlen)
{
	const char	*path = config_str("SSL_CERT_FILE", NULL);
	X509_STORE	*st;
	int		 ok;

	if (path == NULL)
		return 0;
	if (access(path, R_OK) == -1) {
		snprintf(err, errlen, "SSL_CERT_FILE: cannot read %s", path);
		return -1;
	}
	ok = (st = X509_STORE_new()) != NULL &&
	    X509_STORE_load_file(st, path) == 1;
	X509_STORE_free(st);
	ERR_clear_error();
	if (!ok) {
		snprintf(err, errlen, "SSL_CERT_FILE: no PEM certificate in %s",
		    path);
		return -1;
	}
	return 0;
}

/*
 * The CAs every connection trusts. A bundle given (AWS_CA_BUNDLE) is all
 * of them: a test's CA must not be joined by the system's. Otherwise
 * OpenSSL's defaults, SSL_CERT_FILE and SSL_CERT_DIR honoured, with one
 * change: the system's bundle, parsed whole, costs each process 2 MB for
 * the one root a store needs, while the hashed directory beside it (the
 * same CAs, kept in step by update-ca-certificates) loads a root when a
 * handshake first asks for it. So the default file is read only where
 * there is no such directory.
 */
static int
load_cas(X509_STORE *st, const char *bundle)
{
	const char	*file, *dir;
	struct stat	 sb;
	int		 rc = 0;

	if (bundle != NULL)
		return X509_STORE_load_file(st, bundle) == 1 ? 0 : -1;
	file = config_str(X509_get_default_cert_file_env(), NULL);
	dir = config_str(X509_get_default_cert_dir_env(),
	    X509_get_default_cert_dir());
	if (X509_STORE_load_path(st, dir) != 1)
		rc = -1;
	else if (file == NULL && (stat(dir, &sb) == -1 ||
	    !S_ISDIR(sb.st_mode)) &&
	    access(X509_get_default_cert_file(), R_OK) == 0)
		file = X509_get_default_cert_file();
	if (rc == 0 && file != NULL && X509_STORE_load_file(st, file) != 1)
		rc = -1;
	ERR_clear_error();
	return rc;
}

int
http_global_init(const struct http_config *cfg, char *err, size_t errlen)
{
	CURLcode	 rc;
	int		 i;

	if (cfg->ca_bundle == NULL && check_cert_file(err, errlen) == -1)
		return -1;
	/* Reference counted by libcurl. */
	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	g.curl_ready = 1;
	g.connect_timeout_ms = cfg->connect_timeout_ms;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		if (pthread_mutex_init(&g.locks[i], NULL) != 0) {
			while (i-- > 0)
				pthread_mutex_destroy(&g.locks[i]);
			snprintf(err, errlen, "libcurl: cannot create a lock");
			http_global_cleanup();
			return -1;
		}
	g.locks_ready = 1;
	if ((g.cas = X509_STORE_new()) == NULL ||
	    load_cas(g.cas, cfg->ca_bundle) == -1) {
		snprintf(err, errlen, "cannot load the CA certificates from %s",
		    cfg->ca_bundle != NULL ? cfg->ca_bundle : "the system");
		http_global_cleanup();
		return -1;
	}
	if ((g.share = curl_share_init()) == NULL ||
	    curl_share_setopt(g.share, CURLSHOPT_LOCKFUNC, share_lock) !=
	    CURLSHE_OK ||
	    curl_share_setopt(g.share, CURLSHOPT_UNLOCKFUNC, share_unlock) !=
	    CURLSHE_OK ||
	    curl_share_setopt(g.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK ||
	    curl_share_setopt(g.share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		snprintf(err, errlen, "libcurl: cannot set up the share");
		http_global_cleanup();
		return -1;
	}
	return 0;
}

void
http_global_cleanup(void)
{
	if (g.share != NULL)
		curl_share_cleanup(g.share);
	g.share = NULL;
	X509_STORE_free(g.cas);
	g.cas = NULL;
	if (g.locks_ready) {
		int	 i;

		for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&g.locks[i]);
	}
	g.locks_ready = 0;
	if (g.curl_ready)
		curl_global_cleanup();
	g.curl_ready = 0;
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

/*
 * The options every exchange of a handle shares, set once: what varies
 * per request is set by prepare(), and the handle is never reset, which
 * would cost a dozen options per request.
 */
static int
set_constant_options(CURL *h)
{
	int	 bad = 0;

	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	/* Signals are the main thread's; libcurl must not use SIGALRM. */
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	/* No file of libcurl's own: every CA comes from g.cas. */
	bad |= curl_easy_setopt(h, CURLOPT_CAINFO, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SHARE, g.share) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK;
	return bad ? -1 : 0;
}

int
http_client_new(struct http_client **out, char *err, size_t errlen)
{
	struct http_client	*c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "http client: out of memory");
		return -1;
	}
	if ((c->curl = curl_easy_init()) == NULL ||
	    set_constant_options(c->curl) == -1) {
		snprintf(err, errlen, "libcurl: cannot set up a handle");
		http_client_free(c);
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

/* Sets every option of one exchange; -1 if libcurl refuses one. */
static int
prepare(struct http_client *c, const struct http_request *req,
    struct curl_slist *headers, struct exchange *x, char *curlerr, long left)
{
	CURL	*h = c->curl;
	long	 connect = g.connect_timeout_ms;
	int	 bad = 0, get = strcmp(req->method, "GET") == 0;

	if (connect > left)
		connect = left;
	bad |= curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect) !=
	    CURLE_OK;
	/* NULL: the environment's no_proxy decides. */
	bad |= curl_easy_setopt(h, CURLOPT_NOPROXY, req->direct ? "*" :
	    NULL) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, x) != CURLE_OK;
	if (get)
		bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	else {
		/* POSTFIELDS sends the body as is: no copy, no chunking. */
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "") != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? req->bodylen : 0)) !=
		    CURLE_OK;
	}
	/* POST is POSTFIELDS' own method; the rest are named. */
	bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, get ||
	    strcmp(req->method, "POST") == 0 ? NULL : req->method) != CURLE_OK;
	return bad ? -1 : 0;
}

enum http_result
http_perform(struct http_client *c, const struct http_request *req,
    struct http_response *resp, const struct deadline *dl, char *err,
    size_t errlen)
{
	struct curl_slist	 headers[1 + HTTP_HEADERS_MAX];
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
	if (req->nheaders > HTTP_HEADERS_MAX) {
		snprintf(err, errlen, "more than %d headers", HTTP_HEADERS_MAX);
		return HTTP_FAILED;
	}
	/*
	 * The header list lives here, pointing at the caller's lines: libcurl
	 * only reads it during the call, and it costs no allocation. First,
	 * libcurl would add "Expect: 100-continue" and wait for it.
	 */
	headers[0].data = (char *)"Expect:";
	headers[0].next = NULL;
	for (i = 0; i < req->nheaders; i++) {
		headers[i].next = &headers[i + 1];
		headers[i + 1].data = (char *)req->headers[i];
		headers[i + 1].next = NULL;
	}
	curlerr[0] = '\0';
	if (prepare(c, req, headers, &x, curlerr, left) == -1) {
		snprintf(err, errlen, "libcurl refused an option");
		return HTTP_FAILED;
	}
	rc = curl_easy_perform(c->curl);
	/* The handle must not keep pointers into this frame. */
	if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL) != CURLE_OK)
		rc = rc != CURLE_OK ? rc : CURLE_FAILED_INIT;
	if (rc == CURLE_OK) {
		if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &resp->status) != CURLE_OK || resp->status == 0) {
			snprintf(err, errlen, "no HTTP status");
			return HTTP_TRANSPORT;
		}
		/* An empty body still reads as "" for the parsers. */
		if (resp->body.data == NULL && buf_add(&resp->body, "", 0) == -1) {
			snprintf(err, errlen, "http client: out of memory");
			return HTTP_FAILED;
		}
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
}

int
http_result_retryable(enum http_result r)
{
	return r == HTTP_TIMEOUT || r == HTTP_TRANSPORT;
}
