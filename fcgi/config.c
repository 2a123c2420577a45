/* config.c: the configuration file, read, checked and documented from per-section key tables. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "config.h"
#include "cost.h"
#include "crypto.h"
#include "ctxlimit.h"
#include "log.h"
#include "toml.h"

#define CONFIG_NOFIELD		((size_t)-1)	/* key fills no field */
#define CONFIG_KEYS_MAX		48		/* keys of the largest section table */
#define CONFIG_NAME_MAX		64		/* account and proxy names, provider ids */
#define CONFIG_ENVNAME_MAX	128		/* variable names of *_env keys */
#define CONFIG_MODEL_MAX	256		/* model ids */
#define CONFIG_QUOTA_MAX	1e15		/* any quota: a billion dollars in microdollars */
#define CONFIG_TOKENS_MAX	1e9		/* context and output token limits */
#define CONFIG_WEIGHT_MAX	1000.0		/* account weight */
/*
 * Dollars per 1K tokens: $1,000 per million, the most cost.c accepts
 * (COST_RATE_MAX); a higher price is refused here rather than leaving the
 * requests it would price unknown.
 */
#define CONFIG_PRICE_MAX	1.0

/* How a key's value is read and stored. */
enum config_kind {
	CONFIG_KIND_BOOL,	/* int 0 or 1 */
	CONFIG_KIND_INT,	/* int, range-checked */
	CONFIG_KIND_INT64,	/* int64_t, range-checked */
	CONFIG_KIND_FLOAT,	/* double; integers accepted */
	CONFIG_KIND_MS,		/* int milliseconds, written as seconds (integer or float) */
	CONFIG_KIND_PRICE,	/* int64_t microdollars per million tokens, written as dollars per 1K */
	CONFIG_KIND_STRING,	/* char *, printable text */
	CONFIG_KIND_PATH,	/* char *, made absolute against the config's directory */
	CONFIG_KIND_NAME,	/* char *, [A-Za-z0-9_.-]{1,64} */
	CONFIG_KIND_CHOICE,	/* int, the value of one of choices */
	CONFIG_KIND_CHOICE_STR,	/* char *, the canonical spelling of one of choices */
	CONFIG_KIND_PROTOCOLS,	/* unsigned CONFIG_PROTO_* mask from an array of names */
	CONFIG_KIND_STRINGS,	/* char ** at off, int count at off2 */
	CONFIG_KIND_ADDRS,	/* like STRINGS, each an IPv4 or IPv6 address */
	CONFIG_KIND_SECRET,	/* char *, an inline secret */
	CONFIG_KIND_ENV,	/* names a variable whose value fills off; the name goes to off2 */
	CONFIG_KIND_BASE_URL,	/* char *, absolute http(s) URL without trailing '/' */
	CONFIG_KIND_PROXY_URL,	/* char *, secret, http/https/socks5/socks5h URL */
	CONFIG_KIND_URLPATH,	/* char *, starting with '/' */
	CONFIG_KIND_TABLES,	/* array of tables, read by the caller */
	CONFIG_KIND_SUBTABLE,	/* table read by section sub into the same struct */
	CONFIG_KIND_IGNORED,	/* EggPool key quotapool does not use: a warning */
	CONFIG_KIND__MAX
};

/* Per kind: its name in the docs, and what a type error says was expected. */
struct config_kind_info {
	const char	*doc;		/* "integer", "string", ... */
	const char	*expected;	/* "an integer", ... */
};

static const struct config_kind_info config_kinds[CONFIG_KIND__MAX] = {
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
	[CONFIG_KIND_TABLES] = { "array of tables", "an array of tables" },
	[CONFIG_KIND_SUBTABLE] = { "table", "a table" },
	[CONFIG_KIND_IGNORED] = { "any", "any value" },
};

/* Flags of a key. */
#define CONFIG_F_REQUIRED	0x01	/* must be given */
#define CONFIG_F_ABOVE_MIN	0x02	/* the value must be strictly above min */
#define CONFIG_F_EMPTY_NULL	0x04	/* "" leaves the field NULL */
#define CONFIG_F_ONE_REQUIRED	0x08	/* one key of the group must be given */
#define CONFIG_F_EGGPOOL	0x10	/* EggPool's name for a quotapool setting */
#define CONFIG_F_OR_TABLE	0x20	/* a table value is read by section sub */

/* One accepted spelling of a choice. */
struct config_choice {
	const char	*name;		/* compared without case */
	int		 value;		/* stored; -1 = known but not supported */
	int		 alias;		/* 1 = accepted, not listed in the docs */
};

/* One key of a section: everything parsing, defaults, checks and docs need. */
struct config_key {
	const char		*name;		/* key as written in the file */
	enum config_kind	 kind;		/* how the value is read and stored */
	size_t			 off;		/* field filled in the section's struct */
	size_t			 off2;		/* STRINGS: count; ENV: variable name or NOFIELD */
	unsigned		 flags;		/* CONFIG_F_* */
	int			 group;		/* keys sharing a non-zero group exclude each other */
	double			 min, max;	/* range as written (seconds, dollars per 1K, ...) */
	int64_t			 idef;		/* default of integer, boolean and choice kinds */
	double			 fdef;		/* default of FLOAT and MS (in seconds) */
	const char		*sdef;		/* default of string kinds; NULL = none */
	int64_t			 bias;		/* added to an integer as written */
	const struct config_choice *choices;	/* CHOICE kinds and PROTOCOLS; NULL-terminated */
	enum config_kind	 vkind;		/* ENV: SECRET or PROXY_URL, how the value is checked */
	int			 sub;		/* SUBTABLE and OR_TABLE: section reading the table */
	const char		*defdoc;	/* default as documented, when not a constant */
	const char		*doc;		/* one-line description */
	const char		*noeffect;	/* not NULL: read and checked, but nothing uses it
						   in this version, which a warning says, with why */
};

/* Sections, in the order of the docs. */
enum config_sec {
	CONFIG_SEC_SERVER,
	CONFIG_SEC_UPSTREAM,
	CONFIG_SEC_DATABASE,
	CONFIG_SEC_MODELS,
	CONFIG_SEC_ROUTING,
	CONFIG_SEC_LIMITS,
	CONFIG_SEC_DASHBOARD,
	CONFIG_SEC_SECURITY,
	CONFIG_SEC_BACKUP,
	CONFIG_SEC_TRANSLATION,
	CONFIG_SEC_RETENTION,
	CONFIG_SEC_WORKERS,
	CONFIG_SEC_PROVIDER,
	CONFIG_SEC_AUTH,
	CONFIG_SEC_STREAM,
	CONFIG_SEC_ACCOUNT,
	CONFIG_SEC_PROXY,
	CONFIG_SEC_OVERRIDE,
	CONFIG_SEC__MAX
};

