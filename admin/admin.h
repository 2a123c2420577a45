/* admin.h: what the quotapool-admin command groups share. */
#ifndef QP_ADMIN_H
#define QP_ADMIN_H

#include <limits.h>
#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "migrate.h"

/* State of one quotapool-admin run. */
struct admin {
	const char	*config_arg;		/* --config PATH, or NULL */
	char		 config_path[PATH_MAX];	/* the file used, once found */
	struct config	*cfg;			/* loaded on demand, owned */
	sqlite3		*db;			/* opened on demand, owned */
	struct migrate_set schema;		/* migrations shipped, loaded on demand */
	int		 schema_loaded;		/* 1 once schema is filled */
};

/* A command: runs with argv[0] = its name; returns the exit status. */
struct admin_cmd {
	const char	*name;				/* as typed */
	int		(*run)(struct admin *, int, char **);	/* the command */
	const char	*usage;				/* arguments, "" if none */
	const char	*help;				/* one line */
};

/* Prints "quotapool-admin: MESSAGE" on stderr as one line. */
void		 admin_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Loads the configuration (once); prints every diagnostic. 0 or -1. */
int		 admin_load_config(struct admin *a);

/* Loads the shipped migrations (once). 0 or -1 (message printed). */
int		 admin_load_schema(struct admin *a);

/* Opens the configured database (once), creating the file 0600. 0 or -1. */
int		 admin_open_db(struct admin *a);

/* Opens the database and requires it fully migrated. 0 or -1. */
int		 admin_open_migrated_db(struct admin *a);

/* Parses a port number 1-65535; -1 if invalid. */
int		 admin_parse_port(const char *s);

/* Formats ms since the epoch as RFC 3339 UTC ("2026-01-31T12:00:00Z") into buf; returns buf. */
const char	*admin_iso_time(int64_t ms, char *buf, size_t len);

/*
 * Parses a duration with its unit, "90d" or "12h" (days or hours, 1 to
 * 36500 days), into *ms. 0 or -1 if invalid.
 */
int		 admin_parse_duration(const char *s, int64_t *ms);

/* Prints json (which it frees) pretty on stdout with a newline. 0, or 1 if out of memory. */
int		 admin_print_json(cJSON *json);

/* Applies pending migrations, printing what it did; 0 or -1. */
int		 admin_migrate(struct admin *a, int quiet);

/* Command groups, one file each. */
int		 cmd_init(struct admin *, int, char **);	/* init.c */
int		 cmd_serve(struct admin *, int, char **);	/* serve.c */
int		 cmd_migrate(struct admin *, int, char **);	/* migrate.c */
int		 cmd_check_config(struct admin *, int, char **); /* check_config.c */
int		 cmd_key(struct admin *, int, char **);	/* key.c */
int		 cmd_backup(struct admin *, int, char **);	/* backup.c */
int		 cmd_restore(struct admin *, int, char **);	/* backup.c */
int		 cmd_connect(struct admin *, int, char **);	/* connect.c */
int		 cmd_stats(struct admin *, int, char **);	/* stats.c */
int		 cmd_accounts(struct admin *, int, char **);	/* accounts.c */
int		 cmd_models(struct admin *, int, char **);	/* models.c */
int		 cmd_db(struct admin *, int, char **);		/* dbcare.c */
int		 cmd_configsetup(struct admin *, int, char **); /* configsetup.c */
int		 cmd_reload(struct admin *, int, char **);	/* reload.c */
int		 cmd_status(struct admin *, int, char **);	/* status.c */
int		 cmd_check(struct admin *, int, char **);	/* check.c */

/*
 * Probes the local runtimes of the provider templates (Ollama, vLLM,
 * llama.cpp, LM Studio on their default ports) and adds each one that
 * answers a models list and is not configured yet to a->config_path.
 * Returns how many were added, -1 if the templates cannot be read.
 */
int		 connect_probe_local(struct admin *a);	/* connect.c */

#endif /* QP_ADMIN_H */
