/* test_usage.c: usage, cost, stop reason and completion from OpenAI and Anthropic replies. */
#include "../tap.h"
#include "bounds.h"
#include "sse.h"
#include "usage.h"

/* Per-event results of a stream run through the SSE parser. */
struct obs {
	struct usage	*u;		/* observer */
	unsigned	 bits[64];	/* usage_event() result per event */
	size_t		 n;		/* events */
};

static enum qp_err
observe(const struct sse_event *ev, void *arg)
{
	struct obs *o = arg;
	unsigned b;

	/* The caller's clock: 1000 + 10 per event. */
	b = usage_event(o->u, ev->event, ev->data, ev->data_len, 1000 + 10 * (int64_t)ev->index);
	if (o->n < 64)
		o->bits[o->n] = b;
	o->n++;
	return QP_OK;
}

/* Runs a whole stream through the SSE parser into u, in chunks of step bytes. */
static enum qp_err
stream(struct usage *u, const char *s, size_t step, struct obs *o)
{
	struct sse_parser *p;
	size_t len = strlen(s), i, n;
	enum qp_err err = QP_OK;

	memset(o, 0, sizeof(*o));
	o->u = u;
	p = sse_new(0, observe, o);
	if (p == NULL)
		return QP_ENOMEM;
	for (i = 0; i < len && err == QP_OK; i += n) {
		n = len - i < step ? len - i : step;
		err = sse_feed(p, s + i, n, NULL);
	}
	if (err == QP_OK)
		err = sse_finish(p);
	sse_free(p);
	return err;
}

static const char openai_body[] =
	"{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion\","
	"\"created\":1741569952,\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,"
	"\"message\":{\"role\":\"assistant\",\"content\":\"Hello! How can I assist you today?\","
	"\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
	"\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
	"\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
	"\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
	"\"service_tier\":\"default\"}";

static const char openai_reasoning_body[] =
	"{\n  \"id\": \"chatcmpl-r1\",\n  \"object\": \"chat.completion\",\n  \"model\": \"o3-min"
	"i\",\n"
	"  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"42\","
	" \"reasoning_content\": \"d\\u00e9j\\u00e0 vu\"}, \"finish_reason\": \"length\"}],\n"
	"  \"usage\": {\"prompt_tokens\": 2006, \"completion_tokens\": 300, \"total_tokens\": 230"
	"6,\n"
	"    \"prompt_tokens_details\": {\"cached_tokens\": 1920},\n"
	"    \"completion_tokens_details\": {\"reasoning_tokens\": 192}}\n}\n";

static const char openrouter_body[] =
	"{\"id\":\"gen-1\",\"model\":\"anthropic/claude-sonnet-4\",\"choices\":[{\"message\":"
	"{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":50,\"total_tokens\":1250,"
	"\"cost\":0.00123,\"prompt_tokens_details\":{\"cached_tokens\":0,\"cache_write_tokens\":1"
	"000}}}";

static const char anthropic_body[] =
	"{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
	"\"model\":\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"thinking\","
	"\"thinking\":\"Let me think\",\"signature\":\"abc\"},{\"type\":\"text\",\"text\":\"Hello"
	"!\"}],"
	"\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
	"\"cache_creation_input_tokens\":2048,\"cache_read_input_tokens\":0,\"output_tokens\":6,"
	"\"service_tier\":\"standard\"}}";

static const char anthropic_error_body[] =
	"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";

static const char openai_error_body[] =
	"{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":\"requests\","
	"\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

#define OAI_HEAD "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1741570000," \
	"\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_06737a9306\","

static const char openai_stream[] =
	"data: " OAI_HEAD "\"choices\":[{\"index\":0,"
	"\"delta\":{\"role\":\"assistant\",\"content\":\"\","
	"\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
	"data: " OAI_HEAD "\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
	"\"finish_reason\":null}],\"usage\":null}\n\n"
	"data: " OAI_HEAD "\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"!\"},\"logprobs\":null,"
	"\"finish_reason\":null}],\"usage\":null}\n\n"
	"data: " OAI_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
	"\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
	"data: " OAI_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,"
	"\"total_tokens\":14,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
	"\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
	"\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n"
	"data: [DONE]\n\n";

