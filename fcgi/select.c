/* select.c: account selection by tier, quota pressure, load and recency, with every exclusion explained. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "failover.h"
#include "quotacap.h"
#include "select.h"

#define SELECT_HOUR_MS		3600000LL
/* Room kept at the end of the detail buffer to close the JSON. */
#define SELECT_DETAIL_TAIL	64

/* Usage kinds counted against the limits. */
enum select_kind {
	SELECT_KIND_SPEND,	/* microdollars */
	SELECT_KIND_REQUESTS,	/* requests */
	SELECT_KIND_TOKENS,	/* input + output + cache read + cache write */
	SELECT_KIND__MAX
};

enum select_stmt {
	SELECT_STMT_CATALOG,	/* does a provider list a model, over what protocol */
	SELECT_STMT_BACKOFFS,	/* backoff rows still running: accounts' and the model's */
	SELECT_STMT_INFLIGHT,	/* live reservations per account */
	SELECT_STMT_USAGE_PAST,	/* usage of the past hours of each window per account */
	SELECT_STMT_USAGE_NOW,	/* usage of the current hour per account */
	SELECT_STMT_LAST_USED,	/* latest attempt start of one account */
	SELECT_STMT_OVERRIDES,	/* accounts the operator disabled */
	SELECT_STMT_HOURS,	/* usage of one account per hour since a time */
	SELECT_STMT_RATELIMITS,	/* what rate-limit headers said, per account */
	SELECT_STMT_BEGIN,	/* one read transaction for all the reads of a choice */
	SELECT_STMT_COMMIT,	/* its end */
	SELECT_STMT_LIMITS,	/* the limits a provider's model list gives a model */
	SELECT_STMT__MAX
};

/* Usage comes from the hourly rows (bucket_s 3600) of the rollup stats_requests. */
#define SELECT_TOKENS_SQL "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"

static const char *const select_sql[SELECT_STMT__MAX] = {
	[SELECT_STMT_CATALOG] = "SELECT protocol FROM model_catalog "
	    "WHERE provider_id = ? AND model_id = ?",
	[SELECT_STMT_BACKOFFS] = "SELECT account_name, model_id, reason, backoff_until "
	    "FROM account_backoffs WHERE backoff_until > ?1 AND model_id IN ('', ?2)",
	[SELECT_STMT_INFLIGHT] = "SELECT account_name, count(*), total(estimated_tokens), "
	    "total(estimated_microdollars) FROM reservations WHERE expires_at > ? "
	    "GROUP BY account_name",
	[SELECT_STMT_USAGE_PAST] = "SELECT account_name, "
	    "sum(CASE WHEN bucket_start >= ?1 THEN cost_microdollars ELSE 0 END), "
	    "sum(CASE WHEN bucket_start >= ?1 THEN requests ELSE 0 END), "
	    "sum(CASE WHEN bucket_start >= ?1 THEN " SELECT_TOKENS_SQL " ELSE 0 END), "
	    "sum(CASE WHEN bucket_start >= ?2 THEN cost_microdollars ELSE 0 END), "
	    "sum(CASE WHEN bucket_start >= ?2 THEN requests ELSE 0 END), "
	    "sum(CASE WHEN bucket_start >= ?2 THEN " SELECT_TOKENS_SQL " ELSE 0 END), "
	    "sum(cost_microdollars), sum(requests), sum(" SELECT_TOKENS_SQL ") "
	    "FROM stats_requests WHERE bucket_s = 3600 AND bucket_start >= ?3 "
	    "AND bucket_start < ?4 GROUP BY account_name",
	[SELECT_STMT_USAGE_NOW] = "SELECT account_name, sum(cost_microdollars), sum(requests), "
	    "sum(" SELECT_TOKENS_SQL ") FROM stats_requests WHERE bucket_s = 3600 "
	    "AND bucket_start >= ? GROUP BY account_name",
	[SELECT_STMT_LAST_USED] = "SELECT max(started_at) FROM request_attempts "
	    "WHERE account_name = ?",
	[SELECT_STMT_OVERRIDES] = "SELECT account_name, updated_at FROM account_overrides "
	    "WHERE state = 'disabled'",
	[SELECT_STMT_HOURS] = "SELECT bucket_start, sum(cost_microdollars), sum(requests), "
	    "sum(" SELECT_TOKENS_SQL ") FROM stats_requests WHERE bucket_s = 3600 "
	    "AND account_name = ?1 AND bucket_start >= ?2 GROUP BY bucket_start "
	    "ORDER BY bucket_start",
	[SELECT_STMT_RATELIMITS] = "SELECT account_name, "
	    "max(CASE WHEN remaining = 0 THEN reset_at ELSE 0 END), "
	    "max(CASE WHEN lim > 0 AND remaining < lim THEN 1.0 - CAST(remaining AS REAL) / lim "
	    "ELSE 0 END) FROM account_ratelimits WHERE reset_at > ?1 AND model_id IN ('', ?2) "
	    "GROUP BY account_name",
	[SELECT_STMT_BEGIN] = "BEGIN",
	[SELECT_STMT_COMMIT] = "COMMIT",
	[SELECT_STMT_LIMITS] = "SELECT max_context_tokens, max_output_tokens FROM model_catalog "
	    "WHERE provider_id = ? AND model_id = ?",
};

static const char *const select_status_names[SELECT__MAX] = {
	[SELECT_OK] = "ok",
	[SELECT_NO_MODEL] = "no_model",
	[SELECT_WRONG_PROTOCOL] = "wrong_protocol",
	[SELECT_DISABLED] = "disabled",
	[SELECT_BACKOFF] = "backoff",
	[SELECT_AUTH] = "auth_quarantine",
	[SELECT_EXHAUSTED] = "exhausted",
	[SELECT_TOO_LARGE] = "too_large",
};

