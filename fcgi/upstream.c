/* upstream.c: the libcurl transport to providers: a reused handle per thread, its own poll loop. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "bounds.h"
#include "crypto.h"
#include "db.h"
#include "passpath.h"
#include "upstream.h"

#ifndef QP_VERSION
#define QP_VERSION	"0"
#endif

/* Lines an attempt's header list can hold: forwarded, defaults, credential, Expect. */
#define UPSTREAM_NHEADERS	8
/* TCP keepalive: idle seconds before the first probe, then seconds between probes. */
#define UPSTREAM_KEEPIDLE_S	30L
#define UPSTREAM_KEEPINTVL_S	15L
/* Microseconds in a millisecond and in a tick. */
#define UPSTREAM_US_PER_MS	1000
#define UPSTREAM_TICK_US	((int64_t)UPSTREAM_TICK_MS * UPSTREAM_US_PER_MS)
/* The anthropic-version sent when an Anthropic upstream's client named none. */
#define UPSTREAM_ANTHROPIC_VERSION	"2023-06-01"

/* curl 7.80 added a callback run just before the request goes out. */
#if LIBCURL_VERSION_NUM >= 0x075000
#define UPSTREAM_HAVE_PREREQ	1
#endif

struct upstream_share {
	CURLSH		*sh;				/* DNS cache and TLS sessions */
	pthread_mutex_t	 lock[CURL_LOCK_DATA_LAST];	/* one per kind of shared data */
	int		 nlocks;			/* mutexes initialised */
};

struct upstream_headers {
	struct curl_slist *node;			/* the list handed to curl, cap entries */
	char		**line;				/* "Name: value", malloc'd, wiped at free */
	int		 n;				/* lines in use */
	int		 cap;				/* entries allocated in node and line */
};

struct upstream {
	struct upstream_share *sh;		/* borrowed, outlives the transport */
	CURL		*easy;			/* reused for every attempt */
	CURLM		*multi;			/* drives easy; holds the kept connections */
	char		*url;			/* URL of the current attempt, malloc'd, NULL
						   before the first */
	size_t		 url_cap;		/* bytes allocated at url */
	char		 errbuf[CURL_ERROR_SIZE]; /* curl's message for the current attempt */
	/* State of the current attempt, reset by upstream_perform(). */
	const struct upstream_req *req;		/* borrowed for the attempt */
	struct upstream_res *res;		/* filled as the attempt goes */
	int64_t		 t_start;		/* monotonic us when the attempt began */
	int64_t		 t_first;		/* first response byte, -1 before */
	int64_t		 t_rx;			/* last response byte, -1 before */
	int64_t		 t_tx;			/* request ready or last upload progress, -1 before */
	int		 prereq;		/* 1 once the connection is ready for the request */
	curl_off_t	 tx_seen;		/* request body bytes sent so far */
	enum upstream_result stop;		/* reason the transport ended it, OK while not */
	struct upstream_head_reader rd;		/* head of the response being read; last, see
						   upstream_new() */
};

static const char *const upstream_result_names[UPSTREAM__MAX] = {
	"ok",
	"connect_failed",
	"tls_failed",
	"first_byte_timeout",
	"idle_timeout",
	"aborted_by_caller",
	"send_failed",
	"recv_failed",
	"too_large",
	"other",
};

/* Client parameters forwarded upstream, and the header name they go out as. */
static const struct {
	const char	*cgi;		/* CGI parameter holding the client's header */
	const char	*name;		/* header name sent upstream */
} upstream_forward[] = {
	{ "HTTP_ANTHROPIC_VERSION",	"anthropic-version" },
	{ "HTTP_ANTHROPIC_BETA",	"anthropic-beta" },
	{ "CONTENT_TYPE",		"Content-Type" },
};

/* Response headers carrying the provider's request id, best first. */
static const char *const upstream_id_headers[] = {
	"x-request-id",
	"request-id",
	"anthropic-request-id",
};

const char *
upstream_result_name(enum upstream_result r)
{
	if ((int)r < 0 || r >= UPSTREAM__MAX)
		return "unknown";
	return upstream_result_names[r];
}

/* ---- the share ------------------------------------------------------ */

static void
upstream_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct upstream_share *sh = arg;

	(void)h;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&sh->lock[data]);
}

static void
upstream_share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct upstream_share *sh = arg;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&sh->lock[data]);
}

