/* stats.c: quotapool-admin stats: a terminal summary per provider, account and model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "db.h"
#include "stats.h"

static int
stats_usage_err(void)
{

	admin_err("usage: quotapool-admin stats [--period 1h|24h|7d|30d|FROM..TO] "
	    "[--provider P] [--model M] [--json]");
	return 2;
}

/* A number field of o, or 0. */
static double
num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A string field of o, or "-". */
static const char *
str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

/* Formats microdollars as dollars. */
static const char *
usd(double micro, char *buf, size_t len)
{

	snprintf(buf, len, "$%.4f", micro / 1e6);
	return buf;
}

static void
print_summary(const cJSON *s)
{
	char c[32];

	printf("period %s: %s .. %s\n", str(s, "period"), str(s, "from_utc"), str(s, "to_utc"));
	printf("  requests %.0f (completed %.0f, errors %.0f, client errors %.0f, "
	    "disconnected %.0f), error rate %.1f%%\n", num(s, "total_requests"),
	    num(s, "successful_requests"), num(s, "error_requests"),
	    num(s, "client_error_requests"), num(s, "client_disconnected_requests"),
	    100 * num(s, "error_rate"));
	printf("  tokens in %.0f, out %.0f, cache read %.0f, cache write %.0f; cost %s\n",
	    num(s, "total_input_tokens"), num(s, "total_output_tokens"),
	    num(s, "total_cache_read_tokens"), num(s, "total_cache_write_tokens"),
	    usd(num(s, "total_cost_microdollars"), c, sizeof(c)));
	printf("  pending %.0f\n\n", num(cJSON_GetObjectItemCaseSensitive(s, "health"),
	    "pending_requests"));
}

/* Per provider: the models dataset's rows added up by provider, in first-seen order. */
static void
print_providers(const cJSON *models)
{
	const cJSON *m;
	struct { const char *p; double req, err, in, out, cost; } t[256];
	char c[32];
	int n = 0, i;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(models, "models")) {
		for (i = 0; i < n && strcmp(t[i].p, str(m, "provider")) != 0; i++)
			;
		if (i == n) {
			if (n == (int)(sizeof(t) / sizeof(t[0])))
				continue;
			memset(&t[n], 0, sizeof(t[n]));
			t[n++].p = str(m, "provider");
		}
		t[i].req += num(m, "requests");
		t[i].err += num(m, "error_requests");
		t[i].in += num(m, "input_tokens");
		t[i].out += num(m, "output_tokens");
		t[i].cost += num(m, "cost_microdollars");
	}
	printf("%-24s %9s %7s %12s %12s %12s\n", "PROVIDER", "REQUESTS", "ERRORS", "TOKENS IN",
	    "TOKENS OUT", "COST");
	for (i = 0; i < n; i++)
		printf("%-24s %9.0f %7.0f %12.0f %12.0f %12s\n", t[i].p, t[i].req, t[i].err,
		    t[i].in, t[i].out, usd(t[i].cost, c, sizeof(c)));
	printf("\n");
}

static void
print_accounts(const cJSON *a)
{
	const cJSON *x;
	char c[32];

	printf("%-24s %-16s %-11s %9s %7s %12s %12s %s\n", "ACCOUNT", "PROVIDER", "STATE",
	    "REQUESTS", "ERRORS", "TOKENS", "COST", "QUOTA USED");
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(a, "accounts")) {
		const cJSON *pct = cJSON_GetObjectItemCaseSensitive(x, "max_quota_pct");
		char q[16];

		if (cJSON_IsNumber(pct))
			snprintf(q, sizeof(q), "%.1f%%", pct->valuedouble);
		else
			snprintf(q, sizeof(q), "-");
		printf("%-24s %-16s %-11s %9.0f %7.0f %12.0f %12s %s\n", str(x, "name"),
		    str(x, "provider"), str(x, "status"), num(x, "requests"),
		    num(x, "error_requests"), num(x, "input_tokens") + num(x, "output_tokens"),
		    usd(num(x, "cost_microdollars"), c, sizeof(c)), q);
	}
	printf("\n");
}

