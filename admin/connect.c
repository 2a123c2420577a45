/* connect.c: quotapool-admin connect list|NAME: providers added from templates, keys checked live. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admin.h"
#include "catalog.h"
#include "crypto.h"
#include "paths.h"
#include "toml.h"

/* Longest key read from a prompt or standard input. */
#define CONNECT_KEY_MAX		4096
/* Largest configuration, .env or template file read. */
#define CONNECT_FILE_MAX	(1024 * 1024)
/* Variables tried for one template's key: VAR, VAR_2 ... VAR_99. */
#define CONNECT_VARS_MAX	99
/* Probe of a local runtime: connect and total timeouts (ms), body bound. */
#define CONNECT_PROBE_CONNECT_MS 300
#define CONNECT_PROBE_TOTAL_MS	1500
#define CONNECT_PROBE_BODY_MAX	(1024 * 1024)

/* One template of providers/templates.toml (strings borrowed from the tree). */
struct connect_tpl {
	const char	*id;		/* table name: the provider id */
	const char	*name;		/* shown */
	const char	*base_url;
	const struct toml_value *protocols; /* array of strings */
	const char	*auth;		/* NULL = the provider's default */
	const char	*key_env;	/* NULL for keyless runtimes */
	const char	*models_path;	/* NULL = "/models" */
	int		 local;		/* a runtime on this machine */
};

/* The loaded templates. */
struct connect_set {
	struct toml_value *root;	/* owned */
	struct connect_tpl *t;		/* owned array */
	int		 n;
};

/* What `connect` adds. */
struct connect_opts {
	const char	*id;		/* provider id, default the template's */
	const char	*base_url;	/* default the template's */
	const char	*account;	/* account name, default ID-N */
	const char	*key_env;	/* variable for the key, default the template's */
	int		 key_stdin;	/* read the key from standard input */
	int		 no_check;	/* skip the live models call */
	int		 quiet;
};

/* Reads a whole file (at most CONNECT_FILE_MAX); malloc'd text or NULL (errno). *len may be NULL. */
static char *
connect_slurp(const char *path, size_t *len)
{
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc(CONNECT_FILE_MAX + 1)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, CONNECT_FILE_MAX + 1, f);
	if (ferror(f) || n > CONNECT_FILE_MAX) {
		fclose(f);
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

/*
 * Gives the new file fd the group of the file at path and its group-read
 * bit (0640), or, for a new file, those of path's directory when others
 * cannot enter it: a configuration installed 0640 root:quotapool (Debian
 * package) stays readable by the gateway after root edits it. Never any
 * bit for others. 0 or -1.
 */
static int
connect_share_group(int fd, const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (stat(path, &st) != 0) {
		if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
			return 0;
		if ((slash = strrchr(dir, '/')) == NULL)
			memcpy(dir, ".", 2);
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st) != 0 || (st.st_mode & 007) != 0)
			return 0;
	}
	if (!(st.st_mode & S_IRGRP) || st.st_gid == getegid())
		return 0;
	if (fchown(fd, (uid_t)-1, st.st_gid) != 0 || fchmod(fd, 0640) != 0)
		return -1;
	return 0;
}

/* Writes text to path through path.tmp (0600, synced, renamed); keeps path.bak. 0 or -1. */
static int
connect_replace(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8], bak[PATH_MAX + 8];
	size_t len = strlen(text), off = 0;
	ssize_t w;
	char *old;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (size_t)snprintf(bak, sizeof(bak), "%s.bak", path) >= sizeof(bak)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((old = connect_slurp(path, NULL)) != NULL) {
		/* The .bak is the file as it was; written the same careful way. */
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
			free(old);
			return -1;
		}
		len = strlen(old);
		while (off < len) {
			w = write(fd, old + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				close(fd);
				free(old);
				unlink(tmp);
				return -1;
			}
			off += (size_t)w;
		}
		crypto_wipe(old, len);
		free(old);
		if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, bak) != 0) {
			unlink(tmp);
			return -1;
		}
	} else if (errno != ENOENT)
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (connect_share_group(fd, path) != 0)
		goto fail;
	len = strlen(text);
	off = 0;
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
	if (close(fd) != 0) {
		unlink(tmp);
		return -1;
	}
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

