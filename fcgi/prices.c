/* prices.c: loads the shipped price catalog, finds a model's price in it, picks the strongest source. */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "prices.h"

/* Deepest match rule read (or/and/not nest). */
#define PRICES_MATCH_DEPTH	8
/* Longest model id looked up. */
#define PRICES_MODEL_MAX	255

/* Kinds of match rule, as genai-prices names them (plus "not"). */
enum prices_kind {
	PRICES_EQUALS,		/* "equals" */
	PRICES_STARTS,		/* "starts_with" */
	PRICES_ENDS,		/* "ends_with" */
	PRICES_CONTAINS,	/* "contains" */
	PRICES_REGEX,		/* "regex": POSIX ERE, on the lowercased id */
	PRICES_NOT,		/* "not": one rule */
	PRICES_OR,		/* "or": any of the rules */
	PRICES_AND,		/* "and": all of the rules */
	PRICES_KIND__MAX
};

static const char *const prices_kind_names[PRICES_KIND__MAX] = {
	[PRICES_EQUALS] = "equals",
	[PRICES_STARTS] = "starts_with",
	[PRICES_ENDS] = "ends_with",
	[PRICES_CONTAINS] = "contains",
	[PRICES_REGEX] = "regex",
	[PRICES_NOT] = "not",
	[PRICES_OR] = "or",
	[PRICES_AND] = "and",
};

/* One match rule. */
struct prices_match {
	enum prices_kind kind;		/* what it checks */
	char		*s;		/* lowercased text (string kinds), owned */
	regex_t		 re;		/* compiled when kind is PRICES_REGEX */
	int		 compiled;	/* 1 once re must be freed */
	struct prices_match *kids;	/* not/or/and, owned */
	int		 nkids;
};

/* Prices in force from a date on. */
struct prices_period {
	int64_t		 from_ms;	/* INT64_MIN = always */
	struct cost_price price;	/* the rates */
};

/* One priced model. */
struct prices_model {
	char		*id;		/* catalog id, owned */
	struct prices_match match;	/* which model ids it prices */
	struct prices_period *periods;	/* by ascending from_ms, owned */
	int		 nperiods;
};

/* One catalog provider. */
struct prices_provider {
	char		*id;		/* genai-prices id, owned */
	regex_t		 api;		/* its API URL pattern, anchored */
	int		 has_api;
	struct prices_match pmatch;	/* provider ids it stands for */
	int		 has_pmatch;
	struct prices_match mmatch;	/* model ids that belong to it */
	int		 has_mmatch;
	char		**fallback;	/* provider ids whose models it also serves, owned */
	int		 nfallback;
	struct prices_model *models;	/* owned */
	int		 nmodels;
};

struct prices {
	char		*source;	/* e.g. "@pydantic/genai-prices@0.1.8" */
	struct prices_provider *prov;	/* owned */
	int		 nprov;
	int		 nmodels;	/* over all providers */
};

