/* spool.h: a request body read once from the client as it is sent upstream, kept on disk to be sent again. */
#ifndef QP_SPOOL_H
#define QP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>

/*
 * How a passthrough uses it: spool_init() with the client's body stream,
 * then spool_read() as curl asks for body bytes. Each byte read from the
 * client is also written to a file in dir, so that after a failed attempt
 * spool_rewind(s, 0) lets the next attempt read the same body again:
 * first from the file, then on from the client where the first attempt
 * stopped. Memory stays bounded whatever the body's size (no buffer of
 * its own: curl's upload buffer is the only one). The file is created on
 * the first byte, 0600, and unlinked at once, so it never outlives the
 * process and needs no cleanup; spool_free() closes it. When the file
 * cannot be made or written (the disk is full), the body still goes
 * through to the current attempt, but can no longer be sent again.
 * Owned by one thread.
 */

/* What spool_read() returns on an error. */
#define SPOOL_ERROR	((size_t)-1)

/* One request body. */
struct spool {
	FCGX_Stream	*in;		/* the client's body (borrowed) */
	const char	*dir;		/* where the file is made (borrowed) */
	int		 fd;		/* the unlinked file, -1 while none */
	int64_t		 read;		/* bytes read from the client so far */
	int64_t		 pos;		/* next byte handed out */
	int		 eof;		/* 1 once the client's body ended */
	int		 lost;		/* 1: the file does not hold every byte read: no replay */
	int		 failed;	/* 1: reading the client's body failed */
};

/* Starts s on the client's body in (borrowed), spooling to a file in dir (borrowed). */
void		 spool_init(struct spool *s, FCGX_Stream *in, const char *dir);

/*
 * Hands out up to len next bytes of the body into buf: from the file
 * while behind what was read, else from the client (and written to the
 * file). Returns the bytes, 0 at the body's end, or SPOOL_ERROR when the
 * client's stream failed or a byte to replay is not in the file.
 */
size_t		 spool_read(struct spool *s, char *buf, size_t len);

/*
 * Makes the next spool_read() start at byte off (at most the bytes read).
 * Returns 0, or -1 when the bytes before the read position cannot be
 * replayed (off < read with the file lost) or off is past them.
 */
int		 spool_rewind(struct spool *s, int64_t off);

/* Returns 1 if the body can be read again from its first byte. */
int		 spool_replayable(const struct spool *s);

/* Closes the file (its bytes go with it). s may be used no more but spool_free() again. */
void		 spool_free(struct spool *s);

#endif /* QP_SPOOL_H */
