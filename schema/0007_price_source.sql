-- 0007_price_source.sql: each request row records where its price came from.
-- Costs used to fall back to a generic $3/$15 per million tokens labelled 'estimated' when no
-- price was configured. Requests are now priced from, strongest first, the provider's own
-- reported cost, [model_overrides], and the shipped catalog (providers/prices.json); with
-- none of them the cost is 0 and 'unknown'. Rows written before keep their cost and get a
-- NULL source until `quotapool-admin stats recompute-costs` prices them again.
ALTER TABLE requests ADD COLUMN price_source TEXT; -- provider_reported, model_overrides, provider_catalog, catalog, none (NULL = before 0006)
ALTER TABLE requests ADD COLUMN price_ref TEXT; -- the entry that priced it, e.g. "@pydantic/genai-prices@0.1.8 anthropic/claude-sonnet-4-5"
