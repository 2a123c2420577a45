/* test_metrics.c: /metrics is valid Prometheus text (checked line by line) and says what the rows say. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "metrics.h"
#include "migrate.h"
#include "stats.h"

#define NOW_MS		1715774400000LL
#define MAX_SERIES	4096
#define MAX_FAMILIES	64

static char tmpdir[] = "/tmp/qp-test-metrics-XXXXXX";
static sqlite3 *db;
static struct stats_rollup *sru;

/* ---- a strict parser of the text exposition format 0.0.4 ---------------------------- */

/* One metric family seen. */
struct fam {
	char	 name[128];
	char	 type[16];	/* "" until its TYPE line */
	int	 help;		/* HELP lines seen */
	int	 samples;	/* samples seen */
	int	 closed;	/* 1 once another family's line came after it */
};

/* One histogram series (labels without le) being followed. */
struct hist {
	char	 family[128];
	char	 labels[512];	/* canonical labels without le */
	double	 last_le;	/* last le seen */
	double	 last_count;	/* its count */
	int	 buckets;	/* buckets seen */
	int	 inf;		/* 1 once le="+Inf" was seen */
	double	 inf_count;	/* its count */
	int	 has_sum;
	int	 has_count;
	double	 count;
};

struct checker {
	struct fam	 fams[MAX_FAMILIES];
	int		 nfams;
	int		 cur;		/* family of the previous line, -1 = none */
	char		*series[MAX_SERIES]; /* canonical name{labels} seen */
	int		 nseries;
	struct hist	 hists[256];
	int		 nhists;
	char		 err[512];	/* first problem */
	int		 line;		/* its line */
};

static int
fail(struct checker *c, int line, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
		c->line = line;
	}
	return -1;
}

static int
name_start(int ch)
{

	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
}