/* A string field of a template table, or NULL. */
static const char *
connect_str(const struct toml_value *t, const char *key)
{
	const struct toml_value *v = toml_get(t, key);

	return v != NULL && v->type == TOML_STRING ? v->u.str.ptr : NULL;
}

static void
connect_set_free(struct connect_set *s)
{

	free(s->t);
	toml_free(s->root);
	memset(s, 0, sizeof(*s));
}

/* Loads the templates from the data directory. 0, or -1 with a message printed. */
static int
connect_load(struct connect_set *s)
{
	char data[PATH_MAX], path[PATH_MAX], *text = NULL;
	struct toml_error te;
	const struct toml_value *tab, *loc;
	size_t len = 0, i;

	memset(s, 0, sizeof(*s));
	if (paths_datadir(data, sizeof(data)) != QP_OK ||
	    paths_join(path, sizeof(path), data, "providers/templates.toml") != QP_OK) {
		admin_err("cannot locate the data directory");
		return -1;
	}
	if ((text = connect_slurp(path, &len)) == NULL) {
		admin_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	s->root = toml_parse(text, len, &te);
	free(text);
	if (s->root == NULL) {
		admin_err("%s:%u:%u: %s", path, te.line, te.col, te.msg);
		return -1;
	}
	if ((s->t = calloc(s->root->u.tab.n + 1, sizeof(*s->t))) == NULL) {
		admin_err("out of memory");
		connect_set_free(s);
		return -1;
	}
	for (i = 0; i < s->root->u.tab.n; i++) {
		tab = s->root->u.tab.items[i].val;
		if (tab->type != TOML_TABLE)
			continue;
		s->t[s->n].id = s->root->u.tab.items[i].key;
		s->t[s->n].name = connect_str(tab, "name");
		s->t[s->n].base_url = connect_str(tab, "base_url");
		s->t[s->n].protocols = toml_get(tab, "protocols");
		s->t[s->n].auth = connect_str(tab, "auth");
		s->t[s->n].key_env = connect_str(tab, "key_env");
		s->t[s->n].models_path = connect_str(tab, "models_path");
		loc = toml_get(tab, "local");
		s->t[s->n].local = loc != NULL && loc->type == TOML_BOOL && loc->u.b;
		if (s->t[s->n].name == NULL || s->t[s->n].base_url == NULL ||
		    s->t[s->n].protocols == NULL || s->t[s->n].protocols->type != TOML_ARRAY ||
		    (s->t[s->n].key_env == NULL && (s->t[s->n].auth == NULL ||
		    strcmp(s->t[s->n].auth, "none") != 0))) {
			admin_err("%s: template [%s] needs name, base_url, protocols and "
			    "key_env (or auth = \"none\")", path, s->t[s->n].id);
			connect_set_free(s);
			return -1;
		}
		s->n++;
	}
	return 0;
}

static const struct connect_tpl *
connect_find(const struct connect_set *s, const char *id)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->t[i].id, id) == 0)
			return &s->t[i];
	return NULL;
}

/* Appends s to a growing text, as a TOML basic string. 0 or -1. */
static int
connect_cat(char **buf, size_t *len, size_t *cap, const char *s, int quoted)
{
	size_t need = strlen(s) * 6 + 3, i;
	char *nb;
	unsigned char c;

	if (*len + need + 1 > *cap) {
		*cap = (*len + need + 1) * 2;
		if ((nb = realloc(*buf, *cap)) == NULL)
			return -1;
		*buf = nb;
	}
	if (quoted)
		(*buf)[(*len)++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		c = (unsigned char)s[i];
		if (quoted && (c == '"' || c == '\\')) {
			(*buf)[(*len)++] = '\\';
			(*buf)[(*len)++] = (char)c;
		} else if (quoted && (c < 0x20 || c == 0x7f))
			*len += (size_t)sprintf(*buf + *len, "\\u%04x", c);
		else
			(*buf)[(*len)++] = (char)c;
	}
	if (quoted)
		(*buf)[(*len)++] = '"';
	(*buf)[*len] = '\0';
	return 0;
}

