/* config.c: the key tables of the configuration file, one per TOML section; its top-level keys. */
#include <stddef.h>

#include "bounds.h"
#include "config_int.h"
#include "cost.h"
#include "log.h"
#include "refresh_wire.h"

#define CONFIG_QUOTA_MAX	1e15		/* any quota: a billion dollars in microdollars */
#define CONFIG_TOKENS_MAX	1e9		/* context and output token limits */
#define CONFIG_WEIGHT_MAX	1000.0		/* account weight */
/*
 * Dollars per 1K tokens: $1,000 per million, the most cost.c accepts
 * (COST_RATE_MAX); a higher price is refused here rather than leaving the
 * requests it would price unknown.
 */
#define CONFIG_PRICE_MAX	1.0

/* Per kind: its name in the docs, and what a type error says was expected. */
const struct config_kind_info config_kinds[CONFIG_KIND__MAX] = {
	[CONFIG_KIND_BOOL] = { "boolean", "a boolean" },
	[CONFIG_KIND_INT] = { "integer", "an integer" },
	[CONFIG_KIND_INT64] = { "integer", "an integer" },
	[CONFIG_KIND_FLOAT] = { "number", "a number" },
	[CONFIG_KIND_MS] = { "seconds", "a number of seconds" },
	[CONFIG_KIND_PRICE] = { "dollars per 1K tokens", "a number" },
	[CONFIG_KIND_STRING] = { "string", "a string" },
	[CONFIG_KIND_PATH] = { "path", "a string" },
	[CONFIG_KIND_NAME] = { "name", "a string" },
	[CONFIG_KIND_CHOICE] = { "string", "a string" },
	[CONFIG_KIND_CHOICE_STR] = { "string", "a string" },
	[CONFIG_KIND_PROTOCOLS] = { "array of strings", "an array of strings" },
	[CONFIG_KIND_STRINGS] = { "array of strings", "an array of strings" },
	[CONFIG_KIND_ADDRS] = { "array of IP addresses", "an array of strings" },
	[CONFIG_KIND_SECRET] = { "string (secret)", "a string" },
	[CONFIG_KIND_ENV] = { "variable name", "a string" },
	[CONFIG_KIND_BASE_URL] = { "URL", "a string" },
	[CONFIG_KIND_PROXY_URL] = { "URL (secret)", "a string" },
	[CONFIG_KIND_URLPATH] = { "URL path", "a string" },
	[CONFIG_KIND_PATHGLOBS] = { "string or array of path globs",
	    "a string or an array of strings" },
	[CONFIG_KIND_TABLES] = { "array of tables", "an array of tables" },
	[CONFIG_KIND_SUBTABLE] = { "table", "a table" },
	[CONFIG_KIND_IGNORED] = { "any", "any value" },
	[CONFIG_KIND_STATUSES] = { "array of HTTP statuses", "an array of integers" },
};