static const int select_status_codes[SELECT__MAX] = {
	[SELECT_OK] = 200,
	[SELECT_NO_MODEL] = 404,
	[SELECT_WRONG_PROTOCOL] = 400,
	[SELECT_DISABLED] = 503,
	[SELECT_BACKOFF] = 429,
	[SELECT_AUTH] = 503,
	[SELECT_EXHAUSTED] = 502,
	[SELECT_TOO_LARGE] = 400,
};

static const char *const select_reason_names[SELECT_REASON__MAX] = {
	[SELECT_REASON_ELIGIBLE] = "eligible",
	[SELECT_REASON_PROVIDER_DISABLED] = "provider_disabled",
	[SELECT_REASON_DISABLED] = "disabled",
	[SELECT_REASON_OPERATOR_DISABLED] = "operator_disabled",
	[SELECT_REASON_NO_CREDENTIALS] = "no_credentials",
	[SELECT_REASON_NO_MODEL] = "no_model",
	[SELECT_REASON_WRONG_PROTOCOL] = "wrong_protocol",
	[SELECT_REASON_ALREADY_TRIED] = "already_tried",
	[SELECT_REASON_BACKOFF] = "backoff",
	[SELECT_REASON_AUTH_QUARANTINE] = "auth_quarantine",
	[SELECT_REASON_HARD_CAP] = "hard_cap",
	[SELECT_REASON_CONTEXT] = "context_limit",
	[SELECT_REASON_EXHAUSTED_BY_HEADERS] = "exhausted_by_headers",
};

static const char *const select_window_names[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = "5h",
	[CONFIG_WINDOW_WEEK] = "week",
	[CONFIG_WINDOW_MONTH] = "month",
};

/* Window lengths in ms, by enum config_window. */
static const int64_t select_window_ms[CONFIG_WINDOW__MAX] = {
	[CONFIG_WINDOW_5H] = 5 * SELECT_HOUR_MS,
	[CONFIG_WINDOW_WEEK] = 7 * 24 * SELECT_HOUR_MS,
	[CONFIG_WINDOW_MONTH] = 30 * 24 * SELECT_HOUR_MS,
};

/* One account of the configuration and what the selector keeps about it. */
struct select_acct {
	const struct config_provider *p;	/* its provider */
	const struct config_account *a;		/* the account */
	int		 limited;		/* 1 if any limit of any window is set */
	int64_t		 past[CONFIG_WINDOW__MAX][SELECT_KIND__MAX]; /* usage of past hours */
};

/* What one choice learns about one account. */
struct select_cand {
	int			 considered;	/* 1 if a candidate of this choice (pinned provider) */
	enum select_reason	 reason;	/* eligible or why not */
	enum failover_reason	 backoff;	/* reason of the backoff row, if any */
	enum failover_scope	 scope;		/* its scope: the account, or the model */
	int64_t			 until;		/* end of the backoff row, 0 = none */
	int64_t			 disabled_at;	/* when the operator disabled it, 0 = not */
	int			 cap_window;	/* hard_cap: the window at its limit */
	int64_t			 inflight;	/* live reservations */
	int64_t			 reserved[SELECT_KIND__MAX]; /* what they hold (requests = inflight) */
	int64_t			 now_usage[SELECT_KIND__MAX]; /* usage of the current hour */
	double			 window[CONFIG_WINDOW__MAX]; /* pressure per window */
	double			 pressure;	/* max over windows */
	int64_t			 last_used;	/* latest attempt start, 0 = never */
	int			 scored;	/* 1 if in the chosen tier and scored */
	int			 translated;	/* 1 if reached only by translation (q->via) */
	int64_t			 rl_until;	/* a header said 0 remaining until then, 0 = no */
	double			 rl_used;	/* largest used share a header reported */
};

/* A bounded, growable text buffer. */
struct select_buf {
	char		*p;		/* text, NUL-terminated */
	size_t		 len;		/* bytes used */
	size_t		 cap;		/* bytes allocated */
	int		 full;		/* 1 once an append did not fit */
};

struct select_db {
	sqlite3			*db;		/* borrowed connection */
	const struct config	*cfg;		/* borrowed configuration, NULL after a
						   failed select_bind() */
	uint64_t		 gen;		/* its generation (select_bind()), 0 = as
						   given to select_new() */
	sqlite3_stmt		*st[SELECT_STMT__MAX];	/* prepared statements */
	struct select_acct	*acct;		/* every account, configuration order */
	struct select_cand	*cand;		/* scratch, one per account */
	int			 nacct;		/* entries in acct and cand */
	int			 any_limited;	/* 1 if some account has a limit */
	int64_t			 past_hour;	/* hour the past usage was read for, -1 = never */
	int64_t			 past_read_at;	/* when it was read */
	unsigned		*served;	/* scratch: protocols each provider serves the model over */
	int			*listed;	/* scratch: 1 if the provider lists the model at all */
	struct ctxlimit		*lims;		/* scratch: the model's limits at each provider */
	int			*fits;		/* scratch: 1 if the request is not over them */
	struct select_buf	 detail;	/* detail_json of the last decision */
};

const char *
select_status_name(enum select_status st)
{

	return (unsigned)st < SELECT__MAX ? select_status_names[st] : "unknown";
}

int
select_status_http(enum select_status st)
{

	return (unsigned)st < SELECT__MAX ? select_status_codes[st] : 500;
}

