/* test_endpoint.c: each pooled API, and how an attempt reaches a provider (as is or translated). */
#include "../tap.h"
#include "endpoint.h"

static struct config_provider prov;

static void
setup(void)
{

	memset(&prov, 0, sizeof(prov));
	prov.id = "p";
	prov.openai_path = "/chat/completions";
	prov.anthropic_path = "/messages";
	prov.responses_path = "/responses";
	prov.embeddings_path = "/embeddings";
	prov.completions_path = "/completions";
}

/* Plans api on a provider serving the model over served; returns the result. */
static int
plan(enum endpoint_api api, unsigned served, struct endpoint_plan *pl)
{

	return endpoint_plan(endpoint_get(api), &prov, served, pl);
}

static void
test_plans(void)
{
	static const unsigned both = CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC;
	static const struct {
		enum endpoint_api api;		/* the client's */
		unsigned	 served;	/* the provider's protocols for the model */
		int		 rc;		/* endpoint_plan() */
		int		 translated;	/* expected */
		enum xlate_dir	 dir;		/* when translated */
		unsigned	 upstream;	/* headers' protocol */
		enum usage_proto usage;		/* observed as */
		const char	*path;		/* upstream path */
	} cases[] = {
		{ ENDPOINT_CHAT, CONFIG_PROTO_OPENAI, 0, 0, 0, CONFIG_PROTO_OPENAI,
		    USAGE_PROTO_OPENAI, "/chat/completions" },
		{ ENDPOINT_CHAT, both, 0, 0, 0, CONFIG_PROTO_OPENAI, USAGE_PROTO_OPENAI,
		    "/chat/completions" },
		{ ENDPOINT_CHAT, CONFIG_PROTO_ANTHROPIC, 0, 1, XLATE_CHAT_VIA_MESSAGES,
		    CONFIG_PROTO_ANTHROPIC, USAGE_PROTO_ANTHROPIC, "/messages" },
		{ ENDPOINT_MESSAGES, CONFIG_PROTO_ANTHROPIC, 0, 0, 0, CONFIG_PROTO_ANTHROPIC,
		    USAGE_PROTO_ANTHROPIC, "/messages" },
		{ ENDPOINT_MESSAGES, CONFIG_PROTO_OPENAI, 0, 1, XLATE_MESSAGES_VIA_CHAT,
		    CONFIG_PROTO_OPENAI, USAGE_PROTO_OPENAI, "/chat/completions" },
		{ ENDPOINT_MESSAGES, CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES, 0, 1,
		    XLATE_MESSAGES_VIA_CHAT, CONFIG_PROTO_OPENAI, USAGE_PROTO_OPENAI,
		    "/chat/completions" },
		{ ENDPOINT_RESPONSES, CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES, 0, 0, 0,
		    CONFIG_PROTO_OPENAI, USAGE_PROTO_RESPONSES, "/responses" },
		{ ENDPOINT_RESPONSES, CONFIG_PROTO_OPENAI, 0, 1, XLATE_RESPONSES_VIA_CHAT,
		    CONFIG_PROTO_OPENAI, USAGE_PROTO_OPENAI, "/chat/completions" },
		{ ENDPOINT_RESPONSES, both, 0, 1, XLATE_RESPONSES_VIA_CHAT, CONFIG_PROTO_OPENAI,
		    USAGE_PROTO_OPENAI, "/chat/completions" },
		{ ENDPOINT_RESPONSES, CONFIG_PROTO_ANTHROPIC, 0, 1, XLATE_RESPONSES_VIA_MESSAGES,
		    CONFIG_PROTO_ANTHROPIC, USAGE_PROTO_ANTHROPIC, "/messages" },
		{ ENDPOINT_EMBEDDINGS, CONFIG_PROTO_OPENAI, 0, 0, 0, CONFIG_PROTO_OPENAI,
		    USAGE_PROTO_OPENAI, "/embeddings" },
		{ ENDPOINT_EMBEDDINGS, CONFIG_PROTO_ANTHROPIC, -1, 0, 0, 0, 0, NULL },
		{ ENDPOINT_COMPLETIONS, CONFIG_PROTO_OPENAI, 0, 0, 0, CONFIG_PROTO_OPENAI,
		    USAGE_PROTO_OPENAI, "/completions" },
		{ ENDPOINT_COMPLETIONS, CONFIG_PROTO_ANTHROPIC, -1, 0, 0, 0, 0, NULL },
		{ ENDPOINT_COUNT_TOKENS, CONFIG_PROTO_ANTHROPIC, 0, 0, 0, CONFIG_PROTO_ANTHROPIC,
		    USAGE_PROTO_ANTHROPIC, "/messages/count_tokens" },
		{ ENDPOINT_COUNT_TOKENS, CONFIG_PROTO_OPENAI, -1, 0, 0, 0, 0, NULL },
		{ ENDPOINT_CHAT, CONFIG_PROTO_RESPONSES, -1, 0, 0, 0, 0, NULL },
		{ ENDPOINT_CHAT, 0, -1, 0, 0, 0, 0, NULL },
	};
	struct endpoint_plan pl;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = plan(cases[i].api, cases[i].served, &pl);
		if (!is_int(rc, cases[i].rc, "case %zu: %s over 0x%x: plan %s", i,
		    endpoint_get(cases[i].api)->path, cases[i].served,
		    cases[i].rc == 0 ? "made" : "refused") || rc != 0)
			continue;
		ok(pl.translated == cases[i].translated && (!pl.translated ||
		    pl.dir == cases[i].dir), "case %zu: %s", i, pl.translated ?
		    xlate_dir_name(pl.dir) : "as is");
		is_int(pl.upstream, cases[i].upstream, "case %zu: headers' protocol", i);
		is_int(pl.usage, cases[i].usage, "case %zu: observed protocol", i);
		is_str(pl.path, cases[i].path, "case %zu: upstream path", i);
	}
	prov.anthropic_path = "/v1/messages";
	plan(ENDPOINT_COUNT_TOKENS, CONFIG_PROTO_ANTHROPIC, &pl);
	is_str(pl.path, "/v1/messages/count_tokens", "count_tokens under the provider's path");
	prov.responses_path = "/api/responses";
	plan(ENDPOINT_RESPONSES, CONFIG_PROTO_OPENAI | CONFIG_PROTO_RESPONSES, &pl);
	is_str(pl.path, "/api/responses", "the provider's responses_path");
}

