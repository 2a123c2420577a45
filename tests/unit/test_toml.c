/* test_toml.c: unit tests of the TOML parser's API, positions, bounds and values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "bounds.h"
#include "crypto.h"
#include "toml.h"

/* Parses s (strlen bytes), reporting the error in a diagnostic when it fails. */
static struct toml_value *
parse_ok(const char *s)
{
	struct toml_error err;
	struct toml_value *v;

	v = toml_parse(s, strlen(s), &err);
	if (v == NULL)
		printf("#   input: %s\n#   unexpected error: line %u, column %u: %s\n",
		    s, err.line, err.col, err.msg);
	return v;
}

/* Checks that len bytes of s are rejected at line, col with msg containing frag. */
static void
reject(const char *s, size_t len, unsigned line, unsigned col, const char *frag,
    const char *name)
{
	struct toml_error err;
	struct toml_value *v;
	int good;

	memset(&err, 0, sizeof(err));
	v = toml_parse(s, len, &err);
	good = v == NULL && err.line == line && err.col == col &&
	    strstr(err.msg, frag) != NULL;
	ok(good, "rejects %s", name);
	if (!good) {
		printf("#   input: ");
		fwrite(s, 1, len < 200 ? len : 200, stdout);
		printf("\n#   expected: line %u, column %u, message with \"%s\"\n",
		    line, col, frag);
		if (v != NULL)
			printf("#   actual: accepted\n");
		else
			printf("#   actual: line %u, column %u: %s\n", err.line, err.col,
			    err.msg);
	}
	toml_free(v);
}

