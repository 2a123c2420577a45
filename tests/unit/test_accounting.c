/* test_accounting.c: request lifecycles leave consistent rows, rollups match them, stale rows are closed, old rows purged. */
#include <math.h>
#include <unistd.h>

#include "../tap.h"
#include "accounting.h"
#include "bounds.h"
#include "config.h"
#include "db.h"
#include "maint.h"
#include "migrate.h"
#include "select.h"
#include "stats.h"

static char tmpdir[] = "/tmp/qp-test-accounting-XXXXXX";

#define NOW	1700000000000LL
#define MIN	60000LL
#define HOUR	3600000LL
#define DAY	(24 * HOUR)

static sqlite3 *db;
static char *models[] = { "m1" };
static struct config_account accts[2];
static struct config_provider prov[1];
static struct config cfg;

static const struct config_routing routing = {
	.max_attempts = 3, .backoff_base_s = 5, .backoff_max_s = 1800, .quota_backoff_s = 3600,
	.transient_backoff_s = 10, .circuit_failures = 5, .circuit_open_s = 300,
	.auth_quarantine_s = 1800,
};

static void
build_config(void)
{
	int i;

	memset(accts, 0, sizeof(accts));
	accts[0].name = "a1";
	accts[1].name = "a2";
	for (i = 0; i < 2; i++) {
		accts[i].api_key = "k";
		accts[i].weight = 1;
		accts[i].enabled = 1;
	}
	memset(prov, 0, sizeof(prov));
	prov[0].id = "alpha";
	prov[0].base_url = "http://127.0.0.1:1";
	prov[0].protocols = CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC;
	prov[0].routing_priority = 1;
	prov[0].enabled = 1;
	prov[0].models = models;
	prov[0].nmodels = 1;
	prov[0].accounts = accts;
	prov[0].naccounts = 2;
	memset(&cfg, 0, sizeof(cfg));
	cfg.providers = prov;
	cfg.nproviders = 1;
	cfg.routing = routing;
	cfg.retention.requests_days = 30;
	cfg.retention.events_days = 30;
	cfg.models.ping_retain_days = 7;
}

