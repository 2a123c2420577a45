/* stats_db.h: the read side of the statistics: statements, binds, and what the datasets share. */
#ifndef QP_STATS_DB_H
#define QP_STATS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "stats_query.h"
#include "stats_time.h"

/* Parameters of the plan statements: ?1..?15 the plan, then the filters, then their own. */
#define STATS_P_ACCOUNT		16
#define STATS_P_PROVIDER	17
#define STATS_P_MODEL		18
#define STATS_P_STATUS		19
#define STATS_P_EXTRA		20
/* Columns of a request in lists and traces (STATS_ST_ERRORS_RECENT, _RECENT, _TRACE_REQ). */
#define STATS_REQ_NCOLS		35

/* The read statements, prepared once per connection (stats_db.c holds their SQL). */
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
	STATS_ST_OVERRIDES,	/* accounts the operator disabled, with when and why */
	STATS_ST_ACCT_PERIOD,	/* sums per account over the period */
	STATS_ST_ACCT_WINDOW,	/* spend, requests, tokens per account over a window */
	STATS_ST_ACCT_LASTERR,	/* last failed attempt of an account */
	STATS_ST_ACCT_RATELIMITS, /* what rate-limit headers said of an account, still current */
	STATS_ST_ACCT_TOKEN,	/* the refreshed token of an account: expiry, last refresh */
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
	STATS_ST_TRANSLATED,	/* requests served through a translation, with losses */
	STATS_ST_CLIENTS,	/* sums per client family */
	STATS_ST__MAX
};

/* Prepared read statements of one connection; owned by one thread. */
struct stats_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[STATS_ST__MAX];	/* prepared statements */
};

/* Building one answer: any failed allocation sets oom, checked once at the end. */
struct stats_out {
	int		 oom;			/* 1 once an allocation failed */
};

/* The STATS_SUMS_SQL columns of stats_requests (summary, models, accounts), in order. */
enum stats_sum {
	STATS_SUM_REQUESTS,	/* requests */
	STATS_SUM_STREAMED,	/* of which streamed */
	STATS_SUM_ATTEMPTS,	/* upstream attempts */
	STATS_SUM_IN,		/* input tokens */
	STATS_SUM_OUT,		/* output tokens */
	STATS_SUM_CACHE_READ,	/* cache-read tokens */
	STATS_SUM_CACHE_WRITE,	/* cache-write tokens */
	STATS_SUM_REASONING,	/* reasoning tokens */
	STATS_SUM_COST,		/* microdollars */
	STATS_SUM_BYTES_IN,	/* request bytes from clients */
	STATS_SUM_BYTES_OUT,	/* response bytes to clients */
	STATS_SUM_UPSTREAM,	/* response bytes from upstream */
	STATS_SUM_TOTAL_MS,	/* sum of total_ms */
	STATS_SUM_TOTAL_N,	/* requests with a total_ms */
	STATS_SUM_TTFT_MS,	/* sum of ttft_ms */
	STATS_SUM_TTFT_N,	/* requests with a ttft_ms */
	STATS_SUM_OK,		/* completed requests */
	STATS_SUM_ERRORS,	/* error, interrupted and rejected requests */
	STATS_SUM_OK_TOTAL_MS,	/* sum of total_ms of completed requests */
	STATS_SUM_OK_TOTAL_N,	/* completed requests with a total_ms */
	STATS_SUM_OK_TTFT_MS,	/* sum of ttft_ms of completed requests */
	STATS_SUM_OK_TTFT_N,	/* completed requests with a ttft_ms */
	STATS_SUM_OK_OUT,	/* output tokens of completed requests */
	STATS_SUM__MAX
};

/* Sums of stats_requests columns. Plain data. */
struct stats_sums {
	int64_t		 v[STATS_SUM__MAX];	/* by enum stats_sum */
};

/* State of a configured account, as the accounts dataset and /metrics name it. */
enum stats_state {
	STATS_STATE_OK,			/* "ok": eligible */
	STATS_STATE_BACKOFF,		/* "backoff": rate limit, quota, transient, open circuit */
	STATS_STATE_QUARANTINED,	/* "quarantined": after an auth failure */
	STATS_STATE_DISABLED,		/* "disabled": the account or its provider */
	STATS_STATE__MAX
};

/* One running backoff row. Plain data. */
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

/*
 * Prepares the read statements on db (which must be migrated). Returns
 * NULL with *err set and a reason in errbuf. Free with stats_db_free()
 * before closing db. Not thread-safe: one object per worker thread.
 */
struct stats_db	*stats_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees a stats_db. NULL is allowed. */
void		 stats_db_free(struct stats_db *s);

/*
 * Statement helpers. stats_bind_opt() binds s as text, or NULL when s is
 * NULL or empty; stats_bind_i() binds v. Both skip a parameter the
 * statement does not have. stats_bind_plan() resets st and binds plan p
 * (?1..?15, unused ranges match nothing) and q's filters (?16..?19, q may
 * be NULL); stats_bind_raw() resets st and binds from ?1, to ?2, q's
 * account ?3, provider ?4, model ?5, status ?6 and limit ?7, for the
 * statements on raw tables.
 */
void		 stats_bind_opt(sqlite3_stmt *st, int i, const char *s);
void		 stats_bind_i(sqlite3_stmt *st, int i, int64_t v);
void		 stats_bind_plan(sqlite3_stmt *st, const struct stats_plan *p,
		    const struct stats_query *q);
