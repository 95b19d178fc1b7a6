/*
 * The token cache every cloud store shares: when to refresh, who
 * refreshes, who waits; and, with threads and a fetch function that
 * counts, that one refresh serves them all, a failed one keeps the
 * current value while it lasts, and a rejected value is fetched again.
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cloud/token_cache.h"

static void
test_refresh_at(void **state)
{
	static const struct {
		int	 line;
		time_t	 fetched, expires, want;
	} rows[] = {
		/* Six hours: five minutes early. */
		{ __LINE__, 1000, 1000 + 21600, 1000 + 21600 - 300 },
		/* Ten seconds: at half time, so tests see a refresh at 5 s. */
		{ __LINE__, 1000, 1010, 1005 },
		/* Ten minutes: half is 300, so exactly 300 early. */
		{ __LINE__, 1000, 1600, 1300 },
		{ __LINE__, 1000, 1601, 1301 },
		/* Odd or expired ones: no sooner than a second from now. */
		{ __LINE__, 1000, 1001, 1001 },
		{ __LINE__, 1000, 1000, 1001 },
		{ __LINE__, 1000, 900, 1001 },
		{ __LINE__, 1000, 1003, 1002 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t got = token_refresh_at(rows[i].fetched,
		    rows[i].expires);

		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %lld want %lld",
			    (long long)got, (long long)rows[i].want);
	}
}

static void
test_next_try(void **state)
{
	static const struct {
		int	 line;
		time_t	 now;
		int	 have;
		time_t	 expires, want;
	} rows[] = {
		{ __LINE__, 1000, 0, 0, 1001 },		/* nothing: 1 s */
		{ __LINE__, 1000, 1, 900, 1001 },	/* expired: 1 s */
		{ __LINE__, 1000, 1, 1005, 1001 },	/* 5 s left: 1 s */
		{ __LINE__, 1000, 1, 1100, 1025 },	/* a quarter */
		{ __LINE__, 1000, 1, 1300, 1060 },	/* at most a minute */
		{ __LINE__, 1000, 1, 99999, 1060 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t got = token_next_try(rows[i].now, rows[i].have,
		    rows[i].expires);

		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %lld", (long long)got);
	}
}

static void
test_plan(void **state)
{
	static const struct {
		int		 line;
		int		 have, refreshing;
		time_t		 expires, refresh_at, next_try, now;
		enum token_step	 want;
	} rows[] = {
		/* Nothing yet: the first caller refreshes. */
		{ __LINE__, 0, 0, 0, 0, 0, 1000, TOKEN_REFRESH },
		/* ... and the others wait for it. */
		{ __LINE__, 0, 1, 0, 0, 0, 1000, TOKEN_WAIT },
		{ __LINE__, 1, 0, 2000, 1500, 0, 1000, TOKEN_USE },
		/* Due: one refreshes, the others keep using the old one. */
		{ __LINE__, 1, 0, 2000, 1500, 0, 1500, TOKEN_REFRESH },
		{ __LINE__, 1, 1, 2000, 1500, 0, 1600, TOKEN_USE },
		/* Expired while refreshing: wait. */
		{ __LINE__, 1, 1, 2000, 1500, 0, 2000, TOKEN_WAIT },
		/* A failed refresh: no new try before next_try. */
		{ __LINE__, 1, 0, 2000, 1500, 1700, 1600, TOKEN_USE },
		{ __LINE__, 1, 0, 2000, 1500, 1700, 1700, TOKEN_REFRESH },
		{ __LINE__, 0, 0, 0, 0, 1001, 1000, TOKEN_FAIL },
		{ __LINE__, 1, 0, 900, 800, 1001, 1000, TOKEN_FAIL },
		{ __LINE__, 0, 0, 0, 0, 1001, 1001, TOKEN_REFRESH },
	};
	struct token_cache	 c;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum token_step	 got;

		memset(&c, 0, sizeof(c));
		c.have = rows[i].have;
		c.refreshing = rows[i].refreshing;
		c.expires = rows[i].expires;
		c.refresh_at = rows[i].refresh_at;
		c.next_try = rows[i].next_try;
		if ((got = token_plan(&c, rows[i].now)) != rows[i].want)
			ROW_FAIL(rows[i].line, "got %d want %d", got,
			    rows[i].want);
	}
}

/* A fetch that counts, takes a while, and can be told to fail. */
static struct {
	atomic_int	 calls;
	atomic_int	 fail;
	atomic_long	 lifetime;	/* seconds */
	atomic_int	 serial;
} fetcher;

struct value {
	char	 token[32];
};

