/*
 * fuzz_failover.c: classification of arbitrary upstream error answers.
 * Input: 2 bytes of HTTP status (big-endian, modulo 1000), 1 flag byte
 * (bit 0 client gone, bit 1 handed off, bit 2 stream failed, bit 3
 * first-byte timeout, bits 4-7 a curl code index), then the Retry-After
 * value up to the first newline, then the error body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int codes[16] = { 0, 6, 7, 28, 35, 52, 56, 3, 42, 23, 16, 60, 77, 97, 18, 9999 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config_routing r = {
		.max_attempts = 3, .backoff_base_s = 5, .backoff_max_s = 1800,
		.quota_backoff_s = 3600, .transient_backoff_s = 10, .circuit_failures = 5,
		.circuit_open_s = 300, .auth_quarantine_s = 1800, .model_backoff_s = 300,
	};
	const int64_t now = 1700000000000LL;
	struct failover_input in;
	struct failover_verdict v;
	struct failover_backoff prev, next;
	const uint8_t *nl;
	size_t rest;
	int rc;

	if (size < 3)
		return 0;
	memset(&in, 0, sizeof(in));
	in.status = ((data[0] << 8) | data[1]) % 1000;
	in.client_gone = data[2] & 1;
	in.handed_off = (data[2] >> 1) & 1;
	in.stream_failed = (data[2] >> 2) & 1;
	in.first_byte_timeout = (data[2] >> 3) & 1;
	in.curl_code = codes[data[2] >> 4];
	in.now = now;
	data += 3;
	rest = size - 3;
	nl = memchr(data, '\n', rest);
	in.retry_after = (const char *)data;
	in.retry_after_len = nl != NULL ? (size_t)(nl - data) : rest;
	if (nl != NULL) {
		in.body = (const char *)nl + 1;
		in.body_len = rest - (size_t)(nl - data) - 1;
	}
	failover_classify(&in, &v);
	if ((unsigned)v.outcome >= FAILOVER_OUTCOME__MAX ||
	    (unsigned)v.category >= FAILOVER_CAT__MAX ||
	    (unsigned)v.effect >= FAILOVER_EFFECT__MAX ||
	    (unsigned)v.scope >= FAILOVER_SCOPE__MAX ||
	    v.retry_after_s < -1 || v.retry_after_s > FAILOVER_RETRY_AFTER_MAX ||
	    memchr(v.error_class, '\0', sizeof(v.error_class)) == NULL)
		abort();
	/* Only a prompt too long for one deployment is tried elsewhere without a backoff. */
	if (v.retry && v.effect == FAILOVER_EFFECT_NONE &&
	    (v.outcome != FAILOVER_OUTCOME_CLIENT_ERROR || v.scope != FAILOVER_SCOPE_MODEL))
		abort();
	/* Rate limits, quota and credentials are always the whole account's. */
	if ((v.effect == FAILOVER_EFFECT_RATE_LIMIT || v.effect == FAILOVER_EFFECT_QUOTA ||
	    v.effect == FAILOVER_EFFECT_AUTH) && v.scope != FAILOVER_SCOPE_ACCOUNT)
		abort();
	if (in.client_gone && v.effect != FAILOVER_EFFECT_NONE)
		abort();
	if (failover_retry_after(in.retry_after, in.retry_after_len, now) != v.retry_after_s)
		abort();
	rc = failover_next(&v, &r, NULL, now, &next);
	if (rc == 1 && (next.until < now || next.until > now + 3600000LL ||
	    (unsigned)next.reason >= FAILOVER_REASON__MAX))
		abort();
	memset(&prev, 0, sizeof(prev));
	prev.reason = FAILOVER_REASON_TRANSIENT;
	prev.consecutive = 1000000;
	prev.until = now - 1;
	rc = failover_next(&v, &r, &prev, now, &next);
	if (rc == 1 && (next.until < now || next.until > now + 3600000LL ||
	    next.consecutive < 1 || next.consecutive > 1000000))
		abort();
	return 0;
}
