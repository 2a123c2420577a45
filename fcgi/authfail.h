/* authfail.h: failed key checks and logins: counted, logged sparingly, throttled per address. */
#ifndef QP_AUTHFAIL_H
#define QP_AUTHFAIL_H

#include <stdint.h>

/* What failed. */
enum authfail_kind {
	AUTHFAIL_KEY,		/* a presented client key was wrong (any route) */
	AUTHFAIL_LOGIN,		/* a dashboard login was refused */
	AUTHFAIL__MAX
};

/* Longest address kept; longer ones are cut (REMOTE_ADDR is an IP literal). */
#define AUTHFAIL_ADDR_MAX	63

/* Counters since authfail_new(). */
struct authfail_counts {
	int64_t		 failures[AUTHFAIL__MAX];	/* by kind */
	int64_t		 throttled;	/* checks refused by authfail_throttled() */
};

/*
 * The failures of one process, shared by its threads: thread-safe, with
 * its own lock. Several processes each keep their own (see docs/security.md).
 */
struct authfail;

/*
 * Makes the state: an address with max failures in its current window of
 * QP_AUTHFAIL_WINDOW_MS (a window starts at the first failure after the
 * previous one ended) is throttled until the window ends; max 0 = never.
 * Memory for QP_AUTHFAIL_ADDRS addresses is taken at once. NULL if out of
 * memory. Free with authfail_free().
 */
struct authfail	*authfail_new(int max);

/* Frees it. NULL is allowed. No thread may still use it. */
void		 authfail_free(struct authfail *af);

/*
 * Returns 1 if addr is throttled at now_ms (a monotonic clock in ms): the
 * caller refuses with 429 without checking the credential, and
 * *retry_after_s gets the seconds until the window ends (at least 1).
 * Counts the refusal. 0 if not throttled. addr "" is one address like any
 * other (the web server gave none). Thread-safe.
 */
int		 authfail_throttled(struct authfail *af, const char *addr, int64_t now_ms,
		    int *retry_after_s);

/*
 * Records a failure of kind from addr at now_ms. Writes at most one log
 * line per address per QP_AUTHFAIL_WINDOW_MS (the address, what failed
 * and how often since its previous line; never the credential), and at
 * most QP_AUTHFAIL_LOG_LINES lines a window over all addresses.
 * Thread-safe.
 */
void		 authfail_record(struct authfail *af, enum authfail_kind kind, const char *addr,
		    int64_t now_ms);

/* Copies the counters. Thread-safe. */
void		 authfail_counts(struct authfail *af, struct authfail_counts *out);

#endif /* QP_AUTHFAIL_H */