static int
name_char(int ch)
{

	return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* Reads a metric name at *p into out; 0 if none. */
static int
read_name(const char **p, char *out, size_t cap, int colon)
{
	size_t n = 0;

	if (!name_start((unsigned char)**p) || (!colon && **p == ':'))
		return 0;
	while (name_char((unsigned char)**p) && (colon || **p != ':')) {
		if (n + 1 >= cap)
			return 0;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return 1;
}

/* A sample value: a Go-style float, NaN or +-Inf. */
static int
parse_value(const char *s, double *v)
{
	char *end;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 ||
	    strcmp(s, "Inf") == 0) {
		*v = strcmp(s, "-Inf") == 0 ? -1e308 : 1e308;
		return 1;
	}
	if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
		return 0;
	errno = 0;
	*v = strtod(s, &end);
	return *end == '\0' && errno == 0;
}

static int
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, need, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		need = (s[i] & 0xe0) == 0xc0 ? 1 : (s[i] & 0xf0) == 0xe0 ? 2 :
		    (s[i] & 0xf8) == 0xf0 ? 3 : 0;
		if (need == 0 || n - i <= need)
			return 0;
		for (k = 1; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

/* The family a sample name belongs to, given the TYPE lines seen. */
static int
family_of(struct checker *c, const char *name, const char **suffix)
{
	static const char *const hs[3] = { "_bucket", "_sum", "_count" };
	size_t n = strlen(name), k;
	int i, j;

	*suffix = "";
	for (i = 0; i < c->nfams; i++)
		if (strcmp(c->fams[i].name, name) == 0 && strcmp(c->fams[i].type, "histogram") != 0)
			return i;
	for (i = 0; i < c->nfams; i++) {
		if (strcmp(c->fams[i].type, "histogram") != 0)
			continue;
		for (j = 0; j < 3; j++) {
			k = strlen(hs[j]);
			if (n > k && strncmp(name, c->fams[i].name, n - k) == 0 &&
			    strlen(c->fams[i].name) == n - k && strcmp(name + n - k, hs[j]) == 0) {
				*suffix = hs[j];
				return i;
			}
		}
	}
	return -1;
}

/* Parses the label set at *p ('{' ... '}') into a canonical text; *le gets le's value. */
static int
parse_labels(struct checker *c, int line, const char **p, char *canon, size_t cap,
    char *le, size_t lecap)
{
	struct lab {
		char	 name[128];
		char	 val[512];
	} labs[32];
	char lname[128];
	int n = 0, i, j;
	size_t vn, used = 0;

	le[0] = '\0';
	canon[0] = '\0';
	if (**p != '{')
		return 0;
	(*p)++;
	while (**p != '}') {
		if (n == 32)
			return fail(c, line, "too many labels");
		if (!read_name(p, lname, sizeof(lname), 0))
			return fail(c, line, "bad label name");
		if (strncmp(lname, "__", 2) == 0)
			return fail(c, line, "reserved label name %s", lname);
		if ((*p)[0] != '=' || (*p)[1] != '"')
			return fail(c, line, "label %s: expected =\"", lname);
		*p += 2;
		vn = 0;
		while (**p != '"') {
			if (**p == '\0' || **p == '\n')
				return fail(c, line, "unterminated label value");
			if (**p == '\\') {
				(*p)++;
				if (**p != '\\' && **p != '"' && **p != 'n')
					return fail(c, line, "bad escape \\%c in label %s", **p, lname);
			}
			if (vn + 2 >= sizeof(labs[0].val))
				return fail(c, line, "label value too long");
			labs[n].val[vn++] = **p == 'n' && (*p)[-1] == '\\' ? '\n' : **p;
			(*p)++;
		}
		labs[n].val[vn] = '\0';
		if (!utf8_ok((const unsigned char *)labs[n].val, vn))
			return fail(c, line, "label %s value is not UTF-8", lname);
		(*p)++;
		for (i = 0; i < n; i++)
			if (strcmp(labs[i].name, lname) == 0)
				return fail(c, line, "label %s twice", lname);
		memcpy(labs[n].name, lname, strlen(lname) + 1);
		n++;
		if (**p == ',')
			(*p)++;
		else if (**p != '}')
			return fail(c, line, "expected , or } after label %s", lname);
	}
	(*p)++;
	/* Canonical: sorted by name, le apart. */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(labs[j].name, labs[i].name) < 0) {
				struct lab t;

				memcpy(&t, &labs[i], sizeof(t));
				memcpy(&labs[i], &labs[j], sizeof(t));
				memcpy(&labs[j], &t, sizeof(t));
			}
	for (i = 0; i < n; i++) {
		if (strcmp(labs[i].name, "le") == 0) {
			if (strlen(labs[i].val) >= lecap)
				return fail(c, line, "le value too long");
			memcpy(le, labs[i].val, strlen(labs[i].val) + 1);
			continue;
		}
		used += (size_t)snprintf(canon + used, used < cap ? cap - used : 0, "%s=\"%s\",",
		    labs[i].name, labs[i].val);
	}
	return 1;
}

static struct hist *
hist_get(struct checker *c, const char *family, const char *labels)
{
	int i;

	for (i = 0; i < c->nhists; i++)
		if (strcmp(c->hists[i].family, family) == 0 && strcmp(c->hists[i].labels, labels) == 0)
			return &c->hists[i];
	if (c->nhists == 256)
		return NULL;
	if (strlen(family) >= sizeof(c->hists[0].family) ||
	    strlen(labels) >= sizeof(c->hists[0].labels))
		return NULL;
	memset(&c->hists[c->nhists], 0, sizeof(c->hists[0]));
	memmove(c->hists[c->nhists].family, family, strlen(family) + 1);
	memmove(c->hists[c->nhists].labels, labels, strlen(labels) + 1);
	c->hists[c->nhists].last_le = -1e308;
	return &c->hists[c->nhists++];
}

/* Switches the current family to f; a family may not come back once left. */
static int
enter(struct checker *c, int line, int f)
{

	if (c->cur == f)
		return 0;
	if (c->fams[f].closed)
		return fail(c, line, "family %s is split by another", c->fams[f].name);
	if (c->cur >= 0)
		c->fams[c->cur].closed = 1;
	c->cur = f;
	return 0;
}

static int
check_line(struct checker *c, int line, const char *s)
{
	char name[128], what[8], canon[2048], le[64], key[2300], val[64];
	const char *p = s, *suffix;
	struct hist *h;
	double v, lev;
	int f, i;
	size_t n;

	if (*s == '#') {
		if (strncmp(s, "# HELP ", 7) == 0)
			snprintf(what, sizeof(what), "HELP");
		else if (strncmp(s, "# TYPE ", 7) == 0)
			snprintf(what, sizeof(what), "TYPE");
		else
			return fail(c, line, "comment line that is neither HELP nor TYPE");
		p = s + 7;
		if (!read_name(&p, name, sizeof(name), 1) || *p != ' ')
			return fail(c, line, "%s without a valid metric name", what);
		p++;
		for (f = 0; f < c->nfams; f++)
			if (strcmp(c->fams[f].name, name) == 0)
				break;
		if (f == c->nfams) {
			if (f == MAX_FAMILIES)
				return fail(c, line, "too many families");
			memset(&c->fams[f], 0, sizeof(c->fams[f]));
			snprintf(c->fams[f].name, sizeof(c->fams[f].name), "%s", name);
			c->nfams++;
		}
		if (enter(c, line, f) < 0)
			return -1;
		if (what[0] == 'H') {
			if (c->fams[f].help++)
				return fail(c, line, "second HELP for %s", name);
			for (; *p; p++)
				if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
					return fail(c, line, "bad escape in HELP of %s", name);
				else if (*p == '\\')
					p++;
			return 0;
		}
		if (c->fams[f].type[0])
			return fail(c, line, "second TYPE for %s", name);
		if (c->fams[f].samples)
			return fail(c, line, "TYPE of %s after its samples", name);
		if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram") &&
		    strcmp(p, "summary") && strcmp(p, "untyped"))
			return fail(c, line, "unknown type %s", p);
		snprintf(c->fams[f].type, sizeof(c->fams[f].type), "%s", p);
		return 0;
	}
	if (!read_name(&p, name, sizeof(name), 1))
		return fail(c, line, "sample without a valid metric name");
	f = family_of(c, name, &suffix);
	if (f < 0)
		return fail(c, line, "sample %s before any TYPE of its family", name);
	if (enter(c, line, f) < 0)
		return -1;
	c->fams[f].samples++;
	canon[0] = '\0';
	le[0] = '\0';
	if (*p == '{' && parse_labels(c, line, &p, canon, sizeof(canon), le, sizeof(le)) < 0)
		return -1;
	if (*p != ' ')
		return fail(c, line, "expected a space before the value");
	p++;
	n = strcspn(p, " ");
	if (n == 0 || n >= sizeof(val))
		return fail(c, line, "missing value");
	memcpy(val, p, n);
	val[n] = '\0';
	if (!parse_value(val, &v))
		return fail(c, line, "bad value %s", val);
	if (p[n] == ' ') {
		/* A timestamp: an integer. */
		if (strspn(p + n + 1, "-0123456789") != strlen(p + n + 1) || p[n + 1] == '\0')
			return fail(c, line, "bad timestamp");
	}
	snprintf(key, sizeof(key), "%s{%s%s%s}", name, canon, le[0] ? "le=" : "", le);
	for (i = 0; i < c->nseries; i++)
		if (strcmp(c->series[i], key) == 0)
			return fail(c, line, "duplicate series %s", key);
	if (c->nseries < MAX_SERIES)
		c->series[c->nseries++] = strdup(key);
	if (strcmp(c->fams[f].type, "counter") == 0 && v < 0)
		return fail(c, line, "negative counter");
	if (strcmp(c->fams[f].type, "histogram") != 0) {
		if (le[0])
			return fail(c, line, "le label outside a histogram");
		return 0;
	}
	h = hist_get(c, c->fams[f].name, canon);
	if (h == NULL)
		return fail(c, line, "too many histogram series");
	if (strcmp(suffix, "_bucket") == 0) {
		if (!le[0])
			return fail(c, line, "bucket without le");
		if (h->inf)
			return fail(c, line, "bucket after le=\"+Inf\"");
		if (strcmp(le, "+Inf") == 0) {
			h->inf = 1;
			h->inf_count = v;
			lev = 1e308;
		} else if (!parse_value(le, &lev) || strcmp(le, "NaN") == 0)
			return fail(c, line, "bad le %s", le);
		if (lev <= h->last_le)
			return fail(c, line, "le %s not increasing", le);
		if (v < h->last_count)
			return fail(c, line, "bucket le=%s count %g below the previous %g: not cumulative",
			    le, v, h->last_count);
		h->last_le = lev;
		h->last_count = v;
		h->buckets++;
	} else {
		if (le[0])
			return fail(c, line, "le on %s", name);
		if (strcmp(suffix, "_sum") == 0)
			h->has_sum = 1;
		else {
			h->has_count = 1;
			h->count = v;
		}
	}
	return 0;
}

