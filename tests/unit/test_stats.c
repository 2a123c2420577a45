/* test_stats.c: every statistics dataset returns what the rows it is built from say. */
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "migrate.h"
#include "stats.h"

#define SEC		1000LL
#define MIN		(60 * SEC)
#define HOUR		(60 * MIN)
#define DAY		(24 * HOUR)
/* 2024-05-15T12:00:00Z: on an hour, so fixed periods need no rounding. */
#define NOW		(1715774400LL * SEC)
#define NREQ		600

static char tmpdir[] = "/tmp/qp-test-stats-XXXXXX";
static sqlite3 *db;
static struct stats_db *sdb;
static struct stats_rollup *sru;
static struct config cfg;

/* A generated request, as the test knows it. */
struct req {
	char		 uid[40];
	int64_t		 id;
	int64_t		 started, completed;
	const char	*status;
	const char	*provider, *account, *model;
	int		 streamed, attempts;
	int64_t		 in, out, cread, cwrite, reason, cost;
	const char	*exact;
	int64_t		 total_ms, ttft_ms, connect_ms, fb_ms, overhead_us;
	int64_t		 bytes_in, bytes_out, upstream;
	const char	*error_class;
};

static struct req reqs[NREQ];

/* ---- configuration ---------------------------------------------------------- */

static struct config_account acc_alpha[2], acc_beta[2], acc_gamma[1];
static struct config_provider prov[3];

static void
setup_config(void)
{

	memset(&cfg, 0, sizeof(cfg));
	acc_alpha[0].name = "a1";
	acc_alpha[0].enabled = 1;
	acc_alpha[0].weight = 1;
	acc_alpha[0].quota[CONFIG_WINDOW_5H].requests = 40;
	acc_alpha[0].quota[CONFIG_WINDOW_5H].microdollars = 2000000;
	acc_alpha[0].quota[CONFIG_WINDOW_MONTH].tokens = 1000000;
	acc_alpha[0].quota[CONFIG_WINDOW_MONTH].offset_microdollars = 500;
	acc_alpha[1].name = "a2";
	acc_alpha[1].enabled = 1;
	acc_alpha[1].weight = 1;
	acc_beta[0].name = "b1";
	acc_beta[0].enabled = 1;
	acc_beta[0].weight = 1;
	acc_beta[1].name = "b2";
	acc_beta[1].enabled = 0;
	acc_beta[1].weight = 1;
	acc_gamma[0].name = "g1";
	acc_gamma[0].enabled = 1;
	acc_gamma[0].weight = 1;
	prov[0].id = "alpha";
	prov[0].enabled = 1;
	prov[0].accounts = acc_alpha;
	prov[0].naccounts = 2;
	prov[1].id = "beta";
	prov[1].enabled = 1;
	prov[1].accounts = acc_beta;
	prov[1].naccounts = 2;
	prov[2].id = "gamma";
	prov[2].enabled = 0;
	prov[2].accounts = acc_gamma;
	prov[2].naccounts = 1;
	cfg.providers = prov;
	cfg.nproviders = 3;
}

/* ---- database ------------------------------------------------------------------ */

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static void
execf(const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	exec(sql);
}

static int64_t
query_int(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, sqlite3_errmsg(db));
		exit(1);
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static uint64_t rng = 88172645463325252ULL;

static int64_t
rnd(int64_t n)
{

	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (int64_t)(rng % (uint64_t)n);
}

static const char *const accounts[4] = { "a1", "a2", "b1", "b2" };
static const char *const account_prov[4] = { "alpha", "alpha", "beta", "beta" };
static const char *const models[3] = { "m-large", "m-small", "m-code" };
static const char *const exacts[4] = { "exact", "derived", "estimated", "provider_reported" };

/* Inserts one request with its attempts and routing decisions, then rolls it up. */
static void
insert_request(struct req *r, int n)
{
	int k, ai;
	int64_t t;

	execf("INSERT INTO requests (request_uid, protocol, endpoint, model, model_base, "
	    "provider_id, account_name, streamed, status, status_code, error_class, "
	    "retry_category, attempt_count, started_at, completed_at, connect_ms, first_byte_ms, "
	    "ttft_ms, total_ms, overhead_us, input_tokens, output_tokens, cache_read_tokens, "
	    "cache_write_tokens, reasoning_tokens, cost_microdollars, cost_exactness, bytes_in, "
	    "bytes_out, upstream_bytes) VALUES ('%s', 'openai', '/v1/chat/completions', "
	    "'%s/%s', '%s', '%s', '%s', %d, '%s', %d, %s%s%s, %s, %d, %lld, %lld, %lld, %lld, "
	    "%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, '%s', %lld, %lld, %lld)",
	    r->uid, r->model, r->provider, r->model, r->provider, r->account, r->streamed,
	    r->status, strcmp(r->status, "completed") == 0 ? 200 : 502,
	    r->error_class ? "'" : "", r->error_class ? r->error_class : "NULL",
	    r->error_class ? "'" : "", r->attempts > 1 ? "'transient'" : "NULL", r->attempts,
	    (long long)r->started, (long long)r->completed, (long long)r->connect_ms,
	    (long long)r->fb_ms, (long long)r->ttft_ms, (long long)r->total_ms,
	    (long long)r->overhead_us, (long long)r->in, (long long)r->out, (long long)r->cread,
	    (long long)r->cwrite, (long long)r->reason, (long long)r->cost, r->exact,
	    (long long)r->bytes_in, (long long)r->bytes_out, (long long)r->upstream);
	r->id = sqlite3_last_insert_rowid(db);
	for (k = 1; k <= r->attempts; k++) {
		int last = k == r->attempts;
		const char *acct = last ? r->account : accounts[(n + k) % 4];
		const char *pv = last ? r->provider : account_prov[(n + k) % 4];

		ai = 0;
		t = r->completed;
		execf("INSERT INTO request_attempts (request_id, attempt_number, provider_id, "
		    "account_name, model, started_at, completed_at, status_code, outcome, "
		    "retry_category, error_class, total_ms) VALUES (%lld, %d, '%s', '%s', '%s', "
		    "%lld, %lld, %d, '%s', %s, %s, %d)", (long long)r->id, k, pv, acct, r->model,
		    (long long)r->started, (long long)t,
		    last && strcmp(r->status, "completed") == 0 ? 200 : 429,
		    last && strcmp(r->status, "completed") == 0 ? "ok" :
		    last ? "transient" : "rate_limited",
		    last && strcmp(r->status, "completed") == 0 ? "NULL" :
		    last ? "'transient'" : "'quota_exceeded'",
		    last && strcmp(r->status, "completed") == 0 ? "NULL" : "'upstream_429'",
		    100 + ai);
		/* The decision: the attempt's account chosen, b2 disabled, and on retries the
		 * accounts tried before excluded as already_tried. */
		execf("INSERT INTO routing_decisions (request_id, attempt_number, model, "
		    "chosen_account, chosen_provider, tier, candidates, eligible, detail_json, "
		    "decided_at) VALUES (%lld, %d, '%s', '%s', '%s', 0, 4, 3, '{\"model\":\"%s\","
		    "\"accounts\":[{\"account\":\"%s\",\"provider\":\"%s\",\"reason\":\"eligible\","
		    "\"chosen\":true},{\"account\":\"b2\",\"provider\":\"beta\",\"reason\":"
		    "\"disabled\"}%s]}', %lld)", (long long)r->id, k, r->model, acct, pv, r->model,
		    acct, pv, k > 1 ? ",{\"account\":\"a2\",\"provider\":\"alpha\",\"reason\":"
		    "\"backoff\",\"backoff\":\"rate_limited\"}" : "", (long long)r->completed);
	}
	if (stats_rollup_request(sru, r->id) != QP_OK) {
		printf("Bail out! rollup of %s failed: %s\n", r->uid, sqlite3_errmsg(db));
		exit(1);
	}
}

