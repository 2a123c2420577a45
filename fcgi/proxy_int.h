/* proxy_int.h: the request state shared by the proxy modules (proxy.c, proxy_reply.c); private. */
#ifndef QP_PROXY_INT_H
#define QP_PROXY_INT_H

/*
 * Included only by the modules of the pooled data plane (fcgi/proxy.c
 * and fcgi/proxy_reply.c): no other file may include it or read these
 * structs. The public surface is fcgi/proxy.h.
 */

#include <stddef.h>
#include <stdint.h>

#include "accounting.h"
#include "alias.h"
#include "capbuf.h"
#include "bounds.h"
#include "cost.h"
#include "ctxlimit.h"
#include "endpoint.h"
#include "failover.h"
#include "http.h"
#include "keylimit.h"
#include "prices.h"
#include "ratelimit.h"
#include "refresh.h"
#include "reqjob.h"
#include "relay.h"
#include "reqbody.h"
#include "select.h"
#include "server.h"
#include "upstream.h"
#include "usage.h"
#include "xlate.h"

/* Accounts one request may try; [routing] max_attempts is lowered to it. */
#define PROXY_TRIED_MAX		64
/* Longest model id kept (the client's, and the one sent upstream). */
#define PROXY_MODEL_MAX		255

/* One attempt's state, seen by the transport callbacks. */
struct proxy_attempt {
	struct http_req	*r;		/* the client's request, borrowed */
	int		 stream;	/* client asked for a stream */
	int		 show_usage;	/* client asked for the OpenAI usage chunk */
	int64_t		 keepalive_ms;	/* SSE comment after this much silence ([upstream]) */
	int64_t		 body_max;	/* bound of a whole success body ([upstream]) */
	int		 status;	/* upstream status, 0 before the head */
	int		 handed_off;	/* the response started towards the client */
	int		 client_gone;	/* the client went away */
	int		 stream_failed;	/* the event stream broke */
	int		 bad_media;	/* 1: a whole body neither JSON nor SSE, never relayed */
	int		 too_large;	/* 1: the whole success body went past body_max */
	int64_t		 ttft;		/* request start to a whole answer relayed, -1 */
	struct usage	 usage;		/* what the upstream reported */
	struct relay	*relay;		/* while relaying an event stream, else NULL */
	const struct xlate_ctx *xc;	/* the attempt's translation, NULL = none (borrowed) */
	struct capbuf body;		/* a whole body: error or non-streaming answer */
	char		 ctype[UPSTREAM_VALUE_MAX + 1];	/* upstream Content-Type */
};

/*
 * One request through its phases, in order: admit (transport, body,
 * model, the request row's fields), then per account choose (select, or
 * refuse) and attempt (one upstream transfer, a stream relayed as it
 * arrives, ending with a verdict), until an attempt is the last; then
 * relay (the answer the client gets, if none went out yet) and finish
 * (the request's end recorded). Request-scoped, on the worker's stack.
 */
struct proxy_request {
	struct worker	*w;		/* borrowed */
	struct http_req	*r;		/* borrowed */
	const struct config *cfg;	/* borrowed */
	const struct endpoint *ep;	/* the API the client called */
	int64_t		 t0_us;		/* request start, monotonic us */
	int64_t		 t0;		/* the same in ms */
	int64_t		 overhead_us;	/* start to the first dispatch, -1 before */
	/* admit */
	char		*body;		/* the client's body, owned */
	size_t		 body_len;	/* its bytes */
	struct reqbody	 rb;		/* its parse, owned once rb_ok */
	int		 rb_ok;		/* 1 once rb holds a parse */
	int		 stateful;	/* 1: a Responses request that needs stored state */
	struct ctxlimit_need need;	/* its tokens, estimated for the context limits */
	char		 ua[QP_USER_AGENT_MAX + 1]; /* its User-Agent as kept, "" = none */
	char		 model[PROXY_MODEL_MAX + 1]; /* as the client named it */
	char		 base[PROXY_MODEL_MAX + 1];  /* without a provider suffix */
	const struct config_provider *pinned; /* provider named by the suffix, NULL = any */
	struct cost_price price;	/* the model's configured prices */
	struct prices_quote quote;	/* the price the request's cost came from */
	struct accounting_request req;	/* the request row */
	char		*upbody;	/* body sent upstream when it differs, owned, or NULL */
	size_t		 up_len;	/* its bytes */
	struct endpoint_plan plan;	/* how the current attempt reaches its provider */
	struct xlate_ctx xc;		/* its translation, when plan.translated */
	int		 reject_status;	/* the attempt was refused before the transfer: status */
	char		 reject_msg[XLATE_WHY_MAX + 1]; /* and why */
	int		 estimated;	/* 1: count_tokens answered with the gateway's estimate */
	int		 untranslatable; /* 1: a success the translation could not read */
	/* choose */
	struct select_query q;		/* the last selection asked */
	struct select_result sel;	/* its answer */
	const char	*tried[PROXY_TRIED_MAX]; /* accounts tried, borrowed from the config */
	int		 ntried;	/* entries in tried */
	int		 max_attempts;	/* [routing] max_attempts, at most PROXY_TRIED_MAX */
	struct alias_route route;	/* the [aliases] entry the model matched, if any */
	int		 tried_from;	/* first entry of tried for the model tried now */
	/* attempt */
	struct proxy_attempt a;		/* the current attempt's transport state */
	struct upstream_res ures;	/* what the transport saw */
	int64_t		 att_t0;	/* monotonic ms the current attempt began */
	enum qp_err	 xfer_err;	/* the transport's own error of the current attempt */
	struct failover_verdict v;	/* the last attempt's verdict */
	struct accounting_attempt att;	/* the last attempt's numbers */
	struct ratelimit_obs rl;	/* the last attempt's rate-limit headers */
	char		*token;		/* the refreshed token sent (secret, owned), NULL = the
					   account's configured key */
	int64_t		 token_version;	/* its stored version */
	enum qp_err	 refresh_err;	/* QP_OK, or why the account's token could not be had */
	char		 refresh_why[REFRESH_WHY_MAX + 1]; /* and what the refresh said */
	/* finish */
	struct accounting_final fin;	/* the request's end */
	struct reqjob job;		/* the database work of the current step */
	int		 final_status;	/* status answered, for the record */
	int		 done;		/* 1 once the request's end was recorded */
};

#endif /* QP_PROXY_INT_H */
