/*
 * A small HTTP client over libcurl for the cloud stores (DynamoDB now,
 * Cosmos DB and Firestore later) and their metadata services.
 *
 * Each worker thread owns one client, and each client one curl easy
 * handle, so the connection (and its TLS session) to the store is kept
 * alive and reused from request to request: no handshake per request,
 * no locking between threads. TLS peers are always verified.
 *
 * Every call runs against a deadline: the caller starts one per logical
 * call, and every attempt and every backoff sleep of that call fits in
 * what is left of it.
 */
#ifndef CANDIDATES_HTTP_CLIENT_H
#define CANDIDATES_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define HTTP_CAPTURE_VALUE		128

struct http_config {
	long		 timeout_ms;	/* total per logical call, retries too */
	long		 connect_timeout_ms;
	const char	*ca_bundle;	/* PEM file of trusted CAs, or NULL */
};

/*
 * Reads CANDIDATES_TIMEOUT_MS and CANDIDATES_CONNECT_TIMEOUT_MS (and
 * keeps ca_bundle NULL); on a bad value fills err naming the variable.
 */
int	http_config_from_env(struct http_config *, char *err, size_t errlen)
	    WARN_UNUSED;

/* Once per process before any thread, and once at exit. */
int	http_global_init(char *err, size_t errlen) WARN_UNUSED;
void	http_global_cleanup(void);

/* A point in time on the monotonic clock that a call must finish by. */
struct deadline {
	struct timespec	 end;
};

void	deadline_start(struct deadline *, long ms);
/* Milliseconds left, 0 when it has passed. */
long	deadline_left_ms(const struct deadline *);

struct http_client;

/* On failure *out stays NULL and err says why. */
int	http_client_new(struct http_client **out, const struct http_config *,
	    char *err, size_t errlen) WARN_UNUSED;
void	http_client_free(struct http_client *);

struct http_request {
	const char	*method;	/* "GET", "POST", "PUT" */
	const char	*url;
	/* Complete "Name: value" lines; "Name:" removes a curl default. */
	const char *const *headers;
	size_t		 nheaders;
	const void	*body;		/* NULL: none */
	size_t		 bodylen;
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
 * what is left of dl and the client's connect timeout. Anything but
 * HTTP_DONE puts the reason in err.
 */
enum http_result http_perform(struct http_client *, const struct http_request *,
	    struct http_response *, const struct deadline *dl, char *err,
	    size_t errlen) WARN_UNUSED;

/* Whether a result is worth another attempt (transport and timeouts). */
int	http_result_retryable(enum http_result);

/*
 * Retries as the AWS SDKs' "standard" mode: at most HTTP_RETRY_ATTEMPTS
 * attempts in all, and before attempt n+1 a wait drawn uniformly from
 * [0, min(cap, base * 2^n)] ("full jitter", so that many clients that
 * failed together do not retry together).
 */
#define HTTP_RETRY_ATTEMPTS	3
#define HTTP_RETRY_BASE_MS	100	/* transient errors */
#define HTTP_RETRY_THROTTLE_MS	500	/* throttling: back off harder */
#define HTTP_RETRY_CAP_MS	20000

/* The wait before retry number attempt (1, 2, ...) given 32 random bits. */
long	http_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd);

/*
 * Sleeps the jittered backoff before retry number attempt, unless that
 * would leave no time for the attempt itself: then returns -1 at once.
 */
int	http_backoff_sleep(int attempt, long base_ms, const struct deadline *)
	    WARN_UNUSED;

#endif
