/* bench_stats.c: times every statistics dataset on a database of a million requests over 30 days. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "metrics.h"
#include "migrate.h"
#include "stats.h"

#define HOUR_MS		3600000LL
#define DAY_MS		(24 * HOUR_MS)
#define NPROV		4
#define NACCT		3	/* per provider */
#define NMODEL		3	/* per provider, from a shared list */
#define RUNS		5	/* timed runs of each dataset and period; the median is shown */

static const char *const providers[NPROV] = { "openrouter", "anthropic", "zai", "local" };
static const char *const model_names[8] = {
	"claude-sonnet-4", "claude-haiku-4", "glm-4.6", "minimax-m2", "qwen3-coder",
	"gpt-oss-120b", "kimi-k2", "deepseek-v3",
};
static const char *const exactness[4] = { "exact", "derived", "estimated", "provider_reported" };
static const char *const classes[5] = {
	"upstream_5xx", "upstream_429", "connect_timeout", "stream_broken", "bad_request",
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(uint64_t n)
{

	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(sqlite3 *db, const char *what)
{

	fprintf(stderr, "bench_stats: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "");
	exit(1);
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_stats: %s: %s\n", sql, msg != NULL ? msg : "?");
		exit(1);
	}
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(db, sql);
	return st;
}

static void
step(sqlite3 *db, sqlite3_stmt *st)
{

	if (sqlite3_step(st) != SQLITE_DONE)
		die(db, sqlite3_sql(st));
	sqlite3_reset(st);
}

/* The configuration the bench's accounts come from (quota on every account). */
static struct config_provider cprov[NPROV];
static struct config_account cacct[NPROV][NACCT];
static char acct_names[NPROV][NACCT][32];

static void
make_config(struct config *cfg)
{
	int p, a;

	memset(cfg, 0, sizeof(*cfg));
	for (p = 0; p < NPROV; p++) {
		for (a = 0; a < NACCT; a++) {
			snprintf(acct_names[p][a], sizeof(acct_names[p][a]), "%s-%d", providers[p], a + 1);
			cacct[p][a].name = acct_names[p][a];
			cacct[p][a].enabled = 1;
			cacct[p][a].weight = 1;
			cacct[p][a].quota[CONFIG_WINDOW_5H].requests = 2000;
			cacct[p][a].quota[CONFIG_WINDOW_WEEK].microdollars = 50000000;
			cacct[p][a].quota[CONFIG_WINDOW_MONTH].tokens = 2000000000;
		}
		cprov[p].id = (char *)providers[p];
		cprov[p].enabled = 1;
		cprov[p].accounts = cacct[p];
		cprov[p].naccounts = NACCT;
	}
	cfg->providers = cprov;
	cfg->nproviders = NPROV;
}

/* Fills the database: rows requests over 30 days before now, attempts for every fifth. */
static void
generate(sqlite3 *db, struct stats_rollup *ru, long rows, int64_t now)
{
	sqlite3_stmt *req, *att, *dec, *ping;
	double t0 = now_s(), t_roll = 0, t1;
	long i, n_att = 0, n_rolled = 0;
	int p, a, m, k, attempts, ok, more;
	int64_t done, total, id;
	const char *status, *cls;
	char uid[64], detail[512];

	req = prep(db, "INSERT INTO requests (request_uid, protocol, endpoint, model, model_base, "
	    "provider_id, account_name, streamed, status, status_code, error_class, "
	    "retry_category, attempt_count, started_at, completed_at, connect_ms, first_byte_ms, "
	    "ttft_ms, total_ms, overhead_us, input_tokens, output_tokens, cache_read_tokens, "
	    "cache_write_tokens, reasoning_tokens, cost_microdollars, cost_exactness, bytes_in, "
	    "bytes_out, upstream_bytes, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '192.168.1.20')");
	att = prep(db, "INSERT INTO request_attempts (request_id, attempt_number, provider_id, "
	    "account_name, model, started_at, completed_at, status_code, outcome, retry_category, "
	    "error_class, connect_ms, first_byte_ms, total_ms, bytes_sent, bytes_received) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 12, 300, ?, 20000, 9000)");
	dec = prep(db, "INSERT INTO routing_decisions (request_id, attempt_number, model, "
	    "chosen_account, chosen_provider, tier, candidates, eligible, detail_json, decided_at) "
	    "VALUES (?, ?, ?, ?, ?, 0, 3, ?, ?, ?)");
	exec(db, "BEGIN");
	for (i = 0; i < rows; i++) {
		p = (int)rnd(NPROV);
		a = (int)rnd(NACCT);
		m = (p * 2 + (int)rnd(NMODEL)) % 8;
		k = (int)rnd(100);
		status = k < 90 ? "completed" : k < 94 ? "error" : k < 97 ? "client_error" :
		    k < 99 ? "client_disconnected" : "interrupted";
		ok = strcmp(status, "completed") == 0;
		cls = ok ? NULL : classes[rnd(5)];
		k = (int)rnd(100);
		attempts = k < 93 ? 1 : k < 98 ? 2 : 3;
		total = 200 + (int64_t)rnd(30000) + (rnd(10) == 0 ? (int64_t)rnd(200000) : 0);
		done = now - 1 - (int64_t)((double)(rows - i) / (double)rows * 30 * DAY_MS) +
		    (int64_t)rnd(1000);
		if (done >= now)
			done = now - 1;
		snprintf(uid, sizeof(uid), "%08lx-0000-4000-8000-%012lx", (unsigned long)(i >> 16),
		    (unsigned long)i);
		sqlite3_bind_text(req, 1, uid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(req, 2, rnd(3) == 0 ? "anthropic" : "openai", -1, SQLITE_STATIC);
		sqlite3_bind_text(req, 3, "/v1/chat/completions", -1, SQLITE_STATIC);
		sqlite3_bind_text(req, 4, model_names[m], -1, SQLITE_STATIC);
		sqlite3_bind_text(req, 5, model_names[m], -1, SQLITE_STATIC);
		sqlite3_bind_text(req, 6, providers[p], -1, SQLITE_STATIC);
		sqlite3_bind_text(req, 7, acct_names[p][a], -1, SQLITE_STATIC);
		sqlite3_bind_int(req, 8, rnd(10) < 8);
		sqlite3_bind_text(req, 9, status, -1, SQLITE_STATIC);
		sqlite3_bind_int(req, 10, ok ? 200 : 502);
		if (cls != NULL)
			sqlite3_bind_text(req, 11, cls, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(req, 11);
		if (attempts > 1)
			sqlite3_bind_text(req, 12, "transient", -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(req, 12);
		sqlite3_bind_int(req, 13, attempts);
		sqlite3_bind_int64(req, 14, done - total);
		sqlite3_bind_int64(req, 15, done);
		sqlite3_bind_int64(req, 16, 5 + (int64_t)rnd(80));
		sqlite3_bind_int64(req, 17, 100 + (int64_t)rnd(total / 2 + 1));
		sqlite3_bind_int64(req, 18, 150 + (int64_t)rnd(total / 2 + 1));
		sqlite3_bind_int64(req, 19, total);
		sqlite3_bind_int64(req, 20, 40 + (int64_t)rnd(400));
		sqlite3_bind_int64(req, 21, (int64_t)rnd(20000));
		sqlite3_bind_int64(req, 22, (int64_t)rnd(4000));
		sqlite3_bind_int64(req, 23, rnd(2) ? (int64_t)rnd(100000) : 0);
		sqlite3_bind_int64(req, 24, rnd(5) == 0 ? (int64_t)rnd(8000) : 0);
		sqlite3_bind_int64(req, 25, (int64_t)rnd(1000));
		sqlite3_bind_int64(req, 26, (int64_t)rnd(60000));
		sqlite3_bind_text(req, 27, exactness[rnd(4)], -1, SQLITE_STATIC);
		sqlite3_bind_int64(req, 28, 2000 + (int64_t)rnd(400000));
		sqlite3_bind_int64(req, 29, 500 + (int64_t)rnd(60000));
		sqlite3_bind_int64(req, 30, 600 + (int64_t)rnd(70000));
		step(db, req);
		id = sqlite3_last_insert_rowid(db);
		/* Attempts and decisions for every fifth request and every retried one. */
		if (i % 5 == 0 || attempts > 1) {
			for (k = 1; k <= attempts; k++) {
				int last = k == attempts;
				int ap = last ? p : (p + k) % NPROV, aa = last ? a : (a + k) % NACCT;

				sqlite3_bind_int64(att, 1, id);
				sqlite3_bind_int(att, 2, k);
				sqlite3_bind_text(att, 3, providers[ap], -1, SQLITE_STATIC);
				sqlite3_bind_text(att, 4, acct_names[ap][aa], -1, SQLITE_STATIC);
				sqlite3_bind_text(att, 5, model_names[m], -1, SQLITE_STATIC);
				sqlite3_bind_int64(att, 6, done - total);
				sqlite3_bind_int64(att, 7, done);
				sqlite3_bind_int(att, 8, last && ok ? 200 : 429);
				sqlite3_bind_text(att, 9, last && ok ? "ok" : last ? "transient" :
				    "rate_limited", -1, SQLITE_STATIC);
				if (last && ok)
					sqlite3_bind_null(att, 10);
				else
					sqlite3_bind_text(att, 10, last ? "transient" : "quota_exceeded", -1,
					    SQLITE_STATIC);
				if (last && ok)
					sqlite3_bind_null(att, 11);
				else
					sqlite3_bind_text(att, 11, "upstream_429", -1, SQLITE_STATIC);
				sqlite3_bind_int64(att, 12, total / attempts);
				step(db, att);
				snprintf(detail, sizeof(detail), "{\"model\":\"%s\",\"accounts\":["
				    "{\"account\":\"%s\",\"provider\":\"%s\",\"reason\":\"eligible\","
				    "\"chosen\":true},{\"account\":\"%s\",\"provider\":\"%s\",\"reason\":"
				    "\"%s\"%s},{\"account\":\"%s\",\"provider\":\"%s\",\"reason\":"
				    "\"eligible\"}]}", model_names[m], acct_names[ap][aa], providers[ap],
				    acct_names[ap][(aa + 1) % NACCT], providers[ap],
				    k > 1 ? "backoff" : "already_tried",
				    k > 1 ? ",\"backoff\":\"rate_limited\"" : "",
				    acct_names[ap][(aa + 2) % NACCT], providers[ap]);
				sqlite3_bind_int64(dec, 1, id);
				sqlite3_bind_int(dec, 2, k);
				sqlite3_bind_text(dec, 3, model_names[m], -1, SQLITE_STATIC);
				sqlite3_bind_text(dec, 4, acct_names[ap][aa], -1, SQLITE_STATIC);
				sqlite3_bind_text(dec, 5, providers[ap], -1, SQLITE_STATIC);
				sqlite3_bind_int(dec, 6, 2);
				sqlite3_bind_text(dec, 7, detail, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(dec, 8, done - total);
				step(db, dec);
				n_att++;
			}
		}
		t1 = now_s();
		if (stats_rollup_request(ru, id) != QP_OK)
			die(db, "stats_rollup_request");
		t_roll += now_s() - t1;
		n_rolled++;
		if (i % 20000 == 19999) {
			exec(db, "COMMIT");
			exec(db, "BEGIN");
		}
		if (i % 200000 == 199999)
			fprintf(stderr, "  %ld rows, %.0f s\n", i + 1, now_s() - t0);
	}
	exec(db, "COMMIT");
	sqlite3_finalize(req);
	sqlite3_finalize(att);
	sqlite3_finalize(dec);

	/* Pings every 5 minutes per account; events; backoffs; pending requests. */
	ping = prep(db, "INSERT INTO provider_pings (provider_id, account_name, probed_at, "
	    "latency_ms, status_code, ok, error, model_count) VALUES (?, ?, ?, ?, ?, ?, ?, 40)");
	exec(db, "BEGIN");
	for (done = now - 30 * DAY_MS; done < now; done += 300000)
		for (p = 0; p < NPROV; p++)
			for (a = 0; a < NACCT; a++) {
				ok = rnd(50) != 0;
				sqlite3_bind_text(ping, 1, providers[p], -1, SQLITE_STATIC);
				sqlite3_bind_text(ping, 2, acct_names[p][a], -1, SQLITE_STATIC);
				sqlite3_bind_int64(ping, 3, done + (int64_t)rnd(1000));
				if (ok) {
					sqlite3_bind_int64(ping, 4, 80 + (int64_t)rnd(400));
					sqlite3_bind_int(ping, 5, 200);
					sqlite3_bind_null(ping, 7);
				} else {
					sqlite3_bind_null(ping, 4);
					sqlite3_bind_null(ping, 5);
					sqlite3_bind_text(ping, 7, "timeout", -1, SQLITE_STATIC);
				}
				sqlite3_bind_int(ping, 6, ok);
				step(db, ping);
			}
	sqlite3_finalize(ping);
	for (k = 0; k < 500; k++) {
		char sql[256];

		snprintf(sql, sizeof(sql), "INSERT INTO operational_events (event_type, details_json, "
		    "occurred_at) VALUES ('%s', '{\"requests\":%d}', %lld)",
		    k % 3 ? "stale_finalized" : "crash_recovery", k, (long long)(now -
		    (int64_t)rnd(30 * DAY_MS)));
		exec(db, sql);
	}
	for (k = 0; k < 20; k++) {
		char sql[512];

		snprintf(sql, sizeof(sql), "INSERT INTO requests (request_uid, protocol, endpoint, "
		    "model, model_base, provider_id, account_name, streamed, status, started_at) "
		    "VALUES ('pending-%02d', 'openai', '/v1/chat/completions', 'glm-4.6', 'glm-4.6', "
		    "'zai', 'zai-1', 1, 'pending', %lld)", k, (long long)(now - (int64_t)rnd(600000)));
		exec(db, sql);
	}
	{
		char sql[512];

		snprintf(sql, sizeof(sql), "INSERT INTO account_backoffs (account_name, reason, "
		    "backoff_until, consecutive_failures, status_code, error_class, updated_at) VALUES "
		    "('openrouter-2', 'rate_limited', %lld, 3, 429, 'upstream_429', %lld), "
		    "('anthropic-3', 'auth_failure', %lld, 1, 401, 'upstream_401', %lld)",
		    (long long)(now + 60000), (long long)now, (long long)(now + 1800000),
		    (long long)now);
		exec(db, sql);
	}
	exec(db, "COMMIT");
	/* The maintenance thread keeps 5-minute rows for two days only. */
	do {
		exec(db, "BEGIN IMMEDIATE");
		if (stats_rollup_prune(ru, now, &more) != QP_OK)
			die(db, "stats_rollup_prune");
		exec(db, "COMMIT");
	} while (more);
	exec(db, "ANALYZE");
	printf("generated %ld requests (%ld attempts with decisions) in %.1f s; "
	    "stats_rollup_request: %.1f us per request\n", rows, n_att, now_s() - t0,
	    t_roll / (double)n_rolled * 1e6);
}

/* Rows of a table (the name is one of ours). */
static int64_t
count_rows(sqlite3 *db, const char *table)
{
	char sql[128];
	sqlite3_stmt *st;
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	st = prep(db, sql);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const char *const periods[4] = { "period=1h", "period=24h", "period=7d",
	    "period=30d" };
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 5000, NULL, 0, 0 };
	struct stats_query q;
	struct stats_db *sdb;
	struct stats_rollup *ru;
	struct metrics_db *mdb;
	struct config cfg;
	char dir[700], path[600], errbuf[512], qs[128], *buf;
	double t[RUNS], worst = 0;
	const char *worst_name = "";
	enum qp_err err;
	int64_t now;
	long rows = 1000000;
	size_t len;
	sqlite3 *db;
	cJSON *j;
	int d, p, r, n, keep = 0;

	for (n = 1; n < argc; n++) {
		if (strcmp(argv[n], "--rows") == 0 && n + 1 < argc)
			rows = strtol(argv[++n], NULL, 10);
		else if (strcmp(argv[n], "--keep") == 0)
			keep = 1;
		else {
			fprintf(stderr, "usage: bench_stats [--rows N] [--keep]\n");
			return 2;
		}
	}
	if (rows < 1000)
		rows = 1000;
	make_config(&cfg);
	snprintf(path, sizeof(path), "/tmp/qp-bench-stats-%ld.db", (long)getpid());
	unlink(path);
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	db = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		fprintf(stderr, "bench_stats: cannot set up %s: %s\n", path, errbuf);
		return 1;
	}
	ru = stats_rollup_new(db, &err, errbuf, sizeof(errbuf));
	sdb = ru != NULL ? stats_db_new(db, &err, errbuf, sizeof(errbuf)) : NULL;
	mdb = sdb != NULL ? metrics_db_new(db, &err, errbuf, sizeof(errbuf)) : NULL;
	if (mdb == NULL) {
		fprintf(stderr, "bench_stats: %s\n", errbuf);
		return 1;
	}
	now = db_now_ms();
	printf("database %s\n", path);
	generate(db, ru, rows, now);
	printf("rollup rows: stats_requests %lld, stats_latency %lld, stats_attempts %lld, "
	    "stats_routing %lld\n", (long long)count_rows(db, "stats_requests"),
	    (long long)count_rows(db, "stats_latency"), (long long)count_rows(db, "stats_attempts"),
	    (long long)count_rows(db, "stats_routing"));

	printf("\n%-16s %10s %10s %10s %10s   (median of %d runs, ms)\n", "dataset", "1h", "24h",
	    "7d", "30d", RUNS);
	for (d = 0; d < STATS_DS__MAX; d++) {
		printf("%-16s", stats_dataset_name((enum stats_dataset)d));
		for (p = 0; p < 4; p++) {
			snprintf(qs, sizeof(qs), "%s%s", periods[p], d == STATS_DS_TIMESERIES ?
			    "&group_by=account&top=5" : "");
			for (r = 0; r < RUNS; r++) {
				double t0;

				if (stats_query_parse(&q, qs, strlen(qs), now, errbuf, sizeof(errbuf)) !=
				    QP_OK)
					return 1;
				t0 = now_s();
				j = stats_dataset_run(sdb, &cfg, (enum stats_dataset)d, &q, &err, errbuf,
				    sizeof(errbuf));
				t[r] = (now_s() - t0) * 1000;
				if (j == NULL) {
					fprintf(stderr, "\nbench_stats: %s failed: %s\n",
					    stats_dataset_name((enum stats_dataset)d), qp_strerror(err));
					return 1;
				}
				cJSON_Delete(j);
			}
			qsort(t, RUNS, sizeof(t[0]), cmp_double);
			printf(" %10.2f", t[RUNS / 2]);
			if (p == 3 && t[RUNS / 2] > worst) {
				worst = t[RUNS / 2];
				worst_name = stats_dataset_name((enum stats_dataset)d);
			}
		}
		printf("\n");
	}
	/* Filtered variants that take other paths. */
	{
		static const char *const extra[][2] = {
			{ "recent-requests", "period=30d&account=zai-2" },
			{ "recent-requests", "period=30d&account=nobody" },
			{ "summary", "period=30d&account=zai-2&model=glm-4.6" },
			{ "timeseries", "period=30d&group_by=provider_model&metric=cost" },
			{ "errors", "period=30d&status=error" },
		};

		for (n = 0; n < (int)(sizeof(extra) / sizeof(extra[0])); n++) {
			d = stats_dataset_find(extra[n][0], strlen(extra[n][0]));
			for (r = 0; r < RUNS; r++) {
				double t0;

				stats_query_parse(&q, extra[n][1], strlen(extra[n][1]), now, errbuf,
				    sizeof(errbuf));
				t0 = now_s();
				j = stats_dataset_run(sdb, &cfg, (enum stats_dataset)d, &q, &err, errbuf,
				    sizeof(errbuf));
				t[r] = (now_s() - t0) * 1000;
				cJSON_Delete(j);
			}
			qsort(t, RUNS, sizeof(t[0]), cmp_double);
			printf("%-16s %s: %.2f ms\n", extra[n][0], extra[n][1], t[RUNS / 2]);
		}
	}
	{
		double t0;

		for (r = 0; r < RUNS; r++) {
			const char *uid = "00000000-0000-4000-8000-000000000005";

			t0 = now_s();
			j = stats_recent(sdb, &cfg, uid, strlen(uid), &err);
			t[r] = (now_s() - t0) * 1000;
			cJSON_Delete(j);
		}
		qsort(t, RUNS, sizeof(t[0]), cmp_double);
		printf("%-16s one trace: %.2f ms\n", "recent/{id}", t[RUNS / 2]);
		len = 1 << 20;
		buf = malloc(len);
		if (buf == NULL)
			return 1;
		for (r = 0; r < RUNS; r++) {
			size_t used = 0;

			t0 = now_s();
			err = metrics_render(mdb, &cfg, 3, buf, len, &used);
			t[r] = (now_s() - t0) * 1000;
			if (err != QP_OK) {
				fprintf(stderr, "bench_stats: metrics_render: %s\n", qp_strerror(err));
				return 1;
			}
		}
		qsort(t, RUNS, sizeof(t[0]), cmp_double);
		printf("%-16s all time: %.2f ms\n", "/metrics", t[RUNS / 2]);
		free(buf);
	}
	printf("\nslowest dataset at 30d: %s, %.2f ms (bar: 200 ms)\n", worst_name, worst);
	stats_db_free(sdb);
	stats_rollup_free(ru);
	metrics_db_free(mdb);
	db_close(db);
	migrate_set_free(&set);
	if (!keep) {
		unlink(path);
		snprintf(dir, sizeof(dir), "%s-wal", path);
		unlink(dir);
		snprintf(dir, sizeof(dir), "%s-shm", path);
		unlink(dir);
	} else
		printf("kept %s\n", path);
	return worst > 200 ? 1 : 0;
}
