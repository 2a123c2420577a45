/* test_upstream.c: the libcurl transport against a scripted HTTP/1.1 server on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "bounds.h"
#include "config.h"
#include "upstream.h"

/* Requests one server run can script and record. */
#define SRV_MAX		24
/* Bytes of a request head the server keeps. */
#define SRV_HEAD_MAX	16384
/* Largest request body the server accepts. */
#define SRV_BODY_MAX	(4 * 1024 * 1024)
/* Longest the server waits for a client's bytes, in ms. */
#define SRV_WAIT_MS	5000
/* Body pieces of one scripted response. */
#define SRV_PARTS	8

/* One scripted response. */
struct resp {
	int		 head_delay_ms;	/* pause before anything is sent */
	const char	*head;		/* status line and headers with the blank line; NULL: none */
	const char	*parts[SRV_PARTS]; /* body pieces, in order */
	int		 nparts;	/* pieces used */
	int		 gap_ms;	/* pause before every piece but the first */
	int		 chunked;	/* frame pieces as HTTP chunks, then the last chunk */
	int		 cut;		/* close right after the pieces (no last chunk) */
	int		 silence_ms;	/* then wait this long, watching for the client to close */
	int		 raw;		/* answer the client's first bytes, unparsed, then close */
};

/* What the server saw of one request. */
struct seen {
	char		 head[SRV_HEAD_MAX + 1]; /* request line and headers */
	char		*body;			/* malloc'd */
	size_t		 body_len;
	int		 conn;			/* connection number, from 1 */
};

struct srv {
	int		 lfd;		/* listening socket */
	int		 port;		/* its port */
	int		 wake[2];	/* a byte on wake[1] stops the server */
	pthread_t	 th;
	pthread_mutex_t	 mu;		/* guards everything below */
	struct resp	 script[SRV_MAX];
	int		 nscript;	/* responses scripted */
	int		 next;		/* next response to use */
	struct seen	 seen[SRV_MAX];
	int		 nseen;		/* requests recorded */
	int		 nconns;	/* connections accepted */
	int64_t		 closed_us;	/* when the client was last seen closing, 0 = not */
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Sends all of buf; -1 if the client is gone. */
static int
srv_send(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
srv_mark_closed(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->closed_us = now_us();
	pthread_mutex_unlock(&s->mu);
}

/*
 * Waits ms while watching fd: -1 (and the time noted) if the client
 * closed, -2 if the server is stopping, 0 when the time is up.
 */
static int
srv_wait(struct srv *s, int fd, int ms)
{
	int64_t end = now_us() + (int64_t)ms * 1000, left;
	struct pollfd p[2];
	char junk[4096];
	ssize_t n;

	for (;;) {
		left = end - now_us();
		if (left <= 0)
			return 0;
		p[0].fd = fd;
		p[0].events = POLLIN;
		p[1].fd = s->wake[0];
		p[1].events = POLLIN;
		if (poll(p, 2, (int)((left + 999) / 1000)) < 0 && errno != EINTR)
			return -2;
		if (p[1].revents != 0)
			return -2;
		if (p[0].revents != 0) {
			n = recv(fd, junk, sizeof(junk), 0);
			if (n <= 0) {
				srv_mark_closed(s);
				return -1;
			}
		}
	}
}

/* Sends one body piece, framed as a chunk if asked. */
static int
srv_piece(int fd, const char *p, int chunked)
{
	char size[32];
	int n;

	if (!chunked)
		return srv_send(fd, p, strlen(p));
	n = snprintf(size, sizeof(size), "%zx\r\n", strlen(p));
	if (srv_send(fd, size, (size_t)n) < 0 || srv_send(fd, p, strlen(p)) < 0)
		return -1;
	return srv_send(fd, "\r\n", 2);
}

/* Plays r on fd. Returns 0 to keep the connection, -1 to close it. */
static int
srv_play(struct srv *s, int fd, const struct resp *r)
{
	int i;

	if (r->head_delay_ms > 0 && srv_wait(s, fd, r->head_delay_ms) != 0)
		return -1;
	if (r->head != NULL && srv_send(fd, r->head, strlen(r->head)) < 0)
		return -1;
	for (i = 0; i < r->nparts; i++) {
		if (i > 0 && r->gap_ms > 0 && srv_wait(s, fd, r->gap_ms) != 0)
			return -1;
		if (srv_piece(fd, r->parts[i], r->chunked) < 0)
			return -1;
	}
	if (r->cut)
		return -1;
	if (r->chunked && srv_send(fd, "0\r\n\r\n", 5) < 0)
		return -1;
	if (r->silence_ms > 0 && srv_wait(s, fd, r->silence_ms) != 0)
		return -1;
	return 0;
}

/* Returns the value of header name in a request head, or NULL (points into head). */
static const char *
head_find(const char *head, const char *name, size_t *len)
{
	const char *p = strstr(head, "\r\n"), *e;
	size_t nl = strlen(name);

	while (p != NULL && p[2] != '\r' && p[2] != '\0') {
		p += 2;
		e = strstr(p, "\r\n");
		if (e == NULL)
			return NULL;
		if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			*len = (size_t)(e - p);
			return p;
		}
		p = e;
	}
	return NULL;
}

/*
 * Reads one request on fd and answers it. Returns 0 to keep the
 * connection, -1 to close it, 1 if a new connection is waiting while
 * this one was idle.
 */
static int
srv_request(struct srv *s, int fd, int conn)
{
	char buf[SRV_HEAD_MAX + 1];
	size_t len = 0, clen = 0, have;
	struct pollfd p[3];
	struct resp r;
	struct seen *sn = NULL;
	const char *end = NULL, *cl;
	char *body = NULL;
	ssize_t n;
	size_t hl;
	int rc = -1;

	for (;;) {
		p[0].fd = fd;
		p[0].events = POLLIN;
		p[1].fd = s->wake[0];
		p[1].events = POLLIN;
		p[2].fd = s->lfd;
		p[2].events = POLLIN;
		if (poll(p, len == 0 ? 3 : 2, SRV_WAIT_MS) <= 0 || p[1].revents != 0)
			goto out;
		if (len == 0 && p[2].revents != 0 && p[0].revents == 0) {
			rc = 1;
			goto out;
		}
		if (p[0].revents == 0)
			continue;
		n = recv(fd, buf + len, SRV_HEAD_MAX - len, 0);
		if (n <= 0) {
			if (len == 0)
				srv_mark_closed(s);
			goto out;
		}
		len += (size_t)n;
		buf[len] = '\0';
		pthread_mutex_lock(&s->mu);
		r = s->next < s->nscript ? s->script[s->next] : (struct resp){ 0 };
		pthread_mutex_unlock(&s->mu);
		if (r.raw)
			break;
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
		if (len == SRV_HEAD_MAX)
			goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (s->next >= s->nscript) {
		pthread_mutex_unlock(&s->mu);
		srv_send(fd, "HTTP/1.1 500 Unscripted\r\nContent-Length: 0\r\n\r\n", 46);
		goto out;
	}
	r = s->script[s->next++];
	if (s->nseen < SRV_MAX)
		sn = &s->seen[s->nseen++];
	pthread_mutex_unlock(&s->mu);
	if (r.raw) {
		if (sn != NULL)
			sn->conn = conn;
		srv_send(fd, r.head, strlen(r.head));
		goto out;
	}
	hl = (size_t)(end - buf) + 4;
	cl = head_find(buf, "content-length", &have);
	if (cl != NULL)
		clen = strtoul(cl, NULL, 10);
	if (clen > SRV_BODY_MAX)
		goto out;
	body = malloc(clen + 1);
	if (body == NULL)
		goto out;
	have = len - hl < clen ? len - hl : clen;
	memcpy(body, buf + hl, have);
	while (have < clen) {
		p[0].fd = fd;
		p[0].events = POLLIN;
		if (poll(p, 1, SRV_WAIT_MS) <= 0)
			goto out;
		n = recv(fd, body + have, clen - have, 0);
		if (n <= 0)
			goto out;
		have += (size_t)n;
	}
	body[clen] = '\0';
	if (sn != NULL) {
		pthread_mutex_lock(&s->mu);
		memcpy(sn->head, buf, hl);
		sn->head[hl] = '\0';
		sn->body = body;
		sn->body_len = clen;
		sn->conn = conn;
		body = NULL;
		pthread_mutex_unlock(&s->mu);
	}
	rc = srv_play(s, fd, &r);
out:
	free(body);
	return rc;
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd p[2];
	int fd, conn, rc, one = 1;

	for (;;) {
		p[0].fd = s->lfd;
		p[0].events = POLLIN;
		p[1].fd = s->wake[0];
		p[1].events = POLLIN;
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&s->mu);
		conn = ++s->nconns;
		pthread_mutex_unlock(&s->mu);
		do
			rc = srv_request(s, fd, conn);
		while (rc == 0);
		close(fd);
	}
	return NULL;
}

static int
srv_start(struct srv *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	if (pipe(s->wake) != 0)
		return -1;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0)
		return -1;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, srv_main, s) == 0 ? 0 : -1;
}

