/* stats.h: the statistics of the dashboard and /api/stats: every part, and the dataset runner. */
#ifndef QP_STATS_H
#define QP_STATS_H

/*
 * The statistics are read from rollup tables that the rollup writer keeps
 * as requests finalize. One header per part; this one includes them all:
 *   stats_query.h        the query language (periods, filters, dataset names)
 *   stats_time.h         UTC time arithmetic and the rollup buckets of a period
 *   stats_hist.h         latency histograms and percentiles
 *   stats_db.h           the read statements and what the datasets share
 *   stats_usage.h        summary, accounts, models, latency, timeseries, bandwidth
 *   stats_reliability.h  attempts, retries, routing, pings, errors, events,
 *                        pending health, recent requests, traces, backoffs
 *   stats_clients.h      requests by client family
 *   stats_detail.h       the reader of routing decisions' detail_json
 *   stats_rollup.h       the rollup writer
 */
#include <stddef.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "stats_clients.h"
#include "stats_db.h"
#include "stats_detail.h"
#include "stats_hist.h"
#include "stats_query.h"
#include "stats_reliability.h"
#include "stats_rollup.h"
#include "stats_time.h"
#include "stats_usage.h"

/*
 * Runs dataset d after stats_query_check(): the one entry point of the
 * /api/stats/NAME handlers. On failure returns NULL with *err set and,
 * for QP_EINVAL, the reason in errbuf (answer 400 with it).
 */
cJSON		*stats_dataset_run(struct stats_db *s, const struct config *cfg,
		    enum stats_dataset d, const struct stats_query *q, enum qp_err *err,
		    char *errbuf, size_t errlen);

#endif /* QP_STATS_H */
