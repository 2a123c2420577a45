/* reload.h: a running process's new configuration: read, checked, settings fixed at start kept, changes listed. */
#ifndef QP_RELOAD_H
#define QP_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* Event types a process records in operational_events after a reload. */
#define RELOAD_EVENT_OK		"config_reloaded"
#define RELOAD_EVENT_FAILED	"config_reload_failed"
/* Diagnostic lines kept in a report (and in its event). */
#define RELOAD_MSG_MAX		20
/* Names kept in one list of changes; the count goes on beyond. */
#define RELOAD_NAMES_MAX	64

/* What changed about a named thing (account, provider, price). */
enum reload_change {
	RELOAD_ADDED,		/* in the new file only */
	RELOAD_REMOVED,		/* in the old one only */
	RELOAD_ENABLED,		/* enabled = false before, true now */
	RELOAD_DISABLED,	/* enabled = true before, false now */
	RELOAD_CHANGED,		/* in both, some value differs */
	RELOAD_CHANGE__MAX
};

/* The things whose changes are listed. */
enum reload_what {
	RELOAD_ACCOUNTS,	/* [[providers.<id>.accounts]] by name */
	RELOAD_PROVIDERS,	/* [providers.<id>] by id */
	RELOAD_OVERRIDES,	/* [model_overrides."<model>"] by model */
	RELOAD_WHAT__MAX
};

/* One list of names. */
struct reload_names {
	char		*name[RELOAD_NAMES_MAX];	/* the first ones, owned */
	int		 n;				/* how many in all */
};

/* What a reload found. Zeroed by reload_load(); free with reload_report_free(). */
struct reload_report {
	char		 sha256[65];	/* hex SHA-256 of the bytes read, "" if unread */
	char		*msgs[RELOAD_MSG_MAX]; /* check-config's lines ("PATH:LINE:COL: error:
					   text"), owned; never a secret */
	int		 nmsgs;		/* entries in msgs */
	int		 nerrors;	/* errors among all the file's messages */
	const char	*restart[32];	/* settings that differ but need a restart
					   ("server.threads"); static strings */
	int		 nrestart;	/* entries in restart */
	struct reload_names changes[RELOAD_WHAT__MAX][RELOAD_CHANGE__MAX]; /* by thing
					   and change */
	int		 routing;	/* 1 if [routing] changed */
	int		 limits;	/* 1 if [limits] changed */
};

/* Returns "accounts", "providers" or "model_overrides". */
const char	*reload_what_name(enum reload_what w);

/* Returns "added", "removed", "enabled", "disabled" or "changed". */
const char	*reload_change_name(enum reload_change c);

/*
 * Reads the file at path (at most QP_CONFIG_MAX bytes) and checks it as
 * config_load() does, hashing the very bytes parsed. When it is valid,
 * returns the new configuration (the caller owns it) in which every
 * setting a running process cannot change (listening socket, threads,
 * state directory, database, user, log level, ...) that differs from
 * old's holds old's value again, named in rep->restart; rep->changes
 * lists what else changed. When it is not, returns NULL with *err set
 * (QP_ECONFIG, QP_EIO, QP_ENOMEM) and the reasons in rep->msgs. Reads the
 * environment (config_load()'s rule on setenv() applies).
 */
struct config	*reload_load(const struct config *old, const char *path,
		    struct reload_report *rep, enum qp_err *err);

/*
 * Returns the details_json of the event recording rep (malloc'd, the
 * caller frees it; NULL on out of memory): {"pid", "process_id",
 * "sha256", "generation" (0 when refused), "errors": [lines] (when
 * refused), "restart_needed": [names], "changes": {"accounts":
 * {"added": [...], ...}, ...}, "routing": bool, "limits": bool}. Only
 * names and check-config's lines: never a secret. Thread-safe.
 */
char		*reload_details_json(const struct reload_report *rep, long pid,
		    int64_t process_id, uint64_t generation);

/* Writes a one-line summary of rep's changes ("accounts added: a2; ...") into buf. */
void		 reload_summary(const struct reload_report *rep, char *buf, size_t len);

/* Frees what rep owns and zeroes it. NULL is allowed. */
void		 reload_report_free(struct reload_report *rep);

#endif /* QP_RELOAD_H */