const char *
select_reason_name(enum select_reason r)
{

	return (unsigned)r < SELECT_REASON__MAX ? select_reason_names[r] : "unknown";
}

const char *
select_protocol_name(unsigned proto)
{

	if (proto == CONFIG_PROTO_OPENAI)
		return "openai";
	if (proto == CONFIG_PROTO_ANTHROPIC)
		return "anthropic";
	if (proto == CONFIG_PROTO_RESPONSES)
		return "responses";
	return "";
}

static int
select_has_limits(const struct config_account *a)
{
	int w;

	for (w = 0; w < CONFIG_WINDOW__MAX; w++)
		if (a->quota[w].microdollars > 0 || a->quota[w].requests > 0 ||
		    a->quota[w].tokens > 0)
			return 1;
	return 0;
}

/*
 * Lists cfg's accounts in s and sizes the scratch arrays to them; the
 * usage read for the previous configuration is dropped. 0 or -1 (out of
 * memory: s is then left bound to nothing, nacct 0).
 */
static int
select_index(struct select_db *s, const struct config *cfg, uint64_t gen)
{
	int i, j, n = 0;

	free(s->acct);
	free(s->cand);
	free(s->served);
	free(s->listed);
	free(s->lims);
	free(s->fits);
	s->acct = NULL;
	s->cand = NULL;
	s->served = NULL;
	s->listed = NULL;
	s->lims = NULL;
	s->fits = NULL;
	s->nacct = 0;
	s->any_limited = 0;
	s->past_hour = -1;
	s->cfg = cfg;
	s->gen = gen;
	for (i = 0; i < cfg->nproviders; i++)
		n += cfg->providers[i].naccounts;
	if ((s->acct = calloc(n ? (size_t)n : 1, sizeof(*s->acct))) == NULL ||
	    (s->cand = calloc(n ? (size_t)n : 1, sizeof(*s->cand))) == NULL ||
	    (s->served = calloc(cfg->nproviders ? (size_t)cfg->nproviders : 1,
	    sizeof(*s->served))) == NULL ||
	    (s->listed = calloc(cfg->nproviders ? (size_t)cfg->nproviders : 1,
	    sizeof(*s->listed))) == NULL ||
	    (s->lims = calloc(cfg->nproviders ? (size_t)cfg->nproviders : 1,
	    sizeof(*s->lims))) == NULL ||
	    (s->fits = calloc(cfg->nproviders ? (size_t)cfg->nproviders : 1,
	    sizeof(*s->fits))) == NULL) {
		s->cfg = NULL;
		return -1;
	}
	s->nacct = n;
	n = 0;
	for (i = 0; i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++) {
			s->acct[n].p = &cfg->providers[i];
			s->acct[n].a = &cfg->providers[i].accounts[j];
			s->acct[n].limited = select_has_limits(s->acct[n].a);
			if (s->acct[n].limited)
				s->any_limited = 1;
			n++;
		}
	return 0;
}

struct select_db *
select_new(sqlite3 *db, const struct config *cfg, enum qp_err *err, char *errbuf,
    size_t errlen)
{
	struct select_db *s;

	*err = QP_ENOMEM;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->db = db;
	if (select_index(s, cfg, 0) != 0) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	*err = db_prepare_all(db, select_sql, SELECT_STMT__MAX, s->st, errbuf, errlen);
	if (*err != QP_OK)
		goto fail;
	return s;
fail:
	select_free(s);
	return NULL;
}

enum qp_err
select_bind(struct select_db *s, const struct config *cfg, uint64_t gen)
{

	if (s->cfg == cfg && s->gen == gen)
		return QP_OK;
	return select_index(s, cfg, gen) == 0 ? QP_OK : QP_ENOMEM;
}

void
select_free(struct select_db *s)
{

	if (s == NULL)
		return;
	db_finalize_all(s->st, SELECT_STMT__MAX);
	free(s->acct);
	free(s->cand);
	free(s->served);
	free(s->listed);
	free(s->lims);
	free(s->fits);
	free(s->detail.p);
	free(s);
}

/* Returns the index of the account called name, or -1. */
static int
select_find(const struct select_db *s, const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < s->nacct; i++)
		if (strcmp(s->acct[i].a->name, name) == 0)
			return i;
	return -1;
}

static unsigned
select_proto_bit(const char *name)
{

	if (name == NULL)
		return 0;
	if (strcmp(name, "openai") == 0)
		return CONFIG_PROTO_OPENAI;
	if (strcmp(name, "anthropic") == 0)
		return CONFIG_PROTO_ANTHROPIC;
	return 0;
}

/* A model served over OpenAI's chat is served over its Responses API too, where spoken. */
static unsigned
select_with_responses(unsigned mp)
{

	return (mp & CONFIG_PROTO_OPENAI) ? mp | CONFIG_PROTO_RESPONSES : mp;
}

/* Returns the override of model, or NULL (config.h's lookup, kept local to this module). */
static const struct config_model_override *
select_override(const struct config *cfg, const char *model)
{
	int i;

	for (i = 0; i < cfg->noverrides; i++)
		if (cfg->overrides[i].model != NULL && strcmp(cfg->overrides[i].model, model) == 0)
			return &cfg->overrides[i];
	return NULL;
}

/*
 * Finds over which protocols provider p serves model: *listed is 1 if
 * it lists the model at all, and the protocols are those of the
 * provider narrowed by the catalog row's protocol, else by the model
 * override's; a static model is served over every protocol of p.
 */
