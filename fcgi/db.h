/* db.h: opening SQLite connections and running write transactions. */
#ifndef QP_DB_H
#define QP_DB_H

#include <stdint.h>
#include <sqlite3.h>

#include "err.h"

/* How to open a connection. */
struct db_opts {
	int		 busy_timeout_ms;	/* wait this long for a lock */
	const char	*synchronous;		/* OFF, NORMAL, FULL or EXTRA; NULL = NORMAL */
	int		 readonly;		/* 1 = open read-only, never create */
	int		 occasional;		/* 1 = used now and then (maintenance): no
						   lookaside memory, about 120 KB less RSS */
};

/*
 * Opens (creating it 0600 if missing, unless readonly) the database at path
 * with WAL, the given synchronous mode, foreign keys on and a busy timeout.
 * Returns the connection, to be closed with db_close(), or NULL with *err
 * set and a reason in errbuf. One connection belongs to one thread.
 */
sqlite3		*db_open(const char *path, const struct db_opts *opts,
		    enum qp_err *err, char *errbuf, size_t errlen);

/* Closes a connection opened by db_open(), finalizing its statements. NULL is allowed. */
void		 db_close(sqlite3 *db);

/*
 * Starts a write transaction (BEGIN IMMEDIATE), waiting up to the busy
 * timeout for other processes. Thread-safe: the write transactions of
 * one process are serialized by one lock, held until db_commit() or
 * db_rollback(); a thread holds at most one write transaction at a time.
 * Called while a transaction of db is already open (work batched into
 * one transaction), it opens a savepoint instead, so the caller's
 * db_commit() or db_rollback() keeps or undoes only its own changes.
 */
enum qp_err	 db_begin_write(sqlite3 *db);

/*
 * The process's write lock that db_begin_write() takes, for a write
 * transaction managed by hand (BEGIN IMMEDIATE after db_write_lock(),
 * db_write_unlock() after COMMIT or ROLLBACK). Not tied to a thread: the
 * transaction may end on another thread than the one that began it.
 */
void		 db_write_lock(void);
void		 db_write_unlock(void);

/* Commits the transaction (or releases the savepoint) begun by db_begin_write(). */
enum qp_err	 db_commit(sqlite3 *db);

/*
 * Rolls back what the matching db_begin_write() began: the transaction,
 * or only the savepoint when nested. Safe to call when nothing is open.
 */
void		 db_rollback(sqlite3 *db);

/*
 * Prepares n constant SQL statements into out[0..n-1] (a module's statement
 * table). On failure, finalizes what was prepared, sets errbuf and returns
 * QP_ESCHEMA (the schema does not match the statement) or QP_EDB.
 */
enum qp_err	 db_prepare_all(sqlite3 *db, const char *const *sql, int n,
		    sqlite3_stmt **out, char *errbuf, size_t errlen);

/* Finalizes n statements of a statement table; NULL entries are skipped. */
void		 db_finalize_all(sqlite3_stmt **stmts, int n);

/* Milliseconds since the Unix epoch (wall clock), as stored in the database. */
int64_t		 db_now_ms(void);

/* Monotonic time in microseconds, for durations and deadlines within this process. */
int64_t		 db_mono_us(void);

/*
 * Steps a statement that returns no row once, then resets it and clears
 * its bindings. QP_OK when it finished, QP_EDB otherwise.
 */
enum qp_err	 db_step_done(sqlite3_stmt *st);

#endif /* QP_DB_H */
