/* config_value.c: one key's value read by its kind: type, range and format checked, stored. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "crypto.h"
#include "passpath.h"

char *
config_strndup(struct config_ctx *c, const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL) {
		c->oom = 1;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
config_strdup(struct config_ctx *c, const char *s)
{

	return config_strndup(c, s, strlen(s));
}

void
config_set_str(char **field, char *s)
{

	crypto_free_secret(*field);
	*field = s;
}

/* Formats a number: integers in full, others with up to 15 digits. */
static const char *
config_num(double d, char *buf, size_t size)
{

	if (d >= -9e15 && d <= 9e15 && d == (double)(long long)d)
		snprintf(buf, size, "%lld", (long long)d);
	else
		snprintf(buf, size, "%.15g", d);
	return buf;
}

const char *
config_range(const struct config_key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (k->min >= k->max)
		buf[0] = '\0';
	else if (k->flags & CONFIG_F_ABOVE_MIN)
		snprintf(buf, size, "above %s, at most %s", config_num(k->min, lo, sizeof(lo)),
		    config_num(k->max, hi, sizeof(hi)));
	else
		snprintf(buf, size, "%s to %s", config_num(k->min, lo, sizeof(lo)),
		    config_num(k->max, hi, sizeof(hi)));
	return buf;
}

/* Checks a number against the key's range; reports it when outside. */
static int
config_in_range(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    double d)
{
	char r[96], num[48];

	if (d != d || d < k->min || d > k->max || ((k->flags & CONFIG_F_ABOVE_MIN) && d <= k->min)) {
		if (v->type == TOML_INTEGER)
			snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
		else
			config_num(d, num, sizeof(num));
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s is out of range (%s)",
		    c->where, k->name, num, config_range(k, r, sizeof(r)));
		return 0;
	}
	return 1;
}

static void
config_type_error(struct config_ctx *c, const struct config_key *k, const struct toml_value *v)
{
	char got[64];

	config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: expected %s, got %s", c->where,
	    k->name, config_kinds[k->kind].expected, config_got(v, got, sizeof(got)));
}

/* Finds a choice by name without case; NULL if none. */
static const struct config_choice *
config_choice_find(const struct config_choice *ch, const char *s)
{

	for (; ch->name != NULL; ch++)
		if (strcasecmp(ch->name, s) == 0)
			return ch;
	return NULL;
}

