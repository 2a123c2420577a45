/* db.c: SQLite connections with quotapool's pragmas, and transactions. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"

static const char *const db_sync_modes[] = { "OFF", "NORMAL", "FULL", "EXTRA" };

sqlite3 *
db_open(const char *path, const struct db_opts *opts, enum qp_err *err,
    char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	const char *sync = "NORMAL";
	char sql[128];
	size_t i;
	int fd, flags, rc;

	*err = QP_OK;
	if (opts->synchronous != NULL) {
		sync = NULL;
		for (i = 0; i < sizeof(db_sync_modes) / sizeof(db_sync_modes[0]); i++)
			if (strcasecmp(opts->synchronous, db_sync_modes[i]) == 0)
				sync = db_sync_modes[i];
		if (sync == NULL) {
			snprintf(errbuf, errlen, "unknown synchronous mode '%s'",
			    opts->synchronous);
			*err = QP_EINVAL;
			return NULL;
		}
	}
	if (!opts->readonly && strcmp(path, ":memory:") != 0) {
		/*
		 * Create the file ourselves so that it is 0600 whatever the
		 * umask, but only when it does not exist: closing a descriptor
		 * of an open database would drop this process's SQLite locks
		 * (POSIX releases every fcntl lock of a file on any close).
		 * ":memory:" is SQLite's in-memory database, not a file.
		 */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			snprintf(errbuf, errlen, "cannot open %s: %s", path,
			    strerror(errno));
			*err = QP_EIO;
			return NULL;
		}
		if (fd >= 0)
			close(fd);
	}
	flags = (opts->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
	    SQLITE_OPEN_NOMUTEX;

	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open database %s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (opts->occasional)
		sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
	sqlite3_busy_timeout(db, opts->busy_timeout_ms > 0 ?
	    opts->busy_timeout_ms : 5000);
	sqlite3_extended_result_codes(db, 1);
	if (!opts->readonly) {
		rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto sqlfail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
	    " PRAGMA temp_store=MEMORY", sync);
	if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlfail;
	return db;
sqlfail:
	snprintf(errbuf, errlen, "cannot set up database %s: %s", path,
	    sqlite3_errmsg(db));
fail:
	*err = QP_EDB;
	sqlite3_close_v2(db);
	return NULL;
}

void
db_close(sqlite3 *db)
{
	sqlite3_stmt *st;

	if (db == NULL)
		return;
	while ((st = sqlite3_next_stmt(db, NULL)) != NULL)
		sqlite3_finalize(st);
	sqlite3_close_v2(db);
}

/*
 * Write transactions of one process take turns on this lock, so its
 * connections never sleep in SQLite's busy handler waiting for each
 * other (that handler backs off in steps of up to 100 ms); only other
 * processes are waited for there. It is not tied to a thread: a
 * transaction may begin on one thread and commit on another
 * (db_write_lock()). The one process-wide state of this module.
 */
static pthread_mutex_t db_write_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t db_write_cv = PTHREAD_COND_INITIALIZER;
static int db_write_taken;
/* 1 while this thread holds the lock through db_begin_write(). */
static _Thread_local int db_write_held;
/* Savepoints this thread opened inside an open transaction. */
static _Thread_local int db_nested;

void
db_write_lock(void)
{

	pthread_mutex_lock(&db_write_mu);
	while (db_write_taken)
		pthread_cond_wait(&db_write_cv, &db_write_mu);
	db_write_taken = 1;
	pthread_mutex_unlock(&db_write_mu);
}

void
db_write_unlock(void)
{

	pthread_mutex_lock(&db_write_mu);
	db_write_taken = 0;
	pthread_cond_signal(&db_write_cv);
	pthread_mutex_unlock(&db_write_mu);
}

static void
db_write_release(void)
{

	if (db_write_held) {
		db_write_held = 0;
		db_write_unlock();
	}
}

enum qp_err
db_begin_write(sqlite3 *db)
{

	if (!sqlite3_get_autocommit(db)) {
		/* Inside an open transaction: a savepoint, undone alone on failure. */
		if (sqlite3_exec(db, "SAVEPOINT qp_nested", NULL, NULL, NULL) != SQLITE_OK)
			return QP_EDB;
		db_nested++;
		return QP_OK;
	}
	if (!db_write_held) {
		db_write_lock();
		db_write_held = 1;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
		return QP_OK;
	db_write_release();
	return QP_EDB;
}

enum qp_err
db_commit(sqlite3 *db)
{

	if (db_nested > 0) {
		db_nested--;
		if (sqlite3_exec(db, "RELEASE qp_nested", NULL, NULL, NULL) == SQLITE_OK)
			return QP_OK;
		return QP_EDB;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		db_write_release();
		return QP_OK;
	}
	db_rollback(db);
	return QP_EDB;
}

void
db_rollback(sqlite3 *db)
{

	if (db_nested > 0) {
		db_nested--;
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK TO qp_nested; RELEASE qp_nested",
			    NULL, NULL, NULL);
		return;
	}
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	db_write_release();
}

enum qp_err
db_prepare_all(sqlite3 *db, const char *const *sql, int n, sqlite3_stmt **out,
    char *errbuf, size_t errlen)
{
	int i, rc;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (i = 0; i < n; i++) {
		rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &out[i], NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errlen, "statement %d does not fit the "
			    "database: %s", i, sqlite3_errmsg(db));
			db_finalize_all(out, n);
			return (rc & 0xff) == SQLITE_ERROR ? QP_ESCHEMA : QP_EDB;
		}
	}
	return QP_OK;
}

void
db_finalize_all(sqlite3_stmt **stmts, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		sqlite3_finalize(stmts[i]);
		stmts[i] = NULL;
	}
}

int64_t
db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
db_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum qp_err
db_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}
