/* keys.c: client keys, stored as SHA-256 hashes. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "keys.h"

#define KEYS_RANDOM_BYTES	24
#define KEYS_TOUCH_MS		60000

enum keys_stmt {
	KEYS_STMT_INSERT,	/* issue a key */
	KEYS_STMT_REVOKE,	/* revoke by name */
	KEYS_STMT_LIST,		/* every key */
	KEYS_STMT_BY_HASH,	/* look a key up by its hash */
	KEYS_STMT_TOUCH,	/* record last use */
	KEYS_STMT_FIND_VALID,	/* a valid key by name, for rotation */
	KEYS_STMT_ROTATE,	/* a new secret in place */
	KEYS_STMT_END_SESSIONS,	/* close the dashboard sessions of a key */
	KEYS_STMT_SET_LIMITS,	/* change the limits of a valid key */
	KEYS_STMT_LIMITS,	/* the limits of one key */
	KEYS_STMT_MINUTE,	/* its requests and tokens of the last minute */
	KEYS_STMT_SPENT,	/* its spend since a day */
	KEYS_STMT_INFLIGHT,	/* its reservations in flight */
	KEYS_STMT_TODAY,	/* its requests and spend of one day */
	KEYS_STMT__MAX
};

/* The columns keys_row() reads, in its order. */
#define KEYS_COLS "id, name, prefix, role, created_at, last_used_at, revoked_at, expires_at, " \
	"rpm, tpm, budget_microdollars, budget_period, models"
#define KEYS_NCOLS	13

static const char *const keys_sql[KEYS_STMT__MAX] = {
	[KEYS_STMT_INSERT] = "INSERT INTO client_keys (name, prefix, hash, role, "
	    "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
	[KEYS_STMT_REVOKE] = "UPDATE client_keys SET revoked_at = ? "
	    "WHERE name = ? AND revoked_at IS NULL",
	[KEYS_STMT_LIST] = "SELECT " KEYS_COLS " FROM client_keys ORDER BY id",
	[KEYS_STMT_BY_HASH] = "SELECT " KEYS_COLS ", hash FROM client_keys WHERE hash = ?",
	[KEYS_STMT_TOUCH] = "UPDATE client_keys SET last_used_at = ? WHERE id = ?",
	[KEYS_STMT_FIND_VALID] = "SELECT id, created_at, expires_at FROM client_keys "
	    "WHERE name = ?1 AND revoked_at IS NULL",
	[KEYS_STMT_ROTATE] = "UPDATE client_keys SET hash = ?1, prefix = ?2, created_at = ?3, "
	    "last_used_at = NULL, expires_at = ?4 WHERE id = ?5",
	[KEYS_STMT_END_SESSIONS] = "DELETE FROM dashboard_sessions WHERE key_id = ?1",
	[KEYS_STMT_SET_LIMITS] = "UPDATE client_keys SET "
	    "rpm = CASE WHEN ?2 THEN ?3 ELSE rpm END, "
	    "tpm = CASE WHEN ?4 THEN ?5 ELSE tpm END, "
	    "budget_microdollars = CASE WHEN ?6 THEN ?7 ELSE budget_microdollars END, "
	    "budget_period = CASE WHEN ?6 THEN ?8 ELSE budget_period END, "
	    "models = CASE WHEN ?9 THEN ?10 ELSE models END "
	    "WHERE name = ?1 AND revoked_at IS NULL",
	[KEYS_STMT_LIMITS] = "SELECT rpm, tpm, budget_microdollars, budget_period, models "
	    "FROM client_keys WHERE id = ?1",
	/* Refused requests are 'rejected' and did not reach a provider: not counted. */
	[KEYS_STMT_MINUTE] = "SELECT count(*), total(input_tokens + output_tokens + "
	    "cache_read_tokens + cache_write_tokens), min(started_at) FROM requests "
	    "WHERE client_key_id = ?1 AND started_at > ?2 AND status != 'rejected'",
	[KEYS_STMT_SPENT] = "SELECT total(cost_microdollars) FROM key_usage "
	    "WHERE key_id = ?1 AND day_start >= ?2",
	[KEYS_STMT_INFLIGHT] = "SELECT total(r.estimated_tokens), "
	    "total(r.estimated_microdollars) FROM reservations AS r JOIN requests AS q "
	    "ON q.id = r.request_id WHERE q.client_key_id = ?1 AND r.expires_at > ?2",
	[KEYS_STMT_TODAY] = "SELECT total(requests), total(cost_microdollars) FROM key_usage "
	    "WHERE key_id = ?1 AND day_start = ?2",
};

static const char *const keys_role_names[KEYS_ROLE__MAX] = {
	[KEYS_ROLE_CLIENT] = "client",
	[KEYS_ROLE_ADMIN] = "admin",
	[KEYS_ROLE_WORKER] = "worker",
};

