/* stats_reliability.c: the datasets of failures and single requests, traces and backoffs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_db.h"
#include "stats_reliability.h"
#include "stats_rollup.h"

/* A process whose heartbeat is older than this is silent (as accounting judges it). */
#define STATS_HEARTBEAT_STALE_MS (2LL * 60 * 1000)
/* Oldest pending requests listed by pending-health. */
#define STATS_PENDING_LIST	10
/* Raw request rows a filtered recent-requests looks at, newest first, at most. */
#define STATS_SCAN_MAX		100000

/* ---- tallies: small keyed sums built in memory ------------------------------- */

/* One keyed row of a tally. */
struct stats_trow {
	char		*key;		/* first key (owned) */
	char		*key2;		/* second key (owned), "" if unused */
	int64_t		 v[4];		/* sums */
};

/* A small table of keyed sums (dozens to hundreds of keys). */
struct stats_tally {
	struct stats_trow *rows;	/* owned */
	int		 n;		/* rows used */
	int		 cap;		/* rows allocated */
	int		 oom;		/* 1 once an allocation failed */
};

static struct stats_trow *
stats_tally_get(struct stats_tally *t, const char *key, const char *key2)
{
	struct stats_trow *r;
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].key, key) == 0 && strcmp(t->rows[i].key2, key2) == 0)
			return &t->rows[i];
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;

		r = realloc(t->rows, (size_t)cap * sizeof(*r));
		if (r == NULL) {
			t->oom = 1;
			return NULL;
		}
		t->rows = r;
		t->cap = cap;
	}
	r = &t->rows[t->n];
	memset(r, 0, sizeof(*r));
	r->key = strdup(key);
	r->key2 = strdup(key2);
	if (r->key == NULL || r->key2 == NULL) {
		free(r->key);
		free(r->key2);
		t->oom = 1;
		return NULL;
	}
	t->n++;
	return r;
}

static void
stats_tally_add(struct stats_tally *t, const char *key, const char *key2, int i, int64_t v)
{
	struct stats_trow *r = stats_tally_get(t, key, key2 != NULL ? key2 : "");

	if (r != NULL)
		r->v[i] += v;
}

static int
stats_trow_cmp(const void *a, const void *b)
{
	const struct stats_trow *x = a, *y = b;
	int c;

	if (x->v[0] != y->v[0])
		return x->v[0] > y->v[0] ? -1 : 1;
	c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	return strcmp(x->key2, y->key2);
}

/* Sorts by v[0] descending, then by keys. */
static void
stats_tally_sort(struct stats_tally *t)
{

	if (t->n > 1)
		qsort(t->rows, (size_t)t->n, sizeof(*t->rows), stats_trow_cmp);
}

static void
stats_tally_free(struct stats_tally *t)
{
	int i;

	for (i = 0; i < t->n; i++) {
		free(t->rows[i].key);
		free(t->rows[i].key2);
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* ---- attempts and retries ---------------------------------------------------------- */

/* Puts a tally as an array of {k1: key, [k2: key2,] n1: v[0], ...}. */
static void
stats_put_tally(struct stats_out *o, cJSON *root, const char *name, struct stats_tally *t,
    const char *k1, const char *k2, const char *const *vn, int nv)
{
	cJSON *arr, *obj;
	int i, j;

	if (t->oom)
		o->oom = 1;
	stats_tally_sort(t);
	arr = stats_add_arr(o, root, name);
	for (i = 0; i < t->n && !o->oom; i++) {
		obj = stats_arr_obj(o, arr);
		stats_put_s(o, obj, k1, t->rows[i].key);
		if (k2 != NULL)
			stats_put_s(o, obj, k2, t->rows[i].key2);
		for (j = 0; j < nv; j++)
			stats_put_i(o, obj, vn[j], t->rows[i].v[j]);
	}
}

cJSON *
stats_attempts(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_out[] = { "attempts" };
	static const char *const vn_prov[] = { "attempts", "ok", "failed", "total_ms_sum" };
	sqlite3_stmt *st = s->st[STATS_ST_ATTEMPTS];
	struct stats_tally by_out = { 0 }, by_cat = { 0 }, by_prov = { 0 }, rows = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t n, total = 0, ok = 0;
	const char *outcome;
	cJSON *root;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_ATTEMPTS));
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		n = stats_ci(st, 3);
		outcome = stats_cs(st, 1);
		total += n;
		stats_tally_add(&by_out, outcome[0] ? outcome : "(none)", NULL, 0, n);
		stats_tally_add(&by_cat, stats_cs(st, 2)[0] ? stats_cs(st, 2) : "none", NULL, 0, n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, 0, n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, strcmp(outcome, "ok") == 0 ? 1 : 2,
		    n);
		stats_tally_add(&by_prov, stats_cs(st, 0), NULL, 3, stats_ci(st, 4));
		stats_tally_add(&rows, stats_cs(st, 0), outcome, 0, n);
		if (strcmp(outcome, "ok") == 0)
			ok += n;
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_attempts", total);
	stats_put_i(&o, root, "ok_attempts", ok);
	stats_put_i(&o, root, "failed_attempts", total - ok);
	stats_put_d(&o, root, "failure_rate", stats_ratio((double)(total - ok), (double)total));
	stats_put_tally(&o, root, "by_outcome", &by_out, "outcome", NULL, vn_out, 1);
	stats_put_tally(&o, root, "by_retry_category", &by_cat, "retry_category", NULL, vn_out, 1);
	stats_put_tally(&o, root, "by_provider", &by_prov, "provider", NULL, vn_prov, 4);
	stats_put_tally(&o, root, "by_provider_outcome", &rows, "provider", "outcome", vn_out, 1);
out:
	stats_tally_free(&by_out);
	stats_tally_free(&by_cat);
	stats_tally_free(&by_prov);
	stats_tally_free(&rows);
	return stats_end(&o, root, dberr, err);
}

