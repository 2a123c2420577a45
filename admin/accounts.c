/* accounts.c: quotapool-admin accounts list|status|enable|disable|explain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "db.h"
#include "endpoint.h"
#include "select.h"
#include "stats.h"

/* Longest operator note kept with a disable. */
#define ACCOUNTS_NOTE_MAX	200

/* The statements of the operator's overrides (schema/0003_account_overrides.sql). */
enum accounts_stmt {
	ACCOUNTS_STMT_LIST,	/* every override */
	ACCOUNTS_STMT_DISABLE,	/* take one account out */
	ACCOUNTS_STMT_ENABLE,	/* let it back in */
	ACCOUNTS_STMT__MAX
};

static const char *const accounts_sql[ACCOUNTS_STMT__MAX] = {
	[ACCOUNTS_STMT_LIST] = "SELECT account_name, updated_at, note FROM account_overrides "
	    "WHERE state = 'disabled'",
	[ACCOUNTS_STMT_DISABLE] = "INSERT INTO account_overrides (account_name, state, note, "
	    "updated_at) VALUES (?1, 'disabled', ?2, ?3) ON CONFLICT (account_name) DO UPDATE "
	    "SET state = excluded.state, note = excluded.note, updated_at = excluded.updated_at",
	[ACCOUNTS_STMT_ENABLE] = "DELETE FROM account_overrides WHERE account_name = ?1",
};

/* One configured account with what the database says about it. */
struct accounts_row {
	const struct config_provider *p;	/* its provider (borrowed from the config) */
	const struct config_account *a;		/* the account */
	int64_t		 disabled_at;	/* when the operator disabled it, 0 = not */
	char		 note[ACCOUNTS_NOTE_MAX + 1]; /* the operator's reason, "" = none */
};

/* What one run of the command group holds. */
struct accounts_ctx {
	struct admin	*a;
	sqlite3_stmt	*st[ACCOUNTS_STMT__MAX];	/* prepared on a->db */
	struct accounts_row *rows;		/* every configured account, file order */
	int		 n;
};

static const char accounts_usage_text[] =
    "usage: quotapool-admin accounts list [--json]\n"
    "       quotapool-admin accounts status [NAME] [--json]\n"
    "       quotapool-admin accounts disable NAME [--note TEXT]\n"
    "       quotapool-admin accounts enable NAME\n"
    "       quotapool-admin accounts explain MODEL [--provider ID] "
    "[--protocol openai|anthropic] [--json]\n";

static int
accounts_usage(void)
{

	admin_err("usage: quotapool-admin accounts list|status|disable|enable|explain ... "
	    "(see quotapool-admin accounts --help)");
	return 2;
}

static void
accounts_help(void)
{

	printf("%s\n"
	    "list      the configured accounts: provider, tier, weight, where the key comes\n"
	    "          from (never the key; \"refreshed token\" for an account that\n"
	    "          refreshes), and whether the configuration or the operator\n"
	    "          disabled them.\n"
	    "status    what the dashboard's accounts page shows: state, running backoffs\n"
	    "          with their scope (the whole account, or one model), quota windows\n"
	    "          (5h, 7d, 30d) against their limits, requests in flight, and for an\n"
	    "          account that refreshes its token's expiry and last refresh.\n"
	    "disable   takes an account out of routing at once, in every running process,\n"
	    "          until `accounts enable`; kept in the database, so it survives\n"
	    "          restarts. The routing decisions name it operator_disabled.\n"
	    "enable    undoes `disable`. An account the configuration disables stays\n"
	    "          disabled (exit 1): change the configuration for that.\n"
	    "explain   runs the gateway's account selection for MODEL (as a client names\n"
	    "          it, e.g. m1 or m1/provider) without sending, reserving or writing\n"
	    "          anything, and prints every account with why it is chosen, eligible\n"
	    "          or excluded. Exit 0 when an account would serve it, 1 when the\n"
	    "          request would be refused.\n\n"
	    "Exit 0 on success, 1 on a failure, 2 on bad usage.\n", accounts_usage_text);
}