struct config_section {
	const char		*title;		/* as in the docs: "[server]" */
	const struct config_key	*keys;		/* the table */
	size_t			 nkeys;		/* entries in keys */
	size_t			 off;		/* struct inside struct config; NOFIELD if repeated */
	const char		*doc;		/* paragraph of the docs */
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
	{ .name = "accounts", .kind = CONFIG_KIND_TABLES, .off = CONFIG_NOFIELD,
	  .doc = "The provider's accounts: see `[[providers.<id>.accounts]]`." },
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
#undef S

#define S struct config_account
#define INHERIT "`[limits]` × `weight`"
static const struct config_key config_keys_account[] = {
	{ .name = "name", .kind = CONFIG_KIND_NAME, .off = offsetof(S, name),
	  .flags = CONFIG_F_REQUIRED,
	  .doc = "Unique across all providers; letters, digits, `_`, `.`, `-`, at most 64." },
	{ .name = "api_key", .kind = CONFIG_KIND_SECRET, .off = offsetof(S, api_key), .group = 1,
	  .doc = "The key, inline. Exactly one of `api_key` and `api_key_env` unless the "
	  "provider's auth is `none`." },
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
};
#undef INHERIT
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

#define CONFIG_SECTION(t, k, o, d) { t, k, CONFIG_NKEYS(k), o, d }
static const struct config_section config_sections[CONFIG_SEC__MAX] = {
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
	[CONFIG_SEC_PROXY] = CONFIG_SECTION("[proxies.<name>]", config_keys_proxy, CONFIG_NOFIELD,
	    "An outbound proxy accounts name with `proxy`; names as for accounts."),
	[CONFIG_SEC_OVERRIDE] = CONFIG_SECTION("[model_overrides.\"<model>\"]",
	    config_keys_override, CONFIG_NOFIELD,
	    "Facts about a model (base id, without provider suffix) the catalog cannot know."),
};
#undef CONFIG_SECTION

/* What a top-level key of the file is. */
enum config_root_kind {
	CONFIG_ROOT_SECTION,	/* one fixed section */
	CONFIG_ROOT_PROVIDERS,	/* [providers.<id>] tables */
	CONFIG_ROOT_PROXIES,	/* [proxies.<name>] tables */
	CONFIG_ROOT_OVERRIDES,	/* [model_overrides."<model>"] tables */
	CONFIG_ROOT_ALIASES,	/* [aliases]: "glob" = model id or [model ids] */
	CONFIG_ROOT_IGNORED,	/* EggPool section quotapool does not use */
	CONFIG_ROOT_LEGACY,	/* EggPool's top-level [[accounts]] */
	CONFIG_ROOT__MAX
};

struct config_root {
	const char		*name;	/* top-level key */
	enum config_root_kind	 kind;	/* how it is read */
	int			 sec;	/* CONFIG_SEC_* of SECTION */
};

static const struct config_root config_roots[] = {
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
#define CONFIG_NROOTS	(sizeof(config_roots) / sizeof(config_roots[0]))

/* Variables of the .env file beside the configuration. */
struct config_dotenv {
	char		**names;	/* owned */
	char		**values;	/* owned secrets */
	int		  n;		/* pairs */
	int		  cap;		/* allocated pairs */
	int		  loaded;	/* 1 once read (or found absent) */
};

/* An account's proxy = "name", resolved once every [proxies] is known. */
struct config_ref {
	int		 prov;		/* provider index */
	int		 acct;		/* account index */
	unsigned	 line, col;	/* where the name is written */
};

/* State of one load. */
struct config_ctx {
	struct config		*cfg;		/* being filled */
	struct config_diag	*diag;		/* messages go here */
	int			 cap;		/* allocated messages */
	int			 dropped;	/* messages beyond CONFIG_DIAG_MAX */
	int			 dropped_errors;	/* how many of them were errors */
	int			 summary;	/* 1 = room for the message counting them */
	int			 oom;		/* an allocation failed */
	const char		*dir;		/* directory of the file */
	struct config_dotenv	 dotenv;	/* read when a variable is not in the environment */
	struct config_ref	*refs;		/* proxy names to resolve */
	int			 nrefs, refcap;
	unsigned		 sec_line[CONFIG_SEC__MAX];	/* line of each fixed section */
	char			 where[300];	/* dotted name of the table read, for messages */
	char			 title[320];	/* its bracketed name */
};

static void	config_msg(struct config_ctx *, enum config_severity, unsigned, unsigned,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/* Appends a message; beyond CONFIG_DIAG_MAX only counts it. */
static void
config_msg(struct config_ctx *c, enum config_severity sev, unsigned line, unsigned col,
    const char *fmt, ...)
{
	struct config_diag *d = c->diag;
	struct config_msg *m;
	va_list ap;
	int ncap;

	if (d->n >= CONFIG_DIAG_MAX + c->summary) {
		c->dropped++;
		if (sev == CONFIG_ERROR)
			c->dropped_errors++;
		return;
	}
	if (d->n >= c->cap) {
		ncap = c->cap < 16 ? 16 : c->cap * 2;
		if (ncap > CONFIG_DIAG_MAX + 1)
			ncap = CONFIG_DIAG_MAX + 1;
		m = realloc(d->msgs, (size_t)ncap * sizeof(*m));
		if (m == NULL) {
			c->oom = 1;
			return;
		}
		d->msgs = m;
		c->cap = ncap;
	}
	m = &d->msgs[d->n++];
	m->severity = sev;
	m->line = (int)(line > INT_MAX ? 0 : line);
	m->col = (int)(col > INT_MAX ? 0 : col);
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	if (sev == CONFIG_ERROR)
		d->nerrors++;
}

/* Copies untrusted text for a message: printable ASCII, '?' for the rest, cut with "...". */
static const char *
config_show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;
	unsigned char ch;

	for (i = 0; i < len && o + 4 < size; i++) {
		ch = (unsigned char)s[i];
		buf[o++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static char *
config_strndup(struct config_ctx *c, const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL) {
		c->oom = 1;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static char *
config_strdup(struct config_ctx *c, const char *s)
{

	return config_strndup(c, s, strlen(s));
}

/* Frees a string field, wiping it (any string may be a secret). */
static void
config_set_str(char **field, char *s)
{

	crypto_free_secret(*field);
	*field = s;
}

/* Line of a key: where it is written, else where its value is. */
static unsigned
config_kv_line(const struct toml_kv *kv)
{

	return kv->line != 0 ? kv->line : kv->val->line;
}

/* "an integer", "a string": the TOML type of v with its article. */
static const char *
config_got(const struct toml_value *v, char *buf, size_t size)
{
	const char *t = toml_type_name(v->type);

	snprintf(buf, size, "%s %s", strchr("aeiouAEIOU", t[0]) != NULL ? "an" : "a", t);
	return buf;
}

/* Optimal string alignment distance of two short strings. */
static int
config_distance(const char *a, size_t la, const char *b, size_t lb)
{
	int r0[CONFIG_NAME_MAX + 1], r1[CONFIG_NAME_MAX + 1], r2[CONFIG_NAME_MAX + 1];
	int *pp = r0, *p = r1, *cur = r2, *t;
	size_t i, j;
	int cost, v;

	if (la > CONFIG_NAME_MAX || lb > CONFIG_NAME_MAX)
		return INT_MAX;
	for (j = 0; j <= lb; j++)
		p[j] = (int)j;
	for (i = 1; i <= la; i++) {
		cur[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] == b[j - 1] ? 0 : 1;
			v = p[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
		}
		t = pp;
		pp = p;
		p = cur;
		cur = t;
	}
	return p[lb];
}

/* Keeps the closest of the names offered to s within distance 2. */
struct config_near {
	const char	*s;		/* the unknown name */
	size_t		 len;		/* its bytes */
	const char	*best;		/* closest name so far, NULL = none */
	int		 dist;		/* its distance */
};

static void
config_near_offer(struct config_near *n, const char *name)
{
	int d = config_distance(n->s, n->len, name, strlen(name));

	if (d <= 2 && d < n->dist && (size_t)d < strlen(name)) {
		n->best = name;
		n->dist = d;
	}
}

/* Formats a number: integers in full, others with up to 15 digits. */
static const char *
config_num(double d, char *buf, size_t size)
{

	if (d >= -9e15 && d <= 9e15 && d == (double)(long long)d)
		snprintf(buf, size, "%lld", (long long)d);
	else
		snprintf(buf, size, "%.15g", d);
	return buf;
}

/* Formats the range of a numeric key: "1 to 65535", "above 0, at most 600". */
static const char *
config_range(const struct config_key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (k->min >= k->max)
		buf[0] = '\0';
	else if (k->flags & CONFIG_F_ABOVE_MIN)
		snprintf(buf, size, "above %s, at most %s", config_num(k->min, lo, sizeof(lo)),
		    config_num(k->max, hi, sizeof(hi)));
	else
		snprintf(buf, size, "%s to %s", config_num(k->min, lo, sizeof(lo)),
		    config_num(k->max, hi, sizeof(hi)));
	return buf;
}

/* Checks a number against the key's range; reports it when outside. */
static int
config_in_range(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    double d)
{
	char r[96], num[48];

	if (d != d || d < k->min || d > k->max || ((k->flags & CONFIG_F_ABOVE_MIN) && d <= k->min)) {
		if (v->type == TOML_INTEGER)
			snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
		else
			config_num(d, num, sizeof(num));
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s is out of range (%s)",
		    c->where, k->name, num, config_range(k, r, sizeof(r)));
		return 0;
	}
	return 1;
}

static void
config_type_error(struct config_ctx *c, const struct config_key *k, const struct toml_value *v)
{
	char got[64];

	config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: expected %s, got %s", c->where,
	    k->name, config_kinds[k->kind].expected, config_got(v, got, sizeof(got)));
}

/* Finds a choice by name without case; NULL if none. */
static const struct config_choice *
config_choice_find(const struct config_choice *ch, const char *s)
{

	for (; ch->name != NULL; ch++)
		if (strcasecmp(ch->name, s) == 0)
			return ch;
	return NULL;
}

/* Lists the documented choices: "debug, info, warning, error". */
static const char *
config_choice_list(const struct config_choice *ch, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	for (; ch->name != NULL; ch++) {
		if (ch->alias)
			continue;
		n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", ch->name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

/* Says why a secret cannot be used, or NULL if it looks real. Never quotes it. */
static const char *
config_secret_problem(const char *s, size_t len)
{
	static const char *const exact[] = {
		"changeme", "change-me", "change_me", "changeit", "replaceme", "todo", "tbd",
		"fixme", "placeholder", "secret", "password", "api_key", "api-key", "apikey",
		"key", "token", "sk-", "none", "null", "insert_key_here", "insert-key-here",
		"key_here", "key-here", NULL
	};
	static const char *const parts[] = {
		"replace_me", "replace-me", "changeme", "change_me", "placeholder", "your-api-key",
		"your_api_key", "your-key", "your_key", "insert_your", "insert-your", "api_key_here",
		"api-key-here", "...", "\xe2\x80\xa6", NULL
	};
	size_t i, b = 0, e = len, x = 0;
	char t[128];
	int k;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return "holds a line break or NUL byte";
	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (b == e)
		return "is empty";
	if (s[b] == '<' && s[e - 1] == '>')
		return "looks like a placeholder, not a real key";
	if (e - b >= sizeof(t))
		return NULL;
	memcpy(t, s + b, e - b);
	t[e - b] = '\0';
	if (strncasecmp(t, "your", 4) == 0 || strncasecmp(t, "sk-your", 7) == 0)
		return "looks like a placeholder, not a real key";
	for (k = 0; exact[k] != NULL; k++)
		if (strcasecmp(t, exact[k]) == 0)
			return "looks like a placeholder, not a real key";
	for (k = 0; parts[k] != NULL; k++)
		if (strcasestr(t, parts[k]) != NULL)
			return "looks like a placeholder, not a real key";
	i = strncasecmp(t, "sk-", 3) == 0 ? 3 : 0;
	for (; t[i] != '\0'; i++) {
		if (t[i] != 'x' && t[i] != 'X' && t[i] != '*')
			break;
		x++;
	}
	if (t[i] == '\0' && x >= 3)
		return "looks like a placeholder, not a real key";
	return NULL;
}

/* Checks scheme://authority[/path] with one of the schemes; 0 if fine. */
static const char *
config_url_problem(const char *s, size_t len, const char *const *schemes, int base)
{
	const char *p, *host;
	size_t i, sl = 0;
	int k, found = 0;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return "holds whitespace or control characters";
		if (base && (s[i] == '?' || s[i] == '#'))
			return "holds a query or fragment";
	}
	for (k = 0; schemes[k] != NULL; k++) {
		sl = strlen(schemes[k]);
		if (len > sl + 3 && strncasecmp(s, schemes[k], sl) == 0 &&
		    memcmp(s + sl, "://", 3) == 0) {
			found = 1;
			break;
		}
	}
	if (!found)
		return base ? "is not an absolute http or https URL" :
		    "is not an http, https, socks5 or socks5h URL";
	host = s + sl + 3;
	for (p = host; p < s + len && *p != '/'; p++) {
		if (*p == '@' && base)
			return "holds credentials (user:password@)";
	}
	if (p == host)
		return "has no host";
	if (!base) {
		/* Credentials are allowed; the host follows the last '@'. */
		for (p = host; p < s + len && *p != '/'; p++)
			if (*p == '@')
				host = p + 1;
		if (host >= s + len || *host == '/' || *host == ':')
			return "has no host";
	}
	return NULL;
}

static const char *const config_http_schemes[] = { "http", "https", NULL };
static const char *const config_proxy_schemes[] = { "http", "https", "socks5h", "socks5", NULL };

/* [A-Za-z0-9_.-]{1,64} */
static int
config_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

/* [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? */
static int
config_id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NAME_MAX || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* [A-Za-z_][A-Za-z0-9_]* */
static int
config_envname_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_ENVNAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* No control characters and no NUL. */
static int
config_text_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Removes "//", "/./" and a trailing "/" or "/." from an absolute path, in place. */
static void
config_normalize(char *p)
{
	char *r = p, *w = p;

	while (*r != '\0') {
		if (r[0] == '/' && r[1] == '/') {
			r++;
			continue;
		}
		if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			r += 2;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w == p) {
		p[0] = '/';
		p[1] = '\0';
	} else if (w > p + 1 && w[-1] == '/')
		w[-1] = '\0';
}

/* Makes p absolute: "~/" from $HOME, relative against dir. NULL if impossible. */
static char *
config_abspath(const char *dir, const char *p)
{
	char buf[PATH_MAX];
	const char *home;
	int n;

	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		if ((home = getenv("HOME")) == NULL || home[0] != '/')
			return NULL;
		n = snprintf(buf, sizeof(buf), "%s/%s", home, p + 1);
	} else if (p[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", p);
	else
		n = snprintf(buf, sizeof(buf), "%s/%s", dir, p);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	config_normalize(buf);
	return strdup(buf);
}

/* Reads the .env file beside the configuration, once. */
static void
config_dotenv_load(struct config_ctx *c)
{
	struct config_dotenv *e = &c->dotenv;
	char path[PATH_MAX], *buf = NULL, *line, *end, *p, *q, *name, *val, **nn, **nv;
	size_t len = 0, nlen, vlen;
	ssize_t r;
	struct stat st;
	unsigned lineno = 0;
	int fd = -1, ncap;
	char quote;

	e->loaded = 1;
	if (snprintf(path, sizeof(path), "%s/.env", c->dir) >= (int)sizeof(path))
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			config_msg(c, CONFIG_WARNING, 0, 0, "%s cannot be read: %s", path,
			    strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > QP_CONFIG_MAX) {
		config_msg(c, CONFIG_WARNING, 0, 0, "%s is not a regular file of at most %d bytes",
		    path, QP_CONFIG_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		c->oom = 1;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	for (line = buf; line < buf + len; line = end + 1) {
		lineno++;
		if ((end = memchr(line, '\n', (size_t)(buf + len - line))) == NULL)
			end = buf + len;
		*end = '\0';
		if (end > line && end[-1] == '\r')
			end[-1] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '#' || *p == '\0')
			continue;
		if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
			for (p += 6; *p == ' ' || *p == '\t'; p++)
				;
		for (name = p; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'; p++)
			;
		nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (nlen == 0 || *p != '=') {
			config_msg(c, CONFIG_WARNING, 0, 0, "%s line %u is not NAME=VALUE: skipped",
			    path, lineno);
			continue;
		}
		for (p++; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '"' || *p == '\'') {
			quote = *p++;
			val = q = p;
			while (*p != '\0' && *p != quote) {
				if (quote == '"' && *p == '\\' && p[1] != '\0') {
					p++;
					*q++ = *p == 'n' ? '\n' : *p;
					p++;
				} else
					*q++ = *p++;
			}
			if (*p != quote) {
				config_msg(c, CONFIG_WARNING, 0, 0, "%s line %u: unterminated quote: "
				    "skipped", path, lineno);
				continue;
			}
			vlen = (size_t)(q - val);
		} else {
			val = p;
			for (q = p; *q != '\0'; q++)
				if (*q == '#' && q > val && (q[-1] == ' ' || q[-1] == '\t'))
					break;
			while (q > val && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			vlen = (size_t)(q - val);
		}
		if (e->n == e->cap) {
			ncap = e->cap ? e->cap * 2 : 8;
			if ((nn = realloc(e->names, (size_t)ncap * sizeof(*nn))) == NULL) {
				c->oom = 1;
				goto out;
			}
			e->names = nn;
			if ((nv = realloc(e->values, (size_t)ncap * sizeof(*nv))) == NULL) {
				c->oom = 1;
				goto out;
			}
			e->values = nv;
			e->cap = ncap;
		}
		e->names[e->n] = config_strndup(c, name, nlen);
		e->values[e->n] = config_strndup(c, val, vlen);
		if (e->names[e->n] == NULL || e->values[e->n] == NULL) {
			free(e->names[e->n]);
			crypto_free_secret(e->values[e->n]);
			goto out;
		}
		e->n++;
	}
out:
	if (buf != NULL) {
		crypto_wipe(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
}

static void
config_dotenv_free(struct config_dotenv *e)
{
	int i;

	for (i = 0; i < e->n; i++) {
		free(e->names[i]);
		crypto_free_secret(e->values[i]);
	}
	free(e->names);
	free(e->values);
	memset(e, 0, sizeof(*e));
}

/* Value of a variable: the environment, then .env (the last line wins). NULL if unset. */
static const char *
config_getenv(struct config_ctx *c, const char *name)
{
	const char *v;
	int i;

	if ((v = getenv(name)) != NULL)
		return v;
	if (!c->dotenv.loaded)
		config_dotenv_load(c);
	for (i = c->dotenv.n - 1; i >= 0; i--)
		if (strcmp(c->dotenv.names[i], name) == 0)
			return c->dotenv.values[i];
	return NULL;
}

/* Reads a string value for key k; 0 if it is one without NUL bytes. */
static int
config_get_string(struct config_ctx *c, const struct config_key *k, const struct toml_value *v)
{

	if (v->type != TOML_STRING) {
		config_type_error(c, k, v);
		return -1;
	}
	if (strlen(v->u.str.ptr) != v->u.str.len && k->kind != CONFIG_KIND_SECRET) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: holds a NUL byte",
		    c->where, k->name);
		return -1;
	}
	return 0;
}

/* Reads a number (integer or float) for key k and checks its range. */
static int
config_get_number(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    double *d)
{

	if (v->type == TOML_INTEGER)
		*d = (double)v->u.i;
	else if (v->type == TOML_FLOAT)
		*d = v->u.f;
	else {
		config_type_error(c, k, v);
		return -1;
	}
	return config_in_range(c, k, v, *d) ? 0 : -1;
}

/* Checks a secret's value; reports what is wrong without quoting it. */
static int
config_secret_ok(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    const char *s, size_t len, const char *var)
{
	const char *why;

	if ((why = config_secret_problem(s, len)) == NULL)
		return 1;
	if (var != NULL)
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: the value of %s %s",
		    c->where, k->name, var, why);
	else
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name, why);
	return 0;
}

static int
config_proxy_url_ok(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    const char *s, size_t len, const char *var)
{
	const char *why;

	if ((why = config_url_problem(s, len, config_proxy_schemes, 0)) == NULL)
		return 1;
	if (var != NULL)
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: the value of %s %s",
		    c->where, k->name, var, why);
	else
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name, why);
	return 0;
}

static void	config_parse_table(struct config_ctx *, int, const struct toml_value *, void *);
static void	config_parse_sub(struct config_ctx *, const struct config_key *,
		    const struct toml_value *, void *);

/* Reads an array of strings into a char ** field and its count. */
static void
config_set_strings(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	char ***field = (char ***)(void *)((char *)base + k->off);
	int *count = (int *)(void *)((char *)base + k->off2);
	const struct toml_value *it;
	unsigned char addr[16];
	char **arr = NULL, shown[80], got[64];
	size_t i;
	int n = 0, bad = 0;

	if (v->type != TOML_ARRAY) {
		config_type_error(c, k, v);
		return;
	}
	if (v->u.arr.n > 0 && (arr = calloc(v->u.arr.n, sizeof(*arr))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < v->u.arr.n; i++) {
		it = v->u.arr.items[i];
		if (it->type != TOML_STRING) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: expected a "
			    "string, got %s", c->where, k->name, i, config_got(it, got, sizeof(got)));
			bad = 1;
			continue;
		}
		if (it->u.str.len == 0 || strlen(it->u.str.ptr) != it->u.str.len ||
		    !config_text_ok(it->u.str.ptr, it->u.str.len) ||
		    (k->kind == CONFIG_KIND_ADDRS && inet_pton(AF_INET, it->u.str.ptr, addr) != 1 &&
		    inet_pton(AF_INET6, it->u.str.ptr, addr) != 1)) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: \"%s\" is not %s",
			    c->where, k->name, i, config_show(it->u.str.ptr, it->u.str.len, shown,
			    sizeof(shown)), k->kind == CONFIG_KIND_ADDRS ? "an IP address" :
			    "a name without control characters");
			bad = 1;
			continue;
		}
		if ((arr[n] = config_strndup(c, it->u.str.ptr, it->u.str.len)) == NULL) {
			bad = 1;
			break;
		}
		n++;
	}
	if (bad) {
		while (n > 0)
			free(arr[--n]);
		free(arr);
		return;
	}
	*field = arr;
	*count = n;
}

/* Reads a CHOICE or CHOICE_STR value. */
static void
config_set_choice(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	const struct config_choice *ch;
	char shown[80], list[160];
	char *s;

	if (v->type == TOML_TABLE && (k->flags & CONFIG_F_OR_TABLE)) {
		config_parse_sub(c, k, v, base);
		return;
	}
	if (config_get_string(c, k, v) != 0)
		return;
	ch = config_choice_find(k->choices, v->u.str.ptr);
	if (ch == NULL || ch->value < 0) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is %s (%s)",
		    c->where, k->name, config_show(v->u.str.ptr, v->u.str.len, shown,
		    sizeof(shown)), ch == NULL ? "not one of the values accepted" :
		    "not supported by quotapool", config_choice_list(k->choices, list,
		    sizeof(list)));
		return;
	}
	if (k->kind == CONFIG_KIND_CHOICE) {
		*(int *)(void *)((char *)base + k->off) = ch->value;
		return;
	}
	if ((s = config_strdup(c, ch->name)) != NULL)
		config_set_str((char **)(void *)((char *)base + k->off), s);
}

