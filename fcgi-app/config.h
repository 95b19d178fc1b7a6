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
/*
 * A whole listing, every page of it: below the web servers' 30 s read
 * timeout (nginx-conf/nginx.conf, lighttpd-conf/lighttpd.conf), so the
 * client gets the app's 503 and not the web server's 504.
 */
#define LIST_TIMEOUT_DEFAULT_MS		20000
#define STORE_TIMEOUT_MAX_MS		600000

/* Everything the core and the stores read, once, in main(). */
struct config {
	const struct store_ops	*store;
	long			 threads;
	long			 timeout_ms;		/* one store call */
	long			 connect_timeout_ms;	/* one attempt */
	long			 list_timeout_ms;	/* a whole listing */
};

int	config_read(struct config *, char *err, size_t errlen);

/* The variable as a whole number in [min, max], or def when unset. */
int	config_long(const char *var, long min, long max, long def, long *out,
	    char *err, size_t errlen);
/* The variable, or def when unset or empty. */
const char *config_str(const char *var, const char *def);

#endif
