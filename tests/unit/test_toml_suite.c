/*
 * test_toml_suite.c: TOML 1.0 conformance of the parser against the
 * toml-test suite in $TOML_TEST_DIR (not shipped): every valid file must
 * give its JSON twin, every invalid file must be rejected with a line.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../tap.h"
#include "toml.h"

/* A growable text buffer for messages and the actual document as JSON. */
struct sbuf {
	char	*p;	/* NUL-terminated text */
	size_t	 len;	/* bytes used */
	size_t	 cap;	/* bytes allocated */
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	char *np;

	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL)
			abort();
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Appends s as a JSON string (NUL bytes as \u0000). */
static void
sb_json_str(struct sbuf *b, const char *s, size_t len)
{
	size_t i;

	sb_put(b, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			sb_put(b, "\\", 1);
			sb_put(b, s + i, 1);
		} else if (c < 0x20 || c == 0x7f)
			sb_printf(b, "\\u%04x", c);
		else
			sb_put(b, s + i, 1);
	}
	sb_put(b, "\"", 1);
}

static char *
read_file(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf = NULL, *np;
	size_t len = 0, cap = 0, n;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	for (;;) {
		if (len + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			np = realloc(buf, cap);
			if (np == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = np;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* The toml-test name of a value's type. */
static const char *
tt_type(enum toml_type t)
{
	static const char *const names[TOML__MAX] = {
		"string", "integer", "float", "bool", "datetime", "datetime-local",
		"date-local", "time-local", "array", "table",
	};

	return names[t];
}

/* Writes a parsed value as toml-test typed JSON, for failure reports. */
static void
dump_value(struct sbuf *b, const struct toml_value *v)
{
	const struct toml_datetime *dt = &v->u.dt;
	size_t i;

	switch (v->type) {
	case TOML_TABLE:
		sb_put(b, "{", 1);
		for (i = 0; i < v->u.tab.n; i++) {
			if (i)
				sb_put(b, ",", 1);
			sb_json_str(b, v->u.tab.items[i].key, v->u.tab.items[i].keylen);
			sb_put(b, ":", 1);
			dump_value(b, v->u.tab.items[i].val);
		}
		sb_put(b, "}", 1);
		return;
	case TOML_ARRAY:
		sb_put(b, "[", 1);
		for (i = 0; i < v->u.arr.n; i++) {
			if (i)
				sb_put(b, ",", 1);
			dump_value(b, v->u.arr.items[i]);
		}
		sb_put(b, "]", 1);
		return;
	default:
		break;
	}
	sb_printf(b, "{\"type\":\"%s\",\"value\":", tt_type(v->type));
	switch (v->type) {
	case TOML_STRING:
		sb_json_str(b, v->u.str.ptr, v->u.str.len);
		break;
	case TOML_INTEGER:
		sb_printf(b, "\"%" PRId64 "\"", v->u.i);
		break;
	case TOML_FLOAT:
		sb_printf(b, "\"%.17g\"", v->u.f);
		break;
	case TOML_BOOL:
		sb_printf(b, "\"%s\"", v->u.b ? "true" : "false");
		break;
	default:
		sb_put(b, "\"", 1);
		if (v->type != TOML_TIME_LOCAL)
			sb_printf(b, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
		if (v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL)
			sb_put(b, "T", 1);
		if (v->type != TOML_DATE_LOCAL)
			sb_printf(b, "%02d:%02d:%02d.%09ld", dt->hour, dt->minute, dt->second,
			    dt->nanosecond);
		if (v->type == TOML_DATETIME && dt->offset_z)
			sb_put(b, "Z", 1);
		else if (v->type == TOML_DATETIME)
			sb_printf(b, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+',
			    abs(dt->offset_minutes) / 60, abs(dt->offset_minutes) % 60);
		sb_put(b, "\"", 1);
		break;
	}
	sb_put(b, "}", 1);
}

/*
 * cJSON ends strings at NUL, so before parsing the expected JSON each
 * \u0000 escape becomes a 0xFF byte (never in valid UTF-8); string
 * comparison treats a NUL on the actual side as equal to 0xFF.
 */
static char *
mark_json_nul(const char *in, size_t len)
{
	char *out;
	size_t i, o = 0;
	int instr = 0;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (instr && in[i] == '\\' && i + 1 < len) {
			if (i + 5 < len && memcmp(in + i + 1, "u0000", 5) == 0) {
				out[o++] = (char)0xFF;
				i += 5;
			} else {
				out[o++] = in[i];
				out[o++] = in[i + 1];
				i++;
			}
			continue;
		}
		if (in[i] == '"')
			instr = !instr;
		out[o++] = in[i];
	}
	out[o] = '\0';
	return out;
}

/* Compares actual bytes (a, alen) with an expected cJSON string. */
static int
str_eq(const char *a, size_t alen, const char *e)
{
	size_t i;

	if (strlen(e) != alen)
		return 0;
	for (i = 0; i < alen; i++) {
		if (a[i] == e[i])
			continue;
		if (a[i] == '\0' && (unsigned char)e[i] == 0xFF)
			continue;
		return 0;
	}
	return 1;
}

/* Reads n digits. */
static int
num(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Reads toml-test's spelling of a date-time of type t into dt. */
static int
parse_expected_dt(const char *s, enum toml_type t, struct toml_datetime *dt)
{
	int oh, om, k;

	memset(dt, 0, sizeof(*dt));
	if (t != TOML_TIME_LOCAL) {
		if (num(s, 4, &dt->year) || s[4] != '-' || num(s + 5, 2, &dt->month) ||
		    s[7] != '-' || num(s + 8, 2, &dt->day))
			return -1;
		s += 10;
		if (t == TOML_DATE_LOCAL)
			return *s == '\0' ? 0 : -1;
		if (*s != 'T' && *s != 't' && *s != ' ')
			return -1;
		s++;
	}
	if (num(s, 2, &dt->hour) || s[2] != ':' || num(s + 3, 2, &dt->minute) ||
	    s[5] != ':' || num(s + 6, 2, &dt->second))
		return -1;
	s += 8;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			if (dt->frac_digits < 9) {
				dt->nanosecond = dt->nanosecond * 10 + (*s - '0');
				dt->frac_digits++;
			}
			s++;
		}
		for (k = dt->frac_digits; k < 9; k++)
			dt->nanosecond *= 10;
	}
	if (t != TOML_DATETIME)
		return *s == '\0' ? 0 : -1;
	if (*s == 'Z' || *s == 'z')
		return s[1] == '\0' ? 0 : -1;
	if ((*s != '+' && *s != '-') || num(s + 1, 2, &oh) || s[3] != ':' ||
	    num(s + 4, 2, &om) || s[6] != '\0')
		return -1;
	dt->offset_minutes = (oh * 60 + om) * (*s == '-' ? -1 : 1);
	return 0;
}

/* Reads a float as toml-test spells it. */
static int
parse_expected_float(const char *s, double *out)
{
	char *end;

	if (strcmp(s, "inf") == 0 || strcmp(s, "+inf") == 0)
		*out = HUGE_VAL;
	else if (strcmp(s, "-inf") == 0)
		*out = -HUGE_VAL;
	else if (strcmp(s, "nan") == 0 || strcmp(s, "+nan") == 0 || strcmp(s, "-nan") == 0)
		*out = NAN;
	else {
		errno = 0;
		*out = strtod(s, &end);
		if (end == s || *end != '\0')
			return -1;
	}
	return 0;
}

/* Whether j is a toml-test leaf {"type": "...", "value": "..."}. */
static int
is_leaf(const cJSON *j)
{
	const cJSON *t, *v;

	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 2)
		return 0;
	t = cJSON_GetObjectItemCaseSensitive(j, "type");
	v = cJSON_GetObjectItemCaseSensitive(j, "value");
	return cJSON_IsString(t) && cJSON_IsString(v);
}

/* Compares a leaf; writes the difference to why and returns 0 when unequal. */
static int
cmp_leaf(const struct toml_value *v, const cJSON *j, struct sbuf *why, const char *path)
{
	const char *et = cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring;
	const char *ev = cJSON_GetObjectItemCaseSensitive(j, "value")->valuestring;
	struct toml_datetime edt;
	const struct toml_datetime *a = &v->u.dt;
	long long ei;
	double ef;
	char *end;
	int eq = 0;

	if (v->type == TOML_TABLE || v->type == TOML_ARRAY || strcmp(et, tt_type(v->type)) != 0) {
		sb_printf(why, "at %s: expected type %s, actual %s", path, et,
		    tt_type(v->type));
		return 0;
	}
	switch (v->type) {
	case TOML_STRING:
		eq = str_eq(v->u.str.ptr, v->u.str.len, ev);
		break;
	case TOML_INTEGER:
		errno = 0;
		ei = strtoll(ev, &end, 10);
		eq = errno == 0 && *end == '\0' && end != ev && (int64_t)ei == v->u.i;
		break;
	case TOML_FLOAT:
		if (parse_expected_float(ev, &ef) != 0)
			break;
		if (isnan(ef) || isnan(v->u.f))
			eq = isnan(ef) && isnan(v->u.f);
		else
			eq = ef == v->u.f;
		break;
	case TOML_BOOL:
		eq = strcmp(ev, v->u.b ? "true" : "false") == 0;
		break;
	default:
		if (parse_expected_dt(ev, v->type, &edt) != 0)
			break;
		eq = edt.year == a->year && edt.month == a->month && edt.day == a->day &&
		    edt.hour == a->hour && edt.minute == a->minute &&
		    edt.second == a->second && edt.nanosecond == a->nanosecond &&
		    edt.offset_minutes == a->offset_minutes;
		break;
	}
	if (!eq) {
		sb_printf(why, "at %s: expected %s ", path, et);
		sb_json_str(why, ev, strlen(ev));
		sb_printf(why, ", actual ");
		dump_value(why, v);
	}
	return eq;
}

/* Compares actual v with expected j structurally. */
static int
cmp_value(const struct toml_value *v, const cJSON *j, struct sbuf *why, const char *path)
{
	const cJSON *c;
	char sub[1024];
	size_t i, n;
	int found;

	if (is_leaf(j))
		return cmp_leaf(v, j, why, path);
	if (cJSON_IsArray(j)) {
		if (v->type != TOML_ARRAY) {
			sb_printf(why, "at %s: expected an array, actual %s", path,
			    tt_type(v->type));
			return 0;
		}
		n = (size_t)cJSON_GetArraySize(j);
		if (n != v->u.arr.n) {
			sb_printf(why, "at %s: expected %zu items, actual %zu", path, n,
			    v->u.arr.n);
			return 0;
		}
		i = 0;
		cJSON_ArrayForEach(c, j) {
			if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub))
				memcpy(sub + sizeof(sub) - 4, "...", 4);
			if (!cmp_value(v->u.arr.items[i], c, why, sub))
				return 0;
			i++;
		}
		return 1;
	}
	if (!cJSON_IsObject(j)) {
		sb_printf(why, "at %s: malformed expected JSON", path);
		return 0;
	}
	if (v->type != TOML_TABLE) {
		sb_printf(why, "at %s: expected a table, actual %s", path, tt_type(v->type));
		return 0;
	}
	n = (size_t)cJSON_GetArraySize(j);
	if (n != v->u.tab.n) {
		sb_printf(why, "at %s: expected %zu keys, actual %zu", path, n, v->u.tab.n);
		return 0;
	}
	cJSON_ArrayForEach(c, j) {
		found = 0;
		for (i = 0; i < v->u.tab.n; i++) {
			const struct toml_kv *kv = &v->u.tab.items[i];

			if (!str_eq(kv->key, kv->keylen, c->string))
				continue;
			found = 1;
			if (snprintf(sub, sizeof(sub), "%s.%s", path, c->string) >=
			    (int)sizeof(sub))
				memcpy(sub + sizeof(sub) - 4, "...", 4);
			if (!cmp_value(kv->val, c, why, sub))
				return 0;
			break;
		}
		if (!found) {
			sb_printf(why, "at %s: missing key \"%s\"", path, c->string);
			return 0;
		}
	}
	return 1;
}

