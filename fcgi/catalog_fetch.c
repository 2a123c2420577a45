/* catalog_fetch.c: fetching providers' models lists (paged, cancellable); the catalog refresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "catalog.h"
#include "catalog_int.h"
#include "crypto.h"
#include "db.h"
#include "refresh.h"

/* First allocation of a response body. */
#define CATALOG_BODY_INIT	16384
/* How often a transfer in progress looks at the cancel flag (ms). */
#define CATALOG_POLL_MS		50

struct catalog_fetcher {
	CURL		*curl;		/* easy handle, reused across fetches */
	CURLM		*multi;		/* drives curl so that cancel is seen often */
	const atomic_int *cancel;	/* non-zero aborts a transfer; may be NULL */
	char		*body;		/* response body of the current page */
	size_t		 len;		/* bytes in body */
	size_t		 cap;		/* bytes allocated */
	int		 too_big;	/* 1 if the body went past CATALOG_BODY_MAX */
	int		 nomem;		/* 1 if the body could not grow */
};

/* ---- fetching --------------------------------------------------------- */

/* CURLOPT_WRITEFUNCTION: keeps the body up to CATALOG_BODY_MAX. */
static size_t
catalog_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct catalog_fetcher *f = arg;
	size_t n = size * nmemb, cap;
	char *grown;

	if (n > CATALOG_BODY_MAX - f->len) {
		f->too_big = 1;
		return 0;
	}
	if (f->len + n > f->cap) {
		cap = f->cap > 0 ? f->cap : CATALOG_BODY_INIT;
		while (cap < f->len + n)
			cap *= 2;
		if (cap > CATALOG_BODY_MAX)
			cap = CATALOG_BODY_MAX;
		if ((grown = realloc(f->body, cap)) == NULL) {
			f->nomem = 1;
			return 0;
		}
		f->body = grown;
		f->cap = cap;
	}
	memcpy(f->body + f->len, data, n);
	f->len += n;
	return n;
}

/*
 * Runs the transfer set up on f->curl, looking at the cancel flag every
 * CATALOG_POLL_MS. Returns curl's result, CURLE_ABORTED_BY_CALLBACK
 * when cancelled.
 */
