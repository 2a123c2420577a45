/* test_reload.c: liveconf (pins, publication, freeing) and reload (checks, settings kept, changes). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "crypto.h"
#include "db.h"
#include "maint.h"
#include "migrate.h"
#include "liveconf.h"
#include "reload.h"
#include "../tap.h"

static char dir[] = "/tmp/qp-test-reload-XXXXXX";
static char path[256];

/* What differs between the files a test writes. */
struct conf {
	int		 threads;	/* [server] threads */
	const char	*db;		/* [database] path */
	int		 attempts;	/* [routing] max_attempts, or the text below */
	const char	*attempts_text;	/* NULL = attempts */
	int		 with_a1;	/* account a1 present */
	int		 a2_enabled;	/* account a2 enabled */
	int		 with_a3;	/* account a3 present */
	const char	*price;		/* m1's input_price_per_1k */
	const char	*extra;		/* TOML appended, or NULL */
};

static const struct conf base = { 8, "q.db", 3, NULL, 1, 1, 0, "0.001", NULL };

/* Writes the configuration c to path. */
static void
write_conf(const struct conf *c)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fprintf(fp, "[server]\nport = 11300\nthreads = %d\nstate_dir = \"state\"\n"
	    "[database]\npath = \"%s\"\n", c->threads, c->db);
	if (c->attempts_text != NULL)
		fprintf(fp, "[routing]\nmax_attempts = %s\n", c->attempts_text);
	else
		fprintf(fp, "[routing]\nmax_attempts = %d\n", c->attempts);
	fprintf(fp, "[providers.p1]\nbase_url = \"http://127.0.0.1:9/v1\"\n"
	    "protocols = [\"openai\"]\nmodels = [\"m1\"]\n");
	if (c->with_a1)
		fprintf(fp, "[[providers.p1.accounts]]\nname = \"a1\"\n"
		    "api_key = \"sk-secret-a1-0123456789\"\n");
	fprintf(fp, "[[providers.p1.accounts]]\nname = \"a2\"\n"
	    "api_key = \"sk-secret-a2-0123456789\"\nenabled = %s\n",
	    c->a2_enabled ? "true" : "false");
	if (c->with_a3)
		fprintf(fp, "[[providers.p1.accounts]]\nname = \"a3\"\n"
		    "api_key = \"sk-secret-a3-0123456789\"\n");
	fprintf(fp, "[model_overrides.\"m1\"]\ninput_price_per_1k = %s\n", c->price);
	if (c->extra != NULL)
		fputs(c->extra, fp);
	fclose(fp);
}

static struct config *
load(void)
{
	struct config_diag d = { NULL, 0, 0 };
	enum qp_err err;
	struct config *cfg = config_load(path, &d, &err);

	if (cfg == NULL) {
		config_diag_print(&d, path, stdout);
		printf("Bail out! base configuration does not load\n");
		exit(1);
	}
	config_diag_free(&d);
	return cfg;
}

/* Secrets wiped by config_free(), seen through crypto_wipe_hook. */
static int wiped_a1;

static void
on_wipe(const void *p, size_t len)
{

	(void)p;
	if (len == strlen("sk-secret-a1-0123456789"))
		wiped_a1++;
}

static int
has_name(const struct reload_names *l, const char *name)
{
	int i;

	for (i = 0; i < l->n && i < RELOAD_NAMES_MAX; i++)
		if (strcmp(l->name[i], name) == 0)
			return 1;
	return 0;
}

