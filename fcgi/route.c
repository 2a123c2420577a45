/* route.c: the table of HTTP routes and the dispatch of one request to its handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientaddr.h"
#include "dashboard.h"
#include "health.h"
#include "models.h"
#include "passthrough.h"
#include "proxy.h"
#include "route.h"
#include "workerapi.h"
#include "workers_view.h"

static void	route_web_error(struct worker *, struct http_req *);

static const struct route route_routes[] = {
	{ "GET",	"/v1/healthz",	health_healthz,	ROUTE_OPEN,	0 },
	{ "GET",	"/v1/readyz",	health_readyz,	ROUTE_OPEN,	0 },
	{ "GET",	"/metrics",	health_metrics,	ROUTE_METRICS,	0 },
	{ "GET",	"/v1/models",	models_list,	ROUTE_CLIENT,	0 },
	{ "GET",	"/v1/models/",	models_get,	ROUTE_CLIENT,	ROUTE_PREFIX },
	{ "POST",	"/v1/chat/completions", proxy_chat_completions, ROUTE_CLIENT, 0 },
	{ "POST",	"/v1/messages",	proxy_messages,	ROUTE_CLIENT,	0 },
	{ "POST",	"/v1/messages/count_tokens", proxy_count_tokens, ROUTE_CLIENT, 0 },
	{ "POST",	"/v1/responses", proxy_responses, ROUTE_CLIENT,	0 },
	{ "POST",	"/v1/embeddings", proxy_embeddings, ROUTE_CLIENT, 0 },
	{ "POST",	"/v1/completions", proxy_completions, ROUTE_CLIENT, 0 },
	/* A provider's own API, any method, where its passthrough globs allow. */
	{ "*",		"/p/",		passthrough_handle, ROUTE_CLIENT, ROUTE_PREFIX | ROUTE_ANY_METHOD },
	/* Remote workers (docs/workers.md); /worker/v1/jobs/{id}/result is the prefix. */
	{ "POST",	"/worker/v1/hello", workerapi_hello,	ROUTE_WORKER,	0 },
	{ "POST",	"/worker/v1/bye", workerapi_bye,	ROUTE_WORKER,	0 },
	{ "GET",	"/worker/v1/jobs", workerapi_jobs,	ROUTE_WORKER,	0 },
	{ "POST",	"/worker/v1/jobs/", workerapi_result,	ROUTE_WORKER,	ROUTE_PREFIX },
	/*
	 * The dashboard checks access itself: [dashboard] public, admin keys
	 * and admin login sessions, a redirect to /login for pages and 401/403
	 * for the JSON API; runtime, traces and per-request data are admin-only.
	 */
	{ "GET",	"/",		dashboard_overview,	ROUTE_OPEN,	0 },
	{ "GET",	"/accounts",	dashboard_accounts,	ROUTE_OPEN,	0 },
	{ "GET",	"/models",	dashboard_models,	ROUTE_OPEN,	0 },
	{ "GET",	"/clients",	dashboard_clients,	ROUTE_OPEN,	0 },
	{ "GET",	"/latency",	dashboard_latency,	ROUTE_OPEN,	0 },
	{ "GET",	"/timeseries",	dashboard_timeseries,	ROUTE_OPEN,	0 },
	{ "GET",	"/bandwidth",	dashboard_bandwidth,	ROUTE_OPEN,	0 },
	{ "GET",	"/reliability",	dashboard_reliability,	ROUTE_OPEN,	0 },
	{ "GET",	"/routing",	dashboard_routing,	ROUTE_OPEN,	0 },
	{ "GET",	"/pings",	dashboard_pings,	ROUTE_OPEN,	0 },
	{ "GET",	"/runtime",	dashboard_runtime,	ROUTE_OPEN,	0 },
	{ "GET",	"/traces",	dashboard_traces,	ROUTE_OPEN,	0 },
	{ "GET",	"/traces/",	dashboard_trace,	ROUTE_OPEN,	ROUTE_PREFIX },
	{ "GET",	"/login",	dashboard_login_form,	ROUTE_OPEN,	0 },
	{ "POST",	"/login",	dashboard_login,	ROUTE_OPEN,	0 },
	{ "POST",	"/logout",	dashboard_logout,	ROUTE_OPEN,	0 },
	{ "GET",	"/theme",	dashboard_theme,	ROUTE_OPEN,	0 },
	{ "GET",	"/static/",	dashboard_static,	ROUTE_OPEN,	ROUTE_PREFIX },
	{ "GET",	"/api/stats/",	dashboard_api_stats,	ROUTE_OPEN,	ROUTE_PREFIX },
	{ "GET",	"/api/backoffs", dashboard_api_backoffs, ROUTE_OPEN,	0 },
	{ "GET",	"/api/events",	dashboard_api_events,	ROUTE_OPEN,	0 },
	{ "GET",	"/workers",	dashboard_workers,	ROUTE_OPEN,	0 },
	{ "GET",	"/api/v1/state/stream", workers_view_stream, ROUTE_ADMIN, 0 },
	/* Errors the web server raised itself (see route_web_status()). */
	{ "GET",	ROUTE_WEB_ERROR_PATH, route_web_error, ROUTE_OPEN,	0 },
};

