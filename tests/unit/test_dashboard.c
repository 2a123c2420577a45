/* test_dashboard.c: dashboard templates, charts, units and the login form parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "dashboard.h"
#include "svg.h"

static const char *pages[] = {
	"overview", "accounts", "models", "latency", "timeseries", "bandwidth", "reliability",
	"routing", "runtime", "traces", "pings", "trace", "login", "message"
};

static const char ctx_json[] =
    "{\"title\":\"T\",\"theme\":\"dark\",\"version\":\"1\",\"message\":\"m<&>\",\"admin\":true,"
    "\"nav\":[{\"title\":\"Overview\",\"href\":\"/\",\"current\":true}],"
    "\"periods\":[{\"label\":\"1h\",\"href\":\"?period=1h\",\"current\":false}],"
    "\"themes\":[{\"name\":\"dark\",\"href\":\"/theme?t=dark&r=models\",\"current\":true}],"
    "\"charts\":{\"cost\":\"<svg class=\\\"chart\\\"></svg>\"},"
    "\"data\":{\"summary\":{\"total_requests\":1234,\"error_rate\":0.25,"
    "\"total_cost_microdollars\":1500000,\"health\":{\"pending_requests\":2}},"
    "\"models\":{\"models\":[{\"model\":\"<script>x</script>\",\"provider\":\"p\","
    "\"requests\":3,\"total_tokens\":12345,\"cost_microdollars\":2500,\"avg_latency_ms\":1500}]},"
    "\"accounts\":{\"accounts\":[{\"name\":\"a\\\"1\",\"status\":\"backoff\","
    "\"windows\":[{\"window\":\"5h\",\"spend_microdollars\":1,\"spend_microdollars_limit\":2}]}]},"
    "\"recent-requests\":{\"requests\":[{\"request_id\":\"r1\",\"model\":\"<i>m</i>\"}]},"
    "\"runtime\":{\"pid\":42,\"rss_bytes\":2097152}},"
    "\"trace\":{\"request\":{\"request_id\":\"r1\",\"model\":\"<script>x</script>\"},"
    "\"attempts\":[{\"attempt_number\":1,\"decision\":{\"tier\":0,\"detail\":"
    "{\"accounts\":[{\"account\":\"a\",\"chosen\":true}]}}}]}}";

static void
test_pages(void)
{
	struct tmpl_out out;
	cJSON *ctx;
	size_t i;
	enum qp_err err;

	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		ctx = cJSON_Parse(ctx_json);
		tmpl_out_init(&out, 0);
		err = dashboard_render(pages[i], ctx, &out);
		is_int(err, QP_OK, "page %s renders", pages[i]);
		ok(out.buf != NULL && strstr(out.buf, "</html>") != NULL &&
		    strstr(out.buf, "<link rel=\"stylesheet\" href=\"/static/dashboard.css\">") != NULL,
		    "page %s has the layout", pages[i]);
		ok(out.buf == NULL || strstr(out.buf, "<script>x") == NULL,
		    "page %s never writes a model name raw", pages[i]);
		if (strcmp(pages[i], "models") == 0 || strcmp(pages[i], "trace") == 0)
			ok(out.buf != NULL && strstr(out.buf, "&lt;script&gt;x&lt;/script&gt;") != NULL,
			    "page %s shows the model name escaped", pages[i]);
		if (strcmp(pages[i], "models") == 0) {
			ok(strstr(out.buf, "12.3k tok") != NULL, "tokens carry a unit");
			ok(strstr(out.buf, "$0.0025") != NULL, "cost in dollars");
			ok(strstr(out.buf, "1.50 s") != NULL, "latency in seconds");
			ok(strstr(out.buf, "<svg class=\"chart\"></svg>") != NULL, "chart inserted raw");
		}
		if (strcmp(pages[i], "overview") == 0) {
			ok(strstr(out.buf, "1,234") != NULL, "count with separators");
			ok(strstr(out.buf, "25.0 %") != NULL, "rate in percent");
			ok(strstr(out.buf, "$1.50") != NULL, "total cost");
		}
		if (strcmp(pages[i], "accounts") == 0)
			ok(strstr(out.buf, "a&quot;1") != NULL, "account name escaped");
		if (strcmp(pages[i], "runtime") == 0)
			ok(strstr(out.buf, "2.0 MiB") != NULL, "bytes in MiB");
		if (strcmp(pages[i], "message") == 0)
			ok(strstr(out.buf, "m&lt;&amp;&gt;") != NULL, "message escaped");
		if (out.buf == NULL || err != QP_OK)
			printf("# output: %.300s\n", out.buf != NULL ? out.buf : "(none)");
		tmpl_out_free(&out);
		cJSON_Delete(ctx);
	}
	tmpl_out_init(&out, 0);
	is_int(dashboard_render("nonesuch", NULL, &out), QP_ENOTFOUND, "unknown page");
	tmpl_out_free(&out);
}

/* Sums the heights of the rects of class c<s> whose x starts with xprefix. */
static double
sum_heights(const char *svg, const char *xattr)
{
	const char *p = svg;
	double h, sum = 0;

	while ((p = strstr(p, xattr)) != NULL) {
		const char *hp = strstr(p, "height=\"");

		if (hp != NULL && sscanf(hp + 8, "%lf", &h) == 1)
			sum += h;
		p += strlen(xattr);
	}
	return sum;
}

