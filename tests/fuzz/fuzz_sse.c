/*
 * fuzz_sse.c: the SSE parser on arbitrary bytes. The same stream fed
 * whole, split at one fuzzer-chosen point, and split at two, must give
 * the same events and end state. Input: 1 byte bound selector, 2 bytes
 * for each of the two split points, then the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every event of one run, serialised, plus checks on each event. */
struct rec {
	char		*buf;		/* events: name NUL data-length data id NUL */
	size_t		 len;		/* bytes used */
	size_t		 cap;		/* bytes allocated */
	size_t		 max;		/* the parser's bound */
	uint64_t	 n;		/* events */
	uint64_t	 last_end;	/* end offset of the previous event */
};

static void
rec_put(struct rec *r, const void *p, size_t n)
{
	char *nb;

	if (r->len + n > r->cap) {
		size_t ncap = r->cap ? r->cap : 4096;

		while (ncap < r->len + n)
			ncap *= 2;
		nb = realloc(r->buf, ncap);
		if (nb == NULL)
			abort();
		r->buf = nb;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static enum qp_err
rec_cb(const struct sse_event *ev, void *arg)
{
	struct rec *r = arg;
	uint64_t dl = ev->data_len;

	/* Contract checks on every event. */
	if (ev->index != r->n || ev->data[ev->data_len] != '\0' ||
	    ev->event[ev->event_len] != '\0' || ev->id[ev->id_len] != '\0' ||
	    memchr(ev->id, '\0', ev->id_len) != NULL)
		abort();
	if (ev->data_len > r->max || ev->event_len > r->max || ev->id_len > r->max)
		abort();
	if (ev->start > ev->end || ev->start < r->last_end)
		abort();
	r->last_end = ev->end;
	r->n++;
	rec_put(r, ev->event, ev->event_len + 1);
	rec_put(r, &dl, sizeof(dl));
	rec_put(r, ev->data, ev->data_len);
	rec_put(r, ev->id, ev->id_len + 1);
	return QP_OK;
}

/* Feeds s[0..n) cut at cuts[0..ncut) into a fresh parser; returns the end state. */
static enum qp_err
run(const char *s, size_t n, const size_t *cuts, size_t ncut, size_t max, struct rec *r)
{
	struct sse_parser *p;
	size_t from = 0, to, k, flush;
	enum qp_err err = QP_OK, e;

	memset(r, 0, sizeof(*r));
	r->max = max == 0 ? 1024 * 1024 : max;
	p = sse_new(max, rec_cb, r);
	if (p == NULL)
		abort();
	for (k = 0; k <= ncut; k++) {
		to = k < ncut ? cuts[k] : n;
		e = sse_feed(p, s + from, to - from, &flush);
		if (flush > to - from)
			abort();
		if (e != QP_OK && err == QP_OK)
			err = e;
		from = to;
	}
	if (err == QP_OK)
		err = sse_finish(p);
	if (sse_offset(p) != n || sse_events(p) != r->n || r->last_end > n)
		abort();
	sse_free(p);
	return err;
}

static void
same(const struct rec *a, enum qp_err ea, const struct rec *b, enum qp_err eb)
{

	if (ea != eb || a->n != b->n || a->len != b->len ||
	    (a->len > 0 && memcmp(a->buf, b->buf, a->len) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec whole, two, three;
	enum qp_err ew, e2, e3;
	size_t cuts[2], n, max;
	const char *s;

	if (size < 5)
		return 0;
	/* Small bounds make the limits reachable; 0 is the default bound. */
	max = data[0] < 16 ? 0 : data[0] % 64 + 1;
	n = size - 5;
	s = (const char *)data + 5;
	cuts[0] = ((size_t)data[1] << 8 | data[2]) % (n + 1);
	cuts[1] = ((size_t)data[3] << 8 | data[4]) % (n + 1);
	if (cuts[1] < cuts[0]) {
		size_t t = cuts[0];

		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	ew = run(s, n, NULL, 0, max, &whole);
	e2 = run(s, n, cuts, 1, max, &two);
	same(&whole, ew, &two, e2);
	free(two.buf);
	e3 = run(s, n, cuts, 2, max, &three);
	same(&whole, ew, &three, e3);
	free(three.buf);
	free(whole.buf);
	return 0;
}
