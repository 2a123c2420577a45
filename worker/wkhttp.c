/* wkhttp.c: one bounded HTTP call of quotapool-worker over a reused curl handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wkbounds.h"
#include "wkhttp.h"

/* Applies one option, keeping the first failure. */
#define WKHTTP_SET(cc, h, opt, val) do {				\
	if ((cc) == CURLE_OK)						\
		(cc) = curl_easy_setopt((h), (opt), (val));		\
} while (0)

/* What the write and progress callbacks see. */
struct wkhttp_ctx {
	struct wkhttp_answer	*ans;
	size_t			 max;
	int			(*stop)(void *);
	void			*stop_arg;
};

static size_t
wkhttp_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct wkhttp_ctx *x = arg;
	struct wkhttp_answer *a = x->ans;
	size_t n = sz * nm, take;
	char *nb;

	take = n;
	if (a->len + take > x->max) {
		take = x->max - a->len;
		a->truncated = 1;
	}
	if (take > 0) {
		if ((nb = realloc(a->body, a->len + take + 1)) == NULL)
			return 0;
		a->body = nb;
		memcpy(a->body + a->len, p, take);
		a->len += take;
		a->body[a->len] = '\0';
	}
	return n;
}

static int
wkhttp_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct wkhttp_ctx *x = arg;

	if (x->stop != NULL && x->stop(x->stop_arg)) {
		x->ans->aborted = 1;
		return 1;
	}
	return 0;
}

CURLcode
wkhttp_common(CURL *h, const char *ca_file)
{
	CURLcode cc = CURLE_OK;

	WKHTTP_SET(cc, h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	WKHTTP_SET(cc, h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	WKHTTP_SET(cc, h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	WKHTTP_SET(cc, h, CURLOPT_CONNECTTIMEOUT, (long)WK_CONNECT_TIMEOUT_S);
	WKHTTP_SET(cc, h, CURLOPT_TCP_NODELAY, 1L);
	WKHTTP_SET(cc, h, CURLOPT_TCP_KEEPALIVE, 1L);
	WKHTTP_SET(cc, h, CURLOPT_FOLLOWLOCATION, 0L);
	if (ca_file != NULL)
		WKHTTP_SET(cc, h, CURLOPT_CAINFO, ca_file);
	return cc;
}

struct curl_slist *
wkhttp_bearer(struct curl_slist *l, const char *key)
{
	struct curl_slist *n;
	size_t len = strlen(key) + sizeof("Authorization: Bearer ");
	char *line;

	if ((line = malloc(len)) == NULL) {
		wkhttp_slist_free(l);
		return NULL;
	}
	snprintf(line, len, "Authorization: Bearer %s", key);
	n = curl_slist_append(l, line);
	explicit_bzero(line, len);
	free(line);
	if (n == NULL)
		wkhttp_slist_free(l);
	return n;
}

void
wkhttp_slist_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next) {
		if (p->data != NULL)
			explicit_bzero(p->data, strlen(p->data));
	}
	curl_slist_free_all(l);
}

int
wkhttp_do(CURL *h, const struct wkhttp_call *c, struct wkhttp_answer *ans)
{
	struct wkhttp_ctx x = { ans, c->max, c->stop, c->stop_arg };
	struct curl_slist *hdrs = NULL, *n;
	char ct[256];
	CURLcode cc = CURLE_OK;
	int rc = -1;

	memset(ans, 0, sizeof(*ans));
	curl_easy_reset(h);
	cc = wkhttp_common(h, c->ca_file);
	if ((n = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto nomem;
	hdrs = n;
	if (c->content_type != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", c->content_type);
		if ((n = curl_slist_append(hdrs, ct)) == NULL)
			goto nomem;
		hdrs = n;
	}
	if (c->bearer != NULL && (hdrs = wkhttp_bearer(hdrs, c->bearer)) == NULL)
		goto nomem;
	WKHTTP_SET(cc, h, CURLOPT_URL, c->url);
	WKHTTP_SET(cc, h, CURLOPT_HTTPHEADER, hdrs);
	WKHTTP_SET(cc, h, CURLOPT_TIMEOUT, c->timeout_s);
	WKHTTP_SET(cc, h, CURLOPT_WRITEFUNCTION, wkhttp_write);
	WKHTTP_SET(cc, h, CURLOPT_WRITEDATA, &x);
	WKHTTP_SET(cc, h, CURLOPT_ERRORBUFFER, ans->err);
	if (c->stop != NULL) {
		WKHTTP_SET(cc, h, CURLOPT_NOPROGRESS, 0L);
		WKHTTP_SET(cc, h, CURLOPT_XFERINFOFUNCTION, wkhttp_progress);
		WKHTTP_SET(cc, h, CURLOPT_XFERINFODATA, &x);
	}
	if (strcmp(c->method, "GET") == 0)
		WKHTTP_SET(cc, h, CURLOPT_HTTPGET, 1L);
	else {
		WKHTTP_SET(cc, h, CURLOPT_POST, 1L);
		WKHTTP_SET(cc, h, CURLOPT_POSTFIELDS, c->body != NULL ? c->body : "");
		WKHTTP_SET(cc, h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(c->body != NULL ? c->body_len : 0));
		if (strcmp(c->method, "POST") != 0)
			WKHTTP_SET(cc, h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	if (cc != CURLE_OK) {
		snprintf(ans->err, sizeof(ans->err), "%s", curl_easy_strerror(cc));
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (ans->err[0] == '\0')
			snprintf(ans->err, sizeof(ans->err), "%s", curl_easy_strerror(cc));
		if (ans->aborted)
			snprintf(ans->err, sizeof(ans->err), "stopped");
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status);
	rc = 0;
	goto out;
nomem:
	snprintf(ans->err, sizeof(ans->err), "out of memory");
out:
	/* The handle must not point at what is freed here. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	wkhttp_slist_free(hdrs);
	return rc;
}

void
wkhttp_answer_free(struct wkhttp_answer *ans)
{

	if (ans == NULL)
		return;
	free(ans->body);
	ans->body = NULL;
	ans->len = 0;
}