struct upstream_share *
upstream_share_new(enum qp_err *err)
{
	struct upstream_share *sh = NULL;
	CURLSHcode sc = CURLSHE_OK;
	int global = 0;

	*err = QP_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*err = QP_EUPSTREAM;
		goto out;
	}
	global = 1;
	sh = calloc(1, sizeof(*sh));
	if (sh == NULL) {
		*err = QP_ENOMEM;
		goto out;
	}
	for (sh->nlocks = 0; sh->nlocks < CURL_LOCK_DATA_LAST; sh->nlocks++)
		if (pthread_mutex_init(&sh->lock[sh->nlocks], NULL) != 0) {
			*err = QP_ENOMEM;
			goto out;
		}
	sh->sh = curl_share_init();
	if (sh->sh == NULL) {
		*err = QP_ENOMEM;
		goto out;
	}
	sc = curl_share_setopt(sh->sh, CURLSHOPT_LOCKFUNC, upstream_share_lock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(sh->sh, CURLSHOPT_UNLOCKFUNC, upstream_share_unlock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(sh->sh, CURLSHOPT_USERDATA, sh);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(sh->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(sh->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	/*
	 * Connections stay in each transport: curl does not support one
	 * connection cache used by several threads at once.
	 */
	if (sc != CURLSHE_OK) {
		*err = sc == CURLSHE_NOMEM ? QP_ENOMEM : QP_EUPSTREAM;
		goto out;
	}
	return sh;
out:
	if (sh != NULL) {
		if (sh->sh != NULL)
			curl_share_cleanup(sh->sh);
		while (sh->nlocks > 0)
			pthread_mutex_destroy(&sh->lock[--sh->nlocks]);
		free(sh);
	}
	if (global)
		curl_global_cleanup();
	return NULL;
}

void
upstream_share_free(struct upstream_share *sh)
{
	if (sh == NULL)
		return;
	curl_share_cleanup(sh->sh);
	while (sh->nlocks > 0)
		pthread_mutex_destroy(&sh->lock[--sh->nlocks]);
	free(sh);
	curl_global_cleanup();
}

/* ---- the transport -------------------------------------------------- */

struct upstream *
upstream_new(struct upstream_share *sh)
{
	struct upstream *u = NULL;

	if (sh == NULL)
		return NULL;
	/*
	 * Not calloc: every thread that streams makes a transport, and the
	 * head buffer at its end (UPSTREAM_HEAD_MAX bytes) is written only as
	 * far as response heads reach, so most of it never becomes resident.
	 * Zeroing it would cost each thread three more pages of RSS.
	 */
	u = malloc(sizeof(*u));
	if (u == NULL)
		goto out;
	memset(u, 0, offsetof(struct upstream, rd.raw));
	upstream_head_reset(&u->rd);
	u->sh = sh;
	u->easy = curl_easy_init();
	if (u->easy == NULL)
		goto out;
	u->multi = curl_multi_init();
	if (u->multi == NULL)
		goto out;
	if (curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS,
	    (long)UPSTREAM_CONN_CACHE) != CURLM_OK)
		goto out;
	return u;
out:
	upstream_free(u);
	return NULL;
}

void
upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	/* The easy handle is never left in the multi between attempts. */
	if (u->multi != NULL)
		curl_multi_cleanup(u->multi);
	if (u->easy != NULL)
		curl_easy_cleanup(u->easy);
	free(u->url);
	free(u);
}

/* ---- headers -------------------------------------------------------- */

/* Returns 1 if s (len bytes) is a header value we may send: no control characters but tab. */
static int
upstream_value_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Appends the line "name: pre value" to h. */
static enum qp_err
upstream_headers_add(struct upstream_headers *h, const char *name, const char *pre,
    const char *value)
{
	size_t nl = strlen(name), pl = strlen(pre), vl = strlen(value);
	char *line;

	if (h->n >= h->cap)
		return QP_ETOOBIG;
	line = malloc(nl + 2 + pl + vl + 1);
	if (line == NULL)
		return QP_ENOMEM;
	memcpy(line, name, nl);
	line[nl] = ':';
	line[nl + 1] = ' ';
	memcpy(line + nl + 2, pre, pl);
	memcpy(line + nl + 2 + pl, value, vl);
	line[nl + 2 + pl + vl] = '\0';
	h->line[h->n] = line;
	h->node[h->n].data = line;
	h->node[h->n].next = NULL;
	if (h->n > 0)
		h->node[h->n - 1].next = &h->node[h->n];
	h->n++;
	return QP_OK;
}

/* Returns the value of CGI parameter key in env, or NULL. */
static const char *
upstream_env(char *const *env, const char *key)
{
	size_t kl = strlen(key);
	size_t i;

	if (env == NULL)
		return NULL;
	for (i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], key, kl) == 0 && env[i][kl] == '=')
			return env[i] + kl + 1;
	return NULL;
}

/* Returns an empty header list for up to cap lines, or NULL when out of memory. */
static struct upstream_headers *
upstream_headers_alloc(int cap)
{
	struct upstream_headers *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->node = calloc((size_t)cap, sizeof(*h->node));
	h->line = calloc((size_t)cap, sizeof(*h->line));
	if (h->node == NULL || h->line == NULL) {
		free(h->node);
		free(h->line);
		free(h);
		return NULL;
	}
	h->cap = cap;
	return h;
}

/*
 * Appends "Expect:" (no 100-continue round trip before large bodies) and
 * acct's key (acct may be NULL, or have no key) per prov->auth, whose
 * default depends on proto.
 */
