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

	is_int(keys_create(k, "alice", KEYS_ROLE_CLIENT, a), QP_OK, "create client key");
	is_int(strlen(a), KEYS_TEXT_LEN, "key length");
	ok(strncmp(a, "qp_", 3) == 0, "key prefix qp_: %.3s", a);
	is_int(keys_create(k, "admin", KEYS_ROLE_ADMIN, b), QP_OK, "create admin key");
	ok(strcmp(a, b) != 0, "keys differ");
	is_int(keys_create(k, "alice", KEYS_ROLE_CLIENT, c), QP_EEXIST, "duplicate name refused");
	is_int(keys_create(k, "bad name", KEYS_ROLE_CLIENT, c), QP_EINVAL, "invalid name refused");

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

	keys_db_free(k);
	db_close(db);
	migrate_set_free(&set);
	return done_testing();
}
