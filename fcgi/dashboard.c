/* dashboard.c: the dashboard's HTML pages, their JSON twins, static files and login sessions. */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authfail.h"
#include "coredump.h"
#include "crypto.h"
#include "dashboard.h"
#include "maint.h"
#include "db.h"
#include "keys.h"
#include "paths.h"
#include "stats.h"
#include "svg.h"
#include "tmpl.h"

/* Largest static file (css, js) loaded, in bytes. */
#define DASHBOARD_STATIC_MAX	(256 * 1024)
/* Series a stacked chart draws at most (the datasets fold the rest into "other"). */
#define DASHBOARD_SERIES_MAX	(STATS_TOP_MAX + 1)

/* Headers of every HTML page and JSON answer of the dashboard. */
#define DASHBOARD_HEADERS \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: same-origin\r\n"
#define DASHBOARD_NOSTORE	"Cache-Control: no-store\r\n"

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

/* Builds a page's charts from its data tree into charts (an object of SVG strings). */
typedef enum qp_err (*dashboard_charts_fn)(const cJSON *data, cJSON *charts);

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

static enum qp_err dashboard_charts_overview(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_accounts(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_models(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_clients(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_latency(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_timeseries(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_bandwidth(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_reliability(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_routing(const cJSON *, cJSON *);
static enum qp_err dashboard_charts_pings(const cJSON *, cJSON *);

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

/* Datasets that reveal per-request or process detail: admin only through the API too. */
static int
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

/* ---- parsers of untrusted bytes --------------------------------------- */

/* Returns the value of hex digit c, or -1. */
static int
dashboard_hexval(unsigned char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes s[0..len) (form encoding) into out (cap bytes, may be NULL to
 * only check); *n gets the decoded length.
 */
static enum qp_err
dashboard_form_decode(const char *s, size_t len, char *out, size_t cap, size_t *n)
{
	size_t i, o = 0;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3)
				return QP_EINVAL;
			hi = dashboard_hexval((unsigned char)s[i + 1]);
			lo = dashboard_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return QP_EINVAL;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			return QP_EINVAL;
		if (out != NULL) {
			if (o + 1 >= cap)
				return QP_ETOOBIG;
			out[o] = (char)c;
		}
		o++;
	}
	if (out != NULL)
		out[o] = '\0';
	*n = o;
	return QP_OK;
}

enum qp_err
dashboard_form_get(const char *buf, size_t len, const char *name, char *out, size_t outlen,
    size_t *outn)
{
	char fname[DASHBOARD_VALUE_MAX];
	const char *p = buf, *end = buf + len, *amp, *eq;
	size_t flen, vlen, n;
	int found = 0;
	enum qp_err err;

	if (outlen == 0)
		return QP_ETOOBIG;
	out[0] = '\0';
	*outn = 0;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		flen = (size_t)((eq != NULL ? eq : amp) - p);
		err = dashboard_form_decode(p, flen, fname, sizeof(fname), &n);
		if (err == QP_OK && strcmp(fname, name) == 0) {
			if (found)
				return QP_EINVAL;
			found = 1;
			vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
			err = dashboard_form_decode(eq != NULL ? eq + 1 : amp, vlen, out, outlen,
			    outn);
			if (err != QP_OK) {
				out[0] = '\0';
				*outn = 0;
				return err;
			}
		} else if (err == QP_EINVAL)
			return err;
		p = amp + 1;
	}
	return found ? QP_OK : QP_ENOTFOUND;
}

enum qp_err
dashboard_cookie_get(const char *buf, size_t len, const char *name, char *out, size_t outlen)
{
	const char *p = buf, *end = buf + len, *semi, *eq, *ks, *ke, *vs, *ve;
	size_t nlen = strlen(name);

	if (outlen == 0)
		return QP_ETOOBIG;
	out[0] = '\0';
	while (p < end) {
		semi = memchr(p, ';', (size_t)(end - p));
		if (semi == NULL)
			semi = end;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL) {
			ks = p;
			ke = eq;
			while (ks < ke && (*ks == ' ' || *ks == '\t'))
				ks++;
			while (ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			vs = eq + 1;
			ve = semi;
			while (vs < ve && (*vs == ' ' || *vs == '\t'))
				vs++;
			while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
				vs++;
				ve--;
			}
			if ((size_t)(ke - ks) == nlen && memcmp(ks, name, nlen) == 0) {
				if ((size_t)(ve - vs) >= outlen)
					return QP_ETOOBIG;
				memcpy(out, vs, (size_t)(ve - vs));
				out[ve - vs] = '\0';
				return QP_OK;
			}
		}
		p = semi + 1;
	}
	return QP_ENOTFOUND;
}

/* ---- numbers with units ---------------------------------------------- */

/* Returns 1 if name ends with suffix. */
static int
dashboard_ends(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n >= s && strcmp(name + n - s, suffix) == 0;
}

/* Writes v with thousands separators ("1,234,567") into buf. */
static void
dashboard_thousands(double v, char *buf, size_t len)
{
	char tmp[48];
	size_t i, o = 0, n, lead;
	int m;

	m = snprintf(tmp, sizeof(tmp), "%.0f", fabs(v));
	if (m < 0 || (size_t)m >= sizeof(tmp) || len < 2) {
		snprintf(buf, len, "%g", v);
		return;
	}
	n = (size_t)m;
	if (v <= -0.5 && o + 1 < len)
		buf[o++] = '-';
	lead = n % 3 == 0 ? 3 : n % 3;
	for (i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && (i - lead) % 3 == 0 && i >= lead)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

/* Writes v scaled by 1000s with a unit suffix ("1.23M tok"). */
static void
dashboard_si(double v, const char *unit, char *buf, size_t len)
{
	double a = fabs(v);

	if (a >= 1e9)
		snprintf(buf, len, "%.2fG %s", v / 1e9, unit);
	else if (a >= 1e6)
		snprintf(buf, len, "%.2fM %s", v / 1e6, unit);
	else if (a >= 1e4)
		snprintf(buf, len, "%.1fk %s", v / 1e3, unit);
	else
		snprintf(buf, len, "%.0f %s", v, unit);
}

/* Formats number v of member name with its unit. Returns 0 for members left alone. */
static int
dashboard_format(const char *name, double v, char *buf, size_t len)
{
	double a = fabs(v);

	if (dashboard_ends(name, "_at") || dashboard_ends(name, "_until_ms") ||
	    strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
	    strcmp(name, "now") == 0 || strcmp(name, "now_ms") == 0 ||
	    strcmp(name, "start") == 0 || strcmp(name, "last_bucket") == 0 ||
	    strcmp(name, "id") == 0 || strcmp(name, "pid") == 0 ||
	    strcmp(name, "process_id") == 0 || dashboard_ends(name, "_h") || !isfinite(v))
		return 0;
	if (strstr(name, "microdollars") != NULL) {
		if (v == 0)
			snprintf(buf, len, "$0");
		else if (a / 1e6 < 1)
			snprintf(buf, len, "$%.4f", v / 1e6);
		else
			snprintf(buf, len, "$%.2f", v / 1e6);
	} else if (dashboard_ends(name, "_per_second"))
		snprintf(buf, len, "%.1f tok/s", v);
	else if (dashboard_ends(name, "_ms")) {
		if (a >= 1000)
			snprintf(buf, len, "%.2f s", v / 1000);
		else if (a >= 10 || v == 0)
			snprintf(buf, len, "%.0f ms", v);
		else
			snprintf(buf, len, "%.1f ms", v);
	} else if (dashboard_ends(name, "_us"))
		snprintf(buf, len, "%.0f \xc2\xb5s", v);
	else if (strstr(name, "tokens") != NULL)
		dashboard_si(v, "tok", buf, len);
	else if (strstr(name, "bytes") != NULL) {
		if (a >= 1024.0 * 1024 * 1024)
			snprintf(buf, len, "%.2f GiB", v / (1024.0 * 1024 * 1024));
		else if (a >= 1024.0 * 1024)
			snprintf(buf, len, "%.1f MiB", v / (1024.0 * 1024));
		else if (a >= 1024.0)
			snprintf(buf, len, "%.1f KiB", v / 1024.0);
		else
			snprintf(buf, len, "%.0f B", v);
	} else if (dashboard_ends(name, "_rate") || dashboard_ends(name, "_ratio") ||
	    strcmp(name, "share") == 0)
		snprintf(buf, len, "%.1f %%", v * 100);
	else if (dashboard_ends(name, "_pct"))
		snprintf(buf, len, "%.1f %%", v);
	else if (v == floor(v))
		dashboard_thousands(v, buf, len);
	else
		snprintf(buf, len, "%.2f", v);
	return 1;
}

enum qp_err
dashboard_decorate(cJSON *tree)
{
	cJSON *it, *last;
	char name[160], text[64];
	enum qp_err err;

	if (tree == NULL)
		return QP_OK;
	if (cJSON_IsArray(tree)) {
		cJSON_ArrayForEach(it, tree)
			if ((err = dashboard_decorate(it)) != QP_OK)
				return err;
		return QP_OK;
	}
	if (!cJSON_IsObject(tree))
		return QP_OK;
	/* Members added below go to the end: stop at the last original one. */
	last = tree->child != NULL ? tree->child->prev : NULL;
	for (it = tree->child; it != NULL; it = it->next) {
		if (cJSON_IsNumber(it) && it->string != NULL &&
		    strlen(it->string) + 3 <= sizeof(name) &&
		    dashboard_format(it->string, it->valuedouble, text, sizeof(text))) {
			snprintf(name, sizeof(name), "%s_h", it->string);
			if (cJSON_GetObjectItemCaseSensitive(tree, name) == NULL &&
			    cJSON_AddStringToObject(tree, name, text) == NULL)
				return QP_ENOMEM;
		} else if ((err = dashboard_decorate(it)) != QP_OK)
			return err;
		if (it == last)
			break;
	}
	return QP_OK;
}

/* ---- charts ----------------------------------------------------------- */

/* Stores out's text in charts as member name and empties out. */
static enum qp_err
dashboard_chart_put(cJSON *charts, const char *name, struct tmpl_out *out, enum qp_err err)
{

	if (err == QP_OK && cJSON_AddStringToObject(charts, name,
	    out->buf != NULL ? out->buf : "") == NULL)
		err = QP_ENOMEM;
	tmpl_out_reset(out);
	return err;
}

/* Returns member k of o as a string, "" if it is not one. */
static const char *
dashboard_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Returns member k of o as a number, 0 if it is not one. */
static double
dashboard_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/*
 * A bar chart from array arr: label from member lk (and lk2 after a
 * '/' when not NULL), value from vk, shown as its vk_h twin.
 */
static enum qp_err
dashboard_bars(cJSON *charts, const char *name, const char *title, const cJSON *arr,
    const char *lk, const char *lk2, const char *vk)
{
	struct svg_bar *bars = NULL;
	struct tmpl_out out;
	char hk[96], (*labels)[160] = NULL;
	const cJSON *it;
	enum qp_err err;
	int n = 0, cap = cJSON_GetArraySize(arr);

	tmpl_out_init(&out, 0);
	snprintf(hk, sizeof(hk), "%s_h", vk);
	if (cap > SVG_ITEMS_MAX)
		cap = SVG_ITEMS_MAX;
	bars = calloc((size_t)cap + 1, sizeof(*bars));
	labels = calloc((size_t)cap + 1, sizeof(*labels));
	if (bars == NULL || labels == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		if (n >= cap)
			break;
		if (lk2 != NULL)
			snprintf(labels[n], sizeof(labels[n]), "%s/%s", dashboard_str(it, lk),
			    dashboard_str(it, lk2));
		else
			snprintf(labels[n], sizeof(labels[n]), "%s", dashboard_str(it, lk));
		bars[n].label = labels[n];
		bars[n].value = dashboard_num(it, vk);
		bars[n].text = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, hk)) ?
		    dashboard_str(it, hk) : NULL;
		n++;
	}
	err = svg_bars(&out, title, bars, n);
	err = dashboard_chart_put(charts, name, &out, err);
out:
	free(bars);
	free(labels);
	tmpl_out_free(&out);
	return err;
}

/* A stacked chart of a timeseries tree. */
static enum qp_err
dashboard_stacked(cJSON *charts, const char *name, const cJSON *ts)
{
	const cJSON *series = cJSON_GetObjectItemCaseSensitive(ts, "series");
	const cJSON *buckets = cJSON_GetObjectItemCaseSensitive(ts, "buckets");
	const cJSON *it, *vals, *v;
	const char *snames[DASHBOARD_SERIES_MAX];
	const char **xl = NULL;
	double *val = NULL;
	struct tmpl_out out;
	char title[128];
	enum qp_err err;
	int ns = 0, nx = 0, s;

	tmpl_out_init(&out, 0);
	cJSON_ArrayForEach(it, series) {
		if (ns >= DASHBOARD_SERIES_MAX)
			break;
		snames[ns++] = dashboard_str(it, "name");
	}
	nx = cJSON_GetArraySize(buckets);
	if (nx > SVG_ITEMS_MAX)
		nx = SVG_ITEMS_MAX;
	xl = calloc((size_t)nx + 1, sizeof(*xl));
	val = calloc(((size_t)nx + 1) * ((size_t)ns + 1), sizeof(*val));
	if (xl == NULL || val == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	nx = 0;
	cJSON_ArrayForEach(it, buckets) {
		if (nx >= SVG_ITEMS_MAX)
			break;
		xl[nx] = dashboard_str(it, "start_utc");
		vals = cJSON_GetObjectItemCaseSensitive(it, "values");
		s = 0;
		cJSON_ArrayForEach(v, vals) {
			if (s >= ns)
				break;
			val[nx * ns + s] = cJSON_IsNumber(v) ? v->valuedouble : 0;
			s++;
		}
		nx++;
	}
	snprintf(title, sizeof(title), "%s by %s", dashboard_str(ts, "metric"),
	    dashboard_str(ts, "group_by"));
	err = svg_stacked(&out, title, snames, ns, xl, nx, val);
	err = dashboard_chart_put(charts, name, &out, err);
out:
	free(xl);
	free(val);
	tmpl_out_free(&out);
	return err;
}

static enum qp_err
dashboard_charts_overview(const cJSON *data, cJSON *charts)
{
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(data, "summary");
	const cJSON *bs = cJSON_GetObjectItemCaseSensitive(sum, "by_status"), *it;
	cJSON *arr = NULL;
	enum qp_err err;

	if ((err = dashboard_stacked(charts, "timeseries",
	    cJSON_GetObjectItemCaseSensitive(data, "timeseries"))) != QP_OK)
		return err;
	if ((arr = cJSON_CreateArray()) == NULL)
		return QP_ENOMEM;
	cJSON_ArrayForEach(it, bs) {
		cJSON *o;

		/* Skip the "_h" text twins added for display. */
		if (!cJSON_IsNumber(it) || dashboard_ends(it->string, "_h"))
			continue;
		o = cJSON_CreateObject();
		if (o == NULL || !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "status", it->string) == NULL ||
		    cJSON_AddNumberToObject(o, "requests", it->valuedouble) == NULL) {
			cJSON_Delete(arr);
			return QP_ENOMEM;
		}
	}
	err = dashboard_bars(charts, "status", "Requests by status", arr, "status", NULL,
	    "requests");
	cJSON_Delete(arr);
	return err;
}

static enum qp_err
dashboard_charts_accounts(const cJSON *data, cJSON *charts)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "accounts"), "accounts");

	return dashboard_bars(charts, "cost", "Cost per account", a, "name", NULL,
	    "cost_microdollars");
}

static enum qp_err
dashboard_charts_models(const cJSON *data, cJSON *charts)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "models"), "models");
	enum qp_err err;

	if ((err = dashboard_bars(charts, "tokens", "Tokens per model", m, "model", "provider",
	    "total_tokens")) != QP_OK)
		return err;
	return dashboard_bars(charts, "cost", "Cost per model", m, "model", "provider",
	    "cost_microdollars");
}

