/* wkproto.c: the pure parts of the worker protocol (docs/workers.md): jobs, heads, models, hello. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wkproto.h"

static const char *const wkproto_errs[WKPROTO_ERR__MAX] = {
	[WKPROTO_OK] = "ok",
	[WKPROTO_EJSON] = "malformed JSON",
	[WKPROTO_EFIELD] = "missing or malformed field",
	[WKPROTO_ETOOBIG] = "too big",
	[WKPROTO_ENOMEM] = "out of memory",
};

const char *
wkproto_strerror(enum wkproto_err e)
{

	if ((int)e < 0 || e >= WKPROTO_ERR__MAX)
		return "unknown error";
	return wkproto_errs[e];
}

int
wkproto_printable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, n;
	uint32_t cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* RFC 9110 tchar. */
static int
wkproto_tchar(unsigned char c)
{

	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Reads the job id; 0 when it is 32 lower-case hex digits. */
static int
wkproto_job_id(const cJSON *v, char id[WK_JOB_ID_LEN + 1])
{
	size_t i;

	if (!cJSON_IsString(v) || strlen(v->valuestring) != WK_JOB_ID_LEN)
		return -1;
	for (i = 0; i < WK_JOB_ID_LEN; i++) {
		if (!isxdigit((unsigned char)v->valuestring[i]) ||
		    isupper((unsigned char)v->valuestring[i]))
			return -1;
	}
	memcpy(id, v->valuestring, WK_JOB_ID_LEN + 1);
	return 0;
}

/* 0 when path starts with '/', is printable ASCII without space and has no "." or ".." segment. */
static int
wkproto_path_ok(const char *path)
{
	size_t len = strlen(path), i, seg;

	if (len == 0 || len > WK_PATH_MAX || path[0] != '/')
		return -1;
	for (i = 0; i < len; i++) {
		if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
			return -1;
	}
	/* Segments end at '/', '?' or '#'; the query is not a path. */
	for (i = 0; i < len && path[i] != '?' && path[i] != '#'; i = seg) {
		seg = i + 1;
		while (seg < len && path[seg] != '/' && path[seg] != '?' && path[seg] != '#')
			seg++;
		if ((seg - i - 1 == 1 && path[i + 1] == '.') ||
		    (seg - i - 1 == 2 && path[i + 1] == '.' && path[i + 2] == '.'))
			return -1;
	}
	return 0;
}

/* Copies the headers object into job; 0 or a field error. */
static enum wkproto_err
wkproto_job_headers(const cJSON *obj, struct wkproto_job *job)
{
	const cJSON *h;
	size_t n = 0, i, nl, vl;

	if (obj == NULL || cJSON_IsNull(obj))
		return WKPROTO_OK;
	if (!cJSON_IsObject(obj))
		return WKPROTO_EFIELD;
	cJSON_ArrayForEach(h, obj)
		n++;
	if (n > WK_HEADERS_MAX)
		return WKPROTO_EFIELD;
	if (n == 0)
		return WKPROTO_OK;
	if ((job->headers = calloc(n, sizeof(*job->headers))) == NULL)
		return WKPROTO_ENOMEM;
	cJSON_ArrayForEach(h, obj) {
		struct wkproto_header *o = &job->headers[job->nheaders];

		if (!cJSON_IsString(h) || h->string == NULL)
			return WKPROTO_EFIELD;
		nl = strlen(h->string);
		vl = strlen(h->valuestring);
		if (nl == 0 || nl > WK_HEADER_NAME_MAX || vl > WK_HEADER_VALUE_MAX)
			return WKPROTO_EFIELD;
		for (i = 0; i < nl; i++) {
			if (!wkproto_tchar((unsigned char)h->string[i]))
				return WKPROTO_EFIELD;
		}
		for (i = 0; i < vl; i++) {
			unsigned char c = (unsigned char)h->valuestring[i];

			if (c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
				return WKPROTO_EFIELD;
		}
		if ((o->name = strdup(h->string)) == NULL ||
		    (o->value = strdup(h->valuestring)) == NULL) {
			free(o->name);
			o->name = NULL;
			return WKPROTO_ENOMEM;
		}
		for (i = 0; i < nl; i++)
			o->name[i] = (char)tolower((unsigned char)o->name[i]);
		job->nheaders++;
	}
	return WKPROTO_OK;
}

enum wkproto_err
wkproto_job_parse(const char *buf, size_t len, struct wkproto_job *job, const char **why)
{
	cJSON *root = NULL;
	const cJSON *v;
	const char *w = NULL;
	enum wkproto_err rc = WKPROTO_EFIELD;
	char id[WK_JOB_ID_LEN + 1] = "";
	size_t i, n;

	memset(job, 0, sizeof(*job));
	if (len > WK_JOB_MAX) {
		rc = WKPROTO_ETOOBIG;
		w = "job";
		goto out;
	}
	root = cJSON_ParseWithLength(buf, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		rc = WKPROTO_EJSON;
		w = "job";
		goto out;
	}
	w = "id";
	if (wkproto_job_id(cJSON_GetObjectItemCaseSensitive(root, "id"), id) != 0)
		goto out;
	w = "method";
	v = cJSON_GetObjectItemCaseSensitive(root, "method");
	if (!cJSON_IsString(v) || (n = strlen(v->valuestring)) == 0 || n > WK_METHOD_MAX)
		goto out;
	for (i = 0; i < n; i++) {
		if (v->valuestring[i] < 'A' || v->valuestring[i] > 'Z')
			goto out;
	}
	memcpy(job->method, v->valuestring, n + 1);
	w = "path";
	v = cJSON_GetObjectItemCaseSensitive(root, "path");
	if (!cJSON_IsString(v) || wkproto_path_ok(v->valuestring) != 0)
		goto out;
	rc = WKPROTO_ENOMEM;
	if ((job->path = strdup(v->valuestring)) == NULL)
		goto out;
	rc = WKPROTO_EFIELD;
	w = "model";
	v = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (v != NULL && !cJSON_IsNull(v)) {
		if (!cJSON_IsString(v))
			goto out;
		n = strlen(v->valuestring);
		if (n > WK_MODEL_ID_MAX || !wkproto_printable(v->valuestring, n))
			goto out;
		rc = WKPROTO_ENOMEM;
		if ((job->model = strdup(v->valuestring)) == NULL)
			goto out;
		rc = WKPROTO_EFIELD;
	}
	w = "stream";
	v = cJSON_GetObjectItemCaseSensitive(root, "stream");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsBool(v))
		goto out;
	job->stream = cJSON_IsTrue(v);
	w = "headers";
	if ((rc = wkproto_job_headers(cJSON_GetObjectItemCaseSensitive(root, "headers"),
	    job)) != WKPROTO_OK)
		goto out;
	rc = WKPROTO_EFIELD;
	w = "body";
	v = cJSON_GetObjectItemCaseSensitive(root, "body");
	if (v != NULL && !cJSON_IsNull(v)) {
		if (!cJSON_IsString(v))
			goto out;
		job->body_len = strlen(v->valuestring);
		rc = WKPROTO_ENOMEM;
		if ((job->body = malloc(job->body_len + 1)) == NULL)
			goto out;
		memcpy(job->body, v->valuestring, job->body_len + 1);
	}
	w = NULL;
	rc = WKPROTO_OK;
out:
	cJSON_Delete(root);
	if (rc != WKPROTO_OK)
		wkproto_job_free(job);
	/* The id survives a failure so that the job can be refused by it. */
	memcpy(job->id, id, sizeof(id));
	if (why != NULL)
		*why = w;
	return rc;
}

void
wkproto_job_free(struct wkproto_job *job)
{
	size_t i;

	if (job == NULL)
		return;
	for (i = 0; i < job->nheaders; i++) {
		free(job->headers[i].name);
		free(job->headers[i].value);
	}
	free(job->headers);
	free(job->model);
	free(job->path);
	free(job->body);
	memset(job, 0, sizeof(*job));
}

/* Headers that never cross the worker in either direction. */
static const char *const wkproto_hop[] = {
	"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
	"transfer-encoding", "content-length", "host", "expect",
	"proxy-authorization", "proxy-authenticate",
};

/* Credentials of the client and the gateway: the runtime gets the worker's own. */
static const char *const wkproto_creds[] = {
	"authorization", "x-api-key", "cookie", "api-key",
};

static int
wkproto_in(const char *name, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(name, set[i]) == 0)
			return 1;
	}
	return 0;
}