/* The message for an error status the web server raised itself. */
static const struct {
	int		 status;
	const char	*message;
} route_web_messages[] = {
	{ 400, "the request is malformed" },
	{ 403, "forbidden" },
	{ 404, "no such endpoint" },
	{ 405, "method not allowed" },
	{ 408, "the request was not received in time" },
	{ 411, "a request body needs a Content-Length header" },
	{ 413, "request body too large" },
	{ 414, "request URI too long" },
	{ 416, "range not satisfiable" },
	{ 417, "only \"Expect: 100-continue\" is supported" },
	{ 431, "request headers too large" },
	{ 500, "internal error in the web server" },
	{ 501, "not implemented (method or transfer encoding)" },
	{ 502, "the gateway's application did not answer properly" },
	{ 503, "the gateway's application is unavailable or overloaded" },
	{ 504, "the gateway's application did not answer in time" },
	{ 505, "HTTP version not supported" },
};

/*
 * Returns the status of an error the web server raised itself and handed
 * over as an error document (lighttpd's server.error-handler, Apache's
 * ErrorDocument): both set REDIRECT_STATUS to it, and REQUEST_URI stays the
 * refused request's. Returns 0 for any other request (lighttpd sets
 * REDIRECT_STATUS=200 on every request; clients cannot set it).
 */
static int
route_web_status(const struct http_req *r)
{
	const char *v = http_param(r, "REDIRECT_STATUS");
	char *end;
	long st;

	if (v == NULL)
		return 0;
	st = strtol(v, &end, 10);
	return end != v && *end == '\0' && st >= 400 && st <= 599 ? (int)st : 0;
}

/* Answers an error the web server raised, in the client's protocol family. */
static void
route_web_error(struct worker *w, struct http_req *r)
{
	const char *message = "the web server refused the request";
	size_t i;
	int status;

	(void)w;
	if ((status = route_web_status(r)) == 0) {
		/* Asked for directly: there is nothing here. */
		http_error(r, 404, http_type(r, "invalid_request_error",
		    "not_found_error"), "no such endpoint");
		return;
	}
	for (i = 0; i < sizeof(route_web_messages) / sizeof(route_web_messages[0]); i++)
		if (route_web_messages[i].status == status)
			message = route_web_messages[i].message;
	http_error(r, status, status >= 500 ? http_type(r, "server_error",
	    "api_error") : "invalid_request_error", message);
}

const struct route *
route_table(int *n)
{

	*n = (int)(sizeof(route_routes) / sizeof(route_routes[0]));
	return route_routes;
}

/* Returns 1 if route rt serves path. */
static int
route_path_matches(const struct route *rt, const char *path)
{
	size_t n;

	if (rt->flags & ROUTE_PREFIX) {
		n = strlen(rt->path);
		return strncmp(path, rt->path, n) == 0 && path[n] != '\0';
	}
	return strcmp(path, rt->path) == 0;
}

/* Sets r->client_addr and r->client_https, believing only [security] trusted_proxies. */
static void
route_client_addr(const struct config *cfg, struct http_req *r)
{
	struct clientaddr_in in;

	in.peer = http_param(r, "REMOTE_ADDR");
	in.xff = http_param(r, "HTTP_X_FORWARDED_FOR");
	in.xfp = http_param(r, "HTTP_X_FORWARDED_PROTO");
	in.https = http_param(r, "HTTPS");
	clientaddr_resolve(&in, cfg->security.trusted_proxies, cfg->security.ntrusted_proxies,
	    r->client_addr, sizeof(r->client_addr), &r->client_https);
}