/* Returns 1 if name is an account of any provider in the parsed config. */
static int
connect_account_taken(const struct toml_value *root, const char *name)
{
	const struct toml_value *provs = toml_get(root, "providers"), *accs, *n;
	size_t i, j;

	if (provs == NULL || provs->type != TOML_TABLE)
		return 0;
	for (i = 0; i < provs->u.tab.n; i++) {
		accs = toml_get(provs->u.tab.items[i].val, "accounts");
		if (accs == NULL || accs->type != TOML_ARRAY)
			continue;
		for (j = 0; j < accs->u.arr.n; j++) {
			n = toml_get(accs->u.arr.items[j], "name");
			if (n != NULL && n->type == TOML_STRING && strcmp(n->u.str.ptr, name) == 0)
				return 1;
		}
	}
	return 0;
}

/* The value of VAR in .env text (last line wins), copied into out; 1 if found. */
static int
connect_env_get(const char *env, const char *var, char *out, size_t outlen)
{
	size_t n = strlen(var);
	const char *p = env, *e;
	int found = 0;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		e = strchr(p, '\n');
		if (strncmp(p, var, n) == 0 && p[n] == '=') {
			snprintf(out, outlen, "%.*s", (int)((e != NULL ? e : p + strlen(p)) -
			    (p + n + 1)), p + n + 1);
			found = 1;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return found;
}

/* Reads a key: a prompt without echo on a terminal, or one line of standard input. */
static int
connect_read_key(const char *what, int from_stdin, char *key, size_t len)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO), echo_off = 0;
	size_t n;

	if (!from_stdin && !tty)
		return -1;
	if (tty) {
		fprintf(stderr, "API key for %s (not shown): ", what);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
		}
	}
	if (fgets(key, (int)len, stdin) == NULL)
		key[0] = '\0';
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(key);
	while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
		key[--n] = '\0';
	return n > 0 ? 0 : -1;
}

/* Checks the new account with a live models call, as the catalog refresh makes it. */
static int
connect_check(const struct config *cfg, const char *id, const char *account, int quiet)
{
	const struct config_provider *p = config_provider(cfg, id);
	const struct config_account *acc = NULL;
	struct catalog_fetcher *f = NULL;
	struct catalog_list l;
	struct catalog_ping ping;
	enum qp_err err;
	int i, rc = -1;

	for (i = 0; p != NULL && i < p->naccounts; i++)
		if (strcmp(p->accounts[i].name, account) == 0)
			acc = &p->accounts[i];
	if (p == NULL || acc == NULL) {
		admin_err("the new account is missing from the configuration read back");
		return -1;
	}
	memset(&l, 0, sizeof(l));
	memset(&ping, 0, sizeof(ping));
	if ((f = catalog_fetcher_new(NULL, &err)) == NULL) {
		admin_err("cannot make an HTTP client: %s", qp_strerror(err));
		return -1;
	}
	err = catalog_fetch(f, cfg, p, acc, &l, &ping);
	if (err != QP_OK || l.n == 0) {
		if (ping.status_code > 0)
			admin_err("%s%s answered %d to the models list (%s): the key or URL is "
			    "not right; nothing was changed (--no-check skips this check)",
			    p->base_url, p->models_path != NULL ? p->models_path : "",
			    ping.status_code, ping.error[0] ? ping.error : qp_strerror(err));
		else
			admin_err("%s did not answer the models list (%s); nothing was changed "
			    "(--no-check skips this check)", p->base_url,
			    ping.error[0] ? ping.error : (err == QP_OK ? "empty list" :
			    qp_strerror(err)));
		goto out;
	}
	if (!quiet) {
		printf("%s answered with %d model%s:", p->base_url, l.n, l.n == 1 ? "" : "s");
		for (i = 0; i < l.n && i < 8; i++)
			printf(" %s", l.models[i].id);
		printf("%s\n", l.n > 8 ? " ..." : "");
	}
	rc = 0;
out:
	catalog_list_free(&l);
	catalog_fetcher_free(f);
	return rc;
}