cJSON *
stats_retries(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_model[] = { "retried", "rescued", "requests" };
	sqlite3_stmt *st = s->st[STATS_ST_RETRIES];
	struct stats_tally by_model = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t dist[STATS_ATTEMPTS_CAP + 1][2], total = 0, retried = 0, rescued = 0;
	int64_t first_ok = 0, n;
	int rc, ac, done;
	cJSON *root, *arr, *obj;

	(void)cfg;
	memset(dist, 0, sizeof(dist));
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_RETRIES));
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		done = strcmp(stats_cs(st, 2), "completed") == 0;
		for (ac = 0; ac <= STATS_ATTEMPTS_CAP; ac++) {
			n = stats_ci(st, 3 + ac);
			total += n;
			dist[ac][0] += n;
			if (done)
				dist[ac][1] += n;
			if (ac == 1 && done)
				first_ok += n;
			stats_tally_add(&by_model, stats_cs(st, 0), stats_cs(st, 1), 2, n);
			if (ac > 1) {
				retried += n;
				stats_tally_add(&by_model, stats_cs(st, 0), stats_cs(st, 1), 0, n);
				if (done) {
					rescued += n;
					stats_tally_add(&by_model, stats_cs(st, 0),
					    stats_cs(st, 1), 1, n);
				}
			}
		}
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_requests", total);
	stats_put_i(&o, root, "first_attempt_success", first_ok);
	stats_put_i(&o, root, "retried_requests", retried);
	stats_put_i(&o, root, "rescued_requests", rescued);
	stats_put_i(&o, root, "failed_after_retry", retried - rescued);
	stats_put_d(&o, root, "rescue_rate", stats_ratio((double)rescued, (double)retried));
	arr = stats_add_arr(&o, root, "distribution");
	for (ac = 0; ac <= STATS_ATTEMPTS_CAP; ac++) {
		if (dist[ac][0] == 0)
			continue;
		obj = stats_arr_obj(&o, arr);
		stats_put_i(&o, obj, "attempts", ac);
		stats_put_b(&o, obj, "or_more", ac == STATS_ATTEMPTS_CAP);
		stats_put_i(&o, obj, "requests", dist[ac][0]);
		stats_put_i(&o, obj, "completed", dist[ac][1]);
	}
	/* Only models with retries are listed. */
	for (ac = 0; ac < by_model.n; ac++)
		if (by_model.rows[ac].v[0] == 0) {
			free(by_model.rows[ac].key);
			free(by_model.rows[ac].key2);
			by_model.rows[ac] = by_model.rows[--by_model.n];
			ac--;
		}
	stats_put_tally(&o, root, "by_model", &by_model, "provider", "model", vn_model, 3);
out:
	stats_tally_free(&by_model);
	return stats_end(&o, root, dberr, err);
}

/* ---- routing ---------------------------------------------------------------------- */