static void
srv_stop(struct srv *s)
{
	int i;

	if (write(s->wake[1], "x", 1) != 1)
		return;
	pthread_join(s->th, NULL);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
	for (i = 0; i < s->nseen; i++)
		free(s->seen[i].body);
	pthread_mutex_destroy(&s->mu);
}

/* Queues r as the response to the next request. */
static void
srv_script(struct srv *s, const struct resp *r)
{
	pthread_mutex_lock(&s->mu);
	if (s->nscript < SRV_MAX)
		s->script[s->nscript++] = *r;
	s->closed_us = 0;
	pthread_mutex_unlock(&s->mu);
}

/* Waits up to ms for the server to see the client close; returns when it did, 0 if not. */
static int64_t
srv_closed_within(struct srv *s, int ms)
{
	int64_t end = now_us() + (int64_t)ms * 1000, t;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		t = s->closed_us;
		pthread_mutex_unlock(&s->mu);
		if (t != 0 || now_us() > end)
			return t;
		sleep_ms(2);
	}
}

static int
srv_nseen(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nseen;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/*
 * Timing bounds, wide enough for a loaded 2-core machine (a thread can wait
 * a few hundred ms for a core) yet far from what a broken transfer loop
 * does: ticks that stop during silence leave a gap of the whole silence
 * (600 ms and more), and an abort that is not honoured runs on to the end of
 * the stream (3 s of silence).
 */
#define TICK_GAP_MAX_US	(4 * UPSTREAM_TICK_MS * 1000)
#define ABORT_MAX_US	500000

/* ---- what the caller's callbacks saw ---------------------------------- */

struct rec {
	int		 nstatus;	/* on_status calls */
	int		 status;	/* status given to on_status */
	int		 data_before_status; /* 1 if on_data ran before on_status */
	char		 body[65536];	/* body bytes, up to the size */
	size_t		 body_len;
	int		 nchunks;	/* on_data calls */
	int64_t		 chunk_us[64];	/* arrival of each chunk */
	int		 nticks;	/* on_tick calls */
	int64_t		 last_tick_us;	/* time of the last tick */
	int64_t		 max_tick_gap_us; /* longest gap between ticks (and from the start) */
	int64_t		 start_us;	/* when the attempt began */
	int		 abort_at_chunk; /* on_data returns 1 at this chunk (from 1), 0 = never */
	int64_t		 abort_tick_after_us; /* on_tick returns 1 this long after the first chunk */
	int		 abort_status;	/* on_status returns 1 */
	int64_t		 aborted_us;	/* when a callback asked to abort */
};

static int
rec_status(const struct upstream_head *h, void *arg)
{
	struct rec *r = arg;

	r->nstatus++;
	r->status = h->status;
	if (r->abort_status) {
		r->aborted_us = now_us();
		return 1;
	}
	return 0;
}

static int
rec_data(const char *buf, size_t len, void *arg)
{
	struct rec *r = arg;
	size_t n = len;

	if (r->nstatus == 0)
		r->data_before_status = 1;
	if (r->body_len + n > sizeof(r->body))
		n = sizeof(r->body) - r->body_len;
	memcpy(r->body + r->body_len, buf, n);
	r->body_len += n;
	if (r->nchunks < 64)
		r->chunk_us[r->nchunks] = now_us();
	r->nchunks++;
	if (r->abort_at_chunk > 0 && r->nchunks == r->abort_at_chunk) {
		r->aborted_us = now_us();
		return 1;
	}
	return 0;
}

static int
rec_tick(void *arg)
{
	struct rec *r = arg;
	int64_t t = now_us(), prev = r->last_tick_us != 0 ? r->last_tick_us : r->start_us;

	r->nticks++;
	if (t - prev > r->max_tick_gap_us)
		r->max_tick_gap_us = t - prev;
	r->last_tick_us = t;
	if (r->abort_tick_after_us > 0 && r->nchunks > 0 &&
	    t - r->chunk_us[0] >= r->abort_tick_after_us) {
		r->aborted_us = t;
		return 1;
	}
	return 0;
}

/* ---- fixtures ---------------------------------------------------------- */

static char url_buf[64];
static struct config_account acct_fix;
static struct config_provider prov_fix;

static void
fixtures(int port, enum config_auth auth, const char *key)
{
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d/v1/", port);
	memset(&acct_fix, 0, sizeof(acct_fix));
	acct_fix.name = "acct";
	acct_fix.api_key = (char *)key;
	acct_fix.enabled = 1;
	memset(&prov_fix, 0, sizeof(prov_fix));
	prov_fix.id = "mock";
	prov_fix.base_url = url_buf;
	prov_fix.protocols = CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC;
	prov_fix.auth = auth;
	prov_fix.accounts = &acct_fix;
	prov_fix.naccounts = 1;
}

/* A request to the mock with short timeouts and rec as the callbacks' target. */
static void
req_setup(struct upstream_req *req, struct rec *r, const char *path)
{
	upstream_req_init(req, NULL, &prov_fix, &acct_fix);
	req->path = path;
	req->connect_timeout_ms = 2000;
	req->first_byte_timeout_ms = 3000;
	req->idle_timeout_ms = 3000;
	req->cb.on_status = rec_status;
	req->cb.on_data = rec_data;
	req->cb.on_tick = rec_tick;
	req->cb.arg = r;
	memset(r, 0, sizeof(*r));
	r->start_us = now_us();
}

static int
print_res(const struct upstream_res *res)
{
	printf("#   result %s curl %d status %d detail \"%s\" connect %lld fb %lld total %lld "
	    "sent %lld recv %lld new %d\n",
	    upstream_result_name(res->result), res->curl_code, res->head.status, res->detail,
	    (long long)res->timing.connect_ms, (long long)res->timing.first_byte_ms,
	    (long long)res->timing.total_ms, (long long)res->timing.bytes_sent,
	    (long long)res->timing.bytes_received, res->timing.new_connection);
	return 0;
}

/* ok() that prints the attempt when it fails. */
#define okr(res, ...) do {						\
	if (!ok(__VA_ARGS__))						\
		print_res(res);						\
} while (0)

