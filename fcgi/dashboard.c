/* dashboard.c: the dashboard's pages: assets, layout, rendering, page handlers, themes, statics. */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coredump.h"
#include "dashboard.h"
#include "dashboard_int.h"
#include "maint.h"
#include "db.h"
#include "paths.h"
#include "stats.h"
#include "tmpl.h"

/* Largest static file (css, js) loaded, in bytes. */
#define DASHBOARD_STATIC_MAX	(256 * 1024)

/* What dashboard_init() loaded; read-only once the workers run. */
struct dashboard_assets {
	struct tmpl_set	*set;		/* compiled views/ *.html */
	char		*css;		/* views/dashboard.css */
	size_t		 css_len;	/* its bytes */
	char		*js;		/* views/dashboard.js */
	size_t		 js_len;	/* its bytes */
};

static struct dashboard_assets dashboard_assets;

/* Themes the stylesheet defines, in menu order. */
static const char *const dashboard_themes[] = {
	"dark", "midnight", "forest", "light", "paper", "sand"
};
#define DASHBOARD_NTHEMES	(int)(sizeof(dashboard_themes) / sizeof(dashboard_themes[0]))

/* Periods of the selector. */
static const char *const dashboard_periods[] = { "1h", "24h", "7d", "30d" };

/* One page of the dashboard. */
struct dashboard_page {
	const char	*name;		/* template name and nav key */
	const char	*title;		/* heading and nav text */
	const char	*path;		/* where it is served */
	int		 admin;		/* 1 = admin only, always */
	int		 nds;		/* datasets it shows */
	enum stats_dataset ds[4];	/* which, stored under their names */
	dashboard_charts_fn charts;	/* its charts, NULL if none */
};

enum dashboard_page_id {
	DASHBOARD_P_OVERVIEW,		/* / */
	DASHBOARD_P_ACCOUNTS,		/* /accounts */
	DASHBOARD_P_MODELS,		/* /models */
	DASHBOARD_P_CLIENTS,		/* /clients */
	DASHBOARD_P_LATENCY,		/* /latency */
	DASHBOARD_P_TIMESERIES,		/* /timeseries */
	DASHBOARD_P_BANDWIDTH,		/* /bandwidth */
	DASHBOARD_P_RELIABILITY,	/* /reliability */
	DASHBOARD_P_ROUTING,		/* /routing */
	DASHBOARD_P_PINGS,		/* /pings */
	DASHBOARD_P_RUNTIME,		/* /runtime */
	DASHBOARD_P_TRACES,		/* /traces */
	DASHBOARD_P_WORKERS,		/* /workers */
	DASHBOARD_P__MAX
};

static const struct dashboard_page dashboard_pages[DASHBOARD_P__MAX] = {
	[DASHBOARD_P_OVERVIEW] = { "overview", "Overview", "/", 0, 2,
	    { STATS_DS_SUMMARY, STATS_DS_TIMESERIES }, dashboard_charts_overview },
	[DASHBOARD_P_ACCOUNTS] = { "accounts", "Accounts", "/accounts", 0, 1,
	    { STATS_DS_ACCOUNTS }, dashboard_charts_accounts },
	[DASHBOARD_P_MODELS] = { "models", "Models", "/models", 0, 1,
	    { STATS_DS_MODELS }, dashboard_charts_models },
	[DASHBOARD_P_CLIENTS] = { "clients", "Clients", "/clients", 0, 1,
	    { STATS_DS_CLIENTS }, dashboard_charts_clients },
	[DASHBOARD_P_LATENCY] = { "latency", "Latency", "/latency", 0, 1,
	    { STATS_DS_LATENCY }, dashboard_charts_latency },
	[DASHBOARD_P_TIMESERIES] = { "timeseries", "Timeseries", "/timeseries", 0, 1,
	    { STATS_DS_TIMESERIES }, dashboard_charts_timeseries },
	[DASHBOARD_P_BANDWIDTH] = { "bandwidth", "Bandwidth", "/bandwidth", 0, 1,
	    { STATS_DS_BANDWIDTH }, dashboard_charts_bandwidth },
	[DASHBOARD_P_RELIABILITY] = { "reliability", "Reliability", "/reliability", 0, 3,
	    { STATS_DS_ATTEMPTS, STATS_DS_RETRIES, STATS_DS_OPERATIONAL },
	    dashboard_charts_reliability },
	[DASHBOARD_P_ROUTING] = { "routing", "Routing", "/routing", 0, 1,
	    { STATS_DS_ROUTING }, dashboard_charts_routing },
	[DASHBOARD_P_PINGS] = { "pings", "Pings", "/pings", 0, 1,
	    { STATS_DS_PINGS }, dashboard_charts_pings },
	[DASHBOARD_P_RUNTIME] = { "runtime", "Runtime", "/runtime", 1, 1,
	    { STATS_DS_PENDING_HEALTH }, NULL },
	[DASHBOARD_P_TRACES] = { "traces", "Traces", "/traces", 1, 1,
	    { STATS_DS_RECENT_REQUESTS }, NULL },
	[DASHBOARD_P_WORKERS] = { "workers", "Workers", "/workers", 1, 1,
	    { STATS_DS_WORKERS }, NULL },
};

