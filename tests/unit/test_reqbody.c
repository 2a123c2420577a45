/* test_reqbody.c: request body checks and the body sent upstream. */
#include "../tap.h"
#include "bounds.h"
#include "reqbody.h"

/* A request that must be refused, with its code and client message. */
struct bad {
	const char	*in;		/* body */
	enum qp_err	 err;		/* expected code */
	const char	*why;		/* expected message */
};

static const struct bad bads[] = {
	{ "", QP_EPARSE, "Invalid JSON" },
	{ "   ", QP_EPARSE, "Invalid JSON" },
	{ "{", QP_EPARSE, "Invalid JSON" },
	{ "[{\"model\":\"x\"}]", QP_EPARSE, "Invalid JSON" },
	{ "\"model\"", QP_EPARSE, "Invalid JSON" },
	{ "null", QP_EPARSE, "Invalid JSON" },
	{ "{\"model\":\"x\"} {}", QP_EPARSE, "Invalid JSON" },
	{ "{\"model\":\"x\",}", QP_EPARSE, "Invalid JSON" },
	{ "{}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":\"\"}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":\" \\t\\n \"}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":5}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":null}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":[\"gpt-4o\"]}", QP_EINVAL, "Missing model field" },
	{ "{\"Model\":\"gpt-4o\"}", QP_EINVAL, "Missing model field" },
	{ "{\"model\":\"gpt-4o\",\"model\":\"\"}", QP_EINVAL,
	    "Duplicate key 'model' in the request body" },
	{ "{\"model\":\"a\",\"model\":\"b\"}", QP_EINVAL,
	    "Duplicate key 'model' in the request body" },
	{ "{\"model\":\"a\",\"stream\":false,\"x\":1,\"stream\":true}", QP_EINVAL,
	    "Duplicate key 'stream' in the request body" },
	{ "{\"stream\":true,\"model\":\"a\",\"stream\":true}", QP_EINVAL,
	    "Duplicate key 'stream' in the request body" },
	{ "{\"model\":\"a\",\"model\":\"a\"}", QP_EINVAL,
	    "Duplicate key 'model' in the request body" },
	{ "{\"model\":\"gpt-4o\",\"stream\":\"true\"}", QP_EINVAL,
	    "Invalid stream value: must be a boolean" },
	{ "{\"model\":\"gpt-4o\",\"stream\":1}", QP_EINVAL,
	    "Invalid stream value: must be a boolean" },
	{ "{\"model\":\"gpt-4o\",\"stream\":{}}", QP_EINVAL,
	    "Invalid stream value: must be a boolean" },
};

/* A request that passes, and what goes upstream. */
struct good {
	const char	*name;		/* what the case shows */
	const char	*in;		/* body */
	const char	*base;		/* base model id */
	int		 want_usage;	/* OpenAI chat upstream */
	const char	*model;		/* model seen by reqbody_parse() */
	int		 stream;	/* stream flag */
	int		 include_usage;	/* client's include_usage */
	const char	*out;		/* upstream body, NULL = original bytes */
};