static void	execf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
execf(const char *fmt, ...)
{
	char sql[2048], *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

/* Returns the integer the query yields (first column of the first row), -1 if none. */
static int64_t	q_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t
q_int(const char *fmt, ...)
{
	char sql[8192];
	sqlite3_stmt *st;
	int64_t v = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("# cannot prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Copies the text the query yields into buf ("(null)" if none). */
static const char *q_text(char *buf, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static const char *
q_text(char *buf, size_t len, const char *fmt, ...)
{
	char sql[4096];
	sqlite3_stmt *st;
	const char *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(buf, len, "(null)");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("# cannot prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return buf;
	}
	if (sqlite3_step(st) == SQLITE_ROW && (s = (const char *)sqlite3_column_text(st, 0)) != NULL)
		snprintf(buf, len, "%s", s);
	sqlite3_finalize(st);
	return buf;
}

/*
 * Rows of the hourly stats_requests rollup (what account selection reads)
 * that differ from the sums of the finalized request rows (0 = equal).
 */
static int64_t
rollup_mismatch(void)
{
	/* A model no catalog lists, of a request that reached no provider, is "(unknown)". */
	static const char sums[] = "SELECT completed_at / 3600000 * 3600000 AS b, "
	    "coalesce(provider_id, '') AS p, CASE WHEN coalesce(provider_id, '') = '' AND "
	    "coalesce(model_base, '') <> '' AND NOT EXISTS (SELECT 1 FROM model_catalog AS c "
	    "WHERE c.model_id = model_base) THEN '" STATS_UNKNOWN_MODEL "' ELSE "
	    "coalesce(model_base, '') END AS m, "
	    "coalesce(account_name, '') AS a, status, count(*), sum(streamed), "
	    "sum(attempt_count), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
	    "sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_microdollars), sum(bytes_in), "
	    "sum(bytes_out), sum(upstream_bytes), sum(coalesce(total_ms, 0)), "
	    "sum(coalesce(ttft_ms, 0)), sum(ttft_ms IS NOT NULL) FROM requests "
	    "WHERE status <> 'pending' GROUP BY b, p, m, a, status";
	static const char roll[] = "SELECT bucket_start, provider_id, model, account_name, "
	    "status, requests, streamed, attempts, input_tokens, output_tokens, cache_read_tokens, "
	    "cache_write_tokens, reasoning_tokens, cost_microdollars, bytes_in, bytes_out, "
	    "upstream_bytes, total_ms_sum, ttft_ms_sum, ttft_count FROM stats_requests "
	    "WHERE bucket_s = 3600";

	return q_int("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + "
	    "(SELECT count(*) FROM (%s EXCEPT %s))", sums, roll, roll, sums);
}

static struct select_db *sel_db;
static struct accounting_db *acc;
static struct maint_db *mdb;	/* the processes table, as the maintenance thread keeps it */

/* What the final hook saw; it keeps the rollups as the server's hook does. */
struct hooked {
	struct stats_rollup *ru;	/* the rollup statements */
	int	 calls;		/* times called */
	int	 pending;	/* of which the row was still pending */
	int	 outside;	/* of which no transaction was open */
	int	 failed;	/* of which the rollup failed */
};

static int
final_hook(void *arg, int64_t id)
{
	struct hooked *h = arg;

	h->calls++;
	if (q_int("SELECT count(*) FROM requests WHERE id = %lld AND status = 'pending'",
	    (long long)id) != 0)
		h->pending++;
	if (sqlite3_get_autocommit(db))
		h->outside++;
	if (stats_rollup_hook(h->ru, id) != 0)
		h->failed++;
	return 0;
}

static void
pick(const char *const *tried, int ntried, int64_t now, struct select_result *res)
{
	struct select_query q = { .model = "m1", .protocol = CONFIG_PROTO_OPENAI,
	    .tried = tried, .ntried = ntried, .now = now };

	if (select_choose(sel_db, &q, res) != QP_OK) {
		printf("Bail out! select_choose failed\n");
		exit(1);
	}
}

static void
new_request(struct accounting_request *req, int64_t process_id, int64_t now)
{

	if (accounting_request_init(req, process_id, now) != QP_OK) {
		printf("Bail out! accounting_request_init failed\n");
		exit(1);
	}
	req->protocol = CONFIG_PROTO_OPENAI;
	req->endpoint = "/v1/chat/completions";
	req->model = "m1/alpha";
	req->model_base = "m1";
	req->streamed = 1;
	req->client_ip = "127.0.0.1";
	req->bytes_in = 1234;
	req->est_tokens = 1000;
	req->est_microdollars = 5000;
}

static void
verdict(int status, struct failover_verdict *v, int64_t now)
{
	struct failover_input in;

	memset(&in, 0, sizeof(in));
	in.status = status;
	in.now = now;
	failover_classify(&in, v);
}

static void
attempt_done(struct accounting_attempt *a, int64_t now)
{

	memset(a, 0, sizeof(*a));
	a->ended_at = now;
	a->connect_ms = 3;
	a->first_byte_ms = 40;
	a->bytes_sent = 1234;
	a->bytes_received = 900;
	a->upstream_request_id = "req_abc";
}

static void
test_two_attempts(int64_t pid)
{
	struct accounting_request req;
	struct select_result res;
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;
	const char *tried[1];
	char buf[256];
	int64_t id;

	new_request(&req, pid, NOW);
	is_int(strlen(req.uid), 36, "uid is 36 characters: %s", req.uid);
	ok(req.uid[14] == '7' && strchr("89ab", req.uid[19]) != NULL && req.uid[8] == '-' &&
	    req.uid[13] == '-' && req.uid[18] == '-' && req.uid[23] == '-', "uid is a UUIDv7");
	/* Its first 48 bits are the start time in ms, so ids sort by time. */
	snprintf(buf, sizeof(buf), "%08llx-%04llx", (unsigned long long)(NOW >> 16),
	    (unsigned long long)(NOW & 0xffff));
	ok(strncmp(req.uid, buf, 13) == 0, "uid leads with the time: %s vs %s", req.uid, buf);
	{
		struct accounting_request later;

		new_request(&later, pid, NOW + 1);
		ok(strcmp(later.uid, req.uid) > 0, "a later request's uid sorts after: %s > %s",
		    later.uid, req.uid);
	}

	pick(NULL, 0, NOW, &res);
	is_str(res.account ? res.account->name : "none", "a1", "first attempt on a1");
	is_int(accounting_attempt_start(acc, &req, &res, NOW + 1), QP_OK, "attempt 1 starts");
	id = req.id;
	ok(id > 0, "request row written");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || attempt_count || ' ' || "
	    "account_name FROM requests WHERE id = %lld", (long long)id), "pending 1 a1",
	    "request pending on a1");
	is_int(q_int("SELECT count(*) FROM reservations WHERE request_id = %lld AND "
	    "estimated_tokens = 1000 AND estimated_microdollars = 5000", (long long)id), 1,
	    "one reservation with the estimates");
	is_int(q_int("SELECT count(*) FROM routing_decisions WHERE request_id = %lld AND "
	    "attempt_number = 1 AND chosen_account = 'a1'", (long long)id), 1, "decision recorded");
	is_int(accounting_attempt_start(acc, &req, &res, NOW + 2), QP_EINVAL,
	    "a second attempt cannot start while one is open");

	verdict(429, &v, NOW + 100);
	attempt_done(&att, NOW + 100);
	is_int(accounting_attempt_end(acc, &req, &att, &v, &routing, NULL), QP_OK, "attempt 1 ends");
	is_int(q_int("SELECT count(*) FROM reservations WHERE request_id = %lld", (long long)id), 0,
	    "its reservation is gone");
	is_str(q_text(buf, sizeof(buf), "SELECT reason FROM account_backoffs WHERE "
	    "account_name = 'a1'"), "rate_limited", "the 429 put a1 in backoff");
	is_str(q_text(buf, sizeof(buf), "SELECT outcome || ' ' || retry_category || ' ' || "
	    "status_code || ' ' || error_class || ' ' || total_ms FROM request_attempts WHERE "
	    "request_id = %lld AND attempt_number = 1", (long long)id),
	    "rate_limited quota_exceeded 429 http_429 99", "attempt 1 closed with its outcome");

	execf("INSERT INTO account_backoffs (account_name, reason, backoff_until, "
	    "consecutive_failures, updated_at) VALUES ('a2', 'transient', %lld, 2, %lld)",
	    (long long)(NOW - 1), (long long)NOW);
	tried[0] = "a1";
	pick(tried, 1, NOW + 101, &res);
	is_str(res.account ? res.account->name : "none", "a2", "second attempt on a2");
	is_int(accounting_attempt_start(acc, &req, &res, NOW + 101), QP_OK, "attempt 2 starts");
	is_int(req.id, id, "same request row");
	is_int(req.attempts, 2, "two attempts");

	verdict(200, &v, NOW + 900);
	attempt_done(&att, NOW + 900);
	accounting_final_init(&fin, ACCOUNTING_COMPLETED, 200, NOW + 1000);
	fin.finish_reason = "stop";
	fin.stream_complete = 1;
	fin.ttft_ms = 300;
	fin.first_byte_ms = 250;
	fin.connect_ms = 3;
	fin.overhead_us = 80;
	fin.input_tokens = 100;
	fin.output_tokens = 50;
	fin.cache_read_tokens = 10;
	fin.cache_write_tokens = 5;
	fin.reasoning_tokens = 7;
	fin.cost_microdollars = 1234;
	fin.cost_exactness = "derived";
	fin.bytes_out = 4321;
	fin.upstream_bytes = 4000;
	fin.cost_exactness = "bogus";
	is_int(accounting_attempt_end(acc, &req, &att, &v, &routing, &fin), QP_EINVAL,
	    "an unknown exactness is refused");
	fin.cost_exactness = "derived";
	is_int(accounting_attempt_end(acc, &req, &att, &v, &routing, &fin), QP_OK,
	    "final attempt ends and finalizes");
	is_int(q_int("SELECT count(*) FROM requests WHERE request_uid = '%s'", req.uid), 1,
	    "one request row");
	is_int(q_int("SELECT count(*) FROM request_attempts WHERE request_id = %lld", (long long)id), 2,
	    "two attempt rows");
	is_str(q_text(buf, sizeof(buf), "SELECT group_concat(outcome, ',') FROM (SELECT outcome "
	    "FROM request_attempts WHERE request_id = %lld ORDER BY attempt_number)", (long long)id),
	    "rate_limited,ok", "outcomes in order");
	is_int(q_int("SELECT count(*) FROM reservations"), 0, "no reservation left");
	is_int(q_int("SELECT count(*) FROM routing_decisions WHERE request_id = %lld", (long long)id),
	    2, "two decisions");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || status_code || ' ' || attempt_count "
	    "|| ' ' || provider_id || ' ' || account_name || ' ' || retry_category || ' ' || "
	    "coalesce(error_class, '-') || ' ' || finish_reason || ' ' || stream_complete || ' ' || "
	    "total_ms || ' ' || ttft_ms || ' ' || input_tokens || ' ' || output_tokens || ' ' || "
	    "cache_read_tokens || ' ' || cache_write_tokens || ' ' || reasoning_tokens || ' ' || "
	    "cost_microdollars || ' ' || cost_exactness || ' ' || bytes_in || ' ' || bytes_out || ' ' "
	    "|| upstream_bytes || ' ' || overhead_us || ' ' || client_ip || ' ' || model || ' ' || "
	    "model_base || ' ' || streamed FROM requests WHERE id = %lld", (long long)id),
	    "completed 200 2 alpha a2 quota_exceeded - stop 1 1000 300 100 50 10 5 7 1234 derived "
	    "1234 4321 4000 80 127.0.0.1 m1/alpha m1 1", "request finalized with every number");
	is_int(q_int("SELECT count(*) FROM account_backoffs WHERE account_name = 'a2'"), 0,
	    "success cleared a2's backoff row");
	is_int(q_int("SELECT count(*) FROM account_backoffs WHERE account_name = 'a1'"), 1,
	    "a1 stays in backoff");
	is_int(q_int("SELECT requests FROM stats_requests WHERE bucket_s = 3600 AND "
	    "account_name = 'a2'"), 1, "rollup counts the request once");
	is_int(q_int("SELECT attempts FROM stats_requests WHERE bucket_s = 3600 AND "
	    "account_name = 'a2'"), 2, "rollup counts both attempts");
	is_int(rollup_mismatch(), 0, "rollup equals the sums of the rows");
	is_int(accounting_attempt_end(acc, &req, &att, &v, &routing, &fin), QP_EINVAL,
	    "no attempt open any more");
	execf("DELETE FROM account_backoffs");
}

