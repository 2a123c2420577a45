/* stats_db.c: the read side of the statistics: statements, binds, and what the datasets share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "stats_db.h"

/* The five bucket ranges of a plan bound as ?1..?15, then the filters ?16..?19. */
#define STATS_PLAN_SQL "((bucket_s = ?1 AND bucket_start >= ?2 AND bucket_start < ?3) " \
	"OR (bucket_s = ?4 AND bucket_start >= ?5 AND bucket_start < ?6) " \
	"OR (bucket_s = ?7 AND bucket_start >= ?8 AND bucket_start < ?9) " \
	"OR (bucket_s = ?10 AND bucket_start >= ?11 AND bucket_start < ?12) " \
	"OR (bucket_s = ?13 AND bucket_start >= ?14 AND bucket_start < ?15))"
#define STATS_F_ACCOUNT_SQL " AND (?16 IS NULL OR account_name = ?16)"
#define STATS_F_PROVIDER_SQL " AND (?17 IS NULL OR provider_id = ?17)"
#define STATS_F_MODEL_SQL " AND (?18 IS NULL OR model = ?18)"
#define STATS_F_STATUS_SQL " AND (?19 IS NULL OR status = ?19)"
#define STATS_F_REQ_SQL STATS_F_ACCOUNT_SQL STATS_F_PROVIDER_SQL STATS_F_MODEL_SQL \
	STATS_F_STATUS_SQL

/* Statuses counted as errors: the gateway or upstream failed the client. */
#define STATS_ERROR_SQL "status IN ('error', 'interrupted', 'rejected')"
#define STATS_TOKENS_SQL "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"

/* The sums read by summary, models and accounts, in this column order. */
#define STATS_SUMS_SQL "sum(requests), sum(streamed), sum(attempts), sum(input_tokens), " \
	"sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), " \
	"sum(reasoning_tokens), sum(cost_microdollars), sum(bytes_in), sum(bytes_out), " \
	"sum(upstream_bytes), sum(total_ms_sum), sum(total_count), sum(ttft_ms_sum), " \
	"sum(ttft_count), sum(CASE WHEN status = 'completed' THEN requests ELSE 0 END), " \
	"sum(CASE WHEN " STATS_ERROR_SQL " THEN requests ELSE 0 END), " \
	"sum(CASE WHEN status = 'completed' THEN total_ms_sum ELSE 0 END), " \
	"sum(CASE WHEN status = 'completed' THEN total_count ELSE 0 END), " \
	"sum(CASE WHEN status = 'completed' THEN ttft_ms_sum ELSE 0 END), " \
	"sum(CASE WHEN status = 'completed' THEN ttft_count ELSE 0 END), " \
	"sum(CASE WHEN status = 'completed' THEN output_tokens ELSE 0 END)"

/* Columns of a request in lists and traces, in this order. */
#define STATS_REQ_COLS "request_uid, started_at, completed_at, status, status_code, " \
	"protocol, endpoint, model, model_base, provider_id, account_name, streamed, " \
	"attempt_count, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, " \
	"reasoning_tokens, cost_microdollars, cost_exactness, total_ms, ttft_ms, bytes_in, " \
	"bytes_out, error_class, retry_category, finish_reason, stream_complete, client_ip, " \
	"alias, alias_target, user_agent, client_family, method, path"

