/* stats_rollup.h: the rollup writer: adds each finalized request to the stats_* tables. */
#ifndef QP_STATS_ROLLUP_H
#define QP_STATS_ROLLUP_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "err.h"

/* Requests are counted by attempts made 0, 1, 2, 3 and this many or more. */
#define STATS_ATTEMPTS_CAP	4
/*
 * The one model label of the rollups (and so of every dataset and
 * /metrics) for requests and routing decisions whose model no configured
 * provider lists: see stats_rollup_request().
 */
#define STATS_UNKNOWN_MODEL	"(unknown)"

/* Prepared rollup statements of one connection; owned by one thread. */
struct stats_rollup;

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
 * completed), stats_clients (by its client family), stats_attempts (its
 * attempts) and stats_routing (its decisions), at every granularity. Account selection reads the hourly
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

#endif /* QP_STATS_ROLLUP_H */
