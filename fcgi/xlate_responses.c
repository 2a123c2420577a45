/* xlate_responses.c: an OpenAI Responses client (stateless) served by a chat provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "json.h"
#include "xlate.h"
#include "xlate_responses.h"

/* Longest response id or item id base kept. */
#define XR_ID_MAX	127

/* ---- request: Responses to chat ----------------------------------------------- */

/* Building one chat request. */
struct xr_req {
	struct xlate_ctx *c;		/* the request's context */
	cJSON		*msgs;		/* the chat messages being built */
	char		*reasoning;	/* reasoning text for the next assistant message */
};

/* Fields that need stored state, refused with their reason. */
static const struct {
	const char	*key;		/* Responses field */
	const char	*why;		/* the 400 message */
} xr_stateful[] = {
	{ "previous_response_id", "previous_response_id is not supported: this gateway keeps "
	    "no responses (it is stateless); send the whole conversation in input" },
	{ "conversation", "conversation is not supported: this gateway keeps no conversations "
	    "(it is stateless); send the whole conversation in input" },
	{ "prompt", "prompt templates are not supported: send instructions and input" },
	{ "background", "background responses are not supported: this gateway keeps no "
	    "responses" },
};

/*
 * Adds {"role": role, "content": content} to the messages; content is
 * taken. Pending reasoning that no assistant message took is dropped:
 * it belongs to no answer. NULL: no memory.
 */
static cJSON *
xr_add_msg(struct xr_req *q, const char *role, cJSON *content)
{
	cJSON *m;

	if (strcmp(role, "assistant") != 0 && q->reasoning != NULL) {
		free(q->reasoning);
		q->reasoning = NULL;
	}

	if (content == NULL || (m = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(content);
		return NULL;
	}
	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddItemToObject(m, "content", content);
	cJSON_AddItemToArray(q->msgs, m);
	return m;
}

/* Gives the pending reasoning text to the assistant message m. */
static int
xr_take_reasoning(struct xr_req *q, cJSON *m)
{

	if (q->reasoning == NULL)
		return 1;
	if (cJSON_AddStringToObject(m, "reasoning_content", q->reasoning) == NULL)
		return 0;
	free(q->reasoning);
	q->reasoning = NULL;
	return 1;
}

/* Returns the last message if it is the assistant's, else a new one; NULL: no memory. */
static cJSON *
xr_assistant(struct xr_req *q)
{
	cJSON *last = cJSON_GetArrayItem(q->msgs, cJSON_GetArraySize(q->msgs) - 1);
	const char *role = xlate_str(last, "role");

	if (role == NULL || strcmp(role, "assistant") != 0)
		last = xr_add_msg(q, "assistant", cJSON_CreateNull());
	if (last == NULL || !xr_take_reasoning(q, last))
		return NULL;
	return last;
}

/* Adds a chat image_url part for an input_image part. 0: no memory. */
static int
xr_image(struct xr_req *q, const cJSON *part, cJSON *parts)
{
	const char *url = xlate_str(part, "image_url"), *detail = xlate_str(part, "detail");
	cJSON *p, *iu;

	if (url == NULL) {
		xlate_warn_add(&q->c->warn, "images by file_id dropped");
		return 1;
	}
	if ((p = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddItemToArray(parts, p);
	cJSON_AddStringToObject(p, "type", "image_url");
	if ((iu = cJSON_AddObjectToObject(p, "image_url")) == NULL)
		return 0;
	cJSON_AddStringToObject(iu, "url", url);
	if (detail != NULL && strcmp(detail, "original") != 0)
		cJSON_AddStringToObject(iu, "detail", detail);
	return 1;
}

/* A user message: text and image parts (a string when one text). 1, 0 no memory, -1 invalid. */
static int
xr_user(struct xr_req *q, const cJSON *content)
{
	const cJSON *part;
	const char *type, *text;
	cJSON *parts, *p;

	if (cJSON_IsString(content))
		return xr_add_msg(q, "user", cJSON_CreateString(content->valuestring)) != NULL;
	if (!cJSON_IsArray(content)) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "message content must be a string or an array of parts");
		return -1;
	}
	if ((parts = cJSON_CreateArray()) == NULL)
		return 0;
	cJSON_ArrayForEach(part, content) {
		type = xlate_str(part, "type");
		text = xlate_str(part, "text");
		if (type != NULL && text != NULL && (strcmp(type, "input_text") == 0 ||
		    strcmp(type, "output_text") == 0 || strcmp(type, "text") == 0)) {
			if ((p = cJSON_CreateObject()) == NULL)
				goto nomem;
			cJSON_AddItemToArray(parts, p);
			cJSON_AddStringToObject(p, "type", "text");
			cJSON_AddStringToObject(p, "text", text);
		} else if (type != NULL && strcmp(type, "input_image") == 0) {
			if (!xr_image(q, part, parts))
				goto nomem;
		} else
			xlate_warn_add(&q->c->warn, "file and audio inputs dropped");
	}
	if (cJSON_GetArraySize(parts) == 1 && (text = xlate_str(parts->child, "text")) != NULL) {
		p = cJSON_CreateString(text);
		cJSON_Delete(parts);
		return xr_add_msg(q, "user", p) != NULL;
	}
	if (cJSON_GetArraySize(parts) == 0) {
		cJSON_Delete(parts);
		return 1;
	}
	return xr_add_msg(q, "user", parts) != NULL;
nomem:
	cJSON_Delete(parts);
	return 0;
}

/* A message item of any role. 1, 0 no memory, -1 invalid. */
static int
xr_message(struct xr_req *q, const cJSON *item)
{
	const char *role = xlate_str(item, "role"), *r;
	const cJSON *content = json_member(item, "content"), *part;
	struct xlate_buf b = { 0 };
	unsigned other = 0;
	char *text;
	cJSON *m;

	if (role == NULL) {
		snprintf(q->c->why, sizeof(q->c->why), "an input message needs a role");
		return -1;
	}
	if (strcmp(role, "user") == 0)
		return xr_user(q, content);
	if (strcmp(role, "system") != 0 && strcmp(role, "developer") != 0 &&
	    strcmp(role, "assistant") != 0) {
		snprintf(q->c->why, sizeof(q->c->why), "an input message's role must be user, "
		    "assistant, system or developer");
		return -1;
	}
	if ((text = xlate_join_text(content, strcmp(role, "assistant") == 0 ? "" : "\n\n",
	    &other)) == NULL)
		return 0;
	xlate_buf_puts(&b, text);
	free(text);
	/* A refusal the assistant gave is part of what it said. */
	cJSON_ArrayForEach(part, xlate_array(content))
		if ((r = xlate_str(part, "refusal")) != NULL) {
			xlate_buf_puts(&b, r);
			other--;
		}
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text message content dropped");
	if (b.err != QP_OK) {
		xlate_buf_free(&b);
		return 0;
	}
	if (strcmp(role, "assistant") == 0) {
		m = xr_add_msg(q, "assistant", cJSON_CreateString(b.p));
		xlate_buf_free(&b);
		return m != NULL && xr_take_reasoning(q, m);
	}
	m = xr_add_msg(q, "system", cJSON_CreateString(b.p));
	xlate_buf_free(&b);
	return m != NULL;
}

/* A function_call item: a tool call of the assistant. */
static int
xr_function_call(struct xr_req *q, const cJSON *item)
{
	const char *id = xlate_str(item, "call_id"), *name = xlate_str(item, "name");
	const char *args = xlate_str(item, "arguments");
	cJSON *m, *calls, *call, *fn;

	if (id == NULL || name == NULL) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "a function_call needs a call_id and a name");
		return -1;
	}
	if ((m = xr_assistant(q)) == NULL)
		return 0;
	if ((calls = json_member(m, "tool_calls")) == NULL &&
	    (calls = cJSON_AddArrayToObject(m, "tool_calls")) == NULL)
		return 0;
	if ((call = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddItemToArray(calls, call);
	cJSON_AddStringToObject(call, "id", id);
	cJSON_AddStringToObject(call, "type", "function");
	if ((fn = cJSON_AddObjectToObject(call, "function")) == NULL)
		return 0;
	cJSON_AddStringToObject(fn, "name", name);
	return cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}") != NULL;
}

