/* server.h: the FastCGI process: worker threads, their resources, and request dispatch. */
#ifndef QP_SERVER_H
#define QP_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "accounting.h"
#include "keys.h"
#include "liveconf.h"
#include "maint.h"
#include "migrate.h"
#include "refresh.h"
#include "select.h"
#include "stats.h"
#include "upstream.h"
#include "workers.h"

struct handoff;

/* One pooled database connection with its prepared statements (opaque). */
struct server_dbslot;

/* A connection and its statements, as a batched job sees them. */
struct server_db {
	sqlite3			*db;
	struct keys_db		*keys;
	struct select_db	*sel;
	struct accounting_db	*acc;
	struct stats_rollup	*rollup;
	struct workers_db	*workers;	/* remote workers' rows */
};

/*
 * What every thread shares. Filled before the threads start and read-only
 * afterwards, except for the atomic counters.
 */
struct server {
	struct liveconf		*live;		/* the configuration in force: each request
						   pins it at its start (worker.cfg) */
	struct migrate_set	 schema;	/* migrations this build knows */
	char			 datadir[4096];	/* schema/ and views/ live here */
	int			 listen_fd;	/* FastCGI socket */
	int64_t			 started_ms;	/* wall clock at start */
	struct maint		*maint;		/* the maintenance thread; owns this process's
						   row in processes */
	struct upstream_share	*share;		/* libcurl DNS and TLS caches of all workers */
	struct authfail		*authfail;	/* failed key checks and logins (thread-safe) */
	struct refresh		*refresh;	/* tokens of accounts that refresh (thread-safe) */
	struct handoff		*handoff;	/* this process's hand-off socket for remote
						   workers' jobs, NULL unless [workers]
						   enabled at start (thread-safe) */
	struct prices		*prices;	/* the shipped price catalog (read-only), NULL =
						   none could be read */
	int			 dashboard_ready; /* 1 once the dashboard's templates are
						   loaded (at start, or by a reload that
						   enables it; signal thread only) */
	atomic_int		 in_flight;	/* requests being served now */
	atomic_llong		 served;	/* requests finished since start */
	atomic_int		 stopping;	/* 1 once shutdown began */
	struct server_dbslot	*slots;		/* QP_DB_POOL pooled connections */
	pthread_mutex_t		 pool_lock;	/* guards the slots' busy flags */
	pthread_cond_t		 pool_cond;	/* signalled when a slot is returned */
	pthread_mutex_t		 acc_lock;	/* guards the fields down to spawn_failed */
	int			 acc_waiting;	/* threads in (or let into) accept */
	struct worker		*acc_parked;	/* idle threads, the last parked on top */
	int			 acc_closed;	/* 1 once stopping: no more threads start */
	struct worker		*workers;	/* workers_max slots, the first nworkers started */
	int			 nworkers;
	int			 workers_max;	/* [server] threads */
	int			 spawn_failed;	/* 1 once a thread could not start (logged once) */
	pthread_attr_t		 wattr;		/* worker threads' attributes (small stack) */
	pthread_mutex_t		 wr_lock;	/* guards the writer connection (the
						   last slot) and the fields below */
	pthread_cond_t		 wr_cond;	/* a transaction opened, or stop */
	int			 wr_open;	/* 1 while its transaction is open */
	int64_t			 wr_since;	/* monotonic us when it opened */
	int			 wr_jobs;	/* jobs run in it */
	int			 wr_wal_pages;	/* WAL pages after its last commit */
	int64_t			 wr_gap_until;	/* monotonic us: no transaction begins before */
	pthread_cond_t		 wr_gap_cond;	/* waited on during that gap (never signalled) */
	int			 wr_stop;	/* 1: the committer commits and exits */
	int			 wr_tuned;	/* 1 once its WAL hook is set */
	pthread_t		 wr_thread;	/* the committer */
};

/* What one worker thread owns: never touched by another thread. */
struct worker {
	struct server	*srv;		/* shared, read-only */
	int		 id;		/* 0-based thread number */
	const struct config *cfg;	/* the configuration of the request being
					   served, pinned from its start to its end;
					   NULL between requests */
	uint64_t	 cfg_gen;	/* its generation */
	pthread_t	 thread;	/* this thread */
	FCGX_Request	 fr;		/* the FastCGI request being served */
	struct server_dbslot *slot;	/* the pooled connection lent to this thread, or NULL */
	sqlite3		*db;		/* the lent connection, NULL when none is lent */
	struct keys_db	*keys;		/* its key statements, NULL unless ready */
	struct select_db *sel;		/* its account selection, NULL unless ready */
	struct accounting_db *acc;	/* its request accounting, NULL unless ready */
	struct stats_rollup *rollup;	/* its dashboard rollups, NULL unless ready */
	struct workers_db *workers;	/* its remote workers' rows, NULL unless ready */
	struct upstream	*up;		/* this thread's upstream transport, made at its
					   first data-plane request */
	int		 ready;		/* 1 once the database is known fully migrated */
	enum qp_err	 auth_err;	/* why server_auth() last refused: QP_EAUTH (the
					   key), or the database's error */
	int		 auth_retry_s;	/* > 0: server_auth() refused without checking, the
					   address being throttled; seconds left */
	char		 reason[512];	/* why not ready, for /v1/readyz */
	int		 done;		/* 1 once the thread has returned */
	pthread_cond_t	 park_cond;	/* signalled when its turn to accept comes */
	int		 parked;	/* 1 while parked (under acc_lock) */
	struct worker	*parked_next;	/* the thread parked before it */
};