static enum qp_err
select_served(struct select_db *s, const struct config_provider *p, const char *model,
    int *listed, unsigned *served)
{
	const struct config_model_override *o;
	sqlite3_stmt *st = s->st[SELECT_STMT_CATALOG];
	unsigned mp = 0;
	int i, rc, in_catalog = 0, is_static = 0;

	*listed = 0;
	*served = 0;
	for (i = 0; i < p->nmodels; i++)
		if (p->models[i] != NULL && strcmp(p->models[i], model) == 0)
			is_static = 1;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		in_catalog = 1;
		mp = select_proto_bit((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return QP_EDB;
	if (!in_catalog && !is_static)
		return QP_OK;
	*listed = 1;
	if (is_static)
		mp = CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC | CONFIG_PROTO_RESPONSES;
	else if (mp == 0) {
		o = select_override(s->cfg, model);
		mp = o != NULL && o->protocol != 0 ? o->protocol :
		    CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC;
	}
	*served = p->protocols & select_with_responses(mp);
	return QP_OK;
}

/*
 * Reads the limits of model at provider p (its catalog row's, the
 * override's winning) into *lim, and sets *fits to 0 when need is
 * clearly over them.
 */
static enum qp_err
select_fits(struct select_db *s, const struct config_provider *p, const char *model,
    const struct ctxlimit_need *need, struct ctxlimit *lim, int *fits)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_LIMITS];
	int64_t ctx = 0, out = 0;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ctx = sqlite3_column_int64(st, 0);
		out = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return QP_EDB;
	ctxlimit_effective(select_override(s->cfg, model), ctx, out, lim);
	*fits = !ctxlimit_exceeds(lim, need);
	return QP_OK;
}

/* Opens a read transaction unless one is open; returns 1 if it did, -1 on error. */
static int
select_read_begin(struct select_db *s)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_BEGIN];
	int rc;

	if (!sqlite3_get_autocommit(s->db))
		return 0;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : -1;
}

static void
select_read_end(struct select_db *s, int own)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_COMMIT];

	if (own != 1)
		return;
	(void)sqlite3_step(st);
	sqlite3_reset(st);
	if (!sqlite3_get_autocommit(s->db))
		db_rollback(s->db);
}

static enum qp_err
select_protocols_in(struct select_db *s, const char *model, const char *provider,
    unsigned *protocols)
{
	const struct config_provider *p;
	enum qp_err err;
	unsigned served;
	int i, listed;

	*protocols = 0;
	if (model == NULL || model[0] == '\0')
		return QP_OK;
	for (i = 0; i < s->cfg->nproviders; i++) {
		p = &s->cfg->providers[i];
		if (!p->enabled || (provider != NULL && strcmp(p->id, provider) != 0))
			continue;
		if ((err = select_served(s, p, model, &listed, &served)) != QP_OK)
			return err;
		*protocols |= served;
	}
	return QP_OK;
}

enum qp_err
select_model_protocols(struct select_db *s, const char *model, const char *provider,
    unsigned *protocols)
{
	enum qp_err err;
	int own;

	*protocols = 0;
	if (s->cfg == NULL)
		return QP_ENOMEM;
	if ((own = select_read_begin(s)) < 0)
		return QP_EDB;
	err = select_protocols_in(s, model, provider, protocols);
	select_read_end(s, own);
	return err;
}

static int64_t
select_hour(int64_t t)
{
	int64_t h = t / SELECT_HOUR_MS * SELECT_HOUR_MS;

	return h > t ? h - SELECT_HOUR_MS : h;
}

/* Reads the usage of past hours when the hour changed or it grew old. */
static enum qp_err
select_read_past(struct select_db *s, int64_t now)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_USAGE_PAST];
	int64_t hour = select_hour(now);
	int i, rc, w, k;

	if (s->past_hour == hour && now - s->past_read_at < SELECT_USAGE_REFRESH_MS &&
	    now >= s->past_read_at)
		return QP_OK;
	for (i = 0; i < s->nacct; i++)
		memset(s->acct[i].past, 0, sizeof(s->acct[i].past));
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, select_hour(now - select_window_ms[CONFIG_WINDOW_5H]));
	sqlite3_bind_int64(st, 2, select_hour(now - select_window_ms[CONFIG_WINDOW_WEEK]));
	sqlite3_bind_int64(st, 3, select_hour(now - select_window_ms[CONFIG_WINDOW_MONTH]));
	sqlite3_bind_int64(st, 4, hour);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) < 0)
			continue;
		for (w = 0; w < CONFIG_WINDOW__MAX; w++)
			for (k = 0; k < SELECT_KIND__MAX; k++)
				s->acct[i].past[w][k] = sqlite3_column_int64(st,
				    1 + w * SELECT_KIND__MAX + k);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		s->past_hour = -1;
		return QP_EDB;
	}
	s->past_hour = hour;
	s->past_read_at = now;
	return QP_OK;
}

/* Reads the usage of the current hour into the candidates. */
static enum qp_err
select_read_now(struct select_db *s, int64_t now)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_USAGE_NOW];
	int i, rc, k;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, select_hour(now));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) < 0)
			continue;
		for (k = 0; k < SELECT_KIND__MAX; k++)
			s->cand[i].now_usage[k] = sqlite3_column_int64(st, 1 + k);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

/*
 * Reads the running backoffs of every account and of each account for
 * model into the candidates. An account with both keeps the one that
 * decides: an auth quarantine, else the later end.
 */