static const struct config_choice config_log_levels[] = {
	{ "debug", LOG_DEBUG, 0 },
	{ "info", LOG_INFO, 0 },
	{ "warning", LOG_WARNING, 0 },
	{ "error", LOG_ERROR, 0 },
	{ "warn", LOG_WARNING, 1 },
	{ "critical", LOG_ERROR, 1 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_synchronous[] = {
	{ "OFF", 0, 0 },
	{ "NORMAL", 1, 0 },
	{ "FULL", 2, 0 },
	{ "EXTRA", 3, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_protocols[] = {
	{ "openai", CONFIG_PROTO_OPENAI, 0 },
	{ "anthropic", CONFIG_PROTO_ANTHROPIC, 0 },
	{ NULL, 0, 0 }
};

/* A provider's protocols: the model override's ones and "responses". */
static const struct config_choice config_provider_protocols[] = {
	{ "openai", CONFIG_PROTO_OPENAI, 0 },
	{ "anthropic", CONFIG_PROTO_ANTHROPIC, 0 },
	{ "responses", CONFIG_PROTO_RESPONSES, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_losses[] = {
	{ "warn", CONFIG_LOSS_WARN, 0 },
	{ "reject", CONFIG_LOSS_REJECT, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_check_types[] = {
	{ "http", CONFIG_CHECK_HTTP, 0 },
	{ "command", CONFIG_CHECK_COMMAND, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_check_methods[] = {
	{ "GET", CONFIG_CHECK_GET, 0 },
	{ "POST", CONFIG_CHECK_POST, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_auths[] = {
	{ "bearer", CONFIG_AUTH_BEARER, 0 },
	{ "api_key", CONFIG_AUTH_API_KEY, 0 },
	{ "none", CONFIG_AUTH_NONE, 0 },
	{ "raw_authorization", -1, 1 },
	{ NULL, 0, 0 }
};

/* Key table entries, by kind. st is the section's struct, f its field. */
#define CK_BOOL(st, n, f, d, text) \
	{ .name = n, .kind = CONFIG_KIND_BOOL, .off = offsetof(st, f), .idef = d, .doc = text }
#define CK_INT(st, n, f, lo, hi, d, text) \
	{ .name = n, .kind = CONFIG_KIND_INT, .off = offsetof(st, f), .min = lo, .max = hi, \
	  .idef = d, .doc = text }
#define CK_I64(st, n, f, lo, hi, d, text) \
	{ .name = n, .kind = CONFIG_KIND_INT64, .off = offsetof(st, f), .min = lo, .max = hi, \
	  .idef = d, .doc = text }
#define CK_SECS(st, n, f, lo, hi, d, text) \
	{ .name = n, .kind = CONFIG_KIND_MS, .off = offsetof(st, f), .min = lo, .max = hi, \
	  .fdef = d, .doc = text }
#define CK_STR(st, n, f, d, text) \
	{ .name = n, .kind = CONFIG_KIND_STRING, .off = offsetof(st, f), .sdef = d, .doc = text }
#define CK_PATH(st, n, f, d, text) \
	{ .name = n, .kind = CONFIG_KIND_PATH, .off = offsetof(st, f), .sdef = d, .doc = text }
#define CK_IGN(n) \
	{ .name = n, .kind = CONFIG_KIND_IGNORED, .off = CONFIG_NOFIELD, \
	  .doc = "EggPool setting without effect in this version" }
/* An EggPool key without effect, with a reason more precise than CK_IGN's. */
#define CK_IGN_WHY(n, why) \
	{ .name = n, .kind = CONFIG_KIND_IGNORED, .off = CONFIG_NOFIELD, \
	  .doc = "EggPool setting without effect in this version", .noeffect = why }

/* A quota key of [limits] (defaults 0) or of an account (defaults from [limits]). */
#define CK_QUOTA(st, n, w, f, d, dd, text) \
	{ .name = n, .kind = CONFIG_KIND_INT64, .off = offsetof(st, quota[w].f), .min = 0, \
	  .max = CONFIG_QUOTA_MAX, .idef = d, .defdoc = dd, .doc = text }

#define S struct config_server
static const struct config_key config_keys_server[] = {
	CK_STR(S, "host", host, "127.0.0.1",
	    "Address the web server listens on when started by `quotapool-admin serve`."),
	CK_INT(S, "port", port, 1, 65535, 11300,
	    "Port the web server listens on when started by `quotapool-admin serve`."),
	CK_INT(S, "threads", threads, QP_THREADS_MIN, QP_THREADS_MAX, 256,
	    "Worker threads: how many requests (streams) are served at the same time."),
	{ .name = "max_request_body_bytes", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, max_request_body_bytes), .min = 1024, .max = QP_BODY_MAX,
	  .idef = QP_BODY_DEFAULT,
	  .doc = "Largest request body accepted; larger ones get 413." },
	CK_PATH(S, "state_dir", state_dir, "state",
	    "Directory of the pid file, logs and sockets."),
	{ .name = "socket", .kind = CONFIG_KIND_PATH, .off = offsetof(S, socket),
	  .defdoc = "under `state_dir`",
	  .doc = "FastCGI socket the process listens on when not started by the web server." },
	{ .name = "base_path", .kind = CONFIG_KIND_STRING, .off = offsetof(S, base_path),
	  .flags = CONFIG_F_EMPTY_NULL, .defdoc = "`\"\"` (the root)",
	  .doc = "URL prefix the gateway is served under, e.g. `\"/quotapool\"`, so that one web "
	  "server hosts other sites too: routes, dashboard links, cookies and redirects follow "
	  "it, and paths outside it get 404. Letters, digits and `-._~/` only." },
	{ .name = "user", .kind = CONFIG_KIND_STRING, .off = offsetof(S, user),
	  .doc = "User to switch to when started as root." },
	CK_BOOL(S, "allow_core_dumps", allow_core_dumps, 0,
	    "Let the processes be dumped (core files, ptrace, `/proc` by their user) for "
	    "debugging; a dump holds the account keys. Off: they are not dumpable."),
	{ .name = "log_level", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, log_level),
	  .idef = LOG_INFO, .choices = config_log_levels,
	  .doc = "Least severe log records written (any case; EggPool's `critical` means `error`)." },
	{ .name = "api_key", .kind = CONFIG_KIND_SECRET, .off = offsetof(S, api_key), .group = 1,
	  .doc = "Legacy single server key (EggPool), accepted besides the keys issued by "
	  "`quotapool-admin key new`." },
	{ .name = "api_key_env", .kind = CONFIG_KIND_ENV, .off = offsetof(S, api_key),
	  .off2 = CONFIG_NOFIELD, .vkind = CONFIG_KIND_SECRET, .group = 1,
	  .doc = "Variable holding the legacy server key, instead of `api_key`." },
	CK_IGN("access_log"),
};
#undef S

#define S struct config_upstream
static const struct config_key config_keys_upstream[] = {
	{ .name = "connect_timeout_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, connect_timeout_ms), .flags = CONFIG_F_ABOVE_MIN, .min = 0,
	  .max = 600, .fdef = 5, .doc = "Longest wait for a connection to a provider." },
	{ .name = "first_byte_timeout_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, first_byte_timeout_ms), .flags = CONFIG_F_ABOVE_MIN, .min = 0,
	  .max = 86400, .fdef = 300,
	  .doc = "Longest wait from sending a request to the first byte of the answer." },
	{ .name = "idle_timeout_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, idle_timeout_ms), .flags = CONFIG_F_ABOVE_MIN, .min = 0,
	  .max = 86400, .fdef = 300, .doc = "Longest silence inside a streamed answer." },
	{ .name = "keepalive_interval_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, keepalive_interval_ms), .flags = CONFIG_F_ABOVE_MIN, .min = 0,
	  .max = 60, .fdef = 1,
	  .doc = "Interval of SSE keepalive comments sent to a client while the provider is silent." },
	CK_I64(S, "max_response_body_bytes", max_response_body_bytes, 1024, QP_UPSTREAM_BODY_MAX,
	    QP_UPSTREAM_BODY_DEFAULT,
	    "Largest answer taken from a provider when not streamed; larger ones get 502."),
	CK_IGN("base_url"),
	CK_IGN("read_timeout_s"),
	CK_IGN("write_timeout_s"),
	CK_IGN("pool_timeout_s"),
	CK_IGN("max_connections"),
	CK_IGN("max_keepalive"),
	CK_IGN("keepalive_timeout_s"),
};
#undef S

#define S struct config_database
static const struct config_key config_keys_database[] = {
	CK_PATH(S, "path", path, "quotapool.db", "SQLite database file."),
	CK_INT(S, "busy_timeout_ms", busy_timeout_ms, 0, 600000, 5000,
	    "How long a connection waits for a lock held by another one."),
	{ .name = "synchronous", .kind = CONFIG_KIND_CHOICE_STR, .off = offsetof(S, synchronous),
	  .sdef = "NORMAL", .choices = config_synchronous,
	  .doc = "SQLite `synchronous` setting (any case)." },
	CK_IGN("wal"),
	CK_IGN("worker_threads"),
	CK_IGN("journal_size_limit"),
};
#undef S

#define S struct config_models
static const struct config_key config_keys_models[] = {
	CK_INT(S, "refresh_interval_s", refresh_interval_s, 0, 604800, 300,
	    "Interval of model catalog refreshes and provider pings; 0 = only at start. "
	    "A failed fetch is retried after 1 s, then 2, 4, ... up to this interval "
	    "(300 s when 0), until one succeeds."),
	CK_BOOL(S, "startup_refresh", startup_refresh, 1,
	    "Fetch every provider's model list when the process starts."),
	CK_BOOL(S, "collapse_models", collapse_models, 0,
	    "Expose one unsuffixed id per model, routed across providers, instead of "
	    "`<model>/<provider>` ids."),
	CK_INT(S, "ping_retain_days", ping_retain_days, 0, 3650, 7,
	    "Days provider ping results are kept."),
	CK_IGN("expose_mode"),
	CK_IGN("stale_after_s"),
	CK_IGN("allow_stale_catalog"),
	CK_IGN("catalog_withdrawal_policy"),
};
#undef S

#define S struct config_routing
static const struct config_key config_keys_routing[] = {
	{ .name = "max_attempts", .kind = CONFIG_KIND_INT, .off = offsetof(S, max_attempts),
	  .min = 1, .max = 20, .idef = 3, .group = 1,
	  .doc = "Upstream attempts per request, the first included." },
	{ .name = "max_retries_before_stream", .kind = CONFIG_KIND_INT,
	  .off = offsetof(S, max_attempts), .min = 0, .max = 19, .bias = 1, .group = 1,
	  .flags = CONFIG_F_EGGPOOL, .defdoc = "`2`",
	  .doc = "EggPool's name: retries after the first attempt (`max_attempts` = value + 1)." },
	CK_INT(S, "backoff_base_s", backoff_base_s, 1, 86400, 5,
	    "First backoff after a rate limit without Retry-After; doubles each time."),
	CK_INT(S, "backoff_max_s", backoff_max_s, 1, 604800, 1800, "Cap of every backoff."),
	{ .name = "quota_backoff_s", .kind = CONFIG_KIND_INT, .off = offsetof(S, quota_backoff_s),
	  .min = 1, .max = 2592000, .idef = 3600, .group = 2,
	  .doc = "Backoff of an account whose provider says its quota is exhausted." },
	{ .name = "quota_exhausted_cooldown_seconds", .kind = CONFIG_KIND_INT,
	  .off = offsetof(S, quota_backoff_s), .min = 1, .max = 2592000, .group = 2,
	  .flags = CONFIG_F_EGGPOOL, .defdoc = "`3600`",
	  .doc = "EggPool's name for `quota_backoff_s`." },
	CK_INT(S, "transient_backoff_s", transient_backoff_s, 0, 86400, 10,
	    "Backoff after a 5xx answer or a connection error."),
	CK_INT(S, "circuit_failures", circuit_failures, 1, 1000, 5,
	    "Consecutive transient failures that open an account's circuit."),
	CK_INT(S, "circuit_open_s", circuit_open_s, 1, 86400, 300,
	    "How long an open circuit keeps the account out."),
	CK_INT(S, "auth_quarantine_s", auth_quarantine_s, 1, 2592000, 1800,
	    "How long an account is left out after a 401 or 403."),
	CK_INT(S, "model_backoff_s", model_backoff_s, 1, 2592000, 300,
	    "How long an account is left out for one model its provider said it does not serve."),
	CK_IGN("strategy"),
	CK_IGN("near_tie_epsilon"),
	CK_IGN("unknown_request_reservation_microdollars"),
	CK_IGN("inflight_penalty"),
	CK_IGN("health_penalty"),
	CK_IGN("randomize_near_ties"),
	CK_IGN("local_quota_mode"),
	CK_IGN("fairness_mode"),
	CK_IGN("fairness_epsilon"),
	CK_IGN("fairness_scope"),
	CK_IGN("trace"),
};
#undef S

#define S struct config_limits
static const struct config_key config_keys_limits[] = {
	CK_QUOTA(S, "five_hour_microdollars", CONFIG_WINDOW_5H, microdollars, 0, NULL,
	    "Spend per account in 5 hours, in microdollars ($1 = 1000000); 0 = no limit."),
	CK_QUOTA(S, "weekly_microdollars", CONFIG_WINDOW_WEEK, microdollars, 0, NULL,
	    "Spend per account in 7 days, in microdollars; 0 = no limit."),
	CK_QUOTA(S, "monthly_microdollars", CONFIG_WINDOW_MONTH, microdollars, 0, NULL,
	    "Spend per account in 30 days, in microdollars; 0 = no limit."),
	CK_QUOTA(S, "five_hour_requests", CONFIG_WINDOW_5H, requests, 0, NULL,
	    "Requests per account in 5 hours; 0 = no limit."),
	CK_QUOTA(S, "weekly_requests", CONFIG_WINDOW_WEEK, requests, 0, NULL,
	    "Requests per account in 7 days; 0 = no limit."),
	CK_QUOTA(S, "monthly_requests", CONFIG_WINDOW_MONTH, requests, 0, NULL,
	    "Requests per account in 30 days; 0 = no limit."),
	CK_QUOTA(S, "five_hour_tokens", CONFIG_WINDOW_5H, tokens, 0, NULL,
	    "Tokens (input + output) per account in 5 hours; 0 = no limit."),
	CK_QUOTA(S, "weekly_tokens", CONFIG_WINDOW_WEEK, tokens, 0, NULL,
	    "Tokens per account in 7 days; 0 = no limit."),
	CK_QUOTA(S, "monthly_tokens", CONFIG_WINDOW_MONTH, tokens, 0, NULL,
	    "Tokens per account in 30 days; 0 = no limit."),
};
#undef S

#define S struct config_dashboard
static const struct config_key config_keys_dashboard[] = {
	CK_BOOL(S, "enabled", enabled, 1, "Serve the dashboard pages and `/api/stats`."),
	CK_BOOL(S, "public", public, 0, "Show the non-sensitive pages without a key."),
	CK_BOOL(S, "metrics_public", metrics_public, 0, "Serve `/metrics` without a key."),
	CK_STR(S, "theme", theme, "dark", "Theme of the pages."),
	CK_INT(S, "refresh_interval_s", refresh_interval_s, 0, 86400, 60,
	    "How often pages refresh themselves; 0 = never."),
	{ .name = "retention_days", .kind = CONFIG_KIND_INT, .off = offsetof(S, retention_days),
	  .min = 1, .max = 36500, .idef = -1, .group = 1, .defdoc = "`30`",
	  .doc = "Older name of `[retention] requests_days` (give one of them)." },
	{ .name = "retain_request_stats_days", .kind = CONFIG_KIND_INT,
	  .off = offsetof(S, retention_days), .min = 1, .max = 36500, .idef = -1, .group = 1,
	  .flags = CONFIG_F_EGGPOOL, .defdoc = "`30`",
	  .doc = "EggPool's name for `[retention] requests_days`." },
	CK_IGN("themes_dir"),
	CK_IGN("retain_event_days"),
	CK_IGN("store_request_content"),
};
#undef S

#define S struct config_security
static const struct config_key config_keys_security[] = {
	{ .name = "trusted_proxies", .kind = CONFIG_KIND_ADDRS, .off = offsetof(S, trusted_proxies),
	  .off2 = offsetof(S, ntrusted_proxies),
	  .doc = "Addresses of your reverse proxies, as the web server sees them (REMOTE_ADDR). "
	  "Only from them are X-Forwarded-For (the client is the right-most address not "
	  "listed) and X-Forwarded-Proto (`https` marks the session cookie `Secure`) believed; "
	  "exact addresses, no ranges." },
	CK_INT(S, "max_auth_failures_per_minute", max_auth_failures, 0, 1000000, 20,
	    "Failed client-key checks and dashboard logins an address may make in a minute; "
	    "beyond, it gets 429 until the minute ends. 0 = no limit."),
	CK_IGN("allowed_hosts"),
	CK_IGN("cors_origins"),
	CK_IGN("redact_headers"),
	CK_IGN("persist_redacted_error_detail"),
};
#undef S

#define S struct config_backup
static const struct config_key config_keys_backup[] = {
	CK_BOOL(S, "enabled", enabled, 0,
	    "Take backups automatically (`quotapool-admin backup --auto` on the lease holder)."),
	CK_INT(S, "interval_s", interval_s, 60, 31536000, 86400, "Interval of automatic backups."),
	CK_INT(S, "retain_count", retain_count, 1, 100000, 14,
	    "Automatic backups kept; manual ones are never removed."),
	{ .name = "directory", .kind = CONFIG_KIND_PATH, .off = offsetof(S, directory),
	  .defdoc = "`<state_dir>/backups`", .doc = "Where backups are written." },
	CK_INT(S, "startup_delay_s", startup_delay_s, 0, 31536000, 300,
	    "Seconds after start before the first automatic backup is considered."),
	CK_BOOL(S, "include_env", include_env, 1,
	    "Archive the `.env` file beside the configuration with every backup."),
};
#undef S

#define S struct config_workers
static const struct config_key config_keys_workers[] = {
	CK_BOOL(S, "enabled", enabled, 0,
	    "Serve remote workers at `/worker/v1/*` and route to the models they register."),
	CK_STR(S, "provider", provider, "workers",
	    "Provider id the workers' models are listed and routed under (`model/<id>`); it must "
	    "not be a `[providers.<id>]` too."),
	CK_INT(S, "routing_priority", routing_priority, 0, 1000000, 0,
	    "Tier of that provider, as a provider's `routing_priority`."),
	CK_INT(S, "heartbeat_s", heartbeat_s, 1, 3600, 10,
	    "Seconds between the hellos a worker is told to send."),
	CK_INT(S, "gone_after_s", gone_after_s, 2, 86400, 30,
	    "A worker that made no call for this long is gone: its models leave the catalog "
	    "(unless another live worker serves them) and it gets no job."),
};
#undef S

#define S struct config_translation
static const struct config_key config_keys_translation[] = {
	{ .name = "loss_policy", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, loss_policy),
	  .idef = CONFIG_LOSS_WARN, .choices = config_losses,
	  .doc = "A request holding something the provider's API cannot express: `warn` "
	  "translates the rest, logs what was left out and counts it on the dashboard; "
	  "`reject` answers 400 naming it." },
};
#undef S

#define S struct config_retention
static const struct config_key config_keys_retention[] = {
	{ .name = "requests_days", .kind = CONFIG_KIND_INT, .off = offsetof(S, requests_days),
	  .min = 0, .max = 36500, .idef = -1, .defdoc = "`[dashboard] retention_days`, else `30`",
	  .doc = "Days requests are kept with their attempts and routing decisions, counted "
	  "back to a UTC midnight; 0 = forever. The rollups stay." },
	{ .name = "events_days", .kind = CONFIG_KIND_INT, .off = offsetof(S, events_days),
	  .min = 0, .max = 36500, .idef = -1, .defdoc = "`requests_days`",
	  .doc = "Days operational events are kept; 0 = forever." },
	CK_INT(S, "interval_s", interval_s, 60, 86400, 3600,
	    "How often the maintenance thread deletes what is past its days."),
};
#undef S

#define S struct config_provider
static const struct config_key config_keys_provider[] = {
	{ .name = "base_url", .kind = CONFIG_KIND_BASE_URL, .off = offsetof(S, base_url),
	  .flags = CONFIG_F_REQUIRED,
	  .doc = "Absolute http or https URL of the API, without credentials, query or fragment." },
	{ .name = "protocols", .kind = CONFIG_KIND_PROTOCOLS, .off = offsetof(S, protocols),
	  .idef = CONFIG_PROTO_OPENAI, .choices = config_provider_protocols,
	  .doc = "Protocols the provider speaks: `openai` (chat completions, embeddings, "
	  "completions), `anthropic` (messages), `responses` (takes `/v1/responses` as is; "
	  "otherwise a Responses request is translated)." },
	CK_INT(S, "routing_priority", routing_priority, 0, 1000000, 0,
	    "Higher tiers are tried first."),
	CK_BOOL(S, "enabled", enabled, 1, "A disabled provider is left out of routing and the catalog."),
	CK_BOOL(S, "hard_cap", hard_cap, 0, "Default of its accounts' `hard_cap`."),
	{ .name = "auth", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, auth),
	  .idef = CONFIG_AUTH_DEFAULT, .choices = config_auths, .flags = CONFIG_F_OR_TABLE,
	  .sub = CONFIG_SEC_AUTH,
	  .defdoc = "by protocol: `bearer` for OpenAI, `api_key` (x-api-key) for Anthropic",
	  .doc = "How keys are sent; `none` for keyless local runtimes." },
	{ .name = "openai_path", .kind = CONFIG_KIND_URLPATH, .off = offsetof(S, openai_path),
	  .sdef = "/chat/completions", .doc = "Path of OpenAI chat completions under `base_url`." },
	{ .name = "anthropic_path", .kind = CONFIG_KIND_URLPATH, .off = offsetof(S, anthropic_path),
	  .sdef = "/messages", .doc = "Path of Anthropic messages under `base_url`." },
	{ .name = "responses_path", .kind = CONFIG_KIND_URLPATH, .off = offsetof(S, responses_path),
	  .sdef = "/responses",
	  .doc = "Path of the Responses API under `base_url`, used when `protocols` has "
	  "`responses`." },
	{ .name = "embeddings_path", .kind = CONFIG_KIND_URLPATH,
	  .off = offsetof(S, embeddings_path), .sdef = "/embeddings",
	  .doc = "Path of OpenAI embeddings under `base_url`." },
	{ .name = "completions_path", .kind = CONFIG_KIND_URLPATH,
	  .off = offsetof(S, completions_path), .sdef = "/completions",
	  .doc = "Path of OpenAI (legacy) completions under `base_url`." },
	{ .name = "models_path", .kind = CONFIG_KIND_URLPATH, .off = offsetof(S, models_path),
	  .sdef = "/models", .flags = CONFIG_F_EMPTY_NULL,
	  .doc = "Path of the model list; \"\" = no discovery, the catalog is `models` only." },
	{ .name = "models", .kind = CONFIG_KIND_STRINGS, .off = offsetof(S, models),
	  .off2 = offsetof(S, nmodels), .doc = "Model ids always served, besides those discovered." },
	{ .name = "connect_timeout_s", .kind = CONFIG_KIND_MS, .off = offsetof(S, connect_timeout_ms),
	  .min = 0, .max = 600, .defdoc = "`[upstream]`", .doc = "Overrides `[upstream]` when above 0." },
	{ .name = "first_byte_timeout_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, first_byte_timeout_ms), .min = 0, .max = 86400,
	  .defdoc = "`[upstream]`", .doc = "Overrides `[upstream]` when above 0." },
	{ .name = "idle_timeout_s", .kind = CONFIG_KIND_MS, .off = offsetof(S, idle_timeout_ms),
	  .min = 0, .max = 86400, .defdoc = "`[upstream]`",
	  .doc = "Overrides `[upstream]` when above 0." },
	{ .name = "ca_file", .kind = CONFIG_KIND_PATH, .off = offsetof(S, ca_file),
	  .defdoc = "the system's CAs",
	  .doc = "PEM file of the CAs that verify an https `base_url` (a private CA), "
	  "relative to the config's directory." },
	{ .name = "passthrough", .kind = CONFIG_KIND_PATHGLOBS, .off = offsetof(S, passthrough),
	  .off2 = offsetof(S, npassthrough), .defdoc = "none: `/p/<id>/` answers 404",
	  .doc = "Upstream paths served as they are under `/p/<id>/` with a pooled key: globs "
	  "(`*` any run of characters, `/` included) such as `[\"/v1/audio/*\", "
	  "\"/v1/files*\"]`, or `\"*\"` for every path (docs/passthrough.md)." },
	{ .name = "accounts", .kind = CONFIG_KIND_TABLES, .off = CONFIG_NOFIELD,
	  .doc = "The provider's accounts: see `[[providers.<id>.accounts]]`." },
	{ .name = "check", .kind = CONFIG_KIND_SUBTABLE, .off = CONFIG_NOFIELD,
	  .sub = CONFIG_SEC_CHECK, .defdoc = "none",
	  .doc = "Health check of each account, usually an inline table: see "
	  "`[providers.<id>.check]`." },
	CK_SECS(S, "check_interval_s", check_interval_ms, 1, 86400, 60,
	    "Period of the health check of each account (with `check` only)."),
	{ .name = "stream_timeouts", .kind = CONFIG_KIND_SUBTABLE, .off = CONFIG_NOFIELD,
	  .sub = CONFIG_SEC_STREAM, .flags = CONFIG_F_EGGPOOL,
	  .doc = "EggPool's form of the stream timeouts: see `[providers.<id>.stream_timeouts]`." },
	CK_IGN("kind"),
	CK_IGN("display_name"),
	CK_IGN("models_method"),
	CK_IGN("models_endpoint"),
	CK_IGN("read_timeout_s"),
	CK_IGN("write_timeout_s"),
	CK_IGN("pool_timeout_s"),
	CK_IGN("stream_completion_policy"),
	CK_IGN("max_connections"),
	CK_IGN("max_keepalive"),
	CK_IGN("keepalive_timeout_s"),
	CK_IGN("headers"),
	CK_IGN("static_models"),
	CK_IGN("verify"),
	CK_IGN("model_overrides"),
	CK_IGN("model_capabilities"),
};

static const struct config_key config_keys_auth[] = {
	{ .name = "mode", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, auth),
	  .idef = CONFIG_AUTH_DEFAULT, .choices = config_auths, .defdoc = "by protocol",
	  .doc = "Same as the string form of `auth`." },
	CK_IGN("header"),
	CK_IGN("scheme"),
};

static const struct config_key config_keys_stream[] = {
	{ .name = "first_byte_timeout_s", .kind = CONFIG_KIND_MS,
	  .off = offsetof(S, first_byte_timeout_ms), .min = 0, .max = 86400,
	  .defdoc = "`[upstream]`", .doc = "Same as the provider's `first_byte_timeout_s`." },
	{ .name = "idle_timeout_s", .kind = CONFIG_KIND_MS, .off = offsetof(S, idle_timeout_ms),
	  .min = 0, .max = 86400, .defdoc = "`[upstream]`",
	  .doc = "Same as the provider's `idle_timeout_s`." },
	CK_IGN("max_lifetime_s"),
};

static const struct config_key config_keys_check[] = {
	{ .name = "type", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, check.type),
	  .idef = CONFIG_CHECK_NONE, .choices = config_check_types, .flags = CONFIG_F_REQUIRED,
	  .defdoc = "none", .doc = "`http`: a request to `base_url` + `path` with the account's "
	  "credentials; `command`: a command run by `/bin/sh -c`." },
	{ .name = "path", .kind = CONFIG_KIND_URLPATH, .off = offsetof(S, check.path),
	  .doc = "http: path under `base_url`, query allowed. Required for `http`." },
	{ .name = "method", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, check.method),
	  .idef = CONFIG_CHECK_GET, .choices = config_check_methods,
	  .doc = "http: the request's method; `POST` sends an empty body." },
	{ .name = "expect_status", .kind = CONFIG_KIND_STATUSES,
	  .off = offsetof(S, check.expect_status), .off2 = offsetof(S, check.nexpect_status),
	  .min = 100, .max = 599, .defdoc = "any 2xx",
	  .doc = "http: the statuses that pass, at most 16." },
	CK_STR(S, "expect_body", check.expect_body, NULL,
	    "http: text the answer's body must hold (in its first 64 KiB)."),
	CK_STR(S, "cmd", check.cmd, NULL, "command: the command line, run by `/bin/sh -c` in "
	    "the configuration's directory. Required for `command`."),
	CK_STR(S, "expect_output", check.expect_output, NULL,
	    "command: text its standard output must hold (in its first 64 KiB), besides "
	    "exit status 0."),
	CK_SECS(S, "timeout_s", check.timeout_ms, 1, 300, 10,
	    "Longest run of one check; a command still running then is killed with its "
	    "process group."),
};
#undef S

#define S struct config_account
#define INHERIT "`[limits]` × `weight`"
static const struct config_key config_keys_account[] = {
	{ .name = "name", .kind = CONFIG_KIND_NAME, .off = offsetof(S, name),
	  .flags = CONFIG_F_REQUIRED,
	  .doc = "Unique across all providers; letters, digits, `_`, `.`, `-`, at most 64." },
	{ .name = "api_key", .kind = CONFIG_KIND_SECRET, .off = offsetof(S, api_key), .group = 1,
	  .doc = "The key, inline. Exactly one of `api_key` and `api_key_env` unless the "
	  "provider's auth is `none` or the account has a `refresh` (then at most one)." },
	{ .name = "api_key_env", .kind = CONFIG_KIND_ENV, .off = offsetof(S, api_key),
	  .off2 = offsetof(S, api_key_env), .vkind = CONFIG_KIND_SECRET, .group = 1,
	  .doc = "Variable holding the key: the environment first, then `.env` beside the config." },
	{ .name = "weight", .kind = CONFIG_KIND_FLOAT, .off = offsetof(S, weight),
	  .flags = CONFIG_F_ABOVE_MIN, .min = 0, .max = CONFIG_WEIGHT_MAX, .fdef = 1.0,
	  .doc = "Share of the pool; multiplies the `[limits]` defaults." },
	CK_BOOL(S, "enabled", enabled, 1, "A disabled account is never selected."),
	{ .name = "hard_cap", .kind = CONFIG_KIND_BOOL, .off = offsetof(S, hard_cap), .idef = -1,
	  .defdoc = "the provider's `hard_cap`",
	  .doc = "`true`: at any of its limits the account is not selected until the window "
	  "lets it under again; `false`: limits only weigh on the choice (quota pressure)." },
	CK_QUOTA(S, "five_hour_microdollars", CONFIG_WINDOW_5H, microdollars, -1, INHERIT,
	    "Spend allowed in 5 hours, in microdollars; 0 = no limit."),
	CK_QUOTA(S, "weekly_microdollars", CONFIG_WINDOW_WEEK, microdollars, -1, INHERIT,
	    "Spend allowed in 7 days, in microdollars; 0 = no limit."),
	CK_QUOTA(S, "monthly_microdollars", CONFIG_WINDOW_MONTH, microdollars, -1, INHERIT,
	    "Spend allowed in 30 days, in microdollars; 0 = no limit."),
	CK_QUOTA(S, "five_hour_requests", CONFIG_WINDOW_5H, requests, -1, INHERIT,
	    "Requests allowed in 5 hours; 0 = no limit."),
	CK_QUOTA(S, "weekly_requests", CONFIG_WINDOW_WEEK, requests, -1, INHERIT,
	    "Requests allowed in 7 days; 0 = no limit."),
	CK_QUOTA(S, "monthly_requests", CONFIG_WINDOW_MONTH, requests, -1, INHERIT,
	    "Requests allowed in 30 days; 0 = no limit."),
	CK_QUOTA(S, "five_hour_tokens", CONFIG_WINDOW_5H, tokens, -1, INHERIT,
	    "Tokens allowed in 5 hours; 0 = no limit."),
	CK_QUOTA(S, "weekly_tokens", CONFIG_WINDOW_WEEK, tokens, -1, INHERIT,
	    "Tokens allowed in 7 days; 0 = no limit."),
	CK_QUOTA(S, "monthly_tokens", CONFIG_WINDOW_MONTH, tokens, -1, INHERIT,
	    "Tokens allowed in 30 days; 0 = no limit."),
	CK_QUOTA(S, "five_hour_offset_microdollars", CONFIG_WINDOW_5H, offset_microdollars, 0, NULL,
	    "Spend in the 5-hour window made elsewhere, counted in."),
	CK_QUOTA(S, "weekly_offset_microdollars", CONFIG_WINDOW_WEEK, offset_microdollars, 0, NULL,
	    "Spend in the weekly window made elsewhere, counted in."),
	CK_QUOTA(S, "monthly_offset_microdollars", CONFIG_WINDOW_MONTH, offset_microdollars, 0,
	    NULL, "Spend in the monthly window made elsewhere, counted in."),
	{ .name = "proxy", .kind = CONFIG_KIND_NAME, .off = offsetof(S, proxy), .group = 2,
	  .doc = "Name of a `[proxies.<name>]` to connect through." },
	{ .name = "proxy_url", .kind = CONFIG_KIND_PROXY_URL, .off = offsetof(S, proxy_url),
	  .group = 2, .doc = "Proxy URL (http, https, socks5, socks5h), inline." },
	{ .name = "proxy_url_env", .kind = CONFIG_KIND_ENV, .off = offsetof(S, proxy_url),
	  .off2 = CONFIG_NOFIELD, .vkind = CONFIG_KIND_PROXY_URL, .group = 2,
	  .doc = "Variable holding the proxy URL. At most one of `proxy`, `proxy_url`, "
	  "`proxy_url_env`." },
	{ .name = "refresh", .kind = CONFIG_KIND_SUBTABLE, .off = CONFIG_NOFIELD,
	  .sub = CONFIG_SEC_REFRESH, .defdoc = "none",
	  .doc = "How the account's access token is renewed: see "
	  "`[providers.<id>.accounts.refresh]` (usually written inline, "
	  "`refresh = { url = ..., body_env = ... }`)." },
};
#undef INHERIT

static const struct config_choice config_refresh_methods[] = {
	{ "POST", CONFIG_REFRESH_POST, 0 },
	{ "PUT", CONFIG_REFRESH_PUT, 0 },
	{ NULL, 0, 0 }
};

static const struct config_choice config_refresh_types[] = {
	{ "application/json", REFRESH_WIRE_JSON, 0 },
	{ "application/x-www-form-urlencoded", REFRESH_WIRE_FORM, 0 },
	{ "json", REFRESH_WIRE_JSON, 1 },
	{ "form", REFRESH_WIRE_FORM, 1 },
	{ NULL, 0, 0 }
};

static const struct config_key config_keys_refresh[] = {
	{ .name = "url", .kind = CONFIG_KIND_BASE_URL, .off = offsetof(S, refresh.url),
	  .flags = CONFIG_F_REQUIRED,
	  .doc = "The token endpoint: absolute http or https URL, without credentials, query "
	  "or fragment. Reached through the account's proxy, with the provider's `ca_file`." },
	{ .name = "body_env", .kind = CONFIG_KIND_ENV, .off = offsetof(S, refresh.body),
	  .off2 = offsetof(S, refresh.body_env), .vkind = CONFIG_KIND_SECRET,
	  .flags = CONFIG_F_REQUIRED,
	  .doc = "Variable holding the request body (a secret: it carries the refresh token "
	  "or client secret), one line: a JSON object, or a form as `content_type` says." },
	{ .name = "method", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, refresh.method),
	  .idef = CONFIG_REFRESH_POST, .choices = config_refresh_methods,
	  .doc = "HTTP method of the refresh request." },
	{ .name = "content_type", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, refresh.form),
	  .idef = REFRESH_WIRE_JSON, .choices = config_refresh_types,
	  .doc = "How the body is written and sent (`json` and `form` are accepted too)." },
	CK_STR(S, "token_field", refresh.token_field, "access_token",
	    "Where the answer (JSON) holds the new token; `a.b` reaches into objects."),
	{ .name = "expires_field", .kind = CONFIG_KIND_STRING,
	  .off = offsetof(S, refresh.expires_field), .sdef = "expires_in",
	  .flags = CONFIG_F_EMPTY_NULL,
	  .doc = "Where the answer holds the token's lifetime in seconds (a number or a string "
	  "of digits); \"\" = not read: the token is renewed only after a 401." },
	{ .name = "refresh_token_field", .kind = CONFIG_KIND_STRING,
	  .off = offsetof(S, refresh.refresh_token_field), .sdef = "refresh_token",
	  .flags = CONFIG_F_EMPTY_NULL,
	  .doc = "Where the answer holds a rotated refresh token: it is kept (encrypted in the "
	  "database) and replaces this top-level field of the body from then on (added when "
	  "the body has none); \"\" = tokens are not rotated." },
	CK_SECS(S, "skew_s", refresh.skew_ms, 0, 86400, 60,
	    "Renew this long before the expiry the answer gave."),
	CK_SECS(S, "timeout_s", refresh.timeout_ms, 1, 300, 30,
	    "Time limit of the refresh request, connection included."),
};
#undef S

#define S struct config_proxy
static const struct config_key config_keys_proxy[] = {
	{ .name = "url", .kind = CONFIG_KIND_PROXY_URL, .off = offsetof(S, url), .group = 1,
	  .flags = CONFIG_F_ONE_REQUIRED,
	  .doc = "Proxy URL (http, https, socks5, socks5h), inline; may hold credentials." },
	{ .name = "url_env", .kind = CONFIG_KIND_ENV, .off = offsetof(S, url),
	  .off2 = CONFIG_NOFIELD, .vkind = CONFIG_KIND_PROXY_URL, .group = 1,
	  .flags = CONFIG_F_ONE_REQUIRED,
	  .doc = "Variable holding the proxy URL. Exactly one of `url` and `url_env`." },
};
#undef S

#define S struct config_model_override
static const struct config_key config_keys_override[] = {
	{ .name = "protocol", .kind = CONFIG_KIND_CHOICE, .off = offsetof(S, protocol),
	  .idef = 0, .choices = config_protocols, .defdoc = "unset",
	  .doc = "Protocol the model is served with." },
	{ .name = "input_price_per_1k", .kind = CONFIG_KIND_PRICE, .off = offsetof(S, input_per_mtok),
	  .min = 0, .max = CONFIG_PRICE_MAX, .idef = -1, .defdoc = "unset",
	  .doc = "Price of input tokens in dollars per 1K (stored as microdollars per million)." },
	{ .name = "output_price_per_1k", .kind = CONFIG_KIND_PRICE,
	  .off = offsetof(S, output_per_mtok), .min = 0, .max = CONFIG_PRICE_MAX, .idef = -1,
	  .defdoc = "unset", .doc = "Price of output tokens in dollars per 1K." },
	{ .name = "cache_read_per_million_microdollars", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, cache_read_per_mtok), .min = 0, .max = COST_RATE_MAX, .idef = -1,
	  .defdoc = "unset", .doc = "Price of cache-read tokens in microdollars per million." },
	{ .name = "cache_write_per_million_microdollars", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, cache_write_per_mtok), .min = 0, .max = COST_RATE_MAX, .idef = -1,
	  .defdoc = "unset", .doc = "Price of cache-write tokens in microdollars per million." },
	{ .name = "max_context_tokens", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, max_context_tokens), .min = 0, .max = CONFIG_TOKENS_MAX, .idef = 0,
	  .defdoc = "the catalog's, else unknown",
	  .doc = "Context window: prompt and answer together; 0 = the provider's model list "
	  "says, else unknown. Wins over the model lists." },
	{ .name = "max_output_tokens", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, max_output_tokens), .min = 0, .max = CONFIG_TOKENS_MAX, .idef = 0,
	  .defdoc = "the catalog's, else unknown",
	  .doc = "Longest answer; 0 = the model lists say, else unknown; at most "
	  "`max_context_tokens`. A client's larger `max_tokens` counts as this much." },
	{ .name = "max_input_tokens", .kind = CONFIG_KIND_INT64,
	  .off = offsetof(S, max_input_tokens), .min = 0, .max = CONFIG_TOKENS_MAX, .idef = 0,
	  .doc = "Longest prompt, when the provider limits it apart from the context; "
	  "0 = no such limit; at most `max_context_tokens`." },
	CK_BOOL(S, "enforce_context_limit", enforce_context_limit, 1,
	    "Refuse (400, before any upstream call) a request clearly over the model's limits: "
	    "its prompt, estimated from its bytes, above `max_input_tokens`, or with its "
	    "`max_tokens` above the context window (docs/configuration.md, Context limits)."),
};
#undef S

