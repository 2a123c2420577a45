/* wkbackoff.h: the reconnect delays of quotapool-worker (exponential, capped, jittered). */
#ifndef WK_BACKOFF_H
#define WK_BACKOFF_H

#include <stdint.h>

/*
 * The delay before retry number attempt (0 for the first retry), in
 * milliseconds: with d = min(cap_ms, base_ms * 2^attempt), a value in
 * [d/2, d] picked by rnd (any 32-bit random number). Below the cap each
 * attempt's shortest delay is the previous one's longest, so the gaps
 * grow whatever the jitter; at the cap they stay within [cap/2, cap].
 * Pure; any thread.
 */
uint32_t	wkbackoff_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms,
		    uint32_t rnd);

#endif /* WK_BACKOFF_H */