/* ---- tests ------------------------------------------------------------- */

static void
test_header_build(void)
{
	char *env[] = {
		"HTTP_AUTHORIZATION=Bearer client-secret",
		"HTTP_X_API_KEY=client-key",
		"HTTP_COOKIE=session=1",
		"HTTP_HOST=gateway.example",
		"CONTENT_LENGTH=12",
		"HTTP_CONNECTION=keep-alive",
		"HTTP_TRANSFER_ENCODING=chunked",
		"HTTP_ANTHROPIC_BETA=tools-2024",
		"CONTENT_TYPE=application/json; charset=utf-8",
		NULL
	};
	char *env_ver[] = { "HTTP_ANTHROPIC_VERSION=2024-01-01", "HTTP_X_EVIL=a\r\nb", NULL };
	struct upstream_headers *h;
	enum qp_err err;

	fixtures(1, CONFIG_AUTH_DEFAULT, "sk-upstream-1");
	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_ANTHROPIC, env, &err);
	ok(h != NULL && err == QP_OK, "headers for an Anthropic upstream build");
	is_str(upstream_headers_find(h, "x-api-key"), "sk-upstream-1",
	    "default auth on Anthropic: x-api-key carries the account key");
	ok(upstream_headers_find(h, "authorization") == NULL,
	    "client Authorization is not forwarded");
	ok(upstream_headers_find(h, "cookie") == NULL && upstream_headers_find(h, "host") == NULL &&
	    upstream_headers_find(h, "content-length") == NULL &&
	    upstream_headers_find(h, "connection") == NULL &&
	    upstream_headers_find(h, "transfer-encoding") == NULL,
	    "cookie, host, content-length and hop-by-hop headers are not forwarded");
	is_str(upstream_headers_find(h, "anthropic-version"), "2023-06-01",
	    "anthropic-version defaults to 2023-06-01");
	is_str(upstream_headers_find(h, "anthropic-beta"), "tools-2024", "anthropic-beta forwarded");
	is_str(upstream_headers_find(h, "content-type"), "application/json; charset=utf-8",
	    "client content-type forwarded");
	upstream_headers_free(h);

	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_OPENAI, env_ver, &err);
	ok(h != NULL, "headers for an OpenAI upstream build");
	is_str(upstream_headers_find(h, "authorization"), "Bearer sk-upstream-1",
	    "default auth on OpenAI: Authorization: Bearer KEY");
	ok(upstream_headers_find(h, "x-api-key") == NULL, "no x-api-key on a Bearer upstream");
	is_str(upstream_headers_find(h, "anthropic-version"), "2024-01-01",
	    "the client's anthropic-version is kept");
	is_str(upstream_headers_find(h, "content-type"), "application/json",
	    "content-type defaults to application/json");
	ok(upstream_headers_find(h, "x-evil") == NULL, "unlisted client headers are dropped");
	upstream_headers_free(h);

	prov_fix.auth = CONFIG_AUTH_API_KEY;
	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_OPENAI, NULL, &err);
	is_str(upstream_headers_find(h, "x-api-key"), "sk-upstream-1",
	    "auth = api_key puts the key in x-api-key");
	upstream_headers_free(h);

	prov_fix.auth = CONFIG_AUTH_NONE;
	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_OPENAI, NULL, &err);
	ok(h != NULL && upstream_headers_find(h, "authorization") == NULL &&
	    upstream_headers_find(h, "x-api-key") == NULL, "auth = none sends no credential");
	upstream_headers_free(h);

	prov_fix.auth = CONFIG_AUTH_BEARER;
	acct_fix.api_key = "bad\r\nInjected: 1";
	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_OPENAI, NULL, &err);
	ok(h == NULL && err == QP_EINVAL, "a key with CR/LF is refused (err %d)", (int)err);
	upstream_headers_free(h);

	h = upstream_headers_new(&prov_fix, NULL, 3, NULL, &err);
	ok(h == NULL && err == QP_EINVAL, "proto must be exactly one protocol");
}

