/* paths.h: where quotapool finds its data files (schema, views, configs). */
#ifndef QP_PATHS_H
#define QP_PATHS_H

#include <stddef.h>

#include "err.h"

/*
 * Writes the data directory into buf: $QUOTAPOOL_DATADIR if set; the
 * source tree when the running binary lives in the build tree (run
 * uninstalled); else the installed $(pkgdatadir). Thread-safe.
 */
enum qp_err	 paths_datadir(char *buf, size_t len);

/*
 * Writes the path of the quotapool.fcgi binary into buf: beside the admin
 * binary's build tree when run uninstalled, else $(pkglibexecdir).
 */
enum qp_err	 paths_fcgi_binary(char *buf, size_t len);

/*
 * Writes the path of the quotapool-admin binary into buf: $QUOTAPOOL_ADMIN
 * if set; the build tree's when run uninstalled; else $(bindir).
 */
enum qp_err	 paths_admin_binary(char *buf, size_t len);

/* Writes the absolute path of the running executable into buf. */
enum qp_err	 paths_self(char *buf, size_t len);

/* Joins dir and name with one '/' into buf; QP_ETOOBIG if it does not fit. */
enum qp_err	 paths_join(char *buf, size_t len, const char *dir, const char *name);

/*
 * Creates directory path (and its parents) with mode; existing ones are
 * fine. Returns QP_EIO with errno set on failure.
 */
enum qp_err	 paths_mkdirs(const char *path, unsigned mode);

#endif /* QP_PATHS_H */