void		 stats_bind_raw(sqlite3_stmt *st, int64_t from, int64_t to,
		    const struct stats_query *q);

/*
 * Row helpers, inline because they run for every row read (the rollup
 * writer uses them too). stats_step() steps st: 1 = a row, 0 = done, -1 =
 * error (*err = QP_EDB); st is reset unless a row. stats_ci(), stats_cs()
 * and stats_cnull() read column i of st's current row as an integer, as
 * text ("" for NULL, valid until st steps or resets), or 1 if it is NULL.
 */
static inline int
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

static inline int64_t
stats_ci(sqlite3_stmt *st, int i)
{

	return sqlite3_column_int64(st, i);
}

static inline const char *
stats_cs(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

static inline int
stats_cnull(sqlite3_stmt *st, int i)
{

	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/*
 * JSON output. Each puts member k into obj (NULL obj, or a failed
 * allocation, sets o->oom): an integer, a double (NaN as null), text
 * (NULL as null), a boolean, null, a time t as k (ms) and k_utc (ISO
 * 8601; both null when t <= 0), or column i of st as an integer or text
 * (null when NULL). stats_add_obj() and stats_add_arr() add and return a
 * member object or array, stats_arr_obj() appends a new object to arr and
 * returns it, stats_arr_num() appends a number (all NULL on failure, with
 * o->oom set).
 */
void		 stats_put_i(struct stats_out *o, cJSON *obj, const char *k, int64_t v);
void		 stats_put_d(struct stats_out *o, cJSON *obj, const char *k, double v);
void		 stats_put_s(struct stats_out *o, cJSON *obj, const char *k, const char *s);
void		 stats_put_b(struct stats_out *o, cJSON *obj, const char *k, int v);
void		 stats_put_null(struct stats_out *o, cJSON *obj, const char *k);
void		 stats_put_t(struct stats_out *o, cJSON *obj, const char *k, int64_t t);
void		 stats_put_ci(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st,
		    int i);
void		 stats_put_cs(struct stats_out *o, cJSON *obj, const char *k, sqlite3_stmt *st,
		    int i);
cJSON		*stats_add_obj(struct stats_out *o, cJSON *parent, const char *k);
cJSON		*stats_add_arr(struct stats_out *o, cJSON *parent, const char *k);
cJSON		*stats_arr_obj(struct stats_out *o, cJSON *arr);
void		 stats_arr_num(struct stats_out *o, cJSON *arr, double v);

/* Returns a / b rounded to 6 decimals (0 when b <= 0), or v rounded to 3 decimals. */
double		 stats_ratio(double a, double b);
double		 stats_round3(double v);

/*
 * Starts an answer (clears o): a new object with the period label, from
 * and to (the range covered), now and the filters of q that filters
 * names. NULL with o->oom set when out of memory.
 */
cJSON		*stats_begin(struct stats_out *o, const struct stats_query *q, int64_t from,
		    int64_t to, unsigned filters);

/*
 * Ends an answer: returns root with *err = QP_OK, or deletes it and
 * returns NULL with *err = dberr, or QP_ENOMEM when o->oom is set.
 */
cJSON		*stats_end(struct stats_out *o, cJSON *root, enum qp_err dberr, enum qp_err *err);

/*
 * Sums: stats_sums_add() adds the STATS_SUMS_SQL columns of st's row
 * starting at column col; stats_sums_tokens() returns input + output +
 * cache read + cache write; stats_avg() returns sum / n rounded to 3
 * decimals, NaN (null) when n is 0; stats_cache_ratio() returns cache read
 * / (input + cache read + cache write); stats_put_usage() puts the
 * per-group usage fields of models and accounts (docs/api.md).
 */
void		 stats_sums_add(struct stats_sums *s, sqlite3_stmt *st, int col);
int64_t		 stats_sums_tokens(const struct stats_sums *s);
double		 stats_avg(int64_t sum, int64_t n);
double		 stats_cache_ratio(const struct stats_sums *s);
void		 stats_put_usage(struct stats_out *o, cJSON *obj, const struct stats_sums *s);

/*
 * Reads the backoff rows still running at now into *out (malloc'd, the
 * caller frees it; NULL when none) and their count into *n. QP_ENOMEM or
 * QP_EDB (then *out is NULL).
 */
enum qp_err	 stats_backoffs_load(struct stats_db *s, int64_t now, struct stats_backoff **out,
		    int *n);

/* Returns account's row among the n rows v, or NULL. */
const struct stats_backoff *stats_backoff_find(const struct stats_backoff *v, int n,
		    const char *account);

/* Returns the name of a state ("ok", "backoff", ...); "" if out of range. */
const char	*stats_state_name(enum stats_state st);

/*
 * Returns the state of account a of provider p given the reason of its
 * running account_backoffs row (NULL = none running). Thread-safe.
 */
enum stats_state stats_account_state(const struct config_provider *p,
		    const struct config_account *a, const char *backoff_reason);

/* Returns the state of account a of provider p given its running backoff row b (or NULL). */
enum stats_state stats_state(const struct config_provider *p, const struct config_account *a,
		    const struct stats_backoff *b);

/*
 * Puts the pending requests and the accounts by state (cfg and the backoff
 * rows running at now) as the object "health" into root, and
 * "active_streams". QP_OK, QP_ENOMEM or QP_EDB.
 */
enum qp_err	 stats_put_health(struct stats_db *s, const struct config *cfg, int64_t now,
		    struct stats_out *o, cJSON *root);

#endif /* QP_STATS_DB_H */
