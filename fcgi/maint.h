/* maint.h: the maintenance thread: lease, heartbeat, catalog refresh, ping pruning, server hooks. */
#ifndef QP_MAINT_H
#define QP_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "liveconf.h"
#include "upstream.h"

/* The lease that lets one process at a time do shared maintenance work. */
#define MAINT_LEASE_NAME	"maintenance"
/* A holder that stops renewing loses the lease after this long (ms). */
#define MAINT_LEASE_TTL_MS	90000
/* Lease renewal and process heartbeat period (ms). */
#define MAINT_TICK_MS		30000
/* Retry period while the database cannot be opened or is not migrated (ms). */
#define MAINT_RETRY_MS		1000
/* Period of pruning provider_pings (ms). */
#define MAINT_PRUNE_MS		(3600 * 1000)
/* Default period of the stale-request finalizer hook (ms). */
#define MAINT_STALE_MS		60000
/* Default period of the retention hook (ms). */
#define MAINT_RETENTION_MS	(3600 * 1000)
/* Default period of the automatic-backup hook (ms). */
#define MAINT_BACKUP_MS		5000
/* How long maint_stop() waits for the thread (ms). */
#define MAINT_STOP_WAIT_MS	5000
/* Length of a task's last outcome note. */
#define MAINT_NOTE_MAX		160
/* A failed catalog fetch of a provider is tried again after this long first (ms). */
#define MAINT_FETCH_RETRY_MS	1000
/* Cap of that delay when [models] refresh_interval_s is 0 (ms). */
#define MAINT_FETCH_RETRY_CAP_MS (300 * 1000)

/* The tasks of the maintenance thread, in the order they run when due together. */
enum maint_task {
	MAINT_TASK_LEASE,	/* take or renew the maintenance lease */
	MAINT_TASK_HEARTBEAT,	/* processes.heartbeat_at of this process */
	MAINT_TASK_CATALOG,	/* static models, every provider's list and ping (lease) */
	MAINT_TASK_PINGS,	/* prune provider_pings after [models] ping_retain_days (lease) */
	MAINT_TASK_STALE,	/* the server's stale-request finalizer hook (lease) */
	MAINT_TASK_RETENTION,	/* the server's retention hook (lease) */
	MAINT_TASK_BACKUP,	/* the server's automatic-backup hook (lease) */
	MAINT_TASK_CHECKS,	/* the providers' health checks of their accounts (lease) */
	MAINT_TASK__MAX
};

/* Work the server plugs into the maintenance thread (written elsewhere). */
enum maint_hook_id {
	MAINT_HOOK_STALE,	/* runs as MAINT_TASK_STALE */
	MAINT_HOOK_RETENTION,	/* runs as MAINT_TASK_RETENTION */
	MAINT_HOOK_BACKUP,	/* runs as MAINT_TASK_BACKUP */
	MAINT_HOOK__MAX
};

/* What a hook is given each run; valid for the duration of the call. */
struct maint_ctx {
	sqlite3		*db;		/* the maintenance thread's connection */
	const struct config *cfg;	/* the configuration */
	int64_t		 process_id;	/* this process's processes row */
	int64_t		 now;		/* wall clock ms at the start of the run */
	int		 first;		/* 1 on the hook's first run in this process */
};

/* One hook: a function the server passes in at maint_start(). */
struct maint_hook {
	/*
	 * Does the work; writes a short outcome (never a secret) into note.
	 * Runs on the maintenance thread only while it holds the lease.
	 * NULL = the task is not connected and never runs.
	 */
	enum qp_err	 (*run)(const struct maint_ctx *ctx, void *arg, char *note,
			    size_t notelen);
	/*
	 * Called on the maintenance thread before it closes its connection
	 * (e.g. to free statements prepared on ctx->db), and before the
	 * connection is reopened after an error. May be NULL.
	 */
	void		 (*close)(void *arg);
	void		*arg;		/* passed to run and close; the server's */
	int64_t		 interval_ms;	/* period, 0 = the task's default */
	/*
	 * The period (ms, <= 0 = the task's default) read from the
	 * configuration, asked at start and for every configuration adopted;
	 * NULL = interval_ms.
	 */
	int64_t		 (*interval_of)(const struct config *cfg);
	/*
	 * Whether the configuration wants the task at all (e.g. [backup]
	 * enabled); asked at start and for every configuration adopted.
	 * NULL = always, once run is set.
	 */
	int		 (*wanted)(const struct config *cfg);
};

/* How to run the thread; maint_opts_init() sets the defaults. */
struct maint_opts {
	struct maint_hook hooks[MAINT_HOOK__MAX]; /* server hooks, run NULL = none */
	int64_t		 lease_ttl_ms;	/* lease lifetime, default MAINT_LEASE_TTL_MS */
	int64_t		 tick_ms;	/* renewal and heartbeat period, default MAINT_TICK_MS */
	int64_t		 prune_ms;	/* ping pruning period, default MAINT_PRUNE_MS */
	/*
	 * NULL: the configuration given to maint_start() serves for the
	 * thread's whole life. Else each pass pins the one in force there
	 * (liveconf_pin()) and uses it to the pass's end; a new generation is
	 * adopted at the start of a pass: task periods and connected hooks
	 * from it, every provider's catalog fetched again (static models
	 * included) at once, failure counts forgotten.
	 */
	struct liveconf	*live;
	/*
	 * Carries the http health checks (borrowed, must outlive
	 * maint_stop()); NULL: an http check fails with "no HTTP transport".
	 */
	struct upstream_share *share;
};

