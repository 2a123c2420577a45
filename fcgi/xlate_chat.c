/* xlate_chat.c: an OpenAI chat-completions client served by an Anthropic Messages provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "json.h"
#include "xlate.h"
#include "xlate_chat.h"

/* Longest completion id kept for the chunks of a stream. */
#define XC_ID_MAX	127
/* Smallest thinking budget a Messages provider takes. */
#define XC_BUDGET_MIN	1024

/* ---- request: chat to Messages ----------------------------------------------- */

/* Building one Messages request. */
struct xc_req {
	struct xlate_ctx *c;		/* the request's context */
	cJSON		*msgs;		/* the Messages turns being built */
	cJSON		*system;	/* text blocks of the system prompt */
	int		 turns;		/* 1 once a user or assistant turn came */
};

/* Returns the content of the last turn if it has role, else of a new turn; NULL: no memory. */
static cJSON *
xc_turn(struct xc_req *q, const char *role)
{
	cJSON *last = cJSON_GetArrayItem(q->msgs, cJSON_GetArraySize(q->msgs) - 1), *t, *content;
	const char *r = xlate_str(last, "role");

	q->turns = 1;
	if (r != NULL && strcmp(r, role) == 0)
		return json_member(last, "content");
	if ((t = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(t, "role", role);
	content = cJSON_AddArrayToObject(t, "content");
	cJSON_AddItemToArray(q->msgs, t);
	return content;
}

/* Adds a text block to content, unless text is empty (Messages refuses those). */
static int
xc_text(cJSON *content, const char *text)
{
	cJSON *b;

	if (text[0] == '\0')
		return 1;
	if ((b = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddStringToObject(b, "type", "text");
	cJSON_AddStringToObject(b, "text", text);
	cJSON_AddItemToArray(content, b);
	return 1;
}

/* A system or developer message: one more block of the system prompt. */
static int
xc_system(struct xc_req *q, const cJSON *content)
{
	unsigned other = 0;
	char *text;
	int ok;

	if (q->turns)
		xlate_warn_add(&q->c->warn, "later system messages moved to the system prompt");
	if ((text = xlate_join_text(content, "\n\n", &other)) == NULL)
		return 0;
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text system content dropped");
	ok = xc_text(q->system, text);
	free(text);
	return ok;
}

/* Adds an image part (image_url) to content as an image block; 0 out of memory. */
static int
xc_image(struct xc_req *q, const cJSON *part, cJSON *content)
{
	const cJSON *iu = json_member(part, "image_url");
	const char *url = cJSON_IsString(iu) ? iu->valuestring : xlate_str(iu, "url");
	const char *semi, *comma;
	cJSON *b, *src;
	char media[64];

	if (url == NULL) {
		xlate_warn_add(&q->c->warn, "image without a URL dropped");
		return 1;
	}
	if ((b = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddStringToObject(b, "type", "image");
	if ((src = cJSON_AddObjectToObject(b, "source")) == NULL) {
		cJSON_Delete(b);
		return 0;
	}
	if (strncmp(url, "data:", 5) == 0) {
		semi = strchr(url + 5, ';');
		comma = strchr(url + 5, ',');
		if (semi == NULL || comma == NULL || semi > comma ||
		    strncmp(semi, ";base64,", 8) != 0 ||
		    (size_t)(semi - url - 5) >= sizeof(media)) {
			xlate_warn_add(&q->c->warn, "data URL image not in base64 dropped");
			cJSON_Delete(b);
			return 1;
		}
		snprintf(media, sizeof(media), "%.*s", (int)(semi - url - 5), url + 5);
		cJSON_AddStringToObject(src, "type", "base64");
		cJSON_AddStringToObject(src, "media_type", media);
		cJSON_AddStringToObject(src, "data", comma + 1);
	} else {
		cJSON_AddStringToObject(src, "type", "url");
		cJSON_AddStringToObject(src, "url", url);
	}
	cJSON_AddItemToArray(content, b);
	return 1;
}

/* A user message: text and image parts in the user turn. 1, 0 no memory, -1 invalid. */
static int
xc_user(struct xc_req *q, const cJSON *content)
{
	const cJSON *part;
	const char *type, *text;
	cJSON *turn;

	if ((turn = xc_turn(q, "user")) == NULL)
		return 0;
	if (cJSON_IsString(content))
		return xc_text(turn, content->valuestring);
	if (!cJSON_IsArray(content)) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "message content must be a string or an array of parts");
		return -1;
	}
	cJSON_ArrayForEach(part, content) {
		type = xlate_str(part, "type");
		if (type != NULL && strcmp(type, "text") == 0 &&
		    (text = xlate_str(part, "text")) != NULL) {
			if (!xc_text(turn, text))
				return 0;
		} else if (type != NULL && strcmp(type, "image_url") == 0) {
			if (!xc_image(q, part, turn))
				return 0;
		} else
			xlate_warn_add(&q->c->warn, "audio and file parts dropped");
	}
	return 1;
}

/* Adds a chat tool call to content as a tool_use block. 1, 0 no memory, -1 invalid. */
static int
xc_tool_use(struct xc_req *q, const cJSON *call, cJSON *content)
{
	const cJSON *fn = json_member(call, "function");
	const char *id = xlate_str(call, "id"), *name = xlate_str(fn, "name");
	const char *args = xlate_str(fn, "arguments");
	enum qp_err err;
	cJSON *b, *input = NULL;

	if (id == NULL || name == NULL) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "a tool call needs an id and a function name");
		return -1;
	}
	if (args != NULL && args[0] != '\0')
		input = json_parse(args, strlen(args), &err);
	if (!cJSON_IsObject(input)) {
		if (args != NULL && args[0] != '\0')
			xlate_warn_add(&q->c->warn, "tool arguments that are not a JSON object");
		cJSON_Delete(input);
		input = cJSON_CreateObject();
	}
	if (input == NULL || (b = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(input);
		return 0;
	}
	cJSON_AddStringToObject(b, "type", "tool_use");
	cJSON_AddStringToObject(b, "id", id);
	cJSON_AddStringToObject(b, "name", name);
	cJSON_AddItemToObject(b, "input", input);
	cJSON_AddItemToArray(content, b);
	return 1;
}

/* An assistant message: its text and tool calls. 1, 0 no memory, -1 invalid. */
static int
xc_assistant(struct xc_req *q, const cJSON *m)
{
	const cJSON *content = json_member(m, "content"), *call, *part;
	const char *type, *text;
	cJSON *turn;
	int r;

	if ((turn = xc_turn(q, "assistant")) == NULL)
		return 0;
	if (cJSON_IsString(content) && !xc_text(turn, content->valuestring))
		return 0;
	cJSON_ArrayForEach(part, xlate_array(content)) {
		type = xlate_str(part, "type");
		text = xlate_str(part, type != NULL && strcmp(type, "refusal") == 0 ?
		    "refusal" : "text");
		if (text != NULL && !xc_text(turn, text))
			return 0;
	}
	cJSON_ArrayForEach(call, xlate_array(json_member(m, "tool_calls")))
		if ((r = xc_tool_use(q, call, turn)) != 1)
			return r;
	if (json_member(m, "function_call") != NULL &&
	    !cJSON_IsNull(json_member(m, "function_call")))
		xlate_warn_add(&q->c->warn, "legacy function calls dropped");
	/* A turn left empty would be refused: drop it. */
	if (cJSON_GetArraySize(turn) == 0)
		cJSON_DeleteItemFromArray(q->msgs, cJSON_GetArraySize(q->msgs) - 1);
	return 1;
}

/* A tool message: a tool_result block in the user turn. 1, 0 no memory, -1 invalid. */
static int
xc_tool(struct xc_req *q, const cJSON *m, int i)
{
	const char *id = xlate_str(m, "tool_call_id");
	unsigned other = 0;
	cJSON *turn, *b;
	char *text;

	if (id == NULL) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "messages[%d] of role tool needs a tool_call_id", i);
		return -1;
	}
	if ((turn = xc_turn(q, "user")) == NULL ||
	    (text = xlate_join_text(json_member(m, "content"), "\n", &other)) == NULL)
		return 0;
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text tool content dropped");
	if ((b = cJSON_CreateObject()) == NULL) {
		free(text);
		return 0;
	}
	cJSON_AddStringToObject(b, "type", "tool_result");
	cJSON_AddStringToObject(b, "tool_use_id", id);
	cJSON_AddStringToObject(b, "content", text);
	free(text);
	cJSON_AddItemToArray(turn, b);
	return 1;
}

/* The messages. 1, 0 no memory, -1 invalid (c->why set). */
static int
xc_messages(struct xc_req *q, const cJSON *req)
{
	const cJSON *msgs = json_member(req, "messages"), *m;
	const char *role;
	int i = 0, r;

	if (!cJSON_IsArray(msgs)) {
		snprintf(q->c->why, sizeof(q->c->why), "messages must be an array");
		return -1;
	}
	cJSON_ArrayForEach(m, msgs) {
		if ((role = xlate_str(m, "role")) == NULL) {
			snprintf(q->c->why, sizeof(q->c->why), "messages[%d] needs a role", i);
			return -1;
		}
		if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
			r = xc_system(q, json_member(m, "content"));
		else if (strcmp(role, "user") == 0)
			r = xc_user(q, json_member(m, "content"));
		else if (strcmp(role, "assistant") == 0)
			r = xc_assistant(q, m);
		else if (strcmp(role, "tool") == 0)
			r = xc_tool(q, m, i);
		else if (strcmp(role, "function") == 0) {
			xlate_warn_add(&q->c->warn, "legacy function calls dropped");
			r = 1;
		} else {
			snprintf(q->c->why, sizeof(q->c->why), "messages[%d].role must be system, "
			    "developer, user, assistant or tool", i);
			r = -1;
		}
		if (r != 1)
			return r;
		i++;
	}
	return 1;
}

/* Adds one function definition {name, description, parameters} as a Messages tool. */
static int
xc_tool_def(cJSON *out, const cJSON *fn)
{
	const cJSON *params = json_member(fn, "parameters");
	const char *desc = xlate_str(fn, "description");
	cJSON *t, *schema;

	if ((t = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddItemToArray(out, t);
	cJSON_AddStringToObject(t, "name", xlate_str(fn, "name"));
	if (desc != NULL)
		cJSON_AddStringToObject(t, "description", desc);
	if (cJSON_IsObject(params))
		schema = cJSON_Duplicate(params, 1);
	else if ((schema = cJSON_CreateObject()) != NULL)
		cJSON_AddStringToObject(schema, "type", "object");
	if (!cJSON_AddItemToObject(t, "input_schema", schema))
		return 0;
	if (cJSON_IsBool(json_member(fn, "strict")) && !xlate_copy(t, fn, "strict"))
		return 0;
	return 1;
}

/* tools: function tools; the others have no Messages form. */
static int
xc_tools(struct xc_req *q, const cJSON *tools, cJSON *body)
{
	const cJSON *t, *fn;
	const char *type;
	cJSON *out;

	if (!cJSON_IsArray(tools))
		return 1;
	if ((out = cJSON_AddArrayToObject(body, "tools")) == NULL)
		return 0;
	cJSON_ArrayForEach(t, tools) {
		type = xlate_str(t, "type");
		fn = json_member(t, "function");
		if (type == NULL || strcmp(type, "function") != 0 ||
		    xlate_str(fn, "name") == NULL) {
			xlate_warn_add(&q->c->warn, "custom tools dropped");
			continue;
		}
		if (!xc_tool_def(out, fn))
			return 0;
	}
	if (cJSON_GetArraySize(out) == 0)
		cJSON_DeleteItemFromObject(body, "tools");
	else
		q->c->tools = 1;
	return 1;
}

/* tool_choice, with parallel_tool_calls false as disable_parallel_tool_use. */
static int
xc_tool_choice(struct xc_req *q, const cJSON *req, cJSON *body)
{
	const cJSON *tc = json_member(req, "tool_choice");
	const char *s = cJSON_IsString(tc) ? tc->valuestring : NULL;
	const char *name = xlate_str(json_member(tc, "function"), "name");
	cJSON *o;

	if (!q->c->tools)
		return 1;
	if ((o = cJSON_AddObjectToObject(body, "tool_choice")) == NULL)
		return 0;
	if (s != NULL && strcmp(s, "required") == 0)
		cJSON_AddStringToObject(o, "type", "any");
	else if (s != NULL && strcmp(s, "none") == 0) {
		cJSON_AddStringToObject(o, "type", "none");
		return 1;
	} else if (name != NULL) {
		cJSON_AddStringToObject(o, "type", "tool");
		cJSON_AddStringToObject(o, "name", name);
	} else {
		if (tc != NULL && !cJSON_IsNull(tc) && (s == NULL || strcmp(s, "auto") != 0))
			xlate_warn_add(&q->c->warn, "unknown tool_choice dropped");
		cJSON_AddStringToObject(o, "type", "auto");
	}
	if (cJSON_IsFalse(json_member(req, "parallel_tool_calls")))
		cJSON_AddTrueToObject(o, "disable_parallel_tool_use");
	else if (tc == NULL || cJSON_IsNull(tc))
		cJSON_DeleteItemFromObject(body, "tool_choice");	/* the default */
	return 1;
}

/* Thinking budgets for reasoning_effort values. */
static const struct {
	const char	*effort;	/* reasoning_effort */
	int64_t		 budget;	/* thinking.budget_tokens, 0: no thinking */
} xc_efforts[] = {
	{ "none", 0 },
	{ "minimal", XC_BUDGET_MIN },
	{ "low", 2048 },
	{ "medium", 8192 },
	{ "high", 16384 },
	{ "xhigh", 32768 },
	{ "max", 32768 },
};

/*
 * reasoning_effort as thinking; sampling that thinking refuses is dropped.
 * The budget counts in max_tokens: a client that set no limit gets the
 * budget on top of the default; one that did, at most half of its limit.
 */
static int
xc_thinking(struct xc_req *q, const cJSON *req, cJSON *body, int64_t max_tokens, int given)
{
	const char *effort = xlate_str(req, "reasoning_effort");
	int64_t budget = -1;
	cJSON *th;
	size_t i;

	for (i = 0; effort != NULL && i < sizeof(xc_efforts) / sizeof(xc_efforts[0]); i++)
		if (strcmp(xc_efforts[i].effort, effort) == 0)
			budget = xc_efforts[i].budget;
	if (effort != NULL && budget < 0)
		xlate_warn_add(&q->c->warn, "unknown reasoning_effort dropped");
	if (budget <= 0)
		return 1;
	if (!given) {
		max_tokens = budget + QP_XLATE_MAX_TOKENS;
		if (q->c->max_output > 0 && max_tokens > q->c->max_output) {
			max_tokens = q->c->max_output;
			given = 1;	/* the model's limit: share it */
		}
		cJSON_SetNumberValue(json_member(body, "max_tokens"), (double)max_tokens);
	}
	if (given && budget > max_tokens / 2)
		budget = max_tokens / 2;
	if (budget < XC_BUDGET_MIN) {
		xlate_warn_add(&q->c->warn, "reasoning_effort dropped: max_tokens too small");
		return 1;
	}
	if ((th = cJSON_AddObjectToObject(body, "thinking")) == NULL)
		return 0;
	cJSON_AddStringToObject(th, "type", "enabled");
	cJSON_AddNumberToObject(th, "budget_tokens", (double)budget);
	if (json_member(body, "temperature") != NULL) {
		xlate_warn_add(&q->c->warn, "temperature dropped with reasoning");
		cJSON_DeleteItemFromObject(body, "temperature");
	}
	if (cJSON_IsNumber(json_member(body, "top_p")) &&
	    cJSON_GetNumberValue(json_member(body, "top_p")) < 0.95) {
		xlate_warn_add(&q->c->warn, "top_p dropped with reasoning");
		cJSON_DeleteItemFromObject(body, "top_p");
	}
	return 1;
}

/* temperature: the Messages range ends at 1. */
static int
xc_temperature(struct xc_req *q, const cJSON *v, cJSON *body)
{
	double t = cJSON_GetNumberValue(v);

	if (!cJSON_IsNumber(v))
		return 1;
	if (t > 1) {
		xlate_warn_add(&q->c->warn, "temperature above 1 lowered to 1");
		t = 1;
	}
	return cJSON_AddNumberToObject(body, "temperature", t) != NULL;
}

/* stop: a string or strings. */
static int
xc_stop(struct xc_req *q, const cJSON *v, cJSON *body)
{
	cJSON *arr;

	if (cJSON_IsString(v)) {
		if ((arr = cJSON_AddArrayToObject(body, "stop_sequences")) == NULL)
			return 0;
		cJSON_AddItemToArray(arr, cJSON_CreateString(v->valuestring));
		return 1;
	}
	if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
		return cJSON_AddItemToObject(body, "stop_sequences", cJSON_Duplicate(v, 1));
	return 1;
}

/* user: metadata.user_id. */
static int
xc_user_id(struct xc_req *q, const cJSON *v, cJSON *body)
{
	cJSON *md;

	if (!cJSON_IsString(v))
		return 1;
	if ((md = cJSON_AddObjectToObject(body, "metadata")) == NULL)
		return 0;
	return cJSON_AddStringToObject(md, "user_id", v->valuestring) != NULL;
}

/* response_format: a JSON schema as output_config.format. */
static int
xc_response_format(struct xc_req *q, const cJSON *v, cJSON *body)
{
	const char *type = xlate_str(v, "type");
	const cJSON *schema = json_member(json_member(v, "json_schema"), "schema");
	cJSON *oc, *fmt;

	if (type == NULL || strcmp(type, "text") == 0)
		return 1;
	if (strcmp(type, "json_schema") != 0 || !cJSON_IsObject(schema)) {
		xlate_warn_add(&q->c->warn, "response_format dropped");
		return 1;
	}
	if ((oc = cJSON_AddObjectToObject(body, "output_config")) == NULL ||
	    (fmt = cJSON_AddObjectToObject(oc, "format")) == NULL)
		return 0;
	cJSON_AddStringToObject(fmt, "type", "json_schema");
	return cJSON_AddItemToObject(fmt, "schema", cJSON_Duplicate(schema, 1));
}

/* n: one answer only. */
static int
xc_n(struct xc_req *q, const cJSON *v, cJSON *body)
{

	if (cJSON_IsNumber(v) && cJSON_GetNumberValue(v) > 1)
		xlate_warn_add(&q->c->warn, "n above 1 dropped");
	return 1;
}

/* modalities: text is all Messages answers. */
static int
xc_modalities(struct xc_req *q, const cJSON *v, cJSON *body)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, xlate_array(v))
		if (!cJSON_IsString(m) || strcmp(m->valuestring, "text") != 0)
			xlate_warn_add(&q->c->warn, "audio output dropped");
	return 1;
}

/* logprobs: none from a Messages provider. */
static int
xc_logprobs(struct xc_req *q, const cJSON *v, cJSON *body)
{

	if (cJSON_IsTrue(v))
		xlate_warn_add(&q->c->warn, "logprobs dropped");
	return 1;
}

/* frequency_penalty, presence_penalty: none in Messages; 0 is no penalty anyway. */
static int
xc_penalty(struct xc_req *q, const cJSON *v, cJSON *body)
{

	if (!cJSON_IsNumber(v) || cJSON_GetNumberValue(v) != 0)
		xlate_warn_add(&q->c->warn, "penalties dropped");
	return 1;
}

/* One top-level request field: how it is sent to a Messages provider. */
enum xc_how {
	XC_HANDLED,	/* read elsewhere */
	XC_SAME,	/* copied under the same name */
	XC_SILENT,	/* dropped: a hint the provider does without */
	XC_WARN,	/* dropped with a warning */
	XC_FN,		/* converted by fn */
};

static const struct {
	const char	*key;		/* chat field */
	enum xc_how	 how;		/* what happens to it */
	const char	*warning;	/* XC_WARN: the reason */
	int		(*fn)(struct xc_req *, const cJSON *, cJSON *);
} xc_fields[] = {
	{ "model", XC_HANDLED, NULL, NULL },
	{ "messages", XC_HANDLED, NULL, NULL },
	{ "stream", XC_HANDLED, NULL, NULL },
	{ "stream_options", XC_HANDLED, NULL, NULL },
	{ "tools", XC_HANDLED, NULL, NULL },
	{ "tool_choice", XC_HANDLED, NULL, NULL },
	{ "parallel_tool_calls", XC_HANDLED, NULL, NULL },
	{ "max_tokens", XC_HANDLED, NULL, NULL },
	{ "max_completion_tokens", XC_HANDLED, NULL, NULL },
	{ "reasoning_effort", XC_HANDLED, NULL, NULL },
	{ "functions", XC_WARN, "legacy function calls dropped", NULL },
	{ "function_call", XC_WARN, "legacy function calls dropped", NULL },
	{ "temperature", XC_FN, NULL, xc_temperature },
	{ "top_p", XC_SAME, NULL, NULL },
	{ "stop", XC_FN, NULL, xc_stop },
	{ "user", XC_FN, NULL, xc_user_id },
	{ "response_format", XC_FN, NULL, xc_response_format },
	{ "n", XC_FN, NULL, xc_n },
	{ "modalities", XC_FN, NULL, xc_modalities },
	{ "logprobs", XC_FN, NULL, xc_logprobs },
	{ "top_logprobs", XC_WARN, "logprobs dropped", NULL },
	{ "frequency_penalty", XC_FN, NULL, xc_penalty },
	{ "presence_penalty", XC_FN, NULL, xc_penalty },
	{ "logit_bias", XC_WARN, "logit_bias dropped", NULL },
	{ "seed", XC_WARN, "seed dropped", NULL },
	{ "audio", XC_WARN, "audio output dropped", NULL },
	{ "prediction", XC_WARN, "prediction dropped", NULL },
	{ "web_search_options", XC_WARN, "web search dropped", NULL },
	{ "store", XC_SILENT, NULL, NULL },
	{ "metadata", XC_SILENT, NULL, NULL },
	{ "service_tier", XC_SILENT, NULL, NULL },
	{ "prompt_cache_key", XC_SILENT, NULL, NULL },
	{ "prompt_cache_retention", XC_SILENT, NULL, NULL },
	{ "prompt_cache_options", XC_SILENT, NULL, NULL },
	{ "safety_identifier", XC_SILENT, NULL, NULL },
	{ "verbosity", XC_SILENT, NULL, NULL },
	{ "moderation", XC_SILENT, NULL, NULL },
};

enum qp_err
xlate_chat_request(struct xlate_ctx *c, const cJSON *req, const char *model, cJSON **out)
{
	struct xc_req q = { c, NULL, NULL, 0 };
	const cJSON *f, *v, *limit;
	cJSON *body = NULL, *sys = NULL;
	int64_t max_tokens;
	size_t i;
	int r;

	*out = NULL;
	if ((body = cJSON_CreateObject()) == NULL || (q.system = cJSON_CreateArray()) == NULL)
		goto nomem;
	cJSON_AddStringToObject(body, "model", model);
	limit = json_member(req, "max_completion_tokens");
	if (!cJSON_IsNumber(limit))
		limit = json_member(req, "max_tokens");
	max_tokens = xlate_max_tokens(c, limit, QP_XLATE_MAX_TOKENS);
	cJSON_AddNumberToObject(body, "max_tokens", (double)max_tokens);
	if ((q.msgs = cJSON_CreateArray()) == NULL)
		goto nomem;
	if ((r = xc_messages(&q, req)) != 1) {
		cJSON_Delete(body);
		cJSON_Delete(q.msgs);
		cJSON_Delete(q.system);
		return r == 0 ? QP_ENOMEM : QP_EINVAL;
	}
	/* The system prompt: one string, or its blocks. */
	if (cJSON_GetArraySize(q.system) == 1)
		sys = cJSON_CreateString(xlate_str(q.system->child, "text"));
	else if (cJSON_GetArraySize(q.system) > 1) {
		sys = q.system;
		q.system = NULL;
	}
	if (sys != NULL && !cJSON_AddItemToObject(body, "system", sys))
		goto nomem;
	cJSON_AddItemToObject(body, "messages", q.msgs);
	q.msgs = NULL;
	if (!xc_tools(&q, json_member(req, "tools"), body) || !xc_tool_choice(&q, req, body))
		goto nomem;
	cJSON_ArrayForEach(f, req) {
		for (i = 0; i < sizeof(xc_fields) / sizeof(xc_fields[0]); i++)
			if (f->string != NULL && strcmp(f->string, xc_fields[i].key) == 0)
				break;
		if (i == sizeof(xc_fields) / sizeof(xc_fields[0])) {
			xlate_warn_add(&c->warn, "unknown fields dropped");
			continue;
		}
		v = json_member(req, xc_fields[i].key);
		if (v != f || cJSON_IsNull(v))
			continue;	/* a duplicate key: the last counts */
		if (xc_fields[i].how == XC_SAME &&
		    !cJSON_AddItemToObject(body, f->string, cJSON_Duplicate(v, 1)))
			goto nomem;
		if (xc_fields[i].how == XC_WARN)
			xlate_warn_add(&c->warn, xc_fields[i].warning);
		if (xc_fields[i].how == XC_FN && !xc_fields[i].fn(&q, v, body))
			goto nomem;
	}
	if (!xc_thinking(&q, req, body, max_tokens, cJSON_IsNumber(limit)))
		goto nomem;
	c->include_usage = cJSON_IsTrue(json_member(json_member(req, "stream_options"),
	    "include_usage"));
	if (c->stream)
		cJSON_AddTrueToObject(body, "stream");
	cJSON_Delete(q.system);
	*out = body;
	return QP_OK;
nomem:
	cJSON_Delete(q.msgs);
	cJSON_Delete(q.system);
	cJSON_Delete(body);
	return QP_ENOMEM;
}

/* ---- response: Message to chat completion ------------------------------------ */

/* Adds the tool_use block b to calls as a chat tool call. */
static int
xc_call(cJSON *calls, const cJSON *b)
{
	const cJSON *input = json_member(b, "input");
	cJSON *call, *fn;
	char *args;

	args = input != NULL ? cJSON_PrintUnformatted(input) : strdup("{}");
	if (args == NULL || (call = cJSON_CreateObject()) == NULL) {
		free(args);
		return 0;
	}
	cJSON_AddItemToArray(calls, call);
	cJSON_AddStringToObject(call, "id", xlate_str(b, "id") != NULL ? xlate_str(b, "id") : "");
	cJSON_AddStringToObject(call, "type", "function");
	if ((fn = cJSON_AddObjectToObject(call, "function")) != NULL) {
		cJSON_AddStringToObject(fn, "name", xlate_str(b, "name") != NULL ?
		    xlate_str(b, "name") : "");
		cJSON_AddStringToObject(fn, "arguments", args);
	}
	free(args);
	return fn != NULL;
}

enum qp_err
xlate_chat_response(struct xlate_ctx *c, const cJSON *msg, cJSON **out)
{
	struct xlate_buf text = { 0 }, think = { 0 };
	const cJSON *content = json_member(msg, "content"), *b;
	const char *type, *s, *id = xlate_str(msg, "id");
	cJSON *reply = NULL, *choices, *ch, *m, *calls = NULL;
	struct xlate_usage u;
	char cid[XC_ID_MAX + 1];
	enum qp_err err = QP_ENOMEM;

	*out = NULL;
	if (!cJSON_IsArray(content))
		return QP_EPARSE;
	if ((calls = cJSON_CreateArray()) == NULL)
		goto out;
	cJSON_ArrayForEach(b, content) {
		type = xlate_str(b, "type");
		if (type != NULL && strcmp(type, "text") == 0 && (s = xlate_str(b, "text")) != NULL)
			xlate_buf_puts(&text, s);
		else if (type != NULL && strcmp(type, "thinking") == 0 &&
		    (s = xlate_str(b, "thinking")) != NULL)
			xlate_buf_puts(&think, s);
		else if (type != NULL && strcmp(type, "tool_use") == 0) {
			if (!xc_call(calls, b))
				goto out;
		} else if (type == NULL || strcmp(type, "redacted_thinking") != 0)
			xlate_warn_add(&c->warn, "server tool blocks dropped");
	}
	if (text.err != QP_OK || think.err != QP_OK || (reply = cJSON_CreateObject()) == NULL)
		goto out;
	snprintf(cid, sizeof(cid), "chatcmpl-%s", id != NULL ? id : "0");
	cJSON_AddStringToObject(reply, "id", cid);
	cJSON_AddStringToObject(reply, "object", "chat.completion");
	cJSON_AddNumberToObject(reply, "created", (double)c->created);
	cJSON_AddStringToObject(reply, "model", c->client_model != NULL ? c->client_model : "");
	if ((choices = cJSON_AddArrayToObject(reply, "choices")) == NULL ||
	    (ch = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddItemToArray(choices, ch);
	cJSON_AddNumberToObject(ch, "index", 0);
	if ((m = cJSON_AddObjectToObject(ch, "message")) == NULL)
		goto out;
	cJSON_AddStringToObject(m, "role", "assistant");
	if (text.len > 0)
		cJSON_AddStringToObject(m, "content", text.p);
	else
		cJSON_AddNullToObject(m, "content");
	if (think.len > 0)
		cJSON_AddStringToObject(m, "reasoning_content", think.p);
	cJSON_AddNullToObject(m, "refusal");
	if (cJSON_GetArraySize(calls) > 0) {
		cJSON_AddItemToObject(m, "tool_calls", calls);
		calls = NULL;
	}
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddStringToObject(ch, "finish_reason",
	    xlate_finish_from_messages(xlate_str(msg, "stop_reason")));
	xlate_usage_init(&u);
	xlate_usage_from_messages(&u, json_member(msg, "usage"));
	if (!cJSON_AddItemToObject(reply, "usage", xlate_usage_chat(&u)))
		goto out;
	*out = reply;
	reply = NULL;
	err = QP_OK;
out:
	cJSON_Delete(reply);
	cJSON_Delete(calls);
	xlate_buf_free(&text);
	xlate_buf_free(&think);
	return err;
}

/* ---- stream: Messages events to chat chunks ---------------------------------- */

/* The kind of the content block the provider is streaming. */
enum xc_block {
	XC_NONE,	/* none, or one with no chat form */
	XC_TEXT,	/* text: content */
	XC_THINKING,	/* thinking: reasoning_content */
	XC_TOOL,	/* tool_use: tool_calls[] */
};

struct xlate_chat_stream {
	struct xlate_out *o;		/* the client's side */
	char		*model;		/* model named to the client */
	char		 id[XC_ID_MAX + 1]; /* completion id */
	int64_t		 created;	/* the chunks' created time */
	int		 include_usage;	/* 1: usage chunk before [DONE] */
	int		 started;	/* 1 once the role chunk is out */
	enum xc_block	 block;		/* the current block's kind */
	int64_t		 block_index;	/* and its Messages index */
	int		 tool;		/* chat index of the current tool call */
	int		 ntools;	/* tool calls so far */
	char		 finish[32];	/* finish_reason sent, "" while none */
	struct xlate_usage usage;	/* as reported so far */
	int		 done;		/* 1 once [DONE] is out */
	int		 failed;	/* 1 once an error chunk is out */
	enum qp_err	 err;		/* sticky error */
};

struct xlate_chat_stream *
xlate_chat_stream_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	struct xlate_chat_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->model = strdup(c->client_model != NULL ? c->client_model : "")) == NULL) {
		free(s);
		return NULL;
	}
	s->o = o;
	s->created = c->created;
	s->include_usage = c->include_usage;
	xlate_usage_init(&s->usage);
	snprintf(s->id, sizeof(s->id), "chatcmpl-%lld", (long long)c->created);
	return s;
}