static void
test_liveconf(void)
{
	struct liveconf *lc;
	const struct config *c1, *c2, *c3;
	struct config *first = load(), *second = load(), *third = load();
	uint64_t g1 = 0, g2 = 0, g3 = 0;
	enum qp_err err;

	lc = liveconf_new(first, &err);
	ok(lc != NULL && err == QP_OK, "liveconf_new");
	is_int(liveconf_generation(lc), 1, "the first configuration is generation 1");
	c1 = liveconf_pin(lc, &g1);
	ok(c1 == first && g1 == 1, "a pin returns the one in force");

	crypto_wipe_hook = on_wipe;
	wiped_a1 = 0;
	is_int(liveconf_publish(lc, second), 2, "publishing makes generation 2");
	is_int(wiped_a1, 0, "the first one stays while pinned");
	is_int(liveconf_superseded(lc), 1, "one superseded configuration is pinned");
	is_str(c1->providers[0].accounts[0].api_key, "sk-secret-a1-0123456789",
	    "the pinned one is intact");
	c2 = liveconf_pin(lc, &g2);
	ok(c2 == second && g2 == 2, "a pin taken now gets the new one");
	liveconf_unpin(lc, c1);
	ok(wiped_a1 > 0, "the last unpin frees the superseded one, its keys wiped");
	is_int(liveconf_superseded(lc), 0, "nothing superseded left");

	/* Not pinned: freed at once when superseded. */
	liveconf_unpin(lc, c2);
	wiped_a1 = 0;
	is_int(liveconf_publish(lc, third), 3, "generation 3");
	ok(wiped_a1 > 0, "an unpinned configuration is freed when superseded");
	c3 = liveconf_pin(lc, &g3);
	ok(c3 == third && g3 == 3, "the third is in force");
	liveconf_unpin(lc, c3);
	liveconf_unpin(lc, NULL);
	crypto_wipe_hook = NULL;
	liveconf_free(lc);
	liveconf_free(NULL);
}

/* Threads pin, read and unpin while the main thread publishes. */
struct pinner {
	struct liveconf	*lc;
	atomic_int	*stop;
	long		 reads;
	int		 bad;
};

static void *
pinner_main(void *arg)
{
	struct pinner *p = arg;
	const struct config *c;
	uint64_t gen;

	while (!atomic_load(p->stop)) {
		c = liveconf_pin(p->lc, &gen);
		/* Every configuration read here must still be whole. */
		if (c->nproviders != 1 || strcmp(c->providers[0].accounts[1].name, "a2") != 0 ||
		    strcmp(c->providers[0].accounts[0].api_key, "sk-secret-a1-0123456789") != 0)
			p->bad++;
		p->reads++;
		liveconf_unpin(p->lc, c);
	}
	return NULL;
}

static void
test_liveconf_threads(void)
{
	struct pinner p[4];
	pthread_t t[4];
	atomic_int stop;
	struct liveconf *lc;
	enum qp_err err;
	long reads = 0;
	int i, bad = 0, published = 0;

	atomic_init(&stop, 0);
	lc = liveconf_new(load(), &err);
	for (i = 0; i < 4; i++) {
		p[i].lc = lc;
		p[i].stop = &stop;
		p[i].reads = 0;
		p[i].bad = 0;
		pthread_create(&t[i], NULL, pinner_main, &p[i]);
	}
	for (i = 0; i < 300; i++)
		published += liveconf_publish(lc, load()) != 0;
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		reads += p[i].reads;
		bad += p[i].bad;
	}
	is_int(published, 300, "300 configurations published under 4 reading threads");
	is_int(bad, 0, "every read saw a whole configuration (%ld reads)", reads);
	is_int(liveconf_superseded(lc), 0, "once the readers are done, none is left over");
	is_int(liveconf_generation(lc), 301, "generation 301 in force");
	liveconf_free(lc);
}

/* A changed refresh table (its body included) makes its account \"changed\". */
static void
test_reload_refresh(void)
{
	struct reload_report rep;
	struct config *old, *nc;
	struct conf c;
	enum qp_err err;

	setenv("QP_TEST_RELOAD_BODY", "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"r1\"}",
	    1);
	c = base;
	c.extra = "[providers.p1.accounts.refresh]\nurl = \"http://127.0.0.1:9/token\"\n"
	    "body_env = \"QP_TEST_RELOAD_BODY\"\n";
	write_conf(&c);
	old = load();
	nc = reload_load(old, path, &rep, &err);
	ok(nc != NULL && rep.changes[RELOAD_ACCOUNTS][RELOAD_CHANGED].n == 0,
	    "the same refresh table: no account changed");
	reload_report_free(&rep);
	config_free(nc);
	setenv("QP_TEST_RELOAD_BODY", "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"r2\"}",
	    1);
	nc = reload_load(old, path, &rep, &err);
	ok(nc != NULL && has_name(&rep.changes[RELOAD_ACCOUNTS][RELOAD_CHANGED], "a2"),
	    "a new refresh body: a2 changed");
	reload_report_free(&rep);
	config_free(nc);
	c.extra = "[providers.p1.accounts.refresh]\nurl = \"http://127.0.0.1:9/token\"\n"
	    "body_env = \"QP_TEST_RELOAD_BODY\"\nskew_s = 5\n";
	write_conf(&c);
	nc = reload_load(old, path, &rep, &err);
	ok(nc != NULL && has_name(&rep.changes[RELOAD_ACCOUNTS][RELOAD_CHANGED], "a2"),
	    "a new skew_s: a2 changed");
	reload_report_free(&rep);
	config_free(nc);
	config_free(old);
	unsetenv("QP_TEST_RELOAD_BODY");
}

