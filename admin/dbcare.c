/* dbcare.c: quotapool-admin db check|vacuum|prune: the database's integrity, size and age. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "accounting.h"
#include "admin.h"
#include "catalog.h"
#include "db.h"

/* Problems of integrity_check printed at most (SQLite's own default bound). */
#define DBCARE_PROBLEMS_MAX	100

static int
dbcare_usage(void)
{

	admin_err("usage: quotapool-admin db check [--quick] [--json] | db vacuum [--json] | "
	    "db prune --older-than DURATION [--json]");
	return 2;
}

static void
dbcare_help(void)
{

	printf("usage: quotapool-admin db check [--quick] [--json]\n"
	    "       quotapool-admin db vacuum [--json]\n"
	    "       quotapool-admin db prune --older-than DURATION [--json]\n\n"
	    "check   PRAGMA integrity_check (quick_check with --quick) and foreign_key_check;\n"
	    "        prints ok, or every problem found. Exit 1 when the database is not ok.\n"
	    "vacuum  rebuilds the database file without its free pages (VACUUM), then\n"
	    "        checkpoints the WAL; prints the size before and after. Writers wait\n"
	    "        meanwhile (up to [database] busy_timeout_ms).\n"
	    "prune   deletes what is older than DURATION (days or hours: 90d, 36h): requests\n"
	    "        that ended before the UTC midnight at or before that age, with their\n"
	    "        attempts and routing decisions (and those before it of requests that\n"
	    "        stay), operational events and provider pings. The statistics rollups\n"
	    "        are kept; they stay equal to the rows wherever rows remain.\n"
	    "        [retention] in the configuration does the same automatically.\n\n"
	    "Exit 0 on success, 1 on a failure, 2 on bad usage.\n");
}

/* Runs a pragma whose rows are single text columns into arr (and counts them). -1 on error. */
static int
dbcare_rows(sqlite3 *db, const char *sql, cJSON *arr, int *n)
{
	sqlite3_stmt *st = NULL;
	const char *s;
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		s = (const char *)sqlite3_column_text(st, 0);
		if (s != NULL && strcmp(s, "ok") == 0)
			continue;
		(*n)++;
		if (*n <= DBCARE_PROBLEMS_MAX)
			cJSON_AddItemToArray(arr, cJSON_CreateString(s != NULL ? s : "(null)"));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* foreign_key_check: "TABLE row R refers to a missing PARENT row" per problem. -1 on error. */
static int
dbcare_fk(sqlite3 *db, cJSON *arr, int *n)
{
	sqlite3_stmt *st = NULL;
	char line[512];
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*n)++;
		if (*n > DBCARE_PROBLEMS_MAX)
			continue;
		snprintf(line, sizeof(line), "%s row %lld refers to a missing %s row",
		    (const char *)sqlite3_column_text(st, 0),
		    (long long)sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2));
		cJSON_AddItemToArray(arr, cJSON_CreateString(line));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
dbcare_check(struct admin *a, int quick, int json)
{
	cJSON *root = NULL, *integ, *fk, *it;
	int ni = 0, nf = 0, rc = 1;

	if (admin_open_db(a) != 0)
		return 1;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "database", a->cfg->database.path) == NULL ||
	    cJSON_AddStringToObject(root, "check", quick ? "quick_check" : "integrity_check") ==
	    NULL || (integ = cJSON_AddArrayToObject(root, "integrity")) == NULL ||
	    (fk = cJSON_AddArrayToObject(root, "foreign_keys")) == NULL) {
		admin_err("out of memory");
		goto out;
	}
	if (dbcare_rows(a->db, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check", integ,
	    &ni) != 0) {
		/* A file too damaged to be read at all says so here. */
		admin_err("%s: %s failed: %s", a->cfg->database.path, quick ? "quick_check" :
		    "integrity_check", sqlite3_errmsg(a->db));
		goto out;
	}
	if (dbcare_fk(a->db, fk, &nf) != 0) {
		admin_err("%s: foreign_key_check failed: %s", a->cfg->database.path,
		    sqlite3_errmsg(a->db));
		goto out;
	}
	cJSON_AddBoolToObject(root, "ok", ni == 0 && nf == 0);
	rc = ni == 0 && nf == 0 ? 0 : 1;
	if (json) {
		if (admin_print_json(root) != 0)
			rc = 1;
		root = NULL;
		goto out;
	}
	if (rc == 0)
		printf("database %s: ok (%s, foreign keys)\n", a->cfg->database.path,
		    quick ? "quick_check" : "integrity_check");
	else {
		cJSON_ArrayForEach(it, integ)
			printf("%s\n", it->valuestring);
		cJSON_ArrayForEach(it, fk)
			printf("%s\n", it->valuestring);
		if (ni + nf > cJSON_GetArraySize(integ) + cJSON_GetArraySize(fk))
			printf("(%d more)\n", ni + nf - cJSON_GetArraySize(integ) -
			    cJSON_GetArraySize(fk));
		fflush(stdout);
		admin_err("database %s is not ok: %d problem%s found (restore a backup, or see "
		    "docs/operations.md)", a->cfg->database.path, ni + nf, ni + nf == 1 ? "" : "s");
	}
out:
	cJSON_Delete(root);
	return rc;
}

