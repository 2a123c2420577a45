/* procs.c: the quotapool.fcgi processes a database records, and which of them still run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "maint.h"
#include "procs.h"

/* Rows read at most. */
#define PROCS_MAX	1000

static const char *const procs_state_names[PROCS__MAX] = {
	[PROCS_RUNNING] = "running",
	[PROCS_REMOTE] = "remote",
	[PROCS_GONE] = "gone",
};

const char *
procs_state_name(enum procs_state st)
{

	return (unsigned)st < PROCS__MAX ? procs_state_names[st] : "unknown";
}

void
procs_hostname(char *buf, size_t len)
{

	/* As the maintenance thread records it (maint.c). */
	if (len == 0)
		return;
	if (gethostname(buf, len - 1) != 0)
		snprintf(buf, len, "unknown");
	buf[len - 1] = '\0';
}

/* Reads a small /proc file into buf (NUL-terminated); its length, or -1. */
static ssize_t
procs_read(const char *path, char *buf, size_t len)
{
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* The boot time in ms since the epoch (/proc/stat btime), 0 if unknown. */
static int64_t
procs_boot_ms(void)
{
	char buf[8192], *p;

	if (procs_read("/proc/stat", buf, sizeof(buf)) < 0 ||
	    (p = strstr(buf, "\nbtime ")) == NULL)
		return 0;
	return strtoll(p + 7, NULL, 10) * 1000;
}

/* When pid started, in ms since the epoch; 0 if unknown. */
static int64_t
procs_start_ms(long pid, int64_t boot)
{
	char path[64], buf[1024], *p;
	long ticks = sysconf(_SC_CLK_TCK);
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (boot == 0 || ticks <= 0 || procs_read(path, buf, sizeof(buf)) < 0 ||
	    (p = strrchr(buf, ')')) == NULL)
		return 0;
	/* Field 22 (starttime); p is at the end of field 2 (comm). */
	for (field = 2; field < 21 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return 0;
	return boot + strtoll(p + 1, NULL, 10) * 1000 / ticks;
}

/* Returns 1 if pid runs quotapool.fcgi (itself, or under a wrapper such as valgrind). */
static int
procs_is_fcgi(long pid)
{
	char path[64], buf[4096];
	ssize_t n, i;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (procs_read(path, buf, sizeof(buf)) > 0 && strncmp(buf, "quotapool.fcgi", 14) == 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if ((n = procs_read(path, buf, sizeof(buf))) <= 0)
		return 0;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return strstr(buf, "quotapool.fcgi") != NULL;
}

/* The state of r at now. */
static enum procs_state
procs_state_of(const struct procs_row *r, const char *host, int64_t now, int64_t boot)
{
	int64_t started;

	if (strcmp(r->host, host) != 0)
		return r->heartbeat_at > now - MAINT_LEASE_TTL_MS ? PROCS_REMOTE : PROCS_GONE;
	if (r->pid <= 0 || (kill((pid_t)r->pid, 0) != 0 && errno == ESRCH) ||
	    !procs_is_fcgi(r->pid))
		return PROCS_GONE;
	/* A pid used again by a later quotapool.fcgi is not this row's process. */
	started = procs_start_ms(r->pid, boot);
	if (started > 0 && started > r->started_at + 2000)
		return PROCS_GONE;
	return PROCS_RUNNING;
}

int
procs_list(sqlite3 *db, int64_t now, struct procs_row **rows, int *n)
{
	sqlite3_stmt *st = NULL;
	struct procs_row *v = NULL, *r;
	char host[256];
	const char *t;
	int64_t boot = procs_boot_ms();
	int rc, cap = 0;

	*rows = NULL;
	*n = 0;
	procs_hostname(host, sizeof(host));
	if (sqlite3_prepare_v2(db, "SELECT id, pid, hostname, version, started_at, "
	    "heartbeat_at FROM processes WHERE stopped_at IS NULL ORDER BY id LIMIT ?1",
	    -1, &st, NULL) != SQLITE_OK) {
		admin_err("cannot read processes: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int(st, 1, PROCS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap > 0 ? cap * 2 : 8;
			if ((r = realloc(v, (size_t)cap * sizeof(*v))) == NULL) {
				admin_err("out of memory");
				goto fail;
			}
			v = r;
		}
		r = &v[(*n)++];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		r->pid = (long)sqlite3_column_int64(st, 1);
		t = (const char *)sqlite3_column_text(st, 2);
		snprintf(r->host, sizeof(r->host), "%s", t != NULL ? t : "");
		t = (const char *)sqlite3_column_text(st, 3);
		snprintf(r->version, sizeof(r->version), "%s", t != NULL ? t : "");
		r->started_at = sqlite3_column_int64(st, 4);
		r->heartbeat_at = sqlite3_column_int64(st, 5);
		r->state = procs_state_of(r, host, now, boot);
	}
	if (rc != SQLITE_DONE) {
		admin_err("cannot read processes: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_finalize(st);
	*rows = v;
	return 0;
fail:
	sqlite3_finalize(st);
	free(v);
	*n = 0;
	return -1;
}