/* Reads the value of key k from kv into the struct at base. */
static void
config_set(struct config_ctx *c, const struct config_key *k, const struct toml_kv *kv, void *base)
{
	const struct toml_value *v = kv->val, *it;
	char *field = k->off == CONFIG_NOFIELD ? NULL : (char *)base + k->off;
	const char *s, *why, *var;
	char shown[80], got[64], list[64], *p;
	unsigned mask = 0;
	size_t i, len;
	double d;
	int bad = 0;

	switch (k->kind) {
	case CONFIG_KIND_BOOL:
		if (v->type != TOML_BOOL) {
			config_type_error(c, k, v);
			return;
		}
		*(int *)(void *)field = v->u.b ? 1 : 0;
		return;
	case CONFIG_KIND_INT:
	case CONFIG_KIND_INT64:
		if (v->type != TOML_INTEGER) {
			config_type_error(c, k, v);
			return;
		}
		if (!config_in_range(c, k, v, (double)v->u.i))
			return;
		if (k->kind == CONFIG_KIND_INT)
			*(int *)(void *)field = (int)(v->u.i + k->bias);
		else
			*(int64_t *)(void *)field = v->u.i + k->bias;
		return;
	case CONFIG_KIND_FLOAT:
		if (config_get_number(c, k, v, &d) == 0)
			*(double *)(void *)field = d;
		return;
	case CONFIG_KIND_MS:
		if (config_get_number(c, k, v, &d) == 0)
			*(int *)(void *)field = (int)(d * 1000.0 + 0.5);
		return;
	case CONFIG_KIND_PRICE:
		if (config_get_number(c, k, v, &d) == 0)
			*(int64_t *)(void *)field = (int64_t)(d * 1e9 + 0.5);
		return;
	case CONFIG_KIND_CHOICE:
	case CONFIG_KIND_CHOICE_STR:
		config_set_choice(c, k, v, base);
		return;
	case CONFIG_KIND_STRINGS:
	case CONFIG_KIND_ADDRS:
		config_set_strings(c, k, v, base);
		return;
	case CONFIG_KIND_PROTOCOLS:
		if (v->type != TOML_ARRAY) {
			config_type_error(c, k, v);
			return;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			const struct config_choice *ch;

			it = v->u.arr.items[i];
			if (it->type != TOML_STRING) {
				config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: expected "
				    "a string, got %s", c->where, k->name, i,
				    config_got(it, got, sizeof(got)));
				bad = 1;
			} else if ((ch = config_choice_find(k->choices, it->u.str.ptr)) == NULL) {
				config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s: \"%s\" is not "
				    "a protocol (%s)", c->where, k->name, config_show(it->u.str.ptr,
				    it->u.str.len, shown, sizeof(shown)),
				    config_choice_list(k->choices, list, sizeof(list)));
				bad = 1;
			} else
				mask |= (unsigned)ch->value;
		}
		if (!bad && mask == 0)
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: at least one protocol "
			    "is needed (%s)", c->where, k->name,
			    config_choice_list(k->choices, list, sizeof(list)));
		else if (!bad)
			*(unsigned *)(void *)field = mask;
		return;
	case CONFIG_KIND_TABLES:
		return;
	case CONFIG_KIND_SUBTABLE:
		if (v->type != TOML_TABLE) {
			config_type_error(c, k, v);
			return;
		}
		config_parse_sub(c, k, v, base);
		return;
	case CONFIG_KIND_IGNORED:
		config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "%s.%s: has no effect in this "
		    "version: %s", c->where, k->name, k->noeffect != NULL ? k->noeffect :
		    "an EggPool setting, accepted so that EggPool configurations load");
		return;
	default:
		break;
	}

	/* The string kinds. */
	if (config_get_string(c, k, v) != 0)
		return;
	s = v->u.str.ptr;
	len = v->u.str.len;
	switch (k->kind) {
	case CONFIG_KIND_SECRET:
		if (!config_secret_ok(c, k, v, s, len, NULL))
			return;
		break;
	case CONFIG_KIND_PROXY_URL:
		if (!config_proxy_url_ok(c, k, v, s, len, NULL))
			return;
		break;
	case CONFIG_KIND_ENV:
		if (!config_envname_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is not a "
			    "variable name (letters, digits and _)", c->where, k->name,
			    config_show(s, len, shown, sizeof(shown)));
			return;
		}
		if (k->off2 != CONFIG_NOFIELD) {
			if ((p = config_strndup(c, s, len)) == NULL)
				return;
			config_set_str((char **)(void *)((char *)base + k->off2), p);
		}
		var = s;
		if ((s = config_getenv(c, var)) == NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: variable %s is not set "
			    "(neither in the environment nor in %s/.env)", c->where, k->name, var,
			    c->dir);
			return;
		}
		len = strlen(s);
		if (k->vkind == CONFIG_KIND_SECRET && !config_secret_ok(c, k, v, s, len, var))
			return;
		if (k->vkind == CONFIG_KIND_PROXY_URL && !config_proxy_url_ok(c, k, v, s, len, var))
			return;
		break;
	case CONFIG_KIND_NAME:
		if (!config_name_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is not a name "
			    "(1 to 64 letters, digits, _ . -)", c->where, k->name,
			    config_show(s, len, shown, sizeof(shown)));
			return;
		}
		break;
	case CONFIG_KIND_BASE_URL:
		if ((why = config_url_problem(s, len, config_http_schemes, 1)) != NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name,
			    why);
			return;
		}
		while (len > 0 && s[len - 1] == '/')
			len--;
		break;
	case CONFIG_KIND_URLPATH:
		if (len == 0 && (k->flags & CONFIG_F_EMPTY_NULL)) {
			config_set_str((char **)(void *)field, NULL);
			return;
		}
		if (len == 0 || s[0] != '/' || !config_text_ok(s, len) || memchr(s, ' ', len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: must start with '/' and "
			    "hold no whitespace", c->where, k->name);
			return;
		}
		break;
	case CONFIG_KIND_STRING:
	case CONFIG_KIND_PATH:
		if (len == 0 && (k->flags & CONFIG_F_EMPTY_NULL)) {
			config_set_str((char **)(void *)field, NULL);
			return;
		}
		if (len == 0 || !config_text_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: must be non-empty "
			    "text without control characters", c->where, k->name);
			return;
		}
		break;
	default:
		return;
	}
	if (k->kind == CONFIG_KIND_PATH) {
		if ((p = config_abspath(c->dir, s)) == NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: cannot be made absolute "
			    "(too long, or ~ without $HOME)", c->where, k->name);
			return;
		}
	} else if ((p = config_strndup(c, s, len)) == NULL)
		return;
	config_set_str((char **)(void *)field, p);
}

