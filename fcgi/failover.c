/* failover.c: classification of upstream outcomes, backoff arithmetic and the account_backoffs table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "db.h"
#include "failover.h"

/* Consecutive failures are counted up to here. */
#define FAILOVER_COUNT_MAX	1000000

enum failover_stmt {
	FAILOVER_STMT_GET,	/* one row: an account's ('') or one of its models' */
	FAILOVER_STMT_UPSERT,	/* write one row */
	FAILOVER_STMT_DELETE,	/* clear an account's row and one model's */
	FAILOVER_STMT__MAX
};

static const char *const failover_sql[FAILOVER_STMT__MAX] = {
	[FAILOVER_STMT_GET] = "SELECT reason, backoff_until, consecutive_failures, "
	    "status_code, error_class FROM account_backoffs WHERE account_name = ?1 "
	    "AND model_id = ?2",
	[FAILOVER_STMT_UPSERT] = "INSERT INTO account_backoffs (account_name, model_id, scope, "
	    "reason, backoff_until, consecutive_failures, status_code, error_class, updated_at) "
	    "VALUES (?1, ?8, ?9, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (account_name, model_id) "
	    "DO UPDATE SET reason = ?2, backoff_until = ?3, consecutive_failures = ?4, "
	    "status_code = ?5, error_class = ?6, updated_at = ?7",
	[FAILOVER_STMT_DELETE] = "DELETE FROM account_backoffs WHERE account_name = ?1 "
	    "AND model_id IN ('', ?2)",
};

struct failover_db {
	sqlite3		*db;			/* borrowed connection */
	sqlite3_stmt	*st[FAILOVER_STMT__MAX];	/* prepared statements */
};

static const char *const failover_outcome_names[FAILOVER_OUTCOME__MAX] = {
	[FAILOVER_OUTCOME_OK] = "ok",
	[FAILOVER_OUTCOME_RATE_LIMITED] = "rate_limited",
	[FAILOVER_OUTCOME_QUOTA_EXCEEDED] = "quota_exceeded",
	[FAILOVER_OUTCOME_AUTH_FAILURE] = "auth_failure",
	[FAILOVER_OUTCOME_TRANSIENT] = "transient",
	[FAILOVER_OUTCOME_MODEL_UNAVAILABLE] = "model_unavailable",
	[FAILOVER_OUTCOME_CLIENT_ERROR] = "client_error",
	[FAILOVER_OUTCOME_CLIENT_DISCONNECTED] = "client_disconnected",
	[FAILOVER_OUTCOME_STREAM_ERROR] = "stream_error",
	[FAILOVER_OUTCOME_LOCAL_ERROR] = "local_error",
	[FAILOVER_OUTCOME_INTERRUPTED] = "interrupted",
};

static const char *const failover_category_names[FAILOVER_CAT__MAX] = {
	[FAILOVER_CAT_NONE] = NULL,
	[FAILOVER_CAT_AUTH_FAILURE] = "auth_failure",
	[FAILOVER_CAT_QUOTA_EXCEEDED] = "quota_exceeded",
	[FAILOVER_CAT_TRANSIENT] = "transient",
	[FAILOVER_CAT_BAD_REQUEST] = "bad_request",
	[FAILOVER_CAT_NEVER] = "never",
	[FAILOVER_CAT_MODEL_UNAVAILABLE] = "model_unavailable",
};

static const char *const failover_reason_names[FAILOVER_REASON__MAX] = {
	[FAILOVER_REASON_RATE_LIMITED] = "rate_limited",
	[FAILOVER_REASON_QUOTA_EXCEEDED] = "quota_exceeded",
	[FAILOVER_REASON_AUTH_FAILURE] = "auth_failure",
	[FAILOVER_REASON_TRANSIENT] = "transient",
	[FAILOVER_REASON_CIRCUIT_OPEN] = "circuit_open",
	[FAILOVER_REASON_MODEL_UNAVAILABLE] = "model_unavailable",
	[FAILOVER_REASON_HEALTH_CHECK] = "health_check",
};

