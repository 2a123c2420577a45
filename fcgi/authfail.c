/* authfail.c: failed key checks and logins: counted, logged sparingly, throttled per address. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "authfail.h"
#include "bounds.h"
#include "log.h"

/* Slots looked at for one address, from its hash on. */
#define AUTHFAIL_PROBE		16

/* One address lately seen failing. */
struct authfail_entry {
	char		 addr[AUTHFAIL_ADDR_MAX + 1];	/* the address (cut) */
	int		 used;		/* 1 once it holds an address */
	int64_t		 seen;		/* ms of its last failure or refusal */
	int64_t		 window_start;	/* ms of the first failure of its window */
	int		 failures;	/* failures in that window */
	int64_t		 logged_at;	/* ms of its last log line, -1 = none yet */
	int		 unlogged[AUTHFAIL__MAX]; /* failures since that line, by kind */
	int		 refused;	/* throttled checks since that line */
};

struct authfail {
	pthread_mutex_t		 lock;		/* guards tab and the log fields */
	int			 max;		/* failures a window; 0 = no throttle */
	struct authfail_entry	*tab;		/* QP_AUTHFAIL_ADDRS slots */
	int64_t			 lines_start;	/* ms its window of log lines began */
	int			 lines;		/* lines written in it */
	atomic_llong		 failures[AUTHFAIL__MAX];	/* counts by kind */
	atomic_llong		 throttled;	/* checks refused */
};

static const char *const authfail_names[AUTHFAIL__MAX] = {
	[AUTHFAIL_KEY] = "client key check",
	[AUTHFAIL_LOGIN] = "dashboard login",
};

struct authfail *
authfail_new(int max)
{
	struct authfail *af;

	if ((af = calloc(1, sizeof(*af))) == NULL)
		return NULL;
	if ((af->tab = calloc(QP_AUTHFAIL_ADDRS, sizeof(*af->tab))) == NULL) {
		free(af);
		return NULL;
	}
	pthread_mutex_init(&af->lock, NULL);
	af->max = max > 0 ? max : 0;
	af->lines_start = -1;
	return af;
}

void
authfail_free(struct authfail *af)
{

	if (af == NULL)
		return;
	pthread_mutex_destroy(&af->lock);
	free(af->tab);
	free(af);
}

/* FNV-1a of the address. */
static size_t
authfail_hash(const char *addr)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *addr != '\0'; addr++) {
		h ^= (unsigned char)*addr;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % QP_AUTHFAIL_ADDRS);
}

/*
 * The entry of addr (cut to AUTHFAIL_ADDR_MAX), or NULL; with make, a new
 * one in a free slot or in place of the least recently seen of the
 * probed slots. Called with the lock held.
 */
static struct authfail_entry *
authfail_find(struct authfail *af, const char *addr, int64_t now, int make)
{
	char key[AUTHFAIL_ADDR_MAX + 1];
	struct authfail_entry *e, *victim = NULL;
	size_t h, i;

	memcpy(key, addr, strnlen(addr, AUTHFAIL_ADDR_MAX));
	key[strnlen(addr, AUTHFAIL_ADDR_MAX)] = '\0';
	h = authfail_hash(key);
	for (i = 0; i < AUTHFAIL_PROBE; i++) {
		e = &af->tab[(h + i) % QP_AUTHFAIL_ADDRS];
		if (e->used && strcmp(e->addr, key) == 0)
			return e;
		if (victim == NULL || (victim->used && (!e->used || e->seen < victim->seen)))
			victim = e;
	}
	if (!make)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->addr, key, strlen(key) + 1);
	victim->used = 1;
	victim->window_start = now;
	victim->logged_at = -1;
	return victim;
}

/* 1 if e's window, begun at window_start, still runs at now. */
static int
authfail_window_live(const struct authfail_entry *e, int64_t now)
{

	return now - e->window_start < QP_AUTHFAIL_WINDOW_MS;
}