int
dashboard_ds_admin(enum stats_dataset d)
{

	return d == STATS_DS_RECENT_REQUESTS || d == STATS_DS_PENDING_HEALTH ||
	    d == STATS_DS_BACKOFFS || d == STATS_DS_ERRORS || d == STATS_DS_WORKERS;
}

/* ---- loading ---------------------------------------------------------- */

/* Reads a whole small file into *out (NUL-terminated). */
static enum qp_err
dashboard_slurp(const char *path, char **out, size_t *outlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	enum qp_err err = QP_EIO;

	*out = NULL;
	*outlen = 0;
	if ((f = fopen(path, "rb")) == NULL)
		goto out;
	if ((buf = malloc(DASHBOARD_STATIC_MAX + 1)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	n = fread(buf, 1, DASHBOARD_STATIC_MAX + 1, f);
	if (ferror(f))
		goto out;
	if (n > DASHBOARD_STATIC_MAX) {
		err = QP_ETOOBIG;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	err = QP_OK;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return err;
}

enum qp_err
dashboard_init(const char *datadir, char *errbuf, size_t errlen)
{
	char dir[4096], path[4200];
	struct tmpl_diag diag;
	enum qp_err err;

	dashboard_free();
	if ((err = paths_join(dir, sizeof(dir), datadir, "views")) != QP_OK) {
		snprintf(errbuf, errlen, "data directory path too long");
		return err;
	}
	memset(&diag, 0, sizeof(diag));
	if ((err = tmpl_set_load(dir, &dashboard_assets.set, &diag)) != QP_OK) {
		snprintf(errbuf, errlen, "%s:%u: %s", diag.file, diag.line, diag.msg);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/dashboard.css", dir);
	if ((err = dashboard_slurp(path, &dashboard_assets.css,
	    &dashboard_assets.css_len)) != QP_OK) {
		snprintf(errbuf, errlen, "cannot read %s: %s", path, qp_strerror(err));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/dashboard.js", dir);
	if ((err = dashboard_slurp(path, &dashboard_assets.js,
	    &dashboard_assets.js_len)) != QP_OK) {
		snprintf(errbuf, errlen, "cannot read %s: %s", path, qp_strerror(err));
		goto out;
	}
out:
	if (err != QP_OK)
		dashboard_free();
	return err;
}

void
dashboard_free(void)
{

	tmpl_set_free(dashboard_assets.set);
	free(dashboard_assets.css);
	free(dashboard_assets.js);
	memset(&dashboard_assets, 0, sizeof(dashboard_assets));
}

/* ---- rendering -------------------------------------------------------- */

enum qp_err
dashboard_render(const char *page, cJSON *data, struct tmpl_out *out)
{
	enum qp_err err;

	if (dashboard_assets.set == NULL)
		return QP_EINVAL;
	if ((err = dashboard_decorate(data)) != QP_OK)
		return err;
	return tmpl_render(dashboard_assets.set, page, data, out);
}

/* Returns 1 if t is one of the themes. */
static int
dashboard_theme_ok(const char *t)
{
	int i;

	for (i = 0; i < DASHBOARD_NTHEMES; i++)
		if (strcmp(t, dashboard_themes[i]) == 0)
			return 1;
	return 0;
}

/* The theme of r: the theme cookie, else [dashboard] theme, else "dark". */
static const char *
dashboard_theme_of(struct worker *w, struct http_req *r, char *buf, size_t len)
{
	const char *c = http_param(r, "HTTP_COOKIE");
	const char *cfgt = w != NULL ? w->cfg->dashboard.theme : NULL;

	if (c != NULL && dashboard_cookie_get(c, strlen(c), "theme", buf, len) == QP_OK &&
	    dashboard_theme_ok(buf))
		return buf;
	if (cfgt != NULL && dashboard_theme_ok(cfgt))
		return cfgt;
	return "dark";
}

/*
 * Adds the layout members to ctx: title, page, theme, themes, periods,
 * nav, refresh, admin, path.
 */
enum qp_err
dashboard_layout(struct worker *w, struct http_req *r, cJSON *ctx, const char *page,
    const char *title, const char *period, int admin)
{
	cJSON *arr, *o;
	char tbuf[32], href[384];
	const char *theme = dashboard_theme_of(w, r, tbuf, sizeof(tbuf));
	int i;

	if (cJSON_AddStringToObject(ctx, "title", title) == NULL ||
	    cJSON_AddStringToObject(ctx, "page", page) == NULL ||
	    cJSON_AddStringToObject(ctx, "theme", theme) == NULL ||
	    cJSON_AddStringToObject(ctx, "path", r->path) == NULL ||
	    cJSON_AddStringToObject(ctx, "base", r->base) == NULL ||
	    cJSON_AddStringToObject(ctx, "version", QP_VERSION) == NULL ||
	    cJSON_AddBoolToObject(ctx, "admin", admin) == NULL ||
	    cJSON_AddNumberToObject(ctx, "refresh_s",
	    w != NULL ? w->cfg->dashboard.refresh_interval_s : 0) == NULL)
		return QP_ENOMEM;
	if ((arr = cJSON_AddArrayToObject(ctx, "themes")) == NULL)
		return QP_ENOMEM;
	for (i = 0; i < DASHBOARD_NTHEMES; i++) {
		snprintf(href, sizeof(href), "%s/theme?t=%s&r=%s", r->base, dashboard_themes[i],
		    page);
		if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "name", dashboard_themes[i]) == NULL ||
		    cJSON_AddStringToObject(o, "href", href) == NULL ||
		    cJSON_AddBoolToObject(o, "current",
		    strcmp(theme, dashboard_themes[i]) == 0) == NULL)
			return QP_ENOMEM;
	}
	if (period != NULL) {
		if ((arr = cJSON_AddArrayToObject(ctx, "periods")) == NULL)
			return QP_ENOMEM;
		for (i = 0; i < (int)(sizeof(dashboard_periods) / sizeof(dashboard_periods[0]));
		    i++) {
			snprintf(href, sizeof(href), "?period=%s", dashboard_periods[i]);
			if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, o) ||
			    cJSON_AddStringToObject(o, "label", dashboard_periods[i]) == NULL ||
			    cJSON_AddStringToObject(o, "href", href) == NULL ||
			    cJSON_AddBoolToObject(o, "current",
			    strcmp(period, dashboard_periods[i]) == 0) == NULL)
				return QP_ENOMEM;
		}
	}
	if ((arr = cJSON_AddArrayToObject(ctx, "nav")) == NULL)
		return QP_ENOMEM;
	for (i = 0; i < DASHBOARD_P__MAX; i++) {
		snprintf(href, sizeof(href), "%s%s", r->base, dashboard_pages[i].path);
		if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "title", dashboard_pages[i].title) == NULL ||
		    cJSON_AddStringToObject(o, "href", href) == NULL ||
		    cJSON_AddBoolToObject(o, "current",
		    strcmp(page, dashboard_pages[i].name) == 0) == NULL)
			return QP_ENOMEM;
	}
	return QP_OK;
}

