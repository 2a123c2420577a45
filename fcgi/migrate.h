/* migrate.h: applying and checking the ordered SQL files in schema/. */
#ifndef QP_MIGRATE_H
#define QP_MIGRATE_H

#include <sqlite3.h>

#include "crypto.h"
#include "err.h"

/* One migration file. */
struct migrate_file {
	int	 version;			/* NNNN of NNNN_name.sql */
	char	*name;				/* file name, e.g. 0001_initial.sql (owned) */
	char	*sql;				/* file contents (owned) */
	char	 checksum[2 * CRYPTO_SHA256_LEN + 1]; /* SHA-256 hex of sql */
};

/* The migrations shipped with this build, in version order. */
struct migrate_set {
	struct migrate_file	*files;		/* owned array */
	int			 n;		/* number of files */
};

/* Where a database stands against a migrate_set. */
struct migrate_status {
	int	 applied;	/* migrations recorded in the database */
	int	 latest;	/* highest version recorded, 0 = none */
	int	 pending;	/* shipped migrations not yet applied */
};

/*
 * Reads every NNNN_name.sql from dir into set, sorted by version. Fails
 * with QP_ESCHEMA on duplicate versions or gaps, QP_EIO if unreadable.
 * Free with migrate_set_free().
 */
enum qp_err	 migrate_load(const char *dir, struct migrate_set *set,
		    char *errbuf, size_t errlen);

/* Frees what migrate_load() allocated; the struct itself is the caller's. */
void		 migrate_set_free(struct migrate_set *set);

/*
 * Compares the database with set. QP_OK when every recorded migration
 * matches its file (pending ones are counted in st); QP_ESCHEMA with the
 * reason when a recorded checksum differs or the database is newer than
 * set; QP_EDB if it cannot be read. Read-only.
 */
enum qp_err	 migrate_check(sqlite3 *db, const struct migrate_set *set,
		    struct migrate_status *st, char *errbuf, size_t errlen);

/*
 * Applies every pending migration of set, each in its own transaction
 * with its version and checksum recorded; safe to run twice and from two
 * processes at once. *applied_now receives the count applied.
 */
enum qp_err	 migrate_apply(sqlite3 *db, const struct migrate_set *set,
		    int *applied_now, char *errbuf, size_t errlen);

#endif /* QP_MIGRATE_H */
