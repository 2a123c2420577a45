/* xlate_messages.c: an Anthropic Messages client served by an OpenAI chat-completions provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "json.h"
#include "xlate.h"
#include "xlate_messages.h"

/* Longest message id kept for the events of a stream. */
#define XM_ID_MAX	127

/* ---- request: Messages to chat -------------------------------------------- */

/* Building one chat request. */
struct xm_req {
	struct xlate_ctx *c;		/* the request's context */
	cJSON		*msgs;		/* the chat messages being built */
};

/* Adds {"role": role, "content": content} to the chat messages; content is taken. */
static int
xm_add_msg(struct xm_req *q, const char *role, cJSON *content)
{
	cJSON *m;

	if (content == NULL || (m = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(content);
		return 0;
	}
	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddItemToObject(m, "content", content);
	cJSON_AddItemToArray(q->msgs, m);
	return 1;
}

/* Adds a message of role holding the text of content (string or text blocks). */
static int
xm_add_text_msg(struct xm_req *q, const char *role, const cJSON *content)
{
	unsigned other = 0;
	char *text;
	int ok;

	if ((text = xlate_join_text(content, "\n\n", &other)) == NULL)
		return 0;
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text system content dropped");
	ok = xm_add_msg(q, role, cJSON_CreateString(text));
	free(text);
	return ok;
}

/*
 * Returns a chat image_url part for an Anthropic image block, or NULL
 * (*skip set) when its source cannot be sent, or NULL when out of memory.
 */
static cJSON *
xm_image(struct xm_req *q, const cJSON *block, int *skip)
{
	const cJSON *src = json_member(block, "source");
	const char *type = xlate_str(src, "type"), *url = NULL;
	const char *media = xlate_str(src, "media_type"), *data = xlate_str(src, "data");
	struct xlate_buf b = { 0 };
	cJSON *part = NULL, *iu;

	*skip = 0;
	if (type != NULL && strcmp(type, "url") == 0)
		url = xlate_str(src, "url");
	else if (type != NULL && strcmp(type, "base64") == 0 && media != NULL && data != NULL) {
		xlate_buf_puts(&b, "data:");
		xlate_buf_puts(&b, media);
		xlate_buf_puts(&b, ";base64,");
		xlate_buf_puts(&b, data);
		if (b.err != QP_OK)
			goto out;
		url = b.p;
	}
	if (url == NULL) {
		xlate_warn_add(&q->c->warn, "image without base64 data or URL dropped");
		*skip = 1;
		goto out;
	}
	if ((part = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(part, "type", "image_url");
	if ((iu = cJSON_AddObjectToObject(part, "image_url")) == NULL ||
	    cJSON_AddStringToObject(iu, "url", url) == NULL) {
		cJSON_Delete(part);
		part = NULL;
	}
out:
	xlate_buf_free(&b);
	return part;
}

/* Adds a text part to parts. */
static int
xm_text_part(cJSON *parts, const char *text)
{
	cJSON *p;

	if ((p = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddStringToObject(p, "type", "text");
	cJSON_AddStringToObject(p, "text", text);
	cJSON_AddItemToArray(parts, p);
	return 1;
}

/*
 * Adds a role "tool" message for a tool_result block; its images go to
 * parts (the user message that follows the tool messages).
 */
static int
xm_tool_result(struct xm_req *q, const cJSON *block, cJSON *parts)
{
	const char *id = xlate_str(block, "tool_use_id");
	const cJSON *content = json_member(block, "content"), *b;
	unsigned other = 0;
	char *text = NULL;
	cJSON *m = NULL, *img;
	int ok = 0, skip, images = 0;

	if (id == NULL) {
		snprintf(q->c->why, sizeof(q->c->why), "tool_result needs a tool_use_id");
		return -1;
	}
	if ((text = xlate_join_text(content, "\n", &other)) == NULL)
		goto out;
	cJSON_ArrayForEach(b, xlate_array(content)) {
		const char *type = xlate_str(b, "type");

		if (type == NULL || strcmp(type, "image") != 0)
			continue;
		if (images++ == 0 && !xm_text_part(parts, "(images returned by the tool call)"))
			goto out;
		if ((img = xm_image(q, b, &skip)) == NULL && !skip)
			goto out;
		if (img != NULL)
			cJSON_AddItemToArray(parts, img);
		other--;
	}
	if (other > 0)
		xlate_warn_add(&q->c->warn, "non-text tool_result content dropped");
	if (cJSON_IsTrue(json_member(block, "is_error")) && text[0] == '\0') {
		free(text);
		if ((text = strdup("error")) == NULL)
			goto out;
	}
	if ((m = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(m, "role", "tool");
	cJSON_AddStringToObject(m, "tool_call_id", id);
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(q->msgs, m);
	ok = 1;
out:
	free(text);
	return ok;
}

/* Block types of a user turn that are not sent, each with its warning (NULL: silently). */
static const struct {
	const char	*type;		/* Anthropic block type */
	const char	*warning;	/* the reason given, NULL for none */
} xm_user_drops[] = {
	{ "document", "document blocks dropped" },
	{ "search_result", "search_result blocks dropped" },
	{ "container_upload", "container_upload blocks dropped" },
	{ "thinking", NULL },
	{ "redacted_thinking", NULL },
};

/* Returns the warning for a user block type that is not sent, NULL if it goes silently. */
static const char *
xm_user_drop(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(xm_user_drops) / sizeof(xm_user_drops[0]); i++)
		if (strcmp(xm_user_drops[i].type, type) == 0)
			return xm_user_drops[i].warning;
	return "unknown content blocks dropped";
}

/*
 * A user turn: its tool results become tool messages, the rest one user
 * message after them (a string when it is one text part). 1, 0 out of
 * memory, -1 invalid (c->why set).
 */
static int
xm_user(struct xm_req *q, const cJSON *content)
{
	const cJSON *b;
	cJSON *parts, *img;
	const char *type, *text, *w;
	int r = 0, skip;

	if (cJSON_IsString(content))
		return xm_add_msg(q, "user", cJSON_CreateString(content->valuestring));
	if (!cJSON_IsArray(content)) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "message content must be a string or an array of blocks");
		return -1;
	}
	if ((parts = cJSON_CreateArray()) == NULL)
		return 0;
	cJSON_ArrayForEach(b, content) {
		type = xlate_str(b, "type");
		if (type == NULL) {
			snprintf(q->c->why, sizeof(q->c->why), "a content block has no type");
			r = -1;
			goto out;
		}
		if (strcmp(type, "text") == 0 && (text = xlate_str(b, "text")) != NULL) {
			if (!xm_text_part(parts, text))
				goto out;
		} else if (strcmp(type, "image") == 0) {
			if ((img = xm_image(q, b, &skip)) == NULL && !skip)
				goto out;
			if (img != NULL)
				cJSON_AddItemToArray(parts, img);
		} else if (strcmp(type, "tool_result") == 0) {
			if ((r = xm_tool_result(q, b, parts)) != 1)
				goto out;
		} else if ((w = xm_user_drop(type)) != NULL)
			xlate_warn_add(&q->c->warn, w);
	}
	r = 1;
	if (cJSON_GetArraySize(parts) == 0)
		goto out;
	if (cJSON_GetArraySize(parts) == 1 && (text = xlate_str(parts->child, "text")) != NULL &&
	    strcmp(xlate_str(parts->child, "type"), "text") == 0)
		r = xm_add_msg(q, "user", cJSON_CreateString(text));
	else {
		r = xm_add_msg(q, "user", parts);
		parts = NULL;
	}
out:
	cJSON_Delete(parts);
	return r;
}

/* Adds a tool_use block to calls as a chat tool call. */
static int
xm_tool_call(struct xm_req *q, const cJSON *b, cJSON *calls)
{
	const char *id = xlate_str(b, "id"), *name = xlate_str(b, "name");
	const cJSON *input = json_member(b, "input");
	cJSON *call, *fn;
	char *args;

	if (id == NULL || name == NULL) {
		snprintf(q->c->why, sizeof(q->c->why), "tool_use needs an id and a name");
		return -1;
	}
	if (input == NULL)
		args = strdup("{}");
	else
		args = cJSON_PrintUnformatted(input);
	if (args == NULL || (call = cJSON_CreateObject()) == NULL) {
		free(args);
		return 0;
	}
	cJSON_AddStringToObject(call, "id", id);
	cJSON_AddStringToObject(call, "type", "function");
	if ((fn = cJSON_AddObjectToObject(call, "function")) != NULL) {
		cJSON_AddStringToObject(fn, "name", name);
		cJSON_AddStringToObject(fn, "arguments", args);
	}
	free(args);
	cJSON_AddItemToArray(calls, call);
	return fn != NULL;
}

/* An assistant turn: text, tool calls and reasoning in one chat message. */
static int
xm_assistant(struct xm_req *q, const cJSON *content)
{
	struct xlate_buf text = { 0 }, think = { 0 };
	cJSON *m = NULL, *calls = NULL;
	const cJSON *b;
	const char *type, *s;
	int r = 0, ntext = 0;

	if (cJSON_IsString(content))
		return xm_add_msg(q, "assistant", cJSON_CreateString(content->valuestring));
	if (!cJSON_IsArray(content)) {
		snprintf(q->c->why, sizeof(q->c->why),
		    "message content must be a string or an array of blocks");
		return -1;
	}
	if ((calls = cJSON_CreateArray()) == NULL)
		goto out;
	cJSON_ArrayForEach(b, content) {
		if ((type = xlate_str(b, "type")) == NULL) {
			snprintf(q->c->why, sizeof(q->c->why), "a content block has no type");
			r = -1;
			goto out;
		}
		if (strcmp(type, "text") == 0 && (s = xlate_str(b, "text")) != NULL) {
			if (ntext++ > 0)
				xlate_buf_puts(&text, "\n\n");
			xlate_buf_puts(&text, s);
		} else if (strcmp(type, "thinking") == 0 && (s = xlate_str(b, "thinking")) != NULL)
			xlate_buf_puts(&think, s);
		else if (strcmp(type, "tool_use") == 0) {
			if ((r = xm_tool_call(q, b, calls)) != 1)
				goto out;
		} else if (strcmp(type, "redacted_thinking") != 0)
			xlate_warn_add(&q->c->warn, "assistant server-tool blocks dropped");
	}
	r = 0;
	if (text.err != QP_OK || think.err != QP_OK || (m = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(m, "role", "assistant");
	if (ntext > 0)
		cJSON_AddStringToObject(m, "content", text.p);
	else
		cJSON_AddNullToObject(m, "content");
	if (think.len > 0)
		cJSON_AddStringToObject(m, "reasoning_content", think.p);
	if (cJSON_GetArraySize(calls) > 0) {
		cJSON_AddItemToObject(m, "tool_calls", calls);
		calls = NULL;
	} else if (ntext == 0 && think.len == 0) {
		r = 1;		/* nothing to say */
		goto out;
	}
	cJSON_AddItemToArray(q->msgs, m);
	m = NULL;
	r = 1;
out:
	cJSON_Delete(m);
	cJSON_Delete(calls);
	xlate_buf_free(&text);
	xlate_buf_free(&think);
	return r;
}

/* The messages: 1, 0 out of memory, -1 invalid (c->why set). */
static int
xm_messages(struct xm_req *q, const cJSON *req)
{
	const cJSON *msgs = json_member(req, "messages"), *m, *sys = json_member(req, "system");
	const char *role;
	int r, i = 0;

	if (!cJSON_IsArray(msgs)) {
		snprintf(q->c->why, sizeof(q->c->why), "messages must be an array");
		return -1;
	}
	if (sys != NULL && !cJSON_IsNull(sys) && !xm_add_text_msg(q, "system", sys))
		return 0;
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *content = json_member(m, "content");

		role = xlate_str(m, "role");
		if (role == NULL || content == NULL) {
			snprintf(q->c->why, sizeof(q->c->why),
			    "messages[%d] needs a role and content", i);
			return -1;
		}
		if (strcmp(role, "user") == 0)
			r = xm_user(q, content);
		else if (strcmp(role, "assistant") == 0)
			r = xm_assistant(q, content);
		else if (strcmp(role, "system") == 0)
			r = xm_add_text_msg(q, "system", content);
		else {
			snprintf(q->c->why, sizeof(q->c->why),
			    "messages[%d].role must be user, assistant or system", i);
			r = -1;
		}
		if (r != 1)
			return r;
		i++;
	}
	return 1;
}

/* tools: custom tools become function tools; the provider has no server tools. */
static int
xm_tools(struct xm_req *q, const cJSON *tools, cJSON *body)
{
	const cJSON *t;
	cJSON *out, *ft, *fn;
	const char *type, *name, *desc;

	if (!cJSON_IsArray(tools))
		return 1;
	if ((out = cJSON_AddArrayToObject(body, "tools")) == NULL)
		return 0;
	cJSON_ArrayForEach(t, tools) {
		type = xlate_str(t, "type");
		name = xlate_str(t, "name");
		if ((type != NULL && strcmp(type, "custom") != 0) || name == NULL ||
		    !cJSON_IsObject(json_member(t, "input_schema"))) {
			xlate_warn_add(&q->c->warn, "server tools dropped");
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
		if (!cJSON_AddItemToObject(fn, "parameters",
		    cJSON_Duplicate(json_member(t, "input_schema"), 1)))
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

/* tool_choice, and disable_parallel_tool_use as parallel_tool_calls. */
static int
xm_tool_choice(struct xm_req *q, const cJSON *tc, cJSON *body)
{
	const char *type = xlate_str(tc, "type"), *name = xlate_str(tc, "name");
	cJSON *o, *fn;

	if (type == NULL)
		return 1;
	if (strcmp(type, "auto") == 0)
		cJSON_AddStringToObject(body, "tool_choice", "auto");
	else if (strcmp(type, "any") == 0)
		cJSON_AddStringToObject(body, "tool_choice", "required");
	else if (strcmp(type, "none") == 0)
		cJSON_AddStringToObject(body, "tool_choice", "none");
	else if (strcmp(type, "tool") == 0 && name != NULL) {
		if ((o = cJSON_AddObjectToObject(body, "tool_choice")) == NULL)
			return 0;
		cJSON_AddStringToObject(o, "type", "function");
		if ((fn = cJSON_AddObjectToObject(o, "function")) == NULL)
			return 0;
		cJSON_AddStringToObject(fn, "name", name);
	} else
		xlate_warn_add(&q->c->warn, "unknown tool_choice dropped");
	if (cJSON_IsTrue(json_member(tc, "disable_parallel_tool_use")) && q->c->tools)
		cJSON_AddFalseToObject(body, "parallel_tool_calls");
	return 1;
}

/* thinking enabled with a budget asks for a reasoning effort of about that size. */
static int
xm_thinking(struct xm_req *q, const cJSON *th, cJSON *body)
{
	const char *type = xlate_str(th, "type");
	int64_t budget = 0;

	if (type == NULL || strcmp(type, "enabled") != 0)
		return 1;
	xlate_num(th, "budget_tokens", &budget);
	cJSON_AddStringToObject(body, "reasoning_effort",
	    budget < 4096 ? "low" : budget < 16384 ? "medium" : "high");
	return 1;
}

/* output_config.format: a JSON schema the answer follows. */
static int
xm_output_config(struct xm_req *q, const cJSON *oc, cJSON *body)
{
	const cJSON *fmt = json_member(oc, "format");
	const char *type = xlate_str(fmt, "type");
	cJSON *rf, *js;

	if (type == NULL)
		return 1;
	if (strcmp(type, "json_schema") != 0 || !cJSON_IsObject(json_member(fmt, "schema"))) {
		xlate_warn_add(&q->c->warn, "output_config.format dropped");
		return 1;
	}
	if ((rf = cJSON_AddObjectToObject(body, "response_format")) == NULL)
		return 0;
	cJSON_AddStringToObject(rf, "type", "json_schema");
	if ((js = cJSON_AddObjectToObject(rf, "json_schema")) == NULL)
		return 0;
	cJSON_AddStringToObject(js, "name", "output");
	cJSON_AddTrueToObject(js, "strict");
	return xlate_copy(js, fmt, "schema");
}

/* One top-level request field: how it is sent to a chat provider. */
enum xm_how {
	XM_HANDLED,	/* read elsewhere */
	XM_SAME,	/* copied under the same name */
	XM_SILENT,	/* dropped: a hint the provider does without */
	XM_WARN,	/* dropped with a warning */
	XM_FN,		/* converted by fn */
};

static const struct {
	const char	*key;		/* Messages field */
	enum xm_how	 how;		/* what happens to it */
	const char	*warning;	/* XM_WARN: the reason */
	int		(*fn)(struct xm_req *, const cJSON *, cJSON *);
} xm_fields[] = {
	{ "model", XM_HANDLED, NULL, NULL },
	{ "messages", XM_HANDLED, NULL, NULL },
	{ "system", XM_HANDLED, NULL, NULL },
	{ "stream", XM_HANDLED, NULL, NULL },
	{ "max_tokens", XM_HANDLED, NULL, NULL },
	{ "temperature", XM_SAME, NULL, NULL },
	{ "top_p", XM_SAME, NULL, NULL },
	{ "stop_sequences", XM_HANDLED, NULL, NULL },
	{ "metadata", XM_HANDLED, NULL, NULL },
	{ "tools", XM_FN, NULL, xm_tools },
	{ "tool_choice", XM_FN, NULL, xm_tool_choice },
	{ "thinking", XM_FN, NULL, xm_thinking },
	{ "output_config", XM_FN, NULL, xm_output_config },
	{ "top_k", XM_WARN, "top_k dropped", NULL },
	{ "mcp_servers", XM_WARN, "mcp_servers dropped", NULL },
	{ "container", XM_WARN, "container dropped", NULL },
	{ "cache_control", XM_SILENT, NULL, NULL },
	{ "context_management", XM_SILENT, NULL, NULL },
	{ "service_tier", XM_SILENT, NULL, NULL },
	{ "inference_geo", XM_SILENT, NULL, NULL },
	{ "user_profile_id", XM_SILENT, NULL, NULL },
};

enum qp_err
xlate_messages_request(struct xlate_ctx *c, const cJSON *req, const char *model,
    cJSON **out)
{
	struct xm_req q = { c, NULL };
	const cJSON *f, *v;
	cJSON *body = NULL, *so;
	const char *user;
	int64_t limit;
	size_t i;
	int r;

	*out = NULL;
	if ((body = cJSON_CreateObject()) == NULL)
		return QP_ENOMEM;
	cJSON_AddStringToObject(body, "model", model);
	if ((q.msgs = cJSON_AddArrayToObject(body, "messages")) == NULL)
		goto nomem;
	/* Tools first: tool_choice depends on them. */
	if (!xm_tools(&q, json_member(req, "tools"), body))
		goto nomem;
	if ((r = xm_messages(&q, req)) != 1) {
		cJSON_Delete(body);
		return r == 0 ? QP_ENOMEM : QP_EINVAL;
	}
	cJSON_ArrayForEach(f, req) {
		for (i = 0; i < sizeof(xm_fields) / sizeof(xm_fields[0]); i++)
			if (f->string != NULL && strcmp(f->string, xm_fields[i].key) == 0)
				break;
		if (i == sizeof(xm_fields) / sizeof(xm_fields[0])) {
			xlate_warn_add(&c->warn, "unknown fields dropped");
			continue;
		}
		v = json_member(req, xm_fields[i].key);
		if (v != f || cJSON_IsNull(v))
			continue;	/* a duplicate key: the last counts */
		if (xm_fields[i].how == XM_SAME &&
		    !cJSON_AddItemToObject(body, f->string, cJSON_Duplicate(v, 1)))
			goto nomem;
		if (xm_fields[i].how == XM_WARN)
			xlate_warn_add(&c->warn, xm_fields[i].warning);
		if (xm_fields[i].how == XM_FN && xm_fields[i].fn != xm_tools &&
		    !xm_fields[i].fn(&q, v, body))
			goto nomem;
	}
	if (cJSON_IsArray(v = json_member(req, "stop_sequences")) && cJSON_GetArraySize(v) > 0 &&
	    !cJSON_AddItemToObject(body, "stop", cJSON_Duplicate(v, 1)))
		goto nomem;
	if ((limit = xlate_max_tokens(c, json_member(req, "max_tokens"), 0)) > 0)
		cJSON_AddNumberToObject(body, "max_tokens", (double)limit);
	if ((user = xlate_str(json_member(req, "metadata"), "user_id")) != NULL)
		cJSON_AddStringToObject(body, "user", user);
	if (c->stream) {
		cJSON_AddTrueToObject(body, "stream");
		if ((so = cJSON_AddObjectToObject(body, "stream_options")) == NULL)
			goto nomem;
		cJSON_AddTrueToObject(so, "include_usage");
	}
	*out = body;
	return QP_OK;
nomem:
	cJSON_Delete(body);
	return QP_ENOMEM;
}

/* ---- response: chat completion to Message ----------------------------------- */

/* Returns the reasoning text of a chat message or delta, or NULL. */
static const char *
xm_reasoning(const cJSON *m)
{
	const char *s = xlate_str(m, "reasoning_content");

	if (s == NULL || s[0] == '\0')
		s = xlate_str(m, "reasoning");
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Adds {"type": type, key: text} to content. */
static int
xm_block(cJSON *content, const char *type, const char *key, const char *text)
{
	cJSON *b;

	if ((b = cJSON_CreateObject()) == NULL)
		return 0;
	cJSON_AddStringToObject(b, "type", type);
	cJSON_AddStringToObject(b, key, text);
	if (strcmp(type, "thinking") == 0)
		cJSON_AddStringToObject(b, "signature", "");
	cJSON_AddItemToArray(content, b);
	return 1;
}

/* Adds the tool calls of a chat message as tool_use blocks; returns how many, -1 out of memory. */
static int
xm_tool_uses(struct xlate_ctx *c, const cJSON *calls, cJSON *content)
{
	const cJSON *call, *fn;
	const char *args;
	cJSON *b, *input;
	enum qp_err err;
	int n = 0;

	cJSON_ArrayForEach(call, xlate_array(calls)) {
		fn = json_member(call, "function");
		if (xlate_str(fn, "name") == NULL) {
			xlate_warn_add(&c->warn, "tool call without a function dropped");
			continue;
		}
		args = xlate_str(fn, "arguments");
		input = args != NULL && args[0] != '\0' ?
		    json_parse(args, strlen(args), &err) : NULL;
		if (!cJSON_IsObject(input)) {
			if (args != NULL && args[0] != '\0')
				xlate_warn_add(&c->warn,
				    "tool arguments that are not a JSON object");
			cJSON_Delete(input);
			input = cJSON_CreateObject();
		}
		if (input == NULL || (b = cJSON_CreateObject()) == NULL) {
			cJSON_Delete(input);
			return -1;
		}
		cJSON_AddStringToObject(b, "type", "tool_use");
		if (xlate_str(call, "id") != NULL)
			cJSON_AddStringToObject(b, "id", xlate_str(call, "id"));
		else {
			char id[32];

			snprintf(id, sizeof(id), "toolu_%d", n);
			cJSON_AddStringToObject(b, "id", id);
		}
		cJSON_AddStringToObject(b, "name", xlate_str(fn, "name"));
		cJSON_AddItemToObject(b, "input", input);
		cJSON_AddItemToArray(content, b);
		n++;
	}
	return n;
}

enum qp_err
xlate_messages_response(struct xlate_ctx *c, const cJSON *chat, cJSON **out)
{
	const cJSON *choices = json_member(chat, "choices"), *ch, *m, *cont;
	const char *s, *finish, *id;
	struct xlate_usage u;
	cJSON *msg = NULL, *content;
	char mid[XM_ID_MAX + 1];
	unsigned other = 0;
	char *text = NULL;
	int ncalls;

	*out = NULL;
	ch = cJSON_IsArray(choices) ? choices->child : NULL;
	m = json_member(ch, "message");
	if (!cJSON_IsObject(m))
		return QP_EPARSE;
	if (cJSON_GetArraySize(choices) > 1)
		xlate_warn_add(&c->warn, "choices after the first dropped");
	if ((msg = cJSON_CreateObject()) == NULL)
		return QP_ENOMEM;
	id = xlate_str(chat, "id");
	snprintf(mid, sizeof(mid), "msg_%s", id != NULL ? id : "0");
	cJSON_AddStringToObject(msg, "id", mid);
	cJSON_AddStringToObject(msg, "type", "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "model", c->client_model != NULL ? c->client_model : "");
	if ((content = cJSON_AddArrayToObject(msg, "content")) == NULL)
		goto nomem;
	if ((s = xm_reasoning(m)) != NULL && !xm_block(content, "thinking", "thinking", s))
		goto nomem;
	cont = json_member(m, "content");
	if (cJSON_IsString(cont) || cJSON_IsArray(cont)) {
		if ((text = xlate_join_text(cont, "", &other)) == NULL)
			goto nomem;
		if (text[0] != '\0' && !xm_block(content, "text", "text", text))
			goto nomem;
	}
	if ((s = xlate_str(m, "refusal")) != NULL && s[0] != '\0' &&
	    !xm_block(content, "text", "text", s))
		goto nomem;
	if ((ncalls = xm_tool_uses(c, json_member(m, "tool_calls"), content)) < 0)
		goto nomem;
	finish = xlate_str(ch, "finish_reason");
	cJSON_AddStringToObject(msg, "stop_reason", ncalls > 0 && (finish == NULL ||
	    strcmp(finish, "stop") == 0) ? "tool_use" : xlate_stop_from_chat(finish));
	cJSON_AddNullToObject(msg, "stop_sequence");
	xlate_usage_init(&u);
	xlate_usage_from_chat(&u, json_member(chat, "usage"));
	if (!cJSON_AddItemToObject(msg, "usage", xlate_usage_messages(&u)))
		goto nomem;
	free(text);
	*out = msg;
	return QP_OK;
nomem:
	free(text);
	cJSON_Delete(msg);
	return QP_ENOMEM;
}

/* ---- stream: chat chunks to Messages events --------------------------------- */

/* The kind of the content block open in the client's stream. */
enum xm_block {
	XM_NONE,	/* no block open */
	XM_TEXT,	/* text */
	XM_THINKING,	/* thinking */
	XM_TOOL,	/* tool_use */
};

/* A tool call of the answer: the chat index it streams under and its block. */
struct xm_tool {
	int64_t		 chat_index;	/* tool_calls[].index */
	int		 block;		/* content block index */
};

struct xlate_messages_stream {
	struct xlate_out *o;		/* the client's side */
	char		*model;		/* model named to the client */
	char		 id[XM_ID_MAX + 1]; /* message id */
	int		 started;	/* 1 once message_start is out */
	enum xm_block	 open;		/* the open block's kind */
	int		 open_index;	/* and its index */
	int		 next_index;	/* index of the next block */
	struct xm_tool	*tools;		/* tool calls QP_XLATE_TOOLS_MAX at most */
	int		 ntools;	/* entries of tools */
	char		 finish[32];	/* last finish_reason, "" while none */
	struct xlate_usage usage;	/* as last reported */
	int		 done;		/* 1 once message_stop is out */
	int		 failed;	/* 1 once an error event is out */
	enum qp_err	 err;		/* sticky error */
};

struct xlate_messages_stream *
xlate_messages_stream_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	struct xlate_messages_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->o = o;
	if ((s->model = strdup(c->client_model != NULL ? c->client_model : "")) == NULL) {
		free(s);
		return NULL;
	}
	xlate_usage_init(&s->usage);
	snprintf(s->id, sizeof(s->id), "msg_%lld", (long long)c->created);
	return s;
}

void
xlate_messages_stream_free(struct xlate_messages_stream *s)
{

	if (s == NULL)
		return;
	free(s->tools);
	free(s->model);
	free(s);
}

/* Writes message_start. */
static void
xm_start(struct xlate_messages_stream *s)
{
	struct xlate_buf *b = &s->o->b;

	xlate_out_begin(s->o, "message_start");
	xlate_buf_puts(b, "{\"type\":\"message_start\",\"message\":{\"id\":");
	xlate_buf_jstr(b, s->id, strlen(s->id));
	xlate_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":");
	xlate_buf_jstr(b, s->model, strlen(s->model));
	xlate_buf_puts(b, ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
	    "\"input_tokens\":");
	xlate_buf_int(b, s->usage.input > 0 ? s->usage.input : 0);
	xlate_buf_puts(b, ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
	    "\"output_tokens\":0}}}");
	xlate_out_end(s->o);
	s->started = 1;
}

/* Writes content_block_stop for the open block. */
static void
xm_stop_block(struct xlate_messages_stream *s)
{

	if (s->open == XM_NONE)
		return;
	xlate_out_begin(s->o, "content_block_stop");
	xlate_buf_puts(&s->o->b, "{\"type\":\"content_block_stop\",\"index\":");
	xlate_buf_int(&s->o->b, s->open_index);
	xlate_buf_puts(&s->o->b, "}");
	xlate_out_end(s->o);
	s->open = XM_NONE;
}

/* Opens a text or thinking block unless one of that kind is open. */
static void
xm_open(struct xlate_messages_stream *s, enum xm_block kind)
{

	if (s->open == kind)
		return;
	xm_stop_block(s);
	xlate_out_begin(s->o, "content_block_start");
	xlate_buf_puts(&s->o->b, "{\"type\":\"content_block_start\",\"index\":");
	xlate_buf_int(&s->o->b, s->next_index);
	xlate_buf_puts(&s->o->b, kind == XM_TEXT ?
	    ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}" :
	    ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
	xlate_out_end(s->o);
	s->open = kind;
	s->open_index = s->next_index++;
}

/* Writes a content_block_delta of type with its key holding text. */
static void
xm_delta(struct xlate_messages_stream *s, int index, const char *type, const char *key,
    const char *text)
{
	struct xlate_buf *b = &s->o->b;

	xlate_out_begin(s->o, "content_block_delta");
	xlate_buf_puts(b, "{\"type\":\"content_block_delta\",\"index\":");
	xlate_buf_int(b, index);
	xlate_buf_puts(b, ",\"delta\":{\"type\":\"");
	xlate_buf_puts(b, type);
	xlate_buf_puts(b, "\",\"");
	xlate_buf_puts(b, key);
	xlate_buf_puts(b, "\":");
	xlate_buf_jstr(b, text, strlen(text));
	xlate_buf_puts(b, "}}");
	xlate_out_end(s->o);
}

/* One tool_calls[] entry of a delta: a new tool_use block, or arguments for one. */
static enum qp_err
xm_tool_delta(struct xlate_messages_stream *s, const cJSON *tc)
{
	const cJSON *fn = json_member(tc, "function");
	const char *args = xlate_str(fn, "arguments"), *name, *id;
	struct xlate_buf *b = &s->o->b;
	int64_t index;
	char gen[40];
	int i;

	/* Without an index, a name starts the next call; the rest continue the last. */
	if (!xlate_num(tc, "index", &index))
		index = xlate_str(fn, "name") != NULL || s->ntools == 0 ?
		    -1 - (int64_t)s->ntools : s->tools[s->ntools - 1].chat_index;
	for (i = 0; i < s->ntools; i++)
		if (s->tools[i].chat_index == index)
			break;
	if (i == s->ntools) {
		if (s->ntools == QP_XLATE_TOOLS_MAX)
			return QP_ETOOBIG;
		if (s->tools == NULL &&
		    (s->tools = calloc(QP_XLATE_TOOLS_MAX, sizeof(*s->tools))) == NULL)
			return QP_ENOMEM;
		xm_stop_block(s);
		if ((name = xlate_str(fn, "name")) == NULL) {
			xlate_warn_add(&s->o->warn, "tool call without a name");
			name = "";
		}
		if ((id = xlate_str(tc, "id")) == NULL) {
			snprintf(gen, sizeof(gen), "toolu_%d", s->ntools);
			id = gen;
		}
		s->tools[i].chat_index = index;
		s->tools[i].block = s->next_index++;
		s->ntools++;
		xlate_out_begin(s->o, "content_block_start");
		xlate_buf_puts(b, "{\"type\":\"content_block_start\",\"index\":");
		xlate_buf_int(b, s->tools[i].block);
		xlate_buf_puts(b, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
		xlate_buf_jstr(b, id, strlen(id));
		xlate_buf_puts(b, ",\"name\":");
		xlate_buf_jstr(b, name, strlen(name));
		xlate_buf_puts(b, ",\"input\":{}}}");
		xlate_out_end(s->o);
		s->open = XM_TOOL;
		s->open_index = s->tools[i].block;
	}
	if (args != NULL && args[0] != '\0')
		xm_delta(s, s->tools[i].block, "input_json_delta", "partial_json", args);
	return QP_OK;
}

/* Writes message_delta and message_stop, closing the open block. */
static void
xm_close(struct xlate_messages_stream *s)
{
	const char *stop = xlate_stop_from_chat(s->finish);
	struct xlate_buf *b = &s->o->b;
	cJSON *u;

	if (!s->started)
		xm_start(s);
	xm_stop_block(s);
	if (s->ntools > 0 && (s->finish[0] == '\0' || strcmp(s->finish, "stop") == 0))
		stop = "tool_use";
	xlate_out_begin(s->o, "message_delta");
	xlate_buf_puts(b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"");
	xlate_buf_puts(b, stop);
	xlate_buf_puts(b, "\",\"stop_sequence\":null},\"usage\":");
	u = xlate_usage_messages(&s->usage);
	if (u == NULL && b->err == QP_OK)
		b->err = QP_ENOMEM;
	xlate_buf_json(b, u);
	cJSON_Delete(u);
	xlate_buf_puts(b, "}");
	xlate_out_end(s->o);
	xlate_out_begin(s->o, "message_stop");
	xlate_buf_puts(b, "{\"type\":\"message_stop\"}");
	xlate_out_end(s->o);
	s->done = 1;
}

/* Writes an Anthropic error event. */
static void
xm_error(struct xlate_messages_stream *s, int status, const char *message)
{
	cJSON *e = xlate_error_json(XLATE_API_MESSAGES, status, message);

	if (e == NULL) {
		s->o->b.err = QP_ENOMEM;
		return;
	}
	xlate_out_begin(s->o, "error");
	xlate_buf_json(&s->o->b, e);
	xlate_out_end(s->o);
	cJSON_Delete(e);
	s->failed = 1;
}

/* An error the provider sent inside its stream. */
static void
xm_upstream_error(struct xlate_messages_stream *s, const cJSON *chunk)
{
	const cJSON *e = json_member(chunk, "error");
	const char *m = xlate_error_message(chunk);
	int64_t code = 500;

	if (!xlate_num(e, "code", &code) || code < 400 || code > 599) {
		const char *type = xlate_str(e, "type"), *cs = xlate_str(e, "code");

		code = 500;
		if ((type != NULL && strstr(type, "rate_limit") != NULL) ||
		    (cs != NULL && strstr(cs, "rate_limit") != NULL))
			code = 429;
		else if (type != NULL && strstr(type, "overloaded") != NULL)
			code = 529;
	}
	xm_error(s, (int)code, m != NULL ? m : "the provider reported an error");
}

/* Ends the call with err sticking, or flushes what the event produced. */
static enum qp_err
xm_end(struct xlate_messages_stream *s, enum qp_err err)
{

	if (err == QP_ETOOBIG || err == QP_ENOMEM) {
		xlate_buf_clear(&s->o->b);
		if (!s->failed)
			xm_error(s, 500, err == QP_ETOOBIG ?
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
xlate_messages_stream_event(struct xlate_messages_stream *s, const char *event,
    size_t event_len, const char *data, size_t len)
{
	const cJSON *ch, *delta, *tc, *usage;
	const char *text, *id, *finish;
	enum qp_err err = QP_OK;
	cJSON *chunk;

	if (s->err != QP_OK)
		return s->err;
	if (s->done || s->failed)
		return QP_OK;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		xm_close(s);
		return xm_end(s, QP_OK);
	}
	if ((chunk = json_parse(data, len, &err)) == NULL || !cJSON_IsObject(chunk)) {
		cJSON_Delete(chunk);
		s->o->bad++;
		return QP_OK;
	}
	err = QP_OK;
	if (json_member(chunk, "error") != NULL && !cJSON_IsNull(json_member(chunk, "error"))) {
		xm_upstream_error(s, chunk);
		goto out;
	}
	if (!s->started) {
		if ((id = xlate_str(chunk, "id")) != NULL)
			snprintf(s->id, sizeof(s->id), "msg_%s", id);
		xm_start(s);
	}
	ch = json_member(chunk, "choices");
	ch = cJSON_IsArray(ch) ? ch->child : NULL;
	delta = json_member(ch, "delta");
	if ((text = xm_reasoning(delta)) != NULL) {
		xm_open(s, XM_THINKING);
		xm_delta(s, s->open_index, "thinking_delta", "thinking", text);
	}
	if ((text = xlate_str(delta, "content")) != NULL && text[0] != '\0') {
		xm_open(s, XM_TEXT);
		xm_delta(s, s->open_index, "text_delta", "text", text);
	}
	if ((text = xlate_str(delta, "refusal")) != NULL && text[0] != '\0') {
		xm_open(s, XM_TEXT);
		xm_delta(s, s->open_index, "text_delta", "text", text);
	}
	cJSON_ArrayForEach(tc, xlate_array(json_member(delta, "tool_calls")))
		if ((err = xm_tool_delta(s, tc)) != QP_OK)
			goto out;
	if ((finish = xlate_str(ch, "finish_reason")) != NULL)
		snprintf(s->finish, sizeof(s->finish), "%s", finish);
	if (cJSON_IsObject(usage = json_member(chunk, "usage")))
		xlate_usage_from_chat(&s->usage, usage);
out:
	cJSON_Delete(chunk);
	(void)event;
	(void)event_len;
	return xm_end(s, err);
}

enum qp_err
xlate_messages_stream_finish(struct xlate_messages_stream *s, int clean)
{

	if (s->err != QP_OK)
		return s->err;
	if (s->failed)
		return QP_EUPSTREAM;
	if (s->done)
		return QP_OK;
	if (clean && s->finish[0] != '\0') {
		xm_close(s);
		return xm_end(s, QP_OK);
	}
	xm_error(s, 502, "the provider's stream ended before the answer was complete");
	xm_end(s, QP_OK);
	return s->err != QP_OK ? s->err : QP_EUPSTREAM;
}
