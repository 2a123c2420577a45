/* workerjob.c: an attempt on a remote worker, run as the upstream transport runs one. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "handoff.h"
#include "log.h"
#include "workerjob.h"
#include "workerproto.h"
#include "workers.h"

/* How often a job waiting for its head checks that its worker is still live (ms). */
#define WORKERJOB_LIVE_CHECK_MS	1000
/* A delivery's payload is read with at most this silence between pieces (ms). */
#define WORKERJOB_READ_MS	30000

/* The routing account of one worker: attempts on it are named after it. */
struct workerjob_name {
	struct config_account	 acct;		/* first: what the request's attempt names */
	int64_t			 worker_id;	/* workers.id */
	char			 name[QP_WORKER_NAME_MAX + 1];
};

/* Every worker this process routed to; never freed (bounded by QP_WORKER_NAMES_MAX). */
static pthread_mutex_t		 workerjob_mu = PTHREAD_MUTEX_INITIALIZER;
static struct workerjob_name	*workerjob_names[QP_WORKER_NAMES_MAX];
static int			 workerjob_nnames;

/* Returns the routing account of worker id called name, made at first use; NULL if none. */
static const struct config_account *
workerjob_account(int64_t id, const char *name)
{
	struct workerjob_name *n = NULL;
	int i;

	pthread_mutex_lock(&workerjob_mu);
	for (i = 0; i < workerjob_nnames; i++)
		if (workerjob_names[i]->worker_id == id &&
		    strcmp(workerjob_names[i]->name, name) == 0) {
			n = workerjob_names[i];
			goto out;
		}
	if (workerjob_nnames >= QP_WORKER_NAMES_MAX || (n = calloc(1, sizeof(*n))) == NULL)
		goto out;
	n->worker_id = id;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->acct.name = n->name;
	n->acct.weight = 1.0;
	n->acct.enabled = 1;
	workerjob_names[workerjob_nnames++] = n;
out:
	pthread_mutex_unlock(&workerjob_mu);
	return n != NULL ? &n->acct : NULL;
}

enum qp_err
workerjob_choose(const struct server_db *d, const struct config *cfg,
    const struct select_query *q, struct select_result *sel)
{
	const char *tried[128];
	const struct config_account *acct;
	struct select_query q2;
	struct workers_row row;
	int64_t gone_ms = (int64_t)cfg->workers.gone_after_s * 1000;
	enum qp_err err;
	int n;

	if (sel->status != SELECT_OK || sel->provider == NULL || !sel->provider->workers)
		return QP_OK;
	if ((err = workers_sweep(d->workers, sel->provider->id, q->now, gone_ms)) != QP_OK)
		return err;
	err = workers_pick(d->workers, q->model, q->tried, q->ntried, q->now, gone_ms, &row);
	if (err == QP_OK && (acct = workerjob_account(row.id, row.name)) != NULL) {
		sel->account = acct;
		return QP_OK;
	}
	if (err != QP_OK && err != QP_ENOTFOUND)
		return err;
	/* No worker can take it: the providers' accounts may. */
	n = q->ntried < (int)(sizeof(tried) / sizeof(tried[0])) - 1 ? q->ntried :
	    (int)(sizeof(tried) / sizeof(tried[0])) - 1;
	if (n > 0)
		memcpy(tried, q->tried, (size_t)n * sizeof(tried[0]));
	tried[n++] = sel->account->name;
	q2 = *q;
	q2.tried = tried;
	q2.ntried = n;
	if ((err = select_choose(d->sel, &q2, sel)) != QP_OK)
		return err;
	/* Only one provider is the workers': another choice of it is not possible. */
	return QP_OK;
}

/* The database work of one step of a job, on the writer (server_batch()). */
struct workerjob_db {
	const struct config	*cfg;
	const char		*id;
	int64_t			 worker_id;
	const struct workerjob_spec *spec;
	int64_t			 process_id;
	const char		*socket_path;
	const char		*body;		/* the job JSON */
	enum workers_end	 how;		/* end: how */
	const char		*error_class;	/* end: why */
	int64_t			 ms;		/* end: the job's duration */
	int			 live;		/* live: the answer */
};

static enum qp_err
workerjob_run_queue(const struct server_db *d, void *arg)
{
	struct workerjob_db *j = arg;

	return workers_job_queue(d->workers, j->id, j->worker_id, j->spec->request_id,
	    j->spec->attempt, j->process_id, j->socket_path, j->spec->model, j->body,
	    db_now_ms());
}

