-- 0012_account_tokens.sql: the tokens of accounts whose credentials refresh.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- An account with `refresh = { ... }` gets its access token from a token endpoint. The
-- process that wins the lease "refresh:<account>" (table leases) runs the request; it
-- writes the answer here, and every process reads it from here. The tokens are stored
-- encrypted (AES-256-GCM) under a key derived from the account's refresh body, which
-- lives only in the environment: the database, or a backup of it, alone does not give
-- them away. A row whose key no longer fits (the body changed) reads as no token.

CREATE TABLE account_tokens (
	account_name	TEXT PRIMARY KEY,	-- account concerned
	access_token	BLOB,			-- nonce || AES-256-GCM(token) || tag; NULL = none yet
	expires_at	INTEGER,		-- when the token expires, NULL = not said
	refresh_token	BLOB,			-- a rotated refresh token, encrypted the same way;
						-- NULL = the one in the configured body
	version		INTEGER NOT NULL DEFAULT 0, -- + 1 at each successful refresh
	refreshed_at	INTEGER,		-- last successful refresh, NULL = never
	refreshes	INTEGER NOT NULL DEFAULT 0, -- successful refreshes
	failures	INTEGER NOT NULL DEFAULT 0, -- failed refreshes since the last success
	last_attempt_at	INTEGER,		-- last refresh tried, NULL = never
	last_result	TEXT,			-- its outcome: ok, or why it failed (never a secret)
	updated_at	INTEGER NOT NULL	-- last change
);
