/* bench_upstream.c: per-request cost of the upstream transport against a loopback HTTP/1.1 server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "upstream.h"

/* Requests per measured series (first argument overrides). */
#define BENCH_N		2000
/* Request body sent by every client (a small chat request). */
#define BENCH_BODY	1024
/* Response body the server returns to a short request. */
#define BENCH_REPLY	512
/* Body of the streamed response, for throughput. */
#define BENCH_STREAM	(8 * 1024 * 1024)
/* Listen backlog of the server. */
#define BENCH_CONNS	16
/* Longest the server waits for a client's bytes, in ms. */
#define BENCH_WAIT_MS	5000

struct bench_srv {
	int		 lfd;		/* listening socket */
	int		 port;		/* its port */
	int		 wake[2];	/* a byte stops the server */
	pthread_t	 th;		/* accept loop */
	char		*stream;	/* BENCH_STREAM bytes for /stream */
};

static int64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
bench_send(int fd, const char *buf, size_t len)
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

/*
 * Reads one request (head and Content-Length body) from fd. Returns 's'
 * for GET /stream, 'r' for anything else, 0 if a new connection waits
 * while fd is idle, -1 on close, error or stop.
 */
static int
bench_read_request(struct bench_srv *s, int fd, char *buf, size_t cap)
{
	size_t len = 0, hl, clen = 0, have;
	struct pollfd p[3];
	const char *end, *cl;
	char sink[4096];
	ssize_t n;

	for (;;) {
		p[0].fd = fd;
		p[0].events = POLLIN;
		p[1].fd = s->wake[0];
		p[1].events = POLLIN;
		p[2].fd = s->lfd;
		p[2].events = POLLIN;
		if (poll(p, len == 0 ? 3 : 2, BENCH_WAIT_MS) <= 0 || p[1].revents != 0)
			return -1;
		if (len == 0 && p[0].revents == 0 && p[2].revents != 0)
			return 0;
		if (p[0].revents == 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
		if (len == cap - 1)
			return -1;
	}
	hl = (size_t)(end - buf) + 4;
	cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl != NULL)
		clen = strtoul(cl + 17, NULL, 10);
	have = len - hl;
	while (have < clen) {
		if (poll(p, 1, BENCH_WAIT_MS) <= 0)
			return -1;
		n = recv(fd, sink, clen - have < sizeof(sink) ? clen - have : sizeof(sink), 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return strncmp(buf, "GET /stream", 11) == 0 ? 's' : 'r';
}

/* Serves requests on fd until it closes or another connection waits. */
static void
bench_serve(struct bench_srv *s, int fd)
{
	char buf[8192], head[128], reply[BENCH_REPLY];
	int kind, n;

	memset(reply, 'r', sizeof(reply));
	for (;;) {
		kind = bench_read_request(s, fd, buf, sizeof(buf));
		if (kind <= 0)
			return;
		if (kind == 's') {
			n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
			    "text/event-stream\r\nContent-Length: %d\r\n\r\n", BENCH_STREAM);
			if (bench_send(fd, head, (size_t)n) < 0 ||
			    bench_send(fd, s->stream, BENCH_STREAM) < 0)
				return;
			continue;
		}
		n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json\r\nContent-Length: %d\r\n\r\n", BENCH_REPLY);
		if (bench_send(fd, head, (size_t)n) < 0 ||
		    bench_send(fd, reply, sizeof(reply)) < 0)
			return;
	}
}

/* Accepts connections one at a time (the bench has one client at a time). */
static void *
bench_srv_main(void *arg)
{
	struct bench_srv *s = arg;
	struct pollfd p[2];
	int fd, one = 1;

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
		bench_serve(s, fd);
		close(fd);
	}
	return NULL;
}

static int
bench_srv_start(struct bench_srv *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->stream = malloc(BENCH_STREAM);
	if (s->stream == NULL || pipe(s->wake) != 0)
		return -1;
	memset(s->stream, 'd', BENCH_STREAM);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->lfd, BENCH_CONNS) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, bench_srv_main, s) == 0 ? 0 : -1;
}

static void
bench_srv_stop(struct bench_srv *s)
{
	if (write(s->wake[1], "x", 1) == 1)
		pthread_join(s->th, NULL);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
	free(s->stream);
}

static int
bench_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Prints p50, p99 and mean of n samples (us), sorting them. */
static void
bench_print(const char *what, int64_t *t, int n)
{
	int64_t sum = 0;
	int i;

	qsort(t, (size_t)n, sizeof(*t), bench_cmp);
	for (i = 0; i < n; i++)
		sum += t[i];
	printf("%-44s n=%-5d p50 %6lld us  p99 %6lld us  mean %6lld us\n", what, n,
	    (long long)t[n / 2], (long long)t[(n * 99) / 100], (long long)(sum / n));
}

