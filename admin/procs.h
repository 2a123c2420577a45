/* procs.h: the quotapool.fcgi processes a database records, and which of them still run. */
#ifndef QP_ADMIN_PROCS_H
#define QP_ADMIN_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* What became of a process whose row has no stopped_at. */
enum procs_state {
	PROCS_RUNNING,		/* on this host: its pid runs quotapool.fcgi, started
				   before its row was written */
	PROCS_REMOTE,		/* on another host, with a heartbeat within
				   MAINT_LEASE_TTL_MS: presumably running */
	PROCS_GONE,		/* not running (a crash, a kill -9 or a lost host) */
	PROCS__MAX
};

/* One processes row not stopped cleanly. */
struct procs_row {
	int64_t		 id;		/* processes.id */
	long		 pid;		/* operating-system pid */
	char		 host[256];	/* hostname */
	char		 version[64];	/* quotapool version */
	int64_t		 started_at;	/* ms */
	int64_t		 heartbeat_at;	/* ms */
	enum procs_state state;
};

/* Returns "running", "remote" or "gone". */
const char	*procs_state_name(enum procs_state st);

/*
 * Lists the processes rows of db with no stopped_at (at most 1000, by
 * id), each with its state at now (ms). *rows is malloc'd (the caller
 * frees it), *n its length. 0, or -1 on a database error (message
 * printed).
 */
int		 procs_list(sqlite3 *db, int64_t now, struct procs_row **rows, int *n);

/* Writes this host's name as processes rows record it into buf ("unknown" if none). */
void		 procs_hostname(char *buf, size_t len);

#endif /* QP_ADMIN_PROCS_H */
