/* workerproto.c: the remote workers' wire formats: hello body, job JSON, result head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "workerproto.h"

/* Protocol families a worker may name; the others are ignored. */
static const char *const workerproto_families[] = { "openai", "anthropic", "responses" };

int
workerproto_printable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned c;

	while (i < len) {
		c = p[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		/* Overlong, surrogate and out-of-range forms. */
		if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
		    (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
			return 0;
		/* C1 controls (U+0080..U+009F). */
		if (c == 0xc2 && p[i + 1] < 0xa0)
			return 0;
		i += n + 1;
	}
	return 1;
}

int
workerproto_job_id_valid(const char *s, size_t len)
{
	size_t i;

	if (len != WORKERPROTO_JOB_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Copies a printable string member of at most max bytes; 0, or -1 when it is not one. */
static int
workerproto_text(const cJSON *v, char *dst, size_t max)
{
	size_t n;

	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return -1;
	n = strlen(v->valuestring);
	if (n > max || !workerproto_printable(v->valuestring, n))
		return -1;
	memcpy(dst, v->valuestring, n + 1);
	return 0;
}

/* Returns the integer value of v when it is a whole number in [lo, hi], else lo - 1. */
static int64_t
workerproto_int(const cJSON *v, int64_t lo, int64_t hi)
{
	double d;

	if (!cJSON_IsNumber(v))
		return lo - 1;
	d = v->valuedouble;
	if (d != d || d < (double)lo || d > (double)hi || d != (double)(int64_t)d)
		return lo - 1;
	return (int64_t)d;
}

/* Fills h->protocols from the "protocols" member (absent = openai). */
static int
workerproto_protocols(const cJSON *v, struct workerproto_hello *h)
{
	const cJSON *e;
	size_t i, used = 0;
	int seen[sizeof(workerproto_families) / sizeof(workerproto_families[0])] = { 0 };

	if (v == NULL) {
		snprintf(h->protocols, sizeof(h->protocols), "openai");
		return 0;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 16) {
		snprintf(h->why, sizeof(h->why), "protocols must be an array of at most 16 names");
		return -1;
	}
	h->protocols[0] = '\0';
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e)) {
			snprintf(h->why, sizeof(h->why), "protocols must be an array of strings");
			return -1;
		}
		for (i = 0; i < sizeof(workerproto_families) / sizeof(workerproto_families[0]); i++)
			if (strcmp(e->valuestring, workerproto_families[i]) == 0 && !seen[i]) {
				seen[i] = 1;
				used += (size_t)snprintf(h->protocols + used, sizeof(h->protocols) - used,
				    "%s%s", used > 0 ? "," : "", workerproto_families[i]);
			}
	}
	if (!seen[0]) {
		snprintf(h->why, sizeof(h->why), "protocols must include \"openai\"");
		return -1;
	}
	return 0;
}

/* Reads the "models" member into h->models. */
static enum qp_err
workerproto_models(const cJSON *v, struct workerproto_hello *h)
{
	const cJSON *e, *id, *ctx;
	struct workerproto_model *m;
	int n, i, k;

	if (!cJSON_IsArray(v)) {
		snprintf(h->why, sizeof(h->why), "models must be an array");
		return QP_EINVAL;
	}
	if ((n = cJSON_GetArraySize(v)) > QP_WORKER_MODELS_MAX) {
		snprintf(h->why, sizeof(h->why), "models holds more than %d entries",
		    QP_WORKER_MODELS_MAX);
		return QP_EINVAL;
	}
	if (n > 0 && (h->models = calloc((size_t)n, sizeof(*h->models))) == NULL)
		return QP_ENOMEM;
	i = 0;
	cJSON_ArrayForEach(e, v) {
		m = &h->models[i];
		id = cJSON_IsObject(e) ? json_member(e, "id") : NULL;
		if (id == NULL || workerproto_text(id, m->id, QP_WORKER_MODEL_ID_MAX) != 0 ||
		    m->id[0] == '\0') {
			snprintf(h->why, sizeof(h->why), "models[%d]: id must be 1 to %d bytes of "
			    "printable UTF-8", i, QP_WORKER_MODEL_ID_MAX);
			return QP_EINVAL;
		}
		ctx = json_member(e, "context_length");
		if (ctx != NULL && !cJSON_IsNull(ctx) &&
		    (m->context_length = workerproto_int(ctx, 1, 1LL << 40)) < 1) {
			snprintf(h->why, sizeof(h->why), "models[%d]: context_length must be a "
			    "positive integer", i);
			return QP_EINVAL;
		}
		/* A model listed twice is registered once. */
		for (k = 0; k < i; k++)
			if (strcmp(h->models[k].id, m->id) == 0)
				break;
		if (k == i)
			i++;
		else
			memset(m, 0, sizeof(*m));
	}
	h->nmodels = i;
	return QP_OK;
}

