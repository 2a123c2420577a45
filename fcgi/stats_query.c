/* stats_query.c: the statistics query language: periods, groupings, metrics, filters, datasets. */
#include <stdio.h>
#include <string.h>

#include "stats_query.h"
#include "stats_time.h"

/* Longest raw value of period= and now= accepted. */
#define STATS_VALUE_MAX		128

static const char *const stats_period_names[STATS_PERIOD__MAX] = {
	[STATS_PERIOD_1H] = "1h",
	[STATS_PERIOD_24H] = "24h",
	[STATS_PERIOD_7D] = "7d",
	[STATS_PERIOD_30D] = "30d",
	[STATS_PERIOD_RANGE] = "range",
};

static const int64_t stats_period_ms[STATS_PERIOD__MAX] = {
	[STATS_PERIOD_1H] = STATS_HOUR_MS,
	[STATS_PERIOD_24H] = 24 * STATS_HOUR_MS,
	[STATS_PERIOD_7D] = 7 * STATS_DAY_MS,
	[STATS_PERIOD_30D] = 30 * STATS_DAY_MS,
	[STATS_PERIOD_RANGE] = 0,
};

static const char *const stats_group_names[STATS_GROUP__MAX] = {
	[STATS_GROUP_PROVIDER] = "provider",
	[STATS_GROUP_MODEL] = "model",
	[STATS_GROUP_ACCOUNT] = "account",
	[STATS_GROUP_PROVIDER_MODEL] = "provider_model",
};

static const char *const stats_metric_names[STATS_METRIC__MAX] = {
	[STATS_METRIC_REQUESTS] = "requests",
	[STATS_METRIC_TOKENS] = "tokens",
	[STATS_METRIC_COST] = "cost",
};

static const char *const stats_latency_names[STATS_LAT__MAX] = {
	[STATS_LAT_TOTAL] = "total",
	[STATS_LAT_TTFT] = "ttft",
	[STATS_LAT_CONNECT] = "connect",
	[STATS_LAT_FIRST_BYTE] = "first_byte",
	[STATS_LAT_OVERHEAD] = "overhead",
};

/* Request statuses accepted by status=. */
static const char *const stats_statuses[STATS_NSTATUSES] = {
	"pending", "completed", "client_error", "error", "client_disconnected",
	"interrupted", "rejected",
};

/* Names and filters of the datasets. */
static const struct {
	const char	*name;		/* under /api/stats/ */
	unsigned	 filters;	/* STATS_F_* accepted */
} stats_ds_names[STATS_DS__MAX] = {
	[STATS_DS_SUMMARY] = { "summary",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_ACCOUNTS] = { "accounts", STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_MODELS] = { "models",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_LATENCY] = { "latency", STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_TIMESERIES] = { "timeseries",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_BANDWIDTH] = { "bandwidth",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_ATTEMPTS] = { "attempts", STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_RETRIES] = { "retries", STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_ROUTING] = { "routing", STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL },
	[STATS_DS_PINGS] = { "pings", STATS_F_PROVIDER },
	[STATS_DS_ERRORS] = { "errors",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_OPERATIONAL] = { "operational", 0 },
	[STATS_DS_PENDING_HEALTH] = { "pending-health", 0 },
	[STATS_DS_RECENT_REQUESTS] = { "recent-requests",
	    STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_MODEL | STATS_F_STATUS },
	[STATS_DS_BACKOFFS] = { "backoffs", 0 },
	[STATS_DS_CLIENTS] = { "clients", STATS_F_STATUS },
	[STATS_DS_WORKERS] = { "workers", 0 },
};

/* ---- names -------------------------------------------------------------- */

const char *
stats_period_name(enum stats_period p)
{

	return (unsigned)p < STATS_PERIOD__MAX ? stats_period_names[p] : "";
}

const char *
stats_group_name(enum stats_group g)
{

	return (unsigned)g < STATS_GROUP__MAX ? stats_group_names[g] : "";
}

const char *
stats_metric_name(enum stats_metric m)
{

	return (unsigned)m < STATS_METRIC__MAX ? stats_metric_names[m] : "";
}

const char *
stats_latency_name(enum stats_latency l)
{

	return (unsigned)l < STATS_LAT__MAX ? stats_latency_names[l] : "";
}