/* The floor: a plain socket client doing the same exchange on one kept connection. */
static int
bench_raw(int port, const char *body, int64_t *t, int n)
{
	struct sockaddr_in a;
	char req[BENCH_BODY + 512], buf[8192];
	struct pollfd p;
	size_t rl, got, want;
	ssize_t k;
	const char *end, *cl;
	int fd, i, one = 1, hl, rc = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	hl = snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\nHost: "
	    "127.0.0.1:%d\r\nAuthorization: Bearer sk-bench\r\nContent-Type: "
	    "application/json\r\nContent-Length: %d\r\n\r\n", port, BENCH_BODY);
	memcpy(req + hl, body, BENCH_BODY);
	rl = (size_t)hl + BENCH_BODY;
	for (i = 0; i < n; i++) {
		int64_t t0 = bench_now_us();

		if (bench_send(fd, req, rl) < 0)
			goto out;
		got = 0;
		want = 0;
		for (;;) {
			p.fd = fd;
			p.events = POLLIN;
			if (poll(&p, 1, BENCH_WAIT_MS) <= 0)
				goto out;
			k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
			if (k <= 0)
				goto out;
			got += (size_t)k;
			buf[got] = '\0';
			end = strstr(buf, "\r\n\r\n");
			if (end == NULL)
				continue;
			cl = strcasestr(buf, "\r\ncontent-length:");
			want = (size_t)(end - buf) + 4 + (cl != NULL ? strtoul(cl + 17, NULL, 10) : 0);
			if (got >= want)
				break;
		}
		t[i] = bench_now_us() - t0;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
bench_sink(const char *buf, size_t len, void *arg)
{
	(void)buf;
	*(size_t *)arg += len;
	return 0;
}

/* n attempts; fresh = 1 makes a new transport (so a new connection) each time. */
static int
bench_transport(struct upstream_share *sh, int port, const char *body, int fresh,
    int64_t *t, int n)
{
	struct config_provider prov;
	struct config_account acct;
	struct upstream_headers *h = NULL;
	struct upstream *u = NULL;
	struct upstream_req req;
	struct upstream_res res;
	char base[64];
	size_t got = 0;
	enum qp_err err;
	int i, rc = -1;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d/v1", port);
	memset(&prov, 0, sizeof(prov));
	memset(&acct, 0, sizeof(acct));
	prov.base_url = base;
	prov.auth = CONFIG_AUTH_BEARER;
	acct.api_key = "sk-bench";
	for (i = 0; i < n; i++) {
		int64_t t0 = bench_now_us();

		if (u == NULL) {
			u = upstream_new(sh);
			if (u == NULL)
				goto out;
		}
		h = upstream_headers_new(&prov, &acct, CONFIG_PROTO_OPENAI, NULL, &err);
		if (h == NULL)
			goto out;
		upstream_req_init(&req, NULL, &prov, &acct);
		req.path = "chat/completions";
		req.headers = h;
		req.body = body;
		req.body_len = BENCH_BODY;
		req.connect_timeout_ms = 2000;
		req.first_byte_timeout_ms = 5000;
		req.idle_timeout_ms = 5000;
		req.cb.on_data = bench_sink;
		req.cb.arg = &got;
		err = upstream_perform(u, &req, &res);
		upstream_headers_free(h);
		h = NULL;
		if (err != QP_OK || res.result != UPSTREAM_OK || res.head.status != 200) {
			fprintf(stderr, "attempt %d: %s (%s)\n", i,
			    upstream_result_name(res.result), res.detail);
			goto out;
		}
		if (fresh) {
			upstream_free(u);
			u = NULL;
		}
		t[i] = bench_now_us() - t0;
	}
	rc = 0;
out:
	upstream_headers_free(h);
	upstream_free(u);
	return rc;
}

/* One large streamed response: delivery rate through on_data. */
static int
bench_stream(struct upstream_share *sh, int port)
{
	struct upstream *u = upstream_new(sh);
	struct upstream_req req;
	struct upstream_res res;
	char base[64];
	size_t got = 0;
	int64_t t0, dt;
	int runs, rc = -1;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	for (runs = 0; u != NULL && runs < 3; runs++) {
		memset(&req, 0, sizeof(req));
		req.method = UPSTREAM_GET;
		req.base_url = base;
		req.path = "stream";
		req.connect_timeout_ms = 2000;
		req.first_byte_timeout_ms = 5000;
		req.idle_timeout_ms = 5000;
		req.cb.on_data = bench_sink;
		req.cb.arg = &got;
		got = 0;
		t0 = bench_now_us();
		if (upstream_perform(u, &req, &res) != QP_OK || res.result != UPSTREAM_OK ||
		    got != BENCH_STREAM)
			goto out;
		dt = bench_now_us() - t0;
		printf("%-44s %d MiB in %lld us = %.0f MiB/s\n", "streamed body through on_data",
		    BENCH_STREAM >> 20, (long long)dt, (double)BENCH_STREAM / 1048576.0 /
		    ((double)dt / 1e6));
	}
	rc = 0;
out:
	upstream_free(u);
	return rc;
}

int
main(int argc, char **argv)
{
	struct upstream_share *sh = NULL;
	struct bench_srv s;
	char body[BENCH_BODY];
	int64_t *t = NULL;
	enum qp_err err;
	int n = BENCH_N, rc = 1;

	if (argc > 1)
		n = (int)strtol(argv[1], NULL, 10);
	if (n < 10 || n > 1000000) {
		fprintf(stderr, "usage: bench_upstream [requests, 10..1000000]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(body, 'b', sizeof(body));
	t = calloc((size_t)n, sizeof(*t));
	sh = upstream_share_new(&err);
	if (t == NULL || sh == NULL || bench_srv_start(&s) != 0) {
		fprintf(stderr, "bench_upstream: set-up failed\n");
		goto out;
	}
	printf("POST of %d B, %d B reply, loopback, %d requests per series\n", BENCH_BODY,
	    BENCH_REPLY, n);
	if (bench_raw(s.port, body, t, n) != 0)
		goto stop;
	bench_print("raw socket, kept connection (floor)", t, n);
	if (bench_transport(sh, s.port, body, 0, t, n) != 0)
		goto stop;
	bench_print("upstream_perform, kept connection", t, n);
	if (bench_transport(sh, s.port, body, 1, t, n / 10) != 0)
		goto stop;
	bench_print("new transport + connection per request", t, n / 10);
	if (bench_stream(sh, s.port) != 0)
		goto stop;
	rc = 0;
stop:
	bench_srv_stop(&s);
out:
	upstream_share_free(sh);
	free(t);
	return rc;
}
