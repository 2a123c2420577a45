/* toml.c: a TOML 1.0 parser producing a tree of typed values. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "crypto.h"
#include "toml.h"
#include "toml_int.h"

/* Tables with more keys than this get a hash index. */
#define TOML_INDEX_MIN	16

static const char *const toml_type_names[TOML__MAX] = {
	"string",
	"integer",
	"float",
	"boolean",
	"offset date-time",
	"local date-time",
	"local date",
	"local time",
	"array",
	"table",
};

static struct toml_node *
toml_node_of(const struct toml_value *v)
{

	/* The value is the first member of its node. */
	return (struct toml_node *)(void *)v;
}

/* Finds the line and column of offset at, reusing the last answer when moving forward. */
static void
toml_where(struct toml_parser *p, size_t at, unsigned *line, unsigned *col)
{
	size_t i;

	if (at > p->len)
		at = p->len;
	if (at < p->lc_pos) {
		p->lc_pos = 0;
		p->lc_line = 1;
		p->lc_col = 1;
	}
	for (i = p->lc_pos; i < at; i++) {
		if (p->buf[i] == '\n') {
			p->lc_line++;
			p->lc_col = 1;
		} else if ((p->buf[i] & 0xC0) != 0x80)
			p->lc_col++;
	}
	p->lc_pos = at;
	*line = p->lc_line;
	*col = p->lc_col;
}

/* Records the first error, at input offset at. Always returns -1. */
int
toml_fail(struct toml_parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = 1;
	toml_where(p, at, &p->err->line, &p->err->col);
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Writes key k for a message: up to 40 bytes, with non-printable bytes as '?'. */
static const char *
toml_show(const char *k, size_t len, char *out, size_t outsz)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < outsz && i < 40; i++) {
		unsigned char c = (unsigned char)k[i];

		out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len && n + 4 < outsz) {
		out[n++] = '.';
		out[n++] = '.';
		out[n++] = '.';
	}
	out[n] = '\0';
	return out;
}

static int
toml_buf_put(struct toml_buf *b, const void *src, size_t n)
{
	char *np;
	size_t ncap;

	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		/* Not realloc: the old copy (maybe a secret) is wiped, not left in the heap. */
		if ((np = malloc(ncap)) == NULL)
			return -1;
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		crypto_free_wiped(b->p, b->cap);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
toml_buf_putc(struct toml_buf *b, unsigned char c)
{

	return toml_buf_put(b, &c, 1);
}

/* Copies the scratch buffer into a new NUL-terminated allocation. */
static char *
toml_buf_dup(const struct toml_buf *b)
{
	char *s;

	s = malloc(b->len + 1);
	if (s == NULL)
		return NULL;
	if (b->len)
		memcpy(s, b->p, b->len);
	s[b->len] = '\0';
	return s;
}

static void
toml_key_clear(struct toml_key *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	k->parts = NULL;
	k->n = k->cap = 0;
}

void
toml_free(struct toml_value *v)
{
	struct toml_node *nd;
	size_t i;

	if (v == NULL)
		return;
	nd = toml_node_of(v);
	switch (v->type) {
	case TOML_STRING:
		crypto_free_wiped(v->u.str.ptr, v->u.str.len);
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			toml_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case TOML_TABLE:
		for (i = 0; i < v->u.tab.n; i++) {
			free(v->u.tab.items[i].key);
			toml_free(v->u.tab.items[i].val);
		}
		free(v->u.tab.items);
		free(nd->index);
		break;
	default:
		break;
	}
	free(nd);
}

/*
 * Makes a node of type t written at line, col (offset at, for errors) to
 * live at depth; NULL (error recorded) on failure.
 */
static struct toml_node *
toml_node_new(struct toml_parser *p, enum toml_type t, size_t at, unsigned line,
    unsigned col, unsigned depth, enum toml_origin origin)
{
	struct toml_node *nd;

	if (depth > QP_TOML_DEPTH_MAX) {
		toml_fail(p, at, "nesting deeper than %d levels", QP_TOML_DEPTH_MAX);
		return NULL;
	}
	nd = calloc(1, sizeof(*nd));
	if (nd == NULL) {
		toml_fail(p, at, "out of memory");
		return NULL;
	}
	nd->v.type = t;
	nd->v.line = line;
	nd->v.col = col;
	nd->origin = origin;
	nd->depth = depth;
	return nd;
}

static uint32_t
toml_hash(const char *k, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 16777619u;
	}
	return h;
}