static enum qp_err
upstream_headers_key(struct upstream_headers *h, const struct config_provider *prov,
    const struct config_account *acct, unsigned proto)
{
	enum config_auth auth;
	enum qp_err err;
	const char *key;

	/* No 100-continue round trip before large bodies. */
	if ((err = upstream_headers_add(h, "Expect", "", "")) != QP_OK)
		return err;
	/* "Expect: " would send an empty header; "Expect:" tells curl to omit it. */
	h->line[h->n - 1][strlen("Expect:")] = '\0';

	key = acct != NULL ? acct->api_key : NULL;
	auth = prov->auth;
	if (auth == CONFIG_AUTH_DEFAULT)
		auth = proto == CONFIG_PROTO_ANTHROPIC ? CONFIG_AUTH_API_KEY :
		    CONFIG_AUTH_BEARER;
	if (key == NULL || key[0] == '\0' || auth == CONFIG_AUTH_NONE)
		return QP_OK;
	if (strlen(key) > QP_HEADER_MAX || !upstream_value_ok(key, strlen(key)))
		return QP_EINVAL;
	if (auth == CONFIG_AUTH_BEARER)
		return upstream_headers_add(h, "Authorization", "Bearer ", key);
	return upstream_headers_add(h, "x-api-key", "", key);
}

struct upstream_headers *
upstream_headers_new(const struct config_provider *prov, const struct config_account *acct,
    unsigned proto, char *const *env, enum qp_err *err)
{
	struct upstream_headers *h = NULL;
	const char *v;
	size_t i;
	int have_version = 0, have_ctype = 0;

	*err = QP_OK;
	if (prov == NULL ||
	    (proto != CONFIG_PROTO_OPENAI && proto != CONFIG_PROTO_ANTHROPIC)) {
		*err = QP_EINVAL;
		goto out;
	}
	h = upstream_headers_alloc(UPSTREAM_NHEADERS);
	if (h == NULL) {
		*err = QP_ENOMEM;
		goto out;
	}
	for (i = 0; i < sizeof(upstream_forward) / sizeof(upstream_forward[0]); i++) {
		v = upstream_env(env, upstream_forward[i].cgi);
		if (v == NULL || v[0] == '\0' || strlen(v) > QP_HEADER_MAX ||
		    !upstream_value_ok(v, strlen(v)))
			continue;
		*err = upstream_headers_add(h, upstream_forward[i].name, "", v);
		if (*err != QP_OK)
			goto out;
		if (strcmp(upstream_forward[i].cgi, "HTTP_ANTHROPIC_VERSION") == 0)
			have_version = 1;
		if (strcmp(upstream_forward[i].cgi, "CONTENT_TYPE") == 0)
			have_ctype = 1;
	}
	if (!have_ctype) {
		*err = upstream_headers_add(h, "Content-Type", "", "application/json");
		if (*err != QP_OK)
			goto out;
	}
	if (proto == CONFIG_PROTO_ANTHROPIC && !have_version) {
		*err = upstream_headers_add(h, "anthropic-version", "",
		    UPSTREAM_ANTHROPIC_VERSION);
		if (*err != QP_OK)
			goto out;
	}
	if ((*err = upstream_headers_key(h, prov, acct, proto)) != QP_OK)
		goto out;
	return h;
out:
	upstream_headers_free(h);
	return NULL;
}

struct upstream_headers *
upstream_headers_pass(const struct config_provider *prov, const struct config_account *acct,
    unsigned proto, char *const *env, enum qp_err *err)
{
	struct upstream_headers *h = NULL;
	char name[PASSPATH_NAME_MAX + 1];
	const char *v;
	size_t i, vl;
	int nfwd = 0, have_version = 0;

	*err = QP_OK;
	if (prov == NULL ||
	    (proto != CONFIG_PROTO_OPENAI && proto != CONFIG_PROTO_ANTHROPIC)) {
		*err = QP_EINVAL;
		goto out;
	}
	if ((h = upstream_headers_alloc(UPSTREAM_PASS_HEADERS + UPSTREAM_NHEADERS)) == NULL) {
		*err = QP_ENOMEM;
		goto out;
	}
	for (i = 0; env != NULL && env[i] != NULL && nfwd < UPSTREAM_PASS_HEADERS; i++) {
		if ((v = strchr(env[i], '=')) == NULL ||
		    !passpath_forward(env[i], (size_t)(v - env[i]), name))
			continue;
		v++;
		vl = strlen(v);
		if (vl == 0 || vl > QP_HEADER_MAX || !upstream_value_ok(v, vl))
			continue;
		if ((*err = upstream_headers_add(h, name, "", v)) != QP_OK)
			goto out;
		nfwd++;
		if (strcmp(name, "anthropic-version") == 0)
			have_version = 1;
	}
	if (proto == CONFIG_PROTO_ANTHROPIC && !have_version &&
	    (*err = upstream_headers_add(h, "anthropic-version", "",
	    UPSTREAM_ANTHROPIC_VERSION)) != QP_OK)
		goto out;
	if ((*err = upstream_headers_key(h, prov, acct, proto)) != QP_OK)
		goto out;
	return h;
out:
	upstream_headers_free(h);
	return NULL;
}

void
upstream_headers_free(struct upstream_headers *h)
{
	int i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++) {
		crypto_wipe(h->line[i], strlen(h->line[i]));
		free(h->line[i]);
	}
	free(h->node);
	free(h->line);
	crypto_wipe(h, sizeof(*h));
	free(h);
}