static void
test_values(void)
{
	const char *doc =
	    "# golden values\n"
	    "str = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\"\"\n"
	    "lit = 'C:\\path'\n"
	    "ml = \"\"\"\n"
	    "one \\\n"
	    "    two\"\"\"\"\n"
	    "mll = '''\n"
	    "x\n"
	    "y'''\n"
	    "nul = \"a\\u0000b\"\n"
	    "dec = -1_000\n"
	    "hex = 0xDEAD_beef\n"
	    "oct = 0o755\n"
	    "bin = 0b1101\n"
	    "min = -9223372036854775808\n"
	    "max = 9223372036854775807\n"
	    "flt = 6.25e-1\n"
	    "ninf = -inf\n"
	    "qnan = nan\n"
	    "yes = true\n"
	    "odt = 1979-05-27T07:32:00.5-07:30\n"
	    "ldt = 1979-05-27 07:32:00\n"
	    "ld = 2024-02-29\n"
	    "lt = 23:59:59.123456789999\n"
	    "mixed = [1, 'two', [3.0], {four = 4}]\n";
	struct toml_value *v;
	const struct toml_value *x;

	v = parse_ok(doc);
	ok(v != NULL && v->type == TOML_TABLE, "golden document parses to a table");
	if (v == NULL)
		return;
	x = toml_get(v, "str");
	is_str(x ? x->u.str.ptr : NULL, "tab\there \xc3\xa9 \xf0\x9f\x98\x80 \"q\"",
	    "basic string escapes");
	x = toml_get(v, "lit");
	is_str(x ? x->u.str.ptr : NULL, "C:\\path", "literal string keeps backslashes");
	x = toml_get(v, "ml");
	is_str(x ? x->u.str.ptr : NULL, "one two\"", "multi-line string: first newline "
	    "trimmed, line-ending backslash, quote before the closing delimiter");
	x = toml_get(v, "mll");
	is_str(x ? x->u.str.ptr : NULL, "x\ny", "multi-line literal string");
	x = toml_get(v, "nul");
	ok(x != NULL && x->u.str.len == 3 && memcmp(x->u.str.ptr, "a\0b", 4) == 0,
	    "\\u0000 gives an embedded NUL counted in len");
	x = toml_get(v, "dec");
	is_int(x ? x->u.i : 0, -1000, "decimal with underscores");
	x = toml_get(v, "hex");
	is_int(x ? x->u.i : 0, 0xDEADBEEF, "hexadecimal");
	x = toml_get(v, "oct");
	is_int(x ? x->u.i : 0, 0755, "octal");
	x = toml_get(v, "bin");
	is_int(x ? x->u.i : 0, 13, "binary");
	x = toml_get(v, "min");
	ok(x != NULL && x->type == TOML_INTEGER && x->u.i == INT64_MIN, "INT64_MIN");
	x = toml_get(v, "max");
	ok(x != NULL && x->type == TOML_INTEGER && x->u.i == INT64_MAX, "INT64_MAX");
	x = toml_get(v, "flt");
	ok(x != NULL && x->type == TOML_FLOAT && x->u.f == 0.625, "float with exponent");
	x = toml_get(v, "ninf");
	ok(x != NULL && x->type == TOML_FLOAT && isinf(x->u.f) && x->u.f < 0, "-inf");
	x = toml_get(v, "qnan");
	ok(x != NULL && x->type == TOML_FLOAT && isnan(x->u.f), "nan");
	x = toml_get(v, "yes");
	ok(x != NULL && x->type == TOML_BOOL && x->u.b == 1, "boolean");
	x = toml_get(v, "odt");
	ok(x != NULL && x->type == TOML_DATETIME && x->u.dt.year == 1979 &&
	    x->u.dt.month == 5 && x->u.dt.day == 27 && x->u.dt.hour == 7 &&
	    x->u.dt.minute == 32 && x->u.dt.second == 0 &&
	    x->u.dt.nanosecond == 500000000 && x->u.dt.frac_digits == 1 &&
	    x->u.dt.offset_minutes == -450 && !x->u.dt.offset_z,
	    "offset date-time with fraction and negative offset");
	x = toml_get(v, "ldt");
	ok(x != NULL && x->type == TOML_DATETIME_LOCAL && x->u.dt.hour == 7,
	    "local date-time with a space separator");
	x = toml_get(v, "ld");
	ok(x != NULL && x->type == TOML_DATE_LOCAL && x->u.dt.day == 29,
	    "local date on a leap day");
	x = toml_get(v, "lt");
	ok(x != NULL && x->type == TOML_TIME_LOCAL && x->u.dt.nanosecond == 123456789 &&
	    x->u.dt.frac_digits == 9, "local time: precision past nanoseconds truncated");
	x = toml_get(v, "mixed");
	ok(x != NULL && x->type == TOML_ARRAY && x->u.arr.n == 4 &&
	    x->u.arr.items[0]->type == TOML_INTEGER &&
	    x->u.arr.items[1]->type == TOML_STRING &&
	    x->u.arr.items[2]->type == TOML_ARRAY &&
	    x->u.arr.items[3]->type == TOML_TABLE &&
	    toml_get(x->u.arr.items[3], "four") != NULL,
	    "array of mixed types");
	is_int(v->u.tab.n, 20, "every key kept, none duplicated");
	is_str(v->u.tab.items[0].key, "str", "keys kept in document order (first)");
	is_str(v->u.tab.n == 20 ? v->u.tab.items[19].key : NULL, "mixed", "keys kept in document order (last)");
	toml_free(v);
}

static void
test_get(void)
{
	struct toml_value *v;
	const struct toml_value *x;
	const struct toml_kv *kv;

	v = parse_ok("a = 1\n\n[server]\nport = 8080\n[server.tls]\non = false\n");
	ok(v != NULL, "sections parse");
	if (v == NULL)
		return;
	x = toml_get(v, "server");
	ok(x != NULL && x->type == TOML_TABLE, "toml_get finds a table");
	is_int(toml_get(x, "port") ? toml_get(x, "port")->u.i : -1, 8080,
	    "toml_get in a sub-table");
	ok(toml_get(toml_get(x, "tls"), "on") != NULL, "toml_get chains through tables");
	ok(toml_get(v, "missing") == NULL, "absent key gives NULL");
	ok(toml_get(NULL, "a") == NULL, "NULL table gives NULL");
	ok(toml_get(toml_get(v, "a"), "b") == NULL, "non-table gives NULL");
	ok(toml_get(v, NULL) == NULL, "NULL key gives NULL");
	kv = toml_get_kv(v, "server");
	ok(kv != NULL && kv->line == 3 && kv->keylen == 6 && strcmp(kv->key, "server") == 0,
	    "toml_get_kv gives the key and the line of its header");
	kv = toml_get_kv(x, "port");
	is_int(kv ? kv->line : 0, 4, "toml_get_kv line of a key");
	ok(toml_get_kv(v, "nope") == NULL, "toml_get_kv of an absent key");
	is_str(toml_type_name(TOML_STRING), "string", "type name of strings");
	is_str(toml_type_name(TOML_TABLE), "table", "type name of tables");
	is_str(toml_type_name(TOML__MAX), "unknown", "type name out of range");
	toml_free(v);
	toml_free(NULL);
	ok(1, "toml_free(NULL) is allowed");
}

