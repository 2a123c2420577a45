/* xlate.c: the translations' common part: which serves whom, usage, stops, errors, buffers. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "json.h"
#include "sse.h"
#include "xlate.h"
#include "xlate_chat.h"
#include "xlate_messages.h"
#include "xlate_responses.h"

/* Default bound of an xlate_buf: the largest event a transform builds. */
#define XLATE_BUF_MAX	(2 * (size_t)QP_XLATE_KEEP_MAX + 2 * (size_t)QP_SSE_LINE_MAX)
/* First allocation of a buffer. */
#define XLATE_BUF_MIN	256
/* A buffer larger than this is released when emptied. */
#define XLATE_BUF_KEEP	(64 * 1024)

/* One translation: who it serves, and its functions. */
struct xlate_row {
	const char	*name;		/* for logs and request rows */
	enum xlate_api	 client;	/* the client's API */
	enum xlate_api	 upstream;	/* the provider's API */
	enum qp_err	(*request)(struct xlate_ctx *, const cJSON *, const char *, cJSON **);
	enum qp_err	(*response)(struct xlate_ctx *, const cJSON *, cJSON **);
	void		*(*snew)(const struct xlate_ctx *, struct xlate_out *);
	enum qp_err	(*sevent)(void *, const char *, size_t, const char *, size_t);
	enum qp_err	(*sfinish)(void *, int);
	void		(*sfree)(void *);
};

struct xlate_stream {
	const struct xlate_row *row;	/* the translation */
	struct xlate_out out;		/* the client's side */
	void		*impl;		/* the module's transform */
};

/* ---- buffers and warnings --------------------------------------------- */

/* Makes room for n more bytes and a NUL in b; 0 on failure (b->err set). */
static int
xlate_buf_room(struct xlate_buf *b, size_t n)
{
	size_t max = b->max > 0 ? b->max : XLATE_BUF_MAX, ncap;
	char *np;

	if (b->err != QP_OK)
		return 0;
	if (n > max || b->len > max - n) {
		b->err = QP_ETOOBIG;
		return 0;
	}
	if (b->len + n + 1 <= b->cap)
		return 1;
	ncap = b->cap > 0 ? b->cap : XLATE_BUF_MIN;
	while (ncap < b->len + n + 1)
		ncap *= 2;
	if (ncap > max + 1)
		ncap = max + 1;
	if ((np = realloc(b->p, ncap)) == NULL) {
		b->err = QP_ENOMEM;
		return 0;
	}
	b->p = np;
	b->cap = ncap;
	return 1;
}

void
xlate_buf_put(struct xlate_buf *b, const char *s, size_t n)
{

	if (!xlate_buf_room(b, n))
		return;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
xlate_buf_puts(struct xlate_buf *b, const char *s)
{

	xlate_buf_put(b, s, strlen(s));
}

void
xlate_buf_int(struct xlate_buf *b, int64_t v)
{
	char num[32];
	int n;

	n = snprintf(num, sizeof(num), "%" PRId64, v);
	xlate_buf_put(b, num, (size_t)n);
}

void
xlate_buf_jstr(struct xlate_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t i, run = 0;

	xlate_buf_put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		const char *rep = NULL;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		xlate_buf_put(b, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		default:
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			xlate_buf_put(b, esc, sizeof(esc));
			continue;
		}
		xlate_buf_puts(b, rep);
	}
	xlate_buf_put(b, s + run, n - run);
	xlate_buf_put(b, "\"", 1);
}

void
xlate_buf_json(struct xlate_buf *b, const cJSON *v)
{
	char *s;

	if (v == NULL) {
		xlate_buf_puts(b, "null");
		return;
	}
	if ((s = cJSON_PrintUnformatted(v)) == NULL) {
		if (b->err == QP_OK)
			b->err = QP_ENOMEM;
		return;
	}
	xlate_buf_puts(b, s);
	cJSON_free(s);
}

void
xlate_buf_clear(struct xlate_buf *b)
{

	if (b->cap > XLATE_BUF_KEEP) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
	b->err = QP_OK;
}

