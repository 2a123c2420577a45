/* proxy_reply.h: the pooled data plane's own error answers and refusals. */
#ifndef QP_PROXY_REPLY_H
#define QP_PROXY_REPLY_H

#include <stdint.h>

#include "failover.h"
#include "http.h"
#include "keylimit.h"
#include "upstream.h"

/* A request of the pooled endpoints (fcgi/proxy_int.h, private to the proxy modules). */
struct proxy_request;

/*
 * Sends an error of the given type (in the client's family) with an
 * explicit status, and a Retry-After header when retry_s > 0: what
 * proxy_reply_fail() and passthrough.c's errors both end in. message
 * must carry no secret. Worker thread only.
 */
void		 proxy_reply_error(struct http_req *r, int status, const char *type,
		    const char *message, int64_t retry_s);

/*
 * The status of the gateway's own error after a last attempt that left
 * nothing to relay, from its verdict v and the transport's result: 429
 * for a rate limit or a spent quota (*retry_s = the upstream's
 * Retry-After in seconds, else 0), 503 when the account's credentials
 * were refused, 504 for a first-byte or idle timeout, 500 for the
 * gateway's own failure, else 502 (*retry_s = 0). Shared with
 * passthrough.c. Thread-safe.
 */
int		 proxy_reply_status(const struct failover_verdict *v,
		    enum upstream_result result, int64_t *retry_s);

/*
 * The error_class recorded for a request its key's limits refused:
 * "key_model", "key_budget", "key_rpm" or "key_tpm"; NULL for
 * KEYLIMIT_OK. A static string. Shared with passthrough.c. Thread-safe.
 */
const char	*proxy_reply_key_class(enum keylimit_verdict key);

/*
 * Sends an error of the gateway's own with an explicit status, in the
 * client's protocol family (its type chosen from the status), with
 * Retry-After when retry_s > 0. message must carry no secret. Worker
 * thread only.
 */
void		 proxy_reply_fail(struct http_req *r, int status, const char *message,
		    int64_t retry_s);

/*
 * For proxy.c only (p's state is private): each answers the client and
 * leaves the request's end in p->fin and p->final_status, for the
 * caller to record.
 *
 * proxy_reply_refuse(): no (further) account can take the request
 * (p->sel says why): the reason in the client's family, or the last
 * upstream error as the provider sent it, or count_tokens' estimate.
 *
 * proxy_reply_key_refuse(): the key's limits refuse it (p->job.key):
 * 403 for a model outside its globs, 429 with Retry-After for rpm, tpm
 * and a spent budget (docs/keys.md).
 */
void		 proxy_reply_refuse(struct proxy_request *p);
void		 proxy_reply_key_refuse(struct proxy_request *p);

/*
 * For proxy.c only: answers the client after a last attempt that left
 * nothing to relay as it came (no whole success, no stream, not refused
 * before its transfer): count_tokens' estimate, the provider's own
 * error when it was the client's fault or a model it does not serve,
 * else an error of the gateway's own saying why (p->estimated set for
 * the estimate). The caller records the request's end.
 */
void		 proxy_reply_last(struct proxy_request *p);

#endif /* QP_PROXY_REPLY_H */
