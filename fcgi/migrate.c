/* migrate.c: ordered SQL migrations with recorded checksums. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "migrate.h"
#include "paths.h"

#define MIGRATE_FILE_MAX	(4 * 1024 * 1024)

static const char migrate_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"	/* NNNN of the file */
    " name TEXT NOT NULL,"		/* file name */
    " checksum TEXT NOT NULL,"		/* SHA-256 hex of the file */
    " applied_at INTEGER NOT NULL)";	/* ms since epoch */

static int
migrate_cmp(const void *a, const void *b)
{
	const struct migrate_file *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Returns the version of a NNNN_name.sql file name, or -1. */
static int
migrate_version(const char *name)
{
	size_t len = strlen(name);
	int i, v = 0;

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)name[i]))
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v > 0 ? v : -1;
}

static enum qp_err
migrate_read(const char *path, char **out, size_t *outlen)
{
	FILE *f;
	char *buf = NULL;
	struct stat st;
	enum qp_err err = QP_EIO;

	if ((f = fopen(path, "rb")) == NULL)
		return QP_EIO;
	if (fstat(fileno(f), &st) != 0)
		goto out;
	if (st.st_size > MIGRATE_FILE_MAX) {
		err = QP_ETOOBIG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		goto out;
	buf[st.st_size] = '\0';
	*out = buf;
	*outlen = (size_t)st.st_size;
	buf = NULL;
	err = QP_OK;
out:
	free(buf);
	fclose(f);
	return err;
}

enum qp_err
migrate_load(const char *dir, struct migrate_set *set, char *errbuf, size_t errlen)
{
	DIR *d = NULL;
	struct dirent *de;
	struct migrate_file *files = NULL, *nf, *m;
	unsigned char sum[CRYPTO_SHA256_LEN];
	char path[4096];
	size_t len;
	int i, n = 0, v;
	enum qp_err err;

	set->files = NULL;
	set->n = 0;
	if ((d = opendir(dir)) == NULL) {
		snprintf(errbuf, errlen, "cannot read schema directory %s: %s",
		    dir, strerror(errno));
		return QP_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if ((v = migrate_version(de->d_name)) < 0)
			continue;
		if ((nf = realloc(files, (n + 1) * sizeof(*files))) == NULL) {
			err = QP_ENOMEM;
			goto fail;
		}
		files = nf;
		m = &files[n];
		memset(m, 0, sizeof(*m));
		m->version = v;
		n++;
		if ((m->name = strdup(de->d_name)) == NULL) {
			err = QP_ENOMEM;
			goto fail;
		}
		if ((err = paths_join(path, sizeof(path), dir, de->d_name)) != QP_OK)
			goto fail;
		if ((err = migrate_read(path, &m->sql, &len)) != QP_OK) {
			snprintf(errbuf, errlen, "cannot read %s: %s", path,
			    qp_strerror(err));
			goto fail;
		}
		if ((err = crypto_sha256(m->sql, len, sum)) != QP_OK)
			goto fail;
		crypto_hex(sum, sizeof(sum), m->checksum);
	}
	closedir(d);
	d = NULL;
	if (n == 0) {
		snprintf(errbuf, errlen, "no migrations found in %s", dir);
		err = QP_ESCHEMA;
		goto fail;
	}
	qsort(files, n, sizeof(*files), migrate_cmp);
	for (i = 0; i < n; i++)
		if (files[i].version != i + 1) {
			snprintf(errbuf, errlen, "schema %s: expected migration "
			    "%04d, found %s", dir, i + 1, files[i].name);
			err = QP_ESCHEMA;
			goto fail;
		}
	set->files = files;
	set->n = n;
	return QP_OK;
fail:
	if (d != NULL)
		closedir(d);
	set->files = files;
	set->n = n;
	migrate_set_free(set);
	if (err == QP_ENOMEM)
		snprintf(errbuf, errlen, "out of memory reading %s", dir);
	return err;
}

void
migrate_set_free(struct migrate_set *set)
{
	int i;

	for (i = 0; i < set->n; i++) {
		free(set->files[i].name);
		free(set->files[i].sql);
	}
	free(set->files);
	set->files = NULL;
	set->n = 0;
}

/* Returns 1 if schema_migrations exists, 0 if not, -1 on error. */
static int
migrate_has_table(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc, found;

	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'schema_migrations'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return found;
}

enum qp_err
migrate_check(sqlite3 *db, const struct migrate_set *set,
    struct migrate_status *st, char *errbuf, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	const char *sum;
	int rc, v, has;
	enum qp_err err = QP_OK;

	memset(st, 0, sizeof(*st));
	if ((has = migrate_has_table(db)) < 0) {
		snprintf(errbuf, errlen, "cannot read database: %s",
		    sqlite3_errmsg(db));
		return QP_EDB;
	}
	if (has) {
		rc = sqlite3_prepare_v2(db, "SELECT version, checksum FROM "
		    "schema_migrations ORDER BY version", -1, &q, NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errlen, "cannot read schema_migrations: %s",
			    sqlite3_errmsg(db));
			return QP_EDB;
		}
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			v = sqlite3_column_int(q, 0);
			sum = (const char *)sqlite3_column_text(q, 1);
			if (v < 1 || v > set->n) {
				snprintf(errbuf, errlen, "database has migration %04d, "
				    "newer than this quotapool knows (latest %04d)",
				    v, set->n);
				err = QP_ESCHEMA;
				goto out;
			}
			if (sum == NULL ||
			    strcmp(sum, set->files[v - 1].checksum) != 0) {
				snprintf(errbuf, errlen, "migration %s was changed "
				    "after it was applied (checksum differs)",
				    set->files[v - 1].name);
				err = QP_ESCHEMA;
				goto out;
			}
			st->applied++;
			if (v > st->latest)
				st->latest = v;
		}
		if (rc != SQLITE_DONE) {
			snprintf(errbuf, errlen, "cannot read schema_migrations: %s",
			    sqlite3_errmsg(db));
			err = QP_EDB;
			goto out;
		}
	}
	st->pending = set->n - st->applied;
