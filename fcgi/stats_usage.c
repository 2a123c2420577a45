/* stats_usage.c: the datasets of usage: summary, accounts, models, latency, timeseries, bandwidth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_db.h"
#include "stats_hist.h"
#include "stats_usage.h"

/* Cost exactness values, in the order of the summary's *_count fields. */
static const char *const stats_exactness[] = {
	"exact", "derived", "partial", "estimated", "unknown", "provider_reported",
};
#define STATS_NEXACT	(sizeof(stats_exactness) / sizeof(stats_exactness[0]))

/* ---- summary ------------------------------------------------------------------- */

cJSON *
stats_summary(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_SUMMARY];
	struct stats_out o;
	struct stats_plan p;
	struct stats_sums all;
	int64_t exact[STATS_NEXACT], bystatus[STATS_NSTATUSES], providers = 0, xl[3] = { 0 };
	enum qp_err dberr = QP_OK;
	char name[40];
	cJSON *root, *bs;
	int rc, i;

	memset(&all, 0, sizeof(all));
	memset(exact, 0, sizeof(exact));
	memset(bystatus, 0, sizeof(bystatus));
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_SUMMARY));
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		stats_sums_add(&all, st, 1 + (int)STATS_NEXACT);
		i = stats_status_find(stats_cs(st, 0));
		if (i >= 0)
			bystatus[i] += stats_ci(st, 1 + (int)STATS_NEXACT);
		for (i = 0; i < (int)STATS_NEXACT; i++)
			exact[i] += stats_ci(st, 1 + i);
	}
	if (rc < 0)
		goto out;
	st = s->st[STATS_ST_PROVIDERS];
	stats_bind_plan(st, &p, q);
	rc = stats_step(st, &dberr);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		providers = stats_ci(st, 0);
		sqlite3_reset(st);
	}
	/* From the request rows (kept [retention] requests_days), by a partial index. */
	st = s->st[STATS_ST_TRANSLATED];
	stats_bind_raw(st, q->from, q->to, q);
	if ((rc = stats_step(st, &dberr)) < 0)
		goto out;
	if (rc == 1) {
		for (i = 0; i < 3; i++)
			xl[i] = stats_ci(st, i);
		sqlite3_reset(st);
	}

	stats_put_i(&o, root, "total_requests", all.v[STATS_SUM_REQUESTS]);
	stats_put_i(&o, root, "successful_requests", all.v[STATS_SUM_OK]);
	stats_put_i(&o, root, "error_requests", all.v[STATS_SUM_ERRORS]);
	stats_put_d(&o, root, "error_rate", stats_ratio((double)all.v[STATS_SUM_ERRORS],
	    (double)all.v[STATS_SUM_REQUESTS]));
	stats_put_i(&o, root, "client_error_requests", bystatus[2]);
	stats_put_i(&o, root, "client_disconnected_requests", bystatus[4]);
	stats_put_i(&o, root, "interrupted_requests", bystatus[5]);
	stats_put_i(&o, root, "rejected_requests", bystatus[6]);
	bs = stats_add_obj(&o, root, "by_status");
	for (i = 1; i < (int)STATS_NSTATUSES; i++)
		stats_put_i(&o, bs, stats_status_name(i), bystatus[i]);
	stats_put_i(&o, root, "total_input_tokens", all.v[STATS_SUM_IN]);
	stats_put_i(&o, root, "total_output_tokens", all.v[STATS_SUM_OUT]);
	stats_put_i(&o, root, "total_cache_read_tokens", all.v[STATS_SUM_CACHE_READ]);
	stats_put_i(&o, root, "total_cache_write_tokens", all.v[STATS_SUM_CACHE_WRITE]);
	stats_put_i(&o, root, "total_reasoning_tokens", all.v[STATS_SUM_REASONING]);
	stats_put_i(&o, root, "fresh_tokens", all.v[STATS_SUM_IN] + all.v[STATS_SUM_OUT]);
	stats_put_i(&o, root, "total_tokens", stats_sums_tokens(&all));
	stats_put_d(&o, root, "cache_read_ratio", stats_cache_ratio(&all));
	stats_put_i(&o, root, "total_cost_microdollars", all.v[STATS_SUM_COST]);
	stats_put_i(&o, root, "streamed_requests", all.v[STATS_SUM_STREAMED]);
	stats_put_i(&o, root, "non_streamed_requests", all.v[STATS_SUM_REQUESTS] - all.v[STATS_SUM_STREAMED]);
	for (i = 0; i < (int)STATS_NEXACT; i++) {
		snprintf(name, sizeof(name), "%s_count", stats_exactness[i]);
		stats_put_i(&o, root, name, exact[i]);
	}
	stats_put_i(&o, root, "total_bytes_in", all.v[STATS_SUM_BYTES_IN]);
	stats_put_i(&o, root, "total_bytes_received", all.v[STATS_SUM_UPSTREAM]);
	stats_put_i(&o, root, "total_bytes_emitted", all.v[STATS_SUM_BYTES_OUT]);
	stats_put_i(&o, root, "total_attempts", all.v[STATS_SUM_ATTEMPTS]);
	stats_put_i(&o, root, "total_providers", providers);
	stats_put_i(&o, root, "translated_requests", xl[0]);
	stats_put_i(&o, root, "translated_with_losses", xl[1]);
	stats_put_i(&o, root, "translation_warnings", xl[2]);
	stats_put_d(&o, root, "avg_latency_ms", stats_avg(all.v[STATS_SUM_OK_TOTAL_MS],
	    all.v[STATS_SUM_OK_TOTAL_N]));
	stats_put_d(&o, root, "avg_ttft_ms", stats_avg(all.v[STATS_SUM_OK_TTFT_MS],
	    all.v[STATS_SUM_OK_TTFT_N]));
	stats_put_d(&o, root, "tokens_per_second", stats_round3(all.v[STATS_SUM_OK_TOTAL_MS] > 0 ?
	    (double)all.v[STATS_SUM_OK_OUT] * 1000.0 / (double)all.v[STATS_SUM_OK_TOTAL_MS] : 0));
	dberr = stats_put_health(s, cfg, q->now, &o, root);