void
xlate_buf_free(struct xlate_buf *b)
{

	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
xlate_warn_add(struct xlate_warn *w, const char *reason)
{
	size_t have = strlen(w->text), n = strlen(reason);
	const char *sep = have > 0 ? "; " : "", *hit;

	w->count++;
	/* Each reason once: look for it between separators. */
	for (hit = strstr(w->text, reason); hit != NULL; hit = strstr(hit + 1, reason))
		if ((hit == w->text || (hit - w->text >= 2 && hit[-2] == ';' && hit[-1] == ' ')) &&
		    (hit[n] == '\0' || hit[n] == ';'))
			return;
	if (have >= 5 && strcmp(w->text + have - 5, "; ...") == 0)
		return;		/* full already */
	/* Room is kept for "; ..." to say the list was cut. */
	if (have + strlen(sep) + n + 5 > XLATE_WARN_TEXT) {
		memcpy(w->text + have, "; ...", 6);
		return;
	}
	memcpy(w->text + have, sep, strlen(sep));
	memcpy(w->text + have + strlen(sep), reason, n + 1);
}

void
xlate_warn_merge(struct xlate_warn *dst, const struct xlate_warn *src)
{
	const char *p = src->text, *semi;
	char one[XLATE_WARN_TEXT + 1];
	unsigned added = 0;
	size_t n;

	while (*p != '\0') {
		semi = strstr(p, "; ");
		n = semi != NULL ? (size_t)(semi - p) : strlen(p);
		memcpy(one, p, n);
		one[n] = '\0';
		if (strcmp(one, "...") != 0) {
			xlate_warn_add(dst, one);
			added++;
		}
		p += n;
		if (*p != '\0')
			p += 2;
	}
	/* The count holds losses whose reason was already listed. */
	if (src->count > added)
		dst->count += src->count - added;
}

/* ---- stream output ------------------------------------------------------- */

enum qp_err
xlate_out_flush(struct xlate_out *o)
{
	enum qp_err err = o->b.err;

	if (err == QP_OK && o->b.len > 0 && o->write != NULL)
		err = o->write(o->b.p, o->b.len, o->arg);
	xlate_buf_clear(&o->b);
	return err;
}

void
xlate_out_begin(struct xlate_out *o, const char *name)
{

	if (name != NULL) {
		xlate_buf_puts(&o->b, "event: ");
		xlate_buf_puts(&o->b, name);
		xlate_buf_puts(&o->b, "\n");
	}
	xlate_buf_puts(&o->b, "data: ");
}

void
xlate_out_end(struct xlate_out *o)
{

	xlate_buf_puts(&o->b, "\n\n");
}

/* ---- JSON helpers -------------------------------------------------------- */

const cJSON *
xlate_array(const cJSON *v)
{

	return cJSON_IsArray(v) ? v : NULL;
}

const char *
xlate_str(const cJSON *o, const char *key)
{
	const cJSON *v = json_member(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
xlate_num(const cJSON *o, const char *key, int64_t *v)
{
	const cJSON *n = json_member(o, key);
	double d;

	if (!cJSON_IsNumber(n))
		return 0;
	d = n->valuedouble;
	if (!isfinite(d) || d < 0)
		d = 0;
	if (d > (double)INT64_MAX / 2)
		d = (double)INT64_MAX / 2;
	*v = (int64_t)d;
	return 1;
}

int
xlate_copy(cJSON *to, const cJSON *from, const char *key)
{
	const cJSON *v = json_member(from, key);
	cJSON *dup;

	if (v == NULL)
		return 1;
	if ((dup = cJSON_Duplicate(v, 1)) == NULL)
		return 0;
	return cJSON_AddItemToObject(to, key, dup) ? 1 : (cJSON_Delete(dup), 0);
}

char *
xlate_join_text(const cJSON *content, const char *sep, unsigned *other)
{
	struct xlate_buf b = { 0 };
	const cJSON *part;
	const char *type, *text;
	int n = 0;

	if (cJSON_IsString(content))
		xlate_buf_puts(&b, content->valuestring);
	cJSON_ArrayForEach(part, xlate_array(content)) {
		type = xlate_str(part, "type");
		text = xlate_str(part, "text");
		if (type == NULL || text == NULL || (strcmp(type, "text") != 0 &&
		    strcmp(type, "input_text") != 0 && strcmp(type, "output_text") != 0)) {
			(*other)++;
			continue;
		}
		if (n++ > 0)
			xlate_buf_puts(&b, sep);
		xlate_buf_puts(&b, text);
	}
	xlate_buf_put(&b, "", 0);
	if (b.err != QP_OK) {
		xlate_buf_free(&b);
		return NULL;
	}
	return b.p;
}

int64_t
xlate_max_tokens(const struct xlate_ctx *c, const cJSON *v, int64_t dflt)
{
	int64_t n = dflt;

	/* A client's number below 1 stays 1: the provider answers its own error. */
	if (cJSON_IsNumber(v))
		n = !(v->valuedouble >= 1) ? 1 : v->valuedouble > 1e12 ? (int64_t)1e12 :
		    (int64_t)v->valuedouble;
	if (c->max_output > 0 && (n <= 0 || n > c->max_output))
		n = c->max_output;
	return n;
}

enum qp_err
xlate_print(const cJSON *v, char **out, size_t *out_len)
{
	char *s, *copy;
	size_t n;

	*out = NULL;
	*out_len = 0;
	if ((s = cJSON_PrintUnformatted(v)) == NULL)
		return QP_ENOMEM;
	/* cJSON may use its own allocator: hand the caller malloc'd bytes. */
	n = strlen(s);
	if ((copy = malloc(n + 1)) == NULL) {
		cJSON_free(s);
		return QP_ENOMEM;
	}
	memcpy(copy, s, n + 1);
	cJSON_free(s);
	*out = copy;
	*out_len = n;
	return QP_OK;
}

/* ---- usage ---------------------------------------------------------------- */

void
xlate_usage_init(struct xlate_usage *u)
{

	u->input = u->output = u->cache_read = u->cache_write = u->reasoning = -1;
}

void
xlate_usage_from_chat(struct xlate_usage *u, const cJSON *usage)
{
	const cJSON *pd = json_member(usage, "prompt_tokens_details");
	const cJSON *cd = json_member(usage, "completion_tokens_details");
	int64_t prompt = -1, v;

	if (!cJSON_IsObject(usage))
		return;
	if (xlate_num(usage, "prompt_tokens", &v))
		prompt = v;
	if (xlate_num(pd, "cached_tokens", &v))
		u->cache_read = v;
	else if (xlate_num(usage, "prompt_cache_hit_tokens", &v))	/* DeepSeek */
		u->cache_read = v;
	if (xlate_num(pd, "cache_write_tokens", &v))
		u->cache_write = v;
	if (prompt >= 0) {
		v = prompt;
		if (u->cache_read > 0)
			v -= u->cache_read;
		if (u->cache_write > 0)
			v -= u->cache_write;
		u->input = v < 0 ? 0 : v;
	}
	if (xlate_num(usage, "completion_tokens", &v))
		u->output = v;
	if (xlate_num(cd, "reasoning_tokens", &v))
		u->reasoning = v;
}

/* Keeps the larger of *have and a reported member key of o. */
static void
xlate_usage_max(int64_t *have, const cJSON *o, const char *key)
{
	int64_t v;

	if (xlate_num(o, key, &v) && v > *have)
		*have = v;
}

void
xlate_usage_from_messages(struct xlate_usage *u, const cJSON *usage)
{

	if (!cJSON_IsObject(usage))
		return;
	xlate_usage_max(&u->input, usage, "input_tokens");
	xlate_usage_max(&u->output, usage, "output_tokens");
	xlate_usage_max(&u->cache_read, usage, "cache_read_input_tokens");
	xlate_usage_max(&u->cache_write, usage, "cache_creation_input_tokens");
	xlate_usage_max(&u->reasoning, json_member(usage, "output_tokens_details"),
	    "thinking_tokens");
}

/* Returns v, or 0 while not reported. */
static double
xlate_n(int64_t v)
{

	return v < 0 ? 0 : (double)v;
}

cJSON *
xlate_usage_chat(const struct xlate_usage *u)
{
	cJSON *o, *d;
	double prompt = xlate_n(u->input) + xlate_n(u->cache_read) + xlate_n(u->cache_write);

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "prompt_tokens", prompt);
	cJSON_AddNumberToObject(o, "completion_tokens", xlate_n(u->output));
	cJSON_AddNumberToObject(o, "total_tokens", prompt + xlate_n(u->output));
	if ((d = cJSON_AddObjectToObject(o, "prompt_tokens_details")) != NULL) {
		cJSON_AddNumberToObject(d, "cached_tokens", xlate_n(u->cache_read));
		if (u->cache_write >= 0)
			cJSON_AddNumberToObject(d, "cache_write_tokens", xlate_n(u->cache_write));
	}
	if (u->reasoning >= 0 &&
	    (d = cJSON_AddObjectToObject(o, "completion_tokens_details")) != NULL)
		cJSON_AddNumberToObject(d, "reasoning_tokens", xlate_n(u->reasoning));
	return o;
}

cJSON *
xlate_usage_messages(const struct xlate_usage *u)
{
	cJSON *o, *d;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "input_tokens", xlate_n(u->input));
	cJSON_AddNumberToObject(o, "cache_creation_input_tokens", xlate_n(u->cache_write));
	cJSON_AddNumberToObject(o, "cache_read_input_tokens", xlate_n(u->cache_read));
	cJSON_AddNumberToObject(o, "output_tokens", xlate_n(u->output));
	if (u->reasoning >= 0 &&
	    (d = cJSON_AddObjectToObject(o, "output_tokens_details")) != NULL)
		cJSON_AddNumberToObject(d, "thinking_tokens", xlate_n(u->reasoning));
	return o;
}

cJSON *
xlate_usage_responses(const struct xlate_usage *u)
{
	cJSON *o, *d;
	double input = xlate_n(u->input) + xlate_n(u->cache_read) + xlate_n(u->cache_write);

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "input_tokens", input);
	if ((d = cJSON_AddObjectToObject(o, "input_tokens_details")) != NULL) {
		cJSON_AddNumberToObject(d, "cached_tokens", xlate_n(u->cache_read));
		cJSON_AddNumberToObject(d, "cache_write_tokens", xlate_n(u->cache_write));
	}
	cJSON_AddNumberToObject(o, "output_tokens", xlate_n(u->output));
	if ((d = cJSON_AddObjectToObject(o, "output_tokens_details")) != NULL)
		cJSON_AddNumberToObject(d, "reasoning_tokens", xlate_n(u->reasoning));
	cJSON_AddNumberToObject(o, "total_tokens", input + xlate_n(u->output));
	return o;
}

