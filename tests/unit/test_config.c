/*
 * The settings main() reads once: every bad value refused with a line
 * that names its variable, every good one taken, defaults when unset.
 */
#include "unit.h"

#include <stdlib.h>

#include "config.h"

static const char *const vars[] = {
	"CANDIDATES_STORE", "CANDIDATES_THREADS", "CANDIDATES_TIMEOUT_MS",
	"CANDIDATES_CONNECT_TIMEOUT_MS", "CANDIDATES_LIST_TIMEOUT_MS",
};

static void
test_rows(void **state)
{
	static const struct {
		int		 line;
		const char	*var, *value;	/* NULL var: all unset */
		const char	*names;		/* NULL: accepted */
		long		 threads, timeout, connect, list;
	} rows[] = {
		{ __LINE__, NULL, NULL, NULL, 16, 5000, 1000, 20000 },
		{ __LINE__, "CANDIDATES_TIMEOUT_MS", "", NULL, 16, 5000, 1000,
		    20000 },
		{ __LINE__, "CANDIDATES_TIMEOUT_MS", "250", NULL, 16, 250, 1000,
		    20000 },
		{ __LINE__, "CANDIDATES_CONNECT_TIMEOUT_MS", "50", NULL, 16,
		    5000, 50, 20000 },
		{ __LINE__, "CANDIDATES_LIST_TIMEOUT_MS", "1", NULL, 16, 5000,
		    1000, 1 },
		{ __LINE__, "CANDIDATES_LIST_TIMEOUT_MS", "600000", NULL, 16,
		    5000, 1000, 600000 },
		{ __LINE__, "CANDIDATES_THREADS", "1024", NULL, 1024, 5000,
		    1000, 20000 },
		{ __LINE__, "CANDIDATES_TIMEOUT_MS", "0",
		    "CANDIDATES_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_TIMEOUT_MS", "5s",
		    "CANDIDATES_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_TIMEOUT_MS", "600001",
		    "CANDIDATES_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_CONNECT_TIMEOUT_MS", "-1",
		    "CANDIDATES_CONNECT_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_LIST_TIMEOUT_MS", "0",
		    "CANDIDATES_LIST_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_LIST_TIMEOUT_MS", "20 s",
		    "CANDIDATES_LIST_TIMEOUT_MS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_THREADS", "1025",
		    "CANDIDATES_THREADS", 0, 0, 0, 0 },
		{ __LINE__, "CANDIDATES_STORE", "mongodb",
		    "CANDIDATES_STORE", 0, 0, 0, 0 },
	};
	size_t	 i, v;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config	 cfg;
		char		 err[256] = "";
		int		 rc;

		for (v = 0; v < sizeof(vars) / sizeof(vars[0]); v++)
			unsetenv(vars[v]);
		if (rows[i].var != NULL)
			setenv(rows[i].var, rows[i].value, 1);
		memset(&cfg, 0, sizeof(cfg));
		rc = config_read(&cfg, err, sizeof(err));
		if (rows[i].names != NULL) {
			if (rc != -1 || strstr(err, rows[i].names) == NULL)
				ROW_FAIL(rows[i].line, "rc %d, '%s' does not "
				    "name %s", rc, err, rows[i].names);
			continue;
		}
		if (rc != 0)
			ROW_FAIL(rows[i].line, "refused: %s", err);
		if (cfg.threads != rows[i].threads ||
		    cfg.timeout_ms != rows[i].timeout ||
		    cfg.connect_timeout_ms != rows[i].connect ||
		    cfg.list_timeout_ms != rows[i].list ||
		    strcmp(cfg.store->name, "sqlite") != 0)
			ROW_FAIL(rows[i].line, "got %ld %ld %ld %ld %s",
			    cfg.threads, cfg.timeout_ms, cfg.connect_timeout_ms,
			    cfg.list_timeout_ms, cfg.store->name);
	}
	for (v = 0; v < sizeof(vars) / sizeof(vars[0]); v++)
		unsetenv(vars[v]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
