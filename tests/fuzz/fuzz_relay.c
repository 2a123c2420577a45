/*
 * fuzz_relay.c: the SSE relay on arbitrary upstream bytes in arbitrary
 * splits. Input: 1 byte of flags (bit 0: Anthropic, bit 1: the client
 * asked for usage, bit 2: the client goes away at a write), 1 byte
 * seeding the piece sizes, 1 byte for the failing write, then the
 * stream. The expectation is computed apart from the relay, by one SSE
 * parse of the whole stream: what the client must receive is the stream
 * up to its last event boundary minus the byte ranges of the events
 * dropped (the usage-only chunk the client did not ask for). The client
 * receives exactly that, the events it can parse from it are the
 * stream's events minus the dropped ones, and a client that goes away
 * receives a prefix of it and nothing after.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "sse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest piece handed to the relay at once. */
#define FUZZ_CHUNK_MAX	512

/* A growable byte string. */
struct bytes {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* The reference: the whole stream parsed once, independently of the relay. */
struct ref {
	struct usage	 usage;		/* observed as the relay observes */
	int		 show_usage;
	struct bytes	 want;		/* what the client must receive */
	uint64_t	 kept;		/* stream offset up to which want is built */
	const char	*stream;	/* the input */
	struct bytes	 events;	/* kept events: name NUL data NUL, in order */
};

static enum qp_err
ref_on_event(const struct sse_event *ev, void *arg)
{
	struct ref *r = arg;
	unsigned bits = usage_event(&r->usage, ev->event, ev->data, ev->data_len, 0);

	if ((bits & USAGE_EV_USAGE_ONLY) && !r->show_usage) {
		bytes_add(&r->want, r->stream + r->kept, (size_t)(ev->start - r->kept));
		r->kept = ev->end;
		return QP_OK;
	}
	bytes_add(&r->events, ev->event, ev->event_len + 1);
	bytes_add(&r->events, ev->data, ev->data_len + 1);
	return QP_OK;
}

/* The events a client parses from what it received: name NUL data NUL each. */
static enum qp_err
got_on_event(const struct sse_event *ev, void *arg)
{
	struct bytes *b = arg;

	bytes_add(b, ev->event, ev->event_len + 1);
	bytes_add(b, ev->data, ev->data_len + 1);
	return QP_OK;
}

/* The client: what it received, and the write at which it goes away. */
struct client {
	struct bytes	 got;
	int		 writes;
	int		 fail_at;	/* 0 = never */
	int		 gone;
	size_t		 flushed;	/* got.len at the last flush */
};

static int
client_write(void *arg, const char *p, size_t n)
{
	struct client *c = arg;

	if (c->gone)
		abort();	/* nothing may be written once a write failed */
	if (++c->writes == c->fail_at) {
		c->gone = 1;
		return -1;
	}
	if (n == 0)
		abort();
	bytes_add(&c->got, p, n);
	return 0;
}

static int
client_flush(void *arg)
{
	struct client *c = arg;

	if (c->gone)
		abort();
	c->flushed = c->got.len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref ref;
	struct client cl;
	struct usage u;
	struct relay_sink sink;
	struct relay *rl;
	struct sse_parser *p;
	struct bytes parsed;
	enum usage_proto proto;
	enum relay_state st = RELAY_OK;
	const char *s;
	size_t len, off, n, flush = 0;
	uint32_t seed;
	enum qp_err err;

	if (size < 3)
		return 0;
	proto = (data[0] & 1) ? USAGE_PROTO_ANTHROPIC : USAGE_PROTO_OPENAI;
	seed = data[1] * 2654435761u + 1;
	s = (const char *)data + 3;
	len = size - 3;

	/* The expectation, from one parse of the whole stream. */
	memset(&ref, 0, sizeof(ref));
	ref.show_usage = (data[0] >> 1) & 1;
	ref.stream = s;
	usage_init(&ref.usage, proto, 0);
	if ((p = sse_new(0, ref_on_event, &ref)) == NULL)
		abort();
	err = sse_feed(p, s, len, &flush);
	sse_free(p);
	if (err == QP_OK && flush > 0 && flush >= ref.kept)
		bytes_add(&ref.want, s + ref.kept, flush - ref.kept);

	/* The relay, fed in pieces of pseudo-random sizes. */
	memset(&cl, 0, sizeof(cl));
	cl.fail_at = (data[0] & 4) ? 1 + data[2] % 16 : 0;
	sink.write = client_write;
	sink.flush = client_flush;
	sink.arg = &cl;
	usage_init(&u, proto, 0);
	if ((rl = relay_new(&sink, &u, ref.show_usage, FUZZ_CHUNK_MAX, 0)) == NULL)
		abort();
	for (off = 0; off < len; off += n) {
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % ((seed >> 8) & 1 ? 8 : FUZZ_CHUNK_MAX);
		if (n > len - off)
			n = len - off;
		st = relay_feed(rl, s + off, n, 0);
		if (st != RELAY_OK)
			break;
		if (cl.flushed != cl.got.len)
			abort();	/* every feed ends flushed */
	}
	if (st != relay_state(rl) || (st != RELAY_OK && relay_feed(rl, "\n\n", 2, 0) != st))
		abort();	/* a state other than OK sticks */
	relay_free(rl);

	if (err != QP_OK) {
		/* A line past the bound: the relay breaks too (unless the client left first). */
		if (st == RELAY_OK)
			abort();
	} else if (cl.gone) {
		if (st != RELAY_CLIENT_GONE || cl.got.len > ref.want.len ||
		    memcmp(cl.got.p, ref.want.p, cl.got.len) != 0)
			abort();
	} else {
		if (st != RELAY_OK || cl.got.len != ref.want.len ||
		    (cl.got.len > 0 && memcmp(cl.got.p, ref.want.p, cl.got.len) != 0))
			abort();
		/* The same observations as one whole parse. */
		if (u.done != ref.usage.done || u.error != ref.usage.error ||
		    u.events != ref.usage.events || u.input_tokens != ref.usage.input_tokens ||
		    u.output_tokens != ref.usage.output_tokens)
			abort();
		/* What the client parses: the stream's events minus the dropped ones. */
		memset(&parsed, 0, sizeof(parsed));
		if ((p = sse_new(0, got_on_event, &parsed)) == NULL)
			abort();
		if (sse_feed(p, cl.got.p, cl.got.len, NULL) != QP_OK || sse_finish(p) != QP_OK)
			abort();
		sse_free(p);
		if (parsed.len != ref.events.len ||
		    (parsed.len > 0 && memcmp(parsed.p, ref.events.p, parsed.len) != 0))
			abort();
		free(parsed.p);
	}
	free(ref.want.p);
	free(ref.events.p);
	free(cl.got.p);
	return 0;
}
