/* cost.h: the cost of one request in integer microdollars, and how sure it is. */
#ifndef QP_COST_H
#define QP_COST_H

#include <stdint.h>

#include "usage.h"

/* Every request cost is capped at $250. */
#define COST_CAP		250000000LL
/* Rates above $1,000 per million tokens are implausible: the price is ignored. */
#define COST_RATE_MAX		1000000000LL
/*
 * Rate (microdollars per million input tokens) that sizes a reservation when
 * the model's input price is not known yet. Never used to price a request.
 */
#define COST_RESERVATION_RATE	3000000LL
/* Most price tiers one model has (e.g. above 200k input tokens). */
#define COST_TIERS_MAX		4

/* How a cost was obtained, from least to most certain. */
enum cost_exactness {
	COST_EXACTNESS_UNKNOWN,		/* no tokens, or no price: 0 */
	COST_EXACTNESS_ESTIMATED,	/* priced below one microdollar: 1 */
	COST_EXACTNESS_PARTIAL,		/* priced, but some category with tokens had no rate */
	COST_EXACTNESS_DERIVED,		/* tokens times the model's prices */
	COST_EXACTNESS_EXACT,		/* exact: stored rows only, never computed */
	COST_EXACTNESS_PROVIDER_REPORTED, /* the provider said what it cost */
	COST_EXACTNESS__MAX
};

/* Where a price came from, strongest first (stored as requests.price_source). */
enum cost_source {
	COST_SOURCE_NONE,		/* "none": no price was found */
	COST_SOURCE_PROVIDER_REPORTED,	/* "provider_reported": the provider's own cost */
	COST_SOURCE_OVERRIDE,		/* "model_overrides": the operator's [model_overrides] */
	COST_SOURCE_PROVIDER_CATALOG,	/* "provider_catalog": the provider's model list */
	COST_SOURCE_CATALOG,		/* "catalog": the shipped providers/prices.json */
	COST_SOURCE__MAX
};

/*
 * Rates of one tier: they replace the base rates once the request's input
 * tokens (uncached, cache reads and cache writes together) exceed above.
 */
struct cost_tier {
	int64_t		 above;		/* input tokens the tier starts after */
	int64_t		 input;		/* as in struct cost_price */
	int64_t		 output;
	int64_t		 cache_read;
	int64_t		 cache_write;
};

/*
 * A model's prices in microdollars per million tokens; -1 = unknown. A
 * cache rate that is unknown means cache tokens cost the input rate (the
 * provider bills them as input).
 */
struct cost_price {
	int64_t		 input;		/* uncached input tokens */
	int64_t		 output;	/* output tokens (reasoning included) */
	int64_t		 cache_read;	/* input tokens read from cache */
	int64_t		 cache_write;	/* input tokens written to cache */
	int		 ntiers;	/* tiers in use, in [0, COST_TIERS_MAX] */
	struct cost_tier tier[COST_TIERS_MAX]; /* by ascending above */
};

/* A computed cost. */
struct cost {
	int64_t			 microdollars;	/* in [0, COST_CAP] */
	enum cost_exactness	 exactness;	/* how it was obtained */
};

/*
 * Prices one response from what the upstream reported (u) and the
 * model's price (NULL when none is known). A provider-reported cost wins
 * (provider_reported). Otherwise, with no tokens: 0, unknown. The rates
 * are those of the last tier whose above the input tokens exceed, else
 * the base ones; a rate above COST_RATE_MAX makes the whole price
 * unknown. Cache tokens without a cache rate cost the input rate;
 * reasoning tokens are output. When every category that has tokens is
 * priced: round(sum of tokens x rate / 1e6), derived; when only some
 * are, the sum of those, partial; when none are: 0, unknown (nothing is
 * ever priced at a default). A priced cost that rounds to 0 although a
 * rate is not zero becomes 1 microdollar, estimated. OpenAI input counts
 * include cache reads and writes, which are taken out before input is
 * priced. Always at most COST_CAP. Pure function: thread-safe.
 */
struct cost	 cost_compute(const struct usage *u, const struct cost_price *price);

/* Returns the stored name of e ("provider_reported", "derived", ...). */
const char	*cost_exactness_name(enum cost_exactness e);

/* Returns the stored name of s ("catalog", "model_overrides", ...). */
const char	*cost_source_name(enum cost_source s);

/*
 * Returns the exactness whose stored name is name, or
 * COST_EXACTNESS__MAX if none is.
 */
enum cost_exactness cost_exactness_from_name(const char *name);

#endif /* QP_COST_H */