static char *
prices_lower_dup(const char *s)
{
	char *d = strdup(s);
	size_t i;

	for (i = 0; d != NULL && d[i] != '\0'; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	return d;
}

static void
prices_match_free(struct prices_match *m)
{
	int i;

	free(m->s);
	if (m->compiled)
		regfree(&m->re);
	for (i = 0; i < m->nkids; i++)
		prices_match_free(&m->kids[i]);
	free(m->kids);
	memset(m, 0, sizeof(*m));
}

/* Reads rule j into m; 0 on success, -1 with a reason in errbuf. */
static int
prices_match_read(struct prices_match *m, const cJSON *j, int depth, char *errbuf,
    size_t errlen)
{
	const cJSON *v, *k;
	int i, n;

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(j) || j->child == NULL || depth > PRICES_MATCH_DEPTH)
		goto bad;
	v = j->child;
	for (i = 0; i < PRICES_KIND__MAX; i++)
		if (v->string != NULL && strcmp(v->string, prices_kind_names[i]) == 0)
			break;
	if (i == PRICES_KIND__MAX)
		goto bad;
	m->kind = (enum prices_kind)i;
	switch (m->kind) {
	case PRICES_NOT:
		if ((m->kids = calloc(1, sizeof(*m->kids))) == NULL)
			goto bad;
		m->nkids = 1;
		return prices_match_read(m->kids, v, depth + 1, errbuf, errlen);
	case PRICES_OR:
	case PRICES_AND:
		if (!cJSON_IsArray(v) || (n = cJSON_GetArraySize(v)) < 1 ||
		    (m->kids = calloc((size_t)n, sizeof(*m->kids))) == NULL)
			goto bad;
		m->nkids = n;
		i = 0;
		cJSON_ArrayForEach(k, v)
			if (prices_match_read(&m->kids[i++], k, depth + 1, errbuf, errlen) != 0)
				return -1;
		return 0;
	default:
		if (!cJSON_IsString(v) || (m->s = prices_lower_dup(v->valuestring)) == NULL)
			goto bad;
		if (m->kind == PRICES_REGEX) {
			if (regcomp(&m->re, v->valuestring, REG_EXTENDED | REG_NOSUB) != 0) {
				snprintf(errbuf, errlen, "bad regex %s", v->valuestring);
				return -1;
			}
			m->compiled = 1;
		}
		return 0;
	}
bad:
	snprintf(errbuf, errlen, "bad match rule");
	return -1;
}

/* Returns 1 if rule m accepts id (lowercased). */
static int
prices_match_test(const struct prices_match *m, const char *id)
{
	size_t n, k;
	int i;

	switch (m->kind) {
	case PRICES_EQUALS:
		return strcmp(id, m->s) == 0;
	case PRICES_STARTS:
		return strncmp(id, m->s, strlen(m->s)) == 0;
	case PRICES_ENDS:
		n = strlen(id);
		k = strlen(m->s);
		return n >= k && strcmp(id + n - k, m->s) == 0;
	case PRICES_CONTAINS:
		return strstr(id, m->s) != NULL;
	case PRICES_REGEX:
		return regexec(&m->re, id, 0, NULL, 0) == 0;
	case PRICES_NOT:
		return !prices_match_test(&m->kids[0], id);
	case PRICES_OR:
		for (i = 0; i < m->nkids; i++)
			if (prices_match_test(&m->kids[i], id))
				return 1;
		return 0;
	case PRICES_AND:
		for (i = 0; i < m->nkids; i++)
			if (!prices_match_test(&m->kids[i], id))
				return 0;
		return 1;
	default:
		return 0;
	}
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
prices_days(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads "YYYY-MM-DD" (or "" = always) into *ms; -1 if it is neither. */
static int
prices_date(const char *s, int64_t *ms)
{
	int y, m, d;
	char tail;

	if (s[0] == '\0') {
		*ms = INT64_MIN;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 ||
	    d > 31)
		return -1;
	*ms = prices_days(y, m, d) * 86400000LL;
	return 0;
}

/* One category's rates as read: a base and tiers. */
struct prices_cat {
	int64_t		 base;			/* -1 = no rate */
	int		 n;			/* tiers */
	int64_t		 start[COST_TIERS_MAX];	/* ascending */
	int64_t		 rate[COST_TIERS_MAX];
};

/* Reads a rate (number, or [base, start, rate, ...]); -1 if malformed. */
static int
prices_rate(const cJSON *v, struct prices_cat *c)
{
	const cJSON *e;
	int i = 0;

	c->base = -1;
	c->n = 0;
	if (v == NULL)
		return 0;
	if (cJSON_IsNumber(v)) {
		c->base = (int64_t)v->valuedouble;
		return c->base < 0 ? -1 : 0;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) % 2 != 1 ||
	    cJSON_GetArraySize(v) > 1 + 2 * COST_TIERS_MAX)
		return -1;
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsNumber(e) || e->valuedouble < 0)
			return -1;
		if (i == 0)
			c->base = (int64_t)e->valuedouble;
		else if (i % 2 == 1)
			c->start[c->n] = (int64_t)e->valuedouble;
		else
			c->rate[c->n++] = (int64_t)e->valuedouble;
		i++;
	}
	return 0;
}