/* Checks access; answers and returns 0 when refused. */
static int
route_allowed(struct worker *w, struct http_req *r, enum route_access access)
{
	const struct config *cfg = w->cfg;
	enum server_role role;
	char retry[32];

	if (access == ROUTE_OPEN ||
	    (access == ROUTE_DASHBOARD && cfg->dashboard.public) ||
	    (access == ROUTE_METRICS && cfg->dashboard.metrics_public))
		return 1;
	/* Client routes need no pooled connection: the key is checked by the writer. */
	if (access != ROUTE_CLIENT && access != ROUTE_WORKER && server_worker_ready(w) != QP_OK) {
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the gateway is not ready: its database is unavailable");
		return 0;
	}
	role = server_auth(w, r);
	if (role == SERVER_ROLE_NONE && w->auth_retry_s > 0) {
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", w->auth_retry_s);
		http_error_ex(r, 429, http_type(r, "rate_limit_exceeded", "rate_limit_error"),
		    "too many failed key checks from this address: try again later", retry);
		return 0;
	}
	/* An admin's dashboard session opens what an admin key opens. */
	if (access != ROUTE_CLIENT && access != ROUTE_WORKER && role != SERVER_ROLE_ADMIN &&
	    dashboard_session_admin(w, r))
		return 1;
	if (role == SERVER_ROLE_NONE && w->auth_err == QP_EEXPIRED) {
		http_error_ex(r, 401, http_type(r, "invalid_request_error",
		    "authentication_error"), "this API key has expired: ask the gateway's "
		    "operator for a new one", "WWW-Authenticate: Bearer error=\"invalid_token\", "
		    "error_description=\"expired\"\r\n");
		return 0;
	}
	if (role == SERVER_ROLE_NONE && w->auth_err != QP_EAUTH) {
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the gateway is not ready: its database is unavailable");
		return 0;
	}
	if (role == SERVER_ROLE_NONE) {
		http_error_ex(r, 401, http_type(r, "invalid_request_error",
		    "authentication_error"), "invalid or missing API key",
		    "WWW-Authenticate: Bearer\r\n");
		return 0;
	}
	/* A worker key opens /worker/v1/... and nothing else; nothing else opens it. */
	if ((access == ROUTE_WORKER) != (role == SERVER_ROLE_WORKER)) {
		http_error(r, 403, http_type(r, "invalid_request_error", "permission_error"),
		    access == ROUTE_WORKER ? "this needs a worker key (quotapool-admin key new "
		    "NAME --worker)" : "a worker key may call /worker/v1/ only");
		return 0;
	}
	if (access != ROUTE_CLIENT && access != ROUTE_WORKER && role != SERVER_ROLE_ADMIN) {
		http_error(r, 403, http_type(r, "invalid_request_error",
		    "permission_error"), "this needs an admin key");
		return 0;
	}
	return 1;
}

/*
 * Takes [server] base_path off the front of r->path ("/base" alone is "/").
 * Returns 0 if the path is outside it.
 */
int
route_strip_base(struct http_req *r, const char *base)
{
	size_t n;

	if (base == NULL)
		base = "";
	n = strlen(base);
	r->base = base;
	if (n == 0)
		return 1;
	if (strncmp(r->path, base, n) != 0 || (r->path[n] != '/' && r->path[n] != '\0'))
		return 0;
	if (r->path[n] == '\0')
		memcpy(r->path, "/", 2);
	else
		memmove(r->path, r->path + n, strlen(r->path + n) + 1);
	return 1;
}

void
route_dispatch(struct worker *w, struct http_req *r)
{
	const struct route *rt = NULL;
	const char *path = r->path, *method = r->method;
	char allow[128], extra[160];
	size_t i, alen = 0, n = sizeof(route_routes) / sizeof(route_routes[0]);
	int m, path_found = 0;

	route_client_addr(w->cfg, r);
	/*
	 * An error the web server raised itself is looked up as its error
	 * document, whatever the method and path of the refused request.
	 */
	if (route_web_status(r) != 0) {
		path = ROUTE_WEB_ERROR_PATH;
		method = "GET";
	} else if (r->path_too_long) {
		http_error(r, 414, "invalid_request_error", "request path too long");
		return;
	}
	if (!route_strip_base(r, w->cfg->server.base_path)) {
		http_error(r, 404, http_type(r, "invalid_request_error",
		    "not_found_error"), "no such endpoint: this gateway is served under its "
		    "[server] base_path");
		return;
	}
	allow[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!route_path_matches(&route_routes[i], path))
			continue;
		path_found = 1;
		if ((route_routes[i].flags & ROUTE_ANY_METHOD) ||
		    strcmp(route_routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		    strcmp(route_routes[i].method, "GET") == 0)) {
			rt = &route_routes[i];
			break;
		}
		if (strstr(allow, route_routes[i].method) == NULL) {
			m = snprintf(allow + alen, sizeof(allow) - alen, "%s%s",
			    alen > 0 ? ", " : "", route_routes[i].method);
			if (m > 0 && (size_t)m < sizeof(allow) - alen)
				alen += (size_t)m;
			else
				allow[alen] = '\0';
		}
	}
	if (rt == NULL && path_found) {
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
		http_error_ex(r, 405, "invalid_request_error",
		    "method not allowed on this path", extra);
		return;
	}
	if (rt == NULL) {
		http_error(r, 404, http_type(r, "invalid_request_error",
		    "not_found_error"), "no such endpoint");
		return;
	}
	if (!route_allowed(w, r, rt->access))
		return;
	rt->handler(w, r);
}
