/* test_wkbackoff.c: the worker's reconnect delays grow, stay capped and jitter within bounds. */
#include <stdint.h>

#include "../tap.h"
#include "wkbackoff.h"
#include "wkbounds.h"

int
main(void)
{
	uint32_t lo, hi, prev_hi = 0, d;
	unsigned a;
	int grows = 1, capped = 1;

	is_int(wkbackoff_delay_ms(0, 500, 30000, 0), 250, "first retry, least jitter: 250 ms");
	is_int(wkbackoff_delay_ms(0, 500, 30000, UINT32_MAX), 250 + UINT32_MAX % 251,
	    "first retry, other jitter: within [250, 500]");
	is_int(wkbackoff_delay_ms(0, 500, 30000, 250), 500, "first retry, most jitter: 500 ms");
	is_int(wkbackoff_delay_ms(1, 500, 30000, 0), 500, "second retry: from 500 ms");
	is_int(wkbackoff_delay_ms(1, 500, 30000, 500), 1000, "... to 1000 ms");
	is_int(wkbackoff_delay_ms(5, 500, 30000, 0), 8000, "sixth retry: from 8 s");
	is_int(wkbackoff_delay_ms(6, 500, 30000, 0), 15000, "seventh: capped at 30 s, from 15 s");
	is_int(wkbackoff_delay_ms(6, 500, 30000, 15000), 30000, "... to 30 s");
	is_int(wkbackoff_delay_ms(1000, 500, 30000, 15000), 30000, "retry 1000: still 30 s, no overflow");
	is_int(wkbackoff_delay_ms(UINT32_MAX, 500, 30000, 7), 15007, "retry 2^32-1: no overflow");
	is_int(wkbackoff_delay_ms(3, 0, 30000, 7), 0, "base 0: no delay");
	is_int(wkbackoff_delay_ms(3, 500, 0, 7), 0, "cap 0: no delay");
	is_int(wkbackoff_delay_ms(0, 40000, 30000, 0), 15000, "a base above the cap is capped");

	/* Each attempt's shortest delay is at least the previous one's longest, until the cap. */
	for (a = 0; a < 40; a++) {
		lo = wkbackoff_delay_ms(a, WK_BACKOFF_BASE_MS, WK_BACKOFF_CAP_MS, 0);
		hi = lo;
		for (d = 0; d < 2000; d++) {
			uint32_t v = wkbackoff_delay_ms(a, WK_BACKOFF_BASE_MS, WK_BACKOFF_CAP_MS,
			    d * 2654435761u);

			if (v < lo)
				lo = v;
			if (v > hi)
				hi = v;
		}
		if (hi > WK_BACKOFF_CAP_MS || lo < WK_BACKOFF_BASE_MS / 2)
			capped = 0;
		if (a < 32 && ((uint64_t)WK_BACKOFF_BASE_MS << a) <= WK_BACKOFF_CAP_MS &&
		    lo < prev_hi)
			grows = 0;
		prev_hi = hi;
	}
	ok(capped, "every delay within [base/2, cap]");
	ok(grows, "the gaps never shrink below the cap, whatever the jitter");
	return done_testing();
}