cJSON *
stats_routing(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	static const char *const vn_model[] = { "decisions", "no_account" };
	static const char *const vn_acct[] = { "chosen" };
	static const char *const vn_count[] = { "count" };
	sqlite3_stmt *st = s->st[STATS_ST_ROUTING];
	struct stats_tally by_model = { 0 }, by_acct = { 0 }, by_reason = { 0 }, excl = { 0 };
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t n, decisions = 0, none = 0, chosen = 0, excluded = 0;
	const char *reason;
	cJSON *root;
	int rc, i;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_ROUTING));
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		reason = stats_cs(st, 3);
		n = stats_ci(st, 4);
		if (strcmp(reason, "chosen") == 0) {
			decisions += n;
			chosen += n;
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 0, n);
			stats_tally_add(&by_acct, stats_cs(st, 1), stats_cs(st, 2), 0, n);
		} else if (strcmp(reason, "no_account") == 0) {
			decisions += n;
			none += n;
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 0, n);
			stats_tally_add(&by_model, stats_cs(st, 0), NULL, 1, n);
		} else {
			excluded += n;
			stats_tally_add(&by_reason, reason, NULL, 0, n);
			stats_tally_add(&excl, stats_cs(st, 1), reason, 0, n);
		}
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "decisions", decisions);
	stats_put_i(&o, root, "chosen", chosen);
	stats_put_i(&o, root, "no_account", none);
	stats_put_i(&o, root, "exclusions", excluded);
	stats_put_tally(&o, root, "by_model", &by_model, "model", NULL, vn_model, 2);
	stats_put_tally(&o, root, "by_account", &by_acct, "account", "provider", vn_acct, 1);
	/* The share of decisions each account won. */
	if (!o.oom && root != NULL) {
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "by_account"), *it;

		i = 0;
		cJSON_ArrayForEach(it, arr) {
			stats_put_d(&o, it, "share", stats_ratio((double)by_acct.rows[i].v[0],
			    (double)chosen));
			i++;
		}
	}
	stats_put_tally(&o, root, "exclusions_by_reason", &by_reason, "reason", NULL, vn_count, 1);
	stats_put_tally(&o, root, "exclusions_by_account", &excl, "account", "reason", vn_count, 1);
out:
	stats_tally_free(&by_model);
	stats_tally_free(&by_acct);
	stats_tally_free(&by_reason);
	stats_tally_free(&excl);
	return stats_end(&o, root, dberr, err);
}

/* ---- pings --------------------------------------------------------------------- */

/* One provider's pings, per bucket. */
struct stats_pingser {
	char		*provider;	/* owned */
	int64_t		(*v)[5];	/* per bucket: probes, ok, latency sum, latency n, max */
	int64_t		*min;		/* per bucket: least latency, -1 = none */
};

static int
stats_pingser_cmp(const void *a, const void *b)
{

	return strcmp(((const struct stats_pingser *)a)->provider,
	    ((const struct stats_pingser *)b)->provider);
}