static int
fetch(void *arg, struct http_client *hc, const struct deadline *dl,
    void *out, time_t *expires, char *err, size_t errlen)
{
	struct value	*v = out;

	(void)arg, (void)hc, (void)dl;
	atomic_fetch_add(&fetcher.calls, 1);
	usleep(50 * 1000);
	if (atomic_load(&fetcher.fail)) {
		snprintf(err, errlen, "the token service is down");
		return -1;
	}
	snprintf(v->token, sizeof(v->token), "token-%d",
	    atomic_fetch_add(&fetcher.serial, 1));
	*expires = time(NULL) + atomic_load(&fetcher.lifetime);
	return 0;
}

struct getter {
	struct token_cache	*cache;
	struct value		 got;
	int			 rc;
};

static void *
get_one(void *arg)
{
	struct getter	*g = arg;
	struct deadline	 dl;
	char		 err[256];

	deadline_start(&dl, 5000);
	g->rc = token_cache_get(g->cache, NULL, &dl, &g->got, err,
	    sizeof(err));
	return NULL;
}

/* Sixteen threads at once: one fetch, and every one has its value. */
static void
test_one_fetch_for_all(void **state)
{
	struct token_cache	 c;
	struct getter		 g[16];
	pthread_t		 t[16];
	char			 err[128];
	size_t			 i;

	(void)state;
	memset(&fetcher, 0, sizeof(fetcher));
	atomic_store(&fetcher.lifetime, 3600);
	assert_int_equal(token_cache_init(&c, "test token", sizeof(struct value),
	    fetch, NULL, err, sizeof(err)), 0);
	for (i = 0; i < 16; i++) {
		g[i].cache = &c;
		assert_int_equal(pthread_create(&t[i], NULL, get_one, &g[i]), 0);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(g[i].rc, 0);
		assert_string_equal(g[i].got.token, "token-0");
	}
	assert_int_equal(atomic_load(&fetcher.calls), 1);
	token_cache_destroy(&c);
}

/*
 * Due for a refresh and the service down: the current value is kept
 * while it lasts and the service is not asked again at once; rejected,
 * it is fetched again on the next get.
 */
static void
test_failure_and_rejection(void **state)
{
	struct token_cache	 c;
	struct getter		 g = { NULL, { "" }, -1 };
	struct value		 old;
	char			 err[128];

	(void)state;
	memset(&fetcher, 0, sizeof(fetcher));
	/* Ten seconds: refreshed at five. */
	atomic_store(&fetcher.lifetime, 10);
	assert_int_equal(token_cache_init(&c, "test token", sizeof(struct value),
	    fetch, NULL, err, sizeof(err)), 0);
	g.cache = &c;
	get_one(&g);
	assert_int_equal(g.rc, 0);
	old = g.got;
	/* Make it due now, with the service down. */
	c.refresh_at = time(NULL) - 1;
	atomic_store(&fetcher.fail, 1);
	get_one(&g);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.got.token, old.token);
	assert_int_equal(atomic_load(&fetcher.calls), 2);
	get_one(&g);
	/* Within next_try: not asked again. */
	assert_int_equal(atomic_load(&fetcher.calls), 2);
	assert_string_equal(g.got.token, old.token);
	/* Back up, and the service says the value is no good. */
	atomic_store(&fetcher.fail, 0);
	assert_int_equal(token_cache_rejected(&c, &old), 1);
	get_one(&g);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.got.token, "token-1");
	assert_int_equal(atomic_load(&fetcher.calls), 3);
	/* A second report about the old value changes nothing. */
	assert_int_equal(token_cache_rejected(&c, &old), 1);
	get_one(&g);
	assert_string_equal(g.got.token, "token-1");
	assert_int_equal(atomic_load(&fetcher.calls), 3);
	token_cache_destroy(&c);
}

/* Nothing cached and the service down: a clear failure, no value. */
static void
test_nothing_to_keep(void **state)
{
	struct token_cache	 c;
	struct getter		 g = { NULL, { "x" }, 0 };
	char			 err[128];

	(void)state;
	memset(&fetcher, 0, sizeof(fetcher));
	atomic_store(&fetcher.fail, 1);
	assert_int_equal(token_cache_init(&c, "test token", sizeof(struct value),
	    fetch, NULL, err, sizeof(err)), 0);
	g.cache = &c;
	get_one(&g);
	assert_int_equal(g.rc, -1);
	assert_string_equal(g.got.token, "");
	token_cache_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_at),
		cmocka_unit_test(test_next_try),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_one_fetch_for_all),
		cmocka_unit_test(test_failure_and_rejection),
		cmocka_unit_test(test_nothing_to_keep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
