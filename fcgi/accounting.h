/* accounting.h: the life of a request in SQLite: rows, attempts, reservations, recovery, retention. */
#ifndef QP_ACCOUNTING_H
#define QP_ACCOUNTING_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "failover.h"
#include "select.h"

/* Text length of a request uid (UUIDv4, lowercase, with dashes). */
#define ACCOUNTING_UID_LEN		36
/* No request stays pending longer than this, even in a live process (ms). */
#define ACCOUNTING_PENDING_MAX_MS	(6LL * 3600 * 1000)
/* A process whose heartbeat is older than this is taken for dead (ms). */
#define ACCOUNTING_HEARTBEAT_STALE_MS	(2LL * 60 * 1000)
/* A reservation is ignored after this long even if never released (ms). */
#define ACCOUNTING_RESERVATION_TTL_MS	ACCOUNTING_PENDING_MAX_MS
/* Rows finalized or deleted per write transaction by maintenance. */
#define ACCOUNTING_BATCH		500
/* Longest error class kept from an attempt. */
#define ACCOUNTING_CLASS_MAX		FAILOVER_CLASS_MAX

/* Status of a request row (requests.status). */
enum accounting_status {
	ACCOUNTING_PENDING,		/* "pending": being served */
	ACCOUNTING_COMPLETED,		/* "completed": answered with success */
	ACCOUNTING_CLIENT_ERROR,	/* "client_error": the client's fault, relayed */
	ACCOUNTING_ERROR,		/* "error": upstream or local failure */
	ACCOUNTING_CLIENT_DISCONNECTED,	/* "client_disconnected": the client went away */
	ACCOUNTING_INTERRUPTED,		/* "interrupted": closed by crash recovery or the stale finalizer */
	ACCOUNTING_REJECTED,		/* "rejected": refused before any attempt (no account, bad model) */
	ACCOUNTING__MAX
};

/*
 * One client request as accounting tracks it, owned by the worker that
 * serves it (request-scoped). accounting_request_init() fills the uid
 * and the kept fields; the caller then sets the described fields before
 * the first write. Borrowed strings must live until the request is
 * finalized.
 */
struct accounting_request {
	char		 uid[ACCOUNTING_UID_LEN + 1]; /* public id: x-proxy-request-id */
	int64_t		 process_id;	/* processes row of this process, 0 = none */
	int64_t		 client_key_id;	/* client_keys row, 0 = none */
	unsigned	 protocol;	/* client protocol: CONFIG_PROTO_* bit */
	const char	*endpoint;	/* route, e.g. "/v1/chat/completions" (borrowed) */
	const char	*model;		/* as the client sent it, NULL = unknown (borrowed) */
	const char	*model_base;	/* sent upstream, NULL = unknown (borrowed) */
	int		 streamed;	/* 1 if the client asked for a stream */
	const char	*client_ip;	/* client address, NULL = unknown (borrowed) */
	const char	*alias;		/* [aliases] pattern the model matched, NULL = none
					   (borrowed) */
	const char	*alias_target;	/* the alias's model id tried now, NULL = none
					   (borrowed; read again at each attempt's start) */
	const char	*user_agent;	/* User-Agent as kept (useragent_clean()), NULL = none
					   (borrowed) */
	const char	*client_family;	/* useragent_family_name() of the client, NULL =
					   "other" (borrowed) */
	const char	*method;	/* a passthrough's HTTP method, NULL = not one (borrowed) */
	const char	*path;		/* a passthrough's upstream path, without the query,
					   NULL = not one (borrowed) */
	int64_t		 started_at;	/* ms since the epoch */
	int64_t		 bytes_in;	/* request body bytes (read again when finalized) */
	int64_t		 est_tokens;	/* tokens each attempt's reservation holds */
	int64_t		 est_microdollars; /* spend each attempt's reservation holds */
	/* Kept by accounting; read them, do not write them. */
	int64_t		 id;		/* requests row, 0 until written */
	int		 attempts;	/* attempts started */
	int		 attempt_open;	/* 1 while attempt number `attempts` is open */
	int64_t		 reservation_id; /* its reservation, 0 = none */
	int64_t		 attempt_started_at; /* when the open or last attempt started */
	const char	*provider_id;	/* provider of the last attempt (borrowed from the config) */
	const char	*account_name;	/* account of the last attempt (borrowed from the config) */
	enum failover_category last_category; /* category of the last failed attempt */
	char		 last_class[ACCOUNTING_CLASS_MAX + 1]; /* its error class, "" = none */
};

/* How one attempt ended, besides its classification. */
struct accounting_attempt {
	int64_t		 ended_at;	/* ms since the epoch */
	int64_t		 connect_ms;	/* TCP/TLS connect time, -1 = unknown */
	int64_t		 first_byte_ms;	/* attempt start to first response byte, -1 = unknown */
	int64_t		 bytes_sent;	/* request bytes sent upstream */
	int64_t		 bytes_received; /* response bytes received */
	const char	*upstream_request_id; /* provider's request id, NULL = none (borrowed) */
};

