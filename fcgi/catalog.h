/* catalog.h: the model catalog: upstream model lists, static models, provider pings, /v1/models. */
#ifndef QP_CATALOG_H
#define QP_CATALOG_H

#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"

/*
 * Bounds on what a provider's models list may hold (candidates for
 * fcgi/bounds.h). Items beyond them are ignored, never an error.
 */
#define CATALOG_MODELS_MAX	2000		/* models kept from one provider */
#define CATALOG_ID_MAX		200		/* longest model id accepted (bytes) */
#define CATALOG_NAME_MAX	200		/* longest display name kept (bytes) */
#define CATALOG_BODY_MAX	(8 * 1024 * 1024) /* one models-list response body */
#define CATALOG_PAGES_MAX	20		/* pages followed on a paginated list */
#define CATALOG_FETCH_TIMEOUT_MS 30000		/* longest whole fetch of one page */
#define CATALOG_ERROR_MAX	120		/* length of a ping's error text */

/* Shape of the models list an upstream answered. */
enum catalog_shape {
	CATALOG_SHAPE_NONE,		/* nothing parsed yet */
	CATALOG_SHAPE_OPENAI,		/* {"object":"list","data":[{"id"...}]} */
	CATALOG_SHAPE_ANTHROPIC,	/* {"data":[{"type":"model",...}],"has_more",...} */
	CATALOG_SHAPE_ARRAY,		/* a bare array of objects with "id" */
	CATALOG_SHAPE__MAX
};

/* One model as an upstream lists it. */
struct catalog_model {
	char		 id[CATALOG_ID_MAX + 1];	/* model id, valid UTF-8, no space or control */
	char		 display_name[CATALOG_NAME_MAX + 1]; /* human name, "" if none */
	unsigned	 protocol;	/* CONFIG_PROTO_* the list says it speaks, 0 = not said */
	int64_t		 context_tokens; /* context window the list says, 0 = not said */
	int64_t		 output_tokens;	/* longest answer the list says, 0 = not said */
};

/* A parsed models list: unique ids in strcmp order. */
struct catalog_list {
	struct catalog_model *models;	/* owned array of n */
	int		 n;		/* models kept */
	int		 cap;		/* allocated entries */
	int		 skipped;	/* malformed items ignored */
	int		 truncated;	/* 1 if items beyond CATALOG_MODELS_MAX were ignored */
	enum catalog_shape shape;	/* shape of the last page parsed */
	int		 has_more;	/* 1 if the last page says more pages follow */
	char		 last_id[CATALOG_ID_MAX + 1]; /* cursor for the next page, "" if none */
};

/* The outcome of one fetch, as written to provider_pings. */
struct catalog_ping {
	int64_t		 probed_at;	/* wall clock ms when the fetch started */
	int64_t		 latency_ms;	/* time to the full answer, -1 = no answer */
	int		 status_code;	/* HTTP status of the last page, 0 = no response */
	int		 ok;		/* 1 if a models list was read */
	char		 error[CATALOG_ERROR_MAX + 1]; /* short cause when not ok, never a secret */
	int		 model_count;	/* models read, -1 = none */
	int		 pages;		/* pages fetched */
};

/* One catalog row as /v1/models reads it (strings borrowed). */
struct catalog_row {
	const char	*provider_id;	/* provider serving the model */
	const char	*model_id;	/* model id as the provider names it */
	const char	*display_name;	/* NULL if none */
	int64_t		 first_seen_at;	/* wall clock ms of its first listing */
	int64_t		 context_tokens; /* context window its list said, 0 = unknown */
	int64_t		 output_tokens;	/* longest answer its list said, 0 = unknown */
};

/* What one catalog refresh did. */
struct catalog_report {
	int		 providers;	/* providers whose list was fetched */
	int		 failed;	/* of which the fetch failed or listed nothing */
	int		 models;	/* models stored from upstream lists */
	int		 statics;	/* static models stored */
};

/* Prepared statements of one connection; owned by one thread. */
struct catalog_db;

/* A libcurl easy handle (driven by a multi handle) with its buffers; owned by one thread. */
struct catalog_fetcher;

/* Returns "openai", "anthropic", "array" or "none". Thread-safe. */
const char	*catalog_shape_name(enum catalog_shape shape);