static CURLcode
catalog_perform(struct catalog_fetcher *f)
{
	CURLcode cc = CURLE_FAILED_INIT;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(f->multi, f->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	for (;;) {
		if (curl_multi_perform(f->multi, &running) != CURLM_OK || running == 0)
			break;
		if (f->cancel != NULL && atomic_load(f->cancel) != 0) {
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(f->multi, NULL, 0, CATALOG_POLL_MS, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == f->curl)
			cc = msg->data.result;
	curl_multi_remove_handle(f->multi, f->curl);
	return cc;
}

struct catalog_fetcher *
catalog_fetcher_new(const atomic_int *cancel, enum qp_err *err)
{
	struct catalog_fetcher *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	if ((f->curl = curl_easy_init()) == NULL || (f->multi = curl_multi_init()) == NULL) {
		curl_easy_cleanup(f->curl);
		free(f);
		*err = QP_ENOMEM;
		return NULL;
	}
	f->cancel = cancel;
	*err = QP_OK;
	return f;
}

void
catalog_fetcher_free(struct catalog_fetcher *f)
{

	if (f == NULL)
		return;
	curl_multi_cleanup(f->multi);
	curl_easy_cleanup(f->curl);
	if (f->body != NULL)
		crypto_wipe(f->body, f->cap);
	free(f->body);
	free(f);
}

/* Wipes and frees a header list that may hold a key. */
static void
catalog_headers_free(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i != NULL; i = i->next)
		if (i->data != NULL)
			crypto_wipe(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/* Appends one header line to *h; QP_ENOMEM. */
static enum qp_err
catalog_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(*h, line)) == NULL)
		return QP_ENOMEM;
	*h = n;
	return QP_OK;
}

/*
 * Builds the request headers for p with account a's key. QP_EINVAL if
 * the key holds bytes a header cannot carry.
 */
static enum qp_err
catalog_headers(const struct config_provider *p, const struct config_account *a,
    struct curl_slist **out)
{
	struct curl_slist *h = NULL;
	const char *key = a != NULL ? a->api_key : NULL;
	char *line = NULL;
	size_t n = 0;
	enum qp_err err;
	int xkey;

	if ((err = catalog_header(&h, "Accept: application/json")) != QP_OK ||
	    (err = catalog_header(&h, "Expect:")) != QP_OK)
		goto out;
	if (key == NULL || key[0] == '\0' || p->auth == CONFIG_AUTH_NONE)
		goto out;
	if (strpbrk(key, "\r\n") != NULL) {
		err = QP_EINVAL;
		goto out;
	}
	xkey = p->auth == CONFIG_AUTH_API_KEY || (p->auth == CONFIG_AUTH_DEFAULT &&
	    p->protocols == CONFIG_PROTO_ANTHROPIC);
	n = strlen(key) + 32;
	if ((line = malloc(n)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	snprintf(line, n, xkey ? "x-api-key: %s" : "Authorization: Bearer %s", key);
	if ((err = catalog_header(&h, line)) != QP_OK)
		goto out;
	if (xkey)
		err = catalog_header(&h, "anthropic-version: 2023-06-01");
out:
	if (line != NULL) {
		crypto_wipe(line, n);
		free(line);
	}
	if (err != QP_OK) {
		catalog_headers_free(h);
		h = NULL;
	}
	*out = h;
	return err;
}

/* Sets one option unless an earlier one failed. */
#define CATALOG_SET(cc, e, opt, val) do {				\
	if ((cc) == CURLE_OK)						\
		(cc) = curl_easy_setopt((e), (opt), (val));		\
} while (0)

/* Milliseconds of the monotonic clock. */
static int64_t
catalog_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes a short error text into ping. */
static void
catalog_ping_error(struct catalog_ping *ping, const char *what, const char *detail)
{

	snprintf(ping->error, sizeof(ping->error), "%s%s%s", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/*
 * Performs one GET of url into f->body. Fills ping's status and error.
 * Returns QP_OK for a 2xx answer.
 */
static enum qp_err
catalog_get(struct catalog_fetcher *f, const char *url, const struct config_provider *p,
    const struct config_account *a, struct curl_slist *headers, long connect_ms,
    long total_ms, struct catalog_ping *ping)
{
	CURL *e = f->curl;
	CURLcode cc = CURLE_OK;
	long status = 0;

	curl_easy_reset(e);
	f->len = 0;
	f->too_big = 0;
	f->nomem = 0;
	CATALOG_SET(cc, e, CURLOPT_NOSIGNAL, 1L);
	CATALOG_SET(cc, e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	CATALOG_SET(cc, e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	CATALOG_SET(cc, e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	CATALOG_SET(cc, e, CURLOPT_HTTPGET, 1L);
	CATALOG_SET(cc, e, CURLOPT_FOLLOWLOCATION, 0L);
	CATALOG_SET(cc, e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	CATALOG_SET(cc, e, CURLOPT_TIMEOUT_MS, total_ms);
	/* An empty proxy also keeps curl from reading proxy variables. */
	CATALOG_SET(cc, e, CURLOPT_PROXY, a != NULL && a->proxy_url != NULL ?
	    a->proxy_url : "");
	CATALOG_SET(cc, e, CURLOPT_NOPROXY, "");
	if (p->ca_file != NULL)
		CATALOG_SET(cc, e, CURLOPT_CAINFO, p->ca_file);
	CATALOG_SET(cc, e, CURLOPT_USERAGENT, "quotapool/" QP_VERSION);
	CATALOG_SET(cc, e, CURLOPT_ACCEPT_ENCODING, "");
	CATALOG_SET(cc, e, CURLOPT_HTTPHEADER, headers);
	CATALOG_SET(cc, e, CURLOPT_WRITEFUNCTION, catalog_on_body);
	CATALOG_SET(cc, e, CURLOPT_WRITEDATA, f);
	if (cc != CURLE_OK) {
		catalog_ping_error(ping, "cannot set up the request", curl_easy_strerror(cc));
		return QP_EINVAL;
	}
	cc = catalog_perform(f);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	ping->status_code = (int)status;
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		catalog_ping_error(ping, "cancelled", NULL);
		return QP_ECLOSED;
	}
	if (f->too_big) {
		catalog_ping_error(ping, "models list too large", NULL);
		return QP_ETOOBIG;
	}
	if (f->nomem) {
		catalog_ping_error(ping, "out of memory", NULL);
		return QP_ENOMEM;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		catalog_ping_error(ping, "timeout", NULL);
		return QP_ETIMEOUT;
	}
	if (cc != CURLE_OK) {
		catalog_ping_error(ping, "transport", curl_easy_strerror(cc));
		return QP_EUPSTREAM;
	}
	if (status < 200 || status > 299) {
		snprintf(ping->error, sizeof(ping->error), "HTTP %ld", status);
		return QP_EUPSTREAM;
	}
	return QP_OK;
}

/*
 * Makes the URL of a page: base, then for a following page after_id=
 * cursor (escaped) and limit=1000. Returns a malloc'd string or NULL.
 */
static char *
catalog_page_url(CURL *e, const char *base, const char *cursor)
{
	char *esc = NULL, *url = NULL;
	size_t n;

	if (cursor == NULL)
		return strdup(base);
	if ((esc = curl_easy_escape(e, cursor, 0)) == NULL)
		return NULL;
	n = strlen(base) + strlen(esc) + 32;
	if ((url = malloc(n)) != NULL)
		snprintf(url, n, "%s%cafter_id=%s&limit=1000", base,
		    strchr(base, '?') != NULL ? '&' : '?', esc);
	curl_free(esc);
	return url;
}

enum qp_err
catalog_fetch(struct catalog_fetcher *f, const struct config *cfg,
    const struct config_provider *p, const struct config_account *account,
    struct catalog_list *l, struct catalog_ping *ping)
{
	struct curl_slist *headers = NULL;
	char *base = NULL, *url = NULL, cursor[CATALOG_ID_MAX + 1];
	long connect_ms, total_ms, left;
	int64_t t0;
	size_t n;
	enum qp_err err;
	int page;

	memset(ping, 0, sizeof(*ping));
	ping->probed_at = db_now_ms();
	ping->latency_ms = -1;
	ping->model_count = -1;
	t0 = catalog_mono_ms();
	if (p->models_path == NULL) {
		catalog_ping_error(ping, "no models path", NULL);
		return QP_EINVAL;
	}
	connect_ms = p->connect_timeout_ms > 0 ? p->connect_timeout_ms :
	    cfg->upstream.connect_timeout_ms;
	total_ms = p->first_byte_timeout_ms > 0 ? p->first_byte_timeout_ms :
	    cfg->upstream.first_byte_timeout_ms;
	if (connect_ms <= 0 || connect_ms > CATALOG_FETCH_TIMEOUT_MS)
		connect_ms = CATALOG_FETCH_TIMEOUT_MS;
	if (total_ms <= 0 || total_ms > CATALOG_FETCH_TIMEOUT_MS)
		total_ms = CATALOG_FETCH_TIMEOUT_MS;

	if ((err = catalog_headers(p, account, &headers)) != QP_OK) {
		catalog_ping_error(ping, err == QP_EINVAL ? "unusable key" : "out of memory",
		    NULL);
		goto out;
	}
	n = strlen(p->base_url) + strlen(p->models_path) + 1;
	if ((base = malloc(n)) == NULL) {
		err = QP_ENOMEM;
		catalog_ping_error(ping, "out of memory", NULL);
		goto out;
	}
	snprintf(base, n, "%s%s", p->base_url, p->models_path);

	cursor[0] = '\0';
	for (page = 0; page < CATALOG_PAGES_MAX; page++) {
		free(url);
		if ((url = catalog_page_url(f->curl, base, page > 0 ? cursor : NULL)) == NULL) {
			err = QP_ENOMEM;
			catalog_ping_error(ping, "out of memory", NULL);
			goto out;
		}
		left = total_ms - (catalog_mono_ms() - t0);
		if (left <= 0) {
			err = QP_ETIMEOUT;
			catalog_ping_error(ping, "timeout", NULL);
			goto out;
		}
		err = catalog_get(f, url, p, account, headers, connect_ms, left, ping);
		ping->pages = page + 1;
		if (err != QP_OK)
			goto out;
		if ((err = catalog_parse(f->body, f->len, l)) != QP_OK) {
			catalog_ping_error(ping, err == QP_ETOOBIG ?
			    "models list nested too deep" : err == QP_ENOMEM ?
			    "out of memory" : "not a models list", NULL);
			goto out;
		}
		/* Follow Anthropic pagination while the cursor moves. */
		if (!l->has_more || l->last_id[0] == '\0' || l->truncated ||
		    strcmp(l->last_id, cursor) == 0)
			break;
		memcpy(cursor, l->last_id, sizeof(cursor));
	}
	ping->ok = 1;
	ping->model_count = l->n;
out:
	if (ping->status_code > 0)
		ping->latency_ms = catalog_mono_ms() - t0;
	if (f->body != NULL)
		crypto_wipe(f->body, f->len);
	f->len = 0;
	catalog_headers_free(headers);
	free(url);
	free(base);
	return err;
}

enum qp_err
catalog_refresh_provider(struct catalog_db *c, struct catalog_fetcher *f,
    const struct config *cfg, const struct config_provider *p, struct catalog_ping *ping)
{
	const struct config_account *a;
	struct config_account with_token;
	struct catalog_list l;
	struct catalog_ping pg;
	enum qp_err err;
	char *token = NULL;

	if (!p->enabled || p->models_path == NULL ||
	    (a = catalog_ping_account(c, p, db_now_ms())) == NULL)
		return QP_ENOTFOUND;
	/* An account that refreshes lists with the token the data plane last stored. */
	if (a->refresh.url != NULL && refresh_stored(c->db, a, db_now_ms(), &token) == QP_OK &&
	    token != NULL) {
		with_token = *a;
		with_token.api_key = token;
		a = &with_token;
	}
	memset(&l, 0, sizeof(l));
	err = catalog_fetch(f, cfg, p, a, &l, &pg);
	if (err == QP_ECLOSED)
		goto out;
	if (pg.ok && l.n == 0) {
		/* An empty list is taken for a broken answer, not a truth. */
		pg.ok = 0;
		catalog_ping_error(&pg, "empty models list", NULL);
	}
	err = catalog_record_ping(c, p->id, a->name, &pg);
	if (err == QP_OK && pg.ok)
		err = catalog_store(c, p->id, p->protocols, &l, db_now_ms());
out:
	if (ping != NULL)
		*ping = pg;
	catalog_list_free(&l);
	crypto_free_secret(token);
	return err;
}

enum qp_err
catalog_refresh(struct catalog_db *c, struct catalog_fetcher *f, const struct config *cfg,
    int fetch, struct catalog_report *rep)
{
	struct catalog_ping ping;
	struct catalog_report r;
	enum qp_err err;
	int i;

	memset(&r, 0, sizeof(r));
	if ((err = catalog_store_static(c, cfg, db_now_ms(), &r.statics)) != QP_OK)
		goto out;
	for (i = 0; fetch && i < cfg->nproviders; i++) {
		err = catalog_refresh_provider(c, f, cfg, &cfg->providers[i], &ping);
		if (err == QP_ENOTFOUND) {
			err = QP_OK;
			continue;
		}
		if (err != QP_OK)
			goto out;
		r.providers++;
		if (ping.ok)
			r.models += ping.model_count;
		else
			r.failed++;
	}
out:
	if (rep != NULL)
		*rep = r;
	return err;
}
