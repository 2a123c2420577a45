/* test_wkproto.c: the worker's job parser, head writer, model list, hello. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "wkproto.h"

#define ID	"0123456789abcdef0123456789abcdef"

static enum wkproto_err
parse(const char *s, struct wkproto_job *job, const char **why)
{

	return wkproto_job_parse(s, strlen(s), job, why);
}

static void
test_job_ok(void)
{
	struct wkproto_job job;
	const char *why = "x";
	enum wkproto_err e;

	e = parse("{\"id\":\"" ID "\",\"model\":\"llama3.1:8b\",\"method\":\"POST\","
	    "\"path\":\"/chat/completions\",\"stream\":true,"
	    "\"headers\":{\"Content-Type\":\"application/json\",\"accept\":\"text/event-stream\","
	    "\"x-empty\":\"\"},"
	    "\"body\":\"{\\\"model\\\":\\\"llama3.1:8b\\\",\\\"stream\\\":true}\"}", &job, &why);
	is_int(e, WKPROTO_OK, "a whole job parses");
	ok(why == NULL, "no field named on success");
	is_str(job.id, ID, "id");
	is_str(job.model, "llama3.1:8b", "model");
	is_str(job.method, "POST", "method");
	is_str(job.path, "/chat/completions", "path");
	is_int(job.stream, 1, "stream");
	is_int(job.nheaders, 3, "three headers");
	is_str(job.nheaders > 0 ? job.headers[0].name : NULL, "content-type",
	    "header names are lower-cased");
	is_str(job.nheaders > 0 ? job.headers[0].value : NULL, "application/json",
	    "header values kept");
	is_str(job.nheaders > 2 ? job.headers[2].value : NULL, "", "an empty value is kept");
	is_str(job.body, "{\"model\":\"llama3.1:8b\",\"stream\":true}", "body unescaped");
	is_int(job.body_len, strlen("{\"model\":\"llama3.1:8b\",\"stream\":true}"), "body_len");
	wkproto_job_free(&job);
	ok(job.path == NULL && job.nheaders == 0, "free empties the job");
	wkproto_job_free(&job);
	wkproto_job_free(NULL);

	e = parse("{\"id\":\"" ID "\",\"method\":\"GET\",\"path\":\"/models\"}", &job, NULL);
	is_int(e, WKPROTO_OK, "a minimal job parses");
	ok(job.model == NULL && job.body == NULL && job.nheaders == 0 && !job.stream,
	    "minimal job: no model, body, headers; stream 0");
	wkproto_job_free(&job);

	e = parse("{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/embeddings?x=1\","
	    "\"model\":null,\"headers\":null,\"body\":null,\"stream\":null}", &job, NULL);
	is_int(e, WKPROTO_OK, "null fields count as absent");
	wkproto_job_free(&job);

	e = parse("{\"id\":\"" ID "\",\"method\":\"GET\",\"path\":\"/a..b/.x/x.?q=/../#/./\"}",
	    &job, NULL);
	is_int(e, WKPROTO_OK, "dots inside segments, and dot segments in the query, are fine");
	wkproto_job_free(&job);

	e = parse("{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"body\":\"\\u00e9\\ud83d\\ude00\"}",
	    &job, NULL);
	is_int(e, WKPROTO_OK, "escaped UTF-8 in the body");
	is_str(job.body, "\xc3\xa9\xf0\x9f\x98\x80", "... decoded to UTF-8 bytes");
	wkproto_job_free(&job);
}

/* Inputs that must fail, with the field they name. */
static const struct {
	const char		*in;
	enum wkproto_err	 err;
	const char		*why;
	int			 id_kept;
} bad_jobs[] = {
	{ "", WKPROTO_EJSON, "job", 0 },
	{ "not json", WKPROTO_EJSON, "job", 0 },
	{ "[1,2]", WKPROTO_EJSON, "job", 0 },
	{ "{\"id\":\"" ID "\"", WKPROTO_EJSON, "job", 0 },
	{ "{\"method\":\"POST\",\"path\":\"/x\"}", WKPROTO_EFIELD, "id", 0 },
	{ "{\"id\":\"0123456789ABCDEF0123456789abcdef\",\"method\":\"POST\",\"path\":\"/x\"}",
	  WKPROTO_EFIELD, "id", 0 },
	{ "{\"id\":\"0123456789abcdef0123456789abcde\",\"method\":\"POST\",\"path\":\"/x\"}",
	  WKPROTO_EFIELD, "id", 0 },
	{ "{\"id\":\"0123456789abcdef0123456789abcdeg\",\"method\":\"POST\",\"path\":\"/x\"}",
	  WKPROTO_EFIELD, "id", 0 },
	{ "{\"id\":12,\"method\":\"POST\",\"path\":\"/x\"}", WKPROTO_EFIELD, "id", 0 },
	{ "{\"id\":\"" ID "\",\"method\":\"post\",\"path\":\"/x\"}", WKPROTO_EFIELD, "method", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"\",\"path\":\"/x\"}", WKPROTO_EFIELD, "method", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"ABCDEFGHIJKLMNOPQ\",\"path\":\"/x\"}",
	  WKPROTO_EFIELD, "method", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"PO ST\",\"path\":\"/x\"}", WKPROTO_EFIELD, "method", 1 },
	{ "{\"id\":\"" ID "\",\"path\":\"/x\"}", WKPROTO_EFIELD, "method", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"x\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/a b\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/a\\nb\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/../admin\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/a/..\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/a/./b\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/a/..?x\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/\\u00e9\"}", WKPROTO_EFIELD, "path", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"model\":7}",
	  WKPROTO_EFIELD, "model", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"model\":\"a\\u0001\"}",
	  WKPROTO_EFIELD, "model", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"stream\":\"yes\"}",
	  WKPROTO_EFIELD, "stream", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":[]}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{\"a\":1}}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{\"a b\":\"1\"}}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{\"\":\"1\"}}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{\"a\":\"1\\r\\nb: 2\"}}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{\"a:\":\"1\"}}",
	  WKPROTO_EFIELD, "headers", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"body\":{}}",
	  WKPROTO_EFIELD, "body", 1 },
	{ "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"body\":1}",
	  WKPROTO_EFIELD, "body", 1 },
};

