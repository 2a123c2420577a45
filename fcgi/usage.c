/* usage.c: extracts token usage, cost, stop reason and completion from upstream replies. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "usage.h"

/* Counters a usage object reports. */
enum usage_counter {
	USAGE_COUNTER_INPUT,		/* input_tokens */
	USAGE_COUNTER_OUTPUT,		/* output_tokens */
	USAGE_COUNTER_CACHE_READ,	/* cache_read_tokens */
	USAGE_COUNTER_CACHE_WRITE,	/* cache_write_tokens */
	USAGE_COUNTER_REASONING,	/* reasoning_tokens */
	USAGE_COUNTER__MAX
};

/*
 * Where each counter is found inside a usage object, in order of
 * preference: the first non-zero report wins, else 0 if any was present.
 */
struct usage_field {
	enum usage_counter	 counter;	/* counter it feeds */
	const char		*parent;	/* member of usage holding key, NULL = usage */
	const char		*key;		/* member holding the number */
};

static const struct usage_field usage_fields[] = {
	{ USAGE_COUNTER_INPUT, NULL, "input_tokens" },
	{ USAGE_COUNTER_INPUT, NULL, "prompt_tokens" },
	{ USAGE_COUNTER_INPUT, NULL, "input_tokens_total" },
	{ USAGE_COUNTER_INPUT, NULL, "prompt_token_count" },
	{ USAGE_COUNTER_OUTPUT, NULL, "output_tokens" },
	{ USAGE_COUNTER_OUTPUT, NULL, "completion_tokens" },
	{ USAGE_COUNTER_CACHE_READ, "prompt_tokens_details", "cached_tokens" },
	{ USAGE_COUNTER_CACHE_READ, "input_tokens_details", "cached_tokens" },
	{ USAGE_COUNTER_CACHE_READ, NULL, "cache_read_input_tokens" },
	{ USAGE_COUNTER_CACHE_READ, NULL, "prompt_cache_hit_tokens" },
	{ USAGE_COUNTER_CACHE_WRITE, "prompt_tokens_details", "cache_write_tokens" },
	{ USAGE_COUNTER_CACHE_WRITE, NULL, "cache_creation_input_tokens" },
	{ USAGE_COUNTER_REASONING, "completion_tokens_details", "reasoning_tokens" },
	{ USAGE_COUNTER_REASONING, "output_tokens_details", "reasoning_tokens" },
};

/*
 * Where a provider reports the cost, from the object holding "usage",
 * in order of preference, and what one unit is in microdollars.
 */
struct usage_cost_path {
	const char	*path[3];	/* member names, NULL after the last */
	double		 scale;		/* microdollars per unit */
	int		 bare;		/* 1: only when bare_cost_usd is set */
};

static const struct usage_cost_path usage_cost_paths[] = {
	{ { "usage", "cost_microdollars", NULL }, 1.0, 0 },
	{ { "usage", "total_cost_microdollars", NULL }, 1.0, 0 },
	{ { "usage", "cost_micros", NULL }, 1.0, 0 },
	{ { "usage", "total_cost_micros", NULL }, 1.0, 0 },
	{ { "usage", "cost_usd", NULL }, 1e6, 0 },
	{ { "usage", "total_cost_usd", NULL }, 1e6, 0 },
	{ { "usage", "billing", "cost_usd" }, 1e6, 0 },
	{ { "usage", "billing", "total_cost_usd" }, 1e6, 0 },
	{ { "billing", "cost_usd", NULL }, 1e6, 0 },
	{ { "billing", "total_cost_usd", NULL }, 1e6, 0 },
	{ { "usage", "cost", NULL }, 1e6, 1 },
	{ { "usage", "total_cost", NULL }, 1e6, 1 },
};

/* Largest provider cost kept, in microdollars ($1 billion). */
#define USAGE_COST_MAX	1000000000000000.0

static const char *const usage_cache_names[USAGE_CACHE__MAX] = {
	[USAGE_CACHE_NOT_REPORTED] = "not_reported",
	[USAGE_CACHE_REPORTED] = "reported",
	[USAGE_CACHE_UNKNOWN_FORMAT] = "unknown_format",
};

const char *
usage_cache_name(enum usage_cache c)
{

	return (unsigned)c < USAGE_CACHE__MAX ? usage_cache_names[c] : "unknown";
}

