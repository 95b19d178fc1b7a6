/*
 * Settings come from the environment only, read once at start-up. Every
 * reader checks its value and, when it is bad, fills err with one line
 * that names the variable, so the start stops with a clear message.
 */
#ifndef CANDIDATES_CONFIG_H
#define CANDIDATES_CONFIG_H

#include <stddef.h>

#include "store.h"

struct config {
	const struct store_ops	*store;
	long			 threads;
};

int	config_read(struct config *, char *err, size_t errlen);

/* The variable as a whole number in [min, max], or def when unset. */
int	config_long(const char *var, long min, long max, long def, long *out,
	    char *err, size_t errlen);
/* The variable, or def when unset or empty. */
const char *config_str(const char *var, const char *def);

#endif
