/* alias.c: [aliases]: glob patterns over client model ids, and the ordered models they route to. */
#include <stdlib.h>
#include <string.h>

#include "alias.h"

/* Bytes of the UTF-8 character at s (1 for a stray byte); never past the NUL. */
static size_t
alias_char_len(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	size_t n, i;

	if (c < 0xc0)
		return 1;
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	for (i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return i;
	return n;
}

int
alias_glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	if (pat == NULL || s == NULL)
		return 0;
	while (*s != '\0') {
		if (*pat == '*') {
			star = ++pat;
			resume = s;
		} else if (*pat == '?') {
			pat++;
			s += alias_char_len(s);
		} else if (*pat != '\0' && *pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			/* Let the last '*' take one more character, and match on from there. */
			resume += alias_char_len(resume);
			s = resume;
			pat = star;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

const struct config_alias *
alias_find(const struct config *cfg, const char *model)
{
	int i;

	if (cfg == NULL || model == NULL)
		return NULL;
	for (i = 0; i < cfg->naliases; i++)
		if (alias_glob_match(cfg->aliases[i].pattern, model))
			return &cfg->aliases[i];
	return NULL;
}

void
alias_route_init(struct alias_route *rt, const struct config_alias *a)
{

	memset(rt, 0, sizeof(*rt));
	rt->alias = a;
	rt->best = SELECT__MAX;
}

const char *
alias_route_target(const struct alias_route *rt)
{

	if (rt->alias == NULL || !rt->started || rt->cur >= rt->alias->ntargets)
		return NULL;
	return rt->alias->targets[rt->cur];
}

/* Ranks, higher first; SELECT_OK and unknown values rank lowest. */
static const int alias_ranks[SELECT__MAX] = {
	[SELECT_EXHAUSTED] = 7,
	[SELECT_BACKOFF] = 6,
	[SELECT_AUTH] = 5,
	[SELECT_DISABLED] = 4,
	[SELECT_TOO_LARGE] = 3,
	[SELECT_WRONG_PROTOCOL] = 2,
	[SELECT_NO_MODEL] = 1,
};

int
alias_refusal_rank(enum select_status st)
{

	return (unsigned)st < SELECT__MAX ? alias_ranks[st] : 0;
}

enum select_status
alias_choose(struct alias_route *rt, alias_try_fn try, void *arg, int64_t *retry_at)
{
	enum select_status st;
	int64_t at;
	int fresh;

	*retry_at = 0;
	if (rt->alias == NULL)
		return SELECT_NO_MODEL;
	while (rt->cur < rt->alias->ntargets) {
		fresh = !rt->started;
		rt->started = 1;
		at = 0;
		st = try(arg, rt->alias->targets[rt->cur], fresh, &at);
		if (st == SELECT_OK || st == SELECT__MAX)
			return st;
		if (rt->best == SELECT__MAX ||
		    alias_refusal_rank(st) > alias_refusal_rank(rt->best)) {
			rt->best = st;
			rt->best_retry_at = at;
		}
		if (rt->cur + 1 >= rt->alias->ntargets)
			break;
		rt->cur++;
		rt->started = 0;
	}
	*retry_at = rt->best_retry_at;
	return rt->best == SELECT__MAX ? SELECT_NO_MODEL : rt->best;
}

/* Orders list entries by their "id" (entries without one first). */
static int
alias_entry_cmp(const void *a, const void *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "id");
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "id");

	return strcmp(cJSON_IsString(x) ? x->valuestring : "",
	    cJSON_IsString(y) ? y->valuestring : "");
}

/* Sorts the entries of data by id; -1 without memory (data unchanged). */
static int
alias_sort(cJSON *data)
{
	cJSON **v, *e;
	int n = cJSON_GetArraySize(data), i;

	if (n < 2)
		return 0;
	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		v[i] = cJSON_DetachItemFromArray(data, 0);
	qsort(v, (size_t)n, sizeof(*v), alias_entry_cmp);
	for (i = 0; i < n; i++) {
		e = v[i];
		cJSON_AddItemToArray(data, e);
	}
	free(v);
	return 0;
}

/* 1 if data holds an entry whose id is id. */
static int
alias_listed(const cJSON *data, const char *id)
{
	const cJSON *e, *eid;

	cJSON_ArrayForEach(e, data) {
		eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(eid) && strcmp(eid->valuestring, id) == 0)
			return 1;
	}
	return 0;
}

