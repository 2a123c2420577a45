/* relay.c: the SSE relay: upstream chunks in, whole events out through a sink. */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "relay.h"
#include "sse.h"
#include "xlate.h"

/* First allocation of the held bytes. */
#define RELAY_BUF_MIN	4096

struct relay {
	struct relay_sink sink;		/* where bytes go */
	struct usage	*usage;		/* borrowed: every event is observed on it */
	int		 show_usage;	/* 0: usage-only chunks are dropped */
	struct sse_parser *parser;	/* finds the events and their offsets */
	char		*held;		/* stream bytes not yet written or dropped */
	size_t		 len;		/* bytes in held */
	size_t		 cap;		/* bytes allocated at held */
	size_t		 max;		/* held never grows past this */
	uint64_t	 held_off;	/* stream offset of held[0] */
	uint64_t	 cur;		/* stream offset of the next byte to write or skip */
	uint64_t	 skip_lf;	/* offset just past a dropped event ended by CR: an LF
					   there belongs to it; 0 = none */
	int64_t		 now;		/* the clock of the current call, monotonic ms */
	int64_t		 last_write;	/* monotonic ms of the last flush to the client */
	uint64_t	 dropped;	/* events cut out */
	enum relay_state state;		/* RELAY_OK until the client goes or the stream breaks */
	struct xlate_stream *xs;	/* translating: the transform, owned; NULL = relay bytes */
	int		 wrote;		/* translating: bytes written since the last flush */
};

/* Writes held bytes from rl->cur up to stream offset upto, without flushing. */
static int
relay_write_to(struct relay *rl, uint64_t upto)
{
	uint64_t from = rl->cur;

	if (upto <= from)
		return 0;
	if (rl->skip_lf != 0 && rl->skip_lf == from && rl->held[from - rl->held_off] == '\n')
		from++;
	rl->skip_lf = 0;
	rl->cur = upto;
	if (upto == from)
		return 0;
	if (rl->sink.write(rl->sink.arg, rl->held + (from - rl->held_off),
	    (size_t)(upto - from)) != 0) {
		rl->state = RELAY_CLIENT_GONE;
		return -1;
	}
	return 0;
}

/*
 * The parser's callback: observes the event and, when the client is not
 * to see it, writes what precedes it and skips it. No per-event memory.
 */
static enum qp_err
relay_on_event(const struct sse_event *ev, void *arg)
{
	struct relay *rl = arg;
	unsigned bits;

	bits = usage_event(rl->usage, ev->event, ev->data, ev->data_len, rl->now);
	if (!(bits & USAGE_EV_USAGE_ONLY) || rl->show_usage)
		return QP_OK;
	if (relay_write_to(rl, ev->start) != 0)
		return QP_ECLOSED;
	rl->cur = ev->end;
	rl->skip_lf = 0;
	if (ev->end > ev->start && rl->held[ev->end - 1 - rl->held_off] == '\r')
		rl->skip_lf = ev->end;
	rl->dropped++;
	return QP_OK;
}

/* The transform's sink: its whole events go to the client's, flushed per upstream chunk. */
static enum qp_err
relay_xwrite(const char *buf, size_t len, void *arg)
{
	struct relay *rl = arg;

	if (rl->sink.write(rl->sink.arg, buf, len) != 0) {
		rl->state = RELAY_CLIENT_GONE;
		return QP_ECLOSED;
	}
	rl->wrote = 1;
	return QP_OK;
}

/* The parser's callback when translating: observes the upstream event, then translates it. */
static enum qp_err
relay_on_xevent(const struct sse_event *ev, void *arg)
{
	struct relay *rl = arg;

	(void)usage_event(rl->usage, ev->event, ev->data, ev->data_len, rl->now);
	return xlate_stream_event(rl->xs, ev->event, ev->event_len, ev->data, ev->data_len);
}

struct relay *
relay_new_xlate(const struct relay_sink *sink, struct usage *usage,
    const struct xlate_ctx *c, int64_t now_ms)
{
	struct relay *rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if ((rl->parser = sse_new(0, relay_on_xevent, rl)) == NULL ||
	    (rl->xs = xlate_stream_new(c, relay_xwrite, rl)) == NULL) {
		relay_free(rl);
		return NULL;
	}
	rl->sink = *sink;
	rl->usage = usage;
	rl->last_write = now_ms;
	rl->state = RELAY_OK;
	return rl;
}

/* Translating: flushes what the transform wrote; the state after it. */
static enum relay_state
relay_xflush(struct relay *rl, int64_t now_ms)
{

	if (!rl->wrote || rl->state != RELAY_OK)
		return rl->state;
	rl->wrote = 0;
	if (rl->sink.flush(rl->sink.arg) != 0) {
		rl->state = RELAY_CLIENT_GONE;
		return rl->state;
	}
	rl->last_write = now_ms;
	return RELAY_OK;
}