cJSON *
stats_pings(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_PINGS];
	struct stats_pingser *ps = NULL, *t;
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t bms, first, nb, bi, lat, tot[4];
	cJSON *root, *arr, *prov, *series, *obj, *it;
	const char *name;
	int rc, i, n = 0, cap = 0, last = -1;

	(void)cfg;
	bms = stats_bucket_ms(q->to - q->from, 1);
	first = stats_floor(q->from, bms);
	nb = (stats_floor(q->to - 1, bms) - first) / bms + 1;
	if (nb < 1)
		nb = 1;
	root = stats_begin(&o, q, q->from, q->to, stats_dataset_filters(STATS_DS_PINGS));
	stats_put_i(&o, root, "bucket_ms", bms);
	/* Rows come in time order from a covering index; they are summed here. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	stats_bind_opt(st, 3, q->provider);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		name = stats_cs(st, 0);
		if (last < 0 || strcmp(ps[last].provider, name) != 0) {
			for (last = 0; last < n && strcmp(ps[last].provider, name) != 0; last++)
				;
			if (last == n) {
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					t = realloc(ps, (size_t)cap * sizeof(*ps));
					if (t == NULL) {
						dberr = QP_ENOMEM;
						sqlite3_reset(st);
						goto out;
					}
					ps = t;
				}
				t = &ps[n++];
				t->provider = strdup(name);
				t->v = calloc((size_t)nb, sizeof(*t->v));
				t->min = malloc((size_t)nb * sizeof(*t->min));
				if (t->provider == NULL || t->v == NULL || t->min == NULL) {
					dberr = QP_ENOMEM;
					sqlite3_reset(st);
					goto out;
				}
				for (bi = 0; bi < nb; bi++)
					t->min[bi] = -1;
			}
		}
		t = &ps[last];
		bi = (stats_ci(st, 1) - first) / bms;
		if (bi < 0 || bi >= nb)
			continue;
		t->v[bi][0]++;
		t->v[bi][1] += stats_ci(st, 2) != 0;
		if (!stats_cnull(st, 3)) {
			lat = stats_ci(st, 3);
			t->v[bi][2] += lat;
			t->v[bi][3]++;
			if (lat > t->v[bi][4])
				t->v[bi][4] = lat;
			if (t->min[bi] < 0 || lat < t->min[bi])
				t->min[bi] = lat;
		}
	}
	if (rc < 0)
		goto out;
	if (n > 1)
		qsort(ps, (size_t)n, sizeof(*ps), stats_pingser_cmp);
	arr = stats_add_arr(&o, root, "providers");
	for (i = 0; i < n && !o.oom; i++) {
		memset(tot, 0, sizeof(tot));
		prov = stats_arr_obj(&o, arr);
		stats_put_s(&o, prov, "provider", ps[i].provider);
		series = stats_add_arr(&o, prov, "series");
		for (bi = 0; bi < nb; bi++) {
			if (ps[i].v[bi][0] == 0)
				continue;
			tot[0] += ps[i].v[bi][0];
			tot[1] += ps[i].v[bi][1];
			tot[2] += ps[i].v[bi][2];
			tot[3] += ps[i].v[bi][3];
			obj = stats_arr_obj(&o, series);
			stats_put_t(&o, obj, "start", first + bi * bms);
			stats_put_i(&o, obj, "probes", ps[i].v[bi][0]);
			stats_put_i(&o, obj, "ok", ps[i].v[bi][1]);
			/* Probes without an answer have no latency. */
			stats_put_d(&o, obj, "avg_latency_ms", ps[i].v[bi][3] > 0 ?
			    stats_round3((double)ps[i].v[bi][2] / (double)ps[i].v[bi][3]) : NAN);
			if (ps[i].min[bi] >= 0) {
				stats_put_i(&o, obj, "min_latency_ms", ps[i].min[bi]);
				stats_put_i(&o, obj, "max_latency_ms", ps[i].v[bi][4]);
			} else {
				stats_put_null(&o, obj, "min_latency_ms");
				stats_put_null(&o, obj, "max_latency_ms");
			}
		}
		stats_put_i(&o, prov, "probes", tot[0]);
		stats_put_i(&o, prov, "ok", tot[1]);
		stats_put_d(&o, prov, "success_rate", stats_ratio((double)tot[1], (double)tot[0]));
		stats_put_d(&o, prov, "avg_latency_ms", tot[3] > 0 ?
		    stats_round3((double)tot[2] / (double)tot[3]) : NAN);
	}
	if (o.oom)
		goto out;
	/* The last probe of each provider. */
	st = s->st[STATS_ST_PINGS_LAST];
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, q->from);
		sqlite3_bind_int64(st, 2, q->to);
		sqlite3_bind_text(st, 3, ps[i++].provider, -1, SQLITE_STATIC);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 0)
			continue;
		obj = stats_add_obj(&o, it, "last");
		stats_put_t(&o, obj, "probed_at", stats_ci(st, 1));
		stats_put_b(&o, obj, "ok", stats_ci(st, 2) != 0);
		stats_put_ci(&o, obj, "status_code", st, 3);
		stats_put_cs(&o, obj, "error", st, 4);
		stats_put_ci(&o, obj, "latency_ms", st, 5);
		stats_put_cs(&o, obj, "account", st, 6);
		stats_put_ci(&o, obj, "model_count", st, 7);
		sqlite3_reset(st);
	}
out:
	for (i = 0; i < n; i++) {
		free(ps[i].provider);
		free(ps[i].v);
		free(ps[i].min);
	}
	free(ps);
	return stats_end(&o, root, dberr, err);
}

/* ---- requests as JSON ------------------------------------------------------------- */

