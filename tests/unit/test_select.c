/* test_select.c: accounts are chosen by tier, quota pressure, load and recency; every exclusion is explained. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../tap.h"
#include "config.h"
#include "db.h"
#include "migrate.h"
#include "select.h"

static char tmpdir[] = "/tmp/qp-test-select-XXXXXX";

#define NOW	1700000000000LL	/* 2023-11-14 22:13:20 UTC */
#define HOUR	3600000LL

static sqlite3 *db;
static int bad_json;	/* decisions whose detail_json did not parse */

/* The test configuration, built by hand. */
static char *m1[] = { "m1" };
static char *m3[] = { "m3" };
static char *m6[] = { "m6" };
static struct config_account alpha_acc[3], beta_acc[2], gamma_acc[1], delta_acc[1], eps_acc[1],
    zeta_acc[1];
static struct config_provider prov[6];
static struct config_model_override ovr[1];
static struct config cfg;

static void
account(struct config_account *a, char *name, int enabled)
{

	memset(a, 0, sizeof(*a));
	a->name = name;
	a->api_key = "secret";
	a->weight = 1.0;
	a->enabled = enabled;
}

static void
provider(struct config_provider *p, char *id, unsigned protos, int prio, int enabled,
    char **models, int nmodels, struct config_account *acc, int nacc)
{

	memset(p, 0, sizeof(*p));
	p->id = id;
	p->base_url = "http://127.0.0.1:1";
	p->protocols = protos;
	p->routing_priority = prio;
	p->enabled = enabled;
	p->models = models;
	p->nmodels = nmodels;
	p->accounts = acc;
	p->naccounts = nacc;
}

static void
build_config(void)
{

	account(&alpha_acc[0], "a1", 1);
	account(&alpha_acc[1], "a2", 1);
	account(&alpha_acc[2], "a3", 0);
	account(&beta_acc[0], "b1", 1);
	account(&beta_acc[1], "b2", 1);
	account(&gamma_acc[0], "g1", 1);
	account(&delta_acc[0], "d1", 1);
	account(&eps_acc[0], "e1", 1);
	eps_acc[0].api_key = NULL;
	eps_acc[0].api_key_env = "QP_TEST_UNSET_KEY";
	account(&zeta_acc[0], "z1", 0);
	provider(&prov[0], "alpha", CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC, 10, 1, m1, 1,
	    alpha_acc, 3);
	provider(&prov[1], "beta", CONFIG_PROTO_OPENAI, 5, 1, NULL, 0, beta_acc, 2);
	provider(&prov[2], "gamma", CONFIG_PROTO_OPENAI, 20, 0, m1, 1, gamma_acc, 1);
	provider(&prov[3], "delta", CONFIG_PROTO_ANTHROPIC, 5, 1, m3, 1, delta_acc, 1);
	provider(&prov[4], "eps", CONFIG_PROTO_OPENAI, 1, 1, m1, 1, eps_acc, 1);
	provider(&prov[5], "zeta", CONFIG_PROTO_OPENAI, 1, 1, m6, 1, zeta_acc, 1);
	memset(ovr, 0, sizeof(ovr));
	ovr[0].model = "m5";
	ovr[0].protocol = CONFIG_PROTO_ANTHROPIC;
	memset(&cfg, 0, sizeof(cfg));
	cfg.providers = prov;
	cfg.nproviders = 6;
	cfg.overrides = ovr;
	cfg.noverrides = 1;
}

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static void	execf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
execf(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	exec(sql);
}

static void
reset_state(void)
{

	exec("DELETE FROM reservations; DELETE FROM request_attempts; DELETE FROM requests; "
	    "DELETE FROM account_backoffs; DELETE FROM stats_requests");
}

/* Adds a request row with one attempt of account started at t. */
static void
add_attempt(const char *acct, int64_t t)
{
	static int n;

	n++;
	execf("INSERT INTO requests (request_uid, protocol, endpoint, status, started_at) "
	    "VALUES ('u%d', 'openai', '/v1/chat/completions', 'completed', %lld)", n, (long long)t);
	execf("INSERT INTO request_attempts (request_id, attempt_number, provider_id, account_name, "
	    "model, started_at) VALUES (last_insert_rowid(), 1, 'alpha', '%s', 'm1', %lld)", acct,
	    (long long)t);
}

