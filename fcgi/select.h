/* select.h: choosing the account for one upstream attempt, and whether a provider serves a model. */
#ifndef QP_SELECT_H
#define QP_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "config.h"
#include "ctxlimit.h"
#include "err.h"

/* Largest detail_json of one decision; longer account lists are cut and marked truncated. */
#define SELECT_DETAIL_MAX	(256 * 1024)
/* The usage of past hours is read again at least this often (ms). */
#define SELECT_USAGE_REFRESH_MS	60000

/* How a choice ended. */
enum select_status {
	SELECT_OK,		/* an account was chosen */
	SELECT_NO_MODEL,	/* no enabled provider serves the model (404) */
	SELECT_WRONG_PROTOCOL,	/* served only over protocols the client cannot reach (400) */
	SELECT_DISABLED,	/* every account that could serve it is disabled or lacks credentials (503) */
	SELECT_BACKOFF,		/* the rest are in rate-limit, quota, transient or circuit backoff (429) */
	SELECT_AUTH,		/* the rest are quarantined after auth failures (503) */
	SELECT_EXHAUSTED,	/* every account that could serve it was tried already */
	SELECT_TOO_LARGE,	/* the request is clearly over the context limits of every
				   provider that serves the model (400) */
	SELECT__MAX
};

/* Why an account is, or is not, eligible (recorded in detail_json). */
enum select_reason {
	SELECT_REASON_ELIGIBLE,		/* "eligible" */
	SELECT_REASON_PROVIDER_DISABLED, /* "provider_disabled" */
	SELECT_REASON_DISABLED,		/* "disabled": the account itself, in the configuration */
	SELECT_REASON_OPERATOR_DISABLED, /* "operator_disabled": by quotapool-admin accounts
					   disable (an account_overrides row) */
	SELECT_REASON_NO_CREDENTIALS,	/* "no_credentials": its api_key_env was not set */
	SELECT_REASON_NO_MODEL,		/* "no_model": its provider does not serve the model */
	SELECT_REASON_WRONG_PROTOCOL,	/* "wrong_protocol": not over the client's protocol */
	SELECT_REASON_ALREADY_TRIED,	/* "already_tried": by this request */
	SELECT_REASON_BACKOFF,		/* "backoff": rate_limited, quota_exceeded, transient,
					   circuit_open or model_unavailable, of the account
					   or of the model */
	SELECT_REASON_AUTH_QUARANTINE,	/* "auth_quarantine": after an auth failure */
	SELECT_REASON_HARD_CAP,		/* "hard_cap": at a limit of a window, hard_cap set */
	SELECT_REASON_CONTEXT,		/* "context_limit": the request is clearly over the
					   model's limits at its provider (ctxlimit.h) */
	SELECT_REASON_EXHAUSTED_BY_HEADERS, /* "exhausted_by_headers": an upstream answer said
					   0 remaining (account_ratelimits), until its reset */
	SELECT_REASON__MAX
};

/* One choice to make. Borrowed pointers, read during the call only. */
struct select_query {
	const char		*model;		/* base model id (provider suffix stripped) */
	const char		*provider;	/* pinned provider id, NULL = any provider */
	unsigned		 protocol;	/* client protocol: one CONFIG_PROTO_* bit */
	unsigned		 via;		/* CONFIG_PROTO_* bits reached by translation, 0 = none */
	const char *const	*tried;		/* names of the accounts this request tried */
	int			 ntried;	/* entries in tried */
	int64_t			 now;		/* ms since the epoch */
	const char		*alias;		/* [aliases] pattern the client's model matched,
						   NULL = none (recorded in detail_json only) */
	const char		*target;	/* the alias's model id being tried, or NULL */
	const struct ctxlimit_need *need; /* what the request needs, NULL = no limit checked */
	int			 any_model;	/* 1: a passthrough (passthrough.h): model is "" and
						   every account of the pinned provider serves
						   it, over every protocol; backoffs and
						   rate-limit rows are the account's own */
};

