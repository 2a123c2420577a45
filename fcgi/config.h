/* config.h: the TOML configuration file loaded into typed structures, and its checks. */
#ifndef QP_CONFIG_H
#define QP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* Protocols a provider speaks (bit mask). */
#define CONFIG_PROTO_OPENAI	0x1	/* POST {base_url}/chat/completions */
#define CONFIG_PROTO_ANTHROPIC	0x2	/* POST {base_url}/messages */
#define CONFIG_PROTO_RESPONSES	0x4	/* POST {base_url}/responses, taken as is */

/* [translation] loss_policy: a request the provider's API cannot wholly express. */
enum config_loss {
	CONFIG_LOSS_WARN,	/* translated without what cannot be said, with a warning */
	CONFIG_LOSS_REJECT,	/* refused with 400 */
	CONFIG_LOSS__MAX
};

/* How the account's key is sent upstream. */
enum config_auth {
	CONFIG_AUTH_DEFAULT,	/* by protocol: Bearer for OpenAI, x-api-key for Anthropic */
	CONFIG_AUTH_BEARER,	/* Authorization: Bearer KEY */
	CONFIG_AUTH_API_KEY,	/* x-api-key: KEY */
	CONFIG_AUTH_NONE,	/* no credentials (local runtimes) */
	CONFIG_AUTH__MAX
};

/* Quota windows over which account usage is measured. */
enum config_window {
	CONFIG_WINDOW_5H,	/* last 5 hours */
	CONFIG_WINDOW_WEEK,	/* last 7 days */
	CONFIG_WINDOW_MONTH,	/* last 30 days */
	CONFIG_WINDOW__MAX
};

/* Severity of a diagnostic. */
enum config_severity {
	CONFIG_WARNING,		/* accepted, but the operator should look */
	CONFIG_ERROR,		/* the file is rejected */
	CONFIG_SEVERITY__MAX
};

/* One problem found in the file. */
struct config_msg {
	enum config_severity	 severity;	/* warning or error */
	int			 line;		/* 1-based line, 0 if not tied to a line */
	int			 col;		/* 1-based column, 0 if unknown */
	char			 text[256];	/* one sentence, never a secret */
};

/* Most messages kept in a diag; one more says how many were left out. */
#define CONFIG_DIAG_MAX		200

/* Every problem found while loading, in file order (line 0 last). */
struct config_diag {
	struct config_msg	*msgs;		/* owned array */
	int			 n;		/* number of messages */
	int			 nerrors;	/* how many are CONFIG_ERROR */
};

/* Usage limits of one window; 0 = no limit. */
struct config_quota {
	int64_t		 microdollars;		/* spend allowed in the window */
	int64_t		 requests;		/* requests allowed in the window */
	int64_t		 tokens;		/* tokens (in + out) allowed in the window */
	int64_t		 offset_microdollars;	/* spend already used elsewhere, counted in */
};

/* [proxies.<name>]: an outbound proxy accounts can name. */
struct config_proxy {
	char		*name;		/* table key */
	char		*url;		/* resolved from url or url_env; a secret (may hold credentials) */
	int		 line;		/* where it is defined */
};

/* [[providers.<id>.accounts]]: one credential at a provider. */
struct config_account {
	char		*name;		/* unique across all providers */
	char		*api_key;	/* resolved secret (inline or from api_key_env), NULL if none */
	char		*api_key_env;	/* variable named, NULL if inline or none */
	double		 weight;	/* > 0; scales the quota limits, default 1.0 */
	int		 enabled;	/* 0 = never selected */
	struct config_quota quota[CONFIG_WINDOW__MAX]; /* limits, defaults from [limits] x weight */
	int		 hard_cap;	/* 1: excluded at a limit until its window lets it under;
					   0: limits are pressure only; default the provider's */
	char		*proxy_url;	/* resolved outbound proxy URL (secret), NULL = direct */
	char		*proxy;		/* name of the [proxies.<name>] used, NULL if none named */
	int		 line;		/* where the account's table starts */
};

