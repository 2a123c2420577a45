/* workerjob.h: an attempt on a remote worker, run as the upstream transport runs one. */
#ifndef QP_WORKERJOB_H
#define QP_WORKERJOB_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "select.h"
#include "server.h"
#include "upstream.h"

/* What the request tells the job besides the transfer itself. */
struct workerjob_spec {
	int64_t		 request_id;	/* requests.id */
	int		 attempt;	/* its attempt number */
	const char	*model;		/* model id the worker's runtime knows */
	int		 stream;	/* 1 if the client asked for a stream */
};

/*
 * In the write transaction that chose sel (SELECT_OK on the [workers]
 * provider): picks the live worker for q->model (workers_pick(), the
 * names in q->tried excluded) and makes sel->account its routing account,
 * named after it, which lives as long as the process. When no worker can
 * take it, chooses again as if the provider's account had been tried,
 * so the request goes to another provider (or is refused as usual).
 */
enum qp_err	 workerjob_choose(const struct server_db *d, const struct config *cfg,
		    const struct select_query *q, struct select_result *sel);

/*
 * Runs the attempt on the worker acct names (from workerjob_choose()):
 * queues the job (ureq->path, ureq->body), wakes the worker's polls in
 * every process and relays what its result POSTs bring through ureq->cb
 * as the transport would (on_status once the head came, on_data for the
 * answer's bytes, on_tick every UPSTREAM_TICK_MS) into res: a head that
 * never comes within ureq->first_byte_timeout_ms is
 * UPSTREAM_FIRST_BYTE_TIMEOUT, a silence once it streams past
 * idle_timeout_ms UPSTREAM_IDLE_TIMEOUT, a worker gone (bye, silent past
 * [workers] gone_after_s) or a malformed head UPSTREAM_RECV_FAILED, a
 * callback's stop UPSTREAM_ABORTED_BY_CALLER (the job is cancelled: the
 * worker's next POST gets 410). res->head.raw is "" afterwards. Returns
 * QP_OK once the attempt ran, however it ended. Worker thread only.
 */
enum qp_err	 workerjob_perform(struct worker *w, const struct config_account *acct,
		    const struct workerjob_spec *spec, const struct upstream_req *ureq,
		    struct upstream_res *res);

#endif /* QP_WORKERJOB_H */