/* The outcome of one choice. */
struct select_result {
	enum select_status	 status;	/* SELECT_OK or why nothing is eligible */
	const struct config_provider *provider;	/* chosen provider, borrowed from the config; NULL unless OK */
	const struct config_account *account;	/* chosen account, borrowed from the config; NULL unless OK */
	unsigned		 served;	/* CONFIG_PROTO_* bits over which the chosen provider
						   serves the model; 0 unless OK */
	int			 tier;		/* routing_priority of the chosen tier, -1 unless OK */
	int			 candidates;	/* accounts considered */
	int			 eligible;	/* of which not excluded, in any tier */
	double			 pressure;	/* chosen account's quota pressure (0 = no limits) */
	int64_t			 inflight;	/* chosen account's live reservations */
	int64_t			 last_used;	/* chosen account's latest attempt start, 0 = never */
	int64_t			 retry_at;	/* BACKOFF, AUTH: earliest end of an exclusion (ms);
						   EXHAUSTED: earliest end of a backoff of any account
						   that serves the model, tried ones included; 0 = none */
	const char		*model;		/* the query's model (borrowed from it) */
	int64_t			 decided_at;	/* the query's now */
	const char		*detail_json;	/* the decision explained (format below); borrowed
						   from the selector, valid until its next call */
	size_t			 detail_len;	/* strlen(detail_json) */
	struct ctxlimit		 limit;		/* OK: the model's limits at the chosen provider
						   (a translator's max_output); TOO_LARGE: those of
						   the provider with the largest context window
						   among those serving it; known only when q->need
						   is given */
};

/*
 * detail_json, one per attempt (so kept small):
 * {"model":M,"pinned":P|null,"protocol":"openai"|"anthropic","tried":N,
 *  ["alias":PATTERN,"target":ID,]		(a model routed through [aliases])
 *  "tier":T|null,"chosen":ACCOUNT|null,"accounts":[
 *   {"account":A,"provider":P,"reason":R		(select_reason_name())
 *    [,"backoff":B,"scope":S,"until":T]	(backoff, auth_quarantine: failover reason,
 *						 "account" or "model" (of M only), end ms)
 *    [,"since":T]				(operator_disabled: when, ms)
 *    [,"until":T]				(exhausted_by_headers: the reset, ms)
 *    [,"window":"5h"|"week"|"month","until":T]	(hard_cap: the window at its limit,
 *						 and when it goes under it as hours leave)
 *    [,"tier":N]				(eligible: its routing_priority)
 *    [,"translated":true]			(eligible only through q->via)
 *    [,"context":C,"input_limit":I,"need":[IN,OUT]]	(context_limit: the limits, 0 =
 *						 unknown, and the estimate of q->need)
 *    [,"score":[pressure,inflight,last_used[,p5h,p7d,p30d]]]}, ...]	(the chosen tier;
 *						 window pressures when it has limits)
 *  [,"truncated":true]}			(cut at SELECT_DETAIL_MAX)
 * Accounts outside a pinned provider are not listed.
 */

/* A selector: one connection's statements and scratch space; one per worker thread. */
struct select_db;

/* Returns the name of a status ("ok", "no_model", ...). */
const char	*select_status_name(enum select_status st);

/*
 * Returns the HTTP status a data-plane handler answers with when st
 * leaves no account: 404 no model, 400 wrong protocol, 429 backoff, 503
 * disabled or auth, 502 exhausted (when no upstream answer is left to
 * relay); 200 for SELECT_OK.
 */
int		 select_status_http(enum select_status st);

/* Returns the name of a reason ("eligible", "backoff", ...). */
const char	*select_reason_name(enum select_reason r);

/* Returns "openai", "anthropic" or "responses" for a CONFIG_PROTO_* bit, "" otherwise. */
const char	*select_protocol_name(unsigned proto);

