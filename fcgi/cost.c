/* cost.c: turns token counts and prices into microdollars with an exactness label. */
#include <string.h>

#include "cost.h"

/* Token categories priced separately. */
enum cost_cat {
	COST_CAT_INPUT,		/* uncached input */
	COST_CAT_OUTPUT,	/* output */
	COST_CAT_CACHE_READ,	/* cache reads */
	COST_CAT_CACHE_WRITE,	/* cache writes */
	COST_CAT__MAX
};

static const char *const cost_names[COST_EXACTNESS__MAX] = {
	[COST_EXACTNESS_UNKNOWN] = "unknown",
	[COST_EXACTNESS_ESTIMATED] = "estimated",
	[COST_EXACTNESS_PARTIAL] = "partial",
	[COST_EXACTNESS_DERIVED] = "derived",
	[COST_EXACTNESS_EXACT] = "exact",
	[COST_EXACTNESS_PROVIDER_REPORTED] = "provider_reported",
};

static const int64_t cost_fallback[COST_CAT__MAX] = {
	[COST_CAT_INPUT] = COST_FALLBACK_INPUT,
	[COST_CAT_OUTPUT] = COST_FALLBACK_OUTPUT,
	[COST_CAT_CACHE_READ] = COST_FALLBACK_CACHE_READ,
	[COST_CAT_CACHE_WRITE] = COST_FALLBACK_CACHE_WRITE,
};

const char *
cost_exactness_name(enum cost_exactness e)
{

	return (unsigned)e < COST_EXACTNESS__MAX ? cost_names[e] : "unknown";
}

enum cost_exactness
cost_exactness_from_name(const char *name)
{
	int i;

	for (i = 0; i < COST_EXACTNESS__MAX; i++)
		if (name != NULL && strcmp(name, cost_names[i]) == 0)
			return (enum cost_exactness)i;
	return COST_EXACTNESS__MAX;
}

/* Returns a count as a token number in [0, USAGE_TOKENS_MAX]. */
static uint64_t
cost_tokens(int64_t n)
{

	if (n < 0)
		return 0;
	return n > USAGE_TOKENS_MAX ? (uint64_t)USAGE_TOKENS_MAX : (uint64_t)n;
}

/* Returns microdollars for sum (token x microdollars-per-million), rounded. */
static int64_t
cost_round(uint64_t sum)
{
	uint64_t m = (sum + 500000) / 1000000;

	return m > (uint64_t)COST_CAP ? COST_CAP : (int64_t)m;
}

struct cost
cost_compute(const struct usage *u, const struct cost_price *price)
{
	struct cost c = { 0, COST_EXACTNESS_UNKNOWN };
	uint64_t tok[COST_CAT__MAX], sum = 0, fsum = 0;
	int64_t rate[COST_CAT__MAX];
	int i, priced = 0, missing = 0, generic = 0, nonzero = 0, any = 0;

	if (u->cost_microdollars >= 0) {
		c.microdollars = u->cost_microdollars > COST_CAP ? COST_CAP :
		    u->cost_microdollars;
		c.exactness = COST_EXACTNESS_PROVIDER_REPORTED;
		return c;
	}
	tok[COST_CAT_CACHE_READ] = cost_tokens(u->cache_read_tokens);
	tok[COST_CAT_CACHE_WRITE] = cost_tokens(u->cache_write_tokens);
	tok[COST_CAT_OUTPUT] = cost_tokens(u->output_tokens);
	tok[COST_CAT_INPUT] = cost_tokens(u->input_tokens);
	if (u->input_includes_cache) {
		uint64_t cached = tok[COST_CAT_CACHE_READ] + tok[COST_CAT_CACHE_WRITE];

		tok[COST_CAT_INPUT] = tok[COST_CAT_INPUT] > cached ?
		    tok[COST_CAT_INPUT] - cached : 0;
	}
	for (i = 0; i < COST_CAT__MAX; i++)
		if (tok[i] > 0)
			any = 1;
	if (!any)
		return c;
	rate[COST_CAT_INPUT] = price != NULL ? price->input : -1;
	rate[COST_CAT_OUTPUT] = price != NULL ? price->output : -1;
	rate[COST_CAT_CACHE_READ] = price != NULL ? price->cache_read : -1;
	rate[COST_CAT_CACHE_WRITE] = price != NULL ? price->cache_write : -1;
	for (i = 0; i < COST_CAT__MAX; i++)
		if (rate[i] > COST_RATE_MAX)
			generic = 1;
	/*
	 * Tokens stay below 2^31 and rates at most 1e9, so each product is
	 * below 2.2e18 and the sum of four fits in 64 bits.
	 */
	for (i = 0; i < COST_CAT__MAX; i++) {
		if (tok[i] == 0)
			continue;
		fsum += tok[i] * (uint64_t)cost_fallback[i];
		if (!generic && rate[i] >= 0) {
			priced = 1;
			if (rate[i] > 0)
				nonzero = 1;
			sum += tok[i] * (uint64_t)rate[i];
		} else {
			missing = 1;
			sum += tok[i] * (uint64_t)cost_fallback[i];
		}
	}
	if (!priced) {
		c.microdollars = cost_round(fsum);
		c.exactness = COST_EXACTNESS_ESTIMATED;
		return c;
	}
	c.microdollars = cost_round(sum);
	c.exactness = missing ? COST_EXACTNESS_PARTIAL : COST_EXACTNESS_DERIVED;
	if (c.microdollars == 0 && (nonzero || missing)) {
		/* Positive but below one microdollar. */
		c.microdollars = 1;
		c.exactness = COST_EXACTNESS_ESTIMATED;
	}
	return c;
}