/* Builds (or rebuilds) the hash index of a table to hold at least want keys. */
static int
toml_index_build(struct toml_node *t, size_t want)
{
	uint32_t *idx;
	size_t icap = 64, i, j;

	while (icap < want * 2)
		icap *= 2;
	idx = calloc(icap, sizeof(*idx));
	if (idx == NULL)
		return -1;
	for (i = 0; i < t->v.u.tab.n; i++) {
		const struct toml_kv *kv = &t->v.u.tab.items[i];

		j = toml_hash(kv->key, kv->keylen) & (icap - 1);
		while (idx[j] != 0)
			j = (j + 1) & (icap - 1);
		idx[j] = (uint32_t)(i + 1);
	}
	free(t->index);
	t->index = idx;
	t->icap = icap;
	return 0;
}

/* Finds key (len bytes) in table node t. */
static struct toml_kv *
toml_find(const struct toml_node *t, const char *key, size_t len)
{
	struct toml_kv *kv;
	size_t i, j;

	if (t->index != NULL) {
		j = toml_hash(key, len) & (t->icap - 1);
		while (t->index[j] != 0) {
			kv = &t->v.u.tab.items[t->index[j] - 1];
			if (kv->keylen == len && memcmp(kv->key, key, len) == 0)
				return kv;
			j = (j + 1) & (t->icap - 1);
		}
		return NULL;
	}
	for (i = 0; i < t->v.u.tab.n; i++) {
		kv = &t->v.u.tab.items[i];
		if (kv->keylen == len && memcmp(kv->key, key, len) == 0)
			return kv;
	}
	return NULL;
}

/*
 * Adds key part kp (taking its string) with value val to table t.
 * The caller has checked the key is new. On failure val is freed.
 */
static struct toml_kv *
toml_insert(struct toml_parser *p, struct toml_node *t, struct toml_keypart *kp,
    struct toml_node *val)
{
	struct toml_kv *items, *kv;
	size_t ncap, n = t->v.u.tab.n, j;

	if (n == t->cap) {
		ncap = t->cap ? t->cap * 2 : 4;
		items = realloc(t->v.u.tab.items, ncap * sizeof(*items));
		if (items == NULL)
			goto nomem;
		t->v.u.tab.items = items;
		t->cap = ncap;
	}
	kv = &t->v.u.tab.items[n];
	kv->key = kp->s;
	kv->keylen = kp->len;
	kv->val = &val->v;
	kv->line = kp->line;
	kv->col = kp->col;
	kp->s = NULL;
	t->v.u.tab.n = n + 1;
	if ((t->index == NULL && t->v.u.tab.n > TOML_INDEX_MIN) ||
	    (t->index != NULL && t->v.u.tab.n * 2 > t->icap)) {
		if (toml_index_build(t, t->v.u.tab.n) != 0) {
			toml_fail(p, kp->at, "out of memory");
			return NULL;
		}
	} else if (t->index != NULL) {
		{
			j = toml_hash(kv->key, kv->keylen) & (t->icap - 1);
			while (t->index[j] != 0)
				j = (j + 1) & (t->icap - 1);
			t->index[j] = (uint32_t)(n + 1);
		}
	}
	return kv;
nomem:
	toml_free(&val->v);
	toml_fail(p, kp->at, "out of memory");
	return NULL;
}

/* Appends val to array node a; on failure val is freed. */
static int
toml_append(struct toml_parser *p, struct toml_node *a, struct toml_node *val)
{
	struct toml_value **items;
	size_t ncap;

	if (a->v.u.arr.n == a->cap) {
		ncap = a->cap ? a->cap * 2 : 4;
		items = realloc(a->v.u.arr.items, ncap * sizeof(*items));
		if (items == NULL) {
			toml_free(&val->v);
			return toml_fail(p, p->pos, "out of memory");
		}
		a->v.u.arr.items = items;
		a->cap = ncap;
	}
	a->v.u.arr.items[a->v.u.arr.n++] = &val->v;
	return 0;
}

