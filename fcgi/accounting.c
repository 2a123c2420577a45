/* accounting.c: request, attempt, reservation and decision rows in two write transactions per attempt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounting.h"
#include "bounds.h"
#include "crypto.h"
#include "db.h"

#define ACCOUNTING_DAY_MS	(24LL * 3600 * 1000)

enum accounting_stmt {
	ACC_REQ_INSERT,		/* a new request row, pending */
	ACC_REQ_ATTEMPT,	/* a later attempt's provider, account and count */
	ACC_REQ_FINAL,		/* finalize a pending request */
	ACC_REQ_TRANSLATION,	/* the translation it was served through */
	ACC_ATT_INSERT,		/* an attempt row */
	ACC_ATT_END,		/* close an attempt row */
	ACC_RES_INSERT,		/* a reservation */
	ACC_RES_DELETE,		/* release a reservation */
	ACC_DEC_INSERT,		/* a routing decision */
	ACC_STALE_FIND,		/* pending requests nobody will finalize */
	ACC_STALE_ATTEMPTS,	/* close their open attempts */
	ACC_STALE_RESERVATIONS,	/* delete their reservations */
	ACC_STALE_REQUEST,	/* make one interrupted */
	ACC_EXPIRED_RESERVATIONS, /* delete expired reservations */
	ACC_EVENT_INSERT,	/* an operational event */
	ACC_PURGE_REQUESTS,	/* delete a batch of requests ended before the cutoff */
	ACC_PURGE_ATTEMPTS,	/* the attempts before it of the requests that stay */
	ACC_PURGE_DECISIONS,	/* the routing decisions before it of the requests that stay */
	ACC_PURGE_EVENTS,	/* delete a batch of old operational events */
	ACC_STMT__MAX
};

