/*
 * Percent-encoding, exhaustively over every byte: the hex digits both
 * ways, and what pct_encode keeps literal.
 */
#include "unit.h"

#include "buf.h"
#include "pct.h"

static int
is_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static void
test_hexval_every_byte(void **state)
{
	int	 c, want;

	(void)state;
	for (c = 0; c < 256; c++) {
		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		else
			want = -1;
		if (pct_hexval(c) != want)
			fail_msg("byte 0x%02x: got %d, want %d", c,
			    pct_hexval(c), want);
	}
}

/* Every byte alone: literal if unreserved, else %XX in upper case. */
static void
test_encode_every_byte(void **state)
{
	struct buf	 b;
	int		 c, keep;

	(void)state;
	buf_init(&b, 16);
	for (keep = 0; keep < 2; keep++)
		for (c = 0; c < 256; c++) {
			char	 in = (char)c, want[4];

			buf_reset(&b);
			assert_int_equal(pct_encode(&b, &in, 1, keep), 0);
			if (is_unreserved(c) || (keep && c == '/'))
				snprintf(want, sizeof(want), "%c", c);
			else
				snprintf(want, sizeof(want), "%%%02X", c);
			if (strcmp(b.data, want) != 0)
				fail_msg("keep_slash %d, byte 0x%02x: got '%s', "
				    "want '%s'", keep, c, b.data, want);
		}
	buf_free(&b);
}

/* Runs of literal bytes between escapes, and the ceiling. */
static void
test_encode_strings(void **state)
{
	static const struct {
		int		 line;
		const char	*in;
		int		 keep_slash;
		const char	*want;	/* NULL: over the ceiling */
	} rows[] = {
		{ __LINE__, "", 0, "" },
		{ __LINE__, "abc", 0, "abc" },
		{ __LINE__, "a b/c", 0, "a%20b%2Fc" },
		{ __LINE__, "a b/c", 1, "a%20b/c" },
		{ __LINE__, "Ada Lovelace", 0, "Ada%20Lovelace" },
		{ __LINE__, "\xc3\xa9t\xc3\xa9", 0, "%C3%A9t%C3%A9" },
		{ __LINE__, "%2F", 0, "%252F" },
		{ __LINE__, "~-._", 0, "~-._" },
		{ __LINE__, "0123456789abcdef", 0, "0123456789abcdef" },
		{ __LINE__, "0123456789abcdef!", 0, NULL },
	};
	struct buf	 b;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int	 rc;

		buf_init(&b, 18);
		rc = pct_encode(&b, rows[i].in, strlen(rows[i].in),
		    rows[i].keep_slash);
		if (rows[i].want == NULL) {
			if (rc != -1 || b.data != NULL)
				ROW_FAIL(rows[i].line, "over the ceiling, but "
				    "rc %d", rc);
		} else if (rc != 0 || strcmp(b.data != NULL ? b.data : "",
		    rows[i].want) != 0)
			ROW_FAIL(rows[i].line, "got '%s' (rc %d), want '%s'",
			    b.data != NULL ? b.data : "(null)", rc,
			    rows[i].want);
		buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hexval_every_byte),
		cmocka_unit_test(test_encode_every_byte),
		cmocka_unit_test(test_encode_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
