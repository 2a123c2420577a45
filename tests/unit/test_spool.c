/* test_spool.c: a passthrough body read once from the client and sent again from its spool file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "spool.h"

/* A fake FastCGI body: the bytes of src handed out piece bytes at a time. */
struct feed {
	const unsigned char	*src;
	size_t			 len;
	size_t			 off;
	size_t			 piece;
};

static void
feed_fill(FCGX_Stream *s)
{
	struct feed *f = s->data;
	size_t n = f->len - f->off;

	if (n == 0) {
		s->isClosed = 1;
		return;
	}
	if (n > f->piece)
		n = f->piece;
	s->rdNext = s->stopUnget = (unsigned char *)(uintptr_t)(f->src + f->off);
	s->stop = s->rdNext + n;
	f->off += n;
}

static void
feed_init(FCGX_Stream *s, struct feed *f, const unsigned char *src, size_t len, size_t piece)
{

	memset(s, 0, sizeof(*s));
	memset(f, 0, sizeof(*f));
	f->src = src;
	f->len = len;
	f->piece = piece;
	s->isReader = 1;
	s->fillBuffProc = feed_fill;
	s->data = f;
}

/* Reads s to its end in reads of step bytes into out; returns the bytes, or -1 on an error. */
static long
read_all(struct spool *s, unsigned char *out, size_t cap, size_t step)
{
	size_t got = 0, n;

	for (;;) {
		if (cap - got < step)
			step = cap - got;
		if (step == 0)
			return -1;
		n = spool_read(s, (char *)out + got, step);
		if (n == SPOOL_ERROR)
			return -1;
		if (n == 0)
			return (long)got;
		got += n;
	}
}

/* Returns the entries of dir other than . and .. */
static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int
main(void)
{
	enum { LEN = 300000 };
	static unsigned char body[LEN], out[LEN + 16];
	char dir[] = "/tmp/qp-spool-XXXXXX";
	FCGX_Stream in;
	struct feed f;
	struct spool s;
	size_t i, n;

	for (i = 0; i < LEN; i++)
		body[i] = (unsigned char)((i * 131u + (i >> 9)) & 0xff);
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: cannot make a directory in /tmp\n");
		return 1;
	}

	/* Read once, then again from the file. */
	feed_init(&in, &f, body, LEN, 7001);
	spool_init(&s, &in, dir);
	ok(spool_replayable(&s), "nothing read yet: replayable");
	ok(read_all(&s, out, sizeof(out), 4099) == LEN && memcmp(out, body, LEN) == 0,
	    "first read: every byte, in order");
	is_int(entries(dir), 0, "the spool file is unlinked: the directory stays empty");
	ok(spool_replayable(&s), "after a whole read: replayable");
	is_int(spool_rewind(&s, 0), 0, "rewind to 0");
	memset(out, 0, sizeof(out));
	ok(read_all(&s, out, sizeof(out), 65536) == LEN && memcmp(out, body, LEN) == 0,
	    "second read, from the file: the same bytes");
	is_int(spool_rewind(&s, LEN + 1), -1, "rewind past what was read: refused");
	is_int(spool_rewind(&s, 12345), 0, "rewind to the middle (curl's seek)");
	n = spool_read(&s, (char *)out, 10);
	ok(n == 10 && memcmp(out, body + 12345, 10) == 0, "the middle's bytes");
	spool_free(&s);
	spool_free(&s);

	/* An attempt that stopped half way: the next reads the file, then the client. */
	feed_init(&in, &f, body, LEN, 5000);
	spool_init(&s, &in, dir);
	n = spool_read(&s, (char *)out, 100000);
	ok(n > 0 && n <= 100000, "a partial first attempt");
	is_int(spool_rewind(&s, 0), 0, "rewind after a partial read");
	memset(out, 0, sizeof(out));
	ok(read_all(&s, out, sizeof(out), 3000) == LEN && memcmp(out, body, LEN) == 0,
	    "the next attempt: the spooled bytes, then the rest from the client");
	spool_free(&s);

	/* No file can be made: the body still goes through once, never twice. */
	feed_init(&in, &f, body, LEN, 8192);
	spool_init(&s, &in, "/nonexistent/qp-spool");
	ok(read_all(&s, out, sizeof(out), 16384) == LEN && memcmp(out, body, LEN) == 0,
	    "no spool directory: the body goes through");
	ok(!spool_replayable(&s), "no spool directory: not replayable");
	is_int(spool_rewind(&s, 0), -1, "no spool directory: rewind refused");
	spool_free(&s);

	/* An empty body. */
	feed_init(&in, &f, body, 0, 1);
	spool_init(&s, &in, dir);
	is_int(spool_read(&s, (char *)out, 10), 0, "empty body: 0 at once");
	ok(spool_replayable(&s) && spool_rewind(&s, 0) == 0, "empty body: replayable");
	is_int(spool_read(&s, (char *)out, 10), 0, "empty body: still 0");
	spool_free(&s);

	/* A stream error is an error, not an end. */
	feed_init(&in, &f, body, LEN, 1000);
	in.FCGI_errno = 5;
	spool_init(&s, &in, dir);
	ok(spool_read(&s, (char *)out, 10) == SPOOL_ERROR, "a broken client stream: an error");
	spool_free(&s);

	rmdir(dir);
	return done_testing();
}