/* ---- stop reasons --------------------------------------------------------- */

/* A chat finish_reason and the Messages stop_reason it reads as, each way. */
static const struct {
	const char	*chat;		/* finish_reason */
	const char	*messages;	/* stop_reason */
	int		 to_messages;	/* 1: the row maps chat to Messages */
	int		 to_chat;	/* 1: the row maps Messages to chat */
} xlate_stops[] = {
	{ "stop", "end_turn", 1, 1 },
	{ "stop", "stop_sequence", 0, 1 },
	{ "stop", "pause_turn", 0, 1 },
	{ "length", "max_tokens", 1, 1 },
	{ "length", "model_context_window_exceeded", 0, 1 },
	{ "tool_calls", "tool_use", 1, 1 },
	{ "function_call", "tool_use", 1, 0 },
	{ "content_filter", "refusal", 1, 1 },
};

const char *
xlate_stop_from_chat(const char *finish_reason)
{
	size_t i;

	for (i = 0; finish_reason != NULL && i < sizeof(xlate_stops) / sizeof(xlate_stops[0]); i++)
		if (xlate_stops[i].to_messages && strcmp(xlate_stops[i].chat, finish_reason) == 0)
			return xlate_stops[i].messages;
	return "end_turn";
}

const char *
xlate_finish_from_messages(const char *stop_reason)
{
	size_t i;

	for (i = 0; stop_reason != NULL && i < sizeof(xlate_stops) / sizeof(xlate_stops[0]); i++)
		if (xlate_stops[i].to_chat && strcmp(xlate_stops[i].messages, stop_reason) == 0)
			return xlate_stops[i].chat;
	return "stop";
}

