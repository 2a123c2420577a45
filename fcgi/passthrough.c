/* passthrough.c: /p/<provider>/<path>: any request passed to a provider's own API with a pooled key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounting.h"
#include "bounds.h"
#include "capbuf.h"
#include "crypto.h"
#include "db.h"
#include "failover.h"
#include "keylimit.h"
#include "keys.h"
#include "log.h"
#include "passpath.h"
#include "passthrough.h"
#include "prices.h"
#include "proxy_reply.h"
#include "ratelimit.h"
#include "refresh.h"
#include "reqjob.h"
#include "select.h"
#include "server.h"
#include "spool.h"
#include "upstream.h"
#include "usage.h"
#include "useragent.h"

/* Accounts one request may try; [routing] max_attempts is lowered to it. */
#define PASS_TRIED_MAX		64
/* The endpoint of every passthrough row (the path has a column of its own). */
#define PASS_ENDPOINT		"/p/"

/* One attempt's state, seen by the transport callbacks. */
struct pass_attempt {
	int		 status;	/* upstream status, 0 before the head */
	int		 held;		/* 1: a status another account may not give: its body
					   is kept (bounded) for the verdict, not relayed */
	int		 handed_off;	/* 1 once the head went to the client */
	int		 client_gone;	/* 1: the client went away */
	int		 json;		/* 1: a relayed answer announced as JSON */
	int		 body_failed;	/* 1: the client's body could not be read (again) */
	struct capbuf	 body;		/* held: the upstream's body */
	struct capbuf	 copy;		/* json: the answer's first bytes, for its usage */
};

/* One request through its phases: admit, then choose and attempt per account, relay, finish. */
struct pass_request {
	struct worker	*w;		/* borrowed */
	struct http_req	*r;		/* borrowed */
	const struct config *cfg;	/* borrowed */
	const struct config_provider *prov; /* the provider named in the path */
	unsigned	 proto;		/* CONFIG_PROTO_* its default auth follows */
	char		 upath[HTTP_PATH_MAX + 1]; /* upstream path, no query */
	char		*target;	/* upstream path and query, owned */
	int		 has_body;	/* 1: a request body goes upstream */
	int64_t		 upload_len;	/* its bytes, -1 = unknown (chunked) */
	struct spool	 sp;		/* the body, replayable */
	int64_t		 t0_us;		/* request start, monotonic us */
	int64_t		 t0;		/* the same in ms */
	int64_t		 overhead_us;	/* start to the first dispatch, -1 before */
	char		 ua[QP_USER_AGENT_MAX + 1]; /* User-Agent as kept */
	struct accounting_request req;	/* the request row */
	struct select_query q;		/* the last selection */
	struct select_result sel;	/* its answer */
	const char	*tried[PASS_TRIED_MAX]; /* accounts tried, borrowed from the config */
	int		 ntried;	/* entries in tried */
	int		 max_attempts;	/* [routing] max_attempts, at most PASS_TRIED_MAX */
	struct pass_attempt a;		/* the current attempt */
	struct upstream_res ures;	/* what the transport saw */
	int64_t		 att_t0;	/* monotonic ms the attempt began */
	enum qp_err	 xfer_err;	/* the transport's own error */
	char		*token;		/* refreshed token sent instead of the key, or NULL */
	int64_t		 token_version;	/* its version (refresh_token()) */
	enum qp_err	 refresh_err;	/* QP_OK, or why the account's token could not be had */
	char		 refresh_why[REFRESH_WHY_MAX + 1]; /* and what the refresh said */
	struct failover_verdict v;	/* the last attempt's verdict */
	struct accounting_attempt att;	/* its numbers */
	struct ratelimit_obs rl;	/* its rate-limit headers */
	struct usage	 usage;		/* the answer's usage, when JSON */
	struct prices_quote quote;	/* its price */
	struct accounting_final fin;	/* the request's end */
	struct reqjob	 job;		/* the database work of the current step */
	int		 done;		/* 1 once the request's end was recorded */
	char		 head[UPSTREAM_HEAD_MAX + 1]; /* upstream header lines relayed */
};

static int64_t
pass_mono_ms(void)
{

	return db_mono_us() / 1000;
}