static enum qp_err
workerjob_run_first(const struct server_db *d, void *arg)
{
	struct workerjob_db *j = arg;

	return workers_job_first(d->workers, j->id, db_now_ms());
}

static enum qp_err
workerjob_run_end(const struct server_db *d, void *arg)
{
	struct workerjob_db *j = arg;

	return workers_job_end(d->workers, j->id, j->worker_id, j->how, j->error_class,
	    db_now_ms(), j->ms, &j->cfg->routing);
}

static enum qp_err
workerjob_run_live(const struct server_db *d, void *arg)
{
	struct workerjob_db *j = arg;

	return workers_live(d->workers, j->worker_id, db_now_ms(),
	    (int64_t)j->cfg->workers.gone_after_s * 1000, &j->live);
}

/* One job's transfer state. */
struct workerjob {
	struct worker		*w;
	const struct config_account *acct;	/* the worker's routing account */
	const struct upstream_req *ureq;
	struct upstream_res	*res;
	struct handoff_job	*hj;
	struct workerjob_db	 db;
	char			 id[WORKERPROTO_JOB_ID_LEN + 1];
	int64_t			 t0;		/* monotonic ms of the start */
	uint32_t		 seq;		/* next seq expected */
	int			 got_head;	/* 1 once the head came */
	int			 ended;		/* 1 once end=1 came */
	char			*buf;		/* QP_HANDOFF_CHUNK bytes */
	struct workerproto_head head;
};

static int64_t
workerjob_mono_ms(void)
{

	return db_mono_us() / 1000;
}

/* Ends the transfer with result r (and a detail for the log). */
static void
workerjob_fail(struct workerjob *j, enum upstream_result r, const char *detail)
{

	j->res->result = r;
	snprintf(j->res->detail, sizeof(j->res->detail), "%s", detail);
}

/* Passes n answer bytes to on_data; 0, or -1 when it stops the transfer. */
static int
workerjob_data(struct workerjob *j, const char *p, size_t n)
{

	if (n == 0)
		return 0;
	j->res->timing.bytes_received += (int64_t)n;
	if (j->ureq->cb.on_data != NULL && j->ureq->cb.on_data(p, n, j->ureq->cb.arg) != 0) {
		workerjob_fail(j, UPSTREAM_ABORTED_BY_CALLER, "stopped by the gateway");
		return -1;
	}
	return 0;
}

/* Reads a head from the first bytes of d and hands it on; 0, or -1 (the delivery is answered). */
static int
workerjob_head(struct workerjob *j, struct handoff_delivery *d, size_t *left)
{
	struct upstream_head uh;
	size_t first = *left < QP_WORKER_HEAD_MAX + 1 ? *left : QP_WORKER_HEAD_MAX + 1, used;

	if (handoff_read(d->fd, j->buf, first, WORKERJOB_READ_MS) != 0) {
		handoff_reply(d->fd, HANDOFF_REPLY_GONE);
		workerjob_fail(j, UPSTREAM_RECV_FAILED, "the worker's result broke off");
		return -1;
	}
	*left -= first;
	if (workerproto_head_parse(j->buf, first, &j->head, &used) != QP_OK) {
		(void)handoff_discard(d->fd, *left, WORKERJOB_READ_MS);
		handoff_reply(d->fd, HANDOFF_REPLY_HEAD);
		workerjob_fail(j, UPSTREAM_RECV_FAILED, j->head.why);
		return -1;
	}
	j->got_head = 1;
	j->res->timing.first_byte_ms = workerjob_mono_ms() - j->t0;
	if (server_batch(j->w->srv, workerjob_run_first, &j->db) != QP_OK)
		log_msg(LOG_WARNING, "worker job %s: cannot note its head", j->id);
	memset(&uh, 0, sizeof(uh));
	uh.status = j->head.status;
	snprintf(uh.content_type, sizeof(uh.content_type), "%s", j->head.ctype);
	uh.raw = j->head.raw;
	uh.raw_len = j->head.raw_len;
	j->res->head = uh;
	if (j->head.status >= 500 && j->head.error[0] != '\0')
		log_msg(LOG_WARNING, "worker job %s: the worker says %d: %s", j->id,
		    j->head.status, j->head.error);
	if (j->ureq->cb.on_status != NULL && j->ureq->cb.on_status(&uh, j->ureq->cb.arg) != 0) {
		handoff_reply(d->fd, HANDOFF_REPLY_GONE);
		workerjob_fail(j, UPSTREAM_ABORTED_BY_CALLER, "stopped by the gateway");
		return -1;
	}
	if (workerjob_data(j, j->buf + used, first - used) != 0) {
		handoff_reply(d->fd, HANDOFF_REPLY_GONE);
		return -1;
	}
	return 0;
}

