/* ratelimit.c: quotas learned from the rate-limit headers of upstream answers. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sqlite3.h>

#include "failover.h"
#include "ratelimit.h"

/* Which field of a count a header sets, and how its value is written. */
enum ratelimit_field {
	RATELIMIT_F_LIMIT,	/* decimal count */
	RATELIMIT_F_REMAINING,	/* decimal count */
	RATELIMIT_F_RESET_DUR,	/* duration from now */
	RATELIMIT_F_RESET_TIME,	/* RFC 3339 time */
	RATELIMIT_F_RESET_UNIX,	/* Unix seconds */
	RATELIMIT_F_STATUS,	/* unified status word */
	RATELIMIT_F_RETRY,	/* Retry-After */
};

struct ratelimit_header {
	const char		*name;
	enum ratelimit_kind	 kind;
	enum ratelimit_field	 field;
};

static const struct ratelimit_header ratelimit_headers[] = {
	{ "x-ratelimit-limit-requests", RATELIMIT_REQUESTS, RATELIMIT_F_LIMIT },
	{ "x-ratelimit-limit-tokens", RATELIMIT_TOKENS, RATELIMIT_F_LIMIT },
	{ "x-ratelimit-remaining-requests", RATELIMIT_REQUESTS, RATELIMIT_F_REMAINING },
	{ "x-ratelimit-remaining-tokens", RATELIMIT_TOKENS, RATELIMIT_F_REMAINING },
	{ "x-ratelimit-reset-requests", RATELIMIT_REQUESTS, RATELIMIT_F_RESET_DUR },
	{ "x-ratelimit-reset-tokens", RATELIMIT_TOKENS, RATELIMIT_F_RESET_DUR },
	{ "anthropic-ratelimit-requests-limit", RATELIMIT_REQUESTS, RATELIMIT_F_LIMIT },
	{ "anthropic-ratelimit-requests-remaining", RATELIMIT_REQUESTS, RATELIMIT_F_REMAINING },
	{ "anthropic-ratelimit-requests-reset", RATELIMIT_REQUESTS, RATELIMIT_F_RESET_TIME },
	{ "anthropic-ratelimit-tokens-limit", RATELIMIT_TOKENS, RATELIMIT_F_LIMIT },
	{ "anthropic-ratelimit-tokens-remaining", RATELIMIT_TOKENS, RATELIMIT_F_REMAINING },
	{ "anthropic-ratelimit-tokens-reset", RATELIMIT_TOKENS, RATELIMIT_F_RESET_TIME },
	{ "anthropic-ratelimit-input-tokens-limit", RATELIMIT_INPUT_TOKENS, RATELIMIT_F_LIMIT },
	{ "anthropic-ratelimit-input-tokens-remaining", RATELIMIT_INPUT_TOKENS,
	    RATELIMIT_F_REMAINING },
	{ "anthropic-ratelimit-input-tokens-reset", RATELIMIT_INPUT_TOKENS,
	    RATELIMIT_F_RESET_TIME },
	{ "anthropic-ratelimit-output-tokens-limit", RATELIMIT_OUTPUT_TOKENS, RATELIMIT_F_LIMIT },
	{ "anthropic-ratelimit-output-tokens-remaining", RATELIMIT_OUTPUT_TOKENS,
	    RATELIMIT_F_REMAINING },
	{ "anthropic-ratelimit-output-tokens-reset", RATELIMIT_OUTPUT_TOKENS,
	    RATELIMIT_F_RESET_TIME },
	{ "anthropic-ratelimit-unified-status", RATELIMIT_UNIFIED, RATELIMIT_F_STATUS },
	{ "anthropic-ratelimit-unified-reset", RATELIMIT_UNIFIED, RATELIMIT_F_RESET_UNIX },
	{ "retry-after", RATELIMIT_RETRY_AFTER, RATELIMIT_F_RETRY },
};

static const char *const ratelimit_kind_names[RATELIMIT_KIND__MAX] = {
	[RATELIMIT_REQUESTS] = "requests",
	[RATELIMIT_TOKENS] = "tokens",
	[RATELIMIT_INPUT_TOKENS] = "input_tokens",
	[RATELIMIT_OUTPUT_TOKENS] = "output_tokens",
	[RATELIMIT_UNIFIED] = "unified",
	[RATELIMIT_RETRY_AFTER] = "retry_after",
};

/* Duration units, longest suffix first where one is a prefix of another. */
static const struct {
	const char	*unit;
	int64_t		 ns;
} ratelimit_units[] = {
	{ "ms", 1000000LL }, { "us", 1000LL }, { "\xc2\xb5s", 1000LL }, { "ns", 1LL },
	{ "h", 3600000000000LL }, { "m", 60000000000LL }, { "s", 1000000000LL },
};