out:
	return stats_end(&o, root, dberr, err);
}

/* ---- accounts ----------------------------------------------------------------- */

/* Window lengths (ms) and names, by enum config_window. */
static const int64_t stats_window_ms[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = 5 * STATS_HOUR_MS,
	[CONFIG_WINDOW_WEEK] = 7 * STATS_DAY_MS,
	[CONFIG_WINDOW_MONTH] = 30 * STATS_DAY_MS,
};

static const char *const stats_window_names[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = "5h",
	[CONFIG_WINDOW_WEEK] = "7d",
	[CONFIG_WINDOW_MONTH] = "30d",
};

/* What accounts learns about one configured account. */
struct stats_acct {
	const struct config_provider *p;	/* its provider */
	const struct config_account *a;		/* the account */
	struct stats_sums	 sums;		/* over the period */
	int64_t			 win[CONFIG_WINDOW__MAX][3]; /* spend, requests, tokens */
	int64_t			 inflight;	/* live reservations */
	int64_t			 disabled_at;	/* when the operator disabled it, 0 = not */
	char			 note[128];	/* the operator's reason, "" = none */
};

static struct stats_acct *
stats_acct_find(struct stats_acct *v, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].a->name, name) == 0)
			return &v[i];
	return NULL;
}

/* Puts used / limit and its percentage (null without a limit). */
static void
stats_put_quota(struct stats_out *o, cJSON *w, const char *k, int64_t used, int64_t limit)
{
	char name[48];

	stats_put_i(o, w, k, used);
	snprintf(name, sizeof(name), "%s_limit", k);
	if (limit > 0)
		stats_put_i(o, w, name, limit);
	else
		stats_put_null(o, w, name);
	snprintf(name, sizeof(name), "%s_pct", k);
	if (limit > 0)
		stats_put_d(o, w, name, stats_round3((double)used * 100.0 / (double)limit));
	else
		stats_put_null(o, w, name);
}

/*
 * Puts "model_backoffs": the running backoffs of account for one model
 * each (the account still serves the others), [{"model","scope":"model",
 * "reason","backoff_until","consecutive_failures"}].
 */
