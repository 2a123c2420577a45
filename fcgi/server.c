/* server.c: the FastCGI process: worker threads, their resources, and request dispatch. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "autobackup.h"
#include "bounds.h"
#include "catalog.h"
#include "crypto.h"
#include "db.h"
#include "dashboard.h"
#include "log.h"
#include "maint.h"
#include "paths.h"
#include "prices.h"
#include "reload.h"
#include "route.h"
#include "authfail.h"
#include "refresh.h"
#include "server.h"
#include "handoff.h"

/* One pooled connection and the statements prepared on it. */
struct server_dbslot {
	sqlite3			*db;		/* NULL until first lent */
	struct keys_db		*keys;		/* NULL until ready */
	struct select_db	*sel;
	struct accounting_db	*acc;
	struct stats_rollup	*rollup;
	struct workers_db	*workers;
	int			 ready;		/* 1 once migrated and prepared */
	int			 busy;		/* 1 while lent to a thread */
};

/* Closes a slot's statements and connection. */
static void
server_slot_close(struct server_dbslot *s)
{

	workers_db_free(s->workers);
	stats_rollup_free(s->rollup);
	accounting_free(s->acc);
	select_free(s->sel);
	keys_db_free(s->keys);
	db_close(s->db);
	memset(s, 0, sizeof(*s));
}

/* Takes a free slot for w, preferring one already ready. */
static enum qp_err
server_slot_acquire(struct worker *w)
{
	struct server *srv = w->srv;
	struct server_dbslot *pick = NULL;
	struct timespec until;
	int i;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += QP_DB_POOL_WAIT_S;
	pthread_mutex_lock(&srv->pool_lock);
	for (;;) {
		for (i = 0; i < QP_DB_POOL && pick == NULL; i++)
			if (!srv->slots[i].busy && srv->slots[i].ready)
				pick = &srv->slots[i];
		for (i = 0; i < QP_DB_POOL && pick == NULL; i++)
			if (!srv->slots[i].busy)
				pick = &srv->slots[i];
		if (pick != NULL)
			break;
		if (pthread_cond_timedwait(&srv->pool_cond, &srv->pool_lock,
		    &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&srv->pool_lock);
			return QP_EBUSY;
		}
	}
	pick->busy = 1;
	pthread_mutex_unlock(&srv->pool_lock);
	w->slot = pick;
	return QP_OK;
}

void
server_worker_release(struct worker *w)
{
	struct server *srv = w->srv;

	if (w->slot == NULL)
		return;
	pthread_mutex_lock(&srv->pool_lock);
	w->slot->busy = 0;
	pthread_cond_signal(&srv->pool_cond);
	pthread_mutex_unlock(&srv->pool_lock);
	w->slot = NULL;
	w->db = NULL;
	w->keys = NULL;
	w->sel = NULL;
	w->acc = NULL;
	w->rollup = NULL;
	w->workers = NULL;
	w->ready = 0;
}

/* The CLOCK_MONOTONIC time for pthread_cond_timedwait() us microseconds from now. */
static void
server_abstime(int64_t us, struct timespec *at)
{

	clock_gettime(CLOCK_MONOTONIC, at);
	at->tv_nsec += (long)(us % 1000000) * 1000;
	at->tv_sec += (time_t)(us / 1000000) + at->tv_nsec / 1000000000L;
	at->tv_nsec %= 1000000000L;
}

/* Connection settings from the configuration. */
static void
server_db_opts(const struct config *cfg, struct db_opts *opts)
{

	memset(opts, 0, sizeof(*opts));
	opts->busy_timeout_ms = cfg->database.busy_timeout_ms;
	opts->synchronous = cfg->database.synchronous;
}

/*
 * Opens s's connection if needed, checks the schema and prepares the
 * statements, its selector bound to cfg of generation gen (pinned by the
 * caller); a reason goes to reason when it cannot. The caller owns s.
 */
static enum qp_err
server_slot_prepare(struct server *srv, struct server_dbslot *s, const struct config *cfg,
    uint64_t gen, char *reason, size_t len)
{
	struct db_opts opts;
	struct migrate_status st;
	char errbuf[256];
	enum qp_err err;

	if (s->ready) {
		if ((err = select_bind(s->sel, cfg, gen)) != QP_OK)
			snprintf(reason, len, "out of memory");
		return err;
	}
	if (s->db == NULL) {
		server_db_opts(cfg, &opts);
		s->db = db_open(cfg->database.path, &opts, &err, errbuf, sizeof(errbuf));
		if (s->db == NULL) {
			log_msg(LOG_ERROR, "database: %s", errbuf);
			snprintf(reason, len, "database not connected");
			return QP_EDB;
		}
	}
	err = migrate_check(s->db, &srv->schema, &st, errbuf, sizeof(errbuf));
	if (err != QP_OK) {
		snprintf(reason, len, "database schema: %s", errbuf);
		return err;
	}
	if (st.pending > 0) {
		snprintf(reason, len, "database not migrated: %d migration%s pending "
		    "(run quotapool-admin migrate)", st.pending, st.pending == 1 ? "" : "s");
		return QP_ESCHEMA;
	}
	if ((s->keys == NULL &&
	    (s->keys = keys_db_new(s->db, &err, errbuf, sizeof(errbuf))) == NULL) ||
	    (s->sel == NULL &&
	    (s->sel = select_new(s->db, cfg, &err, errbuf, sizeof(errbuf))) == NULL) ||
	    (s->acc == NULL &&
	    (s->acc = accounting_new(s->db, &err, errbuf, sizeof(errbuf))) == NULL) ||
	    (s->rollup == NULL &&
	    (s->rollup = stats_rollup_new(s->db, &err, errbuf, sizeof(errbuf))) == NULL) ||
	    (s->workers == NULL &&
	    (s->workers = workers_db_new(s->db, &err, errbuf, sizeof(errbuf))) == NULL)) {
		snprintf(reason, len, "database schema: %s", errbuf);
		return err;
	}
	if ((err = select_bind(s->sel, cfg, gen)) != QP_OK) {
		snprintf(reason, len, "out of memory");
		return err;
	}
	accounting_set_final_hook(s->acc, stats_rollup_hook, s->rollup);
	s->ready = 1;
	return QP_OK;
}