/* Feeds text to r split at each LF (LF kept); returns the sum of feed results. */
static int
feed_lines(struct upstream_head_reader *r, const char *text)
{
	const char *p = text, *e;
	int done = 0;

	while (*p != '\0') {
		e = strchr(p, '\n');
		e = e != NULL ? e + 1 : p + strlen(p);
		done += upstream_head_feed(r, p, (size_t)(e - p));
		p = e;
	}
	return done;
}

static void
test_head_reader(void)
{
	static struct upstream_head_reader r;
	char big[UPSTREAM_HEAD_MAX + 64], line[600];
	int i, n;

	upstream_head_reset(&r);
	n = feed_lines(&r, "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n"
	    "HTTP/1.1 429 Too Many Requests\r\nretry-after:   30  \r\n"
	    "Content-Type: application/json\r\nAnthropic-Request-Id: a\r\n"
	    "Request-Id: b\r\n\r\nX-Trailer: t\r\n\r\n");
	is_int(n, 1, "100 Continue then 429: one final head");
	is_int(r.head.status, 429, "final status is the 429");
	is_str(r.head.retry_after, "30", "Retry-After trimmed");
	is_str(r.head.request_id, "b", "request-id wins over anthropic-request-id");
	ok(strstr(r.head.raw, "X-Early") == NULL, "the 1xx head's lines are forgotten");
	ok(strstr(r.head.raw, "X-Trailer") == NULL, "trailers are not part of the head");
	is_str(r.head.raw, "retry-after:   30  \r\nContent-Type: application/json\r\n"
	    "Anthropic-Request-Id: a\r\nRequest-Id: b\r\n", "raw lines as received");

	upstream_head_reset(&r);
	n = feed_lines(&r, "HTTP/2 200 \nx-request-id: \x01" "bad\ncontent-type: text/plain\n\n");
	ok(n == 1 && r.head.status == 200, "HTTP/2 status line and LF-only lines");
	is_str(r.head.request_id, "", "a value with a control character is dropped");
	is_str(r.head.content_type, "text/plain", "other lines still read");

	upstream_head_reset(&r);
	memset(line, 'v', sizeof(line));
	memcpy(line, "Retry-After: ", 13);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	line[sizeof(line) - 1] = '\0';
	upstream_head_feed(&r, "HTTP/1.1 503 x\r\n", 17);
	upstream_head_feed(&r, line, strlen(line));
	ok(r.head.retry_after[0] == '\0' && r.head.too_long == UPSTREAM_LONG_RETRY_AFTER,
	    "a value longer than UPSTREAM_VALUE_MAX is dropped whole, and flagged");
	memcpy(line, "Content-Type: ", 14);
	line[14 + UPSTREAM_VALUE_MAX] = '\0';
	upstream_head_feed(&r, line, strlen(line));
	ok(strlen(r.head.content_type) == UPSTREAM_VALUE_MAX &&
	    r.head.too_long == UPSTREAM_LONG_RETRY_AFTER,
	    "a value of exactly UPSTREAM_VALUE_MAX bytes is kept whole");
	line[14 + UPSTREAM_VALUE_MAX] = 'v';
	upstream_head_feed(&r, line, strlen(line));
	ok(r.head.content_type[0] == '\0' && r.head.too_long ==
	    (UPSTREAM_LONG_RETRY_AFTER | UPSTREAM_LONG_CONTENT_TYPE),
	    "a later Content-Type one byte longer replaces it with nothing, flagged");

	upstream_head_reset(&r);
	upstream_head_feed(&r, "HTTP/1.1 200 OK\r\n", 17);
	memset(big, 'h', sizeof(big));
	memcpy(big, "X-Big: ", 7);
	for (i = 0; i < 3; i++)
		upstream_head_feed(&r, big, 4000);
	n = upstream_head_feed(&r, "\r\n", 2);
	ok(n == 1 && r.head.raw_truncated && r.head.raw_len < UPSTREAM_HEAD_MAX &&
	    r.head.raw_len == strlen(r.head.raw), "raw keeps whole lines within its bound "
	    "(%zu bytes)", r.head.raw_len);

	upstream_head_reset(&r);
	n = feed_lines(&r, "HTTP/1.1 abc\r\n\r\n");
	ok(n == 1 && r.head.status == 0, "an unreadable status line gives status 0");
}