/* Puts the STATS_REQ_COLS of st (from col 0) into obj. */
static void
stats_put_request(struct stats_out *o, cJSON *obj, sqlite3_stmt *st)
{

	stats_put_cs(o, obj, "request_id", st, 0);
	stats_put_t(o, obj, "started_at", stats_ci(st, 1));
	stats_put_t(o, obj, "completed_at", stats_cnull(st, 2) ? 0 : stats_ci(st, 2));
	stats_put_cs(o, obj, "status", st, 3);
	stats_put_ci(o, obj, "status_code", st, 4);
	stats_put_cs(o, obj, "protocol", st, 5);
	stats_put_cs(o, obj, "endpoint", st, 6);
	stats_put_cs(o, obj, "model", st, 7);
	stats_put_cs(o, obj, "model_base", st, 8);
	stats_put_cs(o, obj, "provider", st, 9);
	stats_put_cs(o, obj, "account", st, 10);
	stats_put_b(o, obj, "streamed", stats_ci(st, 11) != 0);
	stats_put_i(o, obj, "attempt_count", stats_ci(st, 12));
	stats_put_i(o, obj, "input_tokens", stats_ci(st, 13));
	stats_put_i(o, obj, "output_tokens", stats_ci(st, 14));
	stats_put_i(o, obj, "cache_read_tokens", stats_ci(st, 15));
	stats_put_i(o, obj, "cache_write_tokens", stats_ci(st, 16));
	stats_put_i(o, obj, "reasoning_tokens", stats_ci(st, 17));
	stats_put_i(o, obj, "cost_microdollars", stats_ci(st, 18));
	stats_put_cs(o, obj, "cost_exactness", st, 19);
	stats_put_ci(o, obj, "total_ms", st, 20);
	stats_put_ci(o, obj, "ttft_ms", st, 21);
	stats_put_i(o, obj, "bytes_in", stats_ci(st, 22));
	stats_put_i(o, obj, "bytes_emitted", stats_ci(st, 23));
	stats_put_cs(o, obj, "error_class", st, 24);
	stats_put_cs(o, obj, "retry_category", st, 25);
	stats_put_cs(o, obj, "finish_reason", st, 26);
	if (stats_cnull(st, 27))
		stats_put_null(o, obj, "stream_complete");
	else
		stats_put_b(o, obj, "stream_complete", stats_ci(st, 27) != 0);
	stats_put_cs(o, obj, "client_ip", st, 28);
	stats_put_cs(o, obj, "alias", st, 29);
	stats_put_cs(o, obj, "alias_target", st, 30);
	stats_put_cs(o, obj, "user_agent", st, 31);
	stats_put_cs(o, obj, "client_family", st, 32);
	/* A passthrough (/p/): its method and upstream path, no query; null otherwise. */
	stats_put_cs(o, obj, "method", st, 33);
	stats_put_cs(o, obj, "path", st, 34);
}

/* ---- errors ------------------------------------------------------------------------ */

cJSON *
stats_errors(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_ERRORS];
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t total = 0;
	cJSON *root, *arr, *obj;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_ERRORS));
	arr = stats_add_arr(&o, root, "by_class");
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "error_class", stats_cs(st, 0)[0] ? stats_cs(st, 0) : NULL);
		stats_put_s(&o, obj, "status", stats_cs(st, 1));
		stats_put_i(&o, obj, "count", stats_ci(st, 2));
		stats_put_t(&o, obj, "last_bucket", stats_ci(st, 3));
		total += stats_ci(st, 2);
	}
	if (rc < 0)
		goto out;
	stats_put_i(&o, root, "total_failed", total);
	arr = stats_add_arr(&o, root, "recent");
	st = s->st[STATS_ST_ERRORS_RECENT];
	stats_bind_raw(st, q->from, q->to, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr))
		stats_put_request(&o, stats_arr_obj(&o, arr), st);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- operational events -------------------------------------------------------------- */

cJSON *
stats_operational(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_EVENT_COUNTS];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	cJSON *root, *arr, *obj, *det;
	const char *txt;
	int rc;

	(void)cfg;
	root = stats_begin(&o, q, q->from, q->to, 0);
	arr = stats_add_arr(&o, root, "counts");
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "event_type", stats_cs(st, 0));
		stats_put_i(&o, obj, "count", stats_ci(st, 1));
		stats_put_t(&o, obj, "last_at", stats_ci(st, 2));
	}
	if (rc < 0)
		goto out;
	arr = stats_add_arr(&o, root, "events");
	st = s->st[STATS_ST_EVENTS];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->from);
	sqlite3_bind_int64(st, 2, q->to);
	sqlite3_bind_int(st, 3, q->limit);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_i(&o, obj, "id", stats_ci(st, 0));
		stats_put_s(&o, obj, "event_type", stats_cs(st, 1));
		stats_put_t(&o, obj, "occurred_at", stats_ci(st, 3));
		txt = stats_cs(st, 2);
		det = cJSON_ParseWithLength(txt, (size_t)sqlite3_column_bytes(st, 2));
		if (det != NULL && obj != NULL && cJSON_AddItemToObject(obj, "details", det))
			det = NULL;
		else
			stats_put_s(&o, obj, "details_text", txt);
		cJSON_Delete(det);
	}
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- pending health ------------------------------------------------------------------ */