static void
generate(void)
{
	struct req *r;
	int i;

	exec("BEGIN IMMEDIATE");
	for (i = 0; i < NREQ; i++) {
		r = &reqs[i];
		memset(r, 0, sizeof(*r));
		snprintf(r->uid, sizeof(r->uid), "00000000-0000-4000-8000-%012d", i);
		/* A third in the last hour and day, the rest over 40 days. */
		if (i % 3 == 0)
			r->completed = NOW - 1 - rnd(HOUR);
		else if (i % 3 == 1)
			r->completed = NOW - 1 - rnd(DAY);
		else
			r->completed = NOW - 1 - rnd(40 * DAY);
		r->total_ms = 50 + rnd(5000);
		r->started = r->completed - r->total_ms;
		r->account = accounts[rnd(4)];
		r->provider = strcmp(r->account, "a1") == 0 || strcmp(r->account, "a2") == 0 ?
		    "alpha" : "beta";
		r->model = models[rnd(3)];
		r->streamed = (int)rnd(2);
		r->attempts = rnd(5) == 0 ? 2 + (int)rnd(2) : 1;
		switch (rnd(10)) {
		case 0:
			r->status = "error";
			r->error_class = "upstream_5xx";
			break;
		case 1:
			r->status = "client_error";
			r->error_class = "bad_request";
			break;
		case 2:
			r->status = rnd(2) ? "interrupted" : "client_disconnected";
			r->error_class = "stale";
			break;
		default:
			r->status = "completed";
			r->error_class = NULL;
		}
		r->in = rnd(5000);
		r->out = rnd(2000);
		r->cread = rnd(3) == 0 ? rnd(8000) : 0;
		r->cwrite = rnd(4) == 0 ? rnd(1000) : 0;
		r->reason = rnd(300);
		r->cost = rnd(20000);
		r->exact = exacts[rnd(4)];
		r->ttft_ms = 10 + rnd(r->total_ms);
		r->connect_ms = 1 + rnd(40);
		r->fb_ms = 5 + rnd(r->total_ms);
		r->overhead_us = 20 + rnd(900);
		r->bytes_in = 100 + rnd(100000);
		r->bytes_out = 100 + rnd(50000);
		r->upstream = r->bytes_out + rnd(100);
		insert_request(r, i);
	}
	/* A request refused before any attempt: no provider, account or attempt. */
	execf("INSERT INTO requests (request_uid, protocol, endpoint, model, status, "
	    "status_code, error_class, started_at, completed_at, total_ms) VALUES "
	    "('00000000-0000-4000-8000-rejected0000', 'openai', '/v1/chat/completions', "
	    "'nope', 'rejected', 404, 'no_model', %lld, %lld, 0)", (long long)(NOW - 10 * MIN),
	    (long long)(NOW - 10 * MIN));
	if (stats_rollup_request(sru, sqlite3_last_insert_rowid(db)) != QP_OK) {
		printf("Bail out! rollup of the rejected request failed\n");
		exit(1);
	}
	/* Two pending requests (not in any rollup). */
	execf("INSERT INTO requests (request_uid, protocol, endpoint, model, model_base, "
	    "streamed, status, started_at) VALUES ('00000000-0000-4000-9000-000000000001', "
	    "'openai', '/v1/chat/completions', 'm-large', 'm-large', 1, 'pending', %lld), "
	    "('00000000-0000-4000-9000-000000000002', 'anthropic', '/v1/messages', 'm-code', "
	    "'m-code', 0, 'pending', %lld)", (long long)(NOW - 90 * SEC),
	    (long long)(NOW - 5 * SEC));
	/* Backoffs: a2 rate limited, b1 quarantined, a1's is over. */
	execf("INSERT INTO account_backoffs (account_name, reason, backoff_until, "
	    "consecutive_failures, status_code, error_class, updated_at) VALUES "
	    "('a2', 'rate_limited', %lld, 2, 429, 'upstream_429', %lld), "
	    "('b1', 'auth_failure', %lld, 1, 401, 'upstream_401', %lld), "
	    "('a1', 'transient', %lld, 1, 503, 'upstream_5xx', %lld)",
	    (long long)(NOW + MIN), (long long)(NOW - MIN), (long long)(NOW + 10 * MIN),
	    (long long)(NOW - 2 * MIN), (long long)(NOW - SEC), (long long)(NOW - HOUR));
	/* Pings: alpha every 10 minutes over the last day, one failure in six. */
	for (i = 0; i < 144; i++)
		execf("INSERT INTO provider_pings (provider_id, account_name, probed_at, latency_ms, "
		    "status_code, ok, error, model_count) VALUES ('alpha', 'a1', %lld, %s, %s, %d, %s, "
		    "%s)", (long long)(NOW - DAY + i * 10 * MIN), i % 6 == 5 ? "NULL" : "120",
		    i % 6 == 5 ? "NULL" : "200", i % 6 != 5, i % 6 == 5 ? "'timeout'" : "NULL",
		    i % 6 == 5 ? "NULL" : "12");
	execf("INSERT INTO provider_pings (provider_id, probed_at, latency_ms, status_code, ok) "
	    "VALUES ('beta', %lld, 300, 200, 1), ('beta', %lld, 500, 200, 1), "
	    "('beta', %lld, 100, 200, 1)", (long long)(NOW - 2 * HOUR), (long long)(NOW - HOUR),
	    (long long)(NOW - 3 * DAY));
	/* Operational events. */
	execf("INSERT INTO operational_events (event_type, details_json, occurred_at) VALUES "
	    "('crash_recovery', '{\"requests\":3}', %lld), ('stale_finalized', "
	    "'{\"requests\":1}', %lld), ('stale_finalized', '{\"requests\":2}', %lld), "
	    "('process_start', 'not json', %lld)", (long long)(NOW - 2 * HOUR),
	    (long long)(NOW - 30 * MIN), (long long)(NOW - 3 * DAY), (long long)(NOW - 5 * MIN));
	/* A live and an expired reservation. */
	execf("INSERT INTO reservations (request_id, account_name, created_at, expires_at) "
	    "SELECT id, 'a1', %lld, %lld FROM requests WHERE request_uid = "
	    "'00000000-0000-4000-9000-000000000001'", (long long)(NOW - 90 * SEC),
	    (long long)(NOW + HOUR));
	execf("INSERT INTO reservations (request_id, account_name, created_at, expires_at) "
	    "SELECT id, 'b1', %lld, %lld FROM requests WHERE request_uid = "
	    "'00000000-0000-4000-9000-000000000002'", (long long)(NOW - 5 * SEC),
	    (long long)(NOW - SEC));
	exec("COMMIT");
}

/* ---- JSON helpers ------------------------------------------------------------------ */

