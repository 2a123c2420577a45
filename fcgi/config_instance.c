/* config_instance.c: an instance configuration made from the example file's text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "config_int.h"
#include "toml.h"

/* One replacement of bytes [start, end) of the example. */
struct config_edit {
	size_t		 start, end;	/* the value's bytes */
	char		*text;		/* replacement, owned */
};

/* Finds the value of key on 1-based line of ex: [*start, *end). 0 if found. */
static int
config_value_span(const char *ex, size_t len, unsigned line, const char *key, size_t *start,
    size_t *end)
{
	size_t i = 0, e, klen = strlen(key), p;
	unsigned l = 1;

	while (l < line && i < len) {
		if (ex[i++] == '\n')
			l++;
	}
	if (l != line)
		return -1;
	for (e = i; e < len && ex[e] != '\n'; e++)
		;
	for (p = i; p + klen <= e; p++) {
		if (memcmp(ex + p, key, klen) != 0)
			continue;
		if (p > i && strchr(" \t.{,", ex[p - 1]) == NULL)
			continue;
		*start = p + klen;
		while (*start < e && (ex[*start] == ' ' || ex[*start] == '\t'))
			(*start)++;
		if (*start >= e || ex[*start] != '=')
			continue;
		for ((*start)++; *start < e && (ex[*start] == ' ' || ex[*start] == '\t');)
			(*start)++;
		if (*start >= e)
			return -1;
		*end = *start;
		if (ex[*end] == '"' || ex[*end] == '\'') {
			if (*end + 2 < e && ex[*end + 1] == ex[*end] && ex[*end + 2] == ex[*end])
				return -1;	/* multi-line strings are not rewritten */
			for ((*end)++; *end < e && ex[*end] != ex[*start]; (*end)++)
				if (ex[*start] == '"' && ex[*end] == '\\')
					(*end)++;
			if (*end >= e)
				return -1;
			(*end)++;
		} else
			while (*end < e && strchr(" \t#,}\r", ex[*end]) == NULL)
				(*end)++;
		return 0;
	}
	return -1;
}

/* A TOML basic string holding s. */
static char *
config_quote(const char *s)
{
	size_t i, o = 0, n = strlen(s);
	char *q;

	if (n > (SIZE_MAX - 3) / 6 || (q = malloc(n * 6 + 3)) == NULL)
		return NULL;
	q[o++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			q[o++] = '\\';
			q[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(q + o, 7, "\\u%04x", ch);
			o += 6;
		} else
			q[o++] = (char)ch;
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}

/* Checks the rewritten text reads back with the values asked for. */
static int
config_instance_check(const char *text, int port, const char *state_dir, const char *db_path)
{
	struct toml_value *root;
	const struct toml_value *srv, *db, *v;
	int ok = 0;

	if ((root = toml_parse(text, strlen(text), NULL)) == NULL)
		return 0;
	srv = toml_get(root, "server");
	db = toml_get(root, "database");
	if ((v = toml_get(srv, "port")) == NULL || v->type != TOML_INTEGER || v->u.i != port)
		goto out;
	if ((v = toml_get(srv, "state_dir")) == NULL || v->type != TOML_STRING ||
	    strcmp(v->u.str.ptr, state_dir) != 0)
		goto out;
	if ((v = toml_get(db, "path")) == NULL || v->type != TOML_STRING ||
	    strcmp(v->u.str.ptr, db_path) != 0)
		goto out;
	ok = 1;
out:
	toml_free(root);
	return ok;
}

char *
config_instance_text(const char *ex, size_t len, int port, const char *state_dir,
    const char *db_path, enum qp_err *err)
{
	static const struct {
		const char	*section;
		const char	*key;
	} want[3] = { { "server", "port" }, { "server", "state_dir" }, { "database", "path" } };
	struct config_edit ed[3], t;
	struct toml_value *root = NULL;
	const struct toml_kv *kv;
	char *out = NULL, num[16];
	enum qp_err e = QP_EPARSE;
	size_t total, o, prev;
	int i, j;

	memset(ed, 0, sizeof(ed));
	if (state_dir == NULL || db_path == NULL || port < 1 || port > 65535 ||
	    state_dir[0] == '\0' || db_path[0] == '\0') {
		e = QP_EINVAL;
		goto out;
	}
	if (len > QP_CONFIG_MAX) {
		e = QP_ETOOBIG;
		goto out;
	}
	if ((root = toml_parse(ex, len, NULL)) == NULL)
		goto out;
	for (i = 0; i < 3; i++) {
		kv = toml_get_kv(toml_get(root, want[i].section), want[i].key);
		if (kv == NULL || kv->val->type != (i == 0 ? TOML_INTEGER : TOML_STRING))
			goto out;
		if (config_value_span(ex, len, config_kv_line(kv), want[i].key, &ed[i].start,
		    &ed[i].end) != 0)
			goto out;
		if (i == 0) {
			snprintf(num, sizeof(num), "%d", port);
			ed[i].text = strdup(num);
		} else
			ed[i].text = config_quote(i == 1 ? state_dir : db_path);
		if (ed[i].text == NULL) {
			e = QP_ENOMEM;
			goto out;
		}
	}
	for (i = 1; i < 3; i++)
		for (j = i; j > 0 && ed[j - 1].start > ed[j].start; j--) {
			t = ed[j];
			ed[j] = ed[j - 1];
			ed[j - 1] = t;
		}
	for (i = 1; i < 3; i++)
		if (ed[i].start < ed[i - 1].end)
			goto out;
	total = len + 1;
	for (i = 0; i < 3; i++)
		total += strlen(ed[i].text);
	if ((out = malloc(total)) == NULL) {
		e = QP_ENOMEM;
		goto out;
	}
	for (i = 0, o = 0, prev = 0; i < 3; i++) {
		memcpy(out + o, ex + prev, ed[i].start - prev);
		o += ed[i].start - prev;
		memcpy(out + o, ed[i].text, strlen(ed[i].text));
		o += strlen(ed[i].text);
		prev = ed[i].end;
	}
	memcpy(out + o, ex + prev, len - prev);
	o += len - prev;
	out[o] = '\0';
	if (!config_instance_check(out, port, state_dir, db_path)) {
		free(out);
		out = NULL;
		goto out;
	}
	e = QP_OK;
out:
	for (i = 0; i < 3; i++)
		free(ed[i].text);
	toml_free(root);
	if (err != NULL)
		*err = e;
	return out;
}
