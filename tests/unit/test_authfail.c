/* test_authfail.c: failed key checks and logins: counted, throttled per address, logged sparingly. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "authfail.h"
#include "bounds.h"

#define MIN	QP_AUTHFAIL_WINDOW_MS

static int log_fd = -1, saved_fd = -1;
static char log_path[] = "/tmp/qp-test-authfail-XXXXXX";

/* Sends standard error (where log lines go) to a scratch file from now on. */
static void
capture_start(void)
{

	fflush(stderr);
	if ((log_fd = mkstemp(log_path)) < 0 || (saved_fd = dup(2)) < 0 ||
	    dup2(log_fd, 2) < 0) {
		printf("Bail out! cannot capture standard error\n");
		exit(1);
	}
}

/* Stops the capture; returns what was logged (malloc'd). */
static char *
capture_end(void)
{
	char *buf;
	off_t n;

	dup2(saved_fd, 2);
	close(saved_fd);
	n = lseek(log_fd, 0, SEEK_END);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && pread(log_fd, buf, (size_t)n, 0) != n)
		buf[0] = '\0';
	close(log_fd);
	unlink(log_path);
	memcpy(log_path + strlen(log_path) - 6, "XXXXXX", 6);
	return buf;
}

/* Lines of text containing frag. */
static int
count_lines(const char *text, const char *frag)
{
	const char *p = text, *nl;
	char line[2048];
	size_t n;
	int c = 0;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strstr(line, frag) != NULL)
			c++;
		p += n + (nl != NULL);
	}
	return c;
}

static void
test_throttle(void)
{
	struct authfail *af = authfail_new(3);
	struct authfail_counts c;
	int retry = 0, i;

	ok(af != NULL, "authfail_new(3)");
	capture_start();
	for (i = 0; i < 3; i++) {
		ok(!authfail_throttled(af, "192.0.2.1", 1000 + i, &retry),
		    "failure %d: the address is not throttled before it", i + 1);
		authfail_record(af, AUTHFAIL_KEY, "192.0.2.1", 1000 + i);
	}
	ok(authfail_throttled(af, "192.0.2.1", 1010, &retry), "after 3 failures it is throttled");
	ok(retry >= 59 && retry <= 60, "Retry-After is what is left of the minute (%d)", retry);
	ok(authfail_throttled(af, "192.0.2.1", 1000 + MIN - 1, &retry) && retry == 1,
	    "still throttled at the minute's last ms, Retry-After 1");
	ok(!authfail_throttled(af, "192.0.2.2", 1010, &retry), "another address is not");
	ok(!authfail_throttled(af, "192.0.2.1", 1000 + MIN, &retry),
	    "a minute after its first failure the address is free again");
	authfail_record(af, AUTHFAIL_LOGIN, "192.0.2.1", 1000 + MIN);
	ok(!authfail_throttled(af, "192.0.2.1", 1000 + MIN + 1, &retry),
	    "one failure in the new minute does not throttle it");
	authfail_counts(af, &c);
	is_int(c.failures[AUTHFAIL_KEY], 3, "3 failed key checks counted");
	is_int(c.failures[AUTHFAIL_LOGIN], 1, "1 failed login counted");
	is_int(c.throttled, 2, "2 refusals counted");
	authfail_free(af);
	free(capture_end());

	af = authfail_new(0);
	capture_start();
	for (i = 0; i < 1000; i++)
		authfail_record(af, AUTHFAIL_KEY, "192.0.2.9", i);
	free(capture_end());
	ok(!authfail_throttled(af, "192.0.2.9", 1000, &retry), "max 0: never throttled");
	authfail_free(af);
	authfail_free(NULL);
}

