/* handoff.c: the per-process Unix socket that hands workers' jobs and result bytes between processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "db.h"
#include "handoff.h"
#include "log.h"
#include "paths.h"

/* Message header: magic, type, end, 2 spare, seq, len, worker id, job id + NUL. */
#define HANDOFF_MAGIC		"QPH1"
#define HANDOFF_HDR_LEN		(4 + 1 + 1 + 2 + 4 + 4 + 8 + WORKERPROTO_JOB_ID_LEN + 1)
/* Wake-up generations are kept per bucket of worker ids (a shared bucket wakes for nothing). */
#define HANDOFF_GEN_BUCKETS	256
/* Longest wait to send a message's header and payload piece (ms). */
#define HANDOFF_SEND_MS		10000

enum handoff_type {
	HANDOFF_WAKE = 'W',
	HANDOFF_RESULT = 'R',
	HANDOFF_FAIL = 'F',
};

struct handoff_msg {
	enum handoff_type type;
	int		 end;
	uint32_t	 seq;
	uint32_t	 len;
	int64_t		 worker_id;
	char		 id[WORKERPROTO_JOB_ID_LEN + 1];
};

struct handoff_job {
	char		 id[WORKERPROTO_JOB_ID_LEN + 1];
	int		 pipe[2];	/* [0] polled by the job's thread, [1] written by the listener */
	struct handoff_delivery pending; /* fd -1 when none (under h->mu) */
	int		 failed;	/* 1 once a FAIL came (under h->mu) */
	struct handoff_job *next;	/* registry list (under h->mu) */
};

/* The long polls of one worker waiting in this process. */
struct handoff_polls {
	int64_t		 worker_id;
	int		 n;
	struct handoff_polls *next;
};

struct handoff {
	char		 dir[4096];	/* the state directory */
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int		 fd;		/* listening socket */
	int		 stop[2];	/* written to stop the listener */
	pthread_t	 thread;
	int		 started;	/* 1 once the thread runs */
	pthread_mutex_t	 mu;		/* guards jobs and gens */
	pthread_cond_t	 cv;		/* broadcast on every WAKE */
	struct handoff_job *jobs;	/* jobs of this process */
	uint64_t	 gens[HANDOFF_GEN_BUCKETS]; /* WAKEs seen per bucket */
	int		 closing;	/* 1 once waits end at once (under mu) */
	struct handoff_polls *polls;	/* workers with polls waiting (under mu) */
};

static void
handoff_pack(const struct handoff_msg *m, unsigned char *b)
{

	memset(b, 0, HANDOFF_HDR_LEN);
	memcpy(b, HANDOFF_MAGIC, 4);
	b[4] = (unsigned char)m->type;
	b[5] = (unsigned char)(m->end != 0);
	memcpy(b + 8, &m->seq, 4);
	memcpy(b + 12, &m->len, 4);
	memcpy(b + 16, &m->worker_id, 8);
	memcpy(b + 24, m->id, strnlen(m->id, WORKERPROTO_JOB_ID_LEN));
}

static int
handoff_unpack(const unsigned char *b, struct handoff_msg *m)
{

	memset(m, 0, sizeof(*m));
	if (memcmp(b, HANDOFF_MAGIC, 4) != 0)
		return -1;
	m->type = (enum handoff_type)b[4];
	m->end = b[5] != 0;
	memcpy(&m->seq, b + 8, 4);
	memcpy(&m->len, b + 12, 4);
	memcpy(&m->worker_id, b + 16, 8);
	memcpy(m->id, b + 24, WORKERPROTO_JOB_ID_LEN);
	m->id[WORKERPROTO_JOB_ID_LEN] = '\0';
	return 0;
}

/* Waits until fd is ready for events, at most ms; 1 ready, 0 not. */
static int
handoff_ready(int fd, short events, int ms)
{
	struct pollfd p;
	int64_t end = db_mono_us() / 1000 + ms, left;
	int rc;

	for (;;) {
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		left = end - db_mono_us() / 1000;
		if (left < 0)
			left = 0;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 1;
		if (rc == 0 || errno != EINTR)
			return 0;
	}
}