/* Headers on the wire, body bytes identical, status and fields surfaced. */
static void
test_request_sent(struct upstream *u, struct srv *s)
{
	char *env[] = {
		"HTTP_AUTHORIZATION=Bearer client-secret",
		"HTTP_X_API_KEY=client-key",
		"HTTP_COOKIE=session=1",
		"HTTP_ANTHROPIC_BETA=tools-2024",
		NULL
	};
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "request-id: req_second\r\nx-request-id: req_first\r\n"
		    "Content-Length: 11\r\n\r\n",
		.parts = { "{\"ok\":true}" }, .nparts = 1,
	};
	struct upstream_headers *h;
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	enum qp_err err;
	const struct seen *sn;
	const char *v;
	char *body;
	size_t len, i, blen = 300000;
	int n0 = srv_nseen(s);

	body = malloc(blen);
	for (i = 0; i < blen; i++)
		body[i] = (char)(i * 7 + i / 256);
	fixtures(s->port, CONFIG_AUTH_DEFAULT, "sk-ant-upstream");
	h = upstream_headers_new(&prov_fix, &acct_fix, CONFIG_PROTO_ANTHROPIC, env, &err);
	srv_script(s, &sr);
	req_setup(&req, &r, "/messages");
	req.headers = h;
	req.body = body;
	req.body_len = blen;
	err = upstream_perform(u, &req, &res);
	upstream_headers_free(h);
	okr(&res, err == QP_OK && res.result == UPSTREAM_OK, "POST of 300 kB completes");
	is_int(res.head.status, 200, "status 200 surfaced");
	is_int(r.nstatus, 1, "on_status ran once");
	ok(!r.data_before_status, "on_status ran before on_data");
	is_str(res.head.content_type, "application/json", "content-type surfaced");
	is_str(res.head.request_id, "req_first", "x-request-id wins over request-id");
	ok(strstr(res.head.raw, "request-id: req_second\r\n") != NULL && res.head.raw_len > 0,
	    "raw header lines kept");
	is_int(r.body_len, 11, "response body delivered");
	is_int(res.timing.bytes_sent, (long long)blen, "bytes_sent counts the body");
	is_int(res.timing.bytes_received, 11, "bytes_received counts the response body");
	ok(res.timing.first_byte_ms >= 0 && res.timing.total_ms >= res.timing.first_byte_ms,
	    "first byte %lld ms <= total %lld ms", (long long)res.timing.first_byte_ms,
	    (long long)res.timing.total_ms);
	ok(srv_nseen(s) == n0 + 1, "server saw the request");
	sn = &s->seen[n0];
	if (!ok(strncmp(sn->head, "POST /v1/messages HTTP/1.1\r\n", 28) == 0,
	    "request line: POST /v1/messages (base '/' + path '/' joined once)"))
		printf("#   got: %.60s\n", sn->head);
	v = head_find(sn->head, "x-api-key", &len);
	ok(v != NULL && len == 15 && memcmp(v, "sk-ant-upstream", 15) == 0,
	    "upstream got the account key in x-api-key");
	v = head_find(sn->head, "authorization", &len);
	ok(v == NULL, "upstream got no Authorization (client's not forwarded)");
	ok(head_find(sn->head, "cookie", &len) == NULL, "upstream got no Cookie");
	v = head_find(sn->head, "anthropic-version", &len);
	ok(v != NULL && len == 10 && memcmp(v, "2023-06-01", 10) == 0,
	    "upstream got anthropic-version 2023-06-01");
	v = head_find(sn->head, "anthropic-beta", &len);
	ok(v != NULL && len == 10 && memcmp(v, "tools-2024", 10) == 0,
	    "upstream got anthropic-beta");
	ok(head_find(sn->head, "expect", &len) == NULL, "no Expect: 100-continue");
	v = head_find(sn->head, "content-type", &len);
	ok(v != NULL && len == 16 && memcmp(v, "application/json", 16) == 0,
	    "content-type application/json");
	ok(head_find(sn->head, "accept-encoding", &len) == NULL,
	    "no Accept-Encoding: bytes arrive as sent");
	ok(sn->body_len == blen && memcmp(sn->body, body, blen) == 0,
	    "body bytes identical (%zu of %zu)", sn->body_len, blen);
	free(body);
}

/* A 5-event SSE stream at 100 ms intervals arrives event by event. */
static void
test_stream_timing(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		.parts = { "data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n", "data: {\"n\":3}\n\n",
		    "data: {\"n\":4}\n\n", "data: [DONE]\n\n" },
		.nparts = 5, .gap_ms = 100, .chunked = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int64_t spread;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_OK, "SSE stream completes");
	is_str(res.head.content_type, "text/event-stream", "content-type text/event-stream");
	is_int(r.nchunks, 5, "5 events give 5 on_data calls");
	spread = r.nchunks >= 2 ? r.chunk_us[r.nchunks - 1 < 63 ? r.nchunks - 1 : 63] -
	    r.chunk_us[0] : 0;
	/* Sent 400 ms apart: a buffered body would arrive in one go (spread ~0). */
	ok(spread >= 200000 && spread < 5000000,
	    "first chunk arrives %lld ms before the last (sent 400 apart)",
	    (long long)(spread / 1000));
	is_int(r.body_len, 5 * 15 - 1, "SSE bytes unchanged (chunk framing removed)");
	ok(memcmp(r.body, "data: {\"n\":1}\n\ndata: {\"n\":2}", 28) == 0, "event order kept");
	ok(r.nticks >= 2 && r.max_tick_gap_us < TICK_GAP_MAX_US,
	    "%d ticks, at most %lld ms apart", r.nticks, (long long)(r.max_tick_gap_us / 1000));
}