/* Prints text as TAP diagnostics, at most 4000 bytes. */
static void
diag_text(const char *label, const char *s, size_t len)
{
	size_t i;

	printf("#   %s:\n#     ", label);
	for (i = 0; i < len && i < 4000; i++) {
		if (s[i] == '\n')
			printf("\n#     ");
		else if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			printf("\\x%02x", (unsigned char)s[i]);
		else
			putchar(s[i]);
	}
	if (i < len)
		printf("...");
	printf("\n");
}

static int
check_valid(const char *dir, const char *name)
{
	struct toml_error err;
	struct toml_value *doc = NULL;
	struct sbuf why = { NULL, 0, 0 }, actual = { NULL, 0, 0 };
	char path[4096], *toml = NULL, *json = NULL, *marked = NULL;
	size_t tlen = 0, jlen = 0;
	cJSON *want = NULL;
	int pass = 0;

	if (snprintf(path, sizeof(path), "%s/tests/%s", dir, name) >= (int)sizeof(path)) {
		sb_printf(&why, "path too long");
		goto out;
	}
	toml = read_file(path, &tlen);
	memcpy(path + strlen(path) - 5, ".json", 6);
	json = read_file(path, &jlen);
	if (toml == NULL || json == NULL) {
		sb_printf(&why, "cannot read %s or its .json twin", name);
		goto out;
	}
	marked = mark_json_nul(json, jlen);
	want = marked != NULL ? cJSON_Parse(marked) : NULL;
	if (want == NULL) {
		sb_printf(&why, "cannot parse the expected JSON");
		goto out;
	}
	doc = toml_parse(toml, tlen, &err);
	if (doc == NULL) {
		sb_printf(&why, "rejected: line %u, column %u: %s", err.line, err.col, err.msg);
		goto out;
	}
	pass = cmp_value(doc, want, &why, "$");
	dump_value(&actual, doc);
out:
	ok(pass, "%s", name);
	if (!pass) {
		printf("#   %s\n", why.p != NULL ? why.p : "");
		if (toml != NULL)
			diag_text("input", toml, tlen);
		if (json != NULL)
			diag_text("expected", json, jlen);
		if (actual.p != NULL)
			diag_text("actual", actual.p, actual.len);
	}
	cJSON_Delete(want);
	toml_free(doc);
	free(marked);
	free(json);
	free(toml);
	free(why.p);
	free(actual.p);
	return pass;
}

