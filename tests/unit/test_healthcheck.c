/* test_healthcheck.c: health checks: expectations, the table, commands, results kept. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "config.h"
#include "db.h"
#include "healthcheck.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-healthcheck-XXXXXX";
static char dbpath[600];

/* Loads a configuration from text; NULL (and a message) if it does not load. */
static struct config *
load(const char *text)
{
	struct config_diag diag = { NULL, 0, 0 };
	struct config *cfg;
	char path[700];
	enum qp_err err;

	snprintf(path, sizeof(path), "%s/config.toml", tmpdir);
	cfg = config_load_buf(text, strlen(text), path, &diag, &err);
	if (cfg == NULL)
		config_diag_print(&diag, "test", stdout);
	config_diag_free(&diag);
	return cfg;
}

/* Diagnostics of a configuration as check-config prints them, into buf. */
static const char *
diag_of(const char *text, char *buf, size_t len)
{
	struct config_diag diag = { NULL, 0, 0 };
	struct config *cfg;
	enum qp_err err;
	FILE *fp;

	cfg = config_load_buf(text, strlen(text), NULL, &diag, &err);
	memset(buf, 0, len);
	if ((fp = fmemopen(buf, len - 1, "w")) != NULL) {
		config_diag_print(&diag, "c", fp);
		fclose(fp);
	}
	config_diag_free(&diag);
	config_free(cfg);
	return buf;
}

static void
test_status_and_text(void)
{
	struct config_check c;

	memset(&c, 0, sizeof(c));
	ok(healthcheck_status_ok(&c, 200) && healthcheck_status_ok(&c, 204) &&
	    healthcheck_status_ok(&c, 299), "no expect_status: any 2xx passes");
	ok(!healthcheck_status_ok(&c, 301) && !healthcheck_status_ok(&c, 199) &&
	    !healthcheck_status_ok(&c, 0) && !healthcheck_status_ok(&c, 503),
	    "no expect_status: 3xx, 1xx, 5xx and no answer fail");
	c.expect_status[0] = 200;
	c.expect_status[1] = 401;
	c.nexpect_status = 2;
	ok(healthcheck_status_ok(&c, 200) && healthcheck_status_ok(&c, 401),
	    "expect_status: each listed status passes");
	ok(!healthcheck_status_ok(&c, 204) && !healthcheck_status_ok(&c, 0),
	    "expect_status: another 2xx fails");

	ok(healthcheck_holds("abc", 3, NULL) && healthcheck_holds("", 0, ""),
	    "no expected text: anything holds it");
	ok(healthcheck_holds("{\"status\":\"ok\"}", 15, "\"ok\""), "text found");
	ok(!healthcheck_holds("{\"status\":\"ok\"}", 10, "\"ok\""),
	    "only the first len bytes are searched");
	ok(!healthcheck_holds("ok", 2, "okay"), "a longer text is not held");
	ok(healthcheck_holds("a\0bok", 5, "ok"), "NUL bytes in the body do not stop the search");
}