#define RATELIMIT_NS_MAX	(RATELIMIT_RESET_MAX_MS * 1000000LL)

const char *
ratelimit_kind_name(enum ratelimit_kind k)
{

	return (unsigned)k < RATELIMIT_KIND__MAX ? ratelimit_kind_names[k] : "";
}

int
ratelimit_kind_per_model(enum ratelimit_kind k)
{

	return k != RATELIMIT_UNIFIED && k != RATELIMIT_RETRY_AFTER;
}

/* Parses n bytes of decimal digits (1 to 15 of them) into *v. */
static int
ratelimit_count(const char *s, size_t n, int64_t *v)
{
	size_t i;

	if (n == 0 || n > 15)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return *v <= RATELIMIT_COUNT_MAX ? 0 : -1;
}

int
ratelimit_duration_ms(const char *s, size_t n, int64_t *ms)
{
	size_t i = 0, k, ul;
	int64_t total = 0, whole, frac, scale, part;
	int digits, any = 0;

	if (n == 0)
		return -1;
	while (i < n) {
		whole = 0;
		frac = 0;
		scale = 1;
		digits = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			if (whole > RATELIMIT_NS_MAX)
				return -1;
			whole = whole * 10 + (s[i] - '0');
		}
		if (i < n && s[i] == '.') {
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
				if (scale < 1000000000LL) {
					frac = frac * 10 + (s[i] - '0');
					scale *= 10;
				}
		}
		if (digits == 0)
			return -1;
		if (i == n && !any) {
			/* A bare number: seconds. */
			if (whole > RATELIMIT_RESET_MAX_MS / 1000)
				return -1;
			total = whole * 1000000000LL + frac * (1000000000LL / scale);
			any = 1;
			break;
		}
		for (k = 0; k < sizeof(ratelimit_units) / sizeof(ratelimit_units[0]); k++) {
			ul = strlen(ratelimit_units[k].unit);
			if (n - i >= ul && memcmp(s + i, ratelimit_units[k].unit, ul) == 0)
				break;
		}
		if (k == sizeof(ratelimit_units) / sizeof(ratelimit_units[0]))
			return -1;
		i += strlen(ratelimit_units[k].unit);
		if (whole > RATELIMIT_NS_MAX / ratelimit_units[k].ns)
			return -1;
		part = whole * ratelimit_units[k].ns;
		part += (int64_t)((double)frac / (double)scale * (double)ratelimit_units[k].ns);
		total += part;
		if (total > RATELIMIT_NS_MAX)
			return -1;
		any = 1;
	}
	if (!any || total > RATELIMIT_NS_MAX)
		return -1;
	*ms = (total + 999999) / 1000000;
	return 0;
}

/* Reads exactly w digits at s into *v. */
static int
ratelimit_digits(const char *s, int w, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < w; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
ratelimit_days(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
ratelimit_rfc3339_ms(const char *s, size_t n, int64_t *ms)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh, om, sign;
	int64_t frac = 0, scale = 1000, t;
	size_t i;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' &&
	    s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
	    ratelimit_digits(s, 4, &y) || ratelimit_digits(s + 5, 2, &mo) ||
	    ratelimit_digits(s + 8, 2, &d) || ratelimit_digits(s + 11, 2, &h) ||
	    ratelimit_digits(s + 14, 2, &mi) || ratelimit_digits(s + 17, 2, &sec))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	i = 19;
	if (i < n && s[i] == '.') {
		if (++i >= n || s[i] < '0' || s[i] > '9')
			return -1;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1) {
				scale /= 10;
				frac += (s[i] - '0') * scale;
			}
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
		oh = om = sign = 0;
	else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
	    !ratelimit_digits(s + i + 1, 2, &oh) && !ratelimit_digits(s + i + 4, 2, &om) &&
	    oh <= 23 && om <= 59)
		sign = s[i] == '+' ? 1 : -1;
	else
		return -1;
	t = ratelimit_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac;
	return 0;
}