/* Checks a whole exposition; returns 0 or -1 with c->err and c->line set. */
static int
check_text(struct checker *c, const char *text, size_t len)
{
	char buf[8192];
	const char *p = text, *nl;
	int line = 0, i;

	memset(c, 0, sizeof(*c));
	c->cur = -1;
	if (len == 0)
		return fail(c, 0, "empty exposition");
	if (text[len - 1] != '\n')
		return fail(c, 0, "does not end with a newline");
	while (p < text + len) {
		line++;
		nl = memchr(p, '\n', (size_t)(text + len - p));
		if ((size_t)(nl - p) >= sizeof(buf))
			return fail(c, line, "line too long");
		memcpy(buf, p, (size_t)(nl - p));
		buf[nl - p] = '\0';
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			return fail(c, line, "NUL in line");
		if (buf[0] == '\0')
			return fail(c, line, "empty line");
		if (check_line(c, line, buf) < 0)
			return -1;
		p = nl + 1;
	}
	for (i = 0; i < c->nfams; i++) {
		if (!c->fams[i].type[0])
			return fail(c, 0, "family %s has no TYPE", c->fams[i].name);
		if (!c->fams[i].help)
			return fail(c, 0, "family %s has no HELP", c->fams[i].name);
	}
	for (i = 0; i < c->nhists; i++) {
		struct hist *h = &c->hists[i];

		if (!h->inf)
			return fail(c, 0, "%s{%s} has no le=\"+Inf\" bucket", h->family, h->labels);
		if (!h->has_sum || !h->has_count)
			return fail(c, 0, "%s{%s} lacks _sum or _count", h->family, h->labels);
		if (h->inf_count != h->count)
			return fail(c, 0, "%s{%s}: +Inf bucket %g differs from _count %g", h->family,
			    h->labels, h->inf_count, h->count);
	}
	return 0;
}

