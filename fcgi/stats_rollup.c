/* stats_rollup.c: the rollup writer: adds each finalized request to the stats_* tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "stats_db.h"
#include "stats_detail.h"
#include "stats_hist.h"
#include "stats_query.h"
#include "stats_rollup.h"
#include "stats_time.h"

/* The granularities a rollup row is written at: bucket_s values. */
#define STATS_GRAN_SQL "(SELECT 300 AS s UNION ALL SELECT 3600 UNION ALL SELECT 86400 " \
	"UNION ALL SELECT 0) AS g"
#define STATS_BUCKET_SQL(t) "CASE WHEN g.s = 0 THEN 0 ELSE (" t ") / (g.s * 1000) * " \
	"(g.s * 1000) END"

enum stats_rstmt {
	STATS_RU_SAVEPOINT,	/* open the savepoint */
	STATS_RU_RELEASE,	/* keep what it did */
	STATS_RU_ROLLBACK,	/* undo what it did */
	STATS_RU_REQUEST,	/* the finalized request's row, read once (STATS_RC_* columns) */
	STATS_RU_REQUESTS,	/* add it to stats_requests */
	STATS_RU_ERRORS,	/* add it to stats_errors (only when it did not complete) */
	STATS_RU_LATENCY,	/* add its latencies to stats_latency */
	STATS_RU_ATTEMPTS,	/* its attempts */
	STATS_RU_ATTEMPT,	/* add one attempt to stats_attempts */
	STATS_RU_DECISIONS,	/* its routing decisions */
	STATS_RU_ROUTING,	/* add one chosen, no_account or exclusion row to stats_routing */
	STATS_RU_EXCLUDED,	/* add the exclusions of one decision the detail scanner left */
	STATS_RU_KNOWN,		/* does a provider's catalog list a model */
	STATS_RU_OLDEST,	/* oldest 5-minute bucket */
	STATS_RU_PRUNE_REQ,	/* delete old 5-minute rows, one table each */
	STATS_RU_PRUNE_ERR,
	STATS_RU_PRUNE_LAT,
	STATS_RU_PRUNE_ATT,
	STATS_RU_PRUNE_ROUTE,
	STATS_RU_PRUNE_CLIENTS,
	STATS_RU_CLIENTS,	/* add the request to stats_clients */
	STATS_RU__MAX
};

/*
 * Columns of STATS_RU_REQUEST. The first STATS_RC__BOUND are bound, in
 * this order, as ?1.. of STATS_RU_REQUESTS.
 */
enum stats_rcol {
	STATS_RC_COMPLETED,	/* completed_at */
	STATS_RC_PROVIDER,	/* provider_id, '' = none */
	STATS_RC_MODEL,		/* model_base, '' = unknown */
	STATS_RC_ACCOUNT,	/* account_name, '' = none */
	STATS_RC_STATUS,	/* status */
	STATS_RC_STREAMED,	/* streamed */
	STATS_RC_ATTEMPTS,	/* attempt_count */
	STATS_RC_INPUT,		/* input_tokens */
	STATS_RC_OUTPUT,	/* output_tokens */
	STATS_RC_CACHE_READ,	/* cache_read_tokens */
	STATS_RC_CACHE_WRITE,	/* cache_write_tokens */
	STATS_RC_REASONING,	/* reasoning_tokens */
	STATS_RC_COST,		/* cost_microdollars */
	STATS_RC_BYTES_IN,	/* bytes_in */
	STATS_RC_BYTES_OUT,	/* bytes_out */
	STATS_RC_UPSTREAM,	/* upstream_bytes */
	STATS_RC_TOTAL,		/* total_ms */
	STATS_RC_TTFT,		/* ttft_ms */
	STATS_RC_EXACTNESS,	/* cost_exactness */
	STATS_RC__BOUND,	/* (the columns below are read in C) */
	STATS_RC_ERROR_CLASS = STATS_RC__BOUND, /* error_class, '' = none */
	STATS_RC_CONNECT,	/* connect_ms */
	STATS_RC_FIRST_BYTE,	/* first_byte_ms */
	STATS_RC_OVERHEAD,	/* overhead_us */
	STATS_RC__MAX
};