/*
 * Adds template t to the configuration of a (file a->config_path): a
 * provider block (or, when the id is configured already, one more account),
 * the key in the .env beside it under its variable. The new text is loaded
 * and, unless opts->no_check, the key checked with a live models call
 * before anything is written. 0 or -1 (message printed).
 */
static int
connect_add(struct admin *a, const struct connect_tpl *t, const struct connect_opts *o,
    const char *key)
{
	const char *id = o->id != NULL ? o->id : t->id;
	const char *base = o->base_url != NULL ? o->base_url : t->base_url;
	const char *var_base = o->key_env != NULL ? o->key_env : t->key_env;
	char acct[128], var[128], envpath[PATH_MAX], cur[CONNECT_KEY_MAX + 1], num[16];
	char *cfgtext = NULL, *envtext = NULL, *out = NULL, *envout = NULL;
	size_t len = 0, cap = 0, elen = 0, ecap = 0, i;
	struct toml_value *root = NULL;
	struct toml_error te;
	struct config_diag diag = { NULL, 0, 0 };
	struct config *cfg = NULL;
	const struct toml_value *provs;
	int exists, n, rc = -1, env_has = 0, keyless = t->key_env == NULL && o->key_env == NULL;
	enum qp_err err;

	if ((cfgtext = connect_slurp(a->config_path, &len)) == NULL) {
		admin_err("cannot read %s: %s", a->config_path, strerror(errno));
		return -1;
	}
	if ((root = toml_parse(cfgtext, len, &te)) == NULL) {
		admin_err("%s:%u:%u: %s", a->config_path, te.line, te.col, te.msg);
		goto out;
	}
	provs = toml_get(root, "providers");
	exists = toml_get(provs, id) != NULL;
	/* The account's name: given, or the first free ID-N. */
	if (o->account != NULL) {
		if (connect_account_taken(root, o->account)) {
			admin_err("an account named '%s' exists already", o->account);
			goto out;
		}
		snprintf(acct, sizeof(acct), "%s", o->account);
	} else {
		for (n = 1; n < 1000; n++) {
			snprintf(acct, sizeof(acct), "%s-%d", id, n);
			if (!connect_account_taken(root, acct))
				break;
		}
	}
	/* The key's variable: the first one the .env does not hold another key in. */
	var[0] = '\0';
	if (!keyless) {
		if (paths_join(envpath, sizeof(envpath), a->cfg->dir, ".env") != QP_OK) {
			admin_err("path too long: %s", a->cfg->dir);
			goto out;
		}
		if ((envtext = connect_slurp(envpath, &elen)) == NULL && errno != ENOENT) {
			admin_err("cannot read %s: %s", envpath, strerror(errno));
			goto out;
		}
		for (n = 1; n <= CONNECT_VARS_MAX; n++) {
			snprintf(num, sizeof(num), "_%d", n);
			snprintf(var, sizeof(var), "%s%s", var_base, n > 1 ? num : "");
			env_has = envtext != NULL && connect_env_get(envtext, var, cur,
			    sizeof(cur));
			if (!env_has || strcmp(cur, key) == 0)
				break;
		}
		crypto_wipe(cur, sizeof(cur));
		if (n > CONNECT_VARS_MAX) {
			admin_err("%s holds %d keys for %s already", envpath, CONNECT_VARS_MAX,
			    var_base);
			goto out;
		}
	}
	/* The new configuration: the old text, untouched, and the new block. */
	out = cfgtext;
	cfgtext = NULL;
	cap = len + 1;
	if ((len > 0 && out[len - 1] != '\n' && connect_cat(&out, &len, &cap, "\n", 0) != 0) ||
	    connect_cat(&out, &len, &cap, "\n", 0) != 0)
		goto nomem;
	if (!exists) {
		if (connect_cat(&out, &len, &cap, "# ", 0) != 0 ||
		    connect_cat(&out, &len, &cap, t->name, 0) != 0 ||
		    connect_cat(&out, &len, &cap, ", added by quotapool-admin connect\n"
		    "[providers.", 0) != 0 ||
		    connect_cat(&out, &len, &cap, id, 0) != 0 ||
		    connect_cat(&out, &len, &cap, "]\nbase_url = ", 0) != 0 ||
		    connect_cat(&out, &len, &cap, base, 1) != 0 ||
		    connect_cat(&out, &len, &cap, "\nprotocols = [", 0) != 0)
			goto nomem;
		for (i = 0; i < t->protocols->u.arr.n; i++) {
			if (t->protocols->u.arr.items[i]->type != TOML_STRING)
				continue;
			if ((i > 0 && connect_cat(&out, &len, &cap, ", ", 0) != 0) ||
			    connect_cat(&out, &len, &cap,
			    t->protocols->u.arr.items[i]->u.str.ptr, 1) != 0)
				goto nomem;
		}
		if (connect_cat(&out, &len, &cap, "]\n", 0) != 0 ||
		    (t->auth != NULL && (connect_cat(&out, &len, &cap, "auth = ", 0) != 0 ||
		    connect_cat(&out, &len, &cap, t->auth, 1) != 0 ||
		    connect_cat(&out, &len, &cap, "\n", 0) != 0)) ||
		    (t->models_path != NULL && (connect_cat(&out, &len, &cap,
		    "models_path = ", 0) != 0 || connect_cat(&out, &len, &cap,
		    t->models_path, 1) != 0 || connect_cat(&out, &len, &cap, "\n", 0) != 0)))
			goto nomem;
	} else if (connect_cat(&out, &len, &cap, "# one more account, added by "
	    "quotapool-admin connect\n", 0) != 0)
		goto nomem;
	if (connect_cat(&out, &len, &cap, "[[providers.", 0) != 0 ||
	    connect_cat(&out, &len, &cap, id, 0) != 0 ||
	    connect_cat(&out, &len, &cap, ".accounts]]\nname = ", 0) != 0 ||
	    connect_cat(&out, &len, &cap, acct, 1) != 0 ||
	    connect_cat(&out, &len, &cap, "\n", 0) != 0 ||
	    (!keyless && (connect_cat(&out, &len, &cap, "api_key_env = ", 0) != 0 ||
	    connect_cat(&out, &len, &cap, var, 1) != 0 ||
	    connect_cat(&out, &len, &cap, "\n", 0) != 0)))
		goto nomem;
	/* Read back as the gateway will, the key in the environment for it. */
	if (!keyless && setenv(var, key, 1) != 0)
		goto nomem;
	cfg = config_load_buf(out, len, a->config_path, &diag, &err);
	config_diag_print(&diag, a->config_path, stderr);
	config_diag_free(&diag);
	if (cfg == NULL) {
		admin_err("the configuration with %s added is not valid (see above); nothing "
		    "was changed", id);
		goto out;
	}
	if (!o->no_check && connect_check(cfg, id, acct, o->quiet) != 0)
		goto out;
	/* The key first, so that the configuration never names a missing one. */
	if (!keyless && !env_has) {
		envout = envtext;
		envtext = NULL;
		ecap = elen + 1;
		if (envout == NULL && (envout = calloc(1, 1)) == NULL)
			goto nomem;
		if ((elen > 0 && envout[elen - 1] != '\n' &&
		    connect_cat(&envout, &elen, &ecap, "\n", 0) != 0) ||
		    connect_cat(&envout, &elen, &ecap, var, 0) != 0 ||
		    connect_cat(&envout, &elen, &ecap, "=", 0) != 0 ||
		    connect_cat(&envout, &elen, &ecap, key, 0) != 0 ||
		    connect_cat(&envout, &elen, &ecap, "\n", 0) != 0)
			goto nomem;
		if (connect_replace(envpath, envout) != 0) {
			admin_err("cannot write %s: %s; nothing was changed", envpath,
			    strerror(errno));
			goto out;
		}
	}
	if (connect_replace(a->config_path, out) != 0) {
		admin_err("cannot write %s: %s", a->config_path, strerror(errno));
		goto out;
	}
	printf("added %s as [providers.%s], account %s\n", t->name, id, acct);
	if (!keyless)
		printf("  its key is %s in %s%s\n", var, envpath,
		    env_has ? " (there already)" : "");
	printf("  previous configuration kept as %s.bak; restart the gateway to serve it\n",
	    a->config_path);
	rc = 0;
	goto out;
nomem:
	admin_err("out of memory");
out:
	config_free(cfg);
	toml_free(root);
	free(cfgtext);
	free(out);
	if (envtext != NULL) {
		crypto_wipe(envtext, strlen(envtext));
		free(envtext);
	}
	if (envout != NULL) {
		crypto_wipe(envout, strlen(envout));
		free(envout);
	}
	return rc;
}

