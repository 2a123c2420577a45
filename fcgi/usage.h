/* usage.h: what an upstream reported about one response: tokens, cost, stop reason, timing. */
#ifndef QP_USAGE_H
#define QP_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest token count kept; larger reports are lowered to it. */
#define USAGE_TOKENS_MAX	2000000000LL
/* Longest model name, response id, stop reason or error type kept. */
#define USAGE_TEXT_MAX		127
/* Longest usage object kept as compact JSON. */
#define USAGE_RAW_MAX		1023

/* Bits returned by usage_event(): what one stream event was. */
#define USAGE_EV_CONTENT	0x01	/* carries output: text, reasoning or a tool call */
#define USAGE_EV_USAGE		0x02	/* carries token usage */
#define USAGE_EV_USAGE_ONLY	0x04	/* OpenAI usage-only final chunk (no choices) */
#define USAGE_EV_DONE		0x08	/* completion evidence */
#define USAGE_EV_ERROR		0x10	/* the upstream reported an error */
#define USAGE_EV_BAD		0x20	/* data was not the JSON this protocol sends */

/* The wire protocol of the upstream response. */
enum usage_proto {
	USAGE_PROTO_OPENAI,	/* OpenAI chat completions */
	USAGE_PROTO_ANTHROPIC,	/* Anthropic messages */
	USAGE_PROTO_RESPONSES,	/* OpenAI Responses API */
	USAGE_PROTO__MAX
};

/* Whether cache counters were reported (stored as cache_counter_status). */
enum usage_cache {
	USAGE_CACHE_NOT_REPORTED,	/* no cache counter in any usage seen */
	USAGE_CACHE_REPORTED,		/* at least one cache counter was a number */
	USAGE_CACHE_UNKNOWN_FORMAT,	/* a cache field was there but not a number */
	USAGE_CACHE__MAX
};

/*
 * Everything observed about one upstream response. Counts are -1 while
 * not reported, so a reported 0 stays distinct; reported counts are
 * whole numbers in [0, USAGE_TOKENS_MAX] (negative or non-finite
 * reports read as 0). Strings are NUL-terminated, "" while unknown, and
 * cut at their bound. Plain data: copy it freely.
 */
struct usage {
	enum usage_proto proto;			/* protocol being observed */
	int		 bare_cost_usd;		/* 1: bare usage.cost is dollars */
	int64_t		 input_tokens;		/* prompt/input tokens */
	int64_t		 output_tokens;		/* completion/output tokens */
	int64_t		 cache_read_tokens;	/* input tokens read from cache */
	int64_t		 cache_write_tokens;	/* input tokens written to cache */
	int64_t		 reasoning_tokens;	/* part of output spent reasoning */
	int		 input_includes_cache;	/* 1: input counts cache tokens (OpenAI, Responses) */
	enum usage_cache cache_status;		/* were cache counters reported */
	int64_t		 cost_microdollars;	/* provider-reported cost, -1 = none */
	int64_t		 thinking_chars;	/* characters of reasoning text seen */
	int64_t		 first_token_at;	/* time of first content, -1 = none */
	int		 done;			/* 1 once completion evidence was seen */
	int		 error;			/* 1 once the upstream sent an error */
	uint32_t	 events;		/* stream events observed */
	uint32_t	 bad_events;		/* events with unexpected data */
	/* Text reported by the upstream, "" while unknown. */
	char		 error_type[USAGE_TEXT_MAX + 1];	/* error type or code */
	char		 finish_reason[USAGE_TEXT_MAX + 1];	/* last stop reason */
	char		 model[USAGE_TEXT_MAX + 1];		/* model name */
	char		 response_id[USAGE_TEXT_MAX + 1];	/* response id */
	char		 raw_usage[USAGE_RAW_MAX + 1];		/* last usage, as JSON */
};

/*
 * Starts observing a response in protocol proto. bare_cost_usd is 1 for
 * providers (opencode-go) whose bare usage.cost and usage.total_cost are
 * dollars; elsewhere those fields are ignored. Thread-safe.
 */
void		 usage_init(struct usage *u, enum usage_proto proto, int bare_cost_usd);

/*
 * Reads a whole non-streaming response body (buf, len; untrusted): token
 * counts and provider cost from "usage", stop reason, model, id, the
 * reasoning text's length, and an "error" object. Sets done when the
 * body is a response without error. Returns QP_OK, or QP_EPARSE (not a
 * JSON object) or QP_ETOOBIG (nested deeper than QP_JSON_DEPTH_MAX),
 * leaving u as it was. Thread-safe for distinct u.
 */
enum qp_err	 usage_body(struct usage *u, const char *buf, size_t len);

/*
 * Observes one SSE event of a streaming response: event is its name (""
 * if none), data its data (len bytes, untrusted, need not be
 * NUL-terminated), now the caller's monotonic time, kept as
 * first_token_at on the first event with content. OpenAI: "[DONE]" is
 * completion; chunks give content (non-empty delta content, reasoning,
 * refusal or tool calls), finish_reason and usage. Anthropic:
 * message_start and message_delta give usage (cumulative, so the largest
 * report of each counter is kept), content_block_delta is content,
 * message_stop is completion. Responses: response.completed and
 * response.incomplete are completion with the response's usage and its
 * status (or incomplete_details.reason) as the stop reason,
 * response.failed is an error, and the *.delta events of output text,
 * refusals, reasoning and tool arguments are content. An OpenAI legacy
 * completion's choices[].text is content. An "error" event, or data holding an
 * "error" object, is an upstream error. Returns the USAGE_EV_* bits
 * describing this event, so a relay can decide, before forwarding it,
 * e.g. to drop a USAGE_EV_USAGE_ONLY chunk the client did not ask for.
 * Never fails: data that is not what the protocol sends counts in
 * bad_events. Thread-safe for distinct u.
 */
unsigned	 usage_event(struct usage *u, const char *event, const char *data,
		    size_t len, int64_t now);

/* Returns "reported", "not_reported" or "unknown_format". */
const char	*usage_cache_name(enum usage_cache c);

#endif /* QP_USAGE_H */