static const char *const accounting_sql[ACC_STMT__MAX] = {
	[ACC_REQ_INSERT] = "INSERT INTO requests (request_uid, process_id, client_key_id, "
	    "protocol, endpoint, model, model_base, provider_id, account_name, streamed, "
	    "status, attempt_count, started_at, bytes_in, client_ip, alias, alias_target, "
	    "user_agent, client_family, method, path) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ACC_REQ_ATTEMPT] = "UPDATE requests SET provider_id = ?, account_name = ?, "
	    "attempt_count = ?, model_base = COALESCE(?, model_base), "
	    "alias_target = COALESCE(?, alias_target) WHERE id = ?",
	[ACC_REQ_FINAL] = "UPDATE requests SET status = ?, status_code = ?, error_class = ?, "
	    "retry_category = ?, attempt_count = ?, finish_reason = ?, stream_complete = ?, "
	    "completed_at = ?, connect_ms = ?, first_byte_ms = ?, ttft_ms = ?, total_ms = ?, "
	    "overhead_us = ?, input_tokens = ?, output_tokens = ?, cache_read_tokens = ?, "
	    "cache_write_tokens = ?, reasoning_tokens = ?, cost_microdollars = ?, "
	    "cost_exactness = ?, bytes_in = ?, bytes_out = ?, upstream_bytes = ?, "
	    "price_source = ?, price_ref = ? WHERE id = ? AND status = 'pending'",
	[ACC_REQ_TRANSLATION] = "UPDATE requests SET translation = ?, translation_warnings = ? "
	    "WHERE id = ?",
	[ACC_ATT_INSERT] = "INSERT INTO request_attempts (request_id, attempt_number, "
	    "provider_id, account_name, model, started_at) VALUES (?, ?, ?, ?, ?, ?)",
	[ACC_ATT_END] = "UPDATE request_attempts SET completed_at = ?, status_code = ?, "
	    "outcome = ?, retry_category = ?, error_class = ?, connect_ms = ?, "
	    "first_byte_ms = ?, total_ms = ?, bytes_sent = ?, bytes_received = ?, "
	    "upstream_request_id = ? WHERE request_id = ? AND attempt_number = ? "
	    "AND completed_at IS NULL",
	[ACC_RES_INSERT] = "INSERT INTO reservations (request_id, attempt_number, account_name, "
	    "process_id, estimated_tokens, estimated_microdollars, created_at, expires_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[ACC_RES_DELETE] = "DELETE FROM reservations WHERE id = ?",
	[ACC_DEC_INSERT] = "INSERT INTO routing_decisions (request_id, attempt_number, model, "
	    "chosen_account, chosen_provider, tier, candidates, eligible, detail_json, "
	    "decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ACC_STALE_FIND] = "SELECT r.id, r.started_at < ?1 FROM requests AS r "
	    "LEFT JOIN processes AS p ON p.id = r.process_id "
	    "WHERE r.status = 'pending' AND (r.started_at < ?1 OR r.process_id IS NULL "
	    "OR p.id IS NULL OR p.stopped_at IS NOT NULL OR p.heartbeat_at < ?2 "
	    "OR r.process_id = ?3) LIMIT ?4",
	[ACC_STALE_ATTEMPTS] = "UPDATE request_attempts SET completed_at = ?1, "
	    "outcome = 'interrupted', retry_category = 'never', error_class = ?3, "
	    "total_ms = max(?1 - started_at, 0) WHERE request_id = ?2 AND completed_at IS NULL",
	[ACC_STALE_RESERVATIONS] = "DELETE FROM reservations WHERE request_id = ?",
	[ACC_STALE_REQUEST] = "UPDATE requests SET status = 'interrupted', completed_at = ?1, "
	    "total_ms = max(?1 - started_at, 0), error_class = ?3 "
	    "WHERE id = ?2 AND status = 'pending'",
	[ACC_EXPIRED_RESERVATIONS] = "DELETE FROM reservations WHERE expires_at <= ?",
	[ACC_EVENT_INSERT] = "INSERT INTO operational_events (event_type, details_json, "
	    "occurred_at) VALUES (?, ?, ?)",
	/*
	 * Rows are deleted by the time that places them in their rollup
	 * bucket: requests by completed_at (their attempts and decisions go
	 * with them, all earlier), then the attempts (by their end) and
	 * decisions that fell before the cutoff of the requests that stay
	 * (begun before it): found through requests_started, so only those
	 * few are read.
	 */
	[ACC_PURGE_REQUESTS] = "DELETE FROM requests WHERE id IN (SELECT id FROM requests "
	    "WHERE started_at < ?1 AND completed_at < ?1 AND status <> 'pending' LIMIT ?2)",
	[ACC_PURGE_ATTEMPTS] = "DELETE FROM request_attempts WHERE (request_id, attempt_number) "
	    "IN (SELECT a.request_id, a.attempt_number FROM requests AS r JOIN request_attempts "
	    "AS a ON a.request_id = r.id WHERE r.started_at < ?1 AND a.completed_at < ?1 "
	    "LIMIT ?2)",
	[ACC_PURGE_DECISIONS] = "DELETE FROM routing_decisions WHERE (request_id, attempt_number) "
	    "IN (SELECT d.request_id, d.attempt_number FROM requests AS r JOIN routing_decisions "
	    "AS d ON d.request_id = r.id WHERE r.started_at < ?1 AND d.decided_at < ?1 LIMIT ?2)",
	[ACC_PURGE_EVENTS] = "DELETE FROM operational_events WHERE id IN (SELECT id "
	    "FROM operational_events WHERE occurred_at < ?1 LIMIT ?2)",
};

static const char *const accounting_status_names[ACCOUNTING__MAX] = {
	[ACCOUNTING_PENDING] = "pending",
	[ACCOUNTING_COMPLETED] = "completed",
	[ACCOUNTING_CLIENT_ERROR] = "client_error",
	[ACCOUNTING_ERROR] = "error",
	[ACCOUNTING_CLIENT_DISCONNECTED] = "client_disconnected",
	[ACCOUNTING_INTERRUPTED] = "interrupted",
	[ACCOUNTING_REJECTED] = "rejected",
};

/* Stored names of cost exactness, as cost.h names them. */
static const char *const accounting_exactness[] = {
	"unknown", "estimated", "partial", "derived", "exact", "provider_reported",
};

struct accounting_db {
	sqlite3			*db;			/* borrowed connection */
	sqlite3_stmt		*st[ACC_STMT__MAX];	/* prepared statements */
	struct failover_db	*fo;			/* backoff statements, same connection */
	int			(*hook)(void *, int64_t); /* called for each request finalized */
	void			*hook_arg;		/* its argument */
};

