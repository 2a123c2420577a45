/* models.c: the GET /v1/models and GET /v1/models/{id} handlers, in either protocol's shape. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alias.h"
#include "bounds.h"
#include "catalog.h"
#include "dashboard.h"
#include "db.h"
#include "log.h"
#include "models.h"
#include "workerapi.h"

/* Page sizes of the Anthropic list (its API's documented bounds and default). */
#define MODELS_LIMIT_DEFAULT	20
#define MODELS_LIMIT_MAX	1000

/* Returns 1 when the client speaks the Anthropic protocol (it sends anthropic-version). */
static int
models_anthropic(const struct http_req *r)
{
	const char *v = http_param(r, "HTTP_ANTHROPIC_VERSION");

	return v != NULL && v[0] != '\0';
}

/* Reads the catalog in the OpenAI list shape; NULL after answering an error. */
static cJSON *
models_read(struct worker *w, struct http_req *r)
{
	struct catalog_db *c = NULL;
	cJSON *list = NULL;
	char errbuf[256];
	enum qp_err err;

	/* Remote workers silent too long leave the list now, not at the next hello. */
	workerapi_sweep(w);
	if (server_worker_ready(w) != QP_OK) {
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the model catalog is unavailable: the database is not ready");
		return NULL;
	}
	if ((c = catalog_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		log_msg(LOG_ERROR, "worker %d: model catalog: %s", w->id, errbuf);
		goto out;
	}
	if ((list = catalog_models_json(c, w->cfg, db_now_ms(), &err)) == NULL)
		log_msg(LOG_ERROR, "worker %d: model catalog: %s", w->id, qp_strerror(err));
out:
	if (list == NULL)
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the model catalog cannot be read");
	catalog_db_free(c);
	return list;
}

/* Formats epoch seconds as RFC 3339 UTC into buf. */
static void
models_rfc3339(int64_t secs, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)secs;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

/* One OpenAI list entry in the Anthropic model shape; NULL without memory. */
static cJSON *
models_anthropic_entry(const cJSON *e, const char *id)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(e, "created");
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool");
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(ext, "max_context_tokens");
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(ext, "max_output_tokens");
	cJSON *o;
	char when[32];

	models_rfc3339(cJSON_IsNumber(created) ? (int64_t)created->valuedouble : 0,
	    when, sizeof(when));
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "type", "model") == NULL ||
	    cJSON_AddStringToObject(o, "id", id) == NULL ||
	    cJSON_AddStringToObject(o, "display_name", cJSON_IsString(name) ?
	    name->valuestring : id) == NULL ||
	    cJSON_AddStringToObject(o, "created_at", when) == NULL ||
	    /* The limits under the Anthropic Models API's names. */
	    (cJSON_IsNumber(ctx) && cJSON_AddNumberToObject(o, "max_input_tokens",
	    ctx->valuedouble) == NULL) ||
	    (cJSON_IsNumber(out) && cJSON_AddNumberToObject(o, "max_tokens",
	    out->valuedouble) == NULL)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Index of the entry with this id in the list's data, or -1. */
static int
models_index(const cJSON *data, const char *id)
{
	const cJSON *e, *eid;
	int i = 0;

	cJSON_ArrayForEach(e, data) {
		eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(eid) && strcmp(eid->valuestring, id) == 0)
			return i;
		i++;
	}
	return -1;
}

/* Reads query field name into out; 0 found, 1 absent, -1 after answering 400. */
static int
models_query_field(struct http_req *r, const char *name, char *out, size_t len)
{
	char msg[96];
	size_t n;

	switch (dashboard_form_get(r->query, strlen(r->query), name, out, len, &n)) {
	case QP_OK:
		return 0;
	case QP_ENOTFOUND:
		out[0] = '\0';
		return 1;
	default:
		snprintf(msg, sizeof(msg), "%s: invalid or too long", name);
		http_error(r, 400, "invalid_request_error", msg);
		return -1;
	}
}

/*
 * Parses the Anthropic list's query (limit, after_id, before_id) into *limit
 * and the decoded ids. Returns 0, or -1 after answering 400.
 */
static int
models_page_query(struct http_req *r, int *limit, char *after, char *before, size_t len)
{
	char val[16];
	char *end;
	long n;
	int rc;

	*limit = MODELS_LIMIT_DEFAULT;
	if ((rc = models_query_field(r, "limit", val, sizeof(val))) < 0)
		return -1;
	if (rc == 0) {
		n = strtol(val, &end, 10);
		if (val[0] == '\0' || *end != '\0' || n < 1 || n > MODELS_LIMIT_MAX) {
			http_error(r, 400, "invalid_request_error",
			    "limit: must be a whole number from 1 to 1000");
			return -1;
		}
		*limit = (int)n;
	}
	if (models_query_field(r, "after_id", after, len) < 0 ||
	    models_query_field(r, "before_id", before, len) < 0)
		return -1;
	if (after[0] != '\0' && before[0] != '\0') {
		http_error(r, 400, "invalid_request_error",
		    "after_id and before_id cannot be given together");
		return -1;
	}
	return 0;
}