static void
checker_free(struct checker *c)
{
	int i;

	for (i = 0; i < c->nseries; i++)
		free(c->series[i]);
	c->nseries = 0;
}

/* ---- fixtures ------------------------------------------------------------------------ */

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static void
execf(const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	exec(sql);
}

/* Adds a finalized request and rolls it up. model is SQL text (a literal). */
static void
add(const char *provider, const char *model_sql, const char *status, int64_t total_ms,
    int64_t ttft_ms, int64_t in, int64_t out, int64_t cost)
{
	static int n;
	int64_t id;

	n++;
	execf("INSERT INTO requests (request_uid, protocol, endpoint, model_base, provider_id, "
	    "account_name, status, attempt_count, started_at, completed_at, total_ms, ttft_ms, "
	    "input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, cost_microdollars) "
	    "VALUES ('u%d', 'openai', '/v1/chat/completions', %s, '%s', 'acct', '%s', 1, %lld, "
	    "%lld, %lld, %lld, %lld, %lld, 5, 2, %lld)", n, model_sql, provider, status,
	    (long long)(NOW_MS - n * 1000 - total_ms), (long long)(NOW_MS - n * 1000),
	    (long long)total_ms, (long long)ttft_ms, (long long)in, (long long)out, (long long)cost);
	id = sqlite3_last_insert_rowid(db);
	execf("INSERT INTO request_attempts (request_id, attempt_number, provider_id, "
	    "account_name, model, started_at, completed_at, outcome, retry_category) VALUES "
	    "(%lld, 1, '%s', 'acct', 'm', %lld, %lld, '%s', %s)", (long long)id, provider,
	    (long long)(NOW_MS - n * 1000 - total_ms), (long long)(NOW_MS - n * 1000),
	    strcmp(status, "completed") == 0 ? "ok" : "transient",
	    strcmp(status, "completed") == 0 ? "NULL" : "'transient'");
	if (stats_rollup_request(sru, id) != QP_OK) {
		printf("Bail out! rollup failed: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
}

/* The value of the sample whose line starts with prefix, or -1. */
static double
sample(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p != NULL && *p) {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* Runs promtool check metrics on text; returns its exit status, -1 if it cannot run. */
static int
promtool(const char *path, const char *text, size_t len)
{
	char file[600];
	pid_t pid;
	int fd, status;

	snprintf(file, sizeof(file), "%s/metrics.txt", tmpdir);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(file, O_RDONLY);
		if (fd < 0)
			_exit(127);
		dup2(fd, 0);
		dup2(1, 2);
		execl(path, "promtool", "check", "metrics", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	unlink(file);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
main(void)
{
	static const char *const bad[] = {
		"# TYPE a counter\na 1\na 2\n",
		"a 1\n",
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\n"
		    "h_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 5\n",
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_sum 1\nh_count 5\n",
		"# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 6\n",
		"# HELP a x\n# TYPE a gauge\na{x=\"a\\q\"} 1\n",
		"# HELP a x\n# TYPE a gauge\na{x=\"a} 1\n",
		"# HELP a x\n# TYPE a gauge\na{1x=\"a\"} 1\n",
		"# HELP a x\n# TYPE a gauge\na 1x\n",
		"# HELP a x\n# TYPE a gauge\na 1",
		"# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\nb 1\na 1\n",
		"# HELP a x\n# TYPE a gauge\na 1\n# TYPE a gauge\n",
		"# HELP a x\n# TYPE a counter\na -1\n",
		"# HELP a x\n# TYPE a gauge\na{x=\"\xff\"} 1\n",
		"# TYPE a gauge\na 1\n",
	};
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	struct config_account acc[3];
	struct config_provider prov[2];
	struct config cfg;
	struct metrics_db *m;
	struct checker c;
	char dir[512], dbpath[600], errbuf[512], *buf, small[64];
	const char *tool = NULL;
	enum qp_err err;
	size_t len, i;
	int n, rc;

	/* The checker refuses what it must. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = check_text(&c, bad[i], strlen(bad[i]));
		ok(rc < 0, "checker refuses bad text %zu: %s (line %d)", i, c.err, c.line);
		checker_free(&c);
	}
	rc = check_text(&c, "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
	    "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n", strlen("# HELP h x\n# TYPE h "
	    "histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"));
	ok(rc == 0, "checker accepts a good histogram (%s)", c.err);
	checker_free(&c);

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/metrics.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	sru = stats_rollup_new(db, &err, errbuf, sizeof(errbuf));
	m = metrics_db_new(db, &err, errbuf, sizeof(errbuf));
	ok(sru != NULL && m != NULL, "statements prepare (%s)", errbuf);
	if (sru == NULL || m == NULL)
		return 1;

	memset(acc, 0, sizeof(acc));
	memset(prov, 0, sizeof(prov));
	memset(&cfg, 0, sizeof(cfg));
	acc[0].name = "a1";
	acc[0].enabled = 1;
	acc[1].name = "a2";
	acc[1].enabled = 1;
	acc[2].name = "b1";
	acc[2].enabled = 0;
	prov[0].id = "alpha";
	prov[0].enabled = 1;
	prov[0].accounts = acc;
	prov[0].naccounts = 2;
	prov[1].id = "beta";
	prov[1].enabled = 1;
	prov[1].accounts = acc + 2;
	prov[1].naccounts = 1;
	cfg.providers = prov;
	cfg.nproviders = 2;

	buf = malloc(METRICS_BUF_DEFAULT);
	err = metrics_render(m, &cfg, 0, buf, METRICS_BUF_DEFAULT, &len);
	is_int(err, QP_OK, "renders on an empty database");
	rc = check_text(&c, buf, len);
	ok(rc == 0, "empty exposition is valid (%s at line %d)", c.err, c.line);
	checker_free(&c);

	exec("BEGIN IMMEDIATE");
	add("alpha", "'m1'", "completed", 3, 2, 100, 10, 1000);
	add("alpha", "'m1'", "completed", 40, 20, 100, 10, 1000);
	add("alpha", "'m1'", "completed", 700, 300, 100, 10, 1000);
	add("alpha", "'m1'", "error", 9000, 0, 0, 0, 0);
	add("beta", "'we\"ird\\mo' || char(10) || 'del'", "completed", 2600, 1200, 7, 3, 77);
	add("beta", "'bad' || CAST(X'FF' AS TEXT) || 'utf8'", "completed", 125000, 100, 1, 1, 1);
	add("beta", "'huge'", "completed", 5000000, 100, 1, 1, 1);
	execf("INSERT INTO account_backoffs (account_name, reason, backoff_until, updated_at) "
	    "VALUES ('a2', 'auth_failure', %lld, 0)", (long long)(db_now_ms() + 3600000));
	/* Rate-limit counts: a1's smallest over its models; gone-from-the-config zz is not shown. */
	execf("INSERT INTO account_ratelimits (account_name, model_id, kind, lim, remaining, "
	    "reset_at, updated_at) VALUES ('a1', 'm1', 'requests', 100, 7, 4102444800000, 0), "
	    "('a1', 'm2', 'requests', 100, 3, 4102444800000, 0), "
	    "('zz', 'm1', 'requests', 100, 0, 4102444800000, 0), "
	    "('a1', 'm1', 'tokens', 10, 0, 1, 0)");
	exec("COMMIT");

	err = metrics_render(m, &cfg, 7, buf, METRICS_BUF_DEFAULT, &len);
	is_int(err, QP_OK, "renders");
	is_int(strlen(buf), len, "length is the text's");
	if (getenv("QP_METRICS_DUMP") != NULL) {
		FILE *fp = fopen(getenv("QP_METRICS_DUMP"), "w");

		if (fp != NULL) {
			fwrite(buf, 1, len, fp);
			fclose(fp);
		}
	}
	rc = check_text(&c, buf, len);
	ok(rc == 0, "exposition passes the strict checker (%s at line %d)", c.err, c.line);
	if (rc != 0)
		printf("# %s\n", buf);
	ok(c.nfams == 13, "thirteen families (%d)", c.nfams);
	is_int(sample(buf, "quotapool_account_ratelimit_remaining{account=\"a1\","
	    "kind=\"requests\"}"), 3, "rate-limit remaining: the smallest over models");
	is_int(sample(buf, "quotapool_account_ratelimit_limit{account=\"a1\","
	    "kind=\"requests\"}"), 100, "rate-limit limit");
	is_int(sample(buf, "quotapool_account_ratelimit_reset_timestamp_seconds{account=\"a1\","
	    "kind=\"requests\"}"), 4102444800LL, "rate-limit reset");
	ok(strstr(buf, "account=\"zz\"") == NULL, "an account not configured is not a series");
	is_int(sample(buf, "quotapool_account_ratelimit_remaining{account=\"a1\","
	    "kind=\"tokens\"}"), -1, "a count whose reset is past is not shown");
	checker_free(&c);

	is_int(sample(buf, "quotapool_requests_total{provider=\"alpha\",model=\"m1\","
	    "status=\"completed\"}"), 3, "alpha m1 completed requests");
	is_int(sample(buf, "quotapool_requests_total{provider=\"alpha\",model=\"m1\","
	    "status=\"error\"}"), 1, "alpha m1 error requests");
	ok(sample(buf, "quotapool_requests_total{provider=\"beta\",model=\"we\\\"ird\\\\mo\\ndel\","
	    "status=\"completed\"}") == 1, "quote, backslash and newline escaped in a label");
	ok(sample(buf, "quotapool_requests_total{provider=\"beta\",model=\"bad\xef\xbf\xbdutf8\","
	    "status=\"completed\"}") == 1, "invalid UTF-8 replaced by U+FFFD");
	is_int(sample(buf, "quotapool_tokens_total{provider=\"alpha\",model=\"m1\",kind=\"input\"}"),
	    300, "input tokens");
	is_int(sample(buf, "quotapool_tokens_total{provider=\"alpha\",model=\"m1\","
	    "kind=\"cache_read\"}"), 20, "cache read tokens");
	is_int(sample(buf, "quotapool_cost_microdollars_total{provider=\"alpha\",model=\"m1\"}"),
	    3000, "cost");
	is_int(sample(buf, "quotapool_attempts_total{provider=\"alpha\",outcome=\"ok\","
	    "retry_category=\"none\"}"), 3, "ok attempts");
	is_int(sample(buf, "quotapool_attempts_total{provider=\"alpha\",outcome=\"transient\","
	    "retry_category=\"transient\"}"), 1, "transient attempts");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"alpha\","
	    "le=\"0.005\"}"), 1, "3 ms falls under le=0.005");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"alpha\","
	    "le=\"0.05\"}"), 2, "40 ms under le=0.05 (cumulative)");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"alpha\","
	    "le=\"1\"}"), 3, "700 ms under le=1");
	is_int(sample(buf, "quotapool_request_duration_seconds_count{provider=\"alpha\"}"), 3,
	    "failed requests are not in the latency histogram");
	ok(sample(buf, "quotapool_request_duration_seconds_sum{provider=\"alpha\"}") > 0.7429 &&
	    sample(buf, "quotapool_request_duration_seconds_sum{provider=\"alpha\"}") < 0.7431,
	    "sum in seconds is exact");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"beta\","
	    "le=\"2.5\"}"), 0, "2.6 s is above le=2.5");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"beta\","
	    "le=\"5\"}"), 1, "2.6 s is under le=5");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"beta\","
	    "le=\"1000\"}"), 2, "5000 s is above the last finite bucket");
	is_int(sample(buf, "quotapool_request_duration_seconds_bucket{provider=\"beta\","
	    "le=\"+Inf\"}"), 3, "+Inf counts everything");
	is_int(sample(buf, "quotapool_request_ttft_seconds_bucket{provider=\"alpha\",le=\"0.005\"}"),
	    1, "ttft histogram: 2 ms under le=0.005");
	is_int(sample(buf, "quotapool_request_ttft_seconds_bucket{provider=\"alpha\",le=\"0.025\"}"),
	    2, "ttft histogram: 20 ms under le=0.025");
	is_int(sample(buf, "quotapool_accounts{state=\"ok\"}"), 1, "accounts ok");
	is_int(sample(buf, "quotapool_accounts{state=\"quarantined\"}"), 1, "accounts quarantined");
	is_int(sample(buf, "quotapool_accounts{state=\"disabled\"}"), 1, "accounts disabled");
	is_int(sample(buf, "quotapool_accounts{state=\"backoff\"}"), 0, "accounts in backoff");
	is_int(sample(buf, "quotapool_in_flight_requests"), 7, "in-flight count passed through");
	ok(strstr(buf, "quotapool_build_info{version=\"" QP_VERSION "\"} 1\n") != NULL,
	    "build info carries the version");

	is_int(sample(buf, "quotapool_backup_enabled"), 0, "backups off");
	ok(strstr(buf, "quotapool_backup_archives") == NULL,
	    "no directory: no archive gauges");

	/* The backup directory: archives counted, the newest one's time and size. */
	{
		static const char *const names[] = {
			"quotapool-backup-20260101-000000-auto.tar.gz",
			"quotapool-backup-20260102-000000.tar.gz",
			"quotapool-backup-x.tar.gz.tmp",
			"notes.txt",
		};
		char bdir[128], p[256];
		struct timespec ts[2];
		size_t bi;
		FILE *fp;

		snprintf(bdir, sizeof(bdir), "%s/backups", tmpdir);
		mkdir(bdir, 0700);
		for (bi = 0; bi < sizeof(names) / sizeof(names[0]); bi++) {
			snprintf(p, sizeof(p), "%s/%s", bdir, names[bi]);
			if ((fp = fopen(p, "w")) != NULL) {
				fprintf(fp, "%*s", (int)(10 * (bi + 1)), "");
				fclose(fp);
			}
			ts[0].tv_sec = ts[1].tv_sec = 1767225600 + (time_t)bi * 86400;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			utimensat(AT_FDCWD, p, ts, 0);
		}
		cfg.backup.enabled = 1;
		cfg.backup.directory = bdir;
		err = metrics_render(m, &cfg, 7, buf, METRICS_BUF_DEFAULT, &len);
		is_int(err, QP_OK, "renders with a backup directory");
		is_int(sample(buf, "quotapool_backup_enabled"), 1, "backups on");
		is_int(sample(buf, "quotapool_backup_archives"), 2,
		    "two archives (a .tmp and another file are not)");
		is_int(sample(buf, "quotapool_backup_bytes"), 30, "their bytes");
		is_int(sample(buf, "quotapool_backup_last_timestamp_seconds"),
		    1767225600 + 86400, "the newest one's time");
		is_int(sample(buf, "quotapool_backup_last_bytes"), 20, "the newest one's size");
		for (bi = 0; bi < sizeof(names) / sizeof(names[0]); bi++) {
			snprintf(p, sizeof(p), "%s/%s", bdir, names[bi]);
			unlink(p);
		}
		rmdir(bdir);
		cfg.backup.enabled = 0;
		cfg.backup.directory = NULL;
	}

	err = metrics_render(m, &cfg, 0, small, sizeof(small), &len);
	is_int(err, QP_ETOOBIG, "too small a buffer is refused");
	ok(len < sizeof(small) && small[len] == '\0', "and stays terminated");

	/* promtool, when Debian's prometheus package is installed. */
	if (access("/usr/bin/promtool", X_OK) == 0)
		tool = "/usr/bin/promtool";
	else if (access("/usr/local/bin/promtool", X_OK) == 0)
		tool = "/usr/local/bin/promtool";
	if (tool == NULL) {
		tap_skip("promtool not installed (apt-get install prometheus)");
	} else {
		err = metrics_render(m, &cfg, 7, buf, METRICS_BUF_DEFAULT, &len);
		rc = promtool(tool, buf, len);
		is_int(rc, 0, "promtool check metrics accepts the exposition");
	}

	free(buf);
	metrics_db_free(m);
	stats_rollup_free(sru);
	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/metrics.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/metrics.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	return tap_done();
}