/*
 * STATS_RU_LATENCY: ?1 completed_at, ?2 provider, ?3 model, then for
 * each metric m its name, bin (NULL = unknown: no row) and value in
 * microseconds from STATS_LAT_PARAM(m); one row per granularity and
 * known metric, from a compound SELECT (a join would be materialized).
 */
#define STATS_LAT_PARAM(m)	(4 + 3 * (m))
#define STATS_LAT_ROW(s, b, n, bin, v) "SELECT " s ", " b ", ?2, ?3, ?" n ", 1, ?" v ", " \
	STATS_BINS_FN "(NULL, ?" bin ") WHERE ?" bin " IS NOT NULL"
#define STATS_LAT_GRAN(s, b) STATS_LAT_ROW(s, b, "4", "5", "6") " UNION ALL " \
	STATS_LAT_ROW(s, b, "7", "8", "9") " UNION ALL " STATS_LAT_ROW(s, b, "10", "11", "12") \
	" UNION ALL " STATS_LAT_ROW(s, b, "13", "14", "15") " UNION ALL " \
	STATS_LAT_ROW(s, b, "16", "17", "18")
_Static_assert(STATS_LAT__MAX == 5, "STATS_LAT_GRAN has one row per latency");
/* Columns of a STATS_RU_ATTEMPTS row. */
#define STATS_ATT_NCOL		7

/* Columns of STATS_RU_DECISIONS; the 2nd to 6th are ?1..?5 of STATS_RU_ROUTING. */
enum stats_dcol {
	STATS_DC_ATTEMPT,	/* attempt_number */
	STATS_DC_DECIDED,	/* decided_at */
	STATS_DC_MODEL,		/* model */
	STATS_DC_ACCOUNT,	/* chosen account, '' = none */
	STATS_DC_PROVIDER,	/* its provider, '' = none */
	STATS_DC_REASON,	/* chosen or no_account */
	STATS_DC_DETAIL,	/* detail_json */
	STATS_DC__MAX
};

