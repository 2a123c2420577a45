/* stats_clients.c: the dataset of requests by client family (claude-cli, opencode, ...). */
#include <stdlib.h>
#include <string.h>

#include "stats_clients.h"
#include "useragent.h"

/* Columns of STATS_ST_CLIENTS after the family, in order. */
enum stats_ccol {
	STATS_CC_REQUESTS,	/* requests */
	STATS_CC_STREAMED,	/* of which streamed */
	STATS_CC_OK,		/* completed */
	STATS_CC_ERRORS,	/* error, interrupted, rejected */
	STATS_CC_IN,		/* input tokens */
	STATS_CC_OUT,		/* output tokens */
	STATS_CC_CACHE_READ,	/* cache-read tokens */
	STATS_CC_CACHE_WRITE,	/* cache-write tokens */
	STATS_CC_COST,		/* microdollars */
	STATS_CC_BYTES_IN,	/* request bytes */
	STATS_CC_BYTES_OUT,	/* response bytes */
	STATS_CC_TOTAL_MS,	/* sum of total_ms */
	STATS_CC_TOTAL_N,	/* requests with a total_ms */
	STATS_CC__MAX
};

/* The sums of one family. */
struct stats_client {
	enum useragent_family	 family;
	int64_t			 v[STATS_CC__MAX];
};

/* The most requests first, then the set's order. */
static int
stats_client_cmp(const void *a, const void *b)
{
	const struct stats_client *x = a, *y = b;

	if (x->v[STATS_CC_REQUESTS] != y->v[STATS_CC_REQUESTS])
		return x->v[STATS_CC_REQUESTS] > y->v[STATS_CC_REQUESTS] ? -1 : 1;
	return (int)x->family - (int)y->family;
}

cJSON *
stats_clients(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_CLIENTS];
	struct stats_client c[USERAGENT__MAX];
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	enum useragent_family f;
	int64_t total = 0;
	cJSON *root, *arr, *obj;
	int rc, i, k;

	(void)cfg;
	memset(c, 0, sizeof(c));
	for (i = 0; i < USERAGENT__MAX; i++)
		c[i].family = (enum useragent_family)i;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_CLIENTS));
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		/* Rows come from this build's closed set; anything else counts as other. */
		if ((f = useragent_family_find(stats_cs(st, 0))) == USERAGENT__MAX)
			f = USERAGENT_OTHER;
		for (k = 0; k < STATS_CC__MAX; k++)
			c[f].v[k] += stats_ci(st, 1 + k);
	}
	for (i = 0; i < USERAGENT__MAX; i++)
		total += c[i].v[STATS_CC_REQUESTS];
	qsort(c, USERAGENT__MAX, sizeof(c[0]), stats_client_cmp);
	stats_put_i(&o, root, "total_requests", total);
	arr = stats_add_arr(&o, root, "clients");
	for (i = 0; i < USERAGENT__MAX; i++) {
		const int64_t *v = c[i].v;

		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "family", useragent_family_name(c[i].family));
		stats_put_i(&o, obj, "requests", v[STATS_CC_REQUESTS]);
		stats_put_d(&o, obj, "share", stats_ratio((double)v[STATS_CC_REQUESTS],
		    (double)total));
		stats_put_i(&o, obj, "streamed", v[STATS_CC_STREAMED]);
		stats_put_i(&o, obj, "completed", v[STATS_CC_OK]);
		stats_put_i(&o, obj, "errors", v[STATS_CC_ERRORS]);
		stats_put_d(&o, obj, "error_rate", stats_ratio((double)v[STATS_CC_ERRORS],
		    (double)v[STATS_CC_REQUESTS]));
		stats_put_i(&o, obj, "input_tokens", v[STATS_CC_IN]);
		stats_put_i(&o, obj, "output_tokens", v[STATS_CC_OUT]);
		stats_put_i(&o, obj, "cache_read_tokens", v[STATS_CC_CACHE_READ]);
		stats_put_i(&o, obj, "cache_write_tokens", v[STATS_CC_CACHE_WRITE]);
		stats_put_i(&o, obj, "total_tokens", v[STATS_CC_IN] + v[STATS_CC_OUT] +
		    v[STATS_CC_CACHE_READ] + v[STATS_CC_CACHE_WRITE]);
		stats_put_i(&o, obj, "cost_microdollars", v[STATS_CC_COST]);
		stats_put_i(&o, obj, "bytes_in", v[STATS_CC_BYTES_IN]);
		stats_put_i(&o, obj, "bytes_out", v[STATS_CC_BYTES_OUT]);
		stats_put_d(&o, obj, "avg_latency_ms", stats_avg(v[STATS_CC_TOTAL_MS],
		    v[STATS_CC_TOTAL_N]));
	}
	return stats_end(&o, root, dberr, err);
}