static void
test_job_bad(void)
{
	struct wkproto_job job;
	const char *why;
	enum wkproto_err e;
	char *big;
	size_t i, n;

	for (i = 0; i < sizeof(bad_jobs) / sizeof(*bad_jobs); i++) {
		why = NULL;
		e = parse(bad_jobs[i].in, &job, &why);
		if (!is_int(e, bad_jobs[i].err, "refused: %s", bad_jobs[i].in))
			continue;
		is_str(why, bad_jobs[i].why, "... naming %s", bad_jobs[i].why);
		is_str(job.id, bad_jobs[i].id_kept ? ID : "", "... id %s",
		    bad_jobs[i].id_kept ? "kept to refuse it by" : "empty");
		ok(job.path == NULL && job.headers == NULL && job.body == NULL &&
		    job.model == NULL, "... and nothing else left allocated");
		wkproto_job_free(&job);
	}

	/* 65 headers: one over the bound. */
	big = malloc(65 * 32 + 256);
	n = (size_t)sprintf(big, "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{");
	for (i = 0; i < 65; i++)
		n += (size_t)sprintf(big + n, "%s\"h%zu\":\"v\"", i ? "," : "", i);
	sprintf(big + n, "}}");
	is_int(parse(big, &job, &why), WKPROTO_EFIELD, "65 headers refused");
	wkproto_job_free(&job);
	/* 64 are fine. */
	n = (size_t)sprintf(big, "{\"id\":\"" ID "\",\"method\":\"POST\",\"path\":\"/x\",\"headers\":{");
	for (i = 0; i < 64; i++)
		n += (size_t)sprintf(big + n, "%s\"h%zu\":\"v\"", i ? "," : "", i);
	sprintf(big + n, "}}");
	is_int(parse(big, &job, &why), WKPROTO_OK, "64 headers accepted");
	is_int(job.nheaders, 64, "... all kept");
	wkproto_job_free(&job);
	free(big);

	/* The size bound is checked before anything is read. */
	is_int(wkproto_job_parse("{}", (size_t)WK_JOB_MAX + 1, &job, &why), WKPROTO_ETOOBIG,
	    "a job over WK_JOB_MAX is refused");
	is_str(why, "job", "... naming the job");

	/* A path at the bound and one over it. */
	big = malloc(WK_PATH_MAX + 128);
	n = (size_t)sprintf(big, "{\"id\":\"" ID "\",\"method\":\"GET\",\"path\":\"/");
	memset(big + n, 'a', WK_PATH_MAX - 1);
	sprintf(big + n + WK_PATH_MAX - 1, "\"}");
	is_int(parse(big, &job, &why), WKPROTO_OK, "a path of WK_PATH_MAX bytes");
	wkproto_job_free(&job);
	memset(big + n, 'a', WK_PATH_MAX);
	sprintf(big + n + WK_PATH_MAX, "\"}");
	is_int(parse(big, &job, &why), WKPROTO_EFIELD, "a path over WK_PATH_MAX");
	wkproto_job_free(&job);
	free(big);
}