static const char *const failover_scope_names[FAILOVER_SCOPE__MAX] = {
	[FAILOVER_SCOPE_ACCOUNT] = "account",
	[FAILOVER_SCOPE_MODEL] = "model",
};

/* Body wording that makes a 429, 402 or 403 a quota or billing matter. */
static const char *const failover_quota_words[] = {
	"quota", "billing", "credit", "insufficient", "exceeded your current quota",
};

/* Body wording that makes a 403 a credentials matter. */
static const char *const failover_auth_words[] = {
	"auth", "api key", "api_key", "api-key", "apikey", "credential", "permission",
	"access denied", "invalid key", "invalid_key",
};

/* Body wording of a prompt longer than the model's context (any 4xx or 5xx). */
static const char *const failover_context_words[] = {
	"context_length", "context length", "context window", "context size",
	"maximum context", "prompt is too long", "exceed_context",
};

/* Body wording of a 404 about the model: one of these ... */
static const char *const failover_model_words[] = { "model" };

/* ... and one of these. */
static const char *const failover_absent_words[] = {
	"not found", "not_found", "does not exist", "not exist", "no such", "unknown",
};

/* What a transport error (CURLcode) means, when no HTTP status decides. */
struct failover_curl {
	int		 code;		/* CURLcode */
	int		 local;		/* 1: quotapool's own fault */
	const char	*class;		/* error_class */
};

static const struct failover_curl failover_curl_table[] = {
	{ CURLE_UNSUPPORTED_PROTOCOL, 1, "unsupported_protocol" },
	{ CURLE_FAILED_INIT, 1, "local_error" },
	{ CURLE_URL_MALFORMAT, 1, "bad_url" },
	{ CURLE_NOT_BUILT_IN, 1, "local_error" },
	{ CURLE_COULDNT_RESOLVE_PROXY, 0, "dns_error" },
	{ CURLE_COULDNT_RESOLVE_HOST, 0, "dns_error" },
	{ CURLE_COULDNT_CONNECT, 0, "connect_error" },
	{ CURLE_WEIRD_SERVER_REPLY, 0, "protocol_error" },
	{ CURLE_HTTP2, 0, "protocol_error" },
	{ CURLE_PARTIAL_FILE, 0, "protocol_error" },
	{ CURLE_WRITE_ERROR, 1, "local_error" },
	{ CURLE_READ_ERROR, 1, "local_error" },
	{ CURLE_OUT_OF_MEMORY, 1, "out_of_memory" },
	{ CURLE_OPERATION_TIMEDOUT, 0, "timeout" },
	{ CURLE_SSL_CONNECT_ERROR, 0, "tls_error" },
	{ CURLE_ABORTED_BY_CALLBACK, 1, "local_error" },
	{ CURLE_BAD_FUNCTION_ARGUMENT, 1, "local_error" },
	{ CURLE_UNKNOWN_OPTION, 1, "local_error" },
	{ CURLE_GOT_NOTHING, 0, "empty_reply" },
	{ CURLE_SSL_ENGINE_NOTFOUND, 1, "local_error" },
	{ CURLE_SSL_ENGINE_SETFAILED, 1, "local_error" },
	{ CURLE_SEND_ERROR, 0, "send_error" },
	{ CURLE_RECV_ERROR, 0, "recv_error" },
	{ CURLE_SSL_CERTPROBLEM, 1, "local_error" },
	{ CURLE_SSL_CIPHER, 0, "tls_error" },
	{ CURLE_PEER_FAILED_VERIFICATION, 0, "tls_error" },
	{ CURLE_BAD_CONTENT_ENCODING, 0, "protocol_error" },
	{ CURLE_FILESIZE_EXCEEDED, 1, "local_error" },
	{ CURLE_USE_SSL_FAILED, 0, "tls_error" },
	{ CURLE_SSL_ENGINE_INITFAILED, 1, "local_error" },
	{ CURLE_SSL_CACERT_BADFILE, 1, "local_error" },
	{ CURLE_SSL_SHUTDOWN_FAILED, 0, "tls_error" },
	{ CURLE_SSL_CRL_BADFILE, 1, "local_error" },
	{ CURLE_SSL_ISSUER_ERROR, 0, "tls_error" },
	{ CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0, "tls_error" },
	{ CURLE_SSL_INVALIDCERTSTATUS, 0, "tls_error" },
	{ CURLE_HTTP2_STREAM, 0, "protocol_error" },
	{ CURLE_HTTP3, 0, "protocol_error" },
	{ CURLE_QUIC_CONNECT_ERROR, 0, "connect_error" },
	{ CURLE_PROXY, 0, "connect_error" },
};

