/* workers.h: the remote workers' rows: registrations, their models in the catalog, their jobs. */
#ifndef QP_WORKERS_H
#define QP_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "select.h"
#include "workerproto.h"

/* Prepared statements of one connection; owned by one thread at a time. */
struct workers_db;

/* A worker as a call of its finds it. */
struct workers_row {
	int64_t		 id;			/* workers.id */
	int		 capacity;		/* jobs at once */
	int		 live;			/* 1 unless gone (bye, or silent too long) */
	char		 name[QP_WORKER_NAME_MAX + 1];
};

/* A job as a result POST finds it. */
struct workers_job {
	int64_t		 worker_id;		/* the worker it is for */
	int64_t		 key_id;		/* that worker's key */
	int		 ended;			/* 1 once done, failed or cancelled */
	char		 socket_path[4096];	/* the owning process's hand-off socket */
};

/* How a job ended. */
enum workers_end {
	WORKERS_END_DONE,	/* the answer went to the client to its end */
	WORKERS_END_FAILED,	/* the worker failed it (error head, silence, gone) */
	WORKERS_END_CANCELLED,	/* the client went away */
	WORKERS_END__MAX
};

/*
 * Prepares the statements on db (which must be migrated). NULL with *err
 * set and a reason in errbuf. Free with workers_db_free() before closing db.
 */
struct workers_db *workers_db_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen);

/* Frees the statements. NULL is allowed. */
void		 workers_db_free(struct workers_db *d);

/*
 * Marks gone every worker silent for gone_ms at now and takes the models
 * no live worker serves any more out of provider's catalog rows. Inside
 * the caller's write transaction.
 */
enum qp_err	 workers_sweep(struct workers_db *d, const char *provider, int64_t now,
		    int64_t gone_ms);

/*
 * Registers (or renews) the worker key_id + h->name: the row is made live,
 * its models replaced by h's, and provider's catalog rows made those of
 * every live worker (source 'worker'). Sets *worker_id. Inside the
 * caller's write transaction.
 */
enum qp_err	 workers_hello(struct workers_db *d, int64_t key_id,
		    const struct workerproto_hello *h, const char *provider, int64_t now,
		    int64_t gone_ms, int64_t *worker_id);

/*
 * Finds the worker of key_id called name (NULL = the one that said hello
 * last), live or not. QP_ENOTFOUND if none. Also a sign of life: a live
 * one's last_seen_at becomes now.
 */
enum qp_err	 workers_find(struct workers_db *d, int64_t key_id, const char *name,
		    int64_t now, int64_t gone_ms, struct workers_row *w);

/*
 * The worker says bye: it is gone from now on; its jobs not yet claimed
 * end as failed, and cb(socket_path, job_id, arg) is called for each so
 * that its owner fails over at once. Then the catalog is swept.
 */
enum qp_err	 workers_bye(struct workers_db *d, int64_t worker_id, const char *provider,
		    int64_t now, int64_t gone_ms,
		    void (*cb)(const char *path, const char *id, void *arg), void *arg);

/*
 * Picks the worker for an attempt at model: live, serving it, not backed
 * off, not named in tried; the least busy (attempts in flight, its
 * reservations, against capacity), then the least recently given a job. Fills *w (and notes the pick as
 * its last job), or QP_ENOTFOUND.
 */
enum qp_err	 workers_pick(struct workers_db *d, const char *model, const char *const *tried,
		    int ntried, int64_t now, int64_t gone_ms, struct workers_row *w);

/* Queues job id (body: its job JSON) for worker_id, owned by this process's socket. */
enum qp_err	 workers_job_queue(struct workers_db *d, const char *id, int64_t worker_id,
		    int64_t request_id, int attempt, int64_t process_id, const char *socket_path,
		    const char *model, const char *body, int64_t now);

/*
 * Gives worker_id its oldest queued job if it has fewer than capacity
 * claimed: *body gets the job JSON (malloc'd, the caller frees), or NULL
 * when there is none to give.
 */
enum qp_err	 workers_job_claim(struct workers_db *d, int64_t worker_id, int capacity,
		    int64_t now, char **body);

/* Finds job id for a result POST. QP_ENOTFOUND if unknown. */
enum qp_err	 workers_job_get(struct workers_db *d, const char *id, struct workers_job *j);

/* Notes the job's head arrived (it streams from now on). */
enum qp_err	 workers_job_first(struct workers_db *d, const char *id, int64_t now);

/*
 * Ends job id as how says (error_class: a short cause, may be NULL) and
 * counts it on its worker: a failure backs the worker off for
 * backoff_base_s doubled per consecutive failure, at most backoff_max_s;
 * a success clears that. ms: the job's duration.
 */
enum qp_err	 workers_job_end(struct workers_db *d, const char *id, int64_t worker_id,
		    enum workers_end how, const char *error_class, int64_t now, int64_t ms,
		    const struct config_routing *routing);

/*
 * Reads whether worker_id is live at now (not gone, seen within gone_ms).
 * *live = 0 when it is not or no longer exists.
 */
enum qp_err	 workers_live(struct workers_db *d, int64_t worker_id, int64_t now,
		    int64_t gone_ms, int *live);

#endif /* QP_WORKERS_H */
