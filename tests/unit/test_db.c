/* test_db.c: write transactions nest as savepoints, and the write lock passes between threads. */
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"

static char tmpdir[] = "/tmp/qp-test-db-XXXXXX";

/* Rows in t, or -1 on error. */
static int
rows(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int
insert(sqlite3 *db, int v)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d)", v);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

struct locker {
	int	 got;		/* 1 once db_write_lock() returned */
	int	 release;	/* 1: unlock it (from this other thread) */
	long	 tid;		/* the taker's thread id, set before it asks */
};

static void *
lock_taker(void *arg)
{
	struct locker *l = arg;

	__atomic_store_n(&l->tid, (long)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	db_write_lock();
	__atomic_store_n(&l->got, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* The scheduler state letter of thread tid of this process ('?' if unknown). */
static char
thread_state(long tid)
{
	char path[64], buf[512], *p, st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	if ((f = fopen(path, "r")) == NULL)
		return st;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    p[1] == ' ')
		st = p[2];
	fclose(f);
	return st;
}

/*
 * Waits (up to 10 s) until the taker has asked for the lock and is asleep
 * in it (state S: the only way it can sleep after setting its tid is on the
 * lock's futex), or got it. Returns 1 if it is asleep without the lock.
 */
static int
taker_blocked(struct locker *l)
{
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	long tid;
	int i;

	for (i = 0; i < 5000; i++) {
		if (__atomic_load_n(&l->got, __ATOMIC_SEQ_CST))
			return 0;
		tid = __atomic_load_n(&l->tid, __ATOMIC_SEQ_CST);
		if (tid != 0 && thread_state(tid) == 'S')
			return !__atomic_load_n(&l->got, __ATOMIC_SEQ_CST);
		nanosleep(&pause, NULL);
	}
	return 0;
}

static void *
lock_releaser(void *arg)
{

	(void)arg;
	db_write_unlock();
	return NULL;
}

int
main(void)
{
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct locker l = { 0, 0, 0 };
	pthread_t th;
	char path[600], errbuf[256];
	enum qp_err err;
	sqlite3 *db, *other;
	int i;

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/db.sqlite", tmpdir);
	db = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	other = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || other == NULL) {
		printf("Bail out! db_open: %s\n", errbuf);
		return 1;
	}
	ok(sqlite3_exec(db, "CREATE TABLE t (v INTEGER)", NULL, NULL, NULL) == SQLITE_OK,
	    "table created");

	/* A plain transaction. */
	is_int(db_begin_write(db), QP_OK, "begin");
	ok(!sqlite3_get_autocommit(db), "a transaction is open");
	insert(db, 1);
	is_int(db_commit(db), QP_OK, "commit");
	ok(sqlite3_get_autocommit(db), "no transaction open after commit");
	is_int(rows(other), 1, "another connection sees the committed row");

	/* Nested: the inner rollback undoes only the inner changes. */
	is_int(db_begin_write(db), QP_OK, "outer begin");
	insert(db, 2);
	is_int(db_begin_write(db), QP_OK, "inner begin (a savepoint)");
	insert(db, 3);
	is_int(rows(db), 3, "the inner row is seen inside");
	db_rollback(db);
	ok(!sqlite3_get_autocommit(db), "the outer transaction stays open after an inner rollback");
	is_int(rows(db), 2, "the inner row is gone, the outer row stays");
	is_int(db_begin_write(db), QP_OK, "second inner begin");
	insert(db, 4);
	is_int(db_commit(db), QP_OK, "inner commit (a release)");
	ok(!sqlite3_get_autocommit(db), "the outer transaction is still open");
	is_int(rows(other), 1, "nothing is visible outside before the outer commit");
	is_int(db_commit(db), QP_OK, "outer commit");
	is_int(rows(other), 3, "outer and kept inner rows are committed together");

	/* Deeper nesting, all undone by the outer rollback. */
	is_int(db_begin_write(db), QP_OK, "outer begin");
	for (i = 0; i < 3; i++) {
		is_int(db_begin_write(db), QP_OK, "nested begin %d", i + 1);
		insert(db, 10 + i);
	}
	for (i = 0; i < 3; i++)
		is_int(db_commit(db), QP_OK, "nested commit %d", i + 1);
	db_rollback(db);
	ok(sqlite3_get_autocommit(db), "the outer rollback ends the transaction");
	is_int(rows(other), 3, "the outer rollback undid the nested rows");

	/* The lock held by a transaction keeps another thread waiting. */
	is_int(db_begin_write(db), QP_OK, "begin (lock held)");
	pthread_create(&th, NULL, lock_taker, &l);
	ok(taker_blocked(&l), "another thread asks for the write lock and sleeps on it");
	is_int(__atomic_load_n(&l.got, __ATOMIC_SEQ_CST), 0,
	    "another thread waits for the write lock");
	is_int(db_commit(db), QP_OK, "commit releases it");
	pthread_join(th, NULL);
	is_int(l.got, 1, "the other thread got the lock after the commit");

	/* Taken on one thread (the taker above), released on another. */
	pthread_create(&th, NULL, lock_releaser, NULL);
	pthread_join(th, NULL);
	is_int(db_begin_write(db), QP_OK, "the lock released by another thread is free again");
	is_int(db_commit(db), QP_OK, "commit");

	/* db_rollback with nothing open is harmless and leaves the lock free. */
	db_rollback(db);
	is_int(db_begin_write(db), QP_OK, "begin after a rollback of nothing");
	db_rollback(db);

	db_close(other);
	db_close(db);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/db.sqlite%s", tmpdir,
		    i == 0 ? "" : i == 1 ? "-wal" : "-shm");
		unlink(path);
	}
	rmdir(tmpdir);
	done_testing();
}
