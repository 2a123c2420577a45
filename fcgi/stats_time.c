/* stats_time.c: statistics time arithmetic: UTC dates, period ends, a period's rollup buckets. */
#include <string.h>
#include <time.h>

#include "stats_time.h"

/* Buckets of a timeseries at most (the bucket size grows to keep below). */
#define STATS_SERIES_BUCKETS	60

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1). */
static int64_t
stats_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
stats_iso(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t s;

	if (len == 0)
		return;
	s = (time_t)(t < 0 ? 0 : t / 1000);
	if (gmtime_r(&s, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

/* Writes the UTC date of t as "2024-05-01". */
void
stats_date(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t s;

	s = (time_t)(t < 0 ? 0 : t / 1000);
	if (gmtime_r(&s, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		buf[0] = '\0';
}

int64_t
stats_floor(int64_t t, int64_t unit)
{

	return t < 0 ? 0 : t / unit * unit;
}

int64_t
stats_ceil(int64_t t, int64_t unit)
{

	return t <= 0 ? 0 : (t + unit - 1) / unit * unit;
}

/* Reads n decimal digits at s into *v; 0 if any is not a digit. */
static int
stats_digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/*
 * Parses one end of a period: epoch seconds, or "YYYY-MM-DD" with an
 * optional "THH:MM", ":SS" and "Z". Returns 1 and *ms, or 0.
 */
int
stats_parse_time(const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, se = 0, mdays;
	static const int dim[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == n) {
		if (n > 12)
			return 0;
		for (i = 0; i < n; i++)
			v = v * 10 + (s[i] - '0');
		if (v > STATS_TIME_MAX_S)
			return 0;
		*ms = v * 1000;
		return 1;
	}
	if (n < 10 || s[4] != '-' || s[7] != '-' || !stats_digits(s, 4, &y) ||
	    !stats_digits(s + 5, 2, &mo) || !stats_digits(s + 8, 2, &d))
		return 0;
	i = 10;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		if (n < i + 6 || s[i + 3] != ':' || !stats_digits(s + i + 1, 2, &h) ||
		    !stats_digits(s + i + 4, 2, &mi))
			return 0;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || !stats_digits(s + i + 1, 2, &se))
				return 0;
			i += 3;
		}
		if (i < n && (s[i] == 'Z' || s[i] == 'z'))
			i++;
	}
	if (i != n || y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return 0;
	mdays = dim[mo - 1];
	if (mo == 2 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		mdays = 28;
	if (d > mdays)
		return 0;
	*ms = ((stats_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
	return 1;
}

/* ---- plans: which rollup rows cover a period ------------------------------ */

static void
stats_plan_add(struct stats_plan *p, int64_t unit, int64_t a, int64_t b)
{

	if (a >= b || p->n >= STATS_PLAN_RANGES)
		return;
	p->r[p->n][0] = unit / 1000;
	p->r[p->n][1] = a;
	p->r[p->n][2] = b;
	p->n++;
}

/* Covers [a, b) with the coarsest rows up to level unit (a, b on 5-minute marks). */
static void
stats_plan_cover(struct stats_plan *p, int64_t unit, int64_t a, int64_t b)
{
	int64_t c1, c2, lower;

	if (a >= b)
		return;
	if (unit <= STATS_FINE_MS) {
		stats_plan_add(p, STATS_FINE_MS, a, b);
		return;
	}
	lower = unit == STATS_DAY_MS ? STATS_HOUR_MS : STATS_FINE_MS;
	c1 = stats_ceil(a, unit);
	c2 = stats_floor(b, unit);
	if (c1 >= c2) {
		stats_plan_cover(p, lower, a, b);
		return;
	}
	stats_plan_cover(p, lower, a, c1);
	stats_plan_add(p, unit, c1, c2);
	stats_plan_cover(p, lower, c2, b);
}

/*
 * Plans [from, to) with rows no coarser than maxunit (a granularity in
 * ms). Edges fall on 5-minute marks while 5-minute rows are kept, on
 * hours before.
 */
void
stats_plan_make(struct stats_plan *p, int64_t from, int64_t to, int64_t now, int64_t maxunit)
{
	int64_t keep = now - STATS_FINE_KEEP_MS, a, b;

	memset(p, 0, sizeof(*p));
	if (from < 0)
		from = 0;
	a = stats_floor(from, STATS_FINE_MS);
	if (a < keep && maxunit > STATS_FINE_MS)
		a = stats_floor(from, STATS_HOUR_MS);
	b = stats_ceil(to, STATS_FINE_MS);
	if (stats_floor(b - 1, STATS_HOUR_MS) < keep && maxunit > STATS_FINE_MS)
		b = stats_ceil(to, STATS_HOUR_MS);
	if (b <= a)
		b = a + STATS_FINE_MS;
	stats_plan_cover(p, maxunit, a, b);
	p->from = a;
	p->to = b > now && to <= now ? now : b;
}

/* Bucket size (ms) for a period of len ms: at most STATS_SERIES_BUCKETS buckets. */
int64_t
stats_bucket_ms(int64_t len, int fine_ok)
{

	if (len <= 5 * STATS_HOUR_MS && fine_ok)
		return STATS_FINE_MS;
	if (len <= 60 * STATS_HOUR_MS)
		return STATS_HOUR_MS;
	if (len <= 15 * STATS_DAY_MS)
		return 6 * STATS_HOUR_MS;
	return STATS_DAY_MS;
}
