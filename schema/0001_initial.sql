-- 0001_initial.sql: the tables of quotapool's first release.
-- All times are integer milliseconds since the Unix epoch, UTC.
-- Durations are integer milliseconds unless a column name says otherwise.
-- Money is integer microdollars (1 USD = 1,000,000).

-- Client keys: who may call the gateway. The secret itself is never stored.
CREATE TABLE client_keys (
	id		INTEGER PRIMARY KEY,	-- row id
	name		TEXT NOT NULL UNIQUE,	-- operator-chosen label
	prefix		TEXT NOT NULL,		-- visible start of the key, shown in listings
	hash		BLOB NOT NULL UNIQUE,	-- SHA-256 of the whole key
	role		TEXT NOT NULL DEFAULT 'client'
			CHECK (role IN ('client', 'admin')), -- what the key may do
	created_at	INTEGER NOT NULL,	-- when it was issued
	last_used_at	INTEGER,		-- last successful authentication (NULL = never)
	revoked_at	INTEGER			-- when it was revoked (NULL = valid)
);

-- Dashboard login sessions opened with an admin key (cookie holds the token).
CREATE TABLE dashboard_sessions (
	token_hash	BLOB PRIMARY KEY,	-- SHA-256 of the session token
	key_id		INTEGER NOT NULL REFERENCES client_keys(id) ON DELETE CASCADE, -- key that logged in
	created_at	INTEGER NOT NULL,	-- login time
	expires_at	INTEGER NOT NULL	-- session end
);

-- One row per running or past quotapool.fcgi process, for crash detection.
CREATE TABLE processes (
	id		INTEGER PRIMARY KEY,	-- row id, referenced by requests
	pid		INTEGER NOT NULL,	-- operating-system process id
	hostname	TEXT NOT NULL,		-- host the process ran on
	version		TEXT NOT NULL,		-- quotapool version
	started_at	INTEGER NOT NULL,	-- start time
	heartbeat_at	INTEGER NOT NULL,	-- last sign of life from its maintenance thread
	stopped_at	INTEGER			-- clean shutdown time (NULL = running or crashed)
);

-- One row per client request on the data plane.
CREATE TABLE requests (
	id		INTEGER PRIMARY KEY,	-- row id
	request_uid	TEXT NOT NULL UNIQUE,	-- public id, sent as x-proxy-request-id
	process_id	INTEGER REFERENCES processes(id), -- process that served it
	client_key_id	INTEGER REFERENCES client_keys(id), -- key that authenticated it
	protocol	TEXT NOT NULL,		-- client protocol family: openai or anthropic
	endpoint	TEXT NOT NULL,		-- route, e.g. /v1/chat/completions
	model		TEXT,			-- model id as the client sent it
	model_base	TEXT,			-- model id sent upstream (provider suffix stripped)
	provider_id	TEXT,			-- provider of the final attempt
	account_name	TEXT,			-- account of the final attempt
	streamed	INTEGER NOT NULL DEFAULT 0, -- 1 if the client asked for a stream
	status		TEXT NOT NULL DEFAULT 'pending'
			CHECK (status IN ('pending', 'completed', 'client_error', 'error',
			    'client_disconnected', 'interrupted', 'rejected')), -- outcome
	status_code	INTEGER,		-- HTTP status sent to the client
	error_class	TEXT,			-- short machine-readable cause of a failure
	retry_category	TEXT,			-- category of the last failed attempt: auth_failure, quota_exceeded, transient, bad_request, never
	attempt_count	INTEGER NOT NULL DEFAULT 0, -- upstream attempts made
	finish_reason	TEXT,			-- upstream finish/stop reason
	stream_complete	INTEGER,		-- 1 if [DONE]/message_stop was seen
	started_at	INTEGER NOT NULL,	-- request accepted
	completed_at	INTEGER,		-- request finalized
	connect_ms	INTEGER,		-- upstream connect time of the final attempt
	first_byte_ms	INTEGER,		-- start to first upstream response byte
	ttft_ms		INTEGER,		-- start to first generated token relayed
	total_ms	INTEGER,		-- start to end
	overhead_us	INTEGER,		-- microseconds spent in quotapool itself before dispatch
	input_tokens	INTEGER NOT NULL DEFAULT 0, -- prompt tokens (not cached)
	output_tokens	INTEGER NOT NULL DEFAULT 0, -- generated tokens
	cache_read_tokens INTEGER NOT NULL DEFAULT 0, -- prompt tokens read from cache
	cache_write_tokens INTEGER NOT NULL DEFAULT 0, -- prompt tokens written to cache
	reasoning_tokens INTEGER NOT NULL DEFAULT 0, -- reasoning tokens (part of output)
	cost_microdollars INTEGER NOT NULL DEFAULT 0, -- cost of the request
	cost_exactness	TEXT NOT NULL DEFAULT 'unknown', -- provider_reported, exact, derived, partial, estimated, unknown
	bytes_in	INTEGER NOT NULL DEFAULT 0, -- request body bytes from the client
	bytes_out	INTEGER NOT NULL DEFAULT 0, -- response bytes sent to the client
	upstream_bytes	INTEGER NOT NULL DEFAULT 0, -- response bytes received from upstream
	client_ip	TEXT			-- address of the client as the web server saw it
);
CREATE INDEX requests_started ON requests(started_at);
CREATE INDEX requests_pending ON requests(status) WHERE status = 'pending';