static enum qp_err
dashboard_charts_clients(const cJSON *data, cJSON *charts)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "clients"), "clients");
	enum qp_err err;

	if ((err = dashboard_bars(charts, "requests", "Requests per client", c, "family", NULL,
	    "requests")) != QP_OK)
		return err;
	return dashboard_bars(charts, "tokens", "Tokens per client", c, "family", NULL,
	    "total_tokens");
}

static enum qp_err
dashboard_charts_latency(const cJSON *data, cJSON *charts)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "latency"), "metrics");
	enum qp_err err;

	if ((err = dashboard_bars(charts, "p50", "Median (p50) by phase", m, "metric", NULL,
	    "p50_ms")) != QP_OK)
		return err;
	return dashboard_bars(charts, "p99", "p99 by phase", m, "metric", NULL, "p99_ms");
}

static enum qp_err
dashboard_charts_timeseries(const cJSON *data, cJSON *charts)
{

	return dashboard_stacked(charts, "timeseries",
	    cJSON_GetObjectItemCaseSensitive(data, "timeseries"));
}

static enum qp_err
dashboard_charts_bandwidth(const cJSON *data, cJSON *charts)
{
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "bandwidth"), "days"), *it;
	struct svg_day *d = NULL;
	struct tmpl_out out;
	enum qp_err err;
	int n = 0, cap = cJSON_GetArraySize(days);

	tmpl_out_init(&out, 0);
	if (cap > SVG_ITEMS_MAX)
		cap = SVG_ITEMS_MAX;
	if ((d = calloc((size_t)cap + 1, sizeof(*d))) == NULL)
		return QP_ENOMEM;
	cJSON_ArrayForEach(it, days) {
		if (n >= cap)
			break;
		d[n].date = dashboard_str(it, "date");
		d[n].weekday = (int)dashboard_num(it, "weekday");
		d[n].level = (int)dashboard_num(it, "level");
		d[n].text = dashboard_str(it, "total_bytes_h");
		n++;
	}
	err = svg_heatmap(&out, "Bytes per day", d, n);
	err = dashboard_chart_put(charts, "calendar", &out, err);
	free(d);
	tmpl_out_free(&out);
	return err;
}

