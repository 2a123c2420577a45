/* test_tmpl.c: the template engine: escaping, sections, lookup, partials, errors, depth, loading. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "bounds.h"
#include "tmpl.h"

/* Prints what a failed case was about. */
static void
show(const char *tpl, const char *json)
{

	printf("#   template: \"%s\"\n#   data:     %s\n", tpl, json != NULL ? json : "(none)");
}

/* Renders tpl (partials from set) with the JSON text json and compares with want. */
static void
render_is(const char *what, const struct tmpl_set *set, const char *tpl, const char *json,
    const char *want)
{
	struct tmpl_out o;
	struct tmpl_diag d;
	cJSON *data = NULL;
	char got[512];
	enum qp_err err;

	memset(&d, 0, sizeof(d));
	tmpl_out_init(&o, 0);
	if (json != NULL)
		data = cJSON_Parse(json);
	if (json != NULL && data == NULL) {
		ok(0, "%s: test data is JSON", what);
		show(tpl, json);
		return;
	}
	err = tmpl_render_string(set, tpl, strlen(tpl), data, &o, &d);
	if (err == QP_OK)
		snprintf(got, sizeof(got), "%s", o.buf);
	else
		snprintf(got, sizeof(got), "error %s: %s:%u: %s", qp_strerror(err), d.file, d.line,
		    d.msg);
	if (!is_str(got, want, "%s", what))
		show(tpl, json);
	tmpl_out_free(&o);
	cJSON_Delete(data);
}

/* Formats an outcome as "ERR FILE:LINE: MSG" for comparisons. */
static void
outcome(char *buf, size_t len, enum qp_err err, const char *file, unsigned line, const char *msg)
{

	snprintf(buf, len, "%s %s:%u: %s", qp_strerror(err), file, line, msg);
}

/* Compares err and diag with the wanted code, file, line and a part of the message. */
static int
diag_is(const char *what, enum qp_err err, const struct tmpl_diag *d, enum qp_err want_err,
    const char *want_file, unsigned want_line, const char *want_msg)
{
	char got[512], want[512];

	outcome(got, sizeof(got), err, d->file, d->line,
	    strstr(d->msg, want_msg) != NULL ? want_msg : d->msg);
	outcome(want, sizeof(want), want_err, want_file, want_line, want_msg);
	return is_str(got, want, "%s", what);
}

/* Compiles and renders tpl (partials from set); expects a compile error at want_line. */
static void
error_is(const char *what, const struct tmpl_set *set, const char *tpl, unsigned want_line,
    const char *want_msg)
{
	struct tmpl_out o;
	struct tmpl_diag d;
	enum qp_err err;

	memset(&d, 0, sizeof(d));
	tmpl_out_init(&o, 0);
	err = tmpl_render_string(set, tpl, strlen(tpl), NULL, &o, &d);
	if (!diag_is(what, err, &d, QP_EPARSE, "(string)", want_line, want_msg))
		show(tpl, NULL);
	tmpl_out_free(&o);
}

/* Builds a sealed set from name/source pairs ending with NULL; NULL on failure. */
static struct tmpl_set *
set_of(const char *const *pairs, struct tmpl_diag *d, enum qp_err *err)
{
	struct tmpl_set *set = tmpl_set_new();
	size_t i;

	*err = QP_ENOMEM;
	if (set == NULL)
		return NULL;
	for (i = 0; pairs[i] != NULL; i += 2) {
		char file[160];

		snprintf(file, sizeof(file), "%s.html", pairs[i]);
		*err = tmpl_set_add(set, pairs[i], file, pairs[i + 1], strlen(pairs[i + 1]), d);
		if (*err != QP_OK)
			goto fail;
	}
	*err = tmpl_set_seal(set, d);
	if (*err == QP_OK)
		return set;
fail:
	tmpl_set_free(set);
	return NULL;
}

static void
test_escaping(void)
{
	static const struct {
		char		 c;		/* the character */
		const char	*json;		/* a value holding it */
		const char	*esc;		/* how it is written */
	} chars[] = {
		{ '<', "\"a<b\"", "a&lt;b" },
		{ '>', "\"a>b\"", "a&gt;b" },
		{ '&', "\"a&b\"", "a&amp;b" },
		{ '"', "\"a\\\"b\"", "a&quot;b" },
		{ '\'', "\"a'b\"", "a&#39;b" },
	};
	static const char *const ctx[][2] = {
		{ "text", "<p>{{v}}</p>" },
		{ "double-quoted attribute", "<a title=\"{{v}}\">" },
		{ "single-quoted attribute", "<a title='{{v}}'>" },
		{ "URL attribute", "<a href=\"/x?q={{url:v}}\">" },
	};
	char json[64], want[128], what[128];
	const char *pre, *post;
	size_t i, j;

	for (j = 0; j < sizeof(ctx) / sizeof(ctx[0]); j++) {
		for (i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
			/* In the URL case the whole value goes through the filter: make it relative. */
			snprintf(json, sizeof(json), "{\"v\":%s}", chars[i].json);
			pre = j == 0 ? "<p>" : j == 1 ? "<a title=\"" : j == 2 ? "<a title='" :
			    "<a href=\"/x?q=";
			post = j == 0 ? "</p>" : j == 1 ? "\">" : j == 2 ? "'>" : "\">";
			snprintf(want, sizeof(want), "%s%s%s", pre, chars[i].esc, post);
			snprintf(what, sizeof(what), "%c is escaped in %s", chars[i].c, ctx[j][0]);
			render_is(what, NULL, ctx[j][1], json, want);
		}
	}
	render_is("all five at once, and text around is copied as is", NULL,
	    "<b>x</b> & '{{v}}'", "{\"v\":\"<script>alert(\\\"x\\\" + 'y')</script> & co\"}",
	    "<b>x</b> & '&lt;script&gt;alert(&quot;x&quot; + &#39;y&#39;)&lt;/script&gt; &amp; co'");
	render_is("already escaped text is escaped again", NULL, "{{v}}", "{\"v\":\"&amp;\"}",
	    "&amp;amp;");
	render_is("{{{v}}} is raw", NULL, "<div>{{{v}}}</div>",
	    "{\"v\":\"<svg width='1'>&amp;</svg>\"}", "<div><svg width='1'>&amp;</svg></div>");
	render_is("{{& v}} is raw", NULL, "<div>{{& v}}</div>", "{\"v\":\"<b>\\\"'\"}",
	    "<div><b>\"'</div>");
	render_is("{{{ v }}} takes spaces", NULL, "{{{ v }}}", "{\"v\":\"<i>\"}", "<i>");
	render_is("{{ v }} takes spaces and is escaped", NULL, "{{ v }}", "{\"v\":\"<i>\"}",
	    "&lt;i&gt;");
}