/* Roles a request may present. */
enum server_role {
	SERVER_ROLE_NONE,	/* no key or an invalid one */
	SERVER_ROLE_CLIENT,	/* a client key */
	SERVER_ROLE_ADMIN,	/* an admin key */
	SERVER_ROLE_WORKER,	/* a remote worker's key */
	SERVER_ROLE__MAX
};

/*
 * Lends w a pooled database connection (waiting up to QP_DB_POOL_WAIT_S
 * for one) that is open and fully migrated, with its statements
 * prepared, in w->db, w->keys, w->sel, w->acc and w->rollup. Returns
 * QP_OK when ready; otherwise the reason is in w->reason (QP_EDB:
 * unreachable, QP_ESCHEMA: not migrated or unknown version, QP_EBUSY: no
 * connection free). Cheap once ready. The connection stays lent until
 * server_worker_release(): the end of the request, or before a long wait
 * such as an upstream transfer. Worker thread only.
 */
enum qp_err	 server_worker_ready(struct worker *w);

/*
 * Runs fn(d, arg) at once, on this process's writer connection (not a
 * pooled one), inside its open write transaction, begun if none is open.
 * That transaction is committed by the committer thread QP_WRITE_DELAY_MS
 * after it began (or at once after QP_WRITE_BATCH_MAX jobs), so the jobs
 * of concurrent and consecutive requests share one commit and no request
 * waits for a commit. What fn wrote is seen at once by later jobs of this
 * process, and by other connections and processes after that commit; a
 * crash of the process can lose the changes of at most that last
 * transaction, and the stale-request finalizer then closes any request
 * left pending. fn must not block on anything but the database, and
 * nothing it returns through arg may point into d's statements or buffers
 * (the next job reuses them). Inside fn, db_begin_write() opens a
 * savepoint, so a failing job undoes only its own changes. Returns fn's
 * result, or QP_EDB/QP_EBUSY/QP_ESCHEMA when the transaction could not
 * begin (fn did not run). Thread-safe; any thread.
 */
enum qp_err	 server_batch(struct server *srv,
		    enum qp_err (*fn)(const struct server_db *d, void *arg), void *arg);

/*
 * Commits the writer's open transaction at once (server_batch() commits
 * QP_WRITE_DELAY_MS after it began): for a change another process must
 * see before this one tells it to look. Thread-safe.
 */
void		 server_batch_flush(struct server *srv);

/* Returns w's pooled connection, if any, and clears w's pointers into it. */
void		 server_worker_release(struct worker *w);

/*
 * Fills io so that refresh_token() (fcgi/refresh.h) runs its database
 * work on srv's writer (server_batch()) and holds its leases as this
 * process. Thread-safe.
 */
void		 server_refresh_io(struct server *srv, struct refresh_io *io);

/*
 * The token to send for account a of provider p, for the request named
 * uid in the log. stale is -1, or the version just refused (see
 * refresh_token()). QP_OK with *tok NULL for an account whose credentials
 * do not refresh; QP_OK with *tok (free with crypto_free_secret()) and
 * *ver; QP_EAUTH when the refresh failed (the account's fault); QP_ETIMEOUT
 * when no token could be had otherwise (a refresh elsewhere not finished
 * in time, the database). why gets what the refresh said; *ran (ran may
 * be NULL) whether this call sent the token request (refresh_token()).
 * Thread-safe.
 */
enum qp_err	 server_account_token(struct server *srv, const char *uid,
		    const struct config_provider *p, const struct config_account *a,
		    int64_t stale, char **tok, int64_t *ver, char *why, size_t whysz, int *ran);

/*
 * Works out the role of the key presented with r (Authorization: Bearer,
 * else x-api-key). Needs the database; returns SERVER_ROLE_NONE when no
 * valid key was presented or the database is not ready. A wrong key is
 * counted against r->client_addr; once that address is throttled, a
 * presented key is not checked and w->auth_retry_s is set (> 0). Call it
 * once per request: each call counts.
 */
enum server_role server_auth(struct worker *w, struct http_req *r);

/*
 * Returns this process's row in processes (requests carry it), 0 while
 * the maintenance thread has not registered it yet. Thread-safe.
 */
int64_t		 server_process_id(struct server *srv);

/*
 * Runs the server: opens the database check, starts cfg->server.threads
 * workers on listen_fd, waits for SIGTERM/SIGINT, stops accepting, lets
 * in-flight requests finish (at most QP_SHUTDOWN_GRACE_S seconds) and
 * returns. On SIGHUP it reloads cfg->path (server_reload()). Takes
 * ownership of cfg, even on failure (the caller must not free it). Call
 * from main with no other threads running.
 */
enum qp_err	 server_run(struct config *cfg, int listen_fd);

/*
 * Reloads the configuration file the process started with: a valid one
 * is published for the requests that start from then on (the running
 * ones keep theirs), the maintenance thread adopts it at once and the
 * static models of its providers are stored; an invalid one changes
 * nothing. Settings fixed at start keep their value (reload.h). Either
 * way an operational event (RELOAD_EVENT_OK or RELOAD_EVENT_FAILED) is
 * recorded with reload_details_json() and the outcome is logged.
 * Returns QP_OK once applied. The thread that waits for signals only.
 */
enum qp_err	 server_reload(struct server *srv);

#endif /* QP_SERVER_H */
