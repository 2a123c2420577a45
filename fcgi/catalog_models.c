/* catalog_models.c: the GET /v1/models body: catalog rows and configured static models merged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"
#include "catalog.h"
#include "catalog_int.h"
#include "ctxlimit.h"

/* One (model, provider) pair served to clients, while building /v1/models. */
struct catalog_entry {
	const char	*model;		/* model id (borrowed) */
	const char	*display_name;	/* NULL if none (borrowed) */
	int64_t		 first_seen_at;	/* ms, -1 = static model not stored yet */
	int		 provider;	/* index in cfg->providers */
	int		 priority;	/* the provider's routing_priority */
	int		 from_db;	/* 1 for a catalog row, 0 for a configured static model */
	char		*id;		/* "<model>/<provider>" while sorting suffixed ids */
	int64_t		 context_tokens; /* the row's context window, 0 = unknown */
	int64_t		 output_tokens;	/* the row's longest answer, 0 = unknown */
};

/* ---- GET /v1/models ---------------------------------------------------- */

/* Returns the index of provider id in cfg, or -1. */
static int
catalog_provider_index(const struct config *cfg, const char *id)
{
	int i;

	for (i = 0; i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].id, id) == 0)
			return i;
	return -1;
}

/*
 * Orders entries by model, then by provider priority (highest first),
 * then file order, then catalog rows before static models.
 */
static int
catalog_entry_cmp(const void *a, const void *b)
{
	const struct catalog_entry *x = a, *y = b;
	int c;

	if ((c = strcmp(x->model, y->model)) != 0)
		return c;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->provider != y->provider)
		return x->provider < y->provider ? -1 : 1;
	return y->from_db - x->from_db;
}

/* Orders entries by their suffixed id. */
static int
catalog_entry_id_cmp(const void *a, const void *b)
{
	const struct catalog_entry *x = a, *y = b;

	return strcmp(x->id, y->id);
}

/*
 * Collects the (model, provider) pairs served to clients from rows and
 * the static models of cfg, sorted by catalog_entry_cmp(), each once.
 * Returns a malloc'd array (its strings are borrowed) and *n, or NULL
 * with *n = -1 on out of memory.
 */
static struct catalog_entry *
catalog_entries(const struct config *cfg, const struct catalog_row *rows, int nrows, int *n)
{
	const struct config_provider *p;
	struct catalog_entry *e;
	size_t max;
	int i, j, k, pi;

	max = (size_t)(nrows > 0 ? nrows : 0);
	for (i = 0; i < cfg->nproviders; i++)
		max += (size_t)(cfg->providers[i].nmodels > 0 ? cfg->providers[i].nmodels : 0);
	if ((e = calloc(max > 0 ? max : 1, sizeof(*e))) == NULL) {
		*n = -1;
		return NULL;
	}
	k = 0;
	for (i = 0; i < nrows; i++) {
		if (rows[i].provider_id == NULL || rows[i].model_id == NULL ||
		    (pi = catalog_provider_index(cfg, rows[i].provider_id)) < 0 ||
		    !catalog_provider_served(&cfg->providers[pi]))
			continue;
		e[k].model = rows[i].model_id;
		e[k].display_name = rows[i].display_name;
		e[k].first_seen_at = rows[i].first_seen_at;
		e[k].context_tokens = rows[i].context_tokens;
		e[k].output_tokens = rows[i].output_tokens;
		e[k].provider = pi;
		e[k].priority = cfg->providers[pi].routing_priority;
		e[k].from_db = 1;
		k++;
	}
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (!catalog_provider_served(p))
			continue;
		for (j = 0; j < p->nmodels; j++) {
			if (p->models[j] == NULL ||
			    !catalog_text_valid(p->models[j], CATALOG_ID_MAX, 0))
				continue;
			e[k].model = p->models[j];
			e[k].first_seen_at = -1;
			e[k].provider = i;
			e[k].priority = p->routing_priority;
			k++;
		}
	}
	qsort(e, (size_t)k, sizeof(*e), catalog_entry_cmp);
	/* The same (model, provider) from a row and from the config: keep the row. */
	for (i = 1, j = 0; i < k; i++) {
		if (e[i].provider == e[j].provider && strcmp(e[i].model, e[j].model) == 0)
			continue;
		if (++j != i)
			e[j] = e[i];
	}
	*n = k > 0 ? j + 1 : 0;
	return e;
}