/* Formats ms since the epoch as RFC 3339 UTC, "never" for 0 or less. */
static const char *
accounts_time(int64_t ms, char *buf, size_t len)
{

	if (ms <= 0)
		snprintf(buf, len, "never");
	else
		admin_iso_time(ms, buf, len);
	return buf;
}

static void
accounts_ctx_free(struct accounts_ctx *c)
{

	db_finalize_all(c->st, ACCOUNTS_STMT__MAX);
	free(c->rows);
}

/* Opens the migrated database, prepares the statements and reads the overrides. 0 or -1. */
static int
accounts_ctx_open(struct accounts_ctx *c, struct admin *a)
{
	const struct config *cfg;
	sqlite3_stmt *st;
	char errbuf[512];
	int i, j, n = 0, rc;

	memset(c, 0, sizeof(*c));
	c->a = a;
	if (admin_open_migrated_db(a) != 0)
		return -1;
	cfg = a->cfg;
	if (db_prepare_all(a->db, accounts_sql, ACCOUNTS_STMT__MAX, c->st, errbuf,
	    sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		return -1;
	}
	for (i = 0; i < cfg->nproviders; i++)
		n += cfg->providers[i].naccounts;
	if ((c->rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*c->rows))) == NULL) {
		admin_err("out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++) {
			c->rows[c->n].p = &cfg->providers[i];
			c->rows[c->n].a = &cfg->providers[i].accounts[j];
			c->n++;
		}
	st = c->st[ACCOUNTS_STMT_LIST];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *note = (const char *)sqlite3_column_text(st, 2);

		for (i = 0; name != NULL && i < c->n; i++)
			if (strcmp(c->rows[i].a->name, name) == 0) {
				c->rows[i].disabled_at = sqlite3_column_int64(st, 1) > 0 ?
				    sqlite3_column_int64(st, 1) : 1;
				snprintf(c->rows[i].note, sizeof(c->rows[i].note), "%s",
				    note != NULL ? note : "");
			}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		admin_err("cannot read account_overrides: %s", sqlite3_errmsg(a->db));
		return -1;
	}
	return 0;
}

static struct accounts_row *
accounts_find(struct accounts_ctx *c, const char *name)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->rows[i].a->name, name) == 0)
			return &c->rows[i];
	return NULL;
}

/* Where the key comes from, never the key: "inline", "env", "none". */
static const char *
accounts_key_source(const struct accounts_row *r)
{

	if (r->a->api_key_env != NULL)
		return "env";
	return r->a->api_key != NULL ? "inline" : "none";
}

/* "enabled", "disabled (configuration)", "disabled (operator)". */
static const char *
accounts_state(const struct accounts_row *r)
{

	if (!r->p->enabled || !r->a->enabled)
		return "disabled (configuration)";
	return r->disabled_at > 0 ? "disabled (operator)" : "enabled";
}

