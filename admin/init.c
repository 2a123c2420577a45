/* init.c: quotapool-admin init DIR: a ready-to-serve instance in one directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "crypto.h"
#include "keys.h"
#include "paths.h"

#define INIT_EXAMPLE_MAX	(1024 * 1024)

/* Reads a whole small file; returns malloc'd text or NULL with errno set. */
static char *
init_slurp(const char *path, size_t *len)
{
	FILE *f;
	char *buf = NULL;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc(INIT_EXAMPLE_MAX + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, INIT_EXAMPLE_MAX + 1, f);
	if (ferror(f) || n > INIT_EXAMPLE_MAX) {
		free(buf);
		fclose(f);
		errno = EFBIG;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Writes text to path atomically (temporary file, fsync, rename), mode 0600. */
static int
init_write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 16];
	size_t len = strlen(text), off = 0;
	ssize_t w;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	while (off < len) {
		w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

static int
init_count_key(const struct keys_info *k, void *arg)
{

	if (k->revoked_at == 0)
		(*(int *)arg)++;
	return 0;
}

int
cmd_init(struct admin *a, int argc, char **argv)
{
	char dir[PATH_MAX], cfgpath[PATH_MAX], data[PATH_MAX], expath[PATH_MAX];
	char key[KEYS_TEXT_LEN + 1], errbuf[256];
	const char *dirarg = NULL;
	char *ex = NULL, *text = NULL;
	struct keys_db *k = NULL;
	struct stat st;
	size_t exlen = 0;
	enum qp_err err;
	int i, port = 11300, port_given = 0, nkeys = 0, rc = 1, probe = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if ((port = admin_parse_port(argv[++i])) < 0) {
				admin_err("--port: expected a number from 1 to 65535");
				return 1;
			}
			port_given = 1;
		} else if (strcmp(argv[i], "--no-probe") == 0)
			probe = 0;
		else if (dirarg == NULL && argv[i][0] != '-')
			dirarg = argv[i];
		else {
			admin_err("usage: quotapool-admin init DIR [--port N] [--no-probe]");
			return 1;
		}
	}
	if (dirarg == NULL) {
		admin_err("usage: quotapool-admin init DIR [--port N]");
		return 1;
	}
	if (paths_mkdirs(dirarg, 0700) != QP_OK) {
		admin_err("cannot create %s: %s", dirarg, strerror(errno));
		return 1;
	}
	if (realpath(dirarg, dir) == NULL) {
		admin_err("cannot resolve %s: %s", dirarg, strerror(errno));
		return 1;
	}
	if (paths_join(cfgpath, sizeof(cfgpath), dir, "config.toml") != QP_OK) {
		admin_err("path too long: %s", dir);
		return 1;
	}

	if (stat(cfgpath, &st) == 0) {
		printf("keeping the existing %s%s\n", cfgpath, port_given ?
		    " (its [server] port is kept; edit it to change the port)" : "");
	} else {
		if (paths_datadir(data, sizeof(data)) != QP_OK ||
		    paths_join(expath, sizeof(expath), data,
		    "config.example.toml") != QP_OK) {
			admin_err("cannot locate the data directory");
			goto out;
		}
		if ((ex = init_slurp(expath, &exlen)) == NULL) {
			admin_err("cannot read %s: %s", expath, strerror(errno));
			goto out;
		}
		if ((text = config_instance_text(ex, exlen, port, "state",
		    "quotapool.db", &err)) == NULL) {
			admin_err("cannot make a configuration from %s: %s", expath,
			    qp_strerror(err));
			goto out;
		}
		if (init_write_file(cfgpath, text) != 0) {
			admin_err("cannot write %s: %s", cfgpath, strerror(errno));
			goto out;
		}
		printf("created %s\n", cfgpath);
	}

	a->config_arg = cfgpath;
	if (admin_load_config(a) != 0)
		goto out;
	if (paths_mkdirs(a->cfg->server.state_dir, 0700) != QP_OK) {
		admin_err("cannot create %s: %s", a->cfg->server.state_dir,
		    strerror(errno));
		goto out;
	}
	if (admin_migrate(a, 0) != 0)
		goto out;
	/* A model runtime on this machine is served with no editing. */
	if (probe && connect_probe_local(a) < 0)
		goto out;
	if ((k = keys_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	if (keys_list(k, init_count_key, &nkeys) != QP_OK) {
		admin_err("cannot list keys");
		goto out;
	}
	if (nkeys == 0) {
		if ((err = keys_create(k, "default", KEYS_ROLE_CLIENT, 0, key)) != QP_OK) {
			admin_err("cannot create the first key: %s", qp_strerror(err));
			goto out;
		}
		printf("client key 'default' (shown only once, store it now):\n%s\n",
		    key);
		crypto_wipe(key, sizeof(key));
	} else
		printf("%d key%s already issued; add one with: quotapool-admin "
		    "--config %s key new NAME\n", nkeys, nkeys == 1 ? "" : "s",
		    cfgpath);
	printf("next: quotapool-admin --config %s serve\n", cfgpath);
	rc = 0;
out:
	keys_db_free(k);
	free(text);
	free(ex);
	return rc;
}
