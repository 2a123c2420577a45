/* test_passpath.c: passthrough paths: the /p/ split, unsafe paths, the globs and their config, header rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "config.h"
#include "passpath.h"

/* The glob matcher, table-driven. */
static const struct {
	const char	*glob;
	const char	*path;
	int		 want;
} globs[] = {
	{ "*", "/v1/anything/at/all", 1 },
	{ "*", "/", 1 },
	{ "/v1/audio/*", "/v1/audio/transcriptions", 1 },
	{ "/v1/audio/*", "/v1/audio/speech", 1 },
	{ "/v1/audio/*", "/v1/audio/", 1 },
	{ "/v1/audio/*", "/v1/audio", 0 },
	{ "/v1/audio/*", "/v1/audiox/speech", 0 },
	{ "/v1/audio/*", "/v2/audio/speech", 0 },
	{ "/v1/audio/*", "/x/v1/audio/speech", 0 },
	{ "/v1/files*", "/v1/files", 1 },
	{ "/v1/files*", "/v1/files/file-abc/content", 1 },
	{ "/v1/files*", "/v1/filesystem", 1 },
	{ "/v1/files*", "/v1/file", 0 },
	{ "/v1/images/*", "/v1/images/generations", 1 },
	{ "/v1/images/*", "/V1/images/generations", 0 },	/* case matters */
	{ "/v1/*/content", "/v1/files/abc/content", 1 },	/* '*' crosses '/' */
	{ "/v1/*/content", "/v1/files/abc/contents", 0 },
	{ "/exact", "/exact", 1 },
	{ "/exact", "/exact/", 0 },
	{ "/a*b*c", "/axxbyyc", 1 },
	{ "/a*b*c", "/axxbyy", 0 },
	{ "/*a*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	{ "/v1/models?", "/v1/modelsx", 0 },			/* '?' is itself */
	{ "/v1/models?", "/v1/models?", 1 },
};

static void
test_glob(void)
{
	char *list[] = { "/v1/audio/*", "/v1/files*" };
	size_t i;

	for (i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		is_int(passpath_glob_match(globs[i].glob, globs[i].path), globs[i].want,
		    "glob \"%s\" %s \"%s\"", globs[i].glob, globs[i].want ? "matches" :
		    "does not match", globs[i].path);
	ok(passpath_allowed(list, 2, "/v1/files/x"), "allowed: the second glob matches");
	ok(!passpath_allowed(list, 2, "/v1/chat/completions"), "allowed: none matches");
	ok(!passpath_allowed(list, 0, "/v1/audio/x"), "allowed: no globs, nothing passes");
}

/* The split of /p/<provider>/<path>, table-driven. */
static const struct {
	const char		*path;
	enum passpath_err	 want;
	const char		*prov;
	const char		*rest;
} splits[] = {
	{ "/p/openai/v1/audio/transcriptions", PASSPATH_OK, "openai", "/v1/audio/transcriptions" },
	{ "/p/a/x", PASSPATH_OK, "a", "/x" },
	{ "/p/my-prov2/v1/files/file-1/content", PASSPATH_OK, "my-prov2",
	    "/v1/files/file-1/content" },
	{ "/p/x/a%20b", PASSPATH_OK, "x", "/a%20b" },
	{ "/p/x/a/", PASSPATH_OK, "x", "/a/" },
	{ "/p/x/..a/b.", PASSPATH_OK, "x", "/..a/b." },
	{ "/p/x/a/...", PASSPATH_OK, "x", "/a/..." },
	{ "/p/x/%7e", PASSPATH_OK, "x", "/%7e" },
	{ "/p/", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p//v1/x", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p/-x/v1", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p/x-/v1", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p/x_y/v1", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p/x.y/v1", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/q/x/v1", PASSPATH_NO_PROVIDER, "", NULL },
	{ "/p/x", PASSPATH_NO_PATH, "x", NULL },
	{ "/p/x/", PASSPATH_NO_PATH, "x", NULL },
	{ "/p/x/..", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/../admin", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/audio/../../y", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/./y", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/.", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/%2e%2e/y", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/%2E./y", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/.%2e", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1%2f..%2fadmin", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1%2Fy", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1%5cy", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1\\y", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a b", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a%0ab", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a%00", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a%", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a%4", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a%zz", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/a#b", PASSPATH_UNSAFE, "x", NULL },
	{ "/p/x/v1/\xc3\xa9", PASSPATH_UNSAFE, "x", NULL },
};

static void
test_split(void)
{
	char prov[PASSPATH_PROVIDER_MAX + 1], longp[200], got[4096];
	const char *rest;
	size_t i, rl;
	enum passpath_err e;

	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		e = passpath_split(splits[i].path, strlen(splits[i].path), prov, &rest, &rl);
		is_int(e, splits[i].want, "split \"%s\": %s", splits[i].path,
		    passpath_strerror(splits[i].want));
		is_str(prov, splits[i].prov, "split \"%s\": provider", splits[i].path);
		if (splits[i].rest == NULL) {
			ok(rest == NULL && rl == 0, "split \"%s\": no path", splits[i].path);
			continue;
		}
		snprintf(got, sizeof(got), "%.*s", (int)rl, rest != NULL ? rest : "");
		is_str(got, splits[i].rest, "split \"%s\": path", splits[i].path);
	}
	/* A provider id of 64 characters is one, 65 are not. */
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "/p/", 3);
	memcpy(longp + 3 + 64, "/x", 3);
	is_int(passpath_split(longp, strlen(longp), prov, &rest, &rl), PASSPATH_OK,
	    "split: a 64-character provider id");
	memset(longp + 3, 'a', 65);
	memcpy(longp + 3 + 65, "/x", 3);
	is_int(passpath_split(longp, strlen(longp), prov, &rest, &rl), PASSPATH_NO_PROVIDER,
	    "split: a 65-character provider id is refused");
	/* The length given wins over the NUL: "/p/x/ab" cut to "/p/x/a". */
	e = passpath_split("/p/x/ab", 6, prov, &rest, &rl);
	ok(e == PASSPATH_OK && rl == 2 && memcmp(rest, "/a", 2) == 0, "split: len is the bound");
}

static void
test_method_and_headers(void)
{
	static const struct {
		const char	*cgi;
		const char	*want;	/* NULL = dropped */
	} fwd[] = {
		{ "HTTP_AUTHORIZATION=Bearer k", NULL },
		{ "HTTP_X_API_KEY=k", NULL },
		{ "HTTP_API_KEY=k", NULL },
		{ "HTTP_COOKIE=a=b", NULL },
		{ "HTTP_PROXY_AUTHORIZATION=x", NULL },
		{ "HTTP_PROXY_CONNECTION=x", NULL },
		{ "HTTP_PROXY=http://evil", NULL },
		{ "HTTP_CONNECTION=close", NULL },
		{ "HTTP_TRANSFER_ENCODING=chunked", NULL },
		{ "HTTP_HOST=gw", NULL },
		{ "HTTP_CONTENT_LENGTH=3", NULL },
		{ "HTTP_EXPECT=100-continue", NULL },
		{ "HTTP_X_FORWARDED_FOR=1.2.3.4", NULL },
		{ "HTTP_FORWARDED=for=1.2.3.4", NULL },
		{ "HTTP_X_REAL_IP=1.2.3.4", NULL },
		{ "HTTP_TE=trailers", NULL },
		{ "HTTP_UPGRADE=h2c", NULL },
		{ "REMOTE_ADDR=127.0.0.1", NULL },
		{ "CONTENT_LENGTH=3", NULL },
		{ "HTTP_=x", NULL },
		{ "HTTP_A.B=x", NULL },
		{ "CONTENT_TYPE=multipart/form-data; boundary=x", "content-type" },
		{ "HTTP_ACCEPT=*/*", "accept" },
		{ "HTTP_OPENAI_BETA=assistants=v2", "openai-beta" },
		{ "HTTP_ANTHROPIC_VERSION=2023-06-01", "anthropic-version" },
		{ "HTTP_X_CUSTOM_2=v", "x-custom-2" },
		{ "HTTP_RANGE=bytes=0-1", "range" },
		{ "HTTP_USER_AGENT=curl", "user-agent" },
	};
	static const struct {
		const char	*name;
		int		 want;
	} back[] = {
		{ "Content-Disposition", 1 }, { "ETag", 1 }, { "x-request-id", 1 },
		{ "Retry-After", 1 }, { "Cache-Control", 1 }, { "Location", 1 },
		{ "Set-Cookie", 0 }, { "set-cookie2", 0 }, { "WWW-Authenticate", 0 },
		{ "Proxy-Authenticate", 0 }, { "Connection", 0 }, { "Keep-Alive", 0 },
		{ "Transfer-Encoding", 0 }, { "Upgrade", 0 }, { "Status", 0 },
		{ "Content-Length", 0 }, { "Content-Type", 0 }, { "X-Sendfile", 0 },
		{ "X-LIGHTTPD-send-file", 0 }, { "X-Accel-Redirect", 0 },
		{ "x-proxy-request-id", 0 }, { "Authorization", 0 }, { "", 0 }, { "a b", 0 },
	};
	char name[PASSPATH_NAME_MAX + 1];
	size_t i;
	int got;

	ok(passpath_method_ok("GET") && passpath_method_ok("PATCH") &&
	    passpath_method_ok("PROPFIND"), "method: tokens pass");
	ok(!passpath_method_ok("") && !passpath_method_ok("GE T") &&
	    !passpath_method_ok("GET\r\n") && !passpath_method_ok("AVERYLONGMETHODNAME"),
	    "method: empty, blanks, CRLF and over 16 characters are refused");
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		got = passpath_forward(fwd[i].cgi, strlen(fwd[i].cgi), name);
		if (fwd[i].want == NULL)
			is_int(got, 0, "forward: %s dropped", fwd[i].cgi);
		else
			ok(got == 1 && strcmp(name, fwd[i].want) == 0, "forward: %s as %s",
			    fwd[i].cgi, fwd[i].want);
	}
	for (i = 0; i < sizeof(back) / sizeof(back[0]); i++)
		is_int(passpath_response_header(back[i].name, strlen(back[i].name)), back[i].want,
		    "response header \"%s\" %s", back[i].name, back[i].want ? "relayed" :
		    "dropped");
	ok(passpath_location_ok("https://x/y", 11) && !passpath_location_ok("/local", 6),
	    "location: absolute URLs only");
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
	static const char head[] = "[providers.a]\nbase_url = \"http://127.0.0.1:1\"\n"
	    "auth = \"none\"\n";
	static const struct {
		const char	*line;
		int		 n;		/* globs kept, -1 = an error */
		const char	*first;
		const char	*error;		/* part of the error message */
	} cases[] = {
		{ "", 0, NULL, NULL },
		{ "passthrough = \"*\"\n", 1, "*", NULL },
		{ "passthrough = [\"/v1/audio/*\", \"/v1/files*\"]\n", 2, "/v1/audio/*", NULL },
		{ "passthrough = []\n", 0, NULL, NULL },
		{ "passthrough = \"v1/audio\"\n", -1, NULL, "must be \"*\" or start with '/'" },
		{ "passthrough = [\"/ok\", \"bad\"]\n", -1, NULL, "passthrough[1]" },
		{ "passthrough = [\"/a b\"]\n", -1, NULL, "without blanks" },
		{ "passthrough = [3]\n", -1, NULL, "expected a string" },
		{ "passthrough = 3\n", -1, NULL, "passthrough" },
		{ "passthrough = \"\"\n", -1, NULL, "passthrough[0]" },
		{ "passthrough = \"**\"\n", -1, NULL, "must be \"*\" or start with '/'" },
	};
	struct config_diag d;
	struct config *cfg;
	char text[512];
	size_t i;
	int j, found;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, cases[i].line);
		cfg = load(text, &d);
		if (cases[i].n < 0) {
			found = 0;
			for (j = 0; j < d.n; j++)
				if (strstr(d.msgs[j].text, cases[i].error) != NULL)
					found = 1;
			ok(cfg == NULL && d.nerrors > 0 && found, "config: %.*s refused with "
			    "\"%s\"", (int)strlen(cases[i].line) - 1, cases[i].line,
			    cases[i].error);
			if (!found)
				config_diag_print(&d, NULL, stdout);
		} else {
			ok(cfg != NULL && cfg->providers[0].npassthrough == cases[i].n,
			    "config: \"%.*s\" gives %d glob(s)", (int)strlen(cases[i].line) -
			    (cases[i].line[0] != '\0'), cases[i].line, cases[i].n);
			if (cfg != NULL && cases[i].first != NULL)
				is_str(cfg->providers[0].passthrough[0], cases[i].first,
				    "config: first glob kept");
		}
		config_free(cfg);
		config_diag_free(&d);
	}
}

int
main(void)
{

	test_glob();
	test_split();
	test_method_and_headers();
	test_config();
	return done_testing();
}
