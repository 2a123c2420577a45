/* health.h: endpoints for operators' tools: liveness, readiness and Prometheus metrics. */
#ifndef QP_HEALTH_H
#define QP_HEALTH_H

#include "http.h"
#include "server.h"

/* GET /v1/healthz: 200 {"status":"ok"} while the process serves. */
void		 health_healthz(struct worker *w, struct http_req *r);

/*
 * GET /v1/readyz: 200 {"status":"ok"} when the database is reachable and
 * fully migrated and every provider that serves clients has a model
 * catalog (static models or a fetched list), else 503
 * {"status":"degraded","reason":...}. Providers without a catalog are
 * named in "providers_without_catalog": with a 200 while others serve
 * their models, with a 503 when none has a catalog. Never writes.
 */
void		 health_readyz(struct worker *w, struct http_req *r);

/*
 * GET /metrics: the Prometheus text exposition (version 0.0.4) of the
 * counters, latency histograms and account states. Access follows
 * [dashboard] metrics_public (the routing table checks it).
 */
void		 health_metrics(struct worker *w, struct http_req *r);

#endif /* QP_HEALTH_H */