/* The first byte comes too late: first_byte_timeout, quickly. */
static void
test_first_byte_timeout(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head_delay_ms = 1500,
		.head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
		.parts = { "hi" }, .nparts = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	req.body = "{}";
	req.body_len = 2;
	req.first_byte_timeout_ms = 200;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_FIRST_BYTE_TIMEOUT, "late head maps to first_byte_timeout");
	/* Only the timeout ends it before the head comes at 1500 ms. */
	ok(res.timing.total_ms >= 190 && res.timing.total_ms < 1400,
	    "fired after %lld ms (timeout 200, head due at 1500)", (long long)res.timing.total_ms);
	is_int(res.head.status, 0, "no head surfaced");
	is_int(r.nstatus, 0, "on_status not called");
	ok(res.timing.first_byte_ms == -1, "first_byte_ms is -1");
	ok(srv_closed_within(s, 500) != 0, "server sees the connection closed");
}

/* The stream goes silent longer than the idle timeout. */
static void
test_idle_timeout(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		.parts = { "data: 1\n\n", "data: 2\n\n" },
		.nparts = 2, .gap_ms = 3000, .chunked = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int64_t gap;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	req.idle_timeout_ms = 600;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_IDLE_TIMEOUT, "silence maps to idle_timeout");
	is_int(r.nchunks, 1, "the event before the silence was delivered");
	gap = r.nchunks > 0 ? (now_us() - r.chunk_us[0]) / 1000 : -1;
	/* Only the timeout ends it before the second event comes at 3000 ms. */
	ok(gap >= 590 && gap < 2500, "fired %lld ms after the last byte (timeout 600)",
	    (long long)gap);
	ok(r.nticks >= 3 && r.max_tick_gap_us < TICK_GAP_MAX_US,
	    "%d ticks during 600 ms of silence (max gap %lld ms)", r.nticks,
	    (long long)(r.max_tick_gap_us / 1000));
	ok(srv_closed_within(s, 500) != 0, "server sees the connection closed");
}

/* on_data returns non-zero: the transfer ends at once and the socket closes. */
static void
test_abort_on_data(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		.parts = { "data: 1\n\n", "data: 2\n\n", "data: 3\n\n", "data: 4\n\n" },
		.nparts = 4, .gap_ms = 100, .chunked = 1, .silence_ms = 3000,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int64_t done, closed;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	r.abort_at_chunk = 2;
	upstream_perform(u, &req, &res);
	done = now_us();
	okr(&res, res.result == UPSTREAM_ABORTED_BY_CALLER, "on_data abort maps to aborted_by_caller");
	is_int(r.nchunks, 2, "no chunk after the abort");
	ok(r.aborted_us > 0 && done - r.aborted_us < ABORT_MAX_US,
	    "perform returned %lld us after on_data asked", (long long)(done - r.aborted_us));
	closed = srv_closed_within(s, 1000);
	ok(closed != 0 && closed - r.aborted_us < ABORT_MAX_US,
	    "server saw the close %lld us after the abort", (long long)(closed - r.aborted_us));
}

/* on_tick returns non-zero during silence: same. */
static void
test_abort_on_tick(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		.parts = { ": ping\n\n", "data: late\n\n" },
		.nparts = 2, .gap_ms = 3000, .chunked = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int64_t done, closed;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	r.abort_tick_after_us = 250000;
	upstream_perform(u, &req, &res);
	done = now_us();
	okr(&res, res.result == UPSTREAM_ABORTED_BY_CALLER, "on_tick abort maps to aborted_by_caller");
	ok(r.aborted_us > 0 && done - r.aborted_us < ABORT_MAX_US,
	    "perform returned %lld us after on_tick asked", (long long)(done - r.aborted_us));
	closed = srv_closed_within(s, 1000);
	ok(closed != 0 && closed - r.aborted_us < ABORT_MAX_US,
	    "server saw the close %lld us after the abort", (long long)(closed - r.aborted_us));
	ok(done - r.start_us < 1000000, "the silent stream did not run on (%lld ms)",
	    (long long)((done - r.start_us) / 1000));
}

/* on_status returns non-zero. */
static void
test_abort_on_status(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\n",
		.parts = { "busy" }, .nparts = 1, .silence_ms = 200,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	r.abort_status = 1;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_ABORTED_BY_CALLER && res.head.status == 503 && r.nchunks == 0,
	    "on_status abort: aborted_by_caller, status kept, no body");
}

/* The upstream closes in the middle of a body. */
static void
test_cut(struct upstream *u, struct srv *s)
{
	struct resp sr1 = {
		.head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		.parts = { "only ten b" }, .nparts = 1, .cut = 1,
	};
	struct resp sr2 = {
		.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		.parts = { "data: 1\n\n" }, .nparts = 1, .chunked = 1, .cut = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	srv_script(s, &sr1);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_RECV_FAILED, "short Content-Length body maps to recv_failed");
	is_int(r.body_len, 10, "the bytes before the cut were delivered");

	srv_script(s, &sr2);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_RECV_FAILED, "chunked stream cut maps to recv_failed");
	is_int(r.nchunks, 1, "the event before the cut was delivered");
}

/* Nothing listens on the port. */
static void
test_refused(struct upstream *u)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int fd, port = 0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	fixtures(port, CONFIG_AUTH_BEARER, "k");
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_CONNECT_FAILED, "refused port maps to connect_failed");
	ok(res.timing.connect_ms == -1 && res.timing.new_connection == 0 &&
	    res.head.status == 0, "no connection, no head");
	ok(res.detail[0] != '\0', "curl's message kept: %s", res.detail);
	ok(r.nstatus == 0 && r.nchunks == 0, "no callbacks but ticks");
}