/* ---- errors ---------------------------------------------------------------- */

/* The error type each family gives an HTTP status (lo..hi inclusive; first match). */
static const struct {
	int		 lo, hi;	/* status range */
	const char	*openai;	/* error.type of chat and Responses */
	const char	*anthropic;	/* error.type of Messages */
} xlate_err_types[] = {
	{ 401, 401, "invalid_request_error", "authentication_error" },
	{ 402, 402, "insufficient_quota", "billing_error" },
	{ 403, 403, "invalid_request_error", "permission_error" },
	{ 404, 404, "invalid_request_error", "not_found_error" },
	{ 413, 413, "invalid_request_error", "request_too_large" },
	{ 429, 429, "rate_limit_exceeded", "rate_limit_error" },
	{ 400, 499, "invalid_request_error", "invalid_request_error" },
	{ 503, 503, "server_error", "overloaded_error" },
	{ 529, 529, "server_error", "overloaded_error" },
	{ 504, 504, "server_error", "timeout_error" },
	{ 0, 999, "server_error", "api_error" },
};

const char *
xlate_error_message(const cJSON *body)
{
	const cJSON *e = json_member(body, "error");
	const char *m;

	if (cJSON_IsString(e) && e->valuestring[0] != '\0')
		return e->valuestring;
	if ((m = xlate_str(e, "message")) != NULL && m[0] != '\0')
		return m;
	if ((m = xlate_str(body, "message")) != NULL && m[0] != '\0')
		return m;
	if ((m = xlate_str(body, "detail")) != NULL && m[0] != '\0')
		return m;
	return NULL;
}