const char *
config_choice_list(const struct config_choice *ch, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	for (; ch->name != NULL; ch++) {
		if (ch->alias)
			continue;
		n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", ch->name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

/* Says why a secret cannot be used, or NULL if it looks real. Never quotes it. */
static const char *
config_secret_problem(const char *s, size_t len)
{
	static const char *const exact[] = {
		"changeme", "change-me", "change_me", "changeit", "replaceme", "todo", "tbd",
		"fixme", "placeholder", "secret", "password", "api_key", "api-key", "apikey",
		"key", "token", "sk-", "none", "null", "insert_key_here", "insert-key-here",
		"key_here", "key-here", NULL
	};
	static const char *const parts[] = {
		"replace_me", "replace-me", "changeme", "change_me", "placeholder", "your-api-key",
		"your_api_key", "your-key", "your_key", "insert_your", "insert-your", "api_key_here",
		"api-key-here", "...", "\xe2\x80\xa6", NULL
	};
	size_t i, b = 0, e = len, x = 0;
	char t[128];
	int k;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return "holds a line break or NUL byte";
	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (b == e)
		return "is empty";
	if (s[b] == '<' && s[e - 1] == '>')
		return "looks like a placeholder, not a real key";
	if (e - b >= sizeof(t))
		return NULL;
	memcpy(t, s + b, e - b);
	t[e - b] = '\0';
	if (strncasecmp(t, "your", 4) == 0 || strncasecmp(t, "sk-your", 7) == 0)
		return "looks like a placeholder, not a real key";
	for (k = 0; exact[k] != NULL; k++)
		if (strcasecmp(t, exact[k]) == 0)
			return "looks like a placeholder, not a real key";
	for (k = 0; parts[k] != NULL; k++)
		if (strcasestr(t, parts[k]) != NULL)
			return "looks like a placeholder, not a real key";
	i = strncasecmp(t, "sk-", 3) == 0 ? 3 : 0;
	for (; t[i] != '\0'; i++) {
		if (t[i] != 'x' && t[i] != 'X' && t[i] != '*')
			break;
		x++;
	}
	if (t[i] == '\0' && x >= 3)
		return "looks like a placeholder, not a real key";
	return NULL;
}

/* Checks scheme://authority[/path] with one of the schemes; 0 if fine. */
static const char *
config_url_problem(const char *s, size_t len, const char *const *schemes, int base)
{
	const char *p, *host;
	size_t i, sl = 0;
	int k, found = 0;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return "holds whitespace or control characters";
		if (base && (s[i] == '?' || s[i] == '#'))
			return "holds a query or fragment";
	}
	for (k = 0; schemes[k] != NULL; k++) {
		sl = strlen(schemes[k]);
		if (len > sl + 3 && strncasecmp(s, schemes[k], sl) == 0 &&
		    memcmp(s + sl, "://", 3) == 0) {
			found = 1;
			break;
		}
	}
	if (!found)
		return base ? "is not an absolute http or https URL" :
		    "is not an http, https, socks5 or socks5h URL";
	host = s + sl + 3;
	for (p = host; p < s + len && *p != '/'; p++) {
		if (*p == '@' && base)
			return "holds credentials (user:password@)";
	}
	if (p == host)
		return "has no host";
	if (!base) {
		/* Credentials are allowed; the host follows the last '@'. */
		for (p = host; p < s + len && *p != '/'; p++)
			if (*p == '@')
				host = p + 1;
		if (host >= s + len || *host == '/' || *host == ':')
			return "has no host";
	}
	return NULL;
}

static const char *const config_http_schemes[] = { "http", "https", NULL };
static const char *const config_proxy_schemes[] = { "http", "https", "socks5h", "socks5", NULL };

int
config_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

int
config_id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NAME_MAX || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* [A-Za-z_][A-Za-z0-9_]* */
static int
config_envname_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_ENVNAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int
config_text_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Removes "//", "/./" and a trailing "/" or "/." from an absolute path, in place. */
static void
config_normalize(char *p)
{
	char *r = p, *w = p;

	while (*r != '\0') {
		if (r[0] == '/' && r[1] == '/') {
			r++;
			continue;
		}
		if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			r += 2;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w == p) {
		p[0] = '/';
		p[1] = '\0';
	} else if (w > p + 1 && w[-1] == '/')
		w[-1] = '\0';
}

char *
config_abspath(const char *dir, const char *p)
{
	char buf[PATH_MAX];
	const char *home;
	int n;

	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		if ((home = getenv("HOME")) == NULL || home[0] != '/')
			return NULL;
		n = snprintf(buf, sizeof(buf), "%s/%s", home, p + 1);
	} else if (p[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", p);
	else
		n = snprintf(buf, sizeof(buf), "%s/%s", dir, p);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	config_normalize(buf);
	return strdup(buf);
}

/* Reads a string value for key k; 0 if it is one without NUL bytes. */
static int
config_get_string(struct config_ctx *c, const struct config_key *k, const struct toml_value *v)
{

	if (v->type != TOML_STRING) {
		config_type_error(c, k, v);
		return -1;
	}
	if (strlen(v->u.str.ptr) != v->u.str.len && k->kind != CONFIG_KIND_SECRET) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: holds a NUL byte",
		    c->where, k->name);
		return -1;
	}
	return 0;
}

/* Reads a number (integer or float) for key k and checks its range. */
static int
config_get_number(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    double *d)
{

	if (v->type == TOML_INTEGER)
		*d = (double)v->u.i;
	else if (v->type == TOML_FLOAT)
		*d = v->u.f;
	else {
		config_type_error(c, k, v);
		return -1;
	}
	return config_in_range(c, k, v, *d) ? 0 : -1;
}

/* Checks a secret's value; reports what is wrong without quoting it. */
static int
config_secret_ok(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    const char *s, size_t len, const char *var)
{
	const char *why;

	if ((why = config_secret_problem(s, len)) == NULL)
		return 1;
	if (var != NULL)
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: the value of %s %s",
		    c->where, k->name, var, why);
	else
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name, why);
	return 0;
}

