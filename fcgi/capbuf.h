/* capbuf.h: a growable byte buffer that never grows past a cap of its own. */
#ifndef QP_CAPBUF_H
#define QP_CAPBUF_H

#include <stddef.h>

/*
 * Used where an upstream's bytes are kept for a while (an error body held
 * for the failover verdict, a non-streamed answer, the first bytes of a JSON
 * answer for its usage): a zeroed struct with max set is an empty buffer;
 * bytes past max are dropped and over is set, so a hostile upstream costs
 * at most max + 1 bytes. p is NUL-terminated once a byte was added.
 * Owned by one thread.
 */
struct capbuf {
	char	*p;		/* bytes, owned; NULL while empty */
	size_t	 len;		/* bytes used */
	size_t	 cap;		/* bytes allocated */
	size_t	 max;		/* never grows past this */
	int	 over;		/* 1 once bytes were dropped at max */
};

/* Appends n bytes, up to max. 0, or -1 when out of memory (b unchanged). */
int	capbuf_add(struct capbuf *b, const char *p, size_t n);

/* Frees the bytes and zeroes b (max too). */
void	capbuf_free(struct capbuf *b);

#endif /* QP_CAPBUF_H */
