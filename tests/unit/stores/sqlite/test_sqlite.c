/*
 * The SQLite store on a real file: upserts and reads as a table, then the
 * properties its writer design promises. Sixteen workers writing at once
 * all succeed and lose nothing; a write another process reports done is
 * visible here at once; a write stuck behind another process's lock gives
 * up at its deadline however many writes queue behind it.
 */
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "store.h"

#define WRITERS		16
#define PER_WRITER	60
#define CHILD_PUTS	200

static char	 dir[] = "/tmp/candidates-unit-XXXXXX";
static char	 db[64];

/* The settings main() would read: only the store call's deadline. */
static struct config	 cfg;

/* A deadline for one store call, as the handler starts one per request. */
static const struct deadline *
call_dl(void)
{
	static _Thread_local struct deadline	 dl;

	deadline_start(&dl, cfg.timeout_ms);
	return &dl;
}

static void
fresh_db(long timeout_ms)
{
	char	 f[80];

	snprintf(db, sizeof(db), "%s/t.db", dir);
	snprintf(f, sizeof(f), "%s-wal", db);
	unlink(f);
	snprintf(f, sizeof(f), "%s-shm", db);
	unlink(f);
	unlink(db);
	assert_int_equal(setenv("CANDIDATES_SQLITE_PATH", db, 1), 0);
	cfg.timeout_ms = timeout_ms;
}

static struct store *
setup_and_open(void)
{
	struct store	*s;
	char		 err[256] = "";

	if (store_sqlite.setup(&cfg, err, sizeof(err)) == -1)
		fail_msg("setup: %s", err);
	if (store_sqlite.open(&s, err, sizeof(err)) == -1)
		fail_msg("open: %s", err);
	return s;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int
count_name(void *ctx, const char *name, size_t len)
{
	(void)name;
	(void)len;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t
count(struct store *s)
{
	size_t	 n = 0;
	char	 err[256];

	assert_int_equal(store_sqlite.list(s, count_name, &n, call_dl(), err,
	    sizeof(err)), STORE_OK);
	return n;
}

enum op { PUT, GET };

static const struct row {
	int			 line;
	enum op			 op;
	const char		*name;
	size_t			 len;
	enum store_status	 want;
} rows[] = {
	{ __LINE__, GET, "alice", 5, STORE_NOT_FOUND },
	{ __LINE__, PUT, "alice", 5, STORE_OK },
	{ __LINE__, GET, "alice", 5, STORE_OK },
	{ __LINE__, PUT, "alice", 5, STORE_OK },	/* an upsert */
	{ __LINE__, GET, "Alice", 5, STORE_NOT_FOUND },	/* exact */
	{ __LINE__, GET, "alic", 4, STORE_NOT_FOUND },
	{ __LINE__, PUT, "bobby", 3, STORE_OK },	/* the length rules */
	{ __LINE__, GET, "bob", 3, STORE_OK },
	{ __LINE__, GET, "bobby", 5, STORE_NOT_FOUND },
	{ __LINE__, PUT, "\xc3\xa9t\xc3\xa9", 6, STORE_OK },
	{ __LINE__, GET, "\xc3\xa9t\xc3\xa9", 6, STORE_OK },
};

static void
test_rows(void **state)
{
	struct store		*s;
	enum store_status	 got;
	char			 err[256];
	size_t			 i;

	(void)state;
	fresh_db(5000);
	s = setup_and_open();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err[0] = '\0';
		got = rows[i].op == PUT ?
		    store_sqlite.put(s, rows[i].name, rows[i].len, call_dl(), err,
		    sizeof(err)) :
		    store_sqlite.get(s, rows[i].name, rows[i].len, call_dl(), err,
		    sizeof(err));
		if (got != rows[i].want)
			ROW_FAIL(rows[i].line, "status %d, want %d (%s)", got,
			    rows[i].want, err);
	}
	assert_int_equal(count(s), 3);
	store_sqlite.close(s);
	store_sqlite.teardown();
}

struct writer_arg {
	int		 id;
	int		 failed;
	char		 err[256];
};

/* Like a worker: its own handle, one put after another. */
static void *
writer_main(void *p)
{
	struct writer_arg	*a = p;
	struct store		*s;
	char			 name[32];
	int			 i, n;

	if (store_sqlite.open(&s, a->err, sizeof(a->err)) == -1) {
		a->failed = -1;
		return NULL;
	}
	for (i = 0; i < PER_WRITER; i++) {
		/* Half the names are every writer's: upserts collide too. */
		n = i % 2 == 0 ? snprintf(name, sizeof(name), "w%d-%d", a->id,
		    i) : snprintf(name, sizeof(name), "shared-%d", i);
		if (store_sqlite.put(s, name, (size_t)n, call_dl(), a->err,
		    sizeof(a->err)) != STORE_OK) {
			a->failed = i + 1;
			break;
		}
	}
	store_sqlite.close(s);
	return NULL;
}

static void
run_writers(struct writer_arg *args, pthread_t *t)
{
	int	 i;

	for (i = 0; i < WRITERS; i++) {
		args[i].id = i;
		args[i].failed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, writer_main,
		    &args[i]), 0);
	}
}

static void
join_writers(struct writer_arg *args, pthread_t *t)
{
	int	 i;

	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (args[i].failed != 0)
			fail_msg("writer %d, put %d: %s", i, args[i].failed,
			    args[i].err);
	}
}

static void
check_writers(struct store *s)
{
	char	 name[32], err[256];
	int	 i, k, n;

	for (i = 0; i < WRITERS; i++)
		for (k = 0; k < PER_WRITER; k += 2) {
			n = snprintf(name, sizeof(name), "w%d-%d", i, k);
			if (store_sqlite.get(s, name, (size_t)n, call_dl(), err,
			    sizeof(err)) != STORE_OK)
				fail_msg("%s was lost", name);
		}
}

