/* wkargs.c: the command line of quotapool-worker, one table of options. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wkargs.h"
#include "wkbounds.h"

/* Kinds of option. */
enum wkargs_kind {
	WKARGS_URL,		/* an http(s) URL, copied without trailing '/' */
	WKARGS_ENV,		/* the name of an environment variable */
	WKARGS_STR,		/* a string */
	WKARGS_INT,		/* an integer within [min, max] */
	WKARGS_FLAG,		/* no value */
	WKARGS_KIND__MAX
};

/* One option: its name, kind, where it goes and its range. */
struct wkargs_opt {
	const char		*name;		/* without the leading "--" */
	enum wkargs_kind	 kind;
	size_t			 off;		/* offset of the field in struct wkargs */
	long			 min, max;	/* WKARGS_INT range */
};

#define WKOFF(f)	offsetof(struct wkargs, f)

static const struct wkargs_opt wkargs_opts[] = {
	{ "server", WKARGS_URL, WKOFF(server), 0, 0 },
	{ "upstream", WKARGS_URL, WKOFF(upstream), 0, 0 },
	{ "key-env", WKARGS_ENV, WKOFF(key_env), 0, 0 },
	{ "runtime-key-env", WKARGS_ENV, WKOFF(runtime_key_env), 0, 0 },
	{ "name", WKARGS_STR, WKOFF(name), 1, WK_NAME_MAX },
	{ "ca-file", WKARGS_STR, WKOFF(ca_file), 1, PATH_MAX },
	{ "runtime-ca-file", WKARGS_STR, WKOFF(runtime_ca_file), 1, PATH_MAX },
	{ "max-concurrency", WKARGS_INT, WKOFF(capacity), 1, WK_CAPACITY_MAX },
	{ "drain-timeout", WKARGS_INT, WKOFF(drain_s), 0, WK_DRAIN_MAX_S },
	{ "poll-wait", WKARGS_INT, WKOFF(poll_wait_s), WK_POLL_WAIT_MIN_S, WK_POLL_WAIT_MAX_S },
	{ "help", WKARGS_FLAG, WKOFF(help), 0, 0 },
	{ "version", WKARGS_FLAG, WKOFF(version), 0, 0 },
};

static const char wkargs_usage_text[] =
"usage: quotapool-worker --server URL --key-env VAR --upstream URL [--name NAME]\n"
"         [--max-concurrency N] [--runtime-key-env VAR] [--ca-file FILE]\n"
"         [--runtime-ca-file FILE] [--drain-timeout S] [--poll-wait S]\n"
"       quotapool-worker --help | --version\n"
"\n"
"Serves a quotapool gateway's remote-worker jobs from a local OpenAI-compatible\n"
"runtime (Ollama, vLLM, llama.cpp), over outbound connections only.\n"
"\n"
"  --server URL           the gateway's base URL (http:// or https://)\n"
"  --key-env VAR          environment variable holding the worker key\n"
"                         (quotapool-admin key new NAME --worker)\n"
"  --upstream URL         the runtime's OpenAI base URL, e.g. http://127.0.0.1:11434/v1\n"
"  --name NAME            the worker's name (default: the host name)\n"
"  --max-concurrency N    jobs run at once, 1-256 (default 1)\n"
"  --runtime-key-env VAR  environment variable holding the runtime's key, sent\n"
"                         as Authorization: Bearer (default: none)\n"
"  --ca-file FILE         CA certificates to verify the gateway with\n"
"  --runtime-ca-file FILE CA certificates to verify the runtime with\n"
"  --drain-timeout S      on SIGTERM, seconds the running jobs may take (default 30)\n"
"  --poll-wait S          seconds of each long poll for a job, 1-60 (default 25)\n"
"  --help, --version      print this text, or the version, and exit\n";

const char *
wkargs_usage(void)
{

	return wkargs_usage_text;
}

int
wkargs_url_ok(const char *url)
{
	size_t len = strlen(url), i, skip;

	if (len > WK_URL_MAX)
		return -1;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return -1;
	if (url[skip] == '\0' || url[skip] == '/' || url[skip] == ':')
		return -1;
	for (i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return -1;
	}
	if (strchr(url, '?') != NULL || strchr(url, '#') != NULL)
		return -1;
	return 0;
}

/* An environment variable's name: [A-Za-z_][A-Za-z0-9_]*. */
static int
wkargs_env_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9') || strlen(s) > 255)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return -1;
	}
	return 0;
}