int
handoff_read(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (!handoff_ready(fd, POLLIN, timeout_ms))
			return -1;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes all of buf, each piece within timeout_ms; 0 or -1. */
static int
handoff_write(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (!handoff_ready(fd, POLLOUT, timeout_ms))
			return -1;
		n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
handoff_discard(int fd, size_t len, int timeout_ms)
{
	char buf[4096];
	size_t n;

	while (len > 0) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		if (handoff_read(fd, buf, n, timeout_ms) != 0)
			return -1;
		len -= n;
	}
	return 0;
}

void
handoff_reply(int fd, enum handoff_reply code)
{
	char c = (char)code;

	if (fd < 0)
		return;
	(void)handoff_write(fd, &c, 1, 1000);
	close(fd);
}

/* Returns the registered job id, or NULL; under h->mu. */
static struct handoff_job *
handoff_find(struct handoff *h, const char *id)
{
	struct handoff_job *j;

	for (j = h->jobs; j != NULL; j = j->next)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

/* Writes one wake-up byte to a pipe; when it is full, a wake-up is already waiting. */
static void
handoff_wake(int fd)
{
	char one = 1;
	ssize_t n;

	do
		n = write(fd, &one, 1);
	while (n < 0 && errno == EINTR);
}

/* The listener's work for one accepted connection; takes fd. */
static void
handoff_serve(struct handoff *h, int fd)
{
	unsigned char hdr[HANDOFF_HDR_LEN];
	struct handoff_msg m;
	struct handoff_job *j;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.uid != getuid() ||
	    handoff_read(fd, hdr, sizeof(hdr), QP_HANDOFF_HEADER_MS) != 0 ||
	    handoff_unpack(hdr, &m) != 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&h->mu);
	switch (m.type) {
	case HANDOFF_WAKE:
		h->gens[(uint64_t)m.worker_id % HANDOFF_GEN_BUCKETS]++;
		pthread_cond_broadcast(&h->cv);
		break;
	case HANDOFF_RESULT:
		if ((j = handoff_find(h, m.id)) == NULL) {
			pthread_mutex_unlock(&h->mu);
			handoff_reply(fd, HANDOFF_REPLY_GONE);
			return;
		}
		if (j->pending.fd >= 0) {
			pthread_mutex_unlock(&h->mu);
			handoff_reply(fd, HANDOFF_REPLY_BUSY);
			return;
		}
		j->pending.fd = fd;
		j->pending.seq = m.seq;
		j->pending.end = m.end;
		j->pending.len = m.len;
		fd = -1;
		handoff_wake(j->pipe[1]);
		break;
	case HANDOFF_FAIL:
		if ((j = handoff_find(h, m.id)) != NULL) {
			j->failed = 1;
			handoff_wake(j->pipe[1]);
		}
		break;
	}
	pthread_mutex_unlock(&h->mu);
	if (fd >= 0)
		close(fd);
}

static void *
handoff_main(void *arg)
{
	struct handoff *h = arg;
	struct pollfd p[2];
	int fd;

	for (;;) {
		p[0].fd = h->fd;
		p[0].events = POLLIN;
		p[1].fd = h->stop[0];
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERROR, "hand-off socket: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents != 0)
			break;
		if ((p[0].revents & POLLIN) == 0)
			continue;
		if ((fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		handoff_serve(h, fd);
	}
	return NULL;
}

/*
 * Removes the sockets of processes that are no more (a crash leaves its
 * socket behind): every later wake-up would try it for nothing.
 */
static void
handoff_remove_stale(const char *dir)
{
	struct dirent *de;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64], *end;
	DIR *d;
	long pid;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "handoff-", 8) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + 8, &end, 10);
		if (errno != 0 || end == de->d_name + 8 || strcmp(end, ".sock") != 0 || pid <= 0 ||
		    pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			(void)unlink(path);
	}
	closedir(d);
}