static void
test_rejected(int64_t pid)
{
	struct accounting_request req;
	struct select_result res;
	struct select_query q = { .protocol = CONFIG_PROTO_OPENAI, .now = NOW };
	struct accounting_final fin;
	char buf[512], id[200], sent[220];
	size_t i;

	/* An unknown id whose character "é" straddles the bound is kept up to that character. */
	for (i = 0; i < QP_UNKNOWN_MODEL_KEEP - 1; i++)
		id[i] = 'n';
	snprintf(id + i, sizeof(id) - i, "\xc3\xa9-and-more");
	snprintf(sent, sizeof(sent), "%s/nowhere", id);
	q.model = id;
	new_request(&req, pid, NOW);
	req.model = sent;
	req.model_base = id;
	select_choose(sel_db, &q, &res);
	is_int(res.status, SELECT_NO_MODEL, "unknown model finds no account");
	is_int(accounting_attempt_start(acc, &req, &res, NOW), QP_EINVAL,
	    "no attempt without an account");
	accounting_final_init(&fin, ACCOUNTING_REJECTED, select_status_http(res.status), NOW + 1);
	fin.error_class = "model_not_found";
	is_int(accounting_finish(acc, &req, &res, &fin), QP_OK, "rejected request recorded");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || status_code || ' ' || attempt_count "
	    "|| ' ' || error_class || ' ' || coalesce(account_name, '-') FROM requests WHERE id = %lld",
	    (long long)req.id), "rejected 404 0 model_not_found -", "row of the rejected request");
	is_int(q_int("SELECT count(*) FROM routing_decisions WHERE request_id = %lld AND "
	    "chosen_account IS NULL AND eligible = 0 AND attempt_number = 1", (long long)req.id), 1,
	    "the empty decision is recorded");
	is_str(q_text(buf, sizeof(buf), "SELECT length(CAST(model AS BLOB)) || ' ' || "
	    "length(CAST(model_base AS BLOB)) || ' ' || (model = model_base) || ' ' || "
	    "(SELECT length(CAST(model AS BLOB)) FROM routing_decisions WHERE request_id = %lld) "
	    "FROM requests WHERE id = %lld", (long long)req.id, (long long)req.id),
	    "127 127 1 127", "the unknown id is kept on the request's rows, cut before the "
	    "character the bound splits");
	is_int(q_int("SELECT count(*) FROM requests WHERE id = %lld AND substr(model, 1, 1) = 'n' "
	    "AND model NOT GLOB '*[^n]*'", (long long)req.id), 1, "the kept bytes are the id's");
	is_int(q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 0 AND model = '"
	    STATS_UNKNOWN_MODEL "'"), 1, "the rollup counts it as " STATS_UNKNOWN_MODEL);
	is_int(rollup_mismatch(), 0, "rollup still equals the rows");
}

/* Many requests of every status over several hours: the rollup stays equal to the rows. */
static void
test_many(int64_t pid)
{
	static const enum accounting_status sts[] = { ACCOUNTING_COMPLETED, ACCOUNTING_ERROR,
	    ACCOUNTING_CLIENT_ERROR, ACCOUNTING_CLIENT_DISCONNECTED };
	struct accounting_request req;
	struct select_result res;
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;
	int i, bad = 0;
	int64_t t;

	for (i = 0; i < 60; i++) {
		t = NOW + i * 7 * MIN;
		new_request(&req, pid, t);
		req.streamed = i % 2;
		pick(NULL, 0, t, &res);
		if (accounting_attempt_start(acc, &req, &res, t) != QP_OK)
			bad++;
		verdict(i % 3 ? 200 : 400, &v, t + 50);
		attempt_done(&att, t + 50);
		accounting_final_init(&fin, sts[i % 4], 200, t + 60 + i);
		fin.input_tokens = i * 11;
		fin.output_tokens = i * 3;
		fin.cache_read_tokens = i;
		fin.reasoning_tokens = i % 5;
		fin.cost_microdollars = i * 101;
		fin.cost_exactness = i % 2 ? "estimated" : "provider_reported";
		fin.bytes_out = i * 1000;
		if (i % 3)
			fin.ttft_ms = 20 + i;
		if (accounting_attempt_end(acc, &req, &att, &v, &routing, &fin) != QP_OK)
			bad++;
	}
	is_int(bad, 0, "60 requests over 7 hours accounted");
	is_int(rollup_mismatch(), 0, "rollup equals the sums of the rows over many buckets");
	ok(q_int("SELECT count(DISTINCT bucket_start) FROM stats_requests WHERE bucket_s = 3600") >= 7,
	    "several buckets used");
	is_int(q_int("SELECT count(*) FROM reservations"), 0, "no reservation left");
	is_int(q_int("SELECT count(*) FROM request_attempts WHERE completed_at IS NULL"), 0,
	    "no attempt left open");
}