const char *
upstream_headers_find(const struct upstream_headers *h, const char *name)
{
	size_t nl;
	const char *v;
	int i;

	if (h == NULL || name == NULL)
		return NULL;
	nl = strlen(name);
	for (i = 0; i < h->n; i++) {
		if (strncasecmp(h->line[i], name, nl) != 0 || h->line[i][nl] != ':')
			continue;
		v = h->line[i] + nl + 1;
		if (*v == ' ')
			v++;
		return v;
	}
	return NULL;
}

/* ---- request set-up ------------------------------------------------- */

void
upstream_req_init(struct upstream_req *req, const struct config *cfg,
    const struct config_provider *prov, const struct config_account *acct)
{
	memset(req, 0, sizeof(*req));
	req->method = UPSTREAM_POST;
	if (cfg != NULL) {
		req->connect_timeout_ms = cfg->upstream.connect_timeout_ms;
		req->first_byte_timeout_ms = cfg->upstream.first_byte_timeout_ms;
		req->idle_timeout_ms = cfg->upstream.idle_timeout_ms;
	}
	if (prov != NULL) {
		req->base_url = prov->base_url;
		req->ca_file = prov->ca_file;
		if (prov->connect_timeout_ms > 0)
			req->connect_timeout_ms = prov->connect_timeout_ms;
		if (prov->first_byte_timeout_ms > 0)
			req->first_byte_timeout_ms = prov->first_byte_timeout_ms;
		if (prov->idle_timeout_ms > 0)
			req->idle_timeout_ms = prov->idle_timeout_ms;
	}
	if (acct != NULL)
		req->proxy_url = acct->proxy_url;
}

/* Returns 1 if s starts with prefix, ignoring case. */
static int
upstream_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Writes base_url + "/" + path into u->url, growing it as needed. */
static enum qp_err
upstream_url(struct upstream *u, const char *base, const char *path)
{
	size_t bl, pl;
	char *p;

	if (base == NULL || !(upstream_prefix(base, "http://") ||
	    upstream_prefix(base, "https://")))
		return QP_EINVAL;
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (path == NULL)
		path = "";
	while (*path == '/')
		path++;
	pl = strlen(path);
	if (bl + 1 + pl > UPSTREAM_URL_MAX ||
	    !upstream_value_ok(base, bl) || !upstream_value_ok(path, pl))
		return QP_EINVAL;
	if (u->url_cap < bl + 1 + pl + 1) {
		if ((p = realloc(u->url, bl + 1 + pl + 1)) == NULL)
			return QP_ENOMEM;
		u->url = p;
		u->url_cap = bl + 1 + pl + 1;
	}
	memcpy(u->url, base, bl);
	if (pl > 0) {
		u->url[bl] = '/';
		memcpy(u->url + bl + 1, path, pl);
		bl += 1 + pl;
	}
	u->url[bl] = '\0';
	return QP_OK;
}

/* Returns 1 if url names a proxy kind we support. */
static int
upstream_proxy_ok(const char *url)
{
	return (upstream_prefix(url, "http://") || upstream_prefix(url, "https://") ||
	    upstream_prefix(url, "socks5://") || upstream_prefix(url, "socks5h://")) &&
	    upstream_value_ok(url, strlen(url));
}

/* ---- callbacks from curl -------------------------------------------- */

/* Notes a response byte at now. */
static void
upstream_rx(struct upstream *u, int64_t now)
{
	if (u->t_first < 0)
		u->t_first = now;
	u->t_rx = now;
}

void
upstream_head_reset(struct upstream_head_reader *r)
{
	memset(&r->head, 0, sizeof(r->head));
	r->head.raw = r->raw;
	r->raw[0] = '\0';
	r->status = 0;
	r->id_rank = 0;
	r->done = 0;
}

