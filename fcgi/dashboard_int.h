/*
 * dashboard_int.h: what the dashboard's own files (fcgi/dashboard*.c) share:
 * the response headers, the charts of each page, the access gate and the
 * helpers that answer a request. Private: included only by those files;
 * every other module sees dashboard.h alone.
 */
#ifndef QP_DASHBOARD_INT_H
#define QP_DASHBOARD_INT_H

#include "dashboard.h"
#include "http.h"
#include "server.h"
#include "stats.h"
#include "tmpl.h"

/* Headers of every HTML page and JSON answer of the dashboard. */
#define DASHBOARD_HEADERS \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: same-origin\r\n"
#define DASHBOARD_NOSTORE	"Cache-Control: no-store\r\n"

/* ---- dashboard.c: rendering and pages ---------------------------------- */

/* Datasets that reveal per-request or process detail: admin only through the API too. */
int		 dashboard_ds_admin(enum stats_dataset d);

/*
 * Adds the layout members to ctx: title, page, theme, themes, periods,
 * nav, refresh, admin, path.
 */
enum qp_err	 dashboard_layout(struct worker *w, struct http_req *r, cJSON *ctx,
		    const char *page, const char *title, const char *period, int admin);

/* Sends an HTML page of status with the dashboard headers (and extra lines). */
void		 dashboard_send_html(struct http_req *r, int status, const struct tmpl_out *out,
		    const char *extra);

/* Sends a JSON tree with the dashboard headers. */
void		 dashboard_send_json(struct http_req *r, int status, const cJSON *j);

/*
 * Sends 303 to location (a path of ours, under [server] base_path) with
 * extra header lines.
 */
void		 dashboard_redirect(struct http_req *r, const char *location, const char *extra);

/* The runtime dataset: this process and its database. Caller frees; NULL when out of memory. */
cJSON		*dashboard_runtime_tree(struct worker *w);

/* ---- dashboard_session.c: access ---------------------------------------- */

/*
 * Checks access to a page (html) or API answer; answers and returns 0
 * when refused. *admin gets whether r is an admin's.
 */
int		 dashboard_gate(struct worker *w, struct http_req *r, int admin_only, int html,
		    int *admin);

/* ---- dashboard_units.c: numbers with units ------------------------------ */

/* Returns 1 if name ends with suffix. */
int		 dashboard_ends(const char *name, const char *suffix);

/* ---- dashboard_chart.c: each page's charts ------------------------------ */

/* Builds a page's charts from its data tree into charts (an object of SVG strings). */
typedef enum qp_err (*dashboard_charts_fn)(const cJSON *data, cJSON *charts);

enum qp_err	 dashboard_charts_overview(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_accounts(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_models(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_clients(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_latency(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_timeseries(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_bandwidth(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_reliability(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_routing(const cJSON *data, cJSON *charts);
enum qp_err	 dashboard_charts_pings(const cJSON *data, cJSON *charts);

#endif /* QP_DASHBOARD_INT_H */
