/* bundle.c: writing and verifying backup bundles with libarchive (tar, gzip). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "bundle.h"

/* Bytes copied at a time. */
#define BUNDLE_CHUNK	(64 * 1024)

/* A running SHA-256. */
struct bundle_hash {
	EVP_MD_CTX	*ctx;
	int64_t		 size;
};

static int
bundle_hash_begin(struct bundle_hash *h)
{

	h->size = 0;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return -1;
	}
	return 0;
}

static int
bundle_hash_add(struct bundle_hash *h, const void *p, size_t n)
{

	h->size += (int64_t)n;
	return EVP_DigestUpdate(h->ctx, p, n) == 1 ? 0 : -1;
}

/* Ends the hash into hex (2 * CRYPTO_SHA256_LEN + 1 bytes); frees it. */
static int
bundle_hash_end(struct bundle_hash *h, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int rc;

	rc = EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == CRYPTO_SHA256_LEN ? 0 : -1;
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	if (rc == 0)
		crypto_hex(md, CRYPTO_SHA256_LEN, hex);
	return rc;
}

static void
bundle_hash_drop(struct bundle_hash *h)
{

	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
bundle_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > BUNDLE_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
		    name[i] == '-'))
			return 0;
	return 1;
}

enum qp_err
bundle_hash_file(struct bundle_file *f)
{
	struct bundle_hash h = { NULL, 0 };
	char *buf = NULL;
	ssize_t n;
	int fd = -1, saved;
	enum qp_err err = QP_EIO;

	if ((buf = malloc(BUNDLE_CHUNK)) == NULL)
		return QP_ENOMEM;
	if ((fd = open(f->src, O_RDONLY | O_CLOEXEC)) < 0)
		goto out;
	if (bundle_hash_begin(&h) != 0) {
		err = QP_ECRYPTO;
		goto out;
	}
	for (;;) {
		n = read(fd, buf, BUNDLE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (bundle_hash_add(&h, buf, (size_t)n) != 0) {
			err = QP_ECRYPTO;
			goto out;
		}
	}
	f->size = h.size;
	err = bundle_hash_end(&h, f->sha256) == 0 ? QP_OK : QP_ECRYPTO;
out:
	saved = errno;
	bundle_hash_drop(&h);
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return err;
}

/* Adds one member from memory or (p == NULL) from the file f. 0 or -1 with errbuf set. */
static int
bundle_add(struct archive *a, const char *name, const char *p, size_t len,
    const struct bundle_file *f, char *buf, char *errbuf, size_t errlen)
{
	struct archive_entry *e = NULL;
	struct bundle_hash h = { NULL, 0 };
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	int64_t size = p != NULL ? (int64_t)len : f->size;
	ssize_t n;
	int fd = -1, rc = -1;

	if ((e = archive_entry_new()) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		snprintf(errbuf, errlen, "cannot write %s: %s", name, archive_error_string(a));
		goto out;
	}
	if (p != NULL) {
		if (archive_write_data(a, p, len) != (la_ssize_t)len) {
			snprintf(errbuf, errlen, "cannot write %s: %s", name,
			    archive_error_string(a));
			goto out;
		}
		rc = 0;
		goto out;
	}
	if ((fd = open(f->src, O_RDONLY | O_CLOEXEC)) < 0 || bundle_hash_begin(&h) != 0) {
		snprintf(errbuf, errlen, "cannot read %s: %s", f->src, strerror(errno));
		goto out;
	}
	while (h.size < size) {
		n = read(fd, buf, size - h.size < BUNDLE_CHUNK ? (size_t)(size - h.size) :
		    BUNDLE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (bundle_hash_add(&h, buf, (size_t)n) != 0 ||
		    archive_write_data(a, buf, (size_t)n) != n) {
			snprintf(errbuf, errlen, "cannot write %s: %s", name,
			    archive_error_string(a));
			goto out;
		}
	}
	if (h.size != size || bundle_hash_end(&h, hex) != 0 || strcmp(hex, f->sha256) != 0) {
		snprintf(errbuf, errlen, "%s changed while it was being archived", f->src);
		goto out;
	}
	rc = 0;
out:
	bundle_hash_drop(&h);
	if (fd >= 0)
		close(fd);
	archive_entry_free(e);
	return rc;
}

enum qp_err
bundle_write(const char *path, const char *manifest, const struct bundle_file *files,
    int nfiles, char *errbuf, size_t errlen)
{
	struct archive *a = NULL;
	char tmp[4096 + 8], *buf = NULL;
	int fd = -1, i, opened = 0;
	enum qp_err err = QP_EIO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(errbuf, errlen, "path too long: %s", path);
		return QP_ETOOBIG;
	}
	if (access(path, F_OK) == 0) {
		snprintf(errbuf, errlen, "%s exists already", path);
		return QP_EEXIST;
	}
	if ((buf = malloc(BUNDLE_CHUNK)) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return QP_ENOMEM;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(errbuf, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	opened = 1;
	if ((a = archive_write_new()) == NULL ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		snprintf(errbuf, errlen, "cannot start the archive: %s",
		    a != NULL ? archive_error_string(a) : "out of memory");
		goto out;
	}
	if (bundle_add(a, BUNDLE_MANIFEST, manifest, strlen(manifest), NULL, buf, errbuf,
	    errlen) != 0)
		goto out;
	for (i = 0; i < nfiles; i++)
		if (bundle_add(a, files[i].name, NULL, 0, &files[i], buf, errbuf, errlen) != 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		snprintf(errbuf, errlen, "cannot finish the archive: %s", archive_error_string(a));
		goto out;
	}
	if (fsync(fd) != 0) {
		snprintf(errbuf, errlen, "cannot sync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (link(tmp, path) != 0) {
		snprintf(errbuf, errlen, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	err = QP_OK;
out:
	if (a != NULL)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (opened)
		unlink(tmp);
	free(buf);
	return err;
}

/* Finds the manifest's entry for name; NULL if absent. */
static const cJSON *
bundle_listed(const cJSON *files, const char *name)
{
	const cJSON *f, *n;

	cJSON_ArrayForEach(f, files) {
		n = cJSON_GetObjectItemCaseSensitive(f, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return f;
	}
	return NULL;
}

/* Checks the manifest's shape; 0, or -1 with errbuf set. */
static int
bundle_check_manifest(const cJSON *m, char *errbuf, size_t errlen)
{
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(m, "format_version");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files"), *f, *x;
	const cJSON *name, *size, *sha;
	size_t i;

	if (!cJSON_IsObject(m) || !cJSON_IsString(fmt) ||
	    strcmp(fmt->valuestring, BUNDLE_FORMAT) != 0) {
		snprintf(errbuf, errlen, "not a quotapool backup (its manifest has no "
		    "\"format\": \"%s\")", BUNDLE_FORMAT);
		return -1;
	}
	if (!cJSON_IsNumber(ver) || ver->valuedouble != BUNDLE_FORMAT_VERSION) {
		snprintf(errbuf, errlen, "backup format version %g is not one this "
		    "quotapool reads (%d)", cJSON_IsNumber(ver) ? ver->valuedouble : 0.0,
		    BUNDLE_FORMAT_VERSION);
		return -1;
	}
	if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) > BUNDLE_FILES_MAX) {
		snprintf(errbuf, errlen, "the manifest's file list is missing or too long");
		return -1;
	}
	cJSON_ArrayForEach(f, files) {
		name = cJSON_GetObjectItemCaseSensitive(f, "name");
		size = cJSON_GetObjectItemCaseSensitive(f, "size");
		sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
		if (!cJSON_IsString(name) || !bundle_name_ok(name->valuestring) ||
		    strcmp(name->valuestring, BUNDLE_MANIFEST) == 0 ||
		    !cJSON_IsNumber(size) || size->valuedouble < 0 ||
		    size->valuedouble > (double)BUNDLE_MEMBER_MAX ||
		    !cJSON_IsString(sha) || strlen(sha->valuestring) != 2 * CRYPTO_SHA256_LEN) {
			snprintf(errbuf, errlen, "the manifest lists a file with a bad name, "
			    "size or sha256");
			return -1;
		}
		for (i = 0; i < 2 * CRYPTO_SHA256_LEN; i++)
			if (!((sha->valuestring[i] >= '0' && sha->valuestring[i] <= '9') ||
			    (sha->valuestring[i] >= 'a' && sha->valuestring[i] <= 'f'))) {
				snprintf(errbuf, errlen, "the manifest's sha256 of %s is not "
				    "lowercase hex", name->valuestring);
				return -1;
			}
		for (x = files->child; x != f; x = x->next)
			if (strcmp(cJSON_GetObjectItemCaseSensitive(x, "name")->valuestring,
			    name->valuestring) == 0) {
				snprintf(errbuf, errlen, "the manifest lists %s twice",
				    name->valuestring);
				return -1;
			}
	}
	return 0;
}

/* Reads the manifest member's bytes (at most BUNDLE_MANIFEST_MAX); parsed, or NULL. */
static cJSON *
bundle_read_manifest(struct archive *a, struct archive_entry *e, char *errbuf, size_t errlen)
{
	la_int64_t size = archive_entry_size(e);
	char *text = NULL;
	la_ssize_t n;
	size_t got = 0;
	cJSON *m = NULL;

	if (archive_entry_filetype(e) != AE_IFREG || size <= 0 || size > BUNDLE_MANIFEST_MAX) {
		snprintf(errbuf, errlen, "the manifest is not a file of 1 to %d bytes",
		    BUNDLE_MANIFEST_MAX);
		return NULL;
	}
	if ((text = malloc((size_t)size + 1)) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	while (got < (size_t)size) {
		n = archive_read_data(a, text + got, (size_t)size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)size) {
		snprintf(errbuf, errlen, "the manifest is cut short: %s",
		    archive_error_string(a) != NULL ? archive_error_string(a) : "truncated");
		free(text);
		return NULL;
	}
	text[got] = '\0';
	if ((m = cJSON_ParseWithLength(text, got)) == NULL)
		snprintf(errbuf, errlen, "the manifest is not valid JSON");
	free(text);
	return m;
}

/* Writes all of buf to fd; 0 or -1. */
static int
bundle_write_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads, hashes and (fd >= 0) copies one member; checks it against its listing. */
static int
bundle_read_member(struct archive *a, const char *name, const cJSON *listed, int fd,
    char *buf, char *errbuf, size_t errlen)
{
	struct bundle_hash h = { NULL, 0 };
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(listed, "size");
	const cJSON *sha = cJSON_GetObjectItemCaseSensitive(listed, "sha256");
	la_ssize_t n;
	int rc = -1;

	if (bundle_hash_begin(&h) != 0) {
		snprintf(errbuf, errlen, "cannot hash: libcrypto failed");
		return -1;
	}
	for (;;) {
		n = archive_read_data(a, buf, BUNDLE_CHUNK);
		if (n < 0) {
			snprintf(errbuf, errlen, "%s is damaged: %s", name,
			    archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		if ((double)(h.size + n) > size->valuedouble) {
			snprintf(errbuf, errlen, "%s is larger than its manifest says", name);
			goto out;
		}
		if (bundle_hash_add(&h, buf, (size_t)n) != 0 ||
		    (fd >= 0 && bundle_write_all(fd, buf, (size_t)n) != 0)) {
			snprintf(errbuf, errlen, "cannot extract %s: %s", name, strerror(errno));
			goto out;
		}
	}
	if ((double)h.size != size->valuedouble) {
		snprintf(errbuf, errlen, "%s has %lld bytes, its manifest says %.0f", name,
		    (long long)h.size, size->valuedouble);
		goto out;
	}
	if (bundle_hash_end(&h, hex) != 0 || strcmp(hex, sha->valuestring) != 0) {
		snprintf(errbuf, errlen, "%s does not match its sha256 in the manifest", name);
		goto out;
	}
	rc = 0;
out:
	bundle_hash_drop(&h);
	return rc;
}

cJSON *
bundle_read(const char *path, const char *dir, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct archive *a = NULL;
	struct archive_entry *e;
	const cJSON *files, *listed;
	cJSON *m = NULL;
	char *buf = NULL, out[4096 + BUNDLE_NAME_MAX + 2];
	unsigned char seen[BUNDLE_FILES_MAX];
	const char *name;
	int r, idx, fd = -1, nfiles, written[BUNDLE_FILES_MAX], i, ok = 0;

	*err = QP_EPARSE;
	memset(seen, 0, sizeof(seen));
	memset(written, 0, sizeof(written));
	if ((buf = malloc(BUNDLE_CHUNK)) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if ((a = archive_read_new()) == NULL ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "cannot start reading: out of memory");
		goto out;
	}
	if (archive_read_open_filename(a, path, BUNDLE_CHUNK) != ARCHIVE_OK) {
		*err = errno == ENOENT ? QP_ENOTFOUND : QP_EPARSE;
		snprintf(errbuf, errlen, "cannot read %s: %s", path, archive_error_string(a));
		goto out;
	}
	r = archive_read_next_header(a, &e);
	if (r != ARCHIVE_OK || strcmp(archive_entry_pathname(e), BUNDLE_MANIFEST) != 0) {
		snprintf(errbuf, errlen, "%s is not a quotapool backup: its first member is "
		    "not %s%s%s", path, BUNDLE_MANIFEST, r != ARCHIVE_OK ? " (" : "",
		    r != ARCHIVE_OK ? archive_error_string(a) : "");
		if (r != ARCHIVE_OK)
			strncat(errbuf, ")", errlen - strlen(errbuf) - 1);
		goto out;
	}
	if ((m = bundle_read_manifest(a, e, errbuf, errlen)) == NULL ||
	    bundle_check_manifest(m, errbuf, errlen) != 0)
		goto out;
	files = cJSON_GetObjectItemCaseSensitive(m, "files");
	nfiles = cJSON_GetArraySize(files);
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			snprintf(errbuf, errlen, "%s is damaged: %s", path,
			    archive_error_string(a));
			goto out;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || !bundle_name_ok(name) ||
		    archive_entry_filetype(e) != AE_IFREG ||
		    (listed = bundle_listed(files, name)) == NULL) {
			snprintf(errbuf, errlen, "%s holds a member the manifest does not "
			    "list or that is not a plain file: %.80s", path,
			    name != NULL ? name : "(no name)");
			goto out;
		}
		for (idx = 0; cJSON_GetArrayItem(files, idx) != listed; idx++)
			;
		if (seen[idx]) {
			snprintf(errbuf, errlen, "%s holds %s twice", path, name);
			goto out;
		}
		seen[idx] = 1;
		fd = -1;
		if (dir != NULL) {
			snprintf(out, sizeof(out), "%s/%s", dir, name);
			if ((fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
				*err = QP_EIO;
				snprintf(errbuf, errlen, "cannot create %s: %s", out,
				    strerror(errno));
				goto out;
			}
			written[idx] = 1;
		}
		if (bundle_read_member(a, name, listed, fd, buf, errbuf, errlen) != 0)
			goto out;
		if (fd >= 0) {
			if (fsync(fd) != 0 || close(fd) != 0) {
				fd = -1;
				*err = QP_EIO;
				snprintf(errbuf, errlen, "cannot write %s: %s", out,
				    strerror(errno));
				goto out;
			}
			fd = -1;
		}
	}
	for (i = 0; i < nfiles; i++)
		if (!seen[i]) {
			snprintf(errbuf, errlen, "%s is incomplete: %s is missing", path,
			    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(files, i),
			    "name")->valuestring);
			goto out;
		}
	ok = 1;
out:
	if (fd >= 0)
		close(fd);
	if (!ok && dir != NULL && m != NULL) {
		files = cJSON_GetObjectItemCaseSensitive(m, "files");
		for (i = 0; i < BUNDLE_FILES_MAX && i < cJSON_GetArraySize(files); i++)
			if (written[i]) {
				snprintf(out, sizeof(out), "%s/%s", dir,
				    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(files,
				    i), "name")->valuestring);
				unlink(out);
			}
	}
	if (a != NULL)
		archive_read_free(a);
	free(buf);
	if (!ok) {
		cJSON_Delete(m);
		return NULL;
	}
	*err = QP_OK;
	return m;
}