out:
	sqlite3_finalize(q);
	return err;
}

/* Returns 1 if version is recorded, 0 if not, -1 on error. */
static int
migrate_is_applied(sqlite3 *db, int version)
{
	sqlite3_stmt *q = NULL;
	int rc, found;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE "
	    "version = ?", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(q, 1, version);
	rc = sqlite3_step(q);
	found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(q);
	return found;
}

enum qp_err
migrate_apply(sqlite3 *db, const struct migrate_set *set, int *applied_now,
    char *errbuf, size_t errlen)
{
	struct migrate_status st;
	sqlite3_stmt *ins = NULL;
	const struct migrate_file *m;
	char *emsg = NULL;
	int i, done;
	enum qp_err err;

	*applied_now = 0;
	if (sqlite3_exec(db, migrate_table_sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot create schema_migrations: %s",
		    sqlite3_errmsg(db));
		return QP_EDB;
	}
	if ((err = migrate_check(db, set, &st, errbuf, errlen)) != QP_OK)
		return err;
	for (i = 0; i < set->n; i++) {
		m = &set->files[i];
		if ((err = db_begin_write(db)) != QP_OK) {
			snprintf(errbuf, errlen, "cannot lock database: %s",
			    sqlite3_errmsg(db));
			return err;
		}
		/* Another process may have applied it meanwhile. */
		if ((done = migrate_is_applied(db, m->version)) != 0) {
			db_rollback(db);
			if (done < 0) {
				snprintf(errbuf, errlen, "cannot read "
				    "schema_migrations: %s", sqlite3_errmsg(db));
				return QP_EDB;
			}
			continue;
		}
		if (sqlite3_exec(db, m->sql, NULL, NULL, &emsg) != SQLITE_OK) {
			snprintf(errbuf, errlen, "migration %s failed: %s", m->name,
			    emsg ? emsg : sqlite3_errmsg(db));
			sqlite3_free(emsg);
			db_rollback(db);
			return QP_ESCHEMA;
		}
		if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations "
		    "(version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
		    -1, &ins, NULL) != SQLITE_OK)
			goto dbfail;
		sqlite3_bind_int(ins, 1, m->version);
		sqlite3_bind_text(ins, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, m->checksum, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, db_now_ms());
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto dbfail;
		sqlite3_finalize(ins);
		ins = NULL;
		if (db_commit(db) != QP_OK)
			goto dbfail;
		(*applied_now)++;
	}
	return QP_OK;
dbfail:
	snprintf(errbuf, errlen, "cannot record migration: %s", sqlite3_errmsg(db));
	sqlite3_finalize(ins);
	db_rollback(db);
	return QP_EDB;
}