enum stats_latency
stats_latency_find(const char *s)
{
	int i;

	for (i = 0; i < STATS_LAT__MAX; i++)
		if (strcmp(stats_latency_names[i], s) == 0)
			return (enum stats_latency)i;
	return STATS_LAT__MAX;
}

const char *
stats_dataset_name(enum stats_dataset d)
{

	return (unsigned)d < STATS_DS__MAX ? stats_ds_names[d].name : "";
}

enum stats_dataset
stats_dataset_find(const char *name, size_t len)
{
	int i;

	for (i = 0; i < STATS_DS__MAX; i++)
		if (strlen(stats_ds_names[i].name) == len &&
		    memcmp(stats_ds_names[i].name, name, len) == 0)
			return (enum stats_dataset)i;
	return STATS_DS__MAX;
}

unsigned
stats_dataset_filters(enum stats_dataset d)
{

	return (unsigned)d < STATS_DS__MAX ? stats_ds_names[d].filters : 0;
}

const char *
stats_status_name(int i)
{

	return i >= 0 && i < STATS_NSTATUSES ? stats_statuses[i] : "";
}

/* ---- query strings ------------------------------------------------------- */

/* Query parameters, by bit. */
enum stats_param {
	STATS_Q_PERIOD,
	STATS_Q_NOW,
	STATS_Q_GROUP_BY,
	STATS_Q_METRIC,
	STATS_Q_TOP,
	STATS_Q_LIMIT,
	STATS_Q_INCLUDE_DISABLED,
	STATS_Q_ACCOUNT,
	STATS_Q_PROVIDER,
	STATS_Q_MODEL,
	STATS_Q_STATUS,
	STATS_Q__MAX
};

static const char *const stats_param_names[STATS_Q__MAX] = {
	[STATS_Q_PERIOD] = "period",
	[STATS_Q_NOW] = "now",
	[STATS_Q_GROUP_BY] = "group_by",
	[STATS_Q_METRIC] = "metric",
	[STATS_Q_TOP] = "top",
	[STATS_Q_LIMIT] = "limit",
	[STATS_Q_INCLUDE_DISABLED] = "include_disabled",
	[STATS_Q_ACCOUNT] = "account",
	[STATS_Q_PROVIDER] = "provider",
	[STATS_Q_MODEL] = "model",
	[STATS_Q_STATUS] = "status",
};

static int
stats_hexval(char c)
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
 * Decodes a form-encoded component (s, n) into out (cap bytes with the
 * NUL). Returns the decoded length, -1 on a bad escape, -2 if too long.
 */
static int
stats_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;
	int hi, lo;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= n)
				return -1;
			hi = stats_hexval(s[i + 1]);
			lo = stats_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -2;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Returns 1 if s (n bytes) is valid UTF-8 without control characters. */
static int
stats_text_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, need;
	unsigned cp;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = p[i] & 0x07;
		} else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* Parses a decimal integer in [lo, hi]; returns 1 and *v, or 0. */
static int
stats_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
	int64_t x = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 15)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	if (x < lo || x > hi)
		return 0;
	*v = x;
	return 1;
}

