/* stats_detail.c: the reader of routing decisions' detail_json that the routing rollup counts. */
#include <string.h>

#include "stats_detail.h"

/*
 * The routing rollup counts, for each entry of a decision's
 * detail_json "accounts" array that is an object, its account,
 * provider and reason (reason "backoff" with a text "backoff" becomes
 * "backoff:KIND"), unless the reason is missing or "eligible": as
 * SQLite's JSON functions read them (stats_rollup.c). The scanner
 * below reads the details quotapool writes itself, without SQL: it
 * accepts only what it reads exactly as SQLite does (RFC 8259 JSON whose
 * keys have no escapes, an "accounts" array, and account, provider,
 * reason and backoff given at most once each, as strings of printable
 * ASCII without escapes) and leaves anything else to the SQL reading.
 */

/* Deepest nesting the scanner follows; beyond, SQLite reads. */
#define STATS_DETAIL_DEPTH	16

static const char *const stats_ekey_names[STATS_EK__MAX] = {
	[STATS_EK_ACCOUNT] = "account",
	[STATS_EK_PROVIDER] = "provider",
	[STATS_EK_REASON] = "reason",
	[STATS_EK_BACKOFF] = "backoff",
};

/* A scan of one detail (buf, len); emit gets each account entry. */
struct stats_scan {
	const char	*p;		/* next byte */
	const char	*end;		/* end of the detail */
	int		 depth;		/* containers open */
	int		(*emit)(void *, const struct stats_entry *); /* 0, or -1 to stop */
	void		*arg;		/* its argument */
};

static void
stats_scan_ws(struct stats_scan *sc)
{

	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' ||
	    *sc->p == '\r'))
		sc->p++;
}

static int
stats_scan_hex(char c)
{

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Reads a string at sc->p ('"'): its text (between the quotes) in *s,
 * *n, and *plain = 1 if it is printable ASCII without escapes (then the
 * text is its value, one character per byte). -1 if it is not valid.
 */
static int
stats_scan_string(struct stats_scan *sc, const char **s, size_t *n, int *plain)
{
	const unsigned char *q;
	int i;

	if (sc->p >= sc->end || *sc->p != '"')
		return -1;
	*s = ++sc->p;
	*plain = 1;
	for (;;) {
		if (sc->p >= sc->end)
			return -1;
		q = (const unsigned char *)sc->p;
		if (*q == '"')
			break;
		if (*q < 0x20)
			return -1;
		if (*q >= 0x7f)
			*plain = 0;
		if (*q == '\\') {
			*plain = 0;
			if (sc->end - sc->p < 2)
				return -1;
			sc->p++;
			if (*sc->p == 'u') {
				if (sc->end - sc->p < 5)
					return -1;
				for (i = 1; i <= 4; i++)
					if (!stats_scan_hex(sc->p[i]))
						return -1;
				sc->p += 4;
			} else if (strchr("\"\\/bfnrt", *sc->p) == NULL || *sc->p == '\0')
				return -1;
		}
		sc->p++;
	}
	*n = (size_t)(sc->p - *s);
	sc->p++;
	return 0;
}

/* Skips one or more digits; -1 if there is none. */
static int
stats_scan_digits(struct stats_scan *sc)
{
	const char *start = sc->p;

	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > start ? 0 : -1;
}

/* Skips a number (RFC 8259 grammar). */
static int
stats_scan_number(struct stats_scan *sc)
{

	if (sc->p < sc->end && *sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (stats_scan_digits(sc) != 0)
		return -1;
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		if (stats_scan_digits(sc) != 0)
			return -1;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (stats_scan_digits(sc) != 0)
			return -1;
	}
	return 0;
}

static int	stats_scan_value(struct stats_scan *sc);

/*
 * Reads an object or array at sc->p, calling member() for each member
 * key (objects) or value (arrays). -1 if it is not valid.
 */
static int
stats_scan_container(struct stats_scan *sc, int (*member)(struct stats_scan *, const char *,
    size_t, void *), void *arg)
{
	const char *key = NULL;
	size_t klen = 0;
	int obj, plain;
	char close;

	if (sc->p >= sc->end || (*sc->p != '{' && *sc->p != '['))
		return -1;
	obj = *sc->p == '{';
	close = obj ? '}' : ']';
	if (++sc->depth > STATS_DETAIL_DEPTH)
		return -1;
	sc->p++;
	stats_scan_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		sc->depth--;
		return 0;
	}
	for (;;) {
		if (obj) {
			/* Keys with escapes compare differently across SQLite versions. */
			if (stats_scan_string(sc, &key, &klen, &plain) != 0 ||
			    memchr(key, '\\', klen) != NULL)
				return -1;
			stats_scan_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return -1;
			sc->p++;
			stats_scan_ws(sc);
		}
		if (member(sc, key, klen, arg) != 0)
			return -1;
		stats_scan_ws(sc);
		if (sc->p < sc->end && *sc->p == ',') {
			sc->p++;
			stats_scan_ws(sc);
			continue;
		}
		if (sc->p < sc->end && *sc->p == close)
			break;
		return -1;
	}
	sc->p++;
	sc->depth--;
	return 0;
}