static void
test_reload_changes(void)
{
	struct reload_report rep;
	struct config *old, *nc;
	struct conf c;
	cJSON *j, *x;
	char *text, sum[1024];
	enum qp_err err;

	write_conf(&base);
	old = load();

	/* a3 added, a2 disabled, two settings fixed at start, [routing], a price. */
	c = base;
	c.with_a3 = 1;
	c.a2_enabled = 0;
	c.threads = 9;
	c.db = "other.db";
	c.attempts = 2;
	c.price = "0.005";
	write_conf(&c);
	nc = reload_load(old, path, &rep, &err);
	ok(nc != NULL && err == QP_OK, "a valid new file loads");
	is_int(strlen(rep.sha256), 64, "its sha256 is kept");
	is_int(nc != NULL ? nc->server.threads : -1, 8, "threads keeps the value read at start");
	is_str(nc != NULL ? nc->database.path : NULL, old->database.path,
	    "database.path keeps the value read at start");
	is_int(rep.nrestart, 2, "two settings need a restart");
	ok(rep.nrestart == 2 && strcmp(rep.restart[0], "server.threads") == 0 &&
	    strcmp(rep.restart[1], "database.path") == 0, "named in table order");
	ok(has_name(&rep.changes[RELOAD_ACCOUNTS][RELOAD_ADDED], "a3"), "a3 added");
	ok(has_name(&rep.changes[RELOAD_ACCOUNTS][RELOAD_DISABLED], "a2"), "a2 disabled");
	is_int(rep.changes[RELOAD_ACCOUNTS][RELOAD_REMOVED].n, 0, "none removed");
	ok(has_name(&rep.changes[RELOAD_OVERRIDES][RELOAD_CHANGED], "m1"), "m1's price changed");
	is_int(nc != NULL ? nc->overrides[0].input_per_mtok : -1, 5000000,
	    "the new price is in the new configuration");
	ok(rep.routing && !rep.limits, "[routing] changed, [limits] did not");
	is_int(nc != NULL ? nc->routing.max_attempts : -1, 2, "the new max_attempts");
	text = reload_details_json(&rep, 1234, 7, 2);
	j = text != NULL ? cJSON_Parse(text) : NULL;
	ok(j != NULL, "details_json is JSON: %s", text != NULL ? text : "(null)");
	x = cJSON_GetObjectItem(j, "pid");
	is_int(cJSON_IsNumber(x) ? (long)x->valuedouble : 0, 1234, "details: pid");
	x = cJSON_GetObjectItem(j, "sha256");
	is_str(cJSON_IsString(x) ? x->valuestring : NULL, rep.sha256, "details: sha256");
	x = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "changes"),
	    "accounts"), "added");
	ok(cJSON_GetArraySize(x) == 1 && strcmp(cJSON_GetArrayItem(x, 0)->valuestring, "a3") == 0,
	    "details: accounts added a3");
	ok(text != NULL && strstr(text, "sk-") == NULL, "details carry no key");
	reload_summary(&rep, sum, sizeof(sum));
	is_str(sum, "accounts added: a3; accounts disabled: a2; model_overrides changed: m1; "
	    "[routing] changed", "the summary line");
	cJSON_Delete(j);
	free(text);
	reload_report_free(&rep);
	config_free(nc);

	/* a1 removed: the old configuration's names are copied, not borrowed. */
	c = base;
	c.with_a1 = 0;
	write_conf(&c);
	nc = reload_load(old, path, &rep, &err);
	config_free(old);
	old = NULL;
	ok(nc != NULL && has_name(&rep.changes[RELOAD_ACCOUNTS][RELOAD_REMOVED], "a1"),
	    "a1 removed, named after the old configuration is gone");
	is_int(rep.nrestart, 0, "nothing needs a restart");
	reload_report_free(&rep);
	config_free(nc);
}

