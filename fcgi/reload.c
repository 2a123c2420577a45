/* reload.c: a running process's new configuration: read, checked, settings fixed at start kept, changes listed. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bounds.h"
#include "crypto.h"
#include "reload.h"

/* How a setting fixed at start is stored in struct config. */
enum reload_kind {
	RELOAD_INT,		/* int */
	RELOAD_STR,		/* char *, NULL allowed */
	RELOAD_KIND__MAX
};

/* A setting a running process cannot change, and why. */
struct reload_fixed {
	const char	*name;		/* section.key as in the file */
	enum reload_kind kind;
	size_t		 off;		/* offset in struct config */
};

/*
 * Settings read once at start: the listening socket and the threads are
 * set up before the first request, the database connections stay open,
 * the privileges are dropped once, the web server (serve) listens on
 * host:port, and the log level and the throttle of failed key checks are
 * kept where other threads read them without a lock.
 */
static const struct reload_fixed reload_fixed[] = {
	{ "server.host", RELOAD_STR, offsetof(struct config, server.host) },
	{ "server.port", RELOAD_INT, offsetof(struct config, server.port) },
	{ "server.threads", RELOAD_INT, offsetof(struct config, server.threads) },
	{ "server.state_dir", RELOAD_STR, offsetof(struct config, server.state_dir) },
	{ "server.socket", RELOAD_STR, offsetof(struct config, server.socket) },
	{ "server.user", RELOAD_STR, offsetof(struct config, server.user) },
	{ "server.allow_core_dumps", RELOAD_INT,
	  offsetof(struct config, server.allow_core_dumps) },
	{ "server.log_level", RELOAD_INT, offsetof(struct config, server.log_level) },
	{ "database.path", RELOAD_STR, offsetof(struct config, database.path) },
	{ "database.busy_timeout_ms", RELOAD_INT,
	  offsetof(struct config, database.busy_timeout_ms) },
	{ "database.synchronous", RELOAD_STR, offsetof(struct config, database.synchronous) },
	{ "security.max_auth_failures_per_minute", RELOAD_INT,
	  offsetof(struct config, security.max_auth_failures) },
};

#define RELOAD_NFIXED	(sizeof(reload_fixed) / sizeof(reload_fixed[0]))

static const char *const reload_what_names[RELOAD_WHAT__MAX] = {
	[RELOAD_ACCOUNTS] = "accounts",
	[RELOAD_PROVIDERS] = "providers",
	[RELOAD_OVERRIDES] = "model_overrides",
};

static const char *const reload_change_names[RELOAD_CHANGE__MAX] = {
	[RELOAD_ADDED] = "added",
	[RELOAD_REMOVED] = "removed",
	[RELOAD_ENABLED] = "enabled",
	[RELOAD_DISABLED] = "disabled",
	[RELOAD_CHANGED] = "changed",
};

const char *
reload_what_name(enum reload_what w)
{

	return (unsigned)w < RELOAD_WHAT__MAX ? reload_what_names[w] : "unknown";
}

const char *
reload_change_name(enum reload_change c)
{

	return (unsigned)c < RELOAD_CHANGE__MAX ? reload_change_names[c] : "unknown";
}

void
reload_report_free(struct reload_report *rep)
{
	int i, w, c;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->nmsgs; i++)
		free(rep->msgs[i]);
	for (w = 0; w < RELOAD_WHAT__MAX; w++)
		for (c = 0; c < RELOAD_CHANGE__MAX; c++)
			for (i = 0; i < rep->changes[w][c].n && i < RELOAD_NAMES_MAX; i++)
				free(rep->changes[w][c].name[i]);
	memset(rep, 0, sizeof(*rep));
}

/* Keeps one more message line. 0 or -1 (out of memory). */
static int
reload_msg(struct reload_report *rep, const char *line, size_t len)
{

	if (rep->nmsgs >= RELOAD_MSG_MAX)
		return 0;
	if ((rep->msgs[rep->nmsgs] = strndup(line, len)) == NULL)
		return -1;
	rep->nmsgs++;
	return 0;
}

