#include "gce_metadata.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

int
gce_metadata_init(struct gce_metadata *m, char *err, size_t errlen)
{
	const char	*v = config_str("GCE_METADATA_HOST",
	    GCE_METADATA_HOST_DEFAULT);
	char		 why[128];

	memset(m, 0, sizeof(*m));
	if (google_check_hostport(v, strlen(v), 0, m->host, sizeof(m->host),
	    why, sizeof(why)) == -1) {
		snprintf(err, errlen, "GCE_METADATA_HOST must be host or "
		    "host:port, like %s or metadata.google.internal:80: %s",
		    GCE_METADATA_HOST_DEFAULT, why);
		return -1;
	}
	return 0;
}

int
gce_metadata_get(const struct gce_metadata *m, struct http_client *hc,
    const char *path, struct buf *out, const struct deadline *dl, char *err,
    size_t errlen)
{
	static const char *const headers[] = { "Metadata-Flavor: Google" };
	struct http_capture	 flavor = { .name = "Metadata-Flavor" };
	struct http_response	 resp;
	struct http_request	 req;
	enum http_result	 r;
	char			 url[GOOGLE_HOSTPORT_MAX + 160], why[256];

	buf_reset(out);
	if (snprintf(url, sizeof(url), "http://%s/computeMetadata/v1/%s",
	    m->host, path) >= (int)sizeof(url)) {
		snprintf(err, errlen, "metadata server: path too long");
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.headers = headers;
	req.nheaders = 1;
	req.direct = 1;
	memset(&resp, 0, sizeof(resp));
	resp.body = *out;
	resp.capture = &flavor;
	resp.ncapture = 1;
	r = http_perform(hc, &req, &resp, dl, why, sizeof(why));
	*out = resp.body;
	if (r != HTTP_DONE) {
		snprintf(err, errlen, "metadata server %s: %s", path, why);
		return -1;
	}
	if (strcmp(flavor.value, "Google") != 0) {
		snprintf(err, errlen, "metadata server %s: HTTP %ld without "
		    "Metadata-Flavor: Google, so not the metadata server", path,
		    resp.status);
		return -1;
	}
	if (resp.status != 200) {
		snprintf(err, errlen, "metadata server %s: HTTP %ld", path,
		    resp.status);
		return -1;
	}
	return 0;
}
