/* What every unit test includes: cmocka needs these before its header. */
#ifndef CANDIDATES_UNIT_H
#define CANDIDATES_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Fails the test naming the table row (its source line) that broke. */
#define ROW_FAIL(line, ...) do {					\
	print_error("row at line %d: ", (line));			\
	print_error(__VA_ARGS__);					\
	print_error("\n");						\
	fail();								\
} while (0)

#endif
