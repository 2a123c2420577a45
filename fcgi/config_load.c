/* config_load.c: the file found, read and walked into struct config, checked as a whole, freed. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "config_int.h"
#include "crypto.h"
#include "refresh_wire.h"

/*
 * Checks an account's refresh table once read: a provider that takes
 * credentials, and a body template its content type can carry.
 */
static void
config_check_refresh(struct config_ctx *c, const struct config_provider *p,
    struct config_account *a, const struct toml_value *it)
{
	const struct toml_kv *kv;
	const char *why;
	const char *var;

	if ((kv = toml_get_kv(it, "refresh")) == NULL || kv->val->type != TOML_TABLE)
		return;
	a->refresh.line = (int)config_kv_line(kv);
	if (p->auth == CONFIG_AUTH_NONE)
		config_msg(c, CONFIG_ERROR, (unsigned)a->refresh.line, 0, "%s.refresh: the "
		    "provider's auth is \"none\": there is no token to refresh", c->where);
	if (a->refresh.body == NULL)
		return;
	if ((why = refresh_wire_body_problem(a->refresh.body, strlen(a->refresh.body),
	    (enum refresh_wire_type)a->refresh.form)) == NULL)
		return;
	var = a->refresh.body_env != NULL ? a->refresh.body_env : "body_env";
	kv = toml_get_kv(kv->val, "body_env");
	config_msg(c, CONFIG_ERROR, kv != NULL ? config_kv_line(kv) : (unsigned)a->refresh.line,
	    0, "%s.refresh.body_env: the value of %s %s (content_type %s)", c->where, var, why,
	    a->refresh.form == REFRESH_WIRE_FORM ? "application/x-www-form-urlencoded" :
	    "application/json");
}

static void
config_parse_accounts(struct config_ctx *c, int pi, struct config_provider *p,
    const struct toml_kv *kv)
{
	const struct toml_value *v = kv->val, *it;
	const struct toml_kv *pk;
	struct config_account *a;
	struct config_ref *r;
	char where[200], title[240], got[64];
	size_t i;
	int ncap;

	snprintf(where, sizeof(where), "providers.%s.accounts", p->id);
	if (v->type != TOML_ARRAY) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s: expected an array of tables "
		    "([[%s]]), got %s", where, where, config_got(v, got, sizeof(got)));
		return;
	}
	if (v->u.arr.n == 0)
		return;
	if ((p->accounts = calloc(v->u.arr.n, sizeof(*p->accounts))) == NULL) {
		c->oom = 1;
		return;
	}
	snprintf(title, sizeof(title), "[[%s]]", where);
	for (i = 0; i < v->u.arr.n; i++) {
		it = v->u.arr.items[i];
		snprintf(c->where, sizeof(c->where), "%s[%zu]", where, i);
		snprintf(c->title, sizeof(c->title), "%s", title);
		if (!config_is_table(c, c->where, it))
			continue;
		a = &p->accounts[p->naccounts++];
		a->line = (int)it->line;
		config_defaults(c, CONFIG_SEC_ACCOUNT, a);
		config_defaults(c, CONFIG_SEC_REFRESH, a);
		config_parse_table(c, CONFIG_SEC_ACCOUNT, it, a);
		config_check_refresh(c, p, a, it);
		if (p->auth != CONFIG_AUTH_NONE && toml_get(it, "api_key") == NULL &&
		    toml_get(it, "api_key_env") == NULL && toml_get(it, "refresh") == NULL)
			config_msg(c, CONFIG_ERROR, it->line, 0, "%s: api_key or api_key_env is "
			    "required (only a provider with auth = \"none\" needs no key)", c->where);
		if (a->proxy == NULL || (pk = toml_get_kv(it, "proxy")) == NULL)
			continue;
		if (c->nrefs == c->refcap) {
			ncap = c->refcap ? c->refcap * 2 : 8;
			if ((r = realloc(c->refs, (size_t)ncap * sizeof(*r))) == NULL) {
				c->oom = 1;
				return;
			}
			c->refs = r;
			c->refcap = ncap;
		}
		r = &c->refs[c->nrefs++];
		r->prov = pi;
		r->acct = p->naccounts - 1;
		r->line = pk->val->line;
		r->col = pk->val->col;
	}
}

