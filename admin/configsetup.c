/* configsetup.c: quotapool-admin configsetup TARGET: a coding agent's settings for this gateway. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "catalog.h"
#include "crypto.h"
#include "db.h"
#include "keys.h"
#include "paths.h"

/* Largest settings file read back for merging. */
#define CS_FILE_MAX	(1024 * 1024)
/* The provider id the agents' settings use for this gateway. */
#define CS_PROVIDER	"quotapool"
/* The variable codex reads the key from. */
#define CS_CODEX_ENV	"QUOTAPOOL_API_KEY"

/* The agents and their settings files (under $HOME). */
enum cs_target {
	CS_CLAUDE_CODE,		/* ~/.claude/settings.json, "env" */
	CS_OPENCODE,		/* ~/.config/opencode/opencode.json, "provider" */
	CS_CODEX,		/* ~/.codex/config.toml */
	CS_AIDER,		/* ~/.aider.conf.yml */
	CS_ENV,			/* shell lines only */
	CS__MAX
};

static const struct {
	const char	*name;		/* as typed */
	const char	*file;		/* under $HOME, NULL = printed only */
	int		 merge;		/* 1 = JSON merged into an existing file */
} cs_targets[CS__MAX] = {
	[CS_CLAUDE_CODE] = { "claude-code", ".claude/settings.json", 1 },
	[CS_OPENCODE] = { "opencode", ".config/opencode/opencode.json", 1 },
	[CS_CODEX] = { "codex", ".codex/config.toml", 0 },
	[CS_AIDER] = { "aider", ".aider.conf.yml", 0 },
	[CS_ENV] = { "env", NULL, 0 },
};

/* What goes into the settings. */
struct cs_ctx {
	enum cs_target	 target;
	char		 base[1024];		/* gateway URL, no trailing '/' */
	char		 key[KEYS_TEXT_LEN + 1]; /* client key (wiped at the end) */
	const char	*model;			/* main model id */
	const char	*small;			/* small/fast model id */
	cJSON		*models;		/* the catalog, OpenAI list shape (owned) */
	const struct config *cfg;
};

static int
cs_usage(void)
{

	admin_err("usage: quotapool-admin configsetup claude-code|opencode|codex|aider|env "
	    "[--base-url URL] [--key-env VAR | --key-name NAME] [--model ID] [--small-model ID] "
	    "[--write]");
	return 2;
}

/* Returns 1 if the model served under id speaks protocol p (a CONFIG_PROTO_* bit). */
static int
cs_speaks(const struct cs_ctx *c, const cJSON *m, unsigned p)
{
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(m, "quotapool");
	const cJSON *prov = cJSON_GetObjectItemCaseSensitive(ext, "provider");
	const cJSON *provs = cJSON_GetObjectItemCaseSensitive(ext, "providers"), *x;
	const struct config_provider *cp;

	if (cJSON_IsString(prov))
		return (cp = config_provider(c->cfg, prov->valuestring)) != NULL &&
		    (cp->protocols & p) != 0;
	cJSON_ArrayForEach(x, provs)
		if (cJSON_IsString(x) && (cp = config_provider(c->cfg, x->valuestring)) != NULL &&
		    (cp->protocols & p) != 0)
			return 1;
	return 0;
}

/* The first model id the agent's protocol reaches directly, else the first of all; NULL if none. */
static const char *
cs_default_model(const struct cs_ctx *c, unsigned p)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(c->models, "data"), *m, *id;

	cJSON_ArrayForEach(m, data)
		if (cs_speaks(c, m, p) && cJSON_IsString(id = cJSON_GetObjectItemCaseSensitive(m,
		    "id")))
			return id->valuestring;
	m = cJSON_GetArrayItem(data, 0);
	id = cJSON_GetObjectItemCaseSensitive(m, "id");
	return cJSON_IsString(id) ? id->valuestring : NULL;
}

