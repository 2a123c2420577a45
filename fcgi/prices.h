/* prices.h: the price catalog (providers/prices.json) and where a request's price comes from. */
#ifndef QP_PRICES_H
#define QP_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "cost.h"
#include "err.h"

/* Largest catalog file read (the shipped one is about 220 KB). */
#define PRICES_FILE_MAX		(8u * 1024 * 1024)
/* Longest price reference kept, e.g. "genai-prices@0.1.8 anthropic/claude-sonnet-4-5". */
#define PRICES_REF_MAX		191
/* Path of the shipped catalog below the data directory. */
#define PRICES_FILE		"providers/prices.json"

/* A loaded catalog: immutable once loaded, so readable from any thread. */
struct prices;

/* The price of one model, and where it came from. */
struct prices_quote {
	struct cost_price price;	/* valid when source is not COST_SOURCE_NONE */
	enum cost_source source;	/* COST_SOURCE_NONE: no price is known */
	char		 ref[PRICES_REF_MAX + 1]; /* which entry, "" if none */
};

/*
 * Reads the catalog at path (the format providers/genai-prices.mjs
 * writes). Returns NULL with *err set and a reason in errbuf. Free with
 * prices_free(). Thread-safe.
 */
struct prices	*prices_load(const char *path, enum qp_err *err, char *errbuf, size_t errlen);

/* Reads the catalog from buf (len bytes), as prices_load(). */
struct prices	*prices_parse(const char *buf, size_t len, enum qp_err *err, char *errbuf,
		    size_t errlen);

/* Frees a catalog. NULL is allowed. */
void		 prices_free(struct prices *pc);

/* Returns the catalog's source, e.g. "@pydantic/genai-prices@0.1.8" (lives as long as pc). */
const char	*prices_source(const struct prices *pc);

/* Returns the number of models the catalog prices. */
int		 prices_count(const struct prices *pc);

/*
 * Looks model (case-insensitive, as genai-prices does) up in the catalog
 * for a provider whose quotapool id is provider_id and whose base URL is
 * base_url (either may be NULL): the catalog provider with that id or
 * whose provider match accepts it, else whose API pattern matches
 * base_url, else whose model match accepts the model; its models, then
 * those of its fallback providers, first by the id as given and then
 * with a trailing -YYYYMMDD date written -YYYY-MM-DD. Dated prices: those
 * in force at at_ms. Fills q (source COST_SOURCE_CATALOG) and returns 1,
 * or returns 0 leaving q untouched. Thread-safe.
 */
int		 prices_find(const struct prices *pc, const char *provider_id,
		    const char *base_url, const char *model, int64_t at_ms,
		    struct prices_quote *q);

/*
 * Fills q with the price of model served by provider prov (NULL =
 * unknown), strongest source first: [model_overrides] of cfg (an override
 * with an input or output price), then the catalog pc (may be NULL).
 * Leaves q->source COST_SOURCE_NONE when neither has one. Thread-safe.
 */
void		 prices_quote(const struct prices *pc, const struct config *cfg,
		    const struct config_provider *prov, const char *model, int64_t at_ms,
		    struct prices_quote *q);

/*
 * Prices one response: cost_compute() with q's price, and the source that
 * priced it (provider_reported when the provider said, none when nothing
 * was priced). Thread-safe.
 */
struct cost	 prices_cost(const struct usage *u, const struct prices_quote *q,
		    enum cost_source *source);

/*
 * Returns 1 if prov (NULL allowed) reports its cost as bare usage.cost in
 * dollars: OpenRouter (cost in credits, 1 credit = $1) and opencode-go, by
 * provider id or by the host of its base URL. Thread-safe.
 */
int		 prices_bare_cost_usd(const struct config_provider *prov);

#endif /* QP_PRICES_H */