/* [providers.<id>]: one upstream API. */
struct config_provider {
	char		*id;		/* [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? */
	char		*base_url;	/* absolute http(s) URL, no trailing '/' */
	unsigned	 protocols;	/* CONFIG_PROTO_* mask, at least one */
	int		 routing_priority; /* >= 0, higher tiers are tried first */
	int		 enabled;	/* 0 = ignored by routing and the catalog */
	int		 hard_cap;	/* default of its accounts' hard_cap, 0 = soft */
	enum config_auth auth;		/* how keys are sent */
	char		*openai_path;	/* default "/chat/completions" */
	char		*anthropic_path; /* default "/messages" */
	char		*responses_path; /* default "/responses" (protocol "responses") */
	char		*embeddings_path; /* default "/embeddings" */
	char		*completions_path; /* default "/completions" (legacy completions) */
	char		*models_path;	/* default "/models"; NULL = catalog from models only */
	char		**models;	/* static model ids, always served */
	int		 nmodels;	/* entries in models */
	int		 connect_timeout_ms;	/* overrides [upstream] when > 0 */
	int		 first_byte_timeout_ms;	/* overrides [upstream] when > 0 */
	int		 idle_timeout_ms;	/* overrides [upstream] when > 0 */
	char		*ca_file;	/* PEM CAs that verify its TLS certificate, absolute;
					   NULL = the system's */
	struct config_account *accounts; /* owned array */
	int		 naccounts;	/* >= 1: a keyless provider without accounts gets one named after it */
	int		 line;		/* where the provider's table starts */
	int		 workers;	/* 1: the provider [workers] adds: its models are those
					   of the live remote workers, its attempts go to them */
};

/* [model_overrides."<model>"]: facts about a model the catalog cannot know. */
struct config_model_override {
	char		*model;		/* base model id (no provider suffix) */
	unsigned	 protocol;	/* CONFIG_PROTO_* or 0 = not set */
	int64_t		 input_per_mtok;	/* microdollars per million input tokens, -1 = unset */
	int64_t		 output_per_mtok;	/* microdollars per million output tokens, -1 = unset */
	int64_t		 cache_read_per_mtok;	/* microdollars per million cache-read tokens, -1 = unset */
	int64_t		 cache_write_per_mtok;	/* microdollars per million cache-write tokens, -1 = unset */
	int64_t		 max_context_tokens;	/* 0 = the catalog's, else unknown */
	int64_t		 max_output_tokens;	/* 0 = the catalog's, else unknown */
	int64_t		 max_input_tokens;	/* 0 = no limit of its own */
	int		 enforce_context_limit;	/* 1 = requests over the limits get 400 (default) */
	int		 line;		/* where it is defined */
};

/* [aliases]: one glob over client model ids and the models it routes to. */
struct config_alias {
	char		*pattern;	/* glob: '*' any run, '?' one character (alias.h) */
	char		**targets;	/* model ids, tried in order (fallbacks) */
	int		 ntargets;	/* 1 to QP_ALIAS_TARGETS_MAX */
	int		 line;		/* where it is defined */
};

/* [server] */
struct config_server {
	char		*host;		/* address lighttpd binds for `serve`, default 127.0.0.1 */
	int		 port;		/* 1-65535, default 11300 */
	int		 threads;	/* worker threads = concurrent requests, default 256 */
	int64_t		 max_request_body_bytes; /* 413 beyond, default 10 MiB */
	char		*state_dir;	/* pid, logs, sockets; absolute after loading */
	char		*socket;	/* FastCGI socket path; NULL = under state_dir */
	char		*base_path;	/* URL prefix the gateway is served under: "" (the
					   root) or "/a/b", no trailing '/' */
	char		*user;		/* drop privileges to this user when started as root */
	int		 allow_core_dumps; /* 1 = stay dumpable (debugging); default 0 */
	int		 log_level;	/* enum log_level from log.h */
	char		*api_key;	/* legacy single server key (EggPool), resolved secret or NULL */
};