static enum qp_err
dashboard_charts_reliability(const cJSON *data, cJSON *charts)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(data, "attempts");
	enum qp_err err;

	if ((err = dashboard_bars(charts, "outcome", "Attempts by outcome",
	    cJSON_GetObjectItemCaseSensitive(a, "by_outcome"), "outcome", NULL,
	    "attempts")) != QP_OK)
		return err;
	return dashboard_bars(charts, "category", "Attempts by retry category",
	    cJSON_GetObjectItemCaseSensitive(a, "by_retry_category"), "retry_category", NULL,
	    "attempts");
}

static enum qp_err
dashboard_charts_routing(const cJSON *data, cJSON *charts)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(data, "routing");

	return dashboard_bars(charts, "chosen", "Times each account was chosen",
	    cJSON_GetObjectItemCaseSensitive(r, "by_account"), "account", "provider", "chosen");
}

static enum qp_err
dashboard_charts_pings(const cJSON *data, cJSON *charts)
{
	const cJSON *prov = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "pings"), "providers"), *p, *pt;
	struct svg_line lines[SVG_COLOURS * 4];
	double *xs = NULL, *ys = NULL;
	struct tmpl_out out;
	enum qp_err err;
	int nl = 0, total = 0, k = 0;

	tmpl_out_init(&out, 0);
	cJSON_ArrayForEach(p, prov)
		total += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "series"));
	if (total > SVG_ITEMS_MAX)
		total = SVG_ITEMS_MAX;
	xs = calloc((size_t)total + 1, sizeof(*xs));
	ys = calloc((size_t)total + 1, sizeof(*ys));
	if (xs == NULL || ys == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(p, prov) {
		if (nl >= (int)(sizeof(lines) / sizeof(lines[0])))
			break;
		lines[nl].name = dashboard_str(p, "provider");
		lines[nl].x = xs + k;
		lines[nl].y = ys + k;
		lines[nl].n = 0;
		cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(p, "series")) {
			if (k >= total)
				break;
			xs[k] = dashboard_num(pt, "start");
			ys[k] = dashboard_num(pt, "avg_latency_ms");
			k++;
			lines[nl].n++;
		}
		nl++;
	}
	err = svg_lines(&out, "Average ping latency", lines, nl, "ms");
	err = dashboard_chart_put(charts, "latency", &out, err);