/* A function_call_output item: a tool message. */
static int
xr_function_output(struct xr_req *q, const cJSON *item)
{
	const char *id = xlate_str(item, "call_id");
	unsigned other = 0;
	cJSON *m;
	char *text;

	if (id == NULL) {
		snprintf(q->c->why, sizeof(q->c->why), "a function_call_output needs a call_id");
		return -1;
	}
	if ((text = xlate_join_text(json_member(item, "output"), "\n", &other)) == NULL)
		return 0;
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text function output dropped");
	m = xr_add_msg(q, "tool", cJSON_CreateString(text));
	free(text);
	return m != NULL && cJSON_AddStringToObject(m, "tool_call_id", id) != NULL;
}

/* A reasoning item: its reasoning text goes with the next assistant message. */
static int
xr_reasoning(struct xr_req *q, const cJSON *item)
{
	const cJSON *part;
	struct xlate_buf b = { 0 };
	const char *text;

	if (q->reasoning != NULL)
		xlate_buf_puts(&b, q->reasoning);
	cJSON_ArrayForEach(part, xlate_array(json_member(item, "content")))
		if ((text = xlate_str(part, "text")) != NULL)
			xlate_buf_puts(&b, text);
	if (b.err != QP_OK) {
		xlate_buf_free(&b);
		return 0;
	}
	if (b.len > 0) {
		free(q->reasoning);
		q->reasoning = b.p;
	} else
		xlate_buf_free(&b);
	return 1;
}

/* Input item types and what becomes of them. */
static const struct {
	const char	*type;		/* item type */
	int		(*fn)(struct xr_req *, const cJSON *); /* NULL: dropped */
	const char	*warning;	/* the reason when dropped (NULL: silently) */
} xr_items[] = {
	{ "message", xr_message, NULL },
	{ "function_call", xr_function_call, NULL },
	{ "function_call_output", xr_function_output, NULL },
	{ "reasoning", xr_reasoning, NULL },
	{ "compaction", NULL, "compaction items dropped" },
};

/* instructions and input. 1, 0 no memory, -1 invalid (c->why set). */
static int
xr_input(struct xr_req *q, const cJSON *req)
{
	const cJSON *input = json_member(req, "input"), *item;
	const char *ins = xlate_str(req, "instructions"), *type;
	size_t i;
	int r, n = 0;

	if (ins != NULL && xr_add_msg(q, "system", cJSON_CreateString(ins)) == NULL)
		return 0;
	if (cJSON_IsString(input))
		return xr_add_msg(q, "user", cJSON_CreateString(input->valuestring)) != NULL;
	if (!cJSON_IsArray(input)) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "input must be a string or an array of items");
		return -1;
	}
	cJSON_ArrayForEach(item, input) {
		type = xlate_str(item, "type");
		if (type == NULL && xlate_str(item, "role") != NULL)
			type = "message";
		if (type != NULL && strcmp(type, "item_reference") == 0) {
			snprintf(q->c->why, sizeof(q->c->why), "input[%d]: item_reference is not "
			    "supported: this gateway keeps no items; send the item itself", n);
			return -1;
		}
		for (i = 0; type != NULL && i < sizeof(xr_items) / sizeof(xr_items[0]); i++)
			if (strcmp(xr_items[i].type, type) == 0)
				break;
		if (type == NULL) {
			snprintf(q->c->why, sizeof(q->c->why), "input[%d] has no type", n);
			return -1;
		}
		if (i == sizeof(xr_items) / sizeof(xr_items[0]))
			xlate_warn_add(&q->c->warn, "items other than messages and function calls "
			    "dropped");
		else if (xr_items[i].fn == NULL)
			xlate_warn_add(&q->c->warn, xr_items[i].warning);
		else if ((r = xr_items[i].fn(q, item)) != 1)
			return r;
		n++;
	}
	return 1;
}

/* tools: function tools; the others have no chat form. */
static int
xr_tools(struct xr_req *q, const cJSON *tools, cJSON *body)
{
	const cJSON *t, *params;
	const char *type, *name, *desc;
	cJSON *out, *ft, *fn;

	if (!cJSON_IsArray(tools))
		return 1;
	if ((out = cJSON_AddArrayToObject(body, "tools")) == NULL)
		return 0;
	cJSON_ArrayForEach(t, tools) {
		type = xlate_str(t, "type");
		if (type == NULL || strcmp(type, "function") != 0 ||
		    (name = xlate_str(t, "name")) == NULL) {
			xlate_warn_add(&q->c->warn, "tools other than functions dropped");
			continue;
		}
		if ((ft = cJSON_CreateObject()) == NULL)
			return 0;
		cJSON_AddItemToArray(out, ft);
		cJSON_AddStringToObject(ft, "type", "function");
		if ((fn = cJSON_AddObjectToObject(ft, "function")) == NULL)
			return 0;
		cJSON_AddStringToObject(fn, "name", name);
		if ((desc = xlate_str(t, "description")) != NULL)
			cJSON_AddStringToObject(fn, "description", desc);
		if (cJSON_IsObject(params = json_member(t, "parameters")) &&
		    !xlate_copy(fn, t, "parameters"))
			return 0;
		if (cJSON_IsBool(json_member(t, "strict")) && !xlate_copy(fn, t, "strict"))
			return 0;
	}
	if (cJSON_GetArraySize(out) == 0)
		cJSON_DeleteItemFromObject(body, "tools");
	else
		q->c->tools = 1;
	return 1;
}