static void
test_escape_function(void)
{
	struct tmpl_out o;
	enum qp_err err;

	tmpl_out_init(&o, 0);
	err = tmpl_escape(&o, "<a href=\"x\">'&'</a>", 19);
	is_str(err == QP_OK ? o.buf : qp_strerror(err),
	    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;", "tmpl_escape() escapes all five");
	tmpl_out_free(&o);
}

static void
test_url(void)
{
	static const struct {
		const char	*value;		/* JSON value of u */
		const char	*want;		/* what href="{{url:u}}" holds */
	} cases[] = {
		{ "\"javascript:alert(1)\"", "about:invalid" },
		{ "\"JavaScript:alert(1)\"", "about:invalid" },
		{ "\" javascript:alert(1)\"", "about:invalid" },
		{ "\"java\\tscript:alert(1)\"", "about:invalid" },
		{ "\"java\\nscript:alert(1)\"", "about:invalid" },
		{ "\"vbscript:x\"", "about:invalid" },
		{ "\"data:text/html,<b>\"", "about:invalid" },
		{ "\"mailto:a@b\"", "about:invalid" },
		{ "\"httpx://a\"", "about:invalid" },
		{ "\"ftp://a/b\"", "about:invalid" },
		{ "\"/a\\u0001b\"", "about:invalid" },
		{ "\"/a\\u007fb\"", "about:invalid" },
		{ "\"http://example.com/?a=1&b='2'\"", "http://example.com/?a=1&amp;b=&#39;2&#39;" },
		{ "\"HTTPS://example.com/\"", "HTTPS://example.com/" },
		{ "\"https:x\"", "https:x" },
		{ "\"/models/gpt-4?x=<y>\"", "/models/gpt-4?x=&lt;y&gt;" },
		{ "\"rel/a:b\"", "rel/a:b" },
		{ "\"?q=javascript:x\"", "?q=javascript:x" },
		{ "\"#top\"", "#top" },
		{ "\"//cdn.example/x\"", "//cdn.example/x" },
		{ "\"\"", "" },
		{ "42", "42" },
		{ "null", "" },
	};
	char json[128], want[160], what[200];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"u\":%s}", cases[i].value);
		snprintf(want, sizeof(want), "<a href=\"%s\">", cases[i].want);
		snprintf(what, sizeof(what), "url filter on %s", cases[i].value);
		render_is(what, NULL, "<a href=\"{{url:u}}\">", json, want);
	}
	render_is("{{ url: u }} takes spaces", NULL, "{{ url: u }}", "{\"u\":\"javascript:x\"}",
	    "about:invalid");
	ok(tmpl_url_ok("https://a", 9) && !tmpl_url_ok("https://a\n", 10) &&
	    !tmpl_url_ok("javascript:", 11) && tmpl_url_ok("", 0),
	    "tmpl_url_ok() agrees with the filter");
}

static void
test_values(void)
{
	static const struct {
		const char	*json;		/* value of v */
		const char	*want;		/* {{v}} */
	} cases[] = {
		{ "3", "3" },
		{ "-12", "-12" },
		{ "0", "0" },
		{ "-0.0", "0" },
		{ "1.0", "1" },
		{ "123456789012", "123456789012" },
		{ "0.1", "0.1" },
		{ "2.5", "2.5" },
		{ "-0.75", "-0.75" },
		{ "0.3333333333333333", "0.3333333333333333" },
		{ "1e20", "1e+20" },
		{ "1.5e-7", "1.5e-07" },
		{ "true", "true" },
		{ "false", "false" },
		{ "null", "" },
		{ "[1,2]", "" },
		{ "{\"a\":1}", "" },
		{ "\"\"", "" },
		{ "\"caf\\u00e9 \\u2603\"", "caf\xc3\xa9 \xe2\x98\x83" },
	};
	char json[128], what[160];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"v\":%s}", cases[i].json);
		snprintf(what, sizeof(what), "value %s renders as \"%s\"", cases[i].json,
		    cases[i].want);
		render_is(what, NULL, "{{v}}", json, cases[i].want);
	}
	render_is("a missing name renders as nothing", NULL, "[{{nope}}]", "{\"v\":1}", "[]");
	render_is("no data at all renders names as nothing", NULL, "[{{v}}{{#v}}x{{/v}}{{^v}}y{{/v}}]",
	    NULL, "[y]");
	render_is("text without tags, with stray braces, is copied", NULL, "a}}b{c}", "{}",
	    "a}}b{c}");
	render_is("comments vanish, even across lines", NULL, "a{{! a {comment}\n here }}b", "{}",
	    "ab");
	render_is("a comment ends at the first }}", NULL, "a{{! x {{y}} z}}b", "{}", "a z}}b");
	render_is("empty template renders as empty string", NULL, "", "{}", "");
}