/* Relays one result POST; 0 to go on, 1 once the answer ended, -1 once the transfer stops. */
static int
workerjob_deliver(struct workerjob *j, struct handoff_delivery *d)
{
	size_t left = d->len, n;

	if (d->seq != j->seq) {
		(void)handoff_discard(d->fd, d->len, WORKERJOB_READ_MS);
		handoff_reply(d->fd, HANDOFF_REPLY_SEQ);
		return 0;
	}
	j->seq++;
	if (!j->got_head && workerjob_head(j, d, &left) != 0)
		return -1;
	while (left > 0) {
		n = left < QP_HANDOFF_CHUNK ? left : QP_HANDOFF_CHUNK;
		if (handoff_read(d->fd, j->buf, n, WORKERJOB_READ_MS) != 0) {
			handoff_reply(d->fd, HANDOFF_REPLY_GONE);
			workerjob_fail(j, UPSTREAM_RECV_FAILED, "the worker's result broke off");
			return -1;
		}
		left -= n;
		if (workerjob_data(j, j->buf, n) != 0) {
			handoff_reply(d->fd, HANDOFF_REPLY_GONE);
			return -1;
		}
	}
	/* Written to the client (on_data flushed it): the worker may send the next. */
	handoff_reply(d->fd, HANDOFF_REPLY_OK);
	if (!d->end)
		return 0;
	j->ended = 1;
	j->res->result = UPSTREAM_OK;
	return 1;
}

/* Queues the job and wakes its worker; QP_OK or the failure (nothing was queued). */
static enum qp_err
workerjob_queue(struct workerjob *j, const struct workerjob_spec *spec)
{
	struct workerproto_job pj;
	unsigned char rnd[WORKERPROTO_JOB_ID_LEN / 2];
	char *json = NULL;
	size_t len;
	enum qp_err err;

	if ((err = crypto_random(rnd, sizeof(rnd))) != QP_OK)
		return err;
	crypto_hex(rnd, sizeof(rnd), j->id);
	memset(&pj, 0, sizeof(pj));
	memcpy(pj.id, j->id, sizeof(pj.id));
	pj.model = spec->model;
	pj.method = "POST";
	pj.path = j->ureq->path != NULL ? j->ureq->path : "/chat/completions";
	pj.stream = spec->stream;
	pj.content_type = "application/json";
	pj.accept = spec->stream ? "text/event-stream" : "application/json";
	pj.body = j->ureq->body != NULL ? j->ureq->body : "";
	pj.body_len = j->ureq->body != NULL ? j->ureq->body_len : 0;
	if ((err = workerproto_job_json(&pj, &json, &len)) != QP_OK)
		return err;
	if ((j->hj = handoff_job_open(j->w->srv->handoff, j->id, &err)) == NULL)
		goto out;
	j->db.body = json;
	err = server_batch(j->w->srv, workerjob_run_queue, &j->db);
	j->db.body = NULL;
	if (err != QP_OK)
		goto out;
	/* The row is seen by every process before any of them is told to look. */
	server_batch_flush(j->w->srv);
	log_msg(LOG_INFO, "worker job %s: queued for worker %s here, %s", j->id,
	    ((const struct workerjob_name *)(const void *)j->acct)->name, j->db.socket_path);
	handoff_wake_all(j->w->srv->handoff, j->db.worker_id);
	j->res->timing.bytes_sent = (int64_t)pj.body_len;
out:
	free(json);
	return err;
}