enum qp_err
server_worker_ready(struct worker *w)
{
	struct server_dbslot *s;
	enum qp_err err;

	if (w->ready)
		return QP_OK;
	if (w->slot == NULL && server_slot_acquire(w) != QP_OK) {
		snprintf(w->reason, sizeof(w->reason), "every database connection "
		    "stayed busy for %d s", QP_DB_POOL_WAIT_S);
		return QP_EBUSY;
	}
	s = w->slot;
	w->db = NULL;
	if ((err = server_slot_prepare(w->srv, s, w->cfg, w->cfg_gen, w->reason,
	    sizeof(w->reason))) != QP_OK)
		return err;
	w->db = s->db;
	w->keys = s->keys;
	w->sel = s->sel;
	w->acc = s->acc;
	w->rollup = s->rollup;
	w->workers = s->workers;
	w->reason[0] = '\0';
	w->ready = 1;
	return QP_OK;
}

/*
 * The writer connection's WAL hook: notes how long the WAL has grown for
 * the committer (which replaces SQLite's automatic checkpoints), and
 * checkpoints at once should it grow past QP_CHECKPOINT_BACKSTOP pages.
 */
static int
server_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct server *srv = arg;

	srv->wr_wal_pages = pages;
	if (pages >= QP_CHECKPOINT_BACKSTOP)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* Commits the writer's open transaction. Called with wr_lock held. */
