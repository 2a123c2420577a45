/* healthcheck.c: the providers' health checks of their accounts: an HTTP request or a command. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "db.h"
#include "healthcheck.h"

enum healthcheck_stmt {
	HEALTHCHECK_STMT_PING,		/* one provider_pings row */
	HEALTHCHECK_STMT_FAIL,		/* write or renew the account's health_check row */
	HEALTHCHECK_STMT_PASS,		/* delete the account's health_check row */
	HEALTHCHECK_STMT_HELD,		/* whether the account has a health_check row */
	HEALTHCHECK_STMT__MAX
};

static const char *const healthcheck_sql[HEALTHCHECK_STMT__MAX] = {
	[HEALTHCHECK_STMT_PING] = "INSERT INTO provider_pings (provider_id, account_name, "
	    "probed_at, latency_ms, status_code, ok, error, model_count) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
	/* SET reads the old row: a health_check row counts on, another kind restarts at 1. */
	[HEALTHCHECK_STMT_FAIL] = "INSERT INTO account_backoffs (account_name, model_id, scope, "
	    "reason, backoff_until, consecutive_failures, status_code, error_class, updated_at) "
	    "VALUES (?1, '', 'account', 'health_check', ?2, 1, ?3, ?4, ?5) "
	    "ON CONFLICT (account_name, model_id) DO UPDATE SET "
	    "consecutive_failures = CASE WHEN reason = 'health_check' "
	    "THEN consecutive_failures + 1 ELSE 1 END, reason = 'health_check', "
	    "backoff_until = excluded.backoff_until, status_code = excluded.status_code, "
	    "error_class = excluded.error_class, updated_at = excluded.updated_at "
	    "WHERE account_backoffs.reason = 'health_check' OR "
	    "account_backoffs.backoff_until <= excluded.backoff_until",
	[HEALTHCHECK_STMT_PASS] = "DELETE FROM account_backoffs WHERE account_name = ?1 "
	    "AND model_id = '' AND reason = 'health_check'",
	[HEALTHCHECK_STMT_HELD] = "SELECT EXISTS (SELECT 1 FROM account_backoffs WHERE "
	    "account_name = ?1 AND model_id = '' AND reason = 'health_check')",
};

/* How often a command whose output closed is looked at until it ended (ms). */
#define HEALTHCHECK_REAP_MS	2

struct healthcheck_db {
	sqlite3		*db;				/* borrowed connection */
	sqlite3_stmt	*st[HEALTHCHECK_STMT__MAX];	/* prepared statements */
};

struct healthcheck_runner {
	struct upstream_share *sh;	/* borrowed; NULL = no http checks */
	struct upstream	*up;		/* made at the first http check */
	const atomic_int *cancel;	/* borrowed, may be NULL */
	int64_t		 deadline_us;	/* monotonic end of the check running */
	int		 timed_out;	/* 1 once the deadline passed */
	int		 cancelled;	/* 1 once cancel was seen */
	size_t		 len;		/* bytes kept in buf */
	char		 buf[HEALTHCHECK_READ_MAX]; /* body or output kept (wiped) */
};

/* ---- pure parts ---------------------------------------------------------- */

int
healthcheck_status_ok(const struct config_check *c, int status)
{
	int i;

	if (status <= 0)
		return 0;
	if (c->nexpect_status == 0)
		return status >= 200 && status <= 299;
	for (i = 0; i < c->nexpect_status && i < CONFIG_CHECK_STATUS_MAX; i++)
		if (c->expect_status[i] == status)
			return 1;
	return 0;
}

int
healthcheck_holds(const char *buf, size_t len, const char *want)
{
	size_t n;

	if (want == NULL || (n = strlen(want)) == 0)
		return 1;
	if (buf == NULL || n > len)
		return 0;
	return memmem(buf, len, want, n) != NULL;
}