static void
test_sections(void)
{
	static const struct {
		const char	*json;		/* value of v */
		const char	*want;		/* {{#v}}Y{{/v}}{{^v}}N{{/v}} */
	} truth[] = {
		{ "false", "N" },
		{ "true", "Y" },
		{ "null", "N" },
		{ "0", "N" },
		{ "0.0", "N" },
		{ "1", "Y" },
		{ "-0.5", "Y" },
		{ "\"\"", "N" },
		{ "\"0\"", "Y" },
		{ "\"x\"", "Y" },
		{ "[]", "N" },
		{ "[false]", "Y" },
		{ "[1,2,3]", "YYY" },
		{ "{}", "N" },
		{ "{\"a\":null}", "Y" },
	};
	char json[128], what[160];
	size_t i;

	for (i = 0; i < sizeof(truth) / sizeof(truth[0]); i++) {
		snprintf(json, sizeof(json), "{\"v\":%s}", truth[i].json);
		snprintf(what, sizeof(what), "truthiness of %s", truth[i].json);
		render_is(what, NULL, "{{#v}}Y{{/v}}{{^v}}N{{/v}}", json, truth[i].want);
	}
	render_is("truthiness of a missing name", NULL, "{{#v}}Y{{/v}}{{^v}}N{{/v}}", "{}", "N");

	render_is("loop over an array of objects", NULL,
	    "<ul>{{#rows}}<li>{{name}}={{n}}</li>{{/rows}}</ul>",
	    "{\"rows\":[{\"name\":\"a<\",\"n\":1},{\"name\":\"b\",\"n\":2.5},{\"name\":\"c\"}]}",
	    "<ul><li>a&lt;=1</li><li>b=2.5</li><li>c=</li></ul>");
	render_is("loop over an array of scalars with {{.}}", NULL, "{{#tags}}[{{.}}]{{/tags}}",
	    "{\"tags\":[\"x\",\"<y>\",3,true,null,0.5]}", "[x][&lt;y&gt;][3][true][][0.5]");
	render_is("{{{.}}} is raw", NULL, "{{#tags}}{{{.}}}{{/tags}}", "{\"tags\":[\"<b>\",\"&\"]}",
	    "<b>&");
	render_is("nested sections", NULL,
	    "{{#groups}}{{title}}:{{#items}}{{.}}{{#last}}.{{/last}}{{^last}},{{/last}}{{/items}};"
	    "{{/groups}}",
	    "{\"groups\":[{\"title\":\"A\",\"items\":[1,2]},{\"title\":\"B\",\"items\":[]},"
	    "{\"title\":\"C\",\"items\":[3],\"last\":true}]}",
	    "A:1,2,;B:;C:3.;");
	render_is("a section over an object pushes it", NULL,
	    "{{#acct}}{{name}} ({{provider.id}}){{/acct}}",
	    "{\"acct\":{\"name\":\"main\",\"provider\":{\"id\":\"openrouter\"}}}",
	    "main (openrouter)");
	render_is("a section over a string pushes it for {{.}}", NULL, "{{#s}}<{{.}}>{{/s}}",
	    "{\"s\":\"it's\"}", "<it&#39;s>");
	render_is("a section over true keeps the names of the outer context", NULL,
	    "{{#on}}{{name}}{{/on}}", "{\"on\":true,\"name\":\"x\"}", "x");
	render_is("inverted over an empty array", NULL,
	    "{{#rows}}{{.}}{{/rows}}{{^rows}}no rows{{/rows}}", "{\"rows\":[]}", "no rows");
	render_is("inverted over a full array renders nothing", NULL, "{{^rows}}no rows{{/rows}}",
	    "{\"rows\":[0]}", "");
	render_is("inverted sections keep the context", NULL,
	    "{{#a}}{{^b}}{{c}}{{/b}}{{/a}}", "{\"a\":{\"c\":\"in\"},\"c\":\"out\"}", "in");
	render_is("the same name twice in a row", NULL, "{{#a}}1{{/a}}{{#a}}2{{/a}}", "{\"a\":1}",
	    "12");
	render_is("sections and names take spaces", NULL, "{{# a }}{{ b }}{{/ a }}",
	    "{\"a\":{\"b\":\"x\"}}", "x");
}

