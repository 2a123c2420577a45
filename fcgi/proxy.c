/* proxy.c: the pooled data-plane endpoints, relayed (translated where needed) to accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounting.h"
#include "alias.h"
#include "bounds.h"
#include "cost.h"
#include "ctxlimit.h"
#include "db.h"
#include "endpoint.h"
#include "failover.h"
#include "json.h"
#include "keylimit.h"
#include "keys.h"
#include "log.h"
#include "prices.h"
#include "ratelimit.h"
#include "reqjob.h"
#include "proxy.h"
#include "proxy_int.h"
#include "proxy_reply.h"
#include "crypto.h"
#include "refresh.h"
#include "relay.h"
#include "reqbody.h"
#include "select.h"
#include "upstream.h"
#include "usage.h"
#include "useragent.h"
#include "workerjob.h"
#include "xlate.h"

/* What the replacement of a secret found in an upstream body reads. */
#define PROXY_REDACTED		"[redacted]"

/* What an upstream Content-Type announces. */
enum proxy_media {
	PROXY_MEDIA_NONE,	/* no Content-Type */
	PROXY_MEDIA_JSON,	/* application/json or application/...+json */
	PROXY_MEDIA_SSE,	/* text/event-stream */
	PROXY_MEDIA_OTHER,	/* anything else (text/html, text/plain, ...) */
	PROXY_MEDIA__MAX
};

static int64_t
proxy_mono_ms(void)
{

	return db_mono_us() / 1000;
}

/* Reads the media type of a Content-Type value (parameters ignored, any case). */
static enum proxy_media
proxy_media(const char *ctype)
{
	size_t n;

	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	n = strcspn(ctype, ";");
	while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
		n--;
	if (n == 0)
		return PROXY_MEDIA_NONE;
	if (n == 17 && strncasecmp(ctype, "text/event-stream", n) == 0)
		return PROXY_MEDIA_SSE;
	if (n == 16 && strncasecmp(ctype, "application/json", n) == 0)
		return PROXY_MEDIA_JSON;
	if (n > 17 && strncasecmp(ctype, "application/", 12) == 0 &&
	    strncasecmp(ctype + n - 5, "+json", 5) == 0)
		return PROXY_MEDIA_JSON;
	return PROXY_MEDIA_OTHER;
}

/* Returns 1 if buf (len bytes, NULL if empty) is a JSON text. */
static int
proxy_is_json(const char *buf, size_t len)
{
	cJSON *root;
	enum qp_err err;

	if (buf == NULL || len == 0)
		return 0;
	root = json_parse(buf, len, &err);
	cJSON_Delete(root);
	return root != NULL;
}

/*
 * Replaces every occurrence of secret (NULL or "" = none) in b with
 * PROXY_REDACTED, or with as many '*' when the secret is shorter than
 * that, so an upstream body that echoes the account's key is never
 * relayed, parsed or kept with it. Works in place: b only shrinks.
 */
static void
proxy_redact(struct capbuf *b, const char *secret)
{
	size_t sl, rl, in = 0, out = 0;
	const char *hit;

	if (secret == NULL || (sl = strlen(secret)) == 0 || b->len < sl)
		return;
	rl = strlen(PROXY_REDACTED);
	while ((hit = memmem(b->p + in, b->len - in, secret, sl)) != NULL) {
		size_t n = (size_t)(hit - (b->p + in));

		memmove(b->p + out, b->p + in, n);
		out += n;
		if (sl >= rl) {
			memcpy(b->p + out, PROXY_REDACTED, rl);
			out += rl;
		} else {
			memset(b->p + out, '*', sl);
			out += sl;
		}
		in += n + sl;
	}
	if (in == 0)
		return;
	memmove(b->p + out, b->p + in, b->len - in);
	b->len = out + (b->len - in);
	b->p[b->len] = '\0';
}

/* Relay sink: buffers bytes towards the client. */
static int
proxy_sink_write(void *arg, const char *buf, size_t len)
{

	return http_write(arg, buf, len);
}

/* Relay sink: pushes them to the web server. */
static int
proxy_sink_flush(void *arg)
{

	return http_flush(arg);
}

/* Names of the UPSTREAM_LONG_* bits, for the log. */
static const struct {
	unsigned	 bit;
	const char	*name;
} proxy_long_headers[] = {
	{ UPSTREAM_LONG_CONTENT_TYPE,	"Content-Type" },
	{ UPSTREAM_LONG_RETRY_AFTER,	"Retry-After" },
	{ UPSTREAM_LONG_REQUEST_ID,	"request id" },
};