/* The final numbers of a request (tokens and cost as computed by cost.h). */
struct accounting_final {
	enum accounting_status status;	/* anything but ACCOUNTING_PENDING */
	int		 status_code;	/* HTTP status sent to the client */
	const char	*error_class;	/* NULL = the last failed attempt's, if not completed */
	const char	*retry_category; /* NULL = the last failed attempt's */
	const char	*finish_reason;	/* upstream finish/stop reason, NULL = none */
	int		 stream_complete; /* 1 [DONE]/message_stop seen, 0 not, -1 not a stream */
	int64_t		 completed_at;	/* ms since the epoch */
	int64_t		 connect_ms;	/* of the final attempt, -1 = unknown */
	int64_t		 first_byte_ms;	/* request start to first upstream byte, -1 = unknown */
	int64_t		 ttft_ms;	/* request start to first token relayed, -1 = none */
	int64_t		 total_ms;	/* -1 = completed_at - started_at */
	int64_t		 overhead_us;	/* time in quotapool before dispatch, -1 = unknown */
	int64_t		 input_tokens;	/* uncached prompt tokens */
	int64_t		 output_tokens;	/* generated tokens */
	int64_t		 cache_read_tokens; /* prompt tokens read from cache */
	int64_t		 cache_write_tokens; /* prompt tokens written to cache */
	int64_t		 reasoning_tokens; /* reasoning tokens (part of output) */
	int64_t		 cost_microdollars; /* cost of the request */
	const char	*cost_exactness; /* cost_exactness_name(), NULL = "unknown" */
	const char	*price_source;	/* cost_source_name(), NULL = "none" */
	const char	*price_ref;	/* the price entry used, NULL or "" = none (borrowed) */
	int64_t		 bytes_out;	/* response bytes sent to the client */
	int64_t		 upstream_bytes; /* response bytes received from upstream */
	const char	*translation;	/* xlate_dir_name() of the final attempt, NULL = none */
	int64_t		 translation_warnings; /* what that translation could not express */
};

/* What one run of the stale-request finalizer did. */
struct accounting_stale {
	int64_t		 requests;	/* pending requests made interrupted */
	int64_t		 dead_process;	/* of which left by a stopped or silent process */
	int64_t		 too_old;	/* of which pending longer than ACCOUNTING_PENDING_MAX_MS */
	int64_t		 attempts;	/* open attempts closed */
	int64_t		 reservations;	/* reservations deleted (theirs and expired ones) */
};

/* How long each kind of row is kept; 0 = forever. */
struct accounting_retention {
	int64_t		 requests_ms;	/* requests, with their attempts and decisions (the
					   cutoff goes back to a UTC midnight) */
	int64_t		 events_ms;	/* operational_events */
	int		 batch;		/* rows per transaction, 0 = ACCOUNTING_BATCH */
};

/* What one retention run deleted. */
struct accounting_purged {
	int64_t		 cutoff;	/* the requests' cutoff used (a UTC midnight), 0 = none */
	int64_t		 events_cutoff;	/* the events' cutoff used, 0 = none */
	int64_t		 requests;	/* request rows (their attempts and decisions went with them) */
	int64_t		 attempts;	/* attempts before the cutoff of requests that stay */
	int64_t		 decisions;	/* decisions before the cutoff of requests that stay */
	int64_t		 events;	/* operational_events rows */
	int		 batches;	/* write transactions used */
};

/* Prepared statements of one connection; owned by one thread. */
struct accounting_db;

/* Returns the stored name of a status ("pending", "completed", ...). */
const char	*accounting_status_name(enum accounting_status st);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with accounting_free()
 * before closing db. Not thread-safe: one object per worker thread.
 */
struct accounting_db *accounting_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees an accounting object. NULL is allowed. */
void		 accounting_free(struct accounting_db *acc);

/*
 * Clears req and gives it a random UUIDv4 uid, process_id and
 * started_at; nothing is written yet. QP_ECRYPTO if no randomness.
 * Thread-safe.
 */
enum qp_err	 accounting_request_init(struct accounting_request *req, int64_t process_id,
		    int64_t now);

/*
 * Starts attempt req->attempts + 1 on the account chosen by sel (status
 * SELECT_OK) in one write transaction: on the first attempt the request
 * row (pending), then the attempt row, a reservation (req->est_* for
 * ACCOUNTING_RESERVATION_TTL_MS) and the routing decision; a later
 * attempt updates the row's provider, account, model_base and
 * alias_target (an alias's next model may serve it). req is
 * updated only if everything was written. QP_EINVAL if an attempt is
 * open or sel chose nothing; QP_EDB on a database error.
 */
enum qp_err	 accounting_attempt_start(struct accounting_db *acc, struct accounting_request *req,
		    const struct select_result *sel, int64_t now);