/* Copies s into buf (size bytes), cut on a UTF-8 character boundary. */
static void
xlate_cut(char *buf, size_t size, const char *s, size_t n)
{

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
}

cJSON *
xlate_error_json(enum xlate_api api, int status, const char *message)
{
	cJSON *root = NULL, *e;
	char code[16];
	size_t i;

	for (i = 0; i < sizeof(xlate_err_types) / sizeof(xlate_err_types[0]); i++)
		if (status >= xlate_err_types[i].lo && status <= xlate_err_types[i].hi)
			break;
	if (i == sizeof(xlate_err_types) / sizeof(xlate_err_types[0]))
		i--;
	if ((root = cJSON_CreateObject()) == NULL)
		return NULL;
	if (api == XLATE_API_MESSAGES) {
		cJSON_AddStringToObject(root, "type", "error");
		if ((e = cJSON_AddObjectToObject(root, "error")) == NULL)
			goto fail;
		cJSON_AddStringToObject(e, "type", xlate_err_types[i].anthropic);
		cJSON_AddStringToObject(e, "message", message);
	} else {
		snprintf(code, sizeof(code), "%d", status);
		if ((e = cJSON_AddObjectToObject(root, "error")) == NULL)
			goto fail;
		cJSON_AddStringToObject(e, "message", message);
		cJSON_AddStringToObject(e, "type", xlate_err_types[i].openai);
		cJSON_AddNullToObject(e, "param");
		cJSON_AddStringToObject(e, "code", code);
	}
	if (cJSON_GetArraySize(e) < 2)
		goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* Returns 1 if the n bytes of s read as a short line of text. */
static int
xlate_texty(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
			return 0;
	return n > 0;
}

enum qp_err
xlate_error(enum xlate_dir dir, int status, const char *buf, size_t len, char **out,
    size_t *out_len)
{
	char msg[QP_XLATE_ERRMSG_MAX + 1];
	cJSON *body = NULL, *reply = NULL;
	const char *m = NULL;
	enum qp_err err;

	if ((unsigned)dir >= XLATE_DIR__MAX)
		dir = XLATE_MESSAGES_VIA_CHAT;
	if (buf != NULL && len > 0)
		body = json_parse(buf, len, &err);
	if (body != NULL)
		m = xlate_error_message(body);
	if (m != NULL)
		xlate_cut(msg, sizeof(msg), m, strlen(m));
	else if (body == NULL && buf != NULL && xlate_texty(buf, len))
		xlate_cut(msg, sizeof(msg), buf, len);
	else
		snprintf(msg, sizeof(msg), "the provider answered HTTP %d", status);
	reply = xlate_error_json(xlate_client_api(dir), status, msg);
	err = reply != NULL ? xlate_print(reply, out, out_len) : QP_ENOMEM;
	cJSON_Delete(reply);
	cJSON_Delete(body);
	return err;
}

/* ---- the translations ------------------------------------------------------ */

/* Context of the chat step of a translation through chat (borrows c's strings). */
static void
xlate_ctx_inner(const struct xlate_ctx *c, struct xlate_ctx *ic)
{

	memset(ic, 0, sizeof(*ic));
	ic->dir = XLATE_CHAT_VIA_MESSAGES;
	ic->client_model = c->client_model;
	ic->stream = c->stream;
	ic->include_usage = 1;
	ic->tools = c->tools;
	ic->created = c->created;
}

/* A Responses request through chat onto Messages. */
static enum qp_err
xlate_rm_request(struct xlate_ctx *c, const cJSON *req, const char *model, cJSON **out)
{
	struct xlate_ctx ic;
	cJSON *chat = NULL;
	enum qp_err err;

	*out = NULL;
	if ((err = xlate_responses_request(c, req, model, &chat)) != QP_OK)
		goto out;
	xlate_ctx_inner(c, &ic);
	err = xlate_chat_request(&ic, chat, model, out);
	xlate_warn_merge(&c->warn, &ic.warn);
	if (err != QP_OK)
		memcpy(c->why, ic.why, sizeof(c->why));
out:
	cJSON_Delete(chat);
	return err;
}

/* A Messages answer through chat into a Responses one. */
static enum qp_err
xlate_rm_response(struct xlate_ctx *c, const cJSON *msg, cJSON **out)
{
	struct xlate_ctx ic;
	cJSON *chat = NULL;
	enum qp_err err;

	*out = NULL;
	xlate_ctx_inner(c, &ic);
	err = xlate_chat_response(&ic, msg, &chat);
	xlate_warn_merge(&c->warn, &ic.warn);
	if (err == QP_OK)
		err = xlate_responses_response(c, chat, out);
	cJSON_Delete(chat);
	return err;
}

/* Stream wrappers: the modules' typed functions behind one table. */
static void *
xs_m_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	return xlate_messages_stream_new(c, o);
}