/* Adds a live (or expired) reservation of account. */
static void
add_reservation(const char *acct, int64_t expires, int64_t tokens)
{
	static int n;

	n++;
	execf("INSERT INTO requests (request_uid, protocol, endpoint, status, started_at) "
	    "VALUES ('r%d', 'openai', '/v1/chat/completions', 'pending', %lld)", n,
	    (long long)NOW);
	execf("INSERT INTO reservations (request_id, account_name, estimated_tokens, created_at, "
	    "expires_at) VALUES (last_insert_rowid(), '%s', %lld, %lld, %lld)", acct,
	    (long long)tokens, (long long)NOW, (long long)expires);
}

/*
 * Adds usage of account finalized at t to the stats_requests rollup, at
 * every granularity as the rollup writes it (selection must read only
 * the hourly rows), with the tokens spread over the four kinds counted
 * and reasoning tokens besides (part of output, not counted again).
 */
static void
add_usage(const char *acct, int64_t t, int64_t requests, int64_t tokens, int64_t cost)
{
	static const int64_t gran[] = { 300, 3600, 86400, 0 };
	size_t i;

	for (i = 0; i < sizeof(gran) / sizeof(gran[0]); i++)
		execf("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, "
		    "account_name, status, requests, input_tokens, output_tokens, "
		    "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_microdollars) "
		    "VALUES (%lld, %lld, 'alpha', 'm1', '%s', 'completed', %lld, %lld, %lld, %lld, "
		    "%lld, %lld, %lld) ON CONFLICT (bucket_s, bucket_start, provider_id, model, "
		    "account_name, status) DO UPDATE SET requests = requests + excluded.requests, "
		    "input_tokens = input_tokens + excluded.input_tokens, "
		    "output_tokens = output_tokens + excluded.output_tokens, "
		    "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
		    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
		    "reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, "
		    "cost_microdollars = cost_microdollars + excluded.cost_microdollars",
		    (long long)gran[i], (long long)(gran[i] ? t / (gran[i] * 1000) * gran[i] * 1000 : 0),
		    acct, (long long)requests, (long long)(tokens / 4), (long long)(tokens / 4),
		    (long long)(tokens / 4), (long long)(tokens - 3 * (tokens / 4)),
		    (long long)(tokens / 8), (long long)cost);
}

static void
add_backoff(const char *acct, const char *reason, int64_t until)
{

	execf("INSERT INTO account_backoffs (account_name, reason, backoff_until, "
	    "consecutive_failures, updated_at) VALUES ('%s', '%s', %lld, 1, %lld)", acct, reason,
	    (long long)until, (long long)NOW);
}

/* A backoff of acct for model only. */
static void
add_model_backoff(const char *acct, const char *model, const char *reason, int64_t until)
{

	execf("INSERT INTO account_backoffs (account_name, model_id, scope, reason, "
	    "backoff_until, consecutive_failures, updated_at) VALUES ('%s', '%s', 'model', "
	    "'%s', %lld, 1, %lld)", acct, model, reason, (long long)until, (long long)NOW);
}

static struct select_db *
selector(void)
{
	struct select_db *s;
	char errbuf[256];
	enum qp_err err;

	s = select_new(db, &cfg, &err, errbuf, sizeof(errbuf));
	if (s == NULL) {
		printf("Bail out! select_new: %s\n", errbuf);
		exit(1);
	}
	return s;
}

/*
 * Chooses for model over protocol, or the protocols via reaches by
 * translation, with the tried accounts; returns the account name or the
 * status.
 */
static const char *
choose_via(struct select_db *s, const char *model, const char *pinned, unsigned proto,
    unsigned via, const char *const *tried, int ntried, struct select_result *res)
{
	struct select_query q;
	enum qp_err err;
	cJSON *json;

	memset(&q, 0, sizeof(q));
	q.via = via;
	q.model = model;
	q.provider = pinned;
	q.protocol = proto;
	q.tried = tried;
	q.ntried = ntried;
	q.now = NOW;
	err = select_choose(s, &q, res);
	if (err != QP_OK)
		return "db-error";
	json = cJSON_Parse(res->detail_json);
	if (json == NULL || strlen(res->detail_json) != res->detail_len) {
		bad_json++;
		printf("# invalid detail_json: %s\n", res->detail_json);
	}
	cJSON_Delete(json);
	if (res->status != SELECT_OK)
		return select_status_name(res->status);
	return res->account->name;
}

