/* wkbackoff.c: the reconnect delays of quotapool-worker (exponential, capped, jittered). */
#include "wkbackoff.h"

uint32_t
wkbackoff_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms, uint32_t rnd)
{
	uint64_t d = base_ms, half;

	if (base_ms == 0 || cap_ms == 0)
		return 0;
	while (attempt > 0 && d < cap_ms) {
		d *= 2;
		attempt--;
	}
	if (d > cap_ms)
		d = cap_ms;
	half = d / 2;
	return (uint32_t)(half + (uint64_t)rnd % (d - half + 1));
}