static const struct good goods[] = {
	{ "unchanged openai request",
	    "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
	    "gpt-4o", 1, "gpt-4o", 0, 0, NULL },
	{ "provider suffix stripped",
	    "{\"model\":\"gpt-4o/openai\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"max_tokens\":4096,\"temperature\":0.7}",
	    "gpt-4o", 1, "gpt-4o/openai", 0, 0,
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"max_tokens\":4096,\"temperature\":0.7}" },
	{ "openai stream gets include_usage",
	    "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}",
	    "gpt-4o", 1, "gpt-4o", 1, 0,
	    "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[],\"stream_options\":{\"include_"
	    "usage\":true}}" },
	{ "include_usage false forced true",
	    "{\"model\":\"m/p\",\"stream\":true,\"stream_options\":{\"include_usage\":false,\"x\""
	    ":1}}",
	    "m", 1, "m/p", 1, 0,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true,\"x\":1}"
	    "}" },
	{ "stream_options null replaced",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":null}",
	    "m", 1, "m", 1, 0,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
	{ "stream_options not an object replaced",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":\"yes\"}",
	    "m", 1, "m", 1, 0,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
	{ "stream_options without include_usage",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{}}",
	    "m", 1, "m", 1, 0,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
	{ "client asked for usage: unchanged",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
	    "m", 1, "m", 1, 1, NULL },
	{ "no stream: no stream_options",
	    "{\"model\":\"m\",\"stream\":false}", "m", 1, "m", 0, 0, NULL },
	{ "stream null is no stream",
	    "{\"model\":\"m\",\"stream\":null}", "m", 1, "m", 0, 0, NULL },
	{ "anthropic stream untouched",
	    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"stream\":true,\"messages\":[]}",
	    "claude-sonnet-4-5", 0, "claude-sonnet-4-5", 1, 0, NULL },
	{ "anthropic model rewritten only",
	    "{\"model\":\"claude-sonnet-4-5/anthropic\",\"stream\":true}",
	    "claude-sonnet-4-5", 0, "claude-sonnet-4-5/anthropic", 1, 0,
	    "{\"model\":\"claude-sonnet-4-5\",\"stream\":true}" },
	{ "duplicates below the top level are not the gateway's",
	    "{\"model\":\"b/p\",\"metadata\":{\"model\":\"x\",\"model\":\"y\"}}",
	    "b", 0, "b/p", 0, 0,
	    "{\"model\":\"b\",\"metadata\":{\"model\":\"x\",\"model\":\"y\"}}" },
	{ "white space around the body",
	    " \r\n{\"model\":\"m\"}\n", "m", 1, "m", 0, 0, NULL },
	{ "unicode kept",
	    "{\"model\":\"mod\\u00e8le/p\",\"messages\":[{\"content\":\"caf\xc3\xa9 \\\"q\\\"\"}]}",
	    "mod\xc3\xa8le", 1, "mod\xc3\xa8le/p", 0, 0,
	    "{\"model\":\"mod\xc3\xa8le\","
	    "\"messages\":[{\"content\":\"caf\xc3\xa9 \\\"q\\\"\"}]}" },
};

/* A model name full of brackets and an escaped quote. */
#define BRACKETS "{\"model\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" \
	"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}"

/* Writes a body nested depth levels deep into buf; returns its length. */
static size_t
nest(char *buf, int depth)
{
	size_t n;
	int i;

	memcpy(buf, "{\"model\":\"m\",\"a\":", 17);
	n = 17;
	for (i = 1; i < depth; i++)
		buf[n++] = '[';
	for (i = 1; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	return n;
}

int
main(void)
{
	struct reqbody rb;
	const char *why;
	char *out = NULL, deep[256];
	size_t i, outlen, n;
	enum qp_err err;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];

		why = NULL;
		err = reqbody_parse(&rb, b->in, strlen(b->in), &why);
		if (!is_int(err, b->err, "refused %zu: code", i))
			printf("#   input: %s\n", b->in);
		if (!is_str(why, b->why, "refused %zu: message", i))
			printf("#   input: %s\n", b->in);
		ok(rb.root == NULL && rb.model == NULL, "refused %zu: nothing held", i);
	}

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];

		err = reqbody_parse(&rb, g->in, strlen(g->in), &why);
		if (!is_int(err, QP_OK, "%s: accepted", g->name)) {
			printf("#   input: %s\n", g->in);
			continue;
		}
		is_str(rb.model, g->model, "%s: model", g->name);
		is_int(rb.stream, g->stream, "%s: stream", g->name);
		is_int(rb.include_usage, g->include_usage, "%s: client include_usage", g->name);
		err = reqbody_upstream(&rb, g->base, g->want_usage, &out, &outlen);
		is_int(err, QP_OK, "%s: upstream body built", g->name);
		if (!is_str(out, g->out, "%s: upstream body", g->name))
			printf("#   input: %s\n", g->in);
		is_int(outlen, out != NULL ? strlen(out) : 0, "%s: length", g->name);
		if (out != NULL)
			is_str(rb.model, g->base, "%s: model now reads the base id", g->name);
		is_int(rb.include_usage, g->include_usage, "%s: client's choice remembered",
		    g->name);
		free(out);
		out = NULL;
		reqbody_free(&rb);
		ok(rb.root == NULL, "%s: freed", g->name);
	}

	/* A second attempt with the same base id still gets the edited body. */
	err = reqbody_parse(&rb, "{\"model\":\"m/p\"}", 15, &why);
	is_int(err, QP_OK, "retry: accepted");
	reqbody_upstream(&rb, "m", 1, &out, &outlen);
	is_str(out, "{\"model\":\"m\"}", "retry: first attempt body");
	free(out);
	reqbody_upstream(&rb, "m", 1, &out, &outlen);
	is_str(out, "{\"model\":\"m\"}", "retry: second attempt body is still the edited one");
	free(out);
	reqbody_upstream(&rb, "m2", 1, &out, &outlen);
	is_str(out, "{\"model\":\"m2\"}", "retry: another base id");
	free(out);
	out = NULL;
	reqbody_free(&rb);
	reqbody_free(&rb);
	reqbody_free(NULL);
	ok(1, "reqbody_free twice and on NULL is harmless");
	is_int(reqbody_upstream(&rb, "m", 1, &out, &outlen), QP_EINVAL, "upstream of an empty rb");
	ok(out == NULL, "no body from an empty rb");

	/* Nesting bound. */
	n = nest(deep, QP_JSON_DEPTH_MAX);
	is_int(reqbody_parse(&rb, deep, n, &why), QP_OK, "nesting of QP_JSON_DEPTH_MAX accepted");
	reqbody_free(&rb);
	n = nest(deep, QP_JSON_DEPTH_MAX + 1);
	is_int(reqbody_parse(&rb, deep, n, &why), QP_ETOOBIG, "deeper nesting refused");
	is_str(why, "Invalid JSON: nested too deeply", "deeper nesting: message");
	/* Brackets inside strings do not count. */
	is_int(reqbody_parse(&rb, BRACKETS, strlen(BRACKETS), &why), QP_OK,
	    "brackets and escaped quotes in strings do not nest");
	reqbody_free(&rb);
	/* The body is read only within len. */
	is_int(reqbody_parse(&rb, "{\"model\":\"m\"}garbage", 13, &why), QP_OK, "read within len");
	reqbody_free(&rb);
	return done_testing();
}