static const char *const stats_sql[STATS_ST__MAX] = {
	[STATS_ST_SUMMARY] = "SELECT status, sum(exact_count), sum(derived_count), "
	    "sum(partial_count), sum(estimated_count), sum(unknown_count), "
	    "sum(provider_reported_count), " STATS_SUMS_SQL
	    " FROM stats_requests WHERE " STATS_PLAN_SQL STATS_F_REQ_SQL " GROUP BY status",
	[STATS_ST_PROVIDERS] = "SELECT count(DISTINCT provider_id) FROM stats_requests "
	    "WHERE " STATS_PLAN_SQL STATS_F_REQ_SQL " AND provider_id <> ''",
	[STATS_ST_PENDING] = "SELECT count(*), min(started_at), total(streamed), "
	    "total(started_at < ?1 - 60000), total(started_at < ?1 - 600000), "
	    "total(started_at < ?1 - 3600000) FROM requests WHERE status = 'pending'",
	[STATS_ST_PENDING_OLDEST] = "SELECT request_uid, started_at, model, provider_id, "
	    "account_name, streamed, attempt_count, process_id FROM requests "
	    "WHERE status = 'pending' ORDER BY started_at, id LIMIT ?1",
	[STATS_ST_PENDING_PROCS] = "SELECT r.process_id, p.pid, p.hostname, p.heartbeat_at, "
	    "p.stopped_at, count(*) FROM requests AS r LEFT JOIN processes AS p "
	    "ON p.id = r.process_id WHERE r.status = 'pending' GROUP BY r.process_id "
	    "ORDER BY r.process_id",
	[STATS_ST_RESERVATIONS] = "SELECT count(*), total(expires_at <= ?1) FROM reservations",
	[STATS_ST_PROCESSES] = "SELECT total(stopped_at IS NULL AND heartbeat_at >= ?1), "
	    "total(stopped_at IS NULL AND heartbeat_at < ?1) FROM processes",
	[STATS_ST_BACKOFFS] = "SELECT account_name, reason, backoff_until, "
	    "consecutive_failures, status_code, error_class, updated_at, model_id "
	    "FROM account_backoffs WHERE backoff_until > ?1 ORDER BY account_name, model_id",
	[STATS_ST_INFLIGHT] = "SELECT account_name, count(*) FROM reservations "
	    "WHERE expires_at > ?1 GROUP BY account_name",
	[STATS_ST_OVERRIDES] = "SELECT account_name, updated_at, note FROM account_overrides "
	    "WHERE state = 'disabled'",
	[STATS_ST_ACCT_PERIOD] = "SELECT account_name, " STATS_SUMS_SQL
	    " FROM stats_requests WHERE " STATS_PLAN_SQL STATS_F_PROVIDER_SQL STATS_F_MODEL_SQL
	    " GROUP BY account_name",
	[STATS_ST_ACCT_WINDOW] = "SELECT account_name, sum(cost_microdollars), sum(requests), "
	    "sum(" STATS_TOKENS_SQL ") FROM stats_requests WHERE " STATS_PLAN_SQL
	    " GROUP BY account_name",
	[STATS_ST_ACCT_LASTERR] = "SELECT error_class, outcome, completed_at, status_code "
	    "FROM request_attempts WHERE account_name = ?1 AND outcome NOT IN ('ok', "
	    "'client_error', 'client_disconnected') ORDER BY completed_at DESC LIMIT 1",
	[STATS_ST_ACCT_RATELIMITS] = "SELECT model_id, kind, lim, remaining, reset_at, "
	    "updated_at FROM account_ratelimits WHERE account_name = ?1 AND (reset_at > ?2 OR "
	    "(reset_at IS NULL AND updated_at > ?2 - 3600000)) ORDER BY model_id, kind LIMIT 64",
	[STATS_ST_ACCT_TOKEN] = "SELECT expires_at, refreshed_at, last_attempt_at, last_result, "
	    "failures, refreshes, version, access_token IS NOT NULL FROM account_tokens "
	    "WHERE account_name = ?1",
	[STATS_ST_MODELS] = "SELECT provider_id, model, " STATS_SUMS_SQL
	    " FROM stats_requests WHERE " STATS_PLAN_SQL STATS_F_REQ_SQL
	    " GROUP BY provider_id, model ORDER BY sum(requests) DESC, provider_id, model",
	[STATS_ST_LATENCY] = "SELECT provider_id, model, metric, count, sum_us, bins "
	    "FROM stats_latency WHERE " STATS_PLAN_SQL STATS_F_PROVIDER_SQL STATS_F_MODEL_SQL
	    " ORDER BY provider_id, model",
	[STATS_ST_SERIES] = "SELECT CASE ?20 WHEN 0 THEN provider_id WHEN 1 THEN model "
	    "WHEN 2 THEN account_name ELSE model || '/' || provider_id END AS k, "
	    "bucket_start / ?21 * ?21 AS b, sum(CASE ?22 WHEN 0 THEN requests WHEN 1 THEN "
	    STATS_TOKENS_SQL " ELSE cost_microdollars END) FROM stats_requests WHERE "
	    STATS_PLAN_SQL STATS_F_REQ_SQL " GROUP BY k, b ORDER BY k, b",
	[STATS_ST_BANDWIDTH] = "SELECT bucket_start / 86400000 AS d, sum(bytes_in), "
	    "sum(bytes_out), sum(upstream_bytes), sum(requests) FROM stats_requests WHERE "
	    STATS_PLAN_SQL STATS_F_REQ_SQL " GROUP BY d ORDER BY d",
	[STATS_ST_ATTEMPTS] = "SELECT provider_id, outcome, retry_category, sum(attempts), "
	    "sum(total_ms_sum) FROM stats_attempts WHERE " STATS_PLAN_SQL STATS_F_ACCOUNT_SQL
	    STATS_F_PROVIDER_SQL STATS_F_MODEL_SQL " GROUP BY provider_id, outcome, "
	    "retry_category ORDER BY provider_id, sum(attempts) DESC",
	[STATS_ST_RETRIES] = "SELECT provider_id, model, status, sum(attempts_0), "
	    "sum(attempts_1), sum(attempts_2), sum(attempts_3), sum(attempts_4plus) "
	    "FROM stats_requests WHERE " STATS_PLAN_SQL STATS_F_REQ_SQL
	    " GROUP BY provider_id, model, status ORDER BY provider_id, model",
	[STATS_ST_ROUTING] = "SELECT model, account_name, provider_id, reason, sum(decisions) "
	    "FROM stats_routing WHERE " STATS_PLAN_SQL STATS_F_ACCOUNT_SQL STATS_F_PROVIDER_SQL
	    STATS_F_MODEL_SQL " GROUP BY model, account_name, provider_id, reason "
	    "ORDER BY sum(decisions) DESC, model, account_name",
	[STATS_ST_PINGS] = "SELECT provider_id, probed_at, ok, latency_ms FROM provider_pings "
	    "WHERE probed_at >= ?1 AND probed_at < ?2 AND (?3 IS NULL OR provider_id = ?3) "
	    "ORDER BY probed_at",
	[STATS_ST_PINGS_LAST] = "SELECT provider_id, probed_at, ok, status_code, error, "
	    "latency_ms, account_name, model_count FROM provider_pings "
	    "WHERE provider_id = ?3 AND probed_at >= ?1 AND probed_at < ?2 "
	    "ORDER BY probed_at DESC LIMIT 1",
	[STATS_ST_ERRORS] = "SELECT error_class, status, sum(requests), max(bucket_start) "
	    "FROM stats_errors WHERE " STATS_PLAN_SQL STATS_F_REQ_SQL
	    " GROUP BY error_class, status "
	    "ORDER BY sum(requests) DESC, error_class, status",
	[STATS_ST_ERRORS_RECENT] = "SELECT " STATS_REQ_COLS " FROM requests "
	    "WHERE status NOT IN ('pending', 'completed') AND completed_at >= ?1 "
	    "AND completed_at < ?2 AND (?3 IS NULL OR account_name = ?3) "
	    "AND (?4 IS NULL OR provider_id = ?4) AND (?5 IS NULL OR model_base = ?5) "
	    "AND (?6 IS NULL OR status = ?6) ORDER BY completed_at DESC, id DESC LIMIT ?7",
	[STATS_ST_EVENTS] = "SELECT id, event_type, details_json, occurred_at "
	    "FROM operational_events WHERE occurred_at >= ?1 AND occurred_at < ?2 "
	    "ORDER BY occurred_at DESC, id DESC LIMIT ?3",
	[STATS_ST_EVENT_COUNTS] = "SELECT event_type, count(*), max(occurred_at) "
	    "FROM operational_events WHERE occurred_at >= ?1 AND occurred_at < ?2 "
	    "GROUP BY event_type ORDER BY count(*) DESC, event_type",
	[STATS_ST_RECENT] = "SELECT * FROM (SELECT " STATS_REQ_COLS " FROM requests "
	    "WHERE started_at >= ?1 AND started_at < ?2 ORDER BY started_at DESC, id DESC "
	    "LIMIT ?8) WHERE (?3 IS NULL OR account_name = ?3) "
	    "AND (?4 IS NULL OR provider_id = ?4) AND (?5 IS NULL OR model_base = ?5) "
	    "AND (?6 IS NULL OR status = ?6) LIMIT ?7",
	[STATS_ST_TRANSLATED] = "SELECT count(*), total(translation_warnings > 0), "
	    "total(translation_warnings) FROM requests WHERE started_at >= ?1 AND started_at < ?2 "
	    "AND translation IS NOT NULL AND (?3 IS NULL OR account_name = ?3) "
	    "AND (?4 IS NULL OR provider_id = ?4) AND (?5 IS NULL OR model_base = ?5) "
	    "AND (?6 IS NULL OR status = ?6)",
	[STATS_ST_RECENT_EDGE] = "SELECT started_at FROM requests WHERE started_at >= ?1 "
	    "AND started_at < ?2 ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?3",
	[STATS_ST_TRACE_REQ] = "SELECT " STATS_REQ_COLS ", r.id, connect_ms, first_byte_ms, "
	    "overhead_us, upstream_bytes, k.name, translation, translation_warnings "
	    "FROM requests AS r LEFT JOIN client_keys AS k "
	    "ON k.id = r.client_key_id WHERE request_uid = ?1",
	[STATS_ST_TRACE_ATT] = "SELECT attempt_number, provider_id, account_name, model, "
	    "started_at, completed_at, status_code, outcome, retry_category, error_class, "
	    "connect_ms, first_byte_ms, total_ms, bytes_sent, bytes_received, "
	    "upstream_request_id FROM request_attempts WHERE request_id = ?1 "
	    "ORDER BY attempt_number",
	[STATS_ST_TRACE_DEC] = "SELECT attempt_number, model, chosen_account, chosen_provider, "
	    "tier, candidates, eligible, detail_json, decided_at FROM routing_decisions "
	    "WHERE request_id = ?1 ORDER BY attempt_number",
	[STATS_ST_CLIENTS] = "SELECT client_family, sum(requests), sum(streamed), "
	    "sum(CASE WHEN status = 'completed' THEN requests ELSE 0 END), "
	    "sum(CASE WHEN " STATS_ERROR_SQL " THEN requests ELSE 0 END), sum(input_tokens), "
	    "sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
	    "sum(cost_microdollars), sum(bytes_in), sum(bytes_out), sum(total_ms_sum), "
	    "sum(total_count) FROM stats_clients WHERE " STATS_PLAN_SQL STATS_F_STATUS_SQL
	    " GROUP BY client_family",
};

