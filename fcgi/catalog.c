/* catalog.c: the model catalog: upstream model lists, static models, provider pings, /v1/models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "alias.h"
#include "catalog.h"
#include "crypto.h"
#include "ctxlimit.h"
#include "db.h"
#include "json.h"
#include "refresh.h"

/* Rows deleted per transaction when pruning pings. */
#define CATALOG_PRUNE_BATCH	1000
/* First allocation of a models list and of a response body. */
#define CATALOG_LIST_INIT	64
#define CATALOG_BODY_INIT	16384
/* How often a transfer in progress looks at the cancel flag (ms). */
#define CATALOG_POLL_MS		50

enum catalog_stmt {
	CATALOG_STMT_UPSERT,		/* insert or refresh one upstream model */
	CATALOG_STMT_DELETE_GONE,	/* delete a provider's upstream models not in a list */
	CATALOG_STMT_UPSERT_STATIC,	/* insert or mark one static model */
	CATALOG_STMT_DELETE_STATIC,	/* delete static rows no longer configured */
	CATALOG_STMT_PING,		/* record one ping */
	CATALOG_STMT_PRUNE,		/* delete a batch of old pings */
	CATALOG_STMT_ROWS,		/* every catalog row, for /v1/models */
	CATALOG_STMT_BACKOFF,		/* is an account backing off as a whole, or disabled
					   by the operator */
	CATALOG_STMT_HAS_MODELS,	/* does a provider have any catalog row */
	CATALOG_STMT__MAX
};

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

static const char *const catalog_shape_names[CATALOG_SHAPE__MAX] = {
	[CATALOG_SHAPE_NONE] = "none",
	[CATALOG_SHAPE_OPENAI] = "openai",
	[CATALOG_SHAPE_ANTHROPIC] = "anthropic",
	[CATALOG_SHAPE_ARRAY] = "array",
};

struct catalog_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[CATALOG_STMT__MAX];	/* prepared statements */
};

struct catalog_fetcher {
	CURL		*curl;		/* easy handle, reused across fetches */
	CURLM		*multi;		/* drives curl so that cancel is seen often */
	const atomic_int *cancel;	/* non-zero aborts a transfer; may be NULL */
	char		*body;		/* response body of the current page */
	size_t		 len;		/* bytes in body */
	size_t		 cap;		/* bytes allocated */
	int		 too_big;	/* 1 if the body went past CATALOG_BODY_MAX */
	int		 nomem;		/* 1 if the body could not grow */
};

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

const char *
catalog_shape_name(enum catalog_shape shape)
{

	return (unsigned)shape < CATALOG_SHAPE__MAX ? catalog_shape_names[shape] : "none";
}

/* ---- parsing ---------------------------------------------------------- */

/*
 * Returns the length of the valid UTF-8 sequence starting at s (at most
 * n bytes), or 0 if it is invalid (overlong, surrogate, beyond U+10FFFF,
 * truncated).
 */
static size_t
catalog_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

/*
 * Returns 1 if s is 1..max bytes of valid UTF-8 without control bytes;
 * spaces are allowed only when spaces is set.
 */
static int
catalog_text_valid(const char *s, size_t max, int spaces)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i, k;

	n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i += k) {
		if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == ' ' && !spaces))
			return 0;
		if ((k = catalog_utf8_len(p + i, n - i)) == 0)
			return 0;
	}
	return 1;
}

/* Returns the string member key of o if it is a valid id, else NULL. */
static const char *
catalog_member_id(const cJSON *o, const char *key)
{
	const cJSON *v = json_member(o, key);

	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    !catalog_text_valid(v->valuestring, CATALOG_ID_MAX, 0))
		return NULL;
	return v->valuestring;
}

/* Returns the string member key of o if it is a valid display name, else NULL. */
static const char *
catalog_member_name(const cJSON *o, const char *key)
{
	const cJSON *v = json_member(o, key);

	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    !catalog_text_valid(v->valuestring, CATALOG_NAME_MAX, 1))
		return NULL;
	return v->valuestring;
}

/* Orders models by id, then by what they carry, so that duplicates resolve alike. */
static int
catalog_model_cmp(const void *a, const void *b)
{
	const struct catalog_model *x = a, *y = b;
	int c;

	if ((c = strcmp(x->id, y->id)) != 0)
		return c;
	/* A duplicate with a display name sorts first and is the one kept. */
	if ((c = strcmp(y->display_name, x->display_name)) != 0)
		return c;
	return (x->protocol > y->protocol) - (x->protocol < y->protocol);
}

