/*
 * fuzz_passpath.c: what a passthrough request brings from outside: its
 * /p/ path, its method and its header names. Input: the bytes of a
 * request path (also tried as a method, a CGI parameter, an upstream
 * header name and a glob). Whatever comes in, a split path names a
 * provider of id characters and hands back a safe path inside the input
 * that starts with '/', a safe path holds no dot segment and no encoded
 * '/' however its %2E escapes are written, and the glob "*" matches
 * every path while a path matches itself as a glob when it holds no '*'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passpath.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest input used: request paths are bounded long before this. */
#define FUZZ_MAX	4096

/* Aborts unless p (len bytes, safe) has no "." or ".." segment once %2E/%2e is read as '.'. */
static void
check_no_dots(const char *p, size_t len)
{
	char *d;
	size_t i, n = 0, seg;

	if ((d = malloc(len + 1)) == NULL)
		return;
	for (i = 0; i < len; i++) {
		if (p[i] == '%' && i + 2 < len && p[i + 1] == '2' &&
		    (p[i + 2] == 'e' || p[i + 2] == 'E')) {
			d[n++] = '.';
			i += 2;
		} else if (p[i] == '%' && i + 2 < len && p[i + 1] == '2' &&
		    (p[i + 2] == 'f' || p[i + 2] == 'F'))
			abort();
		else
			d[n++] = p[i];
	}
	d[n] = '\0';
	for (seg = 1, i = 1; i <= n; i++)
		if (i == n || d[i] == '/') {
			if ((i - seg == 1 && d[seg] == '.') ||
			    (i - seg == 2 && d[seg] == '.' && d[seg + 1] == '.'))
				abort();
			seg = i + 1;
		}
	free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char prov[PASSPATH_PROVIDER_MAX + 1], name[PASSPATH_NAME_MAX + 1], *s;
	const char *rest, *why;
	size_t rl, i;
	enum passpath_err e;

	if (size > FUZZ_MAX)
		size = FUZZ_MAX;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	e = passpath_split(s, size, prov, &rest, &rl);
	if (strlen(passpath_strerror(e)) == 0)
		abort();
	if (e == PASSPATH_OK) {
		if (rest < s || rest + rl != s + size || rl < 2 || rest[0] != '/' ||
		    prov[0] == '\0' || !passpath_safe(rest, rl))
			abort();
		for (i = 0; prov[i] != '\0'; i++)
			if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
			    prov[i]) == NULL)
				abort();
	}
	if (passpath_safe(s, size))
		check_no_dots(s, size);
	if (memchr(s, '\0', size) == NULL) {
		if (!passpath_glob_match("*", s))
			abort();
		if (strchr(s, '*') == NULL && !passpath_glob_match(s, s))
			abort();
		if (passpath_glob_ok(s, size, &why) == (why != NULL))
			abort();
		(void)passpath_method_ok(s);
	}
	if (passpath_forward(s, size, name) && (strlen(name) == 0 ||
	    strlen(name) > PASSPATH_NAME_MAX))
		abort();
	(void)passpath_response_header(s, size);
	(void)passpath_location_ok(s, size);
	free(s);
	return 0;
}
