/* stats.h: the statistics behind the dashboard and the /api/stats JSON, read from rollup tables. */
#ifndef QP_STATS_H
#define QP_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"

/* Longest filter value (account, provider, model) in bytes, after decoding. */
#define STATS_FILTER_MAX	128
/* Rows of list datasets (recent-requests, errors, operational): default and bounds. */
#define STATS_LIMIT_DEFAULT	50
#define STATS_LIMIT_MAX		200
/* Series of a timeseries before the rest is folded into "other": default and bound. */
#define STATS_TOP_DEFAULT	5
#define STATS_TOP_MAX		20
/* Longest explicit period (ms): 366 days. */
#define STATS_RANGE_MAX_MS	(366LL * 86400 * 1000)
/* Days of the bandwidth calendar when no period is given. */
#define STATS_CALENDAR_DAYS	365
/* 5-minute rollup rows are kept this long (ms); older period edges round to the hour. */
#define STATS_FINE_KEEP_MS	(2LL * 86400 * 1000)
/* Latency histogram bins: bin 0 is [0, 1 us), bin b in 1..100 is [edge(b-1), edge(b)),
 * bin 101 is [edge(100), inf); edges are 1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 x 10^k
 * microseconds (10 per decade, 1 us to 10^4 s). */
#define STATS_BINS		102
/* A percentile read from the histogram is the geometric middle of its bin, so it is
 * within this relative error (percent) of the exact value: sqrt(1.6 / 1.25) - 1. */
#define STATS_BIN_ERROR_PCT	13.2
/* Requests are counted by attempts made 0, 1, 2, 3 and this many or more. */
#define STATS_ATTEMPTS_CAP	4
/*
 * The one model label of the rollups (and so of every dataset and
 * /metrics) for requests and routing decisions whose model no configured
 * provider lists: see stats_rollup_request().
 */
#define STATS_UNKNOWN_MODEL	"(unknown)"

/* A period. */
enum stats_period {
	STATS_PERIOD_1H,	/* "1h": the last hour */
	STATS_PERIOD_24H,	/* "24h": the last 24 hours (the default) */
	STATS_PERIOD_7D,	/* "7d": the last 7 days */
	STATS_PERIOD_30D,	/* "30d": the last 30 days */
	STATS_PERIOD_RANGE,	/* "FROM..TO" or "FROM" (until now) */
	STATS_PERIOD__MAX
};

/* What a timeseries is grouped by. */
enum stats_group {
	STATS_GROUP_PROVIDER,		/* "provider" (the default) */
	STATS_GROUP_MODEL,		/* "model" */
	STATS_GROUP_ACCOUNT,		/* "account" */
	STATS_GROUP_PROVIDER_MODEL,	/* "provider_model": "model/provider" */
	STATS_GROUP__MAX
};

/* What a timeseries counts. */
enum stats_metric {
	STATS_METRIC_REQUESTS,	/* "requests" (the default) */
	STATS_METRIC_TOKENS,	/* "tokens": input + output + cache read + cache write */
	STATS_METRIC_COST,	/* "cost": microdollars */
	STATS_METRIC__MAX
};

/* The latencies kept in histograms. */
enum stats_latency {
	STATS_LAT_TOTAL,	/* "total": request start to end */
	STATS_LAT_TTFT,		/* "ttft": start to first token relayed */
	STATS_LAT_CONNECT,	/* "connect": upstream connect of the final attempt */
	STATS_LAT_FIRST_BYTE,	/* "first_byte": start to first upstream byte */
	STATS_LAT_OVERHEAD,	/* "overhead": time in quotapool before dispatch */
	STATS_LAT__MAX
};