static void
stats_put_model_backoffs(struct stats_out *o, cJSON *obj, const struct stats_backoff *v,
    int n, const char *account)
{
	cJSON *arr, *mb;
	int i;

	arr = stats_add_arr(o, obj, "model_backoffs");
	for (i = 0; i < n; i++) {
		if (v[i].model[0] == '\0' || strcmp(v[i].account, account) != 0)
			continue;
		mb = stats_arr_obj(o, arr);
		stats_put_s(o, mb, "model", v[i].model);
		stats_put_s(o, mb, "scope", "model");
		stats_put_s(o, mb, "reason", v[i].reason);
		stats_put_t(o, mb, "backoff_until", v[i].until);
		stats_put_i(o, mb, "consecutive_failures", v[i].failures);
	}
}

/*
 * Puts "rate_limits": what the rate-limit headers of the account's answers
 * said and still holds (a reset ahead, or none reported in the last hour),
 * [{"model" (null = every model),"kind","limit","remaining","reset_at",
 * "reset_at_utc","updated_at","updated_at_utc","exhausted"}], at most 64.
 * Returns 0, or -1 with *dberr set.
 */
static int
stats_put_ratelimits(struct stats_db *s, struct stats_out *o, cJSON *obj, const char *account,
    int64_t now, enum qp_err *dberr)
{
	sqlite3_stmt *st = s->st[STATS_ST_ACCT_RATELIMITS];
	cJSON *arr, *r;
	const char *m;
	int rc;

	arr = stats_add_arr(o, obj, "rate_limits");
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	for (rc = stats_step(st, dberr); rc == 1; rc = stats_step(st, dberr)) {
		r = stats_arr_obj(o, arr);
		m = stats_cs(st, 0);
		stats_put_s(o, r, "model", m != NULL && m[0] != '\0' ? m : NULL);
		stats_put_cs(o, r, "kind", st, 1);
		stats_put_ci(o, r, "limit", st, 2);
		stats_put_ci(o, r, "remaining", st, 3);
		stats_put_t(o, r, "reset_at", stats_cnull(st, 4) ? 0 : stats_ci(st, 4));
		stats_put_t(o, r, "updated_at", stats_ci(st, 5));
		stats_put_b(o, r, "exhausted", !stats_cnull(st, 3) && stats_ci(st, 3) == 0 &&
		    !stats_cnull(st, 4) && stats_ci(st, 4) > now);
	}
	sqlite3_clear_bindings(st);
	return rc < 0 ? -1 : 0;
}

/*
 * Puts "token": null for an account whose credentials do not refresh,
 * else what account_tokens says of its token, never the token:
 * {"stored","version","expires_at","refreshed_at","last_attempt_at"
 * (each with its _utc),"last_result","failures","refreshes"}. Returns 0,
 * or -1 with *dberr set.
 */
