/* main.c: quotapool-worker: serves a gateway's remote-worker jobs from a local runtime. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "wk.h"
#include "wkargs.h"
#include "wkbackoff.h"
#include "wkhttp.h"
#include "wkjob.h"
#include "wklog.h"
#include "wkproto.h"

/* Seconds a cancelled job may take to let go of its threads before exit. */
#define WK_CANCEL_WAIT_S	10
/* Seconds of a hello, a bye or a model list read. */
#define WK_CALL_TIMEOUT_S	30

#ifndef QP_VERSION
#define QP_VERSION "0"
#endif

int64_t
wk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t
wk_random(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)wk_now_ms() * 2654435761u;
	return v;
}

void
wk_fatal(struct wk *wk, long status)
{

	pthread_mutex_lock(&wk->mu);
	if (!wk->fatal)
		wklog("the gateway refused the worker key (HTTP %ld): check the key in $%s "
		    "(made with quotapool-admin key new NAME --worker); exiting", status,
		    wk->a.key_env);
	wk->fatal = 1;
	pthread_cond_broadcast(&wk->cv);
	pthread_mutex_unlock(&wk->mu);
}

/* Whether the worker is stopping or refused (stop test of long calls). */
static int
wk_stop(void *arg)
{
	struct wk *wk = arg;
	int s;

	pthread_mutex_lock(&wk->mu);
	s = wk->stopping || wk->fatal;
	pthread_mutex_unlock(&wk->mu);
	return s;
}

/* Waits ms on wk->cv; the caller holds wk->mu. Returns early on a signal. */
static void
wk_wait_locked(struct wk *wk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&wk->cv, &wk->mu, &ts);
}

/* Sleeps ms unless the worker stops first. */
static void
wk_sleep(struct wk *wk, int64_t ms)
{
	int64_t until = wk_now_ms() + ms;

	pthread_mutex_lock(&wk->mu);
	while (!wk->stopping && !wk->fatal && wk_now_ms() < until)
		wk_wait_locked(wk, until - wk_now_ms());
	pthread_mutex_unlock(&wk->mu);
}

/*
 * Reads the runtime's model list. Returns 1 when it changed (wk->models
 * replaced), 0 when not, -1 when it could not be read (the old list stays).
 */
static int
wk_models_refresh(struct wk *wk, CURL *h, int *runtime_ok)
{
	struct wkhttp_call c;
	struct wkhttp_answer ans;
	struct wkproto_models m;
	enum wkproto_err e;
	int changed = -1;

	memset(&c, 0, sizeof(c));
	c.method = "GET";
	c.url = wk->url_models;
	c.bearer = wk->runtime_key;
	c.timeout_s = WK_CALL_TIMEOUT_S;
	c.ca_file = wk->a.runtime_ca_file;
	c.max = WK_MODELS_BODY_MAX;
	if (wkhttp_do(h, &c, &ans) != 0 || ans.status != 200 || ans.truncated) {
		if (*runtime_ok && ans.status == 0)
			wklog("runtime models unreadable at %s: %s", wk->url_models, ans.err);
		else if (*runtime_ok && ans.truncated)
			wklog("runtime models unreadable at %s: over %d bytes", wk->url_models,
			    WK_MODELS_BODY_MAX);
		else if (*runtime_ok)
			wklog("runtime models unreadable at %s: HTTP %ld", wk->url_models,
			    ans.status);
		*runtime_ok = 0;
		wkhttp_answer_free(&ans);
		return -1;
	}
	e = wkproto_models_parse(ans.body, ans.len, &m);
	wkhttp_answer_free(&ans);
	if (e != WKPROTO_OK) {
		if (*runtime_ok)
			wklog("runtime models unreadable at %s: %s", wk->url_models,
			    wkproto_strerror(e));
		*runtime_ok = 0;
		return -1;
	}
	*runtime_ok = 1;
	pthread_mutex_lock(&wk->hello_mu);
	if (!wkproto_models_equal(&m, &wk->models)) {
		wklog("runtime models: %zu (%s%s)%s", m.n, m.n > 0 ? m.v[0].id : "none",
		    m.n > 1 ? ", ..." : "", m.dropped > 0 ? " (some entries left out)" : "");
		wkproto_models_free(&wk->models);
		wk->models = m;
		changed = 1;
	} else {
		wkproto_models_free(&m);
		changed = 0;
	}
	pthread_mutex_unlock(&wk->hello_mu);
	return changed;
}

