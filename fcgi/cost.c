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

static const char *const cost_source_names[COST_SOURCE__MAX] = {
	[COST_SOURCE_NONE] = "none",
	[COST_SOURCE_PROVIDER_REPORTED] = "provider_reported",
	[COST_SOURCE_OVERRIDE] = "model_overrides",
	[COST_SOURCE_PROVIDER_CATALOG] = "provider_catalog",
	[COST_SOURCE_CATALOG] = "catalog",
};

const char *
cost_source_name(enum cost_source s)
{

	return (unsigned)s < COST_SOURCE__MAX ? cost_source_names[s] : "none";
}

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

/* Fills rate with the price's rates for tokens tok (tiers applied); 0 if none is usable. */
static int
cost_rates(const struct cost_price *price, const uint64_t tok[COST_CAT__MAX],
    int64_t rate[COST_CAT__MAX])
{
	uint64_t in = tok[COST_CAT_INPUT] + tok[COST_CAT_CACHE_READ] + tok[COST_CAT_CACHE_WRITE];
	int i, n = price->ntiers < 0 ? 0 : price->ntiers;

	if (n > COST_TIERS_MAX)
		n = COST_TIERS_MAX;
	rate[COST_CAT_INPUT] = price->input;
	rate[COST_CAT_OUTPUT] = price->output;
	rate[COST_CAT_CACHE_READ] = price->cache_read;
	rate[COST_CAT_CACHE_WRITE] = price->cache_write;
	for (i = 0; i < n; i++) {
		const struct cost_tier *t = &price->tier[i];

		if (t->above < 0 || in <= (uint64_t)t->above)
			break;
		rate[COST_CAT_INPUT] = t->input;
		rate[COST_CAT_OUTPUT] = t->output;
		rate[COST_CAT_CACHE_READ] = t->cache_read;
		rate[COST_CAT_CACHE_WRITE] = t->cache_write;
	}
	if (rate[COST_CAT_CACHE_READ] < 0)
		rate[COST_CAT_CACHE_READ] = rate[COST_CAT_INPUT];
	if (rate[COST_CAT_CACHE_WRITE] < 0)
		rate[COST_CAT_CACHE_WRITE] = rate[COST_CAT_INPUT];
	for (i = 0; i < COST_CAT__MAX; i++)
		if (rate[i] > COST_RATE_MAX)
			return 0;
	return 1;
}

struct cost
cost_compute(const struct usage *u, const struct cost_price *price)
{
	struct cost c = { 0, COST_EXACTNESS_UNKNOWN };
	uint64_t tok[COST_CAT__MAX], sum = 0;
	int64_t rate[COST_CAT__MAX];
	int i, priced = 0, missing = 0, nonzero = 0, any = 0;

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
	if (!any || price == NULL || !cost_rates(price, tok, rate))
		return c;
	/*
	 * Tokens stay below 2^31 and rates at most 1e9, so each product is
	 * below 2.2e18 and the sum of four fits in 64 bits.
	 */
	for (i = 0; i < COST_CAT__MAX; i++) {
		if (tok[i] == 0)
			continue;
		if (rate[i] < 0) {
			missing = 1;
			continue;
		}
		priced = 1;
		if (rate[i] > 0)
			nonzero = 1;
		sum += tok[i] * (uint64_t)rate[i];
	}
	if (!priced)
		return c;
	c.microdollars = cost_round(sum);
	c.exactness = missing ? COST_EXACTNESS_PARTIAL : COST_EXACTNESS_DERIVED;
	if (c.microdollars == 0 && nonzero) {
		/* Positive but below one microdollar. */
		c.microdollars = 1;
		c.exactness = COST_EXACTNESS_ESTIMATED;
	}
	return c;
}