static int
stats_put_token(struct stats_db *s, struct stats_out *o, cJSON *obj,
    const struct config_account *a, enum qp_err *dberr)
{
	sqlite3_stmt *st = s->st[STATS_ST_ACCT_TOKEN];
	cJSON *t;
	int rc;

	if (a->refresh.url == NULL) {
		stats_put_null(o, obj, "token");
		return 0;
	}
	t = stats_add_obj(o, obj, "token");
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	rc = stats_step(st, dberr);
	stats_put_b(o, t, "stored", rc == 1 && stats_ci(st, 7) != 0);
	stats_put_i(o, t, "version", rc == 1 ? stats_ci(st, 6) : 0);
	stats_put_t(o, t, "expires_at", rc == 1 && !stats_cnull(st, 0) ? stats_ci(st, 0) : 0);
	stats_put_t(o, t, "refreshed_at", rc == 1 && !stats_cnull(st, 1) ? stats_ci(st, 1) : 0);
	stats_put_t(o, t, "last_attempt_at", rc == 1 && !stats_cnull(st, 2) ? stats_ci(st, 2) : 0);
	if (rc == 1)
		stats_put_cs(o, t, "last_result", st, 3);
	else
		stats_put_null(o, t, "last_result");
	stats_put_i(o, t, "failures", rc == 1 ? stats_ci(st, 4) : 0);
	stats_put_i(o, t, "refreshes", rc == 1 ? stats_ci(st, 5) : 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc < 0 ? -1 : 0;
}

cJSON *
stats_accounts(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st;
	struct stats_acct *acct = NULL, *x;
	struct stats_backoff *bo = NULL;
	const struct stats_backoff *b;
	const struct config_quota *quota;
	struct stats_out o;
	struct stats_plan p, wp;
	enum qp_err dberr = QP_OK;
	enum stats_state state;
	cJSON *root, *arr, *obj, *wins, *w;
	int i, j, n = 0, total = 0, nbo = 0, rc;
	double maxpct;

	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_ACCOUNTS));
	stats_put_b(&o, root, "include_disabled", q->include_disabled);
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		total += cfg->providers[i].naccounts;
	if (total > 0)
		acct = calloc((size_t)total, sizeof(*acct));
	if (total > 0 && acct == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++) {
			acct[n].p = &cfg->providers[i];
			acct[n].a = &cfg->providers[i].accounts[j];
			n++;
		}

	st = s->st[STATS_ST_ACCT_PERIOD];
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		x = stats_acct_find(acct, n, stats_cs(st, 0));
		if (x != NULL)
			stats_sums_add(&x->sums, st, 1);
	}
	if (rc < 0)
		goto out;
	/* Quota windows start at the hour holding now - window, as the selector counts. */
	st = s->st[STATS_ST_ACCT_WINDOW];
	for (i = 0; i < CONFIG_WINDOW__MAX; i++) {
		stats_plan_make(&wp, stats_floor(q->now - stats_window_ms[i], STATS_HOUR_MS),
		    q->now, q->now, STATS_DAY_MS);
		stats_bind_plan(st, &wp, NULL);
		for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
			x = stats_acct_find(acct, n, stats_cs(st, 0));
			if (x != NULL) {
				x->win[i][0] = stats_ci(st, 1);
				x->win[i][1] = stats_ci(st, 2);
				x->win[i][2] = stats_ci(st, 3);
			}
		}
		if (rc < 0)
			goto out;
	}
	st = s->st[STATS_ST_INFLIGHT];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->now);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		x = stats_acct_find(acct, n, stats_cs(st, 0));
		if (x != NULL)
			x->inflight = stats_ci(st, 1);
	}
	if (rc < 0)
		goto out;
	st = s->st[STATS_ST_OVERRIDES];
	sqlite3_reset(st);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		x = stats_acct_find(acct, n, stats_cs(st, 0));
		if (x != NULL) {
			x->disabled_at = stats_ci(st, 1) > 0 ? stats_ci(st, 1) : 1;
			snprintf(x->note, sizeof(x->note), "%s", stats_cs(st, 2));
		}
	}
	if (rc < 0)
		goto out;
	dberr = stats_backoffs_load(s, q->now, &bo, &nbo);
	if (dberr != QP_OK)
		goto out;

	wins = stats_add_arr(&o, root, "windows");
	for (i = 0; i < CONFIG_WINDOW__MAX; i++) {
		w = stats_arr_obj(&o, wins);
		stats_put_s(&o, w, "window", stats_window_names[i]);
		stats_put_t(&o, w, "from", stats_floor(q->now - stats_window_ms[i], STATS_HOUR_MS));
	}
	arr = stats_add_arr(&o, root, "accounts");
	for (i = 0; i < n; i++) {
		x = &acct[i];
		if (q->provider[0] && strcmp(q->provider, x->p->id) != 0)
			continue;
		b = stats_backoff_find(bo, nbo, x->a->name);
		state = x->disabled_at > 0 ? STATS_STATE_DISABLED : stats_state(x->p, x->a, b);
		/* The operator's disables are listed always: they are meant to be temporary. */
		if (state == STATS_STATE_DISABLED && x->disabled_at == 0 && !q->include_disabled)
			continue;
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", x->a->name);
		stats_put_s(&o, obj, "provider", x->p->id);
		stats_put_b(&o, obj, "enabled", x->a->enabled && x->p->enabled);
		stats_put_s(&o, obj, "status", stats_state_name(state));
		stats_put_s(&o, obj, "disabled_by", state != STATS_STATE_DISABLED ? NULL :
		    x->disabled_at > 0 && x->p->enabled && x->a->enabled ? "operator" :
		    "configuration");
		stats_put_t(&o, obj, "disabled_at", x->disabled_at > 1 ? x->disabled_at : 0);
		stats_put_s(&o, obj, "disabled_note", x->note[0] != '\0' ? x->note : NULL);
		stats_put_t(&o, obj, "backoff_until", b != NULL ? b->until : 0);
		stats_put_s(&o, obj, "backoff_reason", b != NULL ? b->reason : NULL);
		stats_put_s(&o, obj, "backoff_scope", b != NULL ? "account" : NULL);
		stats_put_i(&o, obj, "consecutive_failures", b != NULL ? b->failures : 0);
		stats_put_model_backoffs(&o, obj, bo, nbo, x->a->name);
		stats_put_i(&o, obj, "in_flight", x->inflight);
		stats_put_d(&o, obj, "weight", x->a->weight);
		w = stats_add_arr(&o, obj, "windows");
		maxpct = -1;
		for (j = 0; j < CONFIG_WINDOW__MAX; j++) {
			cJSON *wo = stats_arr_obj(&o, w);
			int64_t spend = x->win[j][0] + x->a->quota[j].offset_microdollars;

			quota = &x->a->quota[j];
			stats_put_s(&o, wo, "window", stats_window_names[j]);
			stats_put_quota(&o, wo, "spend_microdollars", spend, quota->microdollars);
			stats_put_quota(&o, wo, "requests", x->win[j][1], quota->requests);
			stats_put_quota(&o, wo, "tokens", x->win[j][2], quota->tokens);
			if (quota->microdollars > 0 && 100.0 * (double)spend /
			    (double)quota->microdollars > maxpct)
				maxpct = 100.0 * (double)spend / (double)quota->microdollars;
			if (quota->requests > 0 && 100.0 * (double)x->win[j][1] /
			    (double)quota->requests > maxpct)
				maxpct = 100.0 * (double)x->win[j][1] / (double)quota->requests;
			if (quota->tokens > 0 && 100.0 * (double)x->win[j][2] /
			    (double)quota->tokens > maxpct)
				maxpct = 100.0 * (double)x->win[j][2] / (double)quota->tokens;
		}
		if (maxpct >= 0)
			stats_put_d(&o, obj, "max_quota_pct", stats_round3(maxpct));
		else
			stats_put_null(&o, obj, "max_quota_pct");
		stats_put_usage(&o, obj, &x->sums);
		if (stats_put_ratelimits(s, &o, obj, x->a->name, q->now, &dberr) < 0 ||
		    stats_put_token(s, &o, obj, x->a, &dberr) < 0)
			goto out;
		st = s->st[STATS_ST_ACCT_LASTERR];
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, x->a->name, -1, SQLITE_STATIC);
		rc = stats_step(st, &dberr);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			stats_put_cs(&o, obj, "last_error_class", st, 0);
			stats_put_cs(&o, obj, "last_error_outcome", st, 1);
			stats_put_t(&o, obj, "last_error_at", stats_ci(st, 2));
			stats_put_ci(&o, obj, "last_error_status_code", st, 3);
			sqlite3_reset(st);
		} else {
			stats_put_null(&o, obj, "last_error_class");
			stats_put_null(&o, obj, "last_error_outcome");
			stats_put_t(&o, obj, "last_error_at", 0);
			stats_put_null(&o, obj, "last_error_status_code");
		}
	}