/* Copies the value (len bytes) into dst, cut to UPSTREAM_VALUE_MAX. */
static void
upstream_keep(char *dst, const char *v, size_t len)
{
	if (len > UPSTREAM_VALUE_MAX)
		len = UPSTREAM_VALUE_MAX;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/*
 * Keeps a header value (len bytes) whole in dst, or, when it is longer
 * than UPSTREAM_VALUE_MAX, empties dst and sets bit in hd->too_long.
 */
static void
upstream_keep_whole(struct upstream_head *hd, char *dst, const char *v, size_t len,
    unsigned bit)
{
	if (len > UPSTREAM_VALUE_MAX) {
		dst[0] = '\0';
		hd->too_long |= bit;
		return;
	}
	hd->too_long &= ~bit;
	upstream_keep(dst, v, len);
}

/* Parses "HTTP/x[.y] NNN ..." (len bytes); returns NNN or 0. */
static int
upstream_status_line(const char *s, size_t len)
{
	size_t i = 5;
	int st = 0, k;

	while (i < len && s[i] != ' ')
		i++;
	while (i < len && s[i] == ' ')
		i++;
	for (k = 0; k < 3; k++, i++) {
		if (i >= len || s[i] < '0' || s[i] > '9')
			return 0;
		st = st * 10 + (s[i] - '0');
	}
	return st;
}

/* Takes one header line (len bytes, CRLF stripped) of the head being read. */
static void
upstream_header_line(struct upstream_head_reader *r, const char *s, size_t len)
{
	struct upstream_head *hd = &r->head;
	const char *colon, *v;
	size_t nl, vl, i;

	if (len == 0 || !upstream_value_ok(s, len))
		return;
	colon = memchr(s, ':', len);
	if (colon == NULL || colon == s)
		return;
	nl = (size_t)(colon - s);
	v = colon + 1;
	vl = len - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (!hd->raw_truncated && len + 2 < sizeof(r->raw) - hd->raw_len) {
		memcpy(r->raw + hd->raw_len, s, len);
		memcpy(r->raw + hd->raw_len + len, "\r\n", 2);
		hd->raw_len += len + 2;
		r->raw[hd->raw_len] = '\0';
	} else
		hd->raw_truncated = 1;
	if (nl == strlen("content-type") && strncasecmp(s, "content-type", nl) == 0)
		upstream_keep_whole(hd, hd->content_type, v, vl, UPSTREAM_LONG_CONTENT_TYPE);
	else if (nl == strlen("retry-after") && strncasecmp(s, "retry-after", nl) == 0)
		upstream_keep_whole(hd, hd->retry_after, v, vl, UPSTREAM_LONG_RETRY_AFTER);
	else
		for (i = 0; i < sizeof(upstream_id_headers) / sizeof(upstream_id_headers[0]);
		    i++) {
			if (nl != strlen(upstream_id_headers[i]) ||
			    strncasecmp(s, upstream_id_headers[i], nl) != 0)
				continue;
			if (r->id_rank == 0 || (int)i + 1 < r->id_rank) {
				upstream_keep_whole(hd, hd->request_id, v, vl,
				    UPSTREAM_LONG_REQUEST_ID);
				r->id_rank = (int)i + 1;
			}
			break;
		}
}

int
upstream_head_feed(struct upstream_head_reader *r, const char *line, size_t len)
{
	if (r->done)
		return 0;	/* trailers: not part of the head */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		upstream_head_reset(r);
		r->status = upstream_status_line(line, len);
		return 0;
	}
	if (len > 0) {
		upstream_header_line(r, line, len);
		return 0;
	}
	/* The blank line: a 1xx head is followed by another one. */
	if (r->status >= 100 && r->status < 200)
		return 0;
	r->done = 1;
	r->head.status = r->status;
	return 1;
}

/* The final head is complete: hands it to on_status. Returns non-zero to abort. */
static int
upstream_head_end(struct upstream *u)
{
	const struct upstream_cb *cb = &u->req->cb;

	u->res->head = u->rd.head;
	if (cb->on_status != NULL && cb->on_status(&u->res->head, cb->arg) != 0) {
		u->stop = UPSTREAM_ABORTED_BY_CALLER;
		return -1;
	}
	return 0;
}

/* CURLOPT_HEADERFUNCTION: one line of a response head (or a trailer). */
static size_t
upstream_on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	size_t len = size * n;

	upstream_rx(u, db_mono_us());
	if (upstream_head_feed(&u->rd, buf, len) == 0)
		return len;
	return upstream_head_end(u) == 0 ? len : 0;
}

/* CURLOPT_WRITEFUNCTION: a piece of the response body. */
static size_t
upstream_on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	const struct upstream_req *req = u->req;
	size_t len = size * n;

	upstream_rx(u, db_mono_us());
	if (!u->rd.done) {
		/* A body without a blank line first: curl never does this. */
		u->rd.done = 1;
		u->rd.head.status = u->rd.status;
		if (upstream_head_end(u) != 0)
			return 0;
	}
	if (req->max_body > 0 &&
	    (int64_t)len > req->max_body - u->res->timing.bytes_received) {
		u->stop = UPSTREAM_TOO_LARGE;
		return 0;
	}
	u->res->timing.bytes_received += (int64_t)len;
	if (req->cb.on_data != NULL && len > 0 && req->cb.on_data(buf, len, req->cb.arg) != 0) {
		u->stop = UPSTREAM_ABORTED_BY_CALLER;
		return 0;
	}
	return len;
}

/* CURLOPT_READFUNCTION: the next bytes of a CUSTOM attempt's body, from the caller. */
static size_t
upstream_on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	const struct upstream_cb *cb = &u->req->cb;
	size_t got;

	got = cb->on_read(buf, size * n, cb->arg);
	if (got == UPSTREAM_READ_ABORT || got > size * n) {
		u->stop = UPSTREAM_ABORTED_BY_CALLER;
		return CURL_READFUNC_ABORT;
	}
	return got;
}

/* CURLOPT_SEEKFUNCTION: curl sends the body again (only ever from an offset, SEEK_SET). */
static int
upstream_on_seek(void *arg, curl_off_t off, int origin)
{
	struct upstream *u = arg;
	const struct upstream_cb *cb = &u->req->cb;

	if (origin != SEEK_SET || off < 0 || cb->on_rewind == NULL)
		return CURL_SEEKFUNC_CANTSEEK;
	return cb->on_rewind((int64_t)off, cb->arg) == 0 ? CURL_SEEKFUNC_OK :
	    CURL_SEEKFUNC_FAIL;
}

