/* backup.c: quotapool-admin backup [list|verify] and restore: online backups as bundles. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "admin.h"
#include "bundle.h"
#include "db.h"
#include "maint.h"
#include "migrate.h"
#include "paths.h"

/* Member names inside a bundle. */
#define BACKUP_M_CONFIG		"config.toml"
#define BACKUP_M_ENV		"env"
#define BACKUP_M_DB		"quotapool.db"
/* Archive names: PREFIX YYYYMMDD-HHMMSS [-auto] [-N] SUFFIX. */
#define BACKUP_PREFIX		"quotapool-backup-"
#define BACKUP_SUFFIX		".tar.gz"
#define BACKUP_AUTO		"-auto"
/* Most archives listed or pruned in one directory. */
#define BACKUP_LIST_MAX		10000
/* Pages copied per backup step, and the pause between steps (ms) while writers wait. */
#define BACKUP_BUSY_RETRY_MS	10

/* What the snapshot holds, recorded in the manifest and checked after a restore. */
struct backup_facts {
	int		 schema_version;	/* highest schema_migrations version */
	int64_t		 requests;		/* requests rows */
	int64_t		 max_request_id;	/* highest requests.id, 0 = none */
	int64_t		 input_tokens;		/* sums over requests */
	int64_t		 output_tokens;
	int64_t		 cache_read_tokens;
	int64_t		 cost_microdollars;
	int64_t		 copy_ms;		/* how long the online copy took */
};

/* Formats a message into buf; a long one is cut (messages only, never paths used). */
static void __attribute__((format(printf, 3, 4)))
backup_say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int
backup_usage(void)
{

	admin_err("usage: quotapool-admin backup [--to DIR] [--json] | backup list [--to DIR] "
	    "[--json] | backup verify ARCHIVE [--json]");
	return 2;
}

static int
restore_usage(void)
{

	admin_err("usage: quotapool-admin restore ARCHIVE [--into DIR] [--force]");
	return 2;
}