static void
test_positions(void)
{
	const char *doc =
	    "a = 1\n"
	    "  b = \"x\"\n"
	    "[t]\n"
	    "c = [1,\n"
	    "  2]\n"
	    "d.e = 'caf\xc3\xa9'   \n"
	    "[[arr]]\r\n"
	    "[[arr]]\r\n"
	    "f = {g = 3}\r\n";
	struct toml_value *v;
	const struct toml_value *t, *x;

	v = parse_ok(doc);
	ok(v != NULL, "positions document parses");
	if (v == NULL)
		return;
	ok(v->line == 1 && v->col == 1, "root at 1:1");
	x = toml_get(v, "b");
	ok(x && x->line == 2 && x->col == 7, "value position (2:7)");
	is_int(toml_get_kv(v, "b")->line, 2, "key line");
	t = toml_get(v, "t");
	ok(t && t->line == 3 && t->col == 1, "table position is its header");
	x = toml_get(t, "c");
	ok(x && x->line == 4 && x->col == 5, "array position (4:5)");
	ok(x && x->u.arr.n == 2 && x->u.arr.items[1]->line == 5 &&
	    x->u.arr.items[1]->col == 3, "array item on the next line (5:3)");
	x = toml_get(t, "d");
	ok(x && x->type == TOML_TABLE && x->line == 6 && x->col == 1,
	    "table from a dotted key is at the key");
	x = toml_get(v, "arr");
	ok(x && x->type == TOML_ARRAY && x->u.arr.n == 2 && x->u.arr.items[1]->line == 8,
	    "array of tables: each element at its header (CRLF lines)");
	x = x ? toml_get(x->u.arr.items[1], "f") : NULL;
	ok(x && x->line == 9 && x->col == 5, "inline table position");
	toml_free(v);

	/* Columns count characters, not bytes. */
	reject("k = '\xc3\xa9\xc3\xa9' x\n", 12, 1, 10, "newline", "text after a value "
	    "(column counts UTF-8 characters)");
	reject("a = 1\nb = @\n", 12, 2, 5, "expected a value", "a bad value on line 2");
	reject("a = 1\na = 2\n", 12, 2, 1, "duplicate key 'a' (first defined on line 1)",
	    "a duplicate key");
	reject("[x]\n[x]\n", 8, 2, 2, "already", "a table defined twice");
	reject("a = {b = 1}\n[a.c]\n", 18, 2, 2, "inline table", "extending an inline table");
	reject("a = [1]\n[[a]]\n", 14, 2, 3, "array", "appending to a static array");
	reject("[a]\nb.c = 1\n[a.b]\n", 18, 3, 4, "dotted", "a header over a dotted table");
	reject("s = \"abc\n", 9, 1, 9, "newline", "an unterminated string");
	reject("n = 9223372036854775808\n", 24, 1, 5, "64 bits", "integer overflow");
	reject("n = 0x8000000000000000\n", 23, 1, 5, "64 bits", "hex overflow");
	reject("d = 2023-02-29\n", 15, 1, 5, "day 29", "Feb 29 outside leap years");
	reject("s = \"\\uD800\"\n", 13, 1, 6, "scalar", "a surrogate escape");
	reject("a = 1\rb = 2\n", 12, 1, 6, "newline", "a bare carriage return");
	reject("a = \xff\n", 6, 1, 5, "UTF-8", "invalid UTF-8");
	reject("a = \"\xed\xa0\x80\"\n", 10, 1, 6, "UTF-8", "an encoded surrogate");
	reject("a = { b = 1, }\n", 15, 1, 14, "trailing comma", "inline trailing comma");
	reject("a = {\nb = 1}\n", 13, 1, 6, "key", "a newline in an inline table");
}