int
authfail_throttled(struct authfail *af, const char *addr, int64_t now_ms, int *retry_after_s)
{
	struct authfail_entry *e;
	int64_t left;
	int hit = 0;

	if (af == NULL || af->max == 0)
		return 0;
	pthread_mutex_lock(&af->lock);
	e = authfail_find(af, addr, now_ms, 0);
	if (e != NULL && authfail_window_live(e, now_ms) && e->failures >= af->max) {
		hit = 1;
		e->refused++;
		e->seen = now_ms;
		left = e->window_start + QP_AUTHFAIL_WINDOW_MS - now_ms;
		*retry_after_s = (int)((left + 999) / 1000);
		if (*retry_after_s < 1)
			*retry_after_s = 1;
	}
	pthread_mutex_unlock(&af->lock);
	if (hit)
		atomic_fetch_add(&af->throttled, 1);
	return hit;
}

void
authfail_record(struct authfail *af, enum authfail_kind kind, const char *addr, int64_t now_ms)
{
	struct authfail_entry *e;
	char shown[AUTHFAIL_ADDR_MAX + 1];
	int n[AUTHFAIL__MAX], refused = 0, line = 0, last_line = 0, throttled = 0, i;

	if (af == NULL || (unsigned)kind >= AUTHFAIL__MAX)
		return;
	atomic_fetch_add(&af->failures[kind], 1);
	pthread_mutex_lock(&af->lock);
	e = authfail_find(af, addr, now_ms, 1);
	if (!authfail_window_live(e, now_ms)) {
		e->window_start = now_ms;
		e->failures = 0;
	}
	e->failures++;
	e->unlogged[kind]++;
	e->seen = now_ms;
	throttled = af->max > 0 && e->failures >= af->max;
	if (e->logged_at < 0 || now_ms - e->logged_at >= QP_AUTHFAIL_WINDOW_MS) {
		if (af->lines_start < 0 || now_ms - af->lines_start >= QP_AUTHFAIL_WINDOW_MS) {
			af->lines_start = now_ms;
			af->lines = 0;
		}
		if (af->lines < QP_AUTHFAIL_LOG_LINES) {
			line = 1;
			last_line = ++af->lines == QP_AUTHFAIL_LOG_LINES;
			e->logged_at = now_ms;
			for (i = 0; i < AUTHFAIL__MAX; i++) {
				n[i] = e->unlogged[i];
				e->unlogged[i] = 0;
			}
			refused = e->refused;
			e->refused = 0;
			memcpy(shown, e->addr, sizeof(shown));
		}
	}
	pthread_mutex_unlock(&af->lock);
	if (!line)
		return;
	/* The address comes from the web server (or a trusted proxy, checked): an IP literal. */
	log_msg(LOG_WARNING, "auth: failed %s from %s (since the last line about this address: "
	    "%d failed key check%s, %d failed login%s, %d refused with 429)%s; nothing more is "
	    "logged about it for a minute", authfail_names[kind], shown[0] ? shown : "(unknown)",
	    n[AUTHFAIL_KEY], n[AUTHFAIL_KEY] == 1 ? "" : "s", n[AUTHFAIL_LOGIN],
	    n[AUTHFAIL_LOGIN] == 1 ? "" : "s", refused,
	    throttled ? "; it is throttled for the rest of the minute" : "");
	if (last_line)
		log_msg(LOG_WARNING, "auth: %d addresses had failures logged this minute: failures "
		    "from other addresses are only counted (in /metrics) until it ends",
		    QP_AUTHFAIL_LOG_LINES);
}

void
authfail_counts(struct authfail *af, struct authfail_counts *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	if (af == NULL)
		return;
	for (i = 0; i < AUTHFAIL__MAX; i++)
		out->failures[i] = atomic_load(&af->failures[i]);
	out->throttled = atomic_load(&af->throttled);
}
