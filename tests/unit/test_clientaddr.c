/* test_clientaddr.c: X-Forwarded-For and -Proto are believed only from trusted proxies. */
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "clientaddr.h"

static char t0[] = "127.0.0.5", t1[] = "10.0.0.1", t2[] = "2001:db8::1", t3[] = "::1";
static char *const trusted[] = { t0, t1, t2, t3 };

static const struct {
	const char	*peer, *xff, *xfp, *https;
	const char	*addr;
	int		 secure;
	const char	*name;
} cases[] = {
	{ "192.0.2.9", NULL, NULL, NULL, "192.0.2.9", 0, "no proxy: the peer" },
	{ "192.0.2.9", NULL, NULL, "on", "192.0.2.9", 1, "no proxy, TLS at the web server" },
	{ "192.0.2.9", "203.0.113.7", "https", NULL, "192.0.2.9", 0,
	  "an untrusted peer's headers are ignored" },
	{ "192.0.2.9", "203.0.113.7", "http", "on", "192.0.2.9", 1,
	  "an untrusted peer cannot downgrade the scheme either" },
	{ NULL, "203.0.113.7", NULL, NULL, "", 0, "no REMOTE_ADDR: unknown" },
	{ "127.0.0.5", NULL, NULL, NULL, "127.0.0.5", 0, "a trusted peer without XFF" },
	{ "127.0.0.5", "203.0.113.7", NULL, NULL, "203.0.113.7", 0, "a trusted peer's XFF" },
	{ "127.0.0.5", " 203.0.113.7 ", NULL, NULL, "203.0.113.7", 0, "spaces trimmed" },
	{ "127.0.0.5", "203.0.113.7, 10.0.0.1", NULL, NULL, "203.0.113.7", 0,
	  "trusted hops are skipped from the right" },
	{ "127.0.0.5", "1.1.1.1, 203.0.113.7", NULL, NULL, "203.0.113.7", 0,
	  "a client's own XFF entry cannot pose as the client: the right-most untrusted "
	  "hop is" },
	{ "127.0.0.5", "10.0.0.1, 127.0.0.5", NULL, NULL, "10.0.0.1", 0,
	  "all trusted: the left-most" },
	{ "127.0.0.5", "garbage", NULL, NULL, "127.0.0.5", 0,
	  "a malformed element: the last address read (the peer)" },
	{ "127.0.0.5", "203.0.113.7, junk, 10.0.0.1", NULL, NULL, "10.0.0.1", 0,
	  "a malformed element ends the walk at the hop right of it" },
	{ "127.0.0.5", "203.0.113.7,", NULL, NULL, "127.0.0.5", 0,
	  "an empty element is malformed" },
	{ "127.0.0.5", "203.0.113.7:5555", NULL, NULL, "203.0.113.7", 0, "IPv4 with a port" },
	{ "127.0.0.5", "[2001:db8::7]:443", NULL, NULL, "2001:db8::7", 0,
	  "IPv6 in brackets with a port" },
	{ "127.0.0.5", "2001:DB8:0::7", NULL, NULL, "2001:db8::7", 0,
	  "IPv6 written in canonical form" },
	{ "127.0.0.5", "::ffff:203.0.113.7", NULL, NULL, "203.0.113.7", 0,
	  "an IPv4-mapped address is IPv4" },
	{ "::ffff:127.0.0.5", "203.0.113.7", NULL, NULL, "203.0.113.7", 0,
	  "a v4-mapped peer matches its IPv4 entry" },
	{ "::1", "203.0.113.7", NULL, NULL, "203.0.113.7", 0, "an IPv6 trusted peer" },
	{ "127.0.0.5", "203.0.113.7:99x", NULL, NULL, "127.0.0.5", 0, "a bad port is malformed" },
	{ "127.0.0.5", "1.2.3.4.5", NULL, NULL, "127.0.0.5", 0, "not an address" },
	{ "127.0.0.5", "203.0.113.7", "https", NULL, "203.0.113.7", 1,
	  "a trusted proxy's X-Forwarded-Proto https" },
	{ "127.0.0.5", "203.0.113.7", "HTTPS", NULL, "203.0.113.7", 1, "any case" },
	{ "127.0.0.5", "203.0.113.7", "http", "on", "203.0.113.7", 0,
	  "a trusted proxy's http wins over TLS between it and the web server" },
	{ "127.0.0.5", "203.0.113.7", "https, http", NULL, "203.0.113.7", 0,
	  "the right-most value: the proxy's own" },
	{ "127.0.0.5", "203.0.113.7", "http, https", NULL, "203.0.113.7", 1,
	  "the right-most value counts" },
	{ "127.0.0.5", "203.0.113.7", "httpsx", NULL, "203.0.113.7", 0, "only https is secure" },
	{ "127.0.0.5", NULL, " ", "on", "127.0.0.5", 1, "an empty value: HTTPS decides" },
};

int
main(void)
{
	char out[64], tiny[5];
	struct clientaddr_in in;
	size_t i;
	int secure;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in.peer = cases[i].peer;
		in.xff = cases[i].xff;
		in.xfp = cases[i].xfp;
		in.https = cases[i].https;
		secure = -1;
		clientaddr_resolve(&in, trusted, 4, out, sizeof(out), &secure);
		is_str(out, cases[i].addr, "%s: address", cases[i].name);
		is_int(secure, cases[i].secure, "%s: scheme", cases[i].name);
	}
	in.peer = "127.0.0.5";
	in.xff = "203.0.113.7";
	in.xfp = NULL;
	in.https = NULL;
	clientaddr_resolve(&in, trusted, 0, out, sizeof(out), &secure);
	is_str(out, "127.0.0.5", "no trusted proxies: XFF is never believed");
	clientaddr_resolve(&in, trusted, 4, tiny, sizeof(tiny), &secure);
	is_str(tiny, "203.", "a short buffer gets a cut, terminated address");
	return done_testing();
}