void
usage_init(struct usage *u, enum usage_proto proto, int bare_cost_usd)
{

	memset(u, 0, sizeof(*u));
	u->proto = proto;
	u->bare_cost_usd = bare_cost_usd ? 1 : 0;
	u->input_tokens = -1;
	u->output_tokens = -1;
	u->cache_read_tokens = -1;
	u->cache_write_tokens = -1;
	u->reasoning_tokens = -1;
	u->input_includes_cache = proto == USAGE_PROTO_OPENAI || proto == USAGE_PROTO_RESPONSES;
	u->cache_status = USAGE_CACHE_NOT_REPORTED;
	u->cost_microdollars = -1;
	u->first_token_at = -1;
}

/* Returns the counter c of u. */
static int64_t *
usage_slot(struct usage *u, enum usage_counter c)
{

	switch (c) {
	case USAGE_COUNTER_INPUT:
		return &u->input_tokens;
	case USAGE_COUNTER_OUTPUT:
		return &u->output_tokens;
	case USAGE_COUNTER_CACHE_READ:
		return &u->cache_read_tokens;
	case USAGE_COUNTER_CACHE_WRITE:
		return &u->cache_write_tokens;
	default:
		return &u->reasoning_tokens;
	}
}

/*
 * Reads member key of o as a token count into *v. Returns 1 if it is a
 * number, 0 if it is absent or null, -1 if it is anything else.
 */
static int
usage_count(const cJSON *o, const char *key, int64_t *v)
{
	const cJSON *c;
	double d;

	c = json_member(o, key);
	if (c == NULL || cJSON_IsNull(c))
		return 0;
	if (!cJSON_IsNumber(c))
		return -1;
	d = c->valuedouble;
	if (!isfinite(d) || d < 0)
		d = 0;
	*v = d >= (double)USAGE_TOKENS_MAX ? USAGE_TOKENS_MAX : (int64_t)d;
	return 1;
}

/* Copies the string s (or "" if it is not one) into dst, cut at its bound. */
static void
usage_text(char dst[USAGE_TEXT_MAX + 1], const cJSON *s)
{

	if (cJSON_IsString(s) && s->valuestring != NULL)
		snprintf(dst, USAGE_TEXT_MAX + 1, "%s", s->valuestring);
}

/* Returns 1 if member key of o is a non-empty string. */
static int
usage_has_text(const cJSON *o, const char *key)
{
	const cJSON *c = json_member(o, key);

	return cJSON_IsString(c) && c->valuestring != NULL && c->valuestring[0] != '\0';
}

