/* proxy_reply.c: the pooled data plane's own error answers and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounting.h"
#include "alias.h"
#include "ctxlimit.h"
#include "db.h"
#include "endpoint.h"
#include "failover.h"
#include "http.h"
#include "keylimit.h"
#include "proxy_int.h"
#include "proxy_reply.h"
#include "select.h"
#include "upstream.h"
#include "xlate.h"

void
proxy_reply_error(struct http_req *r, int status, const char *type, const char *message,
    int64_t retry_s)
{
	char extra[64];

	if (retry_s > 0) {
		snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n", (long long)retry_s);
		http_error_ex(r, status, type, message, extra);
	} else
		http_error(r, status, type, message);
}

void
proxy_reply_fail(struct http_req *r, int status, const char *message, int64_t retry_s)
{
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
	proxy_reply_error(r, status, type, message, retry_s);
}

int
proxy_reply_status(const struct failover_verdict *v, enum upstream_result result,
    int64_t *retry_s)
{
	int st = 502;

	*retry_s = 0;
	if (v->outcome == FAILOVER_OUTCOME_RATE_LIMITED ||
	    v->outcome == FAILOVER_OUTCOME_QUOTA_EXCEEDED) {
		st = 429;
		*retry_s = v->retry_after_s > 0 ? v->retry_after_s : 0;
	} else if (v->outcome == FAILOVER_OUTCOME_AUTH_FAILURE)
		st = 503;
	else if (result == UPSTREAM_FIRST_BYTE_TIMEOUT || result == UPSTREAM_IDLE_TIMEOUT)
		st = 504;
	else if (v->outcome == FAILOVER_OUTCOME_LOCAL_ERROR)
		st = 500;
	return st;
}

const char *
proxy_reply_key_class(enum keylimit_verdict key)
{
	static const char *const classes[KEYLIMIT__MAX] = {
		[KEYLIMIT_MODEL] = "key_model", [KEYLIMIT_BUDGET] = "key_budget",
		[KEYLIMIT_RPM] = "key_rpm", [KEYLIMIT_TPM] = "key_tpm",
	};

	return (unsigned)key < KEYLIMIT__MAX ? classes[key] : NULL;
}

/* Appends to msg, when the model went through an alias, the alias and the last model tried. */
static void
proxy_reply_alias_note(const struct proxy_request *p, char *msg, size_t len)
{
	const char *target = alias_route_target(&p->route);
	size_t n = strlen(msg);

	if (p->route.alias == NULL || n >= len)
		return;
	snprintf(msg + n, len - n, " (alias '%s'; the last of its models tried: '%s')",
	    p->route.alias->pattern, target != NULL ? target : "none");
}

/* Says (into msg) how the request is over the model's context limits. */
static void
proxy_reply_too_large(const struct proxy_request *p, char *msg, size_t len)
{
	const struct ctxlimit *lim = &p->sel.limit;
	const struct ctxlimit_need *n = &p->need;

	if (lim->context <= 0 && lim->input <= 0)
		snprintf(msg, len, "The request is too large for every model '%s' may be served "
		    "by: a prompt of at least %lld tokens (estimated from its %lld bytes) and "
		    "max_tokens %lld", p->model, (long long)n->input,
		    (long long)(p->body_len - n->blob_bytes), (long long)n->output);
	else if (lim->input > 0 && n->input > lim->input)
		snprintf(msg, len, "The prompt is too long for '%s': at least %lld tokens "
		    "(estimated from its %lld bytes), over its limit of %lld input tokens",
		    p->model, (long long)n->input, (long long)(p->body_len - n->blob_bytes),
		    (long long)lim->input);
	else
		snprintf(msg, len, "The request is too large for '%s': a prompt of at least "
		    "%lld tokens (estimated from its %lld bytes) and max_tokens %lld exceed its "
		    "context window of %lld tokens", p->model, (long long)n->input,
		    (long long)(p->body_len - n->blob_bytes),
		    (long long)(lim->output > 0 && n->output > lim->output ? lim->output :
		    n->output), (long long)lim->context);
}

/*
 * Says (into msg) why no further account can take the request, after
 * ntried attempts; returns the status for the client and sets *retry_s
 * (0 = no Retry-After).
 */
