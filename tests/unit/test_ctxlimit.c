/* test_ctxlimit.c: context limits: the byte estimate, the limits from lists and overrides, the check, and selection. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../tap.h"
#include "catalog.h"
#include "config.h"
#include "ctxlimit.h"
#include "db.h"
#include "migrate.h"
#include "select.h"

#define NOW	1700000000000LL

/* Returns a string of n copies of c (static buffer, one at a time). */
static const char *
run(char c, size_t n)
{
	static char buf[8192];

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
estimate(const char *body, struct ctxlimit_need *need)
{
	cJSON *root = cJSON_Parse(body);

	ctxlimit_estimate(root, strlen(body), need);
	cJSON_Delete(root);
}

static void
test_estimate(void)
{
	static const struct {
		const char	*body;
		int64_t		 output;
		const char	*what;
	} outs[] = {
		{ "{\"model\":\"m\",\"max_tokens\":100}", 100, "max_tokens" },
		{ "{\"model\":\"m\",\"max_tokens\":100,\"max_completion_tokens\":50}", 50,
		  "max_completion_tokens first" },
		{ "{\"model\":\"m\",\"max_output_tokens\":7}", 7, "max_output_tokens (Responses)" },
		{ "{\"model\":\"m\",\"max_tokens\":0}", 0, "0 is none" },
		{ "{\"model\":\"m\",\"max_tokens\":-5}", 0, "a negative value is none" },
		{ "{\"model\":\"m\",\"max_tokens\":\"100\"}", 0, "a string is none" },
		{ "{\"model\":\"m\",\"max_tokens\":1e12}", 0, "beyond 1e9 is none" },
		{ "{\"model\":\"m\"}", 0, "absent" },
		{ "{\"x\":{\"max_tokens\":9}}", 0, "only at the top level" },
	};
	struct ctxlimit_need n;
	char body[12288], prose[4001];
	size_t i;

	for (i = 0; i < sizeof(outs) / sizeof(outs[0]); i++) {
		estimate(outs[i].body, &n);
		is_int(n.output, outs[i].output, "output asked: %s", outs[i].what);
	}

	snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"%s\"}]}", "hello there, how are you today?");
	estimate(body, &n);
	is_int(n.input, (int64_t)strlen(body) / 8, "text: input = bytes / 8");
	is_int(n.blob_bytes, 0, "text: nothing left out");

	/* 4000 bytes of prose (spaces) are text, however long. */
	for (i = 0; i < sizeof(prose) - 1; i++)
		prose[i] = i % 3 == 2 ? ' ' : 'a';
	prose[sizeof(prose) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"%s\"}]}", prose);
	estimate(body, &n);
	is_int(n.blob_bytes, 0, "long prose is text");

	/* An Anthropic base64 image: left out. */
	snprintf(body, sizeof(body), "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
	    "\"media_type\":\"image/png\",\"data\":\"%s\"}},{\"type\":\"text\",\"text\":\"what\"}]}]}",
	    run('Q', 4000));
	estimate(body, &n);
	is_int(n.blob_bytes, 4000, "base64 image: its 4000 bytes left out");
	is_int(n.input, (int64_t)(strlen(body) - 4000) / 8, "base64 image: the rest counted");
	is_int(n.output, 10, "base64 image: max_tokens");

	/* An OpenAI data URL, short or long: its payload left out. */
	snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,%s\"}}]}]}",
	    run('A', 100));
	estimate(body, &n);
	is_int(n.blob_bytes, 100, "data URL: its payload left out, even short");
	snprintf(body, sizeof(body), "{\"u\":\"data:text/plain,%s\"}", run('A', 300));
	estimate(body, &n);
	is_int(n.blob_bytes, 0, "data URL without ;base64: text");
	snprintf(body, sizeof(body), "{\"u\":\"%s\"}", run('A', 255));
	estimate(body, &n);
	is_int(n.blob_bytes, 0, "255 bytes of the base64 alphabet: text (a word, a hash)");
	snprintf(body, sizeof(body), "{\"u\":\"%s\"}", run('A', 256));
	estimate(body, &n);
	is_int(n.blob_bytes, 256, "256 bytes of the base64 alphabet: binary");

	ctxlimit_estimate(NULL, 800, &n);
	ok(n.input == 100 && n.output == 0 && n.blob_bytes == 0, "no JSON: bytes / 8");
}

