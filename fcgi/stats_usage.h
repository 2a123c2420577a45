/* stats_usage.h: the datasets of usage: summary, accounts, models, latency, timeseries, bandwidth. */
#ifndef QP_STATS_USAGE_H
#define QP_STATS_USAGE_H

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "stats_db.h"
#include "stats_query.h"

/* Days of the bandwidth calendar when no period is given. */
#define STATS_CALENDAR_DAYS	365

/*
 * The datasets of usage. Each returns a new cJSON object (the caller frees
 * it with cJSON_Delete()) that serves both the JSON API and the page, or
 * NULL with *err set (QP_ENOMEM, QP_EDB). cfg is read (accounts,
 * providers, quota); q comes from stats_query_parse(). Filters a dataset
 * does not accept are ignored here: stats_dataset_run() refuses them.
 * Read-only on the database; not thread-safe (s belongs to one thread).
 * The fields of each are documented in docs/api.md.
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

#endif /* QP_STATS_USAGE_H */
