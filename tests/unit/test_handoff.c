/* test_handoff.c: the hand-off socket: results reach their job's thread and are answered, wake-ups, failures. */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "handoff.h"

static char tmpdir[] = "/tmp/qp-test-handoff-XXXXXX";
static const char id[] = "0123456789abcdef0123456789abcdef";

struct sender {
	const char	*path;
	uint32_t	 seq;
	int		 end;
	const char	*body;
	enum handoff_reply reply;
	size_t		 len;		/* 0 = strlen(body) */
};

static void *
send_main(void *arg)
{
	struct sender *s = arg;

	s->reply = handoff_send_result(s->path, id, s->seq, s->end, s->body, s->len > 0 ?
	    s->len : strlen(s->body), 5000);
	return NULL;
}

/* Waits for a delivery of j (at most 5 s). */
static int
take(struct handoff *h, struct handoff_job *j, struct handoff_delivery *d)
{
	struct pollfd p;
	int64_t end = db_mono_us() / 1000 + 5000;
	int got;

	while (db_mono_us() / 1000 < end) {
		p.fd = handoff_job_poll_fd(j);
		p.events = POLLIN;
		(void)poll(&p, 1, 100);
		if ((got = handoff_job_take(h, j, d)) != 0)
			return got;
	}
	return 0;
}

int
main(void)
{
	struct handoff *h;
	struct handoff_job *j;
	struct handoff_delivery d;
	struct sender s = { NULL, 0, 0, "{\"status\":200}\nhello", 0, 0 };
	char *big;
	pthread_t t;
	char errbuf[256], buf[64];
	uint64_t gen;
	enum qp_err err;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	h = handoff_start(tmpdir, &err, errbuf, sizeof(errbuf));
	ok(h != NULL, "the socket listens: %s", h != NULL ? handoff_path(h) : errbuf);
	if (h == NULL)
		return done_testing();
	s.path = handoff_path(h);

	/* A result for no job here is answered gone. */
	is_int(handoff_send_result(s.path, id, 0, 0, "x", 1, 2000), HANDOFF_REPLY_GONE,
	    "a result for an unknown job: gone");

	j = handoff_job_open(h, id, &err);
	ok(j != NULL, "a job registers");
	pthread_create(&t, NULL, send_main, &s);
	is_int(take(h, j, &d), 1, "its result arrives");
	is_int(d.seq, 0, "seq 0");
	is_int(d.len, strlen(s.body), "its length");
	memset(buf, 0, sizeof(buf));
	is_int(handoff_read(d.fd, buf, d.len, 2000), 0, "the payload reads");
	is_str(buf, s.body, "byte for byte");
	handoff_reply(d.fd, HANDOFF_REPLY_OK);
	pthread_join(t, NULL);
	is_int(s.reply, HANDOFF_REPLY_OK, "the sender gets the reply");

	/* The sender waits for the answer: that is the backpressure. */
	s.seq = 5;
	s.end = 1;
	pthread_create(&t, NULL, send_main, &s);
	is_int(take(h, j, &d), 1, "a second result");
	is_int(d.seq, 5, "its seq");
	is_int(d.end, 1, "its end");
	handoff_reply(d.fd, HANDOFF_REPLY_SEQ);
	pthread_join(t, NULL);
	is_int(s.reply, HANDOFF_REPLY_SEQ, "a wrong seq is answered so");

	/*
	 * Answered before its payload was read (wrong seq, job gone): the
	 * sender, whose write of a payload larger than the socket's buffer
	 * then fails, still reads the answer.
	 */
	big = calloc(1, 1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	s.body = big;
	pthread_create(&t, NULL, send_main, &s);
	is_int(take(h, j, &d), 1, "a 1 MiB result arrives");
	handoff_reply(d.fd, HANDOFF_REPLY_SEQ);
	pthread_join(t, NULL);
	is_int(s.reply, HANDOFF_REPLY_SEQ, "answered unread, its sender still reads the answer");
	s.body = "{\"status\":200}\nhello";
	free(big);

	/* A delivery not taken when the job closes is answered gone. */
	s.seq = 1;
	pthread_create(&t, NULL, send_main, &s);
	usleep(200000);
	handoff_job_close(h, j);
	pthread_join(t, NULL);
	is_int(s.reply, HANDOFF_REPLY_GONE, "a result for a closed job: gone");

	/* FAIL reaches the job. */
	j = handoff_job_open(h, id, &err);
	is_int(handoff_send_fail(s.path, id), 0, "a FAIL is sent");
	is_int(take(h, j, &d), 2, "and seen by the job");
	handoff_job_close(h, j);

	/* Wake-ups: a generation that moves, a wait that times out. */
	gen = handoff_worker_gen(h, 42);
	is_int(handoff_wait_worker(h, 42, &gen, db_mono_us() / 1000 + 100), 0,
	    "no wake-up: the wait times out");
	handoff_wake_all(h, 42);
	is_int(handoff_wait_worker(h, 42, &gen, db_mono_us() / 1000 + 2000), 1,
	    "a wake-up ends the wait");
	handoff_close_waits(h);
	is_int(handoff_wait_worker(h, 42, &gen, db_mono_us() / 1000 + 5000), -1,
	    "closing ends the waits at once");
	ok(handoff_send_fail("/nonexistent/handoff-1.sock", id) != 0,
	    "a FAIL to nobody fails");
	handoff_stop(h);
	ok(access(s.path, F_OK) != 0, "the socket file is removed at stop");
	rmdir(tmpdir);
	return done_testing();
}
