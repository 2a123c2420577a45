-- 0011_passthrough.sql: requests passed through to a provider's own API under /p/<provider>/.
-- A provider with `passthrough` globs serves any path under its base_url that they match
-- (audio, images, files, ...), with a pooled key (docs/passthrough.md). Such a request has
-- its row in requests like any other: endpoint '/p/', model and model_base NULL (there is
-- no model: the rollups count it under the model '' of its provider, so paths never become
-- labels), the account, status, bytes and latency as usual, and tokens where the answer was
-- JSON with a known usage object. These columns say what was asked; NULL on every other
-- row.

ALTER TABLE requests ADD COLUMN method TEXT;	-- HTTP method of a passthrough (GET, POST, ...), NULL = not one
ALTER TABLE requests ADD COLUMN path TEXT;	-- upstream path of a passthrough, without the query string, NULL = not one