/* Returns 1 if id is in the catalog. */
static int
cs_known(const struct cs_ctx *c, const char *id)
{
	const cJSON *m, *mid;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c->models, "data")) {
		mid = cJSON_GetObjectItemCaseSensitive(m, "id");
		if (cJSON_IsString(mid) && strcmp(mid->valuestring, id) == 0)
			return 1;
	}
	return 0;
}

/* Claude Code: its settings' "env" (into root, which may hold other settings). 0 or -1. */
static int
cs_claude(const struct cs_ctx *c, cJSON *root)
{
	cJSON *env = cJSON_GetObjectItemCaseSensitive(root, "env");

	if (env != NULL && !cJSON_IsObject(env)) {
		cJSON_DeleteItemFromObjectCaseSensitive(root, "env");
		env = NULL;
	}
	if (env == NULL && (env = cJSON_AddObjectToObject(root, "env")) == NULL)
		return -1;
#define CS_SET(k, v) do { cJSON_DeleteItemFromObjectCaseSensitive(env, k); \
	if (cJSON_AddStringToObject(env, k, v) == NULL) return -1; } while (0)
	CS_SET("ANTHROPIC_BASE_URL", c->base);
	CS_SET("ANTHROPIC_AUTH_TOKEN", c->key);
	CS_SET("ANTHROPIC_MODEL", c->model);
	CS_SET("ANTHROPIC_DEFAULT_SONNET_MODEL", c->model);
	CS_SET("ANTHROPIC_DEFAULT_OPUS_MODEL", c->model);
	CS_SET("ANTHROPIC_DEFAULT_HAIKU_MODEL", c->small);
	CS_SET("ANTHROPIC_SMALL_FAST_MODEL", c->small);
	CS_SET("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
#undef CS_SET
	return 0;
}

/* opencode: the "provider" entry for the gateway (into root). 0 or -1. */
static int
cs_opencode(const struct cs_ctx *c, cJSON *root)
{
	const cJSON *m, *id, *name;
	cJSON *provs, *p, *opts, *models, *e;
	char url[1100];

	snprintf(url, sizeof(url), "%s/v1", c->base);
	if (cJSON_GetObjectItemCaseSensitive(root, "$schema") == NULL &&
	    cJSON_AddStringToObject(root, "$schema", "https://opencode.ai/config.json") == NULL)
		return -1;
	provs = cJSON_GetObjectItemCaseSensitive(root, "provider");
	if (provs != NULL && !cJSON_IsObject(provs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(root, "provider");
		provs = NULL;
	}
	if (provs == NULL && (provs = cJSON_AddObjectToObject(root, "provider")) == NULL)
		return -1;
	cJSON_DeleteItemFromObjectCaseSensitive(provs, CS_PROVIDER);
	if ((p = cJSON_AddObjectToObject(provs, CS_PROVIDER)) == NULL ||
	    cJSON_AddStringToObject(p, "npm", "@ai-sdk/openai-compatible") == NULL ||
	    cJSON_AddStringToObject(p, "name", "quotapool") == NULL ||
	    (opts = cJSON_AddObjectToObject(p, "options")) == NULL ||
	    cJSON_AddStringToObject(opts, "baseURL", url) == NULL ||
	    cJSON_AddStringToObject(opts, "apiKey", c->key) == NULL ||
	    (models = cJSON_AddObjectToObject(p, "models")) == NULL)
		return -1;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c->models, "data")) {
		id = cJSON_GetObjectItemCaseSensitive(m, "id");
		name = cJSON_GetObjectItemCaseSensitive(m, "name");
		if (!cJSON_IsString(id))
			continue;
		if ((e = cJSON_AddObjectToObject(models, id->valuestring)) == NULL ||
		    cJSON_AddStringToObject(e, "name", cJSON_IsString(name) ?
		    name->valuestring : id->valuestring) == NULL)
			return -1;
	}
	/* The model opencode starts with: "<provider>/<model id>". */
	snprintf(url, sizeof(url), "%s/%s", CS_PROVIDER, c->model);
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	return cJSON_AddStringToObject(root, "model", url) != NULL ? 0 : -1;
}

