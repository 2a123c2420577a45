/* test_workers.c: the remote workers' rows: hello and the catalog, the pick, claims, ends, the sweep. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "migrate.h"
#include "workers.h"

static char tmpdir[] = "/tmp/qp-test-workers-XXXXXX";

#define GONE	30000LL
#define T0	1800000000000LL

static long long
q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
hello(struct workers_db *d, int64_t key, const char *name, int cap, const char *model,
    int64_t now, int64_t *id)
{
	struct workerproto_hello h;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", name);
	h.capacity = cap;
	snprintf(h.protocols, sizeof(h.protocols), "openai");
	h.models = calloc(1, sizeof(*h.models));
	snprintf(h.models[0].id, sizeof(h.models[0].id), "%s", model);
	h.models[0].context_length = 8192;
	h.nmodels = 1;
	is_int(workers_hello(d, key, &h, "workers", now, GONE, id), QP_OK, "hello %s", name);
	workerproto_hello_free(&h);
}

/* A reservation of an attempt in flight on account name (what the pick counts). */
static void
reserve(sqlite3 *db, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "INSERT INTO reservations (request_id, account_name, "
	    "created_at, expires_at) VALUES (1, '%s', %lld, %lld)", name, T0, T0 + 600000);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct workers_db *d;
	struct workers_row w;
	struct workers_job j;
	struct config_routing routing;
	char dir[512], dbpath[600], errbuf[512], *body = NULL;
	const char *tried[1];
	sqlite3 *db;
	int64_t a, b, until;
	enum qp_err err;
	int n, live;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/workers.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	sqlite3_exec(db, "INSERT INTO client_keys (id, name, prefix, hash, role, created_at) "
	    "VALUES (1, 'k1', 'qp_1', x'01', 'worker', 1), (2, 'k2', 'qp_2', x'02', 'worker', 1)",
	    NULL, NULL, NULL);
	d = workers_db_new(db, &err, errbuf, sizeof(errbuf));
	ok(d != NULL, "statements prepare on the shipped schema: %s", d ? "" : errbuf);
	if (d == NULL)
		return done_testing();
	memset(&routing, 0, sizeof(routing));
	routing.backoff_base_s = 5;
	routing.backoff_max_s = 60;

	/* Hello: rows, models, catalog. */
	hello(d, 1, "gpu1", 2, "m", T0, &a);
	hello(d, 2, "gpu2", 2, "m", T0 + 1, &b);
	ok(a != b && a > 0 && b > 0, "two workers");
	is_int(q1(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'workers' AND "
	    "model_id = 'm' AND source = 'worker' AND max_context_tokens = 8192"), 1,
	    "their model is one catalog row, with its context length");
	hello(d, 1, "gpu1", 4, "m", T0 + 2, &a);
	is_int(q1(db, "SELECT count(*) FROM workers"), 2, "a second hello renews the row");
	is_int(q1(db, "SELECT capacity FROM workers WHERE name = 'gpu1'"), 4, "with its capacity");

	/* Find: by name, or the key's last hello. */
	is_int(workers_find(d, 1, NULL, T0 + 3, GONE, &w), QP_OK, "find by key");
	is_str(w.name, "gpu1", "the key's worker");
	is_int(workers_find(d, 1, "gpu2", T0 + 3, GONE, &w), QP_ENOTFOUND,
	    "another key's name is not found");

	/* Pick: least busy against capacity, then least recently given a job. */
	is_int(workers_pick(d, "m", NULL, 0, T0 + 10, GONE, &w), QP_OK, "pick");
	is_str(w.name, "gpu1", "both idle, never given a job: the first");
	is_int(workers_pick(d, "m", NULL, 0, T0 + 11, GONE, &w), QP_OK, "pick again");
	is_str(w.name, "gpu2", "both idle: the one given a job least recently");
	reserve(db, "gpu1");
	reserve(db, "gpu2");
	reserve(db, "gpu2");
	is_int(workers_pick(d, "m", NULL, 0, T0 + 12, GONE, &w), QP_OK, "pick under load");
	is_str(w.name, "gpu1", "gpu1 1/4 in flight beats gpu2 2/2");
	tried[0] = "gpu1";
	is_int(workers_pick(d, "m", tried, 1, T0 + 13, GONE, &w), QP_OK, "pick, gpu1 tried");
	is_str(w.name, "gpu2", "a worker the request tried is skipped");
	is_int(workers_pick(d, "x", NULL, 0, T0 + 13, GONE, &w), QP_ENOTFOUND,
	    "no worker serves another model");

	/* Jobs: queue, claim within capacity, get, end. */
	is_int(workers_job_queue(d, "00000000000000000000000000000001", b, 7, 1, 3,
	    "/s/handoff-1.sock", "m", "{\"id\":1}", T0 + 20), QP_OK, "queue a job for gpu2");
	is_int(workers_job_queue(d, "00000000000000000000000000000002", b, 8, 1, 3,
	    "/s/handoff-1.sock", "m", "{\"id\":2}", T0 + 21), QP_OK, "and a second");
	is_int(workers_job_claim(d, b, 1, T0 + 22, &body), QP_OK, "claim");
	is_str(body, "{\"id\":1}", "the oldest first");
	free(body);
	is_int(workers_job_claim(d, b, 1, T0 + 23, &body), QP_OK, "claim at capacity 1");
	ok(body == NULL, "nothing more is given at its capacity");
	free(body);
	is_int(workers_job_get(d, "00000000000000000000000000000001", &j), QP_OK, "get the job");
	is_int(j.worker_id, b, "its worker");
	is_int(j.key_id, 2, "its worker's key");
	is_str(j.socket_path, "/s/handoff-1.sock", "its owner's socket");
	is_str(j.worker_name, "gpu2", "its worker's name");
	is_int(workers_job_get(d, "ffffffffffffffffffffffffffffffff", &j), QP_ENOTFOUND,
	    "an unknown job");
	is_int(workers_job_end(d, "00000000000000000000000000000001", b, WORKERS_END_FAILED,
	    "first_byte_timeout", T0 + 30, 10, &routing), QP_OK, "the job fails");
	is_int(q1(db, "SELECT backoff_until FROM workers WHERE name = 'gpu2'"), T0 + 30 + 5000,
	    "its worker backs off backoff_base_s");
	is_int(q1(db, "SELECT body IS NULL FROM worker_jobs WHERE id = "
	    "'00000000000000000000000000000001'"), 1, "an ended job's body is gone");
	is_int(workers_backoff_end(d, "m", T0 + 31, GONE, &until), QP_OK, "backoff end");
	is_int(until, T0 + 30 + 5000, "the earliest end of a live worker's backoff");
	is_int(workers_pick(d, "m", tried, 1, T0 + 31, GONE, &w), QP_ENOTFOUND,
	    "a backed-off worker is not picked");
	is_int(workers_job_claim(d, b, 1, T0 + 32, &body), QP_OK, "claim once the first ended");
	is_str(body, "{\"id\":2}", "the next job is given");
	free(body);
	is_int(workers_job_end(d, "00000000000000000000000000000002", b, WORKERS_END_FAILED,
	    NULL, T0 + 40, 10, &routing), QP_OK, "a second failure");
	is_int(q1(db, "SELECT backoff_until FROM workers WHERE name = 'gpu2'"), T0 + 40 + 10000,
	    "doubles the backoff");
	is_int(q1(db, "SELECT jobs_failed FROM workers WHERE name = 'gpu2'"), 2,
	    "failed jobs counted");
	is_int(q1(db, "SELECT consecutive_failures FROM workers WHERE name = 'gpu2'"), 2,
	    "consecutive failures counted");

	/* Gone: silent past gone_after, its models leave the catalog. */
	is_int(workers_live(d, a, T0 + 100, GONE, &live), QP_OK, "live");
	is_int(live, 1, "gpu1 is live");
	is_int(workers_sweep(d, "workers", T0 + GONE + 10, GONE), QP_OK, "sweep after gone_after");
	is_int(workers_live(d, a, T0 + GONE + 10, GONE, &live), QP_OK, "live again");
	is_int(live, 0, "gpu1 is gone");
	is_int(q1(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'workers'"), 0,
	    "no live worker serves m: it left the catalog");
	hello(d, 1, "gpu1", 4, "m", T0 + GONE + 20, &a);
	is_int(q1(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'workers'"), 1,
	    "a hello brings it back");
	is_int(workers_bye(d, a, "workers", T0 + GONE + 30, GONE, NULL, NULL), QP_OK, "bye");
	is_int(q1(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'workers'"), 0,
	    "after bye it leaves at once");

	workers_db_free(d);
	migrate_set_free(&set);
	db_close(db);
	unlink(dbpath);
	return done_testing();
}
