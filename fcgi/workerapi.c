/* workerapi.c: the remote workers' endpoints, /worker/v1/... (docs/workers.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "handoff.h"
#include "log.h"
#include "workerapi.h"
#include "workerproto.h"
#include "workers.h"

/* Jobs of a worker that says bye whose owners are told at once; the others time out. */
#define WORKERAPI_BYE_TELL_MAX	256

/* The database work of one call, on the writer (server_batch()). */
struct workerapi_job {
	const struct config	*cfg;
	int64_t			 key_id;	/* the caller's key */
	const char		*name;		/* its name=, NULL = the key's last hello */
	int64_t			 now;
	int64_t			 gone_ms;
	const struct workerproto_hello *hello;	/* hello: the body */
	struct workers_row	 row;		/* the caller's worker, as found */
	int			 capacity;	/* jobs: its capacity */
	char			*body;		/* jobs: the job claimed, owned */
	const char		*job_id;	/* result: the job */
	struct workers_job	 job;		/* result: its row */
	int			 ntell;		/* bye: owners to tell */
	char			 tell_id[WORKERAPI_BYE_TELL_MAX][WORKERPROTO_JOB_ID_LEN + 1];
	char			 tell_path[WORKERAPI_BYE_TELL_MAX][128];
};

/* Answers 404 or 503 and returns 0 unless remote workers are served here. */
static int
workerapi_enabled(struct worker *w, struct http_req *r)
{

	if (!w->cfg->workers.enabled) {
		http_error(r, 404, "invalid_request_error", "remote workers are not enabled on "
		    "this gateway ([workers] enabled)");
		return 0;
	}
	if (w->srv->handoff == NULL) {
		http_error(r, 503, "server_error", "remote workers are not served by this "
		    "process: enabled after it started (restart it), or its hand-off socket "
		    "could not be made (see its log)");
		return 0;
	}
	return 1;
}

static void
workerapi_job_init(struct workerapi_job *j, struct worker *w, struct http_req *r)
{

	memset(j, 0, sizeof(*j));
	j->cfg = w->cfg;
	j->key_id = r->key_id;
	j->now = db_now_ms();
	j->gone_ms = (int64_t)w->cfg->workers.gone_after_s * 1000;
}

/* Answers 204. */
static void
workerapi_no_content(struct http_req *r)
{

	http_begin(r, 204, "text/plain", NULL);
}

/* Answers a database failure. */
static void
workerapi_db_error(struct http_req *r, enum qp_err err)
{

	http_error(r, err == QP_ENOMEM ? 503 : 503, "server_error",
	    "the gateway's database is unavailable");
}

static enum qp_err
workerapi_run_hello(const struct server_db *d, void *arg)
{
	struct workerapi_job *j = arg;

	return workers_hello(d->workers, j->key_id, j->hello, j->cfg->workers.provider, j->now,
	    j->gone_ms, &j->row.id);
}

void
workerapi_hello(struct worker *w, struct http_req *r)
{
	struct workerproto_hello h;
	struct workerapi_job j;
	cJSON *o = NULL;
	char *body = NULL;
	size_t len;
	enum qp_err err;

	memset(&h, 0, sizeof(h));
	if (!workerapi_enabled(w, r))
		return;
	if ((err = http_read_body(r, QP_WORKER_HELLO_MAX, &body, &len)) != QP_OK) {
		if (err == QP_ETOOBIG)
			http_error(r, 413, "invalid_request_error", "the hello body is larger than "
			    "256 KiB");
		else if (err != QP_ECLOSED)
			http_error(r, 503, "server_error", "out of memory");
		goto out;
	}
	if ((err = workerproto_hello_parse(body, len, &h)) != QP_OK) {
		if (err == QP_EINVAL)
			http_error(r, 400, "invalid_request_error", h.why);
		else
			http_error(r, err == QP_ETOOBIG ? 413 : 503, err == QP_ETOOBIG ?
			    "invalid_request_error" : "server_error", err == QP_ETOOBIG ?
			    "the hello body is larger than 256 KiB" : "out of memory");
		goto out;
	}
	workerapi_job_init(&j, w, r);
	j.hello = &h;
	if ((err = server_batch(w->srv, workerapi_run_hello, &j)) != QP_OK) {
		log_msg(LOG_ERROR, "worker %s: cannot register: %s", h.name, qp_strerror(err));
		workerapi_db_error(r, err);
		goto out;
	}
	/* Its models are in the catalog for every process once this returns. */
	server_batch_flush(w->srv);
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "worker", h.name) == NULL ||
	    cJSON_AddNumberToObject(o, "heartbeat_s", w->cfg->workers.heartbeat_s) == NULL ||
	    cJSON_AddNumberToObject(o, "gone_after_s", w->cfg->workers.gone_after_s) == NULL) {
		http_error(r, 503, "server_error", "out of memory");
		goto out;
	}
	http_reply_json(r, 200, o);