const char *
accounting_status_name(enum accounting_status st)
{

	return (unsigned)st < ACCOUNTING__MAX ? accounting_status_names[st] : "unknown";
}

struct accounting_db *
accounting_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct accounting_db *acc;

	if ((acc = calloc(1, sizeof(*acc))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	acc->db = db;
	*err = db_prepare_all(db, accounting_sql, ACC_STMT__MAX, acc->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(acc);
		return NULL;
	}
	if ((acc->fo = failover_db_new(db, err, errbuf, errlen)) == NULL) {
		db_finalize_all(acc->st, ACC_STMT__MAX);
		free(acc);
		return NULL;
	}
	return acc;
}

void
accounting_set_final_hook(struct accounting_db *acc, int (*fn)(void *arg, int64_t request_id),
    void *arg)
{

	acc->hook = fn;
	acc->hook_arg = arg;
}

void
accounting_free(struct accounting_db *acc)
{

	if (acc == NULL)
		return;
	failover_db_free(acc->fo);
	db_finalize_all(acc->st, ACC_STMT__MAX);
	free(acc);
}

/* Binds a string, or NULL when s is NULL. */
static void
accounting_bind_text(sqlite3_stmt *st, int i, const char *s)
{

	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/*
 * Binds model id s (NULL when s is NULL), cut to QP_UNKNOWN_MODEL_KEEP
 * bytes at a UTF-8 character boundary when unknown: an id no provider
 * serves is kept on its request's rows, bounded.
 */
static void
accounting_bind_model(sqlite3_stmt *st, int i, const char *s, int unknown)
{
	size_t n;

	if (s == NULL) {
		sqlite3_bind_null(st, i);
		return;
	}
	n = strlen(s);
	if (unknown && n > QP_UNKNOWN_MODEL_KEEP) {
		/* Back off to the first byte of the character the bound cuts. */
		n = QP_UNKNOWN_MODEL_KEEP;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* Binds a number, or NULL when it is negative (unknown). */
static void
accounting_bind_known(sqlite3_stmt *st, int i, int64_t v)
{

	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Binds a row id, or NULL when it is 0 (none). */
static void
accounting_bind_id(sqlite3_stmt *st, int i, int64_t id)
{

	if (id > 0)
		sqlite3_bind_int64(st, i, id);
	else
		sqlite3_bind_null(st, i);
}

static int64_t
accounting_nonneg(int64_t v)
{

	return v > 0 ? v : 0;
}

/* Runs a statement that returns no row, then resets it. */
static enum qp_err
accounting_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return QP_OK;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return QP_EEXIST;
	return QP_EDB;
}

enum qp_err
accounting_request_init(struct accounting_request *req, int64_t process_id, int64_t now)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	enum qp_err err;
	int i, j;

	memset(req, 0, sizeof(*req));
	if ((err = crypto_random(b, sizeof(b))) != QP_OK)
		return err;
	/*
	 * A version 7 UUID (RFC 9562): the time in ms leads, so the ids of
	 * new requests land at the end of their index, not all over it.
	 */
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(((uint64_t)(now > 0 ? now : 0) >> (8 * (5 - i))) & 0xff);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0, j = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			req->uid[j++] = '-';
		req->uid[j++] = hex[b[i] >> 4];
		req->uid[j++] = hex[b[i] & 0x0f];
	}
	req->uid[j] = '\0';
	req->process_id = process_id;
	req->started_at = now;
	req->last_category = FAILOVER_CAT_NONE;
	return QP_OK;
}

void
accounting_final_init(struct accounting_final *fin, enum accounting_status st, int status_code,
    int64_t completed_at)
{

	memset(fin, 0, sizeof(*fin));
	fin->status = st;
	fin->status_code = status_code;
	fin->stream_complete = -1;
	fin->completed_at = completed_at;
	fin->connect_ms = -1;
	fin->first_byte_ms = -1;
	fin->ttft_ms = -1;
	fin->total_ms = -1;
	fin->overhead_us = -1;
}

/*
 * Inserts the request row; its provider and account are req's current
 * ones. unknown: no provider serves its model (the ids are cut).
 */
static enum qp_err
accounting_insert_request(struct accounting_db *acc, const struct accounting_request *req,
    int attempts, int unknown, int64_t *id)
{
	sqlite3_stmt *st = acc->st[ACC_REQ_INSERT];
	enum qp_err err;

	accounting_bind_text(st, 1, req->uid);
	accounting_bind_id(st, 2, req->process_id);
	accounting_bind_id(st, 3, req->client_key_id);
	sqlite3_bind_text(st, 4, select_protocol_name(req->protocol), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, req->endpoint != NULL ? req->endpoint : "", -1, SQLITE_STATIC);
	accounting_bind_model(st, 6, req->model, unknown);
	accounting_bind_model(st, 7, req->model_base, unknown);
	accounting_bind_text(st, 8, req->provider_id);
	accounting_bind_text(st, 9, req->account_name);
	sqlite3_bind_int(st, 10, req->streamed ? 1 : 0);
	sqlite3_bind_int(st, 11, attempts);
	sqlite3_bind_int64(st, 12, req->started_at);
	sqlite3_bind_int64(st, 13, accounting_nonneg(req->bytes_in));
	accounting_bind_text(st, 14, req->client_ip);
	accounting_bind_text(st, 15, req->alias);
	accounting_bind_text(st, 16, req->alias_target);
	accounting_bind_text(st, 17, req->user_agent);
	sqlite3_bind_text(st, 18, req->client_family != NULL ? req->client_family : "other", -1,
	    SQLITE_STATIC);
	accounting_bind_text(st, 19, req->method);
	accounting_bind_text(st, 20, req->path);
	if ((err = accounting_step(st)) != QP_OK)
		return err;
	*id = sqlite3_last_insert_rowid(acc->db);
	return QP_OK;
}

/* Records one routing decision for attempt number n of request id. */
static enum qp_err
accounting_insert_decision(struct accounting_db *acc, int64_t id, int n,
    const struct select_result *sel)
{
	sqlite3_stmt *st = acc->st[ACC_DEC_INSERT];

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, n);
	accounting_bind_model(st, 3, sel->model != NULL ? sel->model : "",
	    sel->status == SELECT_NO_MODEL);
	accounting_bind_text(st, 4, sel->account != NULL ? sel->account->name : NULL);
	accounting_bind_text(st, 5, sel->provider != NULL ? sel->provider->id : NULL);
	if (sel->status == SELECT_OK)
		sqlite3_bind_int(st, 6, sel->tier);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int(st, 7, sel->candidates);
	sqlite3_bind_int(st, 8, sel->eligible);
	sqlite3_bind_text(st, 9, sel->detail_json != NULL ? sel->detail_json : "{}", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, sel->decided_at);
	return accounting_step(st);
}

enum qp_err
accounting_attempt_start(struct accounting_db *acc, struct accounting_request *req,
    const struct select_result *sel, int64_t now)
{
	struct accounting_request nr;
	sqlite3_stmt *st;
	enum qp_err err;
	int n;

	if (req->attempt_open || sel == NULL || sel->status != SELECT_OK ||
	    sel->account == NULL || sel->provider == NULL)
		return QP_EINVAL;
	nr = *req;
	n = req->attempts + 1;
	nr.provider_id = sel->provider->id;
	nr.account_name = sel->account->name;
	if ((err = db_begin_write(acc->db)) != QP_OK)
		return err;
	if (nr.id == 0) {
		if ((err = accounting_insert_request(acc, &nr, n, 0, &nr.id)) != QP_OK)
			goto out;
	} else {
		st = acc->st[ACC_REQ_ATTEMPT];
		sqlite3_bind_text(st, 1, nr.provider_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, nr.account_name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, n);
		accounting_bind_text(st, 4, nr.model_base);
		accounting_bind_text(st, 5, nr.alias_target);
		sqlite3_bind_int64(st, 6, nr.id);
		if ((err = accounting_step(st)) != QP_OK)
			goto out;
	}

	st = acc->st[ACC_ATT_INSERT];
	sqlite3_bind_int64(st, 1, nr.id);
	sqlite3_bind_int(st, 2, n);
	sqlite3_bind_text(st, 3, nr.provider_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, nr.account_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, nr.model_base != NULL ? nr.model_base :
	    (sel->model != NULL ? sel->model : ""), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if ((err = accounting_step(st)) != QP_OK)
		goto out;

	st = acc->st[ACC_RES_INSERT];
	sqlite3_bind_int64(st, 1, nr.id);
	sqlite3_bind_int(st, 2, n);
	sqlite3_bind_text(st, 3, nr.account_name, -1, SQLITE_STATIC);
	accounting_bind_id(st, 4, nr.process_id);
	sqlite3_bind_int64(st, 5, accounting_nonneg(nr.est_tokens));
	sqlite3_bind_int64(st, 6, accounting_nonneg(nr.est_microdollars));
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now + ACCOUNTING_RESERVATION_TTL_MS);
	if ((err = accounting_step(st)) != QP_OK)
		goto out;
	nr.reservation_id = sqlite3_last_insert_rowid(acc->db);

	if ((err = accounting_insert_decision(acc, nr.id, n, sel)) != QP_OK)
		goto out;
	err = db_commit(acc->db);
out:
	if (err != QP_OK) {
		db_rollback(acc->db);
		return err;
	}
	nr.attempts = n;
	nr.attempt_open = 1;
	nr.attempt_started_at = now;
	*req = nr;
	return QP_OK;
}

static int
accounting_exactness_valid(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(accounting_exactness) / sizeof(accounting_exactness[0]); i++)
		if (strcmp(s, accounting_exactness[i]) == 0)
			return 1;
	return 0;
}

