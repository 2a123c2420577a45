-- 0002_backoff_scope.sql: a backoff covers a whole account or one (account, model) pair.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- A 5xx answer for one model, or an upstream "model not found", backs off
-- that account for that model only; rate limits, quota and credential
-- failures still take the whole account out. SQLite cannot change a
-- primary key in place, so the table is rebuilt with (account_name,
-- model_id) as its key and the existing rows become account-wide ones.
-- request_attempts.outcome may now also be model_unavailable, and
-- retry_category model_unavailable, for an upstream that said it does not
-- serve the model.

CREATE TABLE account_backoffs_scoped (
	account_name	TEXT NOT NULL,		-- account concerned
	model_id	TEXT NOT NULL DEFAULT '', -- model concerned (as sent upstream); '' = every model
	scope		TEXT NOT NULL DEFAULT 'account'
			CHECK (scope IN ('account', 'model')), -- account: the whole account; model: the pair only
	reason		TEXT NOT NULL,		-- rate_limited, quota_exceeded, auth_failure, transient, circuit_open, model_unavailable
	backoff_until	INTEGER NOT NULL,	-- not eligible (for model_id, or at all) before this time
	consecutive_failures INTEGER NOT NULL DEFAULT 0, -- failures of this kind (of this scope) since the last success
	status_code	INTEGER,		-- upstream status of the last failure
	error_class	TEXT,			-- cause of the last failure
	updated_at	INTEGER NOT NULL,	-- last change
	PRIMARY KEY (account_name, model_id),
	CHECK ((scope = 'account') = (model_id = '')) -- the scope and the model agree
);

INSERT INTO account_backoffs_scoped (account_name, model_id, scope, reason, backoff_until,
    consecutive_failures, status_code, error_class, updated_at)
SELECT account_name, '', 'account', reason, backoff_until, consecutive_failures, status_code,
    error_class, updated_at FROM account_backoffs;

DROP TABLE account_backoffs;
ALTER TABLE account_backoffs_scoped RENAME TO account_backoffs;
