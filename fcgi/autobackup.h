/* autobackup.h: automatic backups, taken by quotapool-admin on the maintenance lease holder. */
#ifndef QP_AUTOBACKUP_H
#define QP_AUTOBACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "maint.h"

/* How often the hook looks whether a backup is due or has finished (ms). */
#define AUTOBACKUP_CHECK_MS	5000
/* A backup still running after this long is stopped (ms). */
#define AUTOBACKUP_TIMEOUT_MS	(6 * 3600 * 1000)

/* What the backup directory holds, for /metrics. */
struct autobackup_dir {
	int		 archives;		/* quotapool-backup-*.tar.gz files */
	int64_t		 newest_at;		/* mtime of the newest, ms; 0 = none */
	int64_t		 newest_bytes;		/* its size */
	char		 newest_name[256];	/* its file name, "" = none */
	int64_t		 total_bytes;		/* all of them */
};

/*
 * Scans dir for backup archives (at most 10,000 names). QP_OK (a missing
 * directory holds none), QP_EIO if it cannot be read. Thread-safe.
 */
enum qp_err	 autobackup_scan(const char *dir, struct autobackup_dir *out);

/*
 * The maintenance hook (struct maint_hook.run; arg = struct autobackup *).
 * While it holds the lease: when no automatic archive in [backup]
 * directory is younger than [backup] interval_s (and [backup]
 * startup_delay_s has passed since the process started), it starts
 * `quotapool-admin --config PATH backup --auto` (which prunes to
 * [backup] retain_count) and returns at once; later runs collect its exit
 * status. Never blocks on the backup. The note tells what it did.
 */
enum qp_err	 autobackup_hook(const struct maint_ctx *ctx, void *arg, char *note,
		    size_t notelen);

/* Per-process state of the hook; one instance, used on the maintenance thread only. */
struct autobackup {
	int64_t		 started_at;	/* process start, ms (for startup_delay_s) */
	long		 child;		/* pid of the running backup, 0 = none */
	int64_t		 child_since;	/* when it was started, monotonic ms */
	int64_t		 failures;	/* backups that failed in this process */
	int64_t		 successes;	/* backups that succeeded in this process */
	char		 last[64];	/* outcome of the last one, "" = none yet */
};

/* Initializes a; now = wall clock ms. */
void		 autobackup_init(struct autobackup *a, int64_t now);

#endif /* QP_AUTOBACKUP_H */
