/*
 * The FastCGI peek judges bytes a local peer controls: no read past what
 * it is given, and its verdicts agree with each other: once a prefix
 * holds a whole request, every longer prefix does too, and a verdict
 * other than LARGE never depends on the peek's size.
 */
#include <string.h>

#include "fcgi_peek.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum fcgi_peek	 v;
	size_t		 n;
	int		 whole = 0;

	/* Each prefix in a copy of its own size, so ASan sees any overread. */
	for (n = 0; n <= size; n++) {
		unsigned char	*p = malloc(n > 0 ? n : 1);

		CHECK(p != NULL, "out of memory");
		memcpy(p, data, n);
		v = fcgi_peek_request(p, n, FCGI_PEEK_MAX);
		CHECK(!whole || v == FCGI_PEEK_WHOLE, "whole at a shorter "
		    "prefix, %d at %zu bytes", (int)v, n);
		CHECK(n >= FCGI_PEEK_MAX || v != FCGI_PEEK_LARGE, "large at "
		    "%zu bytes", n);
		if (n > 0 && v != FCGI_PEEK_LARGE)
			CHECK(fcgi_peek_request(p, n, n) == v ||
			    fcgi_peek_request(p, n, n) == FCGI_PEEK_LARGE,
			    "the verdict changed with the peek's size");
		whole = v == FCGI_PEEK_WHOLE;
		free(p);
	}
	return 0;
}