static void
print_models(const cJSON *models)
{
	const cJSON *m;
	char c[32];

	printf("%-40s %9s %7s %12s %12s %12s\n", "MODEL", "REQUESTS", "ERRORS", "TOKENS IN",
	    "TOKENS OUT", "COST");
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(models, "models"))
		printf("%-40s %9.0f %7.0f %12.0f %12.0f %12s\n", str(m, "id"), num(m, "requests"),
		    num(m, "error_requests"), num(m, "input_tokens"), num(m, "output_tokens"),
		    usd(num(m, "cost_microdollars"), c, sizeof(c)));
}

int
cmd_stats(struct admin *a, int argc, char **argv)
{
	static const enum stats_dataset sets[] = { STATS_DS_SUMMARY, STATS_DS_ACCOUNTS,
	    STATS_DS_MODELS };
	struct stats_query q;
	struct stats_db *sd = NULL;
	cJSON *out[3] = { NULL, NULL, NULL }, *all = NULL;
	char qs[512], errbuf[256], *text;
	size_t len = 0;
	int i, json = 0, rc = 1, n;
	enum qp_err err;

	qs[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if ((strcmp(argv[i], "--period") == 0 || strcmp(argv[i], "--provider") == 0 ||
		    strcmp(argv[i], "--model") == 0) && i + 1 < argc) {
			n = snprintf(qs + len, sizeof(qs) - len, "%s%s=%s", len ? "&" : "",
			    argv[i] + 2, argv[i + 1]);
			if (n < 0 || (size_t)n >= sizeof(qs) - len || strpbrk(argv[i + 1], "&=#%") !=
			    NULL) {
				admin_err("%s: value too long or with & = # %%", argv[i]);
				return 2;
			}
			len += (size_t)n;
			i++;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: quotapool-admin stats [--period 1h|24h|7d|30d|FROM..TO] "
			    "[--provider P] [--model M] [--json]\n\nTotals of the period, then per "
			    "provider, account and model, from the same queries as\n/api/stats "
			    "(summary, accounts, models). Exit 0, 1 on failure, 2 on bad usage.\n");
			return 0;
		} else
			return stats_usage_err();
	}
	if (stats_query_parse(&q, qs, len, db_now_ms(), errbuf, sizeof(errbuf)) != QP_OK) {
		admin_err("%s", errbuf);
		return 2;
	}
	if (admin_open_migrated_db(a) != 0)
		return 1;
	if ((sd = stats_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	for (i = 0; i < 3; i++) {
		struct stats_query qi = q;

		/* The summary and models take what they accept of the filters. */
		if (stats_query_check(sets[i], &qi, errbuf, sizeof(errbuf)) != QP_OK) {
			qi.filters &= stats_dataset_filters(sets[i]);
			if (!(qi.filters & STATS_F_MODEL))
				qi.model[0] = '\0';
			if (!(qi.filters & STATS_F_PROVIDER))
				qi.provider[0] = '\0';
		}
		if ((out[i] = stats_dataset_run(sd, a->cfg, sets[i], &qi, &err, errbuf,
		    sizeof(errbuf))) == NULL) {
			admin_err("%s: %s", stats_dataset_name(sets[i]), err == QP_EINVAL ? errbuf :
			    qp_strerror(err));
			goto out;
		}
	}
	if (json) {
		if ((all = cJSON_CreateObject()) == NULL)
			goto out;
		for (i = 0; i < 3; i++) {
			cJSON_AddItemToObject(all, stats_dataset_name(sets[i]), out[i]);
			out[i] = NULL;
		}
		if ((text = cJSON_Print(all)) != NULL) {
			printf("%s\n", text);
			free(text);
		}
	} else {
		print_summary(out[0]);
		print_providers(out[2]);
		print_accounts(out[1]);
		print_models(out[2]);
	}
	rc = 0;
out:
	for (i = 0; i < 3; i++)
		cJSON_Delete(out[i]);
	cJSON_Delete(all);
	stats_db_free(sd);
	return rc;
}
