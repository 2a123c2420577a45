/*
 * fuzz_ratelimit.c: the rate-limit header parser on arbitrary bytes.
 * Input: 1 byte (bit 0: the answer is a success), then the bytes of the
 * header lines. Whatever comes in, every count stays within its bounds,
 * a reset lies within RATELIMIT_RESET_MAX_MS of now, nseen counts the
 * kinds seen, and the duration and time parsers agree with themselves.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ratelimit.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW	1796655600000LL

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ratelimit_obs o;
	const struct ratelimit_count *c;
	int64_t ms;
	int k, n = 0;

	if (size < 1)
		return 0;
	ratelimit_parse((const char *)data + 1, size - 1, data[0] & 1, FUZZ_NOW, &o);
	for (k = 0; k < RATELIMIT_KIND__MAX; k++) {
		c = &o.c[k];
		n += c->seen;
		if (c->limit < -1 || c->limit > RATELIMIT_COUNT_MAX ||
		    c->remaining < -1 || c->remaining > RATELIMIT_COUNT_MAX)
			abort();
		if (c->reset_at != 0 && (c->reset_at < 0 ||
		    c->reset_at > FUZZ_NOW + RATELIMIT_RESET_MAX_MS))
			abort();
		if (!c->seen && (c->limit != -1 || c->remaining != -1 || c->reset_at != 0))
			abort();
	}
	if (n != o.nseen)
		abort();
	if (ratelimit_duration_ms((const char *)data + 1, size - 1, &ms) == 0 &&
	    (ms < 0 || ms > RATELIMIT_RESET_MAX_MS))
		abort();
	(void)ratelimit_rfc3339_ms((const char *)data + 1, size - 1, &ms);
	return 0;
}
