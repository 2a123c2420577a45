/* reload.c: quotapool-admin reload: every running quotapool.fcgi applies the configuration file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "bounds.h"
#include "crypto.h"
#include "db.h"
#include "procs.h"
#include "reload.h"

/* Default and largest wait for the processes' answers (s). */
#define RELOAD_WAIT_S		10
#define RELOAD_WAIT_MAX_S	300
/* How often the answers are looked for (ms). */
#define RELOAD_POLL_MS		100

/* What became of one process. */
enum reload_outcome {
	RELOAD_OUT_PENDING,		/* signalled, no answer yet */
	RELOAD_OUT_APPLIED,		/* it applied this very file */
	RELOAD_OUT_REFUSED,		/* it refused the file (its errors are in the answer) */
	RELOAD_OUT_OTHER_FILE,	/* it applied a file whose sha256 differs from this one */
	RELOAD_OUT_NO_ANSWER,	/* no answer within the wait */
	RELOAD_OUT_SIGNAL_FAILED,	/* kill() failed */
	RELOAD_OUT_NOT_SIGNALLED,	/* it runs on another host */
	RELOAD_OUT__MAX
};

static const char *const reload_outcome_names[RELOAD_OUT__MAX] = {
	[RELOAD_OUT_PENDING] = "pending",
	[RELOAD_OUT_APPLIED] = "reloaded",
	[RELOAD_OUT_REFUSED] = "refused",
	[RELOAD_OUT_OTHER_FILE] = "other_file",
	[RELOAD_OUT_NO_ANSWER] = "no_answer",
	[RELOAD_OUT_SIGNAL_FAILED] = "signal_failed",
	[RELOAD_OUT_NOT_SIGNALLED] = "not_signalled",
};

/* One process to reload and its answer. */
struct reload_proc {
	struct procs_row row;		/* its processes row */
	enum reload_outcome outcome;
	int		 err;		/* errno of a failed kill() */
	cJSON		*answer;	/* the event's details, owned, or NULL */
};

static int
reload_usage(void)
{

	admin_err("usage: quotapool-admin reload [--timeout SECONDS] [--json]");
	return 2;
}

static int64_t
reload_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The hex sha256 of the file at path into hex (65 bytes). 0 or -1 (message printed). */
static int
reload_file_sha256(const char *path, char *hex)
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		admin_err("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size > QP_CONFIG_MAX || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		admin_err("cannot read %s: too large", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (crypto_sha256(buf, len, digest) != QP_OK) {
		admin_err("cannot hash %s", path);
		goto out;
	}
	crypto_hex(digest, sizeof(digest), hex);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	/* The file holds secrets. */
	crypto_free_wiped(buf, len);
	return rc;
}