void
xlate_chat_stream_free(struct xlate_chat_stream *s)
{

	if (s == NULL)
		return;
	free(s->model);
	free(s);
}

/* Begins a chunk, up to the choices array. */
static void
xc_chunk_head(struct xlate_chat_stream *s)
{
	struct xlate_buf *b = &s->o->b;

	xlate_out_begin(s->o, NULL);
	xlate_buf_puts(b, "{\"id\":");
	xlate_buf_jstr(b, s->id, strlen(s->id));
	xlate_buf_puts(b, ",\"object\":\"chat.completion.chunk\",\"created\":");
	xlate_buf_int(b, s->created);
	xlate_buf_puts(b, ",\"model\":");
	xlate_buf_jstr(b, s->model, strlen(s->model));
	xlate_buf_puts(b, ",\"choices\":[");
}

/* Begins a chunk of one choice, up to the inside of its delta. */
static void
xc_chunk_begin(struct xlate_chat_stream *s)
{

	xc_chunk_head(s);
	xlate_buf_puts(&s->o->b, "{\"index\":0,\"delta\":{");
}

/* Ends a chunk begun by xc_chunk_begin(), with finish (NULL: none). */
static void
xc_chunk_end(struct xlate_chat_stream *s, const char *finish)
{
	struct xlate_buf *b = &s->o->b;

	xlate_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
	if (finish != NULL) {
		xlate_buf_puts(b, "\"");
		xlate_buf_puts(b, finish);
		xlate_buf_puts(b, "\"");
	} else
		xlate_buf_puts(b, "null");
	xlate_buf_puts(b, s->include_usage ? "}],\"usage\":null}" : "}]}");
	xlate_out_end(s->o);
}