static const char *const stats_rollup_sql[STATS_RU__MAX] = {
	[STATS_RU_SAVEPOINT] = "SAVEPOINT stats_rollup",
	[STATS_RU_RELEASE] = "RELEASE stats_rollup",
	[STATS_RU_ROLLBACK] = "ROLLBACK TO stats_rollup",
	[STATS_RU_REQUEST] = "SELECT completed_at, coalesce(provider_id, ''), "
	    "coalesce(model_base, ''), coalesce(account_name, ''), status, streamed, "
	    "attempt_count, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
	    "reasoning_tokens, cost_microdollars, bytes_in, bytes_out, upstream_bytes, total_ms, "
	    "ttft_ms, cost_exactness, coalesce(error_class, ''), connect_ms, first_byte_ms, "
	    "overhead_us FROM requests WHERE id = ?1",
	/* ?1.. are the STATS_RC_* columns of the request. */
	[STATS_RU_REQUESTS] = "INSERT INTO stats_requests (bucket_s, bucket_start, "
	    "provider_id, model, account_name, status, requests, streamed, attempts, "
	    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
	    "reasoning_tokens, cost_microdollars, bytes_in, bytes_out, upstream_bytes, "
	    "total_ms_sum, total_count, ttft_ms_sum, ttft_count, exact_count, derived_count, "
	    "partial_count, estimated_count, provider_reported_count, unknown_count, "
	    "attempts_0, attempts_1, attempts_2, attempts_3, attempts_4plus) "
	    "SELECT g.s, " STATS_BUCKET_SQL("?1") ", ?2, ?3, ?4, ?5, 1, ?6 != 0, ?7, ?8, ?9, "
	    "?10, ?11, ?12, ?13, ?14, ?15, ?16, coalesce(?17, 0), ?17 IS NOT NULL, "
	    "coalesce(?18, 0), ?18 IS NOT NULL, ?19 = 'exact', ?19 = 'derived', "
	    "?19 = 'partial', ?19 = 'estimated', ?19 = 'provider_reported', ?19 NOT IN "
	    "('exact', 'derived', 'partial', 'estimated', 'provider_reported'), ?7 <= 0, "
	    "?7 = 1, ?7 = 2, ?7 = 3, ?7 >= 4 FROM " STATS_GRAN_SQL " WHERE 1 "
	    "ON CONFLICT (bucket_s, bucket_start, provider_id, model, account_name, status) "
	    "DO UPDATE SET requests = requests + excluded.requests, "
	    "streamed = streamed + excluded.streamed, attempts = attempts + excluded.attempts, "
	    "input_tokens = input_tokens + excluded.input_tokens, "
	    "output_tokens = output_tokens + excluded.output_tokens, "
	    "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
	    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
	    "reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, "
	    "cost_microdollars = cost_microdollars + excluded.cost_microdollars, "
	    "bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out, "
	    "upstream_bytes = upstream_bytes + excluded.upstream_bytes, "
	    "total_ms_sum = total_ms_sum + excluded.total_ms_sum, "
	    "total_count = total_count + excluded.total_count, "
	    "ttft_ms_sum = ttft_ms_sum + excluded.ttft_ms_sum, "
	    "ttft_count = ttft_count + excluded.ttft_count, "
	    "exact_count = exact_count + excluded.exact_count, "
	    "derived_count = derived_count + excluded.derived_count, "
	    "partial_count = partial_count + excluded.partial_count, "
	    "estimated_count = estimated_count + excluded.estimated_count, "
	    "provider_reported_count = provider_reported_count + excluded.provider_reported_count, "
	    "unknown_count = unknown_count + excluded.unknown_count, "
	    "attempts_0 = attempts_0 + excluded.attempts_0, "
	    "attempts_1 = attempts_1 + excluded.attempts_1, "
	    "attempts_2 = attempts_2 + excluded.attempts_2, "
	    "attempts_3 = attempts_3 + excluded.attempts_3, "
	    "attempts_4plus = attempts_4plus + excluded.attempts_4plus",
	/* ?1 completed_at, ?2 provider, ?3 model, ?4 account, ?5 status, ?6 error class. */
	[STATS_RU_ERRORS] = "INSERT INTO stats_errors (bucket_s, bucket_start, provider_id, "
	    "model, account_name, status, error_class, requests) SELECT g.s, "
	    STATS_BUCKET_SQL("?1") ", ?2, ?3, ?4, ?5, ?6, 1 FROM " STATS_GRAN_SQL " WHERE 1 "
	    "ON CONFLICT (bucket_s, bucket_start, provider_id, model, account_name, status, "
	    "error_class) DO UPDATE SET requests = requests + excluded.requests",
	/* Parameters: see STATS_LAT_PARAM. */
	[STATS_RU_LATENCY] = "INSERT INTO stats_latency (bucket_s, bucket_start, provider_id, "
	    "model, metric, count, sum_us, bins) "
	    STATS_LAT_GRAN("300", "?1 / 300000 * 300000") " UNION ALL "
	    STATS_LAT_GRAN("3600", "?1 / 3600000 * 3600000") " UNION ALL "
	    STATS_LAT_GRAN("86400", "?1 / 86400000 * 86400000") " UNION ALL "
	    STATS_LAT_GRAN("0", "0") " "
	    "ON CONFLICT (bucket_s, bucket_start, provider_id, model, metric) DO UPDATE SET "
	    "count = count + 1, sum_us = sum_us + excluded.sum_us, "
	    "bins = " STATS_BINS_FN "(bins, excluded.bins)",
	/* ?2 is the request's completed_at, for attempts never closed; columns = ?1.. of the next. */
	[STATS_RU_ATTEMPTS] = "SELECT coalesce(completed_at, ?2), provider_id, account_name, "
	    "model, coalesce(outcome, ''), coalesce(retry_category, ''), coalesce(total_ms, 0) "
	    "FROM request_attempts WHERE request_id = ?1",
	[STATS_RU_ATTEMPT] = "INSERT INTO stats_attempts (bucket_s, bucket_start, provider_id, "
	    "account_name, model, outcome, retry_category, attempts, total_ms_sum) "
	    "SELECT g.s, " STATS_BUCKET_SQL("?1") ", ?2, ?3, ?4, ?5, ?6, 1, ?7 FROM "
	    STATS_GRAN_SQL " WHERE 1 "
	    "ON CONFLICT (bucket_s, bucket_start, provider_id, account_name, model, outcome, "
	    "retry_category) DO UPDATE SET attempts = attempts + excluded.attempts, "
	    "total_ms_sum = total_ms_sum + excluded.total_ms_sum",
	[STATS_RU_DECISIONS] = "SELECT attempt_number, decided_at, model, "
	    "coalesce(chosen_account, ''), "
	    "CASE WHEN chosen_account IS NULL THEN '' ELSE coalesce(chosen_provider, '') END, "
	    "CASE WHEN chosen_account IS NULL THEN 'no_account' ELSE 'chosen' END, detail_json "
	    "FROM routing_decisions WHERE request_id = ?1",
	/* ?1 decided_at, ?2 model, ?3 account, ?4 provider, ?5 reason. */
	[STATS_RU_ROUTING] = "INSERT INTO stats_routing (bucket_s, bucket_start, model, "
	    "account_name, provider_id, reason, decisions) SELECT g.s, " STATS_BUCKET_SQL("?1")
	    ", ?2, ?3, ?4, ?5, 1 FROM " STATS_GRAN_SQL " WHERE 1 "
	    "ON CONFLICT (bucket_s, bucket_start, model, account_name, provider_id, reason) "
	    "DO UPDATE SET decisions = decisions + excluded.decisions",
	/*
	 * What stats_detail_scan() reads, by SQLite's JSON functions, for one
	 * decision; ?3 is STATS_UNKNOWN_MODEL for an unknown model, else NULL.
	 */
	[STATS_RU_EXCLUDED] = "INSERT INTO stats_routing (bucket_s, bucket_start, model, "
	    "account_name, provider_id, reason, decisions) SELECT g.s, "
	    STATS_BUCKET_SQL("x.decided_at") ", x.model, x.account, x.provider, x.reason, 1 "
	    "FROM (SELECT d.decided_at AS decided_at, coalesce(?3, d.model) AS model, "
	    "substr(coalesce(CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.account') "
	    "END, ''), 1, 128) AS account, "
	    "substr(coalesce(CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.provider') "
	    "END, ''), 1, 128) AS provider, "
	    "substr(CASE WHEN j.type <> 'object' THEN NULL "
	    "WHEN json_extract(j.value, '$.reason') = 'backoff' AND "
	    "json_type(j.value, '$.backoff') = 'text' THEN 'backoff:' || "
	    "json_extract(j.value, '$.backoff') ELSE json_extract(j.value, '$.reason') END, "
	    "1, 64) AS reason FROM routing_decisions AS d, json_each(CASE WHEN "
	    "json_valid(d.detail_json) THEN d.detail_json ELSE '{}' END, '$.accounts') AS j "
	    "WHERE d.request_id = ?1 AND d.attempt_number = ?2) AS x, " STATS_GRAN_SQL " "
	    "WHERE typeof(x.reason) = 'text' AND x.reason <> 'eligible' "
	    "ON CONFLICT (bucket_s, bucket_start, model, account_name, provider_id, reason) "
	    "DO UPDATE SET decisions = decisions + excluded.decisions",
	/* The static models of the configuration are catalog rows too (catalog.h). */
	[STATS_RU_KNOWN] = "SELECT 1 FROM model_catalog WHERE model_id = ?1 LIMIT 1",
	[STATS_RU_OLDEST] = "SELECT min(x) FROM ("
	    "SELECT min(bucket_start) AS x FROM stats_requests WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_latency WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_attempts WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_routing WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_clients WHERE bucket_s = 300)",
	[STATS_RU_PRUNE_REQ] = "DELETE FROM stats_requests WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	[STATS_RU_PRUNE_ERR] = "DELETE FROM stats_errors WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	[STATS_RU_PRUNE_LAT] = "DELETE FROM stats_latency WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	[STATS_RU_PRUNE_ATT] = "DELETE FROM stats_attempts WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	[STATS_RU_PRUNE_ROUTE] = "DELETE FROM stats_routing WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	[STATS_RU_PRUNE_CLIENTS] = "DELETE FROM stats_clients WHERE bucket_s = 300 "
	    "AND bucket_start < ?1",
	/* ?1 the request's id; a family the row does not name (older rows) counts as other. */
	[STATS_RU_CLIENTS] = "INSERT INTO stats_clients (bucket_s, bucket_start, client_family, "
	    "status, requests, streamed, input_tokens, output_tokens, cache_read_tokens, "
	    "cache_write_tokens, cost_microdollars, bytes_in, bytes_out, total_ms_sum, "
	    "total_count) SELECT g.s, " STATS_BUCKET_SQL("r.completed_at") ", "
	    "coalesce(r.client_family, 'other'), r.status, 1, r.streamed != 0, r.input_tokens, "
	    "r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cost_microdollars, "
	    "r.bytes_in, r.bytes_out, coalesce(r.total_ms, 0), r.total_ms IS NOT NULL "
	    "FROM requests AS r, " STATS_GRAN_SQL " WHERE r.id = ?1 "
	    "ON CONFLICT (bucket_s, bucket_start, client_family, status) DO UPDATE SET "
	    "requests = requests + excluded.requests, streamed = streamed + excluded.streamed, "
	    "input_tokens = input_tokens + excluded.input_tokens, "
	    "output_tokens = output_tokens + excluded.output_tokens, "
	    "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
	    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
	    "cost_microdollars = cost_microdollars + excluded.cost_microdollars, "
	    "bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out, "
	    "total_ms_sum = total_ms_sum + excluded.total_ms_sum, "
	    "total_count = total_count + excluded.total_count",
};

