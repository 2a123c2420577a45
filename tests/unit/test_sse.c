/* test_sse.c: the SSE parser gives the same events for every split of the stream. */
#include "../tap.h"
#include "bounds.h"
#include "sse.h"

/* What a run of the parser produced, as text that is easy to compare. */
struct log {
	char		 text[8192];	/* one "[event]{data}<id>" per event */
	size_t		 len;		/* bytes used in text */
	int		 overflow;	/* 1 if text filled up */
	uint64_t	 start[32];	/* start offset of each event */
	uint64_t	 end[32];	/* end offset of each event */
	size_t		 n;		/* events seen */
	size_t		 stop_at;	/* QP_ECLOSED at this event (from 1), 0 never */
};

static void
log_put(struct log *l, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char esc[8];
		size_t k = 0;
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			esc[k++] = '\\';
			esc[k++] = 'n';
		} else if (c == '\r') {
			esc[k++] = '\\';
			esc[k++] = 'r';
		} else if (c == '\0') {
			esc[k++] = '\\';
			esc[k++] = '0';
		} else
			esc[k++] = (char)c;
		if (l->len + k + 1 >= sizeof(l->text)) {
			l->overflow = 1;
			return;
		}
		memcpy(l->text + l->len, esc, k);
		l->len += k;
		l->text[l->len] = '\0';
	}
}

static enum qp_err
collect(const struct sse_event *ev, void *arg)
{
	struct log *l = arg;

	if (ev->index != l->n)
		log_put(l, "(bad index)", 11);
	if (l->n < 32) {
		l->start[l->n] = ev->start;
		l->end[l->n] = ev->end;
	}
	l->n++;
	if (strlen(ev->event) != ev->event_len || strlen(ev->id) != ev->id_len ||
	    ev->data[ev->data_len] != '\0')
		log_put(l, "(bad length)", 12);
	log_put(l, "[", 1);
	log_put(l, ev->event, ev->event_len);
	log_put(l, "]{", 2);
	log_put(l, ev->data, ev->data_len);
	log_put(l, "}<", 2);
	log_put(l, ev->id, ev->id_len);
	log_put(l, ">", 1);
	if (l->stop_at != 0 && l->n == l->stop_at)
		return QP_ECLOSED;
	return QP_OK;
}

/*
 * Feeds in[0..len) cut at the cut points (ascending, ncut of them) and
 * fills l; returns the code of sse_finish(), or of the first failing feed.
 */
static enum qp_err
run(const char *in, size_t len, const size_t *cut, size_t ncut, size_t max,
    struct log *l)
{
	struct sse_parser *p;
	size_t from = 0, k, to;
	enum qp_err err = QP_OK, ferr;

	memset(l, 0, sizeof(*l));
	p = sse_new(max, collect, l);
	if (p == NULL)
		return QP_ENOMEM;
	for (k = 0; k <= ncut; k++) {
		to = k < ncut ? cut[k] : len;
		ferr = sse_feed(p, in + from, to - from, NULL);
		if (ferr != QP_OK && err == QP_OK)
			err = ferr;
		from = to;
	}
	if (err == QP_OK)
		err = sse_finish(p);
	if (sse_offset(p) != len)
		log_put(l, "(bad offset)", 12);
	if (sse_events(p) != l->n)
		log_put(l, "(bad count)", 11);
	sse_free(p);
	return err;
}

static void
show(const char *in, size_t len)
{
	struct log l;

	memset(&l, 0, sizeof(l));
	log_put(&l, in, len);
	printf("#   input:    \"%s\"\n", l.text);
}

/*
 * Checks one stream: whole, split at every point into two and three
 * chunks, and one byte at a time, always against the same golden events.
 */
static void
check_splits(const char *name, const char *in, size_t len, size_t max,
    const char *want, enum qp_err want_err)
{
	struct log l;
	size_t cut[2], i, j, nruns = 0, *bytes = NULL;
	enum qp_err err;
	int good = 1;

	err = run(in, len, NULL, 0, max, &l);
	if (!is_str(l.text, want, "%s: events (whole)", name))
		show(in, len);
	if (!is_int(err, want_err, "%s: end state (whole)", name))
		show(in, len);
	for (i = 0; i <= len && good; i++) {
		cut[0] = i;
		err = run(in, len, cut, 1, max, &l);
		nruns++;
		if (strcmp(l.text, want) != 0 || err != want_err) {
			good = 0;
			show(in, len);
			printf("#   split at %zu\n"
			    "#   expected: \"%s\" (%d)\n#   actual:   \"%s\" (%d)\n",
			    i, want, (int)want_err, l.text, (int)err);
		}
		for (j = i; j <= len && good; j++) {
			cut[1] = j;
			err = run(in, len, cut, 2, max, &l);
			nruns++;
			if (strcmp(l.text, want) != 0 || err != want_err) {
				good = 0;
				show(in, len);
				printf("#   split at %zu and %zu\n"
				    "#   expected: \"%s\" (%d)\n#   actual:   \"%s\" (%d)\n",
				    i, j, want, (int)want_err, l.text, (int)err);
			}
		}
	}
	ok(good, "%s: same events for all %zu two- and three-chunk splits", name, nruns);
	if (len > 0)
		bytes = malloc(len * sizeof(*bytes));
	if (bytes != NULL) {
		for (i = 0; i < len; i++)
			bytes[i] = i + 1;
		err = run(in, len, bytes, len - 1, max, &l);
		free(bytes);
		if (!is_str(l.text, want, "%s: events (one byte at a time)", name))
			show(in, len);
		is_int(err, want_err, "%s: end state (one byte at a time)", name);
	}
}

