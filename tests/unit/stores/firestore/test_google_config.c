/*
 * What the Firestore store is told at start-up: host:port values
 * (FIRESTORE_EMULATOR_HOST, GCE_METADATA_HOST), the https:// endpoint
 * (FIRESTORE_ENDPOINT) and the metadata server's plain words. Each row
 * is accepted whole or refused with a reason, never half-copied; the
 * length decides, not a NUL; and a refusal never quotes the value.
 */
#include "unit.h"

#include "stores/firestore/google_config.h"

static void
test_hostport(void **state)
{
	static const struct {
		int		 line;
		const char	*s;
		int		 need_port;
		int		 rc;
	} rows[] = {
		{ __LINE__, "127.0.0.1:8080", 1, 0 },
		{ __LINE__, "localhost:8080", 1, 0 },
		{ __LINE__, "localhost:1", 1, 0 },
		{ __LINE__, "localhost:65535", 1, 0 },
		{ __LINE__, "metadata.google.internal", 0, 0 },
		{ __LINE__, "metadata.google.internal.", 0, 0 },
		{ __LINE__, "metadata.google.internal.:80", 0, 0 },
		{ __LINE__, "169.254.169.254", 0, 0 },
		{ __LINE__, "169.254.169.254:80", 0, 0 },
		{ __LINE__, "[::1]:8080", 1, 0 },
		{ __LINE__, "[::1]", 0, 0 },
		{ __LINE__, "[fe80::a:b]:9", 1, 0 },
		{ __LINE__, "[::ffff:127.0.0.1]:80", 1, 0 },
		{ __LINE__, "firestore-emulator", 0, 0 },
		{ __LINE__, "a-b.c-d", 0, 0 },
		/* The port, when one is needed. */
		{ __LINE__, "localhost", 1, -1 },
		{ __LINE__, "[::1]", 1, -1 },
		{ __LINE__, "localhost:", 0, -1 },
		{ __LINE__, "localhost:0", 1, -1 },
		{ __LINE__, "localhost:08080", 1, -1 },
		{ __LINE__, "localhost:65536", 1, -1 },
		{ __LINE__, "localhost:123456", 1, -1 },
		{ __LINE__, "localhost:80a", 1, -1 },
		{ __LINE__, "localhost:-80", 1, -1 },
		{ __LINE__, "localhost:80:81", 1, -1 },
		{ __LINE__, "localhost: 80", 1, -1 },
		/* The host. */
		{ __LINE__, "", 0, -1 },
		{ __LINE__, ":8080", 1, -1 },
		{ __LINE__, "http://localhost:8080", 1, -1 },
		{ __LINE__, "localhost:8080/", 1, -1 },
		{ __LINE__, "localhost/x", 0, -1 },
		{ __LINE__, "user@localhost:8080", 1, -1 },
		{ __LINE__, "local host:8080", 1, -1 },
		{ __LINE__, "localhost\n:8080", 1, -1 },
		{ __LINE__, "-localhost:8080", 1, -1 },
		{ __LINE__, "localhost-:8080", 1, -1 },
		{ __LINE__, "a..b", 0, -1 },
		{ __LINE__, ".a", 0, -1 },
		{ __LINE__, "a-.b", 0, -1 },
		{ __LINE__, "a_b", 0, -1 },
		{ __LINE__, "h\xc3\xa9te", 0, -1 },
		{ __LINE__, "::1:8080", 1, -1 },
		{ __LINE__, "[::1", 1, -1 },
		{ __LINE__, "[::1]8080", 1, -1 },
		{ __LINE__, "[::g]:8080", 1, -1 },
		{ __LINE__, "[]:8080", 1, -1 },
		{ __LINE__, "[127.0.0.1]:8080", 1, -1 },
		/* A label of 64 bytes is one too many; 63 fit. */
		{ __LINE__, "a234567890123456789012345678901234567890123456789012"
		    "345678901234.b", 0, -1 },
		{ __LINE__, "a234567890123456789012345678901234567890123456789012"
		    "34567890123.b", 0, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 out[GOOGLE_HOSTPORT_MAX], err[128] = "";
		size_t	 n = strlen(rows[i].s);
		int	 rc;

		memset(out, 'Z', sizeof(out));
		rc = google_check_hostport(rows[i].s, n, rows[i].need_port, out,
		    sizeof(out), err, sizeof(err));
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (rc == 0 && strcmp(out, rows[i].s) != 0)
			ROW_FAIL(rows[i].line, "copied as '%s'", out);
		if (rc == -1 && (out[0] != '\0' || err[0] == '\0'))
			ROW_FAIL(rows[i].line, "refused with out '%.20s', err "
			    "'%s'", out, err);
		if (rc == -1 && n > 2 && strstr(err, rows[i].s) != NULL)
			ROW_FAIL(rows[i].line, "err quotes the value: %s", err);
	}
}

static void
test_hostport_bounds(void **state)
{
	char	 big[400], out[GOOGLE_HOSTPORT_MAX], small[16], err[128];
	size_t	 i;

	(void)state;
	/* The length decides: a NUL inside is refused, not a short value. */
	assert_int_equal(google_check_hostport("localhost\0:1", 12, 0, out,
	    sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(google_check_hostport("localhost:80", 9, 1, out,
	    sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(google_check_hostport("localhost:80", 9, 0, out,
	    sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "localhost");
	/* A name of 253 bytes fits; 254 does not; nor does a small out. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = i % 10 == 9 ? '.' : 'a';
	assert_int_equal(google_check_hostport(big, 253, 0, out, sizeof(out),
	    err, sizeof(err)), 0);
	assert_int_equal(strlen(out), 253);
	assert_int_equal(google_check_hostport(big, 254, 0, out, sizeof(out),
	    err, sizeof(err)), -1);
	assert_int_equal(google_check_hostport("localhost:8080", 14, 1, small,
	    sizeof(small), err, sizeof(err)), 0);
	assert_int_equal(google_check_hostport("localhost:80800", 15, 1, small,
	    sizeof(small), err, sizeof(err)), -1);
	assert_int_equal(google_check_hostport("localhost:8080", 14, 1, small,
	    14, err, sizeof(err)), -1);
	assert_string_equal(small, "");
	assert_int_equal(google_check_hostport(NULL, 0, 0, out, sizeof(out),
	    err, sizeof(err)), -1);
}

static void
test_https_url(void **state)
{
	static const struct {
		int		 line;
		const char	*s;
		const char	*want;		/* NULL: refused */
	} rows[] = {
		{ __LINE__, "https://firestore.googleapis.com",
		    "https://firestore.googleapis.com" },
		{ __LINE__, "https://firestore.googleapis.com/",
		    "https://firestore.googleapis.com" },
		{ __LINE__, "https://127.0.0.1:8443", "https://127.0.0.1:8443" },
		{ __LINE__, "https://127.0.0.1:8443/", "https://127.0.0.1:8443" },
		{ __LINE__, "https://[::1]:8443", "https://[::1]:8443" },
		{ __LINE__, "https://firestore-psc.p.googleapis.com",
		    "https://firestore-psc.p.googleapis.com" },
		{ __LINE__, "http://firestore.googleapis.com", NULL },
		{ __LINE__, "HTTPS://firestore.googleapis.com", NULL },
		{ __LINE__, "firestore.googleapis.com", NULL },
		{ __LINE__, "https://", NULL },
		{ __LINE__, "https:///", NULL },
		{ __LINE__, "https://firestore.googleapis.com//", NULL },
		{ __LINE__, "https://firestore.googleapis.com/v1", NULL },
		{ __LINE__, "https://firestore.googleapis.com/v1/", NULL },
		{ __LINE__, "https://firestore.googleapis.com?x=1", NULL },
		{ __LINE__, "https://firestore.googleapis.com#x", NULL },
		{ __LINE__, "https://user@firestore.googleapis.com", NULL },
		{ __LINE__, "https://firestore.googleapis.com:0", NULL },
		{ __LINE__, "https://firestore.googleapis.com:", NULL },
		{ __LINE__, "https://fire store.googleapis.com", NULL },
		{ __LINE__, " https://firestore.googleapis.com", NULL },
		{ __LINE__, "https://firestore.googleapis.com ", NULL },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	 out[GOOGLE_URL_MAX], err[128] = "";
		int	 rc;

		memset(out, 'Z', sizeof(out));
		rc = google_check_https_url(rows[i].s, strlen(rows[i].s), out,
		    sizeof(out), err, sizeof(err));
		if (rows[i].want == NULL) {
			if (rc != -1 || out[0] != '\0' || err[0] == '\0')
				ROW_FAIL(rows[i].line, "accepted as '%s'", out);
		} else if (rc != 0 || strcmp(out, rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "rc %d, '%s' (%s)", rc, out, err);
	}
	/* Too long for out: refused whole. */
	{
		char	 out[20], err[128];

		assert_int_equal(google_check_https_url(
		    "https://firestore.googleapis.com", 32, out, sizeof(out),
		    err, sizeof(err)), -1);
		assert_string_equal(out, "");
		assert_int_equal(google_check_https_url("https://a.b/", 12, out,
		    12, err, sizeof(err)), 0);
		assert_string_equal(out, "https://a.b");
	}
}

static void
test_metadata_word(void **state)
{
	static const struct {
		int		 line;
		const char	*body;
		size_t		 len;		/* 0: strlen */
		const char	*want;		/* NULL: refused */
	} rows[] = {
		{ __LINE__, "4520031799277581759", 0, "4520031799277581759" },
		{ __LINE__, "4520031799277581759\n", 0, "4520031799277581759" },
		{ __LINE__, "4520031799277581759\r\n", 0,
		    "4520031799277581759" },
		{ __LINE__, "demo-candidates", 0, "demo-candidates" },
		{ __LINE__, "google.com:my-project", 0, "google.com:my-project" },
		{ __LINE__, "a_b.c", 0, "a_b.c" },
		{ __LINE__, "", 0, NULL },
		{ __LINE__, "\n", 0, NULL },
		{ __LINE__, "\n\n", 0, NULL },
		{ __LINE__, "12\n\n", 0, NULL },
		{ __LINE__, "12\n34", 0, NULL },
		{ __LINE__, " 12", 0, NULL },
		{ __LINE__, "12 ", 0, NULL },
		{ __LINE__, "1\"2", 0, NULL },
		{ __LINE__, "1/2", 0, NULL },
		{ __LINE__, "<html>", 0, NULL },
		{ __LINE__, "12\0" "34", 5, NULL },
		{ __LINE__, "\xc3\xa9", 0, NULL },
	};
	char	 out[GCE_WORD_MAX], longer[GCE_WORD_MAX + 1];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t	 n = rows[i].len ? rows[i].len : strlen(rows[i].body);
		int	 rc;

		memset(out, 'Z', sizeof(out));
		rc = gce_metadata_word(rows[i].body, n, out, sizeof(out));
		if (rows[i].want == NULL) {
			if (rc != -1 || out[0] != '\0')
				ROW_FAIL(rows[i].line, "accepted as '%s'", out);
		} else if (rc != 0 || strcmp(out, rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "rc %d, '%s'", rc, out);
	}
	/* GCE_WORD_MAX - 1 bytes fit; one more does not. */
	memset(longer, '7', sizeof(longer));
	assert_int_equal(gce_metadata_word(longer, GCE_WORD_MAX - 1, out,
	    sizeof(out)), 0);
	assert_int_equal(strlen(out), GCE_WORD_MAX - 1);
	assert_int_equal(gce_metadata_word(longer, GCE_WORD_MAX, out,
	    sizeof(out)), -1);
	assert_int_equal(gce_metadata_word("1", 1, out, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_hostport_bounds),
		cmocka_unit_test(test_https_url),
		cmocka_unit_test(test_metadata_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