static enum qp_err
select_read_backoffs(struct select_db *s, const char *model, int64_t now)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_BACKOFFS];
	struct select_cand *c;
	enum failover_reason r;
	const char *m;
	int64_t until;
	int i, rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) < 0)
			continue;
		c = &s->cand[i];
		m = (const char *)sqlite3_column_text(st, 1);
		r = failover_reason_from_name((const char *)sqlite3_column_text(st, 2));
		if (r == FAILOVER_REASON__MAX)
			r = FAILOVER_REASON_TRANSIENT;
		until = sqlite3_column_int64(st, 3);
		if (c->until > 0 && (c->backoff == FAILOVER_REASON_AUTH_FAILURE ||
		    (r != FAILOVER_REASON_AUTH_FAILURE && c->until >= until)))
			continue;
		c->backoff = r;
		c->scope = m != NULL && m[0] != '\0' ? FAILOVER_SCOPE_MODEL :
		    FAILOVER_SCOPE_ACCOUNT;
		c->until = until;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

/* Reads what rate-limit headers said of each account, for model (ratelimit.h). */
static enum qp_err
select_read_ratelimits(struct select_db *s, const char *model, int64_t now)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_RATELIMITS];
	int i, rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) < 0)
			continue;
		s->cand[i].rl_until = sqlite3_column_int64(st, 1);
		s->cand[i].rl_used = sqlite3_column_double(st, 2);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

/* Marks the candidates the operator disabled (account_overrides rows). */
static enum qp_err
select_read_overrides(struct select_db *s)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_OVERRIDES];
	int i, rc;

	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) >= 0)
			s->cand[i].disabled_at = sqlite3_column_int64(st, 1) > 0 ?
			    sqlite3_column_int64(st, 1) : 1;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

static enum qp_err
select_read_inflight(struct select_db *s, int64_t now)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_INFLIGHT];
	int i, rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((i = select_find(s, (const char *)sqlite3_column_text(st, 0))) < 0)
			continue;
		s->cand[i].inflight = sqlite3_column_int64(st, 1);
		s->cand[i].reserved[SELECT_KIND_REQUESTS] = s->cand[i].inflight;
		s->cand[i].reserved[SELECT_KIND_TOKENS] = sqlite3_column_int64(st, 2);
		s->cand[i].reserved[SELECT_KIND_SPEND] = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

static enum qp_err
select_read_last_used(struct select_db *s, int i)
{
	sqlite3_stmt *st = s->st[SELECT_STMT_LAST_USED];
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, s->acct[i].a->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		s->cand[i].last_used = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QP_OK : QP_EDB;
}

/* Computes the quota pressure of candidate i from its usage and limits. */
static void
select_score(struct select_db *s, int i)
{
	const struct config_account *a = s->acct[i].a;
	struct select_cand *c = &s->cand[i];
	const struct config_quota *q;
	double p, v;
	int64_t used;
	int w;

	c->pressure = 0;
	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		q = &a->quota[w];
		p = 0;
		if (q->microdollars > 0) {
			used = s->acct[i].past[w][SELECT_KIND_SPEND] +
			    c->now_usage[SELECT_KIND_SPEND] + c->reserved[SELECT_KIND_SPEND] +
			    q->offset_microdollars;
			v = (double)used / (double)q->microdollars;
			if (v > p)
				p = v;
		}
		if (q->requests > 0) {
			used = s->acct[i].past[w][SELECT_KIND_REQUESTS] +
			    c->now_usage[SELECT_KIND_REQUESTS] + c->reserved[SELECT_KIND_REQUESTS];
			v = (double)used / (double)q->requests;
			if (v > p)
				p = v;
		}
		if (q->tokens > 0) {
			used = s->acct[i].past[w][SELECT_KIND_TOKENS] +
			    c->now_usage[SELECT_KIND_TOKENS] + c->reserved[SELECT_KIND_TOKENS];
			v = (double)used / (double)q->tokens;
			if (v > p)
				p = v;
		}
		c->window[w] = p;
		if (p > c->pressure)
			c->pressure = p;
	}
	/* A low remaining count reported by the provider presses as much as its share used. */
	if (c->rl_used > c->pressure)
		c->pressure = c->rl_used;
	c->scored = 1;
}

/*
 * For candidate i, scored and at a limit of some window: the window, into
 * cap_window, and when it goes under every limit it is at (as hours leave
 * their windows) into until; at the latest a window and an hour from now.
 */
static enum qp_err
select_cap_until(struct select_db *s, int i, int64_t now)
{
	const struct config_account *a = s->acct[i].a;
	struct select_cand *c = &s->cand[i];
	sqlite3_stmt *st = s->st[SELECT_STMT_HOURS];
	struct quotacap_hour *hours = NULL;
	const struct config_quota *q;
	int64_t limit[SELECT_KIND__MAX], used, at, until = 0;
	int w, k, n, rc, max = (int)(select_window_ms[CONFIG_WINDOW_MONTH] /
	    QUOTACAP_HOUR_MS) + 2;
	enum qp_err err = QP_OK;

	if ((hours = calloc((size_t)max, sizeof(*hours))) == NULL)
		return QP_ENOMEM;
	for (w = 0; w < CONFIG_WINDOW__MAX; w++) {
		if (c->window[w] < 1.0)
			continue;
		if (until == 0 || c->window[w] > c->window[c->cap_window])
			c->cap_window = w;
		q = &a->quota[w];
		limit[SELECT_KIND_SPEND] = q->microdollars;
		limit[SELECT_KIND_REQUESTS] = q->requests;
		limit[SELECT_KIND_TOKENS] = q->tokens;
		for (k = 0; k < SELECT_KIND__MAX; k++) {
			used = s->acct[i].past[w][k] + c->now_usage[k] + c->reserved[k] +
			    (k == SELECT_KIND_SPEND ? q->offset_microdollars : 0);
			if (limit[k] <= 0 || used < limit[k])
				continue;
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, select_hour(now - select_window_ms[w]));
			n = 0;
			while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
				hours[n].start = sqlite3_column_int64(st, 0);
				hours[n].used = sqlite3_column_int64(st, 1 + k);
				n++;
			}
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
				err = QP_EDB;
				goto out;
			}
			at = quotacap_reset(hours, n, used, limit[k], select_window_ms[w], now);
			if (at == 0)
				at = now + select_window_ms[w] + QUOTACAP_HOUR_MS;
			if (at > until)
				until = at;
		}
	}
	c->until = until > now ? until : now + 1000;
