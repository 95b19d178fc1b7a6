#include "google_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define KEY_VAR		"GOOGLE_APPLICATION_CREDENTIALS"
/* A grant's form: the JWT (about 800 bytes for a 2048-bit key) and more. */
#define GRANT_MAX	16384
#define TOKEN_PATH	"instance/service-accounts/default/token"

/*
 * Reads the key file at path into body (a secret buffer): a regular file
 * of at most GOOGLE_KEY_FILE_MAX bytes.
 */
static int
read_key_file(const char *path, struct buf *body, char *err, size_t errlen)
{
	struct stat	 st;
	ssize_t		 n;
	char		*p;
	int		 fd;

	/* O_NONBLOCK: a FIFO must be refused, not waited on. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, KEY_VAR ": cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > GOOGLE_KEY_FILE_MAX) {
		snprintf(err, errlen, KEY_VAR ": %s is not a regular file of "
		    "at most %d bytes", path, GOOGLE_KEY_FILE_MAX);
		close(fd);
		return -1;
	}
	/* One byte more than allowed: a file that grew since shows. */
	if ((p = buf_extend(body, GOOGLE_KEY_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, KEY_VAR ": out of memory");
		close(fd);
		return -1;
	}
	body->len = 0;
	while (body->len <= GOOGLE_KEY_FILE_MAX &&
	    (n = read(fd, p + body->len, GOOGLE_KEY_FILE_MAX + 1 -
	    body->len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, KEY_VAR ": cannot read %s: %s",
			    path, strerror(errno));
			close(fd);
			return -1;
		}
		body->len += (size_t)n;
	}
	close(fd);
	p[body->len] = '\0';
	if (body->len > GOOGLE_KEY_FILE_MAX) {
		snprintf(err, errlen, KEY_VAR ": %s is larger than %d bytes",
		    path, GOOGLE_KEY_FILE_MAX);
		return -1;
	}
	return 0;
}

/*
 * One refresh through the key file: an RS256 JWT for the datastore scope,
 * exchanged at the key's token_uri for an access token. Everything that
 * holds the JWT or the token is wiped before it is released.
 */
static int
fetch_grant(void *arg, struct http_client *hc, const struct deadline *dl,
    void *value, time_t *expires, char *err, size_t errlen)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded",
	};
	struct google_creds		*c = arg;
	struct google_token		*out = value;
	struct google_oauth_error	 oe;
	struct http_response		 resp;
	struct http_request		 req;
	struct buf			 jwt, form;
	enum http_result		 r;
	char				 why[256];
	time_t				 now = time(NULL);
	int				 rc = -1;

	buf_init_secret(&jwt, GRANT_MAX);
	buf_init_secret(&form, GRANT_MAX);
	memset(&resp, 0, sizeof(resp));
	buf_init_secret(&resp.body, GOOGLE_KEY_FILE_MAX);
	if (google_jwt_grant(&jwt, &c->key, GOOGLE_SCOPE_DATASTORE, now, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	if (google_grant_body(&form, jwt.data, jwt.len) == -1) {
		snprintf(err, errlen, "cannot build the grant");
		goto out;
	}
	google_buf_wipe(&jwt);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = c->key.token_uri;
	req.headers = headers;
	req.nheaders = 1;
	req.body = form.data;
	req.bodylen = form.len;
	r = http_perform(hc, &req, &resp, dl, why, sizeof(why));
	if (r != HTTP_DONE) {
		snprintf(err, errlen, "token endpoint: %s", why);
		goto out;
	}
	if (resp.status != 200) {
		google_parse_oauth_error(resp.body.data, resp.body.len, &oe);
		snprintf(err, errlen, "token endpoint: HTTP %ld %s%s%s",
		    resp.status, oe.error[0] ? oe.error : "(no OAuth error)",
		    oe.description[0] ? ": " : "", oe.description);
		goto out;
	}
	if (google_parse_token(resp.body.data, resp.body.len, now, out, err,
	    errlen) == 0) {
		*expires = out->expires_at;
		rc = 0;
	}
out:
	google_buf_wipe(&jwt);
	google_buf_wipe(&form);
	buf_free(&resp.body);
	return rc;
}

/* One refresh from the metadata server: the VM's service account. */
static int
fetch_metadata(void *arg, struct http_client *hc, const struct deadline *dl,
    void *value, time_t *expires, char *err, size_t errlen)
{
	struct google_creds	*c = arg;
	struct google_token	*out = value;
	struct buf		 body;
	time_t			 now = time(NULL);
	int			 rc = -1;

	buf_init_secret(&body, GCE_METADATA_BODY_MAX);
	if (gce_metadata_get(c->md, hc, TOKEN_PATH, &body, dl, err,
	    errlen) == 0 && google_parse_metadata_token(body.data, body.len,
	    now, out, err, errlen) == 0) {
		*expires = out->expires_at;
		rc = 0;
	}
	buf_free(&body);
	return rc;
}

int
google_creds_init(struct google_creds *c, int emulator,
    const struct gce_metadata *md, char *err, size_t errlen)
{
	struct buf	 body;
	const char	*path;
	char		 why[256];
	int		 rc;

	memset(c, 0, sizeof(*c));
	c->md = md;
	if (emulator) {
		c->source = GOOGLE_CREDS_EMULATOR;
		return 0;
	}
	if ((path = config_str(KEY_VAR, NULL)) == NULL) {
		c->source = GOOGLE_CREDS_METADATA;
		return token_cache_init(&c->cache, "Google access token from "
		    "the metadata server", sizeof(struct google_token),
		    fetch_metadata, c, err, errlen);
	}
	c->source = GOOGLE_CREDS_KEY_FILE;
	buf_init_secret(&body, GOOGLE_KEY_FILE_MAX + 1);
	if (read_key_file(path, &body, err, errlen) == -1) {
		buf_free(&body);
		return -1;
	}
	rc = google_key_parse(body.data, body.len, &c->key, why, sizeof(why));
	buf_free(&body);
	if (rc == -1) {
		snprintf(err, errlen, KEY_VAR ": %s: %s", path, why);
		return -1;
	}
	/* The JWT goes there: it must not cross the network in clear. */
	if (strncmp(c->key.token_uri, "https://", 8) != 0) {
		snprintf(err, errlen, KEY_VAR ": %s: the key's token_uri is "
		    "not https://", path);
		google_key_free(&c->key);
		return -1;
	}
	if (token_cache_init(&c->cache, "Google access token from the key "
	    "file", sizeof(struct google_token), fetch_grant, c, err,
	    errlen) == -1) {
		google_key_free(&c->key);
		return -1;
	}
	return 0;
}

void
google_creds_destroy(struct google_creds *c)
{
	if (c->source != GOOGLE_CREDS_EMULATOR)
		token_cache_destroy(&c->cache);
	google_key_free(&c->key);
}

void
google_creds_describe(const struct google_creds *c, char *out, size_t outlen)
{
	switch (c->source) {
	case GOOGLE_CREDS_EMULATOR:
		snprintf(out, outlen, "none (emulator)");
		break;
	case GOOGLE_CREDS_KEY_FILE:
		snprintf(out, outlen, "the key file of %s", c->key.client_email);
		break;
	case GOOGLE_CREDS_METADATA:
		snprintf(out, outlen, "the metadata server at %s", c->md->host);
		break;
	}
}

int
google_creds_get(struct google_creds *c, struct http_client *hc,
    const struct deadline *dl, struct google_token *out, char *err,
    size_t errlen)
{
	if (c->source == GOOGLE_CREDS_EMULATOR) {
		google_token_wipe(out);
		out->len = strlen(GOOGLE_EMULATOR_BEARER);
		memcpy(out->access_token, GOOGLE_EMULATOR_BEARER, out->len + 1);
		return 0;
	}
	return token_cache_get(&c->cache, hc, dl, out, err, errlen);
}

int
google_creds_rejected(struct google_creds *c, const struct google_token *used)
{
	if (c->source == GOOGLE_CREDS_EMULATOR)
		return 0;
	return token_cache_rejected(&c->cache, used);
}