static int
config_proxy_url_ok(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    const char *s, size_t len, const char *var)
{
	const char *why;

	if ((why = config_url_problem(s, len, config_proxy_schemes, 0)) == NULL)
		return 1;
	if (var != NULL)
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: the value of %s %s",
		    c->where, k->name, var, why);
	else
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name, why);
	return 0;
}

/* Reads an array of strings into a char ** field and its count. */
static void
config_set_strings(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	char ***field = (char ***)(void *)((char *)base + k->off);
	int *count = (int *)(void *)((char *)base + k->off2);
	const struct toml_value *it, *lone[1];
	struct toml_value one;
	unsigned char addr[16];
	char **arr = NULL, shown[80], got[64];
	const char *why = NULL;
	size_t i;
	int n = 0, bad = 0;

	/* A path glob list may be one string: passthrough = "*". */
	if (k->kind == CONFIG_KIND_PATHGLOBS && v->type == TOML_STRING) {
		lone[0] = v;
		one = *v;
		one.type = TOML_ARRAY;
		one.u.arr.items = (struct toml_value **)(void *)lone;
		one.u.arr.n = 1;
		v = &one;
	}
	if (v->type != TOML_ARRAY) {
		config_type_error(c, k, v);
		return;
	}
	if (v->u.arr.n > 0 && (arr = calloc(v->u.arr.n, sizeof(*arr))) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < v->u.arr.n; i++) {
		it = v->u.arr.items[i];
		if (it->type != TOML_STRING) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: expected a "
			    "string, got %s", c->where, k->name, i, config_got(it, got, sizeof(got)));
			bad = 1;
			continue;
		}
		if (it->u.str.len == 0 || strlen(it->u.str.ptr) != it->u.str.len ||
		    !config_text_ok(it->u.str.ptr, it->u.str.len) ||
		    (k->kind == CONFIG_KIND_ADDRS && inet_pton(AF_INET, it->u.str.ptr, addr) != 1 &&
		    inet_pton(AF_INET6, it->u.str.ptr, addr) != 1)) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: \"%s\" is not %s",
			    c->where, k->name, i, config_show(it->u.str.ptr, it->u.str.len, shown,
			    sizeof(shown)), k->kind == CONFIG_KIND_ADDRS ? "an IP address" :
			    "a name without control characters");
			bad = 1;
			continue;
		}
		if (k->kind == CONFIG_KIND_PATHGLOBS &&
		    !passpath_glob_ok(it->u.str.ptr, it->u.str.len, &why)) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: \"%s\" %s",
			    c->where, k->name, i, config_show(it->u.str.ptr, it->u.str.len, shown,
			    sizeof(shown)), why);
			bad = 1;
			continue;
		}
		if ((arr[n] = config_strndup(c, it->u.str.ptr, it->u.str.len)) == NULL) {
			bad = 1;
			break;
		}
		n++;
	}
	if (bad) {
		while (n > 0)
			free(arr[--n]);
		free(arr);
		return;
	}
	*field = arr;
	*count = n;
}

/* Reads an array of HTTP statuses into an int array field and its count. */
static void
config_set_statuses(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	int *field = (int *)(void *)((char *)base + k->off);
	int *count = (int *)(void *)((char *)base + k->off2);
	const struct toml_value *it;
	char got[64], r[96];
	size_t i;

	if (v->type != TOML_ARRAY) {
		config_type_error(c, k, v);
		return;
	}
	if (v->u.arr.n > CONFIG_CHECK_STATUS_MAX) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %zu statuses, at most %d",
		    c->where, k->name, v->u.arr.n, CONFIG_CHECK_STATUS_MAX);
		return;
	}
	for (i = 0; i < v->u.arr.n; i++) {
		it = v->u.arr.items[i];
		if (it->type != TOML_INTEGER) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: expected an "
			    "HTTP status (an integer), got %s", c->where, k->name, i,
			    config_got(it, got, sizeof(got)));
			return;
		}
		if (it->u.i < (int64_t)k->min || it->u.i > (int64_t)k->max) {
			config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: %lld is not an "
			    "HTTP status (%s)", c->where, k->name, i, (long long)it->u.i,
			    config_range(k, r, sizeof(r)));
			return;
		}
	}
	for (i = 0; i < v->u.arr.n; i++)
		field[i] = (int)v->u.arr.items[i]->u.i;
	*count = (int)v->u.arr.n;
}