struct handoff *
handoff_start(const char *state_dir, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct handoff *h;
	struct sockaddr_un sa;
	int n;

	*err = QP_ENOMEM;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	h->fd = h->stop[0] = h->stop[1] = -1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	*err = QP_EINVAL;
	snprintf(h->dir, sizeof(h->dir), "%s", state_dir);
	n = snprintf(h->path, sizeof(h->path), "%s/handoff-%ld.sock", state_dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(h->path)) {
		snprintf(errbuf, errlen, "the state directory's path is too long for a Unix socket "
		    "(%zu bytes at most)", sizeof(h->path) - 20);
		goto fail;
	}
	*err = QP_EIO;
	if (paths_mkdirs(state_dir, 0700) != QP_OK) {
		snprintf(errbuf, errlen, "cannot create %s: %s", state_dir, strerror(errno));
		goto fail;
	}
	handoff_remove_stale(state_dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, h->path, (size_t)n + 1);
	(void)unlink(h->path);
	if ((h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(h->path, 0600) != 0 || listen(h->fd, 128) != 0 ||
	    pipe2(h->stop, O_CLOEXEC) != 0) {
		snprintf(errbuf, errlen, "cannot listen on %s: %s", h->path, strerror(errno));
		goto fail;
	}
	if (pthread_create(&h->thread, NULL, handoff_main, h) != 0) {
		snprintf(errbuf, errlen, "cannot start the hand-off thread");
		goto fail;
	}
	h->started = 1;
	*err = QP_OK;
	return h;
fail:
	handoff_stop(h);
	return NULL;
}

void
handoff_stop(struct handoff *h)
{
	if (h == NULL)
		return;
	if (h->started) {
		handoff_wake(h->stop[1]);
		pthread_join(h->thread, NULL);
	}
	if (h->fd >= 0) {
		close(h->fd);
		(void)unlink(h->path);
	}
	if (h->stop[0] >= 0)
		close(h->stop[0]);
	if (h->stop[1] >= 0)
		close(h->stop[1]);
	while (h->polls != NULL) {
		struct handoff_polls *next = h->polls->next;

		free(h->polls);
		h->polls = next;
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

const char *
handoff_path(const struct handoff *h)
{

	return h->path;
}

struct handoff_job *
handoff_job_open(struct handoff *h, const char *id, enum qp_err *err)
{
	struct handoff_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	if (pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(j);
		*err = QP_EIO;
		return NULL;
	}
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->pending.fd = -1;
	pthread_mutex_lock(&h->mu);
	j->next = h->jobs;
	h->jobs = j;
	pthread_mutex_unlock(&h->mu);
	*err = QP_OK;
	return j;
}

void
handoff_job_close(struct handoff *h, struct handoff_job *j)
{
	struct handoff_job **pp;
	int fd;

	if (j == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	for (pp = &h->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	fd = j->pending.fd;
	pthread_mutex_unlock(&h->mu);
	handoff_reply(fd, HANDOFF_REPLY_GONE);
	close(j->pipe[0]);
	close(j->pipe[1]);
	free(j);
}

int
handoff_job_poll_fd(const struct handoff_job *j)
{

	return j->pipe[0];
}

int
handoff_job_take(struct handoff *h, struct handoff_job *j, struct handoff_delivery *d)
{
	char buf[64];
	int got = 0;

	while (read(j->pipe[0], buf, sizeof(buf)) > 0)
		;
	d->fd = -1;
	pthread_mutex_lock(&h->mu);
	if (j->pending.fd >= 0) {
		*d = j->pending;
		j->pending.fd = -1;
		got = 1;
	} else if (j->failed)
		got = 2;
	pthread_mutex_unlock(&h->mu);
	return got;
}

int
handoff_poll_enter(struct handoff *h, int64_t worker_id, int max)
{
	struct handoff_polls *p;
	int rc = -1;

	pthread_mutex_lock(&h->mu);
	for (p = h->polls; p != NULL && p->worker_id != worker_id; p = p->next)
		;
	if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
		p->worker_id = worker_id;
		p->next = h->polls;
		h->polls = p;
	}
	if (p != NULL && p->n < max) {
		p->n++;
		rc = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

void
handoff_poll_leave(struct handoff *h, int64_t worker_id)
{
	struct handoff_polls **pp, *p;

	pthread_mutex_lock(&h->mu);
	for (pp = &h->polls; (p = *pp) != NULL; pp = &p->next)
		if (p->worker_id == worker_id) {
			if (--p->n <= 0) {
				*pp = p->next;
				free(p);
			}
			break;
		}
	pthread_mutex_unlock(&h->mu);
}

void
handoff_close_waits(struct handoff *h)
{

	pthread_mutex_lock(&h->mu);
	h->closing = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

uint64_t
handoff_worker_gen(struct handoff *h, int64_t worker_id)
{
	uint64_t g;

	pthread_mutex_lock(&h->mu);
	g = h->gens[(uint64_t)worker_id % HANDOFF_GEN_BUCKETS];
	pthread_mutex_unlock(&h->mu);
	return g;
}

int
handoff_wait_worker(struct handoff *h, int64_t worker_id, uint64_t *gen, int64_t deadline)
{
	struct timespec ts;
	uint64_t *g = &h->gens[(uint64_t)worker_id % HANDOFF_GEN_BUCKETS];
	int64_t left, woke = 0;

	pthread_mutex_lock(&h->mu);
	while (*g == *gen && !h->closing && (left = deadline - db_mono_us() / 1000) > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
	}
	if (*g != *gen) {
		*gen = *g;
		woke = 1;
	} else if (h->closing)
		woke = -1;
	pthread_mutex_unlock(&h->mu);
	return (int)woke;
}

/* Connects to the socket at path; -1 when nobody listens there. */
static int
handoff_connect(const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends a header-only message; 0 or -1. */
static int
handoff_send_short(const char *path, const struct handoff_msg *m)
{
	unsigned char hdr[HANDOFF_HDR_LEN];
	int fd, rc;

	if ((fd = handoff_connect(path)) < 0)
		return -1;
	handoff_pack(m, hdr);
	rc = handoff_write(fd, hdr, sizeof(hdr), HANDOFF_SEND_MS);
	close(fd);
	return rc;
}

void
handoff_wake_all(struct handoff *h, int64_t worker_id)
{
	struct handoff_msg m;
	struct dirent *de;
	char path[sizeof(h->path)];
	DIR *d;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = HANDOFF_WAKE;
	m.worker_id = worker_id;
	/* This process's own polls, at once. */
	pthread_mutex_lock(&h->mu);
	h->gens[(uint64_t)worker_id % HANDOFF_GEN_BUCKETS]++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if ((d = opendir(h->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (strncmp(de->d_name, "handoff-", 8) != 0 || n < 14 ||
		    strcmp(de->d_name + n - 5, ".sock") != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", h->dir, de->d_name) >=
		    sizeof(path) || strcmp(path, h->path) == 0)
			continue;
		(void)handoff_send_short(path, &m);
	}
	closedir(d);
}

int
handoff_send_fail(const char *path, const char *id)
{
	struct handoff_msg m;

	memset(&m, 0, sizeof(m));
	m.type = HANDOFF_FAIL;
	snprintf(m.id, sizeof(m.id), "%s", id);
	return handoff_send_short(path, &m);
}

enum handoff_reply
handoff_send_result(const char *path, const char *id, uint32_t seq, int end, const void *buf,
    size_t len, int timeout_ms)
{
	unsigned char hdr[HANDOFF_HDR_LEN];
	struct handoff_msg m;
	char c = (char)HANDOFF_REPLY_GONE;
	int fd;

	if (len > UINT32_MAX || (fd = handoff_connect(path)) < 0)
		return HANDOFF_REPLY_GONE;
	memset(&m, 0, sizeof(m));
	m.type = HANDOFF_RESULT;
	m.end = end;
	m.seq = seq;
	m.len = (uint32_t)len;
	snprintf(m.id, sizeof(m.id), "%s", id);
	handoff_pack(&m, hdr);
	/*
	 * The owner reads as fast as its client takes the bytes: that is the
	 * backpressure. It may answer before it read them all (a wrong seq, a
	 * job gone) and close: the payload's write then fails, and the answer
	 * already sent is read all the same.
	 */
	if (handoff_write(fd, hdr, sizeof(hdr), HANDOFF_SEND_MS) == 0) {
		(void)handoff_write(fd, buf, len, timeout_ms);
		if (handoff_read(fd, &c, 1, timeout_ms) != 0)
			c = (char)HANDOFF_REPLY_GONE;
	}
	close(fd);
	switch (c) {
	case HANDOFF_REPLY_OK:
	case HANDOFF_REPLY_SEQ:
	case HANDOFF_REPLY_HEAD:
	case HANDOFF_REPLY_BUSY:
		return (enum handoff_reply)c;
	default:
		return HANDOFF_REPLY_GONE;
	}
}
