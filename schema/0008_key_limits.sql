-- 0008_key_limits.sql: client keys may carry limits: requests and tokens per minute, a spend
-- budget per UTC day or month, and the models they may ask for.
-- All times are integer milliseconds since the Unix epoch, UTC; money is integer microdollars.
--
-- `quotapool-admin key new|set NAME --rpm N --tpm N --budget 20/day --models 'glob,...'`
-- writes these columns; every quotapool.fcgi process reads them again for each request, in
-- the write transaction that opens its first attempt, so a change holds from the next request.

ALTER TABLE client_keys ADD COLUMN rpm INTEGER;		-- requests per minute (NULL = no limit)
ALTER TABLE client_keys ADD COLUMN tpm INTEGER;		-- tokens per minute (NULL = no limit)
ALTER TABLE client_keys ADD COLUMN budget_microdollars INTEGER; -- spend per budget period (NULL = none)
ALTER TABLE client_keys ADD COLUMN budget_period TEXT
	CHECK (budget_period IS NULL OR budget_period IN ('day', 'month')); -- UTC day or month
ALTER TABLE client_keys ADD COLUMN models TEXT;		-- comma-separated globs (NULL = any model)

-- The requests of one key in the last minute (rpm, tpm).
CREATE INDEX requests_key_started ON requests(client_key_id, started_at)
	WHERE client_key_id IS NOT NULL;

-- Spend and use of each key per UTC day (of the request's end), kept equal to the finalized
-- requests rows by the triggers below, so a budget survives the retention of requests.
CREATE TABLE key_usage (
	key_id		INTEGER NOT NULL,	-- client_keys.id
	day_start	INTEGER NOT NULL,	-- UTC midnight (ms) of the requests' completed_at
	requests	INTEGER NOT NULL DEFAULT 0, -- requests finalized
	tokens		INTEGER NOT NULL DEFAULT 0, -- input + output + cache read + cache write
	cost_microdollars INTEGER NOT NULL DEFAULT 0, -- sum of requests.cost_microdollars
	PRIMARY KEY (key_id, day_start)
) WITHOUT ROWID;

-- A keyed request leaves 'pending': its numbers join its day.
CREATE TRIGGER key_usage_final AFTER UPDATE OF status ON requests
WHEN OLD.status = 'pending' AND NEW.status != 'pending' AND NEW.client_key_id IS NOT NULL
BEGIN
	INSERT INTO key_usage (key_id, day_start, requests, tokens, cost_microdollars)
	VALUES (NEW.client_key_id,
	    coalesce(NEW.completed_at, NEW.started_at) / 86400000 * 86400000, 1,
	    NEW.input_tokens + NEW.output_tokens + NEW.cache_read_tokens + NEW.cache_write_tokens,
	    NEW.cost_microdollars)
	ON CONFLICT (key_id, day_start) DO UPDATE SET requests = requests + 1,
	    tokens = tokens + excluded.tokens,
	    cost_microdollars = cost_microdollars + excluded.cost_microdollars;
END;

-- A finalized request's cost or tokens recomputed later move its day by the difference.
CREATE TRIGGER key_usage_recompute AFTER UPDATE OF cost_microdollars, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens ON requests
WHEN OLD.status != 'pending' AND NEW.status != 'pending' AND NEW.client_key_id IS NOT NULL
BEGIN
	UPDATE key_usage SET
	    tokens = tokens + (NEW.input_tokens + NEW.output_tokens + NEW.cache_read_tokens +
		NEW.cache_write_tokens) - (OLD.input_tokens + OLD.output_tokens +
		OLD.cache_read_tokens + OLD.cache_write_tokens),
	    cost_microdollars = cost_microdollars + NEW.cost_microdollars - OLD.cost_microdollars
	WHERE key_id = NEW.client_key_id
	    AND day_start = coalesce(OLD.completed_at, OLD.started_at) / 86400000 * 86400000;
END;

-- The usage of the keys issued before this release, from the rows still kept.
INSERT INTO key_usage (key_id, day_start, requests, tokens, cost_microdollars)
SELECT client_key_id, coalesce(completed_at, started_at) / 86400000 * 86400000, count(*),
    sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens),
    sum(cost_microdollars)
FROM requests WHERE status != 'pending' AND client_key_id IS NOT NULL
GROUP BY 1, 2;
