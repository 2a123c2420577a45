/* failover.h: what an upstream outcome means for the account and the request, and persistent backoffs. */
#ifndef QP_FAILOVER_H
#define QP_FAILOVER_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"

/* Bytes of an error body searched for quota or auth wording. */
#define FAILOVER_BODY_SCAN	4096
/* Largest Retry-After accepted, in seconds (larger values are invalid). */
#define FAILOVER_RETRY_AFTER_MAX	(366LL * 86400)
/* Longest error_class text, without the NUL. */
#define FAILOVER_CLASS_MAX	31

/* What happened to one upstream attempt (stored in request_attempts.outcome). */
enum failover_outcome {
	FAILOVER_OUTCOME_OK,		/* the upstream answered with success */
	FAILOVER_OUTCOME_RATE_LIMITED,	/* 429 without quota wording */
	FAILOVER_OUTCOME_QUOTA_EXCEEDED, /* 402, or 429/403 speaking of quota or billing */
	FAILOVER_OUTCOME_AUTH_FAILURE,	/* 401, or 403 not about quota */
	FAILOVER_OUTCOME_TRANSIENT,	/* 5xx, connect, TLS or transport error, timeout */
	FAILOVER_OUTCOME_MODEL_UNAVAILABLE, /* 404 saying the model is not served there */
	FAILOVER_OUTCOME_CLIENT_ERROR,	/* other 4xx: the client's fault, relayed as is */
	FAILOVER_OUTCOME_CLIENT_DISCONNECTED, /* the client went away */
	FAILOVER_OUTCOME_STREAM_ERROR,	/* failed after the response had started */
	FAILOVER_OUTCOME_LOCAL_ERROR,	/* quotapool's own fault (bad URL, out of memory) */
	FAILOVER_OUTCOME_INTERRUPTED,	/* closed by crash recovery, never classified */
	FAILOVER_OUTCOME__MAX
};

/* Retry category (request_attempts.retry_category), EggPool's names. */
enum failover_category {
	FAILOVER_CAT_NONE,		/* success: stored as NULL */
	FAILOVER_CAT_AUTH_FAILURE,	/* credentials refused */
	FAILOVER_CAT_QUOTA_EXCEEDED,	/* rate limit or quota */
	FAILOVER_CAT_TRANSIENT,		/* server or network trouble */
	FAILOVER_CAT_BAD_REQUEST,	/* the client's request was refused */
	FAILOVER_CAT_NEVER,		/* not retryable for another reason */
	FAILOVER_CAT_MODEL_UNAVAILABLE,	/* the account does not serve the model */
	FAILOVER_CAT__MAX
};

/* What the outcome does to the account's row in account_backoffs. */
enum failover_effect {
	FAILOVER_EFFECT_NONE,		/* nothing changes */
	FAILOVER_EFFECT_CLEAR,		/* success: the row is deleted */
	FAILOVER_EFFECT_RATE_LIMIT,	/* backoff: Retry-After, else exponential */
	FAILOVER_EFFECT_QUOTA,		/* backoff: quota_backoff_s or a later Retry-After */
	FAILOVER_EFFECT_AUTH,		/* quarantine: auth_quarantine_s */
	FAILOVER_EFFECT_TRANSIENT,	/* short backoff; the circuit may open */
	FAILOVER_EFFECT_MODEL,		/* backoff: model_backoff_s (always of one model) */
	FAILOVER_EFFECT__MAX
};

/* Reason of an account_backoffs row. */
enum failover_reason {
	FAILOVER_REASON_RATE_LIMITED,	/* "rate_limited" */
	FAILOVER_REASON_QUOTA_EXCEEDED,	/* "quota_exceeded" */
	FAILOVER_REASON_AUTH_FAILURE,	/* "auth_failure": quarantine */
	FAILOVER_REASON_TRANSIENT,	/* "transient" */
	FAILOVER_REASON_CIRCUIT_OPEN,	/* "circuit_open": too many transient failures in a row */
	FAILOVER_REASON_MODEL_UNAVAILABLE, /* "model_unavailable": the upstream does not serve it */
	FAILOVER_REASON_HEALTH_CHECK,	/* "health_check": the provider's check failed (healthcheck.h) */
	FAILOVER_REASON__MAX
};