/* Writes the first chunk: the role. */
static void
xc_start(struct xlate_chat_stream *s)
{

	xc_chunk_begin(s);
	xlate_buf_puts(&s->o->b, "\"role\":\"assistant\",\"content\":\"\"");
	xc_chunk_end(s, NULL);
	s->started = 1;
}

/* Writes a chunk whose delta holds key: text. */
static void
xc_text_chunk(struct xlate_chat_stream *s, const char *key, const char *text)
{

	if (!s->started)
		xc_start(s);
	xc_chunk_begin(s);
	xlate_buf_puts(&s->o->b, "\"");
	xlate_buf_puts(&s->o->b, key);
	xlate_buf_puts(&s->o->b, "\":");
	xlate_buf_jstr(&s->o->b, text, strlen(text));
	xc_chunk_end(s, NULL);
}

/* Writes a tool_calls chunk: the call's start (id and name given) or an argument fragment. */
static void
xc_tool_chunk(struct xlate_chat_stream *s, const char *id, const char *name, const char *args)
{
	struct xlate_buf *b = &s->o->b;

	if (!s->started)
		xc_start(s);
	xc_chunk_begin(s);
	xlate_buf_puts(b, "\"tool_calls\":[{\"index\":");
	xlate_buf_int(b, s->tool);
	if (id != NULL) {
		xlate_buf_puts(b, ",\"id\":");
		xlate_buf_jstr(b, id, strlen(id));
		xlate_buf_puts(b, ",\"type\":\"function\"");
	}
	xlate_buf_puts(b, ",\"function\":{");
	if (name != NULL) {
		xlate_buf_puts(b, "\"name\":");
		xlate_buf_jstr(b, name, strlen(name));
		xlate_buf_puts(b, ",");
	}
	xlate_buf_puts(b, "\"arguments\":");
	xlate_buf_jstr(b, args, strlen(args));
	xlate_buf_puts(b, "}}]");
	xc_chunk_end(s, NULL);
}