static void
test_lookup(void)
{

	render_is("dotted names", NULL, "{{a.b.c}}", "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "deep");
	render_is("dotted name with a missing middle", NULL, "[{{a.x.c}}]",
	    "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "[]");
	render_is("dotted name through a scalar", NULL, "[{{a.b.c}}]", "{\"a\":{\"b\":5}}", "[]");
	render_is("dotted section name", NULL, "{{#a.list}}{{.}}{{/a.list}}",
	    "{\"a\":{\"list\":[1,2]}}", "12");
	render_is("digit segment indexes an array", NULL, "{{rows.1.name}}|{{rows.5.name}}",
	    "{\"rows\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "b|");
	render_is("lookup walks up the context stack", NULL,
	    "{{#items}}{{name}} of {{owner}};{{/items}}",
	    "{\"owner\":\"root<\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\",\"owner\":\"me\"}]}",
	    "a of root&lt;;b of me;");
	render_is("lookup walks up through several levels", NULL,
	    "{{#x}}{{#y}}{{#z}}{{top}}{{mid}}{{low}}{{/z}}{{/y}}{{/x}}",
	    "{\"top\":1,\"x\":{\"mid\":2,\"y\":{\"z\":{\"low\":3}}}}", "123");
	render_is("a null member stops the walk", NULL, "{{#items}}[{{owner}}]{{/items}}",
	    "{\"owner\":\"root\",\"items\":[{\"owner\":null},{}]}", "[][root]");
	render_is("a dotted name resolves its first segment only by walking", NULL,
	    "{{#inner}}[{{a.b}}]{{/inner}}",
	    "{\"a\":{\"b\":\"outer\"},\"inner\":{\"a\":{\"c\":1}}}", "[]");
	render_is("a dotted name finds its first segment in an outer frame", NULL,
	    "{{#inner}}[{{a.b}}]{{/inner}}", "{\"a\":{\"b\":\"outer\"},\"inner\":{\"x\":1}}",
	    "[outer]");
	render_is("{{.}} at the top is the data", NULL, "{{#v}}{{.}}{{/v}}|{{.}}", "{\"v\":[\"x\"]}",
	    "x|");
	render_is("data that is an array", NULL, "{{#.}}{{.}},{{/.}}", "[1,2]", "1,2,");
	render_is("names are case-sensitive", NULL, "[{{Name}}]", "{\"name\":\"x\"}", "[]");
	render_is("names with - and _", NULL, "{{a-b}}{{c_d}}", "{\"a-b\":1,\"c_d\":2}", "12");
}

static void
test_partials(void)
{
	static const char *const pairs[] = {
		"header", "<html><head><title>{{title}}</title></head><body>\n",
		"footer", "<footer>{{version}}</footer></body></html>\n",
		"row", "<li>{{name}} of {{title}}</li>",
		"page", "{{> header}}<h1>{{title}}</h1><ul>{{#rows}}{{> row}}{{/rows}}</ul>\n"
		    "{{>footer}}",
		"nav.item", "[{{.}}]",
		NULL,
	};
	struct tmpl_set *set;
	struct tmpl_diag d;
	struct tmpl_out o;
	cJSON *data;
	enum qp_err err;
	const char *json = "{\"title\":\"A&B\",\"version\":\"1.0\",\"rows\":[{\"name\":\"x\"},"
	    "{\"name\":\"y\",\"title\":\"T\"}]}";

	memset(&d, 0, sizeof(d));
	set = set_of(pairs, &d, &err);
	if (!ok(set != NULL, "a set with a shared layout seals")) {
		printf("#   %s: %s:%u: %s\n", qp_strerror(err), d.file, d.line, d.msg);
		return;
	}
	data = cJSON_Parse(json);
	tmpl_out_init(&o, 0);
	err = tmpl_render(set, "page", data, &o);
	if (!is_str(err == QP_OK ? o.buf : qp_strerror(err),
	    "<html><head><title>A&amp;B</title></head><body>\n<h1>A&amp;B</h1>"
	    "<ul><li>x of A&amp;B</li><li>y of T</li></ul>\n<footer>1.0</footer></body></html>\n",
	    "a page with the shared header and footer and a row partial in a loop"))
		show("page", json);
	tmpl_out_reset(&o);
	err = tmpl_render(set, "header", data, &o);
	is_str(err == QP_OK ? o.buf : qp_strerror(err),
	    "<html><head><title>A&amp;B</title></head><body>\n", "a partial renders on its own");
	tmpl_out_reset(&o);
	is_int(tmpl_render(set, "nope", data, &o), QP_ENOTFOUND, "rendering an unknown name");
	ok(tmpl_set_has(set, "row") && tmpl_set_has(set, "nav.item") && !tmpl_set_has(set, "ro") &&
	    !tmpl_set_has(set, "rows"), "tmpl_set_has() finds exact names only");
	render_is("a string template uses the set's partials", set,
	    "{{#items}}{{> nav.item}}{{/items}}", "{\"items\":[\"a\",\"<\"]}", "[a][&lt;]");
	render_is("a partial sees the context stack", set, "{{#rows}}{{> row}}{{/rows}}",
	    "{\"title\":\"top\",\"rows\":[{\"name\":\"n\"}]}", "<li>n of top</li>");
	error_is("a string template with an unknown partial", set, "a\n{{> row}}\n{{> rows}}", 3,
	    "unknown partial 'rows'");
	error_is("no partials without a set", NULL, "{{> row}}", 1, "unknown partial 'row'");
	tmpl_out_free(&o);
	cJSON_Delete(data);
	tmpl_set_free(set);
}

static void
test_errors(void)
{
	struct tmpl_set *set;
	struct tmpl_diag d;
	enum qp_err err;

	error_is("unclosed section", NULL, "a\n{{#x}}\nb\n", 2, "section 'x' is never closed");
	error_is("unclosed inner section", NULL, "{{#a}}\n{{#b}}\n{{/a}}", 3,
	    "'{{/a}}' closes section 'b' opened on line 2");
	error_is("unclosed outer section", NULL, "{{#a}}\n{{#b}}\n{{/b}}\n", 1,
	    "section 'a' is never closed");
	error_is("mismatched close", NULL, "<ul>\n{{#rows}}\n<li>\n{{/row}}\n", 4,
	    "'{{/row}}' closes section 'rows' opened on line 2");
	error_is("close of an inverted section by another name", NULL, "{{^a}}\n{{/b}}", 2,
	    "'{{/b}}' closes section 'a' opened on line 1");
	error_is("close without open", NULL, "x\n\n{{/a}}", 3, "'{{/a}}' closes no open section");
	error_is("unterminated tag", NULL, "a\nb {{name\nc\n", 2, "unterminated tag");
	error_is("unterminated triple", NULL, "\n\n\n{{{x}}\n", 4, "unterminated tag: '{{{'");
	error_is("unterminated comment", NULL, "x\n{{! never ends\n", 2, "unterminated tag");
	error_is("lines count through comments and tags", NULL,
	    "{{! one\ntwo\nthree }}\n{{#a\n}}\n{{/b}}", 6, "'{{/b}}' closes section 'a'");
	error_is("lines count through CRLF text", NULL, "a\r\nb\r\n{{/x}}", 3, "closes no open");
	error_is("empty tag", NULL, "\n{{}}", 2, "empty tag");
	error_is("blank tag", NULL, "{{ }}", 1, "empty tag");
	error_is("empty section name", NULL, "{{#}}{{/}}", 1, "empty tag");
	error_is("name with a space", NULL, "\n\n{{a b}}", 3, "bad variable name 'a b'");
	error_is("name with double dots", NULL, "{{a..b}}", 1, "bad variable name 'a..b'");
	error_is("name ending in a dot", NULL, "{{a.}}", 1, "bad variable name 'a.'");
	error_is("delimiter change is not supported", NULL, "{{=<% %>=}}", 1, "bad variable name");
	error_is("unknown filter", NULL, "x\n{{js:v}}", 2, "bad variable name 'js:v'");
	error_is("filter in a raw tag", NULL, "{{{url:v}}}", 1, "bad variable name 'url:v'");
	error_is("raw sigil in a triple", NULL, "{{{&v}}}", 1, "bad variable name '&v'");
	error_is("sigil after a space", NULL, "{{ #a}}", 1, "bad variable name '#a'");
	error_is("parent tags are not supported", NULL, "{{<a}}", 1, "bad variable name '<a'");
	error_is("bad partial name", NULL, "{{> ../etc/passwd}}", 1, "bad partial name");
	error_is("control bytes are quoted safely", NULL, "{{a\x01\x1b}}", 1,
	    "bad variable name 'a?\?'");

	memset(&d, 0, sizeof(d));
	set = tmpl_set_new();
	err = tmpl_set_add(set, "page", "views/page.html", "a\n\n{{#x}}", 9, &d);
	diag_is("tmpl_set_add() names the file and line", err, &d, QP_EPARSE, "views/page.html", 3,
	    "section 'x' is never closed");
	err = tmpl_set_add(set, "page", "views/page.html", "ok", 2, &d);
	is_int(err, QP_OK, "a name that failed to compile is free again");
	err = tmpl_set_add(set, "page", "views/page2.html", "ok", 2, &d);
	diag_is("a name defined twice", err, &d, QP_EEXIST, "views/page2.html", 0, "defined twice");
	err = tmpl_set_add(set, "a/b", NULL, "ok", 2, &d);
	diag_is("a template name with a slash", err, &d, QP_EINVAL, "a/b", 0, "bad template name");
	err = tmpl_set_add(set, ".x", NULL, "ok", 2, &d);
	diag_is("a template name starting with a dot", err, &d, QP_EINVAL, ".x", 0,
	    "bad template name");
	err = tmpl_set_add(set, "lost", "views/lost.html", "\n\n{{>gone}}", 11, &d);
	is_int(err, QP_OK, "an unknown partial is not an error before sealing");
	err = tmpl_set_seal(set, &d);
	diag_is("sealing reports an unknown partial with file and line", err, &d, QP_EPARSE,
	    "views/lost.html", 3, "unknown partial 'gone'");
	{
		struct tmpl_out o;

		tmpl_out_init(&o, 0);
		is_int(tmpl_render(set, "page", NULL, &o), QP_EINVAL,
		    "a set that failed to seal does not render");
		tmpl_out_free(&o);
	}
	tmpl_set_free(set);

	set = tmpl_set_new();
	tmpl_set_seal(set, &d);
	err = tmpl_set_add(set, "late", NULL, "x", 1, &d);
	is_int(err, QP_EINVAL, "a sealed set takes no more templates");
	is_int(tmpl_set_seal(set, &d), QP_EINVAL, "a set is sealed once");
	tmpl_set_free(set);
}

/* Appends n nested sections (each opening on its own line) around "x" to buf. */
static void
nest(char *buf, size_t len, int n)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "{{#a}}\n");
	off += (size_t)snprintf(buf + off, len - off, "{{b}}");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "{{/a}}");
}

