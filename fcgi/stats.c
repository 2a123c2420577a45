/* stats.c: the statistics behind the dashboard and the /api/stats JSON, read from rollup tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "stats.h"

#define STATS_FINE_MS		300000LL		/* 5 minutes */
#define STATS_HOUR_MS		3600000LL
#define STATS_DAY_MS		86400000LL
/* A process whose heartbeat is older than this is silent (as accounting judges it). */
#define STATS_HEARTBEAT_STALE_MS (2LL * 60 * 1000)
/* Oldest pending requests listed by pending-health. */
#define STATS_PENDING_LIST	10
/* Latest representable time accepted from a query (9999-12-31T23:59:59Z), in seconds. */
#define STATS_TIME_MAX_S	253402300799LL
/* Longest raw value of period= and now= accepted. */
#define STATS_VALUE_MAX		128
/* Raw request rows a filtered recent-requests looks at, newest first, at most. */
#define STATS_SCAN_MAX		100000
/* Ranges of one rollup plan. */
#define STATS_PLAN_RANGES	5
/* Buckets of a timeseries at most (the bucket size grows to keep below). */
#define STATS_SERIES_BUCKETS	60

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
#define STATS_P_ACCOUNT		16
#define STATS_P_PROVIDER	17
#define STATS_P_MODEL		18
#define STATS_P_STATUS		19
#define STATS_P_EXTRA		20

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
	"alias, alias_target"
#define STATS_REQ_NCOLS	31

/* The SQL function that adds one value to a sparse histogram (stats_bins_add_fn). */
#define STATS_BINS_FN	"qp_stats_bins_add"
/* Longest sparse histogram: every bin with a 10-byte count. */
#define STATS_BINS_BLOB_MAX	(STATS_BINS * 11)

/* The granularities a rollup row is written at: bucket_s values. */
#define STATS_GRAN_SQL "(SELECT 300 AS s UNION ALL SELECT 3600 UNION ALL SELECT 86400 " \
	"UNION ALL SELECT 0) AS g"
#define STATS_BUCKET_SQL(t) "CASE WHEN g.s = 0 THEN 0 ELSE (" t ") / (g.s * 1000) * " \
	"(g.s * 1000) END"

enum stats_stmt {
	STATS_ST_SUMMARY,	/* sums by status and exactness */
	STATS_ST_PROVIDERS,	/* distinct providers */
	STATS_ST_PENDING,	/* pending requests: count, oldest, ages */
	STATS_ST_PENDING_OLDEST, /* the oldest pending requests */
	STATS_ST_PENDING_PROCS,	/* pending requests per process */
	STATS_ST_RESERVATIONS,	/* live and expired reservations */
	STATS_ST_PROCESSES,	/* live and silent processes */
	STATS_ST_BACKOFFS,	/* backoff rows still running */
	STATS_ST_INFLIGHT,	/* live reservations per account */
	STATS_ST_ACCT_PERIOD,	/* sums per account over the period */
	STATS_ST_ACCT_WINDOW,	/* spend, requests, tokens per account over a window */
	STATS_ST_ACCT_LASTERR,	/* last failed attempt of an account */
	STATS_ST_MODELS,	/* sums per provider and model */
	STATS_ST_LATENCY,	/* histogram bins per provider, model, metric */
	STATS_ST_SERIES,	/* metric per group key and bucket */
	STATS_ST_BANDWIDTH,	/* bytes per UTC day */
	STATS_ST_ATTEMPTS,	/* attempts by provider, outcome, category */
	STATS_ST_RETRIES,	/* requests by provider, model, attempt count, status */
	STATS_ST_ROUTING,	/* decisions by model, account, reason */
	STATS_ST_PINGS,		/* pings per provider and bucket */
	STATS_ST_PINGS_LAST,	/* last ping per provider */
	STATS_ST_ERRORS,	/* failed requests by class and status */
	STATS_ST_ERRORS_RECENT,	/* latest failed requests */
	STATS_ST_EVENTS,	/* operational events */
	STATS_ST_EVENT_COUNTS,	/* operational events per type */
	STATS_ST_RECENT,	/* latest requests, any filter, within the scan budget */
	STATS_ST_RECENT_EDGE,	/* where the scan budget ends */
	STATS_ST_TRACE_REQ,	/* one request by uid */
	STATS_ST_TRACE_ATT,	/* its attempts */
	STATS_ST_TRACE_DEC,	/* its routing decisions */
	STATS_ST__MAX
};

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
	[STATS_ST_ACCT_PERIOD] = "SELECT account_name, " STATS_SUMS_SQL
	    " FROM stats_requests WHERE " STATS_PLAN_SQL STATS_F_PROVIDER_SQL STATS_F_MODEL_SQL
	    " GROUP BY account_name",
	[STATS_ST_ACCT_WINDOW] = "SELECT account_name, sum(cost_microdollars), sum(requests), "
	    "sum(" STATS_TOKENS_SQL ") FROM stats_requests WHERE " STATS_PLAN_SQL
	    " GROUP BY account_name",
	[STATS_ST_ACCT_LASTERR] = "SELECT error_class, outcome, completed_at, status_code "
	    "FROM request_attempts WHERE account_name = ?1 AND outcome NOT IN ('ok', "
	    "'client_error', 'client_disconnected') ORDER BY completed_at DESC LIMIT 1",
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
	[STATS_ST_RECENT_EDGE] = "SELECT started_at FROM requests WHERE started_at >= ?1 "
	    "AND started_at < ?2 ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?3",
	[STATS_ST_TRACE_REQ] = "SELECT " STATS_REQ_COLS ", r.id, connect_ms, first_byte_ms, "
	    "overhead_us, upstream_bytes, k.name FROM requests AS r LEFT JOIN client_keys AS k "
	    "ON k.id = r.client_key_id WHERE request_uid = ?1",
	[STATS_ST_TRACE_ATT] = "SELECT attempt_number, provider_id, account_name, model, "
	    "started_at, completed_at, status_code, outcome, retry_category, error_class, "
	    "connect_ms, first_byte_ms, total_ms, bytes_sent, bytes_received, "
	    "upstream_request_id FROM request_attempts WHERE request_id = ?1 "
	    "ORDER BY attempt_number",
	[STATS_ST_TRACE_DEC] = "SELECT attempt_number, model, chosen_account, chosen_provider, "
	    "tier, candidates, eligible, detail_json, decided_at FROM routing_decisions "
	    "WHERE request_id = ?1 ORDER BY attempt_number",
};

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
	STATS_RU_OLDEST,	/* oldest 5-minute bucket */
	STATS_RU_PRUNE_REQ,	/* delete old 5-minute rows, one table each */
	STATS_RU_PRUNE_ERR,
	STATS_RU_PRUNE_LAT,
	STATS_RU_PRUNE_ATT,
	STATS_RU_PRUNE_ROUTE,
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
	/* What stats_detail_scan() reads, by SQLite's JSON functions, for one decision. */
	[STATS_RU_EXCLUDED] = "INSERT INTO stats_routing (bucket_s, bucket_start, model, "
	    "account_name, provider_id, reason, decisions) SELECT g.s, "
	    STATS_BUCKET_SQL("x.decided_at") ", x.model, x.account, x.provider, x.reason, 1 "
	    "FROM (SELECT d.decided_at AS decided_at, d.model AS model, "
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
	[STATS_RU_OLDEST] = "SELECT min(x) FROM ("
	    "SELECT min(bucket_start) AS x FROM stats_requests WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_latency WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_attempts WHERE bucket_s = 300 "
	    "UNION ALL SELECT min(bucket_start) FROM stats_routing WHERE bucket_s = 300)",
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
};

struct stats_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[STATS_ST__MAX];	/* prepared statements */
};

struct stats_rollup {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[STATS_RU__MAX];	/* prepared statements */
	struct stats_entry *ent;		/* scratch: the account entries of one decision */
	size_t		 nent;			/* entries used */
	size_t		 ment;			/* entries allocated */
};

static const char *const stats_period_names[STATS_PERIOD__MAX] = {
	[STATS_PERIOD_1H] = "1h",
	[STATS_PERIOD_24H] = "24h",
	[STATS_PERIOD_7D] = "7d",
	[STATS_PERIOD_30D] = "30d",
	[STATS_PERIOD_RANGE] = "range",
};

static const int64_t stats_period_ms[STATS_PERIOD__MAX] = {
	[STATS_PERIOD_1H] = STATS_HOUR_MS,
	[STATS_PERIOD_24H] = 24 * STATS_HOUR_MS,
	[STATS_PERIOD_7D] = 7 * STATS_DAY_MS,
	[STATS_PERIOD_30D] = 30 * STATS_DAY_MS,
	[STATS_PERIOD_RANGE] = 0,
};

static const char *const stats_group_names[STATS_GROUP__MAX] = {
	[STATS_GROUP_PROVIDER] = "provider",
	[STATS_GROUP_MODEL] = "model",
	[STATS_GROUP_ACCOUNT] = "account",
	[STATS_GROUP_PROVIDER_MODEL] = "provider_model",
};

static const char *const stats_metric_names[STATS_METRIC__MAX] = {
	[STATS_METRIC_REQUESTS] = "requests",
	[STATS_METRIC_TOKENS] = "tokens",
	[STATS_METRIC_COST] = "cost",
};

static const char *const stats_latency_names[STATS_LAT__MAX] = {
	[STATS_LAT_TOTAL] = "total",
	[STATS_LAT_TTFT] = "ttft",
	[STATS_LAT_CONNECT] = "connect",
	[STATS_LAT_FIRST_BYTE] = "first_byte",
	[STATS_LAT_OVERHEAD] = "overhead",
};

/* Request statuses accepted by status=. */
static const char *const stats_statuses[] = {
	"pending", "completed", "client_error", "error", "client_disconnected",
	"interrupted", "rejected",
};
#define STATS_NSTATUSES	(sizeof(stats_statuses) / sizeof(stats_statuses[0]))

/* Cost exactness values, in the order of the summary's *_count fields. */
static const char *const stats_exactness[] = {
	"exact", "derived", "partial", "estimated", "unknown", "provider_reported",
};
#define STATS_NEXACT	(sizeof(stats_exactness) / sizeof(stats_exactness[0]))

/* Mantissas of the histogram edges: edge(i) = m[i % 10] * 10^(i / 10) * 10 ns. */
static const int64_t stats_mantissa[10] = { 100, 125, 160, 200, 250, 315, 400, 500, 630, 800 };
/* sqrt(m[i] * m[i + 1]) with m[10] = 1000: the geometric middle of each bin. */
static const double stats_middles[10] = {
	111.803399, 141.421356, 178.885438, 223.606798, 280.624304,
	354.964787, 447.213595, 561.248608, 709.929574, 894.427191,
};

/* A dataset: its name, its function and the filters it takes. */
struct stats_ds {
	const char	*name;
	cJSON		*(*fn)(struct stats_db *, const struct config *,
			    const struct stats_query *, enum qp_err *);
	unsigned	 filters;
};

static const struct stats_ds stats_ds_table[STATS_DS__MAX] = {
	[STATS_DS_SUMMARY] = { "summary", stats_summary,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_ACCOUNTS] = { "accounts", stats_accounts, STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_MODELS] = { "models", stats_models,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_LATENCY] = { "latency", stats_latency, STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_TIMESERIES] = { "timeseries", stats_timeseries,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_BANDWIDTH] = { "bandwidth", stats_bandwidth,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_ATTEMPTS] = { "attempts", stats_attempts,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_RETRIES] = { "retries", stats_retries,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_ROUTING] = { "routing", stats_routing,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_PINGS] = { "pings", stats_pings, STATS_F_PROVIDER },
	[STATS_DS_ERRORS] = { "errors", stats_errors,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_OPERATIONAL] = { "operational", stats_operational, 0 },
	[STATS_DS_PENDING_HEALTH] = { "pending-health", stats_pending_health, 0 },
	[STATS_DS_RECENT_REQUESTS] = { "recent-requests", stats_recent_requests,
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_BACKOFFS] = { "backoffs", stats_backoffs, 0 },
};

/* ---- names -------------------------------------------------------------- */

const char *
stats_period_name(enum stats_period p)
{

	return (unsigned)p < STATS_PERIOD__MAX ? stats_period_names[p] : "";
}

const char *
stats_group_name(enum stats_group g)
{

	return (unsigned)g < STATS_GROUP__MAX ? stats_group_names[g] : "";
}

const char *
stats_metric_name(enum stats_metric m)
{

	return (unsigned)m < STATS_METRIC__MAX ? stats_metric_names[m] : "";
}

const char *
stats_latency_name(enum stats_latency l)
{

	return (unsigned)l < STATS_LAT__MAX ? stats_latency_names[l] : "";
}

const char *
stats_dataset_name(enum stats_dataset d)
{

	return (unsigned)d < STATS_DS__MAX ? stats_ds_table[d].name : "";
}

enum stats_dataset
stats_dataset_find(const char *name, size_t len)
{
	int i;

	for (i = 0; i < STATS_DS__MAX; i++)
		if (strlen(stats_ds_table[i].name) == len &&
		    memcmp(stats_ds_table[i].name, name, len) == 0)
			return (enum stats_dataset)i;
	return STATS_DS__MAX;
}

unsigned
stats_dataset_filters(enum stats_dataset d)
{

	return (unsigned)d < STATS_DS__MAX ? stats_ds_table[d].filters : 0;
}

