/*
 * The holding parent's two decisions: how long to wait before the next
 * worker (a table, then the whole range of inputs), and what a worker's
 * end calls for (real children's wait statuses).
 */
#include "unit.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise.h"

struct delay_row {
	int	 line;
	long	 last;		/* the wait before the worker that died */
	long	 lived;		/* how long it lived */
	long	 want;
};

static const struct delay_row delay_rows[] = {
	/* A worker that lived: the next starts at once, whatever came before. */
	{ __LINE__, 0, 1000, 0 },
	{ __LINE__, 0, 86400000, 0 },
	{ __LINE__, 5000, 1000, 0 },
	{ __LINE__, 1600, 999999, 0 },
	/* One that died young: 100 ms, doubling, up to 5 s. */
	{ __LINE__, 0, 0, 100 },
	{ __LINE__, 0, 999, 100 },
	{ __LINE__, 100, 5, 200 },
	{ __LINE__, 200, 5, 400 },
	{ __LINE__, 400, 5, 800 },
	{ __LINE__, 800, 5, 1600 },
	{ __LINE__, 1600, 5, 3200 },
	{ __LINE__, 2500, 5, 5000 },
	{ __LINE__, 3200, 5, 5000 },
	{ __LINE__, 5000, 5, 5000 },
	{ __LINE__, 5000, 999, 5000 },
	/* Clock steps or odd inputs never give a wait outside the bounds. */
	{ __LINE__, -1, 5, 100 },
	{ __LINE__, 99, 5, 100 },
	{ __LINE__, 0, -5, 100 },
	{ __LINE__, 1L << 40, 5, 5000 },
};

static void
test_delay_rows(void **state)
{
	size_t	 i;
	long	 got;

	(void)state;
	for (i = 0; i < sizeof(delay_rows) / sizeof(delay_rows[0]); i++) {
		const struct delay_row *r = &delay_rows[i];

		got = supervise_delay(r->last, r->lived);
		if (got != r->want)
			ROW_FAIL(r->line, "last %ld, lived %ld: %ld ms, want %ld",
			    r->last, r->lived, got, r->want);
	}
}

/*
 * Every wait up to past the maximum, and lives around the threshold: a
 * death after a stable life is 0, any other is within the bounds and
 * never shorter than the wait before (a crash loop only slows down).
 */
static void
test_delay_range(void **state)
{
	long	 last, lived, got;

	(void)state;
	for (last = 0; last <= 2 * SUPERVISE_DELAY_MAX_MS; last++) {
		for (lived = SUPERVISE_STABLE_MS - 2;
		    lived <= SUPERVISE_STABLE_MS + 1; lived++) {
			got = supervise_delay(last, lived);
			if (lived >= SUPERVISE_STABLE_MS) {
				if (got != 0)
					fail_msg("last %ld, lived %ld: %ld",
					    last, lived, got);
				continue;
			}
			if (got < SUPERVISE_DELAY_MIN_MS ||
			    got > SUPERVISE_DELAY_MAX_MS ||
			    (got < last && last <= SUPERVISE_DELAY_MAX_MS))
				fail_msg("last %ld, lived %ld: %ld", last,
				    lived, got);
		}
	}
}

/* From nothing, a loop of quick deaths reaches the cap and stays there. */
static void
test_delay_sequence(void **state)
{
	static const long	 want[] = { 100, 200, 400, 800, 1600, 3200,
				    5000, 5000 };
	long			 last = 0;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		last = supervise_delay(last, 3);
		if (last != want[i])
			fail_msg("death %zu: %ld ms, want %ld", i + 1, last,
			    want[i]);
	}
}

enum end { EXIT_WITH, KILLED_BY };

struct verdict_row {
	int			 line;
	enum end		 how;
	int			 value;		/* exit status or signal */
	enum supervise_next	 want;
	int			 want_status;
};

static const struct verdict_row verdict_rows[] = {
	/*
	 * Exit 0 unasked (a SIGTERM sent to the worker alone): the service
	 * must go on, so another worker starts.
	 */
	{ __LINE__, EXIT_WITH, 0, SUPERVISE_RESTART, 1 },
	/* A failed start's 1: the parent exits with it, systemd decides. */
	{ __LINE__, EXIT_WITH, 1, SUPERVISE_STOP, 1 },
	{ __LINE__, EXIT_WITH, 99, SUPERVISE_STOP, 99 },	/* valgrind's */
	{ __LINE__, EXIT_WITH, 255, SUPERVISE_STOP, 255 },
	/* kill -9, the OOM killer, a crash: another worker. */
	{ __LINE__, KILLED_BY, SIGKILL, SUPERVISE_RESTART, 1 },
	{ __LINE__, KILLED_BY, SIGTERM, SUPERVISE_RESTART, 1 },
	{ __LINE__, KILLED_BY, SIGHUP, SUPERVISE_RESTART, 1 },
	{ __LINE__, KILLED_BY, SIGUSR1, SUPERVISE_RESTART, 1 },
};

static void
test_verdict_rows(void **state)
{
	size_t			 i;
	pid_t			 pid;
	int			 wstatus, status;
	enum supervise_next	 got;

	(void)state;
	for (i = 0; i < sizeof(verdict_rows) / sizeof(verdict_rows[0]); i++) {
		const struct verdict_row *r = &verdict_rows[i];

		if ((pid = fork()) == -1)
			ROW_FAIL(r->line, "fork failed");
		if (pid == 0) {
			if (r->how == KILLED_BY) {
				signal(r->value, SIG_DFL);
				kill(getpid(), r->value);
			}
			_exit(r->value);
		}
		if (waitpid(pid, &wstatus, 0) != pid)
			ROW_FAIL(r->line, "waitpid failed");
		status = -1;
		got = supervise_verdict(wstatus, &status);
		if (got != r->want || status != r->want_status)
			ROW_FAIL(r->line, "wait status %#x: next %d status %d, "
			    "want %d and %d", wstatus, got, status, r->want,
			    r->want_status);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_rows),
		cmocka_unit_test(test_delay_range),
		cmocka_unit_test(test_delay_sequence),
		cmocka_unit_test(test_verdict_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
