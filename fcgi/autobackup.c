/* autobackup.c: automatic backups, taken by quotapool-admin on the maintenance lease holder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autobackup.h"
#include "log.h"
#include "paths.h"

#define AUTOBACKUP_PREFIX	"quotapool-backup-"
#define AUTOBACKUP_SUFFIX	".tar.gz"
#define AUTOBACKUP_AUTO		"-auto"
#define AUTOBACKUP_SCAN_MAX	10000

extern char **environ;

static int64_t
autobackup_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns 1 for an archive name; *automatic tells an automatic one. */
static int
autobackup_is_archive(const char *name, int *automatic)
{
	size_t n = strlen(name), pl = strlen(AUTOBACKUP_PREFIX), sl = strlen(AUTOBACKUP_SUFFIX);

	if (n <= pl + sl || strncmp(name, AUTOBACKUP_PREFIX, pl) != 0 ||
	    strcmp(name + n - sl, AUTOBACKUP_SUFFIX) != 0)
		return 0;
	*automatic = strstr(name, AUTOBACKUP_AUTO) != NULL;
	return 1;
}

/* Scans dir; only_auto counts automatic archives only. */
static enum qp_err
autobackup_scan_kind(const char *dir, int only_auto, struct autobackup_dir *out)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	int64_t at;
	int automatic, seen = 0;
	DIR *d;

	memset(out, 0, sizeof(*out));
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? QP_OK : QP_EIO;
	while ((de = readdir(d)) != NULL && seen++ < AUTOBACKUP_SCAN_MAX) {
		if (!autobackup_is_archive(de->d_name, &automatic) || (only_auto && !automatic))
			continue;
		if (paths_join(path, sizeof(path), dir, de->d_name) != QP_OK ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		at = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		out->archives++;
		out->total_bytes += (int64_t)st.st_size;
		if (at > out->newest_at) {
			out->newest_at = at;
			out->newest_bytes = (int64_t)st.st_size;
			snprintf(out->newest_name, sizeof(out->newest_name), "%s", de->d_name);
		}
	}
	closedir(d);
	return QP_OK;
}

enum qp_err
autobackup_scan(const char *dir, struct autobackup_dir *out)
{

	return autobackup_scan_kind(dir, 0, out);
}

void
autobackup_init(struct autobackup *a, int64_t now)
{

	memset(a, 0, sizeof(*a));
	a->started_at = now;
}

/* Collects a finished backup; returns 1 while it still runs. */
static int
autobackup_reap(struct autobackup *a, char *note, size_t len)
{
	int64_t ran = autobackup_mono_ms() - a->child_since;
	pid_t r;
	int st;

	r = waitpid((pid_t)a->child, &st, WNOHANG);
	if (r == 0) {
		if (ran < AUTOBACKUP_TIMEOUT_MS) {
			snprintf(note, len, "backup running for %lld s (pid %ld)",
			    (long long)(ran / 1000), a->child);
			return 1;
		}
		kill((pid_t)a->child, SIGKILL);
		(void)waitpid((pid_t)a->child, &st, 0);
		a->child = 0;
		a->failures++;
		log_msg(LOG_ERROR, "automatic backup stopped after %lld s", (long long)(ran / 1000));
		snprintf(a->last, sizeof(a->last), "stopped after %lld s",
		    (long long)(ran / 1000));
		return 0;
	}
	a->child = 0;
	if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		a->successes++;
		log_msg(LOG_INFO, "automatic backup written in %lld ms", (long long)ran);
		snprintf(a->last, sizeof(a->last), "written in %lld ms", (long long)ran);
	} else {
		a->failures++;
		log_msg(LOG_ERROR, "automatic backup failed (%s %d); see the lines of "
		    "quotapool-admin above", r > 0 && WIFSIGNALED(st) ? "signal" : "exit status",
		    r > 0 ? (WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)) : -1);
		snprintf(a->last, sizeof(a->last), "failed");
	}
	return 0;
}

/* Starts quotapool-admin backup --auto. 0, or -1 with note set. */
static int
autobackup_spawn(struct autobackup *a, const struct config *cfg, char *note, size_t len)
{
	posix_spawn_file_actions_t fa;
	char admin[4096];
	char *argv[] = { admin, "--config", cfg->path, "backup", "--auto", NULL };
	pid_t pid;
	int rc;

	if (paths_admin_binary(admin, sizeof(admin)) != QP_OK) {
		snprintf(note, len, "cannot locate quotapool-admin");
		return -1;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(note, len, "out of memory");
		return -1;
	}
	/*
	 * No descriptor of the server reaches the child: standard input from
	 * /dev/null, its output to our standard error (the web server's log).
	 */
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, 2, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rc == 0)
		rc = posix_spawn(&pid, admin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		a->failures++;
		log_msg(LOG_ERROR, "cannot start %s: %s", admin, strerror(rc));
		snprintf(note, len, "cannot start quotapool-admin: %s", strerror(rc));
		return -1;
	}
	a->child = (long)pid;
	a->child_since = autobackup_mono_ms();
	snprintf(note, len, "backup started (pid %ld)", a->child);
	return 0;
}

enum qp_err
autobackup_hook(const struct maint_ctx *ctx, void *arg, char *note, size_t notelen)
{
	struct autobackup *a = arg;
	const struct config_backup *b = &ctx->cfg->backup;
	struct autobackup_dir d;
	int64_t due;

	if (a->child != 0 && autobackup_reap(a, note, notelen))
		return QP_OK;
	if (ctx->now - a->started_at < (int64_t)b->startup_delay_s * 1000) {
		snprintf(note, notelen, "first check %lld s after start",
		    (long long)b->startup_delay_s);
		return QP_OK;
	}
	if (autobackup_scan_kind(b->directory, 1, &d) != QP_OK) {
		snprintf(note, notelen, "cannot read the backup directory: %s", strerror(errno));
		return QP_EIO;
	}
	due = d.newest_at + (int64_t)b->interval_s * 1000;
	if (d.archives > 0 && ctx->now < due) {
		snprintf(note, notelen, "%s%s%snext in %lld s", a->last[0] ? "last " : "",
		    a->last, a->last[0] ? "; " : "", (long long)((due - ctx->now) / 1000));
		return QP_OK;
	}
	return autobackup_spawn(a, ctx->cfg, note, notelen) == 0 ? QP_OK : QP_EIO;
}