static cJSON *
jget(const cJSON *o, const char *k)
{

	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The number at o.k, or -99999999 when missing or not a number. */
static double
jnum(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -99999999;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The element of array o.k whose field f is the string v (and f2 is v2 when given). */
static cJSON *
jfind(const cJSON *o, const char *k, const char *f, const char *v, const char *f2,
    const char *v2)
{
	cJSON *it;

	cJSON_ArrayForEach(it, jget(o, k)) {
		const char *s = jstr(it, f);

		if (s != NULL && strcmp(s, v) == 0 && (f2 == NULL || (jstr(it, f2) != NULL &&
		    strcmp(jstr(it, f2), v2) == 0)))
			return it;
	}
	return NULL;
}

/* ---- expectations ------------------------------------------------------------------- */

/* Does r belong to [from, to) and match the filters (NULL = any)? */
static int
in(const struct req *r, int64_t from, int64_t to, const char *acct, const char *pv,
    const char *model, const char *status)
{

	return r->completed >= from && r->completed < to &&
	    (acct == NULL || strcmp(r->account, acct) == 0) &&
	    (pv == NULL || strcmp(r->provider, pv) == 0) &&
	    (model == NULL || strcmp(r->model, model) == 0) &&
	    (status == NULL || strcmp(r->status, status) == 0);
}

static int
is_error(const struct req *r)
{

	return strcmp(r->status, "error") == 0 || strcmp(r->status, "interrupted") == 0 ||
	    strcmp(r->status, "rejected") == 0;
}

static cJSON *
run(enum stats_dataset d, const char *qs)
{
	struct stats_query q;
	char errbuf[256];
	enum qp_err err;
	cJSON *j;

	if (stats_query_parse(&q, qs, strlen(qs), NOW, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("# query %s refused: %s\n", qs, errbuf);
		return NULL;
	}
	j = stats_dataset_run(sdb, &cfg, d, &q, &err, errbuf, sizeof(errbuf));
	if (j == NULL)
		printf("# %s?%s failed: %s %s\n", stats_dataset_name(d), qs, qp_strerror(err),
		    errbuf);
	return j;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Is estimate within the documented bin error of the exact value? */
static int
close_enough(double est, double exact)
{

	return est >= exact * (1 - STATS_BIN_ERROR_PCT / 100) &&
	    est <= exact * (1 + STATS_BIN_ERROR_PCT / 100);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_query(void)
{
	static const char *const bad[] = {
		"period=2d", "period=", "period=24h&period=7d", "period=2024-13-01..2024-05-02",
		"period=2024-05-02..2024-05-01", "period=2023-01-01..2024-05-02",
		"period=2024-02-30", "period=2024-05-01T25:00", "period=abc..def",
		"limit=0", "limit=201", "limit=ten", "limit=-1", "top=0", "top=21",
		"group_by=color", "metric=bytes", "status=done", "include_disabled=2",
		"now=-5", "now=1.5", "now=", "now=000000", "account=%zz", "account=%0a", "model=%ff%fe",
		"period=%", "account=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"period=2099-01-01",
	};
	struct stats_query q;
	char errbuf[256];
	size_t i;
	enum qp_err err;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errbuf[0] = '\0';
		err = stats_query_parse(&q, bad[i], strlen(bad[i]), NOW, errbuf, sizeof(errbuf));
		ok(err == QP_EINVAL && errbuf[0] != '\0', "refused: %s (%s)", bad[i], errbuf);
	}

	is_int(stats_query_parse(&q, "", 0, NOW, errbuf, sizeof(errbuf)), QP_OK, "empty query");
	is_str(q.label, "24h", "default period 24h");
	is_int(q.from, NOW - DAY, "24h starts a day ago");
	is_int(q.to, NOW, "ends now");
	is_int(q.period_given, 0, "no period given");
	is_int(q.limit, STATS_LIMIT_DEFAULT, "default limit");
	is_int(q.top, STATS_TOP_DEFAULT, "default top");

	err = stats_query_parse(&q, "period=7d&group_by=provider_model&metric=cost&top=3&"
	    "limit=200&theme=dark&account=a%2B1&provider=be+ta&status=error&include_disabled=0",
	    strlen("period=7d&group_by=provider_model&metric=cost&top=3&limit=200&theme=dark&"
	    "account=a%2B1&provider=be+ta&status=error&include_disabled=0"), NOW, errbuf,
	    sizeof(errbuf));
	is_int(err, QP_OK, "full query accepted (%s)", errbuf);
	is_int(q.period, STATS_PERIOD_7D, "period 7d");
	is_int(q.from, NOW - 7 * DAY, "7d from");
	is_int(q.group_by, STATS_GROUP_PROVIDER_MODEL, "group_by");
	is_int(q.metric, STATS_METRIC_COST, "metric");
	is_int(q.top, 3, "top");
	is_int(q.limit, 200, "limit");
	is_int(q.include_disabled, 0, "include_disabled");
	is_str(q.account, "a+1", "account decoded");
	is_str(q.provider, "be ta", "provider decoded");
	is_str(q.status, "error", "status");
	is_int(q.filters, STATS_F_ACCOUNT | STATS_F_PROVIDER | STATS_F_STATUS, "filter mask");

	err = stats_query_parse(&q, "period=2024-05-01..2024-05-02T06:30:00Z", 39, NOW, errbuf,
	    sizeof(errbuf));
	is_int(err, QP_OK, "ISO range accepted (%s)", errbuf);
	is_int(q.from, 1714521600LL * SEC, "range start 2024-05-01");
	is_int(q.to, 1714631400LL * SEC, "range end 2024-05-02T06:30Z");
	is_str(q.label, "2024-05-01..2024-05-02T06:30:00Z", "label is the range");
	err = stats_query_parse(&q, "period=1715700000", 17, NOW, errbuf, sizeof(errbuf));
	is_int(err, QP_OK, "epoch start accepted");
	is_int(q.from, 1715700000LL * SEC, "since epoch seconds");
	is_int(q.to, NOW, "until now");
	err = stats_query_parse(&q, "now=1700000000&period=1h", 24, NOW, errbuf, sizeof(errbuf));
	is_int(err, QP_OK, "now accepted");
	is_int(q.now, 1700000000LL * SEC, "now overrides the clock");
	is_int(q.from, 1700000000LL * SEC - HOUR, "period relative to the given now");
	err = stats_query_parse(&q, "account=&model=", 15, NOW, errbuf, sizeof(errbuf));
	is_int(err, QP_OK, "empty filters accepted");
	is_int(q.filters, 0, "empty filters mean any");

	stats_query_parse(&q, "status=error", 12, NOW, errbuf, sizeof(errbuf));
	is_int(stats_query_check(STATS_DS_LATENCY, &q, errbuf, sizeof(errbuf)), QP_EINVAL,
	    "latency refuses status= (%s)", errbuf);
	is_int(stats_query_check(STATS_DS_SUMMARY, &q, errbuf, sizeof(errbuf)), QP_OK,
	    "summary takes status=");
	is_int(stats_dataset_find("pending-health", 14), STATS_DS_PENDING_HEALTH, "find dataset");
	is_int(stats_dataset_find("nope", 4), STATS_DS__MAX, "unknown dataset");
}

static void
test_bins(void)
{
	int64_t lo, hi, counts[STATS_BINS];
	int b, ok_edges = 1, ok_mid = 1;

	is_int(stats_bin(0), 0, "0 ns in bin 0");
	is_int(stats_bin(999), 0, "999 ns in bin 0");
	is_int(stats_bin(1000), 1, "1 us starts bin 1");
	is_int(stats_bin(1249), 1, "1.249 us in bin 1");
	is_int(stats_bin(1250), 2, "1.25 us starts bin 2");
	is_int(stats_bin(5000000), 38, "5 ms starts bin 38");
	is_int(stats_bin(INT64_MAX), STATS_BINS - 1, "huge value in the last bin");
	for (b = 1; b < STATS_BINS - 1; b++) {
		stats_bin_edges(b, &lo, &hi);
		if (stats_bin(lo) != b || stats_bin(hi - 1) != b || stats_bin(hi) != b + 1 ||
		    (double)hi / (double)lo > 1.281)
			ok_edges = 0;
		memset(counts, 0, sizeof(counts));
		counts[b] = 1;
		if (!close_enough(stats_percentile(counts, 0.5), (double)lo / 1e6) ||
		    !close_enough(stats_percentile(counts, 0.5), (double)(hi - 1) / 1e6))
			ok_mid = 0;
	}
	ok(ok_edges, "every bin holds its edges and is at most 1.28 wide");
	{
		static const unsigned char good[] = { 3, 5, 40, 0x81, 0x01 };
		static const unsigned char unsorted[] = { 40, 1, 3, 1 };
		static const unsigned char cut[] = { 3, 0x81 };
		static const unsigned char range[] = { STATS_BINS, 1 };

		memset(counts, 0, sizeof(counts));
		is_int(stats_bins_read(good, sizeof(good), counts), 0, "sparse histogram read");
		ok(counts[3] == 5 && counts[40] == 129, "bins 3 and 40 hold 5 and 129");
		is_int(stats_bins_read(unsorted, sizeof(unsorted), counts), -1, "unsorted bins refused");
		is_int(stats_bins_read(cut, sizeof(cut), counts), -1, "cut varint refused");
		is_int(stats_bins_read(range, sizeof(range), counts), -1, "bin out of range refused");
		is_int(stats_bins_read(NULL, 0, counts), 0, "empty histogram");
	}
	ok(ok_mid, "a bin's reported value is within the documented error of both its ends");
	memset(counts, 0, sizeof(counts));
	ok(stats_percentile(counts, 0.5) < 0, "empty histogram has no percentile");
	counts[10] = 50;
	counts[30] = 49;
	counts[50] = 1;
	stats_bin_edges(10, &lo, &hi);
	ok(stats_percentile(counts, 0.5) >= (double)lo / 1e6 &&
	    stats_percentile(counts, 0.5) < (double)hi / 1e6, "p50 is the 50th value's bin");
	stats_bin_edges(30, &lo, &hi);
	ok(stats_percentile(counts, 0.51) >= (double)lo / 1e6, "p51 moves to the next bin");
	stats_bin_edges(50, &lo, &hi);
	ok(stats_percentile(counts, 1.0) >= (double)lo / 1e6, "p100 is the largest bin");
}

static void
test_summary(void)
{
	static const char *const periods[4] = { "1h", "24h", "7d", "30d" };
	static const int64_t lens[4] = { HOUR, DAY, 7 * DAY, 30 * DAY };
	int64_t n, okc, errs, in_t, out_t, cr, cw, cost, streamed, bin, bout, up, tms, tn;
	int64_t exact_n, pr_n, attempts;
	char qs[128];
	cJSON *j, *h;
	int p, i;

	for (p = 0; p < 4; p++) {
		n = okc = errs = in_t = out_t = cr = cw = cost = streamed = bin = bout = up = 0;
		tms = tn = exact_n = pr_n = attempts = 0;
		for (i = 0; i < NREQ; i++) {
			const struct req *r = &reqs[i];

			if (!in(r, NOW - lens[p], NOW, NULL, NULL, NULL, NULL))
				continue;
			n++;
			okc += strcmp(r->status, "completed") == 0;
			errs += is_error(r);
			in_t += r->in;
			out_t += r->out;
			cr += r->cread;
			cw += r->cwrite;
			cost += r->cost;
			streamed += r->streamed;
			bin += r->bytes_in;
			bout += r->bytes_out;
			up += r->upstream;
			attempts += r->attempts;
			exact_n += strcmp(r->exact, "exact") == 0;
			pr_n += strcmp(r->exact, "provider_reported") == 0;
			if (strcmp(r->status, "completed") == 0) {
				tms += r->total_ms;
				tn++;
			}
		}
		/* The rejected request falls in every period. */
		n++;
		errs++;
		snprintf(qs, sizeof(qs), "period=%s", periods[p]);
		j = run(STATS_DS_SUMMARY, qs);
		ok(j != NULL, "summary %s", periods[p]);
		is_int(jnum(j, "total_requests"), n, "%s total_requests", periods[p]);
		is_int(jnum(j, "successful_requests"), okc, "%s successful_requests", periods[p]);
		is_int(jnum(j, "error_requests"), errs, "%s error_requests", periods[p]);
		ok(jnum(j, "error_rate") > (double)errs / n - 1e-6 &&
		    jnum(j, "error_rate") < (double)errs / n + 1e-6, "%s error_rate %g = %g",
		    periods[p], jnum(j, "error_rate"), (double)errs / n);
		is_int(jnum(j, "total_input_tokens"), in_t, "%s input tokens", periods[p]);
		is_int(jnum(j, "total_output_tokens"), out_t, "%s output tokens", periods[p]);
		is_int(jnum(j, "total_cache_read_tokens"), cr, "%s cache read", periods[p]);
		is_int(jnum(j, "total_cache_write_tokens"), cw, "%s cache write", periods[p]);
		is_int(jnum(j, "total_tokens"), in_t + out_t + cr + cw, "%s total tokens", periods[p]);
		is_int(jnum(j, "total_cost_microdollars"), cost, "%s cost", periods[p]);
		is_int(jnum(j, "streamed_requests"), streamed, "%s streamed", periods[p]);
		is_int(jnum(j, "non_streamed_requests"), n - streamed, "%s non streamed", periods[p]);
		is_int(jnum(j, "exact_count"), exact_n, "%s exact_count", periods[p]);
		is_int(jnum(j, "provider_reported_count"), pr_n, "%s provider_reported_count",
		    periods[p]);
		is_int(jnum(j, "unknown_count"), 1, "%s unknown_count (the rejected one)", periods[p]);
		is_int(jnum(j, "total_bytes_in"), bin, "%s bytes in", periods[p]);
		is_int(jnum(j, "total_bytes_emitted"), bout, "%s bytes emitted", periods[p]);
		is_int(jnum(j, "total_bytes_received"), up, "%s bytes received", periods[p]);
		is_int(jnum(j, "total_attempts"), attempts, "%s attempts", periods[p]);
		ok(jnum(j, "avg_latency_ms") > (double)tms / tn - 0.001 &&
		    jnum(j, "avg_latency_ms") < (double)tms / tn + 0.001, "%s avg latency %g = %g",
		    periods[p], jnum(j, "avg_latency_ms"), (double)tms / tn);
		is_int(jnum(j, "from"), NOW - lens[p], "%s from", periods[p]);
		is_int(jnum(j, "to"), NOW, "%s to", periods[p]);
		is_int(jnum(j, "active_streams"), 2, "%s active streams = pending", periods[p]);
		h = jget(j, "health");
		is_int(jnum(h, "pending_requests"), 2, "health pending");
		is_int(jnum(h, "oldest_pending_age_ms"), 90 * SEC, "health oldest pending age");
		is_int(jnum(h, "accounts_in_backoff"), 1, "health accounts in backoff");
		is_int(jnum(h, "accounts_quarantined"), 1, "health accounts quarantined");
		is_int(jnum(h, "accounts_disabled"), 2, "health accounts disabled");
		is_int(jnum(h, "accounts_total"), 5, "health accounts total");
		cJSON_Delete(j);
	}

	/* Filters. */
	n = okc = cost = 0;
	for (i = 0; i < NREQ; i++)
		if (in(&reqs[i], NOW - 30 * DAY, NOW, "a1", NULL, "m-code", NULL)) {
			n++;
			cost += reqs[i].cost;
		}
	j = run(STATS_DS_SUMMARY, "period=30d&account=a1&model=m-code");
	is_int(jnum(j, "total_requests"), n, "filtered by account and model: requests");
	is_int(jnum(j, "total_cost_microdollars"), cost, "filtered by account and model: cost");
	is_str(jstr(jget(j, "filters"), "account"), "a1", "filters echoed");
	cJSON_Delete(j);
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += in(&reqs[i], NOW - 7 * DAY, NOW, NULL, "beta", NULL, "client_error");
	j = run(STATS_DS_SUMMARY, "period=7d&provider=beta&status=client_error");
	is_int(jnum(j, "total_requests"), n, "filtered by provider and status");
	is_int(jnum(j, "error_requests"), 0, "client errors are not errors");
	cJSON_Delete(j);
}

static void
test_boundaries(void)
{
	struct stats_query q;
	char errbuf[128], qs[160], a[32], b[32];
	enum qp_err err;
	cJSON *j;
	int64_t n, from, to;
	int i;

	/* An explicit range, inside the 5-minute retention: edges on 5-minute marks. */
	from = NOW - 20 * HOUR - 25 * MIN;
	to = NOW - 3 * HOUR - 40 * MIN;
	stats_iso(from, a, sizeof(a));
	stats_iso(to, b, sizeof(b));
	snprintf(qs, sizeof(qs), "period=%s..%s", a, b);
	j = run(STATS_DS_SUMMARY, qs);
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += in(&reqs[i], from, to, NULL, NULL, NULL, NULL);
	is_int(jnum(j, "total_requests"), n, "range %s: requests", qs);
	is_int(jnum(j, "from"), from, "range from as given");
	is_int(jnum(j, "to"), to, "range to as given");
	cJSON_Delete(j);

	/* Odd edges round out to the 5-minute buckets holding them. */
	from = NOW - 20 * HOUR - 23 * MIN - 7 * SEC;
	to = NOW - 3 * HOUR - 41 * MIN - 30 * SEC;
	snprintf(qs, sizeof(qs), "period=%lld..%lld", (long long)(from / SEC), (long long)(to / SEC));
	j = run(STATS_DS_SUMMARY, qs);
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += in(&reqs[i], from / (5 * MIN) * (5 * MIN),
		    (to + 5 * MIN - 1) / (5 * MIN) * (5 * MIN), NULL, NULL, NULL, NULL);
	is_int(jnum(j, "total_requests"), n, "odd range counts whole 5-minute buckets");
	is_int(jnum(j, "from"), from / (5 * MIN) * (5 * MIN), "odd range from rounded down");
	cJSON_Delete(j);

	/* Older than the 5-minute retention: edges round out to hours. */
	from = NOW - 20 * DAY - 3 * HOUR - 17 * MIN;
	to = NOW - 9 * DAY - 5 * HOUR - 50 * MIN;
	snprintf(qs, sizeof(qs), "period=%lld..%lld", (long long)(from / SEC), (long long)(to / SEC));
	j = run(STATS_DS_SUMMARY, qs);
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += in(&reqs[i], from / HOUR * HOUR, (to + HOUR - 1) / HOUR * HOUR, NULL, NULL,
		    NULL, NULL);
	is_int(jnum(j, "total_requests"), n, "old range counts whole hours");
	is_int(jnum(j, "from"), from / HOUR * HOUR, "old range from rounded to the hour");
	is_int(jnum(j, "to"), (to + HOUR - 1) / HOUR * HOUR, "old range to rounded to the hour");
	cJSON_Delete(j);

	/* A request completed exactly at the start of a period counts; one ms before does not. */
	exec("BEGIN IMMEDIATE");
	execf("INSERT INTO requests (request_uid, protocol, endpoint, model_base, provider_id, "
	    "account_name, status, started_at, completed_at, total_ms, cost_microdollars) VALUES "
	    "('edge-in', 'openai', '/v1/x', 'm-edge', 'alpha', 'a1', 'completed', %lld, %lld, 1, 7)",
	    (long long)(NOW - 2 * DAY), (long long)(NOW - 2 * DAY));
	stats_rollup_request(sru, sqlite3_last_insert_rowid(db));
	execf("INSERT INTO requests (request_uid, protocol, endpoint, model_base, provider_id, "
	    "account_name, status, started_at, completed_at, total_ms, cost_microdollars) VALUES "
	    "('edge-out', 'openai', '/v1/x', 'm-edge', 'alpha', 'a1', 'completed', %lld, %lld, 1, "
	    "11)", (long long)(NOW - 2 * DAY - 1), (long long)(NOW - 2 * DAY - 1));
	is_int(stats_rollup_hook(sru, sqlite3_last_insert_rowid(db)), 0,
	    "the accounting hook rolls a request up");
	exec("COMMIT");
	snprintf(qs, sizeof(qs), "period=%lld..%lld&model=m-edge", (long long)((NOW - 2 * DAY) / SEC),
	    (long long)(NOW / SEC));
	j = run(STATS_DS_SUMMARY, qs);
	is_int(jnum(j, "total_cost_microdollars"), 7, "the start is inclusive, before it is not");
	cJSON_Delete(j);
	snprintf(qs, sizeof(qs), "period=%lld..%lld&model=m-edge", (long long)((NOW - 3 * DAY) / SEC),
	    (long long)((NOW - 2 * DAY) / SEC));
	j = run(STATS_DS_SUMMARY, qs);
	is_int(jnum(j, "total_cost_microdollars"), 11, "the end is exclusive");
	cJSON_Delete(j);
	exec("BEGIN IMMEDIATE");
	exec("DELETE FROM stats_requests WHERE model = 'm-edge'");
	exec("DELETE FROM stats_errors WHERE model = 'm-edge'");
	exec("DELETE FROM stats_latency WHERE model = 'm-edge'");
	exec("DELETE FROM requests WHERE model_base = 'm-edge'");
	exec("COMMIT");

	/* A rollup of a pending or unknown request is refused. */
	is_int(stats_rollup_request(sru, (int64_t)query_int("SELECT id FROM requests "
	    "WHERE status = 'pending' LIMIT 1")), QP_EINVAL, "pending request not rolled up");
	is_int(stats_rollup_request(sru, 999999), QP_EINVAL, "unknown request not rolled up");
	is_int(stats_rollup_hook(sru, 999999), -1, "the hook says so");

	err = stats_query_parse(&q, "period=1h", 9, NOW, errbuf, sizeof(errbuf));
	(void)err;
}

static void
test_rollup_consistency(void)
{

	/* Every granularity holds the same totals as the raw rows. */
	is_int(query_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 0"),
	    query_int("SELECT count(*) FROM requests WHERE status <> 'pending'"),
	    "all-time rollup counts every finalized request");
	is_int(query_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 86400"),
	    query_int("SELECT sum(requests) FROM stats_requests WHERE bucket_s = 300"),
	    "daily and 5-minute rollups agree");
	is_int(query_int("SELECT sum(cost_microdollars) FROM stats_requests WHERE bucket_s = 3600"),
	    query_int("SELECT sum(cost_microdollars) FROM requests WHERE status <> 'pending'"),
	    "hourly cost equals the rows'");
	is_int(query_int("SELECT sum(count) FROM stats_latency WHERE bucket_s = 0 AND "
	    "metric = 'total'"), query_int("SELECT count(*) FROM requests WHERE status = "
	    "'completed' AND total_ms IS NOT NULL"), "latency histogram counts completed requests");
	is_int(query_int("SELECT sum(sum_us) FROM stats_latency WHERE bucket_s = 0 AND "
	    "metric = 'overhead'"), query_int("SELECT sum(overhead_us) FROM requests WHERE status = "
	    "'completed'"), "overhead sum kept in microseconds");
	is_int(query_int("SELECT sum(attempts) FROM stats_attempts WHERE bucket_s = 3600"),
	    query_int("SELECT count(*) FROM request_attempts"), "attempt rollup counts every attempt");
	is_int(query_int("SELECT sum(decisions) FROM stats_routing WHERE bucket_s = 0 AND "
	    "reason = 'chosen'"), query_int("SELECT count(*) FROM routing_decisions"),
	    "one chosen row per decision");
	is_int(query_int("SELECT sum(decisions) FROM stats_routing WHERE bucket_s = 0 AND "
	    "reason = 'backoff:rate_limited'"), query_int("SELECT count(*) FROM routing_decisions "
	    "WHERE attempt_number > 1"), "backoff exclusions keep their kind");
}

static void
test_models_latency(void)
{
	int64_t n, tokens, cost, vals[NREQ], tt[NREQ], nt;
	double exact;
	cJSON *j, *m;
	int i, mi, pi, k;
	static const char *const pvs[2] = { "alpha", "beta" };
	static const double ps[3] = { 0.5, 0.9, 0.99 };
	static const char *const pk[3] = { "p50_ms", "p90_ms", "p99_ms" };

	j = run(STATS_DS_MODELS, "period=30d");
	ok(j != NULL, "models 30d");
	for (pi = 0; pi < 2; pi++)
		for (mi = 0; mi < 3; mi++) {
			n = tokens = cost = 0;
			for (i = 0; i < NREQ; i++)
				if (in(&reqs[i], NOW - 30 * DAY, NOW, NULL, pvs[pi], models[mi], NULL)) {
					n++;
					tokens += reqs[i].in + reqs[i].out + reqs[i].cread + reqs[i].cwrite;
					cost += reqs[i].cost;
				}
			m = jfind(j, "models", "provider", pvs[pi], "model", models[mi]);
			is_int(jnum(m, "requests"), n, "models %s/%s requests", models[mi], pvs[pi]);
			is_int(jnum(m, "total_tokens"), tokens, "models %s/%s tokens", models[mi],
			    pvs[pi]);
			is_int(jnum(m, "cost_microdollars"), cost, "models %s/%s cost", models[mi],
			    pvs[pi]);
			exact = tokens > 0 ? (double)cost * 1000 / (double)tokens : 0;
			ok(jnum(m, "cost_per_1k_tokens_microdollars") > exact - 0.001 &&
			    jnum(m, "cost_per_1k_tokens_microdollars") < exact + 0.001,
			    "models %s/%s cost per 1k tokens", models[mi], pvs[pi]);
		}
	cJSON_Delete(j);

	/* Percentiles against the exact nearest-rank values of the rows. */
	j = run(STATS_DS_LATENCY, "period=7d");
	ok(j != NULL, "latency 7d");
	n = nt = 0;
	for (i = 0; i < NREQ; i++)
		if (in(&reqs[i], NOW - 7 * DAY, NOW, NULL, NULL, NULL, "completed")) {
			vals[n++] = reqs[i].total_ms;
			tt[nt++] = reqs[i].ttft_ms;
		}
	qsort(vals, (size_t)n, sizeof(vals[0]), cmp_i64);
	qsort(tt, (size_t)nt, sizeof(tt[0]), cmp_i64);
	m = jfind(j, "metrics", "metric", "total", NULL, NULL);
	is_int(jnum(m, "count"), n, "latency total count");
	for (k = 0; k < 3; k++) {
		int64_t rank = (int64_t)(ps[k] * (double)n);

		if ((double)rank < ps[k] * (double)n)
			rank++;
		exact = (double)vals[rank - 1];
		ok(close_enough(jnum(m, pk[k]), exact), "total %s %g within %.1f%% of %g", pk[k],
		    jnum(m, pk[k]), STATS_BIN_ERROR_PCT, exact);
	}
	m = jfind(j, "metrics", "metric", "ttft", NULL, NULL);
	for (k = 0; k < 3; k++) {
		int64_t rank = (int64_t)(ps[k] * (double)nt);

		if ((double)rank < ps[k] * (double)nt)
			rank++;
		exact = (double)tt[rank - 1];
		ok(close_enough(jnum(m, pk[k]), exact), "ttft %s %g within %.1f%% of %g", pk[k],
		    jnum(m, pk[k]), STATS_BIN_ERROR_PCT, exact);
	}
	ok(jfind(j, "metrics", "metric", "overhead", NULL, NULL) != NULL &&
	    jnum(jfind(j, "metrics", "metric", "overhead", NULL, NULL), "p50_ms") < 1,
	    "overhead reported in ms (sub-millisecond)");
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += in(&reqs[i], NOW - 7 * DAY, NOW, NULL, "beta", "m-small", "completed");
	m = jfind(j, "by_model", "provider", "beta", "model", "m-small");
	is_int(jnum(m, "total_count"), n, "latency per model count");
	cJSON_Delete(j);
}

static void
test_timeseries(void)
{
	static const char *const groups[4] = { "provider", "model", "account", "provider_model" };
	cJSON *j, *it, *v;
	int64_t total, sum_series, sum_buckets, expect;
	char qs[128], key[64];
	int g, i, bad, nseries;

	for (g = 0; g < 4; g++) {
		snprintf(qs, sizeof(qs), "period=30d&group_by=%s&metric=cost&top=2", groups[g]);
		j = run(STATS_DS_TIMESERIES, qs);
		ok(j != NULL, "timeseries %s", qs);
		total = 0;
		for (i = 0; i < NREQ; i++)
			if (in(&reqs[i], NOW - 30 * DAY, NOW, NULL, NULL, NULL, NULL))
				total += reqs[i].cost;
		is_int(jnum(j, "total"), total, "timeseries %s total", groups[g]);
		is_int(jnum(j, "bucket_ms"), DAY, "30d has day buckets");
		sum_series = 0;
		nseries = 0;
		cJSON_ArrayForEach(it, jget(j, "series")) {
			sum_series += (int64_t)jnum(it, "total");
			nseries++;
			if (strcmp(jstr(it, "name"), "other") == 0)
				continue;
			/* Each named series equals its rows. */
			expect = 0;
			for (i = 0; i < NREQ; i++) {
				const struct req *r = &reqs[i];

				if (!in(r, NOW - 30 * DAY, NOW, NULL, NULL, NULL, NULL))
					continue;
				if (g == 0)
					snprintf(key, sizeof(key), "%s", r->provider);
				else if (g == 1)
					snprintf(key, sizeof(key), "%s", r->model);
				else if (g == 2)
					snprintf(key, sizeof(key), "%s", r->account);
				else
					snprintf(key, sizeof(key), "%s/%s", r->model, r->provider);
				if (strcmp(key, jstr(it, "name")) == 0)
					expect += r->cost;
			}
			is_int(jnum(it, "total"), expect, "series %s = %s's rows", jstr(it, "name"),
			    jstr(it, "name"));
		}
		is_int(sum_series, total, "%s: series totals (with other) add up", groups[g]);
		ok(nseries <= 3, "%s: top 2 plus other", groups[g]);
		bad = 0;
		sum_buckets = 0;
		cJSON_ArrayForEach(it, jget(j, "buckets")) {
			int64_t bt = 0;

			cJSON_ArrayForEach(v, jget(it, "values"))
				bt += (int64_t)v->valuedouble;
			if (bt != (int64_t)jnum(it, "total") ||
			    cJSON_GetArraySize(jget(it, "values")) != nseries)
				bad++;
			sum_buckets += bt;
		}
		is_int(bad, 0, "%s: every bucket's values add up to its total", groups[g]);
		is_int(sum_buckets, total, "%s: buckets add up to the total", groups[g]);
		cJSON_Delete(j);
	}
	j = run(STATS_DS_TIMESERIES, "period=1h&metric=requests");
	is_int(jnum(j, "bucket_ms"), 5 * MIN, "1h has 5-minute buckets");
	is_int(cJSON_GetArraySize(jget(j, "buckets")), 12, "1h has 12 buckets");
	expect = 1;	/* the rejected request */
	for (i = 0; i < NREQ; i++)
		expect += in(&reqs[i], NOW - HOUR, NOW, NULL, NULL, NULL, NULL);
	is_int(jnum(j, "total"), expect, "1h request total");
	ok(jfind(j, "series", "name", "(none)", NULL, NULL) != NULL ||
	    jfind(j, "series", "name", "other", NULL, NULL) != NULL, "no provider shows as (none)");
	cJSON_Delete(j);
	j = run(STATS_DS_TIMESERIES, "period=24h&metric=tokens&group_by=model&top=20");
	is_int(jnum(j, "bucket_ms"), HOUR, "24h has hour buckets");
	is_int(cJSON_GetArraySize(jget(j, "buckets")), 24, "24h has 24 buckets");
	ok(jfind(j, "series", "name", "other", NULL, NULL) == NULL, "nothing folded under top 20");
	cJSON_Delete(j);
	j = run(STATS_DS_TIMESERIES, "period=7d");
	is_int(jnum(j, "bucket_ms"), 6 * HOUR, "7d has 6-hour buckets");
	is_int(cJSON_GetArraySize(jget(j, "buckets")), 28, "7d has 28 buckets");
	cJSON_Delete(j);
}

static void
test_accounts(void)
{
	int64_t n5, cost5, n30, tok30, nper, errs;
	cJSON *j, *a, *w;
	int i;

	j = run(STATS_DS_ACCOUNTS, "period=7d");
	ok(j != NULL, "accounts");
	is_int(cJSON_GetArraySize(jget(j, "accounts")), 5, "every configured account listed");
	is_str(jstr(jfind(j, "accounts", "name", "a1", NULL, NULL), "status"), "ok",
	    "a1 ok (its backoff is over)");
	is_str(jstr(jfind(j, "accounts", "name", "a2", NULL, NULL), "status"), "backoff", "a2 backoff");
	is_int(jnum(jfind(j, "accounts", "name", "a2", NULL, NULL), "backoff_until"), NOW + MIN,
	    "a2 backoff until");
	is_str(jstr(jfind(j, "accounts", "name", "b1", NULL, NULL), "status"), "quarantined",
	    "b1 quarantined");
	is_str(jstr(jfind(j, "accounts", "name", "b2", NULL, NULL), "status"), "disabled",
	    "b2 disabled");
	is_str(jstr(jfind(j, "accounts", "name", "g1", NULL, NULL), "status"), "disabled",
	    "g1 disabled by its provider");
	is_int(jnum(jfind(j, "accounts", "name", "a1", NULL, NULL), "in_flight"), 1,
	    "a1 has one live reservation");
	is_int(jnum(jfind(j, "accounts", "name", "b1", NULL, NULL), "in_flight"), 0,
	    "expired reservations do not count");
	a = jfind(j, "accounts", "name", "a1", NULL, NULL);
	n5 = cost5 = n30 = tok30 = nper = errs = 0;
	for (i = 0; i < NREQ; i++) {
		const struct req *r = &reqs[i];

		if (in(r, NOW - 5 * HOUR, NOW, "a1", NULL, NULL, NULL)) {
			n5++;
			cost5 += r->cost;
		}
		if (in(r, NOW - 30 * DAY, NOW, "a1", NULL, NULL, NULL)) {
			n30++;
			tok30 += r->in + r->out + r->cread + r->cwrite;
		}
		if (in(r, NOW - 7 * DAY, NOW, "a1", NULL, NULL, NULL)) {
			nper++;
			errs += is_error(r);
		}
	}
	is_int(jnum(a, "requests"), nper, "a1 requests in the period");
	is_int(jnum(a, "error_requests"), errs, "a1 errors in the period");
	w = jfind(a, "windows", "window", "5h", NULL, NULL);
	is_int(jnum(w, "requests"), n5, "a1 5h window requests");
	is_int(jnum(w, "requests_limit"), 40, "a1 5h request limit");
	ok(jnum(w, "requests_pct") > n5 * 100.0 / 40 - 0.001 &&
	    jnum(w, "requests_pct") < n5 * 100.0 / 40 + 0.001, "a1 5h request percentage");
	is_int(jnum(w, "spend_microdollars"), cost5, "a1 5h spend");
	ok(cJSON_IsNull(jget(w, "tokens_limit")) && cJSON_IsNull(jget(w, "tokens_pct")),
	    "no token limit: null");
	w = jfind(a, "windows", "window", "30d", NULL, NULL);
	is_int(jnum(w, "tokens"), tok30, "a1 30d tokens");
	is_int(jnum(w, "spend_microdollars"), query_int("SELECT sum(cost_microdollars) FROM "
	    "requests WHERE account_name = 'a1' AND status <> 'pending' AND completed_at >= "
	    "1715774400000 - 30 * 86400000") + 500, "a1 30d spend counts the offset");
	is_str(jstr(a, "last_error_class"), "upstream_429", "a1 last error class");
	cJSON_Delete(j);
	j = run(STATS_DS_ACCOUNTS, "include_disabled=0&provider=alpha");
	is_int(cJSON_GetArraySize(jget(j, "accounts")), 2, "provider filter and no disabled");
	cJSON_Delete(j);
}

static void
test_reliability(void)
{
	int64_t att = 0, okc = 0, rl = 0, retried = 0, rescued = 0, dec = 0, excl_dis = 0;
	cJSON *j;
	int i;

	for (i = 0; i < NREQ; i++) {
		const struct req *r = &reqs[i];

		if (!in(r, NOW - 7 * DAY, NOW, NULL, NULL, NULL, NULL))
			continue;
		att += r->attempts;
		rl += r->attempts - 1;
		okc += strcmp(r->status, "completed") == 0;
		dec += r->attempts;
		excl_dis += r->attempts;
		if (r->attempts > 1) {
			retried++;
			rescued += strcmp(r->status, "completed") == 0;
		}
	}
	j = run(STATS_DS_ATTEMPTS, "period=7d");
	is_int(jnum(j, "total_attempts"), att, "attempts total");
	is_int(jnum(j, "ok_attempts"), okc, "attempts ok");
	is_int(jnum(jfind(j, "by_outcome", "outcome", "rate_limited", NULL, NULL), "attempts"), rl,
	    "attempts rate_limited");
	is_int(jnum(jfind(j, "by_retry_category", "retry_category", "quota_exceeded", NULL, NULL),
	    "attempts"), rl, "attempts by retry category");
	cJSON_Delete(j);
	j = run(STATS_DS_RETRIES, "period=7d");
	is_int(jnum(j, "retried_requests"), retried, "retried requests");
	is_int(jnum(j, "rescued_requests"), rescued, "rescued requests");
	is_int(jnum(j, "failed_after_retry"), retried - rescued, "failed after retry");
	cJSON_Delete(j);
	j = run(STATS_DS_ROUTING, "period=7d");
	is_int(jnum(j, "decisions"), dec, "routing decisions");
	is_int(jnum(jfind(j, "exclusions_by_reason", "reason", "disabled", NULL, NULL), "count"),
	    excl_dis, "exclusions: disabled");
	is_int(jnum(jfind(j, "exclusions_by_reason", "reason", "backoff:rate_limited", NULL, NULL),
	    "count"), rl, "exclusions: backoff with its kind");
	ok(jfind(j, "exclusions_by_reason", "reason", "eligible", NULL, NULL) == NULL,
	    "eligible is not an exclusion");
	cJSON_Delete(j);
}

static void
test_errors_lists(void)
{
	int64_t n = 0, stale = 0, last = 0;
	const char *newest = NULL;
	cJSON *j, *it;
	int i, sorted = 1;
	int64_t prev = INT64_MAX;

	for (i = 0; i < NREQ; i++) {
		const struct req *r = &reqs[i];

		if (!in(r, NOW - DAY, NOW, NULL, NULL, NULL, NULL) ||
		    strcmp(r->status, "completed") == 0)
			continue;
		n++;
		stale += strcmp(r->error_class, "stale") == 0;
		if (r->completed > last) {
			last = r->completed;
			newest = r->uid;
		}
	}
	j = run(STATS_DS_ERRORS, "period=24h&limit=5");
	is_int(jnum(j, "total_failed"), n + 1, "failed requests (with the rejected one)");
	it = jfind(j, "by_class", "error_class", "stale", NULL, NULL);
	ok(it != NULL, "stale class listed");
	n = 0;
	cJSON_ArrayForEach(it, jget(j, "by_class"))
		if (jstr(it, "error_class") != NULL && strcmp(jstr(it, "error_class"), "stale") == 0)
			n += (int64_t)jnum(it, "count");
	is_int(n, stale, "stale count over its statuses");
	is_int(cJSON_GetArraySize(jget(j, "recent")), 5, "recent failures bounded by limit");
	ok(jstr(cJSON_GetArrayItem(jget(j, "recent"), 0), "request_id") != NULL &&
	    (strcmp(jstr(cJSON_GetArrayItem(jget(j, "recent"), 0), "request_id"), newest) == 0 ||
	    strcmp(jstr(cJSON_GetArrayItem(jget(j, "recent"), 0), "request_id"),
	    "00000000-0000-4000-8000-rejected0000") == 0), "newest failure first");
	cJSON_Delete(j);

	j = run(STATS_DS_RECENT_REQUESTS, "limit=7&account=b1");
	is_int(cJSON_GetArraySize(jget(j, "requests")), 7, "recent requests bounded");
	cJSON_ArrayForEach(it, jget(j, "requests")) {
		if (jnum(it, "started_at") > (double)prev || strcmp(jstr(it, "account"), "b1") != 0)
			sorted = 0;
		prev = (int64_t)jnum(it, "started_at");
	}
	ok(sorted, "recent requests newest first and filtered");
	cJSON_Delete(j);
	j = run(STATS_DS_RECENT_REQUESTS, "limit=200&period=1h&status=pending");
	is_int(cJSON_GetArraySize(jget(j, "requests")), 2, "pending requests listed");
	ok(cJSON_IsTrue(jget(j, "complete")), "small search is complete");
	cJSON_Delete(j);
	j = run(STATS_DS_RECENT_REQUESTS, "limit=200&period=30d&account=nobody");
	is_int(cJSON_GetArraySize(jget(j, "requests")), 0, "no request of an unknown account");
	ok(cJSON_IsTrue(jget(j, "complete")), "searched the whole period");
	cJSON_Delete(j);

	j = run(STATS_DS_OPERATIONAL, "period=24h");
	is_int(jnum(jfind(j, "counts", "event_type", "stale_finalized", NULL, NULL), "count"), 1,
	    "events in 24h by type");
	is_int(cJSON_GetArraySize(jget(j, "events")), 3, "events in 24h");
	is_str(jstr(cJSON_GetArrayItem(jget(j, "events"), 0), "event_type"), "process_start",
	    "newest event first");
	is_str(jstr(cJSON_GetArrayItem(jget(j, "events"), 0), "details_text"), "not json",
	    "unparseable details kept as text");
	is_int(jnum(jget(cJSON_GetArrayItem(jget(j, "events"), 1), "details"), "requests"), 1,
	    "details parsed");
	cJSON_Delete(j);

	j = run(STATS_DS_PINGS, "period=24h");
	it = jfind(j, "providers", "provider", "alpha", NULL, NULL);
	is_int(jnum(it, "probes"), 144, "alpha probes");
	is_int(jnum(it, "ok"), 120, "alpha ok probes");
	is_int(jnum(it, "avg_latency_ms"), 120, "alpha average latency");
	is_int(jnum(jget(it, "last"), "probed_at"), NOW - 10 * MIN, "alpha last probe");
	ok(cJSON_IsFalse(jget(jget(it, "last"), "ok")), "alpha last probe failed");
	is_str(jstr(jget(it, "last"), "error"), "timeout", "alpha last probe's error");
	it = jfind(j, "providers", "provider", "beta", NULL, NULL);
	is_int(jnum(it, "probes"), 2, "beta probes in 24h");
	is_int(jnum(it, "avg_latency_ms"), 400, "beta average latency");
	cJSON_Delete(j);

	j = run(STATS_DS_PENDING_HEALTH, "");
	is_int(jnum(j, "pending_requests"), 2, "pending health count");
	is_int(jnum(j, "older_than_1m"), 1, "one pending over a minute");
	is_int(jnum(j, "reservations"), 2, "reservations");
	is_int(jnum(j, "reservations_expired"), 1, "expired reservations");
	is_str(jstr(cJSON_GetArrayItem(jget(j, "oldest"), 0), "request_id"),
	    "00000000-0000-4000-9000-000000000001", "oldest pending first");
	is_str(jstr(cJSON_GetArrayItem(jget(j, "by_process"), 0), "state"), "unknown",
	    "pending without a process");
	cJSON_Delete(j);

	j = run(STATS_DS_BACKOFFS, "");
	is_int(cJSON_GetArraySize(jget(j, "backoffs")), 2, "two running backoffs");
	is_str(jstr(j, "now"), "2024-05-15T12:00:00Z", "now as ISO");
	it = jfind(j, "backoffs", "account_name", "b1", NULL, NULL);
	is_str(jstr(it, "reason"), "auth_failure", "b1 reason");
	is_str(jstr(it, "provider_id"), "beta", "b1 provider");
	is_str(jstr(it, "backoff_until"), "2024-05-15T12:10:00Z", "b1 until as ISO");
	ok(cJSON_IsNull(jget(it, "model_id")), "model_id null (whole account)");
	cJSON_Delete(j);
	j = run(STATS_DS_BACKOFFS, "now=1715774590");
	is_int(cJSON_GetArraySize(jget(j, "backoffs")), 1, "now= gives a snapshot later on");
	cJSON_Delete(j);

	j = run(STATS_DS_BANDWIDTH, "");
	is_int(cJSON_GetArraySize(jget(j, "days")), STATS_CALENDAR_DAYS, "a year of days");
	n = 0;
	for (i = 0; i < NREQ; i++)
		n += reqs[i].bytes_out;
	is_int(jnum(j, "total_bytes_emitted"), n, "bandwidth emitted over the year");
	is_str(jstr(cJSON_GetArrayItem(jget(j, "days"), STATS_CALENDAR_DAYS - 1), "date"),
	    "2024-05-15", "last day is today");
	is_int(jnum(cJSON_GetArrayItem(jget(j, "days"), STATS_CALENDAR_DAYS - 1), "weekday"), 3,
	    "2024-05-15 was a Wednesday");
	cJSON_Delete(j);
	j = run(STATS_DS_BANDWIDTH, "period=7d");
	is_int(cJSON_GetArraySize(jget(j, "days")), 8, "7d touches 8 calendar days");
	cJSON_Delete(j);
}

static void
test_trace(void)
{
	enum qp_err err;
	const struct req *r = NULL;
	cJSON *j, *a;
	int i;

	for (i = 0; i < NREQ && r == NULL; i++)
		if (reqs[i].attempts == 3)
			r = &reqs[i];
	j = stats_recent(sdb, &cfg, r->uid, strlen(r->uid), &err);
	ok(j != NULL, "trace of %s", r->uid);
	is_str(jstr(jget(j, "request"), "request_id"), r->uid, "trace request id");
	is_int(cJSON_GetArraySize(jget(j, "attempts")), 3, "three attempts");
	a = cJSON_GetArrayItem(jget(j, "attempts"), 2);
	is_int(jnum(a, "attempt_number"), 3, "attempts in order");
	is_str(jstr(a, "account"), r->account, "last attempt's account");
	is_str(jstr(jget(a, "decision"), "chosen_account"), r->account, "its decision");
	is_int(cJSON_GetArraySize(jget(jget(jget(a, "decision"), "detail"), "accounts")), 3,
	    "decision detail parsed");
	is_int(cJSON_GetArraySize(jget(j, "decisions_without_attempt")), 0, "no orphan decision");
	cJSON_Delete(j);
	j = stats_recent(sdb, &cfg, "00000000-0000-4000-8000-999999999999", 36, &err);
	ok(j == NULL && err == QP_ENOTFOUND, "unknown id: not found");
	j = stats_recent(sdb, &cfg, "x' OR 1=1 --", 12, &err);
	ok(j == NULL && err == QP_ENOTFOUND, "malformed id: not found");
}

static void
test_prune(void)
{
	int more = 0, calls = 0;
	int64_t fine_before;

	exec("BEGIN IMMEDIATE");
	execf("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, "
	    "account_name, status, requests) VALUES "
	    "(300, %lld, 'p', 'm', 'a', 'completed', 1), "
	    "(300, %lld, 'p', 'm', 'a', 'completed', 1)",
	    (long long)(NOW - 3 * DAY), (long long)(NOW - 3 * DAY + 2 * HOUR));
	exec("COMMIT");
	fine_before = query_int("SELECT count(*) FROM stats_requests WHERE bucket_s = 300 AND "
	    "bucket_start >= 1715774400000 - 2 * 86400000");
	do {
		exec("BEGIN IMMEDIATE");
		if (stats_rollup_prune(sru, NOW, &more) != QP_OK)
			more = -1;
		exec("COMMIT");
		calls++;
	} while (more == 1 && calls < 5000);
	ok(more == 0, "prune finishes");
	ok(calls >= 2, "prune works an hour at a time (%d calls)", calls);
	is_int(query_int("SELECT count(*) FROM stats_requests WHERE bucket_s = 300 AND "
	    "bucket_start < 1715774400000 - 2 * 86400000"), 0, "old 5-minute rows gone");
	is_int(query_int("SELECT count(*) FROM stats_requests WHERE bucket_s = 300"), fine_before,
	    "recent 5-minute rows kept");
	ok(query_int("SELECT count(*) FROM stats_requests WHERE bucket_s = 3600 AND "
	    "bucket_start < 1715774400000 - 2 * 86400000") > 0, "hourly rows kept");
}

/*
 * The routing rollup reads decision details in C where it can, and
 * through SQLite's JSON functions otherwise: either way stats_routing
 * must hold what SQLite's reading gives (the reference below), for
 * details as quotapool writes them and for odd ones.
 */
static void
test_detail_scan(void)
{
	static const char *const details[] = {
		"{\"model\":\"m-detail\",\"pinned\":null,\"protocol\":\"openai\",\"tried\":1,"
		    "\"tier\":2,\"chosen\":\"a1\",\"accounts\":[{\"account\":\"a1\",\"provider\":"
		    "\"alpha\",\"reason\":\"eligible\",\"tier\":2,\"score\":[0.25,1,1715774300000,"
		    "0.25,2.5e-05,0]},{\"account\":\"a2\",\"provider\":\"alpha\",\"reason\":"
		    "\"already_tried\"},{\"account\":\"b1\",\"provider\":\"beta\",\"reason\":"
		    "\"backoff\",\"backoff\":\"rate_limited\",\"until\":1715774460000},"
		    "{\"account\":\"b2\",\"provider\":\"beta\",\"reason\":\"disabled\"}],"
		    "\"truncated\":true}",
		"{}", "[]", "5", "not json", "", "{\"accounts\":5}", "{\"accounts\":null}",
		"{\"accounts\":{\"x\":{\"account\":\"a\",\"reason\":\"r\"}}}",
		" { \"accounts\" : [ { \"account\" : \"a\" , \"reason\" : \"x\" } , 5 , [1,2] ,"
		    " \"s\" , null , true ] } \t\n",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"backoff\"}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"backoff\",\"backoff\":5}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"backoff\",\"backoff\":null}]}",
		"{\"accounts\":[{\"account\":5,\"reason\":\"x\"},{\"account\":1.5e3,\"reason\":7}]}",
		"{\"accounts\":[{\"account\":true,\"reason\":\"x\"},{\"account\":null,\"reason\":\"y\"},"
		    "{\"account\":{\"a\":1},\"reason\":\"z\"}]}",
		"{\"accounts\":[{\"account\":\"a\\\"b\",\"reason\":\"x\\u0041\"}]}",
		"{\"accounts\":[{\"account\":\"\xc3\xa9t\xc3\xa9\",\"reason\":\"x\"}]}",
		"{\"accounts\":[{\"account\":\"a\",\"account\":\"b\",\"reason\":\"x\"}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\"}],\"accounts\":[{\"account\":"
		    "\"b\",\"reason\":\"y\"}]}",
		"{\"acc\\u006funts\":[{\"account\":\"a\",\"reason\":\"x\"}]}",
		"{\"accounts\":[{\"acc\\u006funt\":\"a\",\"reason\":\"x\"}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\"},]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\",\"score\":[01]}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\",\"score\":[-0.5e-3,1E+2,0,-0]}]}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\",\"t\":tru}]}",
		"{\"model\":\"m\\n\\u00e9\\\\\",\"accounts\":[{\"account\":\"a\",\"reason\":\"\"}]}",
		"{\"accounts\":[{\"reason\":\"x\"},{\"account\":\"a\"},{}]}",
		"{\"accounts\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],\"x\":1}",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\"}]} x",
		"{\"accounts\":[{\"account\":\"a\",\"reason\":\"x\",\"c\":\"\x01\"}]}",
		"{\"accounts\":[{\"account\":\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		    "nnnnnnnnnnnnnnnn\",\"reason\":\"rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
		    "rrrrrrrrrrrrrrrrrrrrrrrrrrrr\"},{\"account\":\"x\",\"reason\":\"backoff\","
		    "\"backoff\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"},"
		    "{\"account\":\"y\",\"reason\":\"eligibleeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
		    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"}]}",
	};
	static const char ref[] = "SELECT s, b, model, account, provider, reason, sum(n) FROM ("
	    "SELECT g.s AS s, CASE WHEN g.s = 0 THEN 0 ELSE x.decided_at / (g.s * 1000) * "
	    "(g.s * 1000) END AS b, x.model AS model, x.account AS account, x.provider AS provider, "
	    "x.reason AS reason, 1 AS n FROM (SELECT d.decided_at AS decided_at, d.model AS model, "
	    "substr(coalesce(CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.account') "
	    "END, ''), 1, 128) AS account, substr(coalesce(CASE WHEN j.type = 'object' THEN "
	    "json_extract(j.value, '$.provider') END, ''), 1, 128) AS provider, substr(CASE WHEN "
	    "j.type <> 'object' THEN NULL WHEN json_extract(j.value, '$.reason') = 'backoff' AND "
	    "json_type(j.value, '$.backoff') = 'text' THEN 'backoff:' || json_extract(j.value, "
	    "'$.backoff') ELSE json_extract(j.value, '$.reason') END, 1, 64) AS reason "
	    "FROM routing_decisions AS d, json_each(CASE WHEN json_valid(d.detail_json) THEN "
	    "d.detail_json ELSE '{}' END, '$.accounts') AS j WHERE d.model = 'm-detail') AS x, "
	    "(SELECT 300 AS s UNION ALL SELECT 3600 UNION ALL SELECT 86400 UNION ALL SELECT 0) AS g "
	    "WHERE typeof(x.reason) = 'text' AND x.reason <> 'eligible' UNION ALL "
	    "SELECT g.s, CASE WHEN g.s = 0 THEN 0 ELSE d.decided_at / (g.s * 1000) * (g.s * 1000) "
	    "END, d.model, coalesce(d.chosen_account, ''), CASE WHEN d.chosen_account IS NULL THEN "
	    "'' ELSE coalesce(d.chosen_provider, '') END, CASE WHEN d.chosen_account IS NULL THEN "
	    "'no_account' ELSE 'chosen' END, 1 FROM routing_decisions AS d, (SELECT 300 AS s "
	    "UNION ALL SELECT 3600 UNION ALL SELECT 86400 UNION ALL SELECT 0) AS g "
	    "WHERE d.model = 'm-detail') GROUP BY 1, 2, 3, 4, 5, 6";
	static const char got[] = "SELECT bucket_s, bucket_start, model, account_name, "
	    "provider_id, reason, decisions FROM stats_routing WHERE model = 'm-detail'";
	char sql[4096];
	sqlite3_stmt *st;
	int64_t id, n;
	size_t i;
	int failed = 0;

	exec("BEGIN IMMEDIATE");
	/* Decisions that chose no account count under their model only if a catalog lists it. */
	exec("INSERT INTO model_catalog (provider_id, model_id, source, first_seen_at, "
	    "last_seen_at) VALUES ('alpha', 'm-detail', 'static', 0, 0)");
	for (i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
		execf("INSERT INTO requests (request_uid, protocol, endpoint, model_base, "
		    "provider_id, account_name, status, started_at, completed_at, total_ms) VALUES "
		    "('detail-%zu', 'openai', '/v1/x', 'm-detail', 'alpha', 'a1', 'completed', %lld, "
		    "%lld, 5)", i, (long long)(NOW - DAY + (int64_t)i * 7 * MIN),
		    (long long)(NOW - DAY + (int64_t)i * 7 * MIN + 5));
		id = sqlite3_last_insert_rowid(db);
		if (sqlite3_prepare_v2(db, "INSERT INTO routing_decisions (request_id, "
		    "attempt_number, model, chosen_account, chosen_provider, tier, candidates, "
		    "eligible, detail_json, decided_at) VALUES (?1, 1, 'm-detail', ?2, 'alpha', 2, 4, "
		    "1, ?3, ?4)", -1, &st, NULL) != SQLITE_OK) {
			printf("Bail out! %s\n", sqlite3_errmsg(db));
			exit(1);
		}
		sqlite3_bind_int64(st, 1, id);
		if (i % 3 != 2)
			sqlite3_bind_text(st, 2, "a1", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, details[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, NOW - DAY + (int64_t)i * 7 * MIN);
		if (sqlite3_step(st) != SQLITE_DONE)
			failed++;
		sqlite3_finalize(st);
		if (stats_rollup_request(sru, id) != QP_OK) {
			printf("# rollup of detail %zu failed: %s\n", i, details[i]);
			failed++;
		}
	}
	exec("COMMIT");
	is_int(failed, 0, "requests with odd decision details are rolled up");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", ref, got);
	is_int(query_int(sql), 0, "no row SQLite's reading gives is missing from stats_routing");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", got, ref);
	is_int(query_int(sql), 0, "stats_routing holds no row SQLite's reading does not give");
	n = query_int("SELECT count(*) FROM stats_routing WHERE model = 'm-detail' AND "
	    "bucket_s = 0");
	ok(n >= 15, "the details gave rows to compare (%lld)", (long long)n);
	is_int(query_int("SELECT decisions FROM stats_routing WHERE model = 'm-detail' AND "
	    "bucket_s = 0 AND reason = 'backoff:rate_limited'"), 1,
	    "a backoff exclusion keeps its kind");
}

/*
 * Inserts a finalized request for model_base (provider and account NULL =
 * none reached) with one decision (account NULL = none chosen) whose
 * detail is detail, and rolls it up.
 */
static void
unknown_request(int n, const char *model, const char *provider, const char *account,
    const char *status, const char *detail)
{
	sqlite3_stmt *st;
	int64_t id, t = NOW - 2 * HOUR + n * MIN;

	if (sqlite3_prepare_v2(db, "INSERT INTO requests (request_uid, protocol, endpoint, "
	    "model, model_base, provider_id, account_name, status, started_at, completed_at, "
	    "total_ms) VALUES ('unknown-' || ?1, 'openai', '/v1/x', ?2, ?2, ?3, ?4, ?5, ?6, "
	    "?6 + 5, 5)", -1, &st, NULL) != SQLITE_OK) {
		printf("Bail out! %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_bind_int(st, 1, n);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, t);
	if (sqlite3_step(st) != SQLITE_DONE) {
		printf("Bail out! %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_finalize(st);
	id = sqlite3_last_insert_rowid(db);
	if (sqlite3_prepare_v2(db, "INSERT INTO routing_decisions (request_id, attempt_number, "
	    "model, chosen_account, chosen_provider, tier, candidates, eligible, detail_json, "
	    "decided_at) VALUES (?1, 1, ?2, ?3, ?4, NULL, 2, 0, ?5, ?6)", -1, &st,
	    NULL) != SQLITE_OK) {
		printf("Bail out! %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, t);
	if (sqlite3_step(st) != SQLITE_DONE) {
		printf("Bail out! %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_finalize(st);
	is_int(stats_rollup_request(sru, id), QP_OK, "request for %s rolled up", model);
}

/* Rows, "label:status:requests" joined by spaces, of a query over one rollup table. */
static const char *
labels(char *buf, size_t len, const char *sql)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int m;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, sqlite3_errmsg(db));
		exit(1);
	}
	while (sqlite3_step(st) == SQLITE_ROW && n < len) {
		m = snprintf(buf + n, len - n, "%s%s:%s:%lld", n ? " " : "",
		    (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
		    (long long)sqlite3_column_int64(st, 2));
		if (m < 0)
			break;
		n += (size_t)m;
	}
	sqlite3_finalize(st);
	return buf;
}

/*
 * Models no configured provider serves are counted under one label: a
 * request or decision that reached no provider keeps its model only when a
 * catalog lists it; one that reached a provider keeps it always.
 */
static void
test_unknown_models(void)
{
	static const char no_model[] = "{\"model\":\"x\",\"accounts\":[{\"account\":\"a1\","
	    "\"provider\":\"alpha\",\"reason\":\"no_model\"}]}";
	/* An escape the scanner leaves to SQLite's JSON functions: "a\u0032" is "a2". */
	static const char escaped[] = "{\"accounts\":[{\"account\":\"a\\u0032\","
	    "\"provider\":\"alpha\",\"reason\":\"no_model\"}]}";
	char buf[1024];

	exec("BEGIN IMMEDIATE");
	exec("INSERT INTO model_catalog (provider_id, model_id, source, first_seen_at, "
	    "last_seen_at) VALUES ('beta', 'zz-listed', 'upstream', 0, 0)");
	unknown_request(1, "zz-made-up-1", NULL, NULL, "rejected", no_model);
	unknown_request(2, "zz-made-up-2", NULL, NULL, "rejected", escaped);
	unknown_request(3, "zz-made-up-1", NULL, NULL, "rejected", "{}");
	unknown_request(4, "zz-listed", NULL, NULL, "rejected", no_model);
	unknown_request(5, "zz-uncataloged", "alpha", "a1", "completed", "{}");
	unknown_request(6, STATS_UNKNOWN_MODEL, NULL, NULL, "rejected", "{}");
	exec("COMMIT");
	is_str(labels(buf, sizeof(buf), "SELECT model, status, sum(requests) FROM "
	    "stats_requests WHERE bucket_s = 0 AND (model IN ('" STATS_UNKNOWN_MODEL "', "
	    "'zz-listed', 'zz-uncataloged') OR model LIKE 'zz-made-up%') GROUP BY model, status "
	    "ORDER BY model, status"), STATS_UNKNOWN_MODEL ":rejected:4 zz-listed:rejected:1 "
	    "zz-uncataloged:completed:1", "requests: unknown models under one label, listed and "
	    "served ones under their own");
	is_str(labels(buf, sizeof(buf), "SELECT model, status, sum(requests) FROM "
	    "stats_errors WHERE bucket_s = 3600 AND (model = '" STATS_UNKNOWN_MODEL "' OR "
	    "model LIKE 'zz-%') GROUP BY model, status ORDER BY model"),
	    STATS_UNKNOWN_MODEL ":rejected:4 zz-listed:rejected:1", "errors: the same labels");
	is_str(labels(buf, sizeof(buf), "SELECT model, reason || '/' || account_name, "
	    "sum(decisions) FROM stats_routing WHERE bucket_s = 86400 AND (model = '"
	    STATS_UNKNOWN_MODEL "' OR model LIKE 'zz-%') GROUP BY model, reason, account_name "
	    "ORDER BY model, reason, account_name"), STATS_UNKNOWN_MODEL ":no_account/:4 "
	    STATS_UNKNOWN_MODEL ":no_model/a1:1 " STATS_UNKNOWN_MODEL ":no_model/a2:1 "
	    "zz-listed:no_account/:1 zz-listed:no_model/a1:1 zz-uncataloged:chosen/a1:1",
	    "routing: the decisions' exclusions (scanned or read by SQLite) under the same labels");
	is_int(query_int("SELECT count(*) FROM stats_latency WHERE model = 'zz-uncataloged' AND "
	    "bucket_s = 0 AND metric = 'total'"), 1, "latency: a served model keeps its label");
	is_int(query_int("SELECT count(*) FROM requests WHERE model_base = 'zz-made-up-1'"), 2,
	    "the request rows keep their own ids");
}

/* With QP_STATS_DUMP=DIR, writes each dataset's answer there (docs/api.md's examples). */
static void
dump(const char *dir)
{
	static const char *const qs[STATS_DS__MAX] = {
		[STATS_DS_TIMESERIES] = "period=24h&group_by=provider&metric=requests&top=2",
		[STATS_DS_BANDWIDTH] = "period=7d",
		[STATS_DS_RECENT_REQUESTS] = "limit=2",
		[STATS_DS_ERRORS] = "limit=1",
		[STATS_DS_OPERATIONAL] = "limit=2",
		[STATS_DS_PINGS] = "period=1h",
	};
	char path[1024], *text;
	enum qp_err err;
	FILE *fp;
	cJSON *j;
	int d;

	for (d = 0; d <= STATS_DS__MAX; d++) {
		if (d == STATS_DS__MAX) {
			j = stats_recent(sdb, &cfg, reqs[7].uid, strlen(reqs[7].uid), &err);
			snprintf(path, sizeof(path), "%s/recent.json", dir);
		} else {
			j = run((enum stats_dataset)d, qs[d] != NULL ? qs[d] : "");
			snprintf(path, sizeof(path), "%s/%s.json", dir,
			    stats_dataset_name((enum stats_dataset)d));
		}
		text = j != NULL ? cJSON_Print(j) : NULL;
		if (text == NULL) {
			cJSON_Delete(j);
			continue;
		}
		fp = fopen(path, "w");
		if (fp != NULL) {
			fputs(text, fp);
			fclose(fp);
		}
		free(text);
		cJSON_Delete(j);
	}
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	char dir[512], dbpath[600], errbuf[512];
	enum qp_err err;
	int n;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	sdb = stats_db_new(db, &err, errbuf, sizeof(errbuf));
	ok(sdb != NULL, "read statements prepare on the shipped schema (%s)", sdb ? "" : errbuf);
	sru = stats_rollup_new(db, &err, errbuf, sizeof(errbuf));
	ok(sru != NULL, "rollup statements prepare (%s)", sru ? "" : errbuf);
	if (sdb == NULL || sru == NULL)
		return 1;
	setup_config();
	generate();

	if (getenv("QP_STATS_DUMP") != NULL)
		dump(getenv("QP_STATS_DUMP"));
	test_query();
	test_bins();
	test_rollup_consistency();
	test_summary();
	test_boundaries();
	test_models_latency();
	test_timeseries();
	test_accounts();
	test_reliability();
	test_errors_lists();
	test_trace();
	test_prune();
	test_detail_scan();
	test_unknown_models();

	stats_db_free(sdb);
	stats_rollup_free(sru);
	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	return tap_done();
}
