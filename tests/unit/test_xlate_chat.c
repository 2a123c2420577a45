/* test_xlate_chat.c: an OpenAI chat client served by an Anthropic Messages provider. */
#include "xlate_golden.h"
#include "bounds.h"
#include "xlate_chat.h"

static const char dflt_req[] =
	"{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char dflt_stream_req[] =
	"{\"model\":\"gpt-4o\",\"stream\":true,"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* Translates body; returns the error, the upstream body parsed in *out. */
static enum qp_err
translate(struct xlate_ctx *c, const char *body, int64_t limit, cJSON **out)
{
	enum qp_err err;
	char *s = NULL;
	size_t len;
	cJSON *req;

	req = json_parse(body, strlen(body), &err);
	xlate_ctx_init(c);
	c->max_output = limit;
	err = xlate_request(c, XLATE_CHAT_VIA_MESSAGES, req, "claude-up", XLATE_LOSS_WARN, 5,
	    &s, &len);
	*out = s != NULL ? json_parse(s, len, &err) : NULL;
	free(s);
	cJSON_Delete(req);
	return err;
}

static void
test_request(void)
{
	enum xlate_dir d;
	struct xlate_ctx c;
	cJSON *out;

	is_int(xlate_pick(XLATE_API_CHAT, 1u << XLATE_API_MESSAGES, &d), 1,
	    "a Messages provider serves a chat client translated");
	is_int(d, XLATE_CHAT_VIA_MESSAGES, "... through chat>messages");
	is_str(xlate_upstream_path(d), "/v1/messages", "... at /v1/messages");
	is_int(xlate_pick(XLATE_API_CHAT, (1u << XLATE_API_MESSAGES) | (1u << XLATE_API_CHAT),
	    &d), 0, "a provider of both serves chat as is");
	is_int(translate(&c, dflt_req, 0, &out), QP_OK, "a request with no limit");
	is_int(cJSON_GetNumberValue(json_member(out, "max_tokens")), QP_XLATE_MAX_TOKENS,
	    "gets max_tokens QP_XLATE_MAX_TOKENS, which Messages needs");
	is_int(c.include_usage, 0, "include_usage unasked");
	cJSON_Delete(out);
	xlate_ctx_free(&c);
	is_int(translate(&c, "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true},\"messages\":[]}", 4096, &out), QP_OK, "a streamed request");
	is_int(cJSON_GetNumberValue(json_member(out, "max_tokens")), 4096,
	    "... gets the model's limit when lower");
	is_int(c.include_usage, 1, "include_usage is kept for the stream");
	is_int(c.stream, 1, "... and that it streams");
	ok(json_member(out, "stream_options") == NULL, "stream_options does not go upstream");
	cJSON_Delete(out);
	xlate_ctx_free(&c);
	is_int(translate(&c, "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"messages\":[]}",
	    20000, &out), QP_OK, "reasoning with no limit asked, the model's 20000");
	is_int(cJSON_GetNumberValue(json_member(out, "max_tokens")), 20000,
	    "max_tokens is the model's limit");
	is_int(cJSON_GetNumberValue(json_member(json_member(out, "thinking"), "budget_tokens")),
	    10000, "... half of it for thinking");
	cJSON_Delete(out);
	xlate_ctx_free(&c);
}

/* A sink that records the writes. */
static enum qp_err
rec_write(const char *buf, size_t len, void *arg)
{

	xlate_buf_put(arg, buf, len);
	return QP_OK;
}

#define EV(s) "", 0, (s), strlen(s)

static void
test_passthrough(void)
{
	struct xlate_buf b = { 0 };
	struct xlate_stream *s;
	struct xlate_ctx c;
	cJSON *out;
	char ev[256];
	int i, each = 1;

	translate(&c, dflt_stream_req, 0, &out);
	cJSON_Delete(out);
	s = xlate_stream_new(&c, rec_write, &b);
	xlate_stream_event(s, EV("{\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}"));
	xlate_stream_event(s, EV("{\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\","
	    "\"input\":{}}}"));
	ok(strstr(b.p, "\"tool_calls\":[{\"index\":0,\"id\":\"toolu_1\",\"type\":\"function\","
	    "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]") != NULL,
	    "a tool call's id and name go out as its block starts");
	for (i = 0; i < 5000; i++) {
		xlate_buf_clear(&b);
		snprintf(ev, sizeof(ev), "{\"type\":\"content_block_delta\",\"index\":0,"
		    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[%d,\"}}", i);
		xlate_stream_event(s, EV(ev));
		snprintf(ev, sizeof(ev), "{\"index\":0,\"function\":{\"arguments\":\"[%d,\"}}", i);
		if (b.p == NULL || strstr(b.p, ev) == NULL)
			each = 0;
	}
	ok(each, "each argument fragment goes out as its event comes");
	xlate_buf_clear(&b);
	xlate_stream_event(s, EV("{\"type\":\"content_block_delta\",\"index\":7,"
	    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}"));
	is_int(b.len, 0, "a fragment of another block than the open one is not sent");
	is_int(xlate_stream_finish(s, 1), QP_EUPSTREAM, "no stop reason: an incomplete stream");
	ok(strstr(b.p, "data: {\"error\":{\"message\":\"the provider's stream ended before the "
	    "answer was complete\",\"type\":\"server_error\",\"param\":null,\"code\":\"502\"}}")
	    != NULL, "... told to the client as a chat error");
	xlate_stream_free(s);
	xlate_buf_free(&b);
	xlate_ctx_free(&c);
}

static void
test_bad_answer(void)
{
	struct xlate_ctx c;
	char *out = NULL;
	size_t len;
	cJSON *o;

	translate(&c, dflt_req, 0, &o);
	cJSON_Delete(o);
	is_int(xlate_response(&c, "{\"type\":\"message\"}", 18, &out, &len), QP_EPARSE,
	    "a Message without content is not one");
	is_int(xlate_response(&c, "[]", 2, &out, &len), QP_EPARSE, "nor is an array");
	is_int(xlate_response(&c, "{", 1, &out, &len), QP_EPARSE, "nor broken JSON");
	ok(out == NULL, "no body then");
	xlate_ctx_free(&c);
}

int
main(void)
{

	test_request();
	test_passthrough();
	test_bad_answer();
	golden_run_dir("chat", XLATE_CHAT_VIA_MESSAGES, dflt_req, dflt_stream_req);
	return done_testing();
}