/* Longest model id whose catalog answer the rollup of one request remembers. */
#define STATS_MEMO_MAX		256

struct stats_rollup {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[STATS_RU__MAX];	/* prepared statements */
	struct stats_entry *ent;		/* scratch: the account entries of one decision */
	size_t		 nent;			/* entries used */
	size_t		 ment;			/* entries allocated */
	/* The last catalog answer, valid during one stats_rollup_request(). */
	char		 memo[STATS_MEMO_MAX];	/* model id looked up */
	size_t		 memo_len;		/* its length, 0 = none */
	int		 memo_known;		/* 1 if a catalog lists it */
};

/* Most account entries of one decision kept from the scanner; beyond, SQLite reads. */
#define STATS_DETAIL_ENTRIES	65536
/* Characters kept of an account or provider, and of a reason (as the rollup has always cut them). */
#define STATS_ROUTE_NAME_MAX	128
#define STATS_ROUTE_REASON_MAX	64

struct stats_rollup *
stats_rollup_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct stats_rollup *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	r->db = db;
	if (sqlite3_create_function_v2(db, STATS_BINS_FN, 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC |
	    SQLITE_DIRECTONLY, NULL, stats_bins_add_fn, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot register %s: %s", STATS_BINS_FN,
		    sqlite3_errmsg(db));
		free(r);
		*err = QP_EDB;
		return NULL;
	}
	*err = db_prepare_all(db, stats_rollup_sql, STATS_RU__MAX, r->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(r);
		return NULL;
	}
	return r;
}

