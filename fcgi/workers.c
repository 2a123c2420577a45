/* workers.c: the remote workers' rows: registrations, their models in the catalog, their jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers.h"

enum workers_stmt {
	WK_SWEEP,
	WK_CATALOG_PRUNE,
	WK_CATALOG_ADD,
	WK_UPSERT,
	WK_MODELS_CLEAR,
	WK_MODEL_ADD,
	WK_BY_NAME,
	WK_BY_KEY,
	WK_TOUCH,
	WK_BYE,
	WK_QUEUED_OF,
	WK_FAIL_QUEUED,
	WK_PICK,
	WK_PICKED,
	WK_JOB_INSERT,
	WK_CLAIM,
	WK_JOB_GET,
	WK_JOB_FIRST,
	WK_JOB_END,
	WK_COUNT_DONE,
	WK_COUNT_FAILED,
	WK_COUNT_CANCELLED,
	WK_LIVE,
	WK_JOBS_PRUNE,
	WK__MAX
};

/* A live worker: not gone and seen within gone_ms (?now - ?gone in the statements). */
#define WK_LIVE_SQL	"w.gone_at IS NULL AND w.last_seen_at > ?2 - ?3"

static const char *const workers_sql[WK__MAX] = {
	[WK_SWEEP] = "UPDATE workers SET gone_at = ?1, gone_reason = 'silent' "
	    "WHERE gone_at IS NULL AND last_seen_at <= ?1 - ?2",
	[WK_CATALOG_PRUNE] = "DELETE FROM model_catalog WHERE provider_id = ?1 AND "
	    "source = 'worker' AND model_id NOT IN (SELECT m.model_id FROM worker_models m "
	    "JOIN workers w ON w.id = m.worker_id WHERE " WK_LIVE_SQL ")",
	[WK_CATALOG_ADD] = "INSERT INTO model_catalog (provider_id, model_id, protocol, "
	    "display_name, source, first_seen_at, last_seen_at, max_context_tokens) "
	    "SELECT ?1, m.model_id, NULL, NULL, 'worker', ?2, ?2, max(m.context_length) "
	    "FROM worker_models m JOIN workers w ON w.id = m.worker_id WHERE " WK_LIVE_SQL
	    " GROUP BY m.model_id "
	    "ON CONFLICT (provider_id, model_id) DO UPDATE SET source = 'worker', "
	    "last_seen_at = excluded.last_seen_at, "
	    "max_context_tokens = excluded.max_context_tokens",
	[WK_UPSERT] = "INSERT INTO workers (key_id, name, version, capacity, protocols, "
	    "first_seen_at, hello_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6) "
	    "ON CONFLICT (key_id, name) DO UPDATE SET version = excluded.version, "
	    "capacity = excluded.capacity, protocols = excluded.protocols, "
	    "hello_at = excluded.hello_at, last_seen_at = excluded.last_seen_at, "
	    "gone_at = NULL, gone_reason = NULL RETURNING id",
	[WK_MODELS_CLEAR] = "DELETE FROM worker_models WHERE worker_id = ?1",
	[WK_MODEL_ADD] = "INSERT OR IGNORE INTO worker_models (worker_id, model_id, "
	    "context_length) VALUES (?1, ?2, ?3)",
	[WK_BY_NAME] = "SELECT w.id, w.capacity, " WK_LIVE_SQL ", w.name FROM workers w "
	    "WHERE w.key_id = ?1 AND w.name = ?4",
	[WK_BY_KEY] = "SELECT w.id, w.capacity, " WK_LIVE_SQL ", w.name FROM workers w "
	    "WHERE w.key_id = ?1 ORDER BY w.hello_at DESC, w.id DESC LIMIT 1",
	[WK_TOUCH] = "UPDATE workers SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at < ?2",
	[WK_BYE] = "UPDATE workers SET gone_at = ?2, gone_reason = 'bye' WHERE id = ?1",
	[WK_QUEUED_OF] = "SELECT id, socket_path FROM worker_jobs WHERE worker_id = ?1 AND "
	    "state = 'queued' AND ended_at IS NULL",
	[WK_FAIL_QUEUED] = "UPDATE worker_jobs SET state = 'failed', ended_at = ?2, "
	    "error_class = 'worker_gone', body = NULL WHERE worker_id = ?1 AND "
	    "state = 'queued' AND ended_at IS NULL",
	[WK_PICK] = "SELECT w.id, w.capacity, w.name FROM workers w JOIN worker_models m "
	    "ON m.worker_id = w.id AND m.model_id = ?1 WHERE " WK_LIVE_SQL
	    " AND (w.backoff_until IS NULL OR w.backoff_until <= ?2) "
	    /* In flight: the reservations of its attempts, taken with each pick. */
	    "ORDER BY (SELECT count(*) FROM reservations r WHERE r.account_name = w.name AND "
	    "r.expires_at > ?2) * 1.0 / w.capacity, coalesce(w.last_job_at, 0), w.id",
	[WK_PICKED] = "UPDATE workers SET last_job_at = ?2 WHERE id = ?1",
	[WK_JOB_INSERT] = "INSERT INTO worker_jobs (id, worker_id, request_id, attempt_number, "
	    "process_id, socket_path, model, state, created_at, body) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9)",
	[WK_CLAIM] = "UPDATE worker_jobs SET state = 'claimed', claimed_at = ?2 WHERE id = "
	    "(SELECT id FROM worker_jobs WHERE worker_id = ?1 AND state = 'queued' AND "
	    "ended_at IS NULL ORDER BY created_at, id LIMIT 1) AND (SELECT count(*) FROM "
	    "worker_jobs WHERE worker_id = ?1 AND state IN ('claimed', 'streaming') AND "
	    "ended_at IS NULL) < ?3 RETURNING body",
	[WK_JOB_GET] = "SELECT j.worker_id, w.key_id, j.ended_at IS NOT NULL, j.socket_path "
	    "FROM worker_jobs j JOIN workers w ON w.id = j.worker_id WHERE j.id = ?1",
	[WK_JOB_FIRST] = "UPDATE worker_jobs SET state = 'streaming', first_byte_at = ?2 "
	    "WHERE id = ?1 AND ended_at IS NULL",
	[WK_JOB_END] = "UPDATE worker_jobs SET state = ?2, ended_at = ?3, error_class = ?4, "
	    "body = NULL WHERE id = ?1 AND ended_at IS NULL",
	[WK_COUNT_DONE] = "UPDATE workers SET jobs_done = jobs_done + 1, "
	    "job_ms_sum = job_ms_sum + ?2, consecutive_failures = 0, backoff_until = NULL "
	    "WHERE id = ?1",
	[WK_COUNT_FAILED] = "UPDATE workers SET jobs_failed = jobs_failed + 1, "
	    "backoff_until = ?2 + min(?4, ?3 << min(consecutive_failures, 20)) * 1000, "
	    "consecutive_failures = consecutive_failures + 1 WHERE id = ?1",
	[WK_COUNT_CANCELLED] = "UPDATE workers SET jobs_cancelled = jobs_cancelled + 1 "
	    "WHERE id = ?1",
	[WK_LIVE] = "SELECT " WK_LIVE_SQL " FROM workers w WHERE w.id = ?1",
	[WK_JOBS_PRUNE] = "DELETE FROM worker_jobs WHERE ended_at IS NOT NULL AND "
	    "ended_at < ?1",
};