/*
 * Ends the open attempt in one write transaction: the attempt row gets
 * its outcome, category, class and status from v and its numbers from
 * att, the reservation is deleted, the backoff of the account (or of
 * its req->model_base, per the verdict's scope) is updated per v
 * (failover_apply(); skipped when routing is NULL), and when fin is
 * not NULL the request is finalized with fin and given to the final
 * hook. A request already finalized elsewhere (stale finalizer) is left
 * as it is. QP_EINVAL if no attempt is open.
 */
enum qp_err	 accounting_attempt_end(struct accounting_db *acc, struct accounting_request *req,
		    const struct accounting_attempt *att, const struct failover_verdict *v,
		    const struct config_routing *routing, const struct accounting_final *fin);

/*
 * Finalizes a request that has no open attempt, in one write
 * transaction: writes its row first if it has none (a request refused
 * before any attempt), records sel as the decision that found no
 * account when sel is not NULL, finalizes it with fin and gives it to
 * the final hook. When sel found no provider serving the model
 * (SELECT_NO_MODEL), the row's model and model_base and the decision's
 * model keep at most QP_UNKNOWN_MODEL_KEEP bytes of the ids (bounds.h),
 * cut at a UTF-8 character boundary. QP_EINVAL if an attempt is open.
 */
enum qp_err	 accounting_finish(struct accounting_db *acc, struct accounting_request *req,
		    const struct select_result *sel, const struct accounting_final *fin);

/*
 * Sets a function called inside the finalizing write transaction each
 * time a request row got its final status here (attempt end, finish,
 * stale finalizer), with the request's row id: for rollups kept by other
 * modules (stats_rollup_request()). Account selection reads each
 * account's usage from those rollups (hourly stats_requests rows), so a
 * process that serves requests must set it to stats_rollup_hook() or an
 * equivalent. Its return value is ignored, so it must leave the
 * transaction usable when it fails (use a savepoint). fn NULL removes
 * it. arg is passed through and must outlive acc.
 */
void		 accounting_set_final_hook(struct accounting_db *acc,
		    int (*fn)(void *arg, int64_t request_id), void *arg);

/* Fills fin with a status and "unknown" everything else (-1 times, 0 counts, no strings). */
void		 accounting_final_init(struct accounting_final *fin, enum accounting_status st,
		    int status_code, int64_t completed_at);

/*
 * Closes what nobody will close: pending requests of a stopped process,
 * of a process whose heartbeat is older than
 * ACCOUNTING_HEARTBEAT_STALE_MS, of no known process, of self when
 * at_start, and any pending longer than ACCOUNTING_PENDING_MAX_MS become
 * interrupted (completed_at, total_ms, error_class), their open attempts
 * are closed as interrupted, their reservations deleted and each is
 * given to the final hook; expired reservations are deleted too. Works in
 * batches of ACCOUNTING_BATCH rows per transaction and, when anything
 * was done, writes one operational_events row ("crash_recovery" when
 * at_start, else "stale_finalized") with the counts. self is this
 * process's row (0 = none). report may be NULL.
 */
enum qp_err	 accounting_finalize_stale(struct accounting_db *acc, int64_t self, int at_start,
		    int64_t now, struct accounting_stale *report);

/*
 * Writes one operational_events row: type (e.g. "config_reloaded"),
 * details a JSON object (never a secret), at now. Its own savepoint
 * (db_begin_write()). QP_EDB on a database error.
 */
enum qp_err	 accounting_event(struct accounting_db *acc, const char *type,
		    const char *details, int64_t now);

/*
 * Fills r from the configuration: [retention] requests_days and
 * events_days. (provider_pings are pruned by the maintenance thread's own
 * task, after [models] ping_retain_days.)
 */
void		 accounting_retention_from_config(const struct config *cfg,
		    struct accounting_retention *r);

/* Returns the UTC midnight at or before now - older_than_ms: the requests' cutoff. */
int64_t		 accounting_purge_cutoff(int64_t now, int64_t older_than_ms);

/*
 * Deletes rows older than r allows, in batches of r->batch rows per
 * write transaction until none is left. With C the requests' cutoff
 * (accounting_purge_cutoff()): finalized requests that ended before C
 * (their attempts, decisions and reservations through cascades), then
 * of the requests that stay (begun before C and ended after it, or still
 * pending) the attempts that ended and the decisions made before C; and
 * operational events older than r->events_ms. Each row goes by the time
 * that places it in its stats_* rollup bucket, and C is a UTC midnight,
 * so once a run completes every hour and day bucket holds either all its
 * rows or none: the rollups, which are not touched, stay equal to the
 * rows wherever rows remain, and keep the totals of what was deleted.
 * out may be NULL.
 */
enum qp_err	 accounting_purge(struct accounting_db *acc, const struct accounting_retention *r,
		    int64_t now, struct accounting_purged *out);

#endif /* QP_ACCOUNTING_H */