/* ---- time --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1). */
static int64_t
stats_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
stats_iso(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t s;

	if (len == 0)
		return;
	s = (time_t)(t < 0 ? 0 : t / 1000);
	if (gmtime_r(&s, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

/* Writes the UTC date of t as "2024-05-01". */
static void
stats_date(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t s;

	s = (time_t)(t < 0 ? 0 : t / 1000);
	if (gmtime_r(&s, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		buf[0] = '\0';
}

static int64_t
stats_floor(int64_t t, int64_t unit)
{

	return t < 0 ? 0 : t / unit * unit;
}

static int64_t
stats_ceil(int64_t t, int64_t unit)
{

	return t <= 0 ? 0 : (t + unit - 1) / unit * unit;
}

/* Reads n decimal digits at s into *v; 0 if any is not a digit. */
static int
stats_digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/*
 * Parses one end of a period: epoch seconds, or "YYYY-MM-DD" with an
 * optional "THH:MM", ":SS" and "Z". Returns 1 and *ms, or 0.
 */
static int
stats_parse_time(const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, se = 0, mdays;
	static const int dim[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == n) {
		if (n > 12)
			return 0;
		for (i = 0; i < n; i++)
			v = v * 10 + (s[i] - '0');
		if (v > STATS_TIME_MAX_S)
			return 0;
		*ms = v * 1000;
		return 1;
	}
	if (n < 10 || s[4] != '-' || s[7] != '-' || !stats_digits(s, 4, &y) ||
	    !stats_digits(s + 5, 2, &mo) || !stats_digits(s + 8, 2, &d))
		return 0;
	i = 10;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		if (n < i + 6 || s[i + 3] != ':' || !stats_digits(s + i + 1, 2, &h) ||
		    !stats_digits(s + i + 4, 2, &mi))
			return 0;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || !stats_digits(s + i + 1, 2, &se))
				return 0;
			i += 3;
		}
		if (i < n && (s[i] == 'Z' || s[i] == 'z'))
			i++;
	}
	if (i != n || y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return 0;
	mdays = dim[mo - 1];
	if (mo == 2 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		mdays = 28;
	if (d > mdays)
		return 0;
	*ms = ((stats_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
	return 1;
}

/* ---- query strings ------------------------------------------------------- */

/* Query parameters, by bit. */
enum stats_param {
	STATS_Q_PERIOD,
	STATS_Q_NOW,
	STATS_Q_GROUP_BY,
	STATS_Q_METRIC,
	STATS_Q_TOP,
	STATS_Q_LIMIT,
	STATS_Q_INCLUDE_DISABLED,
	STATS_Q_ACCOUNT,
	STATS_Q_PROVIDER,
	STATS_Q_MODEL,
	STATS_Q_STATUS,
	STATS_Q__MAX
};

static const char *const stats_param_names[STATS_Q__MAX] = {
	[STATS_Q_PERIOD] = "period",
	[STATS_Q_NOW] = "now",
	[STATS_Q_GROUP_BY] = "group_by",
	[STATS_Q_METRIC] = "metric",
	[STATS_Q_TOP] = "top",
	[STATS_Q_LIMIT] = "limit",
	[STATS_Q_INCLUDE_DISABLED] = "include_disabled",
	[STATS_Q_ACCOUNT] = "account",
	[STATS_Q_PROVIDER] = "provider",
	[STATS_Q_MODEL] = "model",
	[STATS_Q_STATUS] = "status",
};

static int
stats_hexval(char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes a form-encoded component (s, n) into out (cap bytes with the
 * NUL). Returns the decoded length, -1 on a bad escape, -2 if too long.
 */
static int
stats_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;
	int hi, lo;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= n)
				return -1;
			hi = stats_hexval(s[i + 1]);
			lo = stats_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -2;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Returns 1 if s (n bytes) is valid UTF-8 without control characters. */
static int
stats_text_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, need;
	unsigned cp;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = p[i] & 0x07;
		} else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* Parses a decimal integer in [lo, hi]; returns 1 and *v, or 0. */
static int
stats_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
	int64_t x = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 15)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	if (x < lo || x > hi)
		return 0;
	*v = x;
	return 1;
}

/* Finds name in a table of n names; returns its index or -1. */
static int
stats_lookup(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* Resolves the period text (NULL = the default 24h) into q. */
static enum qp_err
stats_resolve_period(struct stats_query *q, const char *v, char *errbuf, size_t errlen)
{
	const char *dots;
	int64_t from, to;
	int i;

	if (v == NULL) {
		q->period = STATS_PERIOD_24H;
		q->from = q->now - stats_period_ms[q->period];
		q->to = q->now;
		snprintf(q->label, sizeof(q->label), "%s", stats_period_names[q->period]);
		return QP_OK;
	}
	for (i = 0; i < STATS_PERIOD_RANGE; i++)
		if (strcmp(v, stats_period_names[i]) == 0) {
			q->period = (enum stats_period)i;
			q->from = q->now - stats_period_ms[i];
			q->to = q->now;
			snprintf(q->label, sizeof(q->label), "%s", stats_period_names[i]);
			return QP_OK;
		}
	dots = strstr(v, "..");
	if (dots != NULL) {
		if (!stats_parse_time(v, (size_t)(dots - v), &from) ||
		    !stats_parse_time(dots + 2, strlen(dots + 2), &to)) {
			snprintf(errbuf, errlen, "period must be 1h, 24h, 7d, 30d, or FROM..TO "
			    "with each end a UTC date (2024-05-01), time (2024-05-01T10:00:00Z) "
			    "or epoch seconds");
			return QP_EINVAL;
		}
	} else {
		if (!stats_parse_time(v, strlen(v), &from)) {
			snprintf(errbuf, errlen, "period must be 1h, 24h, 7d, 30d, FROM..TO or "
			    "FROM, with each end a UTC date (2024-05-01), time "
			    "(2024-05-01T10:00:00Z) or epoch seconds");
			return QP_EINVAL;
		}
		to = q->now;
	}
	if (from >= to) {
		snprintf(errbuf, errlen, "period must end after it starts");
		return QP_EINVAL;
	}
	if (to - from > STATS_RANGE_MAX_MS) {
		snprintf(errbuf, errlen, "period may span at most 366 days");
		return QP_EINVAL;
	}
	q->period = STATS_PERIOD_RANGE;
	q->from = from;
	q->to = to;
	snprintf(q->label, sizeof(q->label), "%s", v);
	return QP_OK;
}

void
stats_query_init(struct stats_query *q, int64_t now)
{

	memset(q, 0, sizeof(*q));
	q->now = now;
	q->group_by = STATS_GROUP_PROVIDER;
	q->metric = STATS_METRIC_REQUESTS;
	q->top = STATS_TOP_DEFAULT;
	q->limit = STATS_LIMIT_DEFAULT;
	q->include_disabled = 1;
	(void)stats_resolve_period(q, NULL, NULL, 0);
}

enum qp_err
stats_query_parse(struct stats_query *q, const char *buf, size_t len, int64_t now,
    char *errbuf, size_t errlen)
{
	char key[32], val[STATS_VALUE_MAX + STATS_FILTER_MAX], period[STATS_VALUE_MAX + 1];
	const char *p, *end, *amp, *eq;
	unsigned seen = 0;
	int64_t v;
	int klen, vlen, k, have_period = 0;
	char *dst;
	size_t cap;

	stats_query_init(q, now);
	if (errlen > 0)
		errbuf[0] = '\0';
	p = buf;
	end = buf + len;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp == p) {
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = stats_decode(p, (size_t)((eq != NULL ? eq : amp) - p), key, sizeof(key));
		if (klen == -1) {
			snprintf(errbuf, errlen, "the query string has a bad percent-escape");
			return QP_EINVAL;
		}
		k = klen < 0 ? -1 : stats_lookup(stats_param_names, STATS_Q__MAX, key);
		if (k < 0) {
			/* Unknown parameters belong to someone else (theme=, ...). */
			p = amp + 1;
			continue;
		}
		if (seen & (1u << k)) {
			snprintf(errbuf, errlen, "parameter %s is given twice", key);
			return QP_EINVAL;
		}
		seen |= 1u << k;
		vlen = 0;
		val[0] = '\0';
		if (eq != NULL) {
			vlen = stats_decode(eq + 1, (size_t)(amp - eq - 1), val, sizeof(val));
			if (vlen == -1) {
				snprintf(errbuf, errlen, "parameter %s has a bad percent-escape",
				    key);
				return QP_EINVAL;
			}
			if (vlen == -2) {
				snprintf(errbuf, errlen, "parameter %s is too long", key);
				return QP_EINVAL;
			}
		}
		dst = NULL;
		cap = 0;
		switch (k) {
		case STATS_Q_ACCOUNT:
			dst = q->account;
			cap = sizeof(q->account);
			break;
		case STATS_Q_PROVIDER:
			dst = q->provider;
			cap = sizeof(q->provider);
			break;
		case STATS_Q_MODEL:
			dst = q->model;
			cap = sizeof(q->model);
			break;
		default:
			break;
		}
		if (dst != NULL) {
			if ((size_t)vlen >= cap) {
				snprintf(errbuf, errlen, "parameter %s is longer than %d bytes",
				    key, STATS_FILTER_MAX);
				return QP_EINVAL;
			}
			if (!stats_text_valid(val, (size_t)vlen)) {
				snprintf(errbuf, errlen, "parameter %s must be UTF-8 text without "
				    "control characters", key);
				return QP_EINVAL;
			}
			memcpy(dst, val, (size_t)vlen + 1);
			p = amp + 1;
			continue;
		}
		if (vlen == 0 && k != STATS_Q_STATUS) {
			snprintf(errbuf, errlen, "parameter %s needs a value", key);
			return QP_EINVAL;
		}
		switch (k) {
		case STATS_Q_PERIOD:
			if (vlen > STATS_VALUE_MAX || !stats_text_valid(val, (size_t)vlen)) {
				snprintf(errbuf, errlen, "period is not a valid period");
				return QP_EINVAL;
			}
			memcpy(period, val, (size_t)vlen + 1);
			have_period = 1;
			break;
		case STATS_Q_NOW:
			if (!stats_parse_int(val, 0, STATS_TIME_MAX_S, &v)) {
				snprintf(errbuf, errlen,
				    "now must be epoch seconds (a whole number)");
				return QP_EINVAL;
			}
			q->now = v * 1000;
			break;
		case STATS_Q_GROUP_BY:
			k = stats_lookup(stats_group_names, STATS_GROUP__MAX, val);
			if (k < 0) {
				snprintf(errbuf, errlen, "group_by must be provider, model, "
				    "account or provider_model");
				return QP_EINVAL;
			}
			q->group_by = (enum stats_group)k;
			break;
		case STATS_Q_METRIC:
			k = stats_lookup(stats_metric_names, STATS_METRIC__MAX, val);
			if (k < 0) {
				snprintf(errbuf, errlen, "metric must be requests, tokens or cost");
				return QP_EINVAL;
			}
			q->metric = (enum stats_metric)k;
			break;
		case STATS_Q_TOP:
			if (!stats_parse_int(val, 1, STATS_TOP_MAX, &v)) {
				snprintf(errbuf, errlen, "top must be a whole number from 1 to %d",
				    STATS_TOP_MAX);
				return QP_EINVAL;
			}
			q->top = (int)v;
			break;
		case STATS_Q_LIMIT:
			if (!stats_parse_int(val, 1, STATS_LIMIT_MAX, &v)) {
				snprintf(errbuf, errlen,
				    "limit must be a whole number from 1 to %d", STATS_LIMIT_MAX);
				return QP_EINVAL;
			}
			q->limit = (int)v;
			break;
		case STATS_Q_INCLUDE_DISABLED:
			if (!stats_parse_int(val, 0, 1, &v)) {
				snprintf(errbuf, errlen, "include_disabled must be 0 or 1");
				return QP_EINVAL;
			}
			q->include_disabled = (int)v;
			break;
		case STATS_Q_STATUS:
			if (vlen > 0 &&
			    stats_lookup(stats_statuses, (int)STATS_NSTATUSES, val) < 0) {
				snprintf(errbuf, errlen, "status must be one of pending, "
				    "completed, client_error, error, client_disconnected, "
				    "interrupted, rejected");
				return QP_EINVAL;
			}
			snprintf(q->status, sizeof(q->status), "%s", val);
			break;
		default:
			break;
		}
		p = amp + 1;
	}
	if (stats_resolve_period(q, have_period ? period : NULL, errbuf, errlen) != QP_OK)
		return QP_EINVAL;
	if (q->from < 0) {
		snprintf(errbuf, errlen, "now is too early: the period would start before 1970");
		return QP_EINVAL;
	}
	q->period_given = have_period;
	q->filters = (q->account[0] ? STATS_F_ACCOUNT : 0) |
	    (q->provider[0] ? STATS_F_PROVIDER : 0) | (q->model[0] ? STATS_F_MODEL : 0) |
	    (q->status[0] ? STATS_F_STATUS : 0);
	return QP_OK;
}

enum qp_err
stats_query_check(enum stats_dataset d, const struct stats_query *q, char *errbuf,
    size_t errlen)
{
	static const char *const fname[4] = { "account", "provider", "model", "status" };
	unsigned extra;
	int i;

	if ((unsigned)d >= STATS_DS__MAX) {
		snprintf(errbuf, errlen, "unknown dataset");
		return QP_EINVAL;
	}
	extra = q->filters & ~stats_ds_table[d].filters;
	for (i = 0; i < 4; i++)
		if (extra & (1u << i)) {
			snprintf(errbuf, errlen, "the %s dataset cannot be filtered by %s",
			    stats_ds_table[d].name, fname[i]);
			return QP_EINVAL;
		}
	return QP_OK;
}

/* ---- histogram ----------------------------------------------------------- */

/* Upper edge (ns) of bin b in 0..STATS_BINS-2. */
static int64_t
stats_edge(int b)
{
	int64_t e = stats_mantissa[b % 10] * 10;
	int i;

	for (i = 0; i < b / 10; i++)
		e *= 10;
	return e;
}

/* Geometric middle (ns) of bin b in 1..STATS_BINS-2. */
static double
stats_middle(int b)
{
	double m = stats_middles[(b - 1) % 10] * 10;
	int i;

	for (i = 0; i < (b - 1) / 10; i++)
		m *= 10;
	return m;
}

int
stats_bin(int64_t ns)
{
	int lo = 0, hi = STATS_BINS - 1, mid;

	if (ns < 0)
		ns = 0;
	/* The smallest b with ns < edge(b); STATS_BINS - 1 if none. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (ns < stats_edge(mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void
stats_bin_edges(int b, int64_t *lo_ns, int64_t *hi_ns)
{

	if (b < 0)
		b = 0;
	if (b > STATS_BINS - 1)
		b = STATS_BINS - 1;
	*lo_ns = b == 0 ? 0 : stats_edge(b - 1);
	*hi_ns = b == STATS_BINS - 1 ? -1 : stats_edge(b);
}

double
stats_percentile(const int64_t counts[STATS_BINS], double p)
{
	int64_t n = 0, rank, acc = 0, lo, hi;
	double r;
	int b;

	for (b = 0; b < STATS_BINS; b++)
		n += counts[b];
	if (n == 0 || p <= 0)
		return -1;
	if (p > 1)
		p = 1;
	r = p * (double)n;
	rank = (int64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (b = 0; b < STATS_BINS; b++) {
		acc += counts[b];
		if (acc >= rank)
			break;
	}
	if (b >= STATS_BINS)
		b = STATS_BINS - 1;
	if (b == 0)
		return 0;
	stats_bin_edges(b, &lo, &hi);
	if (hi < 0)
		return (double)lo / 1e6;
	return stats_middle(b) / 1e6;
}

/* ---- sparse histograms ---------------------------------------------------- */

/* A walk through a sparse histogram: its (bin, count) pairs in bin order. */
struct stats_bins_it {
	const unsigned char *p;		/* the blob */
	size_t		 len;		/* its length */
	size_t		 i;		/* next byte */
	int		 last;		/* last bin read, -1 = none */
};

/* Reads the next pair into *b, *v: 1, 0 at the end, -1 if the blob is malformed. */
static int
stats_bins_next(struct stats_bins_it *it, int *b, int64_t *v)
{
	uint64_t u = 0;
	int shift;

	if (it->i >= it->len)
		return 0;
	*b = it->p[it->i++];
	if (*b >= STATS_BINS || *b <= it->last)
		return -1;
	for (shift = 0;; shift += 7) {
		if (it->i >= it->len || shift > 56)
			return -1;
		u |= (uint64_t)(it->p[it->i] & 0x7f) << shift;
		if ((it->p[it->i++] & 0x80) == 0)
			break;
	}
	it->last = *b;
	*v = (int64_t)u;
	return 1;
}

int
stats_bins_read(const void *blob, size_t len, int64_t counts[STATS_BINS])
{
	struct stats_bins_it it = { blob, len, 0, -1 };
	int64_t v;
	int b, rc;

	if (blob == NULL)
		return len == 0 ? 0 : -1;
	while ((rc = stats_bins_next(&it, &b, &v)) == 1)
		counts[b] += v;
	return rc;
}

/* Appends bin b with count v (if positive) to a sparse histogram at out + *n. */
static void
stats_bins_put(unsigned char *out, size_t *n, int b, int64_t v)
{
	uint64_t u;

	if (v <= 0)
		return;
	out[(*n)++] = (unsigned char)b;
	u = (uint64_t)v;
	do {
		out[(*n)++] = (unsigned char)((u & 0x7f) | (u > 0x7f ? 0x80 : 0));
		u >>= 7;
	} while (u != 0);
}

/*
 * SQL qp_stats_bins_add(bins, x): bins (a sparse histogram or NULL)
 * with one more in bin x, or, when x is a histogram (a blob), with its
 * counts added. The two are merged in bin order into the canonical
 * form: bins in order, positive counts only, shortest LEB128.
 */
static void
stats_bins_add_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct stats_bins_it a = { NULL, 0, 0, -1 }, x = { NULL, 0, 0, -1 };
	unsigned char one[2], out[STATS_BINS_BLOB_MAX];
	int64_t va = 0, vx = 0;
	size_t n = 0;
	int ba = 0, bx = 0, ra, rx, b;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		a.p = sqlite3_value_blob(argv[0]);
		a.len = (size_t)sqlite3_value_bytes(argv[0]);
	}
	if (sqlite3_value_type(argv[1]) == SQLITE_BLOB) {
		x.p = sqlite3_value_blob(argv[1]);
		x.len = (size_t)sqlite3_value_bytes(argv[1]);
	} else {
		b = sqlite3_value_int(argv[1]);
		if (b < 0 || b >= STATS_BINS) {
			sqlite3_result_error(ctx, "latency bin out of range", -1);
			return;
		}
		one[0] = (unsigned char)b;
		one[1] = 1;
		x.p = one;
		x.len = sizeof(one);
	}
	if ((a.p == NULL && a.len > 0) || (x.p == NULL && x.len > 0))
		goto bad;
	ra = stats_bins_next(&a, &ba, &va);
	rx = stats_bins_next(&x, &bx, &vx);
	while (ra == 1 || rx == 1) {
		if (ra == 1 && (rx != 1 || ba < bx)) {
			stats_bins_put(out, &n, ba, va);
			ra = stats_bins_next(&a, &ba, &va);
		} else if (ra != 1 || bx < ba) {
			stats_bins_put(out, &n, bx, vx);
			rx = stats_bins_next(&x, &bx, &vx);
		} else {
			stats_bins_put(out, &n, ba, va + vx);
			ra = stats_bins_next(&a, &ba, &va);
			rx = stats_bins_next(&x, &bx, &vx);
		}
	}
	if (ra < 0 || rx < 0)
		goto bad;
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
	return;
bad:
	sqlite3_result_error(ctx, "malformed latency histogram", -1);
}

/* ---- plans: which rollup rows cover a period ------------------------------ */

/* Up to five ranges of rollup buckets that cover [from, to) without overlap. */
struct stats_plan {
	int64_t		 r[STATS_PLAN_RANGES][3];	/* bucket_s, first start, end (ms) */
	int		 n;				/* ranges used */
	int64_t		 from;				/* what the ranges cover */
	int64_t		 to;
};

static void
stats_plan_add(struct stats_plan *p, int64_t unit, int64_t a, int64_t b)
{

	if (a >= b || p->n >= STATS_PLAN_RANGES)
		return;
	p->r[p->n][0] = unit / 1000;
	p->r[p->n][1] = a;
	p->r[p->n][2] = b;
	p->n++;
}

/* Covers [a, b) with the coarsest rows up to level unit (a, b on 5-minute marks). */
static void
stats_plan_cover(struct stats_plan *p, int64_t unit, int64_t a, int64_t b)
{
	int64_t c1, c2, lower;

	if (a >= b)
		return;
	if (unit <= STATS_FINE_MS) {
		stats_plan_add(p, STATS_FINE_MS, a, b);
		return;
	}
	lower = unit == STATS_DAY_MS ? STATS_HOUR_MS : STATS_FINE_MS;
	c1 = stats_ceil(a, unit);
	c2 = stats_floor(b, unit);
	if (c1 >= c2) {
		stats_plan_cover(p, lower, a, b);
		return;
	}
	stats_plan_cover(p, lower, a, c1);
	stats_plan_add(p, unit, c1, c2);
	stats_plan_cover(p, lower, c2, b);
}

/*
 * Plans [from, to) with rows no coarser than maxunit (a granularity in
 * ms). Edges fall on 5-minute marks while 5-minute rows are kept, on
 * hours before.
 */
static void
stats_plan_make(struct stats_plan *p, int64_t from, int64_t to, int64_t now, int64_t maxunit)
{
	int64_t keep = now - STATS_FINE_KEEP_MS, a, b;

	memset(p, 0, sizeof(*p));
	if (from < 0)
		from = 0;
	a = stats_floor(from, STATS_FINE_MS);
	if (a < keep && maxunit > STATS_FINE_MS)
		a = stats_floor(from, STATS_HOUR_MS);
	b = stats_ceil(to, STATS_FINE_MS);
	if (stats_floor(b - 1, STATS_HOUR_MS) < keep && maxunit > STATS_FINE_MS)
		b = stats_ceil(to, STATS_HOUR_MS);
	if (b <= a)
		b = a + STATS_FINE_MS;
	stats_plan_cover(p, maxunit, a, b);
	p->from = a;
	p->to = b > now && to <= now ? now : b;
}

/* ---- statements ---------------------------------------------------------- */

static void
stats_bind_opt(sqlite3_stmt *st, int i, const char *s)
{

	if (i > sqlite3_bind_parameter_count(st))
		return;
	if (s == NULL || s[0] == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void
stats_bind_i(sqlite3_stmt *st, int i, int64_t v)
{

	if (i <= sqlite3_bind_parameter_count(st))
		sqlite3_bind_int64(st, i, v);
}

/* Resets st and binds the plan (?1..?15) and q's filters (?16..?19). */
static void
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
static void
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

/* Steps st: 1 = a row, 0 = done, -1 = error (*err = QP_EDB, st reset). */
static int
stats_step(sqlite3_stmt *st, enum qp_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	*err = QP_EDB;
	return -1;
}

static int64_t
stats_ci(sqlite3_stmt *st, int i)
{

	return sqlite3_column_int64(st, i);
}

static const char *
stats_cs(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

static int
stats_cnull(sqlite3_stmt *st, int i)
{

	return sqlite3_column_type(st, i) == SQLITE_NULL;
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

/* Building one answer: any failed allocation sets oom, checked once at the end. */
struct stats_out {
	int		 oom;
};

static void
stats_put_i(struct stats_out *o, cJSON *obj, const char *k, int64_t v)
{

	if (obj == NULL || cJSON_AddNumberToObject(obj, k, (double)v) == NULL)
		o->oom = 1;
}

static void
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
static double
stats_ratio(double a, double b)
{
	double r;

	if (b <= 0)
		return 0;
	r = a / b;
	return (double)(int64_t)(r * 1e6 + (r >= 0 ? 0.5 : -0.5)) / 1e6;
}

/* A value rounded to 3 decimals. */
static double
stats_round3(double v)
{

	return (double)(int64_t)(v * 1e3 + (v >= 0 ? 0.5 : -0.5)) / 1e3;
}

static void
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

static void
stats_put_b(struct stats_out *o, cJSON *obj, const char *k, int v)
{

	if (obj == NULL || cJSON_AddBoolToObject(obj, k, v != 0) == NULL)
		o->oom = 1;
}

static void
stats_put_null(struct stats_out *o, cJSON *obj, const char *k)
{

	if (obj == NULL || cJSON_AddNullToObject(obj, k) == NULL)
		o->oom = 1;
}

/* Puts a time as k (ms) and k_utc (ISO text); both null when t <= 0. */
static void
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
static void
stats_put_ci(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st, int i)
{

	if (stats_cnull(st, i))
		stats_put_null(o, obj, k);
	else
		stats_put_i(o, obj, k, stats_ci(st, i));
}

/* Puts column i of st as text, or null. */
static void
stats_put_cs(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st, int i)
{

	stats_put_s(o, obj, k, stats_cnull(st, i) ? NULL : stats_cs(st, i));
}

static cJSON *
stats_add_obj(struct stats_out *o, cJSON *parent, const char *k)
{
	cJSON *c = parent != NULL ? cJSON_AddObjectToObject(parent, k) : NULL;

	if (c == NULL)
		o->oom = 1;
	return c;
}

static cJSON *
stats_add_arr(struct stats_out *o, cJSON *parent, const char *k)
{
	cJSON *c = parent != NULL ? cJSON_AddArrayToObject(parent, k) : NULL;

	if (c == NULL)
		o->oom = 1;
	return c;
}

/* Appends a new object to arr. */
static cJSON *
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
static void
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
static cJSON *
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
static cJSON *
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

enum stats_sum {
	SUM_REQUESTS, SUM_STREAMED, SUM_ATTEMPTS, SUM_IN, SUM_OUT, SUM_CACHE_READ,
	SUM_CACHE_WRITE, SUM_REASONING, SUM_COST, SUM_BYTES_IN, SUM_BYTES_OUT, SUM_UPSTREAM,
	SUM_TOTAL_MS, SUM_TOTAL_N, SUM_TTFT_MS, SUM_TTFT_N, SUM_OK, SUM_ERRORS,
	SUM_OK_TOTAL_MS, SUM_OK_TOTAL_N, SUM_OK_TTFT_MS, SUM_OK_TTFT_N, SUM_OK_OUT,
	SUM__MAX
};

struct stats_sums {
	int64_t		 v[SUM__MAX];
};

/* Adds the STATS_SUMS_SQL columns of st starting at col. */
static void
stats_sums_add(struct stats_sums *s, sqlite3_stmt *st, int col)
{
	int i;

	for (i = 0; i < SUM__MAX; i++)
		s->v[i] += stats_ci(st, col + i);
}

static int64_t
stats_sums_tokens(const struct stats_sums *s)
{

	return s->v[SUM_IN] + s->v[SUM_OUT] + s->v[SUM_CACHE_READ] + s->v[SUM_CACHE_WRITE];
}

/* Average latency (ms, 3 decimals) of completed requests, or NaN (null) without any. */
static double
stats_avg(int64_t sum, int64_t n)
{

	return n > 0 ? stats_round3((double)sum / (double)n) : NAN;
}

/* Cache-read share of the prompt: cache read / (input + cache read + cache write). */
static double
stats_cache_ratio(const struct stats_sums *s)
{

	return stats_ratio((double)s->v[SUM_CACHE_READ],
	    (double)(s->v[SUM_IN] + s->v[SUM_CACHE_READ] + s->v[SUM_CACHE_WRITE]));
}

/* The per-group usage fields of models and accounts. */
static void
stats_put_usage(struct stats_out *o, cJSON *obj, const struct stats_sums *s)
{
	int64_t tokens = stats_sums_tokens(s);

	stats_put_i(o, obj, "requests", s->v[SUM_REQUESTS]);
	stats_put_i(o, obj, "successful_requests", s->v[SUM_OK]);
	stats_put_i(o, obj, "error_requests", s->v[SUM_ERRORS]);
	stats_put_d(o, obj, "error_rate", stats_ratio((double)s->v[SUM_ERRORS],
	    (double)s->v[SUM_REQUESTS]));
	stats_put_i(o, obj, "input_tokens", s->v[SUM_IN]);
	stats_put_i(o, obj, "output_tokens", s->v[SUM_OUT]);
	stats_put_i(o, obj, "cache_read_tokens", s->v[SUM_CACHE_READ]);
	stats_put_i(o, obj, "cache_write_tokens", s->v[SUM_CACHE_WRITE]);
	stats_put_i(o, obj, "reasoning_tokens", s->v[SUM_REASONING]);
	stats_put_i(o, obj, "total_tokens", tokens);
	stats_put_i(o, obj, "cost_microdollars", s->v[SUM_COST]);
	stats_put_d(o, obj, "cost_per_1k_tokens_microdollars",
	    stats_round3(tokens > 0 ? (double)s->v[SUM_COST] * 1000.0 / (double)tokens : 0));
	stats_put_d(o, obj, "cache_read_ratio", stats_cache_ratio(s));
	stats_put_d(o, obj, "avg_latency_ms", stats_avg(s->v[SUM_OK_TOTAL_MS],
	    s->v[SUM_OK_TOTAL_N]));
	stats_put_d(o, obj, "avg_ttft_ms", stats_avg(s->v[SUM_OK_TTFT_MS], s->v[SUM_OK_TTFT_N]));
}

/* ---- account health ---------------------------------------------------------- */

/* One running backoff row. */
struct stats_backoff {
	char		 account[STATS_FILTER_MAX + 1];	/* account_name */
	char		 reason[32];	/* rate_limited, quota_exceeded, auth_failure, ... */
	int64_t		 until;		/* backoff_until */
	int64_t		 failures;	/* consecutive_failures */
	int64_t		 status_code;	/* 0 = none */
	char		 error_class[64]; /* "" = none */
	int64_t		 updated_at;	/* last change */
	char		 model[256];	/* model_id: "" = the whole account */
};

/* The running backoff rows (at now), malloc'd into *out (caller frees); count in *n. */
static enum qp_err
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

/* The account-wide row of account (a backoff of one model leaves its state alone). */
static const struct stats_backoff *
stats_backoff_find(const struct stats_backoff *v, int n, const char *account)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i].model[0] == '\0' && strcmp(v[i].account, account) == 0)
			return &v[i];
	return NULL;
}

/*
 * Puts "model_backoffs": the running backoffs of account for one model
 * each (the account still serves the others), [{"model","scope":"model",
 * "reason","backoff_until","consecutive_failures"}].
 */
static void
stats_put_model_backoffs(struct stats_out *o, cJSON *obj, const struct stats_backoff *v,
    int n, const char *account)
{
	cJSON *arr, *mb;
	int i;

	arr = stats_add_arr(o, obj, "model_backoffs");
	for (i = 0; i < n; i++) {
		if (v[i].model[0] == '\0' || strcmp(v[i].account, account) != 0)
			continue;
		mb = stats_arr_obj(o, arr);
		stats_put_s(o, mb, "model", v[i].model);
		stats_put_s(o, mb, "scope", "model");
		stats_put_s(o, mb, "reason", v[i].reason);
		stats_put_t(o, mb, "backoff_until", v[i].until);
		stats_put_i(o, mb, "consecutive_failures", v[i].failures);
	}
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
static enum stats_state
stats_state(const struct config_provider *p, const struct config_account *a,
    const struct stats_backoff *b)
{

	return stats_account_state(p, a, b != NULL ? b->reason : NULL);
}

/* Puts the pending-request and account-state block "health" into root. */
static enum qp_err
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

/* ---- summary ------------------------------------------------------------------- */

cJSON *
stats_summary(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_SUMMARY];
	struct stats_out o;
	struct stats_plan p;
	struct stats_sums all;
	int64_t exact[STATS_NEXACT], bystatus[STATS_NSTATUSES], providers = 0;
	enum qp_err dberr = QP_OK;
	char name[40];
	cJSON *root, *bs;
	int rc, i;

	memset(&all, 0, sizeof(all));
	memset(exact, 0, sizeof(exact));
	memset(bystatus, 0, sizeof(bystatus));
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_SUMMARY].filters);
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		stats_sums_add(&all, st, 1 + (int)STATS_NEXACT);
		i = stats_lookup(stats_statuses, (int)STATS_NSTATUSES, stats_cs(st, 0));
		if (i >= 0)
			bystatus[i] += stats_ci(st, 1 + (int)STATS_NEXACT);
		for (i = 0; i < (int)STATS_NEXACT; i++)
			exact[i] += stats_ci(st, 1 + i);
	}
	if (rc < 0)
		goto out;
	st = s->st[STATS_ST_PROVIDERS];
	stats_bind_plan(st, &p, q);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		providers = stats_ci(st, 0);
		sqlite3_reset(st);
	}

	stats_put_i(&o, root, "total_requests", all.v[SUM_REQUESTS]);
	stats_put_i(&o, root, "successful_requests", all.v[SUM_OK]);
	stats_put_i(&o, root, "error_requests", all.v[SUM_ERRORS]);
	stats_put_d(&o, root, "error_rate", stats_ratio((double)all.v[SUM_ERRORS],
	    (double)all.v[SUM_REQUESTS]));
	stats_put_i(&o, root, "client_error_requests", bystatus[2]);
	stats_put_i(&o, root, "client_disconnected_requests", bystatus[4]);
	stats_put_i(&o, root, "interrupted_requests", bystatus[5]);
	stats_put_i(&o, root, "rejected_requests", bystatus[6]);
	bs = stats_add_obj(&o, root, "by_status");
	for (i = 1; i < (int)STATS_NSTATUSES; i++)
		stats_put_i(&o, bs, stats_statuses[i], bystatus[i]);
	stats_put_i(&o, root, "total_input_tokens", all.v[SUM_IN]);
	stats_put_i(&o, root, "total_output_tokens", all.v[SUM_OUT]);
	stats_put_i(&o, root, "total_cache_read_tokens", all.v[SUM_CACHE_READ]);
	stats_put_i(&o, root, "total_cache_write_tokens", all.v[SUM_CACHE_WRITE]);
	stats_put_i(&o, root, "total_reasoning_tokens", all.v[SUM_REASONING]);
	stats_put_i(&o, root, "fresh_tokens", all.v[SUM_IN] + all.v[SUM_OUT]);
	stats_put_i(&o, root, "total_tokens", stats_sums_tokens(&all));
	stats_put_d(&o, root, "cache_read_ratio", stats_cache_ratio(&all));
	stats_put_i(&o, root, "total_cost_microdollars", all.v[SUM_COST]);
	stats_put_i(&o, root, "streamed_requests", all.v[SUM_STREAMED]);
	stats_put_i(&o, root, "non_streamed_requests", all.v[SUM_REQUESTS] - all.v[SUM_STREAMED]);
	for (i = 0; i < (int)STATS_NEXACT; i++) {
		snprintf(name, sizeof(name), "%s_count", stats_exactness[i]);
		stats_put_i(&o, root, name, exact[i]);
	}
	stats_put_i(&o, root, "total_bytes_in", all.v[SUM_BYTES_IN]);
	stats_put_i(&o, root, "total_bytes_received", all.v[SUM_UPSTREAM]);
	stats_put_i(&o, root, "total_bytes_emitted", all.v[SUM_BYTES_OUT]);
	stats_put_i(&o, root, "total_attempts", all.v[SUM_ATTEMPTS]);
	stats_put_i(&o, root, "total_providers", providers);
	stats_put_d(&o, root, "avg_latency_ms", stats_avg(all.v[SUM_OK_TOTAL_MS],
	    all.v[SUM_OK_TOTAL_N]));
	stats_put_d(&o, root, "avg_ttft_ms", stats_avg(all.v[SUM_OK_TTFT_MS],
	    all.v[SUM_OK_TTFT_N]));
	stats_put_d(&o, root, "tokens_per_second", stats_round3(all.v[SUM_OK_TOTAL_MS] > 0 ?
	    (double)all.v[SUM_OK_OUT] * 1000.0 / (double)all.v[SUM_OK_TOTAL_MS] : 0));
	dberr = stats_put_health(s, cfg, q->now, &o, root);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- accounts ----------------------------------------------------------------- */