/* Prepared lease and process statements of one connection; one thread. */
struct maint_db;

/* The running maintenance thread. */
struct maint;

/* Returns the name of a task ("lease", "catalog_refresh", ...). Thread-safe. */
const char	*maint_task_name(enum maint_task task);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with maint_db_free() before
 * closing db.
 */
struct maint_db	*maint_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees statements prepared by maint_db_new(). NULL is allowed. */
void		 maint_db_free(struct maint_db *d);

/*
 * Takes or renews lease name for process_id until now + ttl_ms, in one
 * statement: it succeeds if nobody holds it, process_id holds it, or the
 * holder's expiry is not after now. *held receives 1 if process_id holds
 * it afterwards. QP_EDB on a database error (*held = 0).
 */
enum qp_err	 maint_lease_acquire(struct maint_db *d, const char *name, int64_t process_id,
		    int64_t now, int64_t ttl_ms, int *held);

/* Gives lease name up if process_id holds it. QP_EDB on a database error. */
enum qp_err	 maint_lease_release(struct maint_db *d, const char *name, int64_t process_id);

/*
 * Reads who holds lease name: *holder (0 = nobody ever) and *expires_at.
 * QP_EDB on a database error.
 */
enum qp_err	 maint_lease_holder(struct maint_db *d, const char *name, int64_t *holder,
		    int64_t *expires_at);

/* Inserts this process's row (pid, hostname, version, now); *id receives its id. */
enum qp_err	 maint_process_register(struct maint_db *d, long pid, const char *hostname,
		    const char *version, int64_t now, int64_t *id);

/* Sets heartbeat_at of process id. QP_ENOTFOUND if the row is gone. */
enum qp_err	 maint_process_heartbeat(struct maint_db *d, int64_t id, int64_t now);

/* Sets stopped_at (and heartbeat_at) of process id at a clean stop. */
enum qp_err	 maint_process_stop(struct maint_db *d, int64_t id, int64_t now);

/*
 * Returns how long after its failures-th failed catalog fetch in a row
 * (1 = the first) a provider's models list is fetched again:
 * MAINT_FETCH_RETRY_MS, doubled for each failure after the first, capped
 * at cap_ms ([models] refresh_interval_s in ms; MAINT_FETCH_RETRY_CAP_MS
 * when cap_ms <= 0). failures < 1 counts as 1. Pure function:
 * thread-safe.
 */
int64_t		 maint_retry_delay_ms(int failures, int64_t cap_ms);

/* Fills o with the defaults and no hooks. */
void		 maint_opts_init(struct maint_opts *o);

/*
 * Starts the maintenance thread on its own connection to cfg's database
 * (cfg is borrowed and must outlive maint_stop(), unless opts->live is
 * set: then cfg is what opts->live has in force, pinned by the caller
 * during the call, and the thread pins its own). Before returning it
 * tries to open the database and register this process, so that
 * maint_process_id() is known at once; if the database is not ready the
 * thread keeps trying every tick. Tasks: the lease (every tick, expiry
 * lease_ttl_ms), the heartbeat (every tick), and, only while this
 * process holds the lease, the catalog refresh (at start, fetching only
 * if [models] startup_refresh, then every refresh_interval_s; 0 = never
 * again; a provider whose fetch failed or listed nothing is fetched
 * again on its own after maint_retry_delay_ms() until a fetch succeeds),
 * ping pruning (older than ping_retain_days; 0 = never), the health
 * checks (each provider with a check: every account, every
 * check_interval_s, from the start; healthcheck.h) and the
 * hooks. Call with the signals the server waits for already blocked.
 * Returns NULL with *err set (QP_ENOMEM, QP_EIO if the thread cannot be
 * created).
 */
struct maint	*maint_start(const struct config *cfg, const struct maint_opts *opts,
		    enum qp_err *err);

/*
 * Stops the thread: wakes it at once, aborts a fetch in progress,
 * releases the lease, sets this process's stopped_at, and joins it
 * within MAINT_STOP_WAIT_MS. Frees m and returns QP_OK; QP_ETIMEOUT if
 * the thread did not finish in time (m is then left to process exit).
 * NULL is allowed. Call from the thread that called maint_start().
 */
enum qp_err	 maint_stop(struct maint *m);

/*
 * Wakes the thread for a pass now (which adopts a configuration newly
 * published in opts->live). Thread-safe; m must be running.
 */
void		 maint_wake(struct maint *m);

/* Returns this process's processes row id, 0 while not registered. Thread-safe. */
int64_t		 maint_process_id(struct maint *m);

/* Returns 1 while this process holds the maintenance lease. Thread-safe. */
int		 maint_lease_held(struct maint *m);

/*
 * Returns the tasks for the runtime page as a cJSON array of {"name",
 * "interval_ms" (null = runs once or never), "needs_lease", "connected",
 * "runs", "failures", "last_run_at" (ms, null = never), "last_duration_ms",
 * "last_ok", "last_error" (qp_strerror or null), "note", "next_run_at"
 * (ms, null = never), "waiting_for_lease"}. The caller frees it with
 * cJSON_Delete(); NULL on out of memory. Thread-safe.
 */
cJSON		*maint_status_json(struct maint *m);

#endif /* QP_MAINT_H */