/* The entry of data whose id is id, or else (collapsed ids) the part before its last '/'. */
static const cJSON *
alias_entry(const cJSON *data, const char *id)
{
	const char *slash = strrchr(id, '/');
	const cJSON *e, *eid;
	size_t n = slash != NULL ? (size_t)(slash - id) : 0;

	cJSON_ArrayForEach(e, data) {
		eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(eid) && strcmp(eid->valuestring, id) == 0)
			return e;
	}
	cJSON_ArrayForEach(e, data) {
		eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (n > 0 && cJSON_IsString(eid) && strlen(eid->valuestring) == n &&
		    memcmp(eid->valuestring, id, n) == 0)
			return e;
	}
	return NULL;
}

/* Lowers *min to the number member key of o when it is known and smaller. */
static void
alias_min(const cJSON *o, const char *key, double *min)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsNumber(v) && v->valuedouble > 0 && (*min == 0 || v->valuedouble < *min))
		*min = v->valuedouble;
}

/*
 * Puts on an alias's entry o the smallest known limits of its targets
 * listed in data (what a client can count on, whichever serves). 0 on
 * out of memory.
 */
static int
alias_limits(const struct config_alias *a, const cJSON *data, cJSON *o, cJSON *ext)
{
	const cJSON *e;
	double ctx = 0, out = 0;
	int j;

	for (j = 0; j < a->ntargets; j++) {
		if ((e = alias_entry(data, a->targets[j])) == NULL)
			continue;
		alias_min(cJSON_GetObjectItemCaseSensitive(e, "quotapool"), "max_context_tokens",
		    &ctx);
		alias_min(cJSON_GetObjectItemCaseSensitive(e, "quotapool"), "max_output_tokens",
		    &out);
	}
	return (ctx <= 0 || (cJSON_AddNumberToObject(o, "context_length", ctx) != NULL &&
	    cJSON_AddNumberToObject(ext, "max_context_tokens", ctx) != NULL)) &&
	    (out <= 0 || cJSON_AddNumberToObject(ext, "max_output_tokens", out) != NULL);
}

int
alias_models_add(const struct config *cfg, cJSON *data, int64_t now_s)
{
	const struct config_alias *a;
	cJSON *o, *ext, *targets;
	int i, j, added = 0;

	for (i = 0; cfg != NULL && i < cfg->naliases; i++) {
		a = &cfg->aliases[i];
		if (alias_listed(data, a->pattern))
			continue;
		if ((o = cJSON_CreateObject()) == NULL)
			return -1;
		cJSON_AddItemToArray(data, o);
		if (cJSON_AddStringToObject(o, "id", a->pattern) == NULL ||
		    cJSON_AddStringToObject(o, "object", "model") == NULL ||
		    cJSON_AddNumberToObject(o, "created", (double)now_s) == NULL ||
		    cJSON_AddStringToObject(o, "owned_by", "quotapool") == NULL ||
		    cJSON_AddStringToObject(o, "name", a->pattern) == NULL ||
		    (ext = cJSON_AddObjectToObject(o, "quotapool")) == NULL ||
		    cJSON_AddBoolToObject(ext, "alias", 1) == NULL ||
		    (targets = cJSON_AddArrayToObject(ext, "targets")) == NULL)
			return -1;
		for (j = 0; j < a->ntargets; j++)
			if (!cJSON_AddItemToArray(targets, cJSON_CreateString(a->targets[j])))
				return -1;
		if (cJSON_GetArraySize(targets) != a->ntargets || !alias_limits(a, data, o, ext))
			return -1;
		added++;
	}
	return added > 0 ? alias_sort(data) : 0;
}