/* Window lengths (ms) and names, by enum config_window. */
static const int64_t stats_window_ms[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = 5 * STATS_HOUR_MS,
	[CONFIG_WINDOW_WEEK] = 7 * STATS_DAY_MS,
	[CONFIG_WINDOW_MONTH] = 30 * STATS_DAY_MS,
};

static const char *const stats_window_names[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = "5h",
	[CONFIG_WINDOW_WEEK] = "7d",
	[CONFIG_WINDOW_MONTH] = "30d",
};

/* What accounts learns about one configured account. */
struct stats_acct {
	const struct config_provider *p;	/* its provider */
	const struct config_account *a;		/* the account */
	struct stats_sums	 sums;		/* over the period */
	int64_t			 win[CONFIG_WINDOW__MAX][3]; /* spend, requests, tokens */
	int64_t			 inflight;	/* live reservations */
};

static struct stats_acct *
stats_acct_find(struct stats_acct *v, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].a->name, name) == 0)
			return &v[i];
	return NULL;
}

/* Puts used / limit and its percentage (null without a limit). */
static void
stats_put_quota(struct stats_out *o, cJSON *w, const char *k, int64_t used, int64_t limit)
{
	char name[48];

	stats_put_i(o, w, k, used);
	snprintf(name, sizeof(name), "%s_limit", k);
	if (limit > 0)
		stats_put_i(o, w, name, limit);
	else
		stats_put_null(o, w, name);
	snprintf(name, sizeof(name), "%s_pct", k);
	if (limit > 0)
		stats_put_d(o, w, name, stats_round3((double)used * 100.0 / (double)limit));
	else
		stats_put_null(o, w, name);
}