static int
proxy_reply_refusal(const struct proxy_request *p, char *msg, size_t len, int64_t *retry_s)
{
	const struct select_result *sel = &p->sel;
	const struct failover_verdict *v = &p->v;
	int64_t now = p->q.now;
	int st = select_status_http(sel->status);

	*retry_s = 0;
	switch (sel->status) {
	case SELECT_NO_MODEL:
		snprintf(msg, len, "Model '%s' not found", p->model);
		break;
	case SELECT_WRONG_PROTOCOL:
		endpoint_unreachable(p->ep, p->model, p->stateful, msg, len);
		break;
	case SELECT_BACKOFF:
		*retry_s = sel->retry_at > now ? (sel->retry_at - now + 999) / 1000 : 1;
		snprintf(msg, len, "Every account that serves '%s' is backing off after rate "
		    "limits, quota or upstream errors; retry in %lld s", p->model,
		    (long long)*retry_s);
		break;
	case SELECT_AUTH:
		snprintf(msg, len, "Every account that serves '%s' had its credentials refused "
		    "by the provider", p->model);
		break;
	case SELECT_DISABLED:
		snprintf(msg, len, "No enabled account with credentials serves '%s'", p->model);
		break;
	case SELECT_TOO_LARGE:
		proxy_reply_too_large(p, msg, len);
		break;
	default:
		if (v->outcome == FAILOVER_OUTCOME_RATE_LIMITED ||
		    v->outcome == FAILOVER_OUTCOME_QUOTA_EXCEEDED) {
			st = 429;
			*retry_s = v->retry_after_s > 0 ? v->retry_after_s :
			    sel->retry_at > now ? (sel->retry_at - now + 999) / 1000 : 0;
		} else if (v->outcome == FAILOVER_OUTCOME_AUTH_FAILURE)
			st = 503;
		else if (strcmp(v->error_class, "first_byte_timeout") == 0)
			st = 504;
		snprintf(msg, len, "All %d account%s tried for '%s' failed (last: %s)",
		    p->ntried, p->ntried == 1 ? "" : "s", p->model,
		    v->error_class[0] ? v->error_class : failover_outcome_name(v->outcome));
		break;
	}
	proxy_reply_alias_note(p, msg, len);
	return st;
}

/*
 * Returns 1 if the last upstream answer is relayed as it was when no
 * account is left: the client's fault, or a model the provider does not
 * serve (retried elsewhere first).
 */
static int
proxy_reply_relay_last(const struct failover_verdict *v)
{

	return v->outcome == FAILOVER_OUTCOME_CLIENT_ERROR ||
	    v->outcome == FAILOVER_OUTCOME_MODEL_UNAVAILABLE;
}

/*
 * Returns 1 when count_tokens is answered with the gateway's estimate: no
 * provider of the (known) model can count, or the last one failed with
 * anything but a 400 or 413 of the client's making.
 */
static int
proxy_reply_estimates(const struct proxy_request *p)
{
	const struct proxy_attempt *a = &p->a;

	if (p->ep->api != ENDPOINT_COUNT_TOKENS || p->reject_status != 0)
		return 0;
	if (p->ntried == 0)
		return p->sel.status != SELECT_NO_MODEL && p->sel.status != SELECT_OK;
	return a->status != 400 && a->status != 413;
}

/* Answers count_tokens with the estimate from the body's bytes, marked as one. */
static void
proxy_reply_estimate(struct proxy_request *p)
{
	char body[64];
	int n;

	if ((n = endpoint_estimate(p->body_len, body, sizeof(body))) < 0) {
		proxy_reply_fail(p->r, 500, "cannot estimate the tokens", 0);
		return;
	}
	http_begin(p->r, 200, "application/json", "x-quotapool-estimate: bytes\r\n");
	(void)http_write(p->r, body, (size_t)n);
	p->estimated = 1;
}

/* Relays the last upstream error, in the client's family when the request was translated. */
static void
proxy_reply_upstream(struct proxy_request *p)
{
	const struct proxy_attempt *a = &p->a;
	char *out = NULL;
	size_t n;

	if (a->xc != NULL &&
	    xlate_error(p->plan.dir, a->status, a->body.p, a->body.len, &out, &n) == QP_OK) {
		http_reply(p->r, a->status, "application/json", out, n);
		free(out);
		return;
	}
	http_reply(p->r, a->status, a->ctype[0] ? a->ctype : "application/json", a->body.p,
	    a->body.len);
}

/*
 * Answers a request no (further) account can take: why in the client's
 * family, the provider's own error (the last attempt's), or count_tokens'
 * estimate. Sets p->final_status and p->fin (the caller records it).
 */
void
proxy_reply_refuse(struct proxy_request *p)
{
	const struct proxy_attempt *a = &p->a;
	enum accounting_status st;
	int64_t retry_s;
	char msg[512];

	p->final_status = proxy_reply_refusal(p, msg, sizeof(msg), &retry_s);
	if (proxy_reply_estimates(p)) {
		proxy_reply_estimate(p);
		p->final_status = p->r->status;
	} else if (p->sel.status == SELECT_EXHAUSTED && p->ntried > 0 &&
	    proxy_reply_relay_last(&p->v) && a->status >= 400 && a->body.len > 0 && !a->bad_media) {
		/* The provider's words go back (in the client's family). */
		proxy_reply_upstream(p);
		p->final_status = a->status;
	} else
		proxy_reply_fail(p->r, p->final_status, msg, retry_s);
	st = p->ntried == 0 ? ACCOUNTING_REJECTED : ACCOUNTING_ERROR;
	if (p->ntried > 0 && p->v.outcome == FAILOVER_OUTCOME_CLIENT_ERROR)
		st = ACCOUNTING_CLIENT_ERROR;
	if (p->estimated)
		st = ACCOUNTING_COMPLETED;
	accounting_final_init(&p->fin, st, p->final_status, db_now_ms());
	p->fin.bytes_out = p->r->bytes_out;
	p->fin.overhead_us = p->overhead_us;
}