/* Index of key name in section sec, or -1. */
static int
config_key_find(const struct config_section *s, const char *name, size_t len)
{
	size_t i;

	if (strlen(name) != len)
		return -1;
	for (i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Reports an unknown key, suggesting the closest known one. */
static void
config_unknown_key(struct config_ctx *c, const struct config_section *s, const struct toml_kv *kv)
{
	struct config_near n = { kv->key, kv->keylen, NULL, INT_MAX };
	char shown[80];
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		config_near_offer(&n, s->keys[i].name);
	config_show(kv->key, kv->keylen, shown, sizeof(shown));
	if (n.best != NULL)
		config_msg(c, CONFIG_ERROR, config_kv_line(kv), kv->col, "unknown key \"%s\" in %s "
		    "(did you mean \"%s\"?)", shown, c->title, n.best);
	else
		config_msg(c, CONFIG_ERROR, config_kv_line(kv), kv->col, "unknown key \"%s\" in %s",
		    shown, c->title);
}

/* 1 if the field of key i is not filled by an earlier key of the table. */
static int
config_field_first(const struct config_section *s, size_t i)
{
	size_t j;

	if (s->keys[i].off == CONFIG_NOFIELD)
		return 0;
	for (j = 0; j < i; j++)
		if (s->keys[j].off == s->keys[i].off)
			return 0;
	return 1;
}

/* Fills the struct at base with the defaults of section sec. */
static void
config_defaults(struct config_ctx *c, int sec, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char *field, *p;
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		if (!config_field_first(s, i))
			continue;
		k = &s->keys[i];
		field = (char *)base + k->off;
		switch (k->kind) {
		case CONFIG_KIND_BOOL:
		case CONFIG_KIND_INT:
		case CONFIG_KIND_CHOICE:
			*(int *)(void *)field = (int)k->idef;
			break;
		case CONFIG_KIND_PROTOCOLS:
			*(unsigned *)(void *)field = (unsigned)k->idef;
			break;
		case CONFIG_KIND_INT64:
		case CONFIG_KIND_PRICE:
			*(int64_t *)(void *)field = k->idef;
			break;
		case CONFIG_KIND_FLOAT:
			*(double *)(void *)field = k->fdef;
			break;
		case CONFIG_KIND_MS:
			*(int *)(void *)field = (int)(k->fdef * 1000.0 + 0.5);
			break;
		case CONFIG_KIND_STRINGS:
		case CONFIG_KIND_ADDRS:
			*(char ***)(void *)field = NULL;
			*(int *)(void *)((char *)base + k->off2) = 0;
			break;
		default:
			if (k->sdef == NULL)
				break;
			if (k->kind == CONFIG_KIND_PATH)
				p = config_abspath(c->dir, k->sdef);
			else
				p = strdup(k->sdef);
			if (p == NULL)
				c->oom = 1;
			config_set_str((char **)(void *)field, p);
			break;
		}
	}
}

/* Frees the pointer fields of the struct at base, wiping them. */
static void
config_section_free(int sec, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char ***arr;
	int *count, j;
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind == CONFIG_KIND_ENV && k->off2 != CONFIG_NOFIELD)
			config_set_str((char **)(void *)((char *)base + k->off2), NULL);
		if (!config_field_first(s, i))
			continue;
		switch (k->kind) {
		case CONFIG_KIND_STRING:
		case CONFIG_KIND_PATH:
		case CONFIG_KIND_NAME:
		case CONFIG_KIND_CHOICE_STR:
		case CONFIG_KIND_SECRET:
		case CONFIG_KIND_ENV:
		case CONFIG_KIND_BASE_URL:
		case CONFIG_KIND_PROXY_URL:
		case CONFIG_KIND_URLPATH:
			config_set_str((char **)(void *)((char *)base + k->off), NULL);
			break;
		case CONFIG_KIND_STRINGS:
		case CONFIG_KIND_ADDRS:
			arr = (char ***)(void *)((char *)base + k->off);
			count = (int *)(void *)((char *)base + k->off2);
			for (j = 0; *arr != NULL && j < *count; j++)
				free((*arr)[j]);
			free(*arr);
			*arr = NULL;
			*count = 0;
			break;
		default:
			break;
		}
	}
}

/*
 * Reads table tab with section sec into base: every key known, typed and in
 * range, groups exclusive, required keys present.
 */
static void
config_parse_table(struct config_ctx *c, int sec, const struct toml_value *tab, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	const struct toml_kv *kv;
	unsigned seen[CONFIG_KEYS_MAX];
	size_t i, j;
	int ki, have;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		if ((ki = config_key_find(s, kv->key, kv->keylen)) < 0) {
			config_unknown_key(c, s, kv);
			continue;
		}
		k = &s->keys[ki];
		for (j = 0; k->group != 0 && j < s->nkeys; j++)
			if (s->keys[j].group == k->group && seen[j] != 0)
				break;
		if (k->group != 0 && j < s->nkeys) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "%s: %s and %s are both "
			    "set: keep one", c->where, s->keys[j].name, k->name);
			continue;
		}
		seen[ki] = config_kv_line(kv);
		if (seen[ki] == 0)
			seen[ki] = 1;
		config_set(c, k, kv, base);
		if (k->noeffect != NULL && k->kind != CONFIG_KIND_IGNORED)
			config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "%s.%s: has no effect "
			    "in this version: %s", c->where, k->name, k->noeffect);
	}
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if ((k->flags & CONFIG_F_REQUIRED) && seen[i] == 0)
			config_msg(c, CONFIG_ERROR, tab->line, 0, "%s: %s is required", c->where,
			    k->name);
		if (!(k->flags & CONFIG_F_ONE_REQUIRED))
			continue;
		for (j = 0, have = 0; j < s->nkeys; j++)
			if (s->keys[j].group == k->group && seen[j] != 0)
				have = 1;
		for (j = 0; j < i; j++)
			if (s->keys[j].group == k->group && (s->keys[j].flags & CONFIG_F_ONE_REQUIRED))
				have = 1;	/* reported with the first key of the group */
		if (!have)
			config_msg(c, CONFIG_ERROR, tab->line, 0, "%s: one of %s and its "
			    "alternatives is required", c->where, k->name);
	}
}

/* Reads the table value of key k with its section sub, naming it where.k in messages. */
static void
config_parse_sub(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	char where[sizeof(c->where)], title[sizeof(c->title)];
	size_t n;

	memcpy(where, c->where, sizeof(where));
	memcpy(title, c->title, sizeof(title));
	n = strlen(c->where);
	snprintf(c->where + n, sizeof(c->where) - n, ".%s", k->name);
	snprintf(c->title, sizeof(c->title), "[%s]", c->where);
	config_parse_table(c, k->sub, v, base);
	memcpy(c->where, where, sizeof(where));
	memcpy(c->title, title, sizeof(title));
}

/* Sets where/title for messages about a table. */
static void
config_where(struct config_ctx *c, const char *where, const char *title)
{

	snprintf(c->where, sizeof(c->where), "%s", where);
	snprintf(c->title, sizeof(c->title), "%s", title);
}

/* Checks that v is a table; reports it otherwise. */
static int
config_is_table(struct config_ctx *c, const char *what, const struct toml_value *v)
{
	char got[64];

	if (v->type == TOML_TABLE)
		return 1;
	config_msg(c, CONFIG_ERROR, v->line, v->col, "%s: expected a table, got %s", what,
	    config_got(v, got, sizeof(got)));
	return 0;
}

