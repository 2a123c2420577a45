/* tmpl.c: compiling templates to node lists at load and rendering them, escaped, from cJSON. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "paths.h"
#include "tmpl.h"

/* Longest template name. */
#define TMPL_NAME_MAX		128
/* First allocation of an output buffer. */
#define TMPL_OUT_MIN		1024
/* Bytes of a name quoted in a diagnostic before it is cut. */
#define TMPL_EXCERPT_MAX	48
/* Room for a number as text. */
#define TMPL_NUM_MAX		40
/* Name diagnostics give a template compiled from a string. */
#define TMPL_STRING_NAME	"(string)"

/* What a compiled node does. */
enum tmpl_kind {
	TMPL_KIND_TEXT,		/* copy literal text */
	TMPL_KIND_VAR,		/* write a value */
	TMPL_KIND_SECTION,	/* {{#name}}: children per truthy value */
	TMPL_KIND_INVERTED,	/* {{^name}}: children once if not truthy */
	TMPL_KIND_PARTIAL,	/* {{> name}}: another template */
	TMPL_KIND__MAX
};

/* How a variable is written. */
enum tmpl_esc {
	TMPL_ESC_HTML,		/* escaped for text and quoted attributes */
	TMPL_ESC_RAW,		/* as is */
	TMPL_ESC_URL,		/* URL filter, then escaped */
	TMPL_ESC__MAX
};

/* Where a template is in the partial check of tmpl_set_seal(). */
enum tmpl_state {
	TMPL_STATE_NEW,		/* not checked yet */
	TMPL_STATE_VISITING,	/* being checked: reaching it again is recursion */
	TMPL_STATE_DONE,	/* checked, depth known */
	TMPL_STATE__MAX
};

struct tmpl;

/* One compiled node; sections own the nodes up to end. */
struct tmpl_node {
	enum tmpl_kind	 kind;		/* what it does */
	enum tmpl_esc	 esc;		/* variables: how the value is written */
	const char	*s;		/* text, or name, inside the template's source */
	size_t		 len;		/* bytes of s */
	size_t		 end;		/* sections: index just past their last child */
	unsigned	 line;		/* 1-based line of the tag or of the text's start */
	const struct tmpl *partial;	/* partials: the template, set by the check */
};

/* One compiled template; immutable once its set is sealed. */
struct tmpl {
	char		*name;		/* name partials and tmpl_render() use */
	char		*file;		/* name in diagnostics */
	char		*src;		/* copy of the source; nodes point into it */
	struct tmpl_node *nodes;	/* the node list */
	size_t		 n;		/* nodes in use */
	size_t		 cap;		/* nodes allocated */
	int		 depth;		/* deepest nesting inside, partials counted */
	enum tmpl_state	 state;		/* progress of the partial check */
};

struct tmpl_set {
	struct tmpl	**t;		/* templates, sorted by name once sealed */
	size_t		 n;		/* templates in use */
	size_t		 cap;		/* slots allocated */
	int		 sealed;	/* 1 once tmpl_set_seal() succeeded */
	int		 broken;	/* 1 once tmpl_set_seal() failed */
};

/* State of one render: owned by the rendering thread. */
struct tmpl_run {
	struct tmpl_out	*out;				/* where output goes */
	const cJSON	*ctx[QP_TMPL_DEPTH_MAX + 1];	/* context stack, data first */
	size_t		 n;				/* entries in ctx */
	size_t		 steps;				/* nodes visited and iterations so far */
};

