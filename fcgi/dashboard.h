/* dashboard.h: the dashboard's HTML pages, their JSON twins, static files and login sessions. */
#ifndef QP_DASHBOARD_H
#define QP_DASHBOARD_H

#include <stddef.h>

#include "err.h"
#include "http.h"
#include "server.h"
#include "tmpl.h"

/* Largest login form body accepted, in bytes (413 beyond). */
#define DASHBOARD_FORM_MAX	1024
/* Longest decoded form value, in bytes. */
#define DASHBOARD_VALUE_MAX	256
/* Session token: random bytes, sent as twice as many hex digits. */
#define DASHBOARD_TOKEN_BYTES	32
/* Lifetime of a login session, in ms (12 hours). */
#define DASHBOARD_SESSION_MS	(12LL * 3600 * 1000)
/* Name of the session cookie. */
#define DASHBOARD_COOKIE	"qp_session"

/*
 * Loads the templates (views/ *.html), dashboard.css and dashboard.js from
 * datadir/views once at start. Returns QP_OK, or QP_EPARSE / QP_EIO /
 * QP_ENOMEM with one sentence (file and line for template errors) in
 * errbuf. Call once from server_run before the workers start; not
 * thread-safe. Everything loaded is read-only afterwards.
 */
enum qp_err	 dashboard_init(const char *datadir, char *errbuf, size_t errlen);

/* Frees what dashboard_init() loaded, after the workers stopped. Safe to call twice. */
void		 dashboard_free(void);

/*
 * Returns 1 if r carries a valid, unexpired session cookie of a valid
 * admin key, else 0 (also when the database is not ready). Worker thread.
 */
int		 dashboard_session_admin(struct worker *w, struct http_req *r);

/*
 * Finds field name in an application/x-www-form-urlencoded body
 * buf[0..len) (untrusted) and writes its decoded value ('+' is a space,
 * %XX a byte) NUL-terminated into out (outlen bytes), its length in
 * *outn. Returns QP_OK; QP_ENOTFOUND if absent; QP_EINVAL for a bad
 * escape, a NUL byte in the value or the field given twice; QP_ETOOBIG if
 * the value needs more than outlen - 1 bytes. Thread-safe.
 */
enum qp_err	 dashboard_form_get(const char *buf, size_t len, const char *name, char *out,
		    size_t outlen, size_t *outn);

/*
 * Finds cookie name in a Cookie header value buf[0..len) (untrusted) and
 * copies its value (undecoded, surrounding quotes removed) into out
 * (outlen bytes). Returns QP_OK, QP_ENOTFOUND or QP_ETOOBIG. Thread-safe.
 */
enum qp_err	 dashboard_cookie_get(const char *buf, size_t len, const char *name, char *out,
		    size_t outlen);

/*
 * Renders page (a template name such as "overview") with the data tree
 * data (borrowed; decorated in place with "_h" members: numbers with
 * units) into out, inside the layout. For tests and the handlers.
 * Returns what tmpl_render() returns; QP_EINVAL before dashboard_init().
 */
enum qp_err	 dashboard_render(const char *page, cJSON *data, struct tmpl_out *out);

/*
 * Adds to every number member NAME of tree (recursively) a string member
 * NAME_h with the value in units chosen by the name: *microdollars* as
 * dollars, *_ms as ms or s, *tokens* as tokens, *bytes* as B/KiB/MiB/GiB,
 * *_rate / *_ratio / share as percent, *_pct as percent of 100, others
 * with thousands separators. Returns QP_OK or QP_ENOMEM. Thread-safe.
 */
enum qp_err	 dashboard_decorate(cJSON *tree);

/* Page handlers: answer r completely. Worker thread only. */
void		 dashboard_overview(struct worker *w, struct http_req *r);	/* GET / */
void		 dashboard_accounts(struct worker *w, struct http_req *r);	/* GET /accounts */
void		 dashboard_models(struct worker *w, struct http_req *r);	/* GET /models */
void		 dashboard_clients(struct worker *w, struct http_req *r);	/* GET /clients */
void		 dashboard_latency(struct worker *w, struct http_req *r);	/* GET /latency */
void		 dashboard_timeseries(struct worker *w, struct http_req *r);	/* GET /timeseries */
void		 dashboard_bandwidth(struct worker *w, struct http_req *r);	/* GET /bandwidth */
void		 dashboard_reliability(struct worker *w, struct http_req *r);	/* GET /reliability */
void		 dashboard_routing(struct worker *w, struct http_req *r);	/* GET /routing */
void		 dashboard_pings(struct worker *w, struct http_req *r);	/* GET /pings */
void		 dashboard_runtime(struct worker *w, struct http_req *r);	/* GET /runtime (admin) */
void		 dashboard_traces(struct worker *w, struct http_req *r);	/* GET /traces (admin) */
void		 dashboard_trace(struct worker *w, struct http_req *r);	/* GET /traces/ID (admin) */
void		 dashboard_workers(struct worker *w, struct http_req *r);	/* GET /workers (admin) */
void		 dashboard_login_form(struct worker *w, struct http_req *r);	/* GET /login */
void		 dashboard_login(struct worker *w, struct http_req *r);	/* POST /login */
void		 dashboard_logout(struct worker *w, struct http_req *r);	/* POST /logout */
void		 dashboard_theme(struct worker *w, struct http_req *r);	/* GET /theme?t=&r= */
void		 dashboard_static(struct worker *w, struct http_req *r);	/* GET /static/NAME */
void		 dashboard_api_stats(struct worker *w, struct http_req *r);	/* GET /api/stats/NAME */
void		 dashboard_api_backoffs(struct worker *w, struct http_req *r);	/* GET /api/backoffs */
void		 dashboard_api_events(struct worker *w, struct http_req *r);	/* GET /api/events */

#endif /* QP_DASHBOARD_H */
