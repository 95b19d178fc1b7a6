/*
 * AWS credentials: the environment in the SDKs' order, and the parsing of
 * what IMDS answers: what a malformed document or timestamp does (it is
 * refused, never used). The cache that keeps role credentials is the
 * shared token cache (tests/unit/cloud/test_token_cache.c).
 */
#include "unit.h"

#include <stdlib.h>

#include "stores/dynamodb/aws_creds.h"
#include "stores/dynamodb/aws_imds.h"

static void
test_parse_time(void **state)
{
	static const struct {
		int		 line;
		const char	*s;
		int		 rc;
		time_t		 want;
	} rows[] = {
		{ __LINE__, "2015-08-30T12:36:00Z", 0, 1440938160 },
		{ __LINE__, "2015-08-30T12:36:00.123Z", 0, 1440938160 },
		{ __LINE__, "1970-01-01T00:00:00Z", 0, 0 },
		{ __LINE__, "2024-02-29T00:00:00Z", 0, 1709164800 },
		{ __LINE__, "2023-02-29T00:00:00Z", -1, 0 },
		{ __LINE__, "2015-13-30T12:36:00Z", -1, 0 },
		{ __LINE__, "2015-08-30T24:36:00Z", -1, 0 },
		{ __LINE__, "2015-08-30 12:36:00Z", -1, 0 },
		{ __LINE__, "2015-08-30T12:36:00", -1, 0 },
		{ __LINE__, "2015-08-30T12:36:00+00:00", -1, 0 },
		{ __LINE__, "2015-08-30T12:36:00Zjunk", -1, 0 },
		{ __LINE__, "2015-8-30T12:36:00Z", -1, 0 },
		{ __LINE__, "", -1, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t	 t = 42;
		int	 rc = aws_parse_time(rows[i].s, strlen(rows[i].s), &t);

		if (rc != rows[i].rc || (rc == 0 && t != rows[i].want))
			ROW_FAIL(rows[i].line, "rc %d t %lld", rc,
			    (long long)t);
	}
}

static void
test_parse_role_creds(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		int		 rc;
	} rows[] = {
		{ __LINE__, "{\"Code\":\"Success\",\"LastUpdated\":"
		    "\"2012-04-26T16:39:16Z\",\"Type\":\"AWS-HMAC\","
		    "\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"sec/+=\","
		    "\"Token\":\"tok==\",\"Expiration\":\"2017-05-17T15:09:54Z\"}",
		    0 },
		/* Code is optional; a failing one is refused. */
		{ __LINE__, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"2017-05-17T15:09:54Z\"}", 0 },
		{ __LINE__, "{\"Code\":\"AssumeRoleUnauthorizedAccess\","
		    "\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Expiration\":\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"soon\"}", -1 },
		/* Anything that could break the header it goes in. */
		{ __LINE__, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\\r\\nX-Evil: 1\",\"Expiration\":"
		    "\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"A B\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "{\"AccessKeyId\":1,\"SecretAccessKey\":\"s\","
		    "\"Token\":\"t\",\"Expiration\":\"2017-05-17T15:09:54Z\"}", -1 },
		{ __LINE__, "[]", -1 },
		{ __LINE__, "", -1 },
		{ __LINE__, "{\"AccessKeyId\":\"A\"", -1 },
	};
	struct aws_creds	*c;
	size_t			 i;
	char			*big;

	(void)state;
	assert_non_null(c = calloc(1, sizeof(*c)));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 err[128] = "";
		int	 rc = aws_parse_role_creds(rows[i].body,
		    strlen(rows[i].body), c, err, sizeof(err));

		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (rc == -1 && (c->access_key_id[0] != '\0' ||
		    c->secret_access_key[0] != '\0' ||
		    c->session_token[0] != '\0' || err[0] == '\0'))
			ROW_FAIL(rows[i].line, "not wiped, or no reason");
		/* The reason never quotes a secret. */
		if (strstr(err, "sec/") != NULL || strstr(err, "tok") != NULL)
			ROW_FAIL(rows[i].line, "secret in '%s'", err);
	}
	assert_int_equal(aws_parse_role_creds(rows[0].body,
	    strlen(rows[0].body), c, NULL, 0), 0);
	assert_string_equal(c->access_key_id, "ASIAX");
	assert_string_equal(c->secret_access_key, "sec/+=");
	assert_string_equal(c->session_token, "tok==");
	assert_int_equal(c->expiration, 1495033794);

	/* A token longer than the cache holds is refused, not cut. */
	assert_non_null(big = malloc(AWS_TOKEN_MAX + 200));
	snprintf(big, AWS_TOKEN_MAX + 200, "{\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"s\",\"Expiration\":\"2017-05-17T15:09:54Z\","
	    "\"Token\":\"%0*d\"}", AWS_TOKEN_MAX, 0);
	assert_int_equal(aws_parse_role_creds(big, strlen(big), c, NULL, 0),
	    -1);
	free(big);
	free(c);
}

