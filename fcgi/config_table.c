/* config_table.c: one section's key table over one TOML table: defaults, keys, groups, freeing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Index of key name in section sec, or -1. */
static int
config_key_find(const struct config_section *s, const char *name, size_t len)
{
	size_t i;

	if (strlen(name) != len)
		return -1;
	for (i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Reports an unknown key, suggesting the closest known one. */
static void
config_unknown_key(struct config_ctx *c, const struct config_section *s, const struct toml_kv *kv)
{
	struct config_near n = { kv->key, kv->keylen, NULL, INT_MAX };
	char shown[80];
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		config_near_offer(&n, s->keys[i].name);
	config_show(kv->key, kv->keylen, shown, sizeof(shown));
	if (n.best != NULL)
		config_msg(c, CONFIG_ERROR, config_kv_line(kv), kv->col, "unknown key \"%s\" in %s "
		    "(did you mean \"%s\"?)", shown, c->title, n.best);
	else
		config_msg(c, CONFIG_ERROR, config_kv_line(kv), kv->col, "unknown key \"%s\" in %s",
		    shown, c->title);
}

/* 1 if the field of key i is not filled by an earlier key of the table. */
static int
config_field_first(const struct config_section *s, size_t i)
{
	size_t j;

	if (s->keys[i].off == CONFIG_NOFIELD)
		return 0;
	for (j = 0; j < i; j++)
		if (s->keys[j].off == s->keys[i].off)
			return 0;
	return 1;
}

void
config_defaults(struct config_ctx *c, int sec, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char *field, *p;
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		if (!config_field_first(s, i))
			continue;
		k = &s->keys[i];
		field = (char *)base + k->off;
		switch (k->kind) {
		case CONFIG_KIND_BOOL:
		case CONFIG_KIND_INT:
		case CONFIG_KIND_CHOICE:
			*(int *)(void *)field = (int)k->idef;
			break;
		case CONFIG_KIND_PROTOCOLS:
			*(unsigned *)(void *)field = (unsigned)k->idef;
			break;
		case CONFIG_KIND_INT64:
		case CONFIG_KIND_PRICE:
			*(int64_t *)(void *)field = k->idef;
			break;
		case CONFIG_KIND_FLOAT:
			*(double *)(void *)field = k->fdef;
			break;
		case CONFIG_KIND_MS:
			*(int *)(void *)field = (int)(k->fdef * 1000.0 + 0.5);
			break;
		case CONFIG_KIND_STRINGS:
		case CONFIG_KIND_ADDRS:
		case CONFIG_KIND_PATHGLOBS:
			*(char ***)(void *)field = NULL;
			*(int *)(void *)((char *)base + k->off2) = 0;
			break;
		case CONFIG_KIND_STATUSES:
			*(int *)(void *)((char *)base + k->off2) = 0;
			break;
		default:
			if (k->sdef == NULL)
				break;
			if (k->kind == CONFIG_KIND_PATH)
				p = config_abspath(c->dir, k->sdef);
			else
				p = strdup(k->sdef);
			if (p == NULL)
				c->oom = 1;
			config_set_str((char **)(void *)field, p);
			break;
		}
	}
}

void
config_section_free(int sec, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char ***arr;
	int *count, j;
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind == CONFIG_KIND_ENV && k->off2 != CONFIG_NOFIELD)
			config_set_str((char **)(void *)((char *)base + k->off2), NULL);
		if (!config_field_first(s, i))
			continue;
		switch (k->kind) {
		case CONFIG_KIND_STRING:
		case CONFIG_KIND_PATH:
		case CONFIG_KIND_NAME:
		case CONFIG_KIND_CHOICE_STR:
		case CONFIG_KIND_SECRET:
		case CONFIG_KIND_ENV:
		case CONFIG_KIND_BASE_URL:
		case CONFIG_KIND_PROXY_URL:
		case CONFIG_KIND_URLPATH:
			config_set_str((char **)(void *)((char *)base + k->off), NULL);
			break;
		case CONFIG_KIND_STRINGS:
		case CONFIG_KIND_ADDRS:
		case CONFIG_KIND_PATHGLOBS:
			arr = (char ***)(void *)((char *)base + k->off);
			count = (int *)(void *)((char *)base + k->off2);
			for (j = 0; *arr != NULL && j < *count; j++)
				free((*arr)[j]);
			free(*arr);
			*arr = NULL;
			*count = 0;
			break;
		default:
			break;
		}
	}
}

void
config_parse_table(struct config_ctx *c, int sec, const struct toml_value *tab, void *base)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	const struct toml_kv *kv;
	unsigned seen[CONFIG_KEYS_MAX];
	size_t i, j;
	int ki, have;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < tab->u.tab.n; i++) {
		kv = &tab->u.tab.items[i];
		if ((ki = config_key_find(s, kv->key, kv->keylen)) < 0) {
			config_unknown_key(c, s, kv);
			continue;
		}
		k = &s->keys[ki];
		for (j = 0; k->group != 0 && j < s->nkeys; j++)
			if (s->keys[j].group == k->group && seen[j] != 0)
				break;
		if (k->group != 0 && j < s->nkeys) {
			config_msg(c, CONFIG_ERROR, config_kv_line(kv), 0, "%s: %s and %s are both "
			    "set: keep one", c->where, s->keys[j].name, k->name);
			continue;
		}
		seen[ki] = config_kv_line(kv);
		if (seen[ki] == 0)
			seen[ki] = 1;
		config_set(c, k, kv, base);
		if (k->noeffect != NULL && k->kind != CONFIG_KIND_IGNORED)
			config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "%s.%s: has no effect "
			    "in this version: %s", c->where, k->name, k->noeffect);
	}
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if ((k->flags & CONFIG_F_REQUIRED) && seen[i] == 0)
			config_msg(c, CONFIG_ERROR, tab->line, 0, "%s: %s is required", c->where,
			    k->name);
		if (!(k->flags & CONFIG_F_ONE_REQUIRED))
			continue;
		for (j = 0, have = 0; j < s->nkeys; j++)
			if (s->keys[j].group == k->group && seen[j] != 0)
				have = 1;
		for (j = 0; j < i; j++)
			if (s->keys[j].group == k->group && (s->keys[j].flags & CONFIG_F_ONE_REQUIRED))
				have = 1;	/* reported with the first key of the group */
		if (!have)
			config_msg(c, CONFIG_ERROR, tab->line, 0, "%s: one of %s and its "
			    "alternatives is required", c->where, k->name);
	}
}

void
config_parse_sub(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	char where[sizeof(c->where)], title[sizeof(c->title)];
	size_t n;

	memcpy(where, c->where, sizeof(where));
	memcpy(title, c->title, sizeof(title));
	n = strlen(c->where);
	snprintf(c->where + n, sizeof(c->where) - n, ".%s", k->name);
	snprintf(c->title, sizeof(c->title), "[%s]", c->where);
	config_parse_table(c, k->sub, v, base);
	memcpy(c->where, where, sizeof(where));
	memcpy(c->title, title, sizeof(title));
}

void
config_where(struct config_ctx *c, const char *where, const char *title)
{

	snprintf(c->where, sizeof(c->where), "%s", where);
	snprintf(c->title, sizeof(c->title), "%s", title);
}

int
config_is_table(struct config_ctx *c, const char *what, const struct toml_value *v)
{
	char got[64];

	if (v->type == TOML_TABLE)
		return 1;
	config_msg(c, CONFIG_ERROR, v->line, v->col, "%s: expected a table, got %s", what,
	    config_got(v, got, sizeof(got)));
	return 0;
}