static void
config_parse_accounts(struct config_ctx *c, int pi, struct config_provider *p,
    const struct toml_kv *kv)
{
	const struct toml_value *v = kv->val, *it;
	const struct toml_kv *pk;
	struct config_account *a;
	struct config_ref *r;
	char where[200], title[240], got[64];
	size_t i;
	int ncap;

	snprintf(where, sizeof(where), "providers.%s.accounts", p->id);
	if (v->type != TOML_ARRAY) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s: expected an array of tables "
		    "([[%s]]), got %s", where, where, config_got(v, got, sizeof(got)));
		return;
	}
	if (v->u.arr.n == 0)
		return;
	if ((p->accounts = calloc(v->u.arr.n, sizeof(*p->accounts))) == NULL) {
		c->oom = 1;
		return;
	}
	snprintf(title, sizeof(title), "[[%s]]", where);
	for (i = 0; i < v->u.arr.n; i++) {
		it = v->u.arr.items[i];
		snprintf(c->where, sizeof(c->where), "%s[%zu]", where, i);
		snprintf(c->title, sizeof(c->title), "%s", title);
		if (!config_is_table(c, c->where, it))
			continue;
		a = &p->accounts[p->naccounts++];
		a->line = (int)it->line;
		config_defaults(c, CONFIG_SEC_ACCOUNT, a);
		config_parse_table(c, CONFIG_SEC_ACCOUNT, it, a);
		if (p->auth != CONFIG_AUTH_NONE && toml_get(it, "api_key") == NULL &&
		    toml_get(it, "api_key_env") == NULL)
			config_msg(c, CONFIG_ERROR, it->line, 0, "%s: api_key or api_key_env is "
			    "required (only a provider with auth = \"none\" needs no key)", c->where);
		if (a->proxy == NULL || (pk = toml_get_kv(it, "proxy")) == NULL)
			continue;
		if (c->nrefs == c->refcap) {
			ncap = c->refcap ? c->refcap * 2 : 8;
			if ((r = realloc(c->refs, (size_t)ncap * sizeof(*r))) == NULL) {
				c->oom = 1;
				return;
			}
			c->refs = r;
			c->refcap = ncap;
		}
		r = &c->refs[c->nrefs++];
		r->prov = pi;
		r->acct = p->naccounts - 1;
		r->line = pk->val->line;
		r->col = pk->val->col;
	}
}

static void
config_parse_providers(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv, *acc;
	struct config_provider *p;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "providers", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->providers = calloc(tab->u.tab.n, sizeof(*p))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (strlen(kv->key) != kv->keylen || !config_id_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[providers.%s]: the id "
			    "must be letters, digits and inner '-', at most 64", shown);
			continue;
		}
		snprintf(where, sizeof(where), "providers.%s", kv->key);
		if (!config_is_table(c, where, kv->val))
			continue;
		p = &c->cfg->providers[c->cfg->nproviders++];
		p->line = (int)kv->val->line;
		if ((p->id = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_PROVIDER, p);
		config_parse_table(c, CONFIG_SEC_PROVIDER, kv->val, p);
		if ((acc = toml_get_kv(kv->val, "accounts")) != NULL)
			config_parse_accounts(c, c->cfg->nproviders - 1, p, acc);
	}
}

static void
config_parse_proxies(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_proxy *p;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "proxies", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->proxies = calloc(tab->u.tab.n, sizeof(*p))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		if (strlen(kv->key) != kv->keylen || !config_name_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[proxies.%s]: the name "
			    "must be 1 to 64 letters, digits, _ . -",
			    config_show(kv->key, kv->keylen, shown, sizeof(shown)));
			continue;
		}
		snprintf(where, sizeof(where), "proxies.%s", kv->key);
		if (!config_is_table(c, where, kv->val))
			continue;
		p = &c->cfg->proxies[c->cfg->nproxies++];
		p->line = (int)kv->val->line;
		if ((p->name = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_PROXY, p);
		config_parse_table(c, CONFIG_SEC_PROXY, kv->val, p);
	}
}

static void
config_parse_overrides(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_model_override *o;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "model_overrides", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->overrides = calloc(tab->u.tab.n, sizeof(*o))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (kv->keylen == 0 || kv->keylen > CONFIG_MODEL_MAX ||
		    strlen(kv->key) != kv->keylen || !config_text_ok(kv->key, kv->keylen) ||
		    memchr(kv->key, ' ', kv->keylen) != NULL) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[model_overrides.\"%s\"]: "
			    "a model id is 1 to %d characters without spaces or control characters",
			    shown, CONFIG_MODEL_MAX);
			continue;
		}
		snprintf(where, sizeof(where), "model_overrides.\"%s\"", shown);
		if (!config_is_table(c, where, kv->val))
			continue;
		o = &c->cfg->overrides[c->cfg->noverrides++];
		o->line = (int)kv->val->line;
		if ((o->model = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_OVERRIDE, o);
		config_parse_table(c, CONFIG_SEC_OVERRIDE, kv->val, o);
	}
}

/* 1 if s (len bytes) may be a model id or an alias pattern: 1 to CONFIG_MODEL_MAX, no blank. */
static int
config_model_id_ok(const char *s, size_t len)
{

	return len > 0 && len <= CONFIG_MODEL_MAX && strlen(s) == len &&
	    config_text_ok(s, len) && memchr(s, ' ', len) == NULL;
}

/* Reads one alias's value: a model id, or an array of them in fallback order. */
static void
config_parse_alias_targets(struct config_ctx *c, struct config_alias *a,
    const struct toml_value *v, const char *shown)
{
	const struct toml_value *it;
	char got[64], id[80];
	size_t i, n = v->type == TOML_ARRAY ? v->u.arr.n : 1;

	if (v->type != TOML_STRING && v->type != TOML_ARRAY) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "aliases.\"%s\": expected a model id "
		    "or an array of model ids, got %s", shown, config_got(v, got, sizeof(got)));
		return;
	}
	if (n == 0 || n > QP_ALIAS_TARGETS_MAX) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "aliases.\"%s\": lists %zu models "
		    "(1 to %d)", shown, n, QP_ALIAS_TARGETS_MAX);
		return;
	}
	if ((a->targets = calloc(n, sizeof(*a->targets))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		it = v->type == TOML_ARRAY ? v->u.arr.items[i] : v;
		if (it->type != TOML_STRING) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "aliases.\"%s\"[%zu]: "
			    "expected a model id, got %s", shown, i, config_got(it, got, sizeof(got)));
			continue;
		}
		if (!config_model_id_ok(it->u.str.ptr, it->u.str.len)) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "aliases.\"%s\": \"%s\" is "
			    "not a model id (1 to %d characters without spaces or control "
			    "characters)", shown, config_show(it->u.str.ptr, it->u.str.len, id,
			    sizeof(id)), CONFIG_MODEL_MAX);
			continue;
		}
		if ((a->targets[a->ntargets] = config_strndup(c, it->u.str.ptr,
		    it->u.str.len)) == NULL)
			return;
		a->ntargets++;
	}
}

/* [aliases]: "glob" = "model" | ["model", ...], kept in file order. */
static void
config_parse_aliases(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_alias *a;
	char shown[80];
	size_t i;

	if (!config_is_table(c, "aliases", tab) || tab->u.tab.n == 0)
		return;
	if (tab->u.tab.n > QP_ALIASES_MAX) {
		config_msg(c, CONFIG_ERROR, tab->line, 0, "[aliases]: %zu patterns (at most %d)",
		    tab->u.tab.n, QP_ALIASES_MAX);
		return;
	}
	if ((c->cfg->aliases = calloc(tab->u.tab.n, sizeof(*a))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (!config_model_id_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[aliases]: \"%s\" is not a "
			    "pattern (1 to %d characters without spaces or control characters)",
			    shown, CONFIG_MODEL_MAX);
			continue;
		}
		a = &c->cfg->aliases[c->cfg->naliases++];
		a->line = (int)config_kv_line(kv);
		if ((a->pattern = config_strndup(c, kv->key, kv->keylen)) == NULL)
			return;
		config_parse_alias_targets(c, a, kv->val, shown);
	}
}

/* Reads every top-level key of the file. */
static void
config_parse_root(struct config_ctx *c, const struct toml_value *root)
{
	const struct config_root *r;
	const struct toml_kv *kv;
	struct config_near n;
	char shown[80], title[64];
	size_t i, j;

	for (i = 0; i < root->u.tab.n; i++) {
		kv = &root->u.tab.items[i];
		r = NULL;
		for (j = 0; j < CONFIG_NROOTS && strlen(kv->key) == kv->keylen; j++)
			if (strcmp(config_roots[j].name, kv->key) == 0)
				r = &config_roots[j];
		if (r == NULL) {
			n = (struct config_near){ kv->key, kv->keylen, NULL, INT_MAX };
			for (j = 0; j < CONFIG_NROOTS; j++)
				config_near_offer(&n, config_roots[j].name);
			config_show(kv->key, kv->keylen, shown, sizeof(shown));
			if (n.best != NULL)
				config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "unknown section "
				    "[%s] (did you mean [%s]?)", shown, n.best);
			else
				config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "unknown section "
				    "[%s]", shown);
			continue;
		}
		switch (r->kind) {
		case CONFIG_ROOT_SECTION:
			if (!config_is_table(c, r->name, kv->val))
				break;
			snprintf(title, sizeof(title), "[%s]", r->name);
			config_where(c, r->name, title);
			c->sec_line[r->sec] = kv->val->line;
			config_parse_table(c, r->sec, kv->val,
			    (char *)c->cfg + config_sections[r->sec].off);
			break;
		case CONFIG_ROOT_PROVIDERS:
			config_parse_providers(c, kv->val);
			break;
		case CONFIG_ROOT_PROXIES:
			config_parse_proxies(c, kv->val);
			break;
		case CONFIG_ROOT_OVERRIDES:
			config_parse_overrides(c, kv->val);
			break;
		case CONFIG_ROOT_ALIASES:
			config_parse_aliases(c, kv->val);
			break;
		case CONFIG_ROOT_IGNORED:
			config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "[%s]: has no effect in "
			    "this version: an EggPool section, accepted so that EggPool "
			    "configurations load", r->name);
			break;
		case CONFIG_ROOT_LEGACY:
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "top-level [[accounts]] "
			    "(EggPool's single-provider form) is not supported: move them under "
			    "[providers.<id>] as [[providers.<id>.accounts]]");
			break;
		default:
			break;
		}
	}
}

/* Orders account pointers by name, then by line. */
static int
config_account_cmp(const void *a, const void *b)
{
	const struct config_account *x = *(struct config_account *const *)a;
	const struct config_account *y = *(struct config_account *const *)b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return (x->line > y->line) - (x->line < y->line);
}

static void	config_finish_account(struct config_ctx *, const struct config_provider *, int);

/*
 * [workers] enabled: adds the provider the workers' models are routed under,
 * keyless with one account named after it (the attempts name the worker).
 */
static void
config_add_workers(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_provider *np, *p;
	const char *id = cfg->workers.provider;
	int i;

	if (!cfg->workers.enabled || id == NULL)
		return;
	if (!config_id_ok(id, strlen(id))) {
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_WORKERS], 0, "workers.provider: "
		    "the id must be letters, digits and inner '-', at most 64");
		return;
	}
	for (i = 0; i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].id, id) == 0) {
			config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_WORKERS], 0,
			    "workers.provider \"%s\" is also a [providers.%s] (line %d): name "
			    "the workers' provider otherwise", id, id, cfg->providers[i].line);
			return;
		}
	if ((np = realloc(cfg->providers, (size_t)(cfg->nproviders + 1) * sizeof(*np))) == NULL) {
		c->oom = 1;
		return;
	}
	cfg->providers = np;
	p = &cfg->providers[cfg->nproviders++];
	memset(p, 0, sizeof(*p));
	p->line = (int)c->sec_line[CONFIG_SEC_WORKERS];
	config_defaults(c, CONFIG_SEC_PROVIDER, p);
	free(p->models_path);
	p->models_path = NULL;		/* the catalog rows come from the workers' hellos */
	free(p->base_url);
	p->id = config_strdup(c, id);
	p->base_url = config_strdup(c, "http://worker.invalid");
	p->protocols = CONFIG_PROTO_OPENAI;
	p->routing_priority = cfg->workers.routing_priority;
	p->enabled = 1;
	p->auth = CONFIG_AUTH_NONE;
	p->workers = 1;
	if ((p->accounts = calloc(1, sizeof(*p->accounts))) == NULL) {
		c->oom = 1;
		return;
	}
	p->naccounts = 1;
	p->accounts[0].line = p->line;
	config_defaults(c, CONFIG_SEC_ACCOUNT, &p->accounts[0]);
	p->accounts[0].name = config_strdup(c, id);
	config_finish_account(c, p, 0);
}

