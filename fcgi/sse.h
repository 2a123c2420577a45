/* sse.h: an incremental parser of Server-Sent Events (text/event-stream). */
#ifndef QP_SSE_H
#define QP_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * How a relay uses it: feed each upstream chunk as it arrives; in the
 * callback, observe the event (usage_event()) and decide whether the
 * client gets it; after sse_feed() returns, write the bytes before
 * *flush and flush the client once. Offsets in struct sse_event count
 * bytes from the start of the stream, so an event to drop is the byte
 * range [start, end), which may begin in an earlier chunk: a relay that
 * drops events holds back the bytes after the last boundary until the
 * event they start is complete. A relay that drops nothing can forward
 * every byte at once and only flush at boundaries.
 */

/*
 * One complete event, handed to the callback. Every pointer is borrowed
 * from the parser and valid only during the callback; every string is
 * NUL-terminated and its length excludes the NUL.
 */
struct sse_event {
	const char	*event;		/* "event" field, "" if none was given */
	size_t		 event_len;	/* length of event (may hold NUL bytes) */
	const char	*data;		/* "data" fields joined with "\n" */
	size_t		 data_len;	/* length of data (may hold NUL bytes) */
	const char	*id;		/* last "id" of the stream, "" if none; no NUL */
	size_t		 id_len;	/* length of id */
	uint64_t	 start;		/* stream offset of the event's first byte */
	uint64_t	 end;		/* stream offset just past its blank line */
	uint64_t	 index;		/* 0 for the first event, then 1, 2, ... */
};

/* Parser state for one stream; owned by one thread. */
struct sse_parser;

/*
 * Allocates a parser that calls cb(ev, arg) once per complete event, in
 * stream order. The callback returns QP_OK to go on; any other code
 * stops the parser, and sse_feed() and sse_finish() then return that
 * code. line_max
 * bounds one line and the data of one event, in bytes: 0 means
 * QP_SSE_LINE_MAX, and larger values are lowered to it. Memory grows
 * with the longest line or event seen, never past that bound, and
 * shrinks again after a large event. Returns NULL when out of memory.
 * Free with sse_free(). Thread-safe (touches no shared state).
 */
struct sse_parser	*sse_new(size_t line_max,
			    enum qp_err (*cb)(const struct sse_event *ev, void *arg),
			    void *arg);

/* Frees p and everything it holds. NULL is allowed. */
void			 sse_free(struct sse_parser *p);

/*
 * Feeds the next len bytes of the stream, split anywhere: lines ending
 * in LF, CRLF or CR (a CR at the end of one buffer and an LF at the
 * start of the next count once), comments (lines starting with ':'),
 * fields without a colon, one optional space after the colon, a UTF-8
 * byte order mark at the very start, and a blank line dispatching the
 * event (an event with no data line is dropped, as browsers do). Calls
 * the callback for each event completed by these bytes, before
 * returning.
 *
 * If flush is not NULL, *flush is set to the number of leading bytes of
 * buf that end on an event boundary: past the last blank line or the
 * last comment or ignored line seen while no event was pending, or 0 if
 * there is none in buf. The bytes before it complete whole events, so
 * a relay may forward them and flush its client once.
 *
 * Returns QP_OK; QP_ETOOBIG once a line or the data of one event grows
 * past the bound; the callback's code once it stopped the parser; or
 * QP_ENOMEM. An error sticks: later calls return it again and parse
 * nothing. buf is only read during the call.
 */
enum qp_err		 sse_feed(struct sse_parser *p, const char *buf, size_t len,
			    size_t *flush);

/*
 * Reports how the stream ended, after its last byte was fed: QP_OK if
 * it ended cleanly on an event boundary; QP_EPARSE if an unterminated
 * line or an event without its closing blank line is pending (that
 * event is discarded, never dispatched); or the sticky error of
 * sse_feed(). Does not call the callback.
 */
enum qp_err		 sse_finish(const struct sse_parser *p);

/* Returns the number of bytes fed so far (the stream offset). */
uint64_t		 sse_offset(const struct sse_parser *p);

/* Returns the number of events dispatched so far. */
uint64_t		 sse_events(const struct sse_parser *p);

#endif /* QP_SSE_H */
