/* test_keys.c: client keys are random, stored hashed, verified, listed and revoked. */
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "keys.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-keys-XXXXXX";

struct seen {
	int	 n;
	int	 leaked;
	char	 key[KEYS_TEXT_LEN + 1];
};

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg != NULL ? msg : "?");
		exit(1);
	}
}

static int
count(const struct keys_info *k, void *arg)
{
	struct seen *s = arg;

	s->n++;
	if (strstr(k->name, s->key) != NULL || strlen(k->prefix) != KEYS_VISIBLE_LEN)
		s->leaked++;
	return 0;
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct keys_db *k;
	struct keys_info info;
	struct seen seen;
	char dir[512], dbpath[600], errbuf[512], a[KEYS_TEXT_LEN + 1], b[KEYS_TEXT_LEN + 1], c[KEYS_TEXT_LEN + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t now, until = -1;
	enum qp_err err;
	int n, found;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/keys.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	k = keys_db_new(db, &err, errbuf, sizeof(errbuf));
	ok(k != NULL, "statements prepare on the shipped schema");

	ok(keys_name_valid("laptop-1.work_x"), "valid name");
	ok(!keys_name_valid(""), "empty name invalid");
	ok(!keys_name_valid("a b"), "space invalid");
	ok(!keys_name_valid("a/b"), "slash invalid");

	is_int(keys_create(k, "alice", KEYS_ROLE_CLIENT, 0, a), QP_OK, "create client key");
	is_int(strlen(a), KEYS_TEXT_LEN, "key length");
	ok(strncmp(a, "qp_", 3) == 0, "key prefix qp_: %.3s", a);
	is_int(keys_create(k, "admin", KEYS_ROLE_ADMIN, 0, b), QP_OK, "create admin key");
	ok(strcmp(a, b) != 0, "keys differ");
	is_int(keys_create(k, "alice", KEYS_ROLE_CLIENT, 0, c), QP_EEXIST, "duplicate name refused");
	is_int(keys_create(k, "bad name", KEYS_ROLE_CLIENT, 0, c), QP_EINVAL, "invalid name refused");

	/* The secret is not stored anywhere in the database. */
	found = 0;
	if (sqlite3_prepare_v2(db, "SELECT name, prefix, hash FROM client_keys", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(st, 1);

			if (p != NULL && strlen(p) > KEYS_VISIBLE_LEN)
				found++;
			if (sqlite3_column_bytes(st, 2) != 32)
				found++;
		}
		sqlite3_finalize(st);
	}
	is_int(found, 0, "only a 9-character prefix and a 32-byte hash are stored");

	is_int(keys_verify(k, a, strlen(a), &info), QP_OK, "verify the client key");
	is_str(info.name, "alice", "verified key's name");
	is_int(info.role, KEYS_ROLE_CLIENT, "client role");
	ok(info.last_used_at == 0, "first verify reports the previous last use (never)");
	is_int(keys_verify(k, a, strlen(a), &info), QP_OK, "verify again");
	ok(info.last_used_at > 0, "last use recorded");
	a[10] ^= 1;
	is_int(keys_verify(k, a, strlen(a), &info), QP_EAUTH, "altered key refused");
	a[10] ^= 1;
	is_int(keys_verify(k, a, strlen(a) - 1, &info), QP_EAUTH, "truncated key refused");
	is_int(keys_verify(k, "", 0, &info), QP_EAUTH, "empty key refused");

	memset(&seen, 0, sizeof(seen));
	memcpy(seen.key, a + 3, 10);
	is_int(keys_list(k, count, &seen), QP_OK, "list");
	is_int(seen.n, 2, "two keys listed");
	is_int(seen.leaked, 0, "listing shows prefixes only");

	is_int(keys_revoke(k, "alice"), QP_OK, "revoke");
	is_int(keys_verify(k, a, strlen(a), &info), QP_EAUTH, "revoked key refused");
	is_int(keys_revoke(k, "alice"), QP_ENOTFOUND, "revoking twice reports not found");
	is_int(keys_revoke(k, "nobody"), QP_ENOTFOUND, "unknown name");
	is_int(keys_verify(k, b, strlen(b), &info), QP_OK, "other key still valid");
	is_int(info.role, KEYS_ROLE_ADMIN, "admin role");

	/* Expiry. */
	now = db_now_ms();
	is_int(keys_create(k, "temp", KEYS_ROLE_CLIENT, now + 3600000, c), QP_OK,
	    "create a key valid for an hour");
	is_int(keys_verify(k, c, strlen(c), &info), QP_OK, "valid before its expiry");
	is_int(info.expires_at, now + 3600000, "its expiry is reported");
	/* Issued 5 s ago for 4 s. */
	exec_sql(db, "UPDATE client_keys SET expires_at = created_at - 1000, created_at = "
	    "created_at - 5000 WHERE name = 'temp'");
	is_int(keys_verify(k, c, strlen(c), &info), QP_EEXPIRED, "refused as expired after it");
	is_str(info.name, "temp", "the expired key is named");
	c[5] ^= 1;
	is_int(keys_verify(k, c, strlen(c), &info), QP_EAUTH,
	    "a wrong secret is refused as unknown, not as expired");
	c[5] ^= 1;
	is_int(keys_create(k, "neg", KEYS_ROLE_CLIENT, -5, a), QP_EINVAL,
	    "a negative expiry is refused");

	/* Rotation: same name and role, new secret, the old one refused at once. */
	memcpy(a, b, sizeof(a));
	is_int(keys_rotate(k, "admin", 0, b, &until), QP_OK, "rotate the admin key");
	ok(strcmp(a, b) != 0 && strlen(b) == KEYS_TEXT_LEN, "a new secret");
	is_int(keys_verify(k, a, strlen(a), &info), QP_EAUTH, "the old secret is refused");
	is_int(keys_verify(k, b, strlen(b), &info), QP_OK, "the new secret works");
	ok(strcmp(info.name, "admin") == 0 && info.role == KEYS_ROLE_ADMIN && info.expires_at == 0,
	    "same name, admin role, no expiry");
	is_int(until, 0, "rotated without expiry");
	is_int(keys_rotate(k, "alice", -1, a, NULL), QP_ENOTFOUND, "a revoked key is not rotated");
	is_int(keys_rotate(k, "nobody", -1, a, NULL), QP_ENOTFOUND, "nor an unknown one");
	now = db_now_ms();
	is_int(keys_rotate(k, "temp", -1, a, &until), QP_OK, "the expired key rotates");
	ok(until >= now + 4000 && until <= db_now_ms() + 4000, "keeping its term of 4 s");
	exec_sql(db, "UPDATE client_keys SET expires_at = created_at + 7200000 WHERE "
	    "name = 'temp'");
	now = db_now_ms();
	is_int(keys_rotate(k, "temp", -1, c, &until), QP_OK, "rotate again");
	ok(until >= now + 7200000 && until <= db_now_ms() + 7200000,
	    "the new secret keeps the old one's term of two hours");
	is_int(keys_verify(k, a, strlen(a), &info), QP_EAUTH, "the previous secret is refused");
	is_int(keys_rotate(k, "temp", 60000, c, &until), QP_OK, "rotate with a term given");
	ok(until >= now + 60000 && until <= db_now_ms() + 60000, "a minute from now");
	exec_sql(db, "UPDATE client_keys SET expires_at = created_at WHERE name = 'temp'");
	is_int(keys_rotate(k, "temp", -1, a, NULL), QP_EINVAL, "no positive term to keep");
	is_int(keys_verify(k, c, strlen(c), &info), QP_EEXPIRED,
	    "and the key is left as it was");
	exec_sql(db, "INSERT INTO dashboard_sessions (token_hash, key_id, created_at, expires_at) "
	    "SELECT x'00', id, 1, 9999999999999 FROM client_keys WHERE name = 'admin'");
	is_int(keys_rotate(k, "admin", 0, b, NULL), QP_OK, "rotate the admin key again");
	found = -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM dashboard_sessions", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		found = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	is_int(found, 0, "the sessions opened with the old secret are closed");

	keys_db_free(k);
	db_close(db);
	migrate_set_free(&set);
	return done_testing();
}