/* tool_choice and parallel_tool_calls. */
static int
xr_tool_choice(struct xr_req *q, const cJSON *req, cJSON *body)
{
	const cJSON *tc = json_member(req, "tool_choice");
	const char *type = xlate_str(tc, "type"), *name = xlate_str(tc, "name");
	const char *mode = xlate_str(tc, "mode");
	cJSON *o, *fn;

	if (!q->c->tools)
		return 1;
	if (cJSON_IsBool(json_member(req, "parallel_tool_calls")) &&
	    !xlate_copy(body, req, "parallel_tool_calls"))
		return 0;
	if (cJSON_IsString(tc))
		return cJSON_AddStringToObject(body, "tool_choice", tc->valuestring) != NULL;
	if (type != NULL && strcmp(type, "function") == 0 && name != NULL) {
		if ((o = cJSON_AddObjectToObject(body, "tool_choice")) == NULL)
			return 0;
		cJSON_AddStringToObject(o, "type", "function");
		if ((fn = cJSON_AddObjectToObject(o, "function")) == NULL)
			return 0;
		return cJSON_AddStringToObject(fn, "name", name) != NULL;
	}
	if (type != NULL && strcmp(type, "allowed_tools") == 0 && mode != NULL) {
		xlate_warn_add(&q->c->warn, "allowed_tools list dropped");
		return cJSON_AddStringToObject(body, "tool_choice", mode) != NULL;
	}
	if (tc != NULL && !cJSON_IsNull(tc))
		xlate_warn_add(&q->c->warn, "unknown tool_choice dropped");
	return 1;
}

/* reasoning.effort as reasoning_effort. */
static int
xr_reasoning_param(struct xr_req *q, const cJSON *v, cJSON *body)
{
	const char *effort = xlate_str(v, "effort");

	return effort == NULL || cJSON_AddStringToObject(body, "reasoning_effort", effort) != NULL;
}

/* text.format as response_format. */
static int
xr_text(struct xr_req *q, const cJSON *v, cJSON *body)
{
	const cJSON *fmt = json_member(v, "format");
	const char *type = xlate_str(fmt, "type");
	cJSON *rf, *js;

	if (type == NULL || strcmp(type, "text") == 0)
		return 1;
	if ((rf = cJSON_AddObjectToObject(body, "response_format")) == NULL)
		return 0;
	if (strcmp(type, "json_object") == 0)
		return cJSON_AddStringToObject(rf, "type", "json_object") != NULL;
	if (strcmp(type, "json_schema") != 0) {
		cJSON_DeleteItemFromObject(body, "response_format");
		xlate_warn_add(&q->c->warn, "unknown text.format dropped");
		return 1;
	}
	cJSON_AddStringToObject(rf, "type", "json_schema");
	if ((js = cJSON_AddObjectToObject(rf, "json_schema")) == NULL)
		return 0;
	cJSON_AddStringToObject(js, "name", xlate_str(fmt, "name") != NULL ?
	    xlate_str(fmt, "name") : "output");
	return xlate_copy(js, fmt, "description") && xlate_copy(js, fmt, "schema") &&
	    xlate_copy(js, fmt, "strict");
}

/* store: nothing is stored here. */
static int
xr_store(struct xr_req *q, const cJSON *v, cJSON *body)
{

	if (cJSON_IsTrue(v))
		xlate_warn_add(&q->c->warn, "store dropped: responses are not kept");
	return 1;
}

/* One top-level request field: how it is sent to a chat provider. */
enum xr_how {
	XR_HANDLED,	/* read elsewhere */
	XR_SAME,	/* copied under the same name */
	XR_SILENT,	/* dropped: a hint the provider does without */
	XR_WARN,	/* dropped with a warning */
	XR_FN,		/* converted by fn */
};

static const struct {
	const char	*key;		/* Responses field */
	enum xr_how	 how;		/* what happens to it */
	const char	*warning;	/* XR_WARN: the reason */
	int		(*fn)(struct xr_req *, const cJSON *, cJSON *);
} xr_fields[] = {
	{ "model", XR_HANDLED, NULL, NULL },
	{ "input", XR_HANDLED, NULL, NULL },
	{ "instructions", XR_HANDLED, NULL, NULL },
	{ "stream", XR_HANDLED, NULL, NULL },
	{ "tools", XR_HANDLED, NULL, NULL },
	{ "tool_choice", XR_HANDLED, NULL, NULL },
	{ "parallel_tool_calls", XR_HANDLED, NULL, NULL },
	{ "max_output_tokens", XR_HANDLED, NULL, NULL },
	{ "previous_response_id", XR_HANDLED, NULL, NULL },
	{ "conversation", XR_HANDLED, NULL, NULL },
	{ "prompt", XR_HANDLED, NULL, NULL },
	{ "background", XR_HANDLED, NULL, NULL },
	{ "temperature", XR_SAME, NULL, NULL },
	{ "top_p", XR_SAME, NULL, NULL },
	{ "user", XR_SAME, NULL, NULL },
	{ "reasoning", XR_FN, NULL, xr_reasoning_param },
	{ "text", XR_FN, NULL, xr_text },
	{ "store", XR_FN, NULL, xr_store },
	{ "top_logprobs", XR_WARN, "logprobs dropped", NULL },
	{ "max_tool_calls", XR_WARN, "max_tool_calls dropped", NULL },
	{ "include", XR_SILENT, NULL, NULL },
	{ "prompt_cache_key", XR_SILENT, NULL, NULL },
	{ "prompt_cache_retention", XR_SILENT, NULL, NULL },
	{ "prompt_cache_options", XR_SILENT, NULL, NULL },
	{ "client_metadata", XR_SILENT, NULL, NULL },
	{ "metadata", XR_SILENT, NULL, NULL },
	{ "truncation", XR_SILENT, NULL, NULL },
	{ "service_tier", XR_SILENT, NULL, NULL },
	{ "safety_identifier", XR_SILENT, NULL, NULL },
	{ "stream_options", XR_SILENT, NULL, NULL },
	{ "context_management", XR_SILENT, NULL, NULL },
	{ "moderation", XR_SILENT, NULL, NULL },
};

/* Adds a copy of req's key to echo, or dflt (taken; NULL: JSON null) when absent. */
static int
xr_echo_one(cJSON *echo, const cJSON *req, const char *key, cJSON *dflt)
{
	const cJSON *v = json_member(req, key);

	if (v != NULL && !cJSON_IsNull(v)) {
		cJSON_Delete(dflt);
		return xlate_copy(echo, req, key);
	}
	if (dflt == NULL)
		dflt = cJSON_CreateNull();
	return cJSON_AddItemToObject(echo, key, dflt);
}

