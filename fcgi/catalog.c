/* catalog.c: the model catalog's database: statements, model and ping writes, ping accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "catalog_int.h"
#include "db.h"

/* Rows deleted per transaction when pruning pings. */
#define CATALOG_PRUNE_BATCH	1000

static const char *const catalog_sql[CATALOG_STMT__MAX] = {
	[CATALOG_STMT_UPSERT] = "INSERT INTO model_catalog (provider_id, model_id, "
	    "protocol, display_name, source, first_seen_at, last_seen_at, max_context_tokens, "
	    "max_output_tokens) VALUES (?1, ?2, ?3, ?4, 'upstream', ?5, ?5, ?6, ?7) "
	    "ON CONFLICT (provider_id, model_id) DO UPDATE SET "
	    "protocol = excluded.protocol, "
	    "display_name = COALESCE(excluded.display_name, model_catalog.display_name), "
	    "last_seen_at = excluded.last_seen_at, "
	    "max_context_tokens = excluded.max_context_tokens, "
	    "max_output_tokens = excluded.max_output_tokens",
	[CATALOG_STMT_DELETE_GONE] = "DELETE FROM model_catalog WHERE provider_id = ?1 "
	    "AND source = 'upstream' AND model_id NOT IN "
	    "(SELECT value FROM json_each(?2))",
	[CATALOG_STMT_UPSERT_STATIC] = "INSERT INTO model_catalog (provider_id, "
	    "model_id, protocol, display_name, source, first_seen_at, last_seen_at) "
	    "VALUES (?1, ?2, NULL, NULL, 'static', ?3, ?3) "
	    "ON CONFLICT (provider_id, model_id) DO UPDATE SET source = 'static', "
	    "last_seen_at = excluded.last_seen_at",
	[CATALOG_STMT_DELETE_STATIC] = "DELETE FROM model_catalog WHERE source = 'static' "
	    "AND NOT EXISTS (SELECT 1 FROM json_each(?1) AS j WHERE "
	    "json_extract(j.value, '$[0]') = model_catalog.provider_id AND "
	    "json_extract(j.value, '$[1]') = model_catalog.model_id)",
	[CATALOG_STMT_PING] = "INSERT INTO provider_pings (provider_id, account_name, "
	    "probed_at, latency_ms, status_code, ok, error, model_count) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[CATALOG_STMT_PRUNE] = "DELETE FROM provider_pings WHERE id IN (SELECT id "
	    "FROM provider_pings WHERE probed_at < ?1 LIMIT ?2)",
	[CATALOG_STMT_ROWS] = "SELECT provider_id, model_id, display_name, first_seen_at, "
	    "max_context_tokens, max_output_tokens FROM model_catalog",
	[CATALOG_STMT_BACKOFF] = "SELECT EXISTS (SELECT 1 FROM account_backoffs WHERE "
	    "account_name = ?1 AND model_id = '' AND backoff_until > ?2) OR EXISTS (SELECT 1 "
	    "FROM account_overrides WHERE account_name = ?1)",
	[CATALOG_STMT_HAS_MODELS] = "SELECT EXISTS (SELECT 1 FROM model_catalog "
	    "WHERE provider_id = ?1)",
};

/* ---- storage ---------------------------------------------------------- */

struct catalog_db *
catalog_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct catalog_db *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	c->db = db;
	*err = db_prepare_all(db, catalog_sql, CATALOG_STMT__MAX, c->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(c);
		return NULL;
	}
	return c;
}

void
catalog_db_free(struct catalog_db *c)
{

	if (c == NULL)
		return;
	db_finalize_all(c->st, CATALOG_STMT__MAX);
	free(c);
}

/* Returns the stored name of one protocol bit, or NULL for none or several. */
static const char *
catalog_protocol_name(unsigned protocol)
{

	if (protocol == CONFIG_PROTO_OPENAI)
		return "openai";
	if (protocol == CONFIG_PROTO_ANTHROPIC)
		return "anthropic";
	return NULL;
}

