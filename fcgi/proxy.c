/* proxy.c: the data-plane endpoints: chat completions and messages, relayed to pooled accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounting.h"
#include "bounds.h"
#include "cost.h"
#include "db.h"
#include "failover.h"
#include "log.h"
#include "proxy.h"
#include "reqbody.h"
#include "select.h"
#include "sse.h"
#include "upstream.h"
#include "usage.h"

/* Events one upstream read may complete before the relay writes them. */
#define PROXY_EVENTS_MAX	256

/* A growable byte buffer with a hard cap. */
struct proxy_buf {
	char	*p;		/* bytes, owned */
	size_t	 len;		/* bytes used */
	size_t	 cap;		/* bytes allocated */
	size_t	 max;		/* never grows past this */
	int	 over;		/* 1 once bytes were dropped at max */
};

/* One event's place in the relayed stream. */
struct proxy_ev {
	uint64_t	 start;		/* stream offset of its first byte */
	uint64_t	 end;		/* just past its blank line */
	int		 drop;		/* 1: not shown to the client */
};

/* One attempt's state, seen by the transport callbacks. */
struct proxy_attempt {
	struct worker	*w;
	struct http_req	*r;
	unsigned	 proto;		/* CONFIG_PROTO_* of client and upstream */
	int		 stream;	/* client asked for a stream */
	int		 show_usage;	/* client asked for the OpenAI usage chunk */
	int64_t		 t0;		/* request start, monotonic ms */
	int		 status;	/* upstream status, 0 before the head */
	int		 sse;		/* relaying an event stream */
	int		 handed_off;	/* the response started towards the client */
	int		 client_gone;	/* the client went away */
	int		 stream_failed;	/* the event stream broke */
	int64_t		 last_write;	/* monotonic ms of the last write to the client */
	int64_t		 ttft;		/* request start to first content relayed, -1 */
	struct usage	 usage;		/* what the upstream reported */
	struct sse_parser *parser;	/* while relaying an event stream */
	struct proxy_buf pend;		/* stream bytes not yet relayed */
	uint64_t	 pend_off;	/* stream offset of pend.p[0] */
	struct proxy_ev	 evs[PROXY_EVENTS_MAX];	/* events completed by the current read */
	int		 nevs;
	struct proxy_buf body;		/* a whole body: error or non-streaming answer */
	char		 ctype[UPSTREAM_VALUE_MAX + 1];	/* upstream Content-Type */
};

static int64_t
proxy_mono_ms(void)
{

	return db_mono_us() / 1000;
}