out:
	cJSON_Delete(o);
	workerproto_hello_free(&h);
	free(body);
}

/* Reads the query; answers 400 and returns -1 when it is malformed. */
static int
workerapi_query(struct http_req *r, struct workerproto_query *q)
{

	if (workerproto_query_parse(r->query != NULL ? r->query : "", q) != QP_OK) {
		http_error(r, 400, "invalid_request_error", q->why);
		return -1;
	}
	return 0;
}

/* workers_bye()'s callback: notes an owner to tell. */
static void
workerapi_bye_note(const char *path, const char *id, void *arg)
{
	struct workerapi_job *j = arg;

	if (j->ntell >= WORKERAPI_BYE_TELL_MAX || strlen(path) >= sizeof(j->tell_path[0]))
		return;
	snprintf(j->tell_id[j->ntell], sizeof(j->tell_id[0]), "%s", id);
	snprintf(j->tell_path[j->ntell], sizeof(j->tell_path[0]), "%s", path);
	j->ntell++;
}

static enum qp_err
workerapi_run_bye(const struct server_db *d, void *arg)
{
	struct workerapi_job *j = arg;
	enum qp_err err;

	if ((err = workers_find(d->workers, j->key_id, j->name, j->now, j->gone_ms,
	    &j->row)) != QP_OK)
		return err;
	return workers_bye(d->workers, j->row.id, j->cfg->workers.provider, j->now, j->gone_ms,
	    workerapi_bye_note, j);
}

void
workerapi_bye(struct worker *w, struct http_req *r)
{
	struct workerproto_query q;
	struct workerapi_job *j = NULL;
	enum qp_err err;
	int i;

	if (!workerapi_enabled(w, r) || workerapi_query(r, &q) != 0)
		return;
	if ((j = malloc(sizeof(*j))) == NULL) {
		http_error(r, 503, "server_error", "out of memory");
		return;
	}
	workerapi_job_init(j, w, r);
	j->name = q.has_name ? q.name : NULL;
	err = server_batch(w->srv, workerapi_run_bye, j);
	if (err == QP_ENOTFOUND)
		http_error(r, 409, "invalid_request_error", "this worker has not said hello");
	else if (err != QP_OK)
		workerapi_db_error(r, err);
	else {
		server_batch_flush(w->srv);
		/* Their clients' requests go to another worker or account now. */
		for (i = 0; i < j->ntell; i++)
			(void)handoff_send_fail(j->tell_path[i], j->tell_id[i]);
		log_msg(LOG_INFO, "worker %s said bye", j->row.name);
		workerapi_no_content(r);
	}
	free(j);
}

static enum qp_err
workerapi_run_claim(const struct server_db *d, void *arg)
{
	struct workerapi_job *j = arg;
	enum qp_err err;

	j->now = db_now_ms();
	if ((err = workers_find(d->workers, j->key_id, j->name, j->now, j->gone_ms,
	    &j->row)) != QP_OK)
		return err;
	if (!j->row.live)
		return QP_ENOTFOUND;
	return workers_job_claim(d->workers, j->row.id, j->row.capacity, j->now, &j->body);
}

void
workerapi_jobs(struct worker *w, struct http_req *r)
{
	struct workerproto_query q;
	struct workerapi_job j;
	uint64_t gen = 0;
	int64_t deadline, slice;
	enum qp_err err;
	int have_gen = 0, rc;

	if (!workerapi_enabled(w, r) || workerapi_query(r, &q) != 0)
		return;
	workerapi_job_init(&j, w, r);
	j.name = q.has_name ? q.name : NULL;
	deadline = db_mono_us() / 1000 + (int64_t)(q.wait > 0 ? q.wait :
	    QP_WORKER_WAIT_DEFAULT_S) * 1000;
	for (;;) {
		/* The generation is read before looking: a wake-up after the look is not lost. */
		if (have_gen)
			gen = handoff_worker_gen(w->srv->handoff, j.row.id);
		err = server_batch(w->srv, workerapi_run_claim, &j);
		if (err == QP_ENOTFOUND) {
			http_error(r, 409, "invalid_request_error", "this worker has not said hello "
			    "or is gone: say hello again");
			return;
		}
		if (err != QP_OK) {
			workerapi_db_error(r, err);
			return;
		}
		if (j.body != NULL) {
			log_msg(LOG_INFO, "worker %s took a job", j.row.name);
			http_reply(r, 200, "application/json", j.body, strlen(j.body));
			free(j.body);
			return;
		}
		if (!have_gen) {
			/* The first look found nothing: look once more with the generation held. */
			have_gen = 1;
			continue;
		}
		/* A waiting poll is a sign of life: it looks again (and says so) now and then. */
		slice = db_mono_us() / 1000 + j.gone_ms / 3;
		rc = handoff_wait_worker(w->srv->handoff, j.row.id, &gen, slice < deadline ?
		    slice : deadline);
		if (rc < 0 || http_client_gone(r) || db_mono_us() / 1000 >= deadline)
			break;
	}
	workerapi_no_content(r);
}