out:
	free(acct);
	free(bo);
	return stats_end(&o, root, dberr, err);
}

/* ---- models ------------------------------------------------------------------- */

cJSON *
stats_models(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_MODELS];
	struct stats_out o;
	struct stats_plan p;
	struct stats_sums sums;
	enum qp_err dberr = QP_OK;
	char id[2 * STATS_FILTER_MAX + 2];
	cJSON *root, *arr, *obj;
	int rc;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_MODELS));
	arr = stats_add_arr(&o, root, "models");
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		memset(&sums, 0, sizeof(sums));
		stats_sums_add(&sums, st, 2);
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "provider", stats_cs(st, 0));
		stats_put_s(&o, obj, "model", stats_cs(st, 1));
		snprintf(id, sizeof(id), "%s/%s", stats_cs(st, 1), stats_cs(st, 0));
		stats_put_s(&o, obj, "id", id);
		stats_put_usage(&o, obj, &sums);
	}
	return stats_end(&o, root, dberr, err);
}

/* ---- latency ------------------------------------------------------------------- */

/* Histograms of one provider and model (or of everything). */
struct stats_hist {
	int64_t		 counts[STATS_LAT__MAX][STATS_BINS];
	int64_t		 sum_us[STATS_LAT__MAX];
	int64_t		 n[STATS_LAT__MAX];
};