enum qp_err
workerproto_hello_parse(const char *buf, size_t len, struct workerproto_hello *h)
{
	cJSON *root = NULL;
	const cJSON *v;
	int64_t cap;
	enum qp_err err;

	memset(h, 0, sizeof(*h));
	if (len > QP_WORKER_HELLO_MAX)
		return QP_ETOOBIG;
	if ((root = json_parse(buf, len, &err)) == NULL || !cJSON_IsObject(root)) {
		snprintf(h->why, sizeof(h->why), "the body is not a JSON object");
		err = QP_EINVAL;
		goto out;
	}
	err = QP_EINVAL;
	if ((v = json_member(root, "name")) == NULL ||
	    workerproto_text(v, h->name, QP_WORKER_NAME_MAX) != 0 || h->name[0] == '\0') {
		snprintf(h->why, sizeof(h->why), "name must be 1 to %d bytes of printable UTF-8",
		    QP_WORKER_NAME_MAX);
		goto out;
	}
	if ((v = json_member(root, "version")) != NULL && !cJSON_IsNull(v) &&
	    workerproto_text(v, h->version, QP_WORKER_VERSION_MAX) != 0) {
		snprintf(h->why, sizeof(h->why), "version must be at most %d bytes of printable "
		    "UTF-8", QP_WORKER_VERSION_MAX);
		goto out;
	}
	if ((cap = workerproto_int(json_member(root, "capacity"), 1,
	    QP_WORKER_CAPACITY_MAX)) < 1) {
		snprintf(h->why, sizeof(h->why), "capacity must be an integer from 1 to %d",
		    QP_WORKER_CAPACITY_MAX);
		goto out;
	}
	h->capacity = (int)cap;
	if (workerproto_protocols(json_member(root, "protocols"), h) != 0)
		goto out;
	if ((v = json_member(root, "models")) == NULL) {
		snprintf(h->why, sizeof(h->why), "models is missing");
		goto out;
	}
	err = workerproto_models(v, h);
out:
	cJSON_Delete(root);
	return err;
}

void
workerproto_hello_free(struct workerproto_hello *h)
{

	free(h->models);
	h->models = NULL;
	h->nmodels = 0;
}

/* Appends "name: value\r\n" to h->raw when it fits and both are printable. */
static void
workerproto_raw_add(struct workerproto_head *h, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (nl == 0 || !workerproto_printable(name, nl) || !workerproto_printable(value, vl) ||
	    strchr(name, ':') != NULL || h->raw_len + nl + vl + 5 > sizeof(h->raw))
		return;
	memcpy(h->raw + h->raw_len, name, nl);
	memcpy(h->raw + h->raw_len + nl, ": ", 2);
	memcpy(h->raw + h->raw_len + nl + 2, value, vl);
	memcpy(h->raw + h->raw_len + nl + 2 + vl, "\r\n", 3);
	h->raw_len += nl + vl + 4;
}