void
stats_rollup_free(struct stats_rollup *r)
{

	if (r == NULL)
		return;
	db_finalize_all(r->st, STATS_RU__MAX);
	free(r->ent);
	free(r);
}

/* ---- the rollup of one request ------------------------------------------- */

/* Runs a statement that returns no row; QP_EDB on failure. */
static enum qp_err
stats_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? QP_OK : QP_EDB;
}

/* Keeps one account entry in r->ent; -1 when there are too many or no memory. */
static int
stats_rollup_keep(void *arg, const struct stats_entry *e)
{
	struct stats_rollup *r = arg;
	struct stats_entry *n;
	size_t m;

	if (r->nent == r->ment) {
		m = r->ment != 0 ? r->ment * 2 : 16;
		if (m > STATS_DETAIL_ENTRIES || (n = realloc(r->ent, m * sizeof(*n))) == NULL)
			return -1;
		r->ent = n;
		r->ment = m;
	}
	r->ent[r->nent++] = *e;
	return 0;
}

/*
 * Adds one account entry of the decision on dec's row to stats_routing, if
 * it is an exclusion; label NULL counts it under the decision's model.
 */
static enum qp_err
stats_rollup_exclusion(struct stats_rollup *r, sqlite3_stmt *dec, const struct stats_entry *e,
    const char *label)
{
	sqlite3_stmt *st = r->st[STATS_RU_ROUTING];
	char reason[STATS_ROUTE_REASON_MAX + 1];
	enum qp_err err;
	size_t n;
	int k;

	if (e->v[STATS_EK_REASON] == NULL)
		return QP_OK;
	if (e->n[STATS_EK_REASON] == 7 && memcmp(e->v[STATS_EK_REASON], "backoff", 7) == 0 &&
	    e->v[STATS_EK_BACKOFF] != NULL)
		snprintf(reason, sizeof(reason), "backoff:%.*s", (int)(e->n[STATS_EK_BACKOFF] <
		    STATS_ROUTE_REASON_MAX ? e->n[STATS_EK_BACKOFF] : STATS_ROUTE_REASON_MAX),
		    e->v[STATS_EK_BACKOFF]);
	else {
		n = e->n[STATS_EK_REASON] < STATS_ROUTE_REASON_MAX ? e->n[STATS_EK_REASON] :
		    STATS_ROUTE_REASON_MAX;
		memcpy(reason, e->v[STATS_EK_REASON], n);
		reason[n] = '\0';
	}
	if (strcmp(reason, "eligible") == 0)
		return QP_OK;
	sqlite3_bind_value(st, 1, sqlite3_column_value(dec, STATS_DC_DECIDED));
	if (label != NULL)
		sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
	else
		sqlite3_bind_value(st, 2, sqlite3_column_value(dec, STATS_DC_MODEL));
	for (k = STATS_EK_ACCOUNT; k <= STATS_EK_PROVIDER; k++) {
		n = e->v[k] == NULL ? 0 : e->n[k] < STATS_ROUTE_NAME_MAX ? e->n[k] :
		    STATS_ROUTE_NAME_MAX;
		sqlite3_bind_text(st, 3 + k, e->v[k] != NULL ? e->v[k] : "", (int)n,
		    SQLITE_STATIC);
	}
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	err = stats_exec(st);
	sqlite3_clear_bindings(st);	/* they point into the detail and this frame */
	return err;
}