/* Duplicate account names across every provider. */
static void
config_check_names(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_account **all;
	int i, j, n = 0, total = 0;

	for (i = 0; i < cfg->nproviders; i++)
		total += cfg->providers[i].naccounts;
	if (total < 2)
		return;
	if ((all = calloc((size_t)total, sizeof(*all))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++)
			if (cfg->providers[i].accounts[j].name != NULL)
				all[n++] = &cfg->providers[i].accounts[j];
	qsort(all, (size_t)n, sizeof(*all), config_account_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(all[i]->name, all[i - 1]->name) == 0)
			config_msg(c, CONFIG_ERROR, (unsigned)all[i]->line, 0, "account name \"%s\" "
			    "is already used at line %d (names are unique across all providers)",
			    all[i]->name, all[i - 1]->line);
	free(all);
}

/* Resolves proxy = "name" to the proxy's URL. */
static void
config_resolve_proxies(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_account *a;
	struct config_near n;
	char *u;
	int i, j;

	for (i = 0; i < c->nrefs; i++) {
		a = &cfg->providers[c->refs[i].prov].accounts[c->refs[i].acct];
		for (j = 0; j < cfg->nproxies; j++)
			if (strcmp(cfg->proxies[j].name, a->proxy) == 0)
				break;
		if (j < cfg->nproxies) {
			if (cfg->proxies[j].url == NULL)
				continue;	/* its own error was reported */
			if ((u = config_strdup(c, cfg->proxies[j].url)) != NULL)
				config_set_str(&a->proxy_url, u);
			continue;
		}
		n = (struct config_near){ a->proxy, strlen(a->proxy), NULL, INT_MAX };
		for (j = 0; j < cfg->nproxies; j++)
			config_near_offer(&n, cfg->proxies[j].name);
		config_msg(c, CONFIG_ERROR, c->refs[i].line, c->refs[i].col, "providers.%s.accounts"
		    "[%d].proxy: no [proxies.%s] is defined%s%s%s",
		    cfg->providers[c->refs[i].prov].id, c->refs[i].acct, a->proxy,
		    n.best ? " (did you mean \"" : "", n.best ? n.best : "", n.best ? "\"?)" : "");
	}
}

/* Checks an account's credentials against its provider's auth, fills its quotas. */
static void
config_finish_account(struct config_ctx *c, const struct config_provider *p, int ai)
{
	struct config_account *a = &p->accounts[ai];
	const struct config_quota *lq;
	struct config_quota *q;
	int w, bearer;

	bearer = p->auth == CONFIG_AUTH_BEARER || (p->auth == CONFIG_AUTH_DEFAULT &&
	    (p->protocols & CONFIG_PROTO_OPENAI));
	if (bearer && a->api_key != NULL && strncasecmp(a->api_key, "bearer ", 7) == 0)
		config_msg(c, CONFIG_ERROR, (unsigned)a->line, 0, "providers.%s.accounts[%d]: the "
		    "key starts with \"Bearer \": give the key alone", p->id, ai);
	if (a->hard_cap < 0)
		a->hard_cap = p->hard_cap;
	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		q = &a->quota[w];
		lq = &c->cfg->limits.quota[w];
		if (q->microdollars < 0)
			q->microdollars = (int64_t)((double)lq->microdollars * a->weight + 0.5);
		if (q->requests < 0)
			q->requests = (int64_t)((double)lq->requests * a->weight + 0.5);
		if (q->tokens < 0)
			q->tokens = (int64_t)((double)lq->tokens * a->weight + 0.5);
	}
}

/*
 * Checks [server] base_path and brings it to "" or "/a/b": one leading '/',
 * no trailing '/', no empty or dot segments, only unreserved URL bytes, so
 * that it can be written into headers, cookies and pages as it is.
 */
static void
config_base_path(struct config_ctx *c)
{
	char *b = c->cfg->server.base_path;
	const char *seg;
	size_t n, i;

	if (b == NULL) {
		c->cfg->server.base_path = config_strdup(c, "");
		return;
	}
	n = strlen(b);
	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	if (n == 0)
		return;
	if (b[0] != '/' || n > 200)
		goto bad;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]) && strchr("-._~/", b[i]) == NULL)
			goto bad;
	for (seg = b; seg != NULL; seg = strchr(seg + 1, '/'))
		if (seg[1] == '/' || (seg[1] == '.' && (seg[2] == '/' || seg[2] == '\0' ||
		    (seg[2] == '.' && (seg[3] == '/' || seg[3] == '\0')))))
			goto bad;
	return;
bad:
	config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_SERVER], 0, "server.base_path: "
	    "\"%s\" is not a URL path such as \"/quotapool\" (letters, digits, -._~ "
	    "between single '/', at most 200 bytes)", b);
}

/* Checks across sections, fills the defaults that depend on other values. */
static void
config_finish(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_provider *p;
	struct config_model_override *o;
	char buf[PATH_MAX];
	int i, j;

	if (cfg->backup.directory == NULL && cfg->server.state_dir != NULL) {
		if (snprintf(buf, sizeof(buf), "%s/backups", cfg->server.state_dir) >=
		    (int)sizeof(buf))
			config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_SERVER], 0,
			    "server.state_dir: too long");
		else
			cfg->backup.directory = config_strdup(c, buf);
	}
	config_base_path(c);
	/* [retention] requests_days and its older names are one setting. */
	if (cfg->retention.requests_days >= 0 && cfg->dashboard.retention_days >= 0)
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_RETENTION], 0, "retention: "
		    "requests_days and dashboard.retention_days (its older name) are both set: "
		    "keep one");
	if (cfg->retention.requests_days < 0)
		cfg->retention.requests_days = cfg->dashboard.retention_days >= 0 ?
		    cfg->dashboard.retention_days : 30;
	cfg->dashboard.retention_days = cfg->retention.requests_days;
	if (cfg->retention.events_days < 0)
		cfg->retention.events_days = cfg->retention.requests_days;
	if (cfg->routing.backoff_base_s > cfg->routing.backoff_max_s)
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_ROUTING], 0, "routing: "
		    "backoff_base_s (%d) is above backoff_max_s (%d)", cfg->routing.backoff_base_s,
		    cfg->routing.backoff_max_s);
	if (cfg->server.threads == 1)
		config_msg(c, CONFIG_WARNING, c->sec_line[CONFIG_SEC_SERVER], 0, "server.threads = 1 "
		    "serves one request at a time (EggPool needed 1; quotapool's default is 256)");
	for (i = 0; i < cfg->noverrides; i++) {
		o = &cfg->overrides[i];
		if (o->max_context_tokens > 0 && o->max_output_tokens > o->max_context_tokens)
			config_msg(c, CONFIG_ERROR, (unsigned)o->line, 0, "model_overrides.\"%s\": "
			    "max_output_tokens is above max_context_tokens", o->model);
		if (o->max_context_tokens > 0 && o->max_input_tokens > o->max_context_tokens)
			config_msg(c, CONFIG_ERROR, (unsigned)o->line, 0, "model_overrides.\"%s\": "
			    "max_input_tokens is above max_context_tokens", o->model);
	}
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (p->naccounts == 0 && p->auth == CONFIG_AUTH_NONE) {
			if ((p->accounts = calloc(1, sizeof(*p->accounts))) == NULL) {
				c->oom = 1;
				return;
			}
			p->naccounts = 1;
			p->accounts[0].line = p->line;
			config_defaults(c, CONFIG_SEC_ACCOUNT, &p->accounts[0]);
			p->accounts[0].name = config_strdup(c, p->id);
		} else if (p->naccounts == 0)
			config_msg(c, CONFIG_ERROR, (unsigned)p->line, 0, "[providers.%s] has no "
			    "[[providers.%s.accounts]] (only a provider with auth = \"none\" may "
			    "have none)", p->id, p->id);
		for (j = 0; j < p->naccounts; j++)
			config_finish_account(c, p, j);
	}
	config_add_workers(c);
	config_check_names(c);
	config_resolve_proxies(c);
	if (cfg->nproviders == 0)
		config_msg(c, CONFIG_WARNING, 0, 0, "no [providers.<id>] is defined: nothing can "
		    "be served until one is added");
}

/* Wipes every string of a parsed tree: inline secrets must not outlive the load. */
static void
config_tree_wipe(struct toml_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	if (v->type == TOML_STRING)
		crypto_wipe(v->u.str.ptr, v->u.str.len);
	else if (v->type == TOML_ARRAY)
		for (i = 0; i < v->u.arr.n; i++)
			config_tree_wipe(v->u.arr.items[i]);
	else if (v->type == TOML_TABLE)
		for (i = 0; i < v->u.tab.n; i++)
			config_tree_wipe(v->u.tab.items[i].val);
}

/* Sorts messages by line (stable), line 0 last. */
static void
config_diag_sort(struct config_diag *d, int from)
{
	struct config_msg t;
	int i, j;
	unsigned a, b;

	for (i = from + 1; i < d->n; i++) {
		t = d->msgs[i];
		a = t.line == 0 ? UINT_MAX : (unsigned)t.line;
		for (j = i; j > from; j--) {
			b = d->msgs[j - 1].line == 0 ? UINT_MAX : (unsigned)d->msgs[j - 1].line;
			if (b <= a)
				break;
			d->msgs[j] = d->msgs[j - 1];
		}
		d->msgs[j] = t;
	}
}