/* Sends an HTML page of status with the dashboard headers (and extra lines). */
void
dashboard_send_html(struct http_req *r, int status, const struct tmpl_out *out,
    const char *extra)
{
	char hdr[1024];

	snprintf(hdr, sizeof(hdr), DASHBOARD_HEADERS DASHBOARD_NOSTORE
	    "Content-Length: %zu\r\n%s", out->len, extra != NULL ? extra : "");
	http_begin(r, status, "text/html; charset=utf-8", hdr);
	http_write(r, out->buf != NULL ? out->buf : "", out->len);
}

/* Sends a JSON tree with the dashboard headers. */
void
dashboard_send_json(struct http_req *r, int status, const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	char hdr[1024];
	size_t len;

	if (s == NULL) {
		http_error(r, 500, "server_error", "out of memory");
		return;
	}
	len = strlen(s);
	snprintf(hdr, sizeof(hdr), DASHBOARD_HEADERS DASHBOARD_NOSTORE
	    "Content-Length: %zu\r\n", len);
	http_begin(r, status, "application/json", hdr);
	http_write(r, s, len);
	free(s);
}

/* Renders the "message" template: a page holding one sentence. */
static void
dashboard_message(struct worker *w, struct http_req *r, int status, const char *title,
    const char *msg)
{
	struct tmpl_out out;
	cJSON *ctx = cJSON_CreateObject();

	tmpl_out_init(&out, 0);
	if (ctx == NULL || dashboard_layout(w, r, ctx, "message", title, NULL, 0) != QP_OK ||
	    cJSON_AddStringToObject(ctx, "message", msg) == NULL ||
	    dashboard_render("message", ctx, &out) != QP_OK)
		http_error(r, status, "server_error", msg);
	else
		dashboard_send_html(r, status, &out, NULL);
	cJSON_Delete(ctx);
	tmpl_out_free(&out);
}

