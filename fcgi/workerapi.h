/* workerapi.h: the remote workers' endpoints, /worker/v1/... (docs/workers.md). */
#ifndef QP_WORKERAPI_H
#define QP_WORKERAPI_H

#include "http.h"
#include "server.h"

/*
 * POST /worker/v1/hello: registers or renews the calling worker (its key
 * and the body's name): 200 with the heartbeat and gone times, 400 on a
 * malformed body, 413 over QP_WORKER_HELLO_MAX. Worker thread only; the
 * route table lets worker keys only in.
 */
void		 workerapi_hello(struct worker *w, struct http_req *r);

/* POST /worker/v1/bye: the worker is gone; its unclaimed jobs fail over at once. 204. */
void		 workerapi_bye(struct worker *w, struct http_req *r);

/*
 * GET /worker/v1/jobs?wait=S: a long poll of S seconds (1-60, default
 * 25) for a job of the calling worker, given only while it has fewer
 * than its capacity: 200 with the job JSON, 204 when none came, 409 when
 * it has not said hello or is gone.
 */
void		 workerapi_jobs(struct worker *w, struct http_req *r);

/*
 * POST /worker/v1/jobs/{id}/result?seq=N[&end=1]: passes the body to the
 * process serving the job's client and answers once it was written
 * there: 204, or 410 when the job is no longer wanted, 404 unknown job,
 * 409 another worker's job or not the next seq, 400 malformed head.
 */
void		 workerapi_result(struct worker *w, struct http_req *r);

#endif /* QP_WORKERAPI_H */