static void
test_judge(void)
{
	struct healthcheck_result r;
	struct config_check c;

	memset(&c, 0, sizeof(c));
	c.expect_status[0] = 200;
	c.nexpect_status = 1;
	c.expect_body = "alive";
	c.timeout_ms = 2000;
	memset(&r, 0, sizeof(r));
	healthcheck_judge_http(&c, 200, "i am alive", 10, &r);
	ok(r.ok && r.status == 200, "http: status and body as expected");
	is_str(r.detail, "HTTP 200", "http: the detail of a pass");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_http(&c, 503, "alive", 5, &r);
	ok(!r.ok, "http: an unexpected status fails");
	is_str(r.detail, "HTTP 503, expected 200", "http: the detail says what was expected");
	is_str(r.error_class, "check_status", "http: class of a wrong status");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_http(&c, 200, "dead", 4, &r);
	ok(!r.ok, "http: a body without the text fails");
	is_str(r.error_class, "check_body", "http: class of a wrong body");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_http(&c, 0, NULL, 0, &r);
	ok(!r.ok && strcmp(r.error_class, "check_no_answer") == 0, "http: no answer fails");

	c.expect_output = "pong";
	memset(&r, 0, sizeof(r));
	healthcheck_judge_command(&c, 0, 0, 0, "ping pong\n", 10, &r);
	ok(r.ok && r.exit_code == 0, "command: exit 0 with the text passes");
	is_str(r.detail, "exit 0", "command: the detail of a pass");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_command(&c, 0, 0, 0, "ping\n", 5, &r);
	ok(!r.ok, "command: exit 0 without the text fails");
	is_str(r.error_class, "check_output", "command: class of a wrong output");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_command(&c, 3, 0, 0, "pong", 4, &r);
	ok(!r.ok, "command: a non-zero exit fails, even with the text");
	is_str(r.detail, "exit 3", "command: the detail names the exit status");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_command(&c, -1, SIGKILL, 1, NULL, 0, &r);
	ok(!r.ok && r.timed_out, "command: a timeout fails");
	is_str(r.detail, "killed after the timeout of 2000 ms", "command: timeout detail");
	memset(&r, 0, sizeof(r));
	healthcheck_judge_command(&c, -1, SIGSEGV, 0, NULL, 0, &r);
	ok(!r.ok && strcmp(r.error_class, "check_signal") == 0, "command: a signal fails");
}

static void
test_table(void)
{
	char buf[256], hdr[256];

	healthcheck_table_header(hdr, sizeof(hdr));
	is_str(hdr, "ID                               STATUS    LATENCY_MS  DETAIL",
	    "table header");
	healthcheck_table_row(buf, sizeof(buf), "mock/a1", "ok", 12, "HTTP 200");
	is_str(buf, "mock/a1                          ok                12  HTTP 200",
	    "table row");
	ok(strstr(hdr, "STATUS") - hdr == strstr(buf, "ok") - buf,
	    "the status is under its header");
	healthcheck_table_row(buf, sizeof(buf), "mock/a2", "failed", -1, "exit 3");
	is_str(buf, "mock/a2                          failed             -  exit 3",
	    "a row without latency");
}

static const char *const cfg_base =
    "[database]\npath = \"%s\"\n"
    "[providers.p]\nbase_url = \"http://127.0.0.1:9/v1\"\n"
    "check_interval_s = 30\n"
    "check = { type = \"command\", cmd = \"%s\", %s timeout_s = %s }\n"
    "[[providers.p.accounts]]\nname = \"acct-one\"\napi_key = \"sk-test-secret-4242\"\n"
    "[[providers.p.accounts]]\nname = \"acct-two\"\napi_key = \"sk-test-secret-4343\"\n";

/* Runs a command check of account 0 with cmd; the result into r. */
static enum qp_err
run_cmd(const char *cmd, const char *extra, const char *timeout, struct healthcheck_result *r,
    struct config **out)
{
	struct healthcheck_runner *hr;
	struct config *cfg;
	char text[4096];
	enum qp_err err;

	snprintf(text, sizeof(text), cfg_base, dbpath, cmd, extra, timeout);
	if ((cfg = load(text)) == NULL)
		return QP_ECONFIG;
	if ((hr = healthcheck_runner_new(NULL, NULL, &err)) == NULL) {
		config_free(cfg);
		return err;
	}
	err = healthcheck_run(hr, cfg, &cfg->providers[0], &cfg->providers[0].accounts[0], r);
	healthcheck_runner_free(hr);
	if (out != NULL)
		*out = cfg;
	else
		config_free(cfg);
	return err;
}

/* Reads a whole small file into buf; "" if absent. */
static const char *
slurp(const char *path, char *buf, size_t len)
{
	FILE *fp;
	size_t n = 0;

	buf[0] = '\0';
	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, len - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return buf;
}