out:
	free(hours);
	return err;
}

/* Returns < 0 if candidate i is better than j. */
static int
select_cmp(const struct select_db *s, int i, int j)
{
	const struct select_cand *a = &s->cand[i], *b = &s->cand[j];

	if (a->translated != b->translated)
		return a->translated ? 1 : -1;
	if (a->pressure != b->pressure)
		return a->pressure < b->pressure ? -1 : 1;
	if (a->inflight != b->inflight)
		return a->inflight < b->inflight ? -1 : 1;
	if (a->last_used != b->last_used)
		return a->last_used < b->last_used ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Appends a string literal. */
#define SELECT_LIT(b, lit)	select_append((b), (lit), sizeof(lit) - 1)

/* Makes room for n more bytes and the NUL; marks the buffer full when it cannot. */
static int
select_reserve(struct select_buf *b, size_t n)
{
	size_t need, cap;
	char *np;

	if (b->full)
		return 0;
	need = b->len + n + 1;
	if (b->p != NULL && need <= b->cap)
		return 1;
	if (need > SELECT_DETAIL_MAX) {
		b->full = 1;
		return 0;
	}
	cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > SELECT_DETAIL_MAX)
		cap = SELECT_DETAIL_MAX;
	if ((np = realloc(b->p, cap)) == NULL) {
		b->full = 1;
		return 0;
	}
	b->p = np;
	b->cap = cap;
	return 1;
}

