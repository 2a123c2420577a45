/* test_xlate_messages.c: an Anthropic Messages client served by an OpenAI chat provider. */
#include "xlate_golden.h"
#include "bounds.h"
#include "xlate_messages.h"

static const char dflt_req[] =
	"{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char dflt_stream_req[] =
	"{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,\"stream\":true,"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* Translates body under loss; returns the error, the output in *out (free()). */
static enum qp_err
translate(struct xlate_ctx *c, const char *body, enum xlate_loss loss, char **out)
{
	enum qp_err err;
	size_t len;
	cJSON *req;

	req = json_parse(body, strlen(body), &err);
	xlate_ctx_init(c);
	err = xlate_request(c, XLATE_MESSAGES_VIA_CHAT, req, "up", loss, 5, out, &len);
	cJSON_Delete(req);
	return err;
}

static void
test_pick(void)
{
	enum xlate_dir d = XLATE_DIR__MAX;

	is_int(xlate_pick(XLATE_API_MESSAGES, 1u << XLATE_API_MESSAGES, &d), 0,
	    "a Messages provider serves a Messages client as is");
	is_int(xlate_pick(XLATE_API_MESSAGES, 1u << XLATE_API_CHAT, &d), 1,
	    "a chat provider serves a Messages client translated");
	is_int(d, XLATE_MESSAGES_VIA_CHAT, "... through messages>chat");
	is_str(xlate_dir_name(d), "messages>chat", "its name");
	is_str(xlate_upstream_path(d), "/v1/chat/completions", "its upstream path");
	is_int(xlate_client_api(d), XLATE_API_MESSAGES, "its client API");
	is_int(xlate_pick(XLATE_API_MESSAGES, 0, &d), -1, "no provider API: no translation");
	is_int(xlate_pick(XLATE_API__MAX, ~0u, &d), -1, "an unknown client API");
}

static void
test_policy(void)
{
	struct xlate_ctx c;
	char *out = NULL;

	is_int(translate(&c, "{\"model\":\"m\",\"max_tokens\":5,\"top_k\":3,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", XLATE_LOSS_WARN, &out), QP_OK,
	    "warn: a loss still translates");
	is_int(c.warn.count, 1, "... and is counted");
	is_str(c.warn.text, "top_k dropped", "... with its reason");
	free(out);
	out = NULL;
	xlate_ctx_free(&c);
	is_int(translate(&c, "{\"model\":\"m\",\"max_tokens\":5,\"top_k\":3,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", XLATE_LOSS_REJECT, &out),
	    QP_EINVAL, "reject: a loss refuses the request");
	ok(out == NULL, "... with no body");
	ok(strstr(c.why, "top_k dropped") != NULL && strstr(c.why, "reject") != NULL,
	    "... and says why: %s", c.why);
	xlate_ctx_free(&c);
	is_int(translate(&c, "{\"model\":\"m\",\"max_tokens\":5,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", XLATE_LOSS_REJECT, &out),
	    QP_OK, "reject: a lossless request goes through");
	free(out);
	xlate_ctx_free(&c);
	is_int(translate(&c, "[1]", XLATE_LOSS_WARN, &out), QP_EINVAL, "an array is refused");
	is_str(c.why, "the request body must be a JSON object", "... saying so");
	xlate_ctx_free(&c);
}

static void
test_limits(void)
{
	struct xlate_ctx c;
	char *out = NULL;
	enum qp_err err;
	size_t len;
	cJSON *req, *body;
	const char *text = "{\"model\":\"claude\",\"max_tokens\":32000,\"messages\":[]}";

	req = json_parse(text, strlen(text), &err);
	xlate_ctx_init(&c);
	c.max_output = 8192;
	err = xlate_request(&c, XLATE_MESSAGES_VIA_CHAT, req, "deepseek-chat", XLATE_LOSS_WARN, 1,
	    &out, &len);
	is_int(err, QP_OK, "a request over the model's output limit translates");
	body = out != NULL ? json_parse(out, len, &err) : NULL;
	is_int(cJSON_GetNumberValue(json_member(body, "max_tokens")), 8192,
	    "max_tokens is lowered to the model's limit");
	is_str(c.client_model, "claude", "the client's model is kept for the answer");
	is_int(c.max_output, 8192, "the limit stays in the context");
	cJSON_Delete(body);
	free(out);
	xlate_ctx_free(&c);
	cJSON_Delete(req);
}

/* A sink that records each write, for the pass-through checks. */
struct rec {
	struct xlate_buf all;		/* every byte */
	int		 writes;	/* calls */
	enum qp_err	 fail;		/* returned by every call */
};

static enum qp_err
rec_write(const char *buf, size_t len, void *arg)
{
	struct rec *r = arg;

	r->writes++;
	xlate_buf_put(&r->all, buf, len);
	return r->fail;
}

/* Makes a context for a streamed request. */
static void
stream_ctx(struct xlate_ctx *c)
{
	char *out = NULL;

	is_int(translate(c, dflt_stream_req, XLATE_LOSS_WARN, &out), QP_OK, "stream context");
	free(out);
}