/*
 * Answers a request its key's limits refuse (docs/keys.md): 403 for a
 * model outside its globs, 429 with Retry-After for rpm and tpm, and 429
 * (type insufficient_quota in the OpenAI family) with Retry-After up to
 * the period's end for a spent budget. Sets p->final_status and p->fin
 * (rejected, error_class key_model, key_budget, key_rpm or key_tpm) for
 * the caller to record.
 */
void
proxy_reply_key_refuse(struct proxy_request *p)
{
	struct http_req *r = p->r;
	int64_t now = p->q.now, retry_s = 0;
	char msg[512];
	const char *type;
	int st = 429;

	if (p->job.key_retry_at > now)
		retry_s = (p->job.key_retry_at - now + 999) / 1000;
	switch (p->job.key) {
	case KEYLIMIT_MODEL:
		st = 403;
		type = http_type(r, "permission_error", "permission_error");
		snprintf(msg, sizeof(msg), "This key may not use model '%s'", p->model);
		break;
	case KEYLIMIT_BUDGET:
		type = http_type(r, "insufficient_quota", "rate_limit_error");
		snprintf(msg, sizeof(msg), "This key's budget is spent until the period resets "
		    "in %lld s", (long long)retry_s);
		break;
	default:
		type = http_type(r, "rate_limit_exceeded", "rate_limit_error");
		snprintf(msg, sizeof(msg), "This key's %s limit is reached; retry in %lld s",
		    p->job.key == KEYLIMIT_RPM ? "requests-per-minute" : "tokens-per-minute",
		    (long long)retry_s);
		break;
	}
	proxy_reply_error(r, st, type, msg, retry_s);
	p->final_status = st;
	accounting_final_init(&p->fin, ACCOUNTING_REJECTED, st, db_now_ms());
	p->fin.error_class = proxy_reply_key_class(p->job.key);
	p->fin.bytes_out = r->bytes_out;
	p->fin.overhead_us = p->overhead_us;
}

/*
 * Says (into msg) why the last attempt gave the client nothing to relay;
 * returns the status and sets *retry_s (0 = no Retry-After).
 */
static int
proxy_reply_failure(const struct proxy_request *p, char *msg, size_t len, int64_t *retry_s)
{
	const struct proxy_attempt *a = &p->a;
	const struct failover_verdict *v = &p->v;
	int st;

	*retry_s = 0;
	if (a->too_large) {
		snprintf(msg, len, "The provider's answer is larger than the gateway accepts "
		    "(max_response_body_bytes = %lld)", (long long)a->body_max);
		return 502;
	}
	if (a->bad_media && (v->outcome == FAILOVER_OUTCOME_CLIENT_ERROR ||
	    strcmp(v->error_class, "bad_content_type") == 0)) {
		snprintf(msg, len, "The provider answered %d with a body that is neither JSON "
		    "nor an event stream (%s)", a->status, a->ctype[0] ? a->ctype :
		    "no Content-Type");
		return 502;
	}
	st = proxy_reply_status(v, p->ures.result, retry_s);
	snprintf(msg, len, "%s %d account%s tried for '%s' failed (last: %s)",
	    p->ntried >= p->max_attempts ? "All" : "The", p->ntried, p->ntried == 1 ? "" : "s",
	    p->model, v->error_class[0] ? v->error_class : failover_outcome_name(v->outcome));
	proxy_reply_alias_note(p, msg, len);
	return st;
}

/*
 * The answer to a last attempt that left nothing to relay as it came:
 * count_tokens' estimate, the provider's own error when it was the
 * client's fault or a model it does not serve, else an error of the
 * gateway's own saying why.
 */
void
proxy_reply_last(struct proxy_request *p)
{
	const struct proxy_attempt *a = &p->a;
	int64_t retry_s;
	char msg[512];
	int st;

	if (proxy_reply_estimates(p)) {
		proxy_reply_estimate(p);
		return;
	}
	if (a->status >= 400 && a->body.len > 0 && !a->bad_media &&
	    proxy_reply_relay_last(&p->v)) {
		proxy_reply_upstream(p);
		return;
	}
	st = proxy_reply_failure(p, msg, sizeof(msg), &retry_s);
	proxy_reply_fail(p->r, st, msg, retry_s);
}