/* Appends n bytes; beyond b->max the bytes are dropped and b->over set. 0 or -1 (no memory). */
static int
proxy_buf_add(struct proxy_buf *b, const char *p, size_t n)
{
	size_t want, cap;
	char *np;

	if (n > b->max - b->len) {
		n = b->max - b->len;
		b->over = 1;
	}
	if (n == 0)
		return 0;
	want = b->len + n + 1;
	if (want > b->cap) {
		cap = b->cap > 0 ? b->cap : 4096;
		while (cap < want)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void
proxy_buf_free(struct proxy_buf *b)
{

	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* SSE callback: observes each event and decides whether the client sees it. */
static enum qp_err
proxy_on_event(const struct sse_event *ev, void *arg)
{
	struct proxy_attempt *a = arg;
	unsigned bits;
	int64_t now = proxy_mono_ms();

	bits = usage_event(&a->usage, ev->event, ev->data, ev->data_len, now);
	if ((bits & USAGE_EV_CONTENT) && a->ttft < 0)
		a->ttft = now - a->t0;
	if (a->nevs >= PROXY_EVENTS_MAX)
		return QP_ETOOBIG;
	a->evs[a->nevs].start = ev->start;
	a->evs[a->nevs].end = ev->end;
	a->evs[a->nevs].drop = (bits & USAGE_EV_USAGE_ONLY) && !a->show_usage;
	a->nevs++;
	return QP_OK;
}

/* Writes bytes to the client; -1 once it is gone. */
static int
proxy_send(struct proxy_attempt *a, const char *p, size_t n)
{

	if (n == 0)
		return 0;
	if (http_write(a->r, p, n) != 0) {
		a->client_gone = 1;
		return -1;
	}
	return 0;
}

/* Relays the complete events in a->pend up to stream offset upto, then flushes. */
static int
proxy_relay(struct proxy_attempt *a, uint64_t upto)
{
	uint64_t cur = a->pend_off;
	size_t used;
	int i;

	for (i = 0; i < a->nevs; i++) {
		if (!a->evs[i].drop || a->evs[i].end > upto)
			continue;
		if (proxy_send(a, a->pend.p + (cur - a->pend_off),
		    (size_t)(a->evs[i].start - cur)) != 0)
			return -1;
		cur = a->evs[i].end;
	}
	a->nevs = 0;
	if (upto > cur && proxy_send(a, a->pend.p + (cur - a->pend_off),
	    (size_t)(upto - cur)) != 0)
		return -1;
	used = (size_t)(upto - a->pend_off);
	if (used > 0) {
		memmove(a->pend.p, a->pend.p + used, a->pend.len - used);
		a->pend.len -= used;
		a->pend_off = upto;
		if (http_flush(a->r) != 0) {
			a->client_gone = 1;
			return -1;
		}
		a->last_write = proxy_mono_ms();
	}
	return 0;
}

static int
proxy_on_status(const struct upstream_head *head, void *arg)
{
	struct proxy_attempt *a = arg;

	a->status = head->status;
	snprintf(a->ctype, sizeof(a->ctype), "%s", head->content_type);
	if (a->status < 200 || a->status >= 300) {
		a->body.max = QP_UPSTREAM_ERRBODY_MAX;
		return 0;
	}
	a->body.max = QP_UPSTREAM_BODY_MAX;
	if (!a->stream || strncmp(head->content_type, "text/event-stream", 17) != 0)
		return 0;	/* a whole body: relayed once complete */

	/* The stream starts: from here on there is no failing over. */
	a->sse = 1;
	if ((a->parser = sse_new(0, proxy_on_event, a)) == NULL)
		return 1;
	a->pend.max = QP_SSE_LINE_MAX + UPSTREAM_RECV_BUFFER;
	http_begin(a->r, a->status, "text/event-stream",
	    "Cache-Control: no-cache\r\n");
	a->handed_off = 1;
	if (http_flush(a->r) != 0) {
		a->client_gone = 1;
		return 1;
	}
	a->last_write = proxy_mono_ms();
	return 0;
}

static int
proxy_on_data(const char *buf, size_t len, void *arg)
{
	struct proxy_attempt *a = arg;
	size_t flush = 0;
	uint64_t base;
	enum qp_err err;

	if (!a->sse) {
		if (proxy_buf_add(&a->body, buf, len) != 0)
			return 1;
		/* An error body is drained; an oversized answer ends the attempt. */
		return a->body.over && a->status >= 200 && a->status < 300;
	}
	base = sse_offset(a->parser);
	if (proxy_buf_add(&a->pend, buf, len) != 0 || a->pend.over) {
		a->stream_failed = 1;
		return 1;
	}
	err = sse_feed(a->parser, buf, len, &flush);
	if (err != QP_OK) {
		a->stream_failed = 1;
		return 1;
	}
	if (flush > 0 && proxy_relay(a, base + flush) != 0)
		return 1;
	return 0;
}

static int
proxy_on_tick(void *arg)
{
	struct proxy_attempt *a = arg;
	static const char keepalive[] = ": keepalive\n\n";
	int64_t now;

	if (a->handed_off && a->sse && a->pend.len == 0) {
		now = proxy_mono_ms();
		if (now - a->last_write >= a->w->srv->cfg->upstream.keepalive_interval_ms) {
			if (proxy_send(a, keepalive, sizeof(keepalive) - 1) != 0 ||
			    http_flush(a->r) != 0) {
				a->client_gone = 1;
				return 1;
			}
			a->last_write = now;
		}
	}
	if (http_client_gone(a->r)) {
		a->client_gone = 1;
		return 1;
	}
	return 0;
}

/* Splits "model/provider" when the suffix names a configured provider. */
static const struct config_provider *
proxy_split_model(const struct config *cfg, const char *model, char *base, size_t len)
{
	const struct config_provider *p;
	const char *slash = strrchr(model, '/');

	snprintf(base, len, "%s", model);
	if (slash == NULL || slash == model || slash[1] == '\0')
		return NULL;
	if ((p = config_provider(cfg, slash + 1)) == NULL)
		return NULL;
	if ((size_t)(slash - model) < len)
		base[slash - model] = '\0';
	return p;
}

/* The model's configured prices, for costs and reservations. */
static void
proxy_price(const struct config *cfg, const char *model, struct cost_price *price)
{
	const struct config_model_override *o = config_override(cfg, model);

	price->input = o != NULL ? o->input_per_mtok : -1;
	price->output = o != NULL ? o->output_per_mtok : -1;
	price->cache_read = o != NULL ? o->cache_read_per_mtok : -1;
	price->cache_write = o != NULL ? o->cache_write_per_mtok : -1;
}

/* Fills fin's token, cost and stream fields from what was observed. */
static void
proxy_final_usage(struct accounting_final *fin, const struct usage *u,
    const struct cost_price *price)
{
	struct cost c;
	int64_t in = u->input_tokens > 0 ? u->input_tokens : 0;
	int64_t cr = u->cache_read_tokens > 0 ? u->cache_read_tokens : 0;
	int64_t cw = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;

	if (u->input_includes_cache)
		in = in > cr + cw ? in - cr - cw : 0;
	fin->input_tokens = in;
	fin->output_tokens = u->output_tokens > 0 ? u->output_tokens : 0;
	fin->cache_read_tokens = cr;
	fin->cache_write_tokens = cw;
	fin->reasoning_tokens = u->reasoning_tokens > 0 ? u->reasoning_tokens : 0;
	c = cost_compute(u, price);
	fin->cost_microdollars = c.microdollars;
	fin->cost_exactness = cost_exactness_name(c.exactness);
	if (u->finish_reason[0] != '\0')
		fin->finish_reason = u->finish_reason;
}

/* Sends an error synthesized when no upstream answer can be relayed. */
static void
proxy_fail(struct http_req *r, int status, const char *message, int64_t retry_s)
{
	char extra[64];
	const char *type;

	switch (status) {
	case 429:
		type = http_type(r, "rate_limit_exceeded", "rate_limit_error");
		break;
	case 404:
		type = http_type(r, "invalid_request_error", "not_found_error");
		break;
	case 400:
	case 413:
		type = "invalid_request_error";
		break;
	case 503:
		type = http_type(r, "server_error", "overloaded_error");
		break;
	default:
		type = http_type(r, "server_error", "api_error");
		break;
	}
	if (retry_s > 0) {
		snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n", (long long)retry_s);
		http_error_ex(r, status, type, message, extra);
	} else
		http_error(r, status, type, message);
}

/* The database work of one step of a request, run on the writer (server_batch()). */
struct proxy_job {
	struct accounting_request *req;
	const struct select_query *q;		/* proxy_job_choose(): the query */
	struct select_result	*sel;		/* its answer; for proxy_job_finish(): the
						   refusal to record, or NULL */
	char			*detail;	/* a refusal's decision, copied: owned */
	struct accounting_attempt *att;		/* proxy_job_end(): the attempt */
	const struct failover_verdict *v;	/* its verdict */
	const struct config_routing *routing;	/* backoff settings */
	const struct accounting_final *fin;	/* proxy_job_end(): NULL while the request
						   goes on; proxy_job_finish(): its end */
};

/* Chooses an account and, when one is eligible, opens the attempt on it. */
static enum qp_err
proxy_job_choose(const struct server_db *d, void *arg)
{
	struct proxy_job *j = arg;
	enum qp_err err;

	if ((err = select_choose(d->sel, j->q, j->sel)) != QP_OK)
		return err;
	if (j->sel->status == SELECT_OK)
		return accounting_attempt_start(d->acc, j->req, j->sel, j->q->now);
	/* The selector's buffer is the next job's: keep the refusal's own copy. */
	free(j->detail);
	if ((j->detail = strdup(j->sel->detail_json != NULL ? j->sel->detail_json :
	    "{}")) == NULL)
		return QP_ENOMEM;
	j->sel->detail_json = j->detail;
	return QP_OK;
}

/* Closes the open attempt, and the request with it when fin is set. */
static enum qp_err
proxy_job_end(const struct server_db *d, void *arg)
{
	struct proxy_job *j = arg;

	return accounting_attempt_end(d->acc, j->req, j->att, j->v, j->routing, j->fin);
}

/* Records a request that ended with no attempt open (refused, or after failovers). */
static enum qp_err
proxy_job_finish(const struct server_db *d, void *arg)
{
	struct proxy_job *j = arg;

	return accounting_finish(d->acc, j->req, j->sel, j->fin);
}

/* The whole request, for either protocol. */
static void
proxy_handle(struct worker *w, struct http_req *r, unsigned proto)
{
	const struct config *cfg = w->srv->cfg;
	struct accounting_request req;
	struct accounting_attempt att;
	struct accounting_final fin;
	struct reqbody rb;
	struct select_query q;
	struct select_result sel;
	struct upstream_req ureq;
	struct upstream_res ures;
	struct upstream_headers *hdrs = NULL;
	struct failover_input fi;
	struct failover_verdict v;
	struct cost_price price;
	struct proxy_attempt a;
	struct proxy_job job;
	const struct config_provider *pinned;
	const char *tried[64], *why = NULL, *ip;
	char *body = NULL, *upbody = NULL, model[256], base[256], msg[512];
	size_t body_len = 0, up_len = 0;
	int64_t t0_us = db_mono_us(), t0 = t0_us / 1000, overhead_us = -1, retry_s;
	int64_t att_t0 = 0, pid;
	int ntried = 0, max_attempts, final_status = 0, rb_ok = 0, st_code, done = 0;
	enum accounting_status final_st = ACCOUNTING_ERROR;
	enum qp_err err;

	memset(&a, 0, sizeof(a));
	memset(&rb, 0, sizeof(rb));
	memset(&job, 0, sizeof(job));
	/* Idle threads hold no curl handles: the transport comes with the first use. */
	if (w->up == NULL)
		w->up = upstream_new(w->srv->share);
	if (w->up == NULL) {
		proxy_fail(r, 503, "the gateway is not ready", 0);
		return;
	}
	err = http_read_body(r, (size_t)cfg->server.max_request_body_bytes, &body, &body_len);
	if (err == QP_ETOOBIG) {
		proxy_fail(r, 413, "Request body too large", 0);
		return;
	}
	if (err == QP_ECLOSED)
		return;
	if (err != QP_OK) {
		proxy_fail(r, 503, "out of memory", 0);
		return;
	}
	if ((err = reqbody_parse(&rb, body, body_len, &why)) != QP_OK) {
		proxy_fail(r, 400, why != NULL ? why : "Invalid JSON", 0);
		goto out;
	}
	rb_ok = 1;
	snprintf(model, sizeof(model), "%s", rb.model);
	pinned = proxy_split_model(cfg, model, base, sizeof(base));
	proxy_price(cfg, base, &price);

	if ((pid = server_process_id(w->srv)) == 0) {
		/* Not registered yet: its rows would look abandoned. */
		proxy_fail(r, 503, "the gateway is starting; retry in a second", 1);
		goto out;
	}
	if (accounting_request_init(&req, pid, db_now_ms()) != QP_OK) {
		proxy_fail(r, 503, "no randomness available", 0);
		goto out;
	}
	snprintf(r->uid, sizeof(r->uid), "%s", req.uid);
	ip = r->client_addr[0] != '\0' ? r->client_addr : NULL;
	req.client_key_id = r->key_id;
	req.protocol = proto;
	req.endpoint = proto == CONFIG_PROTO_OPENAI ? "/v1/chat/completions" : "/v1/messages";
	req.model = model;
	req.model_base = base;
	req.streamed = rb.stream;
	req.client_ip = ip;
	req.bytes_in = (int64_t)body_len;
	req.est_tokens = (int64_t)body_len / 3;
	if (req.est_tokens < 1000)
		req.est_tokens = 1000;
	if (req.est_tokens > 128000)
		req.est_tokens = 128000;
	req.est_microdollars = req.est_tokens * (price.input > 0 ? price.input :
	    COST_FALLBACK_INPUT) / 1000000;

	if (reqbody_upstream(&rb, base, proto == CONFIG_PROTO_OPENAI, &upbody,
	    &up_len) != QP_OK) {
		proxy_fail(r, 503, "out of memory", 0);
		goto out;
	}

	max_attempts = cfg->routing.max_attempts;
	if (max_attempts > (int)(sizeof(tried) / sizeof(tried[0])))
		max_attempts = (int)(sizeof(tried) / sizeof(tried[0]));
	memset(&v, 0, sizeof(v));
	for (;;) {
		memset(&q, 0, sizeof(q));
		q.model = base;
		q.provider = pinned != NULL ? pinned->id : NULL;
		q.protocol = proto;
		q.tried = tried;
		q.ntried = ntried;
		q.now = db_now_ms();
		job.req = &req;
		job.q = &q;
		job.sel = &sel;
		if ((err = server_batch(w->srv, proxy_job_choose, &job)) != QP_OK) {
			log_msg(LOG_ERROR, "request %s: cannot choose an account: %s",
			    req.uid, qp_strerror(err));
			proxy_fail(r, 503, "the gateway's database is unavailable", 0);
			final_status = 503;
			final_st = ACCOUNTING_ERROR;
			break;
		}
		if (sel.status != SELECT_OK) {
			/* Nothing (more) to try: say why, in the client's family. */
			{
				st_code = select_status_http(sel.status);
				retry_s = 0;
				switch (sel.status) {
				case SELECT_NO_MODEL:
					snprintf(msg, sizeof(msg), "Model '%s' not found", model);
					break;
				case SELECT_WRONG_PROTOCOL:
					snprintf(msg, sizeof(msg), "Model '%s' is served only over "
					    "the %s protocol", model, proto == CONFIG_PROTO_OPENAI ?
					    "Anthropic (/v1/messages)" :
					    "OpenAI (/v1/chat/completions)");
					break;
				case SELECT_BACKOFF:
					retry_s = sel.retry_at > q.now ?
					    (sel.retry_at - q.now + 999) / 1000 : 1;
					snprintf(msg, sizeof(msg), "Every account that serves "
					    "'%s' is backing off after rate limits, quota or "
					    "upstream errors; retry in %lld s", model,
					    (long long)retry_s);
					break;
				case SELECT_AUTH:
					snprintf(msg, sizeof(msg), "Every account that serves '%s' "
					    "had its credentials refused by the provider", model);
					break;
				case SELECT_DISABLED:
					snprintf(msg, sizeof(msg), "No enabled account with "
					    "credentials serves '%s'", model);
					break;
				default:
					if (v.outcome == FAILOVER_OUTCOME_RATE_LIMITED ||
					    v.outcome == FAILOVER_OUTCOME_QUOTA_EXCEEDED) {
						st_code = 429;
						retry_s = v.retry_after_s > 0 ? v.retry_after_s :
						    sel.retry_at > q.now ?
						    (sel.retry_at - q.now + 999) / 1000 : 0;
					} else if (v.outcome == FAILOVER_OUTCOME_AUTH_FAILURE)
						st_code = 503;
					else if (strcmp(v.error_class, "first_byte_timeout") == 0)
						st_code = 504;
					snprintf(msg, sizeof(msg), "All %d account%s tried for "
					    "'%s' failed (last: %s)", ntried, ntried == 1 ? "" : "s",
					    model, v.error_class[0] ? v.error_class :
					    failover_outcome_name(v.outcome));
					break;
				}
				proxy_fail(r, st_code, msg, retry_s);
				final_status = st_code;
			}
			final_st = ntried == 0 ? ACCOUNTING_REJECTED : ACCOUNTING_ERROR;
			if (ntried > 0 && v.outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
				final_st = ACCOUNTING_CLIENT_ERROR;
			accounting_final_init(&fin, final_st, final_status, db_now_ms());
			fin.bytes_out = r->bytes_out;
			fin.overhead_us = overhead_us;
			/* The answer is out before the bookkeeping. */
			(void)http_flush(r);
			job.sel = ntried == 0 ? &sel : NULL;
			job.fin = &fin;
			if (server_batch(w->srv, proxy_job_finish, &job) != QP_OK)
				log_msg(LOG_ERROR, "request %s: cannot record its end", req.uid);
			done = 1;
			break;
		}
		tried[ntried++] = sel.account->name;
		r->attempt_count = req.attempts;

		/* This attempt's transport state. */
		sse_free(a.parser);
		proxy_buf_free(&a.pend);
		proxy_buf_free(&a.body);
		memset(&a, 0, sizeof(a));
		a.w = w;
		a.r = r;
		a.proto = proto;
		a.stream = rb.stream;
		a.show_usage = rb.include_usage || proto != CONFIG_PROTO_OPENAI;
		a.t0 = t0;
		a.ttft = -1;
		a.body.max = QP_UPSTREAM_ERRBODY_MAX;
		usage_init(&a.usage, proto == CONFIG_PROTO_OPENAI ? USAGE_PROTO_OPENAI :
		    USAGE_PROTO_ANTHROPIC, 0);

		hdrs = upstream_headers_new(sel.provider, sel.account, proto,
		    r->fr->envp, &err);
		memset(&ures, 0, sizeof(ures));
		if (hdrs != NULL) {
			upstream_req_init(&ureq, cfg, sel.provider, sel.account);
			ureq.path = proto == CONFIG_PROTO_OPENAI ?
			    sel.provider->openai_path : sel.provider->anthropic_path;
			ureq.headers = hdrs;
			ureq.body = upbody != NULL ? upbody : body;
			ureq.body_len = upbody != NULL ? up_len : body_len;
			ureq.max_body = QP_UPSTREAM_BODY_MAX;
			ureq.cb.on_status = proxy_on_status;
			ureq.cb.on_data = proxy_on_data;
			ureq.cb.on_tick = proxy_on_tick;
			ureq.cb.arg = &a;
			if (overhead_us < 0)
				overhead_us = db_mono_us() - t0_us;
			att_t0 = proxy_mono_ms();
			err = upstream_perform(w->up, &ureq, &ures);
		}
		upstream_headers_free(hdrs);
		hdrs = NULL;

		/* A whole answer (not a stream) is relayed only now. */
		if (!a.sse && !a.client_gone && err == QP_OK &&
		    ures.result == UPSTREAM_OK && a.status >= 200 && a.status < 300) {
			usage_body(&a.usage, a.body.p != NULL ? a.body.p : "", a.body.len);
			if (a.body.len > 0 && a.ttft < 0)
				a.ttft = proxy_mono_ms() - t0;
			http_reply(r, a.status, a.ctype[0] ? a.ctype : "application/json",
			    a.body.p != NULL ? a.body.p : "", a.body.len);
			a.handed_off = 1;
		}
		/* A stream that ended without its terminator failed (never faked). */
		if (a.sse && !a.client_gone && (!a.usage.done || a.usage.error))
			a.stream_failed = 1;

		memset(&fi, 0, sizeof(fi));
		fi.status = a.status;
		fi.curl_code = ures.curl_code;
		fi.first_byte_timeout = ures.result == UPSTREAM_FIRST_BYTE_TIMEOUT;
		fi.client_gone = a.client_gone;
		fi.handed_off = a.handed_off;
		fi.stream_failed = a.stream_failed || (a.handed_off &&
		    ures.result != UPSTREAM_OK && !a.client_gone);
		fi.retry_after = ures.head.retry_after[0] ? ures.head.retry_after : NULL;
		fi.retry_after_len = strlen(ures.head.retry_after);
		fi.body = a.status >= 400 ? a.body.p : NULL;
		fi.body_len = a.status >= 400 ? a.body.len : 0;
		fi.now = db_now_ms();
		failover_classify(&fi, &v);
		if (err != QP_OK) {
			/* quotapool's own failure: not the account's fault, no retry. */
			v.outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
			v.effect = FAILOVER_EFFECT_NONE;
			v.retry = 0;
		}

		memset(&att, 0, sizeof(att));
		att.ended_at = db_now_ms();
		att.connect_ms = ures.timing.connect_ms;
		att.first_byte_ms = ures.timing.first_byte_ms;
		att.bytes_sent = ures.timing.bytes_sent;
		att.bytes_received = ures.timing.bytes_received;
		att.upstream_request_id = ures.head.request_id[0] ?
		    ures.head.request_id : NULL;

		job.att = &att;
		job.v = &v;
		job.routing = &cfg->routing;
		job.fin = NULL;
		if (!a.handed_off && !a.client_gone && v.retry && ntried < max_attempts) {
			/* Not seen by the client yet: try another account. */
			if (server_batch(w->srv, proxy_job_end, &job) != QP_OK)
				log_msg(LOG_ERROR, "request %s: cannot record attempt end",
				    req.uid);
			log_msg(LOG_INFO, "request %s: account %s failed (%s), failing over",
			    req.uid, sel.account->name, v.error_class[0] ? v.error_class :
			    failover_outcome_name(v.outcome));
			continue;
		}

		/* This attempt is the last one: answer if nothing was sent yet. */
		if (!a.handed_off && !a.client_gone) {
			if (a.status >= 400 && a.body.len > 0 &&
			    v.outcome == FAILOVER_OUTCOME_CLIENT_ERROR) {
				http_reply(r, a.status, a.ctype[0] ? a.ctype :
				    "application/json", a.body.p, a.body.len);
			} else {
				st_code = 502;
				retry_s = 0;
				if (v.outcome == FAILOVER_OUTCOME_RATE_LIMITED ||
				    v.outcome == FAILOVER_OUTCOME_QUOTA_EXCEEDED) {
					st_code = 429;
					retry_s = v.retry_after_s > 0 ? v.retry_after_s : 0;
				} else if (v.outcome == FAILOVER_OUTCOME_AUTH_FAILURE)
					st_code = 503;
				else if (ures.result == UPSTREAM_FIRST_BYTE_TIMEOUT ||
				    ures.result == UPSTREAM_IDLE_TIMEOUT)
					st_code = 504;
				else if (v.outcome == FAILOVER_OUTCOME_LOCAL_ERROR)
					st_code = 500;
				snprintf(msg, sizeof(msg), "%s %d account%s tried for '%s' "
				    "failed (last: %s)", ntried >= max_attempts ? "All" :
				    "The", ntried, ntried == 1 ? "" : "s", model,
				    v.error_class[0] ? v.error_class :
				    failover_outcome_name(v.outcome));
				proxy_fail(r, st_code, msg, retry_s);
			}
		}
		final_status = r->status;
		if (a.client_gone)
			final_st = ACCOUNTING_CLIENT_DISCONNECTED;
		else if (v.outcome == FAILOVER_OUTCOME_OK && a.handed_off &&
		    !a.stream_failed)
			final_st = ACCOUNTING_COMPLETED;
		else if (v.outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
			final_st = ACCOUNTING_CLIENT_ERROR;
		else
			final_st = ACCOUNTING_ERROR;
		accounting_final_init(&fin, final_st, final_status, db_now_ms());
		proxy_final_usage(&fin, &a.usage, &price);
		fin.stream_complete = a.sse ? (a.usage.done && !a.usage.error) : -1;
		fin.connect_ms = ures.timing.connect_ms;
		fin.first_byte_ms = ures.timing.first_byte_ms >= 0 ?
		    att_t0 - t0 + ures.timing.first_byte_ms : -1;
		fin.ttft_ms = a.ttft;
		fin.total_ms = proxy_mono_ms() - t0;
		fin.overhead_us = overhead_us;
		fin.bytes_out = r->bytes_out;
		fin.upstream_bytes = ures.timing.bytes_received;
		if (a.stream_failed && final_st == ACCOUNTING_ERROR)
			fin.error_class = "stream_incomplete";
		/* The answer is out before the bookkeeping. */
		if (!a.client_gone)
			(void)http_flush(r);
		job.fin = &fin;
		if (server_batch(w->srv, proxy_job_end, &job) != QP_OK)
			log_msg(LOG_ERROR, "request %s: cannot record its end", req.uid);
		done = 1;
		break;
	}
	if (!done && req.attempt_open) {
		accounting_final_init(&fin, ACCOUNTING_ERROR, final_status, db_now_ms());
		memset(&att, 0, sizeof(att));
		att.ended_at = db_now_ms();
		att.connect_ms = att.first_byte_ms = -1;
		v.outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
		job.att = &att;
		job.v = &v;
		job.routing = NULL;
		job.fin = &fin;
		if (server_batch(w->srv, proxy_job_end, &job) != QP_OK)
			log_msg(LOG_ERROR, "request %s: cannot record its end", req.uid);
	}
out:
	free(job.detail);
	sse_free(a.parser);
	proxy_buf_free(&a.pend);
	proxy_buf_free(&a.body);
	free(upbody);
	if (rb_ok)
		reqbody_free(&rb);
	free(body);
}

void
proxy_chat_completions(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, CONFIG_PROTO_OPENAI);
}

void
proxy_messages(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, CONFIG_PROTO_ANTHROPIC);
}