-- One row per upstream attempt of a request, stored in request order (no separate row id).
CREATE TABLE request_attempts (
	request_id	INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE, -- owning request
	attempt_number	INTEGER NOT NULL,	-- 1-based
	provider_id	TEXT NOT NULL,		-- provider tried
	account_name	TEXT NOT NULL,		-- account tried
	model		TEXT NOT NULL,		-- model id sent upstream
	started_at	INTEGER NOT NULL,	-- attempt start
	completed_at	INTEGER,		-- attempt end (NULL while running)
	status_code	INTEGER,		-- upstream HTTP status (NULL = no response)
	outcome		TEXT,			-- ok, rate_limited, quota_exceeded, auth_failure, transient, client_error, client_disconnected, stream_error, local_error, interrupted
	retry_category	TEXT,			-- category used for failover (NULL when ok): auth_failure, quota_exceeded, transient, bad_request, never
	error_class	TEXT,			-- short machine-readable cause
	connect_ms	INTEGER,		-- TCP/TLS connect time
	first_byte_ms	INTEGER,		-- attempt start to first response byte
	total_ms	INTEGER,		-- attempt duration
	bytes_sent	INTEGER NOT NULL DEFAULT 0, -- request bytes sent upstream
	bytes_received	INTEGER NOT NULL DEFAULT 0, -- response bytes received
	upstream_request_id TEXT,		-- provider's request id header, if any
	PRIMARY KEY (request_id, attempt_number)
) WITHOUT ROWID;
CREATE INDEX request_attempts_account ON request_attempts(account_name, started_at);

-- In-flight reservations: one per running attempt, so that several processes agree on load.
-- A small, hot table (rows live as long as an attempt): no index and no foreign key, so that
-- taking and releasing a reservation writes one page; it is always read whole.
CREATE TABLE reservations (
	id		INTEGER PRIMARY KEY,	-- row id
	request_id	INTEGER NOT NULL,	-- requests.id of the request holding it
	attempt_number	INTEGER,		-- request_attempts.attempt_number of the attempt holding it
	account_name	TEXT NOT NULL,		-- account reserved
	process_id	INTEGER,		-- processes.id of the process holding it
	estimated_tokens INTEGER NOT NULL DEFAULT 0, -- tokens the attempt is expected to use
	estimated_microdollars INTEGER NOT NULL DEFAULT 0, -- spend the attempt is expected to cost
	created_at	INTEGER NOT NULL,	-- reservation time
	expires_at	INTEGER NOT NULL	-- ignored after this time even if never released
);

-- Account health: backoff, quarantine and circuit state, surviving restarts.
CREATE TABLE account_backoffs (
	account_name	TEXT PRIMARY KEY,	-- account concerned
	reason		TEXT NOT NULL,		-- rate_limited, quota_exceeded, auth_failure, transient, circuit_open
	backoff_until	INTEGER NOT NULL,	-- not eligible before this time
	consecutive_failures INTEGER NOT NULL DEFAULT 0, -- failures of this kind since the last success
	status_code	INTEGER,		-- upstream status of the last failure
	error_class	TEXT,			-- cause of the last failure
	updated_at	INTEGER NOT NULL	-- last change
);

-- Why each attempt went to the account it went to (the last one may have found none),
-- stored in request order (no separate row id).
CREATE TABLE routing_decisions (
	request_id	INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE, -- request routed
	attempt_number	INTEGER NOT NULL,	-- attempt this decision chose for
	model		TEXT NOT NULL,		-- model routed
	chosen_account	TEXT,			-- account chosen (NULL = none eligible)
	chosen_provider	TEXT,			-- its provider
	tier		INTEGER,		-- routing_priority of the chosen tier
	candidates	INTEGER NOT NULL,	-- accounts considered
	eligible	INTEGER NOT NULL,	-- accounts not excluded
	detail_json	TEXT NOT NULL,		-- per account: score parts or exclusion reason
	decided_at	INTEGER NOT NULL,	-- decision time
	PRIMARY KEY (request_id, attempt_number)
) WITHOUT ROWID;

