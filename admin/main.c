/* main.c: quotapool-admin, the operator's tool: command table and shared helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "coredump.h"
#include "db.h"
#include "paths.h"

static int	cmd_version(struct admin *, int, char **);
static int	cmd_help(struct admin *, int, char **);

static const struct admin_cmd admin_cmds[] = {
	{ "init", cmd_init, "DIR [--port N] [--no-probe]",
	  "create an instance in DIR: config, migrated database, first client key" },
	{ "serve", cmd_serve, "[--port N]",
	  "run lighttpd with quotapool in the foreground (Ctrl-C stops both)" },
	{ "migrate", cmd_migrate, "",
	  "apply pending database migrations" },
	{ "check-config", cmd_check_config, "",
	  "check the configuration file; exit 0 if valid, 1 if not" },
	{ "key", cmd_key, "new|list|revoke|rotate ...",
	  "issue, list, revoke and rotate client keys" },
	{ "backup", cmd_backup, "[--to DIR] | list | verify ARCHIVE",
	  "take an online backup; list backups; check an archive's sums" },
	{ "restore", cmd_restore, "ARCHIVE [--into DIR] [--force]",
	  "restore a backup in place (gateway stopped) or into a new instance" },
	{ "connect", cmd_connect, "list | NAME [--key-stdin] [--base-url URL]",
	  "add a provider or one more account from a template, key checked live" },
	{ "accounts", cmd_accounts, "list|status|disable|enable|explain ...",
	  "accounts' state, take one out of routing live, dry-run the routing" },
	{ "models", cmd_models, "list [--provider ID] | refresh [ID]",
	  "the model ids served; fetch a provider's list now" },
	{ "db", cmd_db, "check | vacuum | prune --older-than D",
	  "check integrity, reclaim free space, delete old rows" },
	{ "configsetup", cmd_configsetup, "claude-code|opencode|codex|aider|env [--write]",
	  "print (or write) a coding agent's settings for this gateway, with a key" },
	{ "reload", cmd_reload, "[--timeout S] [--json]",
	  "check the configuration, have every running process apply it, report each" },
	{ "status", cmd_status, "[--json]",
	  "is it serving: processes, health check, newest backup, pending, backoffs" },
	{ "check", cmd_check, "[PROVIDER[/ACCOUNT]] [--json]",
	  "run every account's health check (or ping) now; exit 0 if one is live" },
	{ "stats", cmd_stats, "[--period 24h] [--provider P] [--model M] [--json]",
	  "totals, then per provider, account and model, as /api/stats" },
	{ "version", cmd_version, "", "print the version" },
	{ "help", cmd_help, "", "show this help" },
};

#define ADMIN_NCMDS	(sizeof(admin_cmds) / sizeof(admin_cmds[0]))

void
admin_err(const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "quotapool-admin: %s\n", msg);
}

int
admin_parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

const char *
admin_iso_time(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int
admin_parse_duration(const char *s, int64_t *ms)
{
	char *end;
	long long v;
	int64_t unit;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || end[0] == '\0' || end[1] != '\0')
		return -1;
	if (end[0] == 'd')
		unit = 86400000LL;
	else if (end[0] == 'h')
		unit = 3600000LL;
	else
		return -1;
	if (v < 1 || v > 36500LL * 86400000LL / unit)
		return -1;
	*ms = (int64_t)v * unit;
	return 0;
}

int
admin_print_json(cJSON *json)
{
	char *text;

	if (json == NULL)
		return 1;
	text = cJSON_Print(json);
	cJSON_Delete(json);
	if (text == NULL) {
		admin_err("out of memory");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int
admin_load_config(struct admin *a)
{
	struct config_diag diag = { NULL, 0, 0 };
	enum qp_err err;

	if (a->cfg != NULL)
		return 0;
	if (config_find_path(a->config_arg, a->config_path,
	    sizeof(a->config_path)) != QP_OK) {
		admin_err("no configuration file found (give --config PATH, set "
		    "QUOTAPOOL_CONFIG, or create one with quotapool-admin init DIR)");
		return -1;
	}
	a->cfg = config_load(a->config_path, &diag, &err);
	config_diag_print(&diag, a->config_path, stderr);
	config_diag_free(&diag);
	if (a->cfg == NULL) {
		if (err == QP_EIO)
			admin_err("cannot read %s: %s", a->config_path, strerror(errno));
		else
			admin_err("%s is not valid (see the errors above)", a->config_path);
		return -1;
	}
	/* Not dumpable since main() began, unless the operator asks for dumps. */
	if (a->cfg->server.allow_core_dumps && coredump_set(1) != QP_OK)
		admin_err("cannot make the process dumpable: %s", strerror(errno));
	return 0;
}

