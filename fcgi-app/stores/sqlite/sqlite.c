/*
 * The embedded store: one SQLite file in WAL mode, one row per name.
 * Every worker reads through its own connection, and WAL lets those
 * readers run beside the writer. Every write goes through one connection
 * that the workers share under a mutex, for reasons measured under load:
 *
 * - SQLite lets one transaction write at a time anyway. Workers racing
 *   for that lock on their own connections sleep in the busy handler and
 *   retry; a mutex queues them and wakes the next one at once.
 * - The WAL can only start over from its beginning when no other
 *   connection holds a read lock. With 16 writers there always is one, so
 *   under steady writes the WAL grew without end (60 MB in 4 s) and every
 *   commit past the checkpoint threshold ran a checkpoint, two fsyncs.
 * - A connection whose file another connection changed throws its page
 *   cache away. The one writer's cache stays valid from commit to commit,
 *   so an insert reads no page back.
 *
 * Other processes on the same file are still waited for by the busy
 * handler, within the store call's deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "config.h"
#include "deadline.h"
#include "store.h"

#define SQLITE_PATH_DEFAULT	"/var/lib/candidates/candidates.db"
/* How often a listing looks at its deadline, in rows. */
#define LIST_CHECK_ROWS		1024

static const char *db_path;
/* How long opening a connection may wait for another process's lock. */
static long open_busy_ms;

/* The one writing connection; lock is held for the whole of a put. */
static struct {
	pthread_mutex_t	 lock;
	sqlite3		*db;
	sqlite3_stmt	*put;
} writer = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct store {
	sqlite3		*db;
	sqlite3_stmt	*get;
	sqlite3_stmt	*list;
	sqlite3_stmt	*version;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS candidates ("
	"  CandidateName TEXT PRIMARY KEY NOT NULL"
	") WITHOUT ROWID;";

/*
 * Busy, locked or failing I/O may pass: 503. Anything else is the store
 * refusing (read-only, full, corrupt): 500 for a write.
 */
static enum store_status
failure(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "sqlite %s: %s", what, sqlite3_errmsg(db));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
		return STORE_UNAVAILABLE;
	default:
		return STORE_REFUSED;
	}
}

/*
 * The busy handler waits for another process's lock at most what is left
 * of the call (at least 1 ms: 0 would mean not at all).
 */
static void
busy_until(sqlite3 *db, const struct deadline *dl)
{
	long	 left = deadline_left_ms(dl);

	sqlite3_busy_timeout(db, left > 1 ? (int)left : 1);
}

static int
open_connection(sqlite3 **db, char *err, size_t errlen)
{
	int	 rc;

	/*
	 * One thread at a time uses a connection (a worker its own, any
	 * worker the writer under its lock): no SQLite mutexes needed.
	 */
	rc = sqlite3_open_v2(db_path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "CANDIDATES_SQLITE_PATH %s: %s", db_path,
		    *db != NULL ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(*db, (int)open_busy_ms);
	/*
	 * NORMAL is durable across a crash of this process in WAL mode and
	 * saves an fsync per write; a small page cache keeps the RSS down.
	 */
	if (sqlite3_exec(*db, "PRAGMA synchronous=NORMAL;"
	    "PRAGMA cache_size=-512;", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "CANDIDATES_SQLITE_PATH %s: %s", db_path,
		    sqlite3_errmsg(*db));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

static void
writer_close(void)
{
	sqlite3_finalize(writer.put);
	sqlite3_close(writer.db);
	writer.put = NULL;
	writer.db = NULL;
}

/*
 * The writer, opened by the first worker thread that opens the store. Not
 * in setup: setup runs in the process that forks the workers, and a SQLite
 * connection must never cross a fork (its POSIX locks stay behind).
 */
static int
writer_open(char *err, size_t errlen)
{
	int	 rc = 0;

	if (pthread_mutex_lock(&writer.lock) != 0) {
		snprintf(err, errlen, "sqlite: cannot take the writer's lock");
		return -1;
	}
	if (writer.db == NULL && (open_connection(&writer.db, err, errlen) == -1 ||
	    sqlite3_prepare_v2(writer.db, "INSERT OR IGNORE INTO candidates "
	    "(CandidateName) VALUES (?1)", -1, &writer.put, NULL) !=
	    SQLITE_OK)) {
		if (writer.db != NULL)
			snprintf(err, errlen, "sqlite prepare: %s",
			    sqlite3_errmsg(writer.db));
		writer_close();
		rc = -1;
	}
	pthread_mutex_unlock(&writer.lock);
	return rc;
}

/* Checks the settings and creates the table, once, before any worker. */
static int
sqlite_setup(const struct config *cfg, char *err, size_t errlen)
{
	sqlite3	*db;
	char	*msg = NULL;

	db_path = config_str("CANDIDATES_SQLITE_PATH", SQLITE_PATH_DEFAULT);
	open_busy_ms = cfg->timeout_ms;
	/*
	 * Each connection's page cache would start with a block of 20 pages
	 * (88 KB), touched at once whether used or not: 0.75 MB of the app's
	 * RSS with 17 connections (tests/bench/rss.sh). Without it pages come
	 * as needed. SQLite takes this only before the first open initialises
	 * it; refused, it costs that memory and nothing else.
	 */
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	if (open_connection(&db, err, errlen) == -1)
		return -1;
	if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "CANDIDATES_SQLITE_PATH %s: %s", db_path,
		    msg != NULL ? msg : "cannot create the table");
		sqlite3_free(msg);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_close(db);
	return 0;
}

static void
sqlite_teardown(void)
{
	writer_close();
}

static void
sqlite_close(struct store *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->list);
	sqlite3_finalize(s->version);
	sqlite3_close(s->db);
	free(s);
}

static int
sqlite_open(struct store **out, char *err, size_t errlen)
{
	struct store	*s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "sqlite: out of memory");
		return -1;
	}
	if (writer_open(err, errlen) == -1 ||
	    open_connection(&s->db, err, errlen) == -1) {
		free(s);
		return -1;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM candidates "
	    "WHERE CandidateName = ?1", -1, &s->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT CandidateName FROM candidates",
	    -1, &s->list, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &s->version,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "sqlite prepare: %s",
		    sqlite3_errmsg(s->db));
		sqlite_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