/* 1 if process pid no longer runs: gone, or dead and waiting for its reaper. */
static int
gone(long pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	return (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* 1 once pid is gone, waiting up to 5 s: a SIGKILL takes effect when its target next runs. */
static int
gone_soon(long pid)
{
	struct timespec ts = { 0, 20 * 1000000 };
	int i;

	for (i = 0; i < 250; i++) {
		if (gone(pid))
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void
test_commands(void)
{
	struct healthcheck_result r;
	char cmd[2048], path[700], pidpath[700], buf[4096];
	struct timespec t0, t1;
	long pid = 0, gpid = 0;
	double secs;
	FILE *fp;

	ok(run_cmd("echo pong", "expect_output = \"pong\",", "5", &r, NULL) == QP_OK &&
	    r.ok && r.exit_code == 0, "a command whose output holds the text passes");
	ok(r.latency_ms >= 0 && r.probed_at > 0, "its latency and time are measured");
	ok(run_cmd("echo ping", "expect_output = \"pong\",", "5", &r, NULL) == QP_OK &&
	    !r.ok && strcmp(r.error_class, "check_output") == 0,
	    "a command whose output lacks the text fails");
	ok(run_cmd("echo pong; exit 7", "expect_output = \"pong\",", "5", &r, NULL) ==
	    QP_OK && !r.ok && r.exit_code == 7, "a non-zero exit fails");
	is_str(r.detail, "exit 7", "and says its status");
	ok(run_cmd("kill -TERM $$", "", "5", &r, NULL) == QP_OK && !r.ok &&
	    strcmp(r.detail, "killed by signal 15") == 0, "a command killed by a signal fails");

	/* Its environment: the four variables and PATH, nothing of ours; in the config's dir. */
	snprintf(path, sizeof(path), "%s/env.out", tmpdir);
	snprintf(cmd, sizeof(cmd), "env | sort > %s; pwd >> %s", path, path);
	setenv("QP_TEST_LEAK", "should-not-pass", 1);
	ok(run_cmd(cmd, "", "5", &r, NULL) == QP_OK && r.ok, "the environment is written out");
	unsetenv("QP_TEST_LEAK");
	slurp(path, buf, sizeof(buf));
	ok(strstr(buf, "QUOTAPOOL_API_KEY=sk-test-secret-4242\n") != NULL,
	    "the account's key is in QUOTAPOOL_API_KEY");
	ok(strstr(buf, "QUOTAPOOL_ACCOUNT=acct-one\n") != NULL &&
	    strstr(buf, "QUOTAPOOL_PROVIDER=p\n") != NULL &&
	    strstr(buf, "QUOTAPOOL_BASE_URL=http://127.0.0.1:9/v1\n") != NULL,
	    "provider, account and base URL are given");
	ok(strstr(buf, "QP_TEST_LEAK") == NULL && strstr(buf, "HOME=") == NULL,
	    "nothing else of the caller's environment");
	ok(strstr(buf, tmpdir) != NULL, "it runs in the configuration's directory");
	ok(strstr(r.detail, "sk-test") == NULL, "the detail holds no key");

	/* A command that sleeps, with a child of its own: both killed at the timeout. */
	snprintf(pidpath, sizeof(pidpath), "%s/pids", tmpdir);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $$ $! > %s; wait", pidpath);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok(run_cmd(cmd, "", "1", &r, NULL) == QP_OK && !r.ok && r.timed_out,
	    "a command running past its timeout fails");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(secs < 20.0, "the check ends in bounded time (%.1f s, the command sleeps 30 s)", secs);
	is_str(r.error_class, "check_timeout", "its class says timeout");
	if ((fp = fopen(pidpath, "r")) != NULL) {
		if (fscanf(fp, "%ld %ld", &pid, &gpid) != 2)
			pid = gpid = 0;
		fclose(fp);
	}
	ok(pid > 0 && gpid > 0, "the command wrote its pids");
	ok(gone_soon(pid),
	    "the shell is gone (pid %ld)", pid);
	ok(gone_soon(gpid),
	    "its background child is gone too (pid %ld)", gpid);

	/* A background child left behind by a command that passed is killed as well. */
	snprintf(cmd, sizeof(cmd), "sleep 30 >/dev/null 2>&1 & echo $! > %s; echo ok",
	    pidpath);
	ok(run_cmd(cmd, "expect_output = \"ok\",", "5", &r, NULL) == QP_OK && r.ok,
	    "a command that leaves a child behind passes");
	gpid = 0;
	if ((fp = fopen(pidpath, "r")) != NULL) {
		if (fscanf(fp, "%ld", &gpid) != 1)
			gpid = 0;
		fclose(fp);
	}
	ok(gone_soon(gpid),
	    "the child it left behind is gone (pid %ld)", gpid);

	/* Started with SIGCHLD ignored, the status is lost: said at once, no timeout. */
	signal(SIGCHLD, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok(run_cmd("echo healthy", "expect_output = \"healthy\",", "5", &r, NULL) == QP_OK &&
	    !r.ok, "with SIGCHLD ignored, a command's status is lost: the check fails");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	signal(SIGCHLD, SIG_DFL);
	is_str(r.detail, "its exit status is lost: SIGCHLD is ignored in this process",
	    "and says why");
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(!r.timed_out && secs < 4.0, "without waiting for the timeout (%.1f s)", secs);

	/* Output beyond the bound is read and dropped; the text must be within it. */
	ok(run_cmd("head -c 200000 /dev/zero | tr \\\\\\\\0 x; echo; echo pong",
	    "expect_output = \"pong\",", "10", &r, NULL) == QP_OK && !r.ok &&
	    r.exit_code == 0, "text past the first 64 KiB of output is not seen");
}

static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -3 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_record(void)
{
	struct db_opts o = { 5000, NULL, 0, 0 };
	struct healthcheck_result r;
	struct healthcheck_db *d = NULL;
	struct config *cfg = NULL;
	const struct config_provider *p;
	char errbuf[256];
	enum qp_err err;
	sqlite3 *db;
	int64_t now = db_now_ms();
	int changed;

	if ((db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (d = healthcheck_db_new(db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    run_cmd("exit 4", "", "5", &r, &cfg) != QP_OK) {
		ok(0, "set up: %s", errbuf);
		return;
	}
	p = &cfg->providers[0];
	changed = -1;
	ok(healthcheck_record(d, p, &p->accounts[0], &r, now, &changed) == QP_OK,
	    "a failure is recorded");
	is_int(changed, 1, "the first failure changes the account's health");
	is_int(q_int(db, "SELECT count(*) FROM provider_pings WHERE account_name = 'acct-one' "
	    "AND ok = 0 AND error = 'health check: exit 4' AND model_count IS NULL"), 1,
	    "one ping row with the detail");
	is_int(q_int(db, "SELECT backoff_until FROM account_backoffs WHERE account_name = "
	    "'acct-one' AND model_id = '' AND reason = 'health_check'"),
	    now + healthcheck_hold_ms(p), "the account backs off with reason health_check");
	is_int(healthcheck_hold_ms(p), 2 * 30000 + 2 * 5000 + HEALTHCHECK_HOLD_SLACK_MS,
	    "held for two intervals, a timeout per account and the slack");
	ok(healthcheck_record(d, p, &p->accounts[0], &r, now + 1000, &changed) == QP_OK,
	    "a second failure is recorded");
	is_int(changed, 0, "a second failure changes nothing");
	is_int(q_int(db, "SELECT consecutive_failures FROM account_backoffs WHERE "
	    "account_name = 'acct-one'"), 2, "failures in a row are counted");
	is_int(q_int(db, "SELECT count(*) FROM account_backoffs WHERE account_name = "
	    "'acct-one' AND error_class = 'check_exit'"), 1, "the class is kept");

	/* Another reason's row running longer stays; a pass never deletes it. */
	sqlite3_exec(db, "INSERT INTO account_backoffs (account_name, model_id, scope, reason, "
	    "backoff_until, consecutive_failures, updated_at) VALUES ('acct-two', '', "
	    "'account', 'quota_exceeded', 9000000000000, 1, 0)", NULL, NULL, NULL);
	ok(healthcheck_record(d, p, &p->accounts[1], &r, now, &changed) == QP_OK,
	    "a failure of an account in a longer backoff");
	is_int(q_int(db, "SELECT backoff_until FROM account_backoffs WHERE account_name = "
	    "'acct-two' AND reason = 'quota_exceeded'"), 9000000000000LL,
	    "the longer backoff of another reason is kept");
	r.ok = 1;
	r.exit_code = 0;
	ok(healthcheck_record(d, p, &p->accounts[1], &r, now, &changed) == QP_OK,
	    "a pass is recorded");
	is_int(changed, 0, "a pass of an account without health_check row changes nothing");
	is_int(q_int(db, "SELECT count(*) FROM account_backoffs WHERE account_name = "
	    "'acct-two'"), 1, "a pass leaves another reason's backoff");
	ok(healthcheck_record(d, p, &p->accounts[0], &r, now + 2000, &changed) == QP_OK,
	    "a pass after failures");
	is_int(changed, 1, "and changes the account's health");
	is_int(q_int(db, "SELECT count(*) FROM account_backoffs WHERE account_name = "
	    "'acct-one'"), 0, "a pass ends the health_check backoff");
	is_int(q_int(db, "SELECT count(*) FROM provider_pings WHERE account_name = 'acct-one' "
	    "AND ok = 1 AND error IS NULL"), 1, "the pass is a ping row without error");

	/* A short transient backoff is replaced by the longer health_check one. */
	sqlite3_exec(db, "INSERT INTO account_backoffs (account_name, model_id, scope, reason, "
	    "backoff_until, consecutive_failures, updated_at) VALUES ('acct-one', '', "
	    "'account', 'transient', 1, 3, 0)", NULL, NULL, NULL);
	r.ok = 0;
	ok(healthcheck_record(d, p, &p->accounts[0], &r, now, &changed) == QP_OK,
	    "a failure of an account in a shorter backoff");
	is_int(q_int(db, "SELECT consecutive_failures FROM account_backoffs WHERE "
	    "account_name = 'acct-one' AND reason = 'health_check'"), 1,
	    "the shorter one becomes health_check, counted from 1");
	healthcheck_db_free(d);
	db_close(db);
	config_free(cfg);
}

static void
test_config(void)
{
	char buf[4096];
	struct config *cfg;
	char text[2048];
	const char *head = "[providers.p]\nbase_url = \"http://127.0.0.1:9/v1\"\n"
	    "[[providers.p.accounts]]\nname = \"a\"\napi_key = \"sk-abcdefgh1234\"\n"
	    "[providers.q]\nbase_url = \"http://127.0.0.1:9/v1\"\n";

	snprintf(text, sizeof(text), "[database]\npath = \"%s\"\n%s"
	    "check = { type = \"http\", path = \"/health?deep=1\", method = \"POST\", "
	    "expect_status = [200, 204], expect_body = \"up\", timeout_s = 2.5 }\n"
	    "check_interval_s = 7\n"
	    "[[providers.q.accounts]]\nname = \"b\"\napi_key = \"sk-abcdefgh1234\"\n",
	    dbpath, head);
	if ((cfg = load(text)) == NULL) {
		ok(0, "an http check loads");
		return;
	}
	ok(cfg->providers[0].check.type == CONFIG_CHECK_NONE &&
	    cfg->providers[0].check_interval_ms == 60000, "no check: type none, 60 s default");
	ok(cfg->providers[1].check.type == CONFIG_CHECK_HTTP &&
	    cfg->providers[1].check.method == CONFIG_CHECK_POST &&
	    strcmp(cfg->providers[1].check.path, "/health?deep=1") == 0 &&
	    cfg->providers[1].check.nexpect_status == 2 &&
	    cfg->providers[1].check.expect_status[1] == 204 &&
	    strcmp(cfg->providers[1].check.expect_body, "up") == 0 &&
	    cfg->providers[1].check.timeout_ms == 2500 &&
	    cfg->providers[1].check_interval_ms == 7000, "an inline http check is read whole");
	ok(cfg->providers[1].check.line == 10, "its line is kept (%d)",
	    cfg->providers[1].check.line);
	config_free(cfg);

	snprintf(text, sizeof(text), "%s[providers.q.check]\ntype = \"command\"\n"
	    "cmd = \"true\"\n[[providers.q.accounts]]\nname = \"b\"\napi_key = \"sk-abcdefgh1234\"\n",
	    head);
	diag_of(text, buf, sizeof(buf));
	ok(strstr(buf, "error") == NULL, "the table form loads: %s", buf);

#define BAD(check, want) do { \
	snprintf(text, sizeof(text), "%scheck = %s\n[[providers.q.accounts]]\nname = \"b\"\n" \
	    "api_key = \"sk-abcdefgh1234\"\n", head, check); \
	diag_of(text, buf, sizeof(buf)); \
	ok(strstr(buf, want) != NULL, "%s: %s", check, buf); \
} while (0)
	BAD("{ path = \"/x\" }", "c:8: error: providers.q.check: type is required");
	BAD("{ type = \"exec\", cmd = \"x\" }", "c:8:18: error: providers.q.check.type: \"exec\" "
	    "is not one of the values accepted (http, command)");
	BAD("{ type = \"http\" }", "c:8: error: providers.q.check: path is required for a check "
	    "of type \"http\"");
	BAD("{ type = \"http\", path = \"x\" }", "c:8:33: error: providers.q.check.path: must start");
	BAD("{ type = \"command\" }", "c:8: error: providers.q.check: cmd is required");
	BAD("{ type = \"command\", cmd = \"\" }", "providers.q.check.cmd: the command is empty");
	BAD("{ type = \"http\", path = \"/h\", cmd = \"true\" }", "c:8: error: providers.q.check."
	    "cmd: only a check of type \"command\" takes it");
	BAD("{ type = \"command\", cmd = \"true\", expect_status = [200] }", "c:8: error: "
	    "providers.q.check.expect_status: only a check of type \"http\" takes it");
	BAD("{ type = \"http\", path = \"/h\", expect_status = [99] }", "providers.q.check."
	    "expect_status[0]: 99 is not an HTTP status (100 to 599)");
	BAD("{ type = \"http\", path = \"/h\", expect_status = \"200\" }", "providers.q.check."
	    "expect_status: expected an array of integers, got");
	BAD("{ type = \"http\", path = \"/h\", expect_status = [\"200\"] }", "expect_status[0]: "
	    "expected an HTTP status (an integer)");
	BAD("{ type = \"http\", path = \"/h\", expect_status = [200,201,202,203,204,205,206,207,"
	    "208,209,210,211,212,213,214,215,216] }", "17 statuses, at most 16");
	BAD("{ type = \"http\", path = \"/h\", timeout_s = 0 }", "providers.q.check.timeout_s: 0 "
	    "is out of range (1 to 300)");
	BAD("{ type = \"http\", path = \"/h\", method = \"DELETE\" }", "providers.q.check.method: "
	    "\"DELETE\" is not one of the values accepted (GET, POST)");
	BAD("{ type = \"http\", path = \"/h\", expect = 200 }", "providers.q.check");
	BAD("\"http\"", "c:8:9: error: providers.q.check: expected a table");
#undef BAD
	snprintf(text, sizeof(text), "%scheck_interval_s = 5\n[[providers.q.accounts]]\n"
	    "name = \"b\"\napi_key = \"sk-abcdefgh1234\"\n", head);
	diag_of(text, buf, sizeof(buf));
	ok(strstr(buf, "c:8: warning: providers.q.check_interval_s: has no effect without a "
	    "check") != NULL, "check_interval_s without a check: a warning: %s", buf);
	snprintf(text, sizeof(text), "%scheck_interval_s = 0\ncheck = { type = \"command\", "
	    "cmd = \"true\" }\n[[providers.q.accounts]]\nname = \"b\"\n"
	    "api_key = \"sk-abcdefgh1234\"\n", head);
	diag_of(text, buf, sizeof(buf));
	ok(strstr(buf, "c:8:20: error: providers.q.check_interval_s: 0 is out of range") != NULL,
	    "check_interval_s out of range: %s", buf);
}

/* Removes the files of tmpdir, then tmpdir. */
static void
cleanup(void)
{
	struct dirent *de;
	char path[800];
	DIR *d;

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 5000, NULL, 0, 0 };
	char dir[512], errbuf[512];
	enum qp_err err;
	sqlite3 *db;
	int n;

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! cannot make a directory\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/hc.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up the database: %s\n", errbuf);
		return 1;
	}
	db_close(db);
	migrate_set_free(&set);

	test_status_and_text();
	test_judge();
	test_table();
	test_config();
	test_commands();
	test_record();

	cleanup();
	return done_testing();
}
