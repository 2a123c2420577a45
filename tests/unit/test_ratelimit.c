/* test_ratelimit.c: the rate-limit header parser on both families' formats and on junk. */
#include <string.h>

#include "../tap.h"
#include "ratelimit.h"

/* 2026-12-07T15:00:00Z in ms. */
#define NOW	1796655600000LL

static const struct {
	const char	*in;
	int64_t		 ms;		/* -1 = invalid */
} durations[] = {
	{ "6m0s", 360000 }, { "1s", 1000 }, { "20ms", 20 }, { "1.5s", 1500 },
	{ "2h3m4s", 7384000 }, { "30", 30000 }, { "0.25", 250 }, { "7.66s", 7660 },
	{ "100us", 1 }, { "\xc2\xb5s", -1 }, { "5\xc2\xb5s", 1 }, { "0s", 0 },
	{ "", -1 }, { "s", -1 }, { "1x", -1 }, { "1s2", -1 }, { "-1s", -1 },
	{ "1 s", -1 }, { "999999999999999999999h", -1 }, { "745h", -1 }, { "744h", 2678400000 },
	{ ".s", -1 }, { "1..2s", -1 },
};

static const struct {
	const char	*in;
	int64_t		 ms;		/* -1 = invalid */
} times[] = {
	{ "2026-12-07T15:00:00Z", NOW }, { "2026-12-07T15:00:30Z", NOW + 30000 },
	{ "2026-12-07T15:00:00.250Z", NOW + 250 }, { "2026-12-07T16:00:00+01:00", NOW },
	{ "2026-12-07T14:30:00-00:30", NOW }, { "2026-12-07t15:00:00z", NOW },
	{ "2026-12-07T15:00:00", -1 }, { "2026-13-07T15:00:00Z", -1 },
	{ "2026-12-32T15:00:00Z", -1 }, { "2026-12-07T25:00:00Z", -1 },
	{ "2026-12-07T15:00:00Zjunk", -1 }, { "2026-12-07T15:00:00.Z", -1 },
	{ "20261207T150000Z", -1 }, { "", -1 }, { "1969-12-31T23:59:59Z", -1 },
};