#define EV(s) (s), strlen(s)

static void
test_passthrough(void)
{
	char chunk[256], want[64];
	struct xlate_stream *s;
	struct rec r;
	struct xlate_ctx c;
	int i, each = 1;

	memset(&r, 0, sizeof(r));
	stream_ctx(&c);
	s = xlate_stream_new(&c, rec_write, &r);
	ok(s != NULL, "a stream starts");
	/* 20000 fragments: each goes out during its own event, none waits. */
	for (i = 0; i < 20000; i++) {
		snprintf(chunk, sizeof(chunk), "{\"id\":\"c\",\"choices\":[{\"index\":0,"
		    "\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}", i);
		snprintf(want, sizeof(want), "\"text\":\"w%d \"}}\n\n", i);
		xlate_buf_clear(&r.all);
		if (xlate_stream_event(s, "", 0, EV(chunk)) != QP_OK ||
		    r.all.len < strlen(want) ||
		    strcmp(r.all.p + r.all.len - strlen(want), want) != 0)
			each = 0;
	}
	ok(each, "every text fragment is written as its event comes");
	/* Tool arguments too. */
	xlate_buf_clear(&r.all);
	xlate_stream_event(s, "", 0, EV("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
	    "[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{\\\"a\"}}]}}]}"));
	ok(strstr(r.all.p, "\"partial_json\":\"{\\\"a\"") != NULL,
	    "a tool call's first fragment goes out with its block start");
	xlate_buf_clear(&r.all);
	xlate_stream_event(s, "", 0, EV("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
	    "[{\"index\":0,\"function\":{\"arguments\":\"\\\":1}\"}}]}}]}"));
	ok(strstr(r.all.p, "\"partial_json\":\"\\\":1}\"") != NULL,
	    "each later fragment goes out at once");
	xlate_buf_clear(&r.all);
	is_int(xlate_stream_event(s, "", 0, EV("[DONE]")), QP_OK, "[DONE]");
	ok(strstr(r.all.p, "event: message_stop") != NULL, "[DONE] becomes message_stop");
	is_int(xlate_stream_finish(s, 1), QP_OK, "the stream ends cleanly");
	xlate_buf_clear(&r.all);
	is_int(xlate_stream_event(s, "", 0, EV("{\"choices\":[]}")), QP_OK,
	    "an event after the end is ignored");
	is_int(r.all.len, 0, "... and writes nothing");
	xlate_stream_free(s);
	xlate_buf_free(&r.all);
	xlate_ctx_free(&c);
}

static void
test_bounds(void)
{
	struct xlate_stream *s;
	struct rec r;
	struct xlate_ctx c;
	char chunk[256];
	enum qp_err err = QP_OK;
	int i;

	memset(&r, 0, sizeof(r));
	stream_ctx(&c);
	s = xlate_stream_new(&c, rec_write, &r);
	for (i = 0; i <= QP_XLATE_TOOLS_MAX && err == QP_OK; i++) {
		snprintf(chunk, sizeof(chunk), "{\"choices\":[{\"index\":0,\"delta\":"
		    "{\"tool_calls\":[{\"index\":%d,\"id\":\"c%d\",\"function\":"
		    "{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}", i, i);
		err = xlate_stream_event(s, "", 0, EV(chunk));
	}
	is_int(err, QP_ETOOBIG, "more tool calls than QP_XLATE_TOOLS_MAX fail the stream");
	is_int(i, QP_XLATE_TOOLS_MAX + 1, "... at the first one past the bound");
	ok(strstr(r.all.p, "event: error\ndata: {\"type\":\"error\",\"error\":"
	    "{\"type\":\"api_error\"") != NULL, "... with an error event to the client");
	is_int(xlate_stream_event(s, "", 0, EV("[DONE]")), QP_ETOOBIG, "the error sticks");
	is_int(xlate_stream_finish(s, 1), QP_ETOOBIG, "... through finish");
	xlate_stream_free(s);
	xlate_buf_free(&r.all);
	memset(&r, 0, sizeof(r));
	r.fail = QP_ECLOSED;
	s = xlate_stream_new(&c, rec_write, &r);
	is_int(xlate_stream_event(s, "", 0, EV("{\"choices\":[{\"index\":0,\"delta\":"
	    "{\"content\":\"x\"}}]}")), QP_ECLOSED, "a client gone stops the stream");
	is_int(xlate_stream_event(s, "", 0, EV("[DONE]")), QP_ECLOSED, "... for good");
	is_int(r.writes, 1, "... with no write after");
	is_int(xlate_stream_bad(s), 0, "no event was malformed");
	xlate_stream_free(s);
	xlate_buf_free(&r.all);
	xlate_ctx_free(&c);
}

int
main(void)
{

	test_pick();
	test_policy();
	test_limits();
	test_passthrough();
	test_bounds();
	golden_run_dir("messages", XLATE_MESSAGES_VIA_CHAT, dflt_req, dflt_stream_req);
	return done_testing();
}
