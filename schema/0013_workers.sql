-- 0013_workers.sql: remote workers that dial in (docs/workers.md): their keys, their
-- registrations and the jobs handed to them.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- A worker key (`quotapool-admin key new NAME --worker`) may call /worker/v1/* only.
-- client_keys.role is CHECKed, and SQLite cannot change a CHECK in place, so the table is
-- rebuilt. It is referenced by dashboard_sessions (ON DELETE CASCADE) and requests (no
-- action), and this file runs inside the migration's transaction, where PRAGMA foreign_keys
-- cannot be changed: with foreign keys on, dropping client_keys would delete every dashboard
-- session and count one violation per keyed request. So the rows are kept aside in temporary
-- tables, the old table is dropped with the checks deferred to the commit, the new table is
-- created under the same name (the references in the other tables name it and resolve to it
-- again) and the rows go back: each key put back settles the violations its requests counted,
-- and the sessions are restored as they were. With foreign keys off the same steps hold.
-- 'broker' is reserved for the key pool's /pool/v1/take (DESIGN.md), so that it needs no
-- second rebuild; no code issues it yet.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE keys_0011 AS SELECT * FROM client_keys;
CREATE TEMP TABLE sessions_0011 AS SELECT * FROM dashboard_sessions;

DROP TABLE client_keys;

-- Client keys: who may call the gateway. The secret itself is never stored.
CREATE TABLE client_keys (
	id		INTEGER PRIMARY KEY,	-- row id
	name		TEXT NOT NULL UNIQUE,	-- operator-chosen label
	prefix		TEXT NOT NULL,		-- visible start of the key, shown in listings
	hash		BLOB NOT NULL UNIQUE,	-- SHA-256 of the whole key
	role		TEXT NOT NULL DEFAULT 'client'
			CHECK (role IN ('client', 'admin', 'worker', 'broker')), -- what the key may do
	created_at	INTEGER NOT NULL,	-- when it was issued
	last_used_at	INTEGER,		-- last successful authentication (NULL = never)
	revoked_at	INTEGER,		-- when it was revoked (NULL = valid)
	expires_at	INTEGER,		-- refused from this time on (NULL = never)
	rpm		INTEGER,		-- requests per minute (NULL = no limit)
	tpm		INTEGER,		-- tokens per minute (NULL = no limit)
	budget_microdollars INTEGER,		-- spend per budget period (NULL = none)
	budget_period	TEXT
			CHECK (budget_period IS NULL OR budget_period IN ('day', 'month')), -- UTC day or month
	models		TEXT			-- comma-separated globs (NULL = any model)
);

INSERT INTO client_keys (id, name, prefix, hash, role, created_at, last_used_at, revoked_at,
    expires_at, rpm, tpm, budget_microdollars, budget_period, models)
SELECT id, name, prefix, hash, role, created_at, last_used_at, revoked_at, expires_at, rpm,
    tpm, budget_microdollars, budget_period, models FROM temp.keys_0011;

INSERT OR IGNORE INTO dashboard_sessions (token_hash, key_id, created_at, expires_at)
SELECT token_hash, key_id, created_at, expires_at FROM temp.sessions_0011;

DROP TABLE temp.keys_0011;
DROP TABLE temp.sessions_0011;

-- Workers: one row per worker key and name; a hello with the same key and name takes the
-- row over. Read by every process to route to workers, written by the one serving a call.
CREATE TABLE workers (
	id		INTEGER PRIMARY KEY,	-- row id, referenced by worker_models and worker_jobs
	key_id		INTEGER NOT NULL REFERENCES client_keys(id), -- worker key it calls with
	name		TEXT NOT NULL,		-- name it says hello with (--name, default its host name)
	version		TEXT NOT NULL DEFAULT '', -- version it reported (bounded, printable)
	capacity	INTEGER NOT NULL,	-- jobs it runs at once (1-256)
	protocols	TEXT NOT NULL DEFAULT 'openai', -- comma-separated protocol families it speaks
	first_seen_at	INTEGER NOT NULL,	-- its first hello
	hello_at	INTEGER NOT NULL,	-- its latest hello
	last_seen_at	INTEGER NOT NULL,	-- its latest call of any kind (a sign of life)
	gone_at		INTEGER,		-- said bye or found silent at (NULL = live)
	gone_reason	TEXT,			-- bye or silent (NULL while live)
	last_job_at	INTEGER,		-- latest job given to it (least recently used first)
	backoff_until	INTEGER,		-- given no job before this time (NULL = not backed off)
	consecutive_failures INTEGER NOT NULL DEFAULT 0, -- failed jobs since its last success
	jobs_done	INTEGER NOT NULL DEFAULT 0, -- jobs whose answer it sent to the end
	jobs_failed	INTEGER NOT NULL DEFAULT 0, -- jobs it failed: error head, silence, vanished
	jobs_cancelled	INTEGER NOT NULL DEFAULT 0, -- jobs the client gave up on
	job_ms_sum	INTEGER NOT NULL DEFAULT 0, -- sum of the durations of its jobs_done
	UNIQUE (key_id, name)
);

-- The models each worker registered with its latest hello (at most 512 per worker).
CREATE TABLE worker_models (
	worker_id	INTEGER NOT NULL REFERENCES workers(id) ON DELETE CASCADE, -- worker serving it
	model_id	TEXT NOT NULL,		-- model id as its runtime knows it
	context_length	INTEGER,		-- context window it reported (NULL = not said)
	PRIMARY KEY (worker_id, model_id)
) WITHOUT ROWID;
CREATE INDEX worker_models_model ON worker_models(model_id);

-- Jobs: one per attempt of a client request sent to a worker. The process serving the
-- client owns the job and waits on its hand-off socket; a worker's long poll and result
-- POSTs, served by any process, find that socket here.
CREATE TABLE worker_jobs (
	id		TEXT PRIMARY KEY,	-- 32 hex digits, the {id} of /worker/v1/jobs/{id}/result
	worker_id	INTEGER NOT NULL REFERENCES workers(id) ON DELETE CASCADE, -- worker it is for
	request_id	INTEGER,		-- requests.id of the client request
	attempt_number	INTEGER,		-- request_attempts.attempt_number of the attempt
	process_id	INTEGER NOT NULL,	-- processes.id of the process serving the client
	socket_path	TEXT NOT NULL,		-- that process's hand-off socket
	model		TEXT NOT NULL,		-- model id sent to the runtime
	state		TEXT NOT NULL DEFAULT 'queued'
			CHECK (state IN ('queued', 'claimed', 'streaming', 'done', 'failed',
			    'cancelled')), -- queued: waits for a poll; claimed: sent to the worker;
					   -- streaming: its head reached the client; then how it ended
	created_at	INTEGER NOT NULL,	-- queued at
	claimed_at	INTEGER,		-- given to the worker's poll at (NULL = not yet)
	first_byte_at	INTEGER,		-- its head arrived at (NULL = not yet)
	ended_at	INTEGER,		-- ended at (NULL = not yet)
	error_class	TEXT,			-- short cause when it failed or was cancelled
	body		TEXT			-- the job JSON sent to the worker; NULL once it ended
);
CREATE INDEX worker_jobs_open ON worker_jobs(worker_id, state) WHERE ended_at IS NULL;
CREATE INDEX worker_jobs_ended ON worker_jobs(ended_at) WHERE ended_at IS NOT NULL;