/* [upstream]: defaults for every provider. */
struct config_upstream {
	int		 connect_timeout_ms;	/* default 5000 */
	int		 first_byte_timeout_ms;	/* headers to first byte, default 300000 */
	int		 idle_timeout_ms;	/* longest gap inside a stream, default 300000 */
	int		 keepalive_interval_ms;	/* SSE comment to the client while silent, default 1000 */
	int64_t		 max_response_body_bytes; /* non-streaming answer, 502 beyond; default 32 MiB */
};

/* [database] */
struct config_database {
	char		*path;		/* absolute after loading */
	int		 busy_timeout_ms; /* default 5000 */
	char		*synchronous;	/* OFF, NORMAL, FULL or EXTRA; default NORMAL */
};

/* [models] */
struct config_models {
	int		 refresh_interval_s; /* 0 = fetch only at start; default 300 */
	int		 startup_refresh;	/* fetch when the process starts, default 1 */
	int		 collapse_models;	/* 1 = one unsuffixed id per model */
	int		 ping_retain_days;	/* default 7 */
};

/* [routing] */
struct config_routing {
	int		 max_attempts;		/* upstream attempts per request, default 3 */
	int		 backoff_base_s;	/* first rate-limit backoff without Retry-After, default 5 */
	int		 backoff_max_s;		/* cap of every backoff, default 1800 */
	int		 quota_backoff_s;	/* backoff after quota exhaustion, default 3600 */
	int		 transient_backoff_s;	/* after 5xx or connect errors, default 10 */
	int		 circuit_failures;	/* consecutive transient failures that open the circuit, default 5 */
	int		 circuit_open_s;	/* how long an open circuit excludes the account, default 300 */
	int		 auth_quarantine_s;	/* after 401/403, default 1800 */
	int		 model_backoff_s;	/* one model, after "model not found"; 300 */
};

/* [limits]: default quota per account (multiplied by its weight). */
struct config_limits {
	struct config_quota quota[CONFIG_WINDOW__MAX];
};

/* [dashboard] */
struct config_dashboard {
	int		 enabled;		/* default 1 */
	int		 public;		/* 1 = non-sensitive pages without a key */
	int		 metrics_public;	/* 1 = /metrics without a key */
	char		*theme;			/* theme name, default "dark" */
	int		 refresh_interval_s;	/* page refresh, 0 = off; default 60 */
	int		 retention_days;	/* older name of [retention] requests_days: the same
					   value once loaded */
};

/* [security] */
struct config_security {
	char		**trusted_proxies;	/* peers whose X-Forwarded-For/-Proto are believed */
	int		 ntrusted_proxies;
	int		 max_auth_failures;	/* a minute per address before 429; 0 = no limit */
};

/* [backup] */
struct config_backup {
	int		 enabled;		/* automatic backups by the maintenance thread */
	int		 interval_s;		/* default 86400 */
	int		 retain_count;		/* default 14 */
	char		*directory;		/* absolute; default <state_dir>/backups */
	int		 startup_delay_s;	/* first automatic backup check after start */
	int		 include_env;		/* 1 = the .env beside the config is archived */
};

/* [translation]: serving a client whose API the provider does not speak. */
struct config_translation {
	enum config_loss loss_policy;		/* default CONFIG_LOSS_WARN */
};

/* [retention]: how long rows are kept; applied by the maintenance thread and `db prune`. */
struct config_retention {
	int		 requests_days;		/* requests with their attempts and routing decisions;
						   0 = forever; default [dashboard] retention_days, 30 */
	int		 events_days;		/* operational_events; 0 = forever; default requests_days */
	int		 interval_s;		/* how often maintenance applies it, default 3600 */
};

/* [workers]: remote workers that dial in (docs/workers.md). */
struct config_workers {
	int		 enabled;		/* 1: /worker/v1/... is served, the provider is added */
	char		*provider;		/* id of that provider, default "workers" */
	int		 routing_priority;	/* its tier, default 0 */
	int		 heartbeat_s;		/* a worker says hello this often, default 10 */
	int		 gone_after_s;		/* silent this long, a worker is gone, default 30 */
};