/* Builds a chain of n+1 templates p00 .. pNN, each including the next on its line 2. */
static enum qp_err
chain(int n, struct tmpl_diag *d)
{
	struct tmpl_set *set = tmpl_set_new();
	char name[16], file[32], src[64];
	enum qp_err err = QP_ENOMEM;
	int i;

	if (set == NULL)
		return err;
	/* Added in reverse so that name order and insertion order differ. */
	for (i = n; i >= 0; i--) {
		snprintf(name, sizeof(name), "p%02d", i);
		snprintf(file, sizeof(file), "p%02d.html", i);
		if (i < n)
			snprintf(src, sizeof(src), "<%d>\n{{> p%02d}}", i, i + 1);
		else
			snprintf(src, sizeof(src), "<%d>{{b}}", i);
		err = tmpl_set_add(set, name, file, src, strlen(src), d);
		if (err != QP_OK)
			goto out;
	}
	err = tmpl_set_seal(set, d);
	if (err == QP_OK) {
		struct tmpl_out o, want;
		cJSON *data = cJSON_Parse("{\"b\":\"!\"}");

		/* The whole chain renders: "<0>\n<1>\n...<n>!". */
		tmpl_out_init(&o, 0);
		tmpl_out_init(&want, 0);
		for (i = 0; i <= n; i++) {
			snprintf(src, sizeof(src), i < n ? "<%d>\n" : "<%d>!", i);
			if (tmpl_render_string(NULL, src, strlen(src), NULL, &want, NULL) != QP_OK)
				err = QP_ENOMEM;
		}
		if (err == QP_OK)
			err = tmpl_render(set, "p00", data, &o);
		if (err == QP_OK && strcmp(o.buf, want.buf) != 0) {
			printf("#   expected: \"%s\"\n#   actual:   \"%s\"\n", want.buf, o.buf);
			err = QP_EINVAL;
		}
		tmpl_out_free(&want);
		tmpl_out_free(&o);
		cJSON_Delete(data);
	}
out:
	tmpl_set_free(set);
	return err;
}