static void
test_effective(void)
{
	struct config_model_override o;
	struct ctxlimit lim;

	ctxlimit_effective(NULL, 128000, 8192, &lim);
	ok(lim.context == 128000 && lim.output == 8192 && lim.input == 0 && lim.enforce == 1,
	    "no override: the list's limits, enforced");
	ctxlimit_effective(NULL, -1, 0, &lim);
	ok(lim.context == 0 && lim.output == 0, "nothing known: unknown");
	memset(&o, 0, sizeof(o));
	o.enforce_context_limit = 1;
	o.max_context_tokens = 32000;
	ctxlimit_effective(&o, 128000, 8192, &lim);
	ok(lim.context == 32000 && lim.output == 8192, "the override's context wins, the list's "
	    "output stays");
	o.max_output_tokens = 4096;
	o.max_input_tokens = 30000;
	ctxlimit_effective(&o, 0, 0, &lim);
	ok(lim.context == 32000 && lim.output == 4096 && lim.input == 30000,
	    "every field of the override");
	o.enforce_context_limit = 0;
	ctxlimit_effective(&o, 0, 0, &lim);
	is_int(lim.enforce, 0, "enforce_context_limit = false");
}

static void
test_exceeds(void)
{
	static const struct {
		int64_t	 ctx, in, out;	/* limits */
		int	 enforce;
		int64_t	 need_in, need_out;
		int	 want;
		const char *what;
	} t[] = {
		{ 1000, 0, 0, 1, 1001, 0, 1, "prompt over the context" },
		{ 1000, 0, 0, 1, 1000, 0, 0, "prompt at the context" },
		{ 1000, 0, 0, 1, 600, 401, 1, "prompt + max_tokens over the context" },
		{ 1000, 0, 0, 1, 600, 400, 0, "prompt + max_tokens at the context" },
		{ 1000, 0, 300, 1, 600, 5000, 0, "max_tokens counts as the output limit at most" },
		{ 1000, 0, 500, 1, 600, 5000, 1, "... which may still not fit" },
		{ 1000, 500, 0, 1, 501, 0, 1, "prompt over the input limit" },
		{ 0, 500, 0, 1, 400, 900, 0, "input limit alone: the output does not count" },
		{ 1000, 0, 0, 0, 5000, 0, 0, "not enforced" },
		{ 0, 0, 0, 1, 1000000, 1000000, 0, "nothing known" },
		{ 0, 0, 100, 1, 1000000, 1000000, 0, "only the output known" },
	};
	struct ctxlimit lim;
	struct ctxlimit_need need;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&lim, 0, sizeof(lim));
		memset(&need, 0, sizeof(need));
		lim.context = t[i].ctx;
		lim.input = t[i].in;
		lim.output = t[i].out;
		lim.enforce = t[i].enforce;
		need.input = t[i].need_in;
		need.output = t[i].need_out;
		is_int(ctxlimit_exceeds(&lim, &need), t[i].want, "exceeds: %s", t[i].what);
	}
}

