/*
 * fuzz_worker_job.c: quotapool-worker's job parser (and its model-list
 * parser and head writer) on arbitrary bytes. Whatever comes in: a job
 * that parses has a 32-hex id, an upper-case method, a path that starts
 * with '/' in printable ASCII without a dot segment before its query, at most 64 headers
 * with lower-case token names and values without CR or LF, and a body
 * whose length is its string's; a refused one leaves nothing allocated
 * and an id that is empty or 32 hex digits. A model list that parses is
 * sorted, without duplicates, within its bounds. A head written from a
 * parsed job's headers is one line within 16 KiB ending in '\n'.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wkproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_id(const char *id, int may_be_empty)
{
	size_t i, n = strlen(id);

	if (n == 0 && may_be_empty)
		return;
	if (n != WK_JOB_ID_LEN)
		abort();
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			abort();
	}
}

static void
check_job(const struct wkproto_job *j)
{
	size_t i, k, n;

	check_id(j->id, 0);
	n = strlen(j->method);
	if (n == 0 || n > WK_METHOD_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (j->method[i] < 'A' || j->method[i] > 'Z')
			abort();
	}
	n = strlen(j->path);
	if (n == 0 || n > WK_PATH_MAX || j->path[0] != '/')
		abort();
	/* No dot segment before the query or fragment (curl would resolve it). */
	k = strcspn(j->path, "?#");
	for (i = 0; i < k; i++) {
		if (j->path[i] == '/' && i + 1 < k && j->path[i + 1] == '.' &&
		    (i + 2 == k || j->path[i + 2] == '/' ||
		    (j->path[i + 2] == '.' && (i + 3 == k || j->path[i + 3] == '/'))))
			abort();
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)j->path[i] <= 0x20 || (unsigned char)j->path[i] >= 0x7f)
			abort();
	}
	if (j->nheaders > WK_HEADERS_MAX || (j->nheaders > 0) != (j->headers != NULL))
		abort();
	for (i = 0; i < j->nheaders; i++) {
		const char *nm = j->headers[i].name, *v = j->headers[i].value;

		if (nm[0] == '\0' || strlen(nm) > WK_HEADER_NAME_MAX ||
		    strlen(v) > WK_HEADER_VALUE_MAX || strpbrk(v, "\r\n") != NULL)
			abort();
		for (k = 0; nm[k] != '\0'; k++) {
			if (isupper((unsigned char)nm[k]) || nm[k] == ':' || nm[k] == ' ')
				abort();
		}
	}
	if (j->body != NULL && strlen(j->body) != j->body_len)
		abort();
	if (j->body == NULL && j->body_len != 0)
		abort();
	if (j->model != NULL && (strlen(j->model) > WK_MODEL_ID_MAX ||
	    !wkproto_printable(j->model, strlen(j->model))))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wkproto_job job;
	struct wkproto_models m;
	const char *why = NULL;
	char *head = NULL;
	size_t i, hlen;
	int hb, gone;

	if (wkproto_job_parse((const char *)data, size, &job, &why) == WKPROTO_OK) {
		if (why != NULL)
			abort();
		check_job(&job);
		if (wkproto_head(200, job.headers, job.nheaders, NULL, &head, &hlen) ==
		    WKPROTO_OK) {
			if (hlen == 0 || hlen > WK_HEAD_MAX || head[hlen - 1] != '\n' ||
			    memchr(head, '\n', hlen) != head + hlen - 1)
				abort();
			free(head);
		}
		if (wkproto_head(502, NULL, 0, job.body != NULL ? job.body : "", &head,
		    &hlen) == WKPROTO_OK) {
			if (memchr(head, '\n', hlen) != head + hlen - 1)
				abort();
			free(head);
		}
	} else {
		if (why == NULL || job.path != NULL || job.headers != NULL ||
		    job.body != NULL || job.model != NULL || job.nheaders != 0)
			abort();
		check_id(job.id, 1);
	}
	wkproto_job_free(&job);

	if (wkproto_models_parse((const char *)data, size, &m) == WKPROTO_OK) {
		if (m.n > WK_MODELS_MAX)
			abort();
		for (i = 0; i < m.n; i++) {
			if (strlen(m.v[i].id) == 0 || strlen(m.v[i].id) > WK_MODEL_ID_MAX ||
			    !wkproto_printable(m.v[i].id, strlen(m.v[i].id)) ||
			    m.v[i].context_length < 0)
				abort();
			if (i > 0 && strcmp(m.v[i - 1].id, m.v[i].id) >= 0)
				abort();
		}
		if (!wkproto_models_equal(&m, &m))
			abort();
		wkproto_models_free(&m);
	}
	(void)wkproto_hello_answer((const char *)data, size, &hb, &gone);
	if (hb < WK_HEARTBEAT_MIN_S || hb > WK_HEARTBEAT_MAX_S || gone < 0)
		abort();
	return 0;
}