int
wkproto_header_forwarded(const char *name)
{

	return !wkproto_in(name, wkproto_hop, sizeof(wkproto_hop) / sizeof(*wkproto_hop)) &&
	    !wkproto_in(name, wkproto_creds, sizeof(wkproto_creds) / sizeof(*wkproto_creds));
}

int
wkproto_header_returned(const char *name)
{

	return !wkproto_in(name, wkproto_hop, sizeof(wkproto_hop) / sizeof(*wkproto_hop)) &&
	    strcmp(name, "set-cookie") != 0;
}

/* Adds name: value to obj, joining a repeated name with ", "; 0 or -1 (memory). */
static int
wkproto_head_add(cJSON *obj, const char *name, const char *value)
{
	cJSON *old;
	char *joined;
	size_t a, b;

	old = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (old == NULL)
		return cJSON_AddStringToObject(obj, name, value) == NULL ? -1 : 0;
	a = strlen(old->valuestring);
	b = strlen(value);
	if ((joined = malloc(a + b + 3)) == NULL)
		return -1;
	memcpy(joined, old->valuestring, a);
	memcpy(joined + a, ", ", 2);
	memcpy(joined + a + 2, value, b + 1);
	if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, name, cJSON_CreateString(joined))) {
		free(joined);
		return -1;
	}
	free(joined);
	return 0;
}