/* A string literal and its length, for streams without NUL bytes. */
#define SLEN(s)	(s), (sizeof(s) - 1)

struct golden {
	const char	*name;		/* what the case shows */
	const char	*in;		/* the stream */
	size_t		 len;		/* its length, 0 = strlen */
	const char	*want;		/* expected events */
	enum qp_err	 err;		/* expected end state */
};

#define OPENAI_STREAM \
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"inde" \
	"x\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"u" \
	"sage\":null}\n\n" \
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}," \
	"\"finish_reason\":null}]}\n\n" \
	": OPENROUTER PROCESSING\n\n" \
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completio" \
	"n_tokens\":2,\"total_tokens\":11}}\n\n" \
	"data: [DONE]\n\n"

#define ANTHROPIC_STREAM \
	"event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1" \
	"\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\r\n\r\n" \
	"event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n" \
	"event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"de" \
	"lta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\r\n\r\n" \
	"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"

static const struct golden goldens[] = {
	{ "empty stream", "", 0, "", QP_OK },
	{ "one event", "data: hello\n\n", 0, "[]{hello}<>", QP_OK },
	{ "openai stream", OPENAI_STREAM, 0,
	    "[]{{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index"
	    "\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\""
	    "usage\":null}}<>"
	    "[]{{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
	    "\"finish_reason\":null}]}}<>"
	    "[]{{\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion"
	    "_tokens\":2,\"total_tokens\":11}}}<>"
	    "[]{[DONE]}<>", QP_OK },
	{ "anthropic stream, CRLF", ANTHROPIC_STREAM, 0,
	    "[message_start]{{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":"
	    "{\"input_tokens\":25,\"output_tokens\":1}}}}<>"
	    "[ping]{{\"type\": \"ping\"}}<>"
	    "[content_block_delta]{{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"typ"
	    "e\":\"text_delta\",\"text\":\"Hello\"}}}<>"
	    "[message_stop]{{\"type\":\"message_stop\"}}<>", QP_OK },
	{ "CR line endings", "event: a\rdata: 1\r\rdata: 2\r\r", 0, "[a]{1}<>[]{2}<>", QP_OK },
	{ "mixed line endings", "data: 1\r\n\ndata: 2\n\r\ndata: 3\r\r\n", 0,
	    "[]{1}<>[]{2}<>[]{3}<>", QP_OK },
	{ "CR CR is two lines", "data: a\r\r\ndata: b\n\n", 0, "[]{a}<>[]{b}<>", QP_OK },
	{ "LF CR LF", "data: a\n\r\n", 0, "[]{a}<>", QP_OK },
	{ "multi-line data", "data: one\ndata: two\ndata:\ndata: four\n\n", 0,
	    "[]{one\\ntwo\\n\\nfour}<>", QP_OK },
	{ "comments", ": hello\n:\ndata: a\n: inside\ndata: b\n\n:bye\n", 0,
	    "[]{a\\nb}<>", QP_OK },
	{ "field without colon", "data\n\ndata\ndata\n\nevent\ndata: x\n\n", 0,
	    "[]{}<>[]{\\n}<>[]{x}<>", QP_OK },
	{ "one optional space", "data:  two spaces\ndata:none\ndata:\ttab\n\n", 0,
	    "[]{ two spaces\\nnone\\n\ttab}<>", QP_OK },
	{ "colon in value", "data: a: b:c\n\n", 0, "[]{a: b:c}<>", QP_OK },
	{ "BOM at start", "\xef\xbb\xbf" "data: bom\n\n", 0, "[]{bom}<>", QP_OK },
	{ "BOM only once", "\xef\xbb\xbf\xef\xbb\xbf" "data: x\n\ndata: y\n\n", 0,
	    "[]{y}<>", QP_OK },
	{ "BOM later is data", "data: a\n\n\xef\xbb\xbf" "data: b\n\n", 0, "[]{a}<>", QP_OK },
	{ "partial BOM starts the line", "\xef\xbb" "data: x\n\n\xef\n\ndata: y\n\n", 0,
	    "[]{y}<>", QP_OK },
	{ "partial BOM line is data", "\xef" "\n" "data: z\n\n", 0, "[]{z}<>", QP_OK },
	{ "event name resets", "event: a\ndata: 1\n\ndata: 2\n\n", 0, "[a]{1}<>[]{2}<>", QP_OK },
	{ "last event name wins", "event: a\nevent: b\ndata: 1\n\n", 0, "[b]{1}<>", QP_OK },
	{ "id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", 0,
	    "[]{a}<7>[]{b}<7>[]{c}<>", QP_OK },
	{ "id with NUL ignored", "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", 32,
	    "[]{a}<1>[]{b}<1>", QP_OK },
	{ "NUL in data", "data: a\0b\n\n", 11, "[]{a\\0b}<>", QP_OK },
	{ "no data, no event", "event: a\n\nid: 3\n\nretry: 100\n\n", 0, "", QP_OK },
	{ "unknown fields ignored", "foo: bar\nretry: 5\ndata: x\nDATA: y\n\n", 0,
	    "[]{x}<>", QP_OK },
	{ "blank lines only", "\n\n\r\n\r\r", 0, "", QP_OK },
	{ "unterminated final event", "data: a\n\ndata: b\n", 0, "[]{a}<>", QP_EPARSE },
	{ "unterminated final line", "data: a\n\ndata: b", 0, "[]{a}<>", QP_EPARSE },
	{ "unterminated comment line", "data: a\n\n: keep", 0, "[]{a}<>", QP_EPARSE },
	{ "trailing comment is clean", "data: a\n\n: keepalive\n", 0, "[]{a}<>", QP_OK },
	{ "ends after CR", "data: a\r\r", 0, "[]{a}<>", QP_OK },
	{ "partial BOM at end", "\xef\xbb", 0, "", QP_EPARSE },
};

