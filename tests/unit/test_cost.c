/* test_cost.c: request cost in microdollars and its exactness label. */
#include "../tap.h"
#include "cost.h"

/* No tiers: a flat price. */
#define NOTIER	0, { { 0, 0, 0, 0, 0 } }

/* A usage with the given counts (-1 = not reported), no provider cost. */
static struct usage
mk(enum usage_proto proto, int64_t in, int64_t out, int64_t cr, int64_t cw)
{
	struct usage u;

	usage_init(&u, proto, 0);
	u.input_tokens = in;
	u.output_tokens = out;
	u.cache_read_tokens = cr;
	u.cache_write_tokens = cw;
	return u;
}

/* Checks one case; on failure prints the usage and price. */
static void
check(const char *name, const struct usage *u, const struct cost_price *p, int64_t want,
    enum cost_exactness wantx)
{
	struct cost c = cost_compute(u, p);
	int good;

	good = is_int(c.microdollars, want, "%s: microdollars", name);
	good &= is_str(cost_exactness_name(c.exactness), cost_exactness_name(wantx),
	    "%s: exactness", name);
	if (!good) {
		printf("#   usage: in %jd out %jd cache_read %jd cache_write %jd reported %jd\n",
		    (intmax_t)u->input_tokens, (intmax_t)u->output_tokens,
		    (intmax_t)u->cache_read_tokens, (intmax_t)u->cache_write_tokens,
		    (intmax_t)u->cost_microdollars);
		if (p != NULL)
			printf("#   price: in %jd out %jd cache_read %jd cache_write %jd\n",
			    (intmax_t)p->input, (intmax_t)p->output, (intmax_t)p->cache_read,
			    (intmax_t)p->cache_write);
	}
}