static void
test_depth(void)
{
	static char buf[8192], buf2[8192 + 16];
	struct tmpl_diag d;
	enum qp_err err;
	char want[64];
	static const char *const self[] = { "a", "x\n{{#v}}\n{{> a}}{{/v}}", NULL };
	static const char *const cycle[] = { "a", "{{> b}}", "b", "\n{{> c}}", "c", "\n\n{{> a}}",
	    NULL };
	static const char *const mixed_ok[] = { "leaf", "{{#l}}{{.}}{{/l}}", NULL };
	struct tmpl_set *set;

	nest(buf, sizeof(buf), QP_TMPL_DEPTH_MAX);
	memset(want, '\n', QP_TMPL_DEPTH_MAX);
	snprintf(want + QP_TMPL_DEPTH_MAX, sizeof(want) - QP_TMPL_DEPTH_MAX, "in");
	render_is("sections nest QP_TMPL_DEPTH_MAX deep", NULL, buf, "{\"a\":true,\"b\":\"in\"}",
	    want);
	nest(buf, sizeof(buf), QP_TMPL_DEPTH_MAX + 1);
	snprintf(want, sizeof(want), "section 'a' nests deeper than %d", QP_TMPL_DEPTH_MAX);
	error_is("sections nest no deeper than QP_TMPL_DEPTH_MAX", NULL, buf,
	    QP_TMPL_DEPTH_MAX + 1, want);

	memset(&d, 0, sizeof(d));
	err = chain(QP_TMPL_DEPTH_MAX, &d);
	if (!is_int(err, QP_OK, "a chain of QP_TMPL_DEPTH_MAX partials renders"))
		printf("#   %s:%u: %s\n", d.file, d.line, d.msg);
	err = chain(QP_TMPL_DEPTH_MAX + 1, &d);
	snprintf(want, sizeof(want), "partial 'p01' nests %d deep", QP_TMPL_DEPTH_MAX + 1);
	diag_is("a chain of QP_TMPL_DEPTH_MAX + 1 partials is refused at its top", err, &d,
	    QP_EPARSE, "p00.html", 2, want);
	err = chain(3 * QP_TMPL_DEPTH_MAX, &d);
	is_int(err, QP_EPARSE, "a very long chain of partials is refused");

	set = set_of(self, &d, &err);
	diag_is("a partial including itself is refused", err, &d, QP_EPARSE, "a.html", 3,
	    "partial 'a' includes itself");
	tmpl_set_free(set);
	set = set_of(cycle, &d, &err);
	diag_is("partials including each other are refused", err, &d, QP_EPARSE, "c.html", 3,
	    "partial 'a' includes itself");
	tmpl_set_free(set);

	/* Sections around a partial count with the partial's own sections. */
	set = set_of(mixed_ok, &d, &err);
	if (ok(set != NULL, "a set with a leaf partial seals")) {
		size_t off = 0;
		int i;

		for (i = 0; i < QP_TMPL_DEPTH_MAX - 2; i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "{{#a}}");
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\n{{> leaf}}");
		for (i = 0; i < QP_TMPL_DEPTH_MAX - 2; i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "{{/a}}");
		render_is("sections plus a partial's sections up to the limit", set, buf,
		    "{\"a\":1,\"l\":[\"z\"]}", "\nz");
		snprintf(buf2, sizeof(buf2), "{{#a}}%s{{/a}}", buf);
		snprintf(want, sizeof(want), "partial 'leaf' nests %d deep", QP_TMPL_DEPTH_MAX + 1);
		error_is("sections plus a partial's sections past the limit", set, buf2, 2, want);
	}
	tmpl_set_free(set);
}