/* Writes the usage chunk (when asked) and [DONE]. */
static void
xc_close(struct xlate_chat_stream *s)
{
	struct xlate_buf *b = &s->o->b;
	cJSON *u;

	if (!s->started)
		xc_start(s);
	if (s->finish[0] == '\0') {
		snprintf(s->finish, sizeof(s->finish), "stop");
		xc_chunk_begin(s);
		xc_chunk_end(s, s->finish);
	}
	if (s->include_usage) {
		xc_chunk_head(s);
		xlate_buf_puts(b, "],\"usage\":");
		if ((u = xlate_usage_chat(&s->usage)) == NULL && b->err == QP_OK)
			b->err = QP_ENOMEM;
		xlate_buf_json(b, u);
		cJSON_Delete(u);
		xlate_buf_puts(b, "}");
		xlate_out_end(s->o);
	}
	xlate_out_begin(s->o, NULL);
	xlate_buf_puts(b, "[DONE]");
	xlate_out_end(s->o);
	s->done = 1;
}

/* Writes a chat error chunk. */
static void
xc_error(struct xlate_chat_stream *s, int status, const char *message)
{
	cJSON *e = xlate_error_json(XLATE_API_CHAT, status, message);

	if (e == NULL) {
		s->o->b.err = QP_ENOMEM;
		return;
	}
	xlate_out_begin(s->o, NULL);
	xlate_buf_json(&s->o->b, e);
	xlate_out_end(s->o);
	cJSON_Delete(e);
	s->failed = 1;
}