static int
accounts_list(struct accounts_ctx *c, int json)
{
	const struct accounts_row *r;
	cJSON *arr, *o;
	char key[160], when[40];
	int i;

	if (json) {
		if ((arr = cJSON_CreateArray()) == NULL)
			return 1;
		for (i = 0; i < c->n; i++) {
			r = &c->rows[i];
			if ((o = cJSON_CreateObject()) == NULL)
				break;
			cJSON_AddItemToArray(arr, o);
			cJSON_AddStringToObject(o, "name", r->a->name);
			cJSON_AddStringToObject(o, "provider", r->p->id);
			cJSON_AddNumberToObject(o, "routing_priority", r->p->routing_priority);
			cJSON_AddNumberToObject(o, "weight", r->a->weight);
			cJSON_AddBoolToObject(o, "enabled_in_config", r->p->enabled &&
			    r->a->enabled);
			cJSON_AddBoolToObject(o, "disabled_by_operator", r->disabled_at > 0);
			if (r->disabled_at > 1)
				cJSON_AddStringToObject(o, "disabled_at",
				    admin_iso_time(r->disabled_at, when, sizeof(when)));
			else
				cJSON_AddNullToObject(o, "disabled_at");
			if (r->note[0] != '\0')
				cJSON_AddStringToObject(o, "note", r->note);
			else
				cJSON_AddNullToObject(o, "note");
			cJSON_AddBoolToObject(o, "routed", r->p->enabled && r->a->enabled &&
			    r->disabled_at == 0);
			cJSON_AddStringToObject(o, "key", accounts_key_source(r));
			if (r->a->api_key_env != NULL) {
				cJSON_AddStringToObject(o, "key_env", r->a->api_key_env);
				cJSON_AddBoolToObject(o, "key_set", r->a->api_key != NULL);
			}
			cJSON_AddBoolToObject(o, "refresh", r->a->refresh.url != NULL);
			if (r->a->refresh.url != NULL) {
				cJSON_AddStringToObject(o, "refresh_url", r->a->refresh.url);
				cJSON_AddStringToObject(o, "refresh_body_env",
				    r->a->refresh.body_env);
			}
		}
		return admin_print_json(arr);
	}
	printf("%-24s %-16s %4s %6s  %-32s %s\n", "ACCOUNT", "PROVIDER", "TIER", "WEIGHT",
	    "KEY", "STATE");
	for (i = 0; i < c->n; i++) {
		r = &c->rows[i];
		if (r->a->refresh.url != NULL)
			snprintf(key, sizeof(key), "refreshed token ($%s)", r->a->refresh.body_env);
		else if (r->a->api_key_env != NULL)
			snprintf(key, sizeof(key), "$%s%s", r->a->api_key_env,
			    r->a->api_key != NULL ? "" : " (unset)");
		else
			snprintf(key, sizeof(key), "%s", accounts_key_source(r));
		printf("%-24s %-16s %4d %6.3g  %-32s %s", r->a->name, r->p->id,
		    r->p->routing_priority, r->a->weight, key, accounts_state(r));
		if (r->disabled_at > 1)
			printf(" since %s", admin_iso_time(r->disabled_at, when, sizeof(when)));
		if (r->note[0] != '\0')
			printf(": %s", r->note);
		printf("\n");
	}
	return 0;
}

/* Integer member k of o, or 0. */
static double
accounts_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* String member k of o, or NULL. */
static const char *
accounts_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Prints "used[ / limit (pct%)] what" of one quota kind of a window. */
static void
accounts_quota(const cJSON *w, const char *k, const char *what, int money)
{
	char lim[40], pct[40];
	const cJSON *l;

	l = cJSON_GetObjectItemCaseSensitive(w, k);
	if (money)
		printf("$%.6f", (cJSON_IsNumber(l) ? l->valuedouble : 0) / 1e6);
	else
		printf("%.0f", cJSON_IsNumber(l) ? l->valuedouble : 0);
	snprintf(lim, sizeof(lim), "%s_limit", k);
	snprintf(pct, sizeof(pct), "%s_pct", k);
	l = cJSON_GetObjectItemCaseSensitive(w, lim);
	if (cJSON_IsNumber(l)) {
		if (money)
			printf(" / $%.6f", l->valuedouble / 1e6);
		else
			printf(" / %.0f", l->valuedouble);
		printf(" (%.1f%%)", accounts_num(w, pct));
	}
	printf(" %s", what);
}