/* Sorts l by id and drops duplicate ids. */
static void
catalog_list_normalize(struct catalog_list *l)
{
	int i, j;

	if (l->n < 2)
		return;
	qsort(l->models, (size_t)l->n, sizeof(l->models[0]), catalog_model_cmp);
	for (i = 1, j = 0; i < l->n; i++) {
		if (strcmp(l->models[i].id, l->models[j].id) == 0)
			continue;
		if (++j != i)
			l->models[j] = l->models[i];
	}
	l->n = j + 1;
}

/* Returns 1 if the sorted models[0..n) of l hold id (binary search). */
static int
catalog_list_has_n(const struct catalog_list *l, int n, const char *id)
{
	int lo = 0, hi = n - 1, mid, c;

	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(l->models[mid].id, id);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return 0;
}

/* Returns the protocol an item or list names ("openai", "anthropic"), or 0. */
static unsigned
catalog_protocol_of(const cJSON *o)
{
	static const char *const keys[] = { "protocol", "api_type" };
	const cJSON *v;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_member(o, keys[i]);
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			continue;
		if (strcmp(v->valuestring, "anthropic") == 0)
			return CONFIG_PROTO_ANTHROPIC;
		if (strcmp(v->valuestring, "openai") == 0)
			return CONFIG_PROTO_OPENAI;
	}
	return 0;
}

/* The first of keys that is a member of o holding a token count (1 to 1e9), or 0. */
static int64_t
catalog_tokens_of(const cJSON *o, const char *const *keys)
{
	const cJSON *v;

	for (; *keys != NULL; keys++) {
		v = json_member(o, *keys);
		if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9)
			return (int64_t)v->valuedouble;
	}
	return 0;
}

/* Reads the context window and the longest answer an item of a list says (0 = not said). */
static void
catalog_limits_of(const cJSON *o, int64_t *context, int64_t *output)
{
	static const char *const ctx_keys[] = { "context_length", "context_window",
	    "max_context_length", "max_model_len", "max_context_tokens", "max_input_tokens",
	    NULL };
	static const char *const out_keys[] = { "max_output_tokens", "max_completion_tokens",
	    "output_token_limit", "max_tokens", NULL };
	static const char *const top_ctx[] = { "context_length", NULL };
	static const char *const top_out[] = { "max_completion_tokens", NULL };
	const cJSON *top = json_member(o, "top_provider");

	*context = catalog_tokens_of(o, ctx_keys);
	*output = catalog_tokens_of(o, out_keys);
	if (cJSON_IsObject(top) && *context == 0)
		*context = catalog_tokens_of(top, top_ctx);
	if (cJSON_IsObject(top) && *output == 0)
		*output = catalog_tokens_of(top, top_out);
}

/* Adds one model to l; QP_ETOOBIG when l is full, QP_ENOMEM. */
static enum qp_err
catalog_list_add(struct catalog_list *l, const char *id, const char *name, unsigned protocol,
    int64_t context, int64_t output)
{
	struct catalog_model *m, *grown;
	int cap;

	if (l->n >= CATALOG_MODELS_MAX)
		return QP_ETOOBIG;
	if (l->n >= l->cap) {
		cap = l->cap > 0 ? l->cap * 2 : CATALOG_LIST_INIT;
		if (cap > CATALOG_MODELS_MAX)
			cap = CATALOG_MODELS_MAX;
		grown = realloc(l->models, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return QP_ENOMEM;
		l->models = grown;
		l->cap = cap;
	}
	m = &l->models[l->n++];
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, strlen(id) + 1);
	if (name != NULL)
		memcpy(m->display_name, name, strlen(name) + 1);
	m->protocol = protocol;
	m->context_tokens = context;
	m->output_tokens = output;
	return QP_OK;
}