/* Appends formatted text to a growing buffer. 0 or -1. */
static int __attribute__((format(printf, 3, 4)))
cs_put(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *nb;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (nb = realloc(*buf, *len + (size_t)n + 1)) == NULL)
		return -1;
	*buf = nb;
	va_start(ap, fmt);
	vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
	return 0;
}

/* Quotes s as a TOML or YAML double-quoted string into a growing buffer. 0 or -1. */
static int
cs_quoted(char **buf, size_t *len, const char *s)
{
	if (cs_put(buf, len, "\"") != 0)
		return -1;
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && cs_put(buf, len, "\\%c", *s) != 0)
			return -1;
		if ((unsigned char)*s < 0x20 && cs_put(buf, len, "\\u%04x",
		    (unsigned char)*s) != 0)
			return -1;
		if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20 &&
		    cs_put(buf, len, "%c", *s) != 0)
			return -1;
	}
	return cs_put(buf, len, "\"");
}

/* Shell single-quoting of s into a growing buffer. 0 or -1. */
static int
cs_shell(char **buf, size_t *len, const char *s)
{
	if (cs_put(buf, len, "'") != 0)
		return -1;
	for (; *s != '\0'; s++)
		if (cs_put(buf, len, *s == '\'' ? "'\\''" : "%c", *s) != 0)
			return -1;
	return cs_put(buf, len, "'");
}

/* The text of a target that is not JSON (codex, aider, env); malloc'd or NULL. */
static char *
cs_text(const struct cs_ctx *c)
{
	char *b = NULL;
	size_t n = 0;
	int bad = 0;

	switch (c->target) {
	case CS_CODEX:
		bad |= cs_put(&b, &n, "# codex settings for quotapool, written by "
		    "quotapool-admin configsetup codex\n# The key is read from $%s: "
		    "export it where codex runs.\nmodel = ", CS_CODEX_ENV);
		bad |= cs_quoted(&b, &n, c->model);
		bad |= cs_put(&b, &n, "\nmodel_provider = \"%s\"\n\n[model_providers.%s]\n"
		    "name = \"quotapool\"\nbase_url = ", CS_PROVIDER, CS_PROVIDER);
		bad |= cs_put(&b, &n, "\"");
		bad |= cs_put(&b, &n, "%s/v1\"\nenv_key = \"%s\"\nwire_api = \"responses\"\n",
		    c->base, CS_CODEX_ENV);
		break;
	case CS_AIDER:
		bad |= cs_put(&b, &n, "# aider settings for quotapool, written by "
		    "quotapool-admin configsetup aider\nopenai-api-base: ");
		bad |= cs_put(&b, &n, "\"%s/v1\"\nopenai-api-key: ", c->base);
		bad |= cs_quoted(&b, &n, c->key);
		bad |= cs_put(&b, &n, "\nmodel: \"openai/");
		bad |= cs_put(&b, &n, "%s\"\nweak-model: \"openai/%s\"\n", c->model, c->small);
		break;
	case CS_ENV:
		bad |= cs_put(&b, &n, "export OPENAI_BASE_URL=");
		bad |= cs_put(&b, &n, "'%s/v1'\nexport OPENAI_API_KEY=", c->base);
		bad |= cs_shell(&b, &n, c->key);
		bad |= cs_put(&b, &n, "\nexport ANTHROPIC_BASE_URL=");
		bad |= cs_shell(&b, &n, c->base);
		bad |= cs_put(&b, &n, "\nexport ANTHROPIC_AUTH_TOKEN=");
		bad |= cs_shell(&b, &n, c->key);
		bad |= cs_put(&b, &n, "\nexport %s=", CS_CODEX_ENV);
		bad |= cs_shell(&b, &n, c->key);
		bad |= cs_put(&b, &n, "\nexport ANTHROPIC_MODEL=");
		bad |= cs_shell(&b, &n, c->model);
		bad |= cs_put(&b, &n, "\n");
		break;
	default:
		bad = 1;
		break;
	}
	if (bad) {
		free(b);
		return NULL;
	}
	return b;
}