int
main(void)
{
	/* Claude Sonnet-like prices: $3 / $15 / $0.30 / $3.75 per million. */
	static const struct cost_price sonnet = { 3000000, 15000000, 300000, 3750000, NOTIER };
	/* GPT-4o-like prices: $2.50 in, $10 out, $1.25 cached, no cache-write price. */
	static const struct cost_price gpt4o = { 2500000, 10000000, 1250000, -1, NOTIER };
	static const struct cost_price unknown = { -1, -1, -1, -1, NOTIER };
	static const struct cost_price free_model = { 0, 0, 0, 0, NOTIER };
	static const struct cost_price no_cache = { 1000000, 2000000, -1, -1, NOTIER };
	static const struct cost_price silly = { 2000000000, 1000000, 1000000, 1000000, NOTIER };
	static const struct cost_price out_only = { -1, 2000000, -1, -1, NOTIER };
	/* Gemini-2.5-Pro-like: $1.25/$10 up to 200k input tokens, $2.50/$15 above. */
	static const struct cost_price tiered = { 1250000, 10000000, 125000, -1, 1,
	    { { 200000, 2500000, 15000000, 250000, -1 } } };
	static const struct cost_price cheap = { 1500000, 400000, 500000, 400000, NOTIER };
	static const struct cost_price top = { COST_RATE_MAX, COST_RATE_MAX, COST_RATE_MAX,
	    COST_RATE_MAX, NOTIER };
	struct usage u, copy;
	int i, j, distinct = 1;

	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 500, -1, -1);
	u.cost_microdollars = 1234;
	check("provider cost wins", &u, &sonnet, 1234, COST_EXACTNESS_PROVIDER_REPORTED);
	u.cost_microdollars = 0;
	check("provider cost of 0", &u, &sonnet, 0, COST_EXACTNESS_PROVIDER_REPORTED);
	u.cost_microdollars = 300000000;
	check("provider cost capped", &u, NULL, COST_CAP, COST_EXACTNESS_PROVIDER_REPORTED);

	u = mk(USAGE_PROTO_OPENAI, -1, -1, -1, -1);
	check("nothing reported", &u, &sonnet, 0, COST_EXACTNESS_UNKNOWN);
	u = mk(USAGE_PROTO_OPENAI, 0, 0, 0, 0);
	check("zero tokens", &u, NULL, 0, COST_EXACTNESS_UNKNOWN);

	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 500, -1, -1);
	check("no price: unknown, never a default", &u, NULL, 0, COST_EXACTNESS_UNKNOWN);
	check("all rates unknown: unknown", &u, &unknown, 0, COST_EXACTNESS_UNKNOWN);
	check("implausible rate: unknown", &u, &silly, 0, COST_EXACTNESS_UNKNOWN);
	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 500, 2000, 4000);
	check("no price with cache tokens: unknown", &u, NULL, 0, COST_EXACTNESS_UNKNOWN);
	check("output price only: partial", &u, &out_only, 500 * 2, COST_EXACTNESS_PARTIAL);

	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 500, 2000, 4000);
	check("anthropic, every category priced", &u, &sonnet, 3000 + 7500 + 600 + 15000,
	    COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_OPENAI, 3000, 500, 2000, -1);
	check("openai input includes cached tokens", &u, &gpt4o, 2500 + 2500 + 5000,
	    COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_OPENAI, 1200, 50, 0, 1000);
	check("openai cache writes taken out of input, priced as input", &u, &gpt4o,
	    500 + 500 + 2500, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_OPENAI, 100, 10, 500, -1);
	check("cached more than input: input 0", &u, &gpt4o, 100 + 625, COST_EXACTNESS_DERIVED);

	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 100, 1000, 0);
	check("cache reads without a cache price cost the input rate", &u, &no_cache,
	    1000 + 200 + 1000, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, 1000, 100, 0, -1);
	check("unpriced category without tokens: derived", &u, &no_cache, 1200,
	    COST_EXACTNESS_DERIVED);

	u = mk(USAGE_PROTO_ANTHROPIC, 1, -1, -1, -1);
	check("rounds half up", &u, &cheap, 2, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, -1, 1, -1, -1);
	check("rounds down below a half", &u, &cheap, 0 + 1, COST_EXACTNESS_ESTIMATED);
	u = mk(USAGE_PROTO_ANTHROPIC, -1, -1, 1, -1);
	check("exactly a half rounds up", &u, &cheap, 1, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, 5000, 800, 100, 100);
	check("free model", &u, &free_model, 0, COST_EXACTNESS_DERIVED);

	u = mk(USAGE_PROTO_ANTHROPIC, 150000, 1000, 50000, -1);
	check("tier not crossed at exactly 200k input", &u, &tiered,
	    187500 + 10000 + 6250, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, 150001, 1000, 50000, -1);
	check("tier crossed above 200k input (cache reads count)", &u, &tiered,
	    375003 + 15000 + 12500, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_OPENAI, 250000, 1000, 50000, -1);
	check("tier crossed, openai input includes cache", &u, &tiered,
	    500000 + 15000 + 12500, COST_EXACTNESS_DERIVED);

	u = mk(USAGE_PROTO_ANTHROPIC, 2000000000, 0, 0, 0);
	check("capped at $250", &u, &sonnet, COST_CAP, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
	check("huge counts do not overflow", &u, &top, COST_CAP, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, USAGE_TOKENS_MAX, USAGE_TOKENS_MAX, USAGE_TOKENS_MAX,
	    USAGE_TOKENS_MAX);
	check("largest counts and rates", &u, &top, COST_CAP, COST_EXACTNESS_DERIVED);
	u = mk(USAGE_PROTO_ANTHROPIC, -7, 1000, -2, -3);
	check("negative counts read as 0", &u, &sonnet, 15000, COST_EXACTNESS_DERIVED);

	/* A pure function: same answer, input untouched. */
	u = mk(USAGE_PROTO_OPENAI, 3000, 500, 2000, -1);
	copy = u;
	ok(cost_compute(&u, &gpt4o).microdollars == cost_compute(&u, &gpt4o).microdollars &&
	    memcmp(&u, &copy, sizeof(u)) == 0, "cost_compute is pure");

	for (i = 0; i < COST_EXACTNESS__MAX; i++) {
		is_int(cost_exactness_from_name(cost_exactness_name(i)), i,
		    "name of %s round-trips", cost_exactness_name(i));
		for (j = 0; j < i; j++)
			if (strcmp(cost_exactness_name(i), cost_exactness_name(j)) == 0)
				distinct = 0;
	}
	ok(distinct, "exactness names are distinct");
	is_str(cost_exactness_name(COST_EXACTNESS_PROVIDER_REPORTED), "provider_reported",
	    "stored name of provider_reported");
	is_int(cost_exactness_from_name("bogus"), COST_EXACTNESS__MAX, "unknown name");
	is_int(cost_exactness_from_name(NULL), COST_EXACTNESS__MAX, "NULL name");
	is_str(cost_exactness_name(COST_EXACTNESS__MAX), "unknown", "out of range");
	is_str(cost_source_name(COST_SOURCE_CATALOG), "catalog", "source name");
	is_str(cost_source_name(COST_SOURCE__MAX), "none", "source out of range");
	return done_testing();
}