/* Waits for and relays the job's POSTs until its end or a stop; fills j->res->result. */
static void
workerjob_relay(struct workerjob *j)
{
	const struct upstream_req *u = j->ureq;
	struct handoff_delivery d;
	struct pollfd p;
	int64_t now, last = j->t0, checked = j->t0, wait;
	int got;

	for (;;) {
		p.fd = handoff_job_poll_fd(j->hj);
		p.events = POLLIN;
		p.revents = 0;
		(void)poll(&p, 1, UPSTREAM_TICK_MS);
		if (u->cb.on_tick != NULL && u->cb.on_tick(u->cb.arg) != 0) {
			workerjob_fail(j, UPSTREAM_ABORTED_BY_CALLER, "stopped by the gateway");
			return;
		}
		got = handoff_job_take(j->w->srv->handoff, j->hj, &d);
		if (got == 2) {
			workerjob_fail(j, UPSTREAM_CONNECT_FAILED, "the worker said bye");
			return;
		}
		now = workerjob_mono_ms();
		if (got == 1) {
			last = now;
			if (workerjob_deliver(j, &d) != 0)
				return;
			continue;
		}
		wait = j->got_head ? u->idle_timeout_ms : u->first_byte_timeout_ms;
		if (wait > 0 && now - last >= wait) {
			workerjob_fail(j, j->got_head ? UPSTREAM_IDLE_TIMEOUT :
			    UPSTREAM_FIRST_BYTE_TIMEOUT, j->got_head ? "the worker fell silent" :
			    "the worker sent no answer in time");
			return;
		}
		/* A worker gone before its head came: its job goes elsewhere at once. */
		if (!j->got_head && now - checked >= WORKERJOB_LIVE_CHECK_MS) {
			checked = now;
			if (server_batch(j->w->srv, workerjob_run_live, &j->db) == QP_OK &&
			    !j->db.live) {
				workerjob_fail(j, UPSTREAM_RECV_FAILED, "the worker is gone");
				return;
			}
		}
	}
}

enum qp_err
workerjob_perform(struct worker *w, const struct config_account *acct,
    const struct workerjob_spec *spec, const struct upstream_req *ureq,
    struct upstream_res *res)
{
	const struct workerjob_name *n = (const struct workerjob_name *)(const void *)acct;
	struct workerjob j;
	enum qp_err err;

	memset(res, 0, sizeof(*res));
	res->timing.connect_ms = -1;
	res->timing.first_byte_ms = -1;
	res->head.raw = "";
	memset(&j, 0, sizeof(j));
	j.w = w;
	j.acct = acct;
	j.ureq = ureq;
	j.res = res;
	j.t0 = workerjob_mono_ms();
	j.db.cfg = w->cfg;
	j.db.id = j.id;
	j.db.worker_id = n->worker_id;
	j.db.spec = spec;
	j.db.process_id = server_process_id(w->srv);
	if (w->srv->handoff == NULL) {
		/* [workers] enabled by a reload: no worker can reach this process. */
		workerjob_fail(&j, UPSTREAM_CONNECT_FAILED, "this process serves no remote "
		    "workers (enabled after it started)");
		return QP_OK;
	}
	j.db.socket_path = handoff_path(w->srv->handoff);
	if ((j.buf = malloc(QP_HANDOFF_CHUNK)) == NULL)
		return QP_ENOMEM;
	if ((err = workerjob_queue(&j, spec)) != QP_OK)
		goto out;
	res->timing.connect_ms = 0;
	workerjob_relay(&j);
	res->timing.total_ms = workerjob_mono_ms() - j.t0;
	if (res->result == UPSTREAM_ABORTED_BY_CALLER) {
		j.db.how = WORKERS_END_CANCELLED;
		j.db.error_class = "client_gone";
	} else if (res->result != UPSTREAM_OK || (j.got_head && j.head.status >= 500)) {
		j.db.how = WORKERS_END_FAILED;
		j.db.error_class = res->result != UPSTREAM_OK ?
		    upstream_result_name(res->result) : "error_status";
		log_msg(LOG_WARNING, "worker %s: job %s failed: %s", n->name, j.id,
		    res->result != UPSTREAM_OK ? res->detail : "error status");
	} else
		j.db.how = WORKERS_END_DONE;
	j.db.ms = res->timing.total_ms;
	/* From now on its POSTs are answered 410. */
	handoff_job_close(w->srv->handoff, j.hj);
	j.hj = NULL;
	if (server_batch(w->srv, workerjob_run_end, &j.db) != QP_OK)
		log_msg(LOG_ERROR, "worker job %s: cannot record its end", j.id);
	/* A slot of the worker is free: its polls look for the next job. */
	handoff_wake_all(w->srv->handoff, n->worker_id);
out:
	handoff_job_close(w->srv->handoff, j.hj);
	/* The head's lines lived in j: the caller reads no header of a worker's answer. */
	res->head.raw = "";
	res->head.raw_len = 0;
	free(j.buf);
	return err;
}
