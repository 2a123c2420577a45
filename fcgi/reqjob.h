/* reqjob.h: the database work of a request's steps (choose an account, end an attempt, finish), shared by chat and passthrough. */
#ifndef QP_REQJOB_H
#define QP_REQJOB_H

#include <stdint.h>

#include "accounting.h"
#include "config.h"
#include "failover.h"
#include "keylimit.h"
#include "ratelimit.h"
#include "select.h"
#include "server.h"

/*
 * One request's job, run on the writer by server_batch() with one of the
 * functions below as the step. The request fills what a step reads
 * before each batch; the fields a step writes are its answer.
 * Request-scoped; detail is owned and freed by the request.
 */
struct reqjob {
	const struct config	*cfg;		/* the request's configuration (pinned) */
	uint64_t		 cfg_gen;	/* its generation */
	struct accounting_request *req;		/* the request row */
	const struct select_query *q;		/* choose: the query */
	struct select_result	*sel;		/* choose: its answer; finish: the refusal
						   to record, or NULL */
	char			*detail;	/* a refusal's decision, copied: owned */
	const char		*keymodel;	/* choose: the model as the client named it,
						   for the key's model globs */
	const char		*keybase;	/* and without its provider suffix */
	int			 workers;	/* choose: remote workers may take it */
	enum keylimit_verdict	 key;		/* choose: what the key's limits say */
	int64_t			 key_retry_at;	/* and when the key may pass again (ms) */
	struct accounting_attempt *att;		/* end: the attempt */
	const struct failover_verdict *v;	/* its verdict */
	const struct config_routing *routing;	/* backoff settings */
	const struct accounting_final *fin;	/* end: NULL while the request goes on;
						   finish: its end */
	const struct ratelimit_obs *rl;		/* end: the attempt's rate-limit headers,
						   NULL = none */
	const char		*rl_account;	/* their account */
	const char		*rl_model;	/* and model as routed ("" = any) */
};

/*
 * The key's limits (in the transaction that opens the first attempt),
 * then the choice of an account among the request's, and its attempt
 * opened when one is eligible. A refusal is in j->key or j->sel->status,
 * its decision copied into j->detail.
 */
enum qp_err	 reqjob_choose(const struct server_db *d, void *arg);

/* Stores the attempt's rate-limit headers, then closes the attempt (and the request when fin is set). */
enum qp_err	 reqjob_end(const struct server_db *d, void *arg);

/* Records a request that ended with no attempt open (refused, or after failovers). */
enum qp_err	 reqjob_finish(const struct server_db *d, void *arg);

#endif /* QP_REQJOB_H */
