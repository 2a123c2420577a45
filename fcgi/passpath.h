/* passpath.h: the untrusted parts of a passthrough request: its /p/ path, method and headers. */
#ifndef QP_PASSPATH_H
#define QP_PASSPATH_H

#include <stddef.h>

/*
 * Everything here is a pure function of its arguments (no state, no
 * allocation): thread-safe, and fuzzed by tests/fuzz/fuzz_passpath.c.
 * docs/passthrough.md says what an operator sees of it.
 */

/* The route prefix of passthrough requests: /p/<provider>/<upstream path>. */
#define PASSPATH_PREFIX		"/p/"
/* Longest provider id in a /p/ path (config_int.h's CONFIG_NAME_MAX). */
#define PASSPATH_PROVIDER_MAX	64
/* Longest method name accepted (an HTTP token). */
#define PASSPATH_METHOD_MAX	16
/* Longest header name forwarded either way. */
#define PASSPATH_NAME_MAX	128

/* Why a /p/ path is refused (passpath_split()). */
enum passpath_err {
	PASSPATH_OK,		/* split */
	PASSPATH_NO_PROVIDER,	/* no provider id, or one that cannot be an id */
	PASSPATH_NO_PATH,	/* nothing after /p/<provider> */
	PASSPATH_UNSAFE,	/* a dot segment, an encoded '/' or '\', a bad escape,
				   a control character, a blank or a '\' */
	PASSPATH__MAX
};

/* Returns a constant sentence saying what err means, for error bodies. */
const char	*passpath_strerror(enum passpath_err err);

/*
 * Splits path (len bytes, the request path after [server] base_path and
 * before '?', not decoded) of the form "/p/<provider>/<rest>": the
 * provider id (letters, digits and '-', at most PASSPATH_PROVIDER_MAX) is
 * copied to prov (PASSPATH_PROVIDER_MAX + 1 bytes, NUL-terminated), and
 * *rest / *rest_len get the upstream path: the '/' before <rest> and all
 * that follows, pointing into path. The upstream path must be safe
 * (passpath_safe()), since an upstream or curl that resolves dot segments
 * or decodes "%2F" would otherwise reach a path the globs never saw.
 */
enum passpath_err passpath_split(const char *path, size_t len, char *prov,
		    const char **rest, size_t *rest_len);

/*
 * Returns 1 if the upstream path p (len bytes) is safe to match and send
 * as it is: it starts with '/', holds only printable ASCII without
 * blanks, '\\' or '#', every '%' starts a %XX escape, no escape decodes
 * to '/', '\\' or a control character, and no segment is "." or ".."
 * (written plainly or with %2E escapes). Else 0.
 */
int		 passpath_safe(const char *p, size_t len);

/*
 * Returns 1 if glob g (len bytes) may stand in a provider's passthrough
 * list: "*" alone, or a glob of printable ASCII without blanks that
 * starts with '/'. Else 0 with *why set to a constant sentence.
 */
int		 passpath_glob_ok(const char *g, size_t len, const char **why);

/*
 * Returns 1 if path (NUL-terminated) matches glob g: '*' matches any run
 * of characters, '/' included; every other character matches itself
 * (case matters). A glob of "*" matches every path.
 */
int		 passpath_glob_match(const char *g, const char *path);

/* Returns 1 if path matches one of the n globs, else 0 (also when n is 0). */
int		 passpath_allowed(char *const *globs, int n, const char *path);

/* Returns 1 if m is a method that may be forwarded: 1 to PASSPATH_METHOD_MAX token characters. */
int		 passpath_method_ok(const char *m);

/*
 * Decides whether the client's CGI parameter cgi ("HTTP_X_FOO=value":
 * the part before '=', or a whole name) is forwarded upstream, and as
 * which header name: the HTTP_* headers and CONTENT_TYPE are, except
 * every credential the client sent (Authorization, X-Api-Key, Api-Key,
 * Proxy-Authorization, Cookie), the hop-by-hop headers (Connection,
 * Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), Host,
 * Content-Length, Expect, and the client's address (Forwarded,
 * X-Forwarded-*, X-Real-IP). Writes the lower-case header name ('_'
 * made '-') to out (PASSPATH_NAME_MAX + 1 bytes) and returns 1, or
 * returns 0.
 */
int		 passpath_forward(const char *cgi, size_t len, char *out);

/*
 * Returns 1 if an upstream response header named name (len bytes) goes
 * back to the client: every one but the hop-by-hop headers, cookies and
 * credentials (Set-Cookie, Set-Cookie2, WWW-Authenticate,
 * Proxy-Authenticate, Authorization), the headers the gateway writes
 * itself (Status, Content-Type, Content-Length, x-proxy-*), and those a
 * web server acts on (X-Sendfile, X-Lighttpd-Send-File,
 * X-Accel-Redirect, and Location unless its value is an absolute URL:
 * see passpath_location_ok()).
 */
int		 passpath_response_header(const char *name, size_t len);

/* Returns 1 if a Location value (len bytes) is an absolute http(s) URL. */
int		 passpath_location_ok(const char *v, size_t len);

#endif /* QP_PASSPATH_H */