-- Catalog fetches double as provider health pings.
CREATE TABLE provider_pings (
	id		INTEGER PRIMARY KEY,	-- row id
	provider_id	TEXT NOT NULL,		-- provider probed
	account_name	TEXT,			-- account whose credentials were used
	probed_at	INTEGER NOT NULL,	-- probe time
	latency_ms	INTEGER,		-- time to the full answer (NULL = no answer)
	status_code	INTEGER,		-- HTTP status (NULL = no response)
	ok		INTEGER NOT NULL,	-- 1 if the catalog was read
	error		TEXT,			-- short cause when not ok
	model_count	INTEGER			-- models listed
);
CREATE INDEX provider_pings_probed ON provider_pings(provider_id, probed_at);

-- Things operators should know about: crash recovery, stale finalization, config changes.
CREATE TABLE operational_events (
	id		INTEGER PRIMARY KEY,	-- row id
	event_type	TEXT NOT NULL,		-- e.g. crash_recovery, stale_finalized, process_start
	details_json	TEXT NOT NULL DEFAULT '{}', -- event-specific detail, never secrets
	occurred_at	INTEGER NOT NULL	-- event time
);
CREATE INDEX operational_events_occurred ON operational_events(occurred_at);

-- The last good model list of every provider.
CREATE TABLE model_catalog (
	provider_id	TEXT NOT NULL,		-- provider serving the model
	model_id	TEXT NOT NULL,		-- model id as the provider names it
	protocol	TEXT,			-- openai, anthropic, or NULL = any of the provider's
	display_name	TEXT,			-- human name, if the provider gave one
	source		TEXT NOT NULL,		-- upstream or static
	first_seen_at	INTEGER NOT NULL,	-- first listing
	last_seen_at	INTEGER NOT NULL,	-- latest listing
	PRIMARY KEY (provider_id, model_id)
);

-- Leases: one process at a time does maintenance work.
CREATE TABLE leases (
	name		TEXT PRIMARY KEY,	-- lease name, e.g. maintenance
	process_id	INTEGER NOT NULL,	-- holder
	expires_at	INTEGER NOT NULL	-- free after this time
);

-- Statistics rollups kept current by stats_rollup_request() as requests finalize: the
-- dashboard, the stats API and /metrics read these instead of the raw rows, and account
-- selection reads the hourly stats_requests rows for quota pressure. Each row is
-- one bucket of one granularity: bucket_s = 300 (5 minutes, pruned after 2 days), 3600
-- (hour), 86400 (UTC day) or 0 (all time: one bucket, bucket_start 0).
CREATE TABLE stats_requests (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding the request's completed_at
	provider_id	TEXT NOT NULL,		-- provider of the final attempt, '' = none reached
	model		TEXT NOT NULL,		-- model_base, '' = unknown
	account_name	TEXT NOT NULL,		-- account of the final attempt, '' = none reached
	status		TEXT NOT NULL,		-- request status
	requests	INTEGER NOT NULL DEFAULT 0, -- requests finalized
	streamed	INTEGER NOT NULL DEFAULT 0, -- of which streamed
	attempts	INTEGER NOT NULL DEFAULT 0, -- upstream attempts they made
	input_tokens	INTEGER NOT NULL DEFAULT 0, -- sum of requests.input_tokens
	output_tokens	INTEGER NOT NULL DEFAULT 0, -- sum of requests.output_tokens
	cache_read_tokens INTEGER NOT NULL DEFAULT 0, -- sum of requests.cache_read_tokens
	cache_write_tokens INTEGER NOT NULL DEFAULT 0, -- sum of requests.cache_write_tokens
	reasoning_tokens INTEGER NOT NULL DEFAULT 0, -- sum of requests.reasoning_tokens
	cost_microdollars INTEGER NOT NULL DEFAULT 0, -- sum of requests.cost_microdollars
	bytes_in	INTEGER NOT NULL DEFAULT 0, -- sum of request body bytes from clients
	bytes_out	INTEGER NOT NULL DEFAULT 0, -- sum of response bytes sent to clients
	upstream_bytes	INTEGER NOT NULL DEFAULT 0, -- sum of response bytes received from upstream
	total_ms_sum	INTEGER NOT NULL DEFAULT 0, -- sum of total_ms where known
	total_count	INTEGER NOT NULL DEFAULT 0, -- requests with a total_ms
	ttft_ms_sum	INTEGER NOT NULL DEFAULT 0, -- sum of ttft_ms where known
	ttft_count	INTEGER NOT NULL DEFAULT 0, -- requests with a ttft_ms
	exact_count	INTEGER NOT NULL DEFAULT 0, -- requests by cost_exactness: exact
	derived_count	INTEGER NOT NULL DEFAULT 0, -- derived
	partial_count	INTEGER NOT NULL DEFAULT 0, -- partial
	estimated_count	INTEGER NOT NULL DEFAULT 0, -- estimated
	provider_reported_count INTEGER NOT NULL DEFAULT 0, -- provider_reported
	unknown_count	INTEGER NOT NULL DEFAULT 0, -- unknown (or anything else)
	attempts_0	INTEGER NOT NULL DEFAULT 0, -- requests by upstream attempts made: none
	attempts_1	INTEGER NOT NULL DEFAULT 0, -- one
	attempts_2	INTEGER NOT NULL DEFAULT 0, -- two
	attempts_3	INTEGER NOT NULL DEFAULT 0, -- three
	attempts_4plus	INTEGER NOT NULL DEFAULT 0, -- four or more
	PRIMARY KEY (bucket_s, bucket_start, provider_id, model, account_name, status)
) WITHOUT ROWID;