/* The request's settings that Response objects repeat, as compact JSON in c->echo. */
static int
xr_echo(struct xlate_ctx *c, const cJSON *req)
{
	const cJSON *rs = json_member(req, "reasoning");
	cJSON *echo, *r, *t;
	char *s;
	size_t len;
	int ok;

	if ((echo = cJSON_CreateObject()) == NULL)
		return 0;
	ok = xr_echo_one(echo, req, "instructions", NULL) &&
	    xr_echo_one(echo, req, "max_output_tokens", NULL) &&
	    xr_echo_one(echo, req, "parallel_tool_calls", cJSON_CreateTrue());
	if (ok && (r = cJSON_AddObjectToObject(echo, "reasoning")) != NULL) {
		ok = xr_echo_one(r, rs, "effort", NULL) && xr_echo_one(r, rs, "summary", NULL);
	} else
		ok = 0;
	cJSON_AddFalseToObject(echo, "store");
	ok = ok && xr_echo_one(echo, req, "temperature", NULL);
	if (ok && json_member(req, "text") == NULL) {
		if ((t = cJSON_AddObjectToObject(echo, "text")) == NULL ||
		    (t = cJSON_AddObjectToObject(t, "format")) == NULL)
			ok = 0;
		else
			cJSON_AddStringToObject(t, "type", "text");
	} else
		ok = ok && xr_echo_one(echo, req, "text", NULL);
	ok = ok && xr_echo_one(echo, req, "tool_choice", cJSON_CreateString("auto")) &&
	    xr_echo_one(echo, req, "tools", cJSON_CreateArray()) &&
	    xr_echo_one(echo, req, "top_p", NULL) &&
	    xr_echo_one(echo, req, "truncation", cJSON_CreateString("disabled")) &&
	    xr_echo_one(echo, req, "user", NULL) &&
	    xr_echo_one(echo, req, "metadata", cJSON_CreateObject());
	if (ok)
		ok = xlate_print(echo, &s, &len) == QP_OK;
	cJSON_Delete(echo);
	if (ok)
		c->echo = s;
	return ok;
}

enum qp_err
xlate_responses_request(struct xlate_ctx *c, const cJSON *req, const char *model,
    cJSON **out)
{
	struct xr_req q = { c, NULL, NULL };
	const cJSON *f, *v;
	cJSON *body = NULL, *so;
	int64_t limit;
	size_t i;
	int r;

	*out = NULL;
	for (i = 0; i < sizeof(xr_stateful) / sizeof(xr_stateful[0]); i++) {
		v = json_member(req, xr_stateful[i].key);
		if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsFalse(v)) {
			snprintf(c->why, sizeof(c->why), "%s", xr_stateful[i].why);
			return QP_EINVAL;
		}
	}
	if ((body = cJSON_CreateObject()) == NULL)
		return QP_ENOMEM;
	cJSON_AddStringToObject(body, "model", model);
	if ((q.msgs = cJSON_AddArrayToObject(body, "messages")) == NULL)
		goto nomem;
	if ((r = xr_input(&q, req)) != 1) {
		free(q.reasoning);
		cJSON_Delete(body);
		return r == 0 ? QP_ENOMEM : QP_EINVAL;
	}
	if (q.reasoning != NULL) {
		xlate_warn_add(&c->warn, "reasoning after the last answer dropped");
		free(q.reasoning);
		q.reasoning = NULL;
	}
	if (!xr_tools(&q, json_member(req, "tools"), body) || !xr_tool_choice(&q, req, body))
		goto nomem;
	cJSON_ArrayForEach(f, req) {
		for (i = 0; i < sizeof(xr_fields) / sizeof(xr_fields[0]); i++)
			if (f->string != NULL && strcmp(f->string, xr_fields[i].key) == 0)
				break;
		if (i == sizeof(xr_fields) / sizeof(xr_fields[0])) {
			xlate_warn_add(&c->warn, "unknown fields dropped");
			continue;
		}
		v = json_member(req, xr_fields[i].key);
		if (v != f || cJSON_IsNull(v))
			continue;	/* a duplicate key: the last counts */
		if (xr_fields[i].how == XR_SAME &&
		    !cJSON_AddItemToObject(body, f->string, cJSON_Duplicate(v, 1)))
			goto nomem;
		if (xr_fields[i].how == XR_WARN)
			xlate_warn_add(&c->warn, xr_fields[i].warning);
		if (xr_fields[i].how == XR_FN && !xr_fields[i].fn(&q, v, body))
			goto nomem;
	}
	if ((limit = xlate_max_tokens(c, json_member(req, "max_output_tokens"), 0)) > 0)
		cJSON_AddNumberToObject(body, "max_tokens", (double)limit);
	if (c->stream) {
		cJSON_AddTrueToObject(body, "stream");
		if ((so = cJSON_AddObjectToObject(body, "stream_options")) == NULL)
			goto nomem;
		cJSON_AddTrueToObject(so, "include_usage");
	}
	if (!xr_echo(c, req))
		goto nomem;
	*out = body;
	return QP_OK;
nomem:
	cJSON_Delete(body);
	return QP_ENOMEM;
}

/* ---- Response objects and output items ----------------------------------------- */

/* What every Response object of one answer holds. */
struct xr_head {
	const char	*id;		/* resp_... */
	int64_t		 created;	/* created_at */
	const char	*model;		/* the client's model */
	const char	*echo;		/* the request's settings, a JSON object */
};

/* Writes a message item: in progress (text NULL) or done with its text. */
static void
xr_item_message(struct xlate_buf *b, const char *id, const char *text, size_t len)
{

	xlate_buf_puts(b, "{\"id\":");
	xlate_buf_jstr(b, id, strlen(id));
	xlate_buf_puts(b, text == NULL ? ",\"type\":\"message\",\"status\":\"in_progress\"" :
	    ",\"type\":\"message\",\"status\":\"completed\"");
	xlate_buf_puts(b, ",\"role\":\"assistant\",\"content\":[");
	if (text != NULL) {
		xlate_buf_puts(b, "{\"type\":\"output_text\",\"text\":");
		xlate_buf_jstr(b, text, len);
		xlate_buf_puts(b, ",\"annotations\":[]}");
	}
	xlate_buf_puts(b, "]}");
}

/* Writes a reasoning item: in progress (text NULL) or done with its text. */
static void
xr_item_reasoning(struct xlate_buf *b, const char *id, const char *text, size_t len)
{

	xlate_buf_puts(b, "{\"id\":");
	xlate_buf_jstr(b, id, strlen(id));
	xlate_buf_puts(b, ",\"type\":\"reasoning\",\"summary\":[],\"content\":[");
	if (text != NULL) {
		xlate_buf_puts(b, "{\"type\":\"reasoning_text\",\"text\":");
		xlate_buf_jstr(b, text, len);
		xlate_buf_puts(b, "}");
	}
	xlate_buf_puts(b, "]}");
}

/* Writes a function_call item: in progress (args NULL) or done with its arguments. */
static void
xr_item_call(struct xlate_buf *b, const char *id, const char *call_id, const char *name,
    const char *args, size_t len)
{

	xlate_buf_puts(b, "{\"id\":");
	xlate_buf_jstr(b, id, strlen(id));
	xlate_buf_puts(b, args == NULL ? ",\"type\":\"function_call\",\"status\":\"in_progress\"" :
	    ",\"type\":\"function_call\",\"status\":\"completed\"");
	xlate_buf_puts(b, ",\"call_id\":");
	xlate_buf_jstr(b, call_id, strlen(call_id));
	xlate_buf_puts(b, ",\"name\":");
	xlate_buf_jstr(b, name, strlen(name));
	xlate_buf_puts(b, ",\"arguments\":");
	xlate_buf_jstr(b, args != NULL ? args : "", args != NULL ? len : 0);
	xlate_buf_puts(b, "}");
}

