-- 0003_account_overrides.sql: the operator takes an account out of routing without a restart.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- `quotapool-admin accounts disable NAME` writes a row, `accounts enable
-- NAME` deletes it. Every running process reads the table when it chooses
-- an account (the exclusion reason is operator_disabled), so the change
-- holds at the next request, in every process, and survives restarts. An
-- override only ever takes an account out: an account the configuration
-- disables stays disabled whatever this table says.

CREATE TABLE account_overrides (
	account_name	TEXT PRIMARY KEY,	-- account concerned (its configured name)
	state		TEXT NOT NULL DEFAULT 'disabled'
			CHECK (state IN ('disabled')), -- disabled: never chosen while the row exists
	note		TEXT,			-- the operator's reason, shown with the state (NULL = none)
	updated_at	INTEGER NOT NULL	-- when the operator set it
) WITHOUT ROWID;