static void
stats_hist_put(struct stats_out *o, cJSON *obj, const struct stats_hist *h, int m,
    const char *prefix)
{
	char k[48];

	snprintf(k, sizeof(k), "%scount", prefix);
	stats_put_i(o, obj, k, h->n[m]);
	snprintf(k, sizeof(k), "%savg_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3((double)h->sum_us[m] / 1000.0 /
	    (double)h->n[m]) : NAN);
	snprintf(k, sizeof(k), "%sp50_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.5)) :
	    NAN);
	snprintf(k, sizeof(k), "%sp90_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.9)) :
	    NAN);
	snprintf(k, sizeof(k), "%sp99_ms", prefix);
	stats_put_d(o, obj, k, h->n[m] > 0 ? stats_round3(stats_percentile(h->counts[m], 0.99)) :
	    NAN);
}

/* Puts one provider/model row of the latency breakdown. */
static void
stats_latency_row(struct stats_out *o, cJSON *arr, const char *provider, const char *model,
    const struct stats_hist *h)
{
	char prefix[32];
	cJSON *obj;
	int m;

	obj = stats_arr_obj(o, arr);
	stats_put_s(o, obj, "provider", provider);
	stats_put_s(o, obj, "model", model);
	for (m = 0; m < STATS_LAT__MAX; m++) {
		snprintf(prefix, sizeof(prefix), "%s_", stats_latency_name((enum stats_latency)m));
		stats_hist_put(o, obj, h, m, prefix);
	}
}

cJSON *
stats_latency(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_LATENCY];
	struct stats_hist *all = NULL, *one = NULL;
	char provider[STATS_FILTER_MAX + 1] = "", model[STATS_FILTER_MAX + 1] = "";
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	cJSON *root, *arr = NULL, *obj;
	int rc, m, b, i, have = 0;
	int64_t c, sum;

	(void)cfg;
	stats_plan_make(&p, q->from, q->to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_LATENCY));
	stats_put_d(&o, root, "bin_error_pct", STATS_BIN_ERROR_PCT);
	all = calloc(1, sizeof(*all));
	one = calloc(1, sizeof(*one));
	if (all == NULL || one == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	arr = cJSON_CreateArray();
	if (arr == NULL)
		o.oom = 1;
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		m = (int)stats_latency_find(stats_cs(st, 2));
		if (m == STATS_LAT__MAX)
			continue;
		if (have && (strcmp(provider, stats_cs(st, 0)) != 0 ||
		    strcmp(model, stats_cs(st, 1)) != 0)) {
			stats_latency_row(&o, arr, provider, model, one);
			for (i = 0; i < STATS_LAT__MAX; i++)
				for (b = 0; b < STATS_BINS; b++)
					all->counts[i][b] += one->counts[i][b];
			memset(one, 0, sizeof(*one));
		}
		have = 1;
		snprintf(provider, sizeof(provider), "%s", stats_cs(st, 0));
		snprintf(model, sizeof(model), "%s", stats_cs(st, 1));
		c = stats_ci(st, 3);
		sum = stats_ci(st, 4);
		(void)stats_bins_read(sqlite3_column_blob(st, 5),
		    (size_t)sqlite3_column_bytes(st, 5), one->counts[m]);
		one->n[m] += c;
		one->sum_us[m] += sum;
		all->n[m] += c;
		all->sum_us[m] += sum;
	}
	for (m = 0; have && m < STATS_LAT__MAX; m++)
		for (b = 0; b < STATS_BINS; b++)
			all->counts[m][b] += one->counts[m][b];
	if (rc < 0)
		goto out;
	if (have)
		stats_latency_row(&o, arr, provider, model, one);
	obj = stats_add_arr(&o, root, "metrics");
	for (m = 0; m < STATS_LAT__MAX; m++) {
		cJSON *mo = stats_arr_obj(&o, obj);

		stats_put_s(&o, mo, "metric", stats_latency_name((enum stats_latency)m));
		stats_hist_put(&o, mo, all, m, "");
	}
	if (root == NULL || arr == NULL || !cJSON_AddItemToObject(root, "by_model", arr))
		o.oom = 1;
	else
		arr = NULL;
