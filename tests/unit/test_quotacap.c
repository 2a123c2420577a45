/* test_quotacap.c: when an account at a hard cap goes under it as hours leave its window. */
#include "../tap.h"
#include "quotacap.h"

#define H	QUOTACAP_HOUR_MS
#define W5	(5 * H)

int
main(void)
{
	/* Hours 100..103 (in hours) with 1, 2, 3, 4 used; now in hour 104. */
	struct quotacap_hour h[] = { { 100 * H, 1 }, { 101 * H, 2 }, { 102 * H, 3 },
	    { 103 * H, 4 } };
	struct quotacap_hour dup[] = { { 100 * H, 5 }, { 100 * H, 5 }, { 101 * H, 1 } };
	int64_t now = 104 * H + 123;

	is_int(quotacap_reset(h, 4, 10, 11, W5, now), now, "under the limit: now");
	is_int(quotacap_reset(h, 4, 10, 10, W5, now), 106 * H,
	    "at the limit: when the oldest hour leaves (its start + window + 1 h)");
	is_int(quotacap_reset(h, 4, 10, 8, W5, now), 107 * H,
	    "two hours must leave to get under 8");
	is_int(quotacap_reset(h, 4, 10, 1, W5, now), 109 * H,
	    "every hour must leave to get under 1");
	is_int(quotacap_reset(h, 4, 13, 3, W5, now), 0,
	    "what never leaves (3 of 13) keeps it at the limit: never");
	is_int(quotacap_reset(dup, 3, 11, 10, W5, now), 106 * H,
	    "rows of one hour leave together");
	is_int(quotacap_reset(h, 4, 10, 0, W5, now), now, "no limit: now");
	is_int(quotacap_reset(h, 4, 10, 10, W5, 106 * H + 5), 106 * H + 5,
	    "a reset already past is now");
	return done_testing();
}
