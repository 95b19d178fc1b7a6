#include "store.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * Where modules are installed, relative to the executable's directory
 * unless absolute: `make install` puts PREFIX/bin/candidates and
 * PREFIX/lib/candidates/ side by side, whatever PREFIX is.
 */
#ifndef STORE_MODULE_DIR
#define STORE_MODULE_DIR "../lib/candidates"
#endif

/*
 * Every backend by its CANDIDATES_STORE value. SQLite is compiled in. The
 * cloud stores are modules, loaded only when chosen: libcurl and OpenSSL
 * drag in some thirty libraries whose relocated pages would cost every
 * SQLite server megabytes of memory (tests/bench/rss.sh shows it).
 */
static const struct {
	const char		*name;
	const struct store_ops	*ops;	/* NULL: in store_<name>.so */
} stores[] = {
	{ "sqlite", &store_sqlite },
	{ "dynamodb", NULL },
	{ "cosmos", NULL },
	{ "firestore", NULL },
};

/* "sqlite, dynamodb, ...": every value, for messages. */
static void
store_names(char *out, size_t outlen)
{
	size_t	 i, n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		size_t	len = strlen(stores[i].name);

		if (n + len + 3 > outlen)
			break;
		if (i > 0) {
			memcpy(out + n, ", ", 2);
			n += 2;
		}
		memcpy(out + n, stores[i].name, len + 1);
		n += len;
	}
}

/*
 * Opens store_<name>.so from STORE_MODULE_DIR, else from beside the
 * executable, which is where the build tree keeps it (build/ and
 * build/san/ each pair the binary with modules built the same way). The
 * module stays loaded for the life of the process.
 */
static const struct store_ops *
load_module(const char *name, char *err, size_t errlen)
{
	const struct store_ops	*ops;
	const unsigned		*abi;
	char			 dirs[2][PATH_MAX], path[PATH_MAX], sym[64];
	void			*h;
	char			*slash;
	ssize_t			 n;
	size_t			 i;
	int			 len;

	n = readlink("/proc/self/exe", dirs[1], sizeof(dirs[1]) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "CANDIDATES_STORE %s: cannot find the "
		    "directory of this program: /proc/self/exe: %s", name,
		    n == 0 ? "empty" : strerror(errno));
		return NULL;
	}
	dirs[1][n] = '\0';
	if ((slash = strrchr(dirs[1], '/')) != NULL)
		*slash = '\0';
	len = snprintf(dirs[0], sizeof(dirs[0]), "%s%s%s",
	    STORE_MODULE_DIR[0] == '/' ? "" : dirs[1],
	    STORE_MODULE_DIR[0] == '/' ? "" : "/", STORE_MODULE_DIR);
	if (len < 0 || (size_t)len >= sizeof(dirs[0]))
		dirs[0][0] = '\0';
	for (i = 0; i < 2; i++) {
		len = snprintf(path, sizeof(path), "%s/store_%s.so", dirs[i],
		    name);
		if (dirs[i][0] == '\0' || len < 0 ||
		    (size_t)len >= sizeof(path) || access(path, F_OK) != 0)
			continue;
		/* RTLD_NOW: a missing library or symbol fails here, not later. */
		if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			snprintf(err, errlen, "CANDIDATES_STORE %s: %s", name,
			    dlerror());
			return NULL;
		}
		snprintf(sym, sizeof(sym), "store_%s_abi", name);
		if ((abi = dlsym(h, sym)) == NULL || *abi != STORE_ABI) {
			snprintf(err, errlen, "CANDIDATES_STORE %s: %s was "
			    "built for another version of candidates", name,
			    path);
			dlclose(h);
			return NULL;
		}
		snprintf(sym, sizeof(sym), "store_%s", name);
		if ((ops = dlsym(h, sym)) == NULL) {
			snprintf(err, errlen, "CANDIDATES_STORE %s: %s has no "
			    "symbol %s", name, path, sym);
			dlclose(h);
			return NULL;
		}
		return ops;
	}
	snprintf(err, errlen, "CANDIDATES_STORE %s: no store_%s.so in %s or "
	    "%s (make install puts it in PREFIX/lib/candidates)", name, name,
	    dirs[0], dirs[1]);
	return NULL;
}

const struct store_ops *
store_load(const char *value, char *err, size_t errlen)
{
	char	 names[128];
	size_t	 i;

	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		if (strcmp(stores[i].name, value) != 0)
			continue;
		if (stores[i].ops != NULL)
			return stores[i].ops;
		return load_module(stores[i].name, err, errlen);
	}
	store_names(names, sizeof(names));
	snprintf(err, errlen, "CANDIDATES_STORE must be one of: %s", names);
	return NULL;
}
