#include "aws_creds.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"

/* IAM role names: letters, digits and these (64 at most). */
#define ROLE_CHARS	"+=,.@_-"
#define ROLE_MAX	128
/* Never refresh more often than this, even with odd expirations. */
#define REFRESH_MIN	1
/* After a failed refresh, wait between these while the old ones last. */
#define RETRY_MIN	1
#define RETRY_MAX	60
/* Time one refresh may take from a call's deadline. */
#define IMDS_REFRESH_MS	2000

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

int
aws_creds_provider_init(struct aws_creds_provider *p, struct aws_imds *imds,
    char *err, size_t errlen)
{
	const char		*id, *secret, *token;
	pthread_condattr_t	 attr;

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
		if (clean_copy(p->cur.access_key_id, AWS_KEY_MAX, id,
		    strlen(id)) == -1) {
			snprintf(err, errlen, "AWS_ACCESS_KEY_ID is malformed");
			return -1;
		}
		if (clean_copy(p->cur.secret_access_key, AWS_KEY_MAX, secret,
		    strlen(secret)) == -1) {
			aws_creds_wipe(&p->cur);
			snprintf(err, errlen, "AWS_SECRET_ACCESS_KEY is "
			    "malformed");
			return -1;
		}
		if (token != NULL && clean_copy(p->cur.session_token,
		    AWS_TOKEN_MAX, token, strlen(token)) == -1) {
			aws_creds_wipe(&p->cur);
			snprintf(err, errlen, "AWS_SESSION_TOKEN is malformed");
			return -1;
		}
		p->from_env = p->have = 1;
	} else if (token != NULL) {
		snprintf(err, errlen, "AWS_SESSION_TOKEN is set but "
		    "AWS_ACCESS_KEY_ID is not");
		return -1;
	} else if (imds == NULL || imds->disabled) {
		snprintf(err, errlen, "no AWS credentials: set "
		    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on EC2 "
		    "with AWS_EC2_METADATA_DISABLED unset");
		return -1;
	}
	/* Waits are bounded by deadlines on the monotonic clock. */
	if (pthread_condattr_init(&attr) != 0)
		goto fail;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->done, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		goto fail;
	}
	pthread_condattr_destroy(&attr);
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		pthread_cond_destroy(&p->done);
		goto fail;
	}
	return 0;
fail:
	aws_creds_wipe(&p->cur);
	snprintf(err, errlen, "credentials: cannot create a lock");
	return -1;
}

void
aws_creds_provider_destroy(struct aws_creds_provider *p)
{
	aws_creds_wipe(&p->cur);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
}

time_t
aws_creds_refresh_at(time_t fetched, time_t expiration)
{
	time_t	 life = expiration - fetched, early;

	early = life / 2 < AWS_REFRESH_EARLY ? life / 2 : AWS_REFRESH_EARLY;
	if (life - early < REFRESH_MIN)
		return fetched + REFRESH_MIN;
	return expiration - early;
}

time_t
aws_creds_next_try(time_t now, int have, time_t expiration)
{
	time_t	 wait;

	/*
	 * A quarter of what the old credentials have left: a few tries
	 * before they run out, but a metadata service that is down is not
	 * asked by every request.
	 */
	wait = have && expiration > now ? (expiration - now) / 4 : RETRY_MIN;
	if (wait < RETRY_MIN)
		wait = RETRY_MIN;
	if (wait > RETRY_MAX)
		wait = RETRY_MAX;
	return now + wait;
}

enum aws_creds_step
aws_creds_plan(const struct aws_creds_provider *p, time_t now)
{
	int	 valid = p->have && (p->from_env || now < p->cur.expiration);

	if (p->from_env || (p->have && now < p->refresh_at))
		return AWS_CREDS_USE;
	if (p->refreshing)
		return valid ? AWS_CREDS_USE : AWS_CREDS_WAIT;
	if (now < p->next_try)
		return valid ? AWS_CREDS_USE : AWS_CREDS_FAIL;
	return AWS_CREDS_REFRESH;
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
fetch_role(struct aws_imds *imds, struct http_client *hc,
    const struct deadline *dl, struct aws_creds *out, char *err,
    size_t errlen)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	struct buf	 body;
	char		 role[ROLE_MAX], path[sizeof(base) + ROLE_MAX];
	int		 rc = -1;

	buf_init(&body, AWS_IMDS_BODY_MAX);
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
	rc = aws_parse_role_creds(body.data, body.len, out, err, errlen);
out:
	if (body.data != NULL)
		explicit_bzero(body.data, body.len);
	buf_free(&body);
	return rc;
}

