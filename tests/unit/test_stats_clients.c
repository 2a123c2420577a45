/* test_stats_clients.c: requests by client family: the migration, the rollup and the dataset. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../tap.h"
#include "db.h"
#include "migrate.h"
#include "stats.h"
#include "useragent.h"

#define NOW	1700000000000LL	/* 2023-11-14 22:13:20 UTC */
#define HOUR	3600000LL

static sqlite3 *db;

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static int64_t
one(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The requests of family in a /api/stats/clients answer, -1 if not listed. */
static int64_t
requests_of(const cJSON *j, const char *family)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "clients"))
		if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "family")->valuestring,
		    family) == 0)
			return (int64_t)cJSON_GetObjectItemCaseSensitive(c, "requests")->valuedouble;
	return -1;
}

int
main(void)
{
	static char tmpdir[] = "/tmp/qp-test-stats-clients-XXXXXX";
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct stats_rollup *ru;
	struct stats_db *sdb;
	struct stats_query q;
	char dir[512], path[600], errbuf[512];
	enum qp_err err;
	cJSON *j;
	int n, all, i;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(path, sizeof(path), "%s/c.db", tmpdir);
	db = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}

	/* A database of the version before: requests counted without a family. */
	all = set.n;
	for (i = 0; i < set.n && strstr(set.files[i].name, "_routing_clients.sql") == NULL; i++)
		;
	ok(i < set.n, "the migration of the client families is shipped");
	set.n = i;
	if (migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! %s\n", errbuf);
		return 1;
	}
	exec("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, account_name, "
	    "status, requests, input_tokens, total_ms_sum, total_count) VALUES "
	    "(3600, 1699995600000, 'p', 'm', 'a', 'completed', 3, 30, 300, 3), "
	    "(3600, 1699995600000, 'p', 'm2', 'a', 'completed', 2, 20, 200, 2), "
	    "(3600, 1699995600000, 'p', 'm', 'a', 'error', 1, 0, 0, 0), "
	    "(0, 0, 'p', 'm', 'a', 'completed', 5, 50, 500, 5)");
	set.n = all;
	is_int(migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)), QP_OK, "the migration applies");
	is_int(one("SELECT sum(requests) FROM stats_clients WHERE bucket_s = 3600 AND "
	    "client_family = 'other'"), 6, "earlier requests are counted as other, every status");
	is_int(one("SELECT requests FROM stats_clients WHERE bucket_s = 3600 AND status = "
	    "'completed'"), 5, "... summed over models, providers and accounts");
	is_int(one("SELECT input_tokens FROM stats_clients WHERE bucket_s = 3600 AND status = "
	    "'completed'"), 50, "... with their tokens");
	is_int(one("SELECT requests FROM stats_clients WHERE bucket_s = 0"), 5,
	    "... and the all-time row");

	/* The rollup adds each finalized request under its family. */
	if ((ru = stats_rollup_new(db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (sdb = stats_db_new(db, &err, errbuf, sizeof(errbuf))) == NULL) {
		printf("Bail out! %s\n", errbuf);
		return 1;
	}
	exec("INSERT INTO requests (request_uid, protocol, endpoint, model, model_base, "
	    "provider_id, account_name, status, status_code, started_at, completed_at, "
	    "total_ms, input_tokens, output_tokens, cost_microdollars, user_agent, "
	    "client_family) VALUES ('u1', 'openai', '/v1/chat/completions', 'm', 'm', 'p', 'a', "
	    "'completed', 200, 1699999990000, 1700000000000, 10000, 7, 3, 11, "
	    "'codex_cli_rs/0.169.0', 'codex')");
	is_int(stats_rollup_request(ru, one("SELECT id FROM requests WHERE request_uid = 'u1'")),
	    QP_OK, "rollup of a codex request");
	exec("INSERT INTO requests (request_uid, protocol, endpoint, model, status, status_code, "
	    "started_at, completed_at) VALUES ('u2', 'openai', '/v1/chat/completions', 'm', "
	    "'rejected', 404, 1699999995000, 1699999995000)");
	is_int(stats_rollup_request(ru, one("SELECT id FROM requests WHERE request_uid = 'u2'")),
	    QP_OK, "rollup of a row without a family (written before the migration)");
	is_int(one("SELECT count(*) FROM stats_clients WHERE client_family = 'codex'"), 4,
	    "the codex request at every granularity");
	is_int(one("SELECT input_tokens + output_tokens FROM stats_clients WHERE bucket_s = 300 "
	    "AND client_family = 'codex'"), 10, "with its tokens");
	is_int(one("SELECT requests FROM stats_clients WHERE bucket_s = 300 AND status = "
	    "'rejected' AND client_family = 'other'"), 1, "a row without a family: other");

	/* The dataset lists every family, the most requests first. */
	stats_query_init(&q, NOW + HOUR);
	j = stats_dataset_run(sdb, NULL, STATS_DS_CLIENTS, &q, &err, errbuf, sizeof(errbuf));
	ok(j != NULL, "clients dataset");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "clients")), USERAGENT__MAX,
	    "every family listed");
	is_int(requests_of(j, "other"), 7, "other: the 6 earlier requests and the one without "
	    "a family");
	is_int(requests_of(j, "codex"), 1, "codex: 1");
	is_int(requests_of(j, "claude-cli"), 0, "claude-cli: 0, listed all the same");
	is_int((int64_t)cJSON_GetObjectItemCaseSensitive(j, "total_requests")->valuedouble, 8,
	    "total_requests");
	is_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(j, "clients"), 0), "family")->valuestring, "other",
	    "the most requests first");
	cJSON_Delete(j);
	snprintf(q.status, sizeof(q.status), "rejected");
	q.filters = STATS_F_STATUS;
	j = stats_dataset_run(sdb, NULL, STATS_DS_CLIENTS, &q, &err, errbuf, sizeof(errbuf));
	is_int(requests_of(j, "other"), 1, "status=rejected: the one rejected");
	is_int(requests_of(j, "codex"), 0, "status=rejected: no codex request");
	cJSON_Delete(j);
	q.filters = STATS_F_MODEL;
	snprintf(q.model, sizeof(q.model), "m");
	ok(stats_dataset_run(sdb, NULL, STATS_DS_CLIENTS, &q, &err, errbuf, sizeof(errbuf)) ==
	    NULL && err == QP_EINVAL, "a model filter is refused: %s", errbuf);

	stats_db_free(sdb);
	stats_rollup_free(ru);
	db_close(db);
	migrate_set_free(&set);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.db-wal", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.db-shm", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return done_testing();
}