/* Two requests in a row on one transport share one connection. */
static void
test_reuse(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
		.parts = { "ok" }, .nparts = 1,
	};
	struct upstream_req req;
	struct upstream_res res1, res2;
	struct rec r;
	int c0, c1, n0;

	fixtures(s->port, CONFIG_AUTH_BEARER, "k");
	pthread_mutex_lock(&s->mu);
	c0 = s->nconns;
	pthread_mutex_unlock(&s->mu);
	n0 = srv_nseen(s);
	srv_script(s, &sr);
	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res1);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res2);
	pthread_mutex_lock(&s->mu);
	c1 = s->nconns;
	pthread_mutex_unlock(&s->mu);
	ok(res1.result == UPSTREAM_OK && res2.result == UPSTREAM_OK, "both requests complete");
	ok(res1.timing.new_connection == 1, "the first request opened a connection");
	okr(&res2, res2.timing.new_connection == 0, "the second reused it (NUM_CONNECTS 0)");
	is_int(res2.timing.connect_ms, 0, "connect_ms 0 on reuse");
	is_int(c1 - c0, 1, "server accepted one connection for two requests");
	ok(srv_nseen(s) == n0 + 2 && s->seen[n0].conn == s->seen[n0 + 1].conn,
	    "both requests came on the same connection");
}

/* 429 with Retry-After, and an error body captured through on_data. */
static void
test_retry_after(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\n"
		    "anthropic-request-id: req_ant\r\nContent-Type: application/json\r\n"
		    "Content-Length: 39\r\n\r\n",
		.parts = { "{\"error\":{\"type\":\"rate_limit_error\"}}  " }, .nparts = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	srv_script(s, &sr);
	req_setup(&req, &r, "messages");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_OK, "a 429 response is a completed transfer");
	is_int(res.head.status, 429, "status 429 surfaced");
	is_str(res.head.retry_after, "17", "Retry-After surfaced");
	is_str(res.head.request_id, "req_ant", "anthropic-request-id surfaced");
	ok(r.body_len == 39 && memcmp(r.body, "{\"error\"", 8) == 0,
	    "error body captured through on_data");
}

/* A body beyond max_body. */
static void
test_too_large(struct upstream *u, struct srv *s)
{
	static char big[5001];
	struct resp sr1 = {
		.head = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
		.parts = { big }, .nparts = 1,
	};
	struct resp sr2 = {
		.head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		.parts = { big }, .nparts = 1, .chunked = 1,
	};
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	memset(big, 'x', 5000);
	srv_script(s, &sr1);
	req_setup(&req, &r, "chat/completions");
	req.max_body = 1000;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_TOO_LARGE, "announced length over max_body: too_large");
	srv_script(s, &sr2);
	req_setup(&req, &r, "chat/completions");
	req.max_body = 1000;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_TOO_LARGE && r.body_len <= 1000,
	    "chunked body over max_body: too_large, %zu bytes delivered", r.body_len);
}

/* The account's HTTP proxy is used (absolute-form request line). */
static void
test_proxy(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
		.parts = { "ok" }, .nparts = 1,
	};
	char proxy[64];
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	int n0 = srv_nseen(s);

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s->port);
	fixtures(s->port, CONFIG_AUTH_BEARER, "k");
	prov_fix.base_url = "http://provider.invalid:8080/api/v1";
	acct_fix.proxy_url = proxy;
	srv_script(s, &sr);
	req_setup(&req, &r, "/models");
	req.method = UPSTREAM_GET;
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_OK && res.head.status == 200, "GET through the HTTP proxy");
	if (!ok(srv_nseen(s) == n0 + 1 && strncmp(s->seen[n0].head,
	    "GET http://provider.invalid:8080/api/v1/models HTTP/1.1\r\n", 56) == 0,
	    "proxy got the absolute URL"))
		printf("#   got: %.70s\n", s->seen[n0].head);
	acct_fix.proxy_url = "ftp://127.0.0.1:1";
	req_setup(&req, &r, "/models");
	ok(upstream_perform(u, &req, &res) == QP_EINVAL, "an ftp:// proxy is refused");
	acct_fix.proxy_url = NULL;
}

/* https:// to a plain-HTTP peer fails the TLS handshake. */
static void
test_tls(struct upstream *u, struct srv *s)
{
	struct resp sr = {
		.raw = 1,
		.head = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
	};
	char base[64];
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;

	snprintf(base, sizeof(base), "https://127.0.0.1:%d", s->port);
	fixtures(s->port, CONFIG_AUTH_BEARER, "k");
	prov_fix.base_url = base;
	srv_script(s, &sr);
	req_setup(&req, &r, "chat/completions");
	upstream_perform(u, &req, &res);
	okr(&res, res.result == UPSTREAM_TLS_FAILED, "garbage TLS handshake maps to tls_failed");
}

static void
test_bad_args(struct upstream *u)
{
	struct upstream_req req;
	struct upstream_res res;
	struct rec r;
	char longpath[UPSTREAM_URL_MAX + 10];

	fixtures(1, CONFIG_AUTH_BEARER, "k");
	prov_fix.base_url = "ftp://example.invalid";
	req_setup(&req, &r, "x");
	ok(upstream_perform(u, &req, &res) == QP_EINVAL && res.result == UPSTREAM_OTHER,
	    "non-http base URL refused");
	prov_fix.base_url = "http://example.invalid";
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	req_setup(&req, &r, longpath);
	ok(upstream_perform(u, &req, &res) == QP_EINVAL, "URL beyond UPSTREAM_URL_MAX refused");
	req_setup(&req, &r, "a\r\nb");
	ok(upstream_perform(u, &req, &res) == QP_EINVAL, "control characters in path refused");
	req_setup(&req, &r, "x");
	req.method = UPSTREAM_METHOD__MAX;
	ok(upstream_perform(u, &req, &res) == QP_EINVAL, "unknown method refused");
}

