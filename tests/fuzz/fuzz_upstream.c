/*
 * fuzz_upstream.c: the upstream response-head reader on arbitrary bytes.
 * Input: 1 byte choosing how the rest is cut into lines (0: after each
 * LF, as curl hands header lines over; n > 0: every n bytes), then the
 * bytes of a response head. Whatever comes in, the kept fields stay
 * within their bounds and free of control characters, raw holds whole
 * CRLF-ended lines, and at most one final head is reported.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s is a NUL-terminated value of at most max bytes without control characters. */
static void
check_value(const char *s, size_t max)
{
	size_t i, n = strnlen(s, max + 1);

	if (n > max)
		abort();
	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			abort();
}

/* Cheap checks, after every line. */
static void
check_reader(const struct upstream_head_reader *r)
{
	const struct upstream_head *h = &r->head;

	if (h->raw != r->raw || h->raw_len >= UPSTREAM_HEAD_MAX || r->raw[h->raw_len] != '\0')
		abort();
	if (h->raw_len > 0 && (h->raw_len < 2 || memcmp(r->raw + h->raw_len - 2, "\r\n", 2) != 0))
		abort();
	check_value(h->content_type, UPSTREAM_VALUE_MAX);
	check_value(h->retry_after, UPSTREAM_VALUE_MAX);
	check_value(h->request_id, UPSTREAM_VALUE_MAX);
	if (h->status < 0 || h->status > 999 || r->status < 0 || r->status > 999)
		abort();
}

/* The whole of raw, at the end. */
static void
check_raw(const struct upstream_head_reader *r)
{
	const struct upstream_head *h = &r->head;
	size_t i;

	if (strnlen(r->raw, UPSTREAM_HEAD_MAX) != h->raw_len)
		abort();
	for (i = 0; i < h->raw_len; i++) {
		unsigned char c = (unsigned char)r->raw[i];

		if (c == '\r' && (i + 1 >= h->raw_len || r->raw[i + 1] != '\n'))
			abort();
		if (c == '\n' && (i == 0 || r->raw[i - 1] != '\r'))
			abort();
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct upstream_head_reader r;
	const char *p, *end, *e;
	size_t step;
	int finals = 0, got;

	if (size < 1)
		return 0;
	step = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;
	upstream_head_reset(&r);
	while (p < end) {
		if (step == 0) {
			e = memchr(p, '\n', (size_t)(end - p));
			e = e != NULL ? e + 1 : end;
		} else
			e = (size_t)(end - p) > step ? p + step : end;
		got = upstream_head_feed(&r, p, (size_t)(e - p));
		if (got != 0 && got != 1)
			abort();
		finals += got;
		if (got == 1 && (!r.done || r.head.status != r.status))
			abort();
		check_reader(&r);
		p = e;
	}
	check_raw(&r);
	if (finals > 1 || (finals == 1) != (r.done == 1))
		abort();
	return 0;
}