enum qp_err
workerproto_head_parse(const char *buf, size_t len, struct workerproto_head *h,
    size_t *used)
{
	const char *nl;
	const cJSON *v, *e;
	cJSON *root = NULL;
	size_t scan = len < QP_WORKER_HEAD_MAX + 1 ? len : QP_WORKER_HEAD_MAX + 1;
	int64_t st;
	enum qp_err err = QP_EINVAL;

	memset(h, 0, sizeof(*h));
	*used = 0;
	if ((nl = memchr(buf, '\n', scan)) == NULL) {
		snprintf(h->why, sizeof(h->why), "the body does not start with a head line of at "
		    "most %d bytes ended by a newline", QP_WORKER_HEAD_MAX);
		return QP_EINVAL;
	}
	if ((root = json_parse(buf, (size_t)(nl - buf), &err)) == NULL ||
	    !cJSON_IsObject(root)) {
		snprintf(h->why, sizeof(h->why), "the head line is not a JSON object");
		err = QP_EINVAL;
		goto out;
	}
	err = QP_EINVAL;
	if ((st = workerproto_int(json_member(root, "status"), 100, 599)) < 100) {
		snprintf(h->why, sizeof(h->why), "the head has no status between 100 and 599");
		goto out;
	}
	h->status = (int)st;
	if ((v = json_member(root, "headers")) != NULL && !cJSON_IsNull(v)) {
		if (!cJSON_IsObject(v)) {
			snprintf(h->why, sizeof(h->why), "the head's headers must be an object");
			goto out;
		}
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e) || e->string == NULL)
				continue;
			if (strcasecmp(e->string, "content-type") == 0 &&
			    strlen(e->valuestring) <= WORKERPROTO_CTYPE_MAX &&
			    workerproto_printable(e->valuestring, strlen(e->valuestring)))
				snprintf(h->ctype, sizeof(h->ctype), "%s", e->valuestring);
			workerproto_raw_add(h, e->string, e->valuestring);
		}
	}
	if ((v = json_member(root, "error")) != NULL && cJSON_IsString(v) &&
	    workerproto_text(v, h->error, sizeof(h->error) - 1) != 0)
		snprintf(h->error, sizeof(h->error), "(unprintable)");
	*used = (size_t)(nl - buf) + 1;
	err = QP_OK;
out:
	cJSON_Delete(root);
	return err;
}

enum qp_err
workerproto_job_json(const struct workerproto_job *j, char **out, size_t *outlen)
{
	cJSON *root = NULL, *hd;
	char *body = NULL, *s = NULL;
	enum qp_err err = QP_ENOMEM;

	*out = NULL;
	*outlen = 0;
	if (j->model == NULL || j->method == NULL || j->path == NULL || j->body == NULL)
		return QP_EINVAL;
	/* The body goes as a JSON string: its bytes up to len, kept whole. */
	if ((body = malloc(j->body_len + 1)) == NULL)
		goto out;
	memcpy(body, j->body, j->body_len);
	body[j->body_len] = '\0';
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "id", j->id) == NULL ||
	    cJSON_AddStringToObject(root, "model", j->model) == NULL ||
	    cJSON_AddStringToObject(root, "method", j->method) == NULL ||
	    cJSON_AddStringToObject(root, "path", j->path) == NULL ||
	    cJSON_AddBoolToObject(root, "stream", j->stream) == NULL ||
	    (hd = cJSON_AddObjectToObject(root, "headers")) == NULL ||
	    cJSON_AddStringToObject(hd, "content-type", j->content_type != NULL ?
	    j->content_type : "application/json") == NULL ||
	    cJSON_AddStringToObject(hd, "accept", j->accept != NULL ? j->accept :
	    (j->stream ? "text/event-stream" : "application/json")) == NULL ||
	    cJSON_AddStringToObject(root, "body", body) == NULL)
		goto out;
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		goto out;
	*out = s;
	*outlen = strlen(s);
	err = QP_OK;
out:
	cJSON_Delete(root);
	free(body);
	return err;
}