/* Ended jobs are kept this long (ms) for a look at them, then deleted by the sweep. */
#define WORKERS_JOBS_KEEP_MS	(24LL * 3600 * 1000)

static const char *const workers_end_states[WORKERS_END__MAX] = {
	[WORKERS_END_DONE] = "done",
	[WORKERS_END_FAILED] = "failed",
	[WORKERS_END_CANCELLED] = "cancelled",
};

struct workers_db {
	sqlite3		*db;			/* borrowed */
	sqlite3_stmt	*st[WK__MAX];
};

struct workers_db *
workers_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct workers_db *d;
	int i;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	d->db = db;
	for (i = 0; i < WK__MAX; i++)
		if (sqlite3_prepare_v3(db, workers_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &d->st[i], NULL) != SQLITE_OK) {
			snprintf(errbuf, errlen, "workers: cannot prepare statement %d: %s", i,
			    sqlite3_errmsg(db));
			*err = QP_ESCHEMA;
			workers_db_free(d);
			return NULL;
		}
	*err = QP_OK;
	return d;
}

void
workers_db_free(struct workers_db *d)
{
	int i;

	if (d == NULL)
		return;
	for (i = 0; i < WK__MAX; i++)
		sqlite3_finalize(d->st[i]);
	free(d);
}

/* Resets a statement for its next use and returns it. */
static sqlite3_stmt *
workers_st(struct workers_db *d, enum workers_stmt s)
{

	sqlite3_reset(d->st[s]);
	sqlite3_clear_bindings(d->st[s]);
	return d->st[s];
}