static void
test_stale(int64_t live)
{
	struct accounting_request dead_req, stopped_req, old_req, live_req, orphan_req;
	struct accounting_stale rep;
	struct select_result res;
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;
	int64_t dead = 0, stopped = 0, now = NOW + 10 * HOUR;
	char buf[512];

	maint_process_register(mdb, 4242, "deadhost", "0.0.1", NOW, &dead);
	maint_process_register(mdb, 4343, "host", "0.0.1", NOW, &stopped);
	ok(dead > 0 && stopped > 0 && dead != stopped, "processes registered");
	is_int(maint_process_heartbeat(mdb, live, now - MIN), QP_OK, "live heartbeat");
	is_int(maint_process_heartbeat(mdb, dead, now - 3 * MIN), QP_OK, "stale heartbeat");
	is_int(maint_process_stop(mdb, stopped, now - HOUR), QP_OK, "process stopped");
	is_int(q_int("SELECT stopped_at FROM processes WHERE id = %lld", (long long)stopped),
	    now - HOUR, "stop recorded");

	/* A pending request with an open attempt in each situation. */
	new_request(&dead_req, dead, now - 30 * MIN);
	pick(NULL, 0, now - 30 * MIN, &res);
	accounting_attempt_start(acc, &dead_req, &res, now - 30 * MIN);
	new_request(&stopped_req, stopped, now - 2 * HOUR);
	pick(NULL, 0, now - 2 * HOUR, &res);
	accounting_attempt_start(acc, &stopped_req, &res, now - 2 * HOUR);
	new_request(&old_req, live, now - 7 * HOUR);
	pick(NULL, 0, now - 7 * HOUR, &res);
	accounting_attempt_start(acc, &old_req, &res, now - 7 * HOUR);
	new_request(&live_req, live, now - 10 * MIN);
	pick(NULL, 0, now - 10 * MIN, &res);
	accounting_attempt_start(acc, &live_req, &res, now - 10 * MIN);
	new_request(&orphan_req, 0, now - 10 * MIN);
	pick(NULL, 0, now - 10 * MIN, &res);
	accounting_attempt_start(acc, &orphan_req, &res, now - 10 * MIN);
	is_int(q_int("SELECT count(*) FROM requests WHERE status = 'pending'"), 5, "five pending");
	is_int(q_int("SELECT count(*) FROM reservations"), 5, "five reservations");
	/* An expired reservation of a finalized request. */
	execf("INSERT INTO reservations (request_id, account_name, created_at, expires_at) "
	    "SELECT min(id), 'a1', 0, %lld FROM requests WHERE status = 'completed'",
	    (long long)(now - 1));

	is_int(accounting_finalize_stale(acc, live, 0, now, &rep), QP_OK, "stale finalizer runs");
	is_int(rep.requests, 4, "dead, stopped, too old and orphan requests finalized");
	is_int(rep.dead_process, 3, "three of dead or unknown processes");
	is_int(rep.too_old, 1, "one too old");
	is_int(rep.attempts, 4, "their open attempts closed");
	is_int(rep.reservations, 5, "their reservations and the expired one deleted");
	is_str(q_text(buf, sizeof(buf), "SELECT status FROM requests WHERE id = %lld",
	    (long long)live_req.id), "pending", "the live process's recent request stays pending");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || error_class || ' ' || completed_at "
	    "|| ' ' || total_ms FROM requests WHERE id = %lld", (long long)dead_req.id),
	    "interrupted process_interrupted 1700036000000 1800000", "dead process's request");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || error_class FROM requests WHERE "
	    "id = %lld", (long long)old_req.id), "interrupted pending_too_long",
	    "a request pending 7 hours is closed even in a live process");
	is_str(q_text(buf, sizeof(buf), "SELECT status FROM requests WHERE id = %lld",
	    (long long)stopped_req.id), "interrupted", "stopped process's request");
	is_str(q_text(buf, sizeof(buf), "SELECT outcome || ' ' || retry_category || ' ' || "
	    "error_class || ' ' || completed_at FROM request_attempts WHERE request_id = %lld",
	    (long long)dead_req.id), "interrupted never process_interrupted 1700036000000",
	    "its attempt is closed as interrupted");
	is_int(q_int("SELECT count(*) FROM reservations"), 1, "only the live reservation remains");
	is_str(q_text(buf, sizeof(buf), "SELECT event_type || ' ' || details_json FROM "
	    "operational_events ORDER BY id DESC LIMIT 1"), "stale_finalized {\"requests\":4,"
	    "\"dead_process\":3,\"too_old\":1,\"attempts\":4,\"reservations\":5}",
	    "one event with the counts");
	is_int(rollup_mismatch(), 0, "rollup includes the interrupted requests");

	/* The live process finishing its too-old request later changes nothing. */
	verdict(200, &v, now + 1);
	attempt_done(&att, now + 1);
	accounting_final_init(&fin, ACCOUNTING_COMPLETED, 200, now + 1);
	fin.output_tokens = 99;
	is_int(accounting_attempt_end(acc, &old_req, &att, &v, &routing, &fin), QP_OK,
	    "late finalization is accepted");
	is_str(q_text(buf, sizeof(buf), "SELECT status || ' ' || output_tokens FROM requests "
	    "WHERE id = %lld", (long long)old_req.id), "interrupted 0", "and leaves the row alone");
	is_int(rollup_mismatch(), 0, "and is not counted twice");

	/* Nothing to do: no event. */
	is_int(accounting_finalize_stale(acc, live, 0, now + 2, &rep), QP_OK, "second run");
	is_int(rep.requests + rep.attempts + rep.reservations, 0, "nothing left to do");
	is_int(q_int("SELECT count(*) FROM operational_events"), 1, "no event for an empty run");

	/* At start, the previous instance's rows are crash recovery. */
	is_int(accounting_finalize_stale(acc, live, 1, now + 3 * MIN, &rep), QP_OK,
	    "finalizer at start");
	is_int(rep.requests, 1, "the silent process's request closed");
	is_str(q_text(buf, sizeof(buf), "SELECT event_type FROM operational_events ORDER BY id DESC "
	    "LIMIT 1"), "crash_recovery", "crash_recovery event");
	is_int(q_int("SELECT count(*) FROM requests WHERE status = 'pending'"), 0, "nothing pending");
	is_int(q_int("SELECT count(*) FROM reservations"), 0, "no reservation left");
	is_int(rollup_mismatch(), 0, "rollup still equals the rows");
}

/*
 * Quota pressure expected from the finalized request rows of account at
 * now (select.h): the largest of the windows', each stored in win.
 */