/* Reads a whole file; malloc'd text, or NULL (errno ENOENT when absent). */
static char *
cs_slurp(const char *path)
{
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc(CS_FILE_MAX + 1)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, CS_FILE_MAX + 1, f);
	fclose(f);
	if (n > CS_FILE_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Writes text to path (0600, synced, renamed into place), the old file kept as path.bak. */
static int
cs_write(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8], bak[PATH_MAX + 8], dir[PATH_MAX], *slash;
	size_t len = strlen(text), off = 0;
	ssize_t w;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (size_t)snprintf(bak, sizeof(bak), "%s.bak", path) >= sizeof(bak) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (paths_mkdirs(dir, 0700) != QP_OK)
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
	if (access(path, F_OK) == 0 && (unlink(bak), link(path, bak)) != 0) {
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

/* Counts live keys named like name, to pick a free one. */
struct cs_names {
	const char	*base;
	int		 taken[100];	/* taken[i]: "base" (i = 1) or "base-i" exists */
};

static int
cs_name_cb(const struct keys_info *k, void *arg)
{
	struct cs_names *n = arg;
	size_t bl = strlen(n->base);
	long i;
	char *end;

	if (strcmp(k->name, n->base) == 0)
		n->taken[1] = 1;
	else if (strncmp(k->name, n->base, bl) == 0 && k->name[bl] == '-') {
		i = strtol(k->name + bl + 1, &end, 10);
		if (*end == '\0' && i > 1 && i < 100)
			n->taken[i] = 1;
	}
	return 0;
}

/* Issues a new client key for the agent (named after it, or name). 0 or -1. */
static int
cs_new_key(struct admin *a, const char *want, const char *target, char *key, char *name,
    size_t namelen)
{
	struct keys_db *k = NULL;
	struct cs_names names;
	char errbuf[256];
	enum qp_err err;
	int i, rc = -1;

	if ((k = keys_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return -1;
	}
	if (want != NULL)
		snprintf(name, namelen, "%s", want);
	else {
		memset(&names, 0, sizeof(names));
		names.base = target;
		if (keys_list(k, cs_name_cb, &names) != QP_OK) {
			admin_err("cannot list keys");
			goto out;
		}
		for (i = 1; i < 100 && names.taken[i]; i++)
			;
		if (i == 1)
			snprintf(name, namelen, "%s", target);
		else
			snprintf(name, namelen, "%s-%d", target, i);
	}
	err = keys_create(k, name, KEYS_ROLE_CLIENT, 0, key);
	if (err == QP_EEXIST)
		admin_err("a key named '%s' exists already (give another --key-name, or "
		    "--key-env VAR with its secret)", name);
	else if (err == QP_EINVAL)
		admin_err("invalid key name '%s'", name);
	else if (err != QP_OK)
		admin_err("cannot create a key: %s", qp_strerror(err));
	else
		rc = 0;
out:
	keys_db_free(k);
	return rc;
}

/* Checks that a given key is a valid client key of this gateway. 0 or -1. */
static int
cs_check_key(struct admin *a, const char *key)
{
	struct keys_db *k = NULL;
	struct keys_info info;
	char errbuf[256];
	enum qp_err err;
	int rc = -1;

	if ((k = keys_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return -1;
	}
	if (keys_verify(k, key, strlen(key), &info) != QP_OK)
		admin_err("the key given is not a valid key of this gateway (unknown, revoked, "
		    "expired or malformed)");
	else
		rc = 0;
	keys_db_free(k);
	return rc;
}

/*
 * The default gateway URL: [server] host, port and base_path ("any"
 * addresses become loopback).
 */
static void
cs_base(const struct config *cfg, char *buf, size_t len)
{
	const char *h = cfg->server.host != NULL ? cfg->server.host : "127.0.0.1";
	const char *bp = cfg->server.base_path != NULL ? cfg->server.base_path : "";

	if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "") == 0)
		h = "127.0.0.1";
	if (strcmp(h, "::") == 0)
		h = "[::1]";
	else if (strchr(h, ':') != NULL && h[0] != '[') {
		snprintf(buf, len, "http://[%s]:%d%s", h, cfg->server.port, bp);
		return;
	}
	snprintf(buf, len, "http://%s:%d%s", h, cfg->server.port, bp);
}

int
cmd_configsetup(struct admin *a, int argc, char **argv)
{
	struct cs_ctx c;
	struct catalog_db *cat = NULL;
	const char *tname = NULL, *base = NULL, *key_env = NULL, *key_name = NULL;
	char errbuf[256], path[PATH_MAX], kname[KEYS_NAME_MAX + 1], *text = NULL, *old = NULL;
	cJSON *root = NULL;
	enum qp_err err;
	int i, write = 0, rc = 1, t;
	size_t bl;

	memset(&c, 0, sizeof(c));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--write") == 0)
			write = 1;
		else if (strcmp(argv[i], "--base-url") == 0 && i + 1 < argc)
			base = argv[++i];
		else if (strcmp(argv[i], "--key-env") == 0 && i + 1 < argc)
			key_env = argv[++i];
		else if (strcmp(argv[i], "--key-name") == 0 && i + 1 < argc)
			key_name = argv[++i];
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			c.model = argv[++i];
		else if (strcmp(argv[i], "--small-model") == 0 && i + 1 < argc)
			c.small = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 || strncmp(argv[i], "--key=", 6) == 0) {
			admin_err("keys are never taken as arguments: give --key-env VAR with a "
			    "key of this gateway, or let configsetup issue one");
			return 2;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin configsetup TARGET [--base-url URL] "
			    "[--key-env VAR | --key-name NAME]\n"
			    "                  [--model ID] [--small-model ID] [--write]\n\n"
			    "TARGET is claude-code, opencode, codex, aider or env. Prints the "
			    "agent's settings\nfor this gateway: its URL ([server] host and port, "
			    "or --base-url), a client\nkey (a new one named after the agent, or "
			    "the one in $VAR) and the models it\nserves. --write writes them into "
			    "the agent's file under $HOME (0600; JSON\nsettings are merged, the "
			    "previous file kept as .bak). Exit 0, 1 on failure,\n2 on bad usage.\n");
			return 0;
		} else if (tname == NULL && argv[i][0] != '-')
			tname = argv[i];
		else
			return cs_usage();
	}
	if (tname == NULL || (key_env != NULL && key_name != NULL))
		return cs_usage();
	for (t = 0; t < CS__MAX; t++)
		if (strcmp(cs_targets[t].name, tname) == 0)
			break;
	if (t == CS__MAX) {
		admin_err("unknown agent '%s': claude-code, opencode, codex, aider or env", tname);
		return 2;
	}
	c.target = (enum cs_target)t;
	if (write && cs_targets[t].file == NULL) {
		admin_err("env has no file to write: add its lines to your shell's profile");
		return 2;
	}
	if (admin_open_migrated_db(a) != 0)
		return 1;
	c.cfg = a->cfg;
	if (base != NULL) {
		if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
			admin_err("--base-url: an http:// or https:// URL");
			return 2;
		}
		snprintf(c.base, sizeof(c.base), "%s", base);
	} else
		cs_base(a->cfg, c.base, sizeof(c.base));
	bl = strlen(c.base);
	while (bl > 0 && c.base[bl - 1] == '/')
		c.base[--bl] = '\0';
	if (bl > 3 && strcmp(c.base + bl - 3, "/v1") == 0)
		c.base[bl - 3] = '\0';
	/* The models the gateway serves now. */
	if ((cat = catalog_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	if ((c.models = catalog_models_json(cat, a->cfg, db_now_ms(), &err)) == NULL) {
		admin_err("cannot read the model catalog: %s", qp_strerror(err));
		goto out;
	}
	if (c.model == NULL)
		c.model = cs_default_model(&c, c.target == CS_CLAUDE_CODE ?
		    CONFIG_PROTO_ANTHROPIC : CONFIG_PROTO_OPENAI);
	if (c.model == NULL) {
		admin_err("the gateway serves no model yet: add a provider (quotapool-admin "
		    "connect), start it once so that its catalog is read, or give --model ID");
		goto out;
	}
	if (!cs_known(&c, c.model))
		fprintf(stderr, "quotapool-admin: warning: '%s' is not in the catalog now\n",
		    c.model);
	if (c.small == NULL)
		c.small = c.model;
	/* The settings. */
	path[0] = '\0';
	if (write) {
		if (getenv("HOME") == NULL || getenv("HOME")[0] != '/' ||
		    paths_join(path, sizeof(path), getenv("HOME"), cs_targets[t].file) != QP_OK) {
			admin_err("$HOME is not set to an absolute directory");
			goto out;
		}
	}
	if (cs_targets[t].merge) {
		if (write && (old = cs_slurp(path)) != NULL) {
			if ((root = cJSON_Parse(old)) == NULL || !cJSON_IsObject(root)) {
				admin_err("%s is not a JSON object: not touched (move it away or fix "
				    "it)", path);
				goto out;
			}
		} else if (write && errno != ENOENT) {
			admin_err("cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (root == NULL && (root = cJSON_CreateObject()) == NULL)
			goto nomem;
	}
	/* The key: given through a variable, or a new one. */
	if (key_env != NULL) {
		if (getenv(key_env) == NULL || strlen(getenv(key_env)) > KEYS_TEXT_LEN) {
			admin_err("$%s holds no key of this gateway", key_env);
			goto out;
		}
		snprintf(c.key, sizeof(c.key), "%s", getenv(key_env));
		if (cs_check_key(a, c.key) != 0)
			goto out;
	} else {
		if (cs_new_key(a, key_name, cs_targets[t].name, c.key, kname, sizeof(kname)) != 0)
			goto out;
		fprintf(stderr, "issued client key '%s' for %s (revoke it with quotapool-admin "
		    "key revoke %s)\n", kname, tname, kname);
	}
	if (cs_targets[t].merge) {
		if ((c.target == CS_CLAUDE_CODE ? cs_claude(&c, root) : cs_opencode(&c, root)) != 0 ||
		    (text = cJSON_Print(root)) == NULL)
			goto nomem;
	} else if ((text = cs_text(&c)) == NULL)
		goto nomem;
	if (write) {
		if (cs_write(path, text) != 0) {
			admin_err("cannot write %s: %s", path, strerror(errno));
			goto out;
		}
		printf("wrote %s%s\n", path, old != NULL ? " (previous kept as .bak)" : "");
		if (c.target == CS_CODEX)
			printf("codex reads the key from $%s: export it where codex runs (see "
			    "quotapool-admin configsetup env)\n", CS_CODEX_ENV);
	} else
		printf("%s\n", text);
	rc = 0;
	goto out;
nomem:
	admin_err("out of memory");
out:
	crypto_wipe(c.key, sizeof(c.key));
	if (text != NULL) {
		crypto_wipe(text, strlen(text));
		free(text);
	}
	if (old != NULL) {
		crypto_wipe(old, strlen(old));
		free(old);
	}
	cJSON_Delete(root);
	cJSON_Delete(c.models);
	catalog_db_free(cat);
	return rc;
}