/* The rate of c once input tokens exceed s (tiers whose start is at most s). */
static int64_t
prices_cat_at(const struct prices_cat *c, int64_t s)
{
	int64_t r = c->base;
	int i;

	for (i = 0; i < c->n; i++)
		if (c->start[i] <= s)
			r = c->rate[i];
	return r;
}

/*
 * Reads the rates object o into p: each category's tiers merged into
 * tiers of the whole price at the union of their starts. -1 if malformed.
 */
static int
prices_rates(const cJSON *o, struct cost_price *p)
{
	static const char *const keys[4] = { "in", "out", "cr", "cw" };
	struct prices_cat c[4];
	int64_t starts[4 * COST_TIERS_MAX], s;
	int i, j, k, n = 0, dup;

	if (!cJSON_IsObject(o))
		return -1;
	for (i = 0; i < 4; i++) {
		if (prices_rate(json_member(o, keys[i]), &c[i]) != 0)
			return -1;
		for (j = 0; j < c[i].n; j++) {
			for (dup = 0, k = 0; k < n; k++)
				dup |= starts[k] == c[i].start[j];
			if (!dup)
				starts[n++] = c[i].start[j];
		}
	}
	if (n > COST_TIERS_MAX)
		return -1;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
			s = starts[j];
			starts[j] = starts[j - 1];
			starts[j - 1] = s;
		}
	memset(p, 0, sizeof(*p));
	p->input = c[0].base;
	p->output = c[1].base;
	p->cache_read = c[2].base;
	p->cache_write = c[3].base;
	p->ntiers = n;
	for (i = 0; i < n; i++) {
		p->tier[i].above = starts[i];
		p->tier[i].input = prices_cat_at(&c[0], starts[i]);
		p->tier[i].output = prices_cat_at(&c[1], starts[i]);
		p->tier[i].cache_read = prices_cat_at(&c[2], starts[i]);
		p->tier[i].cache_write = prices_cat_at(&c[3], starts[i]);
	}
	return 0;
}

/* Reads one model entry; -1 with a reason in errbuf. */
static int
prices_model_read(struct prices_model *m, const cJSON *j, char *errbuf, size_t errlen)
{
	const cJSON *id = json_member(j, "id"), *from = json_member(j, "from"), *e;
	int i = 0;

	if (!cJSON_IsString(id) || (m->id = strdup(id->valuestring)) == NULL) {
		snprintf(errbuf, errlen, "a model without an id");
		return -1;
	}
	if (prices_match_read(&m->match, json_member(j, "match"), 0, errbuf, errlen) != 0)
		return -1;
	m->nperiods = from != NULL ? cJSON_GetArraySize(from) : 1;
	if (m->nperiods < 1 || (m->periods = calloc((size_t)m->nperiods,
	    sizeof(*m->periods))) == NULL)
		goto bad;
	if (from == NULL) {
		m->periods[0].from_ms = INT64_MIN;
		return prices_rates(j, &m->periods[0].price) == 0 ? 0 : (snprintf(errbuf,
		    errlen, "%s: bad rates", m->id), -1);
	}
	if (!cJSON_IsArray(from))
		goto bad;
	cJSON_ArrayForEach(e, from) {
		const cJSON *d = cJSON_GetArrayItem(e, 0);

		if (!cJSON_IsString(d) || prices_date(d->valuestring,
		    &m->periods[i].from_ms) != 0 ||
		    prices_rates(cJSON_GetArrayItem(e, 1), &m->periods[i].price) != 0)
			goto bad;
		i++;
	}
	return 0;
bad:
	snprintf(errbuf, errlen, "%s: bad prices", m->id);
	return -1;
}