#define CONFIG_NKEYS(k)	(sizeof(k) / sizeof((k)[0]))
_Static_assert(CONFIG_NKEYS(config_keys_server) <= CONFIG_KEYS_MAX, "server keys");
_Static_assert(CONFIG_NKEYS(config_keys_upstream) <= CONFIG_KEYS_MAX, "upstream keys");
_Static_assert(CONFIG_NKEYS(config_keys_database) <= CONFIG_KEYS_MAX, "database keys");
_Static_assert(CONFIG_NKEYS(config_keys_models) <= CONFIG_KEYS_MAX, "models keys");
_Static_assert(CONFIG_NKEYS(config_keys_routing) <= CONFIG_KEYS_MAX, "routing keys");
_Static_assert(CONFIG_NKEYS(config_keys_limits) <= CONFIG_KEYS_MAX, "limits keys");
_Static_assert(CONFIG_NKEYS(config_keys_dashboard) <= CONFIG_KEYS_MAX, "dashboard keys");
_Static_assert(CONFIG_NKEYS(config_keys_security) <= CONFIG_KEYS_MAX, "security keys");
_Static_assert(CONFIG_NKEYS(config_keys_backup) <= CONFIG_KEYS_MAX, "backup keys");
_Static_assert(CONFIG_NKEYS(config_keys_retention) <= CONFIG_KEYS_MAX, "retention keys");
_Static_assert(CONFIG_NKEYS(config_keys_provider) <= CONFIG_KEYS_MAX, "provider keys");
_Static_assert(CONFIG_NKEYS(config_keys_account) <= CONFIG_KEYS_MAX, "account keys");
_Static_assert(CONFIG_NKEYS(config_keys_check) <= CONFIG_KEYS_MAX, "check keys");
_Static_assert(CONFIG_NKEYS(config_keys_refresh) <= CONFIG_KEYS_MAX, "refresh keys");