/* Line and event bounds with a small limit, across splits. */
static void
check_bounds(void)
{
	struct log l;
	char *big = NULL;
	size_t n;
	enum qp_err err;

	check_splits("line at the bound", SLEN("data: 0123456789\n\n"), 16,
	    "[]{0123456789}<>", QP_OK);
	check_splits("line over the bound", SLEN("data: a\n\ndata: 01234567890\n\ndata: b\n\n"), 16,
	    "[]{a}<>", QP_ETOOBIG);
	check_splits("comment over the bound", SLEN("data: a\n\n:01234567890123456\n\ndata: b\n\n"),
	    16, "[]{a}<>", QP_ETOOBIG);
	check_splits("unterminated line over the bound",
	    SLEN("data: a\n\ndata: 0123456789012345"), 16,
	    "[]{a}<>", QP_ETOOBIG);
	check_splits("event data at the bound", SLEN("data: 0123456\ndata: 01234567\n\n"), 16,
	    "[]{0123456\\n01234567}<>", QP_OK);
	check_splits("event data over the bound",
	    SLEN("data: 0123456\ndata: 012345678\n\ndata: b\n\n"),
	    16, "", QP_ETOOBIG);
	check_splits("many empty data lines", SLEN("data\ndata\ndata\ndata\ndata\ndata\n\n"), 4,
	    "", QP_ETOOBIG);

	/* The default bound is QP_SSE_LINE_MAX; memory stays within it. */
	n = QP_SSE_LINE_MAX + 16;
	big = malloc(n);
	if (big == NULL) {
		skip("out of memory");
		return;
	}
	memcpy(big, "data: a\n\ndata: ", 15);
	memset(big + 15, 'x', n - 15);
	err = run(big, n, NULL, 0, 0, &l);
	is_int(err, QP_ETOOBIG, "a line longer than QP_SSE_LINE_MAX fails (one chunk)");
	is_str(l.text, "[]{a}<>", "events before the long line are kept");
	{
		size_t cut[64], k;

		for (k = 0; k < 64; k++)
			cut[k] = 9 + k * (n / 64);
		err = run(big, n, cut, 64, 0, &l);
	}
	is_int(err, QP_ETOOBIG, "a line longer than QP_SSE_LINE_MAX fails (65 chunks)");
	/* A line of exactly the bound passes. */
	memset(big + 15, 'y', QP_SSE_LINE_MAX - 6);
	memcpy(big + 9 + QP_SSE_LINE_MAX, "\n\n", 2);
	err = run(big, 9 + QP_SSE_LINE_MAX + 2, NULL, 0, 0, &l);
	is_int(err, QP_OK, "a line of exactly QP_SSE_LINE_MAX bytes passes");
	is_int(l.n, 2, "and its event is dispatched");
	free(big);
	/* A bound above QP_SSE_LINE_MAX is lowered to it. */
	{
		struct sse_parser *p = sse_new(QP_SSE_LINE_MAX * 4, collect, &l);
		char *b2 = malloc(QP_SSE_LINE_MAX + 1);

		if (p != NULL && b2 != NULL) {
			memset(b2, 'x', QP_SSE_LINE_MAX + 1);
			is_int(sse_feed(p, b2, QP_SSE_LINE_MAX + 1, NULL), QP_ETOOBIG,
			    "a larger bound is lowered to QP_SSE_LINE_MAX");
		}
		free(b2);
		sse_free(p);
	}
}

