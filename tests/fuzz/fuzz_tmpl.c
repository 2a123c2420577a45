/*
 * fuzz_tmpl.c: arbitrary template text compiled and rendered against a
 * fixed cJSON tree and a fixed set of partials. Input: 1 mode byte, then
 * the template. Mode bit 0: also add the text to a fresh set as "self"
 * beside partials that include it, seal and render (the recursion and
 * depth checks across files); bits 1-2 pick the output cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Every \u0002 in the data follows one of < > & " ', so once escaped it
 * follows ';'. Without raw tags and without that byte in the template, an
 * output "\x02" after anything but ';' means a value escaped the escaping.
 */
static const char data_json[] =
	"{\"s\":\"<\\u0002>\\u0002&\\u0002\\\"\\u0002'\\u0002\",\"n\":3,\"f\":0.5,\"t\":true,"
	"\"z\":false,\"nul\":null,\"e\":\"\",\"big\":1e300,\"neg\":-0.0,"
	"\"u\":\"javascript:alert(1)\",\"h\":\"https://x/?a=<\\u0002\",\"rel\":\"/a/b?c='\\u0002\","
	"\"rows\":[{\"name\":\"<\\u0002\",\"n\":1,\"sub\":[1,2,{\"x\":\"'\\u0002\"}]},"
	"{\"name\":\"b\",\"n\":0},\"str'\\u0002\",7,[1,[2,[3]]],null,true],"
	"\"obj\":{\"a\":{\"b\":{\"c\":\"\\\"\\u0002\"}},\"rows\":[],\"s\":\"&\\u0002\"},"
	"\"empty\":[],\"eo\":{}}";

static const char *const partials[] = {
	"head", "<h>{{s}}{{#obj}}{{a.b.c}}{{url:h}}{{/obj}}</h>\n",
	"row", "<r>{{name}}{{#sub}}{{.}}{{x}}{{/sub}}{{^sub}}-{{/sub}}</r>",
	"foot", "{{> row}}{{#rows}}{{#.}}{{.}}{{/.}}{{/rows}}",
	NULL,
};

static const size_t caps[4] = { 0, 64, 1024, 1 };

/* Adds the fixed partials to set. */
static void
add_partials(struct tmpl_set *set)
{
	size_t i;

	for (i = 0; partials[i] != NULL; i += 2)
		if (tmpl_set_add(set, partials[i], NULL, partials[i + 1],
		    strlen(partials[i + 1]), NULL) != QP_OK)
			abort();
}

/* Checks what one render left in o, which held "PRE" before it. */
static void
check(enum qp_err err, const struct tmpl_out *o, int plain)
{
	size_t i;

	if (err != QP_OK && err != QP_EPARSE && err != QP_ETOOBIG)
		abort();
	if (o->buf == NULL || o->len > o->max || o->buf[o->len] != '\0' || o->len < 3 ||
	    memcmp(o->buf, "PRE", 3) != 0)
		abort();
	if (err != QP_OK && o->len != 3)
		abort();
	if (!plain)
		return;
	for (i = 3; i < o->len; i++)
		if (o->buf[i] == '\x02' && o->buf[i - 1] != ';')
			abort();
}

/* Checks that a diagnostic is terminated and printable. */
static void
check_diag(const struct tmpl_diag *d)
{
	size_t i, n;

	n = strnlen(d->msg, sizeof(d->msg));
	if (n == sizeof(d->msg) || memchr(d->file, '\0', sizeof(d->file)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)d->msg[i] < 0x20 || (unsigned char)d->msg[i] >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl_set *set = NULL, *own = NULL;
	struct tmpl_out o;
	struct tmpl_diag d;
	cJSON *tree = NULL;
	const char *s;
	size_t n;
	enum qp_err err;
	int plain;

	if (size < 1)
		return 0;
	s = (const char *)data + 1;
	n = size - 1;
	plain = memchr(s, '\x02', n) == NULL && memmem(s, n, "{{{", 3) == NULL &&
	    memmem(s, n, "{{&", 3) == NULL;
	tree = cJSON_Parse(data_json);
	set = tmpl_set_new();
	if (tree == NULL || set == NULL)
		abort();
	add_partials(set);
	if (tmpl_set_seal(set, NULL) != QP_OK)
		abort();

	n = caps[(data[0] >> 1) & 3];
	tmpl_out_init(&o, n > 0 ? n + 3 : 0);
	n = size - 1;
	if (tmpl_escape(&o, "PRE", 3) != QP_OK)
		abort();
	memset(&d, 0, sizeof(d));
	err = tmpl_render_string(set, s, n, tree, &o, &d);
	check(err, &o, plain);
	if (err == QP_EPARSE)
		check_diag(&d);
	tmpl_out_reset(&o);
	if (tmpl_escape(&o, "PRE", 3) != QP_OK)
		abort();
	err = tmpl_render_string(NULL, s, n, NULL, &o, &d);
	check(err, &o, plain);

	if (data[0] & 1) {
		own = tmpl_set_new();
		if (own == NULL)
			abort();
		add_partials(own);
		if (tmpl_set_add(own, "wrap", NULL, "{{#rows}}{{> self}}{{/rows}}", 28, NULL) != QP_OK)
			abort();
		memset(&d, 0, sizeof(d));
		err = tmpl_set_add(own, "self", NULL, s, n, &d);
		if (err == QP_OK)
			err = tmpl_set_seal(own, &d);
		if (err == QP_EPARSE)
			check_diag(&d);
		else if (err != QP_OK)
			abort();
		if (err == QP_OK) {
			tmpl_out_reset(&o);
			if (tmpl_escape(&o, "PRE", 3) != QP_OK)
				abort();
			check(tmpl_render(own, "wrap", tree, &o), &o, plain);
			tmpl_out_reset(&o);
			if (tmpl_escape(&o, "PRE", 3) != QP_OK)
				abort();
			check(tmpl_render(own, "self", tree, &o), &o, plain);
		}
	}
	tmpl_out_free(&o);
	tmpl_set_free(own);
	tmpl_set_free(set);
	cJSON_Delete(tree);
	return 0;
}