struct keys_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[KEYS_STMT__MAX];	/* prepared statements */
};

const char *
keys_role_name(enum keys_role role)
{

	return (unsigned)role < KEYS_ROLE__MAX ? keys_role_names[role] : "unknown";
}

int
keys_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > KEYS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

struct keys_db *
keys_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct keys_db *k;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	k->db = db;
	*err = db_prepare_all(db, keys_sql, KEYS_STMT__MAX, k->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(k);
		return NULL;
	}
	return k;
}

void
keys_db_free(struct keys_db *k)
{

	if (k == NULL)
		return;
	db_finalize_all(k->st, KEYS_STMT__MAX);
	free(k);
}

/* Reads rpm, tpm, budget, period and models from column col on. */
static void
keys_limits_row(sqlite3_stmt *st, int col, struct keylimit_policy *pol)
{
	const char *s;

	memset(pol, 0, sizeof(*pol));
	pol->rpm = sqlite3_column_int64(st, col);
	pol->tpm = sqlite3_column_int64(st, col + 1);
	pol->budget = sqlite3_column_int64(st, col + 2);
	pol->period = keylimit_period_from_name((const char *)sqlite3_column_text(st,
	    col + 3));
	if (pol->period == KEYLIMIT_PERIOD__MAX || pol->budget <= 0) {
		pol->period = KEYLIMIT_PERIOD_NONE;
		pol->budget = 0;
	}
	if ((s = (const char *)sqlite3_column_text(st, col + 4)) != NULL)
		strncpy(pol->models, s, KEYLIMIT_MODELS_MAX);
}

static void
keys_row(sqlite3_stmt *st, struct keys_info *info)
{
	const char *s;
	int i;

	memset(info, 0, sizeof(*info));
	info->id = sqlite3_column_int64(st, 0);
	if ((s = (const char *)sqlite3_column_text(st, 1)) != NULL)
		strncpy(info->name, s, KEYS_NAME_MAX);
	if ((s = (const char *)sqlite3_column_text(st, 2)) != NULL)
		strncpy(info->prefix, s, KEYS_VISIBLE_LEN);
	s = (const char *)sqlite3_column_text(st, 3);
	info->role = KEYS_ROLE_CLIENT;
	for (i = 0; s != NULL && i < KEYS_ROLE__MAX; i++)
		if (strcmp(s, keys_role_names[i]) == 0)
			info->role = (enum keys_role)i;
	info->created_at = sqlite3_column_int64(st, 4);
	info->last_used_at = sqlite3_column_int64(st, 5);
	info->revoked_at = sqlite3_column_int64(st, 6);
	info->expires_at = sqlite3_column_int64(st, 7);
	keys_limits_row(st, 8, &info->limits);
}

/* Makes a new key text into key and its hash and visible prefix. Wipes key on error. */
static enum qp_err
keys_make(char key[KEYS_TEXT_LEN + 1], unsigned char hash[CRYPTO_SHA256_LEN],
    char prefix[KEYS_VISIBLE_LEN + 1])
{
	unsigned char rnd[KEYS_RANDOM_BYTES];
	enum qp_err err;

	if ((err = crypto_random(rnd, sizeof(rnd))) != QP_OK)
		return err;
	memcpy(key, KEYS_PREFIX, 3);
	crypto_hex(rnd, sizeof(rnd), key + 3);
	crypto_wipe(rnd, sizeof(rnd));
	if ((err = crypto_sha256(key, KEYS_TEXT_LEN, hash)) != QP_OK) {
		crypto_wipe(key, KEYS_TEXT_LEN + 1);
		return err;
	}
	memcpy(prefix, key, KEYS_VISIBLE_LEN);
	prefix[KEYS_VISIBLE_LEN] = '\0';
	return QP_OK;
}

enum qp_err
keys_create(struct keys_db *k, const char *name, enum keys_role role, int64_t expires_at,
    char key[KEYS_TEXT_LEN + 1])
{
	unsigned char hash[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = k->st[KEYS_STMT_INSERT];
	char prefix[KEYS_VISIBLE_LEN + 1];
	enum qp_err err;
	int rc;

	if (!keys_name_valid(name) || (unsigned)role >= KEYS_ROLE__MAX || expires_at < 0)
		return QP_EINVAL;
	if ((err = keys_make(key, hash, prefix)) != QP_OK)
		return err;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, hash, sizeof(hash), SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, keys_role_names[role], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, db_now_ms());
	if (expires_at > 0)
		sqlite3_bind_int64(st, 6, expires_at);
	else
		sqlite3_bind_null(st, 6);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	crypto_wipe(hash, sizeof(hash));
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT)
		err = QP_EEXIST;
	else if (rc != SQLITE_DONE)
		err = QP_EDB;
	if (err != QP_OK)
		crypto_wipe(key, KEYS_TEXT_LEN + 1);
	return err;
}

