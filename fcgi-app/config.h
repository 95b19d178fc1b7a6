/*
 * Settings come from the environment only, read once at start-up. Every
 * reader checks its value and, when it is bad, fills err with one line
 * that names the variable, so the start stops with a clear message.
 */
#ifndef CANDIDATES_CONFIG_H
#define CANDIDATES_CONFIG_H

#include <stddef.h>

#include "store.h"

#define STORE_TIMEOUT_DEFAULT_MS	5000
#define STORE_CONNECT_TIMEOUT_DEFAULT_MS	1000
#define STORE_TIMEOUT_MAX_MS		600000

struct config {
	const struct store_ops	*store;
	long			 threads;
	long			 timeout_ms;		/* one store call */
	long			 connect_timeout_ms;	/* one attempt */
};

int	config_read(struct config *, char *err, size_t errlen);

/* The variable as a whole number in [min, max], or def when unset. */
int	config_long(const char *var, long min, long max, long def, long *out,
	    char *err, size_t errlen);
/*
 * CANDIDATES_TIMEOUT_MS, the deadline of one store call with its retries,
 * and CANDIDATES_CONNECT_TIMEOUT_MS, of one connection attempt.
 */
int	config_timeouts(long *timeout_ms, long *connect_timeout_ms, char *err,
	    size_t errlen);
/* The variable, or def when unset or empty. */
const char *config_str(const char *var, const char *def);

#endif
