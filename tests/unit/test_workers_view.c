/* test_workers_view.c: the workers' state rule, the read of their tables, their /metrics series. */
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../tap.h"
#include "db.h"
#include "metrics.h"
#include "migrate.h"
#include "workers_view.h"

#define NOW	1700000000000LL	/* 2023-11-14 22:13:20 UTC */
#define GONE	30000LL

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

/* Adds worker name of key 1 last seen at seen (gone_at NULL unless gone). */
static void
worker(const char *name, int64_t seen, int gone, int capacity, int done)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "INSERT INTO workers (key_id, name, capacity, first_seen_at, "
	    "hello_at, last_seen_at, gone_at, jobs_done, jobs_failed, jobs_cancelled, "
	    "job_ms_sum) VALUES (1, '%s', %d, %lld, %lld, %lld, %s, %d, 1, 2, %d)", name,
	    capacity, (long long)seen, (long long)seen, (long long)seen,
	    gone ? "1" : "NULL", done, done * 100);
	exec(sql);
}

int
main(void)
{
	static char tmpdir[] = "/tmp/qp-test-workers-view-XXXXXX";
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct workers_view_set s;
	struct workers_view *v;
	char dir[512], path[600], errbuf[512], name[32], buf[8192];
	enum qp_err err;
	size_t len;
	cJSON *j;
	int n, i;

	/* The rule: gone when marked, or silent gone_after_ms or longer. */
	is_int(workers_view_state(0, NOW, 0, NOW, GONE), WORKERS_VIEW_IDLE, "fresh, no job: idle");
	is_int(workers_view_state(0, NOW, 3, NOW, GONE), WORKERS_VIEW_BUSY, "fresh, jobs: busy");
	is_int(workers_view_state(1, NOW, 3, NOW, GONE), WORKERS_VIEW_GONE, "marked gone: gone");
	is_int(workers_view_state(0, NOW - GONE + 1, 0, NOW, GONE), WORKERS_VIEW_IDLE,
	    "silent 1 ms less than the threshold: still live");
	is_int(workers_view_state(0, NOW - GONE, 0, NOW, GONE), WORKERS_VIEW_GONE,
	    "silent exactly the threshold: gone (as the gateway's sweep)");
	is_int(workers_view_state(0, NOW - GONE, 0, NOW, GONE + 1), WORKERS_VIEW_IDLE,
	    "the threshold is a parameter");
	is_str(workers_view_state_name(WORKERS_VIEW_BUSY), "busy", "state names");
	is_str(workers_view_state_name(WORKERS_VIEW__MAX), "", "out of range: \"\"");

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(path, sizeof(path), "%s/w.db", tmpdir);
	db = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	exec("INSERT INTO client_keys (id, name, prefix, hash, role, created_at) VALUES "
	    "(1, 'wk', 'qp_0', x'00', 'worker', 0)");
	worker("a\"b\\c", NOW - 1000, 0, 4, 10);	/* idle, a name to escape */
	worker("busy", NOW - 500, 0, 2, 0);		/* busy: two open jobs */
	exec("INSERT INTO worker_jobs (id, worker_id, process_id, socket_path, model, state, "
	    "created_at) VALUES ('j1', 2, 1, '/s', 'm', 'queued', 0), "
	    "('j2', 2, 1, '/s', 'm', 'streaming', 0)");
	exec("INSERT INTO worker_jobs (id, worker_id, process_id, socket_path, model, state, "
	    "created_at, ended_at) VALUES ('j3', 2, 1, '/s', 'm', 'done', 0, 1)");
	exec("INSERT INTO worker_models (worker_id, model_id) VALUES (1, 'm1'), (1, 'm2')");
	worker("bye", NOW - 100, 1, 8, 1);		/* marked gone */
	for (i = 0; i < 5; i++) {			/* older: two live, three silent */
		snprintf(name, sizeof(name), "old%d", i);
		worker(name, NOW - 10000 - (int64_t)i * 10000, 0, 3, i);
	}

	v = workers_view_new(db, &err, errbuf, sizeof(errbuf));
	ok(v != NULL, "statements prepare on schema 0011: %s", v ? "" : errbuf);
	if (v == NULL)
		return done_testing();
	is_int(workers_view_load(v, NOW, GONE, 3, &s), QP_OK, "load, three listed");
	is_int(s.total, 8, "eight workers counted");
	is_int(s.n, 3, "three listed");
	is_str(s.n == 3 ? s.rows[0].name : "", "bye", "the most recently seen first");
	is_int(s.by_state[WORKERS_VIEW_IDLE], 3, "idle: the escaped one and two old");
	is_int(s.by_state[WORKERS_VIEW_BUSY], 1, "busy: one");
	is_int(s.by_state[WORKERS_VIEW_GONE], 4, "gone: marked, and silent 30 s or more");
	is_int(s.rows[1].in_flight, 2, "in flight: the open jobs, queued included");
	is_int(s.rows[1].queued, 1, "of which queued");
	is_int(s.other_n, 5, "five folded");
	is_int(s.other_live, 2, "two of them live");
	is_int(s.other_capacity, 6, "their live capacity");
	is_int(s.other_jobs[WORKERS_VIEW_DONE], 0 + 1 + 2 + 3 + 4, "their jobs done");

	j = workers_view_json(v, &s, 0, &err);
	ok(j != NULL, "the JSON");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(j, "workers"), 2), "models")), 2, "models of the third listed");
	is_int(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "workers"), 2),
	    "avg_job_ms")->valuedouble, 100, "average duration: job_ms_sum / jobs_done");
	ok(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j,
	    "workers"), 1), "avg_job_ms")), "no job done: average null");
	ok(cJSON_GetObjectItem(j, "now") != NULL, "the page's JSON has now");
	cJSON_Delete(j);
	j = workers_view_json(v, &s, 1, &err);
	ok(j != NULL && cJSON_GetObjectItem(j, "now") == NULL &&
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "workers"), 0),
	    "last_seen_at") == NULL, "the stream's JSON leaves out what moves with the clock");
	cJSON_Delete(j);

	len = 0;
	buf[0] = '\0';
	is_int(metrics_render_workers(&s, buf, sizeof(buf), &len), QP_OK, "the series render");
	ok(strstr(buf, "quotapool_workers{state=\"gone\"} 4\n") != NULL, "workers by state");
	ok(strstr(buf, "quotapool_worker_up{worker=\"a\\\"b\\\\c\",key=\"wk\"} 1\n") != NULL,
	    "a name is escaped in its label");
	ok(strstr(buf, "quotapool_worker_in_flight{worker=\"busy\",key=\"wk\"} 2\n") != NULL,
	    "in flight of the busy one");
	ok(strstr(buf, "quotapool_worker_capacity{worker=\"bye\",key=\"wk\"} 0\n") != NULL,
	    "a gone worker's capacity is 0");
	ok(strstr(buf, "quotapool_worker_up{worker=\"(other)\",key=\"(other)\"} 2\n") != NULL,
	    "(other) up counts the live folded workers");
	ok(strstr(buf, "quotapool_worker_jobs_total{worker=\"(other)\",key=\"(other)\","
	    "outcome=\"done\"} 10\n") != NULL, "(other) sums their counters");
	ok(strstr(buf, "# TYPE quotapool_worker_jobs_total counter\n") != NULL, "TYPE lines");
	len = 0;
	is_int(metrics_render_workers(&s, buf, 64, &len), QP_ETOOBIG, "too small: QP_ETOOBIG");
	workers_view_set_free(&s);
	workers_view_set_free(&s);

	is_int(workers_view_load(v, NOW, GONE, 64, &s), QP_OK, "load, all listed");
	len = 0;
	is_int(metrics_render_workers(&s, buf, sizeof(buf), &len), QP_OK, "render");
	ok(strstr(buf, "{worker=\"(other)\"") == NULL, "no (other) when every worker is named");
	workers_view_set_free(&s);
	workers_view_free(v);
	db_close(db);
	migrate_set_free(&set);
	unlink(path);
	snprintf(path, sizeof(path), "%s/w.db-wal", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/w.db-shm", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return done_testing();
}