/* Finds name in a table of n names; returns its index or -1. */
static int
stats_lookup(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

int
stats_status_find(const char *s)
{

	return stats_lookup(stats_statuses, STATS_NSTATUSES, s);
}

/* Resolves the period text (NULL = the default 24h) into q. */
static enum qp_err
stats_resolve_period(struct stats_query *q, const char *v, char *errbuf, size_t errlen)
{
	const char *dots;
	int64_t from, to;
	int i;

	if (v == NULL) {
		q->period = STATS_PERIOD_24H;
		q->from = q->now - stats_period_ms[q->period];
		q->to = q->now;
		snprintf(q->label, sizeof(q->label), "%s", stats_period_names[q->period]);
		return QP_OK;
	}
	for (i = 0; i < STATS_PERIOD_RANGE; i++)
		if (strcmp(v, stats_period_names[i]) == 0) {
			q->period = (enum stats_period)i;
			q->from = q->now - stats_period_ms[i];
			q->to = q->now;
			snprintf(q->label, sizeof(q->label), "%s", stats_period_names[i]);
			return QP_OK;
		}
	dots = strstr(v, "..");
	if (dots != NULL) {
		if (!stats_parse_time(v, (size_t)(dots - v), &from) ||
		    !stats_parse_time(dots + 2, strlen(dots + 2), &to)) {
			snprintf(errbuf, errlen, "period must be 1h, 24h, 7d, 30d, or FROM..TO "
			    "with each end a UTC date (2024-05-01), time (2024-05-01T10:00:00Z) "
			    "or epoch seconds");
			return QP_EINVAL;
		}
	} else {
		if (!stats_parse_time(v, strlen(v), &from)) {
			snprintf(errbuf, errlen, "period must be 1h, 24h, 7d, 30d, FROM..TO or "
			    "FROM, with each end a UTC date (2024-05-01), time "
			    "(2024-05-01T10:00:00Z) or epoch seconds");
			return QP_EINVAL;
		}
		to = q->now;
	}
	if (from >= to) {
		snprintf(errbuf, errlen, "period must end after it starts");
		return QP_EINVAL;
	}
	if (to - from > STATS_RANGE_MAX_MS) {
		snprintf(errbuf, errlen, "period may span at most 366 days");
		return QP_EINVAL;
	}
	q->period = STATS_PERIOD_RANGE;
	q->from = from;
	q->to = to;
	snprintf(q->label, sizeof(q->label), "%s", v);
	return QP_OK;
}

void
stats_query_init(struct stats_query *q, int64_t now)
{

	memset(q, 0, sizeof(*q));
	q->now = now;
	q->group_by = STATS_GROUP_PROVIDER;
	q->metric = STATS_METRIC_REQUESTS;
	q->top = STATS_TOP_DEFAULT;
	q->limit = STATS_LIMIT_DEFAULT;
	q->include_disabled = 1;
	(void)stats_resolve_period(q, NULL, NULL, 0);
}

enum qp_err
stats_query_parse(struct stats_query *q, const char *buf, size_t len, int64_t now,
    char *errbuf, size_t errlen)
{
	char key[32], val[STATS_VALUE_MAX + STATS_FILTER_MAX], period[STATS_VALUE_MAX + 1];
	const char *p, *end, *amp, *eq;
	unsigned seen = 0;
	int64_t v;
	int klen, vlen, k, have_period = 0;
	char *dst;
	size_t cap;

	stats_query_init(q, now);
	if (errlen > 0)
		errbuf[0] = '\0';
	p = buf;
	end = buf + len;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp == p) {
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = stats_decode(p, (size_t)((eq != NULL ? eq : amp) - p), key, sizeof(key));
		if (klen == -1) {
			snprintf(errbuf, errlen, "the query string has a bad percent-escape");
			return QP_EINVAL;
		}
		k = klen < 0 ? -1 : stats_lookup(stats_param_names, STATS_Q__MAX, key);
		if (k < 0) {
			/* Unknown parameters belong to someone else (theme=, ...). */
			p = amp + 1;
			continue;
		}
		if (seen & (1u << k)) {
			snprintf(errbuf, errlen, "parameter %s is given twice", key);
			return QP_EINVAL;
		}
		seen |= 1u << k;
		vlen = 0;
		val[0] = '\0';
		if (eq != NULL) {
			vlen = stats_decode(eq + 1, (size_t)(amp - eq - 1), val, sizeof(val));
			if (vlen == -1) {
				snprintf(errbuf, errlen, "parameter %s has a bad percent-escape",
				    key);
				return QP_EINVAL;
			}
			if (vlen == -2) {
				snprintf(errbuf, errlen, "parameter %s is too long", key);
				return QP_EINVAL;
			}
		}
		dst = NULL;
		cap = 0;
		switch (k) {
		case STATS_Q_ACCOUNT:
			dst = q->account;
			cap = sizeof(q->account);
			break;
		case STATS_Q_PROVIDER:
			dst = q->provider;
			cap = sizeof(q->provider);
			break;
		case STATS_Q_MODEL:
			dst = q->model;
			cap = sizeof(q->model);
			break;
		default:
			break;
		}
		if (dst != NULL) {
			if ((size_t)vlen >= cap) {
				snprintf(errbuf, errlen, "parameter %s is longer than %d bytes",
				    key, STATS_FILTER_MAX);
				return QP_EINVAL;
			}
			if (!stats_text_valid(val, (size_t)vlen)) {
				snprintf(errbuf, errlen, "parameter %s must be UTF-8 text without "
				    "control characters", key);
				return QP_EINVAL;
			}
			memcpy(dst, val, (size_t)vlen + 1);
			p = amp + 1;
			continue;
		}
		if (vlen == 0 && k != STATS_Q_STATUS) {
			snprintf(errbuf, errlen, "parameter %s needs a value", key);
			return QP_EINVAL;
		}
		switch (k) {
		case STATS_Q_PERIOD:
			if (vlen > STATS_VALUE_MAX || !stats_text_valid(val, (size_t)vlen)) {
				snprintf(errbuf, errlen, "period is not a valid period");
				return QP_EINVAL;
			}
			memcpy(period, val, (size_t)vlen + 1);
			have_period = 1;
			break;
		case STATS_Q_NOW:
			if (!stats_parse_int(val, 0, STATS_TIME_MAX_S, &v)) {
				snprintf(errbuf, errlen,
				    "now must be epoch seconds (a whole number)");
				return QP_EINVAL;
			}
			q->now = v * 1000;
			break;
		case STATS_Q_GROUP_BY:
			k = stats_lookup(stats_group_names, STATS_GROUP__MAX, val);
			if (k < 0) {
				snprintf(errbuf, errlen, "group_by must be provider, model, "
				    "account or provider_model");
				return QP_EINVAL;
			}
			q->group_by = (enum stats_group)k;
			break;
		case STATS_Q_METRIC:
			k = stats_lookup(stats_metric_names, STATS_METRIC__MAX, val);
			if (k < 0) {
				snprintf(errbuf, errlen, "metric must be requests, tokens or cost");
				return QP_EINVAL;
			}
			q->metric = (enum stats_metric)k;
			break;
		case STATS_Q_TOP:
			if (!stats_parse_int(val, 1, STATS_TOP_MAX, &v)) {
				snprintf(errbuf, errlen, "top must be a whole number from 1 to %d",
				    STATS_TOP_MAX);
				return QP_EINVAL;
			}
			q->top = (int)v;
			break;
		case STATS_Q_LIMIT:
			if (!stats_parse_int(val, 1, STATS_LIMIT_MAX, &v)) {
				snprintf(errbuf, errlen,
				    "limit must be a whole number from 1 to %d", STATS_LIMIT_MAX);
				return QP_EINVAL;
			}
			q->limit = (int)v;
			break;
		case STATS_Q_INCLUDE_DISABLED:
			if (!stats_parse_int(val, 0, 1, &v)) {
				snprintf(errbuf, errlen, "include_disabled must be 0 or 1");
				return QP_EINVAL;
			}
			q->include_disabled = (int)v;
			break;
		case STATS_Q_STATUS:
			if (vlen > 0 &&
			    stats_lookup(stats_statuses, STATS_NSTATUSES, val) < 0) {
				snprintf(errbuf, errlen, "status must be one of pending, "
				    "completed, client_error, error, client_disconnected, "
				    "interrupted, rejected");
				return QP_EINVAL;
			}
			snprintf(q->status, sizeof(q->status), "%s", val);
			break;
		default:
			break;
		}
		p = amp + 1;
	}
	if (stats_resolve_period(q, have_period ? period : NULL, errbuf, errlen) != QP_OK)
		return QP_EINVAL;
	if (q->from < 0) {
		snprintf(errbuf, errlen, "now is too early: the period would start before 1970");
		return QP_EINVAL;
	}
	q->period_given = have_period;
	q->filters = (q->account[0] ? STATS_F_ACCOUNT : 0) |
	    (q->provider[0] ? STATS_F_PROVIDER : 0) | (q->model[0] ? STATS_F_MODEL : 0) |
	    (q->status[0] ? STATS_F_STATUS : 0);
	return QP_OK;
}

enum qp_err
stats_query_check(enum stats_dataset d, const struct stats_query *q, char *errbuf,
    size_t errlen)
{
	static const char *const fname[4] = { "account", "provider", "model", "status" };
	unsigned extra;
	int i;

	if ((unsigned)d >= STATS_DS__MAX) {
		snprintf(errbuf, errlen, "unknown dataset");
		return QP_EINVAL;
	}
	extra = q->filters & ~stats_ds_names[d].filters;
	for (i = 0; i < 4; i++)
		if (extra & (1u << i)) {
			snprintf(errbuf, errlen, "the %s dataset cannot be filtered by %s",
			    stats_ds_names[d].name, fname[i]);
			return QP_EINVAL;
		}
	return QP_OK;
}