out:
	cJSON_Delete(arr);
	free(all);
	free(one);
	return stats_end(&o, root, dberr, err);
}

/* ---- timeseries ------------------------------------------------------------------ */

/* One series of a timeseries. */
struct stats_series {
	char		*name;		/* group key (owned) */
	int64_t		 total;		/* over the period */
	int64_t		*v;		/* per bucket (owned) */
};

static int
stats_series_cmp(const void *a, const void *b)
{
	const struct stats_series *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name, y->name);
}

cJSON *
stats_timeseries(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_SERIES];
	struct stats_series *ser = NULL, *t;
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t bms, first, nb, bi, other_total = 0, grand = 0, v;
	int nser = 0, cap = 0, rc, i, shown;
	const char *k;
	cJSON *root, *arr, *obj, *vals;

	(void)cfg;
	bms = stats_bucket_ms(q->to - q->from,
	    q->from >= q->now - STATS_FINE_KEEP_MS + STATS_FINE_MS);
	stats_plan_make(&p, q->from, q->to, q->now, bms >= STATS_DAY_MS ? STATS_DAY_MS :
	    bms >= STATS_HOUR_MS ? STATS_HOUR_MS : STATS_FINE_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_TIMESERIES));
	stats_put_s(&o, root, "group_by", stats_group_name(q->group_by));
	stats_put_s(&o, root, "metric", stats_metric_name(q->metric));
	stats_put_i(&o, root, "top", q->top);
	stats_put_i(&o, root, "bucket_ms", bms);
	first = stats_floor(p.from, bms);
	nb = (stats_floor(p.to - 1, bms) - first) / bms + 1;
	if (nb < 1)
		nb = 1;

	stats_bind_plan(st, &p, q);
	stats_bind_i(st, STATS_P_EXTRA, q->group_by);
	stats_bind_i(st, STATS_P_EXTRA + 1, bms);
	stats_bind_i(st, STATS_P_EXTRA + 2, q->metric);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		k = stats_cs(st, 0);
		if (k[0] == '\0' || strcmp(k, "/") == 0)
			k = "(none)";
		if (nser == 0 || strcmp(ser[nser - 1].name, k) != 0) {
			if (nser == cap) {
				cap = cap ? cap * 2 : 16;
				t = realloc(ser, (size_t)cap * sizeof(*ser));
				if (t == NULL) {
					dberr = QP_ENOMEM;
					sqlite3_reset(st);
					goto out;
				}
				ser = t;
			}
			t = &ser[nser];
			t->total = 0;
			t->name = strdup(k);
			t->v = calloc((size_t)nb, sizeof(*t->v));
			nser++;
			if (t->name == NULL || t->v == NULL) {
				dberr = QP_ENOMEM;
				sqlite3_reset(st);
				goto out;
			}
		}
		t = &ser[nser - 1];
		bi = (stats_ci(st, 1) - first) / bms;
		if (bi < 0 || bi >= nb)
			continue;
		v = stats_ci(st, 2);
		t->v[bi] += v;
		t->total += v;
		grand += v;
	}
	if (rc < 0)
		goto out;
	if (nser > 1)
		qsort(ser, (size_t)nser, sizeof(*ser), stats_series_cmp);
	shown = nser < q->top ? nser : q->top;
	for (i = shown; i < nser; i++)
		other_total += ser[i].total;

	stats_put_i(&o, root, "total", grand);
	arr = stats_add_arr(&o, root, "series");
	for (i = 0; i < shown; i++) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", ser[i].name);
		stats_put_i(&o, obj, "total", ser[i].total);
		stats_put_d(&o, obj, "share", stats_ratio((double)ser[i].total, (double)grand));
	}
	if (nser > shown) {
		obj = stats_arr_obj(&o, arr);
		stats_put_s(&o, obj, "name", "other");
		stats_put_i(&o, obj, "total", other_total);
		stats_put_d(&o, obj, "share", stats_ratio((double)other_total, (double)grand));
		stats_put_i(&o, obj, "folded", nser - shown);
	}
	arr = stats_add_arr(&o, root, "buckets");
	for (bi = 0; bi < nb && !o.oom; bi++) {
		int64_t bt = 0, ov = 0;

		obj = stats_arr_obj(&o, arr);
		stats_put_t(&o, obj, "start", first + bi * bms);
		vals = stats_add_arr(&o, obj, "values");
		for (i = 0; i < nser; i++) {
			bt += ser[i].v[bi];
			if (i < shown)
				stats_arr_num(&o, vals, (double)ser[i].v[bi]);
			else
				ov += ser[i].v[bi];
		}
		if (nser > shown)
			stats_arr_num(&o, vals, (double)ov);
		stats_put_i(&o, obj, "total", bt);
	}
