/*
 * toml-decode.c: the toml-test decoder for quotapool's TOML parser: TOML on
 * stdin; typed JSON on stdout and exit 0, or "line L, column C: msg" on
 * stderr and exit 1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bounds.h"
#include "toml.h"

/*
 * cJSON strings end at NUL, so NUL bytes travel as 0xFF (never in valid
 * UTF-8, which the parser enforces) and become \u0000 after printing.
 */
static char *
decode_mark_nul(const char *s, size_t len)
{
	char *out;
	size_t i;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		out[i] = s[i] == '\0' ? (char)0xFF : s[i];
	out[len] = '\0';
	return out;
}

/* Writes a date-time the way toml-test spells it. */
static void
decode_datetime(const struct toml_value *v, char *out, size_t outsz)
{
	const struct toml_datetime *dt = &v->u.dt;
	char date[32] = "", tim[48] = "", off[16] = "";
	long frac;

	if (v->type != TOML_TIME_LOCAL)
		snprintf(date, sizeof(date), "%04d-%02d-%02d", dt->year, dt->month, dt->day);
	if (v->type != TOML_DATE_LOCAL) {
		snprintf(tim, sizeof(tim), "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
		if (dt->frac_digits > 0) {
			int k;

			frac = dt->nanosecond;
			for (k = dt->frac_digits; k < 9; k++)
				frac /= 10;
			snprintf(tim + 8, sizeof(tim) - 8, ".%0*ld", dt->frac_digits, frac);
		}
	}
	if (v->type == TOML_DATETIME) {
		if (dt->offset_z)
			snprintf(off, sizeof(off), "Z");
		else
			snprintf(off, sizeof(off), "%c%02d:%02d",
			    dt->offset_minutes < 0 ? '-' : '+',
			    abs(dt->offset_minutes) / 60, abs(dt->offset_minutes) % 60);
	}
	snprintf(out, outsz, "%s%s%s%s", date,
	    v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL ? "T" : "", tim, off);
}

static cJSON *
decode_value(const struct toml_value *v)
{
	static const char *const types[TOML__MAX] = {
		"string", "integer", "float", "bool", "datetime", "datetime-local",
		"date-local", "time-local", NULL, NULL,
	};
	cJSON *j = NULL, *item;
	char buf[64], *s;
	size_t i;

	switch (v->type) {
	case TOML_TABLE:
		j = cJSON_CreateObject();
		for (i = 0; j != NULL && i < v->u.tab.n; i++) {
			item = decode_value(v->u.tab.items[i].val);
			s = decode_mark_nul(v->u.tab.items[i].key, v->u.tab.items[i].keylen);
			if (item == NULL || s == NULL) {
				cJSON_Delete(item);
				free(s);
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToObject(j, s, item);
			free(s);
		}
		return j;
	case TOML_ARRAY:
		j = cJSON_CreateArray();
		for (i = 0; j != NULL && i < v->u.arr.n; i++) {
			item = decode_value(v->u.arr.items[i]);
			if (item == NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToArray(j, item);
		}
		return j;
	case TOML_STRING:
		s = decode_mark_nul(v->u.str.ptr, v->u.str.len);
		break;
	case TOML_INTEGER:
		snprintf(buf, sizeof(buf), "%" PRId64, v->u.i);
		s = strdup(buf);
		break;
	case TOML_FLOAT:
		if (isnan(v->u.f))
			snprintf(buf, sizeof(buf), "nan");
		else if (isinf(v->u.f))
			snprintf(buf, sizeof(buf), "%sinf", v->u.f < 0 ? "-" : "");
		else
			snprintf(buf, sizeof(buf), "%.17g", v->u.f);
		s = strdup(buf);
		break;
	case TOML_BOOL:
		s = strdup(v->u.b ? "true" : "false");
		break;
	default:
		decode_datetime(v, buf, sizeof(buf));
		s = strdup(buf);
		break;
	}
	if (s == NULL)
		return NULL;
	j = cJSON_CreateObject();
	if (j != NULL && (cJSON_AddStringToObject(j, "type", types[v->type]) == NULL ||
	    cJSON_AddStringToObject(j, "value", s) == NULL)) {
		cJSON_Delete(j);
		j = NULL;
	}
	free(s);
	return j;
}

int
main(void)
{
	struct toml_error err;
	struct toml_value *doc = NULL;
	cJSON *j = NULL;
	char *in = NULL, *out = NULL, *np;
	size_t len = 0, cap = 0, n, i;
	int rc = 1;

	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > QP_CONFIG_MAX + 1)
				cap = QP_CONFIG_MAX + 1;
			if (len == cap) {
				/* One byte past the bound: the parser reports the size. */
				break;
			}
			np = realloc(in, cap);
			if (np == NULL) {
				fprintf(stderr, "out of memory\n");
				goto out;
			}
			in = np;
		}
		n = fread(in + len, 1, cap - len, stdin);
		if (n == 0)
			break;
		len += n;
	}
	doc = toml_parse(in, len, &err);
	if (doc == NULL) {
		fprintf(stderr, "line %u, column %u: %s\n", err.line, err.col, err.msg);
		goto out;
	}
	j = decode_value(doc);
	if (j != NULL)
		out = cJSON_PrintUnformatted(j);
	if (out == NULL) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	for (i = 0; out[i] != '\0'; i++) {
		if ((unsigned char)out[i] == 0xFF)
			fputs("\\u0000", stdout);
		else
			putchar(out[i]);
	}
	putchar('\n');
	rc = 0;
out:
	free(out);
	cJSON_Delete(j);
	toml_free(doc);
	free(in);
	return rc;
}
