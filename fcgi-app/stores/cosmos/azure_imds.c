#include "azure_imds.h"

#include <stdio.h>
#include <string.h>

/* The host, the path and query of a token request, and a NUL. */
#define URL_MAX		(COSMOS_URL_MAX + 512)

static const char *const metadata_headers[] = {
	"Metadata: true",
	"Accept: application/json",
};

void
azure_token_wipe(struct azure_token *t)
{
	explicit_bzero(t->value, sizeof(t->value));
	t->len = 0;
}

/*
 * GETs the IMDS path into body (reset first, ceiling the caller's): 0 on
 * a 200; else -1, with IMDS's own reason when it gave one.
 */
static int
imds_get(const char *url, struct http_client *hc, const struct deadline *dl,
    struct buf *body, const char *what, char *err, size_t errlen)
{
	struct http_response	 resp;
	struct http_request	 req;
	enum http_result	 r;
	char			 why[256];

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.headers = metadata_headers;
	req.nheaders = sizeof(metadata_headers) / sizeof(metadata_headers[0]);
	req.direct = 1;
	memset(&resp, 0, sizeof(resp));
	resp.body = *body;
	r = http_perform(hc, &req, &resp, dl, why, sizeof(why));
	*body = resp.body;
	if (r != HTTP_DONE) {
		snprintf(err, errlen, "IMDS %s: %s", what, why);
		return -1;
	}
	if (resp.status != 200) {
		cosmos_parse_imds_error(body->data, body->len, why, sizeof(why));
		snprintf(err, errlen, "IMDS %s: HTTP %ld%s%s", what, resp.status,
		    why[0] != '\0' ? ": " : "", why);
		return -1;
	}
	return 0;
}

int
azure_imds_fetch_token(void *arg, struct http_client *hc,
    const struct deadline *dl, void *value, time_t *expires, char *err,
    size_t errlen)
{
	const struct azure_imds	*m = arg;
	struct azure_token	*out = value;
	struct buf		 url, body, token;
	char			 why[200];
	int			 rc = -1;

	*expires = 0;
	azure_token_wipe(out);
	buf_init(&url, URL_MAX);
	/* Both hold the token: wiped whenever they let go of memory. */
	buf_init_secret(&body, AZURE_IMDS_BODY_MAX);
	buf_init_secret(&token, AZURE_TOKEN_MAX - 1);
	if (buf_addstr(&url, m->host) == -1 ||
	    cosmos_imds_token_path(&url, COSMOS_IMDS_RESOURCE,
	    m->client_id) == -1) {
		snprintf(err, errlen, "IMDS token: URL too long");
		goto out;
	}
	if (imds_get(url.data, hc, dl, &body, "token", err, errlen) == -1)
		goto out;
	if (cosmos_parse_imds_token(body.data, body.len, time(NULL), &token,
	    expires, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	memcpy(out->value, token.data, token.len);
	out->len = token.len;
	rc = 0;
out:
	buf_free(&token);
	buf_free(&body);
	buf_free(&url);
	return rc;
}

int
azure_imds_instance(const struct azure_imds *m, struct http_client *hc,
    const struct deadline *dl, struct cosmos_instance *out, char *err,
    size_t errlen)
{
	char		 url[URL_MAX];
	struct buf	 body;
	int		 rc = -1;

	out->vm_id[0] = out->name[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", m->host, COSMOS_IMDS_COMPUTE_PATH);
	buf_init(&body, AZURE_IMDS_BODY_MAX);
	if (imds_get(url, hc, dl, &body, "compute metadata", err,
	    errlen) == 0) {
		if (cosmos_parse_instance(body.data, body.len, out) == 0)
			rc = 0;
		else
			snprintf(err, errlen, "IMDS compute metadata: no vmId "
			    "or name in the answer");
	}
	buf_free(&body);
	return rc;
}