/* The keys of a check table that only one type of check takes. */
static const struct {
	const char	*name;		/* key */
	int		 type;		/* the check type it belongs to */
} config_check_only[] = {
	{ "path", CONFIG_CHECK_HTTP },
	{ "method", CONFIG_CHECK_HTTP },
	{ "expect_status", CONFIG_CHECK_HTTP },
	{ "expect_body", CONFIG_CHECK_HTTP },
	{ "cmd", CONFIG_CHECK_COMMAND },
	{ "expect_output", CONFIG_CHECK_COMMAND },
};

/*
 * Checks provider p's check table (in the provider's table tab) across
 * its keys: the keys its type needs, none of the other type's, and
 * check_interval_s only with a check.
 */
static void
config_check_keys(struct config_ctx *c, struct config_provider *p, const struct toml_value *tab)
{
	const struct toml_kv *ck, *iv, *kv;
	const struct config_check *k = &p->check;
	size_t i;

	iv = toml_get_kv(tab, "check_interval_s");
	if ((ck = toml_get_kv(tab, "check")) == NULL || ck->val->type != TOML_TABLE) {
		if (iv != NULL && ck == NULL)
			config_msg(c, CONFIG_WARNING, config_kv_line(iv), 0, "providers.%s."
			    "check_interval_s: has no effect without a check", p->id);
		return;
	}
	p->check.line = (int)config_kv_line(ck);
	if (k->type == CONFIG_CHECK_NONE)
		return;		/* type missing or wrong: already reported */
	for (i = 0; i < sizeof(config_check_only) / sizeof(config_check_only[0]); i++) {
		if (config_check_only[i].type == k->type ||
		    (kv = toml_get_kv(ck->val, config_check_only[i].name)) == NULL)
			continue;
		config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "providers.%s.check.%s: "
		    "only a check of type \"%s\" takes it", p->id, config_check_only[i].name,
		    config_check_only[i].type == CONFIG_CHECK_HTTP ? "http" : "command");
	}
	if (k->type == CONFIG_CHECK_HTTP && toml_get_kv(ck->val, "path") == NULL)
		config_msg(c, CONFIG_ERROR, (unsigned)p->check.line, 0, "providers.%s.check: "
		    "path is required for a check of type \"http\"", p->id);
	if (k->type == CONFIG_CHECK_COMMAND && (k->cmd == NULL || k->cmd[0] == '\0') &&
	    toml_get_kv(ck->val, "cmd") == NULL)
		config_msg(c, CONFIG_ERROR, (unsigned)p->check.line, 0, "providers.%s.check: "
		    "cmd is required for a check of type \"command\"", p->id);
	else if (k->type == CONFIG_CHECK_COMMAND && (k->cmd == NULL || k->cmd[0] == '\0'))
		config_msg(c, CONFIG_ERROR, (unsigned)p->check.line, 0, "providers.%s.check.cmd: "
		    "the command is empty", p->id);
}

static void
config_parse_providers(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv, *acc;
	struct config_provider *p;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "providers", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->providers = calloc(tab->u.tab.n, sizeof(*p))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (strlen(kv->key) != kv->keylen || !config_id_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[providers.%s]: the id "
			    "must be letters, digits and inner '-', at most 64", shown);
			continue;
		}
		snprintf(where, sizeof(where), "providers.%s", kv->key);
		if (!config_is_table(c, where, kv->val))
			continue;
		p = &c->cfg->providers[c->cfg->nproviders++];
		p->line = (int)kv->val->line;
		if ((p->id = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_PROVIDER, p);
		config_defaults(c, CONFIG_SEC_CHECK, p);
		config_parse_table(c, CONFIG_SEC_PROVIDER, kv->val, p);
		config_check_keys(c, p, kv->val);
		if ((acc = toml_get_kv(kv->val, "accounts")) != NULL)
			config_parse_accounts(c, c->cfg->nproviders - 1, p, acc);
	}
}

static void
config_parse_proxies(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_proxy *p;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "proxies", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->proxies = calloc(tab->u.tab.n, sizeof(*p))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		if (strlen(kv->key) != kv->keylen || !config_name_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[proxies.%s]: the name "
			    "must be 1 to 64 letters, digits, _ . -",
			    config_show(kv->key, kv->keylen, shown, sizeof(shown)));
			continue;
		}
		snprintf(where, sizeof(where), "proxies.%s", kv->key);
		if (!config_is_table(c, where, kv->val))
			continue;
		p = &c->cfg->proxies[c->cfg->nproxies++];
		p->line = (int)kv->val->line;
		if ((p->name = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_PROXY, p);
		config_parse_table(c, CONFIG_SEC_PROXY, kv->val, p);
	}
}