/* Answers the Anthropic model list: one page of the catalog, in catalog order. */
static void
models_list_anthropic(struct http_req *r, const cJSON *list)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(list, "data"), *e, *eid;
	char after[HTTP_PATH_MAX + 1], before[HTTP_PATH_MAX + 1];
	cJSON *out = NULL, *page, *o;
	int limit, n, first, last, i, at;

	if (models_page_query(r, &limit, after, before, sizeof(after)) != 0)
		return;
	n = cJSON_GetArraySize(data);
	first = 0;
	last = n;			/* one past the page */
	if (after[0] != '\0') {
		if ((at = models_index(data, after)) < 0)
			goto notfound;
		first = at + 1;
		last = first + limit < n ? first + limit : n;
	} else if (before[0] != '\0') {
		if ((at = models_index(data, before)) < 0)
			goto notfound;
		last = at;
		first = last - limit > 0 ? last - limit : 0;
	} else
		last = limit < n ? limit : n;
	if ((out = cJSON_CreateObject()) == NULL ||
	    (page = cJSON_AddArrayToObject(out, "data")) == NULL)
		goto nomem;
	i = 0;
	cJSON_ArrayForEach(e, data) {
		if (i >= first && i < last) {
			eid = cJSON_GetObjectItemCaseSensitive(e, "id");
			if (!cJSON_IsString(eid))
				continue;
			if ((o = models_anthropic_entry(e, eid->valuestring)) == NULL ||
			    !cJSON_AddItemToArray(page, o)) {
				cJSON_Delete(o);
				goto nomem;
			}
		}
		i++;
	}
	o = cJSON_GetArrayItem(page, 0);
	e = cJSON_GetArrayItem(page, cJSON_GetArraySize(page) - 1);
	if (cJSON_AddBoolToObject(out, "has_more", before[0] != '\0' ? first > 0 :
	    last < n) == NULL ||
	    (o != NULL ? cJSON_AddStringToObject(out, "first_id",
	    cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring) :
	    cJSON_AddNullToObject(out, "first_id")) == NULL ||
	    (e != NULL ? cJSON_AddStringToObject(out, "last_id",
	    cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring) :
	    cJSON_AddNullToObject(out, "last_id")) == NULL)
		goto nomem;
	http_reply_json(r, 200, out);
	cJSON_Delete(out);
	return;
notfound:
	http_error(r, 404, "not_found_error", "no model with that id in the list");
	return;
nomem:
	cJSON_Delete(out);
	http_error(r, 503, "api_error", "out of memory");
}

void
models_list(struct worker *w, struct http_req *r)
{
	cJSON *list;

	if ((list = models_read(w, r)) == NULL)
		return;
	if (models_anthropic(r))
		models_list_anthropic(r, list);
	else
		http_reply_json(r, 200, list);
	cJSON_Delete(list);
}

/* Decodes %XX escapes of src into dst; -1 on a bad escape, a NUL or no room. */
static int
models_unescape(const char *src, char *dst, size_t len)
{
	size_t o = 0;
	unsigned hi, lo;

	for (; *src != '\0'; src++) {
		if (o + 1 >= len)
			return -1;
		if (*src != '%') {
			dst[o++] = *src;
			continue;
		}
		if (!isxdigit((unsigned char)src[1]) || !isxdigit((unsigned char)src[2]))
			return -1;
		hi = (unsigned)(isdigit((unsigned char)src[1]) ? src[1] - '0' :
		    (tolower((unsigned char)src[1]) - 'a' + 10));
		lo = (unsigned)(isdigit((unsigned char)src[2]) ? src[2] - '0' :
		    (tolower((unsigned char)src[2]) - 'a' + 10));
		if (hi == 0 && lo == 0)
			return -1;
		dst[o++] = (char)(hi << 4 | lo);
		src += 2;
	}
	dst[o] = '\0';
	return 0;
}

/*
 * The list entry for id: the exact id, or else an unsuffixed model id that
 * exactly one entry serves (the ids the data plane accepts). Borrowed from data.
 */
static const cJSON *
models_find(const cJSON *data, const char *id)
{
	const cJSON *e, *eid, *ext, *model, *found = NULL;
	int i;

	if ((i = models_index(data, id)) >= 0)
		return cJSON_GetArrayItem(data, i);
	cJSON_ArrayForEach(e, data) {
		ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool");
		model = cJSON_GetObjectItemCaseSensitive(ext, "model");
		eid = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (!cJSON_IsString(model) || !cJSON_IsString(eid) ||
		    strcmp(model->valuestring, id) != 0)
			continue;
		if (found != NULL)
			return NULL;	/* served by several providers: ambiguous */
		found = e;
	}
	return found;
}

void
models_get(struct worker *w, struct http_req *r)
{
	static const char prefix[] = "/v1/models/";
	const char *raw = strstr(r->path, prefix);
	const struct config_alias *al;
	const cJSON *e;
	cJSON *list = NULL, *one = NULL;
	char id[HTTP_PATH_MAX + 1], msg[HTTP_PATH_MAX + 64];

	if (raw == NULL || models_unescape(raw + sizeof(prefix) - 1, id, sizeof(id)) != 0 ||
	    id[0] == '\0') {
		http_error(r, 400, "invalid_request_error", "invalid model id in the path");
		return;
	}
	if ((list = models_read(w, r)) == NULL)
		return;
	e = models_find(cJSON_GetObjectItemCaseSensitive(list, "data"), id);
	/* A model id no provider serves may be served through an alias: its entry answers. */
	if (e == NULL && (al = alias_find(w->cfg, id)) != NULL)
		e = models_find(cJSON_GetObjectItemCaseSensitive(list, "data"), al->pattern);
	if (e == NULL) {
		snprintf(msg, sizeof(msg), "Model '%.*s' not found", 200,
		    id);
		http_error(r, 404, http_type(r, "invalid_request_error",
		    "not_found_error"), msg);
		goto out;
	}
	if (models_anthropic(r))
		one = models_anthropic_entry(e, id);
	else if ((one = cJSON_Duplicate(e, 1)) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(one, "id", cJSON_CreateString(id));
	if (one == NULL) {
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "out of memory");
		goto out;
	}
	http_reply_json(r, 200, one);
out:
	cJSON_Delete(one);
	cJSON_Delete(list);
}