cJSON *
stats_pending_health(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_PENDING];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t now = q->now, stale = q->now - STATS_HEARTBEAT_STALE_MS;
	cJSON *root, *arr, *obj;
	const char *state;
	int rc;

	o.oom = 0;
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	stats_put_t(&o, root, "now", now);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "pending_requests", stats_ci(st, 0));
		stats_put_i(&o, root, "pending_streamed", (int64_t)sqlite3_column_double(st, 2));
		if (stats_ci(st, 0) > 0) {
			stats_put_i(&o, root, "oldest_pending_age_ms", now - stats_ci(st, 1));
			stats_put_t(&o, root, "oldest_pending_started_at", stats_ci(st, 1));
		} else {
			stats_put_null(&o, root, "oldest_pending_age_ms");
			stats_put_t(&o, root, "oldest_pending_started_at", 0);
		}
		stats_put_i(&o, root, "older_than_1m", (int64_t)sqlite3_column_double(st, 3));
		stats_put_i(&o, root, "older_than_10m", (int64_t)sqlite3_column_double(st, 4));
		stats_put_i(&o, root, "older_than_1h", (int64_t)sqlite3_column_double(st, 5));
		sqlite3_reset(st);
	}
	st = s->st[STATS_ST_RESERVATIONS];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "reservations", stats_ci(st, 0));
		stats_put_i(&o, root, "reservations_expired",
		    (int64_t)sqlite3_column_double(st, 1));
		sqlite3_reset(st);
	}
	st = s->st[STATS_ST_PROCESSES];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, stale);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		stats_put_i(&o, root, "processes_live", (int64_t)sqlite3_column_double(st, 0));
		stats_put_i(&o, root, "processes_silent", (int64_t)sqlite3_column_double(st, 1));
		sqlite3_reset(st);
	}
	arr = stats_add_arr(&o, root, "by_process");
	st = s->st[STATS_ST_PENDING_PROCS];
	sqlite3_reset(st);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_ci(&o, obj, "process_id", st, 0);
		stats_put_ci(&o, obj, "pid", st, 1);
		stats_put_cs(&o, obj, "hostname", st, 2);
		if (stats_cnull(st, 1))
			state = "unknown";
		else if (!stats_cnull(st, 4))
			state = "stopped";
		else if (stats_ci(st, 3) < stale)
			state = "silent";
		else
			state = "live";
		stats_put_s(&o, obj, "state", state);
		stats_put_t(&o, obj, "heartbeat_at", stats_cnull(st, 3) ? 0 : stats_ci(st, 3));
		stats_put_i(&o, obj, "pending", stats_ci(st, 5));
	}
	if (rc < 0)
		goto out;
	arr = stats_add_arr(&o, root, "oldest");
	st = s->st[STATS_ST_PENDING_OLDEST];
	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, q->limit < STATS_PENDING_LIST ? q->limit : STATS_PENDING_LIST);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, arr);
		stats_put_cs(&o, obj, "request_id", st, 0);
		stats_put_t(&o, obj, "started_at", stats_ci(st, 1));
		stats_put_i(&o, obj, "age_ms", now - stats_ci(st, 1));
		stats_put_cs(&o, obj, "model", st, 2);
		stats_put_cs(&o, obj, "provider", st, 3);
		stats_put_cs(&o, obj, "account", st, 4);
		stats_put_b(&o, obj, "streamed", stats_ci(st, 5) != 0);
		stats_put_i(&o, obj, "attempt_count", stats_ci(st, 6));
		stats_put_ci(&o, obj, "process_id", st, 7);
	}
	if (rc < 0)
		goto out;
	dberr = stats_put_health(s, cfg, now, &o, root);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- recent requests and traces ------------------------------------------------------ */