int
aws_creds_get(struct aws_creds_provider *p, struct http_client *hc,
    const struct deadline *dl, struct aws_creds *out, char *err,
    size_t errlen)
{
	struct aws_creds	 fresh;
	struct deadline		 imds_dl;
	char			 why[256];
	time_t			 now;
	long			 left;
	int			 rc;

	aws_creds_wipe(out);
	if (pthread_mutex_lock(&p->lock) != 0) {
		snprintf(err, errlen, "credentials: lock failed");
		return -1;
	}
	for (;;) {
		switch (aws_creds_plan(p, time(NULL))) {
		case AWS_CREDS_USE:
			*out = p->cur;
			pthread_mutex_unlock(&p->lock);
			return 0;
		case AWS_CREDS_FAIL:
			pthread_mutex_unlock(&p->lock);
			snprintf(err, errlen, "no valid AWS credentials: the "
			    "last refresh from IMDS failed");
			return -1;
		case AWS_CREDS_WAIT:
			rc = pthread_cond_timedwait(&p->done, &p->lock,
			    &dl->end);
			if (rc == ETIMEDOUT) {
				pthread_mutex_unlock(&p->lock);
				snprintf(err, errlen, "timed out waiting for "
				    "AWS credentials from IMDS");
				return -1;
			}
			continue;
		case AWS_CREDS_REFRESH:
			break;
		}
		break;
	}
	/* Ask IMDS without the lock, so others can use the old ones. */
	p->refreshing = 1;
	p->fetches++;
	pthread_mutex_unlock(&p->lock);
	/*
	 * A metadata service that hangs must not eat the whole call: with
	 * the old credentials still good, the request can go on with them.
	 */
	left = deadline_left_ms(dl);
	deadline_start(&imds_dl, left < IMDS_REFRESH_MS ? left : IMDS_REFRESH_MS);
	rc = fetch_role(p->imds, hc, &imds_dl, &fresh, why, sizeof(why));
	/* A lock that fails here would leave refreshing set for good. */
	while (pthread_mutex_lock(&p->lock) != 0)
		continue;
	p->refreshing = 0;
	now = time(NULL);
	if (rc == 0) {
		if (p->warned)
			log_line("aws credentials: refreshed from IMDS again");
		aws_creds_wipe(&p->cur);
		p->cur = fresh;
		p->have = 1;
		p->refresh_at = aws_creds_refresh_at(now, fresh.expiration);
		p->next_try = 0;
		p->warned = 0;
	} else {
		p->next_try = aws_creds_next_try(now, p->have,
		    p->cur.expiration);
		if (p->have && now < p->cur.expiration) {
			/* The old ones still work: keep them, say so once. */
			if (!p->warned)
				log_line("aws credentials: refresh failed, "
				    "keeping the current ones for %lds: %s",
				    (long)(p->cur.expiration - now), why);
			p->warned = 1;
			rc = 0;
		}
	}
	aws_creds_wipe(&fresh);
	pthread_cond_broadcast(&p->done);
	if (rc == 0)
		*out = p->cur;
	else
		snprintf(err, errlen, "AWS credentials from IMDS: %s", why);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int
aws_creds_expired(struct aws_creds_provider *p, const struct aws_creds *used)
{
	if (p->from_env)
		return 0;
	if (pthread_mutex_lock(&p->lock) != 0)
		return 0;
	/* Only the first report about these credentials forces a refresh. */
	if (p->have && strcmp(used->session_token, p->cur.session_token) == 0 &&
	    strcmp(used->access_key_id, p->cur.access_key_id) == 0) {
		p->refresh_at = 0;
		p->next_try = 0;
		p->cur.expiration = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return 1;
}