enum qp_err
keys_rotate(struct keys_db *k, const char *name, int64_t term_ms,
    char key[KEYS_TEXT_LEN + 1], int64_t *expires_at)
{
	unsigned char hash[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = k->st[KEYS_STMT_FIND_VALID];
	char prefix[KEYS_VISIBLE_LEN + 1];
	int64_t id, now = db_now_ms(), until = 0, created, old;
	enum qp_err err;
	int rc;

	if ((err = keys_make(key, hash, prefix)) != QP_OK)
		return err;
	if ((err = db_begin_write(k->db)) != QP_OK)
		goto out;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	id = sqlite3_column_int64(st, 0);
	created = sqlite3_column_int64(st, 1);
	old = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? QP_ENOTFOUND : QP_EDB;
		goto fail;
	}
	if (term_ms < 0 && old > 0 && old <= created) {
		/* An expiry at or before its creation has no term to keep. */
		err = QP_EINVAL;
		goto fail;
	}
	if (term_ms > 0)
		until = now + term_ms;
	else if (term_ms < 0 && old > 0)
		until = now + (old - created);
	st = k->st[KEYS_STMT_ROTATE];
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	if (until > 0)
		sqlite3_bind_int64(st, 4, until);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		err = QP_EDB;
		goto fail;
	}
	st = k->st[KEYS_STMT_END_SESSIONS];
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		err = QP_EDB;
		goto fail;
	}
	err = db_commit(k->db);
	goto out;
fail:
	db_rollback(k->db);
out:
	crypto_wipe(hash, sizeof(hash));
	if (err != QP_OK)
		crypto_wipe(key, KEYS_TEXT_LEN + 1);
	else if (expires_at != NULL)
		*expires_at = until;
	return err;
}

enum qp_err
keys_revoke(struct keys_db *k, const char *name)
{
	sqlite3_stmt *st = k->st[KEYS_STMT_REVOKE];
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, db_now_ms());
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return QP_EDB;
	return sqlite3_changes(k->db) > 0 ? QP_OK : QP_ENOTFOUND;
}

enum qp_err
keys_list(struct keys_db *k, int (*cb)(const struct keys_info *, void *), void *arg)
{
	sqlite3_stmt *st = k->st[KEYS_STMT_LIST];
	struct keys_info info;
	enum qp_err err = QP_OK;
	int rc;

	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		keys_row(st, &info);
		if (cb(&info, arg) != 0) {
			err = QP_EINVAL;
			break;
		}
	}
	if (err == QP_OK && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	return err;
}

enum qp_err
keys_verify(struct keys_db *k, const char *presented, size_t len,
    struct keys_info *info)
{
	unsigned char hash[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = k->st[KEYS_STMT_BY_HASH], *t;
	const void *stored;
	enum qp_err err = QP_EAUTH;
	int64_t now;
	int rc;

	/* Length is not secret: every issued key has the same length. */
	if (len != KEYS_TEXT_LEN)
		return QP_EAUTH;
	if (crypto_sha256(presented, len, hash) != QP_OK)
		return QP_ECRYPTO;
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		stored = sqlite3_column_blob(st, KEYS_NCOLS);
		if (stored != NULL && sqlite3_column_bytes(st, KEYS_NCOLS) ==
		    CRYPTO_SHA256_LEN && crypto_equal(stored, hash, sizeof(hash))) {
			keys_row(st, info);
			if (info->revoked_at)
				err = QP_EAUTH;
			else if (info->expires_at > 0 && db_now_ms() >= info->expires_at)
				err = QP_EEXPIRED;
			else
				err = QP_OK;
		}
	} else if (rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	if (err != QP_OK)
		return err;
	now = db_now_ms();
	if (now - info->last_used_at >= KEYS_TOUCH_MS) {
		/* Best effort: a busy database must not fail the request. */
		t = k->st[KEYS_STMT_TOUCH];
		sqlite3_reset(t);
		sqlite3_bind_int64(t, 1, now);
		sqlite3_bind_int64(t, 2, info->id);
		(void)sqlite3_step(t);
		sqlite3_reset(t);
	}
	return QP_OK;
}

/* Binds a limit, NULL for none. */
static void
keys_bind_limit(sqlite3_stmt *st, int i, int64_t v)
{

	if (v > 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

enum qp_err
keys_set_limits(struct keys_db *k, const char *name, const struct keys_limits_change *c)
{
	sqlite3_stmt *st = k->st[KEYS_STMT_SET_LIMITS];
	const struct keylimit_policy *to = &c->to;
	int budget = to->budget > 0 && to->period != KEYLIMIT_PERIOD_NONE, rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, c->set_rpm != 0);
	keys_bind_limit(st, 3, to->rpm);
	sqlite3_bind_int(st, 4, c->set_tpm != 0);
	keys_bind_limit(st, 5, to->tpm);
	sqlite3_bind_int(st, 6, c->set_budget != 0);
	keys_bind_limit(st, 7, budget ? to->budget : 0);
	if (budget)
		sqlite3_bind_text(st, 8, keylimit_period_name(to->period), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int(st, 9, c->set_models != 0);
	if (to->models[0] != '\0')
		sqlite3_bind_text(st, 10, to->models, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 10);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return QP_EDB;
	return sqlite3_changes(k->db) > 0 ? QP_OK : QP_ENOTFOUND;
}

/* Steps st (bound with ?1 = id, ?2 = t) to its one row; QP_EDB if none. */
static enum qp_err
keys_one_row(sqlite3_stmt *st, int64_t id, int64_t t)
{

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, t);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return QP_EDB;
	}
	return QP_OK;
}

/* Reads the use of key id at now for pol into u. */
static enum qp_err
keys_use(struct keys_db *k, int64_t id, int64_t now, const struct keylimit_policy *pol,
    struct keylimit_usage *u)
{
	sqlite3_stmt *st;