/* Returns the number of UTF-8 characters in member key of o, 0 if not a string. */
static int64_t
usage_chars(const cJSON *o, const char *key)
{
	const cJSON *c = json_member(o, key);
	const unsigned char *s;
	int64_t n = 0;

	if (!cJSON_IsString(c) || c->valuestring == NULL)
		return 0;
	for (s = (const unsigned char *)c->valuestring; *s != '\0'; s++)
		if ((*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Reads the provider's cost from holder (the object holding "usage"). */
static void
usage_cost(struct usage *u, const cJSON *holder)
{
	const cJSON *c;
	size_t i, k;
	double d;

	for (i = 0; i < sizeof(usage_cost_paths) / sizeof(usage_cost_paths[0]); i++) {
		const struct usage_cost_path *cp = &usage_cost_paths[i];

		if (cp->bare && !u->bare_cost_usd)
			continue;
		c = holder;
		for (k = 0; k < 3 && cp->path[k] != NULL && c != NULL; k++)
			c = json_member(c, cp->path[k]);
		if (!cJSON_IsNumber(c))
			continue;
		d = c->valuedouble * cp->scale;
		if (!isfinite(d) || d < 0)
			continue;
		if (d > USAGE_COST_MAX)
			d = USAGE_COST_MAX;
		u->cost_microdollars = (int64_t)(d + 0.5);
		return;
	}
}

/*
 * Reads the usage object of holder (and the cost beside it), keeping the
 * largest report of each counter. Returns 1 if holder had a usage object.
 */
static int
usage_read(struct usage *u, const cJSON *holder)
{
	const cJSON *us, *o;
	int64_t v, best[USAGE_COUNTER__MAX];
	int seen[USAGE_COUNTER__MAX], r, cache_num = 0, cache_bad = 0;
	size_t i;
	enum usage_counter c;

	us = json_member(holder, "usage");
	if (!cJSON_IsObject(us)) {
		/* Some providers report the cost without usage. */
		usage_cost(u, holder);
		return 0;
	}
	memset(seen, 0, sizeof(seen));
	memset(best, 0, sizeof(best));
	for (i = 0; i < sizeof(usage_fields) / sizeof(usage_fields[0]); i++) {
		const struct usage_field *f = &usage_fields[i];

		c = f->counter;
		o = f->parent != NULL ? json_member(us, f->parent) : us;
		v = 0;
		r = usage_count(o, f->key, &v);
		if (c == USAGE_COUNTER_CACHE_READ || c == USAGE_COUNTER_CACHE_WRITE) {
			if (r == 1)
				cache_num = 1;
			else if (r < 0)
				cache_bad = 1;
		}
		if (r != 1)
			continue;
		if (!seen[c] || (best[c] == 0 && v != 0)) {
			seen[c] = 1;
			best[c] = v;
		}
	}
	for (c = 0; c < USAGE_COUNTER__MAX; c++) {
		int64_t *slot = usage_slot(u, c);

		if (seen[c] && best[c] > *slot)
			*slot = best[c];
	}
	if (cache_num)
		u->cache_status = USAGE_CACHE_REPORTED;
	else if (cache_bad && u->cache_status != USAGE_CACHE_REPORTED)
		u->cache_status = USAGE_CACHE_UNKNOWN_FORMAT;
	usage_cost(u, holder);
	if (!cJSON_PrintPreallocated((cJSON *)us, u->raw_usage, (int)sizeof(u->raw_usage), 0))
		u->raw_usage[0] = '\0';
	return 1;
}

/* Records an upstream error object (or a non-object, e.g. a string). */
static void
usage_error(struct usage *u, const cJSON *err)
{
	const cJSON *t;

	u->error = 1;
	if (cJSON_IsObject(err)) {
		t = json_member(err, "type");
		if (!cJSON_IsString(t))
			t = json_member(err, "code");
		if (cJSON_IsString(t))
			usage_text(u->error_type, t);
		else if (cJSON_IsNumber(t))
			snprintf(u->error_type, sizeof(u->error_type), "%.0f",
			    isfinite(t->valuedouble) ? t->valuedouble : 0.0);
	}
	if (u->error_type[0] == '\0')
		snprintf(u->error_type, sizeof(u->error_type), "%s", "error");
}

/* Notes the model and response id of a response object, once. */
static void
usage_ident(struct usage *u, const cJSON *o)
{

	if (u->model[0] == '\0')
		usage_text(u->model, json_member(o, "model"));
	if (u->response_id[0] == '\0')
		usage_text(u->response_id, json_member(o, "id"));
}

/*
 * Reads the choices of an OpenAI chunk or body: delta (stream) or
 * message (body) content, reasoning length, finish reason. Returns
 * USAGE_EV_CONTENT if a choice carries output.
 */
static unsigned
usage_openai_choices(struct usage *u, const cJSON *choices, const char *part)
{
	const cJSON *ch, *d, *tc;
	unsigned bits = 0;

	if (!cJSON_IsArray(choices))
		return 0;
	cJSON_ArrayForEach(ch, choices) {
		const cJSON *fr = json_member(ch, "finish_reason");

		if (cJSON_IsString(fr) && fr->valuestring[0] != '\0')
			usage_text(u->finish_reason, fr);
		if (usage_has_text(ch, "text"))
			bits |= USAGE_EV_CONTENT;	/* a legacy completion */
		d = json_member(ch, part);
		if (!cJSON_IsObject(d))
			continue;
		u->thinking_chars += usage_chars(d, "reasoning_content") +
		    usage_chars(d, "reasoning");
		tc = json_member(d, "tool_calls");
		if (usage_has_text(d, "content") || usage_has_text(d, "reasoning_content") ||
		    usage_has_text(d, "reasoning") || usage_has_text(d, "refusal") ||
		    (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0) ||
		    cJSON_IsObject(json_member(d, "function_call")))
			bits |= USAGE_EV_CONTENT;
	}
	return bits;
}

/* Observes one OpenAI stream chunk. */
static unsigned
usage_openai_event(struct usage *u, const char *event, const char *data, size_t len)
{
	cJSON *root = NULL;
	const cJSON *choices, *e;
	enum qp_err err;
	unsigned bits = 0;
	size_t a = 0, b = len;

	while (a < b && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r' || data[a] == '\n'))
		a++;
	while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r' ||
	    data[b - 1] == '\n'))
		b--;
	if (b - a == 6 && memcmp(data + a, "[DONE]", 6) == 0) {
		u->done = 1;
		return USAGE_EV_DONE;
	}
	if (strcmp(event, "error") == 0) {
		usage_error(u, NULL);
		bits |= USAGE_EV_ERROR;
	}
	root = json_parse(data, len, &err);
	if (!cJSON_IsObject(root)) {
		u->bad_events++;
		bits |= USAGE_EV_BAD;
		goto out;
	}
	e = json_member(root, "error");
	if (e != NULL && !cJSON_IsNull(e)) {
		u->error_type[0] = '\0';
		usage_error(u, e);
		bits |= USAGE_EV_ERROR;
		goto out;
	}
	usage_ident(u, root);
	choices = json_member(root, "choices");
	if (cJSON_IsArray(choices))
		bits |= usage_openai_choices(u, choices, "delta");
	if (usage_read(u, root)) {
		bits |= USAGE_EV_USAGE;
		if (choices == NULL || cJSON_IsNull(choices) ||
		    (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0))
			bits |= USAGE_EV_USAGE_ONLY;
	}
out:
	cJSON_Delete(root);
	return bits;
}

/* Observes one Anthropic stream event. */
static unsigned
usage_anthropic_event(struct usage *u, const char *event, const char *data, size_t len)
{
	cJSON *root = NULL;
	const cJSON *t, *m, *d;
	const char *type = event;
	enum qp_err err;
	unsigned bits = 0;

	root = json_parse(data, len, &err);
	if (!cJSON_IsObject(root)) {
		u->bad_events++;
		bits |= USAGE_EV_BAD;
	} else {
		t = json_member(root, "type");
		if (cJSON_IsString(t))
			type = t->valuestring;
	}
	if (strcmp(type, "error") == 0 || strcmp(event, "error") == 0) {
		u->error_type[0] = '\0';
		usage_error(u, json_member(root, "error"));
		bits |= USAGE_EV_ERROR;
	} else if (strcmp(type, "message_stop") == 0) {
		u->done = 1;
		bits |= USAGE_EV_DONE;
	} else if (bits & USAGE_EV_BAD) {
		/* Nothing more to read. */
	} else if (strcmp(type, "message_start") == 0) {
		m = json_member(root, "message");
		if (cJSON_IsObject(m)) {
			usage_ident(u, m);
			if (usage_read(u, m))
				bits |= USAGE_EV_USAGE;
		}
	} else if (strcmp(type, "content_block_delta") == 0) {
		bits |= USAGE_EV_CONTENT;
		d = json_member(root, "delta");
		u->thinking_chars += usage_chars(d, "thinking");
	} else if (strcmp(type, "message_delta") == 0) {
		d = json_member(root, "delta");
		t = json_member(d, "stop_reason");
		if (cJSON_IsString(t))
			usage_text(u->finish_reason, t);
		if (usage_read(u, root))
			bits |= USAGE_EV_USAGE;
	}
	cJSON_Delete(root);
	return bits;
}

/* Responses stream events whose delta is output, and whether it is reasoning. */
static const struct {
	const char	*type;		/* the event's type */
	int		 reasoning;	/* 1: its delta counts in thinking_chars */
} usage_responses_deltas[] = {
	{ "response.output_text.delta", 0 },
	{ "response.refusal.delta", 0 },
	{ "response.function_call_arguments.delta", 0 },
	{ "response.custom_tool_call_input.delta", 0 },
	{ "response.reasoning_text.delta", 1 },
	{ "response.reasoning_summary_text.delta", 1 },
};

/*
 * Reads a Responses response object (a whole body, or the one a terminal
 * event carries): identity, usage, the stop reason (its status, or why
 * it is incomplete) and an error. Returns USAGE_EV_* bits.
 */
static unsigned
usage_responses_object(struct usage *u, const cJSON *resp)
{
	const cJSON *st = json_member(resp, "status"), *why;
	unsigned bits = 0;

	if (!cJSON_IsObject(resp))
		return 0;
	usage_ident(u, resp);
	why = json_member(json_member(resp, "incomplete_details"), "reason");
	if (cJSON_IsString(why) && why->valuestring[0] != '\0')
		usage_text(u->finish_reason, why);
	else if (cJSON_IsString(st) && strcmp(st->valuestring, "in_progress") != 0 &&
	    strcmp(st->valuestring, "queued") != 0)
		usage_text(u->finish_reason, st);
	if (usage_read(u, resp))
		bits |= USAGE_EV_USAGE;
	if (cJSON_IsString(st) && strcmp(st->valuestring, "failed") == 0) {
		u->error_type[0] = '\0';
		usage_error(u, json_member(resp, "error"));
		bits |= USAGE_EV_ERROR;
	}
	return bits;
}

/* Observes one Responses stream event. */
static unsigned
usage_responses_event(struct usage *u, const char *event, const char *data, size_t len)
{
	cJSON *root;
	const cJSON *t;
	const char *type = event;
	enum qp_err err;
	unsigned bits = 0;
	size_t i;

	root = json_parse(data, len, &err);
	if (!cJSON_IsObject(root)) {
		u->bad_events++;
		cJSON_Delete(root);
		if (strcmp(event, "error") == 0) {
			usage_error(u, NULL);
			return USAGE_EV_BAD | USAGE_EV_ERROR;
		}
		return USAGE_EV_BAD;
	}
	t = json_member(root, "type");
	if (cJSON_IsString(t))
		type = t->valuestring;
	if (strcmp(type, "error") == 0 || strcmp(event, "error") == 0) {
		u->error_type[0] = '\0';
		t = json_member(root, "error");
		usage_error(u, t);
		/* The Responses error event holds its code at the top. */
		if (!cJSON_IsObject(t) && usage_has_text(root, "code"))
			usage_text(u->error_type, json_member(root, "code"));
		bits |= USAGE_EV_ERROR;
	} else if (strcmp(type, "response.completed") == 0 ||
	    strcmp(type, "response.incomplete") == 0) {
		bits |= usage_responses_object(u, json_member(root, "response"));
		if (!u->error) {
			u->done = 1;
			bits |= USAGE_EV_DONE;
		}
	} else if (strcmp(type, "response.failed") == 0) {
		bits |= usage_responses_object(u, json_member(root, "response"));
		if (!u->error)
			usage_error(u, NULL);
		bits |= USAGE_EV_ERROR;
	} else if (strcmp(type, "response.created") == 0 ||
	    strcmp(type, "response.in_progress") == 0) {
		usage_ident(u, json_member(root, "response"));
	} else {
		for (i = 0; i < sizeof(usage_responses_deltas) /
		    sizeof(usage_responses_deltas[0]); i++) {
			if (strcmp(type, usage_responses_deltas[i].type) != 0)
				continue;
			if (usage_has_text(root, "delta"))
				bits |= USAGE_EV_CONTENT;
			if (usage_responses_deltas[i].reasoning)
				u->thinking_chars += usage_chars(root, "delta");
			break;
		}
	}
	cJSON_Delete(root);
	return bits;
}

unsigned
usage_event(struct usage *u, const char *event, const char *data, size_t len, int64_t now)
{
	unsigned bits;

	if (event == NULL)
		event = "";
	if (data == NULL)
		len = 0;
	u->events++;
	if (u->proto == USAGE_PROTO_ANTHROPIC)
		bits = usage_anthropic_event(u, event, data, len);
	else if (u->proto == USAGE_PROTO_RESPONSES)
		bits = usage_responses_event(u, event, data, len);
	else
		bits = usage_openai_event(u, event, data, len);
	if ((bits & USAGE_EV_CONTENT) && u->first_token_at < 0)
		u->first_token_at = now < 0 ? 0 : now;
	return bits;
}

/* Reads an Anthropic message body. */
static void
usage_anthropic_body(struct usage *u, const cJSON *root)
{
	const cJSON *blk, *content;

	usage_ident(u, root);
	usage_text(u->finish_reason, json_member(root, "stop_reason"));
	content = json_member(root, "content");
	if (!cJSON_IsArray(content))
		content = NULL;
	cJSON_ArrayForEach(blk, content) {
		const cJSON *t = json_member(blk, "type");

		if (cJSON_IsString(t) && strcmp(t->valuestring, "thinking") == 0)
			u->thinking_chars += usage_chars(blk, "thinking");
	}
	usage_read(u, root);
}

enum qp_err
usage_body(struct usage *u, const char *buf, size_t len)
{
	cJSON *root = NULL;
	const cJSON *e, *t;
	enum qp_err err;

	root = json_parse(buf, len, &err);
	if (root == NULL)
		goto out;
	if (!cJSON_IsObject(root)) {
		err = QP_EPARSE;
		goto out;
	}
	e = json_member(root, "error");
	t = json_member(root, "type");
	if ((e != NULL && !cJSON_IsNull(e)) ||
	    (cJSON_IsString(t) && strcmp(t->valuestring, "error") == 0)) {
		u->error_type[0] = '\0';
		usage_error(u, e);
		goto out;
	}
	if (u->proto == USAGE_PROTO_ANTHROPIC)
		usage_anthropic_body(u, root);
	else if (u->proto == USAGE_PROTO_RESPONSES) {
		if (usage_responses_object(u, root) & USAGE_EV_ERROR)
			goto out;
	} else {
		usage_ident(u, root);
		usage_openai_choices(u, json_member(root, "choices"), "message");
		usage_read(u, root);
	}
	u->done = 1;
out:
	cJSON_Delete(root);
	return err;
}