static double
expected_pressure(const char *acct, int64_t now, double win[CONFIG_WINDOW__MAX])
{
	static const int64_t len[CONFIG_WINDOW__MAX] = {
		[CONFIG_WINDOW_5H] = 5 * HOUR, [CONFIG_WINDOW_WEEK] = 7 * DAY,
		[CONFIG_WINDOW_MONTH] = 30 * DAY,
	};
	const struct config_quota *q;
	const struct config_account *a = strcmp(acct, "a1") == 0 ? &accts[0] : &accts[1];
	double p = 0, v;
	int64_t start, used;
	int w;

	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		q = &a->quota[w];
		start = (now - len[w]) / HOUR * HOUR;
		win[w] = 0;
		if (q->requests > 0) {
			used = q_int("SELECT count(*) FROM requests WHERE account_name = '%s' AND "
			    "status <> 'pending' AND completed_at >= %lld", acct, (long long)start);
			v = (double)used / (double)q->requests;
			win[w] = v > win[w] ? v : win[w];
		}
		if (q->tokens > 0) {
			used = q_int("SELECT total(input_tokens + output_tokens + cache_read_tokens + "
			    "cache_write_tokens) FROM requests WHERE account_name = '%s' AND "
			    "status <> 'pending' AND completed_at >= %lld", acct, (long long)start);
			v = (double)used / (double)q->tokens;
			win[w] = v > win[w] ? v : win[w];
		}
		if (q->microdollars > 0) {
			used = q_int("SELECT total(cost_microdollars) FROM requests WHERE "
			    "account_name = '%s' AND status <> 'pending' AND completed_at >= %lld", acct,
			    (long long)start) + q->offset_microdollars;
			v = (double)used / (double)q->microdollars;
			win[w] = v > win[w] ? v : win[w];
		}
		p = win[w] > p ? win[w] : p;
	}
	return p;
}

/* Chooses with s at now, a1 or a2 tried (NULL = none); 1 if an account was chosen. */
static int
pick_with(struct select_db *s, const char *tried, int64_t now, struct select_result *res)
{
	const char *t[1] = { tried };
	struct select_query q = { .model = "m1", .protocol = CONFIG_PROTO_OPENAI, .tried = t,
	    .ntried = tried != NULL, .now = now };

	return ok(select_choose(s, &q, res) == QP_OK && res->account != NULL,
	    "choice at %lld", (long long)now);
}

/*
 * Checks the chosen account's pressure, and its three window pressures
 * in detail_json (printed with 6 digits), against the rows.
 */
static void
check_pressure(const struct select_result *res, int64_t now, int round)
{
	double want, win[CONFIG_WINDOW__MAX], got;
	const char *p;
	char key[64], *end;
	int w, i;

	want = expected_pressure(res->account->name, now, win);
	ok(fabs(res->pressure - want) < 1e-9, "%s: pressure %.9g from the rollup, %.9g "
	    "from the rows (round %d)", res->account->name, res->pressure, want, round);
	ok(want > 0.1, "%s has usage in its windows", res->account->name);
	snprintf(key, sizeof(key), "{\"account\":\"%s\",", res->account->name);
	if ((p = strstr(res->detail_json, key)) != NULL)
		p = strstr(p, "\"score\":[");
	if (!ok(p != NULL, "score of %s in the detail: %s", res->account->name, res->detail_json))
		return;
	p += strlen("\"score\":[");
	for (i = 0; i < 3; i++) {	/* pressure, inflight, last_used */
		(void)strtod(p, &end);
		p = *end == ',' ? end + 1 : end;
	}
	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		got = strtod(p, &end);
		ok(end != p && fabs(got - win[w]) <= 1e-5 * (win[w] > 1 ? win[w] : 1),
		    "%s window %d: %.6g in the detail, %.9g from the rows", res->account->name, w,
		    got, win[w]);
		p = *end == ',' ? end + 1 : end;
	}
}

/*
 * Quota pressure, read by selection from the rollup the final hook keeps,
 * equals what the finalized rows give, for the past hours (cached) and
 * for the current hour (read at each choice).
 */
static void
test_pressure(int64_t pid)
{
	struct select_db *s;
	struct select_result res;
	struct accounting_request req;
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;
	char errbuf[256];
	enum qp_err err;
	int64_t now = NOW + 10 * HOUR + 30 * MIN;
	int i;

	execf("DELETE FROM account_backoffs");
	for (i = 0; i < 2; i++) {
		accts[i].quota[CONFIG_WINDOW_5H].requests = 40;
		accts[i].quota[CONFIG_WINDOW_WEEK].tokens = 20000;
		accts[i].quota[CONFIG_WINDOW_MONTH].microdollars = 100000;
	}
	accts[1].quota[CONFIG_WINDOW_MONTH].offset_microdollars = 2000;
	s = select_new(db, &cfg, &err, errbuf, sizeof(errbuf));
	if (!ok(s != NULL, "selector with quotas: %s", s != NULL ? "" : errbuf))
		return;
	for (i = 0; i < 3; i++) {
		if (!pick_with(s, NULL, now, &res))
			break;
		check_pressure(&res, now, i);
		if (!pick_with(s, res.account->name, now, &res))
			break;
		check_pressure(&res, now, i);

		/* One more request in the current hour counts at the next choice. */
		new_request(&req, pid, now);
		is_int(accounting_attempt_start(acc, &req, &res, now), QP_OK, "attempt starts");
		verdict(200, &v, now + 10);
		attempt_done(&att, now + 10);
		accounting_final_init(&fin, ACCOUNTING_COMPLETED, 200, now + 20);
		fin.input_tokens = 300 + i;
		fin.output_tokens = 200;
		fin.cache_write_tokens = 50;
		fin.cost_microdollars = 2500;
		is_int(accounting_attempt_end(acc, &req, &att, &v, &routing, &fin), QP_OK,
		    "and ends");
		now += 30;
	}
	select_free(s);
	for (i = 0; i < 2; i++)
		memset(accts[i].quota, 0, sizeof(accts[i].quota));
}

/* One request served by one attempt on the account pick() chooses, finalized at t + 20. */
static enum qp_err
serve_one(int64_t pid, int64_t t, int64_t tokens)
{
	struct accounting_request req;
	struct select_result res;
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;
	enum qp_err err;

	new_request(&req, pid, t);
	pick(NULL, 0, t, &res);
	if ((err = accounting_attempt_start(acc, &req, &res, t)) != QP_OK)
		return err;
	verdict(200, &v, t + 10);
	attempt_done(&att, t + 10);
	accounting_final_init(&fin, ACCOUNTING_COMPLETED, 200, t + 20);
	fin.input_tokens = tokens;
	fin.output_tokens = tokens / 2;
	fin.cost_microdollars = tokens * 3;
	fin.ttft_ms = 5;
	return accounting_attempt_end(acc, &req, &att, &v, &routing, &fin);
}

/*
 * Rows of hour or day buckets (g ms, rollup bucket_s g / 1000) that differ
 * from their rollups, counted only where rows remain: stats_requests,
 * stats_attempts, the chosen and no_account rows of stats_routing and the
 * number of exclusions per bucket. Pending requests are not rolled up yet.
 */
