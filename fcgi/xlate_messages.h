/* xlate_messages.h: an Anthropic Messages client served by an OpenAI chat-completions provider. */
#ifndef QP_XLATE_MESSAGES_H
#define QP_XLATE_MESSAGES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "xlate.h"

/*
 * The request path reaches these through xlate.h (XLATE_MESSAGES_VIA_CHAT);
 * they are public for the Responses translation and the tests.
 *
 * Request: system (string or text blocks) and role "system" messages become
 * system messages in place; text, images (base64 as data URLs, URLs),
 * tool_use (tool_calls, arguments as JSON text), tool_result (role "tool"
 * messages, before the rest of that user turn; their images follow in a user
 * message), thinking (the assistant's reasoning_content); tools (function
 * tools), tool_choice (auto, any = required, tool, none;
 * disable_parallel_tool_use = parallel_tool_calls false), max_tokens,
 * temperature, top_p, stop_sequences (stop), metadata.user_id (user),
 * thinking enabled with budget_tokens (reasoning_effort low below 4096,
 * medium below 16384, high above), output_config.format (response_format);
 * a stream asks for stream_options.include_usage. Adaptive thinking and
 * output_config.effort leave the provider's default. Dropped with a
 * warning: top_k, documents, file images, server tools, and unknown
 * fields; dropped silently: cache_control and caching hints.
 */

/* A streaming transform of chat chunks into Messages events; owned by one thread. */
struct xlate_messages_stream;

/*
 * Translates the Messages request req (borrowed) into a chat request for
 * model, in *out (the caller frees it with cJSON_Delete()). Sets c->tools
 * and adds losses to c->warn. Returns QP_OK, QP_EINVAL (c->why set: not a
 * Messages request) or QP_ENOMEM.
 */
enum qp_err	 xlate_messages_request(struct xlate_ctx *c, const cJSON *req,
		    const char *model, cJSON **out);

/*
 * Translates the chat completion chat (borrowed) into a Message in *out
 * (cJSON_Delete()), adding losses to c->warn. QP_EPARSE if chat holds no
 * choice with a message; QP_ENOMEM.
 */
enum qp_err	 xlate_messages_response(struct xlate_ctx *c, const cJSON *chat,
		    cJSON **out);

/*
 * Starts a transform writing to o (borrowed for its life). Chat chunks
 * come in; out go message_start, content_block_start/delta/stop (text_delta,
 * thinking_delta from reasoning_content or reasoning, input_json_delta with
 * each tool-argument fragment as it comes), message_delta with the stop
 * reason and usage, and message_stop once "[DONE]" comes. Keeps no text.
 * NULL when out of memory.
 */
struct xlate_messages_stream *xlate_messages_stream_new(const struct xlate_ctx *c,
		    struct xlate_out *o);

/* Takes one upstream event; see xlate_stream_event(). */
enum qp_err	 xlate_messages_stream_event(struct xlate_messages_stream *s,
		    const char *event, size_t event_len, const char *data, size_t len);

/* Ends the stream; see xlate_stream_finish(). */
enum qp_err	 xlate_messages_stream_finish(struct xlate_messages_stream *s, int clean);

/* Frees s. NULL is allowed. */
void		 xlate_messages_stream_free(struct xlate_messages_stream *s);

#endif /* QP_XLATE_MESSAGES_H */
