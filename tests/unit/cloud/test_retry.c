/*
 * The shared retry policy: the jitter's bounds exhaustively, the wait cut
 * to the deadline instead of giving a retry up, and the retry quota that
 * an outage drains and successes fill again.
 */
#include "unit.h"

#include "cloud/retry.h"
#include "deadline.h"

/* Full jitter: always within [0, min(cap, base * 2^(n-1))]. */
static void
test_jitter_bounds(void **state)
{
	static const long bases[] = { 1, 100, 500, 7 };
	uint32_t	 rnd = 2463534242u;
	size_t		 b;
	int		 n, k;

	(void)state;
	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (n = 1; n <= 40; n++) {
			long ceiling = bases[b];
			int i;

			for (i = 1; i < n && ceiling < RETRY_CAP_MS; i++)
				ceiling *= 2;
			if (ceiling > RETRY_CAP_MS)
				ceiling = RETRY_CAP_MS;
			if (retry_ceiling_ms(n, bases[b], RETRY_CAP_MS) !=
			    ceiling)
				fail_msg("base %ld retry %d: ceiling %ld, want "
				    "%ld", bases[b], n, retry_ceiling_ms(n,
				    bases[b], RETRY_CAP_MS), ceiling);
			if (retry_jitter_ms(ceiling, 0) != 0 ||
			    retry_jitter_ms(ceiling, (uint32_t)ceiling) !=
			    ceiling)
				fail_msg("base %ld retry %d: ends of [0, %ld]",
				    bases[b], n, ceiling);
			for (k = 0; k < 2000; k++) {
				long w;

				rnd ^= rnd << 13;
				rnd ^= rnd >> 17;
				rnd ^= rnd << 5;
				w = retry_jitter_ms(ceiling, rnd);
				if (w < 0 || w > ceiling)
					fail_msg("base %ld retry %d: %ld "
					    "outside [0, %ld]", bases[b], n, w,
					    ceiling);
			}
		}
	assert_int_equal(retry_ceiling_ms(0, 100, 1000), 0);
	assert_int_equal(retry_ceiling_ms(1, 0, 1000), 0);
	assert_int_equal(retry_jitter_ms(0, 12345), 0);
}

/* The wait is cut to what the deadline leaves, keeping the attempt's. */
static void
test_fit(void **state)
{
	static const struct {
		int	 line;
		long	 wanted, left, want;
	} rows[] = {
		{ __LINE__, 100, 10000, 100 },
		{ __LINE__, 0, 10000, 0 },
		{ __LINE__, -5, 10000, 0 },
		/* Longer than the time left: wait what is left, then try. */
		{ __LINE__, 20000, 1000, 1000 - RETRY_ATTEMPT_MIN_MS },
		{ __LINE__, 951, 1000, 1000 - RETRY_ATTEMPT_MIN_MS },
		{ __LINE__, 950, 1000, 950 },
		/* No room for the attempt itself: give up. */
		{ __LINE__, 0, RETRY_ATTEMPT_MIN_MS, 0 },
		{ __LINE__, 0, RETRY_ATTEMPT_MIN_MS - 1, -1 },
		{ __LINE__, 10, 0, -1 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long got = retry_fit_ms(rows[i].wanted, rows[i].left);

		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "got %ld, want %ld", got,
			    rows[i].want);
	}
}

/*
 * A server's wait longer than the deadline leaves: the policy sleeps
 * what is left, not nothing, and the attempt still gets its turn.
 */
static void
test_waits_what_is_left(void **state)
{
	struct retry_quota	 q;
	struct retry		 r;
	struct deadline		 dl;
	char			 why[128];
	long			 t0, took;

	(void)state;
	retry_quota_init(&q, RETRY_QUOTA);
	deadline_start(&dl, 300);
	retry_begin(&r, &q, &dl, 0);
	retry_attempt(&r);
	t0 = mono_now_ms();
	assert_int_equal(retry_next(&r, RETRY_THROTTLED, 60000, why,
	    sizeof(why)), 1);
	took = mono_now_ms() - t0;
	if (took < 300 - RETRY_ATTEMPT_MIN_MS - 20 || took > 300)
		fail_msg("slept %ld ms of a 300 ms deadline", took);
	/* Now only the attempt's own time is left: no more waiting. */
	retry_attempt(&r);
	assert_int_equal(retry_next(&r, RETRY_TRANSIENT, -1, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "no time"));
}

/* At most max_attempts attempts, whatever the time. */
static void
test_attempts(void **state)
{
	struct retry_quota	 q;
	struct retry		 r;
	struct deadline		 dl;
	char			 why[128];

	(void)state;
	retry_quota_init(&q, RETRY_QUOTA);
	deadline_start(&dl, 60000);
	retry_begin(&r, &q, &dl, 0);
	retry_attempt(&r);
	assert_int_equal(retry_next(&r, RETRY_TRANSIENT, 0, why, sizeof(why)),
	    1);
	retry_attempt(&r);
	assert_int_equal(retry_next(&r, RETRY_TRANSIENT, 0, why, sizeof(why)),
	    1);
	retry_attempt(&r);
	assert_int_equal(retry_next(&r, RETRY_TRANSIENT, 0, why, sizeof(why)),
	    0);
	assert_non_null(strstr(why, "3 attempts"));
	assert_int_equal(r.attempts, RETRY_ATTEMPTS);
}

/*
 * The quota: an outage drains it at RETRY_COST a retry (a timeout
 * costs more), then calls make one attempt; each success gives back its
 * last retry's cost, or one token, up to the full bucket.
 */
static void
test_quota(void **state)
{
	struct retry_quota	 q;
	struct retry		 r;
	struct deadline		 dl;
	char			 why[128];
	int			 retries = 0, i;

	(void)state;
	retry_quota_init(&q, RETRY_QUOTA);
	deadline_start(&dl, 60000);
	for (i = 0; i < 1000; i++) {
		retry_begin(&r, &q, &dl, 1000);
		retry_attempt(&r);
		if (!retry_next(&r, RETRY_TRANSIENT, 0, why, sizeof(why)))
			break;
		retries++;
	}
	assert_int_equal(retries, RETRY_QUOTA / RETRY_COST);
	assert_non_null(strstr(why, "quota"));
	assert_int_equal(q.tokens, 0);
	/* A success without retries gives one token back. */
	retry_begin(&r, &q, &dl, 0);
	retry_attempt(&r);
	retry_done(&r);
	assert_int_equal(q.tokens, RETRY_NO_RETRY_REFUND);
	/* Timeouts cost more. */
	retry_quota_init(&q, RETRY_TIMEOUT_COST);
	retry_begin(&r, &q, &dl, 0);
	retry_attempt(&r);
	assert_int_equal(retry_next(&r, RETRY_TIMEOUT, 0, why, sizeof(why)),
	    1);
	assert_int_equal(q.tokens, 0);
	/* A success after a retry gives back what that retry took. */
	retry_attempt(&r);
	retry_done(&r);
	assert_int_equal(q.tokens, RETRY_TIMEOUT_COST);
	/* Never past the full bucket. */
	retry_quota_init(&q, RETRY_QUOTA);
	retry_quota_give(&q, 100);
	assert_int_equal(q.tokens, RETRY_QUOTA);
	assert_int_equal(retry_quota_take(&q, RETRY_QUOTA + 1), 0);
	assert_int_equal(q.tokens, RETRY_QUOTA);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_waits_what_is_left),
		cmocka_unit_test(test_attempts),
		cmocka_unit_test(test_quota),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