static void
test_bounds(void)
{
	struct toml_error err;
	struct toml_value *v;
	char *buf;
	size_t i, n;

	/* QP_TOML_DEPTH_MAX nested arrays fit under the root key; one more does not. */
	buf = malloc(5 * QP_TOML_DEPTH_MAX + 64);
	if (buf == NULL)
		abort();
	n = 0;
	buf[n++] = 'a';
	buf[n++] = '=';
	for (i = 0; i < QP_TOML_DEPTH_MAX; i++)
		buf[n++] = '[';
	for (i = 0; i < QP_TOML_DEPTH_MAX; i++)
		buf[n++] = ']';
	v = toml_parse(buf, n, &err);
	ok(v != NULL, "%d nested arrays are accepted", QP_TOML_DEPTH_MAX);
	toml_free(v);
	n = 0;
	buf[n++] = 'a';
	buf[n++] = '=';
	for (i = 0; i < QP_TOML_DEPTH_MAX + 1; i++)
		buf[n++] = '[';
	for (i = 0; i < QP_TOML_DEPTH_MAX + 1; i++)
		buf[n++] = ']';
	v = toml_parse(buf, n, &err);
	ok(v == NULL && err.line == 1 && err.col == QP_TOML_DEPTH_MAX + 3 &&
	    strstr(err.msg, "nesting") != NULL, "%d nested arrays are rejected",
	    QP_TOML_DEPTH_MAX + 1);
	if (v == NULL)
		printf("#   %u:%u %s\n", err.line, err.col, err.msg);
	toml_free(v);
	n = 0;
	buf[n++] = 'a';
	buf[n++] = '=';
	for (i = 0; i < QP_TOML_DEPTH_MAX + 1; i++) {
		memcpy(buf + n, "{b=", 3);
		n += 3;
	}
	buf[n++] = '1';
	for (i = 0; i < QP_TOML_DEPTH_MAX + 1; i++)
		buf[n++] = '}';
	v = toml_parse(buf, n, &err);
	ok(v == NULL && strstr(err.msg, "nesting") != NULL,
	    "deeply nested inline tables are rejected");
	toml_free(v);
	free(buf);

	/* Dotted keys and headers count towards the same depth. */
	buf = malloc(4 * QP_TOML_DEPTH_MAX + 64);
	if (buf == NULL)
		abort();
	n = 0;
	buf[n++] = '[';
	for (i = 0; i < QP_TOML_DEPTH_MAX + 1; i++) {
		memcpy(buf + n, i ? ".x" : "x", i ? 2 : 1);
		n += i ? 2 : 1;
	}
	buf[n++] = ']';
	v = toml_parse(buf, n, &err);
	ok(v == NULL && err.line == 1, "a header deeper than the bound is rejected");
	toml_free(v);
	free(buf);

	/* Size bound: exactly QP_CONFIG_MAX bytes parse, one more does not. */
	buf = malloc((size_t)QP_CONFIG_MAX + 1);
	if (buf == NULL)
		abort();
	memset(buf, ' ', (size_t)QP_CONFIG_MAX + 1);
	memcpy(buf, "a = 1\n#", 7);
	v = toml_parse(buf, QP_CONFIG_MAX, &err);
	ok(v != NULL && toml_get(v, "a") != NULL, "input of QP_CONFIG_MAX bytes parses");
	toml_free(v);
	v = toml_parse(buf, (size_t)QP_CONFIG_MAX + 1, &err);
	ok(v == NULL && err.line == 1 && strstr(err.msg, "larger") != NULL,
	    "input past QP_CONFIG_MAX is rejected");
	toml_free(v);
	free(buf);

	/* Embedded NUL bytes are control characters wherever they appear. */
	reject("a = \"x\0y\"\n", 10, 1, 7, "U+0000", "NUL inside a string");
	reject("a = 1 # x\0\n", 11, 1, 10, "U+0000", "NUL inside a comment");
	reject("a = 1\0\n", 7, 1, 6, "newline", "NUL after a value");
	reject("\0", 1, 1, 1, "key", "a lone NUL");

	v = toml_parse("", 0, &err);
	ok(v != NULL && v->type == TOML_TABLE && v->u.tab.n == 0, "empty input is an empty table");
	toml_free(v);
	v = toml_parse(NULL, 0, NULL);
	ok(v != NULL, "NULL buffer of length 0 is empty; err may be NULL");
	toml_free(v);
	v = toml_parse("=", 1, NULL);
	ok(v == NULL, "errors without an error struct");
	v = toml_parse("\xef\xbb\xbf" "a = 1", 8, &err);
	ok(v != NULL && toml_get(v, "a") != NULL, "a UTF-8 byte order mark is skipped");
	toml_free(v);
}