/* Reads one integer pragma; -1 on error. */
static int64_t
dbcare_pragma(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
dbcare_vacuum(struct admin *a, int json)
{
	int64_t psize, before, after, free_before, free_after;
	cJSON *root;
	int ckpt;

	if (admin_open_migrated_db(a) != 0)
		return 1;
	psize = dbcare_pragma(a->db, "PRAGMA page_size");
	before = dbcare_pragma(a->db, "PRAGMA page_count");
	free_before = dbcare_pragma(a->db, "PRAGMA freelist_count");
	if (sqlite3_exec(a->db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK) {
		admin_err("VACUUM of %s failed: %s", a->cfg->database.path, sqlite3_errmsg(a->db));
		return 1;
	}
	after = dbcare_pragma(a->db, "PRAGMA page_count");
	free_after = dbcare_pragma(a->db, "PRAGMA freelist_count");
	/* Under WAL the file shrinks once the WAL is copied back; readers may hold part of it. */
	ckpt = sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (json) {
		if ((root = cJSON_CreateObject()) == NULL)
			return 1;
		cJSON_AddStringToObject(root, "database", a->cfg->database.path);
		cJSON_AddNumberToObject(root, "bytes_before", (double)(before * psize));
		cJSON_AddNumberToObject(root, "bytes_after", (double)(after * psize));
		cJSON_AddNumberToObject(root, "free_pages_before", (double)free_before);
		cJSON_AddNumberToObject(root, "free_pages_after", (double)free_after);
		cJSON_AddBoolToObject(root, "checkpointed", ckpt == SQLITE_OK);
		return admin_print_json(root);
	}
	printf("database %s: %lld bytes before, %lld after (%lld free pages reclaimed)%s\n",
	    a->cfg->database.path, (long long)(before * psize), (long long)(after * psize),
	    (long long)(free_before - free_after), ckpt == SQLITE_OK ? "" :
	    "; the WAL is copied back at the gateway's next checkpoint");
	return 0;
}

static int
dbcare_prune(struct admin *a, int64_t older_ms, int json)
{
	struct accounting_db *acc = NULL;
	struct catalog_db *cdb = NULL;
	struct accounting_retention r;
	struct accounting_purged p;
	int64_t now = db_now_ms(), pings = 0;
	char errbuf[512], when[40], ewhen[40];
	enum qp_err err;
	cJSON *root;
	int rc = 1;

	if (admin_open_migrated_db(a) != 0)
		return 1;
	if ((acc = accounting_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (cdb = catalog_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.requests_ms = older_ms;
	r.events_ms = older_ms;
	if ((err = accounting_purge(acc, &r, now, &p)) != QP_OK ||
	    (err = catalog_prune_pings(cdb, now - older_ms, &pings)) != QP_OK) {
		admin_err("prune of %s failed: %s", a->cfg->database.path, sqlite3_errmsg(a->db));
		goto out;
	}
	admin_iso_time(p.cutoff, when, sizeof(when));
	admin_iso_time(now - older_ms, ewhen, sizeof(ewhen));
	if (json) {
		if ((root = cJSON_CreateObject()) == NULL)
			goto out;
		cJSON_AddStringToObject(root, "database", a->cfg->database.path);
		cJSON_AddStringToObject(root, "requests_cutoff", when);
		cJSON_AddStringToObject(root, "events_cutoff", ewhen);
		cJSON_AddNumberToObject(root, "requests", (double)p.requests);
		cJSON_AddNumberToObject(root, "attempts", (double)p.attempts);
		cJSON_AddNumberToObject(root, "decisions", (double)p.decisions);
		cJSON_AddNumberToObject(root, "events", (double)p.events);
		cJSON_AddNumberToObject(root, "pings", (double)pings);
		rc = admin_print_json(root);
		goto out;
	}
	printf("deleted %lld requests that ended before %s (with their attempts and "
	    "decisions),\n%lld attempts and %lld decisions before it of requests that stay, "
	    "%lld events and %lld pings before %s;\nthe statistics rollups are kept\n",
	    (long long)p.requests, when, (long long)p.attempts, (long long)p.decisions,
	    (long long)p.events, (long long)pings, ewhen);
	rc = 0;
out:
	catalog_db_free(cdb);
	accounting_free(acc);
	return rc;
}

int
cmd_db(struct admin *a, int argc, char **argv)
{
	const char *sub = NULL, *older = NULL;
	int64_t older_ms = 0;
	int i, json = 0, quick = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			dbcare_help();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc)
			older = argv[++i];
		else if (strncmp(argv[i], "--older-than=", 13) == 0)
			older = argv[i] + 13;
		else if (argv[i][0] == '-' || sub != NULL)
			return dbcare_usage();
		else
			sub = argv[i];
	}
	if (sub == NULL)
		return dbcare_usage();
	if (strcmp(sub, "check") == 0) {
		if (older != NULL)
			return dbcare_usage();
		return dbcare_check(a, quick, json);
	}
	if (quick)
		return dbcare_usage();
	if (strcmp(sub, "vacuum") == 0) {
		if (older != NULL)
			return dbcare_usage();
		return dbcare_vacuum(a, json);
	}
	if (strcmp(sub, "prune") == 0) {
		if (older == NULL)
			return dbcare_usage();
		if (admin_parse_duration(older, &older_ms) != 0) {
			admin_err("--older-than: a number of days or hours with its unit, 1h to "
			    "36500d (e.g. 90d or 36h), not '%s'", older);
			return 2;
		}
		return dbcare_prune(a, older_ms, json);
	}
	admin_err("unknown db command '%s' (check, vacuum, prune)", sub);
	return 2;
}
