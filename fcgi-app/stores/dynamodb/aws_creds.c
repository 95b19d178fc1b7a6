#include "aws_creds.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"

/* IAM role names: letters, digits and these (64 at most). */
#define ROLE_CHARS	"+=,.@_-"
#define ROLE_MAX	128

void
aws_creds_wipe(struct aws_creds *c)
{
	/* Field by field: GCC 12 mistakes the whole for its first member. */
	explicit_bzero(c->access_key_id, sizeof(c->access_key_id));
	explicit_bzero(c->secret_access_key, sizeof(c->secret_access_key));
	explicit_bzero(c->session_token, sizeof(c->session_token));
	c->expiration = 0;
}

/* A key or token: printable ASCII without spaces, as it goes in headers. */
static int
clean_copy(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t	 i;

	if (len == 0 || len >= dstlen)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)src[i] <= 0x20 ||
		    (unsigned char)src[i] >= 0x7f)
			return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int
digits(const char *s, int n, int *out)
{
	int	 i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
aws_parse_time(const char *s, size_t len, time_t *out)
{
	struct tm	 tm;
	int		 y, mo, d, h, mi, sec;
	size_t		 i = 19;
	time_t		 t;

	*out = 0;
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' ||
	    digits(s, 4, &y) == -1 || digits(s + 5, 2, &mo) == -1 ||
	    digits(s + 8, 2, &d) == -1 || digits(s + 11, 2, &h) == -1 ||
	    digits(s + 14, 2, &mi) == -1 || digits(s + 17, 2, &sec) == -1)
		return -1;
	if (s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			continue;
	if (i + 1 != len || s[i] != 'Z')
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	/* timegm would carry 31 February into March: refuse instead. */
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != d)
		return -1;
	*out = t;
	return 0;
}

static int
get_str(struct json_object *o, const char *key, const char **s, size_t *len)
{
	struct json_object	*v;
	int			 n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (n = json_object_get_string_len(v)) <= 0)
		return -1;
	*s = json_object_get_string(v);
	*len = (size_t)n;
	return 0;
}

int
aws_parse_role_creds(const char *body, size_t len, struct aws_creds *out,
    char *err, size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*doc = NULL;
	const char		*s;
	size_t			 n;
	int			 rc = -1;

	aws_creds_wipe(out);
	if (len > AWS_IMDS_BODY_MAX || (tok = json_tokener_new_ex(8)) == NULL) {
		snprintf(err, errlen, "credentials document too large");
		return -1;
	}
	doc = json_tokener_parse_ex(tok, body, (int)len);
	if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "credentials document is not a JSON "
		    "object");
		goto out;
	}
	if (get_str(doc, "Code", &s, &n) == 0 &&
	    (n != 7 || memcmp(s, "Success", 7) != 0)) {
		snprintf(err, errlen, "credentials Code is %.*s", (int)(n < 64 ?
		    n : 64), s);
		goto out;
	}
	if (get_str(doc, "AccessKeyId", &s, &n) == -1 ||
	    clean_copy(out->access_key_id, AWS_KEY_MAX, s, n) == -1) {
		snprintf(err, errlen, "credentials: bad AccessKeyId");
		goto out;
	}
	if (get_str(doc, "SecretAccessKey", &s, &n) == -1 ||
	    clean_copy(out->secret_access_key, AWS_KEY_MAX, s, n) == -1) {
		snprintf(err, errlen, "credentials: bad SecretAccessKey");
		goto out;
	}
	if (get_str(doc, "Token", &s, &n) == -1 ||
	    clean_copy(out->session_token, AWS_TOKEN_MAX, s, n) == -1) {
		snprintf(err, errlen, "credentials: bad Token");
		goto out;
	}
	if (get_str(doc, "Expiration", &s, &n) == -1 ||
	    aws_parse_time(s, n, &out->expiration) == -1) {
		snprintf(err, errlen, "credentials: bad Expiration");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		aws_creds_wipe(out);
	json_object_put(doc);
	json_tokener_free(tok);
	return rc;
}