cJSON *
stats_accounts(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st;
	struct stats_acct *acct = NULL, *x;
	struct stats_backoff *bo = NULL;
	const struct stats_backoff *b;
	const struct config_quota *quota;
	struct stats_out o;
	struct stats_plan p, wp;
	enum qp_err dberr = QP_OK;
	enum stats_state state;
	cJSON *root, *arr, *obj, *wins, *w;
	int i, j, n = 0, total = 0, nbo = 0, rc;
	double maxpct;

	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_ACCOUNTS].filters);
	stats_put_b(&o, root, "include_disabled", q->include_disabled);
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		total += cfg->providers[i].naccounts;
	if (total > 0)
		acct = calloc((size_t)total, sizeof(*acct));
	if (total > 0 && acct == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++) {
			acct[n].p = &cfg->providers[i];
			acct[n].a = &cfg->providers[i].accounts[j];
			n++;
		}

	st = s->st[STATS_ST_ACCT_PERIOD];
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		x = stats_acct_find(acct, n, stats_cs(st, 0));
		if (x != NULL)
			stats_sums_add(&x->sums, st, 1);
	}
	if (rc < 0)
		goto out;
	/* Quota windows start at the hour holding now - window, as the selector counts. */
	st = s->st[STATS_ST_ACCT_WINDOW];
	for (i = 0; i < CONFIG_WINDOW__MAX; i++) {
		stats_plan_make(&wp, stats_floor(q->now - stats_window_ms[i], STATS_HOUR_MS),
		    q->now, q->now, STATS_DAY_MS);
		stats_bind_plan(st, &wp, NULL);
		for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
			x = stats_acct_find(acct, n, stats_cs(st, 0));
			if (x != NULL) {
				x->win[i][0] = stats_ci(st, 1);
				x->win[i][1] = stats_ci(st, 2);
				x->win[i][2] = stats_ci(st, 3);
			}
		}
		if (rc < 0)
			goto out;
	}
	st = s->st[STATS_ST_INFLIGHT];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->now);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		x = stats_acct_find(acct, n, stats_cs(st, 0));
		if (x != NULL)
			x->inflight = stats_ci(st, 1);
	}
	if (rc < 0)
		goto out;
	dberr = stats_backoffs_load(s, q->now, &bo, &nbo);
	if (dberr != QP_OK)
		goto out;

	wins = stats_add_arr(&o, root, "windows");
	for (i = 0; i < CONFIG_WINDOW__MAX; i++) {
		w = stats_arr_obj(&o, wins);
		stats_put_s(&o, w, "window", stats_window_names[i]);
		stats_put_t(&o, w, "from", stats_floor(q->now - stats_window_ms[i], STATS_HOUR_MS));
	}
	arr = stats_add_arr(&o, root, "accounts");
	for (i = 0; i < n; i++) {
		x = &acct[i];
		if (q->provider[0] && strcmp(q->provider, x->p->id) != 0)
			continue;
		b = stats_backoff_find(bo, nbo, x->a->name);
		state = stats_state(x->p, x->a, b);
		if (state == STATS_STATE_DISABLED && !q->include_disabled)
			continue;
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", x->a->name);
		stats_put_s(&o, obj, "provider", x->p->id);
		stats_put_b(&o, obj, "enabled", x->a->enabled && x->p->enabled);
		stats_put_s(&o, obj, "status", stats_state_names[state]);
		stats_put_t(&o, obj, "backoff_until", b != NULL ? b->until : 0);
		stats_put_s(&o, obj, "backoff_reason", b != NULL ? b->reason : NULL);
		stats_put_s(&o, obj, "backoff_scope", b != NULL ? "account" : NULL);
		stats_put_i(&o, obj, "consecutive_failures", b != NULL ? b->failures : 0);
		stats_put_model_backoffs(&o, obj, bo, nbo, x->a->name);
		stats_put_i(&o, obj, "in_flight", x->inflight);
		stats_put_d(&o, obj, "weight", x->a->weight);
		w = stats_add_arr(&o, obj, "windows");
		maxpct = -1;
		for (j = 0; j < CONFIG_WINDOW__MAX; j++) {
			cJSON *wo = stats_arr_obj(&o, w);
			int64_t spend = x->win[j][0] + x->a->quota[j].offset_microdollars;

			quota = &x->a->quota[j];
			stats_put_s(&o, wo, "window", stats_window_names[j]);
			stats_put_quota(&o, wo, "spend_microdollars", spend, quota->microdollars);
			stats_put_quota(&o, wo, "requests", x->win[j][1], quota->requests);
			stats_put_quota(&o, wo, "tokens", x->win[j][2], quota->tokens);
			if (quota->microdollars > 0 && 100.0 * (double)spend /
			    (double)quota->microdollars > maxpct)
				maxpct = 100.0 * (double)spend / (double)quota->microdollars;
			if (quota->requests > 0 && 100.0 * (double)x->win[j][1] /
			    (double)quota->requests > maxpct)
				maxpct = 100.0 * (double)x->win[j][1] / (double)quota->requests;
			if (quota->tokens > 0 && 100.0 * (double)x->win[j][2] /
			    (double)quota->tokens > maxpct)
				maxpct = 100.0 * (double)x->win[j][2] / (double)quota->tokens;
		}
		if (maxpct >= 0)
			stats_put_d(&o, obj, "max_quota_pct", stats_round3(maxpct));
		else
			stats_put_null(&o, obj, "max_quota_pct");
		stats_put_usage(&o, obj, &x->sums);
		st = s->st[STATS_ST_ACCT_LASTERR];
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, x->a->name, -1, SQLITE_STATIC);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			stats_put_cs(&o, obj, "last_error_class", st, 0);
			stats_put_cs(&o, obj, "last_error_outcome", st, 1);
			stats_put_t(&o, obj, "last_error_at", stats_ci(st, 2));
			stats_put_ci(&o, obj, "last_error_status_code", st, 3);
			sqlite3_reset(st);
		} else {
			stats_put_null(&o, obj, "last_error_class");
			stats_put_null(&o, obj, "last_error_outcome");
			stats_put_t(&o, obj, "last_error_at", 0);
			stats_put_null(&o, obj, "last_error_status_code");
		}
	}
out:
	free(acct);
	free(bo);
	return stats_end(&o, root, dberr, err);
}

/* ---- models ------------------------------------------------------------------- */

cJSON *
stats_models(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_MODELS];
	struct stats_out o;
	struct stats_plan p;
	struct stats_sums sums;
	enum qp_err dberr = QP_OK;
	char id[2 * STATS_FILTER_MAX + 2];
	cJSON *root, *arr, *obj;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_MODELS].filters);
	arr = stats_add_arr(&o, root, "models");
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		memset(&sums, 0, sizeof(sums));
		stats_sums_add(&sums, st, 2);
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "provider", stats_cs(st, 0));
		stats_put_s(&o, obj, "model", stats_cs(st, 1));
		snprintf(id, sizeof(id), "%s/%s", stats_cs(st, 1), stats_cs(st, 0));
		stats_put_s(&o, obj, "id", id);
		stats_put_usage(&o, obj, &sums);
	}
	return stats_end(&o, root, dberr, err);
}