/* Every dataset, by its name under /api/stats/ (and /api/backoffs). */
enum stats_dataset {
	STATS_DS_SUMMARY,		/* "summary" */
	STATS_DS_ACCOUNTS,		/* "accounts" */
	STATS_DS_MODELS,		/* "models" */
	STATS_DS_LATENCY,		/* "latency" */
	STATS_DS_TIMESERIES,		/* "timeseries" */
	STATS_DS_BANDWIDTH,		/* "bandwidth" */
	STATS_DS_ATTEMPTS,		/* "attempts" */
	STATS_DS_RETRIES,		/* "retries" */
	STATS_DS_ROUTING,		/* "routing" */
	STATS_DS_PINGS,			/* "pings" */
	STATS_DS_ERRORS,		/* "errors" */
	STATS_DS_OPERATIONAL,		/* "operational" (also /api/events) */
	STATS_DS_PENDING_HEALTH,	/* "pending-health" */
	STATS_DS_RECENT_REQUESTS,	/* "recent-requests" */
	STATS_DS_BACKOFFS,		/* "backoffs" (/api/backoffs) */
	STATS_DS__MAX
};

/* State of a configured account, as the accounts dataset and /metrics name it. */
enum stats_state {
	STATS_STATE_OK,			/* "ok": eligible */
	STATS_STATE_BACKOFF,		/* "backoff": rate limit, quota, transient, open circuit */
	STATS_STATE_QUARANTINED,	/* "quarantined": after an auth failure */
	STATS_STATE_DISABLED,		/* "disabled": the account or its provider */
	STATS_STATE__MAX
};

/* Filters a dataset accepts (bit mask). */
#define STATS_F_ACCOUNT		0x1	/* account= */
#define STATS_F_PROVIDER	0x2	/* provider= */
#define STATS_F_MODEL		0x4	/* model= (base model id) */
#define STATS_F_STATUS		0x8	/* status= (request status) */

/* One statistics request, from stats_query_parse(). Plain data: copy freely. */
struct stats_query {
	enum stats_period period;	/* which period */
	int		 period_given;	/* 1 if the query string named the period */
	int64_t		 now;		/* ms since the epoch; now= (seconds) overrides the clock */
	int64_t		 from;		/* period start (ms), inclusive */
	int64_t		 to;		/* period end (ms), exclusive */
	char		 label[96];	/* "24h", or the range as given */
	enum stats_group group_by;	/* timeseries grouping */
	enum stats_metric metric;	/* timeseries metric */
	int		 top;		/* timeseries series before "other", 1..STATS_TOP_MAX */
	int		 limit;		/* list length, 1..STATS_LIMIT_MAX */
	int		 include_disabled; /* accounts: 1 = list disabled accounts too (default) */
	unsigned	 filters;	/* STATS_F_* given */
	char		 account[STATS_FILTER_MAX + 1];	/* "" = any */
	char		 provider[STATS_FILTER_MAX + 1];	/* "" = any */
	char		 model[STATS_FILTER_MAX + 1];	/* "" = any */
	char		 status[24];	/* a request status, "" = any */
};

/* Prepared read statements of one connection; owned by one thread. */
struct stats_db;

/* Prepared rollup statements of one connection; owned by one thread. */
struct stats_rollup;

/* Returns the name of a period ("24h"), group, metric, latency or dataset; "" if out of range. */
const char	*stats_period_name(enum stats_period p);
const char	*stats_group_name(enum stats_group g);
const char	*stats_metric_name(enum stats_metric m);
const char	*stats_latency_name(enum stats_latency l);
const char	*stats_dataset_name(enum stats_dataset d);

const char	*stats_state_name(enum stats_state st);

/*
 * Returns the state of account a of provider p given the reason of its
 * running account_backoffs row (NULL = none running). Thread-safe.
 */
enum stats_state stats_account_state(const struct config_provider *p,
		    const struct config_account *a, const char *backoff_reason);

/* Returns the dataset called name (len bytes), or STATS_DS__MAX if there is none. */
enum stats_dataset stats_dataset_find(const char *name, size_t len);

/* Returns the STATS_F_* filters dataset d accepts. */
unsigned	 stats_dataset_filters(enum stats_dataset d);

/*
 * Fills q with the defaults: period 24h ending at now, group provider,
 * metric requests, top STATS_TOP_DEFAULT, limit STATS_LIMIT_DEFAULT,
 * include_disabled 1, no filters. Thread-safe.
 */