/* What a backoff covers (account_backoffs.scope). */
enum failover_scope {
	FAILOVER_SCOPE_ACCOUNT,		/* "account": every model of the account */
	FAILOVER_SCOPE_MODEL,		/* "model": the (account, model) pair only */
	FAILOVER_SCOPE__MAX
};

/* Everything known about how one upstream attempt ended. Borrowed pointers. */
struct failover_input {
	int		 status;	/* upstream HTTP status, 0 = no response */
	int		 curl_code;	/* CURLcode of the transfer, 0 = CURLE_OK */
	int		 first_byte_timeout; /* 1: our first-byte timer ended the attempt */
	int		 client_gone;	/* 1: the client went away (wins over all else) */
	int		 handed_off;	/* 1: the response had started towards the client */
	int		 stream_failed;	/* 1: after handoff the stream broke (EOF, error event, idle) */
	const char	*retry_after;	/* Retry-After header value (untrusted), NULL = none */
	size_t		 retry_after_len; /* its length */
	const char	*body;		/* start of the error body (untrusted), NULL = none */
	size_t		 body_len;	/* its length; only FAILOVER_BODY_SCAN bytes are read */
	int64_t		 now;		/* ms since the epoch, to resolve an HTTP-date */
};

/* The classification of one attempt. Plain data. */
struct failover_verdict {
	enum failover_outcome	 outcome;	/* what happened */
	enum failover_category	 category;	/* stored retry category */
	enum failover_effect	 effect;	/* what it does to the account */
	enum failover_scope	 scope;		/* what the effect covers */
	int			 retry;		/* 1: the request may go to another account */
	int			 status;	/* upstream HTTP status, 0 = none */
	int64_t			 retry_after_s;	/* valid Retry-After in seconds, -1 = none */
	char			 error_class[FAILOVER_CLASS_MAX + 1]; /* "" when ok, e.g. "http_429", "connect_error" */
};

/* A row of account_backoffs: an account's, or one of its models'. Plain data. */
struct failover_backoff {
	enum failover_reason	 reason;	/* why */
	enum failover_scope	 scope;		/* the whole account, or one model */
	int64_t			 until;		/* not eligible before this time (ms) */
	int			 consecutive;	/* failures of this kind since the last success */
	int			 status_code;	/* upstream status of the last failure, 0 = none */
	char			 error_class[FAILOVER_CLASS_MAX + 1]; /* cause of the last failure */
};

/* Prepared statements of one connection; owned by one thread. */
struct failover_db;

/* Returns the stored name of an outcome ("ok", "rate_limited", ...). */
const char	*failover_outcome_name(enum failover_outcome o);

/* Returns the stored name of a category, or NULL for FAILOVER_CAT_NONE. */
const char	*failover_category_name(enum failover_category c);

/* Returns the stored name of a backoff reason. */
const char	*failover_reason_name(enum failover_reason r);

/* Returns the reason whose stored name is name, or FAILOVER_REASON__MAX. */
enum failover_reason failover_reason_from_name(const char *name);

/* Returns the stored name of a scope ("account", "model"). */
const char	*failover_scope_name(enum failover_scope s);

/*
 * Parses a Retry-After value (buf, len; untrusted): delay-seconds, or an
 * HTTP-date (IMF-fixdate, RFC 850 or asctime form) resolved against now
 * (ms; a past date gives 0). Surrounding blanks are allowed, a fraction
 * of a second rounds up. Returns the delay in seconds, or -1 if the value
 * is invalid, negative or above FAILOVER_RETRY_AFTER_MAX. Pure function:
 * thread-safe.
 */
int64_t		 failover_retry_after(const char *buf, size_t len, int64_t now);

