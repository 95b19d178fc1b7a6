/* Percent-decoding and name validation, tables plus exhaustive sweeps. */
#include "unit.h"

#include "name.h"

struct row {
	int		 line;
	const char	*raw;		/* as it appears in the request target */
	enum name_err	 want;
	const char	*decoded;	/* when want is NAME_OK */
};

static const struct row rows[] = {
	{ __LINE__, "alice", NAME_OK, "alice" },
	{ __LINE__, "Alice%20Smith", NAME_OK, "Alice Smith" },
	{ __LINE__, "a+b", NAME_OK, "a+b" },		/* a path: + is + */
	{ __LINE__, "%252F", NAME_OK, "%2F" },		/* decoded once */
	{ __LINE__, "%2f", NAME_RESERVED_CHAR, NULL },
	{ __LINE__, "%2F", NAME_RESERVED_CHAR, NULL },
	{ __LINE__, "a%5Cb", NAME_RESERVED_CHAR, NULL },
	{ __LINE__, "a%3Fb", NAME_RESERVED_CHAR, NULL },
	{ __LINE__, "a%23b", NAME_RESERVED_CHAR, NULL },
	{ __LINE__, "", NAME_EMPTY, NULL },
	{ __LINE__, "%", NAME_BAD_ESCAPE, NULL },
	{ __LINE__, "%4", NAME_BAD_ESCAPE, NULL },
	{ __LINE__, "%zz", NAME_BAD_ESCAPE, NULL },
	{ __LINE__, "a%g1", NAME_BAD_ESCAPE, NULL },
	{ __LINE__, "%00", NAME_CONTROL, NULL },
	{ __LINE__, "a%0Ab", NAME_CONTROL, NULL },
	{ __LINE__, "%1F", NAME_CONTROL, NULL },
	{ __LINE__, "%7F", NAME_CONTROL, NULL },
	{ __LINE__, "%C2%80", NAME_OK, "\xc2\x80" },	/* C1 is allowed */
	{ __LINE__, ".", NAME_DOT, NULL },
	{ __LINE__, "..", NAME_DOT, NULL },
	{ __LINE__, "%2e%2E", NAME_DOT, NULL },
	{ __LINE__, "...", NAME_OK, "..." },
	{ __LINE__, ".a", NAME_OK, ".a" },
	{ __LINE__, "__x__", NAME_UNDERSCORES, NULL },
	{ __LINE__, "____", NAME_UNDERSCORES, NULL },
	{ __LINE__, "__", NAME_OK, "__" },
	{ __LINE__, "___", NAME_OK, "___" },
	{ __LINE__, "__x_", NAME_OK, "__x_" },
	{ __LINE__, "_x__", NAME_OK, "_x__" },
	/* UTF-8: the edges of each sequence length. */
	{ __LINE__, "%C3%A9", NAME_OK, "\xc3\xa9" },
	{ __LINE__, "%F0%9F%98%80", NAME_OK, "\xf0\x9f\x98\x80" },
	{ __LINE__, "%E4%B8%AD", NAME_OK, "\xe4\xb8\xad" },
	{ __LINE__, "%C0%AF", NAME_BAD_UTF8, NULL },	/* overlong '/' */
	{ __LINE__, "%C0%80", NAME_BAD_UTF8, NULL },	/* overlong NUL */
	{ __LINE__, "%C1%BF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%E0%80%AF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%E0%9F%BF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%E0%A0%80", NAME_OK, "\xe0\xa0\x80" },
	{ __LINE__, "%ED%9F%BF", NAME_OK, "\xed\x9f\xbf" },
	{ __LINE__, "%ED%A0%80", NAME_BAD_UTF8, NULL },	/* surrogates */
	{ __LINE__, "%ED%BF%BF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%EE%80%80", NAME_OK, "\xee\x80\x80" },
	{ __LINE__, "%EF%BF%BF", NAME_OK, "\xef\xbf\xbf" },
	{ __LINE__, "%F0%8F%BF%BF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%F0%90%80%80", NAME_OK, "\xf0\x90\x80\x80" },
	{ __LINE__, "%F4%8F%BF%BF", NAME_OK, "\xf4\x8f\xbf\xbf" },
	{ __LINE__, "%F4%90%80%80", NAME_BAD_UTF8, NULL },	/* > U+10FFFF */
	{ __LINE__, "%F5%80%80%80", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%F8%88%80%80%80", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%FE", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%FF", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%80", NAME_BAD_UTF8, NULL },	/* stray continuation */
	{ __LINE__, "a%C3", NAME_BAD_UTF8, NULL },	/* truncated */
	{ __LINE__, "%E4%B8", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%F0%9F%98", NAME_BAD_UTF8, NULL },
	{ __LINE__, "%C3%28", NAME_BAD_UTF8, NULL },
};

static void
test_rows(void **state)
{
	char		 dst[1024];
	size_t		 i, len;
	enum name_err	 e;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];

		e = name_parse(r->raw, strlen(r->raw), dst, &len);
		if (e != r->want)
			ROW_FAIL(r->line, "%s: got %d (%s), want %d", r->raw,
			    e, name_strerror(e), r->want);
		if (e == NAME_OK && (len != strlen(r->decoded) ||
		    memcmp(dst, r->decoded, len) != 0))
			ROW_FAIL(r->line, "%s: decoded wrong", r->raw);
		if (e != NAME_OK && len != 0)
			ROW_FAIL(r->line, "%s: length left set on error",
			    r->raw);
	}
}

