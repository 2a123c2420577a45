/* xlate_chat.h: an OpenAI chat-completions client served by an Anthropic Messages provider. */
#ifndef QP_XLATE_CHAT_H
#define QP_XLATE_CHAT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "xlate.h"

/*
 * The request path reaches these through xlate.h (XLATE_CHAT_VIA_MESSAGES);
 * they are public for the Responses translation and the tests.
 *
 * Request: system and developer messages become the system prompt (those
 * after the first turn too, with a warning: they lose their place); text
 * and image parts (data URLs as base64, other URLs as URL images); the
 * assistant's tool_calls (tool_use blocks) and role "tool" messages
 * (tool_result blocks in the user turn that follows), consecutive turns of
 * one role merged; tools (function tools), tool_choice (auto, required =
 * any, none, a named function), parallel_tool_calls false
 * (disable_parallel_tool_use), max_completion_tokens or max_tokens
 * (QP_XLATE_MAX_TOKENS when neither is given, lowered to c->max_output),
 * temperature (above 1 lowered to 1), top_p, stop (stop_sequences), user
 * (metadata.user_id), reasoning_effort (thinking with a budget: low 2048,
 * medium 8192, high 16384, higher 32768; added to the default max_tokens,
 * or at most half of the client's),
 * response_format json_schema (output_config.format). Dropped with a
 * warning: n above 1, penalties, logit_bias, logprobs, seed, audio,
 * prediction, web search, json_object format, legacy function calls,
 * audio and file parts; dropped silently: store, metadata, service_tier,
 * caching hints, the assistant's reasoning_content (Messages needs its
 * signature).
 */

/* A streaming transform of Messages events into chat chunks; owned by one thread. */
struct xlate_chat_stream;

/*
 * Translates the chat request req (borrowed) into a Messages request for
 * model, in *out (cJSON_Delete()). Sets c->include_usage and c->tools and
 * adds losses to c->warn. Returns QP_OK, QP_EINVAL (c->why set: not a
 * chat request) or QP_ENOMEM.
 */
enum qp_err	 xlate_chat_request(struct xlate_ctx *c, const cJSON *req, const char *model,
		    cJSON **out);

/*
 * Translates the Message msg (borrowed) into a chat completion in *out
 * (cJSON_Delete()), adding losses to c->warn. QP_EPARSE if msg is not a
 * Message; QP_ENOMEM.
 */
enum qp_err	 xlate_chat_response(struct xlate_ctx *c, const cJSON *msg, cJSON **out);

/*
 * Starts a transform writing to o (borrowed for its life). Messages events
 * come in; out go chat.completion.chunk events: the role first, then
 * content, reasoning_content and tool_calls deltas (each tool call under
 * its index, its id and name first, then each argument fragment as it
 * comes), the finish_reason, the usage chunk when c->include_usage, and
 * [DONE] once message_stop comes. Keeps no text. NULL when out of memory.
 */
struct xlate_chat_stream *xlate_chat_stream_new(const struct xlate_ctx *c,
		    struct xlate_out *o);

/* Takes one upstream event; see xlate_stream_event(). */
enum qp_err	 xlate_chat_stream_event(struct xlate_chat_stream *s, const char *event,
		    size_t event_len, const char *data, size_t len);

/* Ends the stream; see xlate_stream_finish(). */
enum qp_err	 xlate_chat_stream_finish(struct xlate_chat_stream *s, int clean);

/* Frees s. NULL is allowed. */
void		 xlate_chat_stream_free(struct xlate_chat_stream *s);

#endif /* QP_XLATE_CHAT_H */