/* Returns 1 for a status another account may answer otherwise: 401, 402, 403, 429, 5xx. */
static int
pass_retryable(int status)
{

	return status == 401 || status == 402 || status == 403 || status == 429 ||
	    status >= 500;
}

/* Returns 1 if a Content-Type value announces JSON. */
static int
pass_is_json(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	    (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	    strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/*
 * Copies into p->head the upstream header lines the client may see
 * (passpath_response_header(); Location only when absolute), each
 * "Name: value\r\n". raw is the transport's, bounded by UPSTREAM_HEAD_MAX.
 */
static void
pass_head_lines(struct pass_request *p, const struct upstream_head *h)
{
	const char *s = h->raw, *end = h->raw + h->raw_len, *eol, *colon, *v;
	size_t n = 0, ll;

	p->head[0] = '\0';
	for (; s < end; s = eol + 2) {
		if ((eol = strstr(s, "\r\n")) == NULL || eol > end)
			break;
		ll = (size_t)(eol - s);
		if ((colon = memchr(s, ':', ll)) == NULL ||
		    !passpath_response_header(s, (size_t)(colon - s)))
			continue;
		if ((size_t)(colon - s) == 8 && strncasecmp(s, "location", 8) == 0) {
			for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
				continue;
			if (!passpath_location_ok(v, (size_t)(eol - v)))
				continue;
		}
		if (n + ll + 2 >= sizeof(p->head))
			break;
		memcpy(p->head + n, s, ll + 2);
		n += ll + 2;
		p->head[n] = '\0';
	}
}

/* Sends the upstream's head to the client. 0, or -1 once the client is gone. */
static int
pass_begin(struct pass_request *p, const struct upstream_head *h)
{
	struct pass_attempt *a = &p->a;

	pass_head_lines(p, h);
	http_begin(p->r, h->status, h->content_type[0] != '\0' ? h->content_type : NULL,
	    p->head);
	a->handed_off = 1;
	a->json = pass_is_json(h->content_type);
	a->copy.max = QP_PASS_USAGE_MAX;
	if (http_flush(p->r) != 0) {
		a->client_gone = 1;
		return -1;
	}
	return 0;
}

/* Transport callback: the final head is in. Non-zero aborts. */
static int
pass_on_status(const struct upstream_head *head, void *arg)
{
	struct pass_request *p = arg;
	struct pass_attempt *a = &p->a;

	a->status = head->status;
	if (pass_retryable(head->status)) {
		a->held = 1;
		a->body.max = QP_UPSTREAM_ERRBODY_MAX;
		return 0;
	}
	/* Anything else is the answer: from here on there is no failing over. */
	return pass_begin(p, head) != 0;
}

/* Transport callback: a piece of the body. Non-zero aborts. */
static int
pass_on_data(const char *buf, size_t len, void *arg)
{
	struct pass_request *p = arg;
	struct pass_attempt *a = &p->a;

	if (a->held)
		return capbuf_add(&a->body, buf, len) != 0;
	if (http_write(p->r, buf, len) != 0 || http_flush(p->r) != 0) {
		a->client_gone = 1;
		return 1;
	}
	if (a->json && !a->copy.over && capbuf_add(&a->copy, buf, len) != 0)
		a->copy.over = 1;
	return 0;
}

/* Transport callback: at least every UPSTREAM_TICK_MS. Non-zero aborts. */
static int
pass_on_tick(void *arg)
{
	struct pass_request *p = arg;

	if (http_client_gone(p->r)) {
		p->a.client_gone = 1;
		return 1;
	}
	return 0;
}

/* Transport callback: the next bytes of the request body. */
static size_t
pass_on_read(char *buf, size_t len, void *arg)
{
	struct pass_request *p = arg;
	size_t n = spool_read(&p->sp, buf, len);

	if (n == SPOOL_ERROR) {
		p->a.body_failed = 1;
		return UPSTREAM_READ_ABORT;
	}
	return n;
}

/* Transport callback: curl sends the body again from off (a kept connection closed). */
static int
pass_on_rewind(int64_t off, void *arg)
{
	struct pass_request *p = arg;

	return spool_rewind(&p->sp, off);
}

/* Sends an error of the gateway's own, in the OpenAI shape, with Retry-After when retry_s > 0. */
static void
pass_fail(struct http_req *r, int status, const char *message, int64_t retry_s)
{
	const char *type = status == 429 ? "rate_limit_exceeded" : status == 404 ||
	    status == 400 || status == 403 ? "invalid_request_error" : "server_error";

	proxy_reply_error(r, status, type, message, retry_s);
}

/* ---- database jobs ---------------------------------------------------- */

/* Runs a job on the writer; logs what could not be recorded. */
static void
pass_batch(struct pass_request *p, enum qp_err (*fn)(const struct server_db *, void *),
    const char *what)
{

	if (server_batch(p->w->srv, fn, &p->job) != QP_OK)
		log_msg(LOG_ERROR, "request %s: cannot record %s", p->req.uid, what);
}

/* ---- admit ------------------------------------------------------------ */

/* Reads how the client's body comes: its length, or chunked, or none. */
static void
pass_body_plan(struct pass_request *p)
{
	const char *cl = http_param(p->r, "CONTENT_LENGTH");
	const char *te = http_param(p->r, "HTTP_TRANSFER_ENCODING");
	const char *m = p->r->method;
	char *end;
	long long n = -1;

	if (cl != NULL && cl[0] != '\0') {
		n = strtoll(cl, &end, 10);
		if (*end != '\0' || n < 0)
			n = -1;
	}
	p->upload_len = n;
	if (n > 0 || (n < 0 && te != NULL && te[0] != '\0'))
		p->has_body = 1;
	else if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    strcmp(m, "DELETE") != 0 && strcmp(m, "OPTIONS") != 0) {
		/* POST, PUT, PATCH... with an empty body: Content-Length: 0 upstream. */
		p->has_body = 1;
		p->upload_len = 0;
	}
}

/*
 * Admits the request: its provider and path, checked against the
 * provider's globs, the transport, and the request row's fields. Returns
 * 0 to go on, or -1 once the client was answered (no row is left).
 */
static int
pass_admit(struct pass_request *p)
{
	struct http_req *r = p->r;
	struct accounting_request *req = &p->req;
	char prov[PASSPATH_PROVIDER_MAX + 1], msg[256];
	const char *rest;
	size_t rest_len, ql;
	enum passpath_err perr;
	int64_t pid;

	perr = passpath_split(r->path, strlen(r->path), prov, &rest, &rest_len);
	if (perr == PASSPATH_UNSAFE) {
		pass_fail(r, 400, passpath_strerror(perr), 0);
		return -1;
	}
	if (perr != PASSPATH_OK) {
		pass_fail(r, 404, passpath_strerror(perr), 0);
		return -1;
	}
	if ((p->prov = config_provider(p->cfg, prov)) == NULL || !p->prov->enabled) {
		snprintf(msg, sizeof(msg), "No enabled provider '%s'", prov);
		pass_fail(r, 404, msg, 0);
		return -1;
	}
	memcpy(p->upath, rest, rest_len);
	p->upath[rest_len] = '\0';
	if (!passpath_allowed(p->prov->passthrough, p->prov->npassthrough, p->upath)) {
		snprintf(msg, sizeof(msg), "Provider '%s' does not pass this path through "
		    "(its passthrough globs do not match it)", prov);
		pass_fail(r, 404, msg, 0);
		return -1;
	}
	if (!passpath_method_ok(r->method)) {
		pass_fail(r, 400, "the request method is not an HTTP token", 0);
		return -1;
	}
	ql = strlen(r->query);
	if ((p->target = malloc(rest_len + 1 + ql + 1)) == NULL) {
		pass_fail(r, 503, "out of memory", 0);
		return -1;
	}
	snprintf(p->target, rest_len + 1 + ql + 1, "%s%s%s", p->upath, ql > 0 ? "?" : "",
	    r->query);
	p->proto = (p->prov->protocols & CONFIG_PROTO_ANTHROPIC) &&
	    !(p->prov->protocols & CONFIG_PROTO_OPENAI) ? CONFIG_PROTO_ANTHROPIC :
	    CONFIG_PROTO_OPENAI;
	if (p->w->up == NULL)
		p->w->up = upstream_new(p->w->srv->share);
	if (p->w->up == NULL) {
		pass_fail(r, 503, "the gateway is not ready", 0);
		return -1;
	}
	if ((pid = server_process_id(p->w->srv)) == 0) {
		pass_fail(r, 503, "the gateway is starting; retry in a second", 1);
		return -1;
	}
	if (accounting_request_init(req, pid, db_now_ms()) != QP_OK) {
		pass_fail(r, 503, "no randomness available", 0);
		return -1;
	}
	snprintf(r->uid, sizeof(r->uid), "%s", req->uid);
	pass_body_plan(p);
	spool_init(&p->sp, r->fr->in, p->cfg->server.state_dir);
	req->client_key_id = r->key_id;
	req->protocol = CONFIG_PROTO_OPENAI;
	req->endpoint = PASS_ENDPOINT;
	req->method = r->method;
	req->path = p->upath;
	req->client_ip = r->client_addr[0] != '\0' ? r->client_addr : NULL;
	req->client_family = useragent_family_name(useragent_of(r, p->ua, sizeof(p->ua)));
	req->user_agent = p->ua[0] != '\0' ? p->ua : NULL;
	return 0;
}

/* ---- choose ----------------------------------------------------------- */

static void	pass_relay(struct pass_request *);

/* After failovers no account is left: the last attempt's answer goes back, and the end is recorded. */
static void
pass_exhausted(struct pass_request *p)
{
	enum accounting_status st = ACCOUNTING_ERROR;

	pass_relay(p);
	if (p->a.client_gone)
		st = ACCOUNTING_CLIENT_DISCONNECTED;
	else if (p->v.outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
		st = ACCOUNTING_CLIENT_ERROR;
	accounting_final_init(&p->fin, st, p->r->status, db_now_ms());
	p->fin.bytes_out = p->r->bytes_out;
	p->fin.overhead_us = p->overhead_us;
	p->fin.total_ms = pass_mono_ms() - p->t0;
	p->fin.upstream_bytes = p->ures.timing.bytes_received;
	(void)http_flush(p->r);
	p->req.bytes_in = p->sp.read;
	p->job.sel = NULL;
	p->job.fin = &p->fin;
	pass_batch(p, reqjob_finish, "its end");
	p->done = 1;
}

/* Answers a request its key's limits refuse, and records it as rejected. */
static void
pass_key_refuse(struct pass_request *p)
{
	int64_t retry_s = 0;
	int st = p->job.key == KEYLIMIT_MODEL ? 403 : 429;

	if (p->job.key_retry_at > p->q.now)
		retry_s = (p->job.key_retry_at - p->q.now + 999) / 1000;
	pass_fail(p->r, st, p->job.key == KEYLIMIT_MODEL ? "This key's model globs do not "
	    "allow this passthrough path" : p->job.key == KEYLIMIT_BUDGET ? "This key's "
	    "budget is spent until the period resets" : "This key's rate limit is reached",
	    retry_s);
	accounting_final_init(&p->fin, ACCOUNTING_REJECTED, st, db_now_ms());
	p->fin.error_class = proxy_reply_key_class(p->job.key);
	p->fin.bytes_out = p->r->bytes_out;
	(void)http_flush(p->r);
	p->job.sel = NULL;
	p->job.fin = &p->fin;
	pass_batch(p, reqjob_finish, "its end");
	p->done = 1;
}

/* Answers a request no (further) account can take, and records its end. */
static void
pass_refuse(struct pass_request *p)
{
	const struct select_result *sel = &p->sel;
	const char *id = p->prov->id;
	int64_t retry_s = 0, now = p->q.now;
	int st = select_status_http(sel->status);
	char msg[256];

	switch (sel->status) {
	case SELECT_BACKOFF:
		retry_s = sel->retry_at > now ? (sel->retry_at - now + 999) / 1000 : 1;
		snprintf(msg, sizeof(msg), "Every account of provider '%s' is backing off after "
		    "rate limits, quota or upstream errors; retry in %lld s", id,
		    (long long)retry_s);
		break;
	case SELECT_AUTH:
		snprintf(msg, sizeof(msg), "Every account of provider '%s' had its credentials "
		    "refused", id);
		break;
	default:
		st = 503;
		snprintf(msg, sizeof(msg), "No enabled account with credentials of provider "
		    "'%s' is left to try", id);
		break;
	}
	pass_fail(p->r, st, msg, retry_s);
	accounting_final_init(&p->fin, ACCOUNTING_REJECTED, st, db_now_ms());
	p->fin.bytes_out = p->r->bytes_out;
	p->fin.overhead_us = p->overhead_us;
	(void)http_flush(p->r);
	p->req.bytes_in = p->sp.read;
	p->job.sel = &p->sel;
	p->job.fin = &p->fin;
	pass_batch(p, reqjob_finish, "its end");
	p->done = 1;
}

/*
 * Chooses the provider's next account not tried yet and opens its
 * attempt. Returns 1 to attempt, 0 once the client was answered.
 */
static int
pass_choose(struct pass_request *p)
{
	enum qp_err err;

	memset(&p->q, 0, sizeof(p->q));
	p->q.model = "";
	p->q.provider = p->prov->id;
	p->q.protocol = CONFIG_PROTO_OPENAI;
	p->q.tried = p->tried;
	p->q.ntried = p->ntried;
	p->q.now = db_now_ms();
	p->q.any_model = 1;
	p->job.req = &p->req;
	p->job.q = &p->q;
	p->job.sel = &p->sel;
	p->job.keymodel = p->r->path;
	p->job.keybase = p->r->path;
	if ((err = server_batch(p->w->srv, reqjob_choose, &p->job)) != QP_OK) {
		log_msg(LOG_ERROR, "request %s: cannot choose an account: %s", p->req.uid,
		    qp_strerror(err));
		pass_fail(p->r, 503, "the gateway's database is unavailable", 0);
		return 0;
	}
	if (p->job.key != KEYLIMIT_OK) {
		pass_key_refuse(p);
		return 0;
	}
	if (p->sel.status != SELECT_OK) {
		/* After failovers, the last upstream answer speaks for the request. */
		if (p->ntried > 0)
			pass_exhausted(p);
		else
			pass_refuse(p);
		return 0;
	}
	p->tried[p->ntried++] = p->sel.account->name;
	p->r->attempt_count = p->req.attempts;
	return 1;
}

/* ---- attempt ---------------------------------------------------------- */

/* Runs the transfer to the chosen account. Returns the transport's own error. */
static enum qp_err
pass_transfer(struct pass_request *p)
{
	const struct config_account *acct;
	struct config_account with_token;
	struct upstream_headers *hdrs;
	struct upstream_req ureq;
	enum qp_err err;

	memset(&p->ures, 0, sizeof(p->ures));
	p->att_t0 = pass_mono_ms();
	if (p->has_body && spool_rewind(&p->sp, 0) != 0) {
		p->a.body_failed = 1;
		return QP_OK;
	}
	/* An account that refreshes sends its current token instead of the configured key. */
	acct = p->sel.account;
	if (p->token != NULL) {
		with_token = *acct;
		with_token.api_key = p->token;
		acct = &with_token;
	}
	hdrs = upstream_headers_pass(p->sel.provider, acct, p->proto, p->r->fr->envp, &err);
	if (hdrs == NULL)
		return err;
	upstream_req_init(&ureq, p->cfg, p->sel.provider, p->sel.account);
	ureq.method = UPSTREAM_CUSTOM;
	ureq.custom = p->r->method;
	ureq.path = p->target;
	ureq.headers = hdrs;
	ureq.upload_len = p->upload_len;
	ureq.cb.on_status = pass_on_status;
	ureq.cb.on_data = pass_on_data;
	ureq.cb.on_tick = pass_on_tick;
	if (p->has_body) {
		ureq.cb.on_read = pass_on_read;
		ureq.cb.on_rewind = pass_on_rewind;
	}
	ureq.cb.arg = p;
	if (p->overhead_us < 0)
		p->overhead_us = db_mono_us() - p->t0_us;
	err = upstream_perform(p->w->up, &ureq, &p->ures);
	upstream_headers_free(hdrs);
	return err;
}

/* Masks every occurrence of secret in b (in place, same length): an echoed key is never relayed. */
static void
pass_redact(struct capbuf *b, const char *secret)
{
	size_t sl;
	char *hit, *s;

	if (secret == NULL || (sl = strlen(secret)) == 0 || b->p == NULL)
		return;
	for (s = b->p; (hit = memmem(s, b->len - (size_t)(s - b->p), secret, sl)) != NULL;
	    s = hit + sl)
		memset(hit, '*', sl);
}

/* Classifies the attempt into p->v and fills p->att. */
static void
pass_judge(struct pass_request *p)
{
	struct pass_attempt *a = &p->a;
	struct failover_verdict *v = &p->v;
	struct failover_input fi;

	/* The client's body broke off: the client is gone, not the account's fault. */
	if (a->body_failed && !a->handed_off)
		a->client_gone = 1;
	pass_redact(&a->body, p->sel.account->api_key);
	pass_redact(&a->body, p->token);
	memset(&fi, 0, sizeof(fi));
	/* A redirect or a 304 is an answer like a 2xx. */
	fi.status = a->status >= 300 && a->status < 400 ? 200 : a->status;
	fi.curl_code = p->ures.curl_code;
	fi.first_byte_timeout = p->ures.result == UPSTREAM_FIRST_BYTE_TIMEOUT;
	fi.client_gone = a->client_gone;
	fi.handed_off = a->handed_off;
	fi.stream_failed = a->handed_off && p->ures.result != UPSTREAM_OK && !a->client_gone;
	fi.retry_after = p->ures.head.retry_after[0] ? p->ures.head.retry_after : NULL;
	fi.retry_after_len = strlen(p->ures.head.retry_after);
	fi.body = a->held ? a->body.p : NULL;
	fi.body_len = a->held ? a->body.len : 0;
	fi.now = db_now_ms();
	failover_classify(&fi, v);
	v->status = a->status;
	if (p->refresh_err != QP_OK) {
		failover_token_verdict(v, p->refresh_err);
	} else if (p->xfer_err != QP_OK) {
		v->outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
		v->effect = FAILOVER_EFFECT_NONE;
		v->retry = 0;
	}
	memset(&p->att, 0, sizeof(p->att));
	p->att.ended_at = db_now_ms();
	p->att.connect_ms = p->ures.timing.connect_ms;
	p->att.first_byte_ms = p->ures.timing.first_byte_ms;
	p->att.bytes_sent = p->ures.timing.bytes_sent;
	p->att.bytes_received = p->ures.timing.bytes_received;
	p->att.upstream_request_id = p->ures.head.request_id[0] ? p->ures.head.request_id : NULL;
	ratelimit_parse(p->ures.head.raw, p->ures.head.raw_len, a->status >= 200 &&
	    a->status < 300, fi.now, &p->rl);
	p->job.att = &p->att;
	p->job.v = v;
	p->job.routing = &p->cfg->routing;
	p->job.rl = p->rl.nseen > 0 && p->xfer_err == QP_OK ? &p->rl : NULL;
	p->job.rl_account = p->sel.account->name;
	p->job.fin = NULL;
}

/*
 * For an account whose credentials refresh, puts the token to send in
 * p->token (stale: -1, or the version just refused; see refresh_token();
 * *ran, ran may be NULL, as server_account_token() says).
 * Returns 0; or -1 with p->refresh_err QP_EAUTH (the refresh failed) or
 * QP_ETIMEOUT (no token for another reason) and p->refresh_why set. Other
 * accounts: 0 and nothing changes.
 */
static int
pass_token(struct pass_request *p, int64_t stale, int *ran)
{

	crypto_free_secret(p->token);
	p->refresh_err = server_account_token(p->w->srv, p->req.uid, p->sel.provider,
	    p->sel.account, stale, &p->token, &p->token_version, p->refresh_why,
	    sizeof(p->refresh_why), ran);
	return p->refresh_err == QP_OK ? 0 : -1;
}

/* Clears the current attempt's state before a transfer. */
static void
pass_attempt_reset(struct pass_request *p)
{
	struct pass_attempt *a = &p->a;

	capbuf_free(&a->body);
	capbuf_free(&a->copy);
	memset(a, 0, sizeof(*a));
}

/*
 * One attempt on the chosen account: its token, the transfer and its
 * verdict. A refreshed token refused (401) before anything reached the
 * client is renewed and the request sent again (the body replayed from
 * the spool), while each renewal gives a newer token, within the bounds
 * of fcgi/refresh.h.
 */
static void
pass_attempt(struct pass_request *p)
{
	int n, ran, own = 0;

	pass_attempt_reset(p);
	p->xfer_err = QP_OK;
	if (pass_token(p, -1, NULL) != 0) {
		memset(&p->ures, 0, sizeof(p->ures));
		p->att_t0 = pass_mono_ms();
		pass_judge(p);
		return;
	}
	p->xfer_err = pass_transfer(p);
	for (n = 0; n < REFRESH_RENEWALS_MAX && own < REFRESH_OWN_MAX && p->token != NULL &&
	    p->xfer_err == QP_OK && p->a.status == 401 && !p->a.handed_off &&
	    !p->a.client_gone && (!p->has_body || spool_replayable(&p->sp)); n++) {
		log_msg(LOG_INFO, "request %s: account %s: token refused (401), renewing it",
		    p->req.uid, p->sel.account->name);
		if (pass_token(p, p->token_version, &ran) != 0)
			break;
		own += ran;
		pass_attempt_reset(p);
		p->xfer_err = pass_transfer(p);
	}
	pass_judge(p);
}

/*
 * After an attempt the client saw nothing of, whose verdict allows
 * another account while attempts are left and the body can be sent
 * again: records its end and returns 1. Otherwise 0: it is the last.
 */
static int
pass_failover(struct pass_request *p)
{
	const struct failover_verdict *v = &p->v;

	if (p->a.handed_off || p->a.client_gone || !v->retry || p->ntried >= p->max_attempts)
		return 0;
	if (p->has_body && !spool_replayable(&p->sp)) {
		log_msg(LOG_WARNING, "request %s: account %s failed (%s) but the request body "
		    "could not be kept in %s to be sent again: no failover", p->req.uid,
		    p->sel.account->name, v->error_class, p->cfg->server.state_dir);
		return 0;
	}
	pass_batch(p, reqjob_end, "an attempt's end");
	log_msg(LOG_INFO, "request %s: account %s failed (%s), failing over", p->req.uid,
	    p->sel.account->name, v->error_class[0] ? v->error_class :
	    failover_outcome_name(v->outcome));
	return 1;
}

/* ---- relay and finish ------------------------------------------------- */

/*
 * Gives the client the last attempt's answer when none went out yet: the
 * upstream's own (status, headers, body) when it was held whole, else an
 * error of the gateway's own saying why.
 */
static void
pass_relay(struct pass_request *p)
{
	struct pass_attempt *a = &p->a;
	const struct failover_verdict *v = &p->v;
	int64_t retry_s;
	char msg[256];
	int st;

	if (a->handed_off || a->client_gone)
		return;
	if (a->held && a->status > 0 && !a->body.over && p->ures.result == UPSTREAM_OK) {
		pass_head_lines(p, &p->ures.head);
		http_begin(p->r, a->status, p->ures.head.content_type[0] != '\0' ?
		    p->ures.head.content_type : NULL, p->head);
		(void)http_write(p->r, a->body.p != NULL ? a->body.p : "", a->body.len);
		return;
	}
	st = proxy_reply_status(v, p->ures.result, &retry_s);
	snprintf(msg, sizeof(msg), "%s %d account%s of provider '%s' tried failed (last: %s)",
	    p->ntried >= p->max_attempts ? "All" : "The", p->ntried, p->ntried == 1 ? "" : "s",
	    p->prov->id, v->error_class[0] ? v->error_class : failover_outcome_name(v->outcome));
	pass_fail(p->r, st, msg, retry_s);
}

/* Fills fin's tokens and cost from a JSON answer's usage object, if it had one. */
static void
pass_usage(struct pass_request *p, struct accounting_final *fin)
{
	const struct pass_attempt *a = &p->a;
	struct usage *u = &p->usage;
	enum cost_source src;
	struct cost c;

	usage_init(u, p->proto == CONFIG_PROTO_ANTHROPIC ? USAGE_PROTO_ANTHROPIC :
	    USAGE_PROTO_OPENAI, prices_bare_cost_usd(p->sel.provider));
	if (!a->json || a->copy.over || a->copy.len == 0 || a->status < 200 || a->status >= 300 ||
	    usage_body(u, a->copy.p, a->copy.len) != QP_OK)
		return;
	fin->input_tokens = u->input_tokens > 0 ? u->input_tokens : 0;
	fin->output_tokens = u->output_tokens > 0 ? u->output_tokens : 0;
	fin->cache_read_tokens = u->cache_read_tokens > 0 ? u->cache_read_tokens : 0;
	fin->cache_write_tokens = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;
	fin->reasoning_tokens = u->reasoning_tokens > 0 ? u->reasoning_tokens : 0;
	prices_quote(p->w->srv->prices, p->cfg, p->sel.provider, "", db_now_ms(), &p->quote);
	c = prices_cost(u, &p->quote, &src);
	fin->cost_microdollars = c.microdollars;
	fin->cost_exactness = cost_exactness_name(c.exactness);
	fin->price_source = cost_source_name(src);
}

/* Records the request's end with its last attempt, once the answer is out. */
static void
pass_finish(struct pass_request *p)
{
	const struct pass_attempt *a = &p->a;
	const struct failover_verdict *v = &p->v;
	struct accounting_final *fin = &p->fin;
	enum accounting_status st;

	if (a->client_gone)
		st = ACCOUNTING_CLIENT_DISCONNECTED;
	else if (v->outcome == FAILOVER_OUTCOME_OK && a->handed_off &&
	    p->ures.result == UPSTREAM_OK)
		st = ACCOUNTING_COMPLETED;
	else if (v->outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
		st = ACCOUNTING_CLIENT_ERROR;
	else
		st = ACCOUNTING_ERROR;
	accounting_final_init(fin, st, p->r->status, db_now_ms());
	pass_usage(p, fin);
	fin->connect_ms = p->ures.timing.connect_ms;
	fin->first_byte_ms = p->ures.timing.first_byte_ms >= 0 ?
	    p->att_t0 - p->t0 + p->ures.timing.first_byte_ms : -1;
	fin->total_ms = pass_mono_ms() - p->t0;
	fin->overhead_us = p->overhead_us;
	fin->bytes_out = p->r->bytes_out;
	fin->upstream_bytes = p->ures.timing.bytes_received;
	if (st == ACCOUNTING_ERROR && a->handed_off)
		fin->error_class = "stream_incomplete";
	if (!a->client_gone)
		(void)http_flush(p->r);
	p->req.bytes_in = p->sp.read;
	p->job.fin = fin;
	pass_batch(p, reqjob_end, "its end");
	p->done = 1;
}

/* Closes an attempt left open when the request's end could not be recorded otherwise. */
static void
pass_abandon(struct pass_request *p)
{

	if (p->done || !p->req.attempt_open)
		return;
	accounting_final_init(&p->fin, ACCOUNTING_ERROR, p->r->status, db_now_ms());
	memset(&p->att, 0, sizeof(p->att));
	p->att.ended_at = db_now_ms();
	p->att.connect_ms = p->att.first_byte_ms = -1;
	p->v.outcome = FAILOVER_OUTCOME_LOCAL_ERROR;
	p->job.att = &p->att;
	p->job.v = &p->v;
	p->job.routing = NULL;
	p->job.rl = NULL;
	p->job.fin = &p->fin;
	pass_batch(p, reqjob_end, "its end");
}

void
passthrough_handle(struct worker *w, struct http_req *r)
{
	struct pass_request *p;

	/* Its head buffer makes it too large for a worker's small stack. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		pass_fail(r, 503, "out of memory", 0);
		return;
	}
	p->w = w;
	p->r = r;
	p->cfg = w->cfg;
	p->job.cfg = w->cfg;
	p->job.cfg_gen = w->cfg_gen;
	p->t0_us = db_mono_us();
	p->t0 = p->t0_us / 1000;
	p->overhead_us = -1;
	p->sp.fd = -1;
	p->max_attempts = p->cfg->routing.max_attempts;
	if (p->max_attempts > PASS_TRIED_MAX)
		p->max_attempts = PASS_TRIED_MAX;
	if (pass_admit(p) == 0) {
		while (pass_choose(p)) {
			pass_attempt(p);
			if (pass_failover(p))
				continue;
			break;
		}
		if (!p->done && p->req.attempt_open) {
			pass_relay(p);
			pass_finish(p);
		}
		pass_abandon(p);
	}
	spool_free(&p->sp);
	crypto_free_secret(p->token);
	p->token = NULL;
	capbuf_free(&p->a.body);
	capbuf_free(&p->a.copy);
	free(p->job.detail);
	free(p->target);
	free(p);
}