static void
test_big_table(void)
{
	char *buf, key[32];
	size_t cap = 4000 * 24, n = 0, i;
	struct toml_value *v;
	struct toml_error err;
	const struct toml_kv *kv;
	int found = 0;

	buf = malloc(cap + 32);
	if (buf == NULL)
		abort();
	for (i = 0; i < 4000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "k%zu = %zu\n", i, i);
	v = toml_parse(buf, n, &err);
	ok(v != NULL && v->u.tab.n == 4000, "a table of 4000 keys parses");
	for (i = 0; v != NULL && i < 4000; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		kv = toml_get_kv(v, key);
		if (kv != NULL && kv->val->u.i == (int64_t)i && kv->line == i + 1)
			found++;
	}
	is_int(found, 4000, "every key of a large table is found with its line");
	toml_free(v);
	n += (size_t)snprintf(buf + n, cap + 32 - n, "k1234 = 0\n");
	v = toml_parse(buf, n, &err);
	ok(v == NULL && err.line == 4001 && strstr(err.msg, "line 1235") != NULL,
	    "a duplicate in a large table is found");
	toml_free(v);
	free(buf);
}

/* Lengths of the ranges crypto_wipe() reported, and whether each was zero then. */
static size_t wipe_len[64];
static int wipe_zero[64], nwipe;

static void
wipe_record(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	if (nwipe >= 64)
		return;
	wipe_zero[nwipe] = 1;
	for (i = 0; i < len; i++)
		if (b[i] != 0)
			wipe_zero[nwipe] = 0;
	wipe_len[nwipe++] = len;
}

/* 1 if a zeroed range of exactly len bytes was reported. */
static int
wiped_len(size_t len)
{
	int i;

	for (i = 0; i < nwipe; i++)
		if (wipe_len[i] == len && wipe_zero[i])
			return 1;
	return 0;
}

/*
 * String values may be secrets: the parser's scratch buffer is wiped each
 * time it grows and when the parse ends, and string values are wiped when
 * freed, also those of a tree a failed parse throws away.
 */
static void
test_wipe(void)
{
	char buf[512], secret[201];
	struct toml_value *v;

	memset(secret, 'S', 200);
	secret[200] = '\0';
	snprintf(buf, sizeof(buf), "key = \"%s\"\n", secret);
	nwipe = 0;
	crypto_wipe_hook = wipe_record;
	v = toml_parse(buf, strlen(buf), NULL);
	crypto_wipe_hook = NULL;
	ok(v != NULL, "a 200-byte string parses");
	/* The scratch grows 64 -> 128 -> 256 bytes while it reads the string. */
	ok(wiped_len(64) && wiped_len(128), "the scratch buffer is wiped each time it grows");
	ok(wiped_len(256), "the scratch buffer is wiped when the parse ends");
	nwipe = 0;
	crypto_wipe_hook = wipe_record;
	toml_free(v);
	crypto_wipe_hook = NULL;
	ok(wiped_len(200), "toml_free() wipes a string value");

	secret[50] = '\0';
	snprintf(buf, sizeof(buf), "key = \"%s\"\nbad = \n", secret);
	nwipe = 0;
	crypto_wipe_hook = wipe_record;
	v = toml_parse(buf, strlen(buf), NULL);
	crypto_wipe_hook = NULL;
	ok(v == NULL, "a file with an error after a string is rejected");
	ok(wiped_len(50), "the string value of the thrown-away tree is wiped");
}

int
main(void)
{

	test_values();
	test_get();
	test_positions();
	test_bounds();
	test_big_table();
	test_wipe();
	return done_testing();
}
