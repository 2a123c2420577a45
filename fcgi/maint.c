/* maint.c: the maintenance thread: lease, heartbeat, catalog refresh, ping pruning, server hooks. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "db.h"
#include "healthcheck.h"
#include "log.h"
#include "maint.h"

/* A task that is not scheduled again. */
#define MAINT_NEVER	INT64_MAX
/* Milliseconds in a day. */
#define MAINT_DAY_MS	(86400LL * 1000)

enum maint_stmt {
	MAINT_STMT_LEASE_ACQUIRE,	/* take or renew a lease */
	MAINT_STMT_LEASE_RELEASE,	/* give a lease up */
	MAINT_STMT_LEASE_HOLDER,	/* who holds a lease */
	MAINT_STMT_PROC_REGISTER,	/* this process's row */
	MAINT_STMT_PROC_HEARTBEAT,	/* sign of life */
	MAINT_STMT_PROC_STOP,		/* clean stop */
	MAINT_STMT__MAX
};

static const char *const maint_sql[MAINT_STMT__MAX] = {
	[MAINT_STMT_LEASE_ACQUIRE] = "INSERT INTO leases (name, process_id, expires_at) "
	    "VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET "
	    "process_id = excluded.process_id, expires_at = excluded.expires_at "
	    "WHERE leases.process_id = excluded.process_id OR leases.expires_at <= ?4 "
	    "OR leases.process_id IN (SELECT id FROM processes WHERE stopped_at IS NOT NULL)",
	[MAINT_STMT_LEASE_RELEASE] = "DELETE FROM leases WHERE name = ?1 AND process_id = ?2",
	[MAINT_STMT_LEASE_HOLDER] = "SELECT process_id, expires_at FROM leases WHERE name = ?1",
	[MAINT_STMT_PROC_REGISTER] = "INSERT INTO processes (pid, hostname, version, "
	    "started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?4)",
	[MAINT_STMT_PROC_HEARTBEAT] = "UPDATE processes SET heartbeat_at = ?2 WHERE id = ?1",
	[MAINT_STMT_PROC_STOP] = "UPDATE processes SET stopped_at = ?2, heartbeat_at = ?2 "
	    "WHERE id = ?1",
};

struct maint_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[MAINT_STMT__MAX];	/* prepared statements */
};

/* One task's schedule and last outcome. */
struct maint_state {
	int64_t		 interval_ms;	/* period, <= 0 = runs once */
	int64_t		 next_due;	/* monotonic ms, MAINT_NEVER = not again */
	int64_t		 runs;		/* runs since start */
	int64_t		 failures;	/* runs that returned an error */
	int64_t		 last_run_at;	/* wall clock ms, 0 = never */
	int64_t		 last_ms;	/* duration of the last run */
	enum qp_err	 last_err;	/* outcome of the last run */
	int		 connected;	/* 0 for a hook the server did not pass */
	int		 waiting;	/* 1 while due but waiting for the lease */
	int		 first;		/* 1 until the first run */
	char		 note[MAINT_NOTE_MAX]; /* short outcome of the last run */
};

struct maint {
	const struct config *cfg;		/* borrowed; with live, the one pinned for
						   the pass (thread only once started) */
	struct liveconf	*live;			/* opts.live: where cfg comes from, or NULL */
	uint64_t	 gen;			/* generation of the configuration adopted */
	int		 woken;			/* 1: maint_wake() asked for a pass (lock) */
	struct maint_opts opts;			/* with defaults filled in */
	pthread_t	 thread;		/* the maintenance thread */
	pthread_mutex_t	 lock;			/* guards state[] and the sleep */
	pthread_cond_t	 wake;			/* signalled by maint_stop() */
	atomic_int	 stopping;		/* 1 once maint_stop() began; cancels fetches */
	atomic_llong	 process_id;		/* processes row, 0 = not registered */
	atomic_int	 lease_held;		/* 1 while the lease is ours */
	int64_t		 lease_until;		/* wall ms our lease lasts to (thread only) */
	sqlite3		*db;			/* connection (thread only once started) */
	struct maint_db	*mdb;			/* lease and process statements */
	struct catalog_db *cdb;			/* catalog statements */
	struct catalog_fetcher *fetcher;	/* libcurl handle of catalog fetches */
	struct healthcheck_db *hdb;		/* health check statements */
	int64_t		*check_due;		/* per provider, config order: monotonic ms
						   of its next health check (thread only) */
	struct maint_fetch *fetch;		/* per provider, config order (thread only) */
	int64_t		 refresh_due;		/* monotonic ms of the next full catalog
						   refresh (thread only) */
	int64_t		 next_hint[MAINT_TASK__MAX]; /* set by a run: its next run (monotonic
						   ms) instead of after interval_ms, 0 = not
						   set (thread only) */
	struct maint_state state[MAINT_TASK__MAX]; /* per task, guarded by lock */
	char		 hostname[256];		/* recorded in processes */
	char		 dberr[256];		/* why the connection is not ready */
};

/* Where one provider's catalog fetches stand. */
struct maint_fetch {
	int		 failures;	/* failed fetches in a row */
	int64_t		 retry_at;	/* monotonic ms of its next fetch before the full
					   refresh, 0 = none */
};

/* One row of the task table. */
struct maint_task_def {
	const char	*name;			/* shown on the runtime page */
	int		 needs_lease;		/* 1 = only the lease holder runs it */
	int64_t		 (*interval)(const struct maint *m); /* period ms, <= 0 = once */
	enum qp_err	 (*run)(struct maint *m, int first, char *note, size_t len);
};