/* Returns the request body's bytes, -1 when they are not known ahead. */
static int64_t
upstream_body_len(const struct upstream_req *req)
{

	if (req->method != UPSTREAM_CUSTOM)
		return (int64_t)req->body_len;
	return req->cb.on_read != NULL ? req->upload_len : 0;
}

#ifdef UPSTREAM_HAVE_PREREQ
/* CURLOPT_PREREQFUNCTION: the connection is ready and the request goes out now. */
static int
upstream_on_prereq(void *arg, char *peer_ip, char *local_ip, int peer_port, int local_port)
{
	struct upstream *u = arg;

	(void)peer_ip;
	(void)local_ip;
	(void)peer_port;
	(void)local_port;
	u->prereq = 1;
	u->t_tx = db_mono_us();
	return CURL_PREREQFUNC_OK;
}
#endif

/* ---- the attempt ---------------------------------------------------- */

/* Sets one option unless an earlier one failed. */
#define UPSTREAM_SET(cc, e, opt, val) do {				\
	if ((cc) == CURLE_OK)						\
		(cc) = curl_easy_setopt((e), (opt), (val));		\
} while (0)

/* Sets every option of the attempt on the freshly reset handle. */
static CURLcode
upstream_setopts(struct upstream *u, const struct upstream_req *req,
    struct curl_slist *headers)
{
	CURL *e = u->easy;
	CURLcode cc = CURLE_OK;