cJSON *
stats_recent_requests(struct stats_db *s, const struct config *cfg,
    const struct stats_query *q, enum qp_err *err)
{
	sqlite3_stmt *st;
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	int64_t searched;
	cJSON *root, *arr;
	int rc, n = 0;

	(void)cfg;
	root = stats_begin(&o, q, q->from, q->to,
	    stats_dataset_filters(STATS_DS_RECENT_REQUESTS));
	stats_put_i(&o, root, "limit", q->limit);
	arr = stats_add_arr(&o, root, "requests");
	st = s->st[STATS_ST_RECENT];
	stats_bind_raw(st, q->from, q->to, q);
	stats_bind_i(st, 8, STATS_SCAN_MAX);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		stats_put_request(&o, stats_arr_obj(&o, arr), st);
		n++;
	}
	if (rc < 0)
		goto out;
	/* A filtered search looks at the newest STATS_SCAN_MAX rows only: say so. */
	searched = q->from;
	if (n < q->limit && q->filters != 0) {
		st = s->st[STATS_ST_RECENT_EDGE];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, q->from);
		sqlite3_bind_int64(st, 2, q->to);
		sqlite3_bind_int(st, 3, STATS_SCAN_MAX);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			searched = stats_ci(st, 0);
			sqlite3_reset(st);
		}
	}
	stats_put_b(&o, root, "complete", searched == q->from);
	stats_put_t(&o, root, "searched_from", searched);
out:
	return stats_end(&o, root, dberr, err);
}

/* Puts a routing decision row (STATS_ST_TRACE_DEC columns) into obj. */
static void
stats_put_decision(struct stats_out *o, cJSON *obj, sqlite3_stmt *st)
{
	cJSON *det;

	stats_put_i(o, obj, "attempt_number", stats_ci(st, 0));
	stats_put_cs(o, obj, "model", st, 1);
	stats_put_cs(o, obj, "chosen_account", st, 2);
	stats_put_cs(o, obj, "chosen_provider", st, 3);
	stats_put_ci(o, obj, "tier", st, 4);
	stats_put_i(o, obj, "candidates", stats_ci(st, 5));
	stats_put_i(o, obj, "eligible", stats_ci(st, 6));
	stats_put_t(o, obj, "decided_at", stats_ci(st, 8));
	det = cJSON_ParseWithLength(stats_cs(st, 7), (size_t)sqlite3_column_bytes(st, 7));
	if (det != NULL && obj != NULL && cJSON_AddItemToObject(obj, "detail", det))
		return;
	cJSON_Delete(det);
	stats_put_null(o, obj, "detail");
}

