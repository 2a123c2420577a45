/* metrics.h: GET /metrics, the Prometheus text exposition (version 0.0.4) of the rollups. */
#ifndef QP_METRICS_H
#define QP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"

/* Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
/* A buffer this large holds the exposition of a large pool (the handler's choice). */
#define METRICS_BUF_DEFAULT	(1024 * 1024)

/* Prepared statements of one connection; owned by one thread. */
struct metrics_db;

/*
 * Prepares the statements on db (which must be migrated). Returns NULL
 * with *err set and a reason in errbuf. Free with metrics_db_free()
 * before closing db. Not thread-safe: one object per worker thread.
 */
struct metrics_db *metrics_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees a metrics_db. NULL is allowed. */
void		 metrics_db_free(struct metrics_db *m);

/*
 * Writes the exposition into buf (cap bytes; NUL-terminated, *len bytes
 * without the NUL): counters of requests, attempts, tokens and cost
 * since the database began (all-time rollups), the latency histograms
 * of completed requests (quotapool_request_duration_seconds and
 * quotapool_request_ttft_seconds per provider), accounts by state from
 * cfg and the running backoffs, in_flight (the caller's count of
 * requests being served) and the build version. Every family has HELP
 * and TYPE lines; label values are escaped. QP_ETOOBIG if it does not
 * fit (buf then holds a truncated text: do not send it), QP_EDB, or
 * QP_OK. Not thread-safe (m belongs to one thread).
 */
enum qp_err	 metrics_render(struct metrics_db *m, const struct config *cfg, int64_t in_flight,
		    char *buf, size_t cap, size_t *len);

/* This process's counters of failed authentication, for metrics_render_auth(). */
struct metrics_auth {
	int64_t		 key_failures;		/* presented client keys that were wrong */
	int64_t		 login_failures;	/* dashboard logins refused */
	int64_t		 throttled;		/* key checks and logins refused with 429 */
};

/*
 * Appends the families quotapool_auth_failures_total{kind} and
 * quotapool_auth_throttled_total (this process's counts since it started)
 * to the exposition in buf: *len bytes are there, cap in all; *len grows.
 * QP_ETOOBIG if they do not fit (do not send buf then). Thread-safe.
 */
enum qp_err	 metrics_render_auth(const struct metrics_auth *a, char *buf, size_t cap,
		    size_t *len);

/* The workers at one instant (workers_view.h). */
struct workers_view_set;

/*
 * Appends the per-worker families to the exposition in buf (*len bytes
 * there, cap in all; *len grows): quotapool_workers{state} (every worker
 * by state), and for each worker s lists, labelled {worker, key} (its
 * name and its key's name, unique together), quotapool_worker_up (1 live,
 * 0 gone), quotapool_worker_in_flight (jobs not ended),
 * quotapool_worker_capacity (0 once gone) and
 * quotapool_worker_jobs_total{outcome=done|failed|cancelled}; the workers
 * s does not list are summed under worker="(other)",key="(other)" (up =
 * how many of them are live), so the series stay bounded by the length of
 * s's list. QP_ETOOBIG if they do not fit (do not send buf then).
 * Thread-safe.
 */
enum qp_err	 metrics_render_workers(const struct workers_view_set *s, char *buf, size_t cap,
		    size_t *len);

#endif /* QP_METRICS_H */
