/*
 * fuzz_catalog.c: models-list parsing on arbitrary upstream bytes, then
 * the /v1/models list built from what was parsed, suffixed and
 * collapsed. Aborts when a documented property breaks: bounded count,
 * unique ids in order, valid ids, JSON ids sorted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless l holds unique, ordered, bounded, printable ids. */
static void
check_list(const struct catalog_list *l)
{
	int i;

	if (l->n < 0 || l->n > CATALOG_MODELS_MAX || l->skipped < 0 ||
	    (l->n > 0 && l->models == NULL))
		abort();
	if (memchr(l->last_id, '\0', sizeof(l->last_id)) == NULL)
		abort();
	for (i = 0; i < l->n; i++) {
		const struct catalog_model *m = &l->models[i];
		size_t n = strnlen(m->id, sizeof(m->id));

		if (n == 0 || n > CATALOG_ID_MAX || strchr(m->id, ' ') != NULL ||
		    memchr(m->display_name, '\0', sizeof(m->display_name)) == NULL)
			abort();
		if (i > 0 && strcmp(l->models[i - 1].id, m->id) >= 0)
			abort();
		if (!catalog_list_has(l, m->id))
			abort();
	}
}

/* Aborts unless list is {"object":"list","data":[...]} with ids in order. */
static void
check_json(const cJSON *list, int max)
{
	const cJSON *data, *e, *id;
	const char *prev = NULL;
	int n = 0;

	if (list == NULL)
		return;		/* out of memory is allowed */
	data = cJSON_GetObjectItemCaseSensitive(list, "data");
	if (!cJSON_IsArray(data))
		abort();
	cJSON_ArrayForEach(e, data) {
		id = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (!cJSON_IsString(id) || (prev != NULL && strcmp(prev, id->valuestring) >= 0))
			abort();
		prev = id->valuestring;
		n++;
	}
	if (n > max)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_account acc = { .name = "a", .api_key = "k", .enabled = 1 };
	struct config_provider prov[2];
	struct config cfg;
	struct catalog_list l;
	struct catalog_row *rows;
	char *statics[1] = { "static-model" };
	enum qp_err err;
	cJSON *list;
	int i, n0;

	memset(&l, 0, sizeof(l));
	err = catalog_parse((const char *)data, size, &l);
	if (err != QP_OK && l.n != 0)
		abort();
	check_list(&l);
	/* A second page with the same bytes adds nothing new. */
	n0 = l.n;
	if (catalog_parse((const char *)data, size, &l) != err || l.n != n0)
		abort();
	check_list(&l);

	memset(&cfg, 0, sizeof(cfg));
	memset(prov, 0, sizeof(prov));
	for (i = 0; i < 2; i++) {
		prov[i].id = i == 0 ? "p" : "q";
		prov[i].enabled = 1;
		prov[i].routing_priority = i;
		prov[i].accounts = &acc;
		prov[i].naccounts = 1;
	}
	prov[1].models = statics;
	prov[1].nmodels = 1;
	cfg.providers = prov;
	cfg.nproviders = 2;
	if ((rows = calloc((size_t)l.n + 1, sizeof(*rows))) == NULL)
		abort();
	for (i = 0; i < l.n; i++) {
		rows[i].provider_id = i % 3 == 2 ? "q" : "p";
		rows[i].model_id = l.models[i].id;
		rows[i].display_name = l.models[i].display_name[0] != '\0' ?
		    l.models[i].display_name : NULL;
		rows[i].first_seen_at = i;
	}
	list = catalog_models_build(&cfg, rows, l.n, 1000);
	check_json(list, l.n + 1);
	cJSON_Delete(list);
	cfg.models.collapse_models = 1;
	list = catalog_models_build(&cfg, rows, l.n, 1000);
	check_json(list, l.n + 1);
	cJSON_Delete(list);
	free(rows);
	catalog_list_free(&l);
	return 0;
}
