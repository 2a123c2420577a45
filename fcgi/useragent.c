/* useragent.c: which client sent a request: its user agent, kept bounded, and its family. */
#include <string.h>
#include <strings.h>

#include "http.h"
#include "useragent.h"

static const char *const useragent_names[USERAGENT__MAX] = {
	[USERAGENT_CLAUDE_CLI] = "claude-cli",
	[USERAGENT_OPENCODE] = "opencode",
	[USERAGENT_CODEX] = "codex",
	[USERAGENT_OPENAI_SDK] = "openai-sdk",
	[USERAGENT_ANTHROPIC_SDK] = "anthropic-sdk",
	[USERAGENT_CURL] = "curl",
	[USERAGENT_OTHER] = "other",
};

/* Which header a rule reads. */
enum useragent_field {
	USERAGENT_F_UA,		/* User-Agent */
	USERAGENT_F_XAPP,	/* x-app */
	USERAGENT_F_ORIGINATOR,	/* originator */
	USERAGENT_F_STAINLESS,	/* X-Stainless-Package-Version */
	USERAGENT_F__MAX
};

/* How a rule matches its header. */
enum useragent_match {
	USERAGENT_M_PREFIX,	/* starts with text, any case */
	USERAGENT_M_EQUALS,	/* is text, any case */
	USERAGENT_M_PRESENT,	/* is sent, not empty */
	USERAGENT_M__MAX
};

/* One rule; the first that matches decides. */
struct useragent_rule {
	enum useragent_field	 field;
	enum useragent_match	 match;
	const char		*text;		/* PREFIX, EQUALS */
	enum useragent_family	 family;	/* USERAGENT__MAX: the SDK by anthropic-version */
};

static const struct useragent_rule useragent_rules[] = {
	/* Claude Code runs on the Anthropic SDK: it comes before the SDKs. */
	{ USERAGENT_F_XAPP, USERAGENT_M_EQUALS, "cli", USERAGENT_CLAUDE_CLI },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "claude-cli/", USERAGENT_CLAUDE_CLI },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "opencode/", USERAGENT_OPENCODE },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "codex", USERAGENT_CODEX },
	{ USERAGENT_F_ORIGINATOR, USERAGENT_M_PREFIX, "codex", USERAGENT_CODEX },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "OpenAI/", USERAGENT_OPENAI_SDK },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "Anthropic/", USERAGENT_ANTHROPIC_SDK },
	{ USERAGENT_F_UA, USERAGENT_M_PREFIX, "curl/", USERAGENT_CURL },
	{ USERAGENT_F_STAINLESS, USERAGENT_M_PRESENT, NULL, USERAGENT__MAX },
};

const char *
useragent_family_name(enum useragent_family f)
{

	return (unsigned)f < USERAGENT__MAX ? useragent_names[f] : useragent_names[USERAGENT_OTHER];
}

enum useragent_family
useragent_family_find(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < USERAGENT__MAX; i++)
		if (strcmp(useragent_names[i], name) == 0)
			return (enum useragent_family)i;
	return USERAGENT__MAX;
}

/* The header a rule reads, NULL if not sent. */
static const char *
useragent_get(const struct useragent_in *in, enum useragent_field f)
{

	switch (f) {
	case USERAGENT_F_UA:
		return in->user_agent;
	case USERAGENT_F_XAPP:
		return in->x_app;
	case USERAGENT_F_ORIGINATOR:
		return in->originator;
	case USERAGENT_F_STAINLESS:
		return in->stainless;
	default:
		return NULL;
	}
}

enum useragent_family
useragent_classify(const struct useragent_in *in)
{
	const struct useragent_rule *r;
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(useragent_rules) / sizeof(useragent_rules[0]); i++) {
		r = &useragent_rules[i];
		if ((v = useragent_get(in, r->field)) == NULL || v[0] == '\0')
			continue;
		if ((r->match == USERAGENT_M_PREFIX &&
		    strncasecmp(v, r->text, strlen(r->text)) != 0) ||
		    (r->match == USERAGENT_M_EQUALS && strcasecmp(v, r->text) != 0))
			continue;
		if (r->family != USERAGENT__MAX)
			return r->family;
		return in->anthropic_version != NULL && in->anthropic_version[0] != '\0' ?
		    USERAGENT_ANTHROPIC_SDK : USERAGENT_OPENAI_SDK;
	}
	return USERAGENT_OTHER;
}

/* Bytes of the valid UTF-8 character at s (n bytes left), or 0 if invalid. */
static size_t
useragent_utf8(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t
useragent_clean(const char *ua, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)ua;
	size_t n, o = 0, i = 0, c;

	if (size == 0)
		return 0;
	out[0] = '\0';
	if (ua == NULL)
		return 0;
	n = strlen(ua);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < n) {
		c = useragent_utf8(s + i, n - i);
		if (c <= 1) {
			/* A control character, DEL or a stray byte: one '?'. */
			if (o + 1 >= size)
				break;
			out[o++] = (c == 1 && s[i] >= 0x20 && s[i] != 0x7f) ? (char)s[i] : '?';
			i++;
			continue;
		}
		if (o + c >= size)
			break;
		memcpy(out + o, s + i, c);
		o += c;
		i += c;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return o;
}

enum useragent_family
useragent_of(const struct http_req *r, char *ua, size_t size)
{
	struct useragent_in in;

	in.user_agent = http_param(r, "HTTP_USER_AGENT");
	in.x_app = http_param(r, "HTTP_X_APP");
	in.originator = http_param(r, "HTTP_ORIGINATOR");
	in.stainless = http_param(r, "HTTP_X_STAINLESS_PACKAGE_VERSION");
	in.anthropic_version = http_param(r, "HTTP_ANTHROPIC_VERSION");
	useragent_clean(in.user_agent, ua, size);
	return useragent_classify(&in);
}
