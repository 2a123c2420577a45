/* paths.c: locating quotapool's installed or in-tree data files. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

enum qp_err
paths_self(char *buf, size_t len)
{
	ssize_t n;

	n = readlink("/proc/self/exe", buf, len - 1);
	if (n < 0)
		return QP_EIO;
	if ((size_t)n >= len - 1)
		return QP_ETOOBIG;
	buf[n] = '\0';
	return QP_OK;
}

/* Returns 1 if the running binary is inside the build tree. */
static int
paths_uninstalled(void)
{
	char self[PATH_MAX];
	size_t n = strlen(QP_BUILDDIR);

	if (paths_self(self, sizeof(self)) != QP_OK)
		return 0;
	return strncmp(self, QP_BUILDDIR, n) == 0 && self[n] == '/';
}

static enum qp_err
paths_copy(char *buf, size_t len, const char *s)
{

	if ((size_t)snprintf(buf, len, "%s", s) >= len)
		return QP_ETOOBIG;
	return QP_OK;
}

enum qp_err
paths_datadir(char *buf, size_t len)
{
	const char *env = getenv("QUOTAPOOL_DATADIR");

	if (env != NULL && env[0] != '\0')
		return paths_copy(buf, len, env);
	if (paths_uninstalled())
		return paths_copy(buf, len, QP_SRCDIR);
	return paths_copy(buf, len, QP_PKGDATADIR);
}

enum qp_err
paths_fcgi_binary(char *buf, size_t len)
{
	const char *env = getenv("QUOTAPOOL_FCGI");

	if (env != NULL && env[0] != '\0')
		return paths_copy(buf, len, env);
	if (paths_uninstalled())
		return paths_join(buf, len, QP_BUILDDIR, "fcgi/quotapool.fcgi");
	return paths_join(buf, len, QP_PKGLIBEXECDIR, "quotapool.fcgi");
}

enum qp_err
paths_admin_binary(char *buf, size_t len)
{
	const char *env = getenv("QUOTAPOOL_ADMIN");

	if (env != NULL && env[0] != '\0')
		return paths_copy(buf, len, env);
	if (paths_uninstalled())
		return paths_join(buf, len, QP_BUILDDIR, "admin/quotapool-admin");
	return paths_join(buf, len, QP_BINDIR, "quotapool-admin");
}

enum qp_err
paths_join(char *buf, size_t len, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	int n;

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	while (name[0] == '/')
		name++;
	n = snprintf(buf, len, "%.*s/%s", (int)dl, dir, name);
	if (n < 0 || (size_t)n >= len)
		return QP_ETOOBIG;
	return QP_OK;
}

enum qp_err
paths_mkdirs(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	char *p;
	struct stat st;

	if (paths_copy(tmp, sizeof(tmp), path) != QP_OK)
		return QP_ETOOBIG;
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return QP_EIO;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0) {
		if (errno != EEXIST)
			return QP_EIO;
		if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return QP_EIO;
		}
	}
	return QP_OK;
}
