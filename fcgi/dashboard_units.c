/* dashboard_units.c: the dashboard's numbers with units (the "_h" members of a data tree). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dashboard.h"
#include "dashboard_int.h"

/* ---- numbers with units ---------------------------------------------- */

/* Returns 1 if name ends with suffix. */
int
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