/*
 * Tells whether model is one the operator configured, for the rollups'
 * model label: *known = 1 when model is "" (none), when the row reached a
 * provider (reached is not ""; the selector chose an account of a
 * provider listing the model) or when a provider's catalog lists it
 * (static models included); else 0, and the rollups count it as
 * STATS_UNKNOWN_MODEL.
 */
static enum qp_err
stats_rollup_known(struct stats_rollup *r, const char *reached, const char *model, int *known)
{
	sqlite3_stmt *st = r->st[STATS_RU_KNOWN];
	size_t n = strlen(model);
	int rc;

	*known = 1;
	if (model[0] == '\0' || reached[0] != '\0')
		return QP_OK;
	if (r->memo_len != 0 && r->memo_len == n && memcmp(r->memo, model, n) == 0) {
		*known = r->memo_known;
		return QP_OK;
	}
	sqlite3_bind_text(st, 1, model, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return QP_EDB;
	*known = rc == SQLITE_ROW;
	if (n < sizeof(r->memo)) {
		memcpy(r->memo, model, n);
		r->memo_len = n;
		r->memo_known = *known;
	}
	return QP_OK;
}

/* Adds the attempts of request_id (completed at completed) to stats_attempts. */
static enum qp_err
stats_rollup_attempts(struct stats_rollup *r, int64_t request_id, int64_t completed)
{
	sqlite3_stmt *att = r->st[STATS_RU_ATTEMPTS], *st = r->st[STATS_RU_ATTEMPT];
	enum qp_err err = QP_OK;
	int i, rc;

	sqlite3_bind_int64(att, 1, request_id);
	sqlite3_bind_int64(att, 2, completed);
	while ((rc = sqlite3_step(att)) == SQLITE_ROW) {
		for (i = 0; i < STATS_ATT_NCOL; i++)
			sqlite3_bind_value(st, i + 1, sqlite3_column_value(att, i));
		if ((err = stats_exec(st)) != QP_OK)
			break;
	}
	if (err == QP_OK && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(att);
	return err;
}

/* Adds the routing decisions of request_id to stats_routing. */
static enum qp_err
stats_rollup_decisions(struct stats_rollup *r, int64_t request_id)
{
	sqlite3_stmt *dec = r->st[STATS_RU_DECISIONS], *st;
	const char *detail, *label;
	enum qp_err err = QP_OK;
	size_t e;
	int i, rc, known;

	sqlite3_bind_int64(dec, 1, request_id);
	while ((rc = sqlite3_step(dec)) == SQLITE_ROW) {
		/* A decision that chose an account was for a model its provider lists. */
		if ((err = stats_rollup_known(r, stats_cs(dec, STATS_DC_ACCOUNT),
		    stats_cs(dec, STATS_DC_MODEL), &known)) != QP_OK)
			break;
		label = known ? NULL : STATS_UNKNOWN_MODEL;
		/* The decision itself: chosen or no_account. */
		st = r->st[STATS_RU_ROUTING];
		for (i = STATS_DC_DECIDED; i <= STATS_DC_REASON; i++)
			sqlite3_bind_value(st, i, sqlite3_column_value(dec, i));
		if (label != NULL)
			sqlite3_bind_text(st, STATS_DC_MODEL, label, -1, SQLITE_STATIC);
		if ((err = stats_exec(st)) != QP_OK)
			break;
		/* The accounts it excluded. */
		detail = sqlite3_column_type(dec, STATS_DC_DETAIL) == SQLITE_TEXT ?
		    (const char *)sqlite3_column_text(dec, STATS_DC_DETAIL) : NULL;
		r->nent = 0;
		if (detail != NULL && stats_detail_scan(detail,
		    (size_t)sqlite3_column_bytes(dec, STATS_DC_DETAIL), stats_rollup_keep, r) == 0) {
			for (e = 0; e < r->nent && err == QP_OK; e++)
				err = stats_rollup_exclusion(r, dec, &r->ent[e], label);
			if (err != QP_OK)
				break;
			continue;
		}
		st = r->st[STATS_RU_EXCLUDED];
		sqlite3_bind_int64(st, 1, request_id);
		sqlite3_bind_value(st, 2, sqlite3_column_value(dec, STATS_DC_ATTEMPT));
		if (label != NULL)
			sqlite3_bind_text(st, 3, label, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		if ((err = stats_exec(st)) != QP_OK)
			break;
	}
	if (err == QP_OK && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(dec);
	return err;
}

/* Columns of STATS_RU_REQUEST holding each latency, by enum stats_latency. */
static const int stats_latency_cols[STATS_LAT__MAX] = {
	[STATS_LAT_TOTAL] = STATS_RC_TOTAL,
	[STATS_LAT_TTFT] = STATS_RC_TTFT,
	[STATS_LAT_CONNECT] = STATS_RC_CONNECT,
	[STATS_LAT_FIRST_BYTE] = STATS_RC_FIRST_BYTE,
	[STATS_LAT_OVERHEAD] = STATS_RC_OVERHEAD,
};

enum qp_err
stats_rollup_request(struct stats_rollup *r, int64_t request_id)
{
	sqlite3_stmt *st, *rq = r->st[STATS_RU_REQUEST];
	enum qp_err err = QP_OK;
	int64_t completed, v, ns;
	int m, i, rc, ok, known;
	const char *status, *model;

	r->memo_len = 0;	/* the catalog may have changed since the last request */
	/* Read the row once; its values are bound to the statements that add it up. */
	sqlite3_reset(rq);
	sqlite3_bind_int64(rq, 1, request_id);
	rc = sqlite3_step(rq);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(rq);
		return rc == SQLITE_DONE ? QP_EINVAL : QP_EDB;
	}
	status = stats_cs(rq, STATS_RC_STATUS);
	if (strcmp(status, "pending") == 0 || stats_cnull(rq, STATS_RC_COMPLETED)) {
		sqlite3_reset(rq);
		return QP_EINVAL;
	}
	ok = strcmp(status, "completed") == 0;
	completed = stats_ci(rq, STATS_RC_COMPLETED);
	if ((err = stats_rollup_known(r, stats_cs(rq, STATS_RC_PROVIDER),
	    stats_cs(rq, STATS_RC_MODEL), &known)) != QP_OK) {
		sqlite3_reset(rq);
		return err;
	}
	model = known ? stats_cs(rq, STATS_RC_MODEL) : STATS_UNKNOWN_MODEL;
	st = r->st[STATS_RU_REQUESTS];
	for (i = 0; i < STATS_RC__BOUND; i++)
		sqlite3_bind_value(st, i + 1, sqlite3_column_value(rq, i));
	if (!known)
		sqlite3_bind_text(st, STATS_RC_MODEL + 1, model, -1, SQLITE_STATIC);
	if (!ok) {
		st = r->st[STATS_RU_ERRORS];
		for (i = STATS_RC_COMPLETED; i <= STATS_RC_STATUS; i++)
			sqlite3_bind_value(st, i + 1, sqlite3_column_value(rq, i));
		if (!known)
			sqlite3_bind_text(st, STATS_RC_MODEL + 1, model, -1, SQLITE_STATIC);
		sqlite3_bind_value(st, 6, sqlite3_column_value(rq, STATS_RC_ERROR_CLASS));
	} else {
		/* Latencies carry provider and model cut to STATS_FILTER_MAX bytes. */
		st = r->st[STATS_RU_LATENCY];
		sqlite3_bind_int64(st, 1, completed);
		sqlite3_bind_text(st, 2, stats_cs(rq, STATS_RC_PROVIDER),
		    (int)strnlen(stats_cs(rq, STATS_RC_PROVIDER), STATS_FILTER_MAX), SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, model, (int)strnlen(model, STATS_FILTER_MAX),
		    SQLITE_TRANSIENT);
		for (m = 0; m < STATS_LAT__MAX; m++) {
			i = STATS_LAT_PARAM(m);
			sqlite3_bind_text(st, i, stats_latency_name((enum stats_latency)m), -1, SQLITE_STATIC);
			v = stats_ci(rq, stats_latency_cols[m]);
			if (stats_cnull(rq, stats_latency_cols[m]) || v < 0) {
				sqlite3_bind_null(st, i + 1);
				continue;
			}
			/* Every latency is in ms except the overhead, in microseconds. */
			ns = m == STATS_LAT_OVERHEAD ? v * 1000 : v * 1000000;
			sqlite3_bind_int(st, i + 1, stats_bin(ns));
			sqlite3_bind_int64(st, i + 2, ns / 1000);
		}
	}
	sqlite3_reset(rq);

	if ((err = stats_exec(r->st[STATS_RU_SAVEPOINT])) != QP_OK)
		return err;
	if ((err = stats_exec(r->st[STATS_RU_REQUESTS])) != QP_OK)
		goto out;
	if ((err = stats_exec(r->st[ok ? STATS_RU_LATENCY : STATS_RU_ERRORS])) != QP_OK)
		goto out;
	sqlite3_bind_int64(r->st[STATS_RU_CLIENTS], 1, request_id);
	if ((err = stats_exec(r->st[STATS_RU_CLIENTS])) != QP_OK)
		goto out;
	if ((err = stats_rollup_attempts(r, request_id, completed)) != QP_OK)
		goto out;
	err = stats_rollup_decisions(r, request_id);
out:
	if (err != QP_OK)
		(void)stats_exec(r->st[STATS_RU_ROLLBACK]);
	if (stats_exec(r->st[STATS_RU_RELEASE]) != QP_OK && err == QP_OK)
		err = QP_EDB;
	return err;
}

int
stats_rollup_hook(void *rollup, int64_t request_id)
{

	return stats_rollup_request(rollup, request_id) == QP_OK ? 0 : -1;
}

enum qp_err
stats_rollup_prune(struct stats_rollup *r, int64_t now, int *more)
{
	sqlite3_stmt *st = r->st[STATS_RU_OLDEST];
	int64_t cutoff = now - STATS_FINE_KEEP_MS, oldest, upto;
	enum qp_err err;
	int rc, i;

	*more = 0;
	sqlite3_reset(st);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? QP_OK : QP_EDB;
	}
	if (stats_cnull(st, 0)) {
		sqlite3_reset(st);
		return QP_OK;
	}
	oldest = stats_ci(st, 0);
	sqlite3_reset(st);
	if (oldest >= cutoff)
		return QP_OK;
	upto = oldest + STATS_HOUR_MS < cutoff ? oldest + STATS_HOUR_MS : cutoff;
	for (i = STATS_RU_PRUNE_REQ; i <= STATS_RU_PRUNE_CLIENTS; i++) {
		sqlite3_bind_int64(r->st[i], 1, upto);
		err = stats_exec(r->st[i]);
		if (err != QP_OK)
			return err;
	}
	*more = upto < cutoff;
	return QP_OK;
}