static int64_t
backup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
backup_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Formats ms since the epoch as RFC 3339 UTC. */
static void
backup_time(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Runs one query returning one row of integers into out[0..n). 0 or -1. */
static int
backup_ints(sqlite3 *db, const char *sql, int64_t *out, int n)
{
	sqlite3_stmt *st = NULL;
	int i, rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		for (i = 0; i < n; i++)
			out[i] = sqlite3_column_int64(st, i);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Reads the facts of a database (a snapshot or a restored copy). 0 or -1. */
static int
backup_read_facts(sqlite3 *db, struct backup_facts *f)
{
	int64_t v[6];

	if (backup_ints(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    v, 1) != 0)
		return -1;
	f->schema_version = (int)v[0];
	if (backup_ints(db, "SELECT count(*), coalesce(max(id), 0), "
	    "coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
	    "coalesce(sum(cache_read_tokens), 0), coalesce(sum(cost_microdollars), 0) "
	    "FROM requests", v, 6) != 0)
		return -1;
	f->requests = v[0];
	f->max_request_id = v[1];
	f->input_tokens = v[2];
	f->output_tokens = v[3];
	f->cache_read_tokens = v[4];
	f->cost_microdollars = v[5];
	return 0;
}

/*
 * Copies the live database at src into the new file dst (0600) with
 * SQLite's online backup API, in one read transaction (a consistent
 * snapshot; writers go on meanwhile under WAL), then makes the copy
 * self-contained (rollback journal) and checks it. 0 or -1 with errbuf set.
 */
static int
backup_snapshot(const char *src, int busy_ms, const char *dst, struct backup_facts *f,
    char *errbuf, size_t errlen)
{
	sqlite3 *s = NULL, *d = NULL;
	sqlite3_backup *b = NULL;
	int64_t t0 = backup_mono_ms(), deadline = t0 + busy_ms;
	int fd, rc, ret = -1;
	char check[64];
	sqlite3_stmt *st = NULL;

	if (access(src, R_OK) != 0) {
		backup_say(errbuf, errlen, "cannot read the database %s: %s", src, strerror(errno));
		return -1;
	}
	if ((fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		backup_say(errbuf, errlen, "cannot create %s: %s", dst, strerror(errno));
		return -1;
	}
	close(fd);
	if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		backup_say(errbuf, errlen, "cannot open %s: %s", s == NULL || d == NULL ? src :
		    dst, sqlite3_errmsg(d != NULL ? d : s));
		goto out;
	}
	sqlite3_busy_timeout(s, busy_ms);
	if ((b = sqlite3_backup_init(d, "main", s, "main")) == NULL) {
		backup_say(errbuf, errlen, "cannot start the backup: %s", sqlite3_errmsg(d));
		goto out;
	}
	for (;;) {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_DONE)
			break;
		if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && backup_mono_ms() < deadline) {
			sqlite3_sleep(BACKUP_BUSY_RETRY_MS);
			continue;
		}
		backup_say(errbuf, errlen, "the backup of %s failed: %s", src, sqlite3_errstr(rc));
		sqlite3_backup_finish(b);
		b = NULL;
		goto out;
	}
	rc = sqlite3_backup_finish(b);
	b = NULL;
	f->copy_ms = backup_mono_ms() - t0;
	if (rc != SQLITE_OK) {
		backup_say(errbuf, errlen, "the backup of %s failed: %s", src, sqlite3_errstr(rc));
		goto out;
	}
	if (sqlite3_exec(d, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		backup_say(errbuf, errlen, "cannot check the copy: %s", sqlite3_errmsg(d));
		goto out;
	}
	snprintf(check, sizeof(check), "%s", (const char *)sqlite3_column_text(st, 0));
	if (strcmp(check, "ok") != 0) {
		backup_say(errbuf, errlen, "the copy fails SQLite's quick_check: %s", check);
		goto out;
	}
	if (backup_read_facts(d, f) != 0) {
		backup_say(errbuf, errlen, "the database is not a migrated quotapool database");
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(d);
	sqlite3_close(s);
	if (ret != 0)
		unlink(dst);
	return ret;
}

/* Adds the facts to a JSON object. 0 or -1. */
static int
backup_facts_json(cJSON *o, const struct backup_facts *f)
{

	return cJSON_AddNumberToObject(o, "schema_version", f->schema_version) != NULL &&
	    cJSON_AddNumberToObject(o, "requests", (double)f->requests) != NULL &&
	    cJSON_AddNumberToObject(o, "max_request_id", (double)f->max_request_id) != NULL &&
	    cJSON_AddNumberToObject(o, "input_tokens", (double)f->input_tokens) != NULL &&
	    cJSON_AddNumberToObject(o, "output_tokens", (double)f->output_tokens) != NULL &&
	    cJSON_AddNumberToObject(o, "cache_read_tokens",
	    (double)f->cache_read_tokens) != NULL &&
	    cJSON_AddNumberToObject(o, "cost_microdollars",
	    (double)f->cost_microdollars) != NULL ? 0 : -1;
}

/* Builds the manifest's text; malloc'd, or NULL. */
static char *
backup_manifest(int64_t now, const struct backup_facts *f, const struct bundle_file *files,
    int n, int automatic)
{
	cJSON *m = NULL, *arr, *o, *snap;
	char when[32], *text = NULL;
	int i;

	backup_time(now, when, sizeof(when));
	if ((m = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(m, "format", BUNDLE_FORMAT) == NULL ||
	    cJSON_AddNumberToObject(m, "format_version", BUNDLE_FORMAT_VERSION) == NULL ||
	    cJSON_AddStringToObject(m, "created_at", when) == NULL ||
	    cJSON_AddNumberToObject(m, "created_at_ms", (double)now) == NULL ||
	    cJSON_AddBoolToObject(m, "automatic", automatic) == NULL ||
	    cJSON_AddStringToObject(m, "quotapool_version", QP_VERSION) == NULL ||
	    cJSON_AddStringToObject(m, "sqlite_version", sqlite3_libversion()) == NULL ||
	    cJSON_AddNumberToObject(m, "schema_version", f->schema_version) == NULL ||
	    cJSON_AddNumberToObject(m, "copy_ms", (double)f->copy_ms) == NULL ||
	    (snap = cJSON_AddObjectToObject(m, "snapshot")) == NULL ||
	    backup_facts_json(snap, f) != 0 ||
	    (arr = cJSON_AddArrayToObject(m, "files")) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if ((o = cJSON_CreateObject()) == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "name", files[i].name) == NULL ||
		    cJSON_AddNumberToObject(o, "size", (double)files[i].size) == NULL ||
		    cJSON_AddStringToObject(o, "sha256", files[i].sha256) == NULL)
			goto out;
	}
	text = cJSON_Print(m);
out:
	cJSON_Delete(m);
	return text;
}

/* The backup directory: --to DIR or [backup] directory. */
static const char *
backup_dir(struct admin *a, const char *to)
{

	return to != NULL ? to : a->cfg->backup.directory;
}

/* Returns 1 if name is an archive name this command writes (auto: made automatically). */
static int
backup_is_archive(const char *name, int *automatic)
{
	size_t n = strlen(name), pl = strlen(BACKUP_PREFIX), sl = strlen(BACKUP_SUFFIX);

	if (n <= pl + sl || strncmp(name, BACKUP_PREFIX, pl) != 0 ||
	    strcmp(name + n - sl, BACKUP_SUFFIX) != 0)
		return 0;
	if (automatic != NULL)
		*automatic = strstr(name, BACKUP_AUTO) != NULL;
	return 1;
}

static int
backup_name_cmp(const void *x, const void *y)
{

	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Lists the archive names in dir, sorted (oldest first). NULL with *n = -1 on error. */
static char **
backup_names(const char *dir, int *n)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL, **nv;
	int cap = 0;

	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return calloc(1, sizeof(*v));
		*n = -1;
		return NULL;
	}
	while ((de = readdir(d)) != NULL && *n < BACKUP_LIST_MAX) {
		if (!backup_is_archive(de->d_name, NULL))
			continue;
		if (*n + 1 >= cap) {
			cap = cap > 0 ? cap * 2 : 16;
			if ((nv = realloc(v, (size_t)cap * sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		if ((v[*n] = strdup(de->d_name)) == NULL)
			goto fail;
		(*n)++;
	}
	closedir(d);
	if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL) {
		*n = -1;
		return NULL;
	}
	qsort(v, (size_t)*n, sizeof(*v), backup_name_cmp);
	return v;
fail:
	closedir(d);
	while (v != NULL && *n > 0)
		free(v[--(*n)]);
	free(v);
	*n = -1;
	return NULL;
}

static void
backup_names_free(char **v, int n)
{

	while (v != NULL && n > 0)
		free(v[--n]);
	free(v);
}

/* Removes the oldest automatic archives of dir beyond keep; prints each. */
static void
backup_prune(const char *dir, int keep, int quiet)
{
	char **v, path[PATH_MAX];
	int n, i, automatic, autos = 0;

	if ((v = backup_names(dir, &n)) == NULL)
		return;
	for (i = 0; i < n; i++)
		if (backup_is_archive(v[i], &automatic) && automatic)
			autos++;
	for (i = 0; i < n && autos > keep; i++) {
		if (!backup_is_archive(v[i], &automatic) || !automatic)
			continue;
		if (paths_join(path, sizeof(path), dir, v[i]) == QP_OK && unlink(path) == 0) {
			if (!quiet)
				printf("removed %s (keeping %d automatic backups)\n", path, keep);
			autos--;
		}
	}
	backup_names_free(v, n);
}

/* Takes one backup into dir; prints its path (or JSON). Exit status. */
static int
backup_take(struct admin *a, const char *dir, int automatic, int json)
{
	struct bundle_file files[3];
	struct backup_facts f;
	char stamp[32], base[96], path[PATH_MAX], env[PATH_MAX], errbuf[512];
	char *manifest = NULL;
	int64_t now = backup_now_ms();
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	int n = 0, i, rc = 1;
	cJSON *out = NULL;
	enum qp_err err;

	memset(files, 0, sizeof(files));
	memset(&f, 0, sizeof(f));
	if (paths_mkdirs(dir, 0700) != QP_OK) {
		admin_err("cannot create %s: %s", dir, strerror(errno));
		return 1;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(base, sizeof(base), "%s%s%s%s", BACKUP_PREFIX, stamp,
			    automatic ? BACKUP_AUTO : "", BACKUP_SUFFIX);
		else
			snprintf(base, sizeof(base), "%s%s%s-%d%s", BACKUP_PREFIX, stamp,
			    automatic ? BACKUP_AUTO : "", i, BACKUP_SUFFIX);
		if (paths_join(path, sizeof(path), dir, base) != QP_OK) {
			admin_err("path too long: %s", dir);
			return 1;
		}
		if (access(path, F_OK) != 0)
			break;
	}
	/* The snapshot first: it is the part that must be consistent. */
	snprintf(files[n].name, sizeof(files[n].name), "%s", BACKUP_M_DB);
	if ((size_t)snprintf(files[n].src, sizeof(files[n].src), "%s.db.tmp", path) >=
	    sizeof(files[n].src)) {
		admin_err("path too long: %s", path);
		return 1;
	}
	if (backup_snapshot(a->cfg->database.path, a->cfg->database.busy_timeout_ms,
	    files[n].src, &f, errbuf, sizeof(errbuf)) != 0) {
		admin_err("%s", errbuf);
		return 1;
	}
	n++;
	snprintf(files[n].name, sizeof(files[n].name), "%s", BACKUP_M_CONFIG);
	snprintf(files[n].src, sizeof(files[n].src), "%s", a->config_path);
	n++;
	if (a->cfg->backup.include_env &&
	    paths_join(env, sizeof(env), a->cfg->dir, ".env") == QP_OK &&
	    access(env, F_OK) == 0) {
		snprintf(files[n].name, sizeof(files[n].name), "%s", BACKUP_M_ENV);
		snprintf(files[n].src, sizeof(files[n].src), "%s", env);
		n++;
	}
	for (i = 0; i < n; i++)
		if ((err = bundle_hash_file(&files[i])) != QP_OK) {
			admin_err("cannot read %s: %s", files[i].src, err == QP_EIO ?
			    strerror(errno) : qp_strerror(err));
			goto out;
		}
	if ((manifest = backup_manifest(now, &f, files, n, automatic)) == NULL) {
		admin_err("out of memory");
		goto out;
	}
	if (bundle_write(path, manifest, files, n, errbuf, sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		goto out;
	}
	if (json) {
		if ((out = cJSON_Parse(manifest)) != NULL &&
		    cJSON_AddStringToObject(out, "path", path) != NULL) {
			free(manifest);
			manifest = cJSON_Print(out);
			if (manifest != NULL)
				printf("%s\n", manifest);
		}
	} else
		printf("%s\n", path);
	fflush(stdout);
	fprintf(stderr, "backup of %lld requests (schema version %d) written; the "
	    "database copy took %lld ms\n", (long long)f.requests, f.schema_version,
	    (long long)f.copy_ms);
	if (automatic)
		backup_prune(dir, a->cfg->backup.retain_count, json);
	rc = 0;
out:
	unlink(files[0].src);
	cJSON_Delete(out);
	free(manifest);
	return rc;
}

/* backup list: the archives of the directory, oldest first. */
static int
backup_list(const char *dir, int json)
{
	char **v, path[PATH_MAX], when[32], *text;
	struct stat st;
	cJSON *arr = NULL, *o;
	int n, i, automatic;

	if ((v = backup_names(dir, &n)) == NULL) {
		admin_err("cannot read %s: %s", dir, strerror(errno));
		return 1;
	}
	if (json && (arr = cJSON_CreateArray()) == NULL) {
		backup_names_free(v, n);
		admin_err("out of memory");
		return 1;
	}
	if (!json)
		printf("%-56s %12s %-20s %s\n", "ARCHIVE", "BYTES", "MODIFIED (UTC)", "KIND");
	for (i = 0; i < n; i++) {
		if (paths_join(path, sizeof(path), dir, v[i]) != QP_OK || stat(path, &st) != 0)
			continue;
		backup_time((int64_t)st.st_mtime * 1000, when, sizeof(when));
		(void)backup_is_archive(v[i], &automatic);
		if (!json) {
			printf("%-56s %12lld %-20s %s\n", v[i], (long long)st.st_size, when,
			    automatic ? "automatic" : "manual");
			continue;
		}
		if ((o = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", v[i]);
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddNumberToObject(o, "bytes", (double)st.st_size);
		cJSON_AddStringToObject(o, "modified_at", when);
		cJSON_AddBoolToObject(o, "automatic", automatic);
	}
	if (json && (text = cJSON_Print(arr)) != NULL) {
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(arr);
	backup_names_free(v, n);
	return 0;
}

/* backup verify ARCHIVE: the manifest and every checksum. */
static int
backup_verify(const char *archive, int json)
{
	const cJSON *files, *created, *schema;
	cJSON *m;
	char errbuf[512], *text;
	enum qp_err err;

	if ((m = bundle_read(archive, NULL, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	files = cJSON_GetObjectItemCaseSensitive(m, "files");
	created = cJSON_GetObjectItemCaseSensitive(m, "created_at");
	schema = cJSON_GetObjectItemCaseSensitive(m, "schema_version");
	if (json) {
		cJSON_AddStringToObject(m, "path", archive);
		cJSON_AddBoolToObject(m, "verified", 1);
		if ((text = cJSON_Print(m)) != NULL) {
			printf("%s\n", text);
			free(text);
		}
	} else
		printf("%s: ok, %d files match their sha256, created %s, schema version %d\n",
		    archive, cJSON_GetArraySize(files), cJSON_IsString(created) ?
		    created->valuestring : "?", cJSON_IsNumber(schema) ?
		    schema->valueint : 0);
	cJSON_Delete(m);
	return 0;
}

int
cmd_backup(struct admin *a, int argc, char **argv)
{
	const char *to = NULL, *what = NULL, *archive = NULL;
	int i, json = 0, automatic = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--auto") == 0)
			automatic = 1;
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin backup [--to DIR] [--json]\n"
			    "       quotapool-admin backup list [--to DIR] [--json]\n"
			    "       quotapool-admin backup verify ARCHIVE [--json]\n\n"
			    "Takes an online, consistent copy of the database (SQLite's backup "
			    "API) with the\nconfiguration and its .env into a gzip'd tar with a "
			    "manifest of sha256 sums,\nmode 0600, in DIR ([backup] directory by "
			    "default). Exit 0 on success, 1 on\nany failure, 2 on bad usage.\n");
			return 0;
		} else if (what == NULL && argv[i][0] != '-' &&
		    (strcmp(argv[i], "list") == 0 || strcmp(argv[i], "verify") == 0))
			what = argv[i];
		else if (what != NULL && strcmp(what, "verify") == 0 && archive == NULL &&
		    argv[i][0] != '\0')
			archive = argv[i];
		else
			return backup_usage();
	}
	if (what != NULL && strcmp(what, "verify") == 0) {
		if (archive == NULL || to != NULL || automatic)
			return backup_usage();
		return backup_verify(archive, json);
	}
	if (admin_load_config(a) != 0)
		return 1;
	if (what != NULL)	/* list */
		return automatic ? backup_usage() : backup_list(backup_dir(a, to), json);
	return backup_take(a, backup_dir(a, to), automatic, json);
}

/* ---- restore ------------------------------------------------------------ */

/*
 * Returns 1 if a quotapool process seems to serve the database at path:
 * a processes row not stopped, with a heartbeat in the last lease period,
 * whose PID is alive on this host (or that runs on another host). Fills
 * who with a description.
 */
static int
restore_live(const char *path, char *who, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char host[256];
	int64_t now = backup_now_ms();
	const char *h;
	long pid;
	int live = 0;

	if (access(path, F_OK) != 0)
		return 0;
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT pid, hostname, heartbeat_at FROM processes "
	    "WHERE stopped_at IS NULL AND heartbeat_at > ?", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now - MAINT_LEASE_TTL_MS);
	while (!live && sqlite3_step(st) == SQLITE_ROW) {
		pid = (long)sqlite3_column_int64(st, 0);
		h = (const char *)sqlite3_column_text(st, 1);
		if (h != NULL && strcmp(h, host) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0 &&
		    errno == ESRCH)
			continue;	/* crashed here: not live */
		snprintf(who, len, "process %ld on %s, last heartbeat %lld s ago", pid,
		    h != NULL ? h : "?", (long long)((now - sqlite3_column_int64(st, 2)) / 1000));
		live = 1;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return live;
}

/* Copies file src to dst (created exclusively 0600, synced). 0 or -1. */
static int
restore_copy(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n, w, off;
	int in = -1, out = -1, rc = -1;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		goto done;
	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto done;
		if (n == 0)
			break;
		for (off = 0; off < n; off += w)
			if ((w = write(out, buf + off, (size_t)(n - off))) <= 0)
				goto done;
	}
	rc = fsync(out);
done:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		rc = -1;
	if (rc != 0 && out >= 0)
		unlink(dst);
	return rc;
}

/* Moves src to dst on the same or another file system. 0 or -1. */
static int
restore_move(const char *src, const char *dst)
{

	if (rename(src, dst) == 0)
		return 0;
	if (errno != EXDEV)
		return -1;
	unlink(dst);
	if (restore_copy(src, dst) != 0)
		return -1;
	unlink(src);
	return 0;
}

/* One file swapped into place, with its previous version kept as .bak. */
struct restore_swap {
	char	 staged[PATH_MAX];	/* the restored file, ready */
	char	 target[PATH_MAX];	/* where it goes */
	char	 bak[PATH_MAX + 8];	/* target.bak */
	int	 had;			/* 1 if target existed (and was moved to bak) */
	int	 done;			/* 1 once staged is at target */
};

/* Swaps each file into place; on failure puts back what was moved. 0 or -1. */
static int
restore_swap(struct restore_swap *s, int n, char *errbuf, size_t errlen)
{
	char side[PATH_MAX + 16], sidebak[PATH_MAX + 24];
	static const char *const sides[] = { "-wal", "-shm" };
	int i, j;

	for (i = 0; i < n; i++) {
		snprintf(s[i].bak, sizeof(s[i].bak), "%s.bak", s[i].target);
		s[i].had = access(s[i].target, F_OK) == 0;
		if (s[i].had && rename(s[i].target, s[i].bak) != 0) {
			backup_say(errbuf, errlen, "cannot move %s aside: %s", s[i].target,
			    strerror(errno));
			goto undo;
		}
		/* A database's side files belong to the old copy now. */
		for (j = 0; j < 2; j++) {
			snprintf(side, sizeof(side), "%s%s", s[i].target, sides[j]);
			snprintf(sidebak, sizeof(sidebak), "%s%s", s[i].bak, sides[j]);
			if (access(side, F_OK) == 0)
				(void)rename(side, sidebak);
		}
		if (restore_move(s[i].staged, s[i].target) != 0) {
			backup_say(errbuf, errlen, "cannot put %s in place: %s", s[i].target,
			    strerror(errno));
			if (s[i].had)
				(void)rename(s[i].bak, s[i].target);
			goto undo;
		}
		s[i].done = 1;
	}
	return 0;
undo:
	while (--i >= 0) {
		if (s[i].had)
			(void)rename(s[i].bak, s[i].target);
		else
			unlink(s[i].target);
	}
	return -1;
}

/* Checks, and migrates forward, the staged database. 0 or -1 with errbuf set. */
static int
restore_prepare_db(struct admin *a, const char *path, struct backup_facts *f, int *migrated,
    char *errbuf, size_t errlen)
{
	struct migrate_status st;
	struct db_opts opts;
	sqlite3 *db = NULL;
	enum qp_err err;
	char check[64];
	sqlite3_stmt *q = NULL;
	int rc = -1;

	*migrated = 0;
	if (admin_load_schema(a) != 0) {
		backup_say(errbuf, errlen, "cannot load this quotapool's migrations");
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.busy_timeout_ms = 5000;
	if ((db = db_open(path, &opts, &err, errbuf, errlen)) == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		backup_say(errbuf, errlen, "the archived database cannot be read: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	snprintf(check, sizeof(check), "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	q = NULL;
	if (strcmp(check, "ok") != 0) {
		backup_say(errbuf, errlen, "the archived database fails SQLite's quick_check: %s",
		    check);
		goto out;
	}
	if (backup_read_facts(db, f) != 0) {
		backup_say(errbuf, errlen, "the archived database is not a quotapool database");
		goto out;
	}
	if (f->schema_version > a->schema.files[a->schema.n - 1].version) {
		backup_say(errbuf, errlen, "the archived database has schema version %d, newer "
		    "than this quotapool knows (%d): restore it with a newer quotapool",
		    f->schema_version, a->schema.files[a->schema.n - 1].version);
		goto out;
	}
	if (migrate_check(db, &a->schema, &st, errbuf, errlen) != QP_OK)
		goto out;
	if (st.pending > 0) {
		if (migrate_apply(db, &a->schema, migrated, errbuf, errlen) != QP_OK)
			goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(q);
	db_close(db);
	return rc;
}

/* Returns 1 if path lies inside dir (both absolute, dir without a trailing '/'). */
static int
restore_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int
cmd_restore(struct admin *a, int argc, char **argv)
{
	struct restore_swap sw[3];
	struct backup_facts f;
	const char *archive = NULL, *into = NULL;
	char stage[PATH_MAX - 64], errbuf[1024], who[256], dirbuf[PATH_MAX], p[PATH_MAX];
	char intodir[PATH_MAX], cfgpath[PATH_MAX], envpath[PATH_MAX];
	const cJSON *files, *fe;
	cJSON *m = NULL;
	struct config_diag diag = { NULL, 0, 0 };
	struct config *newcfg = NULL;
	int i, force = 0, n = 0, migrated = 0, rc = 1, staged = 0, has_env = 0;
	enum qp_err err;

	memset(sw, 0, sizeof(sw));
	memset(&f, 0, sizeof(f));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--into") == 0 && i + 1 < argc)
			into = argv[++i];
		else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin restore ARCHIVE [--into DIR] [--force]\n\n"
			    "Checks the archive's manifest and sha256 sums, migrates an older "
			    "database\nforward (a newer one is refused), then swaps the "
			    "configuration, .env and\ndatabase into place, keeping the previous "
			    "files as .bak. Without --into it\nrestores the instance of the "
			    "configuration in use, and refuses while a gateway\nserves it unless "
			    "--force. With --into DIR it makes a new instance in DIR.\nExit 0 on "
			    "success, 1 on any failure, 2 on bad usage.\n");
			return 0;
		} else if (archive == NULL && argv[i][0] != '-')
			archive = argv[i];
		else
			return restore_usage();
	}
	if (archive == NULL)
		return restore_usage();
	/* Verify the whole archive before touching anything. */
	if ((m = bundle_read(archive, NULL, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	files = cJSON_GetObjectItemCaseSensitive(m, "files");
	cJSON_ArrayForEach(fe, files) {
		const char *nm = cJSON_GetObjectItemCaseSensitive(fe, "name")->valuestring;

		if (strcmp(nm, BACKUP_M_ENV) == 0)
			has_env = 1;
		else if (strcmp(nm, BACKUP_M_DB) != 0 && strcmp(nm, BACKUP_M_CONFIG) != 0) {
			admin_err("%s holds %s, which this quotapool does not restore", archive,
			    nm);
			goto out;
		}
	}
	if (into != NULL) {
		if (paths_mkdirs(into, 0700) != QP_OK || realpath(into, intodir) == NULL) {
			admin_err("cannot create %s: %s", into, strerror(errno));
			goto out;
		}
		if (paths_join(cfgpath, sizeof(cfgpath), intodir, "config.toml") != QP_OK ||
		    paths_join(envpath, sizeof(envpath), intodir, ".env") != QP_OK) {
			admin_err("path too long: %s", intodir);
			goto out;
		}
		if (access(cfgpath, F_OK) == 0 && !force) {
			admin_err("%s holds an instance already (config.toml): restore into an "
			    "empty directory, or give --force to replace it", intodir);
			goto out;
		}
		snprintf(dirbuf, sizeof(dirbuf), "%s", intodir);
	} else {
		if (admin_load_config(a) != 0)
			goto out;
		snprintf(cfgpath, sizeof(cfgpath), "%s", a->config_path);
		if (paths_join(envpath, sizeof(envpath), a->cfg->dir, ".env") != QP_OK) {
			admin_err("path too long: %s", a->cfg->dir);
			goto out;
		}
		snprintf(p, sizeof(p), "%s", a->cfg->database.path);
		snprintf(dirbuf, sizeof(dirbuf), "%s", dirname(p));
		if (restore_live(a->cfg->database.path, who, sizeof(who))) {
			if (!force) {
				admin_err("the gateway is serving %s (%s): stop it first, or "
				    "give --force", a->cfg->database.path, who);
				goto out;
			}
			fprintf(stderr, "quotapool-admin: warning: restoring under a running "
			    "gateway (%s): restart it right after\n", who);
		}
	}
	/* Extract into a private directory beside the database. */
	if (paths_mkdirs(dirbuf, 0700) != QP_OK ||
	    (size_t)snprintf(stage, sizeof(stage), "%s/.restore-XXXXXX", dirbuf) >=
	    sizeof(stage) || mkdtemp(stage) == NULL) {
		admin_err("cannot make a staging directory in %s: %s", dirbuf, strerror(errno));
		goto out;
	}
	staged = 1;
	cJSON_Delete(m);
	if ((m = bundle_read(archive, stage, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	snprintf(p, sizeof(p), "%s/%s", stage, BACKUP_M_DB);
	if (restore_prepare_db(a, p, &f, &migrated, errbuf, sizeof(errbuf)) != 0) {
		admin_err("%s", errbuf);
		goto out;
	}
	/* The files to swap: configuration and .env, then the database. */
	snprintf(sw[n].staged, sizeof(sw[n].staged), "%s/%s", stage, BACKUP_M_CONFIG);
	snprintf(sw[n++].target, sizeof(sw[0].target), "%s", cfgpath);
	if (has_env) {
		snprintf(sw[n].staged, sizeof(sw[n].staged), "%s/%s", stage, BACKUP_M_ENV);
		snprintf(sw[n++].target, sizeof(sw[0].target), "%s", envpath);
	}
	if (into != NULL) {
		/*
		 * Where the archived configuration puts the database: it is
		 * loaded where it was extracted (relative paths resolve there,
		 * its .env beside it), and its place mapped into DIR.
		 */
		if (has_env) {
			char envstage[PATH_MAX + 8];

			snprintf(envstage, sizeof(envstage), "%s/%s", stage, BACKUP_M_ENV);
			snprintf(p, sizeof(p), "%s/.env", stage);
			if (restore_copy(envstage, p) != 0) {
				admin_err("cannot write %s: %s", p, strerror(errno));
				goto out;
			}
		}
		newcfg = config_load(sw[0].staged, &diag, &err);
		config_diag_print(&diag, cfgpath, stderr);
		config_diag_free(&diag);
		if (newcfg == NULL) {
			admin_err("the archived configuration does not load (see above)");
			goto out;
		}
		if (!restore_inside(newcfg->database.path, stage)) {
			admin_err("the archived configuration keeps its database at %s, outside "
			    "the instance's directory: restore it in place (without --into), or "
			    "use a relative [database] path", newcfg->database.path);
			goto out;
		}
		if ((size_t)snprintf(sw[n].target, sizeof(sw[0].target), "%s%s", intodir,
		    newcfg->database.path + strlen(stage)) >= sizeof(sw[0].target)) {
			admin_err("path too long: %s", intodir);
			goto out;
		}
		snprintf(p, sizeof(p), "%s", sw[n].target);
		if (paths_mkdirs(dirname(p), 0700) != QP_OK) {
			admin_err("cannot create %s: %s", p, strerror(errno));
			goto out;
		}
	} else
		snprintf(sw[n].target, sizeof(sw[0].target), "%s", a->cfg->database.path);
	snprintf(sw[n++].staged, sizeof(sw[0].staged), "%s/%s", stage, BACKUP_M_DB);
	if (restore_swap(sw, n, errbuf, sizeof(errbuf)) != 0) {
		admin_err("%s; nothing was changed", errbuf);
		goto out;
	}
	printf("restored %s (%lld requests, schema version %d%s)\n", archive,
	    (long long)f.requests, f.schema_version, migrated > 0 ?
	    ", migrated forward" : "");
	for (i = 0; i < n; i++)
		printf("  %s%s\n", sw[i].target, sw[i].had ? " (previous kept as .bak)" : "");
	if (into == NULL)
		printf("restart the gateway to serve the restored database\n");
	rc = 0;
out:
	if (staged) {
		for (i = 0; i < 4; i++) {
			static const char *const names[] = { BACKUP_M_CONFIG, BACKUP_M_ENV,
			    BACKUP_M_DB, ".env" };

			snprintf(p, sizeof(p), "%s/%s", stage, names[i]);
			unlink(p);
			snprintf(p, sizeof(p), "%s/%s-journal", stage, names[i]);
			unlink(p);
			snprintf(p, sizeof(p), "%s/%s-wal", stage, names[i]);
			unlink(p);
			snprintf(p, sizeof(p), "%s/%s-shm", stage, names[i]);
			unlink(p);
		}
		rmdir(stage);
	}
	config_free(newcfg);
	cJSON_Delete(m);
	return rc;
}
