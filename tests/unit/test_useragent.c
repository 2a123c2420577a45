/* test_useragent.c: the client family of a request, from what real clients send, and the kept user agent. */
#include "../tap.h"
#include "useragent.h"

/* What clients were seen sending (tests/integration and the notes on real clients). */
static const struct {
	const char	*ua, *x_app, *originator, *stainless, *anthropic_version;
	const char	*want;
	const char	*who;
} cases[] = {
	{ "claude-cli/2.1.332 (external, sdk-cli)", "cli", NULL, "0.128.0", "2023-06-01",
	  "claude-cli", "Claude Code 2.1 (on the Anthropic SDK)" },
	{ "claude-cli/2.1.197 (external, cli)", NULL, NULL, NULL, NULL, "claude-cli",
	  "Claude Code by its user agent alone" },
	{ "Bun/1.3.14", "cli", NULL, NULL, NULL, "claude-cli", "Claude Code by x-app alone" },
	{ "opencode/1.18.33 ai-sdk/provider-utils/4.0.23 runtime/bun/1.3.14", NULL, NULL, NULL,
	  NULL, "opencode", "opencode 1.18" },
	{ "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color", NULL, "codex_cli_rs",
	  NULL, NULL, "codex", "Codex CLI" },
	{ "codex_exec/0.169.0 (Debian 12.0.0; x86_64) dumb", NULL, "codex_exec", NULL, NULL,
	  "codex", "codex exec" },
	{ "reqwest/0.12", NULL, "codex_cli_rs", NULL, NULL, "codex", "Codex by its originator" },
	{ "OpenAI/JS 6.49.0", NULL, NULL, "6.49.0", NULL, "openai-sdk", "openai (npm) 6.49" },
	{ "OpenAI/Python 1.109.1", NULL, NULL, "1.109.1", NULL, "openai-sdk", "openai (PyPI)" },
	{ "Anthropic/JS 1.17.0", NULL, NULL, "1.17.0", "2023-06-01", "anthropic-sdk",
	  "@anthropic-ai/sdk 1.17" },
	{ "Anthropic/Python 0.70.0", NULL, NULL, "0.70.0", "2023-06-01", "anthropic-sdk",
	  "anthropic (PyPI)" },
	{ "curl/7.88.1", NULL, NULL, NULL, NULL, "curl", "curl (Debian 12)" },
	{ "CURL/8.0", NULL, NULL, NULL, NULL, "curl", "prefixes ignore case" },
	{ "Mozilla/5.0", NULL, NULL, "4.2.0", "2023-06-01", "anthropic-sdk",
	  "a Stainless SDK in a browser, speaking Anthropic" },
	{ NULL, NULL, NULL, "4.2.0", NULL, "openai-sdk", "a Stainless SDK, no user agent" },
	{ "python-requests/2.31.0", NULL, NULL, NULL, NULL, "other", "python-requests" },
	{ "aider/0.86", NULL, NULL, NULL, NULL, "other", "another agent" },
	{ "", NULL, NULL, NULL, NULL, "other", "an empty user agent" },
	{ NULL, NULL, NULL, NULL, NULL, "other", "nothing sent" },
	{ "xcurl/1", NULL, NULL, NULL, NULL, "other", "a prefix, not a substring" },
	{ "OpenAI/JS 6", "desktop", NULL, NULL, NULL, "openai-sdk", "x-app other than cli" },
	{ "my-codex-wrapper/1", NULL, "", NULL, NULL, "other", "codex inside, not first" },
};

static void
test_classify(void)
{
	struct useragent_in in;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in.user_agent = cases[i].ua;
		in.x_app = cases[i].x_app;
		in.originator = cases[i].originator;
		in.stainless = cases[i].stainless;
		in.anthropic_version = cases[i].anthropic_version;
		is_str(useragent_family_name(useragent_classify(&in)), cases[i].want, "%s: %s",
		    cases[i].who, cases[i].want);
	}
}

static void
test_names(void)
{
	int i;

	for (i = 0; i < USERAGENT__MAX; i++)
		is_int(useragent_family_find(useragent_family_name(i)), i, "name %s round-trips",
		    useragent_family_name(i));
	is_str(useragent_family_name(USERAGENT__MAX), "other", "out of range: other");
	is_int(useragent_family_find("claude-code"), USERAGENT__MAX, "an unknown name");
	is_int(useragent_family_find(NULL), USERAGENT__MAX, "no name");
}

static void
test_clean(void)
{
	static const struct {
		const char	*in;
		size_t		 size;
		const char	*want;
		const char	*what;
	} t[] = {
		{ "curl/7.88.1", 64, "curl/7.88.1", "kept as it is" },
		{ "  claude-cli/2.1 \t", 64, "claude-cli/2.1", "blanks at both ends dropped" },
		{ "a\tb\r\nc\x7f" "d", 64, "a?b??c?d", "control characters and DEL become '?'" },
		{ "x\xff" "y", 64, "x?y", "an invalid byte becomes '?'" },
		{ "caf\xc3\xa9/1", 64, "caf\xc3\xa9/1", "valid UTF-8 kept" },
		{ "abcdef", 4, "abc", "cut to size - 1" },
		{ "ab\xc3\xa9", 4, "ab", "cut at a character boundary, never inside" },
		{ "ab\xe2\x82\xac", 6, "ab\xe2\x82\xac", "a 3-byte character that fits" },
		{ "\xe2\x82", 8, "??", "a truncated character: its bytes become '?'" },
		{ "", 8, "", "empty" },
		{ "   ", 8, "", "only blanks" },
	};
	char out[64];
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = useragent_clean(t[i].in, out, t[i].size);
		ok(strcmp(out, t[i].want) == 0 && n == strlen(t[i].want), "clean: %s (got \"%s\")",
		    t[i].what, out);
	}
	is_int(useragent_clean(NULL, out, sizeof(out)), 0, "clean: NULL gives nothing");
	is_str(out, "", "clean: ... an empty string");
}

int
main(void)
{

	test_classify();
	test_names();
	test_clean();
	return done_testing();
}
