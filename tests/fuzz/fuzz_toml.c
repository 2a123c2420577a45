/*
 * fuzz_toml.c: the TOML parser on arbitrary bytes. A parse either fails
 * with a position inside the input and a message, or gives a tree whose
 * every value has a position, whose strings are terminated, and whose
 * every key is found again by toml_get_kv().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "toml.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks a tree, aborting on a broken invariant; depth is bounded by the parser. */
static void
check_tree(const struct toml_value *v, unsigned depth, unsigned maxline)
{
	const struct toml_kv *kv;
	size_t i;

	if (depth > QP_TOML_DEPTH_MAX || v->line == 0 || v->col == 0 || v->line > maxline ||
	    (unsigned)v->type >= TOML__MAX)
		abort();
	switch (v->type) {
	case TOML_STRING:
		if (v->u.str.ptr == NULL || v->u.str.ptr[v->u.str.len] != '\0')
			abort();
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			check_tree(v->u.arr.items[i], depth + 1, maxline);
		break;
	case TOML_TABLE:
		for (i = 0; i < v->u.tab.n; i++) {
			kv = &v->u.tab.items[i];
			if (kv->key == NULL || kv->key[kv->keylen] != '\0' || kv->line == 0 ||
			    kv->line > maxline)
				abort();
			/* Keys without NUL are reachable by name, and unique. */
			if (strlen(kv->key) == kv->keylen && toml_get_kv(v, kv->key) != kv)
				abort();
			check_tree(kv->val, depth + 1, maxline);
		}
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		if (v->u.dt.nanosecond < 0 || v->u.dt.nanosecond > 999999999 ||
		    v->u.dt.frac_digits < 0 || v->u.dt.frac_digits > 9)
			abort();
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_error err;
	struct toml_value *v;
	unsigned lines = 1;
	size_t i;

	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	v = toml_parse((const char *)data, size, &err);
	if (v == NULL) {
		if (err.line == 0 || err.line > lines || err.col == 0 || err.msg[0] == '\0' ||
		    memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
			abort();
		return 0;
	}
	if (v->type != TOML_TABLE)
		abort();
	check_tree(v, 0, lines);
	toml_free(v);
	return 0;
}
