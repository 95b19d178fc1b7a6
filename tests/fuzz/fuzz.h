/*
 * What every libFuzzer harness shares: the entry point's prototype (the
 * build's -Wmissing-prototypes wants one) and a check that aborts with a
 * message, so a broken invariant is a crash libFuzzer saves and reports
 * like any sanitizer finding.
 */
#ifndef CANDIDATES_FUZZ_H
#define CANDIDATES_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

#endif