static void
test_log(void)
{
	struct authfail *af = authfail_new(10);
	char *log, addr[64];
	int i;

	capture_start();
	authfail_record(af, AUTHFAIL_KEY, "192.0.2.1", 0);
	for (i = 1; i <= 4; i++)
		authfail_record(af, AUTHFAIL_KEY, "192.0.2.1", i * 1000);
	authfail_record(af, AUTHFAIL_LOGIN, "192.0.2.1", 5000);
	authfail_record(af, AUTHFAIL_KEY, "2001:db8::7", 6000);
	authfail_record(af, AUTHFAIL_KEY, "2001:db8::7", 7000);
	authfail_record(af, AUTHFAIL_KEY, "192.0.2.1", MIN);
	log = capture_end();
	is_int(count_lines(log, "192.0.2.1"), 2, "one line per address per minute: 2 lines in "
	    "a minute and a second of failures");
	is_int(count_lines(log, "2001:db8::7"), 1, "one line for the other address");
	is_int(count_lines(log, "1 failed key check, 0 failed logins"), 2,
	    "each first line counts its one failure");
	is_int(count_lines(log, "5 failed key checks, 1 failed login, 0 refused"), 1,
	    "the next line counts every failure since the previous one");
	is_int(count_lines(log, "warning: auth: failed client key check from 192.0.2.1"), 2,
	    "lines say what failed and from where, as warnings");
	free(log);
	authfail_free(af);

	/* Over all addresses, QP_AUTHFAIL_LOG_LINES lines a minute, then one that says so. */
	af = authfail_new(10);
	capture_start();
	for (i = 0; i < QP_AUTHFAIL_LOG_LINES + 20; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		authfail_record(af, AUTHFAIL_KEY, addr, 100 + i);
	}
	log = capture_end();
	is_int(count_lines(log, "auth: failed client key check"), QP_AUTHFAIL_LOG_LINES,
	    "at most QP_AUTHFAIL_LOG_LINES lines a minute over every address");
	is_int(count_lines(log, "failures from other addresses are only counted"), 1,
	    "and one line saying the rest are only counted");
	free(log);
	authfail_free(af);
}

/* Many addresses: the table keeps the latest, and the counts stay exact. */
static void
test_many(void)
{
	struct authfail *af = authfail_new(2);
	struct authfail_counts c;
	char addr[64];
	int i, retry;

	capture_start();
	for (i = 0; i < 5 * QP_AUTHFAIL_ADDRS; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
		    i & 255);
		authfail_record(af, AUTHFAIL_KEY, addr, 1000);
	}
	authfail_record(af, AUTHFAIL_KEY, "203.0.113.5", 1001);
	authfail_record(af, AUTHFAIL_KEY, "203.0.113.5", 1002);
	free(capture_end());
	ok(authfail_throttled(af, "203.0.113.5", 1003, &retry),
	    "an address failing now is followed even after thousands of others");
	authfail_counts(af, &c);
	is_int(c.failures[AUTHFAIL_KEY], 5 * QP_AUTHFAIL_ADDRS + 2, "every failure is counted");
	authfail_free(af);
}

struct thread_arg {
	struct authfail	*af;
	int		 id;
};

static void *
hammer(void *arg)
{
	struct thread_arg *t = arg;
	char addr[64];
	int i, retry;

	for (i = 0; i < 2000; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", (t->id * 7 + i) % 50);
		authfail_record(t->af, i % 3 == 0 ? AUTHFAIL_LOGIN : AUTHFAIL_KEY, addr, i);
		(void)authfail_throttled(t->af, addr, i, &retry);
	}
	return NULL;
}

/* Counts hold across threads. */
static void
test_threads(void)
{
	struct authfail *af = authfail_new(5);
	struct thread_arg args[8];
	struct authfail_counts c;
	pthread_t th[8];
	int i, started = 0;

	capture_start();
	for (i = 0; i < 8; i++) {
		args[i].af = af;
		args[i].id = i;
		if (pthread_create(&th[i], NULL, hammer, &args[i]) == 0)
			started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(capture_end());
	authfail_counts(af, &c);
	is_int(started, 8, "8 threads ran");
	is_int(c.failures[AUTHFAIL_KEY] + c.failures[AUTHFAIL_LOGIN], 8 * 2000,
	    "8 threads x 2000 failures: all counted");
	is_int(c.failures[AUTHFAIL_LOGIN], 8 * 667, "of them 8 x 667 logins");
	ok(c.throttled > 0, "and addresses past 5 failures were refused (%lld)",
	    (long long)c.throttled);
	authfail_free(af);
}

int
main(void)
{

	test_throttle();
	test_log();
	test_many();
	test_threads();
	return done_testing();
}
