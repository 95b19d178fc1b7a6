/*
 * A small HTTP client over libcurl for the cloud stores and their
 * metadata services and token endpoints.
 *
 * Each worker thread owns one client, and each client one curl easy
 * handle, so its connection (and TLS session) to the store is kept alive
 * and reused from request to request: no handshake per request, no
 * locking between threads on the request path. What the threads can share
 * they share, set up once per process by http_global_init: the parsed CA
 * certificates (one X509 store for every connection, where libcurl would
 * parse the CA file into each), TLS sessions (a new connection resumes
 * another thread's) and the DNS cache. TLS peers are always verified.
 *
 * Every exchange runs against a deadline (deadline.h): the caller starts
 * one per logical call, and every attempt fits in what is left of it.
 */
#ifndef CANDIDATES_HTTP_CLIENT_H
#define CANDIDATES_HTTP_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "deadline.h"

/*
 * The longest response header value kept whole; a longer one is cut to
 * HTTP_CAPTURE_VALUE - 1 bytes. Cosmos DB's x-ms-continuation is kept to
 * about 1 KB when asked (x-ms-documentdb-responsecontinuationtokenlimitinkb)
 * and runs past 128 bytes on any account of more than one partition.
 */
#define HTTP_CAPTURE_VALUE		2048
#define HTTP_HEADERS_MAX		16	/* lines of one request */

struct http_config {
	long		 connect_timeout_ms;	/* one attempt's connect */
	/*
	 * PEM file of the CAs to trust instead of the system's (a store's
	 * own setting, AWS_CA_BUNDLE), or NULL for OpenSSL's defaults, which
	 * honour SSL_CERT_FILE and SSL_CERT_DIR for every store.
	 */
	const char	*ca_bundle;
};

/*
 * Once per process before any thread, and once at exit: libcurl, and the
 * share and CA store of every client. On failure err says why.
 */
int	http_global_init(const struct http_config *, char *err, size_t errlen)
	    WARN_UNUSED;
void	http_global_cleanup(void);

struct http_client;

/* On failure *out stays NULL and err says why. */
int	http_client_new(struct http_client **out, char *err, size_t errlen)
	    WARN_UNUSED;
void	http_client_free(struct http_client *);

struct http_request {
	const char	*method;	/* "GET", "POST", "PUT", "PATCH" */
	const char	*url;
	/* Complete "Name: value" lines; "Name:" removes a curl default. */
	const char *const *headers;
	size_t		 nheaders;
	const void	*body;		/* NULL: none */
	size_t		 bodylen;
	/*
	 * Never through a proxy: metadata services and their link-local
	 * addresses are the instance's own, as the clouds' SDKs treat them,
	 * whatever http_proxy or ALL_PROXY say.
	 */
	int		 direct;
};

/* A response header to keep: the caller names it, the client fills it. */
struct http_capture {
	const char	*name;		/* matched without regard to case */
	char		 value[HTTP_CAPTURE_VALUE];	/* trimmed, "" if absent */
};

struct http_response {
	long			 status;	/* 0 until a status line came */
	struct buf		 body;		/* the caller inits its ceiling */
	struct http_capture	*capture;
	size_t			 ncapture;
};

/* How one exchange ended; the status says the rest. */
enum http_result {
	HTTP_DONE,		/* a whole response arrived, any status */
	HTTP_TIMEOUT,		/* the deadline passed (or was already gone) */
	HTTP_TRANSPORT,		/* resolve, connect, TLS or connection error */
	HTTP_TOO_LARGE,		/* the body passed its ceiling */
	HTTP_FAILED,		/* out of memory, a bad request or an
				 * untrusted TLS peer: no retry */
};

/*
 * Sends req and fills resp (body reset first, captures cleared), within
 * what is left of dl and the connect timeout. Anything but HTTP_DONE puts
 * the reason in err.
 */
enum http_result http_perform(struct http_client *, const struct http_request *,
	    struct http_response *, const struct deadline *dl, char *err,
	    size_t errlen) WARN_UNUSED;

/* Whether a result is worth another attempt (transport and timeouts). */
int	http_result_retryable(enum http_result);

#endif