static void
server_wr_commit(struct server *srv)
{
	sqlite3 *db = srv->slots[QP_DB_POOL].db;

	if (!srv->wr_open)
		return;
	if (!sqlite3_get_autocommit(db) &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_msg(LOG_ERROR, "database: %d batched change%s lost: commit failed: %s",
		    srv->wr_jobs, srv->wr_jobs == 1 ? "" : "s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	db_write_unlock();
	srv->wr_open = 0;
	srv->wr_jobs = 0;
	/* A gap in which other processes' writers can begin (see QP_WRITE_GAP_US). */
	srv->wr_gap_until = db_mono_us() + QP_WRITE_GAP_US;
}

/* Waits (wr_lock held) until the gap after the last commit is over. */
static void
server_wr_wait_gap(struct server *srv)
{
	struct timespec until;
	int64_t left = srv->wr_gap_until - db_mono_us();

	if (left <= 0)
		return;
	server_abstime(left, &until);
	pthread_cond_timedwait(&srv->wr_gap_cond, &srv->wr_lock, &until);
}

enum qp_err
server_batch(struct server *srv, enum qp_err (*fn)(const struct server_db *, void *),
    void *arg)
{
	struct server_dbslot *s = &srv->slots[QP_DB_POOL];
	const struct config *cfg;
	struct server_db d;
	char reason[512];
	uint64_t gen;
	enum qp_err err;

	/*
	 * The writer's selector is bound to whichever configuration is in
	 * force here; a job that chooses binds it to its request's own
	 * (select_bind()) before it does.
	 */
	cfg = liveconf_pin(srv->live, &gen);
	pthread_mutex_lock(&srv->wr_lock);
	err = server_slot_prepare(srv, s, cfg, gen, reason, sizeof(reason));
	liveconf_unpin(srv->live, cfg);
	if (err != QP_OK) {
		log_msg(LOG_ERROR, "database writer: %s", reason);
		goto out;
	}
	if (!srv->wr_tuned) {
		/* Checkpoints are the committer's, counted by this hook. */
		sqlite3_wal_hook(s->db, server_wal_hook, srv);
		srv->wr_tuned = 1;
	}
	while (!srv->wr_open && db_mono_us() < srv->wr_gap_until)
		server_wr_wait_gap(srv);
	if (!srv->wr_open) {
		db_write_lock();
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			db_write_unlock();
			log_msg(LOG_ERROR, "database writer: cannot begin: %s",
			    sqlite3_errmsg(s->db));
			err = QP_EBUSY;
			goto out;
		}
		srv->wr_open = 1;
		srv->wr_since = db_mono_us();
		pthread_cond_signal(&srv->wr_cond);
	}
	d.db = s->db;
	d.keys = s->keys;
	d.sel = s->sel;
	d.acc = s->acc;
	d.rollup = s->rollup;
	d.workers = s->workers;
	err = fn(&d, arg);
	srv->wr_jobs++;
	if (sqlite3_get_autocommit(s->db)) {
		/* An I/O error rolled the whole transaction back. */
		log_msg(LOG_ERROR, "database writer: transaction lost: %s",
		    sqlite3_errmsg(s->db));
		server_wr_commit(srv);
		if (err == QP_OK)
			err = QP_EDB;
	} else if (srv->wr_jobs >= QP_WRITE_BATCH_MAX)
		server_wr_commit(srv);
out:
	pthread_mutex_unlock(&srv->wr_lock);
	return err;
}

void
server_batch_flush(struct server *srv)
{

	pthread_mutex_lock(&srv->wr_lock);
	if (srv->wr_open)
		server_wr_commit(srv);
	pthread_mutex_unlock(&srv->wr_lock);
}

/* A passive checkpoint on the committer's connection, opened at first use. */
static void
server_checkpoint(struct server *srv, sqlite3 **ckpt, int *log, int *done)
{
	const struct config *cfg;
	struct db_opts opts;
	char errbuf[256];
	enum qp_err err;

	*log = *done = -1;
	if (*ckpt == NULL) {
		cfg = liveconf_pin(srv->live, NULL);
		server_db_opts(cfg, &opts);
		opts.occasional = 1;
		*ckpt = db_open(cfg->database.path, &opts, &err, errbuf, sizeof(errbuf));
		liveconf_unpin(srv->live, cfg);
		if (*ckpt == NULL) {
			log_msg(LOG_WARNING, "checkpoints: %s", errbuf);
			return;
		}
	}
	if (sqlite3_wal_checkpoint_v2(*ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, log,
	    done) != SQLITE_OK)
		log_msg(LOG_WARNING, "checkpoint: %s", sqlite3_errmsg(*ckpt));
}

/*
 * The committer thread: commits the writer's transaction QP_WRITE_DELAY_MS
 * after it opened, and checkpoints the WAL on a connection of its own, so
 * that neither commits nor checkpoints run on a request's thread.
 * Checkpoints run while the writer goes on; but the WAL only starts over
 * from its beginning when a transaction begins with every page of it
 * checkpointed, so once it is QP_WAL_RESTART_PAGES long the committer
 * holds new transactions back for as long as it takes to checkpoint the
 * last few pages.
 */
static void *
server_committer_main(void *arg)
{
	struct server *srv = arg;
	struct timespec until;
	sqlite3 *ckpt = NULL;
	int64_t now, due, last_ckpt = db_mono_us();
	int log, done, backfilled = 0;

	pthread_mutex_lock(&srv->wr_lock);
	for (;;) {
		if (!srv->wr_open) {
			if (srv->wr_stop)
				break;
			pthread_cond_wait(&srv->wr_cond, &srv->wr_lock);
			continue;
		}
		now = db_mono_us();
		due = srv->wr_since + QP_WRITE_DELAY_MS * 1000;
		if (now < due && !srv->wr_stop) {
			server_abstime(due - now, &until);
			pthread_cond_timedwait(&srv->wr_cond, &srv->wr_lock, &until);
			continue;
		}
		server_wr_commit(srv);
		if (srv->wr_wal_pages < backfilled)
			backfilled = 0;		/* the WAL started over */
		if (srv->wr_wal_pages - backfilled < QP_CHECKPOINT_PAGES &&
		    (srv->wr_wal_pages == backfilled ||
		    now - last_ckpt < QP_CHECKPOINT_S * 1000000LL))
			continue;
		/* A passive checkpoint waits for no one; writers go on meanwhile. */
		last_ckpt = now;
		pthread_mutex_unlock(&srv->wr_lock);
		server_checkpoint(srv, &ckpt, &log, &done);
		if (log >= QP_WAL_RESTART_PAGES)
			server_checkpoint(srv, &ckpt, &log, &done);	/* catch up */
		pthread_mutex_lock(&srv->wr_lock);
		backfilled = done > 0 ? done : 0;
		if (log < QP_WAL_RESTART_PAGES)
			continue;
		/* The last pages, with new transactions held back. */
		server_wr_commit(srv);
		server_checkpoint(srv, &ckpt, &log, &done);
		backfilled = done > 0 ? done : 0;
	}
	pthread_mutex_unlock(&srv->wr_lock);
	db_close(ckpt);
	return NULL;
}

/* A key to verify, with what is found about it. */
struct server_auth_job {
	const char		*key;
	size_t			 len;
	struct keys_info	 info;
};

static enum qp_err
server_auth_run(const struct server_db *d, void *arg)
{
	struct server_auth_job *j = arg;

	return keys_verify(d->keys, j->key, j->len, &j->info);
}

enum server_role
server_auth(struct worker *w, struct http_req *r)
{
	const char *legacy = w->cfg->server.api_key;
	struct server_auth_job job;
	int64_t now = db_mono_us() / 1000;

	memset(&job, 0, sizeof(job));
	w->auth_err = QP_EAUTH;
	w->auth_retry_s = 0;
	if ((job.key = http_presented_key(r, &job.len)) == NULL)
		return SERVER_ROLE_NONE;
	/* A throttled address gets no answer about its key, right or wrong. */
	if (authfail_throttled(w->srv->authfail, r->client_addr, now, &w->auth_retry_s))
		return SERVER_ROLE_NONE;
	if (legacy != NULL && strlen(legacy) == job.len &&
	    crypto_equal(legacy, job.key, job.len))
		return SERVER_ROLE_CLIENT;
	/* On the writer connection: its pages are warm, and the last-use touch is a write. */
	w->auth_err = server_batch(w->srv, server_auth_run, &job);
	if (w->auth_err == QP_EAUTH)
		authfail_record(w->srv->authfail, AUTHFAIL_KEY, r->client_addr, now);
	if (w->auth_err != QP_OK)
		return SERVER_ROLE_NONE;
	r->key_id = job.info.id;
	return job.info.role == KEYS_ROLE_ADMIN ? SERVER_ROLE_ADMIN :
	    job.info.role == KEYS_ROLE_WORKER ? SERVER_ROLE_WORKER : SERVER_ROLE_CLIENT;
}

/* Releases what a worker opened. */
static void
server_worker_close(struct worker *w)
{

	server_worker_release(w);
	upstream_free(w->up);
	w->up = NULL;
}

static void	*server_worker_main(void *);

/*
 * Starts one more worker thread, unless [server] threads are running or
 * the server is stopping. Called with acc_lock held. Threads are started
 * as they are needed, not all at once: an idle thread still costs its
 * stack's top pages.
 */
static void
server_spawn_locked(struct server *srv)
{
	struct worker *w;

	if (srv->acc_closed || srv->nworkers >= srv->workers_max)
		return;
	w = &srv->workers[srv->nworkers];
	w->srv = srv;
	w->id = srv->nworkers;
	pthread_cond_init(&w->park_cond, NULL);
	if (pthread_create(&w->thread, &srv->wattr, server_worker_main, w) != 0) {
		pthread_cond_destroy(&w->park_cond);
		if (!srv->spawn_failed)
			log_msg(LOG_WARNING, "cannot start worker thread %d: %s; serving "
			    "with %d", w->id, strerror(errno), srv->nworkers);
		srv->spawn_failed = 1;
		return;
	}
	srv->nworkers++;
}

/*
 * Waits until w may call accept: at once while fewer than QP_ACCEPTORS
 * threads wait there, else parked on top of the stack of idle threads.
 */
static void
server_accept_turn(struct server *srv, struct worker *w)
{

	pthread_mutex_lock(&srv->acc_lock);
	if (srv->acc_waiting < QP_ACCEPTORS || atomic_load(&srv->stopping)) {
		srv->acc_waiting++;
		pthread_mutex_unlock(&srv->acc_lock);
		return;
	}
	w->parked_next = srv->acc_parked;
	srv->acc_parked = w;
	w->parked = 1;
	while (w->parked)
		pthread_cond_wait(&w->park_cond, &srv->acc_lock);
	pthread_mutex_unlock(&srv->acc_lock);
}

/*
 * A thread left accept. Once fewer than half of QP_ACCEPTORS wait there,
 * the idle thread parked last takes its place, or a new one starts.
 */
static void
server_accept_done(struct server *srv)
{
	struct worker *next;

	pthread_mutex_lock(&srv->acc_lock);
	srv->acc_waiting--;
	/* Enough threads still wait: this one comes back when it is done. */
	if (srv->acc_waiting >= QP_ACCEPTORS / 2 && !srv->acc_closed) {
		pthread_mutex_unlock(&srv->acc_lock);
		return;
	}
	if ((next = srv->acc_parked) != NULL) {
		srv->acc_parked = next->parked_next;
		next->parked_next = NULL;
		next->parked = 0;
		srv->acc_waiting++;
		pthread_cond_signal(&next->park_cond);
	} else
		server_spawn_locked(srv);	/* none idle: one more, up to [server] threads */
	pthread_mutex_unlock(&srv->acc_lock);
}

/* A worker thread: accepts and serves one request at a time until shutdown. */
static void *
server_worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	struct http_req r;
	int rc;

	if (FCGX_InitRequest(&w->fr, srv->listen_fd, 0) != 0) {
		log_msg(LOG_ERROR, "worker %d: cannot set up its FastCGI request", w->id);
		w->done = 1;
		return NULL;
	}
	/*
	 * No lock around accept (see notes on libfcgi threading), but only
	 * QP_ACCEPTORS threads wait in it at once, and the thread that
	 * served last goes first: a few warm threads serve light traffic.
	 */
	for (;;) {
		server_accept_turn(srv, w);
		rc = FCGX_Accept_r(&w->fr);
		server_accept_done(srv);
		if (rc < 0)
			break;
		atomic_fetch_add(&srv->in_flight, 1);
		/* One configuration from the request's start to its end. */
		w->cfg = liveconf_pin(srv->live, &w->cfg_gen);
		http_req_init(&r, &w->fr);
		route_dispatch(w, &r);
		if (!r.headers_sent)
			http_error(&r, 500, http_type(&r, "server_error", "api_error"),
			    "internal error");
		server_worker_release(w);
		FCGX_Finish_r(&w->fr);
		liveconf_unpin(srv->live, w->cfg);
		w->cfg = NULL;
		atomic_fetch_sub(&srv->in_flight, 1);
		atomic_fetch_add(&srv->served, 1);
		if (atomic_load(&srv->stopping))
			break;
	}
	FCGX_Free(&w->fr, 1);
	server_worker_close(w);
	w->done = 1;
	return NULL;
}