/* Finalizes the pending request row and hands it to the final hook. */
static enum qp_err
accounting_finalize(struct accounting_db *acc, const struct accounting_request *req,
    const struct accounting_final *fin)
{
	sqlite3_stmt *st = acc->st[ACC_REQ_FINAL];
	const char *cls = fin->error_class, *cat = fin->retry_category;
	enum qp_err err;
	int64_t total;

	if (cls == NULL && fin->status != ACCOUNTING_COMPLETED && req->last_class[0] != '\0')
		cls = req->last_class;
	if (cat == NULL)
		cat = failover_category_name(req->last_category);
	total = fin->total_ms >= 0 ? fin->total_ms :
	    accounting_nonneg(fin->completed_at - req->started_at);
	sqlite3_bind_text(st, 1, accounting_status_name(fin->status), -1, SQLITE_STATIC);
	if (fin->status_code > 0)
		sqlite3_bind_int(st, 2, fin->status_code);
	else
		sqlite3_bind_null(st, 2);
	accounting_bind_text(st, 3, cls);
	accounting_bind_text(st, 4, cat);
	sqlite3_bind_int(st, 5, req->attempts);
	accounting_bind_text(st, 6, fin->finish_reason);
	if (fin->stream_complete >= 0)
		sqlite3_bind_int(st, 7, fin->stream_complete ? 1 : 0);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int64(st, 8, fin->completed_at);
	accounting_bind_known(st, 9, fin->connect_ms);
	accounting_bind_known(st, 10, fin->first_byte_ms);
	accounting_bind_known(st, 11, fin->ttft_ms);
	sqlite3_bind_int64(st, 12, total);
	accounting_bind_known(st, 13, fin->overhead_us);
	sqlite3_bind_int64(st, 14, accounting_nonneg(fin->input_tokens));
	sqlite3_bind_int64(st, 15, accounting_nonneg(fin->output_tokens));
	sqlite3_bind_int64(st, 16, accounting_nonneg(fin->cache_read_tokens));
	sqlite3_bind_int64(st, 17, accounting_nonneg(fin->cache_write_tokens));
	sqlite3_bind_int64(st, 18, accounting_nonneg(fin->reasoning_tokens));
	sqlite3_bind_int64(st, 19, accounting_nonneg(fin->cost_microdollars));
	sqlite3_bind_text(st, 20, fin->cost_exactness != NULL ? fin->cost_exactness : "unknown",
	    -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 21, accounting_nonneg(req->bytes_in));
	sqlite3_bind_int64(st, 22, accounting_nonneg(fin->bytes_out));
	sqlite3_bind_int64(st, 23, accounting_nonneg(fin->upstream_bytes));
	sqlite3_bind_text(st, 24, fin->price_source != NULL ? fin->price_source : "none", -1,
	    SQLITE_STATIC);
	accounting_bind_text(st, 25, fin->price_ref != NULL && fin->price_ref[0] != '\0' ?
	    fin->price_ref : NULL);
	sqlite3_bind_int64(st, 26, req->id);
	if ((err = accounting_step(st)) != QP_OK)
		return err;
	if (sqlite3_changes(acc->db) == 0)
		return QP_OK;	/* finalized already, by the stale finalizer */
	if (fin->translation != NULL) {
		st = acc->st[ACC_REQ_TRANSLATION];
		sqlite3_bind_text(st, 1, fin->translation, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, accounting_nonneg(fin->translation_warnings));
		sqlite3_bind_int64(st, 3, req->id);
		if ((err = accounting_step(st)) != QP_OK)
			return err;
	}
	if (acc->hook != NULL)
		(void)acc->hook(acc->hook_arg, req->id);
	return QP_OK;
}