/* Errors stick, and the callback can stop the parser. */
static void
check_errors(void)
{
	struct log l;
	struct sse_parser *p;
	size_t flush = 99;

	memset(&l, 0, sizeof(l));
	p = sse_new(8, collect, &l);
	ok(p != NULL, "parser allocated");
	if (p == NULL)
		return;
	is_int(sse_feed(p, "data: 123456\n\n", 14, &flush), QP_ETOOBIG, "line over 8 bytes");
	is_int(flush, 0, "no boundary before the error");
	is_int(sse_feed(p, "data: a\n\n", 9, &flush), QP_ETOOBIG, "the error sticks");
	is_int(sse_finish(p), QP_ETOOBIG, "finish reports the error");
	is_int(l.n, 0, "no event after the error");
	sse_free(p);

	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	p = sse_new(0, collect, &l);
	if (p == NULL)
		return;
	is_int(sse_feed(p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, &flush), QP_ECLOSED,
	    "the callback's code stops the parser");
	is_int(flush, 9, "boundary of the last event before the stop");
	is_str(l.text, "[]{1}<>[]{2}<>", "no event after the stop");
	is_int(sse_feed(p, "data: 4\n\n", 9, NULL), QP_ECLOSED, "the stop sticks");
	is_int(sse_finish(p), QP_ECLOSED, "finish reports the callback's code");
	sse_free(p);
	sse_free(NULL);
	ok(1, "sse_free(NULL) is harmless");
}

/* Where events begin and end, and what a relay may flush. */
static void
check_offsets(void)
{
	static const char s[] = "data: a\n\n: ka\n\nevent: e\r\ndata: b\r\n\r\nid: 1\ndata: c\r\r";
	struct log l;
	struct sse_parser *p;
	size_t flush;
	enum qp_err err;

	err = run(s, sizeof(s) - 1, NULL, 0, 0, &l);
	is_int(err, QP_OK, "offsets: stream parses");
	is_int(l.n, 3, "offsets: three events");
	is_int(l.start[0], 0, "first event starts at 0");
	is_int(l.end[0], 9, "first event ends past its blank line");
	is_int(l.start[1], 15, "second event starts past the comment block");
	is_int(l.end[1], 36, "second event ends past CRLF CRLF");
	is_int(l.start[2], 36, "third event starts where the second ended");
	is_int(l.end[2], (int)sizeof(s) - 1, "third event ends past CR CR");

	memset(&l, 0, sizeof(l));
	p = sse_new(0, collect, &l);
	if (p == NULL)
		return;
	sse_feed(p, "data: a\n\ndata: b", 16, &flush);
	is_int(flush, 9, "flush stops before an unfinished event");
	sse_feed(p, "\n\n", 2, &flush);
	is_int(flush, 2, "flush covers the end of the event");
	sse_feed(p, ": keepalive\n", 12, &flush);
	is_int(flush, 12, "a comment between events may be flushed");
	sse_feed(p, "data: x\n: c\n", 12, &flush);
	is_int(flush, 0, "a comment inside an event is not a boundary");
	sse_feed(p, "\r", 1, &flush);
	is_int(flush, 1, "a CR blank line ends the event at once");
	is_int(l.end[2], 16 + 2 + 12 + 12 + 1, "its end is past the CR");
	sse_feed(p, "\ndata: y\r", 9, &flush);
	is_int(flush, 1, "the LF after it is flushed with the boundary");
	sse_feed(p, "\n\r\n", 3, &flush);
	is_int(flush, 3, "CRLF blank line across feeds");
	is_int(l.start[3], 16 + 2 + 12 + 12 + 2, "next event starts past the LF");
	is_str(l.text, "[]{a}<>[]{b}<>[]{x}<>[]{y}<>", "events of the piecewise feed");
	is_int(sse_finish(p), QP_OK, "ends cleanly");
	is_int(sse_offset(p), 16 + 2 + 12 + 12 + 1 + 9 + 3, "offset counts every byte");
	sse_free(p);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];

		check_splits(g->name, g->in, g->len ? g->len : strlen(g->in), 0, g->want, g->err);
	}
	check_bounds();
	check_errors();
	check_offsets();
	return done_testing();
}
