/* useragent.h: which client sent a request: its user agent, kept bounded, and its family. */
#ifndef QP_USERAGENT_H
#define QP_USERAGENT_H

#include <stddef.h>

/*
 * The client families, a closed set: request rows, the stats_clients
 * rollup and the dashboard never hold another value.
 */
enum useragent_family {
	USERAGENT_CLAUDE_CLI,		/* "claude-cli": Claude Code */
	USERAGENT_OPENCODE,		/* "opencode" */
	USERAGENT_CODEX,		/* "codex": the Codex CLI, exec, IDE plugins */
	USERAGENT_OPENAI_SDK,		/* "openai-sdk": an official OpenAI SDK */
	USERAGENT_ANTHROPIC_SDK,	/* "anthropic-sdk": an official Anthropic SDK */
	USERAGENT_CURL,			/* "curl" */
	USERAGENT_OTHER,		/* "other": anything else, or nothing said */
	USERAGENT__MAX
};

/* What a request says about its client (each may be NULL: not sent). */
struct useragent_in {
	const char	*user_agent;	/* User-Agent */
	const char	*x_app;		/* x-app (Claude Code: "cli") */
	const char	*originator;	/* originator (the Codex CLI: "codex_cli_rs") */
	const char	*stainless;	/* X-Stainless-Package-Version (the Stainless SDKs) */
	const char	*anthropic_version; /* anthropic-version */
};

/* Returns the name of a family ("claude-cli", ...), "other" if out of range. Thread-safe. */
const char	*useragent_family_name(enum useragent_family f);

/* Returns the family called name, or USERAGENT__MAX. Thread-safe. */
enum useragent_family useragent_family_find(const char *name);

/*
 * Tells the family of a client from what it sent, by the first rule of
 * a table that matches: x-app "cli" or a user agent starting
 * "claude-cli/" is Claude Code; "opencode/" opencode; "codex" (the Codex
 * CLI's "codex_cli_rs/", "codex_exec/", ...) or an originator starting
 * "codex" the Codex CLI; "OpenAI/" and "Anthropic/" the official SDKs;
 * "curl/" curl; another client that sends X-Stainless-Package-Version
 * is an Anthropic SDK when it sends anthropic-version, else an OpenAI
 * SDK; anything else is other. Prefixes ignore case. Thread-safe.
 */
enum useragent_family useragent_classify(const struct useragent_in *in);

/*
 * Copies the user agent ua into out (size bytes, at least 1) as it is
 * kept: cut to size - 1 bytes at a UTF-8 character boundary, control
 * characters and invalid UTF-8 bytes replaced by '?', blanks at both
 * ends dropped. Returns the length written; 0 for NULL or nothing left.
 * Thread-safe.
 */
size_t		 useragent_clean(const char *ua, char *out, size_t size);

struct http_req;

/*
 * The client of request r, from its headers (User-Agent, x-app,
 * originator, X-Stainless-Package-Version, anthropic-version): keeps its
 * user agent into ua (size bytes, useragent_clean(); "" when none) and
 * returns its family. For every data-plane request. Thread-safe for
 * distinct r.
 */
enum useragent_family useragent_of(const struct http_req *r, char *ua, size_t size);

#endif /* QP_USERAGENT_H */
