/* test_migrate.c: migrations apply in order, once, and refuse changed or unknown schemas. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-migrate-XXXXXX";

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static sqlite3 *
open_db(const char *path)
{
	struct db_opts o = { 1000, NULL, 0, 0 };
	char errbuf[256];
	enum qp_err err;
	sqlite3 *db = db_open(path, &o, &err, errbuf, sizeof(errbuf));

	if (db == NULL)
		printf("# db_open: %s\n", errbuf);
	return db;
}

/* Returns the integer the query gives, or -1. */
static long long
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * NNNN_workers.sql (0011 when written) rebuilds client_keys (its role CHECK gains worker),
 * found by its name whatever its number: on a database holding keys,
 * sessions and requests, with foreign keys on or off and inside an open transaction or not,
 * every row stays, the references hold and the new role is accepted.
 */
static void
check_0011(const char *dbpath, int fk, int outer)
{
	struct migrate_set set = { NULL, 0 };
	char dir[600], errbuf[512];
	sqlite3 *db;
	int n, all, before = -1;
	enum qp_err err;

	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	unlink(dbpath);
	if ((db = open_db(dbpath)) == NULL ||
	    migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK) {
		ok(0, "0011: set up");
		goto out;
	}
	for (n = 0; n < set.n; n++)
		if (strstr(set.files[n].name, "_workers.sql") != NULL)
			before = n;
	if (before < 1) {
		ok(0, "0011: the workers migration is found");
		goto out;
	}
	all = set.n;
	set.n = before;
	err = migrate_apply(db, &set, &n, errbuf, sizeof(errbuf));
	set.n = all;
	if (err != QP_OK) {
		ok(0, "0011: migrate to the one before: %s", errbuf);
		goto out;
	}
	ok(sqlite3_exec(db,
	    "INSERT INTO client_keys (id, name, prefix, hash, role, created_at, rpm, budget_period) "
	    "VALUES (7, 'alice', 'qp_aaaaaa', x'01', 'client', 1, 60, 'day'), "
	    "(9, 'root', 'qp_bbbbbb', x'02', 'admin', 2, NULL, NULL);"
	    "INSERT INTO dashboard_sessions VALUES (x'aa', 9, 3, 99999999999999);"
	    "INSERT INTO requests (request_uid, client_key_id, protocol, endpoint, started_at) "
	    "VALUES ('r1', 7, 'openai', '/v1/chat/completions', 5), "
	    "('r2', 9, 'openai', '/v1/models', 6);",
	    NULL, NULL, NULL) == SQLITE_OK, "0011 (fk %d, outer %d): rows before", fk, outer);
	if (!fk)
		sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
	if (outer)
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	err = migrate_apply(db, &set, &n, errbuf, sizeof(errbuf));
	is_int(err, QP_OK, "0011 (fk %d, outer %d): applies", fk, outer);
	if (err != QP_OK)
		printf("# %s\n", errbuf);
	if (outer)
		is_int(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK,
		    "0011 (fk %d, outer %d): the outer transaction commits", fk, outer);
	sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	is_int(query_int(db, "SELECT count(*) FROM client_keys"), 2, "0011: keys kept");
	is_int(query_int(db, "SELECT rpm FROM client_keys WHERE id = 7"), 60, "0011: limits kept");
	is_int(query_int(db, "SELECT count(*) FROM dashboard_sessions WHERE key_id = 9"), 1,
	    "0011 (fk %d, outer %d): the session survives", fk, outer);
	is_int(query_int(db, "SELECT count(*) FROM requests WHERE client_key_id IN (7, 9)"), 2,
	    "0011: requests kept");
	is_int(query_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0,
	    "0011 (fk %d, outer %d): no dangling reference", fk, outer);
	ok(sqlite3_exec(db, "INSERT INTO client_keys (name, prefix, hash, role, created_at) "
	    "VALUES ('gpu', 'qp_cccccc', x'03', 'worker', 7)", NULL, NULL, NULL) == SQLITE_OK,
	    "0011: the worker role is accepted");
	ok(sqlite3_exec(db, "INSERT INTO client_keys (name, prefix, hash, role, created_at) "
	    "VALUES ('x', 'qp_dddddd', x'04', 'root', 7)", NULL, NULL, NULL) != SQLITE_OK,
	    "0011: an unknown role is still refused");
	ok(sqlite3_exec(db, "DELETE FROM client_keys WHERE id = 7", NULL, NULL, NULL) != SQLITE_OK,
	    "0011: requests still reference the rebuilt table");
	ok(sqlite3_exec(db, "DELETE FROM client_keys WHERE id = 9", NULL, NULL, NULL) != SQLITE_OK ||
	    query_int(db, "SELECT count(*) FROM dashboard_sessions") == 0,
	    "0011: sessions still cascade from the rebuilt table");
out:
	migrate_set_free(&set);
	db_close(db);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 }, shipped = { NULL, 0 };
	struct migrate_status st;
	char dir[600], dbpath[600], errbuf[512], path[700];
	sqlite3 *db, *db2;
	struct stat sb;
	int n = -1;
	enum qp_err err;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/schema", tmpdir);
	mkdir(dir, 0700);
	write_file(dir, "0001_first.sql", "CREATE TABLE a (x INTEGER);");
	write_file(dir, "0002_second.sql", "CREATE TABLE b (y INTEGER);");
	write_file(dir, "README", "not a migration");

	is_int(migrate_load(dir, &set, errbuf, sizeof(errbuf)), QP_OK, "load a schema directory");
	is_int(set.n, 2, "two migrations found, other files ignored");
	is_str(set.files[0].name, "0001_first.sql", "sorted by version");

	snprintf(dbpath, sizeof(dbpath), "%s/test.db", tmpdir);
	db = open_db(dbpath);
	ok(db != NULL, "database opens");
	ok(stat(dbpath, &sb) == 0 && (sb.st_mode & 0777) == 0600, "database file is 0600");

	is_int(migrate_check(db, &set, &st, errbuf, sizeof(errbuf)), QP_OK, "check fresh database");
	is_int(st.pending, 2, "fresh database: 2 pending");
	is_int(migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)), QP_OK, "apply");
	is_int(n, 2, "both applied");
	is_int(migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)), QP_OK, "apply again");
	is_int(n, 0, "second run applies nothing");
	migrate_check(db, &set, &st, errbuf, sizeof(errbuf));
	is_int(st.pending, 0, "nothing pending");
	is_int(st.latest, 2, "at version 2");

	/* A second connection sees the same state (as another process would). */
	db2 = open_db(dbpath);
	is_int(migrate_apply(db2, &set, &n, errbuf, sizeof(errbuf)), QP_OK, "apply from a 2nd connection");
	is_int(n, 0, "nothing left for it");
	db_close(db2);

	/* An edited migration is refused. */
	migrate_set_free(&set);
	write_file(dir, "0002_second.sql", "CREATE TABLE b (y INTEGER, z TEXT);");
	migrate_load(dir, &set, errbuf, sizeof(errbuf));
	err = migrate_check(db, &set, &st, errbuf, sizeof(errbuf));
	is_int(err, QP_ESCHEMA, "changed checksum refused");
	ok(strstr(errbuf, "0002_second.sql") != NULL, "message names the file: %s", errbuf);
	is_int(migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)), QP_ESCHEMA, "apply refuses too");

	/* A database newer than the build is refused. */
	migrate_set_free(&set);
	write_file(dir, "0002_second.sql", "CREATE TABLE b (y INTEGER);");
	snprintf(path, sizeof(path), "%s/0002_second.sql", dir);
	unlink(path);
	migrate_load(dir, &set, errbuf, sizeof(errbuf));
	is_int(migrate_check(db, &set, &st, errbuf, sizeof(errbuf)), QP_ESCHEMA, "unknown newer version refused");
	ok(strstr(errbuf, "newer") != NULL, "message says newer: %s", errbuf);
	migrate_set_free(&set);

	/* A gap in numbering is refused at load. */
	write_file(dir, "0004_fourth.sql", "SELECT 1;");
	is_int(migrate_load(dir, &set, errbuf, sizeof(errbuf)), QP_ESCHEMA, "gap refused: %s", errbuf);
	migrate_set_free(&set);

	/* A failing migration leaves nothing behind. */
	snprintf(path, sizeof(path), "%s/0004_fourth.sql", dir);
	unlink(path);
	write_file(dir, "0002_second.sql", "CREATE TABLE b (y INTEGER);");
	write_file(dir, "0003_bad.sql", "CREATE TABLE c (q INTEGER); THIS IS NOT SQL;");
	db_close(db);
	snprintf(dbpath, sizeof(dbpath), "%s/test2.db", tmpdir);
	db = open_db(dbpath);
	migrate_load(dir, &set, errbuf, sizeof(errbuf));
	is_int(migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)), QP_ESCHEMA, "bad migration fails");
	is_int(n, 2, "the good ones before it were applied");
	ok(sqlite3_exec(db, "SELECT * FROM c", NULL, NULL, NULL) != SQLITE_OK,
	    "the failed migration's table was rolled back");
	migrate_set_free(&set);
	db_close(db);

	/* The shipped schema applies cleanly. */
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	is_int(migrate_load(dir, &shipped, errbuf, sizeof(errbuf)), QP_OK, "shipped schema loads");
	snprintf(dbpath, sizeof(dbpath), "%s/shipped.db", tmpdir);
	db = open_db(dbpath);
	err = migrate_apply(db, &shipped, &n, errbuf, sizeof(errbuf));
	is_int(err, QP_OK, "shipped schema applies");
	if (err != QP_OK)
		printf("# %s\n", errbuf);
	is_int(n, shipped.n, "every shipped migration applied");
	ok(sqlite3_exec(db, "PRAGMA foreign_key_check", NULL, NULL, NULL) == SQLITE_OK,
	    "foreign keys consistent");
	migrate_set_free(&shipped);
	db_close(db);

	snprintf(dbpath, sizeof(dbpath), "%s/rebuild.db", tmpdir);
	check_0011(dbpath, 1, 0);
	check_0011(dbpath, 1, 1);
	check_0011(dbpath, 0, 0);
	check_0011(dbpath, 0, 1);

	return done_testing();
}