/* Sets the failure of r: its class and detail. */
static void
healthcheck_fail(struct healthcheck_result *r, const char *class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
healthcheck_fail(struct healthcheck_result *r, const char *class, const char *fmt, ...)
{
	va_list ap;

	r->ok = 0;
	snprintf(r->error_class, sizeof(r->error_class), "%s", class);
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* Writes c's expected statuses ("200, 204" or "2xx") into buf. */
static const char *
healthcheck_expected(const struct config_check *c, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	if (c->nexpect_status == 0) {
		snprintf(buf, len, "2xx");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < c->nexpect_status && i < CONFIG_CHECK_STATUS_MAX && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%d", i > 0 ? ", " : "",
		    c->expect_status[i]);
	return buf;
}

void
healthcheck_judge_http(const struct config_check *c, int status, const char *body, size_t len,
    struct healthcheck_result *r)
{
	char want[96];

	r->status = status;
	r->error_class[0] = '\0';
	if (status <= 0)
		healthcheck_fail(r, "check_no_answer", "no answer");
	else if (!healthcheck_status_ok(c, status))
		healthcheck_fail(r, "check_status", "HTTP %d, expected %s", status,
		    healthcheck_expected(c, want, sizeof(want)));
	else if (!healthcheck_holds(body, len, c->expect_body))
		healthcheck_fail(r, "check_body", "HTTP %d, the body lacks the expected text",
		    status);
	else {
		r->ok = 1;
		snprintf(r->detail, sizeof(r->detail), "HTTP %d", status);
	}
}

void
healthcheck_judge_command(const struct config_check *c, int exit_code, int sig, int timed_out,
    const char *out, size_t len, struct healthcheck_result *r)
{

	r->exit_code = exit_code;
	r->timed_out = timed_out;
	r->error_class[0] = '\0';
	if (timed_out)
		healthcheck_fail(r, "check_timeout", "killed after the timeout of %d ms",
		    c->timeout_ms);
	else if (exit_code < 0 && sig > 0)
		healthcheck_fail(r, "check_signal", "killed by signal %d", sig);
	else if (exit_code < 0)
		healthcheck_fail(r, "check_not_run", "the command did not run");
	else if (exit_code != 0)
		healthcheck_fail(r, "check_exit", "exit %d", exit_code);
	else if (!healthcheck_holds(out, len, c->expect_output))
		healthcheck_fail(r, "check_output", "exit 0, the output lacks the expected text");
	else {
		r->ok = 1;
		snprintf(r->detail, sizeof(r->detail), "exit 0");
	}
}

int64_t
healthcheck_hold_ms(const struct config_provider *p)
{
	int n = p->naccounts > 0 ? p->naccounts : 1;

	return 2 * (int64_t)p->check_interval_ms + (int64_t)n * p->check.timeout_ms +
	    HEALTHCHECK_HOLD_SLACK_MS;
}

int
healthcheck_account_wanted(const struct config_provider *p, const struct config_account *a)
{

	return p->enabled && a->enabled && (p->auth == CONFIG_AUTH_NONE ||
	    (a->api_key != NULL && a->api_key[0] != '\0'));
}

/* Column widths of the check table. */
#define HEALTHCHECK_W_ID	32
#define HEALTHCHECK_W_STATUS	9
#define HEALTHCHECK_W_LATENCY	10

const char *
healthcheck_table_header(char *buf, size_t len)
{

	snprintf(buf, len, "%-*s %-*s %*s  %s", HEALTHCHECK_W_ID, "ID", HEALTHCHECK_W_STATUS,
	    "STATUS", HEALTHCHECK_W_LATENCY, "LATENCY_MS", "DETAIL");
	return buf;
}

const char *
healthcheck_table_row(char *buf, size_t len, const char *id, const char *status,
    int64_t latency_ms, const char *detail)
{
	char lat[24];

	if (latency_ms >= 0)
		snprintf(lat, sizeof(lat), "%lld", (long long)latency_ms);
	else
		snprintf(lat, sizeof(lat), "-");
	snprintf(buf, len, "%-*s %-*s %*s  %s", HEALTHCHECK_W_ID, id, HEALTHCHECK_W_STATUS,
	    status, HEALTHCHECK_W_LATENCY, lat, detail != NULL ? detail : "");
	return buf;
}

/* ---- running ------------------------------------------------------------- */

struct healthcheck_runner *
healthcheck_runner_new(struct upstream_share *sh, const atomic_int *cancel, enum qp_err *err)
{
	struct healthcheck_runner *hr;

	if ((hr = calloc(1, sizeof(*hr))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	hr->sh = sh;
	hr->cancel = cancel;
	*err = QP_OK;
	return hr;
}

void
healthcheck_runner_free(struct healthcheck_runner *hr)
{

	if (hr == NULL)
		return;
	upstream_free(hr->up);
	crypto_wipe(hr->buf, sizeof(hr->buf));
	free(hr);
}

/* 1 once the caller asked to stop. */
static int
healthcheck_cancelled(struct healthcheck_runner *hr)
{

	if (hr->cancel != NULL && atomic_load(hr->cancel))
		hr->cancelled = 1;
	return hr->cancelled;
}

/* Keeps the first HEALTHCHECK_READ_MAX bytes; the rest is dropped. */
static void
healthcheck_keep(struct healthcheck_runner *hr, const char *buf, size_t len)
{
	size_t room = sizeof(hr->buf) - hr->len;

	if (len > room)
		len = room;
	memcpy(hr->buf + hr->len, buf, len);
	hr->len += len;
}

static int
healthcheck_on_data(const char *buf, size_t len, void *arg)
{

	healthcheck_keep(arg, buf, len);
	return 0;
}

static int
healthcheck_on_tick(void *arg)
{
	struct healthcheck_runner *hr = arg;

	if (healthcheck_cancelled(hr))
		return 1;
	if (db_mono_us() >= hr->deadline_us) {
		hr->timed_out = 1;
		return 1;
	}
	return 0;
}

/* The http check of a with p's check. */
static enum qp_err
healthcheck_http(struct healthcheck_runner *hr, const struct config *cfg,
    const struct config_provider *p, const struct config_account *a,
    struct healthcheck_result *r)
{
	const struct config_check *c = &p->check;
	struct upstream_headers *h = NULL;
	struct upstream_req req;
	struct upstream_res res;
	unsigned proto;
	enum qp_err err;

	if (hr->sh == NULL) {
		healthcheck_fail(r, "check_local", "no HTTP transport");
		return QP_OK;
	}
	if (hr->up == NULL && (hr->up = upstream_new(hr->sh)) == NULL)
		return QP_ENOMEM;
	/* An Anthropic-only provider takes x-api-key and anthropic-version by default. */
	proto = (p->protocols & CONFIG_PROTO_ANTHROPIC) &&
	    !(p->protocols & (CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES)) ?
	    CONFIG_PROTO_ANTHROPIC : CONFIG_PROTO_OPENAI;
	if ((h = upstream_headers_new(p, a, proto, NULL, &err)) == NULL) {
		if (err == QP_ENOMEM)
			return err;
		healthcheck_fail(r, "check_local", "the account's key cannot be sent");
		return QP_OK;
	}
	upstream_req_init(&req, cfg, p, a);
	req.method = c->method == CONFIG_CHECK_POST ? UPSTREAM_POST : UPSTREAM_GET;
	req.path = c->path;
	req.headers = h;
	if (req.connect_timeout_ms <= 0 || req.connect_timeout_ms > c->timeout_ms)
		req.connect_timeout_ms = c->timeout_ms;
	req.first_byte_timeout_ms = c->timeout_ms;
	req.idle_timeout_ms = c->timeout_ms;
	req.cb.on_data = healthcheck_on_data;
	req.cb.on_tick = healthcheck_on_tick;
	req.cb.arg = hr;
	err = upstream_perform(hr->up, &req, &res);
	upstream_headers_free(h);
	if (err == QP_ENOMEM)
		return err;
	if (hr->cancelled)
		return QP_ECLOSED;
	r->status = res.head.status;
	if (err != QP_OK)
		healthcheck_fail(r, "check_local", "the URL cannot be requested");
	else if (hr->timed_out || res.result == UPSTREAM_FIRST_BYTE_TIMEOUT ||
	    res.result == UPSTREAM_IDLE_TIMEOUT) {
		r->timed_out = 1;
		healthcheck_fail(r, "check_timeout", "no whole answer within %d ms",
		    c->timeout_ms);
	} else if (res.result != UPSTREAM_OK)
		/* curl's message names hosts and ports, never headers. */
		healthcheck_fail(r, upstream_result_name(res.result), "%s: %.90s",
		    upstream_result_name(res.result), res.detail);
	else
		healthcheck_judge_http(c, res.head.status, hr->buf, hr->len, r);
	return QP_OK;
}

/* Adds "NAME=value" to env at *n; 0 or -1 when out of memory. */
static int
healthcheck_env_add(char **env, int *n, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;

	if ((env[*n] = malloc(len)) == NULL)
		return -1;
	snprintf(env[*n], len, "%s=%s", name, value);
	(*n)++;
	return 0;
}

/* Wipes and frees the strings of env. */
static void
healthcheck_env_free(char **env)
{
	int i;

	for (i = 0; env[i] != NULL; i++) {
		crypto_wipe(env[i], strlen(env[i]));
		free(env[i]);
	}
}

/* Starts /bin/sh -c cmd with env, its stdout on out; *pid receives it. errno-style result. */
static int
healthcheck_spawn(const struct config *cfg, const char *cmd, char **env, int out, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	sigemptyset(&none);
	sigfillset(&all);
	/*
	 * Its own process group, so that the whole of it can be killed; the
	 * signal mask and dispositions of a plain process (the server's
	 * threads block and ignore some); none of the server's descriptors.
	 */
	rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rc == 0 && cfg != NULL && cfg->dir != NULL)
		rc = posix_spawn_file_actions_addchdir_np(&fa, cfg->dir);
	if (rc == 0)
		rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/*
 * Waits for child pid (leader of its process group) to end, reading its
 * output from fd until the deadline or the cancel flag; at either, kills
 * the group. Once it ended, kills what is left of its group, then reaps
 * it into *status. Returns 0, -1 if it had to be killed, 1 if it ended
 * but its status is lost (SIGCHLD ignored: the system reaped it).
 */
static int
healthcheck_wait(struct healthcheck_runner *hr, pid_t pid, int fd, int *status)
{
	struct pollfd pfd;
	siginfo_t si;
	char scratch[4096];
	int64_t now;
	ssize_t n;
	int eof = 0, killed = 0, unknown = 0, wait_ms, rc;

	for (;;) {
		now = db_mono_us();
		if (healthcheck_cancelled(hr) || now >= hr->deadline_us) {
			if (!hr->cancelled)
				hr->timed_out = 1;
			killed = 1;
			break;
		}
		wait_ms = (int)((hr->deadline_us - now + 999) / 1000);
		if (wait_ms > HEALTHCHECK_POLL_MS)
			wait_ms = HEALTHCHECK_POLL_MS;
		if (!eof) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (poll(&pfd, 1, wait_ms) > 0) {
				n = read(fd, scratch, sizeof(scratch));
				if (n > 0)
					healthcheck_keep(hr, scratch, (size_t)n);
				else if (n == 0 || (errno != EINTR && errno != EAGAIN))
					eof = 1;
			}
		} else
			/* Output closed: the end is near; look for it often. */
			poll(NULL, 0, wait_ms < HEALTHCHECK_REAP_MS ? wait_ms : HEALTHCHECK_REAP_MS);
		/* Ended? Not reaped yet: its process group cannot be reused meanwhile. */
		memset(&si, 0, sizeof(si));
		rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (rc == 0 && si.si_pid == pid)
			break;
		/* SIGCHLD ignored by whoever started us: reaped already, status lost. */
		if (rc < 0 && errno == ECHILD) {
			unknown = 1;
			break;
		}
	}
	kill(-pid, SIGKILL);
	while (!unknown && waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	crypto_wipe(scratch, sizeof(scratch));
	return killed ? -1 : unknown ? 1 : 0;
}

/* The command check of a with p's check. */
static enum qp_err
healthcheck_command(struct healthcheck_runner *hr, const struct config *cfg,
    const struct config_provider *p, const struct config_account *a,
    struct healthcheck_result *r)
{
	char *env[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
	int fds[2] = { -1, -1 }, n = 0, rc, status = 0, killed;
	enum qp_err err = QP_OK;
	pid_t pid;

	if (healthcheck_env_add(env, &n, "PATH", HEALTHCHECK_PATH) != 0 ||
	    healthcheck_env_add(env, &n, "QUOTAPOOL_PROVIDER", p->id) != 0 ||
	    healthcheck_env_add(env, &n, "QUOTAPOOL_ACCOUNT", a->name) != 0 ||
	    healthcheck_env_add(env, &n, "QUOTAPOOL_BASE_URL", p->base_url) != 0 ||
	    (a->api_key != NULL &&
	    healthcheck_env_add(env, &n, "QUOTAPOOL_API_KEY", a->api_key) != 0)) {
		err = QP_ENOMEM;
		goto out;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		healthcheck_fail(r, "check_not_run", "cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	if ((rc = healthcheck_spawn(cfg, p->check.cmd, env, fds[1], &pid)) != 0) {
		healthcheck_fail(r, "check_not_run", "cannot start /bin/sh: %s", strerror(rc));
		goto out;
	}
	close(fds[1]);
	fds[1] = -1;
	killed = healthcheck_wait(hr, pid, fds[0], &status);
	if (hr->cancelled) {
		err = QP_ECLOSED;
		goto out;
	}
	if (killed < 0)
		healthcheck_judge_command(&p->check, -1, SIGKILL, hr->timed_out, NULL, 0, r);
	else if (killed > 0)
		healthcheck_fail(r, "check_not_run", "its exit status is lost: SIGCHLD is "
		    "ignored in this process");
	else if (WIFEXITED(status))
		healthcheck_judge_command(&p->check, WEXITSTATUS(status), 0, 0, hr->buf,
		    hr->len, r);
	else
		healthcheck_judge_command(&p->check, -1, WIFSIGNALED(status) ?
		    WTERMSIG(status) : 0, 0, NULL, 0, r);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	healthcheck_env_free(env);
	return err;
}

enum qp_err
healthcheck_run(struct healthcheck_runner *hr, const struct config *cfg,
    const struct config_provider *p, const struct config_account *a,
    struct healthcheck_result *r)
{
	int64_t t0;
	enum qp_err err;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	r->latency_ms = -1;
	if (p->check.type != CONFIG_CHECK_HTTP && p->check.type != CONFIG_CHECK_COMMAND)
		return QP_EINVAL;
	r->probed_at = db_now_ms();
	t0 = db_mono_us();
	hr->deadline_us = t0 + (int64_t)p->check.timeout_ms * 1000;
	hr->timed_out = 0;
	hr->cancelled = 0;
	hr->len = 0;
	if (p->check.type == CONFIG_CHECK_HTTP)
		err = healthcheck_http(hr, cfg, p, a, r);
	else
		err = healthcheck_command(hr, cfg, p, a, r);
	r->latency_ms = (db_mono_us() - t0) / 1000;
	crypto_wipe(hr->buf, hr->len);
	hr->len = 0;
	return err;
}

/* ---- recording ----------------------------------------------------------- */

struct healthcheck_db *
healthcheck_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct healthcheck_db *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	d->db = db;
	*err = db_prepare_all(db, healthcheck_sql, HEALTHCHECK_STMT__MAX, d->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(d);
		return NULL;
	}
	return d;
}

void
healthcheck_db_free(struct healthcheck_db *d)
{

	if (d == NULL)
		return;
	db_finalize_all(d->st, HEALTHCHECK_STMT__MAX);
	free(d);
}

enum qp_err
healthcheck_record(struct healthcheck_db *d, const struct config_provider *p,
    const struct config_account *a, const struct healthcheck_result *r, int64_t now,
    int *changed)
{
	sqlite3_stmt *st;
	char error[HEALTHCHECK_DETAIL_MAX + 16];
	enum qp_err err;
	int held = 0, rc;

	if (changed != NULL)
		*changed = 0;
	if ((err = db_begin_write(d->db)) != QP_OK)
		return err;
	st = d->st[HEALTHCHECK_STMT_HELD];
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		held = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW) {
		err = QP_EDB;
		goto out;
	}
	st = d->st[HEALTHCHECK_STMT_PING];
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, a->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, r->probed_at > 0 ? r->probed_at : now);
	if (r->latency_ms >= 0)
		sqlite3_bind_int64(st, 4, r->latency_ms);
	if (r->status > 0)
		sqlite3_bind_int(st, 5, r->status);
	sqlite3_bind_int(st, 6, r->ok ? 1 : 0);
	if (!r->ok) {
		snprintf(error, sizeof(error), "health check: %s", r->detail);
		sqlite3_bind_text(st, 7, error, -1, SQLITE_TRANSIENT);
	}
	if ((err = db_step_done(st)) != QP_OK)
		goto out;
	if (r->ok) {
		st = d->st[HEALTHCHECK_STMT_PASS];
		sqlite3_bind_text(st, 1, a->name, -1, SQLITE_TRANSIENT);
	} else {
		st = d->st[HEALTHCHECK_STMT_FAIL];
		sqlite3_bind_text(st, 1, a->name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now + healthcheck_hold_ms(p));
		if (r->status > 0)
			sqlite3_bind_int(st, 3, r->status);
		sqlite3_bind_text(st, 4, r->error_class, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, now);
	}
	err = db_step_done(st);
out:
	if (err != QP_OK) {
		db_rollback(d->db);
		return err;
	}
	if ((err = db_commit(d->db)) == QP_OK && changed != NULL)
		*changed = r->ok ? held : !held;
	return err;
}