/* Transport callback: the response head is complete. Non-zero aborts. */
static int
proxy_on_status(const struct upstream_head *head, void *arg)
{
	struct proxy_attempt *a = arg;
	struct relay_sink sink;
	size_t i;

	for (i = 0; i < sizeof(proxy_long_headers) / sizeof(proxy_long_headers[0]); i++)
		if (head->too_long & proxy_long_headers[i].bit)
			log_msg(LOG_WARNING, "request %s: the upstream's %s header is longer "
			    "than %d bytes: dropped", a->r->uid, proxy_long_headers[i].name,
			    UPSTREAM_VALUE_MAX);
	a->status = head->status;
	snprintf(a->ctype, sizeof(a->ctype), "%s", head->content_type);
	/* A body that is never relayed (a page from the gateway's origin) is drained. */
	a->bad_media = proxy_media(head->content_type) == PROXY_MEDIA_OTHER;
	if (a->status < 200 || a->status >= 300 || a->bad_media) {
		a->body.max = QP_UPSTREAM_ERRBODY_MAX;
		return 0;
	}
	a->body.max = (size_t)a->body_max;
	if (!a->stream || proxy_media(head->content_type) != PROXY_MEDIA_SSE)
		return 0;	/* a whole body: relayed once complete */

	/* The stream starts: from here on there is no failing over. */
	sink.write = proxy_sink_write;
	sink.flush = proxy_sink_flush;
	sink.arg = a->r;
	if (a->xc != NULL)
		a->relay = relay_new_xlate(&sink, &a->usage, a->xc, proxy_mono_ms());
	else
		a->relay = relay_new(&sink, &a->usage, a->show_usage, UPSTREAM_RECV_BUFFER,
		    proxy_mono_ms());
	if (a->relay == NULL)
		return 1;
	http_begin(a->r, a->status, "text/event-stream", "Cache-Control: no-cache\r\n");
	a->handed_off = 1;
	if (http_flush(a->r) != 0) {
		a->client_gone = 1;
		return 1;
	}
	return 0;
}

/* Notes how a relay call left the stream; returns non-zero to end the transfer. */
static int
proxy_relay_state(struct proxy_attempt *a, enum relay_state st)
{

	if (st == RELAY_CLIENT_GONE)
		a->client_gone = 1;
	else if (st == RELAY_BROKEN)
		a->stream_failed = 1;
	return st != RELAY_OK;
}

/* Transport callback: a piece of the body. Non-zero aborts. */
static int
proxy_on_data(const char *buf, size_t len, void *arg)
{
	struct proxy_attempt *a = arg;

	if (a->relay != NULL)
		return proxy_relay_state(a, relay_feed(a->relay, buf, len, proxy_mono_ms()));
	if (capbuf_add(&a->body, buf, len) != 0)
		return 1;
	/* An error body is drained; an oversized answer ends the attempt. */
	if (a->body.over && a->status >= 200 && a->status < 300 && !a->bad_media) {
		a->too_large = 1;
		return 1;
	}
	return 0;
}

