/* test_alias.c: [aliases]: the glob matcher, the lookup in file order, and the walk of a fallback list. */
#include "../tap.h"
#include "alias.h"
#include "config.h"

/* The glob matcher, table-driven. */
static const struct {
	const char	*pat;
	const char	*s;
	int		 want;
} globs[] = {
	{ "claude-*", "claude-opus-4-8", 1 },
	{ "claude-*", "claude-", 1 },
	{ "claude-*", "claude", 0 },
	{ "claude-*", "xclaude-opus", 0 },
	{ "gpt-5*", "gpt-5", 1 },
	{ "gpt-5*", "gpt-5.1-codex", 1 },
	{ "gpt-5*", "gpt-4o", 0 },
	{ "*", "", 1 },
	{ "*", "anything/at all", 1 },
	{ "", "", 1 },
	{ "", "a", 0 },
	{ "a", "", 0 },
	{ "exact", "exact", 1 },
	{ "exact", "exactly", 0 },
	{ "Exact", "exact", 0 },
	{ "?", "a", 1 },
	{ "?", "", 0 },
	{ "?", "ab", 0 },
	{ "a?c", "abc", 1 },
	{ "a?c", "ac", 0 },
	{ "a?c", "a\xc3\xa9" "c", 1 },		/* '?' is one UTF-8 character */
	{ "a??c", "a\xc3\xa9" "c", 0 },
	{ "?", "\xe2\x82\xac", 1 },
	{ "*-4-?", "claude-opus-4-8", 1 },
	{ "*opus*", "claude-opus-4-8", 1 },
	{ "*opus*", "claude-sonnet-4-5", 0 },
	{ "claude-*-4-*", "claude-opus-4-8[1m]", 1 },
	{ "*a*b*c", "xaxbxbxc", 1 },
	{ "*a*b*c", "xaxbxbx", 0 },
	{ "**", "x", 1 },
	{ "a*", "a", 1 },
	{ "*b", "aaab", 1 },
	{ "*b", "aaba", 0 },
	{ "qwen/*", "qwen/qwen3-coder", 1 },
	{ "*/zai", "glm-4.6/zai", 1 },
	{ "*aaa*aaa*aaa*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
};

static void
test_glob(void)
{
	size_t i;

	for (i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		is_int(alias_glob_match(globs[i].pat, globs[i].s), globs[i].want,
		    "glob \"%s\" %s \"%s\"", globs[i].pat, globs[i].want ? "matches" :
		    "does not match", globs[i].s);
	is_int(alias_glob_match(NULL, "x"), 0, "glob: a NULL pattern matches nothing");
	is_int(alias_glob_match("*", NULL), 0, "glob: nothing matches NULL");
}

static struct config *
load(const char *text, struct config_diag *d)
{
	enum qp_err err;

	memset(d, 0, sizeof(*d));
	return config_load_buf(text, strlen(text), NULL, d, &err);
}

static void
test_config(void)
{
	static const char good[] =
	    "[aliases]\n"
	    "\"claude-*\" = [\"glm-4.6/zai\", \"deepseek-chat/deepseek\"]\n"
	    "\"gpt-5*\" = \"qwen3-coder/local\"\n"
	    "\"*\" = \"fallback\"\n";
	static const char *const bad[] = {
	    "[aliases]\n\"a*\" = []\n",
	    "[aliases]\n\"a*\" = 3\n",
	    "[aliases]\n\"a*\" = [\"x\", 4]\n",
	    "[aliases]\n\"a*\" = \"has space\"\n",
	    "[aliases]\n\"a b\" = \"x\"\n",
	    "[aliases]\n\"a*\" = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
	    "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]\n",
	    "aliases = 3\n",
	};
	struct config_diag d;
	struct config *cfg;
	const struct config_alias *a;
	size_t i;

	cfg = load(good, &d);
	ok(cfg != NULL && d.nerrors == 0, "config: [aliases] loads");
	if (cfg == NULL) {
		config_diag_print(&d, NULL, stdout);
		config_diag_free(&d);
		return;
	}
	is_int(cfg->naliases, 3, "config: three patterns");
	is_str(cfg->aliases[0].pattern, "claude-*", "config: file order kept (1)");
	is_int(cfg->aliases[0].ntargets, 2, "config: a list gives its models");
	is_str(cfg->aliases[0].targets[1], "deepseek-chat/deepseek", "config: in order");
	is_str(cfg->aliases[1].pattern, "gpt-5*", "config: file order kept (2)");
	is_int(cfg->aliases[1].ntargets, 1, "config: a string is one model");
	is_str(cfg->aliases[1].targets[0], "qwen3-coder/local", "config: its model");
	is_int(cfg->aliases[0].line, 2, "config: the line of a pattern");

	a = alias_find(cfg, "claude-opus-4-8");
	is_str(a != NULL ? a->pattern : NULL, "claude-*", "find: the first match wins");
	a = alias_find(cfg, "gpt-5.1-codex");
	is_str(a != NULL ? a->pattern : NULL, "gpt-5*", "find: the second pattern");
	a = alias_find(cfg, "llama");
	is_str(a != NULL ? a->pattern : NULL, "*", "find: the catch-all comes last");
	ok(alias_find(NULL, "x") == NULL, "find: no config, no alias");
	config_free(cfg);
	config_diag_free(&d);

	cfg = load("[server]\nport = 1\n", &d);
	ok(cfg != NULL && alias_find(cfg, "claude-opus-4-8") == NULL,
	    "find: no [aliases], no alias");
	config_free(cfg);
	config_diag_free(&d);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = load(bad[i], &d);
		ok(cfg == NULL && d.nerrors > 0 && d.msgs[0].line > 0,
		    "config: refused with a line: %s", bad[i]);
		if (d.n > 0)
			printf("# %s\n", d.msgs[0].text);
		config_free(cfg);
		config_diag_free(&d);
	}
}

/* A fake selection: per target, the statuses it returns, call after call. */
struct fake {
	const char	*target[4];
	enum select_status st[4][4];
	int		 calls[4];
	int		 fresh[4];
	char		 log[256];
};

static enum select_status
fake_try(void *arg, const char *target, int fresh, int64_t *retry_at)
{
	struct fake *f = arg;
	size_t n = strlen(f->log);
	int i;

	for (i = 0; i < 4 && f->target[i] != NULL; i++)
		if (strcmp(f->target[i], target) == 0)
			break;
	snprintf(f->log + n, sizeof(f->log) - n, "%s%s%s", n ? "," : "", target,
	    fresh ? "+" : "");
	if (i == 4 || f->target[i] == NULL)
		return SELECT_NO_MODEL;
	f->fresh[i] += fresh;
	*retry_at = 1000 * (i + 1);
	return f->st[i][f->calls[i]++];
}

static void
test_choose(void)
{
	static char *targets[] = { "glm-4.6/zai", "deepseek-chat/deepseek", "local" };
	struct config_alias al = { "claude-*", targets, 3, 1 };
	struct alias_route rt;
	struct fake f;
	int64_t at;

	/* No alias: refused at once. */
	alias_route_init(&rt, NULL);
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_NO_MODEL, "choose: no alias: no model");
	ok(alias_route_target(&rt) == NULL, "choose: no alias: no target");

	/* The first target serves. */
	memset(&f, 0, sizeof(f));
	f.target[0] = targets[0];
	f.st[0][0] = SELECT_OK;
	alias_route_init(&rt, &al);
	ok(alias_route_target(&rt) == NULL, "choose: no target before the first try");
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_OK, "choose: the first target serves");
	is_str(alias_route_target(&rt), "glm-4.6/zai", "choose: ... and is the target");
	is_str(f.log, "glm-4.6/zai+", "choose: tried once, fresh");

	/*
	 * Every account of the first answers 429: after its attempts it is
	 * exhausted, and the second serves; a later failover resumes with
	 * the second, not fresh.
	 */
	memset(&f, 0, sizeof(f));
	f.target[0] = targets[0];
	f.target[1] = targets[1];
	f.st[0][0] = SELECT_OK;
	f.st[0][1] = SELECT_OK;
	f.st[0][2] = SELECT_EXHAUSTED;
	f.st[1][0] = SELECT_OK;
	f.st[1][1] = SELECT_EXHAUSTED;
	alias_route_init(&rt, &al);
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_OK, "fallback: first account of "
	    "the first target");
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_OK, "fallback: its second account");
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_OK, "fallback: the first is out, "
	    "the second target serves");
	is_str(alias_route_target(&rt), "deepseek-chat/deepseek", "fallback: the second target");
	is_str(f.log, "glm-4.6/zai+,glm-4.6/zai,glm-4.6/zai,deepseek-chat/deepseek+",
	    "fallback: the first target three times (fresh once), then the second, fresh");
	/* The second's only account fails too; the third is not served: its refusal ranks lower. */
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_EXHAUSTED, "fallback: every target "
	    "out: the most telling refusal (exhausted, whose answer is relayed)");
	is_int(at, 1000, "fallback: with the retry time of the first refusal of that rank");

	/* Backing off beats a model not served, whichever comes first. */
	memset(&f, 0, sizeof(f));
	f.target[0] = targets[0];
	f.target[1] = targets[1];
	f.st[0][0] = SELECT_NO_MODEL;
	f.st[1][0] = SELECT_BACKOFF;
	alias_route_init(&rt, &al);
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT_BACKOFF, "refusal: backoff (429) "
	    "rather than no model (404)");
	is_int(at, 2000, "refusal: the backoff's retry time");
	is_str(f.log, "glm-4.6/zai+,deepseek-chat/deepseek+,local+", "refusal: every target "
	    "tried once");

	/* A database failure stops the walk. */
	memset(&f, 0, sizeof(f));
	f.target[0] = targets[0];
	f.target[1] = targets[1];
	f.st[0][0] = SELECT_DISABLED;
	f.st[1][0] = SELECT__MAX;
	alias_route_init(&rt, &al);
	is_int(alias_choose(&rt, fake_try, &f, &at), SELECT__MAX, "a failed selection stops");
	is_str(f.log, "glm-4.6/zai+,deepseek-chat/deepseek+", "... at the target that failed");

	ok(alias_refusal_rank(SELECT_EXHAUSTED) > alias_refusal_rank(SELECT_BACKOFF) &&
	    alias_refusal_rank(SELECT_BACKOFF) > alias_refusal_rank(SELECT_AUTH) &&
	    alias_refusal_rank(SELECT_AUTH) > alias_refusal_rank(SELECT_DISABLED) &&
	    alias_refusal_rank(SELECT_DISABLED) > alias_refusal_rank(SELECT_TOO_LARGE) &&
	    alias_refusal_rank(SELECT_TOO_LARGE) > alias_refusal_rank(SELECT_WRONG_PROTOCOL) &&
	    alias_refusal_rank(SELECT_WRONG_PROTOCOL) > alias_refusal_rank(SELECT_NO_MODEL),
	    "refusal ranks: exhausted > backoff > auth > disabled > too large > wrong protocol > "
	    "no model");
}

int
main(void)
{

	test_glob();
	test_config();
	test_choose();
	return done_testing();
}
