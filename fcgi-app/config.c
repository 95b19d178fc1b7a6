#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS_DEFAULT	16
#define THREADS_MAX	1024

const char *
config_str(const char *var, const char *def)
{
	const char	*v = getenv(var);

	return v != NULL && *v != '\0' ? v : def;
}

int
config_long(const char *var, long min, long max, long def, long *out,
    char *err, size_t errlen)
{
	const char	*v = getenv(var);
	char		*end;
	long		 n;

	*out = def;
	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		snprintf(err, errlen, "%s must be a whole number from %ld "
		    "to %ld", var, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int
config_read(struct config *cfg, char *err, size_t errlen)
{
	const char	*name = config_str("CANDIDATES_STORE", "sqlite");

	/* Every value is checked whatever the store: a typo never waits. */
	if ((cfg->store = store_load(name, err, errlen)) == NULL ||
	    config_long("CANDIDATES_TIMEOUT_MS", 1, STORE_TIMEOUT_MAX_MS,
	    STORE_TIMEOUT_DEFAULT_MS, &cfg->timeout_ms, err, errlen) == -1 ||
	    config_long("CANDIDATES_CONNECT_TIMEOUT_MS", 1,
	    STORE_TIMEOUT_MAX_MS, STORE_CONNECT_TIMEOUT_DEFAULT_MS,
	    &cfg->connect_timeout_ms, err, errlen) == -1 ||
	    config_long("CANDIDATES_LIST_TIMEOUT_MS", 1, STORE_TIMEOUT_MAX_MS,
	    LIST_TIMEOUT_DEFAULT_MS, &cfg->list_timeout_ms, err, errlen) == -1)
		return -1;
	return config_long("CANDIDATES_THREADS", 1, THREADS_MAX,
	    THREADS_DEFAULT, &cfg->threads, err, errlen);
}
