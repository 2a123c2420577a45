/* refresh.h: access tokens that refresh: the per-process cache, the store in SQLite, and the refresh run once under a lease. */
#ifndef QP_REFRESH_H
#define QP_REFRESH_H

#include <stdint.h>

#include <sqlite3.h>

#include "config.h"
#include "err.h"

/*
 * An account with refresh = { ... } (struct config_refresh) sends the
 * token this module gives. The token, its expiry and a rotated refresh
 * token live in account_tokens (its migration: schema/..._account_tokens.sql),
 * encrypted under a key derived from the account's refresh body (which
 * only the environment holds); each process keeps the last one it read
 * in memory. When the token is missing, due (its expiry less skew_s), or
 * was refused with a 401, one thread of one process runs the refresh:
 * inside the process a mutex per account orders the threads, across
 * processes the lease "refresh:<account>" in leases does; the others
 * read what the winner stored (polling the row every
 * REFRESH_POLL_MS, for at most the refresh's timeout_s plus
 * REFRESH_WAIT_EXTRA_MS). Nothing here logs or returns a secret: reasons
 * are short words and the token endpoint's status.
 */

/* How often a process waiting on another's refresh reads the stored row (ms). */
#define REFRESH_POLL_MS		100
/* What a waiter allows past the refresh's own timeout_s (ms); also the lease's margin. */
#define REFRESH_WAIT_EXTRA_MS	5000
/* Longest reason kept for a failed refresh (bytes, NUL excluded). */
#define REFRESH_WHY_MAX		159

/* The process-wide cache (opaque); thread-safe. */
struct refresh;

/* The database work a refresh needs: fn run on a write connection (server_batch()). */
struct refresh_io {
	/* runs job(db, arg) inside a write transaction; returns its result */
	enum qp_err	 (*batch)(void *ctx, enum qp_err (*job)(sqlite3 *db, void *arg),
			    void *arg);
	void		*ctx;		/* passed to batch */
	int64_t		 process_id;	/* the lease holder's id: this process's row */
};

/*
 * How often one attempt renews a token the provider refused (a 401 before
 * anything reached the client): each renewal gives a newer token, most
 * often one another request just got (many requests share a token, and a
 * token that serves a few requests may be used up again before the retry
 * lands); at most REFRESH_OWN_MAX of them may send the token request
 * themselves, so that credentials refused however new cost the token
 * endpoint a bounded number of calls.
 */
#define REFRESH_RENEWALS_MAX	16
#define REFRESH_OWN_MAX		3

/* Makes an empty cache; NULL when out of memory. Free with refresh_free(). */
struct refresh	*refresh_new(void);

/* Wipes every token held and frees rf. NULL is allowed. No refresh may be running. */
void		 refresh_free(struct refresh *rf);

/*
 * Gives the token to send for account a of provider p (a->refresh.url
 * set) into *token (a NUL-terminated secret; the caller frees it with
 * crypto_free_secret()) and its stored version into *version (0 = the
 * configured api_key). stale < 0 asks for a token that is not due;
 * stale >= 0 says the token of that version was refused (a 401), so one
 * of a later version is needed. Refreshes when needed, as the header
 * comment says. Returns QP_OK; QP_EAUTH when the refresh failed, here or
 * in the process that ran it (why says how: "http_400", "no_token",
 * "network", ...: never a secret); QP_ETIMEOUT when another process held
 * the lease and stored nothing in time; QP_EDB, QP_ENOMEM. *ran, when ran
 * is not NULL, is set to 1 when this call sent the token request itself,
 * else 0 (the token came from the cache, the store or another process's
 * refresh): a caller renewing refused tokens bounds its own refreshes by
 * it. Thread-safe.
 */
enum qp_err	 refresh_token(struct refresh *rf, const struct refresh_io *io,
		    const struct config_provider *p, const struct config_account *a,
		    int64_t stale, char **token, int64_t *version, char *why, size_t whylen,
		    int *ran);

/*
 * Reads the token stored for account a on db (any connection; nothing is
 * refreshed, no lease taken): *token receives it (a secret the caller
 * frees with crypto_free_secret()) when one is stored, opens with a's key
 * and is not past its expiry at now; else NULL. For the catalog fetch,
 * which runs apart from the data plane. QP_EDB, QP_ENOMEM. Thread-safe.
 */
enum qp_err	 refresh_stored(sqlite3 *db, const struct config_account *a, int64_t now,
		    char **token);

#endif /* QP_REFRESH_H */