static enum qp_err
workerapi_run_result(const struct server_db *d, void *arg)
{
	struct workerapi_job *j = arg;
	enum qp_err err;

	if ((err = workers_job_get(d->workers, j->job_id, &j->job)) != QP_OK)
		return err;
	/* A sign of life of the caller; its row says whether the job is its own. */
	err = workers_find(d->workers, j->key_id, j->name, j->now, j->gone_ms, &j->row);
	return err == QP_ENOTFOUND ? QP_OK : err;
}

/* Takes the job id out of /worker/v1/jobs/{id}/result; NULL if the path is not that. */
static const char *
workerapi_result_id(const char *path, char id[WORKERPROTO_JOB_ID_LEN + 1])
{
	static const char prefix[] = "/worker/v1/jobs/";
	const char *p = path + sizeof(prefix) - 1;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0 ||
	    strlen(p) != WORKERPROTO_JOB_ID_LEN + 7 || strcmp(p + WORKERPROTO_JOB_ID_LEN,
	    "/result") != 0 || !workerproto_job_id_valid(p, WORKERPROTO_JOB_ID_LEN))
		return NULL;
	memcpy(id, p, WORKERPROTO_JOB_ID_LEN);
	id[WORKERPROTO_JOB_ID_LEN] = '\0';
	return id;
}

void
workerapi_result(struct worker *w, struct http_req *r)
{
	struct workerproto_query q;
	struct workerapi_job j;
	enum handoff_reply rep;
	char id[WORKERPROTO_JOB_ID_LEN + 1], *body = NULL;
	size_t len = 0;
	int timeout_ms;
	enum qp_err err;

	if (workerapi_result_id(r->path, id) == NULL) {
		http_error(r, 404, "invalid_request_error", "no such endpoint");
		return;
	}
	if (!workerapi_enabled(w, r) || workerapi_query(r, &q) != 0)
		return;
	if (q.seq < 0) {
		http_error(r, 400, "invalid_request_error", "seq is missing");
		return;
	}
	if ((err = http_read_body(r, QP_WORKER_POST_MAX, &body, &len)) != QP_OK) {
		if (err == QP_ETOOBIG)
			http_error(r, 413, "invalid_request_error", "a result POST carries at most "
			    "4 MiB: send the answer in more POSTs");
		else if (err != QP_ECLOSED)
			http_error(r, 503, "server_error", "out of memory");
		return;
	}
	workerapi_job_init(&j, w, r);
	j.name = q.has_name ? q.name : NULL;
	j.job_id = id;
	err = server_batch(w->srv, workerapi_run_result, &j);
	if (err == QP_ENOTFOUND) {
		http_error(r, 404, "invalid_request_error", "no such job");
		goto out;
	}
	if (err != QP_OK) {
		workerapi_db_error(r, err);
		goto out;
	}
	if (j.job.key_id != r->key_id || (j.name != NULL && j.row.id != j.job.worker_id)) {
		http_error(r, 409, "invalid_request_error", "this job is another worker's");
		goto out;
	}
	if (j.job.ended) {
		http_error(r, 410, "invalid_request_error", "this job is no longer wanted: abort "
		    "it");
		goto out;
	}
	/* The answer waits for the bytes to reach the client: that is the backpressure. */
	timeout_ms = w->cfg->upstream.idle_timeout_ms > 0 ? w->cfg->upstream.idle_timeout_ms :
	    300000;
	if (q.seq == 0)
		log_msg(LOG_INFO, "worker job %s: its answer starts, passed on to %s", id,
		    j.job.socket_path);
	rep = handoff_send_result(j.job.socket_path, id, (uint32_t)q.seq, q.end, body, len,
	    timeout_ms);
	switch (rep) {
	case HANDOFF_REPLY_OK:
		workerapi_no_content(r);
		break;
	case HANDOFF_REPLY_SEQ:
		http_error(r, 409, "invalid_request_error", "seq is not the next one expected");
		break;
	case HANDOFF_REPLY_HEAD:
		http_error(r, 400, "invalid_request_error", "malformed head: the body of seq=0 "
		    "starts with one line of JSON, at most 16 KiB, with a status from 100 to 599");
		break;
	case HANDOFF_REPLY_BUSY:
		http_error(r, 409, "invalid_request_error", "another POST of this job is being "
		    "passed on: send them one after the other");
		break;
	default:
		http_error(r, 410, "invalid_request_error", "this job is no longer wanted: abort "
		    "it");
		break;
	}
out:
	free(body);
}