/* Reads one provider entry; -1 with a reason in errbuf. */
static int
prices_provider_read(struct prices_provider *p, const cJSON *j, char *errbuf, size_t errlen)
{
	const cJSON *id = json_member(j, "id"), *api = json_member(j, "api");
	const cJSON *models = json_member(j, "models"), *fb = json_member(j, "fallback"), *e;
	char pat[512];
	int i = 0;

	if (!cJSON_IsString(id) || (p->id = prices_lower_dup(id->valuestring)) == NULL ||
	    !cJSON_IsArray(models)) {
		snprintf(errbuf, errlen, "a provider without id or models");
		return -1;
	}
	if (cJSON_IsString(api)) {
		if ((size_t)snprintf(pat, sizeof(pat), "^(%s)", api->valuestring) >= sizeof(pat) ||
		    regcomp(&p->api, pat, REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0) {
			snprintf(errbuf, errlen, "%s: bad api pattern", p->id);
			return -1;
		}
		p->has_api = 1;
	}
	if (json_member(j, "provider_match") != NULL) {
		if (prices_match_read(&p->pmatch, json_member(j, "provider_match"), 0, errbuf,
		    errlen) != 0)
			return -1;
		p->has_pmatch = 1;
	}
	if (json_member(j, "model_match") != NULL) {
		if (prices_match_read(&p->mmatch, json_member(j, "model_match"), 0, errbuf,
		    errlen) != 0)
			return -1;
		p->has_mmatch = 1;
	}
	if (cJSON_IsArray(fb) && cJSON_GetArraySize(fb) > 0) {
		if ((p->fallback = calloc((size_t)cJSON_GetArraySize(fb),
		    sizeof(*p->fallback))) == NULL)
			return -1;
		cJSON_ArrayForEach(e, fb)
			if (cJSON_IsString(e) &&
			    (p->fallback[p->nfallback] = prices_lower_dup(e->valuestring)) != NULL)
				p->nfallback++;
	}
	p->nmodels = cJSON_GetArraySize(models);
	if (p->nmodels > 0 && (p->models = calloc((size_t)p->nmodels,
	    sizeof(*p->models))) == NULL)
		return -1;
	cJSON_ArrayForEach(e, models)
		if (prices_model_read(&p->models[i++], e, errbuf, errlen) != 0)
			return -1;
	return 0;
}

void
prices_free(struct prices *pc)
{
	int i, j;

	if (pc == NULL)
		return;
	for (i = 0; i < pc->nprov; i++) {
		struct prices_provider *p = &pc->prov[i];

		for (j = 0; j < p->nmodels; j++) {
			free(p->models[j].id);
			prices_match_free(&p->models[j].match);
			free(p->models[j].periods);
		}
		free(p->models);
		for (j = 0; j < p->nfallback; j++)
			free(p->fallback[j]);
		free(p->fallback);
		if (p->has_api)
			regfree(&p->api);
		prices_match_free(&p->pmatch);
		prices_match_free(&p->mmatch);
		free(p->id);
	}
	free(pc->prov);
	free(pc->source);
	free(pc);
}

struct prices *
prices_parse(const char *buf, size_t len, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct prices *pc = NULL;
	cJSON *root = NULL;
	const cJSON *provs, *src, *e;
	int i = 0;

	if ((root = json_parse(buf, len, err)) == NULL) {
		snprintf(errbuf, errlen, "not JSON");
		goto out;
	}
	*err = QP_EPARSE;
	provs = json_member(root, "providers");
	src = json_member(json_member(root, "catalog"), "source");
	if (!cJSON_IsArray(provs) || !cJSON_IsString(src)) {
		snprintf(errbuf, errlen, "no catalog.source or providers");
		goto out;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL || (pc->source = strdup(src->valuestring)) ==
	    NULL || (pc->prov = calloc((size_t)cJSON_GetArraySize(provs) + 1,
	    sizeof(*pc->prov))) == NULL) {
		*err = QP_ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(e, provs) {
		pc->nprov = i + 1;
		if (prices_provider_read(&pc->prov[i], e, errbuf, errlen) != 0)
			goto out;
		pc->nmodels += pc->prov[i].nmodels;
		i++;
	}
	*err = QP_OK;
out:
	cJSON_Delete(root);
	if (*err != QP_OK) {
		prices_free(pc);
		pc = NULL;
	}
	return pc;
}

struct prices *
prices_load(const char *path, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct prices *pc = NULL;
	char *buf = NULL;
	FILE *fp = NULL;
	size_t n;
	long sz;

	*err = QP_EIO;
	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (sz = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		snprintf(errbuf, errlen, "cannot read %s", path);
		goto out;
	}
	if ((unsigned long)sz > PRICES_FILE_MAX) {
		*err = QP_ETOOBIG;
		snprintf(errbuf, errlen, "%s is larger than %u bytes", path, PRICES_FILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)sz + 1)) == NULL) {
		*err = QP_ENOMEM;
		goto out;
	}
	if ((n = fread(buf, 1, (size_t)sz, fp)) != (size_t)sz) {
		snprintf(errbuf, errlen, "cannot read %s", path);
		goto out;
	}
	if ((pc = prices_parse(buf, n, err, errbuf, errlen)) == NULL) {
		char why[128];

		snprintf(why, sizeof(why), "%s", errbuf);
		snprintf(errbuf, errlen, "%s: %s", path, why);
	}
out:
	free(buf);
	if (fp != NULL)
		fclose(fp);
	return pc;
}