static int
accounting_final_valid(const struct accounting_final *fin)
{

	return fin->status > ACCOUNTING_PENDING && fin->status < ACCOUNTING__MAX &&
	    (fin->cost_exactness == NULL || accounting_exactness_valid(fin->cost_exactness));
}

enum qp_err
accounting_attempt_end(struct accounting_db *acc, struct accounting_request *req,
    const struct accounting_attempt *att, const struct failover_verdict *v,
    const struct config_routing *routing, const struct accounting_final *fin)
{
	struct accounting_request nr;
	sqlite3_stmt *st;
	enum qp_err err;

	if (!req->attempt_open || v == NULL || att == NULL ||
	    (fin != NULL && !accounting_final_valid(fin)))
		return QP_EINVAL;
	nr = *req;
	if (v->outcome != FAILOVER_OUTCOME_OK && v->category != FAILOVER_CAT_NONE) {
		nr.last_category = v->category;
		snprintf(nr.last_class, sizeof(nr.last_class), "%s", v->error_class);
	}
	if ((err = db_begin_write(acc->db)) != QP_OK)
		return err;
	st = acc->st[ACC_ATT_END];
	sqlite3_bind_int64(st, 1, att->ended_at);
	if (v->status > 0)
		sqlite3_bind_int(st, 2, v->status);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, failover_outcome_name(v->outcome), -1, SQLITE_STATIC);
	accounting_bind_text(st, 4, failover_category_name(v->category));
	accounting_bind_text(st, 5, v->error_class[0] != '\0' ? v->error_class : NULL);
	accounting_bind_known(st, 6, att->connect_ms);
	accounting_bind_known(st, 7, att->first_byte_ms);
	sqlite3_bind_int64(st, 8, accounting_nonneg(att->ended_at - nr.attempt_started_at));
	sqlite3_bind_int64(st, 9, accounting_nonneg(att->bytes_sent));
	sqlite3_bind_int64(st, 10, accounting_nonneg(att->bytes_received));
	accounting_bind_text(st, 11, att->upstream_request_id);
	sqlite3_bind_int64(st, 12, nr.id);
	sqlite3_bind_int(st, 13, nr.attempts);
	if ((err = accounting_step(st)) != QP_OK)
		goto out;
	if (nr.reservation_id != 0) {
		st = acc->st[ACC_RES_DELETE];
		sqlite3_bind_int64(st, 1, nr.reservation_id);
		if ((err = accounting_step(st)) != QP_OK)
			goto out;
	}
	if (routing != NULL && nr.account_name != NULL &&
	    (err = failover_apply(acc->fo, nr.account_name, nr.model_base, v, routing,
	    att->ended_at, NULL, NULL)) != QP_OK)
		goto out;
	if (fin != NULL && (err = accounting_finalize(acc, &nr, fin)) != QP_OK)
		goto out;
	err = db_commit(acc->db);
