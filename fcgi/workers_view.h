/* workers_view.h: the remote workers as the dashboard, /metrics and the state stream show them. */
#ifndef QP_WORKERS_VIEW_H
#define QP_WORKERS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "server.h"
#include "stats_db.h"
#include "stats_query.h"

/*
 * Bounds of this read-only view of the workers tables (schema 0011). They
 * live here rather than in bounds.h: nothing here parses outside input.
 */
/* A worker silent this long is gone when no configuration is at hand ([workers] gone_after_s' default). */
#define WORKERS_VIEW_GONE_AFTER_MS	(30LL * 1000)
/* Workers listed by the page, /api/stats/workers and the state stream: the most recently seen. */
#define WORKERS_VIEW_LIST_MAX		256
/* Workers named in /metrics: the most recently seen; the rest are summed under "(other)". */
#define WORKERS_VIEW_METRICS_MAX	64
/* Model ids listed per worker (models_count says how many it registered). */
#define WORKERS_VIEW_MODELS_MAX		32
/* Bytes kept of a worker's name, version, protocols and key name (cut at a character). */
#define WORKERS_VIEW_TEXT_MAX		128
/* State streams one process serves at once (503 beyond: each holds a thread). */
#define WORKERS_VIEW_STREAMS_MAX	4
/*
 * How often a state stream reads the tables, its keepalive and lifetime, in
 * ms. The web server learns that a client left only when a write to it
 * fails, so the keepalive also bounds how long a left stream holds its slot.
 */
#define WORKERS_VIEW_POLL_MS		1000
#define WORKERS_VIEW_KEEPALIVE_MS	(5LL * 1000)
#define WORKERS_VIEW_STREAM_MS		(300LL * 1000)
/* The reconnection delay a state stream asks of the browser, in ms. */
#define WORKERS_VIEW_RETRY_MS		3000
/* The label value of the workers /metrics does not name. */
#define WORKERS_VIEW_OTHER		"(other)"

/* What a worker is doing, by workers_view_state(). */
enum workers_view_state {
	WORKERS_VIEW_IDLE,	/* "idle": connected (live), nothing in flight */
	WORKERS_VIEW_BUSY,	/* "busy": connected, jobs in flight */
	WORKERS_VIEW_GONE,	/* "gone": said bye, found silent, or silent past the threshold */
	WORKERS_VIEW__MAX
};

/* Job counters of a worker row (or of several, summed). */
enum workers_view_count {
	WORKERS_VIEW_DONE,		/* jobs_done */
	WORKERS_VIEW_FAILED,		/* jobs_failed */
	WORKERS_VIEW_CANCELLED,		/* jobs_cancelled */
	WORKERS_VIEW_COUNT__MAX
};

/* One worker as its row says, with its open jobs. Plain data. */
struct workers_view_row {
	int64_t		 id;			/* workers.id */
	char		 name[WORKERS_VIEW_TEXT_MAX + 1];	/* its hello name */
	char		 key[WORKERS_VIEW_TEXT_MAX + 1];	/* its key's name (never the key) */
	char		 version[WORKERS_VIEW_TEXT_MAX + 1];	/* the version it reported */
	char		 protocols[WORKERS_VIEW_TEXT_MAX + 1];	/* comma-separated families */
	char		 gone_reason[16];	/* "bye", "silent", "" while live */
	enum workers_view_state state;		/* workers_view_state() of the row */
	int64_t		 capacity;		/* jobs it runs at once */
	int64_t		 in_flight;		/* its jobs not ended (queued included) */
	int64_t		 queued;		/* of which not yet taken by its poll */
	int64_t		 models;		/* models it registered */
	int64_t		 jobs[WORKERS_VIEW_COUNT__MAX];	/* by enum workers_view_count */
	int64_t		 job_ms_sum;		/* durations of its jobs_done */
	int64_t		 first_seen_at;		/* its first hello (ms) */
	int64_t		 hello_at;		/* its latest hello */
	int64_t		 last_seen_at;		/* its latest call */
	int64_t		 gone_at;		/* 0 = not marked gone */
	int64_t		 backoff_until;		/* 0 = not backed off */
	int64_t		 consecutive_failures;	/* failed jobs since its last success */
};

/* The workers at one instant: the most recently seen listed, every one counted. */
struct workers_view_set {
	int64_t		 now;			/* the instant (ms) */
	int64_t		 gone_after_ms;		/* the threshold used */
	struct workers_view_row *rows;		/* listed, most recently seen first (malloc'd) */
	int		 n;			/* rows listed */
	int64_t		 total;			/* workers in the table */
	int64_t		 by_state[WORKERS_VIEW__MAX];	/* all of them, by state */
	/* Sums over the workers not listed (/metrics names them "(other)"). */
	int64_t		 other_n;		/* how many */
	int64_t		 other_live;		/* of which live */
	int64_t		 other_capacity;	/* capacity of the live ones */
	int64_t		 other_in_flight;	/* open jobs */
	int64_t		 other_jobs[WORKERS_VIEW_COUNT__MAX];	/* job counters */
};

