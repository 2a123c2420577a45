/* xlate.h: translation between a client's API family and a provider's (the request path's side). */
#ifndef QP_XLATE_H
#define QP_XLATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * How the request path uses it, for a client whose API the provider does
 * not speak (xlate_pick() says which direction, if any):
 *
 *   struct xlate_ctx c;
 *   xlate_ctx_init(&c);
 *   c.max_output = the model's output-token limit, when known;
 *   err = xlate_request(&c, dir, rb.root, upstream_model, policy, now, &body, &len);
 *     QP_EINVAL: answer 400 in the client's family with c.why (previous_response_id,
 *       a body that is not the client API's shape, or loss under XLATE_LOSS_REJECT);
 *     QP_OK: send body (len bytes; free()) to xlate_upstream_path(dir); log and count
 *       c.warn when c.warn.count > 0.
 *   upstream answered 2xx, not streaming:
 *     xlate_response(&c, upstream_body, n, &out, &out_len) -> the client's body
 *     (QP_EPARSE: the upstream sent something else, answer 502).
 *   upstream answered 2xx, streaming (text/event-stream):
 *     s = xlate_stream_new(&c, write_to_client, r);
 *     for each upstream SSE event (sse_feed() callback, after usage_event()):
 *       xlate_stream_event(s, ev->event, ev->event_len, ev->data, ev->data_len);
 *     at the end of the transfer: xlate_stream_finish(s, clean) and xlate_stream_free(s).
 *   upstream answered an error the client gets: xlate_error(c.dir, status, body, n, ...).
 *   xlate_ctx_free(&c).
 *
 * Usage and stop reasons are observed on the upstream's own events
 * (usage_event() in the provider's protocol), before translation.
 */

/* A translation: the client's API, served by a provider speaking another. */
enum xlate_dir {
	XLATE_MESSAGES_VIA_CHAT,	/* Anthropic Messages client, OpenAI chat provider */
	XLATE_CHAT_VIA_MESSAGES,	/* OpenAI chat client, Anthropic Messages provider */
	XLATE_RESPONSES_VIA_CHAT,	/* OpenAI Responses client, chat provider */
	XLATE_RESPONSES_VIA_MESSAGES,	/* Responses client, Messages provider, via chat */
	XLATE_DIR__MAX
};

/* The APIs on either side. */
enum xlate_api {
	XLATE_API_CHAT,		/* POST /v1/chat/completions */
	XLATE_API_MESSAGES,	/* POST /v1/messages */
	XLATE_API_RESPONSES,	/* POST /v1/responses */
	XLATE_API__MAX
};

/* What to do with a request holding something the provider's API cannot express. */
enum xlate_loss {
	XLATE_LOSS_WARN,	/* translate what can be, report the rest in ctx->warn */
	XLATE_LOSS_REJECT,	/* fail the request with QP_EINVAL and the reasons */
	XLATE_LOSS__MAX
};

/* Bound of xlate_warn.text, in bytes. */
#define XLATE_WARN_TEXT		240
/* Bound of xlate_ctx.why, in bytes. */
#define XLATE_WHY_MAX		400

/* What a translation could not express: a count, and short reasons. */
struct xlate_warn {
	unsigned	 count;			/* things dropped or changed */
	char		 text[XLATE_WARN_TEXT + 1]; /* distinct reasons, "; "-joined, cut */
};

/*
 * What the request translation hands on to the response side. Filled by
 * xlate_request(), read (and its warnings added to) by xlate_response();
 * xlate_stream_new() copies what it needs. Owned by the thread serving
 * the request; release with xlate_ctx_free().
 */
struct xlate_ctx {
	enum xlate_dir	 dir;			/* the translation */
	char		*client_model;		/* "model" as the client sent it, owned */
	int		 stream;		/* 1 if the client asked for a stream */
	int		 include_usage;		/* 1: chat's include_usage */
	int		 tools;			/* 1 if the request offered tools */
	char		*echo;			/* Responses: the request's settings that
						   response objects echo, as JSON; owned */
	int64_t		 created;		/* the caller's clock (Unix seconds) */
	int64_t		 max_output;		/* the caller sets it before xlate_request():
						   the model's output limit, 0 if unknown;
						   max_tokens is lowered to it */
	struct xlate_warn warn;			/* losses of the request and response */
	char		 why[XLATE_WHY_MAX + 1];	/* reason of a failed xlate_request() */
};

/* Writes len bytes of client SSE text (whole events); QP_OK or an error that stops the stream. */
typedef enum qp_err (*xlate_write_fn)(const char *buf, size_t len, void *arg);

/* A streaming transform; owned by one thread. */
struct xlate_stream;

/*
 * Returns the translation serving a client of API client from a provider
 * whose APIs are the bits (1 << enum xlate_api) of provider_apis: sets
 * *dir and returns 1; returns 0 if the provider speaks the client's API
 * (pass through) and -1 if no translation reaches it. Thread-safe.
 */
int		 xlate_pick(enum xlate_api client, unsigned provider_apis,
		    enum xlate_dir *dir);

/* Returns the API the provider is spoken to in dir. */
enum xlate_api	 xlate_upstream_api(enum xlate_dir dir);

/* Returns the API of dir's client. */
enum xlate_api	 xlate_client_api(enum xlate_dir dir);

/* Returns the upstream path of dir, "/v1/chat/completions" or "/v1/messages". */
const char	*xlate_upstream_path(enum xlate_dir dir);

/* Returns a short name of dir for logs and request rows ("messages>chat"). */
const char	*xlate_dir_name(enum xlate_dir dir);

/* Empties c for xlate_request(); the caller may then set c->max_output. */
void		 xlate_ctx_init(struct xlate_ctx *c);

/* Releases what c holds and empties it. NULL is allowed. */
void		 xlate_ctx_free(struct xlate_ctx *c);

/*
 * Translates the client's request body req (parsed, untrusted; borrowed)
 * for dir, with "model" set to upstream_model, and streaming requests
 * asking the provider for its final usage. c comes from xlate_ctx_init()
 * (and keeps its max_output). now is the caller's clock in
 * Unix seconds (the created time of translated answers). Fills c. Returns
 * QP_OK with *out the compact JSON body (*out_len bytes, NUL-terminated;
 * the caller frees it with free()); QP_EINVAL with c->why set when the
 * request cannot be served (not the client API's shape, a stateful
 * Responses field such as previous_response_id, or any loss under
 * XLATE_LOSS_REJECT); or QP_ENOMEM. Thread-safe for distinct c.
 */
enum qp_err	 xlate_request(struct xlate_ctx *c, enum xlate_dir dir, const cJSON *req,
		    const char *upstream_model, enum xlate_loss loss, int64_t now,
		    char **out, size_t *out_len);

/*
 * Translates the provider's non-streaming 2xx body (buf, len; untrusted)
 * into the client's. Returns QP_OK with *out (compact JSON, *out_len
 * bytes, NUL-terminated, freed by the caller with free()), adding what
 * could not be expressed to c->warn; QP_EPARSE if the body is not what
 * the provider's API answers; QP_ETOOBIG if it nests too deep; QP_ENOMEM.
 */
enum qp_err	 xlate_response(struct xlate_ctx *c, const char *buf, size_t len,
		    char **out, size_t *out_len);

/*
 * Translates an upstream error answer (status, body buf/len, any bytes)
 * into an error body of dir's client family for the same status: the
 * upstream's message when it gave one (cut at 1 KB), and the type the
 * client's family uses for status. Returns QP_OK with *out (compact JSON,
 * *out_len bytes, the caller frees it with free()) or QP_ENOMEM.
 */
enum qp_err	 xlate_error(enum xlate_dir dir, int status, const char *buf, size_t len,
		    char **out, size_t *out_len);

/*
 * Starts the streaming transform of the response to the request c was
 * filled for. write receives the client's SSE text, one call per
 * upstream event that produced output, each call holding whole events.
 * Memory is bounded per stream: text and tool-argument fragments go out
 * as they come; only a Responses client, whose protocol repeats each
 * finished item, has its items kept, up to QP_XLATE_KEEP_MAX bytes.
 * Returns NULL when out of memory. Free with xlate_stream_free().
 */
struct xlate_stream *xlate_stream_new(const struct xlate_ctx *c, xlate_write_fn write,
		    void *arg);

/*
 * Takes one upstream SSE event: its name (event, event_len; "" when none)
 * and data (data, len; untrusted). Data that is not what the provider
 * sends is skipped and counted. An upstream error event is written as an
 * error event of the client's family. Returns QP_OK; the write
 * callback's error; QP_ETOOBIG past a bound (the transform has written
 * an error event to the client); QP_ENOMEM. An error sticks.
 */
enum qp_err	 xlate_stream_event(struct xlate_stream *s, const char *event, size_t event_len,
		    const char *data, size_t len);

/*
 * Ends the stream once the upstream transfer is over; clean is 1 if it
 * ended without a transport error. If the upstream's end was seen (or
 * its last answer with clean set), writes the client's closing events
 * if they are not out yet and returns QP_OK. Otherwise writes an error
 * event of the client's family and returns QP_EUPSTREAM (incomplete
 * stream); after an upstream error event, or a sticky error, writes
 * nothing more and returns QP_EUPSTREAM or that error. A client that
 * went away needs no finish: free the stream.
 */
enum qp_err	 xlate_stream_finish(struct xlate_stream *s, int clean);

/* Returns what the stream could not express (reasons and count); borrowed from s. */
const struct xlate_warn *xlate_stream_warn(const struct xlate_stream *s);

/* Returns the upstream events skipped as malformed so far. */
uint64_t	 xlate_stream_bad(const struct xlate_stream *s);

/* Frees s. NULL is allowed. */
void		 xlate_stream_free(struct xlate_stream *s);

/* ---- shared by the xlate_* modules ------------------------------------ */

/* A growable byte buffer with a cap; an error sticks and later appends do nothing. */
struct xlate_buf {
	char		*p;		/* bytes, NUL-terminated once allocated */
	size_t		 len;		/* bytes used, excluding the NUL */
	size_t		 cap;		/* bytes allocated */
	size_t		 max;		/* bound on len; 0 means QP_SSE_LINE_MAX * 4 */
	enum qp_err	 err;		/* QP_OK, QP_ENOMEM or QP_ETOOBIG */
};

/* Appends n bytes of s to b. */
void		 xlate_buf_put(struct xlate_buf *b, const char *s, size_t n);

/* Appends the NUL-terminated s to b. */
void		 xlate_buf_puts(struct xlate_buf *b, const char *s);

/* Appends a decimal integer. */
void		 xlate_buf_int(struct xlate_buf *b, int64_t v);

/* Appends s (n bytes) as a JSON string, quotes included. */
void		 xlate_buf_jstr(struct xlate_buf *b, const char *s, size_t n);

/* Appends v as compact JSON ("null" when v is NULL). */
void		 xlate_buf_json(struct xlate_buf *b, const cJSON *v);

/* Empties b, releasing its memory if it grew large (err is cleared). */
void		 xlate_buf_clear(struct xlate_buf *b);

/* Releases b's memory. */
void		 xlate_buf_free(struct xlate_buf *b);

/*
 * Where a streaming transform writes: the client's sink, the events being
 * built, and what the stream could not express. Owned by the generic
 * stream; a module's transform borrows it for its whole life.
 */
struct xlate_out {
	xlate_write_fn	 write;		/* the client's sink */
	void		*arg;		/* passed to write */
	struct xlate_buf b;		/* SSE text of the events being built */
	struct xlate_warn warn;		/* losses while streaming */
	uint64_t	 bad;		/* upstream events skipped as malformed */
};

/* Writes what o->b holds in one call and empties it; QP_OK, b's error or write's. */
enum qp_err	 xlate_out_flush(struct xlate_out *o);

/* Appends "event: name\ndata: " (name may be NULL: no event line) to o->b. */
void		 xlate_out_begin(struct xlate_out *o, const char *name);

/* Appends the "\n\n" that ends an event to o->b. */
void		 xlate_out_end(struct xlate_out *o);

/* Adds one loss with its short reason (kept once, cut at the bound). */
void		 xlate_warn_add(struct xlate_warn *w, const char *reason);

/* Adds every loss of src to dst. */
void		 xlate_warn_merge(struct xlate_warn *dst, const struct xlate_warn *src);

/*
 * Token usage in Anthropic's terms: input excludes the cached tokens.
 * Counts are -1 while not reported.
 */
struct xlate_usage {
	int64_t		 input;		/* input tokens, cache reads and writes aside */
	int64_t		 output;	/* output tokens */
	int64_t		 cache_read;	/* input tokens read from cache */
	int64_t		 cache_write;	/* input tokens written to cache */
	int64_t		 reasoning;	/* output tokens spent reasoning */
};

/* Sets every count of u to -1. */
void		 xlate_usage_init(struct xlate_usage *u);

/* Reads a chat "usage" object (prompt_tokens include the cached ones) into u. */
void		 xlate_usage_from_chat(struct xlate_usage *u, const cJSON *usage);

/* Reads a Messages "usage" object into u; counts only grow (they are cumulative). */
void		 xlate_usage_from_messages(struct xlate_usage *u, const cJSON *usage);

/* Returns u as a chat "usage" object, or NULL when out of memory. */
cJSON		*xlate_usage_chat(const struct xlate_usage *u);

/* Returns u as a Messages "usage" object, or NULL when out of memory. */
cJSON		*xlate_usage_messages(const struct xlate_usage *u);

/* Returns u as a Responses "usage" object, or NULL when out of memory. */
cJSON		*xlate_usage_responses(const struct xlate_usage *u);

/* Returns the Messages stop_reason for a chat finish_reason ("end_turn" if unknown). */
const char	*xlate_stop_from_chat(const char *finish_reason);

/* Returns the chat finish_reason for a Messages stop_reason ("stop" if unknown). */
const char	*xlate_finish_from_messages(const char *stop_reason);

/* Returns v if it is an array, else NULL (for cJSON_ArrayForEach). */
const cJSON	*xlate_array(const cJSON *v);

/* Returns the string member key of o, or NULL if absent or not a string. */
const char	*xlate_str(const cJSON *o, const char *key);

/* Returns the message of an error object or body (several shapes), or NULL. */
const char	*xlate_error_message(const cJSON *body);

/*
 * Returns a new error object of api's family for status and message: for
 * chat and Responses {"error":{"message","type","param","code"}}, for
 * Messages {"type":"error","error":{"type","message"}}; NULL when out of
 * memory.
 */
cJSON		*xlate_error_json(enum xlate_api api, int status, const char *message);

/* Returns the number member key of o as a whole number in *v; 0 if absent or not a number. */
int		 xlate_num(const cJSON *o, const char *key, int64_t *v);

/*
 * Joins the text of content: a string, or an array of parts whose type is
 * "text", "input_text" or "output_text" (their "text"), with sep between
 * parts. Adds the number of other parts to *other. Returns a string the
 * caller frees with free(), or NULL when out of memory.
 */
char		*xlate_join_text(const cJSON *content, const char *sep, unsigned *other);

/*
 * Returns the output-token limit to send for the client's value v (a
 * number, or absent: dflt, 0 for none), lowered to c->max_output when that
 * is set; 0 means send none.
 */
int64_t		 xlate_max_tokens(const struct xlate_ctx *c, const cJSON *v, int64_t dflt);

/* Prints v compactly into *out, *out_len bytes (free()); QP_ENOMEM. */
enum qp_err	 xlate_print(const cJSON *v, char **out, size_t *out_len);

/* Adds a copy of the member key of from to to (when present); 0 when out of memory. */
int		 xlate_copy(cJSON *to, const cJSON *from, const char *key);

#endif /* QP_XLATE_H */
