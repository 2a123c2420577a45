/* stats_detail.h: the reader of routing decisions' detail_json that the routing rollup counts. */
#ifndef QP_STATS_DETAIL_H
#define QP_STATS_DETAIL_H

#include <stddef.h>

/* The members of a decision's account entry that the routing rollup reads. */
enum stats_ekey {
	STATS_EK_ACCOUNT,	/* "account" */
	STATS_EK_PROVIDER,	/* "provider" */
	STATS_EK_REASON,	/* "reason" */
	STATS_EK_BACKOFF,	/* "backoff" */
	STATS_EK__MAX
};

/* One account entry: each member's text (pointing into the detail), NULL = absent. */
struct stats_entry {
	const char	*v[STATS_EK__MAX];	/* value */
	size_t		 n[STATS_EK__MAX];	/* its length */
};

/*
 * Reads a routing decision's detail_json (buf, len bytes, untrusted: any
 * row of routing_decisions) and calls emit(arg, entry) for each object of
 * its "accounts" array, the entry's strings pointing into buf. It accepts
 * only details it reads exactly as SQLite's JSON functions do (RFC 8259
 * JSON; keys without escapes; "accounts" at most once; account, provider,
 * reason and backoff at most once each, as strings of printable ASCII
 * without escapes; at most 16 levels deep). Returns 0, or -1 for any other
 * detail (the rollup then reads it with SQL) or when emit returned -1;
 * entries emitted before are then to be forgotten. Thread-safe.
 */
int		 stats_detail_scan(const char *buf, size_t len,
		    int (*emit)(void *arg, const struct stats_entry *e), void *arg);

#endif /* QP_STATS_DETAIL_H */
