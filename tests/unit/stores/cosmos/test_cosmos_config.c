/*
 * The Cosmos DB store's settings: the account endpoint (https only, no
 * path, the portal's form with :443/ included), the IMDS host that
 * AZURE_POD_IDENTITY_AUTHORITY_HOST overrides, and a client id. Each row
 * says what a value becomes, or that it is refused; refusing is what
 * stops the start with the variable's name.
 */
#include "unit.h"

#include "stores/cosmos/cosmos_config.h"

static void
test_endpoint(void **state)
{
	static const struct {
		int		 line;
		const char	*in;
		const char	*out;	/* NULL: refused */
	} rows[] = {
		{ __LINE__, "https://candidates.documents.azure.com:443/",
		    "https://candidates.documents.azure.com:443" },
		{ __LINE__, "https://candidates.documents.azure.com",
		    "https://candidates.documents.azure.com" },
		{ __LINE__, "https://127.0.0.1:8081/", "https://127.0.0.1:8081" },
		{ __LINE__, "https://[::1]:8081/", "https://[::1]:8081" },
		{ __LINE__, "https://[fe80::1]", "https://[fe80::1]" },
		{ __LINE__, "https://a-b.c-d.example", "https://a-b.c-d.example" },
		{ __LINE__, "https://x:1", "https://x:1" },
		{ __LINE__, "https://x:65535", "https://x:65535" },
		/* Keys and tokens never travel in clear. */
		{ __LINE__, "http://localhost:8081/", NULL },
		{ __LINE__, "HTTPS://x", NULL },
		{ __LINE__, "candidates.documents.azure.com", NULL },
		{ __LINE__, "https://", NULL },
		{ __LINE__, "https:///", NULL },
		{ __LINE__, "https://x//", NULL },
		{ __LINE__, "https://x/dbs", NULL },
		{ __LINE__, "https://x?a=b", NULL },
		{ __LINE__, "https://x#f", NULL },
		{ __LINE__, "https://user@x", NULL },
		{ __LINE__, "https://x y", NULL },
		{ __LINE__, "https://x:", NULL },
		{ __LINE__, "https://x:0", NULL },
		{ __LINE__, "https://x:65536", NULL },
		{ __LINE__, "https://x:123456", NULL },
		{ __LINE__, "https://x:+80", NULL },
		{ __LINE__, "https://x:80:80", NULL },
		{ __LINE__, "https://.x", NULL },
		{ __LINE__, "https://x.", NULL },
		{ __LINE__, "https://a..b", NULL },
		{ __LINE__, "https://-a.b", NULL },
		{ __LINE__, "https://a-.b", NULL },
		{ __LINE__, "https://a_b", NULL },
		{ __LINE__, "https://\xc3\xa9.example", NULL },
		{ __LINE__, "https://[::1", NULL },
		{ __LINE__, "https://[]", NULL },
		{ __LINE__, "https://[zz::1]", NULL },
		{ __LINE__, "https://[::1]x", NULL },
		{ __LINE__, "https://x\r\nHost: y", NULL },
		{ __LINE__, "", NULL },
	};
	char	 out[COSMOS_URL_MAX], big[400];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int	 rc = cosmos_parse_endpoint(rows[i].in,
		    strlen(rows[i].in), out, sizeof(out));

		if (rows[i].out == NULL ? rc != -1 || out[0] != '\0' :
		    rc != 0 || strcmp(out, rows[i].out) != 0)
			ROW_FAIL(rows[i].line, "%s: rc %d, out '%s'",
			    rows[i].in, rc, out);
	}
	/* A NUL inside, and a host of 254 bytes, are refused. */
	assert_int_equal(cosmos_parse_endpoint("https://a\0b", 11, out,
	    sizeof(out)), -1);
	memcpy(big, "https://", 8);
	memset(big + 8, 'a', 254);
	big[8 + 254] = '\0';
	assert_int_equal(cosmos_parse_endpoint(big, strlen(big), out,
	    sizeof(out)), -1);
	big[8 + 253] = '\0';
	assert_int_equal(cosmos_parse_endpoint(big, strlen(big), out,
	    sizeof(out)), 0);
	/* Too small an output is a refusal, never a truncation. */
	assert_int_equal(cosmos_parse_endpoint("https://abc", 11, out, 11), -1);
	assert_int_equal(cosmos_parse_endpoint("https://abc", 11, out, 12), 0);
	assert_string_equal(out, "https://abc");
}

static void
test_imds_host(void **state)
{
	static const struct {
		int		 line;
		const char	*in;
		const char	*out;	/* NULL: refused */
	} rows[] = {
		{ __LINE__, COSMOS_IMDS_DEFAULT, "http://169.254.169.254" },
		{ __LINE__, "http://169.254.169.254/", "http://169.254.169.254" },
		{ __LINE__, "http://127.0.0.1:38017//", "http://127.0.0.1:38017" },
		{ __LINE__, "https://imds.example:8443", "https://imds.example:8443" },
		{ __LINE__, "169.254.169.254", NULL },
		{ __LINE__, "ftp://169.254.169.254", NULL },
		{ __LINE__, "http://169.254.169.254/metadata", NULL },
		{ __LINE__, "http://169.254.169.254?x", NULL },
		{ __LINE__, "http://", NULL },
		{ __LINE__, "http://h:99999", NULL },
	};
	char	 out[COSMOS_URL_MAX];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int	 rc = cosmos_parse_imds_host(rows[i].in,
		    strlen(rows[i].in), out, sizeof(out));

		if (rows[i].out == NULL ? rc != -1 || out[0] != '\0' :
		    rc != 0 || strcmp(out, rows[i].out) != 0)
			ROW_FAIL(rows[i].line, "%s: rc %d, out '%s'",
			    rows[i].in, rc, out);
	}
}

static void
test_client_id(void **state)
{
	static const struct {
		int		 line;
		const char	*in;
		int		 ok;
	} rows[] = {
		{ __LINE__, "0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b01", 1 },
		{ __LINE__, "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B", 1 },
		{ __LINE__, "00000000-0000-0000-0000-000000000000", 1 },
		{ __LINE__, "0c0a1d1e5a7e4c1d9e5710ca1c0d0b01", 0 },
		{ __LINE__, "{0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b01}", 0 },
		{ __LINE__, "0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b0", 0 },
		{ __LINE__, "0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b011", 0 },
		{ __LINE__, "0c0a1d1e-5a7e-4c1d-9e57_10ca1c0d0b01", 0 },
		{ __LINE__, "0c0a1d1g-5a7e-4c1d-9e57-10ca1c0d0b01", 0 },
		{ __LINE__, "0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b0 ", 0 },
		{ __LINE__, "my-identity", 0 },
		{ __LINE__, "", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (cosmos_valid_client_id(rows[i].in, strlen(rows[i].in)) !=
		    rows[i].ok)
			ROW_FAIL(rows[i].line, "%s: want %d", rows[i].in,
			    rows[i].ok);
	assert_int_equal(cosmos_valid_client_id(NULL, 36), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_imds_host),
		cmocka_unit_test(test_client_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
