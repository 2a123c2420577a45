/* stats_query.h: the statistics query language: periods, groupings, metrics, filters, datasets. */
#ifndef QP_STATS_QUERY_H
#define QP_STATS_QUERY_H

#include <stddef.h>
#include <stdint.h>

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
/* Request statuses that status= accepts (stats_status_name()). */
#define STATS_NSTATUSES		7

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
	STATS_DS_CLIENTS,		/* "clients" */
	STATS_DS_WORKERS,		/* "workers" (workers_view.c; admin only) */
	STATS_DS__MAX
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

/* Returns the name of a period ("24h"), group, metric, latency or dataset; "" if out of range. */
const char	*stats_period_name(enum stats_period p);
const char	*stats_group_name(enum stats_group g);
const char	*stats_metric_name(enum stats_metric m);
const char	*stats_latency_name(enum stats_latency l);
const char	*stats_dataset_name(enum stats_dataset d);

/* Returns the latency called s ("total", ...), or STATS_LAT__MAX if there is none. */
enum stats_latency stats_latency_find(const char *s);

/* Returns the dataset called name (len bytes), or STATS_DS__MAX if there is none. */
enum stats_dataset stats_dataset_find(const char *name, size_t len);

/* Returns the STATS_F_* filters dataset d accepts. */
unsigned	 stats_dataset_filters(enum stats_dataset d);

/*
 * Returns request status i (0 <= i < STATS_NSTATUSES, "pending" first,
 * then "completed", ...) or "" out of range; stats_status_find() returns
 * the index of status s, or -1. Thread-safe.
 */
const char	*stats_status_name(int i);
int		 stats_status_find(const char *s);

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

#endif /* QP_STATS_QUERY_H */
