/* stats_time.h: statistics time arithmetic: UTC dates, period ends, a period's rollup buckets. */
#ifndef QP_STATS_TIME_H
#define QP_STATS_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Rollup granularities in ms: 5 minutes, an hour, a UTC day. */
#define STATS_FINE_MS		300000LL
#define STATS_HOUR_MS		3600000LL
#define STATS_DAY_MS		86400000LL
/* 5-minute rollup rows are kept this long (ms); older period edges round to the hour. */
#define STATS_FINE_KEEP_MS	(2LL * 86400 * 1000)
/* Latest representable time accepted from a query (9999-12-31T23:59:59Z), in seconds. */
#define STATS_TIME_MAX_S	253402300799LL
/* Ranges of one rollup plan. */
#define STATS_PLAN_RANGES	5

/* Up to five ranges of rollup buckets that cover [from, to) without overlap. Plain data. */
struct stats_plan {
	int64_t		 r[STATS_PLAN_RANGES][3];	/* bucket_s, first start, end (ms) */
	int		 n;				/* ranges used */
	int64_t		 from;				/* what the ranges cover */
	int64_t		 to;
};

/*
 * Formats t (ms since the epoch) as "2024-05-01T10:00:00Z" into buf
 * (at least 21 bytes). Thread-safe.
 */
void		 stats_iso(int64_t t, char *buf, size_t len);

/* Formats the UTC date of t (ms since the epoch) as "2024-05-01" into buf. Thread-safe. */
void		 stats_date(int64_t t, char *buf, size_t len);

/* Returns t rounded down (stats_floor) or up (stats_ceil) to a multiple of unit; 0 below 0. */
int64_t		 stats_floor(int64_t t, int64_t unit);
int64_t		 stats_ceil(int64_t t, int64_t unit);

/*
 * Parses one end of a period (s, n bytes, untrusted): epoch seconds up to
 * STATS_TIME_MAX_S, or "YYYY-MM-DD" (from 1970) with an optional "THH:MM",
 * ":SS" and "Z". Returns 1 with *ms (ms since the epoch), or 0. Thread-safe.
 */
int		 stats_parse_time(const char *s, size_t n, int64_t *ms);

/*
 * Fills p with the rollup ranges that cover [from, to) with rows no
 * coarser than maxunit (STATS_FINE_MS, STATS_HOUR_MS or STATS_DAY_MS):
 * the coarsest rows in the middle, finer ones at the edges. Edges fall on
 * 5-minute marks while 5-minute rows are kept (STATS_FINE_KEEP_MS before
 * now), on hours before; p->from and p->to are the edges covered (to is
 * cut at now when the period ends at now). Thread-safe.
 */
void		 stats_plan_make(struct stats_plan *p, int64_t from, int64_t to, int64_t now,
		    int64_t maxunit);

/*
 * Returns the bucket size (ms) of a timeseries over a period of len ms:
 * 5 minutes (only when fine_ok), an hour, 6 hours or a day, so that there
 * are about 60 buckets at most. Thread-safe.
 */
int64_t		 stats_bucket_ms(int64_t len, int fine_ok);

#endif /* QP_STATS_TIME_H */
