/* ctxlimit.c: a model's context limits, and whether a request is clearly over them. */
#include <string.h>

#include "bounds.h"
#include "ctxlimit.h"

/* Largest token count read from a body (as [model_overrides] bounds its limits). */
#define CTXLIMIT_TOKENS_MAX	1000000000.0

/* 1 if c is in the base64 alphabet, URL-safe form and padding included. */
static int
ctxlimit_b64(unsigned char c)
{

	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/' || c == '=' || c == '-' || c == '_';
}

/* Bytes of inline binary data in the string s (n bytes): 0 for text. */
static size_t
ctxlimit_blob(const char *s, size_t n)
{
	static const char marker[] = ";base64,";
	const char *m;
	size_t i, head;

	if (n > 5 && memcmp(s, "data:", 5) == 0) {
		head = n < CTXLIMIT_BLOB_MIN ? n : CTXLIMIT_BLOB_MIN;
		if ((m = memmem(s, head, marker, sizeof(marker) - 1)) != NULL)
			return n - (size_t)(m - s) - (sizeof(marker) - 1);
		return 0;
	}
	if (n < CTXLIMIT_BLOB_MIN)
		return 0;
	for (i = 0; i < n; i++)
		if (!ctxlimit_b64((unsigned char)s[i]))
			return 0;
	return n;
}

/* Adds the bytes of inline binary data under v (depth levels deep) to *sum. */
static void
ctxlimit_walk(const cJSON *v, int depth, size_t *sum)
{
	const cJSON *c;

	if (v == NULL || depth > QP_JSON_DEPTH_MAX)
		return;
	if (cJSON_IsString(v) && v->valuestring != NULL) {
		*sum += ctxlimit_blob(v->valuestring, strlen(v->valuestring));
		return;
	}
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return;
	cJSON_ArrayForEach(c, v)
		ctxlimit_walk(c, depth + 1, sum);
}

/* The positive integer member key of root, or 0. */
static int64_t
ctxlimit_member(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > CTXLIMIT_TOKENS_MAX)
		return 0;
	return (int64_t)v->valuedouble;
}

void
ctxlimit_estimate(const cJSON *root, size_t body_len, struct ctxlimit_need *need)
{
	static const char *const keys[] = {
		"max_completion_tokens", "max_tokens", "max_output_tokens"
	};
	size_t blob = 0, i;

	memset(need, 0, sizeof(*need));
	if (cJSON_IsObject(root)) {
		ctxlimit_walk(root, 0, &blob);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && need->output == 0; i++)
			need->output = ctxlimit_member(root, keys[i]);
	}
	if (blob > body_len)
		blob = body_len;
	need->blob_bytes = (int64_t)blob;
	need->input = (int64_t)((body_len - blob) / CTXLIMIT_BYTES_PER_TOKEN);
}

void
ctxlimit_effective(const struct config_model_override *o, int64_t catalog_context,
    int64_t catalog_output, struct ctxlimit *lim)
{

	memset(lim, 0, sizeof(*lim));
	lim->context = catalog_context > 0 ? catalog_context : 0;
	lim->output = catalog_output > 0 ? catalog_output : 0;
	lim->enforce = 1;
	if (o == NULL)
		return;
	if (o->max_context_tokens > 0)
		lim->context = o->max_context_tokens;
	if (o->max_output_tokens > 0)
		lim->output = o->max_output_tokens;
	if (o->max_input_tokens > 0)
		lim->input = o->max_input_tokens;
	lim->enforce = o->enforce_context_limit;
}

int
ctxlimit_exceeds(const struct ctxlimit *lim, const struct ctxlimit_need *need)
{
	int64_t out = need->output;

	if (!lim->enforce)
		return 0;
	if (lim->input > 0 && need->input > lim->input)
		return 1;
	if (lim->output > 0 && out > lim->output)
		out = lim->output;
	return lim->context > 0 && need->input + out > lim->context;
}