enum qp_err
catalog_parse(const char *buf, size_t len, struct catalog_list *l)
{
	const cJSON *arr = NULL, *item, *v;
	const char *id, *name;
	cJSON *root = NULL;
	enum catalog_shape shape;
	enum qp_err err;
	int n0 = l->n, skipped = 0, truncated = 0, anthropic = 0, from_models = 0, i;
	unsigned proto;
	int64_t ctx, out;

	if ((root = json_parse(buf, len, &err)) == NULL)
		return err;
	err = QP_EPARSE;
	if (cJSON_IsArray(root)) {
		arr = root;
		shape = CATALOG_SHAPE_ARRAY;
	} else if (cJSON_IsObject(root)) {
		shape = CATALOG_SHAPE_OPENAI;
		arr = json_member(root, "data");
		if (!cJSON_IsArray(arr)) {
			arr = json_member(root, "models");
			from_models = 1;
		}
		if (!cJSON_IsArray(arr))
			goto out;
		v = json_member(root, "type");
		if (json_member(root, "has_more") != NULL ||
		    json_member(root, "first_id") != NULL ||
		    json_member(root, "last_id") != NULL ||
		    (cJSON_IsString(v) && strcmp(v->valuestring, "list") == 0))
			anthropic = 1;
	} else
		goto out;

	err = QP_OK;
	cJSON_ArrayForEach(item, arr) {
		if (!cJSON_IsObject(item)) {
			skipped++;
			continue;
		}
		id = catalog_member_id(item, "id");
		if (id == NULL && from_models)
			id = catalog_member_id(item, "name");
		if (id == NULL) {
			skipped++;
			continue;
		}
		/* Earlier pages are sorted already: a model listed again is not added. */
		if (catalog_list_has_n(l, n0, id))
			continue;
		v = json_member(item, "type");
		if (cJSON_IsString(v) && strcmp(v->valuestring, "model") == 0)
			anthropic = 1;
		if ((name = catalog_member_name(item, "display_name")) == NULL &&
		    (from_models || (name = catalog_member_name(item, "name")) == NULL))
			name = catalog_member_name(item, "title");
		if (name != NULL && from_models && strcmp(name, id) == 0)
			name = NULL;
		proto = catalog_protocol_of(item);
		catalog_limits_of(item, &ctx, &out);
		err = catalog_list_add(l, id, name, proto, ctx, out);
		if (err == QP_ETOOBIG) {
			truncated = 1;
			err = QP_OK;
			break;
		}
		if (err != QP_OK)
			goto out;
	}
	if (anthropic) {
		shape = CATALOG_SHAPE_ANTHROPIC;
		for (i = n0; i < l->n; i++)
			if (l->models[i].protocol == 0)
				l->models[i].protocol = CONFIG_PROTO_ANTHROPIC;
	}
	l->shape = shape;
	l->skipped += skipped;
	l->truncated |= truncated;
	l->has_more = 0;
	l->last_id[0] = '\0';
	if (cJSON_IsObject(root)) {
		l->has_more = cJSON_IsTrue(json_member(root, "has_more"));
		if ((id = catalog_member_id(root, "last_id")) != NULL)
			memcpy(l->last_id, id, strlen(id) + 1);
	}
	catalog_list_normalize(l);
out:
	if (err != QP_OK && l->n > n0)
		l->n = n0;
	cJSON_Delete(root);
	return err;
}

void
catalog_list_free(struct catalog_list *l)
{

	if (l == NULL)
		return;
	free(l->models);
	memset(l, 0, sizeof(*l));
}

int
catalog_list_has(const struct catalog_list *l, const char *id)
{

	return catalog_list_has_n(l, l->n, id);
}

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

/* ---- fetching --------------------------------------------------------- */

/* CURLOPT_WRITEFUNCTION: keeps the body up to CATALOG_BODY_MAX. */
static size_t
catalog_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct catalog_fetcher *f = arg;
	size_t n = size * nmemb, cap;
	char *grown;

	if (n > CATALOG_BODY_MAX - f->len) {
		f->too_big = 1;
		return 0;
	}
	if (f->len + n > f->cap) {
		cap = f->cap > 0 ? f->cap : CATALOG_BODY_INIT;
		while (cap < f->len + n)
			cap *= 2;
		if (cap > CATALOG_BODY_MAX)
			cap = CATALOG_BODY_MAX;
		if ((grown = realloc(f->body, cap)) == NULL) {
			f->nomem = 1;
			return 0;
		}
		f->body = grown;
		f->cap = cap;
	}
	memcpy(f->body + f->len, data, n);
	f->len += n;
	return n;
}

/*
 * Runs the transfer set up on f->curl, looking at the cancel flag every
 * CATALOG_POLL_MS. Returns curl's result, CURLE_ABORTED_BY_CALLBACK
 * when cancelled.
 */
