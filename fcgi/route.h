/* route.h: the table of HTTP routes and the dispatch of one request to its handler. */
#ifndef QP_ROUTE_H
#define QP_ROUTE_H

#include "http.h"
#include "server.h"

/* Who may call a route; checked before the handler runs. */
enum route_access {
	ROUTE_OPEN,		/* anyone (health checks) */
	ROUTE_CLIENT,		/* a client or admin key */
	ROUTE_ADMIN,		/* an admin key or an admin's dashboard session */
	ROUTE_DASHBOARD,	/* anyone if [dashboard] public, else as ROUTE_ADMIN */
	ROUTE_METRICS,		/* anyone if [dashboard] metrics_public, else as ROUTE_ADMIN */
	ROUTE_WORKER,		/* a worker key, and no other (a worker key is refused elsewhere) */
	ROUTE_ACCESS__MAX
};

/*
 * Path of the error documents the web server asks for when it refuses a
 * request itself (lighttpd's server.error-handler, Apache's ErrorDocument).
 */
#define ROUTE_WEB_ERROR_PATH	"/_quotapool/error"

/* Route flags. */
#define ROUTE_PREFIX	0x1	/* path is a prefix ending in '/'; the rest is an argument */

/* A request handler: answers r completely. Worker thread only. */
typedef void	 (*route_handler)(struct worker *w, struct http_req *r);

/* One row of the routing table. */
struct route {
	const char		*method;	/* "GET", "POST" */
	const char		*path;		/* exact path, or prefix with ROUTE_PREFIX */
	route_handler		 handler;	/* answers the request */
	enum route_access	 access;	/* checked first */
	unsigned		 flags;		/* ROUTE_* */
};

/*
 * Finds r's route, checks access and runs the handler; answers 404, 405
 * (with Allow), 414 or 401/403 itself. Worker thread only.
 */
void		 route_dispatch(struct worker *w, struct http_req *r);

/*
 * Takes base ([server] base_path: "" or "/a/b") off the front of r->path and
 * sets r->base; "/a/b" alone becomes "/". Returns 0 if the path is outside it.
 */
int		 route_strip_base(struct http_req *r, const char *base);

/* Returns the routing table and its length (for docs and tests). */
const struct route *route_table(int *n);

#endif /* QP_ROUTE_H */
