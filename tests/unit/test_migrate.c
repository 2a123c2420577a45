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

	return done_testing();
}
