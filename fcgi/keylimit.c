/* keylimit.c: the limits of a client key and their arithmetic (no database). */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keylimit.h"

#define KEYLIMIT_DAY_MS		86400000LL

static const char *const keylimit_verdict_names[KEYLIMIT__MAX] = {
	[KEYLIMIT_OK] = "ok",
	[KEYLIMIT_MODEL] = "model",
	[KEYLIMIT_BUDGET] = "budget",
	[KEYLIMIT_RPM] = "rpm",
	[KEYLIMIT_TPM] = "tpm",
};

static const char *const keylimit_period_names[KEYLIMIT_PERIOD__MAX] = {
	[KEYLIMIT_PERIOD_NONE] = "",
	[KEYLIMIT_PERIOD_DAY] = "day",
	[KEYLIMIT_PERIOD_MONTH] = "month",
};

const char *
keylimit_verdict_name(enum keylimit_verdict v)
{

	return (unsigned)v < KEYLIMIT__MAX ? keylimit_verdict_names[v] : "unknown";
}

const char *
keylimit_period_name(enum keylimit_period p)
{

	return (unsigned)p < KEYLIMIT_PERIOD__MAX ? keylimit_period_names[p] : "";
}

enum keylimit_period
keylimit_period_from_name(const char *name)
{
	int i;

	for (i = KEYLIMIT_PERIOD_DAY; name != NULL && i < KEYLIMIT_PERIOD__MAX; i++)
		if (strcmp(name, keylimit_period_names[i]) == 0)
			return (enum keylimit_period)i;
	return KEYLIMIT_PERIOD__MAX;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t
keylimit_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The UTC year and month holding now. */
static void
keylimit_month(int64_t now, int64_t *y, int *m)
{
	time_t t = (time_t)(now / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	*y = (int64_t)tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
}

int64_t
keylimit_period_start(enum keylimit_period p, int64_t now)
{
	int64_t y;
	int m;

	if (p == KEYLIMIT_PERIOD_DAY)
		return now / KEYLIMIT_DAY_MS * KEYLIMIT_DAY_MS;
	if (p == KEYLIMIT_PERIOD_MONTH) {
		keylimit_month(now, &y, &m);
		return keylimit_days(y, m, 1) * KEYLIMIT_DAY_MS;
	}
	return 0;
}

int64_t
keylimit_period_end(enum keylimit_period p, int64_t now)
{
	int64_t y;
	int m;

	if (p == KEYLIMIT_PERIOD_DAY)
		return keylimit_period_start(p, now) + KEYLIMIT_DAY_MS;
	if (p == KEYLIMIT_PERIOD_MONTH) {
		keylimit_month(now, &y, &m);
		if (m == 12) {
			y++;
			m = 1;
		} else
			m++;
		return keylimit_days(y, m, 1) * KEYLIMIT_DAY_MS;
	}
	return 0;
}

int
keylimit_parse_budget(const char *s, int64_t *micro, enum keylimit_period *period)
{
	const char *slash, *p;
	int64_t whole = 0, frac = 0, scale = 100000;
	int digits = 0, decimals = 0;

	if (s == NULL || (slash = strchr(s, '/')) == NULL)
		return -1;
	if ((*period = keylimit_period_from_name(slash + 1)) == KEYLIMIT_PERIOD__MAX)
		return -1;
	for (p = s; p < slash && *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (*p - '0');
		if (whole > KEYLIMIT_BUDGET_MAX_USD)
			return -1;
	}
	if (digits == 0)
		return -1;
	if (p < slash && *p == '.') {
		for (p++; p < slash && *p >= '0' && *p <= '9'; p++, decimals++) {
			if (decimals == 6)
				return -1;
			frac += (*p - '0') * scale;
			scale /= 10;
		}
		if (decimals == 0)
			return -1;
	}
	if (p != slash)
		return -1;
	*micro = whole * 1000000 + frac;
	if (*micro <= 0 || *micro > KEYLIMIT_BUDGET_MAX_USD * 1000000)
		return -1;
	return 0;
}

int
keylimit_models_normalize(const char *in, char *out)
{
	const char *p = in, *start, *end;
	size_t n = 0, len;

	out[0] = '\0';
	for (;;) {
		while (*p == ' ')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return -1;
			else
				p++;
		end = p;
		while (end > start && end[-1] == ' ')
			end--;
		len = (size_t)(end - start);
		if (len == 0 || n + len + (n > 0) > KEYLIMIT_MODELS_MAX)
			return -1;
		if (n > 0)
			out[n++] = ',';
		memcpy(out + n, start, len);
		n += len;
		out[n] = '\0';
		if (*p == '\0')
			break;
		p++;
	}
	return 0;
}

int
keylimit_models_allow(const char *globs, const char *model)
{
	char one[KEYLIMIT_MODELS_MAX + 1];
	const char *p, *comma;
	size_t len;

	if (globs == NULL || globs[0] == '\0')
		return 1;
	if (model == NULL)
		return 0;
	for (p = globs; ; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len > KEYLIMIT_MODELS_MAX)
			len = KEYLIMIT_MODELS_MAX;
		memcpy(one, p, len);
		one[len] = '\0';
		if (len > 0 && fnmatch(one, model, 0) == 0)
			return 1;
		if (comma == NULL)
			return 0;
	}
}

/* When the oldest request of the minute leaves it, at least 1 s ahead. */
static int64_t
keylimit_minute_retry(const struct keylimit_usage *u, int64_t now)
{
	int64_t at = u->minute_oldest > 0 ? u->minute_oldest + KEYLIMIT_MINUTE_MS : now;

	return at < now + 1000 ? now + 1000 : at;
}

enum keylimit_verdict
keylimit_judge(const struct keylimit_policy *pol, const struct keylimit_usage *u,
    const char *model, const char *base, int64_t now, int64_t *retry_at)
{

	*retry_at = 0;
	if (!keylimit_models_allow(pol->models, model) &&
	    !keylimit_models_allow(pol->models, base))
		return KEYLIMIT_MODEL;
	if (pol->budget > 0 && pol->period != KEYLIMIT_PERIOD_NONE &&
	    u->spent + u->reserved_microdollars >= pol->budget) {
		*retry_at = keylimit_period_end(pol->period, now);
		return KEYLIMIT_BUDGET;
	}
	if (pol->rpm > 0 && u->minute_requests >= pol->rpm) {
		*retry_at = keylimit_minute_retry(u, now);
		return KEYLIMIT_RPM;
	}
	if (pol->tpm > 0 && u->minute_tokens + u->reserved_tokens >= pol->tpm) {
		*retry_at = keylimit_minute_retry(u, now);
		return KEYLIMIT_TPM;
	}
	return KEYLIMIT_OK;
}
