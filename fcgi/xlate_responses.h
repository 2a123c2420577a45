/* xlate_responses.h: an OpenAI Responses client (stateless) served by a chat provider. */
#ifndef QP_XLATE_RESPONSES_H
#define QP_XLATE_RESPONSES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "xlate.h"

/*
 * The request path reaches these through xlate.h (XLATE_RESPONSES_VIA_CHAT,
 * and XLATE_RESPONSES_VIA_MESSAGES, which puts xlate_chat behind them); they
 * are public for the tests.
 *
 * Request: instructions (a system message), input as a string or items:
 * messages of every role (input_text, output_text, input_image), function
 * calls (the assistant's tool_calls, consecutive ones in one message),
 * function_call_output (role "tool"), reasoning items with reasoning text
 * (the next assistant message's reasoning_content); function tools,
 * tool_choice, parallel_tool_calls, max_output_tokens (max_tokens),
 * temperature, top_p, reasoning.effort (reasoning_effort), text.format
 * (response_format), user; a stream asks for its usage. Refused with
 * QP_EINVAL: previous_response_id, conversation, prompt, background and
 * item_reference (they need stored responses). Dropped with a warning:
 * other tools and items, files, store true, top_logprobs, unknown fields;
 * dropped silently: include, prompt_cache_key, client_metadata, metadata,
 * truncation, service_tier and other hints.
 *
 * Answers are Response objects echoing the request's settings; output items
 * are reasoning (reasoning_text content), a message with output_text, and
 * function_call items; usage in Responses terms; a finish by length or
 * content filter makes the response "incomplete".
 */

/* A streaming transform of chat chunks into Responses events; owned by one thread. */
struct xlate_responses_stream;

/*
 * Translates the Responses request req (borrowed) into a chat request for
 * model, in *out (cJSON_Delete()). Sets c->echo and c->tools and adds
 * losses to c->warn. Returns QP_OK, QP_EINVAL (c->why set) or QP_ENOMEM.
 */
enum qp_err	 xlate_responses_request(struct xlate_ctx *c, const cJSON *req,
		    const char *model, cJSON **out);

/*
 * Translates the chat completion chat (borrowed) into a Response in *out
 * (cJSON_Delete()), adding losses to c->warn. QP_EPARSE if chat holds no
 * choice with a message; QP_ENOMEM.
 */
enum qp_err	 xlate_responses_response(struct xlate_ctx *c, const cJSON *chat,
		    cJSON **out);

/*
 * Starts a transform writing to o (borrowed for its life). Chat chunks come
 * in; out go, each with its sequence_number: response.created and
 * response.in_progress, then per output item response.output_item.added,
 * response.content_part.added, response.output_text.delta or
 * response.reasoning_text.delta or response.function_call_arguments.delta
 * (each fragment as it comes), and as the item ends its .done events and
 * response.output_item.done; at "[DONE]" response.completed (or
 * response.incomplete) with the whole output and usage. An upstream error
 * becomes response.failed. The protocol repeats each item whole at its
 * end, so item text is kept, up to QP_XLATE_KEEP_MAX bytes per answer.
 * NULL when out of memory.
 */
struct xlate_responses_stream *xlate_responses_stream_new(const struct xlate_ctx *c,
		    struct xlate_out *o);

/* Takes one upstream event; see xlate_stream_event(). */
enum qp_err	 xlate_responses_stream_event(struct xlate_responses_stream *s,
		    const char *event, size_t event_len, const char *data, size_t len);

/*
 * Stops the stream after err (QP_ETOOBIG or QP_ENOMEM) happened in a step
 * before it: writes response.failed saying so, unless the client has had
 * its end, and makes err stick. Returns the sticky error.
 */
enum qp_err	 xlate_responses_stream_abort(struct xlate_responses_stream *s,
		    enum qp_err err);

/* Ends the stream; see xlate_stream_finish(). */
enum qp_err	 xlate_responses_stream_finish(struct xlate_responses_stream *s, int clean);

/* Frees s. NULL is allowed. */
void		 xlate_responses_stream_free(struct xlate_responses_stream *s);

#endif /* QP_XLATE_RESPONSES_H */