out:
	if (err != QP_OK) {
		db_rollback(acc->db);
		return err;
	}
	nr.attempt_open = 0;
	nr.reservation_id = 0;
	*req = nr;
	return QP_OK;
}

enum qp_err
accounting_finish(struct accounting_db *acc, struct accounting_request *req,
    const struct select_result *sel, const struct accounting_final *fin)
{
	struct accounting_request nr;
	enum qp_err err;

	if (req->attempt_open || fin == NULL || !accounting_final_valid(fin))
		return QP_EINVAL;
	nr = *req;
	if ((err = db_begin_write(acc->db)) != QP_OK)
		return err;
	if (nr.id == 0 && (err = accounting_insert_request(acc, &nr, nr.attempts,
	    sel != NULL && sel->status == SELECT_NO_MODEL, &nr.id)) != QP_OK)
		goto out;
	if (sel != NULL && (err = accounting_insert_decision(acc, nr.id, nr.attempts + 1,
	    sel)) != QP_OK)
		goto out;
	if ((err = accounting_finalize(acc, &nr, fin)) != QP_OK)
		goto out;
	err = db_commit(acc->db);
out:
	if (err != QP_OK) {
		db_rollback(acc->db);
		return err;
	}
	*req = nr;
	return QP_OK;
}

/* Finalizes one batch of stale requests in one transaction; *found gets the batch size. */
static enum qp_err
accounting_stale_batch(struct accounting_db *acc, int64_t self, int at_start, int64_t now,
    struct accounting_stale *rep, int *found)
{
	int64_t ids[ACCOUNTING_BATCH];
	int old[ACCOUNTING_BATCH];
	sqlite3_stmt *st;
	const char *cls;
	enum qp_err err;
	int i, n = 0, rc = SQLITE_DONE;