/* Absolute, normalized version of path against the current directory. */
static char *
config_abs_cwd(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return config_abspath("/", path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	return config_abspath(cwd, path);
}

struct config *
config_load_buf(const char *buf, size_t len, const char *path, struct config_diag *diag,
    enum qp_err *err)
{
	struct config_diag local = { NULL, 0, 0 };
	struct config_ctx c;
	struct toml_value *root = NULL;
	struct toml_error terr;
	struct config *cfg = NULL;
	enum qp_err e = QP_OK;
	char cwd[PATH_MAX], *slash;
	int first, i;

	memset(&c, 0, sizeof(c));
	c.diag = diag != NULL ? diag : &local;
	c.cap = c.diag->n;
	first = c.diag->n;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		e = QP_ENOMEM;
		goto out;
	}
	c.cfg = cfg;
	if (path != NULL) {
		if ((cfg->path = config_abs_cwd(path)) == NULL ||
		    (cfg->dir = strdup(cfg->path)) == NULL) {
			e = errno == ENOMEM ? QP_ENOMEM : QP_EIO;
			goto out;
		}
		slash = strrchr(cfg->dir, '/');
		if (slash == cfg->dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			e = QP_EIO;
			goto out;
		}
		if ((cfg->dir = strdup(cwd)) == NULL) {
			e = QP_ENOMEM;
			goto out;
		}
	}
	c.dir = cfg->dir;
	if (len > QP_CONFIG_MAX) {
		config_msg(&c, CONFIG_ERROR, 0, 0, "the file is larger than %d bytes", QP_CONFIG_MAX);
		goto checked;
	}
	memset(&terr, 0, sizeof(terr));
	if ((root = toml_parse(buf, len, &terr)) == NULL) {
		config_msg(&c, CONFIG_ERROR, terr.line, terr.col, "%s", terr.msg[0] ? terr.msg :
		    "not valid TOML");
		goto checked;
	}
	for (i = 0; i < CONFIG_SEC__MAX; i++)
		if (config_sections[i].off != CONFIG_NOFIELD)
			config_defaults(&c, i, (char *)cfg + config_sections[i].off);
	if (!c.oom)
		config_parse_root(&c, root);
	if (!c.oom)
		config_finish(&c);
checked:
	config_diag_sort(c.diag, first);
	if (c.dropped > 0) {
		c.summary = 1;
		config_msg(&c, c.dropped_errors > 0 ? CONFIG_ERROR : CONFIG_WARNING, 0, 0,
		    "%d more problem%s not shown (%d error%s)", c.dropped, c.dropped == 1 ? "" : "s",
		    c.dropped_errors, c.dropped_errors == 1 ? "" : "s");
	}
	if (c.oom)
		e = QP_ENOMEM;
	else if (c.diag->nerrors > 0 || c.dropped_errors > 0)
		e = QP_ECONFIG;
out:
	config_tree_wipe(root);
	toml_free(root);
	config_dotenv_free(&c.dotenv);
	free(c.refs);
	if (e != QP_OK) {
		config_free(cfg);
		cfg = NULL;
	}
	if (diag == NULL)
		config_diag_free(&local);
	if (err != NULL)
		*err = e;
	return cfg;
}

struct config *
config_load(const char *path, struct config_diag *diag, enum qp_err *err)
{
	struct config_diag local = { NULL, 0, 0 };
	struct config *cfg = NULL;
	struct config_ctx c;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, saved;

	if (err != NULL)
		*err = QP_EIO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st.st_size > QP_CONFIG_MAX) {
		memset(&c, 0, sizeof(c));
		c.diag = diag != NULL ? diag : &local;
		c.cap = c.diag->n;
		config_msg(&c, CONFIG_ERROR, 0, 0, "the file is larger than %d bytes",
		    QP_CONFIG_MAX);
		config_diag_free(&local);
		close(fd);
		if (err != NULL)
			*err = QP_ECONFIG;
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		if (err != NULL)
			*err = QP_ENOMEM;
		return NULL;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	fd = -1;
	cfg = config_load_buf(buf, len, path, diag, err);
	crypto_wipe(buf, len);
	free(buf);
	return cfg;
fail:
	saved = errno;
	if (buf != NULL) {
		crypto_wipe(buf, len);
		free(buf);
	}
	close(fd);
	errno = saved;
	return NULL;
}

void
config_free(struct config *cfg)
{
	struct config_provider *p;
	int i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < CONFIG_SEC__MAX; i++)
		if (config_sections[i].off != CONFIG_NOFIELD)
			config_section_free(i, (char *)cfg + config_sections[i].off);
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		for (j = 0; j < p->naccounts; j++)
			config_section_free(CONFIG_SEC_ACCOUNT, &p->accounts[j]);
		free(p->accounts);
		config_section_free(CONFIG_SEC_PROVIDER, p);
		free(p->id);
	}
	free(cfg->providers);
	for (i = 0; i < cfg->nproxies; i++) {
		config_section_free(CONFIG_SEC_PROXY, &cfg->proxies[i]);
		free(cfg->proxies[i].name);
	}
	free(cfg->proxies);
	for (i = 0; i < cfg->noverrides; i++) {
		config_section_free(CONFIG_SEC_OVERRIDE, &cfg->overrides[i]);
		free(cfg->overrides[i].model);
	}
	free(cfg->overrides);
	for (i = 0; i < cfg->naliases; i++) {
		for (j = 0; j < cfg->aliases[i].ntargets; j++)
			free(cfg->aliases[i].targets[j]);
		free(cfg->aliases[i].targets);
		free(cfg->aliases[i].pattern);
	}
	free(cfg->aliases);
	free(cfg->path);
	free(cfg->dir);
	crypto_wipe(cfg, sizeof(*cfg));
	free(cfg);
}

void
config_diag_print(const struct config_diag *diag, const char *path, FILE *fp)
{
	const struct config_msg *m;
	const char *sev;
	int i;

	if (diag == NULL)
		return;
	if (path == NULL)
		path = "config";
	for (i = 0; i < diag->n; i++) {
		m = &diag->msgs[i];
		sev = m->severity == CONFIG_ERROR ? "error" : "warning";
		if (m->line > 0 && m->col > 0)
			fprintf(fp, "%s:%d:%d: %s: %s\n", path, m->line, m->col, sev, m->text);
		else if (m->line > 0)
			fprintf(fp, "%s:%d: %s: %s\n", path, m->line, sev, m->text);
		else
			fprintf(fp, "%s: %s: %s\n", path, sev, m->text);
	}
}

void
config_diag_free(struct config_diag *diag)
{

	if (diag == NULL)
		return;
	free(diag->msgs);
	diag->msgs = NULL;
	diag->n = 0;
	diag->nerrors = 0;
}

const struct config_provider *
config_provider(const struct config *cfg, const char *id)
{
	int i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].id, id) == 0)
			return &cfg->providers[i];
	return NULL;
}

const struct config_model_override *
config_override(const struct config *cfg, const char *model)
{
	int i;

	for (i = 0; cfg != NULL && model != NULL && i < cfg->noverrides; i++)
		if (strcmp(cfg->overrides[i].model, model) == 0)
			return &cfg->overrides[i];
	return NULL;
}

/* Copies s into buf; QP_ETOOBIG if it does not fit. */
static enum qp_err
config_copy(char *buf, size_t len, const char *s)
{

	if (len == 0 || strlen(s) >= len) {
		if (len > 0)
			buf[0] = '\0';
		return QP_ETOOBIG;
	}
	memcpy(buf, s, strlen(s) + 1);
	return QP_OK;
}

/* 1 if path names an existing file that is not a directory. */
static int
config_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

enum qp_err
config_find_path(const char *cli, char *buf, size_t len)
{
	char cand[PATH_MAX];
	const char *v;
	int n;

	if (cli != NULL)
		return config_copy(buf, len, cli);
	if ((v = getenv("QUOTAPOOL_CONFIG")) != NULL && v[0] != '\0')
		return config_copy(buf, len, v);
	if (config_exists("./config.toml"))
		return config_copy(buf, len, "./config.toml");
	if ((v = getenv("XDG_CONFIG_HOME")) != NULL && v[0] == '/')
		n = snprintf(cand, sizeof(cand), "%s/quotapool/config.toml", v);
	else if ((v = getenv("HOME")) != NULL && v[0] == '/')
		n = snprintf(cand, sizeof(cand), "%s/.config/quotapool/config.toml", v);
	else
		n = -1;
	if (n > 0 && (size_t)n < sizeof(cand) && config_exists(cand))
		return config_copy(buf, len, cand);
	if (config_exists("/etc/quotapool/config.toml"))
		return config_copy(buf, len, "/etc/quotapool/config.toml");
#ifdef QP_SYSCONFDIR
	if (strcmp(QP_SYSCONFDIR, "/etc") != 0) {
		n = snprintf(cand, sizeof(cand), "%s/quotapool/config.toml", QP_SYSCONFDIR);
		if (n > 0 && (size_t)n < sizeof(cand) && config_exists(cand))
			return config_copy(buf, len, cand);
	}
#endif
	config_copy(buf, len, "./config.toml");
	return QP_ENOTFOUND;
}

/* ---- documentation ----------------------------------------------------- */

/* Writes text for a Markdown table cell: '|' escaped. */
static void
config_md_cell(FILE *fp, const char *s)
{

	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

/* Writes the documented default of key k. */
static void
config_md_default(FILE *fp, const struct config_key *k)
{
	const struct config_choice *ch;
	int first = 1;

	if (k->defdoc != NULL) {
		config_md_cell(fp, k->defdoc);
		return;
	}
	switch (k->kind) {
	case CONFIG_KIND_BOOL:
		fputs(k->idef ? "`true`" : "`false`", fp);
		break;
	case CONFIG_KIND_INT:
	case CONFIG_KIND_INT64:
		fprintf(fp, "`%lld`", (long long)k->idef);
		break;
	case CONFIG_KIND_FLOAT:
	case CONFIG_KIND_MS:
		fprintf(fp, "`%g`", k->fdef);
		break;
	case CONFIG_KIND_CHOICE:
		for (ch = k->choices; ch->name != NULL; ch++)
			if (!ch->alias && ch->value == k->idef)
				break;
		if (ch->name != NULL)
			fprintf(fp, "`\"%s\"`", ch->name);
		break;
	case CONFIG_KIND_PROTOCOLS:
		fputs("`[", fp);
		for (ch = k->choices; ch->name != NULL; ch++)
			if (!ch->alias && ((unsigned)k->idef & (unsigned)ch->value)) {
				fprintf(fp, "%s\"%s\"", first ? "" : ", ", ch->name);
				first = 0;
			}
		fputs("]`", fp);
		break;
	case CONFIG_KIND_STRINGS:
	case CONFIG_KIND_ADDRS:
		fputs("`[]`", fp);
		break;
	case CONFIG_KIND_TABLES:
	case CONFIG_KIND_SUBTABLE:
		fputs("", fp);
		break;
	default:
		if (k->sdef != NULL)
			fprintf(fp, "`\"%s\"`", k->sdef);
		else
			fputs("none", fp);
		break;
	}
}

/* Writes one section: its paragraph, its key table, its ignored EggPool keys. */
static void
config_md_section(FILE *fp, int sec)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char range[96], list[160];
	size_t i;
	int n = 0;

	fprintf(fp, "### `%s`\n\n%s\n\n", s->title, s->doc);
	fputs("| Key | Type | Default | Range or values | Description |\n", fp);
	fputs("|---|---|---|---|---|\n", fp);
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind == CONFIG_KIND_IGNORED)
			continue;
		fprintf(fp, "| `%s` | %s | ", k->name, config_kinds[k->kind].doc);
		config_md_default(fp, k);
		fputs(" | ", fp);
		if (k->choices != NULL)
			config_md_cell(fp, config_choice_list(k->choices, list, sizeof(list)));
		else
			config_md_cell(fp, config_range(k, range, sizeof(range)));
		fputs(" | ", fp);
		config_md_cell(fp, k->doc);
		if (k->flags & CONFIG_F_REQUIRED)
			fputs(" Required.", fp);
		if (k->noeffect != NULL) {
			fputs(" **No effect in this version:** ", fp);
			config_md_cell(fp, k->noeffect);
			fputs(" (`check-config` warns).", fp);
		}
		fputs(" |\n", fp);
	}
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind != CONFIG_KIND_IGNORED)
			continue;
		fprintf(fp, "%s`%s`", n == 0 ? "\nAccepted from EggPool configurations, without "
		    "effect in this version (`check-config` warns): " : ", ", k->name);
		n++;
	}
	fputs(n > 0 ? ".\n\n" : "\n", fp);
}