/* The Response status and incomplete reason of a chat finish_reason. */
static const struct {
	const char	*finish;	/* chat finish_reason */
	const char	*status;	/* Response status */
	const char	*reason;	/* incomplete_details.reason, NULL for none */
} xr_statuses[] = {
	{ "length", "incomplete", "max_output_tokens" },
	{ "content_filter", "incomplete", "content_filter" },
};

/* Returns the status for finish, setting *reason. */
static const char *
xr_status(const char *finish, const char **reason)
{
	size_t i;

	*reason = NULL;
	for (i = 0; finish != NULL && i < sizeof(xr_statuses) / sizeof(xr_statuses[0]); i++)
		if (strcmp(xr_statuses[i].finish, finish) == 0) {
			*reason = xr_statuses[i].reason;
			return xr_statuses[i].status;
		}
	return "completed";
}

/*
 * Writes a Response object: status, an incomplete reason or an error
 * object (JSON text, or NULL), the output items (JSON text joined by
 * commas, NULL for none) and usage (NULL: null).
 */
static void
xr_response_obj(struct xlate_buf *b, const struct xr_head *h, const char *status,
    const char *reason, const char *error, const char *output, size_t output_len,
    const cJSON *usage)
{
	size_t elen = h->echo != NULL ? strlen(h->echo) : 0;

	xlate_buf_puts(b, "{\"id\":");
	xlate_buf_jstr(b, h->id, strlen(h->id));
	xlate_buf_puts(b, ",\"object\":\"response\",\"created_at\":");
	xlate_buf_int(b, h->created);
	xlate_buf_puts(b, ",\"status\":\"");
	xlate_buf_puts(b, status);
	xlate_buf_puts(b, "\",\"error\":");
	xlate_buf_puts(b, error != NULL ? error : "null");
	xlate_buf_puts(b, ",\"incomplete_details\":");
	if (reason != NULL) {
		xlate_buf_puts(b, "{\"reason\":\"");
		xlate_buf_puts(b, reason);
		xlate_buf_puts(b, "\"}");
	} else
		xlate_buf_puts(b, "null");
	xlate_buf_puts(b, ",\"model\":");
	xlate_buf_jstr(b, h->model, strlen(h->model));
	xlate_buf_puts(b, ",\"output\":[");
	if (output != NULL)
		xlate_buf_put(b, output, output_len);
	xlate_buf_puts(b, "],\"previous_response_id\":null,\"usage\":");
	xlate_buf_json(b, usage);
	/* The echoed settings: the members of the echo object. */
	if (elen > 2) {
		xlate_buf_puts(b, ",");
		xlate_buf_put(b, h->echo + 1, elen - 2);
	}
	xlate_buf_puts(b, "}");
}

/* ---- response: chat completion to Response ------------------------------------ */

/* Returns the reasoning text of a chat message or delta, or NULL. */
static const char *
xr_reasoning_text(const cJSON *m)
{
	const char *s = xlate_str(m, "reasoning_content");

	if (s == NULL || s[0] == '\0')
		s = xlate_str(m, "reasoning");
	return s != NULL && s[0] != '\0' ? s : NULL;
}

enum qp_err
xlate_responses_response(struct xlate_ctx *c, const cJSON *chat, cJSON **out)
{
	const cJSON *choices = json_member(chat, "choices"), *ch, *m, *call, *fn;
	struct xlate_buf items = { 0 }, obj = { 0 };
	const char *s, *status, *reason, *up = xlate_str(chat, "id");
	char id[XR_ID_MAX + 1], item[2 * XR_ID_MAX];
	struct xlate_usage u;
	struct xr_head h;
	unsigned other = 0;
	cJSON *usage = NULL;
	char *text = NULL;
	enum qp_err err = QP_ENOMEM;
	int n = 0;

	*out = NULL;
	ch = cJSON_IsArray(choices) ? choices->child : NULL;
	if (!cJSON_IsObject(m = json_member(ch, "message")))
		return QP_EPARSE;
	if (cJSON_GetArraySize(choices) > 1)
		xlate_warn_add(&c->warn, "choices after the first dropped");
	snprintf(id, sizeof(id), "resp_%s", up != NULL ? up : "0");
	if ((s = xr_reasoning_text(m)) != NULL) {
		snprintf(item, sizeof(item), "rs_%s_%d", id + 5, n++);
		xr_item_reasoning(&items, item, s, strlen(s));
	}
	if ((text = xlate_join_text(json_member(m, "content"), "", &other)) == NULL)
		goto out;
	if ((s = xlate_str(m, "refusal")) != NULL && s[0] != '\0') {
		xlate_buf_puts(&obj, text);
		xlate_buf_puts(&obj, s);
		free(text);
		text = obj.err == QP_OK ? strdup(obj.p) : NULL;
		xlate_buf_free(&obj);
		if (text == NULL)
			goto out;
	}
	if (text[0] != '\0') {
		if (n > 0)
			xlate_buf_puts(&items, ",");
		snprintf(item, sizeof(item), "msg_%s_%d", id + 5, n++);
		xr_item_message(&items, item, text, strlen(text));
	}
	cJSON_ArrayForEach(call, xlate_array(json_member(m, "tool_calls"))) {
		fn = json_member(call, "function");
		if (xlate_str(fn, "name") == NULL) {
			xlate_warn_add(&c->warn, "tool call without a function dropped");
			continue;
		}
		s = xlate_str(call, "id") != NULL ? xlate_str(call, "id") : "";
		if (n++ > 0)
			xlate_buf_puts(&items, ",");
		snprintf(item, sizeof(item), "fc_%s", s);
		s = xlate_str(fn, "arguments") != NULL ? xlate_str(fn, "arguments") : "";
		xr_item_call(&items, item, xlate_str(call, "id") != NULL ?
		    xlate_str(call, "id") : "", xlate_str(fn, "name"), s, strlen(s));
	}
	status = xr_status(xlate_str(ch, "finish_reason"), &reason);
	xlate_usage_init(&u);
	xlate_usage_from_chat(&u, json_member(chat, "usage"));
	if ((usage = xlate_usage_responses(&u)) == NULL)
		goto out;
	h.id = id;
	h.created = c->created;
	h.model = c->client_model != NULL ? c->client_model : "";
	h.echo = c->echo;
	xr_response_obj(&obj, &h, status, reason, NULL, items.p, items.len, usage);
	if (items.err != QP_OK || obj.err != QP_OK)
		goto out;
	*out = json_parse(obj.p, obj.len, &err);
	if (*out == NULL && err != QP_ETOOBIG)
		err = QP_ENOMEM;
out:
	cJSON_Delete(usage);
	free(text);
	xlate_buf_free(&items);
	xlate_buf_free(&obj);
	return err;
}