/* Puts the known limits of lim into an entry's ext; 0 on out of memory. */
static int
catalog_put_limits(cJSON *ext, const struct ctxlimit *lim)
{

	return (lim->context <= 0 || cJSON_AddNumberToObject(ext, "max_context_tokens",
	    (double)lim->context) != NULL) &&
	    (lim->output <= 0 || cJSON_AddNumberToObject(ext, "max_output_tokens",
	    (double)lim->output) != NULL);
}

/* Adds one list entry to data; 0 on out of memory. */
static int
catalog_add_entry(cJSON *data, const char *id, int64_t created, const char *owned_by,
    const char *name, cJSON *ext, const struct ctxlimit *lim)
{
	cJSON *o;

	if ((o = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(ext);
		return 0;
	}
	cJSON_AddItemToArray(data, o);
	if (cJSON_AddStringToObject(o, "id", id) == NULL ||
	    cJSON_AddStringToObject(o, "object", "model") == NULL ||
	    cJSON_AddNumberToObject(o, "created", (double)created) == NULL ||
	    cJSON_AddStringToObject(o, "owned_by", owned_by) == NULL ||
	    cJSON_AddStringToObject(o, "name", name) == NULL ||
	    (lim->context > 0 && cJSON_AddNumberToObject(o, "context_length",
	    (double)lim->context) == NULL) || (ext != NULL && !catalog_put_limits(ext, lim))) {
		cJSON_Delete(ext);
		return 0;
	}
	if (ext != NULL && !cJSON_AddItemToObject(o, "quotapool", ext)) {
		cJSON_Delete(ext);
		return 0;
	}
	return 1;
}

/* Returns the created time (epoch seconds) of an entry. */
static int64_t
catalog_created(const struct catalog_entry *e, int64_t now)
{

	return (e->first_seen_at >= 0 ? e->first_seen_at : now) / 1000;
}

/* Adds one entry per (model, provider), with suffixed ids, sorted by id. */
static int
catalog_build_suffixed(const struct config *cfg, struct catalog_entry *e, int n, int64_t now,
    cJSON *data)
{
	const struct config_provider *p;
	struct ctxlimit lim;
	cJSON *ext;
	size_t len;
	int i, okay = 1;

	for (i = 0; i < n; i++) {
		p = &cfg->providers[e[i].provider];
		len = strlen(e[i].model) + strlen(p->id) + 2;
		if ((e[i].id = malloc(len)) == NULL) {
			okay = 0;
			goto out;
		}
		snprintf(e[i].id, len, "%s/%s", e[i].model, p->id);
	}
	qsort(e, (size_t)n, sizeof(*e), catalog_entry_id_cmp);
	for (i = 0; i < n && okay; i++) {
		p = &cfg->providers[e[i].provider];
		if ((ext = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(ext, "model", e[i].model) == NULL ||
		    cJSON_AddStringToObject(ext, "provider", p->id) == NULL ||
		    cJSON_AddNumberToObject(ext, "routing_priority",
		    p->routing_priority) == NULL) {
			cJSON_Delete(ext);
			okay = 0;
			break;
		}
		ctxlimit_effective(config_override(cfg, e[i].model), e[i].context_tokens,
		    e[i].output_tokens, &lim);
		okay = catalog_add_entry(data, e[i].id, catalog_created(&e[i], now), p->id,
		    e[i].display_name != NULL ? e[i].display_name : e[i].model, ext, &lim);
	}
out:
	for (i = 0; i < n; i++) {
		free(e[i].id);
		e[i].id = NULL;
	}
	return okay;
}

/* Adds one entry per model (entries grouped by model, best provider first). */
static int
catalog_build_collapsed(const struct config *cfg, const struct catalog_entry *e, int n,
    int64_t now, cJSON *data)
{
	struct ctxlimit lim, one;
	const char *name;
	cJSON *ext, *provs;
	int64_t created, c;
	int i, j;

	for (i = 0; i < n; i = j) {
		created = catalog_created(&e[i], now);
		name = NULL;
		memset(&lim, 0, sizeof(lim));
		if ((ext = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(ext, "model", e[i].model) == NULL ||
		    (provs = cJSON_AddArrayToObject(ext, "providers")) == NULL) {
			cJSON_Delete(ext);
			return 0;
		}
		for (j = i; j < n && strcmp(e[j].model, e[i].model) == 0; j++) {
			if ((c = catalog_created(&e[j], now)) < created)
				created = c;
			if (name == NULL)
				name = e[j].display_name;
			/* What every provider allows: the smallest known limit. */
			ctxlimit_effective(config_override(cfg, e[j].model), e[j].context_tokens,
			    e[j].output_tokens, &one);
			if (one.context > 0 && (lim.context == 0 || one.context < lim.context))
				lim.context = one.context;
			if (one.output > 0 && (lim.output == 0 || one.output < lim.output))
				lim.output = one.output;
			if (!cJSON_AddItemToArray(provs,
			    cJSON_CreateString(cfg->providers[e[j].provider].id))) {
				cJSON_Delete(ext);
				return 0;
			}
		}
		if (cJSON_GetArraySize(provs) != j - i) {
			cJSON_Delete(ext);
			return 0;
		}
		if (!catalog_add_entry(data, e[i].model, created,
		    cfg->providers[e[i].provider].id, name != NULL ? name : e[i].model, ext, &lim))
			return 0;
	}
	return 1;
}

cJSON *
catalog_models_build(const struct config *cfg, const struct catalog_row *rows, int n,
    int64_t now)
{
	struct catalog_entry *e = NULL;
	cJSON *root = NULL, *data;
	int ne, okay;

	if ((e = catalog_entries(cfg, rows, n, &ne)) == NULL)
		return NULL;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "object", "list") == NULL ||
	    (data = cJSON_AddArrayToObject(root, "data")) == NULL) {
		okay = 0;
		goto out;
	}
	if (cfg->models.collapse_models)
		okay = catalog_build_collapsed(cfg, e, ne, now, data);
	else
		okay = catalog_build_suffixed(cfg, e, ne, now, data);
	if (okay && alias_models_add(cfg, data, now / 1000) != 0)
		okay = 0;
out:
	free(e);
	if (!okay) {
		cJSON_Delete(root);
		root = NULL;
	}
	return root;
}

/* The catalog rows read from the database, with their strings owned. */
struct catalog_rows {
	struct catalog_row *rows;	/* owned array */
	int		 n;		/* rows read */
};

/* Frees what catalog_read_rows() allocated. */
static void
catalog_rows_free(struct catalog_rows *r)
{
	int i;

	for (i = 0; i < r->n; i++) {
		free((char *)r->rows[i].provider_id);
		free((char *)r->rows[i].model_id);
		free((char *)r->rows[i].display_name);
	}
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

/* Copies a column's text, or NULL; sets *nomem when a copy fails. */
static char *
catalog_column_dup(sqlite3_stmt *st, int col, int *nomem)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*nomem = 1;
	return d;
}

/* Reads every catalog row into r. */
static enum qp_err
catalog_read_rows(struct catalog_db *c, struct catalog_rows *r)
{
	sqlite3_stmt *st = c->st[CATALOG_STMT_ROWS];
	struct catalog_row *grown, *row;
	enum qp_err err = QP_OK;
	int rc, cap = 0, nomem = 0;

	memset(r, 0, sizeof(*r));
	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n >= cap) {
			cap = cap > 0 ? cap * 2 : CATALOG_LIST_INIT;
			if ((grown = realloc(r->rows, (size_t)cap * sizeof(*grown))) == NULL) {
				err = QP_ENOMEM;
				break;
			}
			r->rows = grown;
		}
		row = &r->rows[r->n++];
		row->provider_id = catalog_column_dup(st, 0, &nomem);
		row->model_id = catalog_column_dup(st, 1, &nomem);
		row->display_name = catalog_column_dup(st, 2, &nomem);
		row->first_seen_at = sqlite3_column_int64(st, 3);
		row->context_tokens = sqlite3_column_int64(st, 4);
		row->output_tokens = sqlite3_column_int64(st, 5);
		if (nomem) {
			err = QP_ENOMEM;
			break;
		}
	}
	if (err == QP_OK && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	if (err != QP_OK)
		catalog_rows_free(r);
	return err;
}

cJSON *
catalog_models_json(struct catalog_db *c, const struct config *cfg, int64_t now,
    enum qp_err *err)
{
	struct catalog_rows r;
	cJSON *root;

	if ((*err = catalog_read_rows(c, &r)) != QP_OK)
		return NULL;
	if ((root = catalog_models_build(cfg, r.rows, r.n, now)) == NULL)
		*err = QP_ENOMEM;
	catalog_rows_free(&r);
	return root;
}

enum qp_err
catalog_count(struct catalog_db *c, const struct config *cfg, int *n)
{
	struct catalog_entry *e;
	struct catalog_rows r;
	enum qp_err err;

	if ((err = catalog_read_rows(c, &r)) != QP_OK)
		return err;
	if ((e = catalog_entries(cfg, r.rows, r.n, n)) == NULL)
		err = QP_ENOMEM;
	free(e);
	catalog_rows_free(&r);
	return err;
}