static void
test_lengths(void **state)
{
	char	 name[600], enc[3 * 600], dst[3 * 600];
	size_t	 len, i;

	(void)state;
	memset(name, 'a', sizeof(name));
	assert_int_equal(name_validate(name, 255), NAME_OK);
	assert_int_equal(name_validate(name, 256), NAME_TOO_LONG);
	/* 253 ASCII bytes and a 2-byte character: exactly 255. */
	memcpy(name + 253, "\xc3\xa9", 2);
	assert_int_equal(name_validate(name, 255), NAME_OK);
	/* A character that would end at byte 256 makes it too long. */
	memcpy(name + 254, "\xc3\xa9", 2);
	assert_int_equal(name_validate(name, 256), NAME_TOO_LONG);
	/* 255 bytes all percent-encoded: 765 raw characters, valid. */
	for (i = 0; i < 255; i++)
		memcpy(enc + 3 * i, "%61", 3);
	assert_int_equal(name_parse(enc, 765, dst, &len), NAME_OK);
	assert_int_equal(len, 255);
	memcpy(enc + 765, "%61", 3);
	assert_int_equal(name_parse(enc, 768, dst, &len), NAME_TOO_LONG);
}

/* What the contract says of one byte, stated independently of name.c. */
static int
ascii_ok(unsigned c)
{
	return c >= 0x20 && c < 0x7f && c != '/' && c != '\\' && c != '?' &&
	    c != '#';
}

static int
oracle(const unsigned char *s, size_t len)
{
	if (len == 1)
		return ascii_ok(s[0]) && s[0] != '.';
	/* Two bytes: two good ASCII bytes but "..", or one 2-byte char. */
	if (ascii_ok(s[0]) && ascii_ok(s[1]))
		return !(s[0] == '.' && s[1] == '.');
	return s[0] >= 0xc2 && s[0] <= 0xdf && s[1] >= 0x80 && s[1] <= 0xbf;
}