/*
 * Sends 303 to location (a path of ours, under [server] base_path) with
 * extra header lines.
 */
void
dashboard_redirect(struct http_req *r, const char *location, const char *extra)
{
	char hdr[768];

	snprintf(hdr, sizeof(hdr), "Location: %s%s\r\n%s" DASHBOARD_NOSTORE
	    "Content-Length: 0\r\n", r->base, location, extra != NULL ? extra : "");
	http_begin(r, 303, "text/plain; charset=utf-8", hdr);
}

/* ---- runtime ---------------------------------------------------------- */

/* Returns the number after "key:" in /proc/self/status, or -1. */
static long long
dashboard_proc_status(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Returns the size of file path in bytes, 0 if absent. */
static long long
dashboard_file_size(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* The runtime dataset: this process and its database. */
cJSON *
dashboard_runtime_tree(struct worker *w)
{
	cJSON *j = cJSON_CreateObject(), *m, *t, *at;
	char iso[40];
	const char *dbf = w->db != NULL ? sqlite3_db_filename(w->db, "main") : NULL;
	char wal[4200];
	struct dirent *de;
	DIR *d;
	long long fds = 0, now = db_now_ms();

	if (j == NULL)
		return NULL;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--;	/* the directory's own descriptor */
	}
	snprintf(wal, sizeof(wal), "%s-wal", dbf != NULL ? dbf : "");
	if (cJSON_AddNumberToObject(j, "pid", (double)getpid()) == NULL ||
	    cJSON_AddStringToObject(j, "version", QP_VERSION) == NULL ||
	    cJSON_AddNumberToObject(j, "uptime_ms", (double)(now - w->srv->started_ms)) == NULL ||
	    cJSON_AddNumberToObject(j, "rss_bytes",
	    (double)dashboard_proc_status("VmRSS") * 1024) == NULL ||
	    cJSON_AddNumberToObject(j, "threads", (double)dashboard_proc_status("Threads")) ==
	    NULL ||
	    cJSON_AddNumberToObject(j, "open_fds", (double)fds) == NULL ||
	    cJSON_AddNumberToObject(j, "in_flight", (double)atomic_load(&w->srv->in_flight)) ==
	    NULL ||
	    cJSON_AddNumberToObject(j, "served", (double)atomic_load(&w->srv->served)) == NULL ||
	    cJSON_AddNumberToObject(j, "workers", (double)w->cfg->server.threads) == NULL ||
	    cJSON_AddNumberToObject(j, "database_bytes", (double)dashboard_file_size(dbf)) ==
	    NULL ||
	    cJSON_AddNumberToObject(j, "wal_bytes",
	    (double)(dbf != NULL && dbf[0] != '\0' ? dashboard_file_size(wal) : 0)) == NULL ||
	    cJSON_AddBoolToObject(j, "core_dumps", coredump_allowed() == 1) == NULL) {
		cJSON_Delete(j);
		return NULL;
	}
	/* The maintenance thread's tasks and their last runs. */
	if (w->srv->maint != NULL) {
		if ((m = maint_status_json(w->srv->maint)) == NULL) {
			cJSON_Delete(j);
			return NULL;
		}
		cJSON_ArrayForEach(t, m) {
			at = cJSON_GetObjectItemCaseSensitive(t, "last_run_at");
			if (cJSON_IsNumber(at)) {
				stats_iso((int64_t)at->valuedouble, iso, sizeof(iso));
				cJSON_AddStringToObject(t, "last_run_at_utc", iso);
			}
		}
		cJSON_AddItemToObject(j, "maintenance", m);
		if (cJSON_AddBoolToObject(j, "maintenance_lease",
		    maint_lease_held(w->srv->maint)) == NULL) {
			cJSON_Delete(j);
			return NULL;
		}
	}
	return j;
}

/* ---- pages ------------------------------------------------------------ */

/* Serves page p: gate, query, datasets, charts, template. */
static void
dashboard_page(struct worker *w, struct http_req *r, enum dashboard_page_id id)
{
	const struct dashboard_page *p = &dashboard_pages[id];
	struct stats_query q;
	struct stats_db *sdb = NULL;
	struct tmpl_out out;
	cJSON *ctx = NULL, *data, *charts, *j;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin, i;

	tmpl_out_init(&out, 0);
	if (!dashboard_gate(w, r, p->admin, 1, &admin))
		return;
	if (stats_query_parse(&q, r->query, strlen(r->query), db_now_ms(), errbuf,
	    sizeof(errbuf)) != QP_OK) {
		dashboard_message(w, r, 400, "Bad request", errbuf);
		return;
	}
	if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if ((ctx = cJSON_CreateObject()) == NULL ||
	    (data = cJSON_AddObjectToObject(ctx, "data")) == NULL ||
	    (charts = cJSON_AddObjectToObject(ctx, "charts")) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	err = dashboard_layout(w, r, ctx, p->name, p->title, stats_period_name(q.period), admin);
	for (i = 0; i < p->nds && err == QP_OK; i++) {
		j = stats_dataset_run(sdb, w->cfg, p->ds[i], &q, &err, errbuf,
		    sizeof(errbuf));
		if (j == NULL && err == QP_EINVAL) {
			dashboard_message(w, r, 400, "Bad request", errbuf);
			goto done;
		}
		if (j != NULL)
			cJSON_AddItemToObject(data, stats_dataset_name(p->ds[i]), j);
	}
	if (err == QP_OK && id == DASHBOARD_P_RUNTIME) {
		if ((j = dashboard_runtime_tree(w)) == NULL)
			err = QP_ENOMEM;
		else
			cJSON_AddItemToObject(data, "runtime", j);
	}
	if (err == QP_OK)
		err = dashboard_decorate(data);
	if (err == QP_OK && p->charts != NULL)
		err = p->charts(data, charts);
	if (err == QP_OK)
		err = tmpl_render(dashboard_assets.set, p->name, ctx, &out);
out:
	if (err != QP_OK)
		http_error(r, 500, "server_error", "the page could not be built");
	else
		dashboard_send_html(r, 200, &out, NULL);
done:
	stats_db_free(sdb);
	cJSON_Delete(ctx);
	tmpl_out_free(&out);
}

void
dashboard_overview(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_OVERVIEW);
}

void
dashboard_accounts(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_ACCOUNTS);
}

