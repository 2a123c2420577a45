/* metrics.c: GET /metrics, the Prometheus text exposition (version 0.0.4) of the rollups. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autobackup.h"
#include "db.h"
#include "metrics.h"
#include "stats.h"
#include "workers_view.h"

#ifndef QP_VERSION
#define QP_VERSION "unknown"
#endif

enum metrics_stmt {
	METRICS_ST_REQUESTS,	/* requests by provider, model, status */
	METRICS_ST_TOKENS,	/* tokens and cost by provider, model */
	METRICS_ST_ATTEMPTS,	/* attempts by provider, outcome, category */
	METRICS_ST_LATENCY,	/* histogram bins by metric and provider */
	METRICS_ST_BACKOFFS,	/* running backoffs */
	METRICS_ST_RATELIMITS,	/* rate-limit headers' counts, per account and kind */
	METRICS_ST__MAX
};

static const char *const metrics_sql[METRICS_ST__MAX] = {
	[METRICS_ST_REQUESTS] = "SELECT provider_id, model, status, sum(requests) "
	    "FROM stats_requests WHERE bucket_s = 0 AND bucket_start = 0 "
	    "GROUP BY provider_id, model, status ORDER BY provider_id, model, status",
	[METRICS_ST_TOKENS] = "SELECT provider_id, model, sum(input_tokens), sum(output_tokens), "
	    "sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), "
	    "sum(cost_microdollars) FROM stats_requests WHERE bucket_s = 0 AND bucket_start = 0 "
	    "GROUP BY provider_id, model ORDER BY provider_id, model",
	[METRICS_ST_ATTEMPTS] = "SELECT provider_id, outcome, retry_category, sum(attempts) "
	    "FROM stats_attempts WHERE bucket_s = 0 AND bucket_start = 0 "
	    "GROUP BY provider_id, outcome, retry_category "
	    "ORDER BY provider_id, outcome, retry_category",
	[METRICS_ST_LATENCY] = "SELECT metric, provider_id, sum_us, bins FROM stats_latency "
	    "WHERE bucket_s = 0 AND bucket_start = 0 AND metric IN ('total', 'ttft') "
	    "ORDER BY metric, provider_id",
	[METRICS_ST_BACKOFFS] = ("SELECT account_name, reason FROM account_backoffs WHERE "
	    "backoff_until > ?1 AND model_id = '' ORDER BY account_name"),
	[METRICS_ST_RATELIMITS] = "SELECT account_name, kind, min(remaining), max(lim), "
	    "max(reset_at) FROM account_ratelimits WHERE reset_at > ?1 AND remaining IS NOT NULL "
	    "GROUP BY account_name, kind ORDER BY account_name, kind",
};

struct metrics_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[METRICS_ST__MAX];	/* prepared statements */
};

/* Upper bounds (le) of the latency histograms: each is an edge of a stats bin. */
static const struct {
	const char	*le;		/* label text, seconds */
	int64_t		 ns;		/* the same in nanoseconds */
} metrics_le[] = {
	{ "0.005", 5000000LL }, { "0.01", 10000000LL }, { "0.025", 25000000LL },
	{ "0.05", 50000000LL }, { "0.1", 100000000LL }, { "0.25", 250000000LL },
	{ "0.5", 500000000LL }, { "1", 1000000000LL }, { "2.5", 2500000000LL },
	{ "5", 5000000000LL }, { "10", 10000000000LL }, { "25", 25000000000LL },
	{ "50", 50000000000LL }, { "100", 100000000000LL }, { "250", 250000000000LL },
	{ "500", 500000000000LL }, { "1000", 1000000000000LL },
};
#define METRICS_NLE	(sizeof(metrics_le) / sizeof(metrics_le[0]))

/* The two histogram families, by the stats_latency metric they read. */
static const struct {
	const char	*metric;	/* stats_latency.metric */
	const char	*name;		/* family name */
	const char	*help;		/* HELP text */
} metrics_hist[] = {
	{ "total", "quotapool_request_duration_seconds",
	    "Time from accepting a completed request to its end, by provider." },
	{ "ttft", "quotapool_request_ttft_seconds",
	    "Time from accepting a completed request to its first token relayed, by provider." },
};