enum wkproto_err
wkproto_head(int status, const struct wkproto_header *hdrs, size_t nhdrs,
    const char *error, char **out, size_t *outlen)
{
	cJSON *root = NULL, *h;
	char *s = NULL, line[WK_HEAD_ERROR_MAX + 1];
	enum wkproto_err rc = WKPROTO_ENOMEM;
	size_t i, used = 0, n, len;
	int pass;

	*out = NULL;
	*outlen = 0;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "status", status) == NULL)
		goto out;
	if (error != NULL) {
		/* One line, cut at a character boundary. */
		n = strlen(error);
		if (n > WK_HEAD_ERROR_MAX) {
			n = WK_HEAD_ERROR_MAX;
			while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
				n--;
		}
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)error[i];

			line[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
		while (n > 0 && line[n - 1] == ' ')
			n--;
		line[n] = '\0';
		if (cJSON_AddStringToObject(root, "error", line) == NULL)
			goto out;
	} else {
		if ((h = cJSON_AddObjectToObject(root, "headers")) == NULL)
			goto out;
		/* Pass 0: content-type; pass 1: the others, while they fit. */
		for (pass = 0; pass < 2; pass++) {
			for (i = 0; i < nhdrs; i++) {
				const char *name = hdrs[i].name;

				if ((strcmp(name, "content-type") == 0) != (pass == 0) ||
				    !wkproto_header_returned(name))
					continue;
				/* Escaping may double a value's size, at worst 6 bytes a byte. */
				len = strlen(name) + strlen(hdrs[i].value) + 8;
				if (pass == 1 && used + len > WK_HEAD_HEADERS_MAX)
					continue;
				if (strlen(hdrs[i].value) > WK_HEAD_HEADERS_MAX / 8)
					continue;
				if (wkproto_head_add(h, name, hdrs[i].value) != 0)
					goto out;
				used += len;
			}
		}
	}
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		goto out;
	len = strlen(s);
	if (len + 1 > WK_HEAD_MAX) {
		rc = WKPROTO_ETOOBIG;
		goto out;
	}
	if ((*out = malloc(len + 2)) == NULL)
		goto out;
	memcpy(*out, s, len);
	(*out)[len] = '\n';
	(*out)[len + 1] = '\0';
	*outlen = len + 1;
	rc = WKPROTO_OK;
out:
	cJSON_free(s);
	cJSON_Delete(root);
	return rc;
}

static int
wkproto_model_cmp(const void *a, const void *b)
{

	return strcmp(((const struct wkproto_model *)a)->id,
	    ((const struct wkproto_model *)b)->id);
}

/* A context length from an entry: context_length, else max_model_len; 0 if none. */
static long
wkproto_model_ctx(const cJSON *e)
{
	static const char *const keys[] = { "context_length", "max_model_len" };
	const cJSON *v;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		v = cJSON_GetObjectItemCaseSensitive(e, keys[i]);
		if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9)
			return (long)v->valuedouble;
	}
	return 0;
}