	*found = 0;
	if ((err = db_begin_write(acc->db)) != QP_OK)
		return err;
	st = acc->st[ACC_STALE_FIND];
	sqlite3_bind_int64(st, 1, now - ACCOUNTING_PENDING_MAX_MS);
	sqlite3_bind_int64(st, 2, now - ACCOUNTING_HEARTBEAT_STALE_MS);
	sqlite3_bind_int64(st, 3, at_start && self > 0 ? self : -1);
	sqlite3_bind_int(st, 4, ACCOUNTING_BATCH);
	while (n < ACCOUNTING_BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(st, 0);
		old[n] = sqlite3_column_int(st, 1);
		n++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (n < ACCOUNTING_BATCH && rc != SQLITE_DONE) {
		err = QP_EDB;
		goto out;
	}
	for (i = 0; i < n; i++) {
		cls = old[i] ? "pending_too_long" : "process_interrupted";
		st = acc->st[ACC_STALE_ATTEMPTS];
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, ids[i]);
		sqlite3_bind_text(st, 3, cls, -1, SQLITE_STATIC);
		if ((err = accounting_step(st)) != QP_OK)
			goto out;
		rep->attempts += sqlite3_changes(acc->db);
		st = acc->st[ACC_STALE_RESERVATIONS];
		sqlite3_bind_int64(st, 1, ids[i]);
		if ((err = accounting_step(st)) != QP_OK)
			goto out;
		rep->reservations += sqlite3_changes(acc->db);
		st = acc->st[ACC_STALE_REQUEST];
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, ids[i]);
		sqlite3_bind_text(st, 3, cls, -1, SQLITE_STATIC);
		if ((err = accounting_step(st)) != QP_OK)
			goto out;
		if (sqlite3_changes(acc->db) == 0)
			continue;
		rep->requests++;
		if (old[i])
			rep->too_old++;
		else
			rep->dead_process++;
		if (acc->hook != NULL)
			(void)acc->hook(acc->hook_arg, ids[i]);
	}
	err = db_commit(acc->db);
out:
	if (err != QP_OK)
		db_rollback(acc->db);
	else
		*found = n;
	return err;
}

enum qp_err
accounting_finalize_stale(struct accounting_db *acc, int64_t self, int at_start, int64_t now,
    struct accounting_stale *report)
{
	struct accounting_stale rep;
	sqlite3_stmt *st;
	char details[256];
	enum qp_err err;
	int found;