out:
	for (i = 0; i < nser; i++) {
		free(ser[i].name);
		free(ser[i].v);
	}
	free(ser);
	return stats_end(&o, root, dberr, err);
}

/* ---- bandwidth ------------------------------------------------------------------- */

cJSON *
stats_bandwidth(struct stats_db *s, const struct config *cfg, const struct stats_query *q,
    enum qp_err *err)
{
	sqlite3_stmt *st = s->st[STATS_ST_BANDWIDTH];
	struct stats_out o;
	struct stats_plan p;
	enum qp_err dberr = QP_OK;
	int64_t from, to, d0, nd, di, (*days)[4] = NULL, tot[4] = { 0 }, max = 0, v;
	char date[16];
	cJSON *root, *arr, *obj;
	int rc, i, level;

	(void)cfg;
	from = q->from;
	to = q->to;
	if (!q->period_given) {
		from = stats_floor(q->now, STATS_DAY_MS) - (STATS_CALENDAR_DAYS - 1) * STATS_DAY_MS;
		to = q->now;
	}
	stats_plan_make(&p, from, to, q->now, STATS_DAY_MS);
	root = stats_begin(&o, q, p.from, p.to, stats_dataset_filters(STATS_DS_BANDWIDTH));
	d0 = stats_floor(p.from, STATS_DAY_MS) / STATS_DAY_MS;
	nd = (p.to - 1) / STATS_DAY_MS - d0 + 1;
	if (nd < 1)
		nd = 1;
	days = calloc((size_t)nd, sizeof(*days));
	if (days == NULL) {
		dberr = QP_ENOMEM;
		goto out;
	}
	stats_bind_plan(st, &p, q);
	for (rc = stats_step(st, &dberr); rc == 1; rc = stats_step(st, &dberr)) {
		di = stats_ci(st, 0) - d0;
		if (di < 0 || di >= nd)
			continue;
		for (i = 0; i < 4; i++) {
			days[di][i] += stats_ci(st, 1 + i);
			tot[i] += stats_ci(st, 1 + i);
		}
	}
	if (rc < 0)
		goto out;
	for (di = 0; di < nd; di++)
		if (days[di][0] + days[di][1] > max)
			max = days[di][0] + days[di][1];
	stats_put_i(&o, root, "total_bytes_in", tot[0]);
	stats_put_i(&o, root, "total_bytes_emitted", tot[1]);
	stats_put_i(&o, root, "total_bytes_received", tot[2]);
	stats_put_i(&o, root, "total_requests", tot[3]);
	stats_put_i(&o, root, "max_day_bytes", max);
	arr = stats_add_arr(&o, root, "days");
	for (di = 0; di < nd && !o.oom; di++) {
		v = days[di][0] + days[di][1];
		level = v == 0 || max == 0 ? 0 : (int)((v * 4 + max - 1) / max);
		obj = stats_arr_obj(&o, arr);
		stats_date((d0 + di) * STATS_DAY_MS, date, sizeof(date));
		stats_put_s(&o, obj, "date", date);
		stats_put_i(&o, obj, "start", (d0 + di) * STATS_DAY_MS);
		/* 1970-01-01 was a Thursday; 0 = Sunday. */
		stats_put_i(&o, obj, "weekday", ((d0 + di) % 7 + 4) % 7);
		stats_put_i(&o, obj, "bytes_in", days[di][0]);
		stats_put_i(&o, obj, "bytes_emitted", days[di][1]);
		stats_put_i(&o, obj, "bytes_received", days[di][2]);
		stats_put_i(&o, obj, "total_bytes", v);
		stats_put_i(&o, obj, "requests", days[di][3]);
		stats_put_i(&o, obj, "level", level);
	}
out:
	free(days);
	return stats_end(&o, root, dberr, err);
}