#define CONFIG_SECTION(t, k, o, d) { t, k, CONFIG_NKEYS(k), o, d }
const struct config_section config_sections[CONFIG_SEC__MAX] = {
	[CONFIG_SEC_SERVER] = CONFIG_SECTION("[server]", config_keys_server,
	    offsetof(struct config, server), "The process and the web server in front of it."),
	[CONFIG_SEC_UPSTREAM] = CONFIG_SECTION("[upstream]", config_keys_upstream,
	    offsetof(struct config, upstream),
	    "Timeouts of requests to providers; each provider may override them."),
	[CONFIG_SEC_DATABASE] = CONFIG_SECTION("[database]", config_keys_database,
	    offsetof(struct config, database), "The SQLite database of requests, usage and backoffs."),
	[CONFIG_SEC_MODELS] = CONFIG_SECTION("[models]", config_keys_models,
	    offsetof(struct config, models), "The model catalog served at `/v1/models`."),
	[CONFIG_SEC_ROUTING] = CONFIG_SECTION("[routing]", config_keys_routing,
	    offsetof(struct config, routing), "Retries, failover and backoffs."),
	[CONFIG_SEC_LIMITS] = CONFIG_SECTION("[limits]", config_keys_limits,
	    offsetof(struct config, limits),
	    "Default quota of every account, multiplied by its `weight`; an account's own "
	    "keys win. Unlike EggPool, the defaults are 0 (no limit)."),
	[CONFIG_SEC_DASHBOARD] = CONFIG_SECTION("[dashboard]", config_keys_dashboard,
	    offsetof(struct config, dashboard), "The dashboard pages and the stats API."),
	[CONFIG_SEC_SECURITY] = CONFIG_SECTION("[security]", config_keys_security,
	    offsetof(struct config, security), "Who is believed about client addresses."),
	[CONFIG_SEC_BACKUP] = CONFIG_SECTION("[backup]", config_keys_backup,
	    offsetof(struct config, backup), "Automatic backups: the process holding the "
	    "maintenance lease runs `quotapool-admin backup --auto` when the newest automatic "
	    "archive is older than `interval_s` (see docs/operations.md)."),
	[CONFIG_SEC_TRANSLATION] = CONFIG_SECTION("[translation]", config_keys_translation,
	    offsetof(struct config, translation), "Serving a client from a provider that speaks "
	    "another API (Messages from chat completions and the other way round, Responses from "
	    "either): see docs/translation.md."),
	[CONFIG_SEC_RETENTION] = CONFIG_SECTION("[retention]", config_keys_retention,
	    offsetof(struct config, retention),
	    "How long rows are kept, applied by the maintenance thread every `interval_s` and by "
	    "`quotapool-admin db prune`. Provider pings follow `[models] ping_retain_days`."),
	[CONFIG_SEC_WORKERS] = CONFIG_SECTION("[workers]", config_keys_workers,
	    offsetof(struct config, workers), "Remote workers: machines the gateway cannot "
	    "reach that dial in with `quotapool-worker` and serve the models of their local "
	    "runtime (docs/workers.md). Their first-byte and idle timeouts are `[upstream]`'s."),
	[CONFIG_SEC_PROVIDER] = CONFIG_SECTION("[providers.<id>]", config_keys_provider,
	    CONFIG_NOFIELD,
	    "One upstream API. The id matches `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` and is the "
	    "suffix of its model ids. A provider needs at least one account, except one whose "
	    "auth is `none`: it gets one account named after the provider."),
	[CONFIG_SEC_AUTH] = CONFIG_SECTION("[providers.<id>.auth]", config_keys_auth,
	    CONFIG_NOFIELD, "EggPool's table form of `auth`; custom header names are not used."),
	[CONFIG_SEC_STREAM] = CONFIG_SECTION("[providers.<id>.stream_timeouts]",
	    config_keys_stream, CONFIG_NOFIELD, "EggPool's form of the provider's stream timeouts."),
	[CONFIG_SEC_ACCOUNT] = CONFIG_SECTION("[[providers.<id>.accounts]]", config_keys_account,
	    CONFIG_NOFIELD, "One credential at a provider."),
	[CONFIG_SEC_REFRESH] = CONFIG_SECTION("[providers.<id>.accounts.refresh]",
	    config_keys_refresh, CONFIG_NOFIELD,
	    "An account's `refresh` table: its access token (`api_key`, `api_key_env`, or none "
	    "at first) is renewed by this request before it expires and after a 401, once "
	    "across all processes; see docs/passthrough.md, Credentials that refresh."),
	[CONFIG_SEC_PROXY] = CONFIG_SECTION("[proxies.<name>]", config_keys_proxy, CONFIG_NOFIELD,
	    "An outbound proxy accounts name with `proxy`; names as for accounts."),
	[CONFIG_SEC_OVERRIDE] = CONFIG_SECTION("[model_overrides.\"<model>\"]",
	    config_keys_override, CONFIG_NOFIELD,
	    "Facts about a model (base id, without provider suffix) the catalog cannot know."),
	[CONFIG_SEC_CHECK] = CONFIG_SECTION("[providers.<id>.check]", config_keys_check,
	    CONFIG_NOFIELD, "The health check of the provider's accounts, usually written "
	    "inline: `check = { type = \"http\", path = \"/models\", expect_status = [200] }` "
	    "or `check = { type = \"command\", cmd = \"./probe.sh\", expect_output = \"ok\" }`. "
	    "The process holding the maintenance lease runs it for every enabled account every "
	    "`check_interval_s`; an account whose check fails is left out of routing (backoff "
	    "reason `health_check`) until a check passes. See docs/operations.md."),
};
#undef CONFIG_SECTION