/* HTTP statuses of Messages error types, for the chat error they become. */
static const struct {
	const char	*type;		/* Messages error.type */
	int		 status;	/* its status */
} xc_err_status[] = {
	{ "invalid_request_error", 400 },
	{ "authentication_error", 401 },
	{ "billing_error", 402 },
	{ "permission_error", 403 },
	{ "not_found_error", 404 },
	{ "request_too_large", 413 },
	{ "rate_limit_error", 429 },
	{ "api_error", 500 },
	{ "timeout_error", 504 },
	{ "overloaded_error", 529 },
};

/* An error event of the provider. */
static void
xc_upstream_error(struct xlate_chat_stream *s, const cJSON *ev)
{
	const char *type = xlate_str(json_member(ev, "error"), "type");
	const char *m = xlate_error_message(ev);
	int status = 500;
	size_t i;

	for (i = 0; type != NULL && i < sizeof(xc_err_status) / sizeof(xc_err_status[0]); i++)
		if (strcmp(xc_err_status[i].type, type) == 0)
			status = xc_err_status[i].status;
	xc_error(s, status, m != NULL ? m : "the provider reported an error");
}

/* content_block_start: text, thinking or a tool call; the rest has no chat form. */
static enum qp_err
xc_block_start(struct xlate_chat_stream *s, const cJSON *ev)
{
	const cJSON *cb = json_member(ev, "content_block"), *input;
	const char *type = xlate_str(cb, "type"), *text;
	char *args = NULL;

	s->block = XC_NONE;
	if (!xlate_num(ev, "index", &s->block_index))
		s->block_index = -1;
	if (type == NULL)
		return QP_OK;
	if (strcmp(type, "text") == 0) {
		s->block = XC_TEXT;
		if ((text = xlate_str(cb, "text")) != NULL && text[0] != '\0')
			xc_text_chunk(s, "content", text);
	} else if (strcmp(type, "thinking") == 0) {
		s->block = XC_THINKING;
		if ((text = xlate_str(cb, "thinking")) != NULL && text[0] != '\0')
			xc_text_chunk(s, "reasoning_content", text);
	} else if (strcmp(type, "tool_use") == 0) {
		if (s->ntools == QP_XLATE_TOOLS_MAX)
			return QP_ETOOBIG;
		s->block = XC_TOOL;
		s->tool = s->ntools++;
		/* A provider that gives the whole input here sends no fragments. */
		input = json_member(cb, "input");
		if (cJSON_IsObject(input) && input->child != NULL &&
		    (args = cJSON_PrintUnformatted(input)) == NULL)
			return QP_ENOMEM;
		xc_tool_chunk(s, xlate_str(cb, "id") != NULL ? xlate_str(cb, "id") : "",
		    xlate_str(cb, "name") != NULL ? xlate_str(cb, "name") : "",
		    args != NULL ? args : "");
		free(args);
	} else if (strcmp(type, "redacted_thinking") != 0)
		xlate_warn_add(&s->o->warn, "server tool blocks dropped");
	return QP_OK;
}

