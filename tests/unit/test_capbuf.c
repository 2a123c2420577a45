/* test_capbuf.c: the capped byte buffer kept of upstream bodies (proxy, passthrough). */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "capbuf.h"

int
main(void)
{
	struct capbuf b;
	char big[10000];
	size_t i;

	memset(&b, 0, sizeof(b));
	b.max = 10;
	is_int(capbuf_add(&b, "", 0), 0, "adding nothing to an empty buffer: 0");
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "adding nothing allocates nothing");
	is_int(capbuf_add(&b, "hello", 5), 0, "5 bytes under a cap of 10");
	is_str(b.p, "hello", "the bytes, NUL-terminated");
	is_int(b.over, 0, "not over");
	is_int(capbuf_add(&b, " world!", 7), 0, "7 more: 2 past the cap");
	is_int(b.len, 10, "kept up to the cap (10 bytes)");
	is_str(b.p, "hello worl", "the first 10 bytes, NUL-terminated");
	is_int(b.over, 1, "over is set");
	ok(b.cap <= b.max + 1, "never allocated past max + 1 (%zu)", b.cap);
	is_int(capbuf_add(&b, "x", 1), 0, "a byte past the cap is dropped without an error");
	is_int(b.len, 10, "still 10 bytes");
	capbuf_free(&b);
	ok(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 0 && b.over == 0,
	    "capbuf_free zeroes the buffer");
	capbuf_free(&b);
	ok(1, "capbuf_free twice is harmless");

	/* Growth across many pieces keeps every byte in order. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	memset(&b, 0, sizeof(b));
	b.max = 1 << 20;
	for (i = 0; i < sizeof(big); i += 7)
		if (capbuf_add(&b, big + i, i + 7 <= sizeof(big) ? 7 : sizeof(big) - i) != 0)
			break;
	is_int(b.len, sizeof(big), "10,000 bytes added 7 at a time: all kept");
	ok(b.len == sizeof(big) && memcmp(b.p, big, sizeof(big)) == 0, "in order");
	is_int(b.p[b.len], '\0', "NUL-terminated past the last byte");
	is_int(b.over, 0, "not over under a 1 MiB cap");
	ok(b.cap >= b.len + 1 && b.cap <= 2 * (b.len + 1) + 4096,
	    "allocation doubled, not per piece (%zu bytes for %zu)", b.cap, b.len);
	capbuf_free(&b);

	/* A cap of 0 keeps nothing and allocates nothing. */
	memset(&b, 0, sizeof(b));
	is_int(capbuf_add(&b, "abc", 3), 0, "a cap of 0: no error");
	ok(b.p == NULL && b.len == 0 && b.over == 1, "nothing kept, over set");
	capbuf_free(&b);
	return done_testing();
}
