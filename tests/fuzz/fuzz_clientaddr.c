/* fuzz_clientaddr.c: fuzz target of the X-Forwarded-For and X-Forwarded-Proto reading. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clientaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is "XFF\nXFP" (no NUL bytes: headers have none). From a
 * trusted peer the answer is always an IP literal, and from an untrusted
 * one always the peer.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char t0[] = "127.0.0.1", t1[] = "10.0.0.1", t2[] = "2001:db8::1";
	char *const trusted[3] = { t0, t1, t2 };
	struct clientaddr_in in;
	char *buf, *nl, out[64], tiny[4];
	unsigned char b[16];
	int secure;

	if (memchr(data, '\0', size) != NULL || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	in.xff = buf;
	in.xfp = NULL;
	if ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		in.xfp = nl + 1;
	}
	in.https = NULL;
	in.peer = "127.0.0.1";
	clientaddr_resolve(&in, trusted, 3, out, sizeof(out), &secure);
	if (inet_pton(AF_INET, out, b) != 1 && inet_pton(AF_INET6, out, b) != 1)
		__builtin_trap();
	if (secure != 0 && secure != 1)
		__builtin_trap();
	clientaddr_resolve(&in, trusted, 3, tiny, sizeof(tiny), &secure);
	if (strlen(tiny) >= sizeof(tiny))
		__builtin_trap();
	in.peer = "192.0.2.1";
	in.https = "on";
	clientaddr_resolve(&in, trusted, 3, out, sizeof(out), &secure);
	if (strcmp(out, "192.0.2.1") != 0 || secure != 1)
		__builtin_trap();
	free(buf);
	return 0;
}