static void
test_reload_refused(void)
{
	struct reload_report rep;
	struct config *old, *nc;
	struct conf c = base;
	char *text, want[300];
	enum qp_err err;

	write_conf(&base);
	old = load();
	c.attempts_text = "\"many\"";
	write_conf(&c);
	nc = reload_load(old, path, &rep, &err);
	ok(nc == NULL && err == QP_ECONFIG, "an invalid file is refused");
	ok(rep.nerrors >= 1 && rep.nmsgs >= 1, "with its messages (%d)", rep.nmsgs);
	snprintf(want, sizeof(want), "%s:", path);
	ok(rep.nmsgs >= 1 && strncmp(rep.msgs[0], want, strlen(want)) == 0 &&
	    strstr(rep.msgs[0], ": error: ") != NULL,
	    "as check-config prints them: %s", rep.nmsgs ? rep.msgs[0] : "");
	is_int(strlen(rep.sha256), 64, "the refused file's sha256 is kept");
	text = reload_details_json(&rep, 1, 1, 0);
	ok(text != NULL && strstr(text, "\"errors\":[") != NULL && strstr(text, "error:") != NULL,
	    "a refusal's details list the errors: %s", text != NULL ? text : "");
	free(text);
	reload_report_free(&rep);

	unlink(path);
	nc = reload_load(old, path, &rep, &err);
	ok(nc == NULL && err == QP_EIO, "a missing file is refused");
	ok(rep.nmsgs == 1 && strstr(rep.msgs[0], "cannot read") != NULL,
	    "saying it cannot be read: %s", rep.nmsgs ? rep.msgs[0] : "");
	ok(rep.sha256[0] == '\0', "no sha256 for a file not read");
	reload_report_free(&rep);
	reload_report_free(NULL);
	config_free(old);
}

/* The backup hook of the maintenance test: counts its runs. */
static atomic_int backup_runs;

static enum qp_err
count_backup(const struct maint_ctx *ctx, void *arg, char *note, size_t len)
{

	(void)ctx;
	(void)arg;
	atomic_fetch_add(&backup_runs, 1);
	snprintf(note, len, "counted");
	return QP_OK;
}

static int
backup_wanted(const struct config *cfg)
{

	return cfg->backup.enabled;
}

/* Rows of model_catalog for (provider, model, static). */
static int
static_row(const char *db, const char *provider, const char *model)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM model_catalog WHERE provider_id = ?1 "
	    "AND model_id = ?2 AND source = 'static'", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 2000);
		sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

/* Whether the backup task is connected, from the runtime page's JSON. */
static int
backup_connected(struct maint *m)
{
	cJSON *arr = maint_status_json(m), *t;
	int on = -1;

	cJSON_ArrayForEach(t, arr)
		if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, "backup") == 0)
			on = cJSON_IsTrue(cJSON_GetObjectItem(t, "connected"));
	cJSON_Delete(arr);
	return on;
}

/* The retention task's period (ms) on the runtime page; -1 if not shown. */
static int64_t
retention_interval(struct maint *m)
{
	cJSON *arr = maint_status_json(m), *t, *v;
	int64_t ms = -1;

	cJSON_ArrayForEach(t, arr)
		if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, "retention") == 0 &&
		    cJSON_IsNumber(v = cJSON_GetObjectItem(t, "interval_ms")))
			ms = (int64_t)v->valuedouble;
	cJSON_Delete(arr);
	return ms;
}

static enum qp_err
noop_hook(const struct maint_ctx *ctx, void *arg, char *note, size_t len)
{

	(void)ctx;
	(void)arg;
	snprintf(note, len, "nothing");
	return QP_OK;
}

static int64_t
retention_every(const struct config *cfg)
{

	return (int64_t)cfg->retention.interval_s * 1000;
}

/* Waits up to ms for cond; 1 if it held. */
static int
wait_until(int (*cond)(void *), void *arg, int ms)
{
	int i;

	for (i = 0; i < ms / 20; i++) {
		if (cond(arg))
			return 1;
		usleep(20000);
	}
	return cond(arg);
}

static char dbpath[300];

static int
m2_stored(void *arg)
{

	(void)arg;
	return static_row(dbpath, "p2", "m2") == 1;
}

