/*
 * Whether a peek holds a whole FastCGI request: records built here byte
 * by byte, cut at every length, so a request is "whole" only once its
 * empty STDIN record is all there.
 */
#include "unit.h"

#include "fcgi_peek.h"

/* Appends one record: version 1, request id 1, padding as given. */
static size_t
rec(unsigned char *p, int type, size_t len, int pad)
{
	p[0] = 1;
	p[1] = (unsigned char)type;
	p[2] = 0;
	p[3] = 1;
	p[4] = (unsigned char)(len >> 8);
	p[5] = (unsigned char)len;
	p[6] = (unsigned char)pad;
	p[7] = 0;
	memset(p + 8, 'x', len + (size_t)pad);
	return 8 + len + (size_t)pad;
}

/* A GET: BEGIN, PARAMS, empty PARAMS, empty STDIN. */
static size_t
get_request(unsigned char *p, int pad)
{
	size_t	 n = 0;

	n += rec(p + n, 1, 8, 0);
	n += rec(p + n, 4, 300, pad);
	n += rec(p + n, 4, 0, 0);
	n += rec(p + n, 5, 0, 0);
	return n;
}

/* Every cut of a whole request is a part; the whole is whole. */
static void
test_every_cut(void **state)
{
	unsigned char	 buf[FCGI_PEEK_MAX];
	size_t		 n, cut;
	int		 pad;

	(void)state;
	for (pad = 0; pad < 8; pad += 7) {
		n = get_request(buf, pad);
		for (cut = 0; cut < n; cut++)
			if (fcgi_peek_request(buf, cut, sizeof(buf)) !=
			    FCGI_PEEK_PART)
				fail_msg("padding %d: %zu of %zu bytes is not "
				    "a part", pad, cut, n);
		assert_int_equal(fcgi_peek_request(buf, n, sizeof(buf)),
		    FCGI_PEEK_WHOLE);
	}
}

static void
test_rows(void **state)
{
	unsigned char	 buf[FCGI_PEEK_MAX];
	size_t		 n;

	(void)state;
	/* A POST body in two STDIN records, then the empty one. */
	n = rec(buf, 1, 8, 0);
	n += rec(buf + n, 4, 100, 4);
	n += rec(buf + n, 4, 0, 0);
	n += rec(buf + n, 5, 1000, 0);
	n += rec(buf + n, 5, 500, 3);
	assert_int_equal(fcgi_peek_request(buf, n, sizeof(buf)),
	    FCGI_PEEK_PART);
	n += rec(buf + n, 5, 0, 0);
	assert_int_equal(fcgi_peek_request(buf, n, sizeof(buf)),
	    FCGI_PEEK_WHOLE);
	/* An abort is for libfcgi to see at once. */
	n = rec(buf, 1, 8, 0);
	n += rec(buf + n, 2, 0, 0);
	assert_int_equal(fcgi_peek_request(buf, n, sizeof(buf)),
	    FCGI_PEEK_WHOLE);
	/* Not FastCGI version 1: libfcgi refuses it at once. */
	n = rec(buf, 1, 8, 0);
	buf[0] = 2;
	assert_int_equal(fcgi_peek_request(buf, n, sizeof(buf)),
	    FCGI_PEEK_WHOLE);
	/* A peek filled to the brim and not whole: read it anyway. */
	n = rec(buf, 1, 8, 0);
	n += rec(buf + n, 4, 6000, 0);
	assert_int_equal(fcgi_peek_request(buf, 4096, 4096),
	    FCGI_PEEK_LARGE);
	/* Nothing yet. */
	assert_int_equal(fcgi_peek_request(buf, 0, sizeof(buf)),
	    FCGI_PEEK_PART);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cut),
		cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