static const char openai_tool_stream[] =
	"data: {\"id\":\"c2\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"role\""
	":\"assistant\","
	"\"content\":null},\"finish_reason\":null}]}\n\n"
	": keepalive\n\n"
	"data: {\"id\":\"c2\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_c"
	"alls\":[{\"index\":0,"
	"\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"argum"
	"ents\":\"\"}}]},"
	"\"finish_reason\":null}]}\n\n"
	"data: {\"id\":\"c2\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_c"
	"alls\":[{\"index\":0,"
	"\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}"
	"]}\n\n"
	"data: {\"id\":\"c2\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{},"
	"\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\""
	":17,"
	"\"total_tokens\":97}}\n\n"
	"data: [DONE]\n\n";

static const char openai_reasoning_stream[] =
	"data: {\"id\":\"d1\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\""
	":{\"role\":\"assistant\","
	"\"content\":null,\"reasoning_content\":\"\"}}]}\n\n"
	"data: {\"id\":\"d1\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\""
	":{\"content\":null,"
	"\"reasoning_content\":\"Hmm, \\u00e7a\"}}]}\n\n"
	"data: {\"id\":\"d1\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\""
	":{\"content\":\"Yes\"}}]}\n\n"
	"data: {\"id\":\"d1\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\""
	":{\"content\":\"\"},"
	"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":90,"
	"\"prompt_cache_hit_tokens\":24,\"prompt_cache_miss_tokens\":6,"
	"\"completion_tokens_details\":{\"reasoning_tokens\":80}}}\n\n"
	"data: [DONE]\n\n";

static const char openai_error_stream[] =
	"data: {\"id\":\"e1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
	"Par\"}}]}\n\n"
	"data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"pa"
	"ram\":null,"
	"\"code\":null}}\n\n";