/* The id of the newest operational event (0 = none); -1 on error. */
static int64_t
reload_last_event(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t id = -1;

	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM operational_events",
	    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* Returns the process of v that an answer names (process_id, else pid), or NULL. */
static struct reload_proc *
reload_match(struct reload_proc *v, int n, const cJSON *answer)
{
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(answer, "pid");
	const cJSON *row = cJSON_GetObjectItemCaseSensitive(answer, "process_id");
	int i;

	if (!cJSON_IsNumber(pid))
		return NULL;
	for (i = 0; i < n; i++) {
		if (v[i].outcome != RELOAD_OUT_PENDING || v[i].row.pid != (long)pid->valuedouble)
			continue;
		if (cJSON_IsNumber(row) && row->valuedouble != 0 &&
		    (int64_t)row->valuedouble != v[i].row.id)
			continue;
		return &v[i];
	}
	return NULL;
}

/*
 * Reads the reload events after id *since into v's answers; *since
 * moves past them. Returns how many processes are still pending, -1 on a
 * database error.
 */
static int
reload_collect(sqlite3 *db, int64_t *since, struct reload_proc *v, int n, const char *sha)
{
	sqlite3_stmt *st = NULL;
	struct reload_proc *p;
	const cJSON *s;
	const char *type, *details;
	cJSON *answer;
	int i, rc, pending = 0;

	if (sqlite3_prepare_v2(db, "SELECT id, event_type, details_json FROM "
	    "operational_events WHERE id > ?1 AND event_type IN (?2, ?3) ORDER BY id",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, *since);
	sqlite3_bind_text(st, 2, RELOAD_EVENT_OK, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, RELOAD_EVENT_FAILED, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*since = sqlite3_column_int64(st, 0);
		type = (const char *)sqlite3_column_text(st, 1);
		details = (const char *)sqlite3_column_text(st, 2);
		if (type == NULL || details == NULL || (answer = cJSON_Parse(details)) == NULL)
			continue;
		if ((p = reload_match(v, n, answer)) == NULL) {
			cJSON_Delete(answer);
			continue;
		}
		p->answer = answer;
		s = cJSON_GetObjectItemCaseSensitive(answer, "sha256");
		if (strcmp(type, RELOAD_EVENT_FAILED) == 0)
			p->outcome = RELOAD_OUT_REFUSED;
		else if (!cJSON_IsString(s) || strcmp(s->valuestring, sha) != 0)
			p->outcome = RELOAD_OUT_OTHER_FILE;
		else
			p->outcome = RELOAD_OUT_APPLIED;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	for (i = 0; i < n; i++)
		pending += v[i].outcome == RELOAD_OUT_PENDING;
	return pending;
}

/* Prints the strings of answer's array key, each on its own line after prefix. */
static void
reload_print_lines(const cJSON *answer, const char *key, const char *prefix)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(answer, key), *it;

	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			printf("%s%s\n", prefix, it->valuestring);
}

/* Prints what changed, as "accounts added: a2; ...", from an answer's "changes". */
static void
reload_print_changes(const cJSON *answer)
{
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(answer, "changes"), *w, *c, *it;
	const cJSON *routing = cJSON_GetObjectItemCaseSensitive(answer, "routing");
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(answer, "limits");
	int any = 0;

	cJSON_ArrayForEach(w, ch)
		cJSON_ArrayForEach(c, w) {
			printf("%s%s %s:", any++ ? "; " : "", w->string, c->string);
			cJSON_ArrayForEach(it, c)
				if (cJSON_IsString(it))
					printf(" %s", it->valuestring);
		}
	if (cJSON_IsTrue(routing))
		printf("%s[routing] changed", any++ ? "; " : "");
	if (cJSON_IsTrue(limits))
		printf("%s[limits] changed", any++ ? "; " : "");
	if (!any)
		printf("no account, provider, price, routing or limit changed");
}

/* Prints one process's outcome as text. */
static void
reload_print(const struct reload_proc *p, const char *sha, int wait_s)
{
	const struct procs_row *r = &p->row;
	const cJSON *gen = cJSON_GetObjectItemCaseSensitive(p->answer, "generation");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(p->answer, "sha256");
	const cJSON *restart = cJSON_GetObjectItemCaseSensitive(p->answer, "restart_needed");
	const cJSON *it;
	int first = 1;

	printf("process %lld (pid %ld on %s): ", (long long)r->id, r->pid, r->host);
	switch (p->outcome) {
	case RELOAD_OUT_APPLIED:
		printf("reloaded (configuration %lld, sha256 %.16s): ",
		    cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 0LL, sha);
		reload_print_changes(p->answer);
		printf("\n");
		if (cJSON_GetArraySize(restart) > 0) {
			printf("  needs a restart to change (kept as they were): ");
			cJSON_ArrayForEach(it, restart)
				if (cJSON_IsString(it)) {
					printf("%s%s", first ? "" : ", ", it->valuestring);
					first = 0;
				}
			printf("\n");
		}
		reload_print_lines(p->answer, "warnings", "  ");
		break;
	case RELOAD_OUT_REFUSED:
		printf("refused; it keeps the configuration it had:\n");
		reload_print_lines(p->answer, "errors", "  ");
		break;
	case RELOAD_OUT_OTHER_FILE:
		printf("applied another file (sha256 %.16s, this one is %.16s): is it started "
		    "with another --config?\n", cJSON_IsString(s) ? s->valuestring : "?", sha);
		break;
	case RELOAD_OUT_NO_ANSWER:
	case RELOAD_OUT_PENDING:
		printf("no answer within %d s\n", wait_s);
		break;
	case RELOAD_OUT_SIGNAL_FAILED:
		printf("cannot be signalled: %s\n", strerror(p->err));
		break;
	case RELOAD_OUT_NOT_SIGNALLED:
		printf("runs on another host: run quotapool-admin reload there\n");
		break;
	default:
		printf("?\n");
		break;
	}
}

/* Prints every outcome as one JSON object. */
static void
reload_print_json(const struct reload_proc *v, int n, const char *path, const char *sha,
    int ok)
{
	cJSON *o, *arr, *e;
	char *text;
	int i;

	if ((o = cJSON_CreateObject()) == NULL)
		return;
	cJSON_AddStringToObject(o, "config", path);
	cJSON_AddStringToObject(o, "sha256", sha);
	cJSON_AddBoolToObject(o, "ok", ok);
	arr = cJSON_AddArrayToObject(o, "processes");
	for (i = 0; arr != NULL && i < n; i++) {
		if ((e = v[i].answer != NULL ? cJSON_Duplicate(v[i].answer, 1) :
		    cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddItemToArray(arr, e);
		cJSON_DeleteItemFromObjectCaseSensitive(e, "pid");
		cJSON_DeleteItemFromObjectCaseSensitive(e, "process_id");
		cJSON_AddNumberToObject(e, "id", (double)v[i].row.id);
		cJSON_AddNumberToObject(e, "pid", (double)v[i].row.pid);
		cJSON_AddStringToObject(e, "host", v[i].row.host);
		cJSON_AddStringToObject(e, "outcome", reload_outcome_names[v[i].outcome ==
		    RELOAD_OUT_PENDING ? RELOAD_OUT_NO_ANSWER : v[i].outcome]);
		if (v[i].outcome == RELOAD_OUT_SIGNAL_FAILED)
			cJSON_AddStringToObject(e, "error", strerror(v[i].err));
	}
	if ((text = cJSON_Print(o)) != NULL) {
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(o);
}

/* Parses --timeout's value; -1 if invalid. */
static int
reload_parse_wait(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > RELOAD_WAIT_MAX_S)
		return -1;
	return (int)v;
}

int
cmd_reload(struct admin *a, int argc, char **argv)
{
	struct procs_row *rows = NULL;
	struct reload_proc *v = NULL;
	char sha[2 * CRYPTO_SHA256_LEN + 1];
	int64_t since, deadline;
	int i, n = 0, nsig = 0, pending, json = 0, wait_s = RELOAD_WAIT_S, rc = 1, ok;
	struct timespec pause = { 0, RELOAD_POLL_MS * 1000000L };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if ((wait_s = reload_parse_wait(argv[++i])) < 0)
				return reload_usage();
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin reload [--timeout SECONDS] [--json]\n\n"
			    "Checks the configuration file as check-config does, then has every "
			    "quotapool.fcgi\nprocess of this host that serves its database read it "
			    "again (SIGHUP) and waits\n(%d s by default) for each one's answer: "
			    "reloaded, with what changed and the\nsettings that need a restart, or "
			    "refused, with the file's errors. Open streams\nare not interrupted. "
			    "An invalid file is refused here and no process is told.\nExit 0 when "
			    "every running process reloaded this file, 1 otherwise, 2 on bad\n"
			    "usage.\n", RELOAD_WAIT_S);
			return 0;
		} else
			return reload_usage();
	}
	/* check-config's messages come from here, on stderr. */
	if (admin_load_config(a) != 0) {
		admin_err("reload refused: the running gateway keeps its configuration");
		return 1;
	}
	if (reload_file_sha256(a->config_path, sha) != 0 || admin_open_migrated_db(a) != 0)
		return 1;
	if (procs_list(a->db, reload_now_ms(), &rows, &n) != 0)
		return 1;
	if ((v = calloc(n > 0 ? (size_t)n : 1, sizeof(*v))) == NULL) {
		admin_err("out of memory");
		goto out;
	}
	if ((since = reload_last_event(a->db)) < 0) {
		admin_err("cannot read operational_events: %s", sqlite3_errmsg(a->db));
		goto out;
	}
	/* Gone processes are left out; the others are told, or named. */
	for (i = 0, nsig = 0; i < n; i++) {
		if (rows[i].state == PROCS_GONE)
			continue;
		v[nsig].row = rows[i];
		if (rows[i].state == PROCS_REMOTE)
			v[nsig].outcome = RELOAD_OUT_NOT_SIGNALLED;
		else if (kill((pid_t)rows[i].pid, SIGHUP) != 0) {
			v[nsig].outcome = RELOAD_OUT_SIGNAL_FAILED;
			v[nsig].err = errno;
		}
		nsig++;
	}
	n = nsig;
	deadline = reload_now_ms() + (int64_t)wait_s * 1000;
	for (;;) {
		if ((pending = reload_collect(a->db, &since, v, n, sha)) < 0) {
			admin_err("cannot read operational_events: %s", sqlite3_errmsg(a->db));
			goto out;
		}
		if (pending == 0 || reload_now_ms() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	for (i = 0, ok = 1; i < n; i++) {
		if (v[i].outcome == RELOAD_OUT_PENDING)
			v[i].outcome = RELOAD_OUT_NO_ANSWER;
		ok = ok && v[i].outcome == RELOAD_OUT_APPLIED;
	}
	if (json)
		reload_print_json(v, n, a->config_path, sha, ok);
	else if (n == 0)
		printf("no quotapool.fcgi process runs on %s: %s is valid and applies at the "
		    "next start\n", a->cfg->database.path, a->config_path);
	else {
		for (i = 0; i < n; i++)
			reload_print(&v[i], sha, wait_s);
	}
	rc = ok ? 0 : 1;
out:
	for (i = 0; v != NULL && i < n; i++)
		cJSON_Delete(v[i].answer);
	free(v);
	free(rows);
	return rc;
}