const char *
failover_outcome_name(enum failover_outcome o)
{

	return (unsigned)o < FAILOVER_OUTCOME__MAX ? failover_outcome_names[o] : "unknown";
}

const char *
failover_category_name(enum failover_category c)
{

	return (unsigned)c < FAILOVER_CAT__MAX ? failover_category_names[c] : NULL;
}

const char *
failover_reason_name(enum failover_reason r)
{

	return (unsigned)r < FAILOVER_REASON__MAX ? failover_reason_names[r] : "unknown";
}

const char *
failover_scope_name(enum failover_scope s)
{

	return (unsigned)s < FAILOVER_SCOPE__MAX ? failover_scope_names[s] : "unknown";
}

enum failover_reason
failover_reason_from_name(const char *name)
{
	int i;

	if (name == NULL)
		return FAILOVER_REASON__MAX;
	for (i = 0; i < FAILOVER_REASON__MAX; i++)
		if (strcmp(name, failover_reason_names[i]) == 0)
			return (enum failover_reason)i;
	return FAILOVER_REASON__MAX;
}

static int
failover_lower(int c)
{

	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Returns 1 if the lowercase word occurs in buf (len bytes), ignoring case. */
static int
failover_has_word(const char *buf, size_t len, const char *word)
{
	size_t i, j, n = strlen(word);

	if (n == 0 || n > len)
		return n == 0;
	for (i = 0; i + n <= len; i++) {
		for (j = 0; j < n; j++)
			if (failover_lower((unsigned char)buf[i + j]) != word[j])
				break;
		if (j == n)
			return 1;
	}
	return 0;
}

static int
failover_has_any(const char *buf, size_t len, const char *const *words, size_t n)
{
	size_t i;

	if (buf == NULL)
		return 0;
	if (len > FAILOVER_BODY_SCAN)
		len = FAILOVER_BODY_SCAN;
	for (i = 0; i < n; i++)
		if (failover_has_word(buf, len, words[i]))
			return 1;
	return 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t
failover_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
failover_month_days(int64_t y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

/* A cursor over an untrusted header value. */
struct failover_cur {
	const char	*p;	/* next byte */
	const char	*end;	/* one past the last byte */
};

static int
failover_lit(struct failover_cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Reads between min and max digits; returns the value or -1. */
static int64_t
failover_digits(struct failover_cur *c, int min, int max)
{
	int64_t v = 0;
	int n = 0;

	while (c->p < c->end && n < max && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (*c->p - '0');
		c->p++;
		n++;
	}
	return n >= min ? v : -1;
}

/* Reads a three-letter month name; returns 1-12 or -1. */
static int
failover_month(struct failover_cur *c)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int i;

	if (c->end - c->p < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (memcmp(c->p, months + 3 * i, 3) == 0) {
			c->p += 3;
			return i + 1;
		}
	return -1;
}

/* Reads a weekday name, short or long; returns 1 or 0. */
static int
failover_weekday(struct failover_cur *c)
{
	static const char *const days[7] = {
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
	};
	size_t n;
	int i;

	for (i = 0; i < 7; i++) {
		n = strlen(days[i]);
		if ((size_t)(c->end - c->p) >= n && memcmp(c->p, days[i], n) == 0) {
			c->p += n;
			return 1;
		}
	}
	for (i = 0; i < 7; i++)
		if (c->end - c->p >= 3 && memcmp(c->p, days[i], 3) == 0) {
			c->p += 3;
			return 1;
		}
	return 0;
}

/* Reads "HH:MM:SS" into seconds of the day; -1 if invalid. */
static int64_t
failover_clock(struct failover_cur *c)
{
	int64_t h, m, s;

	if ((h = failover_digits(c, 2, 2)) < 0 || !failover_lit(c, ":") ||
	    (m = failover_digits(c, 2, 2)) < 0 || !failover_lit(c, ":") ||
	    (s = failover_digits(c, 2, 2)) < 0)
		return -1;
	if (h > 23 || m > 59 || s > 60)
		return -1;
	return h * 3600 + m * 60 + s;
}

/* Parses an HTTP-date into seconds since the epoch; -1 if invalid. */
static int64_t
failover_http_date(const char *buf, size_t len)
{
	struct failover_cur c = { buf, buf + len };
	int64_t day, year, secs;
	int mon;

	if (!failover_weekday(&c))
		return -1;
	if (failover_lit(&c, ", ")) {
		if ((day = failover_digits(&c, 2, 2)) < 0)
			return -1;
		if (failover_lit(&c, " ")) {
			/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
			if ((mon = failover_month(&c)) < 0 || !failover_lit(&c, " ") ||
			    (year = failover_digits(&c, 4, 4)) < 0)
				return -1;
		} else if (failover_lit(&c, "-")) {
			/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
			if ((mon = failover_month(&c)) < 0 || !failover_lit(&c, "-") ||
			    (year = failover_digits(&c, 2, 2)) < 0)
				return -1;
			year += year < 70 ? 2000 : 1900;
		} else
			return -1;
		if (!failover_lit(&c, " ") || (secs = failover_clock(&c)) < 0 ||
		    !failover_lit(&c, " GMT"))
			return -1;
	} else if (failover_lit(&c, " ")) {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		if ((mon = failover_month(&c)) < 0 || !failover_lit(&c, " "))
			return -1;
		(void)failover_lit(&c, " ");
		if ((day = failover_digits(&c, 1, 2)) < 0 || !failover_lit(&c, " ") ||
		    (secs = failover_clock(&c)) < 0 || !failover_lit(&c, " ") ||
		    (year = failover_digits(&c, 4, 4)) < 0)
			return -1;
	} else
		return -1;
	if (c.p != c.end || day < 1 || day > failover_month_days(year, mon))
		return -1;
	return failover_days(year, mon, (int)day) * 86400 + secs;
}

int64_t
failover_retry_after(const char *buf, size_t len, int64_t now)
{
	const char *p, *end;
	int64_t v = 0, date, nowsec;
	int frac = 0, digits = 0;

	if (buf == NULL)
		return -1;
	p = buf;
	end = buf + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return -1;
	if (*p >= '0' && *p <= '9') {
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > FAILOVER_RETRY_AFTER_MAX)
				return -1;
		}
		if (p < end && *p == '.') {
			for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
				digits++;
				if (*p != '0')
					frac = 1;
			}
			if (digits == 0)
				return -1;
		}
		if (p != end)
			return -1;
		v += frac;
		return v > FAILOVER_RETRY_AFTER_MAX ? -1 : v;
	}
	if ((date = failover_http_date(p, (size_t)(end - p))) < 0)
		return -1;
	/* Round now down so a date one second ahead waits that second. */
	nowsec = now / 1000;
	if (date <= nowsec)
		return 0;
	if (date - nowsec > FAILOVER_RETRY_AFTER_MAX)
		return -1;
	return date - nowsec;
}

/* Size of a word table. */
#define FAILOVER_NWORDS(t)	(sizeof(t) / sizeof((t)[0]))

static void
failover_set(struct failover_verdict *v, enum failover_outcome o, const char *class)
{
	static const struct {
		enum failover_category	 cat;
		enum failover_effect	 effect;
		int			 retry;
	} t[FAILOVER_OUTCOME__MAX] = {
		[FAILOVER_OUTCOME_OK] = { FAILOVER_CAT_NONE, FAILOVER_EFFECT_CLEAR, 0 },
		[FAILOVER_OUTCOME_RATE_LIMITED] = { FAILOVER_CAT_QUOTA_EXCEEDED,
		    FAILOVER_EFFECT_RATE_LIMIT, 1 },
		[FAILOVER_OUTCOME_QUOTA_EXCEEDED] = { FAILOVER_CAT_QUOTA_EXCEEDED,
		    FAILOVER_EFFECT_QUOTA, 1 },
		[FAILOVER_OUTCOME_AUTH_FAILURE] = { FAILOVER_CAT_AUTH_FAILURE,
		    FAILOVER_EFFECT_AUTH, 1 },
		[FAILOVER_OUTCOME_TRANSIENT] = { FAILOVER_CAT_TRANSIENT,
		    FAILOVER_EFFECT_TRANSIENT, 1 },
		[FAILOVER_OUTCOME_MODEL_UNAVAILABLE] = { FAILOVER_CAT_MODEL_UNAVAILABLE,
		    FAILOVER_EFFECT_MODEL, 1 },
		[FAILOVER_OUTCOME_CLIENT_ERROR] = { FAILOVER_CAT_BAD_REQUEST,
		    FAILOVER_EFFECT_NONE, 0 },
		[FAILOVER_OUTCOME_CLIENT_DISCONNECTED] = { FAILOVER_CAT_NEVER,
		    FAILOVER_EFFECT_NONE, 0 },
		[FAILOVER_OUTCOME_STREAM_ERROR] = { FAILOVER_CAT_NEVER, FAILOVER_EFFECT_NONE, 0 },
		[FAILOVER_OUTCOME_LOCAL_ERROR] = { FAILOVER_CAT_NEVER, FAILOVER_EFFECT_NONE, 0 },
		[FAILOVER_OUTCOME_INTERRUPTED] = { FAILOVER_CAT_NEVER, FAILOVER_EFFECT_NONE, 0 },
	};

	v->outcome = o;
	v->category = t[o].cat;
	v->effect = t[o].effect;
	v->scope = o == FAILOVER_OUTCOME_MODEL_UNAVAILABLE ? FAILOVER_SCOPE_MODEL :
	    FAILOVER_SCOPE_ACCOUNT;
	v->retry = t[o].retry;
	snprintf(v->error_class, sizeof(v->error_class), "%s", class);
}

static void
failover_status(struct failover_verdict *v, const struct failover_input *in)
{
	char class[FAILOVER_CLASS_MAX + 1];
	int s = in->status, quota, auth;

	snprintf(class, sizeof(class), "http_%d", s);
	quota = failover_has_any(in->body, in->body_len, failover_quota_words,
	    sizeof(failover_quota_words) / sizeof(failover_quota_words[0]));
	if (s == 429)
		failover_set(v, quota ? FAILOVER_OUTCOME_QUOTA_EXCEEDED :
		    FAILOVER_OUTCOME_RATE_LIMITED, class);
	else if (s == 402)
		failover_set(v, FAILOVER_OUTCOME_QUOTA_EXCEEDED, class);
	else if (s == 401)
		failover_set(v, FAILOVER_OUTCOME_AUTH_FAILURE, class);
	else if (s == 403) {
		auth = failover_has_any(in->body, in->body_len, failover_auth_words,
		    sizeof(failover_auth_words) / sizeof(failover_auth_words[0]));
		failover_set(v, quota && !auth ? FAILOVER_OUTCOME_QUOTA_EXCEEDED :
		    FAILOVER_OUTCOME_AUTH_FAILURE, class);
	} else if (s >= 400 && s <= 599 && failover_has_any(in->body, in->body_len,
	    failover_context_words, FAILOVER_NWORDS(failover_context_words))) {
		/* Another deployment may take the prompt: retried, and no backoff. */
		failover_set(v, FAILOVER_OUTCOME_CLIENT_ERROR, "context_length_exceeded");
		v->retry = 1;
		v->scope = FAILOVER_SCOPE_MODEL;
	} else if (s == 404 && failover_has_any(in->body, in->body_len, failover_model_words,
	    FAILOVER_NWORDS(failover_model_words)) && failover_has_any(in->body, in->body_len,
	    failover_absent_words, FAILOVER_NWORDS(failover_absent_words)))
		failover_set(v, FAILOVER_OUTCOME_MODEL_UNAVAILABLE, "model_not_found");
	else if (s >= 400 && s <= 499)
		failover_set(v, FAILOVER_OUTCOME_CLIENT_ERROR, class);
	else if (s >= 200 && s <= 299)
		failover_set(v, FAILOVER_OUTCOME_OK, "");
	else {
		failover_set(v, FAILOVER_OUTCOME_TRANSIENT, class);
		/* A server error answers for one model; anything else (3xx) is the account's. */
		if (s >= 500 && s <= 599)
			v->scope = FAILOVER_SCOPE_MODEL;
	}
}

static void
failover_transport(struct failover_verdict *v, int code)
{
	size_t i;

	for (i = 0; i < sizeof(failover_curl_table) / sizeof(failover_curl_table[0]); i++)
		if (failover_curl_table[i].code == code) {
			failover_set(v, failover_curl_table[i].local ?
			    FAILOVER_OUTCOME_LOCAL_ERROR : FAILOVER_OUTCOME_TRANSIENT,
			    failover_curl_table[i].class);
			return;
		}
	failover_set(v, FAILOVER_OUTCOME_TRANSIENT, "transport_error");
}

void
failover_classify(const struct failover_input *in, struct failover_verdict *v)
{

	memset(v, 0, sizeof(*v));
	v->retry_after_s = -1;
	v->status = in->status > 0 && in->status <= 999 ? in->status : 0;
	if (in->retry_after != NULL)
		v->retry_after_s = failover_retry_after(in->retry_after,
		    in->retry_after_len, in->now);
	if (in->client_gone) {
		failover_set(v, FAILOVER_OUTCOME_CLIENT_DISCONNECTED, "client_disconnected");
		return;
	}
	if (in->handed_off) {
		if (in->stream_failed || in->curl_code != 0 || in->first_byte_timeout)
			failover_set(v, FAILOVER_OUTCOME_STREAM_ERROR, in->curl_code != 0 ?
			    "stream_transport_error" : "stream_error");
		else
			failover_status(v, in);
		return;
	}
	if (in->first_byte_timeout)
		failover_set(v, FAILOVER_OUTCOME_TRANSIENT, "first_byte_timeout");
	else if (in->status >= 400 && in->status <= 599)
		failover_status(v, in);
	else if (in->curl_code != 0)
		failover_transport(v, in->curl_code);
	else if (in->status == 0)
		failover_set(v, FAILOVER_OUTCOME_TRANSIENT, "empty_reply");
	else if (in->status >= 200 && in->status <= 299 && in->stream_failed)
		failover_set(v, FAILOVER_OUTCOME_TRANSIENT, "stream_failed");
	else
		failover_status(v, in);
}

/* The kind of failure an effect or reason belongs to, for counting. */
static int
failover_kind_of_effect(enum failover_effect e)
{

	switch (e) {
	case FAILOVER_EFFECT_RATE_LIMIT:
		return 1;
	case FAILOVER_EFFECT_QUOTA:
		return 2;
	case FAILOVER_EFFECT_AUTH:
		return 3;
	case FAILOVER_EFFECT_TRANSIENT:
		return 4;
	case FAILOVER_EFFECT_MODEL:
		return 5;
	default:
		return 0;
	}
}

static int
failover_kind_of_reason(enum failover_reason r)
{

	switch (r) {
	case FAILOVER_REASON_RATE_LIMITED:
		return 1;
	case FAILOVER_REASON_QUOTA_EXCEEDED:
		return 2;
	case FAILOVER_REASON_AUTH_FAILURE:
		return 3;
	case FAILOVER_REASON_TRANSIENT:
	case FAILOVER_REASON_CIRCUIT_OPEN:
		return 4;
	case FAILOVER_REASON_MODEL_UNAVAILABLE:
		return 5;
	default:
		return -1;
	}
}

static int64_t
failover_nonneg(int v)
{

	return v > 0 ? v : 0;
}

int
failover_next(const struct failover_verdict *v, const struct config_routing *r,
    const struct failover_backoff *prev, int64_t now, struct failover_backoff *next)
{
	int64_t secs, cap, ra;
	int n, i;

	if (v->effect == FAILOVER_EFFECT_NONE || (unsigned)v->effect >= FAILOVER_EFFECT__MAX)
		return -1;
	if (v->effect == FAILOVER_EFFECT_CLEAR)
		return prev != NULL ? 0 : -1;
	n = 1;
	if (prev != NULL && failover_kind_of_reason(prev->reason) ==
	    failover_kind_of_effect(v->effect))
		n = prev->consecutive < FAILOVER_COUNT_MAX ? prev->consecutive + 1 :
		    FAILOVER_COUNT_MAX;
	if (n < 1)
		n = 1;
	cap = failover_nonneg(r->backoff_max_s);
	ra = v->retry_after_s >= 0 ? (v->retry_after_s < cap ? v->retry_after_s : cap) : -1;
	memset(next, 0, sizeof(*next));
	switch (v->effect) {
	case FAILOVER_EFFECT_RATE_LIMIT:
		next->reason = FAILOVER_REASON_RATE_LIMITED;
		if (ra >= 0)
			secs = ra;
		else {
			secs = failover_nonneg(r->backoff_base_s);
			for (i = 1; i < n && secs < cap; i++)
				secs *= 2;
			if (secs > cap)
				secs = cap;
		}
		break;
	case FAILOVER_EFFECT_QUOTA:
		next->reason = FAILOVER_REASON_QUOTA_EXCEEDED;
		secs = failover_nonneg(r->quota_backoff_s);
		if (ra > secs)
			secs = ra;
		break;
	case FAILOVER_EFFECT_AUTH:
		next->reason = FAILOVER_REASON_AUTH_FAILURE;
		secs = failover_nonneg(r->auth_quarantine_s);
		break;
	case FAILOVER_EFFECT_MODEL:
		next->reason = FAILOVER_REASON_MODEL_UNAVAILABLE;
		secs = failover_nonneg(r->model_backoff_s);
		break;
	default:
		if (r->circuit_failures > 0 && n >= r->circuit_failures) {
			next->reason = FAILOVER_REASON_CIRCUIT_OPEN;
			secs = failover_nonneg(r->circuit_open_s);
		} else {
			next->reason = FAILOVER_REASON_TRANSIENT;
			secs = failover_nonneg(r->transient_backoff_s);
		}
		break;
	}
	next->until = now + secs * 1000;
	next->scope = v->scope == FAILOVER_SCOPE_MODEL ? FAILOVER_SCOPE_MODEL :
	    FAILOVER_SCOPE_ACCOUNT;
	next->consecutive = n;
	next->status_code = v->status;
	snprintf(next->error_class, sizeof(next->error_class), "%s", v->error_class);
	/* A row still running with a later end stays as it is. */
	if (prev != NULL && prev->until > now && prev->until > next->until)
		return -1;
	return 1;
}

struct failover_db *
failover_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct failover_db *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	f->db = db;
	*err = db_prepare_all(db, failover_sql, FAILOVER_STMT__MAX, f->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(f);
		return NULL;
	}
	return f;
}

