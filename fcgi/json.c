/* json.c: bounded JSON parsing for request and upstream bodies. */
#include <string.h>

#include "bounds.h"
#include "json.h"

/* Returns 1 if arrays and objects in buf nest deeper than max. */
static int
json_too_deep(const char *buf, size_t len, int max)
{
	size_t i;
	int depth = 0, instr = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		if (c == '"')
			instr = 1;
		else if (c == '{' || c == '[') {
			if (++depth > max)
				return 1;
		} else if ((c == '}' || c == ']') && depth > 0)
			depth--;
	}
	return 0;
}

cJSON *
json_parse(const char *buf, size_t len, enum qp_err *err)
{
	const char *end = NULL;
	cJSON *root = NULL;
	size_t i;

	*err = QP_EPARSE;
	if (buf == NULL || len == 0)
		return NULL;
	if (json_too_deep(buf, len, QP_JSON_DEPTH_MAX)) {
		*err = QP_ETOOBIG;
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (root == NULL)
		return NULL;
	if (end == NULL || end < buf || end > buf + len)
		goto out;
	for (i = (size_t)(end - buf); i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
			goto out;
	*err = QP_OK;
out:
	if (*err != QP_OK) {
		cJSON_Delete(root);
		root = NULL;
	}
	return root;
}

cJSON *
json_member(const cJSON *o, const char *key)
{
	cJSON *c, *found = NULL;

	if (!cJSON_IsObject(o))
		return NULL;
	for (c = o->child; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, key) == 0)
			found = c;
	return found;
}