static enum qp_err
xs_m_event(void *s, const char *e, size_t el, const char *d, size_t dl)
{
	return xlate_messages_stream_event(s, e, el, d, dl);
}

static enum qp_err
xs_m_finish(void *s, int clean)
{
	return xlate_messages_stream_finish(s, clean);
}

static void
xs_m_free(void *s)
{
	xlate_messages_stream_free(s);
}

static void *
xs_c_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	return xlate_chat_stream_new(c, o);
}

static enum qp_err
xs_c_event(void *s, const char *e, size_t el, const char *d, size_t dl)
{
	return xlate_chat_stream_event(s, e, el, d, dl);
}

static enum qp_err
xs_c_finish(void *s, int clean)
{
	return xlate_chat_stream_finish(s, clean);
}

static void
xs_c_free(void *s)
{
	xlate_chat_stream_free(s);
}

static void *
xs_r_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	return xlate_responses_stream_new(c, o);
}

static enum qp_err
xs_r_event(void *s, const char *e, size_t el, const char *d, size_t dl)
{
	return xlate_responses_stream_event(s, e, el, d, dl);
}

static enum qp_err
xs_r_finish(void *s, int clean)
{
	return xlate_responses_stream_finish(s, clean);
}

static void
xs_r_free(void *s)
{
	xlate_responses_stream_free(s);
}

/*
 * A Responses stream from a Messages provider: the Messages events become
 * chat chunks (xlate_chat), whose SSE text is parsed again and fed to the
 * Responses transform.
 */
struct xlate_pipe {
	struct xlate_out *out;		/* the client's side, borrowed */
	struct xlate_out mid;		/* the chat chunks */
	struct xlate_chat_stream *chat;	/* Messages events to chat chunks */
	struct xlate_responses_stream *resp; /* chat chunks to Responses events */
	struct sse_parser *sse;		/* parses the chat chunks */
};

static enum qp_err
xs_pipe_event(const struct sse_event *ev, void *arg)
{
	struct xlate_pipe *p = arg;

	return xlate_responses_stream_event(p->resp, ev->event, ev->event_len, ev->data,
	    ev->data_len);
}

static enum qp_err
xs_pipe_write(const char *buf, size_t len, void *arg)
{
	struct xlate_pipe *p = arg;

	return sse_feed(p->sse, buf, len, NULL);
}

static void
xs_p_free(void *s)
{
	struct xlate_pipe *p = s;

	if (p == NULL)
		return;
	xlate_chat_stream_free(p->chat);
	xlate_responses_stream_free(p->resp);
	sse_free(p->sse);
	xlate_buf_free(&p->mid.b);
	free(p);
}

static void *
xs_p_new(const struct xlate_ctx *c, struct xlate_out *o)
{
	struct xlate_ctx ic;
	struct xlate_pipe *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->out = o;
	p->mid.write = xs_pipe_write;
	p->mid.arg = p;
	xlate_ctx_inner(c, &ic);
	if ((p->sse = sse_new(0, xs_pipe_event, p)) == NULL ||
	    (p->resp = xlate_responses_stream_new(c, o)) == NULL ||
	    (p->chat = xlate_chat_stream_new(&ic, &p->mid)) == NULL) {
		xs_p_free(p);
		return NULL;
	}
	return p;
}

