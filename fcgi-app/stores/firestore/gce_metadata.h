/*
 * The Compute Engine metadata server: the VM's project, its instance id
 * and its service account's access token. Every request carries
 * `Metadata-Flavor: Google`, and an answer without it in return is not
 * the metadata server's (what google-auth-library checks too). Requests
 * never go through a proxy: the server is the VM's own, and a token must
 * not leave it.
 */
#ifndef CANDIDATES_GCE_METADATA_H
#define CANDIDATES_GCE_METADATA_H

#include <stddef.h>

#include "buf.h"
#include "cloud/http_client.h"
#include "google_config.h"

/* The link-local address: no DNS needed, as the Go client uses it. */
#define GCE_METADATA_HOST_DEFAULT	"169.254.169.254"
#define GCE_METADATA_BODY_MAX		(64 * 1024)

struct gce_metadata {
	char	 host[GOOGLE_HOSTPORT_MAX];	/* host[:port] */
};

/* Reads GCE_METADATA_HOST; a bad value fills err naming it. */
int	gce_metadata_init(struct gce_metadata *, char *err, size_t errlen)
	    WARN_UNUSED;

/*
 * GETs /computeMetadata/v1/<path> through hc within dl into out (reset
 * first; its ceiling, and whether it is a secret, are the caller's).
 * 0 on a 200 from the metadata server; -1 with err saying why.
 */
int	gce_metadata_get(const struct gce_metadata *, struct http_client *hc,
	    const char *path, struct buf *out, const struct deadline *dl,
	    char *err, size_t errlen) WARN_UNUSED;

#endif