void
failover_db_free(struct failover_db *f)
{

	if (f == NULL)
		return;
	db_finalize_all(f->st, FAILOVER_STMT__MAX);
	free(f);
}

enum qp_err
failover_get(struct failover_db *f, const char *account, const char *model,
    struct failover_backoff *b)
{
	sqlite3_stmt *st = f->st[FAILOVER_STMT_GET];
	const char *s;
	enum qp_err err = QP_ENOTFOUND;
	int rc;

	if (model == NULL)
		model = "";
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(b, 0, sizeof(*b));
		b->scope = model[0] != '\0' ? FAILOVER_SCOPE_MODEL : FAILOVER_SCOPE_ACCOUNT;
		b->reason = failover_reason_from_name((const char *)sqlite3_column_text(st, 0));
		if (b->reason == FAILOVER_REASON__MAX)
			b->reason = FAILOVER_REASON_TRANSIENT;
		b->until = sqlite3_column_int64(st, 1);
		b->consecutive = sqlite3_column_int(st, 2);
		b->status_code = sqlite3_column_int(st, 3);
		if ((s = (const char *)sqlite3_column_text(st, 4)) != NULL)
			snprintf(b->error_class, sizeof(b->error_class), "%s", s);
		err = QP_OK;
	} else if (rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

enum qp_err
failover_apply(struct failover_db *f, const char *account, const char *model,
    const struct failover_verdict *v, const struct config_routing *r, int64_t now,
    struct failover_backoff *next, int *written)
{
	struct failover_verdict sv;
	struct failover_backoff prev, nb;
	sqlite3_stmt *st;
	const char *key;
	enum qp_err err = QP_OK;
	int own = 0, have, change;

	if (written != NULL)
		*written = 0;
	if (v->effect == FAILOVER_EFFECT_NONE)
		return QP_OK;
	if (model == NULL)
		model = "";
	/* The row of the verdict's scope; without a model, the account's. */
	sv = *v;
	if (model[0] == '\0')
		sv.scope = FAILOVER_SCOPE_ACCOUNT;
	v = &sv;
	key = v->scope == FAILOVER_SCOPE_MODEL ? model : "";
	if (sqlite3_get_autocommit(f->db)) {
		if ((err = db_begin_write(f->db)) != QP_OK)
			return err;
		own = 1;
	}
	if (v->effect == FAILOVER_EFFECT_CLEAR) {
		/* The hot path: no read, a delete that usually finds nothing. */
		st = f->st[FAILOVER_STMT_DELETE];
		sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
		err = db_step_done(st);
		goto out;
	}
	err = failover_get(f, account, key, &prev);
	if (err != QP_OK && err != QP_ENOTFOUND)
		goto out;
	have = err == QP_OK;
	err = QP_OK;
	change = failover_next(v, r, have ? &prev : NULL, now, &nb);
	if (change < 0) {
		if (have) {
			if (next != NULL)
				*next = prev;
			if (written != NULL)
				*written = 1;
		}
		goto out;
	}
	st = f->st[FAILOVER_STMT_UPSERT];
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, failover_reason_name(nb.reason), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nb.until);
	sqlite3_bind_int(st, 4, nb.consecutive);
	if (nb.status_code > 0)
		sqlite3_bind_int(st, 5, nb.status_code);
	else
		sqlite3_bind_null(st, 5);
	if (nb.error_class[0] != '\0')
		sqlite3_bind_text(st, 6, nb.error_class, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_text(st, 8, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, failover_scope_name(nb.scope), -1, SQLITE_STATIC);
	if ((err = db_step_done(st)) != QP_OK)
		goto out;
	if (next != NULL)
		*next = nb;
	if (written != NULL)
		*written = 1;
out:
	if (own) {
		if (err == QP_OK)
			err = db_commit(f->db);
		else
			db_rollback(f->db);
	}
	return err;
}

void
failover_token_verdict(struct failover_verdict *v, enum qp_err err)
{
	int auth = err == QP_EAUTH;

	v->outcome = auth ? FAILOVER_OUTCOME_AUTH_FAILURE : FAILOVER_OUTCOME_TRANSIENT;
	v->category = auth ? FAILOVER_CAT_AUTH_FAILURE : FAILOVER_CAT_TRANSIENT;
	v->effect = auth ? FAILOVER_EFFECT_AUTH : FAILOVER_EFFECT_TRANSIENT;
	v->retry = 1;
	snprintf(v->error_class, sizeof(v->error_class), "%s", auth ? "token_refresh_failed" :
	    "token_unavailable");
}