/* Moves the chat step's losses and skipped events to the client's side. */
static void
xs_p_merge(struct xlate_pipe *p)
{

	if (p->mid.warn.count > 0) {
		xlate_warn_merge(&p->out->warn, &p->mid.warn);
		memset(&p->mid.warn, 0, sizeof(p->mid.warn));
	}
	p->out->bad += p->mid.bad;
	p->mid.bad = 0;
}

/* After a bound or memory error of the chat step, the client is told by the Responses transform. */
static enum qp_err
xs_p_fail(struct xlate_pipe *p, enum qp_err err)
{

	if (err == QP_ETOOBIG || err == QP_ENOMEM)
		(void)xlate_responses_stream_abort(p->resp, err);
	return err;
}

static enum qp_err
xs_p_event(void *s, const char *e, size_t el, const char *d, size_t dl)
{
	struct xlate_pipe *p = s;
	enum qp_err err;

	err = xlate_chat_stream_event(p->chat, e, el, d, dl);
	xs_p_merge(p);
	return xs_p_fail(p, err);
}

static enum qp_err
xs_p_finish(void *s, int clean)
{
	struct xlate_pipe *p = s;
	enum qp_err err;

	/* The chat step writes its end ([DONE] or an error chunk) into the pipe. */
	err = xlate_chat_stream_finish(p->chat, clean);
	xs_p_merge(p);
	if (err == QP_OK && sse_finish(p->sse) != QP_OK)
		err = QP_EUPSTREAM;
	if (err != QP_OK && err != QP_EUPSTREAM)
		return xs_p_fail(p, err);
	return xlate_responses_stream_finish(p->resp, clean && err == QP_OK);
}

static const struct xlate_row xlate_rows[XLATE_DIR__MAX] = {
	[XLATE_MESSAGES_VIA_CHAT] = { "messages>chat", XLATE_API_MESSAGES, XLATE_API_CHAT,
	    xlate_messages_request, xlate_messages_response,
	    xs_m_new, xs_m_event, xs_m_finish, xs_m_free },
	[XLATE_CHAT_VIA_MESSAGES] = { "chat>messages", XLATE_API_CHAT, XLATE_API_MESSAGES,
	    xlate_chat_request, xlate_chat_response,
	    xs_c_new, xs_c_event, xs_c_finish, xs_c_free },
	[XLATE_RESPONSES_VIA_CHAT] = { "responses>chat", XLATE_API_RESPONSES, XLATE_API_CHAT,
	    xlate_responses_request, xlate_responses_response,
	    xs_r_new, xs_r_event, xs_r_finish, xs_r_free },
	[XLATE_RESPONSES_VIA_MESSAGES] = { "responses>messages", XLATE_API_RESPONSES,
	    XLATE_API_MESSAGES, xlate_rm_request, xlate_rm_response,
	    xs_p_new, xs_p_event, xs_p_finish, xs_p_free },
};

/* Upstream paths of the provider APIs. */
static const char *const xlate_paths[XLATE_API__MAX] = {
	[XLATE_API_CHAT] = "/v1/chat/completions",
	[XLATE_API_MESSAGES] = "/v1/messages",
	[XLATE_API_RESPONSES] = "/v1/responses",
};

/* Translations in order of preference: the first whose provider API is offered serves. */
static const enum xlate_dir xlate_prefs[] = {
	XLATE_MESSAGES_VIA_CHAT, XLATE_CHAT_VIA_MESSAGES,
	XLATE_RESPONSES_VIA_CHAT, XLATE_RESPONSES_VIA_MESSAGES,
};

int
xlate_pick(enum xlate_api client, unsigned provider_apis, enum xlate_dir *dir)
{
	size_t i;

	if ((unsigned)client >= XLATE_API__MAX)
		return -1;
	if (provider_apis & (1u << client))
		return 0;
	for (i = 0; i < sizeof(xlate_prefs) / sizeof(xlate_prefs[0]); i++) {
		const struct xlate_row *row = &xlate_rows[xlate_prefs[i]];

		if (row->client == client && (provider_apis & (1u << row->upstream))) {
			*dir = xlate_prefs[i];
			return 1;
		}
	}
	return -1;
}

enum xlate_api
xlate_upstream_api(enum xlate_dir dir)
{

	return (unsigned)dir < XLATE_DIR__MAX ? xlate_rows[dir].upstream : XLATE_API_CHAT;
}

enum xlate_api
xlate_client_api(enum xlate_dir dir)
{

	return (unsigned)dir < XLATE_DIR__MAX ? xlate_rows[dir].client : XLATE_API_CHAT;
}