/* Prepared statements on one connection; owned by one thread. */
struct workers_view;

/*
 * The state rule, the one place it is written: a worker is gone when its
 * row was marked gone (gone_at set: it said bye or the gateway found it
 * silent) or when its last sign of life is gone_after_ms old or older at
 * now (the gateway marks it by its next sweep); a live worker is busy with
 * jobs in flight, else idle. Thread-safe.
 */
enum workers_view_state workers_view_state(int gone_marked, int64_t last_seen_at,
		    int64_t in_flight, int64_t now, int64_t gone_after_ms);

/* Returns "idle", "busy" or "gone"; "" out of range. */
const char	*workers_view_state_name(enum workers_view_state s);

/*
 * The gone threshold in force, in ms: [workers] gone_after_s, the one the
 * gateway's sweep and routing use; WORKERS_VIEW_GONE_AFTER_MS (its
 * default) when cfg is NULL. Thread-safe.
 */
int64_t		 workers_view_gone_ms(const struct config *cfg);

/*
 * Prepares the statements on db (migrated to schema 0011 at least).
 * Returns NULL with *err set (QP_ENOMEM, QP_EDB, QP_ESCHEMA) and a reason
 * in errbuf. Free with workers_view_free() before db closes or goes back
 * to the pool. Not thread-safe: one object per thread.
 */
struct workers_view *workers_view_new(sqlite3 *db, enum qp_err *err, char *errbuf,
		    size_t errlen);

/* Frees a workers_view. NULL is allowed. */
void		 workers_view_free(struct workers_view *v);

/*
 * Reads every worker at now: the max most recently seen (last_seen_at,
 * then id, descending) into out->rows, each counted in out->by_state, the
 * others summed in out->other_*. One read transaction, so the set is one
 * instant of the tables. Returns QP_OK, QP_ENOMEM or QP_EDB; out must be
 * released with workers_view_set_free() either way. Not thread-safe.
 */
enum qp_err	 workers_view_load(struct workers_view *v, int64_t now, int64_t gone_after_ms,
		    int max, struct workers_view_set *out);

/* Frees what workers_view_load() put in s and clears it. Safe to call twice. */
void		 workers_view_set_free(struct workers_view_set *s);

/*
 * The JSON of set s (fields in docs/api.md, "/api/stats/workers"): totals
 * by state and one object per listed worker with its models (at most
 * WORKERS_VIEW_MODELS_MAX ids, read through v). With stream set, the
 * members that change with the clock alone or with every heartbeat (now,
 * last_seen_at, hello_at, ages) are left out, so that two answers are
 * equal exactly when the pool's state is. Returns a new object (the
 * caller frees it), or NULL with *err set. Not thread-safe.
 */
cJSON		*workers_view_json(struct workers_view *v, const struct workers_view_set *s,
		    int stream, enum qp_err *err);

/*
 * The dataset "workers" (/api/stats/workers and the Workers page): the
 * workers listed now, whatever the period. Returns a new object or NULL
 * with *err set. Not thread-safe (s belongs to one thread).
 */
cJSON		*workers_view_dataset(struct stats_db *s, const struct config *cfg,
		    const struct stats_query *q, enum qp_err *err);

/*
 * Appends the per-worker /metrics families (metrics_render_workers()) for
 * the WORKERS_VIEW_METRICS_MAX most recently seen workers of db to the
 * exposition in buf (*len bytes there, cap in all; *len grows). Returns
 * QP_OK, QP_ETOOBIG (do not send buf then), QP_ENOMEM or QP_EDB. Not
 * thread-safe (db belongs to the calling thread).
 */
enum qp_err	 workers_view_metrics(sqlite3 *db, const struct config *cfg, char *buf,
		    size_t cap, size_t *len);

/*
 * GET /api/v1/state/stream (route access: admin): text/event-stream of
 * "state" events, each the stream JSON of the workers (listed by id); one at once, then
 * one whenever it changes (read every WORKERS_VIEW_POLL_MS, the pooled
 * connection given back between reads), a keepalive comment after
 * WORKERS_VIEW_KEEPALIVE_MS of silence, the end after
 * WORKERS_VIEW_STREAM_MS or when the process stops (the browser
 * reconnects). 404 when the dashboard is disabled, 503 beyond
 * WORKERS_VIEW_STREAMS_MAX streams in this process. Worker thread only.
 */
void		 workers_view_stream(struct worker *w, struct http_req *r);

/* State streams being served by this process now. Thread-safe. */
int		 workers_view_streams(void);

#endif /* QP_WORKERS_VIEW_H */