/* ---- lexical helpers ---------------------------------------------------- */

static int
toml_eof(const struct toml_parser *p)
{

	return p->pos >= p->len;
}

int
toml_peek(const struct toml_parser *p)
{

	return p->pos < p->len ? p->buf[p->pos] : -1;
}

static int
toml_peek_at(const struct toml_parser *p, size_t off)
{

	return p->pos + off < p->len ? p->buf[p->pos + off] : -1;
}

/* Bytes of the newline at the current position (LF or CRLF), or 0. */
static size_t
toml_newline(const struct toml_parser *p)
{

	if (toml_peek(p) == '\n')
		return 1;
	if (toml_peek(p) == '\r' && toml_peek_at(p, 1) == '\n')
		return 2;
	return 0;
}

static int
toml_is_control(int c)
{

	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

int
toml_is_bare(int c)
{

	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int
toml_is_digit(int c)
{

	return c >= '0' && c <= '9';
}

int
toml_hexval(int c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
toml_skip_ws(struct toml_parser *p)
{

	while (toml_peek(p) == ' ' || toml_peek(p) == '\t')
		p->pos++;
}

/* Checks the whole input is UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int
toml_check_utf8(struct toml_parser *p)
{
	const unsigned char *s = p->buf;
	size_t i = 0, n = p->len, need, k;
	unsigned char c, lo, hi;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else
			return toml_fail(p, i, "invalid UTF-8 byte 0x%02X", c);
		if (i + need >= n)
			return toml_fail(p, i, "truncated UTF-8 sequence");
		for (k = 1; k <= need; k++) {
			unsigned char b = s[i + k];

			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
				return toml_fail(p, i, "invalid UTF-8 sequence");
		}
		i += need + 1;
	}
	return 0;
}

/* Skips a comment at '#', rejecting control characters; stops before the newline. */
static int
toml_skip_comment(struct toml_parser *p)
{
	int c;

	p->pos++;
	while (!toml_eof(p)) {
		c = toml_peek(p);
		if (c == '\n' || (c == '\r' && toml_peek_at(p, 1) == '\n'))
			break;
		if (toml_is_control(c))
			return toml_fail(p, p->pos, "control character U+%04X in comment", c);
		p->pos++;
	}
	return 0;
}

/* Skips whitespace, newlines and comments (inside arrays). */
static int
toml_skip_ws_nl(struct toml_parser *p)
{
	size_t nl;

	for (;;) {
		toml_skip_ws(p);
		if (toml_peek(p) == '#') {
			if (toml_skip_comment(p) != 0)
				return -1;
			continue;
		}
		nl = toml_newline(p);
		if (nl == 0)
			return 0;
		p->pos += nl;
	}
}

/* After a key/value pair or header: optional whitespace and comment, then newline or end. */
static int
toml_end_of_line(struct toml_parser *p, const char *what)
{
	size_t nl;

	toml_skip_ws(p);
	if (toml_peek(p) == '#' && toml_skip_comment(p) != 0)
		return -1;
	if (toml_eof(p))
		return 0;
	nl = toml_newline(p);
	if (nl == 0)
		return toml_fail(p, p->pos, "expected a newline after %s", what);
	p->pos += nl;
	return 0;
}

/* ---- strings -------------------------------------------------------------- */

/* Appends code point cp as UTF-8. */
static int
toml_put_utf8(struct toml_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return toml_buf_put(b, u, n);
}

/* Decodes the escape at the backslash under pos into p->sb. */
static int
toml_escape(struct toml_parser *p)
{
	size_t at = p->pos, ndig, i;
	uint32_t cp = 0;
	int c, h;
	unsigned char out;

	c = toml_peek_at(p, 1);
	switch (c) {
	case 'b':
		out = '\b';
		break;
	case 't':
		out = '\t';
		break;
	case 'n':
		out = '\n';
		break;
	case 'f':
		out = '\f';
		break;
	case 'r':
		out = '\r';
		break;
	case '"':
		out = '"';
		break;
	case '\\':
		out = '\\';
		break;
	case 'u':
	case 'U':
		ndig = c == 'u' ? 4 : 8;
		for (i = 0; i < ndig; i++) {
			h = toml_hexval(toml_peek_at(p, 2 + i));
			if (h < 0)
				return toml_fail(p, at, "\\%c escape needs %zu hex digits",
				    c, ndig);
			cp = cp * 16 + (uint32_t)h;
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return toml_fail(p, at, "escape \\%c%.*s is not a Unicode scalar value",
			    c, (int)ndig, (const char *)p->buf + at + 2);
		if (toml_put_utf8(&p->sb, cp) != 0)
			return toml_fail(p, at, "out of memory");
		p->pos += 2 + ndig;
		return 0;
	default:
		if (c < 0)
			return toml_fail(p, at, "unterminated string");
		if (c < 0x20 || c >= 0x7f)
			return toml_fail(p, at, "invalid escape sequence");
		return toml_fail(p, at, "invalid escape sequence \\%c", c);
	}
	if (toml_buf_putc(&p->sb, out) != 0)
		return toml_fail(p, at, "out of memory");
	p->pos += 2;
	return 0;
}

/*
 * Reads a string of any of the four kinds at pos into p->sb.
 * multiline is 0 for keys, which allow only single-line strings.
 */
static int
toml_string(struct toml_parser *p, int allow_multi)
{
	size_t start = p->pos, run, nl;
	int q = toml_peek(p), c, multi = 0, basic = q == '"';

	p->sb.len = 0;
	if (toml_peek_at(p, 1) == q && toml_peek_at(p, 2) == q) {
		if (!allow_multi)
			return toml_fail(p, start, "a key cannot be a multi-line string");
		multi = 1;
		p->pos += 3;
		nl = toml_newline(p);
		p->pos += nl;
	} else
		p->pos++;
	if (toml_buf_put(&p->sb, "", 0) != 0)
		return toml_fail(p, start, "out of memory");
	for (;;) {
		if (toml_eof(p))
			return toml_fail(p, start, "unterminated string");
		c = toml_peek(p);
		if (c == q) {
			if (!multi) {
				p->pos++;
				return 0;
			}
			run = 0;
			while (toml_peek_at(p, run) == q)
				run++;
			if (run < 3) {
				if (toml_buf_put(&p->sb, q == '"' ? "\"\"" : "''", run) != 0)
					return toml_fail(p, p->pos, "out of memory");
				p->pos += run;
				continue;
			}
			if (run > 5)
				return toml_fail(p, p->pos, "too many quotes at the end of "
				    "a multi-line string");
			if (toml_buf_put(&p->sb, q == '"' ? "\"\"" : "''", run - 3) != 0)
				return toml_fail(p, p->pos, "out of memory");
			p->pos += run;
			return 0;
		}
		if (c == '\\' && basic) {
			if (multi) {
				size_t look = p->pos + 1;

				while (look < p->len && (p->buf[look] == ' ' ||
				    p->buf[look] == '\t'))
					look++;
				if (look < p->len && (p->buf[look] == '\n' ||
				    (p->buf[look] == '\r' && look + 1 < p->len &&
				    p->buf[look + 1] == '\n'))) {
					/* Line-ending backslash: drop whitespace up to the next text. */
					p->pos = look;
					for (;;) {
						toml_skip_ws(p);
						nl = toml_newline(p);
						if (nl == 0)
							break;
						p->pos += nl;
					}
					continue;
				}
			}
			if (toml_escape(p) != 0)
				return -1;
			continue;
		}
		if (multi) {
			nl = toml_newline(p);
			if (nl) {
				if (toml_buf_putc(&p->sb, '\n') != 0)
					return toml_fail(p, p->pos, "out of memory");
				p->pos += nl;
				continue;
			}
		}
		if (c == '\n' || c == '\r') {
			if (!multi && c == '\n')
				return toml_fail(p, p->pos, "newline in a single-line string");
			return toml_fail(p, p->pos, "bare carriage return in a string");
		}
		if (toml_is_control(c))
			return toml_fail(p, p->pos, "control character U+%04X in a string", c);
		if (toml_buf_putc(&p->sb, (unsigned char)c) != 0)
			return toml_fail(p, p->pos, "out of memory");
		p->pos++;
	}
}

/* ---- keys ----------------------------------------------------------------- */

/* Reads a key (bare, quoted or dotted) at pos into k. */
static int
toml_parse_key(struct toml_parser *p, struct toml_key *k)
{
	struct toml_keypart *np, *kp;
	size_t ncap, start;
	int c;

	for (;;) {
		if (k->n == k->cap) {
			ncap = k->cap ? k->cap * 2 : 4;
			np = realloc(k->parts, ncap * sizeof(*np));
			if (np == NULL)
				return toml_fail(p, p->pos, "out of memory");
			k->parts = np;
			k->cap = ncap;
		}
		if (k->n >= QP_TOML_DEPTH_MAX)
			return toml_fail(p, p->pos, "key has more than %d parts",
			    QP_TOML_DEPTH_MAX);
		kp = &k->parts[k->n];
		kp->at = start = p->pos;
		kp->s = NULL;
		toml_where(p, start, &kp->line, &kp->col);
		c = toml_peek(p);
		if (c == '"' || c == '\'') {
			if (toml_string(p, 0) != 0)
				return -1;
		} else if (toml_is_bare(c)) {
			p->sb.len = 0;
			while (toml_is_bare(toml_peek(p)))
				p->pos++;
			if (toml_buf_put(&p->sb, p->buf + start, p->pos - start) != 0)
				return toml_fail(p, start, "out of memory");
		} else if (c < 0 || c == '\n' || c == '\r')
			return toml_fail(p, p->pos, "expected a key");
		else if (c < 0x20 || c == 0x7f)
			return toml_fail(p, p->pos, "expected a key, found control "
			    "character U+%04X", c);
		else if (c < 0x80)
			return toml_fail(p, p->pos, "expected a key, found '%c'", c);
		else
			return toml_fail(p, p->pos, "expected a key: bare keys are "
			    "ASCII letters, digits, '_' and '-'");
		kp->s = toml_buf_dup(&p->sb);
		if (kp->s == NULL)
			return toml_fail(p, start, "out of memory");
		kp->len = p->sb.len;
		k->n++;
		toml_skip_ws(p);
		if (toml_peek(p) != '.')
			return 0;
		p->pos++;
		toml_skip_ws(p);
	}
}

/* ---- compound values ------------------------------------------------------ */

static int	toml_keyval(struct toml_parser *, struct toml_node *);

/* Parses any value at pos, to live at depth; *out receives it. */
static int
toml_value(struct toml_parser *p, unsigned depth, struct toml_node **out)
{
	struct toml_node *nd = NULL, *item = NULL;
	size_t start = p->pos;
	unsigned line, col;
	int c = toml_peek(p), rc = -1;

	*out = NULL;
	toml_where(p, start, &line, &col);
	if (c == '[') {
		nd = toml_node_new(p, TOML_ARRAY, start, line, col, depth, TOML_ORIGIN_VALUE);
		if (nd == NULL)
			goto out;
		p->pos++;
		for (;;) {
			if (toml_skip_ws_nl(p) != 0)
				goto out;
			if (toml_peek(p) == ']')
				break;
			if (toml_value(p, depth + 1, &item) != 0)
				goto out;
			if (toml_append(p, nd, item) != 0)
				goto out;
			if (toml_skip_ws_nl(p) != 0)
				goto out;
			c = toml_peek(p);
			if (c == ',') {
				p->pos++;
				continue;
			}
			if (c == ']')
				break;
			if (c < 0)
				toml_fail(p, start, "unterminated array");
			else
				toml_fail(p, p->pos, "expected ',' or ']' in an array");
			goto out;
		}
		p->pos++;
	} else if (c == '{') {
		nd = toml_node_new(p, TOML_TABLE, start, line, col, depth, TOML_ORIGIN_INLINE);
		if (nd == NULL)
			goto out;
		p->pos++;
		toml_skip_ws(p);
		if (toml_peek(p) != '}') {
			for (;;) {
				if (toml_keyval(p, nd) != 0)
					goto out;
				toml_skip_ws(p);
				c = toml_peek(p);
				if (c == ',') {
					p->pos++;
					toml_skip_ws(p);
					if (toml_peek(p) == '}') {
						toml_fail(p, p->pos, "trailing comma in an "
						    "inline table");
						goto out;
					}
					continue;
				}
				if (c == '}')
					break;
				if (c < 0)
					toml_fail(p, start, "unterminated inline table");
				else if (c == '\n' || c == '\r')
					toml_fail(p, p->pos, "newline in an inline table");
				else
					toml_fail(p, p->pos, "expected ',' or '}' in an "
					    "inline table");
				goto out;
			}
		}
		p->pos++;
	} else if (c == '"' || c == '\'') {
		nd = toml_node_new(p, TOML_STRING, start, line, col, depth, TOML_ORIGIN_VALUE);
		if (nd == NULL)
			goto out;
		if (toml_string(p, 1) != 0)
			goto out;
		nd->v.u.str.ptr = toml_buf_dup(&p->sb);
		if (nd->v.u.str.ptr == NULL) {
			toml_fail(p, start, "out of memory");
			goto out;
		}
		nd->v.u.str.len = p->sb.len;
	} else {
		/* The type is set by toml_scalar(); INTEGER owns nothing meanwhile. */
		nd = toml_node_new(p, TOML_INTEGER, start, line, col, depth, TOML_ORIGIN_VALUE);
		if (nd == NULL)
			goto out;
		if (toml_scalar(p, nd) != 0)
			goto out;
	}
	*out = nd;
	nd = NULL;
	rc = 0;
out:
	if (nd != NULL)
		toml_free(&nd->v);
	return rc;
}

/* Describes what a key holds, for messages. */
static const char *
toml_what(const struct toml_node *nd)
{

	if (nd->v.type == TOML_TABLE) {
		switch (nd->origin) {
		case TOML_ORIGIN_INLINE:
			return "an inline table";
		case TOML_ORIGIN_DOTTED:
			return "a table defined by dotted keys";
		default:
			return "a table";
		}
	}
	if (nd->v.type == TOML_ARRAY)
		return nd->origin == TOML_ORIGIN_AOT ? "an array of tables" : "an array";
	return toml_type_names[nd->v.type];
}

/* Parses key = value at pos and adds it to table t. */
static int
toml_keyval(struct toml_parser *p, struct toml_node *t)
{
	struct toml_key k = { NULL, 0, 0 };
	struct toml_keypart *kp;
	struct toml_kv *kv;
	struct toml_node *sub, *val = NULL;
	char shown[64];
	size_t i;
	int rc = -1;

	if (toml_parse_key(p, &k) != 0)
		goto out;
	if (toml_peek(p) != '=') {
		if (toml_eof(p) || toml_newline(p) || toml_peek(p) == '\r')
			toml_fail(p, p->pos, "expected '=' after a key");
		else if (toml_peek(p) >= 0x20 && toml_peek(p) < 0x7f)
			toml_fail(p, p->pos, "expected '=' after a key, found '%c'",
			    toml_peek(p));
		else
			toml_fail(p, p->pos, "expected '=' after a key");
		goto out;
	}
	p->pos++;
	toml_skip_ws(p);
	for (i = 0; i + 1 < k.n; i++) {
		kp = &k.parts[i];
		kv = toml_find(t, kp->s, kp->len);
		if (kv == NULL) {
			sub = toml_node_new(p, TOML_TABLE, kp->at, kp->line, kp->col,
			    t->depth + 1, TOML_ORIGIN_DOTTED);
			if (sub == NULL)
				goto out;
			if (toml_insert(p, t, kp, sub) == NULL)
				goto out;
			t = sub;
			continue;
		}
		sub = toml_node_of(kv->val);
		if (sub->v.type == TOML_TABLE && sub->origin == TOML_ORIGIN_IMPLICIT)
			sub->origin = TOML_ORIGIN_DOTTED;
		if (sub->v.type != TOML_TABLE || sub->origin != TOML_ORIGIN_DOTTED) {
			toml_fail(p, kp->at, "cannot add keys to '%s' with a dotted key: "
			    "it is %s (line %u)", toml_show(kp->s, kp->len, shown,
			    sizeof(shown)), toml_what(sub), kv->line);
			goto out;
		}
		t = sub;
	}
	kp = &k.parts[k.n - 1];
	kv = toml_find(t, kp->s, kp->len);
	if (kv != NULL) {
		toml_fail(p, kp->at, "duplicate key '%s' (first defined on line %u)",
		    toml_show(kp->s, kp->len, shown, sizeof(shown)), kv->line);
		goto out;
	}
	if (toml_value(p, t->depth + 1, &val) != 0)
		goto out;
	if (toml_insert(p, t, kp, val) == NULL)
		goto out;
	rc = 0;
out:
	toml_key_clear(&k);
	return rc;
}

/* Parses a [table] or [[array of tables]] header at pos and makes it current. */
static int
toml_header(struct toml_parser *p)
{
	struct toml_key k = { NULL, 0, 0 };
	struct toml_keypart *kp;
	struct toml_kv *kv;
	struct toml_node *t = p->root, *sub = NULL, *arr;
	size_t start = p->pos, i;
	char shown[64];
	unsigned hline, hcol;
	int aot = 0, rc = -1;

	toml_where(p, start, &hline, &hcol);
	p->pos++;
	if (toml_peek(p) == '[') {
		aot = 1;
		p->pos++;
	}
	toml_skip_ws(p);
	if (toml_parse_key(p, &k) != 0)
		goto out;
	if (toml_peek(p) != ']' || (aot && toml_peek_at(p, 1) != ']')) {
		toml_fail(p, p->pos, "expected '%s' to close the table header",
		    aot ? "]]" : "]");
		goto out;
	}
	p->pos += aot ? 2 : 1;
	for (i = 0; i + 1 < k.n; i++) {
		kp = &k.parts[i];
		kv = toml_find(t, kp->s, kp->len);
		if (kv == NULL) {
			sub = toml_node_new(p, TOML_TABLE, start, hline, hcol,
			    t->depth + 1, TOML_ORIGIN_IMPLICIT);
			if (sub == NULL)
				goto out;
			if (toml_insert(p, t, kp, sub) == NULL)
				goto out;
			t = sub;
			continue;
		}
		sub = toml_node_of(kv->val);
		if (sub->v.type == TOML_ARRAY && sub->origin == TOML_ORIGIN_AOT) {
			t = toml_node_of(sub->v.u.arr.items[sub->v.u.arr.n - 1]);
			continue;
		}
		if (sub->v.type != TOML_TABLE || sub->origin == TOML_ORIGIN_INLINE) {
			toml_fail(p, kp->at, "cannot add a table under '%s': it is %s "
			    "(line %u)", toml_show(kp->s, kp->len, shown, sizeof(shown)),
			    toml_what(sub), kv->line);
			goto out;
		}
		t = sub;
	}
	kp = &k.parts[k.n - 1];
	kv = toml_find(t, kp->s, kp->len);
	if (aot) {
		if (kv == NULL) {
			arr = toml_node_new(p, TOML_ARRAY, start, hline, hcol,
			    t->depth + 1, TOML_ORIGIN_AOT);
			if (arr == NULL)
				goto out;
			if (toml_insert(p, t, kp, arr) == NULL)
				goto out;
		} else {
			arr = toml_node_of(kv->val);
			if (arr->v.type != TOML_ARRAY || arr->origin != TOML_ORIGIN_AOT) {
				toml_fail(p, kp->at, "cannot define '%s' as an array of "
				    "tables: it is already %s (line %u)", toml_show(kp->s,
				    kp->len, shown, sizeof(shown)), toml_what(arr), kv->line);
				goto out;
			}
		}
		sub = toml_node_new(p, TOML_TABLE, start, hline, hcol, arr->depth + 1,
		    TOML_ORIGIN_HEADER);
		if (sub == NULL)
			goto out;
		if (toml_append(p, arr, sub) != 0)
			goto out;
	} else if (kv == NULL) {
		sub = toml_node_new(p, TOML_TABLE, start, hline, hcol, t->depth + 1,
		    TOML_ORIGIN_HEADER);
		if (sub == NULL)
			goto out;
		if (toml_insert(p, t, kp, sub) == NULL)
			goto out;
	} else {
		sub = toml_node_of(kv->val);
		if (sub->v.type != TOML_TABLE || sub->origin != TOML_ORIGIN_IMPLICIT) {
			toml_fail(p, kp->at, "cannot define table '%s': it is already "
			    "%s (line %u)", toml_show(kp->s, kp->len, shown, sizeof(shown)),
			    toml_what(sub), kv->line);
			goto out;
		}
		/* A table named before by a longer header is defined here. */
		sub->origin = TOML_ORIGIN_HEADER;
		sub->v.line = hline;
		sub->v.col = hcol;
		kv->line = hline;
		kv->col = hcol;
	}
	p->cur = sub;
	rc = 0;
out:
	toml_key_clear(&k);
	return rc;
}

struct toml_value *
toml_parse(const char *buf, size_t len, struct toml_error *err)
{
	struct toml_parser p;
	struct toml_error local;
	struct toml_value *res = NULL;
	int c;

	memset(&p, 0, sizeof(p));
	memset(&local, 0, sizeof(local));
	p.err = err != NULL ? err : &local;
	memset(p.err, 0, sizeof(*p.err));
	p.buf = (const unsigned char *)buf;
	p.len = len;
	p.lc_line = 1;
	p.lc_col = 1;
	if (buf == NULL && len > 0) {
		toml_fail(&p, 0, "no input");
		goto out;
	}
	if (len > QP_CONFIG_MAX) {
		p.len = 0;
		toml_fail(&p, 0, "input is larger than %d bytes", QP_CONFIG_MAX);
		goto out;
	}
	if (toml_check_utf8(&p) != 0)
		goto out;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		p.pos = 3;
	p.root = toml_node_new(&p, TOML_TABLE, 0, 1, 1, 0, TOML_ORIGIN_HEADER);
	if (p.root == NULL)
		goto out;
	p.cur = p.root;
	for (;;) {
		toml_skip_ws(&p);
		if (toml_eof(&p))
			break;
		c = toml_peek(&p);
		if (c == '#') {
			if (toml_end_of_line(&p, "a comment") != 0)
				goto out;
			continue;
		}
		if (toml_newline(&p)) {
			p.pos += toml_newline(&p);
			continue;
		}
		if (c == '[') {
			if (toml_header(&p) != 0 ||
			    toml_end_of_line(&p, "a table header") != 0)
				goto out;
			continue;
		}
		if (c == '\r') {
			toml_fail(&p, p.pos, "bare carriage return");
			goto out;
		}
		if (toml_keyval(&p, p.cur) != 0 || toml_end_of_line(&p, "a value") != 0)
			goto out;
	}
	res = &p.root->v;
	p.root = NULL;
out:
	if (p.root != NULL)
		toml_free(&p.root->v);
	crypto_free_wiped(p.sb.p, p.sb.cap);
	return res;
}

const struct toml_kv *
toml_get_kv(const struct toml_value *tab, const char *key)
{

	if (tab == NULL || key == NULL || tab->type != TOML_TABLE)
		return NULL;
	return toml_find(toml_node_of(tab), key, strlen(key));
}

const struct toml_value *
toml_get(const struct toml_value *tab, const char *key)
{
	const struct toml_kv *kv;

	kv = toml_get_kv(tab, key);
	return kv != NULL ? kv->val : NULL;
}

const char *
toml_type_name(enum toml_type t)
{

	if ((unsigned)t >= TOML__MAX)
		return "unknown";
	return toml_type_names[t];
}