static void
test_svg(void)
{
	struct tmpl_out out;
	struct svg_bar bars[2] = { { "<b>", 10, NULL }, { "b&", 5, "5 tok" } };
	const char *series[2] = { "s<1>", "s2" }, *xl[2] = { "x1", "x2" };
	const double v[4] = { 30, 10, 5, 15 };
	struct svg_day days[2] = { { "2024-05-01", 2, 1, "1 KiB" }, { "<d>", 3, 9, "x" } };
	double xs[2] = { 0, 1 }, ys[2] = { 1, 2 };
	struct svg_line line = { "<l>", xs, ys, 2 };

	tmpl_out_init(&out, 0);
	is_int(svg_bars(&out, "t\"", bars, 2), QP_OK, "bar chart");
	ok(strstr(out.buf, "&lt;b&gt;") != NULL && strstr(out.buf, "<b>") == NULL,
	    "bar label escaped");
	ok(strstr(out.buf, "b&amp;") != NULL && strstr(out.buf, "aria-label=\"t&quot;\"") != NULL,
	    "value label and title escaped");
	ok(strstr(out.buf, "width=\"380.00\"") != NULL && strstr(out.buf, "width=\"190.00\"") !=
	    NULL, "bars scaled to the largest: %s", "380 and 190");
	tmpl_out_reset(&out);
	is_int(svg_stacked(&out, "s", series, 2, xl, 2, v), QP_OK, "stacked chart");
	/* Column 1 total 40 is the largest: its stack is the full 200 units. */
	ok(sum_heights(out.buf, "x=\"59.") > 199.9 && sum_heights(out.buf, "x=\"59.") < 200.1,
	    "first column sums to the plot height (%f)", sum_heights(out.buf, "x=\"59."));
	ok(sum_heights(out.buf, "x=\"349.") > 99.9 && sum_heights(out.buf, "x=\"349.") < 100.1,
	    "second column (20) sums to half (%f)", sum_heights(out.buf, "x=\"349."));
	ok(strstr(out.buf, "s&lt;1&gt;") != NULL && strstr(out.buf, "s<1>") == NULL,
	    "series name escaped");
	tmpl_out_reset(&out);
	is_int(svg_heatmap(&out, "h", days, 2), QP_OK, "heatmap");
	ok(strstr(out.buf, "class=\"h4\"") != NULL && strstr(out.buf, "&lt;d&gt;") != NULL,
	    "heatmap level clamped, date escaped");
	tmpl_out_reset(&out);
	is_int(svg_lines(&out, "l", &line, 1, "<ms>"), QP_OK, "line chart");
	ok(strstr(out.buf, "&lt;l&gt;") != NULL && strstr(out.buf, "&lt;ms&gt;") != NULL,
	    "line name and unit escaped");
	tmpl_out_reset(&out);
	is_int(svg_bars(&out, "t", NULL, 1), QP_EINVAL, "NULL bars refused");
	ok(out.len == 0, "nothing written on error");
	out.max = 100;
	is_int(svg_bars(&out, "t", bars, 2), QP_ETOOBIG, "cap reached");
	ok(out.len == 0, "output restored after cap");
	tmpl_out_free(&out);
}

static void
test_form(void)
{
	char v[16];
	size_t n;
	struct { const char *in; const char *name; enum qp_err err; const char *want; } c[] = {
		{ "key=abc", "key", QP_OK, "abc" },
		{ "a=1&key=x+y%21", "key", QP_OK, "x y!" },
		{ "%6Bey=v", "key", QP_OK, "v" },
		{ "key=", "key", QP_OK, "" },
		{ "key", "key", QP_OK, "" },
		{ "keys=1", "key", QP_ENOTFOUND, "" },
		{ "", "key", QP_ENOTFOUND, "" },
		{ "key=%4", "key", QP_EINVAL, "" },
		{ "key=%zz", "key", QP_EINVAL, "" },
		{ "key=a%00b", "key", QP_EINVAL, "" },
		{ "key=1&key=2", "key", QP_EINVAL, "" },
		{ "key=0123456789abcdef", "key", QP_ETOOBIG, "" },
		{ "x=%&key=1", "key", QP_OK, "1" },
	};
	size_t i;
	enum qp_err err;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		err = dashboard_form_get(c[i].in, strlen(c[i].in), c[i].name, v, sizeof(v), &n);
		is_int(err, c[i].err, "form %s: result", c[i].in);
		if (err == QP_OK)
			is_str(v, c[i].want, "form %s: value", c[i].in);
	}
	is_int(dashboard_cookie_get("a=1; qp_session=abc; b=2", 24, "qp_session", v, sizeof(v)),
	    QP_OK, "cookie found");
	is_str(v, "abc", "cookie value");
	is_int(dashboard_cookie_get(" theme = \"sand\" ", 16, "theme", v, sizeof(v)), QP_OK,
	    "quoted cookie");
	is_str(v, "sand", "quotes and spaces removed");
	is_int(dashboard_cookie_get("xqp_session=1", 13, "qp_session", v, sizeof(v)),
	    QP_ENOTFOUND, "name must match whole");
	is_int(dashboard_cookie_get("t=0123456789abcdefghij", 22, "t", v, sizeof(v)),
	    QP_ETOOBIG, "long cookie refused");
}

int
main(void)
{
	char errbuf[512];

	errbuf[0] = '\0';
	if (dashboard_init(QP_SRCDIR, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! views do not load: %s\n", errbuf);
		return 1;
	}
	ok(1, "views load");
	test_pages();
	test_svg();
	test_form();
	dashboard_free();
	dashboard_free();
	return done_testing();
}