/* content_block_delta of the current block. */
static void
xc_block_delta(struct xlate_chat_stream *s, const cJSON *ev)
{
	const cJSON *d = json_member(ev, "delta");
	const char *type = xlate_str(d, "type"), *text;
	int64_t index = -1;

	xlate_num(ev, "index", &index);
	if (type == NULL || index != s->block_index)
		return;
	if (s->block == XC_TEXT && strcmp(type, "text_delta") == 0 &&
	    (text = xlate_str(d, "text")) != NULL && text[0] != '\0')
		xc_text_chunk(s, "content", text);
	else if (s->block == XC_THINKING && strcmp(type, "thinking_delta") == 0 &&
	    (text = xlate_str(d, "thinking")) != NULL && text[0] != '\0')
		xc_text_chunk(s, "reasoning_content", text);
	else if (s->block == XC_TOOL && strcmp(type, "input_json_delta") == 0 &&
	    (text = xlate_str(d, "partial_json")) != NULL && text[0] != '\0')
		xc_tool_chunk(s, NULL, NULL, text);
}

/* message_delta: the stop reason (its finish chunk) and usage. */
static void
xc_message_delta(struct xlate_chat_stream *s, const cJSON *ev)
{
	const char *stop = xlate_str(json_member(ev, "delta"), "stop_reason");

	xlate_usage_from_messages(&s->usage, json_member(ev, "usage"));
	if (stop == NULL || s->finish[0] != '\0')
		return;
	if (!s->started)
		xc_start(s);
	snprintf(s->finish, sizeof(s->finish), "%s", xlate_finish_from_messages(stop));
	xc_chunk_begin(s);
	xc_chunk_end(s, s->finish);
}