/* Runs a statement that returns no row. */
static enum qp_err
workers_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

enum qp_err
workers_sweep(struct workers_db *d, const char *provider, int64_t now, int64_t gone_ms)
{
	sqlite3_stmt *st;
	enum qp_err err;

	st = workers_st(d, WK_SWEEP);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, gone_ms);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	st = workers_st(d, WK_JOBS_PRUNE);
	sqlite3_bind_int64(st, 1, now - WORKERS_JOBS_KEEP_MS);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	st = workers_st(d, WK_CATALOG_PRUNE);
	sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, gone_ms);
	return workers_done(st);
}

enum qp_err
workers_hello(struct workers_db *d, int64_t key_id, const struct workerproto_hello *h,
    const char *provider, int64_t now, int64_t gone_ms, int64_t *worker_id)
{
	sqlite3_stmt *st;
	enum qp_err err;
	int i, rc;

	st = workers_st(d, WK_UPSERT);
	sqlite3_bind_int64(st, 1, key_id);
	sqlite3_bind_text(st, 2, h->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, h->version, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, h->capacity);
	sqlite3_bind_text(st, 5, h->protocols, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return QP_EDB;
	}
	*worker_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = workers_st(d, WK_MODELS_CLEAR);
	sqlite3_bind_int64(st, 1, *worker_id);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	for (i = 0; i < h->nmodels; i++) {
		st = workers_st(d, WK_MODEL_ADD);
		sqlite3_bind_int64(st, 1, *worker_id);
		sqlite3_bind_text(st, 2, h->models[i].id, -1, SQLITE_STATIC);
		if (h->models[i].context_length > 0)
			sqlite3_bind_int64(st, 3, h->models[i].context_length);
		if ((err = workers_done(st)) != QP_OK)
			return err;
	}
	if ((err = workers_sweep(d, provider, now, gone_ms)) != QP_OK)
		return err;
	st = workers_st(d, WK_CATALOG_ADD);
	sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, gone_ms);
	return workers_done(st);
}

enum qp_err
workers_find(struct workers_db *d, int64_t key_id, const char *name, int64_t now,
    int64_t gone_ms, struct workers_row *w)
{
	sqlite3_stmt *st;
	const char *s;
	int rc;

	memset(w, 0, sizeof(*w));
	st = workers_st(d, name != NULL ? WK_BY_NAME : WK_BY_KEY);
	sqlite3_bind_int64(st, 1, key_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, gone_ms);
	if (name != NULL)
		sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		w->id = sqlite3_column_int64(st, 0);
		w->capacity = sqlite3_column_int(st, 1);
		w->live = sqlite3_column_int(st, 2);
		if ((s = (const char *)sqlite3_column_text(st, 3)) != NULL)
			snprintf(w->name, sizeof(w->name), "%s", s);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return QP_ENOTFOUND;
	if (rc != SQLITE_ROW)
		return QP_EDB;
	if (!w->live)
		return QP_OK;
	st = workers_st(d, WK_TOUCH);
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_int64(st, 2, now);
	return workers_done(st);
}

enum qp_err
workers_bye(struct workers_db *d, int64_t worker_id, const char *provider, int64_t now,
    int64_t gone_ms, void (*cb)(const char *path, const char *id, void *arg), void *arg)
{
	sqlite3_stmt *st;
	enum qp_err err;
	int rc;

	st = workers_st(d, WK_BYE);
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, now);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	st = workers_st(d, WK_QUEUED_OF);
	sqlite3_bind_int64(st, 1, worker_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb != NULL && sqlite3_column_text(st, 0) != NULL &&
		    sqlite3_column_text(st, 1) != NULL)
			cb((const char *)sqlite3_column_text(st, 1),
			    (const char *)sqlite3_column_text(st, 0), arg);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return QP_EDB;
	st = workers_st(d, WK_FAIL_QUEUED);
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, now);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	return workers_sweep(d, provider, now, gone_ms);
}