	memset(u, 0, sizeof(*u));
	st = k->st[KEYS_STMT_MINUTE];
	if (keys_one_row(st, id, now - KEYLIMIT_MINUTE_MS) != QP_OK)
		return QP_EDB;
	u->minute_requests = sqlite3_column_int64(st, 0);
	u->minute_tokens = (int64_t)sqlite3_column_double(st, 1);
	u->minute_oldest = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	if (pol->period != KEYLIMIT_PERIOD_NONE) {
		st = k->st[KEYS_STMT_SPENT];
		if (keys_one_row(st, id, keylimit_period_start(pol->period, now)) != QP_OK)
			return QP_EDB;
		u->spent = (int64_t)sqlite3_column_double(st, 0);
		sqlite3_reset(st);
	}
	st = k->st[KEYS_STMT_INFLIGHT];
	if (keys_one_row(st, id, now) != QP_OK)
		return QP_EDB;
	u->reserved_tokens = (int64_t)sqlite3_column_double(st, 0);
	u->reserved_microdollars = (int64_t)sqlite3_column_double(st, 1);
	sqlite3_reset(st);
	return QP_OK;
}

enum qp_err
keys_limits_read(struct keys_db *k, int64_t id, int64_t now, struct keylimit_policy *pol,
    struct keylimit_usage *u)
{
	sqlite3_stmt *st = k->st[KEYS_STMT_LIMITS];
	int rc;

	memset(u, 0, sizeof(*u));
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		keys_limits_row(st, 0, pol);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? QP_ENOTFOUND : QP_EDB;
	/* A key with no limit reads nothing more. */
	if (pol->rpm == 0 && pol->tpm == 0 && pol->period == KEYLIMIT_PERIOD_NONE)
		return QP_OK;
	return keys_use(k, id, now, pol, u);
}

enum qp_err
keys_usage_list(struct keys_db *k, int64_t now, int max,
    int (*cb)(const struct keys_usage *, void *), void *arg)
{
	sqlite3_stmt *st = k->st[KEYS_STMT_LIST], *t;
	struct keys_usage *rows = NULL;
	enum qp_err err = QP_OK;
	int rc = SQLITE_DONE, n = 0, i;

	if (max <= 0)
		return QP_OK;
	if ((rows = calloc((size_t)max, sizeof(*rows))) == NULL)
		return QP_ENOMEM;
	/* The list is read whole first: the usage reads reuse the connection. */
	sqlite3_reset(st);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		keys_row(st, &rows[n].info);
		if (rows[n].info.revoked_at == 0 && (rows[n].info.expires_at == 0 ||
		    rows[n].info.expires_at > now))
			n++;
	}
	if (n < max && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	for (i = 0; err == QP_OK && i < n; i++) {
		if ((err = keys_use(k, rows[i].info.id, now, &rows[i].info.limits,
		    &rows[i].use)) != QP_OK)
			break;
		rows[i].period_end = keylimit_period_end(rows[i].info.limits.period, now);
		t = k->st[KEYS_STMT_TODAY];
		if ((err = keys_one_row(t, rows[i].info.id,
		    keylimit_period_start(KEYLIMIT_PERIOD_DAY, now))) != QP_OK)
			break;
		rows[i].day_requests = (int64_t)sqlite3_column_double(t, 0);
		rows[i].day_cost = (int64_t)sqlite3_column_double(t, 1);
		sqlite3_reset(t);
		if (cb(&rows[i], arg) != 0)
			err = QP_EINVAL;
	}
	free(rows);
	return err;
}