/* Applies one recognised header's value to o. */
static void
ratelimit_apply(const struct ratelimit_header *hd, const char *v, size_t vl, int success,
    int64_t now, struct ratelimit_obs *o)
{
	struct ratelimit_count *c = &o->c[hd->kind];
	int64_t x;

	switch (hd->field) {
	case RATELIMIT_F_LIMIT:
	case RATELIMIT_F_REMAINING:
		if (ratelimit_count(v, vl, &x) != 0) {
			o->junk |= RATELIMIT_JUNK_COUNT;
			return;
		}
		if (hd->field == RATELIMIT_F_LIMIT)
			c->limit = x;
		else
			c->remaining = x;
		break;
	case RATELIMIT_F_RESET_DUR:
		if (ratelimit_duration_ms(v, vl, &x) != 0) {
			o->junk |= RATELIMIT_JUNK_RESET;
			return;
		}
		c->reset_at = now + x;
		break;
	case RATELIMIT_F_RESET_TIME:
		if (ratelimit_rfc3339_ms(v, vl, &x) != 0 || x > now + RATELIMIT_RESET_MAX_MS) {
			o->junk |= RATELIMIT_JUNK_RESET;
			return;
		}
		c->reset_at = x;
		break;
	case RATELIMIT_F_RESET_UNIX:
		if (ratelimit_count(v, vl, &x) != 0 || x > (now + RATELIMIT_RESET_MAX_MS) / 1000) {
			o->junk |= RATELIMIT_JUNK_RESET;
			return;
		}
		c->reset_at = x * 1000;
		break;
	case RATELIMIT_F_STATUS:
		if (vl == 0) {
			o->junk |= RATELIMIT_JUNK_OTHER;
			return;
		}
		c->remaining = vl == 8 && strncasecmp(v, "rejected", 8) == 0 ? 0 : 1;
		break;
	case RATELIMIT_F_RETRY:
		if (!success)
			return;
		if ((x = failover_retry_after(v, vl, now)) < 0 ||
		    x * 1000 > RATELIMIT_RESET_MAX_MS) {
			o->junk |= RATELIMIT_JUNK_OTHER;
			return;
		}
		c->remaining = 0;
		c->reset_at = now + x * 1000;
		break;
	}
	if (!c->seen)
		o->nseen++;
	c->seen = 1;
}

void
ratelimit_parse(const char *raw, size_t len, int success, int64_t now, struct ratelimit_obs *o)
{
	const char *line, *end, *colon, *v, *ve;
	size_t nl, k, i;

	memset(o, 0, sizeof(*o));
	for (k = 0; k < RATELIMIT_KIND__MAX; k++)
		o->c[k].limit = o->c[k].remaining = -1;
	for (line = raw; raw != NULL && line < raw + len; line = end + 1) {
		if ((end = memchr(line, '\n', (size_t)(raw + len - line))) == NULL)
			end = raw + len;
		ve = end;
		if (ve > line && ve[-1] == '\r')
			ve--;
		if ((colon = memchr(line, ':', (size_t)(ve - line))) == NULL)
			continue;
		nl = (size_t)(colon - line);
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (i = 0; i < sizeof(ratelimit_headers) / sizeof(ratelimit_headers[0]); i++)
			if (strlen(ratelimit_headers[i].name) == nl &&
			    strncasecmp(line, ratelimit_headers[i].name, nl) == 0) {
				ratelimit_apply(&ratelimit_headers[i], v, (size_t)(ve - v),
				    success, now, o);
				break;
			}
		if (end == raw + len)
			break;
	}
}

/* One row per kind seen; a kind not reported keeps NULL in its columns. */
#define RATELIMIT_SQL_STORE "INSERT INTO account_ratelimits (account_name, model_id, kind, " \
	"lim, remaining, reset_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) " \
	"ON CONFLICT (account_name, model_id, kind) DO UPDATE SET lim = excluded.lim, " \
	"remaining = excluded.remaining, reset_at = excluded.reset_at, " \
	"updated_at = excluded.updated_at"

int
ratelimit_store(sqlite3 *db, const char *account, const char *model,
    const struct ratelimit_obs *o, int64_t now)
{
	sqlite3_stmt *st = NULL;
	const struct ratelimit_count *c;
	int k, rc = 0;

	if (o->nseen == 0 || account == NULL)
		return 0;
	if (sqlite3_prepare_v2(db, RATELIMIT_SQL_STORE, -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (k = 0; k < RATELIMIT_KIND__MAX && rc == 0; k++) {
		c = &o->c[k];
		if (!c->seen)
			continue;
		sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ratelimit_kind_per_model(k) && model != NULL ?
		    model : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, ratelimit_kind_names[k], -1, SQLITE_STATIC);
		if (c->limit >= 0)
			sqlite3_bind_int64(st, 4, c->limit);
		else
			sqlite3_bind_null(st, 4);
		if (c->remaining >= 0)
			sqlite3_bind_int64(st, 5, c->remaining);
		else
			sqlite3_bind_null(st, 5);
		if (c->reset_at > 0)
			sqlite3_bind_int64(st, 6, c->reset_at);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	return rc;
}