/* Says hello; returns the gateway's status (0: unreachable, err set). */
static long
wk_hello(struct wk *wk, CURL *h, char *err, size_t errlen)
{
	struct wkhttp_call c;
	struct wkhttp_answer ans;
	char *body = NULL;
	long st = 0;
	int hb = WK_HEARTBEAT_DEFAULT_S, gone = 0, was;

	pthread_mutex_lock(&wk->hello_mu);
	if (wkproto_hello_body(wk->name, QP_VERSION, wk->a.capacity, &wk->models, &body) !=
	    WKPROTO_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.method = "POST";
	c.url = wk->url_hello;
	c.bearer = wk->key;
	c.content_type = "application/json";
	c.body = body;
	c.body_len = strlen(body);
	c.timeout_s = WK_CALL_TIMEOUT_S;
	c.ca_file = wk->a.ca_file;
	c.max = WK_ANSWER_MAX;
	if (wkhttp_do(h, &c, &ans) != 0) {
		snprintf(err, errlen, "%s", ans.err);
		wkhttp_answer_free(&ans);
		wk->registered = 0;
		goto out;
	}
	st = ans.status;
	if (st == 200)
		(void)wkproto_hello_answer(ans.body != NULL ? ans.body : "", ans.len, &hb, &gone);
	else
		snprintf(err, errlen, "HTTP %ld %.*s", st, (int)(ans.len < 200 ? ans.len : 200),
		    ans.body != NULL ? ans.body : "");
	wkhttp_answer_free(&ans);
	was = wk->registered;
	wk->registered = st == 200;
	if (st == 200)
		wk->ever_registered = 1;
	if (st == 200) {
		pthread_mutex_lock(&wk->mu);
		wk->heartbeat_s = hb;
		pthread_cond_broadcast(&wk->cv);
		pthread_mutex_unlock(&wk->mu);
		if (!was)
			wklog("registered with the gateway as %s: %zu models, capacity %d, "
			    "heartbeat %d s", wk->name, wk->models.n, wk->a.capacity, hb);
	}
out:
	pthread_mutex_unlock(&wk->hello_mu);
	free(body);
	return st;
}

/* Thread: hello every heartbeat_s, after reading the runtime's models. */
static void *
wk_heartbeat(void *arg)
{
	struct wk *wk = arg;
	CURL *h;
	char err[256];
	int64_t next;
	long st;
	int runtime_ok = 1, hb, gw_ok = 1;

	if ((h = curl_easy_init()) == NULL) {
		wklog("no curl handle for the heartbeat");
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&wk->mu);
		hb = wk->heartbeat_s;
		next = wk_now_ms() + (int64_t)hb * 1000;
		while (!wk->quit && !wk->fatal && wk_now_ms() < next)
			wk_wait_locked(wk, next - wk_now_ms());
		if (wk->quit || wk->fatal) {
			pthread_mutex_unlock(&wk->mu);
			break;
		}
		pthread_mutex_unlock(&wk->mu);
		(void)wk_models_refresh(wk, h, &runtime_ok);
		st = wk_hello(wk, h, err, sizeof(err));
		if (st == 401 || st == 403)
			wk_fatal(wk, st);
		else if (st != 200 && gw_ok)
			wklog("heartbeat failed: %s", err);
		gw_ok = st == 200;
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* Thread: the first SIGTERM/SIGINT stops the worker gently, the second at once. */
static void *
wk_signals(void *arg)
{
	struct wk *wk = arg;
	sigset_t set;
	int sig, inflight;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		pthread_mutex_lock(&wk->mu);
		if (wk->stopping) {
			pthread_mutex_unlock(&wk->mu);
			wklog("%s again: exiting now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			_exit(1);
		}
		wk->stopping = 1;
		inflight = wk->inflight;
		pthread_cond_broadcast(&wk->cv);
		pthread_mutex_unlock(&wk->mu);
		wklog("%s: taking no more jobs; %d running (up to %d s)",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT", inflight, wk->a.drain_s);
	}
	return NULL;
}

/* The first free slot; the caller holds wk->mu and knows one is free. */
static int
wk_free_slot(struct wk *wk)
{
	int i;

	for (i = 0; i < wk->a.capacity; i++) {
		if (wk->slots[i] == NULL)
			return i;
	}
	return -1;
}

/* Handles a 200 answer of the jobs poll: starts the job or refuses it. */
static void
wk_take_job(struct wk *wk, CURL *h, const char *buf, size_t len)
{
	struct wkproto_job job;
	enum wkproto_err e;
	const char *why = NULL;
	char msg[160];
	int slot, rc = -1;

	e = wkproto_job_parse(buf, len, &job, &why);
	if (e != WKPROTO_OK) {
		snprintf(msg, sizeof(msg), "the worker could not read the job: %s (%s)",
		    wkproto_strerror(e), why != NULL ? why : "?");
		if (job.id[0] != '\0')
			wkjob_refuse(wk, h, job.id, msg);
		else
			wklog("%s; no id to refuse it by", msg);
		return;
	}
	pthread_mutex_lock(&wk->mu);
	if ((slot = wk_free_slot(wk)) >= 0)
		rc = wkjob_start(wk, &job, slot);
	pthread_mutex_unlock(&wk->mu);
	if (rc != 0) {
		wkjob_refuse(wk, h, job.id, "the worker could not start the job");
		wkproto_job_free(&job);
	}
}

/*
 * Registers (hello after reading the models) until it works, the worker
 * stops or the key is refused. Returns 0 when registered.
 */
static int
wk_register(struct wk *wk, CURL *h, int *runtime_ok)
{
	char err[256];
	unsigned attempt = 0;
	uint32_t ms;
	long st;

	while (!wk_stop(wk)) {
		(void)wk_models_refresh(wk, h, runtime_ok);
		st = wk_hello(wk, h, err, sizeof(err));
		if (st == 200)
			return 0;
		if (st == 401 || st == 403) {
			wk_fatal(wk, st);
			return -1;
		}
		ms = wkbackoff_delay_ms(attempt++, WK_BACKOFF_BASE_MS, WK_BACKOFF_CAP_MS,
		    wk_random());
		wklog("hello failed (%s); retrying in %u.%03u s", err, ms / 1000, ms % 1000);
		wk_sleep(wk, ms);
	}
	return -1;
}

/* Takes jobs while a slot is free, until the worker stops. */
static void
wk_poll_loop(struct wk *wk, CURL *h, pthread_t *hb, int *hb_started)
{
	struct wkhttp_call c;
	struct wkhttp_answer ans;
	unsigned attempt = 0;
	uint32_t ms;
	int need_hello = 1, runtime_ok = 1;

	memset(&c, 0, sizeof(c));
	c.method = "GET";
	c.url = wk->url_jobs;
	c.bearer = wk->key;
	c.timeout_s = wk->a.poll_wait_s + WK_CALL_TIMEOUT_S;
	c.ca_file = wk->a.ca_file;
	c.max = WK_JOB_MAX;
	c.stop = wk_stop;
	c.stop_arg = wk;
	while (!wk_stop(wk)) {
		if (need_hello) {
			if (wk_register(wk, h, &runtime_ok) != 0)
				break;
			need_hello = 0;
			attempt = 0;
			if (!*hb_started && pthread_create(hb, NULL, wk_heartbeat, wk) == 0)
				*hb_started = 1;
		}
		pthread_mutex_lock(&wk->mu);
		while (!wk->stopping && !wk->fatal && wk->inflight >= wk->a.capacity)
			pthread_cond_wait(&wk->cv, &wk->mu);
		pthread_mutex_unlock(&wk->mu);
		if (wk_stop(wk))
			break;
		if (wkhttp_do(h, &c, &ans) != 0) {
			if (ans.aborted) {
				wkhttp_answer_free(&ans);
				break;
			}
			ms = wkbackoff_delay_ms(attempt++, WK_BACKOFF_BASE_MS,
			    WK_BACKOFF_CAP_MS, wk_random());
			wklog("gateway unreachable (%s); retrying in %u.%03u s", ans.err,
			    ms / 1000, ms % 1000);
			wkhttp_answer_free(&ans);
			wk_sleep(wk, ms);
			continue;
		}
		switch (ans.status) {
		case 200:
			attempt = 0;
			if (ans.truncated)
				wklog("a job over %d bytes was dropped", WK_JOB_MAX);
			else
				wk_take_job(wk, h, ans.body != NULL ? ans.body : "", ans.len);
			break;
		case 204:
			attempt = 0;
			break;
		case 409:
			wklog("the gateway does not know this worker (409): saying hello again");
			need_hello = 1;
			break;
		case 401:
		case 403:
			wk_fatal(wk, ans.status);
			break;
		default:
			ms = wkbackoff_delay_ms(attempt++, WK_BACKOFF_BASE_MS,
			    WK_BACKOFF_CAP_MS, wk_random());
			wklog("the gateway answered HTTP %ld to the job poll; retrying in "
			    "%u.%03u s", ans.status, ms / 1000, ms % 1000);
			wkhttp_answer_free(&ans);
			wk_sleep(wk, ms);
			continue;
		}
		wkhttp_answer_free(&ans);
	}
}

/*
 * Waits for the running jobs (up to the drain timeout, none when the key
 * was refused), then stops the others. Returns the jobs still running.
 */
static int
wk_drain(struct wk *wk)
{
	int64_t until;
	int i, n;

	pthread_mutex_lock(&wk->mu);
	until = wk_now_ms() + (int64_t)wk->a.drain_s * 1000;
	if (wk->inflight > 0 && !wk->fatal)
		wklog("waiting for %d running jobs (up to %d s)", wk->inflight, wk->a.drain_s);
	while (wk->inflight > 0 && !wk->fatal && wk_now_ms() < until)
		wk_wait_locked(wk, until - wk_now_ms());
	if (wk->inflight > 0) {
		if (!wk->fatal)
			wklog("drain timeout: stopping %d jobs", wk->inflight);
		for (i = 0; i < wk->a.capacity; i++) {
			if (wk->slots[i] != NULL)
				wkjob_cancel(wk->slots[i]);
		}
		until = wk_now_ms() + WK_CANCEL_WAIT_S * 1000;
		while (wk->inflight > 0 && wk_now_ms() < until)
			wk_wait_locked(wk, until - wk_now_ms());
	}
	n = wk->inflight;
	pthread_mutex_unlock(&wk->mu);
	return n;
}

/* Says bye to the gateway. */
static void
wk_bye(struct wk *wk, CURL *h)
{
	struct wkhttp_call c;
	struct wkhttp_answer ans;

	memset(&c, 0, sizeof(c));
	c.method = "POST";
	c.url = wk->url_bye;
	c.bearer = wk->key;
	c.timeout_s = WK_CONNECT_TIMEOUT_S;
	c.ca_file = wk->a.ca_file;
	c.max = WK_ANSWER_MAX;
	if (wkhttp_do(h, &c, &ans) != 0)
		wklog("bye not delivered: %s", ans.err);
	else
		wklog("said bye to the gateway (HTTP %ld)", ans.status);
	wkhttp_answer_free(&ans);
}

/* A key from the environment: printable ASCII without spaces. Exits 2 when not. */
static char *
wk_env_key(const char *var)
{
	const char *v = getenv(var);
	size_t i, n;
	char *k;

	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "quotapool-worker: the environment variable %s is not set "
		    "or empty\n", var);
		exit(2);
	}
	n = strlen(v);
	for (i = 0; i < n; i++) {
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			break;
	}
	if (n > WK_KEY_MAX || i < n) {
		fprintf(stderr, "quotapool-worker: the key in %s is not a key (at most %d "
		    "printable characters without spaces)\n", var, WK_KEY_MAX);
		exit(2);
	}
	if ((k = strdup(v)) == NULL) {
		fprintf(stderr, "quotapool-worker: out of memory\n");
		exit(1);
	}
	return k;
}

/* Joins a and b into a new string; exits when out of memory. */
static char *
wk_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s;

	if ((s = malloc(n)) == NULL) {
		fprintf(stderr, "quotapool-worker: out of memory\n");
		exit(1);
	}
	snprintf(s, n, "%s%s", a, b);
	return s;
}