static int
check_invalid(const char *dir, const char *name)
{
	struct toml_error err;
	struct toml_value *doc = NULL;
	struct sbuf actual = { NULL, 0, 0 };
	char path[4096], *toml = NULL;
	size_t tlen = 0;
	int pass = 0;

	if (snprintf(path, sizeof(path), "%s/tests/%s", dir, name) < (int)sizeof(path))
		toml = read_file(path, &tlen);
	if (toml != NULL) {
		doc = toml_parse(toml, tlen, &err);
		pass = doc == NULL && err.line > 0 && err.col > 0 && err.msg[0] != '\0';
	}
	ok(pass, "%s", name);
	if (!pass) {
		if (toml == NULL)
			printf("#   cannot read %s\n", path);
		else {
			diag_text("input", toml, tlen);
			printf("#   expected: rejection with a line number\n");
			if (doc != NULL) {
				dump_value(&actual, doc);
				diag_text("actual (accepted)", actual.p, actual.len);
			} else
				printf("#   actual: rejected at line %u, column %u: %s\n",
				    err.line, err.col, err.msg);
		}
	} else
		printf("#   line %u, column %u: %s\n", err.line, err.col, err.msg);
	toml_free(doc);
	free(actual.p);
	free(toml);
	return pass;
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

int
main(void)
{
	char dirbuf[4096], list[4200], line[1024];
	const char *dir;
	FILE *f;
	size_t n;
	int nvalid = 0, pvalid = 0, ninvalid = 0, pinvalid = 0;

	dir = getenv("TOML_TEST_DIR");
	if (dir == NULL || *dir == '\0') {
		if (snprintf(dirbuf, sizeof(dirbuf), "%s/../shared/toml-test", QP_SRCDIR) >=
		    (int)sizeof(dirbuf))
			dirbuf[0] = '\0';
		dir = dirbuf;
	}
	f = NULL;
	if (snprintf(list, sizeof(list), "%s/tests/files-toml-1.0.0", dir) < (int)sizeof(list))
		f = fopen(list, "r");
	if (f == NULL) {
		printf("1..0 # SKIP toml-test suite not found at %s\n", dir);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (!ends_with(line, ".toml"))
			continue;
		if (strncmp(line, "valid/", 6) == 0) {
			nvalid++;
			pvalid += check_valid(dir, line);
		} else if (strncmp(line, "invalid/", 8) == 0) {
			ninvalid++;
			pinvalid += check_invalid(dir, line);
		}
	}
	fclose(f);
	printf("# valid: %d/%d\n", pvalid, nvalid);
	printf("# invalid: %d/%d\n", pinvalid, ninvalid);
	ok(nvalid > 0 && ninvalid > 0, "the suite lists valid and invalid files (%d, %d)",
	    nvalid, ninvalid);
	return done_testing();
}
