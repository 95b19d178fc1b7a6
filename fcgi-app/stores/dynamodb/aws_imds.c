#include "aws_imds.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* A cached token is replaced this long before the service drops it. */
#define TOKEN_MARGIN	60

int
aws_imds_init(struct aws_imds *m, char *err, size_t errlen)
{
	const char	*ep, *off;
	size_t		 n;

	memset(m, 0, sizeof(*m));
	off = config_str("AWS_EC2_METADATA_DISABLED", "false");
	if (strcasecmp(off, "true") == 0)
		m->disabled = 1;
	else if (strcasecmp(off, "false") != 0) {
		snprintf(err, errlen, "AWS_EC2_METADATA_DISABLED must be true "
		    "or false");
		return -1;
	}
	ep = config_str("AWS_EC2_METADATA_SERVICE_ENDPOINT",
	    AWS_IMDS_ENDPOINT_DEFAULT);
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) !=
	    0) || n <= 8 || n >= sizeof(m->endpoint) ||
	    strcspn(ep, " \t\r\n?#") < n) {
		snprintf(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT must "
		    "be an http:// or https:// URL such as %s",
		    AWS_IMDS_ENDPOINT_DEFAULT);
		return -1;
	}
	memcpy(m->endpoint, ep, n);
	m->endpoint[n] = '\0';
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		snprintf(err, errlen, "IMDS: cannot create a mutex");
		return -1;
	}
	return 0;
}

void
aws_imds_destroy(struct aws_imds *m)
{
	explicit_bzero(m->token, sizeof(m->token));
	pthread_mutex_destroy(&m->lock);
}

int
aws_imds_word(const char *body, size_t len, const char *extra, char *out,
    size_t outlen)
{
	size_t	 i, n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' ||
	    *body == '\n')) {
		body++;
		len--;
	}
	for (n = 0; n < len && body[n] != '\n' && body[n] != '\r'; n++)
		continue;
	while (n > 0 && (body[n - 1] == ' ' || body[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		char c = body[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c != '\0' &&
		    strchr(extra, c) != NULL)))
			return -1;
	}
	memcpy(out, body, n);
	out[n] = '\0';
	return 0;
}

/* Fetches a new token into m (lock held). */
static int
fetch_token(struct aws_imds *m, struct http_client *hc,
    const struct deadline *dl, char *err, size_t errlen)
{
	static const char *const headers[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: 21600",
		"Content-Type:",
	};
	struct http_response	 resp;
	struct http_request	 req;
	char			 url[512], why[256];
	enum http_result	 r;
	size_t			 n;

	_Static_assert(AWS_IMDS_TOKEN_TTL == 21600, "header says 21600");
	m->token[0] = '\0';
	m->token_expires = 0;
	snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = url;
	req.direct = 1;
	req.headers = headers;
	req.nheaders = sizeof(headers) / sizeof(headers[0]);
	memset(&resp, 0, sizeof(resp));
	buf_init_secret(&resp.body, AWS_IMDS_TOKEN_MAX - 1);
	r = http_perform(hc, &req, &resp, dl, why, sizeof(why));
	if (r != HTTP_DONE || resp.status != 200) {
		if (r == HTTP_DONE)
			snprintf(why, sizeof(why), "HTTP %ld", resp.status);
		snprintf(err, errlen, "IMDS token: %s", why);
		buf_free(&resp.body);
		return -1;
	}
	/* The token goes into a header: it must be one clean line. */
	n = resp.body.len;
	while (n > 0 && (resp.body.data[n - 1] == '\n' ||
	    resp.body.data[n - 1] == '\r'))
		n--;
	if (n == 0 || strcspn(resp.body.data, "\r\n") < n ||
	    memchr(resp.body.data, '\0', n) != NULL) {
		snprintf(err, errlen, "IMDS token: malformed");
		buf_free(&resp.body);
		return -1;
	}
	memcpy(m->token, resp.body.data, n);
	m->token[n] = '\0';
	buf_free(&resp.body);
	m->token_expires = time(NULL) + AWS_IMDS_TOKEN_TTL - TOKEN_MARGIN;
	return 0;
}

int
aws_imds_get(struct aws_imds *m, struct http_client *hc, const char *path,
    struct buf *out, const struct deadline *dl, char *err, size_t errlen)
{
	struct http_response	 resp;
	struct http_request	 req;
	const char		*headers[1];
	char			 url[512], hdr[64 + AWS_IMDS_TOKEN_MAX], why[256];
	enum http_result	 r;
	int			 tries, rc = -1;

	buf_reset(out);
	if (m->disabled) {
		snprintf(err, errlen, "IMDS is off (AWS_EC2_METADATA_DISABLED)");
		return -1;
	}
	if (snprintf(url, sizeof(url), "%s%s", m->endpoint, path) >=
	    (int)sizeof(url)) {
		snprintf(err, errlen, "IMDS: path too long");
		return -1;
	}
	if (pthread_mutex_lock(&m->lock) != 0) {
		snprintf(err, errlen, "IMDS: lock failed");
		return -1;
	}
	memset(&resp, 0, sizeof(resp));
	resp.body = *out;
	for (tries = 0; tries < 2; tries++) {
		if ((m->token_expires <= time(NULL) || m->token[0] == '\0') &&
		    fetch_token(m, hc, dl, err, errlen) == -1)
			break;
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s",
		    m->token);
		headers[0] = hdr;
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.url = url;
		req.direct = 1;
		req.headers = headers;
		req.nheaders = 1;
		r = http_perform(hc, &req, &resp, dl, why, sizeof(why));
		/* 401: the token went stale (a restart of the service, say). */
		if (r == HTTP_DONE && resp.status == 401 && tries == 0) {
			m->token_expires = 0;
			continue;
		}
		if (r == HTTP_DONE && resp.status == 200)
			rc = 0;
		else if (r == HTTP_DONE)
			snprintf(err, errlen, "IMDS %s: HTTP %ld", path,
			    resp.status);
		else
			snprintf(err, errlen, "IMDS %s: %s", path, why);
		break;
	}
	explicit_bzero(hdr, sizeof(hdr));
	pthread_mutex_unlock(&m->lock);
	*out = resp.body;
	return rc;
}