/* The maintenance thread's accounting statements, on its own connection. */
struct server_hooks {
	sqlite3			*db;	/* connection the statements belong to */
	struct accounting_db	*acc;	/* prepared on db */
	struct stats_rollup	*rollup; /* prepared on db */
};

static void
server_hooks_close(void *arg)
{
	struct server_hooks *h = arg;

	accounting_free(h->acc);
	h->acc = NULL;
	stats_rollup_free(h->rollup);
	h->rollup = NULL;
	h->db = NULL;
}

/*
 * After a hook ran (once a minute at most): its statements, about 300 KB,
 * are not kept until the next run, and the memory goes back to the system.
 */
static void
server_hooks_idle(struct server_hooks *h)
{

	server_hooks_close(h);
	malloc_trim(0);
}

static struct accounting_db *
server_hooks_acc(struct server_hooks *h, sqlite3 *db)
{
	char errbuf[256];
	enum qp_err err;

	if (h->acc != NULL && h->db == db)
		return h->acc;
	server_hooks_close(h);
	h->db = db;
	if ((h->acc = accounting_new(db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (h->rollup = stats_rollup_new(db, &err, errbuf, sizeof(errbuf))) == NULL) {
		log_msg(LOG_ERROR, "maintenance: %s", errbuf);
		server_hooks_close(h);
		return NULL;
	}
	accounting_set_final_hook(h->acc, stats_rollup_hook, h->rollup);
	return h->acc;
}

/* MAINT_HOOK_STALE: closes requests nobody will close. */
static enum qp_err
server_stale_hook(const struct maint_ctx *ctx, void *arg, char *note, size_t len)
{
	struct accounting_db *acc = server_hooks_acc(arg, ctx->db);
	struct accounting_stale st;
	enum qp_err err;

	if (acc == NULL)
		return QP_EDB;
	memset(&st, 0, sizeof(st));
	err = accounting_finalize_stale(acc, ctx->process_id, 0, ctx->now, &st);
	snprintf(note, len, "%lld request%s closed", (long long)st.requests,
	    st.requests == 1 ? "" : "s");
	if (st.requests > 0)
		log_msg(LOG_WARNING, "stale-request finalizer: %lld pending request%s "
		    "closed as interrupted", (long long)st.requests,
		    st.requests == 1 ? "" : "s");
	server_hooks_idle(arg);
	return err;
}

/* MAINT_HOOK_RETENTION's period: [retention] interval_s, which a reload may change. */
static int64_t
server_retention_interval(const struct config *cfg)
{

	return (int64_t)cfg->retention.interval_s * 1000;
}

/* MAINT_HOOK_RETENTION: deletes rows past their retention. */
static enum qp_err
server_retention_hook(const struct maint_ctx *ctx, void *arg, char *note, size_t len)
{
	struct server_hooks *h = arg;
	struct accounting_db *acc = server_hooks_acc(h, ctx->db);
	struct accounting_retention r;
	struct accounting_purged p;
	enum qp_err err;
	int rounds, more;

	if (acc == NULL)
		return QP_EDB;
	accounting_retention_from_config(ctx->cfg, &r);
	memset(&p, 0, sizeof(p));
	err = accounting_purge(acc, &r, ctx->now, &p);
	/* The 5-minute rollups are kept for a short while only. */
	for (rounds = 0, more = 1; err == QP_OK && more && rounds < 1000; rounds++) {
		more = 0;
		if ((err = db_begin_write(ctx->db)) != QP_OK)
			break;
		if ((err = stats_rollup_prune(h->rollup, ctx->now, &more)) != QP_OK) {
			db_rollback(ctx->db);
			break;
		}
		err = db_commit(ctx->db);
	}
	snprintf(note, len, "%lld requests, %lld attempts, %lld decisions, %lld events deleted",
	    (long long)p.requests, (long long)p.attempts, (long long)p.decisions,
	    (long long)p.events);
	server_hooks_idle(h);
	return err;
}

/* MAINT_HOOK_BACKUP runs while [backup] enabled is on. */
static int
server_backup_wanted(const struct config *cfg)
{

	return cfg->backup.enabled;
}

/* The database work of a reload, on the writer connection. */
struct server_reload_job {
	const struct config	*cfg;		/* the new configuration */
	int			 statics;	/* static models it stored */
	const char		*type;		/* RELOAD_EVENT_OK or _FAILED */
	const char		*details;	/* the event's details_json */
};

/* Stores the new configuration's static models (and drops the ones it no longer has). */
static enum qp_err
server_reload_statics(const struct server_db *d, void *arg)
{
	struct server_reload_job *j = arg;
	struct catalog_db *c;
	char errbuf[256];
	enum qp_err err;

	if ((c = catalog_db_new(d->db, &err, errbuf, sizeof(errbuf))) == NULL)
		return err;
	err = catalog_store_static(c, j->cfg, db_now_ms(), &j->statics);
	catalog_db_free(c);
	return err;
}

static enum qp_err
server_reload_event(const struct server_db *d, void *arg)
{
	struct server_reload_job *j = arg;

	return accounting_event(d->acc, j->type, j->details, db_now_ms());
}

/* Logs rep's messages, each at level. */
static void
server_reload_log_msgs(const struct reload_report *rep, enum log_level level)
{
	int i;

	for (i = 0; i < rep->nmsgs; i++)
		log_msg(level, "reload: %s", rep->msgs[i]);
}

/* Applies nc (owned) once checked: the dashboard, the static models, then publication. */
static uint64_t
server_reload_apply(struct server *srv, struct config *nc, struct reload_report *rep,
    enum qp_err *err)
{
	struct server_reload_job job;
	char errbuf[512], line[600];
	enum qp_err e;
	uint64_t gen;

	/* The templates load here, before any request can see the dashboard on. */
	if (nc->dashboard.enabled && !srv->dashboard_ready) {
		if ((*err = dashboard_init(srv->datadir, errbuf, sizeof(errbuf))) != QP_OK) {
			snprintf(line, sizeof(line), "%s: error: [dashboard] enabled: %s",
			    nc->path, errbuf);
			if (rep->nmsgs < RELOAD_MSG_MAX &&
			    (rep->msgs[rep->nmsgs] = strdup(line)) != NULL)
				rep->nmsgs++;
			rep->nerrors++;
			config_free(nc);
			return 0;
		}
		srv->dashboard_ready = 1;
	}
	/* Before publication: the first request under nc finds a new provider's models. */
	memset(&job, 0, sizeof(job));
	job.cfg = nc;
	if ((e = server_batch(srv, server_reload_statics, &job)) != QP_OK)
		log_msg(LOG_WARNING, "reload: static models not stored (%s); the maintenance "
		    "thread stores them at its next catalog refresh", qp_strerror(e));
	if ((gen = liveconf_publish(srv->live, nc)) == 0) {
		config_free(nc);
		*err = QP_ENOMEM;
		return 0;
	}
	/* Its schedules, provider list and static models follow at its next pass, now. */
	if (srv->maint != NULL)
		maint_wake(srv->maint);
	*err = QP_OK;
	return gen;
}

enum qp_err
server_reload(struct server *srv)
{
	const struct config *cur;
	struct config *nc;
	struct reload_report rep;
	struct server_reload_job job;
	char path[4096], summary[1024], restart[512];
	char *details;
	uint64_t gen = 0;
	enum qp_err err;
	size_t used;
	int i;

	cur = liveconf_pin(srv->live, NULL);
	snprintf(path, sizeof(path), "%s", cur->path != NULL ? cur->path : "");
	log_msg(LOG_INFO, "SIGHUP: reloading %s", path);
	/* Compared with the one in force; pinned only for that. */
	nc = reload_load(cur, path, &rep, &err);
	liveconf_unpin(srv->live, cur);
	if (nc != NULL)
		gen = server_reload_apply(srv, nc, &rep, &err);
	if (gen == 0) {
		server_reload_log_msgs(&rep, LOG_ERROR);
		log_msg(LOG_ERROR, "reload of %s refused (%s): the configuration in force "
		    "stays", path, qp_strerror(err));
	} else {
		server_reload_log_msgs(&rep, LOG_WARNING);
		reload_summary(&rep, summary, sizeof(summary));
		log_msg(LOG_INFO, "configuration %llu in force (sha256 %s): %s",
		    (unsigned long long)gen, rep.sha256, summary);
		for (i = 0, used = 0, restart[0] = '\0'; i < rep.nrestart &&
		    used < sizeof(restart); i++)
			used += (size_t)snprintf(restart + used, sizeof(restart) - used, "%s%s",
			    i > 0 ? ", " : "", rep.restart[i]);
		if (rep.nrestart > 0)
			log_msg(LOG_WARNING, "reload: %s changed but keep%s the value read at "
			    "start until quotapool restarts", restart,
			    rep.nrestart == 1 ? "s" : "");
	}
	memset(&job, 0, sizeof(job));
	job.type = gen != 0 ? RELOAD_EVENT_OK : RELOAD_EVENT_FAILED;
	details = reload_details_json(&rep, (long)getpid(), server_process_id(srv), gen);
	job.details = details;
	if (details == NULL || server_batch(srv, server_reload_event, &job) != QP_OK)
		log_msg(LOG_ERROR, "reload: its outcome could not be recorded in the database");
	free(details);
	reload_report_free(&rep);
	return gen != 0 ? QP_OK : err;
}

int64_t
server_process_id(struct server *srv)
{

	return srv->maint != NULL ? maint_process_id(srv->maint) : 0;
}

/* Runs a refresh's job on the writer (struct refresh_io's batch). */
struct server_refresh_job {
	enum qp_err	 (*job)(sqlite3 *, void *);	/* the refresh's job */
	void		*arg;				/* its argument */
};

static enum qp_err
server_refresh_run(const struct server_db *d, void *arg)
{
	struct server_refresh_job *j = arg;

	return j->job(d->db, j->arg);
}

static enum qp_err
server_refresh_batch(void *ctx, enum qp_err (*job)(sqlite3 *, void *), void *arg)
{
	struct server_refresh_job j = { job, arg };

	return server_batch(ctx, server_refresh_run, &j);
}

void
server_refresh_io(struct server *srv, struct refresh_io *io)
{

	io->batch = server_refresh_batch;
	io->ctx = srv;
	/* Before the maintenance thread registered the process, its pid stands in. */
	io->process_id = server_process_id(srv);
	if (io->process_id == 0)
		io->process_id = -(int64_t)getpid();
}

enum qp_err
server_account_token(struct server *srv, const char *uid, const struct config_provider *p,
    const struct config_account *a, int64_t stale, char **tok, int64_t *ver, char *why,
    size_t whysz, int *ran)
{
	struct refresh_io io;
	enum qp_err err;

	*tok = NULL;
	*ver = 0;
	if (ran != NULL)
		*ran = 0;
	if (whysz > 0)
		why[0] = '\0';
	if (a->refresh.url == NULL)
		return QP_OK;
	server_refresh_io(srv, &io);
	err = refresh_token(srv->refresh, &io, p, a, stale, tok, ver, why, whysz, ran);
	if (err == QP_OK)
		return QP_OK;
	log_msg(LOG_WARNING, "request %s: account %s: no token (%s: %s)", uid, a->name,
	    qp_strerror(err), why);
	/* Only the token endpoint's failure is the account's; ours backs it off. */
	return err == QP_EAUTH ? QP_EAUTH : QP_ETIMEOUT;
}
/*
 * Loads the shipped price catalog from datadir; NULL (logged) when it cannot
 * be read: requests are then priced from the other sources or "unknown".
 */
static struct prices *
server_prices_load(const char *datadir)
{
	struct prices *pc = NULL;
	char path[4200], errbuf[256];
	enum qp_err err;

	if (paths_join(path, sizeof(path), datadir, PRICES_FILE) != QP_OK)
		return NULL;
	if ((pc = prices_load(path, &err, errbuf, sizeof(errbuf))) == NULL)
		log_msg(LOG_WARNING, "no price catalog: %s", errbuf);
	return pc;
}


enum qp_err
server_run(struct config *start, int listen_fd)
{
	const struct config *cfg = NULL;
	struct server *srv = NULL;
	struct worker *workers = NULL, probe;
	struct maint_opts mopts;
	struct autobackup backups;
	/* Both hooks run on the maintenance connection: one set of statements. */
	struct server_hooks hooks = { NULL, NULL, NULL };
	pthread_condattr_t cattr;
	sigset_t ss;
	struct timespec deadline;
	char dir[4200], errbuf[512];
	enum qp_err err = QP_OK, ready;
	int i, n, started = 0, sig = 0, attr_init = 0, left;
	int committer = 0;

	/*
	 * SQLite counts its allocations under one process-wide mutex unless
	 * told not to; nothing here reads those counts. Only possible before
	 * the first connection opens.
	 */
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_msg(LOG_DEBUG, "SQLite was initialised early: memory counts stay on");
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		config_free(start);
		return QP_ENOMEM;
	}
	if ((srv->live = liveconf_new(start, &err)) == NULL) {
		config_free(start);
		free(srv);
		return err;
	}
	/* Start-up reads the first configuration, pinned until the signal loop. */
	cfg = liveconf_pin(srv->live, NULL);
	srv->listen_fd = listen_fd;
	srv->started_ms = db_now_ms();
	atomic_init(&srv->in_flight, 0);
	atomic_init(&srv->served, 0);
	atomic_init(&srv->stopping, 0);
	pthread_mutex_init(&srv->pool_lock, NULL);
	pthread_cond_init(&srv->pool_cond, NULL);
	pthread_mutex_init(&srv->acc_lock, NULL);
	pthread_mutex_init(&srv->wr_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->wr_cond, &cattr);
	pthread_cond_init(&srv->wr_gap_cond, &cattr);
	pthread_condattr_destroy(&cattr);
	/* The pool, then the writer connection of the batches. */
	if ((srv->slots = calloc(QP_DB_POOL + 1, sizeof(*srv->slots))) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	if ((err = paths_datadir(srv->datadir, sizeof(srv->datadir))) != QP_OK ||
	    (err = paths_join(dir, sizeof(dir), srv->datadir, "schema")) != QP_OK) {
		log_msg(LOG_ERROR, "cannot locate the data directory");
		goto out;
	}
	if ((err = migrate_load(dir, &srv->schema, errbuf, sizeof(errbuf))) != QP_OK) {
		log_msg(LOG_ERROR, "cannot load migrations from %s: %s", dir, errbuf);
		goto out;
	}
	srv->prices = server_prices_load(srv->datadir);

	if (cfg->dashboard.enabled &&
	    (err = dashboard_init(srv->datadir, errbuf, sizeof(errbuf))) != QP_OK) {
		log_msg(LOG_ERROR, "dashboard: %s", errbuf);
		goto out;
	}
	srv->dashboard_ready = cfg->dashboard.enabled;
	if ((srv->share = upstream_share_new(&err)) == NULL) {
		log_msg(LOG_ERROR, "cannot initialise libcurl: %s", qp_strerror(err));
		goto out;
	}
	if ((srv->authfail = authfail_new(cfg->security.max_auth_failures)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	if ((srv->refresh = refresh_new()) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	memset(&probe, 0, sizeof(probe));
	probe.srv = srv;
	probe.id = -1;
	probe.cfg = liveconf_pin(srv->live, &probe.cfg_gen);
	ready = server_worker_ready(&probe);
	liveconf_unpin(srv->live, probe.cfg);
	probe.cfg = NULL;
	/* Not ready is no reason to stop: requests say why until it is. */
	if (ready != QP_OK)
		log_msg(LOG_WARNING, "not ready: %s", probe.reason);
	server_worker_close(&probe);
	/* Connections open with their first use, not while idle. */
	for (i = 0; i < QP_DB_POOL; i++)
		server_slot_close(&srv->slots[i]);
	malloc_trim(0);

	n = cfg->server.threads;
	if ((workers = calloc((size_t)n, sizeof(*workers))) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	srv->workers = workers;
	srv->workers_max = n;
	/* Workers inherit the blocked set; only this thread takes signals. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGUSR1);
	sigaddset(&ss, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);

	if (pthread_attr_init(&srv->wattr) != 0) {
		err = QP_ENOMEM;
		goto out;
	}
	attr_init = 1;
	/* Remote workers: the socket other processes hand this one's jobs to. */
	if (cfg->workers.enabled && (srv->handoff = handoff_start(cfg->server.state_dir, &err,
	    errbuf, sizeof(errbuf))) == NULL) {
		/* The rest is served; /worker/v1/... answers 503 saying why. */
		log_msg(LOG_ERROR, "remote workers are not served: %s", errbuf);
		err = QP_OK;
	}
	pthread_attr_setstacksize(&srv->wattr, QP_THREAD_STACK);
	if (pthread_create(&srv->wr_thread, &srv->wattr, server_committer_main, srv) != 0) {
		log_msg(LOG_ERROR, "cannot start the committer thread: %s", strerror(errno));
		err = QP_ENOMEM;
		goto out;
	}
	committer = 1;
	/* A few threads at first; more start once fewer than QP_ACCEPTORS / 2 wait. */
	pthread_mutex_lock(&srv->acc_lock);
	for (i = 0; i < QP_ACCEPTORS / 2 + 1 && i < n; i++)
		server_spawn_locked(srv);
	started = srv->nworkers;
	pthread_mutex_unlock(&srv->acc_lock);
	if (started == 0)
		err = QP_ENOMEM;
	/* The maintenance thread registers this process and runs the hooks. */
	maint_opts_init(&mopts);
	mopts.hooks[MAINT_HOOK_STALE].run = server_stale_hook;
	mopts.hooks[MAINT_HOOK_STALE].close = server_hooks_close;
	mopts.hooks[MAINT_HOOK_STALE].arg = &hooks;
	mopts.hooks[MAINT_HOOK_RETENTION].run = server_retention_hook;
	mopts.hooks[MAINT_HOOK_RETENTION].close = server_hooks_close;
	mopts.hooks[MAINT_HOOK_RETENTION].arg = &hooks;
	mopts.hooks[MAINT_HOOK_RETENTION].interval_of = server_retention_interval;
	/* Automatic backups: quotapool-admin does the work, on the lease holder. */
	autobackup_init(&backups, db_now_ms());
	mopts.hooks[MAINT_HOOK_BACKUP].run = autobackup_hook;
	mopts.hooks[MAINT_HOOK_BACKUP].wanted = server_backup_wanted;
	mopts.hooks[MAINT_HOOK_BACKUP].arg = &backups;
	/* Each pass takes the configuration in force: a reload reaches it too. */
	mopts.live = srv->live;
	/* The http health checks share the workers' DNS cache and TLS sessions. */
	mopts.share = srv->share;
	if (err == QP_OK && (srv->maint = maint_start(cfg, &mopts, &err)) == NULL)
		log_msg(LOG_ERROR, "cannot start the maintenance thread: %s",
		    qp_strerror(err));
	if (started > 0)
		log_msg(LOG_INFO, "quotapool %s serving with up to %d worker threads",
		    QP_VERSION, n);

	/* From here on a reload may replace (and free) the first configuration. */
	liveconf_unpin(srv->live, cfg);
	cfg = NULL;
	while (err == QP_OK) {
		if (sigwait(&ss, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			(void)server_reload(srv);
			continue;
		}
		break;
	}
	if (sig != 0)
		log_msg(LOG_INFO, "signal %d: stopping (in-flight requests: %d)",
		    sig, atomic_load(&srv->in_flight));

	/* Stop accepting: idle workers return from FCGX_Accept_r at once. */
	if (srv->maint != NULL && maint_stop(srv->maint) != QP_OK)
		log_msg(LOG_WARNING, "the maintenance thread did not stop in time");
	srv->maint = NULL;
	pthread_mutex_lock(&srv->acc_lock);
	srv->acc_closed = 1;		/* no thread starts from here on */
	started = srv->nworkers;
	pthread_mutex_unlock(&srv->acc_lock);
	atomic_store(&srv->stopping, 1);
	if (srv->handoff != NULL)
		handoff_close_waits(srv->handoff);	/* long polls answer 204 now */
	FCGX_ShutdownPending();
	shutdown(listen_fd, SHUT_RDWR);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += QP_SHUTDOWN_GRACE_S;
	left = 0;
	for (i = 0; i < started; i++)
		if (pthread_timedjoin_np(workers[i].thread, NULL, &deadline) != 0)
			left++;
	if (left > 0) {
		log_msg(LOG_WARNING, "%d request%s still running after %d s; exiting",
		    left, left == 1 ? "" : "s", QP_SHUTDOWN_GRACE_S);
		/* Threads still hold srv and workers: leave them to process exit. */
		srv = NULL;
		workers = NULL;
	} else
		log_msg(LOG_INFO, "stopped after serving %lld requests",
		    (long long)atomic_load(&srv->served));
out:
	if (committer && srv != NULL) {
		/* The last batched changes are committed before the exit. */
		pthread_mutex_lock(&srv->wr_lock);
		srv->wr_stop = 1;
		pthread_cond_signal(&srv->wr_cond);
		pthread_mutex_unlock(&srv->wr_lock);
		pthread_join(srv->wr_thread, NULL);
	}
	if (attr_init && srv != NULL)
		pthread_attr_destroy(&srv->wattr);
	free(workers);
	if (srv != NULL) {
		if (srv->dashboard_ready)
			dashboard_free();
		for (i = 0; srv->slots != NULL && i <= QP_DB_POOL; i++)
			server_slot_close(&srv->slots[i]);
		free(srv->slots);
		upstream_share_free(srv->share);
		handoff_stop(srv->handoff);
		authfail_free(srv->authfail);
		refresh_free(srv->refresh);
		migrate_set_free(&srv->schema);
		prices_free(srv->prices);
		/* No thread is left that could use a configuration. */
		liveconf_unpin(srv->live, cfg);
		liveconf_free(srv->live);
	}
	free(srv);
	return err;
}
