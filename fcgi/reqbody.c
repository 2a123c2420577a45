/* reqbody.c: checks a client's request body and rewrites it for the upstream. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "reqbody.h"

/* Returns 1 if s has a character other than white space. */
static int
reqbody_nonblank(const char *s)
{

	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' &&
		    *s != '\v' && *s != '\f')
			return 1;
	return 0;
}

/* Top-level keys the gateway reads, each refused when it appears twice. */
static const struct {
	const char	*key;
	const char	*why;	/* the client's 400 message */
} reqbody_unique[] = {
	{ "model",	"Duplicate key 'model' in the request body" },
	{ "stream",	"Duplicate key 'stream' in the request body" },
};

/*
 * Returns the message for the first key of reqbody_unique that root
 * holds more than once, or NULL. Parsers differ on which duplicate
 * counts, so the gateway could route on one model while the upstream
 * reads another.
 */
static const char *
reqbody_duplicate(const cJSON *root)
{
	const cJSON *c;
	size_t i;
	int n;

	for (i = 0; i < sizeof(reqbody_unique) / sizeof(reqbody_unique[0]); i++) {
		n = 0;
		for (c = root->child; c != NULL; c = c->next)
			if (c->string != NULL && strcmp(c->string, reqbody_unique[i].key) == 0)
				n++;
		if (n > 1)
			return reqbody_unique[i].why;
	}
	return NULL;
}

enum qp_err
reqbody_parse(struct reqbody *rb, const char *buf, size_t len, const char **why)
{
	cJSON *root = NULL, *m, *s, *so, *iu;
	const char *dup;
	enum qp_err err;

	memset(rb, 0, sizeof(*rb));
	*why = "Invalid JSON";
	root = json_parse(buf, len, &err);
	if (root == NULL) {
		if (err == QP_ETOOBIG)
			*why = "Invalid JSON: nested too deeply";
		goto out;
	}
	err = QP_EPARSE;
	if (!cJSON_IsObject(root))
		goto out;
	err = QP_EINVAL;
	if ((dup = reqbody_duplicate(root)) != NULL) {
		*why = dup;
		goto out;
	}
	m = json_member(root, "model");
	if (!cJSON_IsString(m) || m->valuestring == NULL || !reqbody_nonblank(m->valuestring)) {
		*why = "Missing model field";
		goto out;
	}
	s = json_member(root, "stream");
	if (s != NULL && !cJSON_IsBool(s) && !cJSON_IsNull(s)) {
		*why = "Invalid stream value: must be a boolean";
		goto out;
	}
	rb->root = root;
	rb->model = m->valuestring;
	rb->stream = cJSON_IsTrue(s);
	so = json_member(root, "stream_options");
	iu = json_member(so, "include_usage");
	rb->include_usage = cJSON_IsTrue(iu);
	root = NULL;
	*why = NULL;
	err = QP_OK;
out:
	cJSON_Delete(root);
	return err;
}

/*
 * Replaces every member of o named key with a copy of v, or adds v if
 * there is none. v is consumed in every case. Returns QP_OK or QP_ENOMEM.
 */
static enum qp_err
reqbody_set(cJSON *o, const char *key, cJSON *v)
{
	cJSON *c, *next, *dup;
	int found = 0;

	if (v == NULL)
		return QP_ENOMEM;
	for (c = o->child; c != NULL; c = next) {
		next = c->next;
		if (c->string == NULL || strcmp(c->string, key) != 0)
			continue;
		dup = cJSON_Duplicate(v, 1);
		if (dup == NULL) {
			cJSON_Delete(v);
			return QP_ENOMEM;
		}
		/* The copy takes over the old member's name and place. */
		dup->string = c->string;
		dup->type = (dup->type & ~cJSON_StringIsConst) | (c->type & cJSON_StringIsConst);
		c->string = NULL;
		cJSON_ReplaceItemViaPointer(o, c, dup);
		found = 1;
	}
	if (found) {
		cJSON_Delete(v);
		return QP_OK;
	}
	if (!cJSON_AddItemToObject(o, key, v)) {
		cJSON_Delete(v);
		return QP_ENOMEM;
	}
	return QP_OK;
}

enum qp_err
reqbody_upstream(struct reqbody *rb, const char *base_id, int want_usage,
    char **out, size_t *out_len)
{
	cJSON *so, *m;
	int changed = 0;
	enum qp_err err = QP_OK;

	*out = NULL;
	*out_len = 0;
	if (rb->root == NULL)
		return QP_EINVAL;
	if (base_id != NULL && strcmp(rb->model, base_id) != 0) {
		err = reqbody_set(rb->root, "model", cJSON_CreateString(base_id));
		if (err != QP_OK)
			goto out;
		m = json_member(rb->root, "model");
		rb->model = m->valuestring;
		changed = 1;
	}
	if (want_usage && rb->stream && !rb->include_usage) {
		so = json_member(rb->root, "stream_options");
		if (cJSON_IsObject(so))
			err = reqbody_set(so, "include_usage", cJSON_CreateTrue());
		else {
			so = cJSON_CreateObject();
			if (so == NULL) {
				err = QP_ENOMEM;
				goto out;
			}
			err = reqbody_set(so, "include_usage", cJSON_CreateTrue());
			if (err != QP_OK) {
				cJSON_Delete(so);
				goto out;
			}
			err = reqbody_set(rb->root, "stream_options", so);
		}
		if (err != QP_OK)
			goto out;
		changed = 1;
	}
	if (changed)
		rb->edited = 1;
	if (rb->edited) {
		*out = cJSON_PrintUnformatted(rb->root);
		if (*out == NULL) {
			err = QP_ENOMEM;
			goto out;
		}
		*out_len = strlen(*out);
	}
out:
	return err;
}

void
reqbody_free(struct reqbody *rb)
{

	if (rb == NULL)
		return;
	cJSON_Delete(rb->root);
	memset(rb, 0, sizeof(*rb));
}
