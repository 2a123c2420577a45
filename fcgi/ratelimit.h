/* ratelimit.h: quotas learned from the rate-limit headers of upstream answers. */
#ifndef QP_RATELIMIT_H
#define QP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* Longest reset accepted, in ms (a later one is junk and ignored): 31 days. */
#define RATELIMIT_RESET_MAX_MS	(31LL * 24 * 3600 * 1000)
/* Largest count accepted (more digits are junk and ignored). */
#define RATELIMIT_COUNT_MAX	999999999999999LL
/* Remaining share (remaining / limit) under which an account counts as low. */
#define RATELIMIT_LOW_SHARE	0.1

/*
 * What a count is about: the stored `kind` of an account_ratelimits row
 * (ratelimit_kind_name()). RETRY_AFTER is a Retry-After sent on a
 * success: remaining 0 until its end.
 */
enum ratelimit_kind {
	RATELIMIT_REQUESTS,		/* "requests" */
	RATELIMIT_TOKENS,		/* "tokens" */
	RATELIMIT_INPUT_TOKENS,		/* "input_tokens" (Anthropic) */
	RATELIMIT_OUTPUT_TOKENS,	/* "output_tokens" (Anthropic) */
	RATELIMIT_UNIFIED,		/* "unified": Anthropic subscription windows */
	RATELIMIT_RETRY_AFTER,		/* "retry_after": Retry-After on a success */
	RATELIMIT_KIND__MAX
};

/* One count as an answer reported it. */
struct ratelimit_count {
	int		 seen;		/* 1 if any header of this kind was valid */
	int64_t		 limit;		/* -1 = not reported */
	int64_t		 remaining;	/* -1 = not reported */
	int64_t		 reset_at;	/* ms since the epoch, 0 = not reported */
};

/* Bits of struct ratelimit_obs.junk: a header recognised but its value rejected. */
#define RATELIMIT_JUNK_COUNT	0x01	/* a limit or remaining count */
#define RATELIMIT_JUNK_RESET	0x02	/* a reset time or duration */
#define RATELIMIT_JUNK_OTHER	0x04	/* a unified status or Retry-After */

/* Everything one answer's head says about the account's quota. */
struct ratelimit_obs {
	struct ratelimit_count	 c[RATELIMIT_KIND__MAX];	/* by enum ratelimit_kind */
	int			 nseen;		/* kinds seen */
	unsigned		 junk;		/* RATELIMIT_JUNK_* bits, for the caller to log */
};

/* Returns the stored name of a kind ("requests", ...), "" when out of range. */
const char	*ratelimit_kind_name(enum ratelimit_kind k);

/*
 * 1 if rows of kind k are per model (the x-ratelimit-* and
 * anthropic-ratelimit-{requests,tokens,...} counts, which providers keep
 * per model), 0 if they hold for the whole account (unified, retry_after).
 */
int		 ratelimit_kind_per_model(enum ratelimit_kind k);

/*
 * Reads the rate-limit headers out of raw (len bytes of "Name: value\r\n"
 * lines, as struct upstream_head.raw; untrusted) into o, resolving reset
 * durations and Retry-After against now (ms). Known headers, names
 * case-insensitive:
 *   x-ratelimit-{limit,remaining}-{requests,tokens}	decimal counts
 *   x-ratelimit-reset-{requests,tokens}		Go-style duration ("6m0s",
 *							"1.5s", "20ms") or seconds
 *   anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
 *	{limit,remaining}				decimal counts
 *	reset						RFC 3339 time
 *   anthropic-ratelimit-unified-status		"rejected" = remaining 0,
 *							anything else = remaining 1
 *   anthropic-ratelimit-unified-reset			Unix seconds
 *   retry-after (only when success is 1)		seconds or HTTP-date
 * A value that does not parse whole, or lies beyond RATELIMIT_COUNT_MAX or
 * RATELIMIT_RESET_MAX_MS, is ignored and marked in o->junk; nothing is
 * ever cut to fit. A later header of the same name wins. Pure: thread-safe.
 */
void		 ratelimit_parse(const char *raw, size_t len, int success, int64_t now,
		    struct ratelimit_obs *o);

/*
 * Parses a duration (s, n bytes): a sequence of number+unit (h, m, s, ms,
 * us, µs, ns; numbers may have a fraction), or a bare number of seconds.
 * Stores ms, rounded up, into *ms. Returns 0, or -1 if invalid or above
 * RATELIMIT_RESET_MAX_MS.
 */
int		 ratelimit_duration_ms(const char *s, size_t n, int64_t *ms);

/*
 * Parses an RFC 3339 time ("2026-12-07T15:30:00Z", fraction and offset
 * allowed) into ms since the epoch. Returns 0, or -1 if invalid.
 */
int		 ratelimit_rfc3339_ms(const char *s, size_t n, int64_t *ms);

/*
 * Stores o for account (and model, for per-model kinds) into
 * account_ratelimits, one row per kind seen, replacing the earlier one.
 * Runs inside the caller's transaction. QP_EDB-style: returns 0, or -1
 * on a database error.
 */
int		 ratelimit_store(sqlite3 *db, const char *account, const char *model,
		    const struct ratelimit_obs *o, int64_t now);

#endif /* QP_RATELIMIT_H */