void
dashboard_models(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_MODELS);
}

void
dashboard_clients(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_CLIENTS);
}

void
dashboard_latency(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_LATENCY);
}

void
dashboard_timeseries(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_TIMESERIES);
}

void
dashboard_bandwidth(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_BANDWIDTH);
}

void
dashboard_reliability(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_RELIABILITY);
}

void
dashboard_routing(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_ROUTING);
}

void
dashboard_pings(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_PINGS);
}

void
dashboard_runtime(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_RUNTIME);
}

void
dashboard_traces(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_TRACES);
}

void
dashboard_workers(struct worker *w, struct http_req *r)
{

	dashboard_page(w, r, DASHBOARD_P_WORKERS);
}

void
dashboard_trace(struct worker *w, struct http_req *r)
{
	const char *uid = r->path + strlen("/traces/");
	struct stats_db *sdb = NULL;
	struct tmpl_out out;
	cJSON *ctx = NULL, *j = NULL;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin;

	tmpl_out_init(&out, 0);
	if (strncmp(r->path, "/traces/", 8) != 0 ||
	    !dashboard_gate(w, r, 1, 1, &admin))
		return;
	if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	j = stats_recent(sdb, w->cfg, uid, strlen(uid), &err);
	if (j == NULL && err == QP_ENOTFOUND) {
		dashboard_message(w, r, 404, "Not found", "There is no request with this id.");
		goto done;
	}
	if (j == NULL)
		goto out;
	if ((ctx = cJSON_CreateObject()) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	cJSON_AddItemToObject(ctx, "trace", j);
	j = NULL;
	if ((err = dashboard_layout(w, r, ctx, "trace", "Trace", NULL, admin)) == QP_OK)
		err = dashboard_render("trace", ctx, &out);
out:
	if (err != QP_OK)
		http_error(r, 500, "server_error", "the page could not be built");
	else
		dashboard_send_html(r, 200, &out, NULL);
done:
	cJSON_Delete(j);
	stats_db_free(sdb);
	cJSON_Delete(ctx);
	tmpl_out_free(&out);
}

void
dashboard_theme(struct worker *w, struct http_req *r)
{
	char t[32], back[32], cookie[384];
	const char *loc = "/";
	size_t n;
	int i;

	(void)w;
	if (dashboard_form_get(r->query, strlen(r->query), "t", t, sizeof(t), &n) != QP_OK ||
	    !dashboard_theme_ok(t)) {
		http_error(r, 400, "invalid_request_error", "unknown theme");
		return;
	}
	if (dashboard_form_get(r->query, strlen(r->query), "r", back, sizeof(back), &n) ==
	    QP_OK)
		for (i = 0; i < DASHBOARD_P__MAX; i++)
			if (strcmp(back, dashboard_pages[i].name) == 0)
				loc = dashboard_pages[i].path;
	snprintf(cookie, sizeof(cookie), "Set-Cookie: theme=%s; SameSite=Strict; Path=%s/; "
	    "Max-Age=31536000\r\n", t, r->base);
	dashboard_redirect(r, loc, cookie);
}

void
dashboard_static(struct worker *w, struct http_req *r)
{
	const char *body = NULL, *ctype = NULL;
	char hdr[512];
	size_t len = 0;

	(void)w;
	if (strcmp(r->path, "/static/dashboard.css") == 0) {
		body = dashboard_assets.css;
		len = dashboard_assets.css_len;
		ctype = "text/css; charset=utf-8";
	} else if (strcmp(r->path, "/static/dashboard.js") == 0) {
		body = dashboard_assets.js;
		len = dashboard_assets.js_len;
		ctype = "text/javascript; charset=utf-8";
	}
	if (body == NULL) {
		http_error(r, 404, "invalid_request_error", "no such file");
		return;
	}
	snprintf(hdr, sizeof(hdr), "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: max-age=300\r\nContent-Length: %zu\r\n", len);
	http_begin(r, 200, ctype, hdr);
	http_write(r, body, len);
}
