-- 0010_ratelimit_headers.sql: quotas learned from the rate-limit headers of upstream answers.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- Every upstream answer, successes included, may report what is left of the account's
-- quota (x-ratelimit-*, anthropic-ratelimit-*, Retry-After on a success). Each process
-- writes what it read here, so every process routes on it: an account with a row of
-- remaining 0 whose reset is still ahead is not chosen (for that model, or at all when
-- model_id is '') until the reset; a low remaining share adds to its pressure.

CREATE TABLE account_ratelimits (
	account_name	TEXT NOT NULL,		-- account concerned
	model_id	TEXT NOT NULL DEFAULT '', -- model (as routed) the count is for; '' = every model
	kind		TEXT NOT NULL CHECK (kind IN ('requests', 'tokens', 'input_tokens',
			    'output_tokens', 'unified', 'retry_after')), -- what is counted
	lim		INTEGER,		-- limit reported, NULL = not reported
	remaining	INTEGER,		-- remaining reported, NULL = not reported
	reset_at	INTEGER,		-- when the count resets, NULL = not reported
	updated_at	INTEGER NOT NULL,	-- the answer that reported it
	PRIMARY KEY (account_name, model_id, kind)
);
