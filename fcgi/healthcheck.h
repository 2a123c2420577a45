/* healthcheck.h: the providers' health checks of their accounts: an HTTP request or a command. */
#ifndef QP_HEALTHCHECK_H
#define QP_HEALTHCHECK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "upstream.h"

/*
 * A provider's `check` runs once per account: the maintenance lease
 * holder does it every check_interval_s (maint.c), `quotapool-admin
 * check` on demand. A failed check writes the account's backoff row
 * with reason health_check, so account selection leaves it out; the
 * next check that passes deletes that row. Every result is one
 * provider_pings row. Details never hold a secret: neither the key,
 * nor the command's output, nor the answer's body.
 */

/* Longest detail text, without the NUL (as a ping's error text). */
#define HEALTHCHECK_DETAIL_MAX	120
/* Bytes of an answer's body, or of a command's standard output, searched. */
#define HEALTHCHECK_READ_MAX	(64 * 1024)
/* PATH of a command's environment. */
#define HEALTHCHECK_PATH	"/usr/local/bin:/usr/bin:/bin"
/* How often a running check looks at its deadline and its cancel flag (ms). */
#define HEALTHCHECK_POLL_MS	50
/* Added to how long a failed check keeps its account out (ms): see healthcheck_hold_ms(). */
#define HEALTHCHECK_HOLD_SLACK_MS 60000

/* The outcome of one check of one account. Plain data. */
struct healthcheck_result {
	int		 ok;		/* 1 if the check passed */
	int64_t		 probed_at;	/* wall clock ms when it started */
	int64_t		 latency_ms;	/* start to end, -1 = it did not run */
	int		 status;	/* http: the answer's status, 0 = no answer */
	int		 exit_code;	/* command: exit status, -1 = none (killed, not started) */
	int		 timed_out;	/* 1 if timeout_s ended it */
	char		 error_class[32]; /* "" when ok; e.g. "check_status", "check_timeout" */
	char		 detail[HEALTHCHECK_DETAIL_MAX + 1]; /* "HTTP 200", "exit 3", ... */
};

/* Runs checks: a transport and scratch space; one thread at a time. */
struct healthcheck_runner;

/* Prepared statements of one connection; one thread at a time. */
struct healthcheck_db;

/*
 * Returns 1 if status passes check c: one of c->expect_status, or any
 * 2xx when that list is empty. Pure function: thread-safe.
 */
int		 healthcheck_status_ok(const struct config_check *c, int status);

/*
 * Returns 1 if buf[0..len) (untrusted, not NUL-terminated) holds the
 * bytes of want; an empty or NULL want is held by anything. Pure
 * function: thread-safe.
 */
int		 healthcheck_holds(const char *buf, size_t len, const char *want);

/*
 * Judges an http check's answer into r (ok, error_class, detail; status
 * set): status (0 = none) and the first len bytes of the body against
 * c. Pure function: thread-safe.
 */
void		 healthcheck_judge_http(const struct config_check *c, int status,
		    const char *body, size_t len, struct healthcheck_result *r);

/*
 * Judges a command check into r (ok, error_class, detail; exit_code
 * set): exit_code (-1 = killed by signal sig, or not started when sig
 * is 0), timed_out, and the first len bytes of its standard output
 * against c. Pure function: thread-safe.
 */
void		 healthcheck_judge_command(const struct config_check *c, int exit_code, int sig,
		    int timed_out, const char *out, size_t len, struct healthcheck_result *r);

/*
 * How long (ms) a failed check of p keeps the account out if no check
 * follows: two check intervals, plus the timeout of a check of every
 * account, plus HEALTHCHECK_HOLD_SLACK_MS. Each failed check renews it;
 * a passing one ends it. Pure function: thread-safe.
 */
int64_t		 healthcheck_hold_ms(const struct config_provider *p);

/*
 * Returns 1 if account a of p is checked: p enabled, a enabled, and a
 * key (or auth none). Thread-safe.
 */
int		 healthcheck_account_wanted(const struct config_provider *p,
		    const struct config_account *a);

/*
 * Writes the header line of the check table ("ID  STATUS  LATENCY_MS
 * DETAIL") into buf. Returns buf. Thread-safe.
 */
const char	*healthcheck_table_header(char *buf, size_t len);

/*
 * Writes one row of the check table into buf: id, status (as given:
 * "ok", "failed", ...), latency in ms (latency_ms < 0: "-") and detail,
 * in the header's columns; a longer id widens its cell. Returns buf.
 * Thread-safe.
 */
const char	*healthcheck_table_row(char *buf, size_t len, const char *id, const char *status,
		    int64_t latency_ms, const char *detail);

/*
 * Makes a runner. sh (borrowed, may be NULL: then an http check fails
 * with "no HTTP transport") carries the http checks; cancel (borrowed,
 * may be NULL) ends a check in progress within HEALTHCHECK_POLL_MS once
 * non-zero. Returns NULL with *err set.
 */
struct healthcheck_runner *healthcheck_runner_new(struct upstream_share *sh,
		    const atomic_int *cancel, enum qp_err *err);

/* Frees a runner and wipes its buffers. NULL is allowed. */
void		 healthcheck_runner_free(struct healthcheck_runner *hr);

/*
 * Runs p's check for account a into r. http: the check's method to
 * base_url + path with a's credentials as p's auth says (the headers of
 * upstream_headers_new()), through a's proxy, with the check's timeout
 * over the whole answer, reading at most HEALTHCHECK_READ_MAX body
 * bytes. command: /bin/sh -c cmd in cfg's directory, in a process group
 * of its own, standard input and error on /dev/null, with only PATH,
 * QUOTAPOOL_PROVIDER, QUOTAPOOL_ACCOUNT, QUOTAPOOL_BASE_URL and
 * QUOTAPOOL_API_KEY (a's key, when it has one) in its environment; at
 * the timeout the whole group is killed (SIGKILL), and once the command
 * ended whatever is left of its group too, so nothing outlives the
 * check. Returns QP_OK when a result was made (passed or not), QP_EINVAL
 * if p has no check, QP_ECLOSED if cancelled (r then says nothing),
 * QP_ENOMEM. Not thread-safe on hr.
 */
enum qp_err	 healthcheck_run(struct healthcheck_runner *hr, const struct config *cfg,
		    const struct config_provider *p, const struct config_account *a,
		    struct healthcheck_result *r);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with healthcheck_db_free()
 * before closing db.
 */
struct healthcheck_db *healthcheck_db_new(sqlite3 *db, enum qp_err *err, char *errbuf,
		    size_t errlen);

/* Frees statements prepared by healthcheck_db_new(). NULL is allowed. */
void		 healthcheck_db_free(struct healthcheck_db *d);

/*
 * Records r of account a of p at now (wall ms), in one write
 * transaction: a provider_pings row (status_code the HTTP status, error
 * "health check: DETAIL" when not ok, no model count), and the
 * account's backoff: a failure writes reason health_check until now +
 * healthcheck_hold_ms(p) (consecutive failures counted), unless another
 * reason's row runs longer; a pass deletes a health_check row (never a
 * row of another reason). *changed (may be NULL) receives 1 when the
 * account's health changed: a failure while it had no health_check
 * row, or a pass that ended one. QP_EDB on a database error (nothing
 * written).
 */
enum qp_err	 healthcheck_record(struct healthcheck_db *d, const struct config_provider *p,
		    const struct config_account *a, const struct healthcheck_result *r,
		    int64_t now, int *changed);

#endif /* QP_HEALTHCHECK_H */