static void
test_imds_word(void **state)
{
	static const struct {
		int		 line;
		const char	*body, *extra;
		int		 rc;
		const char	*want;
	} rows[] = {
		{ __LINE__, "my-role", "+=,.@_-", 0, "my-role" },
		{ __LINE__, "my-role\n", "+=,.@_-", 0, "my-role" },
		{ __LINE__, "\n  role1\r\nrole2\n", "+=,.@_-", 0, "role1" },
		{ __LINE__, "us-east-1", "-", 0, "us-east-1" },
		{ __LINE__, "i-0123456789abcdef0", "-", 0, "i-0123456789abcdef0" },
		{ __LINE__, "", "-", -1, "" },
		{ __LINE__, "\n\n", "-", -1, "" },
		{ __LINE__, "../etc", "+=,.@_-", -1, "" },
		{ __LINE__, "a/b", "+=,.@_-", -1, "" },
		{ __LINE__, "a b", "-", -1, "" },
		{ __LINE__, "<html>", "-", -1, "" },
		{ __LINE__, "0123456789012345678901234567890123456789", "-", -1,
		    "" },	/* longer than out */
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 out[32];
		int	 rc = aws_imds_word(rows[i].body, strlen(rows[i].body),
		    rows[i].extra, out, sizeof(out));

		if (rc != rows[i].rc || strcmp(out, rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "rc %d '%s'", rc, out);
	}
	/* An embedded NUL is not a character of a word. */
	{
		char out[32];

		assert_int_equal(aws_imds_word("ab\0cd", 5, "-", out,
		    sizeof(out)), -1);
	}
}

/* The environment, in the SDKs' order, and what is refused at start. */
static void
test_provider_env(void **state)
{
	static const struct {
		int		 line;
		const char	*id, *secret, *token;
		int		 imds_off;
		int		 rc, from_env;
		const char	*err_names;	/* the variable err must name */
	} rows[] = {
		{ __LINE__, "AKID", "s3cr3t", NULL, 0, 0, 1, NULL },
		{ __LINE__, "AKID", "s3cr3t", "t0k3n", 0, 0, 1, NULL },
		{ __LINE__, NULL, NULL, NULL, 0, 0, 0, NULL },
		{ __LINE__, NULL, NULL, NULL, 1, -1, 0, "AWS_ACCESS_KEY_ID" },
		{ __LINE__, "AKID", NULL, NULL, 0, -1, 0,
		    "AWS_SECRET_ACCESS_KEY" },
		{ __LINE__, NULL, "s3cr3t", NULL, 0, -1, 0, "AWS_ACCESS_KEY_ID" },
		{ __LINE__, NULL, NULL, "t0k3n", 0, -1, 0, "AWS_SESSION_TOKEN" },
		{ __LINE__, "AK ID", "s3cr3t", NULL, 0, -1, 0,
		    "AWS_ACCESS_KEY_ID" },
		{ __LINE__, "AKID", "s3c\nr3t", NULL, 0, -1, 0,
		    "AWS_SECRET_ACCESS_KEY" },
		{ __LINE__, "AKID", "s3cr3t", "t0\rk3n", 0, -1, 0,
		    "AWS_SESSION_TOKEN" },
	};
	struct aws_creds_provider	*p;
	struct aws_imds			 imds;
	size_t				 i;

	(void)state;
	assert_non_null(p = calloc(1, sizeof(*p)));
	memset(&imds, 0, sizeof(imds));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 err[256] = "";
		int	 rc;

		unsetenv("AWS_ACCESS_KEY_ID");
		unsetenv("AWS_SECRET_ACCESS_KEY");
		unsetenv("AWS_SESSION_TOKEN");
		if (rows[i].id)
			setenv("AWS_ACCESS_KEY_ID", rows[i].id, 1);
		if (rows[i].secret)
			setenv("AWS_SECRET_ACCESS_KEY", rows[i].secret, 1);
		if (rows[i].token)
			setenv("AWS_SESSION_TOKEN", rows[i].token, 1);
		imds.disabled = rows[i].imds_off;
		rc = aws_creds_provider_init(p, &imds, err, sizeof(err));
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (rc == 0) {
			if (p->from_env != rows[i].from_env)
				ROW_FAIL(rows[i].line, "from_env %d",
				    p->from_env);
			aws_creds_provider_destroy(p);
			continue;
		}
		if (strstr(err, rows[i].err_names) == NULL)
			ROW_FAIL(rows[i].line, "err '%s' does not name %s", err,
			    rows[i].err_names);
		if (strstr(err, "s3c") != NULL || strstr(err, "t0") != NULL)
			ROW_FAIL(rows[i].line, "a secret in '%s'", err);
	}
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_role_creds),
		cmocka_unit_test(test_imds_word),
		cmocka_unit_test(test_provider_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
