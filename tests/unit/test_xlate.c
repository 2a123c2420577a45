/* test_xlate.c: the translations' common parts: losses, buffers, usage, stop reasons, limits. */
#include "../tap.h"
#include "bounds.h"
#include "json.h"
#include "xlate.h"

static void
test_warn(void)
{
	struct xlate_warn w, m;
	char reason[64];
	int i;

	memset(&w, 0, sizeof(w));
	xlate_warn_add(&w, "top_k dropped");
	xlate_warn_add(&w, "server tools dropped");
	xlate_warn_add(&w, "top_k dropped");
	is_int(w.count, 3, "every loss counts");
	is_str(w.text, "top_k dropped; server tools dropped", "each reason once");
	xlate_warn_add(&w, "tools dropped");
	is_str(w.text, "top_k dropped; server tools dropped; tools dropped",
	    "a reason inside another is still its own");
	memset(&m, 0, sizeof(m));
	xlate_warn_add(&m, "top_k dropped");
	xlate_warn_add(&m, "images dropped");
	xlate_warn_add(&m, "images dropped");
	xlate_warn_merge(&w, &m);
	is_int(w.count, 7, "a merge adds every loss");
	is_str(w.text, "top_k dropped; server tools dropped; tools dropped; images dropped",
	    "... and the new reasons");
	memset(&w, 0, sizeof(w));
	for (i = 0; i < 40; i++) {
		snprintf(reason, sizeof(reason), "reason number %d", i);
		xlate_warn_add(&w, reason);
	}
	is_int(w.count, 40, "the count goes past what the text holds");
	ok(strlen(w.text) <= XLATE_WARN_TEXT, "the text stays within its bound");
	ok(strcmp(w.text + strlen(w.text) - 5, "; ...") == 0, "... and says it was cut: %s",
	    w.text);
}

static void
test_buf(void)
{
	struct xlate_buf b = { 0 };
	static const char raw[] = "a\"b\\c\nd\re\tf\bg\fh\001i\037j\xc3\xa9";

	xlate_buf_jstr(&b, raw, sizeof(raw) - 1);
	is_str(b.p, "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj\xc3\xa9\"",
	    "strings are escaped as JSON");
	xlate_buf_clear(&b);
	xlate_buf_jstr(&b, "x\0y", 3);
	is_str(b.p, "\"x\\u0000y\"", "a NUL byte is escaped");
	xlate_buf_clear(&b);
	xlate_buf_int(&b, -42);
	xlate_buf_json(&b, NULL);
	is_str(b.p, "-42null", "numbers and null");
	xlate_buf_free(&b);
	b.max = 8;
	xlate_buf_puts(&b, "12345678");
	is_int(b.err, QP_OK, "a buffer fills up to its bound");
	xlate_buf_puts(&b, "9");
	is_int(b.err, QP_ETOOBIG, "... and fails past it");
	xlate_buf_puts(&b, "");
	is_int(b.len, 8, "... keeping what it held");
	xlate_buf_clear(&b);
	is_int(b.err, QP_OK, "clearing forgets the error");
	xlate_buf_free(&b);
}

/* Parses a literal. */
static cJSON *
J(const char *s)
{
	enum qp_err err;

	return json_parse(s, strlen(s), &err);
}

/* Returns the compact text of v, freeing v; the caller frees the result. */
static char *
text(cJSON *v)
{
	char *s = v != NULL ? cJSON_PrintUnformatted(v) : NULL;

	cJSON_Delete(v);
	return s;
}

static void
test_usage(void)
{
	struct xlate_usage u;
	cJSON *in;
	char *s;

	xlate_usage_init(&u);
	in = J("{\"prompt_tokens\":2006,\"completion_tokens\":300,\"total_tokens\":2306,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":1920,\"cache_write_tokens\":6},"
	    "\"completion_tokens_details\":{\"reasoning_tokens\":192}}");
	xlate_usage_from_chat(&u, in);
	cJSON_Delete(in);
	is_int(u.input, 80, "chat: input excludes cache reads and writes");
	is_int(u.cache_read, 1920, "chat: cached_tokens are cache reads");
	is_int(u.cache_write, 6, "chat: cache_write_tokens are cache writes");
	is_int(u.output, 300, "chat: completion tokens are output");
	is_int(u.reasoning, 192, "chat: reasoning tokens");
	is_str(s = text(xlate_usage_messages(&u)), "{\"input_tokens\":80,"
	    "\"cache_creation_input_tokens\":6,\"cache_read_input_tokens\":1920,"
	    "\"output_tokens\":300,\"output_tokens_details\":{\"thinking_tokens\":192}}",
	    "as Messages usage");
	free(s);
	is_str(s = text(xlate_usage_chat(&u)), "{\"prompt_tokens\":2006,\"completion_tokens\":300,"
	    "\"total_tokens\":2306,\"prompt_tokens_details\":{\"cached_tokens\":1920,"
	    "\"cache_write_tokens\":6},\"completion_tokens_details\":{\"reasoning_tokens\":192}}",
	    "back as chat usage, the same numbers");
	free(s);
	is_str(s = text(xlate_usage_responses(&u)), "{\"input_tokens\":2006,"
	    "\"input_tokens_details\":{\"cached_tokens\":1920,\"cache_write_tokens\":6},"
	    "\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":192},"
	    "\"total_tokens\":2306}", "as Responses usage");
	free(s);
	xlate_usage_init(&u);
	in = J("{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}");
	xlate_usage_from_messages(&u, in);
	cJSON_Delete(in);
	in = J("{\"output_tokens\":7,\"input_tokens\":null}");
	xlate_usage_from_messages(&u, in);
	cJSON_Delete(in);
	is_int(u.input, 10, "Messages: a later delta without input keeps it");
	is_int(u.output, 7, "Messages: cumulative output grows");
	is_int(u.cache_write, -1, "Messages: an unreported count stays unknown");
	is_str(s = text(xlate_usage_chat(&u)), "{\"prompt_tokens\":15,\"completion_tokens\":7,"
	    "\"total_tokens\":22,\"prompt_tokens_details\":{\"cached_tokens\":5}}",
	    "as chat usage, prompt includes cache reads");
	free(s);
	xlate_usage_init(&u);
	in = J("{\"prompt_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":9}}");
	xlate_usage_from_chat(&u, in);
	cJSON_Delete(in);
	is_int(u.input, 0, "chat: more cached than prompt tokens reads as no input");
}