/* ---- stream: chat chunks to Responses events ------------------------------------ */

/* A tool call of the answer: an open function_call item until the end. */
struct xr_call {
	int64_t		 chat_index;	/* tool_calls[].index */
	int		 out_index;	/* output_index */
	char		*call_id;	/* call id */
	char		*name;		/* function name */
	struct xlate_buf args;		/* arguments so far */
};

/* The text item open in the stream, if any. */
enum xr_open {
	XR_NONE,	/* none */
	XR_TEXT,	/* a message with output_text */
	XR_REASONING,	/* a reasoning item */
};

struct xlate_responses_stream {
	struct xlate_out *o;		/* the client's side */
	char		*model;		/* model named to the client */
	char		*echo;		/* the request's settings */
	char		 id[XR_ID_MAX + 1]; /* response id */
	int64_t		 created;	/* created_at */
	uint64_t	 seq;		/* next sequence_number */
	int		 started;	/* 1 once response.created is out */
	enum xr_open	 open;		/* the open text item */
	int		 open_index;	/* its output_index */
	char		 open_id[2 * XR_ID_MAX]; /* its id */
	struct xlate_buf text;		/* its text so far */
	struct xr_call	*calls;		/* tool calls, QP_XLATE_TOOLS_MAX at most */
	int		 ncalls;	/* used */
	int		 nout;		/* output items so far */
	struct xlate_buf done;		/* finished items as JSON, comma-joined */
	size_t		 kept;		/* bytes kept: text, arguments, done items */
	char		 finish[32];	/* finish_reason, "" while none */
	struct xlate_usage usage;	/* as reported */
	int		 finished;	/* 1 once the closing event is out */
	int		 failed;	/* 1 once response.failed is out */
	enum qp_err	 err;		/* sticky error */
};

struct xlate_responses_stream *
xlate_responses_stream_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	struct xlate_responses_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->o = o;
	s->created = c->created;
	s->model = strdup(c->client_model != NULL ? c->client_model : "");
	s->echo = strdup(c->echo != NULL ? c->echo : "{}");
	if (s->model == NULL || s->echo == NULL) {
		xlate_responses_stream_free(s);
		return NULL;
	}
	s->text.max = s->done.max = QP_XLATE_KEEP_MAX;
	xlate_usage_init(&s->usage);
	snprintf(s->id, sizeof(s->id), "resp_%lld", (long long)c->created);
	return s;
}

void
xlate_responses_stream_free(struct xlate_responses_stream *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncalls; i++) {
		free(s->calls[i].call_id);
		free(s->calls[i].name);
		xlate_buf_free(&s->calls[i].args);
	}
	free(s->calls);
	xlate_buf_free(&s->text);
	xlate_buf_free(&s->done);
	free(s->model);
	free(s->echo);
	free(s);
}

/* Begins an event of type: its name, then its data up to the type's fields. */
static void
xr_ev(struct xlate_responses_stream *s, const char *type)
{
	struct xlate_buf *b = &s->o->b;

	xlate_out_begin(s->o, type);
	xlate_buf_puts(b, "{\"type\":\"");
	xlate_buf_puts(b, type);
	xlate_buf_puts(b, "\",\"sequence_number\":");
	xlate_buf_int(b, (int64_t)s->seq++);
}

/* Ends an event. */
static void
xr_ev_end(struct xlate_responses_stream *s)
{

	xlate_buf_puts(&s->o->b, "}");
	xlate_out_end(s->o);
}

/* Writes the item address of an event: item_id and output_index (and content_index 0). */
static void
xr_ev_item(struct xlate_responses_stream *s, const char *item_id, int index, int content)
{
	struct xlate_buf *b = &s->o->b;

	xlate_buf_puts(b, ",\"item_id\":");
	xlate_buf_jstr(b, item_id, strlen(item_id));
	xlate_buf_puts(b, ",\"output_index\":");
	xlate_buf_int(b, index);
	if (content)
		xlate_buf_puts(b, ",\"content_index\":0");
}

/* Writes a lifecycle event carrying the whole Response. */
static void
xr_lifecycle(struct xlate_responses_stream *s, const char *type, const char *status,
    const char *reason, const char *error, int with_output)
{
	struct xr_head h = { s->id, s->created, s->model, s->echo };
	cJSON *usage = NULL;

	if (with_output && (usage = xlate_usage_responses(&s->usage)) == NULL &&
	    s->o->b.err == QP_OK)
		s->o->b.err = QP_ENOMEM;
	xr_ev(s, type);
	xlate_buf_puts(&s->o->b, ",\"response\":");
	xr_response_obj(&s->o->b, &h, status, reason, error, with_output ? s->done.p : NULL,
	    with_output ? s->done.len : 0, usage);
	xr_ev_end(s);
	cJSON_Delete(usage);
}

/* Writes response.created and response.in_progress. */
static void
xr_start(struct xlate_responses_stream *s)
{

	xr_lifecycle(s, "response.created", "in_progress", NULL, NULL, 0);
	xr_lifecycle(s, "response.in_progress", "in_progress", NULL, NULL, 0);
	s->started = 1;
}

/* Counts n more bytes kept; QP_ETOOBIG past the bound. */
static enum qp_err
xr_keep(struct xlate_responses_stream *s, size_t n)
{

	if (n > QP_XLATE_KEEP_MAX || s->kept > QP_XLATE_KEEP_MAX - n)
		return QP_ETOOBIG;
	s->kept += n;
	return QP_OK;
}

/* Adds a finished item (its JSON text) to the done list. */
static enum qp_err
xr_done_item(struct xlate_responses_stream *s, const char *json, size_t len)
{
	enum qp_err err;

	if ((err = xr_keep(s, len + 1)) != QP_OK)
		return err;
	if (s->done.len > 0)
		xlate_buf_puts(&s->done, ",");
	xlate_buf_put(&s->done, json, len);
	return s->done.err;
}