-- Requests that did not complete, by error class (same buckets as stats_requests).
CREATE TABLE stats_errors (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding the request's completed_at
	provider_id	TEXT NOT NULL,		-- provider of the final attempt, '' = none reached
	model		TEXT NOT NULL,		-- model_base, '' = unknown
	account_name	TEXT NOT NULL,		-- account of the final attempt, '' = none reached
	status		TEXT NOT NULL,		-- request status (never completed)
	error_class	TEXT NOT NULL,		-- requests.error_class, '' = none
	requests	INTEGER NOT NULL DEFAULT 0, -- requests
	PRIMARY KEY (bucket_s, bucket_start, provider_id, model, account_name, status, error_class)
) WITHOUT ROWID;

-- Latency histograms of completed requests, for percentiles and /metrics: one row per
-- bucket, provider, model and metric. Bins are log-scale with 10 per decade (edges 1,
-- 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 x 10^k) from 1 microsecond: bin 0 holds values
-- under 1 us, bin b values in [edge(b-1), edge(b)); stats.h documents the resolution.
CREATE TABLE stats_latency (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding the request's completed_at
	provider_id	TEXT NOT NULL,		-- provider of the final attempt
	model		TEXT NOT NULL,		-- model_base, '' = unknown
	metric		TEXT NOT NULL,		-- total, ttft, connect, first_byte or overhead
	count		INTEGER NOT NULL DEFAULT 0, -- values counted
	sum_us		INTEGER NOT NULL DEFAULT 0, -- their sum in microseconds
	bins		BLOB NOT NULL,		-- sparse histogram: (bin byte, LEB128 count) pairs by bin
	PRIMARY KEY (bucket_s, bucket_start, provider_id, model, metric)
) WITHOUT ROWID;

-- Upstream attempts by how they ended, rolled up when their request finalizes.
CREATE TABLE stats_attempts (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding the attempt's end
	provider_id	TEXT NOT NULL,		-- provider tried
	account_name	TEXT NOT NULL,		-- account tried
	model		TEXT NOT NULL,		-- model sent upstream
	outcome		TEXT NOT NULL,		-- request_attempts.outcome, '' = none recorded
	retry_category	TEXT NOT NULL,		-- request_attempts.retry_category, '' = none
	attempts	INTEGER NOT NULL DEFAULT 0, -- attempts that ended so
	total_ms_sum	INTEGER NOT NULL DEFAULT 0, -- sum of their total_ms
	PRIMARY KEY (bucket_s, bucket_start, provider_id, account_name, model, outcome,
	    retry_category)
) WITHOUT ROWID;

-- Routing decisions, rolled up when their request finalizes: one 'chosen' or
-- 'no_account' row per decision, and one row per account excluded (with the reason
-- from detail_json).
CREATE TABLE stats_routing (
	bucket_s	INTEGER NOT NULL,	-- granularity: 300, 3600, 86400 or 0 (all time)
	bucket_start	INTEGER NOT NULL,	-- bucket start (ms) holding decided_at
	model		TEXT NOT NULL,		-- model routed
	account_name	TEXT NOT NULL,		-- account chosen or excluded, '' for no_account
	provider_id	TEXT NOT NULL,		-- its provider, '' for no_account
	reason		TEXT NOT NULL,		-- chosen, no_account, or the exclusion reason
	decisions	INTEGER NOT NULL DEFAULT 0, -- how many times
	PRIMARY KEY (bucket_s, bucket_start, model, account_name, provider_id, reason)
) WITHOUT ROWID;

-- Indexes of the statistics queries on the raw tables.
CREATE INDEX requests_failed ON requests(completed_at)
	WHERE status NOT IN ('pending', 'completed');
CREATE INDEX request_attempts_failed ON request_attempts(account_name, completed_at)
	WHERE outcome NOT IN ('ok', 'client_error', 'client_disconnected');
CREATE INDEX provider_pings_time ON provider_pings(probed_at, provider_id, ok, latency_ms);
