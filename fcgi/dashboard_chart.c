/* dashboard_chart.c: the SVG charts of each dashboard page, built from its data tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "dashboard_int.h"
#include "stats.h"
#include "svg.h"
#include "tmpl.h"

/* Series a stacked chart draws at most (the datasets fold the rest into "other"). */
#define DASHBOARD_SERIES_MAX	(STATS_TOP_MAX + 1)

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

enum qp_err
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

enum qp_err
dashboard_charts_accounts(const cJSON *data, cJSON *charts)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(data, "accounts"), "accounts");

	return dashboard_bars(charts, "cost", "Cost per account", a, "name", NULL,
	    "cost_microdollars");
}

enum qp_err
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

enum qp_err
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

enum qp_err
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

enum qp_err
dashboard_charts_timeseries(const cJSON *data, cJSON *charts)
{

	return dashboard_stacked(charts, "timeseries",
	    cJSON_GetObjectItemCaseSensitive(data, "timeseries"));
}

enum qp_err
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

enum qp_err
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

enum qp_err
dashboard_charts_routing(const cJSON *data, cJSON *charts)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(data, "routing");

	return dashboard_bars(charts, "chosen", "Times each account was chosen",
	    cJSON_GetObjectItemCaseSensitive(r, "by_account"), "account", "provider", "chosen");
}

enum qp_err
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
