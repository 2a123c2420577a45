/* test_xlate_responses.c: an OpenAI Responses client served by a chat or a Messages provider. */
#include "xlate_golden.h"
#include "bounds.h"
#include "xlate_responses.h"

static const char dflt_req[] = "{\"model\":\"gpt-5-codex\",\"input\":\"hi\"}";
static const char dflt_stream_req[] =
	"{\"model\":\"gpt-5-codex\",\"input\":\"hi\",\"stream\":true}";

/* Makes a context for request text under dir. */
static int
ctx(struct xlate_ctx *c, enum xlate_dir dir, const char *text, enum xlate_loss loss)
{
	enum qp_err err;
	char *out = NULL;
	size_t len;
	cJSON *req;

	req = json_parse(text, strlen(text), &err);
	xlate_ctx_init(c);
	err = xlate_request(c, dir, req, "up", loss, 9, &out, &len);
	free(out);
	cJSON_Delete(req);
	return err;
}

static void
test_pick(void)
{
	enum xlate_dir d;

	is_int(xlate_pick(XLATE_API_RESPONSES, 1u << XLATE_API_RESPONSES, &d), 0,
	    "a Responses provider takes /v1/responses as is");
	is_int(xlate_pick(XLATE_API_RESPONSES, 1u << XLATE_API_CHAT, &d), 1, "a chat provider");
	is_int(d, XLATE_RESPONSES_VIA_CHAT, "... through responses>chat");
	is_int(xlate_pick(XLATE_API_RESPONSES, 1u << XLATE_API_MESSAGES, &d), 1,
	    "a Messages provider");
	is_int(d, XLATE_RESPONSES_VIA_MESSAGES, "... through responses>messages");
	is_str(xlate_upstream_path(d), "/v1/messages", "... at /v1/messages");
	is_int(xlate_pick(XLATE_API_RESPONSES, (1u << XLATE_API_MESSAGES) | (1u << XLATE_API_CHAT),
	    &d), 1, "a provider of both");
	is_int(d, XLATE_RESPONSES_VIA_CHAT, "... through chat, one step");
}

static void
test_policy(void)
{
	struct xlate_ctx c;

	is_int(ctx(&c, XLATE_RESPONSES_VIA_MESSAGES, "{\"model\":\"m\",\"input\":\"x\","
	    "\"max_output_tokens\":100,\"reasoning\":{\"effort\":\"high\"}}", XLATE_LOSS_REJECT),
	    QP_EINVAL, "reject: a loss in the chat step refuses too");
	is_str(c.why, "the provider's API cannot express all of this request ([translation] "
	    "loss_policy = \"reject\"): reasoning_effort dropped: max_tokens too small",
	    "... saying why");
	xlate_ctx_free(&c);
	is_int(ctx(&c, XLATE_RESPONSES_VIA_MESSAGES, "{\"model\":\"m\",\"input\":[{\"type\":"
	    "\"function_call\",\"name\":\"f\"}]}", XLATE_LOSS_WARN), QP_EINVAL,
	    "a function_call without call_id is refused");
	is_str(c.why, "a function_call needs a call_id and a name", "... saying why");
	xlate_ctx_free(&c);
	is_int(ctx(&c, XLATE_RESPONSES_VIA_CHAT, "{\"model\":\"m\",\"input\":\"x\","
	    "\"background\":true}", XLATE_LOSS_WARN), QP_EINVAL, "background is refused");
	xlate_ctx_free(&c);
}

/* A sink that keeps everything. */
static enum qp_err
rec_write(const char *buf, size_t len, void *arg)
{

	xlate_buf_put(arg, buf, len);
	return QP_OK;
}

#define EV(s) "", 0, (s), strlen(s)

static void
test_stream(void)
{
	struct xlate_buf b = { 0 };
	struct xlate_stream *s;
	struct xlate_ctx c;
	char *big, *chunk;
	size_t n = 64 * 1024, i, step;
	enum qp_err err = QP_OK;
	int each = 1;

	ctx(&c, XLATE_RESPONSES_VIA_CHAT, dflt_stream_req, XLATE_LOSS_WARN);
	s = xlate_stream_new(&c, rec_write, &b);
	big = malloc(n + 1);
	chunk = malloc(n + 128);
	memset(big, 'a', n);
	big[n] = '\0';
	snprintf(chunk, n + 128, "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
	    "{\"content\":\"%s\"}}]}", big);
	/* Each fragment goes out as it comes, until the kept text passes its bound. */
	for (i = 0, step = 0; err == QP_OK && i < QP_XLATE_KEEP_MAX / n + 2; i++) {
		xlate_buf_clear(&b);
		err = xlate_stream_event(s, EV(chunk));
		if (err == QP_OK &&
		    (b.p == NULL || strstr(b.p, "response.output_text.delta") == NULL))
			each = 0;
		step++;
	}
	ok(each, "each text fragment is written as its event comes");
	is_int(err, QP_ETOOBIG, "an answer past QP_XLATE_KEEP_MAX fails the stream");
	is_int(step, QP_XLATE_KEEP_MAX / n + 1, "... at the fragment past the bound");
	ok(b.p != NULL && strstr(b.p, "event: response.failed") != NULL &&
	    strstr(b.p, "\"status\":\"failed\"") != NULL, "... with response.failed to the client");
	is_int(xlate_stream_finish(s, 1), QP_ETOOBIG, "... which sticks");
	xlate_stream_free(s);
	free(big);
	free(chunk);
	xlate_buf_free(&b);
	xlate_ctx_free(&c);
}

static void
test_pipe_bound(void)
{
	struct xlate_buf b = { 0 };
	struct xlate_stream *s;
	struct xlate_ctx c;
	size_t n = QP_SSE_LINE_MAX - 40;
	char *ev;
	int len;

	ctx(&c, XLATE_RESPONSES_VIA_MESSAGES, dflt_stream_req, XLATE_LOSS_WARN);
	s = xlate_stream_new(&c, rec_write, &b);
	xlate_stream_event(s, EV("{\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}"));
	xlate_stream_event(s, EV("{\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
	ev = malloc(n + 128);
	len = snprintf(ev, n + 128, "{\"type\":\"content_block_delta\",\"index\":0,"
	    "\"delta\":{\"type\":\"text_delta\",\"text\":\"");
	memset(ev + len, 'x', n - len);
	snprintf(ev + n, 128, "\"}}");
	xlate_buf_clear(&b);
	/* The event fits the upstream bound (1 MB); its chat chunk is larger. */
	is_int(xlate_stream_event(s, EV(ev)), QP_ETOOBIG,
	    "Messages through chat: a chunk past the pipe's bound fails the stream");
	ok(b.p != NULL && strstr(b.p, "event: response.failed") != NULL &&
	    strstr(b.p, "exceeded a bound") != NULL, "... with response.failed to the client");
	is_int(xlate_stream_finish(s, 1), QP_ETOOBIG, "... which sticks");
	free(ev);
	xlate_stream_free(s);
	xlate_buf_free(&b);
	xlate_ctx_free(&c);
}

int
main(void)
{

	test_pick();
	test_policy();
	test_stream();
	test_pipe_bound();
	golden_run_dir("responses", XLATE_RESPONSES_VIA_CHAT, dflt_req, dflt_stream_req);
	golden_run_dir("responses-messages", XLATE_RESPONSES_VIA_MESSAGES, dflt_req,
	    dflt_stream_req);
	return done_testing();
}