	memset(&rep, 0, sizeof(rep));
	do {
		if ((err = accounting_stale_batch(acc, self, at_start, now, &rep, &found)) != QP_OK)
			goto out;
	} while (found == ACCOUNTING_BATCH);
	if ((err = db_begin_write(acc->db)) != QP_OK)
		goto out;
	st = acc->st[ACC_EXPIRED_RESERVATIONS];
	sqlite3_bind_int64(st, 1, now);
	if ((err = accounting_step(st)) != QP_OK)
		goto fail;
	rep.reservations += sqlite3_changes(acc->db);
	if (rep.requests > 0 || rep.attempts > 0 || rep.reservations > 0) {
		snprintf(details, sizeof(details), "{\"requests\":%lld,\"dead_process\":%lld,"
		    "\"too_old\":%lld,\"attempts\":%lld,\"reservations\":%lld}",
		    (long long)rep.requests, (long long)rep.dead_process, (long long)rep.too_old,
		    (long long)rep.attempts, (long long)rep.reservations);
		st = acc->st[ACC_EVENT_INSERT];
		sqlite3_bind_text(st, 1, at_start ? "crash_recovery" : "stale_finalized", -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 2, details, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		if ((err = accounting_step(st)) != QP_OK)
			goto fail;
	}
	err = db_commit(acc->db);
	goto out;
fail:
	db_rollback(acc->db);
out:
	if (report != NULL)
		*report = rep;
	return err;
}

enum qp_err
accounting_event(struct accounting_db *acc, const char *type, const char *details,
    int64_t now)
{
	sqlite3_stmt *st = acc->st[ACC_EVENT_INSERT];
	enum qp_err err;

	if ((err = db_begin_write(acc->db)) != QP_OK)
		return err;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, details, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if ((err = accounting_step(st)) != QP_OK) {
		db_rollback(acc->db);
		return err;
	}
	return db_commit(acc->db);
}

void
accounting_retention_from_config(const struct config *cfg, struct accounting_retention *r)
{

	memset(r, 0, sizeof(*r));
	r->requests_ms = (int64_t)cfg->retention.requests_days * ACCOUNTING_DAY_MS;
	r->events_ms = (int64_t)cfg->retention.events_days * ACCOUNTING_DAY_MS;
	r->batch = ACCOUNTING_BATCH;
}

int64_t
accounting_purge_cutoff(int64_t now, int64_t older_than_ms)
{
	int64_t t = now - older_than_ms, c;

	c = t / ACCOUNTING_DAY_MS * ACCOUNTING_DAY_MS;
	return c > t ? c - ACCOUNTING_DAY_MS : c;
}

/* Deletes with st the rows before cutoff in batches until a batch comes back short. */
static enum qp_err
accounting_purge_one(struct accounting_db *acc, sqlite3_stmt *st, int64_t cutoff, int batch,
    int64_t *deleted, int *batches)
{
	enum qp_err err;
	int n;

	do {
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, batch);
		if ((err = db_begin_write(acc->db)) != QP_OK) {
			sqlite3_clear_bindings(st);
			return err;
		}
		if ((err = accounting_step(st)) != QP_OK) {
			db_rollback(acc->db);
			return err;
		}
		n = sqlite3_changes(acc->db);
		if ((err = db_commit(acc->db)) != QP_OK)
			return err;
		*deleted += n;
		(*batches)++;
	} while (n >= batch);
	return QP_OK;
}

enum qp_err
accounting_purge(struct accounting_db *acc, const struct accounting_retention *r, int64_t now,
    struct accounting_purged *out)
{
	struct accounting_purged p;
	enum qp_err err;
	int batch = r->batch > 0 ? r->batch : ACCOUNTING_BATCH;

	memset(&p, 0, sizeof(p));
	err = QP_OK;
	if (r->requests_ms > 0) {
		p.cutoff = accounting_purge_cutoff(now, r->requests_ms);
		if ((err = accounting_purge_one(acc, acc->st[ACC_PURGE_REQUESTS], p.cutoff, batch,
		    &p.requests, &p.batches)) != QP_OK ||
		    (err = accounting_purge_one(acc, acc->st[ACC_PURGE_ATTEMPTS], p.cutoff, batch,
		    &p.attempts, &p.batches)) != QP_OK ||
		    (err = accounting_purge_one(acc, acc->st[ACC_PURGE_DECISIONS], p.cutoff, batch,
		    &p.decisions, &p.batches)) != QP_OK)
			goto out;
	}
	if (r->events_ms > 0) {
		p.events_cutoff = now - r->events_ms;
		err = accounting_purge_one(acc, acc->st[ACC_PURGE_EVENTS], p.events_cutoff, batch,
		    &p.events, &p.batches);
	}
out:
	if (out != NULL)
		*out = p;
	return err;
}