static int64_t
rows_vs_rollups(int64_t g)
{
	char sums[2048], roll[4096];
	int64_t bad = 0;

	/* A model no catalog lists, of a request that reached no provider, is "(unknown)". */
	snprintf(sums, sizeof(sums), "SELECT completed_at / %lld * %lld AS b, "
	    "coalesce(provider_id, ''), CASE WHEN coalesce(provider_id, '') = '' AND "
	    "coalesce(model_base, '') <> '' AND NOT EXISTS (SELECT 1 FROM model_catalog AS c "
	    "WHERE c.model_id = model_base) THEN '" STATS_UNKNOWN_MODEL "' ELSE "
	    "coalesce(model_base, '') END, coalesce(account_name, ''), "
	    "status, count(*), sum(streamed), sum(attempt_count), sum(input_tokens), "
	    "sum(output_tokens), sum(cost_microdollars), sum(bytes_in), sum(bytes_out), "
	    "sum(coalesce(total_ms, 0)) FROM requests WHERE status <> 'pending' "
	    "GROUP BY 1, 2, 3, 4, 5", (long long)g, (long long)g);
	snprintf(roll, sizeof(roll), "SELECT bucket_start, provider_id, model, account_name, "
	    "status, requests, streamed, attempts, input_tokens, output_tokens, "
	    "cost_microdollars, bytes_in, bytes_out, total_ms_sum FROM stats_requests "
	    "WHERE bucket_s = %lld AND bucket_start IN (SELECT completed_at / %lld * %lld "
	    "FROM requests WHERE status <> 'pending')", (long long)(g / 1000), (long long)g,
	    (long long)g);
	bad += q_int("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + "
	    "(SELECT count(*) FROM (%s EXCEPT %s))", sums, roll, roll, sums);
	snprintf(sums, sizeof(sums), "SELECT coalesce(a.completed_at, r.completed_at) / %lld * "
	    "%lld AS b, a.provider_id, a.account_name, a.model, coalesce(a.outcome, ''), "
	    "coalesce(a.retry_category, ''), count(*), sum(coalesce(a.total_ms, 0)) FROM "
	    "request_attempts AS a JOIN requests AS r ON r.id = a.request_id WHERE "
	    "r.status <> 'pending' GROUP BY 1, 2, 3, 4, 5, 6", (long long)g, (long long)g);
	snprintf(roll, sizeof(roll), "SELECT bucket_start, provider_id, account_name, model, "
	    "outcome, retry_category, attempts, total_ms_sum FROM stats_attempts WHERE "
	    "bucket_s = %lld AND bucket_start IN (SELECT b FROM (%s))", (long long)(g / 1000),
	    sums);
	bad += q_int("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + "
	    "(SELECT count(*) FROM (%s EXCEPT %s))", sums, roll, roll, sums);
	snprintf(sums, sizeof(sums), "SELECT d.decided_at / %lld * %lld AS b, CASE WHEN "
	    "d.chosen_account IS NULL AND NOT EXISTS (SELECT 1 FROM model_catalog AS c WHERE "
	    "c.model_id = d.model) THEN '" STATS_UNKNOWN_MODEL "' ELSE d.model END, "
	    "coalesce(d.chosen_account, ''), CASE WHEN d.chosen_account IS NULL THEN '' ELSE "
	    "coalesce(d.chosen_provider, '') END, CASE WHEN d.chosen_account IS NULL THEN "
	    "'no_account' ELSE 'chosen' END, count(*) FROM routing_decisions AS d JOIN requests "
	    "AS r ON r.id = d.request_id WHERE r.status <> 'pending' GROUP BY 1, 2, 3, 4, 5",
	    (long long)g, (long long)g);
	snprintf(roll, sizeof(roll), "SELECT bucket_start, model, account_name, provider_id, "
	    "reason, decisions FROM stats_routing WHERE bucket_s = %lld AND reason IN "
	    "('chosen', 'no_account') AND bucket_start IN (SELECT b FROM (%s))",
	    (long long)(g / 1000), sums);
	bad += q_int("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + "
	    "(SELECT count(*) FROM (%s EXCEPT %s))", sums, roll, roll, sums);
	snprintf(sums, sizeof(sums), "SELECT d.decided_at / %lld * %lld AS b, count(*) FROM "
	    "routing_decisions AS d JOIN requests AS r ON r.id = d.request_id, "
	    "json_each(d.detail_json, '$.accounts') AS j WHERE r.status <> 'pending' AND "
	    "json_extract(j.value, '$.reason') <> 'eligible' GROUP BY 1", (long long)g,
	    (long long)g);
	snprintf(roll, sizeof(roll), "SELECT bucket_start, sum(decisions) FROM stats_routing "
	    "WHERE bucket_s = %lld AND reason NOT IN ('chosen', 'no_account') AND bucket_start "
	    "IN (SELECT b FROM (SELECT d.decided_at / %lld * %lld AS b FROM routing_decisions "
	    "AS d JOIN requests AS r ON r.id = d.request_id WHERE r.status <> 'pending')) "
	    "GROUP BY 1", (long long)(g / 1000), (long long)g, (long long)g);
	bad += q_int("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + "
	    "(SELECT count(*) FROM (%s EXCEPT %s))", sums, roll, roll, sums);
	return bad;
}

/* Starts an attempt of req at t on what pick() chooses (tried: the accounts tried). */
static enum qp_err
start_at(struct accounting_request *req, const char *const *tried, int ntried, int64_t t)
{
	struct select_result res;

	pick(tried, ntried, t, &res);
	return accounting_attempt_start(acc, req, &res, t);
}

/* Ends req's open attempt at t with status; finalizes it at t when fin_status > 0. */
static enum qp_err
end_at(struct accounting_request *req, int status, int64_t t, int fin_status)
{
	struct failover_verdict v;
	struct accounting_attempt att;
	struct accounting_final fin;

	verdict(status, &v, t);
	attempt_done(&att, t);
	accounting_final_init(&fin, ACCOUNTING_COMPLETED, fin_status, t);
	fin.input_tokens = 40;
	fin.output_tokens = 9;
	fin.cost_microdollars = 77;
	return accounting_attempt_end(acc, req, &att, &v, &routing, fin_status > 0 ? &fin : NULL);
}

/*
 * Retention keeps the rollups equal to the rows wherever rows remain: the
 * cutoff is a UTC midnight, requests go by their end, and of the requests
 * that stay (one spanning the midnight, one still pending) the attempts
 * and decisions before it go. Buckets left without rows keep their rollups
 * (the history), and so does the all-time bucket.
 */