static CURLcode
catalog_perform(struct catalog_fetcher *f)
{
	CURLcode cc = CURLE_FAILED_INIT;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(f->multi, f->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	for (;;) {
		if (curl_multi_perform(f->multi, &running) != CURLM_OK || running == 0)
			break;
		if (f->cancel != NULL && atomic_load(f->cancel) != 0) {
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(f->multi, NULL, 0, CATALOG_POLL_MS, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == f->curl)
			cc = msg->data.result;
	curl_multi_remove_handle(f->multi, f->curl);
	return cc;
}

struct catalog_fetcher *
catalog_fetcher_new(const atomic_int *cancel, enum qp_err *err)
{
	struct catalog_fetcher *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	if ((f->curl = curl_easy_init()) == NULL || (f->multi = curl_multi_init()) == NULL) {
		curl_easy_cleanup(f->curl);
		free(f);
		*err = QP_ENOMEM;
		return NULL;
	}
	f->cancel = cancel;
	*err = QP_OK;
	return f;
}

void
catalog_fetcher_free(struct catalog_fetcher *f)
{

	if (f == NULL)
		return;
	curl_multi_cleanup(f->multi);
	curl_easy_cleanup(f->curl);
	if (f->body != NULL)
		crypto_wipe(f->body, f->cap);
	free(f->body);
	free(f);
}

/* Wipes and frees a header list that may hold a key. */
static void
catalog_headers_free(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i != NULL; i = i->next)
		if (i->data != NULL)
			crypto_wipe(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/* Appends one header line to *h; QP_ENOMEM. */
static enum qp_err
catalog_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(*h, line)) == NULL)
		return QP_ENOMEM;
	*h = n;
	return QP_OK;
}

/*
 * Builds the request headers for p with account a's key. QP_EINVAL if
 * the key holds bytes a header cannot carry.
 */
static enum qp_err
catalog_headers(const struct config_provider *p, const struct config_account *a,
    struct curl_slist **out)
{
	struct curl_slist *h = NULL;
	const char *key = a != NULL ? a->api_key : NULL;
	char *line = NULL;
	size_t n = 0;
	enum qp_err err;
	int xkey;

	if ((err = catalog_header(&h, "Accept: application/json")) != QP_OK ||
	    (err = catalog_header(&h, "Expect:")) != QP_OK)
		goto out;
	if (key == NULL || key[0] == '\0' || p->auth == CONFIG_AUTH_NONE)
		goto out;
	if (strpbrk(key, "\r\n") != NULL) {
		err = QP_EINVAL;
		goto out;
	}
	xkey = p->auth == CONFIG_AUTH_API_KEY || (p->auth == CONFIG_AUTH_DEFAULT &&
	    p->protocols == CONFIG_PROTO_ANTHROPIC);
	n = strlen(key) + 32;
	if ((line = malloc(n)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	snprintf(line, n, xkey ? "x-api-key: %s" : "Authorization: Bearer %s", key);
	if ((err = catalog_header(&h, line)) != QP_OK)
		goto out;
	if (xkey)
		err = catalog_header(&h, "anthropic-version: 2023-06-01");
out:
	if (line != NULL) {
		crypto_wipe(line, n);
		free(line);
	}
	if (err != QP_OK) {
		catalog_headers_free(h);
		h = NULL;
	}
	*out = h;
	return err;
}

/* Sets one option unless an earlier one failed. */
#define CATALOG_SET(cc, e, opt, val) do {				\
	if ((cc) == CURLE_OK)						\
		(cc) = curl_easy_setopt((e), (opt), (val));		\
} while (0)

/* Milliseconds of the monotonic clock. */
static int64_t
catalog_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes a short error text into ping. */
static void
catalog_ping_error(struct catalog_ping *ping, const char *what, const char *detail)
{

	snprintf(ping->error, sizeof(ping->error), "%s%s%s", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/*
 * Performs one GET of url into f->body. Fills ping's status and error.
 * Returns QP_OK for a 2xx answer.
 */
static enum qp_err
catalog_get(struct catalog_fetcher *f, const char *url, const struct config_provider *p,
    const struct config_account *a, struct curl_slist *headers, long connect_ms,
    long total_ms, struct catalog_ping *ping)
{
	CURL *e = f->curl;
	CURLcode cc = CURLE_OK;
	long status = 0;

	curl_easy_reset(e);
	f->len = 0;
	f->too_big = 0;
	f->nomem = 0;
	CATALOG_SET(cc, e, CURLOPT_NOSIGNAL, 1L);
	CATALOG_SET(cc, e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	CATALOG_SET(cc, e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	CATALOG_SET(cc, e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	CATALOG_SET(cc, e, CURLOPT_HTTPGET, 1L);
	CATALOG_SET(cc, e, CURLOPT_FOLLOWLOCATION, 0L);
	CATALOG_SET(cc, e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	CATALOG_SET(cc, e, CURLOPT_TIMEOUT_MS, total_ms);
	/* An empty proxy also keeps curl from reading proxy variables. */
	CATALOG_SET(cc, e, CURLOPT_PROXY, a != NULL && a->proxy_url != NULL ?
	    a->proxy_url : "");
	CATALOG_SET(cc, e, CURLOPT_NOPROXY, "");
	if (p->ca_file != NULL)
		CATALOG_SET(cc, e, CURLOPT_CAINFO, p->ca_file);
	CATALOG_SET(cc, e, CURLOPT_USERAGENT, "quotapool/" QP_VERSION);
	CATALOG_SET(cc, e, CURLOPT_ACCEPT_ENCODING, "");
	CATALOG_SET(cc, e, CURLOPT_HTTPHEADER, headers);
	CATALOG_SET(cc, e, CURLOPT_WRITEFUNCTION, catalog_on_body);
	CATALOG_SET(cc, e, CURLOPT_WRITEDATA, f);
	if (cc != CURLE_OK) {
		catalog_ping_error(ping, "cannot set up the request", curl_easy_strerror(cc));
		return QP_EINVAL;
	}
	cc = catalog_perform(f);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	ping->status_code = (int)status;
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		catalog_ping_error(ping, "cancelled", NULL);
		return QP_ECLOSED;
	}
	if (f->too_big) {
		catalog_ping_error(ping, "models list too large", NULL);
		return QP_ETOOBIG;
	}
	if (f->nomem) {
		catalog_ping_error(ping, "out of memory", NULL);
		return QP_ENOMEM;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		catalog_ping_error(ping, "timeout", NULL);
		return QP_ETIMEOUT;
	}
	if (cc != CURLE_OK) {
		catalog_ping_error(ping, "transport", curl_easy_strerror(cc));
		return QP_EUPSTREAM;
	}
	if (status < 200 || status > 299) {
		snprintf(ping->error, sizeof(ping->error), "HTTP %ld", status);
		return QP_EUPSTREAM;
	}
	return QP_OK;
}

/*
 * Makes the URL of a page: base, then for a following page after_id=
 * cursor (escaped) and limit=1000. Returns a malloc'd string or NULL.
 */
static char *
catalog_page_url(CURL *e, const char *base, const char *cursor)
{
	char *esc = NULL, *url = NULL;
	size_t n;

	if (cursor == NULL)
		return strdup(base);
	if ((esc = curl_easy_escape(e, cursor, 0)) == NULL)
		return NULL;
	n = strlen(base) + strlen(esc) + 32;
	if ((url = malloc(n)) != NULL)
		snprintf(url, n, "%s%cafter_id=%s&limit=1000", base,
		    strchr(base, '?') != NULL ? '&' : '?', esc);
	curl_free(esc);
	return url;
}

enum qp_err
catalog_fetch(struct catalog_fetcher *f, const struct config *cfg,
    const struct config_provider *p, const struct config_account *account,
    struct catalog_list *l, struct catalog_ping *ping)
{
	struct curl_slist *headers = NULL;
	char *base = NULL, *url = NULL, cursor[CATALOG_ID_MAX + 1];
	long connect_ms, total_ms, left;
	int64_t t0;
	size_t n;
	enum qp_err err;
	int page;

	memset(ping, 0, sizeof(*ping));
	ping->probed_at = db_now_ms();
	ping->latency_ms = -1;
	ping->model_count = -1;
	t0 = catalog_mono_ms();
	if (p->models_path == NULL) {
		catalog_ping_error(ping, "no models path", NULL);
		return QP_EINVAL;
	}
	connect_ms = p->connect_timeout_ms > 0 ? p->connect_timeout_ms :
	    cfg->upstream.connect_timeout_ms;
	total_ms = p->first_byte_timeout_ms > 0 ? p->first_byte_timeout_ms :
	    cfg->upstream.first_byte_timeout_ms;
	if (connect_ms <= 0 || connect_ms > CATALOG_FETCH_TIMEOUT_MS)
		connect_ms = CATALOG_FETCH_TIMEOUT_MS;
	if (total_ms <= 0 || total_ms > CATALOG_FETCH_TIMEOUT_MS)
		total_ms = CATALOG_FETCH_TIMEOUT_MS;

	if ((err = catalog_headers(p, account, &headers)) != QP_OK) {
		catalog_ping_error(ping, err == QP_EINVAL ? "unusable key" : "out of memory",
		    NULL);
		goto out;
	}
	n = strlen(p->base_url) + strlen(p->models_path) + 1;
	if ((base = malloc(n)) == NULL) {
		err = QP_ENOMEM;
		catalog_ping_error(ping, "out of memory", NULL);
		goto out;
	}
	snprintf(base, n, "%s%s", p->base_url, p->models_path);

	cursor[0] = '\0';
	for (page = 0; page < CATALOG_PAGES_MAX; page++) {
		free(url);
		if ((url = catalog_page_url(f->curl, base, page > 0 ? cursor : NULL)) == NULL) {
			err = QP_ENOMEM;
			catalog_ping_error(ping, "out of memory", NULL);
			goto out;
		}
		left = total_ms - (catalog_mono_ms() - t0);
		if (left <= 0) {
			err = QP_ETIMEOUT;
			catalog_ping_error(ping, "timeout", NULL);
			goto out;
		}
		err = catalog_get(f, url, p, account, headers, connect_ms, left, ping);
		ping->pages = page + 1;
		if (err != QP_OK)
			goto out;
		if ((err = catalog_parse(f->body, f->len, l)) != QP_OK) {
			catalog_ping_error(ping, err == QP_ETOOBIG ?
			    "models list nested too deep" : err == QP_ENOMEM ?
			    "out of memory" : "not a models list", NULL);
			goto out;
		}
		/* Follow Anthropic pagination while the cursor moves. */
		if (!l->has_more || l->last_id[0] == '\0' || l->truncated ||
		    strcmp(l->last_id, cursor) == 0)
			break;
		memcpy(cursor, l->last_id, sizeof(cursor));
	}
	ping->ok = 1;
	ping->model_count = l->n;
out:
	if (ping->status_code > 0)
		ping->latency_ms = catalog_mono_ms() - t0;
	if (f->body != NULL)
		crypto_wipe(f->body, f->len);
	f->len = 0;
	catalog_headers_free(headers);
	free(url);
	free(base);
	return err;
}

enum qp_err
catalog_refresh_provider(struct catalog_db *c, struct catalog_fetcher *f,
    const struct config *cfg, const struct config_provider *p, struct catalog_ping *ping)
{
	const struct config_account *a;
	struct config_account with_token;
	struct catalog_list l;
	struct catalog_ping pg;
	enum qp_err err;
	char *token = NULL;

	if (!p->enabled || p->models_path == NULL ||
	    (a = catalog_ping_account(c, p, db_now_ms())) == NULL)
		return QP_ENOTFOUND;
	/* An account that refreshes lists with the token the data plane last stored. */
	if (a->refresh.url != NULL && refresh_stored(c->db, a, db_now_ms(), &token) == QP_OK &&
	    token != NULL) {
		with_token = *a;
		with_token.api_key = token;
		a = &with_token;
	}
	memset(&l, 0, sizeof(l));
	err = catalog_fetch(f, cfg, p, a, &l, &pg);
	if (err == QP_ECLOSED)
		goto out;
	if (pg.ok && l.n == 0) {
		/* An empty list is taken for a broken answer, not a truth. */
		pg.ok = 0;
		catalog_ping_error(&pg, "empty models list", NULL);
	}
	err = catalog_record_ping(c, p->id, a->name, &pg);
	if (err == QP_OK && pg.ok)
		err = catalog_store(c, p->id, p->protocols, &l, db_now_ms());
out:
	if (ping != NULL)
		*ping = pg;
	catalog_list_free(&l);
	crypto_free_secret(token);
	return err;
}

enum qp_err
catalog_refresh(struct catalog_db *c, struct catalog_fetcher *f, const struct config *cfg,
    int fetch, struct catalog_report *rep)
{
	struct catalog_ping ping;
	struct catalog_report r;
	enum qp_err err;
	int i;

	memset(&r, 0, sizeof(r));
	if ((err = catalog_store_static(c, cfg, db_now_ms(), &r.statics)) != QP_OK)
		goto out;
	for (i = 0; fetch && i < cfg->nproviders; i++) {
		err = catalog_refresh_provider(c, f, cfg, &cfg->providers[i], &ping);
		if (err == QP_ENOTFOUND) {
			err = QP_OK;
			continue;
		}
		if (err != QP_OK)
			goto out;
		r.providers++;
		if (ping.ok)
			r.models += ping.model_count;
		else
			r.failed++;
	}
out:
	if (rep != NULL)
		*rep = r;
	return err;
}

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