/* A running backoff: only its account and reason matter here. */
struct metrics_backoff {
	char		 account[256];	/* account_name */
	char		 reason[32];	/* account_backoffs.reason */
};

/* The text being written: a bounded buffer. */
struct metrics_out {
	char		*buf;		/* borrowed */
	size_t		 cap;		/* its size */
	size_t		 len;		/* bytes written */
	int		 full;		/* 1 once something did not fit */
};

static void	 metrics_put(struct metrics_out *o, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

static void
metrics_put(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = 1;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

static void
metrics_putc(struct metrics_out *o, const char *s, size_t n)
{

	if (o->full)
		return;
	if (n >= o->cap - o->len) {
		o->full = 1;
		o->buf[o->len] = '\0';
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
metrics_utf8(const unsigned char *s, size_t n)
{
	size_t need, k;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		need = 1;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 2;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 3;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n <= need)
		return 0;
	for (k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
	    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* Writes a label value, escaping \ " and newline; invalid UTF-8 becomes U+FFFD. */
static void
metrics_value(struct metrics_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p), i = 0, k;

	while (i < n) {
		if (p[i] == '\\') {
			metrics_putc(o, "\\\\", 2);
			i++;
		} else if (p[i] == '"') {
			metrics_putc(o, "\\\"", 2);
			i++;
		} else if (p[i] == '\n') {
			metrics_putc(o, "\\n", 2);
			i++;
		} else {
			k = metrics_utf8(p + i, n - i);
			if (k == 0) {
				metrics_putc(o, "\xef\xbf\xbd", 3);
				i++;
			} else {
				metrics_putc(o, (const char *)p + i, k);
				i += k;
			}
		}
	}
}

/* Writes name{k1="v1",k2="v2",...} for n label pairs (names are ours, values escaped). */
static void
metrics_series(struct metrics_out *o, const char *name, int n, ...)
{
	va_list ap;
	const char *k, *v;
	int i;

	metrics_put(o, "%s", name);
	if (n == 0)
		return;
	metrics_put(o, "{");
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		k = va_arg(ap, const char *);
		v = va_arg(ap, const char *);
		metrics_put(o, "%s%s=\"", i ? "," : "", k);
		metrics_value(o, v);
		metrics_put(o, "\"");
	}
	va_end(ap);
	metrics_put(o, "}");
}

static void
metrics_family(struct metrics_out *o, const char *name, const char *type, const char *help)
{

	metrics_put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Runs st: 1 = a row, 0 = done, -1 = error (st reset). */
static int
metrics_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char *
metrics_cs(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

struct metrics_db *
metrics_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct metrics_db *m;

	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	m->db = db;
	*err = db_prepare_all(db, metrics_sql, METRICS_ST__MAX, m->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(m);
		return NULL;
	}
	return m;
}

void
metrics_db_free(struct metrics_db *m)
{

	if (m == NULL)
		return;
	db_finalize_all(m->st, METRICS_ST__MAX);
	free(m);
}

/* Writes the histogram series of one provider from its bins. */
static void
metrics_histogram(struct metrics_out *o, const char *name, const char *provider,
    const int64_t counts[STATS_BINS], int64_t sum_us)
{
	char series[96];
	int64_t acc = 0, lo, hi;
	size_t i;
	int b = 0;

	snprintf(series, sizeof(series), "%s_bucket", name);
	for (i = 0; i < METRICS_NLE; i++) {
		/* Bins wholly at or below le: le is always a bin edge, so this is exact. */
		for (; b < STATS_BINS; b++) {
			stats_bin_edges(b, &lo, &hi);
			if (hi < 0 || hi > metrics_le[i].ns)
				break;
			acc += counts[b];
		}
		metrics_series(o, series, 2, "provider", provider, "le", metrics_le[i].le);
		metrics_put(o, " %lld\n", (long long)acc);
	}
	for (; b < STATS_BINS; b++)
		acc += counts[b];
	metrics_series(o, series, 2, "provider", provider, "le", "+Inf");
	metrics_put(o, " %lld\n", (long long)acc);
	snprintf(series, sizeof(series), "%s_sum", name);
	metrics_series(o, series, 1, "provider", provider);
	metrics_put(o, " %lld.%06lld\n", (long long)(sum_us / 1000000),
	    (long long)(sum_us % 1000000));
	snprintf(series, sizeof(series), "%s_count", name);
	metrics_series(o, series, 1, "provider", provider);
	metrics_put(o, " %lld\n", (long long)acc);
}

/* The backup directory as gauges: what an operator alerts on. */
static void
metrics_backups(struct metrics_out *o, const struct config_backup *b)
{
	struct autobackup_dir d;

	metrics_family(o, "quotapool_backup_enabled", "gauge",
	    "1 when [backup] enabled: automatic backups are taken.");
	metrics_put(o, "quotapool_backup_enabled %d\n", b->enabled ? 1 : 0);
	if (b->directory == NULL || autobackup_scan(b->directory, &d) != QP_OK)
		return;
	metrics_family(o, "quotapool_backup_archives", "gauge",
	    "Backup archives in the backup directory.");
	metrics_put(o, "quotapool_backup_archives %d\n", d.archives);
	metrics_family(o, "quotapool_backup_bytes", "gauge",
	    "Bytes of all backup archives in the backup directory.");
	metrics_put(o, "quotapool_backup_bytes %lld\n", (long long)d.total_bytes);
	metrics_family(o, "quotapool_backup_last_timestamp_seconds", "gauge",
	    "Time the newest backup archive was written (0 = none).");
	metrics_put(o, "quotapool_backup_last_timestamp_seconds %lld\n",
	    (long long)(d.newest_at / 1000));
	metrics_family(o, "quotapool_backup_last_bytes", "gauge",
	    "Size of the newest backup archive.");
	metrics_put(o, "quotapool_backup_last_bytes %lld\n", (long long)d.newest_bytes);
}

/* 1 if name is an account of cfg: the series below are bounded by the configuration. */
static int
metrics_configured(const struct config *cfg, const char *name)
{
	int i, j;

	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++)
			if (strcmp(cfg->providers[i].accounts[j].name, name) == 0)
				return 1;
	return 0;
}

/*
 * What the rate-limit headers of configured accounts' answers said, still
 * current (reset ahead), by account and kind (the smallest remaining over
 * its models). Returns 0, or -1 on a database error.
 */
static int
metrics_ratelimits(struct metrics_out *o, struct metrics_db *m, const struct config *cfg)
{
	static const struct {
		const char	*name;
		const char	*help;
		int		 col;
	} fam[] = {
		{ "quotapool_account_ratelimit_remaining", "Remaining count an upstream's "
		    "rate-limit headers reported, by account and kind (smallest over models).", 2 },
		{ "quotapool_account_ratelimit_limit", "Limit an upstream's rate-limit headers "
		    "reported, by account and kind.", 3 },
		{ "quotapool_account_ratelimit_reset_timestamp_seconds", "When that count resets "
		    "(Unix time), by account and kind.", 4 },
	};
	sqlite3_stmt *st = m->st[METRICS_ST_RATELIMITS];
	size_t f;
	int rc;

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_family(o, fam[f].name, "gauge", fam[f].help);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, db_now_ms());
		for (rc = metrics_step(st); rc == 1; rc = metrics_step(st)) {
			if (sqlite3_column_type(st, fam[f].col) == SQLITE_NULL ||
			    !metrics_configured(cfg, metrics_cs(st, 0)))
				continue;
			metrics_series(o, fam[f].name, 2, "account", metrics_cs(st, 0), "kind",
			    metrics_cs(st, 1));
			if (fam[f].col == 4)
				metrics_put(o, " %.3f\n", (double)sqlite3_column_int64(st, 4) / 1000.0);
			else
				metrics_put(o, " %lld\n", (long long)sqlite3_column_int64(st,
				    fam[f].col));
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

enum qp_err
metrics_render(struct metrics_db *m, const struct config *cfg, int64_t in_flight,
    char *buf, size_t cap, size_t *len)
{
	static const char *const kinds[5] = {
		"input", "output", "cache_read", "cache_write", "reasoning",
	};
	struct metrics_out o = { buf, cap, 0, 0 };
	int64_t states[STATS_STATE__MAX] = { 0 }, (*counts) = NULL, sum_us = 0;
	struct metrics_backoff *bo = NULL;
	char provider[256] = "";
	const char *r;
	int nbo = 0, capbo = 0;
	sqlite3_stmt *st;
	enum qp_err err = QP_OK;
	size_t h;
	int rc, i, j, k, have;

	*len = 0;
	if (cap == 0)
		return QP_ETOOBIG;
	buf[0] = '\0';

	metrics_family(&o, "quotapool_requests_total", "counter",
	    "Requests finalized, by provider, model and status.");
	st = m->st[METRICS_ST_REQUESTS];
	sqlite3_reset(st);
	for (rc = metrics_step(st); rc == 1; rc = metrics_step(st)) {
		metrics_series(&o, "quotapool_requests_total", 3, "provider", metrics_cs(st, 0),
		    "model", metrics_cs(st, 1), "status", metrics_cs(st, 2));
		metrics_put(&o, " %lld\n", (long long)sqlite3_column_int64(st, 3));
	}
	if (rc < 0)
		goto dberr;

	metrics_family(&o, "quotapool_attempts_total", "counter",
	    "Upstream attempts, by provider, outcome and retry category.");
	st = m->st[METRICS_ST_ATTEMPTS];
	sqlite3_reset(st);
	for (rc = metrics_step(st); rc == 1; rc = metrics_step(st)) {
		metrics_series(&o, "quotapool_attempts_total", 3, "provider", metrics_cs(st, 0),
		    "outcome", metrics_cs(st, 1)[0] ? metrics_cs(st, 1) : "none",
		    "retry_category", metrics_cs(st, 2)[0] ? metrics_cs(st, 2) : "none");
		metrics_put(&o, " %lld\n", (long long)sqlite3_column_int64(st, 3));
	}
	if (rc < 0)
		goto dberr;

	metrics_family(&o, "quotapool_tokens_total", "counter",
	    "Tokens of finalized requests, by provider, model and kind.");
	st = m->st[METRICS_ST_TOKENS];
	sqlite3_reset(st);
	for (rc = metrics_step(st); rc == 1; rc = metrics_step(st))
		for (k = 0; k < 5; k++) {
			metrics_series(&o, "quotapool_tokens_total", 3, "provider",
			    metrics_cs(st, 0), "model", metrics_cs(st, 1), "kind", kinds[k]);
			metrics_put(&o, " %lld\n", (long long)sqlite3_column_int64(st, 2 + k));
		}
	if (rc < 0)
		goto dberr;
	metrics_family(&o, "quotapool_cost_microdollars_total", "counter",
	    "Cost of finalized requests in microdollars, by provider and model.");
	sqlite3_reset(st);
	for (rc = metrics_step(st); rc == 1; rc = metrics_step(st)) {
		metrics_series(&o, "quotapool_cost_microdollars_total", 2, "provider",
		    metrics_cs(st, 0), "model", metrics_cs(st, 1));
		metrics_put(&o, " %lld\n", (long long)sqlite3_column_int64(st, 7));
	}
	if (rc < 0)
		goto dberr;

	/* Histograms: rows come by metric, then provider (one per model). */
	counts = calloc(STATS_BINS, sizeof(*counts));
	if (counts == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	st = m->st[METRICS_ST_LATENCY];
	for (h = 0; h < sizeof(metrics_hist) / sizeof(metrics_hist[0]); h++) {
		metrics_family(&o, metrics_hist[h].name, "histogram", metrics_hist[h].help);
		sqlite3_reset(st);
		have = 0;
		for (;;) {
			rc = metrics_step(st);
			if (rc < 0)
				goto dberr;
			if (rc == 1 && strcmp(metrics_cs(st, 0), metrics_hist[h].metric) != 0)
				continue;
			if (have && (rc == 0 || strcmp(provider, metrics_cs(st, 1)) != 0)) {
				metrics_histogram(&o, metrics_hist[h].name, provider, counts,
				    sum_us);
				memset(counts, 0, STATS_BINS * sizeof(*counts));
				sum_us = 0;
				have = 0;
			}
			if (rc == 0)
				break;
			snprintf(provider, sizeof(provider), "%s", metrics_cs(st, 1));
			have = 1;
			(void)stats_bins_read(sqlite3_column_blob(st, 3),
			    (size_t)sqlite3_column_bytes(st, 3), counts);
			sum_us += sqlite3_column_int64(st, 2);
		}
	}

	/* Accounts by state: the configuration and the running backoffs. */
	st = m->st[METRICS_ST_BACKOFFS];
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, db_now_ms());
	for (rc = metrics_step(st); rc == 1; rc = metrics_step(st)) {
		if (nbo == capbo) {
			struct metrics_backoff *t;

			capbo = capbo ? capbo * 2 : 16;
			t = realloc(bo, (size_t)capbo * sizeof(*bo));
			if (t == NULL) {
				sqlite3_reset(st);
				err = QP_ENOMEM;
				goto out;
			}
			bo = t;
		}
		snprintf(bo[nbo].account, sizeof(bo[nbo].account), "%s", metrics_cs(st, 0));
		snprintf(bo[nbo].reason, sizeof(bo[nbo].reason), "%s", metrics_cs(st, 1));
		nbo++;
	}
	if (rc < 0)
		goto dberr;
	for (i = 0; cfg != NULL && i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++) {
			r = NULL;
			for (k = 0; k < nbo && r == NULL; k++)
				if (strcmp(bo[k].account, cfg->providers[i].accounts[j].name) == 0)
					r = bo[k].reason;
			states[stats_account_state(&cfg->providers[i],
			    &cfg->providers[i].accounts[j], r)]++;
		}
	metrics_family(&o, "quotapool_accounts", "gauge", "Configured accounts, by state.");
	for (i = 0; i < STATS_STATE__MAX; i++) {
		metrics_series(&o, "quotapool_accounts", 1, "state",
		    stats_state_name((enum stats_state)i));
		metrics_put(&o, " %lld\n", (long long)states[i]);
	}
	if (metrics_ratelimits(&o, m, cfg) < 0)
		goto dberr;
	metrics_family(&o, "quotapool_in_flight_requests", "gauge",
	    "Requests being served by this process now.");
	metrics_put(&o, "quotapool_in_flight_requests %lld\n", (long long)in_flight);
	metrics_family(&o, "quotapool_build_info", "gauge",
	    "Always 1; the version label says which quotapool is running.");
	metrics_series(&o, "quotapool_build_info", 1, "version", QP_VERSION);
	metrics_put(&o, " 1\n");
	if (cfg != NULL)
		metrics_backups(&o, &cfg->backup);
	goto out;
dberr:
	err = QP_EDB;
out:
	free(counts);
	free(bo);
	if (err == QP_OK && o.full)
		err = QP_ETOOBIG;
	*len = o.len;
	return err;
}

enum qp_err
metrics_render_auth(const struct metrics_auth *a, char *buf, size_t cap, size_t *len)
{
	struct metrics_out o = { buf, cap, *len, 0 };

	if (*len >= cap)
		return QP_ETOOBIG;
	metrics_family(&o, "quotapool_auth_failures_total", "counter",
	    "Failed client-key checks and dashboard logins seen by this process since it started.");
	metrics_put(&o, "quotapool_auth_failures_total{kind=\"client_key\"} %lld\n",
	    (long long)a->key_failures);
	metrics_put(&o, "quotapool_auth_failures_total{kind=\"dashboard_login\"} %lld\n",
	    (long long)a->login_failures);
	metrics_family(&o, "quotapool_auth_throttled_total", "counter",
	    "Key checks and logins this process refused with 429: their address failed too often.");
	metrics_put(&o, "quotapool_auth_throttled_total %lld\n", (long long)a->throttled);
	*len = o.len;
	return o.full ? QP_ETOOBIG : QP_OK;
}

/* Writes one worker series: name{worker,key} value. */
static void
metrics_worker(struct metrics_out *o, const char *name, const char *worker, const char *key,
    int64_t v)
{

	metrics_series(o, name, 2, "worker", worker, "key", key);
	metrics_put(o, " %lld\n", (long long)v);
}

enum qp_err
metrics_render_workers(const struct workers_view_set *s, char *buf, size_t cap, size_t *len)
{
	static const char *const outcomes[WORKERS_VIEW_COUNT__MAX] = {
		[WORKERS_VIEW_DONE] = "done",
		[WORKERS_VIEW_FAILED] = "failed",
		[WORKERS_VIEW_CANCELLED] = "cancelled",
	};
	static const char jobs[] = "quotapool_worker_jobs_total";
	struct metrics_out o = { buf, cap, *len, 0 };
	const struct workers_view_row *w;
	int i, k, live;

	if (*len >= cap)
		return QP_ETOOBIG;
	metrics_family(&o, "quotapool_workers", "gauge", "Remote workers known, by state.");
	for (k = 0; k < WORKERS_VIEW__MAX; k++) {
		metrics_series(&o, "quotapool_workers", 1, "state",
		    workers_view_state_name((enum workers_view_state)k));
		metrics_put(&o, " %lld\n", (long long)s->by_state[k]);
	}
	metrics_family(&o, "quotapool_worker_up", "gauge", "1 while a remote worker is "
	    "connected, 0 once gone; for worker=\"(other)\", how many of the rest are.");
	for (i = 0; i < s->n; i++) {
		w = &s->rows[i];
		metrics_worker(&o, "quotapool_worker_up", w->name, w->key,
		    w->state != WORKERS_VIEW_GONE);
	}
	if (s->other_n > 0)
		metrics_worker(&o, "quotapool_worker_up", WORKERS_VIEW_OTHER, WORKERS_VIEW_OTHER,
		    s->other_live);
	metrics_family(&o, "quotapool_worker_in_flight", "gauge",
	    "Jobs handed to a remote worker and not ended (queued, claimed or streaming).");
	for (i = 0; i < s->n; i++)
		metrics_worker(&o, "quotapool_worker_in_flight", s->rows[i].name, s->rows[i].key,
		    s->rows[i].in_flight);
	if (s->other_n > 0)
		metrics_worker(&o, "quotapool_worker_in_flight", WORKERS_VIEW_OTHER,
		    WORKERS_VIEW_OTHER, s->other_in_flight);
	metrics_family(&o, "quotapool_worker_capacity", "gauge",
	    "Jobs a connected remote worker runs at once (0 once gone).");
	for (i = 0; i < s->n; i++) {
		w = &s->rows[i];
		live = w->state != WORKERS_VIEW_GONE;
		metrics_worker(&o, "quotapool_worker_capacity", w->name, w->key,
		    live ? w->capacity : 0);
	}
	if (s->other_n > 0)
		metrics_worker(&o, "quotapool_worker_capacity", WORKERS_VIEW_OTHER,
		    WORKERS_VIEW_OTHER, s->other_capacity);
	metrics_family(&o, jobs, "counter",
	    "Jobs a remote worker ended, by outcome (done, failed, cancelled).");
	for (i = 0; i <= s->n; i++) {
		if (i == s->n && s->other_n == 0)
			break;
		for (k = 0; k < WORKERS_VIEW_COUNT__MAX; k++) {
			if (i < s->n)
				metrics_series(&o, jobs, 3, "worker", s->rows[i].name, "key",
				    s->rows[i].key, "outcome", outcomes[k]);
			else
				metrics_series(&o, jobs, 3, "worker", WORKERS_VIEW_OTHER, "key",
				    WORKERS_VIEW_OTHER, "outcome", outcomes[k]);
			metrics_put(&o, " %lld\n", (long long)(i < s->n ? s->rows[i].jobs[k] :
			    s->other_jobs[k]));
		}
	}
	*len = o.len;
	return o.full ? QP_ETOOBIG : QP_OK;
}
