/*
 * fuzz_usage.c: usage extraction on arbitrary upstream bytes: as a
 * whole response body, as the data of one event, and as an SSE stream
 * observed event by event; then the cost of what was seen. Input: 1
 * mode byte (bit 0 protocol, bit 1 bare cost, bits 2-3 event name), then
 * the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "sse.h"
#include "usage.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[4] = { "", "error", "message_stop", "message_delta" };

/* Aborts if u breaks the documented ranges. */
static void
check(const struct usage *u)
{
	const int64_t c[5] = { u->input_tokens, u->output_tokens, u->cache_read_tokens,
	    u->cache_write_tokens, u->reasoning_tokens };
	struct cost_price price = { 1000000, 2000000, -1, 3000000, 0, { { 0, 0, 0, 0, 0 } } };
	struct cost k;
	size_t i;

	for (i = 0; i < 5; i++)
		if (c[i] < -1 || c[i] > USAGE_TOKENS_MAX)
			abort();
	if (u->cost_microdollars < -1 || u->thinking_chars < 0 || u->bad_events > u->events ||
	    (unsigned)u->cache_status >= USAGE_CACHE__MAX)
		abort();
	if (memchr(u->model, '\0', sizeof(u->model)) == NULL ||
	    memchr(u->response_id, '\0', sizeof(u->response_id)) == NULL ||
	    memchr(u->finish_reason, '\0', sizeof(u->finish_reason)) == NULL ||
	    memchr(u->error_type, '\0', sizeof(u->error_type)) == NULL ||
	    memchr(u->raw_usage, '\0', sizeof(u->raw_usage)) == NULL)
		abort();
	k = cost_compute(u, &price);
	if (k.microdollars < 0 || k.microdollars > COST_CAP ||
	    (unsigned)k.exactness >= COST_EXACTNESS__MAX)
		abort();
	k = cost_compute(u, NULL);
	if (k.microdollars < 0 || k.microdollars > COST_CAP)
		abort();
}

static enum qp_err
observe(const struct sse_event *ev, void *arg)
{
	struct usage *u = arg;

	usage_event(u, ev->event, ev->data, ev->data_len, (int64_t)ev->index);
	return QP_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usage u;
	struct sse_parser *p;
	enum usage_proto proto;
	const char *s;
	size_t n;
	unsigned bits;

	if (size < 1)
		return 0;
	proto = data[0] & 1 ? USAGE_PROTO_ANTHROPIC : USAGE_PROTO_OPENAI;
	s = (const char *)data + 1;
	n = size - 1;

	usage_init(&u, proto, data[0] & 2);
	usage_body(&u, s, n);
	check(&u);

	usage_init(&u, proto, data[0] & 2);
	bits = usage_event(&u, names[(data[0] >> 2) & 3], s, n, 7);
	if ((bits & USAGE_EV_USAGE_ONLY) && !(bits & USAGE_EV_USAGE))
		abort();
	if ((bits & USAGE_EV_CONTENT) && u.first_token_at != 7)
		abort();
	check(&u);

	usage_init(&u, proto, data[0] & 2);
	p = sse_new(4096, observe, &u);
	if (p == NULL)
		abort();
	sse_feed(p, s, n, NULL);
	sse_free(p);
	check(&u);
	return 0;
}