enum qp_err
workerproto_job_parse(const char *buf, size_t len, struct workerproto_job *j, void **tree)
{
	cJSON *root;
	const cJSON *v, *hd;
	enum qp_err err;

	memset(j, 0, sizeof(*j));
	*tree = NULL;
	if ((root = json_parse(buf, len, &err)) == NULL)
		return err == QP_ETOOBIG ? QP_ETOOBIG : QP_EINVAL;
	err = QP_EINVAL;
	if (!cJSON_IsObject(root))
		goto fail;
	v = json_member(root, "id");
	if (!cJSON_IsString(v) || !workerproto_job_id_valid(v->valuestring,
	    strlen(v->valuestring)))
		goto fail;
	memcpy(j->id, v->valuestring, WORKERPROTO_JOB_ID_LEN + 1);
	if (!cJSON_IsString(v = json_member(root, "model")))
		goto fail;
	j->model = v->valuestring;
	if (!cJSON_IsString(v = json_member(root, "method")))
		goto fail;
	j->method = v->valuestring;
	if (!cJSON_IsString(v = json_member(root, "path")))
		goto fail;
	j->path = v->valuestring;
	if (!cJSON_IsBool(v = json_member(root, "stream")))
		goto fail;
	j->stream = cJSON_IsTrue(v);
	if ((hd = json_member(root, "headers")) != NULL) {
		if (!cJSON_IsObject(hd))
			goto fail;
		if (cJSON_IsString(v = json_member(hd, "content-type")))
			j->content_type = v->valuestring;
		if (cJSON_IsString(v = json_member(hd, "accept")))
			j->accept = v->valuestring;
	}
	if (!cJSON_IsString(v = json_member(root, "body")))
		goto fail;
	j->body = v->valuestring;
	j->body_len = strlen(v->valuestring);
	*tree = root;
	return QP_OK;
fail:
	cJSON_Delete(root);
	memset(j, 0, sizeof(*j));
	return err;
}

/* Returns the value of a hex digit, or -1. */
static int
workerproto_hex(char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads a decimal number of at most 10 digits; -1 if v is not one. */
static int64_t
workerproto_num(const char *v, size_t n)
{
	int64_t x = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

enum qp_err
workerproto_query_parse(const char *q, struct workerproto_query *out)
{
	const char *p = q, *amp, *eq, *v;
	size_t kn, vn, i, o;
	int64_t x;
	int hi, lo;

	memset(out, 0, sizeof(*out));
	out->wait = -1;
	out->seq = -1;
	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp != NULL ? (size_t)(amp - p) : strlen(p));
		kn = eq != NULL ? (size_t)(eq - p) : amp != NULL ? (size_t)(amp - p) : strlen(p);
		v = eq != NULL ? eq + 1 : p + kn;
		vn = amp != NULL ? (size_t)(amp - v) : strlen(v);
		if (kn == 4 && memcmp(p, "wait", 4) == 0) {
			if ((x = workerproto_num(v, vn)) < 1 || x > QP_WORKER_WAIT_MAX_S) {
				snprintf(out->why, sizeof(out->why), "wait must be 1 to %d seconds",
				    QP_WORKER_WAIT_MAX_S);
				return QP_EINVAL;
			}
			out->wait = (int)x;
		} else if (kn == 3 && memcmp(p, "seq", 3) == 0) {
			if ((x = workerproto_num(v, vn)) < 0 || x > 4294967295LL) {
				snprintf(out->why, sizeof(out->why), "seq must be a number from 0");
				return QP_EINVAL;
			}
			out->seq = x;
		} else if (kn == 3 && memcmp(p, "end", 3) == 0) {
			if (vn != 1 || (v[0] != '0' && v[0] != '1')) {
				snprintf(out->why, sizeof(out->why), "end must be 0 or 1");
				return QP_EINVAL;
			}
			out->end = v[0] == '1';
		} else if (kn == 4 && memcmp(p, "name", 4) == 0) {
			for (i = 0, o = 0; i < vn; i++) {
				if (o >= QP_WORKER_NAME_MAX)
					goto badname;
				if (v[i] == '%') {
					if (i + 2 >= vn)
						goto badname;
					if ((hi = workerproto_hex(v[i + 1])) < 0 ||
					    (lo = workerproto_hex(v[i + 2])) < 0)
						goto badname;
					out->name[o++] = (char)(hi * 16 + lo);
					i += 2;
				} else
					out->name[o++] = v[i] == '+' ? ' ' : v[i];
			}
			out->name[o] = '\0';
			if (o == 0 || !workerproto_printable(out->name, o))
				goto badname;
			out->has_name = 1;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return QP_OK;
badname:
	snprintf(out->why, sizeof(out->why), "name must be 1 to %d bytes of printable UTF-8",
	    QP_WORKER_NAME_MAX);
	return QP_EINVAL;
}

void
workerproto_job_tree_free(void *tree)
{

	cJSON_Delete(tree);
}