enum qp_err
workers_pick(struct workers_db *d, const char *model, const char *const *tried, int ntried,
    int64_t now, int64_t gone_ms, struct workers_row *w)
{
	sqlite3_stmt *st;
	const char *name;
	int i, rc, skip;

	memset(w, 0, sizeof(*w));
	st = workers_st(d, WK_PICK);
	sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, gone_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((name = (const char *)sqlite3_column_text(st, 2)) == NULL)
			continue;
		for (i = 0, skip = 0; i < ntried && !skip; i++)
			skip = tried[i] != NULL && strcmp(tried[i], name) == 0;
		if (skip)
			continue;
		w->id = sqlite3_column_int64(st, 0);
		w->capacity = sqlite3_column_int(st, 1);
		w->live = 1;
		snprintf(w->name, sizeof(w->name), "%s", name);
		break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return QP_EDB;
	if (w->id == 0)
		return QP_ENOTFOUND;
	st = workers_st(d, WK_PICKED);
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_int64(st, 2, now);
	return workers_done(st);
}

enum qp_err
workers_job_queue(struct workers_db *d, const char *id, int64_t worker_id, int64_t request_id,
    int attempt, int64_t process_id, const char *socket_path, const char *model,
    const char *body, int64_t now)
{
	sqlite3_stmt *st = workers_st(d, WK_JOB_INSERT);

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, worker_id);
	if (request_id > 0)
		sqlite3_bind_int64(st, 3, request_id);
	if (attempt > 0)
		sqlite3_bind_int(st, 4, attempt);
	sqlite3_bind_int64(st, 5, process_id);
	sqlite3_bind_text(st, 6, socket_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_text(st, 9, body, -1, SQLITE_STATIC);
	return workers_done(st);
}

enum qp_err
workers_job_claim(struct workers_db *d, int64_t worker_id, int capacity, int64_t now,
    char **body)
{
	sqlite3_stmt *st = workers_st(d, WK_CLAIM);
	const char *s;
	enum qp_err err = QP_OK;
	int rc;

	*body = NULL;
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, capacity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (s = (const char *)sqlite3_column_text(st, 0)) != NULL &&
	    (*body = strdup(s)) == NULL)
		err = QP_ENOMEM;
	/* RETURNING: the update is complete only once stepped to its end. */
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(*body);
		*body = NULL;
		return QP_EDB;
	}
	return err;
}

enum qp_err
workers_job_get(struct workers_db *d, const char *id, struct workers_job *j)
{
	sqlite3_stmt *st = workers_st(d, WK_JOB_GET);
	const char *s;
	int rc;

	memset(j, 0, sizeof(*j));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		j->worker_id = sqlite3_column_int64(st, 0);
		j->key_id = sqlite3_column_int64(st, 1);
		j->ended = sqlite3_column_int(st, 2);
		if ((s = (const char *)sqlite3_column_text(st, 3)) != NULL)
			snprintf(j->socket_path, sizeof(j->socket_path), "%s", s);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return QP_ENOTFOUND;
	return rc == SQLITE_ROW ? QP_OK : QP_EDB;
}

enum qp_err
workers_job_first(struct workers_db *d, const char *id, int64_t now)
{
	sqlite3_stmt *st = workers_st(d, WK_JOB_FIRST);

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return workers_done(st);
}

enum qp_err
workers_job_end(struct workers_db *d, const char *id, int64_t worker_id, enum workers_end how,
    const char *error_class, int64_t now, int64_t ms, const struct config_routing *routing)
{
	sqlite3_stmt *st;
	enum qp_err err;

	if ((unsigned)how >= WORKERS_END__MAX)
		return QP_EINVAL;
	st = workers_st(d, WK_JOB_END);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, workers_end_states[how], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (error_class != NULL)
		sqlite3_bind_text(st, 4, error_class, -1, SQLITE_STATIC);
	if ((err = workers_done(st)) != QP_OK)
		return err;
	switch (how) {
	case WORKERS_END_DONE:
		st = workers_st(d, WK_COUNT_DONE);
		sqlite3_bind_int64(st, 2, ms > 0 ? ms : 0);
		break;
	case WORKERS_END_FAILED:
		st = workers_st(d, WK_COUNT_FAILED);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, routing != NULL ? routing->backoff_base_s : 5);
		sqlite3_bind_int64(st, 4, routing != NULL ? routing->backoff_max_s : 1800);
		break;
	default:
		st = workers_st(d, WK_COUNT_CANCELLED);
		break;
	}
	sqlite3_bind_int64(st, 1, worker_id);
	return workers_done(st);
}

enum qp_err
workers_live(struct workers_db *d, int64_t worker_id, int64_t now, int64_t gone_ms, int *live)
{
	sqlite3_stmt *st = workers_st(d, WK_LIVE);
	int rc;

	*live = 0;
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, gone_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*live = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QP_OK : QP_EDB;
}