/*
 * Classifies one attempt into v: a vanished client has no effect and no
 * retry; before handoff, a first-byte timeout or a transport error
 * (connect, DNS, TLS, send/receive, timeout) is transient, an error of
 * quotapool's own (bad URL, out of memory, callback abort) is a local
 * error; 2xx is ok (clears the account and the model); 429 is a rate
 * limit and 402 a quota, 429 and 403 whose body speaks of quota or
 * billing are quota (403 only without auth wording), 401 and other 403
 * are auth failures; a 4xx or 5xx whose body says the context length
 * was exceeded is the client's (class "context_length_exceeded"), tried
 * on another account but with no effect, since another deployment of
 * the model may take it and one client's prompt must not back off a
 * model for everyone; a 404 whose body says the model is not found is
 * model_unavailable; other 4xx are the client's, 5xx transient and any
 * other status transient. 5xx, model_unavailable and context length
 * have FAILOVER_SCOPE_MODEL; the rest (rate limit, quota, auth,
 * transport) FAILOVER_SCOPE_ACCOUNT. After handoff, a broken stream or
 * transport error is a stream error with no effect and no retry. Pure
 * function: thread-safe.
 */
void		 failover_classify(const struct failover_input *in, struct failover_verdict *v);

/*
 * Overrides v for an attempt that had no token to send (err from
 * server_account_token()): QP_EAUTH, a failed refresh, quarantines the
 * account (token_refresh_failed); anything else only backs it off
 * (token_unavailable). Either way another account may be tried.
 */
void		 failover_token_verdict(struct failover_verdict *v, enum qp_err err);

/*
 * Computes the account's next backoff row from its current one (prev,
 * NULL = no row) after verdict v at time now, with the [routing]
 * settings r. Returns 1 with *next filled when a row is to be written, 0
 * when the row is to be deleted (success) and -1 when nothing changes.
 * Failures of the same kind (transient and circuit_open counting as one)
 * increase consecutive, another kind restarts it at 1. Rate limits wait
 * Retry-After (capped at backoff_max_s) or backoff_base_s doubled per
 * consecutive failure (capped); quota waits quota_backoff_s or a later
 * Retry-After; auth failures are quarantined auth_quarantine_s;
 * transient failures wait transient_backoff_s, and from the
 * circuit_failures-th in a row on the circuit opens for circuit_open_s;
 * model_unavailable waits model_backoff_s. prev must be the row of the
 * verdict's scope (the account's, or the model's); next->scope is
 * v->scope. A row still running with a later end keeps its reason, end
 * and count. Pure function: thread-safe.
 */
int		 failover_next(const struct failover_verdict *v, const struct config_routing *r,
		    const struct failover_backoff *prev, int64_t now, struct failover_backoff *next);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with failover_db_free()
 * before closing db. One object per connection and thread.
 */
struct failover_db *failover_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees statements prepared by failover_db_new(). NULL is allowed. */
void		 failover_db_free(struct failover_db *f);

/*
 * Reads a backoff row into *b, expired or not: account's own row when
 * model is NULL or "", else the row of account for model. QP_ENOTFOUND
 * if there is none.
 */
enum qp_err	 failover_get(struct failover_db *f, const char *account, const char *model,
		    struct failover_backoff *b);

/*
 * Applies verdict v of an attempt of account for model (as sent
 * upstream; NULL or "" = not known, then a model-scoped verdict is
 * applied to the whole account) at time now: reads the row of the
 * verdict's scope, computes the next one with failover_next() and
 * upserts it; a success deletes the account's row and the model's
 * (never other models'). So backoffs survive restarts and are shared by
 * every process. Inside the caller's open transaction if there is one
 * (so it can join the attempt's end), else in a write transaction of its
 * own. If next is not NULL it receives the row written (reason, scope,
 * until, count); *written says whether a row of that scope now exists,
 * may be NULL.
 */
enum qp_err	 failover_apply(struct failover_db *f, const char *account, const char *model,
		    const struct failover_verdict *v, const struct config_routing *r,
		    int64_t now, struct failover_backoff *next, int *written);

#endif /* QP_FAILOVER_H */
