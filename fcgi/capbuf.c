/* capbuf.c: a growable byte buffer that never grows past a cap of its own. */
#include <stdlib.h>
#include <string.h>

#include "capbuf.h"

/* Allocated first; doubled from there, never past max + 1. */
#define CAPBUF_FIRST	4096

int
capbuf_add(struct capbuf *b, const char *p, size_t n)
{
	size_t want, cap;
	char *np;

	if (n > b->max - b->len) {
		n = b->max - b->len;
		b->over = 1;
	}
	if (n == 0)
		return 0;
	want = b->len + n + 1;
	if (want > b->cap) {
		cap = b->cap > 0 ? b->cap : CAPBUF_FIRST;
		while (cap < want)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void
capbuf_free(struct capbuf *b)
{

	free(b->p);
	memset(b, 0, sizeof(*b));
}