static void
test_catalog_limits(void)
{
	static const char openai[] = "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"or-a\",\"context_length\":131072,\"top_provider\":{\"context_length\":65536,"
	    "\"max_completion_tokens\":8192}},"
	    "{\"id\":\"groq-b\",\"context_window\":32768,\"max_completion_tokens\":1024},"
	    "{\"id\":\"vllm-c\",\"max_model_len\":4096},"
	    "{\"id\":\"mistral-d\",\"max_context_length\":128000},"
	    "{\"id\":\"bad-e\",\"context_length\":\"big\",\"max_output_tokens\":-3},"
	    "{\"id\":\"top-f\",\"top_provider\":{\"context_length\":1000}},"
	    "{\"id\":\"huge-g\",\"context_length\":5e9},"
	    "{\"id\":\"none-h\"}]}";
	static const char anthropic[] = "{\"data\":[{\"type\":\"model\",\"id\":\"claude-x\","
	    "\"display_name\":\"Claude X\",\"created_at\":\"2025-01-01T00:00:00Z\","
	    "\"max_input_tokens\":200000,\"max_tokens\":64000}],\"has_more\":false}";
	static const struct {
		const char *id;
		int64_t ctx, out;
	} want[] = {
		{ "bad-e", 0, 0 }, { "groq-b", 32768, 1024 }, { "huge-g", 0, 0 },
		{ "mistral-d", 128000, 0 }, { "none-h", 0, 0 }, { "or-a", 131072, 8192 },
		{ "top-f", 1000, 0 }, { "vllm-c", 4096, 0 },
	};
	struct catalog_list l;
	size_t i;

	memset(&l, 0, sizeof(l));
	is_int(catalog_parse(openai, strlen(openai), &l), QP_OK, "catalog: a list with limits");
	is_int(l.n, 8, "catalog: every model kept");
	for (i = 0; i < sizeof(want) / sizeof(want[0]) && (int)i < l.n; i++)
		ok(strcmp(l.models[i].id, want[i].id) == 0 &&
		    l.models[i].context_tokens == want[i].ctx &&
		    l.models[i].output_tokens == want[i].out,
		    "catalog: %s: context %lld, output %lld (got %s: %lld, %lld)", want[i].id,
		    (long long)want[i].ctx, (long long)want[i].out, l.models[i].id,
		    (long long)l.models[i].context_tokens, (long long)l.models[i].output_tokens);
	catalog_list_free(&l);
	is_int(catalog_parse(anthropic, strlen(anthropic), &l), QP_OK, "catalog: Anthropic list");
	ok(l.n == 1 && l.models[0].context_tokens == 200000 && l.models[0].output_tokens == 64000,
	    "catalog: Anthropic's max_input_tokens and max_tokens");
	catalog_list_free(&l);
}

/* The entry with id in a /v1/models body. */
static const cJSON *
entry(const cJSON *list, const char *id)
{
	const cJSON *e, *data = cJSON_GetObjectItemCaseSensitive(list, "data");

	cJSON_ArrayForEach(e, data)
		if (strcmp(cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring, id) == 0)
			return e;
	return NULL;
}

static double
num(const cJSON *o, const char *k1, const char *k2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);

	if (k2 != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, k2);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void