/* Top-level keys of the file. */
const struct config_root config_roots[] = {
	{ "server", CONFIG_ROOT_SECTION, CONFIG_SEC_SERVER },
	{ "upstream", CONFIG_ROOT_SECTION, CONFIG_SEC_UPSTREAM },
	{ "database", CONFIG_ROOT_SECTION, CONFIG_SEC_DATABASE },
	{ "models", CONFIG_ROOT_SECTION, CONFIG_SEC_MODELS },
	{ "routing", CONFIG_ROOT_SECTION, CONFIG_SEC_ROUTING },
	{ "limits", CONFIG_ROOT_SECTION, CONFIG_SEC_LIMITS },
	{ "dashboard", CONFIG_ROOT_SECTION, CONFIG_SEC_DASHBOARD },
	{ "security", CONFIG_ROOT_SECTION, CONFIG_SEC_SECURITY },
	{ "backup", CONFIG_ROOT_SECTION, CONFIG_SEC_BACKUP },
	{ "translation", CONFIG_ROOT_SECTION, CONFIG_SEC_TRANSLATION },
	{ "retention", CONFIG_ROOT_SECTION, CONFIG_SEC_RETENTION },
	{ "workers", CONFIG_ROOT_SECTION, CONFIG_SEC_WORKERS },
	{ "providers", CONFIG_ROOT_PROVIDERS, CONFIG_SEC_PROVIDER },
	{ "proxies", CONFIG_ROOT_PROXIES, CONFIG_SEC_PROXY },
	{ "model_overrides", CONFIG_ROOT_OVERRIDES, CONFIG_SEC_OVERRIDE },
	{ "aliases", CONFIG_ROOT_ALIASES, -1 },
	{ "maintenance", CONFIG_ROOT_IGNORED, -1 },
	{ "pricing", CONFIG_ROOT_IGNORED, -1 },
	{ "transcoder", CONFIG_ROOT_IGNORED, -1 },
	{ "metrics", CONFIG_ROOT_IGNORED, -1 },
	{ "readiness_probe", CONFIG_ROOT_IGNORED, -1 },
	{ "update_checker", CONFIG_ROOT_IGNORED, -1 },
	{ "network", CONFIG_ROOT_IGNORED, -1 },
	{ "model_info", CONFIG_ROOT_IGNORED, -1 },
	{ "model_capabilities", CONFIG_ROOT_IGNORED, -1 },
	{ "accounts", CONFIG_ROOT_LEGACY, -1 },
};
const size_t config_nroots = sizeof(config_roots) / sizeof(config_roots[0]);
