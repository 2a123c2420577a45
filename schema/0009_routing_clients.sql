-- 0009_routing_clients.sql: how a request was routed (an alias), the limits of the
-- models, and which client sent each request.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- A client model id that no provider serves may match a pattern of
-- [aliases] ("claude-*"): the request is then routed to the alias's models
-- in order, the next when every account of one is unavailable. model keeps
-- the id the client sent, model_base the one sent upstream by the last
-- attempt; these columns say which pattern matched and which of its
-- models the last attempt used.

ALTER TABLE requests ADD COLUMN alias TEXT;		-- [aliases] pattern the model matched, NULL = none
ALTER TABLE requests ADD COLUMN alias_target TEXT;	-- the alias's model id (as configured) of the last attempt

-- The limits a provider's model list gives (OpenRouter's context_length,
-- Groq's context_window, Anthropic's max_input_tokens and max_tokens, ...):
-- [model_overrides] win over them; requests clearly over them are refused
-- before any upstream call, and GET /v1/models shows them.
ALTER TABLE model_catalog ADD COLUMN max_context_tokens INTEGER;	-- context window, NULL = not said
ALTER TABLE model_catalog ADD COLUMN max_output_tokens INTEGER;	-- longest answer, NULL = not said

-- Which client sent each request: its User-Agent as sent (cut to 256 bytes
-- at a UTF-8 character boundary, control characters replaced) and its
-- family, one of a closed set (useragent.h): claude-cli, opencode, codex,
-- openai-sdk, anthropic-sdk, curl, other. NULL on rows older than this.
ALTER TABLE requests ADD COLUMN user_agent TEXT;	-- User-Agent, bounded; NULL = none sent
ALTER TABLE requests ADD COLUMN client_family TEXT;	-- the client's family (closed set)

-- Requests by client family, rolled up when they finalize (the buckets of
-- stats_requests). The families are a closed set: a handful of rows per
-- bucket, whatever the clients send.
CREATE TABLE stats_clients (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding the request's completed_at
	client_family	TEXT NOT NULL,		-- requests.client_family, 'other' when unknown
	status		TEXT NOT NULL,		-- request status
	requests	INTEGER NOT NULL DEFAULT 0, -- requests finalized
	streamed	INTEGER NOT NULL DEFAULT 0, -- of which streamed
	input_tokens	INTEGER NOT NULL DEFAULT 0, -- sum of requests.input_tokens
	output_tokens	INTEGER NOT NULL DEFAULT 0, -- sum of requests.output_tokens
	cache_read_tokens INTEGER NOT NULL DEFAULT 0, -- sum of requests.cache_read_tokens
	cache_write_tokens INTEGER NOT NULL DEFAULT 0, -- sum of requests.cache_write_tokens
	cost_microdollars INTEGER NOT NULL DEFAULT 0, -- sum of requests.cost_microdollars
	bytes_in	INTEGER NOT NULL DEFAULT 0, -- sum of request body bytes from clients
	bytes_out	INTEGER NOT NULL DEFAULT 0, -- sum of response bytes sent to clients
	total_ms_sum	INTEGER NOT NULL DEFAULT 0, -- sum of total_ms where known
	total_count	INTEGER NOT NULL DEFAULT 0, -- requests with a total_ms
	PRIMARY KEY (bucket_s, bucket_start, client_family, status)
) WITHOUT ROWID;

-- Requests counted before this version had no family: they are "other", so
-- that the breakdown of any period adds up to the other datasets' totals.
INSERT INTO stats_clients (bucket_s, bucket_start, client_family, status, requests, streamed,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_microdollars,
    bytes_in, bytes_out, total_ms_sum, total_count)
SELECT bucket_s, bucket_start, 'other', status, sum(requests), sum(streamed), sum(input_tokens),
    sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cost_microdollars),
    sum(bytes_in), sum(bytes_out), sum(total_ms_sum), sum(total_count)
FROM stats_requests GROUP BY bucket_s, bucket_start, status;