/* A member of a container skipped whole. */
static int
stats_scan_skip(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{

	(void)key;
	(void)klen;
	(void)arg;
	return stats_scan_value(sc);
}

/* Skips one value of any kind. -1 if it is not valid. */
static int
stats_scan_value(struct stats_scan *sc)
{
	static const char *const lit[] = { "true", "false", "null" };
	const char *s;
	size_t i, n;
	int plain;

	if (sc->p >= sc->end)
		return -1;
	switch (*sc->p) {
	case '{':
	case '[':
		return stats_scan_container(sc, stats_scan_skip, NULL);
	case '"':
		return stats_scan_string(sc, &s, &n, &plain);
	case 't':
	case 'f':
	case 'n':
		for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
			n = strlen(lit[i]);
			if ((size_t)(sc->end - sc->p) >= n && memcmp(sc->p, lit[i], n) == 0) {
				sc->p += n;
				return 0;
			}
		}
		return -1;
	default:
		return stats_scan_number(sc);
	}
}

/* A member of an account entry: keeps account, provider, reason and backoff. */
static int
stats_scan_entry_member(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	struct stats_entry *e = arg;
	const char *s;
	size_t n;
	int k, plain;

	for (k = 0; k < STATS_EK__MAX; k++)
		if (strlen(stats_ekey_names[k]) == klen &&
		    memcmp(stats_ekey_names[k], key, klen) == 0)
			break;
	if (k == STATS_EK__MAX)
		return stats_scan_value(sc);
	/* Given twice, or not as plain text: SQLite's reading decides. */
	if (e->v[k] != NULL || stats_scan_string(sc, &s, &n, &plain) != 0 || !plain)
		return -1;
	e->v[k] = s;
	e->n[k] = n;
	return 0;
}

/* An element of "accounts": objects are account entries, anything else is skipped. */
static int
stats_scan_account(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	struct stats_entry e;

	(void)key;
	(void)klen;
	(void)arg;
	if (sc->p >= sc->end || *sc->p != '{')
		return stats_scan_value(sc);
	memset(&e, 0, sizeof(e));
	if (stats_scan_container(sc, stats_scan_entry_member, &e) != 0)
		return -1;
	return sc->emit(sc->arg, &e);
}

/* A member of the detail: "accounts" (once, an array or a scalar) is read, the rest skipped. */
static int
stats_scan_top(struct stats_scan *sc, const char *key, size_t klen, void *arg)
{
	int *seen = arg;

	if (klen != 8 || memcmp(key, "accounts", 8) != 0)
		return stats_scan_value(sc);
	if ((*seen)++ > 0 || sc->p >= sc->end || *sc->p == '{')
		return -1;
	if (*sc->p == '[')
		return stats_scan_container(sc, stats_scan_account, NULL);
	return stats_scan_value(sc);
}

int
stats_detail_scan(const char *buf, size_t len, int (*emit)(void *,
    const struct stats_entry *), void *arg)
{
	struct stats_scan sc;
	int seen = 0;

	memset(&sc, 0, sizeof(sc));
	sc.p = buf;
	sc.end = buf + len;
	sc.emit = emit;
	sc.arg = arg;
	stats_scan_ws(&sc);
	if (sc.p >= sc.end || *sc.p != '{' ||
	    stats_scan_container(&sc, stats_scan_top, &seen) != 0)
		return -1;
	stats_scan_ws(&sc);
	return sc.p == sc.end ? 0 : -1;
}
