/* check.c: quotapool-admin check: every account's health check (or ping), once, now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "catalog.h"
#include "db.h"
#include "healthcheck.h"
#include "upstream.h"

/* What was done to one account. */
enum check_kind {
	CHECK_KIND_NONE,	/* not checked: disabled, no key, nothing to run */
	CHECK_KIND_HTTP,	/* the provider's http check */
	CHECK_KIND_COMMAND,	/* the provider's command check */
	CHECK_KIND_PING,	/* no check configured: the catalog ping */
	CHECK_KIND__MAX
};

static const char *const check_kind_names[CHECK_KIND__MAX] = {
	[CHECK_KIND_NONE] = "none",
	[CHECK_KIND_HTTP] = "http",
	[CHECK_KIND_COMMAND] = "command",
	[CHECK_KIND_PING] = "ping",
};

/* One run of the command. */
struct check_run {
	struct admin	*a;
	struct catalog_db *cdb;		/* pings */
	struct healthcheck_db *hdb;	/* check results and their backoffs */
	struct catalog_fetcher *fetcher; /* the ping of a provider without check */
	struct healthcheck_runner *hr;	/* the configured checks */
	cJSON		*rows;		/* --json: the array of results */
	int		 json;		/* 1 = --json */
	int		 live;		/* accounts whose check passed */
	int		 total;		/* accounts listed */
	int		 oom;		/* 1 if a --json row could not be made */
};

static int
check_usage(void)
{

	admin_err("usage: quotapool-admin check [PROVIDER[/ACCOUNT]] [--json]");
	return 2;
}

static void
check_help(void)
{

	printf("usage: quotapool-admin check [PROVIDER[/ACCOUNT]] [--json]\n\n"
	    "Checks every account (of PROVIDER, or the one ACCOUNT) once, now: with the\n"
	    "provider's configured check (providers.<id>.check: an HTTP request or a\n"
	    "command), else with the catalog ping (its models list fetched with the\n"
	    "account's key). Prints one row per account: id, status (ok, failed,\n"
	    "disabled, unchecked), latency in ms and a detail that never holds a secret.\n"
	    "The results are recorded as the gateway's maintenance records them: a ping\n"
	    "row each, and for a configured check a failing account is left out of\n"
	    "routing (backoff reason health_check) until a check passes.\n\n"
	    "Exit 0 if at least one account is live, 1 if none is, 2 on bad usage.\n");
}

/* Prints or keeps one row. */
static void
check_row(struct check_run *cr, const struct config_provider *p,
    const struct config_account *acct, enum check_kind kind, const char *status,
    int64_t latency_ms, int http_status, int exit_code, const char *detail)
{
	char id[200], line[512];
	cJSON *o;

	cr->total++;
	snprintf(id, sizeof(id), "%s/%s", p->id, acct->name);
	if (!cr->json) {
		printf("%s\n", healthcheck_table_row(line, sizeof(line), id, status, latency_ms,
		    detail));
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(cr->rows, o) ||
	    cJSON_AddStringToObject(o, "id", id) == NULL ||
	    cJSON_AddStringToObject(o, "provider", p->id) == NULL ||
	    cJSON_AddStringToObject(o, "account", acct->name) == NULL ||
	    cJSON_AddStringToObject(o, "check", check_kind_names[kind]) == NULL ||
	    cJSON_AddStringToObject(o, "status", status) == NULL ||
	    (latency_ms >= 0 ? cJSON_AddNumberToObject(o, "latency_ms", (double)latency_ms) :
	    cJSON_AddNullToObject(o, "latency_ms")) == NULL ||
	    (http_status > 0 ? cJSON_AddNumberToObject(o, "http_status", http_status) :
	    cJSON_AddNullToObject(o, "http_status")) == NULL ||
	    (exit_code >= 0 ? cJSON_AddNumberToObject(o, "exit_code", exit_code) :
	    cJSON_AddNullToObject(o, "exit_code")) == NULL ||
	    cJSON_AddStringToObject(o, "detail", detail) == NULL)
		cr->oom = 1;
}

/* The configured check of acct, recorded with its effect on the account. */
static void
check_configured(struct check_run *cr, const struct config_provider *p,
    const struct config_account *acct)
{
	struct healthcheck_result r;
	enum qp_err err;

	err = healthcheck_run(cr->hr, cr->a->cfg, p, acct, &r);
	if (err != QP_OK) {
		admin_err("%s/%s: %s", p->id, acct->name, qp_strerror(err));
		return;
	}
	if (healthcheck_record(cr->hdb, p, acct, &r, db_now_ms(), NULL) != QP_OK) {
		admin_err("cannot record the check of %s/%s: %s", p->id, acct->name,
		    sqlite3_errmsg(cr->a->db));
	}
	cr->live += r.ok;
	check_row(cr, p, acct, p->check.type == CONFIG_CHECK_HTTP ? CHECK_KIND_HTTP :
	    CHECK_KIND_COMMAND, r.ok ? "ok" : "failed", r.latency_ms, r.status, r.exit_code,
	    r.detail);
}

