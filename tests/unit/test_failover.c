/* test_failover.c: upstream outcomes are classified per the failover table and backoffs persist. */
#include <unistd.h>

#include "../tap.h"
#include "db.h"
#include "failover.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-failover-XXXXXX";

/* 1994-11-06 08:49:37 UTC in seconds. */
#define RFC_DATE	784111777LL

static const struct config_routing routing = {
	.max_attempts = 3,
	.backoff_base_s = 5,
	.backoff_max_s = 1800,
	.quota_backoff_s = 3600,
	.transient_backoff_s = 10,
	.circuit_failures = 5,
	.circuit_open_s = 300,
	.auth_quarantine_s = 1800,
	.model_backoff_s = 300,
};

static void
classify(int status, const char *retry_after, const char *body, struct failover_verdict *v)
{
	struct failover_input in;

	memset(&in, 0, sizeof(in));
	in.status = status;
	in.retry_after = retry_after;
	in.retry_after_len = retry_after ? strlen(retry_after) : 0;
	in.body = body;
	in.body_len = body ? strlen(body) : 0;
	in.now = RFC_DATE * 1000;
	failover_classify(&in, v);
}

static void
test_retry_after(void)
{
	const int64_t now = (RFC_DATE - 120) * 1000;
	static const struct {
		const char	*in;
		int64_t		 want;
	} t[] = {
		{ "30", 30 },
		{ "0", 0 },
		{ "  45\t", 45 },
		{ "1.5", 2 },
		{ "2.000", 2 },
		{ "31622400", 31622400 },
		{ "31622401", -1 },
		{ "99999999999999999999999", -1 },
		{ "-5", -1 },
		{ "", -1 },
		{ "   ", -1 },
		{ "5x", -1 },
		{ "5.", -1 },
		{ "1e3", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 120 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 120 },
		{ "Sun Nov  6 08:49:37 1994", 120 },
		{ "Sun Nov 16 08:49:37 1994", 120 + 10 * 86400 },
		{ "Sun, 06 Nov 1994 08:47:37 GMT", 0 },
		{ "Sat, 01 Jan 1994 00:00:00 GMT", 0 },
		{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
		{ "Sun, 31 Feb 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 24:00:00 GMT", -1 },
		{ "Sun, 6 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Foo 1994 08:49:37 GMT", -1 },
		{ "Funday, 06 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT trailing", -1 },
		{ "Sun, 06 Nov 2300 08:49:37 GMT", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(failover_retry_after(t[i].in, strlen(t[i].in), now), t[i].want,
		    "Retry-After \"%s\"", t[i].in);
	is_int(failover_retry_after("Tue, 29 Feb 2000 00:00:00 GMT", 29, 951782400000LL - 5000), 5,
	    "leap day 2000 resolves");
	is_int(failover_retry_after("Thu, 29 Feb 2001 00:00:00 GMT", 29, 0), -1,
	    "29 Feb 2001 is invalid");
	is_int(failover_retry_after(NULL, 0, now), -1, "NULL is no Retry-After");
	is_int(failover_retry_after("12", 1, now), 1, "only len bytes are read");
}

static enum failover_outcome
expected_for(int status)
{

	if (status == 429)
		return FAILOVER_OUTCOME_RATE_LIMITED;
	if (status == 402)
		return FAILOVER_OUTCOME_QUOTA_EXCEEDED;
	if (status == 401 || status == 403)
		return FAILOVER_OUTCOME_AUTH_FAILURE;
	if (status >= 400 && status <= 499)
		return FAILOVER_OUTCOME_CLIENT_ERROR;
	if (status >= 200 && status <= 299)
		return FAILOVER_OUTCOME_OK;
	return FAILOVER_OUTCOME_TRANSIENT;
}

static void
test_status_table(void)
{
	struct failover_verdict v;
	enum failover_outcome want;
	int s, bad = 0, badretry = 0, badeffect = 0;

	for (s = 100; s <= 599; s++) {
		classify(s, NULL, "{\"error\":\"something\"}", &v);
		want = expected_for(s);
		if (v.outcome != want) {
			bad++;
			printf("#   status %d: expected %s, actual %s\n", s,
			    failover_outcome_name(want), failover_outcome_name(v.outcome));
		}
		if (v.retry != (want == FAILOVER_OUTCOME_RATE_LIMITED ||
		    want == FAILOVER_OUTCOME_QUOTA_EXCEEDED || want == FAILOVER_OUTCOME_AUTH_FAILURE ||
		    want == FAILOVER_OUTCOME_TRANSIENT)) {
			badretry++;
			printf("#   status %d: retry %d is wrong\n", s, v.retry);
		}
		if ((want == FAILOVER_OUTCOME_CLIENT_ERROR && v.effect != FAILOVER_EFFECT_NONE) ||
		    (want == FAILOVER_OUTCOME_OK && v.effect != FAILOVER_EFFECT_CLEAR) ||
		    (want == FAILOVER_OUTCOME_TRANSIENT && v.effect != FAILOVER_EFFECT_TRANSIENT)) {
			badeffect++;
			printf("#   status %d: effect %d is wrong\n", s, (int)v.effect);
		}
		if (v.status != s) {
			bad++;
			printf("#   status %d: verdict status %d\n", s, v.status);
		}
	}
	is_int(bad, 0, "every status 100-599 has the outcome of the table");
	is_int(badretry, 0, "every status 100-599 retries exactly when the table says");
	is_int(badeffect, 0, "every status 100-599 has the effect of the table");

	classify(429, NULL, NULL, &v);
	is_str(failover_outcome_name(v.outcome), "rate_limited", "429 is a rate limit");
	is_str(failover_category_name(v.category), "quota_exceeded", "429 category");
	is_str(v.error_class, "http_429", "429 error class");
	is_int(v.effect, FAILOVER_EFFECT_RATE_LIMIT, "429 effect");
	classify(200, NULL, NULL, &v);
	ok(failover_category_name(v.category) == NULL, "ok has no category");
	is_str(v.error_class, "", "ok has no error class");
	classify(400, NULL, "{\"error\":{\"message\":\"bad max_tokens\"}}", &v);
	is_str(failover_category_name(v.category), "bad_request", "400 category");
	ok(!v.retry, "400 is not retried");
	classify(404, NULL, "{\"error\":\"no route for /v1/chat\"}", &v);
	is_str(failover_outcome_name(v.outcome), "client_error", "404 is the client's");
	classify(503, "20", NULL, &v);
	is_str(failover_outcome_name(v.outcome), "transient", "503 is transient");
	is_int(v.retry_after_s, 20, "503 Retry-After still parsed");
	is_str(v.error_class, "http_503", "503 error class");
	classify(302, NULL, NULL, &v);
	is_str(failover_outcome_name(v.outcome), "transient", "a redirect is an upstream fault");
}

/* Which failures belong to one (account, model) pair, and which to the whole account. */
static void
test_scope(void)
{
	static const struct {
		int		 status;
		const char	*body;
		const char	*outcome;
		const char	*scope;
		int		 retry;
		enum failover_effect effect;
		const char	*class;
	} t[] = {
		{ 500, "{\"error\":{\"message\":\"boom\"}}", "transient", "model", 1,
		    FAILOVER_EFFECT_TRANSIENT, "http_500" },
		{ 502, NULL, "transient", "model", 1, FAILOVER_EFFECT_TRANSIENT, "http_502" },
		{ 503, "overloaded", "transient", "model", 1, FAILOVER_EFFECT_TRANSIENT,
		    "http_503" },
		{ 529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
		    "transient", "model", 1, FAILOVER_EFFECT_TRANSIENT, "http_529" },
		{ 429, "rate limit", "rate_limited", "account", 1, FAILOVER_EFFECT_RATE_LIMIT,
		    "http_429" },
		{ 429, "model overloaded: rate limit", "rate_limited", "account", 1,
		    FAILOVER_EFFECT_RATE_LIMIT, "http_429" },
		{ 402, "the model costs credit", "quota_exceeded", "account", 1,
		    FAILOVER_EFFECT_QUOTA, "http_402" },
		{ 401, "model not found", "auth_failure", "account", 1, FAILOVER_EFFECT_AUTH,
		    "http_401" },
		{ 403, NULL, "auth_failure", "account", 1, FAILOVER_EFFECT_AUTH, "http_403" },
		/* OpenAI, Anthropic, Ollama and vLLM wording for a model that is not there. */
		{ 404, "{\"error\":{\"message\":\"The model `x` does not exist or you do not "
		    "have access to it.\",\"type\":\"invalid_request_error\",\"code\":"
		    "\"model_not_found\"}}", "model_unavailable", "model", 1,
		    FAILOVER_EFFECT_MODEL, "model_not_found" },
		{ 404, "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
		    "\"message\":\"model: claude-x\"}}", "model_unavailable", "model", 1,
		    FAILOVER_EFFECT_MODEL, "model_not_found" },
		{ 404, "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}",
		    "model_unavailable", "model", 1, FAILOVER_EFFECT_MODEL, "model_not_found" },
		{ 404, "{\"error\":\"not found\"}", "client_error", "account", 0,
		    FAILOVER_EFFECT_NONE, "http_404" },
		{ 404, NULL, "client_error", "account", 0, FAILOVER_EFFECT_NONE, "http_404" },
		/* A prompt too long for this deployment: elsewhere, but no backoff for anyone. */
		{ 400, "{\"error\":{\"message\":\"This model's maximum context length is 8192 "
		    "tokens\",\"code\":\"context_length_exceeded\"}}", "client_error", "model", 1,
		    FAILOVER_EFFECT_NONE, "context_length_exceeded" },
		{ 400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
		    "\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\"}}",
		    "client_error", "model", 1, FAILOVER_EFFECT_NONE, "context_length_exceeded" },
		{ 413, "the request exceeds the available context size", "client_error", "model", 1,
		    FAILOVER_EFFECT_NONE, "context_length_exceeded" },
		{ 500, "context length exceeded", "client_error", "model", 1, FAILOVER_EFFECT_NONE,
		    "context_length_exceeded" },
		{ 400, "{\"error\":\"bad max_tokens\"}", "client_error", "account", 0,
		    FAILOVER_EFFECT_NONE, "http_400" },
		{ 200, NULL, "ok", "account", 0, FAILOVER_EFFECT_CLEAR, "" },
		{ 302, NULL, "transient", "account", 1, FAILOVER_EFFECT_TRANSIENT, "http_302" },
	};
	struct failover_input in;
	struct failover_verdict v;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		classify(t[i].status, NULL, t[i].body, &v);
		if (!is_str(failover_outcome_name(v.outcome), t[i].outcome, "%d %s: outcome",
		    t[i].status, t[i].body ? t[i].body : "(no body)") |
		    !is_str(failover_scope_name(v.scope), t[i].scope, "%d %s: scope %s",
		    t[i].status, t[i].body ? t[i].body : "(no body)", t[i].scope) |
		    !is_int(v.retry, t[i].retry, "%d: retry %d", t[i].status, t[i].retry) |
		    !is_int(v.effect, t[i].effect, "%d: effect", t[i].status) |
		    !is_str(v.error_class, t[i].class, "%d: class %s", t[i].status, t[i].class))
			printf("#   input: status %d, body %s\n", t[i].status,
			    t[i].body ? t[i].body : "(none)");
	}
	classify(404, NULL, "{\"error\":{\"code\":\"model_not_found\"}}", &v);
	is_str(failover_category_name(v.category), "model_unavailable",
	    "model_unavailable category");

	/* Transport failures say nothing of one model. */
	memset(&in, 0, sizeof(in));
	in.curl_code = 7;	/* CURLE_COULDNT_CONNECT */
	failover_classify(&in, &v);
	is_str(failover_scope_name(v.scope), "account", "connect error: the whole account");
	memset(&in, 0, sizeof(in));
	in.first_byte_timeout = 1;
	failover_classify(&in, &v);
	is_str(failover_scope_name(v.scope), "account", "first-byte timeout: the whole account");
	memset(&in, 0, sizeof(in));
	in.curl_code = 56;	/* CURLE_RECV_ERROR */
	in.status = 200;
	in.handed_off = 1;
	failover_classify(&in, &v);
	is_int(v.effect, FAILOVER_EFFECT_NONE, "a broken stream after handoff has no effect");
}

static void
test_wording(void)
{
	struct failover_verdict v;
	char big[8192];

	classify(429, NULL, "{\"error\":{\"message\":\"You exceeded your current quota, "
	    "please check your plan and billing details.\",\"type\":\"insufficient_quota\"}}", &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "429 insufficient_quota");
	is_int(v.effect, FAILOVER_EFFECT_QUOTA, "quota effect");
	classify(429, NULL, "Your CREDIT balance is too low", &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "429 credit, upper case");
	classify(429, NULL, "Rate limit reached for requests per minute", &v);
	is_str(failover_outcome_name(v.outcome), "rate_limited", "429 rate wording");
	classify(402, NULL, "Payment Required", &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "402 without wording");
	classify(402, NULL, "Insufficient balance", &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "402 insufficient");
	classify(401, NULL, "quota exceeded", &v);
	is_str(failover_outcome_name(v.outcome), "auth_failure", "401 is auth even with quota words");
	classify(403, NULL, "monthly quota exceeded", &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "403 with quota wording");
	classify(403, NULL, "Invalid API key: quota project missing", &v);
	is_str(failover_outcome_name(v.outcome), "auth_failure", "403 with auth and quota wording");
	classify(403, NULL, "Request not allowed", &v);
	is_str(failover_outcome_name(v.outcome), "auth_failure", "403 without wording");
	classify(403, NULL, NULL, &v);
	is_str(failover_outcome_name(v.outcome), "auth_failure", "403 without body");
	is_int(v.effect, FAILOVER_EFFECT_AUTH, "403 auth effect");
	classify(400, NULL, "insufficient quota", &v);
	is_str(failover_outcome_name(v.outcome), "client_error", "400 with quota words stays the client's");

	/* Only the first FAILOVER_BODY_SCAN bytes are read. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + FAILOVER_BODY_SCAN + 10, "quota", 5);
	classify(429, NULL, big, &v);
	is_str(failover_outcome_name(v.outcome), "rate_limited", "quota past 4 KiB is not seen");
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big + FAILOVER_BODY_SCAN - 5, "quota", 5);
	classify(429, NULL, big, &v);
	is_str(failover_outcome_name(v.outcome), "quota_exceeded", "quota ending at 4 KiB is seen");
}

static void
test_transport(void)
{
	static const struct {
		int		 code;
		const char	*outcome;
		const char	*class;
	} t[] = {
		{ 6, "transient", "dns_error" },		/* CURLE_COULDNT_RESOLVE_HOST */
		{ 7, "transient", "connect_error" },		/* CURLE_COULDNT_CONNECT */
		{ 28, "transient", "timeout" },			/* CURLE_OPERATION_TIMEDOUT */
		{ 35, "transient", "tls_error" },		/* CURLE_SSL_CONNECT_ERROR */
		{ 60, "transient", "tls_error" },		/* CURLE_PEER_FAILED_VERIFICATION */
		{ 52, "transient", "empty_reply" },		/* CURLE_GOT_NOTHING */
		{ 56, "transient", "recv_error" },		/* CURLE_RECV_ERROR */
		{ 55, "transient", "send_error" },		/* CURLE_SEND_ERROR */
		{ 16, "transient", "protocol_error" },		/* CURLE_HTTP2 */
		{ 3, "local_error", "bad_url" },		/* CURLE_URL_MALFORMAT */
		{ 27, "local_error", "out_of_memory" },		/* CURLE_OUT_OF_MEMORY */
		{ 42, "local_error", "local_error" },		/* CURLE_ABORTED_BY_CALLBACK */
		{ 77, "local_error", "local_error" },		/* CURLE_SSL_CACERT_BADFILE */
		{ 9999, "transient", "transport_error" },	/* unknown code */
	};
	struct failover_input in;
	struct failover_verdict v;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.curl_code = t[i].code;
		failover_classify(&in, &v);
		is_str(failover_outcome_name(v.outcome), t[i].outcome, "curl code %d outcome", t[i].code);
		is_str(v.error_class, t[i].class, "curl code %d class", t[i].code);
		is_int(v.retry, strcmp(t[i].outcome, "transient") == 0, "curl code %d retry", t[i].code);
	}

	memset(&in, 0, sizeof(in));
	in.first_byte_timeout = 1;
	in.curl_code = 42;
	failover_classify(&in, &v);
	is_str(v.error_class, "first_byte_timeout", "first-byte timeout wins over the callback abort");
	ok(v.retry && v.effect == FAILOVER_EFFECT_TRANSIENT, "first-byte timeout is transient");

	memset(&in, 0, sizeof(in));
	in.client_gone = 1;
	in.status = 500;
	in.curl_code = 42;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "client_disconnected", "client gone wins");
	ok(!v.retry && v.effect == FAILOVER_EFFECT_NONE, "client gone: no retry, no effect");
	is_str(failover_category_name(v.category), "never", "client gone category");

	memset(&in, 0, sizeof(in));
	in.status = 200;
	in.handed_off = 1;
	in.curl_code = 56;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "stream_error", "transport error after handoff");
	ok(!v.retry && v.effect == FAILOVER_EFFECT_NONE, "after handoff: no retry, no effect");

	in.curl_code = 0;
	in.stream_failed = 1;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "stream_error", "broken stream after handoff");
	in.stream_failed = 0;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "ok", "complete stream after handoff");
	is_int(v.effect, FAILOVER_EFFECT_CLEAR, "success clears");

	memset(&in, 0, sizeof(in));
	in.status = 200;
	in.stream_failed = 1;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "transient", "stream broken before handoff is retried");
	ok(v.retry, "and retried");

	memset(&in, 0, sizeof(in));
	in.status = 429;
	in.curl_code = 56;
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "rate_limited", "an error status wins over a body read error");

	memset(&in, 0, sizeof(in));
	failover_classify(&in, &v);
	is_str(failover_outcome_name(v.outcome), "transient", "no status and no error: empty reply");
}

