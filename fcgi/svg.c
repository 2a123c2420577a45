/* svg.c: inline SVG charts for the dashboard, drawn on the server with every label escaped. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

/* Chart geometry (viewBox units). */
#define SVG_W		640	/* chart width */
#define SVG_ROW		22	/* bar-chart row height */
#define SVG_LABEL_W	170	/* bar-chart label column */
#define SVG_TEXT_W	90	/* bar-chart value column */
#define SVG_PLOT_H	200	/* plot height of stacked and line charts */
#define SVG_PAD		30	/* margin around plots */
#define SVG_LEGEND	18	/* legend row height */
#define SVG_CELL	11	/* heatmap square plus gap */

/* Appends len raw bytes to out, growing it within out->max. */
static enum qp_err
svg_raw(struct tmpl_out *out, const char *s, size_t len)
{
	size_t cap;
	char *nb = NULL;

	if (len > out->max - out->len)
		return QP_ETOOBIG;
	if (out->buf == NULL || out->len + len + 1 > out->cap) {
		cap = out->cap > 0 ? out->cap : 4096;
		while (cap < out->len + len + 1)
			cap *= 2;
		nb = realloc(out->buf, cap);
		if (nb == NULL)
			return QP_ENOMEM;
		out->buf = nb;
		out->cap = cap;
	}
	memcpy(out->buf + out->len, s, len);
	out->len += len;
	out->buf[out->len] = '\0';
	return QP_OK;
}

/* Appends formatted text (numbers and fixed markup only, never data). */
static enum qp_err
svg_put(struct tmpl_out *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return QP_EINVAL;
	return svg_raw(out, buf, (size_t)n);
}

/* Appends s escaped ("" for NULL). */
static enum qp_err
svg_esc(struct tmpl_out *out, const char *s)
{

	if (s == NULL)
		return QP_OK;
	return tmpl_escape(out, s, strlen(s));
}

/* Undoes a failed chart: out back to start bytes. */
static enum qp_err
svg_undo(struct tmpl_out *out, size_t start, enum qp_err err)
{

	if (err != QP_OK && out->buf != NULL) {
		out->len = start;
		out->buf[start] = '\0';
	}
	return err;
}

