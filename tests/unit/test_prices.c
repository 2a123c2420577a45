/* test_prices.c: the price catalog: loading, model matching, tiers, dates, sources. */
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "prices.h"

/* A small catalog written by hand: every rule kind, tiers with two starts, dated prices. */
static const char tiny[] =
    "{\"catalog\":{\"source\":\"test@1\"},\"providers\":["
    "{\"id\":\"acme\",\"name\":\"Acme\",\"api\":\"https://api\\\\.acme\\\\.test\","
    "\"provider_match\":{\"contains\":\"acme\"},\"model_match\":{\"starts_with\":\"ac-\"},"
    "\"fallback\":[\"base\"],\"models\":["
    "{\"id\":\"ac-1\",\"match\":{\"and\":[{\"starts_with\":\"ac-1\"},"
    "{\"not\":{\"regex\":\"^.*-tts($|-)\"}}]},"
    "\"in\":[1000000,100,2000000,200,3000000],\"out\":[4000000,200,8000000],\"cr\":100000},"
    "{\"id\":\"ac-2\",\"match\":{\"regex\":\"^ac-2-[0-9]{4}$\"},\"from\":["
    "[\"\",{\"in\":1000000,\"out\":1000000}],[\"2025-06-01\",{\"in\":500000,\"out\":500000}]]},"
    "{\"id\":\"ac-3-2025-05-14\",\"match\":{\"equals\":\"ac-3-2025-05-14\"},\"in\":7,\"out\":7}]},"
    "{\"id\":\"base\",\"name\":\"Base\",\"models\":["
    "{\"id\":\"shared\",\"match\":{\"or\":[{\"equals\":\"Shared\"},{\"ends_with\":\"-shared\"}]},"
    "\"in\":11,\"out\":12}]}]}";

static const char badre[] = "{\"catalog\":{\"source\":\"x\"},\"providers\":[{\"id\":\"a\","
    "\"models\":[{\"id\":\"m\",\"match\":{\"regex\":\"(\"},\"in\":1}]}]}";