static void
test_req_init(void)
{
	struct config cfg;
	struct upstream_req req;

	memset(&cfg, 0, sizeof(cfg));
	cfg.upstream.connect_timeout_ms = 5000;
	cfg.upstream.first_byte_timeout_ms = 300000;
	cfg.upstream.idle_timeout_ms = 300000;
	fixtures(1, CONFIG_AUTH_BEARER, "k");
	prov_fix.idle_timeout_ms = 1234;
	acct_fix.proxy_url = "socks5h://127.0.0.1:1080";
	upstream_req_init(&req, &cfg, &prov_fix, &acct_fix);
	ok(req.method == UPSTREAM_POST && req.base_url == prov_fix.base_url &&
	    req.connect_timeout_ms == 5000 && req.first_byte_timeout_ms == 300000 &&
	    req.idle_timeout_ms == 1234 && req.proxy_url == acct_fix.proxy_url &&
	    req.body == NULL && req.max_body == 0,
	    "req_init: [upstream] timeouts, provider override, account proxy");
	acct_fix.proxy_url = NULL;
	is_str(upstream_result_name(UPSTREAM_FIRST_BYTE_TIMEOUT), "first_byte_timeout",
	    "result names");
	is_str(upstream_result_name(UPSTREAM__MAX), "unknown", "result name out of range");
}

/* Two transports on two threads at once, sharing the DNS/TLS share. */
struct par {
	struct upstream_share	*sh;
	int			 port;
	int			 ok;
};

static int
par_data(const char *buf, size_t len, void *arg)
{
	(void)buf;
	*(size_t *)arg += len;
	return 0;
}

static void *
par_main(void *arg)
{
	struct par *p = arg;
	struct upstream *u = upstream_new(p->sh);
	struct upstream_req req;
	struct upstream_res res;
	char base[64];
	size_t got = 0;
	int i;

	snprintf(base, sizeof(base), "http://localhost:%d", p->port);
	for (i = 0; u != NULL && i < 20; i++) {
		memset(&req, 0, sizeof(req));
		req.method = UPSTREAM_GET;
		req.base_url = base;
		req.path = "x";
		req.connect_timeout_ms = 2000;
		req.first_byte_timeout_ms = 2000;
		req.idle_timeout_ms = 2000;
		req.cb.on_data = par_data;
		req.cb.arg = &got;
		if (upstream_perform(u, &req, &res) == QP_OK && res.result == UPSTREAM_OK &&
		    res.head.status == 200)
			p->ok++;
	}
	upstream_free(u);
	return NULL;
}

/* A minimal always-200 server for the threads test: one thread per connection. */
struct mini {
	int		 lfd;
	int		 port;
	int		 wake[2];
	pthread_t	 th;
};

static void *
mini_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	struct pollfd p = { fd, POLLIN, 0 };
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	for (;;) {
		if (poll(&p, 1, SRV_WAIT_MS) <= 0)
			break;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") == NULL) {
			if (len == sizeof(buf) - 1)
				break;
			continue;
		}
		len = 0;
		if (srv_send(fd, reply, sizeof(reply) - 1) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static void *
mini_main(void *arg)
{
	struct mini *m = arg;
	struct pollfd p[2];
	pthread_t th[64];
	int nth = 0, fd, i;

	for (;;) {
		p[0].fd = m->lfd;
		p[0].events = POLLIN;
		p[1].fd = m->wake[0];
		p[1].events = POLLIN;
		if (poll(p, 2, 1000) < 0 || p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		fd = accept(m->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (nth == 64 || pthread_create(&th[nth], NULL, mini_conn,
		    (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		nth++;
	}
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return NULL;
}

static void
test_threads(struct upstream_share *sh)
{
	struct mini m;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct par p[2];
	pthread_t th[2];
	int i, started = 0;

	memset(&m, 0, sizeof(m));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (m.lfd < 0 || pipe(m.wake) != 0 || bind(m.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(m.lfd, 16) != 0 || getsockname(m.lfd, (struct sockaddr *)&a, &al) != 0 ||
	    pthread_create(&m.th, NULL, mini_main, &m) != 0) {
		ok(0, "mini server starts");
		return;
	}
	m.port = ntohs(a.sin_port);
	for (i = 0; i < 2; i++) {
		p[i].sh = sh;
		p[i].port = m.port;
		p[i].ok = 0;
		if (pthread_create(&th[i], NULL, par_main, &p[i]) == 0)
			started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (write(m.wake[1], "x", 1) == 1)
		pthread_join(m.th, NULL);
	close(m.lfd);
	close(m.wake[0]);
	close(m.wake[1]);
	ok(started == 2 && p[0].ok == 20 && p[1].ok == 20,
	    "two threads, own transports, one share (localhost via shared DNS): %d + %d of 40",
	    p[0].ok, p[1].ok);
}

int
main(void)
{
	struct upstream_share *sh;
	struct upstream *u;
	struct srv s;
	enum qp_err err;

	signal(SIGPIPE, SIG_IGN);
	sh = upstream_share_new(&err);
	ok(sh != NULL, "share created");
	u = upstream_new(sh);
	ok(u != NULL, "transport created");
	ok(upstream_new(NULL) == NULL, "a transport needs a share");
	if (sh == NULL || u == NULL || srv_start(&s) != 0) {
		ok(0, "test server starts");
		return done_testing();
	}
	test_header_build();
	test_head_reader();
	test_req_init();
	test_request_sent(u, &s);
	test_stream_timing(u, &s);
	test_first_byte_timeout(u, &s);
	test_idle_timeout(u, &s);
	test_abort_on_data(u, &s);
	test_abort_on_tick(u, &s);
	test_abort_on_status(u, &s);
	test_cut(u, &s);
	test_retry_after(u, &s);
	test_too_large(u, &s);
	test_reuse(u, &s);
	test_proxy(u, &s);
	test_tls(u, &s);
	test_refused(u);
	test_bad_args(u);
	test_threads(sh);
	srv_stop(&s);
	upstream_free(u);
	upstream_share_free(sh);
	return done_testing();
}
