/* wkjob.c: one job of quotapool-worker: the runtime call and the result POSTs. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "wkbackoff.h"
#include "wkhttp.h"
#include "wkjob.h"
#include "wklog.h"

/* Response headers of the runtime kept for the head line. */
#define WKJOB_RESP_HEADERS	64

/* How a job ended, for its log line. */
enum wkjob_end {
	WKJOB_DONE,		/* every byte sent, end=1 answered */
	WKJOB_GONE,		/* 410: the gateway no longer wants it */
	WKJOB_REFUSED,		/* 4xx other than 410: the gateway refused a POST */
	WKJOB_LOST,		/* the gateway could not be reached for a POST */
	WKJOB_CANCELLED,	/* the worker stopped it (drain timeout, refused key) */
	WKJOB_END__MAX
};

static const char *const wkjob_ends[WKJOB_END__MAX] = {
	[WKJOB_DONE] = "done",
	[WKJOB_GONE] = "cancelled by the gateway (410)",
	[WKJOB_REFUSED] = "refused by the gateway",
	[WKJOB_LOST] = "lost (gateway unreachable)",
	[WKJOB_CANCELLED] = "stopped by the worker",
};

/* One running job; its own mutex guards the fields below mu. */
struct wkjob_run {
	struct wk		*wk;
	struct wkproto_job	 job;		/* owned */
	int			 slot;		/* index in wk->slots */
	CURLM			*multi;		/* the runtime transfer's, for curl_multi_wakeup */
	int64_t			 t0;		/* start, ms */

	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* bytes, room, head, end or cancel */
	char			*buf;		/* answer bytes not yet taken by the sender */
	size_t			 len;
	size_t			 cap;		/* allocated size of buf */
	int			 head_ready;	/* the final status and headers came */
	long			 status;	/* of the runtime's answer */
	struct wkproto_header	 hdrs[WKJOB_RESP_HEADERS]; /* owned strings */
	size_t			 nhdrs;
	int			 done;		/* the runtime transfer ended */
	CURLcode		 crc;		/* how it ended */
	char			 cerr[CURL_ERROR_SIZE]; /* its one-line error */
	int			 cancel;	/* stop the runtime call, send nothing more */
	uint64_t		 bytes_in;	/* answer bytes read from the runtime */
};

static void
wkjob_hdrs_clear(struct wkjob_run *r)
{
	size_t i;

	for (i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	r->nhdrs = 0;
}

/* curl: one header line of the runtime's answer (status line, header, blank line). */
static size_t
wkjob_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct wkjob_run *r = arg;
	size_t n = sz * nm, nl, vs, ve;
	const char *colon;
	char *name, *value;

	if (r->head_ready)
		return n;	/* trailers */
	ve = n;
	while (ve > 0 && (p[ve - 1] == '\r' || p[ve - 1] == '\n'))
		ve--;
	if (ve == 0) {
		/* The end of a header block: final unless it was 1xx. */
		if (r->status >= 200) {
			pthread_mutex_lock(&r->mu);
			r->head_ready = 1;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->mu);
		}
		return n;
	}
	if (ve > 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', ve);

		wkjob_hdrs_clear(r);
		r->status = 0;
		if (sp != NULL && ve - (size_t)(sp - p) >= 4 && isdigit((unsigned char)sp[1]) &&
		    isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3]))
			r->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return n;
	}
	if ((colon = memchr(p, ':', ve)) == NULL || r->nhdrs == WKJOB_RESP_HEADERS)
		return n;
	nl = (size_t)(colon - p);
	if (nl == 0 || nl > WK_HEADER_NAME_MAX)
		return n;
	for (vs = nl + 1; vs < ve && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	if (ve - vs > WK_HEADER_VALUE_MAX)
		return n;
	if ((name = strndup(p, nl)) == NULL || (value = strndup(p + vs, ve - vs)) == NULL) {
		free(name);
		return 0;
	}
	for (vs = 0; vs < nl; vs++)
		name[vs] = (char)tolower((unsigned char)name[vs]);
	r->hdrs[r->nhdrs].name = name;
	r->hdrs[r->nhdrs].value = value;
	r->nhdrs++;
	return n;
}