static enum store_status
sqlite_get(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st;
	int			 rc;

	busy_until(s->db, dl);
	rc = sqlite3_bind_text(s->get, 1, name, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->get);
	if (rc == SQLITE_ROW)
		st = STORE_OK;
	else if (rc == SQLITE_DONE)
		st = STORE_NOT_FOUND;
	else
		st = failure(s->db, rc, "get", err, errlen);
	sqlite3_reset(s->get);
	sqlite3_clear_bindings(s->get);
	return st;
}

/*
 * The deadline covers the whole call: the wait for this process's other
 * writes (the mutex), then the busy handler's wait for another process,
 * which gets what is left of it.
 */
static enum store_status
sqlite_put(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st = STORE_OK;
	int			 rc;

	(void)s;
	if ((rc = pthread_mutex_clocklock(&writer.lock, CLOCK_MONOTONIC,
	    &dl->end)) != 0) {
		snprintf(err, errlen, "sqlite put: %s", rc == ETIMEDOUT ?
		    "timed out behind this process's other writes" :
		    "cannot take the writer's lock");
		return STORE_UNAVAILABLE;
	}
	busy_until(writer.db, dl);
	/* The item is only its key, so insert-or-ignore is an upsert. */
	rc = sqlite3_bind_text(writer.put, 1, name, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(writer.put);
	if (rc != SQLITE_DONE)
		st = failure(writer.db, rc, "put", err, errlen);
	sqlite3_reset(writer.put);
	sqlite3_clear_bindings(writer.put);
	pthread_mutex_unlock(&writer.lock);
	return st;
}

static enum store_status
sqlite_list(struct store *s, store_name_fn fn, void *ctx,
    const struct deadline *dl, char *err, size_t errlen)
{
	enum store_status	 st = STORE_OK;
	const unsigned char	*name;
	unsigned long		 rows = 0;
	int			 rc, n;

	busy_until(s->db, dl);
	while ((rc = sqlite3_step(s->list)) == SQLITE_ROW) {
		if (++rows % LIST_CHECK_ROWS == 0 &&
		    deadline_left_ms(dl) == 0) {
			snprintf(err, errlen, "sqlite list: deadline passed "
			    "after %lu rows", rows);
			st = STORE_UNAVAILABLE;
			break;
		}
		name = sqlite3_column_text(s->list, 0);
		n = sqlite3_column_bytes(s->list, 0);
		if (name == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (fn(ctx, (const char *)name, (size_t)n) != 0) {
			snprintf(err, errlen, "sqlite list: stopped by caller");
			st = STORE_UNAVAILABLE;
			break;
		}
	}
	if (st == STORE_OK && rc != SQLITE_DONE)
		st = failure(s->db, rc, "list", err, errlen);
	sqlite3_reset(s->list);
	return st;
}

/*
 * PRAGMA data_version of this worker's reading connection: it changes
 * whenever another connection commits, and every write goes through
 * another (the shared writer, or another process's), so it changes with
 * every change to the names.
 */
static int
sqlite_version(struct store *s, unsigned long long *out)
{
	int	 rc = -1;

	if (sqlite3_step(s->version) == SQLITE_ROW) {
		*out = (unsigned long long)sqlite3_column_int64(s->version, 0);
		rc = 0;
	}
	sqlite3_reset(s->version);
	return rc;
}

const struct store_ops store_sqlite = {
	.name = "sqlite",
	.setup = sqlite_setup,
	.teardown = sqlite_teardown,
	.open = sqlite_open,
	.close = sqlite_close,
	.get = sqlite_get,
	.put = sqlite_put,
	.list = sqlite_list,
	.instance_id = NULL,
	.version = sqlite_version,
	.local = 1,
};