enum qp_err
catalog_store(struct catalog_db *c, const char *provider_id, unsigned speaks,
    const struct catalog_list *l, int64_t now)
{
	sqlite3_stmt *st;
	cJSON *ids = NULL, *s;
	char *text = NULL;
	const char *proto;
	enum qp_err err = QP_OK;
	int i;

	if (l->n == 0)
		return QP_OK;
	if ((ids = cJSON_CreateArray()) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		if ((s = cJSON_CreateString(l->models[i].id)) == NULL) {
			err = QP_ENOMEM;
			goto out;
		}
		cJSON_AddItemToArray(ids, s);
	}
	if ((text = cJSON_PrintUnformatted(ids)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	if ((err = db_begin_write(c->db)) != QP_OK)
		goto out;
	st = c->st[CATALOG_STMT_DELETE_GONE];
	sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	if ((err = db_step_done(st)) != QP_OK)
		goto out;
	st = c->st[CATALOG_STMT_UPSERT];
	for (i = 0; i < l->n; i++) {
		const struct catalog_model *m = &l->models[i];

		proto = (m->protocol & speaks) != 0 ? catalog_protocol_name(m->protocol) : NULL;
		sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, m->id, -1, SQLITE_STATIC);
		if (proto != NULL)
			sqlite3_bind_text(st, 3, proto, -1, SQLITE_STATIC);
		if (m->display_name[0] != '\0')
			sqlite3_bind_text(st, 4, m->display_name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		if (m->context_tokens > 0)
			sqlite3_bind_int64(st, 6, m->context_tokens);
		if (m->output_tokens > 0)
			sqlite3_bind_int64(st, 7, m->output_tokens);
		if ((err = db_step_done(st)) != QP_OK)
			goto out;
	}
	err = db_commit(c->db);
out:
	if (err != QP_OK)
		db_rollback(c->db);
	cJSON_free(text);
	cJSON_Delete(ids);
	return err;
}

enum qp_err
catalog_store_static(struct catalog_db *c, const struct config *cfg, int64_t now, int *n)
{
	const struct config_provider *p;
	sqlite3_stmt *st = c->st[CATALOG_STMT_UPSERT_STATIC];
	cJSON *pairs = NULL, *pair = NULL;
	char *text = NULL;
	enum qp_err err = QP_OK;
	int i, j, count = 0;

	if ((pairs = cJSON_CreateArray()) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		for (j = 0; j < p->nmodels; j++) {
			if (p->models[j] == NULL ||
			    !catalog_text_valid(p->models[j], CATALOG_ID_MAX, 0))
				continue;
			if ((pair = cJSON_CreateArray()) == NULL) {
				err = QP_ENOMEM;
				goto out;
			}
			cJSON_AddItemToArray(pairs, pair);
			if (!cJSON_AddItemToArray(pair, cJSON_CreateString(p->id)) ||
			    !cJSON_AddItemToArray(pair, cJSON_CreateString(p->models[j])) ||
			    cJSON_GetArraySize(pair) != 2) {
				err = QP_ENOMEM;
				goto out;
			}
		}
	}
	if ((text = cJSON_PrintUnformatted(pairs)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	if ((err = db_begin_write(c->db)) != QP_OK)
		goto out;
	sqlite3_bind_text(c->st[CATALOG_STMT_DELETE_STATIC], 1, text, -1, SQLITE_STATIC);
	if ((err = db_step_done(c->st[CATALOG_STMT_DELETE_STATIC])) != QP_OK)
		goto out;
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		for (j = 0; j < p->nmodels; j++) {
			if (p->models[j] == NULL ||
			    !catalog_text_valid(p->models[j], CATALOG_ID_MAX, 0))
				continue;
			sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, p->models[j], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, now);
			if ((err = db_step_done(st)) != QP_OK)
				goto out;
			count++;
		}
	}
	err = db_commit(c->db);
out:
	if (err != QP_OK)
		db_rollback(c->db);
	else if (n != NULL)
		*n = count;
	cJSON_free(text);
	cJSON_Delete(pairs);
	return err;
}

enum qp_err
catalog_record_ping(struct catalog_db *c, const char *provider_id, const char *account,
    const struct catalog_ping *ping)
{
	sqlite3_stmt *st = c->st[CATALOG_STMT_PING];

	sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_TRANSIENT);
	if (account != NULL)
		sqlite3_bind_text(st, 2, account, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, ping->probed_at);
	if (ping->latency_ms >= 0)
		sqlite3_bind_int64(st, 4, ping->latency_ms);
	if (ping->status_code > 0)
		sqlite3_bind_int(st, 5, ping->status_code);
	sqlite3_bind_int(st, 6, ping->ok ? 1 : 0);
	if (ping->error[0] != '\0')
		sqlite3_bind_text(st, 7, ping->error, -1, SQLITE_TRANSIENT);
	if (ping->model_count >= 0)
		sqlite3_bind_int(st, 8, ping->model_count);
	return db_step_done(st);
}

enum qp_err
catalog_prune_pings(struct catalog_db *c, int64_t cutoff, int64_t *n)
{
	sqlite3_stmt *st = c->st[CATALOG_STMT_PRUNE];
	enum qp_err err = QP_OK;
	int64_t total = 0;
	int changed;

	do {
		if ((err = db_begin_write(c->db)) != QP_OK)
			break;
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, CATALOG_PRUNE_BATCH);
		if ((err = db_step_done(st)) != QP_OK) {
			db_rollback(c->db);
			break;
		}
		changed = sqlite3_changes(c->db);
		if ((err = db_commit(c->db)) != QP_OK)
			break;
		total += changed;
	} while (changed >= CATALOG_PRUNE_BATCH);
	if (n != NULL)
		*n = total;
	return err;
}