/* Stores one option's value; 0 or -1 with err set. */
static int
wkargs_set(struct wkargs *a, const struct wkargs_opt *o, const char *val,
    char *err, size_t errlen)
{
	char *end, *copy;
	size_t n;
	long v;

	switch (o->kind) {
	case WKARGS_URL:
		if (wkargs_url_ok(val) != 0) {
			snprintf(err, errlen, "--%s: expected an http:// or https:// URL "
			    "without spaces, query or fragment", o->name);
			return -1;
		}
		if ((copy = strdup(val)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		n = strlen(copy);
		while (n > 0 && copy[n - 1] == '/')
			copy[--n] = '\0';
		free(a->owned[o->off == WKOFF(server) ? 0 : 1]);
		a->owned[o->off == WKOFF(server) ? 0 : 1] = copy;
		*(const char **)((char *)a + o->off) = copy;
		return 0;
	case WKARGS_ENV:
		if (wkargs_env_ok(val) != 0) {
			snprintf(err, errlen, "--%s: expected the name of an environment "
			    "variable (letters, digits, _), not the key itself", o->name);
			return -1;
		}
		*(const char **)((char *)a + o->off) = val;
		return 0;
	case WKARGS_STR:
		n = strlen(val);
		if (n < (size_t)o->min || n > (size_t)o->max) {
			snprintf(err, errlen, "--%s: expected %ld to %ld bytes", o->name,
			    o->min, o->max);
			return -1;
		}
		*(const char **)((char *)a + o->off) = val;
		return 0;
	case WKARGS_INT:
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v < o->min || v > o->max) {
			snprintf(err, errlen, "--%s: expected an integer from %ld to %ld",
			    o->name, o->min, o->max);
			return -1;
		}
		*(int *)((char *)a + o->off) = (int)v;
		return 0;
	case WKARGS_FLAG:
	case WKARGS_KIND__MAX:
		break;
	}
	*(int *)((char *)a + o->off) = 1;
	return 0;
}

/* A printable name for an unknown argument, cut and without control bytes. */
static void
wkargs_quote(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len && i < 40; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	buf[i] = '\0';
}

int
wkargs_parse(int argc, char *const argv[], struct wkargs *a, char *err, size_t errlen)
{
	const struct wkargs_opt *o;
	const char *arg, *val, *eq;
	char q[48];
	size_t i, n;
	int k;

	memset(a, 0, sizeof(*a));
	a->capacity = 1;
	a->drain_s = 30;
	a->poll_wait_s = 25;
	err[0] = '\0';
	for (k = 1; k < argc; k++) {
		arg = argv[k];
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			wkargs_quote(arg, q, sizeof(q));
			snprintf(err, errlen, "unexpected argument '%s' (see --help)", q);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		o = NULL;
		for (i = 0; i < sizeof(wkargs_opts) / sizeof(*wkargs_opts); i++) {
			if (strlen(wkargs_opts[i].name) == n &&
			    strncmp(wkargs_opts[i].name, arg, n) == 0) {
				o = &wkargs_opts[i];
				break;
			}
		}
		if (o == NULL) {
			wkargs_quote(argv[k], q, sizeof(q));
			if (eq != NULL && (size_t)(eq - argv[k]) < sizeof(q))
				q[eq - argv[k]] = '\0';
			snprintf(err, errlen, "unknown option '%s' (see --help)", q);
			return -1;
		}
		if (o->kind == WKARGS_FLAG) {
			if (eq != NULL) {
				snprintf(err, errlen, "--%s takes no value", o->name);
				return -1;
			}
			val = "";
		} else if (eq != NULL)
			val = eq + 1;
		else if (k + 1 < argc)
			val = argv[++k];
		else {
			snprintf(err, errlen, "--%s needs a value", o->name);
			return -1;
		}
		if (wkargs_set(a, o, val, err, errlen) != 0)
			return -1;
	}
	if (a->help || a->version)
		return 0;
	if (a->server == NULL || a->upstream == NULL || a->key_env == NULL) {
		snprintf(err, errlen, "--server, --key-env and --upstream are required "
		    "(see --help)");
		return -1;
	}
	return 0;
}

void
wkargs_free(struct wkargs *a)
{

	if (a == NULL)
		return;
	free(a->owned[0]);
	free(a->owned[1]);
	a->owned[0] = a->owned[1] = NULL;
	a->server = a->upstream = NULL;
}
