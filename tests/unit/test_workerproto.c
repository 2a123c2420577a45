/* test_workerproto.c: the remote workers' wire formats: hello, head, job JSON, query. */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "workerproto.h"

static enum qp_err
hello(const char *s, struct workerproto_hello *h)
{

	return workerproto_hello_parse(s, strlen(s), h);
}

static void
test_hello(void)
{
	struct workerproto_hello h;
	char *big;
	size_t i, n, o;

	is_int(hello("{\"name\":\"gpu1\",\"version\":\"1.2.0\",\"capacity\":4,\"protocols\":"
	    "[\"openai\"],\"models\":[{\"id\":\"llama3.1:8b\"},{\"id\":\"qwen3:32b\","
	    "\"context_length\":32768}]}", &h), QP_OK, "the documented hello parses");
	is_str(h.name, "gpu1", "name");
	is_str(h.version, "1.2.0", "version");
	is_int(h.capacity, 4, "capacity");
	is_str(h.protocols, "openai", "protocols");
	is_int(h.nmodels, 2, "two models");
	is_str(h.models[1].id, "qwen3:32b", "model id");
	is_int(h.models[1].context_length, 32768, "context length");
	is_int(h.models[0].context_length, 0, "no context length said");
	workerproto_hello_free(&h);

	is_int(hello("{\"name\":\"a\",\"capacity\":1,\"models\":[{\"id\":\"m\"},{\"id\":\"m\"}]}",
	    &h), QP_OK, "a model listed twice");
	is_int(h.nmodels, 1, "is registered once");
	is_str(h.protocols, "openai", "protocols default to openai");
	workerproto_hello_free(&h);

	is_int(hello("{\"name\":\"a\",\"capacity\":0,\"models\":[]}", &h), QP_EINVAL,
	    "capacity 0 refused");
	ok(strstr(h.why, "capacity") != NULL, "and said: %s", h.why);
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":257,\"models\":[]}", &h), QP_EINVAL,
	    "capacity 257 refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":2.5,\"models\":[]}", &h), QP_EINVAL,
	    "a fractional capacity refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"\",\"capacity\":1,\"models\":[]}", &h), QP_EINVAL,
	    "an empty name refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\\u0007b\",\"capacity\":1,\"models\":[]}", &h), QP_EINVAL,
	    "a control character in the name refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":1}", &h), QP_EINVAL, "no models refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":1,\"models\":[{\"id\":\"\"}]}", &h),
	    QP_EINVAL, "an empty model id refused");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":1,\"protocols\":[\"anthropic\"],"
	    "\"models\":[]}", &h), QP_EINVAL, "protocols without openai refused");
	workerproto_hello_free(&h);
	is_int(hello("[1,2]", &h), QP_EINVAL, "not an object");
	workerproto_hello_free(&h);
	is_int(hello("{\"name\":\"a\",\"capacity\":1,\"models\":[{\"id\":\"\\u00ff\\u00fe\"}]}",
	    &h), QP_OK, "non-ASCII printable model ids pass");
	workerproto_hello_free(&h);

	/* 513 models, and an id of 129 bytes. */
	n = 64 + 513 * 16;
	big = malloc(n);
	o = (size_t)snprintf(big, n, "{\"name\":\"a\",\"capacity\":1,\"models\":[");
	for (i = 0; i < 513; i++)
		o += (size_t)snprintf(big + o, n - o, "%s{\"id\":\"m%03zu\"}", i ? "," : "", i);
	snprintf(big + o, n - o, "]}");
	is_int(hello(big, &h), QP_EINVAL, "513 models refused");
	workerproto_hello_free(&h);
	snprintf(big, n, "{\"name\":\"a\",\"capacity\":1,\"models\":[{\"id\":\"%0129d\"}]}", 0);
	is_int(hello(big, &h), QP_EINVAL, "a 129-byte model id refused");
	workerproto_hello_free(&h);
	free(big);
	is_int(workerproto_hello_parse("{}", QP_WORKER_HELLO_MAX + 1, &h), QP_ETOOBIG,
	    "a body past 256 KiB is too big");
	workerproto_hello_free(&h);
}

