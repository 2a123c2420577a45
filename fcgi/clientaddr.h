/* clientaddr.h: a request's client address and scheme; X-Forwarded-* only from trusted proxies. */
#ifndef QP_CLIENTADDR_H
#define QP_CLIENTADDR_H

#include <stddef.h>

/* Longest X-Forwarded-For element read (an IPv6 literal in brackets with a port fits). */
#define CLIENTADDR_ELEM_MAX	64

/* What a request says about its client: FastCGI parameters, borrowed, any may be NULL. */
struct clientaddr_in {
	const char	*peer;		/* REMOTE_ADDR: who connected to the web server */
	const char	*xff;		/* HTTP_X_FORWARDED_FOR (untrusted bytes) */
	const char	*xfp;		/* HTTP_X_FORWARDED_PROTO (untrusted bytes) */
	const char	*https;		/* HTTPS: "on" when the web server did TLS itself */
};

/*
 * Works out the client's address into out (outlen bytes, always
 * NUL-terminated; "" when the web server gave none) and whether its
 * connection is HTTPS into *secure. When the peer is not one of
 * trusted[0..ntrusted) (IP literals, compared as addresses: "::ffff:1.2.3.4"
 * is 1.2.3.4), the peer is the client and HTTPS says the scheme; the
 * headers are ignored. From a trusted peer, X-Forwarded-For is read from
 * the right: trusted addresses are skipped and the first one that is not
 * trusted is the client (all trusted: the left-most); an element that is
 * not an IP literal ("1.2.3.4", "1.2.3.4:port", "::1", "[::1]:port") ends
 * the walk, and the last address read stands. The address is written in
 * canonical form (inet_ntop). From a trusted peer, the right-most
 * X-Forwarded-Proto value says the scheme ("https", any case, is
 * secure), else HTTPS does. Holds no state: thread-safe.
 */
void		 clientaddr_resolve(const struct clientaddr_in *in, char *const *trusted,
		    int ntrusted, char *out, size_t outlen, int *secure);

#endif /* QP_CLIENTADDR_H */