static void	tmpl_diag_set(struct tmpl_diag *d, const char *file, unsigned line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
tmpl_diag_set(struct tmpl_diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	snprintf(d->file, sizeof(d->file), "%s", file != NULL ? file : "");
	d->line = line;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
}

/* Copies s[0..len) into dst as printable ASCII for a diagnostic, cut if long. */
static void
tmpl_excerpt(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t i, j = 0, max = dstlen - 4;

	if (max > TMPL_EXCERPT_MAX)
		max = TMPL_EXCERPT_MAX;
	for (i = 0; i < len && j < max; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[j++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	if (i < len) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
}

/* ---- output ------------------------------------------------------------ */

void
tmpl_out_init(struct tmpl_out *o, size_t max)
{

	o->buf = NULL;
	o->len = 0;
	o->cap = 0;
	o->max = max == 0 || max > TMPL_OUT_MAX ? TMPL_OUT_MAX : max;
}

void
tmpl_out_reset(struct tmpl_out *o)
{

	o->len = 0;
	if (o->buf != NULL)
		o->buf[0] = '\0';
}

void
tmpl_out_free(struct tmpl_out *o)
{

	if (o == NULL)
		return;
	free(o->buf);
	o->buf = NULL;
	o->len = 0;
	o->cap = 0;
}

/* Appends s[0..n) to o, keeping it NUL-terminated. */
static enum qp_err
tmpl_put(struct tmpl_out *o, const char *s, size_t n)
{
	size_t need, ncap;
	char *nb;

	if (o->len > o->max || n > o->max - o->len)
		return QP_ETOOBIG;
	need = o->len + n + 1;
	if (need > o->cap) {
		ncap = o->cap > 0 ? o->cap : TMPL_OUT_MIN;
		while (ncap < need)
			ncap *= 2;
		if (ncap > o->max + 1)
			ncap = o->max + 1;
		nb = realloc(o->buf, ncap);
		if (nb == NULL)
			return QP_ENOMEM;
		o->buf = nb;
		o->cap = ncap;
	}
	if (n > 0)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return QP_OK;
}

enum qp_err
tmpl_escape(struct tmpl_out *o, const char *s, size_t len)
{
	size_t i, run = 0, len0 = o->len;
	const char *rep;
	enum qp_err err = QP_OK;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		err = tmpl_put(o, s + run, i - run);
		if (err != QP_OK)
			goto out;
		err = tmpl_put(o, rep, strlen(rep));
		if (err != QP_OK)
			goto out;
		run = i + 1;
	}
	err = tmpl_put(o, s + run, len - run);
out:
	if (err != QP_OK) {
		o->len = len0;
		if (o->buf != NULL)
			o->buf[len0] = '\0';
	}
	return err;
}

/* ---- values ------------------------------------------------------------ */

int
tmpl_url_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '/' || s[i] == '?' || s[i] == '#')
			return 1;
		if (s[i] == ':')
			break;
	}
	if (i == len)
		return 1;
	if (i != 4 && i != 5)
		return 0;
	if ((s[0] | 0x20) != 'h' || (s[1] | 0x20) != 't' || (s[2] | 0x20) != 't' ||
	    (s[3] | 0x20) != 'p')
		return 0;
	return i == 4 || (s[4] | 0x20) == 's';
}

/* Writes d as text into buf (TMPL_NUM_MAX bytes); returns its length, 0 if not finite. */
static size_t
tmpl_number(double d, char *buf)
{
	int prec, n = 0;

	if (!isfinite(d))
		return 0;
	if (d > -1e15 && d < 1e15 && (double)(long long)d == d) {
		n = snprintf(buf, TMPL_NUM_MAX, "%lld", (long long)d);
		return n > 0 ? (size_t)n : 0;
	}
	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, TMPL_NUM_MAX, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n > 0 && n < TMPL_NUM_MAX ? (size_t)n : 0;
}

/* Sets *s, *len to v as text (see tmpl.h), using num for numbers. */
static void
tmpl_text_of(const cJSON *v, char *num, const char **s, size_t *len)
{

	*s = "";
	*len = 0;
	if (v == NULL)
		return;
	if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
		if (v->valuestring != NULL) {
			*s = v->valuestring;
			*len = strlen(v->valuestring);
		}
	} else if (cJSON_IsNumber(v)) {
		*len = tmpl_number(v->valuedouble, num);
		*s = num;
	} else if (cJSON_IsTrue(v)) {
		*s = "true";
		*len = 4;
	} else if (cJSON_IsFalse(v)) {
		*s = "false";
		*len = 5;
	}
}

/* Returns 1 if a section over v renders at least once (arrays: if not empty). */
static int
tmpl_truthy(const cJSON *v)
{

	if (v == NULL)
		return 0;
	if (cJSON_IsTrue(v))
		return 1;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0 && !isnan(v->valuedouble);
	if (cJSON_IsString(v) || cJSON_IsRaw(v))
		return v->valuestring != NULL && v->valuestring[0] != '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return 0;
}

