-- 0003_routing_clients.sql: how a request was routed through an alias.
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