/* Prints one account of the accounts dataset as a block of lines. */
static void
accounts_status_one(const cJSON *o)
{
	const cJSON *mb, *w, *tok;
	const char *s;

	printf("%s (provider %s): %s", accounts_str(o, "name"), accounts_str(o, "provider"),
	    accounts_str(o, "status"));
	if ((s = accounts_str(o, "disabled_by")) != NULL)
		printf(" by the %s", s);
	if ((s = accounts_str(o, "disabled_at_utc")) != NULL)
		printf(" since %s", s);
	if ((s = accounts_str(o, "disabled_note")) != NULL)
		printf(": %s", s);
	printf(", %.0f in flight\n", accounts_num(o, "in_flight"));
	if ((s = accounts_str(o, "backoff_until_utc")) != NULL)
		printf("  backoff of the whole account until %s (%s, %.0f failures in a row)\n",
		    s, accounts_str(o, "backoff_reason"), accounts_num(o, "consecutive_failures"));
	cJSON_ArrayForEach(mb, cJSON_GetObjectItemCaseSensitive(o, "model_backoffs"))
		printf("  backoff of model %s only until %s (%s, %.0f failures in a row)\n",
		    accounts_str(mb, "model"), accounts_str(mb, "backoff_until_utc"),
		    accounts_str(mb, "reason"), accounts_num(mb, "consecutive_failures"));
	tok = cJSON_GetObjectItemCaseSensitive(o, "token");
	if (cJSON_IsObject(tok)) {
		s = accounts_str(tok, "expires_at_utc");
		printf("  token: %s%s", s != NULL ? "expires " : "expires (not said)",
		    s != NULL ? s : "");
		if ((s = accounts_str(tok, "refreshed_at_utc")) != NULL)
			printf(", refreshed %s", s);
		if ((s = accounts_str(tok, "last_attempt_at_utc")) != NULL)
			printf(", last refresh %s: %s", s, accounts_str(tok, "last_result"));
		else
			printf(", never refreshed");
		printf(" (%.0f refreshes, %.0f failures in a row)\n",
		    accounts_num(tok, "refreshes"), accounts_num(tok, "failures"));
	}
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(o, "windows")) {
		printf("  %-4s ", accounts_str(w, "window"));
		accounts_quota(w, "requests", "requests, ", 0);
		accounts_quota(w, "tokens", "tokens, ", 0);
		accounts_quota(w, "spend_microdollars", "spent\n", 1);
	}
}

