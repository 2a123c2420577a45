/* passpath.c: the untrusted parts of a passthrough request: its /p/ path, method and headers. */
#include <string.h>
#include <strings.h>

#include "passpath.h"

static const char *const passpath_errs[PASSPATH__MAX] = {
	[PASSPATH_OK] = "ok",
	[PASSPATH_NO_PROVIDER] = "a passthrough path is /p/<provider>/<path>: the provider id "
	    "is missing or malformed",
	[PASSPATH_NO_PATH] = "a passthrough path is /p/<provider>/<path>: the path is missing",
	[PASSPATH_UNSAFE] = "the passthrough path holds a dot segment, an encoded slash or "
	    "backslash, a bad %-escape, a blank or a control character",
};

/* Client parameters never forwarded upstream, by CGI name. */
static const char *const passpath_drop_cgi[] = {
	"HTTP_AUTHORIZATION",
	"HTTP_X_API_KEY",
	"HTTP_API_KEY",
	"HTTP_PROXY_AUTHORIZATION",
	"HTTP_COOKIE",
	"HTTP_COOKIE2",
	"HTTP_CONNECTION",
	"HTTP_KEEP_ALIVE",
	"HTTP_TE",
	"HTTP_TRAILER",
	"HTTP_TRANSFER_ENCODING",
	"HTTP_UPGRADE",
	"HTTP_HOST",
	"HTTP_CONTENT_LENGTH",
	"HTTP_CONTENT_TYPE",		/* forwarded from CONTENT_TYPE, once */
	"HTTP_EXPECT",
	"HTTP_FORWARDED",
	"HTTP_X_REAL_IP",
	"HTTP_PROXY",			/* httpoxy */
};

/* Prefixes of client parameters never forwarded. */
static const char *const passpath_drop_prefix[] = {
	"HTTP_PROXY_",
	"HTTP_X_FORWARDED_",
};

/* Upstream response headers never relayed to the client. */
static const char *const passpath_drop_response[] = {
	"connection",
	"keep-alive",
	"te",
	"trailer",
	"transfer-encoding",
	"upgrade",
	"proxy-authenticate",
	"proxy-authorization",
	"proxy-connection",
	"www-authenticate",
	"authorization",
	"set-cookie",
	"set-cookie2",
	"status",
	"content-type",
	"content-length",
	"x-sendfile",
	"x-sendfile2",
	"x-lighttpd-send-file",
	"x-accel-redirect",
	"x-proxy-request-id",
	"x-proxy-attempt-count",
};

const char *
passpath_strerror(enum passpath_err err)
{

	if ((int)err < 0 || err >= PASSPATH__MAX)
		return "bad passthrough path";
	return passpath_errs[err];
}

/* Returns the value of hex digit c, or -1. */
static int
passpath_hex(char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Returns 1 if the segment s (len bytes, between two '/') is "." or ".."
 * once its %2E escapes are read.
 */
static int
passpath_dot_segment(const char *s, size_t len)
{
	size_t i = 0, dots = 0;

	while (i < len) {
		if (s[i] == '.')
			i++;
		else if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2' &&
		    (s[i + 2] == 'e' || s[i + 2] == 'E'))
			i += 3;
		else
			return 0;
		if (++dots > 2)
			return 0;
	}
	return dots == 1 || dots == 2;
}

int
passpath_safe(const char *p, size_t len)
{
	size_t i, seg = 1;
	int hi, lo, v;

	if (len == 0 || p[0] != '/')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
			return 0;
		if (c == '%') {
			if (len - i < 3 || (hi = passpath_hex(p[i + 1])) < 0 ||
			    (lo = passpath_hex(p[i + 2])) < 0)
				return 0;
			v = hi * 16 + lo;
			if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f)
				return 0;
			i += 2;
			continue;
		}
		if (c == '/' && i > 0) {
			if (passpath_dot_segment(p + seg, i - seg))
				return 0;
			seg = i + 1;
		}
	}
	return !passpath_dot_segment(p + seg, len - seg);
}

/* Returns 1 if c may be in a provider id. */
static int
passpath_id_char(char c)
{

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-';
}