/* Translating: the upstream bytes go through the parser, the transform writes. */
static enum relay_state
relay_xfeed(struct relay *rl, const char *buf, size_t len, int64_t now_ms)
{

	if (sse_feed(rl->parser, buf, len, NULL) != QP_OK && rl->state == RELAY_OK) {
		/* A bound or memory: the transform told the client when it could. */
		rl->wrote = 0;
		(void)rl->sink.flush(rl->sink.arg);
		rl->state = RELAY_BROKEN;
	}
	return relay_xflush(rl, now_ms);
}

enum qp_err
relay_finish(struct relay *rl, int clean, int64_t now_ms)
{
	enum qp_err err;

	if (rl->xs == NULL || rl->state == RELAY_CLIENT_GONE)
		return QP_OK;
	if (rl->state != RELAY_OK)
		return QP_EUPSTREAM;
	if (sse_finish(rl->parser) != QP_OK)
		clean = 0;
	err = xlate_stream_finish(rl->xs, clean);
	(void)relay_xflush(rl, now_ms);
	return err;
}

const struct xlate_warn *
relay_warn(const struct relay *rl)
{

	return rl->xs != NULL ? xlate_stream_warn(rl->xs) : NULL;
}

struct relay *
relay_new(const struct relay_sink *sink, struct usage *usage, int show_usage,
    size_t chunk_max, int64_t now_ms)
{
	struct relay *rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if ((rl->parser = sse_new(0, relay_on_event, rl)) == NULL) {
		free(rl);
		return NULL;
	}
	rl->sink = *sink;
	rl->usage = usage;
	rl->show_usage = show_usage;
	rl->max = QP_SSE_LINE_MAX + chunk_max;
	rl->last_write = now_ms;
	rl->state = RELAY_OK;
	return rl;
}

void
relay_free(struct relay *rl)
{

	if (rl == NULL)
		return;
	xlate_stream_free(rl->xs);
	sse_free(rl->parser);
	free(rl->held);
	free(rl);
}

/* Appends len bytes to the held ones. 0, or -1 past rl->max or out of memory. */
static int
relay_hold(struct relay *rl, const char *buf, size_t len)
{
	size_t cap;
	char *np;

	if (len > rl->max - rl->len)
		return -1;
	if (rl->len + len > rl->cap) {
		cap = rl->cap > 0 ? rl->cap : RELAY_BUF_MIN;
		while (cap < rl->len + len)
			cap *= 2;
		if (cap > rl->max)
			cap = rl->max;
		if ((np = realloc(rl->held, cap)) == NULL)
			return -1;
		rl->held = np;
		rl->cap = cap;
	}
	memcpy(rl->held + rl->len, buf, len);
	rl->len += len;
	return 0;
}

enum relay_state
relay_feed(struct relay *rl, const char *buf, size_t len, int64_t now_ms)
{
	uint64_t base, upto;
	size_t flush = 0, used;
	enum qp_err err;

	if (rl->state != RELAY_OK || len == 0)
		return rl->state;
	rl->now = now_ms;
	if (rl->xs != NULL)
		return relay_xfeed(rl, buf, len, now_ms);
	base = sse_offset(rl->parser);
	if (relay_hold(rl, buf, len) != 0) {
		rl->state = RELAY_BROKEN;
		return rl->state;
	}
	err = sse_feed(rl->parser, buf, len, &flush);
	if (err != QP_OK) {
		/* A client gone while a dropped event was skipped is no broken stream. */
		if (rl->state == RELAY_OK)
			rl->state = RELAY_BROKEN;
		return rl->state;
	}
	if (flush == 0)
		return RELAY_OK;
	upto = base + flush;
	if (relay_write_to(rl, upto) != 0)
		return rl->state;
	used = (size_t)(upto - rl->held_off);
	memmove(rl->held, rl->held + used, rl->len - used);
	rl->len -= used;
	rl->held_off = upto;
	if (rl->sink.flush(rl->sink.arg) != 0) {
		rl->state = RELAY_CLIENT_GONE;
		return rl->state;
	}
	rl->last_write = now_ms;
	return RELAY_OK;
}

enum relay_state
relay_tick(struct relay *rl, int64_t now_ms, int64_t interval_ms)
{
	static const char keepalive[] = ": keepalive\n\n";

	if (rl->state != RELAY_OK || rl->len > 0 || now_ms - rl->last_write < interval_ms)
		return rl->state;
	if (rl->sink.write(rl->sink.arg, keepalive, sizeof(keepalive) - 1) != 0 ||
	    rl->sink.flush(rl->sink.arg) != 0) {
		rl->state = RELAY_CLIENT_GONE;
		return rl->state;
	}
	rl->last_write = now_ms;
	return RELAY_OK;
}

enum relay_state
relay_state(const struct relay *rl)
{

	return rl->state;
}

size_t
relay_held(const struct relay *rl)
{

	return rl->len;
}

uint64_t
relay_events(const struct relay *rl)
{

	return sse_events(rl->parser);
}

uint64_t
relay_dropped(const struct relay *rl)
{

	return rl->dropped;
}