cJSON *
stats_recent(struct stats_db *s, const struct config *cfg, const char *uid, size_t len,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_TRACE_REQ];
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	cJSON *root = NULL, *req, *atts, *orphans, *obj, *it;
	int64_t id;
	size_t i;
	int rc, found;

	(void)cfg;
	o.oom = 0;
	/* Request ids are UUIDs: hex digits and dashes. */
	if (len == 0 || len > 64) {
		*err = QP_ENOTFOUND;
		return NULL;
	}
	for (i = 0; i < len; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f') ||
		    (uid[i] >= 'A' && uid[i] <= 'F') || uid[i] == '-')) {
			*err = QP_ENOTFOUND;
			return NULL;
		}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, uid, (int)len, SQLITE_TRANSIENT);
	rc = stats_step(st, &dberr);
	if (rc <= 0) {
		*err = rc < 0 ? dberr : QP_ENOTFOUND;
		return NULL;
	}
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	req = stats_add_obj(&o, root, "request");
	stats_put_request(&o, req, st);
	id = stats_ci(st, STATS_REQ_NCOLS);
	stats_put_ci(&o, req, "connect_ms", st, STATS_REQ_NCOLS + 1);
	stats_put_ci(&o, req, "first_byte_ms", st, STATS_REQ_NCOLS + 2);
	stats_put_ci(&o, req, "overhead_us", st, STATS_REQ_NCOLS + 3);
	stats_put_i(&o, req, "bytes_received", stats_ci(st, STATS_REQ_NCOLS + 4));
	stats_put_cs(&o, req, "client_key", st, STATS_REQ_NCOLS + 5);
	stats_put_cs(&o, req, "translation", st, STATS_REQ_NCOLS + 6);
	stats_put_i(&o, req, "translation_warnings", stats_ci(st, STATS_REQ_NCOLS + 7));
	sqlite3_reset(st);

	atts = stats_add_arr(&o, root, "attempts");
	st = s->st[STATS_ST_TRACE_ATT];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		obj = stats_arr_obj(&o, atts);
		stats_put_i(&o, obj, "attempt_number", stats_ci(st, 0));
		stats_put_cs(&o, obj, "provider", st, 1);
		stats_put_cs(&o, obj, "account", st, 2);
		stats_put_cs(&o, obj, "model", st, 3);
		stats_put_t(&o, obj, "started_at", stats_ci(st, 4));
		stats_put_t(&o, obj, "completed_at", stats_cnull(st, 5) ? 0 : stats_ci(st, 5));
		stats_put_ci(&o, obj, "status_code", st, 6);
		stats_put_cs(&o, obj, "outcome", st, 7);
		stats_put_cs(&o, obj, "retry_category", st, 8);
		stats_put_cs(&o, obj, "error_class", st, 9);
		stats_put_ci(&o, obj, "connect_ms", st, 10);
		stats_put_ci(&o, obj, "first_byte_ms", st, 11);
		stats_put_ci(&o, obj, "total_ms", st, 12);
		stats_put_i(&o, obj, "bytes_sent", stats_ci(st, 13));
		stats_put_i(&o, obj, "bytes_received", stats_ci(st, 14));
		stats_put_cs(&o, obj, "upstream_request_id", st, 15);
	}
	if (rc < 0)
		goto out;
	orphans = stats_add_arr(&o, root, "decisions_without_attempt");
	st = s->st[STATS_ST_TRACE_DEC];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		found = 0;
		cJSON_ArrayForEach(it, atts) {
			cJSON *num = cJSON_GetObjectItemCaseSensitive(it, "attempt_number");

			if (cJSON_IsNumber(num) && (int64_t)num->valuedouble == stats_ci(st, 0) &&
			    cJSON_GetObjectItemCaseSensitive(it, "decision") == NULL) {
				stats_put_decision(&o, stats_add_obj(&o, it, "decision"), st);
				found = 1;
				break;
			}
		}
		if (!found)
			stats_put_decision(&o, stats_arr_obj(&o, orphans), st);
	}
	if (rc < 0)
		goto out;
	cJSON_ArrayForEach(it, atts)
		if (cJSON_GetObjectItemCaseSensitive(it, "decision") == NULL)
			stats_put_null(&o, it, "decision");
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- backoffs ------------------------------------------------------------------------ */

cJSON *
stats_backoffs(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	struct stats_backoff *bo = NULL;
	struct stats_out o;
	enum qp_err dberr;
	char iso[32];
	cJSON *root, *arr, *obj;
	const char *prov;
	int i, j, k, n = 0;

	o.oom = 0;
	root = cJSON_CreateObject();
	if (root == NULL)
		o.oom = 1;
	stats_iso(q->now, iso, sizeof(iso));
	stats_put_s(&o, root, "now", iso);
	stats_put_i(&o, root, "now_ms", q->now);
	dberr = stats_backoffs_load(s, q->now, &bo, &n);
	if (dberr != QP_OK)
		goto out;
	arr = stats_add_arr(&o, root, "backoffs");
	for (k = 0; k < n; k++) {
		prov = NULL;
		for (i = 0; cfg != NULL && i < cfg->nproviders && prov == NULL; i++)
			for (j = 0; j < cfg->providers[i].naccounts; j++)
				if (strcmp(cfg->providers[i].accounts[j].name,
				    bo[k].account) == 0) {
					prov = cfg->providers[i].id;
					break;
				}
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "account_name", bo[k].account);
		stats_put_s(&o, obj, "provider_id", prov);
		stats_put_s(&o, obj, "model_id", bo[k].model[0] ? bo[k].model : NULL);
		stats_put_s(&o, obj, "scope", bo[k].model[0] ? "model" : "account");
		stats_put_s(&o, obj, "reason", bo[k].reason);
		stats_iso(bo[k].until, iso, sizeof(iso));
		stats_put_s(&o, obj, "backoff_until", iso);
		stats_put_i(&o, obj, "backoff_until_ms", bo[k].until);
		stats_put_i(&o, obj, "consecutive_failures", bo[k].failures);
		if (bo[k].status_code > 0)
			stats_put_i(&o, obj, "status_code", bo[k].status_code);
		else
			stats_put_null(&o, obj, "status_code");
		stats_put_s(&o, obj, "error_class",
		    bo[k].error_class[0] ? bo[k].error_class : NULL);
		stats_put_t(&o, obj, "updated_at", bo[k].updated_at);
	}
out:
	free(bo);
	return stats_end(&o, root, dberr, err);
}
