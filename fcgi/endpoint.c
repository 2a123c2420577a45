/* endpoint.c: the pooled data-plane APIs, one table row each, and the plan of one attempt. */
#include <stdio.h>
#include <string.h>

#include "endpoint.h"

static const struct endpoint endpoint_table[ENDPOINT__MAX] = {
	[ENDPOINT_CHAT] = { ENDPOINT_CHAT, "/v1/chat/completions", CONFIG_PROTO_OPENAI,
	    CONFIG_PROTO_OPENAI, CONFIG_PROTO_ANTHROPIC, XLATE_API_CHAT, 1 },
	[ENDPOINT_MESSAGES] = { ENDPOINT_MESSAGES, "/v1/messages", CONFIG_PROTO_ANTHROPIC,
	    CONFIG_PROTO_ANTHROPIC, CONFIG_PROTO_OPENAI, XLATE_API_MESSAGES, 0 },
	[ENDPOINT_RESPONSES] = { ENDPOINT_RESPONSES, "/v1/responses", CONFIG_PROTO_OPENAI,
	    CONFIG_PROTO_RESPONSES, CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC,
	    XLATE_API_RESPONSES, 0 },
	[ENDPOINT_EMBEDDINGS] = { ENDPOINT_EMBEDDINGS, "/v1/embeddings", CONFIG_PROTO_OPENAI,
	    CONFIG_PROTO_OPENAI, 0, -1, 0 },
	[ENDPOINT_COMPLETIONS] = { ENDPOINT_COMPLETIONS, "/v1/completions", CONFIG_PROTO_OPENAI,
	    CONFIG_PROTO_OPENAI, 0, -1, 1 },
	[ENDPOINT_COUNT_TOKENS] = { ENDPOINT_COUNT_TOKENS, "/v1/messages/count_tokens",
	    CONFIG_PROTO_ANTHROPIC, CONFIG_PROTO_ANTHROPIC, 0, -1, 0 },
};

/* The translator's API of each provider protocol bit, for xlate_pick(). */
static const struct {
	unsigned	 proto;		/* CONFIG_PROTO_* */
	enum xlate_api	 api;		/* its API */
} endpoint_apis[] = {
	{ CONFIG_PROTO_OPENAI, XLATE_API_CHAT },
	{ CONFIG_PROTO_ANTHROPIC, XLATE_API_MESSAGES },
	{ CONFIG_PROTO_RESPONSES, XLATE_API_RESPONSES },
};

/* The translator's loss policy for each [translation] loss_policy. */
static const enum xlate_loss endpoint_losses[CONFIG_LOSS__MAX] = {
	[CONFIG_LOSS_WARN] = XLATE_LOSS_WARN,
	[CONFIG_LOSS_REJECT] = XLATE_LOSS_REJECT,
};

/* The names of the protocols in a refusal. */
static const struct {
	unsigned	 proto;		/* CONFIG_PROTO_* */
	const char	*name;		/* as a client reads it */
} endpoint_proto_names[] = {
	{ CONFIG_PROTO_OPENAI, "OpenAI (/v1/chat/completions)" },
	{ CONFIG_PROTO_ANTHROPIC, "Anthropic (/v1/messages)" },
	{ CONFIG_PROTO_RESPONSES, "Responses (/v1/responses)" },
};

const struct endpoint *
endpoint_get(enum endpoint_api api)
{

	return &endpoint_table[(unsigned)api < ENDPOINT__MAX ? api : ENDPOINT_CHAT];
}

enum xlate_loss
endpoint_loss(const struct config *cfg)
{
	unsigned l = (unsigned)cfg->translation.loss_policy;

	return l < CONFIG_LOSS__MAX ? endpoint_losses[l] : XLATE_LOSS_WARN;
}

/* Writes the provider's path of upstream API proto (and suffix) into plan->path. */
static int
endpoint_path(const struct endpoint *ep, const struct config_provider *p, unsigned proto,
    struct endpoint_plan *plan)
{
	const char *base, *suffix = "";
	int n;

	switch (ep->api) {
	case ENDPOINT_EMBEDDINGS:
		base = p->embeddings_path;
		break;
	case ENDPOINT_COMPLETIONS:
		base = p->completions_path;
		break;
	case ENDPOINT_COUNT_TOKENS:
		base = p->anthropic_path;
		suffix = "/count_tokens";
		break;
	default:
		base = proto == CONFIG_PROTO_ANTHROPIC ? p->anthropic_path :
		    proto == CONFIG_PROTO_RESPONSES ? p->responses_path : p->openai_path;
		break;
	}
	if (base == NULL)
		return -1;
	n = snprintf(plan->path, sizeof(plan->path), "%s%s", base, suffix);
	return n < 0 || (size_t)n >= sizeof(plan->path) ? -1 : 0;
}

int
endpoint_plan(const struct endpoint *ep, const struct config_provider *p, unsigned served,
    struct endpoint_plan *plan)
{
	unsigned apis = 0, proto;
	size_t i;

	memset(plan, 0, sizeof(*plan));
	if (served & ep->proto)
		proto = ep->proto;
	else {
		if (ep->xapi < 0 || (served & ep->via) == 0)
			return -1;
		for (i = 0; i < sizeof(endpoint_apis) / sizeof(endpoint_apis[0]); i++)
			if (served & ep->via & endpoint_apis[i].proto)
				apis |= 1u << endpoint_apis[i].api;
		if (xlate_pick((enum xlate_api)ep->xapi, apis, &plan->dir) != 1)
			return -1;
		plan->translated = 1;
		proto = xlate_upstream_api(plan->dir) == XLATE_API_MESSAGES ?
		    CONFIG_PROTO_ANTHROPIC : CONFIG_PROTO_OPENAI;
	}
	plan->upstream = proto == CONFIG_PROTO_ANTHROPIC ? CONFIG_PROTO_ANTHROPIC :
	    CONFIG_PROTO_OPENAI;
	plan->usage = proto == CONFIG_PROTO_ANTHROPIC ? USAGE_PROTO_ANTHROPIC :
	    proto == CONFIG_PROTO_RESPONSES ? USAGE_PROTO_RESPONSES : USAGE_PROTO_OPENAI;
	return endpoint_path(ep, p, proto, plan);
}

int
endpoint_estimate(size_t body_len, char *buf, size_t len)
{
	unsigned long long n = (unsigned long long)body_len / 3 + (body_len % 3 != 0);
	int w;

	w = snprintf(buf, len, "{\"input_tokens\":%llu}", n > 0 ? n : 1);
	return w < 0 || (size_t)w >= len ? -1 : w;
}

void
endpoint_unreachable(const struct endpoint *ep, const char *model, int stateful, char *buf,
    size_t len)
{
	unsigned other = CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC | CONFIG_PROTO_RESPONSES;
	const char *name = "another protocol";
	size_t i;

	if (stateful) {
		snprintf(buf, len, "Model '%s' has no provider that takes /v1/responses as is "
		    "(protocols with \"responses\"), and previous_response_id or conversation "
		    "need one: this gateway's translation of the Responses API is stateless; "
		    "send the whole conversation in input", model);
		return;
	}
	other &= ~(ep->proto | ep->via);
	for (i = 0; i < sizeof(endpoint_proto_names) / sizeof(endpoint_proto_names[0]); i++)
		if (other & endpoint_proto_names[i].proto) {
			name = endpoint_proto_names[i].name;
			break;
		}
	snprintf(buf, len, "Model '%s' is served only over the %s protocol, which %s cannot "
	    "reach", model, name, ep->path);
}
