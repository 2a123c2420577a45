/* models.c: quotapool-admin models list|refresh: the catalog served, fetched on demand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "catalog.h"
#include "db.h"

static int
models_usage(void)
{

	admin_err("usage: quotapool-admin models list [--provider ID] [--json] | "
	    "models refresh [ID] [--json]");
	return 2;
}

static void
models_help(void)
{

	printf("usage: quotapool-admin models list [--provider ID] [--json]\n"
	    "       quotapool-admin models refresh [ID] [--json]\n\n"
	    "list     the model ids the gateway serves at /v1/models, from the catalog in\n"
	    "         the database (upstream lists as last fetched, and static models), with\n"
	    "         their provider and name; --provider keeps one provider's.\n"
	    "refresh  fetches the models list of provider ID (default: every provider that\n"
	    "         has a models_path and a usable account) now, as the gateway's catalog\n"
	    "         refresh does, records the ping, writes the catalog rows the running\n"
	    "         gateway serves from its next request on, and prints the result. A\n"
	    "         failed fetch keeps the last good list.\n\n"
	    "Exit 0 on success, 1 on a failure (a provider whose fetch failed included), 2 on\n"
	    "bad usage.\n");
}

/* 1 if entry e of the /v1/models body is served by provider id. */
static int
models_by(const cJSON *e, const char *id)
{
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool"), *p;

	p = cJSON_GetObjectItemCaseSensitive(ext, "provider");
	if (cJSON_IsString(p))
		return strcmp(p->valuestring, id) == 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ext, "providers"))
		if (cJSON_IsString(p) && strcmp(p->valuestring, id) == 0)
			return 1;
	return 0;
}

/* The providers of entry e, comma-separated, into buf. */
static const char *
models_providers(const cJSON *e, char *buf, size_t len)
{
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool"), *p;
	size_t n = 0;

	buf[0] = '\0';
	p = cJSON_GetObjectItemCaseSensitive(ext, "provider");
	if (cJSON_IsString(p)) {
		snprintf(buf, len, "%s", p->valuestring);
		return buf;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ext, "providers"))
		if (cJSON_IsString(p) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 0 ? "," : "",
			    p->valuestring);
	return buf;
}

/*
 * Prints the served catalog (of the providers for which keep[i] is 1, all
 * when keep is NULL): a table, or with json the /v1/models object. 0 or 1.
 */
static int
models_print(struct admin *a, struct catalog_db *c, const int *keep, int json)
{
	const struct config *cfg = a->cfg;
	cJSON *root, *data, *e, *next;
	char provs[512];
	const cJSON *name;
	enum qp_err err;
	int i, match, shown = 0;

	if ((root = catalog_models_json(c, cfg, db_now_ms(), &err)) == NULL) {
		admin_err("cannot read the model catalog: %s", qp_strerror(err));
		return 1;
	}
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	for (e = data != NULL ? data->child : NULL; keep != NULL && e != NULL; e = next) {
		next = e->next;
		for (i = 0, match = 0; i < cfg->nproviders && !match; i++)
			match = keep[i] && models_by(e, cfg->providers[i].id);
		if (!match)
			cJSON_Delete(cJSON_DetachItemViaPointer(data, e));
	}
	if (json)
		return admin_print_json(root);
	cJSON_ArrayForEach(e, data) {
		if (shown++ == 0)
			printf("%-48s %-24s %s\n", "ID", "PROVIDER", "NAME");
		name = cJSON_GetObjectItemCaseSensitive(e, "name");
		printf("%-48s %-24s %s\n", cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring,
		    models_providers(e, provs, sizeof(provs)),
		    cJSON_IsString(name) ? name->valuestring : "");
	}
	if (shown == 0)
		printf("no model is served%s\n", keep != NULL ? " by that provider" : "");
	cJSON_Delete(root);
	return 0;
}