/* Appends n bytes as they are. */
static void
select_append(struct select_buf *b, const char *p, size_t n)
{

	if (!select_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void	select_put(struct select_buf *b, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* Appends formatted text. */
static void
select_put(struct select_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->full = 1;
		return;
	}
	select_append(b, tmp, (size_t)n);
}

/* Appends s as a JSON string. */
static void
select_put_str(struct select_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p, *run;
	char esc[6];

	if (s == NULL) {
		select_append(b, "null", 4);
		return;
	}
	select_append(b, "\"", 1);
	for (p = run = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		select_append(b, (const char *)run, (size_t)(p - run));
		if (*p < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0x0f];
			select_append(b, esc, 6);
		} else {
			esc[0] = '\\';
			esc[1] = (char)*p;
			select_append(b, esc, 2);
		}
		run = p + 1;
	}
	select_append(b, (const char *)run, (size_t)(p - run));
	select_append(b, "\"", 1);
}

/* Writes the decision's detail_json (format in select.h). */
static void
select_detail(struct select_db *s, const struct select_query *q, int chosen, int tier)
{
	struct select_buf *b = &s->detail;
	const struct select_cand *c;
	size_t mark, limit = SELECT_DETAIL_MAX - SELECT_DETAIL_TAIL;
	int i, first = 1, cut = 0;

	b->len = 0;
	b->full = 0;
	SELECT_LIT(b, "{\"model\":");
	select_put_str(b, q->model);
	SELECT_LIT(b, ",\"pinned\":");
	select_put_str(b, q->provider);
	select_put(b, ",\"protocol\":\"%s\",\"tried\":%d,",
	    select_protocol_name(q->protocol), q->ntried);
	if (q->alias != NULL) {
		SELECT_LIT(b, "\"alias\":");
		select_put_str(b, q->alias);
		SELECT_LIT(b, ",\"target\":");
		select_put_str(b, q->target);
		SELECT_LIT(b, ",");
	}
	SELECT_LIT(b, "\"tier\":");
	if (tier >= 0)
		select_put(b, "%d", tier);
	else
		SELECT_LIT(b, "null");
	SELECT_LIT(b, ",\"chosen\":");
	select_put_str(b, chosen >= 0 ? s->acct[chosen].a->name : NULL);
	SELECT_LIT(b, ",\"accounts\":[");
	for (i = 0; i < s->nacct; i++) {
		c = &s->cand[i];
		if (!c->considered)
			continue;
		mark = b->len;
		if (!first)
			SELECT_LIT(b, ",");
		SELECT_LIT(b, "{\"account\":");
		select_put_str(b, s->acct[i].a->name);
		SELECT_LIT(b, ",\"provider\":");
		select_put_str(b, s->acct[i].p->id);
		select_put(b, ",\"reason\":\"%s\"", select_reason_name(c->reason));
		if (c->reason == SELECT_REASON_BACKOFF || c->reason == SELECT_REASON_AUTH_QUARANTINE)
			select_put(b, ",\"backoff\":\"%s\",\"scope\":\"%s\",\"until\":%lld",
			    failover_reason_name(c->backoff), failover_scope_name(c->scope),
			    (long long)c->until);
		if (c->reason == SELECT_REASON_OPERATOR_DISABLED)
			select_put(b, ",\"since\":%lld", (long long)c->disabled_at);
		if (c->reason == SELECT_REASON_EXHAUSTED_BY_HEADERS)
			select_put(b, ",\"until\":%lld", (long long)c->rl_until);
		if (c->reason == SELECT_REASON_HARD_CAP)
			select_put(b, ",\"window\":\"%s\",\"until\":%lld",
			    select_window_names[c->cap_window], (long long)c->until);
		if (c->reason == SELECT_REASON_ELIGIBLE)
			select_put(b, ",\"tier\":%d", s->acct[i].p->routing_priority);
		if (c->reason == SELECT_REASON_ELIGIBLE && c->translated)
			SELECT_LIT(b, ",\"translated\":true");
		if (c->reason == SELECT_REASON_CONTEXT && q->need != NULL) {
			const struct ctxlimit *lim = &s->lims[s->acct[i].p - s->cfg->providers];

			select_put(b, ",\"context\":%lld,\"input_limit\":%lld,\"need\":[%lld,%lld]",
			    (long long)lim->context, (long long)lim->input,
			    (long long)q->need->input, (long long)q->need->output);
		}
		if (c->scored) {
			select_put(b, ",\"score\":[%.6g,%lld,%lld", c->pressure,
			    (long long)c->inflight, (long long)c->last_used);
			if (s->acct[i].limited)
				select_put(b, ",%.6g,%.6g,%.6g", c->window[CONFIG_WINDOW_5H],
				    c->window[CONFIG_WINDOW_WEEK], c->window[CONFIG_WINDOW_MONTH]);
			SELECT_LIT(b, "]");
		}
		SELECT_LIT(b, "}");
		if (b->full || b->len > limit) {
			b->len = mark;
			b->full = 0;
			cut = 1;
			break;
		}
		first = 0;
	}
	select_put(b, "]%s}", cut ? ",\"truncated\":true" : "");
	if (b->p == NULL || b->full) {
		/* Out of memory: the decision is still recorded, without detail. */
		free(b->p);
		b->p = NULL;
		b->len = b->cap = 0;
		b->full = 0;
	}
}

static enum qp_err
select_choose_in(struct select_db *s, const struct select_query *q, struct select_result *res)
{
	const struct config_provider *p;
	const struct config_account *a;
	struct select_cand *c;
	enum qp_err err;
	int64_t retry_auth = 0, retry_backoff = 0, retry_any = 0;
	unsigned reach = q->protocol | q->via;
	int i, j, pi, tier = -1, best = -1, serving = 0, wrong = 0, fitting = 0;
	int n_backoff = 0, n_auth = 0, n_tried = 0, scored_limited = 0;

	memset(res, 0, sizeof(*res));
	res->tier = -1;
	res->detail_json = "{}";
	res->detail_len = 2;
	res->model = q->model;
	res->decided_at = q->now;
	res->status = SELECT_NO_MODEL;
	memset(s->cand, 0, (size_t)s->nacct * sizeof(*s->cand));
	if ((q->model == NULL || q->model[0] == '\0') && !q->any_model)
		goto detail;
	for (pi = 0; pi < s->cfg->nproviders; pi++) {
		p = &s->cfg->providers[pi];
		s->served[pi] = 0;
		s->listed[pi] = 0;
		s->fits[pi] = 1;
		memset(&s->lims[pi], 0, sizeof(s->lims[pi]));
		if (!p->enabled || (q->provider != NULL && strcmp(p->id, q->provider) != 0))
			continue;
		if (q->any_model) {
			s->listed[pi] = 1;
			s->served[pi] = reach;
			continue;
		}
		err = select_served(s, p, q->model, &s->listed[pi], &s->served[pi]);
		if (err == QP_OK && s->listed[pi] && q->need != NULL)
			err = select_fits(s, p, q->model, q->need, &s->lims[pi], &s->fits[pi]);
		if (err != QP_OK)
			return err;
	}
	if ((err = select_read_backoffs(s, q->any_model ? "" : q->model, q->now)) != QP_OK ||
	    (err = select_read_overrides(s)) != QP_OK ||
	    (err = select_read_ratelimits(s, q->any_model ? "" : q->model, q->now)) != QP_OK)
		return err;
	for (i = 0, j = 0; i < s->nacct && !j; i++)
		j = s->acct[i].limited && s->acct[i].a->hard_cap;
	/* A hard cap needs the usage before the exclusions. */
	if (j && ((err = select_read_past(s, q->now)) != QP_OK ||
	    (err = select_read_now(s, q->now)) != QP_OK ||
	    (err = select_read_inflight(s, q->now)) != QP_OK))
		return err;

	/* Exclusions, in the documented order. */
	for (i = 0; i < s->nacct; i++) {
		p = s->acct[i].p;
		a = s->acct[i].a;
		c = &s->cand[i];
		if (q->provider != NULL && strcmp(p->id, q->provider) != 0)
			continue;
		c->considered = 1;
		res->candidates++;
		pi = (int)(p - s->cfg->providers);
		if (!p->enabled)
			c->reason = SELECT_REASON_PROVIDER_DISABLED;
		else if (!a->enabled)
			c->reason = SELECT_REASON_DISABLED;
		else if (c->disabled_at > 0)
			c->reason = SELECT_REASON_OPERATOR_DISABLED;
		else if (a->api_key == NULL && a->api_key_env != NULL)
			c->reason = SELECT_REASON_NO_CREDENTIALS;
		else if (!s->listed[pi])
			c->reason = SELECT_REASON_NO_MODEL;
		else if ((s->served[pi] & reach) == 0)
			c->reason = SELECT_REASON_WRONG_PROTOCOL;
		else if (!s->fits[pi])
			c->reason = SELECT_REASON_CONTEXT;
		else {
			c->reason = SELECT_REASON_ELIGIBLE;
			for (j = 0; j < q->ntried; j++)
				if (q->tried[j] != NULL && strcmp(q->tried[j], a->name) == 0)
					c->reason = SELECT_REASON_ALREADY_TRIED;
			if (c->reason == SELECT_REASON_ELIGIBLE && c->until > q->now)
				c->reason = c->backoff == FAILOVER_REASON_AUTH_FAILURE ?
				    SELECT_REASON_AUTH_QUARANTINE : SELECT_REASON_BACKOFF;
			if (c->reason == SELECT_REASON_ELIGIBLE && c->rl_until > q->now)
				c->reason = SELECT_REASON_EXHAUSTED_BY_HEADERS;
			c->translated = (s->served[pi] & q->protocol) == 0;
			if (c->reason == SELECT_REASON_ELIGIBLE && a->hard_cap &&
			    s->acct[i].limited) {
				select_score(s, i);
				c->scored = 0;
				if (c->pressure >= 1.0) {
					if ((err = select_cap_until(s, i, q->now)) != QP_OK)
						return err;
					c->reason = SELECT_REASON_HARD_CAP;
				}
			}
		}
		/* What decides the status does not depend on the order of exclusions. */
		if (p->enabled && s->listed[pi]) {
			if (s->served[pi] & reach) {
				serving++;
				fitting += s->fits[pi];
				if (!s->fits[pi] && (res->limit.enforce == 0 ||
				    s->lims[pi].context > res->limit.context))
					res->limit = s->lims[pi];
				if (c->until > q->now && (retry_any == 0 || c->until < retry_any))
					retry_any = c->until;
			} else
				wrong++;
		}
		switch (c->reason) {
		case SELECT_REASON_ELIGIBLE:
			res->eligible++;
			if (p->routing_priority > tier)
				tier = p->routing_priority;
			break;
		case SELECT_REASON_BACKOFF:
		case SELECT_REASON_HARD_CAP:
			n_backoff++;
			if (retry_backoff == 0 || c->until < retry_backoff)
				retry_backoff = c->until;
			break;
		case SELECT_REASON_EXHAUSTED_BY_HEADERS:
			n_backoff++;
			if (retry_backoff == 0 || c->rl_until < retry_backoff)
				retry_backoff = c->rl_until;
			break;
		case SELECT_REASON_AUTH_QUARANTINE:
			n_auth++;
			if (retry_auth == 0 || c->until < retry_auth)
				retry_auth = c->until;
			break;
		case SELECT_REASON_ALREADY_TRIED:
			n_tried++;
			break;
		default:
			break;
		}
	}

	if (res->eligible == 0) {
		if (serving == 0)
			res->status = wrong > 0 ? SELECT_WRONG_PROTOCOL : SELECT_NO_MODEL;
		else if (fitting == 0)
			res->status = SELECT_TOO_LARGE;
		else if (n_backoff > 0) {
			res->status = SELECT_BACKOFF;
			res->retry_at = retry_auth != 0 && retry_auth < retry_backoff ?
			    retry_auth : retry_backoff;
		} else if (n_auth > 0) {
			res->status = SELECT_AUTH;
			res->retry_at = retry_auth;
		} else if (n_tried > 0) {
			res->status = SELECT_EXHAUSTED;
			res->retry_at = retry_any;
		} else
			res->status = SELECT_DISABLED;
		goto detail;
	}

	/* Score the chosen tier. */
	for (i = 0; i < s->nacct; i++)
		if (s->cand[i].considered && s->cand[i].reason == SELECT_REASON_ELIGIBLE &&
		    s->acct[i].p->routing_priority == tier && s->acct[i].limited)
			scored_limited = 1;
	if (scored_limited) {
		if ((err = select_read_past(s, q->now)) != QP_OK ||
		    (err = select_read_now(s, q->now)) != QP_OK)
			return err;
	}
	if ((err = select_read_inflight(s, q->now)) != QP_OK)
		return err;
	for (i = 0; i < s->nacct; i++) {
		if (!s->cand[i].considered || s->cand[i].reason != SELECT_REASON_ELIGIBLE ||
		    s->acct[i].p->routing_priority != tier)
			continue;
		select_score(s, i);
		if ((err = select_read_last_used(s, i)) != QP_OK)
			return err;
		if (best < 0 || select_cmp(s, i, best) < 0)
			best = i;
	}
	res->status = SELECT_OK;
	res->served = s->served[s->acct[best].p - s->cfg->providers];
	res->provider = s->acct[best].p;
	res->account = s->acct[best].a;
	res->tier = tier;
	res->pressure = s->cand[best].pressure;
	res->inflight = s->cand[best].inflight;
	res->last_used = s->cand[best].last_used;
	res->limit = s->lims[s->acct[best].p - s->cfg->providers];
detail:
	select_detail(s, q, best, res->tier);
	res->detail_json = s->detail.p != NULL ? s->detail.p : "{}";
	res->detail_len = s->detail.p != NULL ? s->detail.len : 2;
	return QP_OK;
}

enum qp_err
select_choose(struct select_db *s, const struct select_query *q, struct select_result *res)
{
	enum qp_err err;
	int own;

	/* A failed select_bind() leaves no configuration to choose from. */
	if (s->cfg == NULL || (own = select_read_begin(s)) < 0) {
		memset(res, 0, sizeof(*res));
		res->status = SELECT_NO_MODEL;
		res->detail_json = "{}";
		res->detail_len = 2;
		return s->cfg == NULL ? QP_ENOMEM : QP_EDB;
	}
	err = select_choose_in(s, q, res);
	select_read_end(s, own);
	return err;
}
