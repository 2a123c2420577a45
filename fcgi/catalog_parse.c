/* catalog_parse.c: a provider's models list (OpenAI, Anthropic, bare array) parsed into a list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "catalog_int.h"
#include "json.h"

static const char *const catalog_shape_names[CATALOG_SHAPE__MAX] = {
	[CATALOG_SHAPE_NONE] = "none",
	[CATALOG_SHAPE_OPENAI] = "openai",
	[CATALOG_SHAPE_ANTHROPIC] = "anthropic",
	[CATALOG_SHAPE_ARRAY] = "array",
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
int
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