const char *
prices_source(const struct prices *pc)
{

	return pc != NULL ? pc->source : "";
}

int
prices_count(const struct prices *pc)
{

	return pc != NULL ? pc->nmodels : 0;
}

/* Returns the provider named id, or NULL. */
static const struct prices_provider *
prices_provider_by_id(const struct prices *pc, const char *id)
{
	int i;

	for (i = 0; i < pc->nprov; i++)
		if (strcmp(pc->prov[i].id, id) == 0)
			return &pc->prov[i];
	return NULL;
}

/*
 * Returns the model of p (or of its fallbacks when fb) that accepts id,
 * or NULL; *owner gets the provider it belongs to.
 */
static const struct prices_model *
prices_model_in(const struct prices *pc, const struct prices_provider *p, const char *id,
    int fb, const struct prices_provider **owner)
{
	const struct prices_provider *f;
	const struct prices_model *m;
	int i;

	*owner = p;
	for (i = 0; i < p->nmodels; i++)
		if (prices_match_test(&p->models[i].match, id))
			return &p->models[i];
	for (i = 0; fb && i < p->nfallback; i++)
		if ((f = prices_provider_by_id(pc, p->fallback[i])) != NULL &&
		    (m = prices_model_in(pc, f, id, 0, owner)) != NULL)
			return m;
	*owner = p;
	return NULL;
}

/*
 * Rewrites a trailing -YYYYMMDD (before the end, '-' or ':') of id as
 * -YYYY-MM-DD into out; 0 if id has none.
 */
static int
prices_redate(const char *id, char *out, size_t len)
{
	size_t n = strlen(id), i, k;

	for (i = 0; i + 9 <= n; i++) {
		if (id[i] != '-' || id[i + 1] != '2' || id[i + 2] != '0')
			continue;
		for (k = 1; k <= 8 && isdigit((unsigned char)id[i + k]); k++)
			;
		if (k != 9 || (id[i + 9] != '\0' && id[i + 9] != '-' && id[i + 9] != ':'))
			continue;
		if (snprintf(out, len, "%.*s-%.4s-%.2s-%.2s%s", (int)i, id, id + i + 1,
		    id + i + 5, id + i + 7, id + i + 9) >= (int)len)
			return 0;
		return 1;
	}
	return 0;
}