static void
test_purge_rollups(int64_t pid)
{
	struct accounting_request span, pend;
	struct accounting_retention r;
	struct accounting_purged p;
	const char *t_a1[] = { "a1" };
	char buf[64];
	int64_t base = NOW / DAY * DAY - 10 * DAY, mid = base + 3 * DAY, all_before, hist;
	int d, h, bad = 0;

	for (d = 0; d < 6; d++)
		for (h = 1; h < 24; h += 6)
			if (serve_one(pid, base + d * DAY + h * HOUR, 100 + d * 10 + h) != QP_OK)
				bad++;
	/* Across the midnight mid: attempt 1 fails before it, attempt 2 ends after it. */
	new_request(&span, pid, mid - 2 * MIN);
	if (start_at(&span, NULL, 0, mid - 2 * MIN) != QP_OK ||
	    end_at(&span, 500, mid - MIN, 0) != QP_OK ||
	    start_at(&span, t_a1, 1, mid - 30000) != QP_OK ||
	    end_at(&span, 200, mid + MIN, 200) != QP_OK)
		bad++;
	execf("DELETE FROM account_backoffs");
	/* Still pending: attempt 1 ended before mid, attempt 2 is open. */
	new_request(&pend, pid, mid - 3 * MIN);
	if (start_at(&pend, NULL, 0, mid - 3 * MIN) != QP_OK ||
	    end_at(&pend, 500, mid - 150000, 0) != QP_OK ||
	    start_at(&pend, t_a1, 1, mid - 2 * MIN) != QP_OK)
		bad++;
	execf("DELETE FROM account_backoffs");
	is_int(bad, 0, "requests over six days accounted, one across a midnight, one pending");
	is_int(rows_vs_rollups(HOUR) + rows_vs_rollups(DAY), 0,
	    "before: hour and day rollups equal their rows");
	all_before = q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 0");
	hist = q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 86400 AND "
	    "bucket_start >= %lld AND bucket_start < %lld", (long long)base, (long long)mid);
	is_int(hist, 3 * 4, "12 requests ended in the three days before mid");

	memset(&r, 0, sizeof(r));
	r.requests_ms = 30 * DAY - 7 * HOUR;
	r.batch = 5;
	is_int(accounting_purge(acc, &r, mid + 30 * DAY - 7 * HOUR + 5 * HOUR, &p), QP_OK,
	    "retention runs 30 days - 7 hours back from mid + 30 days - 2 hours");
	is_int(p.cutoff, mid, "the cutoff goes back to the UTC midnight mid");
	is_int(q_int("SELECT count(*) FROM requests WHERE status <> 'pending' AND "
	    "completed_at < %lld", (long long)mid), 0, "no request that ended before it is left");
	is_int(p.requests, 12, "the 12 requests that ended before it are deleted");
	is_int(q_int("SELECT count(*) FROM requests WHERE completed_at >= %lld AND completed_at < "
	    "%lld", (long long)mid, (long long)(base + 6 * DAY)), 3 * 4 + 1,
	    "those that ended after it stay, the one across the midnight too");
	is_str(q_text(buf, sizeof(buf), "SELECT count(*) || ',' || min(attempt_number) FROM "
	    "request_attempts WHERE request_id = %lld", (long long)span.id), "1,2",
	    "it keeps its attempt 2 only");
	is_int(q_int("SELECT count(*) FROM routing_decisions WHERE request_id = %lld",
	    (long long)span.id), 0, "and none of its decisions, both made before mid");
	is_int(q_int("SELECT count(*) FROM requests WHERE id = %lld AND status = 'pending'",
	    (long long)pend.id), 1, "the pending request stays");
	is_int(q_int("SELECT group_concat(attempt_number) FROM request_attempts WHERE "
	    "request_id = %lld", (long long)pend.id), 2, "with its open attempt only");
	is_int(p.attempts, 2, "two attempts of requests that stay are deleted");
	is_int(p.decisions, 4, "four decisions of requests that stay are deleted");
	is_int(rows_vs_rollups(HOUR), 0, "after: hour rollups equal their rows where rows remain");
	is_int(rows_vs_rollups(DAY), 0, "after: day rollups equal their rows where rows remain");
	is_int(q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 86400 AND "
	    "bucket_start >= %lld AND bucket_start < %lld", (long long)base, (long long)mid), hist,
	    "the days before mid keep their rollups: the history stays");
	is_int(q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 0"), all_before,
	    "the all-time totals are not touched");
	is_int(end_at(&pend, 200, mid + 2 * DAY, 200), QP_OK, "the pending request ends later");
	is_int(rows_vs_rollups(HOUR) + rows_vs_rollups(DAY), 0,
	    "its rollup lands where its rows are: still equal");
	is_int(accounting_purge(acc, &r, mid + 30 * DAY - 2 * HOUR, &p), QP_OK,
	    "retention runs again");
	is_int(p.requests + p.attempts + p.decisions, 0, "nothing more to delete");
}

/*
 * Several requests accounted inside one open write transaction (a batch:
 * db_begin_write() then opens savepoints): the rollups follow the rows
 * inside the batch and after it, and a batch rolled back leaves neither.
 */
static void
test_batch(int64_t pid)
{
	struct accounting_request req;
	struct select_query q = { .model = "nosuch", .protocol = CONFIG_PROTO_OPENAI };
	struct select_result res;
	struct accounting_final fin;
	int64_t now = NOW + 12 * HOUR, before;
	int i, bad = 0;

	is_int(db_begin_write(db), QP_OK, "a batch opens");
	for (i = 0; i < 4; i++)
		if (serve_one(pid, now + i * MIN, 100 + i) != QP_OK)
			bad++;
	new_request(&req, pid, now + 5 * MIN);
	q.now = now + 5 * MIN;
	select_choose(sel_db, &q, &res);
	accounting_final_init(&fin, ACCOUNTING_REJECTED, 404, now + 5 * MIN);
	if (accounting_finish(acc, &req, &res, &fin) != QP_OK)
		bad++;
	is_int(bad, 0, "five requests accounted inside the batch");
	ok(!sqlite3_get_autocommit(db), "the batch is still open");
	is_int(rollup_mismatch(), 0, "inside the batch the rollup equals the rows");
	is_int(db_commit(db), QP_OK, "the batch commits");
	is_int(rollup_mismatch(), 0, "after it too");
	is_int(q_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 0"),
	    q_int("SELECT count(*) FROM requests WHERE status <> 'pending'"),
	    "the all-time rollup counts every finalized request");

	before = q_int("SELECT count(*) FROM requests");
	is_int(db_begin_write(db), QP_OK, "another batch opens");
	is_int(serve_one(pid, now + 10 * MIN, 500), QP_OK, "a request accounted in it");
	db_rollback(db);
	ok(sqlite3_get_autocommit(db), "the batch is rolled back");
	is_int(q_int("SELECT count(*) FROM requests"), before, "its request row is gone");
	is_int(rollup_mismatch(), 0, "and so are its rollups");
}

