/* cost.h: the cost of one request in integer microdollars, and how sure it is. */
#ifndef QP_COST_H
#define QP_COST_H

#include <stdint.h>

#include "usage.h"

/* Every request cost is capped at $250. */
#define COST_CAP		250000000LL
/* Rates above $1,000 per million tokens are implausible: the price is ignored. */
#define COST_RATE_MAX		1000000000LL
/* Generic prices (microdollars per million tokens) when a rate is unknown. */
#define COST_FALLBACK_INPUT		3000000LL
#define COST_FALLBACK_OUTPUT		15000000LL
#define COST_FALLBACK_CACHE_READ	300000LL
#define COST_FALLBACK_CACHE_WRITE	3750000LL

/* How a cost was obtained, from least to most certain. */
enum cost_exactness {
	COST_EXACTNESS_UNKNOWN,		/* no tokens and no reported cost: 0 */
	COST_EXACTNESS_ESTIMATED,	/* generic prices, or too small to price */
	COST_EXACTNESS_PARTIAL,		/* priced, with generic prices for some categories */
	COST_EXACTNESS_DERIVED,		/* tokens times the model's prices */
	COST_EXACTNESS_EXACT,		/* exact: stored rows only, never computed */
	COST_EXACTNESS_PROVIDER_REPORTED, /* the provider said what it cost */
	COST_EXACTNESS__MAX
};

/* A model's prices in microdollars per million tokens; -1 = unknown. */
struct cost_price {
	int64_t		 input;		/* uncached input tokens */
	int64_t		 output;	/* output tokens (reasoning included) */
	int64_t		 cache_read;	/* input tokens read from cache */
	int64_t		 cache_write;	/* input tokens written to cache */
};

/* A computed cost. */
struct cost {
	int64_t			 microdollars;	/* in [0, COST_CAP] */
	enum cost_exactness	 exactness;	/* how it was obtained */
};

/*
 * Prices one response from what the upstream reported (u) and the
 * model's price (NULL when none is known). A provider-reported cost wins
 * (provider_reported). Otherwise, with no tokens: 0, unknown. With no
 * price or a rate above COST_RATE_MAX: generic prices, estimated. When
 * every category that has tokens is priced: round(sum of tokens x rate /
 * 1e6), derived; when only some are, generic prices fill in, partial;
 * when none are, estimated. A priced cost that rounds to 0 although the
 * rates are not all zero becomes 1 microdollar, estimated. OpenAI input
 * counts include cache reads and writes, which are taken out before
 * input is priced. Always at most COST_CAP. Pure function: thread-safe.
 */
struct cost	 cost_compute(const struct usage *u, const struct cost_price *price);

/* Returns the stored name of e ("provider_reported", "derived", ...). */
const char	*cost_exactness_name(enum cost_exactness e);

/*
 * Returns the exactness whose stored name is name, or
 * COST_EXACTNESS__MAX if none is.
 */
enum cost_exactness cost_exactness_from_name(const char *name);

#endif /* QP_COST_H */