/* One refresh: the role's name, then its credentials. */
static int
fetch_role(void *arg, struct http_client *hc, const struct deadline *dl,
    void *value, time_t *expires, char *err, size_t errlen)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	struct aws_imds		*imds = arg;
	struct aws_creds	*out = value;
	struct buf		 body;
	char			 role[ROLE_MAX], path[sizeof(base) + ROLE_MAX];
	int			 rc = -1;

	buf_init_secret(&body, AWS_IMDS_BODY_MAX);
	if (aws_imds_get(imds, hc, base, &body, dl, err, errlen) == -1)
		goto out;
	if (aws_imds_word(body.data, body.len, ROLE_CHARS, role,
	    sizeof(role)) == -1) {
		snprintf(err, errlen, "IMDS: no instance role attached");
		goto out;
	}
	snprintf(path, sizeof(path), "%s%s", base, role);
	if (aws_imds_get(imds, hc, path, &body, dl, err, errlen) == -1)
		goto out;
	if ((rc = aws_parse_role_creds(body.data, body.len, out, err,
	    errlen)) == 0)
		*expires = out->expiration;
out:
	buf_free(&body);
	return rc;
}

int
aws_creds_provider_init(struct aws_creds_provider *p, struct aws_imds *imds,
    char *err, size_t errlen)
{
	const char	*id, *secret, *token;

	memset(p, 0, sizeof(*p));
	p->imds = imds;
	id = config_str("AWS_ACCESS_KEY_ID", NULL);
	secret = config_str("AWS_SECRET_ACCESS_KEY", NULL);
	token = config_str("AWS_SESSION_TOKEN", NULL);
	if (id != NULL || secret != NULL) {
		if (id == NULL || secret == NULL) {
			snprintf(err, errlen, "%s is set but %s is not",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			return -1;
		}
		if (clean_copy(p->env.access_key_id, AWS_KEY_MAX, id,
		    strlen(id)) == -1) {
			snprintf(err, errlen, "AWS_ACCESS_KEY_ID is malformed");
			return -1;
		}
		if (clean_copy(p->env.secret_access_key, AWS_KEY_MAX, secret,
		    strlen(secret)) == -1) {
			aws_creds_wipe(&p->env);
			snprintf(err, errlen, "AWS_SECRET_ACCESS_KEY is "
			    "malformed");
			return -1;
		}
		if (token != NULL && clean_copy(p->env.session_token,
		    AWS_TOKEN_MAX, token, strlen(token)) == -1) {
			aws_creds_wipe(&p->env);
			snprintf(err, errlen, "AWS_SESSION_TOKEN is malformed");
			return -1;
		}
		p->from_env = 1;
		return 0;
	}
	if (token != NULL) {
		snprintf(err, errlen, "AWS_SESSION_TOKEN is set but "
		    "AWS_ACCESS_KEY_ID is not");
		return -1;
	}
	if (imds == NULL || imds->disabled) {
		snprintf(err, errlen, "no AWS credentials: set "
		    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on EC2 "
		    "with AWS_EC2_METADATA_DISABLED unset");
		return -1;
	}
	return token_cache_init(&p->role, "AWS credentials from IMDS",
	    sizeof(struct aws_creds), fetch_role, imds, err, errlen);
}

void
aws_creds_provider_destroy(struct aws_creds_provider *p)
{
	aws_creds_wipe(&p->env);
	if (!p->from_env)
		token_cache_destroy(&p->role);
}

int
aws_creds_get(struct aws_creds_provider *p, struct http_client *hc,
    const struct deadline *dl, struct aws_creds *out, char *err,
    size_t errlen)
{
	if (p->from_env) {
		*out = p->env;
		return 0;
	}
	return token_cache_get(&p->role, hc, dl, out, err, errlen);
}

int
aws_creds_expired(struct aws_creds_provider *p, const struct aws_creds *used)
{
	if (p->from_env)
		return 0;
	return token_cache_rejected(&p->role, used);
}