static void
test_stops(void)
{
	static const char *const chat[][2] = {
		{ "stop", "end_turn" }, { "length", "max_tokens" }, { "tool_calls", "tool_use" },
		{ "function_call", "tool_use" }, { "content_filter", "refusal" },
		{ "weird", "end_turn" },
	};
	static const char *const msgs[][2] = {
		{ "end_turn", "stop" }, { "stop_sequence", "stop" }, { "pause_turn", "stop" },
		{ "max_tokens", "length" }, { "model_context_window_exceeded", "length" },
		{ "tool_use", "tool_calls" }, { "refusal", "content_filter" }, { "odd", "stop" },
	};
	size_t i;

	for (i = 0; i < sizeof(chat) / sizeof(chat[0]); i++)
		is_str(xlate_stop_from_chat(chat[i][0]), chat[i][1], "finish %s", chat[i][0]);
	is_str(xlate_stop_from_chat(NULL), "end_turn", "no finish reason");
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		is_str(xlate_finish_from_messages(msgs[i][0]), msgs[i][1], "stop %s", msgs[i][0]);
}

static void
test_errors(void)
{
	static const struct {
		int		 status;
		const char	*openai, *anthropic;
	} t[] = {
		{ 400, "invalid_request_error", "invalid_request_error" },
		{ 401, "invalid_request_error", "authentication_error" },
		{ 402, "insufficient_quota", "billing_error" },
		{ 403, "invalid_request_error", "permission_error" },
		{ 404, "invalid_request_error", "not_found_error" },
		{ 413, "invalid_request_error", "request_too_large" },
		{ 422, "invalid_request_error", "invalid_request_error" },
		{ 429, "rate_limit_exceeded", "rate_limit_error" },
		{ 500, "server_error", "api_error" },
		{ 502, "server_error", "api_error" },
		{ 503, "server_error", "overloaded_error" },
		{ 504, "server_error", "timeout_error" },
		{ 529, "server_error", "overloaded_error" },
	};
	char want[256], *s;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(want, sizeof(want), "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
		    "\"message\":\"m\"}}", t[i].anthropic);
		is_str(s = text(xlate_error_json(XLATE_API_MESSAGES, t[i].status, "m")), want,
		    "Messages error for %d", t[i].status);
		free(s);
		snprintf(want, sizeof(want), "{\"error\":{\"message\":\"m\",\"type\":\"%s\","
		    "\"param\":null,\"code\":\"%d\"}}", t[i].openai, t[i].status);
		is_str(s = text(xlate_error_json(XLATE_API_CHAT, t[i].status, "m")), want,
		    "chat error for %d", t[i].status);
		free(s);
	}
}

static void
test_limits(void)
{
	struct xlate_ctx c;
	cJSON *v;

	xlate_ctx_init(&c);
	is_int(xlate_max_tokens(&c, NULL, 0), 0, "no limit asked, none known: none sent");
	is_int(xlate_max_tokens(&c, NULL, QP_XLATE_MAX_TOKENS), QP_XLATE_MAX_TOKENS,
	    "the default when none is asked");
	v = cJSON_CreateNumber(0.5);
	is_int(xlate_max_tokens(&c, v, 0), 1, "a number below 1 is sent as 1");
	cJSON_Delete(v);
	v = cJSON_CreateNumber(32000);
	is_int(xlate_max_tokens(&c, v, 0), 32000, "the client's limit");
	c.max_output = 8192;
	is_int(xlate_max_tokens(&c, v, 0), 8192, "... lowered to the model's");
	is_int(xlate_max_tokens(&c, NULL, 0), 8192, "the model's when none is asked");
	cJSON_Delete(v);
}

static void
test_join(void)
{
	unsigned other = 0;
	cJSON *v = J("[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image\"},"
	    "{\"type\":\"input_text\",\"text\":\"b\"},{\"type\":\"output_text\",\"text\":\"c\"},"
	    "{\"type\":\"text\"}]");
	char *s = xlate_join_text(v, "|", &other);

	is_str(s, "a|b|c", "text parts are joined");
	is_int(other, 2, "the others are counted");
	free(s);
	cJSON_Delete(v);
	v = cJSON_CreateString("plain");
	other = 0;
	is_str(s = xlate_join_text(v, "|", &other), "plain", "a string is its own text");
	is_int(other, 0, "... with nothing else");
	free(s);
	cJSON_Delete(v);
}

int
main(void)
{

	test_warn();
	test_buf();
	test_usage();
	test_stops();
	test_errors();
	test_limits();
	test_join();
	return done_testing();
}