/* Start-up: the command line, the keys, the name and the URLs; exits 2 on a mistake. */
static void
wk_setup(struct wk *wk, int argc, char *argv[])
{
	char err[256], q[64];
	pthread_condattr_t ca;

	if (wkargs_parse(argc, argv, &wk->a, err, sizeof(err)) != 0) {
		fprintf(stderr, "quotapool-worker: %s\n", err);
		exit(2);
	}
	if (wk->a.help) {
		fputs(wkargs_usage(), stdout);
		exit(0);
	}
	if (wk->a.version) {
		printf("quotapool-worker %s\n", QP_VERSION);
		exit(0);
	}
	if (wk->a.name != NULL)
		snprintf(wk->name, sizeof(wk->name), "%s", wk->a.name);
	else if (gethostname(wk->name, sizeof(wk->name) - 1) != 0 || wk->name[0] == '\0')
		snprintf(wk->name, sizeof(wk->name), "worker");
	if (!wkproto_printable(wk->name, strlen(wk->name))) {
		fprintf(stderr, "quotapool-worker: --name: expected printable UTF-8\n");
		exit(2);
	}
	if (wk->a.ca_file != NULL && access(wk->a.ca_file, R_OK) != 0) {
		fprintf(stderr, "quotapool-worker: --ca-file: cannot read it: %s\n",
		    strerror(errno));
		exit(2);
	}
	if (wk->a.runtime_ca_file != NULL && access(wk->a.runtime_ca_file, R_OK) != 0) {
		fprintf(stderr, "quotapool-worker: --runtime-ca-file: cannot read it: %s\n",
		    strerror(errno));
		exit(2);
	}
	wk->key = wk_env_key(wk->a.key_env);
	if (wk->a.runtime_key_env != NULL)
		wk->runtime_key = wk_env_key(wk->a.runtime_key_env);
	wk->url_hello = wk_join(wk->a.server, "/worker/v1/hello");
	snprintf(q, sizeof(q), "/worker/v1/jobs?wait=%d", wk->a.poll_wait_s);
	wk->url_jobs = wk_join(wk->a.server, q);
	wk->url_bye = wk_join(wk->a.server, "/worker/v1/bye");
	wk->url_models = wk_join(wk->a.upstream, "/models");
	wk->heartbeat_s = WK_HEARTBEAT_DEFAULT_S;
	pthread_mutex_init(&wk->mu, NULL);
	pthread_mutex_init(&wk->hello_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wk->cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* Wipes and frees what wk_setup() made. */
static void
wk_teardown(struct wk *wk)
{

	if (wk->key != NULL)
		explicit_bzero(wk->key, strlen(wk->key));
	if (wk->runtime_key != NULL)
		explicit_bzero(wk->runtime_key, strlen(wk->runtime_key));
	free(wk->key);
	free(wk->runtime_key);
	free(wk->url_hello);
	free(wk->url_jobs);
	free(wk->url_bye);
	free(wk->url_models);
	wkproto_models_free(&wk->models);
	wkargs_free(&wk->a);
	pthread_cond_destroy(&wk->cv);
	pthread_mutex_destroy(&wk->hello_mu);
	pthread_mutex_destroy(&wk->mu);
}

int
main(int argc, char *argv[])
{
	static struct wk wk;
	pthread_t st, hb;
	sigset_t set;
	CURL *h;
	int left, rc, hb_started = 0;

	wk_setup(&wk, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (h = curl_easy_init()) == NULL) {
		fprintf(stderr, "quotapool-worker: libcurl could not start\n");
		return 1;
	}
	if (pthread_create(&st, NULL, wk_signals, &wk) != 0) {
		fprintf(stderr, "quotapool-worker: no thread for signals\n");
		return 1;
	}
	pthread_detach(st);
	wklog("starting %s: gateway %s, runtime %s, capacity %d, version %s", wk.name,
	    wk.a.server, wk.a.upstream, wk.a.capacity, QP_VERSION);
	wk_poll_loop(&wk, h, &hb, &hb_started);
	/* Heartbeats go on while the running jobs finish. */
	left = wk_drain(&wk);
	if (left > 0) {
		wklog("%d jobs did not stop; exiting", left);
		_exit(1);
	}
	pthread_mutex_lock(&wk.mu);
	wk.quit = 1;
	pthread_cond_broadcast(&wk.cv);
	pthread_mutex_unlock(&wk.mu);
	if (hb_started)
		pthread_join(hb, NULL);
	pthread_mutex_lock(&wk.mu);
	rc = wk.fatal ? 1 : 0;
	pthread_mutex_unlock(&wk.mu);
	if (rc == 0) {
		/* A worker that never registered has nothing to say bye to. */
		if (wk.ever_registered)
			wk_bye(&wk, h);
		wklog("stopped");
	}
	curl_easy_cleanup(h);
	curl_global_cleanup();
	wk_teardown(&wk);
	return rc;
}