/* ---- statements ---------------------------------------------------------- */

void
stats_bind_opt(sqlite3_stmt *st, int i, const char *s)
{

	if (i > sqlite3_bind_parameter_count(st))
		return;
	if (s == NULL || s[0] == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

void
stats_bind_i(sqlite3_stmt *st, int i, int64_t v)
{

	if (i <= sqlite3_bind_parameter_count(st))
		sqlite3_bind_int64(st, i, v);
}

/* Resets st and binds the plan (?1..?15) and q's filters (?16..?19). */
void
stats_bind_plan(sqlite3_stmt *st, const struct stats_plan *p, const struct stats_query *q)
{
	int i;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (i = 0; i < STATS_PLAN_RANGES; i++) {
		if (i < p->n) {
			stats_bind_i(st, 3 * i + 1, p->r[i][0]);
			stats_bind_i(st, 3 * i + 2, p->r[i][1]);
			stats_bind_i(st, 3 * i + 3, p->r[i][2]);
		} else {
			stats_bind_i(st, 3 * i + 1, -1);
			stats_bind_i(st, 3 * i + 2, 0);
			stats_bind_i(st, 3 * i + 3, 0);
		}
	}
	stats_bind_opt(st, STATS_P_ACCOUNT, q != NULL ? q->account : NULL);
	stats_bind_opt(st, STATS_P_PROVIDER, q != NULL ? q->provider : NULL);
	stats_bind_opt(st, STATS_P_MODEL, q != NULL ? q->model : NULL);
	stats_bind_opt(st, STATS_P_STATUS, q != NULL ? q->status : NULL);
}

/* Resets st and binds the raw-table filters ?3 account ?4 provider ?5 model ?6 status. */
void
stats_bind_raw(sqlite3_stmt *st, int64_t from, int64_t to, const struct stats_query *q)
{

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	stats_bind_i(st, 1, from);
	stats_bind_i(st, 2, to);
	stats_bind_opt(st, 3, q->account);
	stats_bind_opt(st, 4, q->provider);
	stats_bind_opt(st, 5, q->model);
	stats_bind_opt(st, 6, q->status);
	stats_bind_i(st, 7, q->limit);
}

struct stats_db *
stats_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct stats_db *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	s->db = db;
	*err = db_prepare_all(db, stats_sql, STATS_ST__MAX, s->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(s);
		return NULL;
	}
	return s;
}

void
stats_db_free(struct stats_db *s)
{

	if (s == NULL)
		return;
	db_finalize_all(s->st, STATS_ST__MAX);
	free(s);
}

/* ---- JSON output ----------------------------------------------------------- */

void
stats_put_i(struct stats_out *o, cJSON *obj, const char *k, int64_t v)
{

	if (obj == NULL || cJSON_AddNumberToObject(obj, k, (double)v) == NULL)
		o->oom = 1;
}

void
stats_put_d(struct stats_out *o, cJSON *obj, const char *k, double v)
{
	cJSON *r;

	if (v != v)
		r = obj != NULL ? cJSON_AddNullToObject(obj, k) : NULL;
	else
		r = obj != NULL ? cJSON_AddNumberToObject(obj, k, v) : NULL;
	if (r == NULL)
		o->oom = 1;
}

/* A ratio rounded to 6 decimals; 0 when the denominator is 0. */
double
stats_ratio(double a, double b)
{
	double r;

	if (b <= 0)
		return 0;
	r = a / b;
	return (double)(int64_t)(r * 1e6 + (r >= 0 ? 0.5 : -0.5)) / 1e6;
}

/* A value rounded to 3 decimals. */
double
stats_round3(double v)
{

	return (double)(int64_t)(v * 1e3 + (v >= 0 ? 0.5 : -0.5)) / 1e3;
}

void
stats_put_s(struct stats_out *o, cJSON *obj, const char *k, const char *s)
{
	cJSON *r;

	if (obj == NULL)
		r = NULL;
	else if (s == NULL)
		r = cJSON_AddNullToObject(obj, k);
	else
		r = cJSON_AddStringToObject(obj, k, s);
	if (r == NULL)
		o->oom = 1;
}

void
stats_put_b(struct stats_out *o, cJSON *obj, const char *k, int v)
{

	if (obj == NULL || cJSON_AddBoolToObject(obj, k, v != 0) == NULL)
		o->oom = 1;
}

void
stats_put_null(struct stats_out *o, cJSON *obj, const char *k)
{

	if (obj == NULL || cJSON_AddNullToObject(obj, k) == NULL)
		o->oom = 1;
}

/* Puts a time as k (ms) and k_utc (ISO text); both null when t <= 0. */
void
stats_put_t(struct stats_out *o, cJSON *obj, const char *k, int64_t t)
{
	char name[64], iso[32];

	snprintf(name, sizeof(name), "%s_utc", k);
	if (t <= 0) {
		stats_put_null(o, obj, k);
		stats_put_null(o, obj, name);
		return;
	}
	stats_iso(t, iso, sizeof(iso));
	stats_put_i(o, obj, k, t);
	stats_put_s(o, obj, name, iso);
}

/* Puts column i of st as an integer, or null. */
void
stats_put_ci(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st, int i)
{

	if (stats_cnull(st, i))
		stats_put_null(o, obj, k);
	else
		stats_put_i(o, obj, k, stats_ci(st, i));
}

/* Puts column i of st as text, or null. */
void
stats_put_cs(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st, int i)
{

	stats_put_s(o, obj, k, stats_cnull(st, i) ? NULL : stats_cs(st, i));
}

cJSON *
stats_add_obj(struct stats_out *o, cJSON *parent, const char *k)
{
	cJSON *c = parent != NULL ? cJSON_AddObjectToObject(parent, k) : NULL;

	if (c == NULL)
		o->oom = 1;
	return c;
}

cJSON *
stats_add_arr(struct stats_out *o, cJSON *parent, const char *k)
{
	cJSON *c = parent != NULL ? cJSON_AddArrayToObject(parent, k) : NULL;

	if (c == NULL)
		o->oom = 1;
	return c;
}

/* Appends a new object to arr. */
cJSON *
stats_arr_obj(struct stats_out *o, cJSON *arr)
{
	cJSON *c;

	c = arr != NULL ? cJSON_CreateObject() : NULL;
	if (c == NULL) {
		o->oom = 1;
		return NULL;
	}
	if (!cJSON_AddItemToArray(arr, c)) {
		cJSON_Delete(c);
		o->oom = 1;
		return NULL;
	}
	return c;
}

/* Appends a number to arr. */
void
stats_arr_num(struct stats_out *o, cJSON *arr, double v)
{
	cJSON *c;

	c = arr != NULL ? cJSON_CreateNumber(v) : NULL;
	if (c == NULL) {
		o->oom = 1;
		return;
	}
	if (!cJSON_AddItemToArray(arr, c)) {
		cJSON_Delete(c);
		o->oom = 1;
	}
}

/* Starts an answer: period, covered range, now and the filters applied. */
cJSON *
stats_begin(struct stats_out *o, const struct stats_query *q, int64_t from, int64_t to,
    unsigned filters)
{
	cJSON *root, *f;

	o->oom = 0;
	root = cJSON_CreateObject();
	if (root == NULL) {
		o->oom = 1;
		return NULL;
	}
	stats_put_s(o, root, "period", q->label);
	stats_put_t(o, root, "from", from);
	stats_put_t(o, root, "to", to);
	stats_put_t(o, root, "now", q->now);
	f = stats_add_obj(o, root, "filters");
	if ((filters & STATS_F_ACCOUNT) && q->account[0])
		stats_put_s(o, f, "account", q->account);
	if ((filters & STATS_F_PROVIDER) && q->provider[0])
		stats_put_s(o, f, "provider", q->provider);
	if ((filters & STATS_F_MODEL) && q->model[0])
		stats_put_s(o, f, "model", q->model);
	if ((filters & STATS_F_STATUS) && q->status[0])
		stats_put_s(o, f, "status", q->status);
	return root;
}

/* Ends an answer: root, or NULL with *err when something failed. */
cJSON *
stats_end(struct stats_out *o, cJSON *root, enum qp_err dberr, enum qp_err *err)
{

	if (root == NULL || o->oom)
		dberr = dberr != QP_OK ? dberr : QP_ENOMEM;
	if (dberr != QP_OK) {
		cJSON_Delete(root);
		*err = dberr;
		return NULL;
	}
	*err = QP_OK;
	return root;
}

/* ---- sums ------------------------------------------------------------------ */

/* Adds the STATS_SUMS_SQL columns of st starting at col. */
void
stats_sums_add(struct stats_sums *s, sqlite3_stmt *st, int col)
{
	int i;

	for (i = 0; i < STATS_SUM__MAX; i++)
		s->v[i] += stats_ci(st, col + i);
}

int64_t
stats_sums_tokens(const struct stats_sums *s)
{

	return s->v[STATS_SUM_IN] + s->v[STATS_SUM_OUT] + s->v[STATS_SUM_CACHE_READ] + s->v[STATS_SUM_CACHE_WRITE];
}

/* Average latency (ms, 3 decimals) of completed requests, or NaN (null) without any. */
double
stats_avg(int64_t sum, int64_t n)
{

	return n > 0 ? stats_round3((double)sum / (double)n) : NAN;
}

/* Cache-read share of the prompt: cache read / (input + cache read + cache write). */
double
stats_cache_ratio(const struct stats_sums *s)
{

	return stats_ratio((double)s->v[STATS_SUM_CACHE_READ],
	    (double)(s->v[STATS_SUM_IN] + s->v[STATS_SUM_CACHE_READ] + s->v[STATS_SUM_CACHE_WRITE]));
}

/* The per-group usage fields of models and accounts. */
void
stats_put_usage(struct stats_out *o, cJSON *obj, const struct stats_sums *s)
{
	int64_t tokens = stats_sums_tokens(s);

	stats_put_i(o, obj, "requests", s->v[STATS_SUM_REQUESTS]);
	stats_put_i(o, obj, "successful_requests", s->v[STATS_SUM_OK]);
	stats_put_i(o, obj, "error_requests", s->v[STATS_SUM_ERRORS]);
	stats_put_d(o, obj, "error_rate", stats_ratio((double)s->v[STATS_SUM_ERRORS],
	    (double)s->v[STATS_SUM_REQUESTS]));
	stats_put_i(o, obj, "input_tokens", s->v[STATS_SUM_IN]);
	stats_put_i(o, obj, "output_tokens", s->v[STATS_SUM_OUT]);
	stats_put_i(o, obj, "cache_read_tokens", s->v[STATS_SUM_CACHE_READ]);
	stats_put_i(o, obj, "cache_write_tokens", s->v[STATS_SUM_CACHE_WRITE]);
	stats_put_i(o, obj, "reasoning_tokens", s->v[STATS_SUM_REASONING]);
	stats_put_i(o, obj, "total_tokens", tokens);
	stats_put_i(o, obj, "cost_microdollars", s->v[STATS_SUM_COST]);
	stats_put_d(o, obj, "cost_per_1k_tokens_microdollars",
	    stats_round3(tokens > 0 ? (double)s->v[STATS_SUM_COST] * 1000.0 / (double)tokens : 0));
	stats_put_d(o, obj, "cache_read_ratio", stats_cache_ratio(s));
	stats_put_d(o, obj, "avg_latency_ms", stats_avg(s->v[STATS_SUM_OK_TOTAL_MS],
	    s->v[STATS_SUM_OK_TOTAL_N]));
	stats_put_d(o, obj, "avg_ttft_ms", stats_avg(s->v[STATS_SUM_OK_TTFT_MS], s->v[STATS_SUM_OK_TTFT_N]));
}

/* ---- account health ---------------------------------------------------------- */

/* The running backoff rows (at now), malloc'd into *out (caller frees); count in *n. */
enum qp_err
stats_backoffs_load(struct stats_db *s, int64_t now, struct stats_backoff **out, int *n)
{
	sqlite3_stmt *st = s->st[STATS_ST_BACKOFFS];
	struct stats_backoff *v = NULL, *t;
	enum qp_err err = QP_OK;
	int cap = 0, rc;

	*out = NULL;
	*n = 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	for (rc = stats_step(st, &err); rc == 1; rc = stats_step(st, &err)) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			t = realloc(v, (size_t)cap * sizeof(*v));
			if (t == NULL) {
				sqlite3_reset(st);
				free(v);
				return QP_ENOMEM;
			}
			v = t;
		}
		t = &v[*n];
		memset(t, 0, sizeof(*t));
		snprintf(t->account, sizeof(t->account), "%s", stats_cs(st, 0));
		snprintf(t->reason, sizeof(t->reason), "%s", stats_cs(st, 1));
		t->until = stats_ci(st, 2);
		t->failures = stats_ci(st, 3);
		t->status_code = stats_ci(st, 4);
		snprintf(t->error_class, sizeof(t->error_class), "%s", stats_cs(st, 5));
		t->updated_at = stats_ci(st, 6);
		snprintf(t->model, sizeof(t->model), "%s", stats_cs(st, 7));
		(*n)++;
	}
	if (rc < 0) {
		free(v);
		*n = 0;
		return err;
	}
	*out = v;
	return QP_OK;
}

