/* status.c: quotapool-admin status: is the gateway serving, and what stands out at a glance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "admin.h"
#include "autobackup.h"
#include "maint.h"
#include "procs.h"
#include "reload.h"

/* The health check's bounds (ms). */
#define STATUS_CONNECT_MS	2000
#define STATUS_TOTAL_MS		5000
/* Backoffs listed at most. */
#define STATUS_BACKOFFS_MAX	200

/* What the health check found. */
struct status_health {
	char		 url[300];	/* what was asked */
	long		 code;		/* HTTP status, 0 = no answer */
	char		 error[CURL_ERROR_SIZE]; /* why not, "" if answered */
};

/* One process with what status adds to its row. */
struct status_proc {
	struct procs_row row;
	int		 fresh;		/* heartbeat within MAINT_LEASE_TTL_MS */
	int64_t		 reloaded_at;	/* its last reload applied (ms), 0 = none */
	int64_t		 generation;	/* the configuration it then had, 0 = the first */
};

/* One backoff in force. */
struct status_backoff {
	char		 account[128];
	char		 model[128];	/* "" = the whole account */
	char		 reason[32];
	int64_t		 until;		/* ms */
	int		 status_code;	/* 0 = none */
};

static int
status_usage(void)
{

	admin_err("usage: quotapool-admin status [--json]");
	return 2;
}

static int64_t
status_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Formats ms since the epoch as "YYYY-MM-DD HH:MM:SS" (UTC). */
static void
status_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Discards a response body. */
static size_t
status_discard(char *p, size_t size, size_t n, void *arg)
{

	(void)p;
	(void)arg;
	return size * n;
}

/* Asks GET /v1/healthz where [server] host:port says the web server listens. */
static void
status_healthz(const struct config *cfg, struct status_health *h)
{
	const char *host = cfg->server.host != NULL ? cfg->server.host : "127.0.0.1";
	CURL *c;
	CURLcode rc;

	memset(h, 0, sizeof(*h));
	/* A wildcard address is reached on loopback. */
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(h->url, sizeof(h->url), strchr(host, ':') != NULL ?
	    "http://[%s]:%d/v1/healthz" : "http://%s:%d/v1/healthz", host, cfg->server.port);
	if ((c = curl_easy_init()) == NULL) {
		snprintf(h->error, sizeof(h->error), "cannot set up libcurl");
		return;
	}
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)STATUS_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)STATUS_TOTAL_MS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, status_discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->error);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->code);
	else if (h->error[0] == '\0')
		snprintf(h->error, sizeof(h->error), "%s", curl_easy_strerror(rc));
	if (rc == CURLE_OK)
		h->error[0] = '\0';
	curl_easy_cleanup(c);
}

/* Fills p's last applied reload, if any. */
static void
status_last_reload(sqlite3 *db, struct status_proc *p)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "SELECT occurred_at, json_extract(details_json, "
	    "'$.generation') FROM operational_events WHERE event_type = ?1 AND "
	    "json_extract(details_json, '$.process_id') = ?2 ORDER BY id DESC LIMIT 1",
	    -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, RELOAD_EVENT_OK, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->row.id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->reloaded_at = sqlite3_column_int64(st, 0);
		p->generation = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