/*
 * Prepares the statements on db (which must be migrated) for the
 * configuration cfg, which must outlive the selector or its next
 * select_bind() (as generation 0). Returns NULL with
 * *err set and a reason in errbuf. Free with select_free() before
 * closing db. Not thread-safe: one selector per thread.
 */
struct select_db *select_new(sqlite3 *db, const struct config *cfg, enum qp_err *err,
		    char *errbuf, size_t errlen);

/*
 * Makes s choose under cfg, of generation gen (liveconf.h), from its
 * next call on: nothing happens when s is bound to that pointer and
 * generation already; otherwise its list of accounts is made again from
 * cfg, and the usage it had read is read again at the next choice. cfg
 * must outlive every later call on s until the next select_bind(); the
 * pointer is never read again after that (a freed configuration may be
 * left behind). QP_ENOMEM leaves s bound to nothing: its choices fail
 * with QP_ENOMEM until a select_bind() succeeds. Not thread-safe, like
 * every call on s.
 */
enum qp_err	 select_bind(struct select_db *s, const struct config *cfg, uint64_t gen);

/* Frees a selector. NULL is allowed. */
void		 select_free(struct select_db *s);

/*
 * Chooses the account for one attempt. Candidates are the accounts of
 * every provider (or of the pinned one); each is excluded, in this
 * order, when its provider is disabled, it is disabled in the
 * configuration, the operator disabled it (account_overrides, read at
 * each call, so it holds at once in every process), its key variable
 * was unset, its provider does not serve the model (model_catalog row or
 * static `models`), over neither q->protocol nor q->via (provider
 * protocols, catalog row protocol, else the model override's; a model
 * served over "openai" is served over "responses" too where the provider
 * declares it), q->need is clearly over the model's limits there
 * (ctxlimit_effective() of the catalog row's and the override's,
 * ctxlimit_exceeds()), it was tried already, it is auth-quarantined, or
 * it is in backoff (account_backoffs rows not yet over: the account's
 * own, or its row for q->model; a backoff for another model does not
 * count), or an upstream answer's rate-limit headers said 0 remaining
 * with a reset still ahead (account_ratelimits, its own row or
 * q->model's; counted as backing off for the status and retry_at), or
 * it has hard_cap and its usage (as for the pressure below,
 * reservations included) is at a limit of a window (until it goes under
 * it as hours leave the window: such accounts count as backing off for
 * the status and retry_at). Among the rest, the highest routing_priority
 * tier wins; inside it an account whose provider serves the model over
 * q->protocol comes before one reached only through q->via
 * (translation), then the lowest quota pressure (the largest, over the
 * 5-hour, 7-day and 30-day windows and over the limits that are set, of
 * spend + offset, requests, and tokens (input + output + cache read +
 * cache write) over the limit, from the hourly stats_requests rows
 * (bucket_s 3600, kept by accounting's final hook) since the hour
 * holding the window's start, plus live reservations; and at least the
 * share used, 1 - remaining / limit, of any count a rate-limit header
 * reported with a reset ahead), then the fewest
 * live reservations of any process, then the least recently started
 * attempt, then configuration order. Fills res (its detail_json stays
 * valid until the next call on s); when nothing is eligible res->status
 * says why. Read-only on the database: the decision is recorded with the
 * attempt by accounting. QP_EDB on a database error.
 */
enum qp_err	 select_choose(struct select_db *s, const struct select_query *q,
		    struct select_result *res);

/*
 * Tells whether model is known: *protocols receives the CONFIG_PROTO_*
 * bits over which provider (NULL = any enabled provider) serves it, 0 if
 * none does (unknown or disabled provider included). For /v1/models, the
 * 404 and 400 answers, and unsuffixed ids. QP_EDB on a database error.
 */
enum qp_err	 select_model_protocols(struct select_db *s, const char *model,
		    const char *provider, unsigned *protocols);

#endif /* QP_SELECT_H */