static void
test_head(void)
{
	struct workerproto_head h;
	const char *s;
	char *big;
	size_t used;

	s = "{\"status\": 200, \"headers\": {\"Content-Type\": \"text/event-stream\", "
	    "\"x-request-id\": \"r1\"}}\ndata: x\n\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_OK, "the documented head");
	is_int(h.status, 200, "status");
	is_str(h.ctype, "text/event-stream", "content type, any case");
	ok(strstr(h.raw, "x-request-id: r1\r\n") != NULL, "raw lines: %s", h.raw);
	is_str(s + used, "data: x\n\n", "the answer's bytes follow the newline");
	s = "{\"status\": 502, \"error\": \"connection refused\"}\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_OK, "an error head");
	is_int(h.status, 502, "its status");
	is_str(h.error, "connection refused", "its error");
	is_int(used, strlen(s), "all of it used");
	s = "{\"status\": 99}\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL, "status 99 refused");
	s = "{\"status\": 600}\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL, "status 600 refused");
	s = "{\"headers\": {}}\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL, "no status refused");
	s = "[200]\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL, "not an object");
	s = "{\"status\": 200, \"headers\": [1]}\n";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL,
	    "headers not an object");
	s = "{\"status\": 200}";
	is_int(workerproto_head_parse(s, strlen(s), &h, &used), QP_EINVAL, "no newline");
	big = malloc(QP_WORKER_HEAD_MAX + 64);
	memset(big, ' ', QP_WORKER_HEAD_MAX + 63);
	memcpy(big, "{\"status\":200}", 14);
	big[QP_WORKER_HEAD_MAX + 10] = '\n';
	big[QP_WORKER_HEAD_MAX + 63] = '\0';
	is_int(workerproto_head_parse(big, QP_WORKER_HEAD_MAX + 63, &h, &used), QP_EINVAL,
	    "a head line past 16 KiB refused");
	big[QP_WORKER_HEAD_MAX - 1] = '\n';
	is_int(workerproto_head_parse(big, QP_WORKER_HEAD_MAX + 63, &h, &used), QP_OK,
	    "a head line of 16 KiB passes");
	free(big);
}

static void
test_job(void)
{
	struct workerproto_job j, k;
	char *out = NULL;
	size_t len;
	void *tree = NULL;
	static const char body[] = "{\"model\":\"llama3.1:8b\",\"stream\":true,\"x\":\"\\n\"}";

	memset(&j, 0, sizeof(j));
	memcpy(j.id, "0123456789abcdef0123456789abcdef", 33);
	j.model = "llama3.1:8b";
	j.method = "POST";
	j.path = "/chat/completions";
	j.stream = 1;
	j.content_type = "application/json";
	j.accept = "text/event-stream";
	j.body = body;
	j.body_len = strlen(body);
	is_int(workerproto_job_json(&j, &out, &len), QP_OK, "a job builds");
	ok(strstr(out, "\"body\":\"{\\\"model\\\"") != NULL, "its body is a JSON string: %s", out);
	is_int(workerproto_job_parse(out, len, &k, &tree), QP_OK, "and reads back");
	is_str(k.id, j.id, "id");
	is_str(k.model, "llama3.1:8b", "model");
	is_str(k.path, "/chat/completions", "path");
	is_int(k.stream, 1, "stream");
	is_str(k.accept, "text/event-stream", "accept");
	is_str(k.body, body, "the body byte for byte");
	workerproto_job_tree_free(tree);
	free(out);
	ok(workerproto_job_parse("{\"id\":\"x\"}", 10, &k, &tree) == QP_EINVAL, "a bad id");
	ok(!workerproto_job_id_valid("0123456789ABCDEF0123456789abcdef", 32),
	    "ids are lowercase hex");
	ok(!workerproto_job_id_valid("0123456789abcdef0123456789abcde", 31), "of 32 digits");
}

static void
test_query(void)
{
	struct workerproto_query q;

	is_int(workerproto_query_parse("wait=25", &q), QP_OK, "wait");
	is_int(q.wait, 25, "its value");
	is_int(q.seq, -1, "no seq");
	is_int(workerproto_query_parse("seq=3&end=1&x=y", &q), QP_OK, "seq and end");
	is_int(q.seq, 3, "seq");
	is_int(q.end, 1, "end");
	is_int(workerproto_query_parse("", &q), QP_OK, "empty");
	is_int(q.wait, -1, "no wait");
	is_int(workerproto_query_parse("wait=0", &q), QP_EINVAL, "wait 0 refused");
	is_int(workerproto_query_parse("wait=61", &q), QP_EINVAL, "wait 61 refused");
	is_int(workerproto_query_parse("seq=-1", &q), QP_EINVAL, "negative seq refused");
	is_int(workerproto_query_parse("seq=4294967296", &q), QP_EINVAL, "seq past 2^32 refused");
	is_int(workerproto_query_parse("end=2", &q), QP_EINVAL, "end=2 refused");
	is_int(workerproto_query_parse("name=gpu%201", &q), QP_OK, "a name");
	is_str(q.name, "gpu 1", "percent-decoded");
	is_int(workerproto_query_parse("name=a%0Ab", &q), QP_EINVAL, "a control character refused");
	is_int(workerproto_query_parse("name=a%2", &q), QP_EINVAL, "a cut escape refused");
}

int
main(void)
{

	test_hello();
	test_head();
	test_job();
	test_query();
	ok(workerproto_printable("h\xc3\xa9", 3), "UTF-8 is printable");
	ok(!workerproto_printable("\xc3", 1), "a cut sequence is not");
	ok(!workerproto_printable("\xc2\x85", 2), "nor a C1 control");
	ok(!workerproto_printable("\xed\xa0\x80", 3), "nor a surrogate");
	return done_testing();
}
