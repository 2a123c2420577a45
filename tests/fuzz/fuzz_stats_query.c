/*
 * fuzz_stats_query.c: the /api/stats query-string parser on arbitrary
 * bytes. Aborts when a documented property breaks: an accepted query has
 * a period that ends after it starts and spans at most 366 days, bounded
 * limit and top, known names, terminated UTF-8 filters without control
 * characters and a filter mask that matches them; a refused one says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s (cap bytes) is terminated text without control characters. */
static void
check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), i;

	if (n == cap)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int64_t now = 1715774400000LL;
	struct stats_query q;
	char errbuf[256];
	enum qp_err err;
	int d;

	errbuf[0] = '\0';
	err = stats_query_parse(&q, (const char *)data, size, now, errbuf, sizeof(errbuf));
	if (err != QP_OK) {
		if (err != QP_EINVAL || errbuf[0] == '\0' ||
		    memchr(errbuf, '\0', sizeof(errbuf)) == NULL)
			abort();
		return 0;
	}
	if (q.from >= q.to || q.to - q.from > STATS_RANGE_MAX_MS || q.from < 0)
		abort();
	if (q.limit < 1 || q.limit > STATS_LIMIT_MAX || q.top < 1 || q.top > STATS_TOP_MAX)
		abort();
	if ((unsigned)q.period >= STATS_PERIOD__MAX || (unsigned)q.group_by >= STATS_GROUP__MAX ||
	    (unsigned)q.metric >= STATS_METRIC__MAX || (q.include_disabled != 0 &&
	    q.include_disabled != 1))
		abort();
	check_text(q.account, sizeof(q.account));
	check_text(q.provider, sizeof(q.provider));
	check_text(q.model, sizeof(q.model));
	check_text(q.status, sizeof(q.status));
	if (memchr(q.label, '\0', sizeof(q.label)) == NULL)
		abort();
	if (((q.filters & STATS_F_ACCOUNT) != 0) != (q.account[0] != '\0') ||
	    ((q.filters & STATS_F_PROVIDER) != 0) != (q.provider[0] != '\0') ||
	    ((q.filters & STATS_F_MODEL) != 0) != (q.model[0] != '\0') ||
	    ((q.filters & STATS_F_STATUS) != 0) != (q.status[0] != '\0'))
		abort();
	if (q.period != STATS_PERIOD_RANGE && q.to != q.now)
		abort();
	for (d = 0; d < STATS_DS__MAX; d++) {
		errbuf[0] = '\0';
		err = stats_query_check((enum stats_dataset)d, &q, errbuf, sizeof(errbuf));
		if ((err == QP_OK) != ((q.filters & ~stats_dataset_filters((enum stats_dataset)d)) ==
		    0) || (err != QP_OK && errbuf[0] == '\0'))
			abort();
	}
	return 0;
}