static void
test_table(void)
{
	const struct endpoint *e;
	int i;

	for (i = 0; i < ENDPOINT__MAX; i++) {
		e = endpoint_get((enum endpoint_api)i);
		ok(e->api == (enum endpoint_api)i && e->path != NULL &&
		    strncmp(e->path, "/v1/", 4) == 0 && (e->family == CONFIG_PROTO_OPENAI ||
		    e->family == CONFIG_PROTO_ANTHROPIC), "row %d (%s) is whole", i,
		    e->path != NULL ? e->path : "?");
	}
	is_int(endpoint_get(ENDPOINT_COUNT_TOKENS)->family, CONFIG_PROTO_ANTHROPIC,
	    "count_tokens is of the Anthropic family");
	is_int(endpoint_get(ENDPOINT_RESPONSES)->family, CONFIG_PROTO_OPENAI,
	    "responses of the OpenAI family");
	is_int(endpoint_get(ENDPOINT_RESPONSES)->via, CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC,
	    "responses reach chat and messages by translation");
	is_int(endpoint_get(ENDPOINT_EMBEDDINGS)->via, 0, "embeddings are never translated");
	is_str(endpoint_get(ENDPOINT__MAX)->path, "/v1/chat/completions", "out of range");
}

static void
test_estimate_and_words(void)
{
	struct config cfg;
	char buf[256];

	is_int(endpoint_estimate(0, buf, sizeof(buf)), 18, "an empty body");
	is_str(buf, "{\"input_tokens\":1}", "counts at least one token");
	endpoint_estimate(9, buf, sizeof(buf));
	is_str(buf, "{\"input_tokens\":3}", "one token per 3 bytes");
	endpoint_estimate(10, buf, sizeof(buf));
	is_str(buf, "{\"input_tokens\":4}", "rounded up");
	is_int(endpoint_estimate(10, buf, 5), -1, "too small a buffer");

	endpoint_unreachable(endpoint_get(ENDPOINT_EMBEDDINGS), "claude-x", 0, buf, sizeof(buf));
	is_str(buf, "Model 'claude-x' is served only over the Anthropic (/v1/messages) protocol, "
	    "which /v1/embeddings cannot reach", "embeddings of an Anthropic-only model");
	endpoint_unreachable(endpoint_get(ENDPOINT_RESPONSES), "m", 1, buf, sizeof(buf));
	ok(strstr(buf, "previous_response_id") != NULL && strstr(buf, "stateless") != NULL,
	    "a stateful Responses request is told why: %s", buf);

	memset(&cfg, 0, sizeof(cfg));
	is_int(endpoint_loss(&cfg), XLATE_LOSS_WARN, "loss_policy warn");
	cfg.translation.loss_policy = CONFIG_LOSS_REJECT;
	is_int(endpoint_loss(&cfg), XLATE_LOSS_REJECT, "loss_policy reject");
}

int
main(void)
{

	setup();
	test_table();
	test_plans();
	test_estimate_and_words();
	return done_testing();
}