out:
	free(xs);
	free(ys);
	tmpl_out_free(&out);
	return err;
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
static enum qp_err
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
static void
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
static void
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
static void
dashboard_redirect(struct http_req *r, const char *location, const char *extra)
{
	char hdr[768];

	snprintf(hdr, sizeof(hdr), "Location: %s%s\r\n%s" DASHBOARD_NOSTORE
	    "Content-Length: 0\r\n", r->base, location, extra != NULL ? extra : "");
	http_begin(r, 303, "text/plain; charset=utf-8", hdr);
}

/* ---- sessions and access --------------------------------------------- */

/* Hashes the session token of r's cookie into h. Returns 1 if r carries one. */
static int
dashboard_session_hash(struct http_req *r, unsigned char h[CRYPTO_SHA256_LEN])
{
	const char *c = http_param(r, "HTTP_COOKIE");
	char tok[2 * DASHBOARD_TOKEN_BYTES + 1];
	size_t i;

	if (c == NULL || dashboard_cookie_get(c, strlen(c), DASHBOARD_COOKIE, tok,
	    sizeof(tok)) != QP_OK || strlen(tok) != 2 * DASHBOARD_TOKEN_BYTES)
		return 0;
	for (i = 0; i < 2 * DASHBOARD_TOKEN_BYTES; i++)
		if (dashboard_hexval((unsigned char)tok[i]) < 0)
			return 0;
	return crypto_sha256(tok, 2 * DASHBOARD_TOKEN_BYTES, h) == QP_OK;
}