static int
accounts_status(struct accounts_ctx *c, const char *name, int json)
{
	struct stats_db *s = NULL;
	struct stats_query q;
	cJSON *root = NULL, *arr, *it, *next;
	char errbuf[512];
	enum qp_err err;
	int rc = 1, shown = 0;

	if (name != NULL && accounts_find(c, name) == NULL) {
		admin_err("no account named '%s' in %s", name, c->a->config_path);
		return 1;
	}
	if ((s = stats_db_new(c->a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	stats_query_init(&q, db_now_ms());
	q.include_disabled = 1;
	if ((root = stats_accounts(s, c->a->cfg, &q, &err)) == NULL) {
		admin_err("cannot read the accounts' state: %s", qp_strerror(err));
		goto out;
	}
	arr = cJSON_GetObjectItemCaseSensitive(root, "accounts");
	/* One account asked for: the others go. */
	for (it = arr != NULL ? arr->child : NULL; it != NULL; it = next) {
		next = it->next;
		if (name != NULL && (accounts_str(it, "name") == NULL ||
		    strcmp(accounts_str(it, "name"), name) != 0))
			cJSON_Delete(cJSON_DetachItemViaPointer(arr, it));
	}
	if (json) {
		rc = admin_print_json(root);
		root = NULL;
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		accounts_status_one(it);
		shown++;
	}
	if (shown == 0)
		printf("no accounts are configured\n");
	rc = 0;
out:
	cJSON_Delete(root);
	stats_db_free(s);
	return rc;
}

/* Runs one statement of the overrides in a write transaction. 0 or -1. */
static int
accounts_write(struct accounts_ctx *c, enum accounts_stmt which, const char *name,
    const char *note, int *changed)
{
	sqlite3_stmt *st = c->st[which];
	int rc;

	if (db_begin_write(c->a->db) != QP_OK) {
		admin_err("the database is busy: %s", sqlite3_errmsg(c->a->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (which == ACCOUNTS_STMT_DISABLE) {
		if (note != NULL)
			sqlite3_bind_text(st, 2, note, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, db_now_ms());
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		admin_err("cannot write account_overrides: %s", sqlite3_errmsg(c->a->db));
		db_rollback(c->a->db);
		return -1;
	}
	*changed = sqlite3_changes(c->a->db);
	if (db_commit(c->a->db) != QP_OK) {
		admin_err("cannot commit: %s", sqlite3_errmsg(c->a->db));
		return -1;
	}
	return 0;
}

/* 1 if note is printable text of at most ACCOUNTS_NOTE_MAX bytes. */
static int
accounts_note_ok(const char *note)
{
	const unsigned char *p;

	if (strlen(note) > ACCOUNTS_NOTE_MAX)
		return 0;
	for (p = (const unsigned char *)note; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int
accounts_set(struct accounts_ctx *c, const char *name, int disable, const char *note)
{
	struct accounts_row *r;
	int changed = 0;

	if ((r = accounts_find(c, name)) == NULL) {
		admin_err("no account named '%s' in %s (see quotapool-admin accounts list)", name,
		    c->a->config_path);
		return 1;
	}
	if (disable) {
		if (accounts_write(c, ACCOUNTS_STMT_DISABLE, name, note, &changed) != 0)
			return 1;
		printf("account '%s' disabled: the gateway stops choosing it from its next "
		    "request on\n", name);
		if (!r->p->enabled || !r->a->enabled)
			printf("(the configuration disables it too)\n");
		return 0;
	}
	if (accounts_write(c, ACCOUNTS_STMT_ENABLE, name, NULL, &changed) != 0)
		return 1;
	if (!r->p->enabled || !r->a->enabled) {
		admin_err("account '%s' stays disabled: %s disables it (enabled = false); change "
		    "the configuration and restart", name, !r->p->enabled ? "its provider in the "
		    "configuration" : "the configuration");
		return 1;
	}
	if (changed > 0)
		printf("account '%s' enabled: the gateway may choose it again from its next "
		    "request on\n", name);
	else
		printf("account '%s' was not disabled by the operator: nothing to do\n", name);
	return 0;
}

/* ---- explain ----------------------------------------------------------- */

/* What an excluded or eligible account's entry of detail_json means, in words. */
static void
accounts_why(const cJSON *e, const char *chosen, char *buf, size_t len)
{
	const char *reason = accounts_str(e, "reason"), *acct = accounts_str(e, "account");
	const cJSON *score = cJSON_GetObjectItemCaseSensitive(e, "score");
	char when[40];

	buf[0] = '\0';
	if (reason == NULL)
		return;
	if (strcmp(reason, "eligible") == 0) {
		if (cJSON_GetArraySize(score) >= 3) {
			snprintf(buf, len, "%s: quota pressure %.4g, %.0f in flight, last used %s",
			    chosen != NULL && acct != NULL && strcmp(chosen, acct) == 0 ?
			    "chosen" : "scored lower", cJSON_GetArrayItem(score, 0)->valuedouble,
			    cJSON_GetArrayItem(score, 1)->valuedouble,
			    accounts_time((int64_t)cJSON_GetArrayItem(score, 2)->valuedouble,
			    when, sizeof(when)));
		} else
			snprintf(buf, len, "eligible in tier %.0f, below the tier chosen",
			    accounts_num(e, "tier"));
	} else if (strcmp(reason, "provider_disabled") == 0)
		snprintf(buf, len, "its provider is disabled in the configuration");
	else if (strcmp(reason, "disabled") == 0)
		snprintf(buf, len, "disabled in the configuration");
	else if (strcmp(reason, "operator_disabled") == 0)
		snprintf(buf, len, "disabled by the operator since %s (quotapool-admin accounts "
		    "enable %s)", accounts_time((int64_t)accounts_num(e, "since"), when,
		    sizeof(when)), acct != NULL ? acct : "NAME");
	else if (strcmp(reason, "no_credentials") == 0)
		snprintf(buf, len, "its key variable is not set");
	else if (strcmp(reason, "no_model") == 0)
		snprintf(buf, len, "its provider does not serve the model");
	else if (strcmp(reason, "wrong_protocol") == 0)
		snprintf(buf, len, "its provider serves the model over no protocol this one "
		    "reaches, even translated");
	else if (strcmp(reason, "already_tried") == 0)
		snprintf(buf, len, "tried already by this request");
	else if (strcmp(reason, "backoff") == 0 || strcmp(reason, "auth_quarantine") == 0)
		snprintf(buf, len, "%s %s until %s (%s)", strcmp(reason, "backoff") == 0 ?
		    "backoff" : "credentials refused: quarantine",
		    accounts_str(e, "scope") != NULL && strcmp(accounts_str(e, "scope"),
		    "model") == 0 ? "of this model only" : "of the whole account",
		    accounts_time((int64_t)accounts_num(e, "until"), when, sizeof(when)),
		    accounts_str(e, "backoff") != NULL ? accounts_str(e, "backoff") : "?");
	else
		snprintf(buf, len, "%s", reason);
}

/* The verdict column of an entry: chosen, eligible or the exclusion reason. */
static const char *
accounts_verdict(const cJSON *e, const char *chosen)
{
	const char *reason = accounts_str(e, "reason"), *acct = accounts_str(e, "account");

	if (reason != NULL && strcmp(reason, "eligible") == 0 && chosen != NULL &&
	    acct != NULL && strcmp(chosen, acct) == 0)
		return "chosen";
	return reason != NULL ? reason : "?";
}

static int
accounts_explain(struct accounts_ctx *c, const char *model, const char *provider,
    unsigned proto, int json)
{
	const struct config *cfg = c->a->cfg;
	const struct config_provider *pinned = NULL;
	struct select_db *s = NULL;
	struct select_query q;
	struct select_result res;
	cJSON *detail = NULL, *root = NULL, *o, *e;
	const char *slash, *chosen;
	char base[512], why[512], when[40];
	enum qp_err err;
	int rc = 1;

	/* The data plane's rule: the part after the last '/' pins a configured provider. */
	snprintf(base, sizeof(base), "%s", model);
	slash = strrchr(model, '/');
	if (slash != NULL && slash != model && slash[1] != '\0' &&
	    (pinned = config_provider(cfg, slash + 1)) != NULL)
		base[slash - model] = '\0';
	if (provider != NULL) {
		if (config_provider(cfg, provider) == NULL) {
			admin_err("no provider '%s' in %s", provider, c->a->config_path);
			return 1;
		}
		if (pinned != NULL && strcmp(pinned->id, provider) != 0) {
			admin_err("%s names provider %s, --provider says %s", model, pinned->id,
			    provider);
			return 2;
		}
		pinned = config_provider(cfg, provider);
	}
	if ((s = select_new(c->a->db, cfg, &err, why, sizeof(why))) == NULL) {
		admin_err("%s", why);
		return 1;
	}
	memset(&q, 0, sizeof(q));
	q.model = base;
	q.provider = pinned != NULL ? pinned->id : NULL;
	q.protocol = proto;
	/* As the data plane: providers of the other protocol are reached by translation. */
	q.via = endpoint_get(proto == CONFIG_PROTO_ANTHROPIC ? ENDPOINT_MESSAGES :
	    ENDPOINT_CHAT)->via;
	q.now = db_now_ms();
	if ((err = select_choose(s, &q, &res)) != QP_OK) {
		admin_err("cannot choose: %s", sqlite3_errmsg(c->a->db));
		goto out;
	}
	rc = res.status == SELECT_OK ? 0 : 1;
	detail = cJSON_ParseWithLength(res.detail_json, res.detail_len);
	chosen = res.account != NULL ? res.account->name : NULL;
	if (json) {
		if ((root = cJSON_CreateObject()) == NULL) {
			rc = 1;
			goto out;
		}
		cJSON_AddStringToObject(root, "model", model);
		cJSON_AddStringToObject(root, "base_model", base);
		if (q.provider != NULL)
			cJSON_AddStringToObject(root, "provider", q.provider);
		else
			cJSON_AddNullToObject(root, "provider");
		cJSON_AddStringToObject(root, "protocol", select_protocol_name(proto));
		cJSON_AddStringToObject(root, "status", select_status_name(res.status));
		cJSON_AddNumberToObject(root, "http_status", select_status_http(res.status));
		if (res.status == SELECT_OK &&
		    (o = cJSON_AddObjectToObject(root, "chosen")) != NULL) {
			cJSON_AddStringToObject(o, "account", res.account->name);
			cJSON_AddStringToObject(o, "provider", res.provider->id);
			cJSON_AddNumberToObject(o, "tier", res.tier);
		} else
			cJSON_AddNullToObject(root, "chosen");
		if (res.retry_at > 0)
			cJSON_AddStringToObject(root, "retry_at", admin_iso_time(res.retry_at, when,
			    sizeof(when)));
		cJSON_AddItemToObject(root, "decision", detail != NULL ? detail :
		    cJSON_CreateObject());
		detail = NULL;
		if (admin_print_json(root) != 0)
			rc = 1;
		root = NULL;
		goto out;
	}
	printf("%s over %s%s%s: ", model, select_protocol_name(proto),
	    q.provider != NULL ? ", provider " : "", q.provider != NULL ? q.provider : "");
	if (res.status == SELECT_OK)
		printf("the next request goes to account %s of provider %s (tier %d)%s\n",
		    res.account->name, res.provider->id, res.tier,
		    (res.served & proto) ? "" : ", translated");
	else {
		printf("no account would serve it: %s (HTTP %d)", select_status_name(res.status),
		    select_status_http(res.status));
		if (res.retry_at > 0)
			printf(", first one back at %s", admin_iso_time(res.retry_at, when,
			    sizeof(when)));
		printf("\n");
	}
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(detail, "accounts")) > 0) {
		printf("%-24s %-16s %-18s %s\n", "ACCOUNT", "PROVIDER", "VERDICT", "WHY");
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(detail, "accounts")) {
			accounts_why(e, chosen, why, sizeof(why));
			printf("%-24s %-16s %-18s %s\n", accounts_str(e, "account"),
			    accounts_str(e, "provider"), accounts_verdict(e, chosen), why);
		}
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(detail, "truncated")))
		printf("(more accounts than the decision records: the list is cut)\n");
out:
	cJSON_Delete(root);
	cJSON_Delete(detail);
	select_free(s);
	return rc;
}

int
cmd_accounts(struct admin *a, int argc, char **argv)
{
	struct accounts_ctx c;
	const char *sub = NULL, *name = NULL, *provider = NULL, *note = NULL;
	unsigned proto = CONFIG_PROTO_OPENAI;
	int i, json = 0, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			accounts_help();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--provider") == 0 && i + 1 < argc)
			provider = argv[++i];
		else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
			note = argv[++i];
		else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "openai") == 0)
				proto = CONFIG_PROTO_OPENAI;
			else if (strcmp(argv[i], "anthropic") == 0)
				proto = CONFIG_PROTO_ANTHROPIC;
			else {
				admin_err("--protocol: openai or anthropic");
				return 2;
			}
		} else if (argv[i][0] == '-')
			return accounts_usage();
		else if (sub == NULL)
			sub = argv[i];
		else if (name == NULL)
			name = argv[i];
		else
			return accounts_usage();
	}
	if (sub == NULL)
		return accounts_usage();
	/* Each subcommand takes only its own arguments. */
	if (strcmp(sub, "list") == 0) {
		if (name != NULL || provider != NULL || note != NULL)
			return accounts_usage();
	} else if (strcmp(sub, "status") == 0) {
		if (provider != NULL || note != NULL)
			return accounts_usage();
	} else if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) {
		if (name == NULL || json || provider != NULL ||
		    (note != NULL && strcmp(sub, "enable") == 0))
			return accounts_usage();
		if (note != NULL && !accounts_note_ok(note)) {
			admin_err("--note: at most %d bytes of printable text", ACCOUNTS_NOTE_MAX);
			return 2;
		}
	} else if (strcmp(sub, "explain") == 0) {
		if (name == NULL || note != NULL)
			return accounts_usage();
	} else {
		admin_err("unknown accounts command '%s' (list, status, disable, enable, explain)",
		    sub);
		return 2;
	}
	if (accounts_ctx_open(&c, a) != 0) {
		accounts_ctx_free(&c);
		return 1;
	}
	if (strcmp(sub, "list") == 0)
		rc = accounts_list(&c, json);
	else if (strcmp(sub, "status") == 0)
		rc = accounts_status(&c, name, json);
	else if (strcmp(sub, "explain") == 0)
		rc = accounts_explain(&c, name, provider, proto, json);
	else
		rc = accounts_set(&c, name, strcmp(sub, "disable") == 0, note);
	accounts_ctx_free(&c);
	return rc;
}