/* ---- latency ------------------------------------------------------------------- */

/* Histograms of one provider and model (or of everything). */
struct stats_hist {
	int64_t		 counts[STATS_LAT__MAX][STATS_BINS];
	int64_t		 sum_us[STATS_LAT__MAX];
	int64_t		 n[STATS_LAT__MAX];
};

static void
stats_hist_put(struct stats_out *o, cJSON *obj, const struct stats_hist *h, int m,
    const char *prefix)
{
	char k[48];

	snprintf(k, sizeof(k), "%scount", prefix);
	stats_put_i(o, obj, k, h->n[m]);
	snprintf(k, sizeof(k), "%savg_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3((double)h->sum_us[m] / 1000.0 /
	    (double)h->n[m]) : NAN);
	snprintf(k, sizeof(k), "%sp50_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.5)) :
	    NAN);
	snprintf(k, sizeof(k), "%sp90_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.9)) :
	    NAN);
	snprintf(k, sizeof(k), "%sp99_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.99)) :
	    NAN);
}

/* Puts one provider/model row of the latency breakdown. */
static void
stats_latency_row(struct stats_out *o, cJSON *arr, const char *provider, const char *model,
    const struct stats_hist *h)
{
	char prefix[32];
	cJSON *obj;
	int m;

	obj = stats_arr_obj(o, arr);
	stats_put_s(o, obj, "provider", provider);
	stats_put_s(o, obj, "model", model);
	for (m = 0; m < STATS_LAT__MAX; m++) {
		snprintf(prefix, sizeof(prefix), "%s_", stats_latency_names[m]);
		stats_hist_put(o, obj, h, m, prefix);
	}
}

cJSON *
stats_latency(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_LATENCY];
	struct stats_hist *all = NULL, *one = NULL;
	char provider[STATS_FILTER_MAX + 1] = "", model[STATS_FILTER_MAX + 1] = "";
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	cJSON *root, *arr = NULL, *obj;
	int rc, m, b, i, have = 0;
	int64_t c, sum;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_LATENCY].filters);
	stats_put_d(&o, root, "bin_error_pct", STATS_BIN_ERROR_PCT);
	all = calloc(1, sizeof(*all));
	one = calloc(1, sizeof(*one));
	if (all == NULL || one == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	arr = cJSON_CreateArray();
	if (arr == NULL)
		o.oom = 1;
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		m = stats_lookup(stats_latency_names, STATS_LAT__MAX, stats_cs(st, 2));
		if (m < 0)
			continue;
		if (have && (strcmp(provider, stats_cs(st, 0)) != 0 ||
		    strcmp(model, stats_cs(st, 1)) != 0)) {
			stats_latency_row(&o, arr, provider, model, one);
			for (i = 0; i < STATS_LAT__MAX; i++)
				for (b = 0; b < STATS_BINS; b++)
					all->counts[i][b] += one->counts[i][b];
			memset(one, 0, sizeof(*one));
		}
		have = 1;
		snprintf(provider, sizeof(provider), "%s", stats_cs(st, 0));
		snprintf(model, sizeof(model), "%s", stats_cs(st, 1));
		c = stats_ci(st, 3);
		sum = stats_ci(st, 4);
		(void)stats_bins_read(sqlite3_column_blob(st, 5),
		    (size_t)sqlite3_column_bytes(st, 5), one->counts[m]);
		one->n[m] += c;
		one->sum_us[m] += sum;
		all->n[m] += c;
		all->sum_us[m] += sum;
	}
	for (m = 0; have && m < STATS_LAT__MAX; m++)
		for (b = 0; b < STATS_BINS; b++)
			all->counts[m][b] += one->counts[m][b];
	if (rc < 0)
		goto out;
	if (have)
		stats_latency_row(&o, arr, provider, model, one);
	obj = stats_add_arr(&o, root, "metrics");
	for (m = 0; m < STATS_LAT__MAX; m++) {
		cJSON *mo = stats_arr_obj(&o, obj);

		stats_put_s(&o, mo, "metric", stats_latency_names[m]);
		stats_hist_put(&o, mo, all, m, "");
	}
	if (root == NULL || arr == NULL || !cJSON_AddItemToObject(root, "by_model", arr))
		o.oom = 1;
	else
		arr = NULL;
out:
	cJSON_Delete(arr);
	free(all);
	free(one);
	return stats_end(&o, root, dberr, err);
}

/* ---- tallies: small keyed sums built in memory ------------------------------- */

/* One keyed row of a tally. */
struct stats_trow {
	char		*key;		/* first key (owned) */
	char		*key2;		/* second key (owned), "" if unused */
	int64_t		 v[4];		/* sums */
};

/* A small table of keyed sums (dozens to hundreds of keys). */
struct stats_tally {
	struct stats_trow *rows;	/* owned */
	int		 n;		/* rows used */
	int		 cap;		/* rows allocated */
	int		 oom;		/* 1 once an allocation failed */
};

static struct stats_trow *
stats_tally_get(struct stats_tally *t, const char *key, const char *key2)
{
	struct stats_trow *r;
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].key, key) == 0 && strcmp(t->rows[i].key2, key2) == 0)
			return &t->rows[i];
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;

		r = realloc(t->rows, (size_t)cap * sizeof(*r));
		if (r == NULL) {
			t->oom = 1;
			return NULL;
		}
		t->rows = r;
		t->cap = cap;
	}
	r = &t->rows[t->n];
	memset(r, 0, sizeof(*r));
	r->key = strdup(key);
	r->key2 = strdup(key2);
	if (r->key == NULL || r->key2 == NULL) {
		free(r->key);
		free(r->key2);
		t->oom = 1;
		return NULL;
	}
	t->n++;
	return r;
}

static void
stats_tally_add(struct stats_tally *t, const char *key, const char *key2, int i, int64_t v)
{
	struct stats_trow *r = stats_tally_get(t, key, key2 != NULL ? key2 : "");

	if (r != NULL)
		r->v[i] += v;
}

static int
stats_trow_cmp(const void *a, const void *b)
{
	const struct stats_trow *x = a, *y = b;
	int c;

	if (x->v[0] != y->v[0])
		return x->v[0] > y->v[0] ? -1 : 1;
	c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	return strcmp(x->key2, y->key2);
}

/* Sorts by v[0] descending, then by keys. */
static void
stats_tally_sort(struct stats_tally *t)
{

	if (t->n > 1)
		qsort(t->rows, (size_t)t->n, sizeof(*t->rows), stats_trow_cmp);
}

static void
stats_tally_free(struct stats_tally *t)
{
	int i;

	for (i = 0; i < t->n; i++) {
		free(t->rows[i].key);
		free(t->rows[i].key2);
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* ---- timeseries ------------------------------------------------------------------ */

/* Bucket size (ms) for a period of len ms: at most STATS_SERIES_BUCKETS buckets. */
static int64_t
stats_bucket_ms(int64_t len, int fine_ok)
{

	if (len <= 5 * STATS_HOUR_MS && fine_ok)
		return STATS_FINE_MS;
	if (len <= 60 * STATS_HOUR_MS)
		return STATS_HOUR_MS;
	if (len <= 15 * STATS_DAY_MS)
		return 6 * STATS_HOUR_MS;
	return STATS_DAY_MS;
}

/* One series of a timeseries. */
struct stats_series {
	char		*name;		/* group key (owned) */
	int64_t		 total;		/* over the period */
	int64_t		*v;		/* per bucket (owned) */
};

static int
stats_series_cmp(const void *a, const void *b)
{
	const struct stats_series *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name, y->name);
}

cJSON *
stats_timeseries(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_SERIES];
	struct stats_series *ser = NULL, *t;
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t bms, first, nb, bi, other_total = 0, grand = 0, v;
	int nser = 0, cap = 0, rc, i, shown;
	const char *k;
	cJSON *root, *arr, *obj, *vals;

	(void)cfg;
	bms = stats_bucket_ms(q->to - q->from,
	    q->from >= q->now - STATS_FINE_KEEP_MS + STATS_FINE_MS);
	stats_plan_make(&p, q->from, q->to, q->now, bms >= STATS_DAY_MS ? STATS_DAY_MS :
	    bms >= STATS_HOUR_MS ? STATS_HOUR_MS : STATS_FINE_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_TIMESERIES].filters);
	stats_put_s(&o, root, "group_by", stats_group_names[q->group_by]);
	stats_put_s(&o, root, "metric", stats_metric_names[q->metric]);
	stats_put_i(&o, root, "top", q->top);
	stats_put_i(&o, root, "bucket_ms", bms);
	first = stats_floor(p.from, bms);
	nb = (stats_floor(p.to - 1, bms) - first) / bms + 1;
	if (nb < 1)
		nb = 1;

	stats_bind_plan(st, &p, q);
	stats_bind_i(st, STATS_P_EXTRA, q->group_by);
	stats_bind_i(st, STATS_P_EXTRA + 1, bms);
	stats_bind_i(st, STATS_P_EXTRA + 2, q->metric);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		k = stats_cs(st, 0);
		if (k[0] == '\0' || strcmp(k, "/") == 0)
			k = "(none)";
		if (nser == 0 || strcmp(ser[nser - 1].name, k) != 0) {
			if (nser == cap) {
				cap = cap ? cap * 2 : 16;
				t = realloc(ser, (size_t)cap * sizeof(*ser));
				if (t == NULL) {
					dberr = QP_ENOMEM;
					sqlite3_reset(st);
					goto out;
				}
				ser = t;
			}
			t = &ser[nser];
			t->total = 0;
			t->name = strdup(k);
			t->v = calloc((size_t)nb, sizeof(*t->v));
			nser++;
			if (t->name == NULL || t->v == NULL) {
				dberr = QP_ENOMEM;
				sqlite3_reset(st);
				goto out;
			}
		}
		t = &ser[nser - 1];
		bi = (stats_ci(st, 1) - first) / bms;
		if (bi < 0 || bi >= nb)
			continue;
		v = stats_ci(st, 2);
		t->v[bi] += v;
		t->total += v;
		grand += v;
	}
	if (rc < 0)
		goto out;
	if (nser > 1)
		qsort(ser, (size_t)nser, sizeof(*ser), stats_series_cmp);
	shown = nser < q->top ? nser : q->top;
	for (i = shown; i < nser; i++)
		other_total += ser[i].total;

	stats_put_i(&o, root, "total", grand);
	arr = stats_add_arr(&o, root, "series");
	for (i = 0; i < shown; i++) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", ser[i].name);
		stats_put_i(&o, obj, "total", ser[i].total);
		stats_put_d(&o, obj, "share", stats_ratio((double)ser[i].total, (double)grand));
	}
	if (nser > shown) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", "other");
		stats_put_i(&o, obj, "total", other_total);
		stats_put_d(&o, obj, "share", stats_ratio((double)other_total, (double)grand));
		stats_put_i(&o, obj, "folded", nser - shown);
	}
	arr = stats_add_arr(&o, root, "buckets");
	for (bi = 0; bi < nb && !o.oom; bi++) {
		int64_t bt = 0, ov = 0;

		obj = stats_arr_obj(&o, arr);
		stats_put_t(&o, obj, "start", first + bi * bms);
		vals = stats_add_arr(&o, obj, "values");
		for (i = 0; i < nser; i++) {
			bt += ser[i].v[bi];
			if (i < shown)
				stats_arr_num(&o, vals, (double)ser[i].v[bi]);
			else
				ov += ser[i].v[bi];
		}
		if (nser > shown)
			stats_arr_num(&o, vals, (double)ov);
		stats_put_i(&o, obj, "total", bt);
	}
out:
	for (i = 0; i < nser; i++) {
		free(ser[i].name);
		free(ser[i].v);
	}
	free(ser);
	return stats_end(&o, root, dberr, err);
}

/* ---- bandwidth ------------------------------------------------------------------- */

cJSON *
stats_bandwidth(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_BANDWIDTH];
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t from, to, d0, nd, di, (*days)[4] = NULL, tot[4] = { 0 }, max = 0, v;
	char date[16];
	cJSON *root, *arr, *obj;
	int rc, i, level;

	(void)cfg;
	from = q->from;
	to = q->to;
	if (!q->period_given) {
		from = stats_floor(q->now, STATS_DAY_MS) - (STATS_CALENDAR_DAYS - 1) * STATS_DAY_MS;
		to = q->now;
	}
	stats_plan_make(&p, from, to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_BANDWIDTH].filters);
	d0 = stats_floor(p.from, STATS_DAY_MS) / STATS_DAY_MS;
	nd = (p.to - 1) / STATS_DAY_MS - d0 + 1;
	if (nd < 1)
		nd = 1;
	days = calloc((size_t)nd, sizeof(*days));
	if (days == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		di = stats_ci(st, 0) - d0;
		if (di < 0 || di >= nd)
			continue;
		for (i = 0; i < 4; i++) {
			days[di][i] += stats_ci(st, 1 + i);
			tot[i] += stats_ci(st, 1 + i);
		}
	}
	if (rc < 0)
		goto out;
	for (di = 0; di < nd; di++)
		if (days[di][0] + days[di][1] > max)
			max = days[di][0] + days[di][1];
	stats_put_i(&o, root, "total_bytes_in", tot[0]);
	stats_put_i(&o, root, "total_bytes_emitted", tot[1]);
	stats_put_i(&o, root, "total_bytes_received", tot[2]);
	stats_put_i(&o, root, "total_requests", tot[3]);
	stats_put_i(&o, root, "max_day_bytes", max);
	arr = stats_add_arr(&o, root, "days");
	for (di = 0; di < nd && !o.oom; di++) {
		v = days[di][0] + days[di][1];
		level = v == 0 || max == 0 ? 0 : (int)((v * 4 + max - 1) / max);
		obj = stats_arr_obj(&o, arr);
		stats_date((d0 + di) * STATS_DAY_MS, date, sizeof(date));
		stats_put_s(&o, obj, "date", date);
		stats_put_i(&o, obj, "start", (d0 + di) * STATS_DAY_MS);
		/* 1970-01-01 was a Thursday; 0 = Sunday. */
		stats_put_i(&o, obj, "weekday", ((d0 + di) % 7 + 4) % 7);
		stats_put_i(&o, obj, "bytes_in", days[di][0]);
		stats_put_i(&o, obj, "bytes_emitted", days[di][1]);
		stats_put_i(&o, obj, "bytes_received", days[di][2]);
		stats_put_i(&o, obj, "total_bytes", v);
		stats_put_i(&o, obj, "requests", days[di][3]);
		stats_put_i(&o, obj, "level", level);
	}