static void
config_parse_overrides(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_model_override *o;
	char shown[80], where[200], title[240];
	size_t i;

	if (!config_is_table(c, "model_overrides", tab) || tab->u.tab.n == 0)
		return;
	if ((c->cfg->overrides = calloc(tab->u.tab.n, sizeof(*o))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (kv->keylen == 0 || kv->keylen > CONFIG_MODEL_MAX ||
		    strlen(kv->key) != kv->keylen || !config_text_ok(kv->key, kv->keylen) ||
		    memchr(kv->key, ' ', kv->keylen) != NULL) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[model_overrides.\"%s\"]: "
			    "a model id is 1 to %d characters without spaces or control characters",
			    shown, CONFIG_MODEL_MAX);
			continue;
		}
		snprintf(where, sizeof(where), "model_overrides.\"%s\"", shown);
		if (!config_is_table(c, where, kv->val))
			continue;
		o = &c->cfg->overrides[c->cfg->noverrides++];
		o->line = (int)kv->val->line;
		if ((o->model = config_strdup(c, kv->key)) == NULL)
			return;
		snprintf(title, sizeof(title), "[%s]", where);
		config_where(c, where, title);
		config_defaults(c, CONFIG_SEC_OVERRIDE, o);
		config_parse_table(c, CONFIG_SEC_OVERRIDE, kv->val, o);
	}
}

/* 1 if s (len bytes) may be a model id or an alias pattern: 1 to CONFIG_MODEL_MAX, no blank. */
static int
config_model_id_ok(const char *s, size_t len)
{

	return len > 0 && len <= CONFIG_MODEL_MAX && strlen(s) == len &&
	    config_text_ok(s, len) && memchr(s, ' ', len) == NULL;
}

/* Reads one alias's value: a model id, or an array of them in fallback order. */
static void
config_parse_alias_targets(struct config_ctx *c, struct config_alias *a,
    const struct toml_value *v, const char *shown)
{
	const struct toml_value *it;
	char got[64], id[80];
	size_t i, n = v->type == TOML_ARRAY ? v->u.arr.n : 1;

	if (v->type != TOML_STRING && v->type != TOML_ARRAY) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "aliases.\"%s\": expected a model id "
		    "or an array of model ids, got %s", shown, config_got(v, got, sizeof(got)));
		return;
	}
	if (n == 0 || n > QP_ALIAS_TARGETS_MAX) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "aliases.\"%s\": lists %zu models "
		    "(1 to %d)", shown, n, QP_ALIAS_TARGETS_MAX);
		return;
	}
	if ((a->targets = calloc(n, sizeof(*a->targets))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		it = v->type == TOML_ARRAY ? v->u.arr.items[i] : v;
		if (it->type != TOML_STRING) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "aliases.\"%s\"[%zu]: "
			    "expected a model id, got %s", shown, i, config_got(it, got, sizeof(got)));
			continue;
		}
		if (!config_model_id_ok(it->u.str.ptr, it->u.str.len)) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "aliases.\"%s\": \"%s\" is "
			    "not a model id (1 to %d characters without spaces or control "
			    "characters)", shown, config_show(it->u.str.ptr, it->u.str.len, id,
			    sizeof(id)), CONFIG_MODEL_MAX);
			continue;
		}
		if ((a->targets[a->ntargets] = config_strndup(c, it->u.str.ptr,
		    it->u.str.len)) == NULL)
			return;
		a->ntargets++;
	}
}

/* [aliases]: "glob" = "model" | ["model", ...], kept in file order. */
static void
config_parse_aliases(struct config_ctx *c, const struct toml_value *tab)
{
	const struct toml_kv *kv;
	struct config_alias *a;
	char shown[80];
	size_t i;

	if (!config_is_table(c, "aliases", tab) || tab->u.tab.n == 0)
		return;
	if (tab->u.tab.n > QP_ALIASES_MAX) {
		config_msg(c, CONFIG_ERROR, tab->line, 0, "[aliases]: %zu patterns (at most %d)",
		    tab->u.tab.n, QP_ALIASES_MAX);
		return;
	}
	if ((c->cfg->aliases = calloc(tab->u.tab.n, sizeof(*a))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		config_show(kv->key, kv->keylen, shown, sizeof(shown));
		if (!config_model_id_ok(kv->key, kv->keylen)) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "[aliases]: \"%s\" is not a "
			    "pattern (1 to %d characters without spaces or control characters)",
			    shown, CONFIG_MODEL_MAX);
			continue;
		}
		a = &c->cfg->aliases[c->cfg->naliases++];
		a->line = (int)config_kv_line(kv);
		if ((a->pattern = config_strndup(c, kv->key, kv->keylen)) == NULL)
			return;
		config_parse_alias_targets(c, a, kv->val, shown);
	}
}

