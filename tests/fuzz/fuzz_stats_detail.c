/*
 * fuzz_stats_detail.c: the routing rollup's reader of decision details on
 * arbitrary bytes, checked against SQLite's own JSON functions. Aborts when
 * a detail the reader accepts is one SQLite finds invalid, or when the
 * entries it gives differ from SQLite's reading of "$.accounts": the same
 * objects in the same order, with the same account, provider, reason and
 * backoff text (or absence).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "stats.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ENTRIES	256

struct fuzz_seen {
	struct stats_entry	 e[FUZZ_ENTRIES];
	int			 n;
};

static int
fuzz_keep(void *arg, const struct stats_entry *e)
{
	struct fuzz_seen *s = arg;

	if (s->n == FUZZ_ENTRIES)
		return -1;
	s->e[s->n++] = *e;
	return 0;
}

/* Aborts unless SQLite's column i (text or NULL) equals the entry's member k. */
static void
fuzz_same(sqlite3_stmt *st, int i, const struct stats_entry *e, int k)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (e->v[k] == NULL) {
		if (sqlite3_column_type(st, i) != SQLITE_NULL)
			abort();
		return;
	}
	if (sqlite3_column_type(st, i) != SQLITE_TEXT || n != e->n[k] ||
	    memcmp(t, e->v[k], n) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sqlite3 *db;
	static sqlite3_stmt *valid, *each;
	struct fuzz_seen seen;
	int i, rc;

	if (db == NULL) {
		if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &valid, NULL) !=
		    SQLITE_OK ||
		    sqlite3_prepare_v2(db, "SELECT json_extract(value, '$.account'), "
		    "json_extract(value, '$.provider'), json_extract(value, '$.reason'), "
		    "json_extract(value, '$.backoff') FROM json_each(?1, '$.accounts') "
		    "WHERE type = 'object' ORDER BY key", -1, &each, NULL) != SQLITE_OK)
			abort();
	}
	memset(&seen, 0, sizeof(seen));
	if (stats_detail_scan((const char *)data, size, fuzz_keep, &seen) != 0)
		return 0;

	/* Accepted: SQLite must agree it is JSON, and read the same entries. */
	sqlite3_bind_text(valid, 1, (const char *)data, (int)size, SQLITE_STATIC);
	if (sqlite3_step(valid) != SQLITE_ROW || sqlite3_column_int(valid, 0) != 1)
		abort();
	sqlite3_reset(valid);
	sqlite3_bind_text(each, 1, (const char *)data, (int)size, SQLITE_STATIC);
	for (i = 0; (rc = sqlite3_step(each)) == SQLITE_ROW; i++) {
		if (i >= seen.n)
			abort();
		fuzz_same(each, 0, &seen.e[i], STATS_EK_ACCOUNT);
		fuzz_same(each, 1, &seen.e[i], STATS_EK_PROVIDER);
		fuzz_same(each, 2, &seen.e[i], STATS_EK_REASON);
		fuzz_same(each, 3, &seen.e[i], STATS_EK_BACKOFF);
	}
	if (rc != SQLITE_DONE || i != seen.n)
		abort();
	sqlite3_reset(each);
	return 0;
}
