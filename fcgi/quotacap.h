/* quotacap.h: when an account at a hard quota cap goes under it again (rolling windows). */
#ifndef QP_QUOTACAP_H
#define QP_QUOTACAP_H

#include <stdint.h>

/* The hour of usage rows a window is made of (ms). */
#define QUOTACAP_HOUR_MS	3600000LL

/* One hour of an account's usage of one kind (spend, requests or tokens). */
struct quotacap_hour {
	int64_t		 start;		/* hour start (ms), a multiple of QUOTACAP_HOUR_MS */
	int64_t		 used;		/* usage counted in that hour */
};

/*
 * A window of window_ms at now counts the hours from the one holding
 * now - window_ms on; an hour h leaves it at h + window_ms + one hour.
 * Given the window's hours (oldest first, n of them), the usage counted
 * now (used: those hours plus what never leaves, such as an offset or
 * reservations in flight) and the limit, returns the first time (ms)
 * after now at which used falls under limit as hours leave; now if it is
 * under already; 0 if it never does by hours leaving (what never leaves
 * reaches the limit alone).
 */
int64_t		 quotacap_reset(const struct quotacap_hour *hours, int n, int64_t used,
		    int64_t limit, int64_t window_ms, int64_t now);

#endif /* QP_QUOTACAP_H */