/*
 * Parses one models-list response body buf[0..len) (untrusted, need not
 * be NUL-terminated) and adds its models to l, which is zeroed or holds
 * earlier pages. Accepts the OpenAI shape, the Anthropic shape (then
 * has_more and last_id tell about the next page) and a bare array;
 * objects may also carry the list under "models". Items that are not
 * objects or lack a valid "id" are counted in l->skipped; ids longer
 * than CATALOG_ID_MAX or with spaces, control bytes or invalid UTF-8 are
 * malformed; display names come from "display_name", "name" or "title";
 * the context window from "context_length" (OpenRouter, Together,
 * Fireworks), "context_window" (Groq), "max_context_length" (Mistral),
 * "max_model_len" (vLLM), "max_context_tokens", "max_input_tokens"
 * (Anthropic), else top_provider.context_length (OpenRouter); the longest
 * answer from "max_output_tokens", "max_completion_tokens" (Groq),
 * "output_token_limit", "max_tokens" (Anthropic), else
 * top_provider.max_completion_tokens: positive integers up to 1e9, a
 * value that is not one is ignored.
 * JSON deeper than QP_JSON_DEPTH_MAX is refused. Returns QP_OK (l may
 * still be empty: the list was empty), QP_EPARSE if the bytes are not
 * JSON or hold no list (e.g. an error object), QP_ETOOBIG if too deep,
 * QP_ENOMEM. On error l keeps what it held. Thread-safe.
 */
enum qp_err	 catalog_parse(const char *buf, size_t len, struct catalog_list *l);

/* Frees the models of l and zeroes it. NULL is allowed. */
void		 catalog_list_free(struct catalog_list *l);

/* Returns 1 if l holds model id (binary search). */
int		 catalog_list_has(const struct catalog_list *l, const char *id);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with catalog_db_free()
 * before closing db. Not thread-safe: one object per thread.
 */
struct catalog_db *catalog_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees statements prepared by catalog_db_new(). NULL is allowed. */
void		 catalog_db_free(struct catalog_db *c);

/*
 * Replaces provider_id's upstream models with l in one write
 * transaction: models of l are inserted or refreshed (first_seen_at
 * kept, last_seen_at = now), upstream rows not in l are deleted, static
 * rows stay static. The limits l says are stored (a static row too
 * keeps those of its provider's list). A protocol from l is stored only if speaks (the
 * provider's CONFIG_PROTO_* mask) has it. An empty l changes nothing:
 * the last good catalog is kept. QP_EDB on a database error (then
 * nothing changed).
 */
enum qp_err	 catalog_store(struct catalog_db *c, const char *provider_id, unsigned speaks,
		    const struct catalog_list *l, int64_t now);

/*
 * Stores the static models of every configured provider with source
 * 'static' (an upstream row of the same model becomes static) and
 * deletes static rows no longer in the configuration (a model the
 * upstream also lists comes back at its next refresh), in one write
 * transaction. *n receives the number of static models (may be
 * NULL). QP_EDB on a database error.
 */
enum qp_err	 catalog_store_static(struct catalog_db *c, const struct config *cfg,
		    int64_t now, int *n);

/*
 * Writes ping as one provider_pings row for provider_id, probed with
 * account (may be NULL). QP_EDB on a database error.
 */
enum qp_err	 catalog_record_ping(struct catalog_db *c, const char *provider_id,
		    const char *account, const struct catalog_ping *ping);

/*
 * Deletes provider_pings rows probed before cutoff (wall clock ms), in
 * batches of at most 1000 rows per transaction. *n receives the count
 * (may be NULL). QP_EDB on a database error.
 */
enum qp_err	 catalog_prune_pings(struct catalog_db *c, int64_t cutoff, int64_t *n);

/*
 * Returns the account whose credentials fetch p's models list: the
 * first enabled one whose key is resolved (or needs none), else NULL.
 * Thread-safe; the result is borrowed from p.
 */
const struct config_account *catalog_account(const struct config_provider *p);

/*
 * Returns 1 if p serves models to clients: enabled, with at least one
 * usable account (catalog_account() is not NULL). Thread-safe.
 */
int		 catalog_provider_served(const struct config_provider *p);

/*
 * Returns the account whose credentials ping p (fetch its models list):
 * the first usable one (as catalog_account()) with no account-wide
 * backoff running at now (wall clock ms) in account_backoffs and no
 * account_overrides row (disabled by the operator), read through c;
 * when every usable account backs off or is disabled, catalog_account(p),
 * since the ping still tells about the provider. NULL if p has no usable
 * account. The result is borrowed from p.
 */
const struct config_account *catalog_ping_account(struct catalog_db *c,
		    const struct config_provider *p, int64_t now);

/*
 * Finds the providers without a catalog: missing (cfg->nproviders
 * entries, the caller's) gets 1 for each provider that serves clients
 * (catalog_provider_served()) yet has no model at all (no static model,
 * no model_catalog row), else 0; *n receives how many. For /v1/readyz.
 * QP_EDB on a database error.
 */
enum qp_err	 catalog_missing(struct catalog_db *c, const struct config *cfg, int *missing,
		    int *n);