/* Chooses for model over protocol alone (no translation). */
static const char *
choose(struct select_db *s, const char *model, const char *pinned, unsigned proto,
    const char *const *tried, int ntried, struct select_result *res)
{

	return choose_via(s, model, pinned, proto, 0, tried, ntried, res);
}

/* Returns 1 if the detail lists account with reason. */
static int
has_reason(const struct select_result *res, const char *acct, const char *reason)
{
	const char *p, *end;
	char want[128];

	snprintf(want, sizeof(want), "{\"account\":\"%s\",", acct);
	if ((p = strstr(res->detail_json, want)) == NULL)
		return 0;
	end = strchr(p, '}');
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	p = strstr(p, want);
	return p != NULL && p < end;
}

static void
test_tiers_and_exclusions(void)
{
	struct select_db *s = selector();
	struct select_result res;
	const char *t1[] = { "a1" }, *t2[] = { "a1", "a2" }, *t4[] = { "a1", "a2", "b1", "b2" };

	reset_state();
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "highest tier, config order on a tie");
	is_int(res.tier, 10, "tier of alpha");
	is_int(res.candidates, 9, "every account is a candidate");
	is_int(res.eligible, 4, "a1 a2 b1 b2 are eligible");
	ok(has_reason(&res, "a3", "disabled"), "a3 disabled: %s", res.detail_json);
	ok(has_reason(&res, "g1", "provider_disabled"), "g1 provider_disabled");
	ok(has_reason(&res, "d1", "no_model"), "d1 no_model");
	ok(has_reason(&res, "e1", "no_credentials"), "e1 no_credentials");
	ok(has_reason(&res, "z1", "disabled"), "z1 disabled");
	ok(has_reason(&res, "b1", "eligible"), "b1 eligible");
	ok(strstr(res.detail_json, "\"chosen\":\"a1\"") != NULL, "the choice is named");
	ok(strstr(res.detail_json, "{\"account\":\"a1\",\"provider\":\"alpha\",\"reason\":"
	    "\"eligible\",\"tier\":10,\"score\":[0,0,0]}") != NULL,
	    "the chosen tier is scored: %s", res.detail_json);
	ok(strstr(res.detail_json, "{\"account\":\"b1\",\"provider\":\"beta\",\"reason\":"
	    "\"eligible\",\"tier\":5}") != NULL, "lower tiers listed with their tier");
	is_int(res.detail_len, strlen(res.detail_json), "detail_len");

	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, t1, 1, &res), "a2", "a1 tried: a2");
	ok(has_reason(&res, "a1", "already_tried"), "a1 already_tried");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, t2, 2, &res), "b1",
	    "alpha exhausted: the next tier");
	is_int(res.tier, 5, "tier of beta");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, t4, 4, &res), "exhausted",
	    "every serving account tried");
	is_int(select_status_http(res.status), 502, "exhausted maps to 502");

	/* Pinned provider. */
	is_str(choose(s, "m1", "beta", CONFIG_PROTO_OPENAI, NULL, 0, &res), "b1", "pinned to beta");
	is_int(res.candidates, 2, "only beta's accounts are candidates");
	ok(strstr(res.detail_json, "\"a1\"") == NULL, "other providers are not listed");
	is_str(choose(s, "m1", "gamma", CONFIG_PROTO_OPENAI, NULL, 0, &res), "no_model",
	    "pinned to a disabled provider");
	is_str(choose(s, "m1", "nosuch", CONFIG_PROTO_OPENAI, NULL, 0, &res), "no_model",
	    "pinned to an unknown provider");
	is_int(res.candidates, 0, "no candidates");
	is_int(select_status_http(res.status), 404, "no model maps to 404");

	/* Unknown model, protocol mismatch, all disabled. */
	is_str(choose(s, "nosuch", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "no_model",
	    "unknown model");
	is_str(choose(s, "m3", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "wrong_protocol",
	    "anthropic-only model over openai");
	ok(has_reason(&res, "d1", "wrong_protocol"), "d1 wrong_protocol");
	is_int(select_status_http(res.status), 400, "wrong protocol maps to 400");
	is_str(choose(s, "m3", NULL, CONFIG_PROTO_ANTHROPIC, NULL, 0, &res), "d1",
	    "the same model over anthropic");
	is_str(choose(s, "m6", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "disabled",
	    "only a disabled account serves it");
	is_int(select_status_http(res.status), 503, "disabled maps to 503");
	is_str(choose(s, "", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "no_model", "empty model");
	select_free(s);
}

/* The operator's disables (account_overrides) hold at the next choice, with their reason. */
static void
test_operator_disabled(void)
{
	struct select_db *s = selector();
	struct select_result res;

	reset_state();
	execf("INSERT INTO account_overrides (account_name, updated_at) VALUES ('a1', %lld)",
	    (long long)(NOW - 5000));
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "a1 disabled by the operator: a2");
	ok(has_reason(&res, "a1", "operator_disabled"), "a1 operator_disabled: %s",
	    res.detail_json);
	ok(strstr(res.detail_json, "\"reason\":\"operator_disabled\",\"since\":1699999995000}")
	    != NULL, "with the time it was disabled: %s", res.detail_json);
	is_int(res.eligible, 3, "a2 b1 b2 are eligible");
	ok(has_reason(&res, "a3", "disabled"), "a3 is still disabled by the configuration");
	execf("INSERT INTO account_overrides (account_name, updated_at) VALUES ('a2', %lld), "
	    "('b1', %lld), ('b2', %lld)", (long long)NOW, (long long)NOW, (long long)NOW);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "disabled",
	    "every account disabled by the operator: disabled");
	is_int(select_status_http(res.status), 503, "which maps to 503");
	exec("DELETE FROM account_overrides WHERE account_name <> 'a1'");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "enabled again at the next choice, same selector");
	exec("DELETE FROM account_overrides");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1", "a1 back");
	select_free(s);
}