/* Reads every top-level key of the file. */
static void
config_parse_root(struct config_ctx *c, const struct toml_value *root)
{
	const struct config_root *r;
	const struct toml_kv *kv;
	struct config_near n;
	char shown[80], title[64];
	size_t i, j;

	for (i = 0; i < root->u.tab.n; i++) {
		kv = &root->u.tab.items[i];
		r = NULL;
		for (j = 0; j < config_nroots && strlen(kv->key) == kv->keylen; j++)
			if (strcmp(config_roots[j].name, kv->key) == 0)
				r = &config_roots[j];
		if (r == NULL) {
			n = (struct config_near){ kv->key, kv->keylen, NULL, INT_MAX };
			for (j = 0; j < config_nroots; j++)
				config_near_offer(&n, config_roots[j].name);
			config_show(kv->key, kv->keylen, shown, sizeof(shown));
			if (n.best != NULL)
				config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "unknown section "
				    "[%s] (did you mean [%s]?)", shown, n.best);
			else
				config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "unknown section "
				    "[%s]", shown);
			continue;
		}
		switch (r->kind) {
		case CONFIG_ROOT_SECTION:
			if (!config_is_table(c, r->name, kv->val))
				break;
			snprintf(title, sizeof(title), "[%s]", r->name);
			config_where(c, r->name, title);
			c->sec_line[r->sec] = kv->val->line;
			config_parse_table(c, r->sec, kv->val,
			    (char *)c->cfg + config_sections[r->sec].off);
			break;
		case CONFIG_ROOT_PROVIDERS:
			config_parse_providers(c, kv->val);
			break;
		case CONFIG_ROOT_PROXIES:
			config_parse_proxies(c, kv->val);
			break;
		case CONFIG_ROOT_OVERRIDES:
			config_parse_overrides(c, kv->val);
			break;
		case CONFIG_ROOT_ALIASES:
			config_parse_aliases(c, kv->val);
			break;
		case CONFIG_ROOT_IGNORED:
			config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "[%s]: has no effect in "
			    "this version: an EggPool section, accepted so that EggPool "
			    "configurations load", r->name);
			break;
		case CONFIG_ROOT_LEGACY:
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "top-level [[accounts]] "
			    "(EggPool's single-provider form) is not supported: move them under "
			    "[providers.<id>] as [[providers.<id>.accounts]]");
			break;
		default:
			break;
		}
	}
}

/* Orders account pointers by name, then by line. */
static int
config_account_cmp(const void *a, const void *b)
{
	const struct config_account *x = *(struct config_account *const *)a;
	const struct config_account *y = *(struct config_account *const *)b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return (x->line > y->line) - (x->line < y->line);
}

static void	config_finish_account(struct config_ctx *, const struct config_provider *, int);

/*
 * [workers] enabled: adds the provider the workers' models are routed under,
 * keyless with one account named after it (the attempts name the worker).
 */
static void
config_add_workers(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_provider *np, *p;
	const char *id = cfg->workers.provider;
	int i;

	if (!cfg->workers.enabled || id == NULL)
		return;
	if (!config_id_ok(id, strlen(id))) {
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_WORKERS], 0, "workers.provider: "
		    "the id must be letters, digits and inner '-', at most 64");
		return;
	}
	for (i = 0; i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].id, id) == 0) {
			config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_WORKERS], 0,
			    "workers.provider \"%s\" is also a [providers.%s] (line %d): name "
			    "the workers' provider otherwise", id, id, cfg->providers[i].line);
			return;
		}
	if ((np = realloc(cfg->providers, (size_t)(cfg->nproviders + 1) * sizeof(*np))) == NULL) {
		c->oom = 1;
		return;
	}
	cfg->providers = np;
	p = &cfg->providers[cfg->nproviders++];
	memset(p, 0, sizeof(*p));
	p->line = (int)c->sec_line[CONFIG_SEC_WORKERS];
	config_defaults(c, CONFIG_SEC_PROVIDER, p);
	free(p->models_path);
	p->models_path = NULL;		/* the catalog rows come from the workers' hellos */
	free(p->base_url);
	p->id = config_strdup(c, id);
	p->base_url = config_strdup(c, "http://worker.invalid");
	p->protocols = CONFIG_PROTO_OPENAI;
	p->routing_priority = cfg->workers.routing_priority;
	p->enabled = 1;
	p->auth = CONFIG_AUTH_NONE;
	p->workers = 1;
	if ((p->accounts = calloc(1, sizeof(*p->accounts))) == NULL) {
		c->oom = 1;
		return;
	}
	p->naccounts = 1;
	p->accounts[0].line = p->line;
	config_defaults(c, CONFIG_SEC_ACCOUNT, &p->accounts[0]);
	p->accounts[0].name = config_strdup(c, id);
	config_finish_account(c, p, 0);
}