int
prices_find(const struct prices *pc, const char *provider_id, const char *base_url,
    const char *model, int64_t at_ms, struct prices_quote *q)
{
	const struct prices_provider *p = NULL;
	const struct prices_model *m = NULL;
	char id[PRICES_MODEL_MAX + 1], redated[PRICES_MODEL_MAX + 12], pid[64];
	size_t a, b, i;
	int k;

	if (pc == NULL || model == NULL)
		return 0;
	for (a = 0; isspace((unsigned char)model[a]); a++)
		;
	for (b = strlen(model); b > a && isspace((unsigned char)model[b - 1]); b--)
		;
	if (b - a == 0 || b - a > PRICES_MODEL_MAX)
		return 0;
	for (i = 0; i < b - a; i++)
		id[i] = (char)tolower((unsigned char)model[a + i]);
	id[i] = '\0';
	if (provider_id != NULL) {
		snprintf(pid, sizeof(pid), "%s", provider_id);
		for (i = 0; pid[i] != '\0'; i++)
			pid[i] = (char)tolower((unsigned char)pid[i]);
		if ((p = prices_provider_by_id(pc, pid)) == NULL)
			for (k = 0; k < pc->nprov && p == NULL; k++)
				if (pc->prov[k].has_pmatch &&
				    prices_match_test(&pc->prov[k].pmatch, pid))
					p = &pc->prov[k];
	}
	for (k = 0; p == NULL && base_url != NULL && k < pc->nprov; k++)
		if (pc->prov[k].has_api && regexec(&pc->prov[k].api, base_url, 0, NULL, 0) == 0)
			p = &pc->prov[k];
	for (k = 0; p == NULL && k < pc->nprov; k++)
		if (pc->prov[k].has_mmatch && prices_match_test(&pc->prov[k].mmatch, id))
			p = &pc->prov[k];
	if (p == NULL)
		return 0;
	if ((m = prices_model_in(pc, p, id, 1, &p)) == NULL &&
	    prices_redate(id, redated, sizeof(redated)))
		m = prices_model_in(pc, p, redated, 1, &p);
	if (m == NULL)
		return 0;
	for (k = m->nperiods - 1; k > 0 && m->periods[k].from_ms > at_ms; k--)
		;
	memset(q, 0, sizeof(*q));
	q->price = m->periods[k].price;
	q->source = COST_SOURCE_CATALOG;
	snprintf(q->ref, sizeof(q->ref), "%s %s/%s", pc->source, p->id, m->id);
	return 1;
}

void
prices_quote(const struct prices *pc, const struct config *cfg,
    const struct config_provider *prov, const char *model, int64_t at_ms,
    struct prices_quote *q)
{
	const struct config_model_override *o;

	memset(q, 0, sizeof(*q));
	q->source = COST_SOURCE_NONE;
	if (model == NULL)
		return;
	o = cfg != NULL ? config_override(cfg, model) : NULL;
	if (o != NULL && (o->input_per_mtok >= 0 || o->output_per_mtok >= 0)) {
		q->price.input = o->input_per_mtok;
		q->price.output = o->output_per_mtok;
		q->price.cache_read = o->cache_read_per_mtok;
		q->price.cache_write = o->cache_write_per_mtok;
		q->source = COST_SOURCE_OVERRIDE;
		snprintf(q->ref, sizeof(q->ref), "[model_overrides.\"%s\"]", o->model);
		return;
	}
	(void)prices_find(pc, prov != NULL ? prov->id : NULL, prov != NULL ? prov->base_url :
	    NULL, model, at_ms, q);
}

struct cost
prices_cost(const struct usage *u, const struct prices_quote *q, enum cost_source *source)
{
	struct cost c;

	c = cost_compute(u, q != NULL && q->source != COST_SOURCE_NONE ? &q->price : NULL);
	if (c.exactness == COST_EXACTNESS_PROVIDER_REPORTED)
		*source = COST_SOURCE_PROVIDER_REPORTED;
	else if (c.exactness == COST_EXACTNESS_UNKNOWN)
		*source = COST_SOURCE_NONE;
	else
		*source = q->source;
	return c;
}

/* Providers whose bare usage.cost is dollars: by id, or by base URL prefix. */
static const struct {
	const char	*id;		/* quotapool provider id */
	const char	*url;		/* base URL prefix */
} prices_bare[] = {
	{ "openrouter", "https://openrouter.ai/" },
	{ "opencode-go", "https://opencode.ai/zen/go/" },
};

int
prices_bare_cost_usd(const struct config_provider *prov)
{
	size_t i;

	if (prov == NULL)
		return 0;
	for (i = 0; i < sizeof(prices_bare) / sizeof(prices_bare[0]); i++)
		if ((prov->id != NULL && strcmp(prov->id, prices_bare[i].id) == 0) ||
		    (prov->base_url != NULL && strncmp(prov->base_url, prices_bare[i].url,
		    strlen(prices_bare[i].url)) == 0))
			return 1;
	return 0;
}