/* The catalog ping of acct (no check configured), recorded as the catalog refresh does. */
static void
check_ping(struct check_run *cr, const struct config_provider *p,
    const struct config_account *acct)
{
	struct catalog_list l;
	struct catalog_ping ping;
	char detail[CATALOG_ERROR_MAX + 16];
	enum qp_err err;

	if (cr->fetcher == NULL && (cr->fetcher = catalog_fetcher_new(NULL, &err)) == NULL) {
		admin_err("cannot set up libcurl: %s", qp_strerror(err));
		return;
	}
	memset(&l, 0, sizeof(l));
	(void)catalog_fetch(cr->fetcher, cr->a->cfg, p, acct, &l, &ping);
	catalog_list_free(&l);
	if (catalog_record_ping(cr->cdb, p->id, acct->name, &ping) != QP_OK) {
		admin_err("cannot record the ping of %s/%s: %s", p->id, acct->name,
		    sqlite3_errmsg(cr->a->db));
	}
	if (ping.ok)
		snprintf(detail, sizeof(detail), "ping: HTTP %d, %d models", ping.status_code,
		    ping.model_count);
	else
		snprintf(detail, sizeof(detail), "ping: %s", ping.error[0] != '\0' ?
		    ping.error : "no answer");
	cr->live += ping.ok;
	check_row(cr, p, acct, CHECK_KIND_PING, ping.ok ? "ok" : "failed", ping.latency_ms,
	    ping.status_code, -1, detail);
}

/* Checks account acct of p, or says why it is not. */
static void
check_account(struct check_run *cr, const struct config_provider *p,
    const struct config_account *acct)
{

	if (!p->enabled || !acct->enabled)
		check_row(cr, p, acct, CHECK_KIND_NONE, "disabled", -1, 0, -1, !p->enabled ?
		    "the provider is disabled" : "the account is disabled");
	else if (!healthcheck_account_wanted(p, acct))
		check_row(cr, p, acct, CHECK_KIND_NONE, "unchecked", -1, 0, -1,
		    "the account has no key");
	else if (p->check.type != CONFIG_CHECK_NONE)
		check_configured(cr, p, acct);
	else if (p->models_path != NULL)
		check_ping(cr, p, acct);
	else
		check_row(cr, p, acct, CHECK_KIND_NONE, "unchecked", -1, 0, -1,
		    "no check configured and no models_path to ping");
}

/* Splits PROVIDER[/ACCOUNT] and finds them; 0, or 2 (message printed). */
static int
check_target(struct admin *a, const char *arg, const struct config_provider **p,
    const struct config_account **acct)
{
	char prov[128];
	const char *slash;
	size_t n;
	int j;

	*p = NULL;
	*acct = NULL;
	if (arg == NULL)
		return 0;
	slash = strchr(arg, '/');
	n = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(prov) || (slash != NULL && slash[1] == '\0')) {
		admin_err("'%s' is not PROVIDER or PROVIDER/ACCOUNT", arg);
		return 2;
	}
	memcpy(prov, arg, n);
	prov[n] = '\0';
	if ((*p = config_provider(a->cfg, prov)) == NULL) {
		admin_err("no provider '%s' in %s", prov, a->config_path);
		return 2;
	}
	if (slash == NULL)
		return 0;
	for (j = 0; j < (*p)->naccounts; j++)
		if (strcmp((*p)->accounts[j].name, slash + 1) == 0)
			*acct = &(*p)->accounts[j];
	if (*acct == NULL) {
		admin_err("provider %s has no account '%s'", prov, slash + 1);
		return 2;
	}
	return 0;
}

int
cmd_check(struct admin *a, int argc, char **argv)
{
	const struct config_provider *only = NULL, *p;
	const struct config_account *one = NULL;
	struct upstream_share *sh = NULL;
	struct check_run cr;
	const char *target = NULL;
	char errbuf[512], line[256];
	cJSON *root = NULL;
	enum qp_err err;
	int i, j, rc = 1;

	memset(&cr, 0, sizeof(cr));
	cr.a = a;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			check_help();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0)
			cr.json = 1;
		else if (argv[i][0] == '-' || target != NULL)
			return check_usage();
		else
			target = argv[i];
	}
	if (admin_open_migrated_db(a) != 0)
		return 1;
	if ((rc = check_target(a, target, &only, &one)) != 0)
		return rc;
	rc = 1;
	if ((cr.cdb = catalog_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (cr.hdb = healthcheck_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	if ((sh = upstream_share_new(&err)) == NULL ||
	    (cr.hr = healthcheck_runner_new(sh, NULL, &err)) == NULL) {
		admin_err("cannot set up libcurl: %s", qp_strerror(err));
		goto out;
	}
	if (cr.json && ((root = cJSON_CreateObject()) == NULL ||
	    (cr.rows = cJSON_AddArrayToObject(root, "accounts")) == NULL)) {
		admin_err("out of memory");
		goto out;
	}
	if (!cr.json)
		printf("%s\n", healthcheck_table_header(line, sizeof(line)));
	for (i = 0; i < a->cfg->nproviders; i++) {
		p = &a->cfg->providers[i];
		if (only != NULL && p != only)
			continue;
		for (j = 0; j < p->naccounts; j++)
			if (one == NULL || &p->accounts[j] == one)
				check_account(&cr, p, &p->accounts[j]);
	}
	if (cr.json) {
		if (cJSON_AddNumberToObject(root, "live", cr.live) == NULL ||
		    cJSON_AddNumberToObject(root, "checked", cr.total) == NULL ||
		    cr.oom) {
			admin_err("out of memory");
			goto out;
		}
		rc = admin_print_json(root);
		root = NULL;
		if (rc != 0)
			goto out;
	} else
		printf("%d of %d account%s live\n", cr.live, cr.total, cr.total == 1 ? "" : "s");
	rc = cr.live > 0 ? 0 : 1;
out:
	cJSON_Delete(root);
	healthcheck_runner_free(cr.hr);
	upstream_share_free(sh);
	catalog_fetcher_free(cr.fetcher);
	healthcheck_db_free(cr.hdb);
	catalog_db_free(cr.cdb);
	return rc;
}