/* The integer a constant query returns; -1 on error. */
static int64_t
status_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The backoffs in force at now, soonest end first. Their count, or -1. */
static int
status_backoffs(sqlite3 *db, int64_t now, struct status_backoff *v, int max)
{
	sqlite3_stmt *st = NULL;
	const char *t;
	int n = 0, rc;

	if (sqlite3_prepare_v2(db, "SELECT account_name, model_id, reason, backoff_until, "
	    "status_code FROM account_backoffs WHERE backoff_until > ?1 "
	    "ORDER BY backoff_until, account_name, model_id LIMIT ?2", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
		memset(&v[n], 0, sizeof(v[n]));
		t = (const char *)sqlite3_column_text(st, 0);
		snprintf(v[n].account, sizeof(v[n].account), "%s", t != NULL ? t : "");
		t = (const char *)sqlite3_column_text(st, 1);
		snprintf(v[n].model, sizeof(v[n].model), "%s", t != NULL ? t : "");
		t = (const char *)sqlite3_column_text(st, 2);
		snprintf(v[n].reason, sizeof(v[n].reason), "%s", t != NULL ? t : "");
		v[n].until = sqlite3_column_int64(st, 3);
		v[n].status_code = sqlite3_column_int(st, 4);
		n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? n : -1;
}

/* The whole status as JSON on stdout. */
static void
status_print_json(int serving, const struct status_health *h, const struct status_proc *p,
    int np, const struct config *cfg, const struct autobackup_dir *bk, int bk_ok,
    int64_t pending, const struct status_backoff *b, int nb, int64_t now)
{
	cJSON *o, *arr, *e, *x;
	char *text;
	int i;

	if ((o = cJSON_CreateObject()) == NULL)
		return;
	cJSON_AddBoolToObject(o, "serving", serving);
	cJSON_AddStringToObject(o, "version", QP_VERSION);
	if ((x = cJSON_AddObjectToObject(o, "healthz")) != NULL) {
		cJSON_AddStringToObject(x, "url", h->url);
		if (h->code > 0)
			cJSON_AddNumberToObject(x, "status", (double)h->code);
		else
			cJSON_AddNullToObject(x, "status");
		if (h->error[0] != '\0')
			cJSON_AddStringToObject(x, "error", h->error);
		else
			cJSON_AddNullToObject(x, "error");
	}
	arr = cJSON_AddArrayToObject(o, "processes");
	for (i = 0; arr != NULL && i < np; i++) {
		if ((e = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddItemToArray(arr, e);
		cJSON_AddNumberToObject(e, "id", (double)p[i].row.id);
		cJSON_AddNumberToObject(e, "pid", (double)p[i].row.pid);
		cJSON_AddStringToObject(e, "host", p[i].row.host);
		cJSON_AddStringToObject(e, "version", p[i].row.version);
		cJSON_AddNumberToObject(e, "started_at", (double)p[i].row.started_at);
		cJSON_AddNumberToObject(e, "heartbeat_at", (double)p[i].row.heartbeat_at);
		cJSON_AddNumberToObject(e, "heartbeat_age_s",
		    (double)((now - p[i].row.heartbeat_at) / 1000));
		cJSON_AddStringToObject(e, "state", procs_state_name(p[i].row.state));
		cJSON_AddBoolToObject(e, "fresh", p[i].fresh);
		if (p[i].reloaded_at > 0) {
			cJSON_AddNumberToObject(e, "config_reloaded_at", (double)p[i].reloaded_at);
			cJSON_AddNumberToObject(e, "config_generation", (double)p[i].generation);
		} else {
			cJSON_AddNullToObject(e, "config_reloaded_at");
			cJSON_AddNumberToObject(e, "config_generation", 1);
		}
	}
	if ((x = cJSON_AddObjectToObject(o, "backup")) != NULL) {
		cJSON_AddStringToObject(x, "directory", cfg->backup.directory != NULL ?
		    cfg->backup.directory : "");
		if (bk_ok)
			cJSON_AddNumberToObject(x, "archives", bk->archives);
		else
			cJSON_AddNullToObject(x, "archives");
		if (bk_ok && bk->archives > 0 && (e = cJSON_AddObjectToObject(x, "newest")) != NULL) {
			cJSON_AddStringToObject(e, "name", bk->newest_name);
			cJSON_AddNumberToObject(e, "modified_at", (double)bk->newest_at);
			cJSON_AddNumberToObject(e, "bytes", (double)bk->newest_bytes);
		} else
			cJSON_AddNullToObject(x, "newest");
	}
	cJSON_AddNumberToObject(o, "pending_requests", (double)pending);
	arr = cJSON_AddArrayToObject(o, "backoffs");
	for (i = 0; arr != NULL && i < nb; i++) {
		if ((e = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "account", b[i].account);
		if (b[i].model[0] != '\0')
			cJSON_AddStringToObject(e, "model", b[i].model);
		else
			cJSON_AddNullToObject(e, "model");
		cJSON_AddStringToObject(e, "reason", b[i].reason);
		cJSON_AddNumberToObject(e, "until", (double)b[i].until);
		if (b[i].status_code > 0)
			cJSON_AddNumberToObject(e, "status_code", b[i].status_code);
		else
			cJSON_AddNullToObject(e, "status_code");
	}
	if ((text = cJSON_Print(o)) != NULL) {
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(o);
}

/* The whole status as text on stdout. */
static void
status_print_text(int serving, int live, const struct status_health *h,
    const struct status_proc *p, int np, const struct config *cfg,
    const struct autobackup_dir *bk, int bk_ok, int64_t pending,
    const struct status_backoff *b, int nb, int64_t now)
{
	char t1[32], t2[32], t3[32], gen[64];
	int i;

	printf("quotapool %s: %s\n", QP_VERSION, serving ? "serving" : "NOT serving");
	if (h->code > 0)
		printf("  %s: %ld\n", h->url, h->code);
	else
		printf("  %s: no answer (%s)\n", h->url, h->error);
	if (!live)
		printf("  no quotapool.fcgi process with a heartbeat in the last %d s\n",
		    MAINT_LEASE_TTL_MS / 1000);
	printf("processes: %d\n", np);
	if (np > 0)
		printf("  %-6s %-8s %-20s %-10s %-20s %-10s %-8s %s\n", "ID", "PID", "HOST",
		    "VERSION", "STARTED (UTC)", "HEARTBEAT", "STATE", "CONFIGURATION");
	for (i = 0; i < np; i++) {
		status_time(p[i].row.started_at, t1, sizeof(t1));
		snprintf(t2, sizeof(t2), "%llds ago",
		    (long long)((now - p[i].row.heartbeat_at) / 1000));
		if (p[i].reloaded_at > 0) {
			status_time(p[i].reloaded_at, t3, sizeof(t3));
			snprintf(gen, sizeof(gen), "%lld, reloaded %s", (long long)p[i].generation,
			    t3);
		} else
			snprintf(gen, sizeof(gen), "1, as started");
		printf("  %-6lld %-8ld %-20s %-10s %-20s %-10s %-8s %s\n", (long long)p[i].row.id,
		    p[i].row.pid, p[i].row.host, p[i].row.version, t1, t2,
		    procs_state_name(p[i].row.state), gen);
	}
	if (!bk_ok)
		printf("newest backup: cannot read %s\n", cfg->backup.directory);
	else if (bk->archives == 0)
		printf("newest backup: none in %s\n", cfg->backup.directory);
	else {
		status_time(bk->newest_at, t1, sizeof(t1));
		printf("newest backup: %s, %s UTC, %lld bytes (%d archive%s in %s)\n",
		    bk->newest_name, t1, (long long)bk->newest_bytes, bk->archives,
		    bk->archives == 1 ? "" : "s", cfg->backup.directory);
	}
	printf("pending requests: %lld\n", (long long)pending);
	printf("backoffs: %d\n", nb);
	if (nb > 0)
		printf("  %-24s %-24s %-18s %-20s %s\n", "ACCOUNT", "MODEL", "REASON",
		    "UNTIL (UTC)", "LEFT");
	for (i = 0; i < nb; i++) {
		status_time(b[i].until, t1, sizeof(t1));
		printf("  %-24s %-24s %-18s %-20s %llds\n", b[i].account,
		    b[i].model[0] != '\0' ? b[i].model : "(all models)", b[i].reason, t1,
		    (long long)((b[i].until - now + 999) / 1000));
	}
}

int
cmd_status(struct admin *a, int argc, char **argv)
{
	struct status_health h;
	struct procs_row *rows = NULL;
	struct status_proc *p = NULL;
	struct status_backoff *b = NULL;
	struct autobackup_dir bk;
	int64_t now, pending;
	int i, n = 0, nb, json = 0, live = 0, serving, bk_ok, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin status [--json]\n\n"
			    "Tells whether the gateway is serving: a quotapool.fcgi process with a "
			    "fresh\nheartbeat in the database, and GET /v1/healthz answering 200 on "
			    "[server] host:port.\nLists the processes (version, pid, start, "
			    "heartbeat, last reload), the newest\nbackup in [backup] directory, the "
			    "pending requests and the backoffs in force.\nExit 0 when serving, 1 "
			    "when not (or on an error), 2 on bad usage.\n");
			return 0;
		} else
			return status_usage();
	}
	if (admin_load_config(a) != 0 || admin_open_migrated_db(a) != 0)
		return 1;
	status_healthz(a->cfg, &h);
	now = status_now_ms();
	if (procs_list(a->db, now, &rows, &n) != 0)
		goto out;
	if ((p = calloc(n > 0 ? (size_t)n : 1, sizeof(*p))) == NULL ||
	    (b = calloc(STATUS_BACKOFFS_MAX, sizeof(*b))) == NULL) {
		admin_err("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		p[i].row = rows[i];
		p[i].fresh = rows[i].state != PROCS_GONE &&
		    rows[i].heartbeat_at > now - MAINT_LEASE_TTL_MS;
		live += p[i].fresh;
		status_last_reload(a->db, &p[i]);
	}
	pending = status_count(a->db, "SELECT count(*) FROM requests WHERE status = 'pending'");
	if (pending < 0 || (nb = status_backoffs(a->db, now, b, STATUS_BACKOFFS_MAX)) < 0) {
		admin_err("cannot read %s: %s", a->cfg->database.path, sqlite3_errmsg(a->db));
		goto out;
	}
	bk_ok = autobackup_scan(a->cfg->backup.directory, &bk) == QP_OK;
	serving = live > 0 && h.code == 200;
	if (json)
		status_print_json(serving, &h, p, n, a->cfg, &bk, bk_ok, pending, b, nb, now);
	else
		status_print_text(serving, live > 0, &h, p, n, a->cfg, &bk, bk_ok, pending, b,
		    nb, now);
	rc = serving ? 0 : 1;
out:
	free(b);
	free(p);
	free(rows);
	return rc;
}
