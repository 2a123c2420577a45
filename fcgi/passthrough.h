/* passthrough.h: /p/<provider>/<path>: any request passed to a provider's own API with a pooled key. */
#ifndef QP_PASSTHROUGH_H
#define QP_PASSTHROUGH_H

#include "http.h"
#include "server.h"

/*
 * Any method on /p/<provider>/<path>[?query] (docs/passthrough.md): when
 * the provider's `passthrough` globs match <path> (passpath.h), the
 * request goes to its base_url + <path>?query with the client's headers
 * minus its credentials and cookies (upstream_headers_pass()) and the
 * chosen account's key. The body is streamed to the upstream as curl
 * sends it and spooled to an unlinked file in [server] state_dir
 * (spool.h), so that an attempt answered 429, 401/403, 402 or 5xx, or
 * that failed to connect, is made again on the provider's next account
 * with the same bytes (accounts chosen, backed off and quarantined as
 * for chat: select.h, failover.h). An answer that is not to be retried
 * is relayed as it arrives, status, headers (passpath_response_header())
 * and body, in bounded memory. A client that goes away aborts the
 * upstream transfer. Each request gets its row (endpoint "/p/", method,
 * path, no model) with the bytes, latency and account, and the tokens of
 * a JSON answer's usage object. Answers 404 for an unknown or disabled
 * provider and for a path its globs do not match, 400 for an unsafe
 * path. Worker thread only.
 */
void		 passthrough_handle(struct worker *w, struct http_req *r);

#endif /* QP_PASSTHROUGH_H */