/* ---- providers and accounts ------------------------------------------- */

const struct config_account *
catalog_account(const struct config_provider *p)
{
	const struct config_account *a;
	int i;

	for (i = 0; i < p->naccounts; i++) {
		a = &p->accounts[i];
		if (!a->enabled)
			continue;
		/* A key named by a variable that was unset makes the account unusable. */
		if (a->api_key == NULL && a->api_key_env != NULL)
			continue;
		return a;
	}
	return NULL;
}

int
catalog_provider_served(const struct config_provider *p)
{

	return p->enabled && catalog_account(p) != NULL;
}

/* Runs a one-row EXISTS statement with text ?1 (and ?2 if t2 >= 0); -1 on error. */
static int
catalog_exists(sqlite3_stmt *st, const char *s1, int64_t t2)
{
	int rc, v = -1;

	sqlite3_bind_text(st, 1, s1, -1, SQLITE_STATIC);
	if (t2 >= 0)
		sqlite3_bind_int64(st, 2, t2);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return v;
}

const struct config_account *
catalog_ping_account(struct catalog_db *c, const struct config_provider *p, int64_t now)
{
	const struct config_account *a;
	int i;

	for (i = 0; i < p->naccounts; i++) {
		a = &p->accounts[i];
		if (!a->enabled || (a->api_key == NULL && a->api_key_env != NULL))
			continue;
		/* A database error counts as no backoff: the ping goes out all the same. */
		if (catalog_exists(c->st[CATALOG_STMT_BACKOFF], a->name, now) != 1)
			return a;
	}
	return catalog_account(p);
}

enum qp_err
catalog_missing(struct catalog_db *c, const struct config *cfg, int *missing, int *n)
{
	const struct config_provider *p;
	int i, has;

	*n = 0;
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		missing[i] = 0;
		if (!catalog_provider_served(p) || p->nmodels > 0)
			continue;
		if ((has = catalog_exists(c->st[CATALOG_STMT_HAS_MODELS], p->id, -1)) < 0)
			return QP_EDB;
		if (!has) {
			missing[i] = 1;
			(*n)++;
		}
	}
	return QP_OK;
}
