/* test_maint.c: one process holds the maintenance lease, hands it over, beats, stops promptly. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../tap.h"
#include "db.h"
#include "maint.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-maint-XXXXXX";
static char dbpath[600];

/* What a hook saw. */
struct hook_seen {
	atomic_int	 runs;		/* calls */
	atomic_int	 firsts;	/* calls with ctx->first */
	atomic_int	 closes;	/* close calls */
	atomic_llong	 process_id;	/* ctx->process_id of the last call */
	atomic_int	 db_ok;		/* 1 if ctx->db answered a query */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static sqlite3 *
open_db(void)
{
	struct db_opts o = { 5000, NULL, 0, 0 };
	char errbuf[256];
	enum qp_err err;

	return db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
}

static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("# bad query %s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t
q_int1(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static enum qp_err
hook_run(const struct maint_ctx *ctx, void *arg, char *note, size_t len)
{
	struct hook_seen *h = arg;

	atomic_fetch_add(&h->runs, 1);
	if (ctx->first)
		atomic_fetch_add(&h->firsts, 1);
	atomic_store(&h->process_id, ctx->process_id);
	atomic_store(&h->db_ok, q_int(ctx->db, "SELECT count(*) FROM processes") > 0);
	snprintf(note, len, "run %d", atomic_load(&h->runs));
	return QP_OK;
}

static void
hook_close(void *arg)
{
	struct hook_seen *h = arg;

	atomic_fetch_add(&h->closes, 1);
}

/* Returns task name's member key from the status array (-1 if absent or null). */
static int64_t
status_num(struct maint *m, const char *name, const char *key)
{
	cJSON *arr = maint_status_json(m), *e;
	const cJSON *v, *n;
	int64_t r = -1;

	cJSON_ArrayForEach(e, arr) {
		n = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0)
			continue;
		v = cJSON_GetObjectItemCaseSensitive(e, key);
		if (cJSON_IsNumber(v))
			r = (int64_t)v->valuedouble;
		else if (cJSON_IsBool(v))
			r = cJSON_IsTrue(v);
	}
	cJSON_Delete(arr);
	return r;
}

/* Waits up to ms for cond(arg) to hold; returns 1 if it did. */
static int
wait_for(int (*cond)(void *), void *arg, int ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		if (cond(arg))
			return 1;
		sleep_ms(10);
	}
	return cond(arg);
}

static int
holds(void *arg)
{

	return maint_lease_held(arg);
}

static int
hook_ran(void *arg)
{
	struct hook_seen *h = arg;

	return atomic_load(&h->runs) > 0;
}

static int
refreshed_thrice(void *arg)
{

	return status_num(arg, "catalog_refresh", "runs") >= 3;
}

static int
lease_failed_twice(void *arg)
{

	return status_num(arg, "lease", "failures") >= 2;
}

/* A process row whose heartbeat_at has moved past a value. */
struct beat {
	sqlite3		*db;
	int64_t		 id;
	int64_t		 after;
};

static int
beat_moved(void *arg)
{
	struct beat *b = arg;

	return q_int1(b->db, "SELECT heartbeat_at FROM processes WHERE id = ?", b->id) > b->after;
}

/* ---- lease and process rows on two connections ------------------------------- */

static void
test_lease(void)
{
	sqlite3 *a, *b;
	struct maint_db *da, *db;
	char errbuf[256];
	enum qp_err err;
	int64_t ida = 0, idb = 0, holder, exp;
	int held;

	a = open_db();
	b = open_db();
	da = a ? maint_db_new(a, &err, errbuf, sizeof(errbuf)) : NULL;
	db = b ? maint_db_new(b, &err, errbuf, sizeof(errbuf)) : NULL;
	ok(da != NULL && db != NULL, "statements prepare on two connections");
	if (da == NULL || db == NULL)
		return;
	is_int(maint_process_register(da, 101, "host-a", "1.0", 500, &ida), QP_OK,
	    "register process A");
	is_int(maint_process_register(db, 102, "host-b", "1.0", 500, &idb), QP_OK,
	    "register process B");
	ok(ida > 0 && idb > 0 && ida != idb, "distinct process ids %lld, %lld",
	    (long long)ida, (long long)idb);
	is_int(q_int1(a, "SELECT pid FROM processes WHERE id = ?", ida), 101, "pid recorded");
	is_int(q_int1(a, "SELECT heartbeat_at FROM processes WHERE id = ?", ida), 500,
	    "heartbeat starts at registration");

	is_int(maint_lease_acquire(da, "maintenance", ida, 1000, 1000, &held), QP_OK,
	    "A asks for the lease");
	is_int(held, 1, "A holds a free lease");
	is_int(maint_lease_acquire(db, "maintenance", idb, 1500, 1000, &held), QP_OK,
	    "B asks for it");
	is_int(held, 0, "B is refused while A's lease runs");
	is_int(maint_lease_acquire(da, "maintenance", ida, 1600, 1000, &held), QP_OK,
	    "A renews");
	is_int(held, 1, "A keeps it");
	maint_lease_holder(db, "maintenance", &holder, &exp);
	ok(holder == ida && exp == 2600, "holder A until 2600 (got %lld until %lld)",
	    (long long)holder, (long long)exp);
	maint_lease_acquire(db, "maintenance", idb, 2599, 1000, &held);
	is_int(held, 0, "B refused 1 ms before expiry");
	maint_lease_acquire(db, "maintenance", idb, 2600, 1000, &held);
	is_int(held, 1, "B takes the lease once A's expired");
	maint_lease_acquire(da, "maintenance", ida, 2700, 1000, &held);
	is_int(held, 0, "A cannot renew a lease it lost");
	maint_lease_holder(da, "maintenance", &holder, &exp);
	is_int(holder, idb, "B is the holder");
	is_int(maint_lease_release(da, "maintenance", ida), QP_OK, "A's release is harmless");
	maint_lease_holder(da, "maintenance", &holder, &exp);
	is_int(holder, idb, "B still holds it");
	is_int(maint_lease_release(db, "maintenance", idb), QP_OK, "B releases");
	maint_lease_holder(da, "maintenance", &holder, &exp);
	is_int(holder, 0, "nobody holds it");
	maint_lease_acquire(da, "other", ida, 2800, 1000, &held);
	is_int(held, 1, "leases are per name");

	is_int(maint_process_heartbeat(da, ida, 3000), QP_OK, "heartbeat");
	is_int(q_int1(a, "SELECT heartbeat_at FROM processes WHERE id = ?", ida), 3000,
	    "heartbeat_at moves");
	is_int(maint_process_heartbeat(da, 999999, 3000), QP_ENOTFOUND,
	    "heartbeat of an unknown process");
	is_int(maint_process_stop(da, ida, 4000), QP_OK, "stop");
	is_int(q_int1(a, "SELECT stopped_at FROM processes WHERE id = ?", ida), 4000,
	    "stopped_at set");
	is_int(q_int1(a, "SELECT stopped_at FROM processes WHERE id = ?", idb), -1,
	    "the other process is still running");

	sqlite3_exec(a, "DELETE FROM leases", NULL, NULL, NULL);
	maint_db_free(da);
	maint_db_free(db);
	db_close(a);
	db_close(b);
}

/* ---- the thread ---------------------------------------------------------------- */

static void
test_thread(void)
{
	struct config_account acc;
	struct config_provider prov;
	struct config cfg;
	struct maint_opts o;
	struct maint *m1 = NULL, *m2 = NULL, *m3 = NULL;
	struct hook_seen h1, h2;
	char *statics[1] = { "static-model" };
	sqlite3 *db;
	enum qp_err err;
	struct beat bt;
	int64_t id1, id2, t0, took;
	int r1, r2;
	cJSON *arr;

	memset(&cfg, 0, sizeof(cfg));
	memset(&prov, 0, sizeof(prov));
	memset(&acc, 0, sizeof(acc));
	acc.name = "a1";
	acc.enabled = 1;
	prov.id = "static-only";
	prov.base_url = "http://127.0.0.1:1";
	prov.protocols = CONFIG_PROTO_OPENAI;
	prov.enabled = 1;
	prov.auth = CONFIG_AUTH_NONE;
	prov.models = statics;
	prov.nmodels = 1;
	prov.accounts = &acc;
	prov.naccounts = 1;
	cfg.providers = &prov;
	cfg.nproviders = 1;
	cfg.database.path = dbpath;
	cfg.database.busy_timeout_ms = 5000;
	cfg.models.refresh_interval_s = 1;
	cfg.models.startup_refresh = 1;
	cfg.models.ping_retain_days = 7;
	db = open_db();

	memset(&h1, 0, sizeof(h1));
	memset(&h2, 0, sizeof(h2));
	maint_opts_init(&o);
	/*
	 * Timing is checked against yardsticks of the same thread (the catalog
	 * refresh's 1 s) or with bounds far from what a broken thread does (a
	 * lease taken only at expiry, 3 s), never to a few tens of ms.
	 */
	o.tick_ms = 100;
	o.lease_ttl_ms = 3000;
	o.hooks[MAINT_HOOK_STALE].run = hook_run;
	o.hooks[MAINT_HOOK_STALE].close = hook_close;
	o.hooks[MAINT_HOOK_STALE].arg = &h1;
	o.hooks[MAINT_HOOK_STALE].interval_ms = 150;
	m1 = maint_start(&cfg, &o, &err);
	ok(m1 != NULL, "first maintenance thread starts");
	id1 = m1 ? maint_process_id(m1) : 0;
	ok(id1 > 0, "its process is registered before maint_start returns (%lld)",
	    (long long)id1);
	ok(wait_for(holds, m1, 2000), "it takes the lease");
	ok(wait_for(hook_ran, &h1, 2000), "its stale-request hook runs");

	o.hooks[MAINT_HOOK_STALE].arg = &h2;
	m2 = maint_start(&cfg, &o, &err);
	ok(m2 != NULL, "second maintenance thread starts (another process)");
	id2 = m2 ? maint_process_id(m2) : 0;
	ok(id2 > 0 && id2 != id1, "with its own process row");

	r1 = wait_for(refreshed_thrice, m1, 15000);
	ok(r1, "catalog refresh every refresh_interval_s = 1 (%lld runs)",
	    (long long)status_num(m1, "catalog_refresh", "runs"));
	r1 = atomic_load(&h1.runs);
	r2 = atomic_load(&h2.runs);
	/* Two refresh intervals (2 s) hold about 13 runs of a 150 ms hook. */
	ok(r1 >= 5, "the holder runs its hook every 150 ms (%d runs while the catalog "
	    "refreshed 3 times, 1 s apart)", r1);
	is_int(r2, 0, "the other process never runs lease work");
	ok(maint_lease_held(m1) && !maint_lease_held(m2), "exactly one holds the lease");
	is_int(atomic_load(&h1.firsts), 1, "ctx.first only on the first run");
	is_int(atomic_load(&h1.process_id), id1, "ctx.process_id is the holder's");
	is_int(atomic_load(&h1.db_ok), 1, "ctx.db is a working connection");
	is_int(status_num(m2, "catalog_refresh", "runs"), 0, "not on the other process");
	is_int(status_num(m2, "catalog_refresh", "waiting_for_lease"), 1,
	    "which reports it waits for the lease");
	is_int(q_int(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'static-only' "
	    "AND model_id = 'static-model' AND source = 'static'"), 1,
	    "static models stored by the refresh");
	is_int(status_num(m1, "ping_prune", "runs"), 1, "ping pruning ran once (hourly)");
	is_int(status_num(m1, "retention", "connected"), 0, "retention hook not connected");
	is_int(status_num(m1, "retention", "runs"), 0, "so it never runs");
	ok(status_num(m1, "heartbeat", "runs") >= 5, "heartbeat every tick");
	ok(status_num(m1, "lease", "last_ok") == 1, "lease task ok");
	arr = maint_status_json(m1);
	is_int(cJSON_GetArraySize(arr), MAINT_TASK__MAX, "status lists every task");
	cJSON_Delete(arr);

	bt.db = db;
	bt.id = id1;
	bt.after = q_int1(db, "SELECT heartbeat_at FROM processes WHERE id = ?", id1);
	ok(wait_for(beat_moved, &bt, 3000), "heartbeat_at keeps moving");
	is_int(q_int1(db, "SELECT process_id FROM leases WHERE name = 'maintenance' AND ?", 1),
	    id1, "the lease row names the holder");

	/* A clean stop releases the lease: the other process takes over at its next tick. */
	t0 = mono_ms();
	is_int(maint_stop(m1), QP_OK, "first thread stops");
	took = mono_ms() - t0;
	ok(took < 2000, "promptly (%lld ms, tick 100)", (long long)took);
	ok(q_int1(db, "SELECT stopped_at FROM processes WHERE id = ?", id1) > 0,
	    "stopped_at set at a clean stop");
	is_int(atomic_load(&h1.closes), 1, "the hook's close ran");
	t0 = mono_ms();
	ok(wait_for(holds, m2, 5000), "the other process takes the lease");
	took = mono_ms() - t0;
	ok(took < 2000, "at its next tick, not after expiry (%lld ms, tick 100, lease 3000)",
	    (long long)took);
	ok(wait_for(hook_ran, &h2, 1000), "and now runs the hook");
	is_int(maint_stop(m2), QP_OK, "second thread stops");

	/* A holder that died: its lease is taken only after it expires. */
	sqlite3_exec(db, "INSERT INTO processes (pid, hostname, version, started_at, heartbeat_at) "
	    "VALUES (1, 'dead', 'x', 0, 0)", NULL, NULL, NULL);
	id2 = sqlite3_last_insert_rowid(db);
	{
		sqlite3_stmt *st;

		sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO leases (name, process_id, "
		    "expires_at) VALUES ('maintenance', ?, ?)", -1, &st, NULL);
		sqlite3_bind_int64(st, 1, id2);
		sqlite3_bind_int64(st, 2, db_now_ms() + 2000);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	memset(&h1, 0, sizeof(h1));
	o.hooks[MAINT_HOOK_STALE].arg = &h1;
	t0 = mono_ms();
	m3 = maint_start(&cfg, &o, &err);
	sleep_ms(300);
	ok(m3 != NULL && !maint_lease_held(m3), "a dead holder's lease is respected until expiry");
	is_int(atomic_load(&h1.runs), 0, "no lease work meanwhile");
	ok(wait_for(holds, m3, 5000), "taken over after expiry");
	took = mono_ms() - t0;
	ok(took >= 1900, "not before (%lld ms, expiry 2000)", (long long)took);
	is_int(maint_stop(m3), QP_OK, "stops");

	/* Stop wakes a thread in a long sleep at once. */
	maint_opts_init(&o);
	m3 = maint_start(&cfg, &o, &err);
	ok(m3 != NULL && wait_for(holds, m3, 3000), "default thread holds the lease");
	sleep_ms(300);	/* into its 30 s sleep */
	t0 = mono_ms();
	is_int(maint_stop(m3), QP_OK, "stops");
	took = mono_ms() - t0;
	ok(took < 3000, "at once despite a 30 s tick (%lld ms)", (long long)took);
	is_int(q_int(db, "SELECT count(*) FROM leases WHERE name = 'maintenance'"), 0,
	    "the lease is released at stop");
	is_int(q_int(db, "SELECT count(*) FROM processes WHERE stopped_at IS NULL AND "
	    "hostname NOT IN ('dead', 'host-b')"), 0,
	    "every stopped process has stopped_at");
	is_int(maint_stop(NULL), QP_OK, "maint_stop(NULL) is allowed");
	db_close(db);
}

/* The delay before a provider's failed catalog fetch is tried again. */
static void
test_retry_delay(void)
{
	static const struct {
		int		 failures;
		int64_t		 cap_ms;
		int64_t		 want;
	} t[] = {
		{ 1, 300000, 1000 }, { 2, 300000, 2000 }, { 3, 300000, 4000 },
		{ 4, 300000, 8000 }, { 8, 300000, 128000 }, { 9, 300000, 256000 },
		{ 10, 300000, 300000 }, { 11, 300000, 300000 }, { 1000000, 300000, 300000 },
		{ 0, 300000, 1000 }, { -5, 300000, 1000 },
		{ 3, 3000, 3000 }, { 1, 500, 500 }, { 2, 60000, 2000 },
		{ 30, 0, MAINT_FETCH_RETRY_CAP_MS }, { 1, 0, 1000 }, { 12, -1, 300000 },
		{ 64, 604800000LL, 604800000LL }, { 2147483647, 604800000LL, 604800000LL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(maint_retry_delay_ms(t[i].failures, t[i].cap_ms), t[i].want,
		    "failure %d, cap %lld ms: %lld ms", t[i].failures, (long long)t[i].cap_ms,
		    (long long)t[i].want);
}

/* Returns a port on 127.0.0.1 that nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd, port = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return port;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
three_pings(void *arg)
{

	return q_int(arg, "SELECT count(*) FROM provider_pings WHERE provider_id = 'down'") >= 3;
}

/*
 * A provider that is down at start is fetched again after 1 s, then 2 s,
 * ..., not only after refresh_interval_s.
 */
static void
test_retry_thread(void)
{
	struct config_account acc;
	struct config_provider prov;
	struct config cfg;
	struct maint_opts o;
	struct maint *m;
	char base[64];
	sqlite3 *db;
	enum qp_err err;
	int64_t p[3], next;
	int i;

	memset(&cfg, 0, sizeof(cfg));
	memset(&prov, 0, sizeof(prov));
	memset(&acc, 0, sizeof(acc));
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", closed_port());
	acc.name = "d1";
	acc.enabled = 1;
	prov.id = "down";
	prov.base_url = base;
	prov.models_path = "/v1/models";
	prov.protocols = CONFIG_PROTO_OPENAI;
	prov.enabled = 1;
	prov.auth = CONFIG_AUTH_NONE;
	prov.accounts = &acc;
	prov.naccounts = 1;
	prov.connect_timeout_ms = 1000;
	prov.first_byte_timeout_ms = 1000;
	cfg.providers = &prov;
	cfg.nproviders = 1;
	cfg.database.path = dbpath;
	cfg.database.busy_timeout_ms = 5000;
	cfg.models.refresh_interval_s = 300;
	cfg.models.startup_refresh = 1;
	cfg.models.ping_retain_days = 7;
	db = open_db();
	sqlite3_exec(db, "DELETE FROM provider_pings; DELETE FROM leases", NULL, NULL, NULL);

	maint_opts_init(&o);
	o.tick_ms = 100;
	o.lease_ttl_ms = 2000;
	m = maint_start(&cfg, &o, &err);
	ok(m != NULL, "maintenance thread starts with a provider that is down");
	ok(wait_for(three_pings, db, 10000), "three fetches within 10 s, refresh_interval_s "
	    "being 300");
	for (i = 0; i < 3; i++) {
		char sql[160];

		snprintf(sql, sizeof(sql), "SELECT probed_at FROM provider_pings WHERE "
		    "provider_id = 'down' ORDER BY id LIMIT 1 OFFSET %d", i);
		p[i] = q_int(db, sql);
	}
	is_int(q_int(db, "SELECT count(*) FROM provider_pings WHERE provider_id = 'down' "
	    "AND ok = 0"), 3, "each one failed and was recorded");
	ok(p[1] - p[0] >= 950, "the second after about 1 s (%lld ms)", (long long)(p[1] - p[0]));
	ok(p[2] - p[1] >= 1950, "the third after about 2 s more (%lld ms)",
	    (long long)(p[2] - p[1]));
	next = status_num(m, "catalog_refresh", "next_run_at") - db_now_ms();
	ok(next > 0 && next <= 4100, "the next one is due within 4 s, not in 300 s (%lld ms)",
	    (long long)next);
	sleep_ms(1000);
	is_int(q_int(db, "SELECT count(*) FROM provider_pings WHERE provider_id = 'down'"), 3,
	    "and not before: backing off, not a fetch every tick");
	is_int(status_num(m, "catalog_refresh", "failures"), 0,
	    "a failed fetch is not a failure of the task");
	is_int(maint_stop(m), QP_OK, "stops");
	db_close(db);
}

/* A database that is not migrated: the thread waits and reports why. */
static void
test_unready(void)
{
	struct config cfg;
	struct maint_opts o;
	struct maint *m;
	enum qp_err err;
	char path[700];
	cJSON *arr;
	char *text;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(path, sizeof(path), "%s/empty.db", tmpdir);
	cfg.database.path = path;
	cfg.database.busy_timeout_ms = 1000;
	maint_opts_init(&o);
	o.tick_ms = 50;
	m = maint_start(&cfg, &o, &err);
	ok(m != NULL, "starts on an unmigrated database");
	is_int(m ? maint_process_id(m) : -1, 0, "without a process id");
	ok(m != NULL && wait_for(lease_failed_twice, m, 3000), "retrying every tick");
	ok(m != NULL && !maint_lease_held(m), "and without the lease");
	arr = m ? maint_status_json(m) : NULL;
	text = cJSON_PrintUnformatted(arr);
	ok(text != NULL && strstr(text, "database: ") != NULL, "the reason is shown");
	cJSON_free(text);
	cJSON_Delete(arr);
	is_int(maint_stop(m), QP_OK, "stops");
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty.db-wal", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty.db-shm", tmpdir);
	unlink(path);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	char dir[512], errbuf[512], path[700];
	sqlite3 *db;
	int n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || mkdtemp(tmpdir) == NULL) {
		printf("Bail out! cannot set up\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/maint.db", tmpdir);
	db = open_db();
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	db_close(db);
	migrate_set_free(&set);

	is_str(maint_task_name(MAINT_TASK_CATALOG), "catalog_refresh", "task names");
	test_lease();
	test_thread();
	test_retry_delay();
	test_retry_thread();
	test_unready();

	unlink(dbpath);
	snprintf(path, sizeof(path), "%s-wal", dbpath);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", dbpath);
	unlink(path);
	rmdir(tmpdir);
	curl_global_cleanup();
	return done_testing();
}
