/* spool.c: a request body read once from the client as it is sent upstream, kept on disk to be sent again. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

void
spool_init(struct spool *s, FCGX_Stream *in, const char *dir)
{

	memset(s, 0, sizeof(*s));
	s->in = in;
	s->dir = dir;
	s->fd = -1;
}

/* Makes the spool file: created 0600 in s->dir and unlinked at once. 0 or -1. */
static int
spool_open(struct spool *s)
{
	char path[PATH_MAX];
	mode_t old;
	int n;

	if (s->dir == NULL)
		return -1;
	n = snprintf(path, sizeof(path), "%s/.passthrough-XXXXXX", s->dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	old = umask(077);
	s->fd = mkstemp(path);
	umask(old);
	if (s->fd < 0)
		return -1;
	(void)unlink(path);
	return 0;
}

/* Appends n bytes just read from the client to the file; marks it lost on failure. */
static void
spool_keep(struct spool *s, const char *buf, size_t n)
{
	ssize_t w;
	size_t done = 0;

	if (s->lost)
		return;
	if (s->fd < 0 && spool_open(s) != 0) {
		s->lost = 1;
		return;
	}
	while (done < n) {
		w = pwrite(s->fd, buf + done, n - done, (off_t)(s->read + (int64_t)done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->lost = 1;
			close(s->fd);
			s->fd = -1;
			return;
		}
		done += (size_t)w;
	}
}

size_t
spool_read(struct spool *s, char *buf, size_t len)
{
	ssize_t r;
	int n;

	if (len == 0)
		return 0;
	if (s->pos < s->read) {
		/* Replaying what an earlier attempt sent. */
		if (s->lost || s->fd < 0)
			return SPOOL_ERROR;
		if ((int64_t)len > s->read - s->pos)
			len = (size_t)(s->read - s->pos);
		do
			r = pread(s->fd, buf, len, (off_t)s->pos);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return SPOOL_ERROR;
		s->pos += r;
		return (size_t)r;
	}
	if (s->eof)
		return 0;
	if (s->failed)
		return SPOOL_ERROR;
	if (len > INT_MAX)
		len = INT_MAX;
	n = FCGX_GetStr(buf, (int)len, s->in);
	if (n < 0 || FCGX_GetError(s->in) != 0) {
		s->failed = 1;
		return SPOOL_ERROR;
	}
	if (n == 0) {
		s->eof = 1;
		return 0;
	}
	spool_keep(s, buf, (size_t)n);
	s->read += n;
	s->pos = s->read;
	return (size_t)n;
}

int
spool_rewind(struct spool *s, int64_t off)
{

	if (off < 0 || off > s->read || (off < s->read && (s->lost || s->fd < 0)))
		return -1;
	s->pos = off;
	return 0;
}

int
spool_replayable(const struct spool *s)
{

	return s->read == 0 || (!s->lost && s->fd >= 0);
}

void
spool_free(struct spool *s)
{

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
