/* workers_view.c: the remote workers as the dashboard, /metrics and the state stream show them. */
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metrics.h"
#include "workers_view.h"

enum workers_view_stmt {
	WORKERS_VIEW_ST_ALL,	/* every worker, most recently seen first, with its open jobs */
	WORKERS_VIEW_ST_MODELS,	/* the model ids of one worker, by id */
	WORKERS_VIEW_ST__MAX
};

/* Columns of WORKERS_VIEW_ST_ALL, in order. */
enum workers_view_col {
	WV_C_ID, WV_C_NAME, WV_C_KEY, WV_C_VERSION, WV_C_PROTOCOLS, WV_C_GONE_REASON,
	WV_C_CAPACITY, WV_C_IN_FLIGHT, WV_C_QUEUED, WV_C_MODELS, WV_C_DONE, WV_C_FAILED,
	WV_C_CANCELLED, WV_C_JOB_MS, WV_C_FIRST_SEEN, WV_C_HELLO, WV_C_LAST_SEEN, WV_C_GONE_AT,
	WV_C_BACKOFF, WV_C_FAILURES, WV_C__MAX
};

static const char *const workers_view_sql[WORKERS_VIEW_ST__MAX] = {
	[WORKERS_VIEW_ST_ALL] = "SELECT w.id, w.name, coalesce(k.name, ''), w.version, "
	    "w.protocols, coalesce(w.gone_reason, ''), w.capacity, "
	    "(SELECT count(*) FROM worker_jobs j WHERE j.worker_id = w.id AND "
	    "j.ended_at IS NULL), "
	    "(SELECT count(*) FROM worker_jobs j WHERE j.worker_id = w.id AND "
	    "j.ended_at IS NULL AND j.state = 'queued'), "
	    "(SELECT count(*) FROM worker_models m WHERE m.worker_id = w.id), "
	    "w.jobs_done, w.jobs_failed, w.jobs_cancelled, w.job_ms_sum, w.first_seen_at, "
	    "w.hello_at, w.last_seen_at, w.gone_at, w.backoff_until, w.consecutive_failures "
	    "FROM workers w LEFT JOIN client_keys k ON k.id = w.key_id "
	    "ORDER BY w.last_seen_at DESC, w.id DESC",
	[WORKERS_VIEW_ST_MODELS] = "SELECT model_id FROM worker_models WHERE worker_id = ?1 "
	    "ORDER BY model_id LIMIT ?2",
};

static const char *const workers_view_state_names[WORKERS_VIEW__MAX] = {
	[WORKERS_VIEW_IDLE] = "idle",
	[WORKERS_VIEW_BUSY] = "busy",
	[WORKERS_VIEW_GONE] = "gone",
};

static const char *const workers_view_count_names[WORKERS_VIEW_COUNT__MAX] = {
	[WORKERS_VIEW_DONE] = "jobs_done",
	[WORKERS_VIEW_FAILED] = "jobs_failed",
	[WORKERS_VIEW_CANCELLED] = "jobs_cancelled",
};

struct workers_view {
	sqlite3		*db;				/* borrowed connection */
	sqlite3_stmt	*st[WORKERS_VIEW_ST__MAX];	/* prepared statements */
};

/* State streams being served by this process (bounded by WORKERS_VIEW_STREAMS_MAX). */
static atomic_int workers_view_nstreams;

enum workers_view_state
workers_view_state(int gone_marked, int64_t last_seen_at, int64_t in_flight, int64_t now,
    int64_t gone_after_ms)
{

	if (gone_marked || last_seen_at <= now - gone_after_ms)
		return WORKERS_VIEW_GONE;
	return in_flight > 0 ? WORKERS_VIEW_BUSY : WORKERS_VIEW_IDLE;
}

const char *
workers_view_state_name(enum workers_view_state s)
{

	return (unsigned)s < WORKERS_VIEW__MAX ? workers_view_state_names[s] : "";
}

int64_t
workers_view_gone_ms(const struct config *cfg)
{

	if (cfg == NULL || cfg->workers.gone_after_s <= 0)
		return WORKERS_VIEW_GONE_AFTER_MS;
	return (int64_t)cfg->workers.gone_after_s * 1000;
}

struct workers_view *
workers_view_new(sqlite3 *db, enum qp_err *err, char *errbuf, size_t errlen)
{
	struct workers_view *v;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		*err = QP_ENOMEM;
		return NULL;
	}
	v->db = db;
	*err = db_prepare_all(db, workers_view_sql, WORKERS_VIEW_ST__MAX, v->st, errbuf, errlen);
	if (*err != QP_OK) {
		free(v);
		return NULL;
	}
	return v;
}

void
workers_view_free(struct workers_view *v)
{

	if (v == NULL)
		return;
	db_finalize_all(v->st, WORKERS_VIEW_ST__MAX);
	free(v);
}

