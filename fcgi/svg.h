/* svg.h: inline SVG charts for the dashboard, drawn on the server with every label escaped. */
#ifndef QP_SVG_H
#define QP_SVG_H

#include "err.h"
#include "tmpl.h"

/* Most bars, series, points or days a chart draws; more are refused (QP_ETOOBIG). */
#define SVG_ITEMS_MAX		4096
/* Colours a chart cycles through: CSS classes c0..c7 of views/dashboard.css. */
#define SVG_COLOURS		8

/* One bar of a horizontal bar chart. */
struct svg_bar {
	const char	*label;		/* shown left of the bar, escaped */
	double		 value;		/* bar length, >= 0 (negatives draw as 0) */
	const char	*text;		/* value as shown ("1.2k tok"), escaped; NULL: the number */
};

/* One series of a line chart: n points (x[i], y[i]), x ascending. */
struct svg_line {
	const char	*name;		/* legend entry, escaped */
	const double	*x;		/* abscissae (e.g. ms since the epoch) */
	const double	*y;		/* ordinates, >= 0 */
	int		 n;		/* points */
};

/* One day of a calendar heatmap. */
struct svg_day {
	const char	*date;		/* "2024-05-01", escaped */
	int		 weekday;	/* 0 = Monday .. 6 = Sunday */
	int		 level;		/* intensity 0..4 */
	const char	*text;		/* value as shown, escaped */
};

/*
 * Each function appends one <svg> element to out (class "chart", a
 * viewBox, no inline style, colours from CSS classes), with a <title>
 * per mark so a pointer shows label and value. Returns QP_OK, QP_EINVAL
 * for n < 0 or NULL arrays with n > 0, QP_ETOOBIG (more than
 * SVG_ITEMS_MAX items, or out's cap reached) or QP_ENOMEM; out is then
 * left as it was. Thread-safe (out belongs to the caller).
 */

/* Horizontal bars, one row per bar, scaled to the largest value. */
enum qp_err	 svg_bars(struct tmpl_out *out, const char *title, const struct svg_bar *bars,
		    int n);

/*
 * Vertical stacked bars: nx columns labelled xlabels[], each the stack of
 * ns series (names in series[]) with values v[x * ns + s] >= 0; every
 * column's stack height is its total scaled to the largest column total.
 */
enum qp_err	 svg_stacked(struct tmpl_out *out, const char *title, const char *const *series,
		    int ns, const char *const *xlabels, int nx, const double *v);

/* Lines, one per series, on shared axes from 0 to the largest y; unit follows y labels. */
enum qp_err	 svg_lines(struct tmpl_out *out, const char *title, const struct svg_line *lines,
		    int nl, const char *unit);

/* A calendar: one column per week, one row per weekday, a square per day. */
enum qp_err	 svg_heatmap(struct tmpl_out *out, const char *title, const struct svg_day *days,
		    int n);

#endif /* QP_SVG_H */