	UPSTREAM_SET(cc, e, CURLOPT_SHARE, u->sh->sh);
	UPSTREAM_SET(cc, e, CURLOPT_NOSIGNAL, 1L);
	UPSTREAM_SET(cc, e, CURLOPT_VERBOSE, 0L);
	UPSTREAM_SET(cc, e, CURLOPT_URL, u->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	UPSTREAM_SET(cc, e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	UPSTREAM_SET(cc, e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	UPSTREAM_SET(cc, e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	UPSTREAM_SET(cc, e, CURLOPT_TCP_NODELAY, 1L);
	UPSTREAM_SET(cc, e, CURLOPT_TCP_KEEPALIVE, 1L);
	UPSTREAM_SET(cc, e, CURLOPT_TCP_KEEPIDLE, UPSTREAM_KEEPIDLE_S);
	UPSTREAM_SET(cc, e, CURLOPT_TCP_KEEPINTVL, UPSTREAM_KEEPINTVL_S);
	UPSTREAM_SET(cc, e, CURLOPT_BUFFERSIZE, (long)UPSTREAM_RECV_BUFFER);
	if (req->connect_timeout_ms > 0)
		UPSTREAM_SET(cc, e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
	/* An empty proxy also keeps curl from reading proxy variables. */
	UPSTREAM_SET(cc, e, CURLOPT_PROXY, req->proxy_url != NULL ? req->proxy_url : "");
	UPSTREAM_SET(cc, e, CURLOPT_NOPROXY, "");
	if (req->ca_file != NULL)
		UPSTREAM_SET(cc, e, CURLOPT_CAINFO, req->ca_file);
	UPSTREAM_SET(cc, e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	UPSTREAM_SET(cc, e, CURLOPT_USERAGENT, "quotapool/" QP_VERSION);
	UPSTREAM_SET(cc, e, CURLOPT_HTTPHEADER, headers);
	UPSTREAM_SET(cc, e, CURLOPT_ERRORBUFFER, u->errbuf);
	UPSTREAM_SET(cc, e, CURLOPT_HEADERFUNCTION, upstream_on_header);
	UPSTREAM_SET(cc, e, CURLOPT_HEADERDATA, u);
	UPSTREAM_SET(cc, e, CURLOPT_WRITEFUNCTION, upstream_on_body);
	UPSTREAM_SET(cc, e, CURLOPT_WRITEDATA, u);
#ifdef UPSTREAM_HAVE_PREREQ
	UPSTREAM_SET(cc, e, CURLOPT_PREREQFUNCTION, upstream_on_prereq);
	UPSTREAM_SET(cc, e, CURLOPT_PREREQDATA, u);
#endif
	if (req->max_body > 0)
		UPSTREAM_SET(cc, e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
	if (req->method == UPSTREAM_POST) {
		UPSTREAM_SET(cc, e, CURLOPT_POST, 1L);
		UPSTREAM_SET(cc, e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		UPSTREAM_SET(cc, e, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : (const void *)"");
	} else if (req->method == UPSTREAM_CUSTOM && req->cb.on_read != NULL) {
		/* Any method with a body: read as curl sends it, chunked when its size is unknown. */
		UPSTREAM_SET(cc, e, CURLOPT_UPLOAD, 1L);
		UPSTREAM_SET(cc, e, CURLOPT_READFUNCTION, upstream_on_read);
		UPSTREAM_SET(cc, e, CURLOPT_READDATA, u);
		UPSTREAM_SET(cc, e, CURLOPT_SEEKFUNCTION, upstream_on_seek);
		UPSTREAM_SET(cc, e, CURLOPT_SEEKDATA, u);
		UPSTREAM_SET(cc, e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
		UPSTREAM_SET(cc, e, CURLOPT_CUSTOMREQUEST, req->custom);
	} else if (req->method == UPSTREAM_CUSTOM && strcmp(req->custom, "HEAD") == 0)
		UPSTREAM_SET(cc, e, CURLOPT_NOBODY, 1L);
	else {
		UPSTREAM_SET(cc, e, CURLOPT_HTTPGET, 1L);
		if (req->method == UPSTREAM_CUSTOM)
			UPSTREAM_SET(cc, e, CURLOPT_CUSTOMREQUEST, req->custom);
	}
	return cc;
}

/* Follows the request upload: the first-byte clock runs from its last progress. */
static void
upstream_progress(struct upstream *u, int64_t now)
{
	curl_off_t up = 0;

#ifndef UPSTREAM_HAVE_PREREQ
	if (!u->prereq) {
		curl_off_t pre = 0;

		if (curl_easy_getinfo(u->easy, CURLINFO_PRETRANSFER_TIME_T, &pre) == CURLE_OK &&
		    pre > 0) {
			u->prereq = 1;
			u->t_tx = now;
		}
	}
#endif
	if (!u->prereq || (upstream_body_len(u->req) >= 0 &&
	    u->tx_seen >= (curl_off_t)upstream_body_len(u->req)))
		return;
	if (curl_easy_getinfo(u->easy, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK &&
	    up > u->tx_seen) {
		u->tx_seen = up;
		u->t_tx = now;
	}
}

/*
 * Returns the monotonic us at which the current silence becomes a
 * timeout, or -1 if none applies yet; *why says which.
 */
static int64_t
upstream_deadline(const struct upstream *u, enum upstream_result *why)
{
	const struct upstream_req *req = u->req;
	int64_t last;

	if (u->t_first < 0) {
		*why = UPSTREAM_FIRST_BYTE_TIMEOUT;
		if (!u->prereq || req->first_byte_timeout_ms <= 0)
			return -1;
		return u->t_tx + (int64_t)req->first_byte_timeout_ms * UPSTREAM_US_PER_MS;
	}
	*why = UPSTREAM_IDLE_TIMEOUT;
	if (req->idle_timeout_ms <= 0)
		return -1;
	last = u->t_rx > u->t_tx ? u->t_rx : u->t_tx;
	return last + (int64_t)req->idle_timeout_ms * UPSTREAM_US_PER_MS;
}

/*
 * Drives the transfer until it ends or the transport stops it (u->stop).
 * Returns curl's result, or CURLE_OK with u->stop set.
 */
static CURLcode
upstream_run(struct upstream *u)
{
	const struct upstream_cb *cb = &u->req->cb;
	int64_t last_tick = u->t_start, now, deadline, next;
	enum upstream_result why = UPSTREAM_OK;
	CURLcode cc = CURLE_OK;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left = 0, wait_ms;

	for (;;) {
		mc = curl_multi_perform(u->multi, &running);
		if (mc != CURLM_OK) {
			cc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			break;
		}
		if (running == 0 || u->stop != UPSTREAM_OK)
			break;
		now = db_mono_us();
		upstream_progress(u, now);
		deadline = upstream_deadline(u, &why);
		if (deadline >= 0 && now >= deadline) {
			u->stop = why;
			break;
		}
		if (now - last_tick >= UPSTREAM_TICK_US) {
			last_tick = now;
			if (cb->on_tick != NULL && cb->on_tick(cb->arg) != 0) {
				u->stop = UPSTREAM_ABORTED_BY_CALLER;
				break;
			}
			now = db_mono_us();
		}
		next = last_tick + UPSTREAM_TICK_US;
		if (deadline >= 0 && deadline < next)
			next = deadline;
		wait_ms = next > now ? (int)((next - now + UPSTREAM_US_PER_MS - 1) /
		    UPSTREAM_US_PER_MS) : 0;
		mc = curl_multi_poll(u->multi, NULL, 0, wait_ms, NULL);
		if (mc != CURLM_OK) {
			cc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			break;
		}
	}
	for (;;) {
		msg = curl_multi_info_read(u->multi, &left);
		if (msg == NULL)
			break;
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == u->easy)
			cc = msg->data.result;
	}
	return cc;
}

/* Maps curl's result of a transfer the transport did not stop itself. */
static enum upstream_result
upstream_map(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return UPSTREAM_OK;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:	/* only the connect timeout is set */
#if LIBCURL_VERSION_NUM >= 0x074900
	case CURLE_PROXY:
#endif
		return UPSTREAM_CONNECT_FAILED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return UPSTREAM_TLS_FAILED;
	case CURLE_SEND_ERROR:
		return UPSTREAM_SEND_FAILED;
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		return UPSTREAM_RECV_FAILED;
	case CURLE_FILESIZE_EXCEEDED:
		return UPSTREAM_TOO_LARGE;
	default:
		return UPSTREAM_OTHER;
	}
}

/* Fills res->timing from curl's counters and ours. */
static void
upstream_timing(struct upstream *u, int64_t end)
{
	struct upstream_timing *t = &u->res->timing;
	curl_off_t conn = 0, app = 0, up = 0;
	long nconn = 0;

	curl_easy_getinfo(u->easy, CURLINFO_NUM_CONNECTS, &nconn);
	curl_easy_getinfo(u->easy, CURLINFO_CONNECT_TIME_T, &conn);
	curl_easy_getinfo(u->easy, CURLINFO_APPCONNECT_TIME_T, &app);
	curl_easy_getinfo(u->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	t->new_connection = nconn > 0;
	if (t->new_connection)
		t->connect_ms = (int64_t)(app > 0 ? app : conn) / UPSTREAM_US_PER_MS;
	else
		t->connect_ms = u->prereq ? 0 : -1;
	t->first_byte_ms = u->t_first >= 0 ?
	    (u->t_first - u->t_start) / UPSTREAM_US_PER_MS : -1;
	t->total_ms = (end - u->t_start) / UPSTREAM_US_PER_MS;
	t->bytes_sent = (int64_t)up;
}

enum qp_err
upstream_perform(struct upstream *u, const struct upstream_req *req,
    struct upstream_res *res)
{
	enum qp_err err = QP_OK;
	CURLcode cc = CURLE_OK;
	CURLMcode mc;
	struct curl_slist expect;
	char expect_line[] = "Expect:";
	struct curl_slist *headers;
	int added = 0;

	memset(res, 0, sizeof(*res));
	upstream_head_reset(&u->rd);
	res->head.raw = u->rd.raw;
	res->timing.connect_ms = -1;
	res->timing.first_byte_ms = -1;
	res->result = UPSTREAM_OTHER;
	u->errbuf[0] = '\0';
	u->req = req;
	u->res = res;
	u->t_start = db_mono_us();
	u->t_first = -1;
	u->t_rx = -1;
	u->t_tx = -1;
	u->prereq = 0;
	u->tx_seen = 0;
	u->stop = UPSTREAM_OK;

	if ((req->method != UPSTREAM_POST && req->method != UPSTREAM_GET &&
	    req->method != UPSTREAM_CUSTOM) || (req->method == UPSTREAM_CUSTOM &&
	    (req->custom == NULL || req->custom[0] == '\0' ||
	    strcspn(req->custom, " \t\r\n") != strlen(req->custom) ||
	    !upstream_value_ok(req->custom, strlen(req->custom))))) {
		err = QP_EINVAL;
		goto out;
	}
	err = upstream_url(u, req->base_url, req->path);
	if (err != QP_OK)
		goto out;
	if (req->proxy_url != NULL && req->proxy_url[0] != '\0' &&
	    !upstream_proxy_ok(req->proxy_url)) {
		err = QP_EINVAL;
		goto out;
	}
	if (req->headers != NULL)
		headers = (struct curl_slist *)&req->headers->node[0];
	else {
		expect.data = expect_line;
		expect.next = NULL;
		headers = &expect;
	}
	if (req->headers != NULL && req->headers->n == 0)
		headers = NULL;

	curl_easy_reset(u->easy);
	cc = upstream_setopts(u, req, headers);
	if (cc != CURLE_OK) {
		err = cc == CURLE_OUT_OF_MEMORY ? QP_ENOMEM : QP_EINVAL;
		goto out;
	}
	mc = curl_multi_add_handle(u->multi, u->easy);
	if (mc != CURLM_OK) {
		err = mc == CURLM_OUT_OF_MEMORY ? QP_ENOMEM : QP_EINVAL;
		goto out;
	}
	added = 1;
	cc = upstream_run(u);
	if (u->stop != UPSTREAM_OK) {
		res->result = u->stop;
		if (cc == CURLE_OK)
			cc = (u->stop == UPSTREAM_FIRST_BYTE_TIMEOUT ||
			    u->stop == UPSTREAM_IDLE_TIMEOUT) ?
			    CURLE_OPERATION_TIMEDOUT : CURLE_ABORTED_BY_CALLBACK;
	} else {
		res->result = upstream_map(cc);
		if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
		    cc == CURLE_BAD_FUNCTION_ARGUMENT || cc == CURLE_FAILED_INIT)
			err = QP_EINVAL;
		else if (cc == CURLE_OUT_OF_MEMORY)
			err = QP_ENOMEM;
	}
out:
	/* Removing an unfinished transfer closes its connection at once. */
	if (added)
		curl_multi_remove_handle(u->multi, u->easy);
	res->curl_code = (int)cc;
	if (cc != CURLE_OK) {
		const char *msg = u->errbuf[0] != '\0' ? u->errbuf : curl_easy_strerror(cc);

		upstream_keep(res->detail, msg, strlen(msg) < sizeof(res->detail) ?
		    strlen(msg) : sizeof(res->detail) - 1);
	}
	if (added)
		upstream_timing(u, db_mono_us());
	else
		res->timing.total_ms = (db_mono_us() - u->t_start) / UPSTREAM_US_PER_MS;
	if (!u->rd.done) {
		memset(&res->head, 0, sizeof(res->head));
		u->rd.raw[0] = '\0';
		res->head.raw = u->rd.raw;
	}
	u->req = NULL;
	u->res = NULL;
	return err;
}