static void
test_cap(void)
{
	struct tmpl_out o;
	struct tmpl_diag d;
	cJSON *data = cJSON_Parse("{\"rows\":[1,2,3,4,5,6,7,8,9,10],\"v\":\"<<<<\"}");
	enum qp_err err;
	const char *t = "{{#rows}}row {{.}};{{/rows}}";

	tmpl_out_init(&o, 16);
	err = tmpl_escape(&o, "start", 5);
	err = err == QP_OK ? tmpl_render_string(NULL, t, strlen(t), data, &o, &d) : err;
	is_int(err, QP_ETOOBIG, "output past the cap is an error");
	is_str(o.buf, "start", "output past the cap leaves the buffer as it was");
	err = tmpl_render_string(NULL, "{{v}}", 5, data, &o, &d);
	is_int(err, QP_ETOOBIG, "escaping that grows past the cap is an error");
	is_str(o.buf, "start", "and leaves the buffer as it was");
	err = tmpl_render_string(NULL, "0123456789a", 11, data, &o, &d);
	is_int(err, QP_OK, "output exactly at the cap fits");
	is_int(o.len, 16, "it is 16 bytes long");
	tmpl_out_free(&o);
	tmpl_out_init(&o, 0);
	is_int(o.max, TMPL_OUT_MAX, "a cap of 0 means TMPL_OUT_MAX");
	tmpl_out_init(&o, (size_t)TMPL_OUT_MAX * 2);
	is_int(o.max, TMPL_OUT_MAX, "a larger cap is lowered to TMPL_OUT_MAX");
	tmpl_out_free(NULL);
	cJSON_Delete(data);

	/* 100 rows looped four deep is 10^8 iterations writing nothing. */
	data = cJSON_CreateObject();
	{
		cJSON *rows = cJSON_AddArrayToObject(data, "r");
		int i;

		for (i = 0; rows != NULL && i < 100; i++)
			cJSON_AddItemToArray(rows, cJSON_CreateNumber(i));
	}
	tmpl_out_init(&o, 0);
	t = "{{#r}}{{#r}}{{/r}}{{/r}}";
	err = tmpl_render_string(NULL, t, strlen(t), data, &o, &d);
	is_int(err, QP_OK, "ten thousand loop iterations render");
	t = "{{#r}}{{#r}}{{#r}}{{#r}}{{/r}}{{/r}}{{/r}}{{/r}}";
	err = tmpl_render_string(NULL, t, strlen(t), data, &o, &d);
	is_int(err, QP_ETOOBIG, "10^8 loop iterations pass TMPL_STEPS_MAX and stop");
	tmpl_out_free(&o);
	cJSON_Delete(data);
}

static void
test_binary(void)
{
	static const char src[] = "a\0{{v}}\0b";
	struct tmpl_out o;
	struct tmpl_diag d;
	cJSON *data = cJSON_Parse("{\"v\":\"<\"}");
	enum qp_err err;

	tmpl_out_init(&o, 0);
	err = tmpl_render_string(NULL, src, sizeof(src) - 1, data, &o, &d);
	ok(err == QP_OK && o.len == 8 && memcmp(o.buf, "a\0&lt;\0b", 8) == 0,
	    "NUL bytes in a template are text (buf, len)");
	tmpl_out_free(&o);
	cJSON_Delete(data);
}

/* Writes s into dir/name; returns 0 on success. */
static int
put_file(const char *dir, const char *name, const char *s)
{
	char path[512];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	rc = fputs(s, f) < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}