enum wkproto_err
wkproto_models_parse(const char *buf, size_t len, struct wkproto_models *m)
{
	cJSON *root = NULL;
	const cJSON *data, *e, *id;
	enum wkproto_err rc = WKPROTO_EJSON;
	size_t n = 0, i, idlen;

	memset(m, 0, sizeof(*m));
	if (len > WK_MODELS_BODY_MAX)
		return WKPROTO_ETOOBIG;
	if ((root = cJSON_ParseWithLength(buf, len)) == NULL || !cJSON_IsObject(root))
		goto out;
	rc = WKPROTO_EFIELD;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsArray(data))
		goto out;
	cJSON_ArrayForEach(e, data)
		n++;
	rc = WKPROTO_ENOMEM;
	if (n > 0 && (m->v = calloc(n < WK_MODELS_MAX ? n : WK_MODELS_MAX,
	    sizeof(*m->v))) == NULL)
		goto out;
	cJSON_ArrayForEach(e, data) {
		id = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (!cJSON_IsString(id) || (idlen = strlen(id->valuestring)) == 0 ||
		    idlen > WK_MODEL_ID_MAX || !wkproto_printable(id->valuestring, idlen) ||
		    m->n == WK_MODELS_MAX) {
			m->dropped++;
			continue;
		}
		/* Duplicates: the first of each id stays (n is small: a scan). */
		for (i = 0; i < m->n && strcmp(m->v[i].id, id->valuestring) != 0; i++)
			;
		if (i < m->n) {
			m->dropped++;
			continue;
		}
		if ((m->v[m->n].id = strdup(id->valuestring)) == NULL)
			goto out;
		m->v[m->n].context_length = wkproto_model_ctx(e);
		m->n++;
	}
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), wkproto_model_cmp);
	rc = WKPROTO_OK;
out:
	cJSON_Delete(root);
	if (rc != WKPROTO_OK)
		wkproto_models_free(m);
	return rc;
}

void
wkproto_models_free(struct wkproto_models *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->v[i].id);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

int
wkproto_models_equal(const struct wkproto_models *a, const struct wkproto_models *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].id, b->v[i].id) != 0 ||
		    a->v[i].context_length != b->v[i].context_length)
			return 0;
	}
	return 1;
}

enum wkproto_err
wkproto_hello_body(const char *name, const char *version, int capacity,
    const struct wkproto_models *models, char **out)
{
	cJSON *root = NULL, *arr, *protos, *e;
	size_t i;

	*out = NULL;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "name", name) == NULL ||
	    cJSON_AddStringToObject(root, "version", version) == NULL ||
	    cJSON_AddNumberToObject(root, "capacity", capacity) == NULL ||
	    (protos = cJSON_AddArrayToObject(root, "protocols")) == NULL ||
	    (arr = cJSON_AddArrayToObject(root, "models")) == NULL)
		goto out;
	if ((e = cJSON_CreateString("openai")) == NULL)
		goto out;
	cJSON_AddItemToArray(protos, e);
	for (i = 0; models != NULL && i < models->n; i++) {
		if ((e = cJSON_CreateObject()) == NULL)
			goto out;
		cJSON_AddItemToArray(arr, e);
		if (cJSON_AddStringToObject(e, "id", models->v[i].id) == NULL)
			goto out;
		if (models->v[i].context_length > 0 && cJSON_AddNumberToObject(e,
		    "context_length", (double)models->v[i].context_length) == NULL)
			goto out;
	}
	*out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return *out == NULL ? WKPROTO_ENOMEM : WKPROTO_OK;
}

enum wkproto_err
wkproto_hello_answer(const char *buf, size_t len, int *heartbeat_s, int *gone_after_s)
{
	cJSON *root;
	const cJSON *v;

	*heartbeat_s = WK_HEARTBEAT_DEFAULT_S;
	*gone_after_s = 0;
	if ((root = cJSON_ParseWithLength(buf, len)) == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return WKPROTO_EJSON;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "heartbeat_s");
	if (cJSON_IsNumber(v) && v->valuedouble >= WK_HEARTBEAT_MIN_S &&
	    v->valuedouble <= WK_HEARTBEAT_MAX_S)
		*heartbeat_s = (int)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(root, "gone_after_s");
	if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e6)
		*gone_after_s = (int)v->valuedouble;
	cJSON_Delete(root);
	return WKPROTO_OK;
}