static int
m1_stored(void *arg)
{

	(void)arg;
	return static_row(dbpath, "p1", "m1") == 1;
}

static int
backup_ran(void *arg)
{

	(void)arg;
	return atomic_load(&backup_runs) > 0;
}

/*
 * The maintenance thread with a liveconf: a published configuration is
 * adopted at the next pass: a new provider's static models are stored
 * and the automatic-backup hook follows [backup] enabled.
 */
static void
test_maint_adopts(void)
{
	struct migrate_set set = { NULL, 0 };
	struct liveconf *lc;
	struct maint_opts o;
	struct maint *m;
	struct conf c = base;
	const struct config *pinned;
	char schema[600], errbuf[512];
	sqlite3 *db;
	enum qp_err err;
	int n;

	snprintf(dbpath, sizeof(dbpath), "%s/maint.db", dir);
	snprintf(schema, sizeof(schema), "%s/schema", QP_SRCDIR);
	db = db_open(dbpath, &(struct db_opts){ .busy_timeout_ms = 5000 }, &err, errbuf,
	    sizeof(errbuf));
	if (db == NULL || migrate_load(schema, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up the database: %s\n", errbuf);
		exit(1);
	}
	db_close(db);
	migrate_set_free(&set);

	c.db = dbpath;
	write_conf(&c);
	lc = liveconf_new(load(), &err);
	maint_opts_init(&o);
	o.tick_ms = 100;
	o.lease_ttl_ms = 3000;
	o.hooks[MAINT_HOOK_BACKUP].run = count_backup;
	o.hooks[MAINT_HOOK_BACKUP].wanted = backup_wanted;
	o.hooks[MAINT_HOOK_BACKUP].interval_ms = 100;
	o.hooks[MAINT_HOOK_RETENTION].run = noop_hook;
	o.hooks[MAINT_HOOK_RETENTION].interval_of = retention_every;
	o.live = lc;
	pinned = liveconf_pin(lc, NULL);
	m = maint_start(pinned, &o, &err);
	liveconf_unpin(lc, pinned);
	ok(m != NULL, "maintenance thread on a liveconf starts");
	if (m == NULL)
		return;
	ok(wait_until(m1_stored, NULL, 10000), "the first configuration's static model stored");
	is_int(backup_connected(m), 0, "[backup] off: the backup task is not connected");
	is_int(retention_interval(m), 3600 * 1000, "retention every 3600 s by default");

	c.extra = "[providers.p2]\nbase_url = \"http://127.0.0.1:9/v1\"\n"
	    "protocols = [\"openai\"]\nmodels = [\"m2\"]\nauth = \"none\"\n"
	    "[backup]\nenabled = true\n[retention]\ninterval_s = 120\n";
	write_conf(&c);
	is_int(liveconf_publish(lc, load()), 2, "a configuration with p2 and [backup] on published");
	maint_wake(m);
	ok(wait_until(m2_stored, NULL, 10000), "its new provider's static model is stored");
	ok(wait_until(backup_ran, NULL, 10000), "the backup hook runs once [backup] is on");
	is_int(backup_connected(m), 1, "and is shown connected");
	is_int(retention_interval(m), 120 * 1000, "[retention] interval_s = 120 is followed");

	c.extra = NULL;
	write_conf(&c);
	is_int(liveconf_publish(lc, load()), 3, "the first configuration again");
	maint_wake(m);
	usleep(500000);
	is_int(backup_connected(m), 0, "[backup] off again: the task is disconnected");
	ok(wait_until(m1_stored, NULL, 5000) && !m2_stored(NULL),
	    "p2's static model is dropped with it");
	is_int(maint_stop(m), QP_OK, "stops");
	is_int(liveconf_superseded(lc), 0, "the thread left no pin behind");
	liveconf_free(lc);
	unlink(dbpath);
	snprintf(schema, sizeof(schema), "%s-wal", dbpath);
	unlink(schema);
	snprintf(schema, sizeof(schema), "%s-shm", dbpath);
	unlink(schema);
}

int
main(void)
{

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/config.toml", dir);
	write_conf(&base);
	test_liveconf();
	test_liveconf_threads();
	test_reload_changes();
	test_reload_refresh();
	test_reload_refused();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_maint_adopts();
	curl_global_cleanup();
	unlink(path);
	rmdir(dir);
	return tap_done();
}