/*
 * Makes a fetcher. cancel (may be NULL, borrowed for the fetcher's
 * life) aborts a transfer in progress within about 50 ms once it
 * becomes non-zero. Returns NULL with *err set. One thread at a time.
 */
struct catalog_fetcher *catalog_fetcher_new(const atomic_int *cancel, enum qp_err *err);

/* Frees a fetcher and wipes its buffers. NULL is allowed. */
void		 catalog_fetcher_free(struct catalog_fetcher *f);

/*
 * Fetches p's models list: GET {base_url}{models_path} with account's
 * credentials (Authorization: Bearer KEY; or x-api-key KEY with
 * anthropic-version 2023-06-01 when p's auth is api_key, or default on
 * an Anthropic-only provider; nothing for auth none or no key), through
 * the account's proxy_url if set, no redirects, the connect timeout of
 * p (else [upstream]) and a total timeout over every page of p's
 * first-byte timeout (else [upstream]) capped at CATALOG_FETCH_TIMEOUT_MS, bodies
 * up to CATALOG_BODY_MAX. Anthropic-shaped lists with has_more are
 * followed with after_id up to CATALOG_PAGES_MAX pages. Fills l (zeroed
 * by the caller) and ping. Returns QP_OK when a list was read (ping->ok),
 * QP_EUPSTREAM for a transport error or a non-2xx status, QP_EPARSE or
 * QP_ETOOBIG for a body that is not a models list, QP_ETIMEOUT, QP_EINVAL
 * if p has no models_path, QP_ECLOSED if cancelled. Not thread-safe on f.
 */
enum qp_err	 catalog_fetch(struct catalog_fetcher *f, const struct config *cfg,
		    const struct config_provider *p, const struct config_account *account,
		    struct catalog_list *l, struct catalog_ping *ping);

/*
 * Refreshes p's upstream models: fetches its list with catalog_ping_account(),
 * writes a provider_pings row and, when a non-empty list was read,
 * replaces p's upstream models (a failed or empty fetch keeps the last
 * good catalog; an empty list is recorded as a failed ping "empty models
 * list"). ping (may be NULL) receives what was recorded. Returns QP_OK
 * whether or not the fetch succeeded, QP_ENOTFOUND when p is disabled,
 * has no models_path or no usable account (nothing done), QP_ECLOSED if
 * cancelled (nothing recorded), QP_EDB on a database error.
 */
enum qp_err	 catalog_refresh_provider(struct catalog_db *c, struct catalog_fetcher *f,
		    const struct config *cfg, const struct config_provider *p,
		    struct catalog_ping *ping);

/*
 * Refreshes the whole catalog: stores the static models, then for every
 * provider runs catalog_refresh_provider(). fetch = 0 stores the static
 * models only. rep may be NULL. Returns QP_EDB on a database error,
 * QP_ECLOSED when the fetcher was cancelled (nothing is recorded for
 * that provider); fetch failures are counted in rep and the pings, not
 * returned.
 */
enum qp_err	 catalog_refresh(struct catalog_db *c, struct catalog_fetcher *f,
		    const struct config *cfg, int fetch, struct catalog_report *rep);

/*
 * Builds the GET /v1/models body {"object":"list","data":[...]} from n
 * catalog rows plus the static models of cfg: only providers for which
 * catalog_provider_served() holds. Each entry is {"id","object":"model",
 * "created" (first seen, epoch seconds; now for a static model not yet
 * stored),"owned_by","name"[,"context_length"]} and a "quotapool" object
 * [with "max_context_tokens", "max_output_tokens"]: the limits of
 * ctxlimit_effective() from the row and the model's [model_overrides],
 * where known (collapsed: the smallest over its providers). With [models]
 * collapse_models, one entry per model id, owned_by its provider of
 * highest routing_priority (ties: file order), quotapool.providers in
 * that order; otherwise one entry per (model, provider) with id
 * "<model>/<provider>". Each [aliases] pattern that is not such an id
 * is listed too (alias_models_add()). Sorted by id. Returns NULL on out of memory
 * (caller frees with cJSON_Delete()). Thread-safe.
 */
cJSON		*catalog_models_build(const struct config *cfg, const struct catalog_row *rows,
		    int n, int64_t now);

/*
 * Reads the catalog through c and builds the GET /v1/models body with
 * catalog_models_build(). Returns NULL with *err set (QP_EDB, QP_ENOMEM).
 */
cJSON		*catalog_models_json(struct catalog_db *c, const struct config *cfg,
		    int64_t now, enum qp_err *err);

/*
 * Counts the models served to clients (rows of served providers plus
 * static models, each (model, provider) once) into *n: zero means no
 * usable model catalog. QP_EDB on a database error.
 */
enum qp_err	 catalog_count(struct catalog_db *c, const struct config *cfg, int *n);

#endif /* QP_CATALOG_H */
