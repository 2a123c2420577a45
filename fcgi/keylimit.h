/* keylimit.h: the limits of a client key (rate, tokens, budget, models) and their arithmetic. */
#ifndef QP_KEYLIMIT_H
#define QP_KEYLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Longest model glob list a key carries ("glob,glob,..."). */
#define KEYLIMIT_MODELS_MAX	512
/* Largest rpm or tpm a key may be given. */
#define KEYLIMIT_RATE_MAX	1000000000LL
/* Largest budget, in whole dollars. */
#define KEYLIMIT_BUDGET_MAX_USD	10000000LL
/* The rate window (ms). */
#define KEYLIMIT_MINUTE_MS	60000LL

/* Budget periods, in UTC. */
enum keylimit_period {
	KEYLIMIT_PERIOD_NONE,	/* no budget */
	KEYLIMIT_PERIOD_DAY,	/* "day": from UTC midnight */
	KEYLIMIT_PERIOD_MONTH,	/* "month": from the first of the UTC month */
	KEYLIMIT_PERIOD__MAX
};

/* What a key is allowed; 0 / NONE / "" = no limit of that kind. */
struct keylimit_policy {
	int64_t		 rpm;			/* requests per minute */
	int64_t		 tpm;			/* tokens per minute */
	int64_t		 budget;		/* microdollars per period */
	enum keylimit_period period;		/* of the budget */
	char		 models[KEYLIMIT_MODELS_MAX + 1]; /* comma-separated globs, "" = any */
};

/* A key's use, as read in the transaction that decides. */
struct keylimit_usage {
	int64_t		 minute_requests;	/* requests started in the last minute (not refused) */
	int64_t		 minute_tokens;		/* their tokens, finished ones */
	int64_t		 minute_oldest;		/* start of the oldest of them (ms), 0 = none */
	int64_t		 spent;			/* microdollars of the current budget period */
	int64_t		 reserved_tokens;	/* in-flight reservations' estimates */
	int64_t		 reserved_microdollars;
};

/* Verdicts, in the order they are checked. */
enum keylimit_verdict {
	KEYLIMIT_OK,		/* "ok" */
	KEYLIMIT_MODEL,		/* "model": the model matches none of the globs (403) */
	KEYLIMIT_BUDGET,	/* "budget": the period's budget is spent (429 until it resets) */
	KEYLIMIT_RPM,		/* "rpm": requests per minute reached (429) */
	KEYLIMIT_TPM,		/* "tpm": tokens per minute reached (429) */
	KEYLIMIT__MAX
};

/* Returns "ok", "model", "budget", "rpm" or "tpm". */
const char	*keylimit_verdict_name(enum keylimit_verdict v);

/* Returns "day", "month", or "" for none. */
const char	*keylimit_period_name(enum keylimit_period p);

/* Returns the period called name ("day", "month"), KEYLIMIT_PERIOD__MAX if none. */
enum keylimit_period keylimit_period_from_name(const char *name);

/* Start (inclusive) and end (exclusive) in ms of the UTC period holding now. */
int64_t		 keylimit_period_start(enum keylimit_period p, int64_t now);
int64_t		 keylimit_period_end(enum keylimit_period p, int64_t now);

/*
 * Parses a budget "AMOUNT/day" or "AMOUNT/month", AMOUNT in USD with at
 * most 6 decimals (e.g. 20, 0.5, 300.25), > 0 and at most
 * KEYLIMIT_BUDGET_MAX_USD. Returns 0 with *micro and *period set, -1 if
 * invalid.
 */
int		 keylimit_parse_budget(const char *s, int64_t *micro,
		    enum keylimit_period *period);

/*
 * Checks a glob list for storage: 1-KEYLIMIT_MODELS_MAX bytes of
 * printable ASCII, comma-separated non-empty globs (spaces around them
 * are dropped). Writes the normalized list to out (KEYLIMIT_MODELS_MAX +
 * 1 bytes). Returns 0, or -1 if invalid.
 */
int		 keylimit_models_normalize(const char *in, char *out);

/* Returns 1 if model matches one of the globs (fnmatch(3), no flags), or globs is "". */
int		 keylimit_models_allow(const char *globs, const char *model);

/*
 * Judges a request for model (as the client named it; base is the same
 * without a provider suffix, either matching is enough) at now against
 * pol and use u: the model first, then the budget (spent + reserved >=
 * budget), then rpm (requests >= rpm), then tpm (tokens + reserved >=
 * tpm). For a refusal *retry_at gets when it may pass again (ms): the end
 * of the budget period, or the oldest request of the minute leaving it
 * (at least 1 s ahead); 0 for a model refusal.
 */
enum keylimit_verdict keylimit_judge(const struct keylimit_policy *pol,
		    const struct keylimit_usage *u, const char *model, const char *base,
		    int64_t now, int64_t *retry_at);

#endif /* QP_KEYLIMIT_H */