test_models_list(void)
{
	static struct config_account acc[2];
	static struct config_provider prov[2];
	static struct config_model_override ovr[1];
	static char *tg[] = { "big/p1", "small/p2" };
	static struct config_alias al[1];
	struct catalog_row rows[] = {
		{ "p1", "big", NULL, NOW, 131072, 8192 },
		{ "p2", "big", NULL, NOW, 65536, 16384 },
		{ "p2", "small", NULL, NOW, 0, 0 },
		{ "p1", "nolimit", NULL, NOW, 0, 0 },
	};
	struct config cfg;
	const cJSON *e;
	cJSON *list;

	memset(acc, 0, sizeof(acc));
	memset(prov, 0, sizeof(prov));
	memset(&cfg, 0, sizeof(cfg));
	acc[0].name = "a1";
	acc[0].api_key = "k";
	acc[0].enabled = 1;
	acc[1] = acc[0];
	acc[1].name = "a2";
	prov[0].id = "p1";
	prov[0].enabled = 1;
	prov[0].accounts = &acc[0];
	prov[0].naccounts = 1;
	prov[1] = prov[0];
	prov[1].id = "p2";
	prov[1].accounts = &acc[1];
	memset(ovr, 0, sizeof(ovr));
	ovr[0].model = "small";
	ovr[0].max_context_tokens = 4000;
	ovr[0].max_output_tokens = 1000;
	ovr[0].enforce_context_limit = 1;
	al[0].pattern = "claude-*";
	al[0].targets = tg;
	al[0].ntargets = 2;
	cfg.providers = prov;
	cfg.nproviders = 2;
	cfg.overrides = ovr;
	cfg.noverrides = 1;
	cfg.aliases = al;
	cfg.naliases = 1;

	list = catalog_models_build(&cfg, rows, 4, NOW);
	e = entry(list, "big/p1");
	ok(num(e, "context_length", NULL) == 131072 &&
	    num(e, "quotapool", "max_context_tokens") == 131072 &&
	    num(e, "quotapool", "max_output_tokens") == 8192, "/v1/models: big/p1 carries its "
	    "list's limits");
	e = entry(list, "small/p2");
	ok(num(e, "context_length", NULL) == 4000 &&
	    num(e, "quotapool", "max_output_tokens") == 1000, "/v1/models: small/p2 carries its "
	    "override's limits");
	e = entry(list, "nolimit/p1");
	ok(e != NULL && num(e, "context_length", NULL) == -1 &&
	    num(e, "quotapool", "max_context_tokens") == -1, "/v1/models: no limit known, none "
	    "shown");
	e = entry(list, "claude-*");
	ok(num(e, "context_length", NULL) == 4000 &&
	    num(e, "quotapool", "max_output_tokens") == 1000, "/v1/models: an alias carries the "
	    "smallest limits of its targets");
	cJSON_Delete(list);

	cfg.models.collapse_models = 1;
	list = catalog_models_build(&cfg, rows, 4, NOW);
	e = entry(list, "big");
	ok(num(e, "context_length", NULL) == 65536 &&
	    num(e, "quotapool", "max_output_tokens") == 8192, "/v1/models collapsed: the smallest "
	    "limits over the providers");
	e = entry(list, "claude-*");
	ok(num(e, "context_length", NULL) == 4000, "/v1/models collapsed: the alias's targets "
	    "found by their base ids");
	cJSON_Delete(list);
}

static sqlite3 *db;

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

/* Chooses for model with need; returns the account or the status, fills res. */
static const char *
choose(struct select_db *s, const char *model, int64_t in, int64_t out,
    struct select_result *res)
{
	struct ctxlimit_need need = { in, out, 0 };
	struct select_query q;

	memset(&q, 0, sizeof(q));
	q.model = model;
	q.protocol = CONFIG_PROTO_OPENAI;
	q.now = NOW;
	q.need = &need;
	if (select_choose(s, &q, res) != QP_OK)
		return "db-error";
	return res->status == SELECT_OK ? res->account->name : select_status_name(res->status);
}

/* The reason the decision gives account, "" if not listed. */
static const char *
reason(const struct select_result *res, const char *account, char *buf, size_t len)
{
	cJSON *j = cJSON_Parse(res->detail_json), *a;

	snprintf(buf, len, "%s", "");
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(j, "accounts"))
		if (strcmp(cJSON_GetObjectItemCaseSensitive(a, "account")->valuestring,
		    account) == 0)
			snprintf(buf, len, "%s", cJSON_GetObjectItemCaseSensitive(a,
			    "reason")->valuestring);
	cJSON_Delete(j);
	return buf;
}