static void
test_catalog(void)
{
	struct select_db *s = selector();
	struct select_result res;
	unsigned protos = 99;

	reset_state();
	exec("INSERT INTO model_catalog (provider_id, model_id, protocol, source, first_seen_at, "
	    "last_seen_at) VALUES ('alpha', 'm4', 'anthropic', 'upstream', 1, 1), "
	    "('alpha', 'm5', NULL, 'upstream', 1, 1), "
	    "('beta', 'm7', 'openai', 'upstream', 1, 1), "
	    "('gamma', 'm8', NULL, 'upstream', 1, 1)");
	is_str(choose(s, "m4", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "wrong_protocol",
	    "catalog says anthropic: not over openai");
	ok(has_reason(&res, "a1", "wrong_protocol"), "a1 wrong_protocol");
	ok(has_reason(&res, "b1", "no_model"), "b1 no_model");
	is_str(choose(s, "m4", NULL, CONFIG_PROTO_ANTHROPIC, NULL, 0, &res), "a1",
	    "catalog model over its protocol");
	is_str(choose(s, "m5", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "wrong_protocol",
	    "the override's protocol applies when the catalog does not say");
	is_str(choose(s, "m5", NULL, CONFIG_PROTO_ANTHROPIC, NULL, 0, &res), "a1",
	    "override protocol served");
	is_str(choose(s, "m7", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "b1",
	    "model only in the catalog");
	is_str(choose(s, "m8", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "no_model",
	    "catalog row of a disabled provider");

	is_int(select_model_protocols(s, "m1", NULL, &protos), QP_OK, "model_protocols");
	is_int(protos, CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC, "m1 over both");
	select_model_protocols(s, "m1", "beta", &protos);
	is_int(protos, CONFIG_PROTO_OPENAI, "m1 at beta over openai");
	select_model_protocols(s, "m3", NULL, &protos);
	is_int(protos, CONFIG_PROTO_ANTHROPIC, "m3 over anthropic");
	select_model_protocols(s, "m4", "alpha", &protos);
	is_int(protos, CONFIG_PROTO_ANTHROPIC, "m4 at alpha over anthropic");
	select_model_protocols(s, "m1", "gamma", &protos);
	is_int(protos, 0, "disabled provider serves nothing");
	select_model_protocols(s, "m8", NULL, &protos);
	is_int(protos, 0, "only a disabled provider lists m8");
	select_model_protocols(s, "nosuch", NULL, &protos);
	is_int(protos, 0, "unknown model");
	select_model_protocols(s, "m1", "nosuch", &protos);
	is_int(protos, 0, "unknown provider");
	exec("DELETE FROM model_catalog WHERE provider_id <> 'beta' OR model_id <> 'm1'");
	select_free(s);
}

static void
test_backoffs(void)
{
	struct select_db *s = selector();
	struct select_result res;
	const char *t[] = { "b2" };

	reset_state();
	add_backoff("a1", "rate_limited", NOW + 30000);
	add_backoff("a2", "auth_failure", NOW + 60000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "b1",
	    "alpha in backoff and quarantine: beta");
	ok(has_reason(&res, "a1", "backoff"), "a1 backoff");
	ok(strstr(res.detail_json, "\"reason\":\"backoff\",\"backoff\":\"rate_limited\","
	    "\"scope\":\"account\",\"until\":1700000030000}") != NULL,
	    "backoff reason and end recorded: %s", res.detail_json);
	ok(has_reason(&res, "a2", "auth_quarantine"), "a2 auth_quarantine");

	add_backoff("b1", "circuit_open", NOW + 20000);
	add_backoff("b2", "quota_exceeded", NOW + 90000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "backoff",
	    "everything in backoff");
	is_int(res.retry_at, NOW + 20000, "retry at the earliest end");
	is_int(select_status_http(res.status), 429, "backoff maps to 429");
	is_int(res.eligible, 0, "none eligible");

	exec("UPDATE account_backoffs SET reason = 'auth_failure'");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "auth_quarantine",
	    "everything quarantined");
	is_int(res.retry_at, NOW + 20000, "quarantine end reported");
	is_int(select_status_http(res.status), 503, "auth maps to 503");

	exec("UPDATE account_backoffs SET backoff_until = 1699999999000 WHERE account_name = 'b2'");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "b2",
	    "an expired backoff is ignored");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, t, 1, &res), "auth_quarantine",
	    "tried and quarantined: auth reported");
	{
		const char *all[] = { "a1", "a2", "b1", "b2" };

		is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, all, 4, &res), "exhausted",
		    "all tried: exhausted");
		is_int(res.retry_at, NOW + 20000,
		    "exhausted still tells when the first backoff ends (tried ones included)");
	}
	exec("UPDATE account_backoffs SET backoff_until = 1700000000000 WHERE account_name = 'a1'");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "a backoff ending now is over");
	select_free(s);
}