/* Transport callback: at least every UPSTREAM_TICK_MS. Non-zero aborts. */
static int
proxy_on_tick(void *arg)
{
	struct proxy_attempt *a = arg;

	if (a->relay != NULL &&
	    proxy_relay_state(a, relay_tick(a->relay, proxy_mono_ms(), a->keepalive_ms)))
		return 1;
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

/*
 * Fills fin's token, cost and stream fields from what was observed, the
 * cost priced by q (which must outlive fin: price_ref points into it).
 */
static void
proxy_final_usage(struct accounting_final *fin, const struct usage *u,
    const struct prices_quote *q)
{
	enum cost_source src;
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
	c = prices_cost(u, q, &src);
	fin->cost_microdollars = c.microdollars;
	fin->cost_exactness = cost_exactness_name(c.exactness);
	fin->price_source = cost_source_name(src);
	fin->price_ref = src == COST_SOURCE_PROVIDER_REPORTED || src == COST_SOURCE_NONE ?
	    NULL : q->ref;
	if (u->finish_reason[0] != '\0')
		fin->finish_reason = u->finish_reason;
}

/* ---- admit ------------------------------------------------------------ */

/* Fills the request row's fields the client's request decides. */
static void
proxy_request_row(struct proxy_request *p)
{
	struct accounting_request *req = &p->req;

	req->client_key_id = p->r->key_id;
	req->protocol = p->ep->family;
	req->endpoint = p->ep->path;
	req->model = p->model;
	req->model_base = p->base;
	req->streamed = p->rb.stream;
	req->client_ip = p->r->client_addr[0] != '\0' ? p->r->client_addr : NULL;
	req->client_family = useragent_family_name(useragent_of(p->r, p->ua, sizeof(p->ua)));
	req->user_agent = p->ua[0] != '\0' ? p->ua : NULL;
	req->bytes_in = (int64_t)p->body_len;
	req->est_tokens = (int64_t)p->body_len / 3;
	if (req->est_tokens < 1000)
		req->est_tokens = 1000;
	if (req->est_tokens > 128000)
		req->est_tokens = 128000;
	req->est_microdollars = req->est_tokens * (p->price.input > 0 ? p->price.input :
	    COST_RESERVATION_RATE) / 1000000;
}

/* Returns 1 if member key of the body is there and not null. */
static int
proxy_given(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	return v != NULL && !cJSON_IsNull(v);
}

/*
 * Admits the request: a transport for the thread, the body read and
 * checked, the model split from its provider suffix and the request
 * row's fields (the body sent upstream depends on the account chosen).
 * Returns 0 to go on, or -1 once the client was answered (a request
 * refused here leaves no row).
 */
static int
proxy_admit(struct proxy_request *p)
{
	struct http_req *r = p->r;
	const char *why = NULL;
	int64_t pid;
	enum qp_err err;

	/* Idle threads hold no curl handles: the transport comes with the first use. */
	if (p->w->up == NULL)
		p->w->up = upstream_new(p->w->srv->share);
	if (p->w->up == NULL) {
		proxy_reply_fail(r, 503, "the gateway is not ready", 0);
		return -1;
	}
	err = http_read_body(r, (size_t)p->cfg->server.max_request_body_bytes, &p->body,
	    &p->body_len);
	if (err != QP_OK) {
		if (err == QP_ETOOBIG)
			proxy_reply_fail(r, 413, "Request body too large", 0);
		else if (err != QP_ECLOSED)
			proxy_reply_fail(r, 503, "out of memory", 0);
		return -1;
	}
	if (reqbody_parse(&p->rb, p->body, p->body_len, &why) != QP_OK) {
		proxy_reply_fail(r, 400, why != NULL ? why : "Invalid JSON", 0);
		return -1;
	}
	p->rb_ok = 1;
	p->stateful = p->ep->api == ENDPOINT_RESPONSES && (proxy_given(p->rb.root,
	    "previous_response_id") || proxy_given(p->rb.root, "conversation"));
	ctxlimit_estimate(p->rb.root, p->body_len, &p->need);
	snprintf(p->model, sizeof(p->model), "%s", p->rb.model);
	p->pinned = proxy_split_model(p->cfg, p->model, p->base, sizeof(p->base));
	proxy_price(p->cfg, p->base, &p->price);
	if ((pid = server_process_id(p->w->srv)) == 0) {
		/* Not registered yet: its rows would look abandoned. */
		proxy_reply_fail(r, 503, "the gateway is starting; retry in a second", 1);
		return -1;
	}
	if (accounting_request_init(&p->req, pid, db_now_ms()) != QP_OK) {
		proxy_reply_fail(r, 503, "no randomness available", 0);
		return -1;
	}
	snprintf(r->uid, sizeof(r->uid), "%s", p->req.uid);
	proxy_request_row(p);
	return 0;
}

/* ---- choose ----------------------------------------------------------- */

/* What proxy_choose() leaves to do. */
enum proxy_next {
	PROXY_ATTEMPT,		/* an account was chosen and its attempt opened */
	PROXY_STOP,		/* the client was answered: nothing more to try */
	PROXY_NEXT__MAX
};

/*
 * Records the end of a request refused with no attempt open, once its
 * answer (proxy_reply_refuse(), proxy_reply_key_refuse()) is out: p->fin,
 * and sel, the refusal to record, or NULL.
 */
static void
proxy_refused(struct proxy_request *p, struct select_result *sel)
{

	/* The answer is out before the bookkeeping. */
	(void)http_flush(p->r);
	p->job.sel = sel;
	p->job.fin = &p->fin;
	if (server_batch(p->w->srv, reqjob_finish, &p->job) != QP_OK)
		log_msg(LOG_ERROR, "request %s: cannot record its end", p->req.uid);
	p->done = 1;
}


/*
 * Runs one selection for p->base (and p->pinned) among the accounts not
 * tried for it yet, opening the attempt when one is chosen. Returns its
 * status, or SELECT__MAX when the database failed or the key's limits
 * refused the request (p->job.key says which).
 */
static enum select_status
proxy_select(struct proxy_request *p)
{
	enum qp_err err;

	memset(&p->q, 0, sizeof(p->q));
	p->q.model = p->base;
	p->q.provider = p->pinned != NULL ? p->pinned->id : NULL;
	p->q.protocol = p->ep->proto;
	p->q.via = p->stateful ? 0 : p->ep->via;
	p->q.tried = p->tried + p->tried_from;
	p->q.ntried = p->ntried - p->tried_from;
	p->q.now = db_now_ms();
	p->q.alias = p->route.alias != NULL ? p->route.alias->pattern : NULL;
	p->q.target = alias_route_target(&p->route);
	p->q.need = &p->need;
	p->job.req = &p->req;
	p->job.q = &p->q;
	p->job.sel = &p->sel;
	p->job.keymodel = p->model;
	p->job.keybase = p->q.model;
	p->job.workers = 1;
	if ((err = server_batch(p->w->srv, reqjob_choose, &p->job)) != QP_OK) {
		log_msg(LOG_ERROR, "request %s: cannot choose an account: %s", p->req.uid,
		    qp_strerror(err));
		return SELECT__MAX;
	}
	return p->job.key != KEYLIMIT_OK ? SELECT__MAX : p->sel.status;
}

/*
 * Makes target (an alias's model id) the model of the next selections:
 * its base id (sent upstream by proxy_prepare()), pinned provider and
 * prices.
 */
static void
proxy_target(struct proxy_request *p, const char *target)
{
	struct accounting_request *req = &p->req;

	p->pinned = proxy_split_model(p->cfg, target, p->base, sizeof(p->base));
	proxy_price(p->cfg, p->base, &p->price);
	req->alias_target = target;
	req->est_microdollars = req->est_tokens * (p->price.input > 0 ? p->price.input :
	    COST_RESERVATION_RATE) / 1000000;
}

/* alias_try_fn: one selection for an alias's target (the accounts tried before are its own). */
static enum select_status
proxy_try_target(void *arg, const char *target, int fresh, int64_t *retry_at)
{
	struct proxy_request *p = arg;
	enum select_status st;

	if (fresh) {
		p->tried_from = p->ntried;
		proxy_target(p, target);
	}
	st = proxy_select(p);
	*retry_at = p->sel.retry_at;
	return st;
}

/*
 * Chooses the next account among those not tried yet and opens its
 * attempt, or answers the client with why there is none (and records
 * the request's end) or with a 503 when the database fails. A model no
 * provider serves that matches an alias is routed to the alias's
 * models, the next when every account of one is unavailable.
 */
static enum proxy_next
proxy_choose(struct proxy_request *p)
{
	const struct config_alias *al;
	enum select_status st = SELECT_NO_MODEL;
	int64_t retry_at;

	if (p->route.alias == NULL) {
		st = proxy_select(p);
		if (st == SELECT_NO_MODEL && p->ntried == 0 &&
		    (al = alias_find(p->cfg, p->model)) != NULL) {
			alias_route_init(&p->route, al);
			p->req.alias = al->pattern;
		}
	}
	if (p->route.alias != NULL) {
		st = alias_choose(&p->route, proxy_try_target, p, &retry_at);
		if (st != SELECT_OK && st != SELECT__MAX) {
			/* The most telling refusal of the list answers for it. */
			p->sel.status = st;
			p->sel.retry_at = retry_at;
		}
	}
	if (st == SELECT__MAX && p->job.key != KEYLIMIT_OK) {
		proxy_reply_key_refuse(p);
		proxy_refused(p, NULL);
		return PROXY_STOP;
	}
	if (st == SELECT__MAX) {
		proxy_reply_fail(p->r, 503, "the gateway's database is unavailable", 0);
		p->final_status = 503;
		return PROXY_STOP;
	}
	if (st != SELECT_OK) {
		proxy_reply_refuse(p);
		proxy_refused(p, p->ntried == 0 ? &p->sel : NULL);
		return PROXY_STOP;
	}
	p->tried[p->ntried++] = p->sel.account->name;
	p->r->attempt_count = p->req.attempts;
	return PROXY_ATTEMPT;
}

/* ---- attempt ---------------------------------------------------------- */

/* Empties the transport state for an attempt on the account just chosen. */
static void
proxy_attempt_reset(struct proxy_request *p)
{
	struct proxy_attempt *a = &p->a;

	relay_free(a->relay);
	capbuf_free(&a->body);
	memset(a, 0, sizeof(*a));
	a->r = p->r;
	a->stream = p->rb.stream;
	a->show_usage = p->rb.include_usage || p->plan.usage != USAGE_PROTO_OPENAI;
	a->xc = p->plan.translated ? &p->xc : NULL;
	a->keepalive_ms = p->cfg->upstream.keepalive_interval_ms;
	a->body_max = p->cfg->upstream.max_response_body_bytes;
	a->ttft = -1;
	a->body.max = QP_UPSTREAM_ERRBODY_MAX;
	usage_init(&a->usage, p->plan.usage, prices_bare_cost_usd(p->sel.provider));
}

/*
 * Runs the transfer to the chosen account; a stream is relayed by the
 * callbacks as it arrives. Returns the transport's own error (QP_OK
 * when the attempt ran, however it ended).
 */
static enum qp_err
proxy_transfer(struct proxy_request *p)
{
	const struct config_account *acct;
	struct config_account with_token;
	struct upstream_headers *hdrs;
	struct upstream_req ureq;
	struct workerjob_spec spec;
	enum qp_err err;

	memset(&p->ures, 0, sizeof(p->ures));
	/* An account that refreshes sends its current token instead of the configured key. */
	acct = p->sel.account;
	if (p->token != NULL) {
		with_token = *acct;
		with_token.api_key = p->token;
		acct = &with_token;
	}
	/* A translated request carries none of the client's protocol headers. */
	hdrs = upstream_headers_new(p->sel.provider, acct, p->plan.upstream,
	    p->plan.translated ? NULL : p->r->fr->envp, &err);
	if (hdrs == NULL)
		return err;
	upstream_req_init(&ureq, p->cfg, p->sel.provider, p->sel.account);
	ureq.path = p->plan.path;
	ureq.headers = hdrs;
	ureq.body = p->upbody != NULL ? p->upbody : p->body;
	ureq.body_len = p->upbody != NULL ? p->up_len : p->body_len;
	/* Whole bodies are bounded here; a stream is not cut at any length. */
	ureq.max_body = 0;
	ureq.cb.on_status = proxy_on_status;
	ureq.cb.on_data = proxy_on_data;
	ureq.cb.on_tick = proxy_on_tick;
	ureq.cb.arg = &p->a;
	if (p->overhead_us < 0)
		p->overhead_us = db_mono_us() - p->t0_us;
	p->att_t0 = proxy_mono_ms();
	if (p->sel.provider->workers) {
		/* A remote worker's attempt: the same callbacks, fed from its result POSTs. */
		spec.request_id = p->req.id;
		spec.attempt = p->req.attempts;
		spec.model = p->base;
		spec.stream = p->rb.stream;
		err = workerjob_perform(p->w, p->sel.account, &spec, &ureq, &p->ures);
	} else
		err = upstream_perform(p->w->up, &ureq, &p->ures);
	upstream_headers_free(hdrs);
	return err;
}

/*
 * Looks at what a whole body is, once complete: the account's key is cut
 * out before anything reads it, and a success without a Content-Type is
 * an answer only if it is JSON.
 */
static void
proxy_examine(struct proxy_request *p, enum qp_err err)
{
	struct proxy_attempt *a = &p->a;

	if (a->relay != NULL) {
		/* A translated stream gets its closing events (or an error event). */
		if (!a->client_gone && relay_finish(a->relay, err == QP_OK &&
		    p->ures.result == UPSTREAM_OK, proxy_mono_ms()) != QP_OK &&
		    relay_state(a->relay) == RELAY_CLIENT_GONE)
			a->client_gone = 1;
		return;
	}
	if (a->body.len > 0) {
		proxy_redact(&a->body, p->sel.account->api_key);
		proxy_redact(&a->body, p->token);
	}
	if (!a->bad_media && a->status >= 200 && err == QP_OK &&
	    p->ures.result == UPSTREAM_OK && proxy_media(a->ctype) == PROXY_MEDIA_NONE &&
	    !proxy_is_json(a->body.p, a->body.len))
		a->bad_media = 1;
}

/* Classifies the attempt into p->v, and fills p->att with its numbers. */
static void
proxy_judge(struct proxy_request *p, enum qp_err err)
{
	struct proxy_attempt *a = &p->a;
	struct failover_verdict *v = &p->v;
	struct failover_input fi;

	/* A stream that ended without its terminator failed (never faked). */
	if (a->relay != NULL && !a->client_gone && (!a->usage.done || a->usage.error))
		a->stream_failed = 1;
	memset(&fi, 0, sizeof(fi));
	fi.status = a->status;
	fi.curl_code = p->ures.curl_code;
	fi.first_byte_timeout = p->ures.result == UPSTREAM_FIRST_BYTE_TIMEOUT;
	fi.client_gone = a->client_gone;
	fi.handed_off = a->handed_off;
	fi.stream_failed = a->stream_failed || (a->handed_off &&
	    p->ures.result != UPSTREAM_OK && !a->client_gone);
	fi.retry_after = p->ures.head.retry_after[0] ? p->ures.head.retry_after : NULL;
	fi.retry_after_len = strlen(p->ures.head.retry_after);
	fi.body = a->status >= 400 ? a->body.p : NULL;
	fi.body_len = a->status >= 400 ? a->body.len : 0;
	fi.now = db_now_ms();
	failover_classify(&fi, v);
	if (p->refresh_err != QP_OK) {
		failover_token_verdict(v, p->refresh_err);
	} else if (p->reject_status != 0) {
		/* Refused before the transfer: the client's request, or the gateway's own fault. */
		v->outcome = p->reject_status == 400 ? FAILOVER_OUTCOME_CLIENT_ERROR :
		    FAILOVER_OUTCOME_LOCAL_ERROR;
		v->category = FAILOVER_CAT_NEVER;
		v->effect = FAILOVER_EFFECT_NONE;
		v->retry = 0;
		snprintf(v->error_class, sizeof(v->error_class), "%s", p->reject_status == 400 ?
		    "translation_refused" : "local_error");
	} else if (err != QP_OK) {
		/* quotapool's own failure: not the account's fault, no retry. */
		v->outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
		v->effect = FAILOVER_EFFECT_NONE;
		v->retry = 0;
	} else if (a->too_large) {
		/* Too large for the gateway, not the account's fault: no backoff, no retry. */
		v->outcome = FAILOVER_OUTCOME_TRANSIENT;
		v->category = FAILOVER_CAT_NEVER;
		v->effect = FAILOVER_EFFECT_NONE;
		v->retry = 0;
		snprintf(v->error_class, sizeof(v->error_class), "response_too_large");
	} else if (a->bad_media && v->outcome == FAILOVER_OUTCOME_OK) {
		/* A success that is not an answer (an HTML page): the account misbehaves. */
		v->outcome = FAILOVER_OUTCOME_TRANSIENT;
		v->category = FAILOVER_CAT_TRANSIENT;
		v->effect = FAILOVER_EFFECT_TRANSIENT;
		v->retry = 1;
		snprintf(v->error_class, sizeof(v->error_class), "bad_content_type");
	}

	memset(&p->att, 0, sizeof(p->att));
	p->att.ended_at = db_now_ms();
	p->att.connect_ms = p->ures.timing.connect_ms;
	p->att.first_byte_ms = p->ures.timing.first_byte_ms;
	p->att.bytes_sent = p->ures.timing.bytes_sent;
	p->att.bytes_received = p->ures.timing.bytes_received;
	p->att.upstream_request_id = p->ures.head.request_id[0] ?
	    p->ures.head.request_id : NULL;
	p->job.att = &p->att;
	p->job.v = v;
	ratelimit_parse(p->ures.head.raw, p->ures.head.raw_len, a->status >= 200 &&
	    a->status < 300, fi.now, &p->rl);
	p->job.rl = p->rl.nseen > 0 && p->reject_status == 0 && err == QP_OK ? &p->rl : NULL;
	if (p->ures.head.raw_truncated)
		log_msg(LOG_WARNING, "request %s: upstream header lines past %d bytes dropped: "
		    "rate-limit headers among them were not read", p->req.uid, UPSTREAM_HEAD_MAX);
	if (p->rl.junk != 0)
		log_msg(LOG_WARNING, "request %s: an upstream rate-limit header did not parse "
		    "(0x%x): ignored", p->req.uid, p->rl.junk);
	p->job.rl_account = p->sel.account->name;
	p->job.rl_model = p->base;
	/* A provider without token counting is no reason to back its account off. */
	p->job.routing = p->ep->api == ENDPOINT_COUNT_TOKENS ? NULL : &p->cfg->routing;
	p->job.fin = NULL;
}

/*
 * Plans how the attempt reaches the chosen provider and makes the body
 * it is sent: the client's own (model and usage options set) or its
 * translation. Returns 0, or -1 with reject_status and reject_msg set
 * (a request the translation refuses is the client's 400).
 */
static int
proxy_prepare(struct proxy_request *p)
{
	const struct endpoint *ep = p->ep;
	enum qp_err err;
	char *client_model;

	free(p->upbody);
	p->upbody = NULL;
	p->up_len = 0;
	if (endpoint_plan(ep, p->sel.provider, p->sel.served, &p->plan) != 0) {
		p->reject_status = 502;
		snprintf(p->reject_msg, sizeof(p->reject_msg), "Provider '%s' cannot be reached "
		    "for %s", p->sel.provider->id, ep->path);
		return -1;
	}
	if (!p->plan.translated) {
		err = reqbody_upstream(&p->rb, p->base, ep->want_usage &&
		    p->plan.usage == USAGE_PROTO_OPENAI, &p->upbody, &p->up_len);
		goto out;
	}
	xlate_ctx_init(&p->xc);
	/* A translated max_tokens is lowered to what the model may answer there. */
	p->xc.max_output = p->sel.limit.output;
	err = xlate_request(&p->xc, p->plan.dir, p->rb.root, p->base, endpoint_loss(p->cfg),
	    db_now_ms() / 1000, &p->upbody, &p->up_len);
	if (err == QP_EINVAL) {
		p->reject_status = 400;
		snprintf(p->reject_msg, sizeof(p->reject_msg), "%s", p->xc.why);
		return -1;
	}
	if (err != QP_OK)
		goto out;
	/* The answer names the model as the client did, even after an earlier attempt. */
	if ((client_model = strdup(p->model)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	free(p->xc.client_model);
	p->xc.client_model = client_model;
	if (xlate_client_api(p->plan.dir) == XLATE_API_CHAT)
		p->xc.include_usage = p->rb.include_usage;
out:
	if (err != QP_OK) {
		p->reject_status = 503;
		snprintf(p->reject_msg, sizeof(p->reject_msg), "out of memory");
		return -1;
	}
	return 0;
}

/*
 * For an account whose credentials refresh, puts the token to send in
 * p->token (stale as refresh_token() takes it: -1, or the version just
 * refused; *ran, ran may be NULL, as server_account_token() says).
 * Returns 0; or -1 with p->refresh_why set and p->refresh_err
 * QP_EAUTH (the refresh failed) or QP_ETIMEOUT (no token for another
 * reason: a refresh elsewhere not finished in time, the database) when
 * there is none; the attempt then fails without a transfer. Other
 * accounts: 0 and nothing changes.
 */
static int
proxy_token(struct proxy_request *p, int64_t stale, int *ran)
{

	crypto_free_secret(p->token);
	p->refresh_err = server_account_token(p->w->srv, p->req.uid, p->sel.provider,
	    p->sel.account, stale, &p->token, &p->token_version, p->refresh_why,
	    sizeof(p->refresh_why), ran);
	return p->refresh_err == QP_OK ? 0 : -1;
}

/*
 * One attempt on the chosen account: its plan and body, the transfer,
 * what its body is, and the verdict (how it ended, what it does to the
 * account, whether another account may be tried). p->xfer_err keeps the
 * transport's own error.
 */
static void
proxy_attempt(struct proxy_request *p)
{
	int n, ran, own = 0;

	p->reject_status = 0;
	p->refresh_err = QP_OK;
	xlate_ctx_free(&p->xc);
	p->xfer_err = QP_OK;
	if (proxy_prepare(p) != 0 || proxy_token(p, -1, NULL) != 0) {
		proxy_attempt_reset(p);
		memset(&p->ures, 0, sizeof(p->ures));
		p->att_t0 = proxy_mono_ms();
	} else {
		proxy_attempt_reset(p);
		p->xfer_err = proxy_transfer(p);
		/*
		 * A token refused before anything reached the client: renewed and
		 * sent again, while each renewal gives a newer token (another
		 * request may have used up the one just renewed), within the
		 * bounds of fcgi/refresh.h.
		 */
		for (n = 0; n < REFRESH_RENEWALS_MAX && own < REFRESH_OWN_MAX && p->token != NULL &&
		    p->xfer_err == QP_OK && p->a.status == 401 && !p->a.handed_off &&
		    !p->a.client_gone; n++) {
			log_msg(LOG_INFO, "request %s: account %s: token refused (401), renewing it",
			    p->req.uid, p->sel.account->name);
			if (proxy_token(p, p->token_version, &ran) != 0)
				break;
			own += ran;
			proxy_attempt_reset(p);
			p->xfer_err = proxy_transfer(p);
		}
		if (p->refresh_err == QP_OK)
			proxy_examine(p, p->xfer_err);
	}
	proxy_judge(p, p->xfer_err);
}

/*
 * After an attempt the client saw nothing of, whose verdict allows
 * another account while attempts are left: records its end and returns
 * 1. Otherwise returns 0: the attempt is the last one.
 */
static int
proxy_failover(struct proxy_request *p)
{
	const struct failover_verdict *v = &p->v;

	if (p->a.handed_off || p->a.client_gone || !v->retry || p->ntried >= p->max_attempts)
		return 0;
	if (server_batch(p->w->srv, reqjob_end, &p->job) != QP_OK)
		log_msg(LOG_ERROR, "request %s: cannot record attempt end", p->req.uid);
	log_msg(LOG_INFO, "request %s: account %s failed (%s), failing over", p->req.uid,
	    p->sel.account->name, v->error_class[0] ? v->error_class :
	    failover_outcome_name(v->outcome));
	return 1;
}

/* ---- relay ------------------------------------------------------------ */


/* Gives the client a whole answer translated into its API, or a 502 when it cannot be. */
static void
proxy_reply_translated(struct proxy_request *p)
{
	struct proxy_attempt *a = &p->a;
	char *out = NULL;
	size_t n;
	enum qp_err err;

	err = xlate_response(&p->xc, a->body.p != NULL ? a->body.p : "", a->body.len, &out, &n);
	if (err != QP_OK) {
		log_msg(LOG_WARNING, "request %s: the answer of provider %s cannot be translated "
		    "(%s): %s", p->req.uid, p->sel.provider->id, xlate_dir_name(p->plan.dir),
		    qp_strerror(err));
		p->untranslatable = 1;
		proxy_reply_fail(p->r, err == QP_ENOMEM ? 503 : 502, "The provider's answer "
		    "could not be translated into this API", 0);
		return;
	}
	a->ttft = proxy_mono_ms() - p->t0;
	http_reply(p->r, a->status, "application/json", out, n);
	a->handed_off = 1;
	free(out);
}

/*
 * Gives the client the answer of the last attempt, unless a stream went
 * out already or the client left: a whole success or a client error as
 * the provider sent it, else an error of the gateway's own in the
 * client's protocol family.
 */
static void
proxy_relay(struct proxy_request *p)
{
	struct proxy_attempt *a = &p->a;
	struct http_req *r = p->r;

	if (a->handed_off || a->client_gone)
		return;
	if (p->reject_status != 0) {
		proxy_reply_fail(r, p->reject_status, p->reject_msg, 0);
		return;
	}
	if (a->relay == NULL && p->xfer_err == QP_OK && !a->bad_media &&
	    p->ures.result == UPSTREAM_OK && a->status >= 200 && a->status < 300) {
		/* A whole answer (not a stream) is relayed only now. */
		usage_body(&a->usage, a->body.p != NULL ? a->body.p : "", a->body.len);
		if (a->xc != NULL) {
			proxy_reply_translated(p);
			return;
		}
		if (a->body.len > 0)
			a->ttft = proxy_mono_ms() - p->t0;
		http_reply(r, a->status, a->ctype[0] ? a->ctype : "application/json",
		    a->body.p != NULL ? a->body.p : "", a->body.len);
		a->handed_off = 1;
		return;
	}
	proxy_reply_last(p);
}

/* ---- finish ----------------------------------------------------------- */

/*
 * Notes in fin the translation the last attempt went through and what
 * it could not express, which is also logged (reasons name fields, never
 * their contents).
 */
static void
proxy_translation(struct proxy_request *p, struct accounting_final *fin)
{
	struct xlate_warn w;
	const struct xlate_warn *sw;

	if (!p->plan.translated)
		return;
	w = p->xc.warn;
	if (p->a.relay != NULL && (sw = relay_warn(p->a.relay)) != NULL)
		xlate_warn_merge(&w, sw);
	fin->translation = xlate_dir_name(p->plan.dir);
	fin->translation_warnings = w.count;
	if (w.count > 0)
		log_msg(LOG_WARNING, "request %s: translated %s for provider %s: %u part%s the "
		    "provider's API cannot express: %s", p->req.uid, fin->translation,
		    p->sel.provider->id, w.count, w.count == 1 ? "" : "s", w.text);
}

/* Records the request's end with its last attempt, once the answer is out. */
static void
proxy_finish(struct proxy_request *p)
{
	const struct proxy_attempt *a = &p->a;
	const struct failover_verdict *v = &p->v;
	struct accounting_final *fin = &p->fin;
	enum accounting_status st;
	int64_t ttft = a->ttft;

	p->final_status = p->r->status;
	if (a->client_gone)
		st = ACCOUNTING_CLIENT_DISCONNECTED;
	else if (p->estimated || (v->outcome == FAILOVER_OUTCOME_OK && a->handed_off &&
	    !a->stream_failed))
		st = ACCOUNTING_COMPLETED;
	else if (v->outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
		st = ACCOUNTING_CLIENT_ERROR;
	else
		st = ACCOUNTING_ERROR;
	if (a->relay != NULL && a->usage.first_token_at >= 0)
		ttft = a->usage.first_token_at - p->t0;
	accounting_final_init(fin, st, p->final_status, db_now_ms());
	prices_quote(p->w->srv->prices, p->cfg, p->sel.provider, p->base, db_now_ms(), &p->quote);
	proxy_final_usage(fin, &a->usage, &p->quote);
	fin->stream_complete = a->relay != NULL ? (a->usage.done && !a->usage.error) : -1;
	fin->connect_ms = p->ures.timing.connect_ms;
	fin->first_byte_ms = p->ures.timing.first_byte_ms >= 0 ?
	    p->att_t0 - p->t0 + p->ures.timing.first_byte_ms : -1;
	fin->ttft_ms = ttft;
	fin->total_ms = proxy_mono_ms() - p->t0;
	fin->overhead_us = p->overhead_us;
	fin->bytes_out = p->r->bytes_out;
	fin->upstream_bytes = p->ures.timing.bytes_received;
	if (a->stream_failed && st == ACCOUNTING_ERROR)
		fin->error_class = "stream_incomplete";
	if (p->untranslatable && st == ACCOUNTING_ERROR)
		fin->error_class = "untranslatable_answer";
	proxy_translation(p, fin);
	/* The answer is out before the bookkeeping. */
	if (!a->client_gone)
		(void)http_flush(p->r);
	p->job.fin = fin;
	if (server_batch(p->w->srv, reqjob_end, &p->job) != QP_OK)
		log_msg(LOG_ERROR, "request %s: cannot record its end", p->req.uid);
	p->done = 1;
}

/* Closes an attempt left open when the request's end could not be recorded otherwise. */
static void
proxy_abandon(struct proxy_request *p)
{

	if (p->done || !p->req.attempt_open)
		return;
	accounting_final_init(&p->fin, ACCOUNTING_ERROR, p->final_status, db_now_ms());
	memset(&p->att, 0, sizeof(p->att));
	p->att.ended_at = db_now_ms();
	p->att.connect_ms = p->att.first_byte_ms = -1;
	p->v.outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
	p->job.att = &p->att;
	p->job.v = &p->v;
	p->job.routing = NULL;
	p->job.fin = &p->fin;
	if (server_batch(p->w->srv, reqjob_end, &p->job) != QP_OK)
		log_msg(LOG_ERROR, "request %s: cannot record its end", p->req.uid);
}

/* ---- the request ------------------------------------------------------ */

static void
proxy_request_init(struct proxy_request *p, struct worker *w, struct http_req *r,
    enum endpoint_api api)
{

	memset(p, 0, sizeof(*p));
	p->w = w;
	p->r = r;
	p->cfg = w->cfg;
	p->job.cfg = w->cfg;
	p->job.cfg_gen = w->cfg_gen;
	p->ep = endpoint_get(api);
	p->t0_us = db_mono_us();
	p->t0 = p->t0_us / 1000;
	p->overhead_us = -1;
	p->max_attempts = p->cfg->routing.max_attempts;
	if (p->max_attempts > PROXY_TRIED_MAX)
		p->max_attempts = PROXY_TRIED_MAX;
}

static void
proxy_request_free(struct proxy_request *p)
{

	free(p->job.detail);
	relay_free(p->a.relay);
	capbuf_free(&p->a.body);
	free(p->upbody);
	crypto_free_secret(p->token);
	xlate_ctx_free(&p->xc);
	if (p->rb_ok)
		reqbody_free(&p->rb);
	free(p->body);
}

/* The whole request, for any API: its phases in order. */
static void
proxy_handle(struct worker *w, struct http_req *r, enum endpoint_api api)
{
	struct proxy_request p;

	proxy_request_init(&p, w, r, api);
	if (proxy_admit(&p) == 0) {
		while (proxy_choose(&p) == PROXY_ATTEMPT) {
			proxy_attempt(&p);
			if (proxy_failover(&p))
				continue;
			proxy_relay(&p);
			proxy_finish(&p);
			break;
		}
		proxy_abandon(&p);
	}
	proxy_request_free(&p);
}

void
proxy_chat_completions(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_CHAT);
}

void
proxy_messages(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_MESSAGES);
}

void
proxy_responses(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_RESPONSES);
}

void
proxy_embeddings(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_EMBEDDINGS);
}

void
proxy_completions(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_COMPLETIONS);
}

void
proxy_count_tokens(struct worker *w, struct http_req *r)
{

	proxy_handle(w, r, ENDPOINT_COUNT_TOKENS);
}