out:
	free(days);
	return stats_end(&o, root, dberr, err);
}

/* ---- attempts and retries ---------------------------------------------------------- */

/* Puts a tally as an array of {k1: key, [k2: key2,] n1: v[0], ...}. */
static void
stats_put_tally(struct stats_out *o, cJSON *root, const char *name, struct stats_tally *t,
    const char *k1, const char *k2, const char *const *vn, int nv)
{
	cJSON *arr, *obj;
	int i, j;

	if (t->oom)
		o->oom = 1;
	stats_tally_sort(t);
	arr = stats_add_arr(o, root, name);
	for (i = 0; i < t->n && !o->oom; i++) {
		obj = stats_arr_obj(o, arr);
		stats_put_s(o, obj, k1, t->rows[i].key);
		if (k2 != NULL)
			stats_put_s(o, obj, k2, t->rows[i].key2);
		for (j = 0; j < nv; j++)
			stats_put_i(o, obj, vn[j], t->rows[i].v[j]);
	}
}

cJSON *
stats_attempts(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_out[] = { "attempts" };
	static const char *const vn_prov[] = { "attempts", "ok", "failed", "total_ms_sum" };
	sqlite3_stmt *st = s->st[STATS_ST_ATTEMPTS];
	struct stats_tally by_out = { 0 }, by_cat = { 0 }, by_prov = { 0 }, rows = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t n, total = 0, ok = 0;
	const char *outcome;
	cJSON *root;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_ATTEMPTS].filters);
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		n = stats_ci(st, 3);
		outcome = stats_cs(st, 1);
		total += n;
		stats_tally_add(&by_out, outcome[0] ? outcome : "(none)", NULL, 0, n);
		stats_tally_add(&by_cat, stats_cs(st, 2)[0] ? stats_cs(st, 2) : "none", NULL, 0, n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, 0, n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, strcmp(outcome, "ok") == 0 ? 1 : 2,
		    n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, 3, stats_ci(st, 4));
		stats_tally_add(&rows, stats_cs(st, 0), outcome, 0, n);
		if (strcmp(outcome, "ok") == 0)
			ok += n;
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_attempts", total);
	stats_put_i(&o, root, "ok_attempts", ok);
	stats_put_i(&o, root, "failed_attempts", total - ok);
	stats_put_d(&o, root, "failure_rate", stats_ratio((double)(total - ok), (double)total));
	stats_put_tally(&o, root, "by_outcome", &by_out, "outcome", NULL, vn_out, 1);
	stats_put_tally(&o, root, "by_retry_category", &by_cat, "retry_category", NULL, vn_out, 1);
	stats_put_tally(&o, root, "by_provider", &by_prov, "provider", NULL, vn_prov, 4);
	stats_put_tally(&o, root, "by_provider_outcome", &rows, "provider", "outcome", vn_out, 1);
out:
	stats_tally_free(&by_out);
	stats_tally_free(&by_cat);
	stats_tally_free(&by_prov);
	stats_tally_free(&rows);
	return stats_end(&o, root, dberr, err);
}

cJSON *
stats_retries(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_model[] = { "retried", "rescued", "requests" };
	sqlite3_stmt *st = s->st[STATS_ST_RETRIES];
	struct stats_tally by_model = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t dist[STATS_ATTEMPTS_CAP + 1][2], total = 0, retried = 0, rescued = 0;
	int64_t first_ok = 0, n;
	int rc, ac, done;
	cJSON *root, *arr, *obj;

	(void)cfg;
	memset(dist, 0, sizeof(dist));
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_RETRIES].filters);
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		done = strcmp(stats_cs(st, 2), "completed") == 0;
		for (ac = 0; ac <= STATS_ATTEMPTS_CAP; ac++) {
			n = stats_ci(st, 3 + ac);
			total += n;
			dist[ac][0] += n;
			if (done)
				dist[ac][1] += n;
			if (ac == 1 && done)
				first_ok += n;
			stats_tally_add(&by_model, stats_cs(st, 0), stats_cs(st, 1), 2, n);
			if (ac > 1) {
				retried += n;
				stats_tally_add(&by_model, stats_cs(st, 0), stats_cs(st, 1), 0, n);
				if (done) {
					rescued += n;
					stats_tally_add(&by_model, stats_cs(st, 0),
					    stats_cs(st, 1), 1, n);
				}
			}
		}
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_requests", total);
	stats_put_i(&o, root, "first_attempt_success", first_ok);
	stats_put_i(&o, root, "retried_requests", retried);
	stats_put_i(&o, root, "rescued_requests", rescued);
	stats_put_i(&o, root, "failed_after_retry", retried - rescued);
	stats_put_d(&o, root, "rescue_rate", stats_ratio((double)rescued, (double)retried));
	arr = stats_add_arr(&o, root, "distribution");
	for (ac = 0; ac <= STATS_ATTEMPTS_CAP; ac++) {
		if (dist[ac][0] == 0)
			continue;
		obj = stats_arr_obj(&o, arr);
		stats_put_i(&o, obj, "attempts", ac);
		stats_put_b(&o, obj, "or_more", ac == STATS_ATTEMPTS_CAP);
		stats_put_i(&o, obj, "requests", dist[ac][0]);
		stats_put_i(&o, obj, "completed", dist[ac][1]);
	}
	/* Only models with retries are listed. */
	for (ac = 0; ac < by_model.n; ac++)
		if (by_model.rows[ac].v[0] == 0) {
			free(by_model.rows[ac].key);
			free(by_model.rows[ac].key2);
			by_model.rows[ac] = by_model.rows[--by_model.n];
			ac--;
		}
	stats_put_tally(&o, root, "by_model", &by_model, "provider", "model", vn_model, 3);
out:
	stats_tally_free(&by_model);
	return stats_end(&o, root, dberr, err);
}

/* ---- routing ---------------------------------------------------------------------- */

cJSON *
stats_routing(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_model[] = { "decisions", "no_account" };
	static const char *const vn_acct[] = { "chosen" };
	static const char *const vn_count[] = { "count" };
	sqlite3_stmt *st = s->st[STATS_ST_ROUTING];
	struct stats_tally by_model = { 0 }, by_acct = { 0 }, by_reason = { 0 }, excl = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t n, decisions = 0, none = 0, chosen = 0, excluded = 0;
	const char *reason;
	cJSON *root;
	int rc, i;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_ROUTING].filters);
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		reason = stats_cs(st, 3);
		n = stats_ci(st, 4);
		if (strcmp(reason, "chosen") == 0) {
			decisions += n;
			chosen += n;
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 0, n);
			stats_tally_add(&by_acct, stats_cs(st, 1), stats_cs(st, 2), 0, n);
		} else if (strcmp(reason, "no_account") == 0) {
			decisions += n;
			none += n;
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 0, n);
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 1, n);
		} else {
			excluded += n;
			stats_tally_add(&by_reason, reason, NULL, 0, n);
			stats_tally_add(&excl, stats_cs(st, 1), reason, 0, n);
		}
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "decisions", decisions);
	stats_put_i(&o, root, "chosen", chosen);
	stats_put_i(&o, root, "no_account", none);
	stats_put_i(&o, root, "exclusions", excluded);
	stats_put_tally(&o, root, "by_model", &by_model, "model", NULL, vn_model, 2);
	stats_put_tally(&o, root, "by_account", &by_acct, "account", "provider", vn_acct, 1);
	/* The share of decisions each account won. */
	if (!o.oom && root != NULL) {
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "by_account"), *it;

		i = 0;
		cJSON_ArrayForEach(it, arr) {
			stats_put_d(&o, it, "share", stats_ratio((double)by_acct.rows[i].v[0],
			    (double)chosen));
			i++;
		}
	}
	stats_put_tally(&o, root, "exclusions_by_reason", &by_reason, "reason", NULL, vn_count, 1);
	stats_put_tally(&o, root, "exclusions_by_account", &excl, "account", "reason", vn_count, 1);
out:
	stats_tally_free(&by_model);
	stats_tally_free(&by_acct);
	stats_tally_free(&by_reason);
	stats_tally_free(&excl);
	return stats_end(&o, root, dberr, err);
}

/* ---- pings --------------------------------------------------------------------- */

/* One provider's pings, per bucket. */
struct stats_pingser {
	char		*provider;	/* owned */
	int64_t		(*v)[5];	/* per bucket: probes, ok, latency sum, latency n, max */
	int64_t		*min;		/* per bucket: least latency, -1 = none */
};

static int
stats_pingser_cmp(const void *a, const void *b)
{

	return strcmp(((const struct stats_pingser *)a)->provider,
	    ((const struct stats_pingser *)b)->provider);
}

cJSON *
stats_pings(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_PINGS];
	struct stats_pingser *ps = NULL, *t;
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t bms, first, nb, bi, lat, tot[4];
	cJSON *root, *arr, *prov, *series, *obj, *it;
	const char *name;
	int rc, i, n = 0, cap = 0, last = -1;

	(void)cfg;
	bms = stats_bucket_ms(q->to - q->from, 1);
	first = stats_floor(q->from, bms);
	nb = (stats_floor(q->to - 1, bms) - first) / bms + 1;
	if (nb < 1)
		nb = 1;
	root = stats_begin(&o, q, q->from, q->to, stats_ds_table[STATS_DS_PINGS].filters);
	stats_put_i(&o, root, "bucket_ms", bms);
	/* Rows come in time order from a covering index; they are summed here. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	stats_bind_opt(st, 3, q->provider);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		name = stats_cs(st, 0);
		if (last < 0 || strcmp(ps[last].provider, name) != 0) {
			for (last = 0; last < n && strcmp(ps[last].provider, name) != 0; last++)
				;
			if (last == n) {
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					t = realloc(ps, (size_t)cap * sizeof(*ps));
					if (t == NULL) {
						dberr = QP_ENOMEM;
						sqlite3_reset(st);
						goto out;
					}
					ps = t;
				}
				t = &ps[n++];
				t->provider = strdup(name);
				t->v = calloc((size_t)nb, sizeof(*t->v));
				t->min = malloc((size_t)nb * sizeof(*t->min));
				if (t->provider == NULL || t->v == NULL || t->min == NULL) {
					dberr = QP_ENOMEM;
					sqlite3_reset(st);
					goto out;
				}
				for (bi = 0; bi < nb; bi++)
					t->min[bi] = -1;
			}
		}
		t = &ps[last];
		bi = (stats_ci(st, 1) - first) / bms;
		if (bi < 0 || bi >= nb)
			continue;
		t->v[bi][0]++;
		t->v[bi][1] += stats_ci(st, 2) != 0;
		if (!stats_cnull(st, 3)) {
			lat = stats_ci(st, 3);
			t->v[bi][2] += lat;
			t->v[bi][3]++;
			if (lat > t->v[bi][4])
				t->v[bi][4] = lat;
			if (t->min[bi] < 0 || lat < t->min[bi])
				t->min[bi] = lat;
		}
	}
	if (rc < 0)
		goto out;
	if (n > 1)
		qsort(ps, (size_t)n, sizeof(*ps), stats_pingser_cmp);
	arr = stats_add_arr(&o, root, "providers");
	for (i = 0; i < n && !o.oom; i++) {
		memset(tot, 0, sizeof(tot));
		prov = stats_arr_obj(&o, arr);
		stats_put_s(&o, prov, "provider", ps[i].provider);
		series = stats_add_arr(&o, prov, "series");
		for (bi = 0; bi < nb; bi++) {
			if (ps[i].v[bi][0] == 0)
				continue;
			tot[0] += ps[i].v[bi][0];
			tot[1] += ps[i].v[bi][1];
			tot[2] += ps[i].v[bi][2];
			tot[3] += ps[i].v[bi][3];
			obj = stats_arr_obj(&o, series);
			stats_put_t(&o, obj, "start", first + bi * bms);
			stats_put_i(&o, obj, "probes", ps[i].v[bi][0]);
			stats_put_i(&o, obj, "ok", ps[i].v[bi][1]);
			/* Probes without an answer have no latency. */
			stats_put_d(&o, obj, "avg_latency_ms", ps[i].v[bi][3] > 0 ?
			    stats_round3((double)ps[i].v[bi][2] / (double)ps[i].v[bi][3]) : NAN);
			if (ps[i].min[bi] >= 0) {
				stats_put_i(&o, obj, "min_latency_ms", ps[i].min[bi]);
				stats_put_i(&o, obj, "max_latency_ms", ps[i].v[bi][4]);
			} else {
				stats_put_null(&o, obj, "min_latency_ms");
				stats_put_null(&o, obj, "max_latency_ms");
			}
		}
		stats_put_i(&o, prov, "probes", tot[0]);
		stats_put_i(&o, prov, "ok", tot[1]);
		stats_put_d(&o, prov, "success_rate", stats_ratio((double)tot[1], (double)tot[0]));
		stats_put_d(&o, prov, "avg_latency_ms", tot[3] > 0 ?
		    stats_round3((double)tot[2] / (double)tot[3]) : NAN);
	}
	if (o.oom)
		goto out;
	/* The last probe of each provider. */
	st = s->st[STATS_ST_PINGS_LAST];
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, q->from);
		sqlite3_bind_int64(st, 2, q->to);
		sqlite3_bind_text(st, 3, ps[i++].provider, -1, SQLITE_STATIC);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 0)
			continue;
		obj = stats_add_obj(&o, it, "last");
		stats_put_t(&o, obj, "probed_at", stats_ci(st, 1));
		stats_put_b(&o, obj, "ok", stats_ci(st, 2) != 0);
		stats_put_ci(&o, obj, "status_code", st, 3);
		stats_put_cs(&o, obj, "error", st, 4);
		stats_put_ci(&o, obj, "latency_ms", st, 5);
		stats_put_cs(&o, obj, "account", st, 6);
		stats_put_ci(&o, obj, "model_count", st, 7);
		sqlite3_reset(st);
	}
out:
	for (i = 0; i < n; i++) {
		free(ps[i].provider);
		free(ps[i].v);
		free(ps[i].min);
	}
	free(ps);
	return stats_end(&o, root, dberr, err);
}

/* ---- requests as JSON ------------------------------------------------------------- */