/* Returns 1 for a provider id: [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?, at most 64 bytes. */
static int
connect_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > 64 || id[0] == '-' || id[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return 0;
	return 1;
}

static int
connect_usage(void)
{

	admin_err("usage: quotapool-admin connect list [--json] | connect NAME [--id ID] "
	    "[--base-url URL] [--account NAME] [--key-env VAR] [--key-stdin] [--no-check]");
	return 2;
}

static int
connect_list(const struct connect_set *s, int json)
{
	cJSON *arr = NULL, *o;
	char *text;
	int i;

	if (json) {
		if ((arr = cJSON_CreateArray()) == NULL)
			return 1;
		for (i = 0; i < s->n; i++) {
			if ((o = cJSON_CreateObject()) == NULL)
				break;
			cJSON_AddItemToArray(arr, o);
			cJSON_AddStringToObject(o, "id", s->t[i].id);
			cJSON_AddStringToObject(o, "name", s->t[i].name);
			cJSON_AddStringToObject(o, "base_url", s->t[i].base_url);
			cJSON_AddBoolToObject(o, "local", s->t[i].local);
			if (s->t[i].key_env != NULL)
				cJSON_AddStringToObject(o, "key_env", s->t[i].key_env);
		}
		if ((text = cJSON_Print(arr)) != NULL) {
			printf("%s\n", text);
			free(text);
		}
		cJSON_Delete(arr);
		return 0;
	}
	printf("%-12s %-38s %s\n", "NAME", "PROVIDER", "BASE URL");
	for (i = 0; i < s->n; i++)
		printf("%-12s %-38s %s\n", s->t[i].id, s->t[i].name, s->t[i].base_url);
	return 0;
}