const struct stats_backoff *
stats_backoff_find(const struct stats_backoff *v, int n, const char *account)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i].model[0] == '\0' && strcmp(v[i].account, account) == 0)
			return &v[i];
	return NULL;
}

static const char *const stats_state_names[STATS_STATE__MAX] = {
	[STATS_STATE_OK] = "ok",
	[STATS_STATE_BACKOFF] = "backoff",
	[STATS_STATE_QUARANTINED] = "quarantined",
	[STATS_STATE_DISABLED] = "disabled",
};

const char *
stats_state_name(enum stats_state st)
{

	return (unsigned)st < STATS_STATE__MAX ? stats_state_names[st] : "";
}

enum stats_state
stats_account_state(const struct config_provider *p, const struct config_account *a,
    const char *backoff_reason)
{

	if (!p->enabled || !a->enabled)
		return STATS_STATE_DISABLED;
	if (backoff_reason == NULL)
		return STATS_STATE_OK;
	return strcmp(backoff_reason, "auth_failure") == 0 ? STATS_STATE_QUARANTINED :
	    STATS_STATE_BACKOFF;
}

/* The state of a configured account given the running backoff rows. */
enum stats_state
stats_state(const struct config_provider *p, const struct config_account *a,
    const struct stats_backoff *b)
{

	return stats_account_state(p, a, b != NULL ? b->reason : NULL);
}