static void
test_select(void)
{
	static struct config_account acc[2];
	static struct config_provider prov[2];
	static struct config_model_override ovr[1];
	static char *models[] = { "big", "small", "nolimit", "loose" };
	static char tmpdir[] = "/tmp/qp-test-ctxlimit-XXXXXX";
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct select_result res;
	struct select_db *s;
	struct config cfg;
	char dir[512], path[600], errbuf[512], buf[64];
	enum qp_err err;
	int n;

	if (mkdtemp(tmpdir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(path, sizeof(path), "%s/c.db", tmpdir);
	db = db_open(path, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		exit(1);
	}
	memset(acc, 0, sizeof(acc));
	memset(prov, 0, sizeof(prov));
	memset(&cfg, 0, sizeof(cfg));
	acc[0].name = "a1";
	acc[0].api_key = "k";
	acc[0].enabled = 1;
	acc[0].weight = 1;
	acc[1] = acc[0];
	acc[1].name = "a2";
	prov[0].id = "p1";
	prov[0].enabled = 1;
	prov[0].protocols = CONFIG_PROTO_OPENAI;
	prov[0].routing_priority = 10;
	prov[0].models = models;
	prov[0].nmodels = 4;
	prov[0].accounts = &acc[0];
	prov[0].naccounts = 1;
	prov[1] = prov[0];
	prov[1].id = "p2";
	prov[1].routing_priority = 1;
	prov[1].accounts = &acc[1];
	memset(ovr, 0, sizeof(ovr));
	ovr[0].model = "loose";
	ovr[0].max_context_tokens = 100;
	ovr[0].enforce_context_limit = 0;
	cfg.providers = prov;
	cfg.nproviders = 2;
	cfg.overrides = ovr;
	cfg.noverrides = 1;
	/* big: 1000 tokens at p1 (the higher tier), 100000 at p2; small: 1000 at both. */
	exec("INSERT INTO model_catalog (provider_id, model_id, source, first_seen_at, "
	    "last_seen_at, max_context_tokens, max_output_tokens) VALUES "
	    "('p1', 'big', 'upstream', 1, 1, 1000, 300), ('p2', 'big', 'upstream', 1, 1, 100000, "
	    "NULL), ('p1', 'small', 'upstream', 1, 1, 1000, NULL), ('p2', 'small', 'upstream', 1, "
	    "1, 1000, NULL), ('p1', 'loose', 'upstream', 1, 1, NULL, NULL), ('p2', 'loose', "
	    "'upstream', 1, 1, NULL, NULL)");
	if ((s = select_new(db, &cfg, &err, errbuf, sizeof(errbuf))) == NULL) {
		printf("Bail out! select_new: %s\n", errbuf);
		exit(1);
	}
	is_str(choose(s, "big", 500, 0, &res), "a1", "select: fits the higher tier: a1");
	ok(res.limit.context == 1000 && res.limit.output == 300, "select: the chosen provider's "
	    "limits come with the choice");
	is_str(choose(s, "big", 500, 5000, &res), "a1", "select: max_tokens counts as p1's "
	    "output limit (300) at most: a1");
	is_str(choose(s, "big", 2000, 0, &res), "a2", "select: over p1's 1000: p2's 100000 "
	    "serves it");
	is_str(reason(&res, "a1", buf, sizeof(buf)), "context_limit", "select: a1 excluded for "
	    "the context");
	ok(strstr(res.detail_json, "\"context\":1000,\"input_limit\":0,\"need\":[2000,0]") != NULL,
	    "select: the decision names the limit and the estimate: %s", res.detail_json);
	is_str(choose(s, "small", 900, 200, &res), "too_large", "select: over every provider's "
	    "limit: too_large");
	is_int(select_status_http(res.status), 400, "select: too_large maps to 400");
	is_int(res.limit.context, 1000, "select: the limit refused is reported");
	is_str(choose(s, "small", 900, 100, &res), "a1", "select: at the limit: served");
	is_str(choose(s, "nolimit", 100000000, 0, &res), "a1", "select: no limit known: served");
	is_str(choose(s, "loose", 5000, 0, &res), "a1", "select: enforce_context_limit = false: "
	    "served");
	res.status = SELECT_OK;
	{
		struct select_query q;

		memset(&q, 0, sizeof(q));
		q.model = "small";
		q.protocol = CONFIG_PROTO_OPENAI;
		q.now = NOW;
		is_int(select_choose(s, &q, &res), QP_OK, "select: no need given");
		is_str(res.status == SELECT_OK ? res.account->name : "?", "a1",
		    "select: no need given: no check");
	}
	ovr[0].model = "small";
	ovr[0].max_context_tokens = 100000;
	ovr[0].enforce_context_limit = 1;
	is_str(choose(s, "small", 900, 200, &res), "a1", "select: the override's context wins "
	    "over the list's");
	select_free(s);
	db_close(db);
	migrate_set_free(&set);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.db-wal", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.db-shm", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int
main(void)
{

	test_estimate();
	test_effective();
	test_exceeds();
	test_catalog_limits();
	test_models_list();
	test_select();
	return done_testing();
}