/* Puts the STATS_REQ_COLS of st (from col 0) into obj. */
static void
stats_put_request(struct stats_out *o, cJSON *obj, sqlite3_stmt *st)
{

	stats_put_cs(o, obj, "request_id", st, 0);
	stats_put_t(o, obj, "started_at", stats_ci(st, 1));
	stats_put_t(o, obj, "completed_at", stats_cnull(st, 2) ? 0 : stats_ci(st, 2));
	stats_put_cs(o, obj, "status", st, 3);
	stats_put_ci(o, obj, "status_code", st, 4);
	stats_put_cs(o, obj, "protocol", st, 5);
	stats_put_cs(o, obj, "endpoint", st, 6);
	stats_put_cs(o, obj, "model", st, 7);
	stats_put_cs(o, obj, "model_base", st, 8);
	stats_put_cs(o, obj, "provider", st, 9);
	stats_put_cs(o, obj, "account", st, 10);
	stats_put_b(o, obj, "streamed", stats_ci(st, 11) != 0);
	stats_put_i(o, obj, "attempt_count", stats_ci(st, 12));
	stats_put_i(o, obj, "input_tokens", stats_ci(st, 13));
	stats_put_i(o, obj, "output_tokens", stats_ci(st, 14));
	stats_put_i(o, obj, "cache_read_tokens", stats_ci(st, 15));
	stats_put_i(o, obj, "cache_write_tokens", stats_ci(st, 16));
	stats_put_i(o, obj, "reasoning_tokens", stats_ci(st, 17));
	stats_put_i(o, obj, "cost_microdollars", stats_ci(st, 18));
	stats_put_cs(o, obj, "cost_exactness", st, 19);
	stats_put_ci(o, obj, "total_ms", st, 20);
	stats_put_ci(o, obj, "ttft_ms", st, 21);
	stats_put_i(o, obj, "bytes_in", stats_ci(st, 22));
	stats_put_i(o, obj, "bytes_emitted", stats_ci(st, 23));
	stats_put_cs(o, obj, "error_class", st, 24);
	stats_put_cs(o, obj, "retry_category", st, 25);
	stats_put_cs(o, obj, "finish_reason", st, 26);
	if (stats_cnull(st, 27))
		stats_put_null(o, obj, "stream_complete");
	else
		stats_put_b(o, obj, "stream_complete", stats_ci(st, 27) != 0);
	stats_put_cs(o, obj, "client_ip", st, 28);
	stats_put_cs(o, obj, "alias", st, 29);
	stats_put_cs(o, obj, "alias_target", st, 30);
}

/* ---- errors ------------------------------------------------------------------------ */

cJSON *
stats_errors(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_ERRORS];
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t total = 0;
	cJSON *root, *arr, *obj;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_ds_table[STATS_DS_ERRORS].filters);
	arr = stats_add_arr(&o, root, "by_class");
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "error_class", stats_cs(st, 0)[0] ? stats_cs(st, 0) : NULL);
		stats_put_s(&o, obj, "status", stats_cs(st, 1));
		stats_put_i(&o, obj, "count", stats_ci(st, 2));
		stats_put_t(&o, obj, "last_bucket", stats_ci(st, 3));
		total += stats_ci(st, 2);
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_failed", total);
	arr = stats_add_arr(&o, root, "recent");
	st = s->st[STATS_ST_ERRORS_RECENT];
	stats_bind_raw(st, q->from, q->to, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr))
		stats_put_request(&o, stats_arr_obj(&o, arr), st);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- operational events -------------------------------------------------------------- */

cJSON *
stats_operational(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_EVENT_COUNTS];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	cJSON *root, *arr, *obj, *det;
	const char *txt;
	int rc;

	(void)cfg;
	root = stats_begin(&o, q, q->from, q->to, 0);
	arr = stats_add_arr(&o, root, "counts");
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "event_type", stats_cs(st, 0));
		stats_put_i(&o, obj, "count", stats_ci(st, 1));
		stats_put_t(&o, obj, "last_at", stats_ci(st, 2));
	}
	if (rc < 0)
		goto out;
	arr = stats_add_arr(&o, root, "events");
	st = s->st[STATS_ST_EVENTS];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	sqlite3_bind_int(st, 3, q->limit);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_i(&o, obj, "id", stats_ci(st, 0));
		stats_put_s(&o, obj, "event_type", stats_cs(st, 1));
		stats_put_t(&o, obj, "occurred_at", stats_ci(st, 3));
		txt = stats_cs(st, 2);
		det = cJSON_ParseWithLength(txt, (size_t)sqlite3_column_bytes(st, 2));
		if (det != NULL && obj != NULL && cJSON_AddItemToObject(obj, "details", det))
			det = NULL;
		else
			stats_put_s(&o, obj, "details_text", txt);
		cJSON_Delete(det);
	}
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- pending health ------------------------------------------------------------------ */

cJSON *
stats_pending_health(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_PENDING];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t now = q->now, stale = q->now - STATS_HEARTBEAT_STALE_MS;
	cJSON *root, *arr, *obj;
	const char *state;
	int rc;

	o.oom = 0;
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	stats_put_t(&o, root, "now", now);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "pending_requests", stats_ci(st, 0));
		stats_put_i(&o, root, "pending_streamed", (int64_t)sqlite3_column_double(st, 2));
		if (stats_ci(st, 0) > 0) {
			stats_put_i(&o, root, "oldest_pending_age_ms", now - stats_ci(st, 1));
			stats_put_t(&o, root, "oldest_pending_started_at", stats_ci(st, 1));
		} else {
			stats_put_null(&o, root, "oldest_pending_age_ms");
			stats_put_t(&o, root, "oldest_pending_started_at", 0);
		}
		stats_put_i(&o, root, "older_than_1m", (int64_t)sqlite3_column_double(st, 3));
		stats_put_i(&o, root, "older_than_10m", (int64_t)sqlite3_column_double(st, 4));
		stats_put_i(&o, root, "older_than_1h", (int64_t)sqlite3_column_double(st, 5));
		sqlite3_reset(st);
	}
	st = s->st[STATS_ST_RESERVATIONS];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "reservations", stats_ci(st, 0));
		stats_put_i(&o, root, "reservations_expired",
		    (int64_t)sqlite3_column_double(st, 1));
		sqlite3_reset(st);
	}
	st = s->st[STATS_ST_PROCESSES];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, stale);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "processes_live", (int64_t)sqlite3_column_double(st, 0));
		stats_put_i(&o, root, "processes_silent", (int64_t)sqlite3_column_double(st, 1));
		sqlite3_reset(st);
	}
	arr = stats_add_arr(&o, root, "by_process");
	st = s->st[STATS_ST_PENDING_PROCS];
	sqlite3_reset(st);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_ci(&o, obj, "process_id", st, 0);
		stats_put_ci(&o, obj, "pid", st, 1);
		stats_put_cs(&o, obj, "hostname", st, 2);
		if (stats_cnull(st, 1))
			state = "unknown";
		else if (!stats_cnull(st, 4))
			state = "stopped";
		else if (stats_ci(st, 3) < stale)
			state = "silent";
		else
			state = "live";
		stats_put_s(&o, obj, "state", state);
		stats_put_t(&o, obj, "heartbeat_at", stats_cnull(st, 3) ? 0 : stats_ci(st, 3));
		stats_put_i(&o, obj, "pending", stats_ci(st, 5));
	}
	if (rc < 0)
		goto out;
	arr = stats_add_arr(&o, root, "oldest");
	st = s->st[STATS_ST_PENDING_OLDEST];
	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, q->limit < STATS_PENDING_LIST ? q->limit : STATS_PENDING_LIST);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_cs(&o, obj, "request_id", st, 0);
		stats_put_t(&o, obj, "started_at", stats_ci(st, 1));
		stats_put_i(&o, obj, "age_ms", now - stats_ci(st, 1));
		stats_put_cs(&o, obj, "model", st, 2);
		stats_put_cs(&o, obj, "provider", st, 3);
		stats_put_cs(&o, obj, "account", st, 4);
		stats_put_b(&o, obj, "streamed", stats_ci(st, 5) != 0);
		stats_put_i(&o, obj, "attempt_count", stats_ci(st, 6));
		stats_put_ci(&o, obj, "process_id", st, 7);
	}
	if (rc < 0)
		goto out;
	dberr = stats_put_health(s, cfg, now, &o, root);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- recent requests and traces ------------------------------------------------------ */

cJSON *
stats_recent_requests(struct stats_db *s, const struct config *cfg,
    const struct stats_query *q, enum qp_err *err)
{
	sqlite3_stmt *st;
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t searched;
	cJSON *root, *arr;
	int rc, n = 0;

	(void)cfg;
	root = stats_begin(&o, q, q->from, q->to,
	    stats_ds_table[STATS_DS_RECENT_REQUESTS].filters);
	stats_put_i(&o, root, "limit", q->limit);
	arr = stats_add_arr(&o, root, "requests");
	st = s->st[STATS_ST_RECENT];
	stats_bind_raw(st, q->from, q->to, q);
	stats_bind_i(st, 8, STATS_SCAN_MAX);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		stats_put_request(&o, stats_arr_obj(&o, arr), st);
		n++;
	}
	if (rc < 0)
		goto out;
	/* A filtered search looks at the newest STATS_SCAN_MAX rows only: say so. */
	searched = q->from;
	if (n < q->limit && q->filters != 0) {
		st = s->st[STATS_ST_RECENT_EDGE];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, q->from);
		sqlite3_bind_int64(st, 2, q->to);
		sqlite3_bind_int(st, 3, STATS_SCAN_MAX);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			searched = stats_ci(st, 0);
			sqlite3_reset(st);
		}
	}
	stats_put_b(&o, root, "complete", searched == q->from);
	stats_put_t(&o, root, "searched_from", searched);
out:
	return stats_end(&o, root, dberr, err);
}

/* Puts a routing decision row (STATS_ST_TRACE_DEC columns) into obj. */
static void
stats_put_decision(struct stats_out *o, cJSON *obj, sqlite3_stmt *st)
{
	cJSON *det;

	stats_put_i(o, obj, "attempt_number", stats_ci(st, 0));
	stats_put_cs(o, obj, "model", st, 1);
	stats_put_cs(o, obj, "chosen_account", st, 2);
	stats_put_cs(o, obj, "chosen_provider", st, 3);
	stats_put_ci(o, obj, "tier", st, 4);
	stats_put_i(o, obj, "candidates", stats_ci(st, 5));
	stats_put_i(o, obj, "eligible", stats_ci(st, 6));
	stats_put_t(o, obj, "decided_at", stats_ci(st, 8));
	det = cJSON_ParseWithLength(stats_cs(st, 7), (size_t)sqlite3_column_bytes(st, 7));
	if (det != NULL && obj != NULL && cJSON_AddItemToObject(obj, "detail", det))
		return;
	cJSON_Delete(det);
	stats_put_null(o, obj, "detail");
}

cJSON *
stats_recent(struct stats_db *s, const struct config *cfg, const char *uid, size_t len,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_TRACE_REQ];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	cJSON *root = NULL, *req, *atts, *orphans, *obj, *it;
	int64_t id;
	size_t i;
	int rc, found;

	(void)cfg;
	o.oom = 0;
	/* Request ids are UUIDs: hex digits and dashes. */
	if (len == 0 || len > 64) {
		*err = QP_ENOTFOUND;
		return NULL;
	}
	for (i = 0; i < len; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f') ||
		    (uid[i] >= 'A' && uid[i] <= 'F') || uid[i] == '-')) {
			*err = QP_ENOTFOUND;
			return NULL;
		}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, uid, (int)len, SQLITE_TRANSIENT);
	rc = stats_step(st, &dberr);
	if (rc <= 0) {
		*err = rc < 0 ? dberr : QP_ENOTFOUND;
		return NULL;
	}
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	req = stats_add_obj(&o, root, "request");
	stats_put_request(&o, req, st);
	id = stats_ci(st, STATS_REQ_NCOLS);
	stats_put_ci(&o, req, "connect_ms", st, STATS_REQ_NCOLS + 1);
	stats_put_ci(&o, req, "first_byte_ms", st, STATS_REQ_NCOLS + 2);
	stats_put_ci(&o, req, "overhead_us", st, STATS_REQ_NCOLS + 3);
	stats_put_i(&o, req, "bytes_received", stats_ci(st, STATS_REQ_NCOLS + 4));
	stats_put_cs(&o, req, "client_key", st, STATS_REQ_NCOLS + 5);
	sqlite3_reset(st);

	atts = stats_add_arr(&o, root, "attempts");
	st = s->st[STATS_ST_TRACE_ATT];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, atts);
		stats_put_i(&o, obj, "attempt_number", stats_ci(st, 0));
		stats_put_cs(&o, obj, "provider", st, 1);
		stats_put_cs(&o, obj, "account", st, 2);
		stats_put_cs(&o, obj, "model", st, 3);
		stats_put_t(&o, obj, "started_at", stats_ci(st, 4));
		stats_put_t(&o, obj, "completed_at", stats_cnull(st, 5) ? 0 : stats_ci(st, 5));
		stats_put_ci(&o, obj, "status_code", st, 6);
		stats_put_cs(&o, obj, "outcome", st, 7);
		stats_put_cs(&o, obj, "retry_category", st, 8);
		stats_put_cs(&o, obj, "error_class", st, 9);
		stats_put_ci(&o, obj, "connect_ms", st, 10);
		stats_put_ci(&o, obj, "first_byte_ms", st, 11);
		stats_put_ci(&o, obj, "total_ms", st, 12);
		stats_put_i(&o, obj, "bytes_sent", stats_ci(st, 13));
		stats_put_i(&o, obj, "bytes_received", stats_ci(st, 14));
		stats_put_cs(&o, obj, "upstream_request_id", st, 15);
	}
	if (rc < 0)
		goto out;
	orphans = stats_add_arr(&o, root, "decisions_without_attempt");
	st = s->st[STATS_ST_TRACE_DEC];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		found = 0;
		cJSON_ArrayForEach(it, atts) {
			cJSON *num = cJSON_GetObjectItemCaseSensitive(it, "attempt_number");

			if (cJSON_IsNumber(num) && (int64_t)num->valuedouble == stats_ci(st, 0) &&
			    cJSON_GetObjectItemCaseSensitive(it, "decision") == NULL) {
				stats_put_decision(&o, stats_add_obj(&o, it, "decision"), st);
				found = 1;
				break;
			}
		}
		if (!found)
			stats_put_decision(&o, stats_arr_obj(&o, orphans), st);
	}
	if (rc < 0)
		goto out;
	cJSON_ArrayForEach(it, atts)
		if (cJSON_GetObjectItemCaseSensitive(it, "decision") == NULL)
			stats_put_null(&o, it, "decision");
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- backoffs ------------------------------------------------------------------------ */

