/* sse.c: an incremental, bounded Server-Sent Events parser. */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "sse.h"

/* First allocation of a buffer. */
#define SSE_BUF_MIN	256
/* A buffer larger than this is released once the event it held is done. */
#define SSE_BUF_KEEP	(64 * 1024)
/* Bytes of the UTF-8 byte order mark. */
#define SSE_BOM_LEN	3

/* A growable byte buffer, always NUL-terminated once allocated. */
struct sse_buf {
	char	*p;	/* bytes, NULL before the first use */
	size_t	 len;	/* bytes in use, excluding the NUL */
	size_t	 cap;	/* bytes allocated */
};

struct sse_parser {
	enum qp_err	(*cb)(const struct sse_event *, void *); /* event sink */
	void		*arg;		/* passed to cb */
	size_t		 max;		/* bound on one line and on one event's data */
	struct sse_buf	 line;		/* unterminated line carried between feeds */
	struct sse_buf	 data;		/* pending data lines, each + "\n" */
	struct sse_buf	 event;		/* event name of the pending event */
	struct sse_buf	 id;		/* last event id (kept across events) */
	int		 pending;	/* 1 if a field came since the boundary */
	int		 skip_lf;	/* 1 if a CR ended the last line: drop one LF */
	int		 bom;		/* BOM bytes matched; SSE_BOM_LEN: done */
	uint64_t	 off;		/* bytes fed so far */
	uint64_t	 ev_start;	/* stream offset of the last event boundary */
	uint64_t	 nevents;	/* events dispatched */
	enum qp_err	 err;		/* sticky error, QP_OK while parsing */
};

static const unsigned char sse_bom[SSE_BOM_LEN] = { 0xef, 0xbb, 0xbf };

/* Makes room for need bytes plus a NUL in b, never beyond limit + 1. */
static enum qp_err
sse_buf_reserve(struct sse_buf *b, size_t need, size_t limit)
{
	size_t ncap;
	char *np;

	if (need + 1 <= b->cap)
		return QP_OK;
	if (need > limit)
		return QP_ETOOBIG;
	ncap = b->cap > 0 ? b->cap : SSE_BUF_MIN;
	while (ncap < need + 1)
		ncap *= 2;
	if (ncap > limit + 1)
		ncap = limit + 1;
	np = realloc(b->p, ncap);
	if (np == NULL)
		return QP_ENOMEM;
	b->p = np;
	b->cap = ncap;
	return QP_OK;
}

/* Appends n bytes to b, keeping b within limit bytes. */
static enum qp_err
sse_buf_append(struct sse_buf *b, const char *s, size_t n, size_t limit)
{
	enum qp_err err;

	if (n > limit || b->len > limit - n)
		return QP_ETOOBIG;
	err = sse_buf_reserve(b, b->len + n, limit);
	if (err != QP_OK)
		return err;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return QP_OK;
}