/* Keeps diag's lines as check-config prints them. 0 or -1. */
static int
reload_diag(struct reload_report *rep, const struct config_diag *diag, const char *path)
{
	char *text = NULL, *p, *nl;
	size_t size = 0;
	FILE *fp;
	int rc = 0;

	rep->nerrors = diag->nerrors;
	if (diag->n == 0)
		return 0;
	if ((fp = open_memstream(&text, &size)) == NULL)
		return -1;
	config_diag_print(diag, path, fp);
	if (fclose(fp) != 0) {
		free(text);
		return -1;
	}
	for (p = text; p != NULL && *p != '\0' && rc == 0; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		rc = reload_msg(rep, p, (size_t)(nl - p));
		if (*nl == '\0')
			break;
	}
	free(text);
	return rc;
}

/* Reads path whole into *buf (malloc'd, the caller wipes and frees it). */
static enum qp_err
reload_read(const char *path, char **buf, size_t *len, struct reload_report *rep)
{
	struct stat st;
	const char *why;
	char line[512];
	ssize_t r;
	int fd;

	*buf = NULL;
	*len = 0;
	why = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (why != NULL) {
		snprintf(line, sizeof(line), "%s: error: cannot read: %s", path, why);
		if (fd >= 0)
			close(fd);
		rep->nerrors = 1;
		return reload_msg(rep, line, strlen(line)) == 0 ? QP_EIO : QP_ENOMEM;
	}
	if (st.st_size > QP_CONFIG_MAX) {
		close(fd);
		snprintf(line, sizeof(line), "%s: error: the file is larger than %d bytes",
		    path, QP_CONFIG_MAX);
		rep->nerrors = 1;
		return reload_msg(rep, line, strlen(line)) == 0 ? QP_ECONFIG : QP_ENOMEM;
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return QP_ENOMEM;
	}
	while (*len < (size_t)st.st_size) {
		r = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	close(fd);
	return QP_OK;
}

/* Returns 1 if fixed setting f differs between a and b. */
static int
reload_fixed_differs(const struct reload_fixed *f, const struct config *a,
    const struct config *b)
{
	const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
	const char *sa, *sb;

	if (f->kind == RELOAD_INT)
		return *(const int *)(const void *)pa != *(const int *)(const void *)pb;
	sa = *(char *const *)(const void *)pa;
	sb = *(char *const *)(const void *)pb;
	if (sa == NULL || sb == NULL)
		return sa != sb;
	return strcmp(sa, sb) != 0;
}

/* Gives nc old's value of every fixed setting that differs, naming each. 0 or -1. */
static int
reload_keep_fixed(const struct config *old, struct config *nc, struct reload_report *rep)
{
	const struct reload_fixed *f;
	char *dst, *copy, **sp;
	const char *src;
	size_t i;

	for (i = 0; i < RELOAD_NFIXED; i++) {
		f = &reload_fixed[i];
		if (!reload_fixed_differs(f, old, nc))
			continue;
		dst = (char *)nc + f->off;
		src = (const char *)old + f->off;
		if (f->kind == RELOAD_INT)
			*(int *)(void *)dst = *(const int *)(const void *)src;
		else {
			copy = NULL;
			if (*(char *const *)(const void *)src != NULL &&
			    (copy = strdup(*(char *const *)(const void *)src)) == NULL)
				return -1;
			sp = (char **)(void *)dst;
			free(*sp);
			*sp = copy;
		}
		if (rep->nrestart < (int)(sizeof(rep->restart) / sizeof(rep->restart[0])))
			rep->restart[rep->nrestart++] = f->name;
	}
	return 0;
}

/* Adds name to a list. 0 or -1. */
static int
reload_note(struct reload_report *rep, enum reload_what w, enum reload_change c,
    const char *name)
{
	struct reload_names *l = &rep->changes[w][c];

	if (l->n < RELOAD_NAMES_MAX && (l->name[l->n] = strdup(name)) == NULL)
		return -1;
	l->n++;
	return 0;
}

/* Finds the account called name in cfg; *prov gets its provider. */
static const struct config_account *
reload_account(const struct config *cfg, const char *name,
    const struct config_provider **prov)
{
	int i, j;

	for (i = 0; i < cfg->nproviders; i++)
		for (j = 0; j < cfg->providers[i].naccounts; j++)
			if (strcmp(cfg->providers[i].accounts[j].name, name) == 0) {
				*prov = &cfg->providers[i];
				return &cfg->providers[i].accounts[j];
			}
	return NULL;
}

/* Returns 1 if two optional texts differ; compared in constant time when secret. */
static int
reload_text_differs(const char *a, const char *b, int secret)
{
	size_t n;

	a = a != NULL ? a : "";
	b = b != NULL ? b : "";
	n = strlen(a);
	if (n != strlen(b))
		return 1;
	return secret ? !crypto_equal(a, b, n) : strcmp(a, b) != 0;
}

/* Returns 1 if two accounts renew their tokens differently (their refresh tables). */
static int
reload_refresh_differs(const struct config_refresh *a, const struct config_refresh *b)
{

	return reload_text_differs(a->url, b->url, 0) ||
	    reload_text_differs(a->body, b->body, 1) || a->method != b->method ||
	    a->form != b->form || reload_text_differs(a->token_field, b->token_field, 0) ||
	    reload_text_differs(a->expires_field, b->expires_field, 0) ||
	    reload_text_differs(a->refresh_token_field, b->refresh_token_field, 0) ||
	    a->skew_ms != b->skew_ms || a->timeout_ms != b->timeout_ms;
}

/* Returns 1 if an account differs in anything selection or the transport uses. */
static int
reload_account_differs(const struct config_account *a, const struct config_account *b)
{
	const char *ka = a->api_key != NULL ? a->api_key : "";
	const char *kb = b->api_key != NULL ? b->api_key : "";
	const char *pa = a->proxy_url != NULL ? a->proxy_url : "";
	const char *pb = b->proxy_url != NULL ? b->proxy_url : "";

	return a->weight != b->weight ||
	    memcmp(a->quota, b->quota, sizeof(a->quota)) != 0 ||
	    strlen(ka) != strlen(kb) || !crypto_equal(ka, kb, strlen(ka)) ||
	    strcmp(pa, pb) != 0 || reload_refresh_differs(&a->refresh, &b->refresh);
}

/* Lists the accounts added, removed, enabled, disabled and changed. 0 or -1. */
static int
reload_diff_accounts(const struct config *old, const struct config *nc,
    struct reload_report *rep)
{
	const struct config_provider *p, *q;
	const struct config_account *a, *b;
	enum reload_change c;
	int i, j;

	for (i = 0; i < nc->nproviders; i++)
		for (j = 0; j < nc->providers[i].naccounts; j++) {
			a = &nc->providers[i].accounts[j];
			if ((b = reload_account(old, a->name, &q)) == NULL)
				c = RELOAD_ADDED;
			else if (a->enabled != b->enabled)
				c = a->enabled ? RELOAD_ENABLED : RELOAD_DISABLED;
			else if (strcmp(q->id, nc->providers[i].id) != 0 ||
			    reload_account_differs(a, b))
				c = RELOAD_CHANGED;
			else
				continue;
			if (reload_note(rep, RELOAD_ACCOUNTS, c, a->name) != 0)
				return -1;
		}
	for (i = 0; i < old->nproviders; i++)
		for (j = 0; j < old->providers[i].naccounts; j++) {
			a = &old->providers[i].accounts[j];
			if (reload_account(nc, a->name, &p) == NULL &&
			    reload_note(rep, RELOAD_ACCOUNTS, RELOAD_REMOVED, a->name) != 0)
				return -1;
		}
	return 0;
}

/* Returns 1 if two strings that may be NULL differ. */
static int
reload_str_differs(const char *a, const char *b)
{

	return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0 || (a == NULL) != (b == NULL);
}

/* Returns 1 if two providers' health checks differ. */
static int
reload_check_differs(const struct config_provider *a, const struct config_provider *b)
{
	const struct config_check *x = &a->check, *y = &b->check;

	return x->type != y->type || x->method != y->method || x->timeout_ms != y->timeout_ms ||
	    x->nexpect_status != y->nexpect_status ||
	    memcmp(x->expect_status, y->expect_status, sizeof(x->expect_status)) != 0 ||
	    reload_str_differs(x->path, y->path) ||
	    reload_str_differs(x->expect_body, y->expect_body) ||
	    reload_str_differs(x->cmd, y->cmd) ||
	    reload_str_differs(x->expect_output, y->expect_output) ||
	    (x->type != CONFIG_CHECK_NONE && a->check_interval_ms != b->check_interval_ms);
}

/* Returns 1 if two providers differ in a setting of their own (accounts aside). */
static int
reload_provider_differs(const struct config_provider *a, const struct config_provider *b)
{
	int i;

	if (reload_check_differs(a, b))
		return 1;
	if (strcmp(a->base_url, b->base_url) != 0 || a->protocols != b->protocols ||
	    a->routing_priority != b->routing_priority || a->auth != b->auth ||
	    a->nmodels != b->nmodels || a->connect_timeout_ms != b->connect_timeout_ms ||
	    a->first_byte_timeout_ms != b->first_byte_timeout_ms ||
	    a->idle_timeout_ms != b->idle_timeout_ms)
		return 1;
	for (i = 0; i < a->nmodels; i++)
		if (strcmp(a->models[i] != NULL ? a->models[i] : "",
		    b->models[i] != NULL ? b->models[i] : "") != 0)
			return 1;
	if (a->npassthrough != b->npassthrough)
		return 1;
	for (i = 0; i < a->npassthrough; i++)
		if (strcmp(a->passthrough[i], b->passthrough[i]) != 0)
			return 1;
	return 0;
}

/* Lists the providers added, removed, enabled, disabled and changed. 0 or -1. */
static int
reload_diff_providers(const struct config *old, const struct config *nc,
    struct reload_report *rep)
{
	const struct config_provider *a, *b;
	enum reload_change c;
	int i;

	for (i = 0; i < nc->nproviders; i++) {
		a = &nc->providers[i];
		if ((b = config_provider(old, a->id)) == NULL)
			c = RELOAD_ADDED;
		else if (a->enabled != b->enabled)
			c = a->enabled ? RELOAD_ENABLED : RELOAD_DISABLED;
		else if (reload_provider_differs(a, b))
			c = RELOAD_CHANGED;
		else
			continue;
		if (reload_note(rep, RELOAD_PROVIDERS, c, a->id) != 0)
			return -1;
	}
	for (i = 0; i < old->nproviders; i++)
		if (config_provider(nc, old->providers[i].id) == NULL &&
		    reload_note(rep, RELOAD_PROVIDERS, RELOAD_REMOVED,
		    old->providers[i].id) != 0)
			return -1;
	return 0;
}

/* Returns 1 if two overrides of one model differ. */
static int
reload_override_differs(const struct config_model_override *a,
    const struct config_model_override *b)
{

	return a->protocol != b->protocol || a->input_per_mtok != b->input_per_mtok ||
	    a->output_per_mtok != b->output_per_mtok ||
	    a->cache_read_per_mtok != b->cache_read_per_mtok ||
	    a->cache_write_per_mtok != b->cache_write_per_mtok ||
	    a->max_context_tokens != b->max_context_tokens ||
	    a->max_output_tokens != b->max_output_tokens;
}

/* Lists the [model_overrides] added, removed and changed (prices, limits). 0 or -1. */
static int
reload_diff_overrides(const struct config *old, const struct config *nc,
    struct reload_report *rep)
{
	const struct config_model_override *a, *b;
	enum reload_change c;
	int i;

	for (i = 0; i < nc->noverrides; i++) {
		a = &nc->overrides[i];
		if (a->model == NULL)
			continue;
		if ((b = config_override(old, a->model)) == NULL)
			c = RELOAD_ADDED;
		else if (reload_override_differs(a, b))
			c = RELOAD_CHANGED;
		else
			continue;
		if (reload_note(rep, RELOAD_OVERRIDES, c, a->model) != 0)
			return -1;
	}
	for (i = 0; i < old->noverrides; i++)
		if (old->overrides[i].model != NULL &&
		    config_override(nc, old->overrides[i].model) == NULL &&
		    reload_note(rep, RELOAD_OVERRIDES, RELOAD_REMOVED,
		    old->overrides[i].model) != 0)
			return -1;
	return 0;
}

struct config *
reload_load(const struct config *old, const char *path, struct reload_report *rep,
    enum qp_err *err)
{
	struct config_diag diag = { NULL, 0, 0 };
	struct config *nc = NULL;
	unsigned char digest[32];
	char *buf = NULL;
	size_t len = 0;

	memset(rep, 0, sizeof(*rep));
	if ((*err = reload_read(path, &buf, &len, rep)) != QP_OK)
		goto out;
	if ((*err = crypto_sha256(buf, len, digest)) != QP_OK)
		goto out;
	crypto_hex(digest, sizeof(digest), rep->sha256);
	nc = config_load_buf(buf, len, path, &diag, err);
	if (reload_diag(rep, &diag, path) != 0) {
		*err = QP_ENOMEM;
		goto fail;
	}
	if (nc == NULL)
		goto out;
	if (reload_keep_fixed(old, nc, rep) != 0 ||
	    reload_diff_accounts(old, nc, rep) != 0 ||
	    reload_diff_providers(old, nc, rep) != 0 ||
	    reload_diff_overrides(old, nc, rep) != 0) {
		*err = QP_ENOMEM;
		goto fail;
	}
	rep->routing = memcmp(&old->routing, &nc->routing, sizeof(nc->routing)) != 0;
	rep->limits = memcmp(&old->limits, &nc->limits, sizeof(nc->limits)) != 0;
	*err = QP_OK;
	goto out;
fail:
	config_free(nc);
	nc = NULL;
out:
	if (buf != NULL) {
		crypto_wipe(buf, len);
		free(buf);
	}
	config_diag_free(&diag);
	return nc;
}

/* Adds an array of strings to o under key. 0 or -1. */
static int
reload_json_strings(cJSON *o, const char *key, char *const *v, int n)
{
	cJSON *arr, *s;
	int i;

	if ((arr = cJSON_AddArrayToObject(o, key)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((s = cJSON_CreateString(v[i])) == NULL)
			return -1;
		cJSON_AddItemToArray(arr, s);
	}
	return 0;
}

char *
reload_details_json(const struct reload_report *rep, long pid, int64_t process_id,
    uint64_t generation)
{
	const struct reload_names *l;
	cJSON *o = NULL, *ch, *wo;
	char *text = NULL;
	int w, c, n, failed = generation == 0;

	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(o, "pid", (double)pid) == NULL ||
	    cJSON_AddNumberToObject(o, "process_id", (double)process_id) == NULL ||
	    cJSON_AddStringToObject(o, "sha256", rep->sha256) == NULL ||
	    cJSON_AddNumberToObject(o, "generation", (double)generation) == NULL ||
	    reload_json_strings(o, failed ? "errors" : "warnings", rep->msgs,
	    rep->nmsgs) != 0 ||
	    reload_json_strings(o, "restart_needed", (char *const *)rep->restart,
	    rep->nrestart) != 0 ||
	    (ch = cJSON_AddObjectToObject(o, "changes")) == NULL ||
	    cJSON_AddBoolToObject(o, "routing", rep->routing) == NULL ||
	    cJSON_AddBoolToObject(o, "limits", rep->limits) == NULL)
		goto out;
	for (w = 0; w < RELOAD_WHAT__MAX; w++) {
		wo = NULL;
		for (c = 0; c < RELOAD_CHANGE__MAX; c++) {
			l = &rep->changes[w][c];
			if (l->n == 0)
				continue;
			if (wo == NULL && (wo = cJSON_AddObjectToObject(ch,
			    reload_what_names[w])) == NULL)
				goto out;
			n = l->n < RELOAD_NAMES_MAX ? l->n : RELOAD_NAMES_MAX;
			if (reload_json_strings(wo, reload_change_names[c], l->name, n) != 0)
				goto out;
		}
	}
	text = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return text;
}

void
reload_summary(const struct reload_report *rep, char *buf, size_t len)
{
	const struct reload_names *l;
	size_t used = 0;
	int w, c, i, m;

	buf[0] = '\0';
	for (w = 0; w < RELOAD_WHAT__MAX; w++)
		for (c = 0; c < RELOAD_CHANGE__MAX; c++) {
			l = &rep->changes[w][c];
			if (l->n == 0 || used >= len)
				continue;
			m = snprintf(buf + used, len - used, "%s%s %s:", used > 0 ? "; " : "",
			    reload_what_names[w], reload_change_names[c]);
			used += m > 0 ? (size_t)m : 0;
			for (i = 0; i < l->n && i < RELOAD_NAMES_MAX && used < len; i++) {
				m = snprintf(buf + used, len - used, " %s", l->name[i]);
				used += m > 0 ? (size_t)m : 0;
			}
			if (l->n > RELOAD_NAMES_MAX && used < len) {
				m = snprintf(buf + used, len - used, " (and %d more)",
				    l->n - RELOAD_NAMES_MAX);
				used += m > 0 ? (size_t)m : 0;
			}
		}
	if (rep->routing && used < len) {
		m = snprintf(buf + used, len - used, "%s[routing] changed", used > 0 ? "; " : "");
		used += m > 0 ? (size_t)m : 0;
	}
	if (rep->limits && used < len) {
		m = snprintf(buf + used, len - used, "%s[limits] changed", used > 0 ? "; " : "");
		used += m > 0 ? (size_t)m : 0;
	}
	if (used == 0)
		snprintf(buf, len, "no account, provider, price, routing or limit changed");
}
