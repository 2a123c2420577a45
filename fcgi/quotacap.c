/* quotacap.c: when an account at a hard quota cap goes under it again. */
#include "quotacap.h"

int64_t
quotacap_reset(const struct quotacap_hour *hours, int n, int64_t used, int64_t limit,
    int64_t window_ms, int64_t now)
{
	int64_t at;
	int i;

	if (limit <= 0 || used < limit)
		return now;
	for (i = 0; i < n; i++) {
		used -= hours[i].used;
		at = hours[i].start + window_ms + QUOTACAP_HOUR_MS;
		/* Hours of equal start leave together. */
		if (i + 1 < n && hours[i + 1].start == hours[i].start)
			continue;
		if (used < limit)
			return at > now ? at : now;
	}
	return 0;
}
