/* stats.c: the statistics of the dashboard and /api/stats: runs a dataset by its name. */
#include "stats.h"
#include "workers_view.h"

/* A dataset's function, by enum stats_dataset (names and filters: stats_query.c). */
static cJSON *(*const stats_ds_fn[STATS_DS__MAX])(struct stats_db *, const struct config *,
    const struct stats_query *, enum qp_err *) = {
	[STATS_DS_SUMMARY] = stats_summary,
	[STATS_DS_ACCOUNTS] = stats_accounts,
	[STATS_DS_MODELS] = stats_models,
	[STATS_DS_LATENCY] = stats_latency,
	[STATS_DS_TIMESERIES] = stats_timeseries,
	[STATS_DS_BANDWIDTH] = stats_bandwidth,
	[STATS_DS_ATTEMPTS] = stats_attempts,
	[STATS_DS_RETRIES] = stats_retries,
	[STATS_DS_ROUTING] = stats_routing,
	[STATS_DS_PINGS] = stats_pings,
	[STATS_DS_ERRORS] = stats_errors,
	[STATS_DS_OPERATIONAL] = stats_operational,
	[STATS_DS_PENDING_HEALTH] = stats_pending_health,
	[STATS_DS_RECENT_REQUESTS] = stats_recent_requests,
	[STATS_DS_BACKOFFS] = stats_backoffs,
	[STATS_DS_CLIENTS] = stats_clients,
	[STATS_DS_WORKERS] = workers_view_dataset,
};

cJSON *
stats_dataset_run(struct stats_db *s, const struct config *cfg, enum stats_dataset d,
    const struct stats_query *q, enum qp_err *err, char *errbuf, size_t errlen)
{

	*err = stats_query_check(d, q, errbuf, errlen);
	if (*err != QP_OK)
		return NULL;
	return stats_ds_fn[d](s, cfg, q, err);
}