/* curl: answer bytes; waits while the buffer is full, aborts on cancel. */
static size_t
wkjob_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct wkjob_run *r = arg;
	size_t n = sz * nm;
	char *nb;

	pthread_mutex_lock(&r->mu);
	if (!r->head_ready) {
		/* Bytes before the blank line cannot come; be safe anyway. */
		r->head_ready = 1;
		pthread_cond_broadcast(&r->cv);
	}
	while (!r->cancel && r->len > 0 && r->len + n > WK_JOB_BUFFER)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->cancel) {
		pthread_mutex_unlock(&r->mu);
		return 0;
	}
	if (r->len + n > r->cap) {
		/* Only an empty buffer takes a piece larger than WK_JOB_BUFFER. */
		if ((nb = realloc(r->buf, r->len + n)) == NULL) {
			pthread_mutex_unlock(&r->mu);
			return 0;
		}
		r->buf = nb;
		r->cap = r->len + n;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->bytes_in += n;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* The runtime request's headers: the job's forwarded ones, the runtime key. */
static struct curl_slist *
wkjob_req_headers(struct wkjob_run *r)
{
	struct curl_slist *l = NULL, *n;
	char line[WK_HEADER_NAME_MAX + WK_HEADER_VALUE_MAX + 4];
	size_t i;

	if ((l = curl_slist_append(NULL, "Expect:")) == NULL)
		return NULL;
	for (i = 0; i < r->job.nheaders; i++) {
		const struct wkproto_header *h = &r->job.headers[i];

		if (!wkproto_header_forwarded(h->name))
			continue;
		/* "name;" is how curl sends a header with an empty value. */
		if (h->value[0] == '\0')
			snprintf(line, sizeof(line), "%s;", h->name);
		else
			snprintf(line, sizeof(line), "%s: %s", h->name, h->value);
		if ((n = curl_slist_append(l, line)) == NULL) {
			wkhttp_slist_free(l);
			return NULL;
		}
		l = n;
	}
	if (r->wk->runtime_key != NULL)
		l = wkhttp_bearer(l, r->wk->runtime_key);
	return l;
}

static int
wkjob_cancelled(struct wkjob_run *r)
{
	int c;

	pthread_mutex_lock(&r->mu);
	c = r->cancel;
	pthread_mutex_unlock(&r->mu);
	return c;
}

/* Thread: the runtime call, its answer into r->buf. */
static void *
wkjob_reader(void *arg)
{
	struct wkjob_run *r = arg;
	struct wk *wk = r->wk;
	struct curl_slist *hdrs = NULL;
	CURL *h = NULL;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	char *url = NULL, err[CURL_ERROR_SIZE] = "";
	size_t ulen;
	int running = 1, left;

	ulen = strlen(wk->a.upstream) + strlen(r->job.path) + 1;
	if ((url = malloc(ulen)) == NULL || (h = curl_easy_init()) == NULL ||
	    (hdrs = wkjob_req_headers(r)) == NULL) {
		cc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	snprintf(url, ulen, "%s%s", wk->a.upstream, r->job.path);
	cc = wkhttp_common(h, wk->a.runtime_ca_file);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, wkjob_header);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wkjob_write);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (strcmp(r->job.method, "GET") == 0) {
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->job.method, "HEAD") == 0) {
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS,
			    r->job.body != NULL ? r->job.body : "");
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)r->job.body_len);
		if (cc == CURLE_OK && strcmp(r->job.method, "POST") != 0)
			cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->job.method);
	}
	if (cc != CURLE_OK)
		goto out;
	if (curl_multi_add_handle(r->multi, h) != CURLM_OK) {
		cc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	while (running) {
		if (curl_multi_perform(r->multi, &running) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			break;
		}
		if (wkjob_cancelled(r)) {
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		/* curl_multi_wakeup() from wkjob_cancel() ends the wait at once. */
		if (running && curl_multi_poll(r->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			break;
		}
	}
	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h && cc == CURLE_OK)
			cc = msg->data.result;
	}
	/* Removing the handle closes an unfinished transfer's connection. */
	curl_multi_remove_handle(r->multi, h);
out:
	if (h != NULL) {
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		curl_easy_cleanup(h);
	}
	wkhttp_slist_free(hdrs);
	free(url);
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	r->crc = cc;
	snprintf(r->cerr, sizeof(r->cerr), "%s", err[0] != '\0' ? err : curl_easy_strerror(cc));
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* The gateway's 410, 401 or 403 (or our own stop) ends the runtime call at once. */
static void
wkjob_stop_runtime(struct wkjob_run *r)
{

	pthread_mutex_lock(&r->mu);
	r->cancel = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	curl_multi_wakeup(r->multi);
}

void
wkjob_cancel(struct wkjob_run *run)
{

	wkjob_stop_runtime(run);
}

/* The stop test of a result POST: the job was cancelled. */
static int
wkjob_post_stop(void *arg)
{

	return wkjob_cancelled(arg);
}

/*
 * Sends one result POST, retrying a network failure or a 5xx a few times
 * with growing delays. Returns the status (0: unreachable).
 */
static long
wkjob_post(struct wk *wk, CURL *h, const char *id, unsigned seq, int end,
    const char *body, size_t len, struct wkjob_run *r, char *err, size_t errlen)
{
	struct wkhttp_call c;
	struct wkhttp_answer ans;
	char url[WK_URL_MAX + 128];
	unsigned attempt;
	long status = 0;
	int64_t until;

	snprintf(url, sizeof(url), "%s/worker/v1/jobs/%s/result?seq=%u%s", wk->a.server, id,
	    seq, end ? "&end=1" : "");
	memset(&c, 0, sizeof(c));
	c.method = "POST";
	c.url = url;
	c.bearer = wk->key;
	c.content_type = "application/octet-stream";
	c.body = body;
	c.body_len = len;
	c.timeout_s = WK_RESULT_TIMEOUT_S;
	c.ca_file = wk->a.ca_file;
	c.max = WK_ANSWER_MAX;
	c.stop = r != NULL ? wkjob_post_stop : NULL;
	c.stop_arg = r;
	for (attempt = 0; attempt < WK_RESULT_TRIES; attempt++) {
		if (attempt > 0) {
			until = wk_now_ms() + wkbackoff_delay_ms(attempt - 1, WK_BACKOFF_BASE_MS,
			    WK_BACKOFF_CAP_MS, wk_random());
			while (wk_now_ms() < until && (r == NULL || !wkjob_cancelled(r))) {
				struct timespec ts = { 0, 50 * 1000 * 1000 };

				nanosleep(&ts, NULL);
			}
			if (r != NULL && wkjob_cancelled(r))
				break;
		}
		if (wkhttp_do(h, &c, &ans) != 0) {
			snprintf(err, errlen, "%s", ans.err);
			wkhttp_answer_free(&ans);
			if (ans.aborted)
				break;
			continue;
		}
		status = ans.status;
		snprintf(err, errlen, "%.*s", (int)(ans.len < 200 ? ans.len : 200),
		    ans.body != NULL ? ans.body : "");
		wkhttp_answer_free(&ans);
		if (status < 500)
			break;
	}
	return status;
}

void
wkjob_refuse(struct wk *wk, CURL *h, const char *id, const char *error)
{
	char *head = NULL, err[256];
	size_t hlen;
	long st;

	if (wkproto_head(502, NULL, 0, error, &head, &hlen) != WKPROTO_OK)
		return;
	st = wkjob_post(wk, h, id, 0, 1, head, hlen, NULL, err, sizeof(err));
	if (st == 401 || st == 403)
		wk_fatal(wk, st);
	wklog("job %s refused: %s (gateway answered %ld)", id, error, st);
	free(head);
}

/* Takes a job's slot back and frees it. */
static void
wkjob_finish(struct wkjob_run *r)
{
	struct wk *wk = r->wk;

	pthread_mutex_lock(&wk->mu);
	wk->slots[r->slot] = NULL;
	wk->inflight--;
	pthread_cond_broadcast(&wk->cv);
	pthread_mutex_unlock(&wk->mu);
	wkjob_hdrs_clear(r);
	free(r->buf);
	curl_multi_cleanup(r->multi);
	wkproto_job_free(&r->job);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Thread: runs the reader, sends the result POSTs, ends the job. */
static void *
wkjob_main(void *arg)
{
	struct wkjob_run *r = arg;
	struct wk *wk = r->wk;
	pthread_t reader;
	CURL *h = NULL;
	char *send = NULL, *head = NULL, err[256] = "", *nb;
	size_t scap = 0, slen, hlen = 0;
	uint64_t bytes_out = 0;
	unsigned seq = 0;
	enum wkjob_end how = WKJOB_DONE;
	long st = 0, status = 0;
	int end = 0, started = 0, crc = 0;

	if ((h = curl_easy_init()) == NULL) {
		how = WKJOB_CANCELLED;
		goto out;
	}
	if (pthread_create(&reader, NULL, wkjob_reader, r) != 0) {
		/* No reader: the runtime is not called, the job fails over. */
		pthread_mutex_lock(&r->mu);
		r->done = 1;
		r->crc = CURLE_OUT_OF_MEMORY;
		snprintf(r->cerr, sizeof(r->cerr), "no thread for the runtime call");
		pthread_mutex_unlock(&r->mu);
	} else
		started = 1;
	while (!end) {
		pthread_mutex_lock(&r->mu);
		while (!r->cancel && !r->done && (seq == 0 ? !r->head_ready : r->len == 0))
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->cancel) {
			pthread_mutex_unlock(&r->mu);
			how = WKJOB_CANCELLED;
			break;
		}
		if (seq == 0) {
			if (r->head_ready)
				status = r->status;
			else {
				char line[CURL_ERROR_SIZE + 32];

				status = 502;
				snprintf(line, sizeof(line), "runtime unreachable: %s", r->cerr);
				free(head);
				head = NULL;
				if (wkproto_head(502, NULL, 0, line, &head, &hlen) != WKPROTO_OK)
					hlen = 0;
			}
			if (r->head_ready && wkproto_head((int)r->status, r->hdrs, r->nhdrs, NULL,
			    &head, &hlen) != WKPROTO_OK)
				hlen = 0;
		}
		slen = (seq == 0 ? hlen : 0) + r->len;
		if (slen > scap) {
			if ((nb = realloc(send, slen)) == NULL) {
				pthread_mutex_unlock(&r->mu);
				how = WKJOB_CANCELLED;
				break;
			}
			send = nb;
			scap = slen;
		}
		if (seq == 0 && hlen > 0)
			memcpy(send, head, hlen);
		if (r->len > 0)
			memcpy(send + (seq == 0 ? hlen : 0), r->buf, r->len);
		bytes_out += r->len;
		r->len = 0;
		end = r->done;
		crc = r->crc;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (seq == 0 && hlen == 0) {
			how = WKJOB_CANCELLED;
			break;
		}
		st = wkjob_post(wk, h, r->job.id, seq, end, send, slen, r, err, sizeof(err));
		if (st == 204 || st == 200) {
			seq++;
			continue;
		}
		if (st == 410)
			how = WKJOB_GONE;
		else if (st == 401 || st == 403) {
			how = WKJOB_REFUSED;
			wk_fatal(wk, st);
		} else if (st == 0)
			how = wkjob_cancelled(r) ? WKJOB_CANCELLED : WKJOB_LOST;
		else
			how = WKJOB_REFUSED;
		break;
	}
	if (how != WKJOB_DONE)
		wkjob_stop_runtime(r);
	if (started)
		pthread_join(reader, NULL);
out:
	if (how == WKJOB_DONE && crc != CURLE_OK && status != 502)
		wklog("job %s: the runtime's answer was cut: %s", r->job.id, r->cerr);
	if (how == WKJOB_REFUSED || how == WKJOB_LOST)
		wklog("job %s %s: result seq=%u answered %ld %s", r->job.id, wkjob_ends[how],
		    seq, st, err);
	else
		wklog("job %s %s: model=%s status=%ld bytes=%llu posts=%u ms=%lld", r->job.id,
		    wkjob_ends[how], r->job.model != NULL ? r->job.model : "-", status,
		    (unsigned long long)bytes_out, seq + (how == WKJOB_DONE ? 0 : 1),
		    (long long)(wk_now_ms() - r->t0));
	if (h != NULL)
		curl_easy_cleanup(h);
	free(send);
	free(head);
	wkjob_finish(r);
	return NULL;
}

int
wkjob_start(struct wk *wk, struct wkproto_job *job, int slot)
{
	struct wkjob_run *r;
	pthread_attr_t at;
	pthread_t t;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	if ((r->multi = curl_multi_init()) == NULL || (r->buf = malloc(WK_JOB_BUFFER)) == NULL) {
		curl_multi_cleanup(r->multi);
		free(r);
		return -1;
	}
	r->cap = WK_JOB_BUFFER;
	r->wk = wk;
	r->slot = slot;
	r->t0 = wk_now_ms();
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->job = *job;
	memset(job, 0, sizeof(*job));
	wk->slots[slot] = r;
	wk->inflight++;
	wklog("job %s started: %s %s model=%s", r->job.id, r->job.method, r->job.path,
	    r->job.model != NULL ? r->job.model : "-");
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &at, wkjob_main, r);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		wk->slots[slot] = NULL;
		wk->inflight--;
		*job = r->job;
		memset(&r->job, 0, sizeof(r->job));
		free(r->buf);
		curl_multi_cleanup(r->multi);
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		errno = rc;
		return -1;
	}
	return 0;
}