/* A backoff of one model leaves the account to the others; the decision names the scope. */
static void
test_backoff_scope(void)
{
	struct select_db *s = selector();
	struct select_result res;

	reset_state();
	exec("INSERT INTO model_catalog (provider_id, model_id, protocol, source, first_seen_at, "
	    "last_seen_at) VALUES ('alpha', 'm9', NULL, 'upstream', 1, 1)");
	add_model_backoff("a1", "m1", "transient", NOW + 30000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "a1 backing off for m1: m1 goes to a2");
	ok(has_reason(&res, "a1", "backoff"), "a1 excluded for m1: %s", res.detail_json);
	ok(strstr(res.detail_json, "{\"account\":\"a1\",\"provider\":\"alpha\",\"reason\":"
	    "\"backoff\",\"backoff\":\"transient\",\"scope\":\"model\",\"until\":"
	    "1700000030000}") != NULL, "the decision names reason, scope and end: %s",
	    res.detail_json);
	is_str(choose(s, "m9", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "a1 still serves m9");
	ok(has_reason(&res, "a1", "eligible"), "a1 eligible for m9: %s", res.detail_json);
	is_int(res.eligible, 2, "a1 and a2 eligible for m9");

	/* Account-wide and model backoffs together. */
	add_backoff("a2", "rate_limited", NOW + 20000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "b1",
	    "a1 out for m1, a2 out entirely: beta");
	ok(strstr(res.detail_json, "\"backoff\":\"rate_limited\",\"scope\":\"account\"") !=
	    NULL, "a2's exclusion is account-wide: %s", res.detail_json);
	is_str(choose(s, "m9", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "m9: a1 (a2 rate limited)");
	ok(has_reason(&res, "a2", "backoff"), "a2 excluded for m9 too");

	/* The later end decides; an auth quarantine always does. */
	add_backoff("a1", "transient", NOW + 10000);
	choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res);
	ok(strstr(res.detail_json, "\"backoff\":\"transient\",\"scope\":\"model\","
	    "\"until\":1700000030000") != NULL, "the later of two backoffs is named: %s",
	    res.detail_json);
	is_str(choose(s, "m9", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "backoff",
	    "a1's own backoff counts for m9 (only alpha serves it)");
	ok(strstr(res.detail_json, "\"backoff\":\"transient\",\"scope\":\"account\","
	    "\"until\":1700000010000") != NULL, "named account-wide: %s", res.detail_json);
	exec("UPDATE account_backoffs SET reason = 'auth_failure' WHERE account_name = 'a1' "
	    "AND model_id = ''");
	choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res);
	ok(has_reason(&res, "a1", "auth_quarantine"), "a quarantine wins over a model backoff: %s",
	    res.detail_json);

	/* Only the model's pair: everyone backing off for m1 is a 429, m9 still served. */
	reset_state();
	add_model_backoff("a1", "m1", "model_unavailable", NOW + 40000);
	add_model_backoff("a2", "m1", "transient", NOW + 30000);
	add_model_backoff("b1", "m1", "circuit_open", NOW + 50000);
	add_model_backoff("b2", "m1", "transient", NOW + 35000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "backoff",
	    "every account backing off for m1");
	is_int(res.retry_at, NOW + 30000, "retry at the earliest end");
	is_str(choose(s, "m9", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "m9 is served all the same");
	exec("UPDATE account_backoffs SET backoff_until = 1699999999000 WHERE account_name = 'a1'");
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "an expired model backoff is ignored");
	exec("DELETE FROM model_catalog WHERE model_id = 'm9'");
	select_free(s);
}

static void
test_order(void)
{
	struct select_db *s = selector();
	struct select_result res;

	/* Least recently used. */
	reset_state();
	add_attempt("a1", NOW - 1000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "never used beats used");
	add_attempt("a2", NOW - 500);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "least recently used");
	is_int(res.last_used, NOW - 1000, "last use reported");

	/* Fewest in flight beats recency. */
	add_reservation("a1", NOW + 60000, 0);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "fewest in flight");
	is_int(res.inflight, 0, "a2 has none in flight");
	add_reservation("a2", NOW + 60000, 0);
	add_reservation("a2", NOW - 1, 0);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "expired reservations are ignored: tie, then recency");
	is_int(res.inflight, 1, "one live reservation");
	add_reservation("a1", NOW + 60000, 0);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "two in flight lose to one");
	select_free(s);
}