/* Copies column i of st into out (cap bytes), cut at a UTF-8 character boundary. */
static void
workers_view_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	size_t n = s != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0;

	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(out, s, n);
	out[n] = '\0';
}

/* Reads the current row of WORKERS_VIEW_ST_ALL into w at now. */
static void
workers_view_row_read(sqlite3_stmt *st, struct workers_view_row *w, int64_t now,
    int64_t gone_after_ms)
{
	int k;

	memset(w, 0, sizeof(*w));
	w->id = sqlite3_column_int64(st, WV_C_ID);
	workers_view_text(st, WV_C_NAME, w->name, sizeof(w->name));
	workers_view_text(st, WV_C_KEY, w->key, sizeof(w->key));
	workers_view_text(st, WV_C_VERSION, w->version, sizeof(w->version));
	workers_view_text(st, WV_C_PROTOCOLS, w->protocols, sizeof(w->protocols));
	workers_view_text(st, WV_C_GONE_REASON, w->gone_reason, sizeof(w->gone_reason));
	w->capacity = sqlite3_column_int64(st, WV_C_CAPACITY);
	w->in_flight = sqlite3_column_int64(st, WV_C_IN_FLIGHT);
	w->queued = sqlite3_column_int64(st, WV_C_QUEUED);
	w->models = sqlite3_column_int64(st, WV_C_MODELS);
	for (k = 0; k < WORKERS_VIEW_COUNT__MAX; k++)
		w->jobs[k] = sqlite3_column_int64(st, WV_C_DONE + k);
	w->job_ms_sum = sqlite3_column_int64(st, WV_C_JOB_MS);
	w->first_seen_at = sqlite3_column_int64(st, WV_C_FIRST_SEEN);
	w->hello_at = sqlite3_column_int64(st, WV_C_HELLO);
	w->last_seen_at = sqlite3_column_int64(st, WV_C_LAST_SEEN);
	w->gone_at = sqlite3_column_int64(st, WV_C_GONE_AT);
	w->backoff_until = sqlite3_column_int64(st, WV_C_BACKOFF);
	w->consecutive_failures = sqlite3_column_int64(st, WV_C_FAILURES);
	w->state = workers_view_state(sqlite3_column_type(st, WV_C_GONE_AT) != SQLITE_NULL,
	    w->last_seen_at, w->in_flight, now, gone_after_ms);
}

enum qp_err
workers_view_load(struct workers_view *v, int64_t now, int64_t gone_after_ms, int max,
    struct workers_view_set *out)
{
	sqlite3_stmt *st = v->st[WORKERS_VIEW_ST_ALL];
	struct workers_view_row row, *t;
	enum qp_err err = QP_OK;
	int rc, cap = 0, k;

	memset(out, 0, sizeof(*out));
	out->now = now;
	out->gone_after_ms = gone_after_ms;
	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		workers_view_row_read(st, &row, now, gone_after_ms);
		out->total++;
		out->by_state[row.state]++;
		if (out->n < max) {
			if (out->n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				if (cap > max)
					cap = max;
				if ((t = realloc(out->rows, (size_t)cap * sizeof(*t))) == NULL) {
					err = QP_ENOMEM;
					goto out;
				}
				out->rows = t;
			}
			out->rows[out->n++] = row;
			continue;
		}
		out->other_n++;
		out->other_in_flight += row.in_flight;
		for (k = 0; k < WORKERS_VIEW_COUNT__MAX; k++)
			out->other_jobs[k] += row.jobs[k];
		if (row.state != WORKERS_VIEW_GONE) {
			out->other_live++;
			out->other_capacity += row.capacity;
		}
	}
	if (rc != SQLITE_DONE)
		err = QP_EDB;
out:
	sqlite3_reset(st);
	return err;
}

void
workers_view_set_free(struct workers_view_set *s)
{

	free(s->rows);
	memset(s, 0, sizeof(*s));
}