int
cmd_connect(struct admin *a, int argc, char **argv)
{
	struct connect_set s;
	struct connect_opts o;
	const struct connect_tpl *t;
	const char *name = NULL, *var;
	char key[CONNECT_KEY_MAX + 1];
	int i, json = 0, rc = 1;

	memset(&o, 0, sizeof(o));
	key[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--key-stdin") == 0)
			o.key_stdin = 1;
		else if (strcmp(argv[i], "--no-check") == 0)
			o.no_check = 1;
		else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
			o.id = argv[++i];
		else if (strcmp(argv[i], "--base-url") == 0 && i + 1 < argc)
			o.base_url = argv[++i];
		else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			o.account = argv[++i];
		else if (strcmp(argv[i], "--key-env") == 0 && i + 1 < argc)
			o.key_env = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 || strncmp(argv[i], "--key=", 6) == 0 ||
		    strcmp(argv[i], "--api-key") == 0) {
			admin_err("keys are never taken as arguments (they would show in ps and "
			    "the shell's history): give --key-stdin, set the variable named by "
			    "--key-env, or run in a terminal to be asked");
			return 2;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin connect list [--json]\n"
			    "       quotapool-admin connect NAME [--id ID] [--base-url URL] "
			    "[--account NAME]\n"
			    "                               [--key-env VAR] [--key-stdin] "
			    "[--no-check]\n\n"
			    "Adds provider NAME (see connect list) to the configuration: a "
			    "[providers.ID]\nblock, or one more account when ID is configured. "
			    "The key is asked for on a\nterminal, read from standard input with "
			    "--key-stdin, or taken from the\nvariable VAR (default the "
			    "template's); it is kept in the .env beside the\nconfiguration (mode "
			    "0600), never in the configuration. The key is checked with\na live "
			    "models call first. Comments are kept; the previous files stay as\n"
			    ".bak. Exit 0 on success, 1 on any failure, 2 on bad usage.\n");
			return 0;
		} else if (name == NULL && argv[i][0] != '-')
			name = argv[i];
		else
			return connect_usage();
	}
	if (name == NULL)
		return connect_usage();
	if (connect_load(&s) != 0)
		return 1;
	if (strcmp(name, "list") == 0) {
		rc = connect_list(&s, json);
		goto out;
	}
	if ((t = connect_find(&s, name)) == NULL) {
		admin_err("no provider template named '%s' (see quotapool-admin connect list)",
		    name);
		goto out;
	}
	if (o.id != NULL && !connect_id_ok(o.id)) {
		admin_err("--id: use letters, digits and inner '-'");
		goto out;
	}
	if (admin_load_config(a) != 0)
		goto out;
	if (t->key_env != NULL || o.key_env != NULL) {
		var = o.key_env != NULL ? o.key_env : t->key_env;
		if (o.key_stdin || (isatty(STDIN_FILENO) && getenv(var) == NULL)) {
			if (connect_read_key(t->name, o.key_stdin, key, sizeof(key)) != 0) {
				admin_err("no key read for %s", t->name);
				goto out;
			}
		} else if (getenv(var) != NULL && getenv(var)[0] != '\0')
			snprintf(key, sizeof(key), "%s", getenv(var));
		else {
			admin_err("no key for %s: give it on standard input with --key-stdin, set "
			    "%s, or run in a terminal to be asked", t->name, var);
			goto out;
		}
	}
	rc = connect_add(a, t, &o, key) == 0 ? 0 : 1;