static int64_t	 maint_every_tick(const struct maint *);
static int64_t	 maint_every_refresh(const struct maint *);
static int64_t	 maint_every_prune(const struct maint *);
static int64_t	 maint_every_stale(const struct maint *);
static int64_t	 maint_every_retention(const struct maint *);
static int64_t	 maint_every_backup(const struct maint *);
static int64_t	 maint_every_check(const struct maint *);
static enum qp_err maint_run_lease(struct maint *, int, char *, size_t);
static enum qp_err maint_run_heartbeat(struct maint *, int, char *, size_t);
static enum qp_err maint_run_catalog(struct maint *, int, char *, size_t);
static enum qp_err maint_run_pings(struct maint *, int, char *, size_t);
static enum qp_err maint_run_stale(struct maint *, int, char *, size_t);
static enum qp_err maint_run_retention(struct maint *, int, char *, size_t);
static enum qp_err maint_run_backup(struct maint *, int, char *, size_t);
static enum qp_err maint_run_checks(struct maint *, int, char *, size_t);

static const struct maint_task_def maint_tasks[MAINT_TASK__MAX] = {
	[MAINT_TASK_LEASE] = { "lease", 0, maint_every_tick, maint_run_lease },
	[MAINT_TASK_HEARTBEAT] = { "heartbeat", 0, maint_every_tick, maint_run_heartbeat },
	[MAINT_TASK_CATALOG] = { "catalog_refresh", 1, maint_every_refresh,
	    maint_run_catalog },
	[MAINT_TASK_PINGS] = { "ping_prune", 1, maint_every_prune, maint_run_pings },
	/* Entry points of the server: opts.hooks[MAINT_HOOK_STALE] and [..._RETENTION]. */
	[MAINT_TASK_STALE] = { "stale_requests", 1, maint_every_stale, maint_run_stale },
	[MAINT_TASK_RETENTION] = { "retention", 1, maint_every_retention,
	    maint_run_retention },
	[MAINT_TASK_BACKUP] = { "backup", 1, maint_every_backup, maint_run_backup },
	[MAINT_TASK_CHECKS] = { "health_checks", 1, maint_every_check, maint_run_checks },
};

const char *
maint_task_name(enum maint_task task)
{

	return (unsigned)task < MAINT_TASK__MAX ? maint_tasks[task].name : "unknown";
}

/* ---- statements --------------------------------------------------------- */

struct maint_db *
maint_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct maint_db *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	d->db = db;
	*err = db_prepare_all(db, maint_sql, MAINT_STMT__MAX, d->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(d);
		return NULL;
	}
	return d;
}

void
maint_db_free(struct maint_db *d)
{

	if (d == NULL)
		return;
	db_finalize_all(d->st, MAINT_STMT__MAX);
	free(d);
}

enum qp_err
maint_lease_acquire(struct maint_db *d, const char *name, int64_t process_id, int64_t now,
    int64_t ttl_ms, int *held)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_LEASE_ACQUIRE];
	enum qp_err err;

	*held = 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, process_id);
	sqlite3_bind_int64(st, 3, now + ttl_ms);
	sqlite3_bind_int64(st, 4, now);
	if ((err = db_step_done(st)) != QP_OK)
		return err;
	/* An update refused by its WHERE clause changes no row. */
	*held = sqlite3_changes(d->db) > 0;
	return QP_OK;
}

enum qp_err
maint_lease_release(struct maint_db *d, const char *name, int64_t process_id)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_LEASE_RELEASE];

	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, process_id);
	return db_step_done(st);
}

enum qp_err
maint_lease_holder(struct maint_db *d, const char *name, int64_t *holder,
    int64_t *expires_at)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_LEASE_HOLDER];
	enum qp_err err = QP_OK;
	int rc;

	*holder = 0;
	*expires_at = 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*holder = sqlite3_column_int64(st, 0);
		*expires_at = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

enum qp_err
maint_process_register(struct maint_db *d, long pid, const char *hostname,
    const char *version, int64_t now, int64_t *id)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_PROC_REGISTER];
	enum qp_err err;

	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, version, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now);
	if ((err = db_step_done(st)) == QP_OK)
		*id = sqlite3_last_insert_rowid(d->db);
	return err;
}

enum qp_err
maint_process_heartbeat(struct maint_db *d, int64_t id, int64_t now)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_PROC_HEARTBEAT];
	enum qp_err err;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if ((err = db_step_done(st)) != QP_OK)
		return err;
	return sqlite3_changes(d->db) > 0 ? QP_OK : QP_ENOTFOUND;
}

enum qp_err
maint_process_stop(struct maint_db *d, int64_t id, int64_t now)
{
	sqlite3_stmt *st = d->st[MAINT_STMT_PROC_STOP];

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return db_step_done(st);
}

/* ---- schedule ------------------------------------------------------------ */

/* Milliseconds of the monotonic clock. */
static int64_t
maint_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
maint_every_tick(const struct maint *m)
{

	return m->opts.tick_ms;
}

static int64_t
maint_every_refresh(const struct maint *m)
{

	return (int64_t)m->cfg->models.refresh_interval_s * 1000;
}

static int64_t
maint_every_prune(const struct maint *m)
{

	return m->opts.prune_ms;
}

/* A hook's period: from the configuration when it says how, else interval_ms. */
static int64_t
maint_hook_interval(const struct maint *m, enum maint_hook_id id)
{
	const struct maint_hook *h = &m->opts.hooks[id];

	return h->interval_of != NULL ? h->interval_of(m->cfg) : h->interval_ms;
}

