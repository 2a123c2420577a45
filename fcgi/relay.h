/* relay.h: relays an upstream event stream to a client, cutting the events it did not ask for. */
#ifndef QP_RELAY_H
#define QP_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "usage.h"

/*
 * How the data plane uses it: once an upstream answers 2xx with an event
 * stream and the response head is out, relay_new(); then relay_feed()
 * with every upstream chunk as it arrives, relay_tick() while waiting,
 * and relay_free() at the end. The relay knows nothing of FastCGI: it
 * writes and flushes through the caller's sink, so it runs the same in a
 * worker thread, a unit test or a fuzzer.
 *
 * What the client gets: the upstream's bytes as they came, up to the
 * last event boundary of each chunk, flushed once per chunk, minus each
 * event dropped whole: the OpenAI usage-only chunk when the client did
 * not ask for it (the gateway asks the upstream for it to account
 * tokens). An LF that completes the CR ending a dropped event, arriving
 * in the next chunk, goes with it. So the bytes received do not depend
 * on how the upstream split its stream. Bytes after the last boundary
 * (an unfinished event) are held until the event completes, never longer
 * than QP_SSE_LINE_MAX plus one chunk; past that the stream is broken.
 * Every event is observed with usage_event() on the caller's usage.
 */

struct xlate_ctx;
struct xlate_warn;

/*
 * A translating relay (relay_new_xlate()) differs: each upstream event is
 * observed with usage_event() in the provider's protocol, then handed to
 * a streaming translation (xlate_stream_new() of fcgi/xlate.h) whose
 * client events are written and flushed once per upstream chunk; nothing
 * is held but the parser's unfinished line. relay_finish() writes the
 * client's closing events (or an error event of its family when the
 * upstream stream ended early).
 */

/* Where the relay's bytes go; both functions return 0, or -1 once the client is gone. */
struct relay_sink {
	int	(*write)(void *arg, const char *buf, size_t len);	/* buffer bytes */
	int	(*flush)(void *arg);		/* push the buffered bytes to the client */
	void	*arg;				/* passed to both */
};

/* How a relay stands after a call. */
enum relay_state {
	RELAY_OK,		/* going on */
	RELAY_CLIENT_GONE,	/* the sink reported the client gone; nothing more is written */
	RELAY_BROKEN,		/* the stream broke: a line or event past its bound, or no memory */
	RELAY__MAX
};

/* One stream's relay; owned by one thread. */
struct relay;

/*
 * Makes a relay writing to sink (copied) and observing each event on
 * usage (borrowed: it must outlive the relay; start it with usage_init()).
 * show_usage 0 drops the OpenAI usage-only chunks (USAGE_EV_USAGE_ONLY).
 * chunk_max is the largest chunk relay_feed() will be given (it bounds
 * what is held). now_ms is the caller's monotonic clock, used for the
 * keepalive: the head just written counts as the last write. Returns
 * NULL when out of memory. Thread-safe (touches no shared state).
 */
struct relay		*relay_new(const struct relay_sink *sink, struct usage *usage,
			    int show_usage, size_t chunk_max, int64_t now_ms);

/*
 * Makes a translating relay for the request c was filled for by
 * xlate_request() (borrowed during the call), writing to sink (copied)
 * and observing each event on usage (borrowed, as for relay_new(), started
 * in the provider's protocol). Returns NULL when out of memory.
 * Thread-safe.
 */
struct relay		*relay_new_xlate(const struct relay_sink *sink, struct usage *usage,
			    const struct xlate_ctx *c, int64_t now_ms);

/*
 * Ends a translating relay once the upstream transfer is over (clean: 1
 * if it ended without a transport error): the client's closing events,
 * or an error event of its family, written and flushed. Returns QP_OK,
 * QP_EUPSTREAM (the upstream stream was incomplete or the relay broke),
 * or the write's error. Does nothing (QP_OK) for a relay that does not
 * translate or whose client is gone.
 */
enum qp_err		 relay_finish(struct relay *rl, int clean, int64_t now_ms);

/* Returns what a translating relay could not express (borrowed), or NULL. */
const struct xlate_warn	*relay_warn(const struct relay *rl);

/* Frees rl and what it holds. NULL is allowed. */
void			 relay_free(struct relay *rl);

/*
 * Takes the next len bytes of the upstream stream (at most chunk_max),
 * observes every event they complete, writes what the client gets up to
 * the last event boundary and flushes once. now_ms as for relay_new().
 * Returns the state; once it is not RELAY_OK it stays so and later
 * calls do nothing.
 */
enum relay_state	 relay_feed(struct relay *rl, const char *buf, size_t len,
			    int64_t now_ms);

/*
 * While the upstream is silent: when nothing is held back and nothing
 * was written for interval_ms, writes an SSE comment (": keepalive")
 * and flushes, so that a web server notices a client that went away.
 * Returns the state (RELAY_CLIENT_GONE once a write failed).
 */
enum relay_state	 relay_tick(struct relay *rl, int64_t now_ms, int64_t interval_ms);

/* Returns the current state. */
enum relay_state	 relay_state(const struct relay *rl);

/* Returns the number of stream bytes received and held back (not yet written or dropped). */
size_t			 relay_held(const struct relay *rl);

/* Returns the number of events seen and of events dropped so far. */
uint64_t		 relay_events(const struct relay *rl);
uint64_t		 relay_dropped(const struct relay *rl);

#endif /* QP_RELAY_H */