/* Adds the model ids of worker id (at most WORKERS_VIEW_MODELS_MAX) as array "models" of obj. */
static enum qp_err
workers_view_models(struct stats_out *o, struct workers_view *v, cJSON *obj, int64_t id)
{
	sqlite3_stmt *st = v->st[WORKERS_VIEW_ST_MODELS];
	cJSON *arr = stats_add_arr(o, obj, "models"), *s;
	enum qp_err err = QP_OK;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, WORKERS_VIEW_MODELS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (arr == NULL || (s = cJSON_CreateString(stats_cs(st, 0))) == NULL ||
		    !cJSON_AddItemToArray(arr, s)) {
			o->oom = 1;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = QP_EDB;
	sqlite3_reset(st);
	return err;
}

/* Fills root with the totals and the listed workers of s (see workers_view_json()). */
static enum qp_err
workers_view_fill(struct stats_out *o, struct workers_view *v, const struct workers_view_set *s,
    int stream, cJSON *root)
{
	const struct workers_view_row *w;
	int64_t in_flight = s->other_in_flight, capacity = s->other_capacity;
	cJSON *arr, *obj;
	enum qp_err err;
	int i, k;

	for (i = 0; i < s->n; i++) {
		in_flight += s->rows[i].in_flight;
		if (s->rows[i].state != WORKERS_VIEW_GONE)
			capacity += s->rows[i].capacity;
	}
	stats_put_i(o, root, "gone_after_ms", s->gone_after_ms);
	stats_put_i(o, root, "total_workers", s->total);
	stats_put_i(o, root, "listed", s->n);
	stats_put_b(o, root, "truncated", s->n < s->total);
	for (k = 0; k < WORKERS_VIEW__MAX; k++)
		stats_put_i(o, root, workers_view_state_names[k], s->by_state[k]);
	stats_put_i(o, root, "live", s->by_state[WORKERS_VIEW_IDLE] +
	    s->by_state[WORKERS_VIEW_BUSY]);
	stats_put_i(o, root, "in_flight", in_flight);
	stats_put_i(o, root, "capacity", capacity);
	arr = stats_add_arr(o, root, "workers");
	for (i = 0; i < s->n; i++) {
		w = &s->rows[i];
		obj = stats_arr_obj(o, arr);
		stats_put_i(o, obj, "id", w->id);
		stats_put_s(o, obj, "name", w->name);
		stats_put_s(o, obj, "key", w->key);
		stats_put_s(o, obj, "version", w->version);
		stats_put_s(o, obj, "protocols", w->protocols);
		stats_put_s(o, obj, "state", workers_view_state_name(w->state));
		stats_put_b(o, obj, "connected", w->state != WORKERS_VIEW_GONE);
		stats_put_i(o, obj, "in_flight", w->in_flight);
		stats_put_i(o, obj, "queued", w->queued);
		stats_put_i(o, obj, "capacity", w->capacity);
		stats_put_i(o, obj, "models_count", w->models);
		if (obj != NULL && (err = workers_view_models(o, v, obj, w->id)) != QP_OK)
			return err;
		for (k = 0; k < WORKERS_VIEW_COUNT__MAX; k++)
			stats_put_i(o, obj, workers_view_count_names[k], w->jobs[k]);
		stats_put_d(o, obj, "avg_job_ms", stats_avg(w->job_ms_sum,
		    w->jobs[WORKERS_VIEW_DONE]));
		stats_put_i(o, obj, "consecutive_failures", w->consecutive_failures);
		stats_put_t(o, obj, "backoff_until", w->backoff_until);
		stats_put_t(o, obj, "gone_at", w->gone_at);
		if (w->gone_reason[0] != '\0')
			stats_put_s(o, obj, "gone_reason", w->gone_reason);
		else
			stats_put_null(o, obj, "gone_reason");
		if (stream)
			continue;
		stats_put_t(o, obj, "first_seen_at", w->first_seen_at);
		stats_put_t(o, obj, "hello_at", w->hello_at);
		stats_put_t(o, obj, "last_seen_at", w->last_seen_at);
		stats_put_i(o, obj, "last_seen_age_ms", s->now - w->last_seen_at);
	}
	return QP_OK;
}

cJSON *
workers_view_json(struct workers_view *v, const struct workers_view_set *s, int stream,
    enum qp_err *err)
{
	struct stats_out o = { 0 };
	cJSON *root = cJSON_CreateObject();
	enum qp_err dberr = QP_OK;

	if (root == NULL)
		o.oom = 1;
	else {
		if (!stream)
			stats_put_t(&o, root, "now", s->now);
		dberr = workers_view_fill(&o, v, s, stream, root);
	}
	return stats_end(&o, root, dberr, err);
}

cJSON *
workers_view_dataset(struct stats_db *sdb, const struct config *cfg,
    const struct stats_query *q, enum qp_err *err)
{
	struct workers_view_set set;
	struct workers_view *v = NULL;
	struct stats_out o;
	enum qp_err dberr = QP_OK;
	char errbuf[256];
	cJSON *root;

	memset(&set, 0, sizeof(set));
	root = stats_begin(&o, q, q->now, q->now, 0);
	if ((v = workers_view_new(sdb->db, &dberr, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if ((dberr = workers_view_load(v, q->now, workers_view_gone_ms(cfg),
	    WORKERS_VIEW_LIST_MAX, &set)) != QP_OK)
		goto out;
	if (root != NULL)
		dberr = workers_view_fill(&o, v, &set, 0, root);
out:
	workers_view_set_free(&set);
	workers_view_free(v);
	return stats_end(&o, root, dberr, err);
}

enum qp_err
workers_view_metrics(sqlite3 *db, const struct config *cfg, char *buf, size_t cap, size_t *len)
{
	struct workers_view_set set;
	struct workers_view *v;
	enum qp_err err;
	char errbuf[256];

	memset(&set, 0, sizeof(set));
	if ((v = workers_view_new(db, &err, errbuf, sizeof(errbuf))) == NULL)
		return err;
	err = workers_view_load(v, db_now_ms(), workers_view_gone_ms(cfg),
	    WORKERS_VIEW_METRICS_MAX, &set);
	if (err == QP_OK)
		err = metrics_render_workers(&set, buf, cap, len);
	workers_view_set_free(&set);
	workers_view_free(v);
	return err;
}

/* ---- the state stream ------------------------------------------------- */

/* By id: the order of a stream's list does not move with every heartbeat. */
static int
workers_view_by_id(const void *a, const void *b)
{
	const struct workers_view_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Reads the pool's state now as stream JSON text (malloc'd, the caller
 * frees), on a pooled connection given back before returning. NULL when
 * the database could not be read this time.
 */
static char *
workers_view_snapshot(struct worker *w)
{
	struct workers_view_set set;
	struct workers_view *v = NULL;
	enum qp_err err;
	char errbuf[256], *text = NULL;
	cJSON *j = NULL;

	memset(&set, 0, sizeof(set));
	if (server_worker_ready(w) != QP_OK)
		goto out;
	if ((v = workers_view_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	if (workers_view_load(v, db_now_ms(), workers_view_gone_ms(w->cfg),
	    WORKERS_VIEW_LIST_MAX, &set) != QP_OK)
		goto out;
	if (set.n > 1)
		qsort(set.rows, (size_t)set.n, sizeof(set.rows[0]), workers_view_by_id);
	if ((j = workers_view_json(v, &set, 1, &err)) != NULL)
		text = cJSON_PrintUnformatted(j);
out:
	cJSON_Delete(j);
	workers_view_set_free(&set);
	workers_view_free(v);
	server_worker_release(w);
	return text;
}

/* Writes s (len bytes) and flushes. Returns 0, or -1 once the client is gone. */
static int
workers_view_send(struct http_req *r, const char *s, size_t len)
{

	if (http_write(r, s, len) != 0)
		return -1;
	return http_flush(r);
}

/* Sends one "state" event carrying text. Returns 0, or -1 once the client is gone. */
static int
workers_view_event(struct http_req *r, const char *text)
{
	static const char head[] = "event: state\ndata: ";

	if (http_write(r, head, sizeof(head) - 1) != 0 ||
	    http_write(r, text, strlen(text)) != 0)
		return -1;
	return workers_view_send(r, "\n\n", 2);
}

/* Waits up to ms for the web server to close r's connection. Returns 1 if it did. */
static int
workers_view_wait(struct http_req *r, int ms)
{
	struct pollfd p;

	if (http_client_gone(r))
		return 1;
	p.fd = r->fr->ipcFd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (p.fd < 0 || poll(&p, 1, ms) <= 0)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void
workers_view_stream(struct worker *w, struct http_req *r)
{
	char hdr[256], retry[64], *last = NULL, *cur;
	int64_t start = db_mono_us() / 1000, now, last_out;
	int n;

	if (!w->cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return;
	}
	n = atomic_fetch_add(&workers_view_nstreams, 1);
	if (n >= WORKERS_VIEW_STREAMS_MAX) {
		atomic_fetch_sub(&workers_view_nstreams, 1);
		http_error_ex(r, 503, "server_error", "too many state streams are open: try "
		    "again later", "Retry-After: 30\r\n");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n");
	http_begin(r, 200, "text/event-stream; charset=utf-8", hdr);
	n = snprintf(retry, sizeof(retry), "retry: %d\n\n", WORKERS_VIEW_RETRY_MS);
	if (workers_view_send(r, retry, (size_t)n) != 0)
		goto out;
	last_out = start;
	for (;;) {
		if (atomic_load(&w->srv->stopping))
			break;
		cur = workers_view_snapshot(w);
		now = db_mono_us() / 1000;
		if (cur != NULL && (last == NULL || strcmp(cur, last) != 0)) {
			free(last);
			last = cur;
			if (workers_view_event(r, last) != 0)
				break;
			last_out = now;
		} else {
			free(cur);
			if (now - last_out >= WORKERS_VIEW_KEEPALIVE_MS) {
				if (workers_view_send(r, ": keepalive\n\n", 13) != 0)
					break;
				last_out = now;
			}
		}
		if (now - start >= WORKERS_VIEW_STREAM_MS ||
		    workers_view_wait(r, WORKERS_VIEW_POLL_MS))
			break;
	}
out:
	free(last);
	atomic_fetch_sub(&workers_view_nstreams, 1);
}

int
workers_view_streams(void)
{

	return atomic_load(&workers_view_nstreams);
}
