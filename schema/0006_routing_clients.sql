-- 0006_routing_clients.sql: how a request was routed (an alias), and the limits of the models.
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
