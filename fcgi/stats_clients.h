/* stats_clients.h: the dataset of requests by client family (claude-cli, opencode, ...). */
#ifndef QP_STATS_CLIENTS_H
#define QP_STATS_CLIENTS_H

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "stats_db.h"
#include "stats_query.h"

/*
 * /api/stats/clients: the requests finalized in the period by client
 * family, from the stats_clients rollup, with the status filter. Every
 * family of the closed set (useragent.h) is listed, zeros included, the
 * most requests first (then in the set's order), so the answer has at
 * most USERAGENT__MAX entries whatever the clients sent. Returns a new
 * cJSON object (the caller frees it) or NULL with *err set (QP_ENOMEM,
 * QP_EDB). Fields in docs/api.md. Not thread-safe (s belongs to one
 * thread).
 */
cJSON		*stats_clients(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);

#endif /* QP_STATS_CLIENTS_H */