/* Returns the member of object v, or element of array v, named s[0..len); NULL if none. */
static const cJSON *
tmpl_child(const cJSON *v, const char *s, size_t len)
{
	const cJSON *c;
	size_t i, idx = 0;

	if (cJSON_IsObject(v)) {
		for (c = v->child; c != NULL; c = c->next)
			if (c->string != NULL && strncmp(c->string, s, len) == 0 &&
			    c->string[len] == '\0')
				return c;
		return NULL;
	}
	if (!cJSON_IsArray(v) || len == 0 || len > 9)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NULL;
		idx = idx * 10 + (size_t)(s[i] - '0');
	}
	for (c = v->child; c != NULL && idx > 0; c = c->next)
		idx--;
	return c;
}

/* Looks up the name s[0..len) (valid, see tmpl.h) in r's context stack. */
static const cJSON *
tmpl_lookup(const struct tmpl_run *r, const char *s, size_t len)
{
	const cJSON *v = NULL;
	size_t seg, i;

	if (len == 1 && s[0] == '.')
		return r->n > 0 ? r->ctx[r->n - 1] : NULL;
	for (seg = 0; seg < len && s[seg] != '.'; seg++)
		continue;
	for (i = r->n; i > 0 && v == NULL; i--)
		v = tmpl_child(r->ctx[i - 1], s, seg);
	while (v != NULL && seg < len) {
		s += seg + 1;
		len -= seg + 1;
		for (seg = 0; seg < len && s[seg] != '.'; seg++)
			continue;
		v = tmpl_child(v, s, seg);
	}
	return v;
}

/* ---- compiling ---------------------------------------------------------- */

static int
tmpl_name_char(char c)
{

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-';
}

/* Returns 1 if s[0..len) is a variable name: "." or segments joined by dots. */
static int
tmpl_var_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 1 && s[0] == '.')
		return 1;
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return 0;
		} else if (!tmpl_name_char(s[i]))
			return 0;
	}
	return 1;
}

/* Returns 1 if s[0..len) is a template name: [A-Za-z0-9_.-], not starting with '.'. */
static int
tmpl_tmpl_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > TMPL_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!tmpl_name_char(s[i]) && s[i] != '.')
			return 0;
	return 1;
}