/* Empties b, releasing its memory if it grew large. */
static void
sse_buf_clear(struct sse_buf *b)
{

	if (b->cap > SSE_BUF_KEEP) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Returns b's text, or "" before its first use. */
static const char *
sse_buf_str(const struct sse_buf *b)
{

	return b->p != NULL ? b->p : "";
}

struct sse_parser *
sse_new(size_t line_max, enum qp_err (*cb)(const struct sse_event *, void *),
    void *arg)
{
	struct sse_parser *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cb = cb;
	p->arg = arg;
	p->max = line_max == 0 || line_max > QP_SSE_LINE_MAX ?
	    QP_SSE_LINE_MAX : line_max;
	p->err = QP_OK;
	return p;
}

void
sse_free(struct sse_parser *p)
{

	if (p == NULL)
		return;
	free(p->line.p);
	free(p->data.p);
	free(p->event.p);
	free(p->id.p);
	free(p);
}

/*
 * Ends the pending event at stream offset end: hands it to the callback
 * if it has data, then forgets it (the id stays).
 */
static enum qp_err
sse_dispatch(struct sse_parser *p, uint64_t end)
{
	struct sse_event ev;
	enum qp_err err = QP_OK;

	if (p->data.len > 0) {
		/* Drop the "\n" that followed the last data line. */
		p->data.len--;
		p->data.p[p->data.len] = '\0';
		memset(&ev, 0, sizeof(ev));
		ev.event = sse_buf_str(&p->event);
		ev.event_len = p->event.len;
		ev.data = p->data.p;
		ev.data_len = p->data.len;
		ev.id = sse_buf_str(&p->id);
		ev.id_len = p->id.len;
		ev.start = p->ev_start;
		ev.end = end;
		ev.index = p->nevents++;
		if (p->cb != NULL)
			err = p->cb(&ev, p->arg);
	}
	sse_buf_clear(&p->data);
	sse_buf_clear(&p->event);
	p->pending = 0;
	p->ev_start = end;
	return err;
}

/*
 * Interprets one complete line of n bytes (terminator excluded) whose
 * terminator ends at stream offset end. Sets *boundary to 1 if the
 * stream is between events after it.
 */
static enum qp_err
sse_line(struct sse_parser *p, const char *s, size_t n, uint64_t end,
    int *boundary)
{
	const char *colon, *val;
	size_t nlen, vlen;
	enum qp_err err;

	*boundary = 0;
	if (n == 0) {
		*boundary = 1;
		return sse_dispatch(p, end);
	}
	if (s[0] == ':') {
		if (!p->pending) {
			p->ev_start = end;
			*boundary = 1;
		}
		return QP_OK;
	}
	p->pending = 1;
	colon = memchr(s, ':', n);
	if (colon != NULL) {
		nlen = (size_t)(colon - s);
		val = colon + 1;
		vlen = n - nlen - 1;
		if (vlen > 0 && val[0] == ' ') {
			val++;
			vlen--;
		}
	} else {
		nlen = n;
		val = "";
		vlen = 0;
	}
	if (nlen == 4 && memcmp(s, "data", 4) == 0) {
		/* The data of one event, with its "\n" separators, stays in max. */
		if (vlen > p->max || p->data.len > p->max - vlen)
			return QP_ETOOBIG;
		err = sse_buf_append(&p->data, val, vlen, p->max + 1);
		if (err != QP_OK)
			return err;
		return sse_buf_append(&p->data, "\n", 1, p->max + 1);
	}
	if (nlen == 5 && memcmp(s, "event", 5) == 0) {
		p->event.len = 0;
		return sse_buf_append(&p->event, val, vlen, p->max);
	}
	if (nlen == 2 && memcmp(s, "id", 2) == 0) {
		/* An id holding NUL is ignored, as the specification says. */
		if (memchr(val, '\0', vlen) != NULL)
			return QP_OK;
		p->id.len = 0;
		return sse_buf_append(&p->id, val, vlen, p->max);
	}
	/* "retry" and unknown fields carry nothing a relay needs. */
	return QP_OK;
}

/* Returns the index of the first CR or LF in s[0..n), or n. */
static size_t
sse_eol(const char *s, size_t n)
{
	const char *lf, *cr;
	size_t lim;

	lf = memchr(s, '\n', n);
	lim = lf != NULL ? (size_t)(lf - s) : n;
	cr = memchr(s, '\r', lim);
	if (cr != NULL)
		return (size_t)(cr - s);
	return lim;
}

/* Consumes the start of the stream while it may be a byte order mark. */
static size_t
sse_bom_skip(struct sse_parser *p, const char *buf, size_t len)
{
	size_t i = 0;

	while (p->bom < SSE_BOM_LEN && i < len) {
		if ((unsigned char)buf[i] == sse_bom[p->bom]) {
			p->bom++;
			i++;
			continue;
		}
		/*
		 * Not a BOM: the bytes matched so far belong to the first
		 * line. They are neither CR nor LF, so they start it.
		 */
		if (p->bom > 0)
			p->err = sse_buf_append(&p->line, (const char *)sse_bom,
			    (size_t)p->bom, p->max);
		p->bom = SSE_BOM_LEN;
	}
	return i;
}

enum qp_err
sse_feed(struct sse_parser *p, const char *buf, size_t len, size_t *flush)
{
	uint64_t base = p->off;
	size_t i, j, n, term;
	const char *s;
	int boundary;
	enum qp_err err = QP_OK;

	if (flush != NULL)
		*flush = 0;
	p->off += len;
	if (p->err != QP_OK)
		return p->err;
	i = sse_bom_skip(p, buf, len);
	if (p->err != QP_OK)
		return p->err;
	while (i < len) {
		if (p->skip_lf) {
			p->skip_lf = 0;
			if (buf[i] == '\n') {
				i++;
				if (!p->pending && p->line.len == 0) {
					p->ev_start = base + i;
					if (flush != NULL)
						*flush = i;
				}
				continue;
			}
		}
		j = i + sse_eol(buf + i, len - i);
		if (j == len) {
			/* An unterminated line: keep it for the next feed. */
			err = sse_buf_append(&p->line, buf + i, len - i, p->max);
			break;
		}
		if (p->line.len > 0) {
			err = sse_buf_append(&p->line, buf + i, j - i, p->max);
			if (err != QP_OK)
				break;
			s = p->line.p;
			n = p->line.len;
		} else {
			if (j - i > p->max) {
				err = QP_ETOOBIG;
				break;
			}
			s = buf + i;
			n = j - i;
		}
		term = 1;
		if (buf[j] == '\r') {
			if (j + 1 < len) {
				if (buf[j + 1] == '\n')
					term = 2;
			} else
				p->skip_lf = 1;
		}
		err = sse_line(p, s, n, base + j + term, &boundary);
		if (p->line.len > 0)
			sse_buf_clear(&p->line);
		if (err != QP_OK)
			break;
		i = j + term;
		if (boundary && flush != NULL)
			*flush = i;
	}
	p->err = err;
	return err;
}

enum qp_err
sse_finish(const struct sse_parser *p)
{

	if (p->err != QP_OK)
		return p->err;
	if (p->line.len > 0 || p->pending ||
	    (p->bom > 0 && p->bom < SSE_BOM_LEN))
		return QP_EPARSE;
	return QP_OK;
}

uint64_t
sse_offset(const struct sse_parser *p)
{

	return p->off;
}

uint64_t
sse_events(const struct sse_parser *p)
{

	return p->nevents;
}