/* Reads a CHOICE or CHOICE_STR value. */
static void
config_set_choice(struct config_ctx *c, const struct config_key *k, const struct toml_value *v,
    void *base)
{
	const struct config_choice *ch;
	char shown[80], list[160];
	char *s;

	if (v->type == TOML_TABLE && (k->flags & CONFIG_F_OR_TABLE)) {
		config_parse_sub(c, k, v, base);
		return;
	}
	if (config_get_string(c, k, v) != 0)
		return;
	ch = config_choice_find(k->choices, v->u.str.ptr);
	if (ch == NULL || ch->value < 0) {
		config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is %s (%s)",
		    c->where, k->name, config_show(v->u.str.ptr, v->u.str.len, shown,
		    sizeof(shown)), ch == NULL ? "not one of the values accepted" :
		    "not supported by quotapool", config_choice_list(k->choices, list,
		    sizeof(list)));
		return;
	}
	if (k->kind == CONFIG_KIND_CHOICE) {
		*(int *)(void *)((char *)base + k->off) = ch->value;
		return;
	}
	if ((s = config_strdup(c, ch->name)) != NULL)
		config_set_str((char **)(void *)((char *)base + k->off), s);
}

void
config_set(struct config_ctx *c, const struct config_key *k, const struct toml_kv *kv, void *base)
{
	const struct toml_value *v = kv->val, *it;
	char *field = k->off == CONFIG_NOFIELD ? NULL : (char *)base + k->off;
	const char *s, *why, *var;
	char shown[80], got[64], list[64], *p;
	unsigned mask = 0;
	size_t i, len;
	double d;
	int bad = 0;

	switch (k->kind) {
	case CONFIG_KIND_BOOL:
		if (v->type != TOML_BOOL) {
			config_type_error(c, k, v);
			return;
		}
		*(int *)(void *)field = v->u.b ? 1 : 0;
		return;
	case CONFIG_KIND_INT:
	case CONFIG_KIND_INT64:
		if (v->type != TOML_INTEGER) {
			config_type_error(c, k, v);
			return;
		}
		if (!config_in_range(c, k, v, (double)v->u.i))
			return;
		if (k->kind == CONFIG_KIND_INT)
			*(int *)(void *)field = (int)(v->u.i + k->bias);
		else
			*(int64_t *)(void *)field = v->u.i + k->bias;
		return;
	case CONFIG_KIND_FLOAT:
		if (config_get_number(c, k, v, &d) == 0)
			*(double *)(void *)field = d;
		return;
	case CONFIG_KIND_MS:
		if (config_get_number(c, k, v, &d) == 0)
			*(int *)(void *)field = (int)(d * 1000.0 + 0.5);
		return;
	case CONFIG_KIND_PRICE:
		if (config_get_number(c, k, v, &d) == 0)
			*(int64_t *)(void *)field = (int64_t)(d * 1e9 + 0.5);
		return;
	case CONFIG_KIND_CHOICE:
	case CONFIG_KIND_CHOICE_STR:
		config_set_choice(c, k, v, base);
		return;
	case CONFIG_KIND_STRINGS:
	case CONFIG_KIND_ADDRS:
	case CONFIG_KIND_PATHGLOBS:
		config_set_strings(c, k, v, base);
		return;
	case CONFIG_KIND_PROTOCOLS:
		if (v->type != TOML_ARRAY) {
			config_type_error(c, k, v);
			return;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			const struct config_choice *ch;

			it = v->u.arr.items[i];
			if (it->type != TOML_STRING) {
				config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s[%zu]: expected "
				    "a string, got %s", c->where, k->name, i,
				    config_got(it, got, sizeof(got)));
				bad = 1;
			} else if ((ch = config_choice_find(k->choices, it->u.str.ptr)) == NULL) {
				config_msg(c, CONFIG_ERROR, it->line, it->col, "%s.%s: \"%s\" is not "
				    "a protocol (%s)", c->where, k->name, config_show(it->u.str.ptr,
				    it->u.str.len, shown, sizeof(shown)),
				    config_choice_list(k->choices, list, sizeof(list)));
				bad = 1;
			} else
				mask |= (unsigned)ch->value;
		}
		if (!bad && mask == 0)
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: at least one protocol "
			    "is needed (%s)", c->where, k->name,
			    config_choice_list(k->choices, list, sizeof(list)));
		else if (!bad)
			*(unsigned *)(void *)field = mask;
		return;
	case CONFIG_KIND_STATUSES:
		config_set_statuses(c, k, v, base);
		return;
	case CONFIG_KIND_TABLES:
		return;
	case CONFIG_KIND_SUBTABLE:
		if (v->type != TOML_TABLE) {
			config_type_error(c, k, v);
			return;
		}
		config_parse_sub(c, k, v, base);
		return;
	case CONFIG_KIND_IGNORED:
		config_msg(c, CONFIG_WARNING, config_kv_line(kv), 0, "%s.%s: has no effect in this "
		    "version: %s", c->where, k->name, k->noeffect != NULL ? k->noeffect :
		    "an EggPool setting, accepted so that EggPool configurations load");
		return;
	default:
		break;
	}

	/* The string kinds. */
	if (config_get_string(c, k, v) != 0)
		return;
	s = v->u.str.ptr;
	len = v->u.str.len;
	switch (k->kind) {
	case CONFIG_KIND_SECRET:
		if (!config_secret_ok(c, k, v, s, len, NULL))
			return;
		break;
	case CONFIG_KIND_PROXY_URL:
		if (!config_proxy_url_ok(c, k, v, s, len, NULL))
			return;
		break;
	case CONFIG_KIND_ENV:
		if (!config_envname_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is not a "
			    "variable name (letters, digits and _)", c->where, k->name,
			    config_show(s, len, shown, sizeof(shown)));
			return;
		}
		if (k->off2 != CONFIG_NOFIELD) {
			if ((p = config_strndup(c, s, len)) == NULL)
				return;
			config_set_str((char **)(void *)((char *)base + k->off2), p);
		}
		var = s;
		if ((s = config_getenv(c, var)) == NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: variable %s is not set "
			    "(neither in the environment nor in %s/.env)", c->where, k->name, var,
			    c->dir);
			return;
		}
		len = strlen(s);
		if (k->vkind == CONFIG_KIND_SECRET && !config_secret_ok(c, k, v, s, len, var))
			return;
		if (k->vkind == CONFIG_KIND_PROXY_URL && !config_proxy_url_ok(c, k, v, s, len, var))
			return;
		break;
	case CONFIG_KIND_NAME:
		if (!config_name_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: \"%s\" is not a name "
			    "(1 to 64 letters, digits, _ . -)", c->where, k->name,
			    config_show(s, len, shown, sizeof(shown)));
			return;
		}
		break;
	case CONFIG_KIND_BASE_URL:
		if ((why = config_url_problem(s, len, config_http_schemes, 1)) != NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: %s", c->where, k->name,
			    why);
			return;
		}
		while (len > 0 && s[len - 1] == '/')
			len--;
		break;
	case CONFIG_KIND_URLPATH:
		if (len == 0 && (k->flags & CONFIG_F_EMPTY_NULL)) {
			config_set_str((char **)(void *)field, NULL);
			return;
		}
		if (len == 0 || s[0] != '/' || !config_text_ok(s, len) || memchr(s, ' ', len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: must start with '/' and "
			    "hold no whitespace", c->where, k->name);
			return;
		}
		break;
	case CONFIG_KIND_STRING:
	case CONFIG_KIND_PATH:
		if (len == 0 && (k->flags & CONFIG_F_EMPTY_NULL)) {
			config_set_str((char **)(void *)field, NULL);
			return;
		}
		if (len == 0 || !config_text_ok(s, len)) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: must be non-empty "
			    "text without control characters", c->where, k->name);
			return;
		}
		break;
	default:
		return;
	}
	if (k->kind == CONFIG_KIND_PATH) {
		if ((p = config_abspath(c->dir, s)) == NULL) {
			config_msg(c, CONFIG_ERROR, v->line, v->col, "%s.%s: cannot be made absolute "
			    "(too long, or ~ without $HOME)", c->where, k->name);
			return;
		}
	} else if ((p = config_strndup(c, s, len)) == NULL)
		return;
	config_set_str((char **)(void *)field, p);
}