cJSON *
stats_backoffs(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	struct stats_backoff *bo = NULL;
	struct stats_out o;
	enum qp_err dberr;
	char iso[32];
	cJSON *root, *arr, *obj;
	const char *prov;
	int i, j, k, n = 0;

	o.oom = 0;
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	stats_iso(q->now, iso, sizeof(iso));
	stats_put_s(&o, root, "now", iso);
	stats_put_i(&o, root, "now_ms", q->now);
	dberr = stats_backoffs_load(s, q->now, &bo, &n);
	if (dberr != QP_OK)
		goto out;
	arr = stats_add_arr(&o, root, "backoffs");
	for (k = 0; k < n; k++) {
		prov = NULL;
		for (i = 0; cfg != NULL && i < cfg->nproviders && prov == NULL; i++)
			for (j = 0; j < cfg->providers[i].naccounts; j++)
				if (strcmp(cfg->providers[i].accounts[j].name,
				    bo[k].account) == 0) {
					prov = cfg->providers[i].id;
					break;
				}
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "account_name", bo[k].account);
		stats_put_s(&o, obj, "provider_id", prov);
		stats_put_s(&o, obj, "model_id", bo[k].model[0] ? bo[k].model : NULL);
		stats_put_s(&o, obj, "scope", bo[k].model[0] ? "model" : "account");
		stats_put_s(&o, obj, "reason", bo[k].reason);
		stats_iso(bo[k].until, iso, sizeof(iso));
		stats_put_s(&o, obj, "backoff_until", iso);
		stats_put_i(&o, obj, "backoff_until_ms", bo[k].until);
		stats_put_i(&o, obj, "consecutive_failures", bo[k].failures);
		if (bo[k].status_code > 0)
			stats_put_i(&o, obj, "status_code", bo[k].status_code);
		else
			stats_put_null(&o, obj, "status_code");
		stats_put_s(&o, obj, "error_class",
		    bo[k].error_class[0] ? bo[k].error_class : NULL);
		stats_put_t(&o, obj, "updated_at", bo[k].updated_at);
	}
out:
	free(bo);
	return stats_end(&o, root, dberr, err);
}

/* ---- dispatch --------------------------------------------------------------------------- */

cJSON *
stats_dataset_run(struct stats_db *s, const struct config *cfg, enum stats_dataset d,
    const struct stats_query *q, enum qp_err *err, char *errbuf, size_t errlen)
{

	*err = stats_query_check(d, q, errbuf, errlen);
	if (*err != QP_OK)
		return NULL;
	return stats_ds_table[d].fn(s, cfg, q, err);
}

/* ---- rollups ------------------------------------------------------------------------------ */

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

/* ---- decision details ---------------------------------------------------- */

/*
 * The routing rollup counts, for each entry of a decision's
 * detail_json "accounts" array that is an object, its account,
 * provider and reason (reason "backoff" with a text "backoff" becomes
 * "backoff:KIND"), unless the reason is missing or "eligible": as
 * SQLite's JSON functions read them in STATS_RU_EXCLUDED. The scanner
 * below reads the details quotapool writes itself, without SQL: it
 * accepts only what it reads exactly as SQLite does (RFC 8259 JSON whose
 * keys have no escapes, an "accounts" array, and account, provider,
 * reason and backoff given at most once each, as strings of printable
 * ASCII without escapes) and leaves anything else to STATS_RU_EXCLUDED.
 */

/* Deepest nesting the scanner follows, and most account entries it keeps; beyond, SQLite reads. */
#define STATS_DETAIL_DEPTH	16
#define STATS_DETAIL_ENTRIES	65536
/* Characters kept of an account or provider, and of a reason (as the rollup has always cut them). */
#define STATS_ROUTE_NAME_MAX	128
#define STATS_ROUTE_REASON_MAX	64

static const char *const stats_ekey_names[STATS_EK__MAX] = {
	[STATS_EK_ACCOUNT] = "account",
	[STATS_EK_PROVIDER] = "provider",
	[STATS_EK_REASON] = "reason",
	[STATS_EK_BACKOFF] = "backoff",
};

/* A scan of one detail (buf, len); emit gets each account entry. */
struct stats_scan {
	const char	*p;		/* next byte */
	const char	*end;		/* end of the detail */
	int		 depth;		/* containers open */
	int		(*emit)(void *, const struct stats_entry *); /* 0, or -1 to stop */
	void		*arg;		/* its argument */
};

static void
stats_scan_ws(struct stats_scan *sc)
{

	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' ||
	    *sc->p == '\r'))
		sc->p++;
}

static int
stats_scan_hex(char c)
{

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Reads a string at sc->p ('"'): its text (between the quotes) in *s,
 * *n, and *plain = 1 if it is printable ASCII without escapes (then the
 * text is its value, one character per byte). -1 if it is not valid.
 */
static int
stats_scan_string(struct stats_scan *sc, const char **s, size_t *n, int *plain)
{
	const unsigned char *q;
	int i;

	if (sc->p >= sc->end || *sc->p != '"')
		return -1;
	*s = ++sc->p;
	*plain = 1;
	for (;;) {
		if (sc->p >= sc->end)
			return -1;
		q = (const unsigned char *)sc->p;
		if (*q == '"')
			break;
		if (*q < 0x20)
			return -1;
		if (*q >= 0x7f)
			*plain = 0;
		if (*q == '\\') {
			*plain = 0;
			if (sc->end - sc->p < 2)
				return -1;
			sc->p++;
			if (*sc->p == 'u') {
				if (sc->end - sc->p < 5)
					return -1;
				for (i = 1; i <= 4; i++)
					if (!stats_scan_hex(sc->p[i]))
						return -1;
				sc->p += 4;
			} else if (strchr("\"\\/bfnrt", *sc->p) == NULL || *sc->p == '\0')
				return -1;
		}
		sc->p++;
	}
	*n = (size_t)(sc->p - *s);
	sc->p++;
	return 0;
}

/* Skips one or more digits; -1 if there is none. */
static int
stats_scan_digits(struct stats_scan *sc)
{
	const char *start = sc->p;

	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > start ? 0 : -1;
}

/* Skips a number (RFC 8259 grammar). */
static int
stats_scan_number(struct stats_scan *sc)
{

	if (sc->p < sc->end && *sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (stats_scan_digits(sc) != 0)
		return -1;
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		if (stats_scan_digits(sc) != 0)
			return -1;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (stats_scan_digits(sc) != 0)
			return -1;
	}
	return 0;
}

static int	stats_scan_value(struct stats_scan *sc);

/*
 * Reads an object or array at sc->p, calling member() for each member
 * key (objects) or value (arrays). -1 if it is not valid.
 */
static int
stats_scan_container(struct stats_scan *sc, int (*member)(struct stats_scan *, const char *,
    size_t, void *), void *arg)
{
	const char *key = NULL;
	size_t klen = 0;
	int obj, plain;
	char close;

	if (sc->p >= sc->end || (*sc->p != '{' && *sc->p != '['))
		return -1;
	obj = *sc->p == '{';
	close = obj ? '}' : ']';
	if (++sc->depth > STATS_DETAIL_DEPTH)
		return -1;
	sc->p++;
	stats_scan_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		sc->depth--;
		return 0;
	}
	for (;;) {
		if (obj) {
			/* Keys with escapes compare differently across SQLite versions. */
			if (stats_scan_string(sc, &key, &klen, &plain) != 0 ||
			    memchr(key, '\\', klen) != NULL)
				return -1;
			stats_scan_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return -1;
			sc->p++;
			stats_scan_ws(sc);
		}
		if (member(sc, key, klen, arg) != 0)
			return -1;
		stats_scan_ws(sc);
		if (sc->p < sc->end && *sc->p == ',') {
			sc->p++;
			stats_scan_ws(sc);
			continue;
		}
		if (sc->p < sc->end && *sc->p == close)
			break;
		return -1;
	}
	sc->p++;
	sc->depth--;
	return 0;
}

/* A member of a container skipped whole. */
static int
stats_scan_skip(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{

	(void)key;
	(void)klen;
	(void)arg;
	return stats_scan_value(sc);
}

/* Skips one value of any kind. -1 if it is not valid. */
static int
stats_scan_value(struct stats_scan *sc)
{
	static const char *const lit[] = { "true", "false", "null" };
	const char *s;
	size_t i, n;
	int plain;

	if (sc->p >= sc->end)
		return -1;
	switch (*sc->p) {
	case '{':
	case '[':
		return stats_scan_container(sc, stats_scan_skip, NULL);
	case '"':
		return stats_scan_string(sc, &s, &n, &plain);
	case 't':
	case 'f':
	case 'n':
		for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
			n = strlen(lit[i]);
			if ((size_t)(sc->end - sc->p) >= n && memcmp(sc->p, lit[i], n) == 0) {
				sc->p += n;
				return 0;
			}
		}
		return -1;
	default:
		return stats_scan_number(sc);
	}
}

/* A member of an account entry: keeps account, provider, reason and backoff. */
static int
stats_scan_entry_member(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	struct stats_entry *e = arg;
	const char *s;
	size_t n;
	int k, plain;

	for (k = 0; k < STATS_EK__MAX; k++)
		if (strlen(stats_ekey_names[k]) == klen &&
		    memcmp(stats_ekey_names[k], key, klen) == 0)
			break;
	if (k == STATS_EK__MAX)
		return stats_scan_value(sc);
	/* Given twice, or not as plain text: SQLite's reading decides. */
	if (e->v[k] != NULL || stats_scan_string(sc, &s, &n, &plain) != 0 || !plain)
		return -1;
	e->v[k] = s;
	e->n[k] = n;
	return 0;
}

/* An element of "accounts": objects are account entries, anything else is skipped. */
static int
stats_scan_account(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	struct stats_entry e;

	(void)key;
	(void)klen;
	(void)arg;
	if (sc->p >= sc->end || *sc->p != '{')
		return stats_scan_value(sc);
	memset(&e, 0, sizeof(e));
	if (stats_scan_container(sc, stats_scan_entry_member, &e) != 0)
		return -1;
	return sc->emit(sc->arg, &e);
}

/* A member of the detail: "accounts" (once, an array or a scalar) is read, the rest skipped. */
static int
stats_scan_top(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	int *seen = arg;

	if (klen != 8 || memcmp(key, "accounts", 8) != 0)
		return stats_scan_value(sc);
	if ((*seen)++ > 0 || sc->p >= sc->end || *sc->p == '{')
		return -1;
	if (*sc->p == '[')
		return stats_scan_container(sc, stats_scan_account, NULL);
	return stats_scan_value(sc);
}

int
stats_detail_scan(const char *buf, size_t len, int (*emit)(void *,
    const struct stats_entry *), void *arg)
{
	struct stats_scan sc;
	int seen = 0;

	memset(&sc, 0, sizeof(sc));
	sc.p = buf;
	sc.end = buf + len;
	sc.emit = emit;
	sc.arg = arg;
	stats_scan_ws(&sc);
	if (sc.p >= sc.end || *sc.p != '{' ||
	    stats_scan_container(&sc, stats_scan_top, &seen) != 0)
		return -1;
	stats_scan_ws(&sc);
	return sc.p == sc.end ? 0 : -1;
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

/* Adds one account entry of the decision on dec's row to stats_routing, if it is an exclusion. */
static enum qp_err
stats_rollup_exclusion(struct stats_rollup *r, sqlite3_stmt *dec, const struct stats_entry *e)
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
	const char *detail;
	enum qp_err err = QP_OK;
	size_t e;
	int i, rc;

	sqlite3_bind_int64(dec, 1, request_id);
	while ((rc = sqlite3_step(dec)) == SQLITE_ROW) {
		/* The decision itself: chosen or no_account. */
		st = r->st[STATS_RU_ROUTING];
		for (i = STATS_DC_DECIDED; i <= STATS_DC_REASON; i++)
			sqlite3_bind_value(st, i, sqlite3_column_value(dec, i));
		if ((err = stats_exec(st)) != QP_OK)
			break;
		/* The accounts it excluded. */
		detail = sqlite3_column_type(dec, STATS_DC_DETAIL) == SQLITE_TEXT ?
		    (const char *)sqlite3_column_text(dec, STATS_DC_DETAIL) : NULL;
		r->nent = 0;
		if (detail != NULL && stats_detail_scan(detail,
		    (size_t)sqlite3_column_bytes(dec, STATS_DC_DETAIL), stats_rollup_keep, r) == 0) {
			for (e = 0; e < r->nent && err == QP_OK; e++)
				err = stats_rollup_exclusion(r, dec, &r->ent[e]);
			if (err != QP_OK)
				break;
			continue;
		}
		st = r->st[STATS_RU_EXCLUDED];
		sqlite3_bind_int64(st, 1, request_id);
		sqlite3_bind_value(st, 2, sqlite3_column_value(dec, STATS_DC_ATTEMPT));
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
	int m, i, rc, ok;
	const char *status;

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
	st = r->st[STATS_RU_REQUESTS];
	for (i = 0; i < STATS_RC__BOUND; i++)
		sqlite3_bind_value(st, i + 1, sqlite3_column_value(rq, i));
	if (!ok) {
		st = r->st[STATS_RU_ERRORS];
		for (i = STATS_RC_COMPLETED; i <= STATS_RC_STATUS; i++)
			sqlite3_bind_value(st, i + 1, sqlite3_column_value(rq, i));
		sqlite3_bind_value(st, 6, sqlite3_column_value(rq, STATS_RC_ERROR_CLASS));
	} else {
		/* Latencies carry provider and model cut to STATS_FILTER_MAX bytes. */
		st = r->st[STATS_RU_LATENCY];
		sqlite3_bind_int64(st, 1, completed);
		sqlite3_bind_text(st, 2, stats_cs(rq, STATS_RC_PROVIDER),
		    (int)strnlen(stats_cs(rq, STATS_RC_PROVIDER), STATS_FILTER_MAX), SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, stats_cs(rq, STATS_RC_MODEL),
		    (int)strnlen(stats_cs(rq, STATS_RC_MODEL), STATS_FILTER_MAX), SQLITE_TRANSIENT);
		for (m = 0; m < STATS_LAT__MAX; m++) {
			i = STATS_LAT_PARAM(m);
			sqlite3_bind_text(st, i, stats_latency_names[m], -1, SQLITE_STATIC);
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
	for (i = STATS_RU_PRUNE_REQ; i <= STATS_RU_PRUNE_ROUTE; i++) {
		sqlite3_bind_int64(r->st[i], 1, upto);
		err = stats_exec(r->st[i]);
		if (err != QP_OK)
			return err;
	}
	*more = upto < cutoff;
	return QP_OK;
}