/* Duplicate account names across every provider. */
static void
config_check_names(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_account **all;
	int i, j, n = 0, total = 0;

	for (i = 0; i < cfg->nproviders; i++)
		total += cfg->providers[i].naccounts;
	if (total < 2)
		return;
	if ((all = calloc((size_t)total, sizeof(*all))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++)
			if (cfg->providers[i].accounts[j].name != NULL)
				all[n++] = &cfg->providers[i].accounts[j];
	qsort(all, (size_t)n, sizeof(*all), config_account_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(all[i]->name, all[i - 1]->name) == 0)
			config_msg(c, CONFIG_ERROR, (unsigned)all[i]->line, 0, "account name \"%s\" "
			    "is already used at line %d (names are unique across all providers)",
			    all[i]->name, all[i - 1]->line);
	free(all);
}

/* Resolves proxy = "name" to the proxy's URL. */
static void
config_resolve_proxies(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_account *a;
	struct config_near n;
	char *u;
	int i, j;

	for (i = 0; i < c->nrefs; i++) {
		a = &cfg->providers[c->refs[i].prov].accounts[c->refs[i].acct];
		for (j = 0; j < cfg->nproxies; j++)
			if (strcmp(cfg->proxies[j].name, a->proxy) == 0)
				break;
		if (j < cfg->nproxies) {
			if (cfg->proxies[j].url == NULL)
				continue;	/* its own error was reported */
			if ((u = config_strdup(c, cfg->proxies[j].url)) != NULL)
				config_set_str(&a->proxy_url, u);
			continue;
		}
		n = (struct config_near){ a->proxy, strlen(a->proxy), NULL, INT_MAX };
		for (j = 0; j < cfg->nproxies; j++)
			config_near_offer(&n, cfg->proxies[j].name);
		config_msg(c, CONFIG_ERROR, c->refs[i].line, c->refs[i].col, "providers.%s.accounts"
		    "[%d].proxy: no [proxies.%s] is defined%s%s%s",
		    cfg->providers[c->refs[i].prov].id, c->refs[i].acct, a->proxy,
		    n.best ? " (did you mean \"" : "", n.best ? n.best : "", n.best ? "\"?)" : "");
	}
}

/* Checks an account's credentials against its provider's auth, fills its quotas. */
static void
config_finish_account(struct config_ctx *c, const struct config_provider *p, int ai)
{
	struct config_account *a = &p->accounts[ai];
	const struct config_quota *lq;
	struct config_quota *q;
	int w, bearer;

	bearer = p->auth == CONFIG_AUTH_BEARER || (p->auth == CONFIG_AUTH_DEFAULT &&
	    (p->protocols & CONFIG_PROTO_OPENAI));
	if (bearer && a->api_key != NULL && strncasecmp(a->api_key, "bearer ", 7) == 0)
		config_msg(c, CONFIG_ERROR, (unsigned)a->line, 0, "providers.%s.accounts[%d]: the "
		    "key starts with \"Bearer \": give the key alone", p->id, ai);
	if (a->hard_cap < 0)
		a->hard_cap = p->hard_cap;
	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		q = &a->quota[w];
		lq = &c->cfg->limits.quota[w];
		if (q->microdollars < 0)
			q->microdollars = (int64_t)((double)lq->microdollars * a->weight + 0.5);
		if (q->requests < 0)
			q->requests = (int64_t)((double)lq->requests * a->weight + 0.5);
		if (q->tokens < 0)
			q->tokens = (int64_t)((double)lq->tokens * a->weight + 0.5);
	}
}

/*
 * Checks [server] base_path and brings it to "" or "/a/b": one leading '/',
 * no trailing '/', no empty or dot segments, only unreserved URL bytes, so
 * that it can be written into headers, cookies and pages as it is.
 */