/* Closes the open text or reasoning item: its .done events, and the item kept. */
static enum qp_err
xr_close_open(struct xlate_responses_stream *s)
{
	struct xlate_buf *b = &s->o->b, item = { 0 };
	int reasoning = s->open == XR_REASONING;
	enum qp_err err;

	if (s->open == XR_NONE)
		return QP_OK;
	item.max = QP_XLATE_KEEP_MAX + 1024;
	if (reasoning)
		xr_item_reasoning(&item, s->open_id, s->text.p != NULL ? s->text.p : "",
		    s->text.len);
	else
		xr_item_message(&item, s->open_id, s->text.p != NULL ? s->text.p : "", s->text.len);
	xr_ev(s, reasoning ? "response.reasoning_text.done" : "response.output_text.done");
	xr_ev_item(s, s->open_id, s->open_index, 1);
	xlate_buf_puts(b, ",\"text\":");
	xlate_buf_jstr(b, s->text.p != NULL ? s->text.p : "", s->text.len);
	if (!reasoning)
		xlate_buf_puts(b, ",\"logprobs\":[]");
	xr_ev_end(s);
	xr_ev(s, "response.content_part.done");
	xr_ev_item(s, s->open_id, s->open_index, 1);
	xlate_buf_puts(b, reasoning ? ",\"part\":{\"type\":\"reasoning_text\",\"text\":" :
	    ",\"part\":{\"type\":\"output_text\",\"text\":");
	xlate_buf_jstr(b, s->text.p != NULL ? s->text.p : "", s->text.len);
	xlate_buf_puts(b, reasoning ? "}" : ",\"annotations\":[]}");
	xr_ev_end(s);
	xr_ev(s, "response.output_item.done");
	xlate_buf_puts(b, ",\"output_index\":");
	xlate_buf_int(b, s->open_index);
	xlate_buf_puts(b, ",\"item\":");
	xlate_buf_put(b, item.p != NULL ? item.p : "null", item.p != NULL ? item.len : 4);
	xr_ev_end(s);
	err = item.err != QP_OK ? item.err : xr_done_item(s, item.p, item.len);
	xlate_buf_free(&item);
	s->kept -= s->kept >= s->text.len ? s->text.len : s->kept;
	xlate_buf_free(&s->text);
	s->text.max = QP_XLATE_KEEP_MAX;
	s->open = XR_NONE;
	return err;
}

/* Opens a text or reasoning item unless one of that kind is open. */
static enum qp_err
xr_open_item(struct xlate_responses_stream *s, enum xr_open kind)
{
	struct xlate_buf *b = &s->o->b;
	enum qp_err err;

	if (s->open == kind)
		return QP_OK;
	if ((err = xr_close_open(s)) != QP_OK)
		return err;
	s->open = kind;
	s->open_index = s->nout++;
	snprintf(s->open_id, sizeof(s->open_id), "%s_%s_%d", kind == XR_TEXT ? "msg" : "rs",
	    s->id + 5, s->open_index);
	xr_ev(s, "response.output_item.added");
	xlate_buf_puts(b, ",\"output_index\":");
	xlate_buf_int(b, s->open_index);
	xlate_buf_puts(b, ",\"item\":");
	if (kind == XR_TEXT)
		xr_item_message(b, s->open_id, NULL, 0);
	else
		xr_item_reasoning(b, s->open_id, NULL, 0);
	xr_ev_end(s);
	xr_ev(s, "response.content_part.added");
	xr_ev_item(s, s->open_id, s->open_index, 1);
	xlate_buf_puts(b, kind == XR_TEXT ?
	    ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}" :
	    ",\"part\":{\"type\":\"reasoning_text\",\"text\":\"\"}");
	xr_ev_end(s);
	return QP_OK;
}

/* A fragment of text or reasoning: its delta event, and the text kept. */
static enum qp_err
xr_text_delta(struct xlate_responses_stream *s, enum xr_open kind, const char *text)
{
	size_t n = strlen(text);
	enum qp_err err;

	if ((err = xr_open_item(s, kind)) != QP_OK || (err = xr_keep(s, n)) != QP_OK)
		return err;
	xlate_buf_put(&s->text, text, n);
	if (s->text.err != QP_OK)
		return s->text.err;
	xr_ev(s, kind == XR_TEXT ? "response.output_text.delta" : "response.reasoning_text.delta");
	xr_ev_item(s, s->open_id, s->open_index, 1);
	xlate_buf_puts(&s->o->b, ",\"delta\":");
	xlate_buf_jstr(&s->o->b, text, n);
	if (kind == XR_TEXT)
		xlate_buf_puts(&s->o->b, ",\"logprobs\":[]");
	xr_ev_end(s);
	return QP_OK;
}

/* Returns the item id of call k ("fc_" and its call id). */
static void
xr_call_item_id(const struct xr_call *k, char *buf, size_t size)
{

	snprintf(buf, size, "fc_%s", k->call_id);
}

/* One tool_calls[] entry of a delta: a new function_call item, or arguments for one. */
static enum qp_err
xr_tool_delta(struct xlate_responses_stream *s, const cJSON *tc)
{
	const cJSON *fn = json_member(tc, "function");
	const char *args = xlate_str(fn, "arguments"), *id, *name;
	struct xlate_buf *b = &s->o->b;
	char gen[48], item_id[2 * XR_ID_MAX];
	struct xr_call *k;
	enum qp_err err;
	int64_t index;
	int i;

	if (!xlate_num(tc, "index", &index))
		index = xlate_str(fn, "name") != NULL || s->ncalls == 0 ?
		    -1 - (int64_t)s->ncalls : s->calls[s->ncalls - 1].chat_index;
	for (i = 0; i < s->ncalls; i++)
		if (s->calls[i].chat_index == index)
			break;
	if (i == s->ncalls) {
		if (s->ncalls == QP_XLATE_TOOLS_MAX)
			return QP_ETOOBIG;
		if (s->calls == NULL &&
		    (s->calls = calloc(QP_XLATE_TOOLS_MAX, sizeof(*s->calls))) == NULL)
			return QP_ENOMEM;
		if ((err = xr_close_open(s)) != QP_OK)
			return err;
		if ((name = xlate_str(fn, "name")) == NULL) {
			xlate_warn_add(&s->o->warn, "tool call without a name");
			name = "";
		}
		if ((id = xlate_str(tc, "id")) == NULL) {
			snprintf(gen, sizeof(gen), "call_%d", s->ncalls);
			id = gen;
		}
		k = &s->calls[s->ncalls];
		k->chat_index = index;
		k->out_index = s->nout++;
		k->args.max = QP_XLATE_KEEP_MAX;
		if ((k->call_id = strdup(id)) == NULL || (k->name = strdup(name)) == NULL) {
			free(k->call_id);
			k->call_id = NULL;
			return QP_ENOMEM;
		}
		s->ncalls++;
		xr_call_item_id(k, item_id, sizeof(item_id));
		xr_ev(s, "response.output_item.added");
		xlate_buf_puts(b, ",\"output_index\":");
		xlate_buf_int(b, k->out_index);
		xlate_buf_puts(b, ",\"item\":");
		xr_item_call(b, item_id, k->call_id, k->name, NULL, 0);
		xr_ev_end(s);
	}
	k = &s->calls[i];
	if (args == NULL || args[0] == '\0')
		return QP_OK;
	if ((err = xr_keep(s, strlen(args))) != QP_OK)
		return err;
	xlate_buf_puts(&k->args, args);
	if (k->args.err != QP_OK)
		return k->args.err;
	xr_call_item_id(k, item_id, sizeof(item_id));
	xr_ev(s, "response.function_call_arguments.delta");
	xr_ev_item(s, item_id, k->out_index, 0);
	xlate_buf_puts(b, ",\"delta\":");
	xlate_buf_jstr(b, args, strlen(args));
	xr_ev_end(s);
	return QP_OK;
}