static int
tmpl_space(char c)
{

	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static unsigned
tmpl_lines(const char *s, const char *e)
{
	unsigned n = 0;

	for (; s < e; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Appends a node to t; returns it, or NULL when out of memory. */
static struct tmpl_node *
tmpl_node_add(struct tmpl *t, enum tmpl_kind kind, const char *s, size_t len, unsigned line)
{
	struct tmpl_node *nn, *node;
	size_t ncap;

	if (t->n == t->cap) {
		ncap = t->cap > 0 ? t->cap * 2 : 16;
		nn = realloc(t->nodes, ncap * sizeof(*nn));
		if (nn == NULL)
			return NULL;
		t->nodes = nn;
		t->cap = ncap;
	}
	node = &t->nodes[t->n++];
	node->kind = kind;
	node->esc = TMPL_ESC_HTML;
	node->s = s;
	node->len = len;
	node->end = t->n;
	node->line = line;
	node->partial = NULL;
	return node;
}

/* Compiles t->src[0..len) into t's node list. */
static enum qp_err
tmpl_compile(struct tmpl *t, size_t len, struct tmpl_diag *diag)
{
	size_t stack[QP_TMPL_DEPTH_MAX];
	size_t sp = 0;
	const char *p = t->src, *e = t->src + len, *open, *close, *c, *ce;
	struct tmpl_node *node;
	char ex[TMPL_EXCERPT_MAX + 4], ex2[TMPL_EXCERPT_MAX + 4];
	unsigned line = 1, tag_line;
	char sigil;
	int triple;

	while (p < e) {
		open = memmem(p, (size_t)(e - p), "{{", 2);
		if (open == NULL)
			open = e;
		if (open > p) {
			if (tmpl_node_add(t, TMPL_KIND_TEXT, p, (size_t)(open - p), line) == NULL)
				return QP_ENOMEM;
			line += tmpl_lines(p, open);
		}
		if (open == e)
			break;
		tag_line = line;
		triple = open + 2 < e && open[2] == '{';
		c = open + (triple ? 3 : 2);
		close = memmem(c, (size_t)(e - c), triple ? "}}}" : "}}", triple ? 3 : 2);
		if (close == NULL) {
			tmpl_diag_set(diag, t->file, tag_line, "unterminated tag: '%s' without '%s'",
			    triple ? "{{{" : "{{", triple ? "}}}" : "}}");
			return QP_EPARSE;
		}
		ce = close;
		p = close + (triple ? 3 : 2);
		line += tmpl_lines(open, p);
		sigil = '\0';
		if (!triple && c < ce && *c != '\0' && strchr("#^/>&!", *c) != NULL)
			sigil = *c++;
		if (sigil == '!')
			continue;
		while (c < ce && tmpl_space(*c))
			c++;
		if (triple)
			sigil = '&';
		else if (sigil == '\0' && ce - c >= 4 && memcmp(c, "url:", 4) == 0) {
			sigil = 'u';
			c += 4;
			while (c < ce && tmpl_space(*c))
				c++;
		}
		while (ce > c && tmpl_space(ce[-1]))
			ce--;
		if (c == ce) {
			tmpl_diag_set(diag, t->file, tag_line, "empty tag");
			return QP_EPARSE;
		}
		tmpl_excerpt(ex, sizeof(ex), c, (size_t)(ce - c));
		if (sigil == '>' ? !tmpl_tmpl_name_ok(c, (size_t)(ce - c)) :
		    !tmpl_var_name_ok(c, (size_t)(ce - c))) {
			tmpl_diag_set(diag, t->file, tag_line, "bad %s name '%s'",
			    sigil == '>' ? "partial" : "variable", ex);
			return QP_EPARSE;
		}
		if (sigil == '/') {
			if (sp == 0) {
				tmpl_diag_set(diag, t->file, tag_line,
				    "'{{/%s}}' closes no open section", ex);
				return QP_EPARSE;
			}
			node = &t->nodes[stack[sp - 1]];
			if (node->len != (size_t)(ce - c) || memcmp(node->s, c, node->len) != 0) {
				tmpl_excerpt(ex2, sizeof(ex2), node->s, node->len);
				tmpl_diag_set(diag, t->file, tag_line,
				    "'{{/%s}}' closes section '%s' opened on line %u",
				    ex, ex2, node->line);
				return QP_EPARSE;
			}
			node->end = t->n;
			sp--;
			continue;
		}
		if ((sigil == '#' || sigil == '^') && sp == QP_TMPL_DEPTH_MAX) {
			tmpl_diag_set(diag, t->file, tag_line,
			    "section '%s' nests deeper than %d", ex, QP_TMPL_DEPTH_MAX);
			return QP_EPARSE;
		}
		node = tmpl_node_add(t, sigil == '#' ? TMPL_KIND_SECTION :
		    sigil == '^' ? TMPL_KIND_INVERTED : sigil == '>' ? TMPL_KIND_PARTIAL :
		    TMPL_KIND_VAR, c, (size_t)(ce - c), tag_line);
		if (node == NULL)
			return QP_ENOMEM;
		if (sigil == '&')
			node->esc = TMPL_ESC_RAW;
		else if (sigil == 'u')
			node->esc = TMPL_ESC_URL;
		if (sigil == '#' || sigil == '^')
			stack[sp++] = t->n - 1;
	}
	if (sp > 0) {
		node = &t->nodes[stack[sp - 1]];
		tmpl_excerpt(ex, sizeof(ex), node->s, node->len);
		tmpl_diag_set(diag, t->file, node->line, "section '%s' is never closed", ex);
		return QP_EPARSE;
	}
	return QP_OK;
}

static void
tmpl_free(struct tmpl *t)
{

	if (t == NULL)
		return;
	free(t->nodes);
	free(t->src);
	free(t->file);
	free(t->name);
	free(t);
}

/* Compiles buf[0..len) as a new template; NULL with *err set on failure. */
static struct tmpl *
tmpl_new(const char *name, const char *file, const char *buf, size_t len,
    struct tmpl_diag *diag, enum qp_err *err)
{
	struct tmpl *t = NULL;

	*err = QP_ENOMEM;
	if (len > TMPL_SOURCE_MAX) {
		tmpl_diag_set(diag, file, 0, "template larger than %d bytes", TMPL_SOURCE_MAX);
		*err = QP_ETOOBIG;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	t->depth = -1;
	t->state = TMPL_STATE_NEW;
	t->name = strdup(name);
	t->file = strdup(file);
	t->src = malloc(len + 1);
	if (t->name == NULL || t->file == NULL || t->src == NULL)
		goto out;
	if (len > 0)
		memcpy(t->src, buf, len);
	t->src[len] = '\0';
	*err = tmpl_compile(t, len, diag);
out:
	if (*err != QP_OK) {
		if (*err == QP_ENOMEM)
			tmpl_diag_set(diag, file, 0, "out of memory");
		tmpl_free(t);
		t = NULL;
	}
	return t;
}

/* ---- sets --------------------------------------------------------------- */

struct tmpl_set *
tmpl_set_new(void)
{

	return calloc(1, sizeof(struct tmpl_set));
}

void
tmpl_set_free(struct tmpl_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		tmpl_free(set->t[i]);
	free(set->t);
	free(set);
}

/* Compares s[0..len) with NUL-terminated name as strcmp() would. */
static int
tmpl_name_cmp(const char *s, size_t len, const char *name)
{
	int d = strncmp(s, name, len);

	if (d != 0)
		return d;
	return name[len] == '\0' ? 0 : -1;
}

/* Returns the index of the template called s[0..len) in set, or SIZE_MAX (NULL set: none). */
static size_t
tmpl_find(const struct tmpl_set *set, const char *s, size_t len)
{
	size_t lo = 0, hi, mid, i;
	int d;

	if (set == NULL)
		return SIZE_MAX;
	if (!set->sealed) {
		for (i = 0; i < set->n; i++)
			if (tmpl_name_cmp(s, len, set->t[i]->name) == 0)
				return i;
		return SIZE_MAX;
	}
	hi = set->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		d = tmpl_name_cmp(s, len, set->t[mid]->name);
		if (d == 0)
			return mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

int
tmpl_set_has(const struct tmpl_set *set, const char *name)
{

	return tmpl_find(set, name, strlen(name)) != SIZE_MAX;
}

enum qp_err
tmpl_set_add(struct tmpl_set *set, const char *name, const char *file, const char *buf,
    size_t len, struct tmpl_diag *diag)
{
	struct tmpl *t = NULL, **nt;
	char ex[TMPL_EXCERPT_MAX + 4];
	size_t ncap;
	enum qp_err err;

	if (file == NULL)
		file = name;
	if (set->sealed || set->broken) {
		tmpl_diag_set(diag, file, 0, "template set is sealed already");
		return QP_EINVAL;
	}
	tmpl_excerpt(ex, sizeof(ex), name, strlen(name));
	if (!tmpl_tmpl_name_ok(name, strlen(name))) {
		tmpl_diag_set(diag, file, 0, "bad template name '%s'", ex);
		return QP_EINVAL;
	}
	if (tmpl_find(set, name, strlen(name)) != SIZE_MAX) {
		tmpl_diag_set(diag, file, 0, "template '%s' defined twice", ex);
		return QP_EEXIST;
	}
	if (set->n == set->cap) {
		ncap = set->cap > 0 ? set->cap * 2 : 16;
		nt = realloc(set->t, ncap * sizeof(*nt));
		if (nt == NULL) {
			tmpl_diag_set(diag, file, 0, "out of memory");
			return QP_ENOMEM;
		}
		set->t = nt;
		set->cap = ncap;
	}
	t = tmpl_new(name, file, buf, len, diag, &err);
	if (t == NULL)
		return err;
	set->t[set->n++] = t;
	return QP_OK;
}

/* Reads the regular file path (at most TMPL_SOURCE_MAX bytes) into *buf (caller frees). */
static enum qp_err
tmpl_read_file(const char *path, char **buf, size_t *len, struct tmpl_diag *diag)
{
	char *b = NULL;
	size_t n = 0, cap;
	ssize_t got;
	int fd = -1;
	enum qp_err err = QP_EIO;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		tmpl_diag_set(diag, path, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	cap = st.st_size > 0 && st.st_size <= TMPL_SOURCE_MAX ? (size_t)st.st_size + 1 : 4096;
	b = malloc(cap);
	if (b == NULL) {
		err = QP_ENOMEM;
		tmpl_diag_set(diag, path, 0, "out of memory");
		goto out;
	}
	for (;;) {
		if (n == cap) {
			char *nb;

			if (cap > TMPL_SOURCE_MAX) {
				err = QP_ETOOBIG;
				tmpl_diag_set(diag, path, 0, "template larger than %d bytes",
				    TMPL_SOURCE_MAX);
				goto out;
			}
			nb = realloc(b, cap * 2);
			if (nb == NULL) {
				err = QP_ENOMEM;
				tmpl_diag_set(diag, path, 0, "out of memory");
				goto out;
			}
			b = nb;
			cap *= 2;
		}
		got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			tmpl_diag_set(diag, path, 0, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > TMPL_SOURCE_MAX) {
		err = QP_ETOOBIG;
		tmpl_diag_set(diag, path, 0, "template larger than %d bytes", TMPL_SOURCE_MAX);
		goto out;
	}
	*buf = b;
	*len = n;
	b = NULL;
	err = QP_OK;
out:
	free(b);
	if (fd >= 0)
		close(fd);
	return err;
}

static int
tmpl_strcmp(const void *a, const void *b)
{

	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum qp_err
tmpl_set_load_dir(struct tmpl_set *set, const char *dir, struct tmpl_diag *diag)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	char **names = NULL, **nn, path[PATH_MAX], *buf = NULL;
	size_t n = 0, cap = 0, i, nl, len;
	enum qp_err err = QP_OK;

	d = opendir(dir);
	if (d == NULL) {
		tmpl_diag_set(diag, dir, 0, "cannot open directory: %s", strerror(errno));
		return QP_EIO;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				tmpl_diag_set(diag, dir, 0, "cannot read directory: %s",
				    strerror(errno));
				err = QP_EIO;
				goto out;
			}
			break;
		}
		nl = strlen(de->d_name);
		if (de->d_name[0] == '.' || nl <= 5 || strcmp(de->d_name + nl - 5, ".html") != 0)
			continue;
		if (n == cap) {
			cap = cap > 0 ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL) {
				err = QP_ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			err = QP_ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), tmpl_strcmp);
	for (i = 0; i < n; i++) {
		err = paths_join(path, sizeof(path), dir, names[i]);
		if (err != QP_OK) {
			tmpl_diag_set(diag, dir, 0, "path of '%s' too long", names[i]);
			goto out;
		}
		if (stat(path, &st) != 0) {
			tmpl_diag_set(diag, path, 0, "cannot read: %s", strerror(errno));
			err = QP_EIO;
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		err = tmpl_read_file(path, &buf, &len, diag);
		if (err != QP_OK)
			goto out;
		names[i][strlen(names[i]) - 5] = '\0';
		err = tmpl_set_add(set, names[i], path, buf, len, diag);
		free(buf);
		buf = NULL;
		if (err != QP_OK)
			goto out;
	}
out:
	if (err == QP_ENOMEM)
		tmpl_diag_set(diag, dir, 0, "out of memory");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return err;
}

/*
 * Resolves t's partials in set and computes t->depth, the deepest level
 * its content reaches (each section or partial adds one), checking it
 * against QP_TMPL_DEPTH_MAX. frames counts the partials being checked
 * around t, which bounds this recursion. Writes only templates not yet
 * done, so checking a string against a sealed set leaves the set alone.
 */
static enum qp_err
tmpl_check(struct tmpl *t, const struct tmpl_set *set, int frames, struct tmpl_diag *diag)
{
	size_t ends[QP_TMPL_DEPTH_MAX + 1];
	size_t sp = 0, i, idx;
	struct tmpl_node *node;
	struct tmpl *p;
	char ex[TMPL_EXCERPT_MAX + 4];
	int depth = 0, lvl;
	enum qp_err err;

	t->state = TMPL_STATE_VISITING;
	for (i = 0; i < t->n; i++) {
		node = &t->nodes[i];
		while (sp > 0 && i >= ends[sp - 1])
			sp--;
		if (node->kind == TMPL_KIND_SECTION || node->kind == TMPL_KIND_INVERTED) {
			if (sp >= QP_TMPL_DEPTH_MAX) {
				tmpl_diag_set(diag, t->file, node->line, "sections nest deeper than %d",
				    QP_TMPL_DEPTH_MAX);
				return QP_EPARSE;
			}
			ends[sp++] = node->end;
			if ((int)sp > depth)
				depth = (int)sp;
			continue;
		}
		if (node->kind != TMPL_KIND_PARTIAL)
			continue;
		tmpl_excerpt(ex, sizeof(ex), node->s, node->len);
		idx = tmpl_find(set, node->s, node->len);
		if (idx == SIZE_MAX) {
			tmpl_diag_set(diag, t->file, node->line, "unknown partial '%s'", ex);
			return QP_EPARSE;
		}
		p = set->t[idx];
		if (p->state == TMPL_STATE_VISITING) {
			tmpl_diag_set(diag, t->file, node->line,
			    "partial '%s' includes itself: recursion deeper than %d",
			    ex, QP_TMPL_DEPTH_MAX);
			return QP_EPARSE;
		}
		if (p->state == TMPL_STATE_NEW) {
			if (frames > QP_TMPL_DEPTH_MAX) {
				tmpl_diag_set(diag, t->file, node->line,
				    "partial '%s' nests deeper than %d", ex, QP_TMPL_DEPTH_MAX);
				return QP_EPARSE;
			}
			err = tmpl_check(p, set, frames + 1, diag);
			if (err != QP_OK)
				return err;
		}
		lvl = (int)sp + 1 + p->depth;
		if (lvl > QP_TMPL_DEPTH_MAX) {
			tmpl_diag_set(diag, t->file, node->line,
			    "partial '%s' nests %d deep, deeper than %d", ex, lvl, QP_TMPL_DEPTH_MAX);
			return QP_EPARSE;
		}
		if (lvl > depth)
			depth = lvl;
		node->partial = p;
	}
	t->depth = depth;
	t->state = TMPL_STATE_DONE;
	return QP_OK;
}

static int
tmpl_cmp(const void *a, const void *b)
{

	return strcmp((*(struct tmpl *const *)a)->name, (*(struct tmpl *const *)b)->name);
}

enum qp_err
tmpl_set_seal(struct tmpl_set *set, struct tmpl_diag *diag)
{
	size_t i;
	enum qp_err err;

	if (set->sealed || set->broken) {
		tmpl_diag_set(diag, "", 0, "template set is sealed already");
		return QP_EINVAL;
	}
	if (set->n > 1)
		qsort(set->t, set->n, sizeof(*set->t), tmpl_cmp);
	/* Sorted now: tmpl_find() may search it. */
	set->sealed = 1;
	for (i = 0; i < set->n; i++) {
		if (set->t[i]->state == TMPL_STATE_DONE)
			continue;
		err = tmpl_check(set->t[i], set, 0, diag);
		if (err != QP_OK) {
			set->sealed = 0;
			set->broken = 1;
			return err;
		}
	}
	return QP_OK;
}

enum qp_err
tmpl_set_load(const char *dir, struct tmpl_set **out, struct tmpl_diag *diag)
{
	struct tmpl_set *set = NULL;
	enum qp_err err = QP_ENOMEM;

	*out = NULL;
	set = tmpl_set_new();
	if (set == NULL) {
		tmpl_diag_set(diag, dir, 0, "out of memory");
		goto out;
	}
	err = tmpl_set_load_dir(set, dir, diag);
	if (err != QP_OK)
		goto out;
	err = tmpl_set_seal(set, diag);
	if (err != QP_OK)
		goto out;
	*out = set;
	set = NULL;
out:
	tmpl_set_free(set);
	return err;
}

/* ---- rendering ---------------------------------------------------------- */

static enum qp_err	tmpl_render_nodes(struct tmpl_run *r, const struct tmpl *t,
			    size_t from, size_t to, int level);

/* Renders the children of section node i of t once with v pushed. */
static enum qp_err
tmpl_render_with(struct tmpl_run *r, const struct tmpl *t, size_t i, const cJSON *v,
    int level)
{
	enum qp_err err;

	if (r->n >= sizeof(r->ctx) / sizeof(r->ctx[0]))
		return QP_EINVAL;
	r->steps++;
	if (r->steps > TMPL_STEPS_MAX)
		return QP_ETOOBIG;
	r->ctx[r->n++] = v;
	err = tmpl_render_nodes(r, t, i + 1, t->nodes[i].end, level + 1);
	r->n--;
	return err;
}

static enum qp_err
tmpl_render_var(struct tmpl_run *r, const struct tmpl_node *node)
{
	char num[TMPL_NUM_MAX];
	const char *s;
	size_t len;

	tmpl_text_of(tmpl_lookup(r, node->s, node->len), num, &s, &len);
	switch (node->esc) {
	case TMPL_ESC_RAW:
		return tmpl_put(r->out, s, len);
	case TMPL_ESC_URL:
		if (!tmpl_url_ok(s, len)) {
			s = TMPL_URL_BLOCKED;
			len = strlen(s);
		}
		return tmpl_escape(r->out, s, len);
	default:
		return tmpl_escape(r->out, s, len);
	}
}

static enum qp_err
tmpl_render_nodes(struct tmpl_run *r, const struct tmpl *t, size_t from, size_t to,
    int level)
{
	const struct tmpl_node *node;
	const cJSON *v, *c;
	size_t i = from;
	enum qp_err err = QP_OK;

	if (level > QP_TMPL_DEPTH_MAX)
		return QP_EINVAL;
	while (i < to && err == QP_OK) {
		r->steps++;
		if (r->steps > TMPL_STEPS_MAX)
			return QP_ETOOBIG;
		node = &t->nodes[i];
		switch (node->kind) {
		case TMPL_KIND_TEXT:
			err = tmpl_put(r->out, node->s, node->len);
			i++;
			break;
		case TMPL_KIND_VAR:
			err = tmpl_render_var(r, node);
			i++;
			break;
		case TMPL_KIND_SECTION:
			v = tmpl_lookup(r, node->s, node->len);
			if (cJSON_IsArray(v)) {
				for (c = v->child; c != NULL && err == QP_OK; c = c->next)
					err = tmpl_render_with(r, t, i, c, level);
			} else if (tmpl_truthy(v))
				err = tmpl_render_with(r, t, i, v, level);
			i = node->end;
			break;
		case TMPL_KIND_INVERTED:
			v = tmpl_lookup(r, node->s, node->len);
			if (!tmpl_truthy(v))
				err = tmpl_render_nodes(r, t, i + 1, node->end, level + 1);
			i = node->end;
			break;
		case TMPL_KIND_PARTIAL:
			if (node->partial == NULL)
				return QP_EINVAL;
			err = tmpl_render_nodes(r, node->partial, 0, node->partial->n, level + 1);
			i++;
			break;
		default:
			return QP_EINVAL;
		}
	}
	return err;
}

/* Renders t with data into out; on error out is as it was. */
static enum qp_err
tmpl_render_tmpl(const struct tmpl *t, const cJSON *data, struct tmpl_out *out)
{
	struct tmpl_run r;
	size_t len0 = out->len;
	enum qp_err err;

	r.out = out;
	r.n = 0;
	r.steps = 0;
	if (data != NULL)
		r.ctx[r.n++] = data;
	err = tmpl_put(out, "", 0);
	if (err == QP_OK)
		err = tmpl_render_nodes(&r, t, 0, t->n, 0);
	if (err != QP_OK && out->buf != NULL && len0 <= out->len) {
		out->len = len0;
		out->buf[len0] = '\0';
	}
	return err;
}

enum qp_err
tmpl_render(const struct tmpl_set *set, const char *name, const cJSON *data,
    struct tmpl_out *out)
{
	size_t idx;

	if (!set->sealed)
		return QP_EINVAL;
	idx = tmpl_find(set, name, strlen(name));
	if (idx == SIZE_MAX)
		return QP_ENOTFOUND;
	return tmpl_render_tmpl(set->t[idx], data, out);
}

enum qp_err
tmpl_render_string(const struct tmpl_set *set, const char *buf, size_t len, const cJSON *data,
    struct tmpl_out *out, struct tmpl_diag *diag)
{
	struct tmpl *t = NULL;
	enum qp_err err;

	if (set != NULL && !set->sealed) {
		tmpl_diag_set(diag, TMPL_STRING_NAME, 0, "template set is not sealed");
		return QP_EINVAL;
	}
	t = tmpl_new(TMPL_STRING_NAME, TMPL_STRING_NAME, buf, len, diag, &err);
	if (t == NULL)
		goto out;
	err = tmpl_check(t, set, 0, diag);
	if (err != QP_OK)
		goto out;
	err = tmpl_render_tmpl(t, data, out);
out:
	tmpl_free(t);
	return err;
}