static void
config_base_path(struct config_ctx *c)
{
	char *b = c->cfg->server.base_path;
	const char *seg;
	size_t n, i;

	if (b == NULL) {
		c->cfg->server.base_path = config_strdup(c, "");
		return;
	}
	n = strlen(b);
	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	if (n == 0)
		return;
	if (b[0] != '/' || n > 200)
		goto bad;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]) && strchr("-._~/", b[i]) == NULL)
			goto bad;
	for (seg = b; seg != NULL; seg = strchr(seg + 1, '/'))
		if (seg[1] == '/' || (seg[1] == '.' && (seg[2] == '/' || seg[2] == '\0' ||
		    (seg[2] == '.' && (seg[3] == '/' || seg[3] == '\0')))))
			goto bad;
	return;
bad:
	config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_SERVER], 0, "server.base_path: "
	    "\"%s\" is not a URL path such as \"/quotapool\" (letters, digits, -._~ "
	    "between single '/', at most 200 bytes)", b);
}

/* Checks across sections, fills the defaults that depend on other values. */
static void
config_finish(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_provider *p;
	struct config_model_override *o;
	char buf[PATH_MAX];
	int i, j;

	if (cfg->backup.directory == NULL && cfg->server.state_dir != NULL) {
		if (snprintf(buf, sizeof(buf), "%s/backups", cfg->server.state_dir) >=
		    (int)sizeof(buf))
			config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_SERVER], 0,
			    "server.state_dir: too long");
		else
			cfg->backup.directory = config_strdup(c, buf);
	}
	config_base_path(c);
	/* [retention] requests_days and its older names are one setting. */
	if (cfg->retention.requests_days >= 0 && cfg->dashboard.retention_days >= 0)
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_RETENTION], 0, "retention: "
		    "requests_days and dashboard.retention_days (its older name) are both set: "
		    "keep one");
	if (cfg->retention.requests_days < 0)
		cfg->retention.requests_days = cfg->dashboard.retention_days >= 0 ?
		    cfg->dashboard.retention_days : 30;
	cfg->dashboard.retention_days = cfg->retention.requests_days;
	if (cfg->retention.events_days < 0)
		cfg->retention.events_days = cfg->retention.requests_days;
	if (cfg->routing.backoff_base_s > cfg->routing.backoff_max_s)
		config_msg(c, CONFIG_ERROR, c->sec_line[CONFIG_SEC_ROUTING], 0, "routing: "
		    "backoff_base_s (%d) is above backoff_max_s (%d)", cfg->routing.backoff_base_s,
		    cfg->routing.backoff_max_s);
	if (cfg->server.threads == 1)
		config_msg(c, CONFIG_WARNING, c->sec_line[CONFIG_SEC_SERVER], 0, "server.threads = 1 "
		    "serves one request at a time (EggPool needed 1; quotapool's default is 256)");
	for (i = 0; i < cfg->noverrides; i++) {
		o = &cfg->overrides[i];
		if (o->max_context_tokens > 0 && o->max_output_tokens > o->max_context_tokens)
			config_msg(c, CONFIG_ERROR, (unsigned)o->line, 0, "model_overrides.\"%s\": "
			    "max_output_tokens is above max_context_tokens", o->model);
		if (o->max_context_tokens > 0 && o->max_input_tokens > o->max_context_tokens)
			config_msg(c, CONFIG_ERROR, (unsigned)o->line, 0, "model_overrides.\"%s\": "
			    "max_input_tokens is above max_context_tokens", o->model);
	}
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (p->naccounts == 0 && p->auth == CONFIG_AUTH_NONE) {
			if ((p->accounts = calloc(1, sizeof(*p->accounts))) == NULL) {
				c->oom = 1;
				return;
			}
			p->naccounts = 1;
			p->accounts[0].line = p->line;
			config_defaults(c, CONFIG_SEC_ACCOUNT, &p->accounts[0]);
			config_defaults(c, CONFIG_SEC_REFRESH, &p->accounts[0]);
			p->accounts[0].name = config_strdup(c, p->id);
		} else if (p->naccounts == 0)
			config_msg(c, CONFIG_ERROR, (unsigned)p->line, 0, "[providers.%s] has no "
			    "[[providers.%s.accounts]] (only a provider with auth = \"none\" may "
			    "have none)", p->id, p->id);
		for (j = 0; j < p->naccounts; j++)
			config_finish_account(c, p, j);
	}
	config_add_workers(c);
	config_check_names(c);
	config_resolve_proxies(c);
	if (cfg->nproviders == 0)
		config_msg(c, CONFIG_WARNING, 0, 0, "no [providers.<id>] is defined: nothing can "
		    "be served until one is added");
}