enum passpath_err
passpath_split(const char *path, size_t len, char *prov, const char **rest, size_t *rest_len)
{
	size_t pl = strlen(PASSPATH_PREFIX), i, n;

	prov[0] = '\0';
	*rest = NULL;
	*rest_len = 0;
	if (len < pl || memcmp(path, PASSPATH_PREFIX, pl) != 0)
		return PASSPATH_NO_PROVIDER;
	for (i = pl; i < len && path[i] != '/'; i++)
		if (!passpath_id_char(path[i]))
			return PASSPATH_NO_PROVIDER;
	n = i - pl;
	if (n == 0 || n > PASSPATH_PROVIDER_MAX || path[pl] == '-' || path[i - 1] == '-')
		return PASSPATH_NO_PROVIDER;
	memcpy(prov, path + pl, n);
	prov[n] = '\0';
	/* "/p/x" and "/p/x/" leave no path to pass. */
	if (i + 1 >= len)
		return PASSPATH_NO_PATH;
	if (!passpath_safe(path + i, len - i))
		return PASSPATH_UNSAFE;
	*rest = path + i;
	*rest_len = len - i;
	return PASSPATH_OK;
}

int
passpath_glob_ok(const char *g, size_t len, const char **why)
{
	size_t i;

	*why = NULL;
	if (len == 1 && g[0] == '*')
		return 1;
	if (len == 0 || g[0] != '/') {
		*why = "must be \"*\" or start with '/'";
		return 0;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)g[i] <= 0x20 || (unsigned char)g[i] >= 0x7f) {
			*why = "must be printable ASCII without blanks";
			return 0;
		}
	return 1;
}

int
passpath_glob_match(const char *g, const char *s)
{
	const char *star = NULL, *mark = NULL;

	/* Iterative: the last '*' absorbs what a later mismatch needs (no backtracking blow-up). */
	while (*s != '\0') {
		if (*g == '*') {
			star = ++g;
			mark = s;
		} else if (*g != '\0' && *g == *s) {
			g++;
			s++;
		} else if (star != NULL) {
			g = star;
			s = ++mark;
		} else
			return 0;
	}
	while (*g == '*')
		g++;
	return *g == '\0';
}

int
passpath_allowed(char *const *globs, int n, const char *path)
{
	int i;

	for (i = 0; i < n; i++)
		if (globs[i] != NULL && passpath_glob_match(globs[i], path))
			return 1;
	return 0;
}

int
passpath_method_ok(const char *m)
{
	size_t i;

	for (i = 0; m[i] != '\0'; i++) {
		if (i >= PASSPATH_METHOD_MAX)
			return 0;
		/* RFC 9110 tchar, the letters and digits and these. */
		if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') ||
		    (m[i] >= '0' && m[i] <= '9') || strchr("!#$%&'*+-.^_`|~", m[i]) != NULL))
			return 0;
	}
	return i > 0;
}

int
passpath_forward(const char *cgi, size_t len, char *out)
{
	const char *eq = memchr(cgi, '=', len);
	size_t n = eq != NULL ? (size_t)(eq - cgi) : len, i, hl = strlen("HTTP_"), pl;
	const char *name;

	out[0] = '\0';
	if (n == strlen("CONTENT_TYPE") && memcmp(cgi, "CONTENT_TYPE", n) == 0) {
		memcpy(out, "content-type", strlen("content-type") + 1);
		return 1;
	}
	if (n <= hl || memcmp(cgi, "HTTP_", hl) != 0 || n - hl > PASSPATH_NAME_MAX)
		return 0;
	for (i = 0; i < sizeof(passpath_drop_cgi) / sizeof(passpath_drop_cgi[0]); i++)
		if (strlen(passpath_drop_cgi[i]) == n && memcmp(passpath_drop_cgi[i], cgi, n) == 0)
			return 0;
	for (i = 0; i < sizeof(passpath_drop_prefix) / sizeof(passpath_drop_prefix[0]); i++) {
		pl = strlen(passpath_drop_prefix[i]);
		if (n >= pl && memcmp(passpath_drop_prefix[i], cgi, pl) == 0)
			return 0;
	}
	name = cgi + hl;
	for (i = 0; i < n - hl; i++) {
		char c = name[i];

		if (c == '_')
			c = '-';
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
		out[i] = c;
	}
	out[n - hl] = '\0';
	return 1;
}

int
passpath_response_header(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > PASSPATH_NAME_MAX)
		return 0;
	for (i = 0; i < sizeof(passpath_drop_response) / sizeof(passpath_drop_response[0]); i++)
		if (strlen(passpath_drop_response[i]) == len &&
		    strncasecmp(passpath_drop_response[i], name, len) == 0)
			return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f ||
		    name[i] == ':')
			return 0;
	return 1;
}

int
passpath_location_ok(const char *v, size_t len)
{

	return (len > 7 && strncasecmp(v, "http://", 7) == 0) ||
	    (len > 8 && strncasecmp(v, "https://", 8) == 0);
}
