/*
 * catalog_int.h: what the model catalog's own files (fcgi/catalog*.c) share:
 * the prepared statements of a catalog_db, the model-id check and the first
 * size of a growing list. Private: included only by those files; every
 * other module sees catalog.h alone.
 */
#ifndef QP_CATALOG_INT_H
#define QP_CATALOG_INT_H

#include <stddef.h>

#include <sqlite3.h>

/* First allocation of a models list and of the rows read for /v1/models. */
#define CATALOG_LIST_INIT	64

/* The statements of a catalog_db; their SQL is catalog_sql[] in catalog.c. */
enum catalog_stmt {
	CATALOG_STMT_UPSERT,		/* insert or refresh one upstream model */
	CATALOG_STMT_DELETE_GONE,	/* delete a provider's upstream models not in a list */
	CATALOG_STMT_UPSERT_STATIC,	/* insert or mark one static model */
	CATALOG_STMT_DELETE_STATIC,	/* delete static rows no longer configured */
	CATALOG_STMT_PING,		/* record one ping */
	CATALOG_STMT_PRUNE,		/* delete a batch of old pings */
	CATALOG_STMT_ROWS,		/* every catalog row, for /v1/models */
	CATALOG_STMT_BACKOFF,		/* is an account backing off as a whole, or disabled
					   by the operator */
	CATALOG_STMT_HAS_MODELS,	/* does a provider have any catalog row */
	CATALOG_STMT__MAX
};

struct catalog_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[CATALOG_STMT__MAX];	/* prepared statements */
};

/*
 * Returns 1 if s is 1..max bytes of valid UTF-8 without control bytes;
 * spaces are allowed only when spaces is set (catalog_parse.c). Thread-safe.
 */
int		 catalog_text_valid(const char *s, size_t max, int spaces);

#endif /* QP_CATALOG_INT_H */