/* Closes tool call k: its arguments .done and output_item.done events, the item kept. */
static enum qp_err
xr_close_call(struct xlate_responses_stream *s, struct xr_call *k)
{
	struct xlate_buf *b = &s->o->b, item = { 0 };
	const char *args = k->args.p != NULL ? k->args.p : "";
	char item_id[2 * XR_ID_MAX];
	enum qp_err err;

	item.max = QP_XLATE_KEEP_MAX + 1024;
	xr_call_item_id(k, item_id, sizeof(item_id));
	xr_item_call(&item, item_id, k->call_id, k->name, args, k->args.len);
	xr_ev(s, "response.function_call_arguments.done");
	xr_ev_item(s, item_id, k->out_index, 0);
	xlate_buf_puts(b, ",\"name\":");
	xlate_buf_jstr(b, k->name, strlen(k->name));
	xlate_buf_puts(b, ",\"arguments\":");
	xlate_buf_jstr(b, args, k->args.len);
	xr_ev_end(s);
	xr_ev(s, "response.output_item.done");
	xlate_buf_puts(b, ",\"output_index\":");
	xlate_buf_int(b, k->out_index);
	xlate_buf_puts(b, ",\"item\":");
	xlate_buf_put(b, item.p != NULL ? item.p : "null", item.p != NULL ? item.len : 4);
	xr_ev_end(s);
	err = item.err != QP_OK ? item.err : xr_done_item(s, item.p, item.len);
	xlate_buf_free(&item);
	s->kept -= s->kept >= k->args.len ? k->args.len : s->kept;
	xlate_buf_free(&k->args);
	return err;
}

/* Closes every item and writes response.completed or response.incomplete. */
static enum qp_err
xr_close(struct xlate_responses_stream *s)
{
	const char *status, *reason;
	enum qp_err err;
	int i;

	if (!s->started)
		xr_start(s);
	if ((err = xr_close_open(s)) != QP_OK)
		return err;
	for (i = 0; i < s->ncalls; i++)
		if ((err = xr_close_call(s, &s->calls[i])) != QP_OK)
			return err;
	status = xr_status(s->finish, &reason);
	xr_lifecycle(s, reason != NULL ? "response.incomplete" : "response.completed", status,
	    reason, NULL, 1);
	s->finished = 1;
	return QP_OK;
}

/* Writes response.failed with an error of code and message. */
static void
xr_failed(struct xlate_responses_stream *s, const char *code, const char *message)
{
	struct xlate_buf e = { 0 };

	if (!s->started)
		xr_start(s);
	xlate_buf_puts(&e, "{\"code\":");
	xlate_buf_jstr(&e, code, strlen(code));
	xlate_buf_puts(&e, ",\"message\":");
	xlate_buf_jstr(&e, message, strlen(message));
	xlate_buf_puts(&e, "}");
	if (e.err != QP_OK)
		s->o->b.err = e.err;
	else
		xr_lifecycle(s, "response.failed", "failed", NULL, e.p, 1);
	xlate_buf_free(&e);
	s->failed = 1;
}

/* An error the provider sent inside its stream. */
static void
xr_upstream_error(struct xlate_responses_stream *s, const cJSON *chunk)
{
	const cJSON *e = json_member(chunk, "error");
	const char *m = xlate_error_message(chunk), *type = xlate_str(e, "type");
	const char *code = xlate_str(e, "code");

	if ((type != NULL && strstr(type, "rate_limit") != NULL) ||
	    (code != NULL && strstr(code, "rate_limit") != NULL))
		code = "rate_limit_exceeded";
	else
		code = "server_error";
	xr_failed(s, code, m != NULL ? m : "the provider reported an error");
}

/* Ends the call with err sticking, or flushes what the event produced. */
static enum qp_err
xr_end(struct xlate_responses_stream *s, enum qp_err err)
{

	if (err == QP_ETOOBIG || err == QP_ENOMEM) {
		xlate_buf_clear(&s->o->b);
		if (!s->failed)
			xr_failed(s, "server_error", err == QP_ETOOBIG ?
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
xlate_responses_stream_event(struct xlate_responses_stream *s, const char *event,
    size_t event_len, const char *data, size_t len)
{
	const cJSON *ch, *delta, *tc, *usage;
	const char *text, *id, *finish;
	enum qp_err err = QP_OK;
	cJSON *chunk;

	if (s->err != QP_OK)
		return s->err;
	if (s->finished || s->failed)
		return QP_OK;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return xr_end(s, xr_close(s));
	if ((chunk = json_parse(data, len, &err)) == NULL || !cJSON_IsObject(chunk)) {
		cJSON_Delete(chunk);
		s->o->bad++;
		return QP_OK;
	}
	err = QP_OK;
	if (json_member(chunk, "error") != NULL && !cJSON_IsNull(json_member(chunk, "error"))) {
		xr_upstream_error(s, chunk);
		goto out;
	}
	if (!s->started) {
		if ((id = xlate_str(chunk, "id")) != NULL)
			snprintf(s->id, sizeof(s->id), "resp_%s", id);
		xr_start(s);
	}
	ch = json_member(chunk, "choices");
	ch = cJSON_IsArray(ch) ? ch->child : NULL;
	delta = json_member(ch, "delta");
	if ((text = xr_reasoning_text(delta)) != NULL &&
	    (err = xr_text_delta(s, XR_REASONING, text)) != QP_OK)
		goto out;
	if ((text = xlate_str(delta, "content")) != NULL && text[0] != '\0' &&
	    (err = xr_text_delta(s, XR_TEXT, text)) != QP_OK)
		goto out;
	if ((text = xlate_str(delta, "refusal")) != NULL && text[0] != '\0' &&
	    (err = xr_text_delta(s, XR_TEXT, text)) != QP_OK)
		goto out;
	cJSON_ArrayForEach(tc, xlate_array(json_member(delta, "tool_calls")))
		if ((err = xr_tool_delta(s, tc)) != QP_OK)
			goto out;
	if ((finish = xlate_str(ch, "finish_reason")) != NULL)
		snprintf(s->finish, sizeof(s->finish), "%s", finish);
	if (cJSON_IsObject(usage = json_member(chunk, "usage")))
		xlate_usage_from_chat(&s->usage, usage);
out:
	cJSON_Delete(chunk);
	(void)event;
	(void)event_len;
	return xr_end(s, err);
}

enum qp_err
xlate_responses_stream_abort(struct xlate_responses_stream *s, enum qp_err err)
{

	if (s->err != QP_OK)
		return s->err;
	return xr_end(s, err);
}

enum qp_err
xlate_responses_stream_finish(struct xlate_responses_stream *s, int clean)
{

	if (s->err != QP_OK)
		return s->err;
	if (s->failed)
		return QP_EUPSTREAM;
	if (s->finished)
		return QP_OK;
	if (clean && s->finish[0] != '\0')
		return xr_end(s, xr_close(s));
	xr_failed(s, "server_error", "the provider's stream ended before the answer was complete");
	xr_end(s, QP_OK);
	return s->err != QP_OK ? s->err : QP_EUPSTREAM;
}
