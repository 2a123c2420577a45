/* keys.h: client keys: issue, list, revoke, and verify presented keys. */
#ifndef QP_KEYS_H
#define QP_KEYS_H

#include <stdint.h>
#include <sqlite3.h>

#include "err.h"
#include "keylimit.h"

/* Key text: "qp_" + 2 hex digits per random byte. */
#define KEYS_PREFIX		"qp_"
#define KEYS_TEXT_LEN		(3 + 2 * 24)
/* Characters of the key shown in listings ("qp_" + 6 hex). */
#define KEYS_VISIBLE_LEN	9
/* Longest key name. */
#define KEYS_NAME_MAX		64

enum keys_role {
	KEYS_ROLE_CLIENT,	/* data plane only */
	KEYS_ROLE_ADMIN,	/* data plane, dashboard and admin API */
	KEYS_ROLE_WORKER,	/* a remote worker: /worker/v1/... only */
	KEYS_ROLE__MAX
};

/* A key as listed; never holds the secret. */
struct keys_info {
	int64_t		 id;			/* row id */
	char		 name[KEYS_NAME_MAX + 1]; /* label */
	char		 prefix[KEYS_VISIBLE_LEN + 1]; /* visible start */
	enum keys_role	 role;			/* what it may do */
	int64_t		 created_at;		/* ms since epoch */
	int64_t		 last_used_at;		/* ms since epoch, 0 = never */
	int64_t		 revoked_at;		/* ms since epoch, 0 = valid */
	int64_t		 expires_at;		/* ms since epoch, 0 = never */
	struct keylimit_policy limits;		/* rpm, tpm, budget, models */
};

/* A change of limits: each kind is kept unless its set_ flag is 1. */
struct keys_limits_change {
	int		 set_rpm, set_tpm, set_budget, set_models;
	struct keylimit_policy to;		/* the new values (0 / NONE / "" = none) */
};

/* A key's use against its limits, for the dashboard, the stats API and /metrics. */
struct keys_usage {
	struct keys_info info;			/* the key, with its limits */
	struct keylimit_usage use;		/* minute, budget period, in flight */
	int64_t		 period_end;		/* when the budget period resets (ms), 0 = none */
	int64_t		 day_requests;		/* requests finalized today (UTC) */
	int64_t		 day_cost;		/* their microdollars */
};

/* Prepared statements of one connection; owned by one thread. */
struct keys_db;

/* Returns "client", "admin" or "worker". */
const char	*keys_role_name(enum keys_role role);

/* Returns 1 if name is a valid key name: 1-64 of [A-Za-z0-9_.-]. */
int		 keys_name_valid(const char *name);

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set. Free with keys_db_free() before closing db.
 */
struct keys_db	*keys_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees statements prepared by keys_db_new(). NULL is allowed. */
void		 keys_db_free(struct keys_db *k);

/*
 * Issues a new key called name with role, valid until expires_at (ms
 * since the epoch; 0 = never). Writes the key text, which is shown once
 * and never stored, into key (KEYS_TEXT_LEN + 1 bytes); the caller wipes
 * it. QP_EEXIST if the name is taken (revoked keys keep their name),
 * QP_EINVAL if the name is invalid.
 */
enum qp_err	 keys_create(struct keys_db *k, const char *name, enum keys_role role,
		    int64_t expires_at, char key[KEYS_TEXT_LEN + 1]);

/*
 * Gives the valid (not revoked) key called name a new secret, in one
 * write transaction: the row keeps its id, name and role, gets the new
 * hash and prefix, created_at = now, no last use, and the expiry term_ms
 * from now (0 = never; -1 = the old key's term, expires_at - created_at,
 * or never if it had none); the dashboard sessions opened with the old
 * secret are closed. The old secret stops working at once. Writes the new
 * key text into key as keys_create() does and the new expiry into
 * *expires_at (0 = never; may be NULL). QP_ENOTFOUND if no valid key has
 * that name, QP_EINVAL when term_ms is -1 and the old key's expiry is not
 * after its creation.
 */
enum qp_err	 keys_rotate(struct keys_db *k, const char *name, int64_t term_ms,
		    char key[KEYS_TEXT_LEN + 1], int64_t *expires_at);

/* Revokes the key called name. QP_ENOTFOUND if none is valid by that name. */
enum qp_err	 keys_revoke(struct keys_db *k, const char *name);

/*
 * Calls cb for every key, oldest first; stops and returns QP_EINVAL if cb
 * returns non-zero.
 */
enum qp_err	 keys_list(struct keys_db *k,
		    int (*cb)(const struct keys_info *, void *), void *arg);

/*
 * Checks a presented key (len bytes, untrusted). On success fills info
 * and returns QP_OK; QP_EAUTH if unknown, revoked or malformed;
 * QP_EEXPIRED (info filled, expires_at says when) for a valid key past its
 * expiry. The comparison does not depend on secret bytes. Records the use
 * time at most once a minute per key.
 */
enum qp_err	 keys_verify(struct keys_db *k, const char *presented, size_t len,
		    struct keys_info *info);

/*
 * Sets the limits of the valid key called name as c says (the others are
 * kept); from the next request on, every process applies them.
 * QP_ENOTFOUND if no valid key has that name.
 */
enum qp_err	 keys_set_limits(struct keys_db *k, const char *name,
		    const struct keys_limits_change *c);

/*
 * Reads the limits of key id and its use at now (ms) into pol and u:
 * requests and tokens started in the last minute (refused ones not
 * counted), the spend of the budget period (key_usage), and the
 * estimates of its reservations in flight. Meant to run in the write
 * transaction that then opens the request's first attempt, so that
 * every process sees the same counts. QP_ENOTFOUND if no such key.
 */
enum qp_err	 keys_limits_read(struct keys_db *k, int64_t id, int64_t now,
		    struct keylimit_policy *pol, struct keylimit_usage *u);

/*
 * Calls cb for every key that is neither revoked nor expired, oldest
 * first, at most max of them, with its use at now; stops and returns
 * QP_EINVAL if cb returns non-zero.
 */
enum qp_err	 keys_usage_list(struct keys_db *k, int64_t now, int max,
		    int (*cb)(const struct keys_usage *, void *), void *arg);

#endif /* QP_KEYS_H */