static void
test_exhaustive(void **state)
{
	unsigned char	 s[2];
	char		 enc[7], dst[8];
	static const char hex[] = "0123456789ABCDEF", lhex[] = "0123456789abcdef";
	size_t		 len;
	unsigned	 a, b;

	(void)state;
	for (a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		if ((name_validate((char *)s, 1) == NAME_OK) != oracle(s, 1))
			fail_msg("byte %02x", a);
		for (b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			if ((name_validate((char *)s, 2) == NAME_OK) !=
			    oracle(s, 2))
				fail_msg("bytes %02x %02x", a, b);
			/* Every byte pair survives one encode/decode. */
			enc[0] = '%', enc[1] = hex[a >> 4], enc[2] = lhex[a & 15];
			enc[3] = '%', enc[4] = lhex[b >> 4], enc[5] = hex[b & 15];
			if (name_decode(enc, 6, dst, &len) != NAME_OK ||
			    len != 2 || memcmp(dst, s, 2) != 0)
				fail_msg("decode %.6s", enc);
		}
	}
}

/* Bytes outside well-formed UTF-8 become '?', each one; the rest stays. */
static void
test_scrub(void **state)
{
	static const struct {
		int		 line;
		const char	*in, *out;
		size_t		 bad;
	} scrub[] = {
		{ __LINE__, "", "", 0 },
		{ __LINE__, "ip-10-0-1-5", "ip-10-0-1-5", 0 },
		{ __LINE__, "h\xc3\xa9te", "h\xc3\xa9te", 0 },
		{ __LINE__, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", 0 },
		{ __LINE__, "\xff", "?", 1 },
		{ __LINE__, "a\xc3", "a?", 1 },		/* cut short */
		{ __LINE__, "\xc0\xaf", "??", 2 },		/* overlong */
		{ __LINE__, "\xed\xa0\x80x", "???x", 3 },	/* surrogate */
		{ __LINE__, "\xe2\x82\xac\x80", "\xe2\x82\xac?", 1 },
	};
	char	 s[32];
	size_t	 i, bad, len;

	(void)state;
	for (i = 0; i < sizeof(scrub) / sizeof(scrub[0]); i++) {
		len = strlen(scrub[i].in);
		memcpy(s, scrub[i].in, len + 1);
		bad = utf8_scrub(s, len);
		if (bad != scrub[i].bad || strcmp(s, scrub[i].out) != 0)
			ROW_FAIL(scrub[i].line, "\"%s\" with %zu replaced", s,
			    bad);
	}
}

/*
 * utf8_valid takes eight ASCII bytes at a time: every byte pair, after
 * ASCII runs that put it at each place in a word and across words, is
 * judged as the byte-by-byte decoder judges it.
 */
static void
test_utf8_valid(void **state)
{
	static const size_t	 lead[] = { 0, 1, 6, 7, 8, 15 };
	char			 s[32], copy[32];
	size_t			 k, len;
	int			 a, b, want;

	(void)state;
	for (k = 0; k < sizeof(lead) / sizeof(lead[0]); k++)
		for (a = 0; a < 256; a++)
			for (b = 0; b < 256; b++) {
				memset(s, 'x', lead[k]);
				s[lead[k]] = (char)a;
				s[lead[k] + 1] = (char)b;
				memset(s + lead[k] + 2, 'y', 9);
				len = lead[k] + 11;
				memcpy(copy, s, len);
				want = utf8_scrub(copy, len) == 0;
				if (utf8_valid(s, len) != want)
					fail_msg("%zu ASCII bytes, then %02x %02x: "
					    "%d, want %d", lead[k], a, b, !want,
					    want);
			}
	assert_int_equal(utf8_valid("", 0), 1);
	assert_int_equal(utf8_valid("abcdefgh\xff", 9), 0);
	assert_int_equal(utf8_valid("abcdefgh\xc3\xa9", 10), 1);
}

static void
test_messages(void **state)
{
	int	 e;

	(void)state;
	for (e = NAME_OK; e <= NAME_UNDERSCORES; e++)
		assert_true(strlen(name_strerror((enum name_err)e)) > 5);
	assert_string_equal(name_strerror(NAME_BAD_UTF8),
	    "name is not valid UTF-8");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