static int64_t
maint_every_stale(const struct maint *m)
{
	int64_t ms = maint_hook_interval(m, MAINT_HOOK_STALE);

	return ms > 0 ? ms : MAINT_STALE_MS;
}

static int64_t
maint_every_retention(const struct maint *m)
{
	int64_t ms = maint_hook_interval(m, MAINT_HOOK_RETENTION);

	return ms > 0 ? ms : MAINT_RETENTION_MS;
}

static int64_t
maint_every_backup(const struct maint *m)
{
	int64_t ms = maint_hook_interval(m, MAINT_HOOK_BACKUP);

	return ms > 0 ? ms : MAINT_BACKUP_MS;
}

/* The shortest check_interval_s of the providers with a check; the tick when none has one. */
static int64_t
maint_every_check(const struct maint *m)
{
	const struct config_provider *p;
	int64_t ms = 0;
	int i;

	for (i = 0; i < m->cfg->nproviders; i++) {
		p = &m->cfg->providers[i];
		if (p->enabled && p->check.type != CONFIG_CHECK_NONE &&
		    (ms == 0 || p->check_interval_ms < ms))
			ms = p->check_interval_ms;
	}
	return ms > 0 ? ms : m->opts.tick_ms;
}

/* Returns 1 while the lease is ours and not past its expiry. */
static int
maint_holds(struct maint *m)
{

	return atomic_load(&m->lease_held) && db_now_ms() < m->lease_until;
}

/* Opens what the tasks need; the reason of a failure goes to m->dberr. */

/*
 * Marks stopped the processes of this host that no longer exist (a crash
 * or kill -9): their lease is free at once and the stale-request
 * finalizer closes their pending requests without waiting for their
 * heartbeat to go stale.
 */