/* Wipes every string of a parsed tree: inline secrets must not outlive the load. */
static void
config_tree_wipe(struct toml_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	if (v->type == TOML_STRING)
		crypto_wipe(v->u.str.ptr, v->u.str.len);
	else if (v->type == TOML_ARRAY)
		for (i = 0; i < v->u.arr.n; i++)
			config_tree_wipe(v->u.arr.items[i]);
	else if (v->type == TOML_TABLE)
		for (i = 0; i < v->u.tab.n; i++)
			config_tree_wipe(v->u.tab.items[i].val);
}

/* Absolute, normalized version of path against the current directory. */
static char *
config_abs_cwd(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return config_abspath("/", path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	return config_abspath(cwd, path);
}

struct config *
config_load_buf(const char *buf, size_t len, const char *path, struct config_diag *diag,
    enum qp_err *err)
{
	struct config_diag local = { NULL, 0, 0 };
	struct config_ctx c;
	struct toml_value *root = NULL;
	struct toml_error terr;
	struct config *cfg = NULL;
	enum qp_err e = QP_OK;
	char cwd[PATH_MAX], *slash;
	int first, i;

	memset(&c, 0, sizeof(c));
	c.diag = diag != NULL ? diag : &local;
	c.cap = c.diag->n;
	first = c.diag->n;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		e = QP_ENOMEM;
		goto out;
	}
	c.cfg = cfg;
	if (path != NULL) {
		if ((cfg->path = config_abs_cwd(path)) == NULL ||
		    (cfg->dir = strdup(cfg->path)) == NULL) {
			e = errno == ENOMEM ? QP_ENOMEM : QP_EIO;
			goto out;
		}
		slash = strrchr(cfg->dir, '/');
		if (slash == cfg->dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			e = QP_EIO;
			goto out;
		}
		if ((cfg->dir = strdup(cwd)) == NULL) {
			e = QP_ENOMEM;
			goto out;
		}
	}
	c.dir = cfg->dir;
	if (len > QP_CONFIG_MAX) {
		config_msg(&c, CONFIG_ERROR, 0, 0, "the file is larger than %d bytes", QP_CONFIG_MAX);
		goto checked;
	}
	memset(&terr, 0, sizeof(terr));
	if ((root = toml_parse(buf, len, &terr)) == NULL) {
		config_msg(&c, CONFIG_ERROR, terr.line, terr.col, "%s", terr.msg[0] ? terr.msg :
		    "not valid TOML");
		goto checked;
	}
	for (i = 0; i < CONFIG_SEC__MAX; i++)
		if (config_sections[i].off != CONFIG_NOFIELD)
			config_defaults(&c, i, (char *)cfg + config_sections[i].off);
	if (!c.oom)
		config_parse_root(&c, root);
	if (!c.oom)
		config_finish(&c);
checked:
	config_diag_sort(c.diag, first);
	if (c.dropped > 0) {
		c.summary = 1;
		config_msg(&c, c.dropped_errors > 0 ? CONFIG_ERROR : CONFIG_WARNING, 0, 0,
		    "%d more problem%s not shown (%d error%s)", c.dropped, c.dropped == 1 ? "" : "s",
		    c.dropped_errors, c.dropped_errors == 1 ? "" : "s");
	}
	if (c.oom)
		e = QP_ENOMEM;
	else if (c.diag->nerrors > 0 || c.dropped_errors > 0)
		e = QP_ECONFIG;
out:
	config_tree_wipe(root);
	toml_free(root);
	config_dotenv_free(&c.dotenv);
	free(c.refs);
	if (e != QP_OK) {
		config_free(cfg);
		cfg = NULL;
	}
	if (diag == NULL)
		config_diag_free(&local);
	if (err != NULL)
		*err = e;
	return cfg;
}

struct config *
config_load(const char *path, struct config_diag *diag, enum qp_err *err)
{
	struct config_diag local = { NULL, 0, 0 };
	struct config *cfg = NULL;
	struct config_ctx c;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, saved;

	if (err != NULL)
		*err = QP_EIO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st.st_size > QP_CONFIG_MAX) {
		memset(&c, 0, sizeof(c));
		c.diag = diag != NULL ? diag : &local;
		c.cap = c.diag->n;
		config_msg(&c, CONFIG_ERROR, 0, 0, "the file is larger than %d bytes",
		    QP_CONFIG_MAX);
		config_diag_free(&local);
		close(fd);
		if (err != NULL)
			*err = QP_ECONFIG;
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		if (err != NULL)
			*err = QP_ENOMEM;
		return NULL;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	fd = -1;
	cfg = config_load_buf(buf, len, path, diag, err);
	crypto_wipe(buf, len);
	free(buf);
	return cfg;
fail:
	saved = errno;
	if (buf != NULL) {
		crypto_wipe(buf, len);
		free(buf);
	}
	close(fd);
	errno = saved;
	return NULL;
}

