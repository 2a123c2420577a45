/* server.h: the FastCGI process: worker threads, their resources, and request dispatch. */
#ifndef QP_SERVER_H
#define QP_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "accounting.h"
#include "keys.h"
#include "maint.h"
#include "migrate.h"
#include "select.h"
#include "stats.h"
#include "upstream.h"

/*
 * What every thread shares. Filled before the threads start and read-only
 * afterwards, except for the atomic counters.
 */
struct server {
	const struct config	*cfg;		/* borrowed, lives as long as the server */
	struct migrate_set	 schema;	/* migrations this build knows */
	char			 datadir[4096];	/* schema/ and views/ live here */
	int			 listen_fd;	/* FastCGI socket */
	int64_t			 started_ms;	/* wall clock at start */
	struct maint		*maint;		/* the maintenance thread; owns this process's
						   row in processes */
	struct upstream_share	*share;		/* libcurl DNS and TLS caches of all workers */
	atomic_int		 in_flight;	/* requests being served now */
	atomic_llong		 served;	/* requests finished since start */
	atomic_int		 stopping;	/* 1 once shutdown began */
};

/* What one worker thread owns: never touched by another thread. */
struct worker {
	struct server	*srv;		/* shared, read-only */
	int		 id;		/* 0-based thread number */
	pthread_t	 thread;	/* this thread */
	FCGX_Request	 fr;		/* the FastCGI request being served */
	sqlite3		*db;		/* this thread's connection, NULL until first use */
	struct keys_db	*keys;		/* prepared key statements, NULL until ready */
	struct select_db *sel;		/* account selection, NULL until ready */
	struct accounting_db *acc;	/* request accounting, NULL until ready */
	struct stats_rollup *rollup;	/* dashboard rollups kept as requests finalize */
	struct upstream	*up;		/* this thread's upstream transport, made at its
					   first data-plane request */
	int		 ready;		/* 1 once the database is known fully migrated */
	char		 reason[512];	/* why not ready, for /v1/readyz */
	int		 done;		/* 1 once the thread has returned */
};

/* Roles a request may present. */
enum server_role {
	SERVER_ROLE_NONE,	/* no key or an invalid one */
	SERVER_ROLE_CLIENT,	/* a client key */
	SERVER_ROLE_ADMIN,	/* an admin key */
	SERVER_ROLE__MAX
};

/*
 * Makes sure w has an open, fully migrated database with its statements
 * prepared. Returns QP_OK when ready; otherwise the reason is in w->reason
 * (QP_EDB: unreachable, QP_ESCHEMA: not migrated or unknown version).
 * Cheap once ready. Worker thread only.
 */
enum qp_err	 server_worker_ready(struct worker *w);

/*
 * Works out the role of the key presented with r (Authorization: Bearer,
 * else x-api-key). Needs the database; returns SERVER_ROLE_NONE when no
 * valid key was presented or the database is not ready.
 */
enum server_role server_auth(struct worker *w, struct http_req *r);

/*
 * Returns this process's row in processes (requests carry it), 0 while
 * the maintenance thread has not registered it yet. Thread-safe.
 */
int64_t		 server_process_id(struct server *srv);

/*
 * Runs the server: opens the database check, starts cfg->server.threads
 * workers on listen_fd, waits for SIGTERM/SIGINT, stops accepting, lets
 * in-flight requests finish (at most QP_SHUTDOWN_GRACE_S seconds) and
 * returns. Call from main with no other threads running.
 */
enum qp_err	 server_run(const struct config *cfg, int listen_fd);

#endif /* QP_SERVER_H */