static void
maint_mark_dead(struct maint *m, int64_t self)
{
	sqlite3_stmt *st = NULL;
	int64_t dead[64];
	int i, n = 0;
	long pid;

	if (sqlite3_prepare_v2(m->db, "SELECT id, pid FROM processes WHERE "
	    "stopped_at IS NULL AND hostname = ?1 AND id <> ?2", -1, &st,
	    NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, m->hostname, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, self);
	while (n < 64 && sqlite3_step(st) == SQLITE_ROW) {
		pid = (long)sqlite3_column_int64(st, 1);
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			dead[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	for (i = 0; i < n; i++) {
		if (maint_process_stop(m->mdb, dead[i], db_now_ms()) == QP_OK)
			log_msg(LOG_WARNING, "maintenance: process %lld of this host "
			    "is gone; its requests will be closed", (long long)dead[i]);
	}
}

static enum qp_err
maint_connect(struct maint *m)
{
	const struct config *cfg = m->cfg;
	struct db_opts o;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int64_t id;

	if (m->db == NULL) {
		memset(&o, 0, sizeof(o));
		o.busy_timeout_ms = cfg->database.busy_timeout_ms;
		o.synchronous = cfg->database.synchronous;
		o.occasional = 1;
		m->db = db_open(cfg->database.path, &o, &err, errbuf, sizeof(errbuf));
		if (m->db == NULL)
			goto out;
	}
	if (m->mdb == NULL &&
	    (m->mdb = maint_db_new(m->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if (m->cdb == NULL &&
	    (m->cdb = catalog_db_new(m->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if (m->hdb == NULL &&
	    (m->hdb = healthcheck_db_new(m->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if (atomic_load(&m->process_id) == 0) {
		err = maint_process_register(m->mdb, (long)getpid(), m->hostname, QP_VERSION,
		    db_now_ms(), &id);
		if (err != QP_OK) {
			snprintf(errbuf, sizeof(errbuf), "cannot register the process: %s",
			    sqlite3_errmsg(m->db));
			goto out;
		}
		atomic_store(&m->process_id, id);
		maint_mark_dead(m, id);
	}
out:
	if (err != QP_OK) {
		if (strcmp(m->dberr, errbuf) != 0)
			log_msg(LOG_ERROR, "maintenance: %s", errbuf);
		memcpy(m->dberr, errbuf, sizeof(m->dberr));
		m->dberr[sizeof(m->dberr) - 1] = '\0';
	} else
		m->dberr[0] = '\0';
	return err;
}

/* Closes what maint_connect() opened; the hooks release their part first. */
static void
maint_disconnect(struct maint *m)
{
	int i;

	for (i = 0; i < MAINT_HOOK__MAX; i++)
		if (m->opts.hooks[i].close != NULL)
			m->opts.hooks[i].close(m->opts.hooks[i].arg);
	catalog_fetcher_free(m->fetcher);
	m->fetcher = NULL;
	catalog_db_free(m->cdb);
	m->cdb = NULL;
	healthcheck_db_free(m->hdb);
	m->hdb = NULL;
	maint_db_free(m->mdb);
	m->mdb = NULL;
	db_close(m->db);
	m->db = NULL;
}

/* Runs task t now and records its outcome and next run. */
static void
maint_run_task(struct maint *m, enum maint_task t)
{
	struct maint_state *s = &m->state[t];
	char note[MAINT_NOTE_MAX];
	int64_t t0, wall, end, next;
	enum qp_err err;
	int first = s->first;

	note[0] = '\0';
	m->next_hint[t] = 0;
	t0 = maint_mono_ms();
	wall = db_now_ms();
	err = maint_tasks[t].run(m, first, note, sizeof(note));
	end = maint_mono_ms();
	if (err != QP_OK && err != QP_ECLOSED && (first || s->last_err == QP_OK))
		log_msg(LOG_WARNING, "maintenance task %s failed: %s%s%s", maint_tasks[t].name,
		    qp_strerror(err), note[0] != '\0' ? ": " : "", note);
	if (s->interval_ms > 0) {
		next = t0 + s->interval_ms;
		if (next < end)
			next = end;
	} else
		next = MAINT_NEVER;
	if (m->next_hint[t] > 0)
		next = m->next_hint[t];
	pthread_mutex_lock(&m->lock);
	s->first = 0;
	s->runs++;
	if (err != QP_OK)
		s->failures++;
	s->last_run_at = wall;
	s->last_ms = end - t0;
	s->last_err = err;
	s->waiting = 0;
	s->next_due = next;
	memcpy(s->note, note, sizeof(s->note));
	pthread_mutex_unlock(&m->lock);
}

/* Runs the lease and heartbeat tasks if due, so that a long task keeps both alive. */
static void
maint_keepalive(struct maint *m)
{
	int64_t now = maint_mono_ms();

	if (m->state[MAINT_TASK_LEASE].next_due <= now)
		maint_run_task(m, MAINT_TASK_LEASE);
	if (m->state[MAINT_TASK_HEARTBEAT].next_due <= now)
		maint_run_task(m, MAINT_TASK_HEARTBEAT);
}

/* ---- tasks ---------------------------------------------------------------- */

static enum qp_err
maint_run_lease(struct maint *m, int first, char *note, size_t len)
{
	int64_t now = db_now_ms(), holder, expires, self = atomic_load(&m->process_id);
	enum qp_err err;
	int held, had = atomic_load(&m->lease_held);

	(void)first;
	err = maint_lease_acquire(m->mdb, MAINT_LEASE_NAME, self, now, m->opts.lease_ttl_ms,
	    &held);
	if (err != QP_OK) {
		/* Keep what we had until it expires: maint_holds() checks the time. */
		snprintf(note, len, "cannot renew: %s", sqlite3_errmsg(m->db));
		return err;
	}
	if (held) {
		m->lease_until = now + m->opts.lease_ttl_ms;
		atomic_store(&m->lease_held, 1);
		if (!had)
			log_msg(LOG_INFO, "maintenance: this process (%lld) holds the lease",
			    (long long)self);
		snprintf(note, len, "held by this process");
		return QP_OK;
	}
	atomic_store(&m->lease_held, 0);
	if (had)
		log_msg(LOG_WARNING, "maintenance: lease lost to another process");
	if (maint_lease_holder(m->mdb, MAINT_LEASE_NAME, &holder, &expires) == QP_OK)
		snprintf(note, len, "held by process %lld", (long long)holder);
	return QP_OK;
}

static enum qp_err
maint_run_heartbeat(struct maint *m, int first, char *note, size_t len)
{
	int64_t id = atomic_load(&m->process_id), now = db_now_ms();
	enum qp_err err;

	(void)first;
	err = maint_process_heartbeat(m->mdb, id, now);
	if (err == QP_ENOTFOUND) {
		/* Our row was removed: register again rather than beat for nobody. */
		err = maint_process_register(m->mdb, (long)getpid(), m->hostname, QP_VERSION,
		    now, &id);
		if (err == QP_OK) {
			atomic_store(&m->process_id, id);
			snprintf(note, len, "registered again as process %lld", (long long)id);
		}
	}
	return err;
}

int64_t
maint_retry_delay_ms(int failures, int64_t cap_ms)
{
	int64_t d = MAINT_FETCH_RETRY_MS;
	int i;

	if (cap_ms <= 0)
		cap_ms = MAINT_FETCH_RETRY_CAP_MS;
	for (i = 1; i < failures && d < cap_ms; i++)
		d *= 2;
	return d < cap_ms ? d : cap_ms;
}

/* Notes provider i's fetch outcome: a failure schedules its next try, a success clears it. */
static void
maint_fetch_done(struct maint *m, int i, int ok, const char *why)
{
	const struct config_provider *p = &m->cfg->providers[i];
	struct maint_fetch *f = &m->fetch[i];
	int64_t delay;

	if (ok) {
		if (f->failures > 0)
			log_msg(LOG_INFO, "catalog: provider %s: models fetched after %d failed "
			    "attempt%s", p->id, f->failures, f->failures == 1 ? "" : "s");
		f->failures = 0;
		f->retry_at = 0;
		return;
	}
	if (f->failures < INT_MAX)
		f->failures++;
	delay = maint_retry_delay_ms(f->failures, maint_every_refresh(m));
	f->retry_at = maint_mono_ms() + delay;
	if (f->failures == 1)
		log_msg(LOG_WARNING, "catalog: provider %s: models fetch failed (%s); trying again "
		    "in %lld ms, then backing off up to the refresh interval", p->id,
		    why != NULL && why[0] != '\0' ? why : "no answer", (long long)delay);
}

/*
 * The catalog task. A full refresh (the first run, then every
 * refresh_interval_s) stores the static models and fetches every
 * provider; in between, a run fetches only the providers whose retry is
 * due. The next run is the earliest of the next full refresh and the
 * retries.
 */
static enum qp_err
maint_run_catalog(struct maint *m, int first, char *note, size_t len)
{
	const struct config *cfg = m->cfg;
	struct catalog_ping ping;
	enum qp_err err = QP_OK;
	int64_t now = maint_mono_ms(), interval = maint_every_refresh(m), next;
	int i, statics = 0, fetched = 0, failed = 0, models = 0, fetch, full, pending = 0;

	full = first || now >= m->refresh_due;
	fetch = !first || cfg->models.startup_refresh;
	if (full) {
		m->refresh_due = interval > 0 ? now + interval : MAINT_NEVER;
		if ((err = catalog_store_static(m->cdb, cfg, db_now_ms(), &statics)) != QP_OK) {
			snprintf(note, len, "cannot store static models: %s",
			    sqlite3_errmsg(m->db));
			m->refresh_due = now + MAINT_RETRY_MS;
			goto out;
		}
		if (!fetch) {
			snprintf(note, len, "%d static models; fetching waits for the next "
			    "refresh (startup_refresh is off)", statics);
			goto out;
		}
		/* Every provider is due; one left out by an error is tried at the next run. */
		for (i = 0; i < cfg->nproviders; i++)
			m->fetch[i].retry_at = now;
	}
	/* The libcurl handle lives for one run: runs are far apart. */
	if ((m->fetcher = catalog_fetcher_new(&m->stopping, &err)) == NULL) {
		snprintf(note, len, "cannot set up libcurl");
		goto out;
	}
	for (i = 0; i < cfg->nproviders; i++) {
		if (m->fetch[i].retry_at == 0 || m->fetch[i].retry_at > now)
			continue;
		if (atomic_load(&m->stopping)) {
			err = QP_ECLOSED;
			goto out;
		}
		/* A slow provider must not cost the lease or the heartbeat. */
		maint_keepalive(m);
		if (!maint_holds(m)) {
			snprintf(note, len, "lease lost after %d providers", fetched);
			err = QP_EBUSY;
			goto out;
		}
		err = catalog_refresh_provider(m->cdb, m->fetcher, cfg, &cfg->providers[i],
		    &ping);
		if (err == QP_ENOTFOUND) {
			/* Disabled, no models_path or no usable account: nothing to retry. */
			m->fetch[i].failures = 0;
			m->fetch[i].retry_at = 0;
			continue;
		}
		if (err == QP_ECLOSED)
			goto out;
		if (err != QP_OK) {
			snprintf(note, len, "provider %s: %s", cfg->providers[i].id,
			    sqlite3_errmsg(m->db));
			maint_fetch_done(m, i, 0, "database error");
			goto out;
		}
		fetched++;
		maint_fetch_done(m, i, ping.ok, ping.error);
		if (ping.ok)
			models += ping.model_count;
		else
			failed++;
	}
	err = QP_OK;
	if (full)
		snprintf(note, len, "%d static models; %d providers fetched, %d failed, "
		    "%d models listed", statics, fetched, failed, models);
	else
		snprintf(note, len, "retry: %d providers fetched, %d failed, %d models listed",
		    fetched, failed, models);
out:
	catalog_fetcher_free(m->fetcher);
	m->fetcher = NULL;
	/* The next run: the full refresh, or a provider's retry before it. */
	next = m->refresh_due;
	for (i = 0; i < cfg->nproviders; i++)
		if (m->fetch[i].retry_at != 0) {
			/* Left out by an error of ours: soon, but not in a loop. */
			if (err != QP_OK && err != QP_EBUSY && m->fetch[i].retry_at <= now)
				m->fetch[i].retry_at = now + MAINT_RETRY_MS;
			pending++;
			if (m->fetch[i].retry_at < next)
				next = m->fetch[i].retry_at;
		}
	if (pending > 0 && err == QP_OK) {
		size_t n = strlen(note);

		snprintf(note + n, len - n, "; %d to retry in %lld ms", pending,
		    (long long)(next > now ? next - now : 0));
	}
	m->next_hint[MAINT_TASK_CATALOG] = next;
	return err;
}

static enum qp_err
maint_run_pings(struct maint *m, int first, char *note, size_t len)
{
	int days = m->cfg->models.ping_retain_days;
	int64_t n = 0;
	enum qp_err err;

	(void)first;
	if (days <= 0) {
		snprintf(note, len, "pings are kept forever");
		return QP_OK;
	}
	err = catalog_prune_pings(m->cdb, db_now_ms() - (int64_t)days * MAINT_DAY_MS, &n);
	if (err == QP_OK)
		snprintf(note, len, "%lld pings older than %d days deleted", (long long)n, days);
	else
		snprintf(note, len, "%s", sqlite3_errmsg(m->db));
	return err;
}

/*
 * The health check task: every account of each provider whose check is
 * due, one after the other; a provider is due again check_interval_s
 * after its run started. The next run is when the first provider is due.
 */
static enum qp_err
maint_run_checks(struct maint *m, int first, char *note, size_t len)
{
	const struct config *cfg = m->cfg;
	const struct config_provider *p;
	struct healthcheck_runner *hr = NULL;
	struct healthcheck_result r;
	enum qp_err err = QP_OK;
	int64_t now = maint_mono_ms(), next = 0;
	int i, j, checked = 0, failed = 0, providers = 0, changed;

	(void)first;
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (!p->enabled || p->check.type == CONFIG_CHECK_NONE)
			continue;
		providers++;
		if (m->check_due[i] > now)
			goto scheduled;
		if (hr == NULL && (hr = healthcheck_runner_new(m->opts.share, &m->stopping,
		    &err)) == NULL) {
			snprintf(note, len, "out of memory");
			goto out;
		}
		m->check_due[i] = now + p->check_interval_ms;
		for (j = 0; j < p->naccounts; j++) {
			if (!healthcheck_account_wanted(p, &p->accounts[j]))
				continue;
			/* A slow check must not cost the lease or the heartbeat. */
			maint_keepalive(m);
			if (!maint_holds(m)) {
				snprintf(note, len, "lease lost after %d checks", checked);
				err = QP_EBUSY;
				goto out;
			}
			err = healthcheck_run(hr, cfg, p, &p->accounts[j], &r);
			if (err == QP_ECLOSED)
				goto out;
			if (err != QP_OK) {
				snprintf(note, len, "provider %s: %s", p->id, qp_strerror(err));
				goto out;
			}
			if ((err = healthcheck_record(m->hdb, p, &p->accounts[j], &r,
			    db_now_ms(), &changed)) != QP_OK) {
				snprintf(note, len, "provider %s: %s", p->id, sqlite3_errmsg(m->db));
				goto out;
			}
			checked++;
			failed += !r.ok;
			/* Said once when the account goes out, once when it comes back. */
			if (!r.ok && changed)
				log_msg(LOG_WARNING, "health check of %s/%s failed: %s; the account "
				    "is left out until a check passes", p->id, p->accounts[j].name,
				    r.detail);
			else if (r.ok && changed)
				log_msg(LOG_INFO, "health check of %s/%s passes again: %s", p->id,
				    p->accounts[j].name, r.detail);
			else
				log_msg(LOG_DEBUG, "health check of %s/%s: %s (%lld ms)", p->id,
				    p->accounts[j].name, r.detail, (long long)r.latency_ms);
		}
scheduled:
		if (next == 0 || m->check_due[i] < next)
			next = m->check_due[i];
	}
	if (providers == 0)
		snprintf(note, len, "no provider has a check");
	else
		snprintf(note, len, "%d accounts checked, %d failed", checked, failed);
out:
	healthcheck_runner_free(hr);
	if (err != QP_OK && err != QP_ECLOSED)
		next = now + MAINT_RETRY_MS;
	if (next > 0)
		m->next_hint[MAINT_TASK_CHECKS] = next;
	return err;
}

/* Runs server hook id with this thread's context. */
static enum qp_err
maint_run_hook(struct maint *m, enum maint_hook_id id, int first, char *note, size_t len)
{
	const struct maint_hook *h = &m->opts.hooks[id];
	struct maint_ctx ctx;

	if (h->run == NULL) {
		snprintf(note, len, "not connected");
		return QP_OK;
	}
	ctx.db = m->db;
	ctx.cfg = m->cfg;
	ctx.process_id = atomic_load(&m->process_id);
	ctx.now = db_now_ms();
	ctx.first = first;
	return h->run(&ctx, h->arg, note, len);
}

static enum qp_err
maint_run_stale(struct maint *m, int first, char *note, size_t len)
{

	return maint_run_hook(m, MAINT_HOOK_STALE, first, note, len);
}

static enum qp_err
maint_run_retention(struct maint *m, int first, char *note, size_t len)
{

	return maint_run_hook(m, MAINT_HOOK_RETENTION, first, note, len);
}

static enum qp_err
maint_run_backup(struct maint *m, int first, char *note, size_t len)
{

	return maint_run_hook(m, MAINT_HOOK_BACKUP, first, note, len);
}

/* ---- the thread ------------------------------------------------------------ */

/* Sleeps until the monotonic time until, or until maint_stop() wakes us. */
static void
maint_sleep(struct maint *m, int64_t until)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	pthread_mutex_lock(&m->lock);
	/* maint_stop() and maint_wake() set their flag under the lock: no wake-up is lost. */
	if (!atomic_load(&m->stopping) && !m->woken)
		pthread_cond_timedwait(&m->wake, &m->lock, &ts);
	m->woken = 0;
	pthread_mutex_unlock(&m->lock);
}

/* Whether hook h runs under cfg. */
static int
maint_hook_wanted(const struct maint_hook *h, const struct config *cfg)
{

	return h->run != NULL && (h->wanted == NULL || h->wanted(cfg));
}

/* The task each hook runs as. */
static const enum maint_task maint_hook_task[MAINT_HOOK__MAX] = {
	[MAINT_HOOK_STALE] = MAINT_TASK_STALE,
	[MAINT_HOOK_RETENTION] = MAINT_TASK_RETENTION,
	[MAINT_HOOK_BACKUP] = MAINT_TASK_BACKUP,
};

/*
 * Sets which hooks are connected under m->cfg, and each task's period;
 * a task whose period changed runs at once. Called with m->lock held.
 */
static void
maint_schedule(struct maint *m, int64_t now)
{
	struct maint_state *s;
	int64_t interval;
	int t, h, on;

	for (t = 0; t < MAINT_TASK__MAX; t++) {
		s = &m->state[t];
		interval = maint_tasks[t].interval(m);
		if (interval != s->interval_ms && s->connected && s->next_due != MAINT_NEVER)
			s->next_due = now;
		s->interval_ms = interval;
	}
	for (h = 0; h < MAINT_HOOK__MAX; h++) {
		s = &m->state[maint_hook_task[h]];
		on = maint_hook_wanted(&m->opts.hooks[h], m->cfg);
		if (on && !s->connected) {
			s->next_due = now;
			s->note[0] = '\0';
		} else if (!on) {
			s->next_due = MAINT_NEVER;
			s->waiting = 0;
			snprintf(s->note, sizeof(s->note), "not connected");
		}
		s->connected = on;
	}
}

/*
 * Adopts m->cfg, of generation gen: the provider list may have changed,
 * so every provider's fetch state starts over and the catalog (static
 * models and every provider's list) is refreshed at once. Thread only.
 */
static void
maint_adopt(struct maint *m, uint64_t gen)
{
	struct maint_fetch *f;
	int64_t now = maint_mono_ms(), *due;

	f = calloc(m->cfg->nproviders > 0 ? (size_t)m->cfg->nproviders : 1, sizeof(*f));
	due = calloc(m->cfg->nproviders > 0 ? (size_t)m->cfg->nproviders : 1, sizeof(*due));
	if (f == NULL || due == NULL) {
		free(f);
		free(due);
		/* Tried again at the next pass; the old schedule goes on. */
		log_msg(LOG_ERROR, "maintenance: out of memory adopting configuration %llu",
		    (unsigned long long)gen);
		return;
	}
	free(m->fetch);
	m->fetch = f;
	/* Every provider's accounts are checked at once under the new configuration. */
	free(m->check_due);
	m->check_due = due;
	m->refresh_due = now;
	pthread_mutex_lock(&m->lock);
	maint_schedule(m, now);
	m->state[MAINT_TASK_CATALOG].next_due = now;
	m->state[MAINT_TASK_CHECKS].next_due = now;
	pthread_mutex_unlock(&m->lock);
	m->gen = gen;
	log_msg(LOG_INFO, "maintenance: configuration %llu adopted; catalog refresh now",
	    (unsigned long long)gen);
}

/* One pass: the tasks due; returns when the next one is (monotonic ms). */
static int64_t
maint_pass(struct maint *m)
{
	struct maint_state *s;
	int64_t now, wake;
	int t, holds;

	now = maint_mono_ms();
	if (maint_connect(m) != QP_OK) {
		atomic_store(&m->lease_held, 0);
		pthread_mutex_lock(&m->lock);
		s = &m->state[MAINT_TASK_LEASE];
		s->runs++;
		s->failures++;
		s->last_run_at = db_now_ms();
		s->last_err = QP_EDB;
		snprintf(s->note, sizeof(s->note), "database: %.140s", m->dberr);
		pthread_mutex_unlock(&m->lock);
		/* Retry soon: the database may be migrated any moment. */
		return now + (m->opts.tick_ms < MAINT_RETRY_MS ? m->opts.tick_ms :
		    MAINT_RETRY_MS);
	}
	for (t = 0; t < MAINT_TASK__MAX && !atomic_load(&m->stopping); t++) {
		s = &m->state[t];
		if (s->next_due > maint_mono_ms())
			continue;
		if (maint_tasks[t].needs_lease && !maint_holds(m)) {
			pthread_mutex_lock(&m->lock);
			s->waiting = 1;
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		maint_run_task(m, (enum maint_task)t);
	}
	/* Sleep until the next task this process may run is due. */
	now = maint_mono_ms();
	holds = maint_holds(m);
	wake = now + m->opts.tick_ms;
	for (t = 0; t < MAINT_TASK__MAX; t++) {
		s = &m->state[t];
		if (maint_tasks[t].needs_lease && !holds)
			continue;
		if (s->next_due < wake)
			wake = s->next_due;
	}
	return wake;
}

static void *
maint_main(void *arg)
{
	struct maint *m = arg;
	int64_t wake, id;
	uint64_t gen;

	while (!atomic_load(&m->stopping)) {
		if (m->live != NULL) {
			m->cfg = liveconf_pin(m->live, &gen);
			if (gen != m->gen)
				maint_adopt(m, gen);
		}
		wake = maint_pass(m);
		if (m->live != NULL) {
			liveconf_unpin(m->live, m->cfg);
			m->cfg = NULL;
		}
		if (wake > maint_mono_ms())
			maint_sleep(m, wake);
	}

	id = atomic_load(&m->process_id);
	if (m->mdb != NULL && id != 0) {
		if (atomic_load(&m->lease_held))
			maint_lease_release(m->mdb, MAINT_LEASE_NAME, id);
		maint_process_stop(m->mdb, id, db_now_ms());
	}
	atomic_store(&m->lease_held, 0);
	maint_disconnect(m);
	return NULL;
}

void
maint_opts_init(struct maint_opts *o)
{

	memset(o, 0, sizeof(*o));
	o->lease_ttl_ms = MAINT_LEASE_TTL_MS;
	o->tick_ms = MAINT_TICK_MS;
	o->prune_ms = MAINT_PRUNE_MS;
}

/* Frees m's synchronisation objects and m itself (thread not running). */
static void
maint_free(struct maint *m)
{

	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m->fetch);
	free(m->check_due);
	free(m);
}

struct maint *
maint_start(const struct config *cfg, const struct maint_opts *opts, enum qp_err *err)
{
	struct maint *m = NULL;
	pthread_condattr_t ca;
	int64_t now;
	int t, rc;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	m->cfg = cfg;
	if ((m->fetch = calloc(cfg->nproviders > 0 ? (size_t)cfg->nproviders : 1,
	    sizeof(*m->fetch))) == NULL || (m->check_due = calloc(cfg->nproviders > 0 ?
	    (size_t)cfg->nproviders : 1, sizeof(*m->check_due))) == NULL) {
		free(m->fetch);
		free(m->check_due);
		free(m);
		*err = QP_ENOMEM;
		return NULL;
	}
	if (opts != NULL)
		m->opts = *opts;
	else
		maint_opts_init(&m->opts);
	if (m->opts.lease_ttl_ms <= 0)
		m->opts.lease_ttl_ms = MAINT_LEASE_TTL_MS;
	if (m->opts.tick_ms <= 0)
		m->opts.tick_ms = MAINT_TICK_MS;
	if (m->opts.prune_ms <= 0)
		m->opts.prune_ms = MAINT_PRUNE_MS;
	/* cfg is the one in force there: the thread's first pass adopts nothing. */
	if ((m->live = m->opts.live) != NULL)
		m->gen = liveconf_generation(m->live);
	atomic_init(&m->stopping, 0);
	atomic_init(&m->process_id, 0);
	atomic_init(&m->lease_held, 0);
	if (gethostname(m->hostname, sizeof(m->hostname) - 1) != 0)
		snprintf(m->hostname, sizeof(m->hostname), "unknown");
	m->hostname[sizeof(m->hostname) - 1] = '\0';

	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m->fetch);
		free(m->check_due);
		free(m);
		*err = QP_ENOMEM;
		return NULL;
	}
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&m->wake, &ca) != 0) {
		pthread_mutex_destroy(&m->lock);
		free(m->fetch);
		free(m->check_due);
		free(m);
		*err = QP_ENOMEM;
		return NULL;
	}
	pthread_condattr_destroy(&ca);

	now = maint_mono_ms();
	for (t = 0; t < MAINT_TASK__MAX; t++) {
		struct maint_state *s = &m->state[t];

		s->interval_ms = maint_tasks[t].interval(m);
		s->next_due = now;
		s->first = 1;
		s->connected = 1;
	}
	for (t = 0; t < MAINT_HOOK__MAX; t++)
		m->state[maint_hook_task[t]].connected =
		    maint_hook_wanted(&m->opts.hooks[t], cfg);
	for (t = 0; t < MAINT_TASK__MAX; t++)
		if (!m->state[t].connected) {
			m->state[t].next_due = MAINT_NEVER;
			snprintf(m->state[t].note, sizeof(m->state[t].note), "not connected");
		}

	/* Register now so that workers know the process id from the start. */
	maint_connect(m);

	rc = pthread_create(&m->thread, NULL, maint_main, m);
	if (rc != 0) {
		log_msg(LOG_ERROR, "cannot start the maintenance thread: %s", strerror(rc));
		if (m->mdb != NULL && atomic_load(&m->process_id) != 0)
			maint_process_stop(m->mdb, atomic_load(&m->process_id), db_now_ms());
		maint_disconnect(m);
		maint_free(m);
		*err = QP_EIO;
		return NULL;
	}
	*err = QP_OK;
	return m;
}

enum qp_err
maint_stop(struct maint *m)
{
	struct timespec deadline;

	if (m == NULL)
		return QP_OK;
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->stopping, 1);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += MAINT_STOP_WAIT_MS / 1000;
	deadline.tv_nsec += (long)(MAINT_STOP_WAIT_MS % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(m->thread, NULL, &deadline) != 0) {
		log_msg(LOG_WARNING, "the maintenance thread did not stop within %d ms",
		    MAINT_STOP_WAIT_MS);
		return QP_ETIMEOUT;
	}
	maint_free(m);
	return QP_OK;
}

void
maint_wake(struct maint *m)
{

	pthread_mutex_lock(&m->lock);
	m->woken = 1;
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

int64_t
maint_process_id(struct maint *m)
{

	return atomic_load(&m->process_id);
}

int
maint_lease_held(struct maint *m)
{

	return atomic_load(&m->lease_held);
}

/* Adds a number, or null when it is not known. */
static int
maint_add_ms(cJSON *o, const char *key, int64_t v, int known)
{

	if (!known)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

cJSON *
maint_status_json(struct maint *m)
{
	struct maint_state st[MAINT_TASK__MAX];
	int64_t mono, wall, next;
	cJSON *arr = NULL, *o;
	int t, okay = 1;

	pthread_mutex_lock(&m->lock);
	memcpy(st, m->state, sizeof(st));
	pthread_mutex_unlock(&m->lock);
	mono = maint_mono_ms();
	wall = db_now_ms();
	if ((arr = cJSON_CreateArray()) == NULL)
		return NULL;
	for (t = 0; t < MAINT_TASK__MAX && okay; t++) {
		const struct maint_state *s = &st[t];

		if ((o = cJSON_CreateObject()) == NULL) {
			okay = 0;
			break;
		}
		cJSON_AddItemToArray(arr, o);
		next = s->next_due == MAINT_NEVER ? 0 :
		    wall + (s->next_due > mono ? s->next_due - mono : 0);
		okay = cJSON_AddStringToObject(o, "name", maint_tasks[t].name) != NULL &&
		    maint_add_ms(o, "interval_ms", s->interval_ms, s->interval_ms > 0) &&
		    cJSON_AddBoolToObject(o, "needs_lease", maint_tasks[t].needs_lease) != NULL &&
		    cJSON_AddBoolToObject(o, "connected", s->connected) != NULL &&
		    cJSON_AddNumberToObject(o, "runs", (double)s->runs) != NULL &&
		    cJSON_AddNumberToObject(o, "failures", (double)s->failures) != NULL &&
		    maint_add_ms(o, "last_run_at", s->last_run_at, s->last_run_at > 0) &&
		    maint_add_ms(o, "last_duration_ms", s->last_ms, s->runs > 0) &&
		    (s->runs > 0 ? cJSON_AddBoolToObject(o, "last_ok", s->last_err == QP_OK) :
		    cJSON_AddNullToObject(o, "last_ok")) != NULL &&
		    (s->runs > 0 && s->last_err != QP_OK ?
		    cJSON_AddStringToObject(o, "last_error", qp_strerror(s->last_err)) :
		    cJSON_AddNullToObject(o, "last_error")) != NULL &&
		    cJSON_AddStringToObject(o, "note", s->note) != NULL &&
		    maint_add_ms(o, "next_run_at", next, next > 0) &&
		    cJSON_AddBoolToObject(o, "waiting_for_lease", s->waiting) != NULL;
	}
	if (!okay) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}
