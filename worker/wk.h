/* wk.h: the state quotapool-worker's threads share (main loop, heartbeat, jobs). */
#ifndef WK_H
#define WK_H

#include <pthread.h>
#include <stdint.h>

#include "wkargs.h"
#include "wkbounds.h"
#include "wkproto.h"

struct wkjob_run;

/*
 * One per process, made by main() before any thread starts; the fields
 * above mu are read-only afterwards, the others are guarded as noted.
 */
struct wk {
	struct wkargs		 a;		/* the command line */
	char			 name[WK_NAME_MAX + 1]; /* --name or the host name */
	char			*key;		/* worker key (from --key-env), wiped at exit */
	char			*runtime_key;	/* runtime key, or NULL */
	char			*url_hello;	/* SERVER/worker/v1/hello */
	char			*url_jobs;	/* SERVER/worker/v1/jobs?wait=S */
	char			*url_bye;	/* SERVER/worker/v1/bye */
	char			*url_models;	/* UPSTREAM/models */

	pthread_mutex_t		 mu;		/* guards what follows */
	pthread_cond_t		 cv;		/* signalled on any change below */
	int			 stopping;	/* a first SIGTERM/SIGINT came */
	int			 fatal;		/* the gateway refused the key: exit 1 */
	int			 inflight;	/* jobs running */
	int			 heartbeat_s;	/* from the last hello answer */
	int			 quit;		/* the heartbeat thread ends */
	struct wkjob_run	*slots[WK_CAPACITY_MAX]; /* the running jobs */

	pthread_mutex_t		 hello_mu;	/* one hello at a time; guards models */
	struct wkproto_models	 models;	/* the runtime's models as last read */
	int			 registered;	/* the last hello was answered 200 */
	int			 ever_registered; /* a hello was answered 200 once */
};

/* Marks the process as refused by the gateway (401/403) and logs why once. Thread-safe. */
void		wk_fatal(struct wk *wk, long status);

/* A 32-bit random number (jitter). Thread-safe. */
uint32_t	wk_random(void);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t		wk_now_ms(void);

#endif /* WK_H */