const char *
xlate_upstream_path(enum xlate_dir dir)
{

	return xlate_paths[xlate_upstream_api(dir)];
}

const char *
xlate_dir_name(enum xlate_dir dir)
{

	return (unsigned)dir < XLATE_DIR__MAX ? xlate_rows[dir].name : "unknown";
}

void
xlate_ctx_init(struct xlate_ctx *c)
{

	memset(c, 0, sizeof(*c));
}

void
xlate_ctx_free(struct xlate_ctx *c)
{

	if (c == NULL)
		return;
	free(c->client_model);
	free(c->echo);
	memset(c, 0, sizeof(*c));
}

enum qp_err
xlate_request(struct xlate_ctx *c, enum xlate_dir dir, const cJSON *req,
    const char *upstream_model, enum xlate_loss loss, int64_t now, char **out,
    size_t *out_len)
{
	const char *model = xlate_str(req, "model");
	cJSON *body = NULL;
	enum qp_err err;
	int64_t limit;

	*out = NULL;
	*out_len = 0;
	limit = c->max_output;
	xlate_ctx_free(c);
	c->max_output = limit;
	c->dir = dir;
	c->created = now;
	if ((unsigned)dir >= XLATE_DIR__MAX || xlate_rows[dir].request == NULL ||
	    upstream_model == NULL) {
		snprintf(c->why, sizeof(c->why), "no translation serves this request");
		return QP_EINVAL;
	}
	if (!cJSON_IsObject(req)) {
		snprintf(c->why, sizeof(c->why), "the request body must be a JSON object");
		return QP_EINVAL;
	}
	if ((c->client_model = strdup(model != NULL ? model : "")) == NULL)
		return QP_ENOMEM;
	c->stream = cJSON_IsTrue(json_member(req, "stream"));
	if ((err = xlate_rows[dir].request(c, req, upstream_model, &body)) != QP_OK)
		goto out;
	if (loss == XLATE_LOSS_REJECT && c->warn.count > 0) {
		snprintf(c->why, sizeof(c->why), "the provider's API cannot express all of this "
		    "request ([translation] loss_policy = \"reject\"): %s", c->warn.text);
		err = QP_EINVAL;
		goto out;
	}
	err = xlate_print(body, out, out_len);
out:
	cJSON_Delete(body);
	return err;
}

enum qp_err
xlate_response(struct xlate_ctx *c, const char *buf, size_t len, char **out,
    size_t *out_len)
{
	cJSON *up = NULL, *reply = NULL;
	enum qp_err err;

	*out = NULL;
	*out_len = 0;
	if ((unsigned)c->dir >= XLATE_DIR__MAX || xlate_rows[c->dir].response == NULL)
		return QP_EINVAL;
	if ((up = json_parse(buf, len, &err)) == NULL)
		return err;
	if (!cJSON_IsObject(up)) {
		err = QP_EPARSE;
		goto out;
	}
	if ((err = xlate_rows[c->dir].response(c, up, &reply)) != QP_OK)
		goto out;
	err = xlate_print(reply, out, out_len);
out:
	cJSON_Delete(reply);
	cJSON_Delete(up);
	return err;
}

struct xlate_stream *
xlate_stream_new(const struct xlate_ctx *c, xlate_write_fn write, void *arg)
{
	struct xlate_stream *s;

	if ((unsigned)c->dir >= XLATE_DIR__MAX || xlate_rows[c->dir].snew == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->row = &xlate_rows[c->dir];
	s->out.write = write;
	s->out.arg = arg;
	if ((s->impl = s->row->snew(c, &s->out)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

enum qp_err
xlate_stream_event(struct xlate_stream *s, const char *event, size_t event_len,
    const char *data, size_t len)
{

	return s->row->sevent(s->impl, event != NULL ? event : "", event != NULL ? event_len : 0,
	    data != NULL ? data : "", data != NULL ? len : 0);
}

enum qp_err
xlate_stream_finish(struct xlate_stream *s, int clean)
{

	return s->row->sfinish(s->impl, clean);
}

const struct xlate_warn *
xlate_stream_warn(const struct xlate_stream *s)
{

	return &s->out.warn;
}

uint64_t
xlate_stream_bad(const struct xlate_stream *s)
{

	return s->out.bad;
}

void
xlate_stream_free(struct xlate_stream *s)
{

	if (s == NULL)
		return;
	s->row->sfree(s->impl);
	xlate_buf_free(&s->out.b);
	free(s);
}
