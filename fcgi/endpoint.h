/* endpoint.h: the pooled data-plane APIs: what each is, and how one attempt reaches a provider. */
#ifndef QP_ENDPOINT_H
#define QP_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "usage.h"
#include "xlate.h"

/* The APIs a client posts to, each relayed to pooled accounts. */
enum endpoint_api {
	ENDPOINT_CHAT,		/* POST /v1/chat/completions */
	ENDPOINT_MESSAGES,	/* POST /v1/messages */
	ENDPOINT_RESPONSES,	/* POST /v1/responses (stateless unless passed through) */
	ENDPOINT_EMBEDDINGS,	/* POST /v1/embeddings */
	ENDPOINT_COMPLETIONS,	/* POST /v1/completions (OpenAI's legacy completions) */
	ENDPOINT_COUNT_TOKENS,	/* POST /v1/messages/count_tokens */
	ENDPOINT__MAX
};

/* Longest upstream path an attempt may need (a provider path and a suffix). */
#define ENDPOINT_PATH_MAX	512

/* What one API is. Constant; borrowed from endpoint_get(). */
struct endpoint {
	enum endpoint_api api;		/* which */
	const char	*path;		/* the client's route */
	unsigned	 family;	/* CONFIG_PROTO_OPENAI or _ANTHROPIC: the client's
					   protocol family, as request rows record it */
	unsigned	 proto;		/* the provider protocol taking it as is */
	unsigned	 via;		/* CONFIG_PROTO_* bits reached by translation */
	int		 xapi;		/* the client's enum xlate_api, -1 = never translated */
	int		 want_usage;	/* 1: a streamed request asks an OpenAI upstream
					   for its usage chunk (stream_options) */
};

/* How one attempt reaches the chosen provider. Filled by endpoint_plan(). */
struct endpoint_plan {
	int		 translated;	/* 1: the request is translated by dir */
	enum xlate_dir	 dir;		/* the translation when translated */
	unsigned	 upstream;	/* CONFIG_PROTO_OPENAI or _ANTHROPIC: headers and auth */
	enum usage_proto usage;		/* the protocol the answer is observed in */
	char		 path[ENDPOINT_PATH_MAX + 1]; /* upstream path under base_url */
};

/* Returns the API's description. Thread-safe. */
const struct endpoint *endpoint_get(enum endpoint_api api);

/*
 * Plans an attempt of api on provider p, which serves the model over
 * the CONFIG_PROTO_* bits served (select_result.served): as is when
 * served holds the API's own protocol, else through the translation
 * that reaches one of them. Returns 0, or -1 when none reaches the
 * provider or its path is too long. Thread-safe.
 */
int		 endpoint_plan(const struct endpoint *ep, const struct config_provider *p,
		    unsigned served, struct endpoint_plan *plan);

/* Returns the loss policy of the translator for cfg's [translation] loss_policy. */
enum xlate_loss	 endpoint_loss(const struct config *cfg);

/*
 * Answers POST /v1/messages/count_tokens without a provider that counts:
 * writes {"input_tokens":N} into buf (len bytes), N the estimate from
 * the body's bytes (one token per 3 bytes, rounded up, at least 1).
 * Returns the JSON's length, or -1 if it does not fit. Thread-safe.
 */
int		 endpoint_estimate(size_t body_len, char *buf, size_t len);

/*
 * Writes into buf the reason no provider of the model can take api
 * (select's wrong_protocol), in a client's words. stateful is 1 when a
 * Responses request needs a provider that keeps state
 * (previous_response_id). Thread-safe.
 */
void		 endpoint_unreachable(const struct endpoint *ep, const char *model, int stateful,
		    char *buf, size_t len);

#endif /* QP_ENDPOINT_H */
