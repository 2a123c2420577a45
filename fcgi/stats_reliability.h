/* stats_reliability.h: the datasets of failures and single requests, traces and backoffs. */
#ifndef QP_STATS_RELIABILITY_H
#define QP_STATS_RELIABILITY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "stats_db.h"
#include "stats_query.h"

/*
 * The datasets of failures and of single requests: attempts, retries,
 * routing, pings, errors, operational events, pending health, recent
 * requests and backoffs. Each returns a new cJSON object (the caller frees
 * it with cJSON_Delete()) that serves both the JSON API and the page, or
 * NULL with *err set (QP_ENOMEM, QP_EDB). cfg is read (accounts,
 * providers); q comes from stats_query_parse(). Filters a dataset does
 * not accept are ignored here: stats_dataset_run() refuses them.
 * Read-only on the database; not thread-safe (s belongs to one thread).
 * The fields of each are documented in docs/api.md.
 */
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

#endif /* QP_STATS_RELIABILITY_H */
