/* bundle.h: a backup bundle: one gzip'd tar holding MANIFEST.json and the files it lists. */
#ifndef QP_BUNDLE_H
#define QP_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "err.h"

/* The first member of every bundle. */
#define BUNDLE_MANIFEST		"MANIFEST.json"
/* Value of the manifest's "format" field. */
#define BUNDLE_FORMAT		"quotapool-backup"
/* The manifest format this build writes and reads. */
#define BUNDLE_FORMAT_VERSION	1
/* Members besides the manifest, at most. */
#define BUNDLE_FILES_MAX	8
/* Longest member name. */
#define BUNDLE_NAME_MAX		64
/* Largest manifest read. */
#define BUNDLE_MANIFEST_MAX	(64 * 1024)
/* Largest member read (the database): 1 TiB. */
#define BUNDLE_MEMBER_MAX	((int64_t)1 << 40)

/* One file of a bundle. */
struct bundle_file {
	char		 name[BUNDLE_NAME_MAX + 1];	/* member name: plain, no '/' */
	char		 src[4096];			/* bundle_write(): file to add */
	int64_t		 size;				/* bytes */
	char		 sha256[2 * CRYPTO_SHA256_LEN + 1]; /* lowercase hex */
};

/*
 * Fills f->size and f->sha256 from the file f->src. QP_EIO (errno set) if
 * it cannot be read.
 */
enum qp_err	 bundle_hash_file(struct bundle_file *f);

/*
 * Returns 1 if name is a member name this format allows: 1 to
 * BUNDLE_NAME_MAX bytes of letters, digits, '.', '_' and '-', not starting
 * with '.' or '-'.
 */
int		 bundle_name_ok(const char *name);

/*
 * Writes the bundle at path: manifest (JSON text) as BUNDLE_MANIFEST, then
 * each file's bytes from its src. The bundle is written to "path.tmp",
 * created exclusively with mode 0600, synced, then renamed to path, which
 * must not exist. Files are checked against the sizes and hashes given
 * while they are copied (a file that changed is an error). QP_OK, or an
 * error with a one-line reason in errbuf (nothing left behind).
 */
enum qp_err	 bundle_write(const char *path, const char *manifest,
		    const struct bundle_file *files, int nfiles, char *errbuf,
		    size_t errlen);

/*
 * Reads and verifies the bundle at path (untrusted): the first member is
 * the manifest, a JSON object whose "format" is BUNDLE_FORMAT and whose
 * "format_version" this build reads; every other member is a regular file
 * with an allowed name, listed once in the manifest's "files" array
 * ({name, size, sha256}) and matching its size and hash; every file listed
 * is present. When dir is not NULL each member is also written there
 * under its name (created exclusively, 0600; on failure the ones written
 * are removed). Returns the manifest (the caller frees it with
 * cJSON_Delete()), or NULL with *err set and a one-line reason in errbuf.
 */
cJSON		*bundle_read(const char *path, const char *dir, enum qp_err *err,
		    char *errbuf, size_t errlen);

#endif /* QP_BUNDLE_H */