/* Fetches the lists of the providers for which keep[i] is 1. 0, or 1 if one failed. */
static int
models_refresh(struct admin *a, struct catalog_db *c, const int *keep, int named, int json)
{
	const struct config *cfg = a->cfg;
	const struct config_provider *p;
	struct catalog_fetcher *f = NULL;
	struct catalog_ping ping;
	enum qp_err err;
	int i, statics = 0, rc = 0;
	FILE *out = json ? stderr : stdout;

	if ((err = catalog_store_static(c, cfg, db_now_ms(), &statics)) != QP_OK) {
		admin_err("cannot store the static models: %s", sqlite3_errmsg(a->db));
		return 1;
	}
	if ((f = catalog_fetcher_new(NULL, &err)) == NULL) {
		admin_err("cannot set up libcurl: %s", qp_strerror(err));
		return 1;
	}
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (!keep[i])
			continue;
		err = catalog_refresh_provider(c, f, cfg, p, &ping);
		if (err == QP_ENOTFOUND) {
			/* Nothing to fetch: say why; an error only when it was asked for. */
			if (named) {
				admin_err("provider %s is not fetched: %s", p->id,
				    !p->enabled ? "it is disabled" : p->models_path == NULL ?
				    "it has no models_path (its models are the static ones)" :
				    "no account has a usable key");
				rc = 1;
			} else
				fprintf(out, "%s: not fetched (%s)\n", p->id,
				    !p->enabled ? "disabled" : p->models_path == NULL ?
				    "static models only" : "no usable account");
			continue;
		}
		if (err != QP_OK) {
			admin_err("provider %s: %s", p->id, err == QP_EDB ? sqlite3_errmsg(a->db) :
			    qp_strerror(err));
			rc = 1;
			continue;
		}
		if (ping.ok)
			fprintf(out, "%s: %d model%s listed (HTTP %d, %lld ms)\n", p->id,
			    ping.model_count, ping.model_count == 1 ? "" : "s", ping.status_code,
			    (long long)ping.latency_ms);
		else {
			admin_err("provider %s: the fetch failed: %s; its last good list is kept",
			    p->id, ping.error[0] != '\0' ? ping.error : "no answer");
			rc = 1;
		}
	}
	catalog_fetcher_free(f);
	if (models_print(a, c, keep, json) != 0)
		rc = 1;
	return rc;
}

int
cmd_models(struct admin *a, int argc, char **argv)
{
	struct catalog_db *c = NULL;
	const char *sub = NULL, *id = NULL, *provider = NULL;
	int *keep = NULL, i, json = 0, rc = 1;
	char errbuf[512];
	enum qp_err err;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			models_help();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--provider") == 0 && i + 1 < argc)
			provider = argv[++i];
		else if (argv[i][0] == '-')
			return models_usage();
		else if (sub == NULL)
			sub = argv[i];
		else if (id == NULL)
			id = argv[i];
		else
			return models_usage();
	}
	if (sub == NULL)
		return models_usage();
	if (strcmp(sub, "list") == 0) {
		if (id != NULL)
			return models_usage();
		id = provider;
	} else if (strcmp(sub, "refresh") == 0) {
		if (provider != NULL && id != NULL)
			return models_usage();
		if (provider != NULL)
			id = provider;
	} else {
		admin_err("unknown models command '%s' (list, refresh)", sub);
		return 2;
	}
	if (admin_open_migrated_db(a) != 0)
		return 1;
	if (id != NULL && config_provider(a->cfg, id) == NULL) {
		admin_err("no provider '%s' in %s", id, a->config_path);
		return 1;
	}
	if ((keep = calloc(a->cfg->nproviders > 0 ? (size_t)a->cfg->nproviders : 1,
	    sizeof(*keep))) == NULL) {
		admin_err("out of memory");
		return 1;
	}
	for (i = 0; i < a->cfg->nproviders; i++)
		keep[i] = id == NULL || strcmp(a->cfg->providers[i].id, id) == 0;
	if ((c = catalog_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		goto out;
	}
	if (strcmp(sub, "list") == 0)
		rc = models_print(a, c, id != NULL ? keep : NULL, json);
	else
		rc = models_refresh(a, c, keep, id != NULL, json);
out:
	catalog_db_free(c);
	free(keep);
	return rc;
}
