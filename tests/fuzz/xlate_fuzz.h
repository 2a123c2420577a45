/*
 * xlate_fuzz.h: the body of each translator's fuzz target (fuzz_xlate_*.c).
 * Input: byte 0 selects what is fed (0: an upstream SSE stream, 1: a client
 * request, 2: an upstream answer, 3: an upstream error body), bytes 1-4 two
 * split points, then the bytes. A stream fed whole and fed in three pieces
 * must give the same client bytes and end; every write must hold whole
 * events whose data is JSON or [DONE]; every body produced must be JSON.
 */
#ifndef QP_XLATE_FUZZ_H
#define QP_XLATE_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sse.h"
#include "xlate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client's bytes of one run. */
struct xf_sink {
	struct xlate_buf out;	/* everything written */
};

static enum qp_err
xf_check_event(const struct sse_event *ev, void *arg)
{
	enum qp_err err;
	cJSON *v;

	(void)arg;
	if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
		return QP_OK;
	if ((v = json_parse(ev->data, ev->data_len, &err)) == NULL)
		abort();
	cJSON_Delete(v);
	return QP_OK;
}

static enum qp_err
xf_write(const char *buf, size_t len, void *arg)
{
	struct xf_sink *k = arg;
	struct sse_parser *p;

	/* Each write is whole events, each event's data JSON. */
	if ((p = sse_new(0, xf_check_event, NULL)) == NULL)
		abort();
	if (sse_feed(p, buf, len, NULL) != QP_OK || sse_finish(p) != QP_OK)
		abort();
	sse_free(p);
	xlate_buf_put(&k->out, buf, len);
	return QP_OK;
}

static enum qp_err
xf_event(const struct sse_event *ev, void *arg)
{
	enum qp_err err = xlate_stream_event(arg, ev->event, ev->event_len, ev->data,
	    ev->data_len);

	/* Past a bound the transform stops the stream; that is an answer too. */
	return err == QP_ETOOBIG ? QP_OK : err;
}

static enum qp_err
xf_run(const struct xlate_ctx *c, const char *s, size_t n, const size_t *cuts, size_t ncut,
    struct xf_sink *k)
{
	struct xlate_stream *st;
	struct sse_parser *p;
	size_t from = 0, i, to;
	enum qp_err err = QP_OK;
	int clean = 1;

	memset(k, 0, sizeof(*k));
	if ((st = xlate_stream_new(c, xf_write, k)) == NULL ||
	    (p = sse_new(0, xf_event, st)) == NULL)
		abort();
	for (i = 0; i <= ncut && err == QP_OK; i++) {
		to = i < ncut ? cuts[i] : n;
		err = sse_feed(p, s + from, to - from, NULL);
		from = to;
	}
	if (err != QP_OK || sse_finish(p) != QP_OK)
		clean = 0;
	err = xlate_stream_finish(st, clean);
	if (err != QP_OK && err != QP_EUPSTREAM && err != QP_ETOOBIG)
		abort();
	sse_free(p);
	xlate_stream_free(st);
	return err;
}

/* A body the translation produced must be JSON. */
static void
xf_json(const char *s, size_t n)
{
	enum qp_err err;
	cJSON *v;

	if (s == NULL || strlen(s) != n || (v = json_parse(s, n, &err)) == NULL)
		abort();
	cJSON_Delete(v);
}

static int
xf_main(enum xlate_dir dir, const char *req_text, const uint8_t *data, size_t size)
{
	struct xf_sink whole, cut;
	struct xlate_ctx c;
	const char *s;
	size_t n, cuts[2], olen;
	enum qp_err e1, e2, err;
	char *out = NULL;
	cJSON *req;

	if (size < 5)
		return 0;
	s = (const char *)data + 5;
	n = size - 5;
	xlate_ctx_init(&c);
	if (data[0] % 4 == 1) {
		req = json_parse(s, n, &err);
		if (req != NULL && xlate_request(&c, dir, req, "up", data[1] & 1 ?
		    XLATE_LOSS_REJECT : XLATE_LOSS_WARN, 1, &out, &olen) == QP_OK)
			xf_json(out, olen);
		cJSON_Delete(req);
		goto out;
	}
	if (data[0] % 4 == 3) {
		if (xlate_error(dir, 400 + data[1] % 200, s, n, &out, &olen) != QP_OK)
			abort();
		xf_json(out, olen);
		goto out;
	}
	/* Answers and streams are for a fixed request; byte 1 says if it streams. */
	req = json_parse(req_text, strlen(req_text), &err);
	if (req == NULL)
		abort();
	if (!(data[1] & 1))
		cJSON_ReplaceItemInObject(req, "stream", cJSON_CreateFalse());
	err = xlate_request(&c, dir, req, "up", XLATE_LOSS_WARN, 1, &out, &olen);
	cJSON_Delete(req);
	free(out);
	out = NULL;
	if (err != QP_OK)
		abort();
	if (data[0] % 4 == 2) {
		if (xlate_response(&c, s, n, &out, &olen) == QP_OK)
			xf_json(out, olen);
		goto out;
	}
	cuts[0] = ((size_t)data[1] << 8 | data[2]) % (n + 1);
	cuts[1] = ((size_t)data[3] << 8 | data[4]) % (n + 1);
	if (cuts[1] < cuts[0]) {
		size_t t = cuts[0];

		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	e1 = xf_run(&c, s, n, NULL, 0, &whole);
	e2 = xf_run(&c, s, n, cuts, 2, &cut);
	if (e1 != e2 || whole.out.len != cut.out.len ||
	    (whole.out.len > 0 && memcmp(whole.out.p, cut.out.p, whole.out.len) != 0))
		abort();
	xlate_buf_free(&whole.out);
	xlate_buf_free(&cut.out);
out:
	free(out);
	xlate_ctx_free(&c);
	return 0;
}

#endif /* QP_XLATE_FUZZ_H */
