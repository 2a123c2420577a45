/* config_diag.c: the messages of a configuration load: recorded, worded, ordered, printed. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

void
config_msg(struct config_ctx *c, enum config_severity sev, unsigned line, unsigned col,
    const char *fmt, ...)
{
	struct config_diag *d = c->diag;
	struct config_msg *m;
	va_list ap;
	int ncap;

	if (d->n >= CONFIG_DIAG_MAX + c->summary) {
		c->dropped++;
		if (sev == CONFIG_ERROR)
			c->dropped_errors++;
		return;
	}
	if (d->n >= c->cap) {
		ncap = c->cap < 16 ? 16 : c->cap * 2;
		if (ncap > CONFIG_DIAG_MAX + 1)
			ncap = CONFIG_DIAG_MAX + 1;
		m = realloc(d->msgs, (size_t)ncap * sizeof(*m));
		if (m == NULL) {
			c->oom = 1;
			return;
		}
		d->msgs = m;
		c->cap = ncap;
	}
	m = &d->msgs[d->n++];
	m->severity = sev;
	m->line = (int)(line > INT_MAX ? 0 : line);
	m->col = (int)(col > INT_MAX ? 0 : col);
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	if (sev == CONFIG_ERROR)
		d->nerrors++;
}

const char *
config_show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;
	unsigned char ch;

	for (i = 0; i < len && o + 4 < size; i++) {
		ch = (unsigned char)s[i];
		buf[o++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

unsigned
config_kv_line(const struct toml_kv *kv)
{

	return kv->line != 0 ? kv->line : kv->val->line;
}

const char *
config_got(const struct toml_value *v, char *buf, size_t size)
{
	const char *t = toml_type_name(v->type);

	snprintf(buf, size, "%s %s", strchr("aeiouAEIOU", t[0]) != NULL ? "an" : "a", t);
	return buf;
}

/* Optimal string alignment distance of two short strings. */
static int
config_distance(const char *a, size_t la, const char *b, size_t lb)
{
	int r0[CONFIG_NAME_MAX + 1], r1[CONFIG_NAME_MAX + 1], r2[CONFIG_NAME_MAX + 1];
	int *pp = r0, *p = r1, *cur = r2, *t;
	size_t i, j;
	int cost, v;

	if (la > CONFIG_NAME_MAX || lb > CONFIG_NAME_MAX)
		return INT_MAX;
	for (j = 0; j <= lb; j++)
		p[j] = (int)j;
	for (i = 1; i <= la; i++) {
		cur[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] == b[j - 1] ? 0 : 1;
			v = p[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
		}
		t = pp;
		pp = p;
		p = cur;
		cur = t;
	}
	return p[lb];
}

void
config_near_offer(struct config_near *n, const char *name)
{
	int d = config_distance(n->s, n->len, name, strlen(name));

	if (d <= 2 && d < n->dist && (size_t)d < strlen(name)) {
		n->best = name;
		n->dist = d;
	}
}

void
config_diag_sort(struct config_diag *d, int from)
{
	struct config_msg t;
	int i, j;
	unsigned a, b;

	for (i = from + 1; i < d->n; i++) {
		t = d->msgs[i];
		a = t.line == 0 ? UINT_MAX : (unsigned)t.line;
		for (j = i; j > from; j--) {
			b = d->msgs[j - 1].line == 0 ? UINT_MAX : (unsigned)d->msgs[j - 1].line;
			if (b <= a)
				break;
			d->msgs[j] = d->msgs[j - 1];
		}
		d->msgs[j] = t;
	}
}

void
config_diag_print(const struct config_diag *diag, const char *path, FILE *fp)
{
	const struct config_msg *m;
	const char *sev;
	int i;

	if (diag == NULL)
		return;
	if (path == NULL)
		path = "config";
	for (i = 0; i < diag->n; i++) {
		m = &diag->msgs[i];
		sev = m->severity == CONFIG_ERROR ? "error" : "warning";
		if (m->line > 0 && m->col > 0)
			fprintf(fp, "%s:%d:%d: %s: %s\n", path, m->line, m->col, sev, m->text);
		else if (m->line > 0)
			fprintf(fp, "%s:%d: %s: %s\n", path, m->line, sev, m->text);
		else
			fprintf(fp, "%s: %s: %s\n", path, sev, m->text);
	}
}

void
config_diag_free(struct config_diag *diag)
{

	if (diag == NULL)
		return;
	free(diag->msgs);
	diag->msgs = NULL;
	diag->n = 0;
	diag->nerrors = 0;
}