static void
test_headers(void)
{
	static const struct {
		const char	*name;
		int		 fwd, ret;
	} t[] = {
		{ "content-type", 1, 1 }, { "accept", 1, 1 }, { "user-agent", 1, 1 },
		{ "x-request-id", 1, 1 }, { "authorization", 0, 1 }, { "x-api-key", 0, 1 },
		{ "cookie", 0, 1 }, { "host", 0, 0 }, { "content-length", 0, 0 },
		{ "transfer-encoding", 0, 0 }, { "connection", 0, 0 }, { "keep-alive", 0, 0 },
		{ "expect", 0, 0 }, { "upgrade", 0, 0 }, { "te", 0, 0 }, { "set-cookie", 1, 0 },
		{ "proxy-authorization", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(*t); i++) {
		is_int(wkproto_header_forwarded(t[i].name), t[i].fwd, "%s %s to the runtime",
		    t[i].name, t[i].fwd ? "goes" : "does not go");
		is_int(wkproto_header_returned(t[i].name), t[i].ret, "%s %s in the head",
		    t[i].name, t[i].ret ? "goes" : "does not go");
	}
}

static void
test_head(void)
{
	struct wkproto_header h[] = {
		{ "x-a", "1" }, { "content-type", "text/event-stream" }, { "connection", "close" },
		{ "set-cookie", "s=1" }, { "x-a", "2" }, { "transfer-encoding", "chunked" },
		{ "x-q", "say \"hi\"" },
	};
	struct wkproto_header *many;
	char *out = NULL, err[400];
	size_t len, i;

	is_int(wkproto_head(200, h, sizeof(h) / sizeof(*h), NULL, &out, &len), WKPROTO_OK,
	    "head with headers");
	is_str(out, "{\"status\":200,\"headers\":{\"content-type\":\"text/event-stream\","
	    "\"x-a\":\"1, 2\",\"x-q\":\"say \\\"hi\\\"\"}}\n",
	    "content-type first, repeats joined, hop-by-hop and set-cookie left out, "
	    "ends with a newline");
	is_int(len, out != NULL ? strlen(out) : 0, "length excludes the NUL");
	free(out);

	is_int(wkproto_head(404, NULL, 0, NULL, &out, &len), WKPROTO_OK, "head without headers");
	is_str(out, "{\"status\":404,\"headers\":{}}\n", "... an empty headers object");
	free(out);

	is_int(wkproto_head(502, h, 2, "connect failed:\nrefused\r\t", &out, &len), WKPROTO_OK,
	    "error head");
	is_str(out, "{\"status\":502,\"error\":\"connect failed: refused\"}\n",
	    "one line, no headers, trailing blanks cut");
	free(out);

	memset(err, 'e', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	/* An e-acute across the cut at byte 200. */
	err[199] = '\xc3';
	err[200] = '\xa9';
	wkproto_head(502, NULL, 0, err, &out, &len);
	is_int(len, strlen("{\"status\":502,\"error\":\"\"}\n") + 199,
	    "a long error is cut before a character that would cross the bound");
	free(out);

	/* Many large headers: kept while they fit, content-type always. */
	many = calloc(40, sizeof(*many));
	for (i = 0; i < 40; i++) {
		many[i].name = malloc(16);
		snprintf(many[i].name, 16, "x-h%zu", i);
		many[i].value = malloc(1001);
		memset(many[i].value, 'v', 1000);
		many[i].value[1000] = '\0';
	}
	free(many[39].name);
	many[39].name = strdup("content-type");
	is_int(wkproto_head(200, many, 40, NULL, &out, &len), WKPROTO_OK,
	    "40 headers of 1000 bytes");
	ok(len <= WK_HEAD_MAX, "... the head stays within 16 KiB (%zu)", len);
	ok(out != NULL && strstr(out, "\"content-type\"") != NULL &&
	    strstr(out, "\"content-type\"") < strstr(out, "\"x-h0\""),
	    "... content-type kept, first");
	ok(out != NULL && strstr(out, "\"x-h30\"") == NULL, "... the ones that do not fit left out");
	free(out);
	for (i = 0; i < 40; i++) {
		free(many[i].name);
		free(many[i].value);
	}
	free(many);
}

static void
test_models(void)
{
	struct wkproto_models a, b;
	char *big;
	size_t n, i;
	const char *list = "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"qwen3:32b\",\"object\":\"model\",\"max_model_len\":32768},"
	    "{\"id\":\"llama3.1:8b\",\"object\":\"model\"},"
	    "{\"id\":\"\"},{\"id\":7},{\"object\":\"model\"},{\"id\":\"bad\\u0007\"},"
	    "{\"id\":\"llama3.1:8b\",\"context_length\":8192},"
	    "{\"id\":\"phi\",\"context_length\":4096}]}";

	is_int(wkproto_models_parse(list, strlen(list), &a), WKPROTO_OK, "a model list parses");
	is_int(a.n, 3, "three models kept");
	is_int(a.dropped, 5, "bad ids and a duplicate dropped");
	is_str(a.n > 0 ? a.v[0].id : NULL, "llama3.1:8b", "sorted: llama3.1:8b first");
	is_str(a.n > 1 ? a.v[1].id : NULL, "phi", "phi second");
	is_str(a.n > 2 ? a.v[2].id : NULL, "qwen3:32b", "qwen3:32b last");
	is_int(a.n > 2 ? a.v[2].context_length : -1, 32768, "max_model_len read (vLLM)");
	is_int(a.n > 1 ? a.v[1].context_length : -1, 4096, "context_length read");

	list = "{\"data\":[{\"id\":\"phi\",\"context_length\":4096},{\"id\":\"qwen3:32b\","
	    "\"max_model_len\":32768},{\"id\":\"llama3.1:8b\"}]}";
	wkproto_models_parse(list, strlen(list), &b);
	ok(wkproto_models_equal(&a, &b), "the same models in another order are equal");
	wkproto_models_free(&b);
	list = "{\"data\":[{\"id\":\"phi\",\"context_length\":8192},{\"id\":\"qwen3:32b\","
	    "\"max_model_len\":32768},{\"id\":\"llama3.1:8b\"}]}";
	wkproto_models_parse(list, strlen(list), &b);
	ok(!wkproto_models_equal(&a, &b), "a changed context length is a change");
	wkproto_models_free(&b);
	list = "{\"data\":[{\"id\":\"phi\",\"context_length\":4096},{\"id\":\"qwen3:32b\","
	    "\"max_model_len\":32768}]}";
	wkproto_models_parse(list, strlen(list), &b);
	ok(!wkproto_models_equal(&a, &b), "a model gone is a change");
	ok(!wkproto_models_equal(&b, &a), "a model added is a change");
	wkproto_models_free(&b);
	list = "{\"data\":[{\"id\":\"phi\",\"context_length\":4096},{\"id\":\"qwen3:32c\","
	    "\"max_model_len\":32768},{\"id\":\"llama3.1:8b\"}]}";
	wkproto_models_parse(list, strlen(list), &b);
	ok(!wkproto_models_equal(&a, &b), "a renamed model is a change");
	wkproto_models_free(&b);

	memset(&b, 0, sizeof(b));
	ok(!wkproto_models_equal(&a, &b), "no models is a change from some");
	wkproto_models_free(&a);
	ok(wkproto_models_equal(&a, &b), "two empty lists are equal");

	is_int(wkproto_models_parse("{\"data\":[]}", 11, &a), WKPROTO_OK, "an empty list");
	is_int(a.n, 0, "... no model");
	wkproto_models_free(&a);
	is_int(wkproto_models_parse("[]", 2, &a), WKPROTO_EJSON, "not an object: refused");
	is_int(wkproto_models_parse("{\"models\":[]}", 13, &a), WKPROTO_EFIELD,
	    "no data: refused");
	is_int(wkproto_models_parse("{\"data\":{}}", 11, &a), WKPROTO_EFIELD,
	    "data not an array: refused");
	is_int(wkproto_models_parse("{\"data\":[", 9, &a), WKPROTO_EJSON, "cut JSON: refused");

	/* 600 models: 512 kept. */
	big = malloc(600 * 32 + 32);
	n = (size_t)sprintf(big, "{\"data\":[");
	for (i = 0; i < 600; i++)
		n += (size_t)sprintf(big + n, "%s{\"id\":\"m%03zu\"}", i ? "," : "", i);
	sprintf(big + n, "]}");
	is_int(wkproto_models_parse(big, strlen(big), &a), WKPROTO_OK, "600 models parse");
	is_int(a.n, WK_MODELS_MAX, "... 512 kept");
	is_int(a.dropped, 600 - WK_MODELS_MAX, "... 88 dropped");
	wkproto_models_free(&a);
	free(big);

	/* An id of 128 bytes is kept, 129 is not. */
	big = malloc(400);
	n = (size_t)sprintf(big, "{\"data\":[{\"id\":\"");
	memset(big + n, 'a', 128);
	n += 128;
	n += (size_t)sprintf(big + n, "\"},{\"id\":\"");
	memset(big + n, 'b', 129);
	n += 129;
	sprintf(big + n, "\"}]}");
	wkproto_models_parse(big, strlen(big), &a);
	is_int(a.n, 1, "an id of 128 bytes kept, 129 dropped");
	wkproto_models_free(&a);
	free(big);
}

static void
test_hello(void)
{
	struct wkproto_models m;
	const char *list = "{\"data\":[{\"id\":\"qwen3:32b\",\"context_length\":32768},"
	    "{\"id\":\"llama3.1:8b\"}]}";
	char *out = NULL;
	int hb, gone;

	wkproto_models_parse(list, strlen(list), &m);
	is_int(wkproto_hello_body("gpu1", "1.2.0", 4, &m, &out), WKPROTO_OK, "hello body");
	is_str(out, "{\"name\":\"gpu1\",\"version\":\"1.2.0\",\"capacity\":4,"
	    "\"protocols\":[\"openai\"],\"models\":[{\"id\":\"llama3.1:8b\"},"
	    "{\"id\":\"qwen3:32b\",\"context_length\":32768}]}",
	    "hello body as docs/workers.md shows it");
	free(out);
	wkproto_models_free(&m);
	is_int(wkproto_hello_body("n\"q", "1", 1, NULL, &out), WKPROTO_OK, "hello without models");
	is_str(out, "{\"name\":\"n\\\"q\",\"version\":\"1\",\"capacity\":1,"
	    "\"protocols\":[\"openai\"],\"models\":[]}", "... escaped name, empty models");
	free(out);

	is_int(wkproto_hello_answer("{\"worker\":\"gpu1\",\"heartbeat_s\":7,\"gone_after_s\":21}",
	    52, &hb, &gone), WKPROTO_OK, "hello answer");
	is_int(hb, 7, "heartbeat_s read");
	is_int(gone, 21, "gone_after_s read");
	wkproto_hello_answer("{\"heartbeat_s\":0}", 17, &hb, &gone);
	is_int(hb, WK_HEARTBEAT_DEFAULT_S, "heartbeat_s 0: the default");
	wkproto_hello_answer("{\"heartbeat_s\":99999}", 21, &hb, &gone);
	is_int(hb, WK_HEARTBEAT_DEFAULT_S, "heartbeat_s over an hour: the default");
	wkproto_hello_answer("{\"heartbeat_s\":\"5\"}", 19, &hb, &gone);
	is_int(hb, WK_HEARTBEAT_DEFAULT_S, "heartbeat_s as a string: the default");
	is_int(gone, 0, "no gone_after_s: 0");
	is_int(wkproto_hello_answer("", 0, &hb, &gone), WKPROTO_EJSON, "an empty answer");
	is_int(hb, WK_HEARTBEAT_DEFAULT_S, "... leaves the default");
}

static void
test_printable(void)
{
	static const struct {
		const char	*s;
		int		 ok;
	} t[] = {
		{ "llama3.1:8b", 1 }, { "", 1 }, { "caf\xc3\xa9", 1 }, { "\xf0\x9f\x98\x80", 1 },
		{ "a\tb", 0 }, { "a\x7f", 0 }, { "\xc2\x85", 0 }, { "\xc0\xaf", 0 },
		{ "\xed\xa0\x80", 0 }, { "\xc3", 0 }, { "\xf4\x90\x80\x80", 0 }, { "\xff", 0 },
		{ "\xe2\x82", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(*t); i++)
		is_int(wkproto_printable(t[i].s, strlen(t[i].s)), t[i].ok, "printable #%zu", i);
	is_str(wkproto_strerror(WKPROTO_EFIELD), "missing or malformed field", "strerror");
	is_str(wkproto_strerror(WKPROTO_ERR__MAX), "unknown error", "strerror out of range");
}

int
main(void)
{

	test_job_ok();
	test_job_bad();
	test_headers();
	test_head();
	test_models();
	test_hello();
	test_printable();
	return done_testing();
}