/* Puts the pending-request and account-state block "health" into root. */
enum qp_err
stats_put_health(struct stats_db *s, const struct config *cfg, int64_t now,
    struct stats_out *o, cJSON *root)
{
	sqlite3_stmt *st = s->st[STATS_ST_PENDING];
	struct stats_backoff *bo = NULL;
	int64_t counts[STATS_STATE__MAX] = { 0 }, oldest = 0, pending = 0, streamed = 0;
	enum qp_err err = QP_OK;
	cJSON *h;
	int i, j, n = 0, rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	rc = stats_step(st, &err);
	if (rc < 0)
		return err;
	if (rc == 1) {
		pending = stats_ci(st, 0);
		oldest = stats_cnull(st, 1) ? 0 : stats_ci(st, 1);
		streamed = stats_ci(st, 2);
		sqlite3_reset(st);
	}
	err = stats_backoffs_load(s, now, &bo, &n);
	if (err != QP_OK)
		return err;
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++)
			counts[stats_state(&cfg->providers[i], &cfg->providers[i].accounts[j],
			    stats_backoff_find(bo, n, cfg->providers[i].accounts[j].name))]++;
	free(bo);
	h = stats_add_obj(o, root, "health");
	stats_put_i(o, h, "pending_requests", pending);
	stats_put_i(o, h, "pending_streamed", streamed);
	if (pending > 0) {
		stats_put_i(o, h, "oldest_pending_age_ms", now > oldest ? now - oldest : 0);
		stats_put_t(o, h, "oldest_pending_started_at", oldest);
	} else {
		stats_put_null(o, h, "oldest_pending_age_ms");
		stats_put_t(o, h, "oldest_pending_started_at", 0);
	}
	stats_put_i(o, h, "accounts_total", counts[0] + counts[1] + counts[2] + counts[3]);
	stats_put_i(o, h, "accounts_ok", counts[STATS_STATE_OK]);
	stats_put_i(o, h, "accounts_in_backoff", counts[STATS_STATE_BACKOFF]);
	stats_put_i(o, h, "accounts_quarantined", counts[STATS_STATE_QUARANTINED]);
	stats_put_i(o, h, "accounts_disabled", counts[STATS_STATE_DISABLED]);
	stats_put_i(o, root, "active_streams", pending);
	return QP_OK;
}