static void
test_writers(void **state)
{
	struct writer_arg	 args[WRITERS];
	pthread_t		 t[WRITERS];
	struct store		*s;

	(void)state;
	fresh_db(5000);
	s = setup_and_open();
	run_writers(args, t);
	join_writers(args, t);
	check_writers(s);
	assert_int_equal(count(s), WRITERS * PER_WRITER / 2 + PER_WRITER / 2);
	store_sqlite.close(s);
	store_sqlite.teardown();
}

/*
 * Another app process on the same file: it puts names and, after each
 * STORE_OK, writes the name's number down a pipe. The number must already
 * be readable here, while this process's own writers are busy too.
 */
static int
child_main(int go, int done)
{
	struct store	*s;
	char		 name[32], err[256], c;
	int		 i, n;

	if (read(go, &c, 1) != 1)
		return 2;
	if (store_sqlite.setup(&cfg, err, sizeof(err)) == -1 ||
	    store_sqlite.open(&s, err, sizeof(err)) == -1) {
		fprintf(stderr, "child: %s\n", err);
		return 3;
	}
	for (i = 0; i < CHILD_PUTS; i++) {
		n = snprintf(name, sizeof(name), "child-%d", i);
		if (store_sqlite.put(s, name, (size_t)n, call_dl(), err, sizeof(err)) !=
		    STORE_OK) {
			fprintf(stderr, "child: put %s: %s\n", name, err);
			return 4;
		}
		if (write(done, &i, sizeof(i)) != (ssize_t)sizeof(i))
			return 5;
	}
	store_sqlite.close(s);
	store_sqlite.teardown();
	return 0;
}

static void
test_two_processes(void **state)
{
	struct writer_arg	 args[WRITERS];
	pthread_t		 t[WRITERS];
	struct store		*s;
	char			 name[32], err[256];
	int			 go[2], done[2], i, n, status, seen = 0;
	pid_t			 pid;

	(void)state;
	fresh_db(5000);
	/* Before this process opens anything: SQLite state and fork mix badly. */
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	if ((pid = fork()) == 0) {
		close(go[1]);
		close(done[0]);
		_exit(child_main(go[0], done[1]));
	}
	assert_true(pid > 0);
	close(go[0]);
	close(done[1]);
	s = setup_and_open();
	assert_int_equal(write(go[1], "g", 1), 1);
	run_writers(args, t);
	while (read(done[0], &i, sizeof(i)) == (ssize_t)sizeof(i)) {
		assert_int_equal(i, seen);
		n = snprintf(name, sizeof(name), "child-%d", i);
		if (store_sqlite.get(s, name, (size_t)n, call_dl(), err, sizeof(err)) !=
		    STORE_OK)
			fail_msg("%s: done in the other process, not seen here",
			    name);
		seen++;
	}
	join_writers(args, t);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(seen, CHILD_PUTS);
	check_writers(s);
	assert_int_equal(count(s),
	    WRITERS * PER_WRITER / 2 + PER_WRITER / 2 + CHILD_PUTS);
	close(go[1]);
	close(done[0]);
	store_sqlite.close(s);
	store_sqlite.teardown();
}

#define DEADLINE_MS	200
/* Past the deadline: a loaded machine under the sanitizers. */
#define SLACK_MS	700
#define QUEUED		8

struct late_arg {
	struct store		*s;
	enum store_status	 st;
	long			 ms;
	char			 err[256];
};

static void *
late_main(void *p)
{
	struct late_arg	*a = p;
	struct timespec	 t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	a->st = store_sqlite.put(a->s, "late", 4, call_dl(), a->err, sizeof(a->err));
	a->ms = ms_since(&t0);
	return NULL;
}

/*
 * Another connection holds the write lock, as another process would. Each
 * put queued behind it answers unavailable at its own deadline, not after
 * the waits of the puts in front of it; once the lock goes, puts work.
 */
static void
test_deadline(void **state)
{
	struct late_arg	 a[QUEUED];
	pthread_t	 t[QUEUED];
	struct store	*s[QUEUED];
	sqlite3		*other;
	char		 err[256];
	int		 i;

	(void)state;
	fresh_db(200);
	s[0] = setup_and_open();
	for (i = 1; i < QUEUED; i++)
		if (store_sqlite.open(&s[i], err, sizeof(err)) == -1)
			fail_msg("open: %s", err);
	assert_int_equal(sqlite3_open(db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	for (i = 0; i < QUEUED; i++) {
		a[i].s = s[i];
		assert_int_equal(pthread_create(&t[i], NULL, late_main, &a[i]),
		    0);
	}
	for (i = 0; i < QUEUED; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (a[i].st != STORE_UNAVAILABLE)
			fail_msg("put %d: status %d, want unavailable", i,
			    a[i].st);
		if (a[i].ms < DEADLINE_MS - 20 ||
		    a[i].ms > DEADLINE_MS + SLACK_MS)
			fail_msg("put %d answered after %ld ms, deadline %d",
			    i, a[i].ms, DEADLINE_MS);
		if (a[i].err[0] == '\0')
			fail_msg("put %d: no reason given", i);
	}
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(store_sqlite.put(s[0], "late", 4, call_dl(), err, sizeof(err)),
	    STORE_OK);
	assert_int_equal(sqlite3_close(other), SQLITE_OK);
	for (i = 0; i < QUEUED; i++)
		store_sqlite.close(s[i]);
	store_sqlite.teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test(test_deadline),
	};
	int	 rc;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fresh_db(5000);
	rmdir(dir);
	return rc;
}