int
dashboard_session_admin(struct worker *w, struct http_req *r)
{
	static const char sql[] =
	    "SELECT 1 FROM dashboard_sessions s JOIN client_keys k ON k.id = s.key_id "
	    "WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL "
	    "AND (k.expires_at IS NULL OR k.expires_at > ?2) AND k.role = 'admin'";
	unsigned char h[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (!dashboard_session_hash(r, h) || server_worker_ready(w) != QP_OK)
		return 0;
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, db_now_ms());
	ok = sqlite3_step(st) == SQLITE_ROW;
out:
	sqlite3_finalize(st);
	return ok;
}


/*
 * Checks access to a page (html) or API answer; answers and returns 0
 * when refused. *admin gets whether r is an admin's.
 */
static int
dashboard_gate(struct worker *w, struct http_req *r, int admin_only, int html, int *admin)
{
	const struct config *cfg = w->cfg;
	enum server_role role;
	char retry[32];

	*admin = 0;
	if (!cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return 0;
	}
	if (server_worker_ready(w) != QP_OK) {
		http_error(r, 503, "server_error",
		    "the gateway is not ready: its database is unavailable");
		return 0;
	}
	/* One key check per request: each failed one counts against the address. */
	role = server_auth(w, r);
	*admin = role == SERVER_ROLE_ADMIN || dashboard_session_admin(w, r);
	if (*admin || (!admin_only && cfg->dashboard.public))
		return 1;
	if (html)
		dashboard_redirect(r, "/login", NULL);
	else if (w->auth_retry_s > 0) {
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", w->auth_retry_s);
		http_error_ex(r, 429, "rate_limit_exceeded", "too many failed key checks from "
		    "this address: try again later", retry);
	} else if (role == SERVER_ROLE_CLIENT || role == SERVER_ROLE_WORKER)
		http_error(r, 403, "permission_error", "this needs an admin key");
	else
		http_error_ex(r, 401, "authentication_error", "invalid or missing API key",
		    "WWW-Authenticate: Bearer\r\n");
	return 0;
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
static cJSON *
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

/* Renders the login form with an optional error sentence (and extra header lines). */
static void
dashboard_login_page_ex(struct worker *w, struct http_req *r, int status, const char *error,
    const char *extra)
{
	struct tmpl_out out;
	cJSON *ctx = cJSON_CreateObject();

	tmpl_out_init(&out, 0);
	if (ctx == NULL || dashboard_layout(w, r, ctx, "login", "Log in", NULL, 0) != QP_OK ||
	    (error != NULL && cJSON_AddStringToObject(ctx, "error", error) == NULL) ||
	    dashboard_render("login", ctx, &out) != QP_OK)
		http_error(r, 500, "server_error", "the page could not be built");
	else
		dashboard_send_html(r, status, &out, extra);
	cJSON_Delete(ctx);
	tmpl_out_free(&out);
}

static void
dashboard_login_page(struct worker *w, struct http_req *r, int status, const char *error)
{

	dashboard_login_page_ex(w, r, status, error, NULL);
}

void
dashboard_login_form(struct worker *w, struct http_req *r)
{

	if (!w->cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return;
	}
	dashboard_login_page(w, r, 200, NULL);
}

void
dashboard_login(struct worker *w, struct http_req *r)
{
	static const char del[] = "DELETE FROM dashboard_sessions WHERE expires_at <= ?1";
	static const char ins[] = "INSERT INTO dashboard_sessions "
	    "(token_hash, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
	unsigned char raw[DASHBOARD_TOKEN_BYTES], h[CRYPTO_SHA256_LEN];
	char tok[2 * DASHBOARD_TOKEN_BYTES + 1], key[DASHBOARD_VALUE_MAX], cookie[512];
	const char *ct = http_param(r, "CONTENT_TYPE");
	struct keys_info info;
	sqlite3_stmt *st = NULL;
	char *body = NULL;
	size_t blen = 0, klen = 0;
	int64_t now = db_now_ms(), mono = db_mono_us() / 1000;
	enum qp_err err;
	int began = 0, retry_s = 0;
	char retry[32];

	if (!w->cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return;
	}
	if (ct == NULL || strncmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		dashboard_login_page(w, r, 415, "The form must be sent as a web form.");
		return;
	}
	err = http_read_body(r, DASHBOARD_FORM_MAX, &body, &blen);
	if (err != QP_OK) {
		if (err == QP_ETOOBIG)
			dashboard_login_page(w, r, 413, "The form is too large.");
		else if (err != QP_ECLOSED)
			http_error(r, 500, "server_error", "the form could not be read");
		goto out;
	}
	if (dashboard_form_get(body, blen, "key", key, sizeof(key), &klen) != QP_OK) {
		dashboard_login_page(w, r, 400, "Enter an admin key.");
		goto out;
	}
	if (server_worker_ready(w) != QP_OK) {
		dashboard_login_page(w, r, 503, "The database is unavailable.");
		goto out;
	}
	/* A throttled address learns nothing about the key it sent. */
	if (authfail_throttled(w->srv->authfail, r->client_addr, mono, &retry_s)) {
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", retry_s);
		dashboard_login_page_ex(w, r, 429, "Too many failed logins from your address: "
		    "try again in a minute.", retry);
		goto out;
	}
	err = keys_verify(w->keys, key, klen, &info);
	if (err == QP_OK && info.role != KEYS_ROLE_ADMIN)
		err = QP_EAUTH;
	if (err == QP_EEXPIRED) {
		dashboard_login_page(w, r, 401, "This key has expired.");
		goto out;
	}
	if (err == QP_EAUTH) {
		authfail_record(w->srv->authfail, AUTHFAIL_LOGIN, r->client_addr, mono);
		dashboard_login_page(w, r, 403, "This is not a valid admin key.");
		goto out;
	}
	if (err != QP_OK) {
		dashboard_login_page(w, r, 503, "The database is unavailable.");
		goto out;
	}
	if (crypto_random(raw, sizeof(raw)) != QP_OK) {
		http_error(r, 500, "server_error", "no randomness for a session");
		goto out;
	}
	crypto_hex(raw, sizeof(raw), tok);
	if (crypto_sha256(tok, strlen(tok), h) != QP_OK ||
	    db_begin_write(w->db) != QP_OK) {
		http_error(r, 500, "server_error", "the session could not be stored");
		goto out;
	}
	began = 1;
	if (sqlite3_prepare_v2(w->db, del, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(w->db, ins, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, info.id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now + DASHBOARD_SESSION_MS);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (db_commit(w->db) != QP_OK)
		goto fail;
	began = 0;
	snprintf(cookie, sizeof(cookie), "Set-Cookie: " DASHBOARD_COOKIE "=%s; HttpOnly; "
	    "SameSite=Strict; Path=%s/; Max-Age=%lld%s\r\n", tok, r->base,
	    (long long)(DASHBOARD_SESSION_MS / 1000), r->client_https ? "; Secure" : "");
	dashboard_redirect(r, "/", cookie);
	goto out;
fail:
	http_error(r, 500, "server_error", "the session could not be stored");
out:
	sqlite3_finalize(st);
	if (began)
		db_rollback(w->db);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(tok, sizeof(tok));
	if (body != NULL)
		crypto_wipe(body, blen);
	free(body);
}

void
dashboard_logout(struct worker *w, struct http_req *r)
{
	static const char sql[] = "DELETE FROM dashboard_sessions WHERE token_hash = ?1";
	unsigned char h[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	char cookie[384];

	if (dashboard_session_hash(r, h) && server_worker_ready(w) == QP_OK &&
	    sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
		(void)sqlite3_step(st);
	}
	sqlite3_finalize(st);
	snprintf(cookie, sizeof(cookie), "Set-Cookie: " DASHBOARD_COOKIE "=; HttpOnly; "
	    "SameSite=Strict; Path=%s/; Max-Age=0\r\n", r->base);
	dashboard_redirect(r, "/login", cookie);
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

/* ---- JSON API --------------------------------------------------------- */

/* Answers dataset d (or the runtime tree when d is STATS_DS__MAX) as JSON. */
static void
dashboard_api(struct worker *w, struct http_req *r, enum stats_dataset d, int admin_only)
{
	struct stats_query q;
	struct stats_db *sdb = NULL;
	cJSON *j = NULL;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin;

	if (!dashboard_gate(w, r, admin_only, 0, &admin))
		return;
	if (d == STATS_DS__MAX) {
		j = dashboard_runtime_tree(w);
		err = QP_ENOMEM;
		goto out;
	}
	if (stats_query_parse(&q, r->query, strlen(r->query), db_now_ms(), errbuf,
	    sizeof(errbuf)) != QP_OK) {
		http_error(r, 400, "invalid_request_error", errbuf);
		return;
	}
	if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	j = stats_dataset_run(sdb, w->cfg, d, &q, &err, errbuf, sizeof(errbuf));
	if (j == NULL && err == QP_EINVAL) {
		http_error(r, 400, "invalid_request_error", errbuf);
		goto done;
	}
out:
	if (j == NULL)
		http_error(r, 500, "server_error", qp_strerror(err));
	else
		dashboard_send_json(r, 200, j);
done:
	cJSON_Delete(j);
	stats_db_free(sdb);
}

void
dashboard_api_stats(struct worker *w, struct http_req *r)
{
	const char *name = r->path + strlen("/api/stats/");
	struct stats_db *sdb = NULL;
	enum stats_dataset d;
	cJSON *j = NULL;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin;

	if (strncmp(r->path, "/api/stats/", 11) != 0) {
		http_error(r, 404, "invalid_request_error", "no such endpoint");
		return;
	}
	if (strcmp(name, "runtime") == 0) {
		dashboard_api(w, r, STATS_DS__MAX, 1);
		return;
	}
	if (strncmp(name, "recent/", 7) == 0) {
		if (!dashboard_gate(w, r, 1, 0, &admin))
			return;
		if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) != NULL)
			j = stats_recent(sdb, w->cfg, name + 7, strlen(name + 7), &err);
		if (j != NULL)
			dashboard_send_json(r, 200, j);
		else if (err == QP_ENOTFOUND)
			http_error(r, 404, "not_found_error", "no request with this id");
		else
			http_error(r, 500, "server_error", qp_strerror(err));
		cJSON_Delete(j);
		stats_db_free(sdb);
		return;
	}
	d = stats_dataset_find(name, strlen(name));
	if (d == STATS_DS__MAX || d == STATS_DS_BACKOFFS) {
		http_error(r, 404, "invalid_request_error", "no such dataset");
		return;
	}
	dashboard_api(w, r, d, dashboard_ds_admin(d));
}

void
dashboard_api_backoffs(struct worker *w, struct http_req *r)
{

	dashboard_api(w, r, STATS_DS_BACKOFFS, 1);
}

void
dashboard_api_events(struct worker *w, struct http_req *r)
{

	dashboard_api(w, r, STATS_DS_OPERATIONAL, 0);
}
