/* fuzz_keys.c: fuzz target of the client-key check behind server_auth: keys_verify on arbitrary bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "keys.h"
#include "migrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * One migrated in-memory database with one client key, one revoked admin
 * key and one expired client key, made once.
 */
static struct keys_db *keys;
static char key_ok[KEYS_TEXT_LEN + 1], key_revoked[KEYS_TEXT_LEN + 1];
static char key_expired[KEYS_TEXT_LEN + 1];

static void
setup(void)
{
	struct migrate_set set;
	struct db_opts opts;
	char errbuf[512], dir[4096];
	enum qp_err err;
	sqlite3 *db;
	int applied;

	memset(&opts, 0, sizeof(opts));
	opts.busy_timeout_ms = 1000;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	if ((db = db_open(":memory:", &opts, &err, errbuf, sizeof(errbuf))) == NULL ||
	    migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &applied, errbuf, sizeof(errbuf)) != QP_OK ||
	    (keys = keys_db_new(db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    keys_create(keys, "fuzz", KEYS_ROLE_CLIENT, 0, key_ok) != QP_OK ||
	    keys_create(keys, "gone", KEYS_ROLE_ADMIN, 0, key_revoked) != QP_OK ||
	    keys_create(keys, "old", KEYS_ROLE_CLIENT, 1, key_expired) != QP_OK ||
	    keys_revoke(keys, "gone") != QP_OK) {
		fprintf(stderr, "fuzz_keys: setup failed: %s\n", errbuf);
		abort();
	}
	migrate_set_free(&set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keys_info info;
	enum qp_err err;
	int same;

	if (keys == NULL)
		setup();
	err = keys_verify(keys, (const char *)data, size, &info);
	same = size == strlen(key_ok) && memcmp(data, key_ok, size) == 0;
	/* Only the one valid key passes, with its own identity; nothing else, ever. */
	if (err == QP_OK && (!same || info.role != KEYS_ROLE_CLIENT ||
	    strcmp(info.name, "fuzz") != 0))
		__builtin_trap();
	/* Only the expired key is called expired. */
	if (err == QP_EEXPIRED && !(size == strlen(key_expired) &&
	    memcmp(data, key_expired, size) == 0))
		__builtin_trap();
	if (err != QP_OK && err != QP_EAUTH && err != QP_EEXPIRED)
		__builtin_trap();
	if (same && err != QP_OK)
		__builtin_trap();
	/* The valid key with the input appended, or cut by it, never passes. */
	if (size > 0 && size <= KEYS_TEXT_LEN) {
		char buf[2 * KEYS_TEXT_LEN + 1];

		memcpy(buf, key_ok, KEYS_TEXT_LEN);
		memcpy(buf + KEYS_TEXT_LEN, data, size);
		if (keys_verify(keys, buf, KEYS_TEXT_LEN + size, &info) == QP_OK)
			__builtin_trap();
		if (keys_verify(keys, key_ok, KEYS_TEXT_LEN - size, &info) == QP_OK)
			__builtin_trap();
		memcpy(buf, key_ok, KEYS_TEXT_LEN);
		buf[size - 1] ^= (char)(data[0] | 1);
		if (keys_verify(keys, buf, KEYS_TEXT_LEN, &info) == QP_OK)
			__builtin_trap();
	}
	/* A revoked key stays refused, whatever came before. */
	if (keys_verify(keys, key_revoked, strlen(key_revoked), &info) != QP_EAUTH)
		__builtin_trap();
	/* An expired key stays refused as expired. */
	if (keys_verify(keys, key_expired, strlen(key_expired), &info) != QP_EEXPIRED)
		__builtin_trap();
	return 0;
}