static void
test_next(void)
{
	struct failover_verdict v;
	struct failover_backoff prev, next;
	const int64_t now = 1700000000000LL;
	struct config_routing r = routing;
	int i, rc;

	/* Rate limit with Retry-After in seconds and as an HTTP-date. */
	classify(429, "42", NULL, &v);
	rc = failover_next(&v, &r, NULL, now, &next);
	is_int(rc, 1, "429 writes a row");
	is_int(next.until - now, 42000, "Retry-After seconds honoured");
	is_str(failover_reason_name(next.reason), "rate_limited", "reason rate_limited");
	is_int(next.consecutive, 1, "first failure");
	is_int(next.status_code, 429, "status kept");
	classify(429, "Sun, 06 Nov 1994 08:51:37 GMT", NULL, &v);
	is_int(v.retry_after_s, 120, "HTTP-date Retry-After is 120 s after the response time");
	rc = failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 120000, "HTTP-date Retry-After honoured");
	classify(429, "999999", NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 1800000, "Retry-After capped at backoff_max_s");
	classify(429, "soon", NULL, &v);
	is_int(v.retry_after_s, -1, "invalid Retry-After ignored");
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 5000, "no Retry-After: backoff_base_s");

	/* Exponential: 5, 10, 20, ... capped at 1800. */
	prev = next;
	for (i = 2; i <= 12; i++) {
		int64_t want = 5LL << (i - 1);

		if (want > 1800)
			want = 1800;
		prev.until = now - 1;
		rc = failover_next(&v, &r, &prev, now, &next);
		if (!is_int(next.until - now, want * 1000, "rate limit number %d waits %jd s", i,
		    (intmax_t)want))
			break;
		is_int(next.consecutive, i, "count %d", i);
		prev = next;
	}

	/* Quota: quota_backoff_s, or a later Retry-After (capped). */
	classify(402, NULL, NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 3600000, "quota waits quota_backoff_s");
	is_str(failover_reason_name(next.reason), "quota_exceeded", "reason quota_exceeded");
	classify(402, "60", NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 3600000, "an earlier Retry-After does not shorten quota backoff");
	r.backoff_max_s = 7200;
	classify(402, "5400", NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 5400000, "a later Retry-After lengthens quota backoff");
	r = routing;

	/* Auth quarantine. */
	classify(401, NULL, NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_int(next.until - now, 1800000, "auth quarantine auth_quarantine_s");
	is_str(failover_reason_name(next.reason), "auth_failure", "reason auth_failure");

	/* Transient then circuit. */
	classify(502, NULL, NULL, &v);
	rc = failover_next(&v, &r, NULL, now, &next);
	for (i = 2; i <= 6; i++) {
		prev = next;
		prev.until = now - 1;
		failover_next(&v, &r, &prev, now, &next);
		if (i < 5) {
			is_str(failover_reason_name(next.reason), "transient", "transient failure %d", i);
			is_int(next.until - now, 10000, "transient backoff %d", i);
		} else {
			is_str(failover_reason_name(next.reason), "circuit_open", "failure %d opens the circuit", i);
			is_int(next.until - now, 300000, "circuit open circuit_open_s after %d", i);
		}
	}
	/* A failure of another kind restarts the count. */
	prev = next;
	prev.until = now - 1;
	classify(429, NULL, NULL, &v);
	failover_next(&v, &r, &prev, now, &next);
	is_int(next.consecutive, 1, "another kind restarts the count");
	is_int(next.until - now, 5000, "and the exponential");

	/* A running longer backoff is kept. */
	classify(401, NULL, NULL, &v);
	failover_next(&v, &r, NULL, now, &prev);
	classify(503, NULL, NULL, &v);
	rc = failover_next(&v, &r, &prev, now + 1000, &next);
	is_int(rc, -1, "a late 503 does not shorten an auth quarantine");

	/* Success clears; no effect leaves alone. */
	classify(200, NULL, NULL, &v);
	is_int(failover_next(&v, &r, &prev, now, &next), 0, "success deletes the row");
	is_int(failover_next(&v, &r, NULL, now, &next), -1, "success without a row changes nothing");
	classify(400, NULL, NULL, &v);
	is_int(failover_next(&v, &r, &prev, now, &next), -1, "a client error changes nothing");

	/* Model not found: model_backoff_s, of the model. */
	classify(404, NULL, "{\"error\":{\"code\":\"model_not_found\"}}", &v);
	is_int(failover_next(&v, &r, NULL, now, &next), 1, "model_unavailable writes a row");
	is_int(next.until - now, 300000, "model_unavailable waits model_backoff_s");
	is_str(failover_reason_name(next.reason), "model_unavailable", "reason model_unavailable");
	is_str(failover_scope_name(next.scope), "model", "of the model");
	classify(500, NULL, NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_str(failover_scope_name(next.scope), "model", "a 500 row is the model's");
	classify(429, NULL, NULL, &v);
	failover_next(&v, &r, NULL, now, &next);
	is_str(failover_scope_name(next.scope), "account", "a 429 row is the account's");

	/* circuit_failures = 0 never opens. */
	r.circuit_failures = 0;
	classify(500, NULL, NULL, &v);
	prev.reason = FAILOVER_REASON_TRANSIENT;
	prev.consecutive = 100;
	prev.until = now - 1;
	failover_next(&v, &r, &prev, now, &next);
	is_str(failover_reason_name(next.reason), "transient", "circuit_failures 0 never opens");
}

/* The database of test_db(), for the queries below. */
static sqlite3 *qdb;

/* The first column of the first row of sql as an integer, -1 if none. */
static int64_t
q_int(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(qdb, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The same as text (a static buffer), "" if none. */
static const char *
q_text(const char *sql)
{
	static char buf[256];
	sqlite3_stmt *st = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(qdb, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static void
test_db(sqlite3 *db)
{
	struct failover_db *f;
	struct failover_verdict v;
	struct failover_backoff b;
	char errbuf[256];
	enum qp_err err;
	const int64_t now = 1700000000000LL;
	int i, written;

	qdb = db;
	f = failover_db_new(db, &err, errbuf, sizeof(errbuf));
	if (!ok(f != NULL, "statements prepare on the shipped schema"))
		printf("#   %s\n", errbuf);
	if (f == NULL)
		return;
	is_int(failover_get(f, "a", NULL, &b), QP_ENOTFOUND, "no row at first");

	classify(429, "30", NULL, &v);
	is_int(failover_apply(f, "a", NULL, &v, &routing, now, &b, &written), QP_OK, "apply 429");
	ok(written, "a row was written");
	memset(&b, 0, sizeof(b));
	is_int(failover_get(f, "a", NULL, &b), QP_OK, "row persisted");
	is_int(b.until, now + 30000, "until persisted");
	is_str(failover_reason_name(b.reason), "rate_limited", "reason persisted");
	is_int(b.status_code, 429, "status persisted");
	is_str(b.error_class, "http_429", "class persisted");

	/* Circuit after 5 transient failures, in the caller's transaction. */
	classify(500, NULL, NULL, &v);
	for (i = 1; i <= 5; i++) {
		db_begin_write(db);
		err = failover_apply(f, "b", NULL, &v, &routing, now + i * 20000, &b, NULL);
		db_commit(db);
		if (err != QP_OK)
			break;
	}
	is_int(err, QP_OK, "five transient failures applied");
	failover_get(f, "b", NULL, &b);
	is_str(failover_reason_name(b.reason), "circuit_open", "circuit open after 5 in a row");
	is_int(b.consecutive, 5, "five counted");
	is_int(b.until, now + 5 * 20000 + 300000, "open for circuit_open_s");

	/* Success clears, auth quarantine included. */
	classify(401, NULL, NULL, &v);
	failover_apply(f, "c", NULL, &v, &routing, now, NULL, NULL);
	is_int(failover_get(f, "c", NULL, &b), QP_OK, "auth quarantine persisted");
	classify(200, NULL, NULL, &v);
	is_int(failover_apply(f, "c", NULL, &v, &routing, now + 1, NULL, &written), QP_OK,
	    "apply success");
	ok(!written, "no row remains");
	is_int(failover_get(f, "c", NULL, &b), QP_ENOTFOUND, "success cleared the quarantine");
	failover_apply(f, "b", NULL, &v, &routing, now + 1, NULL, NULL);
	is_int(failover_get(f, "b", NULL, &b), QP_ENOTFOUND, "success closed the circuit");

	/* No effect leaves the row. */
	classify(400, NULL, NULL, &v);
	failover_apply(f, "a", NULL, &v, &routing, now + 1, NULL, NULL);
	is_int(failover_get(f, "a", NULL, &b), QP_OK, "a client error leaves the backoff");
	ok(sqlite3_get_autocommit(db), "no transaction left open");

	/* Scope: a 500 for m1 backs off (d, m1) only, a 429 the whole of d. */
	classify(500, NULL, NULL, &v);
	is_int(failover_apply(f, "d", "m1", &v, &routing, now, &b, &written), QP_OK,
	    "apply 500 for m1");
	ok(written, "a row was written");
	is_str(failover_scope_name(b.scope), "model", "the row is the model's");
	is_int(failover_get(f, "d", NULL, &b), QP_ENOTFOUND, "no account-wide row after a 500");
	is_int(failover_get(f, "d", "m2", &b), QP_ENOTFOUND, "no row for m2");
	is_int(failover_get(f, "d", "m1", &b), QP_OK, "a row for m1");
	is_str(failover_reason_name(b.reason), "transient", "m1 transient");
	is_int(b.until, now + 10000, "m1 until");
	is_str(failover_scope_name(b.scope), "model", "read back as the model's");
	is_str(q_text("SELECT scope || ':' || model_id FROM account_backoffs WHERE "
	    "account_name = 'd'"), "model:m1", "stored with scope model and the model id");
	for (i = 2; i <= 5; i++)
		failover_apply(f, "d", "m1", &v, &routing, now + i * 20000, NULL, NULL);
	failover_get(f, "d", "m1", &b);
	is_str(failover_reason_name(b.reason), "circuit_open", "m1's circuit opens after 5");
	is_int(b.consecutive, 5, "counted per pair");
	classify(404, NULL, "{\"error\":{\"code\":\"model_not_found\"}}", &v);
	failover_apply(f, "d", "m3", &v, &routing, now, NULL, NULL);
	is_int(failover_get(f, "d", "m3", &b), QP_OK, "model_unavailable for m3 persisted");
	is_int(b.until, now + 300000, "for model_backoff_s");
	classify(429, "30", NULL, &v);
	failover_apply(f, "d", "m2", &v, &routing, now, &b, NULL);
	is_str(failover_scope_name(b.scope), "account", "a 429 row is the account's");
	is_int(failover_get(f, "d", NULL, &b), QP_OK, "a 429 for m2 backs off the whole account");
	is_int(failover_get(f, "d", "m2", &b), QP_ENOTFOUND, "and writes no row for m2");
	is_int(q_int("SELECT count(*) FROM account_backoffs WHERE account_name = 'd'"), 3,
	    "three rows: d, (d, m1), (d, m3)");
	classify(500, NULL, NULL, &v);
	failover_apply(f, "e", NULL, &v, &routing, now, &b, NULL);
	is_str(failover_scope_name(b.scope), "account", "a 500 of an unknown model: the account's");

	/* A success clears the account's row and its model's, never another model's. */
	classify(200, NULL, NULL, &v);
	failover_apply(f, "d", "m2", &v, &routing, now + 1, NULL, NULL);
	is_int(failover_get(f, "d", NULL, &b), QP_ENOTFOUND, "success for m2 clears d's row");
	is_int(failover_get(f, "d", "m1", &b), QP_OK, "but not m1's");
	is_int(failover_get(f, "d", "m3", &b), QP_OK, "nor m3's");
	failover_apply(f, "d", "m1", &v, &routing, now + 1, NULL, NULL);
	is_int(failover_get(f, "d", "m1", &b), QP_ENOTFOUND, "success for m1 clears m1's row");
	is_int(failover_get(f, "d", "m3", &b), QP_OK, "m3's stays");
	ok(sqlite3_get_autocommit(db), "no transaction left open");
	failover_db_free(f);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 1000, NULL, 0, 0 };
	char dir[512], dbpath[600], errbuf[512];
	sqlite3 *db;
	enum qp_err err;
	int n;

	test_retry_after();
	test_status_table();
	test_scope();
	test_wording();
	test_transport();
	test_next();

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/failover.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	test_db(db);
	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/failover.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/failover.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	return tap_done();
}
