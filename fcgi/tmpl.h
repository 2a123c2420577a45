/* tmpl.h: the HTML template engine of the dashboard: escaping by default, data from cJSON. */
#ifndef QP_TMPL_H
#define QP_TMPL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * Syntax (Mustache-like, our own implementation; QP_TMPL_DEPTH_MAX is in
 * bounds.h):
 *
 *   {{name}}        the value, escaped for HTML text and quoted attributes
 *   {{a.b.c}}       dotted name: a is looked up, then b inside it, then c
 *   {{.}}           the current item (the innermost section's value)
 *   {{url:name}}    the value through the URL filter, then escaped
 *   {{{name}}}      the value unescaped (raw); also written {{& name}}
 *   {{#name}}..{{/name}}  section (see truthiness below)
 *   {{^name}}..{{/name}}  inverted section: rendered once iff the section
 *                   with the same value would render zero times
 *   {{> name}}      partial: the template called name, rendered with the
 *                   current context stack
 *   {{! comment}}   ignored; may span lines; ends at the first "}}"
 *
 * Whitespace may surround a name inside the braces ({{ name }}, {{# a }},
 * {{ url: a }}); a sigil (# ^ / > & !) comes right after the braces.
 * A name is "." or segments of [A-Za-z0-9_-] joined by single dots; a
 * partial name may also contain dots (file names such as "head.part").
 * Every other tag ("{{=", "{{}}", "{{<", unknown filters, "{{{&x}}}") is a
 * compile error, as is "{{" without its "}}". Text outside tags, line
 * breaks included, is copied as written (no standalone-line trimming).
 *
 * Lookup: the first segment of a name is searched in the context stack
 * from the innermost section's value out to the data given to the render
 * call; the first object holding a member of that name wins, even when
 * the member is null (this stops the search). Later segments are looked
 * up only inside the value found. A segment of digits indexes an array
 * ({{rows.0.name}}). Nothing found means null.
 *
 * Values as text: a string as is; a number with no fractional part and
 * magnitude below 1e15 as an integer ("3", "-12", never "-0"); any other
 * finite number in the shortest of %.15g, %.16g, %.17g (C locale) that
 * reads back as the same double ("0.1", "2.5e+20"); true and false as
 * "true" and "false"; null, missing, arrays, objects and non-finite
 * numbers as nothing.
 *
 * Truthiness ({{#name}}): false, null and missing skip; true renders once;
 * a number renders once unless it is 0 or NaN; a string renders once
 * unless it is ""; an object renders once unless it has no members; an
 * array renders once per element and so skips when empty. Each rendering
 * pushes its value (the element, for arrays) on the context stack, so
 * {{.}} and the names inside see it.
 *
 * Escaping: every {{name}} and {{url:name}} writes & < > " ' as &amp; &lt;
 * &gt; &quot; &#39;, which is safe in HTML text and in single- or
 * double-quoted attribute values (never write a value into an unquoted
 * attribute, a <script> or a <style>). Raw output is for fragments our
 * code built and escaped itself, such as inline SVG.
 *
 * The URL filter passes a value with no scheme (a relative URL, "/x",
 * "?a=b", "#top", "//host/path") or whose scheme is exactly http or https
 * in any case; the scheme is what precedes the first ':' when that ':'
 * comes before any '/', '?' or '#'. Any other value, and any value holding
 * a control character (bytes 0x00-0x1f and 0x7f), becomes
 * TMPL_URL_BLOCKED. The result is then escaped as above.
 *
 * Depth: sections and partials open at once may nest QP_TMPL_DEPTH_MAX
 * deep, counted through partials; a deeper template, and any partial
 * that includes itself directly or through others, is refused at load,
 * so rendering never recurses without bound.
 */

/* What a blocked URL becomes (a URL that goes nowhere). */
#define TMPL_URL_BLOCKED	"about:invalid"
/* Largest template source accepted, in bytes (compile error beyond). */
#define TMPL_SOURCE_MAX		(1024 * 1024)
/* Largest output a render may produce, in bytes; the default cap. */
#define TMPL_OUT_MAX		(16 * 1024 * 1024)
/*
 * Nodes one render may visit, loop iterations included (QP_ETOOBIG
 * beyond), so that nested loops writing little still end quickly.
 */
#define TMPL_STEPS_MAX		(1024 * 1024)

/* Where and why a template did not compile; filled by the load functions. */
struct tmpl_diag {
	char		 file[256];	/* file path or template name, "" if none */
	unsigned	 line;		/* 1-based line, 0 if not about a line */
	char		 msg[192];	/* English description, printable ASCII */
};

/*
 * Output of a render: a growable buffer with a cap. Initialise with
 * tmpl_out_init(); the caller owns it and releases it with
 * tmpl_out_free(). Owned by one thread at a time.
 */
struct tmpl_out {
	char		*buf;		/* NUL-terminated output, NULL until written */
	size_t		 len;		/* bytes of output, excluding the NUL */
	size_t		 cap;		/* bytes allocated */
	size_t		 max;		/* len never exceeds this */
};

/* A set of compiled templates, found by name. */
struct tmpl_set;

/*
 * Prepares an empty output buffer whose len may grow to max bytes: 0 means
 * TMPL_OUT_MAX, larger values are lowered to it. Allocates nothing.
 */
void		 tmpl_out_init(struct tmpl_out *o, size_t max);

/* Empties o (len 0) and keeps its memory for the next render. */
void		 tmpl_out_reset(struct tmpl_out *o);

/* Releases o's memory; o may be reused after tmpl_out_init(). NULL is allowed. */
void		 tmpl_out_free(struct tmpl_out *o);

/*
 * Allocates an empty, unsealed set. Returns NULL when out of memory. Free
 * with tmpl_set_free(). Building a set (tmpl_set_add, tmpl_set_load_dir,
 * tmpl_set_seal) is confined to one thread.
 */
struct tmpl_set	*tmpl_set_new(void);

/* Frees set and every template in it, once no thread renders from it. NULL is allowed. */
void		 tmpl_set_free(struct tmpl_set *set);

/*
 * Compiles buf[0..len) (need not be NUL-terminated; may hold any bytes)
 * into set as the template called name ([A-Za-z0-9_.-], at most 128
 * bytes). file names the source in diagnostics (NULL: name). buf is
 * copied; name and file are only read during the call. Partials are
 * resolved later by tmpl_set_seal(). Returns QP_OK; QP_EPARSE with diag
 * filled for a syntax error or a section nesting deeper than
 * QP_TMPL_DEPTH_MAX; QP_ETOOBIG if len exceeds TMPL_SOURCE_MAX; QP_EEXIST
 * if set holds name already; QP_EINVAL for a bad name or a sealed set;
 * QP_ENOMEM. On error set is unchanged. diag may be NULL.
 */
enum qp_err	 tmpl_set_add(struct tmpl_set *set, const char *name, const char *file,
		    const char *buf, size_t len, struct tmpl_diag *diag);

/*
 * Adds every regular file of directory dir whose name ends in ".html" and
 * does not start with '.', in name order, as the template called the
 * file name without ".html" (index.html is "index"); diagnostics name
 * the path dir/file. Subdirectories are not searched. Returns what
 * tmpl_set_add() returns for the first file that fails (the files before
 * it stay in set), or QP_EIO with diag naming the file or directory that
 * could not be read.
 */
enum qp_err	 tmpl_set_load_dir(struct tmpl_set *set, const char *dir,
		    struct tmpl_diag *diag);

/*
 * Resolves every partial and checks nesting through partials, then makes
 * set immutable. Returns QP_OK; QP_EPARSE with diag filled (file and line
 * of the tag) for an unknown partial, a partial that includes itself, or
 * sections and partials nesting deeper than QP_TMPL_DEPTH_MAX; QP_EINVAL
 * if set is sealed already. After an error set can only be freed.
 */
enum qp_err	 tmpl_set_seal(struct tmpl_set *set, struct tmpl_diag *diag);

/*
 * Convenience for start-up: a new set loaded from dir and sealed. Returns
 * QP_OK with *out set (free with tmpl_set_free()), or the error of
 * tmpl_set_new(), tmpl_set_load_dir() or tmpl_set_seal() with *out NULL
 * and diag filled.
 */
enum qp_err	 tmpl_set_load(const char *dir, struct tmpl_set **out,
		    struct tmpl_diag *diag);

/* Returns 1 if set holds a template called name, else 0. Thread-safe once sealed. */
int		 tmpl_set_has(const struct tmpl_set *set, const char *name);

/*
 * Renders the template called name of the sealed set with data (borrowed
 * for the call; NULL renders as if every name were missing), appending to
 * out. Returns QP_OK; QP_ENOTFOUND for an unknown name; QP_EINVAL if set
 * is not sealed; QP_ETOOBIG if the output would pass out->max or the
 * render would visit more than TMPL_STEPS_MAX nodes; QP_ENOMEM.
 * On error out holds exactly what it held before the call: nothing is
 * truncated silently. Thread-safe: any number of threads may render from
 * one sealed set at once, each into its own out.
 */
enum qp_err	 tmpl_render(const struct tmpl_set *set, const char *name, const cJSON *data,
		    struct tmpl_out *out);

/*
 * Compiles buf[0..len) as a template (called "(string)" in diagnostics),
 * checks it like tmpl_set_seal() with its partials taken from the sealed
 * set (NULL: no partials), renders it like tmpl_render() and frees it.
 * Returns what tmpl_set_add(), tmpl_set_seal() and tmpl_render() return,
 * with diag filled for compile errors (diag may be NULL). Thread-safe on
 * a sealed set, as tmpl_render().
 */
enum qp_err	 tmpl_render_string(const struct tmpl_set *set, const char *buf, size_t len,
		    const cJSON *data, struct tmpl_out *out, struct tmpl_diag *diag);

/*
 * Appends s[0..len) to out escaped for HTML text and quoted attributes,
 * as {{name}} does. Returns QP_OK, QP_ETOOBIG (out unchanged) or
 * QP_ENOMEM. For handlers that build raw fragments such as inline SVG.
 */
enum qp_err	 tmpl_escape(struct tmpl_out *out, const char *s, size_t len);

/*
 * Returns 1 if s[0..len) passes the URL filter described above, else 0.
 * Thread-safe.
 */
int		 tmpl_url_ok(const char *s, size_t len);

#endif /* QP_TMPL_H */