/* Providers of another protocol are reached by translation; in a tier the native ones first. */
static void
test_translation(void)
{
	struct select_db *s = selector();
	struct select_result res;
	const char *td[] = { "d1" };

	reset_state();
	exec("INSERT INTO model_catalog (provider_id, model_id, protocol, source, first_seen_at, "
	    "last_seen_at) VALUES ('beta', 'm20', 'openai', 'upstream', 1, 1), "
	    "('delta', 'm20', 'anthropic', 'upstream', 1, 1), "
	    "('alpha', 'm21', 'anthropic', 'upstream', 1, 1), "
	    "('beta', 'm21', 'openai', 'upstream', 1, 1)");
	is_str(choose_via(s, "m3", NULL, CONFIG_PROTO_OPENAI, CONFIG_PROTO_ANTHROPIC, NULL, 0,
	    &res), "d1", "an anthropic-only model reached from openai by translation");
	is_int(res.served, CONFIG_PROTO_ANTHROPIC, "served over anthropic");
	ok(strstr(res.detail_json, "{\"account\":\"d1\",\"provider\":\"delta\",\"reason\":"
	    "\"eligible\",\"tier\":5,\"translated\":true,") != NULL,
	    "the detail says it is translated: %s", res.detail_json);
	is_str(choose_via(s, "m3", NULL, CONFIG_PROTO_OPENAI, CONFIG_PROTO_RESPONSES, NULL, 0,
	    &res), "wrong_protocol", "not reached when via does not name its protocol");

	/* beta (openai) and delta (anthropic) in one tier, beta first in the file. */
	is_str(choose(s, "m20", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "b1",
	    "config order on a tie");
	is_str(choose_via(s, "m20", NULL, CONFIG_PROTO_ANTHROPIC, CONFIG_PROTO_OPENAI, NULL, 0,
	    &res), "d1", "the native provider before a translated one of the same tier");
	ok(has_reason(&res, "b1", "eligible") && strstr(res.detail_json, "\"chosen\":\"d1\""),
	    "the translated one stays eligible");
	add_reservation("d1", NOW + 60000, 0);
	add_reservation("d1", NOW + 60000, 0);
	is_str(choose_via(s, "m20", NULL, CONFIG_PROTO_ANTHROPIC, CONFIG_PROTO_OPENAI, NULL, 0,
	    &res), "d1", "native wins over load inside the tier");
	is_str(choose_via(s, "m20", NULL, CONFIG_PROTO_ANTHROPIC, CONFIG_PROTO_OPENAI, td, 1,
	    &res), "b1", "the translated one once the native one was tried");
	is_int(res.served, CONFIG_PROTO_OPENAI, "b1 serves it over openai");

	/* A higher tier reached by translation wins over a lower native one. */
	is_str(choose_via(s, "m21", NULL, CONFIG_PROTO_OPENAI, CONFIG_PROTO_ANTHROPIC, NULL, 0,
	    &res), "a1", "tiers first: translated alpha (10) before native beta (5)");
	is_int(res.tier, 10, "alpha's tier");

	/* Responses: passed through where declared, else translated. */
	prov[1].protocols = CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES;
	is_str(choose_via(s, "m20", NULL, CONFIG_PROTO_RESPONSES, CONFIG_PROTO_OPENAI |
	    CONFIG_PROTO_ANTHROPIC, NULL, 0, &res), "b1", "a Responses provider takes it as is");
	is_int(res.served, CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES,
	    "a catalog model over openai is over responses too");
	ok(strstr(res.detail_json, "{\"account\":\"b1\",\"provider\":\"beta\",\"reason\":"
	    "\"eligible\",\"tier\":5,\"score\"") != NULL &&
	    strstr(res.detail_json, "\"protocol\":\"responses\"") != NULL,
	    "b1 not translated, protocol responses: %s", res.detail_json);
	is_str(choose(s, "m20", NULL, CONFIG_PROTO_RESPONSES, td, 1, &res), "b1",
	    "without translation only the Responses provider");
	prov[1].protocols = CONFIG_PROTO_OPENAI;
	is_str(choose(s, "m20", NULL, CONFIG_PROTO_RESPONSES, NULL, 0, &res), "wrong_protocol",
	    "no Responses provider and no translation: wrong protocol");
	is_str(choose_via(s, "m20", NULL, CONFIG_PROTO_RESPONSES, CONFIG_PROTO_OPENAI, td, 1,
	    &res), "b1", "translated onto chat");
	exec("DELETE FROM model_catalog WHERE model_id IN ('m20', 'm21')");
	select_free(s);
}

static void
test_pressure(void)
{
	struct select_db *s;
	struct select_result res;

	reset_state();
	alpha_acc[0].quota[CONFIG_WINDOW_5H].requests = 100;
	alpha_acc[1].quota[CONFIG_WINDOW_5H].requests = 100;
	s = selector();
	add_usage("a1", NOW, 10, 0, 0);
	add_usage("a2", NOW - 2 * HOUR, 5, 0, 0);
	add_reservation("a2", NOW + 60000, 0);
	add_attempt("a2", NOW - 5000);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "lower pressure beats load and recency");
	ok(res.pressure > 0.0599 && res.pressure < 0.0601, "a2 pressure (5 + 1 in flight) / 100: %g",
	    res.pressure);
	ok(strstr(res.detail_json, "\"score\":[0.1,0,0,0.1,0,0]") != NULL,
	    "a1 score parts in the detail: %s", res.detail_json);
	select_free(s);

	/* Usage outside the 5-hour window counts only in longer ones. */
	reset_state();
	s = selector();
	add_usage("a2", NOW - 7 * HOUR, 90, 0, 0);
	add_usage("a1", NOW - HOUR, 20, 0, 0);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "usage 7 hours ago is outside the 5-hour window");
	is_int((int)(res.pressure * 1000 + 0.5), 0, "a2 pressure 0");
	select_free(s);
	alpha_acc[1].quota[CONFIG_WINDOW_WEEK].requests = 100;
	s = selector();
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "but inside the weekly one");
	is_int((int)(res.pressure * 1000 + 0.5), 200, "a1 pressure 0.2");
	select_free(s);

	/* Spend with an offset, and tokens. */
	reset_state();
	memset(alpha_acc[0].quota, 0, sizeof(alpha_acc[0].quota));
	memset(alpha_acc[1].quota, 0, sizeof(alpha_acc[1].quota));
	alpha_acc[0].quota[CONFIG_WINDOW_MONTH].microdollars = 1000000;
	alpha_acc[0].quota[CONFIG_WINDOW_MONTH].offset_microdollars = 500000;
	alpha_acc[1].quota[CONFIG_WINDOW_MONTH].tokens = 1000;
	s = selector();
	add_usage("a1", NOW - 10 * 24 * HOUR, 1, 0, 100000);
	add_usage("a2", NOW - 20 * 24 * HOUR, 1, 300, 0);
	add_reservation("a2", NOW + 60000, 200);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a2",
	    "tokens (300 + 200 reserved)/1000 beat spend (100000 + 500000 offset)/1000000");
	is_int((int)(res.pressure * 1000 + 0.5), 500, "a2 pressure 0.5 with its reservation");
	add_usage("a2", NOW, 1, 200, 0);
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "the current hour counts at once");
	is_int((int)(res.pressure * 1000 + 0.5), 600, "a1 pressure 0.6");
	add_usage("a1", NOW - 31 * 24 * HOUR, 1, 0, 900000);
	select_free(s);
	s = selector();
	is_str(choose(s, "m1", NULL, CONFIG_PROTO_OPENAI, NULL, 0, &res), "a1",
	    "usage older than 30 days does not count");
	select_free(s);
	memset(alpha_acc[0].quota, 0, sizeof(alpha_acc[0].quota));
	memset(alpha_acc[1].quota, 0, sizeof(alpha_acc[1].quota));
}