/* One head and what it must say about one kind. */
static const struct {
	const char		*name;
	const char		*raw;
	int			 success;
	enum ratelimit_kind	 kind;
	int64_t			 limit, remaining, reset_at;	/* -1, -1, 0 = absent */
	unsigned		 junk;
} heads[] = {
	{ "openai requests", "x-ratelimit-limit-requests: 500\r\n"
	    "x-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 30s\r\n", 1,
	    RATELIMIT_REQUESTS, 500, 0, NOW + 30000, 0 },
	{ "openai tokens, names in any case", "X-RateLimit-Remaining-Tokens:  149984 \r\n"
	    "X-RATELIMIT-RESET-TOKENS: 6m0s\r\nx-ratelimit-limit-tokens: 150000\r\n", 1,
	    RATELIMIT_TOKENS, 150000, 149984, NOW + 360000, 0 },
	{ "anthropic requests", "anthropic-ratelimit-requests-limit: 50\r\n"
	    "anthropic-ratelimit-requests-remaining: 49\r\n"
	    "anthropic-ratelimit-requests-reset: 2026-12-07T15:00:30Z\r\n", 1,
	    RATELIMIT_REQUESTS, 50, 49, NOW + 30000, 0 },
	{ "anthropic input tokens", "anthropic-ratelimit-input-tokens-limit: 40000\n"
	    "anthropic-ratelimit-input-tokens-remaining: 0\n"
	    "anthropic-ratelimit-input-tokens-reset: 2026-12-07T15:01:00Z\n", 1,
	    RATELIMIT_INPUT_TOKENS, 40000, 0, NOW + 60000, 0 },
	{ "anthropic output tokens", "anthropic-ratelimit-output-tokens-remaining: 7\r\n", 1,
	    RATELIMIT_OUTPUT_TOKENS, -1, 7, 0, 0 },
	{ "unified rejected", "anthropic-ratelimit-unified-status: rejected\r\n"
	    "anthropic-ratelimit-unified-reset: 1796655660\r\n", 1,
	    RATELIMIT_UNIFIED, -1, 0, NOW + 60000, 0 },
	{ "unified allowed", "anthropic-ratelimit-unified-status: allowed\r\n", 1,
	    RATELIMIT_UNIFIED, -1, 1, 0, 0 },
	{ "retry-after on a success", "retry-after: 12\r\n", 1,
	    RATELIMIT_RETRY_AFTER, -1, 0, NOW + 12000, 0 },
	{ "retry-after on a failure is the failover's", "retry-after: 12\r\n", 0,
	    RATELIMIT_RETRY_AFTER, -1, -1, 0, 0 },
	{ "a later header wins", "x-ratelimit-remaining-requests: 5\r\n"
	    "x-ratelimit-remaining-requests: 0\r\n", 1, RATELIMIT_REQUESTS, -1, 0, 0, 0 },
	{ "negative count is junk", "x-ratelimit-remaining-requests: -1\r\n", 1,
	    RATELIMIT_REQUESTS, -1, -1, 0, RATELIMIT_JUNK_COUNT },
	{ "huge count is junk, not cut", "x-ratelimit-remaining-requests: 99999999999999999999\r\n",
	    1, RATELIMIT_REQUESTS, -1, -1, 0, RATELIMIT_JUNK_COUNT },
	{ "count with trailing junk", "x-ratelimit-remaining-tokens: 12abc\r\n", 1,
	    RATELIMIT_TOKENS, -1, -1, 0, RATELIMIT_JUNK_COUNT },
	{ "bad duration is junk", "x-ratelimit-reset-requests: soon\r\n", 1,
	    RATELIMIT_REQUESTS, -1, -1, 0, RATELIMIT_JUNK_RESET },
	{ "reset beyond a month is junk", "anthropic-ratelimit-tokens-reset: 2030-01-01T00:00:00Z\r\n",
	    1, RATELIMIT_TOKENS, -1, -1, 0, RATELIMIT_JUNK_RESET },
	{ "empty value is junk", "x-ratelimit-limit-requests:\r\n", 1,
	    RATELIMIT_REQUESTS, -1, -1, 0, RATELIMIT_JUNK_COUNT },
	{ "prefix of a name is not the name", "x-ratelimit-remaining-request: 0\r\n"
	    "x-ratelimit-remaining-requestsX: 0\r\n", 1, RATELIMIT_REQUESTS, -1, -1, 0, 0 },
	{ "no colon, no CRLF at the end", "x-ratelimit-remaining-requests 0\r\n"
	    "x-ratelimit-limit-requests: 9", 1, RATELIMIT_REQUESTS, 9, -1, 0, 0 },
};

int
main(void)
{
	struct ratelimit_obs o;
	const struct ratelimit_count *c;
	int64_t ms;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		ms = -1;
		rc = ratelimit_duration_ms(durations[i].in, strlen(durations[i].in), &ms);
		if (durations[i].ms < 0)
			is_int(rc, -1, "duration '%s' is refused", durations[i].in);
		else
			ok(rc == 0 && ms == durations[i].ms, "duration '%s' = %lld ms (got %lld)",
			    durations[i].in, (long long)durations[i].ms, (long long)ms);
	}
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		ms = -1;
		rc = ratelimit_rfc3339_ms(times[i].in, strlen(times[i].in), &ms);
		if (times[i].ms < 0)
			is_int(rc, -1, "time '%s' is refused", times[i].in);
		else
			ok(rc == 0 && ms == times[i].ms, "time '%s' (got %lld)", times[i].in,
			    (long long)ms);
	}
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		ratelimit_parse(heads[i].raw, strlen(heads[i].raw), heads[i].success, NOW, &o);
		c = &o.c[heads[i].kind];
		is_int(c->limit, heads[i].limit, "%s: limit", heads[i].name);
		is_int(c->remaining, heads[i].remaining, "%s: remaining", heads[i].name);
		is_int(c->reset_at, heads[i].reset_at, "%s: reset", heads[i].name);
		is_int(o.junk, heads[i].junk, "%s: junk bits", heads[i].name);
	}
	ratelimit_parse(NULL, 0, 1, NOW, &o);
	is_int(o.nseen, 0, "no head: nothing seen");
	ratelimit_parse("content-type: application/json\r\n", 32, 1, NOW, &o);
	is_int(o.nseen, 0, "other headers: nothing seen");
	ok(ratelimit_kind_per_model(RATELIMIT_TOKENS) && !ratelimit_kind_per_model(RATELIMIT_UNIFIED),
	    "counts are per model, unified windows per account");
	is_str(ratelimit_kind_name(RATELIMIT_RETRY_AFTER), "retry_after", "kind name");
	return done_testing();
}