out:
	crypto_wipe(key, sizeof(key));
	connect_set_free(&s);
	return rc;
}

/* ---- local runtimes, probed by init ---------------------------------------- */

static size_t
connect_probe_body(char *p, size_t size, size_t n, void *arg)
{
	struct { char *buf; size_t len; } *b = arg;
	size_t add = size * n;

	if (b->len + add > CONNECT_PROBE_BODY_MAX)
		return 0;
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	return add;
}

/* Returns the number of models a local runtime at base lists, or -1 if it does not answer. */
static int
connect_probe(const char *base, const char *models_path)
{
	struct { char *buf; size_t len; } b = { NULL, 0 };
	struct catalog_list l;
	char url[2048];
	CURL *c = NULL;
	long status = 0;
	int n = -1;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", base,
	    models_path != NULL ? models_path : "/models") >= sizeof(url))
		return -1;
	if ((b.buf = malloc(CONNECT_PROBE_BODY_MAX)) == NULL || (c = curl_easy_init()) == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_PROBE_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CONNECT_PROBE_TOTAL_MS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, connect_probe_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK ||
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
	    status != 200)
		goto out;
	memset(&l, 0, sizeof(l));
	if (catalog_parse(b.buf, b.len, &l) == QP_OK)
		n = l.n;
	catalog_list_free(&l);
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	free(b.buf);
	return n;
}

int
connect_probe_local(struct admin *a)
{
	struct connect_set s;
	struct connect_opts o;
	struct toml_value *root = NULL;
	struct toml_error te;
	char *text = NULL;
	size_t len = 0;
	int i, n, added = 0;

	if (connect_load(&s) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.no_check = 1;
	for (i = 0; i < s.n; i++) {
		if (!s.t[i].local)
			continue;
		/* A runtime configured already is left as it is. */
		if ((text = connect_slurp(a->config_path, &len)) != NULL &&
		    (root = toml_parse(text, len, &te)) != NULL &&
		    toml_get(toml_get(root, "providers"), s.t[i].id) != NULL) {
			toml_free(root);
			free(text);
			root = NULL;
			text = NULL;
			continue;
		}
		toml_free(root);
		free(text);
		root = NULL;
		text = NULL;
		if ((n = connect_probe(s.t[i].base_url, s.t[i].models_path)) < 0)
			continue;
		printf("found %s at %s with %d model%s\n", s.t[i].name, s.t[i].base_url, n,
		    n == 1 ? "" : "s");
		if (connect_add(a, &s.t[i], &o, "") == 0)
			added++;
		config_free(a->cfg);
		a->cfg = NULL;
		if (admin_load_config(a) != 0)
			break;
	}
	connect_set_free(&s);
	return added;
}