static void
rm_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static void
test_load_dir(void)
{
	static const char *const files[][2] = {
		{ "header.html", "<header>{{title}}</header>\n" },
		{ "footer.html", "<footer>{{#version}}v{{.}}{{/version}}</footer>\n" },
		{ "row.html", "<tr><td>{{name}}</td><td><a href=\"{{url:link}}\">x</a></td></tr>" },
		{ "index.html", "{{> header}}<table>{{#rows}}{{> row}}{{/rows}}"
		    "{{^rows}}<tr><td>none</td></tr>{{/rows}}</table>\n{{> footer}}" },
		{ "notes.txt", "{{#not a template" },
		{ ".hidden.html", "{{#not a template" },
		{ "x.html.bak", "{{#not a template" },
	};
	char tmpdir[] = "/tmp/test_tmpl.XXXXXX", sub[512], path[512];
	const char *td;
	struct tmpl_set *set = NULL;
	struct tmpl_diag d;
	struct tmpl_out o;
	cJSON *data;
	enum qp_err err;
	size_t i;

	memset(&d, 0, sizeof(d));
	td = mkdtemp(tmpdir);
	if (!ok(td != NULL, "a temporary directory"))
		return;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (put_file(td, files[i][0], files[i][1]) != 0)
			break;
	snprintf(sub, sizeof(sub), "%s/dir.html", td);
	if (!ok(i == sizeof(files) / sizeof(files[0]) && mkdir(sub, 0700) == 0,
	    "templates written"))
		goto out;

	err = tmpl_set_load(td, &set, &d);
	if (!is_int(err, QP_OK, "a directory of templates loads"))
		printf("#   %s:%u: %s\n", d.file, d.line, d.msg);
	if (set == NULL)
		goto out;
	ok(tmpl_set_has(set, "index") && tmpl_set_has(set, "row") && !tmpl_set_has(set, "notes") &&
	    !tmpl_set_has(set, ".hidden") && !tmpl_set_has(set, "hidden") &&
	    !tmpl_set_has(set, "dir") && !tmpl_set_has(set, "index.html"),
	    "only *.html regular files, named without .html");
	data = cJSON_Parse("{\"title\":\"<Q>\",\"version\":\"1.2\",\"rows\":["
	    "{\"name\":\"a'\",\"link\":\"/accounts/1\"},{\"name\":\"b\",\"link\":\"javascript:x\"}]}");
	tmpl_out_init(&o, 0);
	err = tmpl_render(set, "index", data, &o);
	is_str(err == QP_OK ? o.buf : qp_strerror(err),
	    "<header>&lt;Q&gt;</header>\n<table><tr><td>a&#39;</td><td><a href=\"/accounts/1\">x</a>"
	    "</td></tr><tr><td>b</td><td><a href=\"about:invalid\">x</a></td></tr></table>\n"
	    "<footer>v1.2</footer>\n", "a loaded page renders with its partials");
	tmpl_out_free(&o);
	cJSON_Delete(data);
	tmpl_set_free(set);
	set = NULL;

	if (put_file(td, "broken.html", "<p>\n{{#rows}}\n<li>{{name}\n") != 0)
		goto out;
	err = tmpl_set_load(td, &set, &d);
	snprintf(path, sizeof(path), "%s/broken.html", td);
	diag_is("a broken file is reported with its path and line", err, &d, QP_EPARSE, path, 3,
	    "unterminated tag");
	ok(set == NULL, "and no set is returned");
	rm_file(td, "broken.html");

	if (put_file(td, "bad name.html", "x") != 0)
		goto out;
	err = tmpl_set_load(td, &set, &d);
	snprintf(path, sizeof(path), "%s/bad name.html", td);
	diag_is("a file with a bad template name is refused", err, &d, QP_EINVAL, path, 0,
	    "bad template name");
	rm_file(td, "bad name.html");

	if (put_file(td, "cycle.html", "a\n{{> index}}") != 0 ||
	    put_file(td, "footer.html", "<footer>\n{{> cycle}}</footer>") != 0)
		goto out;
	err = tmpl_set_load(td, &set, &d);
	snprintf(path, sizeof(path), "%s/footer.html", td);
	diag_is("recursion across files is reported", err, &d, QP_EPARSE, path, 2,
	    "partial 'cycle' includes itself");
	rm_file(td, "cycle.html");

	snprintf(path, sizeof(path), "%s/none", td);
	err = tmpl_set_load(path, &set, &d);
	diag_is("a missing directory", err, &d, QP_EIO, path, 0, "cannot open directory");
out:
	tmpl_set_free(set);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		rm_file(td, files[i][0]);
	rmdir(sub);
	rmdir(td);
}

/* Shared by the render threads: read-only. */
struct shared {
	const struct tmpl_set	*set;	/* sealed */
	const cJSON		*data;	/* the page's data */
	const char		*want;	/* expected output */
	int			 bad;	/* renders that differed (per thread) */
};

static void *
render_many(void *arg)
{
	struct shared *s = arg;
	struct tmpl_out o;
	int i;

	tmpl_out_init(&o, 0);
	for (i = 0; i < 300; i++) {
		tmpl_out_reset(&o);
		if (tmpl_render(s->set, "page", s->data, &o) != QP_OK || strcmp(o.buf, s->want) != 0)
			s->bad++;
	}
	tmpl_out_free(&o);
	return NULL;
}

static void
test_threads(void)
{
	static const char *const pairs[] = {
		"item", "<li>{{name}}:{{n}}</li>",
		"page", "<ul>{{#rows}}{{> item}}{{/rows}}</ul>",
		NULL,
	};
	struct shared sh[4];
	pthread_t th[4];
	struct tmpl_set *set;
	struct tmpl_diag d;
	cJSON *data;
	enum qp_err err;
	int i, started = 0, bad = 0;

	set = set_of(pairs, &d, &err);
	data = cJSON_Parse("{\"rows\":[{\"name\":\"a<\",\"n\":1},{\"name\":\"b\",\"n\":0.5}]}");
	if (set == NULL || data == NULL) {
		ok(0, "four threads render from one set at once");
		goto out;
	}
	for (i = 0; i < 4; i++) {
		sh[i].set = set;
		sh[i].data = data;
		sh[i].want = "<ul><li>a&lt;:1</li><li>b:0.5</li></ul>";
		sh[i].bad = 0;
		if (pthread_create(&th[i], NULL, render_many, &sh[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		bad += sh[i].bad;
	}
	ok(started == 4 && bad == 0, "four threads render from one set at once (%d bad)", bad);
out:
	cJSON_Delete(data);
	tmpl_set_free(set);
}

int
main(void)
{

	test_escaping();
	test_escape_function();
	test_url();
	test_values();
	test_sections();
	test_lookup();
	test_partials();
	test_errors();
	test_depth();
	test_cap();
	test_binary();
	test_load_dir();
	test_threads();
	return done_testing();
}