/* A configuration too large for the detail bound: it is cut, still valid and marked. */
static void
test_many_accounts(void)
{
	enum { N = 5000 };
	static struct config_account many[N];
	static char names[N][32];
	struct config_provider big;
	struct config bigcfg;
	struct select_db *s;
	struct select_result res;
	struct select_query q = { .model = "m1", .provider = "big",
	    .protocol = CONFIG_PROTO_OPENAI, .now = NOW };
	char errbuf[256];
	enum qp_err err;
	cJSON *json;
	int i;

	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "account-with-a-long-name-%05d", i);
		account(&many[i], names[i], i != 7);
	}
	provider(&big, "big", CONFIG_PROTO_OPENAI, 1, 1, m1, 1, many, N);
	memset(&bigcfg, 0, sizeof(bigcfg));
	bigcfg.providers = &big;
	bigcfg.nproviders = 1;
	s = select_new(db, &bigcfg, &err, errbuf, sizeof(errbuf));
	if (!ok(s != NULL, "selector for %d accounts", N))
		return;
	reset_state();
	is_int(select_choose(s, &q, &res), QP_OK, "choose among %d accounts", N);
	is_str(res.account != NULL ? res.account->name : "none", names[0], "the first one");
	is_int(res.candidates, N, "all candidates");
	is_int(res.eligible, N - 1, "all but one eligible");
	ok(res.detail_len <= SELECT_DETAIL_MAX, "detail within its bound: %zu", res.detail_len);
	ok(res.detail_len > SELECT_DETAIL_MAX - 1024, "detail filled up to its bound");
	ok(strstr(res.detail_json, "\"truncated\":true}") != NULL, "detail marked truncated");
	json = cJSON_Parse(res.detail_json);
	ok(json != NULL, "truncated detail is valid JSON");
	cJSON_Delete(json);
	select_free(s);
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
	snprintf(dbpath, sizeof(dbpath), "%s/select.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	build_config();
	exec("INSERT INTO model_catalog (provider_id, model_id, protocol, source, first_seen_at, "
	    "last_seen_at) VALUES ('beta', 'm1', NULL, 'upstream', 1, 1)");
	test_tiers_and_exclusions();
	test_operator_disabled();
	test_catalog();
	test_backoffs();
	test_backoff_scope();
	test_order();
	test_translation();
	test_pressure();

	test_many_accounts();
	is_int(bad_json, 0, "every detail_json is valid JSON");
	is_str(select_reason_name(SELECT_REASON_AUTH_QUARANTINE), "auth_quarantine", "reason names");
	is_str(select_protocol_name(CONFIG_PROTO_ANTHROPIC), "anthropic", "protocol names");
	is_str(select_protocol_name(CONFIG_PROTO_RESPONSES), "responses", "responses named");

	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/select.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/select.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	return tap_done();
}
