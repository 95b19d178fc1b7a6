/*
 * The embedded store: one SQLite file in WAL mode, one row per name, one
 * connection per worker thread. WAL lets readers run beside the single
 * writer; the busy timeout turns writer contention into a short wait.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "config.h"
#include "store.h"

#define SQLITE_PATH_DEFAULT	"/var/lib/candidates/candidates.db"
static const char *db_path;
/* How long a writer waits for the lock: the store call's deadline. */
static long busy_timeout_ms;

struct store {
	sqlite3		*db;
	sqlite3_stmt	*get;
	sqlite3_stmt	*put;
	sqlite3_stmt	*list;
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

static int
connect(sqlite3 **db, char *err, size_t errlen)
{
	int	 rc;

	/* Each connection belongs to one thread: no SQLite mutexes needed. */
	rc = sqlite3_open_v2(db_path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "CANDIDATES_SQLITE_PATH %s: %s", db_path,
		    *db != NULL ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(*db, (int)busy_timeout_ms);
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

static int
sqlite_setup(char *err, size_t errlen)
{
	sqlite3	*db;
	char	*msg = NULL;
	long	 connect_timeout_ms;

	db_path = config_str("CANDIDATES_SQLITE_PATH", SQLITE_PATH_DEFAULT);
	if (config_timeouts(&busy_timeout_ms, &connect_timeout_ms, err,
	    errlen) == -1)
		return -1;
	if (connect(&db, err, errlen) == -1)
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
}

static void
sqlite_close(struct store *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->list);
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
	if (connect(&s->db, err, errlen) == -1) {
		free(s);
		return -1;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM candidates "
	    "WHERE CandidateName = ?1", -1, &s->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO candidates "
	    "(CandidateName) VALUES (?1)", -1, &s->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT CandidateName FROM candidates",
	    -1, &s->list, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "sqlite prepare: %s",
		    sqlite3_errmsg(s->db));
		sqlite_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

static enum store_status
sqlite_get(struct store *s, const char *name, size_t len, char *err,
    size_t errlen)
{
	enum store_status	 st;
	int			 rc;

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

static enum store_status
sqlite_put(struct store *s, const char *name, size_t len, char *err,
    size_t errlen)
{
	enum store_status	 st = STORE_OK;
	int			 rc;

	/* The item is only its key, so insert-or-ignore is an upsert. */
	rc = sqlite3_bind_text(s->put, 1, name, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->put);
	if (rc != SQLITE_DONE)
		st = failure(s->db, rc, "put", err, errlen);
	sqlite3_reset(s->put);
	sqlite3_clear_bindings(s->put);
	return st;
}

static enum store_status
sqlite_list(struct store *s, store_name_fn fn, void *ctx, char *err,
    size_t errlen)
{
	enum store_status	 st = STORE_OK;
	const unsigned char	*name;
	int			 rc, n;


	while ((rc = sqlite3_step(s->list)) == SQLITE_ROW) {
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
};