/* Ends the call with err sticking, or flushes what the event produced. */
static enum qp_err
xc_end(struct xlate_chat_stream *s, enum qp_err err)
{

	if (err == QP_ETOOBIG || err == QP_ENOMEM) {
		xlate_buf_clear(&s->o->b);
		if (!s->failed)
			xc_error(s, 500, err == QP_ETOOBIG ?
			    "the answer exceeded a bound of the translation" : "out of memory");
		xlate_out_flush(s->o);
		s->err = err;
		return err;
	}
	if (err == QP_OK)
		err = xlate_out_flush(s->o);
	if (err != QP_OK)
		s->err = err;
	return err;
}

enum qp_err
xlate_chat_stream_event(struct xlate_chat_stream *s, const char *event, size_t event_len,
    const char *data, size_t len)
{
	enum qp_err err = QP_OK;
	const char *type, *id;
	const cJSON *m;
	cJSON *ev;

	if (s->err != QP_OK)
		return s->err;
	if (s->done || s->failed)
		return QP_OK;
	if ((ev = json_parse(data, len, &err)) == NULL || (type = xlate_str(ev, "type")) == NULL) {
		cJSON_Delete(ev);
		s->o->bad++;
		return QP_OK;
	}
	err = QP_OK;
	if (strcmp(type, "message_start") == 0) {
		m = json_member(ev, "message");
		if ((id = xlate_str(m, "id")) != NULL)
			snprintf(s->id, sizeof(s->id), "chatcmpl-%s", id);
		xlate_usage_from_messages(&s->usage, json_member(m, "usage"));
		if (!s->started)
			xc_start(s);
	} else if (strcmp(type, "content_block_start") == 0)
		err = xc_block_start(s, ev);
	else if (strcmp(type, "content_block_delta") == 0)
		xc_block_delta(s, ev);
	else if (strcmp(type, "content_block_stop") == 0)
		s->block = XC_NONE;
	else if (strcmp(type, "message_delta") == 0)
		xc_message_delta(s, ev);
	else if (strcmp(type, "message_stop") == 0)
		xc_close(s);
	else if (strcmp(type, "error") == 0)
		xc_upstream_error(s, ev);
	else if (strcmp(type, "ping") != 0)
		s->o->bad++;
	cJSON_Delete(ev);
	(void)event;
	(void)event_len;
	return xc_end(s, err);
}

enum qp_err
xlate_chat_stream_finish(struct xlate_chat_stream *s, int clean)
{

	if (s->err != QP_OK)
		return s->err;
	if (s->failed)
		return QP_EUPSTREAM;
	if (s->done)
		return QP_OK;
	if (clean && s->finish[0] != '\0') {
		xc_close(s);
		return xc_end(s, QP_OK);
	}
	xc_error(s, 502, "the provider's stream ended before the answer was complete");
	xc_end(s, QP_OK);
	return s->err != QP_OK ? s->err : QP_EUPSTREAM;
}