void		 stats_query_init(struct stats_query *q, int64_t now);

/*
 * Parses a URL query string (buf, len bytes, untrusted, without '?') into
 * q on top of stats_query_init(q, now): period (1h, 24h, 7d, 30d, FROM..TO
 * or FROM, each end an ISO 8601 UTC date "2024-05-01", time
 * "2024-05-01T10:00[:00][Z]" or epoch seconds), now (epoch seconds),
 * group_by, metric, top, limit, include_disabled (0/1), account,
 * provider, model, status. Percent-escapes and '+' are decoded. Unknown
 * parameters are ignored (pages carry theme= and the like); a known
 * parameter given twice, empty where a value is needed, or with a bad
 * value is refused: QP_EINVAL with one sentence in errbuf naming the
 * parameter. An empty filter means any. Thread-safe.
 */
enum qp_err	 stats_query_parse(struct stats_query *q, const char *buf, size_t len,
		    int64_t now, char *errbuf, size_t errlen);

/*
 * Refuses (QP_EINVAL, one sentence in errbuf) the filters of q that
 * dataset d does not accept. Thread-safe.
 */
enum qp_err	 stats_query_check(enum stats_dataset d, const struct stats_query *q,
		    char *errbuf, size_t errlen);

/*
 * Returns the histogram bin of a latency of ns nanoseconds (negative
 * counts as 0), and the edges of bin b: [*lo_ns, *hi_ns), hi_ns = -1 for
 * the last bin. Thread-safe.
 */
int		 stats_bin(int64_t ns);
void		 stats_bin_edges(int b, int64_t *lo_ns, int64_t *hi_ns);

/*
 * Adds the sparse histogram blob (len bytes, as stored in
 * stats_latency.bins) to counts. Returns 0, or -1 if the blob is
 * malformed (what was read before the fault is added). Thread-safe.
 */
int		 stats_bins_read(const void *blob, size_t len, int64_t counts[STATS_BINS]);

/*
 * Returns the value (ms) reported for the p-quantile (0 < p <= 1) of a
 * histogram counts[STATS_BINS]: the geometric middle of the bin holding
 * the nearest-rank value ceil(p * n), 0 for bin 0; -1 when empty.
 * Thread-safe.
 */
double		 stats_percentile(const int64_t counts[STATS_BINS], double p);

/*
 * Prepares the read statements on db (which must be migrated). Returns
 * NULL with *err set and a reason in errbuf. Free with stats_db_free()
 * before closing db. Not thread-safe: one object per worker thread.
 */
struct stats_db	*stats_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees a stats_db. NULL is allowed. */
void		 stats_db_free(struct stats_db *s);

/*
 * The datasets. Each returns a new cJSON object (the caller frees it with
 * cJSON_Delete()) that serves both the JSON API and the page, or NULL
 * with *err set (QP_ENOMEM, QP_EDB). cfg is read (accounts, providers,
 * quota); q comes from stats_query_parse(). Filters a dataset does not
 * accept are ignored here: stats_dataset_run() refuses them. Read-only on
 * the database; not thread-safe (s belongs to one thread). The fields of
 * each are documented in docs/api.md.
 */