static const char anthropic_stream[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuv"
	"GzszyY\","
	"\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-opus-4-1-2"
	"0250805\","
	"\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
	"\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1024,\"output_tokens\":1}}"
	"}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinki"
	"ng\",\"thinking\":\"\"}}\n\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta"
	"\",\"thinking\":\"I need to\"}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delt"
	"a\",\"signature\":\"EqQB\"}}\n\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\""
	",\"text\":\"\"}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
	"\"text\":\"Hello\"}}\n\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequenc"
	"e\":null},"
	"\"usage\":{\"output_tokens\":15}}\n\n"
	"event: message_stop\n"
	"data: {\"type\":\"message_stop\"}\n\n";

static const char anthropic_delta_input_stream[] =
	"event: message_start\r\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"model\":\"glm-4.6\",\""
	"usage\":"
	"{\"input_tokens\":0,\"output_tokens\":0}}}\r\n\r\n"
	"event: content_block_delta\r\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
	"\"text\":\"x\"}}\r\n\r\n"
	"event: message_delta\r\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_seque"
	"nce\":null},"
	"\"usage\":{\"input_tokens\":4821,\"cache_creation_input_tokens\":0,\"cache_read_input_to"
	"kens\":0,"
	"\"output_tokens\":1024}}\r\n\r\n"
	"event: message_stop\r\n"
	"data: {\"type\":\"message_stop\"}\r\n\r\n";

static const char anthropic_error_stream[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_3\",\"model\":\"claude-haiku"
	"-4-5\",\"usage\":"
	"{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
	"event: error\n"
	"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloa"
	"ded\"}}\n\n";

static void
check_bodies(void)
{
	struct usage u;

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(usage_body(&u, openai_body, strlen(openai_body)), QP_OK, "openai body parses");
	is_int(u.input_tokens, 19, "openai body: input = prompt_tokens");
	is_int(u.output_tokens, 10, "openai body: output = completion_tokens");
	is_int(u.cache_read_tokens, 0, "openai body: cached_tokens 0 is reported as 0");
	is_int(u.cache_write_tokens, -1, "openai body: cache writes not reported");
	is_int(u.reasoning_tokens, 0, "openai body: reasoning_tokens");
	is_str(usage_cache_name(u.cache_status), "reported",
	    "openai body: cache counters reported");
	is_int(u.input_includes_cache, 1, "openai input counts cached tokens");
	is_str(u.finish_reason, "stop", "openai body: finish_reason");
	is_str(u.model, "gpt-4.1-2025-04-14", "openai body: model");
	is_str(u.response_id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "openai body: id");
	is_int(u.cost_microdollars, -1, "openai body: no provider cost");
	is_int(u.done, 1, "openai body: complete");
	is_int(u.error, 0, "openai body: no error");
	is_int(u.first_token_at, -1, "a body has no first-token time");
	ok(strstr(u.raw_usage, "\"prompt_tokens\":19") != NULL && u.raw_usage[0] == '{',
	    "openai body: raw usage kept as compact JSON");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(usage_body(&u, openai_reasoning_body, strlen(openai_reasoning_body)), QP_OK,
	    "openai reasoning body parses");
	is_int(u.input_tokens, 2006, "reasoning body: input");
	is_int(u.cache_read_tokens, 1920, "reasoning body: cached tokens");
	is_int(u.reasoning_tokens, 192, "reasoning body: reasoning tokens");
	is_int(u.output_tokens, 300, "reasoning body: output");
	is_int(u.thinking_chars, 7, "reasoning body: characters of reasoning_content");
	is_str(u.finish_reason, "length", "reasoning body: finish_reason");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	usage_body(&u, openrouter_body, strlen(openrouter_body));
	is_int(u.cache_write_tokens, 1000, "cache_write_tokens kept apart from reads");
	is_int(u.cache_read_tokens, 0, "cache writes are not counted as reads");
	is_int(u.cost_microdollars, -1, "bare usage.cost ignored for other providers");
	usage_init(&u, USAGE_PROTO_OPENAI, 1);
	usage_body(&u, openrouter_body, strlen(openrouter_body));
	is_int(u.cost_microdollars, 1230, "bare usage.cost read as dollars when asked");

	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	is_int(usage_body(&u, anthropic_body, strlen(anthropic_body)), QP_OK,
	    "anthropic body parses");
	is_int(u.input_tokens, 12, "anthropic body: input_tokens");
	is_int(u.output_tokens, 6, "anthropic body: output_tokens");
	is_int(u.cache_read_tokens, 0, "anthropic body: cache_read_input_tokens");
	is_int(u.cache_write_tokens, 2048, "anthropic body: cache_creation_input_tokens");
	is_int(u.reasoning_tokens, -1, "anthropic body: reasoning not reported");
	is_int(u.input_includes_cache, 0, "anthropic input excludes cache");
	is_str(u.finish_reason, "end_turn", "anthropic body: stop_reason");
	is_str(u.model, "claude-sonnet-4-20250514", "anthropic body: model");
	is_str(u.response_id, "msg_01XFDUDYJgAACzvnptvVoYEL", "anthropic body: id");
	is_int(u.thinking_chars, 12, "anthropic body: thinking characters");
	is_int(u.done, 1, "anthropic body: complete");

	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	is_int(usage_body(&u, anthropic_error_body, strlen(anthropic_error_body)), QP_OK,
	    "anthropic error body parses");
	is_int(u.error, 1, "anthropic error body: error");
	is_str(u.error_type, "overloaded_error", "anthropic error body: type");
	is_int(u.done, 0, "anthropic error body: not complete");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	usage_body(&u, openai_error_body, strlen(openai_error_body));
	is_int(u.error, 1, "openai error body: error");
	is_str(u.error_type, "requests", "openai error body: type");
	is_int(u.input_tokens, -1, "openai error body: no usage");
}

static void
check_streams(void)
{
	struct usage u;
	struct obs o;
	size_t step;
	int same = 1;

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(stream(&u, openai_stream, 4096, &o), QP_OK, "openai stream parses");
	is_int(o.n, 6, "openai stream: six events");
	is_int(o.bits[0], 0, "role chunk with empty content is not content");
	is_int(o.bits[1], USAGE_EV_CONTENT, "first text chunk is content");
	is_int(o.bits[3], 0, "finish chunk carries nothing to count");
	is_int(o.bits[4], USAGE_EV_USAGE | USAGE_EV_USAGE_ONLY, "final chunk is usage only");
	is_int(o.bits[5], USAGE_EV_DONE, "[DONE] is completion");
	is_int(u.first_token_at, 1010, "first token at the second event's time");
	is_int(u.input_tokens, 12, "openai stream: input");
	is_int(u.output_tokens, 2, "openai stream: output");
	is_int(u.cache_read_tokens, 0, "openai stream: cache read");
	is_str(u.finish_reason, "stop", "openai stream: finish_reason");
	is_str(u.model, "gpt-4o-mini-2024-07-18", "openai stream: model");
	is_str(u.response_id, "chatcmpl-7", "openai stream: id");
	is_int(u.done, 1, "openai stream: complete");
	is_int(u.events, 6, "openai stream: events counted");
	is_int(u.bad_events, 0, "openai stream: no bad events");

	/* The same counts for any chunking of the byte stream. */
	for (step = 1; step < 64; step++) {
		struct usage v;

		usage_init(&v, USAGE_PROTO_OPENAI, 0);
		stream(&v, openai_stream, step, &o);
		if (v.input_tokens != 12 || v.output_tokens != 2 || !v.done ||
		    v.first_token_at != 1010) {
			same = 0;
			printf("#   chunk size %zu: input %jd output %jd done %d\n", step,
			    (intmax_t)v.input_tokens, (intmax_t)v.output_tokens, v.done);
		}
	}
	ok(same, "openai stream: same usage for chunk sizes 1..63");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	stream(&u, openai_tool_stream, 7, &o);
	is_int(o.n, 5, "tool stream: five events (comment skipped)");
	is_int(o.bits[0], 0, "null content is not content");
	is_int(o.bits[1], USAGE_EV_CONTENT, "a tool call is content");
	is_int(u.first_token_at, 1010, "tool stream: first token at the tool call");
	is_int(o.bits[3], USAGE_EV_USAGE, "usage beside a choice is not usage-only");
	is_int(u.input_tokens, 80, "tool stream: input");
	is_int(u.output_tokens, 17, "tool stream: output");
	is_int(u.cache_read_tokens, -1, "tool stream: cache reads not reported");
	is_str(usage_cache_name(u.cache_status), "not_reported", "tool stream: cache status");
	is_str(u.finish_reason, "tool_calls", "tool stream: finish_reason");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	stream(&u, openai_reasoning_stream, 13, &o);
	is_int(o.bits[0], 0, "empty reasoning is not content");
	is_int(o.bits[1], USAGE_EV_CONTENT, "reasoning text is content");
	is_int(u.first_token_at, 1010, "reasoning stream: first token at the reasoning");
	is_int(u.thinking_chars, 7, "reasoning stream: characters of reasoning");
	is_int(u.reasoning_tokens, 80, "reasoning stream: reasoning tokens");
	is_int(u.cache_read_tokens, 24, "prompt_cache_hit_tokens read as cache reads");
	is_int(u.done, 1, "reasoning stream: complete");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	stream(&u, openai_error_stream, 5, &o);
	is_int(o.bits[1], USAGE_EV_ERROR, "error chunk flagged");
	is_int(u.error, 1, "openai error stream: error");
	is_str(u.error_type, "server_error", "openai error stream: type");
	is_int(u.done, 0, "openai error stream: not complete");

	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	is_int(stream(&u, anthropic_stream, 3, &o), QP_OK, "anthropic stream parses");
	is_int(o.n, 11, "anthropic stream: eleven events");
	is_int(o.bits[0], USAGE_EV_USAGE, "message_start carries usage");
	is_int(o.bits[1], 0, "content_block_start is not content");
	is_int(o.bits[2], 0, "ping is nothing");
	is_int(o.bits[3], USAGE_EV_CONTENT, "content_block_delta is content");
	is_int(o.bits[9], USAGE_EV_USAGE, "message_delta carries usage");
	is_int(o.bits[10], USAGE_EV_DONE, "message_stop is completion");
	is_int(u.first_token_at, 1030, "anthropic: first token at the first delta");
	is_int(u.input_tokens, 25, "anthropic stream: input from message_start");
	is_int(u.cache_read_tokens, 1024, "anthropic stream: cache read from message_start");
	is_int(u.cache_write_tokens, 0, "anthropic stream: cache write from message_start");
	is_int(u.output_tokens, 15, "anthropic stream: output from message_delta");
	is_str(u.finish_reason, "end_turn", "anthropic stream: stop_reason");
	is_str(u.model, "claude-opus-4-1-20250805", "anthropic stream: model");
	is_str(u.response_id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "anthropic stream: id");
	is_int(u.thinking_chars, 9, "anthropic stream: thinking characters");
	is_int(u.done, 1, "anthropic stream: complete");
	is_int(u.error, 0, "anthropic stream: no error");

	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	stream(&u, anthropic_delta_input_stream, 1, &o);
	is_int(u.input_tokens, 4821, "input reported only in message_delta is kept");
	is_int(u.output_tokens, 1024, "anthropic CRLF stream: output");
	is_str(u.finish_reason, "max_tokens", "anthropic CRLF stream: stop_reason");
	is_int(u.done, 1, "anthropic CRLF stream: complete");

	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	stream(&u, anthropic_error_stream, 11, &o);
	is_int(o.bits[1], USAGE_EV_ERROR, "anthropic error event flagged");
	is_int(u.error, 1, "anthropic error stream: error");
	is_str(u.error_type, "overloaded_error", "anthropic error stream: type");
	is_int(u.input_tokens, 9, "anthropic error stream: input still counted");
	is_int(u.done, 0, "anthropic error stream: not complete");
}

/* One event's data, observed alone. */
static unsigned
ev(struct usage *u, const char *event, const char *data)
{

	return usage_event(u, event, data, strlen(data), 5);
}

/* Writes an object nested depth levels deep into buf; returns its length. */
static size_t
nest(char *buf, int depth)
{
	size_t n = 0;
	int i;

	memcpy(buf, "{\"a\":", 5);
	n = 5;
	for (i = 1; i < depth; i++)
		buf[n++] = '[';
	for (i = 1; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	return n;
}

static void
check_edges(void)
{
	struct usage u, before;
	char deep[256], longid[300];
	size_t i, n;

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(ev(&u, "", "{not json"), USAGE_EV_BAD, "bad JSON flagged");
	is_int(ev(&u, "", "[1,2]"), USAGE_EV_BAD, "non-object JSON flagged");
	is_int(ev(&u, "", "  [DONE] \r\n"), USAGE_EV_DONE, "[DONE] with white space");
	is_int(u.bad_events, 2, "bad events counted");
	is_int(ev(&u, "error", "upstream exploded"), USAGE_EV_ERROR | USAGE_EV_BAD,
	    "an error event without JSON is still an error");
	is_str(u.error_type, "error", "error type when none is given");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	ev(&u, "", "{\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e999,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":12.9}}}");
	is_int(u.input_tokens, 0, "negative count reads as 0");
	is_int(u.output_tokens, 0, "non-finite count reads as 0");
	is_int(u.cache_read_tokens, 12, "fractional count truncated");
	ev(&u, "", "{\"choices\":[],\"usage\":{\"completion_tokens\":1e30}}");
	is_int(u.output_tokens, USAGE_TOKENS_MAX, "huge count lowered to USAGE_TOKENS_MAX");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	ev(&u, "", "{\"usage\":{\"prompt_tokens\":10,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":\"7\"}}}");
	is_str(usage_cache_name(u.cache_status), "unknown_format", "cache counter as a string");
	is_int(u.cache_read_tokens, -1, "a string count is not reported");
	is_int(ev(&u, "", "{\"usage\":{\"prompt_tokens\":10}}"),
	    USAGE_EV_USAGE | USAGE_EV_USAGE_ONLY,
	    "usage without choices is usage-only");

	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	ev(&u, "", "{\"choices\":[],\"usage\":{\"input_tokens\":0,\"prompt_tokens\":77}}");
	is_int(u.input_tokens, 77, "input falls back to the first non-zero name");
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	ev(&u, "", "{\"choices\":[],\"usage\":{\"prompt_token_count\":5}}");
	is_int(u.input_tokens, 5, "prompt_token_count accepted");
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	ev(&u, "", "{\"choices\":[],\"usage\":{\"input_tokens_total\":6,\"completion_tokens\":0}}");
	is_int(u.input_tokens, 6, "input_tokens_total accepted");
	is_int(u.output_tokens, 0, "output reported as 0");

	/* Provider cost paths. */
	{
		static const struct {
			const char	*json;
			int		 bare;
			int64_t		 want;
		} costs[] = {
			{ "{\"usage\":{\"cost_microdollars\":1234}}", 0, 1234 },
			{ "{\"usage\":{\"total_cost_microdollars\":99}}", 0, 99 },
			{ "{\"usage\":{\"cost_micros\":7.6}}", 0, 8 },
			{ "{\"usage\":{\"total_cost_micros\":5}}", 0, 5 },
			{ "{\"usage\":{\"cost_usd\":0.5}}", 0, 500000 },
			{ "{\"usage\":{\"total_cost_usd\":0.000001}}", 0, 1 },
			{ "{\"usage\":{\"billing\":{\"cost_usd\":2}}}", 0, 2000000 },
			{ "{\"usage\":{\"billing\":{\"total_cost_usd\":0.25}}}", 0, 250000 },
			{ "{\"usage\":{\"prompt_tokens\":1},"
			    "\"billing\":{\"cost_usd\":0.003}}", 0, 3000 },
			{ "{\"billing\":{\"total_cost_usd\":0.004}}", 0, 4000 },
			{ "{\"usage\":{\"cost\":0.1}}", 1, 100000 },
			{ "{\"usage\":{\"total_cost\":0.2}}", 1, 200000 },
			{ "{\"usage\":{\"cost\":0.1}}", 0, -1 },
			{ "{\"usage\":{\"cost_usd\":-1}}", 0, -1 },
			{ "{\"usage\":{\"cost_usd\":\"0.5\"}}", 0, -1 },
			{ "{\"usage\":{\"cost_usd\":0.5,\"cost_microdollars\":10}}", 0, 10 },
		};

		for (i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
			usage_init(&u, USAGE_PROTO_OPENAI, costs[i].bare);
			ev(&u, "", costs[i].json);
			if (!is_int(u.cost_microdollars, costs[i].want, "provider cost %zu", i))
				printf("#   input: %s\n", costs[i].json);
		}
	}

	/* Nesting bound. */
	n = nest(deep, QP_JSON_DEPTH_MAX);
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(usage_body(&u, deep, n), QP_OK, "nesting of QP_JSON_DEPTH_MAX accepted");
	n = nest(deep, QP_JSON_DEPTH_MAX + 1);
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	before = u;
	is_int(usage_body(&u, deep, n), QP_ETOOBIG, "deeper nesting refused");
	ok(memcmp(&u, &before, sizeof(u)) == 0, "refused body leaves usage as it was");
	is_int(usage_body(&u, "[1]", 3), QP_EPARSE, "a body that is not an object");
	is_int(usage_body(&u, "{} x", 4), QP_EPARSE, "trailing garbage");
	is_int(usage_body(&u, "", 0), QP_EPARSE, "empty body");
	is_int(usage_body(&u, "{\"id\":\"x\"} \n", 12), QP_OK, "trailing white space is fine");

	/* Text bounds. */
	memcpy(longid, "{\"id\":\"", 7);
	memset(longid + 7, 'x', 200);
	memcpy(longid + 207, "\"}", 3);
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	usage_body(&u, longid, strlen(longid));
	is_int(strlen(u.response_id), USAGE_TEXT_MAX, "long id cut at USAGE_TEXT_MAX");

	/* Data is read only within len. */
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(usage_event(&u, "", "[DONE]xyz", 6, 0), USAGE_EV_DONE, "data bounded by len");
	usage_init(&u, USAGE_PROTO_ANTHROPIC, 0);
	is_int(usage_event(&u, "message_stop", "", 0, 0), USAGE_EV_DONE | USAGE_EV_BAD,
	    "message_stop by event name alone");
	is_int(usage_event(&u, "", NULL, 0, 0), USAGE_EV_BAD, "NULL data");
	is_str(usage_cache_name(USAGE_CACHE__MAX), "unknown", "cache name out of range");
}

/* The Responses API (passed through to a provider that speaks it) and legacy completions. */
static const char responses_stream[] =
	"event: response.created\n"
	"data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":"
	"\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5\","
	"\"output\":[],\"usage\":null}}\n\n"
	"event: response.reasoning_summary_text.delta\n"
	"data: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"think\"}\n\n"
	"event: response.output_text.delta\n"
	"data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
	"event: response.function_call_arguments.delta\n"
	"data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{}\"}\n\n"
	"event: response.completed\n"
	"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":"
	"\"completed\",\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":50,"
	"\"input_tokens_details\":{\"cached_tokens\":20},\"output_tokens\":9,"
	"\"output_tokens_details\":{\"reasoning_tokens\":4},\"total_tokens\":59}}}\n\n";

static void
check_responses(void)
{
	static const char body[] = "{\"id\":\"resp_2\",\"object\":\"response\",\"status\":"
	    "\"completed\",\"model\":\"m\",\"output\":[],\"usage\":{\"input_tokens\":11,"
	    "\"output_tokens\":2,\"input_tokens_details\":{\"cached_tokens\":1}}}";
	struct usage u;
	struct obs o;

	usage_init(&u, USAGE_PROTO_RESPONSES, 0);
	is_int(u.input_includes_cache, 1, "Responses input counts the cached tokens");
	is_int(stream(&u, responses_stream, 7, &o), QP_OK, "Responses stream parsed");
	is_int(o.n, 5, "five events");
	is_int(o.bits[0], 0, "response.created: nothing to count");
	is_int(o.bits[1], USAGE_EV_CONTENT, "reasoning summary delta is content");
	is_int(o.bits[2], USAGE_EV_CONTENT, "output text delta is content");
	is_int(o.bits[3], USAGE_EV_CONTENT, "tool arguments delta is content");
	is_int(o.bits[4], USAGE_EV_USAGE | USAGE_EV_DONE, "response.completed: usage and end");
	ok(u.input_tokens == 50 && u.output_tokens == 9 && u.cache_read_tokens == 20 &&
	    u.reasoning_tokens == 4, "Responses usage read (%lld %lld %lld %lld)",
	    (long long)u.input_tokens, (long long)u.output_tokens,
	    (long long)u.cache_read_tokens, (long long)u.reasoning_tokens);
	is_int(u.first_token_at, 1010, "first token at the first delta");
	is_int(u.thinking_chars, 5, "reasoning characters counted");
	is_str(u.finish_reason, "completed", "stop reason: the status");
	is_str(u.model, "gpt-5", "model");
	is_str(u.response_id, "resp_1", "id");
	ok(u.done && !u.error, "done, no error");

	usage_init(&u, USAGE_PROTO_RESPONSES, 0);
	is_int(ev(&u, "response.incomplete", "{\"type\":\"response.incomplete\",\"response\":"
	    "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
	    "\"max_output_tokens\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":8}}}"),
	    USAGE_EV_USAGE | USAGE_EV_DONE, "response.incomplete ends the stream");
	is_str(u.finish_reason, "max_output_tokens", "its reason is the stop reason");
	usage_init(&u, USAGE_PROTO_RESPONSES, 0);
	is_int(ev(&u, "response.failed", "{\"type\":\"response.failed\",\"response\":"
	    "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"x\"},"
	    "\"usage\":null}}"), USAGE_EV_ERROR, "response.failed is an error");
	ok(u.error && !u.done, "failed: error, not done");
	is_str(u.error_type, "server_error", "its code");
	usage_init(&u, USAGE_PROTO_RESPONSES, 0);
	is_int(ev(&u, "error", "{\"type\":\"error\",\"code\":\"rate_limit_exceeded\","
	    "\"message\":\"slow down\"}"), USAGE_EV_ERROR, "an error event");
	is_str(u.error_type, "rate_limit_exceeded", "its code");
	is_int(ev(&u, "", "nope"), USAGE_EV_BAD, "bad data counted");

	usage_init(&u, USAGE_PROTO_RESPONSES, 0);
	is_int(usage_body(&u, body, strlen(body)), QP_OK, "Responses body");
	ok(u.done && u.input_tokens == 11 && u.output_tokens == 2 && u.cache_read_tokens == 1,
	    "its usage and end");
	is_str(u.finish_reason, "completed", "its status");

	/* Legacy completions stream their text in choices[].text. */
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	is_int(ev(&u, "", "{\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
	    "\"text\":\"once\",\"finish_reason\":null}]}"), USAGE_EV_CONTENT,
	    "a completion's text is content");
	is_int(u.first_token_at, 5, "first token seen");
}

int
main(void)
{

	check_bodies();
	check_streams();
	check_edges();
	check_responses();
	return done_testing();
}