int
admin_load_schema(struct admin *a)
{
	char data[PATH_MAX], dir[PATH_MAX], errbuf[512];

	if (a->schema_loaded)
		return 0;
	if (paths_datadir(data, sizeof(data)) != QP_OK ||
	    paths_join(dir, sizeof(dir), data, "schema") != QP_OK) {
		admin_err("cannot locate the data directory");
		return -1;
	}
	if (migrate_load(dir, &a->schema, errbuf, sizeof(errbuf)) != QP_OK) {
		admin_err("cannot load migrations from %s: %s", dir, errbuf);
		return -1;
	}
	a->schema_loaded = 1;
	return 0;
}

int
admin_open_db(struct admin *a)
{
	struct db_opts opts;
	char errbuf[512];
	enum qp_err err;

	if (a->db != NULL)
		return 0;
	if (admin_load_config(a) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.busy_timeout_ms = a->cfg->database.busy_timeout_ms;
	opts.synchronous = a->cfg->database.synchronous;
	if ((a->db = db_open(a->cfg->database.path, &opts, &err, errbuf,
	    sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return -1;
	}
	return 0;
}

int
admin_open_migrated_db(struct admin *a)
{
	struct migrate_status st;
	char errbuf[512];

	if (admin_open_db(a) != 0 || admin_load_schema(a) != 0)
		return -1;
	if (migrate_check(a->db, &a->schema, &st, errbuf, sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		return -1;
	}
	if (st.pending > 0) {
		admin_err("database %s is not migrated (%d pending): run "
		    "quotapool-admin migrate", a->cfg->database.path, st.pending);
		return -1;
	}
	return 0;
}

int
admin_migrate(struct admin *a, int quiet)
{
	struct migrate_status st;
	char errbuf[512];
	int applied = 0;

	if (admin_open_db(a) != 0 || admin_load_schema(a) != 0)
		return -1;
	if (migrate_apply(a->db, &a->schema, &applied, errbuf,
	    sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		return -1;
	}
	if (migrate_check(a->db, &a->schema, &st, errbuf, sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		return -1;
	}
	if (!quiet || applied > 0)
		printf("database %s: %s (version %04d)\n", a->cfg->database.path,
		    applied == 0 ? "up to date" : "migrated", st.latest);
	return 0;
}

static int
cmd_version(struct admin *a, int argc, char **argv)
{

	(void)a;
	(void)argc;
	(void)argv;
	printf("quotapool %s\n", QP_VERSION);
	return 0;
}

static void
admin_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: quotapool-admin [--config PATH] COMMAND [ARGS]\n\n"
	    "Commands:\n");
	for (i = 0; i < ADMIN_NCMDS; i++)
		fprintf(fp, "  %-13s %-38s %s\n", admin_cmds[i].name,
		    admin_cmds[i].usage, admin_cmds[i].help);
	fprintf(fp, "\nThe configuration is --config PATH, else $QUOTAPOOL_CONFIG, "
	    "./config.toml,\n$XDG_CONFIG_HOME/quotapool/config.toml, "
	    "/etc/quotapool/config.toml.\n");
}

static int
cmd_help(struct admin *a, int argc, char **argv)
{

	(void)a;
	(void)argc;
	(void)argv;
	admin_usage(stdout);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct admin a;
	char **args = NULL;
	int i, n = 0, rc = 1;
	size_t c;

	memset(&a, 0, sizeof(a));
	/* Keys are read (config, .env) or made (init, key new): no core file shows them. */
	if (coredump_set(0) != QP_OK) {
		admin_err("cannot make the process non-dumpable: %s", strerror(errno));
		return 1;
	}
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) == NULL) {
		admin_err("out of memory");
		return 1;
	}
	/* --config may come before or after the command. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				admin_err("--config needs a path");
				goto out;
			}
			a.config_arg = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0)
			a.config_arg = argv[i] + 9;
		else if (n == 0 && (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0))
			args[n++] = "help";
		else if (n == 0 && strcmp(argv[i], "--version") == 0)
			args[n++] = "version";
		else
			args[n++] = argv[i];
	}
	if (n == 0) {
		admin_usage(stderr);
		goto out;
	}
	for (c = 0; c < ADMIN_NCMDS; c++)
		if (strcmp(args[0], admin_cmds[c].name) == 0)
			break;
	if (c == ADMIN_NCMDS) {
		admin_err("unknown command '%s' (see quotapool-admin help)", args[0]);
		goto out;
	}
	rc = admin_cmds[c].run(&a, n, args);
out:
	if (a.schema_loaded)
		migrate_set_free(&a.schema);
	db_close(a.db);
	config_free(a.cfg);
	free(args);
	return rc;
}