cJSON		*stats_summary(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_accounts(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_models(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_latency(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_timeseries(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_bandwidth(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_attempts(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_retries(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_routing(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_pings(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_errors(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_operational(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_pending_health(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_recent_requests(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);
cJSON		*stats_backoffs(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);

/*
 * One request's trace: its metadata, every attempt in order and the
 * routing decision of each (detail_json parsed). uid is the request's
 * public id (len bytes, untrusted). NULL with QP_ENOTFOUND when there is
 * no such request (or uid is not a well-formed id), else as above.
 */
cJSON		*stats_recent(struct stats_db *s, const struct config *cfg, const char *uid,
		    size_t len, enum qp_err *err);

/*
 * Runs dataset d after stats_query_check(): the one entry point of the
 * /api/stats/NAME handlers. On failure returns NULL with *err set and,
 * for QP_EINVAL, the reason in errbuf (answer 400 with it).
 */
cJSON		*stats_dataset_run(struct stats_db *s, const struct config *cfg,
		    enum stats_dataset d, const struct stats_query *q, enum qp_err *err,
		    char *errbuf, size_t errlen);

/*
 * Prepares the rollup statements on db (which must be migrated). Returns
 * NULL with *err set and a reason in errbuf. Free with
 * stats_rollup_free() before closing db. Not thread-safe: one object per
 * connection, owned by the thread that finalizes requests on it.
 */
struct stats_rollup *stats_rollup_new(sqlite3 *db, enum qp_err *err, char *errbuf,
		    size_t errlen);

/* Frees a stats_rollup. NULL is allowed. */
void		 stats_rollup_free(struct stats_rollup *r);

/*
 * Adds the finalized request request_id (requests.id) to every rollup:
 * stats_requests, stats_errors (if not completed), stats_latency (if
 * completed), stats_attempts (its attempts) and stats_routing (its
 * decisions), at every granularity. Account selection reads the hourly
 * stats_requests rows for quota pressure, so a request this fails for is
 * missing from its account's usage too. The rollups are bounded by the
 * configuration: a request (or decision) that reached no provider (chose
 * no account) is counted under its model only when a provider's
 * model_catalog rows (static models included) list it, else under
 * STATS_UNKNOWN_MODEL; one that reached a provider was routed on a model
 * that provider lists. Attempts always reached a provider.
 * Call exactly once per request, inside the caller's open write
 * transaction, right after the row got its final status (the UPDATE
 * ... WHERE status = 'pending' changed it). Works in a savepoint: on
 * failure nothing of the request is counted and the caller's
 * transaction is intact. QP_EINVAL if the request is still pending or
 * does not exist, QP_EDB on a database error.
 */
enum qp_err	 stats_rollup_request(struct stats_rollup *r, int64_t request_id);

/*
 * stats_rollup_request() in the shape of accounting_set_final_hook():
 * rollup is a struct stats_rollup *; returns 0, or -1 when the request
 * could not be counted (the transaction stays usable).
 */
int		 stats_rollup_hook(void *rollup, int64_t request_id);

/*
 * Deletes 5-minute rollup rows older than now - STATS_FINE_KEEP_MS, at
 * most one hour of buckets per call (run it in a write transaction and
 * repeat while *more is 1). Maintenance thread.
 */
enum qp_err	 stats_rollup_prune(struct stats_rollup *r, int64_t now, int *more);

/* The members of a decision's account entry that the routing rollup reads. */
enum stats_ekey {
	STATS_EK_ACCOUNT,	/* "account" */
	STATS_EK_PROVIDER,	/* "provider" */
	STATS_EK_REASON,	/* "reason" */
	STATS_EK_BACKOFF,	/* "backoff" */
	STATS_EK__MAX
};

/* One account entry: each member's text (pointing into the detail), NULL = absent. */
struct stats_entry {
	const char	*v[STATS_EK__MAX];	/* value */
	size_t		 n[STATS_EK__MAX];	/* its length */
};

/*
 * Reads a routing decision's detail_json (buf, len bytes, untrusted: any
 * row of routing_decisions) and calls emit(arg, entry) for each object of
 * its "accounts" array, the entry's strings pointing into buf. It accepts
 * only details it reads exactly as SQLite's JSON functions do (RFC 8259
 * JSON; keys without escapes; "accounts" at most once; account, provider,
 * reason and backoff at most once each, as strings of printable ASCII
 * without escapes; at most 16 levels deep). Returns 0, or -1 for any other
 * detail (the rollup then reads it with SQL) or when emit returned -1;
 * entries emitted before are then to be forgotten. Thread-safe.
 */
int		 stats_detail_scan(const char *buf, size_t len,
		    int (*emit)(void *arg, const struct stats_entry *e), void *arg);

/*
 * Formats t (ms since the epoch) as "2024-05-01T10:00:00Z" into buf
 * (at least 21 bytes). Thread-safe.
 */
void		 stats_iso(int64_t t, char *buf, size_t len);

#endif /* QP_STATS_H */