/* Formats v shortly ("12", "1.5k", "2.25M") into buf. */
static void
svg_num(double v, char *buf, size_t len)
{
	double a = fabs(v);

	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (a >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (a >= 1e3)
		snprintf(buf, len, "%.3gk", v / 1e3);
	else
		snprintf(buf, len, "%.3g", v);
}

/* Opens the <svg> with its accessible title. */
static enum qp_err
svg_open(struct tmpl_out *out, const char *title, int h)
{
	enum qp_err err;

	if ((err = svg_put(out, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", SVG_W, h)) != QP_OK ||
	    (err = svg_esc(out, title)) != QP_OK ||
	    (err = svg_put(out, "\"><title>")) != QP_OK ||
	    (err = svg_esc(out, title)) != QP_OK)
		return err;
	return svg_put(out, "</title>");
}

enum qp_err
svg_bars(struct tmpl_out *out, const char *title, const struct svg_bar *bars, int n)
{
	size_t start = out->len;
	enum qp_err err = QP_OK;
	double max = 0, w, v;
	char num[32];
	int i, y, plot = SVG_W - SVG_LABEL_W - SVG_TEXT_W;

	if (n < 0 || (n > 0 && bars == NULL))
		return QP_EINVAL;
	if (n > SVG_ITEMS_MAX)
		return QP_ETOOBIG;
	for (i = 0; i < n; i++)
		if (isfinite(bars[i].value) && bars[i].value > max)
			max = bars[i].value;
	if ((err = svg_open(out, title, n * SVG_ROW + 4)) != QP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		v = isfinite(bars[i].value) && bars[i].value > 0 ? bars[i].value : 0;
		w = max > 0 ? v / max * plot : 0;
		y = i * SVG_ROW + 2;
		svg_num(v, num, sizeof(num));
		if ((err = svg_put(out, "<g><title>")) != QP_OK ||
		    (err = svg_esc(out, bars[i].label)) != QP_OK ||
		    (err = svg_put(out, ": ")) != QP_OK ||
		    (err = svg_esc(out, bars[i].text != NULL ? bars[i].text : num)) != QP_OK ||
		    (err = svg_put(out, "</title><text class=\"lbl\" x=\"%d\" y=\"%d\" "
		    "text-anchor=\"end\">", SVG_LABEL_W - 6, y + 15)) != QP_OK ||
		    (err = svg_esc(out, bars[i].label)) != QP_OK ||
		    (err = svg_put(out, "</text><rect class=\"c%d\" x=\"%d\" y=\"%d\" "
		    "width=\"%.2f\" height=\"%d\"/><text class=\"val\" x=\"%.2f\" y=\"%d\">",
		    i % SVG_COLOURS, SVG_LABEL_W, y, w, SVG_ROW - 6, SVG_LABEL_W + w + 4,
		    y + 15)) != QP_OK ||
		    (err = svg_esc(out, bars[i].text != NULL ? bars[i].text : num)) != QP_OK ||
		    (err = svg_put(out, "</text></g>")) != QP_OK)
			goto out;
	}
	err = svg_put(out, "</svg>");
out:
	return svg_undo(out, start, err);
}

/* Draws the legend of ns series at height y. */
static enum qp_err
svg_legend(struct tmpl_out *out, const char *const *names, int ns, int y)
{
	enum qp_err err;
	int s, x = SVG_PAD;

	for (s = 0; s < ns; s++) {
		if ((err = svg_put(out, "<rect class=\"c%d\" x=\"%d\" y=\"%d\" width=\"10\" "
		    "height=\"10\"/><text class=\"lbl\" x=\"%d\" y=\"%d\">", s % SVG_COLOURS,
		    x, y, x + 14, y + 9)) != QP_OK ||
		    (err = svg_esc(out, names[s])) != QP_OK ||
		    (err = svg_put(out, "</text>")) != QP_OK)
			return err;
		x += 24 + 7 * (int)(names[s] != NULL ? strnlen(names[s], 40) : 0);
	}
	return QP_OK;
}

/*
 * Shortens an axis label: an ISO time "YYYY-MM-DDTHH:MM..." becomes
 * "MM-DD HH:MM" (the full label stays in the bar's tooltip).
 */
static void
svg_short_time(const char *s, char *buf, size_t len)
{

	if (strlen(s) >= 16 && s[4] == '-' && s[10] == 'T') {
		snprintf(buf, len, "%.5s %.5s", s + 5, s + 11);
		return;
	}
	snprintf(buf, len, "%s", s);
}

enum qp_err
svg_stacked(struct tmpl_out *out, const char *title, const char *const *series, int ns,
    const char *const *xlabels, int nx, const double *v)
{
	size_t start = out->len;
	enum qp_err err = QP_OK;
	double max = 0, tot, bw, y, h, val;
	char num[32], lbl[32];
	int x, s, every;

	if (ns < 0 || nx < 0 || (ns > 0 && series == NULL) || (nx > 0 && xlabels == NULL) ||
	    (nx > 0 && ns > 0 && v == NULL))
		return QP_EINVAL;
	if (ns > SVG_ITEMS_MAX || nx > SVG_ITEMS_MAX || (double)ns * nx > SVG_ITEMS_MAX * 4.0)
		return QP_ETOOBIG;
	for (x = 0; x < nx; x++) {
		tot = 0;
		for (s = 0; s < ns; s++)
			if (isfinite(v[x * ns + s]) && v[x * ns + s] > 0)
				tot += v[x * ns + s];
		if (tot > max)
			max = tot;
	}
	if ((err = svg_open(out, title, SVG_PLOT_H + 2 * SVG_PAD + SVG_LEGEND)) != QP_OK)
		goto out;
	svg_num(max, num, sizeof(num));
	if ((err = svg_put(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<text class=\"lbl\" x=\"2\" y=\"%d\">%s</text>", SVG_PAD, SVG_PAD + SVG_PLOT_H,
	    SVG_W - SVG_PAD, SVG_PAD + SVG_PLOT_H, SVG_PAD - 4, num)) != QP_OK)
		goto out;
	bw = nx > 0 ? (double)(SVG_W - 2 * SVG_PAD) / nx : 0;
	every = nx > 6 ? (nx + 5) / 6 : 1;
	for (x = 0; x < nx; x++) {
		y = SVG_PAD + SVG_PLOT_H;
		for (s = 0; s < ns; s++) {
			val = v[x * ns + s];
			if (!isfinite(val) || val <= 0)
				continue;
			h = max > 0 ? val / max * SVG_PLOT_H : 0;
			y -= h;
			svg_num(val, num, sizeof(num));
			if ((err = svg_put(out, "<rect class=\"c%d\" x=\"%.2f\" y=\"%.2f\" "
			    "width=\"%.2f\" height=\"%.2f\"><title>", s % SVG_COLOURS,
			    SVG_PAD + x * bw + bw * 0.1, y, bw * 0.8, h)) != QP_OK ||
			    (err = svg_esc(out, xlabels[x])) != QP_OK ||
			    (err = svg_put(out, " ")) != QP_OK ||
			    (err = svg_esc(out, series[s])) != QP_OK ||
			    (err = svg_put(out, ": %s</title></rect>", num)) != QP_OK)
				goto out;
		}
		if (x % every == 0) {
			svg_short_time(xlabels[x], lbl, sizeof(lbl));
			if ((err = svg_put(out, "<text class=\"lbl\" x=\"%.2f\" y=\"%d\">",
			    SVG_PAD + x * bw, SVG_PAD + SVG_PLOT_H + 14)) != QP_OK ||
			    (err = svg_esc(out, lbl)) != QP_OK ||
			    (err = svg_put(out, "</text>")) != QP_OK)
				goto out;
		}
	}
	if ((err = svg_legend(out, series, ns, SVG_PLOT_H + 2 * SVG_PAD)) != QP_OK)
		goto out;
	err = svg_put(out, "</svg>");
out:
	return svg_undo(out, start, err);
}

enum qp_err
svg_lines(struct tmpl_out *out, const char *title, const struct svg_line *lines, int nl,
    const char *unit)
{
	size_t start = out->len;
	enum qp_err err = QP_OK;
	double xmin = INFINITY, xmax = -INFINITY, ymax = 0, px, py;
	const char *names[SVG_COLOURS * 4];
	char num[32];
	int l, i, total = 0;

	if (nl < 0 || (nl > 0 && lines == NULL))
		return QP_EINVAL;
	if (nl > (int)(sizeof(names) / sizeof(names[0])))
		return QP_ETOOBIG;
	for (l = 0; l < nl; l++) {
		if (lines[l].n < 0 || (lines[l].n > 0 && (lines[l].x == NULL || lines[l].y == NULL)))
			return QP_EINVAL;
		total += lines[l].n;
		if (total > SVG_ITEMS_MAX)
			return QP_ETOOBIG;
		names[l] = lines[l].name;
		for (i = 0; i < lines[l].n; i++) {
			if (!isfinite(lines[l].x[i]) || !isfinite(lines[l].y[i]))
				continue;
			xmin = fmin(xmin, lines[l].x[i]);
			xmax = fmax(xmax, lines[l].x[i]);
			ymax = fmax(ymax, lines[l].y[i]);
		}
	}
	if ((err = svg_open(out, title, SVG_PLOT_H + 2 * SVG_PAD + SVG_LEGEND)) != QP_OK)
		goto out;
	svg_num(ymax, num, sizeof(num));
	if ((err = svg_put(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<text class=\"lbl\" x=\"2\" y=\"%d\">%s ", SVG_PAD, SVG_PAD + SVG_PLOT_H,
	    SVG_W - SVG_PAD, SVG_PAD + SVG_PLOT_H, SVG_PAD - 4, num)) != QP_OK ||
	    (err = svg_esc(out, unit)) != QP_OK || (err = svg_put(out, "</text>")) != QP_OK)
		goto out;
	for (l = 0; l < nl; l++) {
		if ((err = svg_put(out, "<polyline class=\"ln c%d\" points=\"",
		    l % SVG_COLOURS)) != QP_OK)
			goto out;
		for (i = 0; i < lines[l].n; i++) {
			if (!isfinite(lines[l].x[i]) || !isfinite(lines[l].y[i]))
				continue;
			px = SVG_PAD + (xmax > xmin ? (lines[l].x[i] - xmin) / (xmax - xmin) : 0.5) *
			    (SVG_W - 2 * SVG_PAD);
			py = SVG_PAD + SVG_PLOT_H - (ymax > 0 ? lines[l].y[i] / ymax : 0) * SVG_PLOT_H;
			if ((err = svg_put(out, "%s%.2f,%.2f", i > 0 ? " " : "", px, py)) != QP_OK)
				goto out;
		}
		if ((err = svg_put(out, "\"><title>")) != QP_OK ||
		    (err = svg_esc(out, lines[l].name)) != QP_OK ||
		    (err = svg_put(out, "</title></polyline>")) != QP_OK)
			goto out;
	}
	if ((err = svg_legend(out, names, nl, SVG_PLOT_H + 2 * SVG_PAD)) != QP_OK)
		goto out;
	err = svg_put(out, "</svg>");
out:
	return svg_undo(out, start, err);
}

enum qp_err
svg_heatmap(struct tmpl_out *out, const char *title, const struct svg_day *days, int n)
{
	size_t start = out->len;
	enum qp_err err = QP_OK;
	int i, col = 0, wd, lvl;

	if (n < 0 || (n > 0 && days == NULL))
		return QP_EINVAL;
	if (n > SVG_ITEMS_MAX)
		return QP_ETOOBIG;
	if ((err = svg_open(out, title, 7 * SVG_CELL + 24)) != QP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		wd = days[i].weekday >= 0 && days[i].weekday < 7 ? days[i].weekday : 0;
		if (i > 0 && wd <= (days[i - 1].weekday >= 0 && days[i - 1].weekday < 7 ?
		    days[i - 1].weekday : 0))
			col++;
		lvl = days[i].level < 0 ? 0 : days[i].level > 4 ? 4 : days[i].level;
		if ((err = svg_put(out, "<rect class=\"h%d\" x=\"%d\" y=\"%d\" width=\"%d\" "
		    "height=\"%d\"><title>", lvl, 20 + col * SVG_CELL, 4 + wd * SVG_CELL,
		    SVG_CELL - 2, SVG_CELL - 2)) != QP_OK ||
		    (err = svg_esc(out, days[i].date)) != QP_OK ||
		    (err = svg_put(out, ": ")) != QP_OK ||
		    (err = svg_esc(out, days[i].text)) != QP_OK ||
		    (err = svg_put(out, "</title></rect>")) != QP_OK)
			goto out;
	}
	err = svg_put(out, "<text class=\"lbl\" x=\"0\" y=\"%d\">Mo</text><text class=\"lbl\" "
	    "x=\"0\" y=\"%d\">Su</text></svg>", 4 + SVG_CELL - 2, 4 + 7 * SVG_CELL - 2);
out:
	return svg_undo(out, start, err);
}