void
config_doc_markdown(FILE *fp)
{
	static const int order[] = {
		CONFIG_SEC_SERVER, CONFIG_SEC_UPSTREAM, CONFIG_SEC_DATABASE, CONFIG_SEC_MODELS,
		CONFIG_SEC_ROUTING, CONFIG_SEC_LIMITS, CONFIG_SEC_DASHBOARD, CONFIG_SEC_SECURITY,
		CONFIG_SEC_BACKUP, CONFIG_SEC_TRANSLATION, CONFIG_SEC_RETENTION, CONFIG_SEC_WORKERS,
		CONFIG_SEC_PROVIDER,
		CONFIG_SEC_ACCOUNT, CONFIG_SEC_PROXY,
		CONFIG_SEC_OVERRIDE, CONFIG_SEC_AUTH, CONFIG_SEC_STREAM
	};
	size_t i;
	int n = 0;

	fputs("## Sections and keys\n\n", fp);
	fputs("Seconds may be written as integers or floats. Sizes are in bytes, money in "
	    "microdollars ($1 = 1000000) unless the key says otherwise.\n\n", fp);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		config_md_section(fp, order[i]);
	fprintf(fp, "### `[aliases]`\n\nModel names clients use on their own (Claude Code sends "
	    "`claude-opus-4-8` when no model is set), mapped to the models of the pool. Each "
	    "key is a glob over the model id the client sends: `*` matches any run of "
	    "characters (`/` included, none too), `?` one character; there is no escape. The "
	    "value is one model id, or an array of up to %d in fallback order: the next is "
	    "tried when every account of the one before is unavailable (backing off, "
	    "quarantined, disabled, all tried by this request, or the model not served). For "
	    "example, under `[aliases]`: `\"claude-*\" = [\"glm-4.6/zai\", "
	    "\"deepseek-chat/deepseek\"]` and `\"gpt-5*\" = [\"qwen3-coder/local\"]`.\n\n"
	    "A model id that a provider serves is "
	    "routed as it is: the patterns are tried, in file order, only for ids no provider "
	    "serves, and the first that matches wins. `GET /v1/models` lists each pattern as "
	    "a model (`quotapool.alias` true, `quotapool.targets` its list). The request row "
	    "keeps the pattern (`alias`) and the target that served it (`alias_target`), the "
	    "routing decision the same (`alias`, `target` in its detail). At most %d "
	    "patterns.\n\n", QP_ALIAS_TARGETS_MAX, QP_ALIASES_MAX);
	fprintf(fp, "### Context limits\n\nA model's limits at a provider are, per field, those "
	    "of its `[model_overrides.\"<model>\"]` when set, else what the provider's model "
	    "list says (`context_length` as OpenRouter, Together or Fireworks give it, "
	    "`context_window` and `max_completion_tokens` as Groq, `max_input_tokens` and "
	    "`max_tokens` as Anthropic, `max_model_len` as vLLM, `max_context_length` as "
	    "Mistral, else OpenRouter's `top_provider`), else unknown. `GET /v1/models` shows "
	    "them: `context_length` and `quotapool.max_context_tokens`, "
	    "`quotapool.max_output_tokens` (Anthropic shape: `max_input_tokens`, `max_tokens`); "
	    "an unsuffixed id over several providers, and an alias over its models, shows the "
	    "smallest.\n\nWith `enforce_context_limit` (the default) a request clearly over "
	    "the limits is refused with 400, in its protocol's error shape, before any "
	    "upstream call. The prompt is estimated from the request's bytes: the body's "
	    "length, less the inline binary data in it (each JSON string of %d bytes or more "
	    "made only of the base64 alphabet, and the payload of each `data:...;base64,` "
	    "URL), divided by %d. Text takes 3 to 5 bytes per token, and the body adds its "
	    "JSON, so the estimate is below the real count: a request it refuses is over by "
	    "a wide margin. The request is over when that estimate is above "
	    "`max_input_tokens`, or when it plus the answer asked for (`max_completion_tokens`, "
	    "else `max_tokens`, else `max_output_tokens`; at most the model's "
	    "`max_output_tokens`, as a provider would cut it) is above the context window. A "
	    "provider whose limit the request is over is left out of the choice "
	    "(`context_limit` in the routing decision), so a larger one may serve it; the 400 "
	    "comes when none is left, and an alias's next model is tried first.\n\n",
	    CTXLIMIT_BLOB_MIN, CTXLIMIT_BYTES_PER_TOKEN);
	fputs("### Sections accepted from EggPool, without effect\n\n", fp);
	for (i = 0; i < CONFIG_NROOTS; i++) {
		if (config_roots[i].kind != CONFIG_ROOT_IGNORED)
			continue;
		fprintf(fp, "%s`[%s]`", n == 0 ? "" : ", ", config_roots[i].name);
		n++;
	}
	fputs(": each is accepted so that EggPool configurations load, has no effect in this "
	    "version, and gives a warning naming it. EggPool's top-level "
	    "`[[accounts]]` is an error: move the accounts under a `[providers.<id>]`.\n", fp);
}

/* ---- instance text ----------------------------------------------------- */

/* One replacement of bytes [start, end) of the example. */
struct config_edit {
	size_t		 start, end;	/* the value's bytes */
	char		*text;		/* replacement, owned */
};

/* Finds the value of key on 1-based line of ex: [*start, *end). 0 if found. */
static int
config_value_span(const char *ex, size_t len, unsigned line, const char *key, size_t *start,
    size_t *end)
{
	size_t i = 0, e, klen = strlen(key), p;
	unsigned l = 1;

	while (l < line && i < len) {
		if (ex[i++] == '\n')
			l++;
	}
	if (l != line)
		return -1;
	for (e = i; e < len && ex[e] != '\n'; e++)
		;
	for (p = i; p + klen <= e; p++) {
		if (memcmp(ex + p, key, klen) != 0)
			continue;
		if (p > i && strchr(" \t.{,", ex[p - 1]) == NULL)
			continue;
		*start = p + klen;
		while (*start < e && (ex[*start] == ' ' || ex[*start] == '\t'))
			(*start)++;
		if (*start >= e || ex[*start] != '=')
			continue;
		for ((*start)++; *start < e && (ex[*start] == ' ' || ex[*start] == '\t');)
			(*start)++;
		if (*start >= e)
			return -1;
		*end = *start;
		if (ex[*end] == '"' || ex[*end] == '\'') {
			if (*end + 2 < e && ex[*end + 1] == ex[*end] && ex[*end + 2] == ex[*end])
				return -1;	/* multi-line strings are not rewritten */
			for ((*end)++; *end < e && ex[*end] != ex[*start]; (*end)++)
				if (ex[*start] == '"' && ex[*end] == '\\')
					(*end)++;
			if (*end >= e)
				return -1;
			(*end)++;
		} else
			while (*end < e && strchr(" \t#,}\r", ex[*end]) == NULL)
				(*end)++;
		return 0;
	}
	return -1;
}

/* A TOML basic string holding s. */
static char *
config_quote(const char *s)
{
	size_t i, o = 0, n = strlen(s);
	char *q;

	if (n > (SIZE_MAX - 3) / 6 || (q = malloc(n * 6 + 3)) == NULL)
		return NULL;
	q[o++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			q[o++] = '\\';
			q[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(q + o, 7, "\\u%04x", ch);
			o += 6;
		} else
			q[o++] = (char)ch;
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}

/* Checks the rewritten text reads back with the values asked for. */
static int
config_instance_check(const char *text, int port, const char *state_dir, const char *db_path)
{
	struct toml_value *root;
	const struct toml_value *srv, *db, *v;
	int ok = 0;

	if ((root = toml_parse(text, strlen(text), NULL)) == NULL)
		return 0;
	srv = toml_get(root, "server");
	db = toml_get(root, "database");
	if ((v = toml_get(srv, "port")) == NULL || v->type != TOML_INTEGER || v->u.i != port)
		goto out;
	if ((v = toml_get(srv, "state_dir")) == NULL || v->type != TOML_STRING ||
	    strcmp(v->u.str.ptr, state_dir) != 0)
		goto out;
	if ((v = toml_get(db, "path")) == NULL || v->type != TOML_STRING ||
	    strcmp(v->u.str.ptr, db_path) != 0)
		goto out;
	ok = 1;
out:
	toml_free(root);
	return ok;
}

char *
config_instance_text(const char *ex, size_t len, int port, const char *state_dir,
    const char *db_path, enum qp_err *err)
{
	static const struct {
		const char	*section;
		const char	*key;
	} want[3] = { { "server", "port" }, { "server", "state_dir" }, { "database", "path" } };
	struct config_edit ed[3], t;
	struct toml_value *root = NULL;
	const struct toml_kv *kv;
	char *out = NULL, num[16];
	enum qp_err e = QP_EPARSE;
	size_t total, o, prev;
	int i, j;

	memset(ed, 0, sizeof(ed));
	if (state_dir == NULL || db_path == NULL || port < 1 || port > 65535 ||
	    state_dir[0] == '\0' || db_path[0] == '\0') {
		e = QP_EINVAL;
		goto out;
	}
	if (len > QP_CONFIG_MAX) {
		e = QP_ETOOBIG;
		goto out;
	}
	if ((root = toml_parse(ex, len, NULL)) == NULL)
		goto out;
	for (i = 0; i < 3; i++) {
		kv = toml_get_kv(toml_get(root, want[i].section), want[i].key);
		if (kv == NULL || kv->val->type != (i == 0 ? TOML_INTEGER : TOML_STRING))
			goto out;
		if (config_value_span(ex, len, config_kv_line(kv), want[i].key, &ed[i].start,
		    &ed[i].end) != 0)
			goto out;
		if (i == 0) {
			snprintf(num, sizeof(num), "%d", port);
			ed[i].text = strdup(num);
		} else
			ed[i].text = config_quote(i == 1 ? state_dir : db_path);
		if (ed[i].text == NULL) {
			e = QP_ENOMEM;
			goto out;
		}
	}
	for (i = 1; i < 3; i++)
		for (j = i; j > 0 && ed[j - 1].start > ed[j].start; j--) {
			t = ed[j];
			ed[j] = ed[j - 1];
			ed[j - 1] = t;
		}
	for (i = 1; i < 3; i++)
		if (ed[i].start < ed[i - 1].end)
			goto out;
	total = len + 1;
	for (i = 0; i < 3; i++)
		total += strlen(ed[i].text);
	if ((out = malloc(total)) == NULL) {
		e = QP_ENOMEM;
		goto out;
	}
	for (i = 0, o = 0, prev = 0; i < 3; i++) {
		memcpy(out + o, ex + prev, ed[i].start - prev);
		o += ed[i].start - prev;
		memcpy(out + o, ed[i].text, strlen(ed[i].text));
		o += strlen(ed[i].text);
		prev = ed[i].end;
	}
	memcpy(out + o, ex + prev, len - prev);
	o += len - prev;
	out[o] = '\0';
	if (!config_instance_check(out, port, state_dir, db_path)) {
		free(out);
		out = NULL;
		goto out;
	}
	e = QP_OK;
out:
	for (i = 0; i < 3; i++)
		free(ed[i].text);
	toml_free(root);
	if (err != NULL)
		*err = e;
	return out;
}