int
main(void)
{
	struct prices *pc = NULL, *cat = NULL;
	struct prices_quote q;
	struct config cfg;
	struct config_model_override ov;
	struct config_provider prov;
	struct usage u;
	enum cost_source src;
	struct cost c;
	enum qp_err err;
	char errbuf[256], path[4096];
	int64_t may = 1748736000000LL;	/* 2025-06-01T00:00:00Z */

	pc = prices_parse(tiny, sizeof(tiny) - 1, &err, errbuf, sizeof(errbuf));
	ok(pc != NULL, "hand-written catalog loads (%s)", pc == NULL ? errbuf : "ok");
	if (pc == NULL)
		return done_testing();
	is_str(prices_source(pc), "test@1", "source");
	is_int(prices_count(pc), 4, "models counted");

	ok(prices_find(pc, "acme", NULL, "AC-1", 0, &q), "provider by id, case-insensitive model");
	is_int(q.source, COST_SOURCE_CATALOG, "source is the catalog");
	is_str(q.ref, "test@1 acme/ac-1", "ref names the entry");
	is_int(q.price.input, 1000000, "base input");
	is_int(q.price.cache_read, 100000, "cache read");
	is_int(q.price.cache_write, -1, "no cache write");
	is_int(q.price.ntiers, 2, "tiers merged at the union of starts");
	is_int(q.price.tier[0].above, 100, "first start");
	is_int(q.price.tier[0].input, 2000000, "input at 100");
	is_int(q.price.tier[0].output, 4000000, "output keeps its base at 100");
	is_int(q.price.tier[1].input, 3000000, "input at 200");
	is_int(q.price.tier[1].output, 8000000, "output at 200");
	is_int(q.price.tier[1].cache_read, 100000, "untiered cache read in every tier");
	ok(!prices_find(pc, "acme", NULL, "ac-1-tts", 0, &q), "not rule excludes");
	ok(prices_find(pc, "my-acme", NULL, "ac-1", 0, &q), "provider by provider_match");
	ok(prices_find(pc, "other", "https://api.acme.test/v1", "ac-1", 0, &q),
	    "provider by API pattern");
	ok(prices_find(pc, "other", "http://127.0.0.1:9/v1", "ac-1", 0, &q),
	    "provider by model_match");
	ok(!prices_find(pc, "other", "http://127.0.0.1:9/v1", "zz-1", 0, &q),
	    "no provider: not found");
	ok(prices_find(pc, "acme", NULL, "x-shared", 0, &q) &&
	    strcmp(q.ref, "test@1 base/shared") == 0, "fallback provider's model");
	ok(prices_find(pc, "acme", NULL, "ac-3-20250514", 0, &q), "-YYYYMMDD read as -YYYY-MM-DD");
	ok(prices_find(pc, "acme", NULL, "ac-2-1234", may - 1, &q) && q.price.input == 1000000,
	    "dated price before its start");
	ok(prices_find(pc, "acme", NULL, "ac-2-1234", may, &q) && q.price.input == 500000,
	    "dated price from its start");
	ok(!prices_find(pc, "acme", NULL, "ac-2-123", may, &q), "regex anchored");
	ok(!prices_find(pc, "acme", NULL, "", 0, &q), "empty id");

	/* Sources: override beats catalog; neither gives none. */
	memset(&cfg, 0, sizeof(cfg));
	memset(&ov, 0, sizeof(ov));
	memset(&prov, 0, sizeof(prov));
	prov.id = "acme";
	prov.base_url = "https://api.acme.test/v1";
	prices_quote(pc, &cfg, &prov, "ac-1", 0, &q);
	is_int(q.source, COST_SOURCE_CATALOG, "no override: catalog");
	ov.model = "ac-1";
	ov.input_per_mtok = 5;
	ov.output_per_mtok = 6;
	ov.cache_read_per_mtok = -1;
	ov.cache_write_per_mtok = -1;
	cfg.overrides = &ov;
	cfg.noverrides = 1;
	prices_quote(pc, &cfg, &prov, "ac-1", 0, &q);
	is_int(q.source, COST_SOURCE_OVERRIDE, "override wins");
	is_int(q.price.input, 5, "override input");
	prices_quote(pc, &cfg, &prov, "zz-9", 0, &q);
	is_int(q.source, COST_SOURCE_NONE, "no price anywhere: none");
	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	u.input_tokens = 10;
	u.output_tokens = 10;
	c = prices_cost(&u, &q, &src);
	ok(c.microdollars == 0 && c.exactness == COST_EXACTNESS_UNKNOWN && src == COST_SOURCE_NONE,
	    "no price: 0, unknown, source none");
	u.cost_microdollars = 42;
	c = prices_cost(&u, &q, &src);
	ok(c.microdollars == 42 && src == COST_SOURCE_PROVIDER_REPORTED, "reported cost");

	ok(prices_parse(badre, strlen(badre), &err, errbuf, sizeof(errbuf)) == NULL,
	    "bad regex refused: %s", errbuf);
	ok(prices_parse("[]", 2, &err, errbuf, sizeof(errbuf)) == NULL, "not a catalog");

	/* The shipped catalog. */
	snprintf(path, sizeof(path), "%s/%s", QP_SRCDIR, PRICES_FILE);
	cat = prices_load(path, &err, errbuf, sizeof(errbuf));
	ok(cat != NULL, "shipped catalog loads (%s)", cat == NULL ? errbuf : prices_source(cat));
	ok(prices_count(cat) > 1000, "shipped catalog prices %d models", prices_count(cat));
	ok(prices_find(cat, "anthropic", "https://api.anthropic.com/v1", "claude-sonnet-4-5", 0,
	    &q) && q.price.input == 3000000 && q.price.output == 15000000 &&
	    q.price.cache_read == 300000 && q.price.cache_write == 3750000 &&
	    q.price.ntiers == 1 && q.price.tier[0].above == 200000, "claude-sonnet-4-5: %s",
	    q.ref);
	ok(prices_find(cat, "openai", "https://api.openai.com/v1", "gpt-4o", 0, &q) &&
	    q.price.input == 2500000 && q.price.output == 10000000 &&
	    q.price.cache_read == 1250000, "gpt-4o: %s", q.ref);
	ok(prices_find(cat, "mock", "http://127.0.0.1:1/v1", "claude-sonnet-4-5-20250929", 0,
	    &q) && q.price.input == 3000000, "dated id on an unknown provider: %s", q.ref);
	ok(!prices_find(cat, "mock", "http://127.0.0.1:1/v1", "mock-made-up-model", 0, &q),
	    "made-up model: no price");
	prices_free(cat);
	prices_free(pc);
	return done_testing();
}