/* The whole configuration. Read-only once loaded: safe to share between threads. */
struct config {
	char		*path;		/* absolute path of the file loaded */
	char		*dir;		/* its directory: relative paths are resolved against it */
	struct config_server	 server;
	struct config_upstream	 upstream;
	struct config_database	 database;
	struct config_models	 models;
	struct config_routing	 routing;
	struct config_limits	 limits;
	struct config_dashboard	 dashboard;
	struct config_security	 security;
	struct config_backup	 backup;
	struct config_translation translation;
	struct config_retention	 retention;
	struct config_workers	 workers;
	struct config_provider	*providers;	/* owned array, file order */
	int			 nproviders;
	struct config_proxy	*proxies;	/* owned array */
	int			 nproxies;
	struct config_model_override *overrides; /* owned array */
	int			 noverrides;
	struct config_alias	*aliases;	/* owned array, file order */
	int			 naliases;
};

/*
 * Finds the configuration file: cli (--config) if not NULL, else
 * $QUOTAPOOL_CONFIG, ./config.toml, $XDG_CONFIG_HOME/quotapool/config.toml
 * (~/.config when unset), /etc/quotapool/config.toml (then
 * $(sysconfdir)/quotapool/config.toml when sysconfdir is not /etc): the
 * first that is given or exists. Writes the path into buf. QP_ENOTFOUND if none exists
 * (buf then holds ./config.toml). Thread-safe.
 */
enum qp_err	 config_find_path(const char *cli, char *buf, size_t len);

/*
 * Loads and checks the file at path. Variables named by *_env keys are
 * looked up in the environment, then in a ".env" file beside the config.
 * Every problem goes into diag (which the caller frees with
 * config_diag_free()). Returns the configuration (free with config_free())
 * or NULL when diag holds at least one error; *err says why
 * (QP_ECONFIG, QP_EIO with errno kept, QP_ENOMEM). Call at start-up: it
 * reads the environment, so it must not race with setenv().
 */
struct config	*config_load(const char *path, struct config_diag *diag, enum qp_err *err);

/*
 * Same as config_load() on a buffer; path is used for messages and to
 * resolve relative paths and .env (may be NULL: then the current directory,
 * and cfg->path is NULL). Not thread-safe with setenv() (reads getenv).
 */
struct config	*config_load_buf(const char *buf, size_t len, const char *path,
		    struct config_diag *diag, enum qp_err *err);

/* Frees a configuration, wiping its secrets. NULL is allowed. No thread may still use it. */
void		 config_free(struct config *cfg);

/*
 * Writes each message as "PATH:LINE:COL: error: text" (or "warning:"), one
 * per line; ":COL" is left out when 0, ":LINE" too when 0. path NULL prints
 * "config". Thread-safe for distinct streams.
 */
void		 config_diag_print(const struct config_diag *diag, const char *path, FILE *fp);

/* Frees the messages of diag and zeroes it. */
void		 config_diag_free(struct config_diag *diag);

/* Returns the provider with this id, or NULL; borrowed from cfg. Thread-safe. */
const struct config_provider *config_provider(const struct config *cfg, const char *id);

/* Returns the override for this base model id, or NULL; borrowed from cfg. Thread-safe. */
const struct config_model_override *config_override(const struct config *cfg, const char *model);

/*
 * Writes the Markdown reference of every section and key (type, default,
 * range, description) from the same tables that drive parsing.
 * docs/configuration.md holds it (tests/unit/test_config --write-doc).
 * Thread-safe.
 */
void		 config_doc_markdown(FILE *fp);

/*
 * Makes an instance configuration from the example file's text (ex, len):
 * the same text with [server] port, [server] state_dir and [database] path
 * set to the given values. Returns a malloc'd NUL-terminated string the
 * caller frees, or NULL with *err set (QP_EPARSE if the example lacks one
 * of those keys, QP_EINVAL for a port outside 1-65535 or an empty path).
 * Only the three values change; every other byte is kept. Thread-safe.
 */
char		*config_instance_text(const char *ex, size_t len, int port,
		    const char *state_dir, const char *db_path, enum qp_err *err);

#endif /* QP_CONFIG_H */