static void
test_purge(void)
{
	struct accounting_retention r;
	struct accounting_purged p;
	int64_t old = NOW - 40 * DAY, keep_before;
	int i;

	accounting_retention_from_config(&cfg, &r);
	is_int(r.requests_ms, 30 * DAY, "requests kept [retention] requests_days");
	is_int(r.events_ms, 30 * DAY, "events kept [retention] events_days");
	keep_before = q_int("SELECT count(*) FROM requests");
	execf("BEGIN");
	for (i = 0; i < 1203; i++) {
		execf("INSERT INTO requests (request_uid, protocol, endpoint, status, started_at, "
		    "completed_at) VALUES ('old%d', 'openai', '/v1/messages', 'completed', %lld, %lld)",
		    i, (long long)(old + i), (long long)(old + i));
		execf("INSERT INTO request_attempts (request_id, attempt_number, provider_id, "
		    "account_name, model, started_at) VALUES (last_insert_rowid(), 1, 'alpha', 'a1', "
		    "'m1', %lld)", (long long)(old + i));
		execf("INSERT INTO routing_decisions (request_id, attempt_number, model, candidates, "
		    "eligible, detail_json, decided_at) SELECT id, 1, 'm1', 2, 2, '{}', "
		    "started_at FROM requests WHERE id = last_insert_rowid()");
	}
	execf("INSERT INTO requests (request_uid, protocol, endpoint, status, started_at) "
	    "VALUES ('oldpending', 'openai', '/v1/messages', 'pending', %lld)", (long long)old);
	for (i = 0; i < 10; i++) {
		execf("INSERT INTO provider_pings (provider_id, probed_at, ok) VALUES ('alpha', %lld, 1)",
		    (long long)(NOW - 8 * DAY));
		execf("INSERT INTO operational_events (event_type, occurred_at) VALUES ('x', %lld)",
		    (long long)(NOW - (i < 4 ? 31 : 1) * DAY));
	}
	execf("COMMIT");
	r.batch = 500;
	is_int(accounting_purge(acc, &r, NOW, &p), QP_OK, "retention runs");
	is_int(p.requests, 1203, "old requests deleted");
	ok(p.batches >= 3 + 1 + 1, "in batches of 500: %d", p.batches);
	is_int(q_int("SELECT count(*) FROM requests WHERE request_uid LIKE 'old%%'"), 1,
	    "an old pending request is kept");
	is_int(q_int("SELECT count(*) FROM requests"), keep_before + 1, "recent requests kept");
	is_int(q_int("SELECT count(*) FROM request_attempts WHERE started_at < %lld",
	    (long long)(NOW - 30 * DAY)), 0, "their attempts went with them");
	is_int(q_int("SELECT count(*) FROM routing_decisions WHERE decided_at < %lld",
	    (long long)(NOW - 30 * DAY)), 0, "their decisions went with them");
	ok(q_int("SELECT count(*) FROM routing_decisions") > 0, "recent decisions kept");
	is_int(p.events, 4, "events older than 30 days deleted");
	is_int(q_int("SELECT count(*) FROM provider_pings"), 10,
	    "provider pings are left to the maintenance task that owns them");
	is_int(q_int("SELECT count(*) FROM operational_events WHERE occurred_at < %lld",
	    (long long)(NOW - 30 * DAY)), 0, "no old event left");
	ok(q_int("SELECT count(*) FROM stats_requests WHERE bucket_s = 3600") > 0,
	    "rollups are kept");
	r.requests_ms = r.events_ms = 0;
	is_int(accounting_purge(acc, &r, NOW + 1000 * DAY, &p), QP_OK, "0 days keeps forever");
	is_int(p.requests + p.decisions + p.events, 0, "nothing deleted");
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	char dir[512], dbpath[600], errbuf[512], buf[128];
	enum qp_err err;
	struct hooked hooked = { NULL, 0, 0, 0, 0 };
	int64_t pid = 0;
	int n;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/accounting.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	build_config();
	/* The maintenance thread stores the static models in the catalog at start. */
	if (sqlite3_exec(db, "INSERT INTO model_catalog (provider_id, model_id, source, "
	    "first_seen_at, last_seen_at) VALUES ('alpha', 'm1', 'static', 0, 0)", NULL, NULL,
	    NULL) != SQLITE_OK) {
		printf("Bail out! cannot store the static model\n");
		return 1;
	}
	sel_db = select_new(db, &cfg, &err, errbuf, sizeof(errbuf));
	acc = accounting_new(db, &err, errbuf, sizeof(errbuf));
	mdb = maint_db_new(db, &err, errbuf, sizeof(errbuf));
	hooked.ru = stats_rollup_new(db, &err, errbuf, sizeof(errbuf));
	if (!ok(sel_db != NULL && acc != NULL && mdb != NULL && hooked.ru != NULL,
	    "statements prepare on the shipped schema")) {
		printf("Bail out! %s\n", errbuf);
		return 1;
	}
	is_int(maint_process_register(mdb, 1234, "testhost", "1.2.3", NOW, &pid), QP_OK,
	    "process registered");
	is_str(q_text(buf, sizeof(buf), "SELECT pid || ' ' || hostname || ' ' || version || ' ' || "
	    "heartbeat_at FROM processes WHERE id = %lld", (long long)pid),
	    "1234 testhost 1.2.3 1700000000000", "process row");

	accounting_set_final_hook(acc, final_hook, &hooked);
	test_two_attempts(pid);
	test_rejected(pid);
	test_many(pid);
	test_stale(pid);
	test_pressure(pid);
	is_int(hooked.calls, q_int("SELECT count(*) FROM requests WHERE status <> 'pending'"),
	    "the final hook saw every request finalized here once");
	is_int(hooked.pending + hooked.outside, 0, "always final, always inside the transaction");
	is_int(hooked.failed, 0, "every finalized request was rolled up");
	is_int(rollup_mismatch(), 0, "rollup equals the rows after the quota checks");
	test_batch(pid);
	is_int(hooked.pending + hooked.outside + hooked.failed, 0,
	    "in batches too: final, inside the transaction, rolled up");
	test_purge_rollups(pid);
	accounting_set_final_hook(acc, NULL, NULL);
	test_purge();
	is_str(accounting_status_name(ACCOUNTING_CLIENT_DISCONNECTED), "client_disconnected",
	    "status names");
	ok(sqlite3_get_autocommit(db), "no transaction left open");

	accounting_free(acc);
	stats_rollup_free(hooked.ru);
	maint_db_free(mdb);
	select_free(sel_db);
	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/accounting.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/accounting.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	return tap_done();
}