void
config_free(struct config *cfg)
{
	struct config_provider *p;
	int i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < CONFIG_SEC__MAX; i++)
		if (config_sections[i].off != CONFIG_NOFIELD)
			config_section_free(i, (char *)cfg + config_sections[i].off);
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		for (j = 0; j < p->naccounts; j++) {
			config_section_free(CONFIG_SEC_ACCOUNT, &p->accounts[j]);
			config_section_free(CONFIG_SEC_REFRESH, &p->accounts[j]);
		}
		free(p->accounts);
		config_section_free(CONFIG_SEC_PROVIDER, p);
		config_section_free(CONFIG_SEC_CHECK, p);
		free(p->id);
	}
	free(cfg->providers);
	for (i = 0; i < cfg->nproxies; i++) {
		config_section_free(CONFIG_SEC_PROXY, &cfg->proxies[i]);
		free(cfg->proxies[i].name);
	}
	free(cfg->proxies);
	for (i = 0; i < cfg->noverrides; i++) {
		config_section_free(CONFIG_SEC_OVERRIDE, &cfg->overrides[i]);
		free(cfg->overrides[i].model);
	}
	free(cfg->overrides);
	for (i = 0; i < cfg->naliases; i++) {
		for (j = 0; j < cfg->aliases[i].ntargets; j++)
			free(cfg->aliases[i].targets[j]);
		free(cfg->aliases[i].targets);
		free(cfg->aliases[i].pattern);
	}
	free(cfg->aliases);
	free(cfg->path);
	free(cfg->dir);
	crypto_wipe(cfg, sizeof(*cfg));
	free(cfg);
}

const struct config_provider *
config_provider(const struct config *cfg, const char *id)
{
	int i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].id, id) == 0)
			return &cfg->providers[i];
	return NULL;
}

const struct config_model_override *
config_override(const struct config *cfg, const char *model)
{
	int i;

	for (i = 0; cfg != NULL && model != NULL && i < cfg->noverrides; i++)
		if (strcmp(cfg->overrides[i].model, model) == 0)
			return &cfg->overrides[i];
	return NULL;
}

/* Copies s into buf; QP_ETOOBIG if it does not fit. */
static enum qp_err
config_copy(char *buf, size_t len, const char *s)
{

	if (len == 0 || strlen(s) >= len) {
		if (len > 0)
			buf[0] = '\0';
		return QP_ETOOBIG;
	}
	memcpy(buf, s, strlen(s) + 1);
	return QP_OK;
}

/* 1 if path names an existing file that is not a directory. */
static int
config_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

enum qp_err
config_find_path(const char *cli, char *buf, size_t len)
{
	char cand[PATH_MAX];
	const char *v;
	int n;

	if (cli != NULL)
		return config_copy(buf, len, cli);
	if ((v = getenv("QUOTAPOOL_CONFIG")) != NULL && v[0] != '\0')
		return config_copy(buf, len, v);
	if (config_exists("./config.toml"))
		return config_copy(buf, len, "./config.toml");
	if ((v = getenv("XDG_CONFIG_HOME")) != NULL && v[0] == '/')
		n = snprintf(cand, sizeof(cand), "%s/quotapool/config.toml", v);
	else if ((v = getenv("HOME")) != NULL && v[0] == '/')
		n = snprintf(cand, sizeof(cand), "%s/.config/quotapool/config.toml", v);
	else
		n = -1;
	if (n > 0 && (size_t)n < sizeof(cand) && config_exists(cand))
		return config_copy(buf, len, cand);
	if (config_exists("/etc/quotapool/config.toml"))
		return config_copy(buf, len, "/etc/quotapool/config.toml");
#ifdef QP_SYSCONFDIR
	if (strcmp(QP_SYSCONFDIR, "/etc") != 0) {
		n = snprintf(cand, sizeof(cand), "%s/quotapool/config.toml", QP_SYSCONFDIR);
		if (n > 0 && (size_t)n < sizeof(cand) && config_exists(cand))
			return config_copy(buf, len, cand);
	}
#endif
	config_copy(buf, len, "./config.toml");
	return QP_ENOTFOUND;
}
